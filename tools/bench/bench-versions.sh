#!/bin/sh
# bench-versions.sh - intake of several builds of sluiced, side by side in one
# run on one PostgreSQL: each build gets a database of its own (migrated by
# that build), the same stores and limits, the same load generator (this
# tree's sluice-load), and they take turns, ROUNDS rounds, so that what else
# the machine does falls on all of them alike. Beside them in every round,
# PostgreSQL's own ceiling for the rows (tools/bench/ceiling.sql, 2 clients,
# on the newest build's schema). Used to show that a change of structure
# costs no throughput: give the old build first.
#
#   sh tools/bench/bench-versions.sh NAME=SLUICED [NAME=SLUICED ...]
#
# Env: BUILD (this tree's build, for sluice-load), BENCH_SECONDS (10),
# BENCH_ROUNDS (3), BENCH_CONNECTIONS (8), BENCH_WINDOW (512).
set -eu
BUILD=${BUILD:-build}
DURATION=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
CONNECTIONS=${BENCH_CONNECTIONS:-8}
WINDOW=${BENCH_WINDOW:-512}
BATCH=2000
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
[ $# -gt 0 ] || { echo "usage: sh tools/bench/bench-versions.sh NAME=SLUICED..." >&2; exit 2; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/sluice-versions.XXXXXX")
chmod 755 "$dir"
daemon_pid=
cleanup() {
    [ -n "$daemon_pid" ] && kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
    sh tools/scripts/pgtmp.sh destroy "$dir/pg" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM

dsn=$(sh tools/scripts/pgtmp.sh start "$dir/pg")
base=$(printf '%s\n' "$dsn" | sed 's/ *dbname=[^ ]*//')
port=$((18400 + $$ % 1000))

# conf NAME: the intake bench's config (100 stores with room for
# everything, limits out of the way) on database NAME; keys every build knows.
conf() {
    cat <<CONF
daemon = {
  database = "$base dbname=$1";
  ingress = "tcp://127.0.0.1:$port";
  events = "tcp://127.0.0.1:$((port + 1))";
  control = "ipc://$dir/control.sock";
  http = "127.0.0.1:$((port + 2))";
  max_pending_orders = 200000;
  limits = { orders_per_second = 10000000; queue_delay_ms = 60000; commit_latency_ms = 60000; };
};
brands = ( { name = "bench"; orders_per_second = 1000000; } );
platforms = ( { name = "sim"; adapter = "zmq"; endpoint = "tcp://127.0.0.1:$((port + 3))"; } );
stores = (
CONF
    awk 'BEGIN { for (i = 1001; i <= 1100; i++)
        printf "  { id = %d; brand = \"bench\"; location = [30.27, 120.03]; prep_slots = 1000;\n    item_seconds = 1; max_wait_minutes = 1440; max_queue = 100000; }%s\n", i, i < 1100 ? "," : "" }'
    echo ");"
}

names=
last=
for spec in "$@"; do
    name=${spec%%=*}
    bin=${spec#*=}
    [ -x "$bin" ] || { echo "bench-versions: $bin is not a program" >&2; exit 2; }
    psql -q "$base dbname=postgres" -c "CREATE DATABASE v_$name" >/dev/null
    conf "v_$name" >"$dir/$name.conf"
    "$bin" -c "$dir/$name.conf" --migrate 2>/dev/null
    echo "$bin" >"$dir/$name.bin"
    names="$names $name"
    last=$name
done
psql -q "$base dbname=v_$last" -c "CREATE SEQUENCE bench_ceiling" >/dev/null

result() { sed -n "s/.*RESULT .* $1=\([0-9.]*\).*/\1/p" | tail -1; }
truncate_db() { psql -q "$base dbname=$1" -c "TRUNCATE order_events, orders; CHECKPOINT" >/dev/null; }

echo "== $ROUNDS rounds of ${DURATION}s each; sluice-load $CONNECTIONS DEALERs x window $WINDOW"
printf '| round | load | ceiling 2 clients |'
for n in $names; do printf ' %s orders/s | %s p99 ms |' "$n" "$n"; done
printf '\n| --- | ---: | ---: |'
for n in $names; do printf ' ---: | ---: |'; done
printf '\n'
round=1
while [ "$round" -le "$ROUNDS" ]; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    truncate_db "v_$last"
    tps=$("$PGBIN/pgbench" -n -f tools/bench/ceiling.sql -D batch="$BATCH" -c 2 -j 2 \
          -T "$DURATION" "$base dbname=v_$last" 2>&1 | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
    ceiling=$(awk "BEGIN { printf \"%d\", ${tps:-0} * $BATCH }")
    line="| $round | $load | $ceiling |"
    for n in $names; do
        truncate_db "v_$n"
        "$(cat "$dir/$n.bin")" -c "$dir/$n.conf" >"$dir/$n.log" 2>&1 &
        daemon_pid=$!
        i=0
        until grep -q ready "$dir/$n.log" 2>/dev/null; do
            i=$((i + 1)); [ $i -gt 600 ] && { cat "$dir/$n.log"; exit 1; }
            sleep 0.05
        done
        out=$("$BUILD/sluice-load" --endpoint "tcp://127.0.0.1:$port" --connections "$CONNECTIONS" \
              --window "$WINDOW" --duration "$DURATION" --stores 1001-1100 --prefix "$n-$round-$$" | grep '^RESULT')
        kill -TERM "$daemon_pid"; wait "$daemon_pid" || true; daemon_pid=
        rate=$(echo "$out" | result accepted_per_s)
        p99=$(echo "$out" | result p99_ms)
        echo "$n ${rate%.*} $p99" >>"$dir/runs"
        line="$line ${rate%.*} | $p99 |"
    done
    echo "$ceiling" >>"$dir/ceilings"
    echo "$line"
    round=$((round + 1))
done

# median of a column of numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
c=$(median <"$dir/ceilings")
echo
echo "| median of $ROUNDS ($(nproc) cores) | orders/s | / ceiling | p99 ms |"
echo "| --- | ---: | ---: | ---: |"
echo "| PostgreSQL's ceiling, 2 clients | $c | 1.00 | |"
for n in $names; do
    r=$(awk -v n="$n" '$1 == n { print $2 }' "$dir/runs" | median)
    p=$(awk -v n="$n" '$1 == n { print $3 }' "$dir/runs" | median)
    echo "| sluiced $n | $r | $(awk "BEGIN { printf \"%.2f\", $r / $c }") | $p |"
done
