//! The sans-IO scheduler of one link direction: packets go in with their arrival time and come
//! out with a release time, or are dropped. No clock, no I/O, no threads: the caller passes
//! `now` (a real clock in the emulator, a virtual one in tests).
//!
//! A packet's way through a [`Pipe`], in this order:
//! 1. **Drop-tail queue** in front of a rate limit: when the bytes still waiting to be
//!    serialized plus this packet exceed the queue limit, the packet is dropped
//!    ([`Dropped::QueueFull`]). The default limit is one bandwidth-delay product
//!    (`rate × 2 × delay`, at least 64 KiB).
//! 2. **Serialization** at `rate` (bits/s): the packet leaves the bottleneck at
//!    `max(arrival, previous departure) + len × 8 / rate`. No rate: it leaves on arrival.
//! 3. **Wire loss** (after the bottleneck, so a lost packet still used its slot):
//!    [`LossModel`] decides ([`Dropped::Lost`]).
//! 4. **Propagation delay** `delay ± jitter` (uniform). Unless `reorder` is set a packet is
//!    never released before the one in front of it, so jitter cannot reorder; the release time
//!    stays within `[departure + delay − jitter, departure + delay + jitter]` either way.
//!
//! The queue is never materialized: the backlog in bytes at `now` follows from the departure
//! time of the last packet accepted. Released packets come out in release-time order (FIFO
//! when `reorder` is off, a binary heap when it is on).

use crate::loss::{Loss, LossModel};
use crate::rng::Rng;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

/// The impairments of one link direction.
#[derive(Debug, Clone, PartialEq)]
pub struct PipeSpec {
    /// One-way propagation delay.
    pub delay: Duration,
    /// The delay varies uniformly in `delay ± jitter` (never below zero).
    pub jitter: Duration,
    /// Let jitter reorder packets (off: a packet waits for the one in front of it).
    pub reorder: bool,
    pub loss: LossModel,
    /// Bottleneck rate in bits per second; `None` is unlimited.
    pub rate_bps: Option<u64>,
    /// Drop-tail queue limit in bytes; `None` is one bandwidth-delay product.
    pub queue_bytes: Option<u64>,
}

impl Default for PipeSpec {
    fn default() -> Self {
        PipeSpec {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            reorder: false,
            loss: LossModel::None,
            rate_bps: None,
            queue_bytes: None,
        }
    }
}

/// The smallest default queue, so a link with little delay still holds a burst.
pub const MIN_DEFAULT_QUEUE: u64 = 64 * 1024;

impl PipeSpec {
    /// The queue limit in force: `queue_bytes`, else `rate × 2 × delay` (≥ 64 KiB).
    pub fn queue_limit(&self) -> u64 {
        match (self.queue_bytes, self.rate_bps) {
            (Some(q), _) => q,
            (None, Some(rate)) => {
                let bdp = rate as u128 * 2 * self.delay.as_nanos() / 8_000_000_000;
                (bdp as u64).max(MIN_DEFAULT_QUEUE)
            }
            (None, None) => u64::MAX,
        }
    }

    /// True when the pipe changes nothing (packets leave on arrival).
    pub fn is_transparent(&self) -> bool {
        self.delay.is_zero() && self.jitter.is_zero() && self.loss == LossModel::None && self.rate_bps.is_none()
    }
}

/// Why a packet did not make it through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// The loss model took it.
    Lost,
    /// The drop-tail queue was full.
    QueueFull,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipeStats {
    pub packets_in: u64,
    pub bytes_in: u64,
    pub lost: u64,
    pub queue_drops: u64,
    pub released: u64,
    pub bytes_released: u64,
}

struct Timed<P> {
    at: Instant,
    seq: u64,
    len: usize,
    pkt: P,
}

impl<P> PartialEq for Timed<P> {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl<P> Eq for Timed<P> {}
impl<P> PartialOrd for Timed<P> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<P> Ord for Timed<P> {
    /// Reversed, so `BinaryHeap` (a max-heap) pops the earliest release first.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

/// One link direction: see the module docs.
pub struct Pipe<P> {
    spec: PipeSpec,
    queue_limit: u64,
    loss: Loss,
    rng: Rng,
    last_arrival: Option<Instant>,
    busy_until: Option<Instant>,
    last_release: Option<Instant>,
    fifo: VecDeque<Timed<P>>,
    heap: BinaryHeap<Timed<P>>,
    seq: u64,
    pub stats: PipeStats,
}

impl<P> Pipe<P> {
    pub fn new(spec: PipeSpec, seed: u64) -> Self {
        Pipe {
            queue_limit: spec.queue_limit(),
            loss: Loss::new(spec.loss),
            rng: Rng::new(seed),
            spec,
            last_arrival: None,
            busy_until: None,
            last_release: None,
            fifo: VecDeque::new(),
            heap: BinaryHeap::new(),
            seq: 0,
            stats: PipeStats::default(),
        }
    }

