//! Recording a part a forwarder (an edge, or the origin-direct route) got the store to accept.

use crate::db::{EdgeMetricsStore, SessionStore};
use crate::ports::{Core, Runtime};
use crate::{not_found, Result};
use jetty_shared::hash::Sha256Digest;
use jetty_shared::protocol::PartRecord;
use jetty_shared::session::{check_part, RecordedPart, SessionStatus};
use jetty_shared::{ApiError, ErrorCode};

impl<D: SessionStore + EdgeMetricsStore, O, K, R: Runtime> Core<D, O, K, R> {
    /// Checks the report against its session (same account, still active, a part of its plan
    /// with its planned size, a well-formed digest) and records it. Concurrent or repeated
    /// reports of one part leave one record (an upsert counting reports).
    pub async fn record_part(&self, record: PartRecord) -> Result<()> {
        let session = self.db.session_by_id(&record.session_id).await?.ok_or_else(not_found)?;
        if session.account_id != record.account_id {
            return Err(not_found());
        }
        if session.status != SessionStatus::Active {
            return Err(ApiError::new(ErrorCode::SessionNotActive));
        }
        check_part(&session.plan(), record.part_number, record.size)?;
        Sha256Digest::parse(&record.sha256)?;
        let part = RecordedPart {
            part_number: record.part_number,
            size: record.size,
            sha256: record.sha256,
            etag: record.etag,
            edge_id: record.edge_id,
        };
        self.db.upsert_part(&session.id, &part, self.rt.now_ms()).await?;
        self.record_part_metrics(&part.edge_id, part.size, record.duration_ms, record.inflight)
            .await;
        Ok(())
    }
}
