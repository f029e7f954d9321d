#!/usr/bin/env bash
# cluster.sh - a throwaway PostgreSQL cluster for the tests, in a directory
# the caller made (mktemp -d; made when missing): `start DIR` prints its URL,
# `restart DIR [DOWN_S]` stops it fast and starts it again (after DOWN_S
# seconds down), `stop DIR` stops it by its PID and removes DIR.
#
# Debian's server binaries (/usr/lib/postgresql/<version>/bin, the newest; or
# $PT_PG_BIN). initdb refuses root, so as root the server runs as the
# `postgres` system user. Trust authentication, listening on 127.0.0.1 only
# (a free port) and on a Unix socket in DIR. Every wait is bounded.
set -euo pipefail

WAIT_S=30 # pg_ctl's -t, and the wait for a killed server's processes

usage() {
  echo "usage: cluster.sh start DIR | restart DIR [DOWN_SECONDS] | stop DIR" >&2
  exit 2
}

[ $# -ge 2 ] || usage
cmd=$1
dir=${2%/}
if [ -z "$dir" ] || [ "$dir" = "/" ]; then usage; fi
data=$dir/data

die() {
  echo "cluster.sh: $*" >&2
  exit 1
}

bin_dir() {
  if [ -n "${PT_PG_BIN:-}" ]; then
    [ -x "$PT_PG_BIN/initdb" ] || die "PT_PG_BIN=$PT_PG_BIN has no initdb"
    echo "$PT_PG_BIN"
    return
  fi
  local d
  # the newest version with a server (a newer one may hold only psql)
  for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -rV); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
      echo "$d"
      return
    fi
  done
  die "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin" \
    "(Debian's postgresql; scripts/install-deps.sh test installs it)"
}

# Runs a server binary as the user that owns the cluster (postgres when root).
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# A port nothing listens on, below the kernel's ephemeral range: a port in
# that range, free while the server is down for a restart, could become the
# local end of one of the tests' many client connections.
free_port() {
  local low port i
  low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  [ "$low" -gt 12000 ] || low=32768
  for ((i = 0; i < 50; i++)); do
    port=$((10000 + RANDOM % (low - 10000)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  die "no free port found below $low"
}

pg_start() {
  as_owner "$BIN/pg_ctl" start -D "$data" -l "$dir/log" -w -t "$WAIT_S" -s
}

start() {
  mkdir -p "$dir" || die "cannot make $dir"
  [ ! -e "$data" ] || die "$data exists: a cluster is there already"
  touch "$dir/cluster" # marks DIR as ours: stop removes only such a directory
  if [ "$(id -u)" -eq 0 ]; then
    getent passwd postgres >/dev/null || die "running as root needs the postgres system user"
    chown postgres: "$dir"
  fi
  as_owner "$BIN/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C \
    >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    die "initdb failed"
  }
  # A free port can be taken by someone else before the server binds it:
  # a few tries, each with another port.
  local port tries=0
  while :; do
    port=$(free_port)
    cat >"$dir/settings.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
shared_buffers = 128MB
EOF
    cat "$dir/settings.conf" >>"$data/postgresql.conf" # a later line wins over an earlier one
    if pg_start; then break; fi
    tries=$((tries + 1))
    if [ $tries -ge 5 ] || ! grep -q "could not bind\|already in use" "$dir/log" 2>/dev/null; then
      tail -n 20 "$dir/log" >&2 || true
      die "the server did not start (log: $dir/log)"
    fi
  done
  local url="postgresql://postgres@127.0.0.1:$port/postgres"
  echo "$url" >"$dir/url"
  echo "$url"
}

# The postmaster's PID, from the first line of its pid file ("" when none).
postmaster_pid() {
  if [ -f "$data/postmaster.pid" ]; then head -n 1 "$data/postmaster.pid"; fi
}

# Is PID a live postgres process (not a zombie, not a PID taken since by
# another program)?
alive() {
  local st
  st=$(ps -o stat=,comm= -p "$1" 2>/dev/null) || return 1
  case $st in
    Z*) return 1 ;;
    *postgres) return 0 ;;
    *) return 1 ;;
  esac
}

# wait_gone SECONDS PID...: waits for those processes to end; fails when
# some are left.
wait_gone() {
  local i p left n=$1
  shift
  for ((i = 0; i < n * 10; i++)); do
    left=0
    for p in "$@"; do alive "$p" && left=1; done
    [ $left -eq 1 ] || return 0
    sleep 0.1
  done
  return 1
}

restart() {
  local down=${1:-0}
  [ -f "$data/PG_VERSION" ] || die "$dir holds no cluster"
  as_owner "$BIN/pg_ctl" stop -D "$data" -m fast -w -t "$WAIT_S" -s || die "pg_ctl stop failed"
  sleep "$down"
  pg_start || {
    tail -n 20 "$dir/log" >&2 || true
    die "the server did not start again (log: $dir/log)"
  }
}

stop() {
  [ -d "$dir" ] || return 0
  rmdir "$dir" 2>/dev/null && return 0 # empty: start never ran
  [ -f "$dir/cluster" ] || die "$dir was not made by cluster.sh start: left alone"
  local pid pids p
  pid=$(postmaster_pid)
  if alive "$pid"; then
    # the server's processes each lead a process group of their own: they
    # are taken by PID, the postmaster's children as they are now
    pids="$pid $(pgrep -P "$pid" | tr '\n' ' ')"
    [ -z "$BIN" ] || as_owner "$BIN/pg_ctl" stop -D "$data" -m fast -w -t "$WAIT_S" -s || true
    # shellcheck disable=SC2086
    if ! wait_gone 5 $pids; then
      echo "cluster.sh: PIDs $pids still there after pg_ctl stop: killing them" >&2
      for p in $pids; do
        if alive "$p"; then kill -KILL "$p" 2>/dev/null || true; fi
      done
      # shellcheck disable=SC2086
      wait_gone "$WAIT_S" $pids || die "PIDs $pids survived SIGKILL; $dir left in place"
    fi
  fi
  rm -rf "$dir"
}

case $cmd in
  start)
    BIN=$(bin_dir)
    start
    ;;
  restart)
    BIN=$(bin_dir)
    restart "${3:-0}"
    ;;
  stop)
    BIN=$(bin_dir 2>/dev/null) || BIN="" # without binaries: stopped by PID alone
    stop
    ;;
  *) usage ;;
esac
