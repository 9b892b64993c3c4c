//! Store conformance: our own S3 requests (`shared/src/s3.rs`, signed as the workers sign them)
//! against a real store, and our own classification of its answers (`ForwardFailure`,
//! `StoreProfile::upload_refusal`). scripts/test-stores.sh runs it against s3s-fs and, when the
//! test fleet runs, its Garage.
//!
//! The store comes from the environment: `STORE_ENDPOINT`, `STORE_BUCKET`, `STORE_KEY`,
//! `STORE_SECRET`, `STORE_REGION` (default `us-east-1`), `STORE_PROFILE` (an `S3_STORE` value,
//! default `generic`), optionally `STORE_CHECKSUMS` / `STORE_VERIFY_MODE` (else the profile's
//! defaults) and `STORE_PREFIX` (default `conformance/`). Without `STORE_ENDPOINT` every test
//! passes after saying it skipped. Objects are written under the prefix and deleted again.

use jetty_shared::config::{CoordinatorConfig, VerifyMode};
use jetty_shared::hash::Sha256Digest;
use jetty_shared::plan::{PartPlan, MIB};
use jetty_shared::s3::{self, CompletedPart, PartPayload, S3ErrorCode, SignedRequest, StoreProfile, S3};
use jetty_shared::session::ForwardFailure;
use jetty_shared::ErrorCode;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::time::SystemTime;

struct Store {
    s3: S3,
    profile: StoreProfile,
    verify_mode: VerifyMode,
    http: reqwest::Client,
    prefix: String,
}

/// The store's answer: status, headers and body.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }

    /// The error document's code, in AWS's terms for this store (as the workers read it).
    fn upload_refusal(&self, profile: StoreProfile) -> Option<S3ErrorCode> {
        let code = s3::parse_error(&self.text()).map(|d| d.kind());
        profile.upload_refusal(self.status, code)
    }

    /// What the chunk path would answer the client for this refusal of an UploadPart.
    fn part_failure(&self, profile: StoreProfile) -> ForwardFailure {
        ForwardFailure::Answered {
            status: self.status,
            code: self.upload_refusal(profile),
        }
    }

    fn describe(&self) -> String {
        format!("{} {}", self.status, self.text().chars().take(400).collect::<String>())
    }
}

/// The store under test, configured through the production settings parser (so the profile's
/// defaults of `S3_CHECKSUMS` and `VERIFY_MODE` apply exactly as in the workers).
fn store() -> Option<Store> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let Some(endpoint) = env("STORE_ENDPOINT") else {
        eprintln!("STORE_ENDPOINT is not set: skipped (scripts/test-stores.sh runs this against real stores)");
        return None;
    };
    let config = CoordinatorConfig::from_lookup(|name| match name {
        "S3_ENDPOINT" => Some(endpoint.clone()),
        "S3_BUCKET" => env("STORE_BUCKET"),
        "S3_ACCESS_KEY_ID" => env("STORE_KEY"),
        "S3_SECRET_ACCESS_KEY" => env("STORE_SECRET"),
        "S3_REGION" => env("STORE_REGION"),
        "S3_STORE" => env("STORE_PROFILE"),
        "S3_CHECKSUMS" => env("STORE_CHECKSUMS"),
        "VERIFY_MODE" => env("STORE_VERIFY_MODE"),
        "TOKEN_SECRET" | "INTERNAL_SECRET" => Some("conformance-test-only".into()),
        _ => None,
    })
    .unwrap_or_else(|e| panic!("the STORE_* settings do not make a configuration: {e}"));
    eprintln!(
        "store {} bucket {} profile {} checksums {} verify {}",
        config.s3_config.endpoint,
        config.s3_config.bucket,
        config.s3_config.store,
        config.s3_config.checksums,
        config.verify_mode.as_str()
    );
    Some(Store {
        s3: config.s3(),
        profile: config.s3_config.store,
        verify_mode: config.verify_mode,
        // A fresh connection per request: a store that answers a part before reading its body
        // (a gone upload) closes the connection, and a pooled one could then fail the next
        // request with no answer.
        http: reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap(),
        prefix: env("STORE_PREFIX").unwrap_or_else(|| "conformance/".into()),
    })
}

fn random_bytes(n: u64) -> Vec<u8> {
    let mut data = vec![0; n as usize];
    rand::thread_rng().fill_bytes(&mut data);
    data
}

