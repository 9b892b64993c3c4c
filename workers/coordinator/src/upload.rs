//! The upload path: sessions and their S3 multipart uploads (optimal-edges), part records
//! reported by edges, finalization. Deduplication answers before anything is started.

use crate::{db, file_url, files, request_origin};
use jetty_shared::analytics;
use jetty_shared::auth::{new_id, verify_internal_signature};
use jetty_shared::hash::Sha256Digest;
use jetty_shared::plan::{PartPlan, DEFAULT_BODY_LIMIT};
use jetty_shared::protocol::*;
use jetty_shared::quota::check_storage;
use jetty_shared::scoring::{effective_priority, estimated_seconds, threads_for};
use jetty_shared::session::{
    check_part, completion, finalize_wait, FinalizeWait, RecordedPart, FINALIZE_CLAIM_MS, FINALIZE_POLL_MS,
    FINALIZE_WAIT_MS,
};
use jetty_shared::token::{self, UploadClaims};
use jetty_shared::{s3, ApiError, ErrorCode};
use jetty_worker_runtime::*;
use std::time::Duration;
use worker::{D1Database, Delay, Env, Request, Response};

pub const JSON_LIMIT: usize = 64 * 1024;
const DEFAULT_THREADS: u32 = 16;
/// USD for moving `bytes` at `PRICE_PER_GB` (the seeds' $0.10/GB over-quota price by default).
pub fn transfer_cost(env: &Env, bytes: u64) -> f64 {
    analytics::transfer_cost(bytes, price_per_gb(env))
}

/// The configured `PRICE_PER_GB`, or the default when unset or not a price.
pub fn price_per_gb(env: &Env) -> f64 {
    analytics::price_or_default(&var_or(env, "PRICE_PER_GB", ""))
}

