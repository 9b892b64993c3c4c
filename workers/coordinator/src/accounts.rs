//! Accounts: the platform → vendor provisioning contract (both sides, Standard Webhooks
//! signatures, replay protection and `Idempotency-Key`), tier upgrades, the quota report,
//! single-request uploads of small files, and key rotation.
//!
//! Credentials are shown once and stored hashed. Answers that must be repeated (idempotent
//! replays, the platform's 30-day credential cache) are sealed with AES-256-GCM at rest.

use crate::world::Coordinator;
use jetty_core::db::{Account, SessionStore};
use jetty_core::provision::{provision_idempotency_key, reconcile_credentials, Begin, CacheAction, GuardKey};
use jetty_core::upload::{check_content_type, file_url, SIMPLE_UPLOAD_LIMIT};
use jetty_core::KvCache;
use jetty_core::Runtime;
use jetty_shared::auth::{bearer, new_id};
use jetty_shared::hash::Sha256Digest;
use jetty_shared::idempotency::{request_hash, valid_key};
use jetty_shared::provision::{check_email, check_user_id};
use jetty_shared::quota::{check_storage, quota_line};
use jetty_shared::seal;
use jetty_shared::webhook::{self, WebhookSecret};
use jetty_shared::{ApiError, ErrorCode};
use jetty_worker_runtime::*;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Headers, Method, Request, RequestInit, Response};

const WEBHOOK_BODY_LIMIT: usize = 64 * 1024;
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

