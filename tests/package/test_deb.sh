#!/usr/bin/env bash
# test_deb.sh - the Debian packages, installed into this machine and purged:
# builds them (scripts/deb.sh, what make deb runs) in a tree of its own,
# checks their names, versions, dependencies and conffiles, installs them
# with dpkg -i (their Depends must already be satisfied: no apt-get), compiles
# examples/checkout.c against the installed library with pkg-config (shared
# and static) and runs it, starts the installed /usr/bin/pipetrackd as the
# pipetrack user on a temporary database on a free loopback port, tracks an
# event over HTTP and reads it back (curl, and the installed pipetrack tool),
# stops it by its PID, then purges both packages and checks that nothing is
# left: every path the packages and their scripts made, the user, the data,
# /etc/default/pipetrack, the service's enablement.
#
# Skipped (77) where it cannot or must not run: not root, no dpkg, or a
# pipetrack already installed (or a user named pipetrack) that is not ours.
#
# Usage: test_deb.sh SOURCE_DIR WORK_DIR VERSION
set -euo pipefail
src=$1 work=$2 version=$3
. "$(dirname "$0")/checkout_check.sh"

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "not root: installing a package needs root (run make test as root)"
for tool in dpkg dpkg-deb dpkg-query dpkg-shlibdeps cpack curl pkg-config flock setpriv; do
  command -v "$tool" >/dev/null || skip "$tool is missing"
done
# one at a time on this machine, whichever tree runs it (the checks below
# and the purge at the end must not meet another run's install)
# (the path is chosen first: `exec 9>X 2>/dev/null` would silence this
# shell's stderr for good, and with it every FAIL below)
lock=/run/lock/pipetrack-test-deb.lock
[ -d /run/lock ] && [ -w /run/lock ] || lock=/tmp/pipetrack-test-deb.lock
exec 9>"$lock"
flock -w 240 9 || skip "another test_deb has held $lock for 4 minutes"
for p in pipetrack libpipetrack-dev; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -v 'not-installed' >/dev/null; then
    skip "the package $p is on this machine already (dpkg -s $p): not touching it"
  fi
done
if getent passwd pipetrack >/dev/null || getent group pipetrack >/dev/null; then
  skip "a user or group pipetrack exists already: purging would remove it"
fi
[ ! -e /var/lib/pipetrack ] || skip "/var/lib/pipetrack exists already: purging would remove it"

fail() { echo "FAIL: $*" >&2; exit 1; }
arch=$(dpkg --print-architecture)
rm -rf "$work"
mkdir -p "$work"
pid=""
installed=0
db=""
cleanup() {
  local rc=$?
  if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
  if [ -n "$db" ]; then rm -rf "$db"; fi
  if [ "$installed" = 1 ]; then
    echo "cleanup: purging the packages" >&2
    dpkg --purge libpipetrack-dev pipetrack >/dev/null 2>&1 || true
  fi
  exit $rc
}
trap cleanup EXIT

# what the machine holds that is named like us, before
snapshot() {
  find /etc /usr /var /opt -xdev \( -path /var/tmp -o -path /var/cache/apt -o -path /var/log \) -prune \
    -o -name '*pipetrack*' -print 2>/dev/null | sort
}
snapshot >"$work/before.list"

# ---- build ----------------------------------------------------------------
t0=$(date +%s)
"$src/scripts/deb.sh" "$work/build" 2 >"$work/debs.list"
deb=$work/build/pipetrack_${version}_${arch}.deb
dev=$work/build/libpipetrack-dev_${version}_${arch}.deb
[ -f "$deb" ] || fail "no $(basename "$deb"); built: $(cat "$work/debs.list")"
[ -f "$dev" ] || fail "no $(basename "$dev")"
echo "ok  built $(basename "$deb") ($(stat -c %s "$deb") bytes) and $(basename "$dev") ($(stat -c %s "$dev") bytes) in $(($(date +%s) - t0)) s"

for d in "$deb" "$dev"; do
  [ "$(dpkg-deb -f "$d" Version)" = "$version" ] || fail "$(basename "$d"): Version is not $version"
  [ "$(dpkg-deb -f "$d" Architecture)" = "$arch" ] || fail "$(basename "$d"): Architecture"
