//! The I/O loop around `RetryBudget` for single requests to the coordinator (optimal-edges,
//! resume, finalize, get-state): an outage — unreachable, a 5xx, a 429 or 408 — is waited out
//! with backoff (at least what a `Retry-After` asked; asked longer than the budget has left,
//! given up at once) until the budget is spent; anything else is final at once.

use super::options::{RetryNotice, Retrying, Trouble};
use super::retry::{RetryBudget, RetryPolicy};
use crate::ClientError;
use jetty_shared::error::ErrorCode;
use std::future::Future;
use std::time::Instant;

/// Runs `call` until it succeeds, fails for good (a refusal, a local error), or has failed
/// without a break for `policy.budget`; `notice` hears about each wait and the recovery.
pub async fn with_retries<T, F, Fut>(
    policy: RetryPolicy,
    notice: Option<&RetryNotice>,
    mut call: F,
) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    let mut budget = RetryBudget::new(policy, rand::random());
    let mut waited = false;
    loop {
        let err = match call().await {
            Err(e) if e.is_outage() => e,
            other => {
                if let (true, Some(n)) = (waited, notice) {
                    n.tell(None);
                }
                return other;
            }
        };
        let now = Instant::now();
        let Some(mut delay) = budget.on_failure(now) else {
            return Err(match budget.failing_for(now) {
                Some(d) if waited => err.after_retries(d),
                _ => err,
            });
        };
        if let (Some(asked), Some(failing)) = (err.retry_after(), budget.failing_for(now)) {
            // The answer named its wait (`Retry-After`): not sooner. Longer than the budget has
            // left, any try within it would come too early: give up now instead of sleeping.
            if asked >= policy.budget.saturating_sub(failing) {
                return Err(if waited { err.after_retries(failing) } else { err });
            }
            delay = delay.max(asked);
        }
        if let Some(n) = notice {
            n.tell(Some(Retrying {
                trouble: coordinator_trouble(&err),
                delay,
            }));
        }
        waited = true;
        tokio::time::sleep(delay).await;
    }
}

/// What a failed coordinator request says is failing.
pub(crate) fn coordinator_trouble(err: &ClientError) -> Trouble {
    match err {
        ClientError::Network(_) => return Trouble::CoordinatorUnreachable,
        ClientError::Server { status, .. } if crate::is_transient_status(*status) => return Trouble::CoordinatorBusy,
        _ => {}
    }
    match err.code().and_then(ErrorCode::from_wire) {
        Some(ErrorCode::StoreUnavailable | ErrorCode::StorageError) => Trouble::StoreUnavailable,
        Some(ErrorCode::NoEdges) => Trouble::NoEdges,
        Some(ErrorCode::FinalizeInProgress) => Trouble::FinalizeInProgress,
        _ => Trouble::CoordinatorFailing,
    }
}
