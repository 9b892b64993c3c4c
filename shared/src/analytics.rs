//! Upload analytics: the per-account rows of the `user_upload_stats` view combined into the
//! figures `/api/jetty/stats` answers, for one account or (operators) for all of them.
//!
//! Average speed is byte-weighted: all bytes over all upload time, so many small files do
//! not drown one large upload. Combining accounts keeps that property because the view
//! carries its numerator and denominator (`timed_bytes`, `timed_seconds`).

use crate::{ApiError, ErrorCode};
use serde::Deserialize;

/// One account's finished uploads (a row of `user_upload_stats`), or several combined.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct UploadTotals {
    pub uploads: u64,
    pub bytes: u64,
    pub bytes_transferred: u64,
    pub chunks: u64,
    pub avg_duration_seconds: Option<f64>,
    /// Bytes and seconds of the non-empty uploads: the speed's numerator and denominator.
    pub timed_bytes: u64,
    pub timed_seconds: f64,
    pub estimated_cost: f64,
    pub actual_cost: f64,
}

impl UploadTotals {
    /// MB/s (10^6 bytes) over all timed uploads; None before the first non-empty upload.
    pub fn avg_speed_mbps(&self) -> Option<f64> {
        (self.timed_bytes > 0).then(|| self.timed_bytes as f64 / 1e6 / self.timed_seconds.max(0.001))
    }

    /// Several accounts' totals as one: sums, an upload-weighted mean duration.
    pub fn combine(rows: &[UploadTotals]) -> UploadTotals {
        let mut total = UploadTotals::default();
        let mut duration_sum = 0.0;
        let mut timed_uploads = 0u64;
        for r in rows {
            total.uploads += r.uploads;
            total.bytes += r.bytes;
            total.bytes_transferred += r.bytes_transferred;
            total.chunks += r.chunks;
            total.timed_bytes += r.timed_bytes;
            total.timed_seconds += r.timed_seconds;
            total.estimated_cost += r.estimated_cost;
            total.actual_cost += r.actual_cost;
            if let Some(d) = r.avg_duration_seconds {
                duration_sum += d * r.uploads as f64;
                timed_uploads += r.uploads;
            }
        }
        total.avg_duration_seconds = (timed_uploads > 0).then(|| duration_sum / timed_uploads as f64);
        total
    }
}

/// Whose numbers a stats request reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsScope {
    /// One account: its own (any key), or any one account (admin key with `?account=`).
    Account(String),
    /// Every account (admin key).
    All,
}

impl StatsScope {
    /// The scope of a request: `admin` for the operators' key, else the caller's own account;
    /// `requested` is the `?account=` query parameter. Only the admin key reads another account.
    pub fn for_request(admin: bool, own: Option<&str>, requested: Option<&str>) -> Result<StatsScope, ApiError> {
        match (admin, own, requested) {
            (true, _, Some(account)) => Ok(StatsScope::Account(account.to_owned())),
            (true, _, None) => Ok(StatsScope::All),
            (false, Some(own), None) => Ok(StatsScope::Account(own.to_owned())),
            (false, Some(own), Some(account)) if account == own => Ok(StatsScope::Account(own.to_owned())),
            (false, Some(_), Some(_)) => Err(ApiError::new(ErrorCode::AdminKeyRequired)),
            (false, None, _) => Err(ApiError::new(ErrorCode::InvalidApiKey)),
        }
    }

    /// Which scope this is, as answered to clients.
    pub fn name(&self) -> &'static str {
        match self {
            StatsScope::Account(_) => "account",
            StatsScope::All => "all",
        }
    }

    /// The account filter for queries: None reads every account.
    pub fn account(&self) -> Option<&str> {
        match self {
            StatsScope::Account(id) => Some(id),
            StatsScope::All => None,
        }
    }
}

/// The period the analytics views read (`edge_performance_24h`).
pub const ANALYTICS_PERIOD_MS: u64 = 24 * 3600 * 1000;
/// How long edge measurements are kept: the analytics period plus a margin, so the 24-hour
/// view is always whole between two runs of the pruning job.
pub const METRICS_RETENTION_MS: u64 = ANALYTICS_PERIOD_MS + 2 * 3600 * 1000;

/// Measurements recorded before this instant may be pruned.
pub fn metrics_prune_before(now_ms: u64) -> u64 {
    now_ms.saturating_sub(METRICS_RETENTION_MS)
}

/// Money rounded to 1/100 of a cent, as stored (the seeds' DECIMAL(10, 4)).
pub fn round_cost(usd: f64) -> f64 {
    (usd * 10_000.0).round() / 10_000.0
}

/// Transfer price for estimates when none is configured, USD per GB (the seeds' over-quota price).
pub const DEFAULT_PRICE_PER_GB: f64 = 0.10;

/// USD for moving `bytes` at `price_per_gb`, rounded as stored.
pub fn transfer_cost(bytes: u64, price_per_gb: f64) -> f64 {
    round_cost(bytes as f64 / 1e9 * price_per_gb)
}

/// A configured price (`PRICE_PER_GB`) if it is one, else the default.
pub fn price_or_default(configured: &str) -> f64 {
    configured
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|p| p.is_finite() && *p >= 0.0)
        .unwrap_or(DEFAULT_PRICE_PER_GB)
}

