//! Webhook signatures, the Standard Webhooks way (standardwebhooks.com):
//! `webhook-signature: v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`, with
//! `webhook-id` and `webhook-timestamp` (Unix seconds) beside it.
//!
//! Verification: all three headers present, timestamp within ±5 minutes, and at least one
//! `v1` signature in the header matching one of the configured secrets (several secrets are
//! accepted so a secret can be rotated without downtime), compared in constant time.

use crate::auth::constant_time_eq;
use crate::error::{ApiError, ErrorCode};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";
pub const TOLERANCE_SECS: u64 = 5 * 60;
const SECRET_PREFIX: &str = "whsec_";

/// A signing secret: `whsec_<base64>` (the Standard Webhooks form) or any other string,
/// whose bytes are then the key.
#[derive(Clone)]
pub struct WebhookSecret(Vec<u8>);

impl WebhookSecret {
    pub fn parse(text: &str) -> Option<WebhookSecret> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        match text.strip_prefix(SECRET_PREFIX) {
            Some(b64) => B64.decode(b64).ok().filter(|k| !k.is_empty()).map(WebhookSecret),
            None => Some(WebhookSecret(text.as_bytes().to_vec())),
        }
    }

    /// Space- or comma-separated secrets (current first), as configured for rotation.
    pub fn parse_list(text: &str) -> Vec<WebhookSecret> {
        text.split([' ', ',', '\n']).filter_map(WebhookSecret::parse).collect()
    }

    pub fn from_random(bytes: &[u8; 32]) -> String {
        format!("{SECRET_PREFIX}{}", B64.encode(bytes))
    }

    fn signature(&self, id: &str, timestamp: u64, body: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("hmac takes any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        B64.encode(mac.finalize().into_bytes())
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

/// The three headers of a signed delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
}

pub fn sign(secret: &WebhookSecret, id: &str, timestamp: u64, body: &[u8]) -> SignedHeaders {
    SignedHeaders {
        id: id.to_owned(),
        timestamp: timestamp.to_string(),
        signature: format!("v1,{}", secret.signature(id, timestamp, body)),
    }
}

/// Verifies a delivery; returns its id (the replay key) on success.
pub fn verify(
    secrets: &[WebhookSecret],
    id: Option<&str>,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_secs: u64,
) -> Result<String, ApiError> {
    let (Some(id), Some(timestamp), Some(signature)) = (id, timestamp, signature) else {
        return Err(ApiError::new(ErrorCode::WebhookHeadersMissing));
    };
    if id.is_empty() || id.len() > 256 {
        return Err(ApiError::new(ErrorCode::WebhookHeadersMissing));
    }
    let ts: u64 = timestamp
        .trim()
        .parse()
        .map_err(|_| ApiError::new(ErrorCode::WebhookTimestampInvalid))?;
    if ts.abs_diff(now_secs) > TOLERANCE_SECS {
        return Err(ApiError::new(ErrorCode::WebhookTimestampInvalid));
    }
    let offered: Vec<&str> = signature
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter(|s| !s.is_empty())
        .collect();
    for secret in secrets {
        let expected = secret.signature(id, ts, body);
        if offered
            .iter()
            .any(|sig| constant_time_eq(sig.as_bytes(), expected.as_bytes()))
        {
            return Ok(id.to_owned());
        }
    }
    Err(ApiError::new(ErrorCode::WebhookSignatureInvalid))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_767_225_600;

    fn secret(s: &str) -> WebhookSecret {
        WebhookSecret::parse(s).unwrap()
    }

    #[test]
    fn matches_the_standard_webhooks_reference_vector() {
        // From the Standard Webhooks reference libraries' test suite.
        let s = secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let h = sign(
            &s,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(h.signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    fn check(sig: &str, ts: u64, body: &[u8], secrets: &[WebhookSecret]) -> Result<String, ErrorCode> {
        verify(secrets, Some("msg_1"), Some(&ts.to_string()), Some(sig), body, NOW).map_err(|e| e.code)
    }

    #[test]
    fn verification_table() {
        let current = secret("whsec_c2VjcmV0LWN1cnJlbnQ=");
        let old = secret("whsec_c2VjcmV0LW9sZA==");
        let body = br#"{"user_id":"u1"}"#;
        let good = sign(&current, "msg_1", NOW, body).signature;
        let by_old = sign(&old, "msg_1", NOW, body).signature;
        let both = [current.clone(), old.clone()];
        type Case<'a> = (
            &'a str,
            String,
            u64,
            &'a [u8],
            &'a [WebhookSecret],
            Result<String, ErrorCode>,
        );
        let cases: Vec<Case> = vec![
            ("valid", good.clone(), NOW, body, &both, Ok("msg_1".into())),
            (
                "old secret during rotation",
                by_old.clone(),
                NOW,
                body,
                &both,
                Ok("msg_1".into()),
            ),
            (
                "several signatures, one valid",
                format!("v1,AAAA {good}"),
                NOW,
                body,
                &both,
                Ok("msg_1".into()),
            ),
            (
                "old secret after rotation",
                by_old,
                NOW,
                body,
                std::slice::from_ref(&current),
                Err(ErrorCode::WebhookSignatureInvalid),
            ),
            (
                "tampered body",
                good.clone(),
                NOW,
                br#"{"user_id":"u2"}"#,
                &both,
                Err(ErrorCode::WebhookSignatureInvalid),
            ),
            (
                "stale",
                sign(&current, "msg_1", NOW - 301, body).signature,
                NOW - 301,
                body,
                &both,
                Err(ErrorCode::WebhookTimestampInvalid),
            ),
            (
                "future",
                sign(&current, "msg_1", NOW + 301, body).signature,
                NOW + 301,
                body,
                &both,
                Err(ErrorCode::WebhookTimestampInvalid),
            ),
            (
                "edge of tolerance",
                sign(&current, "msg_1", NOW - 300, body).signature,
                NOW - 300,
                body,
                &both,
                Ok("msg_1".into()),
            ),
            (
                "wrong version",
                good.replace("v1,", "v2,"),
                NOW,
                body,
                &both,
                Err(ErrorCode::WebhookSignatureInvalid),
            ),
        ];
        for (name, sig, ts, body, secrets, want) in cases {
            assert_eq!(check(&sig, ts, body, secrets), want, "{name}");
        }
    }

    #[test]
    fn missing_headers_are_refused() {
        let s = [secret("k")];
        assert_eq!(
            verify(&s, None, Some("1"), Some("v1,x"), b"", NOW).unwrap_err().code,
            ErrorCode::WebhookHeadersMissing
        );
        assert_eq!(
            verify(&s, Some("a"), None, Some("v1,x"), b"", NOW).unwrap_err().code,
            ErrorCode::WebhookHeadersMissing
        );
        assert_eq!(
            verify(&s, Some("a"), Some("1"), None, b"", NOW).unwrap_err().code,
            ErrorCode::WebhookHeadersMissing
        );
        assert_eq!(
            verify(&s, Some("a"), Some("soon"), Some("v1,x"), b"", NOW)
                .unwrap_err()
                .code,
            ErrorCode::WebhookTimestampInvalid
        );
    }

    #[test]
    fn secret_lists_parse_for_rotation() {
        assert_eq!(WebhookSecret::parse_list("whsec_YQ== whsec_Yg==, plain").len(), 3);
        assert!(WebhookSecret::parse("whsec_!!!").is_none());
        assert!(WebhookSecret::parse("  ").is_none());
    }
}
