#!/usr/bin/env bash
# Browser upload benchmark on an isolated local fleet: the /upload page in headless Chromium
# (tests/upload_page.mjs) against `jetty upload` (the CLI), same file size, same run.
#   scripts/bench-browser.sh [--size-mib N] [--runs N]
# Prints medians: end-to-end seconds and MiB/s of each, the ratio browser/CLI, the page's
# part-digest speed (before any part is sent) and upload-phase speed (the whole-file SHA-256
# streams in its Web Worker meanwhile), and the gzip size of what the page loads.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

SIZE_MIB=1024
RUNS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --size-mib) SIZE_MIB=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    *) die "usage: scripts/bench-browser.sh [--size-mib N] [--runs N]" ;;
  esac
done

"$REPO_ROOT/scripts/install-tools.sh"
cargo build -q --release -p jetty-client
bench_fleet bench-browser 3950 8793 300

# New bytes in every part for every run, so no run is answered by dedup or part reuse.
perturb() { perturb_every_part "$1"; }

FILE="$BENCH_DIR/bench-${SIZE_MIB}MiB.bin"
[ -f "$FILE" ] || head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom > "$FILE"
WARM="$BENCH_DIR/warm.bin"; head -c $((16 * 1024 * 1024)) /dev/urandom > "$WARM"
"$JETTY" --url "$COORD" --api-key "$API_KEY" --json upload "$WARM" >/dev/null || die "warm-up upload failed"

log "jetty upload (CLI), $RUNS runs"
CLI=()
for ((r = 0; r < RUNS; r++)); do
  perturb "$FILE"; t0=$(now)
  "$JETTY" --url "$COORD" --api-key "$API_KEY" --json upload "$FILE" >/dev/null || die "jetty upload failed"
  t1=$(now); CLI+=("$(python3 -c "print($t1 - $t0)")")
done

log "the /upload page in headless Chromium, $RUNS runs"
PAGE=(); HASH=(); SEND=()
for ((r = 0; r < RUNS; r++)); do
  perturb "$FILE"
  out=$(THROTTLE_MBPS=0 UPLOAD_TIMEOUT_MS=900000 node tests/upload_page.mjs upload "$COORD/upload" "$API_KEY" "$FILE") ||
    die "page upload failed: $out"
  read -r secs hash send < <(python3 -c '
import json, sys
line = json.loads(sys.argv[1]); f = line["files"][0]
assert f["state"] == "done", line
print(line["seconds"], f["hashMiBps"], f["uploadMiBps"])' "$out")
  PAGE+=("$secs"); HASH+=("$hash"); SEND+=("$send")
done

# What the page loads, as a browser would fetch it compressed (gzip -9).
gz() { curl -s "$COORD$1" | gzip -9 | wc -c; }
VERSION=$(curl -s "$COORD/upload" | sed -n 's/.*data-version="\([0-9a-f]*\)".*/\1/p' | head -1)
HTML=$(gz /upload); JS=$(gz "/upload/app.js?v=$VERSION"); CSS=$(gz "/upload/app.css?v=$VERSION"); WORKER=$(gz "/upload/hash-worker.js?v=$VERSION")

C=$(median "${CLI[@]}"); P=$(median "${PAGE[@]}")
echo
echo "Browser bench: ${SIZE_MIB} MiB, median of $RUNS runs, local fleet (3 edges on workerd) -> Garage, $(nproc) cores"
printf '%-46s %10s %10s %8s\n' "way" "seconds" "MiB/s" "vs CLI"
printf '%-46s %10.2f %10.1f %7.2fx\n' "jetty upload (CLI)" "$C" "$(python3 -c "print($SIZE_MIB / $C)")" 1
printf '%-46s %10.2f %10.1f %7.2fx\n' "/upload page, headless Chromium" "$P" "$(python3 -c "print($SIZE_MIB / $P)")" "$(python3 -c "print($C / $P)")"
printf 'page: part digests before the upload (WebCrypto in its Web Worker) %.1f MiB/s; upload phase (the whole-file SHA-256 streaming alongside) %.1f MiB/s\n' "$(median "${HASH[@]}")" "$(median "${SEND[@]}")"
printf 'page weight (gzip -9): html %s B, app.js %s B, app.css %s B, hash worker %s B; total %s B\n' \
  "$HTML" "$JS" "$CSS" "$WORKER" "$((HTML + JS + CSS + WORKER))"
