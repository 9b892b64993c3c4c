//! The coordinator's decisions over SQLite (every migration, the production SQL) and an S3
//! that fails on purpose: refused, failed-but-done, unreachable, slow, gone.

mod support;

use futures::executor::block_on;
use jetty_core::db::{Account, AccountStore, FileStore, SessionRow, SessionStore};
use jetty_core::provision::Begin;
use jetty_core::sessions::Closing;
use jetty_core::Runtime;
use jetty_shared::hash::Sha256Digest;
use jetty_shared::listing::ListQuery;
use jetty_shared::protocol::{
    IdentifyRequest, IdentifyResponse, Location, OptimalEdgesRequest, OptimalEdgesResponse, PartRecord,
};
use jetty_shared::session::SessionStatus;
use jetty_shared::token::{self, UploadClaims};
use jetty_shared::ErrorCode;
use support::*;

const ORIGIN: &str = "https://coordinator.test";
const HERE: Location = Location {
    lat: 37.77,
    lng: -122.42,
};

fn account(w: &World, id: &str, tier: &str) -> Account {
    let t = block_on(w.core.db.tier(tier)).unwrap().unwrap();
    Account {
        id: id.into(),
        tier: t.tier,
        s3_prefix: None,
        storage_quota_bytes: t.storage_quota_bytes,
        bandwidth_quota_bytes: t.bandwidth_quota_bytes,
        jetty_speed_enabled: i64::from(t.jetty_speed_enabled),
    }
}

fn hash_of(seed: &str) -> String {
    Sha256Digest::of(seed.as_bytes()).to_hex()
}

fn request(size: u64, hash: &str) -> OptimalEdgesRequest {
    serde_json::from_value(serde_json::json!({
        "fileSize": size, "fileHash": hash, "fileName": "a.bin", "chunkSize": 5 * MIB,
    }))
    .unwrap()
}

fn start(w: &World, acc: &Account, size: u64, hash: &str) -> jetty_core::Result<OptimalEdgesResponse> {
    block_on(w.core.optimal_edges(acc, &request(size, hash), HERE, ORIGIN))
}

/// The content id of an upload of `parts` parts whose digests `report` records.
fn parts_content_id(parts: u32) -> String {
    let digests: Vec<Sha256Digest> = (1..=parts)
        .map(|n| Sha256Digest::parse(&hash_of(&format!("part{n}"))).unwrap())
        .collect();
    jetty_shared::content_id::ContentId::of_parts(&digests).to_wire()
}

/// `start`, declaring the content id of `parts` recorded parts as well.
fn start_with_id(
    w: &World,
    acc: &Account,
    size: u64,
    hash: &str,
    parts: u32,
) -> jetty_core::Result<OptimalEdgesResponse> {
    let mut req = request(size, hash);
    req.content_id = Some(parts_content_id(parts));
    block_on(w.core.optimal_edges(acc, &req, HERE, ORIGIN))
}

fn session(w: &World, acc: &Account, answer: &OptimalEdgesResponse) -> SessionRow {
    let file_id = &answer.upload.as_ref().expect("a new session").file_id;
    block_on(w.core.db.session_by_file(&acc.id, file_id)).unwrap().unwrap()
}

fn report(s: &SessionRow, part: u32) -> PartRecord {
    PartRecord {
        session_id: s.id.clone(),
        account_id: s.account_id.clone(),
        part_number: part,
        size: s.plan().part_len(part).unwrap(),
        sha256: hash_of(&format!("part{part}")),
        etag: format!("\"etag{part}\""),
        edge_id: "sfo-1".into(),
        duration_ms: 10.0,
        inflight: 1,
    }
}

/// Every part stored by an edge and reported to the coordinator.
fn send_all_parts(w: &World, s: &SessionRow) {
    for part in 1..=s.part_count {
        w.s3.store_part(&s.s3_upload_id, part, s.plan().part_len(part).unwrap());
        block_on(w.core.record_part(report(s, part))).unwrap();
    }
}

fn fresh(w: &World, s: &SessionRow) -> SessionRow {
    block_on(w.core.db.session_by_id(&s.id)).unwrap().unwrap()
}

fn uploaded(w: &World, acc: &Account, size: u64, seed: &str) -> SessionRow {
    let s = session(w, acc, &start(w, acc, size, &hash_of(seed)).unwrap());
    send_all_parts(w, &s);
    s
}

#[test]
fn a_new_upload_reserves_quota_starts_one_multipart_upload_and_hands_out_a_verifiable_ticket() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let answer = start(&w, &acc, 12 * MIB, &hash_of("a")).unwrap();
    let ticket = answer.upload.clone().unwrap();
    let s = session(&w, &acc, &answer);
    assert_eq!((s.status, s.part_count), (SessionStatus::Active, 3));
    assert_eq!(w.s3.calls(Op::Create), 1);
    assert!(!s.s3_upload_id.is_empty());
    let claims: UploadClaims = token::verify(&ticket.upload_token, TOKEN_SECRET.as_bytes(), T0 / 1000).unwrap();
    assert_eq!(
        (claims.sid, claims.uid, claims.acc),
        (s.id.clone(), s.s3_upload_id.clone(), acc.id.clone())
    );
    let usage = block_on(w.core.db.storage_use(&acc.id, T0)).unwrap();
    assert_eq!(usage.reserved, 12 * MIB);
    // With no edge measured yet, origin-direct carries the upload.
    assert!(answer.edges.iter().any(|e| e.id == "origin-direct"));
}

#[test]
fn a_store_that_fails_to_start_the_upload_releases_the_reservation() {
    let cases = [
        (Fault::Refuse(503, "SlowDown"), ErrorCode::StoreUnavailable),
        (Fault::Unreachable, ErrorCode::StoreUnavailable),
        (Fault::Refuse(403, "AccessDenied"), ErrorCode::StorageError),
    ];
    for (fault, expected) in cases {
        let w = world();
        let acc = account(&w, ACCOUNT, "enterprise");
        w.s3.inject(Op::Create, fault.clone());
        let err = start(&w, &acc, 12 * MIB, &hash_of("a")).unwrap_err();
        assert_eq!(err.code, expected, "{fault:?}");
        assert_eq!(
            block_on(w.core.db.storage_use(&acc.id, T0)).unwrap().reserved,
            0,
            "{fault:?}"
        );
        // Counted as the store's failure, not an edge's.
        assert_eq!(block_on(w.core.store_report()).unwrap().failures, 1, "{fault:?}");
    }
}

#[test]
fn an_upload_id_the_database_failed_to_record_is_aborted_in_the_store_at_once() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    w.core.db.fail_next("SET s3_upload_id", DbFault::Fails);
    let err = start(&w, &acc, 12 * MIB, &hash_of("a")).unwrap_err();
    assert_eq!(err.code, ErrorCode::Internal);
    assert_eq!((w.s3.calls(Op::Abort), w.s3.open_uploads()), (1, 0));
    assert_eq!(block_on(w.core.db.storage_use(&acc.id, T0)).unwrap().reserved, 0);
}

#[test]
fn uploads_that_together_exceed_the_quota_are_refused_before_the_store_is_asked() {
    let w = world();
    let acc = account(&w, "acc_small", "starter"); // 2 GB, no JettySpeed: open sessions directly
    let mut acc = acc;
    acc.jetty_speed_enabled = 1;
    start(&w, &acc, 1_500_000_000, &hash_of("a")).unwrap();
    let err = start(&w, &acc, 600_000_000, &hash_of("b")).unwrap_err();
    assert_eq!(err.code, ErrorCode::StorageQuotaExceeded);
    assert_eq!(w.s3.calls(Op::Create), 1);
}

#[test]
fn a_tier_without_jetty_speed_uploads_resumably_through_the_origin_path_only() {
    let w = world();
    let acc = account(&w, "acc_small", "starter");
    let answer = start(&w, &acc, 12 * MIB, &hash_of("a")).unwrap();
    let ids: Vec<&str> = answer.edges.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["origin-direct"]);
    assert_eq!(answer.edges[0].weight, 1.0);
    assert_eq!(w.s3.calls(Op::Create), 1);
    let s = session(&w, &acc, &answer);
    send_all_parts(&w, &s);
    assert_eq!(block_on(w.core.finalize(&s)).unwrap().size, 12 * MIB);
}

#[test]
fn part_reports_are_checked_against_their_session_and_recorded_once() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let s = session(&w, &acc, &start(&w, &acc, 12 * MIB, &hash_of("a")).unwrap());
    let cases: Vec<(&str, PartRecord, Option<ErrorCode>)> = vec![
        ("valid", report(&s, 1), None),
        ("again", report(&s, 1), None),
        (
            "other account",
            PartRecord {
                account_id: "acc_other".into(),
                ..report(&s, 2)
            },
            Some(ErrorCode::NotFound),
        ),
        (
            "wrong size",
            PartRecord {
                size: 1,
                ..report(&s, 2)
            },
            Some(ErrorCode::ChunkSizeMismatch),
        ),
        (
            "beyond plan",
            PartRecord {
                part_number: 9,
                ..report(&s, 2)
            },
            Some(ErrorCode::InvalidPartNumber),
        ),
        (
            "bad digest",
            PartRecord {
                sha256: "xyz".into(),
                ..report(&s, 2)
            },
            Some(ErrorCode::InvalidHash),
        ),
        (
            "no session",
            PartRecord {
                session_id: "ses_none".into(),
                ..report(&s, 2)
            },
            Some(ErrorCode::NotFound),
        ),
    ];
    for (name, record, expected) in cases {
        let result = block_on(w.core.record_part(record));
        assert_eq!(result.err().map(|e| e.code), expected, "{name}");
    }
    let tallies = block_on(w.core.db.part_tallies(&s.id)).unwrap();
    assert_eq!(tallies.len(), 1);
    assert_eq!(tallies[0].reports, 2);
    block_on(w.core.abort(&s, "test")).unwrap();
    let err = block_on(w.core.record_part(report(&s, 2))).unwrap_err();
    assert_eq!(err.code, ErrorCode::SessionNotActive);
}

#[test]
fn finalize_refuses_missing_parts_without_claiming_or_calling_the_store() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let s = session(&w, &acc, &start(&w, &acc, 12 * MIB, &hash_of("a")).unwrap());
    block_on(w.core.record_part(report(&s, 2))).unwrap();
    let err = block_on(w.core.finalize(&s)).unwrap_err();
    assert_eq!(err.code, ErrorCode::PartsMissing);
    assert_eq!(err.details.unwrap()["missing"], serde_json::json!([1, 3]));
    assert_eq!(fresh(&w, &s).finalize_claimed_until, None);
    assert_eq!(w.s3.calls(Op::Complete), 0);
}

