//! Analytics on the local fleet: `/api/jetty/stats` reflects real uploads (counts, bytes, dedup
//! savings, edge shares, recent sessions, each session's performance record) and never shows
//! another account's numbers; the operators' admin key sees every account; the `/dashboard`
//! page shows the same numbers in headless Chromium.

use jetty_fleet_tests::*;
use jetty_shared::plan::MIB;
use serde_json::Value;

async fn stats(fleet: &Fleet, key: &str) -> Value {
    let (status, body) = stats_at(fleet, key, "").await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn stats_at(fleet: &Fleet, key: &str, query: &str) -> (u16, Value) {
    api(
        reqwest::Method::GET,
        format!("{}/api/jetty/stats{query}", fleet.coordinator),
        key,
        None,
    )
    .await
}

/// Uploads `file` as the account of `key` through the edges; returns the CLI's JSON answer.
fn upload_as(fleet: &Fleet, key: &str, file: &std::path::Path) -> Value {
    let out = fleet
        .jetty_command_as(
            key,
            &fresh_dir(),
            &["upload", file.to_str().unwrap(), "--part-size-mib", "5"],
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn stats_reflect_the_accounts_own_uploads_and_dedup_only() {
    let fleet = Fleet::get();
    let key = provision_account(&fleet, "pro").await;
    let other = provision_account(&fleet, "pro").await;
    let (a, _) = random_file(3 * MIB);
    let (b, _) = random_file(6 * MIB);
    upload_as(&fleet, &key, &a);
    let b_file_id = upload_as(&fleet, &key, &b)["fileId"].as_str().unwrap().to_owned();
    let copy = a.with_extension("copy");
    std::fs::copy(&a, &copy).unwrap();
    let out = fleet
        .jetty_command_as(&key, &fresh_dir(), &["upload", copy.to_str().unwrap()])
        .output()
        .unwrap();
    let dup: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(dup["duplicate"], true);

    let st = stats(&fleet, &key).await;
    assert_eq!(st["uploads"], 2, "{st}");
    assert_eq!(st["bytes"], 9 * MIB);
    assert!(st["avgSpeedMbps"].as_f64().unwrap() > 0.0);
    assert_eq!(st["dedup"]["files"], 1);
    assert_eq!(st["dedup"]["savedBytes"], 3 * MIB);
    assert!(st["dedup"]["savedCost"].as_f64().unwrap() > 0.0);
    let edges = st["edges"].as_array().unwrap();
    let parts: u64 = edges.iter().map(|e| e["parts"].as_u64().unwrap()).sum();
    assert_eq!(parts, 1 + 2, "3 MiB in one part, 6 MiB in two: {st}");
    let share: f64 = edges.iter().map(|e| e["share"].as_f64().unwrap()).sum();
    assert!((share - 1.0).abs() < 1e-9);
    let recent = st["recentSessions"].as_array().unwrap();
    assert_eq!(recent.len(), 2);
    // Each session's performance record: 6 MiB in two parts, then 3 MiB in one.
    for (session, size, parts) in [(&recent[0], 6 * MIB, 2), (&recent[1], 3 * MIB, 1)] {
        assert_eq!(session["status"], "completed", "{session}");
        assert_eq!(session["size"], size);
        assert_eq!(
            (session["chunksTotal"].as_u64(), session["chunksCompleted"].as_u64()),
            (Some(parts), Some(parts))
        );
        assert_eq!(session["bytesUploaded"], size);
        // Nothing was re-sent, so exactly the file's bytes moved.
        assert_eq!(session["bytesTransferred"], size, "{session}");
        assert!(session["durationSeconds"].as_f64().unwrap() > 0.0, "{session}");
        assert!(session["avgSpeedMbps"].as_f64().unwrap() > 0.0, "{session}");
        // The strategy's estimate is recorded (it rounds to 0.0 s for a few MiB on loopback).
        assert!(session["estimatedSeconds"].is_number(), "{session}");
        assert!(session["actualCost"].as_f64().unwrap() >= session["estimatedCost"].as_f64().unwrap());
        // The edges that carried the parts: one to `parts` of the planned ones.
        let carried = session["edgesCarried"].as_array().unwrap();
        let planned = session["edges"].as_array().unwrap();
        assert!(!carried.is_empty() && carried.len() <= parts as usize, "{session}");
        assert!(carried.iter().all(|e| planned.contains(e)), "{session}");
    }
    assert_eq!(st["chunks"], 3);
    assert_eq!(st["bytesTransferred"], 9 * MIB);

    // Finalizing again answers the same file and counts nothing twice.
    let (status, body) = api(
        reqwest::Method::POST,
        format!("{}/api/edge/finalize-upload", fleet.coordinator),
        &key,
        Some(serde_json::json!({"fileId": b_file_id})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let again = stats(&fleet, &key).await;
    for field in [
        "uploads",
        "bytes",
        "bytesTransferred",
        "chunks",
        "actualCost",
        "avgSpeedMbps",
    ] {
        assert_eq!(again[field], st[field], "{field}");
    }

    // The other account's stats are empty; the CLI prints the same numbers.
    let empty = stats(&fleet, &other).await;
    assert_eq!(
        (empty["uploads"].as_u64(), empty["bytes"].as_u64()),
        (Some(0), Some(0)),
        "{empty}"
    );
    assert!(empty["edges"].as_array().unwrap().is_empty() && empty["recentSessions"].as_array().unwrap().is_empty());
    let out = fleet.jetty_command_as(&key, &fresh_dir(), &["stats"]).output().unwrap();
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (cli["uploads"].clone(), cli["bytes"].clone()),
        (st["uploads"].clone(), st["bytes"].clone())
    );
    // And as tables, without --json.
    let bin = std::env::var("JETTY_BIN").unwrap_or_else(|_| "../target/release/jetty".into());
    let out = std::process::Command::new(bin)
        .args(["--url", &fleet.coordinator, "--api-key", &key, "stats"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table}");
    assert!(table.contains("uploads:        2\n"), "{table}");
    assert!(table.contains(&format!("({} bytes)", 9 * MIB)), "{table}");
    for file in [&a, &b] {
        assert!(table.contains(file.file_name().unwrap().to_str().unwrap()), "{table}");
    }
}

#[tokio::test]
async fn a_simple_upload_records_one_chunk_and_its_bytes() {
    let fleet = Fleet::get();
    let key = provision_account(&fleet, "pro").await;
    let resp = http()
        .post(format!("{}/api/storage/upload", fleet.coordinator))
        .bearer_auth(&key)
        .header("x-filename", "note.txt")
        .header("content-type", "text/plain")
        .body(random_bytes(250_000))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let st = stats(&fleet, &key).await;
    assert_eq!(
        (st["uploads"].as_u64(), st["bytesTransferred"].as_u64()),
        (Some(1), Some(250_000))
    );
    let session = &st["recentSessions"][0];
    assert_eq!(session["fileName"], "note.txt");
    assert_eq!(
        (session["chunksTotal"].as_u64(), session["chunksCompleted"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(session["bytesTransferred"], 250_000);
    assert!(
        session["durationSeconds"].is_number() && session["actualCost"].is_number(),
        "{session}"
    );
}

#[tokio::test]
async fn the_admin_key_sees_every_account_and_account_keys_only_their_own() {
    let fleet = Fleet::get();
    let admin = fleet.dev_vars()["ADMIN_API_KEY"].clone();
    let (a, b) = (
        provision_account(&fleet, "pro").await,
        provision_account(&fleet, "pro").await,
    );
    upload_as(&fleet, &a, &random_file(2 * MIB).0);
    upload_as(&fleet, &b, &random_file(7 * MIB).0);
    let (a_id, b_id) = (
        stats(&fleet, &a).await["account"].as_str().unwrap().to_owned(),
        stats(&fleet, &b).await["account"].as_str().unwrap().to_owned(),
    );

    let all = stats(&fleet, &admin).await;
    assert_eq!(all["scope"], "all");
    let listed: Vec<&str> = all["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert!(
        listed.contains(&a_id.as_str()) && listed.contains(&b_id.as_str()),
        "{listed:?}"
    );
    assert!(all["bytes"].as_u64().unwrap() >= 9 * MIB);

    // The admin key narrows to one account; it reads exactly that account's numbers.
    let (status, only_b) = stats_at(&fleet, &admin, &format!("?account={b_id}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        (only_b["scope"].as_str(), only_b["bytes"].as_u64()),
        (Some("account"), Some(7 * MIB))
    );
    assert!(only_b.get("accounts").is_none());
    let out = fleet
        .jetty_command_as(&admin, &fresh_dir(), &["stats", "--account", &b_id])
        .output()
        .unwrap();
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cli["bytes"].as_u64(), Some(7 * MIB), "{cli}");

    // An account key may name only itself; it never reads another account or the whole fleet.
    let (status, body) = stats_at(&fleet, &a, &format!("?account={b_id}")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("admin_key_required"))
    );
    let (status, own) = stats_at(&fleet, &a, &format!("?account={a_id}")).await;
    assert_eq!((status, own["bytes"].as_u64()), (200, Some(2 * MIB)));
    let own = stats(&fleet, &a).await;
    assert_eq!(
        (own["scope"].as_str(), own["bytes"].as_u64()),
        (Some("account"), Some(2 * MIB))
    );
    assert!(own.get("accounts").is_none());
    // Anything else that looks like an admin key is refused.
    let (status, body) = stats_at(&fleet, &format!("{admin}x"), "").await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("invalid_api_key")));
}

/// Runs tests/dashboard.mjs (headless Chromium) against the fleet's /dashboard.
fn open_dashboard(fleet: &Fleet, key: &str, name: &str) -> (Value, std::path::PathBuf) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let shots = root.join("target/artifacts");
    let out = std::process::Command::new("node")
        .arg(root.join("tests/dashboard.mjs"))
        .arg(format!("{}/dashboard", fleet.coordinator))
        .arg(key)
        .arg(&shots)
        .arg(name)
        .output()
        .expect("node");
    assert!(
        out.status.success(),
        "dashboard run failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (serde_json::from_slice(&out.stdout).expect("dashboard JSON"), shots)
}

#[tokio::test]
async fn the_dashboard_shows_the_accounts_uploads_in_headless_chromium() {
    let fleet = Fleet::get();
    let key = provision_account(&fleet, "pro").await;
    let other = provision_account(&fleet, "pro").await;
    let mine = [random_named_file("mine", 3 * MIB), random_named_file("mine", 6 * MIB)];
    for file in &mine {
        upload_as(&fleet, &key, file);
    }
    let theirs = random_named_file("theirs", MIB);
    upload_as(&fleet, &other, &theirs);
    let other_id = stats(&fleet, &other).await["account"].as_str().unwrap().to_owned();
    // The minute job refreshes the edges' health figures (throughput for the chart).
    fleet.run_scheduled();

    let (page, shots) = open_dashboard(&fleet, &key, "dashboard-account");
    let cards = &page["cards"];
    // The cards show the uploaded bytes exactly (9 MiB = 9,437,184 bytes = 9.4 MB).
    assert_eq!(cards["bytes"]["raw"], (9 * MIB).to_string(), "{cards}");
    assert_eq!(cards["bytes"]["value"], "9.4 MB");
    assert!(
        cards["bytes"]["sub"]
            .as_str()
            .unwrap()
            .starts_with("9,437,184 bytes in 2 uploads"),
        "{cards}"
    );
    assert!(cards["speed"]["value"].as_str().unwrap().ends_with(" MB/s"), "{cards}");
    assert!(cards["speed"]["raw"].as_str().unwrap().parse::<f64>().unwrap() > 0.0);
    assert!(cards["savings"]["value"].as_str().unwrap().starts_with('$'));
    // The chart drew bars (not just its legend) for the edges that carried the 3 parts.
    assert!(page["chartBars"].as_u64().unwrap() >= 1, "{page}");
    for (view, min) in [("chartPixels", 2_000), ("phoneChartPixels", 5_000)] {
        for dataset in ["share", "throughput"] {
            let painted = page[view][dataset].as_u64().unwrap();
            assert!(painted > min, "{view}.{dataset}: {painted} pixels of bars");
        }
    }
    assert!(!page["edgeRows"].as_array().unwrap().is_empty());
    let recent: Vec<&str> = page["recentFiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    for file in &mine {
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(recent.contains(&name), "{name} not in {recent:?}");
    }
    // Nothing of the other account appears anywhere on the page.
    let text = page["pageText"].as_str().unwrap();
    assert!(!text.contains(theirs.file_name().unwrap().to_str().unwrap()) && !text.contains(&other_id));
    assert_eq!(page["accountsShown"], false);
    // The key is kept in the tab's session only; a new session must sign in again.
    assert_eq!(page["storage"]["local"], 0);
    assert_eq!(page["storage"]["cookies"], "");
    assert_eq!(page["storage"]["keyInUrl"], false);
    assert_eq!(page["signedInAfterReload"], true);
    assert_eq!(page["otherTabSignedOut"], true);
    assert_eq!(
        page["afterSignOut"],
        serde_json::json!({"session": 0, "dashboardShown": false})
    );
    assert_eq!(
        page["wrongKey"],
        serde_json::json!({"message": "That key was not accepted.", "dashboardShown": false, "session": 0})
    );
    // Readable on a phone: no sideways scrolling of the page.
    assert!(
        page["phone"]["pageWidth"].as_u64() <= page["phone"]["viewportWidth"].as_u64(),
        "{}",
        page["phone"]
    );
    // Self-contained: nothing requested from another origin, no script errors.
    assert_eq!(page["foreignRequests"], serde_json::json!([]));
    assert_eq!(page["consoleErrors"], serde_json::json!([]));
    for shot in ["dashboard-account-desktop.png", "dashboard-account-phone.png"] {
        let len = std::fs::metadata(shots.join(shot)).map(|m| m.len()).unwrap_or(0);
        assert!(len > 10_000, "screenshot {shot} missing or empty");
    }

    // The operators' view lists the accounts.
    let admin = fleet.dev_vars()["ADMIN_API_KEY"].clone();
    let (page, _) = open_dashboard(&fleet, &admin, "dashboard-admin");
    assert_eq!(page["scope"], "all accounts");
    assert_eq!(page["accountsShown"], true);
    let rows = page["accountRows"].as_array().unwrap();
    assert!(rows.iter().any(|r| r.as_str().unwrap().contains(&other_id)), "{rows:?}");
}
