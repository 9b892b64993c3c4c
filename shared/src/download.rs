//! Serving files: download-link claims, byte ranges, conditional requests and the response
//! headers users rely on. Pure: the edge pushes in the request's headers and the file's facts.

use crate::error::ErrorCode;
use crate::token::Claims;
use serde::{Deserialize, Serialize};
use std::time::{Duration, UNIX_EPOCH};

/// What an edge needs to serve a file: signed into download links by the coordinator, or
/// answered by the coordinator for API-key requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadClaims {
    pub acc: String,
    pub fid: String,
    /// Object key in the bucket.
    pub key: String,
    pub size: u64,
    /// Hex SHA-256 of the file (also its ETag).
    pub sha: String,
    pub ct: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// When the file was finalized, seconds since the Unix epoch (Last-Modified).
    pub created: u64,
    pub exp: u64,
}

impl Claims for DownloadClaims {
    const DOMAIN: &'static [u8] = b"jetty-download-v1.";
    const INVALID: ErrorCode = ErrorCode::InvalidLink;
    const EXPIRED: ErrorCode = ErrorCode::LinkExpired;
    fn exp(&self) -> u64 {
        self.exp
    }
}

impl DownloadClaims {
    /// Strong ETag: the content hash, so equal bytes have equal tags everywhere.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.sha)
    }

    /// The edge cache key: per account and file, so one tenant is never served another's bytes.
    pub fn cache_key(&self) -> String {
        cache_key(&self.acc, &self.fid)
    }
}

/// The edge cache key of a file: scoped by account, never shared between tenants.
pub fn cache_key(account_id: &str, file_id: &str) -> String {
    format!("https://jetty-cache.internal/{account_id}/{file_id}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// The whole file (no `Range`, or one this server ignores, such as several ranges).
    Full,
    /// `start..=end`.
    Partial {
        start: u64,
        end: u64,
    },
    Unsatisfiable,
}

impl ByteRange {
    /// Bytes the response body carries.
    pub fn len(&self, size: u64) -> u64 {
        match self {
            ByteRange::Full => size,
            ByteRange::Partial { start, end } => end - start + 1,
            ByteRange::Unsatisfiable => 0,
        }
    }

    pub fn is_empty(&self, size: u64) -> bool {
        self.len(size) == 0
    }

    /// The `Range` header to ask the store (and the cache) for.
    pub fn header(&self) -> Option<String> {
        match self {
            ByteRange::Partial { start, end } => Some(format!("bytes={start}-{end}")),
            _ => None,
        }
    }
}

/// Parses a `Range` header (RFC 9110 §14): one `bytes=` range is served as asked; several
/// ranges, other units or malformed values are ignored (the whole file is sent, as allowed).
pub fn parse_range(header: Option<&str>, size: u64) -> ByteRange {
    let Some(spec) = header.map(str::trim).and_then(|h| h.strip_prefix("bytes=")) else {
        return ByteRange::Full;
    };
    if spec.contains(',') {
        return ByteRange::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return ByteRange::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    let parse = |s: &str| s.parse::<u64>().ok().filter(|_| s.bytes().all(|b| b.is_ascii_digit()));
    match (first.is_empty(), last.is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match parse(last) {
            Some(0) => ByteRange::Unsatisfiable,
            Some(_) if size == 0 => ByteRange::Unsatisfiable,
            Some(n) => ByteRange::Partial {
                start: size.saturating_sub(n),
                end: size - 1,
            },
            None => ByteRange::Full,
        },
        // bytes=A- : from A to the end.
        (false, true) => match parse(first) {
            Some(a) if a >= size => ByteRange::Unsatisfiable,
            Some(a) => ByteRange::Partial {
                start: a,
                end: size - 1,
            },
            None => ByteRange::Full,
        },
        (false, false) => match (parse(first), parse(last)) {
            (Some(a), Some(b)) if a > b => ByteRange::Full,
            (Some(a), Some(_)) if a >= size => ByteRange::Unsatisfiable,
            (Some(a), Some(b)) => ByteRange::Partial {
                start: a,
                end: b.min(size - 1),
            },
            _ => ByteRange::Full,
        },
        (true, true) => ByteRange::Full,
    }
}

/// RFC 9110 §13.1.2/§13.1.3: `If-None-Match` (weak comparison, `*`) wins over `If-Modified-Since`.
pub fn not_modified(
    if_none_match: Option<&str>,
    if_modified_since: Option<&str>,
    etag: &str,
    last_modified: u64,
) -> bool {
    if let Some(inm) = if_none_match {
        let bare = |t: &str| t.trim().trim_start_matches("W/").to_owned();
        return inm.split(',').any(|t| t.trim() == "*" || bare(t) == bare(etag));
    }
    if_modified_since
        .and_then(parse_http_date)
        .is_some_and(|since| last_modified <= since)
}

pub fn http_date(secs: u64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs))
}

pub fn parse_http_date(text: &str) -> Option<u64> {
    httpdate::parse_http_date(text.trim())
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// The media type to store for a file: the uploader's, else one guessed from the name's
/// extension, else `application/octet-stream`.
pub fn content_type_for(declared: Option<&str>, name: Option<&str>) -> String {
    if let Some(declared) = declared.map(str::trim).filter(|d| !d.is_empty()) {
        return declared.to_owned();
    }
    let extension = name
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, ext)| ext.to_ascii_lowercase());
    // HLS playlists and segments, which the generic table maps to legacy types players dislike.
    let hls = match extension.as_deref() {
        Some("m3u8") => Some("application/vnd.apple.mpegurl"),
        Some("ts") => Some("video/mp2t"),
        _ => None,
    };
    hls.or_else(|| name.and_then(|n| mime_guess::from_path(n).first_raw()))
        .unwrap_or("application/octet-stream")
        .to_owned()
}

