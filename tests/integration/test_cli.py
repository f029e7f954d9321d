#!/usr/bin/env python3
"""test_cli.py - the pipetrack tool in both modes: --db (a real SQLite file,
through the library) and --server (a real pipetrackd on a free loopback port,
stopped by its PID). Python's standard library only.

Usage: test_cli.py PIPETRACK PIPETRACKD TMPDIR [TEST...]
With PT_TEST_DB_URL set (a PostgreSQL server), each store is a new database
on it instead of a SQLite file; what needs the file is left out, saying so.
"""
import datetime
import json
import os
import re
import resource
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (PG_URL, Skip, check, eq, fresh_store, launch, on_sqlite,  # noqa: E402
                     pg_database, run_tests, sqlite_exec, sqlite_path, stop)

PT, PTD, TMP = sys.argv[1], sys.argv[2], sys.argv[3]
ONLY = sys.argv[4:]
os.makedirs(TMP, exist_ok=True)
STEPS = ["checkout_started", "payment_initiated", "payment_confirmed", "checkout_completed"]


def fresh_db(name):
    """The URL of an empty store (harness.fresh_store)."""
    return fresh_store(TMP, "cli-" + name)


class Server:
    def __init__(self, db, *args):
        self.log = open(os.path.join(TMP, "cli-server.log"), "ab")
        self.p, port = launch(PTD, ["--db", db, "--quiet"] + list(args), self.log)
        self.url = "http://127.0.0.1:%d" % port

    def stop(self):
        return stop(self.p, self.log)


def run(mode, *args, stdin=None, env=None):
    """Runs pipetrack (in the zone TZ=UTC unless env says another); returns
    (exit status, stdout, stderr)."""
    e = dict(os.environ)
    e.pop("PIPETRACK_SERVER", None)
    e.pop("PIPETRACK_DB", None)
    e["TZ"] = "UTC"
    e.update(env or {})
    p = subprocess.run([PT] + list(mode) + list(args), input=stdin, capture_output=True,
                       text=True, env=e, timeout=600)
    return p.returncode, p.stdout, p.stderr


