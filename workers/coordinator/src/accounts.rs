//! Accounts: the platform → vendor provisioning contract (both sides, Standard Webhooks
//! signatures, replay protection and `Idempotency-Key`), tier upgrades, the quota report,
//! single-request uploads of small files, and key rotation.
//!
//! Credentials are shown once and stored hashed. Answers that must be repeated (idempotent
//! replays, the platform's 30-day credential cache) are sealed with AES-256-GCM at rest.

use crate::upload::{price_per_gb, transfer_cost};
use crate::{db, file_url};
use jetty_shared::auth::{api_key_hash, bearer, new_id};
use jetty_shared::hash::Sha256Digest;
use jetty_shared::idempotency::{decide, is_final, request_hash, valid_key, Decision, Recorded};
use jetty_shared::plan::{PartPlan, S3_MIN_PART_SIZE};
use jetty_shared::provision::{check_email, check_user_id};
use jetty_shared::quota::{check_storage, quota_line, GB};
use jetty_shared::seal;
use jetty_shared::state::iso8601;
use jetty_shared::webhook::{self, WebhookSecret};
use jetty_shared::{ApiError, ErrorCode};
use jetty_worker_runtime::*;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{D1Database, Env, Headers, Method, Request, RequestInit, Response};

const WEBHOOK_BODY_LIMIT: usize = 64 * 1024;
/// Largest body `POST /api/storage/upload` takes (it is read whole to hash it).
const SIMPLE_UPLOAD_LIMIT: u64 = 32 * 1024 * 1024;
const CREDENTIAL_CACHE_TTL_SECS: u64 = 30 * 24 * 3600;

#[derive(Debug, Deserialize)]
struct ProvisionRequest {
    user_id: String,
    email: String,
    tier: String,
}

#[derive(Debug, Deserialize)]
struct UpgradeRequest {
    agentcache_user_id: String,
    tier: String,
}

fn seal_key(env: &Env, purpose: &str) -> ApiResult<[u8; 32]> {
    Ok(seal::derive_key(secret(env, "TOKEN_SECRET")?.as_bytes(), purpose))
}

/// Reads and verifies a signed webhook delivery; returns (delivery id, body).
async fn verified_webhook(req: &mut Request, env: &Env, secret_name: &str) -> ApiResult<(String, Vec<u8>)> {
    let secrets = WebhookSecret::parse_list(&secret(env, secret_name)?);
    if secrets.is_empty() {
        return Err(internal(format!("{secret_name} has no usable secret")));
    }
    let body = read_body(req, WEBHOOK_BODY_LIMIT).await?;
    let id = webhook::verify(
        &secrets,
        header(req, webhook::ID_HEADER).as_deref(),
        header(req, webhook::TIMESTAMP_HEADER).as_deref(),
        header(req, webhook::SIGNATURE_HEADER).as_deref(),
        &body,
        now_secs(),
    )?;
    Ok((id, body))
}

/// The (scope, key) records guarding a request: its webhook delivery id (replays) and its
/// `Idempotency-Key` if any.
fn guard_keys(req: &Request, endpoint: &str, delivery: &str) -> ApiResult<Vec<(String, String)>> {
    let mut keys = vec![(format!("webhook:{endpoint}"), delivery.to_owned())];
    if let Some(key) = header(req, "idempotency-key") {
        if !valid_key(&key) {
            return Err(ApiError::with_message(
                ErrorCode::InvalidRequest,
                "Idempotency-Key must be 1-255 printable characters",
            ));
        }
        keys.push((format!("idem:{endpoint}"), key));
    }
    Ok(keys)
}

enum Begin {
    Proceed(Vec<(String, String)>),
    Replay(Response),
}

