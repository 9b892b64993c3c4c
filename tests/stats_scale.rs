//! How `/api/jetty/stats` scales with the database: the coordinator's own analytics queries
//! (`jetty_shared::sql`) on SQLite — the engine under D1 — with every migration applied, seeded
//! with N sessions over M accounts through the coordinator's own part and completion statements.
//! The peer is the same database and the same query texts without migration 0008's indexes (the
//! seeds' views as written). Prints the median of R runs of each query, per account and for
//! all accounts, and the ratio. Run with `scripts/bench-stats.sh` (release build).
//!
//!   cargo run --release -p jetty-fleet-tests --example stats_scale -- [SESSIONS] [ACCOUNTS] [RUNS]

use jetty_shared::sql::{self, COMPLETE_SESSION, UPSERT_PART};
use rusqlite::{params, Connection};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const MB: i64 = 1_000_000;
const HOUR_MS: i64 = 3_600_000;
const EDGES: [&str; 6] = ["sfo-1", "lax-1", "nyc-1", "fra-1", "sin-1", "syd-1"];
/// The indexes migration 0008 adds for the analytics reads.
const ANALYTICS_INDEXES: [&str; 4] = [
    "idx_upload_sessions_account_status",
    "idx_upload_sessions_account_expiry",
    "idx_upload_sessions_created",
    "idx_upload_parts_recorded",
];

fn arg(n: usize, default: usize) -> usize {
    std::env::args()
        .nth(n)
        .map(|a| a.parse().expect("arguments are numbers: SESSIONS ACCOUNTS RUNS"))
        .unwrap_or(default)
}

