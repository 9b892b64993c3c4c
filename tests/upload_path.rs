//! The upload path end to end on the local fleet: client → coordinator → edges → Garage.

use jetty_fleet_tests::*;
use jetty_shared::plan::MIB;
use jetty_shared::protocol::*;
use jetty_shared::token::{self, UploadClaims};
use serde_json::{json, Value};

const FIVE_MIB: u64 = 5 * MIB;

async fn post_json(url: &str, auth: Option<&str>, body: String) -> (u16, Value) {
    let mut req = http().post(url).header("content-type", "application/json").body(body);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn edges_request(size: u64, hash: &str) -> OptimalEdgesRequest {
    OptimalEdgesRequest {
        user_id: None,
        file_size: size,
        content_id: None,
        file_hash: Some(hash.into()),
        file_name: Some("t.bin".into()),
        content_type: None,
        user_location: None,
        priority: None,
        budget: None,
        chunk_size: Some(FIVE_MIB),
        threads: None,
        expires_in: None,
    }
}

/// Stores a part as a client following the protocol does: `storage_error` (502) and
/// `store_unavailable` (503: the store, or the network between edge and store, failed) are worth
/// another try, up to three in all. Any
/// other answer is returned at once, so refusals are still asserted on the first answer.
async fn store_chunk(edge: &str, token: &str, number: u32, body: Vec<u8>, sha256: &str) -> (u16, Value) {
    let mut attempt = 1;
    loop {
        let (status, answer) = put_chunk(edge, token, number, body.clone(), sha256).await;
        let store_failed = matches!(
            (status, answer["error"]["code"].as_str()),
            (502, Some("storage_error")) | (503, Some("store_unavailable"))
        );
        if !store_failed || attempt == 3 {
            return (status, answer);
        }
        eprintln!("part {number} via {edge}: attempt {attempt} got {answer}; retrying");
        attempt += 1;
        tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
    }
}

fn sha256_hex(data: &[u8]) -> String {
    jetty_shared::hash::Sha256Digest::of(data).to_hex()
}

#[test]
fn boundary_sized_files_round_trip_through_three_edges_and_read_back_with_aws_cli() {
    let fleet = Fleet::get();
    assert!(fleet.edges.len() >= 3, "the fleet must run at least three edges");
    for size in [0, 1, FIVE_MIB - 1, FIVE_MIB + 1, 37 * MIB + 3] {
        let (path, sha) = random_file(size);
        let (code, out) = fleet.jetty(&["upload", path.to_str().unwrap(), "--part-size-mib", "5"]);
        assert_eq!(code, 0, "upload of {size} bytes failed: {out}");
        let id = out["fileId"].as_str().unwrap().to_owned();
        if out["duplicate"] == true {
            // Only tiny files repeat on a long-lived fleet (one empty file, 256 one-byte ones):
            // the duplicate must still be this content.
            assert!(size <= 1, "{out}");
            assert_eq!(out["sha256"], format!("sha256:{sha}"));
            continue;
        }
        assert_eq!(out["size"], size, "{out}");
        assert_eq!(out["sha256"], format!("sha256:{sha}"));
        assert_eq!(out["parts"], size.div_ceil(FIVE_MIB), "{out}");
        let edges: Vec<&str> = out["edges"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e.as_str())
            .collect();
        assert_eq!(edges.len(), 4, "three edges and the origin-direct path: {out}");
        assert!(edges.contains(&"origin-direct"), "{out}");
        assert_eq!(
            fleet.s3_object_sha256(&dev_object_key(&id)),
            sha,
            "S3 object for {size} bytes differs"
        );
        if size == 37 * MIB + 3 {
            let back = path.with_extension("back");
            let (code, dl) = fleet.jetty(&["download", &id, back.to_str().unwrap()]);
            assert_eq!(code, 0, "{dl}");
            assert_eq!(file_sha256(&back), sha);
        }
    }
}

#[tokio::test]
async fn a_chunk_whose_body_does_not_match_its_hash_is_refused_and_not_recorded() {
    let fleet = Fleet::get();
    let client = fleet.client();
    let data = random_bytes(FIVE_MIB + 10);
    let answer = client
        .optimal_edges(&edges_request(data.len() as u64, &sha256_hex(&data)))
        .await
        .unwrap();
    let ticket = answer.upload.unwrap();
    assert_eq!(ticket.part_count, 2);
    let part1 = data[..FIVE_MIB as usize].to_vec();
    let mut tampered = part1.clone();
    tampered[12345] ^= 0xff;
    let edge = &fleet.edges[0].url;
    let (status, body) = put_chunk(edge, &ticket.upload_token, 1, tampered, &sha256_hex(&part1)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("chunk_hash_mismatch")),
        "{body}"
    );

    // Nothing was recorded: finalize still lists part 1 as missing.
    let err = client.finalize(&ticket.file_id, 2, None).await.unwrap_err();
    match err {
        jetty_client::ClientError::Refused {
            status, code, details, ..
        } => {
            assert_eq!((status, code.as_str()), (409, "parts_missing"));
            assert_eq!(details.unwrap()["missing"], json!([1, 2]));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }

    // The honest bytes then go through and the file completes.
    let (status, body) = store_chunk(edge, &ticket.upload_token, 1, part1.clone(), &sha256_hex(&part1)).await;
    assert_eq!(status, 200, "{body}");
    let part2 = data[FIVE_MIB as usize..].to_vec();
    let (status, body) = store_chunk(
        &fleet.edges[1].url,
        &ticket.upload_token,
        2,
        part2.clone(),
        &sha256_hex(&part2),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["edgeId"], fleet.edges[1].id);
    let file = client.finalize(&ticket.file_id, 2, None).await.unwrap().file;
    assert_eq!(fleet.s3_object_sha256(&dev_object_key(&file.id)), sha256_hex(&data));
}

#[tokio::test]
async fn finalize_with_a_missing_part_is_refused_with_the_list_and_finalizing_twice_returns_the_same_file() {
    let fleet = Fleet::get();
    let client = fleet.client();
    let data = random_bytes(2 * FIVE_MIB + 7);
    let ticket = client
        .optimal_edges(&edges_request(data.len() as u64, &sha256_hex(&data)))
        .await
        .unwrap()
        .upload
        .unwrap();
    assert_eq!(ticket.part_count, 3);
    let parts: Vec<Vec<u8>> = data.chunks(FIVE_MIB as usize).map(<[u8]>::to_vec).collect();
    for n in [1u32, 3] {
        let p = &parts[n as usize - 1];
        let (status, body) = store_chunk(&fleet.edges[2].url, &ticket.upload_token, n, p.clone(), &sha256_hex(p)).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = post_json(
        &format!("{}/api/edge/finalize-upload", fleet.coordinator),
        Some(&format!("Bearer {}", fleet.api_key)),
        json!({"fileId": ticket.file_id}).to_string(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("parts_missing")),
        "{body}"
    );
    assert_eq!(body["error"]["details"]["missing"], json!([2]));

    let (status, _) = store_chunk(
        &fleet.edges[0].url,
        &ticket.upload_token,
        2,
        parts[1].clone(),
        &sha256_hex(&parts[1]),
    )
    .await;
    assert_eq!(status, 200);
    let first = client.finalize(&ticket.file_id, 3, None).await.unwrap().file;
    let second = client.finalize(&ticket.file_id, 3, None).await.unwrap().file;
    assert_eq!(first, second);
    assert_eq!(first.size, data.len() as u64);
}

#[tokio::test]
async fn malformed_json_and_missing_or_wrong_api_keys_get_their_codes() {
    let fleet = Fleet::get();
    let url = format!("{}/api/jetty/optimal-edges", fleet.coordinator);
    let good_key = format!("Bearer {}", fleet.api_key);
    let valid = json!({"fileSize": 1, "fileHash": sha256_hex(b"x")}).to_string();
    let cases: [(Option<&str>, String, u16, &str); 6] = [
        (Some(&good_key), "{not json".into(), 400, "invalid_json"),
        (
            Some(&good_key),
            json!({"fileSize": -1, "fileHash": "x"}).to_string(),
            400,
            "invalid_json",
        ),
        (
            Some(&good_key),
            json!({"fileSize": 1, "fileHash": "sha256:zz"}).to_string(),
            400,
            "invalid_hash",
        ),
        (None, valid.clone(), 401, "missing_api_key"),
        (Some("Bearer jsk_not-a-real-key"), valid.clone(), 401, "invalid_api_key"),
        (Some("Basic dXNlcjpwYXNz"), valid.clone(), 401, "missing_api_key"),
    ];
    for (auth, body, want_status, want_code) in cases {
        let (status, answer) = post_json(&url, auth, body.clone()).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (want_status, Some(want_code)),
            "{body}: {answer}"
        );
        assert!(answer["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let (status, answer) = post_json(&format!("{}/api/nope", fleet.coordinator), Some(&good_key), "{}".into()).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn forged_expired_and_missing_upload_tokens_and_wrong_lengths_are_refused() {
    let fleet = Fleet::get();
    let client = fleet.client();
    let data = random_bytes(1000);
    let ticket = client
        .optimal_edges(&edges_request(1000, &sha256_hex(&data)))
        .await
        .unwrap()
        .upload
        .unwrap();
    let edge = &fleet.edges[0].url;
    let hash = sha256_hex(&data);

    let mut forged = ticket.upload_token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let (status, body) = put_chunk(edge, &forged, 1, data.clone(), &hash).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("invalid_upload_token")),
        "{body}"
    );

    let secret = fleet.dev_vars()["TOKEN_SECRET"].clone();
    let mut claims: UploadClaims = token::verify(&ticket.upload_token, secret.as_bytes(), unix_now()).unwrap();
    claims.exp = 1_000_000_000;
    let expired = token::sign(&claims, secret.as_bytes());
    let (status, body) = put_chunk(edge, &expired, 1, data.clone(), &hash).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("upload_token_expired")),
        "{body}"
    );

    let resp = http()
        .put(format!("{edge}/api/edge/upload-chunk?part=1"))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);

    let (status, body) = put_chunk(edge, &ticket.upload_token, 1, data[..999].to_vec(), &hash).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("chunk_size_mismatch")),
        "{body}"
    );
    let (status, body) = put_chunk(edge, &ticket.upload_token, 2, data.clone(), &hash).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_part_number")),
        "{body}"
    );
    let (status, body) = put_chunk(edge, &ticket.upload_token, 1, data.clone(), "nothex").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_hash")),
        "{body}"
    );

    let (status, body) = store_chunk(edge, &ticket.upload_token, 1, data.clone(), &hash).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(client.finalize(&ticket.file_id, 1, None).await.unwrap().file.size, 1000);
}