def iso(ms, offset_min=0, utc=False):
    """ms since the epoch as the tool prints it: ISO 8601 with milliseconds,
    at a fixed offset from UTC (minutes) or, utc, in UTC with "Z"."""
    tz = datetime.timezone(datetime.timedelta(minutes=offset_min))
    t = datetime.datetime.fromtimestamp(ms // 1000, tz).replace(microsecond=ms % 1000 * 1000)
    s = t.isoformat(timespec="milliseconds")
    return s.replace("+00:00", "Z") if utc else s


def every_command(mode, label):
    """The commands of the tool, their output and exit codes, in one mode."""
    rc, out, err = run(mode, "track", "--session", "c1", "--pipeline", "checkout_digital", "--step",
                       "checkout_started", "--status", "success", "--input", '{"cart": 42}', "--id", "c1a",
                       "--snapshot")
    eq((rc, err), (0, ""), label + " track")
    check(re.match(r"stored c1a seq 0 ", out), "track output: %r" % out)
    rc, out, err = run(mode, "track", "--session", "c1", "--pipeline", "checkout_digital", "--step",
                       "checkout_started", "--status", "success", "--input", '{"cart": 42}', "--id", "c1a")
    eq((rc, out.split()[0]), (0, "replayed"), label + " replay")
    rc, out, err = run(mode, "track", "--session", "c1", "--pipeline", "checkout_digital", "--step",
                       "nope", "--status", "success")
    eq(rc, 2, label + " refused track exit")
    check("event.step" in err and "422" in err, "refusal names the field: %r" % err)
    rc, out, err = run(mode, "track", "--session", "c1")
    eq(rc, 2, label + " usage error")
    # numbers a double cannot hold: refused naming the field, nothing stored
    small = "is not zero but too small for a double, which would read it as 0 (smallest magnitude 5e-324)"
    rc, out, err = run(mode, "track", "--session", "c9", "--pipeline", "checkout_digital", "--step",
                       "checkout_started", "--status", "success", "--input", '{"a": {"b": 1e-400}}')
    eq((rc, err), (2, "pipetrack: track: --input: a.b: 1e-400 " + small + "\n"), label + " 1e-400")
    line = ('{"session_id": "c9", "pipeline_type": "checkout_digital", "step": "checkout_started",'
            ' "status": "success", "output": {"x": 1e400}}')
    rc, out, err = run(mode, "track", "--file", "-", stdin=line + "\n")
    eq((rc, err), (2, "pipetrack: events[0].output.x: 1e400 is beyond the range of a double "
                      "(magnitude at most 1.7976931348623157e308) (400 invalid_json)\n"), label + " 1e400")
    path = os.path.join(TMP, "cli-numbers-%s.jsonl" % label)
    with open(path, "w") as f:
        f.write('{"type":"pipetrack_export","version":1}\n{"type":"event","event":{"input":{"q":[-1e-400]}}}\n')
    rc, out, err = run(mode, "import", path)
    # a refused import line is a check that failed: exit 1
    eq((rc, err), (1, "pipetrack: line 2: event.input.q[0]: -1e-400 " + small + " (400 invalid_json)\n"),
       label + " import -1e-400")
    rc, out, err = run(mode, "status", "c9")
    eq(rc != 0, True, label + " nothing of c9 stored")
    lines = "\n".join(json.dumps({"session_id": "c1", "pipeline_type": "checkout_digital",
                                  "step": s, "status": "success"}) for s in STEPS[1:]) + "\n"
    rc, out, err = run(mode, "track", "--file", "-", stdin=lines)
    eq((rc, out.strip()), (0, "stored 3, replayed 0, refused 0"), label + " track --file")
    rc, out, err = run(mode, "track", "--file", "-",
                       stdin='{"session_id":"c2","pipeline_type":"checkout_digital","step":"x","status":"success"}\n')
    eq((rc, out.strip()), (2, "stored 0, replayed 0, refused 1"), label + " track --file refused")
    check("line 1" in err, "line named: %r" % err)
    rc, out, err = run(mode, "track", "--file", "-",
                       stdin='\n\n{"session_id":"c2","pipeline_type":"checkout_digital","step":"x","status":"success"}\n')
    eq(rc, 2, label + " track --file refused after blank lines")
    check("line 3:" in err, "blank lines counted in the line named: %r" % err)
    # a batch result as a server answers it, in both modes; the API's JSON as it came
    rc, out, err = run(mode, "--json", "track", "--file", "-",
                       stdin=json.dumps({"id": "c1a", "session_id": "c1", "pipeline_type": "checkout_digital",
                                         "step": "checkout_started", "status": "success",
                                         "input": {"cart": 42}}) + "\n")
    eq(rc, 0, label + " track --file --json")
    item = json.loads(out)["results"][0]
    eq(sorted(item), ["event", "read_token", "receipt", "replayed", "snapshot", "status"],
       label + " batch result members")
    eq((item["replayed"], item["receipt"]), (True, None), label + " batch result")
    check('"status":200,' in out and '"seq":0,' in out, "integers printed as answered: %r" % out[:200])
    # numbers given as options follow their rule, named before anything is sent
    rc, out, err = run(mode, "track", "--session", "c1", "--pipeline", "checkout_digital", "--step",
                       "checkout_started", "--status", "success", "--ts", "abc")
    eq(rc, 2, label + " --ts abc")
    check("track: --ts: must be an integer from 0 to" in err, "--ts rule: %r" % err)
    for cmd in (["history", "c1"], ["sessions"], ["issues"]):
        for bad in ("0x", "0", "1001", " 5"):
            rc, out, err = run(mode, *cmd, "--limit", bad)
            eq(rc, 2, "%s %s --limit %r" % (label, cmd[0], bad))
            check("--limit: must be an integer from 1 to 1000" in err, "--limit rule: %r" % err)
    rc, out, err = run(mode, "status", "c1")
    eq(rc, 0, label + " status")
    check("state      completed (terminal)" in out and "progress   4/4 steps (100%)" in out,
          "status table: %r" % out)
    rc, out, err = run(mode, "--json", "status", "c1")
    doc = json.loads(out)
    eq((doc["event_count"], doc["checksum"]["state"]), (4, "completed"), label + " status --json")
    chain = doc["checksum"]["chain_hash"]
    rc, out, err = run(mode, "status", "nope")
    eq(rc, 3, label + " status of an unknown session")
    check("no session" in err, "message: %r" % err)
    rc, out, err = run(mode, "snapshot", "c1", "--notes", "checked")
    eq(rc, 0, label + " snapshot")
    check(out.startswith("reg_c1_"), "snapshot output: %r" % out)
    rc, out, err = run(mode, "--json", "history", "c1", "--limit", "1")
    doc = json.loads(out)
    eq((len(doc["items"]), doc["items"][0]["notes"]), (1, "checked"), label + " history")
    check(doc["next_cursor"], "history has a next page")
    rc, out, err = run(mode, "history", "c1", "--cursor", doc["next_cursor"])
    eq(rc, 0, label + " history page 2")
    rc, out, err = run(mode, "report", "c1")
    eq(rc, 0, label + " report")
    check(out.startswith("# ") and "c1" in out, "Markdown report: %r" % out[:80])
    rc, out, err = run(mode, "--json", "report", "c1")
    eq(json.loads(out)["session_id"] if "session_id" in json.loads(out) else "c1", "c1", "report json")
    rc, out, err = run(mode, "verify", "c1")
    eq((rc, out.strip()), (0, "c1: ok"), label + " verify")
    rc, out, err = run(mode, "verify", "--all")
    eq((rc, out.strip()), (0, "1 sessions verified, 0 mismatched"), label + " verify --all")
    rc, out, err = run(mode, "--json", "sessions", "--state", "completed")  # c9 is failed
    eq([i["session_id"] for i in json.loads(out)["items"]], ["c1"], label + " sessions")
    rc, out, err = run(mode, "sessions", "--bogus", "x")
    eq(rc, 2, label + " sessions usage")
    for cmd in (["status", "c1"], ["history", "c1"]):
        rc, out, err = run(mode, *cmd, "--bogus", "x")
        eq(rc, 2, label + " %s usage" % cmd[0])
        eq(err, 'pipetrack: %s: unknown option "--bogus" (see pipetrack %s --help)\n'
           % (cmd[0], cmd[0]), "names the option and the command")
    rc, out, err = run(mode, "track", "--session", "c9", "--pipeline", "checkout_digital", "--step",
                       "payment_initiated", "--status", "failure", "--error-code", "card_declined",
                       "--error-message", "Declined")
    eq(rc, 0, label + " failure tracked")
    rc, out, err = run(mode, "--json", "issues", "--status", "open")
    items = json.loads(out)["items"]
    eq([(i["fingerprint"], i["count"]) for i in items],
       [("checkout_digital/payment_initiated/card_declined", 1)], label + " issues")
    rc, out, err = run(mode, "issues", "show", items[0]["id"])
    eq(rc, 0, label + " issues show")
    check("1 failures in 1 sessions" in out and "c9" in out, "issue card: %r" % out)
    rc, out, err = run(mode, "issues", "resolve", items[0]["id"])
    check(rc == 0 and "status     resolved" in out, label + " issues resolve: %r" % out)
    rc, out, err = run(mode, "issues", "show", "iss_000000000000000000000000")
    eq(rc, 3, label + " unknown issue")
    rc, out, err = run(mode, "issues", "bogus")
    eq(rc, 2, label + " issues usage")
    rc, out, err = run(mode, "bogus")
    eq(rc, 2, label + " unknown command")
    rc, out, err = run(mode, "verify", "--help")
    eq(rc, 0, label + " command help")
    check("verify --all" in out, "help text")
    export = os.path.join(TMP, "cli-%s.jsonl" % label)
    rc, out, err = run(mode, "export", "--output", export)
    eq(rc, 0, label + " export")
    text = open(export).read().splitlines()
    eq(json.loads(text[0]), {"type": "pipetrack_export", "version": 1}, "export header")
    eq(sum(1 for l in text if '"type":"event"' in l), 5, label + " exported events")
    return chain, export


def test_db_mode():
    db = fresh_db("db")
    mode = ["--db", db]
    chain, export = every_command(mode, "db")
    # import into another store: the same chain, and twice changes nothing
    db2 = fresh_db("db2")
    rc, out, err = run(["--db", db2], "import", export)
    eq((rc, out.strip()), (0, "events: 5 added, 0 already there; snapshots: 2 added, 0 already there"),
       "import")
    rc, out, err = run(["--db", db2], "import", export)
    eq((rc, out.strip()), (0, "events: 0 added, 5 already there; snapshots: 0 added, 2 already there"),
       "import twice")
    eq(err, "", "no progress into a pipe")
    # progress when standard error is a terminal
    import pty
    master, slave = pty.openpty()
    p = subprocess.Popen([PT, "--db", db2, "import", export], stdout=subprocess.PIPE,
                         stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    out = p.stdout.read()
    p.wait(timeout=60)
    p.stdout.close()
    tty = b""
    try:
        while True:
            chunk = os.read(master, 4096)
            if not chunk:
                break
            tty += chunk
    except OSError:
        pass
    os.close(master)
    check(b"imported " in tty and b" lines" in tty, "progress on a terminal: %r" % tty)
    rc, out, err = run(["--db", db2, "--json"], "status", "c1")
    eq(json.loads(out)["checksum"]["chain_hash"], chain, "chain after import")
    # a tampered database: verify exits 1 naming the event
    if on_sqlite(sqlite_path(db), "verify names an event altered in the file (with the tool, "
                 "through a server)"):
        sqlite_exec(sqlite_path(db),
                    "UPDATE events SET status = 2 WHERE session_id = 'c1' AND seq = 2")
        rc, out, err = run(mode, "verify", "c1")
        eq(rc, 1, "tampered verify exit")
        check("MISMATCH" in out and "event seq 2" in out, "names the event: %r" % out)
        rc, out, err = run(mode, "verify", "--all")
        eq(rc, 1, "tampered verify --all exit")
        check("2 sessions verified, 1 mismatched" in out, "verify --all output: %r" % out)
        s = Server(db)  # the same through a server
        try:
            rc, out, err = run(["--server", s.url], "verify", "c1")
            eq(rc, 1, "tampered verify through a server")
            check("event seq 2" in out, "names the event through a server: %r" % out)
            rc, out, err = run(["--server", s.url, "--json"], "verify", "--all")
            eq(rc, 1, "tampered verify --all through a server")
            lines = {json.loads(l)["session_id"]: json.loads(l)["verify"]["ok"] for l in out.splitlines()}
            eq(lines, {"c1": False, "c9": True}, "--json verify lines")
        finally:
            eq(s.stop(), 0, "server exit")
    # an altered export is refused by line, nothing stored
    bad = open(export).read().replace('"step":"payment_confirmed"', '"step":"checkout_completed"', 1)
    db3 = fresh_db("db3")
    rc, out, err = run(["--db", db3], "import", "-", stdin=bad)
    eq(rc, 1, "altered import exit")
    check(re.search(r"line \d+: .*does not follow the chain", err), "names the line: %r" % err)
    rc, out, err = run(["--db", db3], "status", "c1")
    eq(rc, 3, "nothing of the altered import stored")
    rc, out, err = run(["--db", db], "import", "/nonexistent/file")
    eq(rc, 2, "unreadable file")


def test_server_mode():
    db = fresh_db("srv")
    s = Server(db, "--api-token", "tok")
    try:
        mode = ["--server", s.url, "--token", "tok"]
        chain, export = every_command(mode, "server")
        rc, out, err = run(["--server", s.url], "status", "c1")
        eq(rc, 2, "no token")
        check("401" in err, "unauthorized named: %r" % err)
        rc, out, err = run([], "status", "c1", env={"PIPETRACK_SERVER": s.url, "PIPETRACK_TOKEN": "tok"})
        eq(rc, 0, "server and token from the environment")
        # import through a second server: same chain
        db2 = fresh_db("srv2")
        s2 = Server(db2)
        try:
            rc, out, err = run(["--server", s2.url], "import", export)
            eq(rc, 0, "import through a server")
            rc, out, err = run(["--server", s2.url, "--json"], "status", "c1")
            eq(json.loads(out)["checksum"]["chain_hash"], chain, "chain after import via server")
        finally:
            eq(s2.stop(), 0, "second server exit")
    finally:
        eq(s.stop(), 0, "server exit")
    rc, out, err = run(["--server", s.url], "status", "c1")
    eq(rc, 2, "server gone")
    check("127.0.0.1" in err, "names the server: %r" % err)


def test_roundtrip_100k():
    """100,000 events out of one store and into another, through a server
    and through the library: byte-identical exports, equal chains, bounded
    memory."""
    src = fresh_db("rt-src")
    n_sessions = 25000
    lines = "".join(json.dumps({"session_id": "r%d" % i, "pipeline_type": "checkout_digital",
                                "step": STEPS[k], "status": "success", "ts": 1000 + k,
                                "input": {"n": i, "k": k}}) + "\n"
                    for i in range(n_sessions) for k in range(4))
    t0 = time.time()
    rc, out, err = run(["--db", src], "track", "--file", "-", stdin=lines)
    eq((rc, out.strip()), (0, "stored 100000, replayed 0, refused 0"), "100k tracked: " + err)
    t_track = time.time() - t0
    s = Server(src)
    export = os.path.join(TMP, "cli-rt.jsonl")
    try:
        t0 = time.time()
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        rc, out, err = run(["--server", s.url], "export", "--output", export)
        eq(rc, 0, "export through the server")
        t_export = time.time() - t0
    finally:
        eq(s.stop(), 0, "server exit")
    dst = fresh_db("rt-dst")
    t0 = time.time()
    rc, out, err = run(["--db", dst], "import", export)
    t_import = time.time() - t0
    eq((rc, out.strip()), (0, "events: 100000 added, 0 already there; snapshots: 0 added, 0 already there"),
       "100k imported")
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # (ASan's shadow memory and quarantine make sizes meaningless there)
    if os.environ.get("PT_SANITIZED", "0") in ("0", ""):
        check(peak_kb < 200 * 1024, "memory stays bounded (peak %d KB)" % peak_kb)
    again = os.path.join(TMP, "cli-rt2.jsonl")
    rc, out, err = run(["--db", dst], "export", "--output", again)
    eq(rc, 0, "export of the copy")
    eq(open(again, "rb").read() == open(export, "rb").read(), True, "byte-identical exports")
    with open(export) as f:
        eq(sum(1 for _ in f), 100001, "lines")
    rc, out, err = run(["--db", dst], "verify", "r12345")
    eq(rc, 0, "a copied chain verifies")
    print("  100k: track %.1f s, export via server %.1f s, import %.1f s, peak tool RSS %d KB"
          % (t_track, t_export, t_import, peak_kb), flush=True)


def test_signing_key():
    """--signing-key with --db: receipts, signed entries, verify checks them."""
    key = os.path.join(TMP, "cli-key-%d.pem" % os.getpid())
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key], check=True)
    db = fresh_db("signed")
    mode = ["--db", db, "--signing-key", key]
    rc, out, err = run(mode + ["--json"], "track", "--session", "k1", "--pipeline",
                       "checkout_digital", "--step", "checkout_started", "--status", "success",
                       "--snapshot")
    eq(rc, 0, "track: " + err)
    doc = json.loads(out)
    check(len(doc["receipt"]) == 88 and len(doc["snapshot"]["signature"]) == 88,
          "receipt and signature: %r" % out)
    rc, out, err = run(mode, "snapshot", "k1", "--notes", "signed")
    eq(rc, 0, "snapshot")
    # a batch result carries its receipt in --db mode too (as a server answers)
    rc, out, err = run(mode + ["--json"], "track", "--file", "-",
                       stdin=json.dumps({"session_id": "k1", "pipeline_type": "checkout_digital",
                                         "step": "payment_initiated", "status": "success"}) + "\n")
    eq(rc, 0, "track --file: " + err)
    eq(len(json.loads(out)["results"][0]["receipt"]), 88, "a batch result's receipt")
    rc, out, err = run(mode, "verify", "k1")
    eq(rc, 0, "verify with the key: " + out + err)
    if on_sqlite(sqlite_path(db), "verify names an entry changed in the file after signing"):
        sqlite_exec(sqlite_path(db), "UPDATE snapshots SET notes = 'changed' WHERE n = 1")
        rc, out, err = run(mode, "verify", "k1")
        eq(rc, 1, "an entry changed after signing fails verify")
        check("signature" in out, "names the signature: %r" % out)
        rc, out, err = run(["--db", db], "verify", "k1")
        eq(rc, 0, "without the key signatures are not checked")
    rc, out, err = run(["--db", db, "--signing-key", "/nonexistent"], "verify", "k1")
    eq(rc, 2, "unreadable key: usage error")
    check("--signing-key" in err, err)


