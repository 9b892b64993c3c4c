-- JettySpeed coordinator schema: accounts and hashed API keys, edges, upload sessions,
-- their parts as reported by edges, and finalized files. Times are Unix milliseconds.

CREATE TABLE accounts (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL,
  tier        TEXT NOT NULL DEFAULT 'pro',
  created_at  INTEGER NOT NULL
);

-- Only the SHA-256 of a key is stored; the key itself is shown once at creation.
CREATE TABLE api_keys (
  key_hash    TEXT PRIMARY KEY,
  account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  label       TEXT,
  created_at  INTEGER NOT NULL,
  revoked_at  INTEGER
);
CREATE INDEX idx_api_keys_account ON api_keys(account_id);

CREATE TABLE edge_locations (
  id          TEXT PRIMARY KEY,
  url         TEXT NOT NULL,
  city        TEXT,
  country     TEXT,
  lat         REAL NOT NULL,
  lng         REAL NOT NULL,
  is_active   INTEGER NOT NULL DEFAULT 1,
  created_at  INTEGER NOT NULL
);

CREATE TABLE upload_sessions (
  id            TEXT PRIMARY KEY,
  account_id    TEXT NOT NULL REFERENCES accounts(id),
  file_id       TEXT NOT NULL UNIQUE,
  file_name     TEXT,
  content_type  TEXT NOT NULL,
  file_hash     TEXT NOT NULL,       -- hex SHA-256 declared by the client
  file_size     INTEGER NOT NULL,
  part_size     INTEGER NOT NULL,
  part_count    INTEGER NOT NULL,
  threads       INTEGER NOT NULL,
  object_key    TEXT NOT NULL,
  s3_upload_id  TEXT NOT NULL,
  edges_used    TEXT NOT NULL,       -- JSON array of edge ids
  status        TEXT NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'completed', 'aborted', 'expired')),
  created_at    INTEGER NOT NULL,
  expires_at    INTEGER NOT NULL,
  completed_at  INTEGER
);
CREATE INDEX idx_upload_sessions_account ON upload_sessions(account_id, created_at DESC);
CREATE INDEX idx_upload_sessions_status_expiry ON upload_sessions(status, expires_at);

-- The latest accepted upload of each part (S3 keeps the latest too).
CREATE TABLE upload_parts (
  session_id   TEXT NOT NULL REFERENCES upload_sessions(id) ON DELETE CASCADE,
  part_number  INTEGER NOT NULL,
  size         INTEGER NOT NULL,
  sha256       TEXT NOT NULL,
  etag         TEXT NOT NULL,
  edge_id      TEXT NOT NULL,
  recorded_at  INTEGER NOT NULL,
  PRIMARY KEY (session_id, part_number)
);

CREATE TABLE files (
  id            TEXT PRIMARY KEY,
  account_id    TEXT NOT NULL REFERENCES accounts(id),
  session_id    TEXT UNIQUE REFERENCES upload_sessions(id),
  name          TEXT,
  content_type  TEXT NOT NULL,
  size          INTEGER NOT NULL,
  sha256        TEXT NOT NULL,
  object_key    TEXT NOT NULL,
  created_at    INTEGER NOT NULL
);
CREATE INDEX idx_files_account_hash ON files(account_id, sha256);
