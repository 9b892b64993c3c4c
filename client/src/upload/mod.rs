//! Uploading a file: options and outcome, the local resume record, the rate meter, hashing,
//! the sans-IO part scheduler and the async driver around it, and the session flow
//! (fresh, resumed or deduplicated).
//!
//! What is uploaded is always decided from the coordinator's records (`resume`), never from
//! the local record alone: the local record only remembers which session a file belongs to.

mod driver;
mod hashing;
mod meter;
mod options;
pub mod scheduler;
mod session;
mod state;

pub use hashing::{hash_file, hash_parts};
pub use options::{Progress, UploadOptions, UploadOutcome};
pub use state::{LocalState, StateStore};

#[cfg(test)]
pub(crate) fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("jetty-client-test-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
