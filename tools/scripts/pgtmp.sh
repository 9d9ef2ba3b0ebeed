#!/bin/sh
# pgtmp.sh - a throwaway PostgreSQL 15 for the demo, the tests and the bench.
#
#   tools/scripts/pgtmp.sh start DIR     initdb into DIR (once) and start; prints the DSN
#   tools/scripts/pgtmp.sh stop DIR      fast shutdown
#   tools/scripts/pgtmp.sh kill DIR      immediate shutdown (like a crash)
#   tools/scripts/pgtmp.sh dsn DIR       prints the libpq connection string
#   tools/scripts/pgtmp.sh destroy DIR   stop and remove DIR
#
# The server listens only on a Unix socket inside DIR, so parallel runs never
# fight over a port. fsync stays on: the figures we measure must be durable
# ones. As root, the server runs as the unprivileged `postgres` user.
set -eu

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
cmd=${1:?usage: pgtmp.sh start|stop|kill|dsn|destroy DIR}
dir=${2:?usage: pgtmp.sh start|stop|kill|dsn|destroy DIR}

if [ "$(id -u)" = 0 ]; then
    runas=postgres
    id "$runas" >/dev/null 2>&1 || useradd --system --no-create-home "$runas"
    as() { runuser -u "$runas" -- "$@"; }
else
    runas=$(id -un)
    as() { "$@"; }
fi

dsn() { echo "host=$dir/sock port=5432 user=$runas dbname=sluice"; }

case "$cmd" in
start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        mkdir -p "$dir/sock"
        [ "$(id -u)" = 0 ] && chown "$runas" "$dir" "$dir/sock"
        as "$PGBIN/initdb" -D "$dir/data" -U "$runas" --auth=trust -E UTF8 \
            --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
            cat "$dir/initdb.log" >&2; exit 1; }
        cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir/sock'
shared_buffers = 512MB
wal_buffers = 64MB
max_wal_size = 8GB
checkpoint_timeout = 30min
fsync = on
synchronous_commit = on
max_connections = 50
log_min_messages = warning
CONF
    fi
    as "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null || {
        tail -20 "$dir/server.log" >&2; exit 1; }
    as "$PGBIN/psql" -h "$dir/sock" -U "$runas" -d postgres -qtAc \
        "SELECT 1 FROM pg_database WHERE datname = 'sluice'" | grep -q 1 ||
        as "$PGBIN/createdb" -h "$dir/sock" -U "$runas" sluice
    dsn
    ;;
stop)    as "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null ;;
kill)    as "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null ;;
dsn)     dir=$(cd "$dir" && pwd); dsn ;;
destroy)
    [ -f "$dir/data/postmaster.pid" ] &&
        as "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
*) echo "pgtmp.sh: unknown command $cmd" >&2; exit 2 ;;
esac
