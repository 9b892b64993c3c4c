//! Moving a file's bytes: hashing, the local resume record, sending parts across the edges
//! with retries and an optional rate limit, and finishing, resuming or deduplicating a session.
//!
//! What is uploaded is always decided from the coordinator's records (`resume`), never from
//! the local record alone: the local record only remembers which session a file belongs to.

use crate::{json_or_error, Client, ClientError};
use futures::stream::StreamExt;
use jetty_shared::edges::assign_weighted;
use jetty_shared::hash::Sha256Digest;
use jetty_shared::plan::{PartPlan, DEFAULT_BODY_LIMIT};
use jetty_shared::protocol::*;
use jetty_shared::state::ResumeResponse;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

const READ_BUF: usize = 1 << 20;
const STREAM_CHUNK: usize = 256 * 1024;

#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// Parts in flight at once, across all edges.
    pub concurrency: usize,
    /// Preferred part size in bytes (the coordinator clamps it).
    pub part_size: Option<u64>,
    pub location: Option<Location>,
    /// Attempts per part, including the first.
    pub attempts: u32,
    pub content_type: Option<String>,
    /// Upper bound on upload throughput, bytes per second.
    pub limit_rate: Option<u64>,
    /// Where unfinished uploads are remembered; `None` disables resuming by re-running.
    pub state: Option<StateStore>,
    /// Session lifetime to ask for, seconds.
    pub expires_in: Option<u64>,
    /// How long one part may take before it counts as stalled and is sent again elsewhere;
    /// `None` allows for the part's size at a very slow rate (`part_deadline`).
    pub part_timeout: Option<Duration>,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            concurrency: 16,
            part_size: None,
            location: None,
            attempts: 5,
            content_type: None,
            limit_rate: None,
            state: None,
            expires_in: None,
            part_timeout: None,
        }
    }
}

/// The slowest rate a part is allowed before it counts as stalled, unless the user asked for
/// less (`limit_rate`): 64 KiB/s.
pub const SLOWEST_PART_RATE: u64 = 64 * 1024;

/// How long sending one part of `len` bytes may take: a minute plus its bytes at the slowest
/// rate a part may go (a rate limit shared by `concurrency` parts lowers that rate). An edge or
/// store that takes the body and never answers must not hang the upload: past this, the part
/// is retried on another edge.
pub fn part_deadline(len: u64, limit_rate: Option<u64>, concurrency: usize) -> Duration {
    let share = limit_rate.map(|r| r / concurrency.max(1) as u64 / 2);
    let rate = share.map_or(SLOWEST_PART_RATE, |s| s.min(SLOWEST_PART_RATE)).max(1);
    Duration::from_secs(60) + Duration::from_secs_f64(len as f64 / rate as f64)
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadOutcome {
    pub file_id: String,
    pub url: String,
    pub size: u64,
    pub sha256: String,
    pub duplicate: bool,
    /// Whether this run continued an earlier session.
    pub resumed: bool,
    pub parts: u32,
    /// Parts this run sent.
    pub parts_sent: u32,
    /// Body bytes this run streamed to edges, retries included.
    pub bytes_sent: u64,
    pub edges: Vec<String>,
    pub seconds: f64,
}

/// Progress callback: bytes confirmed so far, total bytes.
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// The local record of an unfinished upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalState {
    pub coordinator: String,
    pub path: PathBuf,
    pub size: u64,
    pub modified_secs: u64,
    pub modified_nanos: u32,
    pub file_id: String,
    /// `sha256:<hex>` of the whole file.
    pub file_hash: String,
}

impl LocalState {
    /// The record of `path` (as `meta` describes it) being uploaded as `file_id`.
    pub fn new(
        coordinator: &str,
        path: &Path,
        meta: &std::fs::Metadata,
        file_id: &str,
        file_hash: Sha256Digest,
    ) -> Self {
        let (modified_secs, modified_nanos) = modified(meta);
        LocalState {
            coordinator: coordinator.to_owned(),
            path: path.to_owned(),
            size: meta.len(),
            modified_secs,
            modified_nanos,
            file_id: file_id.to_owned(),
            file_hash: file_hash.to_prefixed(),
        }
    }
}

