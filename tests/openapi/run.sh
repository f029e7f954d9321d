#!/usr/bin/env bash
# Lints docs/openapi.yaml with @redocly/cli (npm, pinned by package-lock.json)
# installed into BUILD/openapi-lint; no errors and no warnings allowed.
# Exit 77 (skipped) when Node is too old for it or npm cannot reach the
# registry and nothing is installed yet.
# Usage: run.sh BUILD_DIR
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
spec="$here/../../docs/openapi.yaml"
work="$build/openapi-lint"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "skipped: no node/npm (scripts/install-deps.sh test installs them)"
  exit 77
fi
major=$(node -p 'process.versions.node.split(".")[0]')
minor=$(node -p 'process.versions.node.split(".")[1]')
if [ "$major" -lt 20 ] || { [ "$major" -eq 20 ] && [ "$minor" -lt 19 ]; } || [ "$major" -eq 21 ]; then
  echo "skipped: @redocly/cli needs Node 20.19+ or 22.12+, this is $(node --version)"
  exit 77
fi
mkdir -p "$work"
if ! cmp -s "$here/package-lock.json" "$work/package-lock.json" || [ ! -x "$work/node_modules/.bin/redocly" ]; then
  cp "$here/package.json" "$here/package-lock.json" "$work/"
  if ! (cd "$work" && npm ci --no-audit --no-fund --silent </dev/null); then
    rm -f "$work/package-lock.json"
    echo "skipped: npm could not install @redocly/cli (no registry?)"
    exit 77
  fi
fi
cp "$here/redocly.yaml" "$work/"
cd "$work"
out=$(REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true ./node_modules/.bin/redocly lint \
  --config redocly.yaml --format=stylish "$spec" 2>&1) || { echo "$out"; exit 1; }
echo "$out" | grep -E "valid|warning|error" || true
if grep -qE "[0-9]+ warnings?|  warning  " <<<"$out"; then
  echo "FAIL: warnings above"
  exit 1
fi
