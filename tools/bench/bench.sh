#!/bin/sh
# bench.sh - `make bench`: in one run on this machine, measures
#   1. the raw durable insert limit: sluice-rawbench writes the same rows with
#      the same statement and batch size straight through libpq;
#   2. sluiced: accepted-and-acked orders/s at saturation (open throttle), and
#      ack latency at half of that rate;
#   3. the same two (raw limit and sluiced at saturation) against a
#      pg_auto_failover formation on this machine (tools/scripts/pgaf.sh: a
#      primary whose every commit waits for its synchronous standby);
# and prints them side by side; then QueryAvailability of 1,000 stores a
# question, the daemon's service time (its histogram) beside the client's
# round trip. First it times loading a 300,000-store config
# (sluice-configbench); then dispatch with 1,000 stores and three simulated
# platforms (tools/bench/bench-dispatch.sh); then section "drill": the giveaway's
# day at its size, 300,000 stores in twelve cities and about a million orders
# offered over ten compressed minutes, with chaos (sluice-drill; BENCH_DRILL_*
# below; its report says where the CPU time went); last,
# section "ctl": sluicectl's support reads on 10 million orders
# (tools/bench/bench-ctl.sh; BENCH_CTL_* there). Needs build/ binaries (make bench
# builds them).
#
#   sh tools/bench/bench.sh          every section
#   sh tools/bench/bench.sh intake   1-3 and the capacity runs alone
#   sh tools/bench/bench.sh drill    section drill alone
#   sh tools/bench/bench.sh ctl      section ctl alone (make bench-ctl)
#
# BENCH_HA=0 leaves out 3 (it is left out, and said so, where pg_auto_failover
# is not installed).
set -eu
BUILD=${BUILD:-build}
# bench_drill: the flash-crowd drill at the giveaway's size; exits with the
# drill's status (1 when an invariant broke). BENCH_DRILL_STORES (300000),
# BENCH_DRILL_MINUTES (10), BENCH_DRILL_PEAK (3200 orders/s at noon: about a
# million offered), BENCH_DRILL_OUT.
bench_drill() {
    out=${BENCH_DRILL_OUT:-tmp/bench-drill-$(date +%Y%m%d-%H%M%S)}
    echo "== drill: ${BENCH_DRILL_STORES:-300000} stores, the day in ${BENCH_DRILL_MINUTES:-10} minutes, peak ${BENCH_DRILL_PEAK:-3200} orders/s, chaos; load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
    "$BUILD/sluice-drill" --quiet --stores "${BENCH_DRILL_STORES:-300000}" \
        --minutes "${BENCH_DRILL_MINUTES:-10}" --peak-rate "${BENCH_DRILL_PEAK:-3200}" --out "$out" \
        --chaos "15%:dark p2,25%:light p2,35%:kill-daemon,42%:fail p1 1.0,47%:fail p1 0,50%:restart-db,55%:rider-pace p3 0.5,60%:slow p3 3000,65%:rider-pace p3 1,70%:slow p3 0,72%:cancel-ratio p2 0.2,75%:pause-store,78%:cancel-ratio p2 0,85%:halve-brand,90%:resume-store"
}
section=${1:-all}
case "$section" in
all|intake) ;;
ctl) exec sh tools/bench/bench-ctl.sh ;;
drill) bench_drill; exit $? ;;
*) echo "usage: sh tools/bench/bench.sh [intake|drill|ctl]" >&2; exit 2 ;;
esac
DURATION=${BENCH_SECONDS:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-8}
WINDOW=${BENCH_WINDOW:-512}
CONFIG_RUNS=${BENCH_CONFIG_RUNS:-5}
HA=${BENCH_HA:-1}
command -v pg_autoctl >/dev/null 2>&1 || HA=0

# Config load: 300,000 stores in 100 @include'd files of 3,000, every key
# set; load, reload with one file changed, and libconfig's own
# config_read_file of the same files, each in a fresh process.
if [ "$section" = all ]; then
echo "== config: 300,000 stores in 100 files, $CONFIG_RUNS runs"
cfg=$("$BUILD/sluice-configbench" --runs "$CONFIG_RUNS")
echo "$cfg" | grep -v '^RESULT' | sed 's/^/  /'
cfg_field() { echo "$cfg" | sed -n "s/^RESULT.* $1=\([0-9.]*\).*/\1/p"; }
cat <<TABLE

