//! Starting uploads: the `optimal-edges` decisions (validation, part plan, exact dedup, tier,
//! edges), the session as the quota reservation, the multipart upload, and the upload ticket
//! that both a new session and a resumed one hand out. Also the single-request upload.

use crate::db::{Account, FileStore, NewSession, SessionRow, SessionStore};
use crate::ports::{Core, ObjectStore, Runtime};
use crate::{internal, Result};
use jetty_shared::content_id::ContentId;
use jetty_shared::hash::Sha256Digest;
use jetty_shared::plan::{PartPlan, S3_MIN_PART_SIZE};
use jetty_shared::protocol::*;
use jetty_shared::quota::check_storage;
use jetty_shared::scoring::{effective_priority, estimated_seconds, threads_for};
use jetty_shared::session::{SessionStatus, IN_FLIGHT_IDLE_MS, IN_FLIGHT_RETRY_SECS};
use jetty_shared::token::{self, UploadClaims};
use jetty_shared::{ApiError, ErrorCode};

/// Workers a client runs when it does not say.
pub const DEFAULT_THREADS: u32 = 16;
/// Largest file the single-request upload takes (it is read whole to hash it).
pub const SIMPLE_UPLOAD_LIMIT: u64 = 32 * 1024 * 1024;
/// How long a single-request upload's session may stay open.
const SIMPLE_SESSION_MS: u64 = 3600 * 1000;

pub fn file_url(origin: &str, file_id: &str) -> String {
    format!("{origin}/api/files/{file_id}")
}

/// `409 upload_in_progress`: the same content is in flight as `file_id`.
pub(crate) fn in_progress(file_id: &str) -> ApiError {
    ApiError::new(ErrorCode::UploadInProgress).details(serde_json::json!({
        "fileId": file_id,
        "retryAfterSeconds": IN_FLIGHT_RETRY_SECS,
    }))
}

/// A content type to store: printable ASCII, at most 255 characters.
pub fn check_content_type(content_type: &str) -> Result<()> {
    if content_type.len() > 255 || !content_type.is_ascii() || content_type.chars().any(|c| c.is_ascii_control()) {
        return Err(ApiError::with_message(
            ErrorCode::InvalidRequest,
            "contentType must be a printable ASCII media type",
        ));
    }
    Ok(())
}

/// An answer to a single-request upload.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFile {
    pub file_id: String,
    pub object_key: String,
    pub size: u64,
    pub sha256: Sha256Digest,
    pub content_type: String,
}

impl<D, O, K, R> Core<D, O, K, R> {
    /// The upload ticket of an open session: a token the edges verify offline (session,
    /// account, object, S3 upload id, plan, expiry) and what the client needs with it.
    pub fn ticket(&self, session: &SessionRow) -> Result<UploadTicket> {
        let plan = session.plan();
        let claims = UploadClaims {
            sid: session.id.clone(),
            acc: session.account_id.clone(),
            key: session.object_key.clone(),
            uid: session.s3_upload_id.clone(),
            plan,
            exp: session.expires_at.div_ceil(1000),
        };
        Ok(UploadTicket {
            file_id: session.file_id.clone(),
            session_id: session.id.clone(),
            part_size: plan.part_size,
            part_count: plan.part_count,
            upload_token: token::sign(&claims, self.settings.token_secret.expose().as_bytes()),
            expires_at: claims.exp,
        })
    }
}

