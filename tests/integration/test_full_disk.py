"""test_full_disk.py - pipetrackd on a disk that fills up: its store on a
small tmpfs (2 MiB, mounted here; the test is skipped where mounting is not
allowed), filled with a file until a track gets 503. While writes fail for
lack of space /readyz answers 503 storage_unavailable naming the reason;
once the file is removed it answers 200 again within the probe's second,
with no other write, and the server tracks again; nothing acknowledged is
lost (the store verifies).

usage: test_full_disk.py PIPETRACKD PIPETRACK WORKDIR"""
import os
import shutil
import subprocess
import sys
import time

from harness import Skip, check, eq, launch, request, run_tests, stop

PTD, CLI, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
PAD = "x" * 3000


def track(port, eid):
    ev = {"session_id": "s1", "pipeline_type": "checkout_digital", "step": "checkout_started",
          "status": "success", "id": eid, "input": {"pad": PAD}}
    st, _, doc = request(port, "POST", "/api/pipeline/track", {"event": ev})
    return st, doc


def test_readyz_full_disk():
    if os.environ.get("PT_TEST_DB_URL"):
        raise Skip("the store is PostgreSQL's: its disk is not ours to fill")
    if os.geteuid() != 0:
        raise Skip("mounting a tmpfs needs root")
    mnt = os.path.join(WORK, "mnt")
    os.makedirs(mnt, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise Skip("cannot mount a tmpfs here: %s" % r.stderr.strip())
    try:
        db = os.path.join(mnt, "full.db")
        log = open(os.path.join(WORK, "full_disk.log"), "w")
        p, port = launch(PTD, ["--db", "sqlite:" + db, "--quiet"], log)
        try:
            acked = set()
            st, _ = track(port, "a0")
            eq(st, 201, "a track with room")
            acked.add("a0")
            eq(request(port, "GET", "/readyz")[0], 200, "/readyz with room")
            filler = os.path.join(mnt, "filler")
            with open(filler, "wb") as f:
                try:
                    while True:
                        f.write(b"\0" * 65536)
                        f.flush()
                except OSError:
                    pass  # the disk is full
            codes = []
            for i in range(20):
                st, doc = track(port, "b%d" % i)
                codes.append(st)
                if st == 201:
                    acked.add("b%d" % i)
                if st == 503:
                    break
            eq(codes[-1], 503, "a track on a full disk (answers %s)" % codes)
            eq(doc["error"]["code"], "storage_unavailable", "the track's error")
            st, _, doc = request(port, "GET", "/readyz")
            eq(st, 503, "/readyz while writes fail for lack of space")
            eq(doc["error"]["code"], "storage_unavailable", "/readyz's error code")
            check("lack of space" in doc["error"]["message"],
                  "/readyz names the reason: %r" % doc["error"]["message"])
            print("  /readyz on a full disk: %s" % doc["error"]["message"], flush=True)
            os.unlink(filler)
            t0 = time.time()
            while request(port, "GET", "/readyz")[0] != 200:
                check(time.time() - t0 < 5, "/readyz ready again within 5 s of room")
                time.sleep(0.1)
            print("  ready again %.1f s after room was made, no write in between"
                  % (time.time() - t0), flush=True)
            st, _ = track(port, "c0")
            eq(st, 201, "a track once there is room")
            acked.add("c0")
        finally:
            eq(stop(p, log), 0, "pipetrackd's exit status")
        out = subprocess.run([CLI, "--db", "sqlite:" + db, "verify", "--all"],
                             capture_output=True, text=True)
        eq(out.returncode, 0, "verify --all (%s)" % (out.stdout + out.stderr).strip()[-300:])
        out = subprocess.run([CLI, "--db", "sqlite:" + db, "export"], capture_output=True,
                             text=True)
        eq(out.returncode, 0, "export")
        for eid in acked:
            check('"id":"%s"' % eid in out.stdout, "acknowledged event %s is stored" % eid)
    finally:
        subprocess.run(["umount", mnt])
        shutil.rmtree(mnt, ignore_errors=True)


if __name__ == "__main__":
    os.makedirs(WORK, exist_ok=True)
    run_tests([test_readyz_full_disk], sys.argv[4:])
