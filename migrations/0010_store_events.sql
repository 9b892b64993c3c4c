-- The object store's own health record: failures the edges and the coordinator saw while
-- forwarding to it, and the coordinator's minute probes (HeadBucket). A store failure is the
-- store's, never counted against the edge that passed it on (edge_metrics).
CREATE TABLE store_events (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  recorded_at  INTEGER NOT NULL,
  ok           INTEGER NOT NULL,
  kind         TEXT NOT NULL CHECK (kind IN ('probe', 'failure')),
  reporter     TEXT NOT NULL,       -- an edge id, 'origin-direct' or 'coordinator'
  latency_ms   REAL
);
CREATE INDEX idx_store_events_time ON store_events(recorded_at);
