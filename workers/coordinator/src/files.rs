//! File handlers: the origin download, check-duplicate, links, file info, the edges'
//! authorization and usage reports, and deletion. Decisions are in `jetty_core::files`.

use crate::world::Coordinator;
use jetty_core::db::{Account, AccountStore, CredentialKind, EdgeMetricsStore};
use jetty_core::upload::file_url;
use jetty_core::Runtime;
use jetty_shared::auth::api_key_hash;
use jetty_shared::download::{not_modified, parse_range};
use jetty_shared::hash::Sha256Digest;
use jetty_shared::protocol::*;
use jetty_shared::state::{CheckDuplicateRequest, DuplicateMatch};
use jetty_shared::{ApiError, ErrorCode};
use jetty_worker_runtime::*;
use worker::{Headers, Request, Response, ResponseBody};

/// `GET /api/files`: the caller's files, newest first, paged.
pub async fn list_files(req: &Request, core: &Coordinator, account: &Account, origin: &str) -> ApiResult<Response> {
    let list = core.list_files(&account.id, &crate::list_query(req)?, origin).await?;
    json_response(200, &list).map_err(internal)
}

/// Streams a finalized file from S3 to the caller (only the owning account may read it).
pub async fn get_file(core: &Coordinator, account: &Account, file_id: &str) -> ApiResult<Response> {
    let file = core.own_file(&account.id, file_id).await?;
    // Downloads count against the month's bandwidth quota, checked before any byte moves.
    core.count_bandwidth(account, file.size).await?;
    let get = core.s3.get_object(&file.object_key, None, now_system_time())?;
    let resp = send_signed(&get, None).await?;
    if resp.status_code() != 200 {
        let (status, code) = s3_error(resp, "GetObject").await;
        return Err(storage_failure(format!("GetObject: {status} {code:?}")));
    }
    let headers = Headers::new();
    let set = |k: &str, v: &str| headers.set(k, v).map_err(internal);
    set("content-type", &file.content_type)?;
    set("content-length", &file.size.to_string())?;
    set(FILE_SHA256_HEADER, &file.sha256)?;
    for (name, value) in jetty_shared::csp::USER_CONTENT_HEADERS {
        set(name, value)?;
    }
    let body = match resp.body() {
        ResponseBody::Stream(stream) => ResponseBody::Stream(stream.clone()),
        other => other.clone(),
    };
    Ok(Response::builder().with_status(200).with_headers(headers).body(body))
}

/// `POST /api/jetty/check-duplicate`: exact SHA-256 + size match among the caller's files.
pub async fn check_duplicate(
    req: &mut Request,
    core: &Coordinator,
    account: &str,
    origin: &str,
) -> ApiResult<Response> {
    let body: CheckDuplicateRequest = read_json(req, JSON_LIMIT).await?;
    let hash = Sha256Digest::parse(&body.file_hash)?;
    // 002's example names no size: then any size, among the caller's files.
    let found = core
        .find_duplicate(account, Some(hash), body.content_id.as_deref(), body.file_size)
        .await?;
    let duplicate = found.map(|f| DuplicateMatch {
        url: file_url(origin, &f.id),
        file_id: f.id,
        similarity: 1.0,
        kind: "exact".to_owned(),
    });
    json_response(200, &serde_json::json!({ "duplicate": duplicate })).map_err(internal)
}

/// `POST /api/files/:id/link`: a signed, expiring URL on an edge; anyone holding it can read
/// the file until it expires (or the file is deleted), counted against the owner's bandwidth.
pub async fn create_link(
    req: &mut Request,
    core: &Coordinator,
    account: &Account,
    file_id: &str,
) -> ApiResult<Response> {
    let body: LinkRequest = if header(req, "content-length").is_some_and(|l| l != "0") {
        read_json(req, JSON_LIMIT).await?
    } else {
        LinkRequest::default()
    };
    let file = core.own_file(&account.id, file_id).await?;
    core.check_bandwidth_left(account).await?;
    let (link, expires_at) = core.sign_link(&account.id, &file, body.ttl_seconds);
    let edge = core
        .pick_edges(crate::client_location(req, None)?, Priority::Speed)
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
            expires_at,
        },
    )
    .map_err(internal)
}

