//! `jetty`: upload, resume, inspect, abort and download files through a JettySpeed fleet.
//!
//! Exit codes: 0 ok, 1 local I/O error, 2 usage error, 3 refused by the server (4xx but
//! 408/429), 4 network or server failure (5xx, 408, 429) still failing after `--retry-for` seconds (an upload's
//! session is kept: run it again to continue), 5 integrity check failed. An upload of several
//! files exits with its worst file's code (5 over 3 over 1 over 4; `cli_many.rs`).

mod cli_list;
mod cli_many;

use clap::{Parser, Subcommand};
use cli_many::{upload_many, Many};
use indicatif::{ProgressBar, ProgressStyle};
use jetty_client::{Client, ClientError, Config, RetryNotice, RetryPolicy, Route, StateStore, UploadOptions};
use jetty_shared::protocol::Location;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "jetty", version, about = "Edge-accelerated, resumable, verified uploads")]
struct Cli {
    /// Coordinator URL (default: the config file's, else http://127.0.0.1:8787).
    #[arg(long, env = "JETTY_URL", global = true)]
    url: Option<String>,
    /// API key (jsk_…).
    #[arg(long, env = "JETTY_API_KEY", hide_env_values = true, global = true)]
    api_key: Option<String>,
    /// Print one JSON object instead of human output (an upload of several files: one line
    /// per file as it finishes, then a summary line).
    #[arg(long, global = true)]
    json: bool,
    /// Where unfinished uploads are remembered (default: $XDG_STATE_HOME/jetty or
    /// ~/.local/state/jetty).
    #[arg(long, env = "JETTY_STATE_DIR", global = true)]
    state_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Upload files through the fleet's edges; re-running after an interruption resumes.
    ///
    /// One file prints its outcome as before (one JSON object with --json). Several paths, or
    /// a directory (walked recursively, regular files only), upload each file as its own
    /// session, --files at a time, -j shared among them; with --json, one line per file as it
    /// finishes, then a `{"summary": …}` line. Symbolic links inside directories are not
    /// followed (they are reported as skipped) unless --follow-symlinks; links named as
    /// arguments are. The exit code is the worst file's.
    Upload {
        /// Files or directories.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        transfer: TransferArgs,
        /// Files uploaded at once when there are several; each gets an equal share (at least
        /// one) of -j and of --limit-rate.
        #[arg(long = "files", value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
        files_at_once: u16,
        /// Follow symbolic links found inside directories (a link back to a directory being
        /// walked is skipped).
        #[arg(long, short = 'L')]
        follow_symlinks: bool,
        /// Your location as LAT,LNG, for edge selection.
        #[arg(long, value_parser = parse_location)]
        location: Option<Location>,
        #[arg(long)]
        content_type: Option<String>,
        /// Seconds the server keeps the session open for resuming.
        #[arg(long)]
        expires_in: Option<u64>,
        /// Start afresh even if an unfinished upload of this file is remembered.
        #[arg(long)]
        no_resume: bool,
    },
    /// Finish an upload started elsewhere (no local record needed): re-hashes FILE, checks it
    /// is the session's file, and sends only the parts the server has not recorded.
    Resume {
        file_id: String,
        file: PathBuf,
        #[command(flatten)]
        transfer: TransferArgs,
    },
    /// Show an upload session's state as the server recorded it.
    Status {
        file_id: String,
        /// Seconds to keep retrying while the coordinator is unreachable or failing.
        #[arg(long, default_value_t = 120, value_name = "SECS")]
        retry_for: u64,
    },
    /// Abort an upload session and discard its uploaded parts.
    Abort { file_id: String },
    /// Download a file through the edges, or from the store where it is as near (parallel ranged
    /// reads, resumable), and check its SHA-256.
    Download {
        file_id: String,
        out: PathBuf,
        /// Ranges in flight at once.
        #[arg(long, short = 'j', default_value_t = jetty_client::DOWNLOAD_CONCURRENCY)]
        concurrency: usize,
        /// Read through the coordinator instead of the edges.
        #[arg(long)]
        origin: bool,
        /// Where the ranges are read: `auto` reads straight from the store when the service
        /// offers that route and the store answers about as fast as the nearest edge, else
        /// from the edges; `edges` and `direct` force one way.
        #[arg(long, value_enum, default_value_t = Route::Auto, env = "JETTY_ROUTE")]
        route: Route,
        /// Seconds a range may get nothing (no answer, no bytes) from its source before it is
        /// read again from the next one; a range still receiving is never cut.
        #[arg(long, default_value_t = jetty_client::DOWNLOAD_STALL_TIMEOUT.as_secs(), value_name = "SECS")]
        stall_timeout_secs: u64,
    },
    /// Print a signed, expiring download link.
    Link {
        file_id: String,
        /// Seconds the link stays valid (at most 7 days).
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
        /// Make browsers save the file instead of showing it.
        #[arg(long)]
        attachment: bool,
    },
    /// Delete a file (its object goes when no deduplicated copy still uses it).
    Delete { file_id: String },
    /// Your files, newest first.
    Ls {
        /// Only names starting with this.
        #[arg(long, default_value = "")]
        prefix: String,
        /// Rows at most.
        #[arg(long, default_value_t = 50, conflicts_with = "all")]
        limit: u32,
        /// Every file (all pages).
        #[arg(long)]
        all: bool,
    },
    /// Your unfinished uploads (open sessions), newest first; continue one with `jetty resume`
    /// (on any machine) or from the upload page.
    Uploads {
        /// Only names starting with this.
        #[arg(long, default_value = "")]
        prefix: String,
        /// Only uploads of this content (hex SHA-256).
        #[arg(long)]
        hash: Option<String>,
        /// Rows at most.
        #[arg(long, default_value_t = 50, conflicts_with = "all")]
        limit: u32,
        /// Every upload (all pages).
        #[arg(long)]
        all: bool,
    },
    /// Upload analytics: speed, volume, dedup savings, edges, recent uploads. With the
    /// operators' admin key as the API key: every account (or one, with --account).
    Stats {
        #[arg(long)]
        account: Option<String>,
    },
    /// Your account.
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Operator commands.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Storage and bandwidth used against the tier's quotas.
    Quota,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Provision a storage account for a platform user, through the signed provisioning webhook.
    Provision {
        #[arg(long)]
        user: String,
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "pro")]
        tier: String,
        /// The platform's webhook signing secret (whsec_…).
        #[arg(long, env = "JETTY_WEBHOOK_SECRET", hide_env_values = true)]
        webhook_secret: String,
        /// Save the returned credentials and URL in the config file.
        #[arg(long)]
        save: bool,
    },
}

