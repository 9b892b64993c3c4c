//! The edge registry, edge measurements and upload patterns.

pub const ACTIVE_EDGES: &str = "SELECT id, url, lat, lng FROM edge_locations WHERE is_active = 1 ORDER BY id";

/// One measurement: `(edge_id, now, kind, ok, latency_ms, bytes, duration_ms, inflight,
/// reporter, dedup_key)`; a repeated dedup key is counted once.
pub const RECORD_EVENT: &str = "INSERT INTO edge_metrics (edge_id, recorded_at, kind, ok, latency_ms, bytes, \
     duration_ms, inflight, reporter, dedup_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
     ON CONFLICT (dedup_key) DO NOTHING";

/// Every edge's events since `?1` (ms), summed for scoring.
pub const WINDOWS: &str = "SELECT edge_id, COUNT(*) AS events, SUM(CASE WHEN ok = 0 THEN 1 ELSE 0 END) AS failures, \
     MAX(recorded_at) AS newest_ms, AVG(CASE WHEN kind = 'probe' AND ok = 1 THEN latency_ms END) AS probe_latency_ms, \
     COALESCE(SUM(CASE WHEN kind = 'part' THEN bytes END), 0) AS part_bytes, \
     COALESCE(SUM(CASE WHEN kind = 'part' THEN duration_ms END), 0.0) AS part_ms, \
     (SELECT m2.inflight FROM edge_metrics m2 WHERE m2.edge_id = m.edge_id AND m2.kind = 'part' \
      AND m2.recorded_at > ?1 ORDER BY m2.recorded_at DESC, m2.id DESC LIMIT 1) AS inflight, \
     (SELECT m3.ok FROM edge_metrics m3 WHERE m3.edge_id = m.edge_id AND m3.kind IN ('probe', 'failure') \
      ORDER BY m3.recorded_at DESC, m3.id DESC LIMIT 1) AS newest_ok \
     FROM edge_metrics m WHERE recorded_at > ?1 GROUP BY edge_id";

/// `(before_ms)`.
pub const PRUNE: &str = "DELETE FROM edge_metrics WHERE recorded_at < ?1";

/// Recomputes `upload_patterns` from the completed sessions since `?1`: slots with more than
/// `?2` uploads, with the (up to) three edges that carried most of their parts; `?3` = now.
pub const RECOMPUTE_PATTERNS: [&str; 2] = [
    "DELETE FROM upload_patterns",
    "INSERT INTO upload_patterns (account_id, hour, day_of_week, avg_file_size, upload_count, typical_edges, \
     updated_at) SELECT s.account_id, CAST(strftime('%H', s.created_at / 1000, 'unixepoch') AS INTEGER) AS hour, \
     CAST(strftime('%w', s.created_at / 1000, 'unixepoch') AS INTEGER) AS dow, \
     CAST(AVG(s.file_size) AS INTEGER), COUNT(*), \
     (SELECT json_group_array(edge_id) FROM (SELECT p.edge_id FROM upload_parts p \
       JOIN upload_sessions s2 ON s2.id = p.session_id \
       WHERE s2.account_id = s.account_id AND s2.created_at > ?1 \
       AND CAST(strftime('%H', s2.created_at / 1000, 'unixepoch') AS INTEGER) = \
           CAST(strftime('%H', s.created_at / 1000, 'unixepoch') AS INTEGER) \
       GROUP BY p.edge_id ORDER BY COUNT(*) DESC, p.edge_id LIMIT 3)), ?3 \
     FROM upload_sessions s WHERE s.created_at > ?1 AND s.status = 'completed' \
     GROUP BY s.account_id, hour, dow HAVING COUNT(*) > ?2",
];

/// The distinct edges typical of the patterns of a UTC hour and day of week: `(hour, dow)`.
pub const PATTERN_EDGES: &str = "SELECT DISTINCT j.value AS edge_id FROM upload_patterns u, \
     json_each(u.typical_edges) j WHERE u.hour = ?1 AND u.day_of_week = ?2 ORDER BY edge_id";

/// `(account_id)`.
pub const PATTERNS_FOR: &str = "SELECT hour, day_of_week, avg_file_size, upload_count, typical_edges, updated_at \
     FROM upload_patterns WHERE account_id = ?1 ORDER BY day_of_week, hour";
