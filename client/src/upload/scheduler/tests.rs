//! The scheduler on a virtual clock: a small simulator plays the edges (how long each attempt
//! takes and how it ends) and the tests read what the scheduler decided.

use super::*;

const SECOND: Duration = Duration::from_secs(1);

fn config(concurrency: usize) -> SchedulerConfig {
    SchedulerConfig {
        concurrency,
        part_timeout: 60 * SECOND,
        progress_window: 60 * SECOND,
        retry: RetryPolicy::default(),
        seed: 7,
    }
}

/// `config` with a retry budget of `budget`.
fn with_budget(concurrency: usize, budget: Duration) -> SchedulerConfig {
    SchedulerConfig {
        retry: RetryPolicy::with_budget(budget),
        ..config(concurrency)
    }
}

/// What the simulated fleet did.
#[derive(Debug, Default)]
struct Run {
    /// Every assignment, with the virtual time it was made at.
    sent: Vec<(Duration, Assignment)>,
    /// Every action, with the part and edge it answered.
    actions: Vec<(u32, usize, Outcome, Action)>,
    /// How the upload ended (`Done` or `GiveUp`) and when.
    end: Option<(Action, Duration)>,
}

impl Run {
    fn parts_per_edge(&self, edges: usize) -> Vec<usize> {
        let mut n = vec![0; edges];
        for (_, a) in &self.sent {
            n[a.edge] += 1;
        }
        n
    }

    fn reports(&self) -> Vec<usize> {
        self.actions
            .iter()
            .filter_map(|(_, _, _, a)| match a {
                Action::Retry { report } | Action::Backoff { report, .. } => *report,
                _ => None,
            })
            .collect()
    }

    /// The waits the budget gave.
    fn backoffs(&self) -> Vec<Duration> {
        self.actions
            .iter()
            .filter_map(|(_, _, _, a)| match a {
                Action::Backoff { delay, .. } => Some(*delay),
                _ => None,
            })
            .collect()
    }
}

/// Runs the scheduler against `edge`, which says how long an attempt takes and how it ends.
fn simulate(
    weights: &[f64],
    parts: u32,
    config: SchedulerConfig,
    mut edge: impl FnMut(&Assignment) -> (Duration, Outcome),
) -> Run {
    let t0 = Instant::now();
    let mut s = PartScheduler::new(weights, 1..=parts, config);
    let mut run = Run::default();
    let mut pending: Vec<(Instant, Assignment, Outcome)> = Vec::new();
    let mut now = t0;
    for _ in 0..100_000 {
        while let Some(a) = s.next(now) {
            let (took, outcome) = edge(&a);
            run.sent.push((now - t0, a));
            pending.push((now + took, a, outcome));
        }
        if s.is_done() {
            run.end = Some((Action::Done, now - t0));
            return run;
        }
        let answer = pending.iter().map(|p| p.0).min();
        now = match (answer, s.poll_timeout()) {
            (Some(a), Some(w)) => a.min(w),
            (Some(t), None) | (None, Some(t)) => t,
            (None, None) => panic!("stuck: nothing in flight and nothing to wait for"),
        };
        for (a, action) in s.handle_timeout(now) {
            pending.retain(|p| p.1 != a);
            run.actions.push((a.part, a.edge, Outcome::TimedOut, action));
            if action == Action::GiveUp {
                run.end = Some((action, now - t0));
                return run;
            }
        }
        while let Some(k) = pending.iter().position(|p| p.0 <= now) {
            let (_, a, outcome) = pending.remove(k);
            let action = s.on_result(a.part, a.edge, outcome, now);
            run.actions.push((a.part, a.edge, outcome, action));
            if matches!(action, Action::GiveUp | Action::Done) {
                run.end = Some((action, now - t0));
                return run;
            }
        }
    }
    panic!("the simulation did not end");
}

#[test]
fn slots_follow_the_edge_weights() {
    let table: [(&[f64], usize, &[usize]); 4] = [
        // (weights, concurrency, parts per edge in the first round)
        (&[0.5, 0.25, 0.25], 4, &[2, 1, 1]),
        // 4.5 slots each: rounding breaks the tie.
        (&[0.45, 0.45, 0.10], 10, &[4, 5, 1]),
        (&[1.0], 3, &[3]),
        // No usable weight: equal shares.
        (&[0.0, 0.0], 4, &[2, 2]),
    ];
    for (weights, concurrency, want) in table {
        let mut s = PartScheduler::new(weights, 1..=100, config(concurrency));
        let now = Instant::now();
        let mut per_edge = vec![0; weights.len()];
        while let Some(a) = s.next(now) {
            per_edge[a.edge] += 1;
        }
        assert_eq!(per_edge, want, "{weights:?} over {concurrency}");
        assert_eq!(s.in_flight(), concurrency);
    }
}

