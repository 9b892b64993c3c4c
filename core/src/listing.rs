//! The account's own files and open uploads, paged newest first (`GET /api/files`,
//! `GET /api/jetty/uploads`): how a page or another device finds what to show or continue.

use crate::db::{FileStore, SessionStore};
use crate::ports::{Core, Runtime};
use crate::upload::file_url;
use crate::Result;
use jetty_shared::listing::{Cursor, FileList, FileListing, ListQuery, UploadList, UploadListing};

impl<D: FileStore + SessionStore, O, K, R: Runtime> Core<D, O, K, R> {
    /// The account's files (dedup clones included: each is the account's own record).
    pub async fn list_files(&self, account: &str, query: &ListQuery, origin: &str) -> Result<FileList> {
        let rows = self.db.list_files(account, query, query.limit + 1).await?;
        let (rows, next_cursor) = query.page(rows, |f| Cursor {
            created_at: f.created_at,
            id: f.id.clone(),
        });
        let files = rows
            .into_iter()
            .map(|f| FileListing {
                url: file_url(origin, &f.id),
                id: f.id,
                name: f.name,
                size: f.size,
                sha256: f.sha256,
                content_id: f.content_id,
                content_type: f.content_type,
                created_at: f.created_at,
            })
            .collect();
        Ok(FileList { files, next_cursor })
    }

    /// The account's sessions still taking parts (active and not expired), with their progress.
    pub async fn list_uploads(&self, account: &str, query: &ListQuery) -> Result<UploadList> {
        let now = self.rt.now_ms();
        let rows = self.db.open_sessions(account, now, query, query.limit + 1).await?;
        let (rows, next_cursor) = query.page(rows, |s| Cursor {
            created_at: s.created_at,
            id: s.session_id.clone(),
        });
        let uploads = rows
            .into_iter()
            .map(|s| UploadListing {
                file_id: s.file_id,
                session_id: s.session_id,
                file_name: s.file_name,
                file_size: s.file_size,
                file_hash: (!s.file_hash.is_empty()).then_some(s.file_hash),
                content_id: s.content_id,
                content_type: s.content_type,
                part_size: s.part_size,
                part_count: s.part_count,
                parts_done: s.parts_done,
                bytes_received: s.bytes_received,
                created_at: s.created_at,
                expires_at: s.expires_at,
            })
            .collect();
        Ok(UploadList { uploads, next_cursor })
    }
}
