//! Finalizing a session: one CompleteMultipartUpload whatever the number of concurrent
//! callers (a finalize claim in the database), and recovery when an earlier finalize
//! completed the object in the store but failed to record it.

use crate::db::{FileRow, FileStore, SessionRow, SessionStore, StoreHealthStore};
use crate::ports::{Core, ObjectStore, Runtime};
use crate::store::Completed;
use crate::{internal, not_found, storage_failure, Result};
use jetty_shared::content_id::ContentId;
use jetty_shared::hash::Sha256Digest;
use jetty_shared::protocol::{FileInfo, FinalizeResponse};
use jetty_shared::session::{
    completion, finalize_wait, missing_parts, FinalizeWait, SessionStatus, FINALIZE_CLAIM_MS, FINALIZE_POLL_MS,
    FINALIZE_WAIT_MS, REPORT_WAIT_MS,
};
use jetty_shared::{ApiError, ErrorCode};

/// The finalize answer for a recorded file.
pub fn finalize_answer(file: &FileRow, origin: &str) -> FinalizeResponse {
    FinalizeResponse {
        file: FileInfo {
            url: crate::upload::file_url(origin, &file.id),
            id: file.id.clone(),
            size: file.size,
            sha256: format!("sha256:{}", file.sha256),
            name: file.name.clone(),
        },
    }
}

impl<D: SessionStore + FileStore + StoreHealthStore, O: ObjectStore, K, R: Runtime> Core<D, O, K, R> {
    /// Completes the session's object and answers with its file. Only the holder of the
    /// session's finalize claim talks to the store; the others wait for its result, take over
    /// if its claim lapses, or answer `finalize_in_progress` after `FINALIZE_WAIT_MS`.
    pub async fn finalize(&self, session: &SessionRow) -> Result<FileRow> {
        if session.status == SessionStatus::Completed {
            return self.finalized_file(session).await;
        }
        if !session.is_open(self.rt.now_ms()) {
            return Err(ApiError::new(ErrorCode::SessionNotActive));
        }
        // Every file has its whole-file hash (see `with_declared_hash`).
        if session.declared_hash().is_none() {
            return Err(ApiError::new(ErrorCode::FileHashRequired));
        }
        // Parts the store holds but no report recorded yet (reports trail the edges' answers)
        // are recorded from its listing; what is still missing is refused before anyone
        // claims anything.
        let plan = session.plan();
        let missing = missing_parts(&plan, &self.db.parts(&session.id).await?);
        if !missing.is_empty() {
            self.record_unreported_parts(session, &missing).await?;
            // What the store does not list (a store without part checksums) may still be on its
            // way as a report: wait a little for it before the client is told to send it again.
            let until = self.rt.now_ms() + REPORT_WAIT_MS;
            loop {
                let recorded = self.db.parts(&session.id).await?;
                if missing_parts(&plan, &recorded).is_empty() || self.rt.now_ms() >= until {
                    completion(&plan, &recorded)?;
                    break;
                }
                self.rt.sleep(FINALIZE_POLL_MS).await;
            }
        }
        let deadline = self.rt.now_ms() + FINALIZE_WAIT_MS;
        loop {
            let now = self.rt.now_ms();
            let until = now + FINALIZE_CLAIM_MS;
            if self.db.claim_finalize(&session.id, now, until).await? {
                let result = self.complete_in_store(session).await;
                if result.is_err() {
                    // Best effort: a claim that is not given back lapses after FINALIZE_CLAIM_MS.
                    let _ = self.db.release_finalize(&session.id, until).await;
                }
                return result;
            }
            loop {
                let current = self.db.session_by_id(&session.id).await?.ok_or_else(not_found)?;
                match finalize_wait(
                    current.status,
                    current.expires_at,
                    current.finalize_claimed_until,
                    self.rt.now_ms(),
                    deadline,
                ) {
                    FinalizeWait::Completed => return self.finalized_file(session).await,
                    FinalizeWait::NotActive => return Err(ApiError::new(ErrorCode::SessionNotActive)),
                    FinalizeWait::GiveUp => return Err(ApiError::new(ErrorCode::FinalizeInProgress)),
                    FinalizeWait::Claim => break,
                    FinalizeWait::Poll => self.rt.sleep(FINALIZE_POLL_MS).await,
                }
            }
        }
    }

    /// The session with the whole-file hash the finalize request declares (`sha256:<hex>` or
    /// hex): recorded if the session was opened without one (by content id alone, so the
    /// client could send parts while it still hashed the whole file), else it must be the one
    /// declared then. A session that has none and gets none cannot be finalized.
    pub async fn with_declared_hash(&self, session: SessionRow, declared: Option<&str>) -> Result<SessionRow> {
        let declared = declared.map(Sha256Digest::parse).transpose()?.map(|d| d.to_hex());
        let session = match (session.declared_hash(), &declared) {
            (None, Some(given)) if session.status == SessionStatus::Active => {
                self.db.declare_file_hash(&session.id, given).await?;
                // Read back: a racing finalize may have declared first.
                self.db.session_by_id(&session.id).await?.ok_or_else(not_found)?
            }
            _ => session,
        };
        match (session.declared_hash(), declared) {
            (Some(have), Some(given)) if have != given => Err(ApiError::new(ErrorCode::FileHashMismatch)),
            _ => Ok(session),
        }
    }

    /// The claim holder's part: Complete in the store, then the file row.
    async fn complete_in_store(&self, session: &SessionRow) -> Result<FileRow> {
        // Read the parts again under the claim: a re-sent part may have replaced an ETag.
        let parts = completion(&session.plan(), &self.db.parts(&session.id).await?)?;
        let completed = self
            .complete_multipart(
                &session.object_key,
                &session.s3_upload_id,
                &session.content_type,
                &parts,
            )
            .await;
        let outcome = self.blame_store(completed).await?;
        // The content id from the parts' digests, each checked by the store on the way in;
        // where the store reports its own composite checksum, the two must agree.
        let content_id = ContentId::of_parts(&parts.iter().map(|p| p.sha256).collect::<Vec<_>>());
        let content_id = match &outcome {
            Completed::Done {
                checksum: Some(reported),
            } if !content_id.matches_s3_checksum(reported) => {
                self.rt.log(&format!(
                    "session {}: the store's composite checksum {reported} is not {} from the recorded \
                     parts; the file keeps no content id",
                    session.id,
                    content_id.to_s3_checksum()
                ));
                None
            }
            _ => Some(content_id.to_wire()),
        };
        if outcome == Completed::NoSuchUpload {
            // An earlier finalize completed it in the store but failed to record it (its
            // claim then lapsed): the object is there with its planned size, so record it now
            // instead of losing the upload.
            let recorded = self.db.file_for_account(&session.account_id, &session.file_id).await?;
            if recorded.is_none() && self.object_size(&session.object_key).await? == Some(session.file_size) {
                self.db
                    .complete_session(session, self.rt.now_ms(), 0, content_id.as_deref())
                    .await?;
            }
            if let Some(file) = self.db.file_for_account(&session.account_id, &session.file_id).await? {
                return Ok(file);
            }
            return Err(storage_failure(format!(
                "CompleteMultipartUpload: NoSuchUpload for session {} and no object of its size",
                session.id
            )));
        }
        self.db
            .complete_session(session, self.rt.now_ms(), 0, content_id.as_deref())
            .await?;
        self.finalized_file(session).await
    }

    async fn finalized_file(&self, session: &SessionRow) -> Result<FileRow> {
        self.db
            .file_for_account(&session.account_id, &session.file_id)
            .await?
            .ok_or_else(|| internal("completed session without a file row"))
    }
}
