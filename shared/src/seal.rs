//! Sealing secrets that must be shown again later (credentials in an idempotent replay or in
//! the platform's credential cache): AES-256-GCM under a key derived from a server secret,
//! with a random nonce pushed in by the caller. Nothing secret is stored in the clear.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Derives a 256-bit key for `purpose` from a server secret.
pub fn derive_key(server_secret: &[u8], purpose: &str) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(server_secret).expect("hmac takes any key length");
    mac.update(b"jetty-seal-v1.");
    mac.update(purpose.as_bytes());
    mac.finalize().into_bytes().into()
}

/// `base64url(nonce ‖ ciphertext)`, bound to `context` (e.g. the record's key) as associated data.
pub fn seal(key: &[u8; 32], nonce: &[u8; 12], context: &str, plaintext: &[u8]) -> String {
    let cipher = Aes256Gcm::new(key.into());
    // Encryption with a valid key and nonce cannot fail for in-memory buffers.
    let ct = cipher
        .encrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: plaintext,
                aad: context.as_bytes(),
            },
        )
        .unwrap_or_default();
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ct);
    B64.encode(out)
}

/// Opens what `seal` produced for the same key and context; None if anything differs.
pub fn open(key: &[u8; 32], context: &str, sealed: &str) -> Option<Vec<u8>> {
    let raw = B64.decode(sealed).ok()?;
    if raw.len() < 12 + 16 {
        return None;
    }
    let (nonce, ct) = raw.split_at(12);
    Aes256Gcm::new(key.into())
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ct,
                aad: context.as_bytes(),
            },
        )
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_context() {
        let key = derive_key(b"server", "idempotency");
        let sealed = seal(&key, &[7; 12], "ctx", b"api_key=jsk_x");
        assert!(!sealed.contains("jsk_x"));
        assert_eq!(open(&key, "ctx", &sealed).unwrap(), b"api_key=jsk_x");
        assert_eq!(open(&key, "other", &sealed), None);
        assert_eq!(open(&derive_key(b"server", "kv"), "ctx", &sealed), None);
        assert_eq!(open(&key, "ctx", "short"), None);
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(open(&key, "ctx", std::str::from_utf8(&tampered).unwrap()), None);
    }
}
