//! Store profiles (`S3_STORE`): what each S3 implementation needs of a multipart upload, as data
//! (researched in `docs/stores.md`). A profile supplies the defaults of `S3_CHECKSUMS` and
//! `VERIFY_MODE`, the part-plan rules ([`StoreRules`]) and the translation of a store's own
//! error dialect into AWS's codes ([`StoreProfile::upload_refusal`]).

use crate::config::VerifyMode;
use crate::plan::{PartPlan, MIB, S3_MAX_PARTS, S3_MAX_PART_SIZE, S3_MIN_PART_SIZE};
use crate::s3::S3ErrorCode;

/// Which S3 implementation the bucket lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StoreProfile {
    /// Amazon S3.
    Aws,
    /// Cloudflare R2: no SHA-256 part checksums (501), equal parts.
    R2,
    /// Garage (the local store).
    Garage,
    /// MinIO.
    Minio,
    /// Seagate Lyve Cloud: checksums undocumented, parts ≤ 4 GiB.
    Lyve,
    /// s3s-fs (test store): ignores checksum headers, answers 500 to a bad payload hash and
    /// 403 AccessDenied for a gone upload.
    S3s,
    /// Any other S3: AWS's rules, today's defaults.
    #[default]
    Generic,
}

impl StoreProfile {
    pub const ALL: &'static [StoreProfile] = &[
        StoreProfile::Aws,
        StoreProfile::R2,
        StoreProfile::Garage,
        StoreProfile::Minio,
        StoreProfile::Lyve,
        StoreProfile::S3s,
        StoreProfile::Generic,
    ];

    /// The `S3_STORE` value naming the profile.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreProfile::Aws => "aws",
            StoreProfile::R2 => "r2",
            StoreProfile::Garage => "garage",
            StoreProfile::Minio => "minio",
            StoreProfile::Lyve => "lyve",
            StoreProfile::S3s => "s3s",
            StoreProfile::Generic => "generic",
        }
    }

    /// The profile an `S3_STORE` value names (exact, lowercase, surrounding spaces ignored).
    pub fn parse(s: &str) -> Option<StoreProfile> {
        let s = s.trim();
        StoreProfile::ALL.iter().copied().find(|p| p.as_str() == s)
    }

    /// `S3_CHECKSUMS` when unset: whether the store takes (and checks) `x-amz-checksum-sha256`
    /// on parts and `x-amz-checksum-algorithm: SHA256` at Create. R2 answers 501 to SHA-256
    /// part checksums, s3s-fs 0.14 ignores them, Lyve does not document them.
    pub fn default_checksums(self) -> bool {
        !matches!(self, StoreProfile::R2 | StoreProfile::Lyve | StoreProfile::S3s)
    }

    /// `VERIFY_MODE` when unset: `store` only where the store is known to refuse a body that
    /// does not match its signed payload hash with a recognizable error.
    pub fn default_verify_mode(self) -> VerifyMode {
        match self {
            StoreProfile::R2 | StoreProfile::Lyve | StoreProfile::S3s => VerifyMode::Worker,
            StoreProfile::Aws | StoreProfile::Garage | StoreProfile::Minio | StoreProfile::Generic => VerifyMode::Store,
        }
    }

    /// The multipart rules the part plan must follow on this store.
    pub fn rules(self) -> StoreRules {
        let aws = StoreRules {
            min_part: S3_MIN_PART_SIZE,
            max_part: S3_MAX_PART_SIZE,
            max_parts: S3_MAX_PARTS,
            equal_parts: false,
        };
        match self {
            // R2: 4.995 GiB per part at most; every part but the last the same size.
            StoreProfile::R2 => StoreRules {
                max_part: S3_MAX_PART_SIZE - 5 * MIB,
                equal_parts: true,
                ..aws
            },
            // Lyve: parts 5 MiB – 4 GiB.
            StoreProfile::Lyve => StoreRules {
                max_part: 4 * 1024 * MIB,
                ..aws
            },
            // Garage enforces no minimum or count; MinIO allows 5 TiB parts and s3s-fs any
            // size: AWS's limits are within all of them. Generic is AWS (today's rules).
            StoreProfile::Aws
            | StoreProfile::Garage
            | StoreProfile::Minio
            | StoreProfile::S3s
            | StoreProfile::Generic => aws,
        }
    }

    /// A refusal of a request on an existing multipart upload (UploadPart, Complete, Abort) in
    /// AWS's terms: the code `classify_store_refusal` and the control plane branch on.
    ///
    /// s3s-fs answers `403 AccessDenied` for an upload id it does not know (aborted, completed
    /// or never created), where AWS says `404 NoSuchUpload`. Only the s3s profile reads it so:
    /// elsewhere a 403 is a permission problem, and reading it as a gone upload could make an
    /// abort look done.
    pub fn upload_refusal(self, status: u16, code: Option<S3ErrorCode>) -> Option<S3ErrorCode> {
        match (self, status, code) {
            (StoreProfile::S3s, 403, Some(S3ErrorCode::AccessDenied)) => Some(S3ErrorCode::NoSuchUpload),
            (_, _, code) => code,
        }
    }
}

