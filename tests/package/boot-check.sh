#!/bin/sh
# boot-check.sh - runs the installed sluice.service under a real systemd,
# with its whole sandbox on, against a throwaway PostgreSQL.
#
# CI containers do not boot systemd, so this starts one: /lib/systemd/systemd
# as PID 1 of new pid, mount, uts, net and ipc namespaces (unshare), with a
# private /run, booting a target that pulls in only sluice.service. The
# namespaces keep it off the host: its own loopback (so the default ports
# are free), its own hostname, its own /run. A drop-in adds only
# DefaultDependencies=no (the rest of sysinit.target is not booted) and
# sends sluiced's stderr to a file; every other line of the unit is the
# installed one. It then checks: READY=1 arrives, the sandbox holds (user,
# seccomp, no capabilities, watchdog armed), orders get answered, /readyz
# and /metrics answer, a reload and a refused reload leave it running, and
# stop exits 0.
#
# Exit status: 0 passed, 1 failed, 77 this machine cannot run systemd this
# way (not root, no unshare, or systemd never answered): a skip.
set -eu
cd "$(dirname "$0")/../.."
root=$(pwd)

skip() { echo "boot-check: skip: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root"
[ -x /lib/systemd/systemd ] || skip "no /lib/systemd/systemd"
command -v unshare >/dev/null && command -v nsenter >/dev/null || skip "no unshare/nsenter"
[ -x /usr/sbin/sluiced ] || { echo "boot-check: install the package first" >&2; exit 1; }

failures=0
ok()   { echo "ok:   $*"; }
bad()  { failures=$((failures + 1)); echo "FAIL: $*"; }

# Not under /tmp, /var/tmp or /home: PrivateTmp= and ProtectHome= hide those
# from the service, and it must reach PostgreSQL's socket in here.
work=$(mktemp -d /var/lib/sluice-boot-check.XXXXXX)
chmod 0755 "$work"
nspid=    # the unshare process, in our namespace
pid1=     # its child: systemd, PID 1 inside, seen from here
in_ns() { nsenter -t "$pid1" -m -p -u -n -i "$@"; }
cleanup() {
    if [ -n "$pid1" ] && kill -0 "$pid1" 2>/dev/null; then
        # An immediate poweroff: reboot(2) from inside a pid namespace ends
        # that namespace's PID 1 and everything in it.
        in_ns systemctl poweroff --force --force >/dev/null 2>&1 || true
        i=0
        while kill -0 "$pid1" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
        kill -KILL "$pid1" 2>/dev/null || true
    fi
    [ -n "$nspid" ] && wait "$nspid" 2>/dev/null || true
    sh "$root/tools/scripts/pgtmp.sh" destroy "$work/pg" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

dsn=$(sh tools/scripts/pgtmp.sh start "$work/pg")
sed -e "s|^\([[:space:]]*database[[:space:]]*=\).*|\1 \"$dsn\";|" \
    packaging/sluice.conf >"$work/sluice.conf"
cp "$work/sluice.conf" "$work/good.conf"

cat >"$work/inner.sh" <<'EOF'
# PID 1 of the new namespaces until it execs systemd. $1: the work dir.
set -eu
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/systemd/system/sluice.service.d /run/boot-check
cat >/run/systemd/system/boot-check.target <<UNIT
[Unit]
Description=sluice boot check
Wants=sluice.service
UNIT
cat >/run/systemd/system/sluice.service.d/boot-check.conf <<UNIT
[Unit]
DefaultDependencies=no
[Service]
StandardOutput=append:/run/boot-check/sluiced.log
StandardError=append:/run/boot-check/sluiced.log
UNIT
# The test config, over the conffile, in this mount namespace only.
mount --bind "$1/sluice.conf" /etc/sluice/sluice.conf
exec env -i container=sluice-boot-check PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    /lib/systemd/systemd --system --unit=boot-check.target --show-status=no
EOF

unshare --pid --fork --mount --propagation private --mount-proc --uts --net --ipc \
    sh "$work/inner.sh" "$work" >"$work/systemd.out" 2>&1 </dev/null &
nspid=$!

# Wait (with a deadline, polling) for systemd to exist and to answer.
i=0
while :; do
    pid1=$(pgrep -P "$nspid" -x systemd || true)
    state=
    # is-system-running exits non-zero for "starting" or "degraded" too;
    # any state but "offline" means the manager answers.
    [ -n "$pid1" ] && state=$(in_ns systemctl is-system-running 2>/dev/null || true)
    case $state in ''|offline) ;; *) break ;; esac
    if ! kill -0 "$nspid" 2>/dev/null || [ $i -ge 300 ]; then
        cat "$work/systemd.out"
        skip "systemd did not come up as PID 1 of new namespaces"
    fi
    sleep 0.1; i=$((i + 1))