/// Complete under each store fault: what the first finalize answers, and what a retry gets.
#[test]
fn finalize_under_store_faults_never_loses_an_upload_and_a_retry_completes_it() {
    let cases: Vec<(&str, Option<Fault>, Option<ErrorCode>)> = vec![
        ("clean", None, None),
        (
            "refused 500",
            Some(Fault::Refuse(500, "InternalError")),
            Some(ErrorCode::StoreUnavailable),
        ),
        (
            "refused 503",
            Some(Fault::Refuse(503, "SlowDown")),
            Some(ErrorCode::StoreUnavailable),
        ),
        (
            "unreachable",
            Some(Fault::Unreachable),
            Some(ErrorCode::StoreUnavailable),
        ),
        (
            "failed but done",
            Some(Fault::FailedButDone),
            Some(ErrorCode::StoreUnavailable),
        ),
        ("slow", Some(Fault::Slow(90_000)), None),
    ];
    for (name, fault, first) in cases {
        let w = world();
        let acc = account(&w, ACCOUNT, "enterprise");
        let s = uploaded(&w, &acc, 12 * MIB, "a");
        if let Some(f) = fault {
            w.s3.inject(Op::Complete, f);
        }
        let result = block_on(w.core.finalize(&s));
        assert_eq!(result.as_ref().err().map(|e| e.code), first, "{name}");
        // A failed attempt gives its claim back: the retry need not wait two minutes.
        assert_eq!(
            fresh(&w, &s).finalize_claimed_until.is_some(),
            first.is_none(),
            "{name}"
        );
        let file = block_on(w.core.finalize(&fresh(&w, &s))).unwrap();
        assert_eq!((file.size, file.id.as_str()), (12 * MIB, s.file_id.as_str()), "{name}");
        assert_eq!(w.s3.object(&s.object_key), Some(12 * MIB), "{name}");
        assert_eq!(fresh(&w, &s).status, SessionStatus::Completed, "{name}");
        // Finalizing a completed session answers the same file without the store.
        let calls = w.s3.calls(Op::Complete);
        assert_eq!(block_on(w.core.finalize(&fresh(&w, &s))).unwrap(), file, "{name}");
        assert_eq!(w.s3.calls(Op::Complete), calls, "{name}");
    }
}

#[test]
fn an_upload_completed_in_the_store_but_not_recorded_is_recovered_by_the_next_finalize() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let s = uploaded(&w, &acc, 12 * MIB, "a");
    // The store completes, then the database write fails (the worker died, D1 hiccuped).
    w.core.db.fail_next("INSERT INTO files", DbFault::Fails);
    assert_eq!(block_on(w.core.finalize(&s)).unwrap_err().code, ErrorCode::Internal);
    assert_eq!(w.s3.object(&s.object_key), Some(12 * MIB));
    let file = block_on(w.core.finalize(&fresh(&w, &s))).unwrap();
    assert_eq!(file.size, 12 * MIB);
    assert_eq!(w.s3.calls(Op::Head), 1, "recovered from the object's size");
    assert_eq!(
        w.core
            .db
            .scalar(&format!("SELECT COUNT(*) AS v FROM files WHERE id = '{}'", s.file_id)),
        1
    );
}

#[test]
fn a_recorded_finalize_whose_answer_was_lost_answers_the_same_file() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let s = uploaded(&w, &acc, 12 * MIB, "a");
    w.core.db.fail_next("INSERT INTO files", DbFault::FailsButDone);
    assert!(block_on(w.core.finalize(&s)).is_err());
    let file = block_on(w.core.finalize(&fresh(&w, &s))).unwrap();
    assert_eq!(file.id, s.file_id);
    assert_eq!(w.s3.calls(Op::Complete), 1);
}

#[test]
fn an_upload_the_store_forgot_is_not_recorded_as_a_file() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let s = uploaded(&w, &acc, 12 * MIB, "a");
    w.s3.forget_upload(&s.s3_upload_id);
    assert_eq!(block_on(w.core.finalize(&s)).unwrap_err().code, ErrorCode::StorageError);
    assert!(block_on(w.core.db.file_for_account(&acc.id, &s.file_id))
        .unwrap()
        .is_none());
}

#[test]
fn concurrent_finalizes_send_one_complete_and_all_answer_the_same_file() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let s = uploaded(&w, &acc, 12 * MIB, "a");
    // The holder's Complete takes 5 s; the others wait for it and answer its file.
    w.s3.inject(Op::Complete, Fault::Slow(5_000));
    let (a, b, c) = block_on(async { futures::join!(w.core.finalize(&s), w.core.finalize(&s), w.core.finalize(&s)) });
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    assert!(a == b && b == c);
    assert_eq!(w.s3.calls(Op::Complete), 1);
}

#[test]
fn a_finalize_waiting_on_a_stuck_holder_answers_in_progress_then_takes_over_a_lapsed_claim() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let s = uploaded(&w, &acc, 12 * MIB, "a");
    // Another finalize holds the claim and never finishes (its worker died).
    assert!(block_on(w.core.db.claim_finalize(&s.id, T0, T0 + 120_000)).unwrap());
    assert_eq!(
        block_on(w.core.finalize(&s)).unwrap_err().code,
        ErrorCode::FinalizeInProgress
    );
    assert_eq!(w.s3.calls(Op::Complete), 0);
    w.clock.advance(120_000);
    assert_eq!(block_on(w.core.finalize(&s)).unwrap().id, s.file_id);
}

#[test]
fn an_empty_file_is_one_put_and_no_multipart_upload() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let s = session(&w, &acc, &start(&w, &acc, 0, &hash_of("")).unwrap());
    assert_eq!(w.s3.calls(Op::Create), 0);
    assert_eq!(block_on(w.core.finalize(&s)).unwrap().size, 0);
    assert_eq!(w.s3.object(&s.object_key), Some(0));
}

#[test]
fn the_same_bytes_again_are_a_zero_byte_clone_and_a_clone_keeps_the_object_until_the_last_record_goes() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let s = uploaded(&w, &acc, 12 * MIB, "a");
    block_on(w.core.finalize(&s)).unwrap();
    let again = start_with_id(&w, &acc, 12 * MIB, &hash_of("a"), 3).unwrap();
    let clone = again.duplicate.expect("duplicate").file_id;
    assert_eq!(w.s3.calls(Op::Create), 1, "nothing started for the duplicate");
    // Another account with the same content gets no clone: dedup is per account.
    let other = account(&w, "acc_other", "enterprise");
    assert!(start_with_id(&w, &other, 12 * MIB, &hash_of("a"), 3)
        .unwrap()
        .duplicate
        .is_none());

    let first = block_on(w.core.delete_file(&acc.id, &s.file_id)).unwrap();
    assert!(!first.object_deleted);
    assert_eq!(w.s3.object(&s.object_key), Some(12 * MIB));
    let last = block_on(w.core.delete_file(&acc.id, &clone)).unwrap();
    assert!(last.object_deleted);
    assert_eq!(w.s3.object(&s.object_key), None);
    assert!(w
        .kv
        .0
        .borrow()
        .contains_key(&jetty_shared::protocol::tombstone_key(&clone)));
    assert_eq!(
        block_on(w.core.delete_file(&acc.id, &clone)).unwrap_err().code,
        ErrorCode::NotFound
    );
}

#[test]
fn a_clone_racing_the_deletion_of_its_source_does_not_land() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let s = uploaded(&w, &acc, 12 * MIB, "a");
    let source = block_on(w.core.finalize(&s)).unwrap();
    block_on(w.core.delete_file(&acc.id, &source.id)).unwrap();
    assert_eq!(block_on(w.core.clone_file(&acc.id, None, &source)).unwrap(), None);
}

#[test]
fn deleting_an_object_the_store_already_lost_still_deletes_the_record() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let s = uploaded(&w, &acc, 12 * MIB, "a");
    block_on(w.core.finalize(&s)).unwrap();
    w.s3.inject(Op::Delete, Fault::Refuse(404, "NoSuchKey"));
    assert!(
        block_on(w.core.delete_file(&acc.id, &s.file_id))
            .unwrap()
            .object_deleted
    );
    w.s3.inject(Op::Delete, Fault::Unreachable);
    let t = uploaded(&w, &acc, 6 * MIB, "b");
    block_on(w.core.finalize(&t)).unwrap();
    assert_eq!(
        block_on(w.core.delete_file(&acc.id, &t.file_id)).unwrap_err().code,
        ErrorCode::StoreUnavailable
    );
}

#[test]
fn the_sweeper_aborts_expired_sessions_and_retries_the_ones_the_store_failed() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let a = session(&w, &acc, &start(&w, &acc, 12 * MIB, &hash_of("a")).unwrap());
    let b = session(&w, &acc, &start(&w, &acc, 12 * MIB, &hash_of("b")).unwrap());
    let c = session(&w, &acc, &start(&w, &acc, 12 * MIB, &hash_of("c")).unwrap());
    w.s3.forget_upload(&c.s3_upload_id); // gone already: NoSuchUpload counts as aborted
    assert_eq!(block_on(w.core.sweep()).unwrap(), 0, "nothing expired yet");
    w.clock.advance(24 * 3600 * 1000);
    w.s3.inject(Op::Abort, Fault::Unreachable);
    assert_eq!(block_on(w.core.sweep()).unwrap(), 2);
    let statuses: Vec<SessionStatus> = [&a, &b, &c].iter().map(|s| fresh(&w, s).status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == SessionStatus::Expired).count(), 2);
    assert_eq!(statuses.iter().filter(|s| **s == SessionStatus::Active).count(), 1);
    assert!(w.clock.logs().iter().any(|l| l.contains("stays for the next run")));
    assert_eq!(block_on(w.core.sweep()).unwrap(), 1);
    assert_eq!(w.s3.open_uploads(), 0);
    assert_eq!(
        block_on(w.core.db.storage_use(&acc.id, w.clock.now_ms()))
            .unwrap()
            .reserved,
        0
    );
}

/// s3s-fs answers 403 AccessDenied for an upload it no longer knows: with `S3_STORE=s3s` the
/// sweeper counts that as aborted; elsewhere a 403 is a refusal and the session stays for the
/// next run.
#[test]
fn a_gone_upload_reads_in_the_stores_dialect() {
    for (store, aborted) in [("s3s", true), ("generic", false), ("garage", false)] {
        let w = world_with(&[("S3_STORE", store)]);
        let acc = account(&w, ACCOUNT, "enterprise");
        let a = session(&w, &acc, &start(&w, &acc, 12 * MIB, &hash_of("a")).unwrap());
        w.clock.advance(24 * 3600 * 1000);
        w.s3.inject(Op::Abort, Fault::Refuse(403, "AccessDenied"));
        assert_eq!(block_on(w.core.sweep()).unwrap(), usize::from(aborted), "{store}");
        let want = if aborted {
            SessionStatus::Expired
        } else {
            SessionStatus::Active
        };
        assert_eq!(fresh(&w, &a).status, want, "{store}");
    }
}

