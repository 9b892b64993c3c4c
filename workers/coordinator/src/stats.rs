//! `GET /api/jetty/stats`: the caller's upload performance, dedup savings, how its parts spread
//! over the edges, the edges' health, and its recent sessions. Volumes are only ever the
//! caller's own; edge health (latency, load, errors) is shared infrastructure.

use crate::upload::transfer_cost;
use jetty_shared::state::iso8601;
use jetty_worker_runtime::*;
use serde::Deserialize;
use serde_json::json;
use wasm_bindgen::JsValue;
use worker::{D1Database, Env, Response};

#[derive(Deserialize)]
struct UserStats {
    uploads: u64,
    bytes: u64,
    avg_duration_seconds: Option<f64>,
    avg_speed_mbps: Option<f64>,
}

#[derive(Deserialize)]
struct DedupStats {
    duplicate_files: u64,
    saved_bytes: u64,
}

#[derive(Deserialize)]
struct EdgeShare {
    edge_id: String,
    parts: u64,
    bytes: u64,
    throughput_mbps: Option<f64>,
    latency_ms: Option<f64>,
    avg_inflight: Option<f64>,
    errors: Option<u64>,
    error_rate: Option<f64>,
}

#[derive(Deserialize)]
struct RecentSession {
    file_id: String,
    file_name: Option<String>,
    file_size: u64,
    status: String,
    created_at: u64,
    completed_at: Option<u64>,
    edges_used: String,
}

async fn rows<T: serde::de::DeserializeOwned>(db: &D1Database, sql: &str, account: &str) -> ApiResult<Vec<T>> {
    db.prepare(sql)
        .bind(&[JsValue::from_str(account)])
        .map_err(internal)?
        .all()
        .await
        .map_err(internal)?
        .results()
        .map_err(internal)
}

pub async fn stats(env: &Env, db: &D1Database, account: &str) -> ApiResult<Response> {
    let user: Option<UserStats> = rows(db, "SELECT * FROM user_upload_stats WHERE account_id = ?1", account)
        .await?
        .into_iter()
        .next();
    let dedup: Option<DedupStats> = rows(db, "SELECT * FROM deduplication_savings WHERE account_id = ?1", account)
        .await?
        .into_iter()
        .next();
    let edges: Vec<EdgeShare> = rows(
        db,
        "SELECT p.edge_id, COUNT(*) AS parts, SUM(p.size) AS bytes, e.throughput_mbps, e.latency_ms, e.avg_inflight, \
         e.errors, e.error_rate FROM upload_parts p JOIN upload_sessions s ON s.id = p.session_id \
         LEFT JOIN edge_performance_24h e ON e.edge_id = p.edge_id \
         WHERE s.account_id = ?1 AND p.recorded_at > (CAST(strftime('%s', 'now') AS INTEGER) - 86400) * 1000 \
         GROUP BY p.edge_id ORDER BY parts DESC, p.edge_id",
        account,
    )
    .await?;
    let recent: Vec<RecentSession> = rows(
        db,
        "SELECT file_id, file_name, file_size, status, created_at, completed_at, edges_used FROM upload_sessions \
         WHERE account_id = ?1 ORDER BY created_at DESC LIMIT 10",
        account,
    )
    .await?;
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