/// A directory of `LocalState` records, one per source file.
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
}

impl StateStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        StateStore { dir: dir.into() }
    }

    /// `$JETTY_STATE_DIR`, else `$XDG_STATE_HOME/jetty`, else `~/.local/state/jetty`.
    pub fn default_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("JETTY_STATE_DIR") {
            return Some(dir.into());
        }
        if let Some(dir) = std::env::var_os("XDG_STATE_HOME") {
            return Some(PathBuf::from(dir).join("jetty"));
        }
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state/jetty"))
    }

    fn record_path(&self, source: &Path) -> PathBuf {
        let canonical = std::fs::canonicalize(source).unwrap_or_else(|_| source.to_owned());
        let key = hex::encode(Sha256::digest(canonical.to_string_lossy().as_bytes()));
        self.dir.join(format!("{key}.json"))
    }

    pub fn load(&self, source: &Path) -> Option<LocalState> {
        let text = std::fs::read_to_string(self.record_path(source)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Writes atomically (temp file + rename), so a kill never leaves a torn record.
    pub fn save(&self, state: &LocalState) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.record_path(&state.path);
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?)?;
        std::fs::rename(tmp, path)
    }

    pub fn remove(&self, source: &Path) {
        let _ = std::fs::remove_file(self.record_path(source));
    }
}

fn modified(meta: &std::fs::Metadata) -> (u64, u32) {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| (d.as_secs(), d.subsec_nanos()))
        .unwrap_or((0, 0))
}

/// Counts streamed bytes and, with a rate, spaces them out (a leaky bucket shared by all parts).
struct Meter {
    sent: AtomicU64,
    rate: Option<u64>,
    next: Mutex<Instant>,
}

impl Meter {
    fn new(rate: Option<u64>) -> Self {
        Meter {
            sent: AtomicU64::new(0),
            rate: rate.filter(|r| *r > 0),
            next: Mutex::new(Instant::now()),
        }
    }

    async fn pass(&self, n: usize) {
        self.sent.fetch_add(n as u64, Ordering::Relaxed);
        let Some(rate) = self.rate else { return };
        let wake = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if *next < now {
                *next = now;
            }
            *next += Duration::from_secs_f64(n as f64 / rate as f64);
            *next
        };
        tokio::time::sleep_until(wake.into()).await;
    }
}