pub async fn optimal_edges(
    req: &mut Request,
    env: &Env,
    db: &D1Database,
    account: &db::Account,
) -> ApiResult<Response> {
    let body: OptimalEdgesRequest = read_json(req, JSON_LIMIT).await?;
    let file_hash = Sha256Digest::parse(&body.file_hash)?;
    if let Some(name) = &body.file_name {
        if name.len() > 1024 || name.chars().any(char::is_control) {
            return Err(ApiError::with_message(
                ErrorCode::InvalidRequest,
                "fileName must be at most 1024 printable characters",
            ));
        }
    }
    let content_type =
        jetty_shared::download::content_type_for(body.content_type.as_deref(), body.file_name.as_deref());
    if content_type.len() > 255 || !content_type.is_ascii() || content_type.chars().any(|c| c.is_ascii_control()) {
        return Err(ApiError::with_message(
            ErrorCode::InvalidRequest,
            "contentType must be a printable ASCII media type",
        ));
    }
    let threads = body.threads.unwrap_or(DEFAULT_THREADS).clamp(1, 64);
    let body_limit = var_u64(env, "MAX_PART_BYTES", DEFAULT_BODY_LIMIT)?;
    let preferred = body
        .chunk_size
        .unwrap_or_else(|| PartPlan::preferred_part_size(body.file_size, threads));
    let plan = PartPlan::new(body.file_size, preferred, body_limit)?;

    // Exact-content dedup within the account: a new file record on the existing object.
    let existing = db::file_by_content(db, &account.id, &file_hash.to_hex(), body.file_size).await?;
    let clone = match &existing {
        Some(source) => files::clone_file(db, &account.id, body.file_name.as_deref(), source).await?,
        None => None,
    };
    if let Some(clone) = clone {
        let answer = OptimalEdgesResponse {
            strategy: None,
            edges: Vec::new(),
            duplicate: Some(Duplicate {
                url: file_url(&request_origin(req, env), &clone),
                file_id: clone,
                saved_bytes: body.file_size,
                saved_cost: transfer_cost(env, body.file_size),
                message: "File already exists. Zero-cost clone available.".to_owned(),
            }),
            upload: None,
        };
        return json_response(200, &answer).map_err(internal);
    }

    let tier = account.tier();
    if !tier.jetty_speed_enabled {
        return Err(ApiError::new(ErrorCode::JettySpeedNotEnabled));
    }
    if body.budget.is_some_and(|b| !b.is_finite() || b < 0.0) {
        return Err(ApiError::with_message(
            ErrorCode::InvalidRequest,
            "budget must be a non-negative amount",
        ));
    }
    let location = crate::routing::client_location(req, body.user_location)?;
    let priority = effective_priority(
        body.priority.unwrap_or_default(),
        body.budget,
        transfer_cost(env, body.file_size),
    );
    let edges = crate::routing::upload_paths(req, env, db, location, priority).await?;
    if edges.is_empty() {
        return Err(ApiError::new(ErrorCode::NoEdges));
    }

    let now = now_millis();
    let session_id = new_id("ses", &random_bytes()?);
    let file_id = new_id("fil", &random_bytes()?);
    let object_key = format!("{}files/{file_id}", account.prefix());
    let max_ttl = var_u64(env, "SESSION_TTL_SECS", 24 * 3600)?;
    let ttl_secs = body.expires_in.map_or(max_ttl, |t| t.clamp(1, max_ttl));
    let expires_at_ms = now + ttl_secs * 1000;
    let edge_ids: Vec<&str> = edges.iter().map(|e| e.id.as_str()).collect();
    let edges_json = serde_json::to_string(&edge_ids).map_err(internal)?;
    let shares: Vec<(f64, f64)> = edges
        .iter()
        .map(|e| (e.weight, f64::from(e.bandwidth.max(1))))
        .collect();
    let estimated_time = estimated_seconds(body.file_size, &shares);
    let estimated_cost = transfer_cost(env, body.file_size);
    let session = db::NewSession {
        id: &session_id,
        account_id: &account.id,
        file_id: &file_id,
        file_name: body.file_name.as_deref(),
        content_type: &content_type,
        file_hash_hex: &file_hash.to_hex(),
        plan,
        threads,
        object_key: &object_key,
        s3_upload_id: "",
        edges_used_json: &edges_json,
        created_at: now,
        expires_at: expires_at_ms,
        estimated_seconds: Some(estimated_time),
        estimated_cost,
        price_per_gb: price_per_gb(env),
    };
    // The session is the quota reservation; it is taken before any call to the store.
    if !db::insert_session_within_quota(db, &session, tier.storage_quota_bytes).await? {
        check_storage(&tier, db::storage_use(db, &account.id, now).await?, body.file_size)?;
        return Err(ApiError::new(ErrorCode::StorageQuotaExceeded));
    }
    // An empty file has no parts: no multipart upload; finalize writes the empty object.
    let upload_id = if plan.part_count == 0 {
        String::new()
    } else {
        match start_multipart(env, &object_key, &content_type).await {
            Ok(id) => {
                if let Err(e) = db::set_upload_id(db, &session_id, &id).await {
                    // The sweeper could not abort an upload it does not know: abort it now.
                    if let Ok(abort) = s3_from_env(env)?.abort_multipart_upload(&object_key, &id, now_system_time()) {
                        let _ = send_signed(&abort, None).await;
                    }
                    let _ = db::close_session(db, &session_id, "aborted", "storage_error", now_millis()).await;
                    return Err(e);
                }
                id
            }
            Err(e) => {
                // Release the reservation; nothing was created in the store.
                let _ = db::close_session(db, &session_id, "aborted", "storage_error", now_millis()).await;
                return Err(e);
            }
        }
    };

    let claims = UploadClaims {
        sid: session_id.clone(),
        acc: account.id.clone(),
        key: object_key,
        uid: upload_id,
        plan,
        exp: expires_at_ms.div_ceil(1000),
    };
    let upload_token = token::sign(&claims, secret(env, "TOKEN_SECRET")?.as_bytes());
    let strategy = Strategy {
        chunk_size: plan.part_size,
        // The seed's min(32, edges × 6), unless the client said how many it runs.
        threads: if body.threads.is_some() {
            threads
        } else {
            threads_for(edges.len())
        },
        compression: "none".to_owned(),
        estimated_time,
        estimated_cost,
    };
    let answer = OptimalEdgesResponse {
        strategy: Some(strategy),
        edges,
        duplicate: None,
        upload: Some(UploadTicket {
            file_id,
            session_id,
            part_size: plan.part_size,
            part_count: plan.part_count,
            upload_token,
            expires_at: expires_at_ms.div_ceil(1000),
        }),
    };
    json_response(200, &answer).map_err(internal)
}

