#!/bin/sh
# bench-ctl.sh - the "ctl" section of `make bench` (alone: `sh tools/bench/bench.sh
# ctl`): sluicectl's support reads on a database of 10 million orders.
#
# A throwaway PostgreSQL (tools/scripts/pgtmp.sh) gets the real schema (sluiced
# --migrate), then BENCH_CTL_ORDERS orders over BENCH_CTL_STORES stores,
# about 3 order_events per order and one dispatch attempt per dispatched
# order (a second for every 20th), all by INSERT ... SELECT generate_series.
# sluice-ctlbench then times `sluicectl order ID` and `sluicectl store ID`
# beside a plain SELECT 1 and a fresh connection, medians of BENCH_CTL_RUNS,
# for three stores: a typical one (ORDERS / STORES orders today), store 1000
# with 1 order in 5,000 (2,000 of 10 million: a 6-slot kitchen flat out for
# 14 hours, the busiest real store) and store 1001 with 1 in 500 (20,000,
# ten times that).
#
#   BENCH_CTL_ORDERS  orders to generate (10000000)
#   BENCH_CTL_STORES  stores they go to (300000)
#   BENCH_CTL_RUNS    runs per measure (21)
#   BENCH_CTL_CONFIG_STORES  stores in the big config that sluicectl also
#                     reads, as a real node's would be (300000; 0: skip)
#   BENCH_CTL_DIR     keep the database here and reuse it next time (the
#                     load takes minutes); default: a temp dir, removed
set -eu
BUILD=${BUILD:-build}
ORDERS=${BENCH_CTL_ORDERS:-10000000}
STORES=${BENCH_CTL_STORES:-300000}
RUNS=${BENCH_CTL_RUNS:-21}
BIG=${BENCH_CTL_CONFIG_STORES:-300000}
BUSY_STORE=1000
HOT_STORE=1001
# Order i goes to HOT_STORE + 1 + i % STORES unless the busy or the hot store
# takes it; this one takes i % STORES = 7, which neither does.
TYPICAL_STORE=$((HOT_STORE + 8))

if [ -n "${BENCH_CTL_DIR:-}" ]; then
    dir=$BENCH_CTL_DIR
    keep=1
    mkdir -p "$dir"
else
    dir=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench-ctl.XXXXXX")
    keep=0
fi
chmod 755 "$dir"
dir=$(cd "$dir" && pwd)
daemon_pid=
cleanup() {
    if [ -n "$daemon_pid" ]; then
        kill -TERM "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    if [ "$keep" = 1 ]; then
        sh tools/scripts/pgtmp.sh stop "$dir/pg" >/dev/null 2>&1 || true
    else
        sh tools/scripts/pgtmp.sh destroy "$dir/pg" >/dev/null 2>&1 || true
        rm -rf "$dir"
    fi
}
trap cleanup EXIT INT TERM

dsn=$(sh tools/scripts/pgtmp.sh start "$dir/pg")
psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$dsn" "$@"; }

# The config sluicectl reads: the database, and the stores it is asked about
# (local times and "today" in Asia/Shanghai).
cat >"$dir/ctl.conf" <<CONF
daemon = { database = "$dsn"; };
brands = ( { name = "bench"; orders_per_second = 1000000; } );
platforms = ( { name = "meituan"; adapter = "zmq"; endpoint = "tcp://127.0.0.1:7601"; },
              { name = "jd"; adapter = "zmq"; endpoint = "tcp://127.0.0.1:7602"; } );
