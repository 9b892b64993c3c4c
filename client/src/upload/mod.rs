//! Uploading a file: options and outcome, the local resume record, the rate meter, hashing,
//! the sans-IO part scheduler and the async driver around it, the session flow
//! (fresh, resumed or deduplicated) and its timeline; `many` lists and sums up the files of a run of many.
//!
//! What is uploaded is always decided from the coordinator's records (`resume`), never from
//! the local record alone: the local record only remembers which session a file belongs to.

mod congestion;
mod digests;
mod direct;
mod driver;
mod hashing;
pub mod many;
mod meter;
mod naming;
mod options;
mod retry;
pub mod scheduler;
mod session;
mod state;
mod timeline;
mod with_retries;

pub use direct::{prefer_direct, STORE_DIRECT};
pub(crate) use hashing::TrailingHash;
pub use hashing::{exit_cleanly_on_sigbus, hash_file, hash_parts};
pub use naming::HASH_FIRST_MAX;
pub use options::{Progress, RetryNotice, Retrying, Route, Trouble, UploadOptions, UploadOutcome};
pub use retry::{RetryBudget, RetryPolicy};
pub use state::{LocalState, StateStore};
pub use timeline::Timeline;
#[cfg(test)]
pub(crate) use with_retries::coordinator_trouble;
pub use with_retries::with_retries;

/// A fresh directory for a test, removed with all it holds when dropped.
#[cfg(test)]
pub(crate) fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("jetty-client-test-")
        .tempdir()
        .expect("a temp dir")
}

/// A test file holding `bytes`, removed when dropped.
#[cfg(test)]
pub(crate) fn temp_file(bytes: &[u8]) -> tempfile::TempPath {
    use std::io::Write;
    let mut file = tempfile::Builder::new()
        .prefix("jetty-client-test-")
        .tempfile()
        .expect("a temp file");
    file.write_all(bytes).expect("write the temp file");
    file.into_temp_path()
}
