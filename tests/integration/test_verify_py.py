#!/usr/bin/env python3
"""test_verify_py.py - tools/verify.py, the verifier of an export written
from docs/chain.md, against the real build: stores made through the
pipetrack tool (--db) and through a pipetrackd, exported, verified by
verify.py and by `pipetrack verify --all` with the same answers; tampered
copies named at the same first bad event as `pipetrack import` and
`pipetrack verify` name; the contract's vectors; RFC 8032's Ed25519
vectors; and the worked example of docs/chain.md kept true (every text and
digest recomputed, the session tracked again and its receipts and links
compared, the example's export imported and exported byte for byte).
Python's standard library only.

Usage: test_verify_py.py PIPETRACK PIPETRACKD TMPDIR SOURCE_DIR [TEST...]
"""
import base64
import json
import os
import random
import re
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, eq, launch, request, run_tests, sqlite_exec, stop  # noqa: E402

PT, PTD, TMP, SRC = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
ONLY = sys.argv[5:]
os.makedirs(TMP, exist_ok=True)
VERIFY = os.path.join(SRC, "tools", "verify.py")
sys.path.insert(0, os.path.join(SRC, "tools"))
import verify as V  # noqa: E402

# RFC 8032's first test key: published, used by docs/chain.md's example
SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
PUBKEY = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
KEY_PEM = ("-----BEGIN PRIVATE KEY-----\n"
           + base64.b64encode(bytes.fromhex("302e020100300506032b657004220420") + SEED).decode()
           + "\n-----END PRIVATE KEY-----\n")
KEY = os.path.join(TMP, "test-key.pem")
with open(KEY, "w") as f:
    f.write(KEY_PEM)


def store(name):
    """A new, empty SQLite store's URL (its file and -wal/-shm removed)."""
    path = os.path.join(TMP, "%s-%d.db" % (name, os.getpid()))
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.unlink(path + suffix)
    return "sqlite:" + path


def pt(*args, stdin=None):
    """Runs pipetrack; (exit status, stdout, stderr)."""
    env = dict(os.environ, TZ="UTC")
    for k in ("PIPETRACK_SERVER", "PIPETRACK_DB", "PIPETRACK_SIGNING_KEY", "PIPETRACK_TOKEN"):
        env.pop(k, None)
    p = subprocess.run([PT] + list(args), input=stdin, capture_output=True, text=True, env=env,
                       timeout=600)
    return p.returncode, p.stdout, p.stderr


def ok(*args, stdin=None):
    rc, out, err = pt(*args, stdin=stdin)
    eq((rc, err), (0, ""), "pipetrack %s" % " ".join(args)[:160])
    return out


def export(*args):
    """`pipetrack ARGS export --output FILE` into a new file; its lines."""
    path = os.path.join(TMP, "export-%d.jsonl" % len(os.listdir(TMP)))
    rc, out, err = pt(*args, "export", "--output", path)
    check(rc == 0 and re.match(r"exported \d+ lines to ", err), "export: %d %r" % (rc, err))
    return path


def verify_py(path, *args):
    """Runs tools/verify.py --json on path; (exit status, its JSON)."""
    p = subprocess.run([sys.executable, VERIFY, "--json"] + list(args) + [path],
                       capture_output=True, text=True, timeout=600)
    check(p.stderr == "", "verify.py wrote to stderr: %r" % p.stderr)
    return p.returncode, json.loads(p.stdout)


def pt_verify_all(db, signed=True):
    """`pipetrack verify --all --json` on db: (exit status, {session: its verify answer})."""
    args = ["--db", db] + (["--signing-key", KEY] if signed else []) + ["--json", "verify", "--all"]
    rc, out, err = pt(*args)
    check(rc in (0, 1), "verify --all exit %d: %s" % (rc, err))
    docs = {}
    for line in out.rstrip("\n").split("\n"):
        d = json.loads(line)
        if "verify" in d:
            docs[d["session_id"]] = d["verify"]
    return rc, docs


def write(path, lines):
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))
    return path


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        # not splitlines(): U+2028 in a string is not a line break here
        return [x for x in f.read().split("\n") if x]


def where(lines, kind, session, key, value):
    """Index of the line of that kind ("event"/"snapshot") of the session whose
    key has value."""
    for i, line in enumerate(lines):
        d = json.loads(line)
        if d["type"] == kind and d[kind]["session_id"] == session and d[kind][key] == value:
            return i
    raise AssertionError("no %s %s=%r in %s" % (kind, key, value, session))


def agree_with_pt_verify(vdoc, pdocs):
    """verify.py's sessions agree with pipetrack verify's: the same sessions,
    chain hashes, event and entry counts, all ok."""
    got = {s["session_id"]: (s["chain_hash"], s["events"], s["snapshots"]) for s in vdoc["sessions"]}
    want = {sid: (d["chain_hash"], d["checked_events"], d["checked_snapshots"])
            for sid, d in pdocs.items()}
    eq(got, want, "verify.py's sessions against pipetrack verify --all")
    check(all(d["ok"] for d in pdocs.values()), "pipetrack verify: every session ok")