stores = (
  { id = $BUSY_STORE; brand = "bench"; name = "busy store"; location = [30.27, 120.03];
    prep_slots = 6; item_seconds = 60; order_seconds = 30; max_wait_minutes = 40; max_queue = 200;
    hours = "00:00-24:00"; timezone = "Asia/Shanghai"; platforms = ["meituan", "jd"]; },
  { id = $HOT_STORE; brand = "bench"; name = "hot store"; location = [30.27, 120.03];
    prep_slots = 6; item_seconds = 60; order_seconds = 30; max_wait_minutes = 40; max_queue = 200;
    hours = "00:00-24:00"; timezone = "Asia/Shanghai"; platforms = ["meituan", "jd"]; },
  { id = $TYPICAL_STORE; brand = "bench"; name = "typical store"; location = [30.27, 120.03];
    prep_slots = 4; item_seconds = 60; order_seconds = 30; max_wait_minutes = 40; max_queue = 200;
    hours = "09:00-23:00"; timezone = "Asia/Shanghai"; platforms = ["meituan", "jd"]; }
);
CONF

# The same, with the stores of a whole node: BIG stores in an @include'd
# file, the layout the README recommends (read in pieces on every core).
big_args=
if [ "$BIG" -gt 0 ]; then
    sed '/^stores = (/,$d' "$dir/ctl.conf" >"$dir/big.conf"
    printf 'stores = (\n  @include "big-stores.conf"\n);\n' >>"$dir/big.conf"
    awk -v n="$BIG" -v hot="$HOT_STORE" 'BEGIN {
        for (i = 0; i < n; i++)
            printf "  { id = %d; brand = \"bench\"; name = \"store %d\"; location = [30.27, 120.03]; prep_slots = 4; item_seconds = 60; order_seconds = 30; max_wait_minutes = 40; max_queue = 200; hours = \"09:00-23:00\"; timezone = \"Asia/Shanghai\"; platforms = [\"meituan\", \"jd\"]; }%s\n", hot + i, hot + i, i + 1 < n ? "," : "" }' >"$dir/big-stores.conf"
    big_args="--big-config $dir/big.conf"
fi

set_id="$ORDERS orders, $STORES stores, v2"
loaded=$(cat "$dir/loaded" 2>/dev/null || echo 0)
if [ "$loaded" != "$set_id" ]; then
    [ "$loaded" = 0 ] || { echo "bench-ctl: $dir holds another data set ($loaded); remove it" >&2; exit 1; }
    "$BUILD/sluiced" -c "$dir/ctl.conf" --migrate 2>/dev/null
    echo "== ctl: generating $ORDERS orders over $STORES stores (events, dispatches) ..."
    t0=$(date +%s)
    # Secondary indexes are dropped and built again after the load from the
    # definitions the migrations made (pg_indexes), so the schema measured is
    # the real one; primary keys stay, and rows come in key order.
    # Each order's events are written in three passes, so that they lie on
    # different pages as they do when they happen over an order's life.
    # Orders span the last 9 hours, or since midnight in Asia/Shanghai if
    # that is shorter, so that "today" holds all of them; 3% are live.
    psql_q -v orders="$ORDERS" -v stores="$STORES" -v busy="$BUSY_STORE" -v hot="$HOT_STORE" <<'SQL'
SET synchronous_commit = off;
SET maintenance_work_mem = '1GB';
SET max_parallel_maintenance_workers = 2;
CREATE TABLE bench_indexes AS
  SELECT indexname, indexdef FROM pg_indexes
   WHERE schemaname = 'public' AND tablename IN ('orders', 'order_events', 'dispatches')
     AND indexname NOT IN (SELECT conname FROM pg_constraint);
DO $$ DECLARE r record; BEGIN
  FOR r IN SELECT indexname FROM bench_indexes LOOP EXECUTE format('DROP INDEX %I', r.indexname); END LOOP;
END $$;
SELECT greatest(now() - interval '9 hours',
                date_trunc('day', now() AT TIME ZONE 'Asia/Shanghai') AT TIME ZONE 'Asia/Shanghai'
                  + interval '1 second') AS t0,
       now() AS t1 \gset
