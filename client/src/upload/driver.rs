//! The upload driver: the async I/O around the part scheduler. It streams each assigned part
//! from disk to its edge (metered), tells the scheduler whom each failure blames, tells the
//! coordinator about failed edges, says when it waits out an outage, and finalizes (waiting out
//! the coordinator's outages too) once every part is stored.

use super::congestion::{congestion_control, edges_concurrency};
use super::digests::PartDigests;
use super::direct::{direct_edge, DirectSession};
use super::hashing::{cores, hash_file, TrailingHash, WholeHash};
use super::meter::{LastMoved, Meter};
use super::naming::{content_id_of, NamingEvent, NamingFlow, NamingStep};
use super::options::{
    part_deadline, progress_window, Progress, RetryNotice, Retrying, Trouble, UploadOptions, UploadOutcome,
};
use super::retry::RetryPolicy;
use super::scheduler::{Action, Outcome, PartScheduler, SchedulerConfig};
use super::timeline::Timeline;
use crate::{json_or_error, Client, ClientError};
use futures::future::{abortable, AbortHandle, BoxFuture, FutureExt};
use futures::stream::{FuturesUnordered, StreamExt};
use jetty_shared::hash::Sha256Digest;
use jetty_shared::plan::PartPlan;
use jetty_shared::protocol::*;
use jetty_shared::state::ResumeResponse;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

const STREAM_CHUNK: usize = 256 * 1024;

/// How many times parts the store did not copy or hold are sent again before giving up.
const RESEND_ROUNDS: usize = 3;

/// An upload opened without a content id, to be named while its parts go out (`naming`).
struct Naming<'a> {
    file_id: &'a str,
    plan: &'a PartPlan,
    retry: RetryPolicy,
}

/// How the sending ended.
enum SendEnd {
    Stored(Stored),
    /// Named as a duplicate of stored content: the service closed the upload.
    Duplicate(Duplicate),
}

/// What the sending of an upload's parts did besides storing them.
struct Stored {
    /// Parts sent straight to the store that it turned out not to hold (to send again).
    not_held: Vec<u32>,
    /// Parts the store copied (an upload named during the sending).
    copied: Vec<u32>,
    /// When every part's digest was known, and when the upload was named.
    hashed_at: Option<Instant>,
    named_at: Option<Instant>,
}

/// What every part of one upload is sent with.
struct Parts<'a> {
    edges: &'a [EdgeInfo],
    /// Set when the only "edge" is the store-direct route.
    direct: Option<&'a DirectSession>,
    token: &'a str,
    path: &'a Path,
    plan: &'a PartPlan,
    /// Each part's SHA-256 (known, being hashed, or hashed by its sender).
    digests: &'a PartDigests,
    meter: &'a Arc<Meter>,
    notice: Option<&'a RetryNotice>,
    /// Told of each part read for sending (the whole-file hash follows the reads).
    whole: &'a WholeHash,
}

