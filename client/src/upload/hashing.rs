//! SHA-256 of whole files and of a plan's parts, on blocking threads (sha2 uses SHA-NI); part
//! hashing runs on every core and can be cancelled between parts. The whole-file hash of an
//! upload runs in the background behind the sending (`TrailingHash`): each part is hashed just
//! after the sender has read it, while its pages are still in memory, so a file larger than the
//! page cache is read from the disk once for both, not twice.
//!
//! Bytes are read from a read-only memory map of each range, in 64 KiB pieces copied into a
//! buffer the SHA instructions then hash: fed straight from the map (as `b3sum` does) they hash
//! about a quarter slower here (0.90 against 0.67 CPU-seconds per GiB on this VM's Xeon, the
//! same as `read` into a buffer of that size and as `openssl dgst`), since the copy streams the
//! bytes into the cache and the hashing then never waits for memory. Where a file cannot be
//! mapped (a pipe, some network or FUSE file systems, an empty range) it is read instead. A
//! mapped file that another process shortens meanwhile raises SIGBUS on the missing pages: the
//! CLI reports that as a changed file and exits ([`exit_cleanly_on_sigbus`]); a read one ends
//! with an error saying the same.

use crate::ClientError;
use jetty_shared::hash::Sha256Digest;
use jetty_shared::plan::PartPlan;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The piece read, or copied from the map, then hashed: small enough to stay in the cache
/// between the copy and the hashing.
const READ_BUF: usize = 64 << 10;

/// SHA-256 of the listed parts of `plan` (none without a plan), on one blocking thread.
pub async fn hash_parts(
    path: PathBuf,
    plan: Option<PartPlan>,
    numbers: Vec<u32>,
) -> Result<HashMap<u32, Sha256Digest>, ClientError> {
    hash_parts_cancellable(path, plan, numbers, Arc::new(AtomicBool::new(false))).await
}

/// SHA-256 of the listed parts of `plan`, spread over `threads` blocking threads (each takes
/// every `threads`-th part, so all finish together); the same digests as [`hash_parts`].
pub async fn hash_parts_parallel(
    path: PathBuf,
    plan: Option<PartPlan>,
    numbers: Vec<u32>,
    threads: usize,
) -> Result<HashMap<u32, Sha256Digest>, ClientError> {
    let threads = threads.clamp(1, numbers.len().max(1));
    let mut shares: Vec<Vec<u32>> = vec![Vec::new(); threads];
    for (i, n) in numbers.into_iter().enumerate() {
        shares[i % threads].push(n);
    }
    let hashing = shares.into_iter().map(|share| hash_parts(path.clone(), plan, share));
    let mut all = HashMap::new();
    for share in futures::future::try_join_all(hashing).await? {
        all.extend(share);
    }
    Ok(all)
}

/// The cores to hash on.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// An upload's whole-file SHA-256: known (declared, or kept from an earlier attempt), or hashed
/// behind the sending.
pub(crate) enum WholeHash {
    Known(Sha256Digest),
    Trailing(TrailingHash),
}

impl WholeHash {
    /// The sender has read part `n`.
    pub fn part_read(&self, n: u32) {
        if let WholeHash::Trailing(hash) = self {
            hash.part_read(n);
        }
    }

    pub async fn get(self) -> Result<Sha256Digest, ClientError> {
        match self {
            WholeHash::Known(digest) => Ok(digest),
            WholeHash::Trailing(hash) => hash.get().await,
        }
    }
}

/// The whole-file SHA-256 of an upload, hashed in file order on a blocking thread behind the
/// sending. Part `n` is hashed once the sender says it has read it ([`TrailingHash::part_read`])
/// — its pages are then in the page cache — or at once when it is not to be sent (stored
/// already, copied by the store). Hashing outruns any network, so the digest is ready about
/// when the last part is. Dropped before [`TrailingHash::get`], the hashing stops.
pub(crate) struct TrailingHash {
    gate: Arc<Gate>,
    task: Option<tokio::task::JoinHandle<Result<Sha256Digest, ClientError>>>,
}

