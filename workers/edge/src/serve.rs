//! Serving files from the edge: API-key requests are authorized (and counted) by the
//! coordinator, download links are verified offline (plus a tombstone check for deleted
//! files); bodies stream from the Workers Cache API or from S3, never through WASM memory.

use crate::call_coordinator;
use jetty_shared::config::EdgeConfig;
use jetty_shared::download::{content_disposition, http_date, not_modified, parse_range, ByteRange, DownloadClaims};
use jetty_shared::protocol::*;
use jetty_shared::s3::{S3ErrorCode, S3};
use jetty_shared::token;
use jetty_shared::{ApiError, ErrorCode};
use jetty_worker_runtime::*;
use std::cell::RefCell;
use std::collections::HashSet;
use worker::{Cache, Context, Env, Headers, Method, Request, RequestInit, Response, ResponseBody};

/// Objects up to this size are cached by teeing the first full download; larger ones are
/// cached by a separate background fetch (a tee would buffer whatever the client has not read).
const CACHE_TEE_LIMIT: u64 = 32 * 1024 * 1024;
/// Largest object the Cache API stores.
const CACHE_MAX: u64 = 512 * 1024 * 1024;

thread_local! {
    /// Cache fills running in this isolate, so parallel ranged misses start one fill, not many.
    static FILLING: RefCell<HashSet<String>> = RefCell::new(HashSet::new());
}

struct Ask {
    range: Option<String>,
    if_none_match: Option<String>,
    if_modified_since: Option<String>,
    attachment: bool,
}

pub async fn get_file(
    req: Request,
    env: &Env,
    ctx: &Context,
    config: &EdgeConfig,
    file_id: &str,
    head: bool,
) -> ApiResult<Response> {
    let ask = Ask {
        range: header(&req, "range"),
        if_none_match: header(&req, "if-none-match"),
        if_modified_since: header(&req, "if-modified-since"),
        attachment: query_param(&req, "download").as_deref() == Some("1"),
    };
    let (claims, via_link) = match (query_param(&req, "sig"), bearer_token(&req)) {
        (Some(link), _) => {
            let claims: DownloadClaims = token::verify(&link, config.token_secret.expose().as_bytes(), now_secs())?;
            if claims.fid != file_id {
                return Err(ApiError::new(ErrorCode::InvalidLink));
            }
            if tombstoned(env, file_id).await {
                return Err(ApiError::new(ErrorCode::NotFound));
            }
            (claims, true)
        }
        (None, Some(api_key)) => (authorize(env, config, file_id, api_key, &ask, head).await?, false),
        (None, None) => return Err(ApiError::new(ErrorCode::MissingApiKey)),
    };

    let headers = file_headers(&claims, ask.attachment)?;
    if not_modified(
        ask.if_none_match.as_deref(),
        ask.if_modified_since.as_deref(),
        &claims.etag(),
        claims.created,
    ) {
        return Ok(Response::builder().with_status(304).with_headers(headers).empty());
    }
    let range = parse_range(ask.range.as_deref(), claims.size);
    let status = match range {
        ByteRange::Unsatisfiable => {
            let err = ApiError::new(ErrorCode::RangeNotSatisfiable);
            let headers = Headers::new();
            set(&headers, "content-range", &format!("bytes */{}", claims.size))?;
            set(&headers, "content-type", "application/json")?;
            return Ok(Response::ok(err.to_json())
                .map_err(internal)?
                .with_status(416)
                .with_headers(headers));
        }
        ByteRange::Partial { start, end } => {
            set(
                &headers,
                "content-range",
                &format!("bytes {start}-{end}/{}", claims.size),
            )?;
            206
        }
        ByteRange::Full => 200,
    };
    let len = range.len(claims.size);
    set(&headers, "content-length", &len.to_string())?;
    if head {
        return Ok(Response::builder().with_status(status).with_headers(headers).empty());
    }

    let cache = Cache::default();
    let (body, cache_state) = match cached(&cache, &claims, range).await {
        Some(body) => (body, "hit"),
        None => (from_store(ctx, config, &claims, range).await?, "miss"),
    };
    set(&headers, "x-jetty-cache", cache_state)?;
    if via_link && len > 0 {
        let record = UsageRecord {
            account_id: claims.acc.clone(),
            bytes: len,
        };
        let (env, config) = (env.clone(), config.clone());
        ctx.wait_until(async move {
            let _ = call_coordinator(&env, &config, "/internal/downloads/usage", &record).await;
        });
    }
    Ok(Response::builder().with_status(status).with_headers(headers).body(body))
}