#[test]
fn an_abort_the_store_failed_leaves_the_session_open_and_a_completed_one_cannot_be_aborted() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let s = session(&w, &acc, &start(&w, &acc, 12 * MIB, &hash_of("a")).unwrap());
    w.s3.inject(Op::Abort, Fault::Refuse(500, "InternalError"));
    assert_eq!(
        block_on(w.core.abort(&s, "test")).unwrap_err().code,
        ErrorCode::StoreUnavailable
    );
    assert_eq!(fresh(&w, &s).status, SessionStatus::Active);
    assert_eq!(
        block_on(w.core.abort(&s, "test")).unwrap().status,
        SessionStatus::Aborted
    );
    assert_eq!(
        block_on(w.core.abort(&fresh(&w, &s), "again")).unwrap().status,
        SessionStatus::Aborted
    );
    let t = uploaded(&w, &acc, 6 * MIB, "b");
    block_on(w.core.finalize(&t)).unwrap();
    assert_eq!(
        block_on(w.core.abort(&fresh(&w, &t), "x")).unwrap_err().code,
        ErrorCode::SessionNotActive
    );
    block_on(w.core.close(&fresh(&w, &t), Closing::Expired, "x")).ok();
    assert_eq!(fresh(&w, &t).status, SessionStatus::Completed);
}

#[test]
fn resume_hands_a_fresh_ticket_for_open_sessions_only() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let s = session(&w, &acc, &start(&w, &acc, 12 * MIB, &hash_of("a")).unwrap());
    block_on(w.core.record_part(report(&s, 2))).unwrap();
    let resumed = block_on(w.core.resume(&s, HERE, ORIGIN)).unwrap();
    assert_eq!(resumed.state.chunks_uploaded, vec![2]);
    let claims: UploadClaims = token::verify(&resumed.upload.upload_token, TOKEN_SECRET.as_bytes(), T0 / 1000).unwrap();
    assert_eq!(claims.uid, s.s3_upload_id);
    w.clock.advance(24 * 3600 * 1000);
    assert_eq!(
        block_on(w.core.resume(&s, HERE, ORIGIN)).unwrap_err().code,
        ErrorCode::SessionNotActive
    );
}

#[test]
fn a_small_file_is_one_put_on_the_same_quota_and_a_wrong_declared_hash_stores_nothing() {
    let w = world();
    let acc = account(&w, "acc_small", "starter");
    let body = b"hello".to_vec();
    let wrong = Sha256Digest::of(b"other");
    let err = block_on(
        w.core
            .store_small_file(&acc, "a.txt", "text/plain", body.clone(), Some(wrong)),
    )
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::ChunkHashMismatch);
    assert_eq!(w.s3.calls(Op::Put), 0);
    w.s3.inject(Op::Put, Fault::Refuse(503, "SlowDown"));
    assert!(block_on(w.core.store_small_file(&acc, "a.txt", "text/plain", body.clone(), None)).is_err());
    assert_eq!(block_on(w.core.db.storage_use(&acc.id, T0)).unwrap().reserved, 0);
    let stored = block_on(w.core.store_small_file(&acc, "a.txt", "text/plain", body, None)).unwrap();
    assert_eq!(w.s3.object(&stored.object_key), Some(5));
    assert_eq!(block_on(w.core.db.storage_use(&acc.id, T0)).unwrap().stored, 5);
}

#[test]
fn a_webhook_is_acted_on_once_replayed_with_its_first_answer_and_a_reused_key_is_refused() {
    let w = world();
    let keys = || vec![("idem:test".to_owned(), "key-1".to_owned())];
    let Begin::Proceed(claimed) = block_on(w.core.begin(keys(), "hash-a")).unwrap() else {
        panic!("first request proceeds")
    };
    // While it runs, the same key waits.
    assert_eq!(
        block_on(w.core.begin(keys(), "hash-a")).unwrap_err().code,
        ErrorCode::IdempotencyInProgress
    );
    let answer = block_on(w.core.provision_account("user-1", "u@example.com", "pro"));
    let (status, body) = block_on(w.core.finish(claimed, answer)).unwrap();
    assert_eq!(status, 201);
    assert!(body["credentials"]["api_key"].is_string());
    match block_on(w.core.begin(keys(), "hash-a")).unwrap() {
        Begin::Replay(201, replayed) => assert_eq!(serde_json::from_str::<serde_json::Value>(&replayed).unwrap(), body),
        other => panic!("expected a replay, got {other:?}"),
    }
    assert_eq!(
        block_on(w.core.begin(keys(), "hash-b")).unwrap_err().code,
        ErrorCode::IdempotencyKeyReused
    );
    // The stored answer holds credentials: sealed, never plain.
    let stored = w.core.db.scalar("SELECT response AS v FROM idempotency_records");
    assert!(!stored.as_str().unwrap().contains("jt_live_"));
    // A second provisioning of the user (new key) gives the account without credentials.
    let (status, again) = block_on(w.core.provision_account("user-1", "u@example.com", "pro")).unwrap();
    assert_eq!(status, 200);
    assert!(again["credentials"]["api_key"].is_null());
}

#[test]
fn a_server_error_releases_the_idempotency_claim_so_a_retry_can_act() {
    let w = world();
    let keys = || vec![("idem:test".to_owned(), "key-2".to_owned())];
    let Begin::Proceed(claimed) = block_on(w.core.begin(keys(), "h")).unwrap() else {
        panic!()
    };
    let failed = block_on(w.core.finish(claimed, Err(jetty_core::internal("boom"))));
    assert_eq!(failed.unwrap_err().code, ErrorCode::Internal);
    assert!(matches!(
        block_on(w.core.begin(keys(), "h")).unwrap(),
        Begin::Proceed(_)
    ));
}

#[test]
fn an_abandoned_idempotency_claim_is_reclaimed_after_two_minutes() {
    let w = world();
    let keys = || vec![("idem:test".to_owned(), "key-3".to_owned())];
    assert!(matches!(
        block_on(w.core.begin(keys(), "h")).unwrap(),
        Begin::Proceed(_)
    ));
    assert_eq!(
        block_on(w.core.begin(keys(), "h")).unwrap_err().code,
        ErrorCode::IdempotencyInProgress
    );
    w.clock.advance(2 * 60 * 1000 + 1);
    assert!(matches!(
        block_on(w.core.begin(keys(), "h")).unwrap(),
        Begin::Proceed(_)
    ));
}

#[test]
fn key_rotation_revokes_the_old_keys_and_only_an_api_secret_can_rotate() {
    let w = world();
    let (_, body) = block_on(w.core.provision_account("user-9", "u9@example.com", "pro")).unwrap();
    let key = body["credentials"]["api_key"].as_str().unwrap().to_owned();
    let secret = body["credentials"]["api_secret"].as_str().unwrap().to_owned();
    use jetty_core::db::CredentialKind::Key;
    use jetty_shared::auth::api_key_hash;
    assert!(block_on(w.core.db.account_for_credential(&api_key_hash(&key), Key))
        .unwrap()
        .is_some());
    assert_eq!(
        block_on(w.core.rotate_key(&key)).unwrap_err().code,
        ErrorCode::InvalidApiKey
    );
    let new_key = block_on(w.core.rotate_key(&secret)).unwrap();
    assert!(block_on(w.core.db.account_for_credential(&api_key_hash(&key), Key))
        .unwrap()
        .is_none());
    assert!(block_on(w.core.db.account_for_credential(&api_key_hash(&new_key), Key))
        .unwrap()
        .is_some());
}

#[test]
fn downloads_count_against_the_bandwidth_quota_atomically() {
    let w = world();
    let mut acc = account(&w, ACCOUNT, "enterprise");
    acc.bandwidth_quota_bytes = 100;
    block_on(w.core.count_bandwidth(&acc, 60)).unwrap();
    assert_eq!(
        block_on(w.core.count_bandwidth(&acc, 60)).unwrap_err().code,
        ErrorCode::BandwidthQuotaExceeded
    );
    block_on(w.core.count_bandwidth(&acc, 0)).unwrap();
    block_on(w.core.count_bandwidth(&acc, 40)).unwrap();
    // At the limit: nothing more moves, a HEAD or a 304 still answers.
    assert_eq!(
        block_on(w.core.count_bandwidth(&acc, 1)).unwrap_err().code,
        ErrorCode::BandwidthQuotaExceeded
    );
    block_on(w.core.check_bandwidth_left(&acc)).unwrap();
}

#[test]
fn a_session_check_answers_whether_parts_are_still_taken_and_counts_store_failures_as_the_stores() {
    use jetty_shared::protocol::SessionCheck;
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let s = session(&w, &acc, &start(&w, &acc, 12 * MIB, &hash_of("a")).unwrap());
    let check = |account: &str, store_failed: bool| SessionCheck {
        session_id: s.id.clone(),
        account_id: account.into(),
        edge_id: "sfo-1".into(),
        store_failed,
    };
    assert!(block_on(w.core.session_check(&check(ACCOUNT, true))).unwrap());
    assert!(!block_on(w.core.session_check(&check("acc_other", false))).unwrap());
    let report = block_on(w.core.store_report()).unwrap();
    assert_eq!(
        (report.failures, report.status),
        (1, jetty_core::edges::StoreStatus::Unknown)
    );
    // The edge that passed the store's failure on is not blamed: no edge event at all.
    assert_eq!(
        w.core.db.scalar("SELECT COUNT(*) AS v FROM edge_metrics WHERE ok = 0"),
        0
    );
    block_on(w.core.record_store_probe(true, 3.0)).unwrap();
    w.clock.advance(1);
    block_on(w.core.session_check(&check(ACCOUNT, true))).unwrap();
    assert_eq!(
        block_on(w.core.store_report()).unwrap().status,
        jetty_core::edges::StoreStatus::Degraded
    );
    w.clock.advance(1);
    block_on(w.core.record_store_probe(false, 0.0)).unwrap();
    assert_eq!(
        block_on(w.core.store_report()).unwrap().status,
        jetty_core::edges::StoreStatus::Down
    );
    block_on(w.core.abort(&s, "test")).unwrap();
    assert!(!block_on(w.core.session_check(&check(ACCOUNT, false))).unwrap());
    w.clock.advance(11 * 60 * 1000);
    block_on(w.core.record_store_probe(true, 3.0)).unwrap();
    assert_eq!(
        block_on(w.core.store_report()).unwrap().status,
        jetty_core::edges::StoreStatus::Up
    );
}

