#!/usr/bin/env python3
"""slow_clients.py - how pipetrackd answers while a crowd holds connections:
N slow-header clients (a header line every few seconds, never finishing
their head) and N idle ones (connected, silent), each reopened when the
server closes it, as an attacker would. Meanwhile /healthz and a track are
timed; p50/p99/max printed. Python's standard library only.

Usage: slow_clients.py PIPETRACKD [SLOW IDLE PROBES]
(tests/integration/test_http_strict.py uses the Crowd class.)"""
import http.client
import json
import os
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time


class Crowd:
    """slow + idle connections to 127.0.0.1:port, kept open by reopening."""

    def __init__(self, port, slow, idle, line_every=2.0):
        self.port, self.want = port, {"slow": slow, "idle": idle}
        self.line_every = line_every
        self.sel = selectors.DefaultSelector()
        self.open = {"slow": 0, "idle": 0}
        self.reopened = {"slow": 0, "idle": 0}
        self.refused = 0
        self.stop_flag = False
        self.t = threading.Thread(target=self._run, daemon=True)

    def _connect(self, kind):
        try:
            sk = socket.create_connection(("127.0.0.1", self.port), timeout=2)
            if kind == "slow":
                sk.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            sk.setblocking(False)
        except OSError:
            self.refused += 1
            return
        self.sel.register(sk, selectors.EVENT_READ, [kind, time.time()])
        self.open[kind] += 1

    def _run(self):
        n = 0
        while not self.stop_flag:
            for kind in ("slow", "idle"):
                # at most 400 new connections a round: the probes get turns
                for _ in range(min(400, self.want[kind] - self.open[kind])):
                    self._connect(kind)
            for key, _ in self.sel.select(timeout=0.05):
                sk, data = key.fileobj, key.data
                try:
                    got = sk.recv(4096)
                except OSError:
                    got = b""
                if not got:  # closed by the server: reopened next round
                    self.sel.unregister(sk)
                    sk.close()
                    self.open[data[0]] -= 1
                    self.reopened[data[0]] += 1
            n += 1
            if n % 10 == 0:
                now = time.time()
                for key in list(self.sel.get_map().values()):
                    if key.data[0] == "slow" and now - key.data[1] >= self.line_every:
                        key.data[1] = now
                        try:
                            key.fileobj.send(b"X-Slow: z\r\n")
                        except OSError:
                            pass

    def start(self, settle=30):
        """Opens the crowd; returns once it is all open (or settle s passed)."""
        self.t.start()
        t0 = time.time()
        while time.time() - t0 < settle:
            if self.open["slow"] + self.open["idle"] >= sum(self.want.values()):
                break
            time.sleep(0.1)
        return self.open["slow"] + self.open["idle"]

    def close(self):
        self.stop_flag = True
        self.t.join(timeout=10)
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()


def probe(port, kind, i):
    """(status, seconds) of one /healthz or track on a new connection."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    t0 = time.time()
    try:
        if kind == "healthz":
            c.request("GET", "/healthz")
        else:
            body = json.dumps({"event": {"session_id": "probe%d" % i, "pipeline_type":
                                         "checkout_digital", "step": "checkout_started",
                                         "status": "success"}})
            c.request("POST", "/api/pipeline/track", body, {"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        return r.status, time.time() - t0
    except OSError:
        return 0, time.time() - t0
    finally:
        c.close()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")


def measure(port, crowd, probes, spread):
    """probes of each kind over spread seconds; {kind: [(status, s)]}."""
    out = {"healthz": [], "track": []}
    for i in range(probes):
        for kind in out:
            out[kind].append(probe(port, kind, i))
        time.sleep(spread / probes)
    return out


def report(out, crowd):
    for kind, res in out.items():
        ms = [t * 1000 for st, t in res if st]
        print("  %-7s answered %d/%d  p50 %.1f ms  p99 %.1f ms  max %.1f ms" % (
            kind, len(ms), len(res), pct(ms, 50), pct(ms, 99), max(ms) if ms else float("nan")))
    print("  crowd open: slow %d, idle %d; closed by the server and reopened: slow %d, idle %d;"
          " refused %d" % (crowd.open["slow"], crowd.open["idle"], crowd.reopened["slow"],
                           crowd.reopened["idle"], crowd.refused))


def main():
    ptd = sys.argv[1]
    slow, idle, probes = (int(a) for a in (sys.argv[2:5] + ["2000", "2000", "200"][len(sys.argv) - 2:]))
    log = tempfile.NamedTemporaryFile(prefix="slow_clients-", suffix=".log", delete=False)
    limit = slow + idle + 100
    p = subprocess.Popen([ptd, "--listen", "127.0.0.1:0", "--db", "memory:", "--quiet",
                          "--max-connections", str(limit), "--max-connections-per-ip", "0",
                          "--header-timeout", "5"], stdout=subprocess.PIPE, stderr=log)
    port = int(p.stdout.readline().decode().rsplit(":", 1)[1].strip("/\n"))
    try:
        base = measure(port, None, 50, 1)
        print("without the crowd:")
        for kind, res in base.items():
            ms = [t * 1000 for st, t in res if st]
            print("  %-7s p50 %.1f ms  p99 %.1f ms" % (kind, pct(ms, 50), pct(ms, 99)))
        crowd = Crowd(port, slow, idle)
        n = crowd.start()
        print("with %d slow-header and %d idle connections (%d open, --max-connections %d):"
              % (slow, idle, n, limit))
        out = measure(port, crowd, probes, 20)
        report(out, crowd)
        crowd.close()
    finally:
        p.terminate()
        p.wait(timeout=30)
        print("  server log: %s" % log.name)


if __name__ == "__main__":
    main()
