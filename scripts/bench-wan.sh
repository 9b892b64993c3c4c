#!/usr/bin/env bash
# Upload benchmark over the WAN emulator (bench/wan), with the fleet placed like production:
#   client namespace (10.77.1.1)  — last mile —  edge namespace (10.77.2.1)  — backbone —
#   origin namespace (10.77.3.1)
# Garage (the S3 store) listens in `origin`; workerd (coordinator and edges, one process) in
# `edge`, reaching S3 at 10.77.3.1 across the backbone; the clients run in `client`.
#   sudo scripts/bench-wan.sh [--profile P] [--size-mib N] [--runs N] [--cc cubic|bbr]
#                             [--tools jetty,origin,aws,rclone,rclone16,tus,put,jetty-get,aws-get]
#                             [--no-build]
# JETTY_UPLOAD_ARGS: more options for the jetty and version tools' uploads (e.g. `-j 32`).
# Tools: `jetty` = `jetty upload` (`--route auto`: through the edges plus the coordinator's origin-direct share, or straight to the store where it measures as near),
# `version` = `jetty upload` of a stored file with 1 MiB changed in its middle (part reuse),
# `origin` = `jetty upload --route edges` on an account without JettySpeed (every part through the
# coordinator's own chunk route), `aws` = `aws s3 cp` straight to Garage (last mile + backbone),
# `rclone` = `rclone copyto` straight to Garage (when rclone is installed; `rclone16`: multipart
# with 16 × 16 MiB chunks in flight from the first byte), `tus` = tus-js-client
# to @tus/server + @tus/s3-store running beside Garage in `origin` (bench/tus), `put` = one
# signed PUT (`aws s3api put-object`) straight to Garage. Downloads: `jetty-get` = `jetty
# download` (`--route auto`: the edges, or the store where it is as near), `aws-get` = `aws s3 cp` from Garage, each of an object stored
# (untimed) by `jetty upload` just before; both are checked against the file's SHA-256.
# Prints a table (median seconds, MiB/s, ratio vs aws s3 cp, share of the access-link bound) and
# when each phase of jetty's uploads ended (medians of `jetty upload --json`'s `timeline`);
# every run's time goes to $JETTY_STATE/bench-wan-results.tsv. The namespaces, the fleet and
# Garage are removed/stopped at exit, also on failure. See docs/wan-bench.md.
# Ports and state default away from the other fleets' (override with the usual variables:
# GARAGE_S3_PORT 3940, GARAGE_RPC_PORT 3941, GARAGE_ADMIN_PORT 3943, COORDINATOR_PORT 8794,
# EDGE_PORT_OFFSET 400 (edges 9201-9203), CONTROL_PORT 9794, JETTY_STATE .jetty/wan); the
# namespaces are prefixed `wb-` (WAN_PREFIX), so a topology of scripts/wan.sh may run beside.
export JETTY_STATE="${JETTY_STATE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.jetty/wan}"
export GARAGE_S3_PORT="${GARAGE_S3_PORT:-3940}" GARAGE_RPC_PORT="${GARAGE_RPC_PORT:-3941}"
export GARAGE_ADMIN_PORT="${GARAGE_ADMIN_PORT:-3943}"
export COORDINATOR_PORT="${COORDINATOR_PORT:-8794}" EDGE_PORT_OFFSET="${EDGE_PORT_OFFSET:-400}"
export CONTROL_PORT="${CONTROL_PORT:-$((COORDINATOR_PORT + 1000))}"
# The tus peer's server (bench/tus), beside Garage in `origin`.
TUS_PORT="${TUS_PORT:-$((GARAGE_S3_PORT + 5))}"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# A failing command inside $(…) fails the substitution too.
shopt -s inherit_errexit
cd "$REPO_ROOT"

PROFILE=intercontinental
SIZE_MIB=100
RUNS=3
CC=cubic
TOOLS=jetty,origin,aws,rclone
BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) PROFILE=$2; shift 2 ;;
    --size-mib) SIZE_MIB=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --cc) CC=$2; shift 2 ;;
    --tools) TOOLS=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h | --help) sed -n '2,27p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
[ "$(id -u)" = 0 ] || die "scripts/bench-wan.sh creates network namespaces: run it as root"

