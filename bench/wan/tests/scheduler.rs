//! The pipe scheduler on a virtual clock: delay and jitter bounds, FIFO order, loss rates,
//! Gilbert–Elliott bursts, rate and drop-tail queue.

use jetty_wan::loss::LossModel;
use jetty_wan::pipe::{Dropped, Pipe, PipeSpec};
use std::time::{Duration, Instant};

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// Offers `n` packets of `len` bytes, one every `gap`, stepping the virtual clock and popping
/// what is due; returns (id, arrival, release) of each packet released, in release order.
fn drive(pipe: &mut Pipe<u64>, n: u64, len: usize, gap: Duration) -> Vec<(u64, Instant, Instant)> {
    let t0 = Instant::now();
    let mut arrivals = Vec::new();
    let mut out = Vec::new();
    let mut now = t0;
    for id in 0..n {
        now = t0 + gap * id as u32;
        while let Some((at, id)) = pipe.pop_due(now) {
            assert!(at <= now);
            out.push((id, arrivals[id as usize], at));
        }
        arrivals.push(now);
        let _ = pipe.push(now, len, id);
    }
    while let Some(next) = pipe.next_release() {
        now = now.max(next);
        while let Some((at, id)) = pipe.pop_due(now) {
            out.push((id, arrivals[id as usize], at));
        }
    }
    out
}

#[test]
fn a_transparent_pipe_releases_on_arrival() {
    let spec = PipeSpec::default();
    assert!(spec.is_transparent());
    let mut pipe = Pipe::new(spec, 1);
    let t = Instant::now();
    assert_eq!(pipe.push(t, 1500, 7), Ok(t));
    assert_eq!(pipe.pop_due(t), Some((t, 7)));
    assert!(pipe.is_empty());
}

#[test]
fn delay_is_exact_without_jitter() {
    let mut pipe = Pipe::new(
        PipeSpec {
            delay: ms(25),
            ..Default::default()
        },
        1,
    );
    let t = Instant::now();
    assert_eq!(pipe.push(t, 100, 1), Ok(t + ms(25)));
    assert_eq!(pipe.next_release(), Some(t + ms(25)));
    assert_eq!(pipe.pop_due(t + ms(24)), None);
    assert_eq!(pipe.pop_due(t + ms(25)), Some((t + ms(25), 1)));
}

#[test]
fn jitter_stays_in_bounds_and_keeps_fifo_order() {
    let spec = PipeSpec {
        delay: ms(10),
        jitter: ms(2),
        ..Default::default()
    };
    let mut pipe = Pipe::new(spec.clone(), 42);
    let out = drive(&mut pipe, 20_000, 1200, Duration::from_micros(100));
    assert_eq!(out.len(), 20_000);
    let mut hi = Duration::ZERO;
    for (i, (id, arrival, release)) in out.iter().enumerate() {
        assert_eq!(*id, i as u64, "released out of order");
        let d = *release - *arrival;
        assert!(d >= ms(8) && d <= ms(12), "delay {d:?} outside 10 ± 2 ms");
        hi = hi.max(d);
    }
    // A dense stream waits for the packet in front, so its delays crowd the upper bound; with
    // packets further apart than the jitter's span every delay is drawn freely.
    assert!(hi > Duration::from_micros(11_900), "max delay {hi:?}");
    let sparse = drive(&mut Pipe::new(spec, 43), 2_000, 1200, ms(5));
    let delays: Vec<_> = sparse.iter().map(|(_, a, r)| *r - *a).collect();
    let mean = delays.iter().map(|d| d.as_secs_f64()).sum::<f64>() / delays.len() as f64;
    assert!(delays.iter().any(|d| *d < Duration::from_micros(8_100)));
    assert!((mean - 0.010).abs() < 0.000_1, "mean delay {mean}");
    assert!(out.windows(2).all(|w| w[0].2 <= w[1].2));
}