def test_redact_command():
    """pipetrack redact, through the library and through a server."""
    db = fresh_db("redact")
    srv = Server(db, "--api-token", "tk")
    try:
        for mode, sid in ((["--db", fresh_db("redact-lib")], "rx1"),
                          (["--server", srv.url, "--token", "tk"], "rx2")):
            for i, step in enumerate(STEPS[:2]):
                rc, out, err = run(mode, "track", "--session", sid, "--pipeline", "checkout_digital",
                                   "--step", step, "--status", "success", "--id", "%s-%d" % (sid, i),
                                   "--input", '{"email":"someone@example.com"}')
                eq(rc, 0, "track: " + err)
            rc, out, err = run(mode, "redact", sid, sid + "-0", "--actor", "gdpr-42")
            eq((rc, out.splitlines()[0]), (0, "1 event of %s redacted" % sid), "redact one")
            rc, out, err = run(mode + ["--json"], "status", sid)
            evs = json.loads(out)["events"]
            eq([e["redacted"] for e in evs], [True, False], "the one asked for")
            eq(evs[0]["input"], None, "its input is gone")
            rc, out, err = run(mode + ["--json"], "history", sid, "--limit", "1")
            note = json.loads(out)["items"][0]["notes"]
            check(note.startswith("redacted 1 event by ") and '"gdpr-42"' in note, note)
            if mode[0] == "--db":
                check("by the pipetrack tool (user " in note, "the tool's actor: %r" % note)
            rc, out, err = run(mode, "redact", sid, "nope")
            eq(rc, 3, "unknown event id")
            check("event_ids[0]" in err, err)
            rc, out, err = run(mode, "redact", sid)
            eq((rc, out.splitlines()[0]), (0, "2 events of %s redacted" % sid), "the whole session")
            rc, out, err = run(mode, "verify", sid)
            eq(rc, 0, "still verifies: " + out)
    finally:
        srv.stop()


