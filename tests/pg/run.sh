#!/usr/bin/env bash
# run.sh - the suites on a real PostgreSQL (ctest's test_postgres): one
# throwaway cluster (cluster.sh), the backend-parametrised unit tests with
# PT_PG_URL, test_server.py and test_cli.py with PT_TEST_DB_URL, then
# test_scaleout.py and test_scaleout_work.py; the cluster is stopped by its
# PID whatever happens.
#
# Usage: run.sh BUILD_DIR SOURCE_DIR. Every step runs (one failing does not
# hide the next); exits 1 when any failed, naming them. No PostgreSQL
# binaries is a failure, not a skip: `make test` installs them.
set -uo pipefail

if [ $# -ne 2 ]; then
  echo "usage: run.sh BUILD_DIR SOURCE_DIR" >&2
  exit 2
fi
BUILD=$(cd "$1" && pwd) || exit 2
SRC=$(cd "$2" && pwd) || exit 2
CLUSTER="$SRC/tests/pg/cluster.sh"
# The unit tests that run on every backend (tu_store_urls).
UNIT_TESTS=(test_store test_tracker test_api test_sign test_redact test_rollups test_listings test_changes test_issues test_concurrency)
# Under ctest's TIMEOUT (1500 s), so that this script, not ctest's SIGKILL,
# ends the steps and stops the cluster.
BUDGET_S=1400
deadline=$((SECONDS + BUDGET_S))

fail() {
  echo "test_postgres: FAIL: $*" >&2
  exit 1
}

command -v psql >/dev/null ||
  fail "no psql (Debian's postgresql-client; scripts/install-deps.sh test installs it)"
dir=$(mktemp -d /tmp/pt-pg.XXXXXX) || fail "mktemp"
child="" # the running step's timeout process
trap 'bash "$CLUSTER" stop "$dir"' EXIT
# A signal ends the running step (timeout passes it on, and kills after
# 10 s), then the EXIT trap stops the cluster.
on_signal() {
  if [ -n "$child" ]; then
    kill -INT "$child" 2>/dev/null
    wait "$child"
  fi
  exit 130
}
trap on_signal INT TERM
url=$(bash "$CLUSTER" start "$dir") || fail "the PostgreSQL cluster did not start (above)"
echo "test_postgres: cluster $url in $dir (postmaster PID $(head -n 1 "$dir/data/postmaster.pid"))"

export PT_PG_URL=$url PT_TEST_DB_URL=$url PT_PG_CLUSTER_DIR=$dir
export PT_TMP=$BUILD/tmp/pg PT_VECTORS=$SRC/tests/vectors/chain-v1.json
mkdir -p "$PT_TMP"

failed=()
# step NAME COMMAND...: runs it within what is left of the budget. timeout
# leads the command's process group: on expiry the servers a test started
# get SIGINT too (they stop as on SIGTERM; Python runs its finally blocks).
# In the background, so that the shell's wait lets a signal in at once.
step() {
  local name=$1 left=$((deadline - SECONDS)) rc
  shift
  if [ $left -le 0 ]; then
    echo "=== $name: not run, the ${BUDGET_S} s budget is spent"
    failed+=("$name (not run)")
    return
  fi
  echo "=== $name"
  timeout -s INT -k 10 "$left" "$@" &
  child=$!
  wait "$child"
  rc=$?
  child=""
  if [ $rc -eq 124 ]; then
    echo "=== $name: stopped after the ${BUDGET_S} s budget"
  fi
  if [ $rc -ne 0 ]; then failed+=("$name (exit $rc)"); fi
}

for t in "${UNIT_TESTS[@]}"; do
  step "$t" "$BUILD/tests/$t"
done
step test_server.py python3 "$SRC/tests/integration/test_server.py" "$BUILD/pipetrackd" \
  "$PT_TMP/server"
step test_cli.py python3 "$SRC/tests/integration/test_cli.py" "$BUILD/pipetrack" \
  "$BUILD/pipetrackd" "$PT_TMP/cli"
step test_scaleout.py python3 "$SRC/tests/integration/test_scaleout.py" "$BUILD/pipetrackd" \
  "$BUILD/pipetrack"
step test_scaleout_work.py python3 "$SRC/tests/integration/test_scaleout_work.py" \
  "$BUILD/pipetrackd" "$BUILD/pipetrack"

steps=$((${#UNIT_TESTS[@]} + 4))
if [ ${#failed[@]} -gt 0 ]; then
  echo "test_postgres: ${#failed[@]} of $steps steps failed: ${failed[*]}"
  exit 1
fi
echo "test_postgres: all $steps steps passed"
