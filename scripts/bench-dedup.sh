#!/usr/bin/env bash
# Dedup and part-reuse benchmark on an isolated local fleet:
# 1. how soon `jetty upload` of a file the account already stores is answered "duplicate", against
#    `openssl dgst -sha256` of the same file (one core, the floor of any design that needs the
#    whole-file hash first), runs alternated; the target is ≤ 0.5×. Two ways: hashing first
#    (`--hash-first-mib` above the file's size: the parts hashed on every core, asked by content
#    id, nothing sent) and the default for a file above 64 MiB (named after its session opens:
#    the parts in flight until then are sent, and counted);
# 2. a new version of that file with 1 MiB changed in its middle (the store copies the parts the
#    account already has), against a full upload of a file new in every part; the target is
#    ≤ 2 parts sent in ≤ 0.2× the time.
#   scripts/bench-dedup.sh [--size-mib N] [--runs N]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

SIZE_MIB=1024
RUNS=7
while [ $# -gt 0 ]; do
  case "$1" in
    --size-mib) SIZE_MIB=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    *) die "usage: scripts/bench-dedup.sh [--size-mib N] [--runs N]" ;;
  esac
done

"$REPO_ROOT/scripts/install-tools.sh"
cargo build -q --release -p jetty-client
bench_fleet bench-dedup 3960 8795 500

timed() { local t0 t1; t0=$(now); "$@" >/dev/null || die "$* failed"; t1=$(now); python3 -c "print($t1 - $t0)"; }

FILE="$BENCH_DIR/dedup-${SIZE_MIB}MiB.bin"
[ -f "$FILE" ] || head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom > "$FILE"
log "storing the file once"
"$JETTY" --url "$COORD" --api-key "$API_KEY" --json upload "$FILE" >/dev/null || die "first upload failed"
# Warm the page cache and the processes for both ways.
openssl dgst -sha256 "$FILE" >/dev/null
"$JETTY" --url "$COORD" --api-key "$API_KEY" --json upload "$FILE" | grep -q '"duplicate":true' || die "not a duplicate"

OPENSSL=(); JETTY_DUP=(); JETTY_LATER=(); LATER_SENT=()
for ((r = 0; r < RUNS; r++)); do
  OPENSSL+=("$(timed openssl dgst -sha256 "$FILE")")
  JETTY_DUP+=("$(timed "$JETTY" --url "$COORD" --api-key "$API_KEY" --json upload --hash-first-mib $((SIZE_MIB + 1)) "$FILE")")
  t0=$(now)
  out=$("$JETTY" --url "$COORD" --api-key "$API_KEY" --json upload "$FILE") || die "named-later duplicate failed"
  t1=$(now)
  JETTY_LATER+=("$(python3 -c "print($t1 - $t0)")")
  LATER_SENT+=("$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["duplicate"]; print(d["bytesSent"])' "$out")")
done
O=$(median "${OPENSSL[@]}"); J=$(median "${JETTY_DUP[@]}"); L=$(median "${JETTY_LATER[@]}")
LS=$(median "${LATER_SENT[@]}")

log "new versions (1 MiB changed in the middle) vs full uploads"
NEW="$BENCH_DIR/new-${SIZE_MIB}MiB.bin"
upload_json() { "$JETTY" --url "$COORD" --api-key "$API_KEY" --json upload "$1" || die "upload of $1 failed"; }
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
FULL=(); VERSION=(); SENT=()
for ((r = 0; r < 3; r++)); do
  cp "$FILE" "$NEW"; perturb_every_part "$NEW"
  t0=$(now); upload_json "$NEW" >/dev/null; t1=$(now); FULL+=("$(python3 -c "print($t1 - $t0)")")
  # The stored file with another 1 MiB in its middle: a new version of it.
  cp "$FILE" "$NEW"
  head -c $((1024 * 1024)) /dev/urandom | dd of="$NEW" bs=1M seek=$((SIZE_MIB / 2)) conv=notrunc status=none
  t0=$(now); out=$(upload_json "$NEW"); t1=$(now); VERSION+=("$(python3 -c "print($t1 - $t0)")")
  SENT+=("$(field "$out" partsSent)/$(field "$out" parts) sent, $(field "$out" partsReused) reused")
done
F=$(median "${FULL[@]}"); V=$(median "${VERSION[@]}")
echo
echo "Dedup answer for a ${SIZE_MIB} MiB file the account stores, median of $RUNS alternated runs ($(nproc) cores)"
printf '%-52s %8.3f s\n' "openssl dgst -sha256 (whole file, one core)" "$O"
printf '%-52s %8.3f s\n' "jetty upload → duplicate (parts on every core + ask)" "$J"
printf '%-52s %8.2fx\n' "ratio jetty / openssl" "$(python3 -c "print($J / $O)")"
printf '%-52s %8.3f s   (%.1f MiB sent before the answer)\n' "jetty upload → duplicate, named later (default)" "$L" \
  "$(python3 -c "print($LS / 1048576)")"
echo
echo "A new version of the ${SIZE_MIB} MiB file (1 MiB changed in its middle), median of 3"
printf '%-52s %8.3f s\n' "full upload (every part new)" "$F"
printf '%-52s %8.3f s   (%s)\n' "new version (parts copied by the store)" "$V" "${SENT[0]}"
printf '%-52s %8.2fx\n' "ratio new version / full upload" "$(python3 -c "print($V / $F)")"
