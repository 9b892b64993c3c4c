//! The part scheduler, sans-IO (in the manner of quinn-proto): which part goes through which
//! edge, and when. It holds the queue of parts, the edges' slots and health, each part's
//! deadline and retry backoff; it never touches the network, a file or a clock. The driver
//! passes the time in, sends what `next` assigns, reports each answer to `on_result`, wakes
//! at `poll_timeout` and calls `handle_timeout`, and does what the returned `Action` says.
//!
//! The policy: `concurrency` slots, spread over the edges by smooth weighted round-robin in
//! proportion to their weights, all pulling parts from one queue, so a faster path finishes
//! its parts sooner and takes more. A part whose edge fails (network trouble, a 5xx, an
//! unreadable answer, or no answer before its deadline) is retried on the slot's next edge
//! that has not failed during this upload, at once; the failed edge gets no more parts while
//! a healthy one is left, and the first failure of each edge is to be reported to the
//! coordinator. When the next edge would be the same one, the retry waits a backoff. A part
//! out of attempts, a refusal (4xx) or a local error fails the upload; a refusal does not
//! blame the edge. The origin-direct pseudo-edge is an edge like any other.

use jetty_shared::edges::assign_weighted;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The scheduler's settings.
#[derive(Debug, Clone, Copy)]
pub struct SchedulerConfig {
    /// Parts in flight at once, across all edges.
    pub concurrency: usize,
    /// Attempts per part, including the first.
    pub attempts: u32,
    /// How long one attempt may take (`part_deadline`).
    pub part_timeout: Duration,
    /// Seeds the backoff jitter.
    pub seed: u64,
}

/// Send `part` through edge number `edge` (an index into the weights given to `new`), and
/// answer by `deadline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assignment {
    pub part: u32,
    pub edge: usize,
    /// 0 for the first attempt.
    pub attempt: u32,
    pub deadline: Instant,
}

/// How an attempt ended, as the driver saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The edge stored the part.
    Sent,
    /// Network trouble, a 5xx or an unreadable answer: the edge is to blame.
    EdgeFailed,
    /// No answer before the deadline (`handle_timeout` reports this itself).
    TimedOut,
    /// The server refused the part (4xx): sending it again will not help, and the edge did
    /// its job.
    Refused,
    /// A local failure (reading the file, a part outside the plan).
    Failed,
}

/// What the driver is to do after an answer or a timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing more than asking `next` for work (a part was stored, or the answer was stale).
    Continue,
    /// The part goes again (ask `next`, now or at `poll_timeout`); `report` names an edge that
    /// has just failed for the first time, to tell the coordinator about.
    Retry { report: Option<usize> },
    /// The upload fails with this attempt's error.
    GiveUp,
    /// Every part is stored: finalize.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Task {
    Idle,
    Sending(Assignment),
    /// A part to send again, not before `until`.
    Waiting {
        part: u32,
        attempt: u32,
        until: Instant,
    },
}

/// One of the `concurrency` slots: bound to an edge by position (`edge_index`, moved on by a
/// failure), holding at most one part.
#[derive(Debug, Clone)]
struct Slot {
    edge_index: usize,
    task: Task,
}

#[derive(Debug, Clone)]
pub struct PartScheduler {
    config: SchedulerConfig,
    edge_count: usize,
    failed: Vec<bool>,
    slots: Vec<Slot>,
    queue: VecDeque<u32>,
    /// Parts not stored yet.
    remaining: usize,
    given_up: bool,
    rng: u64,
}

impl PartScheduler {
    /// Schedules `parts` (in order) over edges with these `weights`.
    pub fn new(weights: &[f64], parts: impl IntoIterator<Item = u32>, config: SchedulerConfig) -> Self {
        let queue: VecDeque<u32> = parts.into_iter().collect();
        let slots = assign_weighted(weights, config.concurrency.max(1))
            .into_iter()
            .map(|edge_index| Slot {
                edge_index,
                task: Task::Idle,
            })
            .collect();
        PartScheduler {
            config,
            edge_count: weights.len(),
            failed: vec![false; weights.len()],
            slots,
            remaining: queue.len(),
            queue,
            given_up: false,
            rng: config.seed | 1,
        }
    }