PREFIX="${WAN_PREFIX:-wb-}"
CLIENT_IP=10.77.1.1 EDGE_IP=10.77.2.1 ORIGIN_IP=10.77.3.1
TARGET="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
LOCK=/tmp/jetty-build.lock
mkdir -p "$JETTY_STATE"
WORK="$JETTY_STATE/bench"
mkdir -p "$WORK"
RESULTS="$JETTY_STATE/bench-wan-results.tsv"

case "$PROFILE" in
  */* | *.toml) PROFILE_FILE=$PROFILE ;;
  *) PROFILE_FILE="$REPO_ROOT/bench/wan/profiles/$PROFILE.toml" ;;
esac
[ -f "$PROFILE_FILE" ] || die "no profile $PROFILE_FILE"
# The access link: the client's link (its rate in the client → edge direction).
ACCESS_MBIT=$(python3 - "$PROFILE_FILE" <<'PY'
import sys, tomllib
top = tomllib.load(open(sys.argv[1], "rb"))
for link in top.get("links", []):
    if "client" in (link.get("a"), link.get("b")):
        up = link.get("a_to_b" if link.get("a") == "client" else "b_to_a", {}) or {}
        print(up.get("rate_mbit", link.get("rate_mbit", 0)))
        break
else:
    print(0)
PY
)

if [ "$BUILD" = 1 ]; then
  log "building jetty, jetty-wan and the workers (under $LOCK)"
  # One package per cargo run, as build.sh does for the CLI (building both at once unifies
  # features differently and rebuilds the CLI's dependencies every other time).
  flock -o "$LOCK" nice cargo build --release -q -p jetty-wan
  flock -o "$LOCK" nice "$REPO_ROOT/scripts/build.sh"
fi
WAN_BIN="$TARGET/release/jetty-wan"
JETTY_BIN="$TARGET/release/jetty"
[ -x "$WAN_BIN" ] && [ -x "$JETTY_BIN" ] || die "build jetty-wan and jetty first (or drop --no-build)"
ensure_dev_secrets

WAN_PID="" TUS_PID=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  log "cleaning up: fleet, garage, namespaces"
  [ -n "$TUS_PID" ] && { kill "$TUS_PID" 2>/dev/null || true; wait "$TUS_PID" 2>/dev/null || true; }
  if [ -f "$JETTY_STATE/fleet.pid" ]; then
    local pid i
    pid=$(cat "$JETTY_STATE/fleet.pid")
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$JETTY_STATE/fleet.pid"
  fi
  "$REPO_ROOT/scripts/garage.sh" stop || true
  if [ -n "$WAN_PID" ]; then
    kill -TERM "$WAN_PID" 2>/dev/null || true
    wait "$WAN_PID" 2>/dev/null || true
  fi
  "$WAN_BIN" down --profile "$PROFILE_FILE" --prefix "$PREFIX" >/dev/null 2>&1 || true
  # The emulator's per-link counts (packets, drops, losses) of this bench.
  [ -f "$JETTY_STATE/wan.log" ] && cp "$JETTY_STATE/wan.log" "$WORK/${STAMP:-$(date -u +%Y%m%dT%H%M%SZ)}-wan.log"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the emulator ---
"$WAN_BIN" down --profile "$PROFILE_FILE" --prefix "$PREFIX" >/dev/null 2>&1 || true
rm -f "$JETTY_STATE/wan.ready"
log "starting the WAN emulator: profile $PROFILE, congestion control $CC, namespaces ${PREFIX}client/edge/origin"
"$WAN_BIN" up --profile "$PROFILE_FILE" --cc "$CC" --prefix "$PREFIX" --ready-file "$JETTY_STATE/wan.ready" \
  > "$JETTY_STATE/wan.log" 2>&1 &
WAN_PID=$!
for ((i = 0; i < 300; i++)); do
  [ -f "$JETTY_STATE/wan.ready" ] && break
  kill -0 "$WAN_PID" 2>/dev/null || { cat "$JETTY_STATE/wan.log" >&2; die "the emulator exited"; }
  sleep 0.1
done
[ -f "$JETTY_STATE/wan.ready" ] || die "the emulator did not become ready; see $JETTY_STATE/wan.log"
in_ns() { local ns=$1; shift; ip netns exec "$PREFIX$ns" "$@"; }

# --- Garage in `origin`, the fleet in `edge` ---
in_ns origin env GARAGE_BIND_HOST="$ORIGIN_IP" "$REPO_ROOT/scripts/garage.sh" start
# The store-direct route is offered, as a deployment whose store clients can reach (aws and
# the other peers reach it here) would: `jetty upload` measures the store against the edges and
# takes it only where no edge is nearer (`lan`).
in_ns edge env JETTY_BIND_HOST="$EDGE_IP" GARAGE_S3_HOST="$ORIGIN_IP" JETTY_ORIGIN_ONLY_ACCOUNT=1 \
  JETTY_STORE_DIRECT=1 JETTY_CRON_SECONDS=3600 "$REPO_ROOT/scripts/fleet.sh" restart
COORD="http://$EDGE_IP:$COORDINATOR_PORT"
S3="http://$ORIGIN_IP:$GARAGE_S3_PORT"
DEV_KEY=$(cat "$JETTY_STATE/dev-api-key")
ORIGIN_KEY=$(cat "$JETTY_STATE/origin-api-key")
in_ns client curl -s -o /dev/null "$COORD/" ||
  die "the coordinator is not reachable from the client namespace at $COORD"

# --- the runs ---
BASE="$WORK/base-${SIZE_MIB}MiB.bin"
[ "$(stat -c %s "$BASE" 2>/dev/null || echo 0)" = $((SIZE_MIB * 1048576)) ] ||
  head -c $((SIZE_MIB * 1048576)) /dev/urandom > "$BASE"
FILE="$WORK/upload-${SIZE_MIB}MiB.bin"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)

# Each run uploads distinct content (the first bytes carry the run's name, and every part is
# changed): no deduplication, no part reuse.
fresh_file() {
  cp "$BASE" "$FILE"
  perturb_every_part "$FILE"
  printf '%-64s' "$STAMP $1 $2" | dd of="$FILE" conv=notrunc status=none
}

jetty_in_client() { # KEY ARGS…
  local key=$1; shift
  in_ns client env JETTY_STATE_DIR="$WORK/client-state" "$JETTY_BIN" --url "$COORD" --api-key "$key" "$@"
}
aws_in_client() {
  in_ns client env AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$S3_SECRET_ACCESS_KEY" \
    AWS_DEFAULT_REGION=garage AWS_EC2_METADATA_DISABLED=true aws --endpoint-url "$S3" "$@"
}
rclone_in_client() {
  # rclone 1.60's AWS SDK refuses AWS_CA_BUNDLE (set on some machines) for plain-HTTP endpoints.
  in_ns client env -u AWS_CA_BUNDLE RCLONE_CONFIG=/dev/null RCLONE_CONFIG_GARAGE_TYPE=s3 RCLONE_CONFIG_GARAGE_PROVIDER=Other \
    RCLONE_CONFIG_GARAGE_ACCESS_KEY_ID="$S3_ACCESS_KEY_ID" RCLONE_CONFIG_GARAGE_SECRET_ACCESS_KEY="$S3_SECRET_ACCESS_KEY" \
    RCLONE_CONFIG_GARAGE_ENDPOINT="$S3" RCLONE_CONFIG_GARAGE_REGION=garage RCLONE_CONFIG_GARAGE_FORCE_PATH_STYLE=true \
    rclone "$@"
}

# CPU-seconds the whole machine has spent busy so far (every process: the client, the store,
# the workers, the emulator), from /proc/stat.
busy_seconds() { awk -v hz="$(getconf CLK_TCK)" '/^cpu / { print ($2 + $3 + $4 + $7 + $8) / hz; exit }' /proc/stat; }

file_id_of() { sed -nE 's/.*"fileId":"([^"]+)".*/\1/p' <<<"$1" | head -1; }