#[derive(clap::Args)]
struct TransferArgs {
    /// Parts in flight at once, at most (an upload of several files divides them among the
    /// files in flight, at least one each). 32: on a lossy last mile each connection is held to
    /// its own loss bound, so more of them fill the link; fewer go where more only cost (8
    /// straight to a store on a LAN, 8 through the edges when this machine's TCP runs BBR;
    /// docs/wan-bench.md).
    #[arg(long, short = 'j', default_value_t = 32)]
    concurrency: usize,
    /// Preferred part size in MiB (clamped by the server to S3's rules).
    #[arg(long)]
    part_size_mib: Option<u64>,
    /// Upper bound on upload throughput, MiB/s (in all: divided among the files in flight).
    #[arg(long)]
    limit_rate: Option<f64>,
    /// Seconds one part may take before it is sent again through another edge (default: a
    /// minute plus the part's size at 64 KiB/s) — unless its bytes are still moving: a slow part
    /// is sent again only once it has gone this long (default a minute) without moving.
    #[arg(long)]
    part_timeout_secs: Option<u64>,
    /// Seconds of continuous failure (the store, the coordinator or every edge failing) to
    /// wait out, retrying with backoff, before giving up with exit code 4; any success starts
    /// the count again. The session is kept: run the command again to continue it.
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    retry_for: u64,
    /// Which way the parts go: `auto` sends them straight to the store when the service offers
    /// that route and the store answers about as fast as the nearest edge (a LAN, the store's
    /// region), else through the edges; `edges` and `direct` force one way.
    #[arg(long, value_enum, default_value_t = Route::Auto, env = "JETTY_ROUTE")]
    route: Route,
    /// Uploads: files up to this many MiB are hashed before their session opens, so a file the
    /// account stores already sends nothing; a larger new file's parts go out while it is
    /// hashed, and it is named (and found a duplicate, or its unsent parts copied from an
    /// earlier version) once every part is hashed.
    #[arg(long, default_value_t = jetty_client::HASH_FIRST_MAX >> 20, value_name = "MIB")]
    hash_first_mib: u64,
}

