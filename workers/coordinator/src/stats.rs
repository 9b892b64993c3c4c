//! `GET /api/jetty/stats`: upload performance, dedup savings, how parts spread over the edges
//! with the edges' health, and recent sessions. An API key reads its own account; the
//! operators' admin key (`ADMIN_KEY_SHA256`) reads every account, or one with `?account=`.
//! Volumes are only ever the scope's own; edge health (latency, load, errors) is shared
//! infrastructure.

use crate::world::Coordinator;
use jetty_core::db::{AnalyticsStore, RecentSession};
use jetty_shared::analytics::{round_cost, round_speed, StatsScope, UploadTotals};
use jetty_shared::auth::is_admin_key;
use jetty_shared::scoring::EDGE_CAPACITY_PARTS;
use jetty_shared::state::iso8601;
use jetty_worker_runtime::*;
use serde_json::{json, Value};
use worker::{Request, Response};

const RECENT_SESSIONS: u32 = 20;
const ACCOUNTS_LISTED: u32 = 100;

pub async fn stats(req: &Request, core: &Coordinator) -> ApiResult<Response> {
    let db = &core.db;
    let scope = scope(req, core).await?;
    let account = scope.account();
    let totals = UploadTotals::combine(&db.upload_totals(account).await?);
    let dedup = db.dedup_stats(account).await?;
    let edges = db.edge_shares(account).await?;
    let recent = db.recent_sessions(account, RECENT_SESSIONS).await?;
    let total_parts: u64 = edges.iter().map(|e| e.parts).sum();
    let mut answer = json!({
        "scope": scope.name(),
        "account": account,
        "avgSpeedMbps": totals.avg_speed_mbps().map(round_speed),
        "avgDurationSeconds": totals.avg_duration_seconds,
        "uploads": totals.uploads,
        "bytes": totals.bytes,
        "bytesTransferred": totals.bytes_transferred,
        "chunks": totals.chunks,
        "estimatedCost": round_cost(totals.estimated_cost),
        "actualCost": round_cost(totals.actual_cost),
        "dedup": {
            "files": dedup.duplicate_files,
            "savedBytes": dedup.saved_bytes,
            "savedCost": core.transfer_cost(dedup.saved_bytes),
        },
        "edges": edges.iter().map(|e| json!({
            "id": e.edge_id,
            "parts": e.parts,
            "bytes": e.bytes,
            "share": if total_parts > 0 { e.parts as f64 / total_parts as f64 } else { 0.0 },
            "throughputMbps": e.throughput_mbps,
            "latencyMs": e.latency_ms,
            "load": e.avg_inflight.map(|n| (n / EDGE_CAPACITY_PARTS * 100.0).min(100.0)),
            "errors": e.errors,
            "errorRate": e.error_rate,
        })).collect::<Vec<_>>(),
        "recentSessions": recent.iter().map(session_json).collect::<Vec<_>>(),
        // The object store's health (shared infrastructure, like the edges' health): its
        // failures are counted as the store's, never as an edge's.
        "store": core.store_report().await?,
    });
    if scope == StatsScope::All {
        let accounts = db.account_summaries(ACCOUNTS_LISTED).await?;
        answer["accounts"] = accounts
            .iter()
            .map(|a| {
                json!({
                    "id": a.id,
                    "name": a.name,
                    "tier": a.tier,
                    "uploads": a.uploads,
                    "bytes": a.bytes,
                    "avgSpeedMbps": a.avg_speed_mbps.map(round_speed),
                    "dedupSavedBytes": a.saved_bytes,
                })
            })
            .collect();
    }
    json_response(200, &answer).map_err(internal)
}

/// The operators' admin key (matched against its configured hash) or an account's API key.
async fn scope(req: &Request, core: &Coordinator) -> ApiResult<StatsScope> {
    let requested = query_param(req, "account").filter(|a| !a.is_empty());
    let key = bearer_token(req);
    // No ADMIN_KEY_SHA256 configured: there is no admin key, every caller is an account.
    let admin_hash = core.settings.admin_key_sha256().unwrap_or_default();
    if key.as_deref().is_some_and(|k| is_admin_key(k, admin_hash)) {
        return StatsScope::for_request(true, None, requested.as_deref());
    }
    let caller = crate::authenticate(req, core).await?;
    StatsScope::for_request(false, Some(&caller.id), requested.as_deref())
}

fn session_json(r: &RecentSession) -> Value {
    json!({
        "accountId": r.account_id,
        "fileId": r.file_id,
        "fileName": r.file_name,
        "size": r.file_size,
        "status": r.status,
        "startedAt": iso8601(r.created_at / 1000),
        "completedAt": r.completed_at.map(|t| iso8601(t / 1000)),
        "edges": serde_json::from_str::<Value>(&r.edges_used).unwrap_or_default(),
        "edgesCarried": serde_json::from_str::<Value>(&r.edges_carried).unwrap_or_default(),
        "chunksTotal": r.part_count,
        "chunksCompleted": r.chunks_completed,
        "bytesUploaded": r.bytes_uploaded,
        "bytesTransferred": r.bytes_transferred,
        "durationSeconds": r.duration_ms.map(|ms| ms as f64 / 1000.0),
        "avgSpeedMbps": r.avg_speed_mbps.map(round_speed),
        "estimatedSeconds": r.estimated_seconds,
        "estimatedCost": r.estimated_cost,
        "actualCost": r.actual_cost,
    })
}