#[test]
fn parts_go_out_in_order_and_the_upload_is_done_when_the_last_is_stored() {
    let run = simulate(&[0.5, 0.5], 6, config(2), |_| (SECOND, Outcome::Sent));
    let order: Vec<u32> = run.sent.iter().map(|(_, a)| a.part).collect();
    assert_eq!(order, [1, 2, 3, 4, 5, 6]);
    assert_eq!(run.end, Some((Action::Done, 3 * SECOND)));
    let dones = run.actions.iter().filter(|x| x.3 == Action::Done).count();
    assert_eq!(dones, 1, "only the last part says done");
}

#[test]
fn an_upload_with_nothing_to_send_is_done_at_once() {
    let mut s = PartScheduler::new(&[1.0], [], config(4));
    assert!(s.is_done());
    assert_eq!(s.next(Instant::now()), None);
    assert_eq!(s.poll_timeout(), None);
    // With no edges at all (the driver refuses that when parts remain).
    assert!(PartScheduler::new(&[], [], config(4)).is_done());
}

#[test]
fn faster_edges_take_more_parts() {
    // Equal weights; edge 0 stores a part in 1 s, edge 1 in 4 s.
    let run = simulate(&[0.5, 0.5], 50, config(4), |a| {
        (if a.edge == 0 { SECOND } else { 4 * SECOND }, Outcome::Sent)
    });
    let [fast, slow] = run.parts_per_edge(2)[..] else {
        unreachable!()
    };
    assert_eq!(fast + slow, 50);
    assert_eq!((fast, slow), (40, 10), "four times as fast, four times the parts");
    assert_eq!(run.end.unwrap().0, Action::Done);
}

#[test]
fn a_failed_edge_gets_no_more_parts_until_none_is_left() {
    // Edge 1 fails everything; the others are healthy.
    let run = simulate(&[1.0, 1.0, 1.0], 30, config(3), |a| {
        let outcome = if a.edge == 1 {
            Outcome::EdgeFailed
        } else {
            Outcome::Sent
        };
        (SECOND, outcome)
    });
    assert_eq!(run.end.unwrap().0, Action::Done);
    let to_edge_1: Vec<&Assignment> = run.sent.iter().map(|(_, a)| a).filter(|a| a.edge == 1).collect();
    assert_eq!(to_edge_1.len(), 1, "only the first attempt: {to_edge_1:?}");
    assert_eq!(run.reports(), [1]);

    // When every edge has failed, the slot's own edge is tried again (after a backoff).
    let failed = [true, true, true];
    let table = [(0, 0), (1, 1), (2, 2), (4, 1)];
    for (index, want) in table {
        assert_eq!(pick_edge(3, index, &failed), want, "all failed, index {index}");
    }
}

#[test]
fn failed_edges_are_skipped_until_none_is_left() {
    // The former `pick_edge` test, on edge numbers: a, b, c are 0, 1, 2.
    let ids = ["a", "b", "c"];
    let mut failed = [false; 3];
    assert_eq!(ids[pick_edge(3, 1, &failed)], "b");
    failed[1] = true;
    assert_eq!(ids[pick_edge(3, 1, &failed)], "c");
    assert_eq!(ids[pick_edge(3, 4, &failed)], "c");
    failed = [true; 3];
    assert_eq!(
        ids[pick_edge(3, 2, &failed)],
        "c",
        "all failed: keep trying the assigned one"
    );
}

#[test]
fn a_failed_part_moves_to_the_next_healthy_edge_at_once() {
    let now = Instant::now();
    let mut s = PartScheduler::new(&[0.5, 0.5], [1], config(1));
    let first = s.next(now).unwrap();
    assert_eq!((first.part, first.edge, first.attempt), (1, 0, 0));
    assert_eq!(
        s.on_result(1, 0, Outcome::EdgeFailed, now),
        Action::Retry { report: Some(0) }
    );
    let again = s.next(now).expect("no pause before another edge");
    assert_eq!((again.part, again.edge, again.attempt), (1, 1, 1));
    assert!(s.edge_failed(0) && !s.edge_failed(1));
}

