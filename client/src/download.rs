//! Downloads through the edges: the file is cut into ranges read in parallel from the edges
//! the coordinator lists, written in place, remembered in a sidecar record so an interrupted
//! download resumes, and checked against the file's SHA-256 before it takes its final name.

use crate::{error_from, Client, ClientError, Progress};
use futures::stream::{self, StreamExt, TryStreamExt};
use jetty_shared::hash::Sha256Digest;
use jetty_shared::protocol::EdgeInfo;
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
    /// Attempts per range, including the first.
    pub attempts: u32,
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
    /// Downloads `file_id` to `out` through the edges; resumes an interrupted download of the
    /// same file to the same path. Returns the size and the verified SHA-256.
    pub async fn download(
        &self,
        file_id: &str,
        out: &Path,
        opts: &DownloadOptions,
        progress: Option<Progress>,
    ) -> Result<(u64, Sha256Digest), ClientError> {
        let info = self.file_info(file_id).await?;
        let expected =
            Sha256Digest::parse(&info.sha256).map_err(|_| ClientError::Integrity("bad hash in file info".into()))?;
        if info.edges.is_empty() {
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
        let edges = Arc::new(info.edges);
        stream::iter(missing.into_iter().map(|index| {
            let (state, edges, part, record_path, progress) = (
                state.clone(),
                edges.clone(),
                part.clone(),
                record_path.clone(),
                progress.clone(),
            );
            async move {
                let start = index * range_size;
                let end = (start + range_size).min(info.size) - 1;
                let mut attempt = 0usize;
                loop {
                    let edge = &edges[(index as usize + attempt) % edges.len()];
                    match self.fetch_range(edge, file_id, &part, start, end).await {
                        Ok(()) => break,
                        Err(e) if e.is_retryable() && attempt + 1 < opts.attempts as usize => {
                            attempt += 1;
                            tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt.min(6) as u32))).await;
                        }
                        Err(e) => return Err(e),
                    }
                }
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
        .buffer_unordered(opts.concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await?;

        let digest = crate::hash_file(part.clone(), 0, info.size).await?;
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
        Ok((info.size, digest))
    }

    /// Writes bytes `start..=end` of the file, read from `edge`, into `part` at `start`.
    async fn fetch_range(
        &self,
        edge: &EdgeInfo,
        file_id: &str,
        part: &Path,
        start: u64,
        end: u64,
    ) -> Result<(), ClientError> {
        let resp = self
            .http
            .get(format!("{}/api/files/{file_id}", edge.url.trim_end_matches('/')))
            .bearer_auth(&self.api_key)
            .header(reqwest::header::RANGE, format!("bytes={start}-{end}"))
            .send()
            .await?;
        let status = resp.status().as_u16();
        if status != 206 && !(status == 200 && start == 0) {
            return Err(error_from(resp).await);
        }
        let mut file = tokio::fs::OpenOptions::new().write(true).open(part).await?;
        file.seek(std::io::SeekFrom::Start(start)).await?;
        let mut written = 0u64;
        let want = end - start + 1;
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
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
