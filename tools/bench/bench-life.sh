#!/bin/sh
# bench-life.sh - the order-life section of `make bench` (also runs alone):
# orders pushed through their whole life (accept, dispatch, assigned, at the
# store, picked up, delivered) against sluice-sim platforms that cost little
# CPU (riders found in a grid, a fast clock), with kitchens that finish an
# order in 2 s and dispatch at the ready time (margin and pickup eta 0).
# Each run measures, beside its own baseline:
#   - PostgreSQL alone doing the same writes per order (tools/bench/life.sql
#     through pgbench, 2 clients): orders/s through the whole life;
#   - sluiced: orders/s sustained from accept to DELIVERED (deliveries per
#     second over the middle half of the delivery span), nothing failed,
#     database rows written and commits per order (pg_stat deltas), CPU per
#     order of sluiced, of PostgreSQL and of the simulators, dispatch latency
#     (promised ready -> dispatch sent, p50 / p99 / max) and accepted ->
#     DELIVERED.
# Then the medians of the runs.
# Env: BUILD (build), BENCH_LIFE_RATE (3000 orders/s offered),
# BENCH_LIFE_SECONDS (20 s of offering), BENCH_RUNS (3), BENCH_LIFE_PLATFORMS
# (2), BENCH_RIDERS (8000 per platform), BENCH_TIME_SCALE (600),
# BENCH_KEEP (keep the last run's directory and PostgreSQL).
set -eu
BUILD=${BUILD:-build}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
RATE=${BENCH_LIFE_RATE:-3000}
SECONDS_OFFERED=${BENCH_LIFE_SECONDS:-20}
RUNS=${BENCH_RUNS:-3}
PLATFORMS=${BENCH_LIFE_PLATFORMS:-2}
RIDERS=${BENCH_RIDERS:-8000}
SCALE=${BENCH_TIME_SCALE:-600}

dir=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench-life.XXXXXX")
chmod 755 "$dir"
pids=
stop_all() {
    for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
    for p in $pids; do wait "$p" 2>/dev/null || true; done
    pids=
}
cleanup() {
    stop_all
    if [ -n "${BENCH_KEEP:-}" ]; then  # pgtmp.sh destroy DIR/pg when done
        echo "kept $dir (PostgreSQL still running)"; return
    fi
    sh tools/scripts/pgtmp.sh destroy "$dir/pg" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM

dsn=$(sh tools/scripts/pgtmp.sh start "$dir/pg")
port=$((19400 + $$ % 500))
q() { psql -At "$dsn" -c "$1"; }
result() { sed -n "s/.*RESULT .* $1=\([0-9.]*\).*/\1/p" | tail -1; }
load1() { cut -d' ' -f1 /proc/loadavg; }
# cpu_ticks PID...: user + system clock ticks of the processes, summed.
cpu_ticks() {
    t=0
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] || continue
        t=$((t + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{ print $12 + $13 }')))
    done
    echo "$t"
}
# pg_pids: this run's PostgreSQL, the postmaster and its children.
pg_pids() {
    pm=$(head -1 "$dir/pg/data/postmaster.pid")
    echo "$pm $(pgrep -P "$pm" | tr '\n' ' ')"
}
# writes: rows inserted and updated in the order tables, and commits, so far.
writes() {
    q "SELECT (SELECT sum(n_tup_ins + n_tup_upd) FROM pg_stat_user_tables
                WHERE relname IN ('orders', 'order_events', 'dispatches')) || ' ' ||
              (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database())"
}

{
    cat <<CONF
daemon = {
  database = "$dsn";
  ingress = "tcp://127.0.0.1:$port";
  events = "tcp://127.0.0.1:$((port + 1))";
  control = "ipc://$dir/control.sock";
  http = "127.0.0.1:$((port + 2))";
  limits = { orders_per_second = 1000000; queue_delay_ms = 60000; commit_latency_ms = 60000; };
};
dispatch = { margin_seconds = 0; pickup_eta_seconds = 0; assign_timeout_seconds = 60;
             retry_seconds = 2; max_hold_minutes = 30; };
platforms = (
CONF
    i=1
    while [ $i -le "$PLATFORMS" ]; do
        printf '  { name = "p%d"; adapter = "zmq"; endpoint = "tcp://127.0.0.1:%d"; timeout_ms = 2000;\n    quote_deadline_ms = 1000; max_inflight = 100000; }%s\n' \
            "$i" $((port + 10 + i)) "$([ $i -lt "$PLATFORMS" ] && echo ,)"
        i=$((i + 1))
    done
    echo ");"
    echo "stores = ("
    awk -v np="$PLATFORMS" 'BEGIN { for (i = 1; i <= 1000; i++) {
        pl = ""; for (k = 0; k < np; k++) pl = pl sprintf("%s\"p%d\"", k ? ", " : "", 1 + (i + k) % np)
        printf "  { id = %d; location = [%.4f, %.4f]; prep_slots = 50; item_seconds = 1;\n    order_seconds = 1; max_wait_minutes = 600; max_queue = 100000; platforms = [%s]; }%s\n",
            i, 30.22 + (i % 40) * 0.0025, 119.98 + int(i / 40) * 0.004, pl, i < 1000 ? "," : "" } }'
    echo ");"
} >"$dir/life.conf"

