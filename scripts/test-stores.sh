#!/usr/bin/env bash
# Store conformance (tests/stores.rs): our own S3 requests and error classification against
# real S3 servers, each under its S3_STORE profile:
#   - s3s-fs (installed by scripts/install-tools.sh), started here on a free port with a temporary
#     root and stopped at exit;
#   - the test fleet's Garage, when the fleet runs ($TEST_FLEET_STATE/fleet.json and dev.env,
#     default .jetty/test); skipped with a message otherwise. Objects go under `conformance/`
#     and are deleted again; the fleet is never started or stopped here. OWN_GARAGE=1 instead
#     starts a throwaway Garage on free ports (stopped at exit).
# Extra arguments go to the test binary (e.g. `--nocapture`).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

TEST_FLEET_STATE="${TEST_FLEET_STATE:-$REPO_ROOT/.jetty/test}"
S3S_BIN="${S3S_BIN:-$JETTY_TOOLS/bin/s3s-fs}"
[ -x "$S3S_BIN" ] || die "s3s-fs is not installed ($S3S_BIN): run scripts/install-tools.sh"

# Build the test binary once, before any server starts, and run it directly for each store.
# JETTY_CARGO wraps cargo (e.g. "flock -o /tmp/jetty-build.lock nice cargo" on a shared machine).
read -r -a CARGO_CMD <<< "${JETTY_CARGO:-cargo}"
TEST_BIN="$("${CARGO_CMD[@]}" test -p jetty-fleet-tests --test stores --no-run --message-format=json |
  python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "stores":
        print(m["executable"])')"
[ -x "$TEST_BIN" ] || die "could not build the stores test"

