#!/usr/bin/env bash
# Installs every tool the fleet, the tests and the bench need, on a fresh machine.
# Idempotent: each tool is skipped when present at the pinned version.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mkdir -p "$JETTY_TOOLS/bin"

have_version() { # have_version BIN EXPECTED -> 0 when `BIN --version` mentions EXPECTED
  command -v "$1" >/dev/null 2>&1 && "$1" --version 2>/dev/null | grep -qF "$2"
}

if ! rustup target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown; then
  log "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

apt_install() { # Debian packages, as root or through sudo; refreshes the index only if needed
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -qq "$@" >/dev/null ||
    { $sudo apt-get update -qq && $sudo apt-get install -y -qq "$@" >/dev/null; }
}

if ! command -v node >/dev/null 2>&1; then
  log "installing node.js (Debian package)"
  apt_install nodejs npm
fi
if [ ! -x "${CHROMIUM_BIN:-/usr/bin/chromium}" ]; then
  log "installing chromium (Debian package; the dashboard's headless browser test)"
  apt_install chromium
fi
if [ ! -x "$REPO_ROOT/node_modules/.bin/miniflare" ] || [ "$REPO_ROOT/package-lock.json" -nt "$REPO_ROOT/node_modules/.package-lock.json" ]; then
  log "installing npm packages from the lock (miniflare, wrangler, binaryen, esbuild, playwright-core; chart.js for the dashboard; Uppy for web/uppy)"
  # `npm ci` installs exactly the committed lock and never rewrites it: a fresh clone stays clean.
  (cd "$REPO_ROOT" && npm ci --no-audit --no-fund --loglevel=error)
fi

# wrangler 4 needs Node >= 22.12 and Debian's is 20: the npm package node@22 ships the binary.
if [ ! -x "$JETTY_TOOLS/node22/node_modules/.bin/node" ]; then
  log "installing node 22 for wrangler (npm package node@22)"
  mkdir -p "$JETTY_TOOLS/node22"
  (cd "$JETTY_TOOLS/node22" && npm install --no-audit --no-fund --loglevel=error node@22.23.3)
fi

if ! command -v aws >/dev/null 2>&1; then
  log "installing awscli (independent S3 client for tests and bench)"
  python3 -m pip install --quiet awscli
fi

WB_VERSION="$(wasm_bindgen_version)"
[ -n "$WB_VERSION" ] || die "could not read the wasm-bindgen version from Cargo.lock"
if ! have_version wasm-bindgen "$WB_VERSION"; then
  log "installing wasm-bindgen-cli $WB_VERSION (about 3 min)"
  cargo install wasm-bindgen-cli --version "$WB_VERSION" --root "$JETTY_TOOLS" --force
fi
if ! have_version worker-build "$WORKER_BUILD_VERSION"; then
  log "installing worker-build $WORKER_BUILD_VERSION (about 4 min)"
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --root "$JETTY_TOOLS" --force
fi
if ! have_version garage "$GARAGE_VERSION"; then
  log "installing garage $GARAGE_VERSION, the local S3 server (about 11 min, once)"
  cargo install garage --version "$GARAGE_VERSION" --root "$JETTY_TOOLS"
fi
if ! have_version s3s-fs "$S3S_FS_VERSION"; then
  # A second real S3 server for scripts/test-stores.sh (0.17 needs a newer rustc than ours).
  log "installing s3s-fs $S3S_FS_VERSION, the second S3 server of the store tests (about 4 min, once)"
  cargo install s3s-fs --version "$S3S_FS_VERSION" --features binary --locked --root "$JETTY_TOOLS"
fi
log "tools ready in $JETTY_TOOLS"
