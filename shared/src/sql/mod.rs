//! Every SQL statement the coordinator runs, one place for each text. The coordinator's core
//! (`jetty-core`) runs them on D1 in production and on SQLite in its native tests, and
//! `tests/views.rs` runs the analytics texts on SQLite, so what they record and return is tested
//! as production makes it. Submodules group the statements by aggregate; the part report, a
//! session's completion (the schema's triggers build on them, 0007), the finalize claim (0009)
//! and the analytics queries are here.

pub mod accounts;
pub mod edges;
pub mod files;
pub mod idempotency;
pub mod sessions;
pub mod store;

/// The `edge_id` of a part recorded from the store's own listing before its forwarder's report
/// arrived (finalize overtook the report). `UPSERT_PART` names it in its text.
pub const STORE_LISTED: &str = "store-listed";

/// The insert both part records share, `(session_id, part_number, size, sha256, etag, edge_id,
/// recorded_at)`, replacing a record already there; each adds how it counts `reports` (the
/// count 0007's trigger turns into transferred bytes).
macro_rules! record_part {
    ($($reports:literal),+) => {
        concat!(
            "INSERT INTO upload_parts (session_id, part_number, size, sha256, etag, edge_id, recorded_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
             ON CONFLICT (session_id, part_number) DO UPDATE SET size = excluded.size, \
             sha256 = excluded.sha256, etag = excluded.etag, edge_id = excluded.edge_id, \
             recorded_at = excluded.recorded_at, ",
            $($reports),+
        )
    };
}

/// Record a part a forwarder reported. A re-sent part replaces the record (S3 keeps the latest
/// too) and counts one more report — except the report of the very upload a listing recorded
/// already (`STORE_LISTED`, same ETag): it names the edge, but its bytes moved once.
pub const UPSERT_PART: &str = record_part!(
    "reports = upload_parts.reports + CASE WHEN upload_parts.edge_id = 'store-listed' \
     AND upload_parts.etag IS excluded.etag THEN 0 ELSE 1 END"
);

/// Record a part as the store lists it (ListParts: the store-direct route, finalize's
/// unreported parts). Listing again what is recorded already (a request repeated after its
/// answer was lost, a listing racing the edge's report) changes nothing — no report counted, no
/// bytes — only other bytes in the store replace the record.
pub const UPSERT_LISTED_PART: &str = record_part!(
    "reports = upload_parts.reports + 1 \
     WHERE upload_parts.sha256 IS NOT excluded.sha256 OR upload_parts.etag IS NOT excluded.etag \
     OR upload_parts.size IS NOT excluded.size"
);

/// Record a part the store copied from an earlier upload (UploadPartCopy): `(session_id,
/// part_number, size, sha256, etag, edge_id, recorded_at)`. It costs no transfer (0013's
/// trigger); a record already there is replaced, as the copy replaced the part in the store.
pub const UPSERT_COPIED_PART: &str = "INSERT INTO upload_parts (session_id, part_number, size, sha256, etag, edge_id, \
     recorded_at, copied) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1) \
     ON CONFLICT (session_id, part_number) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256, \
     etag = excluded.etag, edge_id = excluded.edge_id, recorded_at = excluded.recorded_at, copied = 1";

/// Where the account already stores parts with these SHA-256 digests: parts of its completed
/// uploads whose file it still has, `(account_id, digests as a JSON array of hex)` →
/// `sha256`, `size`, `object_key`, `offset` (bytes into the object). One row per digest and size.
pub const REUSABLE_PARTS: &str = "SELECT p.sha256, p.size, f.object_key, (p.part_number - 1) * s.part_size AS offset \
     FROM upload_parts p JOIN upload_sessions s ON s.id = p.session_id \
     JOIN files f ON f.session_id = s.id AND f.account_id = s.account_id \
     WHERE p.sha256 IN (SELECT value FROM json_each(?2)) AND s.account_id = ?1 AND s.status = 'completed' \
     GROUP BY p.sha256, p.size";

/// Complete a session: `(session_id, completed_at, put_bytes, put_chunks)`, where `put_bytes`
/// were stored by the coordinator in one PutObject (simple upload) rather than as reported
/// parts. Only the first completion counts.
pub const COMPLETE_SESSION: &str = "UPDATE upload_sessions SET status = 'completed', completed_at = ?2, \
     chunks_completed = chunks_completed + ?4, bytes_uploaded = bytes_uploaded + ?3, \
     bytes_transferred = bytes_transferred + ?3 WHERE id = ?1 AND status <> 'completed'";

/// Claim the right to complete a session in S3: `(session_id, now_ms, claimed_until_ms)`. One
/// change means this caller holds the claim; none means the session is not active or another
/// caller's unexpired claim stands. Only the holder sends CompleteMultipartUpload: concurrent
/// Completes of one upload get store-specific errors (404, InvalidPart, "no data").
pub const CLAIM_FINALIZE: &str = "UPDATE upload_sessions SET finalize_claimed_until = ?3 \
     WHERE id = ?1 AND status = 'active' \
     AND (finalize_claimed_until IS NULL OR finalize_claimed_until <= ?2)";

