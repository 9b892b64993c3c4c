//! One table of API errors: stable machine code, HTTP status and default message.
//!
//! Every 4xx/5xx body the services send is `{"error":{"code","message"[,"details"]}}`.
//! Handlers never format internals into `message`; storage failures map to `storage_error`
//! with a generic text and are logged server-side instead.

use serde::{Deserialize, Serialize};

macro_rules! error_codes {
    ($( $variant:ident => ($code:literal, $status:literal, $message:literal), )*) => {
        /// Stable machine-readable error codes. Clients branch on these, never on messages.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $( $variant, )* }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$( ErrorCode::$variant, )*];

            /// The wire code, e.g. `chunk_hash_mismatch`.
            pub fn as_str(self) -> &'static str {
                match self { $( ErrorCode::$variant => $code, )* }
            }

            /// HTTP status the code is sent with.
            pub fn status(self) -> u16 {
                match self { $( ErrorCode::$variant => $status, )* }
            }

            /// A safe default message (no internals).
            pub fn default_message(self) -> &'static str {
                match self { $( ErrorCode::$variant => $message, )* }
            }

            pub fn from_wire(code: &str) -> Option<ErrorCode> {
                match code { $( $code => Some(ErrorCode::$variant), )* _ => None }
            }
        }
    };
}

error_codes! {
    InvalidJson        => ("invalid_json", 400, "request body is not valid JSON for this endpoint"),
    InvalidRequest     => ("invalid_request", 400, "request is invalid"),
    InvalidHash        => ("invalid_hash", 400, "hash must be 64 hex characters, optionally prefixed with 'sha256:'"),
    InvalidPartNumber  => ("invalid_part_number", 400, "part number is outside the upload's part plan"),
    FileTooLarge       => ("file_too_large", 400, "file is larger than the largest multipart upload allowed"),
    MissingApiKey      => ("missing_api_key", 401, "an 'Authorization: Bearer <api key>' header is required"),
    InvalidApiKey      => ("invalid_api_key", 401, "the API key is not valid"),
    OriginNotAllowed   => ("origin_not_allowed", 403, "pages from this origin may not call this service (see ALLOWED_ORIGINS)"),
    AdminKeyRequired   => ("admin_key_required", 403, "only an operator's admin key can read other accounts"),
    MissingToken       => ("missing_upload_token", 401, "an 'Authorization: Bearer <upload token>' header is required"),
    InvalidToken       => ("invalid_upload_token", 401, "the upload token is malformed or its signature does not verify"),
    TokenExpired       => ("upload_token_expired", 401, "the upload token has expired; request a new one"),
    InvalidSignature   => ("invalid_signature", 401, "request signature does not verify"),
    WebhookHeadersMissing   => ("webhook_headers_missing", 401, "webhook-id, webhook-timestamp and webhook-signature headers are required"),
    WebhookTimestampInvalid => ("webhook_timestamp_invalid", 401, "webhook-timestamp is malformed or more than 5 minutes from now"),
    WebhookSignatureInvalid => ("webhook_signature_invalid", 401, "no webhook signature matches"),
    StorageQuotaExceeded    => ("storage_quota_exceeded", 403, "Storage quota exceeded"),
    BandwidthQuotaExceeded  => ("bandwidth_quota_exceeded", 403, "Bandwidth quota exceeded"),
    JettySpeedNotEnabled    => ("jetty_speed_not_enabled", 403, "this account's tier does not include JettySpeed multi-edge uploads; use /api/storage/upload"),
    UnknownTier             => ("unknown_tier", 400, "unknown tier"),
    IdempotencyInProgress   => ("idempotency_in_progress", 409, "a request with this Idempotency-Key is still being processed"),
    IdempotencyKeyReused    => ("idempotency_key_reused", 422, "this Idempotency-Key was used with a different request"),
    InvalidLink        => ("invalid_download_link", 401, "the download link is malformed or its signature does not verify"),
    LinkExpired        => ("download_link_expired", 401, "the download link has expired"),
    RangeNotSatisfiable => ("range_not_satisfiable", 416, "the requested range is outside the file"),
    NotFound           => ("not_found", 404, "no such resource"),
    MethodNotAllowed   => ("method_not_allowed", 405, "method not allowed on this path"),
    UploadInProgress   => ("upload_in_progress", 409, "the same content is being uploaded in this account right now; ask again shortly to get it as a duplicate"),
    SessionNotActive   => ("session_not_active", 409, "the upload session is not active (aborted or expired)"),
    FileHashRequired   => ("file_hash_required", 400, "this upload was opened without fileHash: finalize must declare the whole file's SHA-256"),
    FileHashMismatch   => ("file_hash_mismatch", 409, "fileHash differs from the one this upload was opened with"),
    ContentIdMismatch  => ("content_id_mismatch", 409, "this upload was already identified by another content id"),
    PartSizeChanged    => ("part_size_changed", 409, "contentId was computed over another part size than this service plans; hash the parts of details.partSize and ask again (or declare fileHash)"),
    PartsMissing       => ("parts_missing", 409, "some parts have not been uploaded"),
    DirectRouteUnavailable => ("direct_route_unavailable", 409, "this service offers no store-direct route (STORE_DIRECT_ENDPOINT is unset, or the store does not check part checksums): send parts through the edges"),
    PartSizeMismatch   => ("part_size_mismatch", 409, "a recorded part does not have its planned size"),
    LengthRequired     => ("length_required", 411, "a Content-Length header is required"),
    ChunkSizeMismatch  => ("chunk_size_mismatch", 400, "chunk length does not match the part plan"),
    ChunkHashMismatch  => ("chunk_hash_mismatch", 422, "chunk body does not match its declared SHA-256"),
    PayloadTooLarge    => ("payload_too_large", 413, "request body is too large"),
    NoEdges            => ("no_edges_available", 503, "no edge is available to take the upload"),
    FinalizeInProgress => ("finalize_in_progress", 503, "another request is completing this upload; retry shortly"),
    StorageError       => ("storage_error", 502, "the object store refused or failed the request"),
    StoreUnavailable   => ("store_unavailable", 503, "the object store is unavailable right now; the edge is fine, retry with backoff"),
    Internal           => ("internal_error", 500, "internal error"),
}

