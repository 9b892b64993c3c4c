//! Upload sessions and their parts (`upload_sessions`, `upload_parts`).

use super::{Database, Statement};
use crate::{stmt, Result};
use jetty_shared::listing::ListQuery;
use jetty_shared::plan::PartPlan;
use jetty_shared::quota::StorageUse;
use jetty_shared::session::{RecordedPart, SessionStatus};
use jetty_shared::sql::{self, sessions as q};
use jetty_shared::state::PartTally;
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
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
    pub status: SessionStatus,
    pub expires_at: u64,
    pub edges_used: String,
    /// Until when a finalize holds the right to complete it in S3 (migration 0009).
    pub finalize_claimed_until: Option<u64>,
    /// The content id the client opened it with (migration 0012), if any.
    #[serde(default)]
    pub content_id: Option<String>,
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

    /// The whole-file hash (hex) the client declared, if it has yet (`file_hash` is `''` until
    /// then: a session opened by content id alone gets it at finalize).
    pub fn declared_hash(&self) -> Option<&str> {
        (!self.file_hash.is_empty()).then_some(self.file_hash.as_str())
    }

    /// Active and not past its expiry.
    pub fn is_open(&self, now_ms: u64) -> bool {
        self.status == SessionStatus::Active && now_ms < self.expires_at
    }
}

/// A session to reserve (see `SessionStore::insert_session_within_quota`).
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: String,
    pub account_id: String,
    pub file_id: String,
    pub file_name: Option<String>,
    pub content_type: String,
    /// `''` when the client declares it only at finalize.
    pub file_hash_hex: String,
    pub plan: PartPlan,
    pub threads: u32,
    pub object_key: String,
    pub edges_used_json: String,
    pub created_at: u64,
    pub expires_at: u64,
    /// The strategy's estimate; None when none was made (simple upload).
    pub estimated_seconds: Option<f64>,
    pub estimated_cost: f64,
    /// The transfer price the session's costs are computed at.
    pub price_per_gb: f64,
    /// The content id the client declared (in-flight dedup), if any.
    pub content_id: Option<String>,
}

/// A part the account already stores: its digest and size, and where it lies in which object.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ReusablePart {
    pub sha256: String,
    pub size: u64,
    pub object_key: String,
    pub offset: u64,
}

/// An open session as `GET /api/jetty/uploads` lists it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OpenSessionRow {
    pub session_id: String,
    pub file_id: String,
    pub file_name: Option<String>,
    pub content_type: String,
    pub file_hash: String,
    #[serde(default)]
    pub content_id: Option<String>,
    pub file_size: u64,
    pub part_size: u64,
    pub part_count: u32,
    pub created_at: u64,
    pub expires_at: u64,
    pub parts_done: u32,
    pub bytes_received: u64,
}

pub trait SessionStore: Database {
    /// The file id of the account's live open session for this content (see `sql::IN_FLIGHT`).
    async fn in_flight(
        &self,
        account_id: &str,
        content_id: &str,
        size: u64,
        now: u64,
        live_since: u64,
    ) -> Result<Option<String>> {
        #[derive(Deserialize)]
        struct Row {
            file_id: String,
        }
        let row: Option<Row> = self
            .first(stmt!(q::in_flight(), account_id, content_id, size, now, live_since))
            .await?;
        Ok(row.map(|r| r.file_id))
    }

    /// A page of the account's open sessions, newest first (`limit` rows at most).
    async fn open_sessions(
        &self,
        account_id: &str,
        now: u64,
        query: &ListQuery,
        limit: u32,
    ) -> Result<Vec<OpenSessionRow>> {
        let after = query.after.as_ref();
        self.query(stmt!(
            q::LIST_OPEN,
            account_id,
            now,
            query.prefix.as_str(),
            query.hash.as_deref().unwrap_or_default(),
            after.map(|c| c.created_at),
            after.map(|c| c.id.as_str()).unwrap_or_default(),
            limit,
            query.content_id.as_deref().unwrap_or_default(),
        ))
        .await
    }

