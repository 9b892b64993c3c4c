-- The seeds' analytics views. Durations run from the session's start (track-upload `start`, else
-- its creation) to its completion; speeds are MB/s (10^6 bytes).

CREATE VIEW user_upload_stats AS
SELECT
  s.account_id,
  COUNT(*) AS uploads,
  COALESCE(SUM(s.file_size), 0) AS bytes,
  AVG((s.completed_at - COALESCE(s.started_at, s.created_at)) / 1000.0) AS avg_duration_seconds,
  AVG(s.file_size / 1e6 / MAX((s.completed_at - COALESCE(s.started_at, s.created_at)) / 1000.0, 0.001)) AS avg_speed_mbps,
  MAX(s.completed_at) AS last_upload_at
FROM upload_sessions s
WHERE s.status = 'completed' AND s.file_size > 0
GROUP BY s.account_id;

CREATE VIEW deduplication_savings AS
SELECT
  f.account_id,
  COUNT(*) AS duplicate_files,
  COALESCE(SUM(f.size), 0) AS saved_bytes
FROM files f
WHERE f.deduplicated_from IS NOT NULL
GROUP BY f.account_id;

CREATE VIEW edge_performance_24h AS
SELECT
  m.edge_id,
  SUM(CASE WHEN m.kind = 'part' THEN 1 ELSE 0 END) AS parts,
  COALESCE(SUM(CASE WHEN m.kind = 'part' THEN m.bytes END), 0) AS bytes,
  CASE WHEN SUM(CASE WHEN m.kind = 'part' THEN m.duration_ms END) > 0
       THEN SUM(CASE WHEN m.kind = 'part' THEN m.bytes END) * 8.0
            / (SUM(CASE WHEN m.kind = 'part' THEN m.duration_ms END) / 1000.0) / 1e6
  END AS throughput_mbps,
  AVG(CASE WHEN m.kind = 'probe' AND m.ok = 1 THEN m.latency_ms END) AS latency_ms,
  AVG(CASE WHEN m.kind = 'part' THEN m.inflight END) AS avg_inflight,
  SUM(CASE WHEN m.ok = 0 THEN 1 ELSE 0 END) AS errors,
  1.0 * SUM(CASE WHEN m.ok = 0 THEN 1 ELSE 0 END) / COUNT(*) AS error_rate
FROM edge_metrics m
WHERE m.recorded_at > (CAST(strftime('%s', 'now') AS INTEGER) - 86400) * 1000
GROUP BY m.edge_id;
