//! Upload-session decisions, sans-IO: what a recorded part must look like, whether a
//! session can be finalized, and what a store's refusal of a part means for the client.

use crate::error::{ApiError, ErrorCode};
use crate::hash::Sha256Digest;
use crate::plan::PartPlan;
use crate::s3::{CompletedPart, S3ErrorCode};
use serde::{Deserialize, Serialize};

/// An upload session's `status` column in D1 (`upload_sessions.status`). A session is active
/// until it completes, is aborted or expires; the last three are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    Active,
    Completed,
    Aborted,
    Expired,
}

impl SessionStatus {
    pub const ALL: &'static [SessionStatus] = &[
        SessionStatus::Active,
        SessionStatus::Completed,
        SessionStatus::Aborted,
        SessionStatus::Expired,
    ];

    /// The string stored in D1: `active`, `completed`, `aborted` or `expired`.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Active => "active",
            SessionStatus::Completed => "completed",
            SessionStatus::Aborted => "aborted",
            SessionStatus::Expired => "expired",
        }
    }

    /// The status a stored string names (exact, lowercase); `None` for anything else.
    pub fn parse(s: &str) -> Option<SessionStatus> {
        SessionStatus::ALL.iter().copied().find(|status| status.as_str() == s)
    }

    /// Completed, aborted and expired sessions never change again.
    pub fn is_final(self) -> bool {
        self != SessionStatus::Active
    }
}

impl std::fmt::Display for SessionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// So `finalize_wait` takes the enum as well as the stored string.
impl AsRef<str> for SessionStatus {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// A part as recorded in the session store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedPart {
    pub part_number: u32,
    pub size: u64,
    pub sha256: String,
    pub etag: String,
    pub edge_id: String,
}

/// Checks a part report against the plan before it is recorded.
pub fn check_part(plan: &PartPlan, part_number: u32, size: u64) -> Result<(), ApiError> {
    let expected = plan
        .part_len(part_number)
        .ok_or_else(|| part_out_of_range(plan, part_number))?;
    if size != expected {
        return Err(ApiError::with_message(
            ErrorCode::ChunkSizeMismatch,
            format!("part {part_number} must be {expected} bytes, got {size}"),
        ));
    }
    Ok(())
}

pub fn part_out_of_range(plan: &PartPlan, part_number: u32) -> ApiError {
    ApiError::with_message(
        ErrorCode::InvalidPartNumber,
        format!("part number {part_number} is outside 1..={}", plan.part_count),
    )
}

/// `recorded` by part number, one slot per part of `plan` (parts outside it are ignored).
fn by_number<'a>(plan: &PartPlan, recorded: &'a [RecordedPart]) -> Vec<Option<&'a RecordedPart>> {
    let mut by_number: Vec<Option<&RecordedPart>> = vec![None; plan.part_count as usize];
    for part in recorded {
        if let Some(slot) = part
            .part_number
            .checked_sub(1)
            .and_then(|i| by_number.get_mut(i as usize))
        {
            *slot = Some(part);
        }
    }
    by_number
}

/// The part numbers of the empty slots, in order.
fn empty_slots(slots: &[Option<&RecordedPart>]) -> Vec<u32> {
    (1..).zip(slots).filter(|(_, s)| s.is_none()).map(|(n, _)| n).collect()
}

/// The parts of `plan` that `recorded` lacks, in order.
pub fn missing_parts(plan: &PartPlan, recorded: &[RecordedPart]) -> Vec<u32> {
    empty_slots(&by_number(plan, recorded))
}

