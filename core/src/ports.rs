//! What the core needs from the world, as small traits: the object store, a KV cache and the
//! runtime (clock, randomness, log). The database is `db::Database`. `Core` bundles them with
//! the settings the logic reads.

use crate::Result;
use jetty_shared::auth::new_id;
use jetty_shared::config::CoordinatorConfig;
use jetty_shared::s3::{SignedRequest, S3};

/// A store's answer: status, headers (lower-case names) and the whole body (control-plane
/// answers are small XML documents; part bodies never pass through here).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl StoreResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// An S3-compatible store: sends a signed request, returns its answer. `Err` means no answer
/// (connection refused or reset), as `storage_error`.
pub trait ObjectStore {
    async fn send(&self, request: &SignedRequest) -> Result<StoreResponse>;
}

/// A best-effort cache (Workers KV): eventually consistent, one write per second per key. A lost
/// write or a stale read must never lose or corrupt anything.
pub trait KvCache {
    async fn get(&self, key: &str) -> Option<String>;
    async fn put(&self, key: &str, value: &str, ttl_secs: u64);
    /// A small entry whose content is its metadata (at most 1 KiB), so `list` returns it.
    async fn put_listed(&self, key: &str, metadata: &serde_json::Value, ttl_secs: u64);
    /// The metadata of the entries whose key starts with `prefix` (at most `limit`).
    async fn list(&self, prefix: &str, limit: usize) -> Vec<(String, serde_json::Value)>;
    async fn delete(&self, key: &str);
}

/// The runtime: wall-clock time (passed in: `SystemTime::now` panics on wasm32), waiting,
/// secure randomness and the server log.
pub trait Runtime {
    fn now_ms(&self) -> u64;
    async fn sleep(&self, ms: u64);
    fn fill_random(&self, buf: &mut [u8]) -> Result<()>;
    fn log(&self, line: &str);
}

/// The coordinator's world: a database, an object store (with its signer), a KV cache, the
/// runtime and the settings. Logic lives in `impl` blocks of this type, one module per concern.
pub struct Core<D, O, K, R> {
    pub db: D,
    pub store: O,
    pub s3: S3,
    pub kv: K,
    pub rt: R,
    /// Every setting, parsed once (`jetty_shared::config`).
    pub settings: CoordinatorConfig,
}

impl<D, O, K, R: Runtime> Core<D, O, K, R> {
    pub fn random<const N: usize>(&self) -> Result<[u8; N]> {
        let mut buf = [0u8; N];
        self.rt.fill_random(&mut buf)?;
        Ok(buf)
    }

    /// A new id such as `ses_…` or `fil_…`.
    pub fn new_id(&self, prefix: &str) -> Result<String> {
        Ok(new_id(prefix, &self.random()?))
    }

    pub fn now_system_time(&self) -> std::time::SystemTime {
        jetty_shared::s3::unix_time(self.rt.now_ms())
    }

    /// USD for moving `bytes` at the configured price.
    pub fn transfer_cost(&self, bytes: u64) -> f64 {
        jetty_shared::analytics::transfer_cost(bytes, self.settings.price_per_gb)
    }
}
