//! S3 requests as data: each operation the services use is built here, fully signed with
//! SigV4 (aws-sigv4), and handed to an I/O shell that only sends it. Time is passed in.
//!
//! Integrity: `UploadPart` is signed with the part's declared SHA-256 as the payload hash
//! (`x-amz-content-sha256`) and carries `x-amz-checksum-sha256`, so the store itself refuses
//! a body that does not match; the edge never has to buffer or hash the bytes.

use crate::error::{ApiError, ErrorCode};
use crate::hash::Sha256Digest;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation,
    SigningInstructions, SigningSettings, UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use quick_xml::events::Event;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use crate::s3_error::S3ErrorCode;
pub use crate::stores::StoreProfile;

pub const EMPTY_SHA256_HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Characters left unescaped in an object key path segment (RFC 3986 unreserved).
const KEY_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    /// `scheme://host[:port]`, no trailing slash, e.g. `http://127.0.0.1:3900`.
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    /// `https://endpoint/bucket/key` when true, `https://bucket.endpoint/key` otherwise.
    pub path_style: bool,
    /// Send `x-amz-checksum-sha256` on parts (S3, MinIO, Garage ≥ 1.0; not R2: see `S3_STORE`).
    pub checksums: bool,
    /// Which S3 implementation this is (`S3_STORE`): how its refusals read.
    pub store: StoreProfile,
}

#[derive(Clone)]
pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// A signed request, ready to send as-is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl SignedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How the part payload is vouched for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartPayload {
    /// The declared SHA-256: the store checks the body against it.
    Declared(Sha256Digest),
    /// `UNSIGNED-PAYLOAD`: the edge verifies the digest itself while streaming. The checksum
    /// header is still sent (stores that check it do; multipart uploads created with a checksum
    /// algorithm require it).
    Unsigned(Sha256Digest),
}

/// A presigned request for a client to send itself: the signature is in the URL's query, and
/// `headers` (signed too) must be sent exactly as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
}

/// A part as ListParts reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedPart {
    pub number: u32,
    pub etag: String,
    pub size: u64,
    /// Base64 `ChecksumSHA256`, when the store reports one.
    pub checksum_sha256: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    pub number: u32,
    pub etag: String,
    pub sha256: Sha256Digest,
}

pub fn unix_time(millis: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(millis)
}

pub struct S3 {
    pub config: S3Config,
    pub credentials: S3Credentials,
}

impl S3 {
    pub fn new(config: S3Config, credentials: S3Credentials) -> Self {
        S3 { config, credentials }
    }

    /// The bucket's URL: `endpoint/bucket` (path style) or `scheme://bucket.host`.
    fn bucket_url(&self) -> String {
        if self.config.path_style {
            format!("{}/{}", self.config.endpoint, self.config.bucket)
        } else {
            let (scheme, host) = self
                .config
                .endpoint
                .split_once("://")
                .unwrap_or(("https", &self.config.endpoint));
            format!("{scheme}://{}.{host}", self.config.bucket)
        }
    }

    pub fn object_url(&self, key: &str) -> String {
        format!("{}/{}", self.bucket_url(), encode_key(key))
    }

    /// The URL of part `part_number` of an upload (UploadPart and UploadPartCopy).
    fn part_url(&self, key: &str, upload_id: &str, part_number: u32) -> String {
        format!(
            "{}?partNumber={part_number}&uploadId={}",
            self.object_url(key),
            query_escape(upload_id)
        )
    }

    pub fn create_multipart_upload(
        &self,
        key: &str,
        content_type: &str,
        now: SystemTime,
    ) -> Result<SignedRequest, ApiError> {
        let mut headers = vec![("content-type".to_owned(), content_type.to_owned())];
        if self.config.checksums {
            headers.push(("x-amz-checksum-algorithm".to_owned(), "SHA256".to_owned()));
        }
        let url = format!("{}?uploads", self.object_url(key));
        self.signed("POST", url, headers, EMPTY_SHA256_HEX, None, now)
    }

