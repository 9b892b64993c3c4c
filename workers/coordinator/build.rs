//! Builds the dashboard's script: `dashboard/app.js` bundled with the Chart.js npm package
//! (installed by `scripts/install-tools.sh`) by esbuild, tree-shaken and minified, into
//! OUT_DIR, where `src/dashboard.rs` embeds it. The page names its assets with a content
//! version so browsers may cache them for good.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest.join("../..");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let dashboard = manifest.join("dashboard");
    for watched in [
        "dashboard/app.js",
        "dashboard/app.css",
        "dashboard/index.html",
        "../../package-lock.json",
    ] {
        println!("cargo:rerun-if-changed={watched}");
    }
    println!("cargo:rerun-if-env-changed=ESBUILD_BIN");

    let esbuild = env::var_os("ESBUILD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("node_modules/.bin/esbuild"));
    let bundle = out.join("app.js");
    let status = Command::new(&esbuild)
        .arg(dashboard.join("app.js"))
        .args([
            "--bundle",
            "--minify",
            "--format=iife",
            "--target=es2020",
            "--log-level=warning",
        ])
        .arg(format!("--outfile={}", bundle.display()))
        .current_dir(&root)
        .status()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run esbuild at {} ({e}): run scripts/install-tools.sh (npm install) first",
                esbuild.display()
            )
        });
    assert!(status.success(), "esbuild failed to bundle the dashboard ({status})");

    let css = read(&dashboard.join("app.css"));
    let script = read(&bundle);
    let mut hasher = DefaultHasher::new();
    (css.as_str(), script.as_str()).hash(&mut hasher);
    let version = format!("{:016x}", hasher.finish());
    let page = read(&dashboard.join("index.html")).replace("{{VERSION}}", &version);
    fs::write(out.join("index.html"), page).expect("write index.html");
    fs::write(out.join("version.txt"), version).expect("write version.txt");
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
