//! Accounts, credentials, tiers and bandwidth usage.

use super::Database;
use crate::{stmt, Result};
use jetty_shared::quota::Tier;
use jetty_shared::sql::accounts as q;
use serde::Deserialize;

/// An account with its tier's limits.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Account {
    pub id: String,
    pub tier: String,
    pub s3_prefix: Option<String>,
    pub storage_quota_bytes: u64,
    pub bandwidth_quota_bytes: u64,
    pub jetty_speed_enabled: i64,
}

impl Account {
    pub fn tier(&self) -> Tier {
        Tier {
            tier: self.tier.clone(),
            storage_quota_bytes: self.storage_quota_bytes,
            bandwidth_quota_bytes: self.bandwidth_quota_bytes,
            jetty_speed_enabled: self.jetty_speed_enabled != 0,
        }
    }

    /// Where the account's objects live in the bucket (`users/<id>/` for provisioned ones).
    pub fn prefix(&self) -> String {
        self.s3_prefix
            .clone()
            .unwrap_or_else(|| format!("accounts/{}/", self.id))
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ProvisionedAccount {
    pub id: String,
    pub tier: String,
    pub s3_prefix: Option<String>,
    pub provisioned_at: Option<u64>,
}

pub struct NewAccount<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub email: &'a str,
    pub tier: &'a str,
    pub s3_prefix: &'a str,
    pub key_hash: &'a str,
    pub secret_hash: &'a str,
    pub now: u64,
}

/// A credential's kind: the bearer API key, or the secret that only rotates keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    Key,
    Secret,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Key => "key",
            CredentialKind::Secret => "secret",
        }
    }
}

pub trait AccountStore: Database {
    /// The account of an unrevoked credential, looked up by its hash.
    async fn account_for_credential(&self, hash: &str, kind: CredentialKind) -> Result<Option<Account>> {
        self.first(stmt!(q::ACCOUNT_FOR_CREDENTIAL, hash, kind.as_str())).await
    }

    async fn tier(&self, name: &str) -> Result<Option<Tier>> {
        #[derive(Deserialize)]
        struct Row {
            tier: String,
            storage_quota_bytes: u64,
            bandwidth_quota_bytes: u64,
            jetty_speed_enabled: i64,
        }
        let row: Option<Row> = self.first(stmt!(q::TIER, name)).await?;
        Ok(row.map(|r| Tier {
            tier: r.tier,
            storage_quota_bytes: r.storage_quota_bytes,
            bandwidth_quota_bytes: r.bandwidth_quota_bytes,
            jetty_speed_enabled: r.jetty_speed_enabled != 0,
        }))
    }

    async fn account_by_external_user(&self, user_id: &str) -> Result<Option<ProvisionedAccount>> {
        self.first(stmt!(q::BY_EXTERNAL_USER, user_id)).await
    }

    /// Creates the account with its key and secret in one transaction; false if the platform
    /// user already has an account (the credential rows are conditional on this call's fresh
    /// account id, so a lost race inserts nothing).
    async fn insert_provisioned_account(&self, a: &NewAccount<'_>) -> Result<bool> {
        let account = stmt!(
            q::INSERT_PROVISIONED,
            a.id,
            a.user_id,
            a.tier,
            a.now,
            a.email,
            a.s3_prefix
        );
        let credential =
            |hash: &str, kind: CredentialKind| stmt!(q::INSERT_CREDENTIAL_IF_ACCOUNT, hash, a.id, kind.as_str(), a.now);
        let changed = self
            .batch(vec![
                account,
                credential(a.key_hash, CredentialKind::Key),
                credential(a.secret_hash, CredentialKind::Secret),
            ])
            .await?;
        Ok(changed.first().copied().unwrap_or(0) > 0)
    }

    async fn insert_credential(&self, account_id: &str, hash: &str, kind: CredentialKind, now: u64) -> Result<()> {
        self.execute(stmt!(q::INSERT_CREDENTIAL, hash, account_id, kind.as_str(), now))
            .await?;
        Ok(())
    }

    /// Revokes every bearer key of the account (its secret stays).
    async fn revoke_keys(&self, account_id: &str, now: u64) -> Result<()> {
        self.execute(stmt!(q::REVOKE_KEYS, account_id, now)).await?;
        Ok(())
    }

    async fn set_tier(&self, user_id: &str, tier: &str) -> Result<bool> {
        Ok(self.execute(stmt!(q::SET_TIER, user_id, tier)).await? > 0)
    }

    /// The hash of the account's newest unrevoked API key.
    async fn newest_key_hash(&self, account_id: &str) -> Result<Option<String>> {
        #[derive(Deserialize)]
        struct Row {
            key_hash: String,
        }
        let row: Option<Row> = self.first(stmt!(q::NEWEST_KEY_HASH, account_id)).await?;
        Ok(row.map(|r| r.key_hash))
    }

    /// The platform user an account was provisioned for, if any.
    async fn external_user(&self, account_id: &str) -> Result<Option<String>> {
        #[derive(Deserialize)]
        struct Row {
            external_user_id: Option<String>,
        }
        let row: Option<Row> = self.first(stmt!(q::EXTERNAL_USER, account_id)).await?;
        Ok(row.and_then(|r| r.external_user_id))
    }

    async fn bandwidth_used(&self, account_id: &str, period: &str) -> Result<u64> {
        #[derive(Deserialize)]
        struct Row {
            bytes: u64,
        }
        let row: Option<Row> = self.first(stmt!(q::BANDWIDTH_USED, account_id, period)).await?;
        Ok(row.map_or(0, |r| r.bytes))
    }

    async fn add_bandwidth(&self, account_id: &str, period: &str, bytes: u64) -> Result<()> {
        self.execute(stmt!(q::ADD_BANDWIDTH, account_id, period, bytes)).await?;
        Ok(())
    }

    /// Adds `bytes` to the month's usage if the total stays within `quota`; false otherwise.
    /// Zero bytes always fit (a HEAD or 304 is allowed even at the limit).
    async fn add_bandwidth_within(&self, account_id: &str, period: &str, bytes: u64, quota: u64) -> Result<bool> {
        if bytes == 0 {
            return Ok(true);
        }
        Ok(self
            .execute(stmt!(q::ADD_BANDWIDTH_WITHIN, account_id, period, bytes, quota))
            .await?
            > 0)
    }
}

impl<D: Database> AccountStore for D {}
