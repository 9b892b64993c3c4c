//! Session handlers: get-state, save-state, resume, abort, track-upload, cache-chunk. The
//! decisions (state from the database's records only, KV as a cache) are in
//! `jetty_core::sessions`.

use crate::upload::{finalized, JSON_LIMIT};
use crate::world::Coordinator;
use jetty_shared::state::*;
use jetty_shared::{ApiError, ErrorCode};
use jetty_worker_runtime::*;
use worker::{Request, Response};

/// `GET /api/jetty/get-state/:userId/:fileId`. `userId` must be the caller's account id (or
/// `me`); anything else is answered as not found, so ids of other accounts reveal nothing.
pub async fn get_state(core: &Coordinator, account: &str, user_id: &str, file_id: &str) -> ApiResult<Response> {
    if user_id != "me" && user_id != account {
        return Err(ApiError::new(ErrorCode::NotFound));
    }
    let session = core.own_session(account, file_id).await?;
    json_response(200, &serde_json::json!({ "state": core.state_of(&session).await? })).map_err(internal)
}

/// `POST /api/jetty/save-state`: the client's own view, kept until the session expires.
pub async fn save_state(req: &mut Request, core: &Coordinator, account: &str) -> ApiResult<Response> {
    let body: SaveStateRequest = read_json(req, JSON_LIMIT).await?;
    let session = core.own_session(account, &body.file_id).await?;
    core.save_state(&session, &body.state).await?;
    let answer = serde_json::json!({ "ok": true, "expiresAt": iso8601(session.expires_at.div_ceil(1000)) });
    json_response(200, &answer).map_err(internal)
}

/// `POST /api/jetty/resume`: a fresh ticket, the paths to use now and the recorded state.
pub async fn resume(req: &mut Request, core: &Coordinator, account: &str, origin: &str) -> ApiResult<Response> {
    let body: ResumeRequest = read_json(req, JSON_LIMIT).await?;
    let session = core.own_session(account, &body.file_id).await?;
    let location = crate::client_location(req, None)?;
    json_response(200, &core.resume(&session, location, origin).await?).map_err(internal)
}

/// `DELETE /api/jetty/uploads/:fileId` (and track-upload `fail`).
pub async fn abort(core: &Coordinator, account: &str, file_id: &str, reason: &str) -> ApiResult<Response> {
    let session = core.own_session(account, file_id).await?;
    let session = core.abort(&session, reason).await?;
    json_response(
        200,
        &serde_json::json!({ "ok": true, "fileId": file_id, "status": session.status }),
    )
    .map_err(internal)
}

/// `POST /api/jetty/track-upload` with the seed's actions.
pub async fn track_upload(req: &mut Request, core: &Coordinator, account: &str, origin: &str) -> ApiResult<Response> {
    let body: TrackUploadRequest = read_json(req, JSON_LIMIT).await?;
    let session = core.own_session(account, &body.file_id).await?;
    match body.action {
        TrackAction::Start => {
            use jetty_core::db::SessionStore;
            use jetty_core::Runtime;
            core.db.mark_started(&session.id, core.rt.now_ms()).await?;
        }
        TrackAction::Progress => {
            if let Some(bytes) = body.bytes_uploaded {
                core.track_progress(&session, bytes).await;
            }
        }
        TrackAction::Complete => return finalized(&core.finalize(&session).await?, origin),
        TrackAction::Fail => {
            let reason = body.reason.as_deref().unwrap_or("client_fail");
            let reason: String = reason.chars().filter(|c| !c.is_control()).take(200).collect();
            return abort(core, account, &body.file_id, &reason).await;
        }
    }
    let session = core.own_session(account, &body.file_id).await?;
    json_response(
        200,
        &serde_json::json!({ "ok": true, "state": core.state_of(&session).await? }),
    )
    .map_err(internal)
}

/// `POST /api/jetty/cache-chunk`: L2 chunk metadata in KV with a TTL.
pub async fn cache_chunk(req: &mut Request, core: &Coordinator, account: &str) -> ApiResult<Response> {
    let body: CacheChunkRequest = read_json(req, JSON_LIMIT).await?;
    let session = core.own_session(account, &body.file_id).await?;
    core.cache_chunk(&session, body.chunk_index, &body.hash, &body.edge_id, body.size)
        .await?;
    json_response(
        200,
        &serde_json::json!({ "ok": true, "ttl": jetty_core::sessions::CHUNK_TTL_SECS }),
    )
    .map_err(internal)
}