fn hex_sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

impl Store {
    fn key(&self, name: &str) -> String {
        let mut nonce = [0u8; 6];
        rand::thread_rng().fill_bytes(&mut nonce);
        format!("{}{name}-{}", self.prefix, hex::encode(nonce))
    }

    async fn send(&self, request: SignedRequest) -> Answer {
        self.send_with(request, None).await
    }

    /// Sends a signed request as-is (the body replaced by `body` when given, as the workers
    /// stream a client's body under a request signed for its declared hash).
    async fn send_with(&self, request: SignedRequest, body: Option<Vec<u8>>) -> Answer {
        let method = reqwest::Method::from_bytes(request.method.as_bytes()).unwrap();
        let mut builder = self.http.request(method, &request.url);
        for (name, value) in &request.headers {
            // reqwest sets the length from the body.
            if !name.eq_ignore_ascii_case("content-length") {
                builder = builder.header(name, value);
            }
        }
        if let Some(body) = body.or(request.body) {
            builder = builder.body(body);
        }
        let resp = builder
            .send()
            .await
            .unwrap_or_else(|e| panic!("{} {}: no answer: {e}", request.method, request.url));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
        Answer { status, headers, body }
    }

    async fn create(&self, key: &str) -> String {
        let answer = self
            .send(
                self.s3
                    .create_multipart_upload(key, "application/octet-stream", SystemTime::now())
                    .unwrap(),
            )
            .await;
        assert_eq!(answer.status, 200, "CreateMultipartUpload: {}", answer.describe());
        s3::parse_upload_id(&answer.text()).expect("an UploadId")
    }

    async fn upload_part(&self, key: &str, upload_id: &str, number: u32, body: &[u8], payload: PartPayload) -> Answer {
        let request = self
            .s3
            .upload_part(key, upload_id, number, body.len() as u64, payload, SystemTime::now())
            .unwrap();
        self.send_with(request, Some(body.to_vec())).await
    }

    async fn complete(&self, key: &str, upload_id: &str, parts: &[CompletedPart]) -> Answer {
        self.send(
            self.s3
                .complete_multipart_upload(key, upload_id, parts, SystemTime::now())
                .unwrap(),
        )
        .await
    }

    async fn abort(&self, key: &str, upload_id: &str) -> Answer {
        self.send(
            self.s3
                .abort_multipart_upload(key, upload_id, SystemTime::now())
                .unwrap(),
        )
        .await
    }

    async fn delete(&self, key: &str) {
        let answer = self.send(self.s3.delete_object(key, SystemTime::now()).unwrap()).await;
        assert!(
            (200..300).contains(&answer.status),
            "DeleteObject: {}",
            answer.describe()
        );
    }

    /// How the workers sign a part in this store's verify mode.
    fn production_payload(&self, digest: Sha256Digest) -> PartPayload {
        match self.verify_mode {
            VerifyMode::Store => PartPayload::Declared(digest),
            VerifyMode::Worker => PartPayload::Unsigned(digest),
        }
    }
}

