# Shared helpers for JettySpeed scripts. Source it; do not run it.
# Tools are installed once into $JETTY_TOOLS (outside the repo, so fresh clones on the same
# machine reuse them) and skipped when already present at the pinned version.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export JETTY_TOOLS="${JETTY_TOOLS:-$HOME/.cache/jettyspeed/tools}"
export PATH="$JETTY_TOOLS/bin:$REPO_ROOT/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export WRANGLER_SEND_METRICS=false
export JETTY_STATE="${JETTY_STATE:-$REPO_ROOT/.jetty}"

GARAGE_VERSION="2.5.0"
WORKER_BUILD_VERSION="0.8.7"
S3S_FS_VERSION="0.14.1"

log() { printf '\033[1;34m[jetty]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[jetty] error:\033[0m %s\n' "$*" >&2; exit 1; }
warn() { printf '\033[1;33m[jetty] warning:\033[0m %s\n' "$*" >&2; }

# The wasm-bindgen CLI must match the wasm-bindgen crate locked in Cargo.lock exactly.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$REPO_ROOT/Cargo.lock"
}

GARAGE_S3_PORT="${GARAGE_S3_PORT:-3900}"
GARAGE_RPC_PORT="${GARAGE_RPC_PORT:-3901}"
GARAGE_ADMIN_PORT="${GARAGE_ADMIN_PORT:-3903}"
export GARAGE_ADMIN_PORT
# Where Garage's S3 and admin APIs listen, and the host the workers reach S3 at.
GARAGE_BIND_HOST="${GARAGE_BIND_HOST:-127.0.0.1}"
GARAGE_S3_HOST="${GARAGE_S3_HOST:-127.0.0.1}"

# Per-machine development secrets, generated once into $JETTY_STATE/dev.env (never in git),
# and mirrored into the .dev.vars files wrangler reads.
ensure_dev_secrets() {
  mkdir -p "$JETTY_STATE"
  local env_file="$JETTY_STATE/dev.env" name value
  (umask 077; touch "$env_file")
  # Each secret is generated once; older state files get the ones added since.
  for name in S3_ACCESS_KEY_ID S3_SECRET_ACCESS_KEY TOKEN_SECRET INTERNAL_SECRET GARAGE_RPC_SECRET \
    GARAGE_ADMIN_TOKEN INTERNAL_WEBHOOK_SECRET VENDOR_WEBHOOK_SECRET VENDOR_WEBHOOK_SECRET_PREVIOUS ADMIN_API_KEY; do
    grep -q "^$name=" "$env_file" && continue
    case "$name" in
      S3_ACCESS_KEY_ID) value="GK$(openssl rand -hex 12)" ;;
      *_WEBHOOK_SECRET*) value="whsec_$(openssl rand -base64 32)" ;;
      ADMIN_API_KEY) value="jsa_$(openssl rand -hex 32)" ;;
      *) value="$(openssl rand -hex 32)" ;;
    esac
    echo "$name=$value" >> "$env_file"
  done
  set -a; source "$env_file"; set +a
  local vars admin_hash
  vars=$(printf 'TOKEN_SECRET=%s\nINTERNAL_SECRET=%s\nS3_ACCESS_KEY_ID=%s\nS3_SECRET_ACCESS_KEY=%s\nINTERNAL_WEBHOOK_SECRET=%s\nVENDOR_WEBHOOK_SECRET=%s\n' \
    "$TOKEN_SECRET" "$INTERNAL_SECRET" "$S3_ACCESS_KEY_ID" "$S3_SECRET_ACCESS_KEY" "$INTERNAL_WEBHOOK_SECRET" \
    "$VENDOR_WEBHOOK_SECRET $VENDOR_WEBHOOK_SECRET_PREVIOUS")
  # The coordinator holds only the admin key's SHA-256; the key stays in dev.env.
  admin_hash=$(printf '%s' "$ADMIN_API_KEY" | openssl dgst -sha256 -r | cut -d' ' -f1)
  (umask 077; printf '%s\nADMIN_KEY_SHA256=%s\n' "$vars" "$admin_hash" > "$REPO_ROOT/.dev.vars"
    printf '%s\n' "$vars" > "$REPO_ROOT/workers/edge/.dev.vars")
}

wait_for_http() { # wait_for_http URL SECONDS
  local url=$1 secs=${2:-30} i
  for ((i = 0; i < secs * 10; i++)); do
    curl -s -o /dev/null "$url" && return 0
    sleep 0.1
  done
  return 1
}

# Makes FILE new content in every part of any plan (16 random bytes every 4 MiB), so its upload
# is neither a duplicate of an earlier run nor able to reuse any part an earlier run stored.
perturb_every_part() { # perturb_every_part FILE
  python3 - "$1" <<'PY'
import os, sys
with open(sys.argv[1], "r+b") as f:
    size = os.fstat(f.fileno()).st_size
    for offset in range(0, size, 4 << 20):
        f.seek(offset)
        f.write(os.urandom(min(16, size - offset)))
PY
}

# --- benchmarks ---
now() { date +%s.%N; }
median() { python3 -c 'import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

# bench_fleet NAME S3_PORT COORDINATOR_PORT EDGE_PORT_OFFSET: an isolated fleet for a benchmark
# from empty stores (own ports; state in .jetty/NAME-fleet), stopped and removed at exit. Sets
# BENCH_DIR (.jetty/NAME, kept), API_KEY, COORD and JETTY.
bench_fleet() {
  BENCH_DIR="$REPO_ROOT/.jetty/$1"
  mkdir -p "$BENCH_DIR"
  export JETTY_STATE="$REPO_ROOT/.jetty/$1-fleet"
  export GARAGE_S3_PORT=$2 GARAGE_RPC_PORT=$(($2 + 1)) GARAGE_ADMIN_PORT=$(($2 + 3))
  export COORDINATOR_PORT=$3 EDGE_PORT_OFFSET=$4
  trap bench_fleet_down EXIT
  bench_fleet_down
  "$REPO_ROOT/scripts/fleet.sh" up > "$BENCH_DIR/fleet-up.log" 2>&1 ||
    { tail -20 "$BENCH_DIR/fleet-up.log" >&2; die "fleet did not start"; }
  API_KEY="$(cat "$JETTY_STATE/dev-api-key")"
  COORD="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["coordinator"])' "$JETTY_STATE/fleet.json")"
  JETTY="$REPO_ROOT/target/release/jetty"
}
bench_fleet_down() { "$REPO_ROOT/scripts/fleet.sh" down >/dev/null 2>&1 || true; rm -rf "$JETTY_STATE"; }
