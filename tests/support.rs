//! Helpers for the fleet tests: where the fleet is, its dev secrets, running the `jetty`
//! binary, and reading objects back with an independent S3 client (`aws s3 cp`).

use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Clone, Deserialize)]
pub struct Fleet {
    pub coordinator: String,
    pub edges: Vec<EdgeEntry>,
    #[serde(rename = "apiKey")]
    pub api_key: String,
    /// A second tenant, for isolation tests.
    #[serde(rename = "otherApiKey")]
    pub other_api_key: String,
    /// The fleet runner's control endpoint (fires the cron handler).
    pub control: String,
    pub s3: S3Entry,
    #[serde(skip)]
    pub state: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EdgeEntry {
    pub id: String,
    pub url: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct S3Entry {
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    /// The store's own Prometheus metrics (Garage's admin endpoint).
    pub metrics: String,
}

impl Fleet {
    /// The fleet described by `$JETTY_STATE/fleet.json`; scripts/test.sh starts it.
    pub fn get() -> Fleet {
        let state = PathBuf::from(
            std::env::var("JETTY_STATE")
                .expect("JETTY_STATE is not set: run the fleet tests through scripts/test.sh, which starts the fleet"),
        );
        let text =
            std::fs::read_to_string(state.join("fleet.json")).expect("fleet.json missing: is the fleet running?");
        let mut fleet: Fleet = serde_json::from_str(&text).expect("fleet.json is malformed");
        fleet.state = state;
        fleet
    }

    pub fn dev_vars(&self) -> HashMap<String, String> {
        std::fs::read_to_string(self.state.join("dev.env"))
            .expect("dev.env")
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
            .collect()
    }

    pub fn client(&self) -> jetty_client::Client {
        jetty_client::Client::new(&self.coordinator, &self.api_key).expect("client")
    }

    /// Switches a fault of the fleet's proxies (`/edges/ID/down|up|stall|slow?mbps=N|429`,
    /// `/store/down|up|stall|503|reset?after=N|slow?ms=N`) or fires the cron (`/scheduled`).
    pub async fn control(&self, path: &str) {
        let resp = http().post(format!("{}{path}", self.control)).send().await.unwrap();
        assert_eq!(
            resp.status().as_u16(),
            200,
            "control {path} (is the fleet started with JETTY_FAULT_PROXY=1?)"
        );
    }

    /// Starts `jetty upload` in the background with 5 MiB parts at 24 MiB/s (slow enough to act
    /// on the fleet mid-upload) plus `extra` flags; its JSON outcome goes to the child's stdout.
    pub fn spawn_upload(&self, state_dir: &Path, file: &Path, extra: &[&str]) -> std::process::Child {
        let mut args = vec![
            "upload",
            file.to_str().unwrap(),
            "--part-size-mib",
            "5",
            "--limit-rate",
            "24",
        ];
        args.extend_from_slice(extra);
        self.jetty_command(state_dir, &args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Waits (up to a minute) until the upload whose local state lives in `state_dir` has `parts`
    /// parts recorded by the coordinator; returns its file id.
    pub async fn wait_for_parts(&self, state_dir: &Path, parts: usize) -> String {
        use std::time::{Duration, Instant};
        let deadline = Instant::now() + Duration::from_secs(60);
        let file_id = loop {
            assert!(Instant::now() < deadline, "the upload never started");
            if let Some(entry) = std::fs::read_dir(state_dir)
                .ok()
                .and_then(|mut d| d.next())
                .and_then(|e| e.ok())
            {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(
                    &std::fs::read_to_string(entry.path()).unwrap_or_default(),
                ) {
                    break v["fileId"].as_str().unwrap().to_owned();
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        loop {
            assert!(Instant::now() < deadline, "no part was recorded");
            if self.client().get_state(&file_id).await.unwrap().chunks_uploaded.len() >= parts {
                return file_id;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Runs the `jetty` CLI with `--json` and a private state dir; returns (exit code, stdout).
    pub fn jetty(&self, args: &[&str]) -> (i32, serde_json::Value) {
        self.jetty_in(&fresh_dir(), args)
    }

    /// The `jetty` command for this fleet, with `state_dir` as its local state.
    pub fn jetty_command(&self, state_dir: &Path, args: &[&str]) -> Command {
        self.jetty_command_as(&self.api_key, state_dir, args)
    }

    /// The `jetty` command acting with `api_key`.
    pub fn jetty_command_as(&self, api_key: &str, state_dir: &Path, args: &[&str]) -> Command {
        let bin = std::env::var("JETTY_BIN").unwrap_or_else(|_| "../target/release/jetty".into());
        let mut cmd = Command::new(bin);
        // On loopback the store is as near as any edge: `--route auto` would send every part
        // straight to it. Tests of the edges pin them; tests of the store-direct route pass
        // `--route` themselves (the flag wins over the variable).
        cmd.args(["--url", &self.coordinator, "--api-key", api_key, "--json"])
            .args(args)
            .env("JETTY_STATE_DIR", state_dir)
            .env("JETTY_ROUTE", "edges");
        cmd
    }

    /// Runs `jetty` with `state_dir` as its local state; returns (exit code, parsed stdout).
    pub fn jetty_in(&self, state_dir: &Path, args: &[&str]) -> (i32, serde_json::Value) {
        let out = self.jetty_command(state_dir, args).output().expect("run jetty");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let value = serde_json::from_str(stdout.trim()).unwrap_or(serde_json::Value::Null);
        (out.status.code().unwrap_or(-1), value)
    }

    /// Runs the AWS CLI (not our code) against the fleet's store with its credentials;
    /// returns stdout, failing the test if the command fails.
    fn aws(&self, args: &[&str]) -> Vec<u8> {
        let vars = self.dev_vars();
        let out = Command::new("aws")
            .args(args)
            .args(["--endpoint-url", &self.s3.endpoint])
            .env("AWS_ACCESS_KEY_ID", &vars["S3_ACCESS_KEY_ID"])
            .env("AWS_SECRET_ACCESS_KEY", &vars["S3_SECRET_ACCESS_KEY"])
            .env("AWS_DEFAULT_REGION", &self.s3.region)
            .output()
            .expect("run aws");
        assert!(
            out.status.success(),
            "aws {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// SHA-256 of an object as read by `aws s3 cp`.
    pub fn s3_object_sha256(&self, key: &str) -> String {
        let object = format!("s3://{}/{key}", self.s3.bucket);
        hex::encode(Sha256::digest(self.aws(&[
            "s3",
            "cp",
            "--only-show-errors",
            &object,
            "-",
        ])))
    }

    /// The composite `ChecksumSHA256` the store reports for an object (`aws s3api head-object
    /// --checksum-mode ENABLED`), if it reports one.
    pub fn s3_object_checksum(&self, key: &str) -> Option<String> {
        let head = self.aws(&[
            "s3api",
            "head-object",
            "--bucket",
            &self.s3.bucket,
            "--key",
            key,
            "--checksum-mode",
            "ENABLED",
        ]);
        let head: serde_json::Value = serde_json::from_slice(&head).ok()?;
        head["ChecksumSHA256"].as_str().map(str::to_owned)
    }

    /// A counter from the store's own metrics, summed over the series whose labels include
    /// every `label="value"` pair given (e.g. `api_s3_error_counter` for one S3 operation).
    pub async fn s3_metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let token = self.dev_vars()["GARAGE_ADMIN_TOKEN"].clone();
        let text = http()
            .get(&self.s3.metrics)
            .bearer_auth(token)
            .send()
            .await
            .expect("store metrics")
            .text()
            .await
            .expect("metrics text");
        let wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        text.lines()
            .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
            .filter(|l| wanted.iter().all(|w| l.contains(w.as_str())))
            .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
            .fold(0.0, |sum, v| sum + v)
    }

    /// Object keys with an unfinished multipart upload, as `aws s3api` lists them.
    pub fn s3_multipart_keys(&self) -> Vec<String> {
        let out = self.aws(&[
            "s3api",
            "list-multipart-uploads",
            "--output",
            "json",
            "--bucket",
            &self.s3.bucket,
        ]);
        let text = String::from_utf8_lossy(&out);
        if text.trim().is_empty() {
            return Vec::new();
        }
        let v: serde_json::Value = serde_json::from_str(&text).expect("aws json");
        v["Uploads"]
            .as_array()
            .map(|a| a.iter().filter_map(|u| u["Key"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }

    /// Fires the coordinator's cron handler through workerd.
    pub fn run_scheduled(&self) {
        let status = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
            .arg(format!("{}/scheduled", self.control))
            .output()
            .expect("curl");
        assert_eq!(
            String::from_utf8_lossy(&status.stdout),
            "200",
            "scheduled handler failed"
        );
    }
}

/// A fresh, empty temp directory.
/// The D1 migrations (`migrations/*.sql`) in the order they apply.
pub fn migration_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("migrations dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    files
}

/// A fresh directory in the system's temp dir, removed with all it holds when this guard drops
/// (one run of the fleet tests writes gigabytes of random files). Derefs to its path.
pub struct TestDir(tempfile::TempDir);

impl std::ops::Deref for TestDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        self.0.path()
    }
}

impl AsRef<Path> for TestDir {
    fn as_ref(&self) -> &Path {
        self.0.path()
    }
}

/// An HTTP client for the tests' own requests, each held to two minutes: a fleet that stops
/// answering fails the test that waits on it, instead of hanging the run.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .expect("an HTTP client")
}

/// `child`'s exit status once it ends within `limit`; past it, `None`, the child killed.
pub async fn ended_within(
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            return Some(status);
        }
        if std::time::Instant::now() > deadline {
            child.kill().ok();
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

pub fn fresh_dir() -> TestDir {
    TestDir(
        tempfile::Builder::new()
            .prefix("jetty-test-")
            .tempdir()
            .expect("a temp dir"),
    )
}

/// A file in a [`TestDir`] of its own, removed when this guard drops. Derefs to its path.
pub struct TestFile {
    path: PathBuf,
    _dir: TestDir,
}

impl std::ops::Deref for TestFile {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for TestFile {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

/// `size` random bytes (random, so no two tests' data ever deduplicate).
pub fn random_bytes(size: u64) -> Vec<u8> {
    let mut data = vec![0u8; size as usize];
    rand::thread_rng().fill_bytes(&mut data);
    data
}

/// A file of `size` random bytes in a fresh temp dir; returns (file, hex sha256).
pub fn random_file(size: u64) -> (TestFile, String) {
    let dir = fresh_dir();
    let path = dir.join(format!("random-{size}.bin"));
    let data = random_bytes(size);
    std::fs::write(&path, &data).unwrap();
    (TestFile { path, _dir: dir }, hex::encode(Sha256::digest(&data)))
}

/// A random file of `size` bytes whose name starts with `prefix` (to find it in a listing).
pub fn random_named_file(prefix: &str, size: u64) -> TestFile {
    let dir = fresh_dir();
    let name = format!("{prefix}-{}.bin", hex::encode(rand::random::<[u8; 4]>()));
    let path = dir.join(name);
    std::fs::write(&path, random_bytes(size)).unwrap();
    TestFile { path, _dir: dir }
}

pub fn file_sha256(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// The object key the coordinator uses for a file of the dev account.
pub fn dev_object_key(file_id: &str) -> String {
    format!("accounts/acc_dev/files/{file_id}")
}

/// An authenticated JSON request; returns (status, parsed body or null).
/// Sends `body` as part `number` to an edge (or the coordinator's origin-direct route) with a
/// declared SHA-256; returns (status, json).
pub async fn put_chunk(
    edge: &str,
    token: &str,
    number: u32,
    body: Vec<u8>,
    declared_sha256: &str,
) -> (u16, serde_json::Value) {
    let resp = http()
        .put(format!("{edge}/api/edge/upload-chunk?part={number}"))
        .bearer_auth(token)
        .header(jetty_shared::protocol::CHUNK_SHA256_HEADER, declared_sha256)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

pub async fn api(
    method: reqwest::Method,
    url: String,
    key: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut req = http().request(method, url).bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

pub fn msg_id() -> String {
    format!("msg_{}", hex::encode(rand::random::<[u8; 8]>()))
}

/// A webhook POST signed the Standard Webhooks way; returns (status, body, replayed header).
pub async fn signed_post(
    url: &str,
    secret: &str,
    body: &str,
    id: &str,
    ts: u64,
    idem: Option<&str>,
) -> (u16, serde_json::Value, bool) {
    use jetty_shared::webhook::{self, WebhookSecret};
    let signed = webhook::sign(&WebhookSecret::parse(secret).unwrap(), id, ts, body.as_bytes());
    let mut req = http()
        .post(url)
        .header("content-type", "application/json")
        .header(webhook::ID_HEADER, signed.id)
        .header(webhook::TIMESTAMP_HEADER, signed.timestamp)
        .header(webhook::SIGNATURE_HEADER, signed.signature)
        .body(body.to_owned());
    if let Some(k) = idem {
        req = req.header("idempotency-key", k);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let replayed = resp.headers().get("idempotent-replayed").is_some();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null), replayed)
}

/// Provisions a new account through the signed platform webhook; returns its API key.
/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub async fn provision_account(fleet: &Fleet, tier: &str) -> String {
    let user = format!("usr_{}", hex::encode(rand::random::<[u8; 6]>()));
    let body = serde_json::json!({"user_id": user, "email": format!("{user}@example.com"), "tier": tier}).to_string();
    let now = unix_now();
    let url = format!("{}/api/webhooks/jettythunder/provision", fleet.coordinator);
    let (_, answer, _) = signed_post(
        &url,
        &fleet.dev_vars()["INTERNAL_WEBHOOK_SECRET"],
        &body,
        &msg_id(),
        now,
        None,
    )
    .await;
    answer["credentials"]["api_key"]
        .as_str()
        .expect("provisioned credentials")
        .to_owned()
}
