//! Resumable upload state, derived only from what the coordinator recorded (never from what
//! a client claims), and the client-facing shapes of the session endpoints.

use crate::plan::PartPlan;
use serde::{Deserialize, Serialize};

/// A recorded part with how often it was reported (re-sends count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartTally {
    pub part_number: u32,
    pub size: u64,
    pub reports: u32,
}

/// The seed's state object plus what a resuming client needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadState {
    pub file_id: String,
    pub session_id: String,
    /// `active`, `completed`, `aborted` or `expired`.
    pub status: String,
    pub chunks_uploaded: Vec<u32>,
    pub chunks_remaining: Vec<u32>,
    pub edges: Vec<String>,
    /// Bytes of the file the coordinator holds (distinct recorded parts).
    pub progress: u64,
    pub total: u64,
    pub part_size: u64,
    pub part_count: u32,
    /// `sha256:<hex>` of the whole file as declared, `null` until the client declares it (a
    /// session opened by content id alone gets it at finalize).
    pub file_hash: Option<String>,
    /// The content id the session was opened with (`<hex>-<parts>`), if the client gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_id: Option<String>,
    /// Bytes edges delivered to the store, re-sends included (`progress` ≤ this).
    pub bytes_received: u64,
    /// Seconds since the Unix epoch.
    pub expires_at: u64,
}

pub struct SessionFacts<'a> {
    pub file_id: &'a str,
    pub session_id: &'a str,
    pub status: &'a str,
    pub plan: PartPlan,
    pub edges: Vec<String>,
    /// `''` while undeclared.
    pub file_hash_hex: &'a str,
    pub content_id: Option<&'a str>,
    pub expires_at_secs: u64,
}

/// Derives the resumable state from the session and its recorded parts. Parts outside the
/// plan (which the coordinator never records) are ignored rather than trusted.
pub fn derive_state(facts: SessionFacts<'_>, parts: &[PartTally]) -> UploadState {
    let plan = facts.plan;
    let mut have = vec![false; plan.part_count as usize];
    let mut progress = 0;
    let mut received = 0;
    for p in parts {
        let Some(expected) = plan.part_len(p.part_number) else {
            continue;
        };
        let slot = &mut have[p.part_number as usize - 1];
        if !*slot && p.size == expected {
            *slot = true;
            progress += p.size;
        }
        received += p.size * u64::from(p.reports.max(1));
    }
    let (uploaded, remaining): (Vec<u32>, Vec<u32>) = plan.part_numbers().partition(|n| have[*n as usize - 1]);
    UploadState {
        file_id: facts.file_id.to_owned(),
        session_id: facts.session_id.to_owned(),
        status: facts.status.to_owned(),
        chunks_uploaded: uploaded,
        chunks_remaining: remaining,
        edges: facts.edges,
        progress,
        total: plan.file_size,
        part_size: plan.part_size,
        part_count: plan.part_count,
        file_hash: (!facts.file_hash_hex.is_empty()).then(|| format!("sha256:{}", facts.file_hash_hex)),
        content_id: facts.content_id.map(str::to_owned),
        bytes_received: received,
        expires_at: facts.expires_at_secs,
    }
}

/// `POST /api/jetty/track-upload` actions (the seed's `action` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrackAction {
    Start,
    Progress,
    Complete,
    Fail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackUploadRequest {
    pub action: TrackAction,
    /// The upload; absent on the seed's `start` form, which creates it from the file fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    /// The seed's `start` without a `fileId`: the file to start (as for optimal-edges).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// Client-side progress, informational only (kept in the KV cache, never trusted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_uploaded: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /api/jetty/cache-chunk` (L2 chunk metadata, KV with a TTL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheChunkRequest {
    /// The upload (004's form) …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    /// … or its session (002's form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    pub chunk_index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// 002's `status` (e.g. `completed`), kept as said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// `POST /api/jetty/save-state`: the client's view, kept as a hint; `get-state` answers from D1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SaveStateRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub file_id: String,
    #[serde(default)]
    pub state: serde_json::Value,
}

