//! Edge intelligence in the coordinator: measurements in (parts forwarded, probes, client
//! failure reports), rankings out (through `jetty_shared::scoring`).

use crate::db;
use jetty_shared::analytics::metrics_prune_before;
use jetty_shared::edges::haversine_km;
use jetty_shared::protocol::{EdgeInfo, EdgeReport, Location, Priority};
use jetty_shared::scoring::{self, EdgeCandidate, DEFAULT_LOCATION};
use jetty_shared::{ApiError, ErrorCode};
use jetty_worker_runtime::*;
use worker::{D1Database, Env, Request, Response};

/// How far back measurements count.
const WINDOW_MS: u64 = 10 * 60 * 1000;
const PROBE_TIMEOUT_MS: u64 = 2000;

/// The client's location: the request's `userLocation` (validated), else the coordinates
/// Cloudflare derives from the client's IP, else `DEFAULT_LOCATION`.
pub fn client_location(req: &Request, declared: Option<Location>) -> ApiResult<Location> {
    if let Some(l) = declared {
        if !(l.lat.is_finite()
            && l.lng.is_finite()
            && (-90.0..=90.0).contains(&l.lat)
            && (-180.0..=180.0).contains(&l.lng))
        {
            return Err(ApiError::with_message(
                ErrorCode::InvalidRequest,
                "userLocation needs lat in [-90, 90] and lng in [-180, 180]",
            ));
        }
        return Ok(l);
    }
    let from_network = req.cf().and_then(|cf| cf.coordinates()).map(|(lat, lng)| Location {
        lat: f64::from(lat),
        lng: f64::from(lng),
    });
    Ok(from_network.unwrap_or(DEFAULT_LOCATION))
}

/// The best edges for a client now, from the registry and the recent measurements.
pub async fn pick_edges(db: &D1Database, client: Location, priority: Priority) -> ApiResult<Vec<EdgeInfo>> {
    let now = now_millis();
    let windows = db::edge_windows(db, now.saturating_sub(WINDOW_MS)).await?;
    let candidates: Vec<EdgeCandidate> = db::active_edges(db)
        .await?
        .into_iter()
        .map(|location| {
            let distance = haversine_km(
                client,
                Location {
                    lat: location.lat,
                    lng: location.lng,
                },
            );
            let metrics = windows
                .iter()
                .find(|(id, _)| *id == location.id)
                .map(|(_, w)| w.metrics(distance, now));
            EdgeCandidate { location, metrics }
        })
        .collect();
    Ok(scoring::select(&candidates, client, priority))
}

/// The edges for an upload: the ranking plus the origin-direct path (`ORIGIN_DIRECT_SHARE`,
/// 10 % by default) through this coordinator.
pub async fn upload_paths(
    req: &Request,
    env: &Env,
    db: &D1Database,
    client: Location,
    priority: Priority,
) -> ApiResult<Vec<EdgeInfo>> {
    let share = var_or(env, "ORIGIN_DIRECT_SHARE", "0.10")
        .parse::<f64>()
        .map_err(internal)?;
    let origin = crate::request_origin(req, env);
    Ok(scoring::with_origin_direct(
        pick_edges(db, client, priority).await?,
        &origin,
        share,
    ))
}

/// An edge's report of a forwarded part: its duration, size and the edge's load.
pub async fn record_part_metrics(db: &D1Database, edge_id: &str, bytes: u64, duration_ms: f64, inflight: u64) {
    let event = db::EdgeEvent {
        edge_id,
        kind: "part",
        ok: true,
        latency_ms: None,
        bytes: Some(bytes),
        duration_ms: Some(duration_ms.max(0.0)),
        inflight: Some(inflight),
        reporter: "edge",
        dedup_key: None,
        now: now_millis(),
    };
    if let Err(e) = db::record_edge_event(db, &event).await {
        worker::console_log!("edge metrics not recorded: {}", e.message);
    }
}

/// `POST /api/jetty/edge-report`: a client saw an edge fail. One report per account, edge and
/// minute counts, so one tenant cannot flood an edge out of the ranking.
pub async fn edge_report(req: &mut Request, db: &D1Database, account: &str) -> ApiResult<Response> {
    let report: EdgeReport = read_json(req, 4096).await?;
    if !db::active_edges(db).await?.iter().any(|e| e.id == report.edge_id) {
        return Err(ApiError::with_message(ErrorCode::NotFound, "no such edge"));
    }
    let now = now_millis();
    let dedup = format!("{account}:{}:{}", report.edge_id, now / 60_000);
    let event = db::EdgeEvent {
        edge_id: &report.edge_id,
        kind: "failure",
        ok: false,
        latency_ms: None,
        bytes: None,
        duration_ms: None,
        inflight: None,
        reporter: account,
        dedup_key: Some(&dedup),
        now,
    };
    db::record_edge_event(db, &event).await?;
    json_response(200, &serde_json::json!({"ok": true})).map_err(internal)
}

