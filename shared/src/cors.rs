//! CORS for browser clients: which origins may call the coordinator and the edges, and the
//! headers of a grant. Pure: a worker passes the request's `Origin` (and, for a preflight, the
//! requested method and headers) in and sets what comes out.
//!
//! Every API call authenticates with a bearer token in `Authorization`, never a cookie, so a
//! grant never allows credentials; it names the one origin asked about (with `Vary: Origin`).

use crate::error::{ApiError, ErrorCode};

/// Methods a page may use (the chunk route takes `PUT` and `POST`).
pub const ALLOWED_METHODS: &str = "GET, HEAD, POST, PUT, DELETE";
/// Request headers a page may send: credentials, JSON bodies, the part's digest, the
/// single-request upload's name, idempotency keys and download ranges.
pub const ALLOWED_HEADERS: &[&str] = &[
    "authorization",
    "content-type",
    "x-chunk-sha256",
    "x-filename",
    "idempotency-key",
    "range",
];
/// Response headers a page may read besides the CORS-safelisted ones.
pub const EXPOSED_HEADERS: &str =
    "x-jetty-sha256, x-jetty-cache, x-jetty-edge, content-range, content-length, content-disposition, etag, retry-after";
/// How long a browser may cache a preflight (Chromium caps it at 2 hours).
pub const MAX_AGE_SECS: u32 = 7200;

/// One entry of `ALLOWED_ORIGINS`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OriginRule {
    /// `scheme://host[:port]`, compared case-insensitively.
    Exact(String),
    /// `local`: `http://localhost`, `http://127.0.0.1` and `http://[::1]` on any port.
    Local,
    /// `*`: any origin (safe only because no cookies are involved; never the default).
    Any,
}

/// Which origins a worker grants, from `ALLOWED_ORIGINS` plus the worker's own public origin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsPolicy {
    rules: Vec<OriginRule>,
}

/// `ALLOWED_ORIGINS` when it is unset: local development only (plus the own origin).
pub const DEFAULT_ALLOWED_ORIGINS: &str = "local";

impl CorsPolicy {
    /// Parses `ALLOWED_ORIGINS` (space- or comma-separated origins, `local`, `*`); `own` are
    /// the origins this deployment serves pages from (the coordinator's public URL), always
    /// allowed. A malformed entry is an error naming it.
    pub fn parse(setting: &str, own: &[&str]) -> Result<CorsPolicy, String> {
        let mut rules = Vec::new();
        for entry in setting.split([' ', ',', '\n', '\t']).filter(|e| !e.is_empty()) {
            rules.push(match entry {
                "*" => OriginRule::Any,
                "local" => OriginRule::Local,
                origin => OriginRule::Exact(
                    normalize(origin).ok_or_else(|| format!("{origin:?} is not an origin (scheme://host[:port])"))?,
                ),
            });
        }
        rules.extend(own.iter().filter_map(|o| normalize(o)).map(OriginRule::Exact));
        Ok(CorsPolicy { rules })
    }

    /// This policy, also granting `origin` (a request's own origin, when no public URL is set).
    pub fn and(mut self, origin: &str) -> CorsPolicy {
        self.rules.extend(normalize(origin).map(OriginRule::Exact));
        self
    }

    /// Whether a page served from `origin` may read this worker's answers.
    pub fn allows(&self, origin: &str) -> bool {
        let Some(origin) = normalize(origin) else { return false };
        self.rules.iter().any(|rule| match rule {
            OriginRule::Any => true,
            OriginRule::Local => is_local(&origin),
            OriginRule::Exact(allowed) => *allowed == origin,
        })
    }

    /// Headers for an actual (non-preflight) answer. Without an `Origin` (not a browser, or
    /// same-origin navigation) only `Vary`; for a refused origin also nothing else.
    pub fn grant(&self, origin: Option<&str>) -> Vec<(&'static str, String)> {
        let mut headers = vec![("vary", "Origin".to_owned())];
        if let Some(origin) = origin.filter(|o| self.allows(o)) {
            headers.push(("access-control-allow-origin", origin.to_owned()));
            headers.push(("access-control-expose-headers", EXPOSED_HEADERS.to_owned()));
        }
        headers
    }

    /// The answer to an `OPTIONS` preflight: the grant, or `403 origin_not_allowed` (with no
    /// CORS headers, so the browser refuses the call).
    pub fn preflight(
        &self,
        origin: Option<&str>,
        method: Option<&str>,
        requested_headers: Option<&str>,
    ) -> Result<Vec<(&'static str, String)>, ApiError> {
        let origin = origin.filter(|o| self.allows(o)).ok_or_else(refused)?;
        if let Some(method) = method {
            if !ALLOWED_METHODS
                .split(", ")
                .any(|m| m.eq_ignore_ascii_case(method.trim()))
            {
                return Err(ApiError::with_message(
                    ErrorCode::MethodNotAllowed,
                    format!("{method} is not one of {ALLOWED_METHODS}"),
                ));
            }
        }
        if let Some(header) = requested_headers
            .unwrap_or_default()
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .find(|h| !h.is_empty() && !ALLOWED_HEADERS.contains(&h.as_str()))
        {
            return Err(ApiError::with_message(
                ErrorCode::InvalidRequest,
                format!("request header {header:?} is not allowed from a browser"),
            ));
        }
        Ok(vec![
            ("vary", "Origin".to_owned()),
            ("access-control-allow-origin", origin.to_owned()),
            ("access-control-allow-methods", ALLOWED_METHODS.to_owned()),
            ("access-control-allow-headers", ALLOWED_HEADERS.join(", ")),
            ("access-control-max-age", MAX_AGE_SECS.to_string()),
        ])
    }

