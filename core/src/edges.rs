//! Edge intelligence: measurements in (parts forwarded, probes, client failure reports),
//! rankings out (through `jetty_shared::scoring`).

use crate::db::{EdgeEvent, EdgeEventKind, EdgeMetricsStore, StoreHealth, StoreHealthStore};
use crate::ports::{Core, Runtime};
use crate::Result;
use jetty_shared::analytics::metrics_prune_before;
use jetty_shared::edges::haversine_km;
use jetty_shared::protocol::{EdgeInfo, Location, Priority};
use jetty_shared::scoring::{self, EdgeCandidate, DEFAULT_LOCATION};
use jetty_shared::{ApiError, ErrorCode};

/// How far back measurements count.
pub const WINDOW_MS: u64 = 10 * 60 * 1000;
/// Uploads in a slot (account, hour, weekday) over 30 days before it counts as a pattern (the
/// seeds' `HAVING COUNT(*) > 5`).
pub const PATTERN_MIN_UPLOADS: u64 = 5;
pub const PATTERN_WINDOW_MS: u64 = 30 * 24 * 3600 * 1000;

/// How recent the store health figures are.
pub const STORE_WINDOW_MS: u64 = 10 * 60 * 1000;

/// The object store's state as operators (and `/health`) see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreStatus {
    /// The newest probe answered and nothing failed in the window.
    Up,
    /// The newest probe answered, but forwards failed in the window.
    Degraded,
    /// The newest probe failed.
    Down,
    /// Never probed.
    Unknown,
}

/// The store's health over the last `STORE_WINDOW_MS`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreReport {
    pub status: StoreStatus,
    pub failures: u64,
    pub last_probe_at: Option<u64>,
    pub last_failure_at: Option<u64>,
}

/// Pure: the store's status from its health record.
pub fn store_report(h: &StoreHealth) -> StoreReport {
    let failures = h.failures.unwrap_or(0);
    let status = match h.last_probe_ok {
        None => StoreStatus::Unknown,
        Some(0) => StoreStatus::Down,
        Some(_) if failures > 0 && h.last_failure_at > h.last_probe_at => StoreStatus::Degraded,
        Some(_) => StoreStatus::Up,
    };
    StoreReport {
        status,
        failures,
        last_probe_at: h.last_probe_at,
        last_failure_at: h.last_failure_at,
    }
}

/// The client's location: its declared `userLocation` (validated), else the coordinates the
/// network derives from its IP, else `DEFAULT_LOCATION`.
pub fn client_location(declared: Option<Location>, from_network: Option<Location>) -> Result<Location> {
    if let Some(l) = declared {
        if !(l.lat.is_finite()
            && l.lng.is_finite()
            && (-90.0..=90.0).contains(&l.lat)
            && (-180.0..=180.0).contains(&l.lng))
        {
            return Err(ApiError::with_message(
                ErrorCode::InvalidRequest,
                "userLocation needs lat in [-90, 90] and lng in [-180, 180]",
            ));
        }
        return Ok(l);
    }
    Ok(from_network.unwrap_or(DEFAULT_LOCATION))
}

/// The UTC hour and day of week (0 = Sunday) of a time in ms.
pub fn hour_and_weekday(now_ms: u64) -> (u32, u32) {
    let secs = now_ms / 1000;
    let hour = ((secs / 3600) % 24) as u32;
    let day_of_week = ((secs / 86_400 + 4) % 7) as u32; // 1970-01-01 was a Thursday
    (hour, day_of_week)
}

impl<D: StoreHealthStore, O, K, R: Runtime> Core<D, O, K, R> {
    /// A forward to the store failed for the store's reasons (seen by `reporter`): counted as
    /// the store's failure, never the edge's. Best effort.
    pub async fn note_store_failure(&self, reporter: &str) {
        let now = self.rt.now_ms();
        if let Err(e) = self
            .db
            .record_store_event(now, false, EdgeEventKind::Failure, reporter, None)
            .await
        {
            self.rt.log(&format!("store failure not recorded: {}", e.message));
        }
    }

    /// Counts a failed store call of the coordinator's as the store's failure; passes the
    /// result on.
    pub async fn blame_store<T>(&self, result: Result<T>) -> Result<T> {
        if let Err(e) = &result {
            if matches!(e.code, ErrorCode::StoreUnavailable | ErrorCode::StorageError) {
                self.note_store_failure("coordinator").await;
            }
        }
        result
    }

    /// The minute's store probe (HeadBucket): its result and round trip.
    pub async fn record_store_probe(&self, ok: bool, latency_ms: f64) -> Result<()> {
        let now = self.rt.now_ms();
        self.db
            .record_store_event(now, ok, EdgeEventKind::Probe, "coordinator", ok.then_some(latency_ms))
            .await
    }

    /// The store's health over the last ten minutes.
    pub async fn store_report(&self) -> Result<StoreReport> {
        let since = self.rt.now_ms().saturating_sub(STORE_WINDOW_MS);
        Ok(store_report(&self.db.store_health(since).await?))
    }
}

