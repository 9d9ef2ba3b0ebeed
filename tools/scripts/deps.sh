#!/bin/sh
# deps.sh - installs the Debian 12 packages Sluice builds, tests and runs
# with, when any is missing (apt-get as root, else through sudo). clang
# (14), its compiler-rt (libFuzzer, ASan and UBSan runtimes) and llvm-14
# (llvm-symbolizer for stack traces) are for `make fuzz`. The last line is
# for `make deb` and tests/package: dpkg-buildpackage checks
# build-essential, debhelper 13 has dh_installsysusers, and systemd brings
# systemd-analyze and the manager tests/package/boot-check.sh runs (curl
# asks the daemon's HTTP endpoint there). chromium: tests/integration/
# test_drill.c opens the drill's HTML report in it, headless.
# pg_auto_failover (the keeper and its monitor extension): tools/scripts/
# pgaf.sh runs a formation on localhost for the HA tests and drills.
set -eu

PACKAGES="gcc make pkg-config protobuf-c-compiler libprotobuf-c-dev libzmq3-dev
libpq-dev libconfig-dev libcmocka-dev libmicrohttpd-dev libsystemd-dev
postgresql-15 postgresql-client-15 procps util-linux
postgresql-15-auto-failover pg-auto-failover-cli
clang libclang-rt-14-dev llvm-14
build-essential dpkg-dev debhelper lintian systemd curl
chromium"

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing" >&2
if [ "$(id -u)" = 0 ]; then
    SUDO=
elif command -v sudo >/dev/null 2>&1; then
    SUDO=sudo
else
    echo "deps: need root or sudo to install:$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null
# Debian's postgresql package starts a cluster of its own; ours are throwaway
# ones in temp dirs, so leave the system one alone but out of our way.
