"""crash.py - kill -9 under mixed load, again and again, on one store: every
acknowledged change must be there after each restart.

Each round starts pipetrackd on the same store (--auto-snapshot off; some
requests ask for one), puts it under load from 6 client threads for a
moment — single tracks, batches of 20, tracks with an automatic registry
entry, failures that open issues announced by webhook to a receiver in this
process, and redactions — then kills it with SIGKILL while requests are in
flight. The next round's server checks what the killed one acknowledged:
every acknowledged event at the seq and link it was acknowledged with,
every acknowledged redaction still redacted, every chain verifying; and
after the last round, every issue that was acknowledged (its failure
stored) announced at least once by webhook. Prints per round
acknowledged / present / lost.

Usage: crash.py PIPETRACKD TMPDIR [KILLS]   (bench/crash.sh runs 20; make
test runs 3). Bounded: each round's load stops at the kill (at most
LOAD_S seconds), every request has a timeout, the rounds are counted."""
import http.client
import http.server
import json
import os
import random
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, eq, fresh_store, launch, request  # noqa: E402

PTD, TMP = sys.argv[1], sys.argv[2]
KILLS = int(sys.argv[3]) if len(sys.argv) > 3 else 3
LOAD_S = float(os.environ.get("PT_CRASH_LOAD_S", "1.5"))  # load before each kill (plus up to 1 s)
THREADS = 6
TOKEN = "crash-token"
STEPS = ["checkout_started", "payment_initiated", "payment_confirmed", "checkout_completed"]
os.makedirs(TMP, exist_ok=True)


class Receiver:
    """Webhook deliveries, counted by issue id."""

    def __init__(self):
        self.lock = threading.Lock()
        self.by_issue = {}
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(n))
                with outer.lock:
                    iid = body["issue"]["id"]
                    outer.by_issue[iid] = outer.by_issue.get(iid, 0) + 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()


class Ledger:
    def __init__(self):
        self.lock = threading.Lock()
        self.events = {}      # event id -> (session, seq, link, round)
        self.round = 0
        self.redacted = set()  # event ids whose redaction was acknowledged
        self.issue_ids = set()  # issues whose failures were acknowledged


def post(port, path, body, timeout=10):
    h = {"Content-Type": "application/json", "Authorization": "Bearer " + TOKEN}
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("POST", path, json.dumps(body), h)
        r = c.getresponse()
        return r.status, json.loads(r.read() or b"null")
    finally:
        c.close()


def ev(sid, k, eid, fail=False):
    e = {"id": eid, "session_id": sid, "pipeline_type": "checkout_digital",
         "step": STEPS[k % 4], "status": "failure" if fail else "success", "input": {"k": k}}
    if fail:
        e["error"] = {"code": "card_declined_%d" % (k % 3), "message": "declined"}
    return e


