//! Naming an upload's content after it started. A client that would otherwise hash every part
//! before its first byte moves (a browser: a 1 GiB file is seconds of hashing, a phone far
//! more) opens the session without an identity, sends each part as soon as it is hashed, and
//! names the content id here once all are: dedup answers then (the upload is aborted and the
//! upload's own file id becomes a clone of the stored file), else the id is recorded so the
//! session can be found to resume on another device and in-flight uploads of the same bytes
//! wait for it. Finalize still takes the id from the parts the store verified.

use crate::db::{Account, FileRow, FileStore, SessionRow, SessionStore, StoreHealthStore};
use crate::ports::{Core, ObjectStore, Runtime};
use crate::upload::{file_url, in_progress};
use crate::{not_found, Result};
use jetty_shared::content_id::ContentId;
use jetty_shared::protocol::{Duplicate, IdentifyRequest, IdentifyResponse};
use jetty_shared::session::{SessionStatus, IN_FLIGHT_IDLE_MS};
use jetty_shared::{ApiError, ErrorCode};

/// Why a session answered as a duplicate at `identify` was closed.
pub const DUPLICATE_REASON: &str = "duplicate";

impl<D: SessionStore + FileStore + StoreHealthStore, O: ObjectStore, K, R: Runtime> Core<D, O, K, R> {
    /// `POST /api/jetty/identify`. The id must be over the session's own plan (as many parts);
    /// an id once recorded is never replaced (`409 content_id_mismatch` for another). A repeat
    /// after a duplicate answer gets the same answer. While another upload of the account sends
    /// the same content, `409 upload_in_progress` (its `fileId`, `retryAfterSeconds`): the client
    /// holds its parts back and asks again, and gets a duplicate once that one is stored.
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
        // Twice at most: an upload that held this one back may finish (then it is a
        // duplicate) or go idle (then this one is recorded) between the two statements.
        let mut waiting_for = None;
        for _ in 0..2 {
            let stored = self
                .find_duplicate(&account.id, None, Some(&wire), Some(session.file_size))
                .await?;
            if let Some(source) = stored {
                if let Some(answer) = self.answer_with_clone(account, &session, &source, origin).await? {
                    return Ok(answer);
                }
            }
            let now = self.rt.now_ms();
            let live_since = now.saturating_sub(IN_FLIGHT_IDLE_MS);
            self.db.declare_content_id(&session, &wire, now, live_since).await?;
            // Read back: a racing identify may have recorded another id first, or another upload
            // of the same content may be moving (then this one waits for it, as at
            // `optimal-edges`).
            let after = self.db.session_by_id(&session.id).await?.ok_or_else(not_found)?;
            match after.content_id.as_deref() {
                Some(recorded) if recorded == wire => return Ok(IdentifyResponse { duplicate: None }),
                Some(_) => return Err(ApiError::new(ErrorCode::ContentIdMismatch)),
                None => {}
            }
            waiting_for = self
                .db
                .in_flight(&account.id, &wire, session.file_size, now, live_since)
                .await?;
            if waiting_for.is_some() {
                break;
            }
        }
        Err(in_progress(waiting_for.as_deref().unwrap_or(&session.file_id)))
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
        let cloned = match self
            .db
            .insert_clone(&account.id, &session.file_id, name, source, self.rt.now_ms())
            .await
        {
            Ok(cloned) => cloned,
            // A racing identify of the same upload made the clone first (the file id is taken).
            Err(err) => match self.db.file_for_account(&account.id, &session.file_id).await? {
                Some(_) => true,
                None => return Err(err),
            },
        };
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
