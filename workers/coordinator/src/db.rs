//! D1 access for the coordinator: every SQL statement lives here, handlers call functions.

use jetty_shared::analytics::UploadTotals;
use jetty_shared::edges::EdgeLocation;
use jetty_shared::plan::PartPlan;
use jetty_shared::quota::{StorageUse, Tier};
use jetty_shared::scoring::WindowStats;
use jetty_shared::session::RecordedPart;
use jetty_shared::sql;
use jetty_shared::state::PartTally;
use jetty_shared::ApiError;
use jetty_worker_runtime::{internal, ApiResult};
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::D1Database;

fn num(n: u64) -> JsValue {
    JsValue::from_f64(n as f64)
}

fn text(s: &str) -> JsValue {
    JsValue::from_str(s)
}

fn db_err(e: worker::Error) -> ApiError {
    internal(format!("d1: {e}"))
}

/// Runs a statement; returns how many rows it changed.
async fn execute(db: &D1Database, sql: impl Into<String>, params: &[JsValue]) -> ApiResult<usize> {
    let result = db
        .prepare(sql)
        .bind(params)
        .map_err(db_err)?
        .run()
        .await
        .map_err(db_err)?;
    Ok(result.meta().map_err(db_err)?.and_then(|m| m.changes).unwrap_or(0))
}

/// The first row of a query, if any.
async fn first<T: serde::de::DeserializeOwned>(
    db: &D1Database,
    sql: impl Into<String>,
    params: &[JsValue],
) -> ApiResult<Option<T>> {
    db.prepare(sql)
        .bind(params)
        .map_err(db_err)?
        .first(None)
        .await
        .map_err(db_err)
}

/// Every row of a query.
async fn all<T: serde::de::DeserializeOwned>(
    db: &D1Database,
    sql: impl Into<String>,
    params: &[JsValue],
) -> ApiResult<Vec<T>> {
    db.prepare(sql)
        .bind(params)
        .map_err(db_err)?
        .all()
        .await
        .map_err(db_err)?
        .results()
        .map_err(db_err)
}

/// An account with its tier's limits.
#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    pub id: String,
    pub tier: String,
    pub s3_prefix: Option<String>,
    pub storage_quota_bytes: u64,
    pub bandwidth_quota_bytes: u64,
    pub jetty_speed_enabled: i64,
}

impl Account {
    pub fn tier(&self) -> Tier {
        Tier {
            tier: self.tier.clone(),
            storage_quota_bytes: self.storage_quota_bytes,
            bandwidth_quota_bytes: self.bandwidth_quota_bytes,
            jetty_speed_enabled: self.jetty_speed_enabled != 0,
        }
    }

    /// Where the account's objects live in the bucket (`users/<id>/` for provisioned ones).
    pub fn prefix(&self) -> String {
        self.s3_prefix
            .clone()
            .unwrap_or_else(|| format!("accounts/{}/", self.id))
    }
}

const ACCOUNT_SELECT: &str = "SELECT a.id, a.tier, a.s3_prefix, t.storage_quota_bytes, t.bandwidth_quota_bytes, \
     t.jetty_speed_enabled FROM api_keys k JOIN accounts a ON a.id = k.account_id JOIN tier_configs t ON t.tier = a.tier";

/// The account of an unrevoked credential of `kind` ('key' or 'secret'), looked up by hash.
pub async fn account_for_credential(db: &D1Database, hash: &str, kind: &str) -> ApiResult<Option<Account>> {
    first(
        db,
        format!("{ACCOUNT_SELECT} WHERE k.key_hash = ?1 AND k.kind = ?2 AND k.revoked_at IS NULL"),
        &[text(hash), text(kind)],
    )
    .await
}

pub async fn active_edges(db: &D1Database) -> ApiResult<Vec<EdgeLocation>> {
    db.prepare("SELECT id, url, lat, lng FROM edge_locations WHERE is_active = 1 ORDER BY id")
        .all()
        .await
        .map_err(db_err)?
        .results()
        .map_err(db_err)
}

#[derive(Debug, Clone, Deserialize)]
pub struct SessionRow {
    pub id: String,
    pub account_id: String,
    pub file_id: String,
    pub file_name: Option<String>,
    pub content_type: String,
    pub file_hash: String,
    pub file_size: u64,
    pub part_size: u64,
    pub part_count: u32,
    pub object_key: String,
    pub s3_upload_id: String,
    pub status: String,
    pub expires_at: u64,
    pub edges_used: String,
    /// Until when a finalize holds the right to complete it in S3 (migration 0009).
    pub finalize_claimed_until: Option<u64>,
}

