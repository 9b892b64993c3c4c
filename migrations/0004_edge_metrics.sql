-- Edge intelligence: measurement events per edge (parts forwarded, coordinator probes, client
-- failure reports), aggregated over a rolling window for scoring; pruned after 26 hours.

CREATE TABLE edge_metrics (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  edge_id      TEXT NOT NULL,
  recorded_at  INTEGER NOT NULL,
  kind         TEXT NOT NULL CHECK (kind IN ('part', 'probe', 'failure')),
  ok           INTEGER NOT NULL,
  latency_ms   REAL,                -- probe round trip
  bytes        INTEGER,             -- part size
  duration_ms  REAL,                -- time to forward the part to the store
  inflight     INTEGER,             -- parts in flight at the edge when it reported
  reporter     TEXT NOT NULL,       -- 'edge', 'coordinator' or the reporting account
  dedup_key    TEXT UNIQUE          -- client reports: one per account, edge and minute
);
CREATE INDEX idx_edge_metrics_edge_time ON edge_metrics(edge_id, recorded_at DESC);
CREATE INDEX idx_edge_metrics_time ON edge_metrics(recorded_at);

-- The production edge registry (real city coordinates). Local fleets deactivate these and
-- register their own edges.
INSERT OR IGNORE INTO edge_locations (id, url, city, country, lat, lng, is_active, created_at) VALUES
  ('sfo-1', 'https://sfo.edge.jettyspeed.net', 'San Francisco', 'US', 37.7749, -122.4194, 1, 0),
  ('lax-1', 'https://lax.edge.jettyspeed.net', 'Los Angeles', 'US', 34.0522, -118.2437, 1, 0),
  ('sea-1', 'https://sea.edge.jettyspeed.net', 'Seattle', 'US', 47.6062, -122.3321, 1, 0),
  ('den-1', 'https://den.edge.jettyspeed.net', 'Denver', 'US', 39.7392, -104.9903, 1, 0),
  ('dfw-1', 'https://dfw.edge.jettyspeed.net', 'Dallas', 'US', 32.7767, -96.7970, 1, 0),
  ('ord-1', 'https://ord.edge.jettyspeed.net', 'Chicago', 'US', 41.8781, -87.6298, 1, 0),
  ('atl-1', 'https://atl.edge.jettyspeed.net', 'Atlanta', 'US', 33.7490, -84.3880, 1, 0),
  ('mia-1', 'https://mia.edge.jettyspeed.net', 'Miami', 'US', 25.7617, -80.1918, 1, 0),
  ('nyc-1', 'https://nyc.edge.jettyspeed.net', 'New York', 'US', 40.7128, -74.0060, 1, 0),
  ('yyz-1', 'https://yyz.edge.jettyspeed.net', 'Toronto', 'CA', 43.6532, -79.3832, 1, 0),
  ('gru-1', 'https://gru.edge.jettyspeed.net', 'São Paulo', 'BR', -23.5505, -46.6333, 1, 0),
  ('lhr-1', 'https://lhr.edge.jettyspeed.net', 'London', 'GB', 51.5074, -0.1278, 1, 0),
  ('ams-1', 'https://ams.edge.jettyspeed.net', 'Amsterdam', 'NL', 52.3676, 4.9041, 1, 0),
  ('fra-1', 'https://fra.edge.jettyspeed.net', 'Frankfurt', 'DE', 50.1109, 8.6821, 1, 0),
  ('cdg-1', 'https://cdg.edge.jettyspeed.net', 'Paris', 'FR', 48.8566, 2.3522, 1, 0),
  ('bom-1', 'https://bom.edge.jettyspeed.net', 'Mumbai', 'IN', 19.0760, 72.8777, 1, 0),
  ('sin-1', 'https://sin.edge.jettyspeed.net', 'Singapore', 'SG', 1.3521, 103.8198, 1, 0),
  ('hkg-1', 'https://hkg.edge.jettyspeed.net', 'Hong Kong', 'HK', 22.3193, 114.1694, 1, 0),
  ('nrt-1', 'https://nrt.edge.jettyspeed.net', 'Tokyo', 'JP', 35.6762, 139.6503, 1, 0),
  ('syd-1', 'https://syd.edge.jettyspeed.net', 'Sydney', 'AU', -33.8688, 151.2093, 1, 0);