async fn begin(env: &Env, db: &D1Database, keys: Vec<(String, String)>, hash: &str) -> ApiResult<Begin> {
    let key = seal_key(env, "idempotency")?;
    let mut claimed: Vec<(String, String)> = Vec::new();
    for (scope, k) in keys {
        // At most two rounds: a first claim, and one more after dropping an abandoned record.
        let mut decided = None;
        for _ in 0..2 {
            if db::claim_idempotency(db, &scope, &k, hash, now_millis()).await? {
                decided = Some(Ok(None));
                break;
            }
            let Some(row) = db::idempotency_record(db, &scope, &k).await? else {
                continue;
            };
            let context = format!("{scope}:{k}");
            let recorded = match (row.status, row.response.as_deref()) {
                (Some(status), Some(sealed)) => match seal::open(&key, &context, sealed) {
                    Some(body) => Recorded::Answered {
                        request_hash: row.request_hash.clone(),
                        status,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    },
                    None => Recorded::Unreadable {
                        request_hash: row.request_hash.clone(),
                    },
                },
                _ => Recorded::Running {
                    request_hash: row.request_hash.clone(),
                    started_ms: row.created_at,
                },
            };
            match decide(Some(&recorded), hash, now_millis()) {
                Ok(Decision::Reclaim) => db::drop_idempotency(db, &scope, &k, row.created_at).await?,
                Ok(Decision::Replay(status, body)) => {
                    decided = Some(Ok(Some((status, body))));
                    break;
                }
                Ok(Decision::Proceed) => {}
                Err(e) => {
                    decided = Some(Err(e));
                    break;
                }
            }
        }
        match decided {
            Some(Ok(None)) => claimed.push((scope, k)),
            Some(Ok(Some((status, body)))) => {
                release(db, &claimed).await;
                let headers = Headers::new();
                headers.set("content-type", "application/json").map_err(internal)?;
                headers.set("idempotent-replayed", "true").map_err(internal)?;
                return Ok(Begin::Replay(
                    Response::ok(body)
                        .map_err(internal)?
                        .with_status(status)
                        .with_headers(headers),
                ));
            }
            Some(Err(e)) => {
                release(db, &claimed).await;
                return Err(e);
            }
            // Lost both races for this key: another request holds it right now.
            None => {
                release(db, &claimed).await;
                return Err(ApiError::new(ErrorCode::IdempotencyInProgress));
            }
        }
    }
    Ok(Begin::Proceed(claimed))
}

async fn release(db: &D1Database, claimed: &[(String, String)]) {
    for (scope, key) in claimed {
        let _ = db::release_idempotency(db, scope, key).await;
    }
}

/// Records the answer under every claimed key (client errors too: a replay gets the same
/// refusal), or releases the keys after a server error so a retry can act.
async fn finish(
    env: &Env,
    db: &D1Database,
    claimed: Vec<(String, String)>,
    result: ApiResult<(u16, Value)>,
) -> ApiResult<Response> {
    let (status, body) = match result {
        Ok(ok) => ok,
        Err(e) if is_final(e.status()) => (e.status(), serde_json::to_value(e.to_body()).map_err(internal)?),
        Err(e) => {
            release(db, &claimed).await;
            return Err(e);
        }
    };
    if !is_final(status) {
        release(db, &claimed).await;
        return json_response(status, &body).map_err(internal);
    }
    let text = body.to_string();
    let key = seal_key(env, "idempotency")?;
    for (scope, k) in &claimed {
        let sealed = seal::seal(&key, &random_bytes()?, &format!("{scope}:{k}"), text.as_bytes());
        db::finish_idempotency(db, scope, k, status, &sealed).await?;
    }
    json_response(status, &body).map_err(internal)
}

fn tier_fields(tier: &jetty_shared::quota::Tier) -> Value {
    json!({
        "tier": tier.tier,
        "storage_quota_gb": tier.storage_quota_bytes / GB,
        "bandwidth_quota_gb": tier.bandwidth_quota_bytes / GB,
        "jetty_speed_enabled": tier.jetty_speed_enabled,
    })
}

/// Vendor side: `POST /api/agentcache/provision`.
pub async fn vendor_provision(req: &mut Request, env: &Env, db: &D1Database) -> ApiResult<Response> {
    let (delivery, body) = verified_webhook(req, env, "VENDOR_WEBHOOK_SECRET").await?;
    let keys = guard_keys(req, "vendor-provision", &delivery)?;
    let claimed = match begin(env, db, keys, &request_hash("POST", "/api/agentcache/provision", &body)).await? {
        Begin::Replay(resp) => return Ok(resp),
        Begin::Proceed(claimed) => claimed,
    };
    let result = provision_account(env, db, &body).await;
    finish(env, db, claimed, result).await
}

