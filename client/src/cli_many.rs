//! `jetty upload` of several paths or a directory (part of the `jetty` binary, not the SDK):
//! each file is its own upload (`Client::upload`: its own session, resume record and dedup),
//! `--files` at a time with `-j` and `--limit-rate` shared among them; a bar per file in flight
//! and a total bar, one JSON line per file as it finishes, and a summary.

use crate::{error_json, Cli};
use futures::stream::StreamExt;
use indicatif::{BinaryBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use jetty_client::many::{self, FileEntry, Summary};
use jetty_client::{Client, ClientError, Progress, RetryNotice, UploadOptions, UploadOutcome};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// The many-file flags of `jetty upload`.
pub(crate) struct Many {
    pub files_at_once: usize,
    pub follow_symlinks: bool,
    pub no_resume: bool,
}

/// Uploads every file `paths` name; returns the exit code (0, or the worst file's).
pub(crate) async fn upload_many(
    cli: &Cli,
    client: &Client,
    paths: &[PathBuf],
    mut opts: UploadOptions,
    many: &Many,
) -> u8 {
    let started = Instant::now();
    let walk = many::walk(paths, many.follow_symlinks);
    let total_bytes = walk.total_bytes();
    let file_count = walk.files.len();
    let out = Output::new(cli.json, total_bytes, file_count);
    let mut summary = Summary::default();
    for skipped in &walk.skipped {
        out.note(&format!("skipped {}: {}", skipped.path.display(), skipped.reason));
        summary.record_skipped();
    }
    for failed in walk.errors {
        let err = ClientError::Io(failed.error);
        out.file_failed(&failed.path, None, &err);
        summary.record_failed(err.exit_code());
    }

    let (in_flight, parts_each) = many::share_among(opts.concurrency as u64, many.files_at_once, file_count);
    opts.concurrency = parts_each as usize;
    opts.limit_rate = opts
        .limit_rate
        .map(|rate| many::share_among(rate, many.files_at_once, file_count).1);
    if many.no_resume {
        if let Some(store) = &opts.state {
            for file in &walk.files {
                store.remove(&file.path);
            }
        }
    }

    let mut results = futures::stream::iter(walk.files)
        .map(|entry| {
            let client = client.clone();
            let mut opts = opts.clone();
            let bar = out.file_bar(&entry);
            async move {
                let done = Arc::new(AtomicU64::new(0));
                opts.on_retry = bar.as_ref().map(|b| b.retry_notice());
                let progress = bar.as_ref().map(|b| b.progress(done.clone()));
                let path = entry.path.clone();
                let task = tokio::spawn(async move { client.upload(&path, &opts, progress).await });
                let result = task
                    .await
                    .unwrap_or_else(|e| Err(ClientError::Io(std::io::Error::other(e))));
                (entry, bar, done.load(Ordering::Relaxed), result)
            }
        })
        .buffer_unordered(in_flight);
    while let Some((entry, bar, done, result)) = results.next().await {
        if let Some(bar) = bar {
            bar.finish(&out, done, result.is_ok());
        }
        match &result {
            Ok(outcome) => {
                out.file_ok(&entry.path, outcome);
                summary.record_ok(outcome);
            }
            Err(err) => {
                out.file_failed(&entry.path, Some(entry.size), err);
                summary.record_failed(err.exit_code());
            }
        }
        out.count_done(summary.files);
    }
    summary.finish(started.elapsed().as_secs_f64());
    out.summary(&summary);
    summary.exit_code
}

/// Where a run of many files reports: JSON lines, or human lines under live bars (only when
/// stderr is a terminal).
struct Output {
    json: bool,
    bars: Option<(MultiProgress, ProgressBar)>,
    files: usize,
}

impl Output {
    fn new(json: bool, total_bytes: u64, files: usize) -> Output {
        let bars = (!json && std::io::stderr().is_terminal() && files > 0).then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let total = multi.add(ProgressBar::new(total_bytes));
            total.set_style(style(
                "{prefix:<32} [{bar:40}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta} {msg}",
            ));
            total.set_prefix("total");
            total.set_message(format!("0/{files} files"));
            (multi, total)
        });
        Output { json, bars, files }
    }

    /// Prints above the bars.
    fn print(&self, text: &str, to_stderr: bool) {
        let print = || {
            if to_stderr {
                eprintln!("{text}");
            } else {
                println!("{text}");
            }
        };
        match &self.bars {
            Some((multi, _)) => multi.suspend(print),
            None => print(),
        }
    }

    /// A remark on stderr (skipped entries), in either mode: JSON lines stay on stdout.
    fn note(&self, text: &str) {
        self.print(&format!("jetty: {text}"), true);
    }

    fn file_ok(&self, path: &Path, outcome: &UploadOutcome) {
        if self.json {
            let mut line = serde_json::to_value(outcome).unwrap_or_default();
            line["path"] = path.to_string_lossy().into();
            line["status"] = "ok".into();
            self.print(&line.to_string(), false);
            return;
        }
        let what = match (outcome.duplicate, outcome.resumed) {
            (true, _) => "duplicate",
            (false, true) => "resumed  ",
            (false, false) => "uploaded ",
        };
        self.print(
            &format!(
                "{what} {}  {}  {}  {}",
                path.display(),
                BinaryBytes(outcome.size),
                outcome.file_id,
                outcome.url
            ),
            false,
        );
    }

    fn file_failed(&self, path: &Path, size: Option<u64>, err: &ClientError) {
        if self.json {
            let mut line = serde_json::json!({
                "path": path.to_string_lossy(),
                "status": "failed",
                "error": error_json(err),
            });
            if let Some(size) = size {
                line["size"] = size.into();
            }
            self.print(&line.to_string(), false);
        } else {
            self.print(&format!("failed    {}: {err}", path.display()), true);
        }
    }

    fn count_done(&self, done: usize) {
        if let Some((_, total)) = &self.bars {
            total.set_message(format!("{done}/{} files", self.files));
        }
    }

    fn summary(&self, s: &Summary) {
        if let Some((multi, total)) = &self.bars {
            total.finish_and_clear();
            multi.remove(total);
        }
        if self.json {
            self.print(&serde_json::json!({ "summary": s }).to_string(), false);
            return;
        }
        let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut counts = vec![
            format!("{} uploaded", s.uploaded),
            plural(s.duplicates, "duplicate", "duplicates"),
            format!("{} failed", s.failed),
        ];
        if s.skipped > 0 {
            counts.push(format!("{} skipped", s.skipped));
        }
        self.print(
            &format!(
                "{}: {}; {} ({} sent) in {:.2} s, {:.1} MiB/s",
                plural(s.files, "file", "files"),
                counts.join(", "),
                BinaryBytes(s.bytes),
                BinaryBytes(s.bytes_sent),
                s.seconds,
                s.mib_per_sec
            ),
            false,
        );
    }

    /// A bar for a file starting (none without bars).
    fn file_bar(&self, entry: &FileEntry) -> Option<FileBar> {
        let (multi, total) = self.bars.as_ref()?;
        let bar = multi.insert_before(total, ProgressBar::new(entry.size));
        bar.set_style(style(
            "{prefix:<32} [{bar:40}] {bytes}/{total_bytes} {binary_bytes_per_sec} {msg}",
        ));
        bar.set_prefix(tail(&entry.path.display().to_string(), 32));
        Some(FileBar {
            bar,
            total: total.clone(),
            size: entry.size,
        })
    }
}

