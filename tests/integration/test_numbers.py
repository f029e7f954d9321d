#!/usr/bin/env python3
"""test_numbers.py - the canonicaliser's number spelling (RFC 8785, i.e.
ECMAScript Number::toString) against independent oracles computed now:
Python's repr and, where Node.js is on the PATH, Node's String(x). No table
written by hand: every expected text comes from an oracle at test time.

Sets: every power of two a double holds and both its neighbours; the
subnormal edges, MIN_VALUE, MAX_VALUE, the 1e21 and 1e-7 thresholds (and
negatives); 200,000 random bit patterns; 100,000 short decimals. Also checks
that src/core/pow5_table.h is what scripts/gen_pow5.py makes.

Usage: test_numbers.py PTNUM SOURCE_DIR
"""
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numoracle as o  # noqa: E402

PTNUM, SRC = sys.argv[1], sys.argv[2]
failures = []


def check(name, hexes, expect_count=None):
    if expect_count is not None and len(hexes) != expect_count:
        failures.append("%s: %d patterns, expected %d" % (name, len(hexes), expect_count))
    dpy, dnode, oracles = o.compare(PTNUM, hexes)
    line = "%s: %d numbers, %d differ from Python's repr" % (name, len(hexes), len(dpy))
    if dnode is None:
        line += "; Node.js absent: its check skipped"
    else:
        line += ", %d from Node's String(x)" % len(dnode)
    print(line)
    for h, mine, want in dpy[:10]:
        failures.append("%s: bits %s: ours %s, Python %s" % (name, h, mine, want))
    for h, mine, want in (dnode or [])[:10]:
        failures.append("%s: bits %s: ours %s, Node %s" % (name, h, mine, want))
    for h, py, nd in oracles[:10]:
        failures.append("%s: the oracles disagree on %s: Python %s, Node %s" % (name, h, py, nd))


def short_decimals(rng, n):
    out = []
    for _ in range(n):
        v = rng.randrange(1, 10 ** rng.randrange(1, 16)) / 10 ** rng.randrange(0, 25)
        if rng.random() < 0.5:
            v = -v
        out.append(o.float_to_bits(v))
    return out


def main():
    gen = subprocess.run([sys.executable, os.path.join(SRC, "scripts", "gen_pow5.py"), "--check",
                          os.path.join(SRC, "src", "core", "pow5_table.h")])
    if gen.returncode != 0:
        failures.append("src/core/pow5_table.h is not what scripts/gen_pow5.py makes")

    p2 = o.powers_of_two_and_neighbours()
    check("powers of two and neighbours", p2, 6293)
    check("edges", o.edges())
    rng = random.Random(20261129)
    check("random bit patterns", ["%016x" % rng.getrandbits(64) for _ in range(200000)])
    check("short decimals", short_decimals(rng, 100000))

    # The oracle itself must fail on a wrong spelling: a 17-digit text where
    # 16 suffice (the old bug at 2^-509) is not what it answers.
    if o.python_es(2.0 ** -509) != "5.966672584960166e-154":
        failures.append("oracle self-check: %s" % o.python_es(2.0 ** -509))
    if o.python_es(1e21) != "1e+21" or o.python_es(1e-7) != "1e-7" or \
            o.python_es(123e-9) != "1.23e-7" or o.python_es(1e20) != "100000000000000000000":
        failures.append("oracle self-check: thresholds")

    if failures:
        print("FAILED:")
        for f in failures:
            print("  " + f)
        return 1
    print("all numbers agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
