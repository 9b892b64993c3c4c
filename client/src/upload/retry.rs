//! Waiting out an outage, sans-IO: a budget of *continuous* failure (any success resets it)
//! and exponential backoff with full jitter. Time is passed in and nothing sleeps here; the
//! part scheduler and the coordinator calls' retry loop (`with_retries`) both use it.

use std::time::{Duration, Instant};

/// How long failures are waited out, and how the waits grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How long failures may go on without a single success before giving up. Zero gives up
    /// at the first failure that has nothing else to try.
    pub budget: Duration,
    /// The ceiling of the first wait; each failure in a row doubles it.
    pub base: Duration,
    /// The largest ceiling a wait can have.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    /// Two minutes of failure, waits from up to 500 ms growing to up to 15 s.
    fn default() -> Self {
        RetryPolicy {
            budget: Duration::from_secs(120),
            base: Duration::from_millis(500),
            cap: Duration::from_secs(15),
        }
    }
}

impl RetryPolicy {
    /// The default waits with a budget of `budget`.
    pub fn with_budget(budget: Duration) -> Self {
        RetryPolicy {
            budget,
            ..RetryPolicy::default()
        }
    }

    /// The longest wait after `failures` failures in a row: `base * 2^failures`, at most `cap`.
    pub fn ceiling(&self, failures: u32) -> Duration {
        self.base.saturating_mul(1u32 << failures.min(31)).min(self.cap)
    }
}

/// The state of one retry policy: since when failures have gone on without a success, and how
/// many in a row.
#[derive(Debug, Clone)]
pub struct RetryBudget {
    policy: RetryPolicy,
    failing_since: Option<Instant>,
    failures: u32,
    rng: u64,
}

impl RetryBudget {
    /// `seed` seeds the jitter (reproducible in tests).
    pub fn new(policy: RetryPolicy, seed: u64) -> Self {
        RetryBudget {
            policy,
            failing_since: None,
            failures: 0,
            rng: scramble(seed),
        }
    }

    /// A failure at `now`: how long to wait before trying again (uniform between zero and the
    /// ceiling — "full jitter" — and never past the end of the budget), or `None` once failures
    /// have gone on for the whole budget.
    pub fn on_failure(&mut self, now: Instant) -> Option<Duration> {
        let since = *self.failing_since.get_or_insert(now);
        let failing_for = now.saturating_duration_since(since);
        let left = self.policy.budget.checked_sub(failing_for).filter(|l| !l.is_zero())?;
        let ceiling = self.policy.ceiling(self.failures);
        self.failures = self.failures.saturating_add(1);
        let ceiling_nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        let wait = Duration::from_nanos(next_random(&mut self.rng) % ceiling_nanos.saturating_add(1));
        Some(wait.min(left))
    }

    /// A success: the budget is whole again and the waits start small.
    pub fn on_success(&mut self) {
        self.failing_since = None;
        self.failures = 0;
    }

    /// How long failures have gone on at `now` without a success (`None` while all is well).
    pub fn failing_for(&self, now: Instant) -> Option<Duration> {
        self.failing_since.map(|since| now.saturating_duration_since(since))
    }
}

/// A seed spread over all 64 bits (splitmix64), so small or similar seeds still start
/// unrelated jitter sequences; never zero, which xorshift cannot leave.
pub(crate) fn scramble(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) | 1
}

/// xorshift64: enough for jitter, and reproducible from the seed.
pub(crate) fn next_random(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn backoff_grows_with_full_jitter_up_to_the_cap() {
        let policy = RetryPolicy::default();
        // The n-th failure in a row waits up to 500 ms * 2^n, at most 15 s.
        let ceilings = [500, 1000, 2000, 4000, 8000, 15000, 15000, 15000].map(|ms| ms * MS);
        for (n, want) in ceilings.iter().enumerate() {
            assert_eq!(policy.ceiling(n as u32), *want, "failure {n}");
        }
        assert_eq!(policy.ceiling(u32::MAX), policy.cap, "no overflow");
        // Over many runs each wait spreads over the whole range below its ceiling.
        let t0 = Instant::now();
        let mut waits = vec![Vec::new(); ceilings.len()];
        for seed in 0..500 {
            let mut budget = RetryBudget::new(policy, seed);
            for w in waits.iter_mut() {
                w.push(budget.on_failure(t0).expect("within the budget"));
            }
        }
        for (n, (w, ceiling)) in waits.iter().zip(ceilings).enumerate() {
            let (lo, hi) = (*w.iter().min().unwrap(), *w.iter().max().unwrap());
            assert!(hi <= ceiling, "failure {n}: {hi:?} over {ceiling:?}");
            assert!(hi >= ceiling.mul_f64(0.95), "failure {n}: the top is reached ({hi:?})");
            assert!(lo <= ceiling.mul_f64(0.05), "failure {n}: so is the bottom ({lo:?})");
            let mean = w.iter().sum::<Duration>() / w.len() as u32;
            let half = ceiling / 2;
            assert!(
                mean.abs_diff(half) < ceiling / 10,
                "failure {n}: mean {mean:?}, not about {half:?}"
            );
        }
    }

    #[test]
    fn the_budget_is_continuous_failure_and_a_wait_never_runs_past_it() {
        let policy = RetryPolicy {
            budget: 10 * SECOND,
            base: SECOND,
            cap: 4 * SECOND,
        };
        let t0 = Instant::now();
        let mut budget = RetryBudget::new(policy, 3);
        assert_eq!(budget.failing_for(t0), None);
        assert!(budget.on_failure(t0).is_some());
        assert_eq!(budget.failing_for(t0 + 3 * SECOND), Some(3 * SECOND));
        assert!(budget.on_failure(t0 + 9 * SECOND).unwrap() <= SECOND, "only 1 s left");
        let last = budget.on_failure(t0 + 9900 * MS).unwrap();
        assert!(last <= 100 * MS, "{last:?}");
        assert_eq!(budget.on_failure(t0 + 10 * SECOND), None, "spent");
        assert_eq!(budget.on_failure(t0 + 11 * SECOND), None, "and stays spent");
    }

    #[test]
    fn the_budget_resets_after_a_success() {
        let policy = RetryPolicy {
            budget: 10 * SECOND,
            base: SECOND,
            cap: 8 * SECOND,
        };
        let t0 = Instant::now();
        let mut budget = RetryBudget::new(policy, 11);
        for k in 0..4 {
            budget.on_failure(t0 + k * 2 * SECOND).unwrap();
        }
        budget.on_success();
        assert_eq!(budget.failing_for(t0 + 9 * SECOND), None);
        // Failing again 9 s in: a whole new budget, and the waits start small again.
        let wait = budget.on_failure(t0 + 9 * SECOND).expect("a new budget");
        assert!(wait <= SECOND, "{wait:?}");
        assert!(budget.on_failure(t0 + 18 * SECOND).is_some(), "9 s of failure, not 18");
        assert_eq!(budget.on_failure(t0 + 19 * SECOND), None);
    }

    #[test]
    fn a_zero_budget_gives_up_at_the_first_failure() {
        let mut budget = RetryBudget::new(RetryPolicy::with_budget(Duration::ZERO), 1);
        assert_eq!(budget.on_failure(Instant::now()), None);
    }
}
