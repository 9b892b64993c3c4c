//! The upload driver: the async I/O around the part scheduler. It streams each assigned part
//! from disk to its edge (metered), feeds the answers back to the scheduler, tells the
//! coordinator about failed edges, and finalizes once every part is stored.

use super::hashing::hash_file;
use super::meter::Meter;
use super::options::{part_deadline, Progress, UploadOptions, UploadOutcome};
use crate::{json_or_error, Client, ClientError};
use futures::stream::StreamExt;
use jetty_shared::edges::assign_weighted;
use jetty_shared::hash::Sha256Digest;
use jetty_shared::plan::PartPlan;
use jetty_shared::protocol::*;
use jetty_shared::state::ResumeResponse;
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

const STREAM_CHUNK: usize = 256 * 1024;

impl Client {
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn finish(
        &self,
        path: &Path,
        file_hash: Sha256Digest,
        ticket: ResumeResponse,
        hashes: HashMap<u32, Sha256Digest>,
        opts: &UploadOptions,
        progress: Option<Progress>,
        started: Instant,
    ) -> Result<UploadOutcome, ClientError> {
        let ResumeResponse { upload, edges, state } = ticket;
        if edges.is_empty() && !state.chunks_remaining.is_empty() {
            return Err(unexpected("no edges in the answer"));
        }
        let plan = upload.plan(state.total);
        let resumed = !state.chunks_uploaded.is_empty();
        let meter = Arc::new(Meter::new(opts.limit_rate));
        let timeout = opts
            .part_timeout
            .unwrap_or_else(|| part_deadline(plan.part_size, opts.limit_rate, opts.concurrency));
        let done = Arc::new(AtomicU64::new(state.progress));
        if let Some(p) = &progress {
            p(state.progress, plan.file_size);
        }
        // A pool of `concurrency` workers, each bound to an edge (slots in proportion to the
        // edges' weights), all pulling parts from one queue: a faster path finishes its parts
        // sooner and takes more, so no edge's share decides the finish time.
        let weights: Vec<f64> = edges.iter().map(|e| e.weight).collect();
        let slots = assign_weighted(&weights, opts.concurrency.max(1));
        let queue: Mutex<VecDeque<u32>> = Mutex::new(state.chunks_remaining.iter().copied().collect());
        let failed: Mutex<HashSet<String>> = Mutex::new(HashSet::new());
        let workers = slots.into_iter().map(|slot| {
            let (meter, done, progress, edges, queue, failed) = (&meter, &done, &progress, &edges, &queue, &failed);
            let (hashes, token) = (&hashes, &upload.upload_token);
            async move {
                let mut edge_index = slot;
                loop {
                    let Some(number) = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front() else {
                        return Ok::<_, ClientError>(());
                    };
                    let len = plan.part_len(number).unwrap_or(0);
                    let known_hash = hashes.get(&number).copied();
                    let mut attempt = 0usize;
                    loop {
                        // Failover: skip edges that failed during this upload; their parts move on.
                        let edge = pick_edge(edges, edge_index, failed);
                        match self
                            .send_part(edge, token, path, &plan, number, known_hash, Some(meter), timeout)
                            .await
                        {
                            Ok(_) => {
                                let total = done.fetch_add(len, Ordering::Relaxed) + len;
                                if let Some(p) = progress {
                                    p(total, plan.file_size);
                                }
                                break;
                            }
                            Err(e) if e.is_retryable() && attempt + 1 < opts.attempts as usize => {
                                attempt += 1;
                                let newly_failed = matches!(e, ClientError::Network(_) | ClientError::Server { .. })
                                    && failed.lock().unwrap_or_else(|p| p.into_inner()).insert(edge.id.clone());
                                if newly_failed {
                                    // Tell the coordinator, so the next uploads rank the edge lower.
                                    self.report_edge_failure(&edge.id, &e.to_string()).await;
                                }
                                edge_index += 1;
                                // Another healthy edge is tried at once; the same one only after a pause.
                                if pick_edge(edges, edge_index, failed).id == edge.id {
                                    let backoff = 200 * 2u64.pow(attempt.min(6) as u32) + rand::random::<u64>() % 200;
                                    tokio::time::sleep(Duration::from_millis(backoff)).await;
                                }
                            }
                            Err(e) => return Err(e),
                        }
                    }
                }
            }
        });
        // The first error ends the upload (dropping the other workers cancels their requests).
        futures::future::try_join_all(workers).await?;
        let file = self
            .finalize_retrying(&upload.file_id, plan.part_count, opts.attempts)
            .await?
            .file;
        debug_assert_eq!(file.sha256, file_hash.to_prefixed());
        Ok(UploadOutcome {
            file_id: file.id,
            url: file.url,
            size: file.size,
            sha256: file.sha256,
            duplicate: false,
            resumed,
            parts: plan.part_count,
            parts_sent: state.chunks_remaining.len() as u32,
            bytes_sent: meter.sent.load(Ordering::Relaxed),
            edges: edges.iter().map(|e| e.id.clone()).collect(),
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Sends one part, streamed from disk; hashes it first unless its SHA-256 is given.
    #[allow(clippy::too_many_arguments)]
    async fn send_part(
        &self,
        edge: &EdgeInfo,
        token: &str,
        path: &Path,
        plan: &PartPlan,
        number: u32,
        known_hash: Option<Sha256Digest>,
        meter: Option<&Arc<Meter>>,
        timeout: Duration,
    ) -> Result<ChunkReceipt, ClientError> {
        let (offset, len) = match (plan.part_offset(number), plan.part_len(number)) {
            (Some(o), Some(l)) => (o, l),
            _ => return Err(ClientError::Integrity(format!("part {number} is outside the plan"))),
        };
        let digest = match known_hash {
            Some(d) => d,
            None => hash_file(path.to_owned(), offset, len).await?,
        };
        let mut file = tokio::fs::File::open(path).await?;
        file.seek(std::io::SeekFrom::Start(offset)).await?;
        let chunks = tokio_util::io::ReaderStream::with_capacity(file.take(len), STREAM_CHUNK);
        let meter = meter.cloned();
        let metered = chunks.then(move |chunk| {
            let meter = meter.clone();
            async move {
                if let (Ok(bytes), Some(m)) = (&chunk, &meter) {
                    m.pass(bytes.len()).await;
                }
                chunk
            }
        });
        let resp = self
            .http
            .put(format!(
                "{}/api/edge/upload-chunk?part={number}",
                edge.url.trim_end_matches('/')
            ))
            .bearer_auth(token)
            .header(CHUNK_SHA256_HEADER, digest.to_hex())
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(reqwest::Body::wrap_stream(metered))
            .timeout(timeout)
            .send()
            .await?;
        json_or_error(resp).await
    }
}

/// The edge at `index` (round the list), or the next one that has not failed during this
/// upload; when every edge failed, the one at `index` (retries may still get through).
fn pick_edge<'a>(edges: &'a [EdgeInfo], index: usize, failed: &Mutex<HashSet<String>>) -> &'a EdgeInfo {
    let failed = failed.lock().unwrap_or_else(|p| p.into_inner());
    (0..edges.len())
        .map(|k| &edges[(index + k) % edges.len()])
        .find(|e| !failed.contains(&e.id))
        .unwrap_or(&edges[index % edges.len()])
}

impl Client {
    /// Best effort: a lost report only means the edge is de-ranked a little later.
    async fn report_edge_failure(&self, edge_id: &str, reason: &str) {
        let report = EdgeReport {
            edge_id: edge_id.to_owned(),
            reason: Some(reason.chars().take(200).collect()),
        };
        let _ = self
            .http
            .post(format!("{}/api/jetty/edge-report", self.base_url))
            .bearer_auth(&self.api_key)
            .json(&report)
            .timeout(Duration::from_secs(5))
            .send()
            .await;
    }
}

pub(crate) fn unexpected(what: &str) -> ClientError {
    ClientError::Server {
        status: 200,
        message: what.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_edges_are_skipped_until_none_is_left() {
        let edge = |id: &str| EdgeInfo {
            id: id.into(),
            url: String::new(),
            latency: 0,
            load: 0,
            distance: 0,
            weight: 0.5,
            bandwidth: 0,
        };
        let edges = [edge("a"), edge("b"), edge("c")];
        let failed = Mutex::new(HashSet::new());
        assert_eq!(pick_edge(&edges, 1, &failed).id, "b");
        failed.lock().unwrap().insert("b".to_owned());
        assert_eq!(pick_edge(&edges, 1, &failed).id, "c");
        assert_eq!(pick_edge(&edges, 4, &failed).id, "c");
        failed.lock().unwrap().extend(["a".to_owned(), "c".to_owned()]);
        assert_eq!(
            pick_edge(&edges, 2, &failed).id,
            "c",
            "all failed: keep trying the assigned one"
        );
    }
}
