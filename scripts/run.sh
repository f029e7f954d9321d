#!/usr/bin/env bash
# `make run`: starts pipetrackd on 127.0.0.1:8080 with the embedded SQLite
# store (./pipetrack.db) and prints the URL. Ctrl-C (SIGINT) or SIGTERM stops
# it cleanly. Override with the usual options, e.g.
#   PIPETRACK_LISTEN=0.0.0.0:9000 PIPETRACK_DB=memory: make run
set -euo pipefail
build=${1:-build}
exec "$build/pipetrackd" --listen "${PIPETRACK_LISTEN:-127.0.0.1:8080}" \
  --db "${PIPETRACK_DB:-sqlite:./pipetrack.db}"
