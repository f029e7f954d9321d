#!/usr/bin/env bash
# deb.sh - builds the Debian packages in BUILD_DIR, a tree of its own
# configured for /usr (the paths in the unit, the .pc file and the scripts
# are set at configure time): pipetrack_<version>_<arch>.deb (server, tool,
# shared library, service) and libpipetrack-dev_<version>_<arch>.deb
# (header, static library, pkg-config file). Prints the two paths.
#
# Usage: scripts/deb.sh BUILD_DIR [JOBS]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: deb.sh BUILD_DIR [JOBS]}
jobs=${2:-$(nproc)}
for tool in cmake cpack dpkg-deb dpkg-shlibdeps; do
  command -v "$tool" >/dev/null || { echo "deb.sh: $tool is missing (apt-get install cmake dpkg-dev)" >&2; exit 1; }
done
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
  -DPT_BUILD_TESTS=OFF -DPT_BUILD_BENCH=OFF -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON -DPT_DEBIAN=ON >/dev/null
cmake --build "$build" -j "$jobs" --target pipetrack pipetrack_shared pipetrackd pipetrack_cli \
  pipetrack_man pipetrack_debian_docs >/dev/null
rm -f "$build"/*.deb
(cd "$build" && cpack -G DEB >cpack.log 2>&1) || { cat "$build/cpack.log" >&2; exit 1; }
ls "$build"/*.deb
