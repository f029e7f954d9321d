#!/usr/bin/env bash
# bench/ingest.sh - issue 13's ingest targets (make bench-ingest), in one run
# on this machine:
#   1. in-process batched tracking on SQLite (bench_track, 100 events a call,
#      1 thread) against raw SQLite inserting the same rows with the same
#      durability (100 rows a commit, pipetrack's two indexes): target >= 0.6;
#   2. POST /api/pipeline/track/batch over HTTP (bench/http/batch.lua: 100
#      events a request, the same events as bench_track's batched run) to a
#      pipetrackd on a fresh sqlite: store, with wrk at each of CONNS
#      connections (one wrk thread a connection), against in-process batched
#      with 1 thread: the best of them >= 0.8 (and, printed beside it, against
#      in-process with 4 threads).
# Each round runs every configuration once, in turn (raw SQLite, in-process 1
# thread, 4 threads, HTTP at each connection count): the rounds alternate them
# over the moments of this shared machine. Medians of ROUNDS rounds.
#
#   bench/ingest.sh [BUILD_DIR]      DUR=5 ROUNDS=3 CONNS="1 4 16" bench/ingest.sh
#
# Every store is a fresh file under BUILD_DIR/bench-ingest (the disk the
# other benchmarks use); every pipetrackd listens on 127.0.0.1 (port 0: the
# kernel picks a free one) and is stopped by its PID; every measurement is
# bounded in count (bench_track) or time (wrk -d, and `timeout`).
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
DUR=${DUR:-5}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-1 4 16}
tmp="$here/$build/bench-ingest"
rm -rf "$tmp" && mkdir -p "$tmp"
"$here/scripts/install-deps.sh" bench
bt="$here/$build/bench/bench_track"

pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    if kill -0 "$p" 2>/dev/null; then wait "$p" 2>/dev/null || true; fi
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r >= t ? "met" : "missed") }'; }
# rate_of LABEL: the events/s of bench_track's line LABEL on stdin.
rate_of() { awk -v l="$1" 'index($0, l) == 1 { print $(NF - 1) }'; }
# cpu_ticks PID: user + system clock ticks the process has used so far.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

# bench_only MODE: one bench_track measurement (PT_BENCH_ONLY=MODE) on a
# fresh store in $tmp; its output is appended to the log and echoed.
bench_only() {
  local out
  out=$(PT_BENCH_ONLY=$1 timeout 120 "$bt" "$tmp")
  echo "$out" >>"$tmp/bench_track.txt"
  echo "$out"
}

# http_once C: a fresh pipetrackd on a fresh SQLite store, wrk -tC -cC for
# DUR seconds with batch.lua; prints "events_per_s p99_ms server_cpu_us_per_event
# errors" (errors: requests not answered 200 + events not answered 201 +
# socket errors).
http_once() {
  local c=$1 db="$tmp/http.db" port="" pid out before after rate p99 cpu errs
  rm -f "$db" "$db-wal" "$db-shm"
  "$here/$build/pipetrackd" --listen 127.0.0.1:0 --db "sqlite:$db" --quiet \
    >"$tmp/pipetrackd.out" 2>"$tmp/pipetrackd.err" &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 200); do
    port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$tmp/pipetrackd.out" 2>/dev/null || true)
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if [ -z "$port" ]; then
    echo "bench-ingest: pipetrackd did not start: $(tail -n 3 "$tmp/pipetrackd.err")" >&2
    exit 1
  fi
  before=$(cpu_ticks "$pid")
  out=$(timeout $((DUR + 30)) wrk -t"$c" -c"$c" -d"${DUR}s" --timeout 10s --latency \
    -s "$here/bench/http/batch.lua" "http://127.0.0.1:$port/" 2>&1)
  after=$(cpu_ticks "$pid")
  kill -TERM "$pid"
  wait "$pid" || true
  pids=() # (the only one running)
  rm -f "$db" "$db-wal" "$db-shm"
  echo "== -c$c" >>"$tmp/wrk.txt"
  echo "$out" >>"$tmp/wrk.txt"
  rate=$(echo "$out" | awk '/^batch: .* events\/s answered 201/ {print $2}')
  # wrk writes 850.00us, 12.34ms or 1.20s
  p99=$(echo "$out" | awk '$1 == "99%" { v = $2; m = 1;
    if (v ~ /us$/) m = 0.001; else if (v ~ /ms$/) m = 1; else if (v ~ /s$/) m = 1000;
    sub(/[a-z]+$/, "", v); printf "%.2f", v * m }')
  errs=$(echo "$out" | awk '/^batch: .* requests, / { e = $4 + $8; gsub(/[(),]/, " ");
      print e + $(NF - 7) + $(NF - 5) + $(NF - 3) + $(NF - 1) }')
  cpu=$(awk -v b="$before" -v a="$after" -v r="$rate" -v d="$DUR" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.1f", (r > 0 ? (a - b) / hz * 1e6 / (r * d) : 0) }')
  if [ -z "$rate" ] || [ -z "$errs" ]; then
    echo "bench-ingest: no result from wrk -c$c:" >&2
    echo "$out" >&2
    exit 1
  fi
  if [ "$errs" != 0 ]; then
    echo "  wrk -c$c: ERRORS: $(echo "$out" | grep '^batch:' | tr '\n' ' ')" >&2
  fi
  echo "$rate $p99 $cpu $errs"
}

