//! The part scheduler, sans-IO (in the manner of quinn-proto): which part goes through which
//! edge, and when. It holds the queue of parts, the edges' slots and health, each part's
//! deadline and the retry budget; it never touches the network, a file or a clock. The driver
//! passes the time in, sends what `next` assigns, reports each answer to `on_result`, wakes
//! at `poll_timeout` and calls `handle_timeout`, and does what the returned `Action` says.
//!
//! The policy: `concurrency` slots, spread over the edges by smooth weighted round-robin in
//! proportion to their weights, all pulling parts from one queue, so a faster path finishes
//! its parts sooner and takes more. Failures are blamed on whoever failed:
//! - An edge's own failure (network trouble, its own 5xx, a 429 or 408, an unreadable answer, or no answer
//!   before the deadline) marks the edge failed: it gets no more parts while a healthy one is
//!   left, its first failure is to be reported to the coordinator, and the part moves at once
//!   to the slot's next healthy edge. When no healthy edge is left (every edge failing at
//!   once), the part waits a backoff from the retry budget instead.
//! - A store failure behind a healthy edge blames nobody: the part waits a backoff from the
//!   retry budget and goes to the slot's next healthy edge (the same one if it is the only one).
//! - The retry budget is continuous failure (`RetryBudget`): any stored part makes it whole
//!   again; once it is spent, the next failure that needs a wait fails the upload.
//! - A refusal (4xx but 408/429) or a local error fails the upload at once, and blames no edge.
//!
//! The origin-direct pseudo-edge is an edge like any other.

