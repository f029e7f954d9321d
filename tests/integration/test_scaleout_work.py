#!/usr/bin/env python3
"""test_scaleout_work.py - the work several pipetrackd on one PostgreSQL
database share, each done once (issue #12): the migrations when servers start
together, each webhook delivery (also when its claimer is killed mid-POST),
each stalled session however many servers sweep, each failure in its issue's
counts; an issue stream seeing another server's change; /readyz while the
database is down.

Usage: test_scaleout_work.py PIPETRACKD PIPETRACK [TEST...]
Each test gets new databases on the PostgreSQL server PT_TEST_DB_URL
(tests/pg/run.sh) and its own servers (127.0.0.1, free ports, stopped by
PID); test_readyz_while_down restarts the cluster in PT_PG_CLUSTER_DIR
(tests/pg/cluster.sh restart). Without PT_TEST_DB_URL every test is skipped,
saying why: what they check exists only with several servers on PostgreSQL.
Logs go to $PT_TMP/scaleout_work (else a new temporary directory). Python's
standard library only; every HTTP call and every wait is bounded.
"""
import collections
import hashlib
import http.client
import http.server
import json
import os
import random
import re
import select
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (PG_URL, Skip, check, eq, next_sse, pg_database, request,  # noqa: E402
                     run_tests, stop)

PIPETRACKD, PIPETRACK = sys.argv[1], sys.argv[2]
ONLY = sys.argv[3:]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLUSTER_DIR = os.environ.get("PT_PG_CLUSTER_DIR")
if os.environ.get("PT_TMP"):
    TMP = os.path.join(os.environ["PT_TMP"], "scaleout_work")
    os.makedirs(TMP, exist_ok=True)
elif PG_URL:
    import tempfile
    TMP = tempfile.mkdtemp(prefix="pt-scaleout-work-")
else:
    TMP = None  # every test skips

SERVERS = 3
HTTP_TIMEOUT = 10     # every HTTP call; an answer later than this is a hang
START_TIMEOUT = 30    # a server prints its URL within this
EVENT_BUDGET_S = 60   # how long one request may be retried (503, lost connection)
DRAIN_TIMEOUT = 60    # a wait for deliveries, sweeps, readiness
STREAM_MAX_S = 2.0    # an issue stream sees another server's change within this
SEED = int(os.environ.get("PT_SEED", "1"))
JSON = {"Content-Type": "application/json"}
PSQL_ENV = dict(os.environ, PGCONNECT_TIMEOUT="10", PGOPTIONS="-c client_min_messages=warning")


def needs_pg():
    if not PG_URL:
        raise Skip("needs several servers on PostgreSQL: set PT_TEST_DB_URL (tests/pg/run.sh does)")


def wait_for(cond, what, timeout=DRAIN_TIMEOUT, every=0.1):
    """Polls cond until it returns something true (returned); fails naming
    what after timeout seconds."""
    deadline = time.time() + timeout
    while True:
        got = cond()
        if got:
            return got
        check(time.time() < deadline, "%s within %d s" % (what, timeout))
        time.sleep(every)


def psql(url, sql):
    """Rows of sql run on url, each a list of its fields as text."""
    r = subprocess.run(["psql", url, "-X", "-q", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1",
                        "-c", sql], capture_output=True, text=True, timeout=60, env=PSQL_ENV)
    eq(r.returncode, 0, "psql %r: %s" % (sql, r.stderr.strip()))
    return [line.split("|") for line in r.stdout.splitlines() if line]


def issue_id(fingerprint):
    """An issue's id: iss_ and 24 hex digits of its fingerprint's SHA-256 (docs/api.md)."""
    return "iss_" + hashlib.sha256(fingerprint.encode()).hexdigest()[:24]


def failure(eid, sid, code, ptype="checkout_digital", step="payment_initiated"):
    return {"id": eid, "session_id": sid, "pipeline_type": ptype, "step": step,
            "status": "failure", "error": {"code": code, "message": "test"}}