#[test]
fn a_part_past_its_deadline_is_sent_through_another_edge() {
    let t0 = Instant::now();
    let mut s = PartScheduler::new(&[0.5, 0.5], [1, 2], config(2));
    let a = s.next(t0).unwrap();
    let b = s.next(t0 + SECOND).unwrap();
    assert_eq!((a.edge, b.edge), (0, 1));
    assert_eq!(a.deadline, t0 + 60 * SECOND);
    assert_eq!(s.poll_timeout(), Some(a.deadline));
    // Part 2 is answered in time; part 1 never is.
    assert_eq!(s.on_result(2, 1, Outcome::Sent, t0 + 2 * SECOND), Action::Continue);
    assert!(s.handle_timeout(a.deadline - Duration::from_millis(1)).is_empty());
    let expired = s.handle_timeout(a.deadline);
    assert_eq!(expired, [(a, Action::Retry { report: Some(0) })]);
    let again = s.next(a.deadline).unwrap();
    assert_eq!((again.part, again.edge, again.attempt), (1, 1, 1));
    assert_eq!(again.deadline, a.deadline + 60 * SECOND);
    // The first edge's answer, too late, changes nothing.
    assert_eq!(s.on_result(1, 0, Outcome::Sent, a.deadline), Action::Continue);
    assert!(!s.is_done());
    assert_eq!(s.on_result(1, 1, Outcome::Sent, a.deadline + SECOND), Action::Done);
}

#[test]
fn a_part_whose_bytes_keep_moving_outlives_its_deadline_and_times_out_a_window_after_they_stop() {
    let t0 = Instant::now();
    let mut cfg = config(1);
    cfg.progress_window = 20 * SECOND;
    let mut s = PartScheduler::new(&[0.5, 0.5], [1], cfg);
    let a = s.next(t0).unwrap();
    assert_eq!((a.edge, a.deadline), (0, t0 + 60 * SECOND));
    // Progress before the deadline's last window changes nothing; later progress extends it.
    s.on_progress(1, t0 + 10 * SECOND);
    assert_eq!(s.poll_timeout(), Some(t0 + 60 * SECOND));
    s.on_progress(1, t0 + 55 * SECOND);
    assert_eq!(s.poll_timeout(), Some(t0 + 75 * SECOND));
    assert!(s.handle_timeout(t0 + 60 * SECOND).is_empty(), "slow, not stalled");
    s.on_progress(1, t0 + 70 * SECOND);
    // An old progress mark never pulls the deadline back; another part's is not this one's.
    s.on_progress(1, t0 + 61 * SECOND);
    s.on_progress(2, t0 + 200 * SECOND);
    assert_eq!(s.poll_timeout(), Some(t0 + 90 * SECOND));
    assert!(s.handle_timeout(t0 + 89 * SECOND).is_empty());
    // The bytes stopped at 70 s: a window later the part is timed out and blamed as before.
    let expired = s.handle_timeout(t0 + 90 * SECOND);
    assert_eq!(
        expired,
        [(
            Assignment {
                deadline: t0 + 90 * SECOND,
                ..a
            },
            Action::Retry { report: Some(0) }
        )]
    );
    let again = s.next(t0 + 90 * SECOND).unwrap();
    assert_eq!((again.part, again.edge, again.deadline), (1, 1, t0 + 150 * SECOND));
}

#[test]
fn a_refused_part_fails_the_upload_without_blaming_the_edge() {
    let table = [(Outcome::Refused, "a 4xx"), (Outcome::Failed, "a local error")];
    for (outcome, what) in table {
        let run = simulate(&[0.5, 0.5], 4, config(2), |a| {
            (SECOND, if a.part == 2 { outcome } else { Outcome::Sent })
        });
        assert_eq!(run.end, Some((Action::GiveUp, SECOND)), "{what}");
        assert!(run.reports().is_empty(), "{what}: no edge is reported");
        assert_eq!(
            run.sent.iter().filter(|(_, a)| a.part == 2).count(),
            1,
            "{what}: not retried"
        );
    }
    let mut s = PartScheduler::new(&[1.0], [1, 2], config(2));
    let now = Instant::now();
    s.next(now).unwrap();
    s.next(now).unwrap();
    assert_eq!(s.on_result(1, 0, Outcome::Refused, now), Action::GiveUp);
    assert!(!s.edge_failed(0));
    assert_eq!(
        (s.next(now), s.poll_timeout()),
        (None, None),
        "nothing more after giving up"
    );
    assert_eq!(s.on_result(2, 0, Outcome::Sent, now), Action::Continue);
}

