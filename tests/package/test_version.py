#!/usr/bin/env python3
"""test_version.py - one version, everywhere: project(VERSION) in
CMakeLists.txt is the source; PT_VERSION in pipetrack.h (checked at
configure time too), pt_version() of the shared library, `pipetrackd
--version`, `pipetrack --version`, the .so's file name and soname,
pipetrack.pc, the packages CPack makes, the man pages' headers and the
newest release in CHANGELOG.md must all say it. (test_deb checks the built
.deb and the installed programs too.)

Usage: test_version.py VERSION VERSION_PRINT PIPETRACKD PIPETRACK LIB.so PC CPACKCONFIG SOURCE_DIR
"""
import os
import re
import subprocess
import sys

version, vprint, daemon, tool, so, pc, cpack, src = sys.argv[1:9]
fails = []


def check(what, got, want=version):
    if got != want:
        fails.append("%s: %r, want %r" % (what, got, want))
    else:
        print("ok  %-40s %s" % (what, got))


def run(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


if not re.fullmatch(r"\d+\.\d+\.\d+", version):
    fails.append("project version %r is not MAJOR.MINOR.PATCH" % version)
major = version.split(".")[0]

header = open(os.path.join(src, "include", "pipetrack.h")).read()
m = re.search(r'^#define PT_VERSION "([^"]*)"', header, re.M)
check("pipetrack.h PT_VERSION", m and m.group(1))

lib, hdr = run(vprint).split()
check("pt_version() (libpipetrack.so)", lib)
check("PT_VERSION compiled in", hdr)
check("pipetrackd --version", run(daemon, "--version"), "pipetrackd " + version)
check("pipetrack --version", run(tool, "--version"), "pipetrack " + version)

check("shared library file", os.path.basename(so), "libpipetrack.so." + version)
dyn = run("readelf", "-d", so)
m = re.search(r"Library soname: \[([^]]*)\]", dyn)
check("soname", m and m.group(1), "libpipetrack.so." + major)

m = re.search(r"^Version: (.*)$", open(pc).read(), re.M)
check("pipetrack.pc Version", m and m.group(1))

m = re.search(r'^set\(CPACK_PACKAGE_VERSION "([^"]*)"\)', open(cpack).read(), re.M)
check("CPack package version", m and m.group(1))

for page in ("pipetrack.1", "pipetrackd.8"):
    th = open(os.path.join(src, "docs", page)).readline()
    m = re.match(r'\.TH \S+ \S+ "[^"]*" "pipetrack ([^"]*)"', th)
    check("docs/%s .TH" % page, m and m.group(1))

log = open(os.path.join(src, "CHANGELOG.md")).read()
releases = re.findall(r"^## \[([^]]+)\]", log, re.M)
released = [r for r in releases if r != "Unreleased"]
check("CHANGELOG.md newest release", released[0] if released else None)

for f in fails:
    print("FAIL:", f)
sys.exit(1 if fails else 0)
