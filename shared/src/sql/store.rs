//! The object store's health record (`store_events`, migration 0010).

/// `(now, ok, kind, reporter, latency_ms)`.
pub const RECORD: &str =
    "INSERT INTO store_events (recorded_at, ok, kind, reporter, latency_ms) VALUES (?1, ?2, ?3, ?4, ?5)";

/// Since `?1` (ms): failures, probes that succeeded, the newest probe's time and result.
pub const HEALTH: &str = "SELECT SUM(CASE WHEN ok = 0 THEN 1 ELSE 0 END) AS failures, \
     SUM(CASE WHEN kind = 'probe' AND ok = 1 THEN 1 ELSE 0 END) AS probes_ok, \
     (SELECT recorded_at FROM store_events WHERE kind = 'probe' ORDER BY recorded_at DESC, id DESC LIMIT 1) \
       AS last_probe_at, \
     (SELECT ok FROM store_events WHERE kind = 'probe' ORDER BY recorded_at DESC, id DESC LIMIT 1) AS last_probe_ok, \
     (SELECT recorded_at FROM store_events WHERE ok = 0 ORDER BY recorded_at DESC, id DESC LIMIT 1) \
       AS last_failure_at \
     FROM store_events WHERE recorded_at > ?1";

/// `(before_ms)`.
pub const PRUNE: &str = "DELETE FROM store_events WHERE recorded_at < ?1";
