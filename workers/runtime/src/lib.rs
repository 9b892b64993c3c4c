//! The I/O shell shared by both workers. Everything here touches the Workers runtime;
//! decisions live in `jetty-shared`.

// Workers are single-threaded: the traits' futures need no `Send` bound.
#![allow(async_fn_in_trait)]

pub mod chunk;

use jetty_shared::config::SecretValue;
use jetty_shared::s3::{S3ErrorCode, SignedRequest};
use jetty_shared::{ApiError, ErrorCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::SystemTime;
use wasm_bindgen::JsValue;
use worker::{console_error, Env, Fetch, Headers, Method, Request, RequestInit, Response};

pub type ApiResult<T> = std::result::Result<T, ApiError>;

/// Wall-clock time from the Workers runtime (`SystemTime::now` panics on wasm32).
pub fn now_millis() -> u64 {
    worker::Date::now().as_millis()
}

pub fn now_secs() -> u64 {
    now_millis() / 1000
}

pub fn now_system_time() -> SystemTime {
    jetty_shared::s3::unix_time(now_millis())
}

/// Cryptographically secure random bytes (crypto.getRandomValues).
pub fn random_bytes<const N: usize>() -> ApiResult<[u8; N]> {
    let mut buf = [0u8; N];
    getrandom::getrandom(&mut buf).map_err(|_| internal("random source unavailable"))?;
    Ok(buf)
}

/// Logs the cause server-side and returns an opaque internal error for the client.
pub fn internal(cause: impl std::fmt::Display) -> ApiError {
    ApiError::internal(cause)
}

/// Logs a storage failure server-side; the client gets `storage_error` only.
pub fn storage_failure(cause: impl std::fmt::Display) -> ApiError {
    ApiError::storage(cause)
}

pub fn json_response<T: Serialize>(status: u16, value: &T) -> worker::Result<Response> {
    Ok(Response::from_json(value)?.with_status(status))
}

/// The error's JSON answer. Server-side failures (5xx) may carry a cause from the core: it is
/// logged here and the client gets the code's default text.
pub fn error_response(err: &ApiError) -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    let sanitized;
    let err = if err.status() >= 500 && err.message != err.code.default_message() {
        console_error!("{}: {}", err.code.as_str(), err.message);
        sanitized = ApiError::new(err.code);
        &sanitized
    } else {
        err
    };
    Ok(Response::ok(err.to_json())?
        .with_status(err.status())
        .with_headers(headers))
}

/// Serves one request with CORS around `handle` (the policy: `jetty_shared::cors`). A preflight
/// is answered here; a changing request from a page whose origin is not allowed is refused
/// before it runs; every other answer, errors included, carries the grant, so a page can read
/// the error code.
pub async fn serve_with_cors<Fut>(
    req: Request,
    env: &Env,
    handle: impl FnOnce(Request) -> Fut,
) -> worker::Result<Response>
where
    Fut: std::future::Future<Output = ApiResult<Response>>,
{
    let origin = header(&req, "origin");
    let own = req.url().map(|u| u.origin().ascii_serialization()).unwrap_or_default();
    let policy = jetty_shared::config::cors_policy(|name| lookup(env, name)).and(&own);
    let method = req.method().as_ref().to_owned();
    if method == "OPTIONS" {
        let grant = policy.preflight(
            origin.as_deref(),
            header(&req, "access-control-request-method").as_deref(),
            header(&req, "access-control-request-headers").as_deref(),
        );
        return match grant {
            Ok(grant) => {
                let mut resp = Response::empty()?.with_status(204);
                set_headers(&mut resp, &grant)?;
                Ok(resp)
            }
            Err(refused) => error_response(&refused),
        };
    }
    let result = match policy.check_request(&method, origin.as_deref()) {
        Ok(()) => handle(req).await,
        Err(refused) => Err(refused),
    };
    let mut resp = respond(result)?;
    set_headers(&mut resp, &policy.grant(origin.as_deref()))?;
    Ok(resp)
}

fn set_headers(resp: &mut Response, headers: &[(&str, String)]) -> worker::Result<()> {
    for (name, value) in headers {
        resp.headers_mut().set(name, value)?;
    }
    Ok(())
}

/// Turns a handler result into a response; only runtime failures escape as `Err`.
pub fn respond(result: ApiResult<Response>) -> worker::Result<Response> {
    match result {
        Ok(resp) => Ok(resp),
        Err(err) => error_response(&err),
    }
}

pub fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

/// The first value of a query parameter.
pub fn query_param(req: &Request, name: &str) -> Option<String> {
    let url = req.url().ok()?;
    let value = url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    value
}

pub fn bearer_token(req: &Request) -> Option<String> {
    header(req, "authorization").and_then(|h| jetty_shared::auth::bearer(&h).map(str::to_owned))
}

