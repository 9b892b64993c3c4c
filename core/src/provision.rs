//! Accounts: idempotent webhook handling (replayed deliveries and `Idempotency-Key`), the
//! vendor side of provisioning, tier upgrades and key rotation. Credentials are shown once and
//! stored hashed; answers that must be repeated are sealed with AES-256-GCM at rest.

use crate::db::{AccountStore, CredentialKind, IdempotencyStore, NewAccount, ProvisionedAccount};
use crate::ports::{Core, Runtime};
use crate::{internal, Result};
use jetty_shared::auth::api_key_hash;
use jetty_shared::idempotency::{decide, is_final, Decision, Recorded};
use jetty_shared::provision::{check_email, check_user_id};
use jetty_shared::quota::{Tier, GB};
use jetty_shared::seal;
use jetty_shared::state::iso8601;
use jetty_shared::{ApiError, ErrorCode};
use serde_json::{json, Value};

/// The idempotency scope of an endpoint's `Idempotency-Key`s.
pub fn key_scope(endpoint: &str) -> String {
    format!("idem:{endpoint}")
}

/// The scope of the vendor's provisioning endpoint (`key_scope("vendor-provision")`).
pub const VENDOR_PROVISION_SCOPE: &str = "idem:vendor-provision";

/// The `Idempotency-Key` the platform provisions a user with, for this request body: a retry
/// replays the first answer (until the credentials or the tier change); a changed request
/// (another email or tier) is a new request, answered with the existing account.
pub fn provision_idempotency_key(user_id: &str, body: &[u8]) -> String {
    let digest = jetty_shared::hash::Sha256Digest::of(body).to_hex();
    format!("{}{}", provision_key_prefix(user_id), &digest[..16])
}

/// What every provisioning key of a user starts with.
pub fn provision_key_prefix(user_id: &str) -> String {
    format!("provision-{user_id}:")
}

/// A short, non-secret fingerprint of an API key (from its stored SHA-256): lets the platform
/// check that the key it cached is still the account's current one.
pub fn key_fingerprint(key_hash_hex: &str) -> String {
    key_hash_hex.chars().take(16).collect()
}

/// A (scope, key) record guarding a request.
pub type GuardKey = (String, String);

/// What a guarded request does after `begin`.
#[derive(Debug, Clone, PartialEq)]
pub enum Begin {
    /// First time: act, then `finish` with these claimed keys.
    Proceed(Vec<GuardKey>),
    /// Seen before: answer with the first answer (status, JSON body).
    Replay(u16, String),
}

/// What the platform does with its cached credentials after asking the vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheAction {
    /// Cache these credentials (they carry a key).
    Store,
    /// The cached key is no longer the account's (rotated): forget it.
    Forget,
    /// Nothing cached and nothing to cache.
    Nothing,
}

/// The platform's answer from the vendor's fresh answer and what it cached: a new key is cached
/// as is; an existing account's answer (no key) keeps the cached key only while its fingerprint
/// is the account's current key's, with the vendor's current tier and quotas.
pub fn reconcile_credentials(cached: Option<&Value>, fresh: &Value) -> (Value, CacheAction, &'static str) {
    if fresh["api_key"].is_string() {
        return (
            fresh.clone(),
            CacheAction::Store,
            "JettyThunder storage account created",
        );
    }
    let Some(cached) = cached.filter(|c| c["api_key"].is_string()) else {
        return (
            fresh.clone(),
            CacheAction::Nothing,
            "JettyThunder storage account already provisioned",
        );
    };
    let cached_fingerprint = cached["api_key"].as_str().map(|k| key_fingerprint(&api_key_hash(k)));
    if cached_fingerprint.as_deref() != fresh["key_fingerprint"].as_str() {
        return (
            fresh.clone(),
            CacheAction::Forget,
            "JettyThunder storage account already provisioned; its API key was rotated, so only the new key's holder has it",
        );
    }
    let mut merged = cached.clone();
    if let (Some(merged), Some(fresh)) = (merged.as_object_mut(), fresh.as_object()) {
        for (k, v) in fresh {
            merged.insert(k.clone(), v.clone());
        }
    }
    (
        merged,
        CacheAction::Store,
        "JettyThunder storage account already provisioned",
    )
}

fn tier_fields(tier: &Tier) -> Value {
    json!({
        "tier": tier.tier,
        "storage_quota_gb": tier.storage_quota_bytes / GB,
        "bandwidth_quota_gb": tier.bandwidth_quota_bytes / GB,
        "jetty_speed_enabled": tier.jetty_speed_enabled,
    })
}