def log_lines(path):
    """The JSON lines of a server's log."""
    out = []
    with open(path, "rb") as f:
        for line in f.read().decode(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    return out


class Fleet:
    """Servers on one store URL, each started on a free port of 127.0.0.1
    with its own arguments and log, killed or stopped by its PID."""

    def __init__(self, name, url):
        self.name, self.url = name, url
        self.procs, self.ports, self.logs, self.alive = [], [], [], []
        self.lock = threading.Lock()

    def log_path(self, i):
        return os.path.join(TMP, "%s-server-%d.log" % (self.name, i))

    def _spawn(self, args):
        i = len(self.procs)
        log = open(self.log_path(i), "wb")
        p = subprocess.Popen([PIPETRACKD, "--listen", "127.0.0.1:0", "--db", self.url, "--quiet"]
                             + list(args), stdout=subprocess.PIPE, stderr=log,
                             stdin=subprocess.DEVNULL)
        with self.lock:
            self.procs.append(p)
            self.ports.append(None)
            self.logs.append(log)
            self.alive.append(True)
        return i

    def _wait_listening(self, i, deadline):
        """The port server i printed (its first stdout line), by deadline."""
        p = self.procs[i]
        ready = select.select([p.stdout], [], [], max(0.0, deadline - time.time()))[0]
        line = p.stdout.readline().decode() if ready else ""
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if not m:
            try:
                p.wait(timeout=5)  # its stdout closed: its exit status follows
            except subprocess.TimeoutExpired:
                pass
            with open(self.log_path(i), "rb") as f:
                tail = b" | ".join(f.read().splitlines()[-3:]).decode(errors="replace")
            raise AssertionError("%s server %d did not start within %d s (exit status %s): %s"
                                 % (self.name, i, START_TIMEOUT, p.poll(), tail or repr(line)))
        self.ports[i] = int(m.group(1))

    def start(self, args):
        i = self._spawn(args)
        self._wait_listening(i, time.time() + START_TIMEOUT)
        return i

    def start_together(self, args_of, n):
        """n servers started at the same moment (all spawned, then each
        waited for): args_of(i) gives server i's arguments."""
        first = len(self.procs)
        for k in range(n):
            self._spawn(args_of(first + k))
        deadline = time.time() + START_TIMEOUT
        for k in range(n):
            self._wait_listening(first + k, deadline)

    def live(self):
        with self.lock:
            return [i for i, a in enumerate(self.alive) if a]

    def kill(self, i):
        with self.lock:
            self.alive[i] = False
        stop(self.procs[i], self.logs[i], signal.SIGKILL)

    def stop_all(self):
        """SIGTERM to each live server; each must exit 0."""
        codes = {}
        for i in self.live():
            with self.lock:
                self.alive[i] = False
            try:
                codes[i] = stop(self.procs[i], self.logs[i])
            except subprocess.TimeoutExpired:
                self.procs[i].kill()
                codes[i] = "no exit within 60 s"
        eq(set(codes.values()), {0}, "%s: every server exits 0 on SIGTERM: %r" % (self.name, codes))

    def kill_all(self):
        """Whatever still runs (after a failure): SIGKILL, by PID."""
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=30)
        for log in self.logs:
            log.close()

    def call(self, i, method, path, body=None, timeout=HTTP_TIMEOUT):
        """(status, parsed body) of one call to server i."""
        st, _, doc = request(self.ports[i], method, path, body, timeout=timeout)
        return st, doc

    def metrics(self, i):
        st, _, text = request(self.ports[i], "GET", "/metrics", raw=True, timeout=HTTP_TIMEOUT)
        eq(st, 200, "%s: /metrics of server %d" % (self.name, i))
        out = {}
        for line in text.decode().splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                out[k] = float(v)
        return out


def send(fleet, i, method, path, body, outcomes, what):
    """One request to server i, retried (the same body: event ids make a
    track idempotent) after a 503 or a lost connection, within
    EVENT_BUDGET_S; (status, doc) of the first other answer. outcomes
    counts every answer by kind."""
    deadline = time.time() + EVENT_BUDGET_S
    for attempt in range(1000):
        check(time.time() < deadline, "%s: answered within %d s (%r)" % (what, EVENT_BUDGET_S,
                                                                         dict(outcomes)))
        try:
            st, doc = fleet.call(i, method, path, body)
        except (OSError, http.client.HTTPException) as e:
            outcomes["connection failed (%s)" % type(e).__name__] += 1
            time.sleep(0.1)
            continue
        code = doc.get("error", {}).get("code", "") if isinstance(doc, dict) else ""
        outcomes[("%d %s" % (st, code)).strip()] += 1
        if st != 503:
            return st, doc
        time.sleep(min(0.05 * (attempt + 1), 0.5))


