//! The chunk path shared by edges and the coordinator's origin-direct route: check the upload
//! token, the part number, the declared length and hash, then stream the raw body to S3
//! `UploadPart` without reading it (the signed payload hash makes the store verify it).

use crate::*;
use jetty_shared::config::{SecretValue, VerifyMode};
use jetty_shared::hash::Sha256Digest;
use jetty_shared::protocol::*;
use jetty_shared::s3::{PartPayload, S3};
use jetty_shared::session::{check_part, part_out_of_range, ForwardFailure};
use jetty_shared::token;
use jetty_shared::{ApiError, ErrorCode};
use wasm_bindgen::{JsCast, JsValue};
use worker::crypto::{DigestStream, DigestStreamAlgorithm};
use worker::{console_error, Request};

thread_local! {
    /// Parts this isolate is forwarding right now: the edge's load, reported with each part.
    static INFLIGHT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Counts a part in flight for as long as it lives.
struct InFlight;

impl InFlight {
    fn start() -> InFlight {
        INFLIGHT.with(|n| n.set(n.get() + 1));
        InFlight
    }

    fn now() -> u64 {
        INFLIGHT.with(|n| n.get())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        INFLIGHT.with(|n| n.set(n.get().saturating_sub(1)));
    }
}

fn part_number(req: &Request) -> ApiResult<u32> {
    let raw = header(req, PART_NUMBER_HEADER)
        .or_else(|| query_param(req, "part"))
        .ok_or_else(|| {
            ApiError::with_message(
                ErrorCode::InvalidPartNumber,
                "send the part number in x-part-number or ?part=",
            )
        })?;
    raw.trim()
        .parse()
        .map_err(|_| ApiError::with_message(ErrorCode::InvalidPartNumber, "part number must be a positive integer"))
}

/// Whether a session still takes parts: asked after a forward failed, because only the
/// session's record (D1) can tell a closed session from a store failure. `store_failed` says the
/// store failed, so the answerer counts it as the store's failure (never the edge's).
pub trait SessionGate {
    async fn is_active(&self, claims: &token::UploadClaims, store_failed: bool) -> bool;
}

/// What a forwarder needs: the key upload tokens are verified with, the store, and whether the
/// store (the default) or the worker checks each part's SHA-256.
pub struct Forwarder<'a> {
    /// Names whoever forwards (an edge's id, or `origin-direct` for the coordinator).
    pub edge_id: &'a str,
    pub token_secret: &'a SecretValue,
    pub s3: &'a S3,
    pub verify_mode: VerifyMode,
}

