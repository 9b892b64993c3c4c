//! Pure request routing: (method, path) → endpoint enum, as garage's `Endpoint::from_request`.
//! Handlers dispatch on the enum; unknown paths are `not_found`, wrong methods `method_not_allowed`.

use crate::error::{ApiError, ErrorCode};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoordinatorEndpoint {
    Health,
    OptimalEdges,
    FinalizeUpload,
    /// Download a finalized file's bytes.
    GetFile {
        file_id: String,
    },
    /// Edge → coordinator over the service binding (HMAC-signed body).
    RecordPart,
    /// Edge → coordinator after a failed forward: is the session still taking parts? (It also
    /// records the store's failure as the store's, not the edge's.)
    SessionCheck,
    CheckDuplicate,
    CacheChunk,
    TrackUpload,
    SaveState,
    /// The seed's `GET /api/jetty/get-state/:userId/:fileId`.
    GetState {
        user_id: String,
        file_id: String,
    },
    /// A fresh upload ticket for an active session (resume on any device).
    Resume,
    /// Abort an upload session (and its S3 multipart upload).
    AbortUpload {
        file_id: String,
    },
    /// Platform side: a user signed up; provision storage with the vendor (signed webhook).
    PlatformProvision,
    /// Vendor side: create the storage account (signed webhook).
    VendorProvision,
    /// Vendor side: change an account's tier (signed webhook).
    VendorUpgrade,
    Quota,
    /// Single-request upload of a small file.
    SimpleUpload,
    /// New API key, authenticated by the account's API secret.
    RotateKey,
    /// A signed, expiring download link served by the edges.
    CreateLink {
        file_id: String,
    },
    /// Size, hash and the edges to download from.
    FileInfo {
        file_id: String,
    },
    /// A presigned GetObject for the store-direct route (the whole file counted up front).
    DirectDownload {
        file_id: String,
    },
    DeleteFile {
        file_id: String,
    },
    /// Edge → coordinator: may this API key read this file (and count the bytes)?
    AuthorizeDownload,
    /// Edge → coordinator: bytes served through a download link.
    RecordUsage,
    /// A client saw an edge fail.
    EdgeReport,
    /// The caller's upload patterns (hour, weekday, size, typical edges).
    Patterns,
    /// The origin-direct path: a chunk sent to the coordinator itself (upload token auth).
    UploadChunk,
    /// Whether the store behind this forwarder answers (upload token auth): a client asks it
    /// before sending a part again after a store failure, so an outage costs no part bodies.
    StoreCheck,
    /// The caller's upload analytics.
    Stats,
    /// The analytics page (`asset` None) and its script and stylesheet.
    Dashboard {
        asset: Option<String>,
    },
    /// The upload page (`asset` None) and its script, stylesheet and hashing worker.
    UploadPage {
        asset: Option<String>,
    },
    /// The caller's files, newest first (paged).
    ListFiles,
    /// The caller's open upload sessions, newest first (paged).
    ListUploads,
    /// Copy parts of an open upload the account already stores (UploadPartCopy).
    ReuseParts,
    /// The store-direct route: a presigned UploadPart URL for one part.
    DirectPartUrl,
    /// The store-direct route: record a part the client sent straight to the store.
    DirectPartStored,
    /// The content id of an upload opened without one, once its parts are hashed: dedup then.
    Identify,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeEndpoint {
    Health,
    UploadChunk,
    /// As `CoordinatorEndpoint::StoreCheck`.
    StoreCheck,
    /// `GET`/`HEAD` a file, by API key or download link.
    GetFile {
        file_id: String,
        head: bool,
    },
    /// Coordinator → edge: drop a file from this edge's cache (HMAC-signed body).
    Purge,
    /// Coordinator → edge: open the path to the store before users arrive (HMAC-signed body).
    Warmup,
}

/// How a request to an endpoint proves who it is. Every endpoint declares one (an exhaustive
/// `match`, so a new endpoint cannot be added without deciding), and the tests list them in one
/// reviewed table: a route that skips the API-key check is visible there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Auth {
    /// No credential: health checks and the dashboard's static page.
    Public,
    /// `Authorization: Bearer <api key>` of an account.
    ApiKey,
    /// The operators' admin key (matched against `ADMIN_KEY_SHA256`) or an account's API key.
    AdminOrApiKey,
    /// HMAC-signed body (`INTERNAL_SECRET`): edge → coordinator or coordinator → edge.
    Internal,
    /// A Standard Webhooks signature (`INTERNAL_WEBHOOK_SECRET` / `VENDOR_WEBHOOK_SECRET`).
    Webhook,
    /// The account's API secret (key rotation only).
    ApiSecret,
    /// A signed upload token issued for one session.
    UploadToken,
    /// An account's API key, or a signed download link (`?sig=`), for the edge's file reads.
    ApiKeyOrLink,
}

