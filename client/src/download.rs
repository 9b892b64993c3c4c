//! Downloads: the file is cut into ranges read in parallel — from the edges the coordinator
//! lists, or, on the store-direct route (the store offered and about as near as the nearest
//! edge, as for uploads), straight from the store on one presigned URL — written in place,
//! remembered in a sidecar record so an interrupted download resumes, hashed in file order
//! behind the reads, and checked against the file's SHA-256 before it takes its final name.

use crate::upload::TrailingHash;
use crate::{error_from, Client, ClientError, Progress, Route, STORE_DIRECT};
use futures::stream::{self, StreamExt, TryStreamExt};
use jetty_shared::hash::Sha256Digest;
use jetty_shared::plan::PartPlan;
use jetty_shared::protocol::{DirectDownload, EdgeInfo};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

#[derive(Debug, Clone)]
pub struct DownloadOptions {
    /// Ranges in flight at once, across the edges.
    pub concurrency: usize,
    /// Bytes per range; `None`: chosen by the file's size ([`range_size_for`]).
    pub range_size: Option<u64>,
    /// Attempts per range, including the first (at least two per source, whatever this says).
    pub attempts: u32,
    /// Where the ranges are read: `Auto` reads from the store when the service offers the
    /// store-direct route and the store is about as near as the nearest edge.
    pub route: Route,
    /// How long a range may wait for its answer or its next bytes before the attempt is
    /// abandoned and the range read again from the next source: a source that stops sending
    /// (a stalled edge, a connection stuck in retransmission backoff) must not hang the
    /// download. A range that keeps receiving is never cut, however slow.
    pub stall_timeout: Duration,
}

/// The default [`DownloadOptions::stall_timeout`].
pub const STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// What a download wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    pub size: u64,
    /// Verified against the file's.
    pub sha256: Sha256Digest,
    /// `store-direct`, `edges` or `origin` (through the coordinator).
    pub route: &'static str,
}

/// Where one range is read from.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// An edge, with the API key.
    Edge(&'a EdgeInfo),
    /// The store, on a presigned URL (its own credential: no API key goes to the store).
    Store(&'a str),
}

/// Ranges in flight by default: on a lossy last mile each connection is held to its own loss
/// bound (Mathis), so a download needs many of them to fill the link, as an upload does.
pub const DEFAULT_CONCURRENCY: usize = 32;
/// A file is cut into about this many ranges, each between [`MIN_RANGE`] and [`MAX_RANGE`].
const RANGES_PER_FILE: u64 = 32;
const MIN_RANGE: u64 = 4 << 20;
const MAX_RANGE: u64 = 16 << 20;

/// The range size for a file of `size` bytes: enough ranges to keep [`RANGES_PER_FILE`]
/// connections busy on small files, 16 MiB ranges on large ones (whole MiB, so a download
/// resumed later cuts the file the same way).
pub fn range_size_for(size: u64) -> u64 {
    (size.div_ceil(RANGES_PER_FILE).div_ceil(1 << 20) << 20).clamp(MIN_RANGE, MAX_RANGE)
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions {
            concurrency: DEFAULT_CONCURRENCY,
            range_size: None,
            attempts: 5,
            route: Route::Auto,
            stall_timeout: STALL_TIMEOUT,
        }
    }
}

/// Which ranges of a partial download are already on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Sidecar {
    file_id: String,
    size: u64,
    sha256: String,
    range_size: u64,
    done: BTreeSet<u64>,
}

fn sidecar_path(part: &Path) -> PathBuf {
    let mut name = part.as_os_str().to_owned();
    name.push(".json");
    PathBuf::from(name)
}

