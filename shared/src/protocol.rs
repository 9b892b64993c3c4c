//! Wire types of the public API (camelCase JSON, names from the product seeds) and of the
//! edge → coordinator part report.

use crate::plan::PartPlan;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub lat: f64,
    pub lng: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    #[default]
    Speed,
    Cost,
    Balanced,
}

/// `POST /api/jetty/optimal-edges`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OptimalEdgesRequest {
    /// Accepted for compatibility with the seed clients and ignored: the account is always
    /// the API key's, never a client-chosen id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub file_size: u64,
    /// The content id of the file under the requested part plan (`<hex>-<parts>`,
    /// `jetty_shared::content_id`): what dedup looks up. The declared `fileHash` alone finds
    /// only one-part files, whose hash the store verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_id: Option<String>,
    /// SHA-256 of the whole file, `sha256:<hex>` or `<hex>`. Optional when `contentId` is
    /// given: a client that sends parts while it still streams the whole-file hash declares it
    /// at finalize instead (`FinalizeRequest::file_hash`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_location: Option<Location>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<f64>,
    /// Preferred part size; the server clamps it to S3's rules and the body limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_size: Option<u64>,
    /// Parallel requests the client intends to run (sizes the parts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<u32>,
    /// Seconds the session may stay open (at most the server's `SESSION_TTL_SECS`); after that
    /// the sweeper aborts it and frees its parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Strategy {
    pub chunk_size: u64,
    pub threads: u32,
    pub compression: String,
    /// Seconds, from the edges' expected throughput.
    pub estimated_time: f64,
    /// US dollars at the transfer price.
    pub estimated_cost: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EdgeInfo {
    pub id: String,
    pub url: String,
    /// Estimated round trip in ms.
    pub latency: u32,
    /// Load in percent.
    pub load: u32,
    /// Great-circle distance to the client in km (0 when the client sent no location).
    pub distance: u32,
    /// Share of the parts this edge should take; the weights sum to 1.
    pub weight: f64,
    /// Recent per-request throughput through this edge, Mbit/s.
    #[serde(default)]
    pub bandwidth: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Duplicate {
    pub file_id: String,
    pub url: String,
    /// The stored file's whole-file SHA-256 (`sha256:<hex>`), as declared when it was uploaded:
    /// a client that asked by content id alone need not hash the whole file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub saved_bytes: u64,
    pub saved_cost: f64,
    pub message: String,
}

/// `POST /api/jetty/identify`: the content id of an upload opened without one, over its own
/// plan's parts (the client hashed them while it sent them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentifyRequest {
    pub file_id: String,
    pub content_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentifyResponse {
    /// The account already stores this content: a new file on it, as `optimal-edges` would
    /// have answered; the upload was aborted (stop sending). `None`: carry on.
    pub duplicate: Option<Duplicate>,
}

/// What the client needs to send parts: the session and the capability for the edges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadTicket {
    pub file_id: String,
    pub session_id: String,
    pub part_size: u64,
    pub part_count: u32,
    pub upload_token: String,
    /// Seconds since the Unix epoch.
    pub expires_at: u64,
}

impl UploadTicket {
    pub fn plan(&self, file_size: u64) -> PartPlan {
        PartPlan {
            file_size,
            part_size: self.part_size,
            part_count: self.part_count,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OptimalEdgesResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
    #[serde(default)]
    pub edges: Vec<EdgeInfo>,
    pub duplicate: Option<Duplicate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<UploadTicket>,
    /// The store-direct route, when the service offers one (`STORE_DIRECT_ENDPOINT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct: Option<DirectRoute>,
}

/// The store-direct route: the object store itself, as clients reach it. A client that finds
/// the store at least as near as any edge (it measures both) sends its parts there on
/// presigned URLs (`POST /api/jetty/direct-part`), then has each recorded
/// (`POST /api/jetty/direct-part/stored`). Only offered where the store checks each part's
/// SHA-256 itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectRoute {
    /// `scheme://host[:port]`: what a client measures its round trip to.
    pub url: String,
}

/// The most parts one `direct-part` or `direct-part/stored` request may name.
pub const MAX_DIRECT_PARTS: usize = 100;

/// `POST /api/jetty/direct-part` and `POST /api/jetty/direct-part/stored`: parts of the caller's
/// open upload, by their SHA-256 (at most `MAX_DIRECT_PARTS`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectPartsRequest {
    pub file_id: String,
    pub parts: Vec<PartOffer>,
}

/// A presigned UploadPart: `PUT url` with exactly `headers` and the part's bytes, before
/// `expiresAt` (seconds since the Unix epoch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectPartUrl {
    pub part: u32,
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub expires_at: u64,
}

/// The answer to `direct-part`: one URL per part asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectPartUrls {
    pub urls: Vec<DirectPartUrl>,
}

/// The answer to `direct-part/stored`: the parts the store lists as sent (now recorded), and
/// those it does not hold with their planned size and SHA-256 (send them again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectPartsStored {
    pub stored: Vec<DirectPartStored>,
    pub missing: Vec<u32>,
}

/// A part the store holds, recorded: what ListParts reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectPartStored {
    pub part: u32,
    pub size: u64,
    pub etag: String,
}