#[test]
fn when_every_edge_fails_the_part_waits_within_the_budget_then_gives_up() {
    // Two edges, both failing every attempt (in 1 s, or never answering within 10 s).
    for outcome in [Outcome::EdgeFailed, Outcome::TimedOut] {
        let mut cfg = with_budget(1, 30 * SECOND);
        cfg.part_timeout = 10 * SECOND;
        let run = simulate(&[0.5, 0.5], 1, cfg, |_| match outcome {
            Outcome::TimedOut => (1000 * SECOND, Outcome::Sent),
            other => (SECOND, other),
        });
        let (end, at) = run.end.unwrap();
        assert_eq!(end, Action::GiveUp, "{outcome:?}");
        // The first failure moves the part to the other edge at once; from the second (every
        // edge failing) on, each retry waits, and 30 s of that spend the budget.
        let attempt_takes = if outcome == Outcome::TimedOut {
            10 * SECOND
        } else {
            SECOND
        };
        assert_eq!(run.sent[1].0, attempt_takes, "{outcome:?}: the other edge at once");
        assert_eq!(run.sent[1].1.edge, 1);
        let first_wait = 2 * attempt_takes;
        assert!(at >= first_wait + 30 * SECOND, "{outcome:?}: gave up at {at:?}");
        assert!(
            at <= first_wait + 30 * SECOND + 10 * SECOND,
            "{outcome:?}: gave up at {at:?}"
        );
        assert!(run.sent.len() > 3, "{outcome:?}: {} attempts", run.sent.len());
        assert_eq!(
            run.backoffs().len(),
            run.sent.len() - 2,
            "{outcome:?}: every retry after the first waited"
        );
        assert_eq!(run.reports(), [0, 1], "{outcome:?}: each edge reported once");
    }
}

#[test]
fn with_a_single_edge_a_failed_part_is_tried_again_after_a_growing_backoff() {
    // One edge: no other to move to, so every retry is on it again after a wait from the
    // budget, whose ceiling doubles from 500 ms up to 15 s.
    let t0 = Instant::now();
    let mut s = PartScheduler::new(&[1.0], [1], config(1));
    let mut now = t0;
    let ceilings = [500, 1000, 2000, 4000, 8000, 15000, 15000].map(Duration::from_millis);
    for (k, ceiling) in ceilings.into_iter().enumerate() {
        let a = s.next(now).unwrap();
        assert_eq!((a.edge, a.attempt), (0, k as u32));
        let report = (k == 0).then_some(0);
        let Action::Backoff { report: got, delay } = s.on_result(1, 0, Outcome::EdgeFailed, now) else {
            panic!("attempt {}: no backoff", k + 1)
        };
        assert_eq!(got, report, "reported once");
        assert!(delay <= ceiling, "attempt {}: {delay:?}", k + 1);
        if !delay.is_zero() {
            assert_eq!(s.next(now), None, "attempt {}: no retry before the backoff", k + 1);
        }
        assert_eq!(s.poll_timeout(), Some(now + delay));
        now += delay;
    }
}

#[test]
fn a_slot_keeps_its_new_edge_after_a_failover() {
    // One slot on edge 0; edge 0 fails part 1, so parts 1.. all go through edge 1.
    let run = simulate(&[0.5, 0.5], 4, config(1), |a| {
        (
            SECOND,
            if a.edge == 0 {
                Outcome::EdgeFailed
            } else {
                Outcome::Sent
            },
        )
    });
    let edges: Vec<(u32, usize)> = run.sent.iter().map(|(_, a)| (a.part, a.edge)).collect();
    assert_eq!(edges, [(1, 0), (1, 1), (2, 1), (3, 1), (4, 1)]);
}

#[test]
fn the_origin_direct_pseudo_edge_is_an_edge_like_any_other() {
    // Two edges at 45 % and the origin at 10 %: one slot in ten goes to the origin, and its
    // failure is reported and its parts move on like any edge's.
    let run = simulate(&[0.45, 0.45, 0.10], 40, config(10), |a| {
        (
            SECOND,
            if a.edge == 2 {
                Outcome::EdgeFailed
            } else {
                Outcome::Sent
            },
        )
    });
    assert_eq!(run.end.unwrap().0, Action::Done);
    assert_eq!(run.parts_per_edge(3)[2], 1);
    assert_eq!(run.reports(), [2]);
}

