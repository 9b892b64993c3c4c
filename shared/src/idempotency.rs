//! Idempotent requests (`Idempotency-Key`) and webhook replays (`webhook-id`) share one rule:
//! the first request with a key acts; a repeat with the same body gets the first answer; a
//! repeat with a different body is refused (422); a repeat while the first still runs, 409.

use crate::error::{ApiError, ErrorCode};
use sha2::{Digest, Sha256};

/// What the store holds for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub request_hash: String,
    /// `None` while the first request is still running.
    pub response: Option<(u16, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No earlier request: act, then record the answer.
    Proceed,
    /// Answer again with the recorded response.
    Replay(u16, String),
}

/// Fingerprint of a request body, stored with the key.
pub fn request_hash(method: &str, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update(b" ");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(body);
    hex::encode(h.finalize())
}

/// Keys are opaque client strings: printable ASCII, 1..=255 characters.
pub fn valid_key(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

pub fn decide(existing: Option<&Recorded>, request_hash: &str) -> Result<Decision, ApiError> {
    match existing {
        None => Ok(Decision::Proceed),
        Some(r) if r.request_hash != request_hash => Err(ApiError::new(ErrorCode::IdempotencyKeyReused)),
        Some(Recorded { response: None, .. }) => Err(ApiError::new(ErrorCode::IdempotencyInProgress)),
        Some(Recorded {
            response: Some((status, body)),
            ..
        }) => Ok(Decision::Replay(*status, body.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_four_cases() {
        let h = request_hash("POST", "/p", b"{}");
        let other = request_hash("POST", "/p", b"{\"a\":1}");
        let done = Recorded {
            request_hash: h.clone(),
            response: Some((201, "ok".into())),
        };
        let running = Recorded {
            request_hash: h.clone(),
            response: None,
        };
        assert_eq!(decide(None, &h).unwrap(), Decision::Proceed);
        assert_eq!(decide(Some(&done), &h).unwrap(), Decision::Replay(201, "ok".into()));
        assert_eq!(
            decide(Some(&done), &other).unwrap_err().code,
            ErrorCode::IdempotencyKeyReused
        );
        assert_eq!(
            decide(Some(&running), &h).unwrap_err().code,
            ErrorCode::IdempotencyInProgress
        );
        assert_eq!(
            decide(Some(&running), &other).unwrap_err().code,
            ErrorCode::IdempotencyKeyReused
        );
    }

    #[test]
    fn keys_and_hashes() {
        assert!(valid_key("a7f3-01"));
        assert!(!valid_key(""));
        assert!(!valid_key("has space"));
        assert!(!valid_key(&"x".repeat(256)));
        assert_ne!(request_hash("POST", "/a", b"x"), request_hash("POST", "/b", b"x"));
    }
}
