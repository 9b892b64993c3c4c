//! Edge intelligence on the local fleet: an edge that fails mid-upload is routed around and
//! ranked out, and comes back when it answers probes again; an edge that stops answering is
//! timed out part by part, and range by range on a download, while a slow one whose bytes still
//! move is not; parts a rate limit answers 429 go elsewhere; selection input is validated.

use jetty_fleet_tests::*;
use jetty_shared::plan::MIB;
use serde_json::{json, Value};
use std::time::Duration;

/// The tests here switch edges off: they run one at a time.
static EDGES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn optimal_edges(fleet: &Fleet, body: Value) -> (u16, Value) {
    let url = format!("{}/api/jetty/optimal-edges", fleet.coordinator);
    api(reqwest::Method::POST, url, &fleet.api_key, Some(body)).await
}

fn edge_ids(answer: &Value) -> Vec<String> {
    answer["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

fn probe_request() -> Value {
    json!({"fileSize": 1, "fileHash": hex::encode(rand::random::<[u8; 32]>()), "userLocation": {"lat": 34.05, "lng": -118.24}})
}

#[tokio::test]
async fn edges_that_take_parts_and_never_answer_are_timed_out_and_routed_around() {
    let _serial = EDGES.lock().await;
    let fleet = Fleet::get();
    let (file, sha) = random_file(48 * MIB + 11);
    let state_dir = fresh_dir();
    let mut child = fleet.spawn_upload(&state_dir, &file, &["-j", "6", "--part-timeout-secs", "4"]);
    let file_id = fleet.wait_for_parts(&state_dir, 2).await;
    // Every edge keeps its connections open and reads nothing more: their parts in flight, and
    // any sent to them later, never get an answer. Only the origin-direct path still works.
    for edge in &fleet.edges {
        fleet.control(&format!("/edges/{}/stall", edge.id)).await;
    }

    // Without a deadline per part the upload would wait forever; with one it moves on.
    let status = ended_within(&mut child, Duration::from_secs(120)).await;
    for edge in &fleet.edges {
        fleet.control(&format!("/edges/{}/up", edge.id)).await;
    }
    fleet.control("/scheduled").await;
    let status = status.expect("the upload hung on the stalled edges");
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    assert!(
        status.success(),
        "the upload must complete through the origin: {stdout}"
    );
    assert_eq!(fleet.s3_object_sha256(&dev_object_key(&file_id)), sha);
}

#[tokio::test]
async fn parts_still_moving_on_slow_edges_outlive_their_deadline_and_are_not_sent_again() {
    let _serial = EDGES.lock().await;
    let fleet = Fleet::get();
    // Two parts of 32 MiB through edges held to 40 Mbit/s each: each takes about 7 s, well past
    // its 4 s deadline, its bytes moving all the while (the loopback's socket buffers, some MB,
    // fill at once; the rest goes at the edge's rate, so the part's body is read as it drains).
    let (file, sha) = random_file(64 * MIB);
    for edge in &fleet.edges {
        fleet.control(&format!("/edges/{}/slow?mbps=40", edge.id)).await;
    }
    let state_dir = fresh_dir();
    let args = [
        "upload",
        file.to_str().unwrap(),
        "--part-size-mib",
        "32",
        "-j",
        "2",
        "--part-timeout-secs",
        "4",
        "--retry-for",
        "20",
    ];
    let out = fleet.jetty_command(&state_dir, &args).output().unwrap();
    for edge in &fleet.edges {
        fleet.control(&format!("/edges/{}/up", edge.id)).await;
    }
    fleet.control("/scheduled").await;
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert!(
        out.status.success(),
        "a slow part is not a stalled one: {answer} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Timed out, a part would have gone again (the origin-direct path is not slowed).
    assert_eq!(answer["bytesSent"], 64 * MIB, "no part body sent twice: {answer}");
    let file_id = answer["fileId"].as_str().unwrap();
    assert_eq!(fleet.s3_object_sha256(&dev_object_key(file_id)), sha);
}

/// A rate limit in front of the edges (a Cloudflare rule, a proxy) answers `429 Too Many
/// Requests`: "not now", not "no". The parts move to a path that answers and the upload
/// completes; read as a refusal, the first 429 would have failed the upload.
#[tokio::test]
async fn parts_refused_429_by_a_rate_limit_before_the_edges_go_elsewhere_and_the_upload_completes() {
    let _serial = EDGES.lock().await;
    let fleet = Fleet::get();
    let (file, sha) = random_file(20 * MIB + 3);
    for edge in &fleet.edges {
        fleet.control(&format!("/edges/{}/429", edge.id)).await;
    }
    let state_dir = fresh_dir();
    let args = [
        "upload",
        file.to_str().unwrap(),
        "--part-size-mib",
        "5",
        "--retry-for",
        "30",
    ];
    let out = fleet.jetty_command(&state_dir, &args).output().unwrap();
    for edge in &fleet.edges {
        fleet.control(&format!("/edges/{}/up", edge.id)).await;
    }
    fleet.control("/scheduled").await;
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "429 is waited out: {answer} {stderr}");
    let file_id = answer["fileId"].as_str().unwrap();
    assert_eq!(fleet.s3_object_sha256(&dev_object_key(file_id)), sha);
}

#[tokio::test]
async fn a_download_whose_edges_stop_sending_reads_the_ranges_again_from_one_that_answers() {
    let _serial = EDGES.lock().await;
    let fleet = Fleet::get();
    let (file, sha) = random_file(24 * MIB + 5);
    let (code, out) = fleet.jetty(&["upload", file.to_str().unwrap(), "--route", "edges"]);
    assert_eq!(code, 0, "{out}");
    let file_id = out["fileId"].as_str().unwrap().to_owned();
    let url = format!("{}/api/files/{file_id}/info", fleet.coordinator);
    let (status, info) = api(reqwest::Method::GET, url, &fleet.api_key, None).await;
    assert_eq!(status, 200, "{info}");
    let listed = edge_ids(&info);
    assert!(listed.len() >= 2, "a download needs two edges to move between: {info}");
    // Every listed edge but the last takes requests and never answers: the ranges read from
    // them get no answer, however long they wait.
    let (stalled, answering) = listed.split_at(listed.len() - 1);
    for edge in stalled {
        fleet.control(&format!("/edges/{edge}/stall")).await;
    }
    let scratch = fresh_dir();
    let back = scratch.join("back.bin");
    let args = [
        "download",
        &file_id,
        back.to_str().unwrap(),
        "--route",
        "edges",
        "--stall-timeout-secs",
        "3",
    ];
    let mut child = fleet
        .jetty_command(&scratch, &args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = ended_within(&mut child, Duration::from_secs(90)).await;
    for edge in stalled {
        fleet.control(&format!("/edges/{edge}/up")).await;
    }
    fleet.control("/scheduled").await;
    let output = child.wait_with_output().unwrap();
    let status = status.expect("the download hung on the stalled edges");
    assert!(
        status.success(),
        "the ranges must come from {answering:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(file_sha256(&back), sha, "the bytes read back are the file's");
}

#[tokio::test]
async fn an_edge_failing_mid_upload_is_routed_around_ranked_out_and_readmitted() {
    let _serial = EDGES.lock().await;
    let fleet = Fleet::get();
    let victim = "lax-1";
    let (status, before) = optimal_edges(&fleet, probe_request()).await;
    assert_eq!(status, 200, "{before}");
    assert!(edge_ids(&before).contains(&victim.to_owned()), "{before}");

    let (file, sha) = random_file(64 * MIB + 3);
    let state_dir = fresh_dir();
    let child = fleet.spawn_upload(&state_dir, &file, &["-j", "4"]);
    // Wait until the upload is under way, then take the edge down.
    let file_id = fleet.wait_for_parts(&state_dir, 3).await;
    fleet.control(&format!("/edges/{victim}/down")).await;

    let out = child.wait_with_output().unwrap();
    let outcome: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert!(
        out.status.success(),
        "the upload must complete through the other edges: {outcome}"
    );
    assert_eq!(fleet.s3_object_sha256(&dev_object_key(&file_id)), sha);

    // The client reported the failure: the next selection leaves the edge out.
    let (_, after) = optimal_edges(&fleet, probe_request()).await;
    assert!(!edge_ids(&after).contains(&victim.to_owned()), "{after}");
    assert!(!edge_ids(&after).is_empty());

    // Back up and answering the coordinator's probe: readmitted.
    fleet.control(&format!("/edges/{victim}/up")).await;
    fleet.control("/scheduled").await;
    let (_, readmitted) = optimal_edges(&fleet, probe_request()).await;
    assert!(edge_ids(&readmitted).contains(&victim.to_owned()), "{readmitted}");

    // Every edge down: the origin-direct path through the coordinator still takes the upload.
    for edge in &fleet.edges {
        fleet.control(&format!("/edges/{}/down", edge.id)).await;
    }
    let (file, sha) = random_file(12 * MIB + 5);
    let (code, out) = fleet.jetty(&["upload", file.to_str().unwrap(), "--part-size-mib", "5"]);
    for edge in &fleet.edges {
        fleet.control(&format!("/edges/{}/up", edge.id)).await;
    }
    fleet.control("/scheduled").await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        fleet.s3_object_sha256(&dev_object_key(out["fileId"].as_str().unwrap())),
        sha
    );
}

#[tokio::test]
async fn selection_reports_measured_bandwidth_and_seed_strategy_numbers() {
    let _serial = EDGES.lock().await;
    let fleet = Fleet::get();
    let (path, _) = random_file(12 * MIB);
    let (code, out) = fleet.jetty(&["upload", path.to_str().unwrap(), "--part-size-mib", "5"]);
    assert_eq!(code, 0, "{out}");
    let (status, answer) = optimal_edges(
        &fleet,
        json!({"fileSize": 1_000_000_000u64, "fileHash": hex::encode(rand::random::<[u8; 32]>())}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let edges = answer["edges"].as_array().unwrap();
    assert!(
        edges.iter().any(|e| e["bandwidth"].as_u64().unwrap_or(0) > 0),
        "{answer}"
    );
    let sum: f64 = edges.iter().map(|e| e["weight"].as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-9);
    // No thread hint: the seed's min(32, edges × 6).
    assert_eq!(
        answer["strategy"]["threads"].as_u64(),
        Some((edges.len() as u64 * 6).min(32))
    );
    assert!(answer["strategy"]["estimatedTime"].as_f64().unwrap() > 0.0);
}

#[tokio::test]
async fn bad_selection_input_gets_4xx_codes() {
    let _serial = EDGES.lock().await;
    let fleet = Fleet::get();
    let hash = hex::encode([1u8; 32]);
    let cases = [
        (
            json!({"fileSize": 1, "fileHash": hash, "userLocation": {"lat": 91.0, "lng": 0.0}}),
            400,
            "invalid_request",
        ),
        (
            json!({"fileSize": 1, "fileHash": hash, "userLocation": {"lat": 0.0, "lng": -181.0}}),
            400,
            "invalid_request",
        ),
        (
            json!({"fileSize": 1, "fileHash": hash, "priority": "fastest"}),
            400,
            "invalid_json",
        ),
        (
            json!({"fileSize": 1, "fileHash": hash, "budget": -0.5}),
            400,
            "invalid_request",
        ),
        (
            json!({"fileSize": 1, "fileHash": hash, "userLocation": {"lat": "north"}}),
            400,
            "invalid_json",
        ),
    ];
    for (body, want_status, want_code) in cases {
        let (status, answer) = optimal_edges(&fleet, body.clone()).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (want_status, Some(want_code)),
            "{body}: {answer}"
        );
    }
}

#[tokio::test]
async fn the_hourly_job_learns_upload_patterns_and_warms_their_edges() {
    let _serial = EDGES.lock().await;
    let fleet = Fleet::get();
    let hour_now = || unix_now() / 3600 % 24;
    let started_hour = hour_now();
    // More than five uploads in this hour make a pattern (the seeds' threshold).
    for _ in 0..6 {
        let (path, _) = random_file(MIB + 1);
        let (code, out) = fleet.jetty(&["upload", path.to_str().unwrap()]);
        assert_eq!(code, 0, "{out}");
    }
    fleet.control("/scheduled?cron=0%20*%20*%20*%20*").await;
    let resp = http()
        .get(format!("{}/api/jetty/patterns", fleet.coordinator))
        .bearer_auth(&fleet.api_key)
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    // (Uploads started in `started_hour`; the job may run just after the hour turned.)
    let hours = [started_hour, hour_now()];
    let pattern = body["patterns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["hour"].as_u64().is_some_and(|h| hours.contains(&h)))
        .unwrap_or_else(|| panic!("no pattern for hours {hours:?}: {body}"))
        .clone();
    assert!(pattern["uploadCount"].as_u64().unwrap() > 5, "{pattern}");
    let typical = pattern["typicalEdges"].as_array().unwrap();
    assert!(!typical.is_empty() && typical.len() <= 3, "{pattern}");
    // Another account sees none of them.
    let other: Value = http()
        .get(format!("{}/api/jetty/patterns", fleet.coordinator))
        .bearer_auth(&fleet.other_api_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(other["patterns"], json!([]));
}

#[tokio::test]
async fn edges_answer_signed_warmups_only() {
    let _serial = EDGES.lock().await;
    let fleet = Fleet::get();
    let secret = fleet.dev_vars()["INTERNAL_SECRET"].clone();
    let body = r#"{"reason":"test"}"#;
    let signature = jetty_shared::auth::internal_signature(secret.as_bytes(), body.as_bytes());
    for edge in &fleet.edges {
        let url = format!("{}/api/warmup", edge.url);
        let ok = http()
            .post(&url)
            .header("x-jetty-signature", &signature)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status().as_u16(), 200, "{}", edge.id);
        let answer: Value = ok.json().await.unwrap();
        assert_eq!(
            (answer["ok"].as_bool(), answer["edgeId"].as_str()),
            (Some(true), Some(edge.id.as_str()))
        );
        let forged = http()
            .post(&url)
            .header("x-jetty-signature", "00")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status().as_u16(), 401);
    }
}
