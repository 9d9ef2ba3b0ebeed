#!/bin/sh
# bench-dispatch.sh - the dispatch part of `make bench` (also runs alone):
# 1,000 stores and three sluice-sim platforms; kitchens so fast that every
# accepted order looks for a rider at once. Measures, in one run:
#   - the raw durable insert limit of this PostgreSQL (sluice-rawbench), the
#     baseline: every dispatch step is a row update plus an event row;
#   - dispatch decisions per second while a burst is dispatched (quotes out
#     to three platforms, a choice, the outbox commit, the send);
#   - end to end, accepted to DELIVERED, in real seconds and in the
#     simulators' minutes (--time-scale).
# Dropoffs are spread over the simulators' disc (sluice-load --dropoff), so
# delivered riders wait all over it, not in one pile that every quote scans.
# Env: BUILD (build), BENCH_DISPATCH_ORDERS (10000), BENCH_DISPATCH_RATE
# (1000 orders/s offered), BENCH_TIME_SCALE (600).
set -eu
BUILD=${BUILD:-build}
ORDERS=${BENCH_DISPATCH_ORDERS:-10000}
RATE=${BENCH_DISPATCH_RATE:-1000}
SCALE=${BENCH_TIME_SCALE:-600}

dir=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench-dispatch.XXXXXX")
chmod 755 "$dir"
pids=
cleanup() {
    if [ -n "${BENCH_KEEP:-}" ]; then  # for a look afterwards; pgtmp.sh destroy DIR/pg when done
        for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
        echo "kept $dir (PostgreSQL still running)"; return
    fi
    for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
    for p in $pids; do wait "$p" 2>/dev/null || true; done
    sh tools/scripts/pgtmp.sh destroy "$dir/pg" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM

dsn=$(sh tools/scripts/pgtmp.sh start "$dir/pg")
port=$((18400 + $$ % 500))

for i in 1 2 3; do
    "$BUILD/sluice-sim" --endpoint "tcp://127.0.0.1:$((port + 10 + i))" --name "p$i" \
        --riders "${BENCH_RIDERS:-3000}" --radius-km 5 --time-scale "$SCALE" --seed "$i" \
        --ledger "$dir/p$i.tsv" >"$dir/p$i.log" 2>&1 &
    pids="$pids $!"
done

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
    for i in 1 2 3; do
        printf '  { name = "p%d"; adapter = "zmq"; endpoint = "tcp://127.0.0.1:%d"; timeout_ms = 2000;\n    quote_deadline_ms = 1000; max_inflight = 100000; }%s\n' \
            "$i" $((port + 10 + i)) "$([ $i -lt 3 ] && echo ,)"
    done
    echo ");"
    echo "stores = ("
    awk 'BEGIN { for (i = 1; i <= 1000; i++)
        printf "  { id = %d; location = [%.4f, %.4f]; prep_slots = 50; item_seconds = 1;\n    order_seconds = 1; max_wait_minutes = 600; max_queue = 100000; platforms = [\"p%d\", \"p%d\", \"p%d\"]; }%s\n",
            i, 30.22 + (i % 40) * 0.0025, 119.98 + int(i / 40) * 0.004, 1 + i % 3, 1 + (i + 1) % 3, 1 + (i + 2) % 3, i < 1000 ? "," : "" }'
    echo ");"
} >"$dir/dispatch.conf"

"$BUILD/sluiced" -c "$dir/dispatch.conf" --migrate 2>/dev/null

result() { sed -n "s/.*RESULT .* $1=\([0-9.]*\).*/\1/p" | tail -1; }
echo "== raw PostgreSQL limit (same run, batch 1000)"
raw=$("$BUILD/sluice-rawbench" --dsn "$dsn" --batch 1000 --count 150000)
echo "$raw" | head -1 | sed 's/^/  /'
raw_rate=$(echo "$raw" | result rows_per_s)
psql -q "$dsn" -c "TRUNCATE order_events, orders" >/dev/null