/// The parts to complete the multipart upload with, in order, or `parts_missing` listing
/// every part not yet recorded (and `part_size_mismatch` for any recorded with a wrong size).
pub fn completion(plan: &PartPlan, recorded: &[RecordedPart]) -> Result<Vec<CompletedPart>, ApiError> {
    let by_number = by_number(plan, recorded);
    let missing = empty_slots(&by_number);
    if !missing.is_empty() {
        return Err(ApiError::with_message(
            ErrorCode::PartsMissing,
            format!("{} of {} parts have not been uploaded", missing.len(), plan.part_count),
        )
        .details(serde_json::json!({ "missing": missing, "partCount": plan.part_count })));
    }
    let mut out = Vec::with_capacity(by_number.len());
    for (i, part) in by_number.into_iter().flatten().enumerate() {
        let number = i as u32 + 1;
        if Some(part.size) != plan.part_len(number) {
            return Err(ApiError::new(ErrorCode::PartSizeMismatch).details(serde_json::json!({ "part": number })));
        }
        let sha256 = Sha256Digest::parse(&part.sha256)
            .map_err(|_| ApiError::with_message(ErrorCode::Internal, "a recorded part has a corrupt hash"))?;
        out.push(CompletedPart {
            number,
            etag: part.etag.clone(),
            sha256,
        });
    }
    Ok(out)
}

/// Maps an object store's refusal of `UploadPart` to the client-facing error.
/// `s3_code` is the error document's `<Code>`, empty when there was no document.
pub fn classify_part_refusal(status: u16, s3_code: &str) -> ErrorCode {
    let kind = (!s3_code.is_empty()).then(|| S3ErrorCode::from_code(s3_code));
    classify_store_refusal(status, kind.as_ref())
}

/// [`classify_part_refusal`] on the parsed code (`None`: the response had no error document).
pub fn classify_store_refusal(status: u16, code: Option<&S3ErrorCode>) -> ErrorCode {
    match code {
        // The body did not match the signed payload hash or the SHA-256 checksum header.
        Some(
            S3ErrorCode::BadDigest
            | S3ErrorCode::InvalidDigest
            | S3ErrorCode::XAmzContentSHA256Mismatch
            | S3ErrorCode::XAmzContentChecksumMismatch
            | S3ErrorCode::InvalidChecksum,
        ) => ErrorCode::ChunkHashMismatch,
        Some(S3ErrorCode::IncompleteBody | S3ErrorCode::RequestTimeout) => ErrorCode::ChunkSizeMismatch,
        Some(S3ErrorCode::NoSuchUpload) => ErrorCode::SessionNotActive,
        Some(S3ErrorCode::EntityTooLarge) => ErrorCode::PayloadTooLarge,
        None if status == 400 => ErrorCode::ChunkHashMismatch,
        // A store that answers before reading the body (the upload is gone) may close the
        // connection with the body unread, and its error document is lost in the reset. The
        // bucket and key are the session's own, so a bare 404 can only mean the upload.
        None if status == 404 => ErrorCode::SessionNotActive,
        _ => ErrorCode::StorageError,
    }
}

/// How a forward of a part to the store failed, as the forwarder saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardFailure {
    /// The store answered with this status and error code.
    Answered { status: u16, code: Option<S3ErrorCode> },
    /// No answer (connection refused, reset or timed out). `body_intact`: the client's body
    /// reached its declared length (or was still flowing); `store_reachable`: a probe of the
    /// store answered right after.
    NoAnswer { body_intact: bool, store_reachable: bool },
}

impl ForwardFailure {
    /// What the failure is, before asking whether the session is still open.
    pub fn classify(&self) -> ErrorCode {
        match self {
            ForwardFailure::Answered { status, code } => match classify_store_refusal(*status, code.as_ref()) {
                ErrorCode::StorageError if *status >= 500 || code.as_ref().is_some_and(S3ErrorCode::is_retryable) => {
                    ErrorCode::StoreUnavailable
                }
                other => other,
            },
            // The body broke while the store is fine: the client sent less than it declared
            // (or went away).
            ForwardFailure::NoAnswer {
                body_intact: false,
                store_reachable: true,
            } => ErrorCode::ChunkSizeMismatch,
            ForwardFailure::NoAnswer { .. } => ErrorCode::StoreUnavailable,
        }
    }

