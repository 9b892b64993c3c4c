//! The upload path's handlers: optimal-edges, part reports from edges, the origin-direct
//! chunk route, and finalize. Decisions are in `jetty_core` (`upload`, `parts`, `finalize`).

use crate::world::Coordinator;
use jetty_core::db::{Account, SessionStore};
use jetty_core::finalize::finalize_answer;
use jetty_shared::protocol::*;
use jetty_shared::{ApiError, ErrorCode};
use jetty_worker_runtime::chunk::{forward_chunk, Forwarder, SessionGate};
use jetty_worker_runtime::*;
use worker::{Request, Response};

pub const ORIGIN_DIRECT_ID: &str = "origin-direct";

/// `POST /api/jetty/optimal-edges`.
pub async fn optimal_edges(
    req: &mut Request,
    core: &Coordinator,
    account: &Account,
    origin: &str,
) -> ApiResult<Response> {
    let body: OptimalEdgesRequest = read_json(req, JSON_LIMIT).await?;
    let location = crate::client_location(req, body.user_location)?;
    let answer = core.optimal_edges(account, &body, location, origin).await?;
    json_response(200, &answer).map_err(internal)
}

/// `POST /api/jetty/identify`: the content id of an upload opened without one.
pub async fn identify(req: &mut Request, core: &Coordinator, account: &Account, origin: &str) -> ApiResult<Response> {
    let body: IdentifyRequest = read_json(req, JSON_LIMIT).await?;
    let answer = core.identify_upload(account, &body, origin).await?;
    json_response(200, &answer).map_err(internal)
}

/// `POST /api/jetty/direct-part`: presigned UploadParts for the store-direct route.
pub async fn direct_part_url(req: &mut Request, core: &Coordinator, account: &str) -> ApiResult<Response> {
    let body: DirectPartsRequest = read_json(req, JSON_LIMIT).await?;
    let answer = core.direct_part_urls(account, &body).await?;
    json_response(200, &answer).map_err(internal)
}

/// `POST /api/jetty/direct-part/stored`: record parts sent straight to the store, as the store
/// lists them.
pub async fn direct_part_stored(req: &mut Request, core: &Coordinator, account: &str) -> ApiResult<Response> {
    let body: DirectPartsRequest = read_json(req, JSON_LIMIT).await?;
    let answer = core.direct_parts_stored(account, &body).await?;
    json_response(200, &answer).map_err(internal)
}

/// Edge → coordinator: S3 accepted a part. The body is HMAC-signed with INTERNAL_SECRET.
pub async fn record_part(req: &mut Request, core: &Coordinator) -> ApiResult<Response> {
    let record: PartRecord = parse_json(&read_internal(req, &core.settings.internal_secret, JSON_LIMIT).await?)?;
    core.record_part(record).await?;
    json_response(200, &serde_json::json!({"ok": true})).map_err(internal)
}

/// The origin-direct path: a chunk sent to the coordinator itself is forwarded to the store the
/// same way an edge would, and recorded directly. Uploads keep working with every edge down.
pub async fn origin_direct_chunk(req: Request, core: &Coordinator) -> ApiResult<Response> {
    let (record, receipt) = forward_chunk(req, &origin_forwarder(core), &OwnSessions(core)).await?;
    core.record_part(record).await?;
    json_response(200, &receipt).map_err(internal)
}

/// `GET /api/edge/store-check` on the origin-direct path (see `chunk::store_check`).
pub async fn store_check(req: Request, core: &Coordinator) -> ApiResult<Response> {
    jetty_worker_runtime::chunk::store_check(&req, &origin_forwarder(core)).await
}

/// The coordinator as the origin-direct path's forwarder of parts to the store.
fn origin_forwarder(core: &Coordinator) -> Forwarder<'_> {
    Forwarder {
        edge_id: ORIGIN_DIRECT_ID,
        token_secret: &core.settings.token_secret,
        s3: &core.s3,
        verify_mode: core.settings.verify_mode,
    }
}

/// The origin-direct route's session gate: the coordinator's own records.
struct OwnSessions<'a>(&'a Coordinator);

impl SessionGate for OwnSessions<'_> {
    async fn is_active(&self, claims: &jetty_shared::token::UploadClaims, store_failed: bool) -> bool {
        let check = SessionCheck {
            session_id: claims.sid.clone(),
            account_id: claims.acc.clone(),
            edge_id: ORIGIN_DIRECT_ID.to_owned(),
            store_failed,
        };
        self.0.session_check(&check).await.unwrap_or(true)
    }
}

/// Edge → coordinator after a failed forward: does the session still take parts? (Signed.)
pub async fn session_check(req: &mut Request, core: &Coordinator) -> ApiResult<Response> {
    let check: SessionCheck = parse_json(&read_internal(req, &core.settings.internal_secret, JSON_LIMIT).await?)?;
    let active = core.session_check(&check).await?;
    json_response(200, &SessionCheckAnswer { active }).map_err(internal)
}

/// `POST /api/jetty/reuse-parts`: parts of the caller's open upload copied from what the
/// account already stores.
pub async fn reuse_parts(req: &mut Request, core: &Coordinator, account: &str) -> ApiResult<Response> {
    let body: ReusePartsRequest = read_json(req, JSON_LIMIT).await?;
    let answer = core.reuse_parts(account, &body).await?;
    json_response(200, &answer).map_err(internal)
}

/// `POST /api/edge/finalize-upload`.
pub async fn finalize_upload(
    req: &mut Request,
    core: &Coordinator,
    account: &str,
    origin: &str,
) -> ApiResult<Response> {
    let body: FinalizeRequest = read_json(req, JSON_LIMIT).await?;
    let session = core
        .db
        .session_by_file(account, &body.file_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    if let Some(total) = body.total_chunks {
        if total != session.part_count {
            return Err(ApiError::with_message(
                ErrorCode::InvalidRequest,
                format!(
                    "totalChunks is {total} but the session has {} parts",
                    session.part_count
                ),
            ));
        }
    }
    let session = core.with_declared_hash(session, body.file_hash.as_deref()).await?;
    let file = core.finalize(&session).await?;
    json_response(200, &finalize_answer(&file, origin)).map_err(internal)
}
