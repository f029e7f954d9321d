#!/usr/bin/env python3
"""test_read_tokens.py - what a browser may do without the API token (issue
15): the track answer that creates a session hands out a read token for it;
the token reads that session's status, stream and report, as a Bearer token
or ?read_token=, and nothing else; posting into somebody else's session
gains no token; tokens expire, survive a restart with --read-token-secret,
and a rotated secret's tokens keep working through
--read-token-secret-previous. Also CORS (extra request headers, exposed
ETag and Retry-After) and text/plain track bodies (navigator.sendBeacon).
Python's standard library only.
Usage: test_read_tokens.py PIPETRACKD TMPDIR [TEST...]
"""
import http.client
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, eq, fresh_store, launch, next_sse, request, run_tests, stop  # noqa: E402

PIPETRACKD = sys.argv[1]
TMP = sys.argv[2]
ONLY = sys.argv[3:]
os.makedirs(TMP, exist_ok=True)

TOKEN = "the-api-token"
KEY = "the-ingest-key"


def secret_file(name, text):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(text + "\n")
    return path


SECRET = secret_file("secret", "0123456789abcdef0123456789abcdef-first")
SECRET2 = secret_file("secret2", "fedcba9876543210fedcba9876543210-second")


def event(sid, step="checkout_started", eid=None):
    e = {"session_id": sid, "pipeline_type": "checkout_digital", "step": step,
         "status": "success"}
    if eid:
        e["id"] = eid
    return {"event": e}


def bearer(tok):
    return {"Authorization": "Bearer " + tok}


class Server:
    def __init__(self, name, *extra, url=None):
        self.url = url or fresh_store(TMP, name)
        self.log = open(os.path.join(TMP, name + ".log"), "ab")
        self.p, self.port = launch(PIPETRACKD, ["--db", self.url, "--quiet", "--api-token", TOKEN,
                                                "--ingest-key", KEY] + list(extra), self.log)

    def req(self, method, path, body=None, headers=None):
        return request(self.port, method, path, body, headers)

    def track(self, body, cred=KEY, headers=None):
        h = dict(bearer(cred))
        h.update(headers or {})
        return self.req("POST", "/api/pipeline/track", body, h)

    def stop(self):
        eq(stop(self.p, self.log), 0, "exit status")


def error_of(doc):
    e = doc["error"]
    return e["code"], e["field"]