/// Reads and verifies a signed webhook delivery; returns (delivery id, body).
async fn verified_webhook(
    req: &mut Request,
    secrets: Result<Vec<WebhookSecret>, jetty_shared::config::ConfigError>,
) -> ApiResult<(String, Vec<u8>)> {
    let secrets = secrets.map_err(config_error)?;
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
fn guard_keys(req: &Request, endpoint: &str, delivery: &str) -> ApiResult<Vec<GuardKey>> {
    let mut keys = vec![(format!("webhook:{endpoint}"), delivery.to_owned())];
    if let Some(key) = header(req, "idempotency-key") {
        if !valid_key(&key) {
            return Err(ApiError::with_message(
                ErrorCode::InvalidRequest,
                "Idempotency-Key must be 1-255 printable characters",
            ));
        }
        keys.push((jetty_core::provision::key_scope(endpoint), key));
    }
    Ok(keys)
}

/// Runs a webhook request at most once: a replayed delivery or `Idempotency-Key` gets the
/// first answer (`idempotent-replayed: true`), a reused key with another body is refused.
async fn guarded<F>(core: &Coordinator, keys: Vec<GuardKey>, hash: &str, act: F) -> ApiResult<Response>
where
    F: std::future::Future<Output = ApiResult<(u16, Value)>>,
{
    let claimed = match core.begin(keys, hash).await? {
        Begin::Replay(status, body) => {
            let headers = Headers::new();
            headers.set("content-type", "application/json").map_err(internal)?;
            headers.set("idempotent-replayed", "true").map_err(internal)?;
            return Ok(Response::ok(body)
                .map_err(internal)?
                .with_status(status)
                .with_headers(headers));
        }
        Begin::Proceed(claimed) => claimed,
    };
    let (status, body) = core.finish(claimed, act.await).await?;
    json_response(status, &body).map_err(internal)
}

/// Vendor side: `POST /api/agentcache/provision`.
pub async fn vendor_provision(req: &mut Request, core: &Coordinator) -> ApiResult<Response> {
    let (delivery, body) = verified_webhook(req, core.settings.vendor_webhook_secrets()).await?;
    let keys = guard_keys(req, "vendor-provision", &delivery)?;
    let hash = request_hash("POST", "/api/agentcache/provision", &body);
    guarded(core, keys, &hash, async {
        let p: ProvisionRequest = parse_json(&body)?;
        core.provision_account(&p.user_id, &p.email, &p.tier).await
    })
    .await
}

/// Vendor side: `POST /api/agentcache/upgrade`.
pub async fn vendor_upgrade(req: &mut Request, core: &Coordinator) -> ApiResult<Response> {
    let (delivery, body) = verified_webhook(req, core.settings.vendor_webhook_secrets()).await?;
    let keys = guard_keys(req, "vendor-upgrade", &delivery)?;
    let hash = request_hash("POST", "/api/agentcache/upgrade", &body);
    guarded(core, keys, &hash, async {
        let u: UpgradeRequest = parse_json(&body)?;
        core.upgrade(&u.agentcache_user_id, &u.tier).await
    })
    .await
}

/// Platform side: `POST /api/webhooks/jettythunder/provision`. Asks the vendor to provision
/// (signed, with an Idempotency-Key per user, so retries never create a second account) and
/// caches the credentials, sealed, for 30 days.
pub async fn platform_provision(req: &mut Request, core: &Coordinator) -> ApiResult<Response> {
    let (delivery, body) = verified_webhook(req, core.settings.internal_webhook_secrets()).await?;
    let keys = guard_keys(req, "platform-provision", &delivery)?;
    let hash = request_hash("POST", "/api/webhooks/jettythunder/provision", &body);
    guarded(core, keys, &hash, provision_with_vendor(core, &body)).await
}

async fn provision_with_vendor(core: &Coordinator, body: &[u8]) -> ApiResult<(u16, Value)> {
    let p: ProvisionRequest = parse_json(body)?;
    check_user_id(&p.user_id)?;
    check_email(&p.email)?;
    let cache_key = format!("credentials:{}", p.user_id);
    let seal_key = core.seal_key("credential-cache");
    let cached = match KvCache::get(&core.kv, &cache_key).await {
        Some(sealed) => {
            seal::open(&seal_key, &cache_key, &sealed).and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        }
        None => None,
    };
    // The vendor is asked every time (its answer follows rotations and tier changes); the
    // cache answers only while the vendor cannot.
    let answer = match ask_vendor(core, &p).await {
        Ok(answer) => answer,
        Err(e) if e.status() >= 500 && cached.is_some() => {
            let credentials = cached.unwrap_or_default();
            let message = "JettyThunder storage account already provisioned (cached; the vendor is unreachable)";
            return Ok((
                200,
                json!({"success": true, "message": message, "credentials": credentials}),
            ));
        }
        Err(e) => return Err(e),
    };
    let (credentials, action, message) = reconcile_credentials(cached.as_ref(), &answer["credentials"]);
    match action {
        CacheAction::Store => {
            let sealed = seal::seal(
                &seal_key,
                &core.random()?,
                &cache_key,
                credentials.to_string().as_bytes(),
            );
            KvCache::put(&core.kv, &cache_key, &sealed, CREDENTIAL_CACHE_TTL_SECS).await;
        }
        CacheAction::Forget => KvCache::delete(&core.kv, &cache_key).await,
        CacheAction::Nothing => {}
    }
    Ok((
        200,
        json!({"success": true, "message": message, "credentials": credentials}),
    ))
}

/// The vendor's signed provisioning call, with the user's `Idempotency-Key`.
async fn ask_vendor(core: &Coordinator, p: &ProvisionRequest) -> ApiResult<Value> {
    let vendor_secret = core
        .settings
        .vendor_webhook_secrets()
        .map_err(config_error)?
        .into_iter()
        .next()
        .ok_or_else(|| internal("VENDOR_WEBHOOK_SECRET has no usable secret"))?;
    let payload = json!({"user_id": p.user_id, "email": p.email, "tier": p.tier}).to_string();
    let signed = webhook::sign(
        &vendor_secret,
        &new_id("msg", &core.random()?),
        core.rt.now_ms() / 1000,
        payload.as_bytes(),
    );
    let headers = Headers::new();
    for (k, v) in [
        ("content-type", "application/json"),
        (webhook::ID_HEADER, signed.id.as_str()),
        (webhook::TIMESTAMP_HEADER, signed.timestamp.as_str()),
        (webhook::SIGNATURE_HEADER, signed.signature.as_str()),
        (
            "idempotency-key",
            &provision_idempotency_key(&p.user_id, payload.as_bytes()),
        ),
    ] {
        headers.set(k, v).map_err(internal)?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(payload.into()));
    let url = format!("{}/provision", core.settings.vendor_api_url().map_err(config_error)?);
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
    Ok(answer)
}

/// `GET /api/agentcache/quota`: the seed's answer, from real usage.
pub async fn quota(core: &Coordinator, account: &Account) -> ApiResult<Response> {
    use jetty_core::db::AccountStore;
    let tier = account.tier();
    let now = core.rt.now_ms();
    let storage = core.db.storage_use(&account.id, now).await?;
    let period = jetty_shared::quota::billing_period(now / 1000);
    let bandwidth = core.db.bandwidth_used(&account.id, &period).await?;
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
    core: &Coordinator,
    account: &Account,
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
    let declared =
        header(req, "content-type").filter(|c| check_content_type(c).is_ok() && c != "application/octet-stream");
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
    // Refused before the body is read when it cannot fit.
    check_storage(
        &account.tier(),
        core.db.storage_use(&account.id, core.rt.now_ms()).await?,
        len,
    )?;
    let body = read_body(req, SIMPLE_UPLOAD_LIMIT as usize).await?;
    if body.len() as u64 != len {
        return Err(ApiError::new(ErrorCode::ChunkSizeMismatch));
    }
    let declared_hash = header(req, "x-content-sha256")
        .map(|h| Sha256Digest::parse(&h))
        .transpose()?;
    let stored = core
        .store_small_file(account, &name, &content_type, body, declared_hash)
        .await?;
    let answer = json!({
        "success": true,
        "asset": {
            "id": stored.file_id,
            "url": file_url(origin, &stored.file_id),
            "key": stored.object_key,
            "size": stored.size,
            "hash": stored.sha256.to_hex(),
            "name": name,
            "content_type": stored.content_type,
        }
    });
    json_response(201, &answer).map_err(internal)
}

/// `POST /api/agentcache/rotate-key` with `Authorization: Bearer <api_secret>`: revokes the
/// account's API keys and issues a new one (shown once).
pub async fn rotate_key(req: &Request, core: &Coordinator) -> ApiResult<Response> {
    let secret_value = header(req, "authorization")
        .and_then(|h| bearer(&h).map(str::to_owned))
        .ok_or_else(|| ApiError::new(ErrorCode::MissingApiKey))?;
    let api_key = core.rotate_key(&secret_value).await?;
    json_response(200, &json!({"success": true, "api_key": api_key})).map_err(internal)
}
