#!/usr/bin/env bash
# How /api/jetty/stats scales with the database: the coordinator's analytics queries on SQLite
# (the engine under D1) seeded with many sessions, against the same queries without migration
# 0008's indexes, measured in the same run (medians and ratios).
#   scripts/bench-stats.sh [SESSIONS] [ACCOUNTS] [RUNS]     defaults: 100000 1000 15
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
cargo run -q --release -p jetty-fleet-tests --example stats_scale -- "$@"