    pub fn spec(&self) -> &PipeSpec {
        &self.spec
    }

    /// Bytes accepted but not yet serialized at `now`.
    pub fn backlog_bytes(&self, now: Instant) -> u64 {
        match (self.busy_until, self.spec.rate_bps) {
            (Some(busy), Some(rate)) if busy > now => ((busy - now).as_nanos() * rate as u128 / 8_000_000_000) as u64,
            _ => 0,
        }
    }

    /// Packets accepted and not yet released.
    pub fn len(&self) -> usize {
        self.fifo.len() + self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Offers a packet of `len` bytes that arrived at `now` (an arrival earlier than the
    /// previous one counts as simultaneous with it). Returns its release time, or the packet
    /// back with the reason it was dropped.
    pub fn push(&mut self, now: Instant, len: usize, pkt: P) -> Result<Instant, (Dropped, P)> {
        let now = match self.last_arrival {
            Some(last) if last > now => last,
            _ => now,
        };
        self.last_arrival = Some(now);
        self.stats.packets_in += 1;
        self.stats.bytes_in += len as u64;

        let departure = match self.spec.rate_bps {
            Some(rate) => {
                let backlog = self.backlog_bytes(now);
                if backlog > 0 && backlog + len as u64 > self.queue_limit {
                    self.stats.queue_drops += 1;
                    return Err((Dropped::QueueFull, pkt));
                }
                let start = self.busy_until.map_or(now, |b| b.max(now));
                let tx_ns = (len as u128 * 8_000_000_000).div_ceil(rate.max(1) as u128);
                let done = start + Duration::from_nanos(tx_ns as u64);
                self.busy_until = Some(done);
                done
            }
            None => now,
        };

        if self.loss.lose(&mut self.rng) {
            self.stats.lost += 1;
            return Err((Dropped::Lost, pkt));
        }

        let mut release = departure + self.spec.delay;
        if !self.spec.jitter.is_zero() {
            let j = self.spec.jitter.as_nanos() as f64;
            let offset = (self.rng.f64() * 2.0 - 1.0) * j;
            let delay = (self.spec.delay.as_nanos() as f64 + offset).max(0.0);
            release = departure + Duration::from_nanos(delay as u64);
        }
        self.seq += 1;
        let timed = Timed {
            at: release,
            seq: self.seq,
            len,
            pkt,
        };
        if self.spec.reorder {
            self.heap.push(timed);
        } else {
            let at = match self.last_release {
                Some(last) if last > release => last,
                _ => release,
            };
            self.last_release = Some(at);
            self.fifo.push_back(Timed { at, ..timed });
            return Ok(at);
        }
        Ok(release)
    }

    /// The earliest release time among the packets held.
    pub fn next_release(&self) -> Option<Instant> {
        match (self.fifo.front(), self.heap.peek()) {
            (Some(a), Some(b)) => Some(a.at.min(b.at)),
            (a, b) => a.or(b).map(|t| t.at),
        }
    }

    /// The next packet whose release time is at or before `now`, with that release time.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, P)> {
        let from_fifo = match (self.fifo.front(), self.heap.peek()) {
            (Some(a), Some(b)) => a.at <= b.at,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return None,
        };
        let due = if from_fifo {
            self.fifo.front().is_some_and(|t| t.at <= now)
        } else {
            self.heap.peek().is_some_and(|t| t.at <= now)
        };
        if !due {
            return None;
        }
        let t = if from_fifo {
            self.fifo.pop_front()
        } else {
            self.heap.pop()
        }?;
        self.stats.released += 1;
        self.stats.bytes_released += t.len as u64;
        Some((t.at, t.pkt))
    }
}

impl std::fmt::Display for PipeSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        write!(f, "delay {} ms", ms(self.delay))?;
        if !self.jitter.is_zero() {
            let order = if self.reorder { "may reorder" } else { "in order" };
            write!(f, " ± {} ms ({order})", ms(self.jitter))?;
        }
        write!(f, ", {}", self.loss)?;
        match self.rate_bps {
            Some(r) => write!(
                f,
                ", rate {} Mbit/s, queue {} kB",
                r as f64 / 1e6,
                self.queue_limit() as f64 / 1000.0
            ),
            None => write!(f, ", unlimited rate"),
        }
    }
}
