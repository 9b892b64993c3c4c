//! JettySpeed coordinator: API keys, edge selection, upload sessions (D1), S3 multipart
//! lifecycle, part records reported by edges, finalization, resume, dedup and downloads.

mod accounts;
mod dashboard;
mod db;
mod files;
mod routing;
mod sessions;
mod stats;
mod upload;

use jetty_shared::auth::api_key_hash;
use jetty_shared::routes::CoordinatorEndpoint;
use jetty_shared::{ApiError, ErrorCode};
use jetty_worker_runtime::*;
use worker::{console_log, event, Context, D1Database, Env, Request, Response, ScheduleContext, ScheduledEvent};

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    respond(handle(req, &env).await)
}

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    // The hourly trigger recomputes upload patterns and pre-warms edges.
    if event.cron() == "0 * * * *" {
        match routing::prewarm(&env).await {
            Ok(warmed) => console_log!("pre-warmed {warmed} edges"),
            Err(e) => console_log!("pre-warming failed: {}", e.message),
        }
        return;
    }
    match sessions::sweep(&env).await {
        Ok(closed) => console_log!("sweeper closed {closed} expired sessions"),
        Err(e) => console_log!("sweeper failed: {}", e.message),
    }
    match routing::probe_edges(&env).await {
        Ok(probed) => console_log!("probed {probed} edges"),
        Err(e) => console_log!("edge probes failed: {}", e.message),
    }
}

async fn handle(mut req: Request, env: &Env) -> ApiResult<Response> {
    use CoordinatorEndpoint::*;
    let endpoint = CoordinatorEndpoint::from_request(req.method().as_ref(), &req.path())?;
    let db = env.d1("DB").map_err(internal)?;
    if endpoint == Health {
        return json_response(200, &serde_json::json!({"ok": true, "service": "coordinator"})).map_err(internal);
    }
    if let Dashboard { asset } = &endpoint {
        return dashboard::serve(asset.as_deref(), query_param(&req, "v").as_deref());
    }
    // Endpoints with their own authentication: signed internal reports, signed webhooks,
    // and key rotation by API secret.
    match endpoint {
        RecordPart => return upload::record_part(&mut req, env, &db).await,
        UploadChunk => return upload::origin_direct_chunk(req, env, &db).await,
        PlatformProvision => return accounts::platform_provision(&mut req, env, &db).await,
        VendorProvision => return accounts::vendor_provision(&mut req, env, &db).await,
        VendorUpgrade => return accounts::vendor_upgrade(&mut req, env, &db).await,
        RotateKey => return accounts::rotate_key(&req, &db).await,
        AuthorizeDownload => return files::authorize_download(&mut req, env, &db).await,
        RecordUsage => return files::record_usage(&mut req, env, &db).await,
        // An account's key or the operators' admin key.
        Stats => return stats::stats(&req, env, &db).await,
        _ => {}
    }
    let caller = authenticate(&req, &db).await?;
    let account = caller.id.clone();
    let origin = request_origin(&req, env);
    let req = &mut req;
    match endpoint {
        OptimalEdges => upload::optimal_edges(req, env, &db, &caller).await,
        FinalizeUpload => upload::finalize_upload(req, env, &db, &account).await,
        GetFile { file_id } => files::get_file(env, &db, &caller, &file_id).await,
        Quota => accounts::quota(&db, &caller).await,
        EdgeReport => routing::edge_report(req, &db, &account).await,
        Patterns => routing::patterns(&db, &account).await,
        CreateLink { file_id } => files::create_link(req, env, &db, &caller, &file_id).await,
        FileInfo { file_id } => files::file_info(req, &db, &caller, &file_id).await,
        DeleteFile { file_id } => files::delete_file(env, &db, &caller, &file_id).await,
        SimpleUpload => accounts::simple_upload(req, env, &db, &caller, &origin).await,
        CheckDuplicate => files::check_duplicate(req, &db, &account, &origin).await,
        CacheChunk => sessions::cache_chunk(req, env, &db, &account).await,
        TrackUpload => sessions::track_upload(req, env, &db, &account, &origin).await,
        SaveState => sessions::save_state(req, env, &db, &account).await,
        GetState { user_id, file_id } => sessions::get_state(&db, &account, &user_id, &file_id).await,
        Resume => sessions::resume(req, env, &db, &account).await,
        AbortUpload { file_id } => sessions::abort(env, &db, &account, &file_id, "client_abort").await,
        Health
        | RecordPart
        | UploadChunk
        | PlatformProvision
        | VendorProvision
        | VendorUpgrade
        | RotateKey
        | AuthorizeDownload
        | RecordUsage
        | Stats
        | Dashboard { .. } => Err(ApiError::new(ErrorCode::NotFound)),
    }
}

/// The account behind the request's bearer API key (revoked keys and API secrets do not count).
async fn authenticate(req: &Request, db: &D1Database) -> ApiResult<db::Account> {
    let key = bearer_token(req).ok_or_else(|| ApiError::new(ErrorCode::MissingApiKey))?;
    db::account_for_credential(db, &api_key_hash(&key), "key")
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidApiKey))
}

pub fn file_url(origin: &str, file_id: &str) -> String {
    format!("{origin}/api/files/{file_id}")
}

/// The public origin for URLs: `PUBLIC_URL` when configured, else the request's own.
pub fn request_origin(req: &Request, env: &Env) -> String {
    let configured = var_or(env, "PUBLIC_URL", "").trim_end_matches('/').to_owned();
    if !configured.is_empty() {
        return configured;
    }
    req.url().map(|u| u.origin().ascii_serialization()).unwrap_or_default()
}
