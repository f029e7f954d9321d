#!/usr/bin/env bash
# bench/pg.sh - the PostgreSQL benchmarks (make bench-pg), on a throwaway
# cluster (tests/pg/cluster.sh) stopped by its PID whatever happens:
#   a. in-process: pt_track_batch (100 events a call, 1 and 4 threads)
#      against raw libpq writing the same rows with the same durability
#      (build/bench/bench_pg; it makes a database per measurement);
#   b. POST track over HTTP with wrk (bench/http/track.lua, -t1 -cCONNS, DUR
#      seconds a run, runs alternated, medians of RUNS): one pipetrackd on
#      SQLite, one on PostgreSQL, three on one PostgreSQL database behind
#      nginx (docs/examples/nginx.conf with its placeholders filled in);
#   c. cross-server stream latency: three servers on one database, a status
#      stream on one, STREAM_EVENTS events tracked one at a time through
#      another (bench/pg_stream_latency.py).
#
#   bench/pg.sh [BUILD_DIR]
#   DUR=5 RUNS=3 CONNS=64 STREAM_EVENTS=1000 PT_BENCH_SCALE=1 ONLY=a|b|c bench/pg.sh
#
# Every server listens on 127.0.0.1 (port 0: the kernel picks a free one)
# and is stopped by its PID; every load is bounded in count and time.
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
DUR=${DUR:-5}
RUNS=${RUNS:-3}
CONNS=${CONNS:-64}
STREAM_EVENTS=${STREAM_EVENTS:-1000}
ONLY=${ONLY:-abc}
export RUNS
tmp="$here/$build/bench-pg"
rm -rf "$tmp" && mkdir -p "$tmp"
"$here/scripts/install-deps.sh" bench-pg
command -v psql >/dev/null || {
  echo "bench-pg: no psql (Debian's postgresql-client)" >&2
  exit 1
}

pids=()
cluster=""
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    if kill -0 "$p" 2>/dev/null; then wait "$p" 2>/dev/null || true; fi
  done
  if [ -n "$cluster" ]; then bash "$here/tests/pg/cluster.sh" stop "$cluster" || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cluster=$(mktemp -d /tmp/pt-bench-pg.XXXXXX)
base=$(bash "$here/tests/pg/cluster.sh" start "$cluster")
echo "== PostgreSQL $(psql "$base" -XAtc 'SHOW server_version') at $base" \
  "(synchronous_commit $(psql "$base" -XAtc 'SHOW synchronous_commit'))" >&2

# newdb NAME: an empty database NAME (dropped first if there); its URL.
newdb() {
  PGOPTIONS="-c client_min_messages=warning" psql "$base" -Xq -v ON_ERROR_STOP=1 \
    -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >&2
  echo "${base%/*}/$1"
}

# seq_scans DB_URL: the tables of that database read whole more than a few
# times since it was made ("sessions 3924 scans 61742704 rows, ...").
seq_scans() {
  local i
  # a backend sends its statistics as it exits: wait (bounded) for them all
  for i in $(seq 100); do
    [ "$(psql "$1" -XAtc "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
      AND pid <> pg_backend_pid()")" = 0 ] && break
    sleep 0.05
  done
  psql "$1" -XAt -F ' ' -c "SELECT relname, seq_scan, seq_tup_read FROM pg_stat_user_tables
    WHERE seq_scan > 10 ORDER BY relname" | awk '{ printf "%s%s %s scans %s rows", (NR > 1 ? ", " : ""), $1, $2, $3 }'
}

# start_ptd NAME DB [ARGS...]: a pipetrackd on a free port; sets $port and
# $pid, and adds the PID to pids.
start_ptd() {
  local name=$1 db=$2 i
  shift 2
  "$here/$build/pipetrackd" --listen 127.0.0.1:0 --db "$db" --quiet "$@" \
    >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pid=$!
  pids+=("$pid")
  for i in $(seq 200); do
    port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$tmp/$name.out" 2>/dev/null || true)
    [ -n "$port" ] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "bench-pg: pipetrackd $name did not start: $(tail -n 3 "$tmp/$name.err")" >&2
  exit 1
}

