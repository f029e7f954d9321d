#!/usr/bin/env python3
"""bench/long_answers.py - the time of a long status or report, streamed
with each --conn-buffer against sent whole.

A status or report whose text passes 1 MiB is streamed (src/lib/longdoc.c):
libmicrohttpd sends it in chunks of what is free in the connection's pool
(--conn-buffer), one send each, where a whole answer goes out as one buffer.
This builds two sessions through the API, each of EVENTS tracks with
"auto_snapshot": true (as many registry entries): long1 with PAYLOAD-byte
inputs (its status and JSON report), long2 of failures with ERROR-byte
error messages and no input (its markdown report: the markdown shows an
event's error, not its input). It stops that server and starts on the same
SQLite file, side by side (127.0.0.1, free ports, stopped by PID):

  whole    --test-inline-max 0 (never streamed; default pool): the baseline
  5120 16384 40960 65536   --conn-buffer BYTES, streamed (40960 is the
           default, started without the option)

It checks each answer once (200; chunked when streamed, a Content-Length
when whole; the same bytes from every server but a report's generated_at),
then times GET status?events_limit=EVENTS&history_limit=EVENTS, GET report
and GET report?format=markdown, a fresh connection a request (Connection:
close; connect to last byte, and to first byte), N rounds, the targets in
a rotated order each round, and prints the median and p90, the median over
the whole one's, and MB/s. The seed peer (Node, in memory;
the directory $PIPETRACK_PEER_DIR, when set, as the other benches) gets
long1's events and its status (always whole) is timed in the same rounds;
it has no report route.

    python3 bench/long_answers.py build/pipetrackd [N]

N 15 (at most 101); EVENTS 400 (at most 1000), PAYLOAD 2000 and ERROR 3000
bytes (at most 60000): environment variables. BEFORE=PIPETRACKD adds
another build (one without streaming, say) on its own store of the same
events, timed in the same rounds. Bounded: each request 60 s, the timed
rounds 600 s (fewer rounds are reported as such). Python's standard
library only.
"""
import os
import random
import re
import shutil
import socket
import string
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from harness import launch, request, stop  # noqa: E402

POOLS = [5120, 16384, 40960, 65536]
DEFAULT_POOL = 40960


def get(port, path, timeout=60):
    """One GET on a new connection: (seconds to the last byte, raw answer
    bytes, seconds to the first byte)."""
    head = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % path).encode()
    t0 = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    first = None
    try:
        s.sendall(head)
        parts = []
        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            if first is None:
                first = time.perf_counter() - t0
            parts.append(b)
    finally:
        s.close()
    return time.perf_counter() - t0, b"".join(parts), first


def parse(raw):
    """(status, headers lower-cased, body decoded from chunks if chunked)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    h = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        h[k.strip().lower()] = v.strip()
    if h.get("transfer-encoding", "").lower() == "chunked":
        out, i = [], 0
        while True:
            j = body.index(b"\r\n", i)
            size = int(body[i:j].split(b";")[0], 16)
            if size == 0:
                break
            out.append(body[j + 2:j + 2 + size])
            i = j + 2 + size + 2
        body = b"".join(out)
    return status, h, body


def masked(body):
    """body without the report's time of generation (JSON and markdown)."""
    body = re.sub(rb'"generated_at":\d+', b'"generated_at":0', body, count=1)
    return re.sub(rb"\*\*Generated at:\*\* \S+", b"**Generated at:** -", body, count=1)


def fill_events(sid, events, payload, error):
    """EVENTS tracks of session sid, each with an entry: inputs of payload
    random letters; with error, each a failure whose message is that many
    (the markdown report shows the message, not the input)."""
    rnd = random.Random(1)
    for i in range(events):
        ev = {"session_id": sid, "pipeline_type": "checkout_digital",
              "step": "checkout_started", "status": "failure" if error else "success"}
        if payload:
            ev["input"] = {"i": i, "blob": "".join(rnd.choices(string.ascii_letters, k=payload))}
        if error:
            ev["error"] = {"code": "declined",
                           "message": "".join(rnd.choices(string.ascii_letters, k=error))}
        yield {"event": ev, "auto_snapshot": True}


def fill(port, sid, events, payload, error, what):
    t0 = time.time()
    for body in fill_events(sid, events, payload, error):
        st, _, doc = request(port, "POST", "/api/pipeline/track", body, timeout=60)
        if st not in (200, 201) or not doc.get("snapshot"):
            raise RuntimeError("%s: track failed: %s %s" % (what, st, str(doc)[:300]))
        if time.time() - t0 > 300:
            raise RuntimeError("%s: filling took over 300 s" % what)
    return time.time() - t0