use super::retry::{RetryBudget, RetryPolicy};
use jetty_shared::edges::assign_weighted;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The scheduler's settings.
#[derive(Debug, Clone, Copy)]
pub struct SchedulerConfig {
    /// Parts in flight at once, across all edges.
    pub concurrency: usize,
    /// How long one attempt may take (`part_deadline`) — unless its bytes keep moving: a part
    /// whose body made progress gets at least `progress_window` more from then (`on_progress`),
    /// so a slow link (many parts sharing a thin uplink) is never taken for a stalled edge.
    pub part_timeout: Duration,
    /// How long a part may go without its bytes moving once its `part_timeout` has passed.
    pub progress_window: Duration,
    /// How long failures are waited out, and the waits.
    pub retry: RetryPolicy,
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
    /// Network trouble, the edge's own 5xx, a 429 or 408, or an unreadable answer: the edge is
    /// to blame.
    EdgeFailed,
    /// No answer before the deadline (`handle_timeout` reports this itself): the edge is to
    /// blame.
    TimedOut,
    /// The edge is healthy but the store behind it failed (`store_unavailable`,
    /// `storage_error`): wait, then send the part again.
    StoreFailed,
    /// The server refused the part (4xx but 408/429): sending it again will not help, and the edge did
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
    /// The part goes again at once through another edge (ask `next`); `report` names an edge
    /// that has just failed for the first time, to tell the coordinator about.
    Retry { report: Option<usize> },
    /// An outage is being waited out: the part goes again after `delay` (ask `next` at
    /// `poll_timeout`); `report` as for `Retry`.
    Backoff { report: Option<usize>, delay: Duration },
    /// The upload fails with this attempt's error (refused, a local error, or the retry
    /// budget spent).
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
    budget: RetryBudget,
    slots: Vec<Slot>,
    queue: VecDeque<u32>,
    /// Parts not stored yet (withdrawn ones excepted).
    remaining: usize,
    given_up: bool,
    /// No queued part starts while set (waiting retries of parts already sent still go).
    held: bool,
    /// How many more queued parts may start, when set.
    start_budget: Option<usize>,
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
            budget: RetryBudget::new(config.retry, config.seed),
            slots,
            remaining: queue.len(),
            queue,
            given_up: false,
            held: false,
            start_budget: None,
        }
    }

    /// The next part to send at `now`, if a slot is free for one.
    pub fn next(&mut self, now: Instant) -> Option<Assignment> {
        if self.given_up {
            return None;
        }
        let (i, part, attempt) = self.slots.iter().enumerate().find_map(|(i, slot)| match slot.task {
            Task::Waiting { part, attempt, until } if until <= now => Some((i, part, attempt)),
            Task::Idle if self.may_start() => Some((i, 0, 0)),
            _ => None,
        })?;
        let part = match self.slots[i].task {
            Task::Idle => {
                if let Some(budget) = &mut self.start_budget {
                    *budget -= 1;
                }
                self.queue.pop_front()?
            }
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
        let attempt = assignment.attempt + 1;
        match outcome {
            Outcome::Sent => {
                self.budget.on_success();
                self.slots[i].task = Task::Idle;
                self.remaining -= 1;
                if self.remaining == 0 {
                    Action::Done
                } else {
                    Action::Continue
                }
            }
            Outcome::EdgeFailed | Outcome::TimedOut => {
                let report = (!std::mem::replace(&mut self.failed[edge], true)).then_some(edge);
                self.slots[i].edge_index += 1;
                let next = pick_edge(self.edge_count, self.slots[i].edge_index, &self.failed);
                if !self.failed[next] {
                    // Another healthy edge takes the part at once.
                    self.slots[i].task = Task::Waiting {
                        part,
                        attempt,
                        until: now,
                    };
                    return Action::Retry { report };
                }
                // Every edge is failing: an outage to wait out.
                match self.backoff(i, part, attempt, now) {
                    Some(delay) => Action::Backoff { report, delay },
                    None => self.give_up(i),
                }
            }
            Outcome::StoreFailed => {
                self.slots[i].edge_index += 1;
                match self.backoff(i, part, attempt, now) {
                    Some(delay) => Action::Backoff { report: None, delay },
                    None => self.give_up(i),
                }
            }
            Outcome::Refused | Outcome::Failed => self.give_up(i),
        }
    }

    /// Slot `i` holds `part` until the wait the budget allows, if it allows one.
    fn backoff(&mut self, i: usize, part: u32, attempt: u32, now: Instant) -> Option<Duration> {
        let delay = self.budget.on_failure(now)?;
        self.slots[i].task = Task::Waiting {
            part,
            attempt,
            until: now + delay,
        };
        Some(delay)
    }

    fn give_up(&mut self, i: usize) -> Action {
        self.given_up = true;
        self.slots[i].task = Task::Idle;
        Action::GiveUp
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

    /// `part` (in flight) counts as moving until `at`: its deadline is at least `at` plus the
    /// progress window. Nothing for a part not in flight.
    pub fn on_progress(&mut self, part: u32, at: Instant) {
        let window = self.config.progress_window;
        for slot in &mut self.slots {
            if let Task::Sending(a) = &mut slot.task {
                if a.part == part {
                    a.deadline = a.deadline.max(at + window);
                }
            }
        }
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

    /// Starts no queued part until `release` (while the upload learns whether its content is
    /// stored already, or waits for another upload of it).
    pub fn hold(&mut self) {
        self.held = true;
    }

    pub fn release(&mut self) {
        self.held = false;
    }

    /// Starts at most `budget` more queued parts, from now on (`None`: no such limit). Retries
    /// of parts already started do not count.
    pub fn limit_starts(&mut self, budget: Option<usize>) {
        self.start_budget = budget;
    }

    /// Whether a queued part may start now.
    fn may_start(&self) -> bool {
        !self.queue.is_empty() && !self.held && self.start_budget.is_none_or(|b| b > 0)
    }

    /// Takes back `part`, in flight through `edge`, unsent and unblamed: it goes first in the
    /// queue (its answer is to be decided by something else, e.g. whether the upload was just
    /// closed as a duplicate). No deadline runs for it meanwhile.
    pub fn park(&mut self, part: u32, edge: usize) {
        let in_flight = |t: &Task| matches!(t, Task::Sending(a) if a.part == part && a.edge == edge);
        if let Some(slot) = self.slots.iter_mut().find(|s| in_flight(&s.task)) {
            slot.task = Task::Idle;
            self.queue.push_front(part);
        }
    }

    /// The parts queued and not yet started, in order.
    pub fn queued(&self) -> Vec<u32> {
        self.queue.iter().copied().collect()
    }

    /// Takes `parts` off the queue (the store copies them instead): those that were queued,
    /// which the scheduler no longer waits for. Parts in flight or stored stay as they are.
    pub fn withdraw(&mut self, parts: &[u32]) -> Vec<u32> {
        let before: Vec<u32> = self.queue.drain(..).collect();
        let (taken, kept): (Vec<u32>, Vec<u32>) = before.into_iter().partition(|n| parts.contains(n));
        self.queue = kept.into();
        self.remaining -= taken.len();
        taken
    }

    /// Puts withdrawn `parts` back at the end of the queue (the store did not copy them).
    pub fn requeue(&mut self, parts: &[u32]) {
        self.queue.extend(parts);
        self.remaining += parts.len();
    }

    /// Every part is stored.
    pub fn is_done(&self) -> bool {
        self.remaining == 0
    }

    /// Parts being sent now.
    pub fn in_flight(&self) -> usize {
        self.slots.iter().filter(|s| matches!(s.task, Task::Sending(_))).count()
    }

    /// How long failures have gone on at `now` without a part stored (`None` while all is
    /// well).
    pub fn failing_for(&self, now: Instant) -> Option<Duration> {
        self.budget.failing_for(now)
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

#[cfg(test)]
mod tests;