| config of 300,000 stores (median of $CONFIG_RUNS, $(nproc) cores) | ms |
| --- | ---: |
| sluiced load (config_load) | $(cfg_field load_ms) |
| sluiced reload, one file of 100 changed | $(cfg_field reload_one_file_changed_ms) |
| libconfig's config_read_file alone, same files | $(cfg_field baseline_libconfig_read_ms) |

memory per store: $(cfg_field bytes_per_store) bytes (config_store_t + name), $(cfg_field rss_bytes_per_store) bytes of process RSS after the load

TABLE
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench.XXXXXX")
chmod 755 "$dir"
daemon_pid=
cleanup() {
    [ -n "$daemon_pid" ] && kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
    sh tools/scripts/pgtmp.sh destroy "$dir/pg" >/dev/null 2>&1 || true
    sh tools/scripts/pgaf.sh destroy "$dir/pgaf" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM

dsn=$(sh tools/scripts/pgtmp.sh start "$dir/pg")
port=$((17400 + $$ % 1000))

# daemon_conf LIMITS [DSN]: the daemon block every run shares, with LIMITS
# inside, on DSN (default: the single server).
daemon_conf() {
    cat <<CONF
daemon = {
  database = "${2:-$dsn}";
  ingress = "tcp://127.0.0.1:$port";
  events = "tcp://127.0.0.1:$((port + 1))";
  control = "ipc://$dir/control.sock";
  http = "127.0.0.1:$((port + 2))";
  max_pending_orders = 200000;
  limits = { $1 };
};
brands = ( { name = "bench"; orders_per_second = 1000000; } );
platforms = ( { name = "sim"; adapter = "zmq"; endpoint = "tcp://127.0.0.1:$((port + 3))"; } );
CONF
}

# Intake: 100 stores with room for everything and limits out of the way, so
# this measures the intake path (admission still runs for every order).
{
    daemon_conf "orders_per_second = 10000000; queue_delay_ms = 60000; commit_latency_ms = 60000;"
    echo "stores = ("
    awk 'BEGIN { for (i = 1001; i <= 1100; i++)
        printf "  { id = %d; brand = \"bench\"; location = [30.27, 120.03]; prep_slots = 1000;\n    item_seconds = 1; max_wait_minutes = 1440; max_queue = 100000; }%s\n", i, i < 1100 ? "," : "" }'
    echo ");"
} >"$dir/bench.conf"

# Capacity: 10,000 real-sized kitchens (2 slots, 60 s a drink, 30 s an
# order, 10 minutes' longest promise) and the default limits and shedding.
# The campaign is only asked about (QueryAvailability); no order names it.
{
    daemon_conf "orders_per_second = 50000; queue_delay_ms = 50; commit_latency_ms = 250;"
    echo "campaigns = ( { name = \"bench\"; orders_per_second = 1000000; } );"
    echo "stores = ("
    awk 'BEGIN { for (i = 20001; i <= 30000; i++)
        printf "  { id = %d; brand = \"bench\"; location = [30.27, 120.03]; prep_slots = 2;\n    item_seconds = 60; order_seconds = 30; max_wait_minutes = 10; max_queue = 200; }%s\n", i, i < 30000 ? "," : "" }'
    echo ");"
} >"$dir/capacity.conf"

"$BUILD/sluiced" -c "$dir/bench.conf" --migrate 2>/dev/null

result() { sed -n "s/.*RESULT .* $1=\([0-9.]*\).*/\1/p" | tail -1; }

echo "== raw PostgreSQL limit (same rows, same statement, sequential commits)"
raw_best=0; raw_batch=0
for b in 200 1000 2000; do
    out=$("$BUILD/sluice-rawbench" --dsn "$dsn" --batch $b --count $((b * 150)))
    echo "$out" | head -1
    r=$(echo "$out" | result rows_per_s)
    if [ "${r%.*}" -gt "${raw_best%.*}" ]; then raw_best=$r; raw_batch=$b; fi