CREATE TEMP VIEW gen AS
  SELECT i, 'o' || lpad(i::text, 9, '0') AS order_id,
         CASE WHEN i % 500 = 0 THEN :hot WHEN i % 5000 = 1 THEN :busy
              ELSE :hot + 1 + i % :stores END AS store_id,
         :'t0'::timestamptz + (:'t1'::timestamptz - :'t0'::timestamptz) * (i::float8 / :orders) AS at,
         CASE WHEN i > :orders * 0.97
              THEN (ARRAY['ACCEPTED', 'PREPARING', 'READY', 'DISPATCHING', 'RIDER_ASSIGNED',
                          'PICKED_UP'])[1 + i % 6]
              WHEN i % 100 < 94 THEN 'DELIVERED' WHEN i % 100 < 99 THEN 'CANCELLED'
              ELSE 'FAILED' END::order_state AS state
    FROM generate_series(1, :orders) AS i;
\echo orders
INSERT INTO orders (order_id, store_id, state, items, dropoff_lat, dropoff_lng, voucher_id,
                    customer_ref, producer_created_at, fingerprint, promised_ready_at,
                    promised_delivery_at, accepted_at, updated_at, prep_slot, prep_start_at,
                    refund_due)
SELECT order_id, store_id, state,
       jsonb_build_array(jsonb_build_object('sku', 'milk-tea', 'qty', 1),
                         jsonb_build_object('sku', 'sku-' || i % 50, 'qty', 1 + i % 3)),
       30.27 + (i % 1000) * 1e-5, 120.03 + (i % 997) * 1e-5, 'v-' || i, NULL, at, i,
       at + (150 + i % 600) * interval '1 second', at + (1650 + i % 600) * interval '1 second',
       at, CASE WHEN order_state_is_terminal(state)
                THEN least(at + interval '30 minutes', now()) ELSE at END,
       (i % 6)::smallint, at, state = 'FAILED'
  FROM gen ORDER BY i;
\echo events
INSERT INTO order_events (order_id, state, at)
SELECT order_id, 'ACCEPTED', at FROM gen ORDER BY i;
INSERT INTO order_events (order_id, state, at, detail)
SELECT order_id, 'DISPATCHING', at + interval '2 minutes', 'attempt 1 to meituan'
  FROM gen WHERE state NOT IN ('ACCEPTED', 'PREPARING', 'READY', 'CANCELLED') ORDER BY i;
INSERT INTO order_events (order_id, state, at, detail)
SELECT order_id, state, least(at + interval '30 minutes', now()),
       CASE state WHEN 'CANCELLED' THEN 'cancelled: customer changed her mind'
                  WHEN 'FAILED' THEN 'no rider before ready_at + max_hold: refund due' END
  FROM gen WHERE order_state_is_terminal(state) ORDER BY i;
\echo dispatches
INSERT INTO dispatches (dispatch_key, order_id, attempt, platform, state, rider_ref, last_seq,
                        fee_cents, pickup_at, created_at, updated_at)
SELECT order_id || ':' || a, order_id, a, CASE WHEN a = 1 THEN 'meituan' ELSE 'jd' END,
       CASE WHEN a = 1 AND i % 20 = 0 THEN 'CANCELLED'
            WHEN state = 'DELIVERED' THEN 'DELIVERED' WHEN state = 'FAILED' THEN 'CANCELLED'
            WHEN state = 'DISPATCHING' THEN 'PENDING' WHEN state = 'RIDER_ASSIGNED' THEN 'ASSIGNED'
            ELSE 'PICKED_UP' END::dispatch_state,
       'rider-' || i % 40000, 3, 500 + i % 400, at + interval '4 minutes',
       at + interval '2 minutes', least(at + interval '30 minutes', now())
  FROM gen, generate_series(1, CASE WHEN i % 20 = 0 THEN 2 ELSE 1 END) AS a
 WHERE state NOT IN ('ACCEPTED', 'PREPARING', 'READY', 'CANCELLED')
 ORDER BY i, a;
\echo indexes
DO $$ DECLARE r record; BEGIN
  FOR r IN SELECT indexdef FROM bench_indexes LOOP EXECUTE r.indexdef; END LOOP;
