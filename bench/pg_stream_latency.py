#!/usr/bin/env python3
"""pg_stream_latency.py - how soon a status stream held on one pipetrackd shows
an event tracked through another one on the same database (PostgreSQL: the
commit's NOTIFY, the listener, the stream's re-render).

Usage: pg_stream_latency.py [--events N] [--budget S] [--streams-via PORT] PORT PORT PORT...

One status stream per server, each on a session of its own ("lat_<j>"), all
held open on raw sockets read in one select() loop, so every arrival is
timestamped when it happens. Then N events, one at a time: event i goes
through server A to the session watched on server B, the ordered pair (A, B)
rotating over all pairs of distinct servers (with --streams-via, every stream
is opened through that port instead, a proxy in front of the servers, and
event i goes to session B through server A all the same). For each, the latency is the
time from the 201 answer's arrival to the arrival of the stream update whose
event_count includes the event (negative when the update came first). Prints
each percentile and one summary line. Bounded: every wait has a timeout
(--timeout seconds an event) and the whole run a budget (--budget seconds;
the events done by then are reported). Python's standard library only.
"""
import argparse
import json
import math
import select
import socket
import sys
import time

STEPS = ["checkout_started", "payment_initiated", "payment_confirmed", "checkout_completed"]


class Stream:
    """A status stream on a raw socket: the HTTP head skipped, chunked
    transfer decoded, each `data:` line's event_count kept with the time its
    bytes arrived."""

    def __init__(self, port, sid):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(("GET /api/pipeline/status/stream?session_id=%s&pipeline_type="
                           "checkout_digital HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Accept: text/event-stream\r\n\r\n" % sid).encode())
        self.sock.setblocking(False)
        self.raw = b""       # bytes not yet decoded (head, chunk framing)
        self.text = b""      # decoded body not yet split into events
        self.head = None     # the response head once read
        self.chunked = False
        self.count = -1      # the newest event_count seen
        self.seen_at = {}    # event_count -> arrival time

    def on_readable(self, now):
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return
        if not data:
            raise RuntimeError("a status stream was closed by the server")
        self.raw += data
        if self.head is None:
            end = self.raw.find(b"\r\n\r\n")
            if end < 0:
                return
            self.head = self.raw[:end].decode("latin-1")
            self.raw = self.raw[end + 4:]
            if not self.head.startswith("HTTP/1.1 200"):
                raise RuntimeError("stream answered: %s" % self.head.splitlines()[0])
            self.chunked = "transfer-encoding: chunked" in self.head.lower()
        self.decode()
        while b"\n\n" in self.text:
            block, self.text = self.text.split(b"\n\n", 1)
            for line in block.split(b"\n"):
                if line.startswith(b"data: "):
                    doc = json.loads(line[6:])
                    n = doc.get("event_count")
                    if isinstance(n, int):
                        self.count = max(self.count, n)
                        self.seen_at.setdefault(n, now)

    def decode(self):
        if not self.chunked:
            self.text += self.raw
            self.raw = b""
            return
        while True:
            end = self.raw.find(b"\r\n")
            if end < 0:
                return
            size = int(self.raw[:end].split(b";")[0], 16)
            if len(self.raw) < end + 2 + size + 2:
                return
            self.text += self.raw[end + 2:end + 2 + size]
            self.raw = self.raw[end + 2 + size + 2:]
            if size == 0:
                raise RuntimeError("a status stream ended")


class Poster:
    """Keep-alive POSTs on a raw socket; the answer read once select() says it
    is there (its arrival time is the select's)."""

    def __init__(self, port):
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def send(self, path, body):
        data = json.dumps(body).encode()
        self.sock.sendall(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
                          b"\r\nContent-Length: %d\r\n\r\n%s" % (path.encode(), len(data), data))

    def answer(self):
        """(status, body) once a whole answer is buffered, else None."""
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = self.buf[:end].decode("latin-1").split("\r\n")
        length = 0
        for h in head[1:]:
            k, _, v = h.partition(":")
            if k.strip().lower() == "content-length":
                length = int(v)
        if len(self.buf) < end + 4 + length:
            return None
        body = self.buf[end + 4:end + 4 + length]
        self.buf = self.buf[end + 4 + length:]
        return int(head[0].split()[1]), body

    def on_readable(self):
        data = self.sock.recv(65536)
        if not data:
            raise RuntimeError("server on port %d closed the connection" % self.port)
        self.buf += data


