//! SHA-256 digests as they appear on the wire: hex (optionally `sha256:`-prefixed) in the
//! JSON API and headers, base64 in S3's `x-amz-checksum-sha256`.

use crate::error::{ApiError, ErrorCode};
use base64::Engine;
use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    /// Parses `hex` or `sha256:hex` (64 hex digits, any case).
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let hex_part = s.strip_prefix("sha256:").unwrap_or(s);
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut out).map_err(|_| ApiError::new(ErrorCode::InvalidHash))?;
        Ok(Sha256Digest(out))
    }

    pub fn of(bytes: &[u8]) -> Self {
        use sha2::Digest;
        Sha256Digest(sha2::Sha256::digest(bytes).into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// `sha256:<hex>`, the form the API returns.
    pub fn to_prefixed(&self) -> String {
        format!("sha256:{}", self.to_hex())
    }

    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0)
    }

    /// From standard base64 (S3's `ChecksumSHA256`); `None` unless it is exactly 32 bytes.
    pub fn from_base64(text: &str) -> Option<Self> {
        let bytes = base64::engine::general_purpose::STANDARD.decode(text.trim()).ok()?;
        Some(Self(bytes.try_into().ok()?))
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_plain_prefixed_and_uppercase_hex() {
        let d = Sha256Digest::of(b"");
        assert_eq!(Sha256Digest::parse(EMPTY).unwrap(), d);
        assert_eq!(Sha256Digest::parse(&format!("sha256:{EMPTY}")).unwrap(), d);
        assert_eq!(Sha256Digest::parse(&EMPTY.to_uppercase()).unwrap(), d);
        assert_eq!(d.to_base64(), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    }

    #[test]
    fn base64_round_trips_and_only_32_bytes_are_a_digest() {
        let digest = Sha256Digest::of(b"part");
        assert_eq!(Sha256Digest::from_base64(&digest.to_base64()), Some(digest));
        // The empty string's digest as S3 reports it.
        assert_eq!(
            Sha256Digest::from_base64("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=").map(|d| d.to_hex()),
            Some(EMPTY.to_owned())
        );
        for bad in [
            "",
            "not base64!",
            "AAAA",
            &base64::engine::general_purpose::STANDARD.encode([0u8; 33]),
        ] {
            assert_eq!(Sha256Digest::from_base64(bad), None, "{bad}");
        }
    }

    #[test]
    fn rejects_malformed_hashes() {
        for bad in [
            "",
            "sha256:",
            "abc",
            &EMPTY[..63],
            &format!("{EMPTY}00"),
            &EMPTY.replace('e', "g"),
            "md5:00",
        ] {
            assert_eq!(
                Sha256Digest::parse(bad).unwrap_err().code,
                ErrorCode::InvalidHash,
                "{bad}"
            );
        }
    }
}
