//! The verified content id of a multipart upload: SHA-256 over the ordered raw SHA-256 digests
//! of its parts, with the part count — exactly what S3 reports as the COMPOSITE
//! `x-amz-checksum-sha256` of a multipart object, `base64(SHA-256(d1‖…‖dN))-N` (AWS, MinIO,
//! Garage 2.x; Garage 1.x omits the `-N`). The store checks every part against its digest on
//! the way in, so this id is as trustworthy as those checks — unlike a whole-file SHA-256 the
//! client merely declares. It depends on the part plan: the same bytes cut differently have
//! another id.

use crate::hash::Sha256Digest;
use base64::Engine;
use sha2::{Digest, Sha256};

#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ContentId {
    pub digest: Sha256Digest,
    pub parts: u32,
}

impl ContentId {
    /// The id of parts with these digests, in part order.
    pub fn of_parts(part_digests: &[Sha256Digest]) -> ContentId {
        let mut hasher = Sha256::new();
        for part in part_digests {
            hasher.update(part.0);
        }
        ContentId {
            digest: Sha256Digest(hasher.finalize().into()),
            parts: u32::try_from(part_digests.len()).unwrap_or(u32::MAX),
        }
    }

    /// The id of a one-part file whose SHA-256 is `whole`: only such a file's whole-file hash
    /// is verified (its one part is the whole file), so only it may be found by that hash.
    pub fn of_one_part(whole: Sha256Digest) -> ContentId {
        ContentId::of_parts(&[whole])
    }

    /// The stored form: `<hex>-<parts>`.
    pub fn to_wire(&self) -> String {
        format!("{}-{}", self.digest.to_hex(), self.parts)
    }

    /// Parses [`ContentId::to_wire`]'s form. An empty file has no parts: its id is the one of
    /// no digests, and no other id may claim zero parts.
    pub fn parse(s: &str) -> Option<ContentId> {
        let (hex, parts) = s.trim().rsplit_once('-')?;
        let id = ContentId {
            digest: Sha256Digest::parse(hex).ok()?,
            parts: parts.parse().ok()?,
        };
        (id.parts > 0 || id == ContentId::of_parts(&[])).then_some(id)
    }

    /// A request's `contentId` field: [`ContentId::parse`]'s form, else `400 invalid_hash`.
    pub fn from_field(s: &str) -> Result<ContentId, crate::error::ApiError> {
        ContentId::parse(s).ok_or_else(|| {
            crate::error::ApiError::with_message(
                crate::error::ErrorCode::InvalidHash,
                "contentId must be <64 hex>-<part count>",
            )
        })
    }

    /// As S3 writes it in `x-amz-checksum-sha256` / `<ChecksumSHA256>`: `base64-N`.
    pub fn to_s3_checksum(&self) -> String {
        format!("{}-{}", self.digest.to_base64(), self.parts)
    }

    /// Whether a composite checksum a store reported is this id (`base64-N`, or plain base64
    /// as Garage 1.x writes it).
    pub fn matches_s3_checksum(&self, reported: &str) -> bool {
        let reported = reported.trim();
        let (b64, parts) = match reported.rsplit_once('-') {
            Some((b64, n)) => (b64, n.parse::<u32>().ok()),
            None => (reported, None),
        };
        let decoded = base64::engine::general_purpose::STANDARD.decode(b64).ok();
        decoded.as_deref() == Some(&self.digest.0[..]) && parts.is_none_or(|n| n == self.parts)
    }
}

impl std::fmt::Debug for ContentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_wire())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello_world() -> ContentId {
        ContentId::of_parts(&[Sha256Digest::of(b"hello"), Sha256Digest::of(b"world")])
    }

    /// The composite of parts "hello" and "world", computed independently (docs/stores.md:
    /// `printf` the two raw digests into `sha256sum | xxd -r -p | base64`).
    #[test]
    fn the_id_is_the_s3_composite_checksum_of_the_parts() {
        let id = hello_world();
        assert_eq!(id.to_s3_checksum(), "cwXbmyq8zXBsJW2z2X5f9I1nfP5NOlkEr7faDjlQ4eI=-2");
        assert!(id.matches_s3_checksum("cwXbmyq8zXBsJW2z2X5f9I1nfP5NOlkEr7faDjlQ4eI=-2"));
        assert!(
            id.matches_s3_checksum("cwXbmyq8zXBsJW2z2X5f9I1nfP5NOlkEr7faDjlQ4eI="),
            "Garage 1.x"
        );
        assert!(!id.matches_s3_checksum("cwXbmyq8zXBsJW2z2X5f9I1nfP5NOlkEr7faDjlQ4eI=-3"));
        assert!(!id.matches_s3_checksum("AAAAmyq8zXBsJW2z2X5f9I1nfP5NOlkEr7faDjlQ4eI=-2"));
        assert!(!id.matches_s3_checksum("not base64-2"));
    }

    #[test]
    fn the_id_depends_on_the_order_and_the_cut_of_the_parts() {
        let swapped = ContentId::of_parts(&[Sha256Digest::of(b"world"), Sha256Digest::of(b"hello")]);
        assert_ne!(swapped, hello_world());
        let whole = ContentId::of_parts(&[Sha256Digest::of(b"helloworld")]);
        assert_ne!(whole.digest, hello_world().digest);
        assert_eq!(whole.parts, 1);
    }

    #[test]
    fn the_stored_form_round_trips_and_refuses_anything_else() {
        let id = hello_world();
        assert_eq!(ContentId::parse(&id.to_wire()), Some(id));
        let empty = ContentId::of_parts(&[]);
        assert_eq!(ContentId::parse(&empty.to_wire()), Some(empty));
        for bad in ["", "abc-2", &format!("{}-0", id.digest.to_hex()), &id.digest.to_hex()] {
            assert_eq!(ContentId::parse(bad), None, "{bad:?}");
        }
    }
}
