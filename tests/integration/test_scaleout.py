#!/usr/bin/env python3
"""test_scaleout.py - three pipetrackd on one database, as behind a load
balancer: concurrent tracking through all of them, replays on another server,
a status stream seeing another server's event, a server killed and the
database restarted under load; nothing acknowledged is lost.

Usage: test_scaleout.py PIPETRACKD PIPETRACK [SERVER_ARG...]
The store is a new database on the PostgreSQL server PT_TEST_DB_URL
(tests/pg/run.sh); the restart phase needs the cluster's directory in
PT_PG_CLUSTER_DIR (tests/pg/cluster.sh restart). Without PT_TEST_DB_URL the
servers share one SQLite file and the restart phase is skipped, saying so: a
dry run of the test itself. SERVER_ARGs go to every pipetrackd. Logs go to
$PT_TMP/scaleout (else a new temporary directory). Python's standard library
only; every HTTP call and every wait is bounded.
"""
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import PG_URL, check, eq, fresh_store, launch, next_sse, request, stop  # noqa: E402

PIPETRACKD, PIPETRACK = sys.argv[1], sys.argv[2]
SERVER_ARGS = sys.argv[3:]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLUSTER_DIR = os.environ.get("PT_PG_CLUSTER_DIR")
if os.environ.get("PT_TMP"):
    TMP = os.path.join(os.environ["PT_TMP"], "scaleout")
    os.makedirs(TMP, exist_ok=True)
else:
    import tempfile
    TMP = tempfile.mkdtemp(prefix="pt-scaleout-")

SERVERS = 3
THREADS = 8
PER_THREAD = 5000       # the first load: 40,000 events
PHASE_PER_THREAD = 1000  # the kill and restart loads: 8,000 events each
SESSIONS = 200          # every session stays under status's events_limit (1000)
REPLAYS = 1000
STREAM_ROUNDS = 5
STREAM_MAX_S = 2.0      # a status stream sees another server's event within this
DOWN_S = 2              # how long the database stays down in the restart phase
HTTP_TIMEOUT = 10       # every HTTP call; an answer later than this is a hang
EVENT_BUDGET_S = 60     # how long one event may be retried (503, lost connection)
LOAD_BUDGET_S = 600     # one load phase, all threads
SEED = int(os.environ.get("PT_SEED", "1"))
STEPS = ["checkout_started", "payment_initiated", "payment_confirmed", "checkout_completed"]
JSON = {"Content-Type": "application/json"}


class Fleet:
    """The servers on one store URL: started, killed, stopped by their PIDs."""

    def __init__(self, url):
        self.url = url
        self.procs, self.ports, self.logs, self.alive = [], [], [], []
        self.lock = threading.Lock()

    def start(self):
        i = len(self.procs)
        log = open(os.path.join(TMP, "server-%d.log" % i), "wb")
        p, port = launch(PIPETRACKD, ["--db", self.url, "--quiet"] + SERVER_ARGS, log)
        with self.lock:
            self.procs.append(p)
            self.ports.append(port)
            self.logs.append(log)
            self.alive.append(True)
        return i

    def live(self):
        with self.lock:
            return [i for i, a in enumerate(self.alive) if a]

    def kill(self, i):
        with self.lock:
            self.alive[i] = False
        stop(self.procs[i], self.logs[i], signal.SIGKILL)

    def stop_all(self):
        """SIGTERM to each live server: each must exit 0."""
        codes = {}
        for i in self.live():
            with self.lock:
                self.alive[i] = False
            try:
                codes[i] = stop(self.procs[i], self.logs[i])
            except subprocess.TimeoutExpired:
                self.procs[i].kill()
                codes[i] = "no exit within 60 s"
        return codes

    def kill_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=30)


