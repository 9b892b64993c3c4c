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

/// What a part's body may still hold unsent once all of it was taken: hyper's write buffer
/// (about 400 KiB over HTTP/1.1) and what the socket's send buffer keeps beyond it.
const DRAIN_AHEAD: u64 = 1 << 20;
/// The longest a part counts as moving past its last mark, however slow it went.
const MAX_GAP: Duration = Duration::from_secs(600);

/// How one part's body moves: hyper takes the next chunk only once its write buffer has room,
/// which the network's draining makes, so the marks follow the bytes leaving the machine, some
/// hundred KiB behind. A part still moving on a slow link keeps its deadline (`moving_until`).
pub(crate) struct LastMoved {
    len: u64,
    chunk: u64,
    marks: Mutex<Marks>,
}

#[derive(Default)]
struct Marks {
    first: Option<(Instant, u64)>,
    last: Option<Instant>,
    taken: u64,
}

impl LastMoved {
    /// For a body of `len` bytes taken `chunk` bytes at a time.
    pub(crate) fn new(len: u64, chunk: usize) -> Self {
        LastMoved {
            len,
            chunk: chunk as u64,
            marks: Mutex::default(),
        }
    }

    /// `n` more bytes were taken now.
    pub(crate) fn mark(&self, n: usize) {
        self.mark_at(n, Instant::now());
    }

    fn mark_at(&self, n: usize, now: Instant) {
        let mut m = self.marks.lock().unwrap_or_else(|e| e.into_inner());
        m.taken += n as u64;
        let taken = m.taken;
        m.first.get_or_insert((now, taken));
        m.last = Some(now);
    }

    /// Until when the part counts as moving: its last mark, plus the time its rate so far needs
    /// for what lies ahead of the next mark — a chunk while the body is being taken, what the
    /// buffers may still hold once all of it was (at most `MAX_GAP`). `None` before any mark.
    pub(crate) fn moving_until(&self) -> Option<Instant> {
        let m = self.marks.lock().unwrap_or_else(|e| e.into_inner());
        let (last, (first, at_first)) = (m.last?, m.first?);
        let ahead = match m.taken >= self.len {
            true => DRAIN_AHEAD.min(self.len),
            false => self.chunk,
        };
        let elapsed = last.duration_since(first).as_secs_f64();
        let moved = (m.taken - at_first) as f64;
        let gap = match elapsed > 0.0 && moved > 0.0 {
            true => Duration::from_secs_f64((ahead as f64 * elapsed / moved).min(MAX_GAP.as_secs_f64())),
            false => Duration::ZERO,
        };
        Some(last + gap)
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

    #[test]
    fn a_part_counts_as_moving_until_its_rate_so_far_would_take_the_next_chunk_or_drain_the_buffers() {
        const KIB: usize = 1024;
        let t0 = Instant::now();
        let s = |secs: u64| t0 + Duration::from_secs(secs);
        let moved = LastMoved::new(2048 * KIB as u64, 256 * KIB);
        assert_eq!(moved.moving_until(), None, "nothing taken yet");
        // The first chunk: no rate yet, the mark alone.
        moved.mark_at(256 * KIB, t0);
        assert_eq!(moved.moving_until(), Some(t0));
        // Then a chunk every 16 s (16 KiB/s): the next is due 16 s after the last.
        for at in [16, 32, 48] {
            moved.mark_at(256 * KIB, s(at));
        }
        assert_eq!(moved.moving_until(), Some(s(64)));
        // All of it taken: up to 1 MiB may still be in the buffers, 64 s at that rate.
        for at in [64, 80, 96, 112] {
            moved.mark_at(256 * KIB, s(at));
        }
        assert_eq!(moved.moving_until(), Some(s(112 + 64)));
        // However slow, at most ten minutes past the last mark.
        let crawling = LastMoved::new(1024 * KIB as u64, 256 * KIB);
        crawling.mark_at(KIB, t0);
        crawling.mark_at(KIB, s(100));
        assert_eq!(crawling.moving_until(), Some(s(100 + 600)));
    }
}
