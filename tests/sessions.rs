//! Sessions that survive anything, on the local fleet: kill-and-resume, cross-device resume,
//! dedup (and its tenant isolation), abort and the sweeper, races, bad input.

use futures::future::join_all;
use jetty_fleet_tests::*;
use jetty_shared::hash::Sha256Digest;
use jetty_shared::plan::MIB;
use jetty_shared::protocol::*;
use jetty_shared::state::UploadState;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

const PART: u64 = 5 * MIB;

async fn post(fleet: &Fleet, path: &str, key: &str, body: Value) -> (u16, Value) {
    api(
        reqwest::Method::POST,
        format!("{}{path}", fleet.coordinator),
        key,
        Some(body),
    )
    .await
}

async fn get(fleet: &Fleet, path: &str, key: &str) -> (u16, Value) {
    api(reqwest::Method::GET, format!("{}{path}", fleet.coordinator), key, None).await
}

async fn state(fleet: &Fleet, file_id: &str) -> UploadState {
    fleet.client().get_state(file_id).await.unwrap()
}

/// Starts a rate-limited upload in its own state dir, waits until the coordinator has recorded
/// about half its parts, and SIGKILLs it. Returns (file id, state at the kill).
async fn start_and_kill_halfway(
    fleet: &Fleet,
    file: &Path,
    state_dir: &Path,
    parallelism: &str,
) -> (String, UploadState) {
    let mut child = fleet
        .jetty_command(
            state_dir,
            &[
                "upload",
                file.to_str().unwrap(),
                "--part-size-mib",
                "5",
                "-j",
                parallelism,
                "--limit-rate",
                "24",
            ],
        )
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let file_id = loop {
        assert!(
            Instant::now() < deadline,
            "the upload never recorded its session locally"
        );
        let record = std::fs::read_dir(state_dir)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok());
        if let Some(entry) = record {
            if let Ok(v) = serde_json::from_str::<Value>(&std::fs::read_to_string(entry.path()).unwrap_or_default()) {
                break v["fileId"].as_str().unwrap().to_owned();
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    loop {
        assert!(Instant::now() < deadline, "the upload made no progress");
        let s = state(fleet, &file_id).await;
        if s.chunks_uploaded.len() * 2 >= s.part_count as usize {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let at_kill = state(fleet, &file_id).await;
    assert!(
        at_kill.chunks_uploaded.len() < at_kill.part_count as usize,
        "the upload finished before the kill"
    );
    (file_id, at_kill)
}

fn remaining_bytes(s: &UploadState) -> u64 {
    s.total - s.progress
}

#[tokio::test]
async fn a_killed_upload_run_again_resumes_and_sends_only_missing_parts() {
    let fleet = Fleet::get();
    let (file, sha) = random_file(64 * MIB + 11);
    let state_dir = fresh_dir();
    let (file_id, at_kill) = start_and_kill_halfway(&fleet, &file, &state_dir, "4").await;

    let (code, out) = fleet.jetty_in(
        &state_dir,
        &["upload", file.to_str().unwrap(), "--part-size-mib", "5", "-j", "4"],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["fileId"], file_id.as_str(), "the re-run continued the same session");
    assert_eq!(out["resumed"], true);
    let sent = out["bytesSent"].as_u64().unwrap();
    assert!(
        sent <= remaining_bytes(&at_kill),
        "re-sent {sent} bytes, {} were missing",
        remaining_bytes(&at_kill)
    );
    assert_eq!(fleet.s3_object_sha256(&dev_object_key(&file_id)), sha);

    // From the coordinator's own counts: bytes edges delivered beyond the file's size are at
    // most the parts that were in flight at the kill.
    let done = state(&fleet, &file_id).await;
    assert_eq!(done.status, "completed");
    assert!(
        done.bytes_received - done.total <= 4 * PART,
        "{} bytes re-sent",
        done.bytes_received - done.total
    );
    assert!(
        std::fs::read_dir(&state_dir).unwrap().next().is_none(),
        "the local record is removed when done"
    );
}

#[tokio::test]
async fn another_process_without_local_state_resumes_by_file_id() {
    let fleet = Fleet::get();
    let (file, sha) = random_file(60 * MIB + 1);
    let (file_id, at_kill) = start_and_kill_halfway(&fleet, &file, &fresh_dir(), "2").await;

    // A different file of the same size is not accepted for the session.
    let (other, _) = random_file(60 * MIB + 1);
    let (code, out) = fleet.jetty_in(&fresh_dir(), &["resume", &file_id, other.to_str().unwrap()]);
    assert_eq!(
        (code, out["error"]["code"].as_str()),
        (5, Some("integrity_error")),
        "{out}"
    );

    let (code, out) = fleet.jetty_in(&fresh_dir(), &["resume", &file_id, file.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["fileId"], file_id.as_str());
    assert!(out["bytesSent"].as_u64().unwrap() <= remaining_bytes(&at_kill));
    assert_eq!(fleet.s3_object_sha256(&dev_object_key(&file_id)), sha);
}

#[tokio::test]
async fn a_second_upload_of_the_same_bytes_is_a_duplicate_that_sends_nothing() {
    let fleet = Fleet::get();
    let (file, sha) = random_file(9 * MIB + 5);
    let (code, first) = fleet.jetty(&["upload", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{first}");

    // Found by its verified content id (the composite of its parts' digests)…
    let info = fleet
        .client()
        .file_info(first["fileId"].as_str().unwrap())
        .await
        .unwrap();
    let content_id = info.content_id.expect("a verified content id");
    let (status, hit) = post(
        &fleet,
        "/api/jetty/check-duplicate",
        &fleet.api_key,
        json!({"fileHash": format!("sha256:{sha}"), "contentId": content_id, "fileName": "x", "fileSize": 9 * MIB + 5}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(hit["duplicate"]["type"], "exact");
    assert_eq!(hit["duplicate"]["similarity"], 1.0);
    let (_, miss) = post(
        &fleet,
        "/api/jetty/check-duplicate",
        &fleet.api_key,
        json!({"fileHash": sha, "contentId": content_id, "fileSize": 1}),
    )
    .await;
    assert_eq!(miss["duplicate"], Value::Null, "size is part of the identity");
    // …never by a declared whole-file hash of a file of several parts (nothing verified it).
    let (_, declared) = post(
        &fleet,
        "/api/jetty/check-duplicate",
        &fleet.api_key,
        json!({"fileHash": sha, "fileSize": 9 * MIB + 5}),
    )
    .await;
    assert_eq!(declared["duplicate"], Value::Null, "{declared}");

    let copy = file.with_extension("copy");
    std::fs::copy(&file, &copy).unwrap();
    let (code, second) = fleet.jetty(&["upload", copy.to_str().unwrap()]);
    assert_eq!(code, 0, "{second}");
    assert_eq!(second["duplicate"], true);
    assert_eq!(second["bytesSent"], 0);
    assert_ne!(second["fileId"], first["fileId"], "a clone is a file record of its own");
    let back = copy.with_extension("back");
    let (code, _) = fleet.jetty(&["download", second["fileId"].as_str().unwrap(), back.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(file_sha256(&back), sha);
}

#[tokio::test]
async fn another_account_claiming_the_same_hash_gets_no_access() {
    let fleet = Fleet::get();
    let (file, sha) = random_file(6 * MIB);
    let (code, mine) = fleet.jetty(&["upload", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{mine}");
    let my_file = mine["fileId"].as_str().unwrap();
    let other = &fleet.other_api_key;

    let claim = json!({"fileHash": format!("sha256:{sha}"), "fileName": "stolen.bin", "fileSize": 6 * MIB});
    let (status, dup) = post(&fleet, "/api/jetty/check-duplicate", other, claim.clone()).await;
    assert_eq!((status, &dup["duplicate"]), (200, &Value::Null));
    let (status, edges) = post(&fleet, "/api/jetty/optimal-edges", other, claim).await;
    assert_eq!(status, 200, "{edges}");
    assert_eq!(
        edges["duplicate"],
        Value::Null,
        "a hash alone never grants another account's file"
    );
    assert!(
        edges["upload"]["uploadToken"].is_string(),
        "the other account must upload its own bytes"
    );

    let (status, body) = get(&fleet, &format!("/api/files/{my_file}"), other).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
    // The seed's answer for a state nobody may see: `{state: null}`, as for an unknown file.
    let (status, body) = get(&fleet, &format!("/api/jetty/get-state/me/{my_file}"), other).await;
    assert_eq!((status, &body["state"]), (200, &Value::Null));
    let (status, _) = post(&fleet, "/api/edge/finalize-upload", other, json!({"fileId": my_file})).await;
    assert_eq!(status, 404);
    let (status, _) = api(
        reqwest::Method::DELETE,
        format!("{}/api/jetty/uploads/{my_file}", fleet.coordinator),
        other,
        None,
    )
    .await;
    assert_eq!(status, 404);
}

/// A session with one part recorded, so it has a live multipart upload in S3.
async fn session_with_one_part(fleet: &Fleet, expires_in: Option<u64>) -> (UploadTicket, String) {
    let data = random_bytes(PART + 3);
    let mut req: Value =
        json!({"fileSize": data.len(), "fileHash": Sha256Digest::of(&data).to_hex(), "chunkSize": PART});
    if let Some(t) = expires_in {
        req["expiresIn"] = json!(t);
    }
    let (status, answer) = post(fleet, "/api/jetty/optimal-edges", &fleet.api_key, req).await;
    assert_eq!(status, 200, "{answer}");
    let ticket: UploadTicket = serde_json::from_value(answer["upload"].clone()).unwrap();
    let part = &data[..PART as usize];
    let resp = http()
        .put(format!("{}/api/edge/upload-chunk?part=1", fleet.edges[0].url))
        .bearer_auth(&ticket.upload_token)
        .header(CHUNK_SHA256_HEADER, Sha256Digest::of(part).to_hex())
        .body(part.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let key = dev_object_key(&ticket.file_id);
    assert!(
        fleet.s3_multipart_keys().contains(&key),
        "the session's multipart upload exists"
    );
    (ticket, key)
}

#[tokio::test]
async fn abort_track_fail_and_the_sweeper_leave_no_multipart_uploads() {
    let fleet = Fleet::get();
    let (aborted, aborted_key) = session_with_one_part(&fleet, None).await;
    let (code, out) = fleet.jetty(&["abort", &aborted.file_id]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(state(&fleet, &aborted.file_id).await.status, "aborted");
    let (code, again) = fleet.jetty(&["abort", &aborted.file_id]);
    assert_eq!(
        (code, again["status"].as_str()),
        (0, Some("aborted")),
        "abort is idempotent"
    );

    let (failed, failed_key) = session_with_one_part(&fleet, None).await;
    let (status, body) = post(
        &fleet,
        "/api/jetty/track-upload",
        &fleet.api_key,
        json!({"action": "fail", "fileId": failed.file_id, "reason": "disk unplugged"}),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("aborted")), "{body}");

    let (expiring, expiring_key) = session_with_one_part(&fleet, Some(3)).await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    fleet.run_scheduled();
    assert_eq!(state(&fleet, &expiring.file_id).await.status, "expired");

    let open = fleet.s3_multipart_keys();
    for key in [aborted_key, failed_key, expiring_key] {
        assert!(!open.contains(&key), "{key} still has a multipart upload");
    }
    // A part for an aborted session is refused by the edge's store call, not recorded.
    let resp = http()
        .put(format!("{}/api/edge/upload-chunk?part=2", fleet.edges[1].url))
        .bearer_auth(&aborted.upload_token)
        .header(CHUNK_SHA256_HEADER, Sha256Digest::of(b"abc").to_hex())
        .body(b"abc".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 409);
}

#[tokio::test]
async fn racing_finalizes_and_duplicate_part_reports_make_exactly_one_file() {
    let fleet = Fleet::get();
    let data = random_bytes(2 * PART - 7);
    let req = json!({"fileSize": data.len(), "fileHash": Sha256Digest::of(&data).to_hex(), "chunkSize": PART});
    let (_, answer) = post(&fleet, "/api/jetty/optimal-edges", &fleet.api_key, req).await;
    let ticket: UploadTicket = serde_json::from_value(answer["upload"].clone()).unwrap();
    let send = |edge: String, n: u32, bytes: Vec<u8>| {
        let token = ticket.upload_token.clone();
        async move {
            http()
                .put(format!("{edge}/api/edge/upload-chunk?part={n}"))
                .bearer_auth(token)
                .header(CHUNK_SHA256_HEADER, Sha256Digest::of(&bytes).to_hex())
                .body(bytes)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let p1 = data[..PART as usize].to_vec();
    let p2 = data[PART as usize..].to_vec();
    let statuses = join_all(vec![
        send(fleet.edges[0].url.clone(), 1, p1.clone()),
        send(fleet.edges[1].url.clone(), 1, p1.clone()),
        send(fleet.edges[2].url.clone(), 1, p1),
        send(fleet.edges[0].url.clone(), 2, p2),
    ])
    .await;
    assert_eq!(statuses, vec![200; 4]);
    let s = state(&fleet, &ticket.file_id).await;
    assert_eq!(s.chunks_uploaded, vec![1, 2]);
    assert_eq!(s.bytes_received, 3 * PART + (PART - 7), "every report is counted once");

    // Only the finalize holding the session's claim talks to S3; the others wait for its file.
    // Before the claim, the losers' Completes were refused by the store (404, or 400 InvalidPart
    // while the winner's was still running). Other tests never complete an upload twice.
    let complete_errors = || fleet.s3_metric("api_s3_error_counter", &[("api_endpoint", "CompleteMultipartUpload")]);
    let errors_before = complete_errors().await;
    let client = fleet.client();
    let finals = join_all((0..8).map(|_| {
        let (client, id) = (client.clone(), ticket.file_id.clone());
        async move { client.finalize(&id, 2, None).await.map(|f| f.file) }
    }))
    .await;
    let files: Vec<FileInfo> = finals
        .into_iter()
        .map(|r| r.expect("every finalize succeeds"))
        .collect();
    assert!(files.iter().all(|f| *f == files[0]), "{files:?}");
    assert_eq!(
        complete_errors().await,
        errors_before,
        "a racing finalize sent a Complete the store refused"
    );
    assert_eq!(
        fleet.s3_object_sha256(&dev_object_key(&files[0].id)),
        Sha256Digest::of(&data).to_hex()
    );
}

#[tokio::test]
async fn bad_input_to_session_endpoints_gets_4xx_codes() {
    let fleet = Fleet::get();
    let key = &fleet.api_key;
    let (ticket, _) = session_with_one_part(&fleet, None).await;
    let id = ticket.file_id.as_str();
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "/api/jetty/check-duplicate",
            json!({"fileHash": "sha256:xyz", "fileSize": 1}),
            400,
            "invalid_hash",
        ),
        (
            "/api/jetty/check-duplicate",
            json!({"fileHash": "00", "fileSize": -5}),
            400,
            "invalid_json",
        ),
        (
            "/api/jetty/optimal-edges",
            json!({"fileHash": "0".repeat(64), "fileSize": 1u64 << 60}),
            400,
            "file_too_large",
        ),
        (
            "/api/jetty/optimal-edges",
            json!({"fileHash": "0".repeat(64), "fileSize": -1}),
            400,
            "invalid_json",
        ),
        ("/api/jetty/resume", json!({"fileId": "fil_unknown"}), 404, "not_found"),
        (
            "/api/jetty/track-upload",
            json!({"action": "pause", "fileId": id}),
            400,
            "invalid_json",
        ),
        (
            "/api/jetty/track-upload",
            json!({"action": "start", "fileId": "fil_unknown"}),
            404,
            "not_found",
        ),
        (
            "/api/jetty/cache-chunk",
            json!({"fileId": id, "chunkIndex": 99, "hash": "0".repeat(64), "edgeId": "sfo-1"}),
            400,
            "invalid_part_number",
        ),
        (
            "/api/jetty/cache-chunk",
            json!({"fileId": id, "chunkIndex": 1, "hash": "nope", "edgeId": "sfo-1"}),
            400,
            "invalid_hash",
        ),
        (
            "/api/jetty/save-state",
            json!({"fileId": "", "state": {}}),
            400,
            "invalid_request",
        ),
        (
            "/api/jetty/cache-chunk",
            json!({"chunkIndex": 1}),
            400,
            "invalid_request",
        ),
        (
            "/api/jetty/track-upload",
            json!({"action": "start"}),
            400,
            "invalid_request",
        ),
        (
            "/api/jetty/identify",
            json!({"fileId": "fil_unknown", "contentId": format!("{}-1", "0".repeat(64))}),
            404,
            "not_found",
        ),
        (
            "/api/jetty/identify",
            json!({"fileId": id, "contentId": "nope"}),
            400,
            "invalid_hash",
        ),
        (
            "/api/jetty/identify",
            json!({"fileId": id, "contentId": format!("{}-7", "0".repeat(64))}),
            400,
            "invalid_request",
        ),
    ];
    for (path, body, want_status, want_code) in cases {
        let (status, answer) = post(&fleet, path, key, body.clone()).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (want_status, Some(want_code)),
            "{path} {body}: {answer}"
        );
    }
    // An upload opened with neither a whole-file hash nor a content id is named at identify.
    let (status, opened) = post(
        &fleet,
        "/api/jetty/optimal-edges",
        key,
        json!({"fileSize": 10, "fileName": "unnamed.bin", "chunkSize": 5 * MIB}),
    )
    .await;
    assert_eq!(status, 200, "{opened}");
    let unnamed = opened["upload"]["fileId"].as_str().unwrap();
    let content_id = jetty_shared::content_id::ContentId::of_parts(&[Sha256Digest::of(b"0123456789")]).to_wire();
    let (status, named) = post(
        &fleet,
        "/api/jetty/identify",
        key,
        json!({"fileId": unnamed, "contentId": content_id}),
    )
    .await;
    assert_eq!((status, &named["duplicate"]), (200, &Value::Null), "{named}");
    let (status, page) = get(&fleet, &format!("/api/jetty/uploads?contentId={content_id}"), key).await;
    assert_eq!(status, 200);
    assert_eq!(
        page["uploads"][0]["fileId"], unnamed,
        "found by the id it was named with: {page}"
    );

    // The seed answers `{state: null}` for an unknown file or another user.
    for path in [
        "/api/jetty/get-state/me/fil_unknown",
        &format!("/api/jetty/get-state/acc_other/{id}"),
    ] {
        let (status, answer) = get(&fleet, path, key).await;
        assert_eq!((status, &answer["state"]), (200, &Value::Null), "{path}: {answer}");
    }

    // The happy paths of the cache endpoints answer as in the seeds.
    let (status, ok) = post(
        &fleet,
        "/api/jetty/cache-chunk",
        key,
        json!({"fileId": id, "chunkIndex": 1, "hash": format!("sha256:{}", "0".repeat(64)), "edgeId": "sfo-1", "size": PART}),
    )
    .await;
    assert_eq!(
        (status, ok["ok"].as_bool(), ok["ttl"].as_u64()),
        (200, Some(true), Some(3600))
    );
    let claimed = json!({"fileId": id, "state": {"chunksUploaded": [1, 2], "progress": 999_999_999}});
    let (status, saved) = post(&fleet, "/api/jetty/save-state", key, claimed).await;
    assert_eq!(status, 200);
    assert!(saved["expiresAt"].as_str().unwrap().ends_with('Z'));
    let (status, got) = get(&fleet, &format!("/api/jetty/get-state/me/{id}"), key).await;
    assert_eq!(status, 200);
    assert_eq!(
        got["state"]["chunksUploaded"],
        json!([1]),
        "state comes from records, not from claims"
    );
    assert_eq!(got["state"]["progress"], PART);
    // What the client saved and cached is read back beside the recorded state.
    assert_eq!(got["clientState"]["progress"], 999_999_999);
    assert_eq!(got["cachedChunks"][0]["edgeId"], "sfo-1");
}

/// A client written from the seeds (002 and 004) works unchanged.
#[tokio::test]
async fn the_seeds_forms_of_the_session_endpoints_work_unchanged() {
    let fleet = Fleet::get();
    let key = &fleet.api_key;
    // 004: save-state of a file the client names itself, read back by get-state.
    let own = format!("file_{}", hex::encode(rand::random::<[u8; 6]>()));
    let view =
        json!({"chunksUploaded": [1, 2, 3], "chunksRemaining": [4], "edges": ["sfo-1"], "progress": 3, "total": 4});
    let (status, saved) = post(
        &fleet,
        "/api/jetty/save-state",
        key,
        json!({"userId": "usr_123", "fileId": own, "state": view}),
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    let (status, got) = get(&fleet, &format!("/api/jetty/get-state/me/{own}"), key).await;
    assert_eq!((status, &got["state"]), (200, &view));

    // 002: track-upload `start` names no upload, it starts one.
    let data = random_bytes(6 * MIB);
    let hash = format!("sha256:{}", Sha256Digest::of(&data).to_hex());
    let (status, started) = post(
        &fleet,
        "/api/jetty/track-upload",
        key,
        json!({"action": "start", "userId": "usr_123", "fileName": "video.mp4", "fileSize": data.len(), "fileHash": hash}),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let session_id = started["upload"]["sessionId"].as_str().unwrap().to_owned();
    let file_id = started["fileId"].as_str().unwrap().to_owned();
    assert!(started["upload"]["uploadToken"].is_string());

    // 002: cache-chunk by session id with a status; read back in get-state.
    let (status, cached) = post(
        &fleet,
        "/api/jetty/cache-chunk",
        key,
        json!({"sessionId": session_id, "chunkIndex": 0, "status": "completed"}),
    )
    .await;
    assert_eq!(status, 200, "{cached}");
    let (_, got) = get(&fleet, &format!("/api/jetty/get-state/me/{file_id}"), key).await;
    assert_eq!(got["cachedChunks"][0]["status"], "completed", "{got}");
    assert_eq!(got["state"]["fileId"], file_id.as_str());

    // 002: check-duplicate without fileSize: nothing until it is finished, then the file.
    let (status, dup) = post(
        &fleet,
        "/api/jetty/check-duplicate",
        key,
        json!({"fileHash": hash, "userId": "usr_123"}),
    )
    .await;
    assert_eq!(
        (status, &dup["duplicate"]),
        (200, &Value::Null),
        "not finished yet: {dup}"
    );
    let (file, sha) = random_file(MIB + 3);
    let (code, uploaded) = fleet.jetty(&["upload", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{uploaded}");
    let (status, dup) = post(
        &fleet,
        "/api/jetty/check-duplicate",
        key,
        json!({"fileHash": format!("sha256:{sha}")}),
    )
    .await;
    assert_eq!(
        (status, &dup["duplicate"]["fileId"]),
        (200, &uploaded["fileId"]),
        "{dup}"
    );
}

#[tokio::test]
async fn a_file_uploaded_under_a_false_hash_does_not_poison_dedup_for_the_true_bytes() {
    let fleet = Fleet::get();
    let (file_a, sha_a) = random_file(6 * MIB);
    let b = random_bytes(6 * MIB);
    // A client declares A's hash and sends B's parts (each with its own correct digest, so
    // the store takes them), then finalizes: the file is recorded, with B's content id.
    let (status, opened) = post(
        &fleet,
        "/api/jetty/optimal-edges",
        &fleet.api_key,
        json!({"fileSize": 6 * MIB, "fileHash": sha_a, "fileName": "lie.bin", "chunkSize": 5 * MIB}),
    )
    .await;
    assert_eq!(status, 200, "{opened}");
    let token = opened["upload"]["uploadToken"].as_str().unwrap();
    for (n, part) in b.chunks(5 * MIB as usize).enumerate() {
        let sha = jetty_shared::hash::Sha256Digest::of(part).to_hex();
        let (status, receipt) = put_chunk(&fleet.edges[0].url, token, n as u32 + 1, part.to_vec(), &sha).await;
        assert_eq!(status, 200, "{receipt}");
    }
    let file_id = opened["upload"]["fileId"].as_str().unwrap();
    let (status, done) = post(
        &fleet,
        "/api/edge/finalize-upload",
        &fleet.api_key,
        json!({"fileId": file_id}),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    // The honest upload of A is not answered with B's bytes: it sends A and stores A.
    let (code, honest) = fleet.jetty(&["upload", file_a.to_str().unwrap(), "--part-size-mib", "5"]);
    assert_eq!(code, 0, "{honest}");
    assert_eq!(honest["duplicate"], false, "{honest}");
    assert!(honest["bytesSent"].as_u64().unwrap() >= 6 * MIB);
    let id = honest["fileId"].as_str().unwrap();
    assert_eq!(fleet.s3_object_sha256(&dev_object_key(id)), sha_a);
    // And a second honest upload of A is a duplicate of that one, not of the lie.
    let (code, again) = fleet.jetty(&["upload", file_a.to_str().unwrap(), "--part-size-mib", "5"]);
    assert_eq!(code, 0, "{again}");
    assert_eq!(again["duplicate"], true, "{again}");
    let back = file_a.with_extension("back");
    let (code, _) = fleet.jetty(&["download", again["fileId"].as_str().unwrap(), back.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(file_sha256(&back), sha_a);
}

#[tokio::test]
async fn five_concurrent_uploads_of_one_new_file_store_one_object_charged_once() {
    let fleet = Fleet::get();
    let key = provision_account(&fleet, "pro").await;
    let (file, sha) = random_file(24 * MIB + 11);
    // Each run keeps its own state dir until it has ended.
    let runs: Vec<_> = (0..5)
        .map(|_| {
            let state_dir = fresh_dir();
            let child = fleet
                .jetty_command_as(
                    &key,
                    &state_dir,
                    &["upload", file.to_str().unwrap(), "--part-size-mib", "5"],
                )
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            (child, state_dir)
        })
        .collect();
    let outcomes: Vec<Value> = runs
        .into_iter()
        .map(|(run, _state_dir)| {
            let out = run.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
            serde_json::from_slice(&out.stdout).unwrap()
        })
        .collect();
    let stored: Vec<&Value> = outcomes.iter().filter(|o| o["duplicate"] == false).collect();
    assert_eq!(
        stored.len(),
        1,
        "one upload stores, the others wait and clone: {outcomes:?}"
    );
    let sent: u64 = outcomes.iter().map(|o| o["bytesSent"].as_u64().unwrap()).sum();
    assert!(sent < 2 * (24 * MIB + 11), "the bytes went once: {sent}");
    for outcome in &outcomes {
        let scratch = fresh_dir();
        let back = scratch.join("back");
        let id = outcome["fileId"].as_str().unwrap();
        let out = fleet
            .jetty_command_as(&key, &fresh_dir(), &["download", id, back.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(file_sha256(&back), sha);
    }
    // Five records of one object, charged once.
    let quota = fleet
        .jetty_command_as(&key, &fresh_dir(), &["account", "quota"])
        .output()
        .unwrap();
    let quota: Value = serde_json::from_slice(&quota.stdout).unwrap();
    assert_eq!(quota["storage"]["used_bytes"].as_u64(), Some(24 * MIB + 11), "{quota}");
    let (_, files) = api(
        reqwest::Method::GET,
        format!("{}/api/files", fleet.coordinator),
        &key,
        None,
    )
    .await;
    let ids: std::collections::HashSet<&str> = files["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["contentId"].as_str())
        .collect();
    assert_eq!((files["files"].as_array().unwrap().len(), ids.len()), (5, 1), "{files}");
}

#[tokio::test]
async fn a_new_version_with_one_changed_mebibyte_sends_only_its_part_and_the_store_copies_the_rest() {
    let fleet = Fleet::get();
    let (path, _) = random_file(48 * MIB);
    let args = |p: &Path| {
        vec![
            "upload".to_owned(),
            p.to_str().unwrap().to_owned(),
            "--part-size-mib".into(),
            "8".into(),
        ]
    };
    let first_args = args(&path);
    let first: Vec<&str> = first_args.iter().map(String::as_str).collect();
    let (code, v1) = fleet.jetty(&first);
    assert_eq!(code, 0, "{v1}");
    assert_eq!(v1["partsSent"], 6);
    // The same file with 1 MiB changed in its middle (inside part 3 of 6).
    let mut data = std::fs::read(&path).unwrap();
    let middle = 20 * MIB as usize;
    for b in &mut data[middle..middle + MIB as usize] {
        *b ^= 0x5a;
    }
    let v2_path = path.with_file_name("version-2.bin");
    std::fs::write(&v2_path, &data).unwrap();
    let second_args = args(&v2_path);
    let second: Vec<&str> = second_args.iter().map(String::as_str).collect();
    let (code, v2) = fleet.jetty(&second);
    assert_eq!(code, 0, "{v2}");
    assert_eq!(v2["duplicate"], false);
    assert_eq!(v2["partsSent"], 1, "only the changed part is sent: {v2}");
    assert_eq!(v2["partsReused"], 5, "{v2}");
    assert_eq!(v2["bytesSent"], 8 * MIB, "{v2}");
    // The new object, read back with another S3 client, is the new bytes; the old one is intact.
    let v2_id = v2["fileId"].as_str().unwrap();
    assert_eq!(
        fleet.s3_object_sha256(&dev_object_key(v2_id)),
        Sha256Digest::of(&data).to_hex()
    );
    let v1_id = v1["fileId"].as_str().unwrap();
    assert_eq!(fleet.s3_object_sha256(&dev_object_key(v1_id)), file_sha256(&path));
    // Its content id is the composite of the new parts, as for any upload.
    let digests: Vec<Sha256Digest> = data.chunks(8 * MIB as usize).map(Sha256Digest::of).collect();
    let info = fleet.client().file_info(v2_id).await.unwrap();
    assert_eq!(
        info.content_id,
        Some(jetty_shared::content_id::ContentId::of_parts(&digests).to_wire())
    );
}

#[tokio::test]
async fn a_large_new_file_goes_out_while_it_is_hashed_is_named_and_again_is_a_duplicate() {
    let fleet = Fleet::get();
    // Above the CLI's hash-first size (64 MiB): the session opens before any part is hashed.
    let (path, sha256) = random_file(80 * MIB);
    let file = path.to_str().unwrap();
    let (code, first) = fleet.jetty(&["upload", file, "--part-size-mib", "8"]);
    assert_eq!(code, 0, "{first}");
    assert_eq!(
        (first["duplicate"].as_bool(), first["partsSent"].as_u64()),
        (Some(false), Some(10)),
        "{first}"
    );
    let timeline = &first["timeline"];
    assert!(
        timeline["named"].as_f64().is_some(),
        "named after the session opened: {timeline}"
    );
    assert!(
        timeline["sessionReady"].as_f64() <= timeline["partsHashed"].as_f64(),
        "the session did not wait for the part digests: {timeline}"
    );
    let id = first["fileId"].as_str().unwrap();
    assert_eq!(fleet.s3_object_sha256(&dev_object_key(id)), sha256);
    assert_eq!(first["sha256"], format!("sha256:{sha256}"));
    let data = std::fs::read(&path).unwrap();
    let digests: Vec<Sha256Digest> = data.chunks(8 * MIB as usize).map(Sha256Digest::of).collect();
    let info = fleet.client().file_info(id).await.unwrap();
    assert_eq!(
        info.content_id,
        Some(jetty_shared::content_id::ContentId::of_parts(&digests).to_wire())
    );
    // The same bytes again: named a duplicate, it stops sending and is the stored file.
    let (code, again) = fleet.jetty(&["upload", file, "--part-size-mib", "8"]);
    assert_eq!(code, 0, "{again}");
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(again["sha256"], format!("sha256:{sha256}"));
    let scratch = fresh_dir();
    let out = scratch.join("again.bin");
    let again_id = again["fileId"].as_str().unwrap();
    let (code, got) = fleet.jetty(&["download", again_id, out.to_str().unwrap()]);
    assert_eq!(code, 0, "{got}");
    assert_eq!(file_sha256(&out), sha256);
}

#[tokio::test]
async fn a_new_version_sent_while_hashed_copies_the_unchanged_parts_not_yet_sent() {
    let fleet = Fleet::get();
    let (path, _) = random_file(48 * MIB);
    // 5 MiB parts (10), named later even at this size, the sending slowed so that naming (the
    // parts hashed) comes while the first parts are still in flight.
    let upload = |p: &Path| {
        let args = [
            "upload",
            p.to_str().unwrap(),
            "--part-size-mib",
            "5",
            "--hash-first-mib",
            "0",
            "--limit-rate",
            "24",
        ];
        fleet.jetty(&args)
    };
    let (code, v1) = upload(&path);
    assert_eq!(code, 0, "{v1}");
    assert_eq!(v1["partsSent"], 10, "{v1}");
    // 1 MiB changed inside part 2.
    let mut data = std::fs::read(&path).unwrap();
    for b in &mut data[6 * MIB as usize..7 * MIB as usize] {
        *b ^= 0x5a;
    }
    let v2_path = path.with_file_name("version-2.bin");
    std::fs::write(&v2_path, &data).unwrap();
    let (code, v2) = upload(&v2_path);
    assert_eq!(code, 0, "{v2}");
    assert_eq!(v2["duplicate"], false);
    // At most four parts go out before the upload is named; the six queued then are copied.
    assert_eq!(
        (v2["partsSent"].as_u64(), v2["partsReused"].as_u64()),
        (Some(4), Some(6)),
        "{v2}"
    );
    let v2_id = v2["fileId"].as_str().unwrap();
    assert_eq!(
        fleet.s3_object_sha256(&dev_object_key(v2_id)),
        Sha256Digest::of(&data).to_hex()
    );
}

#[tokio::test]
async fn resuming_by_id_an_upload_stopped_before_it_was_named_is_refused_clearly() {
    let fleet = Fleet::get();
    let (path, _) = random_file(2 * PART);
    let data = std::fs::read(&path).unwrap();
    // Opened with no identity (as a large file is), one part stored, never named.
    let (status, answer) = post(
        &fleet,
        "/api/jetty/optimal-edges",
        &fleet.api_key,
        json!({"fileSize": data.len(), "chunkSize": PART}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let file_id = answer["upload"]["fileId"].as_str().unwrap().to_owned();
    let token = answer["upload"]["uploadToken"].as_str().unwrap();
    let edge = answer["edges"][0]["url"].as_str().unwrap();
    let first = data[..PART as usize].to_vec();
    let sha = Sha256Digest::of(&first).to_hex();
    let (status, stored) = put_chunk(edge, token, 1, first, &sha).await;
    assert_eq!(status, 200, "{stored}");
    // Nothing says which file that part came from: `jetty resume` says so instead of guessing.
    let (code, out) = fleet.jetty_in(&fresh_dir(), &["resume", &file_id, path.to_str().unwrap()]);
    assert_eq!(
        (code, out["error"]["code"].as_str()),
        (3, Some("session_unnamed")),
        "{out}"
    );
}