# ---------------------------------------------------------------------------

NUMBERS = {"big": 1e21, "e20": 1e20, "tenth": 0.1, "tiny": 1e-7, "micro": 0.000001,
           "pi": 3.141592653589793, "max": 1.7976931348623157e308, "min": 5e-324,
           "neg": -273.15, "third": 1 / 3}
UNICODE = {"ключ": "значение", "😀": "emoji 😀", "\uff01": "fullwidth", "é": "latin é",
           "ctl": "\u0001\t\n\u001f", "sep": "\u2028\u2029", "quote": "\"\\/", "del": "\u007f",
           "nested": {"a": [{"b": {"c": [1, 2.5, {"d": None, "e": [], "f": {}}]}}], "z": True}}


def build_store(db):
    """Sessions through the tool, signed with the test key: numbers written
    every way, unicode, nested objects, a failed step, a redaction, entries
    on request and after events, 1,005 events (an entry listing its last
    1,000 ids), random doubles. Returns what was made."""
    g = ["--db", db, "--signing-key", KEY]
    # numbers as written text: -0, 1E21, 42.50, 1e-7, 9007199254740993, 0.1
    raw = ('{"negzero": -0, "big": 1E21, "price": 42.50, "tiny": 1e-7, "int": 9007199254740993, '
           '"tenth": 0.1, "exp": 2.5E+300, "list": [-0.0, 100, 1e-6, 123456789012345678901]}')
    ok(*g, "track", "--session", "num.s:1-a", "--pipeline", "checkout_digital", "--step",
       "checkout_started", "--status", "success", "--id", "n0", "--ts", "1764350000000",
       "--input", raw, "--snapshot")
    ok(*g, "track", "--session", "num.s:1-a", "--pipeline", "checkout_digital", "--step",
       "payment_initiated", "--status", "started", "--id", "n1", "--ts", "1764350000100",
       "--input", json.dumps(NUMBERS), "--output", json.dumps(UNICODE, ensure_ascii=False))
    ok(*g, "track", "--session", "num.s:1-a", "--pipeline", "checkout_digital", "--step",
       "payment_initiated", "--status", "failure", "--id", "n2", "--ts", "1764350000200",
       "--error-code", "card_declined", "--error-message", "Karte abgelehnt: «nein» ✗",
       "--output", '{"attempt": 1}')
    ok(*g, "track", "--session", "num.s:1-a", "--pipeline", "checkout_digital", "--step",
       "payment_initiated", "--status", "success", "--id", "n3", "--ts", "1764350000300",
       "--output", '{"auth": "ok"}', "--snapshot")
    ok(*g, "snapshot", "num.s:1-a", "--notes", "checkpoint «manual» ✓")
    # a session with a redacted event (and its entry recording it)
    for i, (step, status) in enumerate([("checkout_started", "success"),
                                        ("payment_initiated", "success"),
                                        ("payment_confirmed", "success")]):
        ok(*g, "track", "--session", "red_1", "--pipeline", "checkout_digital", "--step", step,
           "--status", status, "--id", "r%d" % i, "--ts", str(1764350001000 + i),
           "--input", json.dumps({"email": "a%d@example.com" % i, "card": "4111 %d" % i}))
    ok(*g, "redact", "red_1", "r1", "--actor", "ticket 4711")
    # a signup session through track --file, ts left to the server
    lines = [json.dumps({"session_id": "sig_1", "pipeline_type": "signup", "step": s,
                         "status": "success", "input": {"s": s}})
             for s in ("account_created",)]
    ok(*g, "track", "--file", "-", stdin="\n".join(lines) + "\n")
    # random doubles (every bit pattern but non-finite ones) the build spells
    rnd = random.Random(8785)
    evs = []
    for i in range(60):
        xs = []
        while len(xs) < 25:
            x = struct.unpack("<d", rnd.getrandbits(64).to_bytes(8, "little"))[0]
            if x == x and x not in (float("inf"), float("-inf")):
                xs.append(x)
        xs += [rnd.uniform(-1e6, 1e6), rnd.randint(-2 ** 60, 2 ** 60), rnd.random() * 1e-5]
        evs.append(json.dumps({"id": "d%d" % i, "session_id": "dbl_1",
                               "pipeline_type": "data_job",
                               "step": "extract", "status": "success", "ts": 1764350002000 + i,
                               "input": {"x": xs}}))
    ok(*g, "track", "--file", "-", stdin="\n".join(evs) + "\n")
    # 1,005 events, then an entry: it lists (and signs) the last 1,000 ids
    many = [json.dumps({"id": "m%04d" % i, "session_id": "many_1", "pipeline_type": "data_job",
                        "step": "extract", "status": "started", "ts": 1764350003000 + i})
            for i in range(1005)]
    ok(*g, "track", "--file", "-", stdin="\n".join(many) + "\n")
    ok(*g, "snapshot", "many_1", "--notes", "after 1005")