done
depends=$(dpkg-deb -f "$deb" Depends)
echo "    pipetrack Depends: $depends"
for lib in adduser libc6 libssl3 libsqlite3-0 libjansson4 libpq5 libmicrohttpd12 libcurl4; do
  echo ", $depends," | grep ", $lib[ ,]" >/dev/null || fail "pipetrack does not depend on $lib"
done
dpkg-deb -f "$dev" Depends | grep -F "pipetrack (= $version)" >/dev/null || fail "libpipetrack-dev does not depend on pipetrack (= $version)"
dpkg-deb -I "$deb" conffiles | grep -x /etc/default/pipetrack >/dev/null || fail "/etc/default/pipetrack is no conffile"
dpkg-deb -I "$deb" shlibs | grep -x "libpipetrack 0 pipetrack (>= $version)" >/dev/null || fail "shlibs"
for p in pipetrack libpipetrack-dev; do
  d=$work/build/${p}_${version}_${arch}.deb
  dpkg-deb -c "$d" >"$work/contents.list" # (not piped into grep -q: pipefail and SIGPIPE)
  grep -q " \./usr/share/doc/$p/copyright$" "$work/contents.list" || fail "$p has no copyright file"
  grep -q " \./usr/share/doc/$p/changelog.gz$" "$work/contents.list" || fail "$p has no changelog.gz"
done
# Debian's package checker: no error (its one warning, the library in the
# server's package rather than a libpipetrack0 of its own, is a decision:
# docs/decisions.md)
if command -v lintian >/dev/null; then
  lintian "$deb" "$dev" >"$work/lintian.log" 2>&1 || true
  if grep -q '^E: ' "$work/lintian.log"; then cat "$work/lintian.log" >&2; fail "lintian found errors"; fi
  echo "ok  lintian: no error ($(grep -c '^W: ' "$work/lintian.log") warning(s): $(grep '^W: ' "$work/lintian.log" | sed 's/.*: //' | tr '\n' ' '))"
else
  echo "--  no lintian: the packages are not checked by it"
fi
# every file the packages ship, and which of them the machine had before
{ dpkg-deb --fsys-tarfile "$deb"; } | tar -t | sed 's|^\./|/|; s|/$||' | grep -v '^/$' >"$work/paths.list"
dpkg-deb --fsys-tarfile "$dev" | tar -t | sed 's|^\./|/|; s|/$||' | grep -v '^/$' >>"$work/paths.list"
while read -r p; do if [ -e "$p" ] || [ -L "$p" ]; then echo "$p"; fi; done <"$work/paths.list" >"$work/preexisting.list"

# ---- install --------------------------------------------------------------
installed=1
dpkg -i "$deb" "$dev" >"$work/dpkg-i.log" 2>&1 || { cat "$work/dpkg-i.log" >&2; fail "dpkg -i"; }
for p in pipetrack libpipetrack-dev; do
  dpkg-query -W -f='${Status}' "$p" | grep -x 'install ok installed' >/dev/null || fail "$p is not installed"
done
dpkg -L pipetrack libpipetrack-dev | grep -vx '/\.' | sort -u >"$work/dpkg-L.list"
echo "ok  dpkg -i: $(wc -l <"$work/dpkg-L.list") paths"
[ "$(/usr/bin/pipetrackd --version)" = "pipetrackd $version" ] || fail "/usr/bin/pipetrackd --version"
[ "$(/usr/bin/pipetrack --version)" = "pipetrack $version" ] || fail "/usr/bin/pipetrack --version"
[ "$(pkg-config --modversion pipetrack)" = "$version" ] || fail "pkg-config --modversion pipetrack"
uid=$(id -u pipetrack) || fail "no user pipetrack"
[ "$uid" -lt 1000 ] || fail "pipetrack is no system user (uid $uid)"
[ "$(getent passwd pipetrack | cut -d: -f7)" = /usr/sbin/nologin ] || fail "pipetrack's shell is not nologin"
[ "$(stat -c '%U:%G %a' /var/lib/pipetrack)" = "pipetrack:pipetrack 750" ] || fail "/var/lib/pipetrack: $(stat -c '%U:%G %a' /var/lib/pipetrack)"
[ -f /etc/default/pipetrack ] || fail "no /etc/default/pipetrack"
ldconfig -p >"$work/ldconfig.list"
grep -q "libpipetrack.so.0 " "$work/ldconfig.list" || fail "libpipetrack.so.0 is not in the ld.so cache (the ldconfig trigger)"
echo "ok  the user pipetrack (uid $uid), /var/lib/pipetrack, /etc/default/pipetrack, ld.so cache"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify --man=no /lib/systemd/system/pipetrackd.service || fail "systemd-analyze verify"
  exposure=$(systemd-analyze security --offline=yes /lib/systemd/system/pipetrackd.service 2>&1 \
    | sed -n 's/.*Overall exposure level for pipetrackd.service: \([0-9.]*\).*/\1/p')
  echo "ok  systemd-analyze verify; security exposure ${exposure:-?} (0 safest, 10 none)"
  if [ -n "$exposure" ] && awk "BEGIN{exit !($exposure >= 2.0)}"; then fail "exposure $exposure >= 2.0"; fi
