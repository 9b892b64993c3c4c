//! JettySpeed protocol types and pure logic, shared by the workers and the client.
//! No I/O and no clock: callers pass time, randomness and bytes in and act on what comes out.

pub mod analytics;
pub mod auth;
pub mod config;
pub mod content_id;
pub mod cors;
pub mod csp;
pub mod download;
pub mod edges;
pub mod error;
pub mod hash;
pub mod idempotency;
pub mod listing;
pub mod plan;
pub mod protocol;
pub mod provision;
pub mod quota;
pub mod routes;
pub mod s3;
pub mod s3_error;
pub mod scoring;
pub mod seal;
pub mod session;
pub mod sql;
pub mod state;
pub mod stores;
pub mod token;
pub mod webhook;

pub use error::{ApiError, ErrorCode};
