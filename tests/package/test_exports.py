#!/usr/bin/env python3
"""test_exports.py - libpipetrack.so exports the public API and nothing else:
the functions include/pipetrack.h declares, each of them, and no other symbol
(the library is built with -fvisibility=hidden; pipetrack.h marks its
declarations visible). The static library still holds the internal
functions (pt__*) the programs and tests link.

Usage: test_exports.py CC HEADER LIBPIPETRACK.so LIBPIPETRACK.a
"""
import re
import subprocess
import sys

cc, header, so, archive = sys.argv[1:5]
fails = []


def declared_functions(text):
    """Names of the functions declared at file scope in preprocessed C."""
    text = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#"))
    names, depth, stmt = set(), 0, []
    for ch in text:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == ";" and depth == 0:
            s = re.sub(r"\s+", " ", "".join(stmt)).strip()
            stmt = []
            # typedefs (function pointer types among them) and type
            # definitions declare no function
            if not s or s.startswith("typedef") or "{" in s:
                continue
            m = re.match(r"[^()]*?\b([A-Za-z_]\w*)\s*\(", s)
            if m:
                names.add(m.group(1))
        else:
            stmt.append(ch)
    return names


pre = subprocess.run([cc, "-E", "-P", "-x", "c", header], check=True, capture_output=True,
                     text=True).stdout
api = declared_functions(pre)
if len(api) < 50:
    fails.append("only %d functions found in %s: the parser is broken" % (len(api), header))

dyn = subprocess.run(["nm", "-D", "--defined-only", so], check=True, capture_output=True,
                     text=True).stdout
exported = {}
for line in dyn.splitlines():
    parts = line.split()
    exported[parts[-1]] = parts[-2]

for name in sorted(set(exported) - api):
    fails.append("%s exports %s (%s), which pipetrack.h does not declare" % (so, name, exported[name]))
for name in sorted(api - set(exported)):
    fails.append("pipetrack.h declares %s, which %s does not export" % (name, so))
for name, kind in sorted(exported.items()):
    if name in api and kind not in ("T", "i"):
        fails.append("%s is exported as %s, not as a function (T)" % (name, kind))

# the hiding hides something: the archive defines internal functions
ar = subprocess.run(["nm", "--defined-only", archive], check=True, capture_output=True,
                    text=True).stdout
internal = {l.split()[-1] for l in ar.splitlines() if re.search(r" [TD] pt__\w+$", l)}
if not internal:
    fails.append("%s defines no internal pt__ function: is this the right archive?" % archive)
leaked = internal & set(exported)
if leaked:
    fails.append("internal functions exported: %s" % ", ".join(sorted(leaked)))

for f in fails:
    print("FAIL:", f)
print("%d functions declared in pipetrack.h, %d symbols exported by %s, %d internal "
      "functions hidden" % (len(api), len(exported), so.rsplit("/", 1)[-1], len(internal)))
sys.exit(1 if fails else 0)
