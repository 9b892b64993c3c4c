//! Edge intelligence in the coordinator's shell: client failure reports, the minute's health
//! probes, the hourly pre-warming and the patterns endpoint. Decisions are in
//! `jetty_core::edges`; here are the HTTP round trips to the edges.

use crate::world::Coordinator;
use jetty_core::db::EdgeMetricsStore;
use jetty_core::Runtime;
use jetty_shared::protocol::EdgeReport;
use jetty_worker_runtime::*;
use worker::{Request, Response};

const PROBE_TIMEOUT_MS: u64 = 2000;
/// An edge report is a few short fields.
const REPORT_LIMIT: usize = 4096;

/// `POST /api/jetty/edge-report`: a client saw an edge fail.
pub async fn edge_report(req: &mut Request, core: &Coordinator, account: &str) -> ApiResult<Response> {
    let report: EdgeReport = read_json(req, REPORT_LIMIT).await?;
    core.edge_report(account, &report.edge_id).await?;
    json_response(200, &serde_json::json!({"ok": true})).map_err(internal)
}

/// A GET that answers 200 within `PROBE_TIMEOUT_MS`.
async fn answers(url: &str) -> bool {
    let fetch = async {
        let req = Request::new(url, worker::Method::Get).ok()?;
        worker::Fetch::Request(req)
            .send()
            .await
            .ok()
            .filter(|r| r.status_code() == 200)
    };
    let timeout = worker::Delay::from(std::time::Duration::from_millis(PROBE_TIMEOUT_MS));
    futures::pin_mut!(fetch);
    match futures::future::select(fetch, timeout).await {
        futures::future::Either::Left((answer, _)) => answer.is_some(),
        futures::future::Either::Right(_) => false,
    }
}

/// The scheduled health check: every active edge's `/health`, timed.
pub async fn probe_edges(core: &Coordinator) -> ApiResult<usize> {
    let mut probed = 0;
    for edge in core.db.active_edges().await? {
        let started = core.rt.now_ms();
        let ok = answers(&format!("{}/health", edge.url.trim_end_matches('/'))).await;
        let latency = (core.rt.now_ms() - started) as f64;
        core.record_probe(&edge.id, ok, latency, "coordinator").await?;
        probed += 1;
    }
    probe_store(core).await?;
    core.roll_edge_metrics().await?;
    Ok(probed)
}

/// The minute's store probe: a signed HeadBucket, timed, recorded as the store's health.
async fn probe_store(core: &Coordinator) -> ApiResult<()> {
    let head = core.s3.head_bucket(now_system_time())?;
    let started = core.rt.now_ms();
    let probe = jetty_core::ObjectStore::send(&core.store, &head);
    let timeout = worker::Delay::from(std::time::Duration::from_millis(PROBE_TIMEOUT_MS));
    futures::pin_mut!(probe);
    let ok = match futures::future::select(probe, timeout).await {
        futures::future::Either::Left((Ok(resp), _)) => resp.status == 200,
        _ => false,
    };
    core.record_store_probe(ok, (core.rt.now_ms() - started) as f64).await
}

/// The hourly pre-warming job: warm the edges typical of this hour's upload patterns (an
/// edge's warm-up opens its path to the store before users arrive).
pub async fn prewarm(core: &Coordinator) -> ApiResult<usize> {
    let edges = core.edges_to_prewarm().await?;
    let (hour, _) = jetty_core::edges::hour_and_weekday(core.rt.now_ms());
    let mut warmed = 0;
    for edge in edges {
        let body = serde_json::json!({"reason": "pattern", "hour": hour}).to_string();
        let url = format!("{}/api/warmup", edge.url.trim_end_matches('/'));
        let started = core.rt.now_ms();
        let ok = send_internal(&core.settings.internal_secret, &url, body)
            .await
            .is_ok_and(|r| r.status_code() == 200);
        core.record_probe(&edge.id, ok, (core.rt.now_ms() - started) as f64, "warmup")
            .await?;
        warmed += usize::from(ok);
    }
    Ok(warmed)
}

/// `GET /api/jetty/patterns`: the caller's upload patterns, as the pre-warming job sees them.
pub async fn patterns(core: &Coordinator, account: &str) -> ApiResult<Response> {
    let rows = core.db.patterns_for(account).await?;
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