#[test]
fn a_part_the_store_kept_but_whose_answer_was_lost_is_sent_again_and_recorded_once() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let s = session(&w, &acc, &start(&w, &acc, 12 * MIB, &hash_of("a")).unwrap());
    send_all_parts(&w, &s);
    // Part 2 reached the store again (a retry whose first answer was lost), the report of the
    // first attempt was lost too: the store holds it, the coordinator recorded it once.
    w.s3.store_part(&s.s3_upload_id, 2, 5 * MIB);
    block_on(w.core.record_part(report(&s, 2))).unwrap();
    let tallies = block_on(w.core.db.part_tallies(&s.id)).unwrap();
    assert_eq!(tallies.iter().map(|t| t.reports).collect::<Vec<_>>(), [1, 2, 1]);
    assert_eq!(block_on(w.core.finalize(&s)).unwrap().size, 12 * MIB);
    // A part the store kept but whose report never came is missing until it is sent again.
    let t = session(&w, &acc, &start(&w, &acc, 6 * MIB, &hash_of("b")).unwrap());
    w.s3.store_part(&t.s3_upload_id, 1, 5 * MIB);
    w.s3.store_part(&t.s3_upload_id, 2, MIB);
    block_on(w.core.record_part(report(&t, 2))).unwrap();
    let err = block_on(w.core.finalize(&t)).unwrap_err();
    assert_eq!(
        (err.code, err.details.unwrap()["missing"].clone()),
        (ErrorCode::PartsMissing, serde_json::json!([1]))
    );
    block_on(w.core.record_part(report(&t, 1))).unwrap();
    assert_eq!(block_on(w.core.finalize(&t)).unwrap().size, 6 * MIB);
}

#[test]
fn the_platforms_cached_credentials_follow_rotations_and_tier_changes() {
    use jetty_core::provision::{key_fingerprint, reconcile_credentials, CacheAction};
    use jetty_shared::auth::api_key_hash;
    let key = "jt_live_first";
    let cached = serde_json::json!({"api_key": key, "api_secret": "secret_x", "tier": "pro", "storage_quota_gb": 20});
    let same_key = serde_json::json!({"tier": "business", "storage_quota_gb": 100, "key_fingerprint": key_fingerprint(&api_key_hash(key))});
    let rotated =
        serde_json::json!({"tier": "pro", "key_fingerprint": key_fingerprint(&api_key_hash("jt_live_second"))});
    let fresh_key = serde_json::json!({"api_key": "jt_live_new", "tier": "pro"});
    // (cached, vendor's fresh answer) → (api_key answered, tier answered, cache action)
    let table = [
        (Some(&cached), &same_key, Some(key), "business", CacheAction::Store),
        (Some(&cached), &rotated, None, "pro", CacheAction::Forget),
        (None, &rotated, None, "pro", CacheAction::Nothing),
        (
            Some(&cached),
            &fresh_key,
            Some("jt_live_new"),
            "pro",
            CacheAction::Store,
        ),
    ];
    for (cached, fresh, api_key, tier, action) in table {
        let (answer, cache, _) = reconcile_credentials(cached, fresh);
        assert_eq!(
            (answer["api_key"].as_str(), answer["tier"].as_str(), cache),
            (api_key, Some(tier), action)
        );
    }
}

#[test]
fn rotating_a_key_or_changing_the_tier_forgets_the_stored_provisioning_answer() {
    use jetty_core::provision::{provision_idempotency_key, VENDOR_PROVISION_SCOPE};
    let w = world();
    let keys = || {
        vec![(
            VENDOR_PROVISION_SCOPE.to_owned(),
            provision_idempotency_key("user-r", b"{}"),
        )]
    };
    let Begin::Proceed(claimed) = block_on(w.core.begin(keys(), "h")).unwrap() else {
        panic!()
    };
    let answer = block_on(w.core.provision_account("user-r", "r@example.com", "pro"));
    let (_, body) = block_on(w.core.finish(claimed, answer)).unwrap();
    assert!(matches!(
        block_on(w.core.begin(keys(), "h")).unwrap(),
        Begin::Replay(201, _)
    ));
    block_on(w.core.upgrade("user-r", "business")).unwrap();
    assert!(matches!(
        block_on(w.core.begin(keys(), "h")).unwrap(),
        Begin::Proceed(_)
    ));
    let (status, fresh) = block_on(w.core.provision_account("user-r", "r@example.com", "pro")).unwrap();
    assert_eq!((status, fresh["credentials"]["tier"].as_str()), (200, Some("business")));
    let fingerprint = fresh["credentials"]["key_fingerprint"].clone();
    assert_eq!(fingerprint, body["credentials"]["key_fingerprint"]);
    block_on(w.core.rotate_key(body["credentials"]["api_secret"].as_str().unwrap())).unwrap();
    let (_, after) = block_on(w.core.provision_account("user-r", "r@example.com", "pro")).unwrap();
    assert_ne!(after["credentials"]["key_fingerprint"], fingerprint);
}

#[test]
fn get_state_answers_the_seeds_contract_for_every_way_of_naming_the_user() {
    use jetty_shared::state::CacheChunkRequest;
    let w = world();
    w.core
        .db
        .sqlite
        .execute_batch(&format!(
            "UPDATE accounts SET external_user_id = 'usr_123' WHERE id = '{ACCOUNT}'"
        ))
        .unwrap();
    let acc = account(&w, ACCOUNT, "enterprise");
    let s = session(&w, &acc, &start(&w, &acc, 12 * MIB, &hash_of("a")).unwrap());
    block_on(w.core.record_part(report(&s, 2))).unwrap();
    let chunk = CacheChunkRequest {
        file_id: None,
        session_id: Some(s.id.clone()),
        chunk_index: 0,
        hash: None,
        edge_id: None,
        size: None,
        status: Some("completed".into()),
    };
    block_on(w.core.cache_chunk(ACCOUNT, &chunk)).unwrap();
    block_on(
        w.core
            .save_state(ACCOUNT, &s.file_id, &serde_json::json!({"progress": 7})),
    )
    .unwrap();
    for user in ["me", ACCOUNT, "usr_123"] {
        let got = block_on(w.core.seed_state(ACCOUNT, user, &s.file_id)).unwrap();
        assert_eq!(got["state"]["chunksUploaded"], serde_json::json!([2]), "{user}");
        assert_eq!(got["clientState"]["progress"], 7, "{user}");
        assert_eq!(got["cachedChunks"][0]["status"], "completed", "{user}");
    }
    for (user, file) in [("usr_other", s.file_id.as_str()), ("me", "fil_unknown")] {
        let got = block_on(w.core.seed_state(ACCOUNT, user, file)).unwrap();
        assert_eq!(got, serde_json::json!({"state": null}), "{user} {file}");
    }
    // Another account's session cannot be named by its session id.
    let err = block_on(w.core.cache_chunk("acc_other", &chunk)).unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound);
    // A file the client names itself: its saved view is the state.
    block_on(w.core.save_state(ACCOUNT, "file_123", &serde_json::json!({"total": 9}))).unwrap();
    let got = block_on(w.core.seed_state(ACCOUNT, "me", "file_123")).unwrap();
    assert_eq!(got["state"]["total"], 9);
}

#[test]
fn the_vendor_provisioning_scope_is_the_scope_its_endpoint_claims_keys_in() {
    use jetty_core::provision::{key_scope, VENDOR_PROVISION_SCOPE};
    assert_eq!(key_scope("vendor-provision"), VENDOR_PROVISION_SCOPE);
}

fn named(size: u64, seed: &str, name: &str) -> OptimalEdgesRequest {
    serde_json::from_value(serde_json::json!({
        "fileSize": size, "fileHash": hash_of(seed), "fileName": name, "chunkSize": 5 * MIB,
    }))
    .unwrap()
}

fn query(q: &str) -> ListQuery {
    ListQuery::from_pairs(
        q.split('&')
            .filter(|p| !p.is_empty())
            .map(|p| p.split_once('=').unwrap()),
    )
    .unwrap()
}

#[test]
fn listings_page_newest_first_filter_by_name_and_hash_and_show_only_the_callers_own() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let other = account(&w, "acc_other", "enterprise");
    // Three finished files (a second apart), one open upload with one part, one aborted.
    for (seed, name) in [("r1", "reports/q1.pdf"), ("r2", "reports/q2.pdf"), ("v", "video.mp4")] {
        let answer = block_on(w.core.optimal_edges(&acc, &named(6 * MIB, seed, name), HERE, ORIGIN)).unwrap();
        let s = session(&w, &acc, &answer);
        send_all_parts(&w, &s);
        block_on(w.core.finalize(&s)).unwrap();
        w.clock.advance(1000);
    }
    let open = session(
        &w,
        &acc,
        &block_on(
            w.core
                .optimal_edges(&acc, &named(12 * MIB, "open", "reports/big.bin"), HERE, ORIGIN),
        )
        .unwrap(),
    );
    w.s3.store_part(&open.s3_upload_id, 2, 5 * MIB);
    block_on(w.core.record_part(report(&open, 2))).unwrap();
    w.clock.advance(1000);
    let aborted = session(
        &w,
        &acc,
        &block_on(
            w.core
                .optimal_edges(&acc, &named(6 * MIB, "gone", "reports/gone.bin"), HERE, ORIGIN),
        )
        .unwrap(),
    );
    block_on(w.core.abort(&aborted, "client_abort")).unwrap();
    let theirs = block_on(
        w.core
            .optimal_edges(&other, &named(6 * MIB, "r1", "reports/theirs.pdf"), HERE, ORIGIN),
    );
    assert!(
        theirs.unwrap().upload.is_some(),
        "another account's file is no duplicate"
    );

    let names = |list: &jetty_shared::listing::FileList| -> Vec<String> {
        list.files.iter().map(|f| f.name.clone().unwrap()).collect()
    };
    let first = block_on(w.core.list_files(&acc.id, &query("limit=2"), ORIGIN)).unwrap();
    assert_eq!(names(&first), ["video.mp4", "reports/q2.pdf"]);
    assert!(first.files[0].url.starts_with(ORIGIN));
    let cursor = first.next_cursor.clone().expect("a second page");
    let second = block_on(
        w.core
            .list_files(&acc.id, &query(&format!("limit=2&cursor={cursor}")), ORIGIN),
    )
    .unwrap();
    assert_eq!(
        (names(&second), second.next_cursor),
        (vec!["reports/q1.pdf".to_owned()], None)
    );
    let reports = block_on(w.core.list_files(&acc.id, &query("prefix=reports/"), ORIGIN)).unwrap();
    assert_eq!(names(&reports), ["reports/q2.pdf", "reports/q1.pdf"]);

    let uploads = block_on(w.core.list_uploads(&acc.id, &query(""))).unwrap();
    assert_eq!(uploads.uploads.len(), 1, "only open sessions: {uploads:?}");
    let listed = &uploads.uploads[0];
    assert_eq!(
        (
            listed.file_id.as_str(),
            listed.parts_done,
            listed.bytes_received,
            listed.part_count
        ),
        (open.file_id.as_str(), 1, 5 * MIB, 3)
    );
    assert_eq!(listed.file_hash, Some(hash_of("open")));
    let by_hash = block_on(
        w.core
            .list_uploads(&acc.id, &query(&format!("hash={}", hash_of("open")))),
    )
    .unwrap();
    assert_eq!(by_hash.uploads.len(), 1);
    let other_hash = block_on(w.core.list_uploads(&acc.id, &query(&format!("hash={}", hash_of("r1"))))).unwrap();
    assert!(other_hash.uploads.is_empty());
    // The other account sees its own open upload only, and none of the caller's files.
    let theirs = block_on(w.core.list_uploads(&other.id, &query(""))).unwrap();
    assert_eq!(theirs.uploads.len(), 1);
    assert_eq!(theirs.uploads[0].file_name.as_deref(), Some("reports/theirs.pdf"));
    assert!(block_on(w.core.list_files(&other.id, &query(""), ORIGIN))
        .unwrap()
        .files
        .is_empty());
    // An expired session is no longer listed.
    w.clock.advance(2 * 24 * 3600 * 1000);
    assert!(block_on(w.core.list_uploads(&acc.id, &query("")))
        .unwrap()
        .uploads
        .is_empty());
}

