//! Part plans: how a file of a given size is cut into S3 multipart parts.
//!
//! Invariants (S3 multipart rules plus the Workers body limit):
//! - 1 ≤ part_count ≤ 10,000, except the empty file, which has no parts (S3 has no empty
//!   multipart upload; the coordinator writes an empty object with PutObject instead);
//! - every part but the last is exactly `part_size` bytes, `part_size` ≥ 5 MiB;
//! - the last part is 1..=part_size bytes;
//! - `part_size` ≤ the request-body limit of the edge (100 MB by default) and ≤ 5 GiB.

use crate::error::{ApiError, ErrorCode};
use serde::{Deserialize, Serialize};

pub const MIB: u64 = 1024 * 1024;
pub const S3_MIN_PART_SIZE: u64 = 5 * MIB;
pub const S3_MAX_PART_SIZE: u64 = 5 * 1024 * MIB;
pub const S3_MAX_PARTS: u64 = 10_000;
/// Cloudflare's default request-body limit (Free and Pro plans): 100 MB.
pub const DEFAULT_BODY_LIMIT: u64 = 100_000_000;
/// Smallest part we choose on purpose: fewer, larger requests beat many 5 MiB ones.
pub const PREFERRED_MIN_PART_SIZE: u64 = 8 * MIB;
/// Largest part we choose on purpose, unless the 10,000-part cap needs more (beyond 160 GiB).
/// Smaller parts end an upload with a shorter tail (the last parts in flight finish at
/// different times) and cost less to send again; measured on a LAN at 10 GiB, 16 MiB parts
/// took 73.3 s and 64 MiB parts 75.9 s against `aws s3 cp`'s 77.2 s and 75.3 s.
pub const PREFERRED_MAX_PART_SIZE: u64 = 16 * MIB;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartPlan {
    pub file_size: u64,
    pub part_size: u64,
    pub part_count: u32,
}

impl PartPlan {
    /// Plans `file_size` with parts of about `preferred` bytes, bounded by S3 rules and
    /// `body_limit`. Fails when the file cannot fit in 10,000 parts under the limit.
    pub fn new(file_size: u64, preferred: u64, body_limit: u64) -> Result<PartPlan, ApiError> {
        let max_part = body_limit.min(S3_MAX_PART_SIZE);
        if max_part < S3_MIN_PART_SIZE {
            return Err(ApiError::with_message(
                ErrorCode::Internal,
                "configured body limit is below the S3 minimum part size",
            ));
        }
        let needed = file_size.div_ceil(S3_MAX_PARTS);
        if needed > max_part {
            return Err(ApiError::with_message(
                ErrorCode::FileTooLarge,
                format!(
                    "a file of {file_size} bytes needs parts over the {max_part}-byte limit; \
                     the largest accepted is {} bytes",
                    max_part * S3_MAX_PARTS
                ),
            ));
        }
        // Clamp before rounding (a client-chosen size must not overflow), round to whole MiB,
        // and never go below S3's floor or what 10,000 parts need.
        let rounded = preferred.clamp(S3_MIN_PART_SIZE, max_part).div_ceil(MIB) * MIB;
        let part_size = rounded.max(needed).min(max_part);
        let part_count = file_size.div_ceil(part_size);
        debug_assert!(part_count <= S3_MAX_PARTS);
        Ok(PartPlan {
            file_size,
            part_size,
            part_count: part_count as u32,
        })
    }