def test_check_command():
    """pipetrack check: a saved answer's receipt and signed entries, offline."""
    key = os.path.join(TMP, "cli-check-key-%d.pem" % os.getpid())
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key], check=True)
    srv = Server(fresh_db("check"), "--signing-key", key)
    try:
        mode = ["--server", srv.url]
        rc, out, err = run(mode + ["--json"], "track", "--session", "ck1", "--pipeline",
                           "checkout_digital", "--step", "checkout_started", "--status", "success",
                           "--snapshot")
        eq(rc, 0, "track: " + err)
        answer = os.path.join(TMP, "cli-answer.json")
        with open(answer, "w") as f:
            f.write(out)
        rc, out, err = run(mode, "check", answer)
        eq(rc, 0, "check with the server's key: " + out + err)
        check("receipt for ck1 seq 0: ok" in out and "signature ok" in out, out)
        # the same answer spread over more than the first read's 4 KiB
        spread = os.path.join(TMP, "cli-answer-spread.json")
        with open(spread, "w") as f:
            f.write(json.dumps(json.loads(open(answer).read()), indent=" " * 400))
        check(os.path.getsize(spread) > 3 * 4096, "spread answer size")
        rc, out2, err = run(mode, "check", spread)
        eq((rc, out2), (0, out), "check of the spread answer: " + err)
        import urllib.request
        with urllib.request.urlopen(srv.url + "/api/pipeline/pubkey", timeout=30) as r:
            pub = json.loads(r.read())["public_key"]
        # offline, with the key given: nothing is opened (no store file made here)
        cwd = os.path.join(TMP, "cli-check-cwd")
        os.makedirs(cwd, exist_ok=True)
        p = subprocess.run([os.path.abspath(PT), "check", "--pubkey", pub, os.path.abspath(answer)],
                           capture_output=True, text=True,
                           cwd=cwd, env=dict(os.environ, PIPETRACK_DB="", PIPETRACK_SERVER=""))
        eq(p.returncode, 0, "offline check: " + p.stdout + p.stderr)
        eq(os.listdir(cwd), [], "no store opened offline")
        doc = json.loads(open(answer).read())
        doc["event"]["seq"] = 1
        with open(answer, "w") as f:
            json.dump(doc, f)
        rc, out, err = run(mode, "check", "--pubkey", pub, answer)
        eq(rc, 1, "a changed answer fails the check")
        check("does NOT verify" in out, out)
        rc, out, err = run(mode + ["--json"], "history", "ck1")
        page = os.path.join(TMP, "cli-page.json")
        with open(page, "w") as f:
            f.write(out)
        rc, out, err = run(mode, "check", page)
        eq(rc, 0, "a registry page: " + out + err)
        rc, out, err = run(mode, "check", "--pubkey", pub, "/dev/null")
        eq(rc, 2, "not JSON")
    finally:
        srv.stop()


def test_between_stores():
    """SQLite -> PostgreSQL -> SQLite through `export | import -`: every chain
    verifies on each store, a second import adds nothing, and the exports
    of the three stores are byte-identical (events, registry entries,
    redactions, issues and the sessions they affected)."""
    if not PG_URL:
        raise Skip("needs PostgreSQL (PT_TEST_DB_URL)")
    lite = "sqlite:" + os.path.join(TMP, "cli-move-%d.db" % os.getpid())
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(lite[len("sqlite:"):] + suffix):
            os.unlink(lite[len("sqlite:"):] + suffix)
    n = 300
    lines = []
    for i in range(n):
        for k in range(4 if i % 3 else 3):  # a third stop before the end
            ev = {"id": "mv%d_%d" % (i, k), "session_id": "mv%d" % i,
                  "pipeline_type": "checkout_digital", "step": STEPS[k], "status": "success",
                  "ts": 1000 + k, "input": {"n": i, "k": k, "s": "é\"\\\u2028"}}
            if i % 7 == 0 and k == 2:
                ev["status"] = "failure"
                ev["error"] = {"code": "card_declined", "message": "declined %d" % i}
            lines.append(json.dumps(ev) + "\n")
    rc, out, err = run(["--db", lite], "track", "--file", "-", stdin="".join(lines))
    eq((rc, err), (0, ""), "tracked on SQLite")
    for i in range(0, n, 10):
        rc, out, err = run(["--db", lite], "snapshot", "mv%d" % i, "--notes", "note %d" % i)
        eq(rc, 0, "snapshot: " + err)
    rc, out, err = run(["--db", lite], "redact", "mv5", "mv5_1", "--actor", "test")
    eq(rc, 0, "redact: " + err)

    def export(url):
        rc, out, err = run(["--db", url], "export")
        eq((rc, err), (0, ""), "export of " + url)
        return out

    def move(src, dst):
        text = export(src)
        p = subprocess.run("%s --db '%s' export | %s --db '%s' import -" % (PT, src, PT, dst),
                           shell=True, capture_output=True, text=True, timeout=600)
        eq((p.returncode, p.stderr), (0, ""), "export | import - from %s to %s" % (src, dst))
        check(re.match(r"events: \d+ added, 0 already there", p.stdout), "import: " + p.stdout)
        rc, out, err = run(["--db", dst], "verify", "--all")
        eq((rc, out.strip()), (0, "%d sessions verified, 0 mismatched" % n), "verify on " + dst)
        rc, out, err = run(["--db", dst], "import", "-", stdin=text)
        eq(rc, 0, "second import: " + err)
        check(re.match(r"events: 0 added, \d+ already there; snapshots: 0 added", out),
              "a second import adds nothing: " + out)
        return text

    pg = pg_database(PG_URL, "cli-move")
    first = move(lite, pg)
    back = "sqlite:" + os.path.join(TMP, "cli-move-back-%d.db" % os.getpid())
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(back[len("sqlite:"):] + suffix):
            os.unlink(back[len("sqlite:"):] + suffix)
    second = move(pg, back)
    eq(first == second, True, "the SQLite and PostgreSQL exports are byte-identical")
    eq(export(back) == first, True, "and the copy back to SQLite exports the same bytes")
    check('"redacted":true' in first and '"type":"issue"' in first.replace(" ", ""),
          "the export carries redactions and issues")


