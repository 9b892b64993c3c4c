//! Finalized files and their dedup clones (`files`).

use super::Database;
use crate::{stmt, Result};
use jetty_shared::listing::ListQuery;
use jetty_shared::sql::files as q;
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FileRow {
    pub id: String,
    pub name: Option<String>,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
    pub object_key: String,
    pub created_at: u64,
    /// The verified content id (`jetty_shared::content_id`), when one was verified.
    #[serde(default)]
    pub content_id: Option<String>,
}

pub trait FileStore: Database {
    async fn file_for_account(&self, account_id: &str, file_id: &str) -> Result<Option<FileRow>> {
        self.first(stmt!(q::for_account(), file_id, account_id)).await
    }

    /// A file of the account with this verified content id (and size, when given).
    async fn file_by_content_id(
        &self,
        account_id: &str,
        content_id: &str,
        size: Option<u64>,
    ) -> Result<Option<FileRow>> {
        self.first(stmt!(q::by_content_id(), account_id, content_id, size))
            .await
    }

    /// A page of the account's files, newest first (`limit` rows at most).
    async fn list_files(&self, account_id: &str, query: &ListQuery, limit: u32) -> Result<Vec<FileRow>> {
        let after = query.after.as_ref();
        self.query(stmt!(
            q::list(),
            account_id,
            query.prefix.as_str(),
            after.map(|c| c.created_at),
            after.map(|c| c.id.as_str()).unwrap_or_default(),
            limit,
        ))
        .await
    }

    /// A new record sharing the object of `source`; false if the source is gone.
    async fn insert_clone(
        &self,
        account_id: &str,
        file_id: &str,
        name: Option<&str>,
        source: &FileRow,
        now: u64,
    ) -> Result<bool> {
        let changed = self
            .execute(stmt!(
                q::INSERT_CLONE,
                file_id,
                account_id,
                name,
                &source.content_type,
                source.size,
                &source.sha256,
                &source.object_key,
                now,
                &source.id,
            ))
            .await?;
        Ok(changed > 0)
    }

    /// Deletes the record; true if it existed and belonged to the account.
    async fn delete_file(&self, account_id: &str, file_id: &str) -> Result<bool> {
        Ok(self.execute(stmt!(q::DELETE, file_id, account_id)).await? > 0)
    }

    /// How many file records still point at an object (dedup clones share objects).
    async fn object_references(&self, object_key: &str) -> Result<u64> {
        #[derive(Deserialize)]
        struct Row {
            n: u64,
        }
        let row: Option<Row> = self.first(stmt!(q::OBJECT_REFERENCES, object_key)).await?;
        Ok(row.map_or(0, |r| r.n))
    }
}

impl<D: Database> FileStore for D {}