def test_store_export_verifies():
    """An export of a store made through the tool: verify.py says ok, with the
    same chain hashes and counts as `pipetrack verify --all`; every signed
    entry checked (one listing 1,000 of 1,005 ids); every kind of line."""
    db = store("main")
    build_store(db)
    path = export("--db", db)
    rc, vdoc = verify_py(path, "--pubkey", PUBKEY)
    eq((rc, vdoc["ok"], vdoc["first_mismatch"]), (0, True, None), "verify.py on the export")
    prc, pdocs = pt_verify_all(db)
    eq(prc, 0, "pipetrack verify --all exit")
    agree_with_pt_verify(vdoc, pdocs)
    eq(sorted(pdocs), ["dbl_1", "many_1", "num.s:1-a", "red_1", "sig_1"], "sessions")
    lines = read_lines(path)
    snaps = [json.loads(x)["snapshot"] for x in lines if json.loads(x)["type"] == "snapshot"]
    signed = [s for s in snaps if s["signature"]]
    c = vdoc["counts"]
    eq((c["events"], c["redacted"], c["snapshots"], c["signatures_checked"],
        c["signatures_not_checked"]),
       (4 + 3 + 1 + 60 + 1005, 1, len(snaps), len(signed), 0), "counts")
    eq(len(snaps), 5, "entries: 2 after events, 1 on request, 1 redaction, 1 of many_1")
    eq(len(signed), 5, "every entry signed")
    check(c["issues"] >= 1 and c["issue_sessions"] >= 1, "issues exported and read: %r" % c)
    # the entry of 1,005 events signs its last 1,000 ids, marked truncated
    big = [s for s in snaps if s["session_id"] == "many_1"][0]
    ids = ["m%04d" % i for i in range(1005)]
    text = V.entry_signed_text(big, ids)
    check('"event_ids":["m0005",' in text and '"event_ids_truncated":true' in text,
          "truncated id list: %r" % text[:200])
    check(V.ed25519_verify(base64.b64decode(PUBKEY), text.encode(),
                           base64.b64decode(big["signature"])), "many_1 entry signature")
    # the numbers as the build spelled them, recomputed the same
    n0 = json.loads(lines[where(lines, "event", "num.s:1-a", "seq", 0)])["event"]
    eq(V.canonical(n0["input"]),
       '{"big":1e+21,"exp":2.5e+300,"int":9007199254740992,"list":[0,100,0.000001,'
       '123456789012345680000],"negzero":0,"price":42.5,"tenth":0.1,"tiny":1e-7}',
       "canonical numbers")
    check('"input":{"big":1e+21,"exp":2.5e+300,"int":9007199254740992,' in lines[
        where(lines, "event", "num.s:1-a", "seq", 0)], "the export writes canonical input")
    n1 = json.loads(lines[where(lines, "event", "num.s:1-a", "seq", 1)])["event"]
    check(V.canonical(n1["output"]).startswith(
        '{"ctl":"\\u0001\\t\\n\\u001f","del":"\u007f","nested":{"a":[{"b":{"c":[1,2.5,'
        '{"d":null,"e":[],"f":{}}]}}],"z":true},"quote":"\\"\\\\/","sep":"\u2028\u2029",'),
        "canonical strings: %r" % V.canonical(n1["output"]))
    check(V.canonical(n1["output"]).endswith(',"😀":"emoji 😀","！":"fullwidth"}'),
          "UTF-16 order: U+1F600 before U+FF01: %r" % V.canonical(n1["output"])[-60:])
    red = json.loads(lines[where(lines, "event", "red_1", "seq", 1)])["event"]
    eq((red["redacted"], red["input"], red["output"]), (True, None, None), "redacted event")
    # human output
    p = subprocess.run([sys.executable, VERIFY, path], capture_output=True, text=True, timeout=600)
    eq(p.returncode, 0, "verify.py exit")
    eq(p.stdout, "ok: 5 sessions, 1073 events (1 redacted), 5 registry entries "
                 "(5 signatures not checked (no --pubkey)), %d issues\n" % c["issues"],
       "verify.py's line")


