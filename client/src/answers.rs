//! Typed answers of the account and file endpoints (stats, quota, delete, abort, provision),
//! with the field names the coordinator sends. Fields a newer server adds are ignored, and a
//! missing or `null` field reads as its default, so an older or newer server still parses.

use jetty_shared::quota::QuotaLine;
use serde::{Deserialize, Deserializer, Serialize};

/// `GET /api/jetty/stats`: one account's numbers (`scope` "account"), or the whole fleet's
/// with the admin key (`scope` "all", with `accounts`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Stats {
    /// "account" or "all".
    pub scope: String,
    /// The account read; `None` for "all".
    pub account: Option<String>,
    /// MB/s (10^6 bytes); `None` before the first non-empty upload.
    pub avg_speed_mbps: Option<f64>,
    pub avg_duration_seconds: Option<f64>,
    pub uploads: u64,
    pub bytes: u64,
    /// Body bytes the edges received, retries included.
    pub bytes_transferred: u64,
    pub chunks: u64,
    pub estimated_cost: f64,
    pub actual_cost: f64,
    pub dedup: DedupStats,
    /// How parts spread over the edges (24 hours), with the edges' health.
    pub edges: Vec<EdgeStats>,
    pub recent_sessions: Vec<RecentSession>,
    /// Only with the admin key and no `account`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accounts: Option<Vec<AccountSummary>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DedupStats {
    pub files: u64,
    pub saved_bytes: u64,
    pub saved_cost: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EdgeStats {
    pub id: String,
    pub parts: u64,
    pub bytes: u64,
    /// This edge's fraction of the parts in scope.
    pub share: f64,
    pub throughput_mbps: Option<f64>,
    pub latency_ms: Option<f64>,
    /// Percent of capacity.
    pub load: Option<f64>,
    pub errors: Option<u64>,
    pub error_rate: Option<f64>,
}

/// A session's performance record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RecentSession {
    pub account_id: String,
    pub file_id: String,
    pub file_name: Option<String>,
    pub size: u64,
    pub status: String,
    /// ISO 8601.
    pub started_at: String,
    pub completed_at: Option<String>,
    /// The edges planned.
    #[serde(deserialize_with = "null_as_default")]
    pub edges: Vec<String>,
    /// The edges that carried its parts.
    #[serde(deserialize_with = "null_as_default")]
    pub edges_carried: Vec<String>,
    pub chunks_total: u64,
    pub chunks_completed: u64,
    pub bytes_uploaded: u64,
    pub bytes_transferred: u64,
    pub duration_seconds: Option<f64>,
    pub avg_speed_mbps: Option<f64>,
    pub estimated_seconds: Option<f64>,
    pub estimated_cost: Option<f64>,
    pub actual_cost: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AccountSummary {
    pub id: String,
    pub name: String,
    pub tier: String,
    pub uploads: u64,
    pub bytes: u64,
    pub avg_speed_mbps: Option<f64>,
    pub dedup_saved_bytes: u64,
}

/// `GET /api/agentcache/quota` (snake_case, as the seed answered).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quota {
    pub storage: QuotaLine,
    /// Bytes reserved by uploads in progress.
    #[serde(default)]
    pub storage_in_progress_bytes: u64,
    pub bandwidth: QuotaLine,
    /// `YYYY-MM`, the month bandwidth is counted in.
    #[serde(default)]
    pub bandwidth_period: String,
    #[serde(default)]
    pub tier: String,
    #[serde(default)]
    pub jetty_speed_enabled: bool,
}

/// `DELETE /api/files/:id`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Deleted {
    pub deleted: bool,
    pub file_id: String,
    /// Whether the stored object went too (no deduplicated copy still uses it).
    pub object_deleted: bool,
    /// Edges asked to drop their cached copy.
    pub edges_purged: u64,
}

/// `DELETE /api/jetty/uploads/:id`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Aborted {
    pub ok: bool,
    pub file_id: String,
    /// The session's status now ("aborted", or how it had already closed).
    pub status: String,
}

/// `POST /api/webhooks/jettythunder/provision` (snake_case).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Provisioned {
    pub success: bool,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    pub credentials: Credentials,
}