/// A multipart upload of 5 MiB + 5 MiB + 1 byte, as a plan the profile's rules accept,
/// completes and reads back byte-exact; with checksums the store's composite is ours.
#[tokio::test]
async fn a_three_part_upload_completes_and_reads_back_byte_exact() {
    let Some(store) = store() else { return };
    let plan = PartPlan {
        file_size: 10 * MIB + 1,
        part_size: 5 * MIB,
        part_count: 3,
    };
    assert_eq!(store.profile.rules().check(&plan), Ok(()));
    let data = random_bytes(plan.file_size);
    let key = store.key("three-parts");
    let upload_id = store.create(&key).await;
    let mut parts = Vec::new();
    for number in plan.part_numbers() {
        let offset = plan.part_offset(number).unwrap() as usize;
        let body = &data[offset..offset + plan.part_len(number).unwrap() as usize];
        let digest = Sha256Digest::of(body);
        // Both ways the workers sign a part: the declared hash (VERIFY_MODE=store) and
        // UNSIGNED-PAYLOAD (worker), whatever this store's default is.
        let payload = match number {
            1 => PartPayload::Declared(digest),
            2 => PartPayload::Unsigned(digest),
            _ => store.production_payload(digest),
        };
        let answer = store.upload_part(&key, &upload_id, number, body, payload).await;
        assert_eq!(answer.status, 200, "UploadPart {number}: {}", answer.describe());
        let etag = answer.header("etag").expect("UploadPart answers with an ETag");
        parts.push(CompletedPart {
            number,
            etag,
            sha256: digest,
        });
    }
    let done = store.complete(&key, &upload_id, &parts).await;
    assert_eq!(done.status, 200, "CompleteMultipartUpload: {}", done.describe());
    assert!(
        s3::parse_error(&done.text()).is_none(),
        "Complete refused inside a 200: {}",
        done.describe()
    );
    // With checksums, the store's composite SHA-256 (when it reports one) is the one computed
    // from our part digests: base64(SHA-256(d1 || d2 || d3)), with or without "-3".
    let composite = s3::xml_text(&done.text(), "ChecksumSHA256").filter(|v| !v.is_empty());
    if store.s3.config.checksums {
        let mut h = Sha256::new();
        for p in &parts {
            h.update(p.sha256.0);
        }
        use base64::Engine;
        let expected = base64::engine::general_purpose::STANDARD.encode(h.finalize());
        match &composite {
            Some(value) => {
                let (digest, count) = value
                    .split_once('-')
                    .map_or((value.as_str(), None), |(d, n)| (d, Some(n)));
                assert_eq!(digest, expected, "composite checksum");
                assert!(count.is_none_or(|n| n == "3"), "composite part count: {value}");
                eprintln!("composite checksum {value} matches the part digests");
            }
            None => eprintln!("the store reported no composite checksum"),
        }
    }

    let head = store.send(store.s3.head_object(&key, SystemTime::now()).unwrap()).await;
    assert_eq!(head.status, 200, "HeadObject: {}", head.describe());
    assert_eq!(
        head.header("content-length").as_deref(),
        Some(plan.file_size.to_string().as_str())
    );
    let got = store
        .send(store.s3.get_object(&key, None, SystemTime::now()).unwrap())
        .await;
    assert_eq!(got.status, 200, "GetObject: {}", got.status);
    assert_eq!(got.body.len() as u64, plan.file_size);
    assert_eq!(hex_sha256(&got.body), hex_sha256(&data), "read back byte-exact");
    let range = store
        .send(
            store
                .s3
                .get_object(&key, Some("bytes=5242878-5242881"), SystemTime::now())
                .unwrap(),
        )
        .await;
    assert_eq!(range.status, 206, "ranged GetObject: {}", range.status);
    assert_eq!(range.body, data[5_242_878..5_242_882]);

    // The upload is finished: a part for it, or a second Complete, finds it gone (or, for a
    // Complete, the store may repeat its success).
    let late = store
        .upload_part(&key, &upload_id, 1, b"x", PartPayload::Declared(Sha256Digest::of(b"x")))
        .await;
    assert_ne!(late.status, 200, "a part for a completed upload was accepted");
    assert_eq!(
        late.part_failure(store.profile).classify(),
        ErrorCode::SessionNotActive,
        "a part for a completed upload: {}",
        late.describe()
    );
    let again = store.complete(&key, &upload_id, &parts).await;
    assert!(
        again.status == 200 || again.upload_refusal(store.profile) == Some(S3ErrorCode::NoSuchUpload),
        "a second Complete: {}",
        again.describe()
    );
    store.delete(&key).await;
    eprintln!(
        "3 parts ({} bytes) completed, HEAD {} bytes, GET sha256 {} matches, ranged GET ok; late part: {} → {:?}",
        plan.file_size,
        plan.file_size,
        &hex_sha256(&data)[..16],
        late.status,
        late.part_failure(store.profile).classify()
    );
}

