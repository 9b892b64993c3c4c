//! JettySpeed edge: accepts a chunk as the raw request body, checks the upload token and the
//! declared size, streams the body to S3 `UploadPart` without buffering it, and reports the
//! accepted part to the coordinator over the service binding.
//!
//! Integrity is part of the forward: the S3 request is signed with the declared SHA-256 as
//! the payload hash and carries `x-amz-checksum-sha256`, so the store refuses a body that does
//! not match and nothing is recorded.

mod serve;

use jetty_shared::protocol::*;
use jetty_shared::routes::EdgeEndpoint;
use jetty_shared::{ApiError, ErrorCode};
use jetty_worker_runtime::chunk::forward_chunk;
use jetty_worker_runtime::*;
use worker::{event, Context, Env, Request, Response};

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    respond(handle(req, &env, &ctx).await)
}

async fn handle(req: Request, env: &Env, ctx: &Context) -> ApiResult<Response> {
    match EdgeEndpoint::from_request(req.method().as_ref(), &req.path())? {
        EdgeEndpoint::Health => {
            let id = var_or(env, "EDGE_ID", "edge");
            json_response(200, &serde_json::json!({"ok": true, "service": "edge", "edgeId": id})).map_err(internal)
        }
        EdgeEndpoint::UploadChunk => upload_chunk(req, env).await,
        EdgeEndpoint::GetFile { file_id, head } => serve::get_file(req, env, ctx, &file_id, head).await,
        EdgeEndpoint::Purge => serve::purge(req, env).await,
        EdgeEndpoint::Warmup => serve::warmup(req, env).await,
    }
}

async fn upload_chunk(req: Request, env: &Env) -> ApiResult<Response> {
    let edge_id = var_or(env, "EDGE_ID", "edge");
    let (record, receipt) = forward_chunk(req, env, &edge_id).await?;
    // Report the part to the coordinator (service binding, HMAC-signed body).
    report_part(env, &record).await?;
    json_response(200, &receipt).map_err(internal)
}

async fn report_part(env: &Env, record: &PartRecord) -> ApiResult<()> {
    let resp = call_coordinator(env, "/internal/parts", record).await?;
    match resp.status_code() {
        200 => Ok(()),
        _ => Err(coordinator_refusal(resp).await),
    }
}

/// POSTs an HMAC-signed (INTERNAL_SECRET) JSON body to the coordinator over the service binding.
pub(crate) async fn call_coordinator<T: serde::Serialize>(env: &Env, path: &str, body: &T) -> ApiResult<Response> {
    let body = serde_json::to_string(body).map_err(internal)?;
    let request = internal_request(env, &format!("https://coordinator{path}"), body)?;
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
