//! Finalized files: dedup clones, bandwidth accounting for downloads, download claims and
//! deletion (record first, object only when no clone still uses it, then a tombstone).

use crate::db::{Account, AccountStore, FileRow, FileStore, StoreHealthStore};
use crate::ports::{Core, KvCache, ObjectStore, Runtime};
use crate::{not_found, Result};
use jetty_shared::content_id::ContentId;
use jetty_shared::download::DownloadClaims;
use jetty_shared::hash::Sha256Digest;
use jetty_shared::protocol::tombstone_key;
use jetty_shared::quota::{billing_period, check_bandwidth};
use jetty_shared::token;
use jetty_shared::{ApiError, ErrorCode};

/// Longest a download link may live; also how long a deleted file's tombstone is kept.
pub const MAX_LINK_TTL_SECS: u64 = 7 * 24 * 3600;
pub const DEFAULT_LINK_TTL_SECS: u64 = 3600;

/// What deleting a file did.
#[derive(Debug, Clone, PartialEq)]
pub struct Deleted {
    pub file: FileRow,
    /// False while a dedup clone still uses the object.
    pub object_deleted: bool,
}

impl<D: FileStore, O, K, R: Runtime> Core<D, O, K, R> {
    /// A new file record of `account` on the object of `source` (zero bytes moved); its id, or
    /// None if the source was deleted meanwhile.
    pub async fn clone_file(&self, account: &str, name: Option<&str>, source: &FileRow) -> Result<Option<String>> {
        let file_id = self.new_id("fil")?;
        let name = name.or(source.name.as_deref());
        let cloned = self
            .db
            .insert_clone(account, &file_id, name, source, self.rt.now_ms())
            .await?;
        Ok(cloned.then_some(file_id))
    }

    /// A file of the account with these bytes, found by verified content id only: the one the
    /// client computed over its parts (`content_id`), else the one-part id of its declared
    /// whole-file hash. A declared hash never matches a multi-part file (nothing verified its
    /// whole-file hash), so a client that declares a false hash cannot poison dedup.
    pub async fn find_duplicate(
        &self,
        account: &str,
        declared: Option<Sha256Digest>,
        content_id: Option<&str>,
        size: Option<u64>,
    ) -> Result<Option<FileRow>> {
        let id = match (content_id, declared) {
            (Some(given), _) => ContentId::from_field(given)?,
            (None, Some(declared)) => ContentId::of_one_part(declared),
            (None, None) => return Ok(None),
        };
        self.db.file_by_content_id(account, &id.to_wire(), size).await
    }

    /// The caller's file (another account's is not found).
    pub async fn own_file(&self, account: &str, file_id: &str) -> Result<FileRow> {
        self.db.file_for_account(account, file_id).await?.ok_or_else(not_found)
    }

    /// The claims an edge serves a file under until `exp` (secs).
    pub fn download_claims(&self, account: &str, file: &FileRow, exp: u64) -> DownloadClaims {
        DownloadClaims {
            acc: account.to_owned(),
            fid: file.id.clone(),
            key: file.object_key.clone(),
            size: file.size,
            sha: file.sha256.clone(),
            ct: file.content_type.clone(),
            name: file.name.clone(),
            created: file.created_at / 1000,
            exp,
        }
    }

    /// A signed link capability for a file, valid `ttl_secs` (clamped to 1 s … 7 days).
    pub fn sign_link(&self, account: &str, file: &FileRow, ttl_secs: Option<u64>) -> (String, u64) {
        let ttl = ttl_secs.unwrap_or(DEFAULT_LINK_TTL_SECS).clamp(1, MAX_LINK_TTL_SECS);
        let claims = self.download_claims(account, file, self.rt.now_ms() / 1000 + ttl);
        (
            token::sign(&claims, self.settings.token_secret.expose().as_bytes()),
            claims.exp,
        )
    }
}

impl<D: AccountStore, O, K, R: Runtime> Core<D, O, K, R> {
    /// Adds `bytes` to this month's bandwidth only if they fit the quota, in one statement, so
    /// concurrent downloads cannot together overrun it.
    pub async fn count_bandwidth(&self, account: &Account, bytes: u64) -> Result<()> {
        let tier = account.tier();
        let period = billing_period(self.rt.now_ms() / 1000);
        if !self
            .db
            .add_bandwidth_within(&account.id, &period, bytes, tier.bandwidth_quota_bytes)
            .await?
        {
            check_bandwidth(&tier, self.db.bandwidth_used(&account.id, &period).await?, bytes)?;
            return Err(ApiError::new(ErrorCode::BandwidthQuotaExceeded));
        }
        Ok(())
    }

    /// Refuses when the month's bandwidth is already spent (before handing out a link).
    pub async fn check_bandwidth_left(&self, account: &Account) -> Result<()> {
        let period = billing_period(self.rt.now_ms() / 1000);
        check_bandwidth(&account.tier(), self.db.bandwidth_used(&account.id, &period).await?, 0)
    }

    /// Bytes served through a link, reported by an edge afterwards.
    pub async fn record_usage(&self, account_id: &str, bytes: u64) -> Result<()> {
        let period = billing_period(self.rt.now_ms() / 1000);
        self.db.add_bandwidth(account_id, &period, bytes).await
    }
}

impl<D: FileStore + StoreHealthStore, O: ObjectStore, K: KvCache, R: Runtime> Core<D, O, K, R> {
    /// Deletes the caller's file: the record first; the object only when no record points at
    /// it any more (a clone racing the deletion either landed first and keeps it, or does not
    /// land); then a tombstone that makes every edge refuse links to it.
    pub async fn delete_file(&self, account: &str, file_id: &str) -> Result<Deleted> {
        let file = self.own_file(account, file_id).await?;
        if !self.db.delete_file(account, file_id).await? {
            return Err(not_found());
        }
        let object_deleted = self.db.object_references(&file.object_key).await? == 0;
        if object_deleted {
            let deleted = self.delete_object(&file.object_key).await;
            self.blame_store(deleted).await?;
        }
        self.kv.put(&tombstone_key(file_id), "1", MAX_LINK_TTL_SECS).await;
        Ok(Deleted { file, object_deleted })
    }
}
