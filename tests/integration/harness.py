"""harness.py - what the integration tests share: assertions that name what
they check, a pipetrackd started on a free loopback port (--listen
127.0.0.1:0, the URL read from its first stdout line) and stopped by its PID,
HTTP calls and Server-Sent Events, and the empty store each server or tool
run gets (a SQLite file, or a new PostgreSQL database when PT_TEST_DB_URL is
set). Python's standard library only."""
import http.client
import json
import os
import re
import select
import signal
import subprocess
import urllib.parse

# A PostgreSQL server (a libpq URL) the tests' stores are made on, one new
# database each; unset: SQLite files.
PG_URL = os.environ.get("PT_TEST_DB_URL") or None


class Skip(Exception):
    """Raised by a test that does not apply to this run (run_tests says why)."""


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def eq(got, want, what):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


def launch(ptd, args, log, env=None, timeout=30):
    """Starts ptd with args (after --listen 127.0.0.1:0), stderr to log;
    returns (process, port) once it listens. log is a file opened for
    writing (its name is read back on failure). A server that does not print
    its URL within timeout seconds is killed; the error names its exit
    status and the last lines of its log."""
    log.flush()
    start = log.tell()  # what this server writes to the log comes after
    p = subprocess.Popen([ptd, "--listen", "127.0.0.1:0"] + list(args), stdout=subprocess.PIPE,
                         stderr=log, stdin=subprocess.DEVNULL, env=env)
    ready = select.select([p.stdout], [], [], timeout)[0]
    line = p.stdout.readline().decode() if ready else ""
    m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if not m:
        if p.poll() is None:
            p.kill()
        rc = p.wait(timeout=30)
        p.stdout.close()
        with open(log.name, "rb") as f:
            f.seek(start)
            tail = b" | ".join(f.read().splitlines()[-3:]).decode(errors="replace")
        raise RuntimeError("pipetrackd %s did not start (exit status %s): %s"
                           % (" ".join(args), rc, tail or repr(line)))
    return p, int(m.group(1))


def stop(p, log, sig=signal.SIGTERM):
    """Signals the server (SIGTERM: drain and exit 0) and waits; its exit status."""
    p.send_signal(sig)
    rc = p.wait(timeout=60)
    p.stdout.close()
    log.close()
    return rc


def request(port, method, path, body=None, headers=None, raw=False, timeout=30):
    """One HTTP call on a new connection to 127.0.0.1:port: (status,
    headers, body). A body that is not bytes or str is sent as JSON; the
    answer's JSON is parsed unless raw."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    h = dict(headers or {})
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        h.setdefault("Content-Type", "application/json")
    try:
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
    finally:
        c.close()
    if raw:
        return r.status, dict(r.getheaders()), data
    doc = json.loads(data) if data and r.getheader("Content-Type", "").startswith(
        "application/json") else data
    return r.status, dict(r.getheaders()), doc


def next_sse(resp):
    """The next Server-Sent Event carrying data on resp (an open stream), as
    a dict of its fields ("event", "id", "data", ...); comments are skipped.
    AssertionError when the stream ends; the socket's timeout bounds each
    read."""
    ev = {}
    while True:
        line = resp.readline().decode()
        check(line != "", "stream ended")
        line = line.rstrip("\n")
        if line == "":
            if "data" in ev:
                return ev
            continue
        if line.startswith(":"):
            continue
        k, _, v = line.partition(": ")
        ev[k] = v


def pg_database(server_url, name):
    """Makes database pt_NAME_PID on the PostgreSQL server at server_url (a
    libpq URL) empty, dropped and created again with psql; returns the URL
    naming it."""
    db = ("pt_%s_%d" % (re.sub(r"[^a-z0-9_]", "_", name.lower()), os.getpid()))[:63]
    r = subprocess.run(["psql", server_url, "-X", "-q", "-v", "ON_ERROR_STOP=1",
                        "-c", 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % db,
                        "-c", 'CREATE DATABASE "%s"' % db],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PGCONNECT_TIMEOUT="10",
                                PGOPTIONS="-c client_min_messages=warning"))
    if r.returncode != 0:
        raise RuntimeError("PT_TEST_DB_URL %s: cannot make database %s: %s"
                           % (server_url, db, r.stderr.strip().replace("\n", " ")))
    return urllib.parse.urlunsplit(urllib.parse.urlsplit(server_url)._replace(path="/" + db))


def fresh_store(tmp, name):
    """The URL of an empty store for one server or tool run: without
    PT_TEST_DB_URL the SQLite file TMP/NAME-PID.db (any old one and its
    -wal/-shm removed); with it, a new database on that PostgreSQL server
    (pg_database)."""
    if PG_URL:
        return pg_database(PG_URL, name)
    path = os.path.join(tmp, "%s-%d.db" % (name, os.getpid()))
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(path + suffix)
        except FileNotFoundError:
            pass
    return "sqlite:" + path


def sqlite_path(url):
    """The file of a sqlite: store URL; None for another store."""
    return url[len("sqlite:"):] if url.startswith("sqlite:") else None


def sqlite_exec(path, sql):
    """Runs sql on the SQLite file at path and commits: a change made behind
    the server's back, as by someone with the file."""
    import sqlite3
    con = sqlite3.connect(path)
    try:
        con.execute(sql)
        con.commit()
    finally:
        con.close()


def on_sqlite(path, what):
    """True when the store is a SQLite file (path is not None); else says
    that `what`, which needs the file, is not checked on this store."""
    if path is None:
        print("  not on PostgreSQL (it needs the SQLite file): %s" % what, flush=True)
    return path is not None


def run_tests(tests, only):
    """Runs each test (all, or those named in only), reporting every one
    (ok, FAIL, or skip with the reason a Skip gave); exits 1 when any
    failed."""
    import sys
    import time
    import traceback
    failures, skipped = [], 0
    for t in tests:
        if only and t.__name__ not in only:
            continue
        t0 = time.time()
        try:
            t()
            print("ok   %s (%.1f s)" % (t.__name__, time.time() - t0), flush=True)
        except Skip as e:
            print("skip %s: %s" % (t.__name__, e), flush=True)
            skipped += 1
        except Exception as e:  # report every test, then fail
            traceback.print_exc()
            print("FAIL %s: %s" % (t.__name__, e), flush=True)
            failures.append(t.__name__)
    print(("%d failed" % len(failures) if failures else "all passed")
          + (" (%d skipped)" % skipped if skipped else ""))
    sys.exit(1 if failures else 0)
