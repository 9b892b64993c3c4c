//! Sessions that survive anything: state derived from D1 records, resume tickets for any
//! device, client tracking events, the L1/L2 KV caches, abort and the expiry sweeper.
//!
//! D1 holds the truth. KV only caches what clients said (their state view, progress, chunk
//! metadata); a stale or lost KV entry can never lose or corrupt a part.

use crate::db;
use crate::upload::{finalize_session, JSON_LIMIT};
use jetty_shared::hash::Sha256Digest;
use jetty_shared::protocol::UploadTicket;
use jetty_shared::session::part_out_of_range;
use jetty_shared::state::*;
use jetty_shared::token::{self, UploadClaims};
use jetty_shared::{ApiError, ErrorCode};
use jetty_worker_runtime::*;
use worker::{console_log, D1Database, Env, Request, Response};

/// TTL of L2 chunk metadata (the seed's one hour).
const CHUNK_TTL_SECS: u64 = 3600;
/// Largest client state view kept in KV.
const SAVED_STATE_LIMIT: usize = 16 * 1024;
/// Sessions the sweeper closes per run (the next run takes the rest).
const SWEEP_BATCH: u32 = 100;

async fn own_session(db: &D1Database, account: &str, file_id: &str) -> ApiResult<db::SessionRow> {
    db::session_by_file(db, account, file_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))
}

pub async fn state_of(db: &D1Database, session: &db::SessionRow) -> ApiResult<UploadState> {
    let tallies = db::part_tallies(db, &session.id).await?;
    let facts = SessionFacts {
        file_id: &session.file_id,
        session_id: &session.id,
        status: &session.status,
        plan: session.plan(),
        edges: session.edge_ids(),
        file_hash_hex: &session.file_hash,
        expires_at_secs: session.expires_at.div_ceil(1000),
    };
    Ok(derive_state(facts, &tallies))
}

/// `GET /api/jetty/get-state/:userId/:fileId`. `userId` must be the caller's account id (or
/// `me`); anything else is answered as not found, so ids of other accounts reveal nothing.
pub async fn get_state(db: &D1Database, account: &str, user_id: &str, file_id: &str) -> ApiResult<Response> {
    if user_id != "me" && user_id != account {
        return Err(ApiError::new(ErrorCode::NotFound));
    }
    let session = own_session(db, account, file_id).await?;
    json_response(200, &serde_json::json!({ "state": state_of(db, &session).await? })).map_err(internal)
}

/// `POST /api/jetty/save-state`: keeps the client's own view as an L1 cache entry until the
/// session expires. It is never used to decide what is uploaded.
pub async fn save_state(req: &mut Request, env: &Env, db: &D1Database, account: &str) -> ApiResult<Response> {
    let body: SaveStateRequest = read_json(req, JSON_LIMIT).await?;
    let session = own_session(db, account, &body.file_id).await?;
    let view = serde_json::to_string(&body.state).map_err(internal)?;
    if view.len() > SAVED_STATE_LIMIT {
        return Err(ApiError::with_message(
            ErrorCode::PayloadTooLarge,
            "state is limited to 16 KiB",
        ));
    }
    let ttl = (session.expires_at.saturating_sub(now_millis()) / 1000).max(60);
    kv_put(env, &format!("state:{account}:{}", session.file_id), &view, ttl).await;
    let answer = serde_json::json!({ "ok": true, "expiresAt": iso8601(session.expires_at.div_ceil(1000)) });
    json_response(200, &answer).map_err(internal)
}

/// `POST /api/jetty/resume`: a fresh upload ticket for an open session, the edges to use now,
/// and the recorded state, so any device holding the file can finish the upload.
pub async fn resume(req: &mut Request, env: &Env, db: &D1Database, account: &str) -> ApiResult<Response> {
    let body: ResumeRequest = read_json(req, JSON_LIMIT).await?;
    let session = own_session(db, account, &body.file_id).await?;
    if !session.is_open(now_millis()) {
        return Err(ApiError::new(ErrorCode::SessionNotActive));
    }
    let location = crate::routing::client_location(req, None)?;
    let edges = crate::routing::upload_paths(req, env, db, location, jetty_shared::protocol::Priority::Speed).await?;
    if edges.is_empty() {
        return Err(ApiError::new(ErrorCode::NoEdges));
    }
    let plan = session.plan();
    let claims = UploadClaims {
        sid: session.id.clone(),
        acc: account.to_owned(),
        key: session.object_key.clone(),
        uid: session.s3_upload_id.clone(),
        plan,
        exp: session.expires_at.div_ceil(1000),
    };
    let upload = UploadTicket {
        file_id: session.file_id.clone(),
        session_id: session.id.clone(),
        part_size: plan.part_size,
        part_count: plan.part_count,
        upload_token: token::sign(&claims, secret(env, "TOKEN_SECRET")?.as_bytes()),
        expires_at: claims.exp,
    };
    let state = state_of(db, &session).await?;
    json_response(200, &ResumeResponse { upload, edges, state }).map_err(internal)
}