stop_pid() {
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 did not open" >&2; exit 1; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

# cpu_of PID...: "PID TICKS" (user + system clock ticks so far) of each live one.
cpu_of() {
  local p
  for p in "$@"; do
    # the fields after the command name, which may hold spaces: utime, stime
    [ -r "/proc/$p/stat" ] && echo "$p $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')"
  done
  return 0
}

# wrk_once NAME URL DURATION SNAP PIDS: one wrk run of track.lua (SNAP:
# auto_snapshot true or false); prints "rate p99_ms cpu_us" where cpu_us is
# the CPU time the processes PIDS (a space-separated list, read again at the
# end: processes started during the run count from 0) spent per request.
wrk_once() {
  local name=$1 url=$2 d=$3 snap=$4 pids_fn=$5 out rate p99 errs n before after cpu
  # shellcheck disable=SC2046
  before=$(cpu_of $($pids_fn))
  out=$(AUTO_SNAPSHOT=$snap wrk -t1 -c"$CONNS" -d"${d}s" --latency -s "$here/bench/http/track.lua" "$url" 2>&1)
  # shellcheck disable=SC2046
  after=$(cpu_of $($pids_fn))
  echo "$out" >>"$tmp/wrk-$name.txt"
  rate=$(echo "$out" | awk '/^Requests\/sec:/ {print $2}')
  n=$(echo "$out" | awk '/requests in/ {print $1}')
  # wrk writes 850.00us, 12.34ms or 1.20s
  p99=$(echo "$out" | awk '$1 == "99%" { v = $2; m = 1;
    if (v ~ /us$/) m = 0.001; else if (v ~ /ms$/) m = 1; else if (v ~ /s$/) m = 1000;
    sub(/[a-z]+$/, "", v); printf "%.2f", v * m }')
  cpu=$({ echo "$before" | awk '{print "b", $0}'; echo "$after" | awk '{print "a", $0}'; } |
    awk -v n="$n" -v hz="$(getconf CLK_TCK)" '$1 == "b" { b[$2] = $3 } $1 == "a" { t += $3 - b[$2] }
      END { printf "%.0f", (n > 0 ? t / hz * 1e6 / n : 0) }')
  errs=$(echo "$out" | grep -E "Non-2xx|Socket errors" | tr '\n' ' ' || true)
  printf '  %-40s %10.0f req/s  p99 %8s ms  %5s us CPU/request  %s\n' "$name" "$rate" "$p99" "$cpu" "$errs" >&2
  echo "$rate $p99 $cpu"
}

# start_nginx DIR PORT PORT PORT: nginx with docs/examples/nginx.conf (its
# placeholders filled in) in front of the three servers, in the foreground
# (stopped by PID); sets $ng_port and $ng_pid.
start_nginx() {
  local dir=$1
  mkdir -p "$dir"
  ng_port=$(free_port)
  sed -e "s/__LISTEN__/127.0.0.1:$ng_port/" -e "s/__PIPETRACKD_1__/127.0.0.1:$2/" \
    -e "s/__PIPETRACKD_2__/127.0.0.1:$3/" -e "s/__PIPETRACKD_3__/127.0.0.1:$4/" \
    "$here/docs/examples/nginx.conf" >"$dir/nginx.conf"
  if grep -n "__[A-Z0-9_]*__" "$dir/nginx.conf" >&2; then
    echo "bench-pg: placeholders left in $dir/nginx.conf" >&2
    exit 1
  fi
  nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" -g "daemon off;" &
  ng_pid=$!
  pids+=("$ng_pid")
  wait_port "$ng_port"
}

# commits_of PORT...: events per commit over the servers' lifetimes (/metrics).
commits_of() {
  local p
  for p in "$@"; do curl -s "http://127.0.0.1:$p/metrics"; done |
    awk '/^pipetrack_store_commits_total/ {c += $2} /^pipetrack_store_events_committed_total/ {e += $2}
      END { if (c > 0) printf "%.1f events/commit", e / c }'
}

summary=()

# ---- a. in-process ----------------------------------------------------------
if [[ $ONLY == *a* ]]; then
  echo "== a. in-process batched tracking on PostgreSQL against raw libpq (runs alternated, medians of $RUNS)" >&2
  "$here/$build/bench/bench_pg" "$base" | tee "$tmp/inproc.txt" >&2
  while IFS= read -r l; do summary+=("$l"); done < <(grep -E "^pg in-process|^  (against|with)" "$tmp/inproc.txt")
fi

# ---- b. POST track over HTTP ---------------------------------------------------
if [[ $ONLY == *b* ]]; then
  echo "== b. POST track over HTTP: wrk -t1 -c$CONNS, ${DUR}s a run, runs alternated, medians of $RUNS" >&2
  postmaster=$(head -n 1 "$cluster/data/postmaster.pid")
  start_ptd sqlite "sqlite:$tmp/http-sqlite.db"
  p_sqlite=$port pid_sqlite=$pid
  start_ptd pg1 "$(newdb ptbench_http_pg1)"
  p_pg1=$port pid_pg1=$pid
  db3=$(newdb ptbench_http_pg3)
  p_pg3=() pid_pg3=()
  for i in 1 2 3; do
    start_ptd "pg3-$i" "$db3"
    p_pg3+=("$port") pid_pg3+=("$pid")
  done
  # the same without auto-snapshots, each on a store of its own
  start_ptd sqlite-nosnap "sqlite:$tmp/http-sqlite-nosnap.db"
  p_sqlite_ns=$port pid_sqlite_ns=$pid
  start_ptd pg1-nosnap "$(newdb ptbench_http_pg1_nosnap)"
  p_pg1_ns=$port pid_pg1_ns=$pid
  db3ns=$(newdb ptbench_http_pg3_nosnap)
  p_pg3_ns=() pid_pg3_ns=()
  for i in 1 2 3; do
    start_ptd "pg3-nosnap-$i" "$db3ns"
    p_pg3_ns+=("$port") pid_pg3_ns+=("$pid")
  done
  start_nginx "$tmp/nginx" "${p_pg3[@]}"
  nport=$ng_port
  start_nginx "$tmp/nginx-nosnap" "${p_pg3_ns[@]}"
  nport_ns=$ng_port ng_pid_ns=$ng_pid

  # the processes whose CPU time a configuration's requests cost: its
  # servers, and for PostgreSQL every process of the cluster, and nginx
  # with its workers
  procs_sqlite() { echo "$pid_sqlite"; }
  procs_pg1() { echo "$pid_pg1 $postmaster $(pgrep -P "$postmaster" | tr '\n' ' ')"; }
  procs_pg3() { echo "${pid_pg3[*]} $postmaster $(pgrep -P "$postmaster" | tr '\n' ' ') $ng_pid $(pgrep -P "$ng_pid" | tr '\n' ' ')"; }
  procs_sqlite_ns() { echo "$pid_sqlite_ns"; }
  procs_pg1_ns() { echo "$pid_pg1_ns $postmaster $(pgrep -P "$postmaster" | tr '\n' ' ')"; }
  procs_pg3_ns() { echo "${pid_pg3_ns[*]} $postmaster $(pgrep -P "$postmaster" | tr '\n' ' ') $ng_pid_ns $(pgrep -P "$ng_pid_ns" | tr '\n' ' ')"; }
  names=(sqlite pg1 pg3-nginx sqlite-nosnap pg1-nosnap pg3-nginx-nosnap)
  urls=("http://127.0.0.1:$p_sqlite" "http://127.0.0.1:$p_pg1" "http://127.0.0.1:$nport"
    "http://127.0.0.1:$p_sqlite_ns" "http://127.0.0.1:$p_pg1_ns" "http://127.0.0.1:$nport_ns")
  snaps=(true true true false false false)
  procs=(procs_sqlite procs_pg1 procs_pg3 procs_sqlite_ns procs_pg1_ns procs_pg3_ns)
  ks=(0 1 2 3 4 5)
  pgdbs=(ptbench_http_pg1 ptbench_http_pg3 ptbench_http_pg1_nosnap ptbench_http_pg3_nosnap)
  # a first second of each, not counted: fresh tables and connections
  for k in "${ks[@]}"; do
    wrk_once "${names[$k]} (warm-up)" "${urls[$k]}" 1 "${snaps[$k]}" "${procs[$k]}" >/dev/null
  done
  # Then the statistics autovacuum would gather within a minute or so: a
  # writer connection that prepared its statements on near-empty tables
  # keeps a generic plan that reads the whole sessions table every commit
  # until the table is first analyzed (docs/performance.md, PostgreSQL).
  # (The scans reported at the end count the warm-up's: a backend sends its
  # counters a while after the fact, so no reset here could separate them.)
  for d in "${pgdbs[@]}"; do psql "${base%/*}/$d" -Xqc "ANALYZE"; done
  declare -A rates p99s cpus
  for _ in $(seq "$RUNS"); do
    for k in "${ks[@]}"; do
      read -r rate p99 cpu < <(wrk_once "${names[$k]}" "${urls[$k]}" "$DUR" "${snaps[$k]}" "${procs[$k]}")
      rates[$k]="${rates[$k]:-} $rate"
      p99s[$k]="${p99s[$k]:-} $p99"
      cpus[$k]="${cpus[$k]:-} $cpu"
    done
  done
  med_rate=() med_p99=() med_cpu=()
  for k in "${ks[@]}"; do
    # shellcheck disable=SC2086
    med_rate[k]=$(median ${rates[$k]})
    # shellcheck disable=SC2086
    med_p99[k]=$(median ${p99s[$k]})
    # shellcheck disable=SC2086
    med_cpu[k]=$(median ${cpus[$k]})
  done
  echo "  (group commit: SQLite $(commits_of "$p_sqlite"); PG-1 $(commits_of "$p_pg1");" \
    "PG-3 $(commits_of "${p_pg3[@]}"); without snapshots SQLite $(commits_of "$p_sqlite_ns")," \
    "PG-1 $(commits_of "$p_pg1_ns"), PG-3 $(commits_of "${p_pg3_ns[@]}"))" >&2
  labels=("1 pipetrackd on SQLite" "1 pipetrackd on PostgreSQL" "3 pipetrackd on PostgreSQL, nginx"
    "1 on SQLite, auto_snapshot false" "1 on PostgreSQL, auto_snapshot false"
    "3 on PostgreSQL, nginx, auto_snapshot false")
  for k in "${ks[@]}"; do
    summary+=("$(printf 'POST track, %-44s %7.0f req/s, p99 %7s ms, %5s us CPU/request' \
      "${labels[$k]}:" "${med_rate[$k]}" "${med_p99[$k]}" "${med_cpu[$k]}")")
  done
  summary+=("POST track ratios: PG-1/SQLite $(ratio "${med_rate[1]}" "${med_rate[0]}") (target >= 0.5), PG-3-nginx/SQLite $(ratio "${med_rate[2]}" "${med_rate[0]}"); without auto-snapshots PG-1/SQLite $(ratio "${med_rate[4]}" "${med_rate[3]}"), PG-3-nginx/SQLite $(ratio "${med_rate[5]}" "${med_rate[3]}")")
  for p in "${pids[@]}"; do stop_pid "$p"; done
  pids=()
  # (after the servers are gone: their statistics are all in)
  for d in "${pgdbs[@]}"; do
    scans=$(seq_scans "${base%/*}/$d")
    [ -z "$scans" ] || summary+=("  sequential scans in $d (warm-up included): $scans")
  done
fi

# ---- c. cross-server stream latency ------------------------------------------------
if [[ $ONLY == *c* ]]; then
  echo "== c. cross-server stream latency: 3 servers on one database, $STREAM_EVENTS events" >&2
  db=$(newdb ptbench_stream)
  ports=()
  for i in 1 2 3; do
    start_ptd "stream-$i" "$db"
    ports+=("$port")
  done
  python3 "$here/bench/pg_stream_latency.py" --events "$STREAM_EVENTS" "${ports[@]}" |
    tee "$tmp/stream.txt" >&2
  # again with the streams through nginx (docs/examples/nginx.conf): its
  # stream location must pass each update on at once
  start_nginx "$tmp/nginx-stream" "${ports[@]}"
  python3 "$here/bench/pg_stream_latency.py" --events "$STREAM_EVENTS" --streams-via "$ng_port" \
    "${ports[@]}" | tee -a "$tmp/stream.txt" >&2
  while IFS= read -r l; do summary+=("$l"); done < <(grep '^cross-server' "$tmp/stream.txt")
  for p in "${pids[@]}"; do stop_pid "$p"; done
  pids=()
fi

echo
echo "== results ($(date -u '+%Y-%m-%d %H:%M UTC'); logs in $tmp)"
printf '%s\n' "${summary[@]}"