done
echo "boot-check: systemd is up in its namespaces (state: $state)"

prop() { in_ns systemctl show -p "$1" --value sluice.service; }
dump() {
    in_ns systemctl status sluice.service --no-pager || true
    in_ns cat /run/boot-check/sluiced.log || true
}

# READY=1: Type=notify makes "active/running" mean sluiced said so.
i=0
while :; do
    active=$(prop ActiveState); sub=$(prop SubState)
    [ "$active/$sub" = active/running ] && break
    if [ "$active" = failed ] || [ "$sub" = auto-restart ] || [ $i -ge 600 ]; then
        dump
        bad "sluice.service did not become ready ($active/$sub)"
        exit 1
    fi
    sleep 0.1; i=$((i + 1))
done
ok "sluice.service ready (READY=1) under the installed unit"

pid=$(prop MainPID)
status=$(in_ns cat "/proc/$pid/status")
field() { echo "$status" | awk -v k="$1:" '$1 == k { print $2 }'; }
[ "$(in_ns ps -o user= -p "$pid")" = sluice ] && ok "runs as user sluice" || bad "runs as user sluice"
[ "$(field Seccomp)" = 2 ] && ok "seccomp filter on" || bad "seccomp filter on"
[ "$(field NoNewPrivs)" = 1 ] && ok "NoNewPrivs" || bad "NoNewPrivs"
[ "$(field CapEff)" = 0000000000000000 ] && ok "no capabilities" || bad "no capabilities"
in_ns cat "/proc/$pid/environ" | tr '\0' '\n' | grep -qx 'WATCHDOG_USEC=30000000' &&
    ok "watchdog armed (WATCHDOG_USEC=30000000)" || bad "watchdog armed"

# Orders over the real ingress, inside the namespaces' network. Exit 2
# means a request got no reply.
if out=$(in_ns /usr/bin/sluice-load --count 500 --rate 1000 --stores 1001-1003 \
             --timeout-ms 5000 2>&1); then
    ok "500 orders answered: $(echo "$out" | grep '^RESULT' | cut -c1-90)"
else
    echo "$out" | tail -3
    bad "sluice-load against the unit"
fi

# /readyz is 200 only with the database connected; /metrics must answer
# from inside the sandbox too.
if in_ns curl -fsS -o /dev/null http://127.0.0.1:9464/readyz &&
   in_ns curl -fsS http://127.0.0.1:9464/metrics | grep -q '^sluice_'; then
    ok "HTTP /readyz 200 and /metrics under the unit"
else
    bad "HTTP /readyz and /metrics under the unit"
fi

wait_log() { # wait_log PATTERN: poll the daemon's log, 10 s deadline
    i=0
    until in_ns grep -q "$1" /run/boot-check/sluiced.log; do
        [ $i -ge 100 ] && return 1
        sleep 0.1; i=$((i + 1))
    done
}
in_ns systemctl reload sluice.service && wait_log 'reloaded /etc/sluice/sluice.conf' &&
    [ "$(prop MainPID)" = "$pid" ] && [ "$(prop ActiveState)" = active ] &&
    ok "systemctl reload: config reloaded, same process" || { dump; bad "systemctl reload"; }

# Written in place: the file is bind-mounted by inode.
{ cat "$work/good.conf"; echo 'no_such_key = 1;'; } >"$work/sluice.conf"
in_ns systemctl reload sluice.service && wait_log 'no_such_key: unknown key' &&
    [ "$(prop MainPID)" = "$pid" ] && [ "$(prop ActiveState)" = active ] &&
    ok "invalid config refused on reload, daemon keeps running" ||
    { dump; bad "invalid config on reload"; }
cat "$work/good.conf" >"$work/sluice.conf"

in_ns systemctl stop sluice.service
[ "$(prop Result)" = success ] && [ "$(prop ExecMainStatus)" = 0 ] &&
    ok "systemctl stop: exit 0" || { dump; bad "systemctl stop"; }

[ "$failures" = 0 ]