"$BUILD/sluiced" -c "$dir/life.conf" --migrate 2>/dev/null
q "CREATE SEQUENCE bench_life" >/dev/null

echo "== order life: $RATE orders/s offered for ${SECONDS_OFFERED}s to 1,000 stores, $PLATFORMS sluice-sim platforms ($RIDERS riders each, time scale $SCALE), $RUNS runs"
printf '| run | load | PostgreSQL alone, orders/s | sluiced accepted -> DELIVERED, orders/s | sent / accepted / delivered / not delivered | rows written / commits per order | CPU ms per order: sluiced / PostgreSQL / sims | ready -> dispatch sent p50 / p99 / max s | accepted -> DELIVERED p50 / p99 s |\n'
printf '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n'
: >"$dir/runs"
run=1
while [ "$run" -le "$RUNS" ]; do
    load=$(load1)
    q "TRUNCATE order_events, orders, dispatches" >/dev/null
    base=$("$PGBIN/pgbench" -n -f tools/bench/life.sql -D batch=500 -c 2 -j 2 -T 10 "$dsn" 2>&1 |
           sed -n 's/^tps = \([0-9.]*\).*/\1/p')
    base=$(awk "BEGIN { printf \"%d\", $base * 500 }")
    q "TRUNCATE order_events, orders, dispatches" >/dev/null

    i=1
    while [ $i -le "$PLATFORMS" ]; do
        "$BUILD/sluice-sim" --endpoint "tcp://127.0.0.1:$((port + 10 + i))" --name "p$i" \
            --riders "$RIDERS" --radius-km 5 --time-scale "$SCALE" --seed "$i" \
            --ledger "$dir/p$i-$run.tsv" >"$dir/p$i.log" 2>&1 &
        pids="$pids $!"
        i=$((i + 1))
    done
    sims=$pids
    "$BUILD/sluiced" -c "$dir/life.conf" >"$dir/sluiced.log" 2>&1 &
    daemon_pid=$!
    pids="$pids $daemon_pid"
    i=0
    until grep -q "ready:" "$dir/sluiced.log" 2>/dev/null &&
          [ "$(grep -c 'link to .* up' "$dir/sluiced.log")" -ge "$PLATFORMS" ]; do
        i=$((i + 1)); [ $i -gt 600 ] && { cat "$dir/sluiced.log"; exit 1; }
        sleep 0.05
    done
    pg=$(pg_pids)
    w0=$(writes)
    c0d=$(cpu_ticks "$daemon_pid"); c0p=$(cpu_ticks $pg); c0s=$(cpu_ticks $sims)
    out=$("$BUILD/sluice-load" --endpoint "tcp://127.0.0.1:$port" --connections 4 --rate "$RATE" \
          --duration "$SECONDS_OFFERED" --stores 1-1000 --items 1 --dropoff 30.27,120.03,5 \
          --prefix "l$run-$$")
    accepted=$(echo "$out" | result accepted)
    sent=$(echo "$out" | sed -n 's/^RESULT sent=\([0-9]*\).*/\1/p')
    # Until every accepted order has ended (or 2 minutes).
    i=0
    while [ "$(q "SELECT count(*) FROM orders WHERE NOT order_state_is_terminal(state)")" -gt 0 ] &&
          [ $i -lt 240 ]; do
        i=$((i + 1)); sleep 0.5
    done
    c1d=$(cpu_ticks "$daemon_pid"); c1p=$(cpu_ticks $pg); c1s=$(cpu_ticks $sims)
    stop_all
    w1=$(writes)   # the daemon's backends have ended, so their counts are in
    delivered=$(q "SELECT count(*) FROM orders WHERE state = 'DELIVERED'")
    failed=$(q "SELECT count(*) FROM orders WHERE state <> 'DELIVERED'")
    # Deliveries per second over the middle half of the span of deliveries:
    # the rate the whole life sustained, without the ramp up and the drain.
    sustained=$(q "WITH d AS (SELECT at FROM order_events WHERE state = 'DELIVERED'),
                       s AS (SELECT min(at) + (max(at) - min(at)) / 4 AS lo,
                                    max(at) - (max(at) - min(at)) / 4 AS hi FROM d)
                   SELECT round(count(*) / greatest(extract(epoch FROM s.hi - s.lo), 0.001))
                     FROM d, s WHERE d.at BETWEEN s.lo AND s.hi GROUP BY s.lo, s.hi")
    dispatch_lat=$(q "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY s)::numeric, 2) || ' / ' ||
                             round(percentile_cont(0.99) WITHIN GROUP (ORDER BY s)::numeric, 2) || ' / ' ||
                             round(max(s)::numeric, 2)
                        FROM (SELECT extract(epoch FROM min(e.at) - o.promised_ready_at) AS s
                                FROM orders o JOIN order_events e USING (order_id)
                               WHERE e.state = 'DISPATCHING' GROUP BY o.order_id) t")
    e2e=$(q "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY s)::numeric, 2) || ' / ' ||
                    round(percentile_cont(0.99) WITHIN GROUP (ORDER BY s)::numeric, 2)
               FROM (SELECT extract(epoch FROM d.at - a.at) AS s
                       FROM order_events a JOIN order_events d USING (order_id)
                      WHERE a.state = 'ACCEPTED' AND d.state = 'DELIVERED') t")
    per_order=$(awk -v w0="$w0" -v w1="$w1" -v n="$accepted" 'BEGIN {
        split(w0, a, " "); split(w1, b, " ");
        printf "%.1f / %.2f", (b[1] - a[1]) / n, (b[2] - a[2]) / n }')
    hz=$(getconf CLK_TCK)
    cpu=$(awk -v n="$delivered" -v hz="$hz" -v d=$((c1d - c0d)) -v p=$((c1p - c0p)) -v s=$((c1s - c0s)) \
          'BEGIN { f = 1000 / hz / (n > 0 ? n : 1); printf "%.3f / %.3f / %.3f", d * f, p * f, s * f }')
    ledger=ok
    i=1
    while [ $i -le "$PLATFORMS" ]; do
        "$BUILD/sluice-sim" --check-ledger "$dir/p$i-$run.tsv" >/dev/null 2>&1 || ledger=FAILED
        i=$((i + 1))
    done
    [ "$ledger" = ok ] || failed="$failed (ledger: two live riders)"
    printf '| %d | %s | %s | %s | %s / %s / %s / %s | %s | %s | %s | %s |\n' "$run" "$load" "$base" \
        "${sustained:-0}" "$sent" "$accepted" "$delivered" "$failed" "$per_order" "$cpu" "$dispatch_lat" "$e2e"
    echo "$base ${sustained:-0} $failed" >>"$dir/runs"
    run=$((run + 1))
done

med() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
base_med=$(cut -d' ' -f1 "$dir/runs" | med)
life_med=$(cut -d' ' -f2 "$dir/runs" | med)
echo
echo "order life, median of $RUNS: sluiced $life_med orders/s accepted -> DELIVERED, PostgreSQL alone $base_med;" \
     "sluiced / PostgreSQL alone: $(awk "BEGIN { printf \"%.2f\", $life_med / $base_med }")"