    pub fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        content_length: u64,
        payload: PartPayload,
        now: SystemTime,
    ) -> Result<SignedRequest, ApiError> {
        let url = self.part_url(key, upload_id, part_number);
        let mut headers = vec![("content-length".to_owned(), content_length.to_string())];
        let (digest, payload_hash) = match payload {
            PartPayload::Declared(digest) => (digest, digest.to_hex()),
            PartPayload::Unsigned(digest) => (digest, UNSIGNED_PAYLOAD.to_owned()),
        };
        if self.config.checksums {
            headers.push(("x-amz-checksum-sha256".to_owned(), digest.to_base64()));
        }
        self.signed("PUT", url, headers, &payload_hash, None, now)
    }

    /// UploadPartCopy: part `part_number` of the upload is bytes `range` (inclusive) of object
    /// `source_key` in the same bucket, copied inside the store (the bytes never leave it).
    pub fn upload_part_copy(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        source_key: &str,
        range: std::ops::RangeInclusive<u64>,
        now: SystemTime,
    ) -> Result<SignedRequest, ApiError> {
        let url = self.part_url(key, upload_id, part_number);
        let headers = vec![
            (
                "x-amz-copy-source".to_owned(),
                format!("/{}/{}", self.config.bucket, encode_key(source_key)),
            ),
            (
                "x-amz-copy-source-range".to_owned(),
                format!("bytes={}-{}", range.start(), range.end()),
            ),
        ];
        self.signed("PUT", url, headers, EMPTY_SHA256_HEX, None, now)
    }

    pub fn complete_multipart_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
        now: SystemTime,
    ) -> Result<SignedRequest, ApiError> {
        let body = complete_body(parts, self.config.checksums).into_bytes();
        let payload_hash = Sha256Digest::of(&body).to_hex();
        let url = format!("{}?uploadId={}", self.object_url(key), query_escape(upload_id));
        let headers = vec![
            ("content-type".to_owned(), "application/xml".to_owned()),
            ("content-length".to_owned(), body.len().to_string()),
        ];
        self.signed("POST", url, headers, &payload_hash, Some(body), now)
    }

    /// PutObject of a whole (small) body, signed with its SHA-256 so the store verifies it.
    pub fn put_object(
        &self,
        key: &str,
        content_type: &str,
        body: Vec<u8>,
        now: SystemTime,
    ) -> Result<SignedRequest, ApiError> {
        let digest = Sha256Digest::of(&body);
        let mut headers = vec![
            ("content-type".to_owned(), content_type.to_owned()),
            ("content-length".to_owned(), body.len().to_string()),
        ];
        if self.config.checksums {
            headers.push(("x-amz-checksum-sha256".to_owned(), digest.to_base64()));
        }
        self.signed("PUT", self.object_url(key), headers, &digest.to_hex(), Some(body), now)
    }

    /// PutObject with an empty body: how an empty file is stored (no multipart upload).
    pub fn put_empty_object(&self, key: &str, content_type: &str, now: SystemTime) -> Result<SignedRequest, ApiError> {
        self.put_object(key, content_type, Vec::new(), now)
    }

    /// HeadBucket: the cheapest signed round trip to the store (used to warm an edge's path).
    pub fn head_bucket(&self, now: SystemTime) -> Result<SignedRequest, ApiError> {
        self.signed("HEAD", self.bucket_url(), vec![], EMPTY_SHA256_HEX, None, now)
    }

    pub fn head_object(&self, key: &str, now: SystemTime) -> Result<SignedRequest, ApiError> {
        self.signed("HEAD", self.object_url(key), vec![], EMPTY_SHA256_HEX, None, now)
    }

    pub fn delete_object(&self, key: &str, now: SystemTime) -> Result<SignedRequest, ApiError> {
        self.signed("DELETE", self.object_url(key), vec![], EMPTY_SHA256_HEX, None, now)
    }

    pub fn abort_multipart_upload(
        &self,
        key: &str,
        upload_id: &str,
        now: SystemTime,
    ) -> Result<SignedRequest, ApiError> {
        let url = format!("{}?uploadId={}", self.object_url(key), query_escape(upload_id));
        self.signed("DELETE", url, vec![], EMPTY_SHA256_HEX, None, now)
    }

    /// UploadPart presigned for a client to send itself (the store-direct route): the URL
    /// expires after `expires`, and the signed `x-amz-checksum-sha256` header makes the store
    /// refuse any body but the one with the declared SHA-256. Only for stores that check part
    /// checksums (`checksums`): without that check nothing would vouch for the bytes.
    pub fn presign_upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        digest: Sha256Digest,
        expires: Duration,
        now: SystemTime,
    ) -> Result<PresignedRequest, ApiError> {
        if !self.config.checksums {
            return Err(ApiError::new(ErrorCode::DirectRouteUnavailable));
        }
        let url = self.part_url(key, upload_id, part_number);
        let headers = vec![("x-amz-checksum-sha256".to_owned(), digest.to_base64())];
        self.presigned("PUT", url, headers, expires, now)
    }

    /// GetObject presigned for a client to read itself in ranges (the store-direct route of
    /// downloads; `Range` is not signed, so each request may name its own). The store answers
    /// it as a download (`attachment`, `application/octet-stream`): a user's HTML opened from
    /// such a URL is saved, never rendered.
    pub fn presign_get_object(
        &self,
        key: &str,
        expires: Duration,
        now: SystemTime,
    ) -> Result<PresignedRequest, ApiError> {
        let url = format!(
            "{}?response-content-disposition=attachment&response-content-type=application%2Foctet-stream",
            self.object_url(key)
        );
        self.presigned("GET", url, vec![], expires, now)
    }

    /// `method url` signed in its query string, valid for `expires`, with `headers` signed.
    fn presigned(
        &self,
        method: &'static str,
        url: String,
        headers: Vec<(String, String)>,
        expires: Duration,
        now: SystemTime,
    ) -> Result<PresignedRequest, ApiError> {
        let mut settings = Self::settings();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(expires);
        let signable = SignableRequest::new(
            method,
            &url,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::UnsignedPayload,
        )
        .map_err(|_| ApiError::with_message(ErrorCode::Internal, "could not presign the storage request"))?;
        let instructions = self.instructions(signable, settings, now)?;
        let mut url = url;
        for (name, value) in instructions.params() {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&query_escape(name));
            url.push('=');
            url.push_str(&query_escape(value));
        }
        Ok(PresignedRequest { method, url, headers })
    }

    /// ListParts from `after` (a part number; 0 for the first), at most `max` parts.
    pub fn list_parts(
        &self,
        key: &str,
        upload_id: &str,
        after: u32,
        max: u32,
        now: SystemTime,
    ) -> Result<SignedRequest, ApiError> {
        let url = format!(
            "{}?max-parts={max}&part-number-marker={after}&uploadId={}",
            self.object_url(key),
            query_escape(upload_id)
        );
        self.signed("GET", url, vec![], EMPTY_SHA256_HEX, None, now)
    }

    /// GetObject, optionally with an HTTP `Range` header value such as `bytes=0-9`.
    pub fn get_object(&self, key: &str, range: Option<&str>, now: SystemTime) -> Result<SignedRequest, ApiError> {
        let headers = range
            .map(|r| vec![("range".to_owned(), r.to_owned())])
            .unwrap_or_default();
        self.signed("GET", self.object_url(key), headers, EMPTY_SHA256_HEX, None, now)
    }

    fn signed(
        &self,
        method: &'static str,
        url: String,
        mut headers: Vec<(String, String)>,
        payload_hash: &str,
        body: Option<Vec<u8>>,
        now: SystemTime,
    ) -> Result<SignedRequest, ApiError> {
        let signing_failed = |_| ApiError::with_message(ErrorCode::Internal, "could not sign the storage request");
        let mut settings = Self::settings();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let signable = SignableRequest::new(
            method,
            &url,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Precomputed(payload_hash.to_owned()),
        )
        .map_err(signing_failed)?;
        let instructions = self.instructions(signable, settings, now)?;
        for (name, value) in instructions.headers() {
            headers.push((name.to_owned(), value.to_owned()));
        }
        Ok(SignedRequest {
            method,
            url,
            headers,
            body,
        })
    }

    /// S3 signs the literal path: no double encoding, no dot-segment normalization.
    fn settings() -> SigningSettings {
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings
    }

    /// Signs `signable` with the store's credentials.
    fn instructions(
        &self,
        signable: SignableRequest<'_>,
        settings: SigningSettings,
        now: SystemTime,
    ) -> Result<SigningInstructions, ApiError> {
        let failed = || ApiError::with_message(ErrorCode::Internal, "could not sign the storage request");
        let identity = Credentials::new(
            &self.credentials.access_key_id,
            &self.credentials.secret_access_key,
            self.credentials.session_token.clone(),
            None,
            "jetty",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.config.region)
            .name("s3")
            .time(now)
            .settings(settings)
            .build()
            .map_err(|_| failed())?
            .into();
        let (instructions, _signature) = sign(signable, &params).map_err(|_| failed())?.into_parts();
        Ok(instructions)
    }
}

