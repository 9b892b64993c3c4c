//! D1 access for the coordinator: every SQL statement lives here, handlers call functions.

use jetty_shared::edges::EdgeLocation;
use jetty_shared::plan::PartPlan;
use jetty_shared::session::RecordedPart;
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

/// Account id of an unrevoked API key, looked up by the key's hash.
pub async fn account_for_key_hash(db: &D1Database, key_hash: &str) -> ApiResult<Option<String>> {
    #[derive(Deserialize)]
    struct Row {
        account_id: String,
    }
    let row: Option<Row> = db
        .prepare("SELECT account_id FROM api_keys WHERE key_hash = ?1 AND revoked_at IS NULL")
        .bind(&[text(key_hash)])
        .map_err(db_err)?
        .first(None)
        .await
        .map_err(db_err)?;
    Ok(row.map(|r| r.account_id))
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
}

pub async fn insert_session(db: &D1Database, s: &NewSession<'_>) -> ApiResult<()> {
    db.prepare(
        "INSERT INTO upload_sessions (id, account_id, file_id, file_name, content_type, file_hash, file_size, \
         part_size, part_count, threads, object_key, s3_upload_id, edges_used, status, created_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 'active', ?14, ?15)",
    )
    .bind(&[
        text(s.id),
        text(s.account_id),
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
        num(s.created_at),
        num(s.expires_at),
    ])
    .map_err(db_err)?
    .run()
    .await
    .map_err(db_err)?;
    Ok(())
}

const SESSION_COLUMNS: &str = "id, account_id, file_id, file_name, content_type, file_hash, file_size, part_size, \
     part_count, object_key, s3_upload_id, status, expires_at, edges_used";

pub async fn session_by_id(db: &D1Database, session_id: &str) -> ApiResult<Option<SessionRow>> {
    db.prepare(format!("SELECT {SESSION_COLUMNS} FROM upload_sessions WHERE id = ?1"))
        .bind(&[text(session_id)])
        .map_err(db_err)?
        .first(None)
        .await
        .map_err(db_err)
}

/// A session by file id, only if it belongs to `account_id` (tenant isolation in the query).
pub async fn session_by_file(db: &D1Database, account_id: &str, file_id: &str) -> ApiResult<Option<SessionRow>> {
    db.prepare(format!(
        "SELECT {SESSION_COLUMNS} FROM upload_sessions WHERE file_id = ?1 AND account_id = ?2"
    ))
    .bind(&[text(file_id), text(account_id)])
    .map_err(db_err)?
    .first(None)
    .await
    .map_err(db_err)
}

pub async fn upsert_part(db: &D1Database, session_id: &str, part: &RecordedPart, now: u64) -> ApiResult<()> {
    db.prepare(
        "INSERT INTO upload_parts (session_id, part_number, size, sha256, etag, edge_id, recorded_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
         ON CONFLICT (session_id, part_number) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256, \
         etag = excluded.etag, edge_id = excluded.edge_id, recorded_at = excluded.recorded_at, \
         reports = upload_parts.reports + 1",
    )
    .bind(&[
        text(session_id),
        num(u64::from(part.part_number)),
        num(part.size),
        text(&part.sha256),
        text(&part.etag),
        text(&part.edge_id),
        num(now),
    ])
    .map_err(db_err)?
    .run()
    .await
    .map_err(db_err)?;
    Ok(())
}

pub async fn parts(db: &D1Database, session_id: &str) -> ApiResult<Vec<RecordedPart>> {
    db.prepare(
        "SELECT part_number, size, sha256, etag, edge_id FROM upload_parts WHERE session_id = ?1 ORDER BY part_number",
    )
    .bind(&[text(session_id)])
    .map_err(db_err)?
    .all()
    .await
    .map_err(db_err)?
    .results()
    .map_err(db_err)
}

#[derive(Debug, Clone, Deserialize)]
pub struct FileRow {
    pub id: String,
    pub name: Option<String>,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
    pub object_key: String,
}

/// Records the finalized file (once: a second finalize finds the row) and closes the session.
pub async fn complete_session(db: &D1Database, s: &SessionRow, now: u64) -> ApiResult<()> {
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
        .prepare("UPDATE upload_sessions SET status = 'completed', completed_at = ?2 WHERE id = ?1")
        .bind(&[text(&s.id), num(now)])
        .map_err(db_err)?;
    db.batch(vec![insert, close]).await.map_err(db_err)?;
    Ok(())
}

