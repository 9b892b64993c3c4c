//! JettySpeed coordinator worker: a thin shell over `jetty_core`. It routes a request
//! (`jetty_shared::routes`), authenticates it, reads its body, calls the core and renders the
//! answer; D1, KV, S3-through-Fetch and the clock are adapted in `world`.

mod accounts;
mod edges;
mod files;
mod pages;
mod sessions;
mod stats;
mod upload;
mod world;

use jetty_core::db::{Account, AccountStore, CredentialKind, EdgeMetricsStore};
use jetty_shared::auth::api_key_hash;
use jetty_shared::config::{missing_required, Worker};
use jetty_shared::routes::{Auth, CoordinatorEndpoint};
use jetty_shared::{ApiError, ErrorCode};
use jetty_worker_runtime::*;
use worker::{console_log, event, Context, Env, Request, Response, ScheduleContext, ScheduledEvent};
use world::Coordinator;

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    serve_with_cors(req, &env, |req| handle(req, &env)).await
}

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let core = match world::coordinator(&env) {
        Ok(core) => core,
        Err(e) => return console_log!("scheduled job not run: {}", e.message),
    };
    // The hourly trigger recomputes upload patterns and pre-warms edges.
    if event.cron() == "0 * * * *" {
        match edges::prewarm(&core).await {
            Ok(warmed) => console_log!("pre-warmed {warmed} edges"),
            Err(e) => console_log!("pre-warming failed: {}", e.message),
        }
        return;
    }
    match core.sweep().await {
        Ok(closed) => console_log!("sweeper closed {closed} expired sessions"),
        Err(e) => console_log!("sweeper failed: {}", e.message),
    }
    match edges::probe_edges(&core).await {
        Ok(probed) => console_log!("probed {probed} edges"),
        Err(e) => console_log!("edge probes failed: {}", e.message),
    }
}

async fn handle(mut req: Request, env: &Env) -> ApiResult<Response> {
    use CoordinatorEndpoint::*;
    let endpoint = CoordinatorEndpoint::from_request(req.method().as_ref(), &req.path())?;
    if endpoint.auth() == Auth::Public {
        return public(&req, env, &endpoint).await;
    }
    let core = world::coordinator(env)?;
    let origin = request_origin(&req, &core);
    // How each endpoint authenticates is declared in `jetty_shared::routes` (`Auth`); the
    // handlers of the non-API-key ones verify their own credential (signature, token, secret).
    match endpoint.auth() {
        Auth::Public => return unreachable_public(),
        Auth::UploadToken if endpoint == StoreCheck => return upload::store_check(req, &core).await,
        Auth::UploadToken => return upload::origin_direct_chunk(req, &core).await,
        Auth::Internal | Auth::Webhook | Auth::ApiSecret | Auth::AdminOrApiKey => {
            return own_credential(&mut req, &core, endpoint).await
        }
        Auth::ApiKey | Auth::ApiKeyOrLink => {}
    }
    let req = &mut req;
    let caller = authenticate(req, &core).await?;
    let account = caller.id.as_str();
    match endpoint {
        OptimalEdges => upload::optimal_edges(req, &core, &caller, &origin).await,
        Identify => upload::identify(req, &core, &caller, &origin).await,
        FinalizeUpload => upload::finalize_upload(req, &core, account, &origin).await,
        GetFile { file_id } => files::get_file(&core, &caller, &file_id).await,
        Quota => accounts::quota(&core, &caller).await,
        EdgeReport => edges::edge_report(req, &core, account).await,
        Patterns => edges::patterns(&core, account).await,
        CreateLink { file_id } => files::create_link(req, &core, &caller, &file_id).await,
        FileInfo { file_id } => files::file_info(req, &core, &caller, &file_id).await,
        DirectDownload { file_id } => files::direct_download(&core, &caller, &file_id).await,
        DeleteFile { file_id } => files::delete_file(&core, &caller, &file_id).await,
        SimpleUpload => accounts::simple_upload(req, &core, &caller, &origin).await,
        CheckDuplicate => files::check_duplicate(req, &core, account, &origin).await,
        CacheChunk => sessions::cache_chunk(req, &core, account).await,
        TrackUpload => sessions::track_upload(req, &core, &caller, &origin).await,
        SaveState => sessions::save_state(req, &core, account).await,
        GetState { user_id, file_id } => sessions::get_state(&core, account, &user_id, &file_id).await,
        Resume => sessions::resume(req, &core, account, &origin).await,
        AbortUpload { file_id } => sessions::abort(&core, account, &file_id, "client_abort").await,
        ListFiles => files::list_files(req, &core, &caller, &origin).await,
        ListUploads => sessions::list_uploads(req, &core, account).await,
        ReuseParts => upload::reuse_parts(req, &core, account).await,
        DirectPartUrl => upload::direct_part_url(req, &core, account).await,
        DirectPartStored => upload::direct_part_stored(req, &core, account).await,
        // Public and self-authenticating endpoints were answered above.
        Health
        | Dashboard { .. }
        | UploadPage { .. }
        | RecordPart
        | SessionCheck
        | UploadChunk
        | StoreCheck
        | PlatformProvision
        | VendorProvision
        | VendorUpgrade
        | RotateKey
        | AuthorizeDownload
        | RecordUsage
        | Stats => Err(ApiError::new(ErrorCode::NotFound)),
    }
}