#[test]
fn an_edge_failing_twice_at_once_is_reported_once() {
    let now = Instant::now();
    let mut s = PartScheduler::new(&[0.5, 0.5], [1, 2, 3], config(4));
    let sent: Vec<Assignment> = std::iter::from_fn(|| s.next(now)).collect();
    let on_0: Vec<u32> = sent.iter().filter(|a| a.edge == 0).map(|a| a.part).collect();
    assert_eq!(on_0, [1, 3]);
    assert_eq!(
        s.on_result(1, 0, Outcome::EdgeFailed, now),
        Action::Retry { report: Some(0) }
    );
    assert_eq!(
        s.on_result(3, 0, Outcome::EdgeFailed, now),
        Action::Retry { report: None }
    );
}

#[test]
fn a_store_failure_does_not_blame_the_edge() {
    let now = Instant::now();
    let mut s = PartScheduler::new(&[0.5, 0.5], [1], config(1));
    let first = s.next(now).unwrap();
    assert_eq!(first.edge, 0);
    let Action::Backoff { report: None, delay } = s.on_result(1, 0, Outcome::StoreFailed, now) else {
        panic!("expected a wait without a report")
    };
    assert!(delay <= Duration::from_millis(500), "{delay:?}");
    assert!(!s.edge_failed(0), "the edge stays healthy");
    // After the wait the part goes to the slot's next edge, and edge 0 still takes parts.
    let now = now + delay;
    let again = s.next(now).unwrap();
    assert_eq!((again.part, again.edge, again.attempt), (1, 1, 1));
    let Action::Backoff { report: None, delay } = s.on_result(1, 1, Outcome::StoreFailed, now) else {
        panic!("expected a wait without a report")
    };
    let third = s.next(now + delay).unwrap();
    assert_eq!(third.edge, 0);
    assert!(!s.edge_failed(0) && !s.edge_failed(1));
}

#[test]
fn a_store_outage_shorter_than_the_budget_is_waited_out() {
    // The store fails every part for the first 100 s (the budget is 120 s), then recovers.
    let mut first: Option<Instant> = None;
    let run = simulate(&[0.5, 0.5], 8, config(4), |a| {
        let started = a.deadline - *first.get_or_insert(a.deadline);
        (
            SECOND,
            if started < 100 * SECOND {
                Outcome::StoreFailed
            } else {
                Outcome::Sent
            },
        )
    });
    let (end, at) = run.end.unwrap();
    assert_eq!(end, Action::Done);
    assert!(at >= 100 * SECOND && at < 120 * SECOND, "done at {at:?}");
    assert!(run.reports().is_empty(), "no edge is blamed for the store");
    // The waits grow: four slots over 100 s make far fewer than one attempt a second each.
    let failed = run.actions.iter().filter(|x| x.2 == Outcome::StoreFailed).count();
    assert!((12..100).contains(&failed), "{failed} failed attempts");
    assert!(run.backoffs().iter().all(|d| *d <= 15 * SECOND));
}

#[test]
fn a_store_outage_longer_than_the_budget_fails_the_upload() {
    let run = simulate(&[0.5, 0.5], 4, with_budget(2, 30 * SECOND), |_| {
        (SECOND, Outcome::StoreFailed)
    });
    let (end, at) = run.end.unwrap();
    assert_eq!(end, Action::GiveUp);
    // The clock starts at the first failure (1 s); a wait never runs past the budget, so the
    // end comes within one attempt of it.
    assert!(at >= 31 * SECOND && at <= 32 * SECOND, "gave up at {at:?}");
    assert!(run.reports().is_empty());
}

#[test]
fn the_budget_resets_after_a_stored_part() {
    // One slot; every part fails three times before it is stored, each attempt taking 2 s, so
    // failure never goes on for 10 s in a row although the upload fails for far longer in all.
    let mut tries = std::collections::HashMap::new();
    let run = simulate(&[1.0], 20, with_budget(1, 10 * SECOND), |a| {
        let n = tries.entry(a.part).or_insert(0);
        *n += 1;
        (2 * SECOND, if *n <= 3 { Outcome::StoreFailed } else { Outcome::Sent })
    });
    let (end, at) = run.end.unwrap();
    assert_eq!(end, Action::Done);
    assert!(at > 100 * SECOND, "{at:?} of failures, a success every few seconds");
    assert_eq!(run.backoffs().len(), 60);
}

