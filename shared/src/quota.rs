//! Tiers and quotas: what an account may store and download, and the checks made before any
//! byte moves. Sizes are decimal (1 GB = 10^9 bytes), as storage is billed.

use crate::error::{ApiError, ErrorCode};
use serde::{Deserialize, Serialize};

pub const GB: u64 = 1_000_000_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tier {
    pub tier: String,
    pub storage_quota_bytes: u64,
    pub bandwidth_quota_bytes: u64,
    pub jetty_speed_enabled: bool,
}

/// The seeds' tiers (also seeded into D1 by a migration).
pub fn default_tiers() -> Vec<Tier> {
    [
        ("free", 0, 0, false),
        ("starter", 2, 10, false),
        ("pro", 20, 100, true),
        ("business", 100, 500, true),
        ("enterprise", 1000, 5000, true),
    ]
    .into_iter()
    .map(|(name, storage, bandwidth, speed)| Tier {
        tier: name.to_owned(),
        storage_quota_bytes: storage * GB,
        bandwidth_quota_bytes: bandwidth * GB,
        jetty_speed_enabled: speed,
    })
    .collect()
}

/// Storage in use: finalized objects plus reservations of sessions still in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StorageUse {
    pub stored: u64,
    pub reserved: u64,
}

/// Refuses `incoming` more bytes when they would not fit, with used/quota in the details.
pub fn check_storage(tier: &Tier, usage: StorageUse, incoming: u64) -> Result<(), ApiError> {
    let used = usage.stored + usage.reserved;
    if used.saturating_add(incoming) > tier.storage_quota_bytes {
        return Err(ApiError::with_message(
            ErrorCode::StorageQuotaExceeded,
            format!(
                "Storage quota exceeded: {} GB used (including uploads in progress) + {} GB requested > {} GB quota of the {} tier",
                gb(used),
                gb(incoming),
                gb(tier.storage_quota_bytes),
                tier.tier
            ),
        )
        .details(serde_json::json!({
            "usedBytes": used,
            "requestedBytes": incoming,
            "quotaBytes": tier.storage_quota_bytes,
            "tier": tier.tier,
        })));
    }
    Ok(())
}

pub fn check_bandwidth(tier: &Tier, used: u64, incoming: u64) -> Result<(), ApiError> {
    if used.saturating_add(incoming) > tier.bandwidth_quota_bytes {
        return Err(ApiError::with_message(
            ErrorCode::BandwidthQuotaExceeded,
            format!("Bandwidth quota exceeded: {} GB of {} GB used this month", gb(used), gb(tier.bandwidth_quota_bytes)),
        )
        .details(serde_json::json!({ "usedBytes": used, "requestedBytes": incoming, "quotaBytes": tier.bandwidth_quota_bytes })));
    }
    Ok(())
}

fn gb(bytes: u64) -> String {
    let v = bytes as f64 / GB as f64;
    if v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// One line of the seed's quota answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaLine {
    pub used_gb: f64,
    pub quota_gb: f64,
    pub percent: f64,
    pub used_bytes: u64,
    pub quota_bytes: u64,
}

pub fn quota_line(used: u64, quota: u64) -> QuotaLine {
    let round = |x: f64, places: i32| (x * 10f64.powi(places)).round() / 10f64.powi(places);
    QuotaLine {
        used_gb: round(used as f64 / GB as f64, 3),
        quota_gb: round(quota as f64 / GB as f64, 3),
        percent: if quota == 0 {
            if used == 0 {
                0.0
            } else {
                100.0
            }
        } else {
            round(used as f64 * 100.0 / quota as f64, 1)
        },
        used_bytes: used,
        quota_bytes: quota,
    }
}

/// The calendar month (`YYYY-MM`, UTC) that bandwidth usage is counted in.
pub fn billing_period(now_secs: u64) -> String {
    crate::state::iso8601(now_secs)[..7].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tier(name: &str) -> Tier {
        default_tiers().into_iter().find(|t| t.tier == name).unwrap()
    }

    #[test]
    fn seeded_tiers_match_the_product_table() {
        let t: Vec<_> = default_tiers()
            .into_iter()
            .map(|t| {
                (
                    t.tier,
                    t.storage_quota_bytes / GB,
                    t.bandwidth_quota_bytes / GB,
                    t.jetty_speed_enabled,
                )
            })
            .collect();
        assert_eq!(
            t,
            vec![
                ("free".into(), 0, 0, false),
                ("starter".into(), 2, 10, false),
                ("pro".into(), 20, 100, true),
                ("business".into(), 100, 500, true),
                ("enterprise".into(), 1000, 5000, true)
            ]
        );
    }

    #[test]
    fn storage_checks_count_reservations() {
        let pro = tier("pro");
        assert!(check_storage(
            &pro,
            StorageUse {
                stored: 10 * GB,
                reserved: 0
            },
            10 * GB
        )
        .is_ok());
        let err = check_storage(
            &pro,
            StorageUse {
                stored: 10 * GB,
                reserved: 5 * GB,
            },
            5 * GB + 1,
        )
        .unwrap_err();
        assert_eq!(err.code, ErrorCode::StorageQuotaExceeded);
        assert!(err.message.starts_with("Storage quota exceeded"));
        assert_eq!(err.details.unwrap()["usedBytes"], 15 * GB);
        assert_eq!(
            check_storage(&tier("free"), StorageUse::default(), 1).unwrap_err().code,
            ErrorCode::StorageQuotaExceeded
        );
        assert!(check_storage(&tier("free"), StorageUse::default(), 0).is_ok());
    }

    #[test]
    fn bandwidth_checks_and_quota_lines() {
        assert!(check_bandwidth(&tier("starter"), 9 * GB, GB).is_ok());
        assert_eq!(
            check_bandwidth(&tier("starter"), 9 * GB, GB + 1).unwrap_err().code,
            ErrorCode::BandwidthQuotaExceeded
        );
        let line = quota_line(5_200_000_000, 20 * GB);
        assert_eq!((line.used_gb, line.quota_gb, line.percent), (5.2, 20.0, 26.0));
        assert_eq!(quota_line(0, 0).percent, 0.0);
    }

    #[test]
    fn billing_periods_are_utc_months() {
        assert_eq!(billing_period(1_737_885_600), "2025-01");
    }
}
