#!/bin/sh
# tests/package/run.sh - the Debian package, built, linted, installed, run
# under its systemd unit, and purged again.
#
#   1. make deb, then lintian: any error or warning fails; then the unit as
#      it is in the source tree through systemd-analyze verify (make
#      unit-check: the built sluiced and man pages stand in for the
#      installed ones).
#   2. As root only (it changes the machine, and undoes it): dpkg -i, the
#      sluice user exists, the files are where the unit expects them,
#      sluiced --version matches the Makefile, the shipped config is valid,
#      systemd-analyze verify is silent, systemd-analyze security scores the
#      unit no worse than the README says.
#   3. Still as root, when this machine allows it: boot systemd as PID 1 of
#      fresh namespaces (tests/package/boot-check.sh) and run the installed
#      unit for real, with a throwaway PostgreSQL.
#   4. dpkg --purge, and the sluice user removed if this run created it.
#
# Ends with "package: N passed, N failed".
set -eu
cd "$(dirname "$0")/../.."
root=$(pwd)

# The README states this score; a unit change that loosens the sandbox past
# it fails here (systemd-analyze counts in tenths: 12 is "1.2").
MAX_EXPOSURE=12

passed=0
failed=0
ok()   { passed=$((passed + 1)); echo "ok:   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
check() { # check DESCRIPTION COMMAND...: one result line per check
    what=$1; shift
    if "$@"; then ok "$what"; else fail "$what"; fi
}
finish() {
    echo "package: $passed passed, $failed failed"
    [ "$failed" = 0 ]
}

version=$(sed -n 's/^VERSION := //p' Makefile)
[ -n "$version" ] || { echo "package: cannot read VERSION from the Makefile" >&2; exit 1; }

echo "== make deb ($version)"
log=$(mktemp)
if make deb >"$log" 2>&1; then
    ok "make deb"
    rm -f "$log"
else
    tail -40 "$log"
    fail "make deb (whole log: $log)"
    finish
fi
deb=build-deb/sluice_${version}_$(dpkg --print-architecture).deb
changes=build-deb/sluice_${version}_$(dpkg --print-architecture).changes

echo "== lintian"
# --fail-on error,warning: a warning is only acceptable as an override with
# its reason written next to it. Info tags are printed, not counted.
check "lintian: no errors or warnings" lintian --display-info --fail-on error,warning "$changes"

echo "== the unit in the source tree"
# The same verify as below, before anything is installed: the built sluiced
# and man pages stand in for the installed ones (tests/package/unit-check.sh).
set +e
make build/sluiced build/man/sluice.conf.5 >/dev/null && sh tests/package/unit-check.sh build
rc=$?
set -e
case $rc in
0) ok "make unit-check: systemd-analyze verify of packaging/sluice.service is silent" ;;
77) echo "skip: no systemd-analyze for make unit-check" ;;
*) fail "make unit-check (see above)" ;;
esac

if [ "$(id -u)" != 0 ]; then
    echo "skip: install, systemd-analyze and the systemd run need root (CI runs this as root)"
    finish
    exit $?
fi

if dpkg-query -W -f='${Status}' sluice 2>/dev/null | grep -q 'ok installed'; then
    fail "sluice is already installed; this test installs and purges it, so run dpkg --purge sluice first"
    finish
fi

user_existed=false
id sluice >/dev/null 2>&1 && user_existed=true
cleanup() {
    dpkg --purge sluice >/dev/null 2>&1 || true
    if [ "$user_existed" = false ] && id sluice >/dev/null 2>&1; then
        # Debian never removes a system user on purge (files may still be
        # owned by it); this run created it, so this run removes it.
        userdel sluice 2>/dev/null || true
        groupdel sluice 2>/dev/null || true
    fi
}
trap cleanup EXIT INT TERM

echo "== install"
check "dpkg -i $deb" dpkg -i "$deb"
check "postinst created the sluice user (systemd-sysusers)" id sluice
for f in /usr/sbin/sluiced /usr/bin/sluice-load /usr/bin/sluicectl /usr/bin/sluice-sim \
         /lib/systemd/system/sluice.service /usr/lib/sysusers.d/sluice.conf /etc/sluice/sluice.conf \
         /usr/share/man/man8/sluiced.8.gz /usr/share/man/man8/sluicectl.8.gz \
         /usr/share/man/man5/sluice.conf.5.gz \
         /usr/share/man/man1/sluice-load.1.gz /usr/share/man/man1/sluice-sim.1.gz \
         /usr/share/sluice/migrations/001_orders.sql /usr/share/doc/sluice/docs; do
    check "installed $f" test -e "$f"
done
conffiles=$(dpkg-query -W -f='${Conffiles}' sluice)
check "/etc/sluice/sluice.conf is a conffile" \
    sh -c 'echo "$1" | grep -q "^ */etc/sluice/sluice.conf "' - "$conffiles"
got=$(/usr/sbin/sluiced --version 2>&1 || true)
check "/usr/sbin/sluiced --version says 'sluiced $version' (got '$got')" test "$got" = "sluiced $version"
got=$(/usr/bin/sluicectl --version 2>&1 || true)
check "/usr/bin/sluicectl --version says 'sluicectl $version' (got '$got')" \
    test "$got" = "sluicectl $version"
check "the shipped config passes --check-config" \
    /usr/sbin/sluiced --check-config /etc/sluice/sluice.conf
check "sluice.conf(5) lists the keys from --config-keys" \
    sh -c 'zcat /usr/share/man/man5/sluice.conf.5.gz | grep -q "daemon.commit_batch_max"'

echo "== systemd-analyze"
# verify needs the binaries the unit names, hence after dpkg -i. Any output
# at all (a warning about a key, a missing path) counts as a failure.
if ! out=$(systemd-analyze verify /lib/systemd/system/sluice.service 2>&1); then
    out="failed: $out"
fi
check "systemd-analyze verify sluice.service is silent${out:+: $out}" test -z "$out"
systemd-analyze security --offline=yes /lib/systemd/system/sluice.service | tail -1
check "systemd-analyze security: exposure at most $MAX_EXPOSURE/100" \
    systemd-analyze security --offline=yes --threshold=$MAX_EXPOSURE \
        /lib/systemd/system/sluice.service >/dev/null

echo "== run under systemd"
set +e
sh tests/package/boot-check.sh
rc=$?
set -e
case $rc in
0) ok "sluiced runs under the installed unit (notify, reload, stop, sandbox)" ;;
77) echo "skip: systemd cannot run in namespaces on this machine (see above)" ;;
*) fail "sluiced under the installed unit (see above)" ;;
esac

echo "== purge"
dpkg --purge sluice >/dev/null
check "dpkg --purge removed the files" \
    sh -c '! test -e /usr/sbin/sluiced && ! test -e /etc/sluice && ! test -e /lib/systemd/system/sluice.service'
finish
