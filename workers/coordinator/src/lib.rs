//! JettySpeed coordinator: API keys, edge selection, upload sessions (D1), S3 multipart
//! lifecycle, part records reported by edges, finalization and downloads.

mod db;

use jetty_shared::auth::{api_key_hash, new_id, verify_internal_signature};
use jetty_shared::edges::select_edges;
use jetty_shared::hash::Sha256Digest;
use jetty_shared::plan::{PartPlan, DEFAULT_BODY_LIMIT};
use jetty_shared::protocol::*;
use jetty_shared::routes::CoordinatorEndpoint;
use jetty_shared::session::{check_part, completion, RecordedPart};
use jetty_shared::token::{self, UploadClaims};
use jetty_shared::{s3, ApiError, ErrorCode};
use jetty_worker_runtime::*;
use worker::{event, Context, D1Database, Env, Headers, Request, Response, ResponseBody};

const JSON_LIMIT: usize = 64 * 1024;
const MAX_EDGES: usize = 5;
const DEFAULT_THREADS: u32 = 16;
/// Assumed per-edge throughput for the time estimate until live metrics exist (bytes/s).
const ASSUMED_EDGE_THROUGHPUT: f64 = 50.0 * 1024.0 * 1024.0;
/// Transfer price used for estimates, USD per GB (the seeds' over-quota price).
const PRICE_PER_GB: f64 = 0.10;

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    respond(handle(req, &env).await)
}

async fn handle(mut req: Request, env: &Env) -> ApiResult<Response> {
    let endpoint = CoordinatorEndpoint::from_request(req.method().as_ref(), &req.path())?;
    let db = env.d1("DB").map_err(internal)?;
    let out = match endpoint {
        CoordinatorEndpoint::Health => Response::from_json(&serde_json::json!({"ok": true, "service": "coordinator"})),
        CoordinatorEndpoint::OptimalEdges => {
            let account = authenticate(&req, &db).await?;
            return optimal_edges(&mut req, env, &db, &account).await;
        }
        CoordinatorEndpoint::FinalizeUpload => {
            let account = authenticate(&req, &db).await?;
            return finalize_upload(&mut req, env, &db, &account).await;
        }
        CoordinatorEndpoint::GetFile { file_id } => {
            let account = authenticate(&req, &db).await?;
            return get_file(env, &db, &account, &file_id).await;
        }
        CoordinatorEndpoint::RecordPart => return record_part(&mut req, env, &db).await,
    };
    out.map_err(internal)
}

/// The account behind the request's bearer API key.
async fn authenticate(req: &Request, db: &D1Database) -> ApiResult<String> {
    let key = bearer_token(req).ok_or_else(|| ApiError::new(ErrorCode::MissingApiKey))?;
    db::account_for_key_hash(db, &api_key_hash(&key))
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidApiKey))
}

fn file_url(req_origin: &str, file_id: &str) -> String {
    format!("{req_origin}/api/files/{file_id}")
}

fn public_origin(env: &Env) -> String {
    var_or(env, "PUBLIC_URL", "").trim_end_matches('/').to_owned()
}

async fn optimal_edges(req: &mut Request, env: &Env, db: &D1Database, account: &str) -> ApiResult<Response> {
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
    let content_type = body
        .content_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".to_owned());
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

    let edges = select_edges(&db::active_edges(db).await?, body.user_location, MAX_EDGES);
    if edges.is_empty() {
        return Err(ApiError::new(ErrorCode::NoEdges));
    }

    let now = now_millis();
    let session_id = new_id("ses", &random_bytes()?);
    let file_id = new_id("fil", &random_bytes()?);
    let object_key = format!("accounts/{account}/files/{file_id}");
    // An empty file has no parts: no multipart upload; finalize writes the empty object.
    let upload_id = if plan.part_count == 0 {
        String::new()
    } else {
        start_multipart(env, &object_key, &content_type).await?
    };

    let ttl_secs = var_u64(env, "SESSION_TTL_SECS", 24 * 3600)?;
    let expires_at_ms = now + ttl_secs * 1000;
    let edge_ids: Vec<&str> = edges.iter().map(|e| e.id.as_str()).collect();
    let edges_json = serde_json::to_string(&edge_ids).map_err(internal)?;
    db::insert_session(
        db,
        &db::NewSession {
            id: &session_id,
            account_id: account,
            file_id: &file_id,
            file_name: body.file_name.as_deref(),
            content_type: &content_type,
            file_hash_hex: &file_hash.to_hex(),
            plan,
            threads,
            object_key: &object_key,
            s3_upload_id: &upload_id,
            edges_used_json: &edges_json,
            created_at: now,
            expires_at: expires_at_ms,
        },
    )
    .await?;

    let claims = UploadClaims {
        sid: session_id.clone(),
        acc: account.to_owned(),
        key: object_key,
        uid: upload_id,
        plan,
        exp: expires_at_ms / 1000,
    };
    let upload_token = token::sign(&claims, secret(env, "TOKEN_SECRET")?.as_bytes());
    let total_weighted_edges = edges.len() as f64;
    let strategy = Strategy {
        chunk_size: plan.part_size,
        threads,
        compression: "none".to_owned(),
        estimated_time: (body.file_size as f64 / (ASSUMED_EDGE_THROUGHPUT * total_weighted_edges) * 10.0).round()
            / 10.0,
        estimated_cost: (body.file_size as f64 / 1e9 * PRICE_PER_GB * 10_000.0).round() / 10_000.0,
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
            expires_at: expires_at_ms / 1000,
        }),
    };
    json_response(200, &answer).map_err(internal)
}