END $$;
DROP TABLE bench_indexes;
\echo vacuum analyze
VACUUM (ANALYZE) orders, order_events, dispatches;
SQL
    echo "$set_id" >"$dir/loaded"
    echo "   loaded in $(( $(date +%s) - t0 )) s"
fi

psql_q -At -F ' ' -c "SELECT 'rows:', (SELECT count(*) FROM orders) AS orders,
    (SELECT count(*) FROM order_events) AS events, (SELECT count(*) FROM dispatches) AS dispatches,
    'size:', pg_size_pretty(pg_database_size(current_database()))" | sed 's/^/   /'
# Measured after a PostgreSQL restart: its shared buffers start empty (the
# machine is shared, so the operating system's page cache is not dropped).
sh tools/scripts/pgtmp.sh stop "$dir/pg"
sh tools/scripts/pgtmp.sh start "$dir/pg" >/dev/null

# The order asked about: a delivered one with a second dispatch attempt,
# from the middle of the load.
order=$(printf 'o%09d' $((ORDERS / 2 / 20 * 20)))
typical=$TYPICAL_STORE
echo "== ctl: sluicectl on $ORDERS orders ($RUNS runs each; order $order, stores $typical, $BUSY_STORE, $HOT_STORE)"
"$BUILD/sluicectl" -c "$dir/ctl.conf" order "$order" | sed 's/^/   | /'
"$BUILD/sluicectl" -c "$dir/ctl.conf" store "$HOT_STORE" | sed 's/^/   | /'
out=$("$BUILD/sluice-ctlbench" --dsn "$dsn" --ctl "$BUILD/sluicectl" --config "$dir/ctl.conf" \
      --order "$order" --store "$typical" --store "$BUSY_STORE" --store "$HOT_STORE" \
      --runs "$RUNS" $big_args)
echo "$out" | grep -v '^RESULT' | sed 's/^/  /'
r() { echo "$out" | sed -n "s/^RESULT.* $1=\([0-9.]*\).*/\1/p"; }
n() { psql_q -At -c "SELECT count(*) FROM orders WHERE store_id = $1"; }

cat <<TABLE

| $ORDERS orders, same run ($(nproc) cores) | first ms | median ms | target |
| --- | ---: | ---: | --- |
| PostgreSQL: SELECT 1 on an open connection | $(r select1_ms_first) | $(r select1_ms) | |
| PostgreSQL: connect + SELECT 1 + close | $(r connect_ms_first) | $(r connect_ms) | |
| process start: sluicectl --version | $(r process_ms_first) | $(r process_ms) | |
| sluicectl order ID | $(r order_ms_first) | $(r order_ms) | < 50 |
| sluicectl --json order ID | $(r order_json_ms_first) | $(r order_json_ms) | < 50 |
| sluicectl order ID, --database (no config read) | $(r order_noconfig_ms_first) | $(r order_noconfig_ms) | < 50 |
| sluicectl store ID, typical store ($(n "$typical") orders today) | $(r store_ms_first) | $(r store_ms) | < 200 |
| sluicectl store ID, busy store ($(n "$BUSY_STORE") orders today) | $(r store2_ms_first) | $(r store2_ms) | < 200 |
| sluicectl store ID, hot store ($(n "$HOT_STORE") orders today) | $(r store3_ms_first) | $(r store3_ms) | < 200 |
| order queries only (open connection) | $(r order_query_ms_first) | $(r order_query_ms) | |
| store queries only (open connection): typical / busy / hot | $(r store_query_ms_first) / $(r store2_query_ms_first) / $(r store3_query_ms_first) | $(r store_query_ms) / $(r store2_query_ms) / $(r store3_query_ms) | |
TABLE
if [ -n "$big_args" ]; then
    cat <<TABLE
| sluicectl order ID, config of $BIG stores | $(r big_order_ms_first) | $(r big_order_ms) | < 50 |
| sluicectl store ID, config of $BIG stores | $(r big_store_ms_first) | $(r big_store_ms) | < 200 |
TABLE
fi