fn parse_location(s: &str) -> Result<Location, String> {
    let (lat, lng) = s.split_once(',').ok_or("expected LAT,LNG")?;
    let lat: f64 = lat.trim().parse().map_err(|_| "bad latitude")?;
    let lng: f64 = lng.trim().parse().map_err(|_| "bad longitude")?;
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lng) {
        return Err("latitude must be in [-90, 90] and longitude in [-180, 180]".into());
    }
    Ok(Location { lat, lng })
}

/// `{"code", "message", "details"}` of an error, as `--json` reports it.
fn error_json(err: &ClientError) -> serde_json::Value {
    let (code, details) = match err {
        ClientError::Refused { code, details, .. } => (code.clone(), details.clone()),
        ClientError::Network(_) => ("network_error".into(), None),
        ClientError::Server { code, .. } => (code.clone().unwrap_or_else(|| "server_error".into()), None),
        ClientError::Integrity(_) => ("integrity_error".into(), None),
        ClientError::Io(_) => ("io_error".into(), None),
    };
    serde_json::json!({"code": code, "message": err.to_string(), "details": details})
}

fn report_error(json: bool, err: &ClientError) {
    if json {
        println!("{}", serde_json::json!({"error": error_json(err)}));
    } else {
        eprintln!("jetty: {err}");
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    // Files are hashed through memory maps: a file shortened meanwhile ends the run cleanly.
    jetty_client::exit_cleanly_on_sigbus();
    let cli = Cli::parse();
    let config = Config::load();
    let url = cli
        .url
        .clone()
        .or(config.url.clone())
        .unwrap_or_else(|| "http://127.0.0.1:8787".to_owned());
    let result = match &cli.command {
        Command::Admin { command } => admin(&cli, &url, command).await.map(|()| 0),
        _ => match cli.api_key.clone().or(config.api_key) {
            Some(key) => run(&cli, &url, &key).await,
            None => {
                eprintln!("jetty: an API key is required (--api-key, JETTY_API_KEY or the config file)");
                return ExitCode::from(2);
            }
        },
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            report_error(cli.json, &err);
            ExitCode::from(err.exit_code())
        }
    }
}

async fn admin(cli: &Cli, url: &str, command: &AdminCommand) -> Result<(), ClientError> {
    match command {
        AdminCommand::Provision {
            user,
            email,
            tier,
            webhook_secret,
            save,
        } => {
            // Printed as the server answered; read typed for the credentials to save.
            let answer = jetty_client::provision_raw(url, webhook_secret, user, email, tier).await?;
            let provisioned: jetty_client::Provisioned = jetty_client::typed(answer.clone())?;
            if *save {
                let config = Config {
                    url: Some(url.to_owned()),
                    api_key: provisioned.credentials.api_key.clone(),
                    api_secret: provisioned.credentials.api_secret.clone(),
                };
                let path = config.save()?;
                if !cli.json {
                    eprintln!("saved credentials to {}", path.display());
                }
            }
            if cli.json {
                println!("{answer}");
            } else {
                let message = Some(provisioned.message.as_str()).filter(|m| !m.is_empty());
                println!("{}", message.unwrap_or("provisioned"));
                println!(
                    "{}",
                    serde_json::to_string_pretty(&answer["credentials"]).unwrap_or_default()
                );
            }
        }
    }
    Ok(())
}

