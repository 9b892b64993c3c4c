//! The edge registry, edge measurements (`edge_metrics`) and upload patterns.

use super::Database;
use crate::{stmt, Result};
use jetty_shared::edges::EdgeLocation;
use jetty_shared::scoring::WindowStats;
use jetty_shared::sql::{self, edges as q};
use serde::{Deserialize, Serialize};

/// What an edge event measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeEventKind {
    /// A part the edge forwarded (duration, size, its load).
    Part,
    /// The coordinator's health probe or a warm-up round trip.
    Probe,
    /// A client saw the edge fail.
    Failure,
}

impl EdgeEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeEventKind::Part => "part",
            EdgeEventKind::Probe => "probe",
            EdgeEventKind::Failure => "failure",
        }
    }
}

/// One measurement of an edge.
#[derive(Debug, Clone)]
pub struct EdgeEvent<'a> {
    pub edge_id: &'a str,
    pub kind: EdgeEventKind,
    pub ok: bool,
    pub latency_ms: Option<f64>,
    pub bytes: Option<u64>,
    pub duration_ms: Option<f64>,
    pub inflight: Option<u64>,
    pub reporter: &'a str,
    pub dedup_key: Option<&'a str>,
    pub now: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct PatternRow {
    pub hour: u32,
    pub day_of_week: u32,
    pub avg_file_size: u64,
    pub upload_count: u64,
    pub typical_edges: String,
    pub updated_at: u64,
}

pub trait EdgeMetricsStore: Database {
    async fn active_edges(&self) -> Result<Vec<EdgeLocation>> {
        self.query(stmt!(q::ACTIVE_EDGES)).await
    }

    async fn record_edge_event(&self, e: &EdgeEvent<'_>) -> Result<()> {
        self.execute(stmt!(
            q::RECORD_EVENT,
            e.edge_id,
            e.now,
            e.kind.as_str(),
            e.ok,
            e.latency_ms,
            e.bytes,
            e.duration_ms,
            e.inflight,
            e.reporter,
            e.dedup_key,
        ))
        .await?;
        Ok(())
    }

    /// Every edge's events since `since_ms`, summed for scoring.
    async fn edge_windows(&self, since_ms: u64) -> Result<Vec<(String, WindowStats)>> {
        #[derive(Deserialize)]
        struct Row {
            edge_id: String,
            events: u64,
            failures: u64,
            newest_ms: u64,
            probe_latency_ms: Option<f64>,
            part_bytes: u64,
            part_ms: f64,
            inflight: Option<u64>,
            newest_ok: Option<i64>,
        }
        let rows: Vec<Row> = self.query(stmt!(q::WINDOWS, since_ms)).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let stats = WindowStats {
                    events: r.events,
                    failures: r.failures,
                    newest_ms: r.newest_ms,
                    newest_ok: r.newest_ok.unwrap_or(1) != 0,
                    probe_latency_ms: r.probe_latency_ms,
                    part_bytes: r.part_bytes,
                    part_ms: r.part_ms,
                    inflight: r.inflight,
                };
                (r.edge_id, stats)
            })
            .collect())
    }

    /// Recomputes the edges' 24-hour health snapshot the stats read.
    async fn refresh_edge_snapshot(&self, now: u64) -> Result<()> {
        let [clear, fill] = sql::REFRESH_EDGE_SNAPSHOT;
        self.batch(vec![stmt!(clear), stmt!(fill, now)]).await?;
        Ok(())
    }

    async fn prune_edge_metrics(&self, before_ms: u64) -> Result<()> {
        self.execute(stmt!(q::PRUNE, before_ms)).await?;
        Ok(())
    }

    /// Recomputes `upload_patterns` from the completed sessions since `since_ms`.
    async fn recompute_upload_patterns(&self, since_ms: u64, min_uploads: u64, now: u64) -> Result<()> {
        let [clear, fill] = q::RECOMPUTE_PATTERNS;
        self.batch(vec![stmt!(clear), stmt!(fill, since_ms, min_uploads, now)])
            .await?;
        Ok(())
    }

    /// The distinct edges typical of the patterns of this UTC hour and day of week.
    async fn pattern_edges(&self, hour: u32, day_of_week: u32) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Row {
            edge_id: String,
        }
        let rows: Vec<Row> = self.query(stmt!(q::PATTERN_EDGES, hour, day_of_week)).await?;
        Ok(rows.into_iter().map(|r| r.edge_id).collect())
    }

    async fn patterns_for(&self, account_id: &str) -> Result<Vec<PatternRow>> {
        self.query(stmt!(q::PATTERNS_FOR, account_id)).await
    }
}

impl<D: Database> EdgeMetricsStore for D {}

/// The object store's health over a window (see `StoreHealthStore::store_health`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct StoreHealth {
    pub failures: Option<u64>,
    pub probes_ok: Option<u64>,
    pub last_probe_at: Option<u64>,
    pub last_probe_ok: Option<i64>,
    pub last_failure_at: Option<u64>,
}

/// The store's own health record: its failures are the store's, not the edges'.
pub trait StoreHealthStore: Database {
    async fn record_store_event(
        &self,
        now: u64,
        ok: bool,
        kind: EdgeEventKind,
        reporter: &str,
        latency_ms: Option<f64>,
    ) -> Result<()> {
        let kind = if kind == EdgeEventKind::Probe {
            "probe"
        } else {
            "failure"
        };
        self.execute(stmt!(
            jetty_shared::sql::store::RECORD,
            now,
            ok,
            kind,
            reporter,
            latency_ms
        ))
        .await?;
        Ok(())
    }

    async fn store_health(&self, since_ms: u64) -> Result<StoreHealth> {
        Ok(self
            .first(stmt!(jetty_shared::sql::store::HEALTH, since_ms))
            .await?
            .unwrap_or_default())
    }

    async fn prune_store_events(&self, before_ms: u64) -> Result<()> {
        self.execute(stmt!(jetty_shared::sql::store::PRUNE, before_ms)).await?;
        Ok(())
    }
}

impl<D: Database> StoreHealthStore for D {}
