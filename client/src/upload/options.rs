//! What an upload is asked to do (`UploadOptions`), how long one part may take
//! (`part_deadline`), what it says while it waits out an outage (`Retrying`), and what it
//! reports when done (`UploadOutcome`).

use super::retry::RetryPolicy;
use super::state::StateStore;
use super::timeline::Timeline;
use jetty_shared::protocol::Location;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// Parts in flight at once, across all edges.
    pub concurrency: usize,
    /// Preferred part size in bytes (the coordinator clamps it).
    pub part_size: Option<u64>,
    pub location: Option<Location>,
    /// How long failures are waited out (the store, the coordinator or every edge failing)
    /// before the upload gives up with a retryable error, keeping its session to resume.
    pub retry: RetryPolicy,
    /// Told when the upload starts waiting out a failure, and when it recovers.
    pub on_retry: Option<RetryNotice>,
    pub content_type: Option<String>,
    /// Upper bound on upload throughput, bytes per second.
    pub limit_rate: Option<u64>,
    /// Where unfinished uploads are remembered; `None` disables resuming by re-running.
    pub state: Option<StateStore>,
    /// Session lifetime to ask for, seconds.
    pub expires_in: Option<u64>,
    /// How long one part may take before it counts as stalled and is sent again elsewhere
    /// — unless its bytes are still moving: then until it has gone this long (by default
    /// [`PROGRESS_WINDOW`]) without moving; `None` allows for the part's size at a very slow
    /// rate (`part_deadline`).
    pub part_timeout: Option<Duration>,
    /// Which way the parts go (`Route::Auto`: through the edges unless the service offers
    /// the store-direct route and the store measures about as near as the nearest edge).
    pub route: Route,
    /// Files up to this size are hashed before their session opens (a duplicate then sends
    /// nothing); larger ones are named after it opens, while their parts go out.
    pub hash_first_max: u64,
}

/// Which way an upload's parts go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Route {
    /// The store when it is offered and about as near as the nearest edge, else the edges.
    #[default]
    Auto,
    /// Always through the edges (and the coordinator's origin-direct share).
    Edges,
    /// Always straight to the store (`direct_route_unavailable` if it is not offered).
    Direct,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            concurrency: 32,
            part_size: None,
            location: None,
            retry: RetryPolicy::default(),
            on_retry: None,
            content_type: None,
            limit_rate: None,
            state: None,
            expires_in: None,
            part_timeout: None,
            route: Route::Auto,
            hash_first_max: super::naming::HASH_FIRST_MAX,
        }
    }
}

/// The slowest rate a part is allowed before it counts as stalled, unless the user asked for
/// less (`limit_rate`): 64 KiB/s.
pub const SLOWEST_PART_RATE: u64 = 64 * 1024;

/// How long sending one part of `len` bytes may take: a minute plus its bytes at the slowest
/// rate a part may go (a rate limit shared by `concurrency` parts lowers that rate). An edge or
/// store that takes the body and never answers must not hang the upload: past this, the part
/// is retried on another edge.
pub fn part_deadline(len: u64, limit_rate: Option<u64>, concurrency: usize) -> Duration {
    let share = limit_rate.map(|r| r / concurrency.max(1) as u64 / 2);
    let rate = share.map_or(SLOWEST_PART_RATE, |s| s.min(SLOWEST_PART_RATE)).max(1);
    Duration::from_secs(60) + Duration::from_secs_f64(len as f64 / rate as f64)
}

/// How long a part past its deadline may go without its bytes moving before it counts as
/// stalled, by default: a part still moving is slow, not stalled (a thin uplink shared by many
/// parts moves each at a crawl), and is never sent again for it.
pub const PROGRESS_WINDOW: Duration = Duration::from_secs(60);