class Client:
    """One thread's kept-alive connections, one per server."""

    def __init__(self, fleet):
        self.fleet = fleet
        self.conns = {}

    def post(self, i, path, body):
        """(status, parsed body). TimeoutError: no answer within HTTP_TIMEOUT;
        OSError or HTTPException: the connection failed."""
        data = json.dumps(body)
        for attempt in (0, 1):
            c = self.conns.pop(i, None)
            reused = c is not None
            if c is None:
                c = http.client.HTTPConnection("127.0.0.1", self.fleet.ports[i],
                                               timeout=HTTP_TIMEOUT)
            try:
                c.request("POST", path, body=data, headers=JSON)
                r = c.getresponse()
                out = r.read()
            except TimeoutError:
                c.close()
                raise
            except (OSError, http.client.HTTPException):
                c.close()
                if reused and attempt == 0:
                    continue  # the server had closed the kept-alive connection
                raise
            if r.will_close:
                c.close()
            else:
                self.conns[i] = c
            return r.status, json.loads(out) if out else None

    def close(self):
        for c in self.conns.values():
            c.close()
        self.conns = {}


def event_of(tag, t, k):
    """Event k of thread t in a load: an explicit id, one of SESSIONS sessions."""
    return {"id": "%s_t%d_%d" % (tag, t, k), "session_id": "so_%d" % ((t * 7919 + k) % SESSIONS),
            "pipeline_type": "checkout_digital", "step": STEPS[k % 4], "status": "success",
            "input": {"t": t, "k": k}}


