#!/usr/bin/env python3
"""bench/idle_streams.py - resident memory of pipetrackd per idle stream.

Starts each configuration on a fresh server (memory:, 127.0.0.1, a free
port), tracks one event, opens N status streams (each sends its request and
waits for its first summary), waits a second and reads the server's VmRSS;
prints the growth over the fresh server and per stream. The configurations
run one after the other in the same run, so they can be compared side by
side on the same machine at the same time.

    bench/idle_streams.py N LABEL=BINARY[:ARG,ARG...] [LABEL=...]
    bench/idle_streams.py 2000 base=/tmp/old/pipetrackd:--conn-buffer,16384 new=build/pipetrackd

COOKIE=BYTES adds a Cookie of that many bytes to each stream's request (a
head as large as the clients send); STREAM=issues opens
/api/pipeline/issues/stream instead, STREAM=keepalive holds idle keep-alive
connections after one GET /healthz each. Every load is bounded: N at most 15,000,
each connection and read 30 s, each configuration 300 s. With SMAPS=1, the
server's anonymous mappings are listed by size (count, resident KiB) with the
streams open: libmicrohttpd mmaps a connection's pool when it is over
32 KiB, mallocs it otherwise.
"""
import os
import resource
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from harness import launch, request, stop  # noqa: E402


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    return 0


def anon_mappings(pid):
    """{size KiB: [count, resident KiB]} of the anonymous private mappings."""
    out, cur = {}, None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5 and ":" in parts[3]:
                cur = None
                if len(parts) == 5:  # no path: anonymous
                    lo, hi = (int(x, 16) for x in parts[0].split("-"))
                    cur = (hi - lo) // 1024
                    out.setdefault(cur, [0, 0])[0] += 1
            elif cur is not None and parts[0] == "Rss:":
                out[cur][1] += int(parts[1])
    return out


def one(label, binary, args, n, cookie, stream, tmp):
    log = open(os.path.join(tmp, "idle-%s.log" % label), "wb")
    p, port = launch(binary, ["--db", "memory:", "--quiet", "--max-connections", str(n + 500),
                              "--max-connections-per-ip", "0", "--idle-timeout", "600",
                              "--threads", "2"] + args, log)
    socks = []
    try:
        st, _, _ = request(port, "POST", "/api/pipeline/track",
                           {"event": {"session_id": "p_1", "pipeline_type": "checkout_digital",
                                      "step": "checkout_started", "status": "success"}})
        assert st in (200, 201), st
        time.sleep(0.5)
        rss0 = rss_kib(p.pid)
        maps0 = anon_mappings(p.pid)
        path = {"issues": b"/api/pipeline/issues/stream", "keepalive": b"/healthz"}.get(
            stream, b"/api/pipeline/status/stream?session_id=p_1")
        head = b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n"
        if cookie:
            head += b"Cookie: " + b"a" * cookie + b"\r\n"
        head += b"\r\n"
        want = {"issues": b"event: issues", "keepalive": b'"ok"'}.get(stream, b"event: status")
        t0 = time.time()
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(head)
            socks.append(s)
            if time.time() - t0 > 300:
                break
        got = 0
        for s in socks:  # each stream got its first event
            data = b""
            try:
                while want not in data:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except socket.timeout:
                pass
            got += data.startswith(b"HTTP/1.1 200") and want in data
            if time.time() - t0 > 300:
                break
        time.sleep(1)
        rss1 = rss_kib(p.pid)
        maps1 = anon_mappings(p.pid)
        grow = rss1 - rss0
        print("%-10s %6d streams (%d answered)  RSS %7.1f -> %7.1f MiB  +%6.1f MiB  "
              "%5.2f KiB a stream  %s%s" % (label, len(socks), got, rss0 / 1024, rss1 / 1024,
                                             grow / 1024, grow / max(1, len(socks)),
                                             " ".join(args) or "(defaults)",
                                             " cookie %d" % cookie if cookie else ""), flush=True)
        if os.environ.get("SMAPS"):
            for size in sorted(set(maps0) | set(maps1)):
                c0, r0 = maps0.get(size, [0, 0])
                c1, r1 = maps1.get(size, [0, 0])
                if c1 - c0 >= n // 2:
                    print("           anonymous mappings of %d KiB: %d -> %d, resident %d -> "
                          "%d KiB (%.1f KiB each new one)" % (size, c0, c1, r0, r1,
                                                             (r1 - r0) / max(1, c1 - c0)))
        for s in socks:
            s.close()
        socks = []
        time.sleep(2)
        print("           after they closed: RSS %.1f MiB" % (rss_kib(p.pid) / 1024), flush=True)
        return grow
    finally:
        for s in socks:
            s.close()
        stop(p, log)


def main():
    n = min(int(sys.argv[1]), 15000)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, n + 1000)), hard))
    tmp = os.environ.get("TMPDIR", "/tmp")
    cookie = int(os.environ.get("COOKIE", "0"))
    stream = os.environ.get("STREAM", "status")
    for spec in sys.argv[2:]:
        label, rest = spec.split("=", 1)
        binary, _, args = rest.partition(":")
        one(label, binary, [a for a in args.split(",") if a], n, cookie, stream, tmp)


if __name__ == "__main__":
    main()