fn migrated() -> Connection {
    let db = Connection::open_in_memory().expect("sqlite");
    for file in jetty_fleet_tests::migration_files() {
        let text = std::fs::read_to_string(&file).expect("migration");
        db.execute_batch(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
    db
}

/// Sessions spread over the last 30 days (newest first), 1–8 parts of 8 MB across six edges;
/// 90 % completed (5 % of those with a deduplicated copy), 5 % still active, 5 % aborted.
/// Edges are probed every minute; every part of the last day is in the edge metrics.
fn seed(db: &mut Connection, sessions: usize, accounts: usize, now: i64) {
    let tx = db.transaction().expect("transaction");
    for a in 0..accounts {
        tx.execute(
            "INSERT INTO accounts (id, name, created_at) VALUES (?1, ?1, 0)",
            [format!("acc_{a:05}")],
        )
        .expect("account");
    }
    let span = 30 * 24 * HOUR_MS;
    for i in 0..sessions {
        let (id, account) = (format!("ses_{i:07}"), format!("acc_{:05}", i % accounts));
        let created = now - span * i as i64 / sessions as i64;
        let parts = 1 + (i % 8) as i64;
        let size = parts * 8 * MB - (i % 1000) as i64;
        tx.execute(
            "INSERT INTO upload_sessions (account_id, id, file_id, file_name, content_type, file_hash, file_size, \
             part_size, part_count, threads, object_key, s3_upload_id, edges_used, status, created_at, expires_at, \
             estimated_seconds, estimated_cost, price_per_gb) \
             VALUES (?1, ?2, 'fil_' || ?2, ?2, 'application/octet-stream', ?2, ?3, 8000000, ?4, 6, 'k/' || ?2, \
             'u', '[\"sfo-1\"]', 'active', ?5, ?5 + 86400000, 1.0, ROUND(?3 / 1e9 * 0.10, 4), 0.10)",
            params![account, id, size, parts, created],
        )
        .expect("session");
        if i % 20 == 1 {
            continue; // still active, no parts yet
        }
        for n in 1..=parts {
            let bytes = if n < parts { 8 * MB } else { size - (parts - 1) * 8 * MB };
            let edge = EDGES[(i + n as usize) % EDGES.len()];
            let at = created + n * 1000;
            tx.execute(UPSERT_PART, params![id, n, bytes, "h", "e", edge, at])
                .expect("part");
            if at > now - 24 * HOUR_MS {
                tx.execute(
                    "INSERT INTO edge_metrics (edge_id, recorded_at, kind, ok, bytes, duration_ms, inflight, reporter) \
                     VALUES (?1, ?2, 'part', 1, ?3, 400.0, 4, 'edge')",
                    params![edge, at, bytes],
                )
                .expect("part metric");
            }
        }
        if i % 20 == 2 {
            tx.execute("UPDATE upload_sessions SET status = 'aborted' WHERE id = ?1", [&id])
                .expect("abort");
            continue;
        }
        tx.execute(COMPLETE_SESSION, params![id, created + parts * 2000, 0, 0])
            .expect("complete");
        tx.execute(
            "INSERT INTO files (id, account_id, session_id, name, content_type, size, sha256, object_key, created_at) \
             VALUES ('fil_' || ?1, ?2, ?1, ?1, 'application/octet-stream', ?3, ?1, 'k/' || ?1, ?4)",
            params![id, account, size, created],
        )
        .expect("file");
        if i % 20 == 3 {
            tx.execute(
                "INSERT INTO files (id, account_id, name, content_type, size, sha256, object_key, created_at, \
                 deduplicated_from) VALUES ('dup_' || ?1, ?2, ?1, 'application/octet-stream', ?3, ?1, 'k/' || ?1, ?4, \
                 'fil_' || ?1)",
                params![id, account, size, created],
            )
            .expect("clone");
        }
    }
    for minute in 0..24 * 60 {
        for edge in EDGES {
            tx.execute(
                "INSERT INTO edge_metrics (edge_id, recorded_at, kind, ok, latency_ms, reporter) \
                 VALUES (?1, ?2, 'probe', 1, 20.0, 'coordinator')",
                params![edge, now - minute * 60_000],
            )
            .expect("probe");
        }
    }
    for statement in sql::REFRESH_EDGE_SNAPSHOT {
        if statement.contains("?1") {
            tx.execute(statement, [now]).expect("snapshot");
        } else {
            tx.execute(statement, []).expect("snapshot");
        }
    }
    tx.commit().expect("commit");
}

/// The queries one stats request runs, as the coordinator builds them.
fn stats_queries(every_account: bool) -> Vec<(&'static str, String)> {
    let mut queries = vec![
        ("upload_totals", sql::upload_totals(every_account)),
        ("dedup_totals", sql::dedup_totals(every_account)),
        ("edge_shares", sql::edge_shares(every_account)),
        ("recent_sessions", sql::recent_sessions(every_account, 20)),
    ];
    if every_account {
        queries.push(("account_summaries", sql::account_summaries(50)));
    }
    queries
}

/// Median time of `runs` executions, reading every row; each run asks for another account.
fn median_time(db: &Connection, query: &str, every_account: bool, accounts: usize, runs: usize) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|run| {
            let account = format!("acc_{:05}", (run * 7919) % accounts);
            let started = Instant::now();
            let mut statement = db.prepare(query).expect("prepare");
            let mut rows = if query.contains("?1") {
                let binding: Option<&str> = (!every_account).then_some(account.as_str());
                statement.query([binding]).expect("query")
            } else {
                statement.query([]).expect("query")
            };
            while rows.next().expect("row").is_some() {}
            started.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let (sessions, accounts, runs) = (arg(1, 100_000), arg(2, 1_000), arg(3, 15));
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as i64;
    let mut db = migrated();
    let started = Instant::now();
    seed(&mut db, sessions, accounts, now);
    let count = |table: &str| -> i64 {
        db.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .expect("count")
    };
    println!(
        "seeded {} sessions, {} parts, {} files, {} edge metrics over {accounts} accounts in {:.1} s",
        count("upload_sessions"),
        count("upload_parts"),
        count("files"),
        count("edge_metrics"),
        started.elapsed().as_secs_f64()
    );

    let mut with_indexes = Vec::new();
    for every_account in [false, true] {
        for (name, query) in stats_queries(every_account) {
            with_indexes.push((
                name,
                every_account,
                query.clone(),
                median_time(&db, &query, every_account, accounts, runs),
            ));
        }
    }
    for index in ANALYTICS_INDEXES {
        db.execute_batch(&format!("DROP INDEX {index}")).expect("drop index");
    }
    println!("median of {runs} runs; peer = the same queries without migration 0008's indexes");
    println!(
        "{:<18} {:<8} {:>12} {:>12} {:>8}",
        "query", "scope", "jetty ms", "peer ms", "ratio"
    );
    let (mut request_account, mut peer_account) = (0.0, 0.0);
    for (name, every_account, query, ours) in with_indexes {
        let peer = median_time(&db, &query, every_account, accounts, runs);
        let scope = if every_account { "all" } else { "account" };
        println!(
            "{name:<18} {scope:<8} {:>12.3} {:>12.3} {:>7.1}x",
            ms(ours),
            ms(peer),
            ms(peer) / ms(ours).max(1e-6)
        );
        if !every_account {
            request_account += ms(ours);
            peer_account += ms(peer);
        }
    }
    println!(
        "one account's stats request (sum of its queries): {request_account:.3} ms vs {peer_account:.3} ms without the indexes ({:.1}x)",
        peer_account / request_account.max(1e-6)
    );
}