def test_refusals_and_tables():
    """What the tool refuses before a request and says in one line: a
    --server that is not an HTTP URL, a --db that cannot be opened (its
    password never shown), input that cannot be read, an export that cannot
    be written (both modes); the issues list as a table, a page at a time."""
    rc, out, err = run(["--server", "ftp://127.0.0.1/"], "status", "c1")
    eq((rc, out, err), (2, "", 'pipetrack: --server: must be an http:// or https:// URL, '
                               'got "ftp://127.0.0.1/"\n'), "--server not HTTP")
    rc, out, err = run(["--db", "nosuch:x"], "status", "c1")
    eq((rc, err), (2, 'pipetrack: --db nosuch:x: db: unknown store "nosuch" '
                      '(this build has sqlite:, memory: and postgres://)\n'), "--db unknown scheme")
    rc, out, err = run(["--db", "postgres://u:s3cret@127.0.0.1:1/db"], "status", "c1")
    eq(rc, 2, "--db unreachable")
    check(err.startswith("pipetrack: --db postgres://u:***@127.0.0.1:1/db: postgres: cannot connect")
          and "s3cret" not in err, "--db named without its password: %r" % err)
    db = fresh_db("refusals")
    mode = ["--db", db]
    # a directory opens but cannot be read
    rc, out, err = run(mode, "track", "--file", TMP)
    eq((rc, err), (2, "pipetrack: cannot read the input: Is a directory\n"), "track --file DIR")
    rc, out, err = run(mode, "import", TMP)
    eq((rc, err), (2, "pipetrack: cannot read the input: Is a directory\n"), "import DIR")
    rc, out, err = run(mode, "check", "--pubkey", "AAAA", TMP)
    eq((rc, err), (2, "pipetrack: check: %s: cannot read it\n" % TMP), "check DIR")
    # 30 failures over 3 issues: 10 each, 10 sessions each
    lines = "".join(json.dumps({"session_id": "f%02d" % i, "pipeline_type": "checkout_digital",
                                "step": "checkout_started", "status": "failure",
                                "error": {"code": "code%d" % (i % 3), "message": "refused"}}) + "\n"
                    for i in range(30))
    rc, out, err = run(mode, "track", "--file", "-", stdin=lines)
    eq((rc, out.strip()), (0, "stored 30, replayed 0, refused 0"), "failures tracked")
    s = Server(db)
    try:
        for label, m in (("db", mode), ("server", ["--server", s.url])):
            rc, out, err = run(m, "--json", "issues")
            want = [(i["id"], i["last_seen"]) for i in json.loads(out)["items"]]
            eq(len(want), 3, label + " three issues")
            rc, out, err = run(m, "issues", "--limit", "2")
            eq((rc, err), (0, ""), label + " issues table")
            rows = out.splitlines()
            eq(rows[0].split(), ["ISSUE", "STATUS", "COUNT", "SESSIONS", "LAST_SEEN", "TITLE"],
               label + " table head")
            eq(len(rows), 4, label + " head, two rows, the next page: %r" % out)
            for row, (iid, last) in zip(rows[1:3], want):
                f = row.split()
                eq(f[:5], [iid, "open", "10", "10", iso(last)], label + " issue row")
                check(row.endswith("checkout_started failed in checkout_digital: " + f[-1])
                      and f[-1] in ("code0", "code1", "code2"), "title: %r" % row)
            check(rows[3].startswith("more: --cursor "), label + " more line: %r" % rows[3])
            rc, out, err = run(m, "issues", "--limit", "2", "--cursor", rows[3].split()[-1])
            rows = out.splitlines()
            eq((rc, len(rows)), (0, 2), label + " last page: head and one row, no more line")
            eq(rows[1].split()[0], want[2][0], label + " last page's issue")
            rc, out, err = run(m, "issues", "--status", "resolved")
            eq(out.splitlines()[1:], [], label + " no resolved issue: the head alone")
            # more than a buffer of export into a full disk
            rc, out, err = run(m, "export", "--output", "/dev/full")
            eq(rc, 2, label + " export to a full disk")
            if label == "db":
                eq(err, "pipetrack: export: cannot write the export\n", "db export refused")
            else:
                check(err.startswith("pipetrack: export: %s: " % s.url) and "writ" in err.lower(),
                      "server export refused: %r" % err)
            rc, out, err = run(m, "export", "--session", "nope")
            eq((rc, out, err), (3, "", 'pipetrack: session_id: no session "nope" is stored '
                                        '(404 not_found)\n'), label + " export of no session")
    finally:
        eq(s.stop(), 0, "server exit")


# ---- issue 16: options anywhere, human times, errors, stats, exit codes, help ----

TS0 = 1796014766300  # 2026-11-30T04:59:26.300Z: a ts the events below are tracked at
COMMANDS = ["track", "status", "snapshot", "check", "redact", "history", "report", "verify",
            "sessions", "stats", "export", "issues", "import", "help"]


def track_checkout(mode, sid, fail_at=None, ts=TS0, error=("card_declined", "Card declined")):
    """Tracks sid through the checkout steps at ts, ts+1000, ...; failing
    at step index fail_at (with error) when given. Event ids sid-0, sid-1..."""
    lines = []
    for k, step in enumerate(STEPS):
        ev = {"id": "%s-%d" % (sid, k), "session_id": sid, "pipeline_type": "checkout_digital",
              "step": step, "status": "success", "ts": ts + 1000 * k}
        if k == fail_at:
            ev["status"] = "failure"
            if error:
                ev["error"] = {"code": error[0], "message": error[1]}
        lines.append(json.dumps(ev) + "\n")
        if k == fail_at:
            break
    rc, out, err = run(mode, "track", "--file", "-", stdin="".join(lines))
    eq((rc, err), (0, ""), "tracked " + sid)


def test_options_anywhere():
    """A global option means the same before the command, after it, after
    its arguments and between its options; an option a command does not
    take is refused naming both (exit 2); the line's other rules."""
    db = fresh_db("anywhere")
    key = os.path.join(TMP, "cli-anywhere-key-%d.pem" % os.getpid())
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key], check=True)
    mode = ["--db", db, "--signing-key", key]
    track_checkout(mode, "o1")
    track_checkout(mode, "o2", fail_at=1)
    rc, out, err = run(mode, "--json", "track", "--session", "o1", "--pipeline", "checkout_digital",
                       "--step", "checkout_started", "--status", "success", "--id", "o1-0",
                       "--ts", str(TS0), "--snapshot")
    eq(rc, 0, "a snapshot to check: " + err)
    saved = os.path.join(TMP, "cli-anywhere-answer.json")
    with open(saved, "w") as f:
        f.write(out)
    export = os.path.join(TMP, "cli-anywhere.jsonl")
    rc, out, err = run(mode, "export", "--output", export)
    eq(rc, 0, "export: " + err)
    since = "--since=2000-01-01T00:00:00Z"
    # (command, its arguments and options, split where a global option may go)
    cases = [
        ("track", ["--session", "o1", "--pipeline", "checkout_digital"],
         ["--step", "checkout_started", "--status", "success", "--id", "o1-0", "--ts", str(TS0)]),
        ("status", ["o2"], ["--pipeline", "checkout_digital"]),
        ("history", ["o1"], ["--limit", "1"]),
        ("report", ["o2"], []),
        ("verify", ["o1"], []),
        ("sessions", ["--state", "failed"], ["--limit", "5"]),
        ("stats", ["checkout_digital"], [since, "--until", "2100-01-01"]),
        ("issues", ["list"], ["--status", "open"]),
        ("export", ["--session", "o1"], []),
        ("import", [export], []),
        ("redact", ["o1", "o1-3"], ["--actor", "me"]),
        ("check", [saved], []),
    ]
    for cmd, first, rest in cases:
        outs = []
        for where in range(4):
            args = [cmd] + first + rest
            if where == 0:
                line = mode + ["--json"] + args
            elif where == 1:
                line = [cmd, "--json"] + mode + first + rest
            elif where == 2:
                line = args + ["--json"] + mode
            else:
                line = [cmd] + first + ["--json"] + mode + rest
            rc, out, err = run([], *line)
            eq((rc, err), (0, ""), "%s with --json at %d: %r" % (cmd, where, line))
            doc = json.loads(out.splitlines()[0])  # JSON, not a table
            if cmd == "report":
                doc.pop("generated_at")
                out = json.dumps(doc)
            outs.append(out)
        if cmd != "redact":  # the first redaction differs from the next ones
            eq(len(set(outs)), 1, "%s: the same output wherever --json is" % cmd)
    # every command refuses an option it does not take, naming both
    for cmd in COMMANDS:
        if cmd == "help":
            continue
        bad = "--all" if cmd != "verify" else "--limit"
        for line in ([cmd, bad] + (["5"] if bad == "--limit" else []), [bad, "5", cmd]
                     if bad == "--limit" else [bad, cmd]):
            rc, out, err = run(mode, *line)
            eq((rc, out, err), (2, "", 'pipetrack: %s: unknown option "%s" (see pipetrack %s --help)\n'
                                % (cmd, bad, cmd)), "%s refuses %s: %r" % (cmd, bad, line))
    for line, msg in (
            (["status", "o1", "--bogus"], 'status: unknown option "--bogus" (see pipetrack status --help)'),
            (["--bogus", "status", "o1"], 'unknown option "--bogus" (see pipetrack --help)'),
            (["--limit", "2"], "--limit: an option of a command, and no command is given "
                               "(see pipetrack --help)"),
            (["status", "o1", "o2"], 'status: unexpected argument "o2" (see pipetrack status --help)'),
            (["status", "o1", "--pipeline"], "status: --pipeline needs a value "
                                             "(see pipetrack status --help)"),
            (["status", "o1", "--json=yes"], "status: --json takes no value "
                                             "(see pipetrack status --help)"),
            (["status"], "status: SESSION is required (see pipetrack status --help)"),
            (["verify", "o1", "--all"], "verify: SESSION or --all, not both"),
            (["issues", "show", "x", "--limit", "2"],
             'issues show: unknown option "--limit" (it is an option of issues list)'),
            (["track", "--file", "-", "--step", "x"],
             "track: --file and --step: events come from the file or from options, not both"),
            (["report", "o1", "--json", "--format", "markdown"],
             "report: --json and --format markdown ask for different things"),
            (["status", "o1", "--server=http://127.0.0.1:1"],
             "--server and --db: give one (a server, or a store opened here)"),
            (["status", "o1", "--token", "t"],
             "--token: only with --server (a store opened with --db takes none)"),
            (["bogus"], 'unknown command "bogus" (see pipetrack --help)')):
        rc, out, err = run(mode, *line)
        eq((rc, out, err), (2, "", "pipetrack: " + msg + "\n"), "refused: %r" % line)
    rc, out, err = run(["--server", "http://127.0.0.1:1"], "status", "o1", "--signing-key", "k.pem")
    eq((rc, err), (2, "pipetrack: --signing-key: only with --db (a server signs with its own "
                      "--signing-key)\n"), "--signing-key with a server")
    # a command's option before its name; --opt=value; a value that looks like an option
    rc, out, err = run(mode, "--limit", "1", "--json", "sessions")
    eq((rc, len(json.loads(out)["items"])), (0, 1), "--limit before the command")
    rc, out, err = run(mode, "--json", "sessions", "--limit=1", "--state=failed")
    eq([i["session_id"] for i in json.loads(out)["items"]], ["o2"], "--opt=value")
    rc, out, err = run(mode, "snapshot", "o1", "--notes", "--json")
    eq(rc, 0, "a note that looks like an option")
    rc, out, err = run(mode, "--json", "history", "o1", "--limit", "1")
    eq(json.loads(out)["items"][0]["notes"], "--json", "the note kept as given")
    # after --, an argument starting with '-' is positional
    rc, out, err = run(mode, "status", "--", "-x")
    eq((rc, err), (3, 'pipetrack: session_id: no session "-x" is stored (404 not_found)\n'), "-- -x")
    # through a server: the global options after the command too
    s = Server(db)
    try:
        rc, a, err = run([], "status", "o2", "--server", s.url, "--json")
        rc2, b, err2 = run(["--server", s.url, "--json"], "status", "o2")
        eq((rc, rc2, json.loads(a)["checksum"], err + err2), (0, 0, json.loads(b)["checksum"], ""),
           "--server after the command")
    finally:
        eq(s.stop(), 0, "server exit")