    /// The next part to send at `now`, if a slot is free for one.
    pub fn next(&mut self, now: Instant) -> Option<Assignment> {
        if self.given_up {
            return None;
        }
        let (i, part, attempt) = self.slots.iter().enumerate().find_map(|(i, slot)| match slot.task {
            Task::Waiting { part, attempt, until } if until <= now => Some((i, part, attempt)),
            Task::Idle if !self.queue.is_empty() => Some((i, 0, 0)),
            _ => None,
        })?;
        let part = match self.slots[i].task {
            Task::Idle => self.queue.pop_front()?,
            _ => part,
        };
        let assignment = Assignment {
            part,
            edge: pick_edge(self.edge_count, self.slots[i].edge_index, &self.failed),
            attempt,
            deadline: now + self.config.part_timeout,
        };
        self.slots[i].task = Task::Sending(assignment);
        Some(assignment)
    }

    /// Takes the answer to an assignment. An answer to an assignment no longer in flight (its
    /// deadline already passed) changes nothing.
    pub fn on_result(&mut self, part: u32, edge: usize, outcome: Outcome, now: Instant) -> Action {
        let in_flight = |t: &Task| matches!(t, Task::Sending(a) if a.part == part && a.edge == edge);
        let Some(i) = self.slots.iter().position(|s| in_flight(&s.task)) else {
            return Action::Continue;
        };
        if self.given_up {
            return Action::Continue;
        }
        let Task::Sending(assignment) = self.slots[i].task else {
            unreachable!("matched above")
        };
        match outcome {
            Outcome::Sent => {
                self.slots[i].task = Task::Idle;
                self.remaining -= 1;
                if self.remaining == 0 {
                    Action::Done
                } else {
                    Action::Continue
                }
            }
            Outcome::EdgeFailed | Outcome::TimedOut if assignment.attempt + 1 < self.config.attempts => {
                let attempt = assignment.attempt + 1;
                let newly_failed = !std::mem::replace(&mut self.failed[edge], true);
                let slot = &mut self.slots[i];
                slot.edge_index += 1;
                // Another healthy edge is tried at once; the same one only after a pause.
                let until = if pick_edge(self.edge_count, slot.edge_index, &self.failed) == edge {
                    let jitter = next_random(&mut self.rng) % 200;
                    now + Duration::from_millis(200 * 2u64.pow(attempt.min(6)) + jitter)
                } else {
                    now
                };
                self.slots[i].task = Task::Waiting { part, attempt, until };
                Action::Retry {
                    report: newly_failed.then_some(edge),
                }
            }
            Outcome::EdgeFailed | Outcome::TimedOut | Outcome::Refused | Outcome::Failed => {
                self.given_up = true;
                self.slots[i].task = Task::Idle;
                Action::GiveUp
            }
        }
    }

    /// When the driver must wake next: the earliest deadline of a part in flight or end of a
    /// backoff. `None` when nothing waits on time.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.given_up {
            return None;
        }
        self.slots
            .iter()
            .filter_map(|s| match s.task {
                Task::Sending(a) => Some(a.deadline),
                Task::Waiting { until, .. } => Some(until),
                Task::Idle => None,
            })
            .min()
    }

    /// Every part in flight past its deadline at `now` counts as `Outcome::TimedOut`: the
    /// driver cancels each returned assignment and does what its action says.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<(Assignment, Action)> {
        let overdue: Vec<Assignment> = self
            .slots
            .iter()
            .filter_map(|s| match s.task {
                Task::Sending(a) if a.deadline <= now => Some(a),
                _ => None,
            })
            .collect();
        let mut out = Vec::new();
        for a in overdue {
            if self.given_up {
                break;
            }
            out.push((a, self.on_result(a.part, a.edge, Outcome::TimedOut, now)));
        }
        out
    }

    /// Every part is stored.
    pub fn is_done(&self) -> bool {
        self.remaining == 0
    }

    /// Parts being sent now.
    pub fn in_flight(&self) -> usize {
        self.slots.iter().filter(|s| matches!(s.task, Task::Sending(_))).count()
    }

    /// Whether edge number `edge` has failed during this upload.
    pub fn edge_failed(&self, edge: usize) -> bool {
        self.failed.get(edge).copied().unwrap_or(false)
    }
}

/// The edge at `index` (round the list), or the next one that has not failed during this
/// upload; when every edge failed, the one at `index` (retries may still get through).
fn pick_edge(count: usize, index: usize, failed: &[bool]) -> usize {
    (0..count)
        .map(|k| (index + k) % count)
        .find(|&e| !failed[e])
        .unwrap_or(index % count)
}

/// xorshift64: enough for backoff jitter, and reproducible from the seed.
fn next_random(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

#[cfg(test)]
mod tests;