#[test]
fn jitter_may_reorder_when_allowed() {
    let spec = PipeSpec {
        delay: ms(10),
        jitter: ms(2),
        reorder: true,
        ..Default::default()
    };
    let mut pipe = Pipe::new(spec, 42);
    let out = drive(&mut pipe, 20_000, 1200, Duration::from_micros(100));
    assert_eq!(out.len(), 20_000);
    let mut mean = 0.0;
    for (_, arrival, release) in &out {
        let d = *release - *arrival;
        assert!(d >= ms(8) && d <= ms(12));
        mean += d.as_secs_f64() / out.len() as f64;
    }
    assert!((mean - 0.010).abs() < 0.000_1, "mean delay {mean}");
    assert!(
        out.windows(2).all(|w| w[0].2 <= w[1].2),
        "released in release-time order"
    );
    assert!(out.windows(2).any(|w| w[0].0 > w[1].0), "no packet was reordered");
}

#[test]
fn random_loss_rate_matches_within_tolerance() {
    for p in [0.001, 0.01, 0.1] {
        let spec = PipeSpec {
            loss: LossModel::Random(p),
            ..Default::default()
        };
        let mut pipe = Pipe::new(spec, 7);
        let n = 400_000u64;
        let t = Instant::now();
        let lost = (0..n)
            .filter(|&i| pipe.push(t, 100, i) == Err((Dropped::Lost, i)))
            .count();
        let rate = lost as f64 / n as f64;
        let sigma = (p * (1.0 - p) / n as f64).sqrt();
        assert!((rate - p).abs() < 5.0 * sigma, "p {p}: measured {rate}");
        assert_eq!(pipe.stats.lost, lost as u64);
    }
}

/// Loss rate and mean length of runs of consecutive losses.
fn loss_runs(model: LossModel, n: u64) -> (f64, f64) {
    let mut pipe = Pipe::new(
        PipeSpec {
            loss: model,
            ..Default::default()
        },
        3,
    );
    let t = Instant::now();
    let (mut lost, mut bursts, mut in_burst) = (0u64, 0u64, false);
    for i in 0..n {
        let l = pipe.push(t, 100, i).is_err();
        lost += l as u64;
        bursts += (l && !in_burst) as u64;
        in_burst = l;
    }
    (lost as f64 / n as f64, lost as f64 / bursts as f64)
}

#[test]
fn gilbert_elliott_mean_loss_and_burst_length() {
    for (rate, burst) in [(0.01, 3.0), (0.01, 8.0), (0.05, 2.0)] {
        let model = LossModel::bursty(rate, burst);
        assert!((model.mean_loss() - rate).abs() < 1e-12);
        let (measured, mean_burst) = loss_runs(model, 2_000_000);
        assert!((measured - rate).abs() < rate * 0.1, "{rate}/{burst}: loss {measured}");
        assert!(
            (mean_burst - burst).abs() < burst * 0.1,
            "{rate}/{burst}: bursts of {mean_burst}"
        );
    }
    // Independent loss has bursts of 1/(1-p) on average: much shorter.
    let (_, random_burst) = loss_runs(LossModel::Random(0.01), 1_000_000);
    assert!(random_burst < 1.05);
}

#[test]
fn gilbert_elliott_with_partial_loss_in_each_state() {
    let model = LossModel::GilbertElliott {
        p_gb: 0.02,
        p_bg: 0.2,
        loss_good: 0.001,
        loss_bad: 0.3,
    };
    // P(bad) = 0.02 / 0.22; mean loss = 0.909… × 0.001 + 0.0909… × 0.3 ≈ 0.02818.
    assert!((model.mean_loss() - 0.028_181_8).abs() < 1e-6);
    let (measured, _) = loss_runs(model, 2_000_000);
    assert!((measured - model.mean_loss()).abs() < 0.002, "loss {measured}");
}