/// Which parts the hasher may read, and whether to stop.
struct Gate {
    state: std::sync::Mutex<GateState>,
    changed: std::sync::Condvar,
}

struct GateState {
    /// Index `n - 1`: part `n` may be hashed.
    released: Vec<bool>,
    stopped: bool,
}

impl TrailingHash {
    /// Starts hashing the file of `plan` at `path`, waiting for each part of `to_send` until
    /// the sender has read it.
    pub fn start(path: PathBuf, plan: PartPlan, to_send: &[u32]) -> TrailingHash {
        let mut released = vec![true; plan.part_count as usize];
        for &n in to_send {
            if let Some(slot) = (n as usize).checked_sub(1).and_then(|i| released.get_mut(i)) {
                *slot = false;
            }
        }
        let gate = Arc::new(Gate {
            state: std::sync::Mutex::new(GateState {
                released,
                stopped: false,
            }),
            changed: std::sync::Condvar::new(),
        });
        let waiting = gate.clone();
        let task = tokio::spawn(blocking(move || {
            let mut file = std::fs::File::open(&path)?;
            let mut buf = Vec::new();
            let mut hasher = Sha256::new();
            for n in plan.part_numbers() {
                waiting.wait_for(n)?;
                let (Some(offset), Some(len)) = (plan.part_offset(n), plan.part_len(n)) else {
                    continue;
                };
                hash_range_into(&mut file, &mut buf, offset, len, &mut hasher)?;
            }
            Ok(Sha256Digest(hasher.finalize().into()))
        }));
        TrailingHash { gate, task: Some(task) }
    }

    /// The sender has read part `n` (or given up reading it): it may be hashed now.
    pub fn part_read(&self, n: u32) {
        self.gate.update(|state| {
            if let Some(slot) = (n as usize).checked_sub(1).and_then(|i| state.released.get_mut(i)) {
                *slot = true;
            }
        });
    }

    /// The whole-file digest, once every part is hashed (all are released now: the sending is
    /// over).
    pub async fn get(mut self) -> Result<Sha256Digest, ClientError> {
        self.gate
            .update(|state| state.released.iter_mut().for_each(|r| *r = true));
        let task = self
            .task
            .take()
            .ok_or_else(|| ClientError::Io(std::io::Error::other("hash taken")))?;
        task.await.map_err(|e| ClientError::Io(std::io::Error::other(e)))?
    }
}

impl Drop for TrailingHash {
    fn drop(&mut self) {
        self.gate.update(|state| state.stopped = true);
    }
}