#[test]
fn an_edge_failure_moves_the_part_on_even_with_a_zero_budget() {
    // A zero budget waits out nothing, but a healthy edge is no wait.
    let run = simulate(&[0.5, 0.5], 4, with_budget(2, Duration::ZERO), |a| {
        (
            SECOND,
            if a.edge == 0 {
                Outcome::EdgeFailed
            } else {
                Outcome::Sent
            },
        )
    });
    assert_eq!(run.end.unwrap().0, Action::Done);
    assert_eq!(run.reports(), [0]);
    let store = simulate(&[0.5, 0.5], 4, with_budget(2, Duration::ZERO), |_| {
        (SECOND, Outcome::StoreFailed)
    });
    assert_eq!(store.end, Some((Action::GiveUp, SECOND)));
}

#[test]
fn a_held_scheduler_starts_no_queued_part_until_released() {
    let now = Instant::now();
    let mut s = PartScheduler::new(&[1.0], 1..=4, config(2));
    let first = s.next(now).unwrap();
    s.hold();
    assert!(s.next(now).is_none(), "held: nothing new starts");
    // A part already in flight still completes.
    assert_eq!(
        s.on_result(first.part, first.edge, Outcome::Sent, now),
        Action::Continue
    );
    assert!(s.next(now).is_none());
    s.release();
    assert_eq!(s.next(now).map(|a| a.part), Some(2));
    assert_eq!(s.next(now).map(|a| a.part), Some(3));
}

#[test]
fn withdrawn_parts_are_not_waited_for_and_requeued_ones_go_out_last() {
    let now = Instant::now();
    let mut s = PartScheduler::new(&[1.0], 1..=5, config(1));
    let first = s.next(now).unwrap();
    assert_eq!(s.queued(), vec![2, 3, 4, 5]);
    // Part 1 is in flight: only queued parts are taken.
    assert_eq!(s.withdraw(&[1, 3, 4]), vec![3, 4]);
    assert_eq!(s.queued(), vec![2, 5]);
    s.requeue(&[4]);
    let mut sent = vec![first.part];
    s.on_result(first.part, first.edge, Outcome::Sent, now);
    while let Some(a) = s.next(now) {
        sent.push(a.part);
        s.on_result(a.part, a.edge, Outcome::Sent, now);
    }
    assert_eq!(sent, vec![1, 2, 5, 4]);
    assert!(s.is_done(), "part 3 was copied: not waited for");
}

#[test]
fn a_start_budget_lets_that_many_queued_parts_start_until_lifted() {
    let now = Instant::now();
    let mut s = PartScheduler::new(&[1.0], 1..=6, config(4));
    s.limit_starts(Some(2));
    let (a, b) = (s.next(now).unwrap(), s.next(now).unwrap());
    assert!(s.next(now).is_none(), "two started: the budget");
    s.on_result(a.part, a.edge, Outcome::Sent, now);
    assert!(s.next(now).is_none(), "a slot is free, the budget is spent");
    // A retry of a started part is no new start.
    s.on_result(b.part, b.edge, Outcome::StoreFailed, now);
    let retry = s.next(now + Duration::from_secs(60)).unwrap();
    assert_eq!(retry.part, b.part);
    s.limit_starts(None);
    assert_eq!(s.next(now).map(|x| x.part), Some(3));
    assert_eq!(s.next(now).map(|x| x.part), Some(4));
    assert_eq!(s.next(now).map(|x| x.part), Some(5));
    assert!(s.next(now).is_none(), "four slots");
}

#[test]
fn a_parked_part_waits_first_in_the_queue_with_no_deadline_and_no_blame() {
    let now = Instant::now();
    let mut s = PartScheduler::new(&[1.0, 1.0], 1..=3, config(2));
    let a = s.next(now).unwrap();
    let b = s.next(now).unwrap();
    s.park(a.part, a.edge);
    assert_eq!(
        s.poll_timeout(),
        Some(b.deadline),
        "only the part still in flight has a deadline"
    );
    assert!(!s.edge_failed(a.edge));
    assert_eq!(s.queued(), vec![a.part, 3]);
    assert_eq!(s.next(now).map(|x| x.part), Some(a.part), "sent again first");
}