async fn provision_account(env: &Env, db: &D1Database, body: &[u8]) -> ApiResult<(u16, Value)> {
    let p: ProvisionRequest = parse_json(body)?;
    check_user_id(&p.user_id)?;
    check_email(&p.email)?;
    let tier = db::tier(db, &p.tier)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::UnknownTier))?;
    let bucket = var_or(env, "S3_BUCKET", "");
    let existing_answer = |account: db::ProvisionedAccount, actual: Option<jetty_shared::quota::Tier>| {
        let mut credentials = tier_fields(actual.as_ref().unwrap_or(&tier));
        credentials["s3_bucket"] = json!(bucket);
        credentials["s3_prefix"] = json!(account.s3_prefix);
        credentials["provisioned_at"] = json!(account.provisioned_at.map(|ms| iso8601(ms / 1000)));
        credentials["tier"] = json!(account.tier);
        (
            200,
            json!({
                "success": true,
                "message": "storage account already provisioned; its credentials were issued at the first provisioning",
                "account_id": account.id,
                "credentials": credentials,
            }),
        )
    };
    if let Some(account) = db::account_by_external_user(db, &p.user_id).await? {
        let actual = db::tier(db, &account.tier).await?;
        return Ok(existing_answer(account, actual));
    }
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let api_key = format!("jt_live_{}", b64.encode(random_bytes::<32>()?));
    let api_secret = format!("secret_{}", b64.encode(random_bytes::<32>()?));
    let account_id = new_id("acc", &random_bytes()?);
    let prefix = format!("users/{}/", p.user_id);
    let now = now_millis();
    let created = db::insert_provisioned_account(
        db,
        &db::NewAccount {
            id: &account_id,
            user_id: &p.user_id,
            email: &p.email,
            tier: &tier.tier,
            s3_prefix: &prefix,
            key_hash: &api_key_hash(&api_key),
            secret_hash: &api_key_hash(&api_secret),
            now,
        },
    )
    .await?;
    if !created {
        // A concurrent provisioning of the same user won; answer with its account.
        let account = db::account_by_external_user(db, &p.user_id)
            .await?
            .ok_or_else(|| internal("account vanished"))?;
        let actual = db::tier(db, &account.tier).await?;
        return Ok(existing_answer(account, actual));
    }
    let mut credentials = tier_fields(&tier);
    credentials["api_key"] = json!(api_key);
    credentials["api_secret"] = json!(api_secret);
    credentials["s3_bucket"] = json!(bucket);
    credentials["s3_prefix"] = json!(prefix);
    credentials["provisioned_at"] = json!(iso8601(now / 1000));
    Ok((
        201,
        json!({
            "success": true,
            "message": "JettyThunder storage account created",
            "account_id": account_id,
            "credentials": credentials,
        }),
    ))
}

/// Vendor side: `POST /api/agentcache/upgrade`.
pub async fn vendor_upgrade(req: &mut Request, env: &Env, db: &D1Database) -> ApiResult<Response> {
    let (delivery, body) = verified_webhook(req, env, "VENDOR_WEBHOOK_SECRET").await?;
    let keys = guard_keys(req, "vendor-upgrade", &delivery)?;
    let claimed = match begin(env, db, keys, &request_hash("POST", "/api/agentcache/upgrade", &body)).await? {
        Begin::Replay(resp) => return Ok(resp),
        Begin::Proceed(claimed) => claimed,
    };
    let result = async {
        let u: UpgradeRequest = parse_json(&body)?;
        check_user_id(&u.agentcache_user_id)?;
        let tier = db::tier(db, &u.tier)
            .await?
            .ok_or_else(|| ApiError::new(ErrorCode::UnknownTier))?;
        if !db::set_tier(db, &u.agentcache_user_id, &tier.tier).await? {
            return Err(ApiError::with_message(
                ErrorCode::NotFound,
                "no storage account for that user",
            ));
        }
        let mut answer = tier_fields(&tier);
        answer["success"] = json!(true);
        Ok((200, answer))
    }
    .await;
    finish(env, db, claimed, result).await
}

/// Platform side: `POST /api/webhooks/jettythunder/provision`. Asks the vendor to provision
/// (signed, with an Idempotency-Key per user, so retries never create a second account) and
/// caches the credentials, sealed, for 30 days.
pub async fn platform_provision(req: &mut Request, env: &Env, db: &D1Database) -> ApiResult<Response> {
    let (delivery, body) = verified_webhook(req, env, "INTERNAL_WEBHOOK_SECRET").await?;
    let keys = guard_keys(req, "platform-provision", &delivery)?;
    let claimed = match begin(
        env,
        db,
        keys,
        &request_hash("POST", "/api/webhooks/jettythunder/provision", &body),
    )
    .await?
    {
        Begin::Replay(resp) => return Ok(resp),
        Begin::Proceed(claimed) => claimed,
    };
    let result = provision_with_vendor(env, &body).await;
    finish(env, db, claimed, result).await
}