/// `GET /api/files/:id/info`: what a client needs for a parallel ranged download.
pub async fn file_info(req: &Request, core: &Coordinator, account: &Account, file_id: &str) -> ApiResult<Response> {
    let file = core.own_file(&account.id, file_id).await?;
    let edges = core
        .pick_edges(crate::client_location(req, None)?, Priority::Speed)
        .await?;
    let answer = FileInfoResponse {
        id: file.id,
        name: file.name,
        size: file.size,
        sha256: format!("sha256:{}", file.sha256),
        content_id: file.content_id,
        content_type: file.content_type,
        edges,
        direct: core.direct_route(),
    };
    json_response(200, &answer).map_err(internal)
}

/// `POST /api/files/:id/direct-download`: a presigned GetObject for a client that reads the
/// file straight from the store (the whole file counted against the bandwidth quota first).
pub async fn direct_download(core: &Coordinator, account: &Account, file_id: &str) -> ApiResult<Response> {
    let answer = core.direct_download(account, file_id).await?;
    json_response(200, &answer).map_err(internal)
}

/// Edge → coordinator: an API-key request for a file. Checks the key and the tenant, checks
/// and counts the bytes against the bandwidth quota, and answers the claims to serve it.
pub async fn authorize_download(req: &mut Request, core: &Coordinator) -> ApiResult<Response> {
    let ask: AuthorizeDownload = parse_json(&read_internal(req, &core.settings.internal_secret, JSON_LIMIT).await?)?;
    let account = core
        .db
        .account_for_credential(&api_key_hash(&ask.api_key), CredentialKind::Key)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidApiKey))?;
    let file = core.own_file(&account.id, &ask.file_id).await?;
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
    core.count_bandwidth(&account, bytes).await?;
    let claims = core.download_claims(&account.id, &file, core.rt.now_ms() / 1000 + 60);
    json_response(200, &claims).map_err(internal)
}

/// Edge → coordinator: bytes served through a download link.
pub async fn record_usage(req: &mut Request, core: &Coordinator) -> ApiResult<Response> {
    let usage: UsageRecord = parse_json(&read_internal(req, &core.settings.internal_secret, JSON_LIMIT).await?)?;
    core.record_usage(&usage.account_id, usage.bytes).await?;
    json_response(200, &serde_json::json!({"ok": true})).map_err(internal)
}

/// `DELETE /api/files/:id`: the record, the object when no clone uses it, a tombstone, and a
/// purge request to every edge.
pub async fn delete_file(core: &Coordinator, account: &Account, file_id: &str) -> ApiResult<Response> {
    let deleted = core.delete_file(&account.id, file_id).await?;
    let purged = purge_edges(core, &account.id, file_id).await;
    let answer = serde_json::json!({
        "deleted": true,
        "fileId": file_id,
        "objectDeleted": deleted.object_deleted,
        "edgesPurged": purged,
    });
    json_response(200, &answer).map_err(internal)
}

/// Asks every active edge to drop its cached copy (best effort: the tombstone and the
/// coordinator's checks already stop serving; this frees the caches sooner).
async fn purge_edges(core: &Coordinator, account_id: &str, file_id: &str) -> usize {
    let Ok(edges) = core.db.active_edges().await else {
        return 0;
    };
    let body = serde_json::json!(PurgeRequest {
        account_id: account_id.to_owned(),
        file_id: file_id.to_owned()
    })
    .to_string();
    let mut purged = 0;
    for edge in edges {
        let url = format!("{}/internal/purge", edge.url.trim_end_matches('/'));
        if send_internal(&core.settings.internal_secret, &url, body.clone())
            .await
            .is_ok_and(|r| r.status_code() == 200)
        {
            purged += 1;
        }
    }
    purged
}
