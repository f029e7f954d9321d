#!/usr/bin/env bash
# bench/http.sh - pipetrackd over HTTP on loopback, side by side with the seed
# design on Node (the directory $PIPETRACK_PEER_DIR, when set: a JavaScript
# rendering of the original design, not part of this repository) and with nginx `return 200` of the same
# body size as the ceiling for one HTTP answer on this machine. Drives all of
# them with wrk (-t1 -c64 by default), each run bounded (DUR seconds), each
# measurement the median of RUNS runs.
#
#   bench/http.sh [BUILD_DIR]      DUR=5 RUNS=3 CONNS=64 SESSIONS=10000 bench/http.sh
#
# Prints requests/s of each run and the ratios; installs wrk and nginx-light
# when missing (Debian packages). Every server is started on 127.0.0.1 with a
# free port and stopped by its PID.
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
DUR=${DUR:-5}
CONNS=${CONNS:-64}
SESSIONS=${SESSIONS:-10000}
tmp="$here/$build/bench-http"
rm -rf "$tmp" && mkdir -p "$tmp"
"$here/scripts/install-deps.sh" bench
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 did not open" >&2; exit 1; }

# wrk_rate NAME URL [SCRIPT] [extra wrk args...]: RUNS runs (default 3) of
# DUR seconds; prints each and returns the median requests/s (this machine
# is shared: single runs vary by 2x).
wrk_rate() {
  local name=$1 url=$2 script=${3:-}
  shift 3 || shift $#
  local args=(-t1 -c"$CONNS" -d"${DUR}s" --latency)
  [ -n "$script" ] && args+=(-s "$script")
  local rates=() out rate p99 errs i
  for i in $(seq "${RUNS:-3}"); do
    out=$(wrk "${args[@]}" "$@" "$url" 2>&1)
    echo "$out" >>"$tmp/wrk-$name.txt"
    rate=$(echo "$out" | awk '/^Requests\/sec:/ {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    errs=$(echo "$out" | grep -E "Non-2xx|Socket errors" | tr '\n' ' ' || true)
    printf '  %-48s %10.0f req/s  p99 %-8s %s\n' "$name" "$rate" "$p99" "$errs" >&2
    rates+=("$rate")
  done
  printf '%s\n' "${rates[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

echo "== pipetrackd (sqlite, durable), $SESSIONS four-event sessions, wrk -t1 -c$CONNS, ${DUR}s a run" >&2
port=$(free_port)
"$here/$build/pipetrackd" --listen "127.0.0.1:$port" --db "sqlite:$tmp/bench.db" --quiet \
  >"$tmp/pipetrackd.out" 2>"$tmp/pipetrackd.err" &
pt_pid=$!
pids+=("$pt_pid")
wait_port "$port"
pt="http://127.0.0.1:$port"
python3 "$here/bench/http/populate.py" "$pt" "$SESSIONS" batch "$tmp/etags.txt" 1000
body_size=$(curl -s "$pt/api/pipeline/status?session_id=p_1&pipeline_type=checkout_digital" | wc -c)
pt_status=$(SESSIONS=$SESSIONS wrk_rate "pipetrackd GET status 200" "$pt" "$here/bench/http/status.lua")
# 304 as a polling UI sees it: one session, its ETag in a fixed header (no
# Lua per request: wrk itself is the limit with a request() function, as
# for nginx's fixed request)
etag1=$(sed -n 2p "$tmp/etags.txt" | cut -d' ' -f2-)
pt_304=$(wrk_rate "pipetrackd GET status 304" \
  "$pt/api/pipeline/status?session_id=p_1&pipeline_type=checkout_digital" "" -H "If-None-Match: $etag1")
pt_304r=$(ETAGS="$tmp/etags.txt" wrk_rate "pipetrackd GET status 304, 1,000 sessions (Lua)" "$pt" \
  "$here/bench/http/status.lua")
pt_track=$(wrk_rate "pipetrackd POST track (durable, auto_snapshot)" "$pt" "$here/bench/http/track.lua")
commits=$(curl -s "$pt/metrics" | awk '/^pipetrack_store_commits_total/ {c=$2} /^pipetrack_store_events_committed_total/ {e=$2} END { if (c > 0) printf "%.1f events/commit", e / c }')
echo "  (group commit during the run: $commits)" >&2

# The status answer's cost against the number of sessions stored: 10x more.
python3 - "$pt" "$SESSIONS" <<'EOF'
import http.client, json, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1]); base = int(sys.argv[2])
c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
steps = ["checkout_started", "payment_initiated", "payment_confirmed", "checkout_completed"]
for start in range(base, base * 10, 250):
    evs = [{"session_id": "p_%d" % i, "pipeline_type": "checkout_digital", "step": steps[k],
            "status": "success"} for k in range(4) for i in range(start, min(base * 10, start + 250))]
    c.request("POST", "/api/pipeline/track/batch", json.dumps({"events": evs}), {"Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
EOF
pt_status_10x=$(SESSIONS=$((SESSIONS * 10)) wrk_rate "pipetrackd GET status 200, $((SESSIONS * 10)) sessions" "$pt" "$here/bench/http/status.lua")
# ... and against a session's length beyond the limits (100 events, 20
# registry entries): a 1,000-event session against a 10,000-event one, both
# with an entry per event (auto_snapshot, many in one millisecond).
python3 - "$pt" <<'EOF'
import http.client, json, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
for sid, batches in (("len1k", 1), ("len10k", 10)):
    for b in range(batches):
        evs = [{"session_id": sid, "pipeline_type": "checkout_digital", "step": "payment_initiated",
                "status": "started"} for _ in range(1000)]
        c.request("POST", "/api/pipeline/track/batch", json.dumps({"events": evs, "auto_snapshot": True}),
                  {"Content-Type": "application/json"})
        r = c.getresponse(); r.read()
        assert r.status == 200, r.status
EOF
# one run of each in turn: the two then see the same moments of this shared
# machine (measured one after the other, their medians once differed 2x)
r1k=()
r10k=()
for _ in $(seq "${RUNS:-3}"); do
  r1k+=("$(RUNS=1 wrk_rate "pipetrackd GET status 200, 1,000-event session" \
    "$pt/api/pipeline/status?session_id=len1k" "")")
  r10k+=("$(RUNS=1 wrk_rate "pipetrackd GET status 200, 10,000-event session" \
    "$pt/api/pipeline/status?session_id=len10k" "")")
done
pt_1k=$(median "${r1k[@]}")
pt_10k=$(median "${r10k[@]}")

kill -TERM "$pt_pid"
wait "$pt_pid" || true

# 10,000 idle status streams: the memory of a fresh server holding them.
port=$(free_port)
"$here/$build/pipetrackd" --listen "127.0.0.1:$port" --db "sqlite:$tmp/streams.db" --quiet \
  >"$tmp/pipetrackd-streams.out" 2>"$tmp/pipetrackd-streams.err" &
pt_pid=$!
pids+=("$pt_pid")
wait_port "$port"
curl -s "http://127.0.0.1:$port/api/pipeline/track" -H 'content-type: application/json' \
  -d '{"event":{"session_id":"p_1","pipeline_type":"checkout_digital","step":"checkout_started","status":"success"}}' >/dev/null
rss0=$(rss_kb "$pt_pid")
streams=${STREAMS:-10000}
python3 - "$port" "$streams" "$pt_pid" <<'EOF' >"$tmp/streams.txt"
import resource, socket, sys, time
port, n, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1000), hard))
socks = []
req = b"GET /api/pipeline/status/stream?session_id=p_1 HTTP/1.1\r\nHost: x\r\n\r\n"
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(req)
    socks.append(s)