"$BUILD/sluiced" -c "$dir/dispatch.conf" >"$dir/sluiced.log" 2>&1 &
daemon_pid=$!
pids="$pids $daemon_pid"
i=0
until grep -q "ready:" "$dir/sluiced.log" && [ "$(grep -c 'link to .* up' "$dir/sluiced.log")" -ge 3 ]; do
    i=$((i + 1)); [ $i -gt 600 ] && { cat "$dir/sluiced.log"; exit 1; }
    sleep 0.05
done

echo "== $ORDERS orders to 1,000 stores at $RATE/s, three platforms, time scale $SCALE"
load=$("$BUILD/sluice-load" --endpoint "tcp://127.0.0.1:$port" --connections 4 --rate "$RATE" \
       --count "$ORDERS" --stores 1-1000 --items 1 --dropoff 30.27,120.03,5 --prefix "d$$")
echo "$load" | grep -v '^RESULT' | sed 's/^/  /'
accepted=$(echo "$load" | result accepted)

# Wait until every accepted order has ended (or 5 minutes).
i=0
while :; do
    live=$(psql -At "$dsn" -c "SELECT count(*) FROM orders WHERE NOT order_state_is_terminal(state)")
    [ "$live" -eq 0 ] && break
    i=$((i + 1)); [ $i -gt 300 ] && break
    sleep 1
done

q() { psql -At "$dsn" -c "$1"; }
delivered=$(q "SELECT count(*) FROM orders WHERE state = 'DELIVERED'")
failed=$(q "SELECT count(*) FROM orders WHERE state = 'FAILED'")
# Decisions: attempts written, over the span from the first to the last.
decisions=$(q "SELECT count(*) FROM dispatches")
span=$(q "SELECT extract(epoch FROM max(created_at) - min(created_at)) FROM dispatches")
dps=$(awk "BEGIN { printf \"%d\", ($span > 0) ? $decisions / $span : 0 }")
e2e=$(q "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY s)::numeric, 2) || ' ' ||
                round(percentile_cont(0.99) WITHIN GROUP (ORDER BY s)::numeric, 2)
           FROM (SELECT extract(epoch FROM d.at - a.at) AS s
                   FROM order_events a JOIN order_events d USING (order_id)
                  WHERE a.state = 'ACCEPTED' AND d.state = 'DELIVERED') t")
e2e_p50=${e2e% *}; e2e_p99=${e2e#* }
waits=$(q "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY s)::numeric, 2) || ' ' ||
                  round(percentile_cont(0.99) WITHIN GROUP (ORDER BY s)::numeric, 2)
             FROM (SELECT extract(epoch FROM d.at - a.at) AS s
                     FROM order_events a JOIN order_events d USING (order_id)
                    WHERE a.state = 'ACCEPTED' AND d.state = 'DISPATCHING'
                      AND d.detail LIKE 'dispatching to%') t")
ledger=$("$BUILD/sluice-sim" --check-ledger "$dir"/p1.tsv "$dir"/p2.tsv "$dir"/p3.tsv >/dev/null 2>&1 && echo ok || echo FAILED)
per_platform=$(q "SELECT string_agg(platform || ' ' || n, ', ' ORDER BY platform)
                    FROM (SELECT platform, count(*) n FROM dispatches WHERE state = 'DELIVERED' GROUP BY 1) t")
kill -TERM "$daemon_pid"; wait "$daemon_pid" || true

sim_min() { awk "BEGIN { printf \"%.1f\", $1 * $SCALE / 60 }"; }
cat <<TABLE

| dispatch, same run ($(nproc) cores, 1,000 stores, 3 platforms) | value |
| --- | ---: |
| raw PostgreSQL insert limit, rows/s (baseline) | ${raw_rate%.*} |
| orders accepted / delivered / failed | $accepted / $delivered / $failed |
| dispatch decisions/s (attempts written, first to last) | $dps |
| accepted to first dispatch sent, p50 / p99 s | ${waits% *} / ${waits#* } |
| accepted to DELIVERED, p50 / p99 s (real) | $e2e_p50 / $e2e_p99 |
| accepted to DELIVERED, p50 / p99 simulated minutes (x$SCALE) | $(sim_min "$e2e_p50") / $(sim_min "$e2e_p99") |
| delivered per platform | $per_platform |
| sluice-sim --check-ledger (no order with two live riders) | $ledger |
TABLE