impl SessionRow {
    pub fn plan(&self) -> PartPlan {
        PartPlan {
            file_size: self.file_size,
            part_size: self.part_size,
            part_count: self.part_count,
        }
    }

    pub fn edge_ids(&self) -> Vec<String> {
        serde_json::from_str(&self.edges_used).unwrap_or_default()
    }

    /// Active and not past its expiry.
    pub fn is_open(&self, now_ms: u64) -> bool {
        self.status == "active" && now_ms < self.expires_at
    }
}

pub struct NewSession<'a> {
    pub id: &'a str,
    pub account_id: &'a str,
    pub file_id: &'a str,
    pub file_name: Option<&'a str>,
    pub content_type: &'a str,
    pub file_hash_hex: &'a str,
    pub plan: PartPlan,
    pub threads: u32,
    pub object_key: &'a str,
    pub s3_upload_id: &'a str,
    pub edges_used_json: &'a str,
    pub created_at: u64,
    pub expires_at: u64,
    /// The strategy's estimate; None when none was made (simple upload).
    pub estimated_seconds: Option<f64>,
    pub estimated_cost: f64,
    /// The transfer price the session's costs are computed at.
    pub price_per_gb: f64,
}

/// SQL for an account's storage in use: distinct objects of its files (a dedup clone costs
/// nothing) plus the reservations of its open sessions. `?1` account, `?2` now (ms).
const STORAGE_IN_USE: &str = "(SELECT COALESCE(SUM(size), 0) FROM (SELECT MAX(size) AS size FROM files \
     WHERE account_id = ?1 GROUP BY object_key)) + (SELECT COALESCE(SUM(file_size), 0) FROM upload_sessions \
     WHERE account_id = ?1 AND status = 'active' AND expires_at > ?2)";

pub async fn storage_use(db: &D1Database, account_id: &str, now: u64) -> ApiResult<StorageUse> {
    #[derive(Deserialize)]
    struct Row {
        stored: u64,
        reserved: u64,
    }
    let row: Option<Row> = first(
        db,
        "SELECT (SELECT COALESCE(SUM(size), 0) FROM (SELECT MAX(size) AS size FROM files WHERE account_id = ?1 \
             GROUP BY object_key)) AS stored, (SELECT COALESCE(SUM(file_size), 0) FROM upload_sessions \
             WHERE account_id = ?1 AND status = 'active' AND expires_at > ?2) AS reserved",
        &[text(account_id), num(now)],
    )
    .await?;
    Ok(row
        .map(|r| StorageUse {
            stored: r.stored,
            reserved: r.reserved,
        })
        .unwrap_or_default())
}

/// Inserts the session only if its file still fits the account's storage quota, in one
/// statement, so concurrent sessions cannot together overrun the quota. False when it does not fit.
pub async fn insert_session_within_quota(db: &D1Database, s: &NewSession<'_>, quota_bytes: u64) -> ApiResult<bool> {
    Ok(execute(
        db,
        format!(
            "INSERT INTO upload_sessions (account_id, id, file_id, file_name, content_type, file_hash, file_size, \
             part_size, part_count, threads, object_key, s3_upload_id, edges_used, status, created_at, expires_at, \
             estimated_seconds, estimated_cost, price_per_gb) \
             SELECT ?1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, 'active', ?2, ?15, ?17, ?18, ?19 \
             WHERE {STORAGE_IN_USE} + ?8 <= ?16"
        ),
        &[
            text(s.account_id),
            num(s.created_at),
            text(s.id),
            text(s.file_id),
            s.file_name.map(text).unwrap_or(JsValue::NULL),
            text(s.content_type),
            text(s.file_hash_hex),
            num(s.plan.file_size),
            num(s.plan.part_size),
            num(u64::from(s.plan.part_count)),
            num(u64::from(s.threads)),
            text(s.object_key),
            text(s.s3_upload_id),
            text(s.edges_used_json),
            num(s.expires_at),
            num(quota_bytes),
            s.estimated_seconds.map(JsValue::from_f64).unwrap_or(JsValue::NULL),
            JsValue::from_f64(s.estimated_cost),
            JsValue::from_f64(s.price_per_gb),
        ],
    )
    .await?
        > 0)
}

pub async fn set_upload_id(db: &D1Database, session_id: &str, upload_id: &str) -> ApiResult<()> {
    execute(
        db,
        "UPDATE upload_sessions SET s3_upload_id = ?2 WHERE id = ?1",
        &[text(session_id), text(upload_id)],
    )
    .await?;
    Ok(())
}