#[test]
fn a_finished_file_carries_the_content_id_of_its_store_checked_parts_and_clones_share_it() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let s = uploaded(&w, &acc, 12 * MIB, "a");
    let file = block_on(w.core.finalize(&s)).unwrap();
    let expected = parts_content_id(s.part_count);
    assert_eq!(file.content_id.as_deref(), Some(expected.as_str()));
    assert!(expected.ends_with("-3"));
    // A duplicate is a clone of the same object: the same content id.
    let dup = start_with_id(&w, &acc, 12 * MIB, &hash_of("a"), 3)
        .unwrap()
        .duplicate
        .unwrap();
    let clone = block_on(w.core.own_file(&acc.id, &dup.file_id)).unwrap();
    assert_eq!(clone.content_id, file.content_id);
    // A single-request upload: the one body the store checked.
    let small = block_on(
        w.core
            .store_small_file(&acc, "s.txt", "text/plain", b"hello".to_vec(), None),
    );
    let small = block_on(w.core.own_file(&acc.id, &small.unwrap().file_id)).unwrap();
    let one = jetty_shared::content_id::ContentId::of_parts(&[Sha256Digest::of(b"hello")]).to_wire();
    assert_eq!(small.content_id.as_deref(), Some(one.as_str()));
}

#[test]
fn a_store_whose_composite_checksum_disagrees_leaves_the_file_without_a_content_id() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let s = uploaded(&w, &acc, 12 * MIB, "a");
    w.s3.report_composite("cwXbmyq8zXBsJW2z2X5f9I1nfP5NOlkEr7faDjlQ4eI=-3");
    let file = block_on(w.core.finalize(&s)).unwrap();
    assert_eq!(
        file.content_id, None,
        "nothing the store contradicts is called verified"
    );
    assert!(w.clock.logs().iter().any(|l| l.contains("composite checksum")));
}

#[test]
fn a_declared_hash_never_keys_dedup_so_a_false_one_cannot_poison_it() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    // A client declares file A's hash but sends other parts: the file keeps the parts' id.
    let liar = uploaded(&w, &acc, 12 * MIB, "A");
    block_on(w.core.finalize(&liar)).unwrap();
    // An honest upload of A (its own parts, so its own content id) is not answered with it.
    let mut honest = request(12 * MIB, &hash_of("A"));
    honest.content_id = Some(jetty_shared::content_id::ContentId::of_parts(&[Sha256Digest::of(b"A")]).to_wire());
    let answer = block_on(w.core.optimal_edges(&acc, &honest, HERE, ORIGIN)).unwrap();
    assert!(answer.duplicate.is_none() && answer.upload.is_some());
    // Nor is the seeds' form, which names the declared hash only.
    assert!(start(&w, &acc, 12 * MIB, &hash_of("A")).unwrap().duplicate.is_none());
    // A one-part file's hash is its part's, which the store checked: found by hash alone.
    let one = block_on(
        w.core
            .store_small_file(&acc, "a.txt", "text/plain", b"A".to_vec(), None),
    )
    .unwrap();
    let found = block_on(
        w.core
            .find_duplicate(&acc.id, Some(Sha256Digest::of(b"A")), None, Some(1)),
    )
    .unwrap();
    assert_eq!(found.map(|f| f.id), Some(one.file_id));
    // A malformed content id is refused, not ignored.
    let err = block_on(
        w.core
            .find_duplicate(&acc.id, Some(Sha256Digest::of(b"A")), Some("zz-1"), None),
    )
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidHash);
}

#[test]
fn a_second_upload_of_content_in_flight_waits_for_it_then_gets_a_duplicate_and_quota_is_charged_once() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let first = session(&w, &acc, &start_with_id(&w, &acc, 12 * MIB, &hash_of("a"), 3).unwrap());
    // While the first is in flight, the same content is refused with its file id, not stored.
    let err = start_with_id(&w, &acc, 12 * MIB, &hash_of("a"), 3).unwrap_err();
    assert_eq!(err.code, ErrorCode::UploadInProgress);
    assert_eq!(err.details.unwrap()["fileId"], first.file_id.as_str());
    assert_eq!(w.s3.calls(Op::Create), 1);
    assert_eq!(block_on(w.core.db.storage_use(&acc.id, T0)).unwrap().reserved, 12 * MIB);
    // Another account's upload of the same content is its own business.
    let other = account(&w, "acc_other", "enterprise");
    assert!(start_with_id(&w, &other, 12 * MIB, &hash_of("a"), 3)
        .unwrap()
        .upload
        .is_some());
    // The first finishes: the second asks again and gets it as a duplicate.
    send_all_parts(&w, &first);
    block_on(w.core.finalize(&first)).unwrap();
    let again = start_with_id(&w, &acc, 12 * MIB, &hash_of("a"), 3).unwrap();
    assert!(again.duplicate.is_some());
    assert_eq!(
        block_on(w.core.db.storage_use(&acc.id, w.clock.now_ms()))
            .unwrap()
            .stored,
        12 * MIB
    );
}

#[test]
fn an_abandoned_upload_of_the_same_content_stops_holding_others_back() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let abandoned = session(&w, &acc, &start_with_id(&w, &acc, 12 * MIB, &hash_of("a"), 3).unwrap());
    w.clock.advance(60_000);
    block_on(w.core.record_part(report(&abandoned, 1))).unwrap();
    w.clock.advance(100_000);
    // A part 100 s ago keeps it live…
    assert_eq!(
        start_with_id(&w, &acc, 12 * MIB, &hash_of("a"), 3).unwrap_err().code,
        ErrorCode::UploadInProgress
    );
    // …two idle minutes do not.
    w.clock.advance(30_000);
    assert!(start_with_id(&w, &acc, 12 * MIB, &hash_of("a"), 3)
        .unwrap()
        .upload
        .is_some());
}

#[test]
fn an_upload_opened_by_content_id_alone_takes_parts_and_declares_its_whole_file_hash_at_finalize() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    // (Neither a whole-file hash nor a content id opens an upload named later: `identify`.)
    let mut neither = request(12 * MIB, &hash_of("a"));
    neither.file_hash = None;
    // A content id over parts of another size than the plan's is sent back with the plan's.
    let mut by_id = neither.clone();
    by_id.content_id = Some(parts_content_id(3));
    by_id.chunk_size = None;
    let err = block_on(w.core.optimal_edges(&acc, &by_id, HERE, ORIGIN)).unwrap_err();
    assert_eq!(err.code, ErrorCode::PartSizeChanged);
    let planned = err.details.as_ref().map(|d| d["partSize"].clone());
    assert!(planned.is_some_and(|p| p.as_u64().is_some_and(|p| p >= 5 * MIB)));
    assert_eq!(w.s3.calls(Op::Create), 0);
    // The content id alone, over the plan's parts, opens the session; its state says the hash
    // is still to come.
    by_id.chunk_size = Some(5 * MIB);
    let answer = block_on(w.core.optimal_edges(&acc, &by_id, HERE, ORIGIN)).unwrap();
    let s = session(&w, &acc, &answer);
    let state = block_on(w.core.state_of(&s)).unwrap();
    assert_eq!(state.file_hash, None);
    assert_eq!(state.content_id, by_id.content_id);
    // Another device finds it by content id.
    let listed = block_on(
        w.core
            .list_uploads(&acc.id, &query(&format!("contentId={}", parts_content_id(3)))),
    )
    .unwrap();
    assert_eq!(listed.uploads.len(), 1);
    assert_eq!(
        (
            listed.uploads[0].file_hash.clone(),
            listed.uploads[0].content_id.clone()
        ),
        (None, by_id.content_id.clone())
    );
    send_all_parts(&w, &s);
    // Finalize without the hash is refused and changes nothing; with it, the file records it.
    let s = block_on(w.core.with_declared_hash(fresh(&w, &s), None)).unwrap();
    assert_eq!(
        block_on(w.core.finalize(&s)).unwrap_err().code,
        ErrorCode::FileHashRequired
    );
    assert_eq!(w.s3.calls(Op::Complete), 0);
    let declared = format!("sha256:{}", hash_of("a"));
    let s = block_on(w.core.with_declared_hash(fresh(&w, &s), Some(&declared))).unwrap();
    let file = block_on(w.core.finalize(&s)).unwrap();
    assert_eq!(file.sha256, hash_of("a"));
    assert_eq!(file.content_id.as_deref(), Some(parts_content_id(3).as_str()));
    // Once declared the hash is kept: another one is refused, the same one finalizes again.
    let err = block_on(w.core.with_declared_hash(fresh(&w, &s), Some(&hash_of("b")))).unwrap_err();
    assert_eq!(err.code, ErrorCode::FileHashMismatch);
    let again = block_on(w.core.with_declared_hash(fresh(&w, &s), Some(&hash_of("a")))).unwrap();
    assert_eq!(block_on(w.core.finalize(&again)).unwrap().id, file.id);
    // A duplicate asked by content id alone learns the stored file's declared hash.
    let dup = block_on(w.core.optimal_edges(&acc, &by_id, HERE, ORIGIN))
        .unwrap()
        .duplicate
        .unwrap();
    assert_eq!(dup.sha256, Some(declared));
}

fn offer(file_id: &str, parts: &[(u32, &str)]) -> jetty_shared::protocol::ReusePartsRequest {
    jetty_shared::protocol::ReusePartsRequest {
        file_id: file_id.to_owned(),
        parts: parts
            .iter()
            .map(|(part, seed)| jetty_shared::protocol::PartOffer {
                part: *part,
                sha256: hash_of(seed),
            })
            .collect(),
        dry_run: false,
    }
}