/// The endpoints anyone may call: the health check and the static pages.
async fn public(req: &Request, env: &Env, endpoint: &CoordinatorEndpoint) -> ApiResult<Response> {
    match endpoint {
        CoordinatorEndpoint::Dashboard { asset } => {
            pages::dashboard(asset.as_deref(), query_param(req, "v").as_deref())
        }
        CoordinatorEndpoint::UploadPage { asset } => {
            // The page's CSP lets it send parts to the registered edges.
            let edges = match (asset, world::coordinator(env)) {
                (None, Ok(core)) => core.db.active_edges().await?.into_iter().map(|e| e.url).collect(),
                _ => Vec::new(),
            };
            pages::upload(asset.as_deref(), query_param(req, "v").as_deref(), &edges)
        }
        _ => {
            // Which required settings are missing (names only, never values), and the object
            // store's health as the edges' and the coordinator's forwards and probes saw it.
            let missing = missing_required(|name| lookup(env, name), Worker::Coordinator);
            let store = match world::coordinator(env) {
                Ok(core) => core.store_report().await.ok(),
                Err(_) => None,
            };
            let status = if missing.is_empty() { 200 } else { 503 };
            let answer = serde_json::json!({
                "ok": missing.is_empty(),
                "service": "coordinator",
                "missingSettings": missing,
                "store": store,
            });
            json_response(status, &answer).map_err(internal)
        }
    }
}

fn unreachable_public() -> ApiResult<Response> {
    Err(jetty_core::internal("a public endpoint reached the authenticated path"))
}

/// The endpoints that carry their own credential: signed internal reports, signed webhooks,
/// key rotation by API secret, and the admin-or-account stats.
async fn own_credential(req: &mut Request, core: &Coordinator, endpoint: CoordinatorEndpoint) -> ApiResult<Response> {
    use CoordinatorEndpoint::*;
    match endpoint {
        RecordPart => upload::record_part(req, core).await,
        SessionCheck => upload::session_check(req, core).await,
        AuthorizeDownload => files::authorize_download(req, core).await,
        RecordUsage => files::record_usage(req, core).await,
        PlatformProvision => accounts::platform_provision(req, core).await,
        VendorProvision => accounts::vendor_provision(req, core).await,
        VendorUpgrade => accounts::vendor_upgrade(req, core).await,
        RotateKey => accounts::rotate_key(req, core).await,
        Stats => stats::stats(req, core).await,
        other => Err(jetty_core::internal(format!(
            "{other:?} declares no credential of its own"
        ))),
    }
}

/// The account behind the request's bearer API key (revoked keys and API secrets do not count).
async fn authenticate(req: &Request, core: &Coordinator) -> ApiResult<Account> {
    let key = bearer_token(req).ok_or_else(|| ApiError::new(ErrorCode::MissingApiKey))?;
    core.db
        .account_for_credential(&api_key_hash(&key), CredentialKind::Key)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidApiKey))
}

/// A listing's query string (`prefix`, `hash`, `limit`, `cursor`), validated.
fn list_query(req: &Request) -> ApiResult<jetty_shared::listing::ListQuery> {
    let url = req.url().map_err(internal)?;
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    jetty_shared::listing::ListQuery::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// The public origin for URLs: `PUBLIC_URL` when configured, else the request's own.
pub fn request_origin(req: &Request, core: &Coordinator) -> String {
    match &core.settings.public_url {
        Some(configured) => configured.clone(),
        None => req.url().map(|u| u.origin().ascii_serialization()).unwrap_or_default(),
    }
}

/// The client's location: its declared `userLocation`, else Cloudflare's coordinates for its IP.
pub fn client_location(
    req: &Request,
    declared: Option<jetty_shared::protocol::Location>,
) -> ApiResult<jetty_shared::protocol::Location> {
    let from_network = req
        .cf()
        .and_then(|cf| cf.coordinates())
        .map(|(lat, lng)| jetty_shared::protocol::Location {
            lat: f64::from(lat),
            lng: f64::from(lng),
        });
    jetty_core::edges::client_location(declared, from_network)
}
