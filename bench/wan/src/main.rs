//! `jetty-wan` command line: `up` (set up, forward until SIGINT/SIGTERM, tear down), `down`
//! (remove what a killed `up` left), `show` and `list` (profiles).

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use jetty_wan::config::{Topology, BUILTIN};
use jetty_wan::{forward, netns};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "jetty-wan",
    about = "WAN emulator: network namespaces joined through TUN devices"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create the namespaces, forward until SIGINT/SIGTERM/SIGHUP, then remove them (root).
    Up {
        /// A built-in profile (lan, regional, mobile, intercontinental) or a TOML file.
        #[arg(long, default_value = "lan")]
        profile: String,
        /// Prepended to every namespace name.
        #[arg(long, default_value = "")]
        prefix: String,
        /// Read and write one MTU-sized packet per system call instead of TSO/GSO batches.
        #[arg(long)]
        no_offload: bool,
        /// TCP congestion control inside the namespaces (e.g. cubic, bbr, reno).
        #[arg(long)]
        cc: Option<String>,
        /// Poll instead of sleeping this long before each release: more precise delays on a
        /// virtual machine whose timer wake-ups run late, for some CPU.
        #[arg(long, default_value_t = 0)]
        spin_us: u64,
        /// Run the forwarding threads under normal scheduling instead of SCHED_FIFO.
        #[arg(long)]
        no_realtime: bool,
        /// Written once forwarding runs; removed on exit.
        #[arg(long)]
        ready_file: Option<PathBuf>,
    },
    /// Remove the namespaces of a profile left by an `up` that was killed (root).
    Down {
        #[arg(long, default_value = "lan")]
        profile: String,
        #[arg(long, default_value = "")]
        prefix: String,
    },
    /// Print a profile: nodes, addresses and each link direction's impairments.
    Show {
        #[arg(default_value = "lan")]
        profile: String,
        /// Print shell assignments (`WAN_<from>_<to>_delay_ms=…`, `…_loss`, `…_rate_mbit`,
        /// `WAN_<node>_addr`) for scripts.
        #[arg(long)]
        env: bool,
    },
    /// List the built-in profiles.
    List,
}

static FAILED: AtomicBool = AtomicBool::new(false);

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Up {
            profile,
            prefix,
            no_offload,
            cc,
            spin_us,
            no_realtime,
            ready_file,
        } => {
            let opts = forward::Options {
                spin: Duration::from_micros(spin_us),
                realtime: !no_realtime,
            };
            up(&profile, &prefix, !no_offload, cc.as_deref(), opts, ready_file)
        }
        Cmd::Down { profile, prefix } => {
            let gone = netns::teardown(&Topology::load(&profile)?, &prefix)?;
            println!(
                "removed namespaces: {}",
                if gone.is_empty() { "none".into() } else { gone.join(" ") }
            );
            Ok(())
        }
        Cmd::Show { profile, env } => {
            let top = Topology::load(&profile)?;
            if env {
                show_env(&top);
            } else {
                show(&top, "");
            }
            Ok(())
        }
        Cmd::List => {
            for (name, text) in BUILTIN {
                let about = text.lines().next().unwrap_or("").trim_start_matches("# ");
                println!("{name:18} {about}");
            }
            Ok(())
        }
    }
}

fn show(top: &Topology, prefix: &str) {
    println!("profile {} (mtu {}, seed {})", top.name, top.mtu, top.seed);
    for n in &top.nodes {
        println!(
            "  node {:10} namespace {prefix}{:10} address {} (dev wan0)",
            n.name, n.name, n.addr
        );
    }
    for l in &top.links {
        let (a, b) = (&top.nodes[l.a].name, &top.nodes[l.b].name);
        println!("  {a} → {b}: {}", l.a_to_b);
        println!("  {b} → {a}: {}", l.b_to_a);
    }
}

