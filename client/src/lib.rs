//! JettySpeed native SDK: hash a file, ask the coordinator for edges and a part plan, send
//! the parts in parallel across the edges by weight (retrying failed parts with backoff),
//! finalize, and read files back with their SHA-256 checked.

use futures::stream::{self, StreamExt, TryStreamExt};
use jetty_shared::edges::assign_weighted;
use jetty_shared::error::ErrorEnvelope;
use jetty_shared::hash::Sha256Digest;
use jetty_shared::plan::{PartPlan, DEFAULT_BODY_LIMIT};
use jetty_shared::protocol::*;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

const READ_BUF: usize = 1 << 20;

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

#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// Parts in flight at once, across all edges.
    pub concurrency: usize,
    /// Preferred part size in bytes (the coordinator clamps it).
    pub part_size: Option<u64>,
    pub location: Option<Location>,
    /// Attempts per part, including the first.
    pub attempts: u32,
    pub content_type: Option<String>,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            concurrency: 16,
            part_size: None,
            location: None,
            attempts: 5,
            content_type: None,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadOutcome {
    pub file_id: String,
    pub url: String,
    pub size: u64,
    pub sha256: String,
    pub duplicate: bool,
    pub parts: u32,
    pub edges: Vec<String>,
    pub seconds: f64,
}

/// Progress callback: bytes confirmed so far, total bytes.
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

#[derive(Clone)]
pub struct Client {
    base_url: String,
    api_key: String,
    http: reqwest::Client,
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

