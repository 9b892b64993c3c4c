//! `GET /api/jetty/stats`: the caller's upload performance, dedup savings, how its parts spread
//! over the edges, the edges' health, and its recent sessions. Volumes are only ever the
//! caller's own; edge health (latency, load, errors) is shared infrastructure.

use crate::db::{self, DedupStats, UserStats};
use crate::upload::transfer_cost;
use jetty_shared::state::iso8601;
use jetty_worker_runtime::*;
use serde_json::json;
use worker::{D1Database, Env, Response};

pub async fn stats(env: &Env, db: &D1Database, account: &str) -> ApiResult<Response> {
    let user = db::user_stats(db, account).await?;
    let dedup = db::dedup_stats(db, account).await?;
    let edges = db::edge_shares(db, account).await?;
    let recent = db::recent_sessions(db, account).await?;
    let total_parts: u64 = edges.iter().map(|e| e.parts).sum();
    let user = user.unwrap_or(UserStats {
        uploads: 0,
        bytes: 0,
        avg_duration_seconds: None,
        avg_speed_mbps: None,
    });
    let dedup = dedup.unwrap_or(DedupStats {
        duplicate_files: 0,
        saved_bytes: 0,
    });
    let answer = json!({
        "avgSpeedMbps": user.avg_speed_mbps.map(|v| (v * 10.0).round() / 10.0),
        "avgDurationSeconds": user.avg_duration_seconds,
        "uploads": user.uploads,
        "bytes": user.bytes,
        "dedup": {
            "files": dedup.duplicate_files,
            "savedBytes": dedup.saved_bytes,
            "savedCost": transfer_cost(env, dedup.saved_bytes),
        },
        "edges": edges.iter().map(|e| json!({
            "id": e.edge_id,
            "parts": e.parts,
            "bytes": e.bytes,
            "share": if total_parts > 0 { e.parts as f64 / total_parts as f64 } else { 0.0 },
            "throughputMbps": e.throughput_mbps,
            "latencyMs": e.latency_ms,
            "load": e.avg_inflight.map(|n| (n / jetty_shared::scoring::EDGE_CAPACITY_PARTS * 100.0).min(100.0)),
            "errors": e.errors,
            "errorRate": e.error_rate,
        })).collect::<Vec<_>>(),
        "recentSessions": recent.iter().map(|r| json!({
            "fileId": r.file_id,
            "fileName": r.file_name,
            "size": r.file_size,
            "status": r.status,
            "startedAt": iso8601(r.created_at / 1000),
            "completedAt": r.completed_at.map(|t| iso8601(t / 1000)),
            "edges": serde_json::from_str::<serde_json::Value>(&r.edges_used).unwrap_or_default(),
        })).collect::<Vec<_>>(),
    });
    json_response(200, &answer).map_err(internal)
}