impl Auth {
    pub const ALL: &'static [Auth] = &[
        Auth::Public,
        Auth::ApiKey,
        Auth::AdminOrApiKey,
        Auth::Internal,
        Auth::Webhook,
        Auth::ApiSecret,
        Auth::UploadToken,
        Auth::ApiKeyOrLink,
    ];

    /// A stable name for logs and review tables, e.g. `api_key`.
    pub fn as_str(self) -> &'static str {
        match self {
            Auth::Public => "public",
            Auth::ApiKey => "api_key",
            Auth::AdminOrApiKey => "admin_or_api_key",
            Auth::Internal => "internal",
            Auth::Webhook => "webhook",
            Auth::ApiSecret => "api_secret",
            Auth::UploadToken => "upload_token",
            Auth::ApiKeyOrLink => "api_key_or_link",
        }
    }

    /// Whether an account's API key is one accepted credential.
    pub fn accepts_api_key(self) -> bool {
        matches!(self, Auth::ApiKey | Auth::AdminOrApiKey | Auth::ApiKeyOrLink)
    }

    /// Whether the endpoint is reached without any credential at all.
    pub fn is_public(self) -> bool {
        self == Auth::Public
    }
}

impl std::fmt::Display for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn route<T>(method: &str, allowed: &[&str], endpoint: T) -> Result<T, ApiError> {
    if allowed.contains(&method) {
        Ok(endpoint)
    } else {
        Err(ApiError::with_message(
            ErrorCode::MethodNotAllowed,
            format!("use {} on this path", allowed.join(" or ")),
        ))
    }
}

fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