def worker(port, led, rnd_seed, rnd_tag, stop):
    """One client: its own sessions, so its seqs are known; stops at the
    first connection error (the server was killed)."""
    rnd = random.Random(rnd_seed)
    n = 0
    mine = []  # this thread's single events acknowledged: what it redacts
    try:
        while not stop.is_set() and n < 5000:
            sid = "%s_%d" % (rnd_tag, n // 8)
            kind = rnd.random()
            if kind < 0.45:  # one event
                e = ev(sid, n, "%s_e%d" % (rnd_tag, n), fail=rnd.random() < 0.1)
                st, d = post(port, "/api/pipeline/track",
                             {"event": e, "auto_snapshot": rnd.random() < 0.3})
                if st in (200, 201):
                    with led.lock:
                        led.events[e["id"]] = (sid, d["event"]["seq"], d["event"]["link"],
                                               led.round)
                        if e["status"] == "failure":
                            led.issue_ids.add(e["error"]["code"])
                    mine.append((e["id"], sid))
                n += 1
            elif kind < 0.85:  # a batch of 20 over 5 sessions
                evs = [ev("%s_b%d_%d" % (rnd_tag, n, i % 5), i, "%s_b%d_%d" % (rnd_tag, n, i))
                       for i in range(20)]
                st, d = post(port, "/api/pipeline/track/batch", {"events": evs})
                if st == 200:
                    with led.lock:
                        for e, res in zip(evs, d["results"]):
                            if res.get("status") in (200, 201):
                                led.events[e["id"]] = (e["session_id"], res["event"]["seq"],
                                                       res["event"]["link"], led.round)
                n += 20
            else:  # redact an event acknowledged earlier in this thread
                if mine:
                    eid, sid = rnd.choice(mine)
                    st, d = post(port, "/api/pipeline/redact",
                                 {"session_id": sid, "event_ids": [eid], "actor": "crash"})
                    if st == 200:
                        with led.lock:
                            led.redacted.add(eid)
                n += 1
    except (OSError, http.client.HTTPException, ValueError):
        return  # the server was killed mid-request


def start(url, rec, tag):
    log = open(os.path.join(TMP, "crash-%s.log" % tag), "w")
    p, port = launch(PTD, ["--db", url, "--quiet", "--api-token", TOKEN,
                           "--webhook-url", "http://127.0.0.1:%d/hook" % rec.port,
                           "--webhook-retry", "100", "--webhook-coalesce", "100"], log)
    return p, port, log


def check_store(port, led, only_last=False):
    """Every acknowledged change present: (acknowledged, present). Between
    kills the sessions of the round just killed are checked; after the last
    one, every session of every round."""
    with led.lock:
        events = {e: v for e, v in led.events.items() if not only_last or v[3] == led.round}
        redacted = set(led.redacted)
    by_session = {}
    for eid, (sid, seq, link, _) in events.items():
        by_session.setdefault(sid, []).append((eid, seq, link))
    present = 0
    for sid, evs in by_session.items():
        st, _, doc = request(port, "GET", "/api/pipeline/status?session_id=%s&events_limit=1000"
                             % sid, headers={"Authorization": "Bearer " + TOKEN})
        eq(st, 200, "session %s stored" % sid)
        stored = {e["seq"]: e for e in doc["events"]}
        eq(sorted(stored), list(range(doc["event_count"])), "seqs of %s gap-free" % sid)
        for eid, seq, link in evs:
            s = stored.get(seq)
            if s and s["id"] == eid and s["link"] == link:
                present += 1
            if eid in redacted:
                eq((s or {}).get("redacted"), True, "acknowledged redaction of %s kept" % eid)
        st, _, v = request(port, "GET", "/api/pipeline/verify?session_id=" + sid,
                           headers={"Authorization": "Bearer " + TOKEN})
        eq((st, v.get("ok")), (200, True), "%s verifies" % sid)
    return len(events), present


def main():
    rec = Receiver()
    url = fresh_store(TMP, "crash")
    led = Ledger()
    t_all = time.time()
    total_lost = 0
    for k in range(KILLS):
        p, port, log = start(url, rec, "r%d" % k)
        if k:
            acked, present = check_store(port, led, only_last=True)
            lost = acked - present
            total_lost += lost
            print("after kill %d: acknowledged %d (that round), present %d, lost %d"
                  % (k, acked, present, lost), flush=True)
        led.round = k
        stop = threading.Event()
        ts = [threading.Thread(target=worker, args=(port, led, k * 100 + w, "k%dw%d" % (k, w), stop))
              for w in range(THREADS)]
        for t in ts:
            t.start()
        time.sleep(LOAD_S + random.random())
        p.send_signal(signal.SIGKILL)
        eq(p.wait(timeout=60), -signal.SIGKILL, "killed")
        p.stdout.close()
        log.close()
        stop.set()
        for t in ts:
            t.join(timeout=60)
    p, port, log = start(url, rec, "final")
    try:
        acked, present = check_store(port, led)
        lost = acked - present
        total_lost += lost
        print("after kill %d: acknowledged %d (every round), present %d, lost %d, redactions kept %d"
              % (KILLS, acked, present, lost, len(led.redacted)), flush=True)
        # every issue whose failure was acknowledged is announced (the
        # outbox survives the kills): wait for the deliveries
        st, _, doc = request(port, "GET", "/api/pipeline/issues?limit=1000",
                             headers={"Authorization": "Bearer " + TOKEN})
        issues = {i["id"]: i["code"] for i in doc["items"]}
        codes = {c for c in issues.values()}
        check(led.issue_ids <= codes, "acknowledged failures have issues: %r" % (led.issue_ids - codes))
        deadline = time.time() + 30
        while time.time() < deadline:
            with rec.lock:
                missing = [i for i in issues if i not in rec.by_issue]
            if not missing:
                break
            time.sleep(0.2)
        eq(missing, [], "every issue announced by webhook")
    finally:
        p.send_signal(signal.SIGTERM)
        eq(p.wait(timeout=60), 0, "final exit status")
        p.stdout.close()
        log.close()
    eq(total_lost, 0, "acknowledged changes lost")
    print("%d kills: %d events acknowledged, %d redactions, %d issues announced, 0 lost (%.1f s)"
          % (KILLS, acked, len(led.redacted), len(issues), time.time() - t_all))


main()
