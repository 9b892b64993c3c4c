#!/usr/bin/env bash
# Browser upload benchmark on an isolated local fleet: the /upload page in headless Chromium
# (tests/upload_page.mjs) against `jetty upload` (the CLI), same file size, same run.
#   scripts/bench-browser.sh [--size-mib N] [--runs N]
# Prints medians: end-to-end seconds and MiB/s of each, the ratio browser/CLI, the page's
# hashing speed (a file above the SDK's HASH_FIRST_MAX is hashed while its parts go out) and
# when its first part was stored, where the CPU went per GiB (scripts/cpu-sample.py:
# Chromium's processes, the CLI, Garage, workerd), and the gzip size of what the page loads.
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

# CPU-seconds per process group over one way's runs (perturbing the file runs in processes of
# no group, so it is not counted).
SAMPLER=""
sample_start() { python3 "$REPO_ROOT/scripts/cpu-sample.py" "$JETTY_STATE" > "$BENCH_DIR/cpu-$1.tsv" & SAMPLER=$!; }
sample_stop() { kill "$SAMPLER"; wait "$SAMPLER" 2>/dev/null || true; }

log "jetty upload (CLI), $RUNS runs"
CLI=()
sample_start cli
for ((r = 0; r < RUNS; r++)); do
  perturb "$FILE"; t0=$(now)
  "$JETTY" --url "$COORD" --api-key "$API_KEY" --json upload "$FILE" >/dev/null || die "jetty upload failed"
  t1=$(now); CLI+=("$(python3 -c "print($t1 - $t0)")")
done
sample_stop

log "the /upload page in headless Chromium, $RUNS runs"
PAGE=(); HASH=(); FIRST=()
sample_start page
for ((r = 0; r < RUNS; r++)); do
  perturb "$FILE"
  out=$(THROTTLE_MBPS=0 UPLOAD_TIMEOUT_MS=900000 node tests/upload_page.mjs upload "$COORD/upload" "$API_KEY" "$FILE") ||
    die "page upload failed: $out"
  read -r secs hash first < <(python3 -c '
import json, sys
line = json.loads(sys.argv[1]); f = line["files"][0]
assert f["state"] == "done", line
print(line["seconds"], f["hashMiBps"], f["firstPartSeconds"])' "$out")
  PAGE+=("$secs"); HASH+=("$hash"); FIRST+=("$first")
done
sample_stop

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
printf 'page: hashed through (its Web Worker: WebCrypto part digests and the whole-file SHA-256 in one read) at %.1f MiB/s; first part stored after %.2f s\n' "$(median "${HASH[@]}")" "$(median "${FIRST[@]}")"
printf 'page weight (gzip -9): html %s B, app.js %s B, app.css %s B, hash worker %s B; total %s B\n' \
  "$HTML" "$JS" "$CSS" "$WORKER" "$((HTML + JS + CSS + WORKER))"
# Where the CPU went, per GiB uploaded (the page's count includes starting Chromium).
python3 - "$BENCH_DIR/cpu-cli.tsv" "$BENCH_DIR/cpu-page.tsv" "$((SIZE_MIB * RUNS))" <<'PY'
import sys
gib = int(sys.argv[3]) / 1024
ways = [dict(l.split("\t") for l in open(p).read().splitlines()) for p in sys.argv[1:3]]
groups = sorted(set(ways[0]) | set(ways[1]), key=lambda g: -float(ways[1].get(g, ways[0].get(g, 0))))
print("CPU-seconds per GiB uploaded (scripts/cpu-sample.py):")
print(f"{'process':28s} {'CLI':>8s} {'page':>8s}")
for g in groups:
    print(f"{g:28s} {float(ways[0].get(g, 0)) / gib:8.2f} {float(ways[1].get(g, 0)) / gib:8.2f}")
PY