const SESSION_COLUMNS: &str = "id, account_id, file_id, file_name, content_type, file_hash, file_size, part_size, \
     part_count, object_key, s3_upload_id, status, expires_at, edges_used, finalize_claimed_until";

pub async fn session_by_id(db: &D1Database, session_id: &str) -> ApiResult<Option<SessionRow>> {
    first(
        db,
        format!("SELECT {SESSION_COLUMNS} FROM upload_sessions WHERE id = ?1"),
        &[text(session_id)],
    )
    .await
}

/// A session by file id, only if it belongs to `account_id` (tenant isolation in the query).
pub async fn session_by_file(db: &D1Database, account_id: &str, file_id: &str) -> ApiResult<Option<SessionRow>> {
    first(
        db,
        format!("SELECT {SESSION_COLUMNS} FROM upload_sessions WHERE file_id = ?1 AND account_id = ?2"),
        &[text(file_id), text(account_id)],
    )
    .await
}

pub async fn upsert_part(db: &D1Database, session_id: &str, part: &RecordedPart, now: u64) -> ApiResult<()> {
    execute(
        db,
        sql::UPSERT_PART,
        &[
            text(session_id),
            num(u64::from(part.part_number)),
            num(part.size),
            text(&part.sha256),
            text(&part.etag),
            text(&part.edge_id),
            num(now),
        ],
    )
    .await?;
    Ok(())
}

pub async fn parts(db: &D1Database, session_id: &str) -> ApiResult<Vec<RecordedPart>> {
    all(
        db,
        "SELECT part_number, size, sha256, etag, edge_id FROM upload_parts WHERE session_id = ?1 ORDER BY part_number",
        &[text(session_id)],
    )
    .await
}

#[derive(Debug, Clone, Deserialize)]
pub struct FileRow {
    pub id: String,
    pub name: Option<String>,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
    pub object_key: String,
    pub created_at: u64,
}

/// Records the finalized file (once: a second finalize finds the row) and closes the session.
/// Takes the session's finalize claim until `until` (ms); false if it is not active or another
/// caller's claim has not lapsed.
pub async fn claim_finalize(db: &D1Database, session_id: &str, now: u64, until: u64) -> ApiResult<bool> {
    Ok(execute(db, sql::CLAIM_FINALIZE, &[text(session_id), num(now), num(until)]).await? == 1)
}

/// Gives back the claim taken until `until`, if it is still that one.
pub async fn release_finalize(db: &D1Database, session_id: &str, until: u64) -> ApiResult<()> {
    execute(db, sql::RELEASE_FINALIZE, &[text(session_id), num(until)]).await?;
    Ok(())
}

/// `put_bytes` are bytes the coordinator stored itself in one PutObject (simple upload) rather
/// than through reported parts; the schema's triggers turn the counters into the session's
/// duration, speed and cost.
pub async fn complete_session(db: &D1Database, s: &SessionRow, now: u64, put_bytes: u64) -> ApiResult<()> {
    let insert = db
        .prepare(
            "INSERT INTO files (id, account_id, session_id, name, content_type, size, sha256, object_key, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&[
            text(&s.file_id),
            text(&s.account_id),
            text(&s.id),
            s.file_name.as_deref().map(text).unwrap_or(JsValue::NULL),
            text(&s.content_type),
            num(s.file_size),
            text(&s.file_hash),
            text(&s.object_key),
            num(now),
        ])
        .map_err(db_err)?;
    let close = db
        .prepare(sql::COMPLETE_SESSION)
        .bind(&[text(&s.id), num(now), num(put_bytes), num(u64::from(put_bytes > 0))])
        .map_err(db_err)?;
    db.batch(vec![insert, close]).await.map_err(db_err)?;
    Ok(())
}

pub async fn file_for_account(db: &D1Database, account_id: &str, file_id: &str) -> ApiResult<Option<FileRow>> {
    first(db, "SELECT id, name, content_type, size, sha256, object_key, created_at FROM files WHERE id = ?1 AND account_id = ?2", &[text(file_id), text(account_id)]).await
}

pub async fn part_tallies(db: &D1Database, session_id: &str) -> ApiResult<Vec<PartTally>> {
    all(
        db,
        "SELECT part_number, size, reports FROM upload_parts WHERE session_id = ?1 ORDER BY part_number",
        &[text(session_id)],
    )
    .await
}