    /// A request that changes something and comes from a page whose origin is not allowed is
    /// refused before it runs (a browser may send a "simple" request without a preflight).
    pub fn check_request(&self, method: &str, origin: Option<&str>) -> Result<(), ApiError> {
        match origin {
            Some(origin) if !matches!(method, "GET" | "HEAD" | "OPTIONS") && !self.allows(origin) => Err(refused()),
            _ => Ok(()),
        }
    }
}

fn refused() -> ApiError {
    ApiError::new(ErrorCode::OriginNotAllowed)
}

/// `scheme://host[:port]` in lowercase, without a trailing `/`; None for anything else (a path,
/// a missing scheme, the `null` origin of sandboxed pages and files).
fn normalize(origin: &str) -> Option<String> {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, rest) = origin.split_once("://")?;
    let valid = matches!(scheme, "http" | "https")
        && !rest.is_empty()
        && !rest.contains(['/', '?', '#', '@', ' '])
        && rest.bytes().all(|b| b.is_ascii_graphic());
    valid.then_some(origin)
}

fn is_local(origin: &str) -> bool {
    let Some(host_port) = origin.strip_prefix("http://") else {
        return false;
    };
    let host = if host_port.starts_with('[') {
        host_port.split_inclusive(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    let port_ok = match host_port[host.len()..].strip_prefix(':') {
        None => host_port.len() == host.len(),
        Some(port) => port.parse::<u16>().is_ok(),
    };
    port_ok && matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(setting: &str) -> CorsPolicy {
        CorsPolicy::parse(setting, &["https://jetty.example.com/"]).unwrap()
    }

    #[test]
    fn origins_are_allowed_by_the_setting_and_the_own_origin() {
        let table = [
            ("local", "http://localhost:5173", true),
            ("local", "http://127.0.0.1:8790", true),
            ("local", "http://[::1]:3000", true),
            ("local", "http://localhost", true),
            ("local", "https://localhost:5173", false),
            ("local", "http://localhost.evil.com", false),
            ("local", "http://127.0.0.1.evil.com:80", false),
            ("local", "http://localhost:99999", false),
            ("local", "https://jetty.example.com", true),
            ("local", "HTTPS://Jetty.Example.com", true),
            ("local", "https://jetty.example.com.evil.com", false),
            ("local", "https://evil.com", false),
            ("local", "null", false),
            ("https://app.example.org", "https://app.example.org", true),
            ("https://app.example.org", "http://app.example.org", false),
            ("https://app.example.org", "http://localhost:5173", false),
            ("https://a.example, https://b.example", "https://b.example", true),
            ("*", "https://anything.example", true),
            ("*", "null", false),
            ("", "https://jetty.example.com", true),
            ("", "http://localhost:1", false),
        ];
        for (setting, origin, allowed) in table {
            assert_eq!(policy(setting).allows(origin), allowed, "{setting:?} {origin}");
        }
    }

    #[test]
    fn a_malformed_entry_is_refused_with_its_name() {
        for bad in ["example.com", "https://a.example/path", "ftp://a.example", "https://"] {
            let err = CorsPolicy::parse(bad, &[]).unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn a_grant_names_the_origin_and_exposes_the_clients_headers() {
        let p = policy("local");
        let granted = p.grant(Some("http://localhost:5173"));
        assert!(granted.contains(&("access-control-allow-origin", "http://localhost:5173".into())));
        let exposed = &granted
            .iter()
            .find(|(n, _)| *n == "access-control-expose-headers")
            .unwrap()
            .1;
        for needed in ["x-jetty-sha256", "x-jetty-cache", "content-range", "etag"] {
            assert!(exposed.contains(needed), "{exposed}");
        }
        assert!(!granted.iter().any(|(n, _)| n.contains("credentials")));
        assert_eq!(p.grant(Some("https://evil.com")), vec![("vary", "Origin".to_owned())]);
        assert_eq!(p.grant(None), vec![("vary", "Origin".to_owned())]);
    }

    #[test]
    fn a_preflight_for_the_chunk_put_is_granted_and_others_are_refused() {
        let p = policy("local");
        let grant = p
            .preflight(
                Some("http://localhost:5173"),
                Some("PUT"),
                Some("authorization, content-type, X-Chunk-SHA256"),
            )
            .unwrap();
        let get = |name| grant.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str());
        assert_eq!(get("access-control-allow-origin"), Some("http://localhost:5173"));
        assert!(get("access-control-allow-methods").unwrap().contains("PUT"));
        assert!(get("access-control-allow-headers").unwrap().contains("x-chunk-sha256"));
        assert_eq!(get("access-control-max-age"), Some("7200"));

        let code = |r: Result<_, ApiError>| r.unwrap_err().code;
        assert_eq!(
            code(p.preflight(Some("https://evil.com"), Some("PUT"), None)),
            ErrorCode::OriginNotAllowed
        );
        assert_eq!(code(p.preflight(None, Some("PUT"), None)), ErrorCode::OriginNotAllowed);
        assert_eq!(
            code(p.preflight(Some("http://localhost:1"), Some("PATCH"), None)),
            ErrorCode::MethodNotAllowed
        );
        assert_eq!(
            code(p.preflight(Some("http://localhost:1"), Some("POST"), Some("x-secret"))),
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn a_changing_request_from_a_foreign_page_is_refused_before_it_runs() {
        let p = policy("local");
        assert!(p.check_request("POST", Some("https://evil.com")).is_err());
        assert!(p.check_request("DELETE", Some("https://evil.com")).is_err());
        assert!(p.check_request("GET", Some("https://evil.com")).is_ok());
        assert!(p.check_request("POST", Some("http://localhost:8790")).is_ok());
        assert!(p.check_request("POST", None).is_ok());
    }
}
