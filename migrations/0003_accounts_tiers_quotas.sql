-- Accounts provisioned by a platform (AgentCache) for a storage vendor, tiers with quotas,
-- bandwidth usage per month, and idempotency/replay records. Sizes are decimal bytes.

CREATE TABLE tier_configs (
  tier                   TEXT PRIMARY KEY,
  storage_quota_bytes    INTEGER NOT NULL,
  bandwidth_quota_bytes  INTEGER NOT NULL,
  jetty_speed_enabled    INTEGER NOT NULL
);
INSERT INTO tier_configs (tier, storage_quota_bytes, bandwidth_quota_bytes, jetty_speed_enabled) VALUES
  ('free',                    0,                0, 0),
  ('starter',        2000000000,      10000000000, 0),
  ('pro',           20000000000,     100000000000, 1),
  ('business',     100000000000,     500000000000, 1),
  ('enterprise',  1000000000000,    5000000000000, 1);

ALTER TABLE accounts ADD COLUMN external_user_id TEXT;
ALTER TABLE accounts ADD COLUMN email TEXT;
ALTER TABLE accounts ADD COLUMN s3_prefix TEXT;
ALTER TABLE accounts ADD COLUMN provisioned_at INTEGER;
UPDATE accounts SET s3_prefix = 'accounts/' || id || '/';
-- One storage account per platform user, whatever the number of provisioning calls.
CREATE UNIQUE INDEX idx_accounts_external_user ON accounts(external_user_id);

-- 'key': the bearer credential of every API call. 'secret': used only to rotate keys.
ALTER TABLE api_keys ADD COLUMN kind TEXT NOT NULL DEFAULT 'key';

CREATE TABLE bandwidth_usage (
  account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  period      TEXT NOT NULL,            -- YYYY-MM (UTC)
  bytes       INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (account_id, period)
);

-- First answers of idempotent requests and webhook deliveries. Responses are sealed
-- (AES-256-GCM) because they can carry credentials.
CREATE TABLE idempotency_records (
  scope         TEXT NOT NULL,
  key           TEXT NOT NULL,
  request_hash  TEXT NOT NULL,
  status        INTEGER,                -- NULL while the first request runs
  response      TEXT,
  created_at    INTEGER NOT NULL,
  PRIMARY KEY (scope, key)
);
