#!/usr/bin/env bash
# Runs every test, installing whatever is missing first:
#   1. format and lint gates (cargo fmt --check, clippy -D warnings, native and wasm32);
#   2. unit tests of the pure crates (shared/, client/), the coordinator's core (core/, over
#      SQLite and a failing S3), the browser SDK (web/sdk, node --test) and the Uppy plugin
#      (web/uppy: built and type-checked, then node --test);
#   3. builds the workers and the CLI, starts a separate test fleet (Garage + coordinator +
#      three edges on workerd, own ports and state) and runs the fleet integration tests;
#   4. the store conformance tests against s3s-fs and the test fleet's Garage (test-stores.sh).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

"$REPO_ROOT/scripts/install-tools.sh"

log "cargo fmt --check"
cargo fmt --all -- --check
log "clippy (native crates)"
cargo clippy -q -p jetty-shared -p jetty-core -p jetty-client -p jetty-fleet-tests -p jetty-wan --all-targets --features jetty-core/sqlite -- -D warnings
log "clippy (workers, wasm32)"
cargo clippy -q -p jetty-worker-runtime -p jetty-coordinator -p jetty-edge --target wasm32-unknown-unknown -- -D warnings

# Every test's scratch files (random files of up to a gigabyte, browser profiles) live in one
# directory that goes when the run ends, however it ends: a machine that runs the tests often
# must not fill its disk with what a crashed or killed test left behind.
TEST_TMP="$(mktemp -d "${TMPDIR:-/tmp}/jetty-tests.XXXXXX")"
export TMPDIR="$TEST_TMP"
RESULTS="$(mktemp)"
trap 'rm -rf "$TEST_TMP"' EXIT
free_gib=$(( $(df -Pk "$TEST_TMP" | awk 'NR == 2 { print $4 }') / 1048576 ))
if [ "$free_gib" -lt 8 ]; then
  warn "only ${free_gib} GiB free for the tests' files (they write several): a full disk fails them"
fi
log "unit tests"
cargo test -q -p jetty-shared -p jetty-core -p jetty-client -p jetty-wan --features jetty-core/sqlite 2>&1 | tee -a "$RESULTS"
log "browser SDK unit tests (web/sdk, node --test)"
SDK_OUT="$(mktemp)"
PATH="$JETTY_TOOLS/node22/node_modules/.bin:$PATH" npm run -s test:sdk 2>&1 | tee "$SDK_OUT"
# node's totals in the form the closing summary counts.
awk '/^[^ ]+ pass [0-9]+$/ { p = $NF } /^[^ ]+ fail [0-9]+$/ { f = $NF } END { printf "test result: sdk. %d passed; %d failed\n", p, f }' "$SDK_OUT" | tee -a "$RESULTS"
# The Uppy plugin: built (tsc type-checks it against the SDK's declarations) and unit-tested in a
# real @uppy/core against the SDK's in-memory fleet. Its browser test (tests/uppy_page.rs) bundles
# the example page from the sources itself, as build.rs does for the /upload page.
log "Uppy plugin (web/uppy): build and unit tests (node --test)"
PATH="$JETTY_TOOLS/node22/node_modules/.bin:$PATH" npm run -s build:uppy
PATH="$JETTY_TOOLS/node22/node_modules/.bin:$PATH" npm run -s test:uppy 2>&1 | tee "$SDK_OUT"
awk '/^[^ ]+ pass [0-9]+$/ { p = $NF } /^[^ ]+ fail [0-9]+$/ { f = $NF } END { printf "test result: uppy. %d passed; %d failed\n", p, f }' "$SDK_OUT" | tee -a "$RESULTS"
rm -f "$SDK_OUT"

# An isolated fleet for the tests, so a running dev fleet is left alone.
export JETTY_STATE="$REPO_ROOT/.jetty/test"
export GARAGE_S3_PORT=3910 GARAGE_RPC_PORT=3911 GARAGE_ADMIN_PORT=3913
export COORDINATOR_PORT=8790 EDGE_PORT_OFFSET=100
# Edges behind fault-injection proxies, so a test can take one down mid-upload.
export JETTY_FAULT_PROXY=1
# The store-direct route is offered (on loopback it is as near as any edge, so `jetty upload`
# would take it): the fleet tests pin `--route edges` unless they test the store-direct route.
export JETTY_STORE_DIRECT=1
cleanup() { "$REPO_ROOT/scripts/fleet.sh" down >/dev/null 2>&1 || true; }
trap 'cleanup; rm -rf "$TEST_TMP"' EXIT
cleanup
# Every run starts from empty stores: tests never see a previous run's files or sessions.
rm -f "$REPO_ROOT/target/artifacts/faults.txt"
rm -rf "$JETTY_STATE/d1" "$JETTY_STATE/kv" "$JETTY_STATE/garage/meta" "$JETTY_STATE/garage/data" "$JETTY_STATE"/*-api-key
"$REPO_ROOT/scripts/fleet.sh" up

# One closing line with the totals of every test binary run; fails if any test failed.
summarize() {
  awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
       END { printf "jetty: %d passed, %d failed\n", p, f; exit (f > 0) }' "$RESULTS"
}

log "building the WAN emulator (jetty-wan, for tests/wan_mobile.rs)"
cargo build --release -q -p jetty-wan

log "fleet integration tests"
# Every binary runs even after a failure; a hang ends after 40 minutes instead of CI's limit.
if ! JETTY_BIN="$REPO_ROOT/target/release/jetty" JETTY_WAN_BIN="$REPO_ROOT/target/release/jetty-wan" timeout -k 30s 40m \
  cargo test --no-fail-fast -p jetty-fleet-tests --tests -- --test-threads=2 2>&1 | tee -a "$RESULTS"; then
  # The fleet stops when this script exits: show what the workers and the store said first.
  log "fleet log (workers) at the failure:"
  tail -n 60 "$JETTY_STATE/fleet.log" >&2 || true
  log "S3 server warnings and errors:"
  sed 's/\x1b\[[0-9;]*m//g' "$JETTY_STATE/garage/garage.log" 2>/dev/null | grep -E ' (WARN|ERROR) |error [0-9]{3} ' | tail -n 60 >&2 || true
  summarize || true
  die "fleet integration tests failed"
fi

log "store conformance (scripts/test-stores.sh: s3s-fs, and the test fleet's Garage)"
if ! "$REPO_ROOT/scripts/test-stores.sh" 2>&1 | tee -a "$RESULTS"; then
  summarize || true
  die "store conformance failed"
fi

log "wrangler dev (scripts/test-wrangler-dev.sh)"
if ! "$REPO_ROOT/scripts/test-wrangler-dev.sh" 2>&1 | tee -a "$RESULTS"; then
  summarize || true
  die "wrangler dev test failed"
fi

if [ -f "$REPO_ROOT/target/artifacts/faults.txt" ]; then
  log "what each outage cost (tests/faults.rs):"
  cat "$REPO_ROOT/target/artifacts/faults.txt" >&2
fi
if ls "$REPO_ROOT"/target/artifacts/dashboard-*.png >/dev/null 2>&1; then
  log "dashboard screenshots (headless Chromium): $REPO_ROOT/target/artifacts/"
fi

summarize
