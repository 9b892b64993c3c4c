//! JettySpeed native SDK: hash a file, ask the coordinator for edges and a part plan, send
//! the parts in parallel across the edges by weight (retrying failed parts with backoff),
//! finalize, resume interrupted uploads from the server's records, and read files back with
//! their SHA-256 checked.

mod transfer;

pub use transfer::{hash_file, hash_parts, LocalState, Progress, StateStore, UploadOptions, UploadOutcome};

use futures::stream::StreamExt;
use jetty_shared::error::ErrorEnvelope;
use jetty_shared::hash::Sha256Digest;
use jetty_shared::protocol::*;
use jetty_shared::state::{ResumeRequest, ResumeResponse, UploadState};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server refused the request (4xx): retrying the same request will not help.
    #[error("refused by server ({status} {code}): {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
        details: Option<serde_json::Value>,
    },
    /// The server failed (5xx) or answered something unreadable.
    #[error("server error ({status}): {message}")]
    Server { status: u16, message: String },
    #[error("network error: {0}")]
    Network(String),
    #[error("integrity check failed: {0}")]
    Integrity(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl ClientError {
    /// Worth another try: network trouble and server-side failures.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ClientError::Network(_) | ClientError::Server { .. })
    }
}

impl From<reqwest::Error> for ClientError {
    fn from(e: reqwest::Error) -> Self {
        ClientError::Network(e.to_string())
    }
}

#[derive(Clone)]
pub struct Client {
    pub(crate) base_url: String,
    pub(crate) api_key: String,
    pub(crate) http: reqwest::Client,
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
        })
    }

    pub async fn optimal_edges(&self, req: &OptimalEdgesRequest) -> Result<OptimalEdgesResponse, ClientError> {
        let resp = self
            .http
            .post(format!("{}/api/jetty/optimal-edges", self.base_url))
            .bearer_auth(&self.api_key)
            .json(req)
            .send()
            .await?;
        json_or_error(resp).await
    }

    pub async fn finalize(&self, file_id: &str, total_chunks: u32) -> Result<FinalizeResponse, ClientError> {
        let body = FinalizeRequest {
            file_id: file_id.to_owned(),
            total_chunks: Some(total_chunks),
            user_id: None,
        };
        let resp = self
            .http
            .post(format!("{}/api/edge/finalize-upload", self.base_url))
            .bearer_auth(&self.api_key)
            .json(&body)
            .send()
            .await?;
        json_or_error(resp).await
    }

    pub async fn get_state(&self, file_id: &str) -> Result<UploadState, ClientError> {
        let resp = self
            .http
            .get(format!("{}/api/jetty/get-state/me/{file_id}", self.base_url))
            .bearer_auth(&self.api_key)
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
        let resp = self
            .http
            .post(format!("{}/api/jetty/resume", self.base_url))
            .bearer_auth(&self.api_key)
            .json(&ResumeRequest {
                file_id: file_id.to_owned(),
            })
            .send()
            .await?;
        json_or_error(resp).await
    }

    pub async fn abort(&self, file_id: &str) -> Result<serde_json::Value, ClientError> {
        let resp = self
            .http
            .delete(format!("{}/api/jetty/uploads/{file_id}", self.base_url))
            .bearer_auth(&self.api_key)
            .send()
            .await?;
        json_or_error(resp).await
    }

    /// Downloads a file to `out`, checking its SHA-256 against the server's record.
    pub async fn download(&self, file_id: &str, out: &Path) -> Result<(u64, Sha256Digest), ClientError> {
        let resp = self
            .http
            .get(format!("{}/api/files/{file_id}", self.base_url))
            .bearer_auth(&self.api_key)
            .send()
            .await?;
        if !resp.status().is_success() {
            return Err(error_from(resp).await);
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
        while let Some(chunk) = body.next().await {
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
        Ok((size, digest))
    }
}

pub(crate) async fn json_or_error<T: serde::de::DeserializeOwned>(resp: reqwest::Response) -> Result<T, ClientError> {
    if resp.status().is_success() {
        let status = resp.status().as_u16();
        resp.json().await.map_err(|e| ClientError::Server {
            status,
            message: format!("unreadable answer: {e}"),
        })
    } else {
        Err(error_from(resp).await)
    }
}

pub(crate) async fn error_from(resp: reqwest::Response) -> ClientError {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let parsed = serde_json::from_str::<ErrorEnvelope>(&text).ok();
    match parsed {
        Some(env) if status < 500 => ClientError::Refused {
            status,
            code: env.error.code,
            message: env.error.message,
            details: env.error.details,
        },
        Some(env) => ClientError::Server {
            status,
            message: format!("{}: {}", env.error.code, env.error.message),
        },
        None if status < 500 => ClientError::Refused {
            status,
            code: "http_error".into(),
            message: text.chars().take(200).collect(),
            details: None,
        },
        None => ClientError::Server {
            status,
            message: text.chars().take(200).collect(),
        },
    }
}
