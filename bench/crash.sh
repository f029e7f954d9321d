#!/usr/bin/env bash
# The crash campaign: kill -9 of pipetrackd under mixed load (single tracks,
# batches, auto-snapshots, redactions, webhooks), KILLS times (default 20)
# on one store; after each restart every acknowledged change must be there
# (tests/integration/crash.py; make test runs 3 kills). PT_CRASH_LOAD_S:
# seconds of load before each kill (default 1.5, plus up to 1).
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
tmp="$here/$build/bench-crash"
mkdir -p "$tmp"
echo "== crash campaign $(date -u '+%Y-%m-%d %H:%M UTC'): ${KILLS:-20} kills, logs in $tmp"
python3 "$here/tests/integration/crash.py" "$here/$build/pipetrackd" "$tmp" "${KILLS:-20}"