    async fn storage_use(&self, account_id: &str, now: u64) -> Result<StorageUse> {
        #[derive(Deserialize)]
        struct Row {
            stored: u64,
            reserved: u64,
        }
        let row: Option<Row> = self.first(stmt!(q::STORAGE_USE, account_id, now)).await?;
        Ok(row
            .map(|r| StorageUse {
                stored: r.stored,
                reserved: r.reserved,
            })
            .unwrap_or_default())
    }

    /// Inserts the session only if its file still fits the account's storage quota, in one
    /// statement; false when it does not fit.
    async fn insert_session_within_quota(&self, s: &NewSession, quota_bytes: u64) -> Result<bool> {
        let changed = self
            .execute(stmt!(
                q::insert_within_quota(),
                &s.account_id,
                s.created_at,
                &s.id,
                &s.file_id,
                s.file_name.as_deref(),
                &s.content_type,
                &s.file_hash_hex,
                s.plan.file_size,
                s.plan.part_size,
                s.plan.part_count,
                s.threads,
                &s.object_key,
                "",
                &s.edges_used_json,
                s.expires_at,
                quota_bytes,
                s.estimated_seconds,
                s.estimated_cost,
                s.price_per_gb,
                s.content_id.as_deref(),
                s.created_at.saturating_sub(jetty_shared::session::IN_FLIGHT_IDLE_MS),
            ))
            .await?;
        Ok(changed > 0)
    }

    async fn set_upload_id(&self, session_id: &str, upload_id: &str) -> Result<()> {
        self.execute(stmt!(q::SET_UPLOAD_ID, session_id, upload_id)).await?;
        Ok(())
    }

    /// Records the content id of `session` (active, opened without one) unless a live session
    /// of its account uploads the same content; a recorded id is never replaced.
    async fn declare_content_id(
        &self,
        session: &SessionRow,
        content_id: &str,
        now: u64,
        live_since: u64,
    ) -> Result<()> {
        self.execute(stmt!(
            q::declare_content_id(),
            &session.id,
            content_id,
            &session.account_id,
            session.file_size,
            now,
            live_since
        ))
        .await?;
        Ok(())
    }

    /// Records the whole-file hash (hex) of a session opened without one; a declared hash is
    /// never replaced.
    async fn declare_file_hash(&self, session_id: &str, file_hash_hex: &str) -> Result<()> {
        self.execute(stmt!(q::DECLARE_FILE_HASH, session_id, file_hash_hex))
            .await?;
        Ok(())
    }

    async fn session_by_id(&self, session_id: &str) -> Result<Option<SessionRow>> {
        self.first(stmt!(q::by_id(), session_id)).await
    }

    /// A session by file id, only if it belongs to `account_id`.
    async fn session_by_file(&self, account_id: &str, file_id: &str) -> Result<Option<SessionRow>> {
        self.first(stmt!(q::by_file(), file_id, account_id)).await
    }

    /// Where the account already stores parts with these digests (hex): completed uploads'
    /// parts whose file it still has; one place per digest and size.
    async fn reusable_parts(&self, account_id: &str, digests: &[String]) -> Result<Vec<ReusablePart>> {
        let digests = serde_json::to_string(digests).map_err(|e| crate::internal(e.to_string()))?;
        self.query(stmt!(sql::REUSABLE_PARTS, account_id, digests.as_str()))
            .await
    }

    /// Records a part the store copied from an earlier upload (no transfer counted).
    async fn upsert_copied_part(&self, session_id: &str, part: &RecordedPart, now: u64) -> Result<()> {
        self.execute(part_statement(sql::UPSERT_COPIED_PART, session_id, part, now))
            .await?;
        Ok(())
    }

    async fn upsert_part(&self, session_id: &str, part: &RecordedPart, now: u64) -> Result<()> {
        self.execute(part_statement(sql::UPSERT_PART, session_id, part, now))
            .await?;
        Ok(())
    }

