#!/usr/bin/env python3
"""verify.py - checks a pipetrack export (JSON Lines, as `pipetrack export`
writes it) from the format in docs/chain.md alone, with Python's standard
library only.

It recomputes every payload digest (RFC 8785 canonical JSON, SHA-256), every
link and every session's chain hash, checks each registry entry against the
chain as it stood at the entry's event count, and, given the server's public
key, each entry's Ed25519 signature (RFC 8032, implemented below: the
standard library has no Ed25519). It stops at the first mismatch and names
it: the line, the session, the event's seq and id (or the entry's id), and
the field.

Exit status: 0 the export verifies, 1 a mismatch (or a line that is not
what an export holds), 2 usage, or input that cannot be read.

It can also be imported: canonical(), es_number(), input_n(), output_n(),
link_of(), chain_hash_of(), entry_signed_text(), receipt_text() and
ed25519_verify() are the pieces of docs/chain.md one by one.
"""
import argparse
import base64
import hashlib
import json
import math
import os
import re
import sys

GENESIS = "GENESIS"
NULL_SHA256 = hashlib.sha256(b"null").hexdigest()
ENTRY_IDS_MAX = 1000  # an entry lists (and signs) the ids of its last 1,000 events

# ---------------------------------------------------------------------------
# Reading JSON as pipetrack does: I-JSON (RFC 7493)


class Invalid(Exception):
    """A text pipetrack would refuse; the message says why."""


def _parse_float(s):
    v = float(s)
    if math.isinf(v):
        raise Invalid("number %s is beyond the range of a double" % s[:40])
    if v == 0 and re.search(r"[1-9]", s.lower().split("e")[0]):
        raise Invalid("number %s is not zero but too small for a double" % s[:40])
    return v


def _parse_int(s):
    try:
        v = int(s)
    except ValueError:  # more digits than int() reads: beyond any double
        raise Invalid("number %s... is beyond the range of a double" % s[:40])
    try:
        float(v)
    except OverflowError:
        raise Invalid("number %s... is beyond the range of a double" % s[:40])
    return v


def _parse_constant(s):
    raise Invalid("%s is not JSON" % s)


