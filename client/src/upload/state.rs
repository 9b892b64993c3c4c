//! The local record of an unfinished upload (`LocalState`) and the directory that keeps one
//! per source file (`StateStore`). The record only remembers which session a file belongs
//! to; what is still to send is always asked of the coordinator.

use jetty_shared::hash::Sha256Digest;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The local record of an unfinished upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalState {
    pub coordinator: String,
    pub path: PathBuf,
    pub size: u64,
    pub modified_secs: u64,
    pub modified_nanos: u32,
    pub file_id: String,
    /// `sha256:<hex>` of the whole file, when it was known as the session opened (a session
    /// opened by content id alone is saved before its whole-file hash is done).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_hash: Option<String>,
}

impl LocalState {
    /// The record of `path` (as `meta` describes it) being uploaded as `file_id`.
    pub fn new(
        coordinator: &str,
        path: &Path,
        meta: &std::fs::Metadata,
        file_id: &str,
        file_hash: Option<Sha256Digest>,
    ) -> Self {
        let (modified_secs, modified_nanos) = modified(meta);
        LocalState {
            coordinator: coordinator.to_owned(),
            path: path.to_owned(),
            size: meta.len(),
            modified_secs,
            modified_nanos,
            file_id: file_id.to_owned(),
            file_hash: file_hash.map(|h| h.to_prefixed()),
        }
    }
}

/// A directory of `LocalState` records, one per source file.
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
}

impl StateStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        StateStore { dir: dir.into() }
    }

    /// `$JETTY_STATE_DIR`, else `$XDG_STATE_HOME/jetty`, else `~/.local/state/jetty`.
    pub fn default_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("JETTY_STATE_DIR") {
            return Some(dir.into());
        }
        if let Some(dir) = std::env::var_os("XDG_STATE_HOME") {
            return Some(PathBuf::from(dir).join("jetty"));
        }
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state/jetty"))
    }

    fn record_path(&self, source: &Path) -> PathBuf {
        let canonical = std::fs::canonicalize(source).unwrap_or_else(|_| source.to_owned());
        let key = hex::encode(Sha256::digest(canonical.to_string_lossy().as_bytes()));
        self.dir.join(format!("{key}.json"))
    }

    pub fn load(&self, source: &Path) -> Option<LocalState> {
        let text = std::fs::read_to_string(self.record_path(source)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Writes atomically (temp file + rename), so a kill never leaves a torn record.
    pub fn save(&self, state: &LocalState) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.record_path(&state.path);
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?)?;
        std::fs::rename(tmp, path)
    }

    pub fn remove(&self, source: &Path) {
        let _ = std::fs::remove_file(self.record_path(source));
    }
}

pub(crate) fn modified(meta: &std::fs::Metadata) -> (u64, u32) {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| (d.as_secs(), d.subsec_nanos()))
        .unwrap_or((0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upload::temp_dir;

    #[test]
    fn state_records_round_trip_and_are_keyed_by_source_path() {
        let dir_guard = temp_dir();
        let dir = dir_guard.path();
        let store = StateStore::new(dir.join("state"));
        let a = dir.join("a.bin");
        let b = dir.join("b.bin");
        std::fs::write(&a, b"a").unwrap();
        std::fs::write(&b, b"b").unwrap();
        let record = LocalState {
            coordinator: "http://c".into(),
            path: a.clone(),
            size: 1,
            modified_secs: 5,
            modified_nanos: 6,
            file_id: "fil_1".into(),
            file_hash: Some(Sha256Digest::of(b"a").to_prefixed()),
        };
        store.save(&record).unwrap();
        assert_eq!(store.load(&a), Some(record));
        assert_eq!(store.load(&b), None);
        store.remove(&a);
        assert_eq!(store.load(&a), None);
    }
}
