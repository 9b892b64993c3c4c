//! Edge scoring: which edges take an upload, and what share of its parts each gets.
//!
//! Each edge gets five components in (0, 1], higher is better:
//! - distance  `1 / (1 + km / 1000)`            (1000 km halves it)
//! - latency   `1 / (1 + ms / 50)`              (50 ms halves it)
//! - load      `max(0.05, 1 - load% / 100)`
//! - bandwidth `mbps / (mbps + 100)`            (100 Mbit/s gives 0.5)
//! - errors    `(1 - error_rate)^2`
//!
//! The score is their weighted sum, with weights per `priority` (below). Edges whose metrics are
//! older than `STALE_AFTER_SECS`, or whose error rate is above `MAX_ERROR_RATE`, are left out;
//! edges that never reported are used only when no edge has fresh metrics (a cold fleet).
//! A `budget` below the transfer's estimated cost switches to the `cost` weights. The top
//! `MAX_SELECTED` edges are kept; their weights are their scores normalized to sum to 1.
//! Ties break by edge id, so equal inputs always give equal answers.

use crate::edges::{estimated_rtt_ms, haversine_km, EdgeLocation};
use crate::protocol::{EdgeInfo, Location, Priority};
use serde::{Deserialize, Serialize};

pub const MAX_SELECTED: usize = 5;
/// Three missed probes (the coordinator probes every minute).
pub const STALE_AFTER_SECS: u64 = 180;
pub const MAX_ERROR_RATE: f64 = 0.5;
/// Where a client is assumed to be when neither the request nor the network says (US central).
pub const DEFAULT_LOCATION: Location = Location {
    lat: 39.8283,
    lng: -98.5795,
};
/// Throughput assumed for an edge without bandwidth figures, Mbit/s.
pub const DEFAULT_BANDWIDTH_MBPS: f64 = 400.0;

/// Recent measurements of an edge (a rolling window kept by the coordinator).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EdgeMetrics {
    pub latency_ms: f64,
    pub load_percent: f64,
    pub bandwidth_mbps: f64,
    /// Failed requests / all requests in the window, 0..=1.
    pub error_rate: f64,
    /// Seconds since the newest measurement.
    pub age_secs: u64,
    /// Whether the newest reachability check succeeded (coordinator probes and client failure
    /// reports, not the edge's own part reports: an edge can finish parts it already holds while
    /// clients can no longer reach it). An unreachable edge is left out until a probe succeeds.
    pub last_ok: bool,
}

/// Parts one edge is expected to carry at once at full load (100 %).
pub const EDGE_CAPACITY_PARTS: f64 = 16.0;

/// An edge's events in the rolling window, as the coordinator's query sums them.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct WindowStats {
    pub events: u64,
    pub failures: u64,
    /// Newest event, ms since the epoch.
    pub newest_ms: u64,
    /// Whether the newest probe or client report was a success.
    pub newest_ok: bool,
    /// Mean successful probe round trip, if any probe succeeded.
    pub probe_latency_ms: Option<f64>,
    pub part_bytes: u64,
    pub part_ms: f64,
    /// Parts in flight at the edge at its newest report.
    pub inflight: Option<u64>,
}

