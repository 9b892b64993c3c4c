//! Accounts on the local fleet: provisioning through signed webhooks (both sides), tiers and
//! quotas enforced before the store is touched, upgrades, webhook security, idempotency,
//! tenant isolation and key revocation.

use futures::future::join_all;
use jetty_fleet_tests::*;
use jetty_shared::hash::Sha256Digest;
use jetty_shared::plan::MIB;
use jetty_shared::quota::GB;
use jetty_shared::webhook::{self, WebhookSecret};
use serde_json::{json, Value};

fn unique_user() -> String {
    format!("usr_{}", hex::encode(rand::random::<[u8; 6]>()))
}

struct Urls {
    platform: String,
    vendor: String,
    upgrade: String,
}

fn urls(fleet: &Fleet) -> Urls {
    Urls {
        platform: format!("{}/api/webhooks/jettythunder/provision", fleet.coordinator),
        vendor: format!("{}/api/agentcache/provision", fleet.coordinator),
        upgrade: format!("{}/api/agentcache/upgrade", fleet.coordinator),
    }
}

/// Provisions through the platform webhook; returns the credentials object.
async fn provision(fleet: &Fleet, user: &str, tier: &str) -> Value {
    let secret = fleet.dev_vars()["INTERNAL_WEBHOOK_SECRET"].clone();
    let body = json!({"user_id": user, "email": format!("{user}@example.com"), "tier": tier}).to_string();
    let (status, answer, _) = signed_post(&urls(fleet).platform, &secret, &body, &msg_id(), unix_now(), None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["success"], true);
    answer["credentials"].clone()
}

async fn upgrade(fleet: &Fleet, user: &str, tier: &str) -> (u16, Value) {
    let secret = fleet.dev_vars()["VENDOR_WEBHOOK_SECRET"].clone();
    let body = json!({"agentcache_user_id": user, "tier": tier}).to_string();
    let (status, answer, _) = signed_post(&urls(fleet).upgrade, &secret, &body, &msg_id(), unix_now(), None).await;
    (status, answer)
}

async fn optimal_edges(fleet: &Fleet, key: &str, size: u64) -> (u16, Value) {
    let body = json!({"fileSize": size, "fileHash": hex::encode(rand::random::<[u8; 32]>())});
    api(
        reqwest::Method::POST,
        format!("{}/api/jetty/optimal-edges", fleet.coordinator),
        key,
        Some(body),
    )
    .await
}

async fn quota(fleet: &Fleet, key: &str) -> Value {
    let (status, q) = api(
        reqwest::Method::GET,
        format!("{}/api/agentcache/quota", fleet.coordinator),
        key,
        None,
    )
    .await;
    assert_eq!(status, 200, "{q}");
    q
}

