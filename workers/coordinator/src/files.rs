//! Finalized files: downloads and the per-account exact-content dedup index.

use crate::upload::JSON_LIMIT;
use crate::{db, file_url};
use jetty_shared::auth::{api_key_hash, internal_signature, new_id, verify_internal_signature};
use jetty_shared::download::{not_modified, parse_range, DownloadClaims};
use jetty_shared::hash::Sha256Digest;
use jetty_shared::protocol::*;
use jetty_shared::quota::{billing_period, check_bandwidth};
use jetty_shared::state::{CheckDuplicateRequest, DuplicateMatch};
use jetty_shared::token;
use jetty_shared::{ApiError, ErrorCode};
use jetty_worker_runtime::*;
use worker::{D1Database, Env, Headers, Request, Response, ResponseBody};

/// Streams a finalized file from S3 to the caller (only the owning account may read it).
pub async fn get_file(env: &Env, db: &D1Database, account: &db::Account, file_id: &str) -> ApiResult<Response> {
    let file = db::file_for_account(db, &account.id, file_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    // Downloads count against the month's bandwidth quota, checked before any byte moves.
    count_bandwidth(db, account, file.size).await?;
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

/// A new file record of `account` on the object of `source` (zero bytes moved); its id, or
/// None if the source was deleted meanwhile.
pub async fn clone_file(
    db: &D1Database,
    account: &str,
    name: Option<&str>,
    source: &db::FileRow,
) -> ApiResult<Option<String>> {
    let file_id = new_id("fil", &random_bytes()?);
    let name = name.or(source.name.as_deref());
    let cloned = db::insert_clone(db, account, &file_id, name, source, now_millis()).await?;
    Ok(cloned.then_some(file_id))
}

/// `POST /api/jetty/check-duplicate`: exact SHA-256 + size match among the caller's files.
pub async fn check_duplicate(req: &mut Request, db: &D1Database, account: &str, origin: &str) -> ApiResult<Response> {
    let body: CheckDuplicateRequest = read_json(req, JSON_LIMIT).await?;
    let hash = Sha256Digest::parse(&body.file_hash)?;
    let found = db::file_by_content(db, account, &hash.to_hex(), body.file_size).await?;
    let duplicate = found.map(|f| DuplicateMatch {
        url: file_url(origin, &f.id),
        file_id: f.id,
        similarity: 1.0,
        kind: "exact".to_owned(),
    });
    json_response(200, &serde_json::json!({ "duplicate": duplicate })).map_err(internal)
}

/// Longest a download link may live; also how long a deleted file's tombstone is kept.
const MAX_LINK_TTL_SECS: u64 = 7 * 24 * 3600;
const DEFAULT_LINK_TTL_SECS: u64 = 3600;

fn claims_for(account_id: &str, file: &db::FileRow, exp: u64) -> DownloadClaims {
    DownloadClaims {
        acc: account_id.to_owned(),
        fid: file.id.clone(),
        key: file.object_key.clone(),
        size: file.size,
        sha: file.sha256.clone(),
        ct: file.content_type.clone(),
        name: file.name.clone(),
        created: file.created_at / 1000,
        exp,
    }
}

async fn own_file(db: &D1Database, account_id: &str, file_id: &str) -> ApiResult<db::FileRow> {
    db::file_for_account(db, account_id, file_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))
}

/// Adds `bytes` to this month's bandwidth only if they fit the quota, in one statement, so
/// concurrent downloads cannot together overrun it.
async fn count_bandwidth(db: &D1Database, account: &db::Account, bytes: u64) -> ApiResult<()> {
    let tier = account.tier();
    let period = billing_period(now_secs());
    if !db::add_bandwidth_within(db, &account.id, &period, bytes, tier.bandwidth_quota_bytes).await? {
        check_bandwidth(&tier, db::bandwidth_used(db, &account.id, &period).await?, bytes)?;
        return Err(ApiError::new(ErrorCode::BandwidthQuotaExceeded));
    }
    Ok(())
}

/// `POST /api/files/:id/link`: a signed, expiring URL on an edge; anyone holding it can read
/// the file until it expires (or the file is deleted). Downloads through it count against the
/// owner's bandwidth.
pub async fn create_link(
    req: &mut Request,
    env: &Env,
    db: &D1Database,
    account: &db::Account,
    file_id: &str,
) -> ApiResult<Response> {
    let body: LinkRequest = if header(req, "content-length").is_some_and(|l| l != "0") {
        read_json(req, JSON_LIMIT).await?
    } else {
        LinkRequest::default()
    };
    let file = own_file(db, &account.id, file_id).await?;
    let period = billing_period(now_secs());
    check_bandwidth(&account.tier(), db::bandwidth_used(db, &account.id, &period).await?, 0)?;
    let ttl = body
        .ttl_seconds
        .unwrap_or(DEFAULT_LINK_TTL_SECS)
        .clamp(1, MAX_LINK_TTL_SECS);
    let claims = claims_for(&account.id, &file, now_secs() + ttl);
    let link = token::sign(&claims, secret(env, "TOKEN_SECRET")?.as_bytes());
    let edge = crate::routing::pick_edges(db, crate::routing::client_location(req, None)?, Priority::Speed)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::new(ErrorCode::NoEdges))?;
    let mut url = format!("{}/api/files/{}?sig={link}", edge.url.trim_end_matches('/'), file.id);
    if body.download {
        url.push_str("&download=1");
    }
    json_response(
        200,
        &LinkResponse {
            url,
            edge_id: edge.id,
            expires_at: claims.exp,
        },
    )
    .map_err(internal)
}