/// Give a claim back after a failed attempt, so a retry need not wait for it to lapse:
/// `(session_id, claimed_until_ms)`; a later claim (another value) is left alone.
pub const RELEASE_FINALIZE: &str = "UPDATE upload_sessions SET finalize_claimed_until = NULL \
     WHERE id = ?1 AND finalize_claimed_until = ?2";

// --- Analytics queries (`/api/jetty/stats`). Each reads one account (`?1` bound to its id) or,
// with `every_account`, all of them (`?1` bound to NULL). The schema tests run these texts on
// SQLite for their results and their query plans (no full scans on the per-account path).

/// How far back the stats' edge table looks, as SQL milliseconds.
const DAY_AGO_MS: &str = "(CAST(strftime('%s', 'now') AS INTEGER) - 86400) * 1000";

fn scope(column: &str, every_account: bool) -> String {
    if every_account {
        "?1 IS NULL".to_owned()
    } else {
        format!("{column} = ?1")
    }
}

/// Rows of `user_upload_stats` in scope.
pub fn upload_totals(every_account: bool) -> String {
    format!(
        "SELECT * FROM user_upload_stats WHERE {}",
        scope("account_id", every_account)
    )
}

/// Duplicate files and the bytes they did not move, summed over the scope.
pub fn dedup_totals(every_account: bool) -> String {
    format!(
        "SELECT COALESCE(SUM(duplicate_files), 0) AS duplicate_files, COALESCE(SUM(saved_bytes), 0) AS saved_bytes \
         FROM deduplication_savings WHERE {}",
        scope("account_id", every_account)
    )
}

/// Recompute `edge_performance_snapshot` from the `edge_performance_24h` view, in one batch
/// (`?1` = now, ms). Run by the minute job.
pub const REFRESH_EDGE_SNAPSHOT: [&str; 2] = [
    "DELETE FROM edge_performance_snapshot",
    "INSERT INTO edge_performance_snapshot (edge_id, parts, bytes, throughput_mbps, latency_ms, avg_inflight, \
     errors, error_rate, computed_at) SELECT edge_id, parts, bytes, throughput_mbps, latency_ms, avg_inflight, \
     errors, error_rate, ?1 FROM edge_performance_24h",
];

/// Parts per edge over 24 hours in scope, with the edges' shared health figures (the minute
/// job's snapshot, at most a minute old). A part is
/// recorded before its session expires (give or take one forward in flight), so sessions that
/// expired more than 25 hours ago are skipped by index.
pub fn edge_shares(every_account: bool) -> String {
    format!(
        "SELECT p.edge_id, COUNT(*) AS parts, SUM(p.size) AS bytes, e.throughput_mbps, e.latency_ms, \
         e.avg_inflight, e.errors, e.error_rate FROM upload_parts p JOIN upload_sessions s ON s.id = p.session_id \
         LEFT JOIN edge_performance_snapshot e ON e.edge_id = p.edge_id \
         WHERE {} AND s.expires_at > {DAY_AGO_MS} - 3600000 AND p.recorded_at > {DAY_AGO_MS} \
         GROUP BY p.edge_id ORDER BY parts DESC, p.edge_id",
        scope("s.account_id", every_account)
    )
}

/// The newest sessions in scope with their performance records and the edges that carried
/// their parts.
pub fn recent_sessions(every_account: bool, limit: u32) -> String {
    format!(
        "SELECT account_id, file_id, file_name, file_size, status, created_at, completed_at, edges_used, \
         (SELECT json_group_array(edge_id) FROM (SELECT DISTINCT edge_id FROM upload_parts p \
           WHERE p.session_id = s.id ORDER BY edge_id)) AS edges_carried, \
         part_count, chunks_completed, bytes_uploaded, bytes_transferred, duration_ms, avg_speed_mbps, \
         estimated_seconds, estimated_cost, actual_cost FROM upload_sessions s \
         WHERE {} ORDER BY created_at DESC LIMIT {limit}",
        scope("account_id", every_account)
    )
}

/// Operators' table: every account with its totals, largest first (a whole-fleet aggregate).
pub fn account_summaries(limit: u32) -> String {
    format!(
        "SELECT a.id, a.name, a.tier, COALESCE(u.uploads, 0) AS uploads, COALESCE(u.bytes, 0) AS bytes, \
         u.avg_speed_mbps, COALESCE(d.saved_bytes, 0) AS saved_bytes FROM accounts a \
         LEFT JOIN user_upload_stats u ON u.account_id = a.id \
         LEFT JOIN deduplication_savings d ON d.account_id = a.id \
         ORDER BY bytes DESC, a.id LIMIT {limit}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_part_upsert_names_the_listed_parts_edge_by_its_constant() {
        assert!(UPSERT_PART.contains(&format!("edge_id = '{STORE_LISTED}'")));
    }
}