fi
if [ -d /run/systemd/system ]; then
  echo "--  systemd runs here: the postinst started pipetrackd.service"
else
  [ -L /etc/systemd/system/multi-user.target.wants/pipetrackd.service ] \
    || fail "the service is not enabled (no multi-user.target.wants link)"
  echo "ok  no systemd running: pipetrackd.service enabled, not started"
fi

# ---- the installed library ---------------------------------------------------
cflags=$(pkg-config --cflags pipetrack)
libs=$(pkg-config --libs pipetrack)
static_libs=$(pkg-config --static --libs pipetrack)
# libpipetrack.a, with the libraries it needs (Requires.private, Libs.private)
# linked shared: Debian's libpq.pc cannot link statically (its --static names
# libpgcommon and libpgport, which libpq-dev does not ship)
archive_libs="$(pkg-config --libs pipetrack | sed 's/-lpipetrack/-l:libpipetrack.a/') $(pkg-config --libs $(pkg-config --print-requires-private pipetrack)) -pthread -lm"
# shellcheck disable=SC2086
cc -std=c11 -Wall -Wextra -Werror -o "$work/checkout" "$src/examples/checkout.c" $cflags $libs
ldd "$work/checkout" | grep -E "libpipetrack.so.0 => (/usr)?/lib/[^ ]*libpipetrack.so.0 " >/dev/null \
  || { ldd "$work/checkout" >&2; fail "checkout does not load the installed libpipetrack.so.0"; }
"$work/checkout" >"$work/checkout.out"
check_checkout "$work/checkout.out"
echo "ok  examples/checkout.c, pkg-config --cflags --libs pipetrack ($cflags $libs): runs, verified"
# shellcheck disable=SC2086
cc -std=c11 -Wall -Wextra -Werror -o "$work/checkout_static" "$src/examples/checkout.c" $cflags \
  $archive_libs
readelf -d "$work/checkout_static" >"$work/readelf.list"
if grep -q 'NEEDED.*libpipetrack' "$work/readelf.list"; then fail "checkout_static needs the .so"; fi
"$work/checkout_static" >"$work/checkout_static.out"
check_checkout "$work/checkout_static.out"
echo "ok  examples/checkout.c against libpipetrack.a ($archive_libs): runs, verified"
printf '#include <stdio.h>\n#include <pipetrack.h>\nint main(void) { puts(pt_version()); return 0; }\n' >"$work/v.c"
# shellcheck disable=SC2086
cc -o "$work/v" "$work/v.c" $cflags $libs
[ "$("$work/v")" = "$version" ] || fail "pt_version() of the installed library: $("$work/v")"
echo "ok  pt_version() of the installed library: $version"

# ---- the installed server, as the service would run it ------------------------
# (a directory the pipetrack user can reach, as /var/lib/pipetrack would be)
db=$(mktemp -d /tmp/ptdeb-db.XXXXXX)
chown pipetrack:pipetrack "$db"
chmod 0750 "$db"
log=$work/pipetrackd.log
# the options file, as EnvironmentFile= reads it (all comments: nothing)
set -a
# shellcheck disable=SC1091
. /etc/default/pipetrack
set +a
PIPETRACK_LISTEN=127.0.0.1:0 PIPETRACK_DB=sqlite:$db/pipetrack.db \
  setpriv --reuid=pipetrack --regid=pipetrack --init-groups /usr/bin/pipetrackd >"$log" 2>&1 &
