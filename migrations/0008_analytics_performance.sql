-- Indexes (and a snapshot table) for the analytics queries (`jetty_shared::sql`), so an account's stats read only that
-- account's rows and the operators' newest-sessions and 24-hour edge tables read only what is
-- recent. tests/views.rs checks the query plans.

-- user_upload_stats for one account: its completed sessions.
CREATE INDEX idx_upload_sessions_account_status ON upload_sessions(account_id, status);
-- Edge shares for one account: its sessions that could have had a part in the last 24 hours.
CREATE INDEX idx_upload_sessions_account_expiry ON upload_sessions(account_id, expires_at);
-- Newest sessions of every account (operators).
CREATE INDEX idx_upload_sessions_created ON upload_sessions(created_at);
-- Parts of the last 24 hours of every account (operators).
CREATE INDEX idx_upload_parts_recorded ON upload_parts(recorded_at);

-- The edges' 24-hour health (a copy of edge_performance_24h), recomputed by the minute job:
-- stats requests join this small table instead of aggregating a day of measurements each time.
CREATE TABLE edge_performance_snapshot (
  edge_id          TEXT PRIMARY KEY,
  parts            INTEGER NOT NULL,
  bytes            INTEGER NOT NULL,
  throughput_mbps  REAL,
  latency_ms       REAL,
  avg_inflight     REAL,
  errors           INTEGER NOT NULL,
  error_rate       REAL,
  computed_at      INTEGER NOT NULL
);