    /// Whether the answer depends on the session still being open: the store's failures and
    /// its "no such upload" are only truthful once the session's record says it is active.
    pub fn needs_session_check(&self) -> bool {
        // No answer at all can also be a store that refused the upload and reset the
        // connection with the body unread (it no longer knows the upload).
        matches!(self, ForwardFailure::NoAnswer { .. })
            || matches!(
                self.classify(),
                ErrorCode::SessionNotActive | ErrorCode::StorageError | ErrorCode::StoreUnavailable
            )
    }

    /// The client's answer, given whether the session is still active (asked only when
    /// `needs_session_check`). A closed session is always `session_not_active`; an open one the
    /// store does not know is the store's failure.
    pub fn answer(&self, session_active: bool) -> ErrorCode {
        match self.classify() {
            code if !self.needs_session_check() => code,
            _ if !session_active => ErrorCode::SessionNotActive,
            ErrorCode::SessionNotActive => ErrorCode::StorageError,
            code => code,
        }
    }

    /// Whether this failure is the store's (counted against the store, never the edge).
    pub fn is_store_failure(&self) -> bool {
        matches!(self.classify(), ErrorCode::StorageError | ErrorCode::StoreUnavailable)
    }
}

/// How long a finalize claim lasts: longer than a CompleteMultipartUpload of 10,000 parts
/// should take (S3 can need minutes), short enough that a crashed holder is soon replaced.
pub const FINALIZE_CLAIM_MS: u64 = 120_000;

/// How long an open session for some content may go without a new part before a second upload
/// of that content stops waiting for it and starts its own (in-flight dedup).
pub const IN_FLIGHT_IDLE_MS: u64 = 120_000;
/// How soon a client waiting on an upload in flight should ask again.
pub const IN_FLIGHT_RETRY_SECS: u64 = 2;
/// How long a concurrent finalize waits for the claim's holder before it answers
/// `finalize_in_progress` (503, retry) instead of holding the request open.
pub const FINALIZE_WAIT_MS: u64 = 20_000;
/// The pause between looks at the session while waiting.
pub const FINALIZE_POLL_MS: u64 = 200;
/// How long a finalize that finds parts unrecorded (and not listed with a checksum by the
/// store) waits for their reports before it answers `parts_missing`: an edge reports a part
/// after it has answered the client, a D1 write away, so a finalize can overtake the last
/// reports by about that round trip.
pub const REPORT_WAIT_MS: u64 = 2_000;
// Waiters give up before a live holder's claim lapses, so they never take over a running Complete.
const _: () = assert!(FINALIZE_CLAIM_MS > FINALIZE_WAIT_MS);

/// What a finalize that did not get the claim does next, from a fresh look at the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalizeWait {
    /// The holder completed it: answer with the recorded file.
    Completed,
    /// Aborted or expired meanwhile.
    NotActive,
    /// The claim lapsed (its holder died, or failed and gave it back): try to claim it.
    Claim,
    /// Still held: look again after `FINALIZE_POLL_MS`.
    Poll,
    /// Waited `FINALIZE_WAIT_MS`: the client retries later.
    GiveUp,
}

/// Decides a waiting finalize's next step. `status` is the session's stored status (a
/// `&str`/`&String` from D1, or a [`SessionStatus`]); an unknown string counts as not active.
/// `deadline_ms` is when it stops waiting.
pub fn finalize_wait(
    status: impl AsRef<str>,
    expires_at_ms: u64,
    claimed_until_ms: Option<u64>,
    now_ms: u64,
    deadline_ms: u64,
) -> FinalizeWait {
    finalize_wait_status(
        SessionStatus::parse(status.as_ref()),
        expires_at_ms,
        claimed_until_ms,
        now_ms,
        deadline_ms,
    )
}

