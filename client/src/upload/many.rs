//! Uploading many files, as `jetty upload A B DIR` does: which files a list of paths names
//! (`walk`), how the part concurrency and the rate limit are shared among the files in flight
//! (`share_among`), and what the run adds up to (`Summary`, with the exit code of its worst
//! failure). Each file is still its own upload (`Client::upload`): its own session, local
//! resume record and dedup.

use super::options::UploadOutcome;
use serde::Serialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// A regular file to upload, with its size when the walk saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub path: PathBuf,
    pub size: u64,
}

/// Why the walk passed over an entry on purpose (it is reported, never dropped silently).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// A symbolic link found inside a directory, not followed (`follow_symlinks` is off).
    Symlink,
    /// A FIFO, socket or device.
    NotRegular,
    /// The same file named again (by another argument, or through a followed link).
    Repeated,
    /// A followed link back to a directory being walked.
    Loop,
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SkipReason::Symlink => "symbolic link, not followed (--follow-symlinks to follow)",
            SkipReason::NotRegular => "not a regular file",
            SkipReason::Repeated => "already listed",
            SkipReason::Loop => "symbolic link loop",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: SkipReason,
}

/// An entry the walk could not read (a directory it may not list, a vanished file, a broken
/// link): a failed file of the run, with exit code 1.
#[derive(Debug)]
pub struct WalkError {
    pub path: PathBuf,
    pub error: std::io::Error,
}

/// What a list of paths names: the files in a deterministic order (the arguments in the order
/// given, each directory's entries by name, depth first), what was passed over and why, and
/// what could not be read.
#[derive(Debug, Default)]
pub struct Walk {
    pub files: Vec<FileEntry>,
    pub skipped: Vec<Skipped>,
    pub errors: Vec<WalkError>,
}

impl Walk {
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// The regular files `paths` name. A file is itself; a directory is walked recursively. A
/// symbolic link named in `paths` is followed; one found inside a directory is followed only
/// with `follow_symlinks` (then a link back to a directory being walked is a `Loop`), else
/// skipped. Each file is listed once even if named twice.
pub fn walk(paths: &[PathBuf], follow_symlinks: bool) -> Walk {
    let mut walker = Walker {
        follow_symlinks,
        out: Walk::default(),
        seen: HashSet::new(),
        ancestors: Vec::new(),
    };
    for path in paths {
        // Named explicitly: followed, as every shell tool does.
        match std::fs::metadata(path) {
            Ok(meta) => walker.entry(path.clone(), meta),
            Err(error) => walker.error(path.clone(), error),
        }
    }
    walker.out
}

struct Walker {
    follow_symlinks: bool,
    out: Walk,
    /// Canonical paths of the files listed so far.
    seen: HashSet<PathBuf>,
    /// Canonical paths of the directories being walked (for loops through followed links).
    ancestors: Vec<PathBuf>,
}

impl Walker {
    fn error(&mut self, path: PathBuf, error: std::io::Error) {
        self.out.errors.push(WalkError { path, error });
    }

    fn skip(&mut self, path: PathBuf, reason: SkipReason) {
        self.out.skipped.push(Skipped { path, reason });
    }

    /// `path`, whose (followed) metadata is `meta`.
    fn entry(&mut self, path: PathBuf, meta: std::fs::Metadata) {
        if meta.is_file() {
            let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            if self.seen.insert(canonical) {
                self.out.files.push(FileEntry { path, size: meta.len() });
            } else {
                self.skip(path, SkipReason::Repeated);
            }
        } else if meta.is_dir() {
            self.dir(path);
        } else {
            self.skip(path, SkipReason::NotRegular);
        }
    }

    fn dir(&mut self, dir: PathBuf) {
        let canonical = match std::fs::canonicalize(&dir) {
            Ok(c) => c,
            Err(error) => return self.error(dir, error),
        };
        if self.ancestors.contains(&canonical) {
            return self.skip(dir, SkipReason::Loop);
        }
        let entries = match read_sorted(&dir) {
            Ok(entries) => entries,
            Err(error) => return self.error(dir, error),
        };
        self.ancestors.push(canonical);
        for (path, file_type) in entries {
            let file_type = match file_type {
                Ok(t) => t,
                Err(error) => {
                    self.error(path, error);
                    continue;
                }
            };
            let meta = if file_type.is_symlink() {
                if !self.follow_symlinks {
                    self.skip(path, SkipReason::Symlink);
                    continue;
                }
                std::fs::metadata(&path)
            } else {
                std::fs::symlink_metadata(&path)
            };
            match meta {
                Ok(meta) => self.entry(path, meta),
                Err(error) => self.error(path, error),
            }
        }
        self.ancestors.pop();
    }
}

/// A directory's entries sorted by name (bytewise), each with its own (unfollowed) type.
#[allow(clippy::type_complexity)]
fn read_sorted(dir: &Path) -> std::io::Result<Vec<(PathBuf, std::io::Result<std::fs::FileType>)>> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        entries.push((entry.file_name(), entry.file_type()));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(entries.into_iter().map(|(name, t)| (dir.join(name), t)).collect())
}

