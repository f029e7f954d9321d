#!/usr/bin/env bash
# Runs the @pipetrack/client tests (node's test runner) against a real
# pipetrackd: installs the pinned devDependencies (package-lock.json) into
# BUILD/js-client with `npm ci` only when the lockfile changed, copies the
# package's sources and tests beside them (the source tree gets no
# node_modules), and runs every test file there. Exit 77 (skipped) when npm
# cannot install and nothing is installed yet.
# Usage: run.sh PIPETRACKD BUILD_DIR [TEST_FILE...]
set -euo pipefail
ptd=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
build=$(mkdir -p "$2" && cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work="$build/js-client"
mkdir -p "$work"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "SKIP: node and npm are needed (scripts/install-deps.sh test installs them)"
  exit 77
fi
if ! cmp -s "$here/package-lock.json" "$work/package-lock.json" || [ ! -d "$work/node_modules/swr" ]; then
  rm -f "$work/package-lock.json"
  cp "$here/package.json" "$work/package.json"
  cp "$here/package-lock.json" "$work/package-lock.json.new"
  mv "$work/package-lock.json.new" "$work/package-lock.json"
  if ! (cd "$work" && npm ci --no-audit --no-fund --silent </dev/null); then
    rm -f "$work/package-lock.json"
    echo "SKIP: npm ci could not install the pinned devDependencies (is the npm registry reachable?); nothing was installed before"
    exit 77
  fi
fi
# the package itself, fresh each run (package.json too: exports, for the typed example)
rm -rf "$work/src" "$work/test"
cp -R "$here/src" "$here/test" "$work/"
cp "$here/package.json" "$here/tsconfig.json" "$work/"
mkdir -p "$build/tmp/js"
cd "$work"
export PT_PIPETRACKD="$ptd" PT_REPO="$repo" PT_TMP="$build/tmp/js"
# the test files named after BUILD_DIR, or all of them
if [ $# -gt 2 ]; then files=("${@:3}"); else files=(test/*.test.mjs); fi
exec node --test "${files[@]}"