#[test]
fn rate_limits_bytes_released_per_virtual_second() {
    // 100 Mbit/s offered 1250-byte packets every 50 µs (200 Mbit/s) with a deep queue.
    let spec = PipeSpec {
        rate_bps: Some(100_000_000),
        queue_bytes: Some(1 << 30),
        ..Default::default()
    };
    let mut pipe = Pipe::new(spec, 1);
    let out = drive(&mut pipe, 40_000, 1250, Duration::from_micros(50));
    assert_eq!(out.len(), 40_000);
    let t0 = out[0].1;
    let in_first_second = out.iter().filter(|o| o.2 <= t0 + ms(1000)).count() as u64 * 1250;
    assert!(
        in_first_second.abs_diff(12_500_000) <= 1250,
        "{in_first_second} B in 1 s"
    );
    // Back to back: one packet every 1250 × 8 / 100e6 s = 100 µs.
    assert!(out.windows(2).all(|w| w[1].2 - w[0].2 == Duration::from_micros(100)));
    assert_eq!(pipe.stats.bytes_released, 40_000 * 1250);
}

#[test]
fn drop_tail_queue_drops_over_the_limit_and_drains_at_the_rate() {
    // 8 Mbit/s drains one byte per µs; the queue holds 10 000 bytes.
    let spec = PipeSpec {
        rate_bps: Some(8_000_000),
        queue_bytes: Some(10_000),
        ..Default::default()
    };
    let mut pipe = Pipe::new(spec, 1);
    let t = Instant::now();
    let verdicts: Vec<_> = (0..100).map(|i| pipe.push(t, 1000, i)).collect();
    assert!(verdicts[..10].iter().all(|v| v.is_ok()));
    assert!(verdicts[10..].iter().all(|v| matches!(v, Err((Dropped::QueueFull, _)))));
    assert_eq!((pipe.stats.queue_drops, pipe.backlog_bytes(t)), (90, 10_000));
    // 5 ms later 5000 bytes have drained: five more fit, the sixth does not.
    let later = t + ms(5);
    assert_eq!(pipe.backlog_bytes(later), 5_000);
    let accepted = (0..6).filter(|&i| pipe.push(later, 1000, 100 + i).is_ok()).count();
    assert_eq!(accepted, 5);
    // FIFO: the ten first, then the five later ones.
    let mut ids = Vec::new();
    while let Some((_, id)) = pipe.pop_due(t + ms(100)) {
        ids.push(id);
    }
    assert_eq!(ids, (0..10).chain(100..105).collect::<Vec<_>>());
}

#[test]
fn default_queue_is_one_bandwidth_delay_product() {
    let spec = PipeSpec {
        rate_bps: Some(100_000_000),
        delay: ms(10),
        ..Default::default()
    };
    assert_eq!(spec.queue_limit(), 250_000); // 100 Mbit/s × 20 ms RTT / 8
    let shallow = PipeSpec {
        rate_bps: Some(100_000_000),
        ..Default::default()
    };
    assert_eq!(shallow.queue_limit(), 64 * 1024);
    assert_eq!(PipeSpec::default().queue_limit(), u64::MAX);
}

#[test]
fn loss_after_the_bottleneck_still_uses_the_rate() {
    let spec = PipeSpec {
        rate_bps: Some(8_000_000),
        loss: LossModel::Random(1.0),
        ..Default::default()
    };
    let mut pipe = Pipe::new(spec, 1);
    let t = Instant::now();
    assert!(matches!(pipe.push(t, 1000, 1), Err((Dropped::Lost, 1))));
    assert_eq!(pipe.backlog_bytes(t), 1000);
}

#[test]
fn a_late_arrival_counts_as_simultaneous_with_the_previous_one() {
    let mut pipe = Pipe::new(
        PipeSpec {
            delay: ms(5),
            ..Default::default()
        },
        1,
    );
    let t = Instant::now();
    assert_eq!(pipe.push(t + ms(2), 100, 1), Ok(t + ms(7)));
    assert_eq!(pipe.push(t + ms(1), 100, 2), Ok(t + ms(7)));
    assert_eq!(pipe.pop_due(t + ms(7)), Some((t + ms(7), 1)));
    assert_eq!(pipe.pop_due(t + ms(7)), Some((t + ms(7), 2)));
}