async fn provision_with_vendor(env: &Env, body: &[u8]) -> ApiResult<(u16, Value)> {
    let p: ProvisionRequest = parse_json(body)?;
    check_user_id(&p.user_id)?;
    check_email(&p.email)?;
    let cache_key = format!("credentials:{}", p.user_id);
    let seal_key = seal_key(env, "credential-cache")?;
    let kv = env.kv("KV").map_err(internal)?;
    if let Ok(Some(sealed)) = kv.get(&cache_key).text().await {
        if let Some(credentials) =
            seal::open(&seal_key, &cache_key, &sealed).and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        {
            return Ok((
                200,
                json!({"success": true, "message": "JettyThunder storage account already provisioned", "credentials": credentials}),
            ));
        }
    }

    let vendor_secret = WebhookSecret::parse_list(&secret(env, "VENDOR_WEBHOOK_SECRET")?)
        .into_iter()
        .next()
        .ok_or_else(|| internal("VENDOR_WEBHOOK_SECRET has no usable secret"))?;
    let payload = json!({"user_id": p.user_id, "email": p.email, "tier": p.tier}).to_string();
    let signed = webhook::sign(
        &vendor_secret,
        &new_id("msg", &random_bytes()?),
        now_secs(),
        payload.as_bytes(),
    );
    let headers = Headers::new();
    for (k, v) in [
        ("content-type", "application/json"),
        (webhook::ID_HEADER, signed.id.as_str()),
        (webhook::TIMESTAMP_HEADER, signed.timestamp.as_str()),
        (webhook::SIGNATURE_HEADER, signed.signature.as_str()),
        ("idempotency-key", &format!("provision-{}", p.user_id)),
    ] {
        headers.set(k, v).map_err(internal)?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(payload.into()));
    let url = format!("{}/provision", var_or(env, "VENDOR_API_URL", "").trim_end_matches('/'));
    let request = Request::new_with_init(&url, &init).map_err(internal)?;
    let mut resp = worker::Fetch::Request(request)
        .send()
        .await
        .map_err(|e| storage_failure(format!("vendor unreachable: {e}")))?;
    let status = resp.status_code();
    let answer: Value = resp
        .json()
        .await
        .map_err(|_| storage_failure(format!("vendor answered {status} without JSON")))?;
    if !(200..300).contains(&status) {
        // Pass the vendor's own refusal through (bad tier, bad email); hide its failures.
        return match answer["error"]["code"].as_str().and_then(ErrorCode::from_wire) {
            Some(code) if status < 500 => Err(ApiError::with_message(
                code,
                answer["error"]["message"].as_str().unwrap_or_default(),
            )),
            _ => Err(storage_failure(format!("vendor provisioning failed with {status}"))),
        };
    }
    let credentials = answer["credentials"].clone();
    if credentials["api_key"].is_string() {
        let sealed = seal::seal(
            &seal_key,
            &random_bytes()?,
            &cache_key,
            credentials.to_string().as_bytes(),
        );
        if let Ok(put) = kv.put(&cache_key, sealed) {
            let _ = put.expiration_ttl(CREDENTIAL_CACHE_TTL_SECS).execute().await;
        }
    }
    let message = answer["message"]
        .as_str()
        .unwrap_or("JettyThunder storage account created")
        .to_owned();
    Ok((
        200,
        json!({"success": true, "message": message, "credentials": credentials}),
    ))
}

/// `GET /api/agentcache/quota`: the seed's answer, from real usage.
pub async fn quota(db: &D1Database, account: &db::Account) -> ApiResult<Response> {
    let tier = account.tier();
    let now = now_millis();
    let storage = db::storage_use(db, &account.id, now).await?;
    let period = jetty_shared::quota::billing_period(now / 1000);
    let bandwidth = db::bandwidth_used(db, &account.id, &period).await?;
    let answer = json!({
        "storage": quota_line(storage.stored, tier.storage_quota_bytes),
        "storage_in_progress_bytes": storage.reserved,
        "bandwidth": quota_line(bandwidth, tier.bandwidth_quota_bytes),
        "bandwidth_period": period,
        "tier": tier.tier,
        "jetty_speed_enabled": tier.jetty_speed_enabled,
    });
    json_response(200, &answer).map_err(internal)
}