def burst(fleet, jobs, threads, seed, what):
    """Runs jobs (method, path, body, wanted statuses) from `threads`
    threads at once, each to a random live server; every job must get a
    wanted status. Returns (answers by kind, [(job, server, doc)])."""
    outcomes = collections.Counter()
    done, errors = [], []
    lock = threading.Lock()

    def worker(t):
        rnd = random.Random(seed * 1000 + t)
        local = collections.Counter()
        try:
            for job in jobs[t::threads]:
                method, path, body, wanted = job
                i = rnd.choice(fleet.live())
                st, doc = send(fleet, i, method, path, body, local, what)
                if st not in wanted:
                    raise AssertionError("%s: %s %s on server %d: %d %r (wanted %r)"
                                         % (what, method, path, i, st, doc, wanted))
                with lock:
                    done.append((job, i, doc))
        except Exception as e:  # reported by the caller
            with lock:
                errors.append(e)
        finally:
            with lock:
                outcomes.update(local)

    ts = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(threads)]
    for t in ts:
        t.start()
    deadline = time.time() + 300
    for t in ts:
        t.join(timeout=max(0.1, deadline - time.time()))
    check(not any(t.is_alive() for t in ts), "%s: finished within 300 s" % what)
    if errors:
        raise errors[0]
    eq(len(done), len(jobs), "%s: every request answered" % what)
    return outcomes, done


class Receiver:
    """A webhook receiver on a free port of 127.0.0.1 that records every
    delivery. Server i is given the URL .../hook/i, so each delivery names
    its sender. hold(issue_id): the first delivery of that issue gets no
    answer until release()."""

    def __init__(self):
        rec = self
        self.got = []  # {"t", "server", "action", "issue", "body"}
        self.lock = threading.Lock()
        self.hold_id = None
        self.held = threading.Event()    # the held delivery arrived
        self.release_ev = threading.Event()

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                t = time.time()
                try:
                    doc = json.loads(body)
                except ValueError:
                    doc = {}
                m = re.match(r"/hook/(\d+)$", self.path)
                d = {"t": t, "server": int(m.group(1)) if m else self.path,
                     "action": doc.get("action"), "issue": doc.get("issue") or {}, "body": body,
                     "delivery": self.headers.get("X-Pipetrack-Delivery"),
                     "attempt": self.headers.get("X-Pipetrack-Attempt")}
                with rec.lock:
                    rec.got.append(d)
                    hold = rec.hold_id is not None and d["issue"].get("id") == rec.hold_id \
                        and not rec.held.is_set()
                    if hold:
                        rec.held_delivery = d
                        rec.held.set()
                if hold:
                    rec.release_ev.wait(60)
                    self.close_connection = True
                    return  # no answer: the sender sees the connection closed (if alive)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, i):
        return "http://127.0.0.1:%d/hook/%d" % (self.port, i)

    def deliveries(self):
        with self.lock:
            return list(self.got)

    def close(self):
        self.release_ev.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def outbox_drained(fleet, what):
    """Waits until the outbox table is empty and every live server's
    pipetrack_webhook_outbox gauge says 0 (it is read at each poll, 250 ms)."""
    wait_for(lambda: psql(fleet.url, "SELECT count(*) FROM outbox") == [["0"]],
             "%s: the outbox table empty" % what)
    wait_for(lambda: all(fleet.metrics(i)["pipetrack_webhook_outbox"] == 0 for i in fleet.live()),
             "%s: pipetrack_webhook_outbox 0 on every server" % what)


# ---- 1. migrations once ---------------------------------------------------------------------

MIGRATE_ROUNDS = 3
TABLES = {"sessions", "events", "snapshots", "issues", "issue_sessions", "outbox", "rollups",
          "rollup_todo", "marks", "schema_version"}


def schema_version():
    """This build's schema version, as src/store/pg_conn.c defines it."""
    with open(os.path.join(ROOT, "src/store/pg_conn.c")) as f:
        m = re.search(r"#define SCHEMA_VERSION (\d+)", f.read())
    check(m, "src/store/pg_conn.c defines SCHEMA_VERSION")
    return m.group(1)