/// `inline` or `attachment` with the file name, ASCII fallback plus RFC 8187 UTF-8 form.
pub fn content_disposition(name: Option<&str>, attachment: bool) -> String {
    let kind = if attachment { "attachment" } else { "inline" };
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return kind.to_owned();
    };
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC).to_string();
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ByteRange::*;

    #[test]
    fn ranges_parse_as_rfc_9110_says() {
        let size = 10_485_763; // 10 MiB + 3
        let table = [
            (None, Full),
            (Some("bytes=0-0"), Partial { start: 0, end: 0 }),
            (
                Some("bytes=5242879-5242880"),
                Partial {
                    start: 5_242_879,
                    end: 5_242_880,
                },
            ),
            (
                Some("bytes=10485760-"),
                Partial {
                    start: 10_485_760,
                    end: 10_485_762,
                },
            ),
            (
                Some("bytes=-3"),
                Partial {
                    start: 10_485_760,
                    end: 10_485_762,
                },
            ),
            (
                Some("bytes=-99999999"),
                Partial {
                    start: 0,
                    end: 10_485_762,
                },
            ),
            (
                Some("bytes=100-99999999"),
                Partial {
                    start: 100,
                    end: 10_485_762,
                },
            ),
            (Some("bytes=10485763-"), Unsatisfiable),
            (Some("bytes=10485763-10485800"), Unsatisfiable),
            (Some("bytes=-0"), Unsatisfiable),
            (Some("bytes=5-2"), Full),
            (Some("bytes=0-1,5-6"), Full),
            (Some("items=0-1"), Full),
            (Some("bytes=abc-"), Full),
            (Some("bytes=+1-2"), Full),
            (Some("bytes=-"), Full),
        ];
        for (header, want) in table {
            assert_eq!(parse_range(header, size), want, "{header:?}");
        }
        assert_eq!(parse_range(Some("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-1"), 0), Unsatisfiable);
        assert_eq!(Partial { start: 2, end: 4 }.len(9), 3);
        assert_eq!(Partial { start: 2, end: 4 }.header().as_deref(), Some("bytes=2-4"));
    }

    #[test]
    fn conditional_requests() {
        let etag = "\"abc\"";
        let t = 1_767_225_600;
        assert!(not_modified(Some("\"abc\""), None, etag, t));
        assert!(not_modified(Some("W/\"abc\", \"x\""), None, etag, t));
        assert!(not_modified(Some("*"), None, etag, t));
        assert!(
            !not_modified(Some("\"other\""), Some(&http_date(t + 10)), etag, t),
            "If-None-Match wins"
        );
        assert!(not_modified(None, Some(&http_date(t)), etag, t));
        assert!(!not_modified(None, Some(&http_date(t - 1)), etag, t));
        assert!(!not_modified(None, Some("yesterday"), etag, t));
        assert!(!not_modified(None, None, etag, t));
    }

    #[test]
    fn http_dates_round_trip() {
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
    }

    #[test]
    fn content_types_come_from_the_uploader_or_the_name() {
        let table = [
            (Some("text/csv"), Some("a.bin"), "text/csv"),
            (None, Some("movie.mp4"), "video/mp4"),
            (None, Some("index.m3u8"), "application/vnd.apple.mpegurl"),
            (None, Some("segment.ts"), "video/mp2t"),
            (None, Some("notes.txt"), "text/plain"),
            (None, Some("no-extension"), "application/octet-stream"),
            (Some(" "), None, "application/octet-stream"),
        ];
        for (declared, name, want) in table {
            assert_eq!(content_type_for(declared, name), want, "{declared:?} {name:?}");
        }
    }

    #[test]
    fn dispositions_carry_safe_names() {
        assert_eq!(content_disposition(None, true), "attachment");
        assert_eq!(
            content_disposition(Some("a b.txt"), false),
            "inline; filename=\"a b.txt\"; filename*=UTF-8''a%20b%2Etxt"
        );
        assert_eq!(
            content_disposition(Some("naïve\".pdf"), true),
            "attachment; filename=\"na_ve_.pdf\"; filename*=UTF-8''na%C3%AFve%22%2Epdf"
        );
    }

    #[test]
    fn links_are_not_upload_tokens() {
        let claims = DownloadClaims {
            acc: "acc_1".into(),
            fid: "fil_1".into(),
            key: "k".into(),
            size: 3,
            sha: "ab".into(),
            ct: "text/plain".into(),
            name: None,
            created: 1,
            exp: 100,
        };
        let link = crate::token::sign(&claims, b"s");
        assert_eq!(crate::token::verify::<DownloadClaims>(&link, b"s", 50).unwrap(), claims);
        assert_eq!(
            crate::token::verify::<DownloadClaims>(&link, b"s", 100)
                .unwrap_err()
                .code,
            ErrorCode::LinkExpired
        );
        let upload = crate::token::verify::<crate::token::UploadClaims>(&link, b"s", 50).unwrap_err();
        assert_eq!(upload.code, ErrorCode::InvalidToken, "domain separation");
        assert_eq!(claims.etag(), "\"ab\"");
        assert_eq!(claims.cache_key(), "https://jetty-cache.internal/acc_1/fil_1");
    }
}
