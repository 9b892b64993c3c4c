//! JettySpeed edge: accepts a chunk as the raw request body, checks the upload token and the
//! declared size, streams the body to S3 `UploadPart` without buffering it, answers, and then
//! reports the accepted part to the coordinator over the service binding.
//!
//! Integrity is part of the forward: the S3 request is signed with the declared SHA-256 as
//! the payload hash and carries `x-amz-checksum-sha256`, so the store refuses a body that does
//! not match and nothing is recorded.

mod serve;

use jetty_shared::config::{missing_required, EdgeConfig, Worker};
use jetty_shared::protocol::*;
use jetty_shared::routes::EdgeEndpoint;
use jetty_shared::{ApiError, ErrorCode};
use jetty_worker_runtime::chunk::{forward_chunk, Forwarder, SessionGate};
use jetty_worker_runtime::*;
use worker::{event, Context, Env, Request, Response};

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    serve_with_cors(req, &env, |req| handle(req, &env, &ctx)).await
}

async fn handle(req: Request, env: &Env, ctx: &Context) -> ApiResult<Response> {
    let endpoint = EdgeEndpoint::from_request(req.method().as_ref(), &req.path())?;
    if endpoint == EdgeEndpoint::Health {
        // Which required settings are missing (names only): a probe counts such an edge down.
        let missing = missing_required(|name| lookup(env, name), Worker::Edge);
        let id = lookup(env, "EDGE_ID").unwrap_or_else(|| "edge".to_owned());
        let status = if missing.is_empty() { 200 } else { 503 };
        let answer =
            serde_json::json!({"ok": missing.is_empty(), "service": "edge", "edgeId": id, "missingSettings": missing});
        return json_response(status, &answer).map_err(internal);
    }
    let config = edge_config(env)?;
    match endpoint {
        EdgeEndpoint::UploadChunk => upload_chunk(req, env, ctx, config).await,
        EdgeEndpoint::StoreCheck => {
            let s3 = config.s3();
            jetty_worker_runtime::chunk::store_check(&req, &forwarder(&config, &s3)).await
        }
        EdgeEndpoint::GetFile { file_id, head } => serve::get_file(req, env, ctx, &config, &file_id, head).await,
        EdgeEndpoint::Purge => serve::purge(req, &config).await,
        EdgeEndpoint::Warmup => serve::warmup(req, &config).await,
        EdgeEndpoint::Health => Err(ApiError::new(ErrorCode::NotFound)),
    }
}

/// This edge as a forwarder of parts to the store `s3` (`config.s3()`).
fn forwarder<'a>(config: &'a EdgeConfig, s3: &'a jetty_shared::s3::S3) -> Forwarder<'a> {
    Forwarder {
        edge_id: &config.edge_id,
        token_secret: &config.token_secret,
        s3,
        verify_mode: config.verify_mode,
    }
}

async fn upload_chunk(req: Request, env: &Env, ctx: &Context, config: EdgeConfig) -> ApiResult<Response> {
    let s3 = config.s3();
    let gate = CoordinatorGate { env, config: &config };
    let (record, receipt) = forward_chunk(req, &forwarder(&config, &s3), &gate).await?;
    // The store holds the part, checked against its SHA-256: the client hears so now, and the
    // coordinator (service binding, HMAC-signed body, then a D1 write: a backbone round trip
    // or more from a far colo) is told after, off the part's critical path. A report that
    // arrives after finalize, or never, loses nothing: finalize records what the store lists
    // (`record_unreported_parts`).
    let env = env.clone();
    ctx.wait_until(async move {
        if let Err(err) = report_part(&env, &config, &record).await {
            worker::console_error!(
                "part {} of session {}: report not recorded ({}: {})",
                record.part_number,
                record.session_id,
                err.code.as_str(),
                err.message
            );
        }
    });
    json_response(200, &receipt).map_err(internal)
}

/// Asks the coordinator (whose D1 holds the truth) whether a session still takes parts, after a
/// forward failed; also how the store's failures reach the coordinator. Unreachable: assume it
/// does, so the client hears about the store and retries.
struct CoordinatorGate<'a> {
    env: &'a Env,
    config: &'a EdgeConfig,
}

impl SessionGate for CoordinatorGate<'_> {
    async fn is_active(&self, claims: &jetty_shared::token::UploadClaims, store_failed: bool) -> bool {
        let check = SessionCheck {
            session_id: claims.sid.clone(),
            account_id: claims.acc.clone(),
            edge_id: self.config.edge_id.clone(),
            store_failed,
        };
        match call_coordinator(self.env, self.config, "/internal/sessions/check", &check).await {
            Ok(mut resp) if resp.status_code() == 200 => resp
                .json::<SessionCheckAnswer>()
                .await
                .map_or(true, |answer| answer.active),
            _ => true,
        }
    }
}

async fn report_part(env: &Env, config: &EdgeConfig, record: &PartRecord) -> ApiResult<()> {
    let resp = call_coordinator(env, config, "/internal/parts", record).await?;
    match resp.status_code() {
        200 => Ok(()),
        _ => Err(coordinator_refusal(resp).await),
    }
}

/// POSTs an HMAC-signed (INTERNAL_SECRET) JSON body to the coordinator over the service binding.
pub(crate) async fn call_coordinator<T: serde::Serialize>(
    env: &Env,
    config: &EdgeConfig,
    path: &str,
    body: &T,
) -> ApiResult<Response> {
    let body = serde_json::to_string(body).map_err(internal)?;
    let request = internal_request(&config.internal_secret, &format!("https://coordinator{path}"), body)?;
    let coordinator = env.service("COORDINATOR").map_err(internal)?;
    coordinator
        .fetch_request(request)
        .await
        .map_err(|e| storage_failure(format!("coordinator unreachable: {e}")))
}

/// The coordinator's own refusal (4xx) passed through; its failures hidden as storage errors.
pub(crate) async fn coordinator_refusal(mut resp: Response) -> ApiError {
    let status = resp.status_code();
    let text = resp.text().await.unwrap_or_default();
    let refusal = serde_json::from_str::<jetty_shared::error::ErrorEnvelope>(&text)
        .ok()
        .and_then(|e| ErrorCode::from_wire(&e.error.code).map(|c| ApiError::with_message(c, e.error.message)));
    match refusal {
        Some(err) if status < 500 => err,
        _ => storage_failure(format!("coordinator answered {status}")),
    }
}