# run_tool TOOL RUN -> prints seconds, or FAIL when the tool failed; removes what it uploaded
# afterwards (not timed).
run_tool() {
  local tool=$1 run=$2 t0 t1 c0 out="" id="" ok=1 key="bench-wan/$STAMP-$tool-$run" first="" got="$WORK/download.bin"
  fresh_file "$tool" "$run"
  case "$tool" in
    version)
      # Untimed: the first version is stored; the timed upload is the file with 1 MiB changed in
      # its middle, whose other parts the store copies (part reuse).
      first=$(jetty_in_client "$DEV_KEY" --json upload --no-resume "$FILE") || die "version: the first upload failed"
      head -c 1048576 /dev/urandom | dd of="$FILE" bs=1M seek=$((SIZE_MIB / 2)) conv=notrunc status=none ;;
    jetty-get | aws-get)
      # Untimed: the file is stored through the edges; the timed part is reading it back.
      first=$(jetty_in_client "$DEV_KEY" --json upload --no-resume "$FILE") || die "$tool: the upload before the download failed"
      id=$(file_id_of "$first"); rm -f "$got" ;;
  esac
  c0=$(busy_seconds)
  t0=$(date +%s.%N)
  case "$tool" in
    # shellcheck disable=SC2086 # JETTY_UPLOAD_ARGS is a list of options
    jetty | version) out=$(jetty_in_client "$DEV_KEY" --json upload --no-resume ${JETTY_UPLOAD_ARGS:-} "$FILE") || ok=0 ;;
    origin) out=$(jetty_in_client "$ORIGIN_KEY" --json upload --no-resume --route edges "$FILE") || ok=0 ;;
    aws) aws_in_client s3 cp --only-show-errors "$FILE" "s3://jetty/$key" || ok=0 ;;
    rclone) rclone_in_client copyto -q "$FILE" "garage:jetty/$key" || ok=0 ;;
    rclone16) rclone_in_client copyto -q --s3-upload-cutoff 16M --s3-chunk-size 16M --s3-upload-concurrency 16 "$FILE" "garage:jetty/$key" || ok=0 ;;
    put) out=$(aws_in_client s3api put-object --bucket jetty --key "$key" --body "$FILE" 2>&1) || ok=0 ;;
    tus) out=$(in_ns client "$NODE" "$REPO_ROOT/bench/tus/upload.mjs" "$FILE" "$TUS_URL" 2>&1) || ok=0 ;;
    jetty-get) out=$(jetty_in_client "$DEV_KEY" --json download "$id" "$got" 2>&1) || ok=0 ;;
    aws-get) out=$(aws_in_client s3 cp --only-show-errors "s3://jetty/accounts/acc_dev/files/$id" "$got" 2>&1) || ok=0 ;;
  esac
  t1=$(date +%s.%N)
  python3 -c "print(f'{$(busy_seconds) - $c0:.2f}')" > "$WORK/$STAMP-$tool-$run.cpu"
  if [ "$ok" = 1 ] && [ "$tool" = tus ] &&
    [ "$(aws_in_client s3api head-object --bucket jetty --key "${out##*/}" --query ContentLength --output text 2>&1)" != "$(stat -c %s "$FILE")" ]; then
    out="tus: the stored object ${out##*/} is not the file's size ($out)"
    ok=0
  fi
  if [ "$ok" = 1 ] && [ -n "$id" ] && [ "$(sha256sum < "$got" | cut -d' ' -f1)" != "$(sha256sum < "$FILE" | cut -d' ' -f1)" ]; then
    out="the downloaded file differs from the uploaded one"
    ok=0
  fi
  if [ "$ok" = 0 ]; then
    log "$tool run $run failed: $out"
    echo FAIL
    return 0
  fi
  rm -f "$got"
  # Which way jetty's parts went (`--route auto` decides per upload).
  case "$tool" in
    jetty | version) log "$tool run $run: parts through $(python3 -c 'import json,sys; print(",".join(json.load(sys.stdin)["edges"]))' <<< "$out" 2>/dev/null || echo '?')" ;;
    jetty-get) log "$tool run $run: read from $(python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["route"])' <<< "$out" 2>/dev/null || echo '?')" ;;
  esac
  case "$tool" in
    jetty-get | aws-get) jetty_in_client "$DEV_KEY" delete "$id" >/dev/null ;;
    put) aws_in_client s3 rm --only-show-errors "s3://jetty/$key" ;;
    tus)
      # @tus/s3-store keeps the object under the upload's id, and its metadata beside it.
      id=${out##*/}
      aws_in_client s3 rm --only-show-errors "s3://jetty/$id"
      aws_in_client s3 rm --only-show-errors "s3://jetty/$id.info" ;;
    jetty | origin | version)
      printf '%s\n' "$out" > "$WORK/$STAMP-$tool-$run.json"
      for answer in "$out" "$first"; do
        [ -n "$answer" ] || continue
        id=$(file_id_of "$answer")
        [ -n "$id" ] || { echo "$answer" >&2; die "$tool: no fileId in the answer"; }
        jetty_in_client "$([ "$tool" = origin ] && echo "$ORIGIN_KEY" || echo "$DEV_KEY")" delete "$id" >/dev/null
      done ;;
    aws) aws_in_client s3 rm --only-show-errors "s3://jetty/$key" ;;
    rclone | rclone16) rclone_in_client deletefile -q "garage:jetty/$key" ;;
  esac
  python3 -c "print(f'{$t1 - $t0:.3f}')"
}