/// A part whose body is not the one its SHA-256 declares is refused. Where the profile has the
/// store verify (`VERIFY_MODE=store`), the refusal reads as `chunk_hash_mismatch`; where it
/// has the worker verify, the store need only refuse (s3s-fs: 500), and the worker's own hash
/// is what answers the client.
#[tokio::test]
async fn a_part_that_does_not_match_its_declared_hash_is_refused() {
    let Some(store) = store() else { return };
    let key = store.key("bad-hash");
    let upload_id = store.create(&key).await;
    let body = random_bytes(5 * MIB);
    let mut declared_body = body.clone();
    declared_body[12_345] ^= 1; // one bit off
    let declared = Sha256Digest::of(&declared_body);
    let answer = store
        .upload_part(&key, &upload_id, 1, &body, PartPayload::Declared(declared))
        .await;
    let classified = answer.part_failure(store.profile).classify();
    eprintln!(
        "bad payload hash: {} → {classified:?} (verify mode {})",
        answer.describe(),
        store.verify_mode.as_str()
    );
    assert_ne!(
        answer.status, 200,
        "a body that does not match its declared hash was accepted"
    );
    match store.verify_mode {
        VerifyMode::Store => assert_eq!(classified, ErrorCode::ChunkHashMismatch, "{}", answer.describe()),
        VerifyMode::Worker => assert_ne!(classified, ErrorCode::SessionNotActive, "{}", answer.describe()),
    }
    // With checksums the checksum header alone (UNSIGNED-PAYLOAD) is also checked.
    if store.s3.config.checksums {
        let answer = store
            .upload_part(&key, &upload_id, 1, &body, PartPayload::Unsigned(declared))
            .await;
        let classified = answer.part_failure(store.profile).classify();
        eprintln!("bad x-amz-checksum-sha256: {} → {classified:?}", answer.describe());
        assert_eq!(classified, ErrorCode::ChunkHashMismatch, "{}", answer.describe());
    }
    // The same part with its true hash is then accepted (a re-send replaces nothing bad).
    let good = store
        .upload_part(
            &key,
            &upload_id,
            1,
            &body,
            PartPayload::Declared(Sha256Digest::of(&body)),
        )
        .await;
    assert_eq!(good.status, 200, "the good part after a bad one: {}", good.describe());
    let aborted = store.abort(&key, &upload_id).await;
    assert!((200..300).contains(&aborted.status), "Abort: {}", aborted.describe());
}

/// After Abort, the upload is gone for the part path (`session_not_active` once the session
/// check agrees) and for the control plane (Complete and Abort read as NoSuchUpload).
#[tokio::test]
async fn a_part_for_an_aborted_upload_is_classified_as_gone() {
    let Some(store) = store() else { return };
    let key = store.key("aborted");
    let upload_id = store.create(&key).await;
    let first = store
        .upload_part(
            &key,
            &upload_id,
            1,
            b"first",
            PartPayload::Declared(Sha256Digest::of(b"first")),
        )
        .await;
    assert_eq!(first.status, 200, "UploadPart: {}", first.describe());
    let aborted = store.abort(&key, &upload_id).await;
    assert!((200..300).contains(&aborted.status), "Abort: {}", aborted.describe());

    let body = random_bytes(64 * 1024);
    let digest = Sha256Digest::of(&body);
    let late = store
        .upload_part(&key, &upload_id, 2, &body, store.production_payload(digest))
        .await;
    let failure = late.part_failure(store.profile);
    eprintln!(
        "part after abort: {} → {:?}, answered {:?}",
        late.describe(),
        failure.classify(),
        failure.answer(false)
    );
    assert_eq!(failure.classify(), ErrorCode::SessionNotActive, "{}", late.describe());
    assert_eq!(failure.answer(false), ErrorCode::SessionNotActive);
    assert!(!failure.is_store_failure(), "a gone upload is not the store's failure");

    let complete = store
        .complete(
            &key,
            &upload_id,
            &[CompletedPart {
                number: 1,
                etag: first.header("etag").unwrap_or_default(),
                sha256: Sha256Digest::of(b"first"),
            }],
        )
        .await;
    assert_eq!(
        complete.upload_refusal(store.profile),
        Some(S3ErrorCode::NoSuchUpload),
        "Complete after abort: {}",
        complete.describe()
    );
    let again = store.abort(&key, &upload_id).await;
    assert!(
        (200..300).contains(&again.status) || again.upload_refusal(store.profile) == Some(S3ErrorCode::NoSuchUpload),
        "a second Abort: {}",
        again.describe()
    );
    let head = store.send(store.s3.head_object(&key, SystemTime::now()).unwrap()).await;
    assert_eq!(head.status, 404, "an aborted upload leaves no object");
    eprintln!(
        "after abort: part {} → {:?}, Complete {} → NoSuchUpload, second Abort {}",
        late.status,
        failure.classify(),
        complete.status,
        again.status
    );
}