/// [`finalize_wait`] on a parsed status (`None`: a string that names no status).
pub fn finalize_wait_status(
    status: Option<SessionStatus>,
    expires_at_ms: u64,
    claimed_until_ms: Option<u64>,
    now_ms: u64,
    deadline_ms: u64,
) -> FinalizeWait {
    match status {
        Some(SessionStatus::Completed) => FinalizeWait::Completed,
        Some(SessionStatus::Active) if now_ms < expires_at_ms => {
            if claimed_until_ms.is_none_or(|until| until <= now_ms) {
                FinalizeWait::Claim
            } else if now_ms >= deadline_ms {
                FinalizeWait::GiveUp
            } else {
                FinalizeWait::Poll
            }
        }
        Some(SessionStatus::Active | SessionStatus::Aborted | SessionStatus::Expired) | None => FinalizeWait::NotActive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::MIB;

    fn plan() -> PartPlan {
        PartPlan {
            file_size: 17 * MIB + 3,
            part_size: 8 * MIB,
            part_count: 3,
        }
    }

    fn part(n: u32, size: u64) -> RecordedPart {
        RecordedPart {
            part_number: n,
            size,
            sha256: Sha256Digest::of(&[n as u8]).to_hex(),
            etag: format!("\"etag{n}\""),
            edge_id: "sfo-1".into(),
        }
    }

    #[test]
    fn part_reports_are_checked_against_the_plan() {
        assert!(check_part(&plan(), 1, 8 * MIB).is_ok());
        assert!(check_part(&plan(), 3, MIB + 3).is_ok());
        assert_eq!(
            check_part(&plan(), 3, 8 * MIB).unwrap_err().code,
            ErrorCode::ChunkSizeMismatch
        );
        assert_eq!(
            check_part(&plan(), 0, 1).unwrap_err().code,
            ErrorCode::InvalidPartNumber
        );
        assert_eq!(
            check_part(&plan(), 4, 1).unwrap_err().code,
            ErrorCode::InvalidPartNumber
        );
    }

    #[test]
    fn completion_lists_every_missing_part() {
        let err = completion(&plan(), &[part(2, 8 * MIB)]).unwrap_err();
        assert_eq!(err.code, ErrorCode::PartsMissing);
        assert_eq!(err.details.unwrap()["missing"], serde_json::json!([1, 3]));
        let none = completion(&plan(), &[]).unwrap_err();
        assert_eq!(none.details.unwrap()["missing"], serde_json::json!([1, 2, 3]));
    }

    #[test]
    fn an_empty_file_completes_with_no_parts() {
        let empty = PartPlan::new(0, 8 * MIB, crate::plan::DEFAULT_BODY_LIMIT).unwrap();
        assert_eq!(completion(&empty, &[]).unwrap(), vec![]);
    }

    #[test]
    fn missing_parts_are_the_plan_s_parts_without_a_record_in_order() {
        let plan = plan();
        let all: Vec<u32> = plan.part_numbers().collect();
        let cases: [(&[u32], Vec<u32>); 4] = [
            (&[], all.clone()),
            (&[2], all.iter().copied().filter(|n| *n != 2).collect()),
            (&all, vec![]),
            // A record outside the plan fills no slot.
            (&[0, plan.part_count + 1], all.clone()),
        ];
        for (recorded, want) in cases {
            let parts: Vec<RecordedPart> = recorded.iter().map(|n| part(*n, 8 * MIB)).collect();
            assert_eq!(missing_parts(&plan, &parts), want, "recorded {recorded:?}");
        }
    }

    #[test]
    fn completion_orders_parts_whatever_the_record_order() {
        let parts = [part(3, MIB + 3), part(1, 8 * MIB), part(2, 8 * MIB), part(9, 1)];
        let done = completion(&plan(), &parts).unwrap();
        assert_eq!(done.iter().map(|p| p.number).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(done[0].etag, "\"etag1\"");
    }

    #[test]
    fn completion_refuses_a_wrongly_sized_part() {
        let parts = [part(1, 8 * MIB), part(2, 8 * MIB - 1), part(3, MIB + 3)];
        assert_eq!(
            completion(&plan(), &parts).unwrap_err().code,
            ErrorCode::PartSizeMismatch
        );
    }

    #[test]
    fn store_refusals_map_to_stable_codes() {
        let table = [
            (400, "InvalidDigest", ErrorCode::ChunkHashMismatch),
            (400, "BadDigest", ErrorCode::ChunkHashMismatch),
            (400, "XAmzContentSHA256Mismatch", ErrorCode::ChunkHashMismatch),
            (400, "XAmzContentChecksumMismatch", ErrorCode::ChunkHashMismatch),
            (400, "IncompleteBody", ErrorCode::ChunkSizeMismatch),
            (404, "NoSuchUpload", ErrorCode::SessionNotActive),
            (403, "SignatureDoesNotMatch", ErrorCode::StorageError),
            (500, "InternalError", ErrorCode::StorageError),
            (404, "", ErrorCode::SessionNotActive),
            (404, "NoSuchBucket", ErrorCode::StorageError),
            (500, "", ErrorCode::StorageError),
        ];
        for (status, code, want) in table {
            assert_eq!(classify_part_refusal(status, code), want, "{status} {code}");
        }
    }

    #[test]
    fn session_statuses_are_the_strings_stored_in_d1() {
        let table = [
            (SessionStatus::Active, "active"),
            (SessionStatus::Completed, "completed"),
            (SessionStatus::Aborted, "aborted"),
            (SessionStatus::Expired, "expired"),
        ];
        assert_eq!(table.len(), SessionStatus::ALL.len());
        for (status, stored) in table {
            assert_eq!(status.as_str(), stored);
            assert_eq!(status.to_string(), stored);
            assert_eq!(SessionStatus::parse(stored), Some(status));
            assert_eq!(serde_json::to_string(&status).unwrap(), format!("\"{stored}\""));
            assert_eq!(
                serde_json::from_str::<SessionStatus>(&format!("\"{stored}\"")).unwrap(),
                status
            );
            assert_eq!(status.is_final(), status != SessionStatus::Active);
        }
        for unknown in ["", "Active", "ACTIVE", "in_progress", "paused", " active"] {
            assert_eq!(SessionStatus::parse(unknown), None, "{unknown:?}");
            assert!(serde_json::from_str::<SessionStatus>(&format!("\"{unknown}\"")).is_err());
        }
    }

    #[test]
    fn a_waiting_finalize_decides_the_same_from_the_enum_or_the_string() {
        let (now, expires, deadline) = (1_000_000, 2_000_000, 1_020_000);
        for status in SessionStatus::ALL {
            for claimed in [None, Some(now - 1), Some(now + 1), Some(deadline + 5)] {
                for at in [now, deadline, expires] {
                    let from_string = finalize_wait(status.as_str(), expires, claimed, at, deadline);
                    assert_eq!(finalize_wait(*status, expires, claimed, at, deadline), from_string);
                    assert_eq!(
                        finalize_wait_status(Some(*status), expires, claimed, at, deadline),
                        from_string
                    );
                }
            }
        }
        assert_eq!(
            finalize_wait("paused", expires, None, now, deadline),
            FinalizeWait::NotActive
        );
        assert_eq!(
            finalize_wait_status(None, expires, None, now, deadline),
            FinalizeWait::NotActive
        );
    }

    #[test]
    fn the_string_and_enum_classifications_agree() {
        for status in [400, 403, 404, 409, 500, 503] {
            for code in S3ErrorCode::KNOWN {
                assert_eq!(
                    classify_part_refusal(status, code.as_str()),
                    classify_store_refusal(status, Some(code)),
                    "{status} {code}"
                );
            }
            assert_eq!(
                classify_part_refusal(status, ""),
                classify_store_refusal(status, None),
                "{status} without a document"
            );
        }
        assert_eq!(
            classify_store_refusal(400, Some(&S3ErrorCode::InvalidChecksum)),
            ErrorCode::ChunkHashMismatch
        );
        assert_eq!(
            classify_store_refusal(413, Some(&S3ErrorCode::EntityTooLarge)),
            ErrorCode::PayloadTooLarge
        );
    }

    #[test]
    fn a_waiting_finalize_answers_claims_polls_or_gives_up() {
        use FinalizeWait::*;
        let (now, expires, deadline) = (1_000_000, 2_000_000, 1_020_000);
        let table = [
            ("completed", expires, Some(now + 5), now, Completed),
            ("completed", expires, None, deadline + 1, Completed),
            ("aborted", expires, Some(now + 5), now, NotActive),
            ("expired", expires, None, now, NotActive),
            ("active", now, Some(now + 5), now, NotActive),
            ("active", expires, None, now, Claim),
            ("active", expires, Some(now), now, Claim),
            ("active", expires, Some(now - 1), deadline, Claim),
            ("active", expires, Some(now + 1), now, Poll),
            ("active", expires, Some(deadline + 5), deadline - 1, Poll),
            ("active", expires, Some(deadline + 5), deadline, GiveUp),
        ];
        for (status, expires_at, claimed, at, want) in table {
            assert_eq!(
                finalize_wait(status, expires_at, claimed, at, deadline),
                want,
                "{status} claimed {claimed:?} at {at}"
            );
        }
    }

    #[test]
    fn a_failed_forward_is_answered_truthfully() {
        use ForwardFailure::*;
        use S3ErrorCode as S;
        let answered = |status, code: Option<S3ErrorCode>| Answered { status, code };
        // (failure, session still active, answer, the store's failure?)
        let table = [
            (
                answered(503, Some(S::SlowDown)),
                true,
                ErrorCode::StoreUnavailable,
                true,
            ),
            (
                answered(500, Some(S::InternalError)),
                true,
                ErrorCode::StoreUnavailable,
                true,
            ),
            (answered(500, None), true, ErrorCode::StoreUnavailable, true),
            (
                answered(403, Some(S::AccessDenied)),
                true,
                ErrorCode::StorageError,
                true,
            ),
            (
                answered(404, Some(S::NoSuchUpload)),
                false,
                ErrorCode::SessionNotActive,
                false,
            ),
            // The store lost an upload the session record says is open: the store's failure.
            (
                answered(404, Some(S::NoSuchUpload)),
                true,
                ErrorCode::StorageError,
                false,
            ),
            (
                answered(503, Some(S::SlowDown)),
                false,
                ErrorCode::SessionNotActive,
                true,
            ),
            (
                answered(400, Some(S::BadDigest)),
                true,
                ErrorCode::ChunkHashMismatch,
                false,
            ),
            (
                answered(400, Some(S::IncompleteBody)),
                true,
                ErrorCode::ChunkSizeMismatch,
                false,
            ),
            (
                NoAnswer {
                    body_intact: true,
                    store_reachable: false,
                },
                true,
                ErrorCode::StoreUnavailable,
                true,
            ),
            (
                NoAnswer {
                    body_intact: false,
                    store_reachable: false,
                },
                true,
                ErrorCode::StoreUnavailable,
                true,
            ),
            (
                NoAnswer {
                    body_intact: true,
                    store_reachable: true,
                },
                true,
                ErrorCode::StoreUnavailable,
                true,
            ),
            (
                NoAnswer {
                    body_intact: false,
                    store_reachable: true,
                },
                true,
                ErrorCode::ChunkSizeMismatch,
                false,
            ),
            // A reset by a store that no longer knows the upload, for a closed session.
            (
                NoAnswer {
                    body_intact: true,
                    store_reachable: true,
                },
                false,
                ErrorCode::SessionNotActive,
                true,
            ),
        ];
        for (failure, active, answer, store_failure) in table {
            assert_eq!(failure.answer(active), answer, "{failure:?} active={active}");
            assert_eq!(failure.is_store_failure(), store_failure, "{failure:?}");
        }
    }
}