impl Gate {
    fn update(&self, f: impl FnOnce(&mut GateState)) {
        // A poisoned lock only means a hasher panicked; its state is still a plain flag set.
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut state);
        self.changed.notify_all();
    }

    /// Blocks until part `n` may be hashed; an error once the hash is no longer wanted.
    fn wait_for(&self, n: u32) -> std::io::Result<()> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if state.stopped {
                return Err(std::io::Error::new(std::io::ErrorKind::Interrupted, "upload ended"));
            }
            if state.released.get(n as usize - 1).copied().unwrap_or(true) {
                return Ok(());
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// `hash_parts` that stops between parts once `cancel` is set (returning what it has).
pub(crate) async fn hash_parts_cancellable(
    path: PathBuf,
    plan: Option<PartPlan>,
    numbers: Vec<u32>,
    cancel: Arc<AtomicBool>,
) -> Result<HashMap<u32, Sha256Digest>, ClientError> {
    let Some(plan) = plan else { return Ok(HashMap::new()) };
    blocking(move || {
        let mut all = HashMap::new();
        hash_each_part(&path, plan, numbers, &cancel, |n, digest| {
            all.insert(n, digest);
        })?;
        Ok(all)
    })
    .await
}

/// Hashes the listed parts of `plan` in order on one blocking thread, handing each digest to
/// `post` as soon as it is known; stops between parts once `cancel` is set.
pub(crate) async fn hash_parts_posting(
    path: PathBuf,
    plan: PartPlan,
    numbers: Vec<u32>,
    cancel: Arc<AtomicBool>,
    post: impl FnMut(u32, Sha256Digest) + Send + 'static,
) -> Result<(), ClientError> {
    blocking(move || hash_each_part(&path, plan, numbers, &cancel, post)).await
}

/// The listed parts of `plan`, hashed in order, each digest to `post`; stops between parts
/// once `cancel` is set.
fn hash_each_part(
    path: &std::path::Path,
    plan: PartPlan,
    numbers: Vec<u32>,
    cancel: &AtomicBool,
    mut post: impl FnMut(u32, Sha256Digest),
) -> std::io::Result<()> {
    let mut file = std::fs::File::open(path)?;
    let mut buf = Vec::new();
    for n in numbers {
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        let (Some(offset), Some(len)) = (plan.part_offset(n), plan.part_len(n)) else {
            continue;
        };
        post(n, hash_range(&mut file, &mut buf, offset, len)?);
    }
    Ok(())
}

/// SHA-256 of `len` bytes of `path` from `offset`, on a blocking thread (sha2 uses SHA-NI).
pub async fn hash_file(path: PathBuf, offset: u64, len: u64) -> Result<Sha256Digest, ClientError> {
    blocking(move || {
        let mut file = std::fs::File::open(&path)?;
        hash_range(&mut file, &mut Vec::new(), offset, len)
    })
    .await
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, ClientError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ClientError::Io(std::io::Error::other(e)))?
        .map_err(ClientError::Io)
}

/// SHA-256 of `len` bytes of `file` from `offset`: mapped when possible, else read, through
/// `buf` (allocated on first use).
fn hash_range(file: &mut std::fs::File, buf: &mut Vec<u8>, offset: u64, len: u64) -> std::io::Result<Sha256Digest> {
    let mut hasher = Sha256::new();
    hash_range_into(file, buf, offset, len, &mut hasher)?;
    Ok(Sha256Digest(hasher.finalize().into()))
}

/// Feeds `len` bytes of `file` from `offset` to `hasher`, as `hash_range` reads them.
fn hash_range_into(
    file: &mut std::fs::File,
    buf: &mut Vec<u8>,
    offset: u64,
    len: u64,
    hasher: &mut Sha256,
) -> std::io::Result<()> {
    if buf.is_empty() {
        buf.resize(READ_BUF, 0);
    }
    if let Some(map) = map_range(file, offset, len) {
        // A map shorter than asked (the file shrank before it was mapped) is caught here; one
        // that shrinks later raises SIGBUS.
        if (map.len() as u64) == len {
            for piece in map.chunks(buf.len()) {
                let cached = &mut buf[..piece.len()];
                cached.copy_from_slice(piece);
                hasher.update(cached);
            }
            return Ok(());
        }
    }
    read_range(file, buf, offset, len, hasher)
}

/// A read-only map of the range, or `None` where the file cannot be mapped.
fn map_range(file: &std::fs::File, offset: u64, len: u64) -> Option<memmap2::Mmap> {
    let len = usize::try_from(len).ok().filter(|&l| l > 0)?;
    // Never map past the end: the kernel would give zero pages there, not an error.
    if offset.checked_add(len as u64)? > file.metadata().ok()?.len() {
        return None;
    }
    // SAFETY: the map is read-only and lives only while this range is hashed. Its contents can
    // change if another process writes the file meanwhile (then the digest is of what was read,
    // as with `read`, and the store's check of each part catches a body that differs); if the
    // file is shortened, touching the lost pages raises SIGBUS (see `exit_cleanly_on_sigbus`).
    unsafe { memmap2::MmapOptions::new().offset(offset).len(len).map(file) }.ok()
}