fn show_env(top: &Topology) {
    for n in &top.nodes {
        println!("WAN_{}_addr={}", n.name.replace('-', "_"), n.addr);
    }
    for (i, spec) in top.pipe_specs().iter().enumerate() {
        let key = pipe_name(top, i).replace(['→', '-'], "_");
        println!("WAN_{key}_delay_ms={}", spec.delay.as_secs_f64() * 1000.0);
        println!("WAN_{key}_jitter_ms={}", spec.jitter.as_secs_f64() * 1000.0);
        println!("WAN_{key}_loss={}", spec.loss.mean_loss());
        println!("WAN_{key}_rate_mbit={}", spec.rate_bps.map_or(0.0, |r| r as f64 / 1e6));
    }
}

fn pipe_name(top: &Topology, pipe: usize) -> String {
    let l = &top.links[pipe / 2];
    let (a, b) = (&top.nodes[l.a].name, &top.nodes[l.b].name);
    if pipe % 2 == 0 {
        format!("{a}→{b}")
    } else {
        format!("{b}→{a}")
    }
}

/// Blocks the termination signals in this thread and every thread it starts from now on, so
/// that `sigwait` receives them (also while setting up).
fn block_signals() -> libc::sigset_t {
    // SAFETY: plain libc signal-set calls on a local, zero-initialized sigset_t.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, sig);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn on_fatal() {
    FAILED.store(true, Ordering::SeqCst);
    // SAFETY: sends SIGTERM to this process; the main thread is waiting for it in sigwait.
    unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
}

fn up(
    profile: &str,
    prefix: &str,
    offload: bool,
    cc: Option<&str>,
    opts: forward::Options,
    ready_file: Option<PathBuf>,
) -> Result<()> {
    let set = block_signals();
    let top = Topology::load(profile)?;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("`jetty-wan up` creates namespaces and TUN devices: run it as root");
    }
    let setup = netns::Setup {
        prefix,
        offload,
        congestion_control: cc,
    };
    let (namespaces, devices) = netns::setup(&top, &setup)?;
    let running = forward::start(&top, devices, opts, on_fatal);
    show(&top, prefix);
    if let Some(path) = &ready_file {
        std::fs::write(path, format!("{}\n", std::process::id()))?;
    }
    println!(
        "jetty-wan: forwarding (offload {}); stop with Ctrl-C or SIGTERM",
        if offload { "on" } else { "off" }
    );
    let mut sig = 0;
    // SAFETY: waits for one of the signals blocked above.
    unsafe { libc::sigwait(&set, &mut sig) };
    let counters = running.counters.clone();
    let report = running.stop();
    eprintln!("jetty-wan: signal {sig}, stopping; per link direction:");
    for (i, s) in report.pipes.iter().enumerate() {
        let past_queue = s.packets_in - s.queue_drops;
        let lost = if past_queue > 0 {
            s.lost as f64 * 100.0 / past_queue as f64
        } else {
            0.0
        };
        eprintln!(
            "  {:16} in {:>9} pkts {:>12} B, queue drops {:>7}, lost {:>7} ({lost:.3} % past the queue), out {:>9}",
            pipe_name(&top, i),
            s.packets_in,
            s.bytes_in,
            s.queue_drops,
            s.lost,
            s.released
        );
    }
    eprintln!(
        "  not routed {} (IPv6, unknown address), read errors {}, write errors {}",
        counters.unroutable.load(Ordering::Relaxed),
        counters.read_errors.load(Ordering::Relaxed),
        counters.write_errors.load(Ordering::Relaxed)
    );
    let late = |q| report.lateness.quantile_us(q);
    eprintln!(
        "  delivery later than scheduled: p50 < {} µs, p99 < {} µs, max < {} µs",
        late(0.5),
        late(0.99),
        late(1.0)
    );
    drop(namespaces);
    if let Some(path) = &ready_file {
        let _ = std::fs::remove_file(path);
    }
    if FAILED.load(Ordering::SeqCst) {
        bail!("forwarding failed");
    }
    Ok(())
}