/// `jetty stats` as tables: the same numbers as `/api/jetty/stats` (and the dashboard).
fn stats_tables(st: &jetty_client::Stats) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let mb = |bytes: u64| bytes as f64 / 1e6;
    let num = |v: Option<f64>| v.map_or("-".to_owned(), |x| format!("{x:.1}"));
    let whole = |v: Option<f64>, unit: &str| v.map_or("-".to_owned(), |x| format!("{x:.0}{unit}"));
    let or_unknown = |s: &str| if s.is_empty() { "?".to_owned() } else { s.to_owned() };
    let scope = match st.scope.as_str() {
        "all" => "all accounts".to_owned(),
        _ => st.account.clone().unwrap_or_else(|| "?".to_owned()),
    };
    let _ = writeln!(out, "scope:          {scope}");
    let _ = writeln!(out, "uploads:        {}", st.uploads);
    let _ = writeln!(out, "bytes:          {:.1} MB ({} bytes)", mb(st.bytes), st.bytes);
    let _ = writeln!(out, "average speed:  {} MB/s", num(st.avg_speed_mbps));
    let _ = writeln!(
        out,
        "dedup savings:  {} files, {:.1} MB, ${}",
        st.dedup.files,
        mb(st.dedup.saved_bytes),
        json_number(st.dedup.saved_cost)
    );
    let _ = writeln!(
        out,
        "transfer cost:  ${} (estimated ${}), {:.1} MB moved",
        json_number(st.actual_cost),
        json_number(st.estimated_cost),
        mb(st.bytes_transferred)
    );
    out.push('\n');
    let _ = writeln!(
        out,
        "{:<14} {:>6} {:>7} {:>9} {:>9} {:>6} {:>7}",
        "edge", "parts", "share", "Mbit/s", "latency", "load", "errors"
    );
    for e in &st.edges {
        let _ = writeln!(
            out,
            "{:<14} {:>6} {:>6.0}% {:>9} {:>9} {:>6} {:>7}",
            or_unknown(&e.id),
            e.parts,
            e.share * 100.0,
            whole(e.throughput_mbps, ""),
            whole(e.latency_ms, "ms"),
            whole(e.load, "%"),
            e.errors.map_or("-".to_owned(), |n| n.to_string())
        );
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "{:<36} {:>10} {:<10} {:>9} {:>8} {:>7}  started",
        "recent uploads", "MB", "status", "MB/s", "seconds", "chunks"
    );
    for r in &st.recent_sessions {
        let name = r.file_name.clone().unwrap_or_else(|| or_unknown(&r.file_id));
        let _ = writeln!(
            out,
            "{:<36} {:>10.1} {:<10} {:>9} {:>8} {:>7}  {}",
            name.chars().take(36).collect::<String>(),
            mb(r.size),
            or_unknown(&r.status),
            num(r.avg_speed_mbps),
            num(r.duration_seconds),
            format!("{}/{}", r.chunks_completed, r.chunks_total),
            r.started_at
        );
    }
    if let Some(accounts) = &st.accounts {
        out.push('\n');
        let _ = writeln!(
            out,
            "{:<40} {:<10} {:>8} {:>12} {:>9}",
            "account", "tier", "uploads", "MB", "MB/s"
        );
        for a in accounts {
            let _ = writeln!(
                out,
                "{:<40} {:<10} {:>8} {:>12.1} {:>9}",
                or_unknown(&a.id),
                or_unknown(&a.tier),
                a.uploads,
                mb(a.bytes),
                num(a.avg_speed_mbps)
            );
        }
    }
    out
}

/// A number as JSON writes it (`0.0`, not `0`), as these lines always printed it.
fn json_number(x: f64) -> String {
    serde_json::Value::from(x).to_string()
}

/// Writes to stdout; a reader that went away (`jetty stats | head`) ends the output quietly.
fn print_quietly(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
}

fn upload_options(cli: &Cli, transfer: &TransferArgs) -> UploadOptions {
    UploadOptions {
        concurrency: transfer.concurrency.clamp(1, 256),
        part_size: transfer.part_size_mib.map(|m| m * 1024 * 1024),
        limit_rate: transfer.limit_rate.map(|r| (r * 1024.0 * 1024.0) as u64),
        part_timeout: transfer.part_timeout_secs.map(std::time::Duration::from_secs),
        route: transfer.route,
        hash_first_max: transfer.hash_first_mib.saturating_mul(1024 * 1024),
        retry: RetryPolicy::with_budget(std::time::Duration::from_secs(transfer.retry_for)),
        state: cli
            .state_dir
            .clone()
            .or_else(StateStore::default_dir)
            .map(StateStore::new),
        ..UploadOptions::default()
    }
}