/// `POST /api/storage/upload`: a small file in one request (raw body, `X-Filename`), on the
/// same S3 path and quota as multi-edge uploads; available to tiers without JettySpeed.
pub async fn simple_upload(
    req: &mut Request,
    env: &Env,
    db: &D1Database,
    account: &db::Account,
    origin: &str,
) -> ApiResult<Response> {
    let name = header(req, "x-filename")
        .filter(|n| (1..=255).contains(&n.len()) && !n.chars().any(char::is_control) && !n.contains('/'))
        .ok_or_else(|| {
            ApiError::with_message(
                ErrorCode::InvalidRequest,
                "X-Filename must name the file (1-255 characters, no '/')",
            )
        })?;
    let declared = header(req, "content-type").filter(|c| {
        c.len() <= 255 && c.is_ascii() && !c.chars().any(|ch| ch.is_ascii_control()) && c != "application/octet-stream"
    });
    let content_type = jetty_shared::download::content_type_for(declared.as_deref(), Some(&name));
    let len: u64 = header(req, "content-length")
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| ApiError::new(ErrorCode::LengthRequired))?;
    if len > SIMPLE_UPLOAD_LIMIT {
        return Err(ApiError::with_message(
            ErrorCode::PayloadTooLarge,
            format!(
                "single-request uploads take at most {SIMPLE_UPLOAD_LIMIT} bytes; use jetty upload for larger files"
            ),
        ));
    }
    let tier = account.tier();
    let now = now_millis();
    check_storage(&tier, db::storage_use(db, &account.id, now).await?, len)?;
    let body = read_body(req, SIMPLE_UPLOAD_LIMIT as usize).await?;
    if body.len() as u64 != len {
        return Err(ApiError::new(ErrorCode::ChunkSizeMismatch));
    }
    let digest = Sha256Digest::of(&body);
    if let Some(declared) = header(req, "x-content-sha256") {
        if Sha256Digest::parse(&declared)? != digest {
            return Err(ApiError::new(ErrorCode::ChunkHashMismatch));
        }
    }

    // Reserve through a session (atomic quota check), store, then complete it into a file.
    let session_id = new_id("ses", &random_bytes()?);
    let file_id = new_id("fil", &random_bytes()?);
    let object_key = format!("{}files/{file_id}", account.prefix());
    let plan = PartPlan {
        file_size: len,
        part_size: S3_MIN_PART_SIZE.max(len),
        part_count: u32::from(len > 0),
    };
    let session = db::NewSession {
        id: &session_id,
        account_id: &account.id,
        file_id: &file_id,
        file_name: Some(&name),
        content_type: &content_type,
        file_hash_hex: &digest.to_hex(),
        plan,
        threads: 1,
        object_key: &object_key,
        s3_upload_id: "",
        edges_used_json: "[]",
        created_at: now,
        expires_at: now + 3600 * 1000,
        estimated_seconds: None,
        estimated_cost: transfer_cost(env, len),
        price_per_gb: price_per_gb(env),
    };
    if !db::insert_session_within_quota(db, &session, tier.storage_quota_bytes).await? {
        check_storage(&tier, db::storage_use(db, &account.id, now).await?, len)?;
        return Err(ApiError::new(ErrorCode::StorageQuotaExceeded));
    }
    let s3 = s3_from_env(env)?;
    let put = s3.put_object(&object_key, &content_type, body, now_system_time())?;
    let resp = send_signed(&put, None).await?;
    if resp.status_code() != 200 {
        let (status, code) = s3_error(resp, "PutObject").await;
        let _ = db::close_session(db, &session_id, "aborted", "storage_error", now_millis()).await;
        return Err(storage_failure(format!("PutObject: {status} {code}")));
    }
    let row = db::session_by_id(db, &session_id)
        .await?
        .ok_or_else(|| internal("session vanished"))?;
    db::complete_session(db, &row, now_millis(), len).await?;
    let answer = json!({
        "success": true,
        "asset": {
            "id": file_id,
            "url": file_url(origin, &file_id),
            "key": object_key,
            "size": len,
            "hash": digest.to_hex(),
            "name": name,
            "content_type": content_type,
        }
    });
    json_response(201, &answer).map_err(internal)
}

/// `POST /api/agentcache/rotate-key` with `Authorization: Bearer <api_secret>`: revokes the
/// account's API keys and issues a new one (shown once).
pub async fn rotate_key(req: &Request, db: &D1Database) -> ApiResult<Response> {
    let secret_value = header(req, "authorization")
        .and_then(|h| bearer(&h).map(str::to_owned))
        .ok_or_else(|| ApiError::new(ErrorCode::MissingApiKey))?;
    let account = db::account_for_credential(db, &api_key_hash(&secret_value), "secret")
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidApiKey))?;
    use base64::Engine;
    let api_key = format!(
        "jt_live_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()?)
    );
    let now = now_millis();
    db::revoke_keys(db, &account.id, now).await?;
    db::insert_credential(db, &account.id, &api_key_hash(&api_key), "key", now).await?;
    json_response(200, &json!({"success": true, "api_key": api_key})).map_err(internal)
}