def start_peer(build_dir, tmp):
    """(process, port) of the seed peer, or (None, why not)."""
    src = os.environ.get("PIPETRACK_PEER_DIR")
    if not src:
        return None, "PIPETRACK_PEER_DIR is not set (the seed design's directory)"
    if not os.path.isfile(os.path.join(src, "server.js")):
        return None, "no server.js in %s (PIPETRACK_PEER_DIR)" % src
    if not shutil.which("node"):
        return None, "no node"
    peer = os.path.join(build_dir, "peer-seed")
    if not os.path.isdir(os.path.join(peer, "node_modules")):
        shutil.rmtree(peer, ignore_errors=True)
        shutil.copytree(src, peer)
        for root, dirs, files in os.walk(peer):
            for n in dirs + files:
                os.chmod(os.path.join(root, n), 0o755 if n in dirs else 0o644)
        r = subprocess.run(["npm", "ci", "--silent", "--no-audit", "--no-fund"], cwd=peer,
                           capture_output=True, timeout=300)
        if r.returncode != 0:
            return None, "npm ci failed in %s" % peer
    log = open(os.path.join(tmp, "peer.log"), "wb")
    p = subprocess.Popen(["node", "server.js"], cwd=peer, stdout=subprocess.PIPE, stderr=log,
                         stdin=subprocess.DEVNULL, env=dict(os.environ, PORT="0"))
    line = p.stdout.readline().decode()
    m = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    if not m:
        p.kill()
        p.wait(timeout=30)
        return None, "the peer did not start: %r" % line
    return p, int(m.group(1))


