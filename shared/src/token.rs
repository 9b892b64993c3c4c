//! Signed capabilities the coordinator issues and edges verify offline: upload tokens and
//! download links.
//!
//! Format: `base64url(json claims) "." base64url(HMAC-SHA256(secret, domain + claims))`, the
//! domain separating kinds (an upload token is never a valid download link). The MAC covers
//! every field an edge acts on (for uploads: session, account, object key, S3 upload id, part
//! plan, expiry), so a client cannot redirect bytes to another object or change sizes.

use crate::error::{ApiError, ErrorCode};
use crate::plan::PartPlan;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// A kind of signed claims.
pub trait Claims: Serialize + DeserializeOwned {
    const DOMAIN: &'static [u8];
    const INVALID: ErrorCode;
    const EXPIRED: ErrorCode;
    /// Expiry, seconds since the Unix epoch.
    fn exp(&self) -> u64;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadClaims {
    /// Upload session id.
    pub sid: String,
    /// Account that owns the session.
    pub acc: String,
    /// Object key in the bucket.
    pub key: String,
    /// S3 multipart upload id.
    pub uid: String,
    pub plan: PartPlan,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
}

impl Claims for UploadClaims {
    const DOMAIN: &'static [u8] = b"jetty-upload-v1.";
    const INVALID: ErrorCode = ErrorCode::InvalidToken;
    const EXPIRED: ErrorCode = ErrorCode::TokenExpired;
    fn exp(&self) -> u64 {
        self.exp
    }
}

pub fn sign<C: Claims>(claims: &C, secret: &[u8]) -> String {
    // Serializing a struct of strings and integers cannot fail.
    let json = serde_json::to_vec(claims).unwrap_or_default();
    let payload = B64.encode(json);
    let tag = mac(C::DOMAIN, secret, payload.as_bytes());
    format!("{payload}.{}", B64.encode(tag))
}

/// Verifies signature first (constant time), then expiry against `now_secs`.
pub fn verify<C: Claims>(token: &str, secret: &[u8], now_secs: u64) -> Result<C, ApiError> {
    let invalid = || ApiError::new(C::INVALID);
    let (payload, tag_b64) = token.split_once('.').ok_or_else(invalid)?;
    let tag = B64.decode(tag_b64).map_err(|_| invalid())?;
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).map_err(|_| invalid())?;
    m.update(C::DOMAIN);
    m.update(payload.as_bytes());
    m.verify_slice(&tag).map_err(|_| invalid())?;
    let json = B64.decode(payload).map_err(|_| invalid())?;
    let claims: C = serde_json::from_slice(&json).map_err(|_| invalid())?;
    if now_secs >= claims.exp() {
        return Err(ApiError::new(C::EXPIRED));
    }
    Ok(claims)
}

fn mac(domain: &[u8], secret: &[u8], payload: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length; new_from_slice cannot fail for Hmac<Sha256>.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("hmac takes any key length");
    m.update(domain);
    m.update(payload);
    m.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"test-secret-0123456789abcdef0123";
    const NOW: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z

    fn claims() -> UploadClaims {
        UploadClaims {
            sid: "ses_1".into(),
            acc: "acc_1".into(),
            key: "accounts/acc_1/files/fil_1".into(),
            uid: "upload-xyz".into(),
            plan: PartPlan {
                file_size: 37 * 1024 * 1024 + 3,
                part_size: 8 * 1024 * 1024,
                part_count: 5,
            },
            exp: NOW + 3600,
        }
    }

    #[test]
    fn a_signed_token_verifies_before_expiry() {
        let t = sign(&claims(), SECRET);
        assert_eq!(verify::<UploadClaims>(&t, SECRET, NOW).unwrap(), claims());
        assert_eq!(verify::<UploadClaims>(&t, SECRET, NOW + 3599).unwrap(), claims());
    }

    #[test]
    fn an_expired_token_is_refused_with_its_own_code() {
        let t = sign(&claims(), SECRET);
        assert_eq!(
            verify::<UploadClaims>(&t, SECRET, NOW + 3600).unwrap_err().code,
            ErrorCode::TokenExpired
        );
    }

    #[test]
    fn tampered_or_foreign_tokens_are_invalid() {
        let t = sign(&claims(), SECRET);
        let (payload, tag) = t.split_once('.').unwrap();
        let mut forged_claims = claims();
        forged_claims.plan.part_size *= 2;
        let forged_payload = B64.encode(serde_json::to_vec(&forged_claims).unwrap());
        let cases = [
            String::new(),
            "no-dot".to_string(),
            format!("{forged_payload}.{tag}"),
            format!("{payload}.{}", B64.encode([0u8; 32])),
            format!("{payload}.!!notbase64"),
            sign(&claims(), b"another-secret"),
            format!("{payload}x.{tag}"),
        ];
        for bad in cases {
            let err = verify::<UploadClaims>(&bad, SECRET, NOW).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidToken, "{bad}");
        }
    }

    #[test]
    fn an_expired_forgery_reports_invalid_not_expired() {
        let mut c = claims();
        c.exp = NOW - 1;
        let t = sign(&c, b"another-secret");
        assert_eq!(
            verify::<UploadClaims>(&t, SECRET, NOW).unwrap_err().code,
            ErrorCode::InvalidToken
        );
    }
}
