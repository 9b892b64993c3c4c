//! Sessions that survive anything: state derived from the database's part records, resume
//! tickets for any device, the client's own views cached in KV, abort and the expiry sweeper.
//!
//! The database holds the truth. KV only caches what clients said (their state view,
//! progress, chunk metadata); a stale or lost KV entry can never lose or corrupt a part.

use crate::db::{EdgeMetricsStore, SessionRow, SessionStore, StoreHealthStore};
use crate::ports::{Core, ObjectStore, Runtime};
use crate::{not_found, Result};
use jetty_shared::protocol::{Location, Priority};
use jetty_shared::session::SessionStatus;
use jetty_shared::state::{derive_state, ResumeResponse, SessionFacts, UploadState};
use jetty_shared::{ApiError, ErrorCode};

/// Sessions the sweeper closes per run (the next run takes the rest).
pub const SWEEP_BATCH: u32 = 100;

/// Why a session was closed without a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    /// The client (or its `track-upload` fail) aborted it.
    Aborted,
    /// The sweeper found it past its expiry.
    Expired,
}

impl Closing {
    fn status(self) -> SessionStatus {
        match self {
            Closing::Aborted => SessionStatus::Aborted,
            Closing::Expired => SessionStatus::Expired,
        }
    }
}

impl<D: SessionStore, O, K, R: Runtime> Core<D, O, K, R> {
    /// The caller's session for a file (another account's is not found).
    pub async fn own_session(&self, account: &str, file_id: &str) -> Result<SessionRow> {
        self.db.session_by_file(account, file_id).await?.ok_or_else(not_found)
    }

    /// The seed's state object, from the recorded parts only.
    pub async fn state_of(&self, session: &SessionRow) -> Result<UploadState> {
        let tallies = self.db.part_tallies(&session.id).await?;
        let facts = SessionFacts {
            file_id: &session.file_id,
            session_id: &session.id,
            status: session.status.as_str(),
            plan: session.plan(),
            edges: session.edge_ids(),
            file_hash_hex: &session.file_hash,
            content_id: session.content_id.as_deref(),
            expires_at_secs: session.expires_at.div_ceil(1000),
        };
        Ok(derive_state(facts, &tallies))
    }

    /// How long a cache entry about the session may live: until it expires, at least a minute.
    pub(crate) fn cache_ttl(&self, session: &SessionRow) -> u64 {
        (session.expires_at.saturating_sub(self.rt.now_ms()) / 1000).max(60)
    }
}

impl<D: SessionStore + EdgeMetricsStore, O, K, R: Runtime> Core<D, O, K, R> {
    /// A fresh upload ticket for an open session, the paths to use now and the recorded
    /// state, so any device holding the file can finish the upload.
    pub async fn resume(&self, session: &SessionRow, location: Location, origin: &str) -> Result<ResumeResponse> {
        if !session.is_open(self.rt.now_ms()) {
            return Err(ApiError::new(ErrorCode::SessionNotActive));
        }
        let edges = self.upload_paths(location, Priority::Speed, origin).await?;
        if edges.is_empty() {
            return Err(ApiError::new(ErrorCode::NoEdges));
        }
        Ok(ResumeResponse {
            upload: self.ticket(session)?,
            edges,
            state: self.state_of(session).await?,
            direct: self.direct_route(),
        })
    }
}

impl<D: SessionStore + StoreHealthStore, O: ObjectStore, K, R: Runtime> Core<D, O, K, R> {
    /// Aborts a session and its multipart upload; idempotent for closed sessions, refused for
    /// a completed one. The session as it is afterwards.
    pub async fn abort(&self, session: &SessionRow, reason: &str) -> Result<SessionRow> {
        if session.status == SessionStatus::Completed {
            return Err(ApiError::with_message(
                ErrorCode::SessionNotActive,
                "the upload is already complete",
            ));
        }
        if session.status == SessionStatus::Active {
            self.close(session, Closing::Aborted, reason).await?;
        }
        self.own_session(&session.account_id, &session.file_id).await
    }

    /// Aborts the multipart upload first, then marks the session; a store failure leaves the
    /// session active so the sweeper retries it.
    pub async fn close(&self, session: &SessionRow, closing: Closing, reason: &str) -> Result<()> {
        if !session.s3_upload_id.is_empty() {
            let aborted = self.abort_multipart(&session.object_key, &session.s3_upload_id).await;
            self.blame_store(aborted).await?;
        }
        self.db
            .close_session(&session.id, closing.status(), reason, self.rt.now_ms())
            .await?;
        Ok(())
    }

    /// The cron sweeper: closes sessions past their expiry and aborts their multipart uploads,
    /// so no orphaned parts accumulate. How many it closed; failures wait for the next run.
    pub async fn sweep(&self) -> Result<usize> {
        let mut closed = 0;
        for session in self.db.expired_sessions(self.rt.now_ms(), SWEEP_BATCH).await? {
            match self.close(&session, Closing::Expired, "expired").await {
                Ok(()) => closed += 1,
                Err(e) => self.rt.log(&format!(
                    "sweeper: session {} stays for the next run: {}",
                    session.id, e.message
                )),
            }
        }
        Ok(closed)
    }
}