impl<D: IdempotencyStore, O, K, R: Runtime> Core<D, O, K, R> {
    /// The key sealing stored answers of `purpose`, derived from the token secret.
    pub fn seal_key(&self, purpose: &str) -> [u8; 32] {
        seal::derive_key(self.settings.token_secret.expose().as_bytes(), purpose)
    }

    /// Claims every guard key of a request, or finds the answer to replay, or refuses
    /// (`idempotency_key_reused`, `idempotency_in_progress`). Keys claimed before a refusal
    /// are released.
    pub async fn begin(&self, keys: Vec<GuardKey>, request_hash: &str) -> Result<Begin> {
        let key = self.seal_key("idempotency");
        let mut claimed: Vec<GuardKey> = Vec::new();
        for (scope, k) in keys {
            let decided = self.claim_one(&key, &scope, &k, request_hash).await;
            match decided {
                Ok(Some(None)) => claimed.push((scope, k)),
                Ok(Some(Some((status, body)))) => {
                    self.release(&claimed).await;
                    return Ok(Begin::Replay(status, body));
                }
                Err(e) => {
                    self.release(&claimed).await;
                    return Err(e);
                }
                // Lost both races for this key: another request holds it right now.
                Ok(None) => {
                    self.release(&claimed).await;
                    return Err(ApiError::new(ErrorCode::IdempotencyInProgress));
                }
            }
        }
        Ok(Begin::Proceed(claimed))
    }