def status_lines(out):
    return {l[:10].strip(): l[11:] for l in out.splitlines() if l[:1].isalpha() and len(l) > 11}


def test_human_times():
    """ISO 8601 in the local zone (TZ) by default, UTC with --utc, raw ms with
    --json, in every table that shows a time; the report's "Generated at"."""
    db = fresh_db("times")
    mode = ["--db", db]
    track_checkout(mode, "t1", fail_at=1)
    rc, out, err = run(mode, "snapshot", "t1", "--notes", "n")
    eq(rc, 0, "snapshot")
    summer = 1783000000000  # 2026-07-02: New York in summer time
    rc, out, err = run(mode, "track", "--session", "t2", "--pipeline", "checkout_digital", "--step",
                       "checkout_started", "--status", "success", "--ts", str(summer))
    eq(rc, 0, "track t2")
    raw = {}
    for what, args in (("status", ["status", "t1"]), ("sessions", ["sessions"]),
                       ("history", ["history", "t1"]), ("issues", ["issues"])):
        rc, out, err = run(mode, "--json", *args)
        raw[what] = json.loads(out)
    eq([e["ts"] for e in raw["status"]["events"]], [TS0, TS0 + 1000], "--json: raw ms as tracked")
    iid = raw["issues"]["items"][0]["id"]
    rc, out, err = run(mode, "--json", "issues", "show", iid)
    raw["issue"] = json.loads(out)
    for tz, off in (("UTC", 0), ("Asia/Kolkata", 330), ("America/New_York", -300)):
        for utc in (False, True):
            o = 0 if utc else off
            flags = ["--utc"] if utc else []
            env = {"TZ": tz}
            rc, out, err = run(mode, "status", "t1", *flags, env=env)
            eq((rc, err), (0, ""), "status")
            f = status_lines(out)
            eq((f["started"], f["last event"]),
               (iso(TS0, o, utc), iso(TS0 + 1000, o, utc) + " (1.0 s after the start)"),
               "status times in %s utc=%s" % (tz, utc))
            rows = [l.split() for l in out.splitlines() if l.strip().startswith(("0 ", "1 "))]
            eq([r[3] for r in rows], [iso(TS0, o, utc), iso(TS0 + 1000, o, utc)], "event TS column")
            snap = raw["status"]["latest_snapshot"]
            check(out.rstrip().endswith("latest snapshot %s (2 events, %s)"
                                        % (snap["id"], iso(snap["created_at"], o, utc))), out)
            rc, out, err = run(mode, "sessions", *flags, env=env)
            got = {l.split()[0]: l.split()[-1] for l in out.splitlines()[1:]}
            eq(got, {i["session_id"]: iso(i["updated_at"], o, utc) for i in raw["sessions"]["items"]},
               "sessions LAST_ACTIVITY")
            rc, out, err = run(mode, "history", "t1", *flags, env=env)
            eq(out.splitlines()[1].split()[3], iso(raw["history"]["items"][0]["created_at"], o, utc),
               "history CREATED_AT")
            rc, out, err = run(mode, "issues", *flags, env=env)
            eq(out.splitlines()[1].split()[4], iso(raw["issues"]["items"][0]["last_seen"], o, utc),
               "issues LAST_SEEN")
            rc, out, err = run(mode, "issues", "show", iid, *flags, env=env)
            f = status_lines(out)
            eq((f["first seen"], f["last seen"]),
               (iso(raw["issue"]["first_seen"], o, utc), iso(raw["issue"]["last_seen"], o, utc)),
               "issue card")
        # summer time: the offset of that day, not of today
        rc, out, err = run(mode, "status", "t2", env={"TZ": tz})
        o = -240 if tz == "America/New_York" else off
        eq(status_lines(out)["started"], iso(summer, o), "the offset in July in " + tz)
    # the exact strings, written out once
    rc, out, err = run(mode, "status", "t1", env={"TZ": "Asia/Kolkata"})
    eq(status_lines(out)["started"], "2026-11-30T10:29:26.300+05:30", "Kolkata")
    rc, out, err = run(mode, "status", "t1", "--utc", env={"TZ": "Asia/Kolkata"})
    eq(status_lines(out)["started"], "2026-11-30T04:59:26.300Z", "--utc")
    rc, out, err = run(mode, "--json", "status", "t1", "--utc")
    eq(json.loads(out)["checksum"]["started_at"], TS0, "--utc leaves the JSON raw")
    # the Markdown report, in both modes
    s = Server(db)
    try:
        for m in (mode, ["--server", s.url]):
            before = int(time.time() * 1000) // 1000 * 1000
            rc, out, err = run(m, "report", "t1", env={"TZ": "Asia/Kolkata"})
            after = int(time.time() * 1000) + 1
            line = [l for l in out.splitlines() if l.startswith("- **Generated at:** ")]
            eq(len(line), 1, "one Generated at line")
            g = line[0][len("- **Generated at:** "):]
            check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", g), "ISO 8601 UTC: %r" % g)
            ms = int(datetime.datetime.fromisoformat(g.replace("Z", "+00:00")).timestamp() * 1000)
            check(before <= ms <= after, "Generated at is now: %r" % g)
    finally:
        eq(s.stop(), 0, "server exit")