fn set(headers: &Headers, name: &str, value: &str) -> ApiResult<()> {
    headers.set(name, value).map_err(internal)
}

fn file_headers(claims: &DownloadClaims, attachment: bool) -> ApiResult<Headers> {
    let headers = Headers::new();
    set(&headers, "content-type", &claims.ct)?;
    set(&headers, "etag", &claims.etag())?;
    set(&headers, "last-modified", &http_date(claims.created))?;
    set(&headers, "accept-ranges", "bytes")?;
    // Content-addressed bytes never change; `private` because access is per tenant.
    set(&headers, "cache-control", "private, max-age=31536000, immutable")?;
    set(
        &headers,
        "content-disposition",
        &content_disposition(claims.name.as_deref(), attachment),
    )?;
    set(&headers, FILE_SHA256_HEADER, &claims.sha)?;
    for (name, value) in jetty_shared::csp::USER_CONTENT_HEADERS {
        set(&headers, name, value)?;
    }
    Ok(headers)
}

async fn tombstoned(env: &Env, file_id: &str) -> bool {
    match env.kv("KV") {
        Ok(kv) => kv.get(&tombstone_key(file_id)).text().await.ok().flatten().is_some(),
        Err(_) => false,
    }
}

/// Asks the coordinator whether this API key may read the file; it counts the bytes too.
async fn authorize(
    env: &Env,
    config: &EdgeConfig,
    file_id: &str,
    api_key: String,
    ask: &Ask,
    head: bool,
) -> ApiResult<DownloadClaims> {
    let request = AuthorizeDownload {
        file_id: file_id.to_owned(),
        api_key,
        range: ask.range.clone(),
        no_body: head,
        if_none_match: ask.if_none_match.clone(),
        if_modified_since: ask.if_modified_since.clone(),
    };
    let mut resp = call_coordinator(env, config, "/internal/downloads/authorize", &request).await?;
    if resp.status_code() == 200 {
        return resp
            .json()
            .await
            .map_err(|e| storage_failure(format!("coordinator answer: {e}")));
    }
    Err(crate::coordinator_refusal(resp).await)
}

