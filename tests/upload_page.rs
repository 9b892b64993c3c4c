//! The coordinator's `/upload` page in headless Chromium (tests/upload_page.mjs drives it as a
//! user would) on the local fleet: a 64 MiB upload read back byte-exact with `aws s3 cp` (and an
//! 80 MiB one sent while it is hashed, then again as a duplicate named after it started), a
//! reload mid-upload that sends only the missing parts, an upload the CLI started and was
//! killed finished from the page with no local state, a part refused for a bad hash sent
//! again, a foreign origin refused by CORS, listings of the caller's own files only, and an
//! upload that waits out the browser going offline.
//! Screenshots (desktop and phone) go to target/artifacts.

use jetty_fleet_tests::*;
use jetty_shared::plan::MIB;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// One browser at a time: each drives a whole upload on a 2-core machine.
static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs a driver subcommand; its JSON line, after checking the page logged no error and broke
/// no CSP rule.
fn drive(args: &[&str]) -> Value {
    let out = std::process::Command::new("node")
        .arg(root().join("tests/upload_page.mjs"))
        .args(args)
        .output()
        .expect("node");
    let line: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "upload_page.mjs {args:?} printed no JSON: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(out.status.success(), "upload_page.mjs {args:?}: {line}");
    for list in ["consoleErrors", "pageErrors", "cspViolations"] {
        assert_eq!(line[list], serde_json::json!([]), "{list}: {line}");
    }
    line
}

fn page_url(fleet: &Fleet) -> String {
    format!("{}/upload", fleet.coordinator)
}

/// The parts of a finished upload went through at least one edge, not only origin-direct (a
/// CSP that blocked the edges would fall back silently).
fn used_an_edge(done: &Value) -> bool {
    done["perEdge"].as_object().is_some_and(|per| {
        per.iter()
            .any(|(edge, bytes)| edge != "origin-direct" && bytes.as_u64() > Some(0))
    })
}

#[tokio::test]
async fn a_64_mib_upload_from_the_page_reads_back_byte_exact_with_the_aws_cli() {
    let _one = BROWSER.lock().await;
    let fleet = Fleet::get();
    let (shown, _) = random_file(24 * MIB);
    let shots = root().join("target/artifacts");
    let line = drive(&[
        "screenshots",
        &page_url(&fleet),
        &fleet.api_key,
        shots.to_str().unwrap(),
        shown.to_str().unwrap(),
    ]);
    let phone = &line["phone"];
    assert!(
        phone["pageWidth"].as_u64() <= phone["viewportWidth"].as_u64(),
        "the phone layout scrolls sideways: {line}"
    );
    let (file, sha) = random_file(64 * MIB);
    let line = drive(&["upload", &page_url(&fleet), &fleet.api_key, file.to_str().unwrap()]);
    let done = &line["files"][0];
    assert_eq!(done["state"], "done", "{line}");
    assert_eq!(done["sha256"], sha.as_str());
    assert!(used_an_edge(done), "{line}");
    let file_id = done["fileId"].as_str().unwrap();
    assert_eq!(fleet.s3_object_sha256(&dev_object_key(file_id)), sha);
}