impl WindowStats {
    pub fn metrics(&self, distance_km: f64, now_ms: u64) -> EdgeMetrics {
        // Throughput of the parts it forwarded, in Mbit/s; per part, as one client sees it.
        let bandwidth = if self.part_bytes > 0 && self.part_ms > 0.0 {
            self.part_bytes as f64 * 8.0 / (self.part_ms / 1000.0) / 1e6
        } else {
            DEFAULT_BANDWIDTH_MBPS
        };
        EdgeMetrics {
            latency_ms: self
                .probe_latency_ms
                .unwrap_or_else(|| f64::from(estimated_rtt_ms(distance_km))),
            load_percent: self
                .inflight
                .map_or(0.0, |n| (n as f64 / EDGE_CAPACITY_PARTS * 100.0).min(100.0)),
            bandwidth_mbps: bandwidth,
            error_rate: if self.events == 0 {
                0.0
            } else {
                self.failures as f64 / self.events as f64
            },
            age_secs: now_ms.saturating_sub(self.newest_ms) / 1000,
            last_ok: self.newest_ok,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct EdgeCandidate {
    pub location: EdgeLocation,
    pub metrics: Option<EdgeMetrics>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    pub distance: f64,
    pub latency: f64,
    pub load: f64,
    pub bandwidth: f64,
    pub errors: f64,
}

impl Weights {
    pub fn for_priority(priority: Priority) -> Weights {
        match priority {
            Priority::Speed => Weights {
                distance: 0.10,
                latency: 0.30,
                load: 0.15,
                bandwidth: 0.30,
                errors: 0.15,
            },
            Priority::Balanced => Weights {
                distance: 0.25,
                latency: 0.25,
                load: 0.20,
                bandwidth: 0.15,
                errors: 0.15,
            },
            // Near and idle edges are the cheap ones to run; raw speed matters least.
            Priority::Cost => Weights {
                distance: 0.40,
                latency: 0.10,
                load: 0.20,
                bandwidth: 0.10,
                errors: 0.20,
            },
        }
    }
}

/// The score of one edge for a client at `distance_km`.
pub fn score(weights: &Weights, distance_km: f64, m: &EdgeMetrics) -> f64 {
    let distance = 1.0 / (1.0 + distance_km.max(0.0) / 1000.0);
    let latency = 1.0 / (1.0 + m.latency_ms.max(0.0) / 50.0);
    let load = (1.0 - m.load_percent.clamp(0.0, 100.0) / 100.0).max(0.05);
    let bandwidth = m.bandwidth_mbps.max(0.0) / (m.bandwidth_mbps.max(0.0) + 100.0);
    let errors = (1.0 - m.error_rate.clamp(0.0, 1.0)).powi(2);
    weights.distance * distance
        + weights.latency * latency
        + weights.load * load
        + weights.bandwidth * bandwidth
        + weights.errors * errors
}

/// Metrics assumed for an edge that has not reported yet: latency from distance, idle.
fn assumed(distance_km: f64) -> EdgeMetrics {
    EdgeMetrics {
        latency_ms: f64::from(estimated_rtt_ms(distance_km)),
        load_percent: 0.0,
        bandwidth_mbps: DEFAULT_BANDWIDTH_MBPS,
        error_rate: 0.0,
        age_secs: 0,
        last_ok: true,
    }
}

fn healthy(m: &EdgeMetrics) -> bool {
    m.last_ok && m.age_secs <= STALE_AFTER_SECS && m.error_rate <= MAX_ERROR_RATE
}

/// Ranks the candidates for a client and returns up to `MAX_SELECTED` with weights summing to 1.
pub fn select(candidates: &[EdgeCandidate], client: Location, priority: Priority) -> Vec<EdgeInfo> {
    let weights = Weights::for_priority(priority);
    let any_fresh = candidates.iter().any(|c| c.metrics.as_ref().is_some_and(healthy));
    let mut ranked: Vec<(f64, f64, EdgeMetrics, &EdgeLocation)> = candidates
        .iter()
        .filter_map(|c| {
            let d = haversine_km(
                client,
                Location {
                    lat: c.location.lat,
                    lng: c.location.lng,
                },
            );
            let m = match c.metrics {
                Some(m) if healthy(&m) => m,
                Some(_) => return None,
                None if any_fresh => return None,
                None => assumed(d),
            };
            Some((score(&weights, d, &m), d, m, &c.location))
        })
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.3.id.cmp(&b.3.id)));
    ranked.truncate(MAX_SELECTED);
    let total: f64 = ranked.iter().map(|r| r.0).sum();
    ranked
        .into_iter()
        .map(|(s, d, m, loc)| EdgeInfo {
            id: loc.id.clone(),
            url: loc.url.clone(),
            latency: m.latency_ms.round().max(0.0) as u32,
            load: m.load_percent.round().clamp(0.0, 100.0) as u32,
            distance: d.round() as u32,
            weight: if total > 0.0 { s / total } else { 0.0 },
            bandwidth: m.bandwidth_mbps.round().clamp(0.0, u32::MAX as f64) as u32,
        })
        .collect()
}

/// Id of the path straight through the coordinator to the store.
pub const ORIGIN_DIRECT: &str = "origin-direct";

/// Adds the origin-direct path with `share` of the parts (the seeds' 10 %), scaling the edges'
/// weights to the rest; with no edge at all it takes everything. It keeps uploads going when
/// edges fail and gives the coordinator's own measurements of the store.
pub fn with_origin_direct(mut edges: Vec<EdgeInfo>, origin_url: &str, share: f64) -> Vec<EdgeInfo> {
    let share = if edges.is_empty() { 1.0 } else { share.clamp(0.0, 1.0) };
    if share <= 0.0 || origin_url.is_empty() {
        return edges;
    }
    for e in &mut edges {
        e.weight *= 1.0 - share;
    }
    edges.push(EdgeInfo {
        id: ORIGIN_DIRECT.to_owned(),
        url: origin_url.to_owned(),
        latency: 0,
        load: 0,
        distance: 0,
        weight: share,
        bandwidth: DEFAULT_BANDWIDTH_MBPS as u32,
    });
    edges
}

/// The priority to score with: `cost` when the budget cannot pay for speed.
pub fn effective_priority(priority: Priority, budget: Option<f64>, estimated_cost: f64) -> Priority {
    match budget {
        Some(b) if b < estimated_cost => Priority::Cost,
        _ => priority,
    }
}

/// The seed's strategy numbers for a plan over the selected edges.
pub fn threads_for(edge_count: usize) -> u32 {
    (edge_count as u32 * 6).clamp(1, 32)
}

/// Seconds to move `bytes` when each selected edge carries its weight's share at its bandwidth:
/// the slowest share decides.
pub fn estimated_seconds(bytes: u64, shares: &[(f64, f64)]) -> f64 {
    let worst = shares
        .iter()
        .filter(|(w, _)| *w > 0.0)
        .map(|(w, mbps)| bytes as f64 * w / (mbps.max(1.0) * 1_000_000.0 / 8.0))
        .fold(0.0, f64::max);
    (worst * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(id: &str, lat: f64, lng: f64) -> EdgeLocation {
        EdgeLocation {
            id: id.into(),
            url: format!("https://{id}"),
            lat,
            lng,
        }
    }

    fn m(latency: f64, load: f64, bw: f64, err: f64) -> Option<EdgeMetrics> {
        Some(EdgeMetrics {
            latency_ms: latency,
            load_percent: load,
            bandwidth_mbps: bw,
            error_rate: err,
            age_secs: 5,
            last_ok: true,
        })
    }

    const SF: Location = Location {
        lat: 37.7749,
        lng: -122.4194,
    };

    fn ids(v: &[EdgeInfo]) -> Vec<&str> {
        v.iter().map(|e| e.id.as_str()).collect()
    }

    #[test]
    fn scoring_table() {
        let sfo = loc("sfo-1", 37.7749, -122.4194);
        let lax = loc("lax-1", 34.0522, -118.2437);
        let nyc = loc("nyc-1", 40.7128, -74.0060);
        let same = m(20.0, 10.0, 500.0, 0.0);
        // (case, candidates, expected order)
        let cases: Vec<(&str, Vec<EdgeCandidate>, Vec<&str>)> = vec![
            (
                "nearest wins at equal metrics",
                vec![
                    EdgeCandidate {
                        location: nyc.clone(),
                        metrics: same,
                    },
                    EdgeCandidate {
                        location: lax.clone(),
                        metrics: same,
                    },
                    EdgeCandidate {
                        location: sfo.clone(),
                        metrics: same,
                    },
                ],
                vec!["sfo-1", "lax-1", "nyc-1"],
            ),
            (
                "a loaded near edge loses to a farther idle one",
                vec![
                    EdgeCandidate {
                        location: sfo.clone(),
                        metrics: m(20.0, 98.0, 500.0, 0.0),
                    },
                    EdgeCandidate {
                        location: lax.clone(),
                        metrics: m(25.0, 5.0, 500.0, 0.0),
                    },
                ],
                vec!["lax-1", "sfo-1"],
            ),
            (
                "an erroring edge loses to a farther healthy one",
                vec![
                    EdgeCandidate {
                        location: sfo.clone(),
                        metrics: m(20.0, 10.0, 500.0, 0.4),
                    },
                    EdgeCandidate {
                        location: lax.clone(),
                        metrics: m(25.0, 10.0, 500.0, 0.0),
                    },
                ],
                vec!["lax-1", "sfo-1"],
            ),
            (
                "a failing edge is excluded",
                vec![
                    EdgeCandidate {
                        location: sfo.clone(),
                        metrics: m(20.0, 10.0, 500.0, 0.9),
                    },
                    EdgeCandidate {
                        location: nyc.clone(),
                        metrics: same,
                    },
                ],
                vec!["nyc-1"],
            ),
            (
                "a stale edge is excluded",
                vec![
                    EdgeCandidate {
                        location: sfo.clone(),
                        metrics: Some(EdgeMetrics {
                            age_secs: STALE_AFTER_SECS + 1,
                            ..same.unwrap()
                        }),
                    },
                    EdgeCandidate {
                        location: nyc.clone(),
                        metrics: same,
                    },
                ],
                vec!["nyc-1"],
            ),
            (
                "an edge whose last request failed is excluded",
                vec![
                    EdgeCandidate {
                        location: sfo.clone(),
                        metrics: Some(EdgeMetrics {
                            last_ok: false,
                            ..same.unwrap()
                        }),
                    },
                    EdgeCandidate {
                        location: nyc.clone(),
                        metrics: same,
                    },
                ],
                vec!["nyc-1"],
            ),
            (
                "silent edges wait while others report",
                vec![
                    EdgeCandidate {
                        location: sfo.clone(),
                        metrics: None,
                    },
                    EdgeCandidate {
                        location: nyc.clone(),
                        metrics: same,
                    },
                ],
                vec!["nyc-1"],
            ),
            (
                "a cold fleet is ranked by distance",
                vec![
                    EdgeCandidate {
                        location: nyc.clone(),
                        metrics: None,
                    },
                    EdgeCandidate {
                        location: sfo.clone(),
                        metrics: None,
                    },
                ],
                vec!["sfo-1", "nyc-1"],
            ),
        ];
        for (name, candidates, want) in cases {
            let picked = select(&candidates, SF, Priority::Speed);
            assert_eq!(ids(&picked), want, "{name}");
        }
    }

    #[test]
    fn ties_break_by_id_and_at_most_five_are_kept() {
        let c: Vec<_> = (0..8)
            .map(|i| EdgeCandidate {
                location: loc(&format!("e{i}"), 37.7749, -122.4194),
                metrics: m(20.0, 10.0, 500.0, 0.0),
            })
            .rev()
            .collect();
        let picked = select(&c, SF, Priority::Balanced);
        assert_eq!(ids(&picked), ["e0", "e1", "e2", "e3", "e4"]);
        assert!(picked.iter().all(|e| (e.weight - 0.2).abs() < 1e-12));
    }

    #[test]
    fn cost_priority_prefers_the_near_idle_edge_over_the_fast_far_one() {
        let c = vec![
            EdgeCandidate {
                location: loc("near", 37.7749, -122.4194),
                metrics: m(30.0, 0.0, 100.0, 0.0),
            },
            EdgeCandidate {
                location: loc("far", 40.7128, -74.0060),
                metrics: m(5.0, 0.0, 10_000.0, 0.0),
            },
        ];
        assert_eq!(ids(&select(&c, SF, Priority::Cost))[0], "near");
        assert_eq!(ids(&select(&c, SF, Priority::Speed))[0], "far");
        assert_eq!(effective_priority(Priority::Speed, Some(0.01), 0.10), Priority::Cost);
        assert_eq!(effective_priority(Priority::Speed, Some(1.0), 0.10), Priority::Speed);
        assert_eq!(effective_priority(Priority::Balanced, None, 0.10), Priority::Balanced);
    }

    #[test]
    fn window_stats_become_metrics() {
        let w = WindowStats {
            events: 10,
            failures: 2,
            newest_ms: 100_000,
            newest_ok: true,
            probe_latency_ms: Some(12.0),
            part_bytes: 100_000_000,
            part_ms: 2000.0,
            inflight: Some(4),
        };
        let m = w.metrics(0.0, 130_000);
        assert_eq!(
            (m.latency_ms, m.load_percent, m.bandwidth_mbps, m.error_rate, m.age_secs),
            (12.0, 25.0, 400.0, 0.2, 30)
        );
        let empty = WindowStats::default().metrics(1000.0, 0);
        assert_eq!(
            (empty.latency_ms, empty.bandwidth_mbps, empty.error_rate),
            (15.0, DEFAULT_BANDWIDTH_MBPS, 0.0)
        );
    }

    #[test]
    fn origin_direct_takes_its_share_or_everything() {
        let c = vec![
            EdgeCandidate {
                location: loc("a", 37.7749, -122.4194),
                metrics: m(20.0, 10.0, 500.0, 0.0),
            },
            EdgeCandidate {
                location: loc("b", 37.7749, -122.4194),
                metrics: m(20.0, 10.0, 500.0, 0.0),
            },
        ];
        let with = with_origin_direct(select(&c, SF, Priority::Speed), "https://api", 0.10);
        assert_eq!(ids(&with), ["a", "b", ORIGIN_DIRECT]);
        let weights: Vec<f64> = with.iter().map(|e| e.weight).collect();
        assert!((weights[0] - 0.45).abs() < 1e-12 && (weights[2] - 0.10).abs() < 1e-12);
        assert!((weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let alone = with_origin_direct(Vec::new(), "https://api", 0.10);
        assert_eq!((alone.len(), alone[0].weight), (1, 1.0));
        assert_eq!(
            with_origin_direct(select(&c, SF, Priority::Speed), "https://api", 0.0).len(),
            2
        );
    }

    #[test]
    fn strategy_numbers() {
        assert_eq!(
            (threads_for(1), threads_for(3), threads_for(5), threads_for(9)),
            (6, 18, 30, 32)
        );
        // 1 GB over two edges at 800 Mbit/s, 3:1: the 75 % share takes 7.5 s.
        assert_eq!(estimated_seconds(1_000_000_000, &[(0.75, 800.0), (0.25, 800.0)]), 7.5);
    }

    /// Property: for any inputs, weights are finite, non-negative, sum to 1 (or nothing is
    /// selected), at most five edges, no duplicates, and the same inputs give the same answer.
    #[test]
    fn property_weights_always_form_a_distribution() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..2000 {
            let n = rng.gen_range(0..12);
            let c: Vec<EdgeCandidate> = (0..n)
                .map(|i| EdgeCandidate {
                    location: loc(
                        &format!("e{i}"),
                        rng.gen_range(-90.0..=90.0),
                        rng.gen_range(-180.0..=180.0),
                    ),
                    metrics: if rng.gen_bool(0.2) {
                        None
                    } else {
                        Some(EdgeMetrics {
                            latency_ms: rng.gen_range(0.0..2000.0),
                            load_percent: rng.gen_range(-10.0..150.0),
                            bandwidth_mbps: rng.gen_range(0.0..100_000.0),
                            error_rate: rng.gen_range(0.0..1.0),
                            age_secs: rng.gen_range(0..300),
                            last_ok: rng.gen_bool(0.9),
                        })
                    },
                })
                .collect();
            let client = Location {
                lat: rng.gen_range(-90.0..=90.0),
                lng: rng.gen_range(-180.0..=180.0),
            };
            let priority = [Priority::Speed, Priority::Cost, Priority::Balanced][rng.gen_range(0..3)];
            let picked = select(&c, client, priority);
            assert!(picked.len() <= MAX_SELECTED);
            let mut seen = std::collections::HashSet::new();
            assert!(picked.iter().all(|e| seen.insert(e.id.clone())));
            assert!(picked.iter().all(|e| e.weight.is_finite() && e.weight >= 0.0));
            if !picked.is_empty() {
                let sum: f64 = picked.iter().map(|e| e.weight).sum();
                assert!((sum - 1.0).abs() < 1e-9, "{sum}");
                assert!(picked.windows(2).all(|w| w[0].weight >= w[1].weight));
            }
            assert_eq!(select(&c, client, priority), picked);
        }
    }
}