def test_status_errors():
    """status names the error code and message of each failed step; text a
    client sent is printed with its control characters escaped."""
    db = fresh_db("errors")
    mode = ["--db", db]
    track_checkout(mode, "e1", fail_at=1, error=("card_declined", "Card declined by issuer"))
    track_checkout(mode, "e2", fail_at=2, error=("gateway\x1b[31m", "line one\nline\ttwo\x07"))
    track_checkout(mode, "e3", fail_at=0, error=None)
    track_checkout(mode, "e4")
    # a failure older than the 100 events a status holds: named, and where to look
    lines = [json.dumps({"session_id": "e5", "pipeline_type": "checkout_digital",
                         "step": "checkout_started", "status": "failure"})]
    lines += [json.dumps({"session_id": "e5", "pipeline_type": "checkout_digital",
                          "step": "payment_initiated", "status": "started"})] * 100
    rc, out, err = run(mode, "track", "--file", "-", stdin="\n".join(lines) + "\n")
    eq(rc, 0, "e5 tracked")
    s = Server(db)
    try:
        for m in (mode, ["--server", s.url]):
            for sid, want in (("e1", ["payment_initiated (seq 1): card_declined: Card declined by issuer"]),
                              ("e2", ["payment_confirmed (seq 2): gateway\\x1B[31m: "
                                      "line one\\nline\\ttwo\\x07"]),
                              ("e3", ["checkout_started (seq 0): no error given"]),
                              ("e4", []),
                              ("e5", ["checkout_started: not among the 100 latest events "
                                      "(pipetrack report e5 shows it)"])):
                rc, out, err = run(m, "status", sid)
                eq((rc, err), (0, ""), "status " + sid)
                eq([l[11:] for l in out.splitlines() if l.startswith("error      ")], want,
                   "error lines of " + sid)
                check("\x1b" not in out and "\x07" not in out, "no control characters: %r" % out)
            rc, out, err = run(m, "status", "e1")
            eq(out.splitlines()[1], "state      failed (terminal)", "state line")
            rc, out, err = run(m, "--json", "status", "e2")
            eq(json.loads(out)["events"][-1]["error"]["message"], "line one\nline\ttwo\x07",
               "--json: the message as sent")
    finally:
        eq(s.stop(), 0, "server exit")


def test_stats_command():
    """stats TYPE: the funnel as a table, the same through a server; TIME in
    each of its forms; the answer with --json."""
    db = fresh_db("stats")
    mode = ["--db", db]
    for i in range(5):
        track_checkout(mode, "s%d" % i, fail_at=1 if i == 3 else 3 if i == 4 else None)
    rc, table, err = run(mode, "stats", "checkout_digital")
    eq((rc, err), (0, ""), "stats")
    rc, out, err = run(mode, "--json", "stats", "checkout_digital")
    doc = json.loads(out)
    eq((doc["sessions"], doc["completed"], doc["failed"]), (5, 3, 2), "the answer")
    lines = table.splitlines()
    eq(lines[:4], ["checkout_digital: 5 sessions created from the start to now",
                   "completed  3 (60.0%)", "failed     2 (40.0%)", "stalled    0 (0.0%)"], "head")
    p50 = doc["duration_ms"]["p50"]
    check(lines[4].startswith("duration   p50 %.1f s, " % (p50 / 1000)), "duration: %r" % lines[4])
    eq(lines[6].split(), ["STEP", "REACHED", "REACHED%", "SUCCEEDED", "SUCCESS%", "FAILED", "FAILED%",
                          "P50", "P95"], "table head")
    eq([l.split()[:7] for l in lines[7:]],
       [["checkout_started", "5", "100.0%", "5", "100.0%", "0", "0.0%"],
        ["payment_initiated", "5", "100.0%", "4", "80.0%", "1", "20.0%"],
        ["payment_confirmed", "4", "80.0%", "4", "100.0%", "0", "0.0%"],
        ["checkout_completed", "4", "80.0%", "3", "75.0%", "1", "25.0%"]], "funnel rows")
    eq([l.split()[7:] for l in lines[7:]], [["-", "-"]] * 4, "no step durations without started")
    s = Server(db)
    try:
        rc, out, err = run(["--server", s.url], "stats", "checkout_digital")
        eq((rc, out), (0, table), "the same table through a server")
        rc, out, err = run(["--server", s.url], "stats", "nope")
        eq((rc, err), (2, 'pipetrack: pipeline_type: no pipeline "nope" is defined '
                          '(defined: checkout_digital, signup, data_job) (422 unknown_pipeline)\n'),
           "unknown pipeline type")
    finally:
        eq(s.stop(), 0, "server exit")
    # TIME: each form, as the answer echoes it
    day = int(datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc).timestamp() * 1000)
    for text, tz, want in (("2026-11-01", "UTC", day), ("2026-11-01", "Asia/Kolkata", day - 330 * 60000),
                           ("2026-11-01T10:15", "UTC", day + 36900000),
                           ("2026-11-01T10:15:30.25Z", "Asia/Kolkata", day + 36930250),
                           ("2026-11-01T10:15:30+05:30", "UTC", day + 36930000 - 19800000),
                           ("2026-11-01 10:15-0100", "UTC", day + 36900000 + 3600000),
                           (str(day), "Asia/Kolkata", day)):
        rc, out, err = run(mode, "--json", "stats", "checkout_digital", "--since", text, env={"TZ": tz})
        eq((rc, json.loads(out)["since"] if rc == 0 else err), (0, want), "--since %s in %s" % (text, tz))
    rc, out, err = run(mode, "--json", "stats", "checkout_digital", "--since", "2026-11-01", "--utc",
                       env={"TZ": "Asia/Kolkata"})
    eq(json.loads(out)["since"], day, "--utc: a time without a zone in UTC")
    for text, back in (("90s", 90000), ("30m", 1800000), ("1h", 3600000), ("7d", 604800000),
                       ("2w", 1209600000)):
        t0 = int(time.time() * 1000)
        rc, out, err = run(mode, "--json", "stats", "checkout_digital", "--since", text)
        t1 = int(time.time() * 1000)
        since = json.loads(out)["since"]
        check(t0 - back <= since <= t1 - back, "--since %s: %d not in [%d, %d]" % (text, since, t0 - back, t1 - back))
    rc, out, err = run(mode, "stats", "checkout_digital", "--since", "1h", "--until", "now")
    eq(out.splitlines()[0].split(": ")[1][:9], "5 session", "the last hour holds them all")
    rc, out, err = run(mode, "stats", "checkout_digital", "--until", "1h", "--utc")
    eq(out.splitlines()[:2], ["checkout_digital: 0 sessions created from the start to %s"
                              % out.splitlines()[0].split(" to ")[1], "completed  0 (-)"], "none: no rates")
    check(out.splitlines()[0].endswith("Z"), "--utc until: %r" % out.splitlines()[0])
    eq([l.split()[1:8] for l in out.splitlines()[7:8]], [["0", "-", "0", "-", "0", "-", "-"]],
       "a step with no sessions")
    for bad in ("yesterday", "2026-02-30", "2026-11-01T25:00", "2026-11-01T10:00+5", "1y", ""):
        rc, out, err = run(mode, "stats", "checkout_digital", "--since", bad)
        eq(rc, 2, "--since %r" % bad)
        check(err.startswith("pipetrack: stats: --since: must be a time: ") and err.endswith(
            'got "%s"\n' % bad), "the rule: %r" % err)
    rc, out, err = run(mode, "stats", "checkout_digital", "--since", "2026-11-02T00:00Z", "--until",
                       "2026-11-01T00:00Z", "--utc")
    eq((rc, err), (2, "pipetrack: stats: --until (2026-11-01T00:00:00.000Z) must be later than "
                      "--since (2026-11-02T00:00:00.000Z)\n"), "until before since")
    # sessions and issues within a window, TIME as for stats (the activity is now)
    rc, out, err = run(mode, "--json", "sessions", "--since", "1h")
    eq((rc, sorted(i["session_id"] for i in json.loads(out)["items"])),
       (0, ["s0", "s1", "s2", "s3", "s4"]), "sessions active in the last hour")
    rc, out, err = run(mode, "--json", "sessions", "--until", "1h")
    eq((rc, json.loads(out)["items"]), (0, []), "no session last active before an hour ago")
    rc, out, err = run(mode, "--json", "sessions", "--state", "failed", "--since", "2026-11-01", "--until", "now")
    eq(sorted(i["session_id"] for i in json.loads(out)["items"]), ["s3", "s4"], "failed ones in a window")
    rc, out, err = run(mode, "--json", "issues", "--since", "1h")
    eq((rc, sorted(i["code"] for i in json.loads(out)["items"])), (0, ["card_declined", "card_declined"]),
       "issues seen in the last hour")
    rc, out, err = run(mode, "--json", "issues", "--until", "1h")
    eq((rc, json.loads(out)["items"]), (0, []), "no issue seen before an hour ago")
    rc, out, err = run(mode, "sessions", "--since", "soon")
    eq((rc, err[:42]), (2, "pipetrack: sessions: --since: must be a ti"), "sessions: a bad time")
    rc, out, err = run(mode, "issues", "--until", "2026-11-01", "--since", "2026-11-02")
    eq((rc, err), (2, "pipetrack: until: must be later than since (400 invalid_request)\n"),
       "issues: an empty window")


