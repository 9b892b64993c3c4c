//! The rate meter: counts the body bytes streamed to edges and, with a rate limit, spaces
//! them out (a leaky bucket shared by every part in flight).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counts streamed bytes and, with a rate, spaces them out (a leaky bucket shared by all parts).
pub(crate) struct Meter {
    pub(crate) sent: AtomicU64,
    rate: Option<u64>,
    next: Mutex<Instant>,
}

impl Meter {
    pub(crate) fn new(rate: Option<u64>) -> Self {
        Meter {
            sent: AtomicU64::new(0),
            rate: rate.filter(|r| *r > 0),
            next: Mutex::new(Instant::now()),
        }
    }

    pub(crate) async fn pass(&self, n: usize) {
        self.sent.fetch_add(n as u64, Ordering::Relaxed);
        let Some(rate) = self.rate else { return };
        let wake = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if *next < now {
                *next = now;
            }
            *next += Duration::from_secs_f64(n as f64 / rate as f64);
            *next
        };
        tokio::time::sleep_until(wake.into()).await;
    }
}

/// When one part's body last moved — a chunk handed to its connection, which takes more only
/// as the network drains it — so a part still moving on a slow link keeps its deadline.
#[derive(Default)]
pub(crate) struct LastMoved(Mutex<Option<Instant>>);

impl LastMoved {
    pub(crate) fn mark(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    }

    pub(crate) fn at(&self) -> Option<Instant> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_meter_counts_bytes_and_holds_the_rate() {
        let meter = Meter::new(Some(10 * 1024 * 1024));
        let start = Instant::now();
        for _ in 0..8 {
            meter.pass(256 * 1024).await;
        }
        // 2 MiB at 10 MiB/s takes at least 0.2 s.
        assert!(start.elapsed() >= Duration::from_millis(195), "{:?}", start.elapsed());
        assert_eq!(meter.sent.load(Ordering::Relaxed), 2 * 1024 * 1024);
        let unlimited = Meter::new(None);
        unlimited.pass(5).await;
        assert_eq!(unlimited.sent.load(Ordering::Relaxed), 5);
    }
}
