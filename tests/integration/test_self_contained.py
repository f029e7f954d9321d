#!/usr/bin/env python3
"""test_self_contained.py - the repository stands alone: no tracked file
names the folder beside it that only its developers have (the product
contract, its vectors and the seed design live there). A user gets the
repository and nothing beside it, so a build, test, benchmark or document
that points there is broken for them.

Usage: test_self_contained.py SOURCE_DIR
"""
import os
import subprocess
import sys

root = sys.argv[1]
needle = ".." + "/shared"  # spelled apart so this file does not hold it
try:
    files = subprocess.run(["git", "-C", root, "ls-files", "-z"], capture_output=True,
                           check=True).stdout.decode().split("\0")
    files = [f for f in files if f]
except (OSError, subprocess.CalledProcessError):
    files = []
    for d, dirs, names in os.walk(root):
        dirs[:] = [x for x in dirs if not x.startswith((".git", "build"))]
        files += [os.path.relpath(os.path.join(d, n), root) for n in names]
if len(files) < 50:
    print("only %d files found under %s: not the repository?" % (len(files), root))
    sys.exit(1)
bad = []
for f in files:
    try:
        with open(os.path.join(root, f), "rb") as fh:
            data = fh.read()
    except OSError:
        continue
    for n, line in enumerate(data.split(b"\n"), 1):
        if needle.encode() in line:
            bad.append("%s:%d: %s" % (f, n, line.decode(errors="replace").strip()[:120]))
for b in bad:
    print(b)
print("%d files read, %d lines name %s" % (len(files), len(bad), needle))
sys.exit(1 if bad else 0)