def test_exit_codes():
    """0 success, 1 a check failed, 2 usage or I/O or a refused request, 3 not
    found — in both modes."""
    import http.server
    import threading
    db = fresh_db("exits")
    track_checkout(["--db", db], "x1")
    s = Server(db, "--api-token", "tk")
    try:
        for m in (["--db", db], ["--server", s.url, "--token", "tk"]):
            label = m[0]
            for line in (["status", "x1"], ["verify", "x1"], ["history", "x1"], ["sessions"],
                         ["stats", "checkout_digital"], ["issues"], ["report", "x1"]):
                rc, out, err = run(m, *line)
                eq((rc, err), (0, ""), "%s %s: 0" % (label, line))
            for line, msg in ((["status", "nope"], 'session_id: no session "nope" is stored'),
                              (["verify", "nope"], 'session_id: no session "nope" is stored'),
                              (["history", "nope"], 'session_id: no session "nope" is stored'),
                              (["report", "nope"], 'session_id: no session "nope" is stored'),
                              (["snapshot", "nope"], 'session_id: no session "nope" is stored'),
                              (["redact", "nope"], 'session_id: no session "nope" is stored'),
                              (["redact", "x1", "x1-9"], 'event_ids[0]: no event "x1-9" in session "x1"'),
                              (["export", "--session", "nope"], 'session_id: no session "nope" is stored'),
                              (["issues", "show", "iss_000000000000000000000000"],
                               'id: no issue "iss_000000000000000000000000"'),
                              (["issues", "resolve", "iss_000000000000000000000000"],
                               'id: no issue "iss_000000000000000000000000"')):
                rc, out, err = run(m, *line)
                eq((rc, out, err), (3, "", "pipetrack: %s (404 not_found)\n" % msg),
                   "%s %s: 3" % (label, line))
            rc, out, err = run(m, "track", "--session", "x1", "--pipeline", "checkout_digital",
                               "--step", "nope", "--status", "success")
            eq(rc, 2, label + " a refused event: 2")
            rc, out, err = run(m, "status")
            eq(rc, 2, label + " usage: 2")
        rc, out, err = run(["--server", s.url], "status", "x1")
        eq(rc, 2, "no token: 2")
    finally:
        eq(s.stop(), 0, "server exit")
    # a tampered export: every refused line is a failed check
    export = os.path.join(TMP, "cli-exits.jsonl")
    rc, out, err = run(["--db", db], "export", "--output", export)
    text = open(export).read()
    for bad in (text.replace('"ts":%d' % (TS0 + 2000), '"ts":%d' % (TS0 + 2001), 1),
                text.replace('"type":"event"', '"type":"evnt"', 1), text + "not json\n"):
        rc, out, err = run(["--db", fresh_db("exits-dst")], "import", "-", stdin=bad)
        eq(rc, 1, "a refused import line: 1 (%r)" % err)
        check(re.match(r"pipetrack: line \d+: ", err), "names the line: %r" % err)
    rc, out, err = run(["--db", fresh_db("exits-dst")], "import", "-", stdin=text)
    eq((rc, err), (0, ""), "the export as it was: 0")

    # a 404 that names nothing is a route the server lacks: not "not found"
    class Old(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"error": {"code": "not_found", "message": "no such endpoint: "
                                         + self.path.split("?")[0], "field": None}}).encode()
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass
    httpd = http.server.HTTPServer(("127.0.0.1", 0), Old)
    th = threading.Thread(target=httpd.serve_forever, daemon=True)
    th.start()
    try:
        rc, out, err = run(["--server", "http://127.0.0.1:%d" % httpd.server_port], "stats", "signup")
        eq((rc, err), (2, "pipetrack: no such endpoint: /api/pipeline/stats (404 not_found)\n"),
           "an older server: 2")
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_help():
    """--help for every command (usage, options, an example; exit 0, stdout),
    the same as `help COMMAND`; the exit statuses in --help and the manual."""
    for cmd in COMMANDS:
        rc, out, err = run([], cmd, "--help")
        eq((rc, err), (0, ""), cmd + " --help")
        check(out.startswith("usage: pipetrack " + cmd), "%s usage: %r" % (cmd, out[:60]))
        check("\nExample:\n  pipetrack " in out, cmd + " has an example")
        if cmd not in ("import", "help"):
            check("\nOptions" in out, cmd + " lists its options")
        check("Exit status: 0 ok,\n1 a check failed, 2 usage or I/O error, 3 not found." in out,
              cmd + " names the exit statuses")
        for line in ([cmd, "-h"], ["--help", cmd], ["help", cmd], ["--db", "memory:", cmd, "x", "--help"]):
            rc, out2, err = run([], *line)
            eq((rc, out2), (0, out), "%r: the same help" % line)
    rc, out, err = run([], "--help")
    eq((rc, err), (0, ""), "--help")
    names = re.findall(r"^  ([a-z]+) ", out.split("Commands:\n")[1].split("\n\n")[0], re.M)
    eq(sorted(set(names)), sorted(COMMANDS), "--help lists every command")
    check("\nExit status:\n  0  success\n  1  a check failed" in out and "\n  3  not found" in out,
          "exit statuses: %r" % out)
    rc, out2, err = run([], "help")
    eq((rc, out2), (0, out), "help")
    rc, out, err = run([])
    eq((rc, out, err.splitlines()[0]), (2, "", out2.splitlines()[0]), "no command: usage on stderr")
    man = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs",
                            "pipetrack.1")).read()
    for cmd in COMMANDS:
        check("\\fB%s\\fR" % cmd in man or "\\fB%s " % cmd in man, "the manual has " + cmd)
    for code in ("0", "1", "2", "3"):
        check(".B %s\n" % code in man.split(".SH EXIT STATUS")[1], "the manual's exit status " + code)


TESTS = [test_db_mode, test_server_mode, test_signing_key, test_redact_command, test_check_command,
         test_roundtrip_100k, test_between_stores, test_refusals_and_tables, test_options_anywhere,
         test_human_times, test_status_errors, test_stats_command, test_exit_codes, test_help]
run_tests(TESTS, ONLY)