/// The body from this edge's cache, if it holds the file (and can serve the range).
async fn cached(cache: &Cache, claims: &DownloadClaims, range: ByteRange) -> Option<ResponseBody> {
    let headers = Headers::new();
    if let Some(r) = range.header() {
        headers.set("range", &r).ok()?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let key = Request::new_with_init(&claims.cache_key(), &init).ok()?;
    let hit = cache.get(&key, false).await.ok()??;
    let wanted = if range.header().is_some() { 206 } else { 200 };
    (hit.status_code() == wanted).then(|| hit.body().clone())
}

/// Streams the body from S3; full downloads (and, once per isolate, ranged ones) fill the cache.
async fn from_store(
    ctx: &Context,
    config: &EdgeConfig,
    claims: &DownloadClaims,
    range: ByteRange,
) -> ApiResult<ResponseBody> {
    let s3 = config.s3();
    let get = s3.get_object(&claims.key, range.header().as_deref(), now_system_time())?;
    let mut resp = send_signed(&get, None).await?;
    if !matches!(resp.status_code(), 200 | 206) {
        let (status, code) = s3_error(resp, "GetObject").await;
        return Err(if code == Some(S3ErrorCode::NoSuchKey) {
            ApiError::new(ErrorCode::NotFound)
        } else {
            storage_failure(format!("GetObject: {status} {code:?}"))
        });
    }
    let cacheable = claims.size <= CACHE_MAX;
    if cacheable && range == ByteRange::Full && claims.size <= CACHE_TEE_LIMIT {
        let copy = resp.cloned().map_err(internal)?;
        let (key, headers) = (claims.cache_key(), cache_headers(claims)?);
        ctx.wait_until(async move {
            let cache = Cache::default();
            let entry = Response::builder()
                .with_status(200)
                .with_headers(headers)
                .body(copy.body().clone());
            let _ = cache.put(key.as_str(), entry).await;
        });
    } else if cacheable && starts_a_download(range) && begin_fill(&claims.cache_key()) {
        let (s3, claims) = (config.s3(), claims.clone());
        ctx.wait_until(async move {
            fill(&s3, &Cache::default(), &claims).await;
            FILLING.with(|f| f.borrow_mut().remove(&claims.cache_key()));
        });
    }
    Ok(resp.body().clone())
}

/// Whether a request for `range` starts a read of the file: a full read, or the range from
/// byte 0. A parallel ranged download spreads its ranges over several edges, but only one of
/// them gets the first range, so the download starts one background fill, not one per edge
/// (each a whole-object read from the store).
fn starts_a_download(range: ByteRange) -> bool {
    matches!(range, ByteRange::Full | ByteRange::Partial { start: 0, .. })
}

fn begin_fill(key: &str) -> bool {
    FILLING.with(|f| f.borrow_mut().insert(key.to_owned()))
}

/// A background fetch of the whole object into the cache.
async fn fill(s3: &S3, cache: &Cache, claims: &DownloadClaims) {
    let Ok(get) = s3.get_object(&claims.key, None, now_system_time()) else {
        return;
    };
    let Ok(resp) = send_signed(&get, None).await else {
        return;
    };
    if resp.status_code() != 200 {
        return;
    }
    let Ok(headers) = cache_headers(claims) else { return };
    let entry = Response::builder()
        .with_status(200)
        .with_headers(headers)
        .body(resp.body().clone());
    let _ = cache.put(claims.cache_key().as_str(), entry).await;
}

/// Headers of the cache entry: `public` so the Cache API keeps it (the key is private to the
/// account and reachable only through this code), immutable like the bytes.
fn cache_headers(claims: &DownloadClaims) -> ApiResult<Headers> {
    let headers = Headers::new();
    set(&headers, "content-type", &claims.ct)?;
    set(&headers, "content-length", &claims.size.to_string())?;
    set(&headers, "etag", &claims.etag())?;
    set(&headers, "cache-control", "public, max-age=31536000, immutable")?;
    Ok(headers)
}

/// A small HMAC-signed (INTERNAL_SECRET) body from the coordinator.
async fn internal_body(req: &mut Request, config: &EdgeConfig) -> ApiResult<Vec<u8>> {
    read_internal(req, &config.internal_secret, 4096).await
}

/// Coordinator → edge: warm up before users arrive: a signed round trip to the store opens
/// this isolate's connection (DNS, TLS) and loads the worker, so the first part does not pay.
pub async fn warmup(mut req: Request, config: &EdgeConfig) -> ApiResult<Response> {
    internal_body(&mut req, config).await?;
    let started = now_millis();
    let resp = send_signed(&config.s3().head_bucket(now_system_time())?, None).await?;
    let answer = serde_json::json!({
        "ok": resp.status_code() == 200,
        "edgeId": config.edge_id,
        "storeMs": now_millis() - started,
    });
    json_response(200, &answer).map_err(internal)
}

/// Coordinator → edge: drop a file from this edge's cache.
pub async fn purge(mut req: Request, config: &EdgeConfig) -> ApiResult<Response> {
    let body = internal_body(&mut req, config).await?;
    let purge: PurgeRequest = parse_json(&body)?;
    let key = jetty_shared::download::cache_key(&purge.account_id, &purge.file_id);
    let deleted = Cache::default().delete(key.as_str(), true).await.map_err(internal)?;
    let found = matches!(deleted, worker::CacheDeletionOutcome::Success);
    json_response(200, &serde_json::json!({"ok": true, "found": found})).map_err(internal)
}