#[test]
fn parts_the_account_already_stores_are_copied_inside_the_store_and_only_the_others_are_sent() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let v1 = uploaded(&w, &acc, 12 * MIB, "v1");
    let v1_file = block_on(w.core.finalize(&v1)).unwrap();
    // A new version of the same size: parts 1 and 3 as before, part 2 changed.
    let v2 = session(&w, &acc, &start(&w, &acc, 12 * MIB, &hash_of("v2")).unwrap());
    let offered = offer(&v2.file_id, &[(1, "part1"), (2, "changed"), (3, "part3")]);
    // Another account stores none of it: nothing is copied, the store is not asked.
    let other = account(&w, "acc_other", "enterprise");
    let theirs = session(&w, &other, &start(&w, &other, 12 * MIB, &hash_of("v2")).unwrap());
    let none = block_on(
        w.core
            .reuse_parts(&other.id, &offer(&theirs.file_id, &[(1, "part1"), (3, "part3")])),
    )
    .unwrap();
    assert!(none.copied.is_empty());
    assert_eq!(w.s3.calls(Op::CopyPart), 0);
    // Nor may it name this account's upload.
    let err = block_on(w.core.reuse_parts(&other.id, &offered)).unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound);

    // A dry run says what could be copied and copies nothing.
    let mut dry = offered.clone();
    dry.dry_run = true;
    let would = block_on(w.core.reuse_parts(&acc.id, &dry)).unwrap();
    assert_eq!((would.reusable, would.copied), (vec![1, 3], vec![]));
    assert_eq!(w.s3.calls(Op::CopyPart), 0);
    let answer = block_on(w.core.reuse_parts(&acc.id, &offered)).unwrap();
    assert_eq!(answer.copied, vec![1, 3]);
    assert_eq!(answer.bytes_copied, 5 * MIB + 2 * MIB);
    assert_eq!(w.s3.calls(Op::CopyPart), 2);
    let state = block_on(w.core.state_of(&fresh(&w, &v2))).unwrap();
    assert_eq!(state.chunks_remaining, vec![2], "only the changed part is left to send");
    // Offered again: recorded parts are never copied over.
    let again = block_on(w.core.reuse_parts(&acc.id, &offered)).unwrap();
    assert!(again.copied.is_empty());
    assert_eq!(w.s3.calls(Op::CopyPart), 2);
    // The changed part comes from the client; the new version completes with all three.
    w.s3.store_part(&v2.s3_upload_id, 2, 5 * MIB);
    let mut changed = report(&v2, 2);
    changed.sha256 = hash_of("changed");
    block_on(w.core.record_part(changed)).unwrap();
    let v2_file = block_on(w.core.finalize(&fresh(&w, &v2))).unwrap();
    assert_eq!(w.s3.object(&v2_file.object_key), Some(12 * MIB));
    let digests: Vec<Sha256Digest> = ["part1", "changed", "part3"]
        .iter()
        .map(|s| Sha256Digest::parse(&hash_of(s)).unwrap())
        .collect();
    let expected = jetty_shared::content_id::ContentId::of_parts(&digests).to_wire();
    assert_eq!(v2_file.content_id.as_deref(), Some(expected.as_str()));
    assert_ne!(v2_file.object_key, v1_file.object_key);
}

#[test]
fn a_store_that_cannot_copy_or_fails_a_copy_leaves_the_parts_to_the_client() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let v1 = uploaded(&w, &acc, 12 * MIB, "v1");
    block_on(w.core.finalize(&v1)).unwrap();
    let v2 = session(&w, &acc, &start(&w, &acc, 12 * MIB, &hash_of("v2")).unwrap());
    let offered = offer(&v2.file_id, &[(1, "part1"), (2, "part2"), (3, "part3")]);
    // Refused for one part (its source gone): that part is skipped, the others copied.
    w.s3.inject(Op::CopyPart, Fault::Refuse(404, "NoSuchKey"));
    let answer = block_on(w.core.reuse_parts(&acc.id, &offered)).unwrap();
    assert_eq!(answer.copied, vec![2, 3]);
    // A store without UploadPartCopy (501) or one that fails: copying stops, nothing is lost.
    for fault in [
        Fault::Refuse(501, "NotImplemented"),
        Fault::Unreachable,
        Fault::Refuse(503, "SlowDown"),
    ] {
        let v3 = session(&w, &acc, &start(&w, &acc, 12 * MIB, &hash_of("v3")).unwrap());
        let before = w.s3.calls(Op::CopyPart);
        w.s3.inject(Op::CopyPart, fault.clone());
        let answer = block_on(
            w.core
                .reuse_parts(&acc.id, &offer(&v3.file_id, &[(1, "part1"), (3, "part3")])),
        )
        .unwrap();
        assert!(answer.copied.is_empty(), "{fault:?}");
        assert_eq!(w.s3.calls(Op::CopyPart) - before, 1, "{fault:?}: stops at the first");
        let state = block_on(w.core.state_of(&fresh(&w, &v3))).unwrap();
        assert_eq!(state.chunks_remaining, vec![1, 2, 3], "{fault:?}");
        block_on(w.core.abort(&fresh(&w, &v3), "test")).ok();
    }
    // Offers outside the plan or with a bad digest are refused before any copy.
    let err = block_on(w.core.reuse_parts(&acc.id, &offer(&v2.file_id, &[(9, "x")]))).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidPartNumber);
    let mut bad = offer(&v2.file_id, &[(1, "x")]);
    bad.parts[0].sha256 = "zz".into();
    assert_eq!(
        block_on(w.core.reuse_parts(&acc.id, &bad)).unwrap_err().code,
        ErrorCode::InvalidHash
    );
}

fn direct_parts(file_id: &str, parts: &[(u32, &str)]) -> jetty_shared::protocol::DirectPartsRequest {
    let offers = offer(file_id, parts).parts;
    jetty_shared::protocol::DirectPartsRequest {
        file_id: file_id.to_owned(),
        parts: offers,
    }
}

#[test]
fn parts_sent_straight_to_the_store_are_presigned_with_their_checksums_and_recorded_from_the_stores_listing() {
    let w = world_with(&[("STORE_DIRECT_ENDPOINT", "http://store.public:9000/")]);
    let acc = account(&w, ACCOUNT, "enterprise");
    let answer = start(&w, &acc, 12 * MIB, &hash_of("direct")).unwrap();
    assert_eq!(
        answer.direct.as_ref().map(|d| d.url.as_str()),
        Some("http://store.public:9000"),
        "the route is offered, at the store's public endpoint"
    );
    let s = session(&w, &acc, &answer);
    let all: Vec<(u32, String)> = (1..=s.part_count).map(|n| (n, format!("part{n}"))).collect();
    let all: Vec<(u32, &str)> = all.iter().map(|(n, seed)| (*n, seed.as_str())).collect();

    // One URL per part, for the public endpoint, expiring, signing the part's checksum header.
    let urls = block_on(w.core.direct_part_urls(&acc.id, &direct_parts(&s.file_id, &all)))
        .unwrap()
        .urls;
    assert_eq!(
        urls.iter().map(|u| u.part).collect::<Vec<_>>(),
        (1..=s.part_count).collect::<Vec<_>>()
    );
    let first = &urls[0];
    assert_eq!(first.method, "PUT");
    assert!(
        first.url.starts_with("http://store.public:9000/bucket/"),
        "{}",
        first.url
    );
    assert!(first.url.contains("partNumber=1&uploadId="), "{}", first.url);
    assert!(first.url.contains("X-Amz-Expires=3600"), "{}", first.url);
    assert!(first.url.contains("X-Amz-Signature="), "{}", first.url);
    assert!(
        first.url.contains("x-amz-checksum-sha256"),
        "the checksum header is signed: {}",
        first.url
    );
    let digest = Sha256Digest::parse(&hash_of("part1")).unwrap();
    assert_eq!(
        first.headers,
        vec![("x-amz-checksum-sha256".to_owned(), digest.to_base64())]
    );
    // Another account cannot name this upload; a part outside the plan, none or too many parts
    // are refused.
    let other = account(&w, "acc_other", "enterprise");
    let err = block_on(w.core.direct_part_urls(&other.id, &direct_parts(&s.file_id, &all))).unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound);
    let err = block_on(
        w.core
            .direct_part_urls(&acc.id, &direct_parts(&s.file_id, &[(9, "part1")])),
    )
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidPartNumber);
    let err = block_on(w.core.direct_part_urls(&acc.id, &direct_parts(&s.file_id, &[]))).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidRequest);
    let many: Vec<(u32, &str)> = (0..101).map(|_| (1, "part1")).collect();
    let err = block_on(w.core.direct_part_urls(&acc.id, &direct_parts(&s.file_id, &many))).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidRequest);

    // Nothing is recorded on the client's word: the store must list each part, with its
    // checksum and planned size.
    let len = |n: u32| s.plan().part_len(n).unwrap();
    let checksum = |seed: &str| Sha256Digest::parse(&hash_of(seed)).unwrap().to_base64();
    w.s3.store_checked_part(&s.s3_upload_id, 1, len(1), &checksum("part1"));
    w.s3.store_checked_part(&s.s3_upload_id, 2, len(2), &Sha256Digest::of(b"other").to_base64());
    w.s3.store_checked_part(&s.s3_upload_id, 3, len(3) - 1, &checksum("part3"));
    let answer = block_on(w.core.direct_parts_stored(&acc.id, &direct_parts(&s.file_id, &all))).unwrap();
    assert_eq!(answer.stored.iter().map(|p| p.part).collect::<Vec<_>>(), vec![1]);
    assert_eq!(
        (answer.stored[0].size, answer.stored[0].etag.as_str()),
        (len(1), "\"etag-1\"")
    );
    assert_eq!(
        answer.missing,
        vec![2, 3],
        "another body and a short part are not these parts"
    );
    let recorded = block_on(w.core.db.parts(&s.id)).unwrap();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].edge_id, jetty_core::direct::STORE_DIRECT);

    // Sent again, and listed: recorded; the upload completes from those records.
    for n in [2, 3] {
        w.s3.store_checked_part(&s.s3_upload_id, n, len(n), &checksum(&format!("part{n}")));
    }
    let answer = block_on(
        w.core
            .direct_parts_stored(&acc.id, &direct_parts(&s.file_id, &[(2, "part2"), (3, "part3")])),
    )
    .unwrap();
    assert_eq!((answer.stored.len(), answer.missing.len()), (2, 0));
    let file = block_on(w.core.finalize(&fresh(&w, &s))).unwrap();
    assert_eq!(w.s3.object(&file.object_key), Some(12 * MIB));
    assert_eq!(
        file.content_id.as_deref(),
        Some(parts_content_id(s.part_count).as_str())
    );
    // Once completed, the session takes no more parts this way.
    let err = block_on(w.core.direct_part_urls(&acc.id, &direct_parts(&s.file_id, &all))).unwrap_err();
    assert_eq!(err.code, ErrorCode::SessionNotActive);
}

