//! When each phase of one upload ended, in seconds from its start (`jetty upload --json`
//! prints it as `timeline`): what a slow upload spent its time on — hashing the parts for the
//! content id, the coordinator's answer, choosing the route, the first part stored, the last
//! one, the whole-file hash trailing the sending, the finalize. An upload named after it started
//! (`identify`) hashes its parts while they go out: `partsHashed` then follows `sessionReady`. A phase the upload did not go
//! through (a duplicate sends nothing) stays absent.

use serde::Serialize;
use std::time::Instant;

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeline {
    #[serde(skip)]
    started: Instant,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parts_hashed: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_ready: Option<f64>,
    /// An upload named after it started: when `identify` answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub named: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route_chosen: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_part_stored: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parts_stored: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub whole_hashed: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finalized: Option<f64>,
}

impl Timeline {
    pub fn start() -> Timeline {
        Timeline::starting_at(Instant::now())
    }

    pub fn starting_at(started: Instant) -> Timeline {
        Timeline {
            started,
            parts_hashed: None,
            session_ready: None,
            named: None,
            route_chosen: None,
            first_part_stored: None,
            parts_stored: None,
            whole_hashed: None,
            finalized: None,
        }
    }

    /// Seconds since the start, for a phase that ends now.
    pub fn now(&self) -> Option<f64> {
        Some(self.seconds())
    }

    /// Seconds from the start to `instant`.
    pub fn at(&self, instant: Instant) -> Option<f64> {
        Some(instant.saturating_duration_since(self.started).as_secs_f64())
    }

    pub fn seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn phases_not_reached_are_left_out_of_the_json() {
        let mut t = Timeline::starting_at(Instant::now() - Duration::from_millis(1500));
        t.parts_hashed = t.now();
        let json = serde_json::to_value(t).unwrap();
        let object = json.as_object().unwrap();
        assert_eq!(object.keys().collect::<Vec<_>>(), ["partsHashed"]);
        assert!(object["partsHashed"].as_f64().unwrap() >= 1.5);
    }
}
