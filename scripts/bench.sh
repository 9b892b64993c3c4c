#!/usr/bin/env bash
# Upload benchmark on the local fleet, against `aws s3 cp` to the same Garage in the same run.
#   scripts/bench.sh [--size-mib N] [--runs N]
# Prints median throughput of each way and the ratio to aws s3 cp, then the peak RSS of the
# workerd process hosting the edges while forwarding 8 MiB and 95 MiB parts, for both
# verification modes (store-verified passthrough, and in-worker DigestStream hashing).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

SIZE_MIB=1024
RUNS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --size-mib) SIZE_MIB=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    *) die "usage: scripts/bench.sh [--size-mib N] [--runs N]" ;;
  esac
done

BENCH_DIR="$JETTY_STATE/bench"
mkdir -p "$BENCH_DIR"
# An isolated fleet from empty stores (own ports and state), removed afterwards.
export JETTY_STATE="$REPO_ROOT/.jetty/bench-fleet"
export GARAGE_S3_PORT=3920 GARAGE_RPC_PORT=3921 GARAGE_ADMIN_PORT=3923
export COORDINATOR_PORT=8792 EDGE_PORT_OFFSET=200
cleanup() { "$REPO_ROOT/scripts/fleet.sh" down >/dev/null 2>&1 || true; rm -rf "$JETTY_STATE"; }
trap cleanup EXIT
cleanup
JETTY="$REPO_ROOT/target/release/jetty"
ensure_dev_secrets
export AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$S3_SECRET_ACCESS_KEY" AWS_DEFAULT_REGION=garage
S3_URL="http://127.0.0.1:$GARAGE_S3_PORT"

start_fleet() { # start_fleet VERIFY_MODE
  JETTY_VAR_OVERRIDES="VERIFY_MODE=$1" "$REPO_ROOT/scripts/fleet.sh" up > "$BENCH_DIR/fleet-up.log" 2>&1 ||
    { tail -20 "$BENCH_DIR/fleet-up.log" >&2; die "fleet did not start"; }
  API_KEY="$(cat "$JETTY_STATE/dev-api-key")"
  COORD="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["coordinator"])' "$JETTY_STATE/fleet.json")"
  WORKERD_PID="$(pgrep -P "$(cat "$JETTY_STATE/fleet.pid")" workerd | head -1)"
  [ -n "$WORKERD_PID" ] || die "cannot find the workerd process"
}

mibps() { python3 -c 'import sys; print(f"{float(sys.argv[1])/float(sys.argv[2]):.1f}")' "$1" "$2"; }

jetty_upload() { # jetty_upload FILE [args…] -> prints file id; fails loudly
  local out
  out=$("$JETTY" --url "$COORD" --api-key "$API_KEY" --json upload "$@") || die "jetty upload failed: $out"
  python3 -c 'import json,sys; print(json.loads(sys.argv[1])["fileId"])' "$out"
}

# New bytes in every part for every run, so no run is answered by dedup or part reuse.
perturb() { perturb_every_part "$1"; }

time_jetty() { # time_jetty FILE -> seconds
  local t0 t1
  t0=$(now); jetty_upload "$1" >/dev/null; t1=$(now)
  python3 -c "print($t1 - $t0)"
}

time_aws() { # time_aws FILE -> seconds
  local t0 t1
  t0=$(now); aws s3 cp --only-show-errors --endpoint-url "$S3_URL" "$1" "s3://jetty/bench/aws-upload"; t1=$(now)
  python3 -c "print($t1 - $t0)"
}

peak_rss_mib() { # peak_rss_mib FILE PART_MIB -> MiB of workerd peak RSS while uploading FILE
  echo 5 > "/proc/$WORKERD_PID/clear_refs" # reset the peak (VmHWM) to the current RSS
  perturb "$1"
  jetty_upload "$1" --part-size-mib "$2" -j 8 >/dev/null
  awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$WORKERD_PID/status"
}

log "preparing ${SIZE_MIB} MiB, 256 MiB and 760 MiB random files"
BIG="$BENCH_DIR/bench-${SIZE_MIB}MiB.bin"
[ -f "$BIG" ] || head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom > "$BIG"
P8="$BENCH_DIR/parts-8MiB.bin"; [ -f "$P8" ] || head -c $((256 * 1024 * 1024)) /dev/urandom > "$P8"
P95="$BENCH_DIR/parts-95MiB.bin"; [ -f "$P95" ] || head -c $((760 * 1024 * 1024)) /dev/urandom > "$P95"