def pct(xs, q):
    s = sorted(xs)
    return s[max(0, -(-len(s) * q // 100) - 1)]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    ptd = os.path.abspath(sys.argv[1])
    n = min(int(sys.argv[2]) if len(sys.argv) > 2 else int(os.environ.get("N", "15")), 101)
    events = min(int(os.environ.get("EVENTS", "400")), 1000)
    payload = min(int(os.environ.get("PAYLOAD", "2000")), 60000)
    error = min(int(os.environ.get("ERROR", "3000")), 60000)
    tmp = tempfile.mkdtemp(prefix="long_answers.", dir=os.environ.get("TMPDIR"))
    db = "sqlite:" + os.path.join(tmp, "long.db")
    version = subprocess.run([ptd, "--version"], capture_output=True, text=True).stdout.strip()
    print("%s, %d cores, load %s, %s" % (version, os.cpu_count(),
                                         " ".join("%.2f" % x for x in os.getloadavg()),
                                         time.strftime("%Y-%m-%d %H:%M")), flush=True)

    log = open(os.path.join(tmp, "fill.log"), "wb")
    p, port = launch(ptd, ["--db", db, "--quiet"], log)
    try:
        took = fill(port, "long1", events, payload, 0, "pipetrackd")
        took2 = fill(port, "long2", events, 0, error, "pipetrackd")
    finally:
        stop(p, log)
    print("session long1: %d events of %d-byte inputs, an entry after each (%.1f s)"
          % (events, payload, took))
    print("session long2: %d failures with %d-byte error messages, no input, an entry after "
          "each (%.1f s): its markdown report (the first's is a table of short rows)"
          % (events, error, took2), flush=True)

    docs = [("status", "/api/pipeline/status?session_id=long1&events_limit=%d&history_limit=%d"
             % (events, events)),
            ("report", "/api/pipeline/report?session_id=long1"),
            ("report.md", "/api/pipeline/report?session_id=long2&format=markdown")]
    configs = [("whole", ["--test-inline-max", "0"])]
    for pool in POOLS:
        configs.append((str(pool), [] if pool == DEFAULT_POOL else ["--conn-buffer", str(pool)]))
    servers, ports = [], {}
    peer, peer_port = None, None
    try:
        for label, args in configs:
            log = open(os.path.join(tmp, "srv-%s.log" % label), "wb")
            proc, prt = launch(ptd, ["--db", db, "--quiet"] + args, log)
            servers.append((proc, log))
            ports[label] = prt
        before = os.environ.get("BEFORE")
        if before:  # another build, all whole: its own store, the same events
            log = open(os.path.join(tmp, "srv-before.log"), "wb")
            proc, prt = launch(os.path.abspath(before),
                               ["--db", "sqlite:" + os.path.join(tmp, "before.db"), "--quiet"], log)
            servers.append((proc, log))
            ports["before"] = prt
            fill(prt, "long1", events, payload, 0, "BEFORE")
            fill(prt, "long2", events, 0, error, "BEFORE")
        peer, peer_port = start_peer(os.path.dirname(ptd), tmp)
        if peer:
            fill(peer_port, "long1", events, payload, 0, "peer")
        else:
            print("peer: %s" % peer_port, flush=True)

        # each answer once: what it is, and the same bytes from every server
        # (but the report's time of generation)
        targets, sizes = [], {}
        for name, path in docs:
            want = None
            for label, _ in configs:
                _, raw, _ = get(ports[label], path)
                st, h, body = parse(raw)
                body = masked(body)
                streamed = "chunked" in h.get("transfer-encoding", "")
                if st != 200 or streamed != (label != "whole") or (want and body != want):
                    raise RuntimeError("%s from %s: status %d, %s, %d bytes%s"
                                       % (name, label, st, "chunked" if streamed else "whole",
                                          len(body), "" if not want or body == want
                                          else " (not the whole answer's bytes)"))
                want = want or body
                targets.append((name, label, ports[label], path))
            sizes[name] = len(want)
        others = [("before", name, path) for name, path in docs if before]
        others += [("peer", "status", docs[0][1])] if peer else []
        for label, name, path in others:  # other documents: their own size
            prt = peer_port if label == "peer" else ports[label]
            _, raw, _ = get(prt, path)
            st, h, body = parse(raw)
            if st != 200:
                raise RuntimeError("%s %s: %d %s" % (label, name, st, body[:200]))
            sizes[label + " " + name] = len(body)
            targets.append((name, label, prt, path))
        print("answers: " + ", ".join("%s %d bytes (%.2f MiB)" % (k, v, v / 1048576)
                                      for k, v in sizes.items()), flush=True)

        for t in targets:  # warm: twice each
            get(t[2], t[3])
            get(t[2], t[3])
        times = {(t[0], t[1]): [] for t in targets}
        firsts = {(t[0], t[1]): [] for t in targets}
        t0 = time.time()
        rounds = 0
        for r in range(n):
            order = targets[r % len(targets):] + targets[:r % len(targets)]
            for name, label, prt, path in order:
                dt, raw, first = get(prt, path)
                if not raw.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError("%s from %s: %r" % (name, label, raw[:100]))
                times[(name, label)].append(dt)
                firsts[(name, label)].append(first)
            rounds += 1
            if time.time() - t0 > 600:
                break
        print("%d rounds of %d requests in %.1f s%s; load %s\n"
              % (rounds, len(targets), time.time() - t0,
                 "" if rounds == n else " (stopped at 600 s, %d asked)" % n,
                 " ".join("%.2f" % x for x in os.getloadavg())), flush=True)

        print("%-10s %-22s %10s %9s %9s %9s %8s %9s" % ("answer", "sent", "bytes", "median ms",
                                                        "p90 ms", "x whole", "MB/s",
                                                        "1st byte"))
        for name, _ in docs:
            base = pct(times[(name, "whole")], 50)
            for label in [c[0] for c in configs] + ["before", "peer"]:
                xs = times.get((name, label))
                if xs is None:
                    if label == "peer":
                        print("%-10s %-22s %s" % (name, "peer (Node)",
                                                  "not run" if not peer else
                                                  "no peer equivalent (no report route)"))
                    continue
                size = sizes.get(label + " " + name, sizes[name])
                what = {"whole": "whole (inline 0)", "before": "whole, BEFORE build",
                        "peer": "peer (Node, whole)"}.get(
                    label, "streamed, pool %s%s" % (label, "*" if label == str(DEFAULT_POOL)
                                                    else ""))
                med = pct(xs, 50)
                print("%-10s %-22s %10d %9.2f %9.2f %9.2f %8.0f %9.2f"
                      % (name, what, size, med * 1e3, pct(xs, 90) * 1e3, med / base,
                         size / med / 1e6, pct(firsts[(name, label)], 50) * 1e3))
        print("\n* the default pool (--conn-buffer unset: 2 x --max-header-bytes + 8192).\n"
              "whole: this build with --test-inline-max 0, the same renderer with every part "
              "copied into one buffer sent as is.%s\n"
              "Each time is connect to last byte, a fresh connection, loopback; x whole: the "
              "median over the whole one's median for the same answer (the peer's status, and "
              "another build's answers, are other documents of about the same size: per "
              "answer, not per byte). 1st byte: the median ms to the first byte."
              % ("\nBEFORE: %s, on its own store of the same events" % before if before
                 else ""))
    finally:
        for proc, log in servers:
            stop(proc, log)
        if peer:
            peer.terminate()
            peer.wait(timeout=30)
            peer.stdout.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
