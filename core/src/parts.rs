//! Recording a part a forwarder (an edge, or the origin-direct route) got the store to accept.

use crate::db::{EdgeMetricsStore, SessionRow, SessionStore, StoreHealthStore};
use crate::ports::{Core, ObjectStore, Runtime};
use crate::{not_found, Result};
use jetty_shared::hash::Sha256Digest;
use jetty_shared::protocol::{PartRecord, SessionCheck};
use jetty_shared::session::{check_part, RecordedPart, SessionStatus};
use jetty_shared::{ApiError, ErrorCode};

/// The "edge" a part recorded from the store's own listing names (its forwarder's report had
/// not arrived).
pub use jetty_shared::sql::STORE_LISTED;

impl<D: SessionStore + EdgeMetricsStore + StoreHealthStore, O, K, R: Runtime> Core<D, O, K, R> {
    /// A forwarder's question after a failed forward: does the session still take parts? A
    /// session of another account is answered as not active. A store failure it reports is
    /// counted as the store's.
    pub async fn session_check(&self, check: &SessionCheck) -> Result<bool> {
        let session = self.db.session_by_id(&check.session_id).await?;
        let active = session.is_some_and(|s| s.account_id == check.account_id && s.is_open(self.rt.now_ms()));
        // A closed session's "failure" was the store not knowing its upload: not the store's.
        if check.store_failed && active {
            self.note_store_failure(&check.edge_id).await;
        }
        Ok(active)
    }

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

impl<D: SessionStore, O: ObjectStore, K, R: Runtime> Core<D, O, K, R> {
    /// Records the parts of `missing` that the store holds although no report of them arrived.
    /// An edge reports a part after it has answered the client (the report is off the part's
    /// critical path), so a finalize can overtake the last reports, and a report can be lost
    /// with the coordinator unreachable. A part counts only as the store lists it: its planned
    /// size and a `ChecksumSHA256`, which the store checked against the body on the way in (a
    /// listing without one records nothing: the client sends the part again). A store that no
    /// longer knows the upload lists nothing. The parts recorded, in order.
    pub async fn record_unreported_parts(&self, session: &SessionRow, missing: &[u32]) -> Result<Vec<u32>> {
        let (Some(&first), Some(&last)) = (missing.first(), missing.last()) else {
            return Ok(Vec::new());
        };
        let listed = match self.listed_parts(session, first, last).await {
            Err(e) if e.code == ErrorCode::SessionNotActive => return Ok(Vec::new()),
            other => other?,
        };
        let plan = session.plan();
        let mut records = Vec::new();
        for &number in missing {
            let Some(part) = listed.get(&number) else { continue };
            let digest = part.checksum_sha256.as_deref().and_then(Sha256Digest::from_base64);
            let (Some(digest), Some(len)) = (digest, plan.part_len(number)) else {
                continue;
            };
            if part.size != len {
                continue;
            }
            records.push(RecordedPart {
                part_number: number,
                size: part.size,
                sha256: digest.to_hex(),
                etag: part.etag.clone(),
                edge_id: STORE_LISTED.to_owned(),
            });
        }
        self.db
            .record_listed_parts(&session.id, &records, self.rt.now_ms())
            .await?;
        let recorded: Vec<u32> = records.iter().map(|r| r.part_number).collect();
        if !recorded.is_empty() {
            self.rt.log(&format!(
                "session {}: recorded parts {recorded:?} from the store's listing (no report yet)",
                session.id
            ));
        }
        Ok(recorded)
    }
}
