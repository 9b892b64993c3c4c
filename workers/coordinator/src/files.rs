//! Finalized files: downloads and the per-account exact-content dedup index.

use crate::upload::JSON_LIMIT;
use crate::{db, file_url};
use jetty_shared::auth::new_id;
use jetty_shared::hash::Sha256Digest;
use jetty_shared::protocol::*;
use jetty_shared::quota::{billing_period, check_bandwidth};
use jetty_shared::state::{CheckDuplicateRequest, DuplicateMatch};
use jetty_shared::{ApiError, ErrorCode};
use jetty_worker_runtime::*;
use worker::{D1Database, Env, Headers, Request, Response, ResponseBody};

/// Streams a finalized file from S3 to the caller (only the owning account may read it).
pub async fn get_file(env: &Env, db: &D1Database, account: &db::Account, file_id: &str) -> ApiResult<Response> {
    let file = db::file_for_account(db, &account.id, file_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    // Downloads count against the month's bandwidth quota, checked before any byte moves.
    let period = billing_period(now_secs());
    check_bandwidth(
        &account.tier(),
        db::bandwidth_used(db, &account.id, &period).await?,
        file.size,
    )?;
    db::add_bandwidth(db, &account.id, &period, file.size).await?;
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

/// A new file record of `account` on the object of `source` (zero bytes moved); its id.
pub async fn clone_file(db: &D1Database, account: &str, name: Option<&str>, source: &db::FileRow) -> ApiResult<String> {
    let file_id = new_id("fil", &random_bytes()?);
    db::insert_clone(
        db,
        account,
        &file_id,
        name.or(source.name.as_deref()),
        source,
        now_millis(),
    )
    .await?;
    Ok(file_id)
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
