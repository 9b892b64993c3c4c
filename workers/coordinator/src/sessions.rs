//! Session handlers: get-state, save-state, resume, abort, track-upload, cache-chunk. The
//! decisions (state from the database's records only, KV as a cache) are in
//! `jetty_core::sessions`.

use crate::world::Coordinator;
use jetty_core::db::Account;
use jetty_core::finalize::finalize_answer;
use jetty_shared::protocol::OptimalEdgesRequest;
use jetty_shared::state::*;
use jetty_shared::{ApiError, ErrorCode};
use jetty_worker_runtime::*;
use worker::{Request, Response};

/// `GET /api/jetty/get-state/:userId/:fileId`: the seed's `{state: … | null}` (see
/// `jetty_core::views::seed_state`).
pub async fn get_state(core: &Coordinator, account: &str, user_id: &str, file_id: &str) -> ApiResult<Response> {
    json_response(200, &core.seed_state(account, user_id, file_id).await?).map_err(internal)
}

/// `POST /api/jetty/save-state`: the client's own view, kept until the session expires.
pub async fn save_state(req: &mut Request, core: &Coordinator, account: &str) -> ApiResult<Response> {
    let body: SaveStateRequest = read_json(req, JSON_LIMIT).await?;
    let expires_at = core.save_state(account, &body.file_id, &body.state).await?;
    let answer = serde_json::json!({ "ok": true, "expiresAt": iso8601(expires_at) });
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

/// `POST /api/jetty/track-upload` with the seed's actions. The seed's `start` names no upload
/// (`{action: "start", fileName, fileSize, fileHash, …}`): it starts one, as optimal-edges does.
pub async fn track_upload(
    req: &mut Request,
    core: &Coordinator,
    caller: &Account,
    origin: &str,
) -> ApiResult<Response> {
    let account = caller.id.as_str();
    let body: TrackUploadRequest = read_json(req, JSON_LIMIT).await?;
    let Some(file_id) = body.file_id.clone() else {
        return start_from_seed(req, core, caller, origin, &body).await;
    };
    let session = core.own_session(account, &file_id).await?;
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
        TrackAction::Complete => {
            let session = core.with_declared_hash(session, body.file_hash.as_deref()).await?;
            let file = core.finalize(&session).await?;
            return json_response(200, &finalize_answer(&file, origin)).map_err(internal);
        }
        TrackAction::Fail => {
            let reason = body.reason.as_deref().unwrap_or("client_fail");
            let reason: String = reason.chars().filter(|c| !c.is_control()).take(200).collect();
            return abort(core, account, &file_id, &reason).await;
        }
    }
    let session = core.own_session(account, &file_id).await?;
    json_response(
        200,
        &serde_json::json!({ "ok": true, "state": core.state_of(&session).await? }),
    )
    .map_err(internal)
}

/// The seed's `start` without a `fileId`: a new upload from the file's fields.
async fn start_from_seed(
    req: &Request,
    core: &Coordinator,
    caller: &Account,
    origin: &str,
    body: &TrackUploadRequest,
) -> ApiResult<Response> {
    let (TrackAction::Start, Some(file_size), Some(file_hash)) = (body.action, body.file_size, &body.file_hash) else {
        return Err(ApiError::with_message(
            ErrorCode::InvalidRequest,
            "name the upload with fileId, or start one with fileSize and fileHash (and fileName)",
        ));
    };
    let start = OptimalEdgesRequest {
        file_size,
        file_hash: Some(file_hash.clone()),
        file_name: body.file_name.clone(),
        ..OptimalEdgesRequest::default()
    };
    let location = crate::client_location(req, None)?;
    let answer = core.optimal_edges(caller, &start, location, origin).await?;
    let mut answer = serde_json::to_value(&answer).map_err(internal)?;
    answer["ok"] = serde_json::json!(true);
    answer["fileId"] = answer["upload"]["fileId"].clone();
    json_response(200, &answer).map_err(internal)
}

/// `POST /api/jetty/cache-chunk`: L2 chunk metadata in KV with a TTL (either seed's form).
pub async fn cache_chunk(req: &mut Request, core: &Coordinator, account: &str) -> ApiResult<Response> {
    let body: CacheChunkRequest = read_json(req, JSON_LIMIT).await?;
    core.cache_chunk(account, &body).await?;
    json_response(
        200,
        &serde_json::json!({ "ok": true, "ttl": jetty_core::views::CHUNK_TTL_SECS }),
    )
    .map_err(internal)
}

/// `GET /api/jetty/uploads`: the caller's open upload sessions, newest first, paged; with
/// `hash`, the ones for that content (how another device finds the session to continue).
pub async fn list_uploads(req: &Request, core: &Coordinator, account: &str) -> ApiResult<Response> {
    let list = core.list_uploads(account, &crate::list_query(req)?).await?;
    json_response(200, &list).map_err(internal)
}
