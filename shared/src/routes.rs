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
    /// The caller's upload analytics.
    Stats,
    /// The analytics page (`asset` None) and its script and stylesheet.
    Dashboard {
        asset: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeEndpoint {
    Health,
    UploadChunk,
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
            ["internal", "downloads", "authorize"] => route(method, &["POST"], AuthorizeDownload),
            ["internal", "downloads", "usage"] => route(method, &["POST"], RecordUsage),
            ["internal", "parts"] => route(method, &["POST"], RecordPart),
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
            _ => Err(ApiError::new(ErrorCode::NotFound)),
        }
    }
}

impl EdgeEndpoint {
    pub fn from_request(method: &str, path: &str) -> Result<Self, ApiError> {
        match segments(path).as_slice() {
            ["health"] => route(method, &["GET", "HEAD"], EdgeEndpoint::Health),
            ["api", "edge", "upload-chunk"] => route(method, &["POST", "PUT"], EdgeEndpoint::UploadChunk),
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
}
