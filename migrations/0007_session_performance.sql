-- Every session records its performance, as in the seeds' `upload_sessions`: progress
-- (chunks and bytes), duration and average speed, estimated and actual cost. Triggers keep
-- them, so every path that records a part or completes a session (multipart finalize, simple
-- upload, finalize recovery) records the same figures and none can forget to.
--
-- bytes_uploaded    bytes of the distinct parts received (progress; a re-sent part counts once)
-- bytes_transferred every accepted part upload, re-sends included (what the transfer cost)
-- duration_ms       completion − start (track-upload `start`, else the session's creation), ≥ 0
-- avg_speed_mbps    file_size / duration in MB/s (10^6 bytes); NULL for an empty file
-- estimated_*       the strategy answered at optimal-edges, at the session's price_per_gb
-- actual_cost       bytes_transferred at price_per_gb (re-sent parts cost again)

ALTER TABLE upload_sessions ADD COLUMN chunks_completed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE upload_sessions ADD COLUMN bytes_uploaded INTEGER NOT NULL DEFAULT 0;
ALTER TABLE upload_sessions ADD COLUMN bytes_transferred INTEGER NOT NULL DEFAULT 0;
ALTER TABLE upload_sessions ADD COLUMN duration_ms INTEGER;
ALTER TABLE upload_sessions ADD COLUMN avg_speed_mbps REAL;
ALTER TABLE upload_sessions ADD COLUMN estimated_seconds REAL;
ALTER TABLE upload_sessions ADD COLUMN estimated_cost REAL;
ALTER TABLE upload_sessions ADD COLUMN actual_cost REAL;
ALTER TABLE upload_sessions ADD COLUMN price_per_gb REAL;

-- An upsert that finds the part takes the UPDATE path and fires only the UPDATE trigger.
CREATE TRIGGER upload_parts_progress_insert AFTER INSERT ON upload_parts
BEGIN
  UPDATE upload_sessions
     SET chunks_completed = chunks_completed + 1,
         bytes_uploaded = bytes_uploaded + NEW.size,
         bytes_transferred = bytes_transferred + NEW.size
   WHERE id = NEW.session_id;
END;

-- Only a re-sent part (its report count going up) moves bytes; other updates of a part
-- record (maintenance, migrations) leave the counters alone.
CREATE TRIGGER upload_parts_progress_update AFTER UPDATE OF reports ON upload_parts
WHEN NEW.reports > OLD.reports
BEGIN
  UPDATE upload_sessions
     SET bytes_uploaded = bytes_uploaded - OLD.size + NEW.size,
         bytes_transferred = bytes_transferred + NEW.size
   WHERE id = NEW.session_id;
END;

CREATE TRIGGER upload_sessions_performance AFTER UPDATE OF status ON upload_sessions
WHEN NEW.status = 'completed' AND OLD.status <> 'completed' AND NEW.completed_at IS NOT NULL
BEGIN
  UPDATE upload_sessions
     SET duration_ms = MAX(NEW.completed_at - COALESCE(NEW.started_at, NEW.created_at), 0),
         avg_speed_mbps = CASE WHEN NEW.file_size > 0
           THEN NEW.file_size / 1e6 / (MAX(NEW.completed_at - COALESCE(NEW.started_at, NEW.created_at), 1) / 1000.0)
         END,
         actual_cost = ROUND(NEW.bytes_transferred / 1e9 * NEW.price_per_gb, 4)
   WHERE id = NEW.id;
END;

-- Sessions recorded before this migration: progress from their parts (re-sends from the
-- report counts), performance from their timestamps, costs at the default $0.10/GB.
UPDATE upload_sessions
   SET price_per_gb = 0.10,
       estimated_cost = ROUND(file_size / 1e9 * 0.10, 4),
       chunks_completed = (SELECT COUNT(*) FROM upload_parts p WHERE p.session_id = upload_sessions.id),
       bytes_uploaded = (SELECT COALESCE(SUM(size), 0) FROM upload_parts p WHERE p.session_id = upload_sessions.id),
       bytes_transferred = (SELECT COALESCE(SUM(size * reports), 0) FROM upload_parts p
                             WHERE p.session_id = upload_sessions.id);
UPDATE upload_sessions
   SET duration_ms = MAX(completed_at - COALESCE(started_at, created_at), 0),
       avg_speed_mbps = CASE WHEN file_size > 0
         THEN file_size / 1e6 / (MAX(completed_at - COALESCE(started_at, created_at), 1) / 1000.0) END,
       actual_cost = ROUND(bytes_transferred / 1e9 * 0.10, 4)
 WHERE status = 'completed' AND completed_at IS NOT NULL;

-- Per account. The average speed is byte-weighted (all bytes over all upload time), so a
-- burst of tiny files cannot drown one large upload; timed_* let callers combine accounts.
DROP VIEW user_upload_stats;
CREATE VIEW user_upload_stats AS
SELECT
  s.account_id,
  COUNT(*) AS uploads,
  COALESCE(SUM(s.file_size), 0) AS bytes,
  COALESCE(SUM(s.bytes_transferred), 0) AS bytes_transferred,
  COALESCE(SUM(s.chunks_completed), 0) AS chunks,
  AVG(s.duration_ms) / 1000.0 AS avg_duration_seconds,
  COALESCE(SUM(CASE WHEN s.file_size > 0 AND s.duration_ms IS NOT NULL THEN s.file_size END), 0) AS timed_bytes,
  COALESCE(SUM(CASE WHEN s.file_size > 0 THEN s.duration_ms END), 0) / 1000.0 AS timed_seconds,
  SUM(CASE WHEN s.file_size > 0 AND s.duration_ms IS NOT NULL THEN s.file_size END) / 1e6
    / (MAX(SUM(CASE WHEN s.file_size > 0 THEN s.duration_ms END), 1) / 1000.0) AS avg_speed_mbps,
  COALESCE(SUM(s.estimated_cost), 0) AS estimated_cost,
  COALESCE(SUM(s.actual_cost), 0) AS actual_cost,
  MAX(s.completed_at) AS last_upload_at
FROM upload_sessions s
WHERE s.status = 'completed'
GROUP BY s.account_id;