#[test]
fn a_batch_of_parts_sent_straight_to_the_store_is_recorded_in_one_transaction() {
    let w = world_with(&[("STORE_DIRECT_ENDPOINT", "http://store.public:9000")]);
    let acc = account(&w, ACCOUNT, "enterprise");
    let s = session(&w, &acc, &start(&w, &acc, 12 * MIB, &hash_of("one batch")).unwrap());
    let seeds: Vec<(u32, String)> = (1..=s.part_count).map(|n| (n, format!("part{n}"))).collect();
    let all: Vec<(u32, &str)> = seeds.iter().map(|(n, seed)| (*n, seed.as_str())).collect();
    for (n, seed) in &all {
        let checksum = Sha256Digest::parse(&hash_of(seed)).unwrap().to_base64();
        w.s3.store_checked_part(&s.s3_upload_id, *n, s.plan().part_len(*n).unwrap(), &checksum);
    }
    // The database refuses: none of the batch is recorded (the client asks again).
    w.core.db.fail_next("INSERT INTO upload_parts", DbFault::Fails);
    assert!(block_on(w.core.direct_parts_stored(&acc.id, &direct_parts(&s.file_id, &all))).is_err());
    assert_eq!(block_on(w.core.db.parts(&s.id)).unwrap().len(), 0);
    // Done but the answer lost: all of it is recorded, and asking again records nothing more —
    // no row, no report, no bytes counted twice.
    w.core.db.fail_next("INSERT INTO upload_parts", DbFault::FailsButDone);
    assert!(block_on(w.core.direct_parts_stored(&acc.id, &direct_parts(&s.file_id, &all))).is_err());
    assert_eq!(block_on(w.core.db.parts(&s.id)).unwrap().len(), s.part_count as usize);
    let counted = |what: &str| {
        w.core.db.scalar(&format!(
            "SELECT {what} AS v FROM upload_sessions s WHERE s.id = '{}'",
            s.id
        ))
    };
    let reports = format!("(SELECT SUM(reports) FROM upload_parts WHERE session_id = '{}')", s.id);
    let before = (counted("bytes_transferred"), counted(&reports));
    assert_eq!(before.0, serde_json::json!(12 * MIB));
    let answer = block_on(w.core.direct_parts_stored(&acc.id, &direct_parts(&s.file_id, &all))).unwrap();
    assert_eq!((answer.stored.len(), answer.missing.len()), (s.part_count as usize, 0));
    assert_eq!(block_on(w.core.db.parts(&s.id)).unwrap().len(), s.part_count as usize);
    assert_eq!((counted("bytes_transferred"), counted(&reports)), before);
}

#[test]
fn the_stores_listing_is_read_page_by_page_up_to_the_highest_part_asked_about() {
    let w = world_with(&[("STORE_DIRECT_ENDPOINT", "http://store.public:9000")]);
    let acc = account(&w, ACCOUNT, "enterprise");
    // 2,100 parts of 5 MiB: listing parts 1 and 2,050 takes three pages.
    let size = 2100 * 5 * MIB;
    let s = session(&w, &acc, &start(&w, &acc, size, &hash_of("many parts")).unwrap());
    assert_eq!(s.part_count, 2100);
    for n in [1, 2050] {
        w.s3.store_checked_part(
            &s.s3_upload_id,
            n,
            5 * MIB,
            &Sha256Digest::parse(&hash_of(&format!("part{n}"))).unwrap().to_base64(),
        );
    }
    for n in 2..2050 {
        w.s3.store_part(&s.s3_upload_id, n, 5 * MIB);
    }
    let asked = direct_parts(&s.file_id, &[(1, "part1"), (2050, "part2050")]);
    let answer = block_on(w.core.direct_parts_stored(&acc.id, &asked)).unwrap();
    assert_eq!(answer.stored.iter().map(|p| p.part).collect::<Vec<_>>(), vec![1, 2050]);
    assert_eq!(w.s3.calls(Op::ListParts), 3);
}

#[test]
fn no_store_direct_route_is_offered_unless_configured_for_a_store_that_checks_part_checksums() {
    for extra in [
        vec![],
        vec![
            ("STORE_DIRECT_ENDPOINT", "http://store.public:9000"),
            ("S3_STORE", "r2"),
        ],
    ] {
        let w = world_with(&extra);
        let acc = account(&w, ACCOUNT, "enterprise");
        let answer = start(&w, &acc, 12 * MIB, &hash_of("edges only")).unwrap();
        assert_eq!(answer.direct, None, "{extra:?}");
        let s = session(&w, &acc, &answer);
        let asked = direct_parts(&s.file_id, &[(1, "part1")]);
        for result in [
            block_on(w.core.direct_part_urls(&acc.id, &asked)).map(|_| ()),
            block_on(w.core.direct_parts_stored(&acc.id, &asked)).map(|_| ()),
        ] {
            assert_eq!(result.unwrap_err().code, ErrorCode::DirectRouteUnavailable, "{extra:?}");
        }
    }
}

#[test]
fn a_direct_download_presigns_the_owners_object_and_counts_the_whole_file_first() {
    let w = world_with(&[("STORE_DIRECT_ENDPOINT", "http://store.public:9000")]);
    let mut acc = account(&w, ACCOUNT, "enterprise");
    let s = uploaded(&w, &acc, 12 * MIB, "direct download");
    block_on(w.core.finalize(&s)).unwrap();
    let got = block_on(w.core.direct_download(&acc, &s.file_id)).unwrap();
    let (base, query) = got.url.split_once('?').unwrap();
    assert_eq!(base, format!("http://store.public:9000/bucket/{}", s.object_key));
    assert!(
        query.contains("X-Amz-Signature=") && query.contains("X-Amz-Expires=3600"),
        "{query}"
    );
    assert_eq!(
        got.expires_at,
        w.core.rt.now_ms() / 1000 + jetty_core::direct::DIRECT_DOWNLOAD_SECS
    );
    let period = jetty_shared::quota::billing_period(w.core.rt.now_ms() / 1000);
    assert_eq!(block_on(w.core.db.bandwidth_used(&acc.id, &period)).unwrap(), 12 * MIB);

    // Another account's file is not found, and nothing is counted for it.
    let other = account(&w, "acc_other", "enterprise");
    let err = block_on(w.core.direct_download(&other, &s.file_id)).unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound);
    assert_eq!(block_on(w.core.db.bandwidth_used(&other.id, &period)).unwrap(), 0);
    // Past the month's bandwidth: no URL.
    acc.bandwidth_quota_bytes = 20 * MIB;
    let err = block_on(w.core.direct_download(&acc, &s.file_id)).unwrap_err();
    assert_eq!(err.code, ErrorCode::BandwidthQuotaExceeded);

    // Where the route is not offered, neither are direct downloads.
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let s = uploaded(&w, &acc, 12 * MIB, "edges only");
    block_on(w.core.finalize(&s)).unwrap();
    let err = block_on(w.core.direct_download(&acc, &s.file_id)).unwrap_err();
    assert_eq!(err.code, ErrorCode::DirectRouteUnavailable);
}

#[test]
fn a_store_that_fails_to_list_parts_is_a_store_failure_and_a_gone_upload_is_not_active() {
    let w = world_with(&[("STORE_DIRECT_ENDPOINT", "http://store.public:9000")]);
    let acc = account(&w, ACCOUNT, "enterprise");
    let s = session(&w, &acc, &start(&w, &acc, 12 * MIB, &hash_of("faults")).unwrap());
    let asked = direct_parts(&s.file_id, &[(1, "part1")]);
    w.s3.inject(Op::ListParts, Fault::Refuse(503, "SlowDown"));
    let err = block_on(w.core.direct_parts_stored(&acc.id, &asked)).unwrap_err();
    assert_eq!(err.code, ErrorCode::StoreUnavailable);
    w.s3.inject(Op::ListParts, Fault::Unreachable);
    let err = block_on(w.core.direct_parts_stored(&acc.id, &asked)).unwrap_err();
    assert_eq!(err.code, ErrorCode::StoreUnavailable);
    w.s3.forget_upload(&s.s3_upload_id);
    let err = block_on(w.core.direct_parts_stored(&acc.id, &asked)).unwrap_err();
    assert_eq!(err.code, ErrorCode::SessionNotActive);
}

/// S3's `ChecksumSHA256` (base64) of the part `report` names `part{n}`.
fn listed_checksum(n: u32) -> String {
    Sha256Digest::parse(&hash_of(&format!("part{n}"))).unwrap().to_base64()
}

/// Every part of `s` stored by an edge, the store keeping each one's checksum; none reported.
fn store_every_part_checked(w: &World, s: &SessionRow) {
    for n in 1..=s.part_count {
        w.s3.store_checked_part(&s.s3_upload_id, n, s.plan().part_len(n).unwrap(), &listed_checksum(n));
    }
}

#[test]
fn finalize_records_the_parts_the_store_lists_with_their_checksum_when_their_reports_have_not_arrived() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let s = session(&w, &acc, &start(&w, &acc, 12 * MIB, &hash_of("late reports")).unwrap());
    store_every_part_checked(&w, &s);
    // Only part 1's report arrived before the client finalized.
    block_on(w.core.record_part(report(&s, 1))).unwrap();
    let file = block_on(w.core.finalize(&fresh(&w, &s))).unwrap();
    assert_eq!(w.s3.object(&file.object_key), Some(12 * MIB));
    assert_eq!(w.s3.calls(Op::ListParts), 1);
    let recorded = block_on(w.core.db.parts(&s.id)).unwrap();
    let by: Vec<(u32, &str)> = recorded.iter().map(|p| (p.part_number, p.edge_id.as_str())).collect();
    assert_eq!(
        by,
        vec![
            (1, "sfo-1"),
            (2, jetty_core::parts::STORE_LISTED),
            (3, jetty_core::parts::STORE_LISTED)
        ]
    );
    // The listed digests are the parts' own: the same content id as if every report had come.
    assert_eq!(
        file.content_id.as_deref(),
        Some(parts_content_id(s.part_count).as_str())
    );
    // A report arriving after completion changes nothing.
    let late = block_on(w.core.record_part(report(&s, 3))).unwrap_err();
    assert_eq!(late.code, ErrorCode::SessionNotActive);
}

#[test]
fn a_report_of_a_part_already_recorded_from_the_listing_names_its_edge_but_counts_no_bytes_twice() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let s = session(
        &w,
        &acc,
        &start(&w, &acc, 12 * MIB, &hash_of("report after listing")).unwrap(),
    );
    store_every_part_checked(&w, &s);
    // Finalize overtook the reports: the parts are recorded from the store's listing...
    block_on(w.core.record_unreported_parts(&s, &[1, 2, 3])).unwrap();
    let counted = || {
        w.core.db.scalar(&format!(
            "SELECT bytes_transferred || '/' || (SELECT SUM(reports) FROM upload_parts WHERE session_id = s.id) \
             AS v FROM upload_sessions s WHERE s.id = '{}'",
            s.id
        ))
    };
    let listed = counted();
    assert_eq!(listed, serde_json::json!(format!("{}/3", 12 * MIB)));
    // ...then the edge's report of the same upload of part 3 (the ETag the store listed) comes.
    let same = PartRecord {
        etag: "\"etag-3\"".into(),
        sha256: Sha256Digest::from_base64(&listed_checksum(3)).unwrap().to_hex(),
        ..report(&s, 3)
    };
    block_on(w.core.record_part(same)).unwrap();
    assert_eq!(counted(), listed, "its bytes moved once");
    let recorded = block_on(w.core.db.parts(&s.id)).unwrap();
    assert_eq!(recorded[2].edge_id, "sfo-1", "the record names the edge now");
    // A part sent again (another upload of it: another ETag) is counted again.
    block_on(w.core.record_part(report(&s, 2))).unwrap();
    let again = 12 * MIB + s.plan().part_len(2).unwrap();
    assert_eq!(counted(), serde_json::json!(format!("{again}/4")));
}