pub async fn start_multipart(env: &Env, object_key: &str, content_type: &str) -> ApiResult<String> {
    let s3 = s3_from_env(env)?;
    let create = s3.create_multipart_upload(object_key, content_type, now_system_time())?;
    let mut resp = send_signed(&create, None).await?;
    if resp.status_code() != 200 {
        let (status, code) = s3_error(resp, "CreateMultipartUpload").await;
        return Err(storage_failure(format!("CreateMultipartUpload: {status} {code}")));
    }
    let xml = resp.text().await.map_err(storage_failure)?;
    s3::parse_upload_id(&xml).ok_or_else(|| storage_failure("CreateMultipartUpload answered without an UploadId"))
}

/// Edge → coordinator: S3 accepted a part. The body is HMAC-signed with INTERNAL_SECRET.
pub async fn record_part(req: &mut Request, env: &Env, db: &D1Database) -> ApiResult<Response> {
    let signature = header(req, INTERNAL_SIGNATURE_HEADER).ok_or_else(|| ApiError::new(ErrorCode::InvalidSignature))?;
    let body = read_body(req, JSON_LIMIT).await?;
    if !verify_internal_signature(secret(env, "INTERNAL_SECRET")?.as_bytes(), &body, &signature) {
        return Err(ApiError::new(ErrorCode::InvalidSignature));
    }
    let record: PartRecord = parse_json(&body)?;
    store_part_record(db, record).await?;
    json_response(200, &serde_json::json!({"ok": true})).map_err(internal)
}