impl Client {
    /// Uploads `path`. With a state store, an interrupted upload of the same (unchanged) file
    /// is resumed: only the parts the coordinator has not recorded are sent.
    pub async fn upload(
        &self,
        path: &Path,
        opts: &UploadOptions,
        progress: Option<Progress>,
    ) -> Result<UploadOutcome, ClientError> {
        let started = Instant::now();
        let meta = tokio::fs::metadata(path).await?;
        let size = meta.len();
        let (modified_secs, modified_nanos) = modified(&meta);
        if let Some(store) = &opts.state {
            if let Some(saved) = store.load(path) {
                let same_file = saved.coordinator == self.base_url
                    && saved.size == size
                    && (saved.modified_secs, saved.modified_nanos) == (modified_secs, modified_nanos);
                if same_file {
                    match self.resume_ticket(&saved.file_id).await {
                        Ok(ticket) => {
                            let file_hash = Sha256Digest::parse(&saved.file_hash)
                                .map_err(|_| ClientError::Integrity("corrupt local upload record".into()))?;
                            let outcome = self
                                .finish(path, file_hash, ticket, HashMap::new(), opts, progress, started)
                                .await?;
                            store.remove(path);
                            return Ok(outcome);
                        }
                        // The session is gone (finalized, aborted, expired): start afresh.
                        Err(ClientError::Refused { .. }) => store.remove(path),
                        Err(e) => return Err(e),
                    }
                } else {
                    store.remove(path);
                }
            }
        }

        // The server honours a valid part-size hint, so the plan is known before asking: hash
        // the parts on a second core while the whole-file hash runs, and the upload phase (where
        // the CPU is shared with the network stack) does no hashing at all.
        let threads = opts.concurrency.clamp(1, 64) as u32;
        let preferred = opts
            .part_size
            .unwrap_or_else(|| PartPlan::preferred_part_size(size, threads));
        let expected_plan = PartPlan::new(size, preferred, DEFAULT_BODY_LIMIT).ok();
        let all_parts: Vec<u32> = expected_plan.map(|p| p.part_numbers().collect()).unwrap_or_default();
        // Part hashing runs alongside; the coordinator is asked as soon as the whole-file hash is
        // known, so a dedup hit returns without waiting for (and then cancels) the part hashes.
        let cancel = Arc::new(AtomicBool::new(false));
        let part_hashing = tokio::spawn(hash_parts_cancellable(
            path.to_owned(),
            expected_plan,
            all_parts,
            cancel.clone(),
        ));
        let file_hash = hash_file(path.to_owned(), 0, size).await?;
        let request = OptimalEdgesRequest {
            user_id: None,
            file_size: size,
            file_hash: file_hash.to_prefixed(),
            file_name: path.file_name().map(|n| n.to_string_lossy().into_owned()),
            content_type: opts.content_type.clone(),
            user_location: opts.location,
            priority: Some(Priority::Speed),
            budget: None,
            chunk_size: Some(preferred),
            threads: Some(threads),
            expires_in: opts.expires_in,
        };
        let answer = self.optimal_edges(&request).await;
        let answer = match answer {
            Ok(a) if a.duplicate.is_none() => a,
            other => {
                cancel.store(true, Ordering::Relaxed);
                other?
            }
        };
        if let Some(dup) = answer.duplicate {
            return Ok(UploadOutcome {
                file_id: dup.file_id,
                url: dup.url,
                size,
                sha256: file_hash.to_prefixed(),
                duplicate: true,
                resumed: false,
                parts: 0,
                parts_sent: 0,
                bytes_sent: 0,
                edges: vec![],
                seconds: started.elapsed().as_secs_f64(),
            });
        }
        let upload = answer
            .upload
            .ok_or_else(|| unexpected("no upload ticket in the answer"))?;
        if let Some(store) = &opts.state {
            // Best effort: without the record the upload still works, it just cannot resume.
            let _ = store.save(&LocalState::new(
                &self.base_url,
                path,
                &meta,
                &upload.file_id,
                file_hash,
            ));
        }
        let plan = upload.plan(size);
        let part_hashes = part_hashing
            .await
            .map_err(|e| ClientError::Io(std::io::Error::other(e)))??;
        let hashes = if expected_plan == Some(plan) {
            part_hashes
        } else {
            HashMap::new()
        };
        let state = jetty_shared::state::UploadState {
            file_id: upload.file_id.clone(),
            session_id: upload.session_id.clone(),
            status: "active".into(),
            chunks_uploaded: vec![],
            chunks_remaining: plan.part_numbers().collect(),
            edges: answer.edges.iter().map(|e| e.id.clone()).collect(),
            progress: 0,
            total: size,
            part_size: plan.part_size,
            part_count: plan.part_count,
            file_hash: file_hash.to_prefixed(),
            bytes_received: 0,
            expires_at: upload.expires_at,
        };
        let ticket = ResumeResponse {
            upload,
            edges: answer.edges,
            state,
        };
        let mut outcome = self
            .finish(path, file_hash, ticket, hashes, opts, progress, started)
            .await?;
        outcome.resumed = false;
        if let Some(store) = &opts.state {
            store.remove(path);
        }
        Ok(outcome)
    }