/// How many files go at once (`files_at_once`, capped by how many there are), and each one's
/// share of `total`: at least 1, so the whole stays within `max(total, files in flight)`. Used
/// for the part concurrency (`-j`) and, when set, the rate limit.
pub fn share_among(total: u64, files_at_once: usize, files: usize) -> (usize, u64) {
    let in_flight = files_at_once.min(files).max(1);
    (in_flight, (total / in_flight as u64).max(1))
}

/// How bad a failure's exit code is, to pick the one a run of many files exits with: an
/// integrity failure (5) over a refusal (3) over a local I/O error (1) over an outage (4),
/// so 4 — "run it again to continue" — is the answer only when re-running alone can finish
/// every file.
fn severity(code: u8) -> u8 {
    match code {
        0 => 0,
        4 => 1,
        1 => 2,
        3 => 3,
        5 => 4,
        _ => 2,
    }
}

/// The exit code of a run whose files ended with `codes`: 0 if all succeeded, else the most
/// severe (`severity`).
pub fn combined_exit_code(codes: impl IntoIterator<Item = u8>) -> u8 {
    codes.into_iter().max_by_key(|c| severity(*c)).unwrap_or(0)
}

/// What a run of many files adds up to. `files` = `uploaded` + `duplicates` + `failed`;
/// `skipped` entries are not files of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub files: usize,
    /// Stored by this run (a resumed upload included).
    pub uploaded: usize,
    /// Already stored: answered at once, nothing sent.
    pub duplicates: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Size of every file that succeeded (uploaded and duplicates).
    pub bytes: u64,
    /// Size of the files stored by this run.
    pub bytes_uploaded: u64,
    /// Size of the files answered as duplicates.
    pub bytes_deduplicated: u64,
    /// Body bytes this run streamed to edges (retries included, parts sent before a resume not).
    pub bytes_sent: u64,
    /// Wall-clock seconds of the whole run.
    pub seconds: f64,
    /// `bytes_sent` per second of the run, in MiB/s.
    pub mib_per_sec: f64,
    pub exit_code: u8,
}

impl Summary {
    pub fn record_ok(&mut self, outcome: &UploadOutcome) {
        self.files += 1;
        self.bytes += outcome.size;
        self.bytes_sent += outcome.bytes_sent;
        if outcome.duplicate {
            self.duplicates += 1;
            self.bytes_deduplicated += outcome.size;
        } else {
            self.uploaded += 1;
            self.bytes_uploaded += outcome.size;
        }
    }

    /// A file that failed with `exit_code`.
    pub fn record_failed(&mut self, exit_code: u8) {
        self.files += 1;
        self.failed += 1;
        self.exit_code = combined_exit_code([self.exit_code, exit_code]);
    }

    pub fn record_skipped(&mut self) {
        self.skipped += 1;
    }

    /// Closes the run after `seconds`.
    pub fn finish(&mut self, seconds: f64) {
        self.seconds = seconds;
        self.mib_per_sec = if seconds > 0.0 {
            self.bytes_sent as f64 / (1024.0 * 1024.0) / seconds
        } else {
            0.0
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upload::temp_dir;

    fn write(path: &Path, len: usize) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, vec![7u8; len]).unwrap();
    }

    fn rel(root: &Path, files: &[FileEntry]) -> Vec<(String, u64)> {
        files
            .iter()
            .map(|f| (f.path.strip_prefix(root).unwrap().display().to_string(), f.size))
            .collect()
    }

    #[test]
    fn a_directory_is_walked_depth_first_by_name_and_empty_dirs_add_nothing() {
        let root_guard = temp_dir();
        let root = root_guard.path();
        // Created out of order: the walk's order must not depend on the file system's.
        write(&root.join("d/z.bin"), 3);
        write(&root.join("b/c/deep.bin"), 2);
        write(&root.join("a.bin"), 1);
        write(&root.join("b/a.bin"), 0);
        write(&root.join("B.bin"), 4);
        std::fs::create_dir_all(root.join("empty/also-empty")).unwrap();
        let walked = walk(&[root.to_path_buf()], false);
        assert_eq!(
            rel(root, &walked.files),
            [
                ("B.bin".to_owned(), 4),
                ("a.bin".to_owned(), 1),
                ("b/a.bin".to_owned(), 0),
                ("b/c/deep.bin".to_owned(), 2),
                ("d/z.bin".to_owned(), 3),
            ]
        );
        assert!(walked.skipped.is_empty(), "{:?}", walked.skipped);
        assert!(walked.errors.is_empty(), "{:?}", walked.errors);
        assert_eq!(walked.total_bytes(), 10);
        // The same tree walked again lists the same files in the same order.
        assert_eq!(walk(&[root.to_path_buf()], false).files, walked.files);
        // An empty directory is no files, and no error.
        let empty = walk(&[root.join("empty")], false);
        assert!(empty.files.is_empty() && empty.skipped.is_empty() && empty.errors.is_empty());
    }