IFS=, read -r -a TOOL_LIST <<<"$TOOLS"
ACTIVE=()
for tool in "${TOOL_LIST[@]}"; do
  case "$tool" in
    jetty | origin | aws | version | put | tus | jetty-get | aws-get) ACTIVE+=("$tool") ;;
    rclone | rclone16)
      if ! command -v rclone >/dev/null; then
        log "installing rclone (Debian package)"
        apt-get install -y -qq rclone >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq rclone >/dev/null; } ||
          log "rclone could not be installed"
      fi
      command -v rclone >/dev/null && ACTIVE+=("$tool") || log "rclone is not installed: $tool skipped" ;;
    *) die "unknown tool $tool" ;;
  esac
done
if [[ " ${ACTIVE[*]} " == *" tus "* ]]; then
  NODE="$JETTY_TOOLS/node22/node_modules/.bin/node"
  if [ ! -d "$REPO_ROOT/bench/tus/node_modules/@tus/server" ] || [ "$REPO_ROOT/bench/tus/package-lock.json" -nt "$REPO_ROOT/bench/tus/node_modules/.package-lock.json" ]; then
    log "installing the tus peer (bench/tus: @tus/server, @tus/s3-store, tus-js-client)"
    (cd "$REPO_ROOT/bench/tus" && PATH="$(dirname "$NODE"):$PATH" npm ci --no-audit --no-fund --loglevel=error)
  fi
  # Not through in_ns: a backgrounded function is a subshell, and $! would not be the server.
  ip netns exec "${PREFIX}origin" env AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$S3_SECRET_ACCESS_KEY" \
    AWS_DEFAULT_REGION=garage "$NODE" "$REPO_ROOT/bench/tus/server.mjs" "$ORIGIN_IP" "$TUS_PORT" "$S3" jetty \
    > "$JETTY_STATE/tus.log" 2>&1 &
  TUS_PID=$!
  TUS_URL="http://$ORIGIN_IP:$TUS_PORT/files"
  for ((i = 0; i < 100; i++)); do
    in_ns origin curl -s -o /dev/null "$TUS_URL" && break
    kill -0 "$TUS_PID" 2>/dev/null || { cat "$JETTY_STATE/tus.log" >&2; die "the tus server exited"; }
    sleep 0.1
  done
