#!/usr/bin/env bash
# Starts `wrangler dev` for the coordinator (scripts/wrangler-dev.sh) against the test fleet's
# S3 server, makes an account in its local D1, uploads a file through it with the jetty CLI,
# downloads it back, compares SHA-256, and stops it. Run by scripts/test.sh after the fleet
# tests (needs Garage up and target/release/jetty built).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
PORT="${WRANGLER_DEV_PORT:-8796}"
export WRANGLER_PERSIST="$JETTY_STATE/wrangler-test"
rm -rf "$WRANGLER_PERSIST"
mkdir -p "$WRANGLER_PERSIST"
LOG="$JETTY_STATE/wrangler-dev.log"
WORK="$(mktemp -d)"
cleanup() {
  [ -n "${DEV_PID:-}" ] && kill -- "-$DEV_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { tail -n 40 "$LOG" >&2; echo "test result: FAILED. 0 passed; 1 failed"; die "wrangler dev: $*"; }

export PATH="$JETTY_TOOLS/node22/node_modules/.bin:$PATH"
# An account and its key in the local D1, and no production edges (uploads take the origin path).
KEY="jt_live_$(openssl rand -hex 24)"
HASH=$(printf '%s' "$KEY" | openssl dgst -sha256 -r | cut -d' ' -f1)
CI=true wrangler d1 migrations apply jetty --local --persist-to "$WRANGLER_PERSIST" > "$LOG" 2>&1 || fail "migrations"
wrangler d1 execute jetty --local --persist-to "$WRANGLER_PERSIST" --command \
  "INSERT INTO accounts (id, name, tier, created_at) VALUES ('acc_wdev', 'wrangler dev', 'enterprise', 0);
   INSERT INTO api_keys (key_hash, account_id, label, created_at, kind) VALUES ('$HASH', 'acc_wdev', 'key', 0, 'key');
   UPDATE edge_locations SET is_active = 0;" >> "$LOG" 2>&1 || fail "account set-up"

log "starting wrangler dev (coordinator) on $PORT"
setsid "$REPO_ROOT/scripts/wrangler-dev.sh" --ip 127.0.0.1 --port "$PORT" \
  --var "S3_ENDPOINT:http://127.0.0.1:$GARAGE_S3_PORT" --var "PUBLIC_URL:http://127.0.0.1:$PORT" >> "$LOG" 2>&1 &
DEV_PID=$!
for ((i = 0; i < 1800; i++)); do
  curl -sf "http://127.0.0.1:$PORT/health" > /dev/null && break
  kill -0 "$DEV_PID" 2>/dev/null || fail "wrangler dev exited"
  sleep 0.1
done
curl -sf "http://127.0.0.1:$PORT/health" > /dev/null || fail "no answer on /health"

head -c $((6 * 1024 * 1024 + 7)) /dev/urandom > "$WORK/file.bin"
jetty() { "$REPO_ROOT/target/release/jetty" --url "http://127.0.0.1:$PORT" --api-key "$KEY" --json "$@"; }
OUT=$(JETTY_STATE_DIR="$WORK/state" jetty upload "$WORK/file.bin") || fail "upload: $OUT"
ID=$(printf '%s' "$OUT" | sed -E 's/.*"fileId":"([^"]+)".*/\1/')
jetty download "$ID" "$WORK/back.bin" --origin > /dev/null || fail "download"
[ "$(sha256sum < "$WORK/file.bin")" = "$(sha256sum < "$WORK/back.bin")" ] || fail "the bytes differ"
log "wrangler dev: uploaded and read back $ID through the coordinator"
echo "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out"