class Ledger:
    """What the servers acknowledged (2xx), by event id, and every answer
    counted by kind."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}  # id -> {"event", "seq", "link", "server"}
        self.outcomes = {}
        self.max_answer_s = 0.0

    def count(self, kind, seconds=0.0):
        with self.lock:
            self.outcomes[kind] = self.outcomes.get(kind, 0) + 1
            self.max_answer_s = max(self.max_answer_s, seconds)

    def ack(self, ev, doc, server):
        stored = doc["event"]
        with self.lock:
            self.acked[ev["id"]] = {"event": ev, "seq": stored["seq"], "link": stored["link"],
                                    "server": server}

    def size(self):
        with self.lock:
            return len(self.acked)


def track_until_acked(client, fleet, ledger, ev, rnd):
    """Sends ev to a random live server until one acknowledges it (the same id
    again after a 503 or a lost connection: replays are idempotent), within
    EVENT_BUDGET_S; other refusals end it. True when acknowledged."""
    deadline = time.time() + EVENT_BUDGET_S
    for attempt in range(1000):
        live = fleet.live()
        if not live or time.time() > deadline:
            break
        i = rnd.choice(live)
        t0 = time.time()
        try:
            st, doc = client.post(i, "/api/pipeline/track", {"event": ev})
        except TimeoutError:
            ledger.count("timeout (no answer in %d s)" % HTTP_TIMEOUT, time.time() - t0)
            continue
        except (OSError, http.client.HTTPException) as e:
            ledger.count("connection failed (%s)" % type(e).__name__, time.time() - t0)
            time.sleep(0.05)
            continue
        code = (doc or {}).get("error", {}).get("code", "") if isinstance(doc, dict) else ""
        ledger.count(("%d %s" % (st, code)).strip(), time.time() - t0)
        if st in (200, 201):
            ledger.ack(ev, doc, i)
            return True
        if st != 503:
            return False
        time.sleep(min(0.05 * (attempt + 1), 0.5))
    ledger.count("given up after %d s" % EVENT_BUDGET_S)
    return False


def load(fleet, ledger, tag, per_thread):
    """THREADS threads of per_thread events each, started; returns the
    threads (daemons: a stuck one cannot keep the test alive)."""
    def worker(t):
        rnd = random.Random(SEED * 1000 + t)
        client = Client(fleet)
        try:
            for k in range(per_thread):
                track_until_acked(client, fleet, ledger, event_of(tag, t, k), rnd)
        finally:
            client.close()

    ts = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(THREADS)]
    for t in ts:
        t.start()
    return ts


def join(threads, what):
    deadline = time.time() + LOAD_BUDGET_S
    for t in threads:
        t.join(timeout=max(0.1, deadline - time.time()))
    check(not any(t.is_alive() for t in threads), "%s finished within %d s" % (what, LOAD_BUDGET_S))


def wait_for(cond, what, timeout):
    deadline = time.time() + timeout
    while not cond():
        check(time.time() < deadline, "%s within %d s" % (what, timeout))
        time.sleep(0.05)


def outcomes(ledger, allowed, what):
    """Every answer of the phase is of an allowed kind; returns the counts."""
    with ledger.lock:
        got = dict(ledger.outcomes)
        ledger.outcomes = {}
        slowest = ledger.max_answer_s
        ledger.max_answer_s = 0.0
    print("  %s: answers %s, slowest %.2f s" % (what, sorted(got.items()), slowest), flush=True)
    bad = {k: n for k, n in got.items() if not any(k.startswith(a) for a in allowed)}
    eq(bad, {}, "%s: answers other than %s" % (what, allowed))
    return got


def get(fleet, path, server=None):
    i = fleet.live()[0] if server is None else server
    st, _, doc = request(fleet.ports[i], "GET", path, timeout=HTTP_TIMEOUT)
    return st, doc


def check_sessions(fleet, ledger, what):
    """Every session verifies and holds seqs exactly 0..n-1, every
    acknowledged event is stored with the seq and link it was acknowledged
    with, and the servers agree on a sample of chains."""
    by_session = {}
    with ledger.lock:
        for eid, a in ledger.acked.items():
            by_session.setdefault(a["event"]["session_id"], []).append((eid, a))
    live = fleet.live()
    total = 0
    for n, sid in enumerate(sorted(by_session)):
        server = live[n % len(live)]
        st, v = get(fleet, "/api/pipeline/verify?session_id=" + sid, server)
        eq((st, v.get("ok"), v.get("mismatches")), (200, True, []), "%s: %s verifies" % (what, sid))
        st, doc = get(fleet, "/api/pipeline/status?session_id=%s&events_limit=1000" % sid, server)
        eq(st, 200, "%s: status of %s" % (what, sid))
        count = doc["event_count"]
        check(count <= 1000,
              "%s: %s has %d events, more than one status shows" % (what, sid, count))
        eq([e["seq"] for e in doc["events"]], list(range(count)), "%s: seqs of %s" % (what, sid))
        stored = doc["events"]
        for eid, a in by_session[sid]:
            s = stored[a["seq"]] if a["seq"] < count else {}
            eq((s.get("id"), s.get("link")), (eid, a["link"]), "%s: acknowledged %s (%s seq %d) "
               "stored as acknowledged" % (what, eid, sid, a["seq"]))
            total += 1
    for sid in sorted(by_session)[:20]:
        hashes = {i: get(fleet, "/api/pipeline/checksum?session_id=" + sid, i)[1]["chain_hash"]
                  for i in live}
        eq(len(set(hashes.values())), 1,
           "%s: the servers agree on %s's chain: %r" % (what, sid, hashes))
    print("  %s: %d sessions verify, %d acknowledged events stored as acknowledged"
          % (what, len(by_session), total), flush=True)


def phase_load(fleet, ledger):
    t0 = time.time()
    join(load(fleet, ledger, "a", PER_THREAD), "the load")
    took = time.time() - t0
    outcomes(ledger, ["201", "200", "503 storage_unavailable"], "load")
    eq(ledger.size(), THREADS * PER_THREAD, "every event acknowledged")
    print("  load: %d events through %d servers in %.1f s (%.0f/s)"
          % (THREADS * PER_THREAD, SERVERS, took, THREADS * PER_THREAD / took), flush=True)
    check_sessions(fleet, ledger, "after the load")


def phase_replays(fleet, ledger):
    rnd = random.Random(SEED)
    with ledger.lock:
        sample = rnd.sample(sorted(ledger.acked.items()), REPLAYS)
    client = Client(fleet)
    try:
        for eid, a in sample:
            other = rnd.choice([i for i in fleet.live() if i != a["server"]])
            st, doc = client.post(other, "/api/pipeline/track", {"event": a["event"]})
            eq((st, doc.get("replayed")), (200, True), "replay of %s on server %d" % (eid, other))
            eq((doc["event"]["seq"], doc["event"]["link"]), (a["seq"], a["link"]),
               "replay of %s: the stored event" % eid)
    finally:
        client.close()
    print("  %d replays on another server: 200, replayed, the same seq and link" % REPLAYS,
          flush=True)


def phase_stream(fleet, ledger):
    """A status stream on server B sees an event tracked through server A."""
    live = fleet.live()
    delays = []
    for n in range(STREAM_ROUNDS):
        a, b = live[n % len(live)], live[(n + 1) % len(live)]
        sid = "so_%d" % n
        c = http.client.HTTPConnection("127.0.0.1", fleet.ports[b], timeout=HTTP_TIMEOUT)
        try:
            c.request("GET", "/api/pipeline/status/stream?session_id=" + sid)
            sock = c.sock  # the stream's socket: its timeout bounds each read
            r = c.getresponse()
            eq((r.status, r.getheader("Content-Type")), (200, "text/event-stream"),
               "stream on %d" % b)
            before = json.loads(next_sse(r)["data"])["event_count"]
            ev = {"id": "sse_%d" % n, "session_id": sid, "pipeline_type": "checkout_digital",
                  "step": STEPS[0], "status": "success"}
            # from the track's request: the update may come before its answer
            sent = time.time()
            st, _, doc = request(fleet.ports[a], "POST", "/api/pipeline/track", {"event": ev},
                                 timeout=HTTP_TIMEOUT)
            eq(st, 201, "track through server %d" % a)
            ledger.ack(ev, doc, a)
            deadline = sent + 2.5 * STREAM_MAX_S
            try:
                while True:
                    sock.settimeout(max(0.01, deadline - time.time()))
                    if json.loads(next_sse(r)["data"])["event_count"] > before:
                        seen = time.time() - sent
                        break
            except TimeoutError:
                raise AssertionError(
                    "stream on server %d: no update for %s within %.1f s of its track on server %d"
                    % (b, sid, 2.5 * STREAM_MAX_S, a)) from None
        finally:
            c.close()
        delays.append(seen)
        print("  stream on server %d saw the event tracked through server %d %.3f s after its "
              "request" % (b, a, seen), flush=True)
    check(max(delays) <= STREAM_MAX_S,
          "a stream sees another server's event within %.1f s: %r" % (STREAM_MAX_S, delays))


def phase_kill(fleet, ledger):
    """kill -9 of a server mid-load: every event acknowledged is there after."""
    before = ledger.size()
    ts = load(fleet, ledger, "k", PHASE_PER_THREAD)
    wait_for(lambda: ledger.size() - before >= THREADS * PHASE_PER_THREAD // 4,
             "a quarter of the kill phase acknowledged", 120)
    victim = fleet.live()[-1]
    at_kill = ledger.size() - before
    fleet.kill(victim)
    print("  server %d killed (SIGKILL) after %d of %d acknowledged"
          % (victim, at_kill, THREADS * PHASE_PER_THREAD), flush=True)
    join(ts, "the load around the kill")
    check(at_kill < THREADS * PHASE_PER_THREAD, "the kill came mid-load")
    outcomes(ledger, ["201", "200", "503 storage_unavailable", "connection failed"], "kill phase")
    eq(ledger.size() - before, THREADS * PHASE_PER_THREAD,
       "every event of the kill phase acknowledged")
    check_sessions(fleet, ledger, "after the kill")
    fleet.start()  # back to three servers


def phase_restart(fleet, ledger):
    """The database restarted mid-load: 503 storage_unavailable meanwhile,
    the servers recover by themselves, the load completes."""
    if not PG_URL:
        print("  restart phase skipped: the servers share a SQLite file (set PT_TEST_DB_URL)",
              flush=True)
        return
    check(CLUSTER_DIR, "PT_PG_CLUSTER_DIR names the cluster to restart (tests/pg/cluster.sh)")
    before = ledger.size()
    ts = load(fleet, ledger, "r", PHASE_PER_THREAD)
    wait_for(lambda: ledger.size() - before >= THREADS * PHASE_PER_THREAD // 4,
             "a quarter of the restart phase acknowledged", 120)
    t0 = time.time()
    r = subprocess.run(["bash", os.path.join(ROOT, "tests/pg/cluster.sh"), "restart", CLUSTER_DIR,
                        str(DOWN_S)], capture_output=True, text=True, timeout=120)
    eq(r.returncode, 0, "cluster.sh restart: " + r.stderr.strip())
    print("  database down and up again in %.1f s" % (time.time() - t0), flush=True)
    join(ts, "the load around the restart")
    got = outcomes(ledger, ["201", "200", "503 storage_unavailable"], "restart phase")
    check(got.get("503 storage_unavailable", 0) > 0,
          "requests during the outage were answered 503 storage_unavailable")
    eq(ledger.size() - before, THREADS * PHASE_PER_THREAD,
       "every event of the restart phase acknowledged")
    for i in fleet.live():
        check(fleet.procs[i].poll() is None, "server %d still runs (it was not restarted)" % i)
    check_sessions(fleet, ledger, "after the restart")


def phase_cli(fleet, ledger):
    """The tool, on the database itself, verifies every chain."""
    r = subprocess.run([PIPETRACK, "--db", fleet.url, "verify", "--all"], capture_output=True,
                       text=True, timeout=600)
    eq((r.returncode, r.stdout.strip()), (0, "%d sessions verified, 0 mismatched" % SESSIONS),
       "pipetrack verify --all: " + r.stderr.strip())


def phase_rollups(fleet, ledger):
    """The funnel every server reads from the rollups (written by three
    servers, through a kill and a database restart, into their own shards)
    matches a recount from every session's events."""
    sids, cursor = [], None
    while True:
        st, doc = get(fleet, "/api/pipeline/sessions?pipeline_type=checkout_digital&limit=1000"
                      + ("&cursor=" + cursor if cursor else ""))
        eq(st, 200, "sessions listing")
        sids += [i["session_id"] for i in doc["items"]]
        cursor = doc["next_cursor"]
        if not cursor:
            break
    reached = {s: 0 for s in STEPS}
    succeeded = dict(reached)
    for sid in sids:
        st, doc = get(fleet, "/api/pipeline/status?session_id=%s&events_limit=1000" % sid)
        outcome = {}
        for e in doc["events"]:
            if e["status"] != "started":
                outcome[e["step"]] = e["status"]
            reached.setdefault(e["step"], 0)
            outcome.setdefault(e["step"], None)
        for step, o in outcome.items():
            reached[step] += 1
            succeeded[step] += o == "success"
    for i in fleet.live():
        st, doc = get(fleet, "/api/pipeline/stats?pipeline_type=checkout_digital", i)
        eq((st, doc["sessions"]), (200, len(sids)), "server %d: stats sessions" % i)
        eq({x["step"]: (x["reached"], x["succeeded"]) for x in doc["steps"]},
           {s: (reached[s], succeeded[s]) for s in STEPS}, "server %d: stats per step" % i)
    print("  %d sessions; every server's funnel matches the recount" % len(sids), flush=True)


def main():
    t_all = time.time()
    print("scaleout: %d servers, logs in %s, seed %d" % (SERVERS, TMP, SEED), flush=True)
    fleet = None
    phase = "start"
    try:
        fleet = Fleet(fresh_store(TMP, "scaleout"))
        for _ in range(SERVERS):
            fleet.start()
        ledger = Ledger()
        for fn in (phase_load, phase_replays, phase_stream, phase_kill, phase_restart, phase_cli,
                   phase_rollups):
            phase = fn.__name__
            t0 = time.time()
            fn(fleet, ledger)
            print("ok   %s (%.1f s)" % (phase, time.time() - t0), flush=True)
        phase = "stop"
        codes = fleet.stop_all()
        eq(set(codes.values()), {0}, "every server exits 0 on SIGTERM: %r" % codes)
    except Exception as e:  # say where, stop the servers, fail
        import traceback
        traceback.print_exc()
        print("FAIL %s: %s" % (phase, e), flush=True)
        if fleet:
            fleet.kill_all()
        sys.exit(1)
    print("all passed (%.1f s)" % (time.time() - t_all))


main()
