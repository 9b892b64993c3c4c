//! An unchanged Uppy Dashboard uploading through JettySpeed with the `@jettyspeed/uppy` plugin
//! (web/uppy), in headless Chromium (tests/uppy_page.mjs serves the example page on
//! http://localhost:<port> and drives it as a user would): a 24 MiB file picked in the Dashboard
//! and uploaded reads back byte-exact with `aws s3 cp` and Uppy's result carries its file id; a
//! wrong API key gives Uppy an `upload-error` carrying the SDK's error code; a page reloaded
//! mid-upload continues the same session when the file is picked again. A screenshot of the
//! finished Dashboard goes to target/artifacts/uppy-dashboard.png.

use jetty_fleet_tests::*;
use jetty_shared::plan::MIB;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// One browser at a time: each drives a whole upload on a 2-core machine.
static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs a driver subcommand; its JSON line, after checking the page logged no unexpected
/// console error and threw no script error.
fn drive(args: &[&str]) -> Value {
    let out = std::process::Command::new("node")
        .arg(root().join("tests/uppy_page.mjs"))
        .args(args)
        .output()
        .expect("node");
    let line: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "uppy_page.mjs {args:?} printed no JSON: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(out.status.success(), "uppy_page.mjs {args:?}: {line}");
    for list in ["consoleErrors", "pageErrors"] {
        assert_eq!(line[list], serde_json::json!([]), "{list}: {line}");
    }
    line
}

/// The one file Uppy reported successful, after checking nothing failed.
fn the_success(line: &Value) -> &Value {
    let complete = &line["complete"];
    assert_eq!(complete["failed"], serde_json::json!([]), "{line}");
    assert_eq!(complete["successful"].as_array().map(Vec::len), Some(1), "{line}");
    &complete["successful"][0]
}

#[tokio::test]
async fn a_24_mib_file_uploaded_from_an_uppy_dashboard_reads_back_byte_exact() {
    let _one = BROWSER.lock().await;
    let fleet = Fleet::get();
    let (file, sha) = random_file(24 * MIB);
    let shots = root().join("target/artifacts");
    std::fs::create_dir_all(&shots).unwrap();
    let line = drive(&[
        "upload",
        &fleet.coordinator,
        &fleet.api_key,
        file.to_str().unwrap(),
        shots.to_str().unwrap(),
    ]);
    let done = the_success(&line);
    // Uppy's result for the file: the plugin's response, the SDK's result as its body.
    let response = &done["response"];
    let body = &response["body"];
    let file_id = body["fileId"].as_str().expect("the result carries the file id");
    assert!(file_id.starts_with("fil_"), "{line}");
    assert_eq!(response["status"], 200, "{line}");
    assert_eq!(body["sha256"], sha.as_str(), "{line}");
    assert_eq!(body["size"], 24 * MIB, "{line}");
    assert_eq!(body["duplicate"], false, "{line}");
    assert_eq!(done["uploadURL"], body["url"], "{line}");
    assert!(
        body["url"].as_str().unwrap().contains(file_id),
        "the URL names the file: {line}"
    );
    // The parts went through the edges, not only the origin.
    let through_an_edge = body["perEdge"].as_object().is_some_and(|per| {
        per.iter()
            .any(|(edge, bytes)| edge != "origin-direct" && bytes.as_u64() > Some(0))
    });
    assert!(through_an_edge, "{line}");
    // Uppy saw progress up to the whole file, one success, no error, and shows it complete.
    assert_eq!(line["success"].as_array().map(Vec::len), Some(1), "{line}");
    assert_eq!(line["success"][0]["body"]["fileId"], file_id, "{line}");
    assert_eq!(line["errors"], serde_json::json!([]), "{line}");
    assert_eq!(line["progress"]["max"], 24 * MIB, "{line}");
    assert_eq!(line["progress"]["totals"], serde_json::json!([24 * MIB]), "{line}");
    assert_eq!(line["files"][0]["progress"]["uploadComplete"], true, "{line}");
    assert_eq!(line["files"][0]["progress"]["percentage"], 100, "{line}");
    assert_eq!(
        line["dashboard"]["items"],
        serde_json::json!([{"complete": true, "error": false}]),
        "{line}"
    );
    assert!(Path::new(line["screenshot"].as_str().unwrap()).exists());
    // The store's own copy, read with the AWS CLI.
    assert_eq!(fleet.s3_object_sha256(&dev_object_key(file_id)), sha);
}

#[tokio::test]
async fn a_wrong_api_key_gives_uppy_an_upload_error_with_the_sdks_error_code() {
    let _one = BROWSER.lock().await;
    let fleet = Fleet::get();
    let (file, _) = random_file(MIB);
    let line = drive(&["bad-key", &fleet.coordinator, file.to_str().unwrap()]);
    let complete = &line["complete"];
    assert_eq!(complete["successful"], serde_json::json!([]), "{line}");
    assert_eq!(complete["failed"].as_array().map(Vec::len), Some(1), "{line}");
    let errors = line["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{line}");
    let error = &errors[0];
    assert!(
        error["message"].as_str().unwrap().ends_with("[invalid_api_key]"),
        "{line}"
    );
    assert_eq!(
        (error["code"].as_str(), error["status"].as_u64()),
        (Some("invalid_api_key"), Some(401)),
        "{line}"
    );
    assert_eq!(error["body"]["error"]["code"], "invalid_api_key", "{line}");
    // Uppy marked the file failed with that message, and the Dashboard shows it.
    assert!(
        complete["failed"][0]["error"]
            .as_str()
            .unwrap()
            .contains("invalid_api_key"),
        "{line}"
    );
    assert_eq!(
        line["dashboard"]["items"],
        serde_json::json!([{"complete": false, "error": true}]),
        "{line}"
    );
    assert!(!line["expectedErrors"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn an_uppy_page_reloaded_mid_upload_continues_the_same_session() {
    let _one = BROWSER.lock().await;
    let fleet = Fleet::get();
    let (file, sha) = random_file(24 * MIB);
    let line = drive(&[
        "reload-resume",
        &fleet.coordinator,
        &fleet.api_key,
        file.to_str().unwrap(),
        "2",
    ]);
    let before = &line["beforeReload"];
    assert_eq!(
        line["completeBeforeReload"],
        Value::Null,
        "reloaded before the upload completed: {line}"
    );
    let body = &the_success(&line)["response"]["body"];
    assert_eq!(body["fileId"], before["fileId"], "the same session: {line}");
    assert_eq!(body["resumed"], true, "{line}");
    let parts = body["parts"].as_u64().unwrap();
    let recorded = before["parts"].as_u64().unwrap();
    assert_eq!(before["partCount"].as_u64(), Some(parts), "{line}");
    assert!(recorded >= 2 && recorded < parts, "{line}");
    assert!(
        body["partsSent"].as_u64().unwrap() <= parts - recorded,
        "only the missing parts were sent: {line}"
    );
    let file_id = body["fileId"].as_str().unwrap();
    let state = fleet.client().get_state(file_id).await;
    assert!(state.is_err() || state.unwrap().chunks_uploaded.len() as u64 == parts);
    assert_eq!(fleet.s3_object_sha256(&dev_object_key(file_id)), sha);
}
