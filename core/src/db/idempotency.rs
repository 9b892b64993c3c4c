//! Idempotency records (`idempotency_records`).

use super::Database;
use crate::{stmt, Result};
use jetty_shared::sql::idempotency as q;
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct IdempotencyRow {
    pub request_hash: String,
    pub status: Option<u16>,
    pub response: Option<String>,
    pub created_at: u64,
}

pub trait IdempotencyStore: Database {
    /// Claims (scope, key) for a first request; false if a record already exists.
    async fn claim_idempotency(&self, scope: &str, key: &str, request_hash: &str, now: u64) -> Result<bool> {
        Ok(self.execute(stmt!(q::CLAIM, scope, key, request_hash, now)).await? > 0)
    }

    async fn idempotency_record(&self, scope: &str, key: &str) -> Result<Option<IdempotencyRow>> {
        self.first(stmt!(q::RECORD, scope, key)).await
    }

    async fn finish_idempotency(&self, scope: &str, key: &str, status: u16, sealed: &str) -> Result<()> {
        self.execute(stmt!(q::FINISH, scope, key, status, sealed)).await?;
        Ok(())
    }

    /// Drops a record found abandoned or unreadable, if it is still the one that was read.
    async fn drop_idempotency(&self, scope: &str, key: &str, created_at: u64) -> Result<()> {
        self.execute(stmt!(q::DROP, scope, key, created_at)).await?;
        Ok(())
    }

    /// Forgets the records of keys starting with `prefix` whose stored answers went stale
    /// (credentials rotated, tier changed).
    async fn forget_idempotency(&self, scope: &str, prefix: &str) -> Result<()> {
        self.execute(stmt!(q::FORGET_PREFIX, scope, prefix)).await?;
        Ok(())
    }

    /// Forgets a claim whose request failed, so the client can retry with the same key.
    async fn release_idempotency(&self, scope: &str, key: &str) -> Result<()> {
        self.execute(stmt!(q::RELEASE, scope, key)).await?;
        Ok(())
    }
}

impl<D: Database> IdempotencyStore for D {}
