//! Geography and part distribution: great-circle distances, RTT from distance, and the smooth
//! weighted round-robin the client uses to give edges their share. Ranking is `scoring`.

use crate::protocol::Location;
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
    fn weighted_assignment_is_proportional_and_interleaved() {
        let a = assign_weighted(&[0.5, 0.3, 0.2], 10);
        let count = |i| a.iter().filter(|&&x| x == i).count();
        assert_eq!((count(0), count(1), count(2)), (5, 3, 2));
        assert_eq!(&a[..3], &[0, 1, 2], "every edge starts busy");
        assert_eq!(assign_weighted(&[0.0, 0.0], 4), vec![0, 1, 0, 1]);
        assert!(assign_weighted(&[], 4).is_empty());
    }
}
