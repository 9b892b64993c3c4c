//! What clients say about their uploads, kept in KV as caches next to the database's truth:
//! the client's own state view (`save-state`), its progress figure, and chunk metadata
//! (`cache-chunk`); and `get-state`, which answers the seeds' contract from both. A stale or lost
//! KV entry never decides what is uploaded.

use crate::db::{AccountStore, SessionRow, SessionStore};
use crate::ports::{Core, KvCache, Runtime};
use crate::{not_found, Result};
use jetty_shared::hash::Sha256Digest;
use jetty_shared::session::part_out_of_range;
use jetty_shared::state::CacheChunkRequest;
use jetty_shared::{ApiError, ErrorCode};
use serde_json::{json, Value};

/// TTL of L2 chunk metadata (the seed's one hour).
pub const CHUNK_TTL_SECS: u64 = 3600;
/// Largest client state view kept in KV.
pub const SAVED_STATE_LIMIT: usize = 16 * 1024;
/// How long a state view of a file the coordinator has no session for is kept.
pub const UNBOUND_STATE_TTL_SECS: u64 = 24 * 3600;
/// Most chunk entries `get-state` reads back.
pub const CHUNKS_LISTED: usize = 10_000;

fn state_key(account: &str, file_id: &str) -> String {
    format!("state:{account}:{file_id}")
}

fn chunk_prefix(account: &str, file_id: &str) -> String {
    format!("chunk:{account}:{file_id}:")
}

impl<D: SessionStore + AccountStore, O, K: KvCache, R: Runtime> Core<D, O, K, R> {
    /// `save-state`: the client's own view of any of its uploads (the seed lets clients name
    /// files themselves), until the session expires (a day when there is none).
    pub async fn save_state(&self, account: &str, file_id: &str, view: &Value) -> Result<u64> {
        let text = view.to_string();
        if text.len() > SAVED_STATE_LIMIT {
            return Err(ApiError::with_message(
                ErrorCode::PayloadTooLarge,
                "state is limited to 16 KiB",
            ));
        }
        if file_id.is_empty() || file_id.len() > 128 || file_id.chars().any(char::is_control) {
            return Err(ApiError::with_message(
                ErrorCode::InvalidRequest,
                "fileId must be 1-128 printable characters",
            ));
        }
        let ttl = match self.db.session_by_file(account, file_id).await? {
            Some(session) => self.cache_ttl(&session),
            None => UNBOUND_STATE_TTL_SECS,
        };
        self.kv.put(&state_key(account, file_id), &text, ttl).await;
        Ok(self.rt.now_ms() / 1000 + ttl)
    }

    /// The client's progress figure (KV only).
    pub async fn track_progress(&self, session: &SessionRow, bytes: u64) {
        let key = format!("progress:{}:{}", session.account_id, session.file_id);
        self.kv.put(&key, &bytes.to_string(), self.cache_ttl(session)).await;
    }

    /// `cache-chunk` in either seed's form (`fileId` or `sessionId`), for the caller's own
    /// sessions; read back by `get-state` as `cachedChunks`.
    pub async fn cache_chunk(&self, account: &str, c: &CacheChunkRequest) -> Result<()> {
        let session = match (&c.file_id, &c.session_id) {
            (Some(file_id), _) => self.own_session(account, file_id).await?,
            (None, Some(session_id)) => self
                .db
                .session_by_id(session_id)
                .await?
                .filter(|s| s.account_id == account)
                .ok_or_else(not_found)?,
            (None, None) => {
                return Err(ApiError::with_message(
                    ErrorCode::InvalidRequest,
                    "name the upload with fileId or sessionId",
                ))
            }
        };
        let plan = session.plan();
        // The seeds count chunks from 0 (002) or name part numbers (004): both fit the plan.
        let expected = plan
            .part_len(c.chunk_index)
            .or_else(|| plan.part_len(c.chunk_index + 1))
            .ok_or_else(|| part_out_of_range(&plan, c.chunk_index))?;
        let hash = c.hash.as_deref().map(Sha256Digest::parse).transpose()?;
        let short = |v: &Option<String>, name: &str| -> Result<()> {
            match v {
                Some(v) if v.len() > 64 || v.chars().any(char::is_control) => Err(ApiError::with_message(
                    ErrorCode::InvalidRequest,
                    format!("{name} is at most 64 printable characters"),
                )),
                _ => Ok(()),
            }
        };
        short(&c.edge_id, "edgeId")?;
        short(&c.status, "status")?;
        let entry = json!({
            "chunkIndex": c.chunk_index,
            "hash": hash.map(|h| h.to_prefixed()),
            "edgeId": c.edge_id,
            "size": c.size.unwrap_or(expected),
            "status": c.status,
            "cachedAt": self.rt.now_ms(),
        });
        let key = format!("{}{:05}", chunk_prefix(account, &session.file_id), c.chunk_index);
        self.kv.put_listed(&key, &entry, CHUNK_TTL_SECS).await;
        Ok(())
    }

    /// `get-state/:userId/:fileId` as the seed documents it: `{state: … | null}`. `userId` is
    /// `me`, the account's id or the platform user id it was provisioned for; anything else is
    /// answered `{state: null}` like an unknown file, so ids of other accounts reveal nothing.
    /// The state of a session is derived from the database's part records; beside it,
    /// `clientState` (what `save-state` kept) and `cachedChunks` (what `cache-chunk` kept).
    /// Without a session, the client's own saved view is the state.
    pub async fn seed_state(&self, account: &str, user_id: &str, file_id: &str) -> Result<Value> {
        let is_caller =
            user_id == "me" || user_id == account || self.db.external_user(account).await?.as_deref() == Some(user_id);
        if !is_caller {
            return Ok(json!({ "state": null }));
        }
        let saved: Option<Value> = self
            .kv
            .get(&state_key(account, file_id))
            .await
            .and_then(|text| serde_json::from_str(&text).ok());
        let Some(session) = self.db.session_by_file(account, file_id).await? else {
            return Ok(json!({ "state": saved }));
        };
        let chunks: Vec<Value> = self
            .kv
            .list(&chunk_prefix(account, file_id), CHUNKS_LISTED)
            .await
            .into_iter()
            .map(|(_, entry)| entry)
            .collect();
        Ok(json!({
            "state": self.state_of(&session).await?,
            "clientState": saved,
            "cachedChunks": chunks,
        }))
    }
}