def tamper_cases(lines):
    """(name, tampered lines, expected first mismatch, what import does)."""

    def ev(i):
        return json.loads(lines[i])

    def put(ls, i, d):
        ls = list(ls)
        ls[i] = json.dumps(d, ensure_ascii=False, separators=(",", ":"))
        return ls

    cases = []
    i = where(lines, "event", "num.s:1-a", "seq", 1)
    d = ev(i)
    d["event"]["input"]["tenth"] = 0.2
    cases.append(("payload value", put(lines, i, d),
                  dict(line=i + 1, session_id="num.s:1-a", seq=1, event_id="n1",
                       field="input_sha256"),
                  ("line", "event.input_sha256: does not match the event's input")))
    a, b = where(lines, "event", "dbl_1", "seq", 7), where(lines, "event", "dbl_1", "seq", 8)
    sw = list(lines)
    sw[a], sw[b] = sw[b], sw[a]
    cases.append(("swap two events", sw,
                  dict(line=a + 1, session_id="dbl_1", seq=8, event_id="d8", field="seq"),
                  ("line", 'event seq 8 of session "dbl_1" leaves a gap')))
    i = where(lines, "event", "num.s:1-a", "seq", 2)
    d = ev(i)
    d["event"]["output_sha256"] = "0" * 64
    cases.append(("unredacted digest", put(lines, i, d),
                  dict(line=i + 1, session_id="num.s:1-a", seq=2, event_id="n2",
                       field="output_sha256"),
                  ("line", "event.output_sha256: does not match the event's output")))
    i = where(lines, "event", "red_1", "seq", 1)
    d = ev(i)
    d["event"]["input_sha256"] = V.sha256_hex('{"card":"4111 9","email":"x@example.com"}')
    cases.append(("redacted digest", put(lines, i, d),
                  dict(line=i + 1, session_id="red_1", seq=1, event_id="r1", field="link"),
                  ("link", 'the link of event "r1" (seq 1) does not follow the chain')))
    i = where(lines, "event", "red_1", "seq", 1)
    dropped = lines[:i] + lines[i + 1:]
    cases.append(("drop a line", dropped,
                  dict(line=i + 1, session_id="red_1", seq=2, event_id="r2", field="seq"),
                  ("line", 'event seq 2 of session "red_1" leaves a gap')))
    i = where(lines, "event", "num.s:1-a", "seq", 3)
    d = ev(i)
    d["event"]["ts"] += 1
    cases.append(("event ts", put(lines, i, d),
                  dict(line=i + 1, session_id="num.s:1-a", seq=3, event_id="n3", field="link"),
                  ("link", 'the link of event "n3" (seq 3) does not follow the chain')))
    i = where(lines, "event", "dbl_1", "seq", 59)
    d = ev(i)
    d["event"]["link"] = V.sha256_hex("forged")
    cases.append(("last link", put(lines, i, d),
                  dict(line=i + 1, session_id="dbl_1", seq=59, event_id="d59", field="link"),
                  ("link", 'the link of event "d59" (seq 59) does not follow the chain')))
    snaps = [k for k, x in enumerate(lines) if json.loads(x)["type"] == "snapshot"]
    i = [k for k in snaps if json.loads(lines[k])["snapshot"]["session_id"] == "num.s:1-a"][-1]
    d = json.loads(lines[i])
    other = json.loads(lines[snaps[0]])["snapshot"]["signature"]
    check(other != d["snapshot"]["signature"], "another entry's signature differs")
    d["snapshot"]["signature"] = other
    sid = d["snapshot"]["id"]
    cases.append(("signature", put(lines, i, d),
                  dict(line=i + 1, session_id="num.s:1-a", snapshot_id=sid, field="signature"),
                  ("verify", sid, "signature does not verify with the signing key")))
    i = [k for k in snaps if json.loads(lines[k])["snapshot"]["session_id"] == "red_1"][0]
    d = json.loads(lines[i])
    d["snapshot"]["chain_hash"] = V.chain_hash_of("red_1", V.GENESIS)
    sid = d["snapshot"]["id"]
    cases.append(("entry chain_hash", put(lines, i, d),
                  dict(line=i + 1, session_id="red_1", snapshot_id=sid, field="chain_hash"),
                  ("line", 'registry entry "%s": chain_hash is not the chain\'s' % sid)))
    return cases


def test_tampered_exports():
    """Each tampered copy: verify.py exits 1 naming the line, session, seq
    and event (or entry) and field; pipetrack import refuses the same line
    (naming the event or entry where it names one) — or, for an entry's
    signature, which import does not check (it may hold no key), takes it
    and pipetrack verify names the same entry."""
    db = store("tamper-src")
    build_store(db)
    path = export("--db", db)
    lines = read_lines(path)
    cases = tamper_cases(lines)
    eq(len(cases), 9, "tamper cases")
    for name, tampered, want, imp in cases:
        tpath = write(os.path.join(TMP, "tampered.jsonl"), tampered)
        rc, vdoc = verify_py(tpath, "--pubkey", PUBKEY)
        eq(rc, 1, name + ": verify.py exit")
        got = {k: vdoc["first_mismatch"].get(k) for k in want}
        eq(got, want, name + ": verify.py's first mismatch")
        # the line verify.py named is the one tampered
        tline = tampered[want["line"] - 1]
        d = json.loads(tline)
        key = "event" if "seq" in want else "snapshot"
        eq(d[key]["session_id"], want["session_id"], name + ": the named line's session")
        if "seq" in want:
            eq((d["event"]["seq"], d["event"]["id"]), (want["seq"], want["event_id"]),
               name + ": the named line's event")
        fresh = store("tamper-dst")
        irc, out, err = pt("--db", fresh, "import", tpath)
        if imp[0] in ("line", "link"):
            eq(irc, 1, name + ": import exit")
            prefix = "pipetrack: line %d: " % want["line"]
            check(err.startswith(prefix) and imp[1] in err,
                  "%s: import names line %d and %r: %r" % (name, want["line"], imp[1], err))
        else:
            eq((irc, err), (0, ""), name + ": import takes an entry as it is")
            prc, pdocs = pt_verify_all(fresh)
            eq(prc, 1, name + ": pipetrack verify exit")
            bad = {(sid, m.get("id"), m["reason"]) for sid, d in pdocs.items()
                   for m in d["mismatches"]}
            eq(bad, {(want["session_id"], imp[1], imp[2])},
               name + ": pipetrack verify's mismatches")
    # the untampered file still verifies, and imports
    rc, vdoc = verify_py(path, "--pubkey", PUBKEY)
    eq(rc, 0, "untampered")