impl CoordinatorEndpoint {
    pub fn from_request(method: &str, path: &str) -> Result<Self, ApiError> {
        use CoordinatorEndpoint::*;
        match segments(path).as_slice() {
            ["health"] => route(method, &["GET", "HEAD"], Health),
            ["api", "jetty", "optimal-edges"] => route(method, &["POST"], OptimalEdges),
            ["api", "edge", "finalize-upload"] => route(method, &["POST"], FinalizeUpload),
            ["api", "files"] => route(method, &["GET"], ListFiles),
            ["api", "jetty", "uploads"] => route(method, &["GET"], ListUploads),
            ["upload"] => route(method, &["GET", "HEAD"], UploadPage { asset: None }),
            ["upload", asset] => route(
                method,
                &["GET", "HEAD"],
                UploadPage {
                    asset: Some((*asset).to_owned()),
                },
            ),
            ["api", "files", id] if method == "DELETE" => Ok(DeleteFile {
                file_id: (*id).to_owned(),
            }),
            ["api", "files", id] => route(
                method,
                &["GET", "DELETE"],
                GetFile {
                    file_id: (*id).to_owned(),
                },
            ),
            ["api", "files", id, "link"] => route(
                method,
                &["POST"],
                CreateLink {
                    file_id: (*id).to_owned(),
                },
            ),
            ["api", "files", id, "info"] => route(
                method,
                &["GET"],
                FileInfo {
                    file_id: (*id).to_owned(),
                },
            ),
            ["api", "files", id, "direct-download"] => route(
                method,
                &["POST"],
                DirectDownload {
                    file_id: (*id).to_owned(),
                },
            ),
            ["internal", "downloads", "authorize"] => route(method, &["POST"], AuthorizeDownload),
            ["internal", "downloads", "usage"] => route(method, &["POST"], RecordUsage),
            ["internal", "parts"] => route(method, &["POST"], RecordPart),
            ["internal", "sessions", "check"] => route(method, &["POST"], SessionCheck),
            ["api", "jetty", "check-duplicate"] => route(method, &["POST"], CheckDuplicate),
            ["api", "jetty", "cache-chunk"] => route(method, &["POST"], CacheChunk),
            ["api", "jetty", "track-upload"] => route(method, &["POST"], TrackUpload),
            ["api", "jetty", "save-state"] => route(method, &["POST"], SaveState),
            ["api", "jetty", "get-state", user, file] => route(
                method,
                &["GET"],
                GetState {
                    user_id: (*user).to_owned(),
                    file_id: (*file).to_owned(),
                },
            ),
            ["api", "jetty", "resume"] => route(method, &["POST"], Resume),
            ["api", "jetty", "uploads", id] => route(
                method,
                &["DELETE"],
                AbortUpload {
                    file_id: (*id).to_owned(),
                },
            ),
            ["api", "webhooks", "jettythunder", "provision"] => route(method, &["POST"], PlatformProvision),
            ["api", "agentcache", "provision"] => route(method, &["POST"], VendorProvision),
            ["api", "agentcache", "upgrade"] => route(method, &["POST"], VendorUpgrade),
            ["api", "agentcache", "quota"] => route(method, &["GET"], Quota),
            ["api", "agentcache", "rotate-key"] => route(method, &["POST"], RotateKey),
            ["api", "storage", "upload"] => route(method, &["POST"], SimpleUpload),
            ["api", "edge", "upload-chunk"] => route(method, &["POST", "PUT"], UploadChunk),
            ["api", "edge", "store-check"] => route(method, &["GET"], StoreCheck),
            ["api", "jetty", "stats"] => route(method, &["GET"], Stats),
            ["dashboard"] => route(method, &["GET", "HEAD"], Dashboard { asset: None }),
            ["dashboard", asset] => route(
                method,
                &["GET", "HEAD"],
                Dashboard {
                    asset: Some((*asset).to_owned()),
                },
            ),
            ["api", "jetty", "patterns"] => route(method, &["GET"], Patterns),
            ["api", "jetty", "edge-report"] => route(method, &["POST"], EdgeReport),
            ["api", "jetty", "reuse-parts"] => route(method, &["POST"], ReuseParts),
            ["api", "jetty", "direct-part"] => route(method, &["POST"], DirectPartUrl),
            ["api", "jetty", "direct-part", "stored"] => route(method, &["POST"], DirectPartStored),
            ["api", "jetty", "identify"] => route(method, &["POST"], Identify),
            _ => Err(ApiError::new(ErrorCode::NotFound)),
        }
    }
}

impl CoordinatorEndpoint {
    /// How a request to this endpoint authenticates (see [`Auth`]).
    pub fn auth(&self) -> Auth {
        use CoordinatorEndpoint::*;
        // No `_` arm: every new endpoint must say how it is authenticated.
        match self {
            Health | Dashboard { .. } | UploadPage { .. } => Auth::Public,
            RecordPart | SessionCheck | AuthorizeDownload | RecordUsage => Auth::Internal,
            UploadChunk | StoreCheck => Auth::UploadToken,
            PlatformProvision | VendorProvision | VendorUpgrade => Auth::Webhook,
            RotateKey => Auth::ApiSecret,
            Stats => Auth::AdminOrApiKey,
            OptimalEdges
            | FinalizeUpload
            | GetFile { .. }
            | CheckDuplicate
            | CacheChunk
            | TrackUpload
            | SaveState
            | GetState { .. }
            | Resume
            | AbortUpload { .. }
            | Quota
            | SimpleUpload
            | CreateLink { .. }
            | FileInfo { .. }
            | DirectDownload { .. }
            | DeleteFile { .. }
            | EdgeReport
            | Patterns
            | ListFiles
            | ListUploads
            | ReuseParts
            | DirectPartUrl
            | DirectPartStored
            | Identify => Auth::ApiKey,
        }
    }
}

impl EdgeEndpoint {
    pub fn from_request(method: &str, path: &str) -> Result<Self, ApiError> {
        match segments(path).as_slice() {
            ["health"] => route(method, &["GET", "HEAD"], EdgeEndpoint::Health),
            ["api", "edge", "upload-chunk"] => route(method, &["POST", "PUT"], EdgeEndpoint::UploadChunk),
            ["api", "edge", "store-check"] => route(method, &["GET"], EdgeEndpoint::StoreCheck),
            ["api", "files", id] => route(
                method,
                &["GET", "HEAD"],
                EdgeEndpoint::GetFile {
                    file_id: (*id).to_owned(),
                    head: method == "HEAD",
                },
            ),
            ["internal", "purge"] => route(method, &["POST"], EdgeEndpoint::Purge),
            ["api", "warmup"] => route(method, &["POST"], EdgeEndpoint::Warmup),
            _ => Err(ApiError::new(ErrorCode::NotFound)),
        }
    }
}

