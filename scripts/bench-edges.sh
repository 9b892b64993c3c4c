#!/usr/bin/env bash
# Edge intelligence figures, on an isolated fleet:
#   1. optimal-edges latency under 100 concurrent requests (p50/p99);
#   2. a simulation of separate network paths: every edge behind a proxy capped at
#      SHAPE_MBPS with SHAPE_DELAY_MS one-way delay, and one path shaped the same way straight
#      to the S3 server. Multi-edge `jetty upload` vs single-path `aws s3 cp`, 100 MB and 1 GB.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
SHAPE_MBPS="${SHAPE_MBPS:-200}"
SHAPE_DELAY_MS="${SHAPE_DELAY_MS:-20}"

BENCH_DIR="$JETTY_STATE/bench"
mkdir -p "$BENCH_DIR"
export JETTY_STATE="$REPO_ROOT/.jetty/bench-edges"
export GARAGE_S3_PORT=3930 GARAGE_RPC_PORT=3931 GARAGE_ADMIN_PORT=3933
export COORDINATOR_PORT=8793 EDGE_PORT_OFFSET=300
ORIGIN_PORT=3939
cleanup() { "$REPO_ROOT/scripts/fleet.sh" down >/dev/null 2>&1 || true; rm -rf "$JETTY_STATE"; }
trap cleanup EXIT
cleanup
ensure_dev_secrets
export AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$S3_SECRET_ACCESS_KEY" AWS_DEFAULT_REGION=garage
JETTY="$REPO_ROOT/target/release/jetty"

up() { "$REPO_ROOT/scripts/fleet.sh" up > "$BENCH_DIR/fleet-up.log" 2>&1 || { tail -20 "$BENCH_DIR/fleet-up.log" >&2; die "fleet did not start"; }; }

log "optimal-edges under load"
up
KEY="$(cat "$JETTY_STATE/dev-api-key")"
LOAD=$(node "$REPO_ROOT/scripts/load-optimal-edges.mjs" "http://127.0.0.1:$COORDINATOR_PORT" "$KEY")

log "shaped paths: ${SHAPE_MBPS} Mbit/s and ${SHAPE_DELAY_MS} ms each"
export JETTY_SHAPE_MBPS="$SHAPE_MBPS" JETTY_SHAPE_DELAY_MS="$SHAPE_DELAY_MS" JETTY_ORIGIN_PROXY_PORT="$ORIGIN_PORT"
# The origin-direct leg (client → coordinator → store) is not shaped here: leave it out, so
# only the three shaped edge paths are compared with the shaped single path.
export JETTY_VAR_OVERRIDES="ORIGIN_DIRECT_SHARE=0"
"$REPO_ROOT/scripts/fleet.sh" down >/dev/null 2>&1 || true
up
KEY="$(cat "$JETTY_STATE/dev-api-key")"
declare -A T
for size in 100 1000; do
  f="$BENCH_DIR/sim-${size}MB.bin"
  [ -f "$f" ] || head -c $((size * 1000 * 1000)) /dev/urandom > "$f"
  head -c 16 /dev/urandom | dd of="$f" bs=16 count=1 conv=notrunc status=none
  t0=$(now); "$JETTY" --url "http://127.0.0.1:$COORDINATOR_PORT" --api-key "$KEY" --json upload "$f" > "$BENCH_DIR/sim-upload.json" || { cat "$BENCH_DIR/sim-upload.json" >&2; die "jetty upload failed"; }; t1=$(now)
  T[multi-$size]=$(python3 -c "print($t1 - $t0)")
  t0=$(now); aws s3 cp --only-show-errors --endpoint-url "http://127.0.0.1:$ORIGIN_PORT" "$f" "s3://jetty/sim/$size"; t1=$(now)
  T[single-$size]=$(python3 -c "print($t1 - $t0)")
done

echo
echo "$LOAD"
echo
echo "Simulated paths: each edge and the direct path capped at ${SHAPE_MBPS} Mbit/s, ${SHAPE_DELAY_MS} ms one way"
printf '%-8s %22s %26s %9s\n' "size" "single path (aws s3 cp)" "jetty, 3 edges in parallel" "speedup"
for size in 100 1000; do
  printf '%-8s %20.2f s %24.2f s %8.2fx\n' "${size} MB" "${T[single-$size]}" "${T[multi-$size]}" "$(python3 -c "print(${T[single-$size]} / ${T[multi-$size]})")"
done
echo "Model: the speedup is bounded by (sum of the paths' bandwidths) / (single path's) = 3 here."
