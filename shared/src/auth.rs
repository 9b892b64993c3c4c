//! API keys, bearer parsing and internal request signatures.
//!
//! API keys are 256-bit random secrets shown once; only their SHA-256 is stored, so a
//! database leak does not leak usable keys (a slow password hash adds nothing for keys of
//! this entropy). Lookups go by hash; comparisons of secrets are constant-time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const API_KEY_PREFIX: &str = "jsk_";

/// A new API key from 32 random bytes (the caller supplies the randomness).
pub fn api_key_from_random(random: &[u8; 32]) -> String {
    format!("{API_KEY_PREFIX}{}", B64.encode(random))
}

/// The value stored for a key: hex SHA-256.
pub fn api_key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A random id such as `fil_3k2…` from 16 random bytes.
pub fn new_id(prefix: &str, random: &[u8; 16]) -> String {
    format!("{prefix}_{}", hex::encode(random))
}

/// The token of an `Authorization: Bearer <token>` header value.
pub fn bearer(header_value: &str) -> Option<&str> {
    let (scheme, token) = header_value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Whether `presented` is the operators' admin key, given only its configured hex SHA-256
/// (`ADMIN_KEY_SHA256`). No configured hash (or a malformed one) means there is no admin key.
/// The hash is compared in constant time.
pub fn is_admin_key(presented: &str, configured_sha256_hex: &str) -> bool {
    let configured = configured_sha256_hex.trim().to_ascii_lowercase();
    !presented.is_empty()
        && configured.len() == 64
        && configured.bytes().all(|b| b.is_ascii_hexdigit())
        && constant_time_eq(api_key_hash(presented).as_bytes(), configured.as_bytes())
}

/// Hex HMAC-SHA256 over an internal request body, domain-separated from upload tokens.
pub fn internal_signature(secret: &[u8], body: &[u8]) -> String {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("hmac takes any key length");
    m.update(b"jetty-internal-v1.");
    m.update(body);
    hex::encode(m.finalize().into_bytes())
}

pub fn verify_internal_signature(secret: &[u8], body: &[u8], signature_hex: &str) -> bool {
    constant_time_eq(
        internal_signature(secret, body).as_bytes(),
        signature_hex.trim().to_ascii_lowercase().as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_key_matches_only_its_configured_hash() {
        let key = "jsa_0123";
        let hash = api_key_hash(key);
        let cases = [
            (key, hash.clone(), true),
            (key, hash.to_ascii_uppercase(), true),
            (key, format!(" {hash}\n"), true),
            ("jsa_0124", hash.clone(), false),
            ("", hash.clone(), false),
            (key, String::new(), false),
            (key, hash[..63].to_owned(), false),
            // An empty credential is never the admin key, even if its hash were configured.
            ("", api_key_hash(""), false),
        ];
        for (presented, configured, want) in cases {
            assert_eq!(
                is_admin_key(presented, &configured),
                want,
                "{presented:?} vs {configured:?}"
            );
        }
    }

    #[test]
    fn api_keys_are_prefixed_and_hash_deterministically() {
        let key = api_key_from_random(&[7u8; 32]);
        assert!(key.starts_with("jsk_") && key.len() == 4 + 43);
        assert_eq!(api_key_hash(&key), api_key_hash(&key));
        assert_ne!(api_key_hash(&key), api_key_hash(&api_key_from_random(&[8u8; 32])));
        assert_eq!(api_key_hash(&key).len(), 64);
    }

    #[test]
    fn bearer_parsing_accepts_only_bearer_tokens() {
        let table = [
            ("Bearer abc", Some("abc")),
            ("bearer  abc ", Some("abc")),
            ("Basic abc", None),
            ("Bearer", None),
            ("Bearer ", None),
            ("", None),
        ];
        for (input, want) in table {
            assert_eq!(bearer(input), want, "{input:?}");
        }
    }

    #[test]
    fn internal_signatures_verify_and_reject_changes() {
        let sig = internal_signature(b"s", b"body");
        assert!(verify_internal_signature(b"s", b"body", &sig));
        assert!(verify_internal_signature(b"s", b"body", &sig.to_uppercase()));
        assert!(!verify_internal_signature(b"s", b"body2", &sig));
        assert!(!verify_internal_signature(b"t", b"body", &sig));
        assert!(!verify_internal_signature(b"s", b"body", ""));
    }

    #[test]
    fn ids_carry_their_prefix() {
        assert_eq!(new_id("fil", &[0xab; 16]), format!("fil_{}", "ab".repeat(16)));
    }
}