def test_migrations_once():
    """Three servers started at the same moment on a new, empty database
    (three times): all come up, schema_version holds one row with this
    build's version, the tables are there, and tracking through each works;
    the cluster's log shows no error meanwhile."""
    needs_pg()
    want = schema_version()
    cluster_log = os.path.join(CLUSTER_DIR, "log") if CLUSTER_DIR else None
    if cluster_log and not os.access(cluster_log, os.R_OK):
        cluster_log = None
    log_from = os.path.getsize(cluster_log) if cluster_log else 0
    for r in range(MIGRATE_ROUNDS):
        fleet = Fleet("migrate%d" % r, pg_database(PG_URL, "work_migrate_%d" % r))
        try:
            eq(psql(fleet.url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"),
               [["0"]], "round %d: the database starts empty" % r)
            t0 = time.time()
            fleet.start_together(lambda i: [], SERVERS)
            up = time.time() - t0
            eq(psql(fleet.url, "SELECT version FROM schema_version"), [[want]],
               "round %d: schema_version holds one row, version %s" % (r, want))
            tables = {row[0] for row in psql(
                fleet.url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
            eq(tables, TABLES, "round %d: the tables" % r)
            for i in fleet.live():
                ev = {"id": "m%d_%d" % (r, i), "session_id": "mig_%d" % i,
                      "pipeline_type": "checkout_digital", "step": "checkout_started",
                      "status": "success"}
                st, doc = fleet.call(i, "POST", "/api/pipeline/track", {"event": ev})
                eq((st, doc["event"]["seq"]), (201, 0),
                   "round %d: track through server %d" % (r, i))
                other = (i + 1) % SERVERS
                st, doc = fleet.call(other, "GET", "/api/pipeline/status?session_id=mig_%d" % i)
                eq((st, doc["event_count"]), (200, 1),
                   "round %d: server %d reads what server %d stored" % (r, other, i))
                eq(fleet.call(i, "GET", "/readyz")[0], 200, "round %d: server %d ready" % (r, i))
            fleet.stop_all()
            for i in range(SERVERS):
                bad = [l for l in log_lines(fleet.log_path(i)) if l.get("level") == "error"]
                eq(bad, [], "round %d: error lines in server %d's log" % (r, i))
        finally:
            fleet.kill_all()
        print("  round %d: 3 servers up together in %.2f s; schema_version [%s]; 10 tables; "
              "tracking through each works" % (r, up, want), flush=True)
    if cluster_log:
        with open(cluster_log, "rb") as f:
            f.seek(log_from)
            text = f.read().decode(errors="replace")
        errors = [l for l in text.splitlines() if re.search(r"\b(ERROR|FATAL|PANIC):", l)]
        eq(errors, [], "the PostgreSQL log while the servers migrated")
        print("  the PostgreSQL log has no ERROR line from these starts", flush=True)
    else:
        print("  PostgreSQL's log not read (PT_PG_CLUSTER_DIR unset or its log unreadable)",
              flush=True)


# ---- 2. webhooks delivered once --------------------------------------------------------------

WEBHOOK_ISSUES = 30
WEBHOOK_THREADS = 6


def test_webhooks_once():
    """Three servers deliver one outbox: WEBHOOK_ISSUES issues go through
    four rounds (a failure each: opened; another: updated; resolved; another:
    reopened), each round a burst spread over the servers. The payload carries
    no delivery id, so each round changes each issue once: a delivery is
    named by (issue id, action, count), and each must arrive exactly once;
    the outbox ends empty."""
    needs_pg()
    rcv = Receiver()
    fleet = Fleet("webhooks", pg_database(PG_URL, "work_webhooks"))
    try:
        fleet.start_together(lambda i: ["--webhook-url", rcv.url(i), "--webhook-coalesce", "300",
                                        "--webhook-retry", "500"], SERVERS)
        codes = ["once_%02d" % k for k in range(WEBHOOK_ISSUES)]
        ids = {issue_id("checkout_digital/payment_initiated/" + c): c for c in codes}
        rounds = [
            ("opened", 1, "open",
             [("POST", "/api/pipeline/track", {"event": failure("o_%s" % c, "wh_a_%s" % c, c)},
               (201,)) for c in codes]),
            ("updated", 2, "open",
             [("POST", "/api/pipeline/track", {"event": failure("u_%s" % c, "wh_b_%s" % c, c)},
               (201,)) for c in codes]),
            ("resolved", 2, "resolved",
             [("POST", "/api/pipeline/issues/%s/resolve" % iid, {}, (200,)) for iid in ids]),
            ("reopened", 3, "open",
             [("POST", "/api/pipeline/track", {"event": failure("r_%s" % c, "wh_c_%s" % c, c)},
               (201,)) for c in codes]),
        ]
        want = collections.Counter()
        for n, (action, count, status, jobs) in enumerate(rounds):
            outcomes, _ = burst(fleet, jobs, WEBHOOK_THREADS, SEED + n, "round %s" % action)
            for iid in ids:
                want[(iid, action, count, status)] += 1
            wait_for(lambda: len(rcv.deliveries()) >= sum(want.values()),
                     "round %s: %d deliveries" % (action, sum(want.values())))
            outbox_drained(fleet, "round %s" % action)
            got = rcv.deliveries()
            by = collections.Counter(d["server"] for d in got[sum(want.values()) - len(ids):])
            print("  round %s: %d requests (answers %s), deliveries by server %s"
                  % (action, len(jobs), sorted(outcomes.items()), sorted(by.items())), flush=True)
        got = rcv.deliveries()
        seen = collections.Counter((d["issue"].get("id"), d["action"], d["issue"].get("count"),
                                    d["issue"].get("status")) for d in got)
        dups = {k: n for k, n in seen.items() if n > 1}
        eq(dups, {}, "deliveries that arrived more than once (issue, action, count, status)")
        eq(seen, want, "every delivery arrived exactly once")
        for iid in ids:
            eq([d["action"] for d in got if d["issue"].get("id") == iid],
               ["opened", "updated", "resolved", "reopened"], "%s's deliveries in order" % iid)
        delivered = failed = 0
        for i in fleet.live():
            m = fleet.metrics(i)
            delivered += m['pipetrack_webhook_deliveries_total{result="delivered"}']
            failed += m['pipetrack_webhook_deliveries_total{result="failed"}']
            eq(m["pipetrack_webhook_outbox"], 0, "server %d: pipetrack_webhook_outbox" % i)
        eq((delivered, failed), (len(got), 0),
           "deliveries counted in /metrics over the servers (delivered, failed)")
        senders = collections.Counter(d["server"] for d in got)
        print("  %d deliveries, each exactly once; sent by server %s; outbox empty"
              % (len(got), sorted(senders.items())), flush=True)
        fleet.stop_all()
    finally:
        fleet.kill_all()
        rcv.close()


# ---- 3. a claimer killed mid-delivery --------------------------------------------------------

LEASE_TIMEOUT_MS = 2000
LEASE_S = LEASE_TIMEOUT_MS / 1000 + 5  # a claim leases the delivery for the timeout + 5 s


def test_webhook_claimer_killed():
    """The receiver holds a delivery unanswered while the server that sent it
    is killed (SIGKILL); once its lease runs out another server sends it; then
    the outbox is empty."""
    needs_pg()
    rcv = Receiver()
    fleet = Fleet("lease", pg_database(PG_URL, "work_lease"))
    try:
        fleet.start_together(lambda i: ["--webhook-url", rcv.url(i), "--webhook-timeout",
                                        str(LEASE_TIMEOUT_MS), "--webhook-retry", "500"], SERVERS)
        iid = issue_id("checkout_digital/payment_initiated/lease_probe")
        rcv.hold_id = iid
        st, _ = fleet.call(0, "POST", "/api/pipeline/track",
                           {"event": failure("lease_1", "lease_s", "lease_probe")})
        eq(st, 201, "the failure tracked")
        check(rcv.held.wait(DRAIN_TIMEOUT), "the delivery reached the receiver within %d s"
              % DRAIN_TIMEOUT)
        first = rcv.held_delivery
        victim = first["server"]
        fleet.kill(victim)
        killed_after = time.time() - first["t"]
        print("  server %d sent the delivery (held unanswered); killed %.3f s after it arrived "
              "(its --webhook-timeout: %.1f s)" % (victim, killed_after, LEASE_TIMEOUT_MS / 1000),
              flush=True)
        mine = [l for l in log_lines(fleet.log_path(victim)) if l.get("issue_id") == iid]
        eq(mine, [], "the killed server logged no outcome of its delivery (killed mid-delivery)")
        again = wait_for(lambda: [d for d in rcv.deliveries()
                                  if d is not first and d["issue"].get("id") == iid],
                         "the delivery sent again by another server", timeout=LEASE_S + 30)[0]
        gap = again["t"] - first["t"]
        print("  server %d sent it again %.2f s after the first arrival (lease %.0f s)"
              % (again["server"], gap, LEASE_S), flush=True)
        check(again["server"] != victim and again["server"] in fleet.live(),
              "sent again by a live server, not %d: %r" % (victim, again["server"]))
        # the same delivery: the issue is unchanged (the report is made when sent)
        eq((again["action"], again["issue"]), ("opened", first["issue"]),
           "the delivery sent again (action, issue)")
        eq(again["issue"].get("count"), 1, "the issue's count")
        eq((again["delivery"], first["attempt"], again["attempt"]), (first["delivery"], "1", "2"),
           "the same delivery id, its second attempt")
        # a lower bound: a slow machine lengthens the gap; only the killed
        # server's time from its claim to its POST shortens it (2 s allowed)
        check(gap >= LEASE_S - 2, "not sent again before the lease ran out: %.2f s after the "
              "first arrival, the lease is %.0f s" % (gap, LEASE_S))
        outbox_drained(fleet, "after the redelivery")
        got = [d for d in rcv.deliveries() if d["issue"].get("id") == iid]
        eq([(d["server"], d["action"]) for d in got],
           [(victim, "opened"), (again["server"], "opened")],
           "the delivery arrived twice: from the killed server, then once from another")
        lines = [l for l in log_lines(fleet.log_path(again["server"]))
                 if l.get("issue_id") == iid]
        eq([(l.get("msg"), l.get("attempt")) for l in lines], [("webhook delivered", 2)],
           "server %d's log: delivered, as the second attempt" % again["server"])
        fleet.stop_all()
    finally:
        fleet.kill_all()
        rcv.close()


# ---- 4. a stall counted once -----------------------------------------------------------------

STALLED = 40
COMPLETED = 5


def test_stall_counted_once():
    """Sessions of a pipeline whose stall_after_s is 1 left incomplete, three
    servers sweeping every second: the pipeline's stall issue counts each
    stalled session once (count and sessions_affected), whichever server
    found it, and completed sessions not at all."""
    needs_pg()
    path = os.path.join(TMP, "stall-pipelines.json")
    with open(path, "w") as f:
        json.dump({"pipelines": [{"type": "stall_probe", "steps": ["begin", "finish"],
                                  "optional": [], "stall_after_s": 1}]}, f)
    fleet = Fleet("stall", pg_database(PG_URL, "work_stall"))
    try:
        fleet.start_together(lambda i: ["--pipelines", path, "--sweep-interval", "1"], SERVERS)
        ev = lambda sid, step, k: {"id": "%s_%d" % (sid, k), "session_id": sid,
                                   "pipeline_type": "stall_probe", "step": step,
                                   "status": "success"}
        stalled = ["st_%02d" % k for k in range(STALLED)]
        done = ["ok_%02d" % k for k in range(COMPLETED)]
        jobs = [("POST", "/api/pipeline/track", {"event": ev(s, "begin", 0)}, (201,))
                for s in stalled + done]
        jobs += [("POST", "/api/pipeline/track", {"event": ev(s, "finish", 1)}, (201,))
                 for s in done]
        # the completed sessions' second events after their first
        outcomes, _ = burst(fleet, jobs[:STALLED + COMPLETED], 6, SEED, "stall sessions")
        outcomes2, _ = burst(fleet, jobs[STALLED + COMPLETED:], 3, SEED + 1, "completions")
        tracked = time.time()
        iid = issue_id("stall_probe/*/stalled")

        def affected():
            st, doc = fleet.call(fleet.live()[0], "GET", "/api/pipeline/issues/" + iid)
            return st == 200 and doc["sessions_affected"] >= STALLED
        wait_for(affected, "%d sessions counted stalled" % STALLED, timeout=DRAIN_TIMEOUT)
        counted_in = time.time() - tracked
        time.sleep(3.5)  # three more sweeps by every server
        for i in fleet.live():
            st, doc = fleet.call(i, "GET", "/api/pipeline/issues/" + iid)
            eq(st, 200, "server %d: the stall issue" % i)
            eq((doc["fingerprint"], doc["count"], doc["sessions_affected"]),
               ("stall_probe/*/stalled", STALLED, STALLED),
               "server %d: the stall issue counts each stalled session once" % i)
            eq(sorted(s["session_id"] for s in doc["sessions"]), stalled,
               "server %d: the stall issue's sessions" % i)
            st, doc = fleet.call(i, "GET", "/api/pipeline/issues?pipeline_type=stall_probe")
            eq([(x["id"], x["count"], x["sessions_affected"]) for x in doc["items"]],
               [(iid, STALLED, STALLED)], "server %d: GET /api/pipeline/issues" % i)
        rows = psql(fleet.url, "SELECT count(*), count(DISTINCT session_id) FROM issue_sessions"
                               " WHERE issue_id = '%s'" % iid)
        eq(rows, [[str(STALLED), str(STALLED)]], "issue_sessions rows of the stall issue")
        recorded = {}
        for i in fleet.live():
            n = [l["sessions"] for l in log_lines(fleet.log_path(i))
                 if l.get("msg") == "stalled sessions counted"]
            recorded[i] = sum(n)
        eq(sum(recorded.values()), STALLED,
           "stalled sessions the servers logged as counted, summed: %r" % recorded)
        print("  %d stalled (+%d completed) sessions through 3 servers (answers %s); counted "
              "within %.1f s; count %d, sessions_affected %d after 3 more sweeps; counted by "
              "server %s" % (STALLED, COMPLETED, sorted((outcomes + outcomes2).items()), counted_in,
                             STALLED, STALLED, sorted(recorded.items())), flush=True)
        fleet.stop_all()
    finally:
        fleet.kill_all()


# ---- 5. issue counts exact, 6. the issue stream across servers --------------------------------

COUNT_SESSIONS = 40
COUNT_FAILURES = 400
COUNT_THREADS = 8
STREAM_ROUNDS = 6


def test_issue_counts_and_stream():
    """COUNT_FAILURES failures of one issue over COUNT_SESSIONS sessions, from
    COUNT_THREADS threads each to a random server: count and
    sessions_affected exact on every server. Then an issue stream on one
    server sees an issue opened or updated through another within
    STREAM_MAX_S."""
    needs_pg()
    fleet = Fleet("counts", pg_database(PG_URL, "work_counts"))
    try:
        fleet.start_together(lambda i: [], SERVERS)
        rnd = random.Random(SEED)
        jobs = [("POST", "/api/pipeline/track",
                 {"event": failure("cf_%d" % k, "cs_%02d" % (k % COUNT_SESSIONS), "count_probe")},
                 (200, 201)) for k in range(COUNT_FAILURES)]
        rnd.shuffle(jobs)
        t0 = time.time()
        outcomes, done = burst(fleet, jobs, COUNT_THREADS, SEED, "failures")
        took = time.time() - t0
        eq(len({doc["event"]["id"] for _, _, doc in done}), COUNT_FAILURES,
           "every failure acknowledged")
        iid = issue_id("checkout_digital/payment_initiated/count_probe")
        for i in fleet.live():
            st, doc = fleet.call(i, "GET", "/api/pipeline/issues/" + iid)
            eq((st, doc["count"], doc["sessions_affected"]), (200, COUNT_FAILURES, COUNT_SESSIONS),
               "server %d: the issue's (status, count, sessions_affected)" % i)
            eq(len(doc["sessions"]), COUNT_SESSIONS, "server %d: the issue's sessions" % i)
        retries = sum(fleet.metrics(i).get("pipetrack_store_commit_retries_total", 0)
                      for i in fleet.live())
        print("  %d failures over %d sessions from %d threads in %.1f s (answers %s; commit "
              "retries %d): count %d, sessions_affected %d on every server"
              % (COUNT_FAILURES, COUNT_SESSIONS, COUNT_THREADS, took, sorted(outcomes.items()),
                 retries, COUNT_FAILURES, COUNT_SESSIONS), flush=True)
        r = subprocess.run([PIPETRACK, "--db", fleet.url, "verify", "--all"], capture_output=True,
                           text=True, timeout=300)
        eq((r.returncode, r.stdout.strip()),
           (0, "%d sessions verified, 0 mismatched" % COUNT_SESSIONS),
           "pipetrack verify --all: " + r.stderr.strip())
        stream_rounds(fleet)
        fleet.stop_all()
    finally:
        fleet.kill_all()


def stream_rounds(fleet):
    """Each round: an issue stream held on server b, a failure tracked through
    server a; even rounds open a new issue, odd ones update the last one."""
    live = fleet.live()
    delays = []
    count = 0
    for n in range(STREAM_ROUNDS):
        a, b = live[n % len(live)], live[(n + 1) % len(live)]
        if n % 2 == 0:
            code, count = "stream_%d" % n, 0
        count += 1
        iid = issue_id("checkout_digital/payment_initiated/" + code)
        c = http.client.HTTPConnection("127.0.0.1", fleet.ports[b], timeout=HTTP_TIMEOUT)
        try:
            c.request("GET", "/api/pipeline/issues/stream")
            sock = c.sock  # the stream's socket: its timeout bounds each read
            r = c.getresponse()
            eq((r.status, r.getheader("Content-Type")), (200, "text/event-stream"),
               "issues stream on server %d" % b)
            ev = next_sse(r)
            eq(ev.get("event"), "issues", "the stream starts with the open issues")
            before = {x["id"]: x["count"] for x in json.loads(ev["data"])["items"]}
            eq(before.get(iid, 0), count - 1, "round %d: %s before the failure" % (n, code))
            # from the track's request: the change may come before its answer
            sent = time.time()
            st, _ = fleet.call(a, "POST", "/api/pipeline/track",
                               {"event": failure("sf_%d" % n, "ss_%d" % n, code)})
            eq(st, 201, "round %d: track through server %d" % (n, a))
            deadline = sent + 2.5 * STREAM_MAX_S
            seen = None
            try:
                while seen is None:
                    sock.settimeout(max(0.01, deadline - time.time()))
                    ev = next_sse(r)
                    doc = json.loads(ev["data"])
                    items = doc["items"] if ev.get("event") == "issues" else [doc]
                    if any(x.get("id") == iid and x.get("count") == count for x in items):
                        seen = time.time() - sent
            except TimeoutError:
                raise AssertionError(
                    "issues stream on server %d: no change of %s (count %d) within %.1f s of its "
                    "track on server %d" % (b, iid, count, 2.5 * STREAM_MAX_S, a)) from None
        finally:
            c.close()
        delays.append(seen)
        print("  issues stream on server %d saw %s %s through server %d %.3f s after its "
              "request" % (b, code, "opened" if count == 1 else "updated", a, seen), flush=True)
    check(max(delays) <= STREAM_MAX_S, "an issue stream sees another server's change within "
          "%.1f s: %r" % (STREAM_MAX_S, ["%.3f" % d for d in delays]))


# ---- 7. /readyz while the database is down ---------------------------------------------------

DOWN_S = 3
READY_SERVERS = 2


def test_readyz_while_down():
    """While the database is down (cluster.sh restart DIR DOWN_S), /readyz
    on each server answers 503 storage_unavailable; after, 200 again and
    tracking works, the same processes (not restarted)."""
    needs_pg()
    check(CLUSTER_DIR, "PT_PG_CLUSTER_DIR names the cluster to restart (tests/pg/cluster.sh)")
    fleet = Fleet("readyz", pg_database(PG_URL, "work_readyz"))
    polls = []  # (time, server, status or "error", code)
    stop_polling = threading.Event()

    def poller(i):
        while not stop_polling.is_set():
            t = time.time()
            try:
                st, doc = fleet.call(i, "GET", "/readyz", timeout=HTTP_TIMEOUT)
                code = doc.get("error", {}).get("code") if isinstance(doc, dict) else None
                polls.append((t, i, st, code))
            except (OSError, http.client.HTTPException) as e:
                polls.append((t, i, "error", "%s: %s" % (type(e).__name__, e)))
            stop_polling.wait(0.1)

    ts = []
    try:
        fleet.start_together(lambda i: [], READY_SERVERS)
        pids = {i: fleet.procs[i].pid for i in fleet.live()}
        for i in fleet.live():
            eq(fleet.call(i, "GET", "/readyz"), (200, {"status": "ready"}),
               "server %d ready before" % i)
        ts = [threading.Thread(target=poller, args=(i,), daemon=True) for i in fleet.live()]
        for t in ts:
            t.start()
        time.sleep(0.5)
        t_down = time.time()
        r = subprocess.run(["bash", os.path.join(ROOT, "tests/pg/cluster.sh"), "restart",
                            CLUSTER_DIR, str(DOWN_S)], capture_output=True, text=True, timeout=120)
        t_up = time.time()
        eq(r.returncode, 0, "cluster.sh restart: " + r.stderr.strip())
        for i in fleet.live():
            wait_for(lambda: any(p[1] == i and p[0] >= t_up and p[2] == 200 for p in polls),
                     "server %d ready again after the restart" % i)
        stop_polling.set()
        for t in ts:
            t.join(timeout=HTTP_TIMEOUT + 5)
        check(not any(t.is_alive() for t in ts), "the pollers stopped")
        for i in fleet.live():
            mine = [p for p in polls if p[1] == i]
            kinds = collections.Counter((p[2], p[3]) for p in mine)
            bad = {k: n for k, n in kinds.items() if k not in ((200, None),
                                                               (503, "storage_unavailable"))}
            eq(bad, {}, "server %d: /readyz answers other than 200 and 503 storage_unavailable" % i)
            down = [p for p in mine if p[2] == 503]
            check(down, "server %d: /readyz answered 503 storage_unavailable while the database "
                  "was down (%r)" % (i, sorted(kinds.items())))
            check(all(t_down <= p[0] <= t_up for p in down),
                  "server %d: the 503s came while the database was down" % i)
            back = min(p[0] for p in mine if p[0] >= t_up and p[2] == 200)
            print("  server %d: /readyz %d polls: %s; first 503 %.2f s into the restart, ready "
                  "again %.2f s after it (restart took %.1f s, %d s down)"
                  % (i, len(mine), sorted(kinds.items()), down[0][0] - t_down, back - t_up,
                     t_up - t_down, DOWN_S), flush=True)
            eq((fleet.procs[i].poll(), fleet.procs[i].pid), (None, pids[i]),
               "server %d still runs, the same process" % i)
            ev = {"id": "after_%d" % i, "session_id": "ready_%d" % i,
                  "pipeline_type": "checkout_digital", "step": "checkout_started",
                  "status": "success"}
            st, doc = fleet.call(i, "POST", "/api/pipeline/track", {"event": ev})
            eq(st, 201, "server %d tracks after the restart: %r" % (i, doc))
        fleet.stop_all()
    finally:
        stop_polling.set()
        fleet.kill_all()


TESTS = [test_migrations_once, test_webhooks_once, test_webhook_claimer_killed,
         test_stall_counted_once, test_issue_counts_and_stream, test_readyz_while_down]

if __name__ == "__main__":
    print("scaleout_work: logs in %s, seed %d" % (TMP, SEED), flush=True)
    t_all = time.time()
    try:
        run_tests(TESTS, ONLY)
    finally:
        print("scaleout_work: %.1f s" % (time.time() - t_all), flush=True)
