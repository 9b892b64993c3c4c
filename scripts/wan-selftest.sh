#!/usr/bin/env bash
# WAN emulator self-test (root). Brings up `lan` and measures client → origin TCP throughput
# (pass: ≥ 1 Gbit/s), then each impaired profile named (default: mobile) and prints measured
# against configured: RTT (ping), round-trip loss (500 pings), one-way loss (UDP) and the
# last-mile rate (UDP offered at twice the rate), plus a TCP transfer client → origin.
#   sudo scripts/wan-selftest.sh [PROFILE…]        # e.g. regional mobile intercontinental
# Installs iperf3 and ping when missing. Its namespaces are prefixed `wst-`; they are removed
# at exit, whatever happens. Exit code 1 when lan stays under 1 Gbit/s or a measurement is far
# off its configured value.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
[ "$(id -u)" = 0 ] || die "scripts/wan-selftest.sh creates network namespaces: run it as root"
PROFILES=("$@")
[ ${#PROFILES[@]} -gt 0 ] || PROFILES=(mobile)
PREFIX=wst-
SECS=${WAN_SELFTEST_SECS:-8}

if ! command -v iperf3 >/dev/null || ! command -v ping >/dev/null; then
  log "installing iperf3 and ping"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iperf3 iputils-ping >/dev/null
fi
if [ -n "${JETTY_WAN_BIN:-}" ]; then
  BIN=$JETTY_WAN_BIN
else
  log "building jetty-wan (release)"
  nice cargo build --release -q -p jetty-wan
  BIN="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/jetty-wan"
fi

WORK=$(mktemp -d)
WAN_PID=""
FAILS=0
stop_wan() {
  if [ -n "$WAN_PID" ]; then
    kill -TERM "$WAN_PID" 2>/dev/null || true
    wait "$WAN_PID" 2>/dev/null || true
    WAN_PID=""
  fi
}
cleanup() {
  for ns in client edge origin; do
    ip netns pids "$PREFIX$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
  done
  stop_wan
  for p in lan "${PROFILES[@]}"; do "$BIN" down --profile "$p" --prefix "$PREFIX" >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# up PROFILE: start the emulator in the background and wait until it forwards.
up() {
  rm -f "$WORK/ready"
  "$BIN" up --profile "$1" --prefix "$PREFIX" --ready-file "$WORK/ready" >"$WORK/wan-$1.log" 2>&1 &
  WAN_PID=$!
  for _ in $(seq 100); do
    [ -f "$WORK/ready" ] && return 0
    kill -0 "$WAN_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$WORK/wan-$1.log" >&2
  die "jetty-wan up --profile $1 did not start"
}
in_ns() { local ns=$1; shift; ip netns exec "$PREFIX$ns" "$@"; }

# iperf3 FROM TO_NODE TO_ADDR ARGS…: one test, JSON on stdout.
iperf() {
  local from=$1 to=$2 addr=$3; shift 3
  in_ns "$to" iperf3 -s -1 -B "$addr" >/dev/null 2>&1 &
  local server=$!
  sleep 0.3
  in_ns "$from" iperf3 -c "$addr" -J "$@" || true
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
# ping_stats FROM ADDR COUNT INTERVAL → "loss_percent avg_ms"
ping_stats() {
  in_ns "$1" ping -q -c "$3" -i "$4" -W 2 "$2" | awk '
    /packet loss/ { for (i = 1; i <= NF; i++) if ($i ~ /%$/) { sub("%", "", $i); loss = $i } }
    /^rtt/ { split($4, a, "/"); avg = a[2] }
    END { printf "%s %s\n", loss, (avg == "" ? "nan" : avg) }'
}
# check NAME MEASURED CONFIGURED TOLERANCE(absolute): prints a row, counts failures.
check() {
  local verdict
  verdict=$(python3 -c "print('ok' if abs($2 - $3) <= $4 else 'FAR OFF')")
  [ "$verdict" = ok ] || FAILS=$((FAILS + 1))
  printf '  %-44s %12.3f %12.3f   %s\n' "$1" "$2" "$3" "$verdict"
}
header() { printf '  %-44s %12s %12s\n' "$1" measured configured; }

log "lan: unimpaired TCP throughput client → origin (${SECS} s, one stream)"
up lan
LAN_BPS=$(iperf client origin 10.77.3.1 -t "$SECS" | json "d['end']['sum_received']['bits_per_second']")
read -r _ LAN_RTT < <(ping_stats client 10.77.3.1 50 0.02)
LAN_REV=$(iperf client origin 10.77.3.1 -t "$SECS" -R | json "d['end']['sum_received']['bits_per_second']")
stop_wan
printf '  client → origin TCP  %8.0f Mbit/s\n  origin → client TCP  %8.0f Mbit/s\n  RTT                  %8.3f ms\n' \
  "$(python3 -c "print($LAN_BPS / 1e6)")" "$(python3 -c "print($LAN_REV / 1e6)")" "$LAN_RTT"
if python3 -c "import sys; sys.exit(0 if $LAN_BPS >= 1e9 else 1)"; then
  log "lan: ≥ 1 Gbit/s: ok"
else
  log "lan: under 1 Gbit/s"
  FAILS=$((FAILS + 1))
fi

for PROFILE in "${PROFILES[@]}"; do
  eval "$("$BIN" show "$PROFILE" --env)"
  log "$PROFILE: RTT, loss and rate, measured against configured"
  up "$PROFILE"
  # Configured values from the profile (client–edge is the last mile, edge–origin the backbone).
  RTT_CE=$(python3 -c "print($WAN_client_edge_delay_ms + $WAN_edge_client_delay_ms)")
  RTT_CO=$(python3 -c "print($RTT_CE + $WAN_edge_origin_delay_ms + $WAN_origin_edge_delay_ms)")
  LOSS_UP=$WAN_client_edge_loss
  LOSS_RT=$(python3 -c "print(100 * (1 - (1 - $WAN_client_edge_loss) * (1 - $WAN_edge_client_loss)))")
  LOSS_RT_CO=$(python3 -c "print(100 * (1 - (1 - $WAN_client_edge_loss) * (1 - $WAN_edge_client_loss) * (1 - $WAN_edge_origin_loss) * (1 - $WAN_origin_edge_loss)))")
  RATE=$WAN_client_edge_rate_mbit

  read -r _ M_RTT_CE < <(ping_stats client 10.77.2.1 50 0.05)
  read -r _ M_RTT_CO < <(ping_stats client 10.77.3.1 50 0.05)
  read -r M_LOSS_RT _ < <(ping_stats client 10.77.2.1 500 0.01)
  read -r M_LOSS_RT_CO _ < <(ping_stats client 10.77.3.1 500 0.01)
  # One-way loss: 10 Mbit/s of 1200-byte datagrams client → edge, well under any rate limit.
  UDP=$(iperf client edge 10.77.2.1 -u -b 10M -l 1200 -t "$SECS" | json "d['end']['sum_received']['lost_percent']")
  header "$PROFILE"
  check "RTT client ↔ edge (ms, ping -c 50)" "$M_RTT_CE" "$RTT_CE" "$(python3 -c "print(0.1 * $RTT_CE + 1)")"
  check "RTT client ↔ origin (ms, ping -c 50)" "$M_RTT_CO" "$RTT_CO" "$(python3 -c "print(0.1 * $RTT_CO + 1)")"
  # Loss tolerances: ±4 standard deviations of a binomial, doubled for bursty loss, + 0.2 %.
  tol() { python3 -c "import math; p=$1/100; print(100*(8*math.sqrt(p*(1-p)/$2)) + 0.2)"; }
  check "round-trip loss client ↔ edge (%, 500 pings)" "$M_LOSS_RT" "$LOSS_RT" "$(tol "$LOSS_RT" 500)"
  check "round-trip loss client ↔ origin (%, 500 pings)" "$M_LOSS_RT_CO" "$LOSS_RT_CO" "$(tol "$LOSS_RT_CO" 500)"
  UDP_N=$(python3 -c "print(int(10e6 / 8 / 1228 * $SECS))")
  check "one-way loss client → edge (%, UDP ${UDP_N} pkts)" "$UDP" "$(python3 -c "print(100 * $LOSS_UP)")" \
    "$(tol "$(python3 -c "print(100 * $LOSS_UP)")" "$UDP_N")"
  if [ "$RATE" != 0 ] && python3 -c "import sys; sys.exit(0 if $RATE <= 400 else 1)"; then
    # Twice the rate offered: the receiver sees the rate (less loss) of 1228-byte IP packets
    # carrying 1200 bytes of payload each.
    OFFER=$(python3 -c "print(int(2 * $RATE))")
    UDP_BPS=$(iperf client edge 10.77.2.1 -u -b "${OFFER}M" -l 1200 -t "$SECS" | json "d['end']['sum_received']['bits_per_second']")
    EXPECT=$(python3 -c "print($RATE * 1200 / 1228 * (1 - $LOSS_UP))")
    check "UDP goodput client → edge at ${OFFER} Mbit/s offered" "$(python3 -c "print($UDP_BPS / 1e6)")" "$EXPECT" \
      "$(python3 -c "print(0.05 * $EXPECT)")"
  elif [ "$RATE" != 0 ]; then
    # iperf3 cannot offer twice this rate in small UDP datagrams on a 2-core machine.
    printf '  %-44s %12s %12.1f\n' "UDP goodput client → edge (Mbit/s)" skipped "$RATE"
  fi
  TCP=$(iperf client origin 10.77.3.1 -t "$SECS" | json "d['end']['sum_received']['bits_per_second']")
  printf '  %-44s %12.1f %12s\n' "TCP client → origin (Mbit/s, one stream)" "$(python3 -c "print($TCP / 1e6)")" \
    "≤ $( [ "$RATE" != 0 ] && echo "$RATE" || echo "-")"
  stop_wan
  sed -n '/per link direction/,$p' "$WORK/wan-$PROFILE.log"
done

LEFT=$(ip netns list | grep -c "^$PREFIX" || true)
[ "$LEFT" = 0 ] || { log "namespaces left behind: $LEFT"; FAILS=$((FAILS + 1)); }
if [ "$FAILS" = 0 ]; then
  log "wan self-test passed"
else
  die "wan self-test: $FAILS check(s) failed"
fi