impl<D, O, K, R> Core<D, O, K, R>
where
    D: SessionStore + FileStore + crate::db::EdgeMetricsStore + crate::db::StoreHealthStore,
    O: ObjectStore,
    R: Runtime,
{
    /// `POST /api/jetty/optimal-edges` once the body is read: a duplicate answer, or a new
    /// session with its ticket. `location` is the client's (see `edges::client_location`),
    /// `origin` the coordinator's public origin.
    pub async fn optimal_edges(
        &self,
        account: &Account,
        body: &OptimalEdgesRequest,
        location: Location,
        origin: &str,
    ) -> Result<OptimalEdgesResponse> {
        // Neither a whole-file hash nor a content id: the client sends parts while it hashes
        // them, names the content at `identify` (dedup then) and the whole file at finalize.
        let file_hash = body.file_hash.as_deref().map(Sha256Digest::parse).transpose()?;
        if let Some(name) = &body.file_name {
            if name.len() > 1024 || name.chars().any(char::is_control) {
                return Err(ApiError::with_message(
                    ErrorCode::InvalidRequest,
                    "fileName must be at most 1024 printable characters",
                ));
            }
        }
        let content_type =
            jetty_shared::download::content_type_for(body.content_type.as_deref(), body.file_name.as_deref());
        check_content_type(&content_type)?;
        let threads = body.threads.unwrap_or(DEFAULT_THREADS).clamp(1, 64);
        let preferred = body
            .chunk_size
            .unwrap_or_else(|| PartPlan::preferred_part_size(body.file_size, threads));
        let plan = PartPlan::new(body.file_size, preferred, self.settings.max_part_bytes)?;
        // A content id is over the parts of the size the client asked for. If this service plans
        // others (its largest part is smaller), the id names no part of this session: without a
        // whole-file hash the session would have no identity to resume or check by, so the
        // client is told the size to hash and ask again.
        if body.content_id.is_some()
            && file_hash.is_none()
            && body.chunk_size != Some(plan.part_size)
            && plan.part_count > 0
        {
            return Err(ApiError::new(ErrorCode::PartSizeChanged).details(serde_json::json!({
                "partSize": plan.part_size,
                "partCount": plan.part_count,
            })));
        }

        // Exact-content dedup within the account: a new file record on the existing object.
        if let Some(source) = self
            .find_duplicate(&account.id, file_hash, body.content_id.as_deref(), Some(body.file_size))
            .await?
        {
            if let Some(clone) = self.clone_file(&account.id, body.file_name.as_deref(), &source).await? {
                return Ok(OptimalEdgesResponse {
                    strategy: None,
                    edges: Vec::new(),
                    duplicate: Some(Duplicate {
                        url: file_url(origin, &clone),
                        file_id: clone,
                        sha256: Some(format!("sha256:{}", source.sha256)),
                        saved_bytes: body.file_size,
                        saved_cost: self.transfer_cost(body.file_size),
                        message: "File already exists. Zero-cost clone available.".to_owned(),
                    }),
                    upload: None,
                    direct: None,
                });
            }
        }

        // In-flight dedup: the same content being uploaded in this account right now is waited
        // for (the client asks again and gets the finished file as a duplicate), not stored twice.
        let content_id = body.content_id.as_deref().map(ContentId::from_field).transpose()?;
        if let Some(id) = &content_id {
            let now = self.rt.now_ms();
            let live_since = now.saturating_sub(IN_FLIGHT_IDLE_MS);
            if let Some(file_id) = self
                .db
                .in_flight(&account.id, &id.to_wire(), body.file_size, now, live_since)
                .await?
            {
                return Err(in_progress(&file_id));
            }
        }

        let tier = account.tier();
        if body.budget.is_some_and(|b| !b.is_finite() || b < 0.0) {
            return Err(ApiError::with_message(
                ErrorCode::InvalidRequest,
                "budget must be a non-negative amount",
            ));
        }
        let estimated_cost = self.transfer_cost(body.file_size);
        let priority = effective_priority(body.priority.unwrap_or_default(), body.budget, estimated_cost);
        // Every tier gets resumable, verified multipart uploads; JettySpeed is the acceleration:
        // the edges. Without it the origin path (this coordinator's chunk route) takes every part.
        let edges = if tier.jetty_speed_enabled {
            self.upload_paths(location, priority, origin).await?
        } else {
            jetty_shared::scoring::with_origin_direct(Vec::new(), origin, 1.0)
        };
        if edges.is_empty() {
            return Err(ApiError::new(ErrorCode::NoEdges));
        }

        let now = self.rt.now_ms();
        let max_ttl = self.settings.session_ttl_secs;
        let ttl_secs = body.expires_in.map_or(max_ttl, |t| t.clamp(1, max_ttl));
        let edge_ids: Vec<&str> = edges.iter().map(|e| e.id.as_str()).collect();
        let shares: Vec<(f64, f64)> = edges
            .iter()
            .map(|e| (e.weight, f64::from(e.bandwidth.max(1))))
            .collect();
        let estimated_time = estimated_seconds(body.file_size, &shares);
        let (id, file_id, object_key) = self.new_file(account)?;
        let session = NewSession {
            id,
            account_id: account.id.clone(),
            object_key,
            file_id,
            file_name: body.file_name.clone(),
            content_type,
            file_hash_hex: file_hash.map(|h| h.to_hex()).unwrap_or_default(),
            plan,
            threads,
            edges_used_json: serde_json::to_string(&edge_ids).map_err(internal)?,
            created_at: now,
            expires_at: now + ttl_secs * 1000,
            estimated_seconds: Some(estimated_time),
            estimated_cost,
            price_per_gb: self.settings.price_per_gb,
            // Only an id over this plan's parts names this session's content.
            content_id: content_id
                .filter(|_| body.chunk_size == Some(plan.part_size))
                .map(|c| c.to_wire()),
        };
        let row = self.open_session(account, &session).await?;
        let strategy = Strategy {
            chunk_size: plan.part_size,
            // The seed's min(32, edges × 6), unless the client said how many it runs.
            threads: if body.threads.is_some() {
                threads
            } else {
                threads_for(edges.len())
            },
            compression: "none".to_owned(),
            estimated_time,
            estimated_cost,
        };
        Ok(OptimalEdgesResponse {
            strategy: Some(strategy),
            edges,
            duplicate: None,
            upload: Some(self.ticket(&row)?),
            direct: self.direct_route(),
        })
    }

    /// A new upload's session id, file id and object key (under the account's prefix).
    fn new_file(&self, account: &Account) -> Result<(String, String, String)> {
        let file_id = self.new_id("fil")?;
        let object_key = format!("{}files/{file_id}", account.prefix());
        Ok((self.new_id("ses")?, file_id, object_key))
    }

    /// Reserves the session (the quota check and the insert are one statement, before any
    /// call to the store) and starts its multipart upload; the session as recorded.
    pub async fn open_session(&self, account: &Account, session: &NewSession) -> Result<SessionRow> {
        self.reserve(account, session).await?;
        // An empty file has no parts: no multipart upload; finalize writes the empty object.
        if session.plan.part_count > 0 {
            let created = self.create_multipart(&session.object_key, &session.content_type).await;
            let upload_id = match self.blame_store(created).await {
                Ok(id) => id,
                Err(e) => {
                    // Release the reservation; nothing was created in the store.
                    self.release_reservation(&session.id).await;
                    return Err(e);
                }
            };
            if let Err(e) = self.db.set_upload_id(&session.id, &upload_id).await {
                // The sweeper could not abort an upload it does not know: abort it now.
                let _ = self.abort_multipart(&session.object_key, &upload_id).await;
                self.release_reservation(&session.id).await;
                return Err(e);
            }
        }
        self.db
            .session_by_id(&session.id)
            .await?
            .ok_or_else(|| internal("reserved session vanished"))
    }

    /// Inserts the session if the file fits the account's storage quota, else the quota error.
    async fn reserve(&self, account: &Account, session: &NewSession) -> Result<()> {
        let tier = account.tier();
        if !self
            .db
            .insert_session_within_quota(session, tier.storage_quota_bytes)
            .await?
        {
            // Refused: a racing upload of the same content got in first, or the quota is full.
            if let Some(content_id) = &session.content_id {
                let live_since = session.created_at.saturating_sub(IN_FLIGHT_IDLE_MS);
                let racing = self
                    .db
                    .in_flight(
                        &account.id,
                        content_id,
                        session.plan.file_size,
                        session.created_at,
                        live_since,
                    )
                    .await?;
                if let Some(file_id) = racing {
                    return Err(in_progress(&file_id));
                }
            }
            let usage = self.db.storage_use(&account.id, self.rt.now_ms()).await?;
            check_storage(&tier, usage, session.plan.file_size)?;
            return Err(ApiError::new(ErrorCode::StorageQuotaExceeded));
        }
        Ok(())
    }

    async fn release_reservation(&self, session_id: &str) {
        let now = self.rt.now_ms();
        if let Err(e) = self
            .db
            .close_session(session_id, SessionStatus::Aborted, "storage_error", now)
            .await
        {
            self.rt
                .log(&format!("reservation of {session_id} not released: {}", e.message));
        }
    }

    /// `POST /api/storage/upload` once the body is read: a small file in one PutObject, on the
    /// same quota (a session reserves it) and the same records as a multipart upload.
    pub async fn store_small_file(
        &self,
        account: &Account,
        name: &str,
        content_type: &str,
        body: Vec<u8>,
        declared: Option<Sha256Digest>,
    ) -> Result<StoredFile> {
        let len = body.len() as u64;
        let digest = Sha256Digest::of(&body);
        if declared.is_some_and(|d| d != digest) {
            return Err(ApiError::new(ErrorCode::ChunkHashMismatch));
        }
        let now = self.rt.now_ms();
        let (id, file_id, object_key) = self.new_file(account)?;
        let session = NewSession {
            id,
            account_id: account.id.clone(),
            object_key,
            file_id,
            file_name: Some(name.to_owned()),
            content_type: content_type.to_owned(),
            file_hash_hex: digest.to_hex(),
            plan: PartPlan {
                file_size: len,
                part_size: S3_MIN_PART_SIZE.max(len),
                part_count: u32::from(len > 0),
            },
            threads: 1,
            edges_used_json: "[]".to_owned(),
            created_at: now,
            expires_at: now + SIMPLE_SESSION_MS,
            estimated_seconds: None,
            estimated_cost: self.transfer_cost(len),
            price_per_gb: self.settings.price_per_gb,
            content_id: None,
        };
        self.reserve(account, &session).await?;
        let put = self.put_object(&session.object_key, content_type, body).await;
        if let Err(e) = self.blame_store(put).await {
            self.release_reservation(&session.id).await;
            return Err(e);
        }
        let row = self
            .db
            .session_by_id(&session.id)
            .await?
            .ok_or_else(|| internal("session vanished"))?;
        // One body the store checked against its SHA-256: the id of a one-part plan.
        let content_id = (len > 0).then(|| ContentId::of_parts(&[digest]).to_wire());
        self.db
            .complete_session(&row, self.rt.now_ms(), len, content_id.as_deref())
            .await?;
        Ok(StoredFile {
            file_id: session.file_id,
            object_key: session.object_key,
            size: len,
            sha256: digest,
            content_type: content_type.to_owned(),
        })
    }
}