impl<D: EdgeMetricsStore, O, K, R: Runtime> Core<D, O, K, R> {
    /// The best edges for a client now, from the registry and the recent measurements.
    pub async fn pick_edges(&self, client: Location, priority: Priority) -> Result<Vec<EdgeInfo>> {
        let now = self.rt.now_ms();
        let windows = self.db.edge_windows(now.saturating_sub(WINDOW_MS)).await?;
        let candidates: Vec<EdgeCandidate> = self
            .db
            .active_edges()
            .await?
            .into_iter()
            .map(|location| {
                let distance = haversine_km(
                    client,
                    Location {
                        lat: location.lat,
                        lng: location.lng,
                    },
                );
                let metrics = windows
                    .iter()
                    .find(|(id, _)| *id == location.id)
                    .map(|(_, w)| w.metrics(distance, now));
                EdgeCandidate { location, metrics }
            })
            .collect();
        Ok(scoring::select(&candidates, client, priority))
    }

    /// The paths for an upload: the ranking plus the origin-direct path through the
    /// coordinator at `origin` (its configured share of the parts).
    pub async fn upload_paths(&self, client: Location, priority: Priority, origin: &str) -> Result<Vec<EdgeInfo>> {
        let edges = self.pick_edges(client, priority).await?;
        Ok(scoring::with_origin_direct(
            edges,
            origin,
            self.settings.origin_direct_share,
        ))
    }

    /// A forwarder's report of a part: its duration, size and the forwarder's load. Best
    /// effort: a lost measurement must not fail the part.
    pub async fn record_part_metrics(&self, edge_id: &str, bytes: u64, duration_ms: f64, inflight: u64) {
        let event = EdgeEvent {
            edge_id,
            kind: EdgeEventKind::Part,
            ok: true,
            latency_ms: None,
            bytes: Some(bytes),
            duration_ms: Some(duration_ms.max(0.0)),
            inflight: Some(inflight),
            reporter: "edge",
            dedup_key: None,
            now: self.rt.now_ms(),
        };
        if let Err(e) = self.db.record_edge_event(&event).await {
            self.rt.log(&format!("edge metrics not recorded: {}", e.message));
        }
    }

    /// A client saw an edge fail. One report per account, edge and minute counts, so one
    /// tenant cannot flood an edge out of the ranking.
    pub async fn edge_report(&self, account: &str, edge_id: &str) -> Result<()> {
        if !self.db.active_edges().await?.iter().any(|e| e.id == edge_id) {
            return Err(ApiError::with_message(ErrorCode::NotFound, "no such edge"));
        }
        let now = self.rt.now_ms();
        let dedup = format!("{account}:{edge_id}:{}", now / 60_000);
        let event = EdgeEvent {
            edge_id,
            kind: EdgeEventKind::Failure,
            ok: false,
            latency_ms: None,
            bytes: None,
            duration_ms: None,
            inflight: None,
            reporter: account,
            dedup_key: Some(&dedup),
            now,
        };
        self.db.record_edge_event(&event).await
    }

    /// A timed round trip to an edge (probe or warm-up); a failure, as the edge's newest
    /// event, takes it out of selection until it answers again.
    pub async fn record_probe(&self, edge_id: &str, ok: bool, latency_ms: f64, reporter: &str) -> Result<()> {
        let event = EdgeEvent {
            edge_id,
            kind: EdgeEventKind::Probe,
            ok,
            latency_ms: ok.then_some(latency_ms),
            bytes: None,
            duration_ms: None,
            inflight: None,
            reporter,
            dedup_key: None,
            now: self.rt.now_ms(),
        };
        self.db.record_edge_event(&event).await
    }

    /// After the minute's probes: drop old measurements, refresh the stats' health snapshot.
    pub async fn roll_edge_metrics(&self) -> Result<()> {
        let now = self.rt.now_ms();
        self.db.prune_edge_metrics(metrics_prune_before(now)).await?;
        self.db.prune_store_events(metrics_prune_before(now)).await?;
        self.db.refresh_edge_snapshot(now).await
    }

    /// The hourly job's decision: recompute the upload patterns and name the edges typical of
    /// this hour's patterns (to be warmed).
    pub async fn edges_to_prewarm(&self) -> Result<Vec<jetty_shared::edges::EdgeLocation>> {
        let now = self.rt.now_ms();
        self.db
            .recompute_upload_patterns(now.saturating_sub(PATTERN_WINDOW_MS), PATTERN_MIN_UPLOADS, now)
            .await?;
        let (hour, day_of_week) = hour_and_weekday(now);
        let wanted = self.db.pattern_edges(hour, day_of_week).await?;
        Ok(self
            .db
            .active_edges()
            .await?
            .into_iter()
            .filter(|e| wanted.contains(&e.id))
            .collect())
    }
}
