"""numoracle.py - independent oracles for the ECMAScript spelling of a double
(Number::toString, which RFC 8785 uses for numbers), to check the C
canonicaliser against:

- python: Python's repr(float), the shortest string that reads back as the
  same double (David Gay's algorithm in CPython), re-spelled the way
  ECMAScript places the point and the exponent;
- node: String(x) in Node.js itself, when a `node` is on the PATH.

Doubles travel as 16 hex digits of their IEEE-754 bits.
"""
import math
import os
import shutil
import struct
import subprocess


def bits_to_float(h):
    return struct.unpack(">d", bytes.fromhex(h))[0]


def float_to_bits(x):
    return struct.pack(">d", x).hex()


def es_spell(digits, n, neg):
    """ECMA-262 Number::toString from digits d1..dk and n (value 0.d * 10^n)."""
    k = len(digits)
    s = "-" if neg else ""
    if k <= n <= 21:
        return s + digits + "0" * (n - k)
    if 0 < n <= 21:
        return s + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return s + "0." + "0" * (-n) + digits
    e = n - 1
    m = digits[0] + ("." + digits[1:] if k > 1 else "")
    return s + m + "e" + ("+" if e >= 0 else "-") + str(abs(e))


def python_es(x):
    if not math.isfinite(x):
        return "nonfinite"
    if x == 0:
        return "0"
    r = repr(abs(x))  # e.g. '5.966672584960166e-154', '1e+22', '0.0001', '123.0'
    mant, _, exp = r.partition("e")
    exp = int(exp) if exp else 0
    whole, _, frac = mant.partition(".")
    digits = (whole + frac).lstrip("0")
    lead = len(whole + frac) - len((whole + frac).lstrip("0"))
    n = len(whole) + exp - lead
    digits = digits.rstrip("0") or "0"
    return es_spell(digits, n, x < 0)


NODE_SCRIPT = r"""
const rl = require('readline').createInterface({input: process.stdin});
const out = [];
const b = Buffer.alloc(8);
rl.on('line', (h) => {
  b.write(h.trim(), 'hex');
  const x = b.readDoubleBE(0);
  out.push(Number.isFinite(x) ? String(x) : 'nonfinite');
  if (out.length >= 65536) { process.stdout.write(out.join('\n') + '\n'); out.length = 0; }
});
rl.on('close', () => { if (out.length) process.stdout.write(out.join('\n') + '\n'); });
"""


def node_path():
    return shutil.which("node")


def node_es(hexes):
    """String(x) in Node for each hex pattern; None without node."""
    node = node_path()
    if not node:
        return None
    p = subprocess.run([node, "-e", NODE_SCRIPT], input="\n".join(hexes) + "\n",
                       capture_output=True, text=True, check=True)
    lines = p.stdout.split("\n")[: len(hexes)]
    assert len(lines) == len(hexes), "node answered %d of %d" % (len(lines), len(hexes))
    return lines


def ours(ptnum, hexes):
    p = subprocess.run([ptnum], input="\n".join(hexes) + "\n", capture_output=True, text=True,
                       check=True)
    lines = p.stdout.split("\n")[: len(hexes)]
    assert len(lines) == len(hexes), "ptnum answered %d of %d" % (len(lines), len(hexes))
    return lines


def powers_of_two_and_neighbours():
    """Every power of two a double holds, 2^-1074 .. 2^1023, and the doubles
    either side of it (positive, finite, non-zero): 6,293 patterns
    (2,098 powers; 2^-1074 has no positive neighbour below)."""
    out = []
    for e in range(-1074, 1024):
        u = int(float_to_bits(math.ldexp(1.0, e)), 16)
        for d in (-1, 0, 1):
            v = u + d
            if v <= 0 or v >= 0x7FF0000000000000:
                continue
            out.append("%016x" % v)
    return out


def edges():
    """The named edges: subnormal range, MIN_VALUE, MAX_VALUE, the 1e21 and
    1e-7 thresholds where the spelling changes form, 2^53, each with the
    doubles a few steps either side, and the negatives of all."""
    named = [1e21, 1e-7, 1e-6, 2.0 ** 53, 5e-324, 1.7976931348623157e308,
             2.2250738585072014e-308, 2.225073858507201e-308, 1e22, 1e23, 0.1, 1.0]
    pats = set()
    for x in named:
        u = int(float_to_bits(x), 16)
        for d in range(-3, 4):
            v = u + d
            if 0 < v < 0x7FF0000000000000:
                pats.add(v)
    for v in (0x0000000000000001, 0x0000000000000002, 0x000FFFFFFFFFFFFF, 0x000FFFFFFFFFFFFE,
              0x0010000000000000, 0x0010000000000001, 0x7FEFFFFFFFFFFFFF, 0x7FEFFFFFFFFFFFFE,
              0x0008000000000000):
        pats.add(v)
    out = sorted(pats)
    return ["%016x" % v for v in out] + ["%016x" % (v | (1 << 63)) for v in out]


def compare(ptnum, hexes, use_node=True):
    """Returns (differences against python, differences against node or
    None, node/python disagreements); each a list of (hex, ours, oracle)."""
    mine = ours(ptnum, hexes)
    py = [python_es(bits_to_float(h)) for h in hexes]
    dpy = [(h, a, b) for h, a, b in zip(hexes, mine, py) if a != b]
    nd = node_es(hexes) if use_node else None
    dnode = None
    oracles = []
    if nd is not None:
        dnode = [(h, a, b) for h, a, b in zip(hexes, mine, nd) if a != b]
        oracles = [(h, a, b) for h, a, b in zip(hexes, py, nd) if a != b]
    return dpy, dnode, oracles
