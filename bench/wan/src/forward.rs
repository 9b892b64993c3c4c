//! The I/O shell: moves packets between the TUN devices through the [`Pipe`] scheduler.
//!
//! Threads (plain OS threads, no async runtime):
//! - one **reader** per node: blocking reads from its TUN device. With offload on, one read
//!   returns a TSO/GSO super-packet of up to 64 KiB, split into MTU-sized packets (checksums
//!   filled in) so every packet is impaired on its own; the batch goes to the scheduler in one
//!   channel message, stamped with one arrival time.
//! - one **scheduler**: owns every pipe. It offers each arriving packet to the first pipe of its
//!   path (routed by destination IPv4 address), moves released packets on to the next pipe,
//!   and writes those at the end of their path to the destination node's TUN device, in one
//!   batch per device and wake-up (re-coalesced into super-packets when offload is on). It
//!   sleeps until the earliest release time among all pipes or the next arrival.
//!
//! Packet buffers come from a shared pool and go back to it after the write, so the steady
//! state allocates nothing per packet.

use crate::config::Topology;
use crate::pipe::{Pipe, PipeStats};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tun_rs::{GROTable, SyncDevice, IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_LEN};

/// Headroom in front of every packet, for the virtio header written when offload is on.
const OFFSET: usize = VIRTIO_NET_HDR_LEN;
/// The longest the scheduler sleeps before looking at the shutdown flag.
const MAX_SLEEP: Duration = Duration::from_millis(50);

struct Pkt {
    /// `OFFSET` bytes of headroom, then the IP packet.
    buf: Vec<u8>,
    /// Index into `Router::paths`.
    path: u32,
    /// Index of the pipe of its path the packet is in.
    hop: u8,
}

struct Batch {
    arrival: Instant,
    pkts: Vec<Pkt>,
}

/// Destination address → node, and the pipes between every pair of nodes.
struct Router {
    addrs: Vec<(Ipv4Addr, usize)>,
    n: usize,
    /// `paths[src × n + dst]`: the pipes crossed; empty when there is no path.
    paths: Vec<Vec<usize>>,
}

impl Router {
    fn new(top: &Topology) -> Router {
        let n = top.nodes.len();
        let mut addrs: Vec<_> = top.nodes.iter().enumerate().map(|(i, n)| (n.addr, i)).collect();
        addrs.sort();
        let paths = (0..n * n).map(|k| top.path(k / n, k % n).unwrap_or_default()).collect();
        Router { addrs, n, paths }
    }

    /// The path index for an IPv4 packet from node `src`, if it goes to another node.
    fn route(&self, src: usize, packet: &[u8]) -> Option<u32> {
        if packet.len() < 20 || packet[0] >> 4 != 4 {
            return None;
        }
        let dst = Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]);
        let i = self.addrs.binary_search_by(|(a, _)| a.cmp(&dst)).ok()?;
        let k = src * self.n + self.addrs[i].1;
        (!self.paths[k].is_empty()).then_some(k as u32)
    }

    fn dst(&self, path: u32) -> usize {
        path as usize % self.n
    }
}

/// Free packet buffers, shared by the readers (take) and the scheduler (give back).
struct Pool {
    free: Mutex<Vec<Vec<u8>>>,
    buf_len: usize,
}

impl Pool {
    const KEEP: usize = 65_536;

    fn refill(&self, into: &mut Vec<Vec<u8>>, want: usize) {
        let mut free = self.free.lock().unwrap();
        let take = want.min(free.len());
        let start = free.len() - take;
        into.extend(free.drain(start..));
    }

    fn give(&self, bufs: &mut Vec<Vec<u8>>) {
        let mut free = self.free.lock().unwrap();
        let room = Self::KEEP.saturating_sub(free.len());
        free.extend(bufs.drain(..).take(room));
        bufs.clear();
    }
}

/// Counters shared with the caller while the emulator runs.
#[derive(Default)]
pub struct Counters {
    /// Packets read that were not IPv4 to another node (IPv6, unknown address).
    pub unroutable: AtomicU64,
    pub read_errors: AtomicU64,
    pub write_errors: AtomicU64,
}

/// How late packets left for their destination device compared with their release time:
/// `buckets[k]` counts lateness below 2^k µs (and at least 2^(k-1) µs).
#[derive(Debug, Clone, Default)]
pub struct Lateness {
    pub buckets: [u64; 24],
}

impl Lateness {
    fn add(&mut self, late: Duration) {
        let us = late.as_micros() as u64;
        let k = (64 - us.leading_zeros() as usize).min(self.buckets.len() - 1);
        self.buckets[k] += 1;
    }