done
psql -q "$dsn" -c "TRUNCATE order_events, orders" >/dev/null

# start_daemon CONF: sluiced in the background, back when it says ready.
start_daemon() {
    "$BUILD/sluiced" -c "$1" >"$dir/sluiced.log" 2>&1 &
    daemon_pid=$!
    i=0
    until grep -q ready "$dir/sluiced.log"; do
        i=$((i + 1)); [ $i -gt 600 ] && { cat "$dir/sluiced.log"; exit 1; }
        sleep 0.05
    done
}
start_daemon "$dir/bench.conf"

echo "== sluiced at saturation ($CONNECTIONS DEALERs x window $WINDOW, ${DURATION}s)"
sat=$("$BUILD/sluice-load" --endpoint "tcp://127.0.0.1:$port" --connections "$CONNECTIONS" \
      --window "$WINDOW" --duration "$DURATION" --stores 1001-1100 --prefix "sat-$$")
echo "$sat" | grep -v '^RESULT' | sed 's/^/  /'
sat_rate=$(echo "$sat" | result accepted_per_s)
sat_p50=$(echo "$sat" | result p50_ms); sat_p99=$(echo "$sat" | result p99_ms)

half=$(awk "BEGIN { printf \"%d\", $sat_rate / 2 }")
echo "== sluiced at half of saturation ($half orders/s offered, ${DURATION}s)"
hl=$("$BUILD/sluice-load" --endpoint "tcp://127.0.0.1:$port" --connections "$CONNECTIONS" \
     --window "$WINDOW" --duration "$DURATION" --rate "$half" --stores 1001-1100 --prefix "half-$$")
echo "$hl" | grep -v '^RESULT' | sed 's/^/  /'
half_rate=$(echo "$hl" | result accepted_per_s)
half_p50=$(echo "$hl" | result p50_ms); half_p99=$(echo "$hl" | result p99_ms)

kill -TERM "$daemon_pid"; wait "$daemon_pid" || true; daemon_pid=
stats=$(grep "stopped:" "$dir/sluiced.log" | sed 's/^<[0-9]>//')