async fn simple_upload(fleet: &Fleet, key: &str, name: &str, data: Vec<u8>) -> (u16, Value) {
    let resp = http()
        .post(format!("{}/api/storage/upload", fleet.coordinator))
        .bearer_auth(key)
        .header("x-filename", name)
        .header("content-type", "text/plain")
        .body(data)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn provision_upload_and_the_quota_shows_the_bytes() {
    let fleet = Fleet::get();
    let user = unique_user();
    let secret = fleet.dev_vars()["INTERNAL_WEBHOOK_SECRET"].clone();
    // Through the CLI's operator command, as an administrator would.
    let out = fleet
        .jetty_command(
            &fresh_dir(),
            &[
                "admin",
                "provision",
                "--user",
                &user,
                "--email",
                "a@example.com",
                "--tier",
                "pro",
            ],
        )
        .env("JETTY_WEBHOOK_SECRET", &secret)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    let creds = &answer["credentials"];
    let key = creds["api_key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("jt_live_") && creds["api_secret"].as_str().unwrap().starts_with("secret_"));
    assert_eq!(
        (
            creds["storage_quota_gb"].as_u64(),
            creds["jetty_speed_enabled"].as_bool()
        ),
        (Some(20), Some(true))
    );
    assert_eq!(creds["s3_prefix"], format!("users/{user}/"));

    // Provisioning the same user again gives the same credentials, never a second account.
    let again = provision(&fleet, &user, "pro").await;
    assert_eq!(again["api_key"], creds["api_key"]);

    let (file, sha) = random_file(6 * MIB + 1);
    let out = fleet
        .jetty_command_as(&key, &fresh_dir(), &["upload", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let uploaded: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = uploaded["fileId"].as_str().unwrap();
    assert_eq!(fleet.s3_object_sha256(&format!("users/{user}/files/{id}")), sha);

    let q = quota(&fleet, &key).await;
    assert_eq!(q["storage"]["used_bytes"], 6 * MIB + 1, "{q}");
    assert_eq!(q["tier"], "pro");
    assert_eq!(q["storage_in_progress_bytes"], 0);

    // Downloads count against bandwidth.
    let back = file.with_extension("back");
    let out = fleet
        .jetty_command_as(&key, &fresh_dir(), &["download", id, back.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(quota(&fleet, &key).await["bandwidth"]["used_bytes"], 6 * MIB + 1);
}

#[tokio::test]
async fn quotas_are_enforced_before_the_store_and_upgrades_apply_at_once() {
    let fleet = Fleet::get();
    let user = unique_user();
    let key = provision(&fleet, &user, "pro").await["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let prefix = format!("users/{user}/");

    let (status, refused) = optimal_edges(&fleet, &key, 25 * GB).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (403, Some("storage_quota_exceeded")),
        "{refused}"
    );
    assert!(refused["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Storage quota exceeded"));
    assert_eq!(refused["error"]["details"]["quotaBytes"], 20 * GB);
    assert!(
        !fleet.s3_multipart_keys().iter().any(|k| k.starts_with(&prefix)),
        "no multipart upload was created"
    );

    // In-flight reservations count: 15 GB reserved leaves no room for 6 GB more.
    let (status, first) = optimal_edges(&fleet, &key, 15 * GB).await;
    assert_eq!(status, 200, "{first}");
    let (status, _) = optimal_edges(&fleet, &key, 6 * GB).await;
    assert_eq!(status, 403);
    assert_eq!(quota(&fleet, &key).await["storage_in_progress_bytes"], 15 * GB);
    let first_id = first["upload"]["fileId"].as_str().unwrap();
    let (status, _) = api(
        reqwest::Method::DELETE,
        format!("{}/api/jetty/uploads/{first_id}", fleet.coordinator),
        &key,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, second) = optimal_edges(&fleet, &key, 6 * GB).await;
    assert_eq!(status, 200, "aborting released the reservation: {second}");

    // Upgrading raises the quota immediately: the refused upload now goes through.
    let (status, up) = upgrade(&fleet, &user, "business").await;
    assert_eq!((status, up["storage_quota_gb"].as_u64()), (200, Some(100)), "{up}");
    let (status, ok) = optimal_edges(&fleet, &key, 25 * GB).await;
    assert_eq!(status, 200, "{ok}");
    for id in [&second["upload"]["fileId"], &ok["upload"]["fileId"]] {
        api(
            reqwest::Method::DELETE,
            format!("{}/api/jetty/uploads/{}", fleet.coordinator, id.as_str().unwrap()),
            &key,
            None,
        )
        .await;
    }
    let (status, unknown) = upgrade(&fleet, &user, "platinum").await;
    assert_eq!((status, unknown["error"]["code"].as_str()), (400, Some("unknown_tier")));
    let (status, _) = upgrade(&fleet, &unique_user(), "pro").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn tiers_without_storage_are_refused_and_without_jetty_speed_get_only_the_origin_path() {
    let fleet = Fleet::get();
    let free = provision(&fleet, &unique_user(), "free").await["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    // The free tier stores nothing: its multipart upload is refused by the quota.
    let (status, body) = optimal_edges(&fleet, &free, 1).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("storage_quota_exceeded"))
    );
    let (status, body) = simple_upload(&fleet, &free, "a.txt", b"hello".to_vec()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("storage_quota_exceeded"))
    );

    // Starter: no JettySpeed, so multipart uploads through the origin path only (every tier
    // gets resumable, verified uploads; JettySpeed adds the edges), and simple uploads, within
    // its 2 GB.
    let user = unique_user();
    let starter = provision(&fleet, &user, "starter").await["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = optimal_edges(&fleet, &starter, 1).await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<&str> = body["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["origin-direct"]);
    let data = random_bytes(4096);
    let (status, asset) = simple_upload(&fleet, &starter, "notes.txt", data.clone()).await;
    assert_eq!(status, 201, "{asset}");
    assert_eq!(asset["asset"]["hash"], Sha256Digest::of(&data).to_hex());
    assert_eq!(asset["asset"]["size"], 4096);
    let key = asset["asset"]["key"].as_str().unwrap();
    assert!(key.starts_with(&format!("users/{user}/")));
    assert_eq!(fleet.s3_object_sha256(key), Sha256Digest::of(&data).to_hex());
    assert_eq!(quota(&fleet, &starter).await["storage"]["used_bytes"], 4096);

    // Downgraded to free, the account's downloads exceed its (zero) bandwidth.
    upgrade(&fleet, &user, "free").await;
    let id = asset["asset"]["id"].as_str().unwrap();
    let (status, body) = api(
        reqwest::Method::GET,
        format!("{}/api/files/{id}", fleet.coordinator),
        &starter,
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("bandwidth_quota_exceeded"))
    );
}

#[tokio::test]
async fn webhook_signatures_timestamps_replays_and_rotation() {
    let fleet = Fleet::get();
    let vars = fleet.dev_vars();
    let (current, previous) = (
        vars["VENDOR_WEBHOOK_SECRET"].clone(),
        vars["VENDOR_WEBHOOK_SECRET_PREVIOUS"].clone(),
    );
    let url = urls(&fleet).vendor;
    let body = json!({"user_id": unique_user(), "email": "w@example.com", "tier": "pro"}).to_string();
    let now = unix_now();
    let wrong = WebhookSecret::from_random(&rand::random());

    let cases: Vec<(&str, &str, String, u64, &str)> = vec![
        ("wrong secret", &wrong, body.clone(), now, "webhook_signature_invalid"),
        (
            "stale timestamp",
            &current,
            body.clone(),
            now - 600,
            "webhook_timestamp_invalid",
        ),
        (
            "future timestamp",
            &current,
            body.clone(),
            now + 600,
            "webhook_timestamp_invalid",
        ),
    ];
    for (name, secret, b, ts, code) in cases {
        let (status, answer, _) = signed_post(&url, secret, &b, &msg_id(), ts, None).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (401, Some(code)),
            "{name}: {answer}"
        );
    }
    // A tampered body: signed for one body, another sent.
    let signed = webhook::sign(&WebhookSecret::parse(&current).unwrap(), "msg_t", now, body.as_bytes());
    let resp = http()
        .post(&url)
        .header(webhook::ID_HEADER, signed.id)
        .header(webhook::TIMESTAMP_HEADER, signed.timestamp)
        .header(webhook::SIGNATURE_HEADER, signed.signature)
        .body(body.replace("pro", "enterprise"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let resp = http().post(&url).body(body.clone()).send().await.unwrap();
    let missing: Value = resp.json().await.unwrap();
    assert_eq!(missing["error"]["code"], "webhook_headers_missing");

    // The secret being rotated out still verifies; a replayed delivery id gets the first answer.
    let id = msg_id();
    let (status, first, replayed) = signed_post(&url, &previous, &body, &id, now, None).await;
    assert_eq!((status, replayed), (201, false), "{first}");
    let (status, again, replayed) = signed_post(&url, &current, &body, &id, now, None).await;
    assert_eq!((status, replayed), (201, true));
    assert_eq!(again, first, "a replay acts once and answers the same");
}

#[tokio::test]
async fn idempotency_keys_replay_refuse_changes_and_never_duplicate() {
    let fleet = Fleet::get();
    let secret = fleet.dev_vars()["VENDOR_WEBHOOK_SECRET"].clone();
    let url = urls(&fleet).vendor;
    let user = unique_user();
    let body = json!({"user_id": user, "email": "i@example.com", "tier": "pro"}).to_string();
    let key = format!("idem-{user}");

    let (status, first, _) = signed_post(&url, &secret, &body, &msg_id(), unix_now(), Some(&key)).await;
    assert_eq!(status, 201, "{first}");
    let (status, same, replayed) = signed_post(&url, &secret, &body, &msg_id(), unix_now(), Some(&key)).await;
    assert_eq!((status, replayed), (201, true));
    assert_eq!(same, first);
    let changed = body.replace("pro", "business");
    let (status, refused, _) = signed_post(&url, &secret, &changed, &msg_id(), unix_now(), Some(&key)).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (422, Some("idempotency_key_reused"))
    );

    // Concurrent first requests with one fresh key: one acts; the others see it running (409)
    // or its answer. Never a second account.
    let user2 = unique_user();
    let body2 = json!({"user_id": user2, "email": "c@example.com", "tier": "pro"}).to_string();
    let key2 = format!("idem-{user2}");
    let ids: Vec<String> = (0..6).map(|_| msg_id()).collect();
    let answers = join_all(
        ids.iter()
            .map(|id| signed_post(&url, &secret, &body2, id, unix_now(), Some(&key2))),
    )
    .await;
    let mut accounts = std::collections::HashSet::new();
    for (status, answer, _) in &answers {
        match status {
            201 => {
                accounts.insert(answer["account_id"].as_str().unwrap().to_owned());
            }
            409 => assert_eq!(answer["error"]["code"], "idempotency_in_progress"),
            other => panic!("unexpected {other}: {answer}"),
        }
    }
    assert_eq!(accounts.len(), 1, "{answers:?}");

    // Without a key, a second provisioning of the same user reports the existing account.
    let (status, existing, _) = signed_post(&url, &secret, &body2, &msg_id(), unix_now(), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        existing["account_id"].as_str(),
        accounts.iter().next().map(String::as_str)
    );
    assert!(
        existing["credentials"]["api_key"].is_null(),
        "credentials are never shown twice"
    );
}

#[tokio::test]
async fn accounts_see_only_their_own_and_revoked_keys_get_401() {
    let fleet = Fleet::get();
    let a = provision(&fleet, &unique_user(), "pro").await;
    let b = provision(&fleet, &unique_user(), "pro").await;
    let (a_key, b_key) = (a["api_key"].as_str().unwrap(), b["api_key"].as_str().unwrap());
    let (status, asset) = simple_upload(&fleet, a_key, "mine.txt", random_bytes(100)).await;
    assert_eq!(status, 201);
    let id = asset["asset"]["id"].as_str().unwrap();
    let (status, _) = api(
        reqwest::Method::GET,
        format!("{}/api/files/{id}", fleet.coordinator),
        b_key,
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(quota(&fleet, b_key).await["storage"]["used_bytes"], 0);

    // Rotating with the API secret revokes the old key.
    let secret = a["api_secret"].as_str().unwrap();
    let (status, _) = api(
        reqwest::Method::GET,
        format!("{}/api/agentcache/quota", fleet.coordinator),
        secret,
        None,
    )
    .await;
    assert_eq!(status, 401, "the API secret is not an API key");
    let (status, rotated) = api(
        reqwest::Method::POST,
        format!("{}/api/agentcache/rotate-key", fleet.coordinator),
        secret,
        None,
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let new_key = rotated["api_key"].as_str().unwrap();
    let (status, body) = api(
        reqwest::Method::GET,
        format!("{}/api/agentcache/quota", fleet.coordinator),
        a_key,
        None,
    )
    .await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("invalid_api_key")));
    assert_eq!(quota(&fleet, new_key).await["storage"]["used_bytes"], 100);
    let (status, _) = api(
        reqwest::Method::POST,
        format!("{}/api/agentcache/rotate-key", fleet.coordinator),
        a_key,
        None,
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn re_provisioning_follows_key_rotations_and_tier_changes() {
    let fleet = Fleet::get();
    let user = unique_user();
    let first = provision(&fleet, &user, "pro").await;
    let key = first["api_key"].as_str().unwrap().to_owned();
    // Asked again: the same key (the platform's cache and the vendor's replay agree).
    assert_eq!(provision(&fleet, &user, "pro").await["api_key"], key.as_str());
    // An upgrade shows at once, with the key still valid.
    let (status, _) = upgrade(&fleet, &user, "business").await;
    assert_eq!(status, 200);
    let upgraded = provision(&fleet, &user, "pro").await;
    assert_eq!(
        (upgraded["api_key"].as_str(), upgraded["tier"].as_str()),
        (Some(key.as_str()), Some("business"))
    );
    // After a rotation the revoked key is never handed out again.
    let (status, rotated) = api(
        reqwest::Method::POST,
        format!("{}/api/agentcache/rotate-key", fleet.coordinator),
        first["api_secret"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let after = provision(&fleet, &user, "pro").await;
    assert!(after["api_key"].is_null(), "{after}");
    assert_eq!(after["tier"], "business");
    assert_ne!(after["key_fingerprint"], first["key_fingerprint"]);
}
