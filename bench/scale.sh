#!/usr/bin/env bash
# Reads at 10,000 sessions against N (PT_SCALE_SESSIONS, default 1,000,000):
# bench_scale builds the two SQLite stores once (a few minutes for a million
# sessions) in $BUILD/bench-scale and reuses them; delete that folder to
# build afresh. PT_SCALE_RUNS: timed calls a read (median; default 7).
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
dir="$here/$build/bench-scale"
mkdir -p "$dir"
echo "== bench-scale $(date -u '+%Y-%m-%d %H:%M UTC'), stores in $dir"
"$here/$build/bench/bench_scale" "$dir"
