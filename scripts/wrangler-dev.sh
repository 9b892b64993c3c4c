#!/usr/bin/env bash
# `wrangler dev` from the repo, as Workers developers expect (the design card's local dev):
#   scripts/wrangler-dev.sh                    the coordinator (wrangler.toml), local D1 and KV
#   scripts/wrangler-dev.sh --env sfo          an edge (workers/edge/wrangler.toml, [env.sfo])
# Extra arguments go to `wrangler dev` (e.g. --port 8795, --var S3_ENDPOINT:http://…).
# wrangler 4 needs Node >= 22.12: the npm package node@22 (installed by install-tools.sh into
# the tools cache) runs it; the build step (worker-build) gets its tool paths from here, and the
# secrets come from .dev.vars (generated per machine). The coordinator's local D1 is migrated
# first (WRANGLER_PERSIST, default $JETTY_STATE/wrangler, holds its state).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

"$REPO_ROOT/scripts/install-tools.sh"
ensure_dev_secrets
export WASM_BINDGEN_BIN="$JETTY_TOOLS/bin/wasm-bindgen"
export WASM_OPT_BIN="$REPO_ROOT/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$REPO_ROOT/node_modules/.bin/esbuild"
export PATH="$JETTY_TOOLS/node22/node_modules/.bin:$PATH"
node --version | grep -qE '^v(2[2-9]|[3-9][0-9])\.' || die "wrangler needs Node 22: $(node --version)"
PERSIST="${WRANGLER_PERSIST:-$JETTY_STATE/wrangler}"
mkdir -p "$PERSIST"

if [ "${1:-}" = "--env" ]; then
  region="${2:?usage: scripts/wrangler-dev.sh --env REGION}"
  shift 2
  cd "$REPO_ROOT/workers/edge"
  exec wrangler dev --env "$region" --persist-to "$PERSIST" "$@"
fi
CI=true wrangler d1 migrations apply jetty --local --persist-to "$PERSIST" >&2
exec wrangler dev --persist-to "$PERSIST" "$@"
