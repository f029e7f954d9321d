#!/usr/bin/env bash
# Installs the Debian packages pipetrack builds and tests with.
# Idempotent: asks apt only for what dpkg says is missing, so it is a no-op
# (and needs no network) on a machine that already has everything.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config
  libssl-dev libsqlite3-dev libjansson-dev libcmocka-dev
  libmicrohttpd-dev libcurl4-openssl-dev libpq-dev
  sqlite3 curl python3
)

# `install-deps.sh fuzz` adds clang and its libFuzzer runtime;
# `install-deps.sh coverage` gcovr and what the tests need;
# `install-deps.sh bench` adds what bench/http.sh drives the servers with;
# `install-deps.sh bench-pg` that and the PostgreSQL server bench/pg.sh runs;
# `install-deps.sh test` what the dashboard's browser test needs (Debian's
# chromium, and Node.js with npm when no node is on the PATH; the openssl
# tool, which the server test uses to make a signing key and check
# signatures as a client would; the PostgreSQL server and psql, which
# test_postgres runs the suites on: tests/pg/; adduser, which the pipetrack
# package depends on, so that test_deb's dpkg -i needs nothing from apt;
# lintian, which test_deb runs on the packages).
if [ "${1:-}" = "bench" ]; then
  PKGS+=(wrk nginx-light)
fi
if [ "${1:-}" = "bench-pg" ]; then
  PKGS+=(wrk nginx-light postgresql)
fi
if [ "${1:-}" = "fuzz" ]; then
  PKGS+=(clang libclang-rt-14-dev)
fi
if [ "${1:-}" = "coverage" ]; then
  PKGS+=(gcovr chromium openssl postgresql)
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then PKGS+=(nodejs npm); fi
fi
if [ "${1:-}" = "test" ]; then
  PKGS+=(chromium openssl postgresql adduser lintian)
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then PKGS+=(nodejs npm); fi
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq </dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