def test_handed_out_and_scoped():
    s = Server("scoped", "--read-token-secret", SECRET)
    try:
        st, _, doc = s.track(event("a1", eid="evt_a1_0"))
        eq(st, 201, "the first event of a1")
        tok = doc["read_token"]
        check(isinstance(tok, str) and tok.startswith("rt1."), "a read token: %r" % tok)
        # the creating answer again (an idempotent replay) hands it out again
        st, _, doc = s.track(event("a1", eid="evt_a1_0"))
        eq((st, doc["replayed"]), (200, True), "replay")
        check(doc["read_token"], "the replay of the creating event carries a token")
        # later events of the session: none
        st, _, doc = s.track(event("a1", "payment_initiated"))
        eq((st, doc["read_token"]), (201, None), "no token for a later event")
        # reads of its own session: status (header and query), report, stream
        st, hdr, doc = s.req("GET", "/api/pipeline/status?session_id=a1", headers=bearer(tok))
        eq((st, doc["event_count"]), (200, 2), "status with the token as Bearer")
        st, _, doc = s.req("GET", "/api/pipeline/status?session_id=a1&read_token=" + tok)
        eq((st, doc["session_id"]), (200, "a1"), "status with ?read_token=")
        st, _, doc = s.req("GET", "/api/pipeline/report?session_id=a1", headers=bearer(tok))
        eq((st, doc["session_id"]), (200, "a1"), "report")
        c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
        c.request("GET", "/api/pipeline/status/stream?session_id=a1&read_token=" + tok)
        r = c.getresponse()
        eq(r.status, 200, "stream with ?read_token=")
        eq(json.loads(next_sse(r)["data"])["event_count"], 2, "the stream's first summary")
        c.close()
        # another session, other routes: refused, naming why
        s.track(event("b2"))
        st, _, doc = s.req("GET", "/api/pipeline/status?session_id=b2", headers=bearer(tok))
        eq((st, error_of(doc)), (403, ("forbidden", "Authorization")), "another session")
        check("not for this session" in doc["error"]["message"], doc["error"]["message"])
        st, _, doc = s.req("GET", "/api/pipeline/status?session_id=b2&read_token=" + tok)
        eq((st, error_of(doc)), (403, ("forbidden", "read_token")), "another session (query)")
        for method, path in (("GET", "/api/pipeline/registry?session_id=a1"),
                             ("GET", "/api/pipeline/verify?session_id=a1"),
                             ("GET", "/api/pipeline/export?session_id=a1"),
                             ("GET", "/api/pipeline/sessions"),
                             ("GET", "/metrics")):
            st, _, doc = s.req(method, path, headers=bearer(tok))
            eq((st, error_of(doc)), (403, ("forbidden", "Authorization")), path)
            check("own session's status" in doc["error"]["message"], doc["error"]["message"])
        st, _, doc = s.track(event("a1", "payment_confirmed"), cred=tok)
        eq((st, error_of(doc)), (403, ("forbidden", "Authorization")), "a read token cannot track")
        # the query form is only read where a read token may be used
        st, _, doc = s.req("GET", "/api/pipeline/registry?session_id=a1&read_token=" + tok)
        eq(st, 401, "registry with ?read_token=: still needs a credential")
        # tampered: one character of the MAC, the expiry, garbage
        bad = tok[:-1] + ("A" if tok[-1] != "A" else "B")
        st, _, doc = s.req("GET", "/api/pipeline/status?session_id=a1", headers=bearer(bad))
        eq(st, 403, "a changed MAC")
        parts = tok.split(".")
        later = "%s.%d.%s" % (parts[0], int(parts[1]) + 1000, parts[2])
        st, _, doc = s.req("GET", "/api/pipeline/status?session_id=a1", headers=bearer(later))
        eq(st, 403, "a pushed-back expiry")
        st, _, doc = s.req("GET", "/api/pipeline/status?session_id=a1&read_token=rt1.x")
        eq((st, error_of(doc)), (403, ("forbidden", "read_token")), "not a token")
        check("not a read token" in doc["error"]["message"], doc["error"]["message"])
        st, _, doc = s.req("GET", "/api/pipeline/status?read_token=" + tok)
        eq(st, 403, "no session_id")
        # posting into somebody else's session gains nothing
        st, _, doc = s.track(event("a1", "payment_confirmed"))
        eq((st, doc["read_token"]), (201, None), "an event into a1 by someone else: no token")
        st, _, doc = s.req("POST", "/api/pipeline/track/batch",
                           {"events": [event("a1", "checkout_completed")["event"],
                                       event("c3")["event"]]}, bearer(KEY))
        eq([r["status"] for r in doc["results"]], [201, 201], "a batch")
        eq(doc["results"][0]["read_token"], None, "batch: a1 not created here")
        check(doc["results"][1]["read_token"], "batch: c3 created here")
        st, _, _ = s.req("GET", "/api/pipeline/status?session_id=c3",
                         headers=bearer(doc["results"][1]["read_token"]))
        eq(st, 200, "the batch's token reads c3")
        # the API token: a token for every event, and POST /read_token
        st, _, doc = s.track(event("a1", "checkout_completed"), cred=TOKEN)
        check(doc["read_token"], "with the API token every answer carries one")
        st, _, doc = s.req("POST", "/api/pipeline/read_token", {"session_id": "b2"}, bearer(TOKEN))
        eq((st, doc["session_id"]), (200, "b2"), "POST /read_token")
        check(doc["expires_at"] > time.time() * 1000 + 6 * 86400 * 1000, "seven days")
        st, _, _ = s.req("GET", "/api/pipeline/status?session_id=b2", headers=bearer(doc["read_token"]))
        eq(st, 200, "the minted token reads b2")
        st, _, doc = s.req("POST", "/api/pipeline/read_token", {"session_id": "b2"}, bearer(KEY))
        eq((st, error_of(doc)), (403, ("forbidden", "Authorization")), "the ingest key may not mint")
        st, _, doc = s.req("POST", "/api/pipeline/read_token", {"session_id": "b 2"}, bearer(TOKEN))
        eq((st, error_of(doc)), (400, ("invalid_request", "session_id")), "a bad session id")
        st, _, doc = s.req("POST", "/api/pipeline/read_token", {"session_id": "b2", "x": 1},
                           bearer(TOKEN))
        eq(st, 400, "an unknown member")
    finally:
        s.stop()