def pct(v, p):
    """The p-th percentile (nearest rank) of sorted v."""
    k = max(0, min(len(v) - 1, math.ceil(p / 100.0 * len(v)) - 1))
    return v[k]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ports", type=int, nargs="+")
    ap.add_argument("--events", type=int, default=1000)
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds an event may take")
    ap.add_argument("--budget", type=float, default=180.0, help="seconds for the whole run")
    ap.add_argument("--streams-via", type=int, default=0, help="open the streams on this port")
    args = ap.parse_args()
    ports = args.ports
    if len(ports) < 2:
        sys.exit("pg_stream_latency: needs at least two servers")
    posters = [Poster(p) for p in ports]
    sid = ["lat_%d_%d" % (j, int(time.time())) for j in range(len(ports))]
    pairs = [(a, b) for a in range(len(ports)) for b in range(len(ports)) if a != b]

    def track(a, b, i, deadline):
        """Tracks event i through a to the session watched on b: (seq, the
        201's arrival time); streams keep being read meanwhile."""
        ev = {"id": "lat_%d" % i, "session_id": sid[b], "pipeline_type": "checkout_digital",
              "step": STEPS[i % 4], "status": "success", "input": {"i": i}}
        posters[a].send("/api/pipeline/track", {"event": ev})
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer to event %d from port %d" % (i, ports[a]))
            socks = [posters[a].sock] + [s.sock for s in streams]
            ready, _, _ = select.select(socks, [], [], left)
            now = time.monotonic()
            for s in streams:
                if s.sock in ready:
                    s.on_readable(now)
            if posters[a].sock in ready:
                posters[a].on_readable()
                got = posters[a].answer()
                if got:
                    st, body = got
                    if st != 201:
                        raise RuntimeError("track answered %d: %s" % (st, body[:200]))
                    return json.loads(body)["event"]["seq"], now

    # each session exists before its stream opens: the stream's first
    # summary then carries event_count
    streams = []
    for j in range(len(ports)):
        track((j + 1) % len(ports), j, -1 - j, time.monotonic() + args.timeout)
    streams = [Stream(args.streams_via or ports[j], sid[j]) for j in range(len(ports))]
    t_end = time.monotonic() + args.timeout
    while any(s.count < 1 for s in streams):
        left = t_end - time.monotonic()
        if left <= 0:
            sys.exit("pg_stream_latency: a stream sent no first summary within %.0f s" % args.timeout)
        ready, _, _ = select.select([s.sock for s in streams], [], [], left)
        now = time.monotonic()
        for s in streams:
            if s.sock in ready:
                s.on_readable(now)

    lat, acks, missed = [], [], 0
    budget_end = time.monotonic() + args.budget
    for i in range(args.events):
        if time.monotonic() > budget_end:
            print("pg_stream_latency: budget of %.0f s spent after %d events" % (args.budget, i),
                  file=sys.stderr)
            break
        a, b = pairs[i % len(pairs)]
        deadline = time.monotonic() + args.timeout
        t_sent = time.monotonic()
        seq, t_ack = track(a, b, i, deadline)
        acks.append(t_ack - t_sent)
        want, s = seq + 1, streams[b]
        while s.count < want:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([x.sock for x in streams], [], [], left)
            now = time.monotonic()
            for x in streams:
                if x.sock in ready:
                    x.on_readable(now)
        if s.count < want:
            missed += 1
            lat.append(args.timeout)
            continue
        # the first update showing a count at or past the event's
        t_seen = min(t for n, t in s.seen_at.items() if n >= want)
        lat.append(t_seen - t_ack)
        for n in [n for n in s.seen_at if n < want]:
            del s.seen_at[n]

    for s in streams:
        s.sock.close()
    for p in posters:
        p.sock.close()
    if not lat:
        sys.exit("pg_stream_latency: no event measured")
    v = sorted(x * 1000 for x in lat)
    a = sorted(x * 1000 for x in acks)
    neg = sum(1 for x in v if x < 0)
    print("  track round trip (send to 201): p50 %.2f ms, p99 %.2f ms" % (pct(a, 50), pct(a, 99)))
    print("  %d of %d updates arrived before the 201 was read (negative latency); %d not within "
          "%.0f s (counted as %.0f s)" % (neg, len(v), missed, args.timeout, args.timeout))
    print("%s (%d events, %d servers): p50 %.1f ms, p99 %.1f ms, max %.1f ms, min %.1f ms"
          " (target p99 <= 200 ms)"
          % ("cross-server stream latency" + (", streams through the proxy" if args.streams_via
                                              else ""), len(v), len(ports), pct(v, 50), pct(v, 99),
             v[-1], v[0]))


if __name__ == "__main__":
    main()