read -r -a conns <<<"$CONNS"
declare -A http_rate http_p99 http_cpu
raw=() raw_bare=() in1=() in4=() r1=() r2=()
http_errors=0
t_start=$(date +%s)
echo "== issue 13 ingest: $ROUNDS rounds; HTTP: wrk -tC -cC for C in ${conns[*]}, ${DUR}s a run, batch.lua (100 events a request)" >&2
for round in $(seq "$ROUNDS"); do
  o=$(bench_only raw_sqlite)
  raw+=("$(echo "$o" | rate_of "baseline: raw SQLite, 100 rows/commit, 2 indexes")")
  raw_bare+=("$(echo "$o" | rate_of "baseline: raw SQLite, 100 rows/commit, no index")")
  o=$(bench_only sqlite_batched)
  in1+=("$(echo "$o" | rate_of "sqlite (durable): batched (100/call)")")
  o=$(bench_only sqlite_batched_4)
  in4+=("$(echo "$o" | rate_of "sqlite (durable): batched (100/call), 4 threads")")
  line=$(printf '  round %d: raw SQLite %.0f (no index %.0f), in-process 1 thread %.0f, 4 threads %.0f;' \
    "$round" "${raw[-1]}" "${raw_bare[-1]}" "${in1[-1]}" "${in4[-1]}")
  best=0
  for c in "${conns[@]}"; do
    read -r rate p99 cpu errs < <(http_once "$c")
    http_rate[$c]="${http_rate[$c]:-} $rate"
    http_p99[$c]="${http_p99[$c]:-} $p99"
    http_cpu[$c]="${http_cpu[$c]:-} $cpu"
    http_errors=$((http_errors + errs))
    line+=$(printf ' HTTP -c%s %.0f (p99 %s ms, %s us server CPU/event%s)' "$c" "$rate" "$p99" "$cpu" \
      "$([ "$errs" = 0 ] || echo ", $errs ERRORS")")
    best=$(awk -v a="$best" -v b="$rate" 'BEGIN { print (b > a ? b : a) }')
  done
  r1+=("$(ratio "${in1[-1]}" "${raw[-1]}")")
  r2+=("$(ratio "$best" "${in1[-1]}")")
  echo "$line; ratios ${r1[-1]}, ${r2[-1]}" >&2
  if [ $(($(date +%s) - t_start)) -gt 240 ] && [ "$round" -lt "$ROUNDS" ]; then
    echo "bench-ingest: past 4 minutes after round $round; stopping the rounds there" >&2
    break
  fi
done

m_raw=$(median "${raw[@]}")
m_bare=$(median "${raw_bare[@]}")
m_in1=$(median "${in1[@]}")
m_in4=$(median "${in4[@]}")
best_c="" m_best=0
for c in "${conns[@]}"; do
  # shellcheck disable=SC2086
  m=$(median ${http_rate[$c]})
  if awk -v a="$m" -v b="$m_best" 'BEGIN { exit !(a > b) }'; then
    m_best=$m best_c=$c
  fi
done
ratio1=$(ratio "$m_in1" "$m_raw")
ratio2=$(ratio "$m_best" "$m_in1")

echo
echo "== results ($(date -u '+%Y-%m-%d %H:%M UTC'); medians of ${#raw[@]} rounds, events/s; logs in $tmp)"
printf '%-58s %8.0f\n' "raw SQLite, 100 rows/commit, 2 indexes (durable)" "$m_raw"
printf '%-58s %8.0f\n' "raw SQLite, 100 rows/commit, no index (durable)" "$m_bare"
printf '%-58s %8.0f\n' "in-process pt_track_batch (100/call) on SQLite, 1 thread" "$m_in1"
printf '%-58s %8.0f\n' "in-process pt_track_batch (100/call) on SQLite, 4 threads" "$m_in4"
for c in "${conns[@]}"; do
  # shellcheck disable=SC2086
  printf '%-58s %8.0f   p99 %s ms, %s us server CPU/event\n' \
    "HTTP POST /track/batch (100/request), wrk -t$c -c$c" "$(median ${http_rate[$c]})" \
    "$(median ${http_p99[$c]})" "$(median ${http_cpu[$c]})"
done
echo "ratio 1: in-process batched, 1 thread / raw SQLite (2 indexes) = $ratio1 (target >= 0.6: $(verdict "$ratio1" 0.6)); per round: ${r1[*]}"
echo "ratio 2: best HTTP (-c$best_c) / in-process batched, 1 thread = $ratio2 (target >= 0.8: $(verdict "$ratio2" 0.8)); per round: ${r2[*]}"
echo "         best HTTP / in-process batched, 4 threads = $(ratio "$m_best" "$m_in4")"
if [ "$http_errors" = 0 ]; then
  echo "HTTP answers: every request 200, every event 201"
else
  echo "HTTP answers: $http_errors ERRORS (requests not 200, events not 201, socket errors): see $tmp/wrk.txt"
  exit 1
fi