async fn start_multipart(env: &Env, object_key: &str, content_type: &str) -> ApiResult<String> {
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
async fn record_part(req: &mut Request, env: &Env, db: &D1Database) -> ApiResult<Response> {
    let signature = header(req, INTERNAL_SIGNATURE_HEADER).ok_or_else(|| ApiError::new(ErrorCode::InvalidSignature))?;
    let body = req
        .bytes()
        .await
        .map_err(|_| ApiError::new(ErrorCode::InvalidRequest))?;
    if !verify_internal_signature(secret(env, "INTERNAL_SECRET")?.as_bytes(), &body, &signature) {
        return Err(ApiError::new(ErrorCode::InvalidSignature));
    }
    let record: PartRecord = serde_json::from_slice(&body)
        .map_err(|e| ApiError::with_message(ErrorCode::InvalidJson, format!("invalid part record: {e}")))?;
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
    json_response(200, &serde_json::json!({"ok": true})).map_err(internal)
}

async fn finalize_upload(req: &mut Request, env: &Env, db: &D1Database, account: &str) -> ApiResult<Response> {
    let body: FinalizeRequest = read_json(req, JSON_LIMIT).await?;
    let origin = request_origin(req, env);
    let session = db::session_by_file(db, account, &body.file_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    if session.status == "completed" {
        return finalized_file(db, account, &session.file_id, &origin).await;
    }
    if session.status != "active" || now_millis() >= session.expires_at {
        return Err(ApiError::new(ErrorCode::SessionNotActive));
    }
    let plan = session.plan();
    if let Some(total) = body.total_chunks {
        if total != plan.part_count {
            return Err(ApiError::with_message(
                ErrorCode::InvalidRequest,
                format!("totalChunks is {total} but the session has {} parts", plan.part_count),
            ));
        }
    }
    let parts = completion(&plan, &db::parts(db, &session.id).await?)?;
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
        // A concurrent finalize completed it first: answer with the file it recorded.
        if code == "NoSuchUpload" && db::file_for_account(db, account, &session.file_id).await?.is_some() {
            return finalized_file(db, account, &session.file_id, &origin).await;
        }
        return Err(storage_failure(format!(
            "CompleteMultipartUpload: {status} {code}: {message}"
        )));
    }
    db::complete_session(db, &session, now_millis()).await?;
    finalized_file(db, account, &session.file_id, &origin).await
}

async fn finalized_file(db: &D1Database, account: &str, file_id: &str, origin: &str) -> ApiResult<Response> {
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

fn request_origin(req: &Request, env: &Env) -> String {
    let configured = public_origin(env);
    if !configured.is_empty() {
        return configured;
    }
    req.url().map(|u| u.origin().ascii_serialization()).unwrap_or_default()
}

/// Streams a finalized file from S3 to the caller (only the owning account may read it).
async fn get_file(env: &Env, db: &D1Database, account: &str, file_id: &str) -> ApiResult<Response> {
    let file = db::file_for_account(db, account, file_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    let s3 = s3_from_env(env)?;
    let get = s3.get_object(&file.object_key, None, now_system_time())?;
    let resp = send_signed(&get, None).await?;
    if resp.status_code() != 200 {
        let (status, code) = s3_error(resp, "GetObject").await;
        return Err(storage_failure(format!("GetObject: {status} {code}")));
    }
    let headers = Headers::new();
    let set = |k: &str, v: &str| headers.set(k, v).map_err(internal);
    set("content-type", &file.content_type)?;
    set("content-length", &file.size.to_string())?;
    set(FILE_SHA256_HEADER, &file.sha256)?;
    let body = match resp.body() {
        ResponseBody::Stream(stream) => ResponseBody::Stream(stream.clone()),
        other => other.clone(),
    };
    Ok(Response::builder().with_status(200).with_headers(headers).body(body))
}