impl std::fmt::Display for StoreProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A store's multipart limits (sans-IO): every part but the last in `min_part..=max_part`, the
/// last `1..=max_part`, at most `max_parts` parts, and with `equal_parts` every part but the
/// last the same size and the last no larger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreRules {
    pub min_part: u64,
    pub max_part: u64,
    pub max_parts: u64,
    pub equal_parts: bool,
}

impl StoreRules {
    /// The largest part a plan may use under a request-body limit on this store.
    pub fn part_limit(&self, body_limit: u64) -> u64 {
        body_limit.min(self.max_part)
    }

    /// Whether `plan` follows these rules; the first broken rule otherwise.
    pub fn check(&self, plan: &PartPlan) -> Result<(), String> {
        let count = u64::from(plan.part_count);
        if count > self.max_parts {
            return Err(format!("{count} parts, more than {}", self.max_parts));
        }
        let sizes: Vec<u64> = plan.part_numbers().filter_map(|n| plan.part_len(n)).collect();
        if sizes.len() as u64 != count || sizes.iter().sum::<u64>() != plan.file_size {
            return Err("the parts do not add up to the file".into());
        }
        for (i, size) in sizes.iter().enumerate() {
            let number = i + 1;
            let last = number == sizes.len();
            if *size == 0 || *size > self.max_part {
                return Err(format!("part {number} is {size} bytes, outside 1..={}", self.max_part));
            }
            if !last && *size < self.min_part {
                return Err(format!("part {number} is {size} bytes, below {}", self.min_part));
            }
        }
        if self.equal_parts {
            if let Some((last, init)) = sizes.split_last() {
                if let Some(first) = init.first() {
                    if init.iter().any(|s| s != first) || last > first {
                        return Err("parts are not equal (all but the last the same size, the last no larger)".into());
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::DEFAULT_BODY_LIMIT;
    use S3ErrorCode as S;

    const GIB: u64 = 1024 * MIB;

    #[test]
    fn profiles_parse_from_their_names_only() {
        for p in StoreProfile::ALL {
            assert_eq!(StoreProfile::parse(p.as_str()), Some(*p));
            assert_eq!(StoreProfile::parse(&format!(" {p} ")), Some(*p));
        }
        for bad in ["", "AWS", "s3", "cloudflare", "seaweedfs", "minio2"] {
            assert_eq!(StoreProfile::parse(bad), None, "{bad:?}");
        }
        assert_eq!(StoreProfile::default(), StoreProfile::Generic);
    }

    /// The table of docs/stores.md, "How JettySpeed follows each store".
    #[test]
    fn each_profile_supplies_its_defaults() {
        use StoreProfile::*;
        use VerifyMode::{Store, Worker};
        let table = [
            (Aws, true, Store),
            (R2, false, Worker),
            (Garage, true, Store),
            (Minio, true, Store),
            (Lyve, false, Worker),
            (S3s, false, Worker),
            (Generic, true, Store),
        ];
        assert_eq!(table.len(), StoreProfile::ALL.len());
        for (profile, checksums, verify) in table {
            assert_eq!(profile.default_checksums(), checksums, "{profile}");
            assert_eq!(profile.default_verify_mode(), verify, "{profile}");
        }
    }

    #[test]
    fn rules_follow_each_stores_documentation() {
        for p in StoreProfile::ALL {
            let r = p.rules();
            assert_eq!(r.min_part, 5 * MIB, "{p}: every store takes 5 MiB parts");
            assert_eq!(r.max_parts, 10_000, "{p}");
            assert!(r.max_part <= 5 * GIB, "{p}");
            assert_eq!(r.equal_parts, *p == StoreProfile::R2, "{p}");
        }
        assert_eq!(StoreProfile::Lyve.rules().max_part, 4 * GIB);
        assert!(StoreProfile::R2.rules().max_part < 5 * GIB);
        assert_eq!(StoreProfile::Generic.rules(), StoreProfile::Aws.rules());
    }

    #[test]
    fn the_checker_names_the_broken_rule() {
        let r2 = StoreProfile::R2.rules();
        let aws = StoreProfile::Aws.rules();
        let plan = |file_size, part_size, part_count| PartPlan {
            file_size,
            part_size,
            part_count,
        };
        assert!(aws.check(&plan(10 * MIB + 1, 5 * MIB, 3)).is_ok());
        assert!(aws.check(&plan(1, 5 * MIB, 1)).is_ok(), "a lone last part may be tiny");
        assert!(aws.check(&plan(0, 5 * MIB, 0)).is_ok(), "the empty file has no parts");
        assert!(aws.check(&plan(8 * MIB, 4 * MIB, 2)).unwrap_err().contains("below"));
        assert!(aws
            .check(&plan(10_001 * 5 * MIB, 5 * MIB, 10_001))
            .unwrap_err()
            .contains("more than 10000"));
        assert!(aws
            .check(&plan(10 * MIB + 1, 5 * MIB, 2))
            .unwrap_err()
            .contains("add up"));
        assert!(aws
            .check(&plan(10 * MIB, 5 * MIB, 3))
            .unwrap_err()
            .contains("part 3 is 0 bytes"));
        assert!(StoreProfile::Lyve
            .rules()
            .check(&plan(5 * GIB, 5 * GIB, 1))
            .unwrap_err()
            .contains("outside"));
        assert!(r2.check(&plan(10 * MIB + 1, 5 * MIB, 3)).is_ok());
        // A PartPlan is equal parts by construction, so the equal-parts rule holds for any.
        let unequal = StoreRules {
            equal_parts: true,
            ..aws
        };
        assert!(unequal.check(&plan(15 * MIB, 5 * MIB, 3)).is_ok());
    }

    /// Every plan the coordinator makes, for a range of sizes and body limits, follows every
    /// store's rules once the part size is capped by the profile.
    #[test]
    fn part_plans_follow_every_stores_rules() {
        let mut sizes = vec![
            0,
            1,
            5 * MIB - 1,
            5 * MIB,
            5 * MIB + 1,
            10 * MIB + 1,
            100 * MIB,
            GIB + 7,
        ];
        for limit in [DEFAULT_BODY_LIMIT, 500_000_000] {
            sizes.extend([limit * 10_000, limit * 10_000 - 1, limit * 9_999 + 1]);
        }
        sizes.extend([4 * GIB * 10_000, 5 * GIB * 10_000 - 3]);
        let limits = [5 * MIB, DEFAULT_BODY_LIMIT, 500_000_000, 5 * GIB, u64::MAX];
        for p in StoreProfile::ALL {
            let rules = p.rules();
            let mut planned = 0;
            for &limit in &limits {
                for &size in &sizes {
                    for threads in [1, 16, 64] {
                        let preferred = PartPlan::preferred_part_size(size, threads);
                        for want in [preferred, 5 * MIB, u64::MAX] {
                            let Ok(plan) = PartPlan::new(size, want, rules.part_limit(limit)) else {
                                // Too large for 10,000 parts under this limit: refused, fine.
                                assert!(size > rules.part_limit(limit) * 10_000, "{p} {size} {limit}");
                                continue;
                            };
                            planned += 1;
                            assert_eq!(rules.check(&plan), Ok(()), "{p}: {plan:?} (limit {limit})");
                            // The plan is always equal parts, which R2 needs.
                            assert_eq!(
                                StoreRules {
                                    equal_parts: true,
                                    ..rules
                                }
                                .check(&plan),
                                Ok(())
                            );
                        }
                    }
                }
            }
            assert!(planned > 100, "{p}: {planned} plans checked");
        }
    }

    #[test]
    fn only_s3s_reads_access_denied_as_a_gone_upload() {
        for p in StoreProfile::ALL {
            let want = if *p == StoreProfile::S3s {
                Some(S::NoSuchUpload)
            } else {
                Some(S::AccessDenied)
            };
            assert_eq!(p.upload_refusal(403, Some(S::AccessDenied)), want, "{p}");
            // Everything else passes through unchanged.
            for (status, code) in [
                (404, Some(S::NoSuchUpload)),
                (400, Some(S::BadDigest)),
                (400, Some(S::XAmzContentChecksumMismatch)),
                (500, Some(S::InternalError)),
                (403, Some(S::SignatureDoesNotMatch)),
                (403, None),
                (500, Some(S::AccessDenied)),
            ] {
                assert_eq!(p.upload_refusal(status, code.clone()), code, "{p} {status}");
            }
        }
    }
}
