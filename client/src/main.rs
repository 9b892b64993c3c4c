//! `jetty`: upload and download files through a JettySpeed fleet.
//!
//! Exit codes: 0 ok, 1 local I/O error, 2 usage error, 3 refused by the server (4xx),
//! 4 network or server failure (5xx), 5 integrity check failed.

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use jetty_client::{Client, ClientError, UploadOptions};
use jetty_shared::protocol::Location;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "jetty", version, about = "Edge-accelerated, resumable, verified uploads")]
struct Cli {
    /// Coordinator URL.
    #[arg(long, env = "JETTY_URL", default_value = "http://127.0.0.1:8787", global = true)]
    url: String,
    /// API key (jsk_…).
    #[arg(long, env = "JETTY_API_KEY", hide_env_values = true, global = true)]
    api_key: Option<String>,
    /// Print one JSON object instead of human output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Upload a file through the fleet's edges.
    Upload {
        file: PathBuf,
        /// Parts in flight at once.
        #[arg(long, short = 'j', default_value_t = 16)]
        concurrency: usize,
        /// Preferred part size in MiB (clamped by the server to S3's rules).
        #[arg(long)]
        part_size_mib: Option<u64>,
        /// Your location as LAT,LNG, for edge selection.
        #[arg(long, value_parser = parse_location)]
        location: Option<Location>,
        #[arg(long)]
        content_type: Option<String>,
    },
    /// Download a file and check its SHA-256.
    Download { file_id: String, out: PathBuf },
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

fn exit_code(err: &ClientError) -> u8 {
    match err {
        ClientError::Io(_) => 1,
        ClientError::Refused { .. } => 3,
        ClientError::Network(_) | ClientError::Server { .. } => 4,
        ClientError::Integrity(_) => 5,
    }
}

fn report_error(json: bool, err: &ClientError) {
    if json {
        let (code, details) = match err {
            ClientError::Refused { code, details, .. } => (code.clone(), details.clone()),
            ClientError::Network(_) => ("network_error".into(), None),
            ClientError::Server { .. } => ("server_error".into(), None),
            ClientError::Integrity(_) => ("integrity_error".into(), None),
            ClientError::Io(_) => ("io_error".into(), None),
        };
        println!(
            "{}",
            serde_json::json!({"error": {"code": code, "message": err.to_string(), "details": details}})
        );
    } else {
        eprintln!("jetty: {err}");
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(api_key) = cli.api_key.clone() else {
        eprintln!("jetty: an API key is required (--api-key or JETTY_API_KEY)");
        return ExitCode::from(2);
    };
    let result = run(&cli, &api_key).await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            report_error(cli.json, &err);
            ExitCode::from(exit_code(&err))
        }
    }
}

async fn run(cli: &Cli, api_key: &str) -> Result<(), ClientError> {
    let client = Client::new(&cli.url, api_key)?;
    match &cli.command {
        Command::Upload {
            file,
            concurrency,
            part_size_mib,
            location,
            content_type,
        } => {
            let opts = UploadOptions {
                concurrency: (*concurrency).clamp(1, 256),
                part_size: part_size_mib.map(|m| m * 1024 * 1024),
                location: *location,
                content_type: content_type.clone(),
                ..UploadOptions::default()
            };
            let bar = if cli.json || !std::io::stderr().is_terminal() {
                ProgressBar::hidden()
            } else {
                let len = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
                let bar = ProgressBar::new(len);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} [{bar:40}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                bar
            };
            let progress_bar = bar.clone();
            let progress: jetty_client::Progress = Arc::new(move |done, _total| progress_bar.set_position(done));
            let outcome = client.upload(file, &opts, Some(progress)).await;
            bar.finish_and_clear();
            let outcome = outcome?;
            if cli.json {
                println!("{}", serde_json::to_string(&outcome).unwrap_or_default());
            } else {
                let mib = outcome.size as f64 / (1024.0 * 1024.0);
                println!("file id: {}", outcome.file_id);
                println!("url:     {}", outcome.url);
                println!("sha256:  {}", outcome.sha256);
                if outcome.duplicate {
                    println!("duplicate: already stored, nothing sent");
                } else {
                    println!(
                        "sent {mib:.1} MiB in {} parts via {} in {:.2} s ({:.1} MiB/s)",
                        outcome.parts,
                        outcome.edges.join(", "),
                        outcome.seconds,
                        mib / outcome.seconds.max(1e-9)
                    );
                }
            }
        }
        Command::Download { file_id, out } => {
            let (size, digest) = client.download(file_id, out).await?;
            if cli.json {
                println!(
                    "{}",
                    serde_json::json!({"fileId": file_id, "path": out, "size": size, "sha256": digest.to_prefixed()})
                );
            } else {
                println!(
                    "wrote {size} bytes to {} (sha256 {} verified)",
                    out.display(),
                    digest.to_hex()
                );
            }
        }
    }
    Ok(())
}
