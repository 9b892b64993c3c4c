#!/usr/bin/env bash
# WAN emulator (bench/wan): network namespaces client — edge — origin joined through TUN
# devices, with per-link delay, jitter, loss and rate limits.
#   scripts/wan.sh list                      # built-in profiles
#   scripts/wan.sh show mobile               # what a profile sets up
#   scripts/wan.sh up --profile mobile       # as root; forwards until Ctrl-C / SIGTERM, then
#                                            # removes the namespaces (--cc cubic, --prefix P)
#   scripts/wan.sh down --profile mobile     # removes namespaces a killed `up` left behind
# Inside: `ip netns exec origin CMD` listens on 10.77.3.1, `ip netns exec client CMD` reaches it.
# Builds target/release/jetty-wan when needed; JETTY_WAN_BIN=PATH uses a given binary.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

wan_bin() {
  if [ -n "${JETTY_WAN_BIN:-}" ]; then
    echo "$JETTY_WAN_BIN"
    return
  fi
  nice cargo build --release -q -p jetty-wan >&2
  echo "${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/jetty-wan"
}

case "${1:-}" in
  up | down) [ "$(id -u)" = 0 ] || die "scripts/wan.sh $1 creates or removes network namespaces: run it as root" ;;
  "") die "usage: scripts/wan.sh up|down|show|list [options] (scripts/wan.sh --help)" ;;
esac
BIN="$(wan_bin)"
exec "$BIN" "$@"