# Again with sluiced running on the same data: `order` is then answered by
# the daemon's support thread from a connection it keeps open (no new
# backend per lookup), and `store` has it read PostgreSQL there too, beside
# its live view. sluiced runs on a file copy of the database (CREATE
# DATABASE ... STRATEGY FILE_COPY, dropped after): at start it takes over
# the 3% live orders of a day that ended without it, and fails them (their
# stores are not in its config, or no rider came), which would change the
# data kept for the next run. Measured once those writes are done.
port=$((18400 + $$ % 1000))
daemon_dsn=$(echo "$dsn" | sed 's/dbname=sluice$/dbname=sluice_daemon/')
admin_dsn=$(echo "$dsn" | sed 's/dbname=sluice$/dbname=postgres/')
psql -X -q -v ON_ERROR_STOP=1 "$admin_dsn" -c "DROP DATABASE IF EXISTS sluice_daemon" \
    -c "CREATE DATABASE sluice_daemon TEMPLATE sluice STRATEGY FILE_COPY"
# The copy's gigabytes go to disk now, not while the commands are timed.
sync
live_count() {
    psql -X -At "$daemon_dsn" -c "SELECT count(*) FROM orders
        WHERE NOT order_state_is_terminal(state)" 2>/dev/null || echo -
}
cat >"$dir/daemon.conf" <<CONF
daemon = { database = "$daemon_dsn"; ingress = "tcp://127.0.0.1:$port";
           events = "tcp://127.0.0.1:$((port + 1))"; http = "127.0.0.1:$((port + 2))";
           control = "ipc://$dir/control.sock"; };
brands = ( { name = "bench"; orders_per_second = 1000000; } );
stores = (
  { id = $BUSY_STORE; brand = "bench"; name = "busy store"; location = [30.27, 120.03];
    prep_slots = 6; item_seconds = 60; order_seconds = 30; max_wait_minutes = 40; max_queue = 200;
    hours = "00:00-24:00"; timezone = "Asia/Shanghai"; },
  { id = $HOT_STORE; brand = "bench"; name = "hot store"; location = [30.27, 120.03];
    prep_slots = 6; item_seconds = 60; order_seconds = 30; max_wait_minutes = 40; max_queue = 200;
    hours = "00:00-24:00"; timezone = "Asia/Shanghai"; },
  { id = $TYPICAL_STORE; brand = "bench"; name = "typical store"; location = [30.27, 120.03];
    prep_slots = 4; item_seconds = 60; order_seconds = 30; max_wait_minutes = 40; max_queue = 200;
    hours = "09:00-23:00"; timezone = "Asia/Shanghai"; }
);
CONF
"$BUILD/sluiced" -c "$dir/daemon.conf" >"$dir/sluiced.log" 2>&1 &
daemon_pid=$!
up=0
t0=$(date +%s)
for _ in $(seq 1 600); do
    if grep -q '^<5>ready:' "$dir/sluiced.log"; then
        up=1
        break
    fi
    sleep 0.5
done
# Settled: the count of live orders holds still for 3 s.
last=- same=0
while [ "$up" = 1 ] && [ "$same" -lt 3 ] && [ $(( $(date +%s) - t0 )) -lt 600 ]; do
    sleep 1
    now=$(live_count)
    if [ "$now" = "$last" ]; then same=$((same + 1)); else same=0; fi
    last=$now
done
sync
if [ "$up" = 1 ]; then
    echo "== ctl: again with sluiced running on a copy of the data (settled after $(( $(date +%s) - t0 )) s, $last orders live)"
    "$BUILD/sluicectl" -c "$dir/daemon.conf" order "$order" | head -1 | sed 's/^/   | /'
    out=$("$BUILD/sluice-ctlbench" --dsn "$daemon_dsn" --ctl "$BUILD/sluicectl" --config "$dir/daemon.conf" \
          --order "$order" --store "$typical" --store "$BUSY_STORE" --store "$HOT_STORE" \
          --runs "$RUNS")
    echo "$out" | grep -v '^RESULT' | sed 's/^/  /'
    cat <<TABLE

