//! Naming an upload's content after it started. A client that would otherwise hash every part
//! before its first byte moves (a browser: a 1 GiB file is seconds of hashing, a phone far
//! more) opens the session without an identity, sends each part as soon as it is hashed, and
//! names the content id here once all are: dedup answers then (the upload is aborted and the
//! upload's own file id becomes a clone of the stored file), else the id is recorded so the
//! session can be found to resume on another device and in-flight uploads of the same bytes
//! wait for it. Finalize still takes the id from the parts the store verified.

use crate::db::{Account, FileRow, FileStore, SessionRow, SessionStore, StoreHealthStore};
use crate::ports::{Core, ObjectStore, Runtime};
use crate::upload::file_url;
use crate::{not_found, Result};
use jetty_shared::content_id::ContentId;
use jetty_shared::protocol::{Duplicate, IdentifyRequest, IdentifyResponse};
use jetty_shared::session::SessionStatus;
use jetty_shared::{ApiError, ErrorCode};

/// Why a session answered as a duplicate at `identify` was closed.
pub const DUPLICATE_REASON: &str = "duplicate";

impl<D: SessionStore + FileStore + StoreHealthStore, O: ObjectStore, K, R: Runtime> Core<D, O, K, R> {
    /// `POST /api/jetty/identify`. The id must be over the session's own plan (as many parts);
    /// an id once recorded is never replaced (`409 content_id_mismatch` for another). A repeat
    /// after a duplicate answer gets the same answer.
    pub async fn identify_upload(
        &self,
        account: &Account,
        request: &IdentifyRequest,
        origin: &str,
    ) -> Result<IdentifyResponse> {
        let session = self
            .db
            .session_by_file(&account.id, &request.file_id)
            .await?
            .ok_or_else(not_found)?;
        let id = ContentId::from_field(&request.content_id)?;
        if id.parts != session.part_count {
            return Err(ApiError::with_message(
                ErrorCode::InvalidRequest,
                format!(
                    "contentId names {} parts; this upload has {}: hash the parts of its plan",
                    id.parts, session.part_count
                ),
            ));
        }
        let wire = id.to_wire();
        // Answered as a duplicate before (the answer was lost): the same answer again.
        if session.status == SessionStatus::Aborted {
            if let Some(clone) = self.db.file_for_account(&account.id, &session.file_id).await? {
                return Ok(self.duplicate_answer(origin, &clone, session.file_size));
            }
        }
        if !session.is_open(self.rt.now_ms()) {
            return Err(ApiError::new(ErrorCode::SessionNotActive));
        }
        match session.content_id.as_deref() {
            Some(recorded) if recorded == wire => return Ok(IdentifyResponse { duplicate: None }),
            Some(_) => return Err(ApiError::new(ErrorCode::ContentIdMismatch)),
            None => {}
        }
        let stored = self
            .find_duplicate(&account.id, None, Some(&wire), Some(session.file_size))
            .await?;
        if let Some(source) = stored {
            if let Some(answer) = self.answer_with_clone(account, &session, &source, origin).await? {
                return Ok(answer);
            }
        }
        self.db.declare_content_id(&session.id, &wire).await?;
        // Read back: a racing identify may have recorded another id first.
        let now = self.db.session_by_id(&session.id).await?.ok_or_else(not_found)?;
        match now.content_id.as_deref() {
            Some(recorded) if recorded != wire => Err(ApiError::new(ErrorCode::ContentIdMismatch)),
            _ => Ok(IdentifyResponse { duplicate: None }),
        }
    }

    /// The upload's file id made a clone of `source`, and the upload aborted (its parts are
    /// not needed). `None` if the source was deleted meanwhile: the upload carries on.
    async fn answer_with_clone(
        &self,
        account: &Account,
        session: &SessionRow,
        source: &FileRow,
        origin: &str,
    ) -> Result<Option<IdentifyResponse>> {
        let name = session.file_name.as_deref().or(source.name.as_deref());
        let cloned = self
            .db
            .insert_clone(&account.id, &session.file_id, name, source, self.rt.now_ms())
            .await?;
        if !cloned {
            return Ok(None);
        }
        // The clone stands whatever happens to the abort: a store failure leaves the session
        // active, and the sweeper aborts its multipart upload when it expires.
        if let Err(err) = self.abort(session, DUPLICATE_REASON).await {
            self.rt.log(&format!(
                "session {}: answered as a duplicate, abort failed ({}: {})",
                session.id,
                err.code.as_str(),
                err.message
            ));
        }
        let clone = self
            .db
            .file_for_account(&account.id, &session.file_id)
            .await?
            .ok_or_else(not_found)?;
        Ok(Some(self.duplicate_answer(origin, &clone, session.file_size)))
    }

    fn duplicate_answer(&self, origin: &str, clone: &FileRow, size: u64) -> IdentifyResponse {
        IdentifyResponse {
            duplicate: Some(Duplicate {
                url: file_url(origin, &clone.id),
                file_id: clone.id.clone(),
                sha256: Some(format!("sha256:{}", clone.sha256)),
                saved_bytes: size,
                saved_cost: self.transfer_cost(size),
                message: "File already exists. Zero-cost clone available.".to_owned(),
            }),
        }
    }
}