fn progress_bar(cli: &Cli, total: u64) -> ProgressBar {
    if cli.json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{bar:40}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

/// Shows what an upload is waiting out on the bar ("store unavailable, retrying in 4 s"),
/// and clears it when the upload recovers.
fn retry_notice(bar: &ProgressBar) -> RetryNotice {
    let bar = bar.clone();
    RetryNotice::new(move |retrying| match retrying {
        Some(r) => bar.set_message(r.to_string()),
        None => bar.set_message(""),
    })
}

fn print_outcome(cli: &Cli, outcome: &jetty_client::UploadOutcome) {
    if cli.json {
        println!("{}", serde_json::to_string(outcome).unwrap_or_default());
        return;
    }
    let mib = outcome.size as f64 / (1024.0 * 1024.0);
    println!("file id: {}", outcome.file_id);
    println!("url:     {}", outcome.url);
    println!("sha256:  {}", outcome.sha256);
    if outcome.duplicate {
        println!("duplicate: already stored, nothing sent");
    } else {
        let sent = outcome.bytes_sent as f64 / (1024.0 * 1024.0);
        println!(
            "{}sent {sent:.1} MiB ({} of {} parts) via {} in {:.2} s ({:.1} MiB/s of {mib:.1} MiB)",
            if outcome.resumed { "resumed: " } else { "" },
            outcome.parts_sent,
            outcome.parts,
            outcome.edges.join(", "),
            outcome.seconds,
            sent / outcome.seconds.max(1e-9)
        );
        if outcome.parts_reused > 0 {
            println!(
                "reused:  {} parts the account already stored, copied by the store",
                outcome.parts_reused
            );
        }
    }
}

/// Runs an authenticated command; `Ok` holds the exit code (not 0 only when some files of a
/// many-file upload failed).
async fn run(cli: &Cli, url: &str, api_key: &str) -> Result<u8, ClientError> {
    let client = Client::new(url, api_key)?;
    match &cli.command {
        Command::Upload {
            paths,
            transfer,
            files_at_once,
            follow_symlinks,
            location,
            content_type,
            expires_in,
            no_resume,
        } => {
            let mut opts = upload_options(cli, transfer);
            opts.location = *location;
            opts.content_type = content_type.clone();
            opts.expires_in = *expires_in;
            let file = match paths.as_slice() {
                [one] if !one.is_dir() => one,
                _ => {
                    let many = Many {
                        files_at_once: usize::from(*files_at_once),
                        follow_symlinks: *follow_symlinks,
                        no_resume: *no_resume,
                    };
                    return Ok(upload_many(cli, &client, paths, opts, &many).await);
                }
            };
            if *no_resume {
                if let Some(store) = &opts.state {
                    store.remove(file);
                }
            }
            let bar = progress_bar(cli, std::fs::metadata(file).map(|m| m.len()).unwrap_or(0));
            opts.on_retry = Some(retry_notice(&bar));
            let on_progress = bar.clone();
            let progress: jetty_client::Progress = Arc::new(move |done, _| on_progress.set_position(done));
            let outcome = client.upload(file, &opts, Some(progress)).await;
            bar.finish_and_clear();
            print_outcome(cli, &outcome?);
        }
        Command::Resume {
            file_id,
            file,
            transfer,
        } => {
            let mut opts = upload_options(cli, transfer);
            let bar = progress_bar(cli, std::fs::metadata(file).map(|m| m.len()).unwrap_or(0));
            opts.on_retry = Some(retry_notice(&bar));
            let on_progress = bar.clone();
            let progress: jetty_client::Progress = Arc::new(move |done, _| on_progress.set_position(done));
            let outcome = client.resume(file_id, file, &opts, Some(progress)).await;
            bar.finish_and_clear();
            print_outcome(cli, &outcome?);
        }
        Command::Status { file_id, retry_for } => {
            let policy = RetryPolicy::with_budget(std::time::Duration::from_secs(*retry_for));
            let notice = (!cli.json).then(|| {
                RetryNotice::new(|r| {
                    if let Some(r) = r {
                        eprintln!("jetty: {r}")
                    }
                })
            });
            let state = jetty_client::with_retries(policy, notice.as_ref(), || client.get_state(file_id)).await?;
            if cli.json {
                println!("{}", serde_json::to_string(&state).unwrap_or_default());
            } else {
                println!("file id:   {}", state.file_id);
                println!("status:    {}", state.status);
                println!("progress:  {} / {} bytes", state.progress, state.total);
                println!(
                    "parts:     {} of {} recorded",
                    state.chunks_uploaded.len(),
                    state.part_count
                );
                if !state.chunks_remaining.is_empty() {
                    println!("remaining: {:?}", state.chunks_remaining);
                }
                println!("expires:   {}", jetty_shared::state::iso8601(state.expires_at));
            }
        }
        Command::Abort { file_id } => {
            if cli.json {
                println!("{}", client.abort_raw(file_id).await?);
            } else {
                client.abort(file_id).await?;
                println!("aborted {file_id}");
            }
        }
        Command::Account {
            command: AccountCommand::Quota,
        } => {
            if cli.json {
                println!("{}", client.quota_raw().await?);
            } else {
                let q = client.quota().await?;
                println!(
                    "tier:       {} (JettySpeed {})",
                    Some(q.tier.as_str()).filter(|t| !t.is_empty()).unwrap_or("?"),
                    if q.jetty_speed_enabled { "on" } else { "off" }
                );
                for (name, line) in [("storage", &q.storage), ("bandwidth", &q.bandwidth)] {
                    println!(
                        "{name:<11} {} / {} GB ({}%)",
                        json_number(line.used_gb),
                        json_number(line.quota_gb),
                        json_number(line.percent)
                    );
                }
            }
        }
        Command::Stats { account } => {
            if cli.json {
                println!("{}", client.stats_raw(account.as_deref()).await?);
            } else {
                print_quietly(&stats_tables(&client.stats(account.as_deref()).await?));
            }
        }
        // Operator commands run before authentication, in `admin`.
        Command::Admin { .. } => {}
        Command::Download {
            file_id,
            out,
            concurrency,
            origin,
            route,
            stall_timeout_secs,
        } => {
            let got = if *origin {
                client.download_from_origin(file_id, out).await?
            } else {
                let opts = jetty_client::DownloadOptions {
                    concurrency: (*concurrency).clamp(1, 64),
                    route: *route,
                    stall_timeout: std::time::Duration::from_secs((*stall_timeout_secs).max(1)),
                    ..Default::default()
                };
                let bar = progress_bar(cli, 0);
                let on_progress = bar.clone();
                let progress: jetty_client::Progress = Arc::new(move |done, total| {
                    on_progress.set_length(total);
                    on_progress.set_position(done);
                });
                let result = client.download(file_id, out, &opts, Some(progress)).await;
                bar.finish_and_clear();
                result?
            };
            if cli.json {
                println!(
                    "{}",
                    serde_json::json!({"fileId": file_id, "path": out, "size": got.size,
                        "sha256": got.sha256.to_prefixed(), "route": got.route})
                );
            } else {
                println!(
                    "wrote {} bytes to {} (sha256 {} verified; {})",
                    got.size,
                    out.display(),
                    got.sha256.to_hex(),
                    got.route
                );
            }
        }
        Command::Link {
            file_id,
            ttl,
            attachment,
        } => {
            let link = client.link(file_id, Some(*ttl), *attachment).await?;
            if cli.json {
                println!("{}", serde_json::to_string(&link).unwrap_or_default());
            } else {
                println!("{}", link.url);
                eprintln!(
                    "valid until {} (via {})",
                    jetty_shared::state::iso8601(link.expires_at),
                    link.edge_id
                );
            }
        }
        Command::Ls { prefix, limit, all } => {
            let what = cli_list::Listing {
                prefix,
                hash: None,
                limit: (!*all).then_some(*limit),
                json: cli.json,
            };
            cli_list::list_files(&client, &what).await?;
        }
        Command::Uploads {
            prefix,
            hash,
            limit,
            all,
        } => {
            let what = cli_list::Listing {
                prefix,
                hash: hash.as_deref(),
                limit: (!*all).then_some(*limit),
                json: cli.json,
            };
            cli_list::list_uploads(&client, &what).await?;
        }
        Command::Delete { file_id } => {
            if cli.json {
                println!("{}", client.delete_raw(file_id).await?);
            } else {
                client.delete(file_id).await?;
                println!("deleted {file_id}");
            }
        }
    }
    Ok(0)
}