impl EdgeEndpoint {
    /// How a request to this endpoint authenticates (see [`Auth`]).
    pub fn auth(&self) -> Auth {
        // No `_` arm: every new endpoint must say how it is authenticated.
        match self {
            EdgeEndpoint::Health => Auth::Public,
            EdgeEndpoint::UploadChunk | EdgeEndpoint::StoreCheck => Auth::UploadToken,
            EdgeEndpoint::GetFile { .. } => Auth::ApiKeyOrLink,
            EdgeEndpoint::Purge | EdgeEndpoint::Warmup => Auth::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinator_routes_parse() {
        use CoordinatorEndpoint::*;
        let table = [
            ("POST", "/api/jetty/optimal-edges", Ok(OptimalEdges)),
            ("POST", "/api/edge/finalize-upload/", Ok(FinalizeUpload)),
            (
                "GET",
                "/api/files/fil_1",
                Ok(GetFile {
                    file_id: "fil_1".into(),
                }),
            ),
            ("POST", "/internal/parts", Ok(RecordPart)),
            ("POST", "/internal/sessions/check", Ok(SessionCheck)),
            ("GET", "/health", Ok(Health)),
            ("POST", "/api/jetty/check-duplicate", Ok(CheckDuplicate)),
            ("POST", "/api/jetty/cache-chunk", Ok(CacheChunk)),
            ("POST", "/api/jetty/track-upload", Ok(TrackUpload)),
            ("POST", "/api/jetty/save-state", Ok(SaveState)),
            (
                "GET",
                "/api/jetty/get-state/me/fil_1",
                Ok(GetState {
                    user_id: "me".into(),
                    file_id: "fil_1".into(),
                }),
            ),
            ("POST", "/api/jetty/resume", Ok(Resume)),
            ("GET", "/dashboard", Ok(Dashboard { asset: None })),
            ("HEAD", "/dashboard/", Ok(Dashboard { asset: None })),
            (
                "GET",
                "/dashboard/app.js",
                Ok(Dashboard {
                    asset: Some("app.js".into()),
                }),
            ),
            ("POST", "/dashboard", Err(ErrorCode::MethodNotAllowed)),
            ("GET", "/dashboard/a/b", Err(ErrorCode::NotFound)),
            (
                "DELETE",
                "/api/jetty/uploads/fil_1",
                Ok(AbortUpload {
                    file_id: "fil_1".into(),
                }),
            ),
            ("GET", "/api/jetty/uploads/fil_1", Err(ErrorCode::MethodNotAllowed)),
            ("POST", "/api/webhooks/jettythunder/provision", Ok(PlatformProvision)),
            ("POST", "/api/agentcache/provision", Ok(VendorProvision)),
            ("POST", "/api/agentcache/upgrade", Ok(VendorUpgrade)),
            ("GET", "/api/agentcache/quota", Ok(Quota)),
            ("POST", "/api/agentcache/rotate-key", Ok(RotateKey)),
            ("POST", "/api/storage/upload", Ok(SimpleUpload)),
            ("GET", "/api/storage/upload", Err(ErrorCode::MethodNotAllowed)),
            (
                "DELETE",
                "/api/files/fil_1",
                Ok(DeleteFile {
                    file_id: "fil_1".into(),
                }),
            ),
            (
                "POST",
                "/api/files/fil_1/link",
                Ok(CreateLink {
                    file_id: "fil_1".into(),
                }),
            ),
            (
                "GET",
                "/api/files/fil_1/info",
                Ok(FileInfo {
                    file_id: "fil_1".into(),
                }),
            ),
            (
                "POST",
                "/api/files/fil_1/direct-download",
                Ok(DirectDownload {
                    file_id: "fil_1".into(),
                }),
            ),
            (
                "GET",
                "/api/files/fil_1/direct-download",
                Err(ErrorCode::MethodNotAllowed),
            ),
            ("POST", "/internal/downloads/authorize", Ok(AuthorizeDownload)),
            ("POST", "/internal/downloads/usage", Ok(RecordUsage)),
            ("PUT", "/api/files/fil_1", Err(ErrorCode::MethodNotAllowed)),
            ("GET", "/api/jetty/get-state/me", Err(ErrorCode::NotFound)),
            ("GET", "/api/jetty/optimal-edges", Err(ErrorCode::MethodNotAllowed)),
            ("POST", "/api/nope", Err(ErrorCode::NotFound)),
            ("GET", "/", Err(ErrorCode::NotFound)),
        ];
        for (method, path, want) in table {
            assert_eq!(
                CoordinatorEndpoint::from_request(method, path).map_err(|e| e.code),
                want,
                "{method} {path}"
            );
        }
    }

    #[test]
    fn edge_routes_parse() {
        assert_eq!(
            EdgeEndpoint::from_request("PUT", "/api/edge/upload-chunk"),
            Ok(EdgeEndpoint::UploadChunk)
        );
        assert_eq!(
            EdgeEndpoint::from_request("POST", "/api/edge/upload-chunk"),
            Ok(EdgeEndpoint::UploadChunk)
        );
        assert_eq!(
            EdgeEndpoint::from_request("GET", "/api/edge/upload-chunk")
                .unwrap_err()
                .code,
            ErrorCode::MethodNotAllowed
        );
        assert_eq!(
            EdgeEndpoint::from_request("GET", "/x").unwrap_err().code,
            ErrorCode::NotFound
        );
    }

    /// Every coordinator route, with every method it accepts, and how it authenticates: the
    /// one reviewed table of who may call what.
    fn coordinator_auth_table() -> Vec<(&'static str, &'static str, CoordinatorEndpoint, Auth)> {
        use CoordinatorEndpoint::*;
        let f = || "fil_1".to_owned();
        vec![
            ("GET", "/health", Health, Auth::Public),
            ("HEAD", "/health", Health, Auth::Public),
            ("GET", "/dashboard", Dashboard { asset: None }, Auth::Public),
            ("HEAD", "/dashboard", Dashboard { asset: None }, Auth::Public),
            (
                "GET",
                "/dashboard/app.js",
                Dashboard {
                    asset: Some("app.js".into()),
                },
                Auth::Public,
            ),
            ("GET", "/upload", UploadPage { asset: None }, Auth::Public),
            (
                "GET",
                "/upload/hash-worker.js",
                UploadPage {
                    asset: Some("hash-worker.js".into()),
                },
                Auth::Public,
            ),
            ("POST", "/internal/parts", RecordPart, Auth::Internal),
            ("POST", "/internal/sessions/check", SessionCheck, Auth::Internal),
            (
                "POST",
                "/internal/downloads/authorize",
                AuthorizeDownload,
                Auth::Internal,
            ),
            ("POST", "/internal/downloads/usage", RecordUsage, Auth::Internal),
            ("POST", "/api/edge/upload-chunk", UploadChunk, Auth::UploadToken),
            ("PUT", "/api/edge/upload-chunk", UploadChunk, Auth::UploadToken),
            ("GET", "/api/edge/store-check", StoreCheck, Auth::UploadToken),
            (
                "POST",
                "/api/webhooks/jettythunder/provision",
                PlatformProvision,
                Auth::Webhook,
            ),
            ("POST", "/api/agentcache/provision", VendorProvision, Auth::Webhook),
            ("POST", "/api/agentcache/upgrade", VendorUpgrade, Auth::Webhook),
            ("POST", "/api/agentcache/rotate-key", RotateKey, Auth::ApiSecret),
            ("GET", "/api/jetty/stats", Stats, Auth::AdminOrApiKey),
            ("POST", "/api/jetty/optimal-edges", OptimalEdges, Auth::ApiKey),
            ("POST", "/api/edge/finalize-upload", FinalizeUpload, Auth::ApiKey),
            ("GET", "/api/files/fil_1", GetFile { file_id: f() }, Auth::ApiKey),
            ("DELETE", "/api/files/fil_1", DeleteFile { file_id: f() }, Auth::ApiKey),
            (
                "POST",
                "/api/files/fil_1/link",
                CreateLink { file_id: f() },
                Auth::ApiKey,
            ),
            ("GET", "/api/files/fil_1/info", FileInfo { file_id: f() }, Auth::ApiKey),
            (
                "POST",
                "/api/files/fil_1/direct-download",
                DirectDownload { file_id: f() },
                Auth::ApiKey,
            ),
            ("POST", "/api/jetty/check-duplicate", CheckDuplicate, Auth::ApiKey),
            ("POST", "/api/jetty/cache-chunk", CacheChunk, Auth::ApiKey),
            ("POST", "/api/jetty/track-upload", TrackUpload, Auth::ApiKey),
            ("POST", "/api/jetty/save-state", SaveState, Auth::ApiKey),
            (
                "GET",
                "/api/jetty/get-state/me/fil_1",
                GetState {
                    user_id: "me".into(),
                    file_id: f(),
                },
                Auth::ApiKey,
            ),
            ("POST", "/api/jetty/resume", Resume, Auth::ApiKey),
            (
                "DELETE",
                "/api/jetty/uploads/fil_1",
                AbortUpload { file_id: f() },
                Auth::ApiKey,
            ),
            ("GET", "/api/agentcache/quota", Quota, Auth::ApiKey),
            ("POST", "/api/storage/upload", SimpleUpload, Auth::ApiKey),
            ("POST", "/api/jetty/edge-report", EdgeReport, Auth::ApiKey),
            ("GET", "/api/jetty/patterns", Patterns, Auth::ApiKey),
            ("GET", "/api/files", ListFiles, Auth::ApiKey),
            ("GET", "/api/jetty/uploads", ListUploads, Auth::ApiKey),
            ("POST", "/api/jetty/reuse-parts", ReuseParts, Auth::ApiKey),
            ("POST", "/api/jetty/direct-part", DirectPartUrl, Auth::ApiKey),
            ("POST", "/api/jetty/direct-part/stored", DirectPartStored, Auth::ApiKey),
            ("POST", "/api/jetty/identify", Identify, Auth::ApiKey),
        ]
    }

    fn edge_auth_table() -> Vec<(&'static str, &'static str, EdgeEndpoint, Auth)> {
        use EdgeEndpoint::*;
        let file = |head| GetFile {
            file_id: "fil_1".into(),
            head,
        };
        vec![
            ("GET", "/health", Health, Auth::Public),
            ("HEAD", "/health", Health, Auth::Public),
            ("POST", "/api/edge/upload-chunk", UploadChunk, Auth::UploadToken),
            ("PUT", "/api/edge/upload-chunk", UploadChunk, Auth::UploadToken),
            ("GET", "/api/edge/store-check", StoreCheck, Auth::UploadToken),
            ("GET", "/api/files/fil_1", file(false), Auth::ApiKeyOrLink),
            ("HEAD", "/api/files/fil_1", file(true), Auth::ApiKeyOrLink),
            ("POST", "/internal/purge", Purge, Auth::Internal),
            ("POST", "/api/warmup", Warmup, Auth::Internal),
        ]
    }

    /// A number per variant. The match has no `_` arm, so a new endpoint needs a new number
    /// here (and `COORDINATOR_VARIANTS` raised), and then a row in the table above.
    fn coordinator_ordinal(e: &CoordinatorEndpoint) -> usize {
        use CoordinatorEndpoint::*;
        match e {
            Health => 0,
            OptimalEdges => 1,
            FinalizeUpload => 2,
            GetFile { .. } => 3,
            RecordPart => 4,
            CheckDuplicate => 5,
            CacheChunk => 6,
            TrackUpload => 7,
            SaveState => 8,
            GetState { .. } => 9,
            Resume => 10,
            AbortUpload { .. } => 11,
            PlatformProvision => 12,
            VendorProvision => 13,
            VendorUpgrade => 14,
            Quota => 15,
            SimpleUpload => 16,
            RotateKey => 17,
            CreateLink { .. } => 18,
            FileInfo { .. } => 19,
            DeleteFile { .. } => 20,
            AuthorizeDownload => 21,
            RecordUsage => 22,
            EdgeReport => 23,
            Patterns => 24,
            UploadChunk => 25,
            Stats => 26,
            Dashboard { .. } => 27,
            SessionCheck => 28,
            UploadPage { .. } => 29,
            ListFiles => 30,
            ListUploads => 31,
            StoreCheck => 32,
            ReuseParts => 33,
            DirectPartUrl => 34,
            DirectPartStored => 35,
            DirectDownload { .. } => 36,
            Identify => 37,
        }
    }
    const COORDINATOR_VARIANTS: usize = 38;

    fn edge_ordinal(e: &EdgeEndpoint) -> usize {
        match e {
            EdgeEndpoint::Health => 0,
            EdgeEndpoint::UploadChunk => 1,
            EdgeEndpoint::GetFile { .. } => 2,
            EdgeEndpoint::Purge => 3,
            EdgeEndpoint::Warmup => 4,
            EdgeEndpoint::StoreCheck => 5,
        }
    }
    const EDGE_VARIANTS: usize = 6;

    #[test]
    fn every_coordinator_route_declares_its_authentication() {
        for (method, path, endpoint, auth) in coordinator_auth_table() {
            let routed = CoordinatorEndpoint::from_request(method, path);
            assert_eq!(routed.as_ref(), Ok(&endpoint), "{method} {path}");
            assert_eq!(endpoint.auth(), auth, "{method} {path} → {endpoint:?}");
        }
    }

    #[test]
    fn every_edge_route_declares_its_authentication() {
        for (method, path, endpoint, auth) in edge_auth_table() {
            let routed = EdgeEndpoint::from_request(method, path);
            assert_eq!(routed.as_ref(), Ok(&endpoint), "{method} {path}");
            assert_eq!(endpoint.auth(), auth, "{method} {path} → {endpoint:?}");
        }
    }

    #[test]
    fn the_auth_tables_cover_every_endpoint() {
        let mut seen: Vec<usize> = coordinator_auth_table()
            .iter()
            .map(|(_, _, e, _)| coordinator_ordinal(e))
            .collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen, (0..COORDINATOR_VARIANTS).collect::<Vec<_>>());
        let mut seen: Vec<usize> = edge_auth_table().iter().map(|(_, _, e, _)| edge_ordinal(e)).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen, (0..EDGE_VARIANTS).collect::<Vec<_>>());
    }

