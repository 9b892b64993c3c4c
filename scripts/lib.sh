# Shared helpers for JettySpeed scripts. Source it; do not run it.
# Tools are installed once into $JETTY_TOOLS (outside the repo, so fresh clones on the same
# machine reuse them) and skipped when already present at the pinned version.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export JETTY_TOOLS="${JETTY_TOOLS:-$HOME/.cache/jettyspeed/tools}"
export PATH="$JETTY_TOOLS/bin:$REPO_ROOT/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export WRANGLER_SEND_METRICS=false
export JETTY_STATE="${JETTY_STATE:-$REPO_ROOT/.jetty}"

GARAGE_VERSION="2.5.0"
WORKER_BUILD_VERSION="0.8.7"

log() { printf '\033[1;34m[jetty]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[jetty] error:\033[0m %s\n' "$*" >&2; exit 1; }

# The wasm-bindgen CLI must match the wasm-bindgen crate locked in Cargo.lock exactly.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$REPO_ROOT/Cargo.lock"
}
