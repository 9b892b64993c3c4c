#!/usr/bin/env bash
# Starts a single-node Garage S3 server on loopback (real SigV4 checks), with a bucket and a
# key for JettySpeed. Idempotent: reuses a running server and existing layout/bucket/key.
#   scripts/garage.sh start   # start (if needed) and configure; prints nothing else
#   scripts/garage.sh stop
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_dev_secrets

GDIR="$JETTY_STATE/garage"
CONF="$GDIR/garage.toml"
BUCKET="${S3_BUCKET:-jetty}"
garage_cli() { garage -c "$CONF" "$@"; }
# The address to probe the S3 port at (a wildcard bind answers on loopback).
S3_PROBE_HOST="$GARAGE_BIND_HOST"
[ "$S3_PROBE_HOST" = 0.0.0.0 ] && S3_PROBE_HOST=127.0.0.1

write_config() {
  mkdir -p "$GDIR/meta" "$GDIR/data"
  cat > "$CONF" <<TOML
metadata_dir = "$GDIR/meta"
data_dir = "$GDIR/data"
db_engine = "lmdb"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$GARAGE_RPC_PORT"
rpc_public_addr = "127.0.0.1:$GARAGE_RPC_PORT"
rpc_secret = "$GARAGE_RPC_SECRET"

[s3_api]
s3_region = "garage"
api_bind_addr = "$GARAGE_BIND_HOST:$GARAGE_S3_PORT"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "$GARAGE_BIND_HOST:$GARAGE_ADMIN_PORT"
admin_token = "$GARAGE_ADMIN_TOKEN"
TOML
}

# Metadata lives in LMDB, Garage's default engine. With its SQLite engine, concurrent part
# uploads made Garage answer 503 "database is locked" and, once, never answer an UploadPart whose
# body it had received in full (a fleet test waited for it until killed). State written by
# earlier versions of this script is converted once, keeping its objects.
convert_sqlite_metadata() {
  [ -f "$GDIR/meta/db.sqlite" ] && [ ! -e "$GDIR/meta/db.lmdb" ] || return 0
  log "converting Garage metadata from SQLite to LMDB"
  garage convert-db -a sqlite -i "$GDIR/meta/db.sqlite" -b lmdb -o "$GDIR/meta/db.lmdb" >/dev/null ||
    die "garage convert-db failed; remove $GDIR to start from empty stores"
  rm -f "$GDIR/meta/db.sqlite" "$GDIR/meta/db.sqlite-shm" "$GDIR/meta/db.sqlite-wal"
}

start() {
  command -v garage >/dev/null || die "garage is not installed: run scripts/install-tools.sh"
  write_config
  if curl -s -o /dev/null "http://$S3_PROBE_HOST:$GARAGE_S3_PORT/"; then
    # Reuse only our own running Garage; anything else on the port (another checkout's fleet)
    # has other secrets and data.
    local pid
    pid=$(cat "$GDIR/garage.pid" 2>/dev/null || true)
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
      die "$S3_PROBE_HOST:$GARAGE_S3_PORT is taken by another process (a fleet started elsewhere? stop it with scripts/fleet.sh down there)"
    fi
  else
    convert_sqlite_metadata
    log "starting garage on $GARAGE_BIND_HOST:$GARAGE_S3_PORT"
    nohup garage -c "$CONF" server > "$GDIR/garage.log" 2>&1 &
    echo $! > "$GDIR/garage.pid"
    wait_for_http "http://$S3_PROBE_HOST:$GARAGE_S3_PORT/" 30 || die "garage did not start; see $GDIR/garage.log"
  fi
  # Layout: one node, one zone. The CLI talks RPC, which may come up after the S3 port: retry.
  local layout="" node="" i
  for ((i = 0; i < 100; i++)); do
    layout=$(garage_cli layout show 2>/dev/null) && break
    sleep 0.1
  done
  [ -n "$layout" ] || die "garage does not answer layout queries; see $GDIR/garage.log"
  if grep -q "No nodes currently have a role" <<<"$layout"; then
    node=$(garage_cli node id -q 2>/dev/null | cut -d@ -f1)
    [ -n "$node" ] || die "garage did not tell its node id"
    garage_cli layout assign -z local -c 100G "$node" >/dev/null
    garage_cli layout apply --version 1 >/dev/null
  fi
  # The layout takes a moment to become live ("Layout not ready"): retry until the bucket exists.
  for ((i = 0; i < 100; i++)); do
    garage_cli bucket info "$BUCKET" >/dev/null 2>&1 && break
    garage_cli bucket create "$BUCKET" >/dev/null 2>&1 && break
    sleep 0.2
  done
  garage_cli bucket info "$BUCKET" >/dev/null 2>&1 || die "garage did not create bucket $BUCKET; see $GDIR/garage.log"
  garage_cli key info "$S3_ACCESS_KEY_ID" >/dev/null 2>&1 ||
    garage_cli key import --yes -n jetty-dev "$S3_ACCESS_KEY_ID" "$S3_SECRET_ACCESS_KEY" >/dev/null
  garage_cli bucket allow --read --write --owner "$BUCKET" --key "$S3_ACCESS_KEY_ID" >/dev/null
}

stop() {
  if [ -f "$GDIR/garage.pid" ]; then
    local pid i
    pid="$(cat "$GDIR/garage.pid")"
    kill "$pid" 2>/dev/null || true
    # Wait for it to exit, so a restart can bind its ports again.
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$GDIR/garage.pid"
  fi
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) die "usage: scripts/garage.sh start|stop" ;;
esac