/// One file's bar; its progress also moves the total bar.
struct FileBar {
    bar: ProgressBar,
    total: ProgressBar,
    size: u64,
}

impl FileBar {
    /// Progress for the upload: its bar's position, and the total moved by the difference.
    fn progress(&self, done: Arc<AtomicU64>) -> Progress {
        let (bar, total) = (self.bar.clone(), self.total.clone());
        Arc::new(move |now, _| {
            bar.set_position(now);
            let before = done.fetch_max(now, Ordering::Relaxed);
            if now > before {
                total.inc(now - before);
            }
        })
    }

    /// Shows what the file's upload is waiting out on its bar.
    fn retry_notice(&self) -> RetryNotice {
        let bar = self.bar.clone();
        RetryNotice::new(move |retrying| match retrying {
            Some(r) => bar.set_message(r.to_string()),
            None => bar.set_message(""),
        })
    }

    /// Clears the bar; the total counts the rest of a finished file (a duplicate sends
    /// nothing), and drops the rest of a failed one so it still ends full.
    fn finish(self, out: &Output, done: u64, ok: bool) {
        let rest = self.size.saturating_sub(done);
        if ok {
            self.total.inc(rest);
        } else {
            self.total
                .set_length(self.total.length().unwrap_or(0).saturating_sub(rest));
        }
        self.bar.finish_and_clear();
        if let Some((multi, _)) = &out.bars {
            multi.remove(&self.bar);
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// The last `width` characters of `s`, marked with "…" when cut.
fn tail(s: &str, width: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= width {
        return s.to_owned();
    }
    let kept: String = chars[chars.len() - (width - 1)..].iter().collect();
    format!("…{kept}")
}

#[cfg(test)]
mod tests {
    use super::tail;

    #[test]
    fn long_paths_keep_their_end_on_a_bar() {
        assert_eq!(tail("a/b.bin", 32), "a/b.bin");
        assert_eq!(tail("0123456789", 5), "…6789");
        assert_eq!(tail("ééééé", 5), "ééééé");
    }
}