/// `POST /api/jetty/check-duplicate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckDuplicateRequest {
    pub file_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// 002's example leaves it out: then the hash alone is looked up (among the caller's files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_size: Option<u64>,
    /// The content id under a part plan (`jetty_shared::content_id`); without it only one-part
    /// files are found by `fileHash` (theirs is the only whole-file hash the store verified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DuplicateMatch {
    pub file_id: String,
    pub url: String,
    pub similarity: f64,
    /// Always `exact`: identity is decided by SHA-256 and size, never by similarity.
    #[serde(rename = "type")]
    pub kind: String,
}

/// `POST /api/jetty/resume`: a fresh ticket for an active session plus its recorded state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResumeRequest {
    pub file_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResumeResponse {
    pub upload: crate::protocol::UploadTicket,
    pub edges: Vec<crate::protocol::EdgeInfo>,
    pub state: UploadState,
    /// The store-direct route, when the service offers one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct: Option<crate::protocol::DirectRoute>,
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the Unix epoch (proleptic Gregorian, UTC).
pub fn iso8601(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::MIB;

    fn facts(plan: PartPlan) -> SessionFacts<'static> {
        SessionFacts {
            file_id: "fil_1",
            session_id: "ses_1",
            status: "active",
            plan,
            edges: vec!["sfo-1".into()],
            file_hash_hex: "ab",
            content_id: None,
            expires_at_secs: 99,
        }
    }

    fn tally(n: u32, size: u64, reports: u32) -> PartTally {
        PartTally {
            part_number: n,
            size,
            reports,
        }
    }

    #[test]
    fn state_lists_recorded_and_remaining_parts_from_records_only() {
        let plan = PartPlan {
            file_size: 20 * MIB + 1,
            part_size: 5 * MIB,
            part_count: 5,
        };
        let s = derive_state(facts(plan), &[tally(2, 5 * MIB, 1), tally(5, 1, 1)]);
        assert_eq!(s.chunks_uploaded, vec![2, 5]);
        assert_eq!(s.chunks_remaining, vec![1, 3, 4]);
        assert_eq!((s.progress, s.total), (5 * MIB + 1, 20 * MIB + 1));
        assert_eq!(s.file_hash.as_deref(), Some("sha256:ab"));
    }

    #[test]
    fn resent_parts_count_in_bytes_received_but_not_in_progress() {
        let plan = PartPlan {
            file_size: 10 * MIB,
            part_size: 5 * MIB,
            part_count: 2,
        };
        let s = derive_state(facts(plan), &[tally(1, 5 * MIB, 3)]);
        assert_eq!(s.progress, 5 * MIB);
        assert_eq!(s.bytes_received, 15 * MIB);
    }

    #[test]
    fn parts_outside_the_plan_or_of_the_wrong_size_are_not_progress() {
        let plan = PartPlan {
            file_size: 10 * MIB,
            part_size: 5 * MIB,
            part_count: 2,
        };
        let s = derive_state(facts(plan), &[tally(3, 5 * MIB, 1), tally(1, 4 * MIB, 1)]);
        assert!(s.chunks_uploaded.is_empty());
        assert_eq!(s.progress, 0);
    }

    #[test]
    fn iso8601_formats_known_instants() {
        for (secs, want) in [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_737_885_600, "2025-01-26T10:00:00Z"),
            (4_102_444_799, "2099-12-31T23:59:59Z"),
        ] {
            assert_eq!(iso8601(secs), want);
        }
    }

    #[test]
    fn track_actions_parse_from_the_seed_words() {
        for (word, action) in [
            ("start", TrackAction::Start),
            ("progress", TrackAction::Progress),
            ("complete", TrackAction::Complete),
            ("fail", TrackAction::Fail),
        ] {
            let req: TrackUploadRequest =
                serde_json::from_value(serde_json::json!({"action": word, "fileId": "f"})).unwrap();
            assert_eq!(req.action, action);
        }
        assert!(
            serde_json::from_value::<TrackUploadRequest>(serde_json::json!({"action": "pause", "fileId": "f"}))
                .is_err()
        );
    }
}
