#!/usr/bin/env bash
# test_install.sh - `make install DESTDIR=...` (cmake --install with DESTDIR,
# which make install runs) lays out exactly the expected files under the
# configured prefix; the unit, the options file and the man pages are sound;
# pipetrack.pc, found through PKG_CONFIG_PATH and PKG_CONFIG_SYSROOT_DIR in
# DESTDIR, compiles and links examples/checkout.c against the shared library
# and against the static one, and both run. Any user.
#
# Usage: test_install.sh BUILD_DIR SOURCE_DIR WORK_DIR VERSION SANITIZE CC
#          PREFIX BINDIR LIBDIR INCLUDEDIR MANDIR SYSCONFDIR DOCDIR UNITDIR
# (the directories are the full ones CMake configured: CMAKE_INSTALL_FULL_*)
set -euo pipefail
build=$1 src=$2 work=$3 version=$4 sanitize=$5 cc=$6
prefix=$7 bindir=$8 libdir=$9 incdir=${10} mandir=${11} etcdir=${12} docdir=${13} unitdir=${14}
major=${version%%.*}
. "$(dirname "$0")/checkout_check.sh"

fail() { echo "FAIL: $*" >&2; exit 1; }
rm -rf "$work"
mkdir -p "$work"
D=$work/destdir

DESTDIR=$D cmake --install "$build" >"$work/install.log" 2>&1 \
  || { cat "$work/install.log" >&2; fail "cmake --install $build"; }

# exactly these, nothing more
expected=$(sort <<LIST
f $bindir/pipetrackd
f $bindir/pipetrack
f $libdir/libpipetrack.so.$version
l $libdir/libpipetrack.so.$major -> libpipetrack.so.$version
l $libdir/libpipetrack.so -> libpipetrack.so.$major
f $libdir/libpipetrack.a
f $libdir/pkgconfig/pipetrack.pc
f $incdir/pipetrack.h
f $mandir/man1/pipetrack.1.gz
f $mandir/man8/pipetrackd.8.gz
f $unitdir/pipetrackd.service
f $etcdir/default/pipetrack
f $docdir/README.md
f $docdir/CHANGELOG.md
f $docdir/LICENSE
LIST
)
actual=$(cd "$D" && find . ! -type d -printf '%y /%P -> %l\n' | sed 's/ -> $//; s|^\([fl]\) //|\1 /|' | sort)
if [ "$expected" != "$actual" ]; then
  diff <(echo "$expected") <(echo "$actual") >&2 || true
  fail "DESTDIR holds other files than expected (< expected, > installed)"
fi
echo "ok  $(echo "$actual" | wc -l) files laid out under DESTDIR$prefix"
[ -x "$D$bindir/pipetrackd" ] && [ -x "$D$bindir/pipetrack" ] || fail "the programs are not executable"
"$D$bindir/pipetrackd" --version | grep -x "pipetrackd $version" >/dev/null || fail "installed pipetrackd --version"
"$D$bindir/pipetrack" --version | grep -x "pipetrack $version" >/dev/null || fail "installed pipetrack --version"
readelf -d "$D$libdir/libpipetrack.so.$version" | grep "Library soname: \[libpipetrack.so.$major\]" >/dev/null \
  || fail "soname is not libpipetrack.so.$major"

# the unit runs the installed program with the installed options file
unit=$D$unitdir/pipetrackd.service
grep -qx "ExecStart=$bindir/pipetrackd" "$unit" || fail "the unit's ExecStart is not $bindir/pipetrackd"
grep -qx "EnvironmentFile=-$etcdir/default/pipetrack" "$unit" || fail "the unit's EnvironmentFile"
for want in User=pipetrack StateDirectory=pipetrack ProtectSystem=strict ProtectHome=yes \
    NoNewPrivileges=yes PrivateTmp=yes SystemCallFilter=@system-service; do
  grep -qx "$want" "$unit" || fail "the unit lacks $want"
done
if command -v systemd-analyze >/dev/null; then
  # verify wants ExecStart's file to exist: point it into DESTDIR
  sed "s|^ExecStart=$bindir/|ExecStart=$D$bindir/|" "$unit" >"$work/pipetrackd.service"
  systemd-analyze verify --man=no "$work/pipetrackd.service" || fail "systemd-analyze verify"
  echo "ok  systemd-analyze verify pipetrackd.service"