    /// Records `parts` as the store lists them (`sql::UPSERT_LISTED_PART`: what is recorded
    /// already is left as it is), in one database round trip per `PARTS_PER_BATCH` (each batch
    /// one transaction: all of it or none) instead of one per part.
    async fn record_listed_parts(&self, session_id: &str, parts: &[RecordedPart], now: u64) -> Result<()> {
        for chunk in parts.chunks(PARTS_PER_BATCH) {
            let statements = chunk
                .iter()
                .map(|p| part_statement(sql::UPSERT_LISTED_PART, session_id, p, now))
                .collect();
            self.batch(statements).await?;
        }
        Ok(())
    }

    async fn parts(&self, session_id: &str) -> Result<Vec<RecordedPart>> {
        self.query(stmt!(q::PARTS, session_id)).await
    }

    async fn part_tallies(&self, session_id: &str) -> Result<Vec<PartTally>> {
        self.query(stmt!(q::PART_TALLIES, session_id)).await
    }

    /// Takes the session's finalize claim until `until` (ms); false if it is not active or
    /// another caller's claim has not lapsed.
    async fn claim_finalize(&self, session_id: &str, now: u64, until: u64) -> Result<bool> {
        Ok(self.execute(stmt!(sql::CLAIM_FINALIZE, session_id, now, until)).await? == 1)
    }

    /// Gives back the claim taken until `until`, if it is still that one.
    async fn release_finalize(&self, session_id: &str, until: u64) -> Result<()> {
        self.execute(stmt!(sql::RELEASE_FINALIZE, session_id, until)).await?;
        Ok(())
    }

    /// Records the file (once) and closes the session, in one transaction. `put_bytes` are
    /// bytes the coordinator stored itself in one PutObject rather than through reported parts;
    /// the schema's triggers turn the counters into duration, speed and cost.
    /// Records the session's file (with its verified content id, if any) and closes it.
    async fn complete_session(&self, s: &SessionRow, now: u64, put_bytes: u64, content_id: Option<&str>) -> Result<()> {
        let insert = stmt!(
            q::INSERT_FILE,
            &s.file_id,
            &s.account_id,
            &s.id,
            s.file_name.as_deref(),
            &s.content_type,
            s.file_size,
            &s.file_hash,
            &s.object_key,
            now,
            content_id,
        );
        let close = stmt!(sql::COMPLETE_SESSION, &s.id, now, put_bytes, u64::from(put_bytes > 0));
        self.batch(vec![insert, close]).await?;
        Ok(())
    }

    /// Marks an active session `status` ('aborted' or 'expired'); false if it was not active.
    async fn close_session(&self, session_id: &str, status: SessionStatus, reason: &str, now: u64) -> Result<bool> {
        Ok(self
            .execute(stmt!(q::CLOSE, session_id, status.as_str(), reason, now))
            .await?
            > 0)
    }

    async fn mark_started(&self, session_id: &str, now: u64) -> Result<()> {
        self.execute(stmt!(q::MARK_STARTED, session_id, now)).await?;
        Ok(())
    }

    /// Active sessions past their expiry, oldest first.
    async fn expired_sessions(&self, now: u64, limit: u32) -> Result<Vec<SessionRow>> {
        self.query(stmt!(q::expired(), now, limit)).await
    }
}

impl<D: Database> SessionStore for D {}

/// Parts recorded per database batch (`record_listed_parts`): a D1 request stays small.
pub const PARTS_PER_BATCH: usize = 100;

/// One of the part-recording statements (`sql::UPSERT_PART`, `UPSERT_LISTED_PART`,
/// `UPSERT_COPIED_PART`: the same parameters) for `part`.
fn part_statement(sql: &'static str, session_id: &str, part: &RecordedPart, now: u64) -> Statement {
    stmt!(
        sql,
        session_id,
        part.part_number,
        part.size,
        &part.sha256,
        &part.etag,
        &part.edge_id,
        now,
    )
}