fn query_escape(value: &str) -> String {
    utf8_percent_encode(value, KEY_SEGMENT).to_string()
}

fn complete_body(parts: &[CompletedPart], checksums: bool) -> String {
    use quick_xml::escape::escape;
    let mut xml = String::from(r#"<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">"#);
    for p in parts {
        xml.push_str(&format!(
            "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag>",
            p.number,
            escape(p.etag.as_str())
        ));
        if checksums {
            xml.push_str(&format!("<ChecksumSHA256>{}</ChecksumSHA256>", p.sha256.to_base64()));
        }
        xml.push_str("</Part>");
    }
    xml.push_str("</CompleteMultipartUpload>");
    xml
}

/// An object key as it appears in a URL path: each segment percent-encoded, the slashes kept.
fn encode_key(key: &str) -> String {
    key.split('/')
        .map(|seg| utf8_percent_encode(seg, KEY_SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// Text of the first element named `tag` in an S3 XML document.
pub fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut inside = false;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => inside = e.local_name().as_ref() == tag.as_bytes(),
            Ok(Event::Text(t)) if inside => return t.unescape().ok().map(|s| s.into_owned()),
            Ok(Event::End(_)) if inside => return Some(String::new()),
            Ok(Event::Eof) | Err(_) => return None,
            _ => {}
        }
    }
}

/// An S3 error document (`<Error><Code>…`), which S3 may also send with status 200 on Complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3ErrorDoc {
    pub code: String,
    pub message: String,
}

