//! The coordinator's world on Workers: D1 as `Database`, S3 through Fetch as `ObjectStore`,
//! Workers KV as `KvCache`, and the Workers clock, randomness and log as `Runtime`. Each is a
//! thin adapter; every decision is in `jetty_core`.

use jetty_core::db::{Database, Param, Statement};
use jetty_core::{Core, KvCache, ObjectStore, Runtime, StoreResponse};
use jetty_shared::error::ErrorCode;
use jetty_shared::s3::SignedRequest;
use jetty_worker_runtime::*;
use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;
use worker::{console_log, D1Database, D1PreparedStatement, Env};

/// The coordinator's core over the Workers runtime.
pub type Coordinator = Core<D1, FetchStore, WorkersKv, WorkersRuntime>;

/// Builds the core for one request; the settings are parsed once, here, and a bad or missing
/// one is logged by name (never by value).
pub fn coordinator(env: &Env) -> ApiResult<Coordinator> {
    let settings = coordinator_config(env)?;
    Ok(Core {
        db: D1(env.d1("DB").map_err(internal)?),
        store: FetchStore,
        s3: settings.s3(),
        kv: WorkersKv(env.kv("KV").ok()),
        rt: WorkersRuntime,
        settings,
    })
}

pub struct D1(pub D1Database);

fn js(p: &Param) -> JsValue {
    match p {
        Param::Null => JsValue::NULL,
        Param::Int(i) => JsValue::from_f64(*i as f64),
        Param::Real(f) => JsValue::from_f64(*f),
        Param::Text(s) => JsValue::from_str(s),
    }
}

fn db_err(e: worker::Error) -> jetty_shared::ApiError {
    jetty_core::internal(format!("d1: {e}"))
}

impl D1 {
    fn prepare(&self, s: &Statement) -> ApiResult<D1PreparedStatement> {
        let params: Vec<JsValue> = s.params.iter().map(js).collect();
        self.0.prepare(s.sql.as_str()).bind(&params).map_err(db_err)
    }
}

impl Database for D1 {
    async fn execute(&self, statement: Statement) -> ApiResult<u64> {
        let result = self.prepare(&statement)?.run().await.map_err(db_err)?;
        Ok(result.meta().map_err(db_err)?.and_then(|m| m.changes).unwrap_or(0) as u64)
    }

    async fn query<T: DeserializeOwned>(&self, statement: Statement) -> ApiResult<Vec<T>> {
        self.prepare(&statement)?
            .all()
            .await
            .map_err(db_err)?
            .results()
            .map_err(db_err)
    }

    async fn batch(&self, statements: Vec<Statement>) -> ApiResult<Vec<u64>> {
        let prepared = statements
            .iter()
            .map(|s| self.prepare(s))
            .collect::<ApiResult<Vec<_>>>()?;
        let results = self.0.batch(prepared).await.map_err(db_err)?;
        Ok(results
            .iter()
            .map(|r| r.meta().ok().flatten().and_then(|m| m.changes).unwrap_or(0) as u64)
            .collect())
    }
}

/// S3 through Fetch (control-plane requests with small answers; part bodies never pass here).
pub struct FetchStore;

impl ObjectStore for FetchStore {
    async fn send(&self, request: &SignedRequest) -> ApiResult<StoreResponse> {
        // A request that got no answer at all (a pooled connection the store had just closed)
        // is sent up to twice more. Every control-plane call may be repeated: the others are
        // idempotent, Complete's recovery handles a repeat, and a repeated
        // CreateMultipartUpload whose first answer was lost leaves an empty upload (no parts,
        // no stored bytes) that the bucket's AbortIncompleteMultipartUpload rule removes.
        let mut attempt = 0;
        let mut resp = loop {
            attempt += 1;
            match send_signed(request, None).await {
                Err(e) if e.code == ErrorCode::StoreUnavailable && attempt < 3 => continue,
                other => break other?,
            }
        };
        let headers = resp.headers().entries().collect();
        let body = if request.method == "HEAD" {
            Vec::new()
        } else {
            resp.bytes().await.map_err(storage_failure)?
        };
        Ok(StoreResponse {
            status: resp.status_code(),
            headers,
            body,
        })
    }
}

/// Workers KV; writes are best effort (one write per second per key).
pub struct WorkersKv(pub Option<worker::kv::KvStore>);

impl KvCache for WorkersKv {
    async fn put_listed(&self, key: &str, metadata: &serde_json::Value, ttl_secs: u64) {
        let Some(kv) = &self.0 else { return };
        write(key, kv.put(key, "1").and_then(|b| b.metadata(metadata)), ttl_secs).await;
    }

    async fn list(&self, prefix: &str, limit: usize) -> Vec<(String, serde_json::Value)> {
        let Some(kv) = &self.0 else { return Vec::new() };
        let mut out = Vec::new();
        let mut cursor = None;
        while out.len() < limit {
            let mut request = kv.list().prefix(prefix.to_owned());
            if let Some(c) = cursor.take() {
                request = request.cursor(c);
            }
            let Ok(page) = request.execute().await else { break };
            out.extend(page.keys.into_iter().map(|k| (k.name, k.metadata.unwrap_or_default())));
            match page.cursor {
                Some(c) if !page.list_complete => cursor = Some(c),
                _ => break,
            }
        }
        out.truncate(limit);
        out
    }

    async fn delete(&self, key: &str) {
        if let Some(kv) = &self.0 {
            if let Err(e) = kv.delete(key).await {
                console_log!("kv cache delete skipped for {key}: {e}");
            }
        }
    }

    async fn get(&self, key: &str) -> Option<String> {
        self.0.as_ref()?.get(key).text().await.ok().flatten()
    }

    async fn put(&self, key: &str, value: &str, ttl_secs: u64) {
        let Some(kv) = &self.0 else { return };
        write(key, kv.put(key, value), ttl_secs).await;
    }
}

/// Runs a KV write with its TTL (KV's minimum is a minute); a failure is logged, never raised.
async fn write(key: &str, builder: Result<worker::kv::PutOptionsBuilder, worker::kv::KvError>, ttl_secs: u64) {
    let result = match builder {
        Ok(builder) => builder
            .expiration_ttl(ttl_secs.max(60))
            .execute()
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = result {
        console_log!("kv cache write skipped for {key}: {e}");
    }
}

pub struct WorkersRuntime;

impl Runtime for WorkersRuntime {
    fn now_ms(&self) -> u64 {
        now_millis()
    }

    async fn sleep(&self, ms: u64) {
        worker::Delay::from(std::time::Duration::from_millis(ms)).await;
    }

    fn fill_random(&self, buf: &mut [u8]) -> ApiResult<()> {
        getrandom::getrandom(buf).map_err(|_| internal("random source unavailable"))
    }

    fn log(&self, line: &str) {
        console_log!("{line}");
    }
}
