//! The SQL statements whose effects the schema's triggers build on (migration 0007): a part
//! report and a session's completion. The coordinator runs them on D1; `tests/views.rs` runs
//! the very same text on SQLite, so the recorded figures are tested as production makes them.

/// Record a part: `(session_id, part_number, size, sha256, etag, edge_id, recorded_at)`. A
/// re-sent part replaces the record (S3 keeps the latest too) and counts one more report.
pub const UPSERT_PART: &str = "INSERT INTO upload_parts (session_id, part_number, size, sha256, etag, edge_id, \
     recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
     ON CONFLICT (session_id, part_number) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256, \
     etag = excluded.etag, edge_id = excluded.edge_id, recorded_at = excluded.recorded_at, \
     reports = upload_parts.reports + 1";

/// Complete a session: `(session_id, completed_at, put_bytes, put_chunks)`, where `put_bytes`
/// were stored by the coordinator in one PutObject (simple upload) rather than as reported
/// parts. Only the first completion counts.
pub const COMPLETE_SESSION: &str = "UPDATE upload_sessions SET status = 'completed', completed_at = ?2, \
     chunks_completed = chunks_completed + ?4, bytes_uploaded = bytes_uploaded + ?3, \
     bytes_transferred = bytes_transferred + ?3 WHERE id = ?1 AND status <> 'completed'";