def test_expiry_restart_rotation():
    url = fresh_store(TMP, "rotation")
    s = Server("rotation", "--read-token-secret", SECRET, "--read-token-ttl", "2", url=url)
    try:
        st, _, doc = s.track(event("r1"))
        short = doc["read_token"]
        st, _, _ = s.req("GET", "/api/pipeline/status?session_id=r1", headers=bearer(short))
        eq(st, 200, "fresh")
        time.sleep(2.2)
        st, _, doc = s.req("GET", "/api/pipeline/status?session_id=r1", headers=bearer(short))
        eq((st, error_of(doc)), (403, ("forbidden", "Authorization")), "expired")
        check("expired" in doc["error"]["message"], doc["error"]["message"])
        st, _, doc = s.req("POST", "/api/pipeline/read_token", {"session_id": "r1"}, bearer(TOKEN))
        tok = doc["read_token"]
    finally:
        s.stop()
    # a long-lived token made under SECRET
    s = Server("rotation", "--read-token-secret", SECRET, url=url)
    try:
        st, _, doc = s.req("POST", "/api/pipeline/read_token", {"session_id": "r1"}, bearer(TOKEN))
        tok = doc["read_token"]
    finally:
        s.stop()
    # the same secret after a restart: still valid
    s = Server("rotation", "--read-token-secret", SECRET, url=url)
    try:
        st, _, _ = s.req("GET", "/api/pipeline/status?session_id=r1", headers=bearer(tok))
        eq(st, 200, "valid after a restart with the same secret")
    finally:
        s.stop()
    # rotated with the old one kept as previous: accepted; new ones use the new
    s = Server("rotation", "--read-token-secret", SECRET2, "--read-token-secret-previous", SECRET,
               url=url)
    try:
        st, _, _ = s.req("GET", "/api/pipeline/status?session_id=r1", headers=bearer(tok))
        eq(st, 200, "the previous secret's token during a rotation")
        st, _, doc = s.req("POST", "/api/pipeline/read_token", {"session_id": "r1"}, bearer(TOKEN))
        tok2 = doc["read_token"]
    finally:
        s.stop()
    # the previous secret dropped: its tokens end; the new one's work
    s = Server("rotation", "--read-token-secret", SECRET2, url=url)
    try:
        st, _, doc = s.req("GET", "/api/pipeline/status?session_id=r1", headers=bearer(tok))
        eq(st, 403, "the old secret's token after the rotation ended")
        check("rotated" in doc["error"]["message"], doc["error"]["message"])
        st, _, _ = s.req("GET", "/api/pipeline/status?session_id=r1", headers=bearer(tok2))
        eq(st, 200, "the new secret's token")
    finally:
        s.stop()
    # a secret file too short is refused at start, naming the option
    short_file = secret_file("short", "tooshort")
    log = open(os.path.join(TMP, "short.log"), "wb")
    try:
        launch(PIPETRACKD, ["--db", url, "--read-token-secret", short_file], log, timeout=10)
        check(False, "a short secret was accepted")
    except RuntimeError as e:
        check("--read-token-secret" in str(e) and "32" in str(e), str(e))
    log.close()


def test_open_server_ignores_tokens():
    # without an API token reads are open: a stale token changes nothing
    log = open(os.path.join(TMP, "open.log"), "ab")
    p, port = launch(PIPETRACKD, ["--db", fresh_store(TMP, "open"), "--quiet"], log)
    try:
        st, _, doc = request(port, "POST", "/api/pipeline/track", event("o1"))
        check(doc["read_token"], "an open server hands out tokens too (clients stay the same)")
        st, _, _ = request(port, "GET", "/api/pipeline/status?session_id=o1&read_token=rt1.1.x")
        eq(st, 200, "a stale token on an open server")
    finally:
        eq(stop(p, log), 0, "exit status")


def test_cors_and_beacon():
    s = Server("cors", "--read-token-secret", SECRET, "--cors-origin", "https://shop.example",
               "--rate-limit", "1", "--rate-burst", "2")
    try:
        pre = {"Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "content-type,traceparent,x-request-id"}
        st, hdr, _ = s.req("OPTIONS", "/api/pipeline/track", headers=pre)
        eq(st, 204, "preflight")
        allow = {h.strip().lower() for h in
                 dict((k.lower(), v) for k, v in hdr.items())["access-control-allow-headers"].split(",")}
        check({"traceparent", "x-request-id", "authorization", "content-type"} <= allow,
              "allowed request headers: %s" % allow)
        h = {"Origin": "https://shop.example", "Content-Type": "text/plain;charset=UTF-8"}
        h.update(bearer(KEY))
        st, hdr, doc = s.req("POST", "/api/pipeline/track", json.dumps(event("beacon")), h)
        eq(st, 201, "a text/plain track (sendBeacon)")
        low = dict((k.lower(), v) for k, v in hdr.items())
        expose = {x.strip() for x in low["access-control-expose-headers"].split(",")}
        eq(expose, {"ETag", "Retry-After"}, "exposed headers")
        # still parsed strictly under text/plain
        st, _, doc = s.req("POST", "/api/pipeline/track", '{"event": {"a": 1, "a": 2}}',
                           {"Content-Type": "text/plain", **bearer(KEY)})
        eq(st, 400, "duplicate members refused under text/plain too")
        st, hdr, doc = s.req("POST", "/api/pipeline/track",
                             json.dumps(event("beacon", "payment_initiated")), h)
        eq(st, 429, "over the rate")
        low = dict((k.lower(), v) for k, v in hdr.items())
        check("retry-after" in low and "access-control-allow-origin" in low,
              "a 429 a browser can read: %s" % low)
    finally:
        s.stop()


TESTS = [test_handed_out_and_scoped, test_expiry_restart_rotation,
         test_open_server_ignores_tokens, test_cors_and_beacon]

run_tests(TESTS, ONLY)