/// Marks an active session `status` ('aborted' or 'expired'); false if it was not active
/// (a concurrent abort, finalize or sweep got there first).
pub async fn close_session(db: &D1Database, session_id: &str, status: &str, reason: &str, now: u64) -> ApiResult<bool> {
    let changed = execute(
        db,
        "UPDATE upload_sessions SET status = ?2, abort_reason = ?3, completed_at = ?4 \
             WHERE id = ?1 AND status = 'active'",
        &[text(session_id), text(status), text(reason), num(now)],
    )
    .await?;
    Ok(changed > 0)
}

pub async fn mark_started(db: &D1Database, session_id: &str, now: u64) -> ApiResult<()> {
    execute(
        db,
        "UPDATE upload_sessions SET started_at = COALESCE(started_at, ?2) WHERE id = ?1",
        &[text(session_id), num(now)],
    )
    .await?;
    Ok(())
}

/// Active sessions past their expiry, oldest first.
pub async fn expired_sessions(db: &D1Database, now: u64, limit: u32) -> ApiResult<Vec<SessionRow>> {
    all(
        db,
        format!(
            "SELECT {SESSION_COLUMNS} FROM upload_sessions WHERE status = 'active' AND expires_at <= ?1 \
         ORDER BY expires_at LIMIT ?2"
        ),
        &[num(now), num(u64::from(limit))],
    )
    .await
}

/// A finalized file of `account_id` with these exact bytes (SHA-256 and size): the dedup index
/// is scoped per account, so a hash never reveals or grants another account's file.
pub async fn file_by_content(
    db: &D1Database,
    account_id: &str,
    sha256_hex: &str,
    size: u64,
) -> ApiResult<Option<FileRow>> {
    first(
        db,
        "SELECT id, name, content_type, size, sha256, object_key, created_at FROM files \
         WHERE account_id = ?1 AND sha256 = ?2 AND size = ?3 ORDER BY created_at LIMIT 1",
        &[text(account_id), text(sha256_hex), num(size)],
    )
    .await
}

/// A new file record sharing the object of `source` (a zero-byte clone).
pub async fn insert_clone(
    db: &D1Database,
    account_id: &str,
    file_id: &str,
    name: Option<&str>,
    source: &FileRow,
    now: u64,
) -> ApiResult<bool> {
    // Conditional on the source still existing: a clone racing the source's deletion either
    // lands first (and keeps the object alive) or does not land at all.
    Ok(execute(
        db,
        "INSERT INTO files (id, account_id, session_id, name, content_type, size, sha256, object_key, \
             created_at, deduplicated_from) SELECT ?1, ?2, NULL, ?3, ?4, ?5, ?6, ?7, ?8, ?9 \
             WHERE EXISTS (SELECT 1 FROM files WHERE id = ?9)",
        &[
            text(file_id),
            text(account_id),
            name.map(text).unwrap_or(JsValue::NULL),
            text(&source.content_type),
            num(source.size),
            text(&source.sha256),
            text(&source.object_key),
            num(now),
            text(&source.id),
        ],
    )
    .await?
        > 0)
}

pub async fn bandwidth_used(db: &D1Database, account_id: &str, period: &str) -> ApiResult<u64> {
    #[derive(Deserialize)]
    struct Row {
        bytes: u64,
    }
    let row: Option<Row> = first(
        db,
        "SELECT bytes FROM bandwidth_usage WHERE account_id = ?1 AND period = ?2",
        &[text(account_id), text(period)],
    )
    .await?;
    Ok(row.map(|r| r.bytes).unwrap_or(0))
}

pub async fn add_bandwidth(db: &D1Database, account_id: &str, period: &str, bytes: u64) -> ApiResult<()> {
    execute(
        db,
        "INSERT INTO bandwidth_usage (account_id, period, bytes) VALUES (?1, ?2, ?3) \
         ON CONFLICT (account_id, period) DO UPDATE SET bytes = bytes + excluded.bytes",
        &[text(account_id), text(period), num(bytes)],
    )
    .await?;
    Ok(())
}

