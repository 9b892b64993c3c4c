//! D1 access for the coordinator: every SQL statement lives here, handlers call functions.

use jetty_shared::edges::EdgeLocation;
use jetty_shared::plan::PartPlan;
use jetty_shared::session::RecordedPart;
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
}

impl SessionRow {
    pub fn plan(&self) -> PartPlan {
        PartPlan {
            file_size: self.file_size,
            part_size: self.part_size,
            part_count: self.part_count,
        }
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
     part_count, object_key, s3_upload_id, status, expires_at";

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
         etag = excluded.etag, edge_id = excluded.edge_id, recorded_at = excluded.recorded_at",
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