# The same intake against a pg_auto_failover formation on this machine: its
# primary's commits wait for the synchronous standby (both share these cores
# and this disk with everything else; between machines a network round trip
# would be added instead). Same rows, same statement, same batch.
ha_raw=skipped; ha_rate=skipped; ha_p50=; ha_p99=; ha_sync="pg_auto_failover not installed or BENCH_HA=0"
if [ "$HA" = 1 ]; then
    echo "== the same against a pg_auto_failover formation (synchronous standby)"
    ha_dsn=$(sh tools/scripts/pgaf.sh start "$dir/pgaf" $((port + 5)) | tail -1)
    ha_sync=$(psql -At "$ha_dsn" -c "SELECT 'synchronous_standby_names = ' ||
        current_setting('synchronous_standby_names') || ', synchronous_commit = ' ||
        current_setting('synchronous_commit')")
    echo "  primary: $ha_sync"
    {
        daemon_conf "orders_per_second = 10000000; queue_delay_ms = 60000; commit_latency_ms = 60000;" "$ha_dsn"
        sed -n '/^stores = (/,$p' "$dir/bench.conf"
    } >"$dir/ha.conf"
    "$BUILD/sluiced" -c "$dir/ha.conf" --migrate 2>/dev/null
    out=$("$BUILD/sluice-rawbench" --dsn "$ha_dsn" --batch "$raw_batch" --count $((raw_batch * 150)))
    echo "$out" | head -1
    ha_raw=$(echo "$out" | result rows_per_s)
    psql -q "$ha_dsn" -c "TRUNCATE order_events, orders" >/dev/null
    start_daemon "$dir/ha.conf"
    ha=$("$BUILD/sluice-load" --endpoint "tcp://127.0.0.1:$port" --connections "$CONNECTIONS" \
          --window "$WINDOW" --duration "$DURATION" --stores 1001-1100 --prefix "ha-$$")
    echo "$ha" | grep -v '^RESULT' | sed 's/^/  /'
    ha_rate=$(echo "$ha" | result accepted_per_s)
    ha_p50=$(echo "$ha" | result p50_ms); ha_p99=$(echo "$ha" | result p99_ms)
    kill -TERM "$daemon_pid"; wait "$daemon_pid" || true; daemon_pid=
    sh tools/scripts/pgaf.sh destroy "$dir/pgaf" >/dev/null
fi

psql -q "$dsn" -c "TRUNCATE order_events, orders" >/dev/null
start_daemon "$dir/capacity.conf"
echo "== capacity on: 10,000 stores of 2 slots, offered flat out for ${DURATION}s"
cap=$("$BUILD/sluice-load" --endpoint "tcp://127.0.0.1:$port" --connections "$CONNECTIONS" \
      --window "$WINDOW" --duration "$DURATION" --stores 20001-30000 --prefix "cap-$$")
echo "$cap" | grep -v '^RESULT' | sed 's/^/  /'
cap_rate=$(echo "$cap" | result replies_per_s)
cap_accepted=$(echo "$cap" | result accepted)
cap_busy=$(echo "$cap" | result busy)
cap_rej_p50=$(echo "$cap" | result rejected_p50_ms); cap_rej_p99=$(echo "$cap" | result rejected_p99_ms)
cap_acc_p99=$(echo "$cap" | result p99_ms)
# The kitchens are full now: offer 20,000 orders/s (150 times what they make)
# at a steady pace, so the figure is the daemon's answer time, not a queue
# the load generator built itself.
echo "== capacity on: full kitchens, 20,000 orders/s offered for ${DURATION}s"
over=$("$BUILD/sluice-load" --endpoint "tcp://127.0.0.1:$port" --connections "$CONNECTIONS" \
      --window "$WINDOW" --duration "$DURATION" --rate 20000 --stores 20001-30000 --prefix "over-$$")
echo "$over" | grep -v '^RESULT' | sed 's/^/  /'
over_busy=$(echo "$over" | result busy)
over_rej_p50=$(echo "$over" | result rejected_p50_ms); over_rej_p99=$(echo "$over" | result rejected_p99_ms)
over_accepted=$(echo "$over" | result accepted)
# The daemon's own view: from reading a request to sending its answer, from
# its histogram (bucket bounds 0.25, 0.5, 1, 2.5 ms ...), without the load
# generator's share of the two cores.
over_inside=$(curl -s "http://127.0.0.1:$((port + 2))/metrics" | awk '
    /^sluice_ack_latency_seconds_bucket\{decision="rejected"/ {
        match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5)
        n++; les[n] = le; cum[n] = $2 }
    /^sluice_ack_latency_seconds_count\{decision="rejected"\}/ { total = $2 }
    END { for (i = 1; i <= n; i++) if (cum[i] >= 0.99 * total) { printf "%g", les[i] * 1000; exit } }')

# QueryAvailability: 1,000 of the same 10,000 stores a question, one
# question at a time (the round trip is then the daemon's time plus the
# wire), without and with a campaign to ask about.
QUERIES=${BENCH_QUERIES:-2000}
echo "== QueryAvailability: 1,000 stores a question, $QUERIES questions one at a time, twice"
qa=$("$BUILD/sluice-load" --endpoint "tcp://127.0.0.1:$port" --connections 1 --window 1 \
     --count "$QUERIES" --query-stores 1000 --stores 20001-30000 --prefix "qa-$$")
echo "$qa" | grep -v '^RESULT' | sed 's/^/  /'
qac=$("$BUILD/sluice-load" --endpoint "tcp://127.0.0.1:$port" --connections 1 --window 1 \
      --count "$QUERIES" --query-stores 1000 --stores 20001-30000 --campaign bench --prefix "qac-$$")
echo "$qac" | grep -v '^RESULT' | sed 's/^/  /'
# hist_quantiles NAME: p50 and p99 (bucket upper bounds) and the mean, in ms,
# of the daemon's histogram NAME.
hist_quantiles() {
    curl -s "http://127.0.0.1:$((port + 2))/metrics" | awk -v name="$1" '
        index($0, name "_bucket{") == 1 {
            match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5)
            n++; les[n] = le; cum[n] = $2 }
        index($0, name "_sum ") == 1 { sum = $2 }
        index($0, name "_count ") == 1 { total = $2 }
        END {
            for (i = 1; i <= n; i++) if (cum[i] >= 0.5 * total) { p50 = les[i] * 1000; break }
            for (i = 1; i <= n; i++) if (cum[i] >= 0.99 * total) { p99 = les[i] * 1000; break }
            printf "<= %g | <= %g | %.3f", p50, p99, total ? sum / total * 1000 : 0 }'
}
qa_inside=$(hist_quantiles sluice_availability_query_seconds)
kill -TERM "$daemon_pid"; wait "$daemon_pid" || true; daemon_pid=
# Each kitchen can promise 2 slots x 10 min / 150 s = 8 two-drink orders.
cap_fit=$(psql -At "$dsn" -c "SELECT count(*) FROM orders o WHERE promised_ready_at - accepted_at > interval '10 minutes 1 second'")

ratio=$(awk "BEGIN { printf \"%.2f\", $sat_rate / $raw_best }")
cat <<TABLE

| measure (same run, $(nproc) cores) | orders/s | ack p50 ms | ack p99 ms |
| --- | ---: | ---: | ---: |
| raw PostgreSQL insert limit (batch $raw_batch) | ${raw_best%.*} | | |
| sluiced at saturation | ${sat_rate%.*} | $sat_p50 | $sat_p99 |
| sluiced at half of saturation | ${half_rate%.*} | $half_p50 | $half_p99 |
| raw insert limit, synchronous standby (batch $raw_batch) | ${ha_raw%.*} | | |
| sluiced at saturation, synchronous standby | ${ha_rate%.*} | $ha_p50 | $ha_p99 |

sluiced / raw limit: $ratio
sluiced: $stats
synchronous standby (pg_auto_failover, this machine): $ha_sync

| capacity on, same run | value |
| --- | ---: |
| orders accepted (10,000 kitchens, room for 8 each = 80,000) | $cap_accepted |
| decisions/s flat out (accepted + rejected) | ${cap_rate%.*} |
| STORE_BUSY rejections, flat out | $cap_busy |
| reply latency p99 ms, flat out (includes the generator's own queue) | $cap_acc_p99 |
| rejection latency p50 / p99 ms, flat out | $cap_rej_p50 / $cap_rej_p99 |
| full kitchens at 20,000/s: accepted / STORE_BUSY | $over_accepted / $over_busy |
| full kitchens at 20,000/s: rejection latency p50 / p99 ms (load generator's round trip) | $over_rej_p50 / $over_rej_p99 |
| 99% of rejections (both capacity runs) read, decided and sent within, ms (daemon's own histogram) | $over_inside |
| orders promised past max_wait (must be 0) | $cap_fit |

| QueryAvailability of 1,000 stores (10,000 configured), same run | p50 ms | p99 ms | mean ms |
| --- | ---: | ---: | ---: |
| daemon's service time, both runs (its histogram: bucket bounds) | $qa_inside |
| client round trip, one at a time (sluice-load) | $(echo "$qa" | result p50_ms) | $(echo "$qa" | result p99_ms) | $(echo "$qa" | sed -n 's/.*mean \([0-9.]*\).*/\1/p') |
| the same with a campaign asked about | $(echo "$qac" | result p50_ms) | $(echo "$qac" | result p99_ms) | $(echo "$qac" | sed -n 's/.*mean \([0-9.]*\).*/\1/p') |
TABLE
[ "$section" = intake ] && exit 0

# Dispatch: 1,000 stores, three simulated platforms (tools/bench/bench-dispatch.sh).
BUILD="$BUILD" sh tools/bench/bench-dispatch.sh

# Section drill, with its own PostgreSQL, sims and daemon.
echo
bench_drill

# Section ctl, on a PostgreSQL of its own: this one goes first.
cleanup
trap - EXIT INT TERM
echo
BUILD="$BUILD" sh tools/bench/bench-ctl.sh
