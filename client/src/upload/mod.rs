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
pub use with_retries::with_retries;

#[cfg(test)]
pub(crate) fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("jetty-client-test-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
