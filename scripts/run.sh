#!/usr/bin/env bash
# `make run`: the server (pipetrackd) is not built yet, so this runs the
# library example against the default embedded SQLite store and shows what a
# tracked session looks like. It will start pipetrackd once that exists.
set -euo pipefail
build=${1:-build}
db=${PIPETRACK_DB:-sqlite:./pipetrack.db}
echo "pipetrack: pipetrackd (the HTTP server and dashboard) is not built yet;" >&2
echo "pipetrack: running the library example against $db instead." >&2
exec "$build/example_checkout" "$db"