/// `GET /api/files/:id/info`: what a client needs for a parallel ranged download.
pub async fn file_info(req: &Request, db: &D1Database, account: &db::Account, file_id: &str) -> ApiResult<Response> {
    let file = own_file(db, &account.id, file_id).await?;
    let location = crate::routing::client_location(req, None)?;
    let edges = crate::routing::pick_edges(db, location, Priority::Speed).await?;
    let answer = FileInfoResponse {
        id: file.id,
        name: file.name,
        size: file.size,
        sha256: format!("sha256:{}", file.sha256),
        content_type: file.content_type,
        edges,
    };
    json_response(200, &answer).map_err(internal)
}

/// Verifies an edge's HMAC-signed internal request; returns its body.
async fn internal_body(req: &mut Request, env: &Env) -> ApiResult<Vec<u8>> {
    let signature = header(req, INTERNAL_SIGNATURE_HEADER).ok_or_else(|| ApiError::new(ErrorCode::InvalidSignature))?;
    let body = read_body(req, JSON_LIMIT).await?;
    if !verify_internal_signature(secret(env, "INTERNAL_SECRET")?.as_bytes(), &body, &signature) {
        return Err(ApiError::new(ErrorCode::InvalidSignature));
    }
    Ok(body)
}

/// Edge → coordinator: an API-key request for a file. Checks the key and the tenant, checks
/// and counts the bytes against the bandwidth quota, and answers the claims to serve it.
pub async fn authorize_download(req: &mut Request, env: &Env, db: &D1Database) -> ApiResult<Response> {
    let ask: AuthorizeDownload = parse_json(&internal_body(req, env).await?)?;
    let account = db::account_for_credential(db, &api_key_hash(&ask.api_key), "key")
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidApiKey))?;
    let file = own_file(db, &account.id, &ask.file_id).await?;
    let unchanged = not_modified(
        ask.if_none_match.as_deref(),
        ask.if_modified_since.as_deref(),
        &format!("\"{}\"", file.sha256),
        file.created_at / 1000,
    );
    let bytes = if ask.no_body || unchanged {
        0
    } else {
        parse_range(ask.range.as_deref(), file.size).len(file.size)
    };
    count_bandwidth(db, &account, bytes).await?;
    json_response(200, &claims_for(&account.id, &file, now_secs() + 60)).map_err(internal)
}

/// Edge → coordinator: bytes served through a download link.
pub async fn record_usage(req: &mut Request, env: &Env, db: &D1Database) -> ApiResult<Response> {
    let usage: UsageRecord = parse_json(&internal_body(req, env).await?)?;
    db::add_bandwidth(db, &usage.account_id, &billing_period(now_secs()), usage.bytes).await?;
    json_response(200, &serde_json::json!({"ok": true})).map_err(internal)
}

/// `DELETE /api/files/:id`: removes the record, the object when no dedup clone still uses it,
/// leaves a tombstone edges check before serving a link, and purges the edges' caches.
pub async fn delete_file(env: &Env, db: &D1Database, account: &db::Account, file_id: &str) -> ApiResult<Response> {
    let file = own_file(db, &account.id, file_id).await?;
    if !db::delete_file(db, &account.id, file_id).await? {
        return Err(ApiError::new(ErrorCode::NotFound));
    }
    let object_deleted = db::object_references(db, &file.object_key).await? == 0;
    if object_deleted {
        let s3 = s3_from_env(env)?;
        let resp = send_signed(&s3.delete_object(&file.object_key, now_system_time())?, None).await?;
        if !(200..300).contains(&resp.status_code()) {
            let (status, code) = s3_error(resp, "DeleteObject").await;
            if code != "NoSuchKey" {
                return Err(storage_failure(format!("DeleteObject: {status} {code}")));
            }
        }
    }
    if let Ok(kv) = env.kv("KV") {
        if let Ok(put) = kv.put(&tombstone_key(file_id), "1") {
            let _ = put.expiration_ttl(MAX_LINK_TTL_SECS).execute().await;
        }
    }
    let purged = purge_edges(env, db, &account.id, file_id).await;
    let answer =
        serde_json::json!({"deleted": true, "fileId": file_id, "objectDeleted": object_deleted, "edgesPurged": purged});
    json_response(200, &answer).map_err(internal)
}

/// Asks every active edge to drop its cached copy (best effort: the tombstone and the
/// coordinator's checks already stop serving; this frees the caches sooner).
async fn purge_edges(env: &Env, db: &D1Database, account_id: &str, file_id: &str) -> usize {
    let Ok(edges) = db::active_edges(db).await else {
        return 0;
    };
    let Ok(secret) = secret(env, "INTERNAL_SECRET") else {
        return 0;
    };
    let body = serde_json::json!(PurgeRequest {
        account_id: account_id.to_owned(),
        file_id: file_id.to_owned()
    })
    .to_string();
    let signature = internal_signature(secret.as_bytes(), body.as_bytes());
    let mut purged = 0;
    for edge in edges {
        let headers = Headers::new();
        let _ = headers.set(INTERNAL_SIGNATURE_HEADER, &signature);
        let _ = headers.set("content-type", "application/json");
        let mut init = worker::RequestInit::new();
        init.with_method(worker::Method::Post)
            .with_headers(headers)
            .with_body(Some(body.clone().into()));
        let Ok(request) = Request::new_with_init(&format!("{}/internal/purge", edge.url.trim_end_matches('/')), &init)
        else {
            continue;
        };
        if let Ok(resp) = worker::Fetch::Request(request).send().await {
            if resp.status_code() == 200 {
                purged += 1;
            }
        }
    }
    purged
}