got = 0
for s in socks:  # every stream got its first summary
    data = b""
    while b"event: status" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    got += b"event: status" in data
time.sleep(1)
rss = [l for l in open("/proc/%s/status" % pid) if l.startswith("VmRSS")][0].split()[1]
print(got, rss)
for s in socks:
    s.close()
EOF
read -r got rss1 <"$tmp/streams.txt"
stream_mib=$(awk -v a="$rss1" -v b="$rss0" 'BEGIN { printf "%.1f", (a - b) / 1024 }')
total_mib=$(awk -v a="$rss1" 'BEGIN { printf "%.1f", a / 1024 }')
echo "  $got of $streams idle status streams got their summary: server RSS $((rss0 / 1024)) -> $total_mib MiB (+$stream_mib MiB)" >&2
kill -TERM "$pt_pid"
wait "$pt_pid" || true

echo "== seed peer on Node (in-memory), same load" >&2
peer_track=0 peer_status=0
peer_src="${PIPETRACK_PEER_DIR:-}"
if command -v node >/dev/null && [ -n "$peer_src" ] && [ -d "$peer_src" ]; then
  peer="$here/$build/peer-seed"
  if [ ! -d "$peer/node_modules" ]; then
    rm -rf "$peer" && cp -r "$peer_src" "$peer" && chmod -R u+w "$peer"
    (cd "$peer" && npm ci --silent --no-audit --no-fund >/dev/null 2>&1)
  fi
  pport=$(free_port)
  (cd "$peer" && PORT=$pport exec node server.js) >"$tmp/peer.out" 2>&1 &
  peer_pid=$!
  pids+=("$peer_pid")
  wait_port "$pport"
  pu="http://127.0.0.1:$pport"
  python3 "$here/bench/http/populate.py" "$pu" "$SESSIONS" single
  peer_status=$(SESSIONS=$SESSIONS wrk_rate "peer GET status 200" "$pu" "$here/bench/http/status.lua")
  peer_track=$(wrk_rate "peer POST track (in memory, auto_snapshot)" "$pu" "$here/bench/http/track.lua")
  kill "$peer_pid" || true