/// Records a part a forwarder (an edge, or the origin-direct route) got S3 to accept.
async fn store_part_record(db: &D1Database, record: PartRecord) -> ApiResult<()> {
    let session = db::session_by_id(db, &record.session_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    if session.account_id != record.account_id {
        return Err(ApiError::new(ErrorCode::NotFound));
    }
    if session.status != "active" {
        return Err(ApiError::new(ErrorCode::SessionNotActive));
    }
    check_part(&session.plan(), record.part_number, record.size)?;
    Sha256Digest::parse(&record.sha256)?;
    let part = RecordedPart {
        part_number: record.part_number,
        size: record.size,
        sha256: record.sha256,
        etag: record.etag,
        edge_id: record.edge_id,
    };
    db::upsert_part(db, &session.id, &part, now_millis()).await?;
    crate::routing::record_part_metrics(db, &part.edge_id, part.size, record.duration_ms, record.inflight).await;
    Ok(())
}

/// The origin-direct path: a chunk sent to the coordinator itself is forwarded to the store the
/// same way an edge would, and recorded directly. Uploads keep working with every edge down.
pub async fn origin_direct_chunk(req: Request, env: &Env, db: &D1Database) -> ApiResult<Response> {
    let (record, receipt) = jetty_worker_runtime::chunk::forward_chunk(req, env, ORIGIN_DIRECT_ID).await?;
    store_part_record(db, record).await?;
    json_response(200, &receipt).map_err(internal)
}

pub const ORIGIN_DIRECT_ID: &str = "origin-direct";

pub async fn finalize_upload(req: &mut Request, env: &Env, db: &D1Database, account: &str) -> ApiResult<Response> {
    let body: FinalizeRequest = read_json(req, JSON_LIMIT).await?;
    let origin = request_origin(req, env);
    let session = db::session_by_file(db, account, &body.file_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    if let Some(total) = body.total_chunks {
        if total != session.part_count {
            return Err(ApiError::with_message(
                ErrorCode::InvalidRequest,
                format!(
                    "totalChunks is {total} but the session has {} parts",
                    session.part_count
                ),
            ));
        }
    }
    finalize_session(env, db, account, &session, &origin).await
}

/// Completes a session's object (once, whatever the number of concurrent callers) and answers
/// with its file. Only the holder of the session's finalize claim talks to S3; the others wait
/// for its result, and take over if its claim lapses.
pub async fn finalize_session(
    env: &Env,
    db: &D1Database,
    account: &str,
    session: &db::SessionRow,
    origin: &str,
) -> ApiResult<Response> {
    if session.status == "completed" {
        return finalized_file(db, account, &session.file_id, origin).await;
    }
    if !session.is_open(now_millis()) {
        return Err(ApiError::new(ErrorCode::SessionNotActive));
    }
    // Missing parts are refused before anyone claims anything.
    completion(&session.plan(), &db::parts(db, &session.id).await?)?;
    let deadline = now_millis() + FINALIZE_WAIT_MS;
    loop {
        let now = now_millis();
        let until = now + FINALIZE_CLAIM_MS;
        if db::claim_finalize(db, &session.id, now, until).await? {
            let result = complete_in_store(env, db, account, session, origin).await;
            if result.is_err() {
                // Best effort: a claim that is not given back lapses after FINALIZE_CLAIM_MS.
                let _ = db::release_finalize(db, &session.id, until).await;
            }
            return result;
        }
        loop {
            let current = db::session_by_id(db, &session.id)
                .await?
                .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
            match finalize_wait(
                &current.status,
                current.expires_at,
                current.finalize_claimed_until,
                now_millis(),
                deadline,
            ) {
                FinalizeWait::Completed => return finalized_file(db, account, &session.file_id, origin).await,
                FinalizeWait::NotActive => return Err(ApiError::new(ErrorCode::SessionNotActive)),
                FinalizeWait::GiveUp => return Err(ApiError::new(ErrorCode::FinalizeInProgress)),
                FinalizeWait::Claim => break,
                FinalizeWait::Poll => Delay::from(Duration::from_millis(FINALIZE_POLL_MS)).await,
            }
        }
    }
}

/// The claim holder's part: CompleteMultipartUpload (or the empty object), then the file row.
async fn complete_in_store(
    env: &Env,
    db: &D1Database,
    account: &str,
    session: &db::SessionRow,
    origin: &str,
) -> ApiResult<Response> {
    // Read the parts again under the claim: a re-sent part may have replaced an ETag.
    let parts = completion(&session.plan(), &db::parts(db, &session.id).await?)?;
    let s3 = s3_from_env(env)?;
    let request = if parts.is_empty() {
        s3.put_empty_object(&session.object_key, &session.content_type, now_system_time())?
    } else {
        s3.complete_multipart_upload(&session.object_key, &session.s3_upload_id, &parts, now_system_time())?
    };
    let mut resp = send_signed(&request, None).await?;
    let status = resp.status_code();
    let text = resp.text().await.map_err(storage_failure)?;
    // S3 can report a failed Complete inside a 200 response, so look for an error document
    // whatever the status.
    let refusal = s3::parse_error(&text);
    if status != 200 || refusal.is_some() {
        let (code, message) = refusal.map(|e| (e.code, e.message)).unwrap_or_default();
        // An earlier finalize completed it in S3 but failed to record it (its claim then
        // lapsed): the object is there with its planned size, so record it now instead of
        // losing the upload.
        if code == "NoSuchUpload" {
            if db::file_for_account(db, account, &session.file_id).await?.is_none()
                && object_size(&s3, &session.object_key).await? == Some(session.file_size)
            {
                db::complete_session(db, session, now_millis(), 0).await?;
            }
            if db::file_for_account(db, account, &session.file_id).await?.is_some() {
                return finalized_file(db, account, &session.file_id, origin).await;
            }
        }
        return Err(storage_failure(format!(
            "CompleteMultipartUpload: {status} {code}: {message}"
        )));
    }
    db::complete_session(db, session, now_millis(), 0).await?;
    finalized_file(db, account, &session.file_id, origin).await
}

/// The stored size of an object, None if it does not exist.
async fn object_size(s3: &jetty_shared::s3::S3, key: &str) -> ApiResult<Option<u64>> {
    let resp = send_signed(&s3.head_object(key, now_system_time())?, None).await?;
    if resp.status_code() != 200 {
        return Ok(None);
    }
    Ok(resp
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse().ok()))
}

pub async fn finalized_file(db: &D1Database, account: &str, file_id: &str, origin: &str) -> ApiResult<Response> {
    let file = db::file_for_account(db, account, file_id)
        .await?
        .ok_or_else(|| internal("completed session without a file row"))?;
    let answer = FinalizeResponse {
        file: FileInfo {
            url: file_url(origin, &file.id),
            id: file.id,
            size: file.size,
            sha256: format!("sha256:{}", file.sha256),
            name: file.name,
        },
    };
    json_response(200, &answer).map_err(internal)
}