/// Adds `bytes` to the month's usage if the total stays within `quota`; false otherwise.
/// Zero bytes always fit (a HEAD or 304 is allowed even at the limit).
pub async fn add_bandwidth_within(
    db: &D1Database,
    account_id: &str,
    period: &str,
    bytes: u64,
    quota: u64,
) -> ApiResult<bool> {
    if bytes == 0 {
        return Ok(true);
    }
    Ok(execute(
        db,
        "INSERT INTO bandwidth_usage (account_id, period, bytes) SELECT ?1, ?2, ?3 WHERE ?3 <= ?4 \
             ON CONFLICT (account_id, period) DO UPDATE SET bytes = bytes + excluded.bytes \
             WHERE bandwidth_usage.bytes + excluded.bytes <= ?4",
        &[text(account_id), text(period), num(bytes), num(quota)],
    )
    .await?
        > 0)
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProvisionedAccount {
    pub id: String,
    pub tier: String,
    pub s3_prefix: Option<String>,
    pub provisioned_at: Option<u64>,
}

pub async fn account_by_external_user(db: &D1Database, user_id: &str) -> ApiResult<Option<ProvisionedAccount>> {
    first(
        db,
        "SELECT id, tier, s3_prefix, provisioned_at FROM accounts WHERE external_user_id = ?1",
        &[text(user_id)],
    )
    .await
}

pub async fn tier(db: &D1Database, name: &str) -> ApiResult<Option<Tier>> {
    #[derive(Deserialize)]
    struct Row {
        tier: String,
        storage_quota_bytes: u64,
        bandwidth_quota_bytes: u64,
        jetty_speed_enabled: i64,
    }
    let row: Option<Row> = first(db, "SELECT tier, storage_quota_bytes, bandwidth_quota_bytes, jetty_speed_enabled FROM tier_configs WHERE tier = ?1", &[text(name)]).await?;
    Ok(row.map(|r| Tier {
        tier: r.tier,
        storage_quota_bytes: r.storage_quota_bytes,
        bandwidth_quota_bytes: r.bandwidth_quota_bytes,
        jetty_speed_enabled: r.jetty_speed_enabled != 0,
    }))
}

pub struct NewAccount<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub email: &'a str,
    pub tier: &'a str,
    pub s3_prefix: &'a str,
    pub key_hash: &'a str,
    pub secret_hash: &'a str,
    pub now: u64,
}

/// Creates the account with its key and secret in one batch (a D1 transaction); false if the
/// platform user already has an account. The credential rows are conditional on this call's
/// fresh account id, so a lost race inserts nothing.
pub async fn insert_provisioned_account(db: &D1Database, a: &NewAccount<'_>) -> ApiResult<bool> {
    let account = db
        .prepare(
            "INSERT INTO accounts (id, name, tier, created_at, external_user_id, email, s3_prefix, provisioned_at) \
             VALUES (?1, ?2, ?3, ?4, ?2, ?5, ?6, ?4) ON CONFLICT (external_user_id) DO NOTHING",
        )
        .bind(&[
            text(a.id),
            text(a.user_id),
            text(a.tier),
            num(a.now),
            text(a.email),
            text(a.s3_prefix),
        ])
        .map_err(db_err)?;
    let credential = |hash: &str, kind: &str| {
        db.prepare(
            "INSERT INTO api_keys (key_hash, account_id, label, created_at, kind) \
             SELECT ?1, ?2, ?3, ?4, ?3 WHERE EXISTS (SELECT 1 FROM accounts WHERE id = ?2)",
        )
        .bind(&[text(hash), text(a.id), text(kind), num(a.now)])
        .map_err(db_err)
    };
    let results = db
        .batch(vec![
            account,
            credential(a.key_hash, "key")?,
            credential(a.secret_hash, "secret")?,
        ])
        .await
        .map_err(db_err)?;
    let created = results
        .first()
        .and_then(|r| r.meta().ok().flatten())
        .and_then(|m| m.changes)
        .unwrap_or(0);
    Ok(created > 0)
}

pub async fn insert_credential(db: &D1Database, account_id: &str, hash: &str, kind: &str, now: u64) -> ApiResult<()> {
    execute(
        db,
        "INSERT INTO api_keys (key_hash, account_id, label, created_at, kind) VALUES (?1, ?2, ?3, ?4, ?3)",
        &[text(hash), text(account_id), text(kind), num(now)],
    )
    .await?;
    Ok(())
}

/// Revokes every bearer key of the account (its secret stays).
pub async fn revoke_keys(db: &D1Database, account_id: &str, now: u64) -> ApiResult<()> {
    execute(
        db,
        "UPDATE api_keys SET revoked_at = ?2 WHERE account_id = ?1 AND kind = 'key' AND revoked_at IS NULL",
        &[text(account_id), num(now)],
    )
    .await?;
    Ok(())
}

pub async fn set_tier(db: &D1Database, user_id: &str, tier: &str) -> ApiResult<bool> {
    Ok(execute(
        db,
        "UPDATE accounts SET tier = ?2 WHERE external_user_id = ?1",
        &[text(user_id), text(tier)],
    )
    .await?
        > 0)
}

#[derive(Debug, Clone, Deserialize)]
pub struct IdempotencyRow {
    pub request_hash: String,
    pub status: Option<u16>,
    pub response: Option<String>,
    pub created_at: u64,
}