#[tokio::test]
async fn a_finished_file_has_the_content_id_of_its_parts_which_the_store_confirms() {
    let fleet = Fleet::get();
    let (path, _) = random_file(12 * MIB + 7);
    let data = std::fs::read(&path).unwrap();
    let (code, out) = fleet.jetty(&["upload", path.to_str().unwrap(), "--part-size-mib", "5"]);
    assert_eq!(code, 0, "{out}");
    let id = out["fileId"].as_str().unwrap();
    let parts: Vec<jetty_shared::hash::Sha256Digest> = data
        .chunks(5 * MIB as usize)
        .map(jetty_shared::hash::Sha256Digest::of)
        .collect();
    let expected = jetty_shared::content_id::ContentId::of_parts(&parts);
    let info = fleet.client().file_info(id).await.unwrap();
    assert_eq!(info.content_id.as_deref(), Some(expected.to_wire().as_str()));
    // Garage computes the same composite from the part checksums it verified.
    if let Some(reported) = fleet.s3_object_checksum(&dev_object_key(id)) {
        assert!(
            expected.matches_s3_checksum(&reported),
            "store: {reported}, ours: {expected:?}"
        );
    }
}

#[tokio::test]
async fn an_upload_opened_by_content_id_alone_declares_its_whole_file_hash_at_finalize() {
    let fleet = Fleet::get();
    let data = random_bytes(2 * FIVE_MIB + 11);
    let parts: Vec<Vec<u8>> = data.chunks(FIVE_MIB as usize).map(<[u8]>::to_vec).collect();
    let digests: Vec<jetty_shared::hash::Sha256Digest> =
        parts.iter().map(|p| jetty_shared::hash::Sha256Digest::of(p)).collect();
    let content_id = jetty_shared::content_id::ContentId::of_parts(&digests).to_wire();
    let key = format!("Bearer {}", fleet.api_key);
    let ask = |chunk: u64| {
        json!({"fileSize": data.len(), "contentId": content_id, "fileName": "cid.bin", "chunkSize": chunk}).to_string()
    };
    let edges_url = format!("{}/api/jetty/optimal-edges", fleet.coordinator);
    // Asked over parts of a size the service does not plan: told the size it does.
    let (status, body) = post_json(&edges_url, Some(&key), ask(FIVE_MIB - 1)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("part_size_changed")),
        "{body}"
    );
    assert_eq!(body["error"]["details"]["partSize"], json!(FIVE_MIB));
    let (status, body) = post_json(&edges_url, Some(&key), ask(FIVE_MIB)).await;
    assert_eq!(status, 200, "{body}");
    let ticket: UploadTicket = serde_json::from_value(body["upload"].clone()).unwrap();
    // Another device finds the session by its content id; its hash is still to come.
    let listed: Value = http()
        .get(format!(
            "{}/api/jetty/uploads?contentId={content_id}",
            fleet.coordinator
        ))
        .header("authorization", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["uploads"].as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed["uploads"][0]["fileHash"], Value::Null);
    assert_eq!(listed["uploads"][0]["fileId"], json!(ticket.file_id));
    for (i, p) in parts.iter().enumerate() {
        let (status, body) = store_chunk(
            &fleet.edges[i % 3].url,
            &ticket.upload_token,
            i as u32 + 1,
            p.clone(),
            &sha256_hex(p),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let finalize_url = format!("{}/api/edge/finalize-upload", fleet.coordinator);
    let (status, body) = post_json(&finalize_url, Some(&key), json!({"fileId": ticket.file_id}).to_string()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("file_hash_required")),
        "{body}"
    );
    let whole = sha256_hex(&data);
    let (status, body) = post_json(
        &finalize_url,
        Some(&key),
        json!({"fileId": ticket.file_id, "fileHash": format!("sha256:{whole}")}).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["file"]["sha256"], json!(format!("sha256:{whole}")));
    assert_eq!(fleet.s3_object_sha256(&dev_object_key(&ticket.file_id)), whole);
    let (status, body) = post_json(
        &finalize_url,
        Some(&key),
        json!({"fileId": ticket.file_id, "fileHash": sha256_hex(b"other")}).to_string(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("file_hash_mismatch")),
        "{body}"
    );
}
