//! Finalized files, dedup clones and deletion.

const FILE_COLUMNS: &str = "id, name, content_type, size, sha256, object_key, created_at, content_id";

/// `(file_id, account_id)`.
pub fn for_account() -> String {
    format!("SELECT {FILE_COLUMNS} FROM files WHERE id = ?1 AND account_id = ?2")
}

/// A file of the account whose verified content id is this (dedup trusts nothing else):
/// `(account_id, content_id, size | NULL)`. The index is per account, so an id never reveals or
/// grants another account's file.
pub fn by_content_id() -> String {
    format!(
        "SELECT {FILE_COLUMNS} FROM files WHERE account_id = ?1 AND content_id = ?2 \
         AND (?3 IS NULL OR size = ?3) ORDER BY created_at LIMIT 1"
    )
}

/// A page of the account's files, newest first (by `created_at`, then id), names starting
/// with a prefix (`''`: all): `(account_id, prefix, after_created_at | NULL, after_id, limit)`.
pub fn list() -> String {
    format!(
        "SELECT {FILE_COLUMNS} FROM files WHERE account_id = ?1 \
         AND (?2 = '' OR substr(name, 1, length(?2)) = ?2) \
         AND (?3 IS NULL OR created_at < ?3 OR (created_at = ?3 AND id < ?4)) \
         ORDER BY created_at DESC, id DESC LIMIT ?5"
    )
}

/// A new record sharing the object of a source file, only while the source exists (a clone
/// racing the source's deletion either lands first and keeps the object alive, or does not
/// land): `(file_id, account_id, name, content_type, size, sha256, object_key, now, source_id)`.
/// The clone shares the source's content id (the same object).
pub const INSERT_CLONE: &str = "INSERT INTO files (id, account_id, session_id, name, content_type, size, sha256, \
     object_key, created_at, deduplicated_from, content_id) SELECT ?1, ?2, NULL, ?3, ?4, ?5, ?6, ?7, ?8, ?9, \
     content_id FROM files WHERE id = ?9";

/// `(file_id, account_id)`.
pub const DELETE: &str = "DELETE FROM files WHERE id = ?1 AND account_id = ?2";

/// How many records point at an object: `(object_key)` → `n`.
pub const OBJECT_REFERENCES: &str = "SELECT COUNT(*) AS n FROM files WHERE object_key = ?1";