/// An error as sent to (and parsed by) clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

/// An API error raised by pure logic or a handler.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(code: ErrorCode) -> Self {
        ApiError {
            code,
            message: code.default_message().to_owned(),
            details: None,
        }
    }

    pub fn with_message(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            details: None,
        }
    }

    /// An infrastructure failure; `cause` is for the server log (the worker's error boundary
    /// logs the cause of every 5xx and sends the code's default text).
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        ApiError::with_message(ErrorCode::Internal, cause.to_string())
    }

    /// The store refused or failed; `cause` is for the server log.
    pub fn storage(cause: impl std::fmt::Display) -> Self {
        ApiError::with_message(ErrorCode::StorageError, cause.to_string())
    }

    /// The store is down or failing transiently (503, retry); `cause` is for the server log.
    pub fn store_unavailable(cause: impl std::fmt::Display) -> Self {
        ApiError::with_message(ErrorCode::StoreUnavailable, cause.to_string())
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn status(&self) -> u16 {
        self.code.status()
    }

    pub fn to_body(&self) -> ErrorEnvelope {
        ErrorEnvelope {
            error: ErrorBody {
                code: self.code.as_str().to_owned(),
                message: self.message.clone(),
                details: self.details.clone(),
            },
        }
    }

    pub fn to_json(&self) -> String {
        // Serializing plain strings and a Value cannot fail.
        serde_json::to_string(&self.to_body()).unwrap_or_else(|_| String::from("{}"))
    }
}

impl From<ErrorCode> for ApiError {
    fn from(code: ErrorCode) -> Self {
        ApiError::new(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_code_is_unique_and_round_trips() {
        let mut seen = HashSet::new();
        for &code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate wire code {}", code.as_str());
            assert_eq!(ErrorCode::from_wire(code.as_str()), Some(code));
        }
    }

    #[test]
    fn statuses_match_the_table() {
        let table = [
            (ErrorCode::InvalidJson, 400),
            (ErrorCode::MissingApiKey, 401),
            (ErrorCode::InvalidApiKey, 401),
            (ErrorCode::InvalidToken, 401),
            (ErrorCode::TokenExpired, 401),
            (ErrorCode::NotFound, 404),
            (ErrorCode::PartsMissing, 409),
            (ErrorCode::LengthRequired, 411),
            (ErrorCode::PayloadTooLarge, 413),
            (ErrorCode::ChunkHashMismatch, 422),
            (ErrorCode::Internal, 500),
            (ErrorCode::StorageError, 502),
            (ErrorCode::StoreUnavailable, 503),
            (ErrorCode::NoEdges, 503),
        ];
        for (code, status) in table {
            assert_eq!(code.status(), status, "{code:?}");
        }
        for &code in ErrorCode::ALL {
            assert!((400..600).contains(&code.status()));
        }
    }

    #[test]
    fn error_body_has_the_documented_shape() {
        let err = ApiError::new(ErrorCode::PartsMissing).details(serde_json::json!({"missing": [2, 3]}));
        let v: serde_json::Value = serde_json::from_str(&err.to_json()).unwrap();
        assert_eq!(v["error"]["code"], "parts_missing");
        assert!(v["error"]["message"].as_str().unwrap().len() > 5);
        assert_eq!(v["error"]["details"]["missing"], serde_json::json!([2, 3]));
    }
}