/// Claims (scope, key) for a first request; false if a record already exists.
pub async fn claim_idempotency(
    db: &D1Database,
    scope: &str,
    key: &str,
    request_hash: &str,
    now: u64,
) -> ApiResult<bool> {
    Ok(execute(
        db,
        "INSERT INTO idempotency_records (scope, key, request_hash, created_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (scope, key) DO NOTHING",
        &[text(scope), text(key), text(request_hash), num(now)],
    )
    .await?
        > 0)
}

pub async fn idempotency_record(db: &D1Database, scope: &str, key: &str) -> ApiResult<Option<IdempotencyRow>> {
    first(
        db,
        "SELECT request_hash, status, response, created_at FROM idempotency_records WHERE scope = ?1 AND key = ?2",
        &[text(scope), text(key)],
    )
    .await
}

pub async fn finish_idempotency(db: &D1Database, scope: &str, key: &str, status: u16, sealed: &str) -> ApiResult<()> {
    execute(
        db,
        "UPDATE idempotency_records SET status = ?3, response = ?4 WHERE scope = ?1 AND key = ?2",
        &[text(scope), text(key), num(u64::from(status)), text(sealed)],
    )
    .await?;
    Ok(())
}

/// Drops a record found abandoned or unreadable, if it is still the one that was read.
pub async fn drop_idempotency(db: &D1Database, scope: &str, key: &str, created_at: u64) -> ApiResult<()> {
    execute(
        db,
        "DELETE FROM idempotency_records WHERE scope = ?1 AND key = ?2 AND created_at = ?3",
        &[text(scope), text(key), num(created_at)],
    )
    .await?;
    Ok(())
}

/// Forgets a claim whose request failed, so the client can retry with the same key.
pub async fn release_idempotency(db: &D1Database, scope: &str, key: &str) -> ApiResult<()> {
    execute(
        db,
        "DELETE FROM idempotency_records WHERE scope = ?1 AND key = ?2 AND status IS NULL",
        &[text(scope), text(key)],
    )
    .await?;
    Ok(())
}

/// Deletes the file record; true if it existed (and belonged to the account).
pub async fn delete_file(db: &D1Database, account_id: &str, file_id: &str) -> ApiResult<bool> {
    Ok(execute(
        db,
        "DELETE FROM files WHERE id = ?1 AND account_id = ?2",
        &[text(file_id), text(account_id)],
    )
    .await?
        > 0)
}

/// How many file records still point at an object (dedup clones share objects).
pub async fn object_references(db: &D1Database, object_key: &str) -> ApiResult<u64> {
    #[derive(Deserialize)]
    struct Row {
        n: u64,
    }
    let row: Option<Row> = first(
        db,
        "SELECT COUNT(*) AS n FROM files WHERE object_key = ?1",
        &[text(object_key)],
    )
    .await?;
    Ok(row.map(|r| r.n).unwrap_or(0))
}

/// One measurement of an edge.
pub struct EdgeEvent<'a> {
    pub edge_id: &'a str,
    pub kind: &'a str,
    pub ok: bool,
    pub latency_ms: Option<f64>,
    pub bytes: Option<u64>,
    pub duration_ms: Option<f64>,
    pub inflight: Option<u64>,
    pub reporter: &'a str,
    pub dedup_key: Option<&'a str>,
    pub now: u64,
}

pub async fn record_edge_event(db: &D1Database, e: &EdgeEvent<'_>) -> ApiResult<()> {
    let opt_num = |v: Option<f64>| v.map(JsValue::from_f64).unwrap_or(JsValue::NULL);
    execute(db, "INSERT INTO edge_metrics (edge_id, recorded_at, kind, ok, latency_ms, bytes, duration_ms, inflight, reporter, \
         dedup_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (dedup_key) DO NOTHING", &[
        text(e.edge_id),
        num(e.now),
        text(e.kind),
        num(u64::from(e.ok)),
        opt_num(e.latency_ms),
        opt_num(e.bytes.map(|b| b as f64)),
        opt_num(e.duration_ms),
        opt_num(e.inflight.map(|n| n as f64)),
        text(e.reporter),
        e.dedup_key.map(text).unwrap_or(JsValue::NULL),
    ]).await?;
    Ok(())
}

