#!/usr/bin/env python3
"""no_read.py - clients that ask for large answers and never read them.

Fills a store with SESSIONS sessions of EVENTS events whose inputs are ~60 KB
each, then opens CLIENTS connections that each send one request for a large
answer (the export, status?events_limit=1000, the report) and never read,
and prints pipetrackd's RSS (VmRSS) before, while they wait, and the answers
they got. Python's standard library only.
Usage: no_read.py PIPETRACKD TMPDIR [CLIENTS] [-- extra pipetrackd options]
"""
import json
import os
import random
import socket
import string
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from harness import fresh_store, launch, request, stop  # noqa: E402

PAYLOAD = 60_000


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fill(port, sessions, events):
    rnd = random.Random(1)
    for s in range(sessions):
        sid = "big%d" % s
        for start in range(0, events, 50):
            evs = []
            for i in range(start, min(events, start + 50)):
                blob = "".join(rnd.choices(string.ascii_letters, k=PAYLOAD))
                evs.append({"session_id": sid, "pipeline_type": "checkout_digital",
                            "step": "checkout_started", "status": "success",
                            "input": {"i": i, "blob": blob}})
            st, _, doc = request(port, "POST", "/api/pipeline/track/batch", {"events": evs},
                                 timeout=120)
            if st != 200 or any(r["status"] >= 300 for r in doc["results"]):
                raise RuntimeError("fill failed: %s %s" % (st, str(doc)[:300]))


def no_readers(port, paths, clients):
    """Opens clients connections, each sending one GET and never reading."""
    socks = []
    for i in range(clients):
        c = socket.create_connection(("127.0.0.1", port))
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        p = paths[i % len(paths)]
        c.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % p).encode())
        socks.append(c)
    return socks


def status_line(c, timeout=10):
    """Reads what came back on c until the first line: its status code."""
    c.settimeout(timeout)
    data = b""
    while b"\r\n" not in data:
        b = c.recv(4096)
        if not b:
            break
        data += b
    return int(data.split(b" ")[1]) if data.startswith(b"HTTP/") else 0


PATHS = ["/api/pipeline/export",
         "/api/pipeline/status?session_id=big0&events_limit=1000",
         "/api/pipeline/report?session_id=big0"]


def main():
    ptd, tmp = sys.argv[1], sys.argv[2]
    rest = sys.argv[3:]
    clients = 30
    if rest and rest[0] != "--":
        clients = int(rest.pop(0))
    extra = rest[1:] if rest and rest[0] == "--" else []
    os.makedirs(tmp, exist_ok=True)
    url = fresh_store(tmp, "noread")
    log = open(os.path.join(tmp, "noread.log"), "wb")
    p, port = launch(ptd, ["--db", url, "--max-body", str(64 << 20), "--quiet",
                           "--idle-timeout", "600"] + extra, log)
    try:
        fill(port, 1, 1000)
        request(port, "GET", PATHS[1], raw=True, timeout=120)  # warm: one read in full
        before = rss_kb(p.pid)
        only = os.environ.get("NOREAD_ONLY")
        paths = [PATHS[int(only)]] if only else PATHS
        socks = no_readers(port, paths, clients)
        peak = before
        for _ in range(20):
            time.sleep(1)
            peak = max(peak, rss_kb(p.pid))
        settled = rss_kb(p.pid)
        codes = [status_line(c) for c in socks]
        st, _, _ = request(port, "GET", "/healthz", raw=True)
        print(json.dumps({"clients": clients, "rss_before_mb": before // 1024,
                          "rss_peak_mb": peak // 1024, "growth_mb": (peak - before) // 1024,
                          "rss_settled_mb": settled // 1024,
                          "statuses": {str(k): codes.count(k) for k in sorted(set(codes))},
                          "healthz": st}))
        for c in socks:
            c.close()
    finally:
        stop(p, log)


if __name__ == "__main__":
    main()
