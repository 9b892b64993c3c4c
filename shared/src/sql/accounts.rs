//! Accounts, their credentials, tiers and bandwidth usage.

/// An unrevoked credential's account with its tier: `(key_hash, kind)`, kind 'key' or 'secret'.
pub const ACCOUNT_FOR_CREDENTIAL: &str = "SELECT a.id, a.tier, a.s3_prefix, t.storage_quota_bytes, \
     t.bandwidth_quota_bytes, t.jetty_speed_enabled FROM api_keys k JOIN accounts a ON a.id = k.account_id \
     JOIN tier_configs t ON t.tier = a.tier WHERE k.key_hash = ?1 AND k.kind = ?2 AND k.revoked_at IS NULL";

/// `(tier)`.
pub const TIER: &str = "SELECT tier, storage_quota_bytes, bandwidth_quota_bytes, jetty_speed_enabled \
     FROM tier_configs WHERE tier = ?1";

/// `(external_user_id)`.
pub const BY_EXTERNAL_USER: &str =
    "SELECT id, tier, s3_prefix, provisioned_at FROM accounts WHERE external_user_id = ?1";

/// A provisioned account: `(id, user_id, tier, now, email, s3_prefix)`; nothing if the
/// platform user already has one.
pub const INSERT_PROVISIONED: &str = "INSERT INTO accounts (id, name, tier, created_at, external_user_id, email, \
     s3_prefix, provisioned_at) VALUES (?1, ?2, ?3, ?4, ?2, ?5, ?6, ?4) ON CONFLICT (external_user_id) DO NOTHING";

/// A credential of a provisioned account, only if that account row exists (a lost race
/// inserts nothing): `(hash, account_id, kind, now)`.
pub const INSERT_CREDENTIAL_IF_ACCOUNT: &str = "INSERT INTO api_keys (key_hash, account_id, label, created_at, \
     kind) SELECT ?1, ?2, ?3, ?4, ?3 WHERE EXISTS (SELECT 1 FROM accounts WHERE id = ?2)";

/// `(hash, account_id, kind, now)`.
pub const INSERT_CREDENTIAL: &str =
    "INSERT INTO api_keys (key_hash, account_id, label, created_at, kind) VALUES (?1, ?2, ?3, ?4, ?3)";

/// Revokes every bearer key of an account (its secret stays): `(account_id, now)`.
pub const REVOKE_KEYS: &str =
    "UPDATE api_keys SET revoked_at = ?2 WHERE account_id = ?1 AND kind = 'key' AND revoked_at IS NULL";

/// `(external_user_id, tier)`.
pub const SET_TIER: &str = "UPDATE accounts SET tier = ?2 WHERE external_user_id = ?1";

/// `(account_id, period)` → `bytes`.
pub const BANDWIDTH_USED: &str = "SELECT bytes FROM bandwidth_usage WHERE account_id = ?1 AND period = ?2";

/// `(account_id, period, bytes)`.
pub const ADD_BANDWIDTH: &str = "INSERT INTO bandwidth_usage (account_id, period, bytes) VALUES (?1, ?2, ?3) \
     ON CONFLICT (account_id, period) DO UPDATE SET bytes = bytes + excluded.bytes";

/// Adds bytes only if the month's total stays within the quota, in one statement:
/// `(account_id, period, bytes, quota)`.
pub const ADD_BANDWIDTH_WITHIN: &str = "INSERT INTO bandwidth_usage (account_id, period, bytes) \
     SELECT ?1, ?2, ?3 WHERE ?3 <= ?4 ON CONFLICT (account_id, period) DO UPDATE SET bytes = bytes + excluded.bytes \
     WHERE bandwidth_usage.bytes + excluded.bytes <= ?4";

/// The newest unrevoked API key's hash of an account: `(account_id)` → `key_hash`.
pub const NEWEST_KEY_HASH: &str = "SELECT key_hash FROM api_keys WHERE account_id = ?1 AND kind = 'key' \
     AND revoked_at IS NULL ORDER BY created_at DESC, key_hash LIMIT 1";

/// `(account_id)` → `external_user_id`.
pub const EXTERNAL_USER: &str = "SELECT external_user_id FROM accounts WHERE id = ?1";