declare -A RESULT
for mode in store worker; do
  log "fleet with VERIFY_MODE=$mode"
  start_fleet "$mode"
  perturb "$P8"; jetty_upload "$P8" >/dev/null # warm-up (connections, JIT)
  times=()
  for ((r = 0; r < RUNS; r++)); do perturb "$BIG"; times+=("$(time_jetty "$BIG")"); done
  RESULT[$mode]=$(median "${times[@]}")
  if [ "$mode" = store ]; then
    # The same bytes again: answered by dedup (hash + one round trip, nothing sent).
    times=()
    for ((r = 0; r < RUNS; r++)); do times+=("$(time_jetty "$BIG")"); done
    RESULT[dup]=$(median "${times[@]}")
  fi
  base=$(awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$WORKERD_PID/status")
  RESULT[$mode-rss-base]=$base
  RESULT[$mode-rss-8]=$(peak_rss_mib "$P8" 8)
  RESULT[$mode-rss-95]=$(peak_rss_mib "$P95" 95)
done
start_fleet store

log "aws s3 cp baseline"
times=()
for ((r = 0; r < RUNS; r++)); do times+=("$(time_aws "$BIG")"); done
AWS=$(median "${times[@]}")

log "downloads: jetty (parallel ranges through the edges) vs aws s3 cp, same object"
perturb "$BIG"
BIG_ID=$(jetty_upload "$BIG")
times=()
for ((r = 0; r < RUNS; r++)); do
  t0=$(now); "$JETTY" --url "$COORD" --api-key "$API_KEY" download "$BIG_ID" "$BENCH_DIR/dl.out" >/dev/null || die "download failed"; t1=$(now)
  times+=("$(python3 -c "print($t1 - $t0)")"); rm -f "$BENCH_DIR/dl.out"
done
DL_JETTY=$(median "${times[@]}")
times=()
for ((r = 0; r < RUNS; r++)); do
  t0=$(now); aws s3 cp --only-show-errors --endpoint-url "$S3_URL" "s3://jetty/accounts/acc_dev/files/$BIG_ID" "$BENCH_DIR/dl.out"; t1=$(now)
  times+=("$(python3 -c "print($t1 - $t0)")"); rm -f "$BENCH_DIR/dl.out"
done
DL_AWS=$(median "${times[@]}")

log "1 MiB reads at one edge: first read (origin: S3) vs second read (edge cache)"
EDGE_URL="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["edges"][0]["url"])' "$JETTY_STATE/fleet.json")"
ORIGIN=(); CACHED=()
for ((r = 0; r < 20; r++)); do
  head -c $((1024 * 1024)) /dev/urandom > "$BENCH_DIR/small.bin"
  id=$(jetty_upload "$BENCH_DIR/small.bin")
  read_ms() { curl -s -o /dev/null -w '%{time_total}' -H "authorization: Bearer $API_KEY" "$EDGE_URL/api/files/$id"; }
  ORIGIN+=("$(read_ms)"); CACHED+=("$(read_ms)")
done
LAT_ORIGIN=$(median "${ORIGIN[@]}"); LAT_CACHED=$(median "${CACHED[@]}")

echo
echo "JettySpeed bench: ${SIZE_MIB} MiB file, median of $RUNS runs, local fleet (3 edges on workerd) -> Garage"
printf '%-44s %10s %10s %8s\n' "way" "seconds" "MiB/s" "vs aws"
for row in "aws s3 cp (direct to S3)|$AWS" "jetty, store-verified passthrough (default)|${RESULT[store]}" "jetty, in-worker SHA-256 (VERIFY_MODE=worker)|${RESULT[worker]}"; do
  name=${row%%|*}; secs=${row##*|}
  printf '%-44s %10.2f %10s %7.2fx\n' "$name" "$secs" "$(mibps "$SIZE_MIB" "$secs")" "$(python3 -c "print($AWS / $secs)")"
done
printf '%-44s %10.2f %10s\n' "jetty, same bytes again (dedup hit)" "${RESULT[dup]}" "-"
echo
echo "Download of the same ${SIZE_MIB} MiB object, median of $RUNS runs"
printf '%-44s %10s %10s %8s\n' "way" "seconds" "MiB/s" "vs aws"
for row in "aws s3 cp (direct from S3)|$DL_AWS" "jetty download (8 ranges in flight, 3 edges)|$DL_JETTY"; do
  name=${row%%|*}; secs=${row##*|}
  printf '%-44s %10.2f %10s %7.2fx\n' "$name" "$secs" "$(mibps "$SIZE_MIB" "$secs")" "$(python3 -c "print($DL_AWS / $secs)")"
done
echo
printf '1 MiB read at one edge (median of 20): origin %.1f ms, edge cache %.1f ms, ratio %.1fx\n' \
  "$(python3 -c "print($LAT_ORIGIN * 1000)")" "$(python3 -c "print($LAT_CACHED * 1000)")" "$(python3 -c "print($LAT_ORIGIN / $LAT_CACHED)")"
echo
echo "workerd peak RSS (MiB; one process hosts the coordinator and 3 edges), 8 parts in flight"
printf '%-32s %8s %14s %15s\n' "mode" "idle" "8 MiB parts" "95 MiB parts"
for mode in store worker; do
  printf '%-32s %8s %14s %15s\n' "$mode" "${RESULT[$mode-rss-base]}" "${RESULT[$mode-rss-8]}" "${RESULT[$mode-rss-95]}"
done