/// Every edge's events since `since_ms`, summed for scoring.
pub async fn edge_windows(db: &D1Database, since_ms: u64) -> ApiResult<Vec<(String, WindowStats)>> {
    #[derive(Deserialize)]
    struct Row {
        edge_id: String,
        events: u64,
        failures: u64,
        newest_ms: u64,
        probe_latency_ms: Option<f64>,
        part_bytes: u64,
        part_ms: f64,
        inflight: Option<u64>,
        newest_ok: Option<i64>,
    }
    let rows: Vec<Row> = all(db, "SELECT edge_id, COUNT(*) AS events, SUM(CASE WHEN ok = 0 THEN 1 ELSE 0 END) AS failures, \
             MAX(recorded_at) AS newest_ms, AVG(CASE WHEN kind = 'probe' AND ok = 1 THEN latency_ms END) AS probe_latency_ms, \
             COALESCE(SUM(CASE WHEN kind = 'part' THEN bytes END), 0) AS part_bytes, \
             COALESCE(SUM(CASE WHEN kind = 'part' THEN duration_ms END), 0.0) AS part_ms, \
             (SELECT m2.inflight FROM edge_metrics m2 WHERE m2.edge_id = m.edge_id AND m2.kind = 'part' \
              AND m2.recorded_at > ?1 ORDER BY m2.recorded_at DESC, m2.id DESC LIMIT 1) AS inflight, \
             (SELECT m3.ok FROM edge_metrics m3 WHERE m3.edge_id = m.edge_id AND m3.kind IN ('probe', 'failure') \
              ORDER BY m3.recorded_at DESC, m3.id DESC LIMIT 1) AS newest_ok \
             FROM edge_metrics m WHERE recorded_at > ?1 GROUP BY edge_id", &[num(since_ms)]).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let stats = WindowStats {
                events: r.events,
                failures: r.failures,
                newest_ms: r.newest_ms,
                newest_ok: r.newest_ok.unwrap_or(1) != 0,
                probe_latency_ms: r.probe_latency_ms,
                part_bytes: r.part_bytes,
                part_ms: r.part_ms,
                inflight: r.inflight,
            };
            (r.edge_id, stats)
        })
        .collect())
}

/// Recomputes the edges' 24-hour health snapshot the stats read.
pub async fn refresh_edge_snapshot(db: &D1Database, now: u64) -> ApiResult<()> {
    let [clear, fill] = sql::REFRESH_EDGE_SNAPSHOT;
    let clear = db.prepare(clear);
    let fill = db.prepare(fill).bind(&[num(now)]).map_err(db_err)?;
    db.batch(vec![clear, fill]).await.map_err(db_err)?;
    Ok(())
}

pub async fn prune_edge_metrics(db: &D1Database, before_ms: u64) -> ApiResult<()> {
    execute(db, "DELETE FROM edge_metrics WHERE recorded_at < ?1", &[num(before_ms)]).await?;
    Ok(())
}

/// Recomputes `upload_patterns` from the completed sessions since `since_ms`: slots with more
/// than `min_uploads` uploads, with the (up to) three edges that carried most of their parts.
pub async fn recompute_upload_patterns(db: &D1Database, since_ms: u64, min_uploads: u64, now: u64) -> ApiResult<()> {
    let clear = db.prepare("DELETE FROM upload_patterns");
    let fill = db
        .prepare(
            "INSERT INTO upload_patterns (account_id, hour, day_of_week, avg_file_size, upload_count, typical_edges, updated_at) \
             SELECT s.account_id, CAST(strftime('%H', s.created_at / 1000, 'unixepoch') AS INTEGER) AS hour, \
             CAST(strftime('%w', s.created_at / 1000, 'unixepoch') AS INTEGER) AS dow, \
             CAST(AVG(s.file_size) AS INTEGER), COUNT(*), \
             (SELECT json_group_array(edge_id) FROM (SELECT p.edge_id FROM upload_parts p \
               JOIN upload_sessions s2 ON s2.id = p.session_id \
               WHERE s2.account_id = s.account_id AND s2.created_at > ?1 \
               AND CAST(strftime('%H', s2.created_at / 1000, 'unixepoch') AS INTEGER) = \
                   CAST(strftime('%H', s.created_at / 1000, 'unixepoch') AS INTEGER) \
               GROUP BY p.edge_id ORDER BY COUNT(*) DESC, p.edge_id LIMIT 3)), ?3 \
             FROM upload_sessions s WHERE s.created_at > ?1 AND s.status = 'completed' \
             GROUP BY s.account_id, hour, dow HAVING COUNT(*) > ?2",
        )
        .bind(&[num(since_ms), num(min_uploads), num(now)])
        .map_err(db_err)?;
    db.batch(vec![clear, fill]).await.map_err(db_err)?;
    Ok(())
}

