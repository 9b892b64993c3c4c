//! The coordinator's core: every decision the coordinator makes about sessions, parts,
//! finalization, dedup, quotas, provisioning, deletion and the sweeper, written once over small
//! traits for what it needs from the world (`ports`): a SQL database (D1 in production, SQLite
//! in tests) behind one trait per aggregate (`db`), an object store (S3 through Fetch), a KV
//! cache and a runtime (clock, randomness, log). The worker is a thin shell that parses
//! requests, calls in here and renders the answers; the tests run the same code over SQLite and
//! an object store that fails on purpose.
//!
//! Errors carry their cause in `message`; the worker logs `internal`/`storage_error` causes and
//! sends their default text (see `jetty_worker_runtime::error_response`).

// Workers are single-threaded: the traits' futures need no `Send` bound.
#![allow(async_fn_in_trait)]

pub mod db;
pub mod direct;
pub mod edges;
pub mod files;
pub mod finalize;
pub mod identify;
pub mod listing;
pub mod parts;
pub mod ports;
pub mod provision;
pub mod reuse;
pub mod sessions;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod store;
pub mod upload;
pub mod views;

pub use ports::{Core, KvCache, ObjectStore, Runtime, StoreResponse};

use jetty_shared::{ApiError, ErrorCode};

pub type Result<T> = std::result::Result<T, ApiError>;

/// An infrastructure failure; `cause` is logged, never sent (`ApiError::internal`).
pub fn internal(cause: impl std::fmt::Display) -> ApiError {
    ApiError::internal(cause)
}

/// The store failed; the client sees `storage_error` (`ApiError::storage`).
pub fn storage_failure(cause: impl std::fmt::Display) -> ApiError {
    ApiError::storage(cause)
}

/// The store is down or failing transiently: `store_unavailable` (`ApiError::store_unavailable`).
pub fn store_unavailable(cause: impl std::fmt::Display) -> ApiError {
    ApiError::store_unavailable(cause)
}

pub fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound)
}
