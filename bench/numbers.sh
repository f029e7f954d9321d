#!/usr/bin/env bash
# Number spelling: speed beside baselines (bench_numbers), then the campaign
# of 10 million random doubles against independent oracles (not in
# `make test`: ~1 minute a million with Node). PT_NUMBERS=N for another count.
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/$build/bench/bench_numbers"
python3 "$here/bench/numbers_campaign.py" "$here/$build/tests/ptnum" "${PT_NUMBERS:-10000000}" "${PT_SEED:-1}"