    /// An upper bound of the `q` quantile (0..=1), in µs.
    pub fn quantile_us(&self, q: f64) -> u64 {
        let total: u64 = self.buckets.iter().sum();
        let mut seen = 0;
        for (k, n) in self.buckets.iter().enumerate() {
            seen += n;
            if total > 0 && seen as f64 >= q * total as f64 {
                return 1 << k;
            }
        }
        0
    }
}

/// What the scheduler saw, returned when it stops.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub pipes: Vec<PipeStats>,
    pub lateness: Lateness,
}

/// A running emulator.
pub struct Running {
    shutdown: Arc<AtomicBool>,
    scheduler: JoinHandle<Report>,
    pub counters: Arc<Counters>,
}

impl Running {
    /// Stops the scheduler and returns each pipe's statistics (readers stay blocked until the
    /// process exits or their device goes away).
    pub fn stop(self) -> Report {
        self.shutdown.store(true, Ordering::SeqCst);
        self.scheduler.join().unwrap_or_default()
    }
}

/// How the forwarding threads run.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The scheduler polls instead of sleeping during the last `spin` before a release (zero:
    /// it always sleeps).
    pub spin: Duration,
    /// Run the forwarding threads under `SCHED_FIFO` so that other work cannot hold up a
    /// release (falls back to normal scheduling, with a warning, where not permitted).
    pub realtime: bool,
}

/// Puts the calling thread under `SCHED_FIFO` at a low real-time priority.
fn make_realtime(realtime: bool) {
    if !realtime {
        return;
    }
    let param = libc::sched_param { sched_priority: 10 };
    // SAFETY: changes the scheduling policy of the calling thread only.
    let err = unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
    if err != 0 {
        static WARNED: AtomicBool = AtomicBool::new(false);
        if !WARNED.swap(true, Ordering::Relaxed) {
            eprintln!(
                "jetty-wan: no real-time scheduling ({}); timing may be less precise",
                std::io::Error::from_raw_os_error(err)
            );
        }
    }
}

/// Starts forwarding between `devices` (one per node of `top`, in node order). `on_fatal` is
/// called from a reader whose device fails for good.
pub fn start(top: &Topology, devices: Vec<SyncDevice>, opts: Options, on_fatal: fn()) -> Running {
    let router = Arc::new(Router::new(top));
    let devices: Vec<Arc<SyncDevice>> = devices.into_iter().map(Arc::new).collect();
    let pool = Arc::new(Pool {
        free: Mutex::new(Vec::new()),
        buf_len: OFFSET + top.mtu as usize,
    });
    let counters = Arc::new(Counters::default());
    let shutdown = Arc::new(AtomicBool::new(false));
    let (tx, rx) = sync_channel::<Batch>(4096);
    for (node, dev) in devices.iter().enumerate() {
        let (dev, router, pool, tx) = (dev.clone(), router.clone(), pool.clone(), tx.clone());
        let (counters, shutdown) = (counters.clone(), shutdown.clone());
        std::thread::Builder::new()
            .name(format!("wan-read-{node}"))
            .spawn(move || {
                make_realtime(opts.realtime);
                if let Err(e) = read_loop(node, &dev, &router, &pool, &tx, &counters) {
                    if !shutdown.load(Ordering::SeqCst) {
                        eprintln!("jetty-wan: reading node {node}'s device failed: {e}");
                        on_fatal();
                    }
                }
            })
            .expect("spawning a reader thread");
    }
    let pipes = top
        .pipe_specs()
        .into_iter()
        .enumerate()
        .map(|(i, s)| Pipe::new(s, top.seed.wrapping_mul(1000).wrapping_add(i as u64)))
        .collect();
    let mut sched = Scheduler {
        pipes,
        router,
        devices,
        out: vec![Vec::new(); top.nodes.len()],
        free: Vec::new(),
        pool,
        counters: counters.clone(),
        gro: GROTable::default(),
        lateness: Lateness::default(),
        spin: opts.spin,
    };
    let stop = shutdown.clone();
    let scheduler = std::thread::Builder::new()
        .name("wan-sched".into())
        .spawn(move || {
            // SAFETY: prctl(PR_SET_TIMERSLACK) only changes this thread's timer slack.
            unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong) };
            make_realtime(opts.realtime);
            sched.run(&rx, &stop);
            Report {
                pipes: sched.pipes.iter().map(|p| p.stats.clone()).collect(),
                lateness: sched.lateness,
            }
        })
        .expect("spawning the scheduler thread");
    Running {
        shutdown,
        scheduler,
        counters,
    }
}