impl Client {
    /// Downloads `file_id` to `out` through the edges or straight from the store (`route`);
    /// resumes an interrupted download of the same file to the same path.
    pub async fn download(
        &self,
        file_id: &str,
        out: &Path,
        opts: &DownloadOptions,
        progress: Option<Progress>,
    ) -> Result<Downloaded, ClientError> {
        let info = self.file_info(file_id).await?;
        let expected =
            Sha256Digest::parse(&info.sha256).map_err(|_| ClientError::Integrity("bad hash in file info".into()))?;
        let direct_in_flight = self
            .use_direct(opts.route, info.direct.as_ref(), &info.edges, opts.concurrency)
            .await?;
        let store_url = match direct_in_flight {
            Some(_) => Some(self.direct_download(file_id).await?.url),
            None => None,
        };
        if info.edges.is_empty() && store_url.is_none() {
            return self.download_from_origin(file_id, out).await;
        }
        let part = out.with_extension("jetty-part");
        let record_path = sidecar_path(&part);
        let range_size = opts.range_size.unwrap_or_else(|| range_size_for(info.size)).max(1);
        let fresh = Sidecar {
            file_id: file_id.to_owned(),
            size: info.size,
            sha256: info.sha256.clone(),
            range_size,
            done: BTreeSet::new(),
        };
        let saved = std::fs::read_to_string(&record_path)
            .ok()
            .and_then(|t| serde_json::from_str::<Sidecar>(&t).ok());
        let resumable = saved.as_ref().is_some_and(|s| {
            s.file_id == fresh.file_id && s.size == fresh.size && s.sha256 == fresh.sha256 && s.range_size == range_size
        }) && part.exists();
        let sidecar = if resumable { saved.unwrap_or(fresh) } else { fresh };
        {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(!resumable)
                .open(&part)?;
            file.set_len(info.size)?;
        }
        let ranges = info.size.div_ceil(range_size);
        let missing: Vec<u64> = (0..ranges).filter(|i| !sidecar.done.contains(i)).collect();
        let done_bytes: u64 = sidecar.done.iter().map(|i| range_len(*i, range_size, info.size)).sum();
        let state = Arc::new(Mutex::new((sidecar, done_bytes)));
        if let Some(p) = &progress {
            p(done_bytes, info.size);
        }
        // The whole-file SHA-256 follows the ranges in file order as they land (their pages
        // still in memory), so the check costs no second pass over the file at the end.
        let ranges_plan = PartPlan {
            file_size: info.size,
            part_size: range_size,
            part_count: ranges as u32,
        };
        let to_read: Vec<u32> = missing.iter().map(|i| *i as u32 + 1).collect();
        let hasher = TrailingHash::start(part.clone(), ranges_plan, &to_read);
        let edges = info.edges;
        // Every range may try each source twice, whatever `attempts` says: with some sources
        // stalled, a range rotating through them still reaches the ones that answer.
        let sources = edges.len() + usize::from(store_url.is_some());
        let attempts = (opts.attempts as usize).max(2 * sources + 1);
        let stall = opts.stall_timeout.max(Duration::from_secs(1));
        let (edges, store_url, whole) = (&edges, store_url.as_deref(), &hasher);
        stream::iter(missing.into_iter().map(|index| {
            let (state, part, record_path, progress) =
                (state.clone(), part.clone(), record_path.clone(), progress.clone());
            async move {
                let start = index * range_size;
                let end = (start + range_size).min(info.size) - 1;
                let mut attempt = 0usize;
                loop {
                    let source = source_for(store_url, edges, index, attempt)
                        .ok_or_else(|| ClientError::Integrity("nowhere to read the file from".into()))?;
                    match self.fetch_range(source, file_id, &part, (start, end), stall).await {
                        Ok(()) => break,
                        // A range the store did not serve (a lapsed URL included) is read from
                        // an edge next, where there is one.
                        Err(e)
                            if (e.is_retryable() || (matches!(source, Source::Store(_)) && !edges.is_empty()))
                                && attempt + 1 < attempts =>
                        {
                            attempt += 1;
                            tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt.min(6) as u32))).await;
                        }
                        Err(e) => return Err(e),
                    }
                }
                whole.part_read(index as u32 + 1);
                let (record, total) = {
                    let mut guard = state.lock().unwrap_or_else(|e| e.into_inner());
                    guard.0.done.insert(index);
                    guard.1 += end - start + 1;
                    (serde_json::to_vec(&guard.0).unwrap_or_default(), guard.1)
                };
                // Persisting after every range is what makes the download resumable.
                tokio::fs::write(&record_path, record).await?;
                if let Some(p) = &progress {
                    p(total, info.size);
                }
                Ok::<_, ClientError>(())
            }
        }))
        .buffer_unordered(direct_in_flight.unwrap_or(opts.concurrency).max(1))
        .try_collect::<Vec<()>>()
        .await?;

        let digest = hasher.get().await?;
        if digest != expected {
            let _ = std::fs::remove_file(&part);
            let _ = std::fs::remove_file(&record_path);
            return Err(ClientError::Integrity(format!(
                "downloaded bytes hash to {} but the file is {}",
                digest.to_hex(),
                info.sha256
            )));
        }
        std::fs::rename(&part, out)?;
        let _ = std::fs::remove_file(&record_path);
        Ok(Downloaded {
            size: info.size,
            sha256: digest,
            route: if store_url.is_some() { STORE_DIRECT } else { "edges" },
        })
    }

    /// `POST /api/files/:id/direct-download`: a presigned URL to read the file from the store.
    pub async fn direct_download(&self, file_id: &str) -> Result<DirectDownload, ClientError> {
        self.post_json(&format!("/api/files/{file_id}/direct-download"), &serde_json::json!({}))
            .await
    }

    /// Writes bytes `start..=end` of the file, read from `source`, into `part` at `start`;
    /// fails (retryably) when `source` sends nothing for `stall`.
    async fn fetch_range(
        &self,
        source: Source<'_>,
        file_id: &str,
        part: &Path,
        (start, end): (u64, u64),
        stall: Duration,
    ) -> Result<(), ClientError> {
        let stalled = || {
            let from = match source {
                Source::Edge(edge) => format!("edge {}", edge.id),
                Source::Store(_) => "the store".to_owned(),
            };
            ClientError::Network(format!(
                "range {start}-{end}: nothing from {from} for {} s",
                stall.as_secs()
            ))
        };
        let request = match source {
            Source::Edge(edge) => self
                .http
                .get(format!("{}/api/files/{file_id}", edge.url.trim_end_matches('/')))
                .bearer_auth(&self.api_key),
            Source::Store(url) => self.http.get(url),
        };
        let resp = tokio::time::timeout(
            stall,
            request
                .header(reqwest::header::RANGE, format!("bytes={start}-{end}"))
                .send(),
        )
        .await
        .map_err(|_| stalled())??;
        let status = resp.status().as_u16();
        if status != 206 && !(status == 200 && start == 0) {
            return Err(tokio::time::timeout(stall, error_from(resp))
                .await
                .unwrap_or_else(|_| stalled()));
        }
        let mut file = tokio::fs::OpenOptions::new().write(true).open(part).await?;
        file.seek(std::io::SeekFrom::Start(start)).await?;
        let mut written = 0u64;
        let want = end - start + 1;
        let mut body = resp.bytes_stream();
        while let Some(chunk) = tokio::time::timeout(stall, body.next()).await.map_err(|_| stalled())? {
            let chunk = chunk?;
            let take = chunk.len().min((want - written) as usize);
            file.write_all(&chunk[..take]).await?;
            written += take as u64;
            if written == want {
                break;
            }
        }
        file.flush().await?;
        if written != want {
            return Err(ClientError::Network(format!(
                "range {start}-{end} ended after {written} bytes"
            )));
        }
        Ok(())
    }
}