/// Reads a small body: `Content-Length` must be present and at most `limit`, so nothing
/// larger is ever pulled into WASM memory (checked again on the bytes actually read).
pub async fn read_body(req: &mut Request, limit: usize) -> ApiResult<Vec<u8>> {
    let declared = header(req, "content-length")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .ok_or_else(|| ApiError::new(ErrorCode::LengthRequired))?;
    let too_large = || {
        ApiError::with_message(
            ErrorCode::PayloadTooLarge,
            format!("bodies here are limited to {limit} bytes"),
        )
    };
    if declared > limit {
        return Err(too_large());
    }
    let bytes = req
        .bytes()
        .await
        .map_err(|_| ApiError::new(ErrorCode::InvalidRequest))?;
    if bytes.len() > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// A request to another worker with a JSON body signed with `INTERNAL_SECRET` (the one
/// signer of coordinator ↔ edge calls; `read_internal` is the one verifier).
pub fn internal_request(secret: &SecretValue, url: &str, body: String) -> ApiResult<Request> {
    let signature = jetty_shared::auth::internal_signature(secret.expose().as_bytes(), body.as_bytes());
    let headers = Headers::new();
    headers.set("content-type", "application/json").map_err(internal)?;
    headers
        .set(jetty_shared::protocol::INTERNAL_SIGNATURE_HEADER, &signature)
        .map_err(internal)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(body.into()));
    Request::new_with_init(url, &init).map_err(internal)
}

/// Sends a signed internal request over the network (coordinator → edge).
pub async fn send_internal(secret: &SecretValue, url: &str, body: String) -> ApiResult<Response> {
    Fetch::Request(internal_request(secret, url, body)?)
        .send()
        .await
        .map_err(|e| storage_failure(format!("{}: {e}", redact_query(url))))
}

/// Reads a small body signed with `INTERNAL_SECRET`; `invalid_signature` otherwise.
pub async fn read_internal(req: &mut Request, secret: &SecretValue, limit: usize) -> ApiResult<Vec<u8>> {
    let signature = header(req, jetty_shared::protocol::INTERNAL_SIGNATURE_HEADER)
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidSignature))?;
    let body = read_body(req, limit).await?;
    if !jetty_shared::auth::verify_internal_signature(secret.expose().as_bytes(), &body, &signature) {
        return Err(ApiError::new(ErrorCode::InvalidSignature));
    }
    Ok(body)
}

/// The largest JSON body a control-plane endpoint reads (save-state's 16 KiB state included).
pub const JSON_LIMIT: usize = 64 * 1024;

/// Reads a JSON body of at most `limit` bytes; malformed input is `invalid_json` with serde's
/// description (which names fields and positions, never server internals).
pub async fn read_json<T: DeserializeOwned>(req: &mut Request, limit: usize) -> ApiResult<T> {
    parse_json(&read_body(req, limit).await?)
}

/// Parses a body already read (e.g. after checking its signature), with `read_json`'s errors.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::with_message(ErrorCode::InvalidJson, format!("invalid JSON body: {e}")))
}

/// A setting's value: the secret of that name, else the variable (local development puts
/// secrets in `.dev.vars`); empty counts as unset. The only place a worker reads its
/// environment: the typed configurations of `jetty_shared::config` are parsed from it.
pub fn lookup(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
        .filter(|v| !v.is_empty())
}

/// A configuration problem: logged by setting name (never by value), `internal` for the client.
pub fn config_error(e: jetty_shared::config::ConfigError) -> ApiError {
    internal(format!("configuration: {e}"))
}

/// The edge's settings, parsed once per request.
pub fn edge_config(env: &Env) -> ApiResult<jetty_shared::config::EdgeConfig> {
    jetty_shared::config::EdgeConfig::from_lookup(|name| lookup(env, name)).map_err(config_error)
}

/// The coordinator's settings, parsed once per request.
pub fn coordinator_config(env: &Env) -> ApiResult<jetty_shared::config::CoordinatorConfig> {
    jetty_shared::config::CoordinatorConfig::from_lookup(|name| lookup(env, name)).map_err(config_error)
}

/// Sends a signed request. `stream_body` replaces the request's own body (used to pass a
/// client's `ReadableStream` straight through without copying it into WASM memory).
pub async fn send_signed(req: &SignedRequest, stream_body: Option<JsValue>) -> ApiResult<Response> {
    let headers = Headers::new();
    for (name, value) in &req.headers {
        headers
            .set(name, value)
            .map_err(|e| internal(format!("bad header {name}: {e}")))?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::from(req.method.to_owned()))
        .with_headers(headers);
    if let Some(body) = stream_body {
        init.with_body(Some(body));
    } else if let Some(bytes) = &req.body {
        init.with_body(Some(js_sys::Uint8Array::from(bytes.as_slice()).into()));
    }
    let request =
        Request::new_with_init(&req.url, &init).map_err(|e| internal(format!("building storage request: {e}")))?;
    Fetch::Request(request).send().await.map_err(|e| {
        ApiError::store_unavailable(format!(
            "store unreachable: {} {}: {e}",
            req.method,
            redact_query(&req.url)
        ))
    })
}

fn redact_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// Reads an S3 error response into (status, code), logging the store's message server-side.
pub async fn s3_error(mut resp: Response, operation: &str) -> (u16, Option<S3ErrorCode>) {
    let status = resp.status_code();
    let text = resp.text().await.unwrap_or_default();
    let doc = jetty_shared::s3::parse_error(&text);
    let code = doc.as_ref().map(|d| d.kind());
    console_error!(
        "S3 {operation} refused: status {status}, code {code:?}, message {:?}",
        doc.map(|d| d.message).unwrap_or_default()
    );
    (status, code)
}