#[test]
fn finalize_lists_nothing_when_every_part_was_reported() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let s = uploaded(&w, &acc, 12 * MIB, "all reported");
    block_on(w.core.finalize(&fresh(&w, &s))).unwrap();
    assert_eq!(w.s3.calls(Op::ListParts), 0);
}

#[test]
fn a_listed_part_without_a_checksum_or_of_another_size_is_not_recorded_and_stays_missing() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let s = session(&w, &acc, &start(&w, &acc, 12 * MIB, &hash_of("unverified")).unwrap());
    block_on(w.core.record_part(report(&s, 1))).unwrap();
    // Part 2: the store reports no checksum (nothing says it checked the body). Part 3: a
    // checksum, but not the planned size.
    w.s3.store_part(&s.s3_upload_id, 2, s.plan().part_len(2).unwrap());
    w.s3.store_checked_part(
        &s.s3_upload_id,
        3,
        s.plan().part_len(3).unwrap() - 1,
        &listed_checksum(3),
    );
    let before = {
        use jetty_core::Runtime;
        w.clock.now_ms()
    };
    let err = block_on(w.core.finalize(&fresh(&w, &s))).unwrap_err();
    assert_eq!(err.code, ErrorCode::PartsMissing);
    assert_eq!(err.details.as_ref().unwrap()["missing"], serde_json::json!([2, 3]));
    // Only after waiting for reports that might still be on their way.
    let waited = {
        use jetty_core::Runtime;
        w.clock.now_ms()
    } - before;
    assert!(waited >= jetty_shared::session::REPORT_WAIT_MS, "{waited} ms");
    assert_eq!(block_on(w.core.db.parts(&s.id)).unwrap().len(), 1);
    assert_eq!(w.s3.calls(Op::Complete), 0);
}

#[test]
fn a_store_that_cannot_list_the_unreported_parts_fails_finalize_as_a_store_failure_and_a_retry_completes() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let s = session(&w, &acc, &start(&w, &acc, 12 * MIB, &hash_of("list fails")).unwrap());
    store_every_part_checked(&w, &s);
    block_on(w.core.record_part(report(&s, 1))).unwrap();
    w.s3.inject(Op::ListParts, Fault::Refuse(503, "SlowDown"));
    let err = block_on(w.core.finalize(&fresh(&w, &s))).unwrap_err();
    assert_eq!(err.code, ErrorCode::StoreUnavailable);
    assert_eq!(fresh(&w, &s).status, SessionStatus::Active);
    let file = block_on(w.core.finalize(&fresh(&w, &s))).unwrap();
    assert_eq!(w.s3.object(&file.object_key), Some(12 * MIB));
}

/// An upload opened as a browser opens one: a plan, but neither a whole-file hash nor a content
/// id (its parts are hashed while they go out).
fn start_unidentified(w: &World, acc: &Account, size: u64) -> SessionRow {
    let mut req = request(size, &hash_of("unused"));
    req.file_hash = None;
    session(
        w,
        acc,
        &block_on(w.core.optimal_edges(acc, &req, HERE, ORIGIN)).unwrap(),
    )
}

fn identify(w: &World, acc: &Account, s: &SessionRow, content_id: &str) -> jetty_core::Result<IdentifyResponse> {
    let req = IdentifyRequest {
        file_id: s.file_id.clone(),
        content_id: content_id.to_owned(),
    };
    block_on(w.core.identify_upload(acc, &req, ORIGIN))
}

#[test]
fn an_upload_opened_without_an_identity_is_named_at_identify_and_then_found_by_its_content_id() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let s = start_unidentified(&w, &acc, 12 * MIB);
    assert_eq!((s.content_id.as_deref(), s.declared_hash()), (None, None));
    let answer = identify(&w, &acc, &s, &parts_content_id(3)).unwrap();
    assert_eq!(answer.duplicate, None);
    assert_eq!(fresh(&w, &s).content_id, Some(parts_content_id(3)));
    // Named twice the same way: the same answer.
    assert_eq!(identify(&w, &acc, &s, &parts_content_id(3)).unwrap().duplicate, None);
    // The same bytes asked for meanwhile wait for this upload, as for one opened by its id.
    let err = start_with_id(&w, &acc, 12 * MIB, &hash_of("other declared"), 3).unwrap_err();
    assert_eq!(err.code, ErrorCode::UploadInProgress);
    // It finalizes as any upload does: the whole-file hash declared then.
    send_all_parts(&w, &s);
    let declared = block_on(w.core.with_declared_hash(fresh(&w, &s), Some(&hash_of("whole")))).unwrap();
    let file = block_on(w.core.finalize(&declared)).unwrap();
    assert_eq!(file.content_id, Some(parts_content_id(3)));
}

#[test]
fn identify_answers_stored_content_as_a_duplicate_on_the_upload_s_own_file_id_and_aborts_the_upload() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let first = uploaded(&w, &acc, 12 * MIB, "first");
    let stored = block_on(w.core.finalize(&fresh(&w, &first))).unwrap();
    let s = start_unidentified(&w, &acc, 12 * MIB);
    let answer = identify(&w, &acc, &s, &parts_content_id(3)).unwrap();
    let duplicate = answer.duplicate.clone().expect("a duplicate");
    assert_eq!(duplicate.file_id, s.file_id);
    assert_eq!(duplicate.sha256, Some(format!("sha256:{}", stored.sha256)));
    assert_eq!(duplicate.saved_bytes, 12 * MIB);
    let clone = block_on(w.core.own_file(&acc.id, &s.file_id)).unwrap();
    assert_eq!((clone.object_key, clone.size), (stored.object_key, stored.size));
    // The upload is over: its multipart upload aborted, no part taken any more.
    assert_eq!(fresh(&w, &s).status, SessionStatus::Aborted);
    assert_eq!(w.s3.calls(Op::Abort), 1);
    let late = block_on(w.core.record_part(report(&s, 1))).unwrap_err();
    assert_eq!(late.code, ErrorCode::SessionNotActive);
    // Asked again (the answer was lost): the same answer, no second clone.
    assert_eq!(identify(&w, &acc, &s, &parts_content_id(3)).unwrap(), answer);
}

#[test]
fn identify_refuses_an_id_over_another_plan_a_second_different_id_a_closed_upload_and_another_account() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let s = start_unidentified(&w, &acc, 12 * MIB);
    let err = identify(&w, &acc, &s, &parts_content_id(2)).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidRequest);
    let err = identify(&w, &acc, &s, "not an id").unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidHash);
    let other = account(&w, "acc_other", "enterprise");
    let err = identify(&w, &other, &s, &parts_content_id(3)).unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound);
    assert_eq!(fresh(&w, &s).content_id, None, "nothing recorded by a refused call");

    identify(&w, &acc, &s, &parts_content_id(3)).unwrap();
    let another = jetty_shared::content_id::ContentId::of_parts(&[Sha256Digest::of(b"x"); 3]).to_wire();
    let err = identify(&w, &acc, &s, &another).unwrap_err();
    assert_eq!(err.code, ErrorCode::ContentIdMismatch);
    assert_eq!(fresh(&w, &s).content_id, Some(parts_content_id(3)));

    let closed = start_unidentified(&w, &acc, 12 * MIB);
    block_on(w.core.abort(&closed, "client_abort")).unwrap();
    let err = identify(&w, &acc, &closed, &parts_content_id(3)).unwrap_err();
    assert_eq!(err.code, ErrorCode::SessionNotActive);
}

#[test]
fn an_upload_named_while_another_sends_the_same_content_waits_for_it_and_then_is_its_duplicate() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let first = start_unidentified(&w, &acc, 12 * MIB);
    let second = start_unidentified(&w, &acc, 12 * MIB);
    identify(&w, &acc, &first, &parts_content_id(3)).unwrap();
    // The first is moving: the second holds back, pointed at it.
    let err = identify(&w, &acc, &second, &parts_content_id(3)).unwrap_err();
    assert_eq!(err.code, ErrorCode::UploadInProgress);
    assert_eq!(err.details.as_ref().unwrap()["fileId"], first.file_id.as_str());
    assert_eq!(fresh(&w, &second).content_id, None);
    // The first is stored: the second is its duplicate.
    send_all_parts(&w, &first);
    let declared = block_on(w.core.with_declared_hash(fresh(&w, &first), Some(&hash_of("whole")))).unwrap();
    block_on(w.core.finalize(&declared)).unwrap();
    let answer = identify(&w, &acc, &second, &parts_content_id(3)).unwrap();
    assert_eq!(answer.duplicate.map(|d| d.file_id), Some(second.file_id.clone()));
}

#[test]
fn an_upload_of_the_same_content_gone_idle_does_not_hold_a_named_later_one_back() {
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let idle = start_unidentified(&w, &acc, 12 * MIB);
    identify(&w, &acc, &idle, &parts_content_id(3)).unwrap();
    w.clock.advance(jetty_shared::session::IN_FLIGHT_IDLE_MS + 1);
    let s = start_unidentified(&w, &acc, 12 * MIB);
    assert_eq!(identify(&w, &acc, &s, &parts_content_id(3)).unwrap().duplicate, None);
    assert_eq!(fresh(&w, &s).content_id, Some(parts_content_id(3)));
}

#[test]
fn finalize_waits_a_little_for_a_report_on_its_way_where_the_store_lists_no_checksum() {
    use jetty_core::Runtime;
    let w = world();
    let acc = account(&w, ACCOUNT, "enterprise");
    let s = session(
        &w,
        &acc,
        &start(&w, &acc, 12 * MIB, &hash_of("report in flight")).unwrap(),
    );
    for n in 1..=s.part_count {
        // A store that lists no part checksums (R2 without them, s3s-fs).
        w.s3.store_part(&s.s3_upload_id, n, s.plan().part_len(n).unwrap());
    }
    block_on(w.core.record_part(report(&s, 1))).unwrap();
    block_on(w.core.record_part(report(&s, 2))).unwrap();
    let started = w.clock.now_ms();
    let current = fresh(&w, &s);
    // Part 3's report lands while finalize is already waiting.
    let (file, ()) = block_on(async {
        futures::join!(w.core.finalize(&current), async {
            yield_now().await;
            w.core.record_part(report(&s, 3)).await.unwrap();
        })
    });
    assert_eq!(w.s3.object(&file.unwrap().object_key), Some(12 * MIB));
    assert!(w.clock.now_ms() - started < jetty_shared::session::REPORT_WAIT_MS);
}