/// The edge's answer to an accepted chunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChunkReceipt {
    pub part_number: u32,
    pub size: u64,
    pub sha256: String,
    pub etag: String,
    pub edge_id: String,
}

/// Edge → coordinator (service binding): a part S3 accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartRecord {
    pub session_id: String,
    pub account_id: String,
    pub part_number: u32,
    pub size: u64,
    /// Hex SHA-256 of the part.
    pub sha256: String,
    pub etag: String,
    pub edge_id: String,
    /// Time the edge took to forward the part to the store.
    #[serde(default)]
    pub duration_ms: f64,
    /// Parts in flight at the edge when this one finished (its load).
    #[serde(default)]
    pub inflight: u64,
}

/// `POST /api/jetty/edge-report`: a client saw an edge fail (timeout, refused, 5xx).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EdgeReport {
    pub edge_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The most parts one `reuse-parts` request may offer (each found part is one store request).
pub const MAX_REUSE_OFFERS: usize = 100;

/// `POST /api/jetty/reuse-parts`: parts of an open upload, by their SHA-256, that the client
/// would otherwise send; the coordinator copies those the account already stores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReusePartsRequest {
    pub file_id: String,
    pub parts: Vec<PartOffer>,
    /// Only say which parts could be copied (`reusable`), copying none: a client then sends the
    /// others while it asks for the copies.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartOffer {
    pub part: u32,
    /// Hex SHA-256 of the part's bytes.
    pub sha256: String,
}

/// The parts the store copied (recorded: do not send them) and their bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReusePartsResponse {
    pub copied: Vec<u32>,
    pub bytes_copied: u64,
    /// With `dryRun`: the offered parts the account stores (none is copied yet).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reusable: Vec<u32>,
}

/// `POST /api/edge/finalize-upload`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FinalizeRequest {
    pub file_id: String,
    /// Optional cross-check against the plan (the seed's field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_chunks: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The whole file's SHA-256 (`sha256:<hex>` or `<hex>`): required when the upload was
    /// opened without one (`file_hash_required`), else it must equal that one
    /// (`file_hash_mismatch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_hash: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileInfo {
    pub id: String,
    pub url: String,
    pub size: u64,
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinalizeResponse {
    pub file: FileInfo,
}

/// Header carrying the chunk's SHA-256 (hex) on `upload-chunk`.
pub const CHUNK_SHA256_HEADER: &str = "x-chunk-sha256";
/// Header carrying the part number on `upload-chunk` (also accepted as `?part=`).
pub const PART_NUMBER_HEADER: &str = "x-part-number";
/// HMAC of an internal (edge → coordinator) request body.
pub const INTERNAL_SIGNATURE_HEADER: &str = "x-jetty-signature";
/// SHA-256 (hex) of a stored file, on downloads.
pub const FILE_SHA256_HEADER: &str = "x-jetty-sha256";

/// `POST /api/files/:id/link`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkRequest {
    /// Seconds the link stays valid (default 1 hour, at most 7 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u64>,
    /// `attachment` disposition (a browser saves instead of showing).
    #[serde(default)]
    pub download: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkResponse {
    pub url: String,
    pub edge_id: String,
    /// Seconds since the Unix epoch.
    pub expires_at: u64,
}

/// `GET /api/files/:id/info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileInfoResponse {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub size: u64,
    /// `sha256:<hex>`, as the uploader declared it (verified only for one-part files).
    pub sha256: String,
    /// The verified content id (`<hex>-<parts>`: SHA-256 over the store-checked part digests;
    /// `jetty_shared::content_id`), absent where none was verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_id: Option<String>,
    pub content_type: String,
    pub edges: Vec<EdgeInfo>,
    /// The store-direct route, when the service offers one: a client that finds the store at
    /// least as near as any edge reads the file there (`POST /api/files/:id/direct-download`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct: Option<DirectRoute>,
}

/// `POST /api/files/:id/direct-download`: a presigned GetObject of the file, to read in ranges
/// (each request sends its own `Range`) until `expiresAt` (seconds since the Unix epoch). The
/// whole file is counted against the month's bandwidth when the URL is handed out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectDownload {
    pub url: String,
    pub expires_at: u64,
}

/// Edge → coordinator: a request for a file with an API key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizeDownload {
    pub file_id: String,
    pub api_key: String,
    /// The request's `Range` header, so the coordinator counts the bytes that will be served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<String>,
    /// HEAD answers move no bytes.
    #[serde(default)]
    pub no_body: bool,
    /// Conditional headers: a 304 moves no bytes either.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_none_match: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_modified_since: Option<String>,
}

/// Edge → coordinator: bytes served through a download link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageRecord {
    pub account_id: String,
    pub bytes: u64,
}

/// Edge → coordinator after a forward to the store failed: is the session still taking parts?
/// `store_failed` says the store (not the client) failed, so the coordinator counts it as the
/// store's failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionCheck {
    pub session_id: String,
    pub account_id: String,
    pub edge_id: String,
    pub store_failed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionCheckAnswer {
    pub active: bool,
}

/// Coordinator → edge: forget a file's cached copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PurgeRequest {
    pub account_id: String,
    pub file_id: String,
}

/// KV key of the tombstone left by a deleted file (edges refuse to serve it).
pub fn tombstone_key(file_id: &str) -> String {
    format!("deleted:{file_id}")
}