    /// One key: `Some(None)` claimed, `Some(Some(answer))` to replay, `None` held by another.
    async fn claim_one(
        &self,
        seal_key: &[u8; 32],
        scope: &str,
        k: &str,
        hash: &str,
    ) -> Result<Option<Option<(u16, String)>>> {
        // At most two rounds: a first claim, and one more after dropping an abandoned record.
        for _ in 0..2 {
            if self.db.claim_idempotency(scope, k, hash, self.rt.now_ms()).await? {
                return Ok(Some(None));
            }
            let Some(row) = self.db.idempotency_record(scope, k).await? else {
                continue;
            };
            let context = format!("{scope}:{k}");
            let recorded = match (row.status, row.response.as_deref()) {
                (Some(status), Some(sealed)) => match seal::open(seal_key, &context, sealed) {
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
            match decide(Some(&recorded), hash, self.rt.now_ms())? {
                Decision::Reclaim => self.db.drop_idempotency(scope, k, row.created_at).await?,
                Decision::Replay(status, body) => return Ok(Some(Some((status, body)))),
                Decision::Proceed => {}
            }
        }
        Ok(None)
    }

    async fn release(&self, claimed: &[GuardKey]) {
        for (scope, key) in claimed {
            let _ = self.db.release_idempotency(scope, key).await;
        }
    }

    /// Records the answer under every claimed key (client errors too: a replay gets the same
    /// refusal), or releases the keys after a server error so a retry can act.
    pub async fn finish(&self, claimed: Vec<GuardKey>, result: Result<(u16, Value)>) -> Result<(u16, Value)> {
        let (status, body) = match result {
            Ok(ok) => ok,
            Err(e) if is_final(e.status()) => (e.status(), serde_json::to_value(e.to_body()).map_err(internal)?),
            Err(e) => {
                self.release(&claimed).await;
                return Err(e);
            }
        };
        if !is_final(status) {
            self.release(&claimed).await;
            return Ok((status, body));
        }
        let text = body.to_string();
        let key = self.seal_key("idempotency");
        for (scope, k) in &claimed {
            let sealed = seal::seal(&key, &self.random()?, &format!("{scope}:{k}"), text.as_bytes());
            self.db.finish_idempotency(scope, k, status, &sealed).await?;
        }
        Ok((status, body))
    }
}

impl<D: AccountStore + IdempotencyStore, O, K, R: Runtime> Core<D, O, K, R> {
    fn existing_answer(&self, account: ProvisionedAccount, tier: &Tier, key_hash: Option<String>) -> (u16, Value) {
        let mut credentials = tier_fields(tier);
        credentials["s3_bucket"] = json!(self.settings.s3_config.bucket);
        credentials["s3_prefix"] = json!(account.s3_prefix);
        credentials["provisioned_at"] = json!(account.provisioned_at.map(|ms| iso8601(ms / 1000)));
        credentials["tier"] = json!(account.tier);
        credentials["key_fingerprint"] = json!(key_hash.as_deref().map(key_fingerprint));
        (
            200,
            json!({
                "success": true,
                "message": "storage account already provisioned; its credentials were issued at the first provisioning",
                "account_id": account.id,
                "credentials": credentials,
            }),
        )
    }

    async fn answer_for_existing(&self, account: ProvisionedAccount, requested: &Tier) -> Result<(u16, Value)> {
        let actual = self.db.tier(&account.tier).await?;
        let key_hash = self.db.newest_key_hash(&account.id).await?;
        Ok(self.existing_answer(account, actual.as_ref().unwrap_or(requested), key_hash))
    }

    fn new_credential(&self, prefix: &str) -> Result<String> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        Ok(format!("{prefix}{}", b64.encode(self.random::<32>()?)))
    }

    /// Vendor side: one account per platform user (a unique index), with an API key and an
    /// API secret shown once (201), or the existing account without them (200).
    pub async fn provision_account(&self, user_id: &str, email: &str, tier: &str) -> Result<(u16, Value)> {
        check_user_id(user_id)?;
        check_email(email)?;
        let tier = self
            .db
            .tier(tier)
            .await?
            .ok_or_else(|| ApiError::new(ErrorCode::UnknownTier))?;
        if let Some(account) = self.db.account_by_external_user(user_id).await? {
            return self.answer_for_existing(account, &tier).await;
        }
        let api_key = self.new_credential("jt_live_")?;
        let api_secret = self.new_credential("secret_")?;
        let account_id = self.new_id("acc")?;
        let prefix = format!("users/{user_id}/");
        let now = self.rt.now_ms();
        let created = self
            .db
            .insert_provisioned_account(&NewAccount {
                id: &account_id,
                user_id,
                email,
                tier: &tier.tier,
                s3_prefix: &prefix,
                key_hash: &api_key_hash(&api_key),
                secret_hash: &api_key_hash(&api_secret),
                now,
            })
            .await?;
        if !created {
            // A concurrent provisioning of the same user won; answer with its account.
            let account = self
                .db
                .account_by_external_user(user_id)
                .await?
                .ok_or_else(|| internal("account vanished"))?;
            return self.answer_for_existing(account, &tier).await;
        }
        let mut credentials = tier_fields(&tier);
        credentials["api_key"] = json!(api_key);
        credentials["api_secret"] = json!(api_secret);
        credentials["s3_bucket"] = json!(self.settings.s3_config.bucket);
        credentials["s3_prefix"] = json!(prefix);
        credentials["provisioned_at"] = json!(iso8601(now / 1000));
        credentials["key_fingerprint"] = json!(key_fingerprint(&api_key_hash(&api_key)));
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

    /// Vendor side: changes a user's tier (and so its quotas) at once.
    pub async fn upgrade(&self, user_id: &str, tier: &str) -> Result<(u16, Value)> {
        check_user_id(user_id)?;
        let tier = self
            .db
            .tier(tier)
            .await?
            .ok_or_else(|| ApiError::new(ErrorCode::UnknownTier))?;
        if !self.db.set_tier(user_id, &tier.tier).await? {
            return Err(ApiError::with_message(
                ErrorCode::NotFound,
                "no storage account for that user",
            ));
        }
        // A stored provisioning answer now names the old tier: the next one is made afresh.
        self.db
            .forget_idempotency(VENDOR_PROVISION_SCOPE, &provision_key_prefix(user_id))
            .await?;
        let mut answer = tier_fields(&tier);
        answer["success"] = json!(true);
        Ok((200, answer))
    }

    /// Revokes the API keys of the account holding this API secret and issues a new key.
    pub async fn rotate_key(&self, api_secret: &str) -> Result<String> {
        let account = self
            .db
            .account_for_credential(&api_key_hash(api_secret), CredentialKind::Secret)
            .await?
            .ok_or_else(|| ApiError::new(ErrorCode::InvalidApiKey))?;
        let api_key = self.new_credential("jt_live_")?;
        let now = self.rt.now_ms();
        self.db.revoke_keys(&account.id, now).await?;
        self.db
            .insert_credential(&account.id, &api_key_hash(&api_key), CredentialKind::Key, now)
            .await?;
        // A stored provisioning answer now holds a revoked key: the next one is made afresh.
        if let Some(user) = self.db.external_user(&account.id).await? {
            self.db
                .forget_idempotency(VENDOR_PROVISION_SCOPE, &provision_key_prefix(&user))
                .await?;
        }
        Ok(api_key)
    }
}