    /// Uploads `path`; returns the file id and URL.
    pub async fn upload(
        &self,
        path: &Path,
        opts: &UploadOptions,
        progress: Option<Progress>,
    ) -> Result<UploadOutcome, ClientError> {
        let started = std::time::Instant::now();
        let size = tokio::fs::metadata(path).await?.len();
        // The server honours a valid part-size hint, so the plan is known before asking: hash
        // the parts on a second core while the whole-file hash runs, and the upload phase (where
        // the CPU is shared with the network stack) does no hashing at all.
        let threads = opts.concurrency.clamp(1, 64) as u32;
        let preferred = opts
            .part_size
            .unwrap_or_else(|| PartPlan::preferred_part_size(size, threads));
        let expected_plan = PartPlan::new(size, preferred, DEFAULT_BODY_LIMIT).ok();
        let (file_hash, part_hashes) = tokio::try_join!(
            hash_file(path.to_owned(), 0, size),
            hash_parts(path.to_owned(), expected_plan)
        )?;
        let request = OptimalEdgesRequest {
            user_id: None,
            file_size: size,
            file_hash: file_hash.to_prefixed(),
            file_name: path.file_name().map(|n| n.to_string_lossy().into_owned()),
            content_type: opts.content_type.clone(),
            user_location: opts.location,
            priority: Some(Priority::Speed),
            budget: None,
            chunk_size: Some(preferred),
            threads: Some(threads),
        };
        let answer = self.optimal_edges(&request).await?;
        if let Some(dup) = answer.duplicate {
            return Ok(UploadOutcome {
                file_id: dup.file_id,
                url: dup.url,
                size,
                sha256: file_hash.to_prefixed(),
                duplicate: true,
                parts: 0,
                edges: vec![],
                seconds: started.elapsed().as_secs_f64(),
            });
        }
        let ticket = answer.upload.ok_or_else(|| ClientError::Server {
            status: 200,
            message: "no upload ticket in the answer".into(),
        })?;
        let plan = ticket.plan(size);
        let part_hashes = Arc::new(if expected_plan == Some(plan) {
            part_hashes
        } else {
            Vec::new()
        });
        if answer.edges.is_empty() {
            return Err(ClientError::Server {
                status: 200,
                message: "no edges in the answer".into(),
            });
        }
        let weights: Vec<f64> = answer.edges.iter().map(|e| e.weight).collect();
        let assignment = assign_weighted(&weights, plan.part_count as usize);
        let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let jobs = plan.part_numbers().zip(assignment).map(|(number, edge_index)| {
            let edge = answer.edges[edge_index].clone();
            let fallback: Vec<EdgeInfo> = answer.edges.clone();
            let (client, path, token, progress, done) = (
                self.clone(),
                path.to_owned(),
                ticket.upload_token.clone(),
                progress.clone(),
                done.clone(),
            );
            let known_hash = part_hashes.get(number as usize - 1).copied();
            async move {
                let len = plan.part_len(number).unwrap_or(0);
                let mut attempt = 0;
                loop {
                    // Retries rotate to the next edge: a failing edge should not sink the part.
                    let target = if attempt == 0 {
                        &edge
                    } else {
                        &fallback[(edge_index_of(&fallback, &edge.id) + attempt as usize) % fallback.len()]
                    };
                    match client.send_part(target, &token, &path, &plan, number, known_hash).await {
                        Ok(_) => {
                            let total = done.fetch_add(len, std::sync::atomic::Ordering::Relaxed) + len;
                            if let Some(p) = &progress {
                                p(total, plan.file_size);
                            }
                            return Ok::<_, ClientError>(());
                        }
                        Err(e) if e.is_retryable() && attempt + 1 < opts.attempts => {
                            attempt += 1;
                            let backoff =
                                Duration::from_millis(200 * 2u64.pow(attempt.min(6)) + rand::random::<u64>() % 200);
                            tokio::time::sleep(backoff).await;
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        });
        stream::iter(jobs)
            .buffer_unordered(opts.concurrency.max(1))
            .try_collect::<Vec<()>>()
            .await?;
        let file = self.finalize(&ticket.file_id, plan.part_count).await?.file;
        Ok(UploadOutcome {
            file_id: file.id,
            url: file.url,
            size: file.size,
            sha256: file.sha256,
            duplicate: false,
            parts: plan.part_count,
            edges: answer.edges.iter().map(|e| e.id.clone()).collect(),
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Sends one part, streamed from disk; hashes it first unless its SHA-256 is given.
    pub async fn send_part(
        &self,
        edge: &EdgeInfo,
        token: &str,
        path: &Path,
        plan: &PartPlan,
        number: u32,
        known_hash: Option<Sha256Digest>,
    ) -> Result<ChunkReceipt, ClientError> {
        let (offset, len) = match (plan.part_offset(number), plan.part_len(number)) {
            (Some(o), Some(l)) => (o, l),
            _ => return Err(ClientError::Integrity(format!("part {number} is outside the plan"))),
        };
        let digest = match known_hash {
            Some(d) => d,
            None => hash_file(path.to_owned(), offset, len).await?,
        };
        let mut file = tokio::fs::File::open(path).await?;
        file.seek(std::io::SeekFrom::Start(offset)).await?;
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(file.take(len), 256 * 1024));
        let resp = self
            .http
            .put(format!(
                "{}/api/edge/upload-chunk?part={number}",
                edge.url.trim_end_matches('/')
            ))
            .bearer_auth(token)
            .header(CHUNK_SHA256_HEADER, digest.to_hex())
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(body)
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

fn edge_index_of(edges: &[EdgeInfo], id: &str) -> usize {
    edges.iter().position(|e| e.id == id).unwrap_or(0)
}

/// SHA-256 of every part of `plan` (empty without a plan), in order, on one blocking thread.
pub async fn hash_parts(path: PathBuf, plan: Option<PartPlan>) -> Result<Vec<Sha256Digest>, ClientError> {
    let Some(plan) = plan else { return Ok(Vec::new()) };
    tokio::task::spawn_blocking(move || -> std::io::Result<Vec<Sha256Digest>> {
        let mut file = std::fs::File::open(&path)?;
        let mut buf = vec![0u8; READ_BUF];
        plan.part_numbers()
            .map(|n| {
                hash_range(
                    &mut file,
                    &mut buf,
                    plan.part_offset(n).unwrap_or(0),
                    plan.part_len(n).unwrap_or(0),
                )
            })
            .collect()
    })
    .await
    .map_err(|e| ClientError::Io(std::io::Error::other(e)))?
    .map_err(ClientError::Io)
}

fn hash_range(file: &mut std::fs::File, buf: &mut [u8], offset: u64, len: u64) -> std::io::Result<Sha256Digest> {
    use std::io::{Read, Seek};
    file.seek(std::io::SeekFrom::Start(offset))?;
    let mut reader = file.take(len);
    let mut hasher = Sha256::new();
    loop {
        let n = reader.read(buf)?;
        if n == 0 {
            return Ok(Sha256Digest(hasher.finalize().into()));
        }
        hasher.update(&buf[..n]);
    }
}

/// SHA-256 of `len` bytes of `path` from `offset`, on a blocking thread (sha2 uses SHA-NI).
pub async fn hash_file(path: PathBuf, offset: u64, len: u64) -> Result<Sha256Digest, ClientError> {
    tokio::task::spawn_blocking(move || -> std::io::Result<Sha256Digest> {
        let mut file = std::fs::File::open(&path)?;
        hash_range(&mut file, &mut vec![0u8; READ_BUF], offset, len)
    })
    .await
    .map_err(|e| ClientError::Io(std::io::Error::other(e)))?
    .map_err(ClientError::Io)
}

async fn json_or_error<T: serde::de::DeserializeOwned>(resp: reqwest::Response) -> Result<T, ClientError> {
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

async fn error_from(resp: reqwest::Response) -> ClientError {
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
