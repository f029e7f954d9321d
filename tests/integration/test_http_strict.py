"""test_http_strict.py - pipetrackd's HTTP/1.1 per RFC 9110/9112 and against
slow and idle clients, over raw sockets (issue 14). Usage:
test_http_strict.py PIPETRACKD TMPDIR [TEST...]"""
import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
from harness import check, eq, launch, run_tests, stop  # noqa: E402
from slow_clients import Crowd, measure, pct, report  # noqa: E402

PIPETRACKD = sys.argv[1]
TMP = sys.argv[2]
ONLY = sys.argv[3:]
os.makedirs(TMP, exist_ok=True)


class Server:
    def __init__(self, name, *args):
        self.logname = os.path.join(TMP, "strict-%s.log" % name)
        self.log = open(self.logname, "wb")
        self.p, self.port = launch(PIPETRACKD, ["--db", "memory:"] + list(args), self.log)

    def stop(self):
        return stop(self.p, self.log)


def exchange(port, data, wait=2.0):
    """Sends data; (what came back within wait s, whether the server closed)."""
    sk = socket.create_connection(("127.0.0.1", port), timeout=wait)
    out, closed, t0 = b"", False, time.time()
    try:
        sk.sendall(data)
        while time.time() - t0 < wait:
            b = sk.recv(65536)
            if not b:
                closed = True
                break
            out += b
    except socket.timeout:
        pass
    except OSError:
        closed = True
    sk.close()
    return out, closed


def statuses(out):
    return [int(l.split(b" ")[1]) for l in out.split(b"\r\n") if l.startswith(b"HTTP/1.")]


TRACK = b"POST /api/pipeline/track HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
NEXT = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
BODY = b'{"event":{"session_id":"s","pipeline_type":"checkout_digital","step":"checkout_started","status":"success"}}'

