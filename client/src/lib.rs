//! JettySpeed native SDK: hash a file, ask the coordinator for edges and a part plan, send
//! the parts in parallel across the edges by weight (moving a failed edge's parts on, and
//! waiting out outages of the store, the coordinator or every edge within a `RetryPolicy`),
//! finalize, resume interrupted uploads from the server's records, and read files back with
//! their SHA-256 checked.

mod answers;
mod config;
mod download;
mod upload;

pub use answers::{
    Aborted, AccountSummary, Credentials, DedupStats, Deleted, EdgeStats, Provisioned, Quota, RecentSession, Stats,
};

pub use config::Config;
pub use download::{
    DownloadOptions, Downloaded, DEFAULT_CONCURRENCY as DOWNLOAD_CONCURRENCY, STALL_TIMEOUT as DOWNLOAD_STALL_TIMEOUT,
};
pub use upload::{
    exit_cleanly_on_sigbus, hash_file, hash_parts, prefer_direct, with_retries, LocalState, Progress, RetryBudget,
    RetryNotice, RetryPolicy, Retrying, Route, StateStore, Timeline, Trouble, UploadOptions, UploadOutcome,
    HASH_FIRST_MAX, STORE_DIRECT,
};
pub use upload::{many, scheduler};

use futures::stream::StreamExt;
use jetty_shared::error::ErrorEnvelope;
use jetty_shared::hash::Sha256Digest;
use jetty_shared::listing::{FileList, UploadList};
use jetty_shared::protocol::*;
use jetty_shared::state::{ResumeRequest, ResumeResponse, UploadState};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server refused the request (4xx but 408/429): retrying the same request will not
    /// help.
    #[error("refused by server ({status} {code}): {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
        details: Option<serde_json::Value>,
    },
    /// The server failed (5xx), said "not now" (429, 408) or answered something unreadable. `code` is the error code of
    /// a JSON error answer (`store_unavailable`, `internal_error`, ...), `None` for an answer
    /// without one.
    #[error("server error ({status}{}): {message}", code.as_deref().map(|c| format!(" {c}")).unwrap_or_default())]
    Server {
        status: u16,
        code: Option<String>,
        message: String,
        /// How long the answer asked to be left alone (`Retry-After` in seconds), if it did.
        retry_after: Option<Duration>,
    },
    #[error("network error: {0}")]
    Network(String),
    #[error("integrity check failed: {0}")]
    Integrity(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl ClientError {
    /// A server failure that named no wait.
    pub fn server(status: u16, code: Option<String>, message: impl Into<String>) -> ClientError {
        ClientError::Server {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The wait the server asked for before the next try (`Retry-After`), if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The `jetty` exit code for this error: 1 local I/O, 3 refused by the server, 4 network or
    /// server failure, 5 integrity check failed.
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::Io(_) => 1,
            ClientError::Refused { .. } => 3,
            ClientError::Network(_) | ClientError::Server { .. } => 4,
            ClientError::Integrity(_) => 5,
        }
    }

    /// Worth another try: network trouble and server-side failures.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ClientError::Network(_) | ClientError::Server { .. })
    }

    /// The error code the server answered with, if any.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Refused { code, .. } => Some(code),
            ClientError::Server { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// The object store failed behind a healthy server: `503 store_unavailable` (down, slow,
    /// failing) or `502 storage_error` (refused unexpectedly). Not the answering server's fault.
    pub fn is_store_failure(&self) -> bool {
        use jetty_shared::error::ErrorCode;
        matches!(self, ClientError::Server { .. })
            && matches!(
                self.code().and_then(ErrorCode::from_wire),
                Some(ErrorCode::StoreUnavailable | ErrorCode::StorageError)
            )
    }

    /// Worth waiting out: the server could not be reached, answered 5xx, or said "not now"
    /// (`is_transient_status`). (An unreadable success answer will read the same way next time.)
    pub fn is_outage(&self) -> bool {
        match self {
            ClientError::Network(_) => true,
            ClientError::Server { status, .. } => *status >= 500 || is_transient_status(*status),
            _ => false,
        }
    }

    /// This error as the last of failures that went on for `failing_for`.
    pub fn after_retries(self, failing_for: std::time::Duration) -> ClientError {
        let note = format!(" (still failing after {:.0} s of retries)", failing_for.as_secs_f64());
        match self {
            ClientError::Network(message) => ClientError::Network(message + &note),
            ClientError::Server {
                status,
                code,
                message,
                retry_after,
            } => ClientError::Server {
                status,
                code,
                message: message + &note,
                retry_after,
            },
            other => other,
        }
    }
}

impl From<reqwest::Error> for ClientError {
    fn from(e: reqwest::Error) -> Self {
        ClientError::Network(e.to_string())
    }
}

/// How long one call to the coordinator's JSON API may take before it fails as unreachable —
/// an outage, waited out within the retry budget like any other — so a coordinator (or a
/// proxy before it) that takes the request and never answers cannot hang an upload. Generous:
/// finalizing a large file completes a multipart upload at the store.
pub const API_TIMEOUT: Duration = Duration::from_secs(120);

/// The calls whose work at the store can take minutes — finalize (S3 documents that completing
/// a multipart upload may) and copying parts (a batch of copies) — get this many API deadlines
/// (10 minutes by default).
const STORE_WORK_DEADLINES: u32 = 5;

#[derive(Clone)]
pub struct Client {
    pub(crate) base_url: String,
    pub(crate) api_key: String,
    pub(crate) http: reqwest::Client,
    api_timeout: Duration,
}

impl Client {
    pub fn new(base_url: &str, api_key: &str) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(64)
            .build()?;
        Ok(Client {
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
            http,
            api_timeout: API_TIMEOUT,
        })
    }

    /// This client with another deadline for each coordinator call (default [`API_TIMEOUT`]).
    pub fn with_api_timeout(mut self, timeout: Duration) -> Self {
        self.api_timeout = timeout;
        self
    }

    /// A call to the coordinator's `path` with the API key, held to the API deadline.
    pub(crate) fn api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base_url))
            .bearer_auth(&self.api_key)
            .timeout(self.api_timeout)
    }

    pub async fn optimal_edges(&self, req: &OptimalEdgesRequest) -> Result<OptimalEdgesResponse, ClientError> {
        self.post_json("/api/jetty/optimal-edges", req).await
    }

    /// POSTs `body` as JSON to the coordinator's `path` with the API key; the answer, typed.
    async fn post_json<B: serde::Serialize + ?Sized, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.post_json_within(path, body, self.api_timeout).await
    }

    /// `post_json` held to `deadline` instead of the API's.
    async fn post_json_within<B: serde::Serialize + ?Sized, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        deadline: Duration,
    ) -> Result<T, ClientError> {
        let resp = self
            .api(reqwest::Method::POST, path)
            .timeout(deadline)
            .json(body)
            .send()
            .await?;
        json_or_error(resp).await
    }

    /// Names open upload `file_id` (opened without a content id) by `content_id`, hashed over
    /// its plan's parts: a `duplicate` when the account stores that content (the upload is
    /// closed: stop sending), else `409 upload_in_progress` while another upload sends it.
    pub async fn identify(&self, file_id: &str, content_id: &str) -> Result<IdentifyResponse, ClientError> {
        let body = IdentifyRequest {
            file_id: file_id.to_owned(),
            content_id: content_id.to_owned(),
        };
        self.post_json("/api/jetty/identify", &body).await
    }

    /// Asks the coordinator to copy, inside the store, the parts of open upload `file_id` that
    /// the account already stores (by SHA-256): the parts it copied; with `dry_run`, only which
    /// it could copy (`reusable`).
    pub async fn reuse_parts(
        &self,
        file_id: &str,
        parts: Vec<PartOffer>,
        dry_run: bool,
    ) -> Result<ReusePartsResponse, ClientError> {
        let body = ReusePartsRequest {
            file_id: file_id.to_owned(),
            parts,
            dry_run,
        };
        let deadline = match dry_run {
            true => self.api_timeout,
            false => self.api_timeout * STORE_WORK_DEADLINES,
        };
        self.post_json_within("/api/jetty/reuse-parts", &body, deadline).await
    }

    /// Completes upload `file_id`, declaring the whole file's SHA-256 if given (required when
    /// the upload was opened by content id alone, checked against the one declared otherwise).
    pub async fn finalize(
        &self,
        file_id: &str,
        total_chunks: u32,
        file_hash: Option<&Sha256Digest>,
    ) -> Result<FinalizeResponse, ClientError> {
        let body = FinalizeRequest {
            file_id: file_id.to_owned(),
            total_chunks: Some(total_chunks),
            user_id: None,
            file_hash: file_hash.map(Sha256Digest::to_prefixed),
        };
        let deadline = self.api_timeout * STORE_WORK_DEADLINES;
        self.post_json_within("/api/edge/finalize-upload", &body, deadline)
            .await
    }

    pub async fn get_state(&self, file_id: &str) -> Result<UploadState, ClientError> {
        let resp = self
            .api(reqwest::Method::GET, &format!("/api/jetty/get-state/me/{file_id}"))
            .send()
            .await?;
        #[derive(serde::Deserialize)]
        struct Answer {
            state: UploadState,
        }
        Ok(json_or_error::<Answer>(resp).await?.state)
    }

    /// A fresh upload ticket and the recorded state of an open session.
    pub async fn resume_ticket(&self, file_id: &str) -> Result<ResumeResponse, ClientError> {
        self.post_json(
            "/api/jetty/resume",
            &ResumeRequest {
                file_id: file_id.to_owned(),
            },
        )
        .await
    }

    /// `GET /api/jetty/stats`: the key's own account; with the admin key, every account or
    /// the one named.
    pub async fn stats(&self, account: Option<&str>) -> Result<Stats, ClientError> {
        typed(self.stats_raw(account).await?)
    }

    /// `stats` as the server sent it.
    pub async fn stats_raw(&self, account: Option<&str>) -> Result<serde_json::Value, ClientError> {
        let mut req = self.api(reqwest::Method::GET, "/api/jetty/stats");
        if let Some(account) = account {
            req = req.query(&[("account", account)]);
        }
        let resp = req.send().await?;
        json_or_error(resp).await
    }

    /// `GET /api/files`: one page of the account's files, newest first.
    pub async fn list_files(&self, prefix: &str, limit: u32, cursor: Option<&str>) -> Result<FileList, ClientError> {
        typed(self.list("/api/files", &[("prefix", prefix)], limit, cursor).await?)
    }

    /// `GET /api/jetty/uploads`: one page of the account's open upload sessions, newest first;
    /// `hash` (hex SHA-256) keeps the ones for that content.
    pub async fn list_uploads(
        &self,
        prefix: &str,
        hash: Option<&str>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<UploadList, ClientError> {
        let filters = [("prefix", prefix), ("hash", hash.unwrap_or_default())];
        typed(self.list("/api/jetty/uploads", &filters, limit, cursor).await?)
    }

    async fn list(
        &self,
        path: &str,
        filters: &[(&str, &str)],
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<serde_json::Value, ClientError> {
        let limit = limit.to_string();
        let mut query: Vec<(&str, &str)> = filters.iter().copied().filter(|(_, v)| !v.is_empty()).collect();
        query.push(("limit", &limit));
        if let Some(cursor) = cursor {
            query.push(("cursor", cursor));
        }
        let resp = self.api(reqwest::Method::GET, path).query(&query).send().await?;
        json_or_error(resp).await
    }

    /// `GET /api/agentcache/quota`.
    pub async fn quota(&self) -> Result<Quota, ClientError> {
        typed(self.quota_raw().await?)
    }

    /// `quota` as the server sent it.
    pub async fn quota_raw(&self) -> Result<serde_json::Value, ClientError> {
        let resp = self.api(reqwest::Method::GET, "/api/agentcache/quota").send().await?;
        json_or_error(resp).await
    }

    pub async fn file_info(&self, file_id: &str) -> Result<FileInfoResponse, ClientError> {
        let resp = self
            .api(reqwest::Method::GET, &format!("/api/files/{file_id}/info"))
            .send()
            .await?;
        json_or_error(resp).await
    }

    /// A signed download link valid for `ttl_seconds`.
    pub async fn link(
        &self,
        file_id: &str,
        ttl_seconds: Option<u64>,
        download: bool,
    ) -> Result<LinkResponse, ClientError> {
        self.post_json(
            &format!("/api/files/{file_id}/link"),
            &LinkRequest { ttl_seconds, download },
        )
        .await
    }

    /// `DELETE /api/files/:id`: the file, its object when no deduplicated copy uses it, and
    /// the edges' cached copies.
    pub async fn delete(&self, file_id: &str) -> Result<Deleted, ClientError> {
        typed(self.delete_raw(file_id).await?)
    }

    /// `delete` as the server answered it.
    pub async fn delete_raw(&self, file_id: &str) -> Result<serde_json::Value, ClientError> {
        let resp = self
            .api(reqwest::Method::DELETE, &format!("/api/files/{file_id}"))
            .send()
            .await?;
        json_or_error(resp).await
    }

    /// `DELETE /api/jetty/uploads/:id`: aborts an unfinished session (idempotent).
    pub async fn abort(&self, file_id: &str) -> Result<Aborted, ClientError> {
        typed(self.abort_raw(file_id).await?)
    }

    /// `abort` as the server answered it.
    pub async fn abort_raw(&self, file_id: &str) -> Result<serde_json::Value, ClientError> {
        let resp = self
            .api(reqwest::Method::DELETE, &format!("/api/jetty/uploads/{file_id}"))
            .send()
            .await?;
        json_or_error(resp).await
    }

    /// Downloads a file to `out` through the coordinator (origin path), checking its SHA-256.
    pub async fn download_from_origin(&self, file_id: &str, out: &Path) -> Result<Downloaded, ClientError> {
        // Not held to the API deadline (the answer is the whole file), but to the downloads'
        // stall deadline: nothing for that long, and it fails (retryably).
        let stall = download::STALL_TIMEOUT;
        let stalled = || ClientError::Network(format!("nothing from the coordinator for {} s", stall.as_secs()));
        let request = self
            .http
            .get(format!("{}/api/files/{file_id}", self.base_url))
            .bearer_auth(&self.api_key)
            .send();
        let resp = tokio::time::timeout(stall, request).await.map_err(|_| stalled())??;
        if !resp.status().is_success() {
            return Err(tokio::time::timeout(stall, error_from(resp))
                .await
                .unwrap_or_else(|_| stalled()));
        }
        let expected = resp
            .headers()
            .get(FILE_SHA256_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let tmp = out.with_extension("jetty-part");
        let mut file = tokio::fs::File::create(&tmp).await?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut body = resp.bytes_stream();
        while let Some(chunk) = tokio::time::timeout(stall, body.next()).await.map_err(|_| stalled())? {
            let chunk = chunk?;
            hasher.update(&chunk);
            size += chunk.len() as u64;
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        let digest = Sha256Digest(hasher.finalize().into());
        if let Some(expected) = expected {
            if Sha256Digest::parse(&expected).ok() != Some(digest) {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(ClientError::Integrity(format!(
                    "downloaded bytes hash to {} but the file is {expected}",
                    digest.to_hex()
                )));
            }
        }
        tokio::fs::rename(&tmp, out).await?;
        Ok(Downloaded {
            size,
            sha256: digest,
            route: "origin",
        })
    }
}

/// Platform side of provisioning, as an administrator would trigger it: a signed
/// (Standard Webhooks) `POST /api/webhooks/jettythunder/provision`.
pub async fn provision(
    base_url: &str,
    webhook_secret: &str,
    user_id: &str,
    email: &str,
    tier: &str,
) -> Result<Provisioned, ClientError> {
    typed(provision_raw(base_url, webhook_secret, user_id, email, tier).await?)
}

/// `provision` as the server answered it.
pub async fn provision_raw(
    base_url: &str,
    webhook_secret: &str,
    user_id: &str,
    email: &str,
    tier: &str,
) -> Result<serde_json::Value, ClientError> {
    use jetty_shared::webhook::{self, WebhookSecret};
    let secret = WebhookSecret::parse(webhook_secret)
        .ok_or_else(|| ClientError::Integrity("the webhook secret is empty or malformed".into()))?;
    let body = serde_json::json!({"user_id": user_id, "email": email, "tier": tier}).to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let id = format!("msg_{}", hex::encode(rand::random::<[u8; 12]>()));
    let signed = webhook::sign(&secret, &id, now, body.as_bytes());
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/api/webhooks/jettythunder/provision",
            base_url.trim_end_matches('/')
        ))
        .header("content-type", "application/json")
        .header(webhook::ID_HEADER, signed.id)
        .header(webhook::TIMESTAMP_HEADER, signed.timestamp)
        .header(webhook::SIGNATURE_HEADER, signed.signature)
        .body(body)
        .timeout(API_TIMEOUT)
        .send()
        .await?;
    json_or_error(resp).await
}

/// A raw answer read as `T`; a shape `T` cannot read is an unreadable answer, as in
/// `json_or_error`.
pub fn typed<T: serde::de::DeserializeOwned>(answer: serde_json::Value) -> Result<T, ClientError> {
    serde_json::from_value(answer).map_err(|e| ClientError::server(200, None, format!("unreadable answer: {e}")))
}

pub(crate) async fn json_or_error<T: serde::de::DeserializeOwned>(resp: reqwest::Response) -> Result<T, ClientError> {
    if resp.status().is_success() {
        let status = resp.status().as_u16();
        // Read whole first: a body cut off or stalled past the deadline is a network failure
        // (waited out); only bytes that do not parse are an unreadable answer.
        let body = resp
            .bytes()
            .await
            .map_err(|e| ClientError::Network(format!("the {status} answer was cut off: {e}")))?;
        serde_json::from_slice(&body).map_err(|e| ClientError::server(status, None, format!("unreadable answer: {e}")))
    } else {
        Err(error_from(resp).await)
    }
}

/// 4xx statuses that say "not now" rather than "no": `408 Request Timeout` and `429 Too Many
/// Requests`, which proxies and rate limits in front of the coordinator or an edge (a
/// Cloudflare rule, a corporate proxy) answer. They read as server failures — waited out
/// within the retry budget, a part moved to another edge — not as final refusals.
pub fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 429)
}

