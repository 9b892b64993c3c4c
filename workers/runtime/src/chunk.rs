//! The chunk path shared by edges and the coordinator's origin-direct route: check the upload
//! token, the part number, the declared length and hash, then stream the raw body to S3
//! `UploadPart` without reading it (the signed payload hash makes the store verify it).

use crate::*;
use jetty_shared::config::{SecretValue, VerifyMode};
use jetty_shared::hash::Sha256Digest;
use jetty_shared::protocol::*;
use jetty_shared::s3::{PartPayload, S3};
use jetty_shared::session::{check_part, classify_store_refusal, part_out_of_range};
use jetty_shared::token;
use jetty_shared::{ApiError, ErrorCode};
use wasm_bindgen::{JsCast, JsValue};
use worker::crypto::{DigestStream, DigestStreamAlgorithm};
use worker::Request;

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
pub async fn forward_chunk(req: Request, forwarder: &Forwarder<'_>) -> ApiResult<(PartRecord, ChunkReceipt)> {
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
    let (body, hashing) = match req.inner().body() {
        Some(stream) if verify_in_worker => {
            let (forward, digest_stream) = tee_through_digest(stream, expected_len)?;
            (Some(forward), Some(digest_stream))
        }
        other => (other.map(JsValue::from), None),
    };
    let in_flight = InFlight::start();
    let started = now_millis();
    let mut resp = send_signed(&put, body).await?;
    if resp.status_code() != 200 {
        let (status, code) = s3_error(resp, "UploadPart").await;
        return Err(ApiError::new(classify_store_refusal(status, code.as_ref())));
    }
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
