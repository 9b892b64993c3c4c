#!/usr/bin/env bash
# Builds both workers with worker-build (local wasm-bindgen, wasm-opt and esbuild, no
# downloads) and the native `jetty` CLI. Skips a worker whose inputs have not changed.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export WASM_BINDGEN_BIN="$JETTY_TOOLS/bin/wasm-bindgen"
export WASM_OPT_BIN="$REPO_ROOT/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$REPO_ROOT/node_modules/.bin/esbuild"

inputs_hash() { # the sources a worker's wasm depends on (the coordinator embeds the browser SDK)
  (cd "$REPO_ROOT" && cat Cargo.lock Cargo.toml && git ls-files -co --exclude-standard shared core workers/runtime web/sdk/src "$1" |
    grep -v '/build/' | sort | xargs cat) | sha256sum | cut -d' ' -f1
}

for worker in coordinator edge; do
  dir="$REPO_ROOT/workers/$worker"
  stamp="$dir/build/.inputs"
  want="$(inputs_hash "workers/$worker")"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$dir/build/index.js" ]; then
    log "worker $worker is up to date"
    continue
  fi
  log "building worker $worker (worker-build --release)"
  (cd "$dir" && worker-build --release)
  echo "$want" > "$stamp"
done

log "building the jetty CLI (release)"
(cd "$REPO_ROOT" && cargo build --release -q -p jetty-client)
