#!/usr/bin/env bash
# Runs the dashboard test in headless Chromium: installs playwright-core (npm,
# pinned by package-lock.json, no browser download) into BUILD/browser-tests,
# uses Debian's chromium (scripts/install-deps.sh test installs it).
# Usage: run.sh PIPETRACKD BUILD_DIR
set -euo pipefail
ptd=$1
build=$2
here=$(cd "$(dirname "$0")" && pwd)
work="$build/browser-tests"
mkdir -p "$work"
if ! cmp -s "$here/package-lock.json" "$work/package-lock.json" || [ ! -d "$work/node_modules/playwright-core" ]; then
  cp "$here/package.json" "$here/package-lock.json" "$work/"
  (cd "$work" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent </dev/null)
fi
cp "$here/dashboard.test.mjs" "$work/"
cd "$work"
exec node dashboard.test.mjs "$ptd" "$build/tmp/browser" "$build/screenshots"
