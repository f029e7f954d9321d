#!/usr/bin/env python3
"""numbers_campaign.py - many random doubles (random 64-bit patterns, the
non-finite skipped by both sides) spelled by pipetrack's canonicaliser and by
the independent oracles of tests/integration/numoracle.py (Python's repr;
Node's String(x) when node is present), in chunks of 1,000,000. Prints the
differences (none expected) and the count; exit 1 on any difference.

Usage: numbers_campaign.py PTNUM [COUNT] [SEED]
"""
import os
import random
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "integration"))
import numoracle as o  # noqa: E402

ptnum = sys.argv[1]
count = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000_000
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
rng = random.Random(seed)
chunk = 1_000_000
done = dpy_n = dnode_n = disagree_n = 0
node_used = o.node_path() is not None
t0 = time.time()
while done < count:
    n = min(chunk, count - done)
    hexes = ["%016x" % rng.getrandbits(64) for _ in range(n)]
    dpy, dnode, oracles = o.compare(ptnum, hexes, use_node=node_used)
    for h, mine, want in dpy[:5]:
        print("differs from Python: bits %s: ours %s, oracle %s" % (h, mine, want))
    for h, mine, want in (dnode or [])[:5]:
        print("differs from Node: bits %s: ours %s, oracle %s" % (h, mine, want))
    dpy_n += len(dpy)
    dnode_n += len(dnode or [])
    disagree_n += len(oracles)
    done += n
    print("  %d / %d checked, %.0f s" % (done, count, time.time() - t0), file=sys.stderr)
print("numbers campaign: %d random doubles (seed %d): %d differ from Python's repr, %s; "
      "%.0f s" % (done, seed, dpy_n,
                  ("%d from Node's String(x) (oracles disagree on %d)" % (dnode_n, disagree_n))
                  if node_used else "Node.js absent: its check skipped", time.time() - t0))
sys.exit(1 if dpy_n or dnode_n else 0)