fi
[ -s "$RESULTS" ] || printf 'stamp\tprofile\tcc\tsize_mib\ttool\trun\tseconds\n' > "$RESULTS"
# Runs go round-robin over the tools, so a slow spell of the machine hits all of them.
for ((run = 1; run <= RUNS; run++)); do
  for tool in "${ACTIVE[@]}"; do
    secs=$(run_tool "$tool" "$run")
    [ "$secs" = FAIL ] && log "run $run/$RUNS $tool: failed" || log "run $run/$RUNS $tool: $secs s"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$STAMP" "$PROFILE" "$CC" "$SIZE_MIB" "$tool" "$run" "$secs" >> "$RESULTS"
  done
done
rm -f "$FILE"

# --- the table ---
python3 - "$RESULTS" "$STAMP" "$SIZE_MIB" "$ACCESS_MBIT" "$PROFILE" "$CC" "$WORK" <<'PY'
import sys, statistics, platform, os, subprocess, json, glob
path, stamp, size_mib, access_mbit, profile, cc, work = sys.argv[1:]
size_mib, access_mbit = float(size_mib), float(access_mbit)
times, failed = {}, {}
for line in open(path).read().splitlines()[1:]:
    f = line.split("\t")
    if f[0] == stamp:
        times.setdefault(f[4], [])
        if f[6] == "FAIL":
            failed[f[4]] = failed.get(f[4], 0) + 1
        else:
            times[f[4]].append(float(f[6]))