/// The scheduled health check: a request to every active edge, timed; failures count against
/// it and, as its newest event, take it out of selection until it answers again.
pub async fn probe_edges(env: &Env) -> ApiResult<usize> {
    let db = env.d1("DB").map_err(internal)?;
    let mut probed = 0;
    for edge in db::active_edges(&db).await? {
        let started = now_millis();
        let url = format!("{}/health", edge.url.trim_end_matches('/'));
        let fetch = async {
            let req = Request::new(&url, worker::Method::Get).ok()?;
            worker::Fetch::Request(req)
                .send()
                .await
                .ok()
                .filter(|r| r.status_code() == 200)
        };
        let timeout = worker::Delay::from(std::time::Duration::from_millis(PROBE_TIMEOUT_MS));
        futures::pin_mut!(fetch);
        let ok = match futures::future::select(fetch, timeout).await {
            futures::future::Either::Left((answer, _)) => answer.is_some(),
            futures::future::Either::Right(_) => false,
        };
        let latency = (now_millis() - started) as f64;
        let event = db::EdgeEvent {
            edge_id: &edge.id,
            kind: "probe",
            ok,
            latency_ms: ok.then_some(latency),
            bytes: None,
            duration_ms: None,
            inflight: None,
            reporter: "coordinator",
            dedup_key: None,
            now: now_millis(),
        };
        db::record_edge_event(&db, &event).await?;
        probed += 1;
    }
    db::prune_edge_metrics(&db, metrics_prune_before(now_millis())).await?;
    db::refresh_edge_snapshot(&db, now_millis()).await?;
    Ok(probed)
}

/// Uploads in a slot (account, hour, weekday) over 30 days before it counts as a pattern (the
/// seeds' `HAVING COUNT(*) > 5`).
const PATTERN_MIN_UPLOADS: u64 = 5;
const PATTERN_WINDOW_MS: u64 = 30 * 24 * 3600 * 1000;

/// The hourly pre-warming job: recompute the upload patterns, then warm the edges typical of
/// this hour's patterns (an edge's warm-up opens its path to the store before users arrive).
pub async fn prewarm(env: &Env) -> ApiResult<usize> {
    let db = env.d1("DB").map_err(internal)?;
    let now = now_millis();
    db::recompute_upload_patterns(&db, now.saturating_sub(PATTERN_WINDOW_MS), PATTERN_MIN_UPLOADS, now).await?;
    let secs = now / 1000;
    let hour = ((secs / 3600) % 24) as u32;
    let day_of_week = ((secs / 86_400 + 4) % 7) as u32; // 1970-01-01 was a Thursday
    let wanted = db::pattern_edges(&db, hour, day_of_week).await?;
    let edges = db::active_edges(&db).await?;
    let secret = secret(env, "INTERNAL_SECRET")?;
    let mut warmed = 0;
    for edge in edges.iter().filter(|e| wanted.contains(&e.id)) {
        let body = serde_json::json!({"reason": "pattern", "hour": hour}).to_string();
        let headers = worker::Headers::new();
        let signature = jetty_shared::auth::internal_signature(secret.as_bytes(), body.as_bytes());
        headers
            .set(jetty_shared::protocol::INTERNAL_SIGNATURE_HEADER, &signature)
            .map_err(internal)?;
        headers.set("content-type", "application/json").map_err(internal)?;
        let mut init = worker::RequestInit::new();
        init.with_method(worker::Method::Post)
            .with_headers(headers)
            .with_body(Some(body.into()));
        let url = format!("{}/api/warmup", edge.url.trim_end_matches('/'));
        let started = now_millis();
        let ok = match Request::new_with_init(&url, &init) {
            Ok(req) => worker::Fetch::Request(req)
                .send()
                .await
                .is_ok_and(|r| r.status_code() == 200),
            Err(_) => false,
        };
        let event = db::EdgeEvent {
            edge_id: &edge.id,
            kind: "probe",
            ok,
            latency_ms: ok.then_some((now_millis() - started) as f64),
            bytes: None,
            duration_ms: None,
            inflight: None,
            reporter: "warmup",
            dedup_key: None,
            now: now_millis(),
        };
        db::record_edge_event(&db, &event).await?;
        warmed += usize::from(ok);
    }
    Ok(warmed)
}

/// `GET /api/jetty/patterns`: the caller's upload patterns, as the pre-warming job sees them.
pub async fn patterns(db: &D1Database, account: &str) -> ApiResult<Response> {
    let rows = db::patterns_for(db, account).await?;
    let patterns: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|r| {
            serde_json::json!({
                "hour": r.hour,
                "dayOfWeek": r.day_of_week,
                "avgFileSize": r.avg_file_size,
                "uploadCount": r.upload_count,
                "typicalEdges": serde_json::from_str::<serde_json::Value>(&r.typical_edges).unwrap_or_default(),
                "updatedAt": r.updated_at,
            })
        })
        .collect();
    json_response(200, &serde_json::json!({ "patterns": patterns })).map_err(internal)
}