else
  echo "--  no systemd-analyze: the unit's syntax is not checked"
fi

# the options file: comments only (the defaults hold), and every variable
# it shows is one of pipetrackd's options
env=$D$etcdir/default/pipetrack
if grep -v '^#' "$env" | grep '[^[:space:]]' >/dev/null; then fail "$etcdir/default/pipetrack sets something"; fi
opts=$("$D$bindir/pipetrackd" --help | sed -n 's/^  --\([a-z][a-z-]*\).*/\1/p' | tr 'a-z-' 'A-Z_')
n=0
for var in $(sed -n 's/^#\(PIPETRACK_[A-Z_]*\)=.*/\1/p' "$env"); do
  echo "$opts" | grep -x "${var#PIPETRACK_}" >/dev/null || fail "$etcdir/default/pipetrack shows $var, which is no option"
  n=$((n + 1))
done
[ "$n" -ge 10 ] || fail "$etcdir/default/pipetrack shows only $n options"
echo "ok  the options file shows $n of pipetrackd's options, all commented"

for page in man1/pipetrack.1 man8/pipetrackd.8; do
  gzip -dc "$D$mandir/$page.gz" | sed -n 1p | grep "^\.TH .*\"pipetrack $version\"" >/dev/null \
    || fail "$page.gz is not the man page of $version"
done

# pkg-config in DESTDIR
export PKG_CONFIG_PATH=$D$libdir/pkgconfig PKG_CONFIG_SYSROOT_DIR=$D
[ "$(pkg-config --modversion pipetrack)" = "$version" ] || fail "pkg-config --modversion pipetrack"
cflags=$(pkg-config --cflags pipetrack)
libs=$(pkg-config --libs pipetrack)
static_libs=$(pkg-config --static --libs pipetrack)
# libpipetrack.a, with the libraries it needs (Requires.private, Libs.private)
# linked shared: Debian's libpq.pc cannot link statically (its --static names
# libpgcommon and libpgport, which libpq-dev does not ship)
archive_libs="$(pkg-config --libs pipetrack | sed 's/-lpipetrack/-l:libpipetrack.a/') $(pkg-config --libs $(pkg-config --print-requires-private pipetrack)) -pthread -lm"
echo "ok  pkg-config --cflags --libs pipetrack: $cflags $libs"
echo "    --static --libs: $static_libs"
for l in -lcrypto -lsqlite3 -ljansson -lpq -pthread -lm; do
  case " $static_libs " in *" $l "*) ;; *) fail "--static --libs lacks $l" ;; esac
done
san=""
if [ "$sanitize" = 1 ]; then san="-fsanitize=address,undefined"; fi

# shared
# shellcheck disable=SC2086
"$cc" $san -std=c11 -Wall -Wextra -Werror -o "$work/checkout" "$src/examples/checkout.c" $cflags $libs
readelf -d "$work/checkout" | grep "NEEDED.*\[libpipetrack.so.$major\]" >/dev/null || fail "checkout does not need libpipetrack.so.$major"
LD_LIBRARY_PATH=$D$libdir ldd "$work/checkout" | grep "libpipetrack.so.$major => $D$libdir/" >/dev/null \
  || fail "checkout does not load DESTDIR's library"
LD_LIBRARY_PATH=$D$libdir "$work/checkout" >"$work/checkout.out"
check_checkout "$work/checkout.out"
echo "ok  examples/checkout.c against DESTDIR's libpipetrack.so.$major: tracked, completed, verified"

# static: libpipetrack.a and the private libraries the .pc names
# shellcheck disable=SC2086
"$cc" $san -std=c11 -Wall -Wextra -Werror -o "$work/checkout_static" "$src/examples/checkout.c" $cflags \
  $archive_libs
if readelf -d "$work/checkout_static" | grep 'NEEDED.*libpipetrack' >/dev/null; then fail "checkout_static needs libpipetrack.so"; fi
"$work/checkout_static" >"$work/checkout_static.out"
check_checkout "$work/checkout_static.out"
echo "ok  examples/checkout.c against DESTDIR's libpipetrack.a: tracked, completed, verified"
rm -rf "$work"