| sluiced running, same data | first ms | median ms | target |
| --- | ---: | ---: | --- |
| PostgreSQL: connect + SELECT 1 + close | $(r connect_ms_first) | $(r connect_ms) | |
| process start: sluicectl --version | $(r process_ms_first) | $(r process_ms) | |
| sluicectl order ID (the daemon's connection) | $(r order_ms_first) | $(r order_ms) | < 50 |
| sluicectl --json order ID (the daemon's connection) | $(r order_json_ms_first) | $(r order_json_ms) | < 50 |
| sluicectl store ID, typical / busy / hot store | $(r store_ms_first) / $(r store2_ms_first) / $(r store3_ms_first) | $(r store_ms) / $(r store2_ms) / $(r store3_ms) | < 200 |
TABLE
else
    echo "bench-ctl: sluiced did not come up; its log:" >&2
    tail -20 "$dir/sluiced.log" >&2
fi
kill -TERM "$daemon_pid" 2>/dev/null || true
wait "$daemon_pid" 2>/dev/null || true
daemon_pid=
psql -X -q "$admin_dsn" -c "DROP DATABASE sluice_daemon" || true
sync

# Again with PostgreSQL's shared memory on huge pages, when this machine can
# reserve them (root). A fresh backend maps every shared buffer it touches:
# with 4 KB pages the hot store's 20,000 buffer hits cost as many page
# faults, most of its time. Huge pages are the operator's setting
# (vm.nr_hugepages, huge_pages = on); the README's support section says so.
hp_before=$(cat /proc/sys/vm/nr_hugepages 2>/dev/null || echo -)
hp_need=320   # 2 MB pages: shared_buffers 512 MB, wal_buffers and the rest
if [ "$(id -u)" = 0 ] && [ "$hp_before" != - ] &&
    echo $((hp_before + hp_need)) >/proc/sys/vm/nr_hugepages 2>/dev/null &&
    [ "$(awk '/^HugePages_Free/ {print $2}' /proc/meminfo)" -ge "$hp_need" ]; then
    psql_q -c "ALTER SYSTEM SET huge_pages = on"
    sh tools/scripts/pgtmp.sh stop "$dir/pg"
    if sh tools/scripts/pgtmp.sh start "$dir/pg" >/dev/null; then
        echo "== ctl: again with PostgreSQL on huge pages ($hp_need reserved)"
        out=$("$BUILD/sluice-ctlbench" --dsn "$dsn" --ctl "$BUILD/sluicectl" --config "$dir/ctl.conf" \
              --order "$order" --store "$typical" --store "$BUSY_STORE" --store "$HOT_STORE" \
              --runs "$RUNS")
        echo "$out" | grep -v '^RESULT' | sed 's/^/  /'
        cat <<TABLE

| huge pages on, same data | first ms | median ms | target |
| --- | ---: | ---: | --- |
| PostgreSQL: connect + SELECT 1 + close | $(r connect_ms_first) | $(r connect_ms) | |
| sluicectl order ID | $(r order_ms_first) | $(r order_ms) | < 50 |
| sluicectl store ID, typical / busy / hot store | $(r store_ms_first) / $(r store2_ms_first) / $(r store3_ms_first) | $(r store_ms) / $(r store2_ms) / $(r store3_ms) | < 200 |
TABLE
        psql_q -c "ALTER SYSTEM RESET huge_pages"
    else
        echo "== ctl: PostgreSQL did not start on huge pages; skipped"
        sed -i '/^huge_pages/d' "$dir/pg/data/postgresql.auto.conf"
    fi
    echo "$hp_before" >/proc/sys/vm/nr_hugepages
else
    echo "== ctl: huge pages not measured (needs root and $hp_need free 2 MB pages)"
fi