    /// Resumes session `file_id` from the coordinator's records, on any machine holding the
    /// file: re-hashes it, checks it is the file the session was started with, and sends only
    /// the parts the coordinator has not recorded.
    pub async fn resume(
        &self,
        file_id: &str,
        path: &Path,
        opts: &UploadOptions,
        progress: Option<Progress>,
    ) -> Result<UploadOutcome, ClientError> {
        let started = Instant::now();
        let meta = tokio::fs::metadata(path).await?;
        let size = meta.len();
        let ticket = self.resume_ticket(file_id).await?;
        if ticket.state.total != size {
            return Err(ClientError::Integrity(format!(
                "the session is for a file of {} bytes, {} has {size}",
                ticket.state.total,
                path.display()
            )));
        }
        let plan = ticket.upload.plan(size);
        let (file_hash, hashes) = tokio::try_join!(
            hash_file(path.to_owned(), 0, size),
            hash_parts(path.to_owned(), Some(plan), ticket.state.chunks_remaining.clone())
        )?;
        if file_hash.to_prefixed() != ticket.state.file_hash {
            return Err(ClientError::Integrity(format!(
                "{} is not the file session {file_id} was started with",
                path.display()
            )));
        }
        if let Some(store) = &opts.state {
            let _ = store.save(&LocalState::new(&self.base_url, path, &meta, file_id, file_hash));
        }
        let outcome = self
            .finish(path, file_hash, ticket, hashes, opts, progress, started)
            .await?;
        if let Some(store) = &opts.state {
            store.remove(path);
        }
        Ok(outcome)
    }

    /// Finalize is idempotent (a completed session answers with its file), so network trouble,
    /// store failures and `finalize_in_progress` are retried with backoff.
    async fn finalize_retrying(
        &self,
        file_id: &str,
        part_count: u32,
        attempts: u32,
    ) -> Result<FinalizeResponse, ClientError> {
        let mut attempt = 0u32;
        loop {
            match self.finalize(file_id, part_count).await {
                Err(e) if e.is_retryable() && attempt + 1 < attempts => {
                    attempt += 1;
                    let backoff = 250 * 2u64.pow(attempt.min(5)) + rand::random::<u64>() % 250;
                    tokio::time::sleep(Duration::from_millis(backoff)).await;
                }
                other => return other,
            }
        }
    }

