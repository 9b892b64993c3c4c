//! Upload sessions and their parts. Placeholders are documented per statement.

/// Columns read into a session row (`jetty_core::db::SessionRow`).
pub const SESSION_COLUMNS: &str = "id, account_id, file_id, file_name, content_type, file_hash, file_size, \
     part_size, part_count, object_key, s3_upload_id, status, expires_at, edges_used, finalize_claimed_until, content_id";

/// An account's storage in use: distinct objects of its files (a dedup clone costs nothing)
/// plus the reservations of its open sessions. `?1` account, `?2` now (ms).
const STORAGE_IN_USE: &str = "(SELECT COALESCE(SUM(size), 0) FROM (SELECT MAX(size) AS size FROM files \
     WHERE account_id = ?1 GROUP BY object_key)) + (SELECT COALESCE(SUM(file_size), 0) FROM upload_sessions \
     WHERE account_id = ?1 AND status = 'active' AND expires_at > ?2)";

/// `(account, now)` → `stored`, `reserved`.
pub const STORAGE_USE: &str = "SELECT (SELECT COALESCE(SUM(size), 0) FROM (SELECT MAX(size) AS size FROM files \
     WHERE account_id = ?1 GROUP BY object_key)) AS stored, (SELECT COALESCE(SUM(file_size), 0) FROM upload_sessions \
     WHERE account_id = ?1 AND status = 'active' AND expires_at > ?2) AS reserved";

/// Inserts a session only if its file fits the account's storage quota, in one statement, so
/// concurrent sessions cannot together overrun it: `(account, created_at, id, file_id,
/// file_name, content_type, file_hash, file_size, part_size, part_count, threads, object_key,
/// s3_upload_id, edges_used, expires_at, quota_bytes, estimated_seconds, estimated_cost,
/// price_per_gb, content_id, live_since)`. With a content id, also only while no live session
/// of the account uploads the same content (as [`in_flight`] finds it), so racing uploads of
/// one content open one session.
pub fn insert_within_quota() -> String {
    format!(
        "INSERT INTO upload_sessions (account_id, id, file_id, file_name, content_type, file_hash, file_size, \
         part_size, part_count, threads, object_key, s3_upload_id, edges_used, status, created_at, expires_at, \
         estimated_seconds, estimated_cost, price_per_gb, content_id) \
         SELECT ?1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, 'active', ?2, ?15, ?17, ?18, ?19, ?20 \
         WHERE {STORAGE_IN_USE} + ?8 <= ?16 AND (?20 IS NULL OR NOT EXISTS (SELECT 1 FROM upload_sessions s \
         WHERE s.account_id = ?1 AND s.content_id = ?20 AND s.file_size = ?8 AND s.expires_at > ?2 \
         AND {}))",
        live("?21")
    )
}

/// Session `s` is active and started, or recorded a part, after the time in placeholder `since`.
fn live(since: &str) -> String {
    format!(
        "s.status = 'active' AND (s.created_at > {since} OR EXISTS \
         (SELECT 1 FROM upload_parts p WHERE p.session_id = s.id AND p.recorded_at > {since}))"
    )
}

/// The account's open session for the same content that is still moving: started, or sent a
/// part, since `live_since` (an abandoned one does not hold others back):
/// `(account_id, content_id, file_size, now, live_since)` → `file_id`.
pub fn in_flight() -> String {
    format!(
        "SELECT s.file_id FROM upload_sessions s WHERE s.account_id = ?1 AND s.content_id = ?2 \
         AND s.file_size = ?3 AND s.expires_at > ?4 AND {} ORDER BY s.created_at LIMIT 1",
        live("?5")
    )
}

