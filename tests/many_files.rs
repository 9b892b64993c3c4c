//! `jetty upload DIR` on the local fleet: every file of a nested directory its own upload, one
//! JSON line per file and a summary, each object read back with `aws s3 cp`; run again, every
//! file is answered as a duplicate.

use jetty_fleet_tests::*;
use jetty_shared::plan::MIB;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Writes `size` random bytes at `dir/rel`; returns the file's hex SHA-256.
fn put(dir: &Path, rel: &str, size: u64) -> String {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let data = random_bytes(size);
    std::fs::write(&path, &data).unwrap();
    jetty_shared::hash::Sha256Digest::of(&data).to_hex()
}

/// Runs `jetty --json upload DIR …`; returns (exit code, the per-file lines by path, the
/// summary, stderr).
fn upload_dir(fleet: &Fleet, state_dir: &Path, dir: &Path) -> (i32, BTreeMap<PathBuf, Value>, Value, String) {
    let out = fleet
        .jetty_command(
            state_dir,
            &[
                "upload",
                dir.to_str().unwrap(),
                "--part-size-mib",
                "5",
                "--files",
                "2",
                "-j",
                "4",
            ],
        )
        .output()
        .expect("run jetty");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines: Vec<Value> = stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}\n{stdout}")))
        .collect();
    let (summary, files) = lines
        .split_last()
        .unwrap_or_else(|| panic!("no output; stderr: {stderr}"));
    assert!(summary["summary"].is_object(), "the last line is the summary: {stdout}");
    let mut by_path = BTreeMap::new();
    for line in files {
        let path = PathBuf::from(line["path"].as_str().unwrap_or_else(|| panic!("no path: {line}")));
        assert!(
            by_path.insert(path, line.clone()).is_none(),
            "a file reported twice: {stdout}"
        );
    }
    (
        out.status.code().unwrap_or(-1),
        by_path,
        summary["summary"].clone(),
        stderr,
    )
}

#[test]
fn a_directory_uploads_file_by_file_and_a_second_run_is_all_duplicates() {
    let fleet = Fleet::get();
    let scratch = fresh_dir();
    let dir = scratch.join("tree");
    let mut files: BTreeMap<PathBuf, (u64, String)> = BTreeMap::new();
    for (rel, size) in [
        ("top.bin", 1),
        ("empty.bin", 0),
        ("a/small.bin", 100_000),
        ("a/b/big.bin", 12 * MIB),
        ("a/b/c/odd.bin", 5 * MIB + 1),
    ] {
        let sha = put(&dir, rel, size);
        files.insert(dir.join(rel), (size, sha));
    }
    std::fs::create_dir_all(dir.join("a/nothing/here")).unwrap();
    // A symbolic link inside the directory is not followed: reported as skipped, not uploaded.
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.join("top.bin"), dir.join("a/link.bin")).unwrap();
    let total: u64 = files.values().map(|(size, _)| size).sum();

    let state_dir = fresh_dir();
    let (code, lines, summary, stderr) = upload_dir(&fleet, &state_dir, &dir);
    assert_eq!(code, 0, "{lines:#?}\n{summary}\n{stderr}");
    assert_eq!(
        lines.keys().collect::<Vec<_>>(),
        files.keys().collect::<Vec<_>>(),
        "one line per file"
    );
    let mut first_ids = BTreeMap::new();
    for (path, (size, sha)) in &files {
        let line = &lines[path];
        assert_eq!(line["status"], "ok", "{line}");
        assert_eq!(line["size"], *size, "{line}");
        assert_eq!(line["sha256"], format!("sha256:{sha}"), "{line}");
        let id = line["fileId"].as_str().unwrap_or_else(|| panic!("no fileId: {line}"));
        assert!(line["url"].as_str().is_some_and(|u| u.contains(id)), "{line}");
        if line["duplicate"] == true {
            // Only the empty file can already be stored on a long-lived fleet; its line
            // still names this content.
            assert_eq!(*size, 0, "{line}");
            continue;
        }
        assert_eq!(
            fleet.s3_object_sha256(&dev_object_key(id)),
            *sha,
            "the object of {} differs",
            path.display()
        );
        first_ids.insert(path.clone(), id.to_owned());
    }
    assert_eq!(summary["files"], 5, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    assert_eq!(summary["skipped"], 1, "{summary}");
    assert_eq!(
        summary["uploaded"].as_u64().unwrap() + summary["duplicates"].as_u64().unwrap(),
        5,
        "{summary}"
    );
    assert_eq!(summary["bytes"], total, "{summary}");
    assert_eq!(summary["exitCode"], 0, "{summary}");
    #[cfg(unix)]
    assert!(
        stderr.contains("link.bin") && stderr.contains("not followed"),
        "the skipped link is reported: {stderr}"
    );
    assert!(
        std::fs::read_dir(&state_dir).map_or(true, |mut d| d.next().is_none()),
        "no local record is left once every file is done"
    );

    // Again, from a fresh state dir: every file is already stored, nothing is sent.
    let (code, lines, summary, stderr) = upload_dir(&fleet, &fresh_dir(), &dir);
    assert_eq!(code, 0, "{lines:#?}\n{summary}\n{stderr}");
    assert_eq!(lines.len(), 5, "{lines:#?}");
    for (path, (size, sha)) in &files {
        let line = &lines[path];
        assert_eq!(line["status"], "ok", "{line}");
        assert_eq!(line["duplicate"], true, "{line}");
        assert_eq!(line["size"], *size, "{line}");
        assert_eq!(line["sha256"], format!("sha256:{sha}"), "{line}");
        // A duplicate is a new file record on the stored object (a zero-byte clone).
        if let Some(id) = first_ids.get(path) {
            assert!(line["fileId"].is_string() && line["fileId"] != id.as_str(), "{line}");
        }
    }
    assert_eq!(summary["duplicates"], 5, "{summary}");
    assert_eq!(summary["uploaded"], 0, "{summary}");
    assert_eq!(summary["bytesSent"], 0, "{summary}");
    assert_eq!(summary["bytesDeduplicated"], total, "{summary}");
}

#[test]
fn a_file_that_fails_does_not_stop_the_others_and_sets_the_exit_code() {
    let fleet = Fleet::get();
    let dir = fresh_dir();
    let good = dir.join("good.bin");
    let (size, sha) = (MIB + 7, put(&dir, "good.bin", MIB + 7));
    let missing = dir.join("missing.bin");
    let out = fleet
        .jetty_command(
            &fresh_dir(),
            &["upload", missing.to_str().unwrap(), good.to_str().unwrap()],
        )
        .output()
        .expect("run jetty");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    // A path that cannot be read is a failed file (local I/O: exit code 1).
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let failed = lines.iter().find(|l| l["path"] == missing.to_str().unwrap()).unwrap();
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["error"]["code"], "io_error", "{failed}");
    let ok = lines.iter().find(|l| l["path"] == good.to_str().unwrap()).unwrap();
    assert_eq!(ok["status"], "ok", "{ok}");
    assert_eq!(ok["size"], size, "{ok}");
    let id = ok["fileId"].as_str().unwrap();
    assert_eq!(fleet.s3_object_sha256(&dev_object_key(id)), sha);
    let summary = &lines[2]["summary"];
    assert_eq!(summary["files"], 2, "{summary}");
    assert_eq!(summary["uploaded"], 1, "{summary}");
    assert_eq!(summary["failed"], 1, "{summary}");
    assert_eq!(summary["exitCode"], 1, "{summary}");
}