    /// Sends the parts the state lists as remaining, then finalizes.
    #[allow(clippy::too_many_arguments)]
    async fn finish(
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

fn unexpected(what: &str) -> ClientError {
    ClientError::Server {
        status: 200,
        message: what.to_owned(),
    }
}

/// SHA-256 of the listed parts of `plan` (none without a plan), on one blocking thread.
pub async fn hash_parts(
    path: PathBuf,
    plan: Option<PartPlan>,
    numbers: Vec<u32>,
) -> Result<HashMap<u32, Sha256Digest>, ClientError> {
    hash_parts_cancellable(path, plan, numbers, Arc::new(AtomicBool::new(false))).await
}

/// `hash_parts` that stops between parts once `cancel` is set (returning what it has).
async fn hash_parts_cancellable(
    path: PathBuf,
    plan: Option<PartPlan>,
    numbers: Vec<u32>,
    cancel: Arc<AtomicBool>,
) -> Result<HashMap<u32, Sha256Digest>, ClientError> {
    let Some(plan) = plan else { return Ok(HashMap::new()) };
    blocking(move || {
        let mut file = std::fs::File::open(&path)?;
        let mut buf = vec![0u8; READ_BUF];
        numbers
            .into_iter()
            .take_while(|_| !cancel.load(Ordering::Relaxed))
            .filter_map(|n| Some((n, plan.part_offset(n)?, plan.part_len(n)?)))
            .map(|(n, offset, len)| Ok((n, hash_range(&mut file, &mut buf, offset, len)?)))
            .collect()
    })
    .await
}

/// SHA-256 of `len` bytes of `path` from `offset`, on a blocking thread (sha2 uses SHA-NI).
pub async fn hash_file(path: PathBuf, offset: u64, len: u64) -> Result<Sha256Digest, ClientError> {
    blocking(move || {
        let mut file = std::fs::File::open(&path)?;
        hash_range(&mut file, &mut vec![0u8; READ_BUF], offset, len)
    })
    .await
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, ClientError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ClientError::Io(std::io::Error::other(e)))?
        .map_err(ClientError::Io)
}

fn hash_range(file: &mut std::fs::File, buf: &mut [u8], offset: u64, len: u64) -> std::io::Result<Sha256Digest> {
    use std::io::{Read, Seek};
    file.seek(std::io::SeekFrom::Start(offset))?;
    let mut reader = file.take(len);
    let mut hasher = Sha256::new();
    loop {
        let n = reader.read(buf)?;
        if n == 0 {
            return Ok(Sha256Digest(hasher.finalize().into()));
        }
        hasher.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("jetty-client-test-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_part_may_take_a_minute_plus_its_bytes_at_the_slowest_allowed_rate() {
        const MIB: u64 = 1024 * 1024;
        let table = [
            // (part size, limit rate, concurrency, seconds)
            (8 * MIB, None, 16, 60.0 + 128.0),
            (64 * MIB, None, 16, 60.0 + 1024.0),
            (0, None, 16, 60.0),
            // 1 MiB/s shared by 16 parts, halved for jitter: 32 KiB/s each.
            (8 * MIB, Some(MIB), 16, 60.0 + 256.0),
            // A generous limit never raises the allowance above 64 KiB/s.
            (8 * MIB, Some(1024 * MIB), 4, 60.0 + 128.0),
            // A limit too small to share still gives every part a finite deadline.
            (MIB, Some(1), 16, 60.0 + MIB as f64),
        ];
        for (len, limit, concurrency, secs) in table {
            let got = part_deadline(len, limit, concurrency).as_secs_f64();
            assert!(
                (got - secs).abs() < 1e-6,
                "{len} {limit:?} {concurrency}: {got} != {secs}"
            );
        }
    }

    #[test]
    fn state_records_round_trip_and_are_keyed_by_source_path() {
        let dir = temp_dir();
        let store = StateStore::new(dir.join("state"));
        let a = dir.join("a.bin");
        let b = dir.join("b.bin");
        std::fs::write(&a, b"a").unwrap();
        std::fs::write(&b, b"b").unwrap();
        let record = LocalState {
            coordinator: "http://c".into(),
            path: a.clone(),
            size: 1,
            modified_secs: 5,
            modified_nanos: 6,
            file_id: "fil_1".into(),
            file_hash: Sha256Digest::of(b"a").to_prefixed(),
        };
        store.save(&record).unwrap();
        assert_eq!(store.load(&a), Some(record));
        assert_eq!(store.load(&b), None);
        store.remove(&a);
        assert_eq!(store.load(&a), None);
    }

    #[tokio::test]
    async fn part_hashes_match_hashes_of_the_slices() {
        let dir = temp_dir();
        let path = dir.join("data.bin");
        let data: Vec<u8> = (0..(11 * 1024 * 1024 + 5)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let plan = PartPlan::new(data.len() as u64, 5 * 1024 * 1024, DEFAULT_BODY_LIMIT).unwrap();
        let hashes = hash_parts(path.clone(), Some(plan), vec![1, 3]).await.unwrap();
        assert_eq!(hashes.len(), 2);
        assert_eq!(hashes[&1], Sha256Digest::of(&data[..5 * 1024 * 1024]));
        assert_eq!(hashes[&3], Sha256Digest::of(&data[10 * 1024 * 1024..]));
        assert_eq!(
            hash_file(path, 0, data.len() as u64).await.unwrap(),
            Sha256Digest::of(&data)
        );
    }

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

    #[tokio::test]
    async fn the_meter_counts_bytes_and_holds_the_rate() {
        let meter = Meter::new(Some(10 * 1024 * 1024));
        let start = Instant::now();
        for _ in 0..8 {
            meter.pass(256 * 1024).await;
        }
        // 2 MiB at 10 MiB/s takes at least 0.2 s.
        assert!(start.elapsed() >= Duration::from_millis(195), "{:?}", start.elapsed());
        assert_eq!(meter.sent.load(Ordering::Relaxed), 2 * 1024 * 1024);
        let unlimited = Meter::new(None);
        unlimited.pass(5).await;
        assert_eq!(unlimited.sent.load(Ordering::Relaxed), 5);
    }
}