/// A page of the account's open sessions, newest first, with the parts recorded so far:
/// `(account_id, now, name prefix | '', file_hash | '', after_created_at | NULL, after_id, limit,
/// content_id | '')`.
pub const LIST_OPEN: &str =
    "SELECT s.id AS session_id, s.file_id, s.file_name, s.content_type, s.file_hash, s.content_id, \
     s.file_size, s.part_size, s.part_count, s.created_at, s.expires_at, \
     (SELECT COUNT(*) FROM upload_parts p WHERE p.session_id = s.id) AS parts_done, \
     (SELECT COALESCE(SUM(p.size), 0) FROM upload_parts p WHERE p.session_id = s.id) AS bytes_received \
     FROM upload_sessions s WHERE s.account_id = ?1 AND s.status = 'active' AND s.expires_at > ?2 \
     AND (?3 = '' OR substr(s.file_name, 1, length(?3)) = ?3) AND (?4 = '' OR s.file_hash = ?4) \
     AND (?8 = '' OR s.content_id = ?8) \
     AND (?5 IS NULL OR s.created_at < ?5 OR (s.created_at = ?5 AND s.id < ?6)) \
     ORDER BY s.created_at DESC, s.id DESC LIMIT ?7";

/// Declares the whole-file hash of a session opened without one (`file_hash` is `''` until
/// then): `(session_id, file_hash)`. A declared hash is never replaced.
pub const DECLARE_FILE_HASH: &str = "UPDATE upload_sessions SET file_hash = ?2 WHERE id = ?1 AND file_hash = ''";

/// Records the content id of an active session opened without one (`content_id` is NULL until
/// then), unless another live session of the account uploads the same content (as
/// [`in_flight`] finds it), so racing uploads of one content keep one sending: `(session_id,
/// content_id, account_id, file_size, now, live_since)`. A recorded id is never replaced.
pub fn declare_content_id() -> String {
    format!(
        "UPDATE upload_sessions SET content_id = ?2 WHERE id = ?1 AND content_id IS NULL AND status = 'active' \
         AND NOT EXISTS (SELECT 1 FROM upload_sessions s WHERE s.account_id = ?3 AND s.content_id = ?2 \
         AND s.file_size = ?4 AND s.expires_at > ?5 AND s.id != ?1 AND {})",
        live("?6")
    )
}

/// `(session_id, upload_id)`.
pub const SET_UPLOAD_ID: &str = "UPDATE upload_sessions SET s3_upload_id = ?2 WHERE id = ?1";

/// `(session_id)`.
pub fn by_id() -> String {
    format!("SELECT {SESSION_COLUMNS} FROM upload_sessions WHERE id = ?1")
}

/// `(file_id, account_id)`: tenant isolation in the query.
pub fn by_file() -> String {
    format!("SELECT {SESSION_COLUMNS} FROM upload_sessions WHERE file_id = ?1 AND account_id = ?2")
}

/// Active sessions past their expiry, oldest first: `(now, limit)`.
pub fn expired() -> String {
    format!(
        "SELECT {SESSION_COLUMNS} FROM upload_sessions WHERE status = 'active' AND expires_at <= ?1 \
         ORDER BY expires_at LIMIT ?2"
    )
}

/// `(session_id)`.
pub const PARTS: &str = "SELECT part_number, size, sha256, etag, edge_id FROM upload_parts WHERE session_id = ?1 \
     ORDER BY part_number";

/// `(session_id)`.
pub const PART_TALLIES: &str =
    "SELECT part_number, size, reports FROM upload_parts WHERE session_id = ?1 ORDER BY part_number";

/// The file row a completed session leaves: `(file_id, account_id, session_id, name,
/// content_type, size, sha256, object_key, created_at, content_id)`. Only the first one lands.
pub const INSERT_FILE: &str = "INSERT INTO files (id, account_id, session_id, name, content_type, size, sha256, \
     object_key, created_at, content_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (id) DO NOTHING";

/// Marks an active session closed: `(session_id, status, reason, now)`.
pub const CLOSE: &str = "UPDATE upload_sessions SET status = ?2, abort_reason = ?3, completed_at = ?4 \
     WHERE id = ?1 AND status = 'active'";

/// `(session_id, now)`.
pub const MARK_STARTED: &str = "UPDATE upload_sessions SET started_at = COALESCE(started_at, ?2) WHERE id = ?1";