/// Above the SDK's `HASH_FIRST_MAX` (64 MiB) a new file opens its session at once, sends each
/// part as the hashing worker digests it and names the content at `/api/jetty/identify`: the
/// object reads back byte-exact, and the same bytes picked again (in a new browser: another
/// device) end as a duplicate after at most four parts went out.
#[tokio::test]
async fn a_large_file_sent_while_it_is_hashed_reads_back_byte_exact_and_again_is_a_duplicate() {
    let _one = BROWSER.lock().await;
    let fleet = Fleet::get();
    let (file, sha) = random_file(80 * MIB);
    let line = drive(&["upload", &page_url(&fleet), &fleet.api_key, file.to_str().unwrap()]);
    let done = &line["files"][0];
    assert_eq!(
        (&done["state"], &done["duplicate"]),
        (&"done".into(), &false.into()),
        "{line}"
    );
    assert_eq!(done["sha256"], sha.as_str());
    assert!(used_an_edge(done), "{line}");
    let file_id = done["fileId"].as_str().unwrap();
    assert_eq!(fleet.s3_object_sha256(&dev_object_key(file_id)), sha);

    let again = file.with_file_name("again-80.bin");
    std::fs::copy(&file, &again).unwrap();
    let line = drive(&[
        "upload",
        &page_url(&fleet),
        &fleet.api_key,
        again.to_str().unwrap(),
        "--duplicate",
    ]);
    let twin = &line["files"][0];
    assert_eq!(
        (&twin["state"], &twin["duplicate"]),
        (&"done".into(), &true.into()),
        "{line}"
    );
    assert_eq!(twin["sha256"], sha.as_str());
    // A duplicate starts at most the SDK's `UNNAMED_PARTS` (4) parts before it is named: its
    // first parts are found stored as soon as they are hashed.
    let parts = done["parts"].as_u64().unwrap();
    let part_size = (80 * MIB).div_ceil(parts);
    let sent = twin["bytesSent"].as_u64().unwrap();
    assert!(sent <= 4 * part_size, "{sent} bytes sent, parts of {part_size}: {line}");
    let twin_id = twin["fileId"].as_str().unwrap();
    assert_ne!(twin_id, file_id);
    // The duplicate is a file of its own on the same object: it downloads as the original.
    let back = again.with_extension("back");
    let (code, out) = fleet.jetty(&["download", twin_id, back.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(file_sha256(&back), sha);
}

#[tokio::test]
async fn a_page_reloaded_mid_upload_sends_only_the_missing_parts() {
    let _one = BROWSER.lock().await;
    let fleet = Fleet::get();
    let (file, sha) = random_file(64 * MIB);
    let line = drive(&[
        "reload-resume",
        &page_url(&fleet),
        &fleet.api_key,
        file.to_str().unwrap(),
        "3",
    ]);
    assert_eq!(line["state"], "done", "{line}");
    assert_eq!(line["fileIdAfterReload"], line["fileId"], "the same session continued");
    assert_eq!(line["leaveAsked"], true, "leaving mid-upload asks first: {line}");
    let parts = line["parts"].as_u64().unwrap();
    let before = line["partsBeforeReload"].as_u64().unwrap();
    let after = line["partsSentAfterReload"].as_u64().unwrap();
    assert!(before >= 3 && after <= parts - before, "{line}");
    // The coordinator's own count: every part recorded once, the object whole.
    let state = fleet.client().get_state(line["fileId"].as_str().unwrap()).await;
    assert!(state.is_err() || state.unwrap().chunks_uploaded.len() as u64 == parts);
    assert_eq!(
        fleet.s3_object_sha256(&dev_object_key(line["fileId"].as_str().unwrap())),
        sha
    );
}

/// The browser goes offline mid-upload (DevTools network emulation: `navigator.onLine` false
/// and its event) for 15 s: the page says it waits for the network, sends nothing meanwhile,
/// blames no edge for the connections the network took down, and finishes once it is back —
/// the object byte-exact. (Past the retry budget too: the SDK's unit tests.)
#[tokio::test]
async fn an_upload_waits_out_the_browser_going_offline_and_finishes_blaming_no_edge() {
    let _one = BROWSER.lock().await;
    let fleet = Fleet::get();
    // Twelve parts for six at a time: some wait in the queue when the network goes. (DevTools'
    // offline mode fails new requests but lets those under way finish.)
    let (file, sha) = random_file(96 * MIB);
    let shots = root().join("target/artifacts");
    let line = drive(&[
        "offline",
        &page_url(&fleet),
        &fleet.api_key,
        file.to_str().unwrap(),
        "2",
        "15000",
        shots.to_str().unwrap(),
    ]);
    assert_eq!(line["state"], "done", "{line}");
    let parts = line["parts"].as_u64().unwrap();
    assert!(
        line["partsDoneOffline"].as_u64().unwrap() < parts,
        "offline mid-upload: {line}"
    );
    assert_eq!(line["stateWhileOffline"], "uploading", "{line}");
    assert!(
        line["noteWhileOffline"]
            .as_str()
            .is_some_and(|n| n.starts_with("Offline")),
        "{line}"
    );
    assert_eq!(
        line["bytesSentOfflineLate"], line["bytesSentOfflineEarly"],
        "nothing sent while offline: {line}"
    );
    assert_eq!(
        line["failedEdgesOffline"],
        serde_json::json!([]),
        "no edge blamed while offline: {line}"
    );
    assert_eq!(line["failedEdges"], serde_json::json!([]), "{line}");
    assert_eq!(
        fleet.s3_object_sha256(&dev_object_key(line["fileId"].as_str().unwrap())),
        sha
    );
}

#[tokio::test]
async fn an_upload_the_cli_started_and_was_killed_is_finished_from_the_page() {
    let _one = BROWSER.lock().await;
    let fleet = Fleet::get();
    let (file, sha) = random_file(40 * MIB);
    let state_dir = fresh_dir();
    let mut cli = fleet.spawn_upload(&state_dir, &file, &[]);
    let file_id = fleet.wait_for_parts(&state_dir, 2).await;
    cli.kill().unwrap();
    cli.wait().unwrap();
    let recorded = fleet.client().get_state(&file_id).await.unwrap().chunks_uploaded.len() as u64;
    // A new browser profile: no local state, only the server's listing.
    let line = drive(&["continue", &page_url(&fleet), &fleet.api_key, file.to_str().unwrap()]);
    assert_eq!(line["state"], "done", "{line}");
    assert_eq!(
        (line["listedFileId"].as_str(), line["fileId"].as_str()),
        (Some(file_id.as_str()), Some(file_id.as_str()))
    );
    let parts = line["parts"].as_u64().unwrap();
    assert!(
        line["partsSent"].as_u64().unwrap() <= parts - recorded,
        "{line} after {recorded} recorded"
    );
    assert_eq!(fleet.s3_object_sha256(&dev_object_key(&file_id)), sha);
}

#[tokio::test]
async fn a_part_refused_for_a_bad_hash_is_sent_again_and_the_upload_completes() {
    let _one = BROWSER.lock().await;
    let fleet = Fleet::get();
    let (file, sha) = random_file(12 * MIB);
    let line = drive(&[
        "upload",
        &page_url(&fleet),
        &fleet.api_key,
        file.to_str().unwrap(),
        "--bad-hash",
    ]);
    assert_eq!(line["corrupted"], 1, "the driver corrupted one body: {line}");
    let done = &line["files"][0];
    assert_eq!(
        (done["state"].as_str(), done["hashRetries"].as_u64()),
        (Some("done"), Some(1)),
        "{line}"
    );
    assert_eq!(
        fleet.s3_object_sha256(&dev_object_key(done["fileId"].as_str().unwrap())),
        sha
    );
}

#[tokio::test]
async fn a_page_on_a_foreign_origin_cannot_read_the_coordinator_or_the_edges() {
    let _one = BROWSER.lock().await;
    let fleet = Fleet::get();
    let mut args = vec!["cors-foreign".to_owned(), page_url(&fleet)];
    args.extend(fleet.edges.iter().map(|e| e.url.clone()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let line = drive(&args);
    let targets = 2 + fleet.edges.len() as u64;
    assert_eq!(line["foreign"]["blockedByCors"].as_u64(), Some(targets), "{line}");
    assert_eq!(line["local"]["blockedByCors"].as_u64(), Some(0), "{line}");
    assert_eq!(line["local"]["coordinator"]["code"], "invalid_api_key", "{line}");
}

#[tokio::test]
async fn the_page_lists_the_callers_own_files_and_unfinished_uploads_only() {
    let _one = BROWSER.lock().await;
    let fleet = Fleet::get();
    let key = provision_account(&fleet, "pro").await;
    let other = provision_account(&fleet, "pro").await;
    let upload_as = |key: &str, size: u64| -> String {
        let (file, _) = random_file(size);
        let out = fleet
            .jetty_command_as(key, &fresh_dir(), &["upload", file.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success());
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["fileId"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let mine = upload_as(&key, MIB);
    let theirs = upload_as(&other, MIB);
    let line = drive(&["list", &page_url(&fleet), &key]);
    let ids: Vec<&str> = line["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert_eq!(ids, [mine.as_str()], "{line}");
    assert!(!line.to_string().contains(&theirs));
    assert_eq!(line["unfinished"], serde_json::json!([]));
    assert_eq!(
        line["afterSignOut"]["session"], 0,
        "signing out forgets the key: {line}"
    );
}