impl Client {
    /// Sends the parts the state lists as remaining while the store copies `copying` (parts the
    /// account already stores), sends those it did not copy, then finalizes with `file_hash`,
    /// or, unknown, the whole-file SHA-256 hashed behind the sending (`TrailingHash`). An
    /// upload opened with neither a content id nor a file hash is named while its parts go out
    /// (`naming`): it may end as a duplicate.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn finish(
        &self,
        path: &Path,
        file_hash: Option<Sha256Digest>,
        ticket: ResumeResponse,
        digests: PartDigests,
        copying: Vec<PartOffer>,
        opts: &UploadOptions,
        progress: Option<Progress>,
        mut timeline: Timeline,
    ) -> Result<UploadOutcome, ClientError> {
        let ResumeResponse {
            upload,
            edges,
            state,
            direct,
        } = ticket;
        if edges.is_empty() && !state.chunks_remaining.is_empty() {
            return Err(unexpected("no edges in the answer"));
        }
        // Straight to the store when it is offered and no edge is nearer (`Route`).
        // (On a LAN with fewer parts in flight: `direct_concurrency`.)
        let direct_parts_in_flight = match state.chunks_remaining.is_empty() {
            true => None,
            false => {
                self.use_direct(opts.route, direct.as_ref(), &edges, opts.concurrency)
                    .await?
            }
        };
        timeline.route_chosen = timeline.now();
        let go_direct = direct_parts_in_flight.is_some();
        let edges = match (&direct, go_direct) {
            (Some(route), true) => vec![direct_edge(route)],
            _ => edges,
        };
        let plan = upload.plan(state.total);
        let unnamed = file_hash.is_none() && state.content_id.is_none() && !state.chunks_remaining.is_empty();
        // Naming needs every part's digest: a background pass makes them while the parts go.
        let digests = match unnamed && !digests.covers(&plan) {
            true => PartDigests::hash(path.to_owned(), plan, cores()),
            false => digests,
        };
        let whole = match file_hash {
            Some(hash) => WholeHash::Known(hash),
            None => WholeHash::Trailing(TrailingHash::start(path.to_owned(), plan, &state.chunks_remaining)),
        };
        let resumed = !state.chunks_uploaded.is_empty();
        let meter = Arc::new(Meter::new(opts.limit_rate));
        let timeout = opts
            .part_timeout
            .unwrap_or_else(|| part_deadline(plan.part_size, opts.limit_rate, opts.concurrency));
        if let Some(p) = &progress {
            p(state.progress, plan.file_size);
        }
        // `concurrency` slots over the edges by weight, all pulling parts from one queue (the
        // scheduler decides; this loop only does the I/O).
        let weights: Vec<f64> = edges.iter().map(|e| e.weight).collect();
        let config = SchedulerConfig {
            // Straight to the store over a LAN, or under BBR, fewer than `-j` (`congestion`).
            concurrency: direct_parts_in_flight
                .unwrap_or_else(|| edges_concurrency(opts.concurrency, congestion_control().as_deref())),
            part_timeout: timeout,
            progress_window: progress_window(opts.part_timeout),
            retry: opts.retry,
            seed: rand::random(),
        };
        let mut scheduler = PartScheduler::new(&weights, state.chunks_remaining.iter().copied(), config);
        let mut done = state.progress;
        let direct_session =
            go_direct.then(|| DirectSession::new(&upload.file_id, state.chunks_remaining.clone(), opts.retry));
        let parts = Parts {
            edges: &edges,
            direct: direct_session.as_ref(),
            token: &upload.upload_token,
            path,
            plan: &plan,
            digests: &digests,
            meter: &meter,
            notice: opts.on_retry.as_ref(),
            whole: &whole,
        };
        let mut parts_stored = 0u32;
        let mut on_stored = |number: u32| {
            parts_stored += 1;
            if timeline.first_part_stored.is_none() {
                timeline.first_part_stored = timeline.now();
            }
            done += plan.part_len(number).unwrap_or(0);
            if let Some(p) = &progress {
                p(done, plan.file_size);
            }
        };
        let offered: Vec<u32> = copying.iter().map(|o| o.part).collect();
        let naming = unnamed.then_some(Naming {
            file_id: &upload.file_id,
            plan: &plan,
            retry: opts.retry,
        });
        let (sent, copied) = futures::join!(
            self.send_parts(&mut scheduler, &parts, naming, &mut on_stored),
            self.copy_parts(&upload.file_id, copying)
        );
        let sent = match sent? {
            SendEnd::Stored(sent) => sent,
            SendEnd::Duplicate(dup) => {
                timeline.named = timeline.now();
                let mut outcome = self
                    .duplicate_outcome(path, plan.file_size, dup, None, timeline)
                    .await?;
                // What went out before it was named a duplicate.
                outcome.bytes_sent = meter.sent.load(Ordering::Relaxed);
                outcome.parts_sent = parts_stored;
                return Ok(outcome);
            }
        };
        let not_held = sent.not_held;
        copied.iter().for_each(|n| on_stored(*n));
        let mut copied = copied;
        // Parts of the sending round the store copied instead (named during it).
        let copied_in_round = sent.copied.len();
        copied.extend(sent.copied);
        // What the store did not copy after all is sent like any part, and so is what it does
        // not hold after a send straight to it (a few rounds at most).
        let mut again: Vec<u32> = offered.into_iter().filter(|n| !copied.contains(n)).collect();
        again.extend(not_held);
        let mut sent_again = 0;
        for _ in 0..RESEND_ROUNDS {
            if again.is_empty() {
                break;
            }
            sent_again += again.len();
            let mut round = PartScheduler::new(&weights, again.iter().copied(), config);
            again = match self.send_parts(&mut round, &parts, None, &mut on_stored).await? {
                SendEnd::Stored(sent) => sent.not_held,
                SendEnd::Duplicate(_) => return Err(unexpected("named twice")),
            };
        }
        if !again.is_empty() {
            return Err(ClientError::Integrity(format!(
                "the store does not hold parts {again:?} after {RESEND_ROUNDS} rounds of sending them"
            )));
        }
        timeline.parts_stored = timeline.now();
        if let Some(at) = sent.hashed_at {
            timeline.parts_hashed = timeline.at(at);
        }
        if let Some(at) = sent.named_at {
            timeline.named = timeline.at(at);
        }
        // Hashed in the background while the parts went out; declared at finalize.
        let file_hash = whole.get().await?;
        timeline.whole_hashed = timeline.now();
        let file = self
            .finalize_retrying(&upload.file_id, plan.part_count, &file_hash, opts)
            .await?
            .file;
        timeline.finalized = timeline.now();
        debug_assert_eq!(file.sha256, file_hash.to_prefixed());
        Ok(UploadOutcome {
            file_id: file.id,
            url: file.url,
            size: file.size,
            sha256: file.sha256,
            duplicate: false,
            resumed,
            parts: plan.part_count,
            parts_sent: (state.chunks_remaining.len() + sent_again).saturating_sub(copied_in_round) as u32,
            bytes_sent: meter.sent.load(Ordering::Relaxed),
            parts_reused: copied.len() as u32,
            edges: edges.iter().map(|e| e.id.clone()).collect(),
            seconds: timeline.seconds(),
            timeline,
        })
    }

    /// Runs `scheduler` to the end: sends what it assigns, feeds it the answers (blaming the
    /// edge or not) and the deadlines, reports failed edges to the coordinator, says when it
    /// waits out an outage, and calls `stored` for each part stored. The first error it gives
    /// up on ends the upload (dropping the requests in flight). On the store-direct route it
    /// has the sent parts recorded, a batch at a time while the next go out, and answers the
    /// parts the store turned out not to hold. With `naming`, it names the upload once every
    /// part is hashed: a duplicate ends the sending; another upload of the same content holds
    /// the queued parts while it asks again; otherwise the queued parts the account stores
    /// already are copied by the store instead of sent.
    async fn send_parts(
        &self,
        scheduler: &mut PartScheduler,
        parts: &Parts<'_>,
        naming: Option<Naming<'_>>,
        mut stored: impl FnMut(u32),
    ) -> Result<SendEnd, ClientError> {
        let edges = parts.edges;
        let mut sending = FuturesUnordered::new();
        // The parts in flight: how to cancel each, and when its bytes last moved.
        let mut cancel: HashMap<u32, (AbortHandle, Arc<LastMoved>)> = HashMap::new();
        let mut reports = FuturesUnordered::new();
        // The store-direct route's sent parts waiting to be recorded, the batch being recorded
        // (one at a time: the others gather meanwhile), and the parts the store did not hold.
        let mut to_record: Vec<(u32, Sha256Digest)> = Vec::new();
        let mut recording = FuturesUnordered::new();
        let mut not_held: Vec<u32> = Vec::new();
        // Whether the notice last said the upload is waiting.
        let mut waiting = false;
        // Set by a store failure, cleared by any success: while set, a part is sent only after
        // its edge says the store answers again, so an outage costs probes, not part bodies.
        let mut store_suspect = false;
        // Naming (`NamingFlow`): the requests it asked for, each answering with its event.
        let mut naming_io: FuturesUnordered<BoxFuture<'_, NamingEvent>> = FuturesUnordered::new();
        let mut flow = naming.as_ref().map(|n| {
            naming_io.push(content_id_of(n.plan, parts.digests).map(NamingEvent::Hashed).boxed());
            naming_io.push(
                self.start_is_stored(n.file_id, n.plan, parts.digests)
                    .map(NamingEvent::StartProbed)
                    .boxed(),
            );
            NamingFlow::start(scheduler)
        });
        let mut tell = |retrying: Option<Retrying>| {
            if let Some(n) = parts.notice {
                if retrying.is_some() || std::mem::take(&mut waiting) {
                    n.tell(retrying);
                }
            }
            waiting |= retrying.is_some();
        };
        loop {
            let now = Instant::now();
            for (part, (_, moved)) in &cancel {
                if let Some(at) = moved.moving_until() {
                    scheduler.on_progress(*part, at);
                }
            }
            for (a, action) in scheduler.handle_timeout(now) {
                if let Some((handle, _)) = cancel.remove(&a.part) {
                    handle.abort();
                }
                let err = ClientError::Network(format!(
                    "part {} got no answer from edge {} before its deadline",
                    a.part, edges[a.edge].id
                ));
                if let Action::Retry { report: Some(e) } | Action::Backoff { report: Some(e), .. } = action {
                    reports.push(self.report_edge_failure(edges[e].id.clone(), err.to_string()));
                }
                match action {
                    Action::Backoff { delay, .. } => tell(Some(Retrying {
                        trouble: Trouble::EdgesFailing,
                        delay,
                    })),
                    Action::GiveUp => return Err(spent(err, scheduler, now)),
                    _ => {}
                }
            }
            while let Some(a) = scheduler.next(now) {
                let edge = &edges[a.edge];
                let probe_first = store_suspect;
                let len = parts.plan.part_len(a.part).unwrap_or(0);
                let moved = Arc::new(LastMoved::new(len, STREAM_CHUNK));
                let moving = moved.clone();
                let (send, handle) = abortable(async move {
                    match (probe_first, parts.direct) {
                        (true, None) => self.store_check(edge, parts.token).await?,
                        (true, Some(_)) => self.store_answers(&edge.url).await?,
                        (false, _) => {}
                    }
                    let sent = self
                        .send_part(
                            edge,
                            parts.direct,
                            parts.token,
                            parts.path,
                            parts.plan,
                            a.part,
                            parts.digests,
                            Some(parts.meter),
                            Some(moving),
                        )
                        .await;
                    // Its pages were just read: the whole-file hash may take them now.
                    parts.whole.part_read(a.part);
                    sent
                });
                cancel.insert(a.part, (handle, moved));
                sending.push(send.map(move |result| (a, result)));
            }
            if scheduler.is_done() && flow.as_ref().is_none_or(NamingFlow::idle) {
                break;
            }
            let wake = scheduler.poll_timeout();
            let sleep = tokio::time::sleep_until(wake.unwrap_or(now).into());
            tokio::select! {
                Some((a, result)) = sending.next() => {
                    // Cancelled at its deadline: the scheduler already moved the part on.
                    let Ok(result) = result else { continue };
                    cancel.remove(&a.part);
                    let result = match (result, flow.as_mut()) {
                        (Err(e), Some(flow)) => match flow.refused(a.part, a.edge, e, scheduler) {
                            Some(e) => Err(e),
                            None => continue,
                        },
                        (result, _) => result,
                    };
                    let outcome = match &result {
                        Ok(_) => Outcome::Sent,
                        Err(e) => blame(e),
                    };
                    match outcome {
                        Outcome::StoreFailed => store_suspect = true,
                        Outcome::Sent => store_suspect = false,
                        _ => {}
                    }
                    let now = Instant::now();
                    let action = scheduler.on_result(a.part, a.edge, outcome, now);
                    if let Action::Retry { report: Some(e) } | Action::Backoff { report: Some(e), .. } = action {
                        // Tell the coordinator, so the next uploads rank the edge lower.
                        let reason = result.as_ref().err().map(|e| e.to_string()).unwrap_or_default();
                        reports.push(self.report_edge_failure(edges[e].id.clone(), reason));
                    }
                    if let (Some(direct), Ok(receipt)) = (parts.direct, &result) {
                        to_record.push((a.part, Sha256Digest::parse(&receipt.sha256).map_err(|e| unexpected(&e.message))?));
                        if recording.is_empty() {
                            recording.push(self.record_direct(direct, std::mem::take(&mut to_record)));
                        }
                    }
                    match action {
                        Action::Continue | Action::Done if outcome == Outcome::Sent => {
                            tell(None);
                            stored(a.part)
                        }
                        Action::Backoff { delay, .. } => tell(Some(Retrying {
                            trouble: if outcome == Outcome::StoreFailed {
                                Trouble::StoreUnavailable
                            } else {
                                Trouble::EdgesFailing
                            },
                            delay,
                        })),
                        Action::GiveUp => {
                            let err = result.err().unwrap_or_else(|| unexpected("gave up on a stored part"));
                            return Err(spent(err, scheduler, now));
                        }
                        Action::Continue | Action::Done | Action::Retry { .. } => {}
                    }
                }
                Some(event) = naming_io.next() => {
                    let (Some(flow), Some(n)) = (flow.as_mut(), &naming) else { continue };
                    for step in flow.on(event, scheduler, parts.digests, Instant::now()) {
                        let file_id = n.file_id;
                        match step {
                            NamingStep::Ask { content_id, after } => naming_io.push(
                                self.name_upload(file_id, content_id, n.retry, after)
                                    .map(|(id, named)| NamingEvent::Named(id, named))
                                    .boxed(),
                            ),
                            NamingStep::Check(queued) => naming_io.push(
                                async move { NamingEvent::Checked(self.reusable_parts(file_id, &queued).await) }.boxed(),
                            ),
                            NamingStep::Copy { withdrawn, offers } => naming_io.push(
                                async move { NamingEvent::Copied(withdrawn, self.copy_parts(file_id, offers).await) }.boxed(),
                            ),
                            NamingStep::NotRead(withdrawn) => withdrawn.iter().for_each(|w| parts.whole.part_read(*w)),
                            NamingStep::Stored(copied) => copied.iter().for_each(|c| stored(*c)),
                            NamingStep::Duplicate(dup) => return Ok(SendEnd::Duplicate(dup)),
                            NamingStep::Fail(e) => return Err(e),
                        }
                    }
                }
                Some(()) = reports.next() => {}
                Some(recorded) = recording.next() => {
                    not_held.extend(recorded?);
                    if let (Some(direct), false) = (parts.direct, to_record.is_empty()) {
                        recording.push(self.record_direct(direct, std::mem::take(&mut to_record)));
                    }
                }
                () = sleep, if wake.is_some() => {}
                else => return Err(unexpected("parts remain but none can be sent")),
            }
        }
        // Reports and records still under way complete before finalizing.
        while reports.next().await.is_some() {}
        while let Some(recorded) = recording.next().await {
            not_held.extend(recorded?);
        }
        if let (Some(direct), false) = (parts.direct, to_record.is_empty()) {
            not_held.extend(self.record_direct(direct, to_record).await?);
        }
        let (hashed_at, named_at, copied) = flow.map(|f| (f.hashed_at, f.named_at, f.copied)).unwrap_or_default();
        Ok(SendEnd::Stored(Stored {
            not_held,
            copied,
            hashed_at,
            named_at,
        }))
    }

    /// Asks `edge` whether the store behind it answers (`GET /api/edge/store-check`): `Ok` when
    /// it does (or the edge predates the check: 404/405), else the edge's error
    /// (`store_unavailable` when the store is still down).
    async fn store_check(&self, edge: &EdgeInfo, token: &str) -> Result<(), ClientError> {
        let resp = self
            .http
            .get(format!("{}/api/edge/store-check", edge.url.trim_end_matches('/')))
            .bearer_auth(token)
            .timeout(Duration::from_secs(10))
            .send()
            .await?;
        if matches!(resp.status().as_u16(), 404 | 405) {
            return Ok(());
        }
        json_or_error::<serde_json::Value>(resp).await.map(|_| ())
    }

    /// Sends one part, streamed from disk, through `edge` or (`direct`: the upload's file id)
    /// straight to the store, with its SHA-256 from `digests` (waiting for a background pass),
    /// else hashed first.
    #[allow(clippy::too_many_arguments)]
    async fn send_part(
        &self,
        edge: &EdgeInfo,
        direct: Option<&DirectSession>,
        token: &str,
        path: &Path,
        plan: &PartPlan,
        number: u32,
        digests: &PartDigests,
        meter: Option<&Arc<Meter>>,
        moved: Option<Arc<LastMoved>>,
    ) -> Result<ChunkReceipt, ClientError> {
        let (offset, len) = match (plan.part_offset(number), plan.part_len(number)) {
            (Some(o), Some(l)) => (o, l),
            _ => return Err(ClientError::Integrity(format!("part {number} is outside the plan"))),
        };
        // A part of an upload named later may wait here for the background pass (its deadline
        // runs meanwhile: a minute at least, against milliseconds per part hashed, and at most
        // `UNNAMED_PARTS` parts start before every digest is known).
        let digest = match digests.get(number).await? {
            Some(d) => d,
            None => hash_file(path.to_owned(), offset, len).await?,
        };
        let mut file = tokio::fs::File::open(path).await?;
        file.seek(std::io::SeekFrom::Start(offset)).await?;
        let chunks = tokio_util::io::ReaderStream::with_capacity(file.take(len), STREAM_CHUNK);
        let meter = meter.cloned();
        let metered = chunks.then(move |chunk| {
            let (meter, moved) = (meter.clone(), moved.clone());
            async move {
                if let (Ok(bytes), Some(m)) = (&chunk, &meter) {
                    m.pass(bytes.len()).await;
                }
                if let (Ok(bytes), Some(moved)) = (&chunk, &moved) {
                    moved.mark(bytes.len());
                }
                chunk
            }
        });
        let body = reqwest::Body::wrap_stream(metered);
        if let Some(direct) = direct {
            return self.send_part_direct(direct, number, digest, digests, len, body).await;
        }
        let resp = self
            .http
            .put(format!(
                "{}/api/edge/upload-chunk?part={number}",
                edge.url.trim_end_matches('/')
            ))
            .bearer_auth(token)
            .header(CHUNK_SHA256_HEADER, digest.to_hex())
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(body)
            .send()
            .await?;
        json_or_error(resp).await
    }
}