    /// The part size we prefer for a file: enough parts to keep `threads` requests busy
    /// several times over, within [8 MiB, 16 MiB] — except that a file too small to give each
    /// of the `threads` connections an 8 MiB part gets smaller ones, down to S3's 5 MiB floor.
    ///
    /// Why: on a lossy path every TCP connection is held to its own loss bound (Mathis:
    /// MSS/RTT · 1.22/√loss), so what fills the link is the number of connections, and each
    /// part is one. 100 MiB on the WAN bench, 13 parts of 8 MiB against 20 of 5 MiB (medians of
    /// 5, the same hour; docs/wan-bench.md): `mobile` 19.84 s against 19.02 s, `regional` 1.90 s
    /// against 1.65 s, `lan` and `intercontinental` level. The plan stays a function of the size
    /// and `threads` only, never of the route or the network, so a file's content id does not
    /// depend on where it was uploaded from. A file of at most 5 MiB is one part either way and
    /// keeps 8 MiB as its nominal size.
    pub fn preferred_part_size(file_size: u64, threads: u32) -> u64 {
        let threads = u64::from(threads.max(1));
        let spread = file_size
            .div_ceil(threads * 4)
            .clamp(PREFERRED_MIN_PART_SIZE, PREFERRED_MAX_PART_SIZE);
        if file_size <= S3_MIN_PART_SIZE || file_size.div_ceil(spread) >= threads {
            return spread;
        }
        file_size.div_ceil(threads).clamp(S3_MIN_PART_SIZE, spread)
    }

    /// Validates a plan that came from outside (a token): same invariants as `new` produces.
    pub fn is_valid(&self, body_limit: u64) -> bool {
        let count = u64::from(self.part_count);
        self.part_size >= S3_MIN_PART_SIZE
            && self.part_size <= body_limit.min(S3_MAX_PART_SIZE)
            && count <= S3_MAX_PARTS
            && count == self.file_size.div_ceil(self.part_size)
    }

    /// Byte length of part `number` (1-based), or None when outside the plan.
    pub fn part_len(&self, number: u32) -> Option<u64> {
        if number == 0 || number > self.part_count {
            return None;
        }
        let offset = u64::from(number - 1) * self.part_size;
        Some((self.file_size - offset).min(self.part_size))
    }

    /// Byte offset of part `number` (1-based) in the file.
    pub fn part_offset(&self, number: u32) -> Option<u64> {
        self.part_len(number).map(|_| u64::from(number - 1) * self.part_size)
    }

