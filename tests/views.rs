//! The schema on real SQLite (the engine under D1): every migration applied in order, a
//! hand-seeded set of sessions, parts, files and edge events, and the figures the triggers and
//! the seeds' views must give, computed by hand in the comments; and the finalize claim.

use jetty_shared::sql::{self, COMPLETE_SESSION, UPSERT_PART};
use rusqlite::{params, Connection, OptionalExtension};

const T: i64 = 1_700_000_000_000;
const MB: i64 = 1_000_000;

/// Applies the migrations whose file names sort before `until` (all with None), in order.
fn apply_migrations(db: &Connection, from: Option<&str>, until: Option<&str>) {
    for file in jetty_fleet_tests::migration_files() {
        let name = file.file_name().unwrap().to_str().unwrap().to_owned();
        if from.is_some_and(|f| name.as_str() < f) || until.is_some_and(|u| name.as_str() >= u) {
            continue;
        }
        let sql = std::fs::read_to_string(&file).expect("migration");
        db.execute_batch(&sql)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
}

fn migrated() -> Connection {
    let db = Connection::open_in_memory().expect("sqlite");
    apply_migrations(&db, None, None);
    for account in ["acc_a", "acc_b"] {
        db.execute(
            "INSERT INTO accounts (id, name, created_at) VALUES (?1, ?1, 0)",
            [account],
        )
        .expect("account");
    }
    db
}

/// A session as optimal-edges inserts it (price $0.10/GB).
fn session(db: &Connection, account: &str, id: &str, size: i64, parts: i64, created_at: i64) {
    db.execute(
        "INSERT INTO upload_sessions (account_id, id, file_id, file_name, content_type, file_hash, file_size, \
         part_size, part_count, threads, object_key, s3_upload_id, edges_used, status, created_at, expires_at, \
         estimated_seconds, estimated_cost, price_per_gb) \
         VALUES (?1, ?2, 'fil_' || ?2, ?2, 'application/octet-stream', 'ab', ?3, 64000000, ?4, 6, 'k/' || ?2, \
         'u', '[\"sfo\"]', 'active', ?5, ?5 + 86400000, 1.0, ROUND(?3 / 1e9 * 0.10, 4), 0.10)",
        params![account, id, size, parts, created_at],
    )
    .expect("session");
}

/// A part report, with the coordinator's own statement: a re-sent part replaces the record.
fn part(db: &Connection, session: &str, number: i64, size: i64, edge: &str) {
    db.execute(UPSERT_PART, params![session, number, size, "h", "e", edge, T])
        .expect("part");
}

/// Finalize with the coordinator's own statement; `put_bytes` were stored in one PutObject.
fn complete(db: &Connection, session: &str, at: i64, put_bytes: i64) {
    db.execute(
        COMPLETE_SESSION,
        params![session, at, put_bytes, i64::from(put_bytes > 0)],
    )
    .expect("complete");
}

fn seeded() -> Connection {
    let db = migrated();
    // s1: 100 MB in 2 parts, part 1 sent twice; started 1 s after creation, done 10 s later.
    session(&db, "acc_a", "s1", 100 * MB, 2, T);
    db.execute(
        "UPDATE upload_sessions SET started_at = ?1 WHERE id = 's1'",
        [T + 1_000],
    )
    .expect("start");
    part(&db, "s1", 1, 60 * MB, "sfo");
    part(&db, "s1", 2, 40 * MB, "lax");
    part(&db, "s1", 1, 60 * MB, "lax");
    complete(&db, "s1", T + 11_000, 0);
    // s2: 50 MB in one part, never "started": 25 s from creation.
    session(&db, "acc_a", "s2", 50 * MB, 1, T + 20_000);
    part(&db, "s2", 1, 50 * MB, "sfo");
    complete(&db, "s2", T + 45_000, 0);
    // s3: an empty file (no parts), 0.5 s.
    session(&db, "acc_a", "s3", 0, 0, T + 50_000);
    complete(&db, "s3", T + 50_500, 0);
    // s4 still active with one of three parts; s5 aborted: neither is a finished upload.
    session(&db, "acc_a", "s4", 30 * MB, 3, T + 60_000);
    part(&db, "s4", 1, 10 * MB, "sfo");
    session(&db, "acc_a", "s5", 20 * MB, 1, T + 70_000);
    db.execute(
        "UPDATE upload_sessions SET status = 'aborted', completed_at = ?1 WHERE id = 's5'",
        [T + 80_000],
    )
    .expect("abort");
    // acc_b, s6: a simple upload of 8 MB stored in one PutObject, 2 s.
    session(&db, "acc_b", "s6", 8 * MB, 1, T);
    complete(&db, "s6", T + 2_000, 8 * MB);
    // A second finalize of s1 changes nothing, nor does maintenance on its part records.
    complete(&db, "s1", T + 99_000, 0);
    db.execute(
        "UPDATE upload_parts SET edge_id = 'renamed' WHERE session_id = 's1'",
        [],
    )
    .expect("maintenance");
    db
}

#[derive(Debug, PartialEq)]
struct SessionFigures {
    chunks_completed: i64,
    bytes_uploaded: i64,
    bytes_transferred: i64,
    duration_ms: Option<i64>,
    avg_speed_mbps: Option<f64>,
    actual_cost: Option<f64>,
}

fn figures(db: &Connection, id: &str) -> SessionFigures {
    db.query_row(
        "SELECT chunks_completed, bytes_uploaded, bytes_transferred, duration_ms, avg_speed_mbps, actual_cost \
         FROM upload_sessions WHERE id = ?1",
        [id],
        |r| {
            Ok(SessionFigures {
                chunks_completed: r.get(0)?,
                bytes_uploaded: r.get(1)?,
                bytes_transferred: r.get(2)?,
                duration_ms: r.get(3)?,
                avg_speed_mbps: r.get(4)?,
                actual_cost: r.get(5)?,
            })
        },
    )
    .expect("session row")
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn sessions_record_progress_duration_speed_and_cost() {
    let db = seeded();
    let cases = [
        // 2 distinct parts; 60 + 40 + 60 MB moved; 10 s → 10 MB/s; 0.16 GB × $0.10.
        (
            "s1",
            SessionFigures {
                chunks_completed: 2,
                bytes_uploaded: 100 * MB,
                bytes_transferred: 160 * MB,
                duration_ms: Some(10_000),
                avg_speed_mbps: Some(10.0),
                actual_cost: Some(0.016),
            },
        ),
        // 50 MB over 25 s from creation → 2 MB/s; $0.005.
        (
            "s2",
            SessionFigures {
                chunks_completed: 1,
                bytes_uploaded: 50 * MB,
                bytes_transferred: 50 * MB,
                duration_ms: Some(25_000),
                avg_speed_mbps: Some(2.0),
                actual_cost: Some(0.005),
            },
        ),
        // Empty: no speed, nothing moved.
        (
            "s3",
            SessionFigures {
                chunks_completed: 0,
                bytes_uploaded: 0,
                bytes_transferred: 0,
                duration_ms: Some(500),
                avg_speed_mbps: None,
                actual_cost: Some(0.0),
            },
        ),
        // In progress: progress only.
        (
            "s4",
            SessionFigures {
                chunks_completed: 1,
                bytes_uploaded: 10 * MB,
                bytes_transferred: 10 * MB,
                duration_ms: None,
                avg_speed_mbps: None,
                actual_cost: None,
            },
        ),
        // One PutObject of 8 MB in 2 s → 4 MB/s; $0.0008.
        (
            "s6",
            SessionFigures {
                chunks_completed: 1,
                bytes_uploaded: 8 * MB,
                bytes_transferred: 8 * MB,
                duration_ms: Some(2_000),
                avg_speed_mbps: Some(4.0),
                actual_cost: Some(0.0008),
            },
        ),
    ];
    for (id, want) in cases {
        let got = figures(&db, id);
        assert_eq!(
            (
                got.chunks_completed,
                got.bytes_uploaded,
                got.bytes_transferred,
                got.duration_ms
            ),
            (
                want.chunks_completed,
                want.bytes_uploaded,
                want.bytes_transferred,
                want.duration_ms
            ),
            "{id}"
        );
        for (name, g, w) in [
            ("speed", got.avg_speed_mbps, want.avg_speed_mbps),
            ("cost", got.actual_cost, want.actual_cost),
        ] {
            match (g, w) {
                (Some(g), Some(w)) => assert!(close(g, w), "{id} {name}: {g} != {w}"),
                (g, w) => assert_eq!(g, w, "{id} {name}"),
            }
        }
    }
}

#[test]
fn a_start_reported_after_completion_gives_zero_duration_not_negative() {
    let db = seeded();
    session(&db, "acc_b", "late", 5 * MB, 1, T);
    part(&db, "late", 1, 5 * MB, "sfo");
    db.execute(
        "UPDATE upload_sessions SET started_at = ?1 WHERE id = 'late'",
        [T + 9_000],
    )
    .expect("late start");
    complete(&db, "late", T + 4_000, 0);
    let got = figures(&db, "late");
    assert_eq!(got.duration_ms, Some(0));
    // Counted as 1 ms: 5 MB / 0.001 s.
    assert!(close(got.avg_speed_mbps.expect("speed"), 5_000.0), "{got:?}");
}

#[test]
fn user_upload_stats_counts_only_finished_uploads_per_account() {
    let db = seeded();
    let row = |account: &str| {
        db.query_row(
            "SELECT uploads, bytes, bytes_transferred, chunks, avg_duration_seconds, timed_bytes, timed_seconds, \
             avg_speed_mbps, estimated_cost, actual_cost, last_upload_at FROM user_upload_stats WHERE account_id = ?1",
            [account],
            |r| {
                Ok((
                    (
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                    ),
                    (r.get::<_, f64>(4)?, r.get::<_, i64>(5)?, r.get::<_, f64>(6)?),
                    (r.get::<_, Option<f64>>(7)?, r.get::<_, f64>(8)?, r.get::<_, f64>(9)?),
                    r.get::<_, i64>(10)?,
                ))
            },
        )
        .optional()
        .expect("query")
    };
    // acc_a: s1, s2, s3 (s4 active, s5 aborted). 150 MB; 160 + 50 MB moved; 2 + 1 + 0 chunks;
    // durations 10, 25, 0.5 s → mean 11.8333 s; speed byte-weighted over non-empty uploads:
    // 150 MB / 35 s = 4.285714 MB/s (the mean of the per-session speeds would be 6).
    let (counts, timing, money, last) = row("acc_a").expect("acc_a row");
    assert_eq!(counts, (3, 150 * MB, 210 * MB, 3));
    assert!(close(timing.0, 35.5 / 3.0), "{timing:?}");
    assert_eq!(timing.1, 150 * MB);
    assert!(close(timing.2, 35.0), "{timing:?}");
    assert!(close(money.0.expect("speed"), 150.0 / 35.0), "{money:?}");
    // Estimated 0.01 + 0.005 + 0; actual 0.016 + 0.005 + 0.
    assert!(close(money.1, 0.015) && close(money.2, 0.021), "{money:?}");
    assert_eq!(last, T + 50_500);
    // acc_b sees only its own 8 MB.
    let (counts, _, money, _) = row("acc_b").expect("acc_b row");
    assert_eq!(counts, (1, 8 * MB, 8 * MB, 1));
    assert!(
        close(money.0.expect("speed"), 4.0) && close(money.2, 0.0008),
        "{money:?}"
    );
    // An account with no finished upload has no row.
    db.execute(
        "INSERT INTO accounts (id, name, created_at) VALUES ('acc_c', 'c', 0)",
        [],
    )
    .expect("account");
    assert!(row("acc_c").is_none());
}

#[test]
fn deduplication_savings_sums_clones_per_account() {
    let db = seeded();
    let file = |id: &str, account: &str, size: i64, from: Option<&str>| {
        db.execute(
            "INSERT INTO files (id, account_id, name, content_type, size, sha256, object_key, created_at, \
             deduplicated_from) VALUES (?1, ?2, ?1, 'application/octet-stream', ?3, 'h', 'k/' || ?1, 0, ?4)",
            params![id, account, size, from],
        )
        .expect("file");
    };
    file("f1", "acc_a", 100 * MB, None);
    file("f1-copy1", "acc_a", 100 * MB, Some("f1"));
    file("f1-copy2", "acc_a", 100 * MB, Some("f1"));
    file("f2", "acc_a", 5 * MB, None);
    file("g1", "acc_b", 7 * MB, None);
    let saved: Vec<(String, i64, i64)> = db
        .prepare("SELECT account_id, duplicate_files, saved_bytes FROM deduplication_savings ORDER BY account_id")
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    // Two clones of a 100 MB file; acc_b cloned nothing and has no row.
    assert_eq!(saved, vec![("acc_a".to_owned(), 2, 200 * MB)]);
}

#[test]
fn edge_performance_24h_aggregates_the_last_day_only() {
    let db = seeded();
    let now: i64 = db
        .query_row("SELECT CAST(strftime('%s', 'now') AS INTEGER) * 1000", [], |r| r.get(0))
        .expect("now");
    let event = |edge: &str, age_ms: i64, kind: &str, ok: bool, latency: Option<f64>, part: Option<(i64, f64, i64)>| {
        db.execute(
            "INSERT INTO edge_metrics (edge_id, recorded_at, kind, ok, latency_ms, bytes, duration_ms, inflight, reporter) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'coordinator')",
            params![
                edge,
                now - age_ms,
                kind,
                ok,
                latency,
                part.map(|p| p.0),
                part.map(|p| p.1),
                part.map(|p| p.2)
            ],
        )
        .expect("event");
    };
    let hour = 3_600_000;
    // sfo: two 50 MB parts forwarded in 1 s and 4 s with 2 and 4 in flight; probes of 20 and
    // 40 ms and one failed probe; a 25-hour-old part that must not count.
    event("sfo", hour, "part", true, None, Some((50 * MB, 1000.0, 2)));
    event("sfo", 2 * hour, "part", true, None, Some((50 * MB, 4000.0, 4)));
    event("sfo", hour, "probe", true, Some(20.0), None);
    event("sfo", hour, "probe", true, Some(40.0), None);
    event("sfo", hour, "probe", false, None, None);
    event("sfo", 25 * hour, "part", true, None, Some((900 * MB, 1.0, 9)));
    // lax: one probe.
    event("lax", hour, "probe", true, Some(10.0), None);
    type Row = (String, i64, i64, Option<f64>, Option<f64>, Option<f64>, i64, f64);
    let read = |table: &str| -> Vec<Row> {
        db.prepare(&format!(
            "SELECT edge_id, parts, bytes, throughput_mbps, latency_ms, avg_inflight, errors, error_rate \
             FROM {table} ORDER BY edge_id"
        ))
        .expect("prepare")
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
    };
    let rows = read("edge_performance_24h");
    assert_eq!(rows.len(), 2, "{rows:?}");
    let lax = &rows[0];
    assert_eq!((lax.0.as_str(), lax.1, lax.2, lax.3, lax.6), ("lax", 0, 0, None, 0));
    assert!(close(lax.4.expect("latency"), 10.0));
    let sfo = &rows[1];
    // 100 MB × 8 bits over 5 s of forwarding = 160 Mbit/s; latency (20 + 40) / 2; 1 error in 5.
    assert_eq!((sfo.0.as_str(), sfo.1, sfo.2, sfo.6), ("sfo", 2, 100 * MB, 1));
    assert!(close(sfo.3.expect("throughput"), 160.0), "{sfo:?}");
    assert!(close(sfo.4.expect("latency"), 30.0), "{sfo:?}");
    assert!(close(sfo.5.expect("inflight"), 3.0), "{sfo:?}");
    assert!(close(sfo.7, 0.2), "{sfo:?}");
    // The minute job's snapshot, which the stats read, holds the same figures.
    let [clear, fill] = sql::REFRESH_EDGE_SNAPSHOT;
    db.execute(clear, []).expect("clear");
    db.execute(fill, [now]).expect("fill");
    assert_eq!(read("edge_performance_snapshot"), rows);
}

#[test]
fn sessions_from_before_the_performance_migration_are_backfilled() {
    let db = Connection::open_in_memory().expect("sqlite");
    apply_migrations(&db, None, Some("0007"));
    db.execute(
        "INSERT INTO accounts (id, name, created_at) VALUES ('acc_a', 'a', 0)",
        [],
    )
    .expect("account");
    db.execute(
        "INSERT INTO upload_sessions (account_id, id, file_id, content_type, file_hash, file_size, part_size, \
         part_count, threads, object_key, s3_upload_id, edges_used, status, created_at, expires_at, completed_at) \
         VALUES ('acc_a', 'old', 'fil_old', 'x', 'ab', ?1, 64000000, 2, 6, 'k', 'u', '[]', 'completed', ?2, ?2, ?3)",
        params![80 * MB, T, T + 8_000],
    )
    .expect("old session");
    // Part 2 was reported twice before the migration.
    for (number, size, reports) in [(1, 50 * MB, 1), (2, 30 * MB, 2)] {
        db.execute(
            "INSERT INTO upload_parts (session_id, part_number, size, sha256, etag, edge_id, recorded_at, reports) \
             VALUES ('old', ?1, ?2, 'h', 'e', 'sfo', ?3, ?4)",
            params![number, size, T, reports],
        )
        .expect("old part");
    }
    apply_migrations(&db, Some("0007"), None);
    // 2 parts, 80 MB, 50 + 2 × 30 MB moved; 8 s → 10 MB/s; at the default $0.10/GB.
    let got = figures(&db, "old");
    assert_eq!(
        (
            got.chunks_completed,
            got.bytes_uploaded,
            got.bytes_transferred,
            got.duration_ms
        ),
        (2, 80 * MB, 110 * MB, Some(8_000))
    );
    assert!(close(got.avg_speed_mbps.expect("speed"), 10.0), "{got:?}");
    assert!(close(got.actual_cost.expect("cost"), 0.011), "{got:?}");
    // And it counts in the view like any other finished upload.
    let (uploads, bytes): (i64, i64) = db
        .query_row(
            "SELECT uploads, bytes FROM user_upload_stats WHERE account_id = 'acc_a'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("view row");
    assert_eq!((uploads, bytes), (1, 80 * MB));
}

/// The coordinator's analytics queries, as text, for one account (`?1` = its id) or all (`NULL`).
fn analytics_queries(every_account: bool) -> Vec<(&'static str, String)> {
    vec![
        ("upload_totals", sql::upload_totals(every_account)),
        ("dedup_totals", sql::dedup_totals(every_account)),
        ("edge_shares", sql::edge_shares(every_account)),
        ("recent_sessions", sql::recent_sessions(every_account, 20)),
    ]
}

/// A query-plan step that reads a whole big table: `SCAN s`/`SCAN p`/`SCAN f` (the aliases) or
/// the table names. Walking the `created_at` index for the newest sessions stops at the LIMIT.
fn reads_whole_table(step: &str) -> bool {
    let whole = ["s", "p", "f", "upload_sessions", "upload_parts", "files"]
        .iter()
        .any(|t| step == format!("SCAN {t}") || step.starts_with(&format!("SCAN {t} ")));
    whole && !step.contains("USING INDEX idx_upload_sessions_created")
}

/// On one account's path, every read of a big table goes by that account (or by a session of
/// it): sessions and files by `account_id`, parts by `session_id`.
fn reads_by_account(step: &str) -> bool {
    let on = |alias: &str| step.starts_with(&format!("SEARCH {alias} ")) || step.starts_with(&format!("SCAN {alias}"));
    if on("s") || on("f") {
        step.starts_with("SEARCH") && step.contains("account_id=?")
    } else if on("p") {
        step.starts_with("SEARCH") && step.contains("session_id=?")
    } else {
        true
    }
}

#[test]
fn analytics_queries_read_by_index_not_whole_tables() {
    let db = seeded();
    for every_account in [false, true] {
        let binding: Option<&str> = (!every_account).then_some("acc_a");
        for (name, query) in analytics_queries(every_account) {
            let plan: Vec<String> = db
                .prepare(&format!("EXPLAIN QUERY PLAN {query}"))
                .expect("prepare")
                .query_map([binding], |r| r.get::<_, String>(3))
                .expect("plan")
                .collect::<Result<_, _>>()
                .expect("rows");
            // One account's stats read only its rows. The operators' totals aggregate every
            // account by nature; their edge and newest-session tables read only what is recent.
            let allowed = every_account && matches!(name, "upload_totals" | "dedup_totals");
            assert!(
                allowed || !plan.iter().any(|step| reads_whole_table(step)),
                "{name} (every_account={every_account}): {plan:?}"
            );
            if !every_account {
                assert!(plan.iter().all(|step| reads_by_account(step)), "{name}: {plan:?}");
            }
            // One account's edge table skips its sessions that ended long before the last 24
            // hours (all accounts' goes by the parts' time instead).
            if name == "edge_shares" && !every_account {
                assert!(plan.iter().any(|step| step.contains("expires_at>?")), "{plan:?}");
            }
        }
    }
}

#[test]
fn the_coordinators_queries_read_the_seeded_figures_for_one_account_or_all() {
    let db = seeded();
    let now: i64 = db
        .query_row("SELECT CAST(strftime('%s', 'now') AS INTEGER) * 1000", [], |r| r.get(0))
        .expect("now");
    // Make s1's parts and s2's part recent and their sessions unexpired, as in a live fleet.
    db.execute("UPDATE upload_parts SET recorded_at = ?1", [now - 60_000])
        .expect("recent parts");
    db.execute("UPDATE upload_sessions SET expires_at = ?1", [now + 3_600_000])
        .expect("open");
    let rows = |query: &str, account: Option<&str>| -> Vec<Vec<rusqlite::types::Value>> {
        let mut stmt = db.prepare(query).expect("prepare");
        let width = stmt.column_count();
        stmt.query_map([account], |r| (0..width).map(|i| r.get(i)).collect())
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    };
    use rusqlite::types::Value::{Integer, Text};
    // Totals: one row for acc_a (3 uploads, 150 MB); for everyone, acc_a's and acc_b's rows.
    let a = rows(&sql::upload_totals(false), Some("acc_a"));
    assert_eq!((a.len(), &a[0][1], &a[0][2]), (1, &Integer(3), &Integer(150 * MB)));
    assert_eq!(rows(&sql::upload_totals(true), None).len(), 2);
    // Edge shares: acc_a's 4 part records (s1: 2 now on lax after the re-send and maintenance
    // rename, s2: 1 on sfo; s4: 1 on sfo) — "renamed" is the maintenance edit of s1's parts.
    let shares = rows(&sql::edge_shares(false), Some("acc_a"));
    let by_edge: Vec<(String, i64)> = shares
        .iter()
        .map(|r| match (&r[0], &r[1]) {
            (Text(edge), Integer(parts)) => (edge.clone(), *parts),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(by_edge, vec![("renamed".to_owned(), 2), ("sfo".to_owned(), 2)]);
    // acc_b's simple upload has no parts: no edge rows; everyone's equals acc_a's here.
    assert!(rows(&sql::edge_shares(false), Some("acc_b")).is_empty());
    assert_eq!(rows(&sql::edge_shares(true), None).len(), 2);
    // Newest first, only the account's own; the carried edges come from the part records.
    let recent = rows(&sql::recent_sessions(false, 20), Some("acc_a"));
    let ids: Vec<&rusqlite::types::Value> = recent.iter().map(|r| &r[1]).collect();
    assert_eq!(
        ids,
        ["fil_s5", "fil_s4", "fil_s3", "fil_s2", "fil_s1"]
            .map(|f| Text(f.to_owned()))
            .iter()
            .collect::<Vec<_>>()
    );
    assert_eq!(recent[4][8], Text(r#"["renamed"]"#.to_owned()));
    assert_eq!(rows(&sql::recent_sessions(true, 20), None).len(), 6);
    // Dedup: nothing cloned in this set.
    assert_eq!(rows(&sql::dedup_totals(false), Some("acc_a"))[0][0], Integer(0));
}

fn claim(db: &Connection, id: &str, now: i64, until: i64) -> bool {
    db.execute(sql::CLAIM_FINALIZE, params![id, now, until]).expect("claim") == 1
}

#[test]
fn one_finalize_claim_at_a_time_until_it_lapses_or_is_given_back() {
    let db = migrated();
    session(&db, "acc_a", "s1", 10 * MB, 1, T);
    assert!(
        claim(&db, "s1", T, T + 120_000),
        "an unclaimed active session can be claimed"
    );
    assert!(!claim(&db, "s1", T + 1, T + 120_001), "a live claim excludes others");
    assert!(!claim(&db, "s1", T + 119_999, T + 239_999));
    assert!(
        claim(&db, "s1", T + 120_000, T + 240_000),
        "a lapsed claim can be taken over"
    );

    // Giving back needs the holder's own claim: the lapsed holder's release changes nothing.
    assert_eq!(
        db.execute(sql::RELEASE_FINALIZE, params!["s1", T + 120_000]).unwrap(),
        0
    );
    assert!(!claim(&db, "s1", T + 120_001, T + 240_001));
    assert_eq!(
        db.execute(sql::RELEASE_FINALIZE, params!["s1", T + 240_000]).unwrap(),
        1
    );
    assert!(
        claim(&db, "s1", T + 120_002, T + 240_002),
        "a given-back claim is free at once"
    );

    // Completed or aborted sessions are never claimed.
    part(&db, "s1", 1, 10 * MB, "sfo");
    complete(&db, "s1", T + 130_000, 0);
    assert!(!claim(&db, "s1", T + 500_000, T + 620_000));
    session(&db, "acc_a", "s2", MB, 1, T);
    db.execute("UPDATE upload_sessions SET status = 'aborted' WHERE id = 's2'", [])
        .unwrap();
    assert!(!claim(&db, "s2", T, T + 120_000));
}