impl Client {
    /// Best effort: a lost report only means the edge is de-ranked a little later. The
    /// store-direct route is no edge: nothing to de-rank.
    async fn report_edge_failure(&self, edge_id: String, reason: String) {
        if edge_id == super::direct::STORE_DIRECT {
            return;
        }
        let report = EdgeReport {
            edge_id,
            reason: Some(reason.chars().take(200).collect()),
        };
        let _ = self
            .api(reqwest::Method::POST, "/api/jetty/edge-report")
            .json(&report)
            .timeout(Duration::from_secs(5))
            .send()
            .await;
    }
}

/// Whom a part's failed send blames. The store failing behind an edge (`store_unavailable`,
/// `storage_error`) is not the edge's fault; the edge's own failures are: no connection, a
/// reset, its own 5xx (`internal_error`, or a 5xx without a JSON error), a 429 or 408 (a rate
/// limit or proxy in front of it), an unreadable answer.
/// A part called short (`chunk_size_mismatch`) was streamed whole from the file at its planned
/// length (a file that shrank fails the read here first), so what cut it lies between: the
/// store going away mid-body. It is sent again like a store failure, within the retry budget.
fn blame(err: &ClientError) -> Outcome {
    match err {
        e if e.is_store_failure() => Outcome::StoreFailed,
        ClientError::Refused { code, .. } if code == "chunk_size_mismatch" => Outcome::StoreFailed,
        ClientError::Network(_) | ClientError::Server { .. } => Outcome::EdgeFailed,
        ClientError::Refused { .. } => Outcome::Refused,
        ClientError::Integrity(_) | ClientError::Io(_) => Outcome::Failed,
    }
}

/// The error the upload ends with: the last one, noting how long failures had gone on when the
/// retry budget ran out.
fn spent(err: ClientError, scheduler: &PartScheduler, now: Instant) -> ClientError {
    match scheduler.failing_for(now) {
        Some(d) if err.is_outage() => err.after_retries(d),
        _ => err,
    }
}

pub(crate) fn unexpected(what: &str) -> ClientError {
    ClientError::server(200, None, what)
}

#[cfg(test)]
#[path = "driver_tests.rs"]
mod tests;
