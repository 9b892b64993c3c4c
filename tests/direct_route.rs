//! The store-direct route on the local fleet, which offers it (`JETTY_STORE_DIRECT=1`): every
//! part straight to Garage on presigned URLs, the object read back byte-exact with the AWS CLI;
//! on loopback the store is as near as any edge, so `--route auto` takes it.
//! A presigned URL takes only the bytes whose SHA-256 it was signed for, and a part is
//! recorded only once the store lists it. (The store-down case is in `faults.rs`.)
//! Downloads take the route too: ranges read from the store on one presigned GetObject.

use jetty_fleet_tests::*;
use jetty_shared::hash::Sha256Digest;
use jetty_shared::plan::MIB;
use serde_json::{json, Value};

async fn post(fleet: &Fleet, path: &str, body: Value) -> (u16, Value) {
    api(
        reqwest::Method::POST,
        format!("{}{path}", fleet.coordinator),
        &fleet.api_key,
        Some(body),
    )
    .await
}

#[tokio::test]
async fn every_part_goes_straight_to_the_store_and_the_object_reads_back_byte_exact() {
    let fleet = Fleet::get();
    let size = 40 * MIB + 3;
    let (file, sha) = random_file(size);
    let (code, out) = fleet.jetty(&[
        "upload",
        file.to_str().unwrap(),
        "--route",
        "direct",
        "--part-size-mib",
        "8",
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["edges"], json!(["store-direct"]), "{out}");
    assert_eq!(out["partsSent"], 6, "{out}");
    let file_id = out["fileId"].as_str().unwrap();
    // Read back with another S3 client; the store reports its own composite checksum.
    assert_eq!(fleet.s3_object_sha256(&dev_object_key(file_id)), sha);
    assert!(fleet.s3_object_checksum(&dev_object_key(file_id)).is_some());
    // Recorded like any upload: its size, SHA-256 and the store-checked content id.
    let (status, info) = api(
        reqwest::Method::GET,
        format!("{}/api/files/{file_id}/info", fleet.coordinator),
        &fleet.api_key,
        None,
    )
    .await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["size"], size, "{info}");
    assert_eq!(info["sha256"], format!("sha256:{sha}"), "{info}");
    assert!(info["contentId"].is_string(), "{info}");
}