# (name, bytes, [statuses], closed, the error's field or None)
CASES = [
    ("two different Content-Length", TRACK + b"Content-Length: 2\r\nContent-Length: 30\r\n\r\n{}" + NEXT,
     [400], True, "Content-Length"),
    ("Content-Length with Transfer-Encoding", TRACK + b"Content-Length: 5\r\nTransfer-Encoding: chunked"
     b"\r\n\r\n0\r\n\r\n" + NEXT, [400], True, "Transfer-Encoding"),
    ("space before the colon", TRACK + b"Content-Length : 35\r\n\r\n" + NEXT, [400], True, None),
    ("tab before the colon", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A\t: b\r\n\r\n", [400], True, None),
    ("control character in a name", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-\x01a: b\r\n\r\n",
     [400], True, None),
    ("CR inside a value", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", [400], True, None),
    ("indented first header line", b"GET /healthz HTTP/1.1\r\n X-A: b\r\nHost: x\r\n\r\n",
     [400], True, None),
    ("HTTP/1.1 without Host", b"GET /healthz HTTP/1.1\r\n\r\n", [400], True, "Host"),
    ("two Host headers", b"GET /healthz HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", [400], True, "Host"),
    ("unknown transfer coding", TRACK + b"Transfer-Encoding: gzip\r\n\r\n", [501], True,
     "Transfer-Encoding"),
    ("transfer codings besides chunked", TRACK + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
     [501], True, "Transfer-Encoding"),
    ("HTTP/1.0 with chunked", b"POST /api/pipeline/track HTTP/1.0\r\nContent-Type: application/json\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", [400], True, "Transfer-Encoding"),
    ("space in the target", b"GET /healthz x HTTP/1.1\r\nHost: x\r\n\r\n", [400], True, None),
    ("%00 in a query value", b"GET /api/pipeline/status?session_id=ac1%00zz HTTP/1.1\r\nHost: x\r\n\r\n",
     [400], True, "session_id"),
    ("OPTIONS on an unknown path", b"OPTIONS /nope HTTP/1.1\r\nHost: x\r\n\r\n", [404], None, None),
    ("OPTIONS on a known path", b"OPTIONS /healthz HTTP/1.1\r\nHost: x\r\n\r\n", [204], None, None),
    ("absolute-form target", b"GET http://x/healthz HTTP/1.1\r\nHost: x\r\n\r\n", [200], False, None),
    ("absolute-form track", b"POST http://x:8080/api/pipeline/track HTTP/1.1\r\nHost: x:8080\r\n"
     b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY),
     [201], False, None),
    ("HTTP/1.0 without Host", b"GET /healthz HTTP/1.0\r\n\r\n", [200], True, None),
    # answered by libmicrohttpd itself, before pipetrackd sees the request;
    # once (the status line is not written twice) is checked below
    ("malformed Content-Length", TRACK + b"Content-Length: 5x\r\n\r\n", None, True, None),
]


def test_framing_and_syntax():
    s = Server("syntax")
    try:
        for name, data, want, closed, field in CASES:
            out, was_closed = exchange(s.port, data)
            got = statuses(out)
            print("  %-40s %s%s" % (name, got, " closed" if was_closed else ""))
            if want is None:
                check(got and got[0] == 400, "%s: answered 400 (%r)" % (name, out[:60]))
                continue
            eq(got, want, name + ": statuses (the bytes after a bad frame never run)")
            if closed is not None:
                eq(was_closed, closed, name + ": connection closed")
            if field:
                body = out.split(b"\r\n\r\n", 1)[1]
                eq(json.loads(body)["error"]["field"], field, name + ": the field named")
        eq(exchange(s.port, NEXT)[0].count(b"HTTP/1.1 200"), 1, "still answers")
    finally:
        eq(s.stop(), 0, "exit status")


def test_malformed_content_length():
    """Refused and closed. libmicrohttpd 0.9.75 answers this itself and writes its status line
    and headers twice (docs/security.md, HTTP in front of the internet); a known limitation, so this
    test records the count rather than failing on it."""
    s = Server("clen")
    try:
        out, closed = exchange(s.port, TRACK + b"Content-Length: -5\r\n\r\n")
        check(closed, "connection closed after a malformed Content-Length")
        print("  status lines written: %d (libmicrohttpd 0.9.75)" % len(statuses(out)))
    finally:
        eq(s.stop(), 0, "exit status")


def cookie_head(size, path=b"/healthz"):
    """A GET whose request line and headers are size bytes as pipetrackd
    counts them (and as sent: "Name: value" CRLF each, the empty line)."""
    head = b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nCookie: \r\n\r\n"
    return head[:-4] + b"a" * (size - len(head)) + b"\r\n\r\n"


def split(out):
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    return lines[0], {l.split(b":", 1)[0].lower(): l.split(b":", 1)[1].strip() for l in lines[1:]}, body


def test_header_sizes():
    """--max-header-bytes (16384) is checked by pipetrackd: a head of 16384
    bytes is answered, 16385 gets a JSON 431 (issue 16). The libmicrohttpd
    pool (--conn-buffer, 2 x 16384 + 8192 = 40960 by default) holds a Cookie
    head of about half of it: far past that the library answers its own HTML
    431 (docs/decisions.md)."""
    s = Server("sizes")
    try:
        for size in (6000, 12044, 16384):  # 12044: a 12,000-byte Cookie
            out, _ = exchange(s.port, cookie_head(size))
            eq(statuses(out), [200], "a %d-byte head" % size)
        eq(statuses(exchange(s.port, b"POST /api/pipeline/track HTTP/1.1\r\nHost: x\r\n"
                             b"Content-Type: application/json\r\nContent-Length: %d\r\nCookie: %s"
                             b"\r\n\r\n%s" % (len(BODY), b"c" * 16000, BODY))[0]), [201],
           "a track with a 16,000-byte Cookie")
        for size in (16385, 19000):
            out, closed = exchange(s.port, cookie_head(size) + NEXT)
            status, headers, body = split(out)
            eq(status, b"HTTP/1.1 431 Request Header Fields Too Large", "%d bytes: status" % size)
            eq(statuses(out), [431], "%d bytes: one status line (the next request never runs)"
               % size)
            eq(headers.get(b"content-type"), b"application/json", "%d bytes: JSON" % size)
            eq(headers.get(b"connection"), b"close", "%d bytes: Connection: close" % size)
            eq(closed, True, "%d bytes: closed" % size)
            eq(json.loads(body), {"error": {
                "code": "headers_too_large", "field": None,
                "message": "the request line and headers are %d bytes; at most 16384 are accepted "
                           "(--max-header-bytes)" % size}}, "%d bytes: the error" % size)
        # a long target counts too (many headers as well: the sum is checked)
        data = b"GET /healthz?pad=" + b"p" * 16400 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
        out, _ = exchange(s.port, data)
        eq(statuses(out), [431], "a 16 KB target")
        check(b"are %d bytes" % len(data) in out, "the target counted: %r" % out[-120:])
        many = b"".join(b"X-H%03d: %s\r\n" % (i, b"v" * 90) for i in range(170))
        out, _ = exchange(s.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
        check(b'"headers_too_large"' in out, "170 headers of 100 bytes: %r" % out[:60])
        # past what the pool holds (a Cookie over about half of it): the
        # library's own 431, HTML, written twice by 0.9.75, closed
        out, closed = exchange(s.port, cookie_head(30000))
        eq((statuses(out)[:1], closed), ([431], True), "a 30 KB Cookie")
        check(b"<html>" in out and b"application/json" not in out, "its body is the library's HTML")
        eq(exchange(s.port, NEXT)[0].count(b"HTTP/1.1 200"), 1, "still answers")
    finally:
        eq(s.stop(), 0, "exit status")
    # --conn-buffer alone (a deployment that sized it for memory): the
    # header limit is (5120 - 1024) / 2
    s = Server("sizes_small", "--conn-buffer", "5120")
    try:
        eq(statuses(exchange(s.port, cookie_head(2048))[0]), [200], "2048 bytes with --conn-buffer 5120")
        out, _ = exchange(s.port, cookie_head(2049))
        check(b"at most 2048 are accepted" in out, "2049 bytes: JSON 431: %r" % out[-80:])
        eq(statuses(exchange(s.port, cookie_head(6000))[0])[:1], [431], "6 KB with --conn-buffer 5120")
    finally:
        eq(s.stop(), 0, "exit status")
    out = subprocess.run([PIPETRACKD, "--db", "memory:", "--max-header-bytes", "8192",
                          "--conn-buffer", "16384"], capture_output=True, text=True, timeout=30)
    eq(out.returncode, 2, "a pool too small for the header limit: exit status")
    eq(out.stderr.strip(), "pipetrackd: --conn-buffer 16384 is too small for --max-header-bytes 8192: "
       "it must be at least 2 x --max-header-bytes + 1024 (17408)", "the message")


def test_head_deadline():
    """A header line every 0.5 s never trips a per-read timeout of 2 s; the
    whole head is cut at 2 s."""
    s = Server("deadline", "--header-timeout", "2")
    try:
        sk = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        sk.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        t0, out = time.time(), b""
        sk.settimeout(0.5)
        while time.time() - t0 < 8:
            try:
                sk.sendall(b"X-Slow: z\r\n")
                b = sk.recv(4096)
                if not b:
                    break
                out += b
            except socket.timeout:
                continue
            except OSError:
                break
        took = time.time() - t0
        sk.close()
        check(b"200" not in out, "the slow head was not served")
        check(took < 4, "cut within the deadline (%.1f s)" % took)
        print("  slow head cut after %.1f s" % took)
    finally:
        eq(s.stop(), 0, "exit status")


def test_idle_near_limit_and_per_ip():
    # one worker: libmicrohttpd splits --max-connections between its workers
    # (10 each here), and one that reaches its share stops accepting while
    # another may have gone back to sleep, so the last connection can wait
    # in the listen queue until the first share frees — by then the others
    # are cut and it is no longer near the limit (the likely cause of a rare
    # timeout, seen twice on fresh clones)
    s = Server("idle", "--max-connections", "20", "--max-connections-per-ip", "0", "--threads", "1")
    try:
        idle = [socket.create_connection(("127.0.0.1", s.port), timeout=10) for _ in range(19)]
        t0 = time.time()
        for sk in idle:
            eq(sk.recv(10), b"", "idle connection near the limit closed")
        took = time.time() - t0
        check(took < 5, "closed within a few seconds (%.1f s)" % took)
        print("  idle connections near the limit closed after %.1f s" % took)
        eq(statuses(exchange(s.port, NEXT)[0]), [200], "answers")
    finally:
        eq(s.stop(), 0, "exit status")
    s = Server("far", "--max-connections", "1000")
    try:
        idle = [socket.create_connection(("127.0.0.1", s.port), timeout=10) for _ in range(5)]
        time.sleep(3)
        for sk in idle:
            sk.sendall(NEXT)
            check(sk.recv(4096).startswith(b"HTTP/1.1 200"), "idle far from the limit kept")
            sk.close()
    finally:
        eq(s.stop(), 0, "exit status")
    s = Server("perip", "--max-connections-per-ip", "4")
    try:
        held = [socket.create_connection(("127.0.0.1", s.port), timeout=5) for _ in range(4)]
        out, closed = exchange(s.port, NEXT)
        eq((out, closed), (b"", True), "the 5th connection from one address closed unanswered")
        held.pop().close()
        time.sleep(0.2)
        eq(statuses(exchange(s.port, NEXT)[0]), [200], "answered once one closes")
    finally:
        eq(s.stop(), 0, "exit status")


def test_slow_and_idle_crowd():
    """2,000 slow-header and 2,000 idle connections held open (reopened when
    closed): /healthz and a track are answered; the log stays short."""
    s = Server("crowd", "--max-connections", "4100", "--max-connections-per-ip", "0",
               "--header-timeout", "5")
    crowd = None
    try:
        crowd = Crowd(s.port, 2000, 2000)
        n = crowd.start(settle=20)
        print("  crowd open: %d" % n)
        check(n >= 3500, "the crowd is open (%d)" % n)
        out = measure(s.port, crowd, 20, 12)
        report(out, crowd)
        for kind, res in out.items():
            eq([st for st, _ in res if st not in (200, 201)], [], kind + " answered")
        check(crowd.reopened["slow"] > 0, "slow heads were cut at the deadline")
    finally:
        if crowd:
            crowd.close()
        eq(s.stop(), 0, "exit status")
    lines = [json.loads(l) for l in open(s.logname) if l.startswith("{")]
    dropped = [l for l in lines if l.get("msg") == "connections dropped"]
    print("  log: %d lines, %d 'connections dropped' (%d connections)" % (
        len(lines), len(dropped), sum(l["head_deadline"] + l["idle_near_limit"] for l in dropped)))
    check(len(lines) < 200, "the log is rate-limited (%d lines)" % len(lines))


TESTS = [test_framing_and_syntax, test_malformed_content_length, test_header_sizes, test_head_deadline,
         test_idle_near_limit_and_per_ip, test_slow_and_idle_crowd]

run_tests(TESTS, ONLY)
