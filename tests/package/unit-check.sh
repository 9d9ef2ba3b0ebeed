#!/bin/sh
# tests/package/unit-check.sh BUILD - `systemd-analyze verify` of
# packaging/sluice.service from the source tree, without installing it.
#
# The unit names the paths of the installed package: /usr/sbin/sluiced, and
# man pages that `man` finds once they are installed. Verified as it is in
# the source tree, it can only fail on those two (the binary is not there,
# nor are the pages), which says nothing. So the check stands the built
# files in for the installed ones and verifies everything else as it is:
#   - a copy of the unit with /usr/sbin/sluiced replaced by BUILD/sluiced
#     (the only line that differs; the copy is made by one sed and compared);
#   - MANPATH pointing at sluiced(8), sluicectl(8) from packaging/ and the
#     sluice.conf(5) that `make` generates, as Documentation= names them.
# Any output at all (an unknown key, a bad value, a missing executable or
# page) fails, as in tests/package/run.sh for the installed unit.
# Exit 0 passed, 1 failed, 77 skipped (no systemd-analyze here).
set -eu
cd "$(dirname "$0")/../.."
build=${1:-build}
unit=packaging/sluice.service

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "skip: systemd-analyze is not installed"
    exit 77
fi
for f in "$build/sluiced" "$build/man/sluice.conf.5"; do
    [ -e "$f" ] || { echo "unit-check: no $f (make $f)" >&2; exit 1; }
done

dir=$build/unit-check
rm -rf "$dir"
mkdir -p "$dir/man/man5" "$dir/man/man8"
cp packaging/sluiced.8 packaging/sluicectl.8 "$dir/man/man8/"
cp "$build/man/sluice.conf.5" "$dir/man/man5/"
sluiced=$(cd "$build" && pwd)/sluiced
sed "s|/usr/sbin/sluiced|$sluiced|g" "$unit" >"$dir/sluice.service"
# exactly the lines naming /usr/sbin/sluiced changed, nothing else
changed=$(diff "$unit" "$dir/sluice.service" | grep -c '^<' || true)
named=$(grep -c '/usr/sbin/sluiced' "$unit" || true)
if [ "$changed" != "$named" ] || [ "$named" = 0 ]; then
    echo "unit-check: the copy differs from $unit in more than the path of sluiced" >&2
    exit 1
fi
if ! out=$(MANPATH=$(pwd)/$dir/man systemd-analyze verify "$dir/sluice.service" 2>&1); then
    out="failed: $out"
fi
if [ -n "$out" ]; then
    echo "unit-check: systemd-analyze verify $unit (built sluiced, pages from the tree):" >&2
    echo "$out" >&2
    exit 1
fi
echo "unit-check: systemd-analyze verify $unit is silent ($named Exec line(s) on $build/sluiced)"