def test_store_tampered_agrees_with_pt_verify():
    """A store changed behind pipetrack's back (its SQLite file): pipetrack
    verify names the event or entry, and verify.py names the same one in
    the store's export."""
    src = store("behind-src")
    build_store(src)
    path = export("--db", src)
    for name, sql, want in [
        ("payload", "UPDATE events SET input = '{\"tenth\":0.3}' WHERE session_id = 'num.s:1-a'"
                    " AND seq = 1",
         dict(kind="event", session_id="num.s:1-a", seq=1, event_id="n1",
              reason="input no longer matches input_sha256", field="input_sha256")),
        ("step", "UPDATE events SET step = 'transform' WHERE session_id = 'dbl_1' AND seq = 30",
         dict(kind="event", session_id="dbl_1", seq=30, event_id="d30",
              reason="link differs from the recomputed link", field="link")),
        ("signature", "UPDATE snapshots SET signature = (SELECT signature FROM snapshots WHERE"
                      " session_id = 'many_1') WHERE session_id = 'sig_1' OR (session_id ="
                      " 'red_1' AND n = 0)",
         dict(kind="snapshot", session_id="red_1",
              reason="signature does not verify with the signing key", field="signature")),
    ]:
        db = store("behind-" + name)
        ok("--db", db, "import", path)
        sqlite_exec(db[len("sqlite:"):], sql)
        prc, pdocs = pt_verify_all(db)
        eq(prc, 1, name + ": pipetrack verify exit")
        bad = [(sid, m) for sid, d in pdocs.items() for m in d["mismatches"]]
        eq(len(bad), 1, name + ": one mismatch: %r" % bad)
        sid, m = bad[0]
        eq((sid, m["kind"], m["reason"]), (want["session_id"], want["kind"], want["reason"]),
           name + ": pipetrack verify")
        out = export("--db", db)
        rc, vdoc = verify_py(out, "--pubkey", PUBKEY)
        eq(rc, 1, name + ": verify.py exit")
        fm = vdoc["first_mismatch"]
        eq((fm["kind"], fm["session_id"], fm["field"]),
           (want["kind"], want["session_id"], want["field"]), name + ": verify.py")
        if want["kind"] == "event":
            eq((fm["seq"], fm["event_id"]), (m["seq"], m["event_id"]), name + ": the same event")
            eq((fm["seq"], fm["event_id"]), (want["seq"], want["event_id"]), name + ": event")
        else:
            eq(fm["snapshot_id"], m["id"], name + ": the same entry")


