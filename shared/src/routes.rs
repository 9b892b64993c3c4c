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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeEndpoint {
    Health,
    UploadChunk,
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
            ["api", "files", id] => route(
                method,
                &["GET"],
                GetFile {
                    file_id: (*id).to_owned(),
                },
            ),
            ["internal", "parts"] => route(method, &["POST"], RecordPart),
            _ => Err(ApiError::new(ErrorCode::NotFound)),
        }
    }
}

impl EdgeEndpoint {
    pub fn from_request(method: &str, path: &str) -> Result<Self, ApiError> {
        match segments(path).as_slice() {
            ["health"] => route(method, &["GET", "HEAD"], EdgeEndpoint::Health),
            ["api", "edge", "upload-chunk"] => route(method, &["POST", "PUT"], EdgeEndpoint::UploadChunk),
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