/// Aborts the S3 multipart upload and closes the session. Idempotent for closed sessions;
/// a completed file cannot be aborted.
pub async fn abort(env: &Env, db: &D1Database, account: &str, file_id: &str, reason: &str) -> ApiResult<Response> {
    let session = own_session(db, account, file_id).await?;
    if session.status == "completed" {
        return Err(ApiError::with_message(
            ErrorCode::SessionNotActive,
            "the upload is already complete",
        ));
    }
    if session.status == "active" {
        close_session(env, db, &session, "aborted", reason).await?;
    }
    let session = own_session(db, account, file_id).await?;
    json_response(
        200,
        &serde_json::json!({ "ok": true, "fileId": file_id, "status": session.status }),
    )
    .map_err(internal)
}

/// Aborts the multipart upload first, then marks the session; a store failure leaves the
/// session active so the sweeper retries it.
async fn close_session(
    env: &Env,
    db: &D1Database,
    session: &db::SessionRow,
    status: &str,
    reason: &str,
) -> ApiResult<()> {
    if !session.s3_upload_id.is_empty() {
        let s3 = s3_from_env(env)?;
        let request = s3.abort_multipart_upload(&session.object_key, &session.s3_upload_id, now_system_time())?;
        let resp = send_signed(&request, None).await?;
        let status_code = resp.status_code();
        if !(200..300).contains(&status_code) {
            let (code_status, code) = s3_error(resp, "AbortMultipartUpload").await;
            if code != "NoSuchUpload" {
                return Err(storage_failure(format!("AbortMultipartUpload: {code_status} {code}")));
            }
        }
    }
    db::close_session(db, &session.id, status, reason, now_millis()).await?;
    Ok(())
}

/// `POST /api/jetty/track-upload` with the seed's actions.
pub async fn track_upload(
    req: &mut Request,
    env: &Env,
    db: &D1Database,
    account: &str,
    origin: &str,
) -> ApiResult<Response> {
    let body: TrackUploadRequest = read_json(req, JSON_LIMIT).await?;
    let session = own_session(db, account, &body.file_id).await?;
    match body.action {
        TrackAction::Start => {
            db::mark_started(db, &session.id, now_millis()).await?;
        }
        TrackAction::Progress => {
            if let Some(bytes) = body.bytes_uploaded {
                let ttl = (session.expires_at.saturating_sub(now_millis()) / 1000).max(60);
                kv_put(
                    env,
                    &format!("progress:{account}:{}", session.file_id),
                    &bytes.to_string(),
                    ttl,
                )
                .await;
            }
        }
        TrackAction::Complete => return finalize_session(env, db, account, &session, origin).await,
        TrackAction::Fail => {
            let reason = body.reason.as_deref().unwrap_or("client_fail");
            let reason: String = reason.chars().filter(|c| !c.is_control()).take(200).collect();
            return abort(env, db, account, &body.file_id, &reason).await;
        }
    }
    let session = own_session(db, account, &body.file_id).await?;
    json_response(
        200,
        &serde_json::json!({ "ok": true, "state": state_of(db, &session).await? }),
    )
    .map_err(internal)
}

/// `POST /api/jetty/cache-chunk`: L2 chunk metadata in KV with a TTL, for the caller's own
/// session only. A cache: D1's part records stay the truth.
pub async fn cache_chunk(req: &mut Request, env: &Env, db: &D1Database, account: &str) -> ApiResult<Response> {
    let body: CacheChunkRequest = read_json(req, JSON_LIMIT).await?;
    let session = own_session(db, account, &body.file_id).await?;
    let plan = session.plan();
    let expected = plan
        .part_len(body.chunk_index)
        .ok_or_else(|| part_out_of_range(&plan, body.chunk_index))?;
    let hash = Sha256Digest::parse(&body.hash)?;
    if body.edge_id.len() > 64 {
        return Err(ApiError::with_message(
            ErrorCode::InvalidRequest,
            "edgeId is at most 64 characters",
        ));
    }
    let entry = serde_json::json!({
        "hash": hash.to_prefixed(),
        "edgeId": body.edge_id,
        "size": body.size.unwrap_or(expected),
        "cachedAt": now_millis(),
    });
    let key = format!("chunk:{account}:{}:{}", session.file_id, body.chunk_index);
    kv_put(env, &key, &entry.to_string(), CHUNK_TTL_SECS).await;
    json_response(200, &serde_json::json!({ "ok": true, "ttl": CHUNK_TTL_SECS })).map_err(internal)
}

/// Cache writes are best effort: KV allows one write per second per key, and a lost cache
/// entry costs nothing but a lookup.
async fn kv_put(env: &Env, key: &str, value: &str, ttl_secs: u64) {
    let Ok(kv) = env.kv("KV") else { return };
    let result = match kv.put(key, value) {
        Ok(builder) => builder
            .expiration_ttl(ttl_secs.max(60))
            .execute()
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = result {
        console_log!("kv cache write skipped for {key}: {e}");
    }
}

/// The cron sweeper: aborts the multipart uploads of sessions past their expiry, so no
/// orphaned parts accumulate in the store. Returns how many sessions it closed.
pub async fn sweep(env: &Env) -> ApiResult<usize> {
    let db = env.d1("DB").map_err(internal)?;
    let mut closed = 0;
    for session in db::expired_sessions(&db, now_millis(), SWEEP_BATCH).await? {
        match close_session(env, &db, &session, "expired", "expired").await {
            Ok(()) => closed += 1,
            Err(e) => console_log!("sweeper: session {} stays for the next run: {}", session.id, e.message),
        }
    }
    Ok(closed)
}
