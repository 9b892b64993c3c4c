//! Analytics on the local fleet: `/api/jetty/stats` reflects real uploads (counts, bytes, dedup
//! savings, edge shares, recent sessions) and never shows another account's numbers.

use jetty_fleet_tests::*;
use jetty_shared::plan::MIB;
use serde_json::Value;

async fn stats(fleet: &Fleet, key: &str) -> Value {
    let resp = reqwest::Client::new()
        .get(format!("{}/api/jetty/stats", fleet.coordinator))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn stats_reflect_the_accounts_own_uploads_and_dedup_only() {
    let fleet = Fleet::get();
    let key = provision_account(&fleet, "pro").await;
    let other = provision_account(&fleet, "pro").await;
    let (a, _) = random_file(3 * MIB);
    let (b, _) = random_file(6 * MIB);
    for file in [&a, &b] {
        let out = fleet
            .jetty_command_as(
                &key,
                &fresh_dir(),
                &["upload", file.to_str().unwrap(), "--part-size-mib", "5"],
            )
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    }
    let copy = a.with_extension("copy");
    std::fs::copy(&a, &copy).unwrap();
    let out = fleet
        .jetty_command_as(&key, &fresh_dir(), &["upload", copy.to_str().unwrap()])
        .output()
        .unwrap();
    let dup: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(dup["duplicate"], true);

    let st = stats(&fleet, &key).await;
    assert_eq!(st["uploads"], 2, "{st}");
    assert_eq!(st["bytes"], 9 * MIB);
    assert!(st["avgSpeedMbps"].as_f64().unwrap() > 0.0);
    assert_eq!(st["dedup"]["files"], 1);
    assert_eq!(st["dedup"]["savedBytes"], 3 * MIB);
    assert!(st["dedup"]["savedCost"].as_f64().unwrap() > 0.0);
    let edges = st["edges"].as_array().unwrap();
    let parts: u64 = edges.iter().map(|e| e["parts"].as_u64().unwrap()).sum();
    assert_eq!(parts, 1 + 2, "3 MiB in one part, 6 MiB in two: {st}");
    let share: f64 = edges.iter().map(|e| e["share"].as_f64().unwrap()).sum();
    assert!((share - 1.0).abs() < 1e-9);
    assert_eq!(st["recentSessions"].as_array().unwrap().len(), 2);

    // The other account's stats are empty; the CLI prints the same numbers.
    let empty = stats(&fleet, &other).await;
    assert_eq!(
        (empty["uploads"].as_u64(), empty["bytes"].as_u64()),
        (Some(0), Some(0)),
        "{empty}"
    );
    assert!(empty["edges"].as_array().unwrap().is_empty() && empty["recentSessions"].as_array().unwrap().is_empty());
    let out = fleet.jetty_command_as(&key, &fresh_dir(), &["stats"]).output().unwrap();
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (cli["uploads"].clone(), cli["bytes"].clone()),
        (st["uploads"].clone(), st["bytes"].clone())
    );
}
