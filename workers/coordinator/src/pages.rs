//! The coordinator's two pages, each self-contained: `GET /dashboard` (the seeds'
//! JettyStatsPage: Chart.js and `dashboard/app.js`) and `GET /upload` (the browser SDK and
//! `upload/app.js`, plus the SDK's hashing worker). build.rs bundles them; nothing is loaded
//! from elsewhere, and the Content-Security-Policy says so. The pages hold no data: they call
//! the API with the key the user enters.

use jetty_shared::{ApiError, ErrorCode};
use jetty_worker_runtime::*;
use worker::{Headers, Response};

const DASHBOARD_HTML: &str = include_str!(concat!(env!("OUT_DIR"), "/dashboard.html"));
const DASHBOARD_JS: &str = include_str!(concat!(env!("OUT_DIR"), "/dashboard.js"));
const DASHBOARD_CSS: &str = include_str!("../dashboard/app.css");
const DASHBOARD_VERSION: &str = include_str!(concat!(env!("OUT_DIR"), "/dashboard.version"));

const UPLOAD_HTML: &str = include_str!(concat!(env!("OUT_DIR"), "/upload.html"));
const UPLOAD_JS: &str = include_str!(concat!(env!("OUT_DIR"), "/upload.js"));
const UPLOAD_CSS: &str = include_str!("../upload/app.css");
const HASH_WORKER_JS: &str = include_str!(concat!(env!("OUT_DIR"), "/hash-worker.js"));
const UPLOAD_VERSION: &str = include_str!(concat!(env!("OUT_DIR"), "/upload.version"));

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// `/dashboard` (`asset` None) or one of its assets; `version` is the `?v=` asked for.
pub fn dashboard(asset: Option<&str>, version: Option<&str>) -> ApiResult<Response> {
    let (body, content_type) = match asset {
        None => (DASHBOARD_HTML, HTML),
        Some("app.js") => (DASHBOARD_JS, JS),
        Some("app.css") => (DASHBOARD_CSS, CSS),
        Some(_) => return Err(ApiError::new(ErrorCode::NotFound)),
    };
    let versioned = asset.is_some() && version == Some(DASHBOARD_VERSION);
    serve(body, content_type, versioned, jetty_shared::csp::DASHBOARD)
}

/// `/upload` (`asset` None) or one of its assets. `edge_urls`: where the page may send parts
/// (its CSP's `connect-src`).
pub fn upload(asset: Option<&str>, version: Option<&str>, edge_urls: &[String]) -> ApiResult<Response> {
    let (body, content_type) = match asset {
        None => (UPLOAD_HTML, HTML),
        Some("app.js") => (UPLOAD_JS, JS),
        Some("app.css") => (UPLOAD_CSS, CSS),
        Some("hash-worker.js") => (HASH_WORKER_JS, JS),
        Some(_) => return Err(ApiError::new(ErrorCode::NotFound)),
    };
    let versioned = asset.is_some() && version == Some(UPLOAD_VERSION);
    serve(
        body,
        content_type,
        versioned,
        &jetty_shared::csp::upload_page(edge_urls),
    )
}

fn serve(body: &str, content_type: &str, versioned: bool, csp: &str) -> ApiResult<Response> {
    let headers = Headers::new();
    let set = |name: &str, value: &str| headers.set(name, value).map_err(internal);
    set("content-type", content_type)?;
    // Versioned assets never change; the page is revalidated so a deploy shows at once.
    let cache = if versioned {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    set("cache-control", cache)?;
    set("content-security-policy", csp)?;
    set("x-content-type-options", "nosniff")?;
    set("referrer-policy", "no-referrer")?;
    set("x-frame-options", "DENY")?;
    Ok(Response::ok(body).map_err(internal)?.with_headers(headers))
}
