#!/usr/bin/env python3
"""test_layering.py - the tree's layers hold: the programs (src/cli,
src/server) include no header of the library's insides (core/, lib/, store/,
api/), and the server's modules include each other one way only (no cycle:
a module is a .c and its .h; its includes are its files' #include "...").

Usage: test_layering.py SOURCE_DIR
"""
import os
import re
import sys

root = sys.argv[1]
fails = []
inc = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)

for prog in ("cli", "server"):
    d = os.path.join(root, "src", prog)
    for f in sorted(os.listdir(d)):
        if not f.endswith((".c", ".h")):
            continue
        for h in inc.findall(open(os.path.join(d, f)).read()):
            if "/" in h:
                fails.append("src/%s/%s includes \"%s\": programs use pipetrack.h and their own "
                             "headers only" % (prog, f, h))

# the server's module graph
d = os.path.join(root, "src", "server")
graph = {}
for f in os.listdir(d):
    if not f.endswith((".c", ".h")):
        continue
    mod = f.rsplit(".", 1)[0]
    deps = graph.setdefault(mod, set())
    for h in inc.findall(open(os.path.join(d, f)).read()):
        dep = h.rsplit(".", 1)[0]
        if dep != mod and os.path.exists(os.path.join(d, h)):
            deps.add(dep)

state = {}


def visit(m, path):
    if state.get(m) == 1:
        cyc = path[path.index(m):] + [m]
        fails.append("the server's modules include in a circle: " + " -> ".join(cyc))
        return
    if state.get(m) == 2:
        return
    state[m] = 1
    for n in sorted(graph.get(m, ())):
        visit(n, path + [m])
    state[m] = 2


for m in sorted(graph):
    visit(m, [])
edges = sum(len(v) for v in graph.values())
if len(graph) < 10 or edges < 10:
    fails.append("only %d modules and %d includes found under %s" % (len(graph), edges, d))
for f in fails:
    print(f)
print("%d server modules, %d includes, %s" % (len(graph), edges, "no circle" if not fails else
                                               "%d problems" % len(fails)))
sys.exit(1 if fails else 0)
