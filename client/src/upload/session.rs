//! The session flow of an upload: resume an unfinished one from the local record, else hash
//! the parts on every core, ask the coordinator by content id for edges (or learn it is a
//! duplicate), and hand the parts to the driver, behind whose sending the whole-file hash runs
//! for finalize; `resume` continues a session by id on any machine holding the file.

use super::digests::PartDigests;
use super::driver::unexpected;
use super::hashing::{cores, hash_file, hash_parts_parallel};
use super::options::{Progress, UploadOptions, UploadOutcome};
use super::state::{modified, LocalState};
use super::timeline::Timeline;
use super::with_retries::with_retries;
use crate::{Client, ClientError};
use futures::StreamExt;
use jetty_shared::content_id::ContentId;
use jetty_shared::hash::Sha256Digest;
use jetty_shared::plan::{PartPlan, DEFAULT_BODY_LIMIT};
use jetty_shared::protocol::*;
use jetty_shared::state::ResumeResponse;
use std::collections::HashMap;
use std::path::Path;

/// `reuse-parts` requests in flight at once.
const REUSE_REQUESTS: usize = 8;

/// Seconds between asks while the same content is in flight from another upload.
const IN_FLIGHT_POLL_SECS: u64 = 2;

impl Client {
    /// Uploads `path`. With a state store, an interrupted upload of the same (unchanged) file
    /// is resumed: only the parts the coordinator has not recorded are sent.
    pub async fn upload(
        &self,
        path: &Path,
        opts: &UploadOptions,
        progress: Option<Progress>,
    ) -> Result<UploadOutcome, ClientError> {
        let mut timeline = Timeline::start();
        let meta = tokio::fs::metadata(path).await?;
        let size = meta.len();
        let (modified_secs, modified_nanos) = modified(&meta);
        if let Some(store) = &opts.state {
            if let Some(saved) = store.load(path) {
                let same_file = saved.coordinator == self.base_url
                    && saved.size == size
                    && (saved.modified_secs, saved.modified_nanos) == (modified_secs, modified_nanos);
                if same_file {
                    let ticket = with_retries(opts.retry, opts.on_retry.as_ref(), || {
                        self.resume_ticket(&saved.file_id)
                    });
                    match ticket.await {
                        Ok(ticket) => {
                            let file_hash = match &saved.file_hash {
                                Some(hash) => Some(
                                    Sha256Digest::parse(hash)
                                        .map_err(|_| ClientError::Integrity("corrupt local upload record".into()))?,
                                ),
                                None => None,
                            };
                            let outcome = self
                                .finish(
                                    path,
                                    file_hash,
                                    ticket,
                                    PartDigests::known(HashMap::new()),
                                    Vec::new(),
                                    opts,
                                    progress,
                                    timeline,
                                )
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

        // The server honours a valid part-size hint, so the plan is known before asking: the
        // part digests, hashed on every core, give the content id that dedup looks up, so the
        // answer comes before any whole-file hash. That one runs in the background behind the
        // sending, each part just after it was read to be sent (`TrailingHash`: a file larger
        // than the page cache is read from disk once for both), and is declared at finalize.
        let threads = opts.concurrency.clamp(1, 64) as u32;
        let mut preferred = opts
            .part_size
            .unwrap_or_else(|| PartPlan::preferred_part_size(size, threads));
        // A large file opens its session at once and is named once its parts are hashed, as
        // they go out (`naming`).
        let named_later = PartPlan::new(size, preferred, DEFAULT_BODY_LIMIT)
            .ok()
            .filter(|plan| size > opts.hash_first_max && plan.part_count > 1);
        if let Some(plan) = named_later {
            return self
                .upload_named_later(path, &meta, plan, threads, opts, progress, timeline)
                .await;
        }
        let mut replanned = false;
        let (mut answer, request, part_hashes, expected_plan, declared) = loop {
            let expected_plan = PartPlan::new(size, preferred, DEFAULT_BODY_LIMIT).ok();
            let all_parts: Vec<u32> = expected_plan.map(|p| p.part_numbers().collect()).unwrap_or_default();
            let part_hashes = hash_parts_parallel(path.to_owned(), expected_plan, all_parts, cores()).await?;
            timeline.parts_hashed = timeline.now();
            let content_id = expected_plan.and_then(|plan| {
                let digests: Option<Vec<Sha256Digest>> =
                    plan.part_numbers().map(|n| part_hashes.get(&n).copied()).collect();
                digests.map(|d| ContentId::of_parts(&d).to_wire())
            });
            // Without a plan of our own (a file beyond any plan) the server decides: declare the
            // whole-file hash up front as the seeds' clients do.
            let declared = match content_id {
                Some(_) => None,
                None => Some(hash_file(path.to_owned(), 0, size).await?),
            };
            let request = session_request(path, size, opts, preferred, threads, content_id, declared);
            // An answer lost on the way back leaves a session nobody uses; the sweeper aborts it.
            // The same content being uploaded in this account right now (`upload_in_progress`)
            // is waited for: asked again, the finished upload answers as a duplicate.
            let answer = loop {
                match with_retries(opts.retry, opts.on_retry.as_ref(), || self.optimal_edges(&request)).await {
                    Err(e) if e.code() == Some("upload_in_progress") => {
                        tokio::time::sleep(std::time::Duration::from_secs(IN_FLIGHT_POLL_SECS)).await
                    }
                    other => break other,
                }
            };
            match answer {
                // The service plans parts of another size (its largest part is smaller): hash
                // those and ask again, once.
                Err(ClientError::Refused { code, details, .. }) if code == "part_size_changed" && !replanned => {
                    let planned = details.as_ref().and_then(|d| d["partSize"].as_u64());
                    preferred = planned.ok_or_else(|| unexpected("part_size_changed without a partSize"))?;
                    replanned = true;
                }
                other => break (other?, request, part_hashes, expected_plan, declared),
            }
        };
        timeline.session_ready = timeline.now();
        if let Some(dup) = answer.duplicate {
            return self.duplicate_outcome(path, size, dup, declared, timeline).await;
        }
        let upload = answer
            .upload
            .take()
            .ok_or_else(|| unexpected("no upload ticket in the answer"))?;
        if let Some(store) = &opts.state {
            // Best effort: without the record the upload still works, it just cannot resume.
            let _ = store.save(&LocalState::new(&self.base_url, path, &meta, &upload.file_id, declared));
        }
        let plan = upload.plan(size);
        let hashes = if expected_plan == Some(plan) {
            part_hashes
        } else {
            HashMap::new()
        };
        // Parts the account already stores (an earlier version of this file) are copied inside
        // the store instead of sent.
        // (`finish` asks for the copies while it sends the other parts.)
        let reusable = self.reusable_parts(&upload.file_id, &hashes).await;
        let to_send = plan
            .part_numbers()
            .filter(|n| !reusable.iter().any(|o| o.part == *n))
            .collect();
        let ticket = fresh_ticket(upload, answer, size, to_send, declared, request.content_id);
        let mut outcome = self
            .finish(
                path,
                declared,
                ticket,
                PartDigests::known(hashes),
                reusable,
                opts,
                progress,
                timeline,
            )
            .await?;
        outcome.resumed = false;
        if let Some(store) = &opts.state {
            store.remove(path);
        }
        Ok(outcome)
    }

    /// Uploads a file too large to hash first (`HASH_FIRST_MAX`) under `plan`: the session
    /// opens with no identity while a background pass hashes the parts, each part goes out as
    /// soon as its digest is known, and the upload is named once all are (`naming`).
    #[allow(clippy::too_many_arguments)]
    async fn upload_named_later(
        &self,
        path: &Path,
        meta: &std::fs::Metadata,
        plan: PartPlan,
        threads: u32,
        opts: &UploadOptions,
        progress: Option<Progress>,
        mut timeline: Timeline,
    ) -> Result<UploadOutcome, ClientError> {
        let size = plan.file_size;
        let mut digests = PartDigests::hash(path.to_owned(), plan, cores());
        let request = session_request(path, size, opts, plan.part_size, threads, None, None);
        let mut answer = with_retries(opts.retry, opts.on_retry.as_ref(), || self.optimal_edges(&request)).await?;
        timeline.session_ready = timeline.now();
        let upload = answer
            .upload
            .take()
            .ok_or_else(|| unexpected("no upload ticket in the answer"))?;
        if let Some(store) = &opts.state {
            let _ = store.save(&LocalState::new(&self.base_url, path, meta, &upload.file_id, None));
        }
        // The service plans another part size than asked: hash its parts instead.
        let planned = upload.plan(size);
        if planned != plan {
            digests = PartDigests::hash(path.to_owned(), planned, cores());
        }
        let ticket = fresh_ticket(upload, answer, size, planned.part_numbers().collect(), None, None);
        let outcome = self
            .finish(path, None, ticket, digests, Vec::new(), opts, progress, timeline)
            .await?;
        if let Some(store) = &opts.state {
            store.remove(path);
        }
        Ok(outcome)
    }

    /// The outcome of an upload answered as a duplicate (by verified content id): the stored
    /// file's hash is this file's (declared, or as stored, or hashed now).
    pub(super) async fn duplicate_outcome(
        &self,
        path: &Path,
        size: u64,
        dup: Duplicate,
        declared: Option<Sha256Digest>,
        timeline: Timeline,
    ) -> Result<UploadOutcome, ClientError> {
        let sha256 = match (declared, dup.sha256) {
            (Some(hash), _) => hash.to_prefixed(),
            (None, Some(stored)) => stored,
            (None, None) => hash_file(path.to_owned(), 0, size).await?.to_prefixed(),
        };
        Ok(UploadOutcome {
            file_id: dup.file_id,
            url: dup.url,
            size,
            sha256,
            duplicate: true,
            resumed: false,
            parts: 0,
            parts_sent: 0,
            bytes_sent: 0,
            parts_reused: 0,
            edges: vec![],
            seconds: timeline.seconds(),
            timeline,
        })
    }

    /// The parts (by digest) the account already stores, asked in batches without copying.
    /// Best effort: a failure only means the parts are sent.
    pub(super) async fn reusable_parts(&self, file_id: &str, hashes: &HashMap<u32, Sha256Digest>) -> Vec<PartOffer> {
        let mut offers: Vec<PartOffer> = hashes
            .iter()
            .map(|(&part, digest)| PartOffer {
                part,
                sha256: digest.to_hex(),
            })
            .collect();
        offers.sort_by_key(|o| o.part);
        if offers.len() < 2 {
            // One part is the whole file: dedup already answered for it.
            return Vec::new();
        }
        let mut reusable = Vec::new();
        for batch in offers.chunks(MAX_REUSE_OFFERS) {
            match self.reuse_parts(file_id, batch.to_vec(), true).await {
                Ok(answer) => reusable.extend(answer.reusable),
                Err(_) => break,
            }
        }
        offers.retain(|o| reusable.contains(&o.part));
        offers
    }

    /// Asks the store to copy `offers` into upload `file_id`; the parts it copied. Several
    /// requests at once, each copying a few parts: a copy's time is mostly the store's round
    /// trip, and one request keeps only a few copies in flight.
    pub(super) async fn copy_parts(&self, file_id: &str, offers: Vec<PartOffer>) -> Vec<u32> {
        let mut copied = Vec::new();
        if offers.is_empty() {
            return copied;
        }
        let batch = offers.len().div_ceil(REUSE_REQUESTS).clamp(1, MAX_REUSE_OFFERS);
        let mut requests = futures::stream::FuturesUnordered::new();
        let copied_of = |answer: Option<Result<ReusePartsResponse, ClientError>>| {
            answer.and_then(Result::ok).map(|a| a.copied).unwrap_or_default()
        };
        for b in offers.chunks(batch).map(<[PartOffer]>::to_vec) {
            if requests.len() == REUSE_REQUESTS {
                copied.extend(copied_of(requests.next().await));
            }
            requests.push(self.reuse_parts(file_id, b, false));
        }
        while let Some(answer) = requests.next().await {
            copied.extend(copied_of(Some(answer)));
        }
        copied.sort_unstable();
        copied
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
        let mut timeline = Timeline::start();
        let meta = tokio::fs::metadata(path).await?;
        let size = meta.len();
        let ticket = with_retries(opts.retry, opts.on_retry.as_ref(), || self.resume_ticket(file_id)).await?;
        if ticket.state.total != size {
            return Err(ClientError::Integrity(format!(
                "the session is for a file of {} bytes, {} has {size}",
                ticket.state.total,
                path.display()
            )));
        }
        let plan = ticket.upload.plan(size);
        let not_this_file = || {
            ClientError::Integrity(format!(
                "{} is not the file session {file_id} was started with",
                path.display()
            ))
        };
        let (file_hash, hashes) = match (&ticket.state.file_hash, &ticket.state.content_id) {
            // Stopped before it was named: nothing says which file its stored parts came from.
            (None, None) if !ticket.state.chunks_uploaded.is_empty() => {
                return Err(ClientError::Refused {
                    status: 409,
                    code: "session_unnamed".into(),
                    message: format!(
                        "session {file_id} stopped before its content was named, so {} cannot be checked against \
                         the parts it holds; upload the file afresh",
                        path.display()
                    ),
                    details: None,
                });
            }
            (None, None) => (None, HashMap::new()),
            // Opened by content id alone: check every part's digest against it; the whole-file
            // hash follows in the background.
            (None, Some(content_id)) => {
                let all =
                    hash_parts_parallel(path.to_owned(), Some(plan), plan.part_numbers().collect(), cores()).await?;
                let digests: Vec<Sha256Digest> = plan.part_numbers().filter_map(|n| all.get(&n).copied()).collect();
                if &ContentId::of_parts(&digests).to_wire() != content_id {
                    return Err(not_this_file());
                }
                (None, all)
            }
            (declared, _) => {
                let (file_hash, hashes) = tokio::try_join!(
                    hash_file(path.to_owned(), 0, size),
                    hash_parts_parallel(
                        path.to_owned(),
                        Some(plan),
                        ticket.state.chunks_remaining.clone(),
                        cores()
                    )
                )?;
                if declared.as_deref() != Some(file_hash.to_prefixed().as_str()) {
                    return Err(not_this_file());
                }
                (Some(file_hash), hashes)
            }
        };
        timeline.parts_hashed = timeline.now();
        if let Some(store) = &opts.state {
            let _ = store.save(&LocalState::new(&self.base_url, path, &meta, file_id, file_hash));
        }
        let outcome = self
            .finish(
                path,
                file_hash,
                ticket,
                PartDigests::known(hashes),
                Vec::new(),
                opts,
                progress,
                timeline,
            )
            .await?;
        if let Some(store) = &opts.state {
            store.remove(path);
        }
        Ok(outcome)
    }

    /// Finalize is idempotent (a completed session answers with its file), so the coordinator's
    /// outages — unreachable, `store_unavailable`, `finalize_in_progress`, any 5xx, 429 or 408 — are waited
    /// out within the retry budget.
    pub(super) async fn finalize_retrying(
        &self,
        file_id: &str,
        part_count: u32,
        file_hash: &Sha256Digest,
        opts: &UploadOptions,
    ) -> Result<FinalizeResponse, ClientError> {
        with_retries(opts.retry, opts.on_retry.as_ref(), || {
            self.finalize(file_id, part_count, Some(file_hash))
        })
        .await
    }
}

/// `optimal-edges` for `path` with the plan's part size and the identity known up front: a
/// content id over the parts, or (beyond any plan) the whole-file hash, or neither (named later).
fn session_request(
    path: &Path,
    size: u64,
    opts: &UploadOptions,
    part_size: u64,
    threads: u32,
    content_id: Option<String>,
    declared: Option<Sha256Digest>,
) -> OptimalEdgesRequest {
    OptimalEdgesRequest {
        user_id: None,
        file_size: size,
        content_id,
        file_hash: declared.map(|h| h.to_prefixed()),
        file_name: path.file_name().map(|n| n.to_string_lossy().into_owned()),
        content_type: opts.content_type.clone(),
        user_location: opts.location,
        priority: Some(Priority::Speed),
        budget: None,
        chunk_size: Some(part_size),
        threads: Some(threads),
        expires_in: opts.expires_in,
    }
}

/// The ticket of a session just opened, as `resume` would answer it: nothing stored yet,
/// `to_send` remaining.
fn fresh_ticket(
    upload: UploadTicket,
    answer: OptimalEdgesResponse,
    size: u64,
    to_send: Vec<u32>,
    declared: Option<Sha256Digest>,
    content_id: Option<String>,
) -> ResumeResponse {
    let plan = upload.plan(size);
    let state = jetty_shared::state::UploadState {
        file_id: upload.file_id.clone(),
        session_id: upload.session_id.clone(),
        status: "active".into(),
        chunks_remaining: to_send,
        progress: 0,
        chunks_uploaded: vec![],
        edges: answer.edges.iter().map(|e| e.id.clone()).collect(),
        total: size,
        part_size: plan.part_size,
        part_count: plan.part_count,
        file_hash: declared.map(|h| h.to_prefixed()),
        content_id,
        bytes_received: 0,
        expires_at: upload.expires_at,
    };
    ResumeResponse {
        upload,
        edges: answer.edges,
        state,
        direct: answer.direct,
    }
}
