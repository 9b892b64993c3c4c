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

    /// Runs the `jetty` CLI with `--json`; returns (exit code, parsed stdout).
    pub fn jetty(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let bin = std::env::var("JETTY_BIN").unwrap_or_else(|_| "../target/release/jetty".into());
        let out = Command::new(bin)
            .args(["--url", &self.coordinator, "--api-key", &self.api_key, "--json"])
            .args(args)
            .output()
            .expect("run jetty");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let value = serde_json::from_str(stdout.trim()).unwrap_or(serde_json::Value::Null);
        (out.status.code().unwrap_or(-1), value)
    }

    /// SHA-256 of an object as read by `aws s3 cp` (not our code).
    pub fn s3_object_sha256(&self, key: &str) -> String {
        let vars = self.dev_vars();
        let out = Command::new("aws")
            .args(["s3", "cp", "--only-show-errors", "--endpoint-url", &self.s3.endpoint])
            .arg(format!("s3://{}/{key}", self.s3.bucket))
            .arg("-")
            .env("AWS_ACCESS_KEY_ID", &vars["S3_ACCESS_KEY_ID"])
            .env("AWS_SECRET_ACCESS_KEY", &vars["S3_SECRET_ACCESS_KEY"])
            .env("AWS_DEFAULT_REGION", &self.s3.region)
            .output()
            .expect("run aws s3 cp");
        assert!(
            out.status.success(),
            "aws s3 cp failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        hex::encode(Sha256::digest(&out.stdout))
    }
}

/// A file of `size` random bytes in a fresh temp dir; returns (path, hex sha256).
pub fn random_file(size: u64) -> (PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("jetty-test-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("random-{size}.bin"));
    let mut data = vec![0u8; size as usize];
    rand::thread_rng().fill_bytes(&mut data);
    std::fs::write(&path, &data).unwrap();
    (path, hex::encode(Sha256::digest(&data)))
}

pub fn file_sha256(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// The object key the coordinator uses for a file of the dev account.
pub fn dev_object_key(file_id: &str) -> String {
    format!("accounts/acc_dev/files/{file_id}")
}