run_conformance() { # run_conformance NAME [test args] (with STORE_* exported)
  log "store conformance: $1 ($STORE_ENDPOINT, profile $STORE_PROFILE)"
  "$TEST_BIN" --test-threads 1 "${@:2}"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

S3S_ROOT="$(mktemp -d)"
S3S_PID=""
cleanup() {
  local pid
  for pid in $S3S_PID ${GARAGE_PID:-}; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$S3S_ROOT"
}
trap cleanup EXIT

# s3s-fs: a bucket is a directory under the root.
mkdir -p "$S3S_ROOT/data/jetty"
S3S_PORT="$(free_port)"
S3S_KEY="conformance$(openssl rand -hex 4)"
S3S_SECRET="$(openssl rand -hex 16)"
"$S3S_BIN" --host 127.0.0.1 --port "$S3S_PORT" --access-key "$S3S_KEY" --secret-key "$S3S_SECRET" \
  "$S3S_ROOT/data" > "$S3S_ROOT/s3s.log" 2>&1 &
S3S_PID=$!
wait_for_http "http://127.0.0.1:$S3S_PORT/" 30 || { cat "$S3S_ROOT/s3s.log" >&2; die "s3s-fs did not start"; }

(
  export STORE_ENDPOINT="http://127.0.0.1:$S3S_PORT" STORE_BUCKET=jetty STORE_REGION=us-east-1 \
    STORE_KEY="$S3S_KEY" STORE_SECRET="$S3S_SECRET" STORE_PROFILE=s3s
  run_conformance "s3s-fs $("$S3S_BIN" --version 2>/dev/null | head -1)" "$@"
)

# A throwaway single-node Garage on free ports under the temporary root (OWN_GARAGE=1), for
# when no test fleet runs. Stopped at exit like s3s-fs.
GARAGE_PID=""
start_own_garage() {
  command -v garage >/dev/null || die "garage is not installed: run scripts/install-tools.sh"
  local dir="$S3S_ROOT/garage" s3_port rpc_port admin_port node i
  s3_port="$(free_port)"; rpc_port="$(free_port)"; admin_port="$(free_port)"
  mkdir -p "$dir/meta" "$dir/data"
  cat > "$dir/garage.toml" <<TOML
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "lmdb"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpc_port"
rpc_public_addr = "127.0.0.1:$rpc_port"
rpc_secret = "$(openssl rand -hex 32)"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3_port"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$admin_port"
admin_token = "$(openssl rand -hex 32)"
TOML
  garage -c "$dir/garage.toml" server > "$dir/garage.log" 2>&1 &
  GARAGE_PID=$!
  wait_for_http "http://127.0.0.1:$s3_port/" 30 || die "garage did not start; see $dir/garage.log"
  for ((i = 0; i < 100; i++)); do
    node=$(garage -c "$dir/garage.toml" node id -q 2>/dev/null | cut -d@ -f1) && [ -n "$node" ] && break
    sleep 0.1
  done
  garage -c "$dir/garage.toml" layout assign -z local -c 1G "$node" >/dev/null
  garage -c "$dir/garage.toml" layout apply --version 1 >/dev/null
  for ((i = 0; i < 100; i++)); do
    garage -c "$dir/garage.toml" bucket create jetty >/dev/null 2>&1 && break
    sleep 0.2
  done
  GARAGE_KEY="GK$(openssl rand -hex 12)"
  GARAGE_SECRET="$(openssl rand -hex 32)"
  garage -c "$dir/garage.toml" key import --yes -n conformance "$GARAGE_KEY" "$GARAGE_SECRET" >/dev/null
  garage -c "$dir/garage.toml" bucket allow --read --write --owner jetty --key "$GARAGE_KEY" >/dev/null
  GARAGE_ENDPOINT="http://127.0.0.1:$s3_port"
}

if [ "${OWN_GARAGE:-0}" = 1 ]; then
  start_own_garage
  (
    export STORE_ENDPOINT="$GARAGE_ENDPOINT" STORE_BUCKET=jetty STORE_REGION=garage \
      STORE_KEY="$GARAGE_KEY" STORE_SECRET="$GARAGE_SECRET" STORE_PROFILE=garage
    run_conformance "a throwaway $(garage --version 2>/dev/null | head -1)" "$@"
  )
elif [ -f "$TEST_FLEET_STATE/fleet.json" ] && [ -f "$TEST_FLEET_STATE/dev.env" ]; then
  GARAGE_ENDPOINT="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["s3"]["endpoint"])' "$TEST_FLEET_STATE/fleet.json")"
  GARAGE_BUCKET="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["s3"]["bucket"])' "$TEST_FLEET_STATE/fleet.json")"
  GARAGE_REGION="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["s3"]["region"])' "$TEST_FLEET_STATE/fleet.json")"
  # The port may answer for another checkout's fleet (other keys): use it only while this
  # state's own Garage process lives.
  GARAGE_STATE_PID="$(cat "$TEST_FLEET_STATE/garage/garage.pid" 2>/dev/null || true)"
  # (scripts/garage.sh writes garage.pid on start and removes it on stop.)
  if [ -z "$GARAGE_STATE_PID" ] || ! kill -0 "$GARAGE_STATE_PID" 2>/dev/null; then
    log "skipped Garage: the test fleet in $TEST_FLEET_STATE is not running (no live garage/garage.pid; OWN_GARAGE=1 starts a throwaway one)"
  elif curl -s -o /dev/null "$GARAGE_ENDPOINT/"; then
    (
      # Only the two S3 keys are read from dev.env.
      export STORE_KEY="$(grep '^S3_ACCESS_KEY_ID=' "$TEST_FLEET_STATE/dev.env" | cut -d= -f2-)"
      export STORE_SECRET="$(grep '^S3_SECRET_ACCESS_KEY=' "$TEST_FLEET_STATE/dev.env" | cut -d= -f2-)"
      export STORE_ENDPOINT="$GARAGE_ENDPOINT" STORE_BUCKET="$GARAGE_BUCKET" STORE_REGION="$GARAGE_REGION" \
        STORE_PROFILE=garage STORE_PREFIX=conformance/
      run_conformance "the test fleet's Garage" "$@"
    )
  else
    log "skipped Garage: the test fleet's store ($GARAGE_ENDPOINT) does not answer (OWN_GARAGE=1 starts a throwaway one)"
  fi
else
  log "skipped Garage: no test fleet state in $TEST_FLEET_STATE (scripts/test.sh starts one; OWN_GARAGE=1 starts a throwaway one)"
fi
log "store conformance passed"
