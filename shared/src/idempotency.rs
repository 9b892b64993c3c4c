//! Idempotent requests (`Idempotency-Key`) and webhook replays (`webhook-id`) share one rule:
//! the first request with a key acts; a repeat with the same body gets the first answer; a
//! repeat with a different body is refused (422); a repeat while the first still runs, 409.

use crate::error::{ApiError, ErrorCode};
use sha2::{Digest, Sha256};

/// A claim whose request has not answered for this long is considered abandoned (the worker
/// died between claim and answer) and may be taken over.
pub const ABANDONED_AFTER_MS: u64 = 2 * 60 * 1000;

/// What the store holds for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// The first request is still running (or died), since `started_ms`.
    Running { request_hash: String, started_ms: u64 },
    Answered {
        request_hash: String,
        status: u16,
        body: String,
    },
    /// An answer exists but cannot be read back (e.g. the sealing secret was rotated).
    Unreadable { request_hash: String },
}

impl Recorded {
    fn request_hash(&self) -> &str {
        match self {
            Recorded::Running { request_hash, .. }
            | Recorded::Answered { request_hash, .. }
            | Recorded::Unreadable { request_hash } => request_hash,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No earlier request: act, then record the answer.
    Proceed,
    /// Answer again with the recorded response.
    Replay(u16, String),
    /// The earlier claim is abandoned or unreadable: drop it and act.
    Reclaim,
}

/// Whether an answer is final (recorded for replays). Conflicts and rate limits are transient:
/// a retry must be able to act.
pub fn is_final(status: u16) -> bool {
    !matches!(status, 409 | 429) && status < 500
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

pub fn decide(existing: Option<&Recorded>, request_hash: &str, now_ms: u64) -> Result<Decision, ApiError> {
    let Some(existing) = existing else {
        return Ok(Decision::Proceed);
    };
    if existing.request_hash() != request_hash {
        return Err(ApiError::new(ErrorCode::IdempotencyKeyReused));
    }
    match existing {
        Recorded::Answered { status, body, .. } => Ok(Decision::Replay(*status, body.clone())),
        Recorded::Unreadable { .. } => Ok(Decision::Reclaim),
        Recorded::Running { started_ms, .. } if now_ms.saturating_sub(*started_ms) > ABANDONED_AFTER_MS => {
            Ok(Decision::Reclaim)
        }
        Recorded::Running { .. } => Err(ApiError::new(ErrorCode::IdempotencyInProgress)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions() {
        let h = request_hash("POST", "/p", b"{}");
        let other = request_hash("POST", "/p", b"{\"a\":1}");
        let now = 10_000_000;
        let done = Recorded::Answered {
            request_hash: h.clone(),
            status: 201,
            body: "ok".into(),
        };
        let running = Recorded::Running {
            request_hash: h.clone(),
            started_ms: now - 1000,
        };
        let abandoned = Recorded::Running {
            request_hash: h.clone(),
            started_ms: now - ABANDONED_AFTER_MS - 1,
        };
        let unreadable = Recorded::Unreadable {
            request_hash: h.clone(),
        };
        assert_eq!(decide(None, &h, now).unwrap(), Decision::Proceed);
        assert_eq!(
            decide(Some(&done), &h, now).unwrap(),
            Decision::Replay(201, "ok".into())
        );
        assert_eq!(
            decide(Some(&done), &other, now).unwrap_err().code,
            ErrorCode::IdempotencyKeyReused
        );
        assert_eq!(
            decide(Some(&running), &h, now).unwrap_err().code,
            ErrorCode::IdempotencyInProgress
        );
        assert_eq!(
            decide(Some(&running), &other, now).unwrap_err().code,
            ErrorCode::IdempotencyKeyReused
        );
        assert_eq!(decide(Some(&abandoned), &h, now).unwrap(), Decision::Reclaim);
        assert_eq!(decide(Some(&unreadable), &h, now).unwrap(), Decision::Reclaim);
    }

    #[test]
    fn transient_answers_are_not_final() {
        assert!(is_final(201) && is_final(422) && is_final(401));
        assert!(!is_final(409) && !is_final(429) && !is_final(500));
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
