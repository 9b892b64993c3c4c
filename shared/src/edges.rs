//! Edge selection: rank the active edges for a client and split the parts between them.

use crate::protocol::{EdgeInfo, Location};
use serde::{Deserialize, Serialize};

/// An edge as registered with the coordinator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeLocation {
    pub id: String,
    pub url: String,
    pub lat: f64,
    pub lng: f64,
}

const EARTH_RADIUS_KM: f64 = 6371.0;

pub fn haversine_km(a: Location, b: Location) -> f64 {
    let (lat1, lat2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = lat2 - lat1;
    let dlng = (b.lng - a.lng).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlng / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// Round trip estimated from distance: light in fibre covers ~100 km of distance per ms of RTT,
/// plus a fixed 5 ms for the last mile and the worker.
pub fn estimated_rtt_ms(distance_km: f64) -> u32 {
    (5.0 + distance_km / 100.0).round() as u32
}

/// The `max` best edges for a client, nearest first, with weights that sum to 1.
/// Without a client location every edge is equally good.
pub fn select_edges(edges: &[EdgeLocation], client: Option<Location>, max: usize) -> Vec<EdgeInfo> {
    let mut ranked: Vec<(f64, &EdgeLocation)> = edges
        .iter()
        .map(|e| {
            let d = client
                .map(|c| haversine_km(c, Location { lat: e.lat, lng: e.lng }))
                .unwrap_or(0.0);
            (d, e)
        })
        .collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
    ranked.truncate(max);
    // Closer edges get more parts; 1000 km halves an edge's share relative to a local one.
    let scores: Vec<f64> = ranked.iter().map(|(d, _)| 1.0 / (1.0 + d / 1000.0)).collect();
    let total: f64 = scores.iter().sum();
    ranked
        .iter()
        .zip(scores)
        .map(|((d, e), s)| EdgeInfo {
            id: e.id.clone(),
            url: e.url.clone(),
            latency: estimated_rtt_ms(*d),
            load: 0,
            distance: d.round() as u32,
            weight: if total > 0.0 { s / total } else { 0.0 },
            bandwidth: 0,
        })
        .collect()
}

/// Smooth weighted round-robin (as in nginx): assigns `count` parts to edges in proportion to
/// `weights`, interleaved so that every edge is busy from the start. Returns edge indices.
pub fn assign_weighted(weights: &[f64], count: usize) -> Vec<usize> {
    if weights.is_empty() {
        return Vec::new();
    }
    let w: Vec<f64> = weights
        .iter()
        .map(|x| if x.is_finite() && *x > 0.0 { *x } else { 0.0 })
        .collect();
    let total: f64 = w.iter().sum();
    let w = if total > 0.0 { w } else { vec![1.0; weights.len()] };
    let total: f64 = w.iter().sum();
    let mut current = vec![0.0; w.len()];
    (0..count)
        .map(|_| {
            for (c, wi) in current.iter_mut().zip(&w) {
                *c += wi;
            }
            let best = (0..w.len()).fold(0, |best, i| if current[i] > current[best] { i } else { best });
            current[best] -= total;
            best
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(id: &str, lat: f64, lng: f64) -> EdgeLocation {
        EdgeLocation {
            id: id.into(),
            url: format!("http://{id}"),
            lat,
            lng,
        }
    }

    fn fleet() -> Vec<EdgeLocation> {
        vec![
            edge("nyc-1", 40.7128, -74.0060),
            edge("sfo-1", 37.7749, -122.4194),
            edge("lax-1", 34.0522, -118.2437),
        ]
    }

    #[test]
    fn haversine_matches_known_distances() {
        let sf = Location {
            lat: 37.7749,
            lng: -122.4194,
        };
        let la = Location {
            lat: 34.0522,
            lng: -118.2437,
        };
        let d = haversine_km(sf, la);
        assert!((d - 559.0).abs() < 2.0, "{d}");
        assert_eq!(haversine_km(sf, sf), 0.0);
    }

    #[test]
    fn nearest_edges_come_first_with_larger_weights() {
        let sf = Location {
            lat: 37.7749,
            lng: -122.4194,
        };
        let picked = select_edges(&fleet(), Some(sf), 5);
        let ids: Vec<_> = picked.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["sfo-1", "lax-1", "nyc-1"]);
        assert!(picked[0].weight > picked[1].weight && picked[1].weight > picked[2].weight);
        let sum: f64 = picked.iter().map(|e| e.weight).sum();
        assert!((sum - 1.0).abs() < 1e-9);
        assert_eq!(picked[0].distance, 0);
        assert!(picked[2].latency > picked[0].latency);
    }

    #[test]
    fn without_location_edges_share_equally_and_max_is_respected() {
        let picked = select_edges(&fleet(), None, 2);
        assert_eq!(picked.len(), 2);
        assert!(picked.iter().all(|e| (e.weight - 0.5).abs() < 1e-9));
        assert!(select_edges(&[], None, 3).is_empty());
    }

    #[test]
    fn weighted_assignment_is_proportional_and_interleaved() {
        let a = assign_weighted(&[0.5, 0.3, 0.2], 10);
        let count = |i| a.iter().filter(|&&x| x == i).count();
        assert_eq!((count(0), count(1), count(2)), (5, 3, 2));
        assert_eq!(&a[..3], &[0, 1, 2], "every edge starts busy");
        assert_eq!(assign_weighted(&[0.0, 0.0], 4), vec![0, 1, 0, 1]);
        assert!(assign_weighted(&[], 4).is_empty());
    }
}