/// A provisioned storage account. The key and secret are only in the answer that created
/// the account (and in answers replayed from it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Credentials {
    pub tier: String,
    pub storage_quota_gb: f64,
    pub bandwidth_quota_gb: f64,
    pub jetty_speed_enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_secret: Option<String>,
    pub s3_bucket: String,
    pub s3_prefix: String,
    /// ISO 8601.
    pub provisioned_at: Option<String>,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stats_parse_with_nulls_and_unknown_fields() {
        let answer = json!({
            "scope": "all", "account": null, "avgSpeedMbps": 12.5, "avgDurationSeconds": null,
            "uploads": 2, "bytes": 9437184, "bytesTransferred": 9437184, "chunks": 3,
            "estimatedCost": 0.0, "actualCost": 0.0001,
            "dedup": {"files": 1, "savedBytes": 5, "savedCost": 0.0},
            "edges": [{"id": "e1", "parts": 3, "bytes": 9, "share": 1.0, "throughputMbps": null,
                       "latencyMs": 4.0, "load": null, "errors": 0, "errorRate": null}],
            "recentSessions": [{"accountId": "acc", "fileId": "fil", "fileName": null, "size": 7,
                "status": "completed", "startedAt": "2025-01-01T00:00:00Z", "completedAt": null,
                "edges": ["e1"], "edgesCarried": null, "chunksTotal": 1, "chunksCompleted": 1,
                "bytesUploaded": 7, "bytesTransferred": 7, "durationSeconds": 0.5,
                "avgSpeedMbps": null, "estimatedSeconds": 0.0, "estimatedCost": null,
                "actualCost": null, "somethingNew": true}],
            "accounts": [{"id": "acc", "name": "n", "tier": "pro", "uploads": 2, "bytes": 9,
                          "avgSpeedMbps": null, "dedupSavedBytes": 0}],
            "alsoNew": {"x": 1},
        });
        let st: Stats = serde_json::from_value(answer).unwrap();
        assert_eq!((st.scope.as_str(), st.uploads, st.chunks), ("all", 2, 3));
        assert_eq!(st.edges[0].latency_ms, Some(4.0));
        assert_eq!(st.recent_sessions[0].edges, ["e1"]);
        assert!(st.recent_sessions[0].edges_carried.is_empty());
        assert_eq!(st.accounts.unwrap()[0].tier, "pro");
    }

    #[test]
    fn the_other_answers_parse_with_the_servers_field_names() {
        let q: Quota = serde_json::from_value(json!({
            "storage": {"used_gb": 0.006, "quota_gb": 20.0, "percent": 0.0, "used_bytes": 6291457, "quota_bytes": 21474836480u64},
            "storage_in_progress_bytes": 0,
            "bandwidth": {"used_gb": 0.0, "quota_gb": 100.0, "percent": 0.0, "used_bytes": 0, "quota_bytes": 107374182400u64},
            "bandwidth_period": "2025-01", "tier": "pro", "jetty_speed_enabled": true,
        }))
        .unwrap();
        assert_eq!(
            (q.storage.used_bytes, q.tier.as_str(), q.jetty_speed_enabled),
            (6291457, "pro", true)
        );
        let d: Deleted = serde_json::from_value(
            json!({"deleted": true, "fileId": "fil_1", "objectDeleted": false, "edgesPurged": 3}),
        )
        .unwrap();
        assert_eq!((d.object_deleted, d.edges_purged), (false, 3));
        assert_eq!(serde_json::to_value(&d).unwrap()["objectDeleted"], false);
        let a: Aborted = serde_json::from_value(json!({"ok": true, "fileId": "fil_1", "status": "aborted"})).unwrap();
        assert_eq!(a.status, "aborted");
        let p: Provisioned = serde_json::from_value(json!({
            "success": true, "message": "JettyThunder storage account created",
            "credentials": {"tier": "pro", "storage_quota_gb": 20, "bandwidth_quota_gb": 100,
                "jetty_speed_enabled": true, "api_key": "jt_live_x", "api_secret": "secret_y",
                "s3_bucket": "b", "s3_prefix": "users/u/", "provisioned_at": null},
        }))
        .unwrap();
        assert_eq!(p.credentials.api_key.as_deref(), Some("jt_live_x"));
        assert_eq!(p.credentials.storage_quota_gb, 20.0);
        // An already provisioned account answers without the key.
        let again: Provisioned =
            serde_json::from_value(json!({"success": true, "message": "m", "credentials": {"tier": "pro"}})).unwrap();
        assert_eq!(again.credentials.api_key, None);
    }
}