/// Verifies and forwards one chunk to S3 `UploadPart`; returns what to record and what to answer.
pub async fn forward_chunk(
    req: Request,
    forwarder: &Forwarder<'_>,
    gate: &impl SessionGate,
) -> ApiResult<(PartRecord, ChunkReceipt)> {
    let edge_id = forwarder.edge_id;
    // 1. Capability: the token says which session, object, upload and plan this is.
    let token = bearer_token(&req).ok_or_else(|| ApiError::new(ErrorCode::MissingToken))?;
    let claims: token::UploadClaims = token::verify(&token, forwarder.token_secret.expose().as_bytes(), now_secs())?;
    let plan = claims.plan;

    // 2. Part number, declared length and declared hash, all checked before any byte moves.
    let number = part_number(&req)?;
    let expected_len = plan.part_len(number).ok_or_else(|| part_out_of_range(&plan, number))?;
    let declared_len = header(&req, "content-length")
        .ok_or_else(|| ApiError::new(ErrorCode::LengthRequired))?
        .trim()
        .parse::<u64>()
        .map_err(|_| ApiError::new(ErrorCode::LengthRequired))?;
    check_part(&plan, number, declared_len)?;
    let digest = Sha256Digest::parse(&header(&req, CHUNK_SHA256_HEADER).ok_or_else(|| {
        ApiError::with_message(
            ErrorCode::InvalidHash,
            format!("send the chunk's SHA-256 in {CHUNK_SHA256_HEADER}"),
        )
    })?)?;

    // 3. Forward the raw stream to S3. In "store" mode the signature binds the declared hash
    //    and S3 checks it; in "worker" mode the edge hashes a tee of the stream itself.
    let s3 = forwarder.s3;
    let verify_in_worker = forwarder.verify_mode == VerifyMode::Worker;
    let payload = if verify_in_worker {
        PartPayload::Unsigned(digest)
    } else {
        PartPayload::Declared(digest)
    };
    let put = s3.upload_part(
        &claims.key,
        &claims.uid,
        number,
        expected_len,
        payload,
        now_system_time(),
    )?;
    let (body, hashing, pipe) = match req.inner().body() {
        Some(stream) if verify_in_worker => {
            let (forward, digest_stream) = tee_through_digest(stream, expected_len)?;
            (Some(forward), Some(digest_stream), None)
        }
        Some(stream) => {
            let (forward, pipe) = fixed_length(stream, expected_len)?;
            (Some(forward), None, Some(pipe))
        }
        None => (None, None, None),
    };
    let in_flight = InFlight::start();
    let started = now_millis();
    let (failure, unread) = match send_signed(&put, body).await {
        Ok(resp) if resp.status_code() == 200 => (Ok(resp), None),
        Ok(resp) => {
            let (status, code) = s3_error(resp, "UploadPart").await;
            // In AWS's terms (s3s-fs says AccessDenied for a gone upload; S3_STORE).
            let code = s3.config.store.upload_refusal(status, code);
            let (_, unread) = settle_body(pipe).await;
            (Err(ForwardFailure::Answered { status, code }), unread)
        }
        Err(_) => {
            let (body_intact, unread) = settle_body(pipe).await;
            let store_reachable = store_reachable(s3).await;
            (
                Err(ForwardFailure::NoAnswer {
                    body_intact,
                    store_reachable,
                }),
                unread,
            )
        }
    };
    let mut resp = match failure {
        Ok(resp) => resp,
        Err(failure) => {
            let active = !failure.needs_session_check() || gate.is_active(&claims, failure.is_store_failure()).await;
            let answer = failure.answer(active);
            console_error!(
                "UploadPart of part {number} failed: {failure:?}; session active: {active}; answered {answer:?}"
            );
            // Read what the client is still sending before answering, so it hears the answer
            // instead of a reset (an early answer to an unread body).
            if let Some(source) = unread {
                drain(source).await;
            }
            return Err(ApiError::new(answer));
        }
    };
    if let Some(digest_stream) = hashing {
        let computed = digest_stream.digest().await.map_err(internal)?.to_vec();
        if computed.as_slice() != digest.0.as_slice() {
            // The part sits in S3 unrecorded; a correct re-upload of the same number replaces it.
            return Err(ApiError::new(ErrorCode::ChunkHashMismatch));
        }
    }
    let etag = resp
        .headers()
        .get("etag")
        .ok()
        .flatten()
        .ok_or_else(|| storage_failure("UploadPart answered without an ETag"))?;
    // Drain the (empty) body so the connection can be reused.
    let _ = resp.text().await;

    let record = PartRecord {
        session_id: claims.sid,
        account_id: claims.acc,
        part_number: number,
        size: expected_len,
        sha256: digest.to_hex(),
        etag: etag.clone(),
        edge_id: edge_id.to_owned(),
        duration_ms: (now_millis() - started) as f64,
        inflight: InFlight::now(),
    };
    drop(in_flight);
    let receipt = ChunkReceipt {
        part_number: number,
        size: expected_len,
        sha256: digest.to_prefixed(),
        etag,
        edge_id: edge_id.to_owned(),
    };
    Ok((record, receipt))
}

/// The client's body on its way to the store, and what tells afterwards whether it was whole.
struct Piped {
    /// The pipe's promise: rejected when either side failed.
    done: wasm_bindgen_futures::JsFuture,
    /// The client's stream. The pipe runs with `preventCancel`, so a failure of the store's
    /// side leaves it readable: only the client's own failure errors it.
    source: web_sys::ReadableStream,
}

/// Passes the request stream through a `FixedLengthStream` (so the forward keeps its
/// Content-Length), without ever cancelling the client's stream.
fn fixed_length(stream: web_sys::ReadableStream, len: u64) -> ApiResult<(JsValue, Piped)> {
    let fixed = worker::worker_sys::FixedLengthStream::new_big_int(js_sys::BigInt::from(len))
        .map_err(|e| internal(format!("{e:?}")))?;
    let transform: &web_sys::TransformStream = fixed.unchecked_ref();
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &"preventCancel".into(), &JsValue::TRUE).map_err(|e| internal(format!("{e:?}")))?;
    let done = call(&stream, "pipeTo", &[transform.writable().into(), options.into()])
        .map_err(|e| internal(format!("pipeTo: {e:?}")))?;
    Ok((
        transform.readable().into(),
        Piped {
            done: wasm_bindgen_futures::JsFuture::from(js_sys::Promise::from(done)),
            source: stream,
        },
    ))
}

/// Calls a JavaScript method by name.
fn call(target: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let function: js_sys::Function = js_sys::Reflect::get(target, &method.into())?.dyn_into()?;
    function.apply(target, &args.iter().collect::<js_sys::Array>())
}