else
  echo "  (skipped: set PIPETRACK_PEER_DIR to the seed design's directory, and have Node.js, to measure it)" >&2
fi

echo "== nginx answering 200 with a ${body_size}-byte body (the ceiling)" >&2
nport=$(free_port)
mkdir -p "$tmp/nginx"
mkdir -p "$tmp/nginx/www"
head -c "$body_size" /dev/zero | tr '\0' 'x' >"$tmp/nginx/www/body.json"
cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx; proxy_temp_path $tmp/nginx; fastcgi_temp_path $tmp/nginx;
  uwsgi_temp_path $tmp/nginx; scgi_temp_path $tmp/nginx;
  server {
    listen 127.0.0.1:$nport;
    default_type application/json;
    # a static file: nginx's config cannot hold a 5 KB return string
    open_file_cache max=16; etag off;
    location / { root $tmp/nginx/www; try_files /body.json =404; }
  }
}
EOF
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" &
ng_pid=$!
pids+=("$ng_pid")
wait_port "$nport"
ceiling=$(wrk_rate "nginx return 200 (${body_size} B)" "http://127.0.0.1:$nport/" "")
kill -QUIT "$ng_pid" || true

echo
echo "== results (requests/s; ratios)"
printf '%-52s %10.0f\n' "POST track, pipetrackd (SQLite durable)" "$pt_track"
printf '%-52s %10.0f\n' "POST track, peer on Node (memory)" "$peer_track"
printf '%-52s %10.0f\n' "GET status 200, pipetrackd" "$pt_status"
printf '%-52s %10.0f\n' "GET status 200, peer on Node" "$peer_status"
printf '%-52s %10.0f\n' "GET status 304, pipetrackd" "$pt_304"
printf '%-52s %10.0f\n' "GET status 304, 1,000 sessions at random (Lua)" "$pt_304r"
printf '%-52s %10.0f\n' "nginx return 200 ceiling" "$ceiling"
echo "track:      $(ratio "$pt_track" "$peer_track")x the peer (target >= 10), $(ratio "$pt_track" "$ceiling")x nginx (target >= 0.40)"
echo "status 200: $(ratio "$pt_status" "$peer_status")x the peer (target >= 10)"
echo "status 304: $(ratio "$pt_304" "$ceiling")x nginx (target >= 0.50)"
echo "status 200 with 10x the sessions stored: $(ratio "$pt_status_10x" "$pt_status")x the rate at $SESSIONS"
echo "status 200 of a 10,000-event session: $(ratio "$pt_10k" "$pt_1k")x the rate of a 1,000-event one"
echo "idle streams: $got open, server memory $total_mib MiB in all (+$stream_mib MiB; target < 100 MiB for 10,000)"