#[tokio::test]
async fn on_loopback_auto_measures_the_store_as_near_as_the_edges_and_takes_it() {
    let fleet = Fleet::get();
    // Round trips on a loaded test machine are noisy (the choice allows 1.5× plus 2 ms): of
    // three uploads, at least one must find the store near enough.
    let mut routes = Vec::new();
    for _ in 0..3 {
        let (file, sha) = random_file(9 * MIB);
        let (code, out) = fleet.jetty(&["upload", file.to_str().unwrap(), "--route", "auto"]);
        assert_eq!(code, 0, "{out}");
        let file_id = out["fileId"].as_str().unwrap();
        assert_eq!(fleet.s3_object_sha256(&dev_object_key(file_id)), sha);
        routes.push(out["edges"].clone());
        if out["edges"] == json!(["store-direct"]) {
            break;
        }
    }
    assert!(routes.contains(&json!(["store-direct"])), "{routes:?}");
    // `--route edges` on the same fleet goes through the edges.
    let (file, _) = random_file(9 * MIB);
    let (code, out) = fleet.jetty(&["upload", file.to_str().unwrap(), "--route", "edges"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        !out["edges"].as_array().unwrap().iter().any(|e| e == "store-direct"),
        "{out}"
    );
}

#[tokio::test]
async fn a_presigned_part_url_takes_only_the_bytes_it_was_signed_for_and_nothing_is_recorded_unlisted() {
    let fleet = Fleet::get();
    let part = jetty_client_body(5 * MIB as usize, 1);
    let tail = jetty_client_body(MIB as usize, 2);
    let whole: Vec<u8> = [part.clone(), tail].concat();
    let (status, answer) = post(
        &fleet,
        "/api/jetty/optimal-edges",
        json!({"fileSize": whole.len(), "fileHash": Sha256Digest::of(&whole).to_hex(), "chunkSize": 5 * MIB}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["direct"]["url"].is_string(), "the route is offered: {answer}");
    let file_id = answer["upload"]["fileId"].as_str().unwrap().to_owned();
    let claim = json!({"fileId": file_id, "parts": [{"part": 1, "sha256": Sha256Digest::of(&part).to_hex()}]});
    let (status, urls) = post(&fleet, "/api/jetty/direct-part", claim.clone()).await;
    assert_eq!(status, 200, "{urls}");
    let presigned = urls["urls"][0].clone();
    let put = |body: Vec<u8>, url: String| {
        let headers = presigned["headers"].as_array().unwrap().clone();
        async move {
            let mut req = http().put(url).body(body);
            for h in headers {
                req = req.header(h[0].as_str().unwrap(), h[1].as_str().unwrap());
            }
            let resp = req.send().await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap_or_default())
        }
    };
    let url = presigned["url"].as_str().unwrap().to_owned();

    // Other bytes of the same length: the real store refuses them against the signed checksum.
    let mut forged = part.clone();
    forged[12345] ^= 1;
    let (status, text) = put(forged, url.clone()).await;
    assert!(
        (400..500).contains(&status),
        "the store took other bytes: {status} {text}"
    );
    // Not listed by the store, so not recorded: it is to be sent again.
    let (status, answer) = post(&fleet, "/api/jetty/direct-part/stored", claim.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (answer["stored"].clone(), answer["missing"].clone()),
        (json!([]), json!([1])),
        "{answer}"
    );
    // The URL names its part: pointed at another part number, the signature no longer holds.
    // (A short body: the store refuses on the signature before reading it, and a long one
    // would be cut off by the store closing the connection.)
    let (status, text) = put(b"x".to_vec(), url.replace("partNumber=1", "partNumber=2")).await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("Signature") || text.contains("AccessDenied"), "{text}");

    // The declared bytes: stored, listed, recorded with the store's ETag.
    let (status, text) = put(part.clone(), url).await;
    assert_eq!(status, 200, "{text}");
    let (status, answer) = post(&fleet, "/api/jetty/direct-part/stored", claim).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["missing"], json!([]), "{answer}");
    let stored = &answer["stored"][0];
    assert_eq!(
        (stored["part"].as_u64(), stored["size"].as_u64()),
        (Some(1), Some(5 * MIB))
    );
    assert!(stored["etag"].as_str().is_some_and(|e| !e.is_empty()), "{answer}");
    let state = fleet.client().get_state(&file_id).await.unwrap();
    assert_eq!(state.chunks_uploaded, vec![1]);
    // Another account cannot ask for this upload's URLs.
    let other = provision_account(&fleet, "pro").await;
    let (status, _) = api(
        reqwest::Method::POST,
        format!("{}/api/jetty/direct-part", fleet.coordinator),
        &other,
        Some(json!({"fileId": file_id, "parts": [{"part": 2, "sha256": Sha256Digest::of(b"x").to_hex()}]})),
    )
    .await;
    assert_eq!(status, 404);
}

/// Deterministic bytes that differ per `seed`.
#[tokio::test]
async fn a_download_on_the_store_direct_route_reads_ranges_from_the_store_and_checks_the_files_sha256() {
    let fleet = Fleet::get();
    let size = 24 * MIB + 5;
    let (file, sha) = random_file(size);
    let (code, out) = fleet.jetty(&["upload", file.to_str().unwrap(), "--route", "direct"]);
    assert_eq!(code, 0, "{out}");
    let id = out["fileId"].as_str().unwrap();
    let back = file.with_extension("back");
    let (code, got) = fleet.jetty(&["download", id, back.to_str().unwrap(), "--route", "direct"]);
    assert_eq!(code, 0, "{got}");
    assert_eq!(got["route"], "store-direct", "{got}");
    assert_eq!(got["sha256"], format!("sha256:{sha}"), "{got}");
    assert_eq!(file_sha256(&back), sha);

    // The URL is the store's own credential: no API key, a range on its own; opened whole (as a
    // browser would), the store answers it as a download, never as a page.
    let (status, direct) = post(&fleet, &format!("/api/files/{id}/direct-download"), json!({})).await;
    assert_eq!(status, 200, "{direct}");
    assert!(direct["expiresAt"].as_u64().unwrap() > unix_now());
    let url = direct["url"].as_str().unwrap();
    let http = http();
    let whole = http.get(url).send().await.unwrap();
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.headers()["content-disposition"], "attachment");
    assert_eq!(whole.headers()["content-type"], "application/octet-stream");
    let range = http.get(url).header("range", "bytes=10-19").send().await.unwrap();
    assert_eq!(range.status(), 206);
    let body = range.bytes().await.unwrap();
    assert_eq!(&body[..], &std::fs::read(&file).unwrap()[10..20]);
    // Another account's key gets no URL for this file.
    let (status, answer) = api(
        reqwest::Method::POST,
        format!("{}/api/files/{id}/direct-download", fleet.coordinator),
        &fleet.other_api_key,
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (404, &json!("not_found")),
        "{answer}"
    );
    std::fs::remove_file(&back).ok();
}

fn jetty_client_body(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}
