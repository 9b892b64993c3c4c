//! Idempotency records: replayed webhook deliveries and `Idempotency-Key`s.

/// Claims (scope, key) for a first request: `(scope, key, request_hash, now)`.
pub const CLAIM: &str = "INSERT INTO idempotency_records (scope, key, request_hash, created_at) \
     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (scope, key) DO NOTHING";

/// `(scope, key)`.
pub const RECORD: &str =
    "SELECT request_hash, status, response, created_at FROM idempotency_records WHERE scope = ?1 AND key = ?2";

/// `(scope, key, status, sealed_response)`.
pub const FINISH: &str = "UPDATE idempotency_records SET status = ?3, response = ?4 WHERE scope = ?1 AND key = ?2";

/// Drops a record found abandoned or unreadable, if it is still the one that was read:
/// `(scope, key, created_at)`.
pub const DROP: &str = "DELETE FROM idempotency_records WHERE scope = ?1 AND key = ?2 AND created_at = ?3";

/// Forgets an unanswered claim whose request failed: `(scope, key)`.
pub const RELEASE: &str = "DELETE FROM idempotency_records WHERE scope = ?1 AND key = ?2 AND status IS NULL";

/// Forgets the records whose key starts with a prefix, whatever their state, so the next
/// request with such a key acts afresh (their stored answers went stale): `(scope, prefix)`.
pub const FORGET_PREFIX: &str = "DELETE FROM idempotency_records WHERE scope = ?1 AND substr(key, 1, length(?2)) = ?2";