/// The wait a `Retry-After` header asks for, in its delta-seconds form (the HTTP-date form is
/// not used by rate limits in practice and is ignored); at most ten minutes.
fn retry_after_of(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs.min(600)))
}

pub(crate) async fn error_from(resp: reqwest::Response) -> ClientError {
    let status = resp.status().as_u16();
    let retry_after = retry_after_of(resp.headers());
    // An answer cut off before its body (a server that answered before reading the request's
    // body, then closed on the unread bytes) says nothing yet: asked again, it will.
    let text = match resp.text().await {
        Ok(text) => text,
        Err(e) => return ClientError::Network(format!("the {status} answer was cut off: {e}")),
    };
    let parsed = serde_json::from_str::<ErrorEnvelope>(&text).ok();
    let refusal = status < 500 && !is_transient_status(status);
    match parsed {
        Some(env) if refusal => ClientError::Refused {
            status,
            code: env.error.code,
            message: env.error.message,
            details: env.error.details,
        },
        Some(env) => ClientError::Server {
            status,
            code: Some(env.error.code),
            message: env.error.message,
            retry_after,
        },
        None if refusal => ClientError::Refused {
            status,
            code: "http_error".into(),
            message: text.chars().take(200).collect(),
            details: None,
        },
        None => ClientError::Server {
            status,
            code: None,
            message: text.chars().take(200).collect(),
            retry_after,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A coordinator (or a proxy before it) that takes connections and never answers.
    fn silent_server() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming() {
                held.push(conn);
            }
        });
        url
    }

    /// `call`'s result, failing the test (instead of hanging it) if it never ends by itself.
    async fn ended<T>(call: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(10), call)
            .await
            .expect("the call hung: no deadline ended it")
    }

    #[tokio::test]
    async fn a_coordinator_that_never_answers_fails_a_call_as_an_outage_after_the_api_deadline() {
        let deadline = Duration::from_millis(300);
        let client = Client::new(&silent_server(), "jsk_test")
            .unwrap()
            .with_api_timeout(deadline);
        let started = Instant::now();
        let err = ended(client.get_state("f_1")).await.unwrap_err();
        let took = started.elapsed();
        assert!(err.is_outage(), "waited out like an unreachable coordinator: {err}");
        assert!(took >= deadline && took < Duration::from_secs(5), "{took:?}");
        // Every JSON call is held to it, not only reads.
        let started = Instant::now();
        assert!(ended(client.resume_ticket("f_1")).await.unwrap_err().is_outage());
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_success_whose_body_stalls_past_the_deadline_is_an_outage_not_an_unreadable_answer() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for mut conn in listener.incoming().flatten() {
                let mut request = [0u8; 4096];
                let _ = std::io::Read::read(&mut conn, &mut request);
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{";
                let _ = std::io::Write::write_all(&mut conn, head.as_bytes());
                held.push(conn);
            }
        });
        let client = Client::new(&url, "jsk_test")
            .unwrap()
            .with_api_timeout(Duration::from_millis(300));
        let err = ended(client.get_state("f_1")).await.unwrap_err();
        assert!(err.is_outage(), "waited out, not final: {err}");
    }

    /// An answer with `status` and `body`, as the HTTP client would hand it over.
    pub(crate) fn response(status: u16, body: &str) -> reqwest::Response {
        reqwest::Response::from(http::Response::builder().status(status).body(body.to_owned()).unwrap())
    }

    async fn error_of(status: u16, body: &str) -> ClientError {
        error_from(response(status, body)).await
    }

    #[tokio::test]
    async fn too_many_requests_and_request_timeout_are_waited_out_other_4xx_are_final() {
        let envelope = r#"{"error":{"code":"rate_limited","message":"slow down"}}"#;
        for (status, body) in [(429, envelope), (429, "Too Many Requests"), (408, "")] {
            let err = error_of(status, body).await;
            assert!(err.is_outage() && err.is_retryable(), "{status} {body:?}: {err:?}");
            assert!(!err.is_store_failure());
        }
        assert_eq!(error_of(429, envelope).await.code(), Some("rate_limited"));
        assert_eq!(
            upload::coordinator_trouble(&error_of(429, envelope).await),
            Trouble::CoordinatorBusy
        );
        for status in [400, 401, 403, 404, 409, 413, 422] {
            let err = error_of(status, r#"{"error":{"code":"x","message":"no"}}"#).await;
            assert!(
                matches!(err, ClientError::Refused { .. }) && !err.is_outage(),
                "{status}: {err:?}"
            );
        }
    }

    /// Answers `429` with `Retry-After: retry_after` to the first `busy` requests, then `404
    /// not_found`.
    fn rate_limited_server(busy: usize, retry_after: u64) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = seen.clone();
        std::thread::spawn(move || {
            for mut conn in listener.incoming().flatten() {
                let mut request = [0u8; 4096];
                let _ = std::io::Read::read(&mut conn, &mut request);
                let n = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let (head, body) = if n < busy {
                    (
                        format!("429 Too Many Requests\r\nretry-after: {retry_after}"),
                        "rate limited",
                    )
                } else {
                    (
                        "404 Not Found".to_owned(),
                        r#"{"error":{"code":"not_found","message":"no such upload"}}"#,
                    )
                };
                let answer = format!(
                    "HTTP/1.1 {head}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = std::io::Write::write_all(&mut conn, answer.as_bytes());
            }
        });
        (url, seen)
    }

    #[tokio::test]
    async fn a_rate_limited_coordinator_call_is_asked_again_until_it_is_answered() {
        let (url, seen) = rate_limited_server(2, 0);
        let client = Client::new(&url, "jsk_test").unwrap();
        let policy = RetryPolicy {
            budget: Duration::from_secs(5),
            base: Duration::from_millis(10),
            cap: Duration::from_millis(20),
        };
        let err = ended(with_retries(policy, None, || client.get_state("f_1")))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("not_found"), "the answer after the 429s: {err}");
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_retry_after_is_waited_at_least_and_one_past_the_budget_ends_the_retries_at_once() {
        let policy = |budget_ms| RetryPolicy {
            budget: Duration::from_millis(budget_ms),
            base: Duration::from_millis(1),
            cap: Duration::from_millis(2),
        };
        // Asked for 1 s: the next try comes no sooner.
        let (url, seen) = rate_limited_server(1, 1);
        let client = Client::new(&url, "jsk_test").unwrap();
        let started = Instant::now();
        let err = ended(with_retries(policy(5000), None, || client.get_state("f_1")))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("not_found"));
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert!(started.elapsed() >= Duration::from_secs(1), "{:?}", started.elapsed());
        // Asked for 10 minutes with 5 s of budget: no try could come late enough; given up
        // at once, not after sleeping the budget out.
        let (url, seen) = rate_limited_server(10, 600);
        let client = Client::new(&url, "jsk_test").unwrap();
        let started = Instant::now();
        let err = ended(with_retries(policy(5000), None, || client.get_state("f_1")))
            .await
            .unwrap_err();
        assert_eq!(err.retry_after(), Some(Duration::from_secs(600)), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_upload_call_to_a_silent_coordinator_ends_when_the_retry_budget_is_spent() {
        let client = Client::new(&silent_server(), "jsk_test")
            .unwrap()
            .with_api_timeout(Duration::from_millis(200));
        let policy = RetryPolicy {
            budget: Duration::from_secs(1),
            base: Duration::from_millis(50),
            cap: Duration::from_millis(100),
        };
        let started = Instant::now();
        let err = ended(with_retries(policy, None, || client.finalize("f_1", 2, None)))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("after"), "told it was retried: {err}");
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    }
}
