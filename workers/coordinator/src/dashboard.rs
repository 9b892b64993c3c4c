//! `GET /dashboard`: the analytics page (the seeds' JettyStatsPage), self-contained. Its
//! script is Chart.js and `dashboard/app.js` bundled at build time (build.rs); nothing is
//! loaded from elsewhere, and the Content-Security-Policy says so. The page holds no data:
//! it asks `/api/jetty/stats` with the key the user enters.

use jetty_shared::{ApiError, ErrorCode};
use jetty_worker_runtime::*;
use worker::{Headers, Response};

const INDEX_HTML: &str = include_str!(concat!(env!("OUT_DIR"), "/index.html"));
const APP_JS: &str = include_str!(concat!(env!("OUT_DIR"), "/app.js"));
const APP_CSS: &str = include_str!("../dashboard/app.css");
const VERSION: &str = include_str!(concat!(env!("OUT_DIR"), "/version.txt"));

const CSP: &str = jetty_shared::csp::DASHBOARD;

/// The page (`asset` None) or one of its assets; `version` is the `?v=` the page asked for.
pub fn serve(asset: Option<&str>, version: Option<&str>) -> ApiResult<Response> {
    let (body, content_type) = match asset {
        None => (INDEX_HTML, "text/html; charset=utf-8"),
        Some("app.js") => (APP_JS, "text/javascript; charset=utf-8"),
        Some("app.css") => (APP_CSS, "text/css; charset=utf-8"),
        Some(_) => return Err(ApiError::new(ErrorCode::NotFound)),
    };
    let headers = Headers::new();
    let set = |name: &str, value: &str| headers.set(name, value).map_err(internal);
    set("content-type", content_type)?;
    // Versioned assets never change; the page is revalidated so a deploy shows at once.
    let cache = if asset.is_some() && version == Some(VERSION) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    set("cache-control", cache)?;
    set("content-security-policy", CSP)?;
    set("x-content-type-options", "nosniff")?;
    set("referrer-policy", "no-referrer")?;
    set("x-frame-options", "DENY")?;
    Ok(Response::ok(body).map_err(internal)?.with_headers(headers))
}
