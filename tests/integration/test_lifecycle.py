#!/usr/bin/env python3
"""test_lifecycle.py - pipetrackd's start and stop (src/server/lifecycle.c):
refused at start when --listen names no IPv4 address or its port is taken
(one line saying why, exit 1); on SIGTERM a request in flight is finished
and stored, and one that never finishes is given --drain-timeout, then the
server exits 0 saying how many requests it left. Python's standard library
only. Usage: test_lifecycle.py PIPETRACKD TMPDIR [TEST...]"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, eq, fresh_store, launch, request, run_tests  # noqa: E402

PTD, TMP = sys.argv[1], sys.argv[2]
ONLY = sys.argv[3:]
os.makedirs(TMP, exist_ok=True)


def refused(args):
    """pipetrackd run with args (no --listen added): (exit status, stdout,
    stderr); it must end by itself within 30 s."""
    p = subprocess.run([PTD, "--db", "memory:"] + args, capture_output=True, text=True,
                       timeout=30, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def test_listen_refused():
    for host in ("localhost", "::1", "127.0.0.256"):
        rc, out, err = refused(["--listen", "%s:0" % host])
        eq((rc, out), (1, ""), "--listen %s" % host)
        check(err.endswith('pipetrackd: --listen: "%s" is not an IPv4 address\n' % host),
              "names the address: %r" % err)


def test_port_taken():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        rc, out, err = refused(["--listen", "127.0.0.1:%d" % port])
        eq((rc, out), (1, ""), "port %d taken" % port)
        check(err.endswith("pipetrackd: cannot listen on 127.0.0.1:%d: Address already in use\n"
                           % port), "says why: %r" % err)
    finally:
        s.close()


EVENT = {"event": {"session_id": "d1", "pipeline_type": "checkout_digital",
                   "step": "checkout_started", "status": "success", "input": {"n": 1}}}


def slow_post(port, body, sent):
    """A track request whose head and the first `sent` bytes of its body are
    sent; the socket, for the rest."""
    c = socket.create_connection(("127.0.0.1", port), timeout=30)
    c.sendall(("POST /api/pipeline/track HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
               % len(body)).encode() + body[:sent])
    return c


def log_lines(path):
    with open(path, "rb") as f:
        return [json.loads(l) for l in f.read().splitlines() if l.startswith(b"{")]


def test_drain():
    db = fresh_store(TMP, "lifecycle-drain")
    body = json.dumps(EVENT).encode()
    # a request in flight at SIGTERM is finished: answered and stored
    path = os.path.join(TMP, "lifecycle-drain-1.log")
    log = open(path, "wb")
    p, port = launch(PTD, ["--db", db, "--quiet", "--drain-timeout", "20"], log)
    c = slow_post(port, body, 10)
    time.sleep(0.3)  # the head is read: the request is counted in flight
    p.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    check(p.poll() is None, "the server waits for the request in flight")
    c.sendall(body[10:])
    answer = c.recv(65536).decode()
    c.close()
    check(answer.startswith("HTTP/1.1 201 "), "the request in flight answered (201 Created): %r" % answer[:80])
    eq(p.wait(timeout=30), 0, "exit after the drain")
    p.stdout.close()
    log.close()
    msgs = [l["msg"] for l in log_lines(path)]
    check("draining" in msgs and "stopped" in msgs and "drain timed out" not in msgs,
          "log: %r" % msgs)
    # stored: a new server on the same store has it
    log = open(os.path.join(TMP, "lifecycle-drain-2.log"), "wb")
    p, port = launch(PTD, ["--db", db, "--quiet"], log)
    try:
        st, _, doc = request(port, "GET", "/api/pipeline/status?session_id=d1")
        eq((st, doc["event_count"]), (200, 1), "the drained request's event is stored")
    finally:
        p.send_signal(signal.SIGTERM)
        eq(p.wait(timeout=30), 0, "second server exit")
        p.stdout.close()
        log.close()
    # a request that never finishes: given --drain-timeout, then left
    path = os.path.join(TMP, "lifecycle-drain-3.log")
    log = open(path, "wb")
    p, port = launch(PTD, ["--db", db, "--quiet", "--drain-timeout", "1"], log)
    c = slow_post(port, json.dumps(dict(EVENT, id="x")).encode(), 5)
    time.sleep(0.3)
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=30)
    waited = time.monotonic() - t0
    c.close()
    p.stdout.close()
    log.close()
    eq(rc, 0, "exit after the drain timed out")
    check(0.9 <= waited < 8, "waited the drain timeout (1 s): %.2f s" % waited)
    timed_out = [l for l in log_lines(path) if l["msg"] == "drain timed out"]
    eq([(l["level"], l["requests"]) for l in timed_out], [("warn", 1)], "drain timed out logged")


run_tests([test_listen_refused, test_port_taken, test_drain], ONLY)