pid=$!
url=""
for _ in $(seq 100); do
  url=$(sed -n 's/.*"msg":"listening".*"url":"\(http:[^"]*\)".*/\1/p; s/.*"url":"\(http:[^"]*\)".*"listening".*/\1/p' "$log" | sed -n 1p)
  [ -n "$url" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; fail "pipetrackd exited"; }
  sleep 0.1
done
[ -n "$url" ] || { cat "$log" >&2; fail "pipetrackd did not say where it listens"; }
[ "$(stat -c %U "/proc/$pid")" = pipetrack ] || fail "pipetrackd does not run as pipetrack"
echo "ok  /usr/bin/pipetrackd (pid $pid, user pipetrack) listens on $url"
sid=chk_deb_$$
curl -sS -f "${url}api/pipeline/track" -H 'content-type: application/json' -d '{"event":
  {"session_id":"'"$sid"'","pipeline_type":"checkout_digital","step":"checkout_started",
   "status":"success","input":{"cart_total":42.5}}}' >"$work/track.json" || fail "POST track"
grep -q '"seq":0' "$work/track.json" || fail "track answered $(cat "$work/track.json")"
curl -sS -f "${url}api/pipeline/status?session_id=$sid" >"$work/status.json" || fail "GET status"
grep -q '"checkout_started"' "$work/status.json" && grep -q '"cart_total":42.5' "$work/status.json" \
  || fail "status does not show the event: $(cat "$work/status.json")"
/usr/bin/pipetrack --server "$url" --json verify "$sid" >"$work/verify.json" || fail "pipetrack verify"
grep -q '"ok":true' "$work/verify.json" || fail "verify: $(cat "$work/verify.json")"
echo "ok  tracked $sid over HTTP, read it back (status), pipetrack verify: ok"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=""
[ "$rc" = 0 ] || { cat "$log" >&2; fail "pipetrackd exited $rc on SIGTERM"; }
[ -s "$db/pipetrack.db" ] || fail "no database in $db"
echo "ok  SIGTERM: pipetrackd exited 0"
rm -rf "$db"
db=""

# ---- purge ----------------------------------------------------------------------
dpkg --purge libpipetrack-dev pipetrack >"$work/dpkg-purge.log" 2>&1 || { cat "$work/dpkg-purge.log" >&2; fail "dpkg --purge"; }
installed=0
for p in pipetrack libpipetrack-dev; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -v 'not-installed' >/dev/null; then fail "$p is still known to dpkg"; fi
done
left=0
while read -r p; do
  grep -qxF "$p" "$work/preexisting.list" && continue
  if [ -e "$p" ] || [ -L "$p" ]; then echo "left behind: $p" >&2; left=1; fi
done <"$work/dpkg-L.list"
[ "$left" = 0 ] || fail "dpkg -L paths left after the purge"
for p in /etc/default/pipetrack /var/lib/pipetrack /lib/systemd/system/pipetrackd.service \
    /etc/systemd/system/pipetrackd.service /etc/systemd/system/multi-user.target.wants/pipetrackd.service \
    /var/lib/systemd/deb-systemd-helper-enabled/pipetrackd.service.dsh-also \
    /var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/pipetrackd.service \
    /var/lib/systemd/deb-systemd-helper-masked/pipetrackd.service; do
  if [ -e "$p" ] || [ -L "$p" ]; then fail "left behind: $p"; fi
done
if getent passwd pipetrack >/dev/null; then fail "the user pipetrack is left"; fi
if getent group pipetrack >/dev/null; then fail "the group pipetrack is left"; fi
ldconfig -p >"$work/ldconfig.list"
if grep -q libpipetrack "$work/ldconfig.list"; then fail "libpipetrack is still in the ld.so cache"; fi
snapshot >"$work/after.list"
if ! diff "$work/before.list" "$work/after.list" >"$work/snapshot.diff"; then
  cat "$work/snapshot.diff" >&2
  fail "paths named *pipetrack* under /etc /usr /var /opt differ from before (< before, > after)"
fi
echo "ok  dpkg --purge: every path, the user and group, the data, /etc/default/pipetrack, the enablement gone"
rm -rf "$work"