def _no_duplicates(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise Invalid("duplicate member name %s" % json.dumps(k))
        obj[k] = v
    return obj


_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_strings(v):
    """Refuses lone surrogates (a pair written as two escapes is one
    character by now)."""
    stack = [v]
    while stack:
        x = stack.pop()
        if isinstance(x, str):
            if _SURROGATE.search(x):
                raise Invalid("a string holds a lone surrogate")
        elif isinstance(x, list):
            stack.extend(x)
        elif isinstance(x, dict):
            for k, y in x.items():
                if _SURROGATE.search(k):
                    raise Invalid("a member name holds a lone surrogate")
                stack.append(y)


def read_json(text):
    """Parses one JSON text the way pipetrack reads it: UTF-8 (text may be
    bytes), no duplicate member names, no lone surrogates, no number a double
    cannot hold. Integers stay Python ints (canonical() reads them as
    doubles). Raises Invalid."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as e:
            raise Invalid("not UTF-8 (byte %d)" % e.start)
    try:
        v = json.loads(text, object_pairs_hook=_no_duplicates, parse_float=_parse_float,
                       parse_int=_parse_int, parse_constant=_parse_constant)
    except Invalid:
        raise
    except RecursionError:
        raise Invalid("nested too deeply")
    except ValueError as e:
        raise Invalid("not JSON: %s" % e)
    _check_strings(v)
    return v


# ---------------------------------------------------------------------------
# RFC 8785 (JCS): canonical JSON


def es_number(x):
    """A double as ECMAScript's Number::toString spells it (RFC 8785 3.2.2.3):
    the shortest digits that read back as x, in plain notation from 1e-6 up
    to below 1e21, else as d.ddde+N / d.ddde-N; -0 is 0."""
    x = float(x)
    if math.isnan(x) or math.isinf(x):
        raise Invalid("%r has no JSON form" % x)
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    # repr gives the shortest round-trip digits (the closest of several);
    # only its layout differs from ECMAScript's ("1e-07", "1e+16", "100.0")
    mant, _, exp = repr(abs(x)).partition("e")
    whole, _, frac = mant.partition(".")
    digits = whole + frac
    n = len(whole) + (int(exp) if exp else 0)  # value = 0.DIGITS * 10^n
    stripped = digits.lstrip("0")
    n -= len(digits) - len(stripped)
    d = stripped.rstrip("0")
    k = len(d)
    if k <= n <= 21:
        return sign + d + "0" * (n - k)
    if 0 < n <= 21:
        return sign + d[:n] + "." + d[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + d
    e = n - 1
    return sign + d[0] + ("." + d[1:] if k > 1 else "") + "e" + ("+" if e >= 0 else "-") + str(abs(e))


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f",
            "\r": "\\r"}
_NEEDS_ESCAPE = re.compile('["\\\\\x00-\x1f]')


def _escape(m):
    c = m.group(0)
    return _ESCAPES.get(c) or "\\u%04x" % ord(c)


def _string(s):
    return '"' + _NEEDS_ESCAPE.sub(_escape, s) + '"'


def _utf16(k):
    return k.encode("utf-16-be", "surrogatepass")


def canonical(v):
    """The RFC 8785 canonical text of a parsed JSON value (a str; hash its
    UTF-8 bytes): members sorted by their names' UTF-16 code units, no
    white space, strings with only the required escapes, every number as
    es_number of its double."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return es_number(float(v))
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, list):
        return "[" + ",".join(canonical(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(_string(k) + ":" + canonical(v[k])
                              for k in sorted(v, key=_utf16)) + "}"
    raise TypeError("not a JSON value: %r" % (v,))


def sha256_hex(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------
# The chain


def payload_sha256(value):
    """input_sha256 / output_sha256: hex SHA-256 of the canonical payload
    (an absent payload is null)."""
    return sha256_hex(canonical(value))


def input_n(ev):
    return canonical({"id": ev["id"], "input_sha256": ev["input_sha256"], "step": ev["step"],
                      "ts": ev["ts"]})


def output_n(ev):
    return canonical({"error": ev.get("error"), "output_sha256": ev["output_sha256"],
                      "status": ev["status"]})


def link_text(prev, ev):
    """What a link hashes: the previous link, input_n and output_n, joined by ":"."""
    return prev + ":" + input_n(ev) + ":" + output_n(ev)


def link_of(prev, ev):
    return sha256_hex(link_text(prev, ev))


def chain_hash_of(session_id, last_link):
    """A session's chain hash after the event whose link is last_link
    (GENESIS: no events)."""
    return sha256_hex(session_id + ":" + last_link)


def entry_signed_text(entry, event_ids):
    """The text a registry entry's signature signs: the entry as the API
    shows it (event_ids: the ids of events 0..event_count-1; its last 1,000
    listed, with event_ids_truncated when there are more), without
    signature, canonical. The export's "n" is not part of it."""
    e = {k: entry.get(k) for k in ("id", "session_id", "pipeline_type", "chain_hash",
                                    "event_count", "last_event_id", "progress", "state",
                                    "is_valid", "created_at", "notes")}
    ids = list(event_ids[:entry["event_count"]])
    if len(ids) > ENTRY_IDS_MAX:
        ids = ids[-ENTRY_IDS_MAX:]
        e["event_ids_truncated"] = True
    e["event_ids"] = ids
    return canonical(e)


def receipt_text(session_id, seq, link):
    """The text a receipt signs: the chain hash, link and seq right after
    the event, with the session id, canonical."""
    return canonical({"chain_hash": chain_hash_of(session_id, link), "link": link, "seq": seq,
                      "session_id": session_id})


# ---------------------------------------------------------------------------
# Ed25519 verification (RFC 8032, section 5.1), written for this tool

_P = 2 ** 255 - 19
_L = 2 ** 252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _x_of(y, sign):
    """The x of the curve point with this y and x's low bit, or None."""
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return None
    if x & 1 != sign:
        x = _P - x
    return x


def _add(p, q):
    """Sum of two points in extended coordinates (X, Y, Z, T)."""
    a = (p[1] - p[0]) * (q[1] - q[0]) % _P
    b = (p[1] + p[0]) * (q[1] + q[0]) % _P
    c = 2 * p[3] * q[3] * _D % _P
    d = 2 * p[2] * q[2] % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _mul(k, p):
    q = (0, 1, 1, 0)  # the neutral element
    while k:
        if k & 1:
            q = _add(q, p)
        p = _add(p, p)
        k >>= 1
    return q


def _encode(p):
    zi = pow(p[2], _P - 2, _P)
    x, y = p[0] * zi % _P, p[1] * zi % _P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def _decode(b):
    y = int.from_bytes(b, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _x_of(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


_BY = 4 * pow(5, _P - 2, _P) % _P
_B = (_x_of(_BY, 0), _BY, 1, _x_of(_BY, 0) * _BY % _P)


def ed25519_verify(public_key, message, signature):
    """True when signature (64 bytes) is public_key's (32 bytes) Ed25519
    signature of message (bytes): [S]B - [k]A encodes to R, with S < L and
    k = SHA-512(R || A || M) mod L."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = _decode(public_key)
    if a is None:
        return False
    r, s = signature[:32], int.from_bytes(signature[32:], "little")
    if s >= _L:
        return False
    k = int.from_bytes(hashlib.sha512(r + public_key + message).digest(), "little") % _L
    minus_a = (_P - a[0], a[1], a[2], _P - a[3])
    return _encode(_add(_mul(s, _B), _mul(k, minus_a))) == r


def b64_exact(text, n):
    """The n bytes base64 text holds (with its padding), or None."""
    if not isinstance(text, str) or len(text) != 4 * ((n + 2) // 3):
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        return None
    return raw if len(raw) == n else None


_SPKI_ED25519 = bytes.fromhex("302a300506032b6570032100")


def read_pubkey(value):
    """The 32 raw bytes of a public key given as base64 (GET
    /api/pipeline/pubkey's public_key), or as a file holding that, the
    pubkey answer's JSON, or a PEM public key (openssl pkey -pubout)."""
    text = value
    if os.path.isfile(value):
        with open(value, "r", encoding="utf-8") as f:
            text = f.read()
    text = text.strip()
    if text.startswith("{"):
        text = str(json.loads(text).get("public_key", ""))
    elif text.startswith("-----BEGIN PUBLIC KEY-----"):
        body = "".join(line for line in text.splitlines() if not line.startswith("-----"))
        der = base64.b64decode(body)
        if len(der) != 44 or not der.startswith(_SPKI_ED25519):
            raise ValueError("not an Ed25519 public key")
        return der[12:]
    raw = b64_exact(text, 32)
    if raw is None:
        raise ValueError("not base64 of 32 bytes")
    return raw


# ---------------------------------------------------------------------------
# The export

_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}\Z")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_STATUSES = ("started", "success", "failure")
_EVENT_MEMBERS = ("id", "session_id", "pipeline_type", "step", "status", "ts", "input", "output",
                  "error", "seq", "received_at", "input_sha256", "output_sha256", "link",
                  "redacted")
_MAX_INT = 2 ** 53 - 1


class Mismatch(Exception):
    def __init__(self, line, what, field, reason, **where):
        super().__init__(reason)
        self.doc = dict(line=line, kind=what, field=field, reason=reason)
        self.doc.update(where)

    def text(self):
        d = self.doc
        place = "line %d" % d["line"]
        if d.get("session_id") is not None:
            place += ": session %s" % json.dumps(d["session_id"])
        if d["kind"] == "event" and d.get("seq") is not None:
            place += " seq %s" % d["seq"]
        if d["kind"] == "event" and d.get("event_id") is not None:
            place += " event %s" % json.dumps(d["event_id"])
        if d["kind"] == "snapshot" and d.get("snapshot_id") is not None:
            place += " registry entry %s" % json.dumps(d["snapshot_id"])
        if d["kind"] == "issue" and d.get("issue_id") is not None:
            place += " issue %s" % json.dumps(d["issue_id"])
        out = "%s: %s: %s" % (place, d["field"], d["reason"])
        if "stored" in d:
            out += " (exported %s, recomputed %s)" % (d["stored"], d["computed"])
        return out


def _whole(v):
    """v as an int when it is a whole number from 0 to 2^53-1 (as a double
    would hold it), else None."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    if isinstance(v, float):
        if not v.is_integer():
            return None
        v = int(v)
    return v if 0 <= v <= _MAX_INT else None


class Session:
    def __init__(self, sid, ptype):
        self.sid, self.ptype = sid, ptype
        self.links = []  # the link of each event, by seq
        self.ids = []  # the id of each event, by seq
        self.entries = []  # each registry entry, by n
        self.signatures = 0


class Verifier:
    """Reads an export line by line (feed), then finish(); Mismatch on the
    first problem."""

    def __init__(self, pubkey=None):
        self.pubkey = pubkey
        self.sessions = {}
        self.order = []
        self.issues = set()
        self.counts = dict(events=0, events_repeated=0, snapshots=0, snapshots_repeated=0,
                           issues=0, issue_sessions=0, signatures_checked=0,
                           signatures_not_checked=0, redacted=0)

    def feed(self, lineno, raw):
        try:
            doc = read_json(raw)
        except Invalid as e:
            raise Mismatch(lineno, "line", "json", str(e))
        if not isinstance(doc, dict):
            raise Mismatch(lineno, "line", "type", "a line of an export is a JSON object")
        kind = doc.get("type")
        if kind == "pipetrack_export":
            if doc.get("version") != 1 or isinstance(doc.get("version"), bool):
                raise Mismatch(lineno, "line", "version", "this verifier reads export version 1")
        elif kind == "event":
            self.event(lineno, doc.get("event"))
        elif kind == "snapshot":
            self.snapshot(lineno, doc.get("snapshot"))
        elif kind == "issue":
            self.issue(lineno, doc.get("issue"))
        elif kind == "issue_session":
            self.issue_session(lineno, doc)
        else:
            raise Mismatch(lineno, "line", "type",
                           "must be pipetrack_export, event, snapshot, issue or issue_session")

    # -- events --

    def event(self, ln, ev):
        if not isinstance(ev, dict):
            raise Mismatch(ln, "event", "event", "must be an object")
        where = dict(session_id=ev.get("session_id"), seq=ev.get("seq"), event_id=ev.get("id"))

        def bad(field, reason, **more):
            more.update(where)
            return Mismatch(ln, "event", field, reason, **more)

        for k in ev:
            if k not in _EVENT_MEMBERS:
                raise bad(k, "is not a member of a stored event")
        for k in ("id", "session_id"):
            if not isinstance(ev.get(k), str) or not _ID.match(ev[k]):
                raise bad(k, "must be 1-128 characters of A-Z a-z 0-9 _ . : -")
        for k in ("pipeline_type", "step"):
            if not isinstance(ev.get(k), str) or not _NAME.match(ev[k]):
                raise bad(k, "must match ^[a-z][a-z0-9_]{0,63}$")
        if ev.get("status") not in _STATUSES:
            raise bad("status", "must be started, success or failure")
        for k in ("ts", "seq", "received_at"):
            if _whole(ev.get(k)) is None:
                raise bad(k, "must be an integer from 0 to 2^53-1")
        err = ev.get("error")
        if err is not None and not (isinstance(err, dict) and set(err) == {"code", "message"}
                                    and isinstance(err["code"], str)
                                    and isinstance(err["message"], str)):
            raise bad("error", 'must be {"code": string, "message": string} or null')
        for k in ("input_sha256", "output_sha256", "link"):
            if not isinstance(ev.get(k), str) or not _HEX64.match(ev[k]):
                raise bad(k, "must be 64 lowercase hex digits")
        redacted = ev.get("redacted", False)
        if not isinstance(redacted, bool):
            raise bad("redacted", "must be true or false")
        seq, sid = _whole(ev["seq"]), ev["session_id"]
        e = dict(ev, ts=_whole(ev["ts"]), seq=seq)

        s = self.sessions.get(sid)
        if s is None:
            s = self.sessions[sid] = Session(sid, ev["pipeline_type"])
            self.order.append(sid)
        if ev["pipeline_type"] != s.ptype:
            raise bad("pipeline_type", "session %s is a %s session" % (json.dumps(sid),
                                                                      json.dumps(s.ptype)))
        if seq < len(s.links):
            # an event seen already: the same one again changes nothing
            # (pipetrack import skips it); another is a conflict
            if s.ids[seq] != ev["id"] or s.links[seq] != ev["link"]:
                raise bad("seq", "differs from the event exported at seq %d (%s)"
                          % (seq, json.dumps(s.ids[seq])))
            self.counts["events_repeated"] += 1
            return
        if seq > len(s.links):
            raise bad("seq", "is not the next in the chain: the session has %d events before it"
                      % len(s.links))
        if redacted:
            for k in ("input", "output"):
                if ev.get(k) is not None:
                    raise bad(k, "a redacted event's input and output are null")
            self.counts["redacted"] += 1
        else:
            for k in ("input", "output"):
                got = payload_sha256(ev.get(k))
                if got != ev[k + "_sha256"]:
                    raise bad(k + "_sha256", "does not match the event's %s" % k,
                              stored=ev[k + "_sha256"], computed=got)
        prev = s.links[-1] if s.links else GENESIS
        got = link_of(prev, e)
        if got != ev["link"]:
            raise bad("link", "differs from the link recomputed from the previous one",
                      stored=ev["link"], computed=got)
        s.links.append(ev["link"])
        s.ids.append(ev["id"])
        self.counts["events"] += 1

    # -- registry entries --

    def snapshot(self, ln, sn):
        if not isinstance(sn, dict):
            raise Mismatch(ln, "snapshot", "snapshot", "must be an object")
        where = dict(session_id=sn.get("session_id"), snapshot_id=sn.get("id"))

        def bad(field, reason, **more):
            more.update(where)
            return Mismatch(ln, "snapshot", field, reason, **more)

        for k in ("id", "session_id", "pipeline_type", "state"):
            if not isinstance(sn.get(k), str):
                raise bad(k, "must be a string")
        if not _ID.match(sn["session_id"]):
            raise bad("session_id", "is not a session id")
        if not isinstance(sn.get("chain_hash"), str) or not _HEX64.match(sn["chain_hash"]):
            raise bad("chain_hash", "must be 64 lowercase hex digits")
        if sn.get("last_event_id") is not None and not isinstance(sn["last_event_id"], str):
            raise bad("last_event_id", "must be a string or null")
        for k in ("n", "event_count", "created_at"):
            if _whole(sn.get(k)) is None:
                raise bad(k, "must be an integer from 0 to 2^53-1")
        p = sn.get("progress")
        if not (isinstance(p, dict) and all(_whole(p.get(k)) is not None
                                            for k in ("completed", "total", "percent"))):
            raise bad("progress", "must hold completed, total and percent")
        if not isinstance(sn.get("is_valid"), bool):
            raise bad("is_valid", "must be a boolean")
        for k in ("notes", "signature"):
            if sn.get(k) is not None and not isinstance(sn[k], str):
                raise bad(k, "must be a string or null")
        s = self.sessions.get(sn["session_id"])
        if s is None or s.ptype != sn["pipeline_type"]:
            raise bad("session_id", "the entry comes before its session's events")
        n, count = _whole(sn["n"]), _whole(sn["event_count"])
        if n < len(s.entries):
            if s.entries[n] != sn:
                raise bad("n", "differs from the entry exported at n %d (%s)"
                          % (n, json.dumps(s.entries[n].get("id"))))
            self.counts["snapshots_repeated"] += 1
            return
        if n > len(s.entries):
            raise bad("n", "is not the next entry: the session has %d before it" % len(s.entries))
        base = "reg_%s_%d" % (s.sid, _whole(sn["created_at"]))
        rest = sn["id"][len(base):] if sn["id"].startswith(base) else None
        if rest is None or (rest and not (re.match(r"_[1-9][0-9]{0,9}\Z", rest)
                                          and int(rest[1:]) <= 1000000000)):
            raise bad("id", "is not reg_<session_id>_<created_at>[_N]")
        if count > len(s.links):
            raise bad("event_count", "covers more events than the export holds before it (%d)"
                      % len(s.links))
        want = chain_hash_of(s.sid, s.links[count - 1] if count else GENESIS)
        if sn["chain_hash"] != want:
            raise bad("chain_hash", "differs from the chain recomputed at event_count %d" % count,
                      stored=sn["chain_hash"], computed=want)
        last = s.ids[count - 1] if count else None
        if (sn.get("last_event_id") or None) != last:
            raise bad("last_event_id", "is not the id of event %d" % (count - 1) if count
                      else "must be null for an entry of no events")
        if sn.get("signature") is not None:
            if self.pubkey is None:
                self.counts["signatures_not_checked"] += 1
            else:
                sig = b64_exact(sn["signature"], 64)
                text = entry_signed_text(sn, s.ids).encode("utf-8")
                if sig is None or not ed25519_verify(self.pubkey, text, sig):
                    raise bad("signature", "does not verify with the public key")
                self.counts["signatures_checked"] += 1
        s.entries.append(sn)
        self.counts["snapshots"] += 1

    # -- issues (not part of the chain: their ids and order only) --

    def issue(self, ln, iss):
        if not isinstance(iss, dict):
            raise Mismatch(ln, "issue", "issue", "must be an object")
        parts = [iss.get(k) for k in ("pipeline_type", "step", "code")]
        if not all(isinstance(x, str) for x in parts) or not isinstance(iss.get("id"), str):
            raise Mismatch(ln, "issue", "issue", "id, pipeline_type, step and code are required",
                           issue_id=iss.get("id"))
        want = "iss_" + sha256_hex("/".join(parts))[:24]
        if iss["id"] != want:
            raise Mismatch(ln, "issue", "id", "does not match its pipeline_type, step and code",
                           issue_id=iss["id"], stored=iss["id"], computed=want)
        self.issues.add(iss["id"])
        self.counts["issues"] += 1

    def issue_session(self, ln, doc):
        if doc.get("issue_id") not in self.issues:
            raise Mismatch(ln, "issue", "issue_id", "comes before its issue",
                           issue_id=doc.get("issue_id"))
        self.counts["issue_sessions"] += 1

    def summary(self):
        return [dict(session_id=sid, pipeline_type=self.sessions[sid].ptype,
                     events=len(self.sessions[sid].links),
                     snapshots=len(self.sessions[sid].entries),
                     chain_hash=chain_hash_of(sid, (self.sessions[sid].links or [GENESIS])[-1]))
                for sid in self.order]


def verify_lines(lines, pubkey=None):
    """Verifies an export given as an iterable of (line number, bytes);
    returns (verifier, first mismatch as a dict or None)."""
    v = Verifier(pubkey)
    try:
        for ln, raw in lines:
            v.feed(ln, raw)
    except Mismatch as m:
        return v, m
    return v, None


def export_lines(f):
    """The non-blank lines of an export read from the binary file f, numbered
    from 1 (trailing CR and spaces dropped, as pipetrack import reads them);
    a file is read a line at a time, never whole."""
    for n, raw in enumerate(f, 1):
        raw = raw.rstrip(b"\r\n ")
        if raw:
            yield n, raw


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="verify.py",
        description="Verify a pipetrack export (JSON Lines, as `pipetrack export` writes it) "
        "from docs/chain.md: every payload digest, link and chain hash recomputed, every "
        "registry entry checked against the chain at its event count and, with --pubkey, "
        "its Ed25519 signature. Stops at the first mismatch and names it (line, session, "
        "seq and event id or entry id, field).",
        epilog="Exit status: 0 the export verifies; 1 a mismatch, or a line an export does not "
        "hold; 2 usage, or input that cannot be read. Without --pubkey signed entries are "
        "counted as not checked.")
    ap.add_argument("file", metavar="FILE", help="the export (- for standard input)")
    ap.add_argument("--pubkey", metavar="KEY",
                    help="the server's Ed25519 public key: base64 of its 32 bytes (GET "
                    "/api/pipeline/pubkey), or a file holding that, the pubkey answer or a PEM "
                    "public key (openssl pkey -pubout)")
    ap.add_argument("--json", action="store_true",
                    help="print the result as one JSON object: ok, first_mismatch, counts and "
                    "each session's chain_hash")
    a = ap.parse_args(argv)
    pubkey = None
    if a.pubkey is not None:
        try:
            pubkey = read_pubkey(a.pubkey)
        except (OSError, ValueError) as e:
            print("verify.py: --pubkey %s: %s" % (a.pubkey, e), file=sys.stderr)
            return 2
    try:
        f = sys.stdin.buffer if a.file == "-" else open(a.file, "rb")
    except OSError as e:
        print("verify.py: %s: %s" % (a.file, e.strerror or e), file=sys.stderr)
        return 2
    seen = [0]  # lines read

    def numbered():
        for item in export_lines(f):
            seen[0] += 1
            yield item

    try:
        with f:
            v, mismatch = verify_lines(numbered(), pubkey)
    except OSError as e:
        print("verify.py: %s: %s" % (a.file, e.strerror or e), file=sys.stderr)
        return 2
    if not seen[0]:
        print("verify.py: %s: empty: not an export" % a.file, file=sys.stderr)
        return 2
    sessions = v.summary()
    if a.json:
        print(json.dumps(dict(ok=mismatch is None,
                              first_mismatch=mismatch.doc if mismatch else None,
                              counts=dict(v.counts, sessions=len(sessions)),
                              pubkey=pubkey is not None, sessions=sessions)))
    elif mismatch:
        print("MISMATCH %s" % mismatch.text())
    else:
        c = v.counts
        sig = ("%d signatures checked" % c["signatures_checked"] if pubkey is not None else
               "%d signatures not checked (no --pubkey)" % c["signatures_not_checked"])
        print("ok: %d sessions, %d events (%d redacted), %d registry entries (%s), %d issues"
              % (len(sessions), c["events"], c["redacted"], c["snapshots"], sig, c["issues"]))
    return 1 if mismatch else 0


if __name__ == "__main__":
    sys.exit(main())