def test_server_export():
    """A store made through pipetrackd (signing key, auto-snapshot, a batch,
    a failure, a redaction over HTTP), exported by `pipetrack --server`:
    verify.py with the key from GET /api/pipeline/pubkey agrees with
    `pipetrack --server verify --all`; a flipped signature is named."""
    db = store("server")
    log = open(os.path.join(TMP, "server.log"), "ab")
    p, port = launch(PTD, ["--db", db, "--quiet", "--signing-key", KEY, "--auto-snapshot",
                           "--api-token", "tok"], log)
    try:
        url = "http://127.0.0.1:%d" % port
        h = {"Authorization": "Bearer tok"}
        evs = [{"id": "h%d" % i, "session_id": "srv_%d" % (i % 3),
                "pipeline_type": "checkout_digital",
                "step": ["checkout_started", "payment_initiated", "payment_confirmed"][i // 3],
                "status": "failure" if i == 4 else "success",
                "input": {"i": i, "x": i / 7, "s": "ü€😀\u0000"},
                "error": {"code": "E\u20ac", "message": "m\n"} if i == 4 else None}
               for i in range(9)]
        st, _, doc = request(port, "POST", "/api/pipeline/track/batch", {"events": evs}, headers=h)
        eq((st, [r["status"] for r in doc["results"]]), (200, [201] * 9), "batch")
        check(all(r["receipt"] for r in doc["results"]), "receipts")
        for r in doc["results"]:
            e = r["event"]
            check(V.ed25519_verify(base64.b64decode(PUBKEY),
                                   V.receipt_text(e["session_id"], e["seq"], e["link"]).encode(),
                                   base64.b64decode(r["receipt"])), "receipt of %s" % e["id"])
        st, _, doc = request(port, "POST", "/api/pipeline/redact",
                             {"session_id": "srv_1", "event_ids": ["h4"], "actor": "t"}, headers=h)
        eq(st, 200, "redact")
        st, _, key = request(port, "GET", "/api/pipeline/pubkey", headers=h)
        eq((st, key["public_key"]), (200, PUBKEY), "pubkey")
        path = export("--server", url, "--token", "tok")
        keyfile = write(os.path.join(TMP, "pubkey.json"), [json.dumps(key)])
        rc, vdoc = verify_py(path, "--pubkey", keyfile)
        eq((rc, vdoc["first_mismatch"]), (0, None), "verify.py on the server's export")
        eq((vdoc["counts"]["signatures_checked"], vdoc["counts"]["redacted"]), (10, 1),
           "9 entries after events and one of the redaction, all checked")
        rc, out, err = pt("--server", url, "--token", "tok", "--json", "verify", "--all")
        eq(rc, 0, "pipetrack --server verify --all")
        agree_with_pt_verify(vdoc, {d["session_id"]: d["verify"]
                                    for d in map(json.loads, out.rstrip("\n").split("\n")) if "verify" in d})
        lines = read_lines(path)
        i = max(k for k, x in enumerate(lines) if json.loads(x)["type"] == "snapshot")
        d = json.loads(lines[i])
        sig = bytearray(base64.b64decode(d["snapshot"]["signature"]))
        sig[5] ^= 1
        d["snapshot"]["signature"] = base64.b64encode(bytes(sig)).decode()
        lines[i] = json.dumps(d)
        rc, vdoc = verify_py(write(os.path.join(TMP, "server-t.jsonl"), lines), "--pubkey",
                             PUBKEY)
        eq((rc, vdoc["first_mismatch"]["field"], vdoc["first_mismatch"]["snapshot_id"]),
           (1, "signature", d["snapshot"]["id"]), "flipped signature bit")
    finally:
        eq(stop(p, log), 0, "pipetrackd exit")


def test_vectors():
    """The contract's vectors: every number and document canonicalised as
    the vector says; every session, turned into export lines, verified with
    the vector's chain hash; one changed output named."""
    with open(os.path.join(SRC, "tests", "vectors", "chain-v1.json"), encoding="utf-8") as f:
        vec = json.load(f)
    for n in vec["numbers"]:
        x = struct.unpack(">d", bytes.fromhex(n["bits"]))[0]
        eq(V.es_number(x), n["text"], "number %s" % n["bits"])
    for d in vec["documents"]:
        eq(V.canonical(V.read_json(d["json"])), d["canonical"], "document")
    lines = ['{"type":"pipetrack_export","version":1}']
    for s in vec["sessions"]:
        for seq, e in enumerate(s["events"]):
            ev = dict(e["event"], seq=seq, received_at=e["event"]["ts"],
                      input_sha256=e["input_sha256"], output_sha256=e["output_sha256"],
                      link=e["link"], redacted=False)
            eq((V.input_n(ev), V.output_n(ev)), (e["input_n"], e["output_n"]), "input_n, output_n")
            lines.append(json.dumps({"type": "event", "event": ev}))
    path = write(os.path.join(TMP, "vectors.jsonl"), lines)
    rc, vdoc = verify_py(path)
    eq(rc, 0, "verify.py on the vectors")
    got = {s["session_id"]: (s["chain_hash"], s["events"]) for s in vdoc["sessions"]}
    want = {s["session_id"]: (s["chain_hash"], len(s["events"])) for s in vec["sessions"]
            if s["events"]}
    eq(got, want, "chain hashes of the vector sessions")
    check(len(want) >= 6 and len(vec["numbers"]) == 624, "vectors read")
    empty = [s for s in vec["sessions"] if not s["events"]][0]
    eq(V.chain_hash_of(empty["session_id"], V.GENESIS), empty["chain_hash"], "empty session")
    d = json.loads(lines[3])
    d["event"]["output"] = {"changed": True}
    lines[3] = json.dumps(d)
    rc, vdoc = verify_py(write(os.path.join(TMP, "vectors-t.jsonl"), lines))
    fm = vdoc["first_mismatch"]
    eq((rc, fm["line"], fm["session_id"], fm["seq"], fm["event_id"], fm["field"]),
       (1, 4, d["event"]["session_id"], d["event"]["seq"], d["event"]["id"], "output_sha256"),
       "changed vector output")


def test_ed25519():
    """verify.py's Ed25519 (RFC 8032 in Python) against RFC 8032's test
    vectors 1-3, and refusing any changed bit of key, message or signature."""
    vectors = [
        ("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
         "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39"
         "701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
        ("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
         "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f36"
         "13d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
        ("fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
         "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f7"
         "60984dc6594a7c15e9716ed28dc027beceea1ec40a"),
    ]
    eq(base64.b64decode(PUBKEY).hex(), vectors[0][0], "the test key's public key")
    for pk, msg, sig in vectors:
        pk, msg, sig = bytes.fromhex(pk), bytes.fromhex(msg), bytes.fromhex(sig)
        check(V.ed25519_verify(pk, msg, sig), "RFC 8032 vector %s" % pk.hex()[:8])
        check(not V.ed25519_verify(pk, msg + b"x", sig), "longer message refused")
        for bit in (0, 100, 255, 256, 300, 511):
            s = bytearray(sig)
            s[bit // 8] ^= 1 << (bit % 8)
            check(not V.ed25519_verify(pk, msg, bytes(s)), "signature bit %d refused" % bit)
        k = bytearray(pk)
        k[3] ^= 4
        check(not V.ed25519_verify(bytes(k), msg, sig), "changed key refused")
    # S >= L refused (S + L would verify with the group law alone)
    pk, sig = bytes.fromhex(vectors[1][0]), bytes.fromhex(vectors[1][2])
    s = int.from_bytes(sig[32:], "little") + V._L
    check(not V.ed25519_verify(pk, b"\x72", sig[:32] + s.to_bytes(32, "little")), "S + L refused")


def doc_blocks():
    """docs/chain.md's worked example: the export block's lines, the values
    block parsed ({"events": [{name: value}], "session": {...}, "entry":
    {...}}), and the key's PEM block."""
    with open(os.path.join(SRC, "docs", "chain.md"), encoding="utf-8") as f:
        text = f.read()
    blocks = re.findall(r"^```([^\n]*)\n(.*?)^```$", text, re.S | re.M)
    named = {info.split()[1]: body for info, body in blocks if len(info.split()) > 1}
    export = named["worked-example-export"].rstrip("\n").split("\n")
    values = {"events": []}
    cur = None
    for line in named["worked-example-values"].split("\n"):
        if not line:
            continue
        m = re.match(r"(seq \d+|session|entry) (\S+)$", line)
        if m:
            cur = {"head": m.group(2)}
            if m.group(1).startswith("seq"):
                values["events"].append(cur)
            else:
                values[m.group(1)] = cur
            continue
        k, _, v = line.partition(" = ")
        cur[k.strip()] = v
    pem = [body for info, body in blocks if body.startswith("-----BEGIN PRIVATE KEY-----")]
    return export, values, pem


def test_doc_example():
    """docs/chain.md's worked example stays true: verify.py recomputes every
    text and digest it lists and checks the entry's signature and each
    receipt; the real build, tracking the same three events with the same
    key, stores the same events and links and answers the same receipts;
    the example's export imports, verifies (signature by the C code) and
    exports again byte for byte."""
    export, values, pem = doc_blocks()
    eq(pem, [KEY_PEM], "the example's key is RFC 8032's test key")
    eq(len(export), 5, "export block lines")
    eq(len(values["events"]), 3, "values of three events")
    path = write(os.path.join(TMP, "doc.jsonl"), export)
    rc, vdoc = verify_py(path, "--pubkey", PUBKEY)
    eq((rc, vdoc["counts"]["signatures_checked"]), (0, 1), "verify.py on the example")
    eq(vdoc["sessions"][0]["chain_hash"], values["session"]["chain_hash"], "example chain hash")
    evs = [json.loads(x)["event"] for x in export[1:4]]
    pk = base64.b64decode(PUBKEY)
    prev = V.GENESIS
    for ev, val in zip(evs, values["events"]):
        eq(val["head"], ev["id"], "event order")
        eq(V.canonical(ev["input"]), val["JCS(input)"], ev["id"] + " JCS(input)")
        eq(V.canonical(ev["output"]), val["JCS(output)"], ev["id"] + " JCS(output)")
        eq(V.sha256_hex(val["JCS(input)"]), val["input_sha256"], ev["id"] + " input_sha256")
        eq(V.sha256_hex(val["JCS(output)"]), val["output_sha256"], ev["id"] + " output_sha256")
        eq((ev["input_sha256"], ev["output_sha256"]), (val["input_sha256"], val["output_sha256"]),
           ev["id"] + " digests in the export")
        eq(V.input_n(ev), val["input_n"], ev["id"] + " input_n")
        eq(V.output_n(ev), val["output_n"], ev["id"] + " output_n")
        eq(prev + ":" + val["input_n"] + ":" + val["output_n"], val["link text"],
           ev["id"] + " link text")
        eq(V.sha256_hex(val["link text"]), val["link"], ev["id"] + " link")
        eq(ev["link"], val["link"], ev["id"] + " link in the export")
        eq(V.receipt_text(ev["session_id"], ev["seq"], ev["link"]), val["receipt text"],
           ev["id"] + " receipt text")
        check(V.ed25519_verify(pk, val["receipt text"].encode(), base64.b64decode(val["receipt"])),
              ev["id"] + " receipt verifies")
        prev = val["link"]
    s = values["session"]
    eq(s["chain_hash text"], "chk_doc_1:" + prev, "chain_hash text")
    eq(V.sha256_hex(s["chain_hash text"]), s["chain_hash"], "chain_hash")
    entry = json.loads(export[4])["snapshot"]
    e = values["entry"]
    eq((e["head"], entry["signature"]), (entry["id"], e["signature"]), "the entry")
    eq(V.entry_signed_text(entry, [x["id"] for x in evs]), e["signed text"], "entry signed text")
    check(V.ed25519_verify(pk, e["signed text"].encode(), base64.b64decode(e["signature"])),
          "entry signature")
    check("Grüße €" in values["events"][0]["JCS(input)"], "UTF-8 kept as itself")

    # the real build: the same three events, the same key
    db = store("doc-track")
    g = ["--db", db, "--signing-key", KEY, "--json", "track", "--session", "chk_doc_1",
         "--pipeline", "checkout_digital"]
    answers = [
        ok(*g, "--step", "checkout_started", "--status", "success", "--id", "evt_doc_1", "--ts",
           "1764350000000", "--input",
           '{"items": [{"sku": "B-1", "qty": 2}], "cart_total": 42.50, "note": "Grüße €"}'),
        ok(*g, "--step", "payment_initiated", "--status", "failure", "--id", "evt_doc_2", "--ts",
           "1764350001000", "--input",
           '{"method": "card", "amount": 42.5, "tiny": 1E-7, "huge": 1000000000000000000000}',
           "--error-code", "card_declined", "--error-message", "Card declined"),
        ok(*g, "--step", "payment_initiated", "--status", "success", "--id", "evt_doc_3", "--ts",
           "1764350002500", "--output", '{"auth": "A-77", "ok": true}', "--snapshot"),
    ]
    for a, ev, val in zip(map(json.loads, answers), evs, values["events"]):
        got = dict(a["event"], received_at=None)
        eq(got, dict(ev, received_at=None), ev["id"] + ": the build stores the example's event")
        eq(a["receipt"], val["receipt"], ev["id"] + ": the build's receipt")
    snap = json.loads(answers[2])["snapshot"]
    eq((snap["chain_hash"], snap["event_ids"]), (values["session"]["chain_hash"],
                                                 ["evt_doc_1", "evt_doc_2", "evt_doc_3"]),
       "the build's entry")
    rc, out, err = pt("--db", db, "--json", "verify", "chk_doc_1")
    eq((rc, json.loads(out)["verify"]["chain_hash"]), (0, values["session"]["chain_hash"]),
       "pipetrack verify's chain hash")

    # the example's export through the build: imported, verified, exported the same
    db2 = store("doc-import")
    ok("--db", db2, "import", path)
    rc, pdocs = pt_verify_all(db2)
    eq((rc, pdocs["chk_doc_1"]["ok"], pdocs["chk_doc_1"]["checked_snapshots"]), (0, True, 1),
       "the example imported verifies, its signature checked by the build")
    eq(ok("--db", db2, "export", "--session", "chk_doc_1").rstrip("\n").split("\n"), export,
       "the example exported again byte for byte")


def test_usage():
    """--help; exit 2 for usage, a missing or empty file, a bad --pubkey;
    exit 1 for a line that is not JSON, a duplicate member, 1e400."""
    p = subprocess.run([sys.executable, VERIFY, "--help"], capture_output=True, text=True)
    check(p.returncode == 0 and "usage: verify.py" in p.stdout and "Exit status" in p.stdout,
          "--help: %r" % p.stdout[:200])
    for args in ([], ["--nope", "x"], [os.path.join(TMP, "missing.jsonl")],
                 ["--pubkey", "abc", os.path.join(TMP, "doc.jsonl")]):
        p = subprocess.run([sys.executable, VERIFY] + args, capture_output=True, text=True)
        eq(p.returncode, 2, "exit for %r" % args)
        check(p.stderr != "", "says why for %r" % args)
    empty = write(os.path.join(TMP, "empty.jsonl"), [])
    eq(subprocess.run([sys.executable, VERIFY, empty], capture_output=True).returncode, 2, "empty")
    head = '{"type":"pipetrack_export","version":1}'
    for body, field in [("{nope", "json"), ('{"type":"event","type":"event"}', "json"),
                        ('{"type":"event","event":{"input":1e400}}', "json"),
                        ('{"type":"what"}', "type"), ('{"type":"pipetrack_export","version":2}',
                                                     "version")]:
        rc, vdoc = verify_py(write(os.path.join(TMP, "bad.jsonl"), [head, body]))
        eq((rc, vdoc["first_mismatch"]["line"], vdoc["first_mismatch"]["field"]), (1, 2, field),
           "bad line %r" % body)
    p = subprocess.run([sys.executable, VERIFY, os.path.join(TMP, "bad.jsonl")],
                       capture_output=True, text=True)
    eq((p.returncode, p.stdout), (1, "MISMATCH line 2: version: this verifier reads export "
                                     "version 1\n"), "human mismatch line")


if __name__ == "__main__":
    run_tests([test_ed25519, test_vectors, test_doc_example, test_store_export_verifies,
               test_tampered_exports, test_store_tampered_agrees_with_pt_verify,
               test_server_export, test_usage], ONLY)