pub async fn file_for_account(db: &D1Database, account_id: &str, file_id: &str) -> ApiResult<Option<FileRow>> {
    db.prepare("SELECT id, name, content_type, size, sha256, object_key FROM files WHERE id = ?1 AND account_id = ?2")
        .bind(&[text(file_id), text(account_id)])
        .map_err(db_err)?
        .first(None)
        .await
        .map_err(db_err)
}

pub async fn part_tallies(db: &D1Database, session_id: &str) -> ApiResult<Vec<PartTally>> {
    db.prepare("SELECT part_number, size, reports FROM upload_parts WHERE session_id = ?1 ORDER BY part_number")
        .bind(&[text(session_id)])
        .map_err(db_err)?
        .all()
        .await
        .map_err(db_err)?
        .results()
        .map_err(db_err)
}

/// Marks an active session `status` ('aborted' or 'expired'); false if it was not active
/// (a concurrent abort, finalize or sweep got there first).
pub async fn close_session(db: &D1Database, session_id: &str, status: &str, reason: &str, now: u64) -> ApiResult<bool> {
    let result = db
        .prepare(
            "UPDATE upload_sessions SET status = ?2, abort_reason = ?3, completed_at = ?4 \
             WHERE id = ?1 AND status = 'active'",
        )
        .bind(&[text(session_id), text(status), text(reason), num(now)])
        .map_err(db_err)?
        .run()
        .await
        .map_err(db_err)?;
    let changed = result.meta().map_err(db_err)?.and_then(|m| m.changes).unwrap_or(0);
    Ok(changed > 0)
}

pub async fn mark_started(db: &D1Database, session_id: &str, now: u64) -> ApiResult<()> {
    db.prepare("UPDATE upload_sessions SET started_at = COALESCE(started_at, ?2) WHERE id = ?1")
        .bind(&[text(session_id), num(now)])
        .map_err(db_err)?
        .run()
        .await
        .map_err(db_err)?;
    Ok(())
}

/// Active sessions past their expiry, oldest first.
pub async fn expired_sessions(db: &D1Database, now: u64, limit: u32) -> ApiResult<Vec<SessionRow>> {
    db.prepare(format!(
        "SELECT {SESSION_COLUMNS} FROM upload_sessions WHERE status = 'active' AND expires_at <= ?1 \
         ORDER BY expires_at LIMIT ?2"
    ))
    .bind(&[num(now), num(u64::from(limit))])
    .map_err(db_err)?
    .all()
    .await
    .map_err(db_err)?
    .results()
    .map_err(db_err)
}

/// A finalized file of `account_id` with these exact bytes (SHA-256 and size): the dedup index
/// is scoped per account, so a hash never reveals or grants another account's file.
pub async fn file_by_content(
    db: &D1Database,
    account_id: &str,
    sha256_hex: &str,
    size: u64,
) -> ApiResult<Option<FileRow>> {
    db.prepare(
        "SELECT id, name, content_type, size, sha256, object_key FROM files \
         WHERE account_id = ?1 AND sha256 = ?2 AND size = ?3 ORDER BY created_at LIMIT 1",
    )
    .bind(&[text(account_id), text(sha256_hex), num(size)])
    .map_err(db_err)?
    .first(None)
    .await
    .map_err(db_err)
}

/// A new file record sharing the object of `source` (a zero-byte clone).
pub async fn insert_clone(
    db: &D1Database,
    account_id: &str,
    file_id: &str,
    name: Option<&str>,
    source: &FileRow,
    now: u64,
) -> ApiResult<()> {
    db.prepare(
        "INSERT INTO files (id, account_id, session_id, name, content_type, size, sha256, object_key, created_at, \
         deduplicated_from) VALUES (?1, ?2, NULL, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .bind(&[
        text(file_id),
        text(account_id),
        name.map(text).unwrap_or(JsValue::NULL),
        text(&source.content_type),
        num(source.size),
        text(&source.sha256),
        text(&source.object_key),
        num(now),
        text(&source.id),
    ])
    .map_err(db_err)?
    .run()
    .await
    .map_err(db_err)?;
    Ok(())
}