    #[test]
    fn arguments_keep_their_order_and_a_file_named_twice_is_listed_once() {
        let root_guard = temp_dir();
        let root = root_guard.path();
        write(&root.join("dir/x"), 1);
        write(&root.join("dir/y"), 1);
        write(&root.join("solo"), 5);
        let walked = walk(&[root.join("solo"), root.join("dir"), root.join("dir/x")], false);
        assert_eq!(
            rel(root, &walked.files),
            [("solo".to_owned(), 5), ("dir/x".to_owned(), 1), ("dir/y".to_owned(), 1)]
        );
        assert_eq!(
            walked.skipped,
            [Skipped {
                path: root.join("dir/x"),
                reason: SkipReason::Repeated
            }]
        );
    }

    #[test]
    fn missing_paths_are_errors_not_silence() {
        let root_guard = temp_dir();
        let root = root_guard.path();
        write(&root.join("there"), 1);
        let walked = walk(&[root.join("missing"), root.join("there")], false);
        assert_eq!(rel(root, &walked.files), [("there".to_owned(), 1)]);
        assert_eq!(walked.errors.len(), 1);
        assert_eq!(walked.errors[0].path, root.join("missing"));
        assert_eq!(walked.errors[0].error.kind(), std::io::ErrorKind::NotFound);
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_inside_a_directory_are_skipped_and_reported_unless_followed() {
        use std::os::unix::fs::symlink;
        let root_guard = temp_dir();
        let root = root_guard.path();
        let outside_guard = temp_dir();
        let outside = outside_guard.path();
        write(&outside.join("target.bin"), 6);
        write(&outside.join("sub/inner.bin"), 7);
        write(&root.join("tree/real.bin"), 1);
        symlink(outside.join("target.bin"), root.join("tree/link.bin")).unwrap();
        symlink(outside.join("sub"), root.join("tree/linkdir")).unwrap();
        symlink(root.join("tree/nowhere"), root.join("tree/broken")).unwrap();
        symlink(root.join("tree"), root.join("tree/loop")).unwrap();

        let walked = walk(&[root.join("tree")], false);
        assert_eq!(rel(root, &walked.files), [("tree/real.bin".to_owned(), 1)]);
        let skipped: Vec<(PathBuf, SkipReason)> = walked.skipped.iter().map(|s| (s.path.clone(), s.reason)).collect();
        assert_eq!(
            skipped,
            [
                (root.join("tree/broken"), SkipReason::Symlink),
                (root.join("tree/link.bin"), SkipReason::Symlink),
                (root.join("tree/linkdir"), SkipReason::Symlink),
                (root.join("tree/loop"), SkipReason::Symlink),
            ]
        );
        assert!(walked.errors.is_empty());

        // Followed: files and directories behind links are listed (under the link's path), the
        // loop is cut and reported, the broken link is an error.
        let walked = walk(&[root.join("tree")], true);
        assert_eq!(
            rel(root, &walked.files),
            [
                ("tree/link.bin".to_owned(), 6),
                ("tree/linkdir/inner.bin".to_owned(), 7),
                ("tree/real.bin".to_owned(), 1),
            ]
        );
        assert_eq!(
            walked.skipped,
            [Skipped {
                path: root.join("tree/loop"),
                reason: SkipReason::Loop
            }]
        );
        assert_eq!(walked.errors.len(), 1);
        assert_eq!(walked.errors[0].path, root.join("tree/broken"));

        // A link named as an argument is followed even without the flag.
        let walked = walk(&[root.join("tree/link.bin")], false);
        assert_eq!(rel(root, &walked.files), [("tree/link.bin".to_owned(), 6)]);
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_that_cannot_be_listed_is_an_error_and_the_rest_is_walked() {
        use std::os::unix::fs::PermissionsExt;
        let root_guard = temp_dir();
        let root = root_guard.path();
        write(&root.join("locked/secret"), 1);
        write(&root.join("open/file"), 2);
        std::fs::set_permissions(root.join("locked"), std::fs::Permissions::from_mode(0o000)).unwrap();
        let walked = walk(&[root.to_path_buf()], false);
        std::fs::set_permissions(root.join("locked"), std::fs::Permissions::from_mode(0o755)).unwrap();
        if std::fs::read_dir(root.join("locked")).is_ok() && walked.errors.is_empty() {
            // Running as root: permissions do not apply; nothing to check.
            return;
        }
        assert_eq!(rel(root, &walked.files), [("open/file".to_owned(), 2)]);
        assert_eq!(walked.errors.len(), 1);
        assert_eq!(walked.errors[0].path, root.join("locked"));
        assert_eq!(walked.errors[0].error.kind(), std::io::ErrorKind::PermissionDenied);
    }

    #[cfg(unix)]
    #[test]
    fn fifos_are_skipped_and_reported() {
        let root_guard = temp_dir();
        let root = root_guard.path();
        write(&root.join("file"), 1);
        let fifo = root.join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            return; // no mkfifo here
        }
        let walked = walk(&[root.to_path_buf()], false);
        assert_eq!(rel(root, &walked.files), [("file".to_owned(), 1)]);
        assert_eq!(
            walked.skipped,
            [Skipped {
                path: fifo,
                reason: SkipReason::NotRegular
            }]
        );
    }

    #[test]
    fn the_part_concurrency_is_divided_among_the_files_in_flight() {
        let table = [
            // (-j, --files, files, in flight, parts each)
            (16, 4, 10, 4, 4),
            (16, 4, 2, 2, 8),  // fewer files than slots: each gets more
            (16, 4, 1, 1, 16), // one file: all of it
            (16, 4, 0, 1, 16),
            (17, 4, 10, 4, 4), // rounded down: never more than -j in all
            (2, 4, 10, 4, 1),  // at least one part each
            (1, 1, 10, 1, 1),
            (16, 32, 100, 32, 1),
        ];
        for (j, files_at_once, files, in_flight, each) in table {
            assert_eq!(
                share_among(j, files_at_once, files),
                (in_flight, each),
                "-j {j} --files {files_at_once} over {files} files"
            );
            assert!(in_flight as u64 * each <= j.max(in_flight as u64));
        }
        // The same division shares a rate limit: 24 MiB/s over 4 files is 6 MiB/s each.
        assert_eq!(share_among(24 << 20, 4, 9), (4, 6 << 20));
    }

    #[test]
    fn the_exit_code_is_the_worst_failure() {
        let table: [(&[u8], u8); 9] = [
            (&[], 0),
            (&[0, 0, 0], 0),
            (&[0, 4], 4),
            (&[4, 1], 1), // an outage a re-run gets past is not the whole story
            (&[1, 4, 0], 1),
            (&[4, 3, 1], 3),
            (&[3, 5, 4], 5),
            (&[5, 0], 5),
            (&[0, 1], 1),
        ];
        for (codes, want) in table {
            assert_eq!(combined_exit_code(codes.iter().copied()), want, "{codes:?}");
            // The order of the files does not matter.
            assert_eq!(combined_exit_code(codes.iter().rev().copied()), want, "{codes:?}");
        }
    }

    fn outcome(size: u64, duplicate: bool, bytes_sent: u64) -> UploadOutcome {
        UploadOutcome {
            file_id: "fil_x".into(),
            url: "http://x".into(),
            size,
            sha256: String::new(),
            duplicate,
            resumed: false,
            parts: 0,
            parts_sent: 0,
            bytes_sent,
            parts_reused: 0,
            edges: vec![],
            seconds: 0.0,
            timeline: crate::upload::Timeline::start(),
        }
    }

    #[test]
    fn the_summary_adds_up() {
        const MIB: u64 = 1024 * 1024;
        let mut s = Summary::default();
        s.record_ok(&outcome(12 * MIB, false, 12 * MIB));
        s.record_ok(&outcome(0, false, 0));
        s.record_ok(&outcome(3 * MIB, true, 0));
        // A resumed file sends only what was missing.
        s.record_ok(&outcome(10 * MIB, false, 4 * MIB));
        s.record_failed(4);
        s.record_failed(1);
        s.record_skipped();
        s.finish(2.0);
        assert_eq!(
            s,
            Summary {
                files: 6,
                uploaded: 3,
                duplicates: 1,
                failed: 2,
                skipped: 1,
                bytes: 25 * MIB,
                bytes_uploaded: 22 * MIB,
                bytes_deduplicated: 3 * MIB,
                bytes_sent: 16 * MIB,
                seconds: 2.0,
                mib_per_sec: 8.0,
                exit_code: 1,
            }
        );
        assert_eq!(s.files, s.uploaded + s.duplicates + s.failed);
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["bytesSent"], 16 * MIB);
        assert_eq!(json["mibPerSec"], 8.0);
        assert_eq!(json["exitCode"], 1);

        // Nothing at all: no division by zero.
        let mut empty = Summary::default();
        empty.finish(0.0);
        assert_eq!(empty.mib_per_sec, 0.0);
        assert_eq!(empty.exit_code, 0);
    }
}