/// Where attempt `attempt` of range `index` reads: the store first on the store-direct route,
/// then the edges in turn (the store again when there are none); the edges in turn otherwise.
fn source_for<'a>(store: Option<&'a str>, edges: &'a [EdgeInfo], index: u64, attempt: usize) -> Option<Source<'a>> {
    match store {
        Some(url) if attempt == 0 || edges.is_empty() => Some(Source::Store(url)),
        _ => edges
            .get((index as usize + attempt) % edges.len().max(1))
            .map(Source::Edge),
    }
}

fn range_len(index: u64, range_size: u64, size: u64) -> u64 {
    let start = index * range_size;
    (start + range_size).min(size).saturating_sub(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_size_grows_with_the_file_between_4_and_16_mib() {
        const MIB: u64 = 1 << 20;
        assert_eq!(range_size_for(0), 4 * MIB);
        assert_eq!(range_size_for(10 * MIB), 4 * MIB);
        // 100 MiB: 25 ranges of 4 MiB, enough for the default 32 connections to start at once.
        assert_eq!(range_size_for(100 * MIB), 4 * MIB);
        assert_eq!(range_size_for(320 * MIB), 10 * MIB);
        assert_eq!(range_size_for(320 * MIB + 1), 11 * MIB);
        assert_eq!(range_size_for(1024 * MIB), 16 * MIB);
        assert_eq!(range_size_for(10 * 1024 * MIB), 16 * MIB);
    }

    #[test]
    fn on_the_store_direct_route_a_range_tries_the_store_first_then_the_edges_in_turn() {
        let edge = |id: &str| EdgeInfo {
            id: id.into(),
            url: format!("http://{id}"),
            latency: 0,
            load: 0,
            distance: 0,
            weight: 1.0,
            bandwidth: 0,
        };
        let edges = [edge("a"), edge("b")];
        let named = |s: Option<Source>| match s {
            Some(Source::Store(url)) => url.to_owned(),
            Some(Source::Edge(e)) => e.id.clone(),
            None => "none".into(),
        };
        let store = Some("http://store/f?sig");
        // (store, edges, range, attempt, read from)
        type Row<'a> = (Option<&'a str>, &'a [EdgeInfo], u64, usize, &'a str);
        let table: [Row; 7] = [
            (store, &edges, 3, 0, "http://store/f?sig"),
            (store, &edges, 3, 1, "a"),
            (store, &edges, 3, 2, "b"),
            (store, &[], 3, 4, "http://store/f?sig"),
            (None, &edges, 3, 0, "b"),
            (None, &edges, 4, 0, "a"),
            (None, &[], 0, 0, "none"),
        ];
        for (store, edges, index, attempt, want) in table {
            assert_eq!(
                named(source_for(store, edges, index, attempt)),
                want,
                "{index} {attempt}"
            );
        }
    }

    #[test]
    fn ranges_cover_the_file_exactly() {
        let size: u64 = 10 * 1024 * 1024 + 3;
        let rs = 4 * 1024 * 1024;
        let n = size.div_ceil(rs);
        assert_eq!(n, 3);
        assert_eq!((0..n).map(|i| range_len(i, rs, size)).sum::<u64>(), size);
        assert_eq!(range_len(2, rs, size), 2 * 1024 * 1024 + 3);
        assert_eq!(
            sidecar_path(Path::new("/tmp/a.jetty-part")),
            PathBuf::from("/tmp/a.jetty-part.json")
        );
    }
}
