//! The CLI hashes files through memory maps: a file another process shortens while it is being
//! hashed must end the run with a message and exit code 74, not a crash (SIGBUS).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn a_file_shortened_while_it_is_hashed_ends_the_cli_with_a_message_not_a_crash() {
    // Removed, with the gigabyte below, when the guard drops.
    let dir = tempfile::Builder::new()
        .prefix("jetty-changed-file-")
        .tempdir()
        .unwrap();
    let path = dir.path().join("big.bin");
    // 1 GiB: hashing it takes long enough to be caught in the middle.
    let mut file = std::fs::File::create(&path).unwrap();
    let block: Vec<u8> = (0..(8 << 20)).map(|i| (i * 7 % 251) as u8).collect();
    for _ in 0..128 {
        file.write_all(&block).unwrap();
    }
    file.sync_all().unwrap();
    drop(file);

    // The parts are hashed while the coordinator is asked (a file this large is named after its
    // session opens), and the URL answers nothing, so no fleet is needed: the hashing pass runs
    // while the unreachable coordinator is retried.
    let child = Command::new(env!("CARGO_BIN_EXE_jetty"))
        .args([
            "--url",
            "http://127.0.0.1:9",
            "--api-key",
            "jsk_test",
            "upload",
            "--no-resume",
        ])
        .arg(&path)
        .env("JETTY_STATE_DIR", dir.path().join("state"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start jetty");
    // Shorten the file once jetty has it mapped (the kernel lists the map in /proc/PID/maps).
    let maps = format!("/proc/{}/maps", child.id());
    let name = path.to_string_lossy().into_owned();
    let mapped = (0..2000).any(|_| {
        std::thread::sleep(Duration::from_millis(5));
        std::fs::read_to_string(&maps).is_ok_and(|m| m.contains(&name))
    });
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    let out = child.wait_with_output().expect("wait for jetty");
    assert!(
        mapped,
        "jetty never mapped the file; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(74),
        "exit status {:?}, stderr: {stderr}",
        out.status
    );
    assert!(
        stderr.contains("the file got shorter while jetty was reading it"),
        "stderr: {stderr}"
    );
}