    /// The routes a caller reaches without an account's API key: any change to this list is
    /// a change to who can call what, and shows up here for review.
    #[test]
    fn routes_that_skip_the_api_key_check_are_listed_for_review() {
        let coordinator: Vec<String> = coordinator_auth_table()
            .into_iter()
            .filter(|(_, _, e, _)| !e.auth().accepts_api_key())
            .map(|(m, p, e, _)| format!("{m} {p} {}", e.auth()))
            .collect();
        assert_eq!(
            coordinator,
            [
                "GET /health public",
                "HEAD /health public",
                "GET /dashboard public",
                "HEAD /dashboard public",
                "GET /dashboard/app.js public",
                "GET /upload public",
                "GET /upload/hash-worker.js public",
                "POST /internal/parts internal",
                "POST /internal/sessions/check internal",
                "POST /internal/downloads/authorize internal",
                "POST /internal/downloads/usage internal",
                "POST /api/edge/upload-chunk upload_token",
                "PUT /api/edge/upload-chunk upload_token",
                "GET /api/edge/store-check upload_token",
                "POST /api/webhooks/jettythunder/provision webhook",
                "POST /api/agentcache/provision webhook",
                "POST /api/agentcache/upgrade webhook",
                "POST /api/agentcache/rotate-key api_secret",
            ]
        );
        let edge: Vec<String> = edge_auth_table()
            .into_iter()
            .filter(|(_, _, e, _)| !e.auth().accepts_api_key())
            .map(|(m, p, e, _)| format!("{m} {p} {}", e.auth()))
            .collect();
        assert_eq!(
            edge,
            [
                "GET /health public",
                "HEAD /health public",
                "POST /api/edge/upload-chunk upload_token",
                "PUT /api/edge/upload-chunk upload_token",
                "GET /api/edge/store-check upload_token",
                "POST /internal/purge internal",
                "POST /api/warmup internal",
            ]
        );
        // Only health checks and the dashboard's static page take no credential at all.
        let public: Vec<Auth> = Auth::ALL.iter().copied().filter(|a| a.is_public()).collect();
        assert_eq!(public, [Auth::Public]);
    }

    #[test]
    fn auth_names_are_distinct() {
        let mut names: Vec<&str> = Auth::ALL.iter().map(|a| a.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Auth::ALL.len());
    }
}
