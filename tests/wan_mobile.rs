//! One upload over the emulated `mobile` last mile (bench/wan's `jetty-wan`, profile
//! `bench/wan/profiles/mobile.toml`: 30 ms RTT, 1 % burst loss, 50 Mbit/s), end to end.
//!
//! The emulator creates the namespaces `ft-client`, `ft-edge` and `ft-origin`. The test fleet
//! stays where it runs (the root namespace, 127.0.0.1), so the edges → store leg is loopback;
//! only the client's last mile is emulated. The CLI runs in `ft-client` and talks to
//! 127.0.0.1:P there, as the coordinator's URLs say; two relays per port carry each connection
//! across the emulated link and back to the fleet:
//!
//! ```text
//! jetty (ft-client) → 127.0.0.1:P (relay, ft-client) ══ client→edge link ══> 10.77.2.1:P
//!   (relay, listening in ft-edge) → 127.0.0.1:P (root namespace: the edge's fault proxy or
//!   the coordinator)
//! ```
//!
//! A socket keeps the namespace it was created in, so each relay thread enters its namespace
//! (`setns`) before it creates its sockets. Needs root and `/dev/net/tun`; skipped, saying so,
//! without them.

use jetty_fleet_tests::*;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Namespace prefix of this test's topology (the bench uses `wb-`, the self-test `wst-`).
const PREFIX: &str = "ft-";
/// The edge node's address in every built-in profile (bench/wan/README.md, "Topology").
const EDGE_ADDR: &str = "10.77.2.1";
/// The `mobile` profile's access link, client → edge (bench/wan/profiles/mobile.toml).
const ACCESS_MBIT: f64 = 50.0;
const FILE_SIZE: u64 = 16 * 1024 * 1024;
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(120);

fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// The running emulator; stopped (SIGTERM, then `jetty-wan down`) when dropped, also when the
/// test panics, so no `ft-` namespace outlives the test.
struct Emulator {
    child: Option<Child>,
    bin: PathBuf,
    profile: PathBuf,
    log: PathBuf,
}