    pub fn part_numbers(&self) -> impl Iterator<Item = u32> {
        1..=self.part_count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(size: u64) -> PartPlan {
        PartPlan::new(size, PartPlan::preferred_part_size(size, 16), DEFAULT_BODY_LIMIT).unwrap()
    }

    fn assert_invariants(p: &PartPlan, limit: u64) {
        assert!(p.is_valid(limit), "{p:?}");
        let total: u64 = p.part_numbers().map(|n| p.part_len(n).unwrap()).sum();
        assert_eq!(total, p.file_size);
        for n in 1..p.part_count {
            assert_eq!(p.part_len(n), Some(p.part_size));
        }
        if p.file_size == 0 {
            assert_eq!(p.part_count, 0);
            assert_eq!(p.part_len(1), None);
            return;
        }
        let last = p.part_len(p.part_count).unwrap();
        assert!(last <= p.part_size);
        assert!(last > 0);
        assert_eq!(p.part_len(0), None);
        assert_eq!(p.part_len(p.part_count + 1), None);
    }

    #[test]
    fn small_and_boundary_sizes_plan_correctly() {
        // (file size, expected part count, expected last part length)
        let cases = [
            (0, 0, 0),
            (1, 1, 1),
            (5 * MIB - 1, 1, 5 * MIB - 1),
            (5 * MIB, 1, 5 * MIB),
            (5 * MIB + 1, 2, 1),
            (8 * MIB + 1, 2, 3 * MIB + 1),
            (37 * MIB + 3, 8, 2 * MIB + 3),
        ];
        for (size, count, last) in cases {
            let p = plan(size);
            assert_invariants(&p, DEFAULT_BODY_LIMIT);
            assert_eq!(p.part_count, count, "size {size}");
            if count > 0 {
                assert_eq!(p.part_len(count), Some(last), "size {size}");
            }
        }
    }

    #[test]
    fn a_file_too_small_for_an_eight_mib_part_per_connection_gets_smaller_parts() {
        // (file size, threads) → (part size, part count)
        let cases = [
            (100 * MIB, 32, 5 * MIB, 20), // 13 parts of 8 MiB would leave 19 connections idle
            (100 * MIB, 16, 7 * MIB, 15), // 100/16 = 6.25, rounded up to whole MiB
            (100 * MIB, 8, 8 * MIB, 13),  // enough parts of 8 MiB already
            (256 * MIB, 32, 8 * MIB, 32), // exactly one 8 MiB part per connection
            (200 * MIB, 32, 7 * MIB, 29), // 25 parts of 8 MiB are too few
            (6 * MIB, 32, 5 * MIB, 2),    // two parts beat one on any lossy path
            (5 * MIB, 32, 8 * MIB, 1),    // one part either way: the nominal size stays
            (1, 32, 8 * MIB, 1),
            (0, 32, 8 * MIB, 0),
            (1024 * MIB, 32, 8 * MIB, 128), // the usual rule: four parts per connection
        ];
        for (size, threads, part_size, count) in cases {
            let p = PartPlan::new(size, PartPlan::preferred_part_size(size, threads), DEFAULT_BODY_LIMIT).unwrap();
            assert_invariants(&p, DEFAULT_BODY_LIMIT);
            assert_eq!(
                (p.part_size, p.part_count),
                (part_size, count),
                "size {size}, {threads} threads"
            );
        }
    }

    #[test]
    fn one_gib_uses_sixteen_mib_parts_for_sixteen_threads() {
        let p = plan(1024 * MIB);
        assert_eq!(p.part_size, 16 * MIB);
        assert_eq!(p.part_count, 64);
    }

    #[test]
    fn ten_thousand_part_boundary_grows_the_part_size() {
        let exact = PartPlan::new(10_000 * 5 * MIB, 5 * MIB, DEFAULT_BODY_LIMIT).unwrap();
        assert_eq!((exact.part_size, exact.part_count), (5 * MIB, 10_000));
        let over = PartPlan::new(10_000 * 5 * MIB + 1, 5 * MIB, DEFAULT_BODY_LIMIT).unwrap();
        assert!(over.part_count <= 10_000);
        assert!(over.part_size > 5 * MIB);
        assert_invariants(&over, DEFAULT_BODY_LIMIT);
    }

    #[test]
    fn parts_never_exceed_the_body_limit() {
        let limit = 100_000_000;
        let largest = PartPlan::new(limit * 10_000, 64 * MIB, limit).unwrap();
        assert_eq!(largest.part_size, limit);
        assert_eq!(largest.part_count, 10_000);
        assert_invariants(&largest, limit);
        let err = PartPlan::new(limit * 10_000 + 1, 64 * MIB, limit).unwrap_err();
        assert_eq!(err.code, ErrorCode::FileTooLarge);
        // A smaller configured limit caps the preferred size too.
        let capped = PartPlan::new(10 * 1024 * MIB, 64 * MIB, 6 * MIB).unwrap();
        assert!(capped.part_size <= 6 * MIB);
        assert_invariants(&capped, 6 * MIB);
    }

    #[test]
    fn absurd_preferred_sizes_are_clamped_not_overflowed() {
        for preferred in [0, 1, u64::MAX, u64::MAX - MIB] {
            for size in [0, 10 * MIB, 37 * MIB + 3] {
                let p = PartPlan::new(size, preferred, DEFAULT_BODY_LIMIT).unwrap();
                assert_invariants(&p, DEFAULT_BODY_LIMIT);
            }
        }
    }

    #[test]
    fn a_body_limit_below_five_mib_is_a_configuration_error() {
        assert_eq!(PartPlan::new(1, 1, 4 * MIB).unwrap_err().code, ErrorCode::Internal);
    }

    #[test]
    fn tampered_plans_are_invalid() {
        let p = plan(37 * MIB + 3);
        assert!(!PartPlan {
            part_count: p.part_count + 1,
            ..p
        }
        .is_valid(DEFAULT_BODY_LIMIT));
        assert!(!PartPlan { part_size: MIB, ..p }.is_valid(DEFAULT_BODY_LIMIT));
        assert!(!PartPlan {
            part_size: 200 * MIB,
            ..p
        }
        .is_valid(DEFAULT_BODY_LIMIT));
    }

    #[test]
    fn offsets_follow_part_sizes() {
        let p = plan(37 * MIB + 3);
        assert_eq!(p.part_offset(1), Some(0));
        assert_eq!(p.part_offset(2), Some(p.part_size));
        assert_eq!(p.part_offset(p.part_count + 1), None);
    }
}
