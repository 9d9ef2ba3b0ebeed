#!/bin/sh
# promtool.sh - runs Prometheus's promtool with the given arguments. Debian
# ships promtool only inside the prometheus package, whose install would also
# enable a Prometheus server; so when promtool is not on PATH, the package is
# downloaded (apt-get download, no root needed) and unpacked under build/,
# and nothing is installed or started.
set -eu
if command -v promtool >/dev/null 2>&1; then
    exec promtool "$@"
fi
root=$(cd "$(dirname "$0")/../.." && pwd)
dir="$root/build/promtool"
if [ ! -x "$dir/usr/bin/promtool" ]; then
    mkdir -p "$dir"
    (cd "$dir" && apt-get download prometheus >/dev/null 2>&1 && dpkg-deb -x prometheus_*.deb . &&
        rm -f prometheus_*.deb) || {
        echo "promtool.sh: cannot download Debian's prometheus package for promtool" >&2
        exit 127
    }
fi
exec "$dir/usr/bin/promtool" "$@"