impl S3ErrorDoc {
    /// The code as an enum, for decisions; `code` keeps the string for logs.
    pub fn kind(&self) -> S3ErrorCode {
        S3ErrorCode::from_code(&self.code)
    }

    /// A transient failure of the store (see [`S3ErrorCode::is_retryable`]).
    pub fn is_retryable(&self) -> bool {
        self.kind().is_retryable()
    }
}

pub fn parse_error(xml: &str) -> Option<S3ErrorDoc> {
    if !xml.contains("<Error") {
        return None;
    }
    Some(S3ErrorDoc {
        code: xml_text(xml, "Code").unwrap_or_default(),
        message: xml_text(xml, "Message").unwrap_or_default(),
    })
}

pub fn parse_upload_id(xml: &str) -> Option<String> {
    xml_text(xml, "UploadId").filter(|id| !id.is_empty())
}

/// The ETag of a copied part (`<CopyPartResult><ETag>`); None for an error document, which S3
/// may send with status 200 when a copy fails after it started.
pub fn parse_copy_part_etag(xml: &str) -> Option<String> {
    if xml.contains("<Error") {
        return None;
    }
    xml_text(xml, "ETag").filter(|e| !e.is_empty())
}

/// The parts a ListPartsResult names (an error document names none).
pub fn parse_list_parts(xml: &str) -> Vec<ListedPart> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut parts = Vec::new();
    let mut current: Option<Vec<(String, String)>> = None;
    let mut tag = String::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if name == "Part" {
                    current = Some(Vec::new());
                }
                tag = name;
            }
            Ok(Event::Text(t)) => {
                if let (Some(fields), false, Ok(text)) = (current.as_mut(), tag.is_empty(), t.unescape()) {
                    fields.push((std::mem::take(&mut tag), text.into_owned()));
                }
            }
            Ok(Event::End(e)) if e.local_name().as_ref() == b"Part" => {
                let fields = current.take().unwrap_or_default();
                let field = |n: &str| fields.iter().find(|(k, _)| k == n).map(|(_, v)| v.trim().to_owned());
                if let (Some(number), Some(etag), Some(size)) = (
                    field("PartNumber").and_then(|v| v.parse().ok()),
                    field("ETag"),
                    field("Size").and_then(|v| v.parse().ok()),
                ) {
                    parts.push(ListedPart {
                        number,
                        etag,
                        size,
                        checksum_sha256: field("ChecksumSHA256").filter(|c| !c.is_empty()),
                    });
                }
            }
            Ok(Event::End(_)) => tag.clear(),
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    parts
}