impl Emulator {
    fn start(bin: &Path, profile: &Path, dir: &Path) -> Emulator {
        // Namespaces an earlier, killed run may have left.
        down(bin, profile);
        let log = dir.join("wan.log");
        let ready = dir.join("wan.ready");
        let out = File::create(&log).expect("create the emulator's log file");
        let err = out.try_clone().expect("clone the emulator's log file");
        let child = stopped_with_test(&mut Command::new(bin), libc::SIGTERM)
            .args(["up", "--profile"])
            .arg(profile)
            .args(["--cc", "cubic", "--prefix", PREFIX, "--ready-file"])
            .arg(&ready)
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start the WAN emulator {} ({e}): build it with `cargo build --release -p jetty-wan` \
                     (scripts/test.sh does) or point JETTY_WAN_BIN at it",
                    bin.display()
                )
            });
        let mut emulator = Emulator {
            child: Some(child),
            bin: bin.to_owned(),
            profile: profile.to_owned(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready.exists() {
            let child = emulator.child.as_mut().expect("the emulator's child");
            if let Some(status) = child.try_wait().expect("wait for the emulator") {
                emulator.child = None;
                panic!(
                    "the WAN emulator exited during setup ({status}); its output:\n{}",
                    emulator.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the WAN emulator was not ready after 60 s; its output so far:\n{}",
                emulator.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        emulator
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops forwarding (SIGTERM; SIGKILL after 30 s), removes whatever namespaces are left and
    /// returns the emulator's output, which ends with its per-link counts.
    fn stop(&mut self) -> String {
        if let Some(mut child) = self.child.take() {
            // SAFETY: sends a signal to our own child, which has not been reaped yet.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                    _ => {
                        eprintln!("wan_mobile: the emulator ignored SIGTERM for 30 s; killing it");
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
        }
        down(&self.bin, &self.profile);
        self.output()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if self.child.is_some() {
            let output = self.stop();
            if std::thread::panicking() {
                eprintln!("wan_mobile: the emulator's output:\n{output}");
            }
        }
    }
}

/// Has the kernel send `signal` to the child when the thread that starts it ends, so a test
/// killed outright (SIGKILL, a harness timeout) leaves no emulator forwarding (on SIGTERM it
/// removes its namespaces) and no upload running. The test's thread outlives both children
/// otherwise.
fn stopped_with_test(cmd: &mut Command, signal: libc::c_int) -> &mut Command {
    // SAFETY: only prctl, which is async-signal-safe, runs between fork and exec; the setting
    // survives exec (neither `ip` nor `jetty-wan` is set-user-ID).
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// `jetty-wan down`: removes this test's namespaces where they exist.
fn down(bin: &Path, profile: &Path) {
    match Command::new(bin)
        .args(["down", "--profile"])
        .arg(profile)
        .args(["--prefix", PREFIX])
        .output()
    {
        Ok(out) if out.status.success() => {}
        Ok(out) => eprintln!(
            "wan_mobile: `jetty-wan down` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => eprintln!("wan_mobile: cannot run {} down: {e}", bin.display()),
    }
}

/// Moves the calling thread into the network namespace `ns` (an open namespace file).
fn enter(ns: &File, what: &str) {
    // SAFETY: setns on a valid, open namespace file descriptor; affects only this thread.
    let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns into {what} failed: {}", std::io::Error::last_os_error());
}

fn open_namespace(name: &str) -> File {
    // Where `ip netns add` mounts it (iproute2's NETNS_RUN_DIR).
    let path = format!("/var/run/netns/{name}");
    File::open(&path).unwrap_or_else(|e| panic!("open the network namespace {path}: {e}"))
}

/// The relays of every port; their listeners are shut down (waking their accept loops) and
/// their threads joined when dropped. Connections still open end with the test process.
struct Relays {
    stop: Arc<AtomicBool>,
    listeners: Vec<Arc<TcpListener>>,
    threads: Vec<JoinHandle<()>>,
}

impl Relays {
    fn new() -> Relays {
        Relays {
            stop: Arc::new(AtomicBool::new(false)),
            listeners: Vec::new(),
            threads: Vec::new(),
        }
    }

    /// Listens on `listen` inside namespace `listen_ns`; connects each accepted connection to
    /// `target` from namespace `connect_ns` (None: the root namespace) and copies both ways.
    fn add(&mut self, listen_ns: &str, listen: SocketAddr, connect_ns: Option<&str>, target: SocketAddr) {
        let listen_file = open_namespace(listen_ns);
        let connect_file = connect_ns.map(open_namespace);
        let stop = self.stop.clone();
        let what = format!("{listen_ns} {listen} → {} {target}", connect_ns.unwrap_or("root"));
        let (tx, rx) = mpsc::channel::<Result<Arc<TcpListener>, String>>();
        let thread = std::thread::spawn(move || {
            let bound = std::panic::catch_unwind(|| {
                let root = File::open("/proc/thread-self/ns/net").expect("open this thread's network namespace");
                enter(&listen_file, "the listening namespace");
                let listener = TcpListener::bind(listen).unwrap_or_else(|e| panic!("bind {listen}: {e}"));
                // The connecting sockets are created by threads this one starts, which inherit
                // its namespace.
                enter(connect_file.as_ref().unwrap_or(&root), "the connecting namespace");
                Arc::new(listener)
            });
            let listener = match bound {
                Ok(l) => l,
                Err(e) => {
                    let message = e
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    let _ = tx.send(Err(message));
                    return;
                }
            };
            let _ = tx.send(Ok(listener.clone()));
            for conn in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                match conn {
                    Ok(inbound) => {
                        std::thread::spawn(move || {
                            match TcpStream::connect_timeout(&target, Duration::from_secs(20)) {
                                Ok(outbound) => pipe(inbound, outbound),
                                Err(e) => eprintln!("wan_mobile relay: connect to {target} failed: {e}"),
                            }
                        });
                    }
                    Err(e) => {
                        eprintln!("wan_mobile relay {listen}: accept failed: {e}");
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
            }
        });
        match rx.recv() {
            Ok(Ok(listener)) => self.listeners.push(listener),
            Ok(Err(message)) => panic!("relay {what}: {message}"),
            Err(_) => panic!("relay {what}: its thread ended before listening"),
        }
        self.threads.push(thread);
    }
}

impl Drop for Relays {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for listener in &self.listeners {
            // SAFETY: shutdown on a socket this struct keeps open; on a listening socket it
            // makes a blocked accept return.
            unsafe { libc::shutdown(listener.as_raw_fd(), libc::SHUT_RDWR) };
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Copies both ways until each side has finished sending; an error closes both.
fn pipe(a: TcpStream, b: TcpStream) {
    let _ = a.set_nodelay(true);
    let _ = b.set_nodelay(true);
    let (a2, b2) = match (a.try_clone(), b.try_clone()) {
        (Ok(a2), Ok(b2)) => (a2, b2),
        _ => return,
    };
    let back = std::thread::spawn(move || copy_half(b2, a2));
    copy_half(a, b);
    let _ = back.join();
}

fn copy_half(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// One link direction's counts from the emulator's closing report.
struct LinkCounts {
    packets_in: u64,
    bytes_in: u64,
    queue_drops: u64,
    lost: u64,
    out: u64,
}

/// Parses the report line of `direction` (e.g. `client→edge`):
/// `  client→edge in 12000 pkts 17000000 B, queue drops 0, lost 120 (1.000 % …), out 11880`.
fn link_counts(report: &str, direction: &str) -> Option<LinkCounts> {
    let line = report
        .lines()
        .find(|l| l.split_whitespace().next() == Some(direction))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let after = |word: &str| -> Option<u64> {
        let i = words.iter().position(|w| *w == word)?;
        words.get(i + 1)?.trim_end_matches(',').parse().ok()
    };
    Some(LinkCounts {
        packets_in: after("in")?,
        bytes_in: words.get(4)?.parse().ok()?,
        queue_drops: after("drops")?,
        lost: after("lost")?,
        out: after("out")?,
    })
}

impl std::fmt::Display for LinkCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "{} packets in ({} B), {} queue drops, {} lost, {} out",
            self.packets_in, self.bytes_in, self.queue_drops, self.lost, self.out
        )
    }
}

/// The port of a fleet URL, which must be on 127.0.0.1: the relays stand in for that address
/// inside the client namespace.
fn loopback_port(url: &str) -> u16 {
    let parsed = reqwest::Url::parse(url).unwrap_or_else(|e| panic!("fleet URL {url}: {e}"));
    assert_eq!(
        parsed.host_str(),
        Some("127.0.0.1"),
        "fleet URL {url}: this test relays 127.0.0.1 ports only (start the fleet without JETTY_BIND_HOST)"
    );
    parsed
        .port_or_known_default()
        .unwrap_or_else(|| panic!("fleet URL {url} has no port"))
}

#[test]
fn an_upload_over_the_emulated_mobile_last_mile_completes_byte_exact() {
    if !Path::new("/dev/net/tun").exists() {
        eprintln!(
            "SKIPPED an_upload_over_the_emulated_mobile_last_mile_completes_byte_exact: /dev/net/tun is missing, \
             so the WAN emulator (jetty-wan) cannot create its TUN devices on this machine"
        );
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!(
            "SKIPPED an_upload_over_the_emulated_mobile_last_mile_completes_byte_exact: not root, and the WAN \
             emulator creates network namespaces and TUN devices (run the fleet tests as root)"
        );
        return;
    }
    let fleet = Fleet::get();
    let dir = fresh_dir();
    let wan_bin = std::env::var_os("JETTY_WAN_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_path("target/release/jetty-wan"));
    let profile = repo_path("bench/wan/profiles/mobile.toml");
    let jetty_bin = std::env::var_os("JETTY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_path("target/release/jetty"));
    let jetty_bin = std::fs::canonicalize(&jetty_bin)
        .unwrap_or_else(|e| panic!("the jetty CLI {}: {e} (build it or set JETTY_BIN)", jetty_bin.display()));

    assert!(
        wan_bin.is_file(),
        "the WAN emulator {} is missing: build it with `cargo build --release -p jetty-wan` (scripts/test.sh \
         does) or point JETTY_WAN_BIN at it",
        wan_bin.display()
    );
    let mut emulator = Emulator::start(&wan_bin, &profile, &dir);
    let client_ns = format!("{PREFIX}client");
    let edge_ns = format!("{PREFIX}edge");

    // The coordinator and every edge the coordinator may send the client to.
    let mut ports = vec![loopback_port(&fleet.coordinator)];
    ports.extend(fleet.edges.iter().map(|e| loopback_port(&e.url)));
    let mut relays = Relays::new();
    for &port in &ports {
        let loopback: SocketAddr = ([127, 0, 0, 1], port).into();
        let edge: SocketAddr = format!("{EDGE_ADDR}:{port}").parse().expect("edge address");
        // ft-edge 10.77.2.1:P → the fleet in the root namespace.
        relays.add(&edge_ns, edge, None, loopback);
        // ft-client 127.0.0.1:P → across the emulated last mile to ft-edge.
        relays.add(&client_ns, loopback, Some(&client_ns), edge);
    }

    let (file, sha256) = random_file(FILE_SIZE);
    let state_dir = fresh_dir();
    let stdout_path = dir.join("jetty.out");
    let stderr_path = dir.join("jetty.err");
    let started = Instant::now();
    let mut child = stopped_with_test(&mut Command::new("ip"), libc::SIGKILL)
        .args(["netns", "exec", &client_ns])
        .arg(&jetty_bin)
        .args([
            "--url",
            &fleet.coordinator,
            "--api-key",
            &fleet.api_key,
            "--json",
            "upload",
        ])
        .arg(&*file)
        .env("JETTY_STATE_DIR", &*state_dir)
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).expect("create jetty's stdout file"))
        .stderr(File::create(&stderr_path).expect("create jetty's stderr file"))
        .spawn()
        .expect("run `ip netns exec … jetty upload` (is iproute2 installed?)");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for jetty") {
            break status;
        }
        if started.elapsed() > UPLOAD_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the upload over the emulated mobile link did not finish within {UPLOAD_TIMEOUT:?}; jetty's stderr:\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    drop(relays);
    let report = emulator.stop();
    // Shown with --nocapture, and with the failure of any assertion below.
    println!("wan_mobile: the emulator's output:\n{report}");

    assert!(
        status.success(),
        "jetty upload over the emulated mobile link failed ({status}); stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let outcome: serde_json::Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("jetty's answer is not JSON ({e}): {stdout}"));
    let file_id = outcome["fileId"]
        .as_str()
        .unwrap_or_else(|| panic!("no fileId in jetty's answer: {outcome}"));
    println!(
        "wan_mobile: 16 MiB uploaded over `mobile` in {:.2} s: {outcome}",
        elapsed.as_secs_f64()
    );
    assert_eq!(
        outcome["duplicate"], false,
        "random content cannot be a duplicate: {outcome}"
    );
    assert_eq!(
        fleet.s3_object_sha256(&dev_object_key(file_id)),
        sha256,
        "the stored object differs from the file"
    );

    // The client → edge link carries at most 50 Mbit/s: anything faster did not cross it.
    let bound = FILE_SIZE as f64 * 8.0 / (ACCESS_MBIT * 1e6);
    assert!(
        elapsed.as_secs_f64() >= bound,
        "the upload took {:.2} s, under the {bound:.2} s a 50 Mbit/s link needs for 16 MiB: \
         its traffic did not go through the emulator",
        elapsed.as_secs_f64()
    );

    let up = link_counts(&report, "client→edge")
        .unwrap_or_else(|| panic!("no client→edge counts in the emulator's report:\n{report}"));
    let down = link_counts(&report, "edge→client")
        .unwrap_or_else(|| panic!("no edge→client counts in the emulator's report:\n{report}"));
    println!(
        "wan_mobile: {:.2} s (access-link bound {bound:.2} s); emulator client→edge: {up}; edge→client: {down}",
        elapsed.as_secs_f64()
    );
    assert!(
        up.packets_in >= FILE_SIZE / 1500,
        "the emulator saw {} packets client→edge, fewer than 16 MiB needs ({}):\n{report}",
        up.packets_in,
        FILE_SIZE / 1500
    );
    assert!(
        up.bytes_in >= FILE_SIZE,
        "the emulator carried {} bytes client→edge, less than the file:\n{report}",
        up.bytes_in
    );
    assert!(
        up.lost > 0,
        "the mobile profile loses 1 % of the packets, yet none of {} client→edge was lost:\n{report}",
        up.packets_in
    );
    let _ = std::fs::remove_file(&file);
}
