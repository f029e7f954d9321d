#!/usr/bin/env bash
# Runs the in-process benchmarks (bench_track) and, when Node.js is present,
# the seed design's tracker in-process as the baseline, then prints the ratio.
# Bounded: every measurement has a fixed count. PT_BENCH_SCALE=0.1 for a quick run.
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
tmp="$here/$build/bench-tmp"
mkdir -p "$tmp"
out=$("$here/$build/bench/bench_track" "$tmp" | tee /dev/stderr)

# The seed design (a JavaScript rendering of the original design, not part of
# this repository) is the baseline when PIPETRACK_PEER_DIR names its directory.
peer_src="${PIPETRACK_PEER_DIR:-}"
if [ -z "$peer_src" ] || [ ! -d "$peer_src" ] || ! command -v node >/dev/null; then
  echo "bench: seed design baseline skipped (set PIPETRACK_PEER_DIR to its directory; needs Node.js)" >&2
fi
if command -v node >/dev/null && [ -n "$peer_src" ] && [ -d "$peer_src" ]; then
  peer="$here/$build/peer-seed"
  if [ ! -d "$peer/node_modules" ]; then
    rm -rf "$peer" && cp -r "$peer_src" "$peer" && chmod -R u+w "$peer"
    (cd "$peer" && npm ci --silent --no-audit --no-fund >/dev/null 2>&1) || {
      echo "bench: npm ci for the peer failed; skipping the seed baseline" >&2; exit 0; }
  fi
  peer_line=$(node "$here/bench/peer_inproc.mjs" "$peer" 20000)
  echo "$peer_line"
  peer_rate=$(echo "$peer_line" | sed -E 's/.*: ([0-9]+) events\/s.*/\1/')
  ours=$(echo "$out" | awk '/memory: 1 event\/call, 1 thread/ {print $(NF-1)}')
  if [ -n "$peer_rate" ] && [ -n "$ours" ]; then
    awk -v a="$ours" -v b="$peer_rate" 'BEGIN { printf "memory, 1 event/call: %.1fx the seed design in-process\n", a / b }'
  fi
fi