names = {"jetty": "jetty upload (--route auto)", "origin": "jetty upload (origin path only)",
         "aws": "aws s3 cp (direct)", "rclone": "rclone copyto (direct)",
         "rclone16": "rclone copyto, 16 × 16M multipart (direct)",
         "version": "jetty upload, a new version (1 MiB changed; the store copies the rest)",
         "tus": "tus-js-client → @tus/server + s3-store (direct)", "put": "one signed PUT (direct)",
         "jetty-get": "jetty download (--route auto)", "aws-get": "aws s3 cp, download (direct)"}
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"\n{stamp} on {platform.node()} ({os.cpu_count()} vCPU, {cpu}, Linux {platform.release()})")
print(f"profile {profile}, --cc {cc}, {size_mib:g} MiB, access link {access_mbit:g} Mbit/s "
      f"(bound {size_mib * 1048576 * 8 / (access_mbit * 1e6):.2f} s, {access_mbit * 1e6 / 8 / 1048576:.2f} MiB/s)\n"
      if access_mbit else f"profile {profile}, --cc {cc}, {size_mib:g} MiB, access link unlimited\n")
# Uploads are compared with aws s3 cp's upload, downloads with its download (the profiles' links
# have the same rate both ways, so one access-link bound serves both).
for title, group, peer in (("Uploads", lambda t: not t.endswith("-get"), "aws"),
                           ("Downloads", lambda t: t.endswith("-get"), "aws-get")):
    rows = [t for t in times if group(t)]
    if not rows:
        continue
    base = statistics.median(times[peer]) if times.get(peer) else None
    print(f"{title}:\n")
    print("| tool | runs (s) | median s | MiB/s | ratio vs aws s3 cp | share of access-link bound | machine CPU-s per GiB |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for tool in rows:
        ts = times[tool]
        if not ts:
            print(f"| {names.get(tool, tool)} | {failed[tool]} failed | – | – | – | – | – |")
            continue
        med = statistics.median(ts)
        rate = size_mib / med
        ratio = f"{base / med:.2f}×" if base else "–"
        share = f"{rate / (access_mbit * 1e6 / 8 / 1048576) * 100:.0f} %" if access_mbit else "–"
        runs = ", ".join(f"{t:.1f}" for t in ts) + (f" ({failed[tool]} failed)" if tool in failed else "")
        # Busy CPU-seconds of the whole machine during each timed run (client, store, workers,
        # emulator), per GiB moved: where the cores, not the links, bound a run, this decides it.
        cpu_runs = []
        for f in glob.glob(os.path.join(work, f"{stamp}-{tool}-*.cpu")):
            try:
                cpu_runs.append(float(open(f).read()))
            except (OSError, ValueError):
                pass
        cpu_cell = f"{statistics.median(cpu_runs) / (size_mib / 1024):.1f}" if cpu_runs else "–"
        print(f"| {names.get(tool, tool)} | {runs} | {med:.2f} | {rate:.2f} | {ratio} | {share} | {cpu_cell} |")
    print()
# Where jetty's uploads spent their time: each phase's end, seconds from the start (the
# `timeline` of `jetty upload --json`), median over the runs.
phases = ("partsHashed", "sessionReady", "named", "routeChosen", "firstPartStored", "partsStored", "wholeHashed", "finalized")
for tool in ("jetty", "origin", "version"):
    lines = []
    for f in sorted(glob.glob(os.path.join(work, f"{stamp}-{tool}-*.json"))):
        try:
            lines.append(json.load(open(f)).get("timeline", {}))
        except (OSError, ValueError):
            pass
    got = [(p, statistics.median([t[p] for t in lines if p in t])) for p in phases if any(p in t for t in lines)]
    # In the order they ended (an upload named later hashes its parts after its session opens).
    got.sort(key=lambda pv: pv[1])
    if got:
        print(f"{names[tool]}, phases ended at (median s): " + " · ".join(f"{p} {v:.2f}" for p, v in got) + "\n")
PY