fn read_range(
    file: &mut std::fs::File,
    buf: &mut [u8],
    offset: u64,
    len: u64,
    hasher: &mut Sha256,
) -> std::io::Result<()> {
    use std::io::{Read, Seek};
    file.seek(std::io::SeekFrom::Start(offset))?;
    let mut reader = file.take(len);
    let mut read = 0u64;
    loop {
        let n = reader.read(buf)?;
        if n == 0 {
            break;
        }
        read += n as u64;
        hasher.update(&buf[..n]);
    }
    if read < len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the file got shorter while jetty was reading it",
        ));
    }
    Ok(())
}

/// Makes SIGBUS, which a mapped file shortened by another process raises while it is hashed,
/// end the process with a message and exit code 74 (EX_IOERR) instead of a crash. For the CLI's
/// `main`; a program using this crate as a library decides its own signal handling.
#[cfg(unix)]
pub fn exit_cleanly_on_sigbus() {
    extern "C" fn on_sigbus(_: libc::c_int) {
        const MSG: &[u8] = b"jetty: the file got shorter while jetty was reading it; stopped\n";
        // SAFETY: write(2) and _exit(2) are async-signal-safe; MSG is a static buffer.
        unsafe {
            libc::write(2, MSG.as_ptr().cast(), MSG.len());
            libc::_exit(74);
        }
    }
    // SAFETY: installs a handler that only calls async-signal-safe functions.
    unsafe {
        libc::signal(
            libc::SIGBUS,
            on_sigbus as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
}

#[cfg(not(unix))]
pub fn exit_cleanly_on_sigbus() {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upload::temp_dir;
    use jetty_shared::plan::DEFAULT_BODY_LIMIT;
    use std::time::{Duration, Instant};

    /// A file of `len` bytes of pattern `byte(i)` in a fresh directory: (directory, path, bytes).
    /// The directory is removed when its guard drops.
    fn data_file(len: usize, byte: impl Fn(usize) -> u8) -> (tempfile::TempDir, PathBuf, Vec<u8>) {
        let dir = temp_dir();
        let path = dir.path().join("data.bin");
        let data: Vec<u8> = (0..len).map(byte).collect();
        std::fs::write(&path, &data).unwrap();
        (dir, path, data)
    }

    /// The plan of 5 MiB parts (S3's smallest) for `data`.
    fn plan_of(data: &[u8]) -> PartPlan {
        PartPlan::new(data.len() as u64, 5 * 1024 * 1024, DEFAULT_BODY_LIMIT).unwrap()
    }

    #[test]
    fn a_mapped_range_hashes_like_a_read_one_at_any_offset() {
        let (_dir, path, data) = data_file(3 * 1024 * 1024 + 77, |i| (i % 253) as u8);
        let mut file = std::fs::File::open(&path).unwrap();
        // Offsets off the page size, a range ending at the end, one byte, and the whole file.
        for (offset, len) in [
            (0, data.len()),
            (4097, 1024 * 1024),
            (12_345, data.len() - 12_345),
            (5, 1),
        ] {
            assert!(
                map_range(&file, offset as u64, len as u64).is_some(),
                "{offset}+{len} maps"
            );
            let digest = hash_range(&mut file, &mut Vec::new(), offset as u64, len as u64).unwrap();
            assert_eq!(digest, Sha256Digest::of(&data[offset..offset + len]), "{offset}+{len}");
        }
    }

    #[test]
    fn a_range_that_cannot_be_mapped_is_read_instead() {
        let dir_guard = temp_dir();
        let dir = dir_guard.path();
        let path = dir.join("short.bin");
        std::fs::write(&path, b"0123456789").unwrap();
        let mut file = std::fs::File::open(&path).unwrap();
        // Empty, and past the end (a file shorter than its plan): no map; the read path hashes
        // the empty range and refuses the one the file no longer holds.
        assert!(map_range(&file, 0, 0).is_none());
        assert!(map_range(&file, 4, 10).is_none());
        assert_eq!(
            hash_range(&mut file, &mut Vec::new(), 0, 0).unwrap(),
            Sha256Digest::of(b"")
        );
        assert_eq!(
            hash_range(&mut file, &mut Vec::new(), 4, 6).unwrap(),
            Sha256Digest::of(b"456789")
        );
        let short = hash_range(&mut file, &mut Vec::new(), 4, 10).unwrap_err();
        assert_eq!(short.kind(), std::io::ErrorKind::UnexpectedEof);
        assert!(short.to_string().contains("got shorter"), "{short}");
    }

    #[tokio::test]
    async fn part_hashes_match_hashes_of_the_slices() {
        let (_dir, path, data) = data_file(11 * 1024 * 1024 + 5, |i| (i % 251) as u8);
        let plan = plan_of(&data);
        let hashes = hash_parts(path.clone(), Some(plan), vec![1, 3]).await.unwrap();
        assert_eq!(hashes.len(), 2);
        assert_eq!(hashes[&1], Sha256Digest::of(&data[..5 * 1024 * 1024]));
        assert_eq!(hashes[&3], Sha256Digest::of(&data[10 * 1024 * 1024..]));
        assert_eq!(
            hash_file(path.clone(), 0, data.len() as u64).await.unwrap(),
            Sha256Digest::of(&data)
        );
    }

    #[tokio::test]
    async fn the_trailing_hash_waits_for_each_sent_part_and_equals_the_file_digest() {
        let (_dir, path, data) = data_file(11 * 1024 * 1024 + 5, |i| (i % 241) as u8);
        let plan = plan_of(&data);
        // Parts 1 and 3 are to be sent; part 2 is stored already.
        let whole = TrailingHash::start(path, plan, &[1, 3]);
        let finished = |whole: &TrailingHash| whole.task.as_ref().unwrap().is_finished();
        whole.part_read(3);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!finished(&whole), "part 1 is not read yet: the hash waits for it");
        whole.part_read(1);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !finished(&whole) {
            assert!(
                Instant::now() < deadline,
                "every part was read, yet the hash never finished"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(whole.get().await.unwrap(), Sha256Digest::of(&data));
    }

    #[tokio::test]
    async fn a_trailing_hash_asked_for_is_complete_and_one_dropped_stops() {
        let (dir, path, data) = data_file(11 * 1024 * 1024 + 1, |i| (i % 239) as u8);
        let plan = plan_of(&data);
        let all: Vec<u32> = plan.part_numbers().collect();
        // Nothing was marked read: asking for the digest means the sending is over.
        assert_eq!(
            TrailingHash::start(path.clone(), plan, &all).get().await.unwrap(),
            Sha256Digest::of(&data)
        );
        let dropped = TrailingHash::start(path, plan, &all);
        let gate = dropped.gate.clone();
        drop(dropped);
        assert_eq!(
            gate.wait_for(1).unwrap_err().kind(),
            std::io::ErrorKind::Interrupted,
            "a dropped hash tells its thread to stop"
        );
        // An empty file has no parts: its digest is that of no bytes.
        let empty = dir.path().join("empty.bin");
        std::fs::write(&empty, b"").unwrap();
        let none = PartPlan::new(0, 5 * 1024 * 1024, DEFAULT_BODY_LIMIT).unwrap();
        assert_eq!(
            TrailingHash::start(empty, none, &[]).get().await.unwrap(),
            Sha256Digest::of(b"")
        );
    }

    #[tokio::test]
    async fn parts_hashed_on_many_threads_match_the_sequential_reference() {
        let (_dir, path, data) = data_file(23 * 1024 * 1024 + 7, |i| (i * 7 % 253) as u8);
        let plan = plan_of(&data);
        let all: Vec<u32> = plan.part_numbers().collect();
        let sequential = hash_parts(path.clone(), Some(plan), all.clone()).await.unwrap();
        for threads in [1, 2, 3, 8, 64] {
            let parallel = hash_parts_parallel(path.clone(), Some(plan), all.clone(), threads)
                .await
                .unwrap();
            assert_eq!(parallel, sequential, "{threads} threads");
        }
        assert!(hash_parts_parallel(path, None, all, 4).await.unwrap().is_empty());
    }
}
