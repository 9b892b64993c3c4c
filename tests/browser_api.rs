//! What a browser needs from the API, on the local fleet: CORS on the coordinator and every
//! edge (preflights, grants on answers and errors, foreign origins refused), and the listings
//! a page or another device uses (`GET /api/files`, `GET /api/jetty/uploads`, `jetty ls`,
//! `jetty uploads`), each account seeing only its own.

use jetty_fleet_tests::*;
use jetty_shared::plan::MIB;
use reqwest::Method;
use serde_json::Value;

/// A page in local development (allowed by the default `ALLOWED_ORIGINS=local`).
const LOCAL_PAGE: &str = "http://localhost:5173";
const FOREIGN_PAGE: &str = "https://evil.example";

async fn preflight(url: &str, origin: &str, method: &str, headers: &str) -> reqwest::Response {
    http()
        .request(Method::OPTIONS, url)
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", headers)
        .send()
        .await
        .unwrap()
}

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn pages_from_allowed_origins_get_cors_grants_on_answers_and_errors_and_foreign_ones_none() {
    let fleet = Fleet::get();
    let chunk_routes: Vec<String> = fleet
        .edges
        .iter()
        .map(|e| e.url.clone())
        .chain([fleet.coordinator.clone()])
        .map(|base| format!("{base}/api/edge/upload-chunk?part=1"))
        .collect();
    for url in &chunk_routes {
        let granted = preflight(url, LOCAL_PAGE, "PUT", "authorization, content-type, x-chunk-sha256").await;
        assert_eq!(granted.status(), 204, "{url}");
        assert_eq!(
            header(&granted, "access-control-allow-origin"),
            Some(LOCAL_PAGE),
            "{url}"
        );
        assert!(header(&granted, "access-control-allow-headers")
            .unwrap()
            .contains("x-chunk-sha256"));
        assert!(header(&granted, "access-control-allow-methods")
            .unwrap()
            .contains("PUT"));
        assert_eq!(header(&granted, "access-control-max-age"), Some("7200"));

        let refused = preflight(url, FOREIGN_PAGE, "PUT", "authorization").await;
        assert_eq!(refused.status(), 403, "{url}");
        assert_eq!(header(&refused, "access-control-allow-origin"), None, "{url}");

        // An error answer (no token) carries the grant, so the page can read the code.
        let resp = http()
            .put(url)
            .header("origin", LOCAL_PAGE)
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{url}");
        assert_eq!(header(&resp, "access-control-allow-origin"), Some(LOCAL_PAGE), "{url}");
        assert!(header(&resp, "access-control-expose-headers")
            .unwrap()
            .contains("x-jetty-sha256"));
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "missing_upload_token");
    }

    // A changing request from a foreign page is refused before it runs (a "simple" POST
    // needs no preflight); the coordinator's own pages may call it.
    let resp = http()
        .post(format!("{}/api/jetty/optimal-edges", fleet.coordinator))
        .header("origin", FOREIGN_PAGE)
        .bearer_auth(&fleet.api_key)
        .body(r#"{"fileSize": 1, "fileHash": "00"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(header(&resp, "access-control-allow-origin"), None);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "origin_not_allowed");
    let own = http()
        .get(format!("{}/api/files", fleet.coordinator))
        .header("origin", &fleet.coordinator)
        .bearer_auth(&fleet.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200);
    assert_eq!(
        header(&own, "access-control-allow-origin"),
        Some(fleet.coordinator.as_str())
    );
}

fn jetty_as(fleet: &Fleet, key: &str, args: &[&str]) -> Value {
    let out = fleet.jetty_command_as(key, &fresh_dir(), args).output().unwrap();
    assert!(
        out.status.success(),
        "jetty {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn listings_show_the_callers_files_and_unfinished_uploads_only_newest_first() {
    let fleet = Fleet::get();
    let key = provision_account(&fleet, "pro").await;
    let other = provision_account(&fleet, "pro").await;
    let mine: Vec<_> = (0..3).map(|i| random_named_file(&format!("report{i}"), MIB)).collect();
    for file in &mine {
        jetty_as(&fleet, &key, &["upload", file.to_str().unwrap()]);
    }
    let theirs = random_named_file("theirs", MIB);
    jetty_as(&fleet, &other, &["upload", theirs.to_str().unwrap()]);
    // An unfinished upload: a session opened, one part of two sent.
    let data = random_bytes(6 * MIB);
    let hash = jetty_shared::hash::Sha256Digest::of(&data).to_hex();
    let (status, opened) = api(
        Method::POST,
        format!("{}/api/jetty/optimal-edges", fleet.coordinator),
        &key,
        Some(serde_json::json!({"fileSize": data.len(), "fileHash": hash, "fileName": "movie.mp4", "chunkSize": 5 * MIB})),
    )
    .await;
    assert_eq!(status, 200, "{opened}");
    let token = opened["upload"]["uploadToken"].as_str().unwrap();
    let part = &data[..5 * MIB as usize];
    let (status, receipt) = put_chunk(
        &fleet.coordinator,
        token,
        1,
        part.to_vec(),
        &jetty_shared::hash::Sha256Digest::of(part).to_hex(),
    )
    .await;
    assert_eq!(status, 200, "{receipt}");

    let name = |p: &std::path::Path| p.file_name().unwrap().to_str().unwrap().to_owned();
    let listed = jetty_as(&fleet, &key, &["ls"]);
    let names: Vec<&str> = listed["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [name(&mine[2]), name(&mine[1]), name(&mine[0])],
        "newest first, own only"
    );
    // Paging: one at a time, all three reached through the cursor.
    let (status, page) = api(
        Method::GET,
        format!("{}/api/files?limit=1", fleet.coordinator),
        &key,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let cursor = page["nextCursor"].as_str().expect("more pages").to_owned();
    let (_, next) = api(
        Method::GET,
        format!("{}/api/files?limit=2&cursor={cursor}", fleet.coordinator),
        &key,
        None,
    )
    .await;
    assert_eq!(next["files"].as_array().unwrap().len(), 2);
    assert!(next["nextCursor"].is_null());
    let filtered = jetty_as(&fleet, &key, &["ls", "--prefix", "report1"]);
    assert_eq!(filtered["files"].as_array().unwrap().len(), 1);

    let uploads = jetty_as(&fleet, &key, &["uploads"]);
    let open = uploads["uploads"].as_array().unwrap();
    assert_eq!(open.len(), 1, "{uploads}");
    assert_eq!(open[0]["fileName"], "movie.mp4");
    assert_eq!(
        (open[0]["partsDone"].as_u64(), open[0]["partCount"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(open[0]["bytesReceived"].as_u64(), Some(5 * MIB));
    let by_hash = jetty_as(&fleet, &key, &["uploads", "--hash", &hash]);
    assert_eq!(by_hash["uploads"][0]["fileId"], opened["upload"]["fileId"]);
    assert!(jetty_as(&fleet, &other, &["uploads", "--hash", &hash])["uploads"]
        .as_array()
        .unwrap()
        .is_empty());
    let (status, bad) = api(
        Method::GET,
        format!("{}/api/jetty/uploads?limit=0", fleet.coordinator),
        &key,
        None,
    )
    .await;
    assert_eq!((status, bad["error"]["code"].as_str()), (400, Some("invalid_request")));
}