/// The distinct edges typical of the patterns of this UTC hour and day of week.
pub async fn pattern_edges(db: &D1Database, hour: u32, day_of_week: u32) -> ApiResult<Vec<String>> {
    #[derive(Deserialize)]
    struct Row {
        edge_id: String,
    }
    let rows: Vec<Row> = all(
        db,
        "SELECT DISTINCT j.value AS edge_id FROM upload_patterns u, json_each(u.typical_edges) j \
             WHERE u.hour = ?1 AND u.day_of_week = ?2 ORDER BY edge_id",
        &[num(u64::from(hour)), num(u64::from(day_of_week))],
    )
    .await?;
    Ok(rows.into_iter().map(|r| r.edge_id).collect())
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct PatternRow {
    pub hour: u32,
    pub day_of_week: u32,
    pub avg_file_size: u64,
    pub upload_count: u64,
    pub typical_edges: String,
    pub updated_at: u64,
}

pub async fn patterns_for(db: &D1Database, account_id: &str) -> ApiResult<Vec<PatternRow>> {
    all(
        db,
        "SELECT hour, day_of_week, avg_file_size, upload_count, typical_edges, updated_at FROM upload_patterns \
         WHERE account_id = ?1 ORDER BY day_of_week, hour",
        &[text(account_id)],
    )
    .await
}

// --- Analytics (the views of migrations 0006/0007; query texts in `jetty_shared::sql`).
// `account` None reads every account (operators); otherwise every query is filtered to it. ---

/// The one binding (?1) of a scoped analytics query (see `jetty_shared::sql`).
fn scope_binding(account: Option<&str>) -> JsValue {
    account.map(text).unwrap_or(JsValue::NULL)
}

/// Rows of `user_upload_stats` (one per account in scope).
pub async fn upload_totals(db: &D1Database, account: Option<&str>) -> ApiResult<Vec<UploadTotals>> {
    all(db, sql::upload_totals(account.is_none()), &[scope_binding(account)]).await
}

#[derive(Debug, Deserialize)]
pub struct DedupStats {
    pub duplicate_files: u64,
    pub saved_bytes: u64,
}

pub async fn dedup_stats(db: &D1Database, account: Option<&str>) -> ApiResult<DedupStats> {
    let row = first(db, sql::dedup_totals(account.is_none()), &[scope_binding(account)]).await?;
    Ok(row.unwrap_or(DedupStats {
        duplicate_files: 0,
        saved_bytes: 0,
    }))
}

#[derive(Debug, Deserialize)]
pub struct EdgeShare {
    pub edge_id: String,
    pub parts: u64,
    pub bytes: u64,
    pub throughput_mbps: Option<f64>,
    pub latency_ms: Option<f64>,
    pub avg_inflight: Option<f64>,
    pub errors: Option<u64>,
    pub error_rate: Option<f64>,
}

/// Parts per edge over 24 hours in scope, with the edges' shared health figures.
pub async fn edge_shares(db: &D1Database, account: Option<&str>) -> ApiResult<Vec<EdgeShare>> {
    all(db, sql::edge_shares(account.is_none()), &[scope_binding(account)]).await
}

/// A session's performance record.
#[derive(Debug, Deserialize)]
pub struct RecentSession {
    pub account_id: String,
    pub file_id: String,
    pub file_name: Option<String>,
    pub file_size: u64,
    pub status: String,
    pub created_at: u64,
    pub completed_at: Option<u64>,
    pub edges_used: String,
    /// JSON array of the edges that carried its parts (the plan is `edges_used`).
    pub edges_carried: String,
    pub part_count: u64,
    pub chunks_completed: u64,
    pub bytes_uploaded: u64,
    pub bytes_transferred: u64,
    pub duration_ms: Option<u64>,
    pub avg_speed_mbps: Option<f64>,
    pub estimated_seconds: Option<f64>,
    pub estimated_cost: Option<f64>,
    pub actual_cost: Option<f64>,
}

pub async fn recent_sessions(db: &D1Database, account: Option<&str>, limit: u32) -> ApiResult<Vec<RecentSession>> {
    all(
        db,
        sql::recent_sessions(account.is_none(), limit),
        &[scope_binding(account)],
    )
    .await
}

/// Operators' table: every account with its totals, largest first.
#[derive(Debug, Deserialize)]
pub struct AccountSummary {
    pub id: String,
    pub name: String,
    pub tier: String,
    pub uploads: u64,
    pub bytes: u64,
    pub avg_speed_mbps: Option<f64>,
    pub saved_bytes: u64,
}

pub async fn account_summaries(db: &D1Database, limit: u32) -> ApiResult<Vec<AccountSummary>> {
    all(db, sql::account_summaries(limit), &[]).await
}
