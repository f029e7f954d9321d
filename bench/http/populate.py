#!/usr/bin/env python3
"""populate.py URL SESSIONS [batch|single] [ETAGS_FILE [N]]: stores SESSIONS
four-event checkout sessions "p_<i>" (batch: 250 sessions a request; single:
one event a request, 8 keep-alive connections), then optionally writes the
ETags of the first N sessions to ETAGS_FILE."""
import http.client, json, sys, threading, urllib.parse

url = urllib.parse.urlparse(sys.argv[1])
sessions = int(sys.argv[2])
mode = sys.argv[3] if len(sys.argv) > 3 else "single"
STEPS = ["checkout_started", "payment_initiated", "payment_confirmed", "checkout_completed"]

def ev(i, k):
    return {"session_id": "p_%d" % i, "pipeline_type": "checkout_digital", "step": STEPS[k],
            "status": "success", "input": {"amount": 4200, "currency": "EUR"}}

def conn():
    return http.client.HTTPConnection(url.hostname, url.port, timeout=60)

def post(c, path, body):
    c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    if r.status not in (200, 201):
        sys.exit("populate: %s answered %d: %s" % (path, r.status, data[:200]))

if mode == "batch":
    c = conn()
    for start in range(0, sessions, 250):
        evs = [ev(i, k) for k in range(4) for i in range(start, min(sessions, start + 250))]
        post(c, "/api/pipeline/track/batch", {"events": evs, "auto_snapshot": True})
else:
    def worker(w):
        c = conn()
        for i in range(w, sessions, 8):
            for k in range(4):
                post(c, "/api/pipeline/track", {"event": ev(i, k), "auto_snapshot": True})
    ts = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for t in ts: t.start()
    for t in ts: t.join()

if len(sys.argv) > 4:
    n = int(sys.argv[5]) if len(sys.argv) > 5 else 1000
    c = conn()
    with open(sys.argv[4], "w") as f:
        for i in range(n):
            c.request("GET", "/api/pipeline/status?session_id=p_%d&pipeline_type=checkout_digital" % i)
            r = c.getresponse()
            r.read()
            f.write("p_%d %s\n" % (i, r.getheader("ETag")))
