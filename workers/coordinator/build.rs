//! Builds the coordinator's two pages into OUT_DIR, where `src/pages.rs` embeds them:
//! `/dashboard` (`dashboard/app.js` with the Chart.js npm package) and `/upload`
//! (`upload/app.js` with the browser SDK in `web/sdk`, plus the SDK's hashing worker as its own
//! module). esbuild (installed by `scripts/install-tools.sh`) bundles, tree-shakes and minifies;
//! each page names its assets with a content version so browsers may cache them for good.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest.join("../..");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    for watched in [
        "dashboard",
        "upload",
        "pages",
        "../../web/sdk/src",
        "../../package-lock.json",
    ] {
        println!("cargo:rerun-if-changed={watched}");
    }
    println!("cargo:rerun-if-env-changed=ESBUILD_BIN");
    let esbuild = env::var_os("ESBUILD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("node_modules/.bin/esbuild"));
    let bundler = Bundler { esbuild, root };

    let dashboard = manifest.join("dashboard");
    bundler.bundle(&dashboard.join("app.js"), "iife", &out.join("dashboard.js"));
    page(
        &dashboard,
        &out,
        "dashboard",
        &[&read(&dashboard.join("app.css")), &read(&out.join("dashboard.js"))],
    );

    let upload = manifest.join("upload");
    bundler.bundle(&upload.join("app.js"), "iife", &out.join("upload.js"));
    let sdk_worker = manifest.join("../../web/sdk/src/hash-worker.ts");
    bundler.bundle(&sdk_worker, "esm", &out.join("hash-worker.js"));
    page(
        &upload,
        &out,
        "upload",
        &[
            &read(&upload.join("app.css")),
            &read(&out.join("upload.js")),
            &read(&out.join("hash-worker.js")),
        ],
    );
}

struct Bundler {
    esbuild: PathBuf,
    root: PathBuf,
}

impl Bundler {
    fn bundle(&self, entry: &Path, format: &str, outfile: &Path) {
        let status = Command::new(&self.esbuild)
            .arg(entry)
            .args(["--bundle", "--minify", "--target=es2020", "--log-level=warning"])
            .arg(format!("--format={format}"))
            .arg(format!("--outfile={}", outfile.display()))
            .current_dir(&self.root)
            .status()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run esbuild at {} ({e}): run scripts/install-tools.sh (npm install) first",
                    self.esbuild.display()
                )
            });
        assert!(
            status.success(),
            "esbuild failed to bundle {} ({status})",
            entry.display()
        );
    }
}

/// Writes `<name>.html` (the page with its assets' version) and `<name>.version`.
fn page(dir: &Path, out: &Path, name: &str, assets: &[&str]) {
    let mut hasher = DefaultHasher::new();
    assets.hash(&mut hasher);
    let version = format!("{:016x}", hasher.finish());
    let html = read(&dir.join("index.html")).replace("{{VERSION}}", &version);
    fs::write(out.join(format!("{name}.html")), html).expect("write the page");
    fs::write(out.join(format!("{name}.version")), version).expect("write the version");
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
