#!/usr/bin/env bash
# The local JettySpeed fleet: Garage (S3), the coordinator and three edges on workerd.
#   scripts/fleet.sh          install what is missing, build, start everything, show an upload
#   scripts/fleet.sh up       same, without the demo upload
#   scripts/fleet.sh restart  restart the coordinator and edges only (no install, no build)
#   scripts/fleet.sh down     stop the fleet and Garage
# Ports: coordinator 8787, edges 8801-8803, S3 3900 (override with COORDINATOR_PORT,
# EDGE_PORT_OFFSET, GARAGE_S3_PORT; state lives in $JETTY_STATE, default .jetty/).
# Addresses (default 127.0.0.1; scripts/bench-wan.sh places the fleet in network namespaces):
# GARAGE_BIND_HOST is where Garage's S3 and admin APIs listen, GARAGE_S3_HOST where the workers
# reach S3, JETTY_BIND_HOST where the coordinator and edges listen (JETTY_PUBLIC_HOST: the host in
# the URLs they register, default the bind host).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

COORDINATOR_PORT="${COORDINATOR_PORT:-8787}"
export COORDINATOR_PORT
FLEET_LOG="$JETTY_STATE/fleet.log"

# Stops the workerd fleet and waits for it to exit, so a restart can bind its ports again.
stop_workers() {
  [ -f "$JETTY_STATE/fleet.pid" ] || return 0
  local pid i
  pid="$(cat "$JETTY_STATE/fleet.pid")"
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$JETTY_STATE/fleet.pid"
}

fleet_down() {
  stop_workers
  "$REPO_ROOT/scripts/garage.sh" stop
}

fleet_up() {
  "$REPO_ROOT/scripts/install-tools.sh"
  ensure_dev_secrets
  "$REPO_ROOT/scripts/build.sh"
  "$REPO_ROOT/scripts/garage.sh" start
  start_workers
}

# Restarts the coordinator and the edges as they are (no install, no build): a deploy's restart.
start_workers() {
  stop_workers
  log "starting coordinator and edges on workerd"
  rm -f "$JETTY_STATE/fleet.json"
  # Empty the log now: the redirection below happens in the background child, and until it runs
  # the wait loop would read the previous run's "ready".
  : > "$FLEET_LOG"
  S3_ENDPOINT_OVERRIDE="http://$GARAGE_S3_HOST:$GARAGE_S3_PORT" nohup node "$REPO_ROOT/scripts/fleet.mjs" > "$FLEET_LOG" 2>&1 &
  echo $! > "$JETTY_STATE/fleet.pid"
  local i
  for ((i = 0; i < 600; i++)); do
    grep -q '^\[fleet\] ready' "$FLEET_LOG" 2>/dev/null && break
    kill -0 "$(cat "$JETTY_STATE/fleet.pid")" 2>/dev/null || { cat "$FLEET_LOG" >&2; die "the fleet exited"; }
    sleep 0.1
  done
  grep -q '^\[fleet\] ready' "$FLEET_LOG" || die "the fleet did not become ready; see $FLEET_LOG"
  grep '^\[fleet\]' "$FLEET_LOG" >&2
}

demo() {
  local key file out id
  key="$(cat "$JETTY_STATE/dev-api-key")"
  file="$JETTY_STATE/demo-64MiB.bin"
  out="$JETTY_STATE/demo-64MiB.out"
  head -c $((64 * 1024 * 1024)) /dev/urandom > "$file"
  log "uploading a 64 MiB random file through the edges"
  "$REPO_ROOT/target/release/jetty" --url "http://127.0.0.1:$COORDINATOR_PORT" --api-key "$key" upload "$file" --location 37.77,-122.42
  id=$("$REPO_ROOT/target/release/jetty" --url "http://127.0.0.1:$COORDINATOR_PORT" --api-key "$key" --json upload "$file" | sed -E 's/.*"fileId":"([^"]+)".*/\1/')
  "$REPO_ROOT/target/release/jetty" --url "http://127.0.0.1:$COORDINATOR_PORT" --api-key "$key" download "$id" "$out"
  log "source sha256: $(sha256sum < "$file" | cut -d' ' -f1)"
  rm -f "$file" "$out"
  cat >&2 <<TXT

The fleet is running (logs: $FLEET_LOG). Upload your own files with:
  export JETTY_URL=http://127.0.0.1:$COORDINATOR_PORT
  export JETTY_API_KEY=\$(cat $JETTY_STATE/dev-api-key)
  target/release/jetty upload FILE        # add --json for scripts
  target/release/jetty download FILE_ID OUT
  target/release/jetty stats              # analytics as tables
Analytics dashboard: http://127.0.0.1:$COORDINATOR_PORT/dashboard (paste the key from
$JETTY_STATE/dev-api-key, or ADMIN_API_KEY from $JETTY_STATE/dev.env for every account).
Stop it with: scripts/fleet.sh down
TXT
}

case "${1:-demo}" in
  demo) fleet_up; demo ;;
  up) fleet_up ;;
  restart) ensure_dev_secrets; start_workers ;;
  down) fleet_down ;;
  *) die "usage: scripts/fleet.sh [demo|up|restart|down]" ;;
esac