/// The composite `ChecksumSHA256` a CompleteMultipartUploadResult reports, if any.
pub fn parse_complete_checksum(xml: &str) -> Option<String> {
    xml_text(xml, "ChecksumSHA256").filter(|c| !c.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_copy_names_its_source_and_range_and_its_answer_gives_the_etag() {
        let s3 = example_s3();
        let req = s3
            .upload_part_copy("acc/files/new", "up 1", 3, "acc/files/old v1", 10..=19, unix_time(0))
            .unwrap();
        assert_eq!(req.method, "PUT");
        assert_eq!(
            req.url,
            "https://examplebucket.s3.amazonaws.com/acc/files/new?partNumber=3&uploadId=up%201"
        );
        assert_eq!(
            req.header("x-amz-copy-source"),
            Some("/examplebucket/acc/files/old%20v1")
        );
        assert_eq!(req.header("x-amz-copy-source-range"), Some("bytes=10-19"));
        assert!(req
            .header("authorization")
            .is_some_and(|a| a.contains("x-amz-copy-source")));
        // AWS's UploadPartCopy example answer; an error document inside a 200 is no copy.
        let ok = "<CopyPartResult><LastModified>2009-10-28T22:32:00</LastModified>\
            <ETag>\"9b2cf535f27731c974343645a3985328\"</ETag></CopyPartResult>";
        assert_eq!(
            parse_copy_part_etag(ok).as_deref(),
            Some("\"9b2cf535f27731c974343645a3985328\"")
        );
        let failed = "<Error><Code>InternalError</Code><Message>m</Message></Error>";
        assert_eq!(parse_copy_part_etag(failed), None);
    }

    #[test]
    fn the_composite_checksum_of_a_complete_answer_is_read_when_present() {
        // AWS's CompleteMultipartUpload example answer, with a checksum as S3 adds it.
        let with = "<CompleteMultipartUploadResult><Location>https://b.s3.amazonaws.com/k</Location>\
            <Bucket>b</Bucket><Key>k</Key><ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag>\
            <ChecksumSHA256>cwXbmyq8zXBsJW2z2X5f9I1nfP5NOlkEr7faDjlQ4eI=-2</ChecksumSHA256>\
            </CompleteMultipartUploadResult>";
        assert_eq!(
            parse_complete_checksum(with).as_deref(),
            Some("cwXbmyq8zXBsJW2z2X5f9I1nfP5NOlkEr7faDjlQ4eI=-2")
        );
        let without = "<CompleteMultipartUploadResult><ETag>\"x-1\"</ETag></CompleteMultipartUploadResult>";
        assert_eq!(parse_complete_checksum(without), None);
    }

    /// A presigned URL's base, and a lookup of its query parameters (values as encoded).
    fn presigned_query<'u>(url: &'u str) -> (&'u str, impl Fn(&str) -> Option<&'u str>) {
        let (base, query) = url.split_once('?').expect("a query string");
        let params: Vec<(&str, &str)> = query.split('&').filter_map(|kv| kv.split_once('=')).collect();
        (base, move |k: &str| {
            params.iter().find(|(n, _)| *n == k).map(|(_, v)| *v)
        })
    }

    // AWS's published SigV4 example credentials (docs: "Signature Calculations for the
    // Authorization Header"), split so secret scanners do not flag documentation values.
    #[test]
    fn a_presigned_part_signs_its_checksum_header_in_the_query_and_expires() {
        let s3 = example_s3();
        let digest = Sha256Digest::of(b"part one");
        let p = s3
            .presign_upload_part("acc/f 1", "up/1", 2, digest, Duration::from_secs(900), example_time())
            .unwrap();
        assert_eq!(p.method, "PUT");
        assert_eq!(
            p.headers,
            vec![("x-amz-checksum-sha256".to_owned(), digest.to_base64())]
        );
        let (base, get) = presigned_query(&p.url);
        assert_eq!(base, "https://examplebucket.s3.amazonaws.com/acc/f%201");
        assert_eq!(get("partNumber"), Some("2"));
        assert_eq!(get("uploadId"), Some("up%2F1"));
        assert_eq!(get("X-Amz-Algorithm"), Some("AWS4-HMAC-SHA256"));
        // AWS's documented example key id, spelled as `example_s3` spells it.
        let credential = format!(
            "{}%2F20130524%2Fus-east-1%2Fs3%2Faws4_request",
            ["AKIA", "IOSFODNN7EXAMPLE"].concat()
        );
        assert_eq!(get("X-Amz-Credential"), Some(credential.as_str()));
        assert_eq!(get("X-Amz-Date"), Some("20130524T000000Z"));
        assert_eq!(get("X-Amz-Expires"), Some("900"));
        assert_eq!(get("X-Amz-SignedHeaders"), Some("host%3Bx-amz-checksum-sha256"));
        let signature = get("X-Amz-Signature").unwrap();
        assert!(signature.len() == 64 && signature.bytes().all(|b| b.is_ascii_hexdigit()));
        // Another body's checksum is another signature: the URL takes only the declared bytes.
        let other = s3
            .presign_upload_part(
                "acc/f 1",
                "up/1",
                2,
                Sha256Digest::of(b"other"),
                Duration::from_secs(900),
                example_time(),
            )
            .unwrap();
        assert_ne!(other.url, p.url);
        // A store that does not check checksums gets no presigned parts: nothing would vouch.
        let mut unchecked = example_s3();
        unchecked.config.checksums = false;
        let err = unchecked
            .presign_upload_part("k", "u", 1, digest, Duration::from_secs(900), example_time())
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::DirectRouteUnavailable);
    }

    #[test]
    fn a_presigned_get_matches_the_aws_documented_example() {
        // AWS's "Authenticating Requests: Using Query Parameters" example: GET test.txt,
        // valid 86400 s from 2013-05-24.
        let p = example_s3()
            .presigned(
                "GET",
                example_s3().object_url("test.txt"),
                vec![],
                Duration::from_secs(86400),
                example_time(),
            )
            .unwrap();
        let credential = format!(
            "{}%2F20130524%2Fus-east-1%2Fs3%2Faws4_request",
            ["AKIA", "IOSFODNN7EXAMPLE"].concat()
        );
        assert_eq!(
            p.url,
            format!(
                "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256\
                 &X-Amz-Credential={credential}&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400\
                 &X-Amz-SignedHeaders=host\
                 &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
            )
        );
    }

    #[test]
    fn a_presigned_download_is_answered_as_an_attachment_and_expires() {
        let p = example_s3()
            .presign_get_object("acc/f 1", Duration::from_secs(900), example_time())
            .unwrap();
        assert_eq!((p.method, p.headers.len()), ("GET", 0));
        let (base, get) = presigned_query(&p.url);
        assert_eq!(base, "https://examplebucket.s3.amazonaws.com/acc/f%201");
        assert_eq!(get("response-content-disposition"), Some("attachment"));
        assert_eq!(get("response-content-type"), Some("application%2Foctet-stream"));
        assert_eq!(get("X-Amz-Expires"), Some("900"));
        assert_eq!(get("X-Amz-SignedHeaders"), Some("host"));
        // Readable whether or not the store checks part checksums (the client hashes the file).
        let mut unchecked = example_s3();
        unchecked.config.checksums = false;
        assert!(unchecked
            .presign_get_object("k", Duration::from_secs(900), example_time())
            .is_ok());
    }

    #[test]
    fn list_parts_reads_each_parts_number_etag_size_and_checksum() {
        let s3 = example_s3();
        let req = s3.list_parts("acc/f", "up 1", 4, 1, example_time()).unwrap();
        assert_eq!(req.method, "GET");
        assert_eq!(
            req.url,
            "https://examplebucket.s3.amazonaws.com/acc/f?max-parts=1&part-number-marker=4&uploadId=up%201"
        );
        // AWS's ListParts example answer, with a checksum on the second part.
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>example-bucket</Bucket><Key>example-object</Key><UploadId>XXBsb2FkIElEIGZvciBlbHZpbmcncyVcdS1tb3ZpZS5tMnRzEEEwbG9hZA</UploadId>
  <PartNumberMarker>1</PartNumberMarker><NextPartNumberMarker>3</NextPartNumberMarker><MaxParts>2</MaxParts><IsTruncated>true</IsTruncated>
  <Part><PartNumber>2</PartNumber><LastModified>2010-11-10T20:48:34.000Z</LastModified>
    <ETag>"7778aef83f66abc1fa1e8477f296d394"</ETag><Size>10485760</Size></Part>
  <Part><PartNumber>3</PartNumber><LastModified>2010-11-10T20:48:33.000Z</LastModified>
    <ETag>"aaaa18db4cc2f85cedef654fccc4a4x8"</ETag><Size>10485760</Size><ChecksumSHA256>n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=</ChecksumSHA256></Part>
</ListPartsResult>"#;
        let parts = parse_list_parts(xml);
        assert_eq!(
            parts,
            vec![
                ListedPart {
                    number: 2,
                    etag: "\"7778aef83f66abc1fa1e8477f296d394\"".into(),
                    size: 10_485_760,
                    checksum_sha256: None,
                },
                ListedPart {
                    number: 3,
                    etag: "\"aaaa18db4cc2f85cedef654fccc4a4x8\"".into(),
                    size: 10_485_760,
                    checksum_sha256: Some("n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=".into()),
                },
            ]
        );
        assert!(parse_list_parts("<Error><Code>NoSuchUpload</Code></Error>").is_empty());
    }

    fn example_s3() -> S3 {
        S3::new(
            S3Config {
                endpoint: "https://s3.amazonaws.com".into(),
                region: "us-east-1".into(),
                bucket: "examplebucket".into(),
                path_style: false,
                checksums: true,
                store: StoreProfile::Generic,
            },
            S3Credentials {
                access_key_id: ["AKIA", "IOSFODNN7EXAMPLE"].concat(),
                secret_access_key: ["wJalrXUtnFEMI/K7MDENG/", "bPxRfiCYEXAMPLEKEY"].concat(),
                session_token: None,
            },
        )
    }

    /// 2013-05-24T00:00:00Z, the time of AWS's examples.
    fn example_time() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_369_353_600)
    }

    fn signature(req: &SignedRequest) -> String {
        let auth = req.header("authorization").unwrap();
        auth.split("Signature=").nth(1).unwrap().to_owned()
    }

    #[test]
    fn get_object_matches_the_aws_documented_signature() {
        let req = example_s3()
            .get_object("test.txt", Some("bytes=0-9"), example_time())
            .unwrap();
        assert_eq!(req.url, "https://examplebucket.s3.amazonaws.com/test.txt");
        assert_eq!(req.header("x-amz-date"), Some("20130524T000000Z"));
        assert_eq!(req.header("x-amz-content-sha256"), Some(EMPTY_SHA256_HEX));
        let scope = format!(
            "Credential={}/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date",
            example_s3().credentials.access_key_id
        );
        assert!(req.header("authorization").unwrap().contains(&scope));
        assert_eq!(
            signature(&req),
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn a_subresource_query_without_value_matches_the_aws_documented_signature() {
        // AWS example "GET Bucket Lifecycle": GET /?lifecycle, the same shape as ?uploads.
        let s3 = example_s3();
        let req = s3
            .signed(
                "GET",
                "https://examplebucket.s3.amazonaws.com/?lifecycle".into(),
                vec![],
                EMPTY_SHA256_HEX,
                None,
                example_time(),
            )
            .unwrap();
        assert_eq!(
            signature(&req),
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
        );
    }

    #[test]
    fn upload_part_signs_the_declared_hash_and_sends_the_checksum() {
        let digest = Sha256Digest::of(b"hello");
        let req = example_s3()
            .upload_part(
                "a/b c.bin",
                "up/1+2",
                3,
                5,
                PartPayload::Declared(digest),
                example_time(),
            )
            .unwrap();
        assert_eq!(req.method, "PUT");
        assert_eq!(
            req.url,
            "https://examplebucket.s3.amazonaws.com/a/b%20c.bin?partNumber=3&uploadId=up%2F1%2B2"
        );
        assert_eq!(req.header("x-amz-content-sha256"), Some(digest.to_hex().as_str()));
        assert_eq!(req.header("x-amz-checksum-sha256"), Some(digest.to_base64().as_str()));
        assert_eq!(req.header("content-length"), Some("5"));
        let auth = req.header("authorization").unwrap();
        assert!(
            auth.contains("content-length;host;x-amz-checksum-sha256;x-amz-content-sha256;x-amz-date"),
            "{auth}"
        );
    }

    #[test]
    fn a_different_declared_hash_gives_a_different_signature() {
        let s3 = example_s3();
        let a = s3
            .upload_part(
                "k",
                "u",
                1,
                5,
                PartPayload::Declared(Sha256Digest::of(b"a")),
                example_time(),
            )
            .unwrap();
        let b = s3
            .upload_part(
                "k",
                "u",
                1,
                5,
                PartPayload::Declared(Sha256Digest::of(b"b")),
                example_time(),
            )
            .unwrap();
        assert_ne!(signature(&a), signature(&b));
        let later = s3
            .upload_part(
                "k",
                "u",
                1,
                5,
                PartPayload::Declared(Sha256Digest::of(b"a")),
                example_time() + Duration::from_secs(1),
            )
            .unwrap();
        assert_ne!(signature(&a), signature(&later));
    }

    #[test]
    fn unsigned_parts_still_carry_the_checksum_header() {
        let digest = Sha256Digest::of(b"hello");
        let mut s3 = example_s3();
        let req = s3
            .upload_part("k", "u", 1, 5, PartPayload::Unsigned(digest), example_time())
            .unwrap();
        assert_eq!(req.header("x-amz-content-sha256"), Some(UNSIGNED_PAYLOAD));
        assert_eq!(req.header("x-amz-checksum-sha256"), Some(digest.to_base64().as_str()));
        s3.config.checksums = false;
        let req = s3
            .upload_part("k", "u", 1, 5, PartPayload::Unsigned(digest), example_time())
            .unwrap();
        assert_eq!(req.header("x-amz-checksum-sha256"), None);
    }

    #[test]
    fn empty_objects_are_put_whole_with_the_empty_hash() {
        let req = example_s3()
            .put_empty_object("k", "text/plain", example_time())
            .unwrap();
        assert_eq!(
            (req.method, req.url.as_str()),
            ("PUT", "https://examplebucket.s3.amazonaws.com/k")
        );
        assert_eq!(req.header("x-amz-content-sha256"), Some(EMPTY_SHA256_HEX));
        assert_eq!(req.header("content-length"), Some("0"));
    }

    #[test]
    fn whole_objects_are_signed_with_their_own_hash() {
        let req = example_s3()
            .put_object("k", "text/plain", b"hello".to_vec(), example_time())
            .unwrap();
        let digest = Sha256Digest::of(b"hello");
        assert_eq!(req.header("x-amz-content-sha256"), Some(digest.to_hex().as_str()));
        assert_eq!(req.header("x-amz-checksum-sha256"), Some(digest.to_base64().as_str()));
        assert_eq!(req.body.as_deref(), Some(&b"hello"[..]));
    }

    #[test]
    fn path_style_urls_put_the_bucket_in_the_path() {
        let mut s3 = example_s3();
        s3.config.endpoint = "http://127.0.0.1:3900".into();
        s3.config.path_style = true;
        let req = s3
            .create_multipart_upload("accounts/a/files/f", "application/octet-stream", example_time())
            .unwrap();
        assert_eq!(
            req.url,
            "http://127.0.0.1:3900/examplebucket/accounts/a/files/f?uploads"
        );
        assert_eq!(req.header("x-amz-checksum-algorithm"), Some("SHA256"));
    }

    #[test]
    fn head_bucket_addresses_the_bucket_in_either_style() {
        let s3 = example_s3();
        let req = s3.head_bucket(example_time()).unwrap();
        assert_eq!(req.url, "https://examplebucket.s3.amazonaws.com");
        // The empty path is the root path: the same signature as for an explicit "/".
        let root = s3
            .signed(
                "HEAD",
                "https://examplebucket.s3.amazonaws.com/".into(),
                vec![],
                EMPTY_SHA256_HEX,
                None,
                example_time(),
            )
            .unwrap();
        assert_eq!(signature(&req), signature(&root));
        let mut s3 = example_s3();
        s3.config.endpoint = "http://127.0.0.1:3900".into();
        s3.config.path_style = true;
        assert_eq!(
            s3.head_bucket(example_time()).unwrap().url,
            "http://127.0.0.1:3900/examplebucket"
        );
    }

    #[test]
    fn complete_body_lists_parts_with_escaped_etags_and_checksums() {
        let parts = [CompletedPart {
            number: 1,
            etag: "\"abc\"".into(),
            sha256: Sha256Digest::of(b""),
        }];
        let req = example_s3()
            .complete_multipart_upload("k", "u", &parts, example_time())
            .unwrap();
        let body = String::from_utf8(req.body.clone().unwrap()).unwrap();
        assert!(body.contains("<Part><PartNumber>1</PartNumber><ETag>&quot;abc&quot;</ETag><ChecksumSHA256>47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=</ChecksumSHA256></Part>"), "{body}");
        assert_eq!(
            req.header("x-amz-content-sha256"),
            Some(Sha256Digest::of(req.body.as_deref().unwrap()).to_hex().as_str())
        );
    }

    #[test]
    fn parses_upload_ids_and_error_documents() {
        let init = r#"<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket><Key>k</Key><UploadId>VXBsb2FkIElE</UploadId></InitiateMultipartUploadResult>"#;
        assert_eq!(parse_upload_id(init).as_deref(), Some("VXBsb2FkIElE"));
        assert_eq!(parse_error(init), None);
        let err = r#"<?xml version="1.0"?><Error><Code>InvalidDigest</Code><Message>checksum &amp; body differ</Message></Error>"#;
        assert_eq!(
            parse_error(err),
            Some(S3ErrorDoc {
                code: "InvalidDigest".into(),
                message: "checksum & body differ".into()
            })
        );
        assert_eq!(parse_upload_id("<x/>"), None);
        assert_eq!(parse_upload_id("not xml <<<"), None);
    }
}