/// The progress window for a `part_timeout` the user set (their figure), else
/// [`PROGRESS_WINDOW`].
pub fn progress_window(part_timeout: Option<Duration>) -> Duration {
    part_timeout.unwrap_or(PROGRESS_WINDOW)
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadOutcome {
    pub file_id: String,
    pub url: String,
    pub size: u64,
    pub sha256: String,
    pub duplicate: bool,
    /// Whether this run continued an earlier session.
    pub resumed: bool,
    pub parts: u32,
    /// Parts this run sent.
    pub parts_sent: u32,
    /// Body bytes this run streamed to edges, retries included.
    pub bytes_sent: u64,
    /// Parts the store copied from what the account already stored (not sent).
    pub parts_reused: u32,
    pub edges: Vec<String>,
    pub seconds: f64,
    /// When each phase ended.
    pub timeline: Timeline,
}

/// Progress callback: bytes confirmed so far, total bytes.
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// What is failing while an upload waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trouble {
    /// The object store, behind healthy edges or the coordinator.
    StoreUnavailable,
    /// Every edge (connection failures, their own errors, no answers).
    EdgesFailing,
    /// The coordinator could not be reached.
    CoordinatorUnreachable,
    /// The coordinator answered with a server error.
    CoordinatorFailing,
    /// The coordinator, or a rate limit or proxy in front of it, said "not now" (`429`, `408`).
    CoordinatorBusy,
    /// The coordinator has no edge to offer (`no_edges_available`).
    NoEdges,
    /// Another request is completing the upload (`finalize_in_progress`).
    FinalizeInProgress,
}

impl std::fmt::Display for Trouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Trouble::StoreUnavailable => "store unavailable",
            Trouble::EdgesFailing => "edges failing",
            Trouble::CoordinatorUnreachable => "coordinator unreachable",
            Trouble::CoordinatorFailing => "coordinator failing",
            Trouble::CoordinatorBusy => "coordinator busy",
            Trouble::NoEdges => "no edges available",
            Trouble::FinalizeInProgress => "finalize in progress elsewhere",
        })
    }
}

/// An upload waiting out a failure: what failed, and how long until the next try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retrying {
    pub trouble: Trouble,
    pub delay: Duration,
}

impl std::fmt::Display for Retrying {
    /// E.g. "store unavailable, retrying in 4 s" (whole seconds, rounded up).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.delay.as_secs() + u64::from(self.delay.subsec_nanos() > 0);
        write!(f, "{}, retrying in {secs} s", self.trouble)
    }
}

/// Called with `Some` each time a failure is to be waited out, and with `None` once a request
/// succeeds again after one.
#[derive(Clone)]
pub struct RetryNotice(pub Arc<dyn Fn(Option<Retrying>) + Send + Sync>);

impl RetryNotice {
    pub fn new(f: impl Fn(Option<Retrying>) + Send + Sync + 'static) -> Self {
        RetryNotice(Arc::new(f))
    }

    pub(crate) fn tell(&self, retrying: Option<Retrying>) {
        (self.0)(retrying)
    }
}

impl std::fmt::Debug for RetryNotice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RetryNotice(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_says_what_failed_and_when_the_next_try_is() {
        let table = [
            (Trouble::StoreUnavailable, 4000, "store unavailable, retrying in 4 s"),
            (
                Trouble::CoordinatorUnreachable,
                1200,
                "coordinator unreachable, retrying in 2 s",
            ),
            (Trouble::EdgesFailing, 0, "edges failing, retrying in 0 s"),
        ];
        for (trouble, ms, want) in table {
            let r = Retrying {
                trouble,
                delay: Duration::from_millis(ms),
            };
            assert_eq!(r.to_string(), want);
        }
    }

    #[test]
    fn a_part_may_take_a_minute_plus_its_bytes_at_the_slowest_allowed_rate() {
        const MIB: u64 = 1024 * 1024;
        let table = [
            // (part size, limit rate, concurrency, seconds)
            (8 * MIB, None, 16, 60.0 + 128.0),
            (64 * MIB, None, 16, 60.0 + 1024.0),
            (0, None, 16, 60.0),
            // 1 MiB/s shared by 16 parts, halved for jitter: 32 KiB/s each.
            (8 * MIB, Some(MIB), 16, 60.0 + 256.0),
            // A generous limit never raises the allowance above 64 KiB/s.
            (8 * MIB, Some(1024 * MIB), 4, 60.0 + 128.0),
            // A limit too small to share still gives every part a finite deadline.
            (MIB, Some(1), 16, 60.0 + MIB as f64),
        ];
        for (len, limit, concurrency, secs) in table {
            let got = part_deadline(len, limit, concurrency).as_secs_f64();
            assert!(
                (got - secs).abs() < 1e-6,
                "{len} {limit:?} {concurrency}: {got} != {secs}"
            );
        }
    }
}