fn read_loop(
    node: usize,
    dev: &SyncDevice,
    router: &Router,
    pool: &Pool,
    tx: &SyncSender<Batch>,
    counters: &Counters,
) -> std::io::Result<()> {
    let mut original = vec![0u8; OFFSET + 65_535];
    let mut bufs: Vec<Vec<u8>> = (0..IDEAL_BATCH_SIZE).map(|_| vec![0u8; pool.buf_len]).collect();
    let mut sizes = vec![0usize; IDEAL_BATCH_SIZE];
    let mut spare: Vec<Vec<u8>> = Vec::new();
    loop {
        let n = match dev.recv_multiple(&mut original, &mut bufs, &mut sizes, OFFSET) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let gone = matches!(
                    e.raw_os_error(),
                    Some(libc::EBADFD | libc::EBADF | libc::ENODEV | libc::EIO | libc::ENXIO)
                );
                // Anything else is a packet the GSO splitter refused: skip it.
                if gone || counters.read_errors.fetch_add(1, Ordering::Relaxed) > 1_000_000 {
                    return Err(e);
                }
                continue;
            }
        };
        let arrival = Instant::now();
        let mut pkts = Vec::with_capacity(n);
        for (buf, &len) in bufs.iter_mut().zip(&sizes).take(n) {
            let Some(path) = router.route(node, &buf[OFFSET..OFFSET + len]) else {
                counters.unroutable.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            if spare.is_empty() {
                pool.refill(&mut spare, 256);
            }
            let mut fresh = spare.pop().unwrap_or_default();
            fresh.resize(pool.buf_len, 0);
            let mut full = std::mem::replace(buf, fresh);
            full.truncate(OFFSET + len);
            pkts.push(Pkt {
                buf: full,
                path,
                hop: 0,
            });
        }
        if !pkts.is_empty() && tx.send(Batch { arrival, pkts }).is_err() {
            return Ok(());
        }
    }
}

struct Scheduler {
    pipes: Vec<Pipe<Pkt>>,
    router: Arc<Router>,
    devices: Vec<Arc<SyncDevice>>,
    /// Per destination node: buffers to write at the end of this wake-up.
    out: Vec<Vec<Vec<u8>>>,
    /// Buffers to hand back to the pool.
    free: Vec<Vec<u8>>,
    pool: Arc<Pool>,
    counters: Arc<Counters>,
    gro: GROTable,
    lateness: Lateness,
    spin: Duration,
}

impl Scheduler {
    fn run(&mut self, rx: &Receiver<Batch>, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            let sleep = self
                .pipes
                .iter()
                .filter_map(|p| p.next_release())
                .min()
                .map_or(MAX_SLEEP, |t| {
                    t.saturating_duration_since(now)
                        .saturating_sub(self.spin)
                        .min(MAX_SLEEP)
                });
            let got = if sleep.is_zero() {
                // Within `spin` of the next release: poll instead of sleeping, so that a late
                // timer wake-up cannot delay the release.
                std::thread::yield_now();
                rx.try_recv().map_err(|e| match e {
                    TryRecvError::Empty => RecvTimeoutError::Timeout,
                    TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
                })
            } else {
                rx.recv_timeout(sleep)
            };
            match got {
                Ok(batch) => {
                    self.ingest(batch);
                    for batch in rx.try_iter().take(256) {
                        self.ingest(batch);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            self.release(Instant::now());
            self.flush();
        }
    }

    fn ingest(&mut self, batch: Batch) {
        for pkt in batch.pkts {
            let pipe = self.router.paths[pkt.path as usize][0];
            let len = pkt.buf.len() - OFFSET;
            if let Err((_, pkt)) = self.pipes[pipe].push(batch.arrival, len, pkt) {
                self.free.push(pkt.buf);
            }
        }
    }

    /// Moves every packet due at `now` to its next pipe or to its destination's out batch.
    fn release(&mut self, now: Instant) {
        loop {
            let mut moved = false;
            for p in 0..self.pipes.len() {
                while let Some((at, mut pkt)) = self.pipes[p].pop_due(now) {
                    let path = &self.router.paths[pkt.path as usize];
                    pkt.hop += 1;
                    match path.get(pkt.hop as usize) {
                        Some(&next) => {
                            let len = pkt.buf.len() - OFFSET;
                            if let Err((_, pkt)) = self.pipes[next].push(at, len, pkt) {
                                self.free.push(pkt.buf);
                            }
                            moved = true;
                        }
                        None => {
                            self.lateness.add(now - at);
                            self.out[self.router.dst(pkt.path)].push(pkt.buf);
                        }
                    }
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn flush(&mut self) {
        for (node, out) in self.out.iter_mut().enumerate() {
            if out.is_empty() {
                continue;
            }
            if let Err(e) = self.devices[node].send_multiple(&mut self.gro, out, OFFSET) {
                if self.counters.write_errors.fetch_add(1, Ordering::Relaxed) < 10 {
                    eprintln!("jetty-wan: writing to node {node}'s device: {e}");
                }
            }
            self.free.append(out);
        }
        if !self.free.is_empty() {
            self.pool.give(&mut self.free);
        }
    }
}
