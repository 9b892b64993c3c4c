//! The analytics reads (views of migrations 0006/0007; texts in `jetty_shared::sql`).
//! `account` None reads every account (operators); otherwise every query is filtered to it.

use super::{Database, Param};
use crate::{stmt, Result};
use jetty_shared::analytics::UploadTotals;
use jetty_shared::sql;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct DedupStats {
    pub duplicate_files: u64,
    pub saved_bytes: u64,
}

#[derive(Debug, Deserialize)]
pub struct EdgeShare {
    pub edge_id: String,
    pub parts: u64,
    pub bytes: u64,
    pub throughput_mbps: Option<f64>,
    pub latency_ms: Option<f64>,
    pub avg_inflight: Option<f64>,
    pub errors: Option<u64>,
    pub error_rate: Option<f64>,
}

/// A session's performance record.
#[derive(Debug, Deserialize)]
pub struct RecentSession {
    pub account_id: String,
    pub file_id: String,
    pub file_name: Option<String>,
    pub file_size: u64,
    pub status: String,
    pub created_at: u64,
    pub completed_at: Option<u64>,
    pub edges_used: String,
    /// JSON array of the edges that carried its parts (the plan is `edges_used`).
    pub edges_carried: String,
    pub part_count: u64,
    pub chunks_completed: u64,
    pub bytes_uploaded: u64,
    pub bytes_transferred: u64,
    pub duration_ms: Option<u64>,
    pub avg_speed_mbps: Option<f64>,
    pub estimated_seconds: Option<f64>,
    pub estimated_cost: Option<f64>,
    pub actual_cost: Option<f64>,
}

/// Operators' table: every account with its totals, largest first.
#[derive(Debug, Deserialize)]
pub struct AccountSummary {
    pub id: String,
    pub name: String,
    pub tier: String,
    pub uploads: u64,
    pub bytes: u64,
    pub avg_speed_mbps: Option<f64>,
    pub saved_bytes: u64,
}

pub trait AnalyticsStore: Database {
    /// Rows of `user_upload_stats` (one per account in scope).
    async fn upload_totals(&self, account: Option<&str>) -> Result<Vec<UploadTotals>> {
        self.query(stmt!(sql::upload_totals(account.is_none()), Param::from(account)))
            .await
    }

    async fn dedup_stats(&self, account: Option<&str>) -> Result<DedupStats> {
        let row = self
            .first(stmt!(sql::dedup_totals(account.is_none()), Param::from(account)))
            .await?;
        Ok(row.unwrap_or(DedupStats {
            duplicate_files: 0,
            saved_bytes: 0,
        }))
    }

    /// Parts per edge over 24 hours in scope, with the edges' shared health figures.
    async fn edge_shares(&self, account: Option<&str>) -> Result<Vec<EdgeShare>> {
        self.query(stmt!(sql::edge_shares(account.is_none()), Param::from(account)))
            .await
    }

    async fn recent_sessions(&self, account: Option<&str>, limit: u32) -> Result<Vec<RecentSession>> {
        self.query(stmt!(
            sql::recent_sessions(account.is_none(), limit),
            Param::from(account)
        ))
        .await
    }

    async fn account_summaries(&self, limit: u32) -> Result<Vec<AccountSummary>> {
        self.query(stmt!(sql::account_summaries(limit))).await
    }
}

impl<D: Database> AnalyticsStore for D {}