/// Speeds are answered to 0.1 MB/s.
pub fn round_speed(mbps: f64) -> f64 {
    (mbps * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(uploads: u64, bytes: u64, seconds: f64, avg_duration: Option<f64>) -> UploadTotals {
        UploadTotals {
            uploads,
            bytes,
            bytes_transferred: bytes,
            chunks: uploads,
            avg_duration_seconds: avg_duration,
            timed_bytes: bytes,
            timed_seconds: seconds,
            estimated_cost: bytes as f64 / 1e10,
            actual_cost: bytes as f64 / 1e10,
        }
    }

    #[test]
    fn speed_is_bytes_over_time_and_absent_without_timed_bytes() {
        let cases = [
            (row(1, 100_000_000, 10.0, Some(10.0)), Some(10.0)),
            (row(2, 150_000_000, 35.0, Some(17.5)), Some(150.0 / 35.0)),
            // A 0-second upload counts as 1 ms rather than dividing by zero.
            (row(1, 1_000_000, 0.0, Some(0.0)), Some(1000.0)),
            (row(1, 0, 0.5, Some(0.5)), None),
            (UploadTotals::default(), None),
        ];
        for (totals, want) in cases {
            match (totals.avg_speed_mbps(), want) {
                (Some(got), Some(want)) => assert!((got - want).abs() < 1e-9, "{got} != {want}"),
                (got, want) => assert_eq!(got, want),
            }
        }
    }

    #[test]
    fn combining_accounts_weights_speed_by_bytes_and_duration_by_uploads() {
        // A: 3 uploads, 150 MB in 35 s, mean 11.8 s. B: 1 upload, 8 MB in 2 s.
        let a = row(3, 150_000_000, 35.0, Some(35.5 / 3.0));
        let b = row(1, 8_000_000, 2.0, Some(2.0));
        let all = UploadTotals::combine(&[a.clone(), b]);
        assert_eq!(
            (all.uploads, all.bytes, all.chunks, all.timed_bytes),
            (4, 158_000_000, 4, 158_000_000)
        );
        // 158 MB / 37 s, not the mean of 4.29 and 4.0 MB/s.
        assert!((all.avg_speed_mbps().unwrap() - 158.0 / 37.0).abs() < 1e-9);
        assert!((all.avg_duration_seconds.unwrap() - 37.5 / 4.0).abs() < 1e-9);
        assert!((all.actual_cost - 0.0158).abs() < 1e-12);
        // One account combined is itself; none is empty.
        assert_eq!(UploadTotals::combine(std::slice::from_ref(&a)), a);
        assert_eq!(UploadTotals::combine(&[]), UploadTotals::default());
    }

    #[test]
    fn pruning_keeps_more_than_the_analytics_period() {
        let now = 1_700_000_000_000;
        let cases = [
            (now - ANALYTICS_PERIOD_MS, false),
            (now - ANALYTICS_PERIOD_MS - 3_600_000, false),
            (now - METRICS_RETENTION_MS - 1, true),
        ];
        for (recorded_at, pruned) in cases {
            assert_eq!(recorded_at < metrics_prune_before(now), pruned, "{}", now - recorded_at);
        }
        // Early in a fleet's life nothing underflows.
        assert_eq!(metrics_prune_before(1_000), 0);
    }

    #[test]
    fn only_the_admin_key_reads_other_accounts_or_all_of_them() {
        use StatsScope::*;
        let a = || Account("acc_a".to_owned());
        type Case<'a> = (bool, Option<&'a str>, Option<&'a str>, Result<StatsScope, ErrorCode>);
        let cases: [Case; 7] = [
            (false, Some("acc_a"), None, Ok(a())),
            (false, Some("acc_a"), Some("acc_a"), Ok(a())),
            (false, Some("acc_a"), Some("acc_b"), Err(ErrorCode::AdminKeyRequired)),
            (false, None, None, Err(ErrorCode::InvalidApiKey)),
            (true, None, None, Ok(All)),
            (true, None, Some("acc_a"), Ok(a())),
            (true, Some("acc_b"), Some("acc_a"), Ok(a())),
        ];
        for (admin, own, requested, want) in cases {
            let got = StatsScope::for_request(admin, own, requested).map_err(|e| e.code);
            assert_eq!(got, want, "admin={admin} own={own:?} requested={requested:?}");
        }
        assert_eq!(a().account(), Some("acc_a"));
        assert_eq!(All.account(), None);
        assert_eq!((a().name(), All.name()), ("account", "all"));
        assert_eq!(round_cost(0.123_456), 0.1235);
    }

    #[test]
    fn transfer_cost_at_the_configured_or_default_price() {
        let cases = [
            ("0.10", 0.10),
            (" 0.02 ", 0.02),
            ("0", 0.0),
            ("", 0.10),
            ("-1", 0.10),
            ("NaN", 0.10),
            ("x", 0.10),
        ];
        for (configured, price) in cases {
            assert_eq!(price_or_default(configured), price, "{configured:?}");
        }
        // 3 MiB at $0.10/GB = $0.000315 → $0.0003; 1 GB = $0.10.
        assert_eq!(transfer_cost(3 * 1024 * 1024, 0.10), 0.0003);
        assert_eq!(transfer_cost(1_000_000_000, 0.10), 0.1);
        assert_eq!(round_speed(62.94), 62.9);
    }
}
