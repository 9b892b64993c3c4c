//! Paged listings of an account's files and open uploads (`GET /api/files`,
//! `GET /api/jetty/uploads`): the query a client may send, and the keyset cursor that pages
//! newest first. Pure: the SQL is in `sql::files::LIST` and `sql::sessions::LIST_OPEN`.

use crate::error::{ApiError, ErrorCode};
use crate::hash::Sha256Digest;
use serde::{Deserialize, Serialize};

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;
const MAX_PREFIX_CHARS: usize = 1024;

/// Where the next page starts: the last row's `(created_at, id)`; rows are ordered by both,
/// descending, so rows inserted meanwhile never shift a page. Opaque to clients
/// (`<created_at>.<id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: u64,
    pub id: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        format!("{}.{}", self.created_at, self.id)
    }

    pub fn decode(s: &str) -> Option<Cursor> {
        let (time, id) = s.split_once('.')?;
        let valid_id = !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        Some(Cursor {
            created_at: time.parse().ok()?,
            id: id.to_owned(),
        })
        .filter(|_| valid_id)
    }
}

/// A listing request, validated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListQuery {
    /// Only names starting with this (empty: all).
    pub prefix: String,
    /// Only uploads declaring this content (hex SHA-256); files ignore it.
    pub hash: Option<String>,
    /// Only uploads opened with this content id (`<hex>-<parts>`); files ignore it.
    pub content_id: Option<String>,
    pub limit: u32,
    pub after: Option<Cursor>,
}

impl ListQuery {
    /// From the query string's pairs (`prefix`, `hash`, `contentId`, `limit`, `cursor`); unknown ones are
    /// ignored, bad values are `400 invalid_request` naming the parameter.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<ListQuery, ApiError> {
        let mut query = ListQuery {
            limit: DEFAULT_LIMIT,
            ..ListQuery::default()
        };
        for (name, value) in pairs {
            match name {
                "prefix" if value.chars().count() > MAX_PREFIX_CHARS => {
                    return Err(invalid("prefix must be at most 1024 characters"))
                }
                "prefix" => query.prefix = value.to_owned(),
                "hash" if value.is_empty() => {}
                "hash" => {
                    let digest = Sha256Digest::parse(value)
                        .map_err(|_| invalid("hash must be a hex SHA-256 (64 characters, optionally sha256:)"))?;
                    query.hash = Some(digest.to_hex());
                }
                "contentId" if value.is_empty() => {}
                "contentId" => {
                    let id = crate::content_id::ContentId::parse(value)
                        .ok_or_else(|| invalid("contentId must be <64 hex>-<part count>"))?;
                    query.content_id = Some(id.to_wire());
                }
                "limit" => {
                    query.limit = value
                        .parse::<u32>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| invalid("limit must be an integer from 1 to 200"))?;
                }
                "cursor" if value.is_empty() => {}
                "cursor" => {
                    query.after = Some(
                        Cursor::decode(value).ok_or_else(|| invalid("cursor is not one this service handed out"))?,
                    )
                }
                _ => {}
            }
        }
        Ok(query)
    }

    /// Takes `limit + 1` rows (the extra one says whether there is a next page) and returns
    /// the page and the cursor after it.
    pub fn page<T>(&self, mut rows: Vec<T>, key: impl Fn(&T) -> Cursor) -> (Vec<T>, Option<String>) {
        let more = rows.len() > self.limit as usize;
        rows.truncate(self.limit as usize);
        let next = more.then(|| rows.last().map(|r| key(r).encode())).flatten();
        (rows, next)
    }
}

fn invalid(message: &str) -> ApiError {
    ApiError::with_message(ErrorCode::InvalidRequest, message)
}

/// One of the account's files in `GET /api/files`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileListing {
    pub id: String,
    pub name: Option<String>,
    pub size: u64,
    pub sha256: String,
    /// The verified content id (`jetty_shared::content_id`), where one was verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_id: Option<String>,
    pub content_type: String,
    /// Milliseconds since the epoch.
    pub created_at: u64,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileList {
    pub files: Vec<FileListing>,
    pub next_cursor: Option<String>,
}

/// One of the account's open upload sessions in `GET /api/jetty/uploads`: what another
/// device needs to find it (name, size, declared hash) and continue it (`POST /api/jetty/resume`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadListing {
    pub file_id: String,
    pub session_id: String,
    pub file_name: Option<String>,
    pub file_size: u64,
    /// `null` until declared (an upload opened by content id declares it at finalize).
    pub file_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_id: Option<String>,
    pub content_type: String,
    pub part_size: u64,
    pub part_count: u32,
    pub parts_done: u32,
    pub bytes_received: u64,
    pub created_at: u64,
    pub expires_at: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadList {
    pub uploads: Vec<UploadListing>,
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Result<ListQuery, ErrorCode> {
        let pairs: Vec<(&str, &str)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| p.split_once('=').unwrap_or((p, "")))
            .collect();
        ListQuery::from_pairs(pairs).map_err(|e| e.code)
    }

    #[test]
    fn queries_parse_or_are_refused_by_parameter() {
        let hash = "ab".repeat(32);
        assert_eq!(parse("").unwrap().limit, DEFAULT_LIMIT);
        assert_eq!(parse("prefix=reports/&limit=10").unwrap().prefix, "reports/");
        assert_eq!(parse(&format!("hash=sha256:{hash}")).unwrap().hash, Some(hash.clone()));
        assert_eq!(
            parse("cursor=1700000000000.fil_abc").unwrap().after,
            Some(Cursor {
                created_at: 1_700_000_000_000,
                id: "fil_abc".into()
            })
        );
        assert_eq!(
            parse(&format!("contentId={}-3", hash.to_uppercase()))
                .unwrap()
                .content_id,
            Some(format!("{hash}-3"))
        );
        assert_eq!(parse("cursor=&hash=&contentId=").unwrap(), parse("").unwrap());
        assert_eq!(parse("other=1").unwrap(), parse("").unwrap());
        for bad in [
            "limit=0",
            "limit=201",
            "limit=ten",
            "hash=xyz",
            "contentId=ab-1",
            "cursor=nodot",
            "cursor=12.a'b",
            "cursor=x.fil_1",
        ] {
            assert_eq!(parse(bad), Err(ErrorCode::InvalidRequest), "{bad}");
        }
        assert_eq!(
            parse(&format!("prefix={}", "a".repeat(1025))),
            Err(ErrorCode::InvalidRequest)
        );
    }

    #[test]
    fn a_page_takes_limit_rows_and_points_after_the_last() {
        let query = ListQuery {
            limit: 2,
            ..ListQuery::default()
        };
        let key = |r: &(u64, &str)| Cursor {
            created_at: r.0,
            id: r.1.to_owned(),
        };
        let (page, next) = query.page(vec![(3, "c"), (2, "b"), (1, "a")], key);
        assert_eq!(page, vec![(3, "c"), (2, "b")]);
        assert_eq!(next.as_deref(), Some("2.b"));
        let (page, next) = query.page(vec![(3, "c"), (2, "b")], key);
        assert_eq!((page.len(), next), (2, None));
        assert_eq!(Cursor::decode("2.b"), Some(key(&(2, "b"))));
    }
}
