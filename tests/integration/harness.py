"""harness.py - what the integration tests share: assertions that name what
they check, and a pipetrackd started on a free loopback port (--listen
127.0.0.1:0, the URL read from its first stdout line) and stopped by its PID.
Python's standard library only."""
import re
import signal
import subprocess


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def eq(got, want, what):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


def launch(ptd, args, log, env=None):
    """Starts ptd with args (after --listen 127.0.0.1:0), stderr to log;
    returns (process, port) once it listens."""
    p = subprocess.Popen([ptd, "--listen", "127.0.0.1:0"] + list(args), stdout=subprocess.PIPE,
                         stderr=log, stdin=subprocess.DEVNULL, env=env)
    line = p.stdout.readline().decode()
    m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if not m:
        raise RuntimeError("pipetrackd did not start: %r" % line)
    return p, int(m.group(1))


def stop(p, log, sig=signal.SIGTERM):
    """Signals the server (SIGTERM: drain and exit 0) and waits; its exit status."""
    p.send_signal(sig)
    rc = p.wait(timeout=60)
    p.stdout.close()
    log.close()
    return rc


def run_tests(tests, only):
    """Runs each test (all, or those named in only), reporting every one;
    exits 1 when any failed."""
    import sys
    import time
    import traceback
    failures = []
    for t in tests:
        if only and t.__name__ not in only:
            continue
        t0 = time.time()
        try:
            t()
            print("ok   %s (%.1f s)" % (t.__name__, time.time() - t0), flush=True)
        except Exception as e:  # report every test, then fail
            traceback.print_exc()
            print("FAIL %s: %s" % (t.__name__, e), flush=True)
            failures.append(t.__name__)
    print("%d failed" % len(failures) if failures else "all passed")
    sys.exit(1 if failures else 0)