/// Waits for a promise at most `ms`; None when it did not settle in time.
async fn settled(promise: wasm_bindgen_futures::JsFuture, ms: u64) -> Option<Result<JsValue, JsValue>> {
    let wait = worker::Delay::from(std::time::Duration::from_millis(ms));
    futures::pin_mut!(promise);
    match futures::future::select(promise, wait).await {
        futures::future::Either::Left((result, _)) => Some(result),
        futures::future::Either::Right(_) => None,
    }
}

/// After a failed forward: was the client's body whole, and is part of it still unread? The
/// pipe still flowing or done means whole. A failed pipe is ambiguous (the store's side may have
/// failed it), so the client's stream decides: errored, or ended short of its length, means the
/// client's body broke; still readable means the store went away (and the rest is unread).
async fn settle_body(piped: Option<Piped>) -> (bool, Option<web_sys::ReadableStream>) {
    let Some(piped) = piped else { return (true, None) };
    match settled(piped.done, 1000).await {
        None | Some(Ok(_)) => (true, None),
        Some(Err(_)) => {
            let Ok(reader) = call(&piped.source, "getReader", &[]) else {
                return (true, None);
            };
            let Ok(read) = call(&reader, "read", &[]) else {
                return (true, None);
            };
            let result = settled(wasm_bindgen_futures::JsFuture::from(js_sys::Promise::from(read)), 500).await;
            let _ = call(&reader, "releaseLock", &[]);
            match result {
                Some(Err(_)) => (false, None),
                Some(Ok(chunk)) if js_sys::Reflect::get(&chunk, &"done".into()).is_ok_and(|d| d.is_truthy()) => {
                    (false, None)
                }
                Some(Ok(_)) | None => (true, Some(piped.source)),
            }
        }
    }
}

/// Reads the rest of the client's body into nothing (in JavaScript, never into WASM memory),
/// for at most 30 seconds.
async fn drain(source: web_sys::ReadableStream) {
    let Ok(sink) = web_sys::WritableStream::new() else {
        return;
    };
    if let Ok(done) = call(&source, "pipeTo", &[sink.into()]) {
        let _ = settled(
            wasm_bindgen_futures::JsFuture::from(js_sys::Promise::from(done)),
            30_000,
        )
        .await;
    }
}

/// `GET /api/edge/store-check` for the holder of an upload token: `200 {"store":"up"}` when the
/// store behind this forwarder answers a HeadBucket within two seconds, else `503
/// store_unavailable`. A client asks before sending a part again after a store failure, so an
/// outage costs it these small requests instead of part bodies.
pub async fn store_check(req: &Request, forwarder: &Forwarder<'_>) -> ApiResult<worker::Response> {
    let token = bearer_token(req).ok_or_else(|| ApiError::new(ErrorCode::MissingToken))?;
    let _claims: token::UploadClaims = token::verify(&token, forwarder.token_secret.expose().as_bytes(), now_secs())?;
    if store_reachable(forwarder.s3).await {
        json_response(200, &serde_json::json!({ "store": "up" })).map_err(internal)
    } else {
        Err(ApiError::new(ErrorCode::StoreUnavailable))
    }
}

/// Whether the store answers a HeadBucket within two seconds.
async fn store_reachable(s3: &S3) -> bool {
    let Ok(head) = s3.head_bucket(now_system_time()) else {
        return false;
    };
    let probe = send_signed(&head, None);
    let wait = worker::Delay::from(std::time::Duration::from_millis(2000));
    futures::pin_mut!(probe);
    match futures::future::select(probe, wait).await {
        futures::future::Either::Left((Ok(resp), _)) => resp.status_code() < 500,
        _ => false,
    }
}

/// Splits the request stream: one branch is hashed by a `DigestStream`, the other is wrapped
/// in a `FixedLengthStream` so the forward keeps its Content-Length. Neither is buffered.
fn tee_through_digest(stream: web_sys::ReadableStream, len: u64) -> ApiResult<(JsValue, DigestStream)> {
    let branches = stream.tee();
    let to_hash: web_sys::ReadableStream = branches.get(0).unchecked_into();
    let to_forward: web_sys::ReadableStream = branches.get(1).unchecked_into();
    let digest_stream = DigestStream::new(DigestStreamAlgorithm::Sha256);
    // The pipe's promise settles with the digest; errors surface through `digest()`.
    let _ = to_hash.pipe_to(digest_stream.raw());
    let fixed = worker::worker_sys::FixedLengthStream::new_big_int(js_sys::BigInt::from(len))
        .map_err(|e| internal(format!("{e:?}")))?;
    let transform: &web_sys::TransformStream = fixed.unchecked_ref();
    let _ = to_forward.pipe_to(&transform.writable());
    Ok((transform.readable().into(), digest_stream))
}
