#!/bin/sh
# bench.sh - `make bench`: every figure beside its baseline measured in the
# same run, on this machine. In order:
#   config   the time to load a 300,000-store config (sluice-configbench),
#            beside libconfig's own read of the same files;
#   intake   BENCH_RUNS runs (3), each with its own baselines: PostgreSQL's
#            own ceiling for the daemon's rows (tools/bench/ceiling.sql:
#            generated server-side into the daemon's real schema, commits of
#            2,000, 1 and 2 clients; the ratios divide by the 2-client one),
#            sluice-rawbench (the daemon's statement from the client, on 2
#            connections as sluiced), sluiced at saturation, at half of it
#            and at 5,000/s offered (ack p50 / p99 / p99.9, orders per commit);
#            then their medians; then two capacity-on runs (real kitchens
#            filled flat out, then offered 20,000/s while full), and
#            QueryAvailability of 1,000 stores a question (the daemon's
#            service time beside the client's round trip); and rawbench and
#            sluiced at saturation once more against a pg_auto_failover
#            formation on this machine (tools/scripts/pgaf.sh: a primary
#            whose every commit waits for its synchronous standby);
#   life     the whole life of an order against cheap platforms
#            (tools/bench/bench-life.sh; BENCH_LIFE_* there);
#   dispatch 1,000 stores and three simulated platforms
#            (tools/bench/bench-dispatch.sh);
#   drill    the giveaway's day at its size, 300,000 stores in twelve
#            cities and about a million orders offered over ten compressed
#            minutes, with chaos (sluice-drill; BENCH_DRILL_* below; its
#            report says where the CPU time went);
#   ctl      sluicectl's support reads on 10 million orders
#            (tools/bench/bench-ctl.sh; BENCH_CTL_* there).
# Needs build/ binaries (make bench builds them). The machine should be
# quiet: each run prints the 1-minute load average it started at.
#
#   sh tools/bench/bench.sh            every section
#   sh tools/bench/bench.sh SECTION    one section (make bench-ctl: ctl)
# Env: BENCH_SECONDS (10 s per intake figure), BENCH_RUNS (3),
# BENCH_CONNECTIONS and BENCH_WINDOW (sluice-load's 8 DEALERs x 512),
# BENCH_CONFIG_RUNS (5), BENCH_HA=0 to leave out the synchronous standby
# (it is left out, and said so, where pg_auto_failover is not installed).
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
all | config | intake) ;;
life) exec sh tools/bench/bench-life.sh ;;
dispatch) exec sh tools/bench/bench-dispatch.sh ;;
ctl) exec sh tools/bench/bench-ctl.sh ;;
drill) bench_drill; exit $? ;;
*) echo "usage: sh tools/bench/bench.sh [config|intake|life|dispatch|drill|ctl]" >&2; exit 2 ;;
esac
DURATION=${BENCH_SECONDS:-10}
RUNS=${BENCH_RUNS:-3}
BATCH=2000   # daemon.commit_batch_max's default
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
CONNECTIONS=${BENCH_CONNECTIONS:-8}
WINDOW=${BENCH_WINDOW:-512}
CONFIG_RUNS=${BENCH_CONFIG_RUNS:-5}
HA=${BENCH_HA:-1}
command -v pg_autoctl >/dev/null 2>&1 || HA=0

if [ "$section" != intake ]; then
# Config load: 300,000 stores in 100 @include'd files of 3,000, every key
# set; load, reload with one file changed, and libconfig's own
# config_read_file of the same files, each in a fresh process.
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
[ "$section" = config ] && exit 0

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
psql -q "$dsn" -c "CREATE SEQUENCE bench_ceiling" >/dev/null

result() { sed -n "s/.*RESULT .* $1=\([0-9.]*\).*/\1/p" | tail -1; }
truncate_orders() { psql -q "$dsn" -c "TRUNCATE order_events, orders; CHECKPOINT" >/dev/null; }
# ceiling CLIENTS: PostgreSQL's own orders/s for the daemon's rows, generated
# server-side (tools/bench/ceiling.sql), CLIENTS sessions at once.
ceiling() {
    truncate_orders
    tps=$("$PGBIN/pgbench" -n -f tools/bench/ceiling.sql -D batch="$BATCH" -c "$1" -j "$1" \
          -T "$DURATION" "$dsn" 2>&1 | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
    awk "BEGIN { printf \"%d\", ${tps:-0} * $BATCH }"
}

# start_daemon CONF: sluiced in the background, back when it says ready.
start_daemon() {
    "$BUILD/sluiced" -c "$1" >"$dir/sluiced.log" 2>&1 &
    daemon_pid=$!
    i=0
    until grep -q ready "$dir/sluiced.log" 2>/dev/null; do
        i=$((i + 1)); [ $i -gt 600 ] && { cat "$dir/sluiced.log"; exit 1; }
        sleep 0.05
    done
}
# commits: the daemon's batches and rows committed so far (its /metrics).
commits() {
    curl -s "http://127.0.0.1:$((port + 2))/metrics" | awk '
        /^sluice_commit_batches_total / { b = $2 } /^sluice_commit_rows_total / { r = $2 }
        END { print b + 0, r + 0 }'
}
# offer NAME [RATE]: sluice-load against the running daemon, flat out or at
# RATE orders/s; prints its RESULT line.
offer() {
    "$BUILD/sluice-load" --endpoint "tcp://127.0.0.1:$port" --connections "$CONNECTIONS" \
        --window "$WINDOW" --duration "$DURATION" --stores 1001-1100 --prefix "$1-$run-$$" \
        ${2:+--rate "$2"} | grep '^RESULT'
}

# Intake: RUNS runs, each with its own baselines. Every ratio divides by
# PostgreSQL's ceiling with 2 clients (sluiced commits on db_connections = 2).
echo "== intake: $RUNS runs of ${DURATION}s each; commits of $BATCH; sluiced: $CONNECTIONS DEALERs x window $WINDOW"
echo "| run | load | ceiling 1 client | ceiling 2 clients | rawbench 2 conns | sluiced saturation | orders/commit | half: offered | half p50 / p99 / p99.9 ms | 5,000/s p50 / p99 / p99.9 ms |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
: >"$dir/intake"
run=1
while [ "$run" -le "$RUNS" ]; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    c1=$(ceiling 1)
    c2=$(ceiling 2)
    truncate_orders
    raw=$("$BUILD/sluice-rawbench" --dsn "$dsn" --batch "$BATCH" --connections 2 \
          --count $((BATCH * 150)) | result rows_per_s)
    truncate_orders
    start_daemon "$dir/bench.conf"
    m0=$(commits)
    sat=$(offer sat)
    m1=$(commits)
    sat_rate=$(echo "$sat" | result accepted_per_s)
    half=$(awk "BEGIN { printf \"%d\", $sat_rate / 2 }")
    hl=$(offer half "$half")
    five=$(offer five 5000)
    kill -TERM "$daemon_pid"; wait "$daemon_pid" || true; daemon_pid=
    per_commit=$(awk -v a="$m0" -v b="$m1" 'BEGIN { split(a, x, " "); split(b, y, " ");
        printf "%.1f", (y[2] - x[2]) / (y[1] > x[1] ? y[1] - x[1] : 1) }')
    lat() { echo "$1" | awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
                             END { printf "%s / %s / %s", v["p50_ms"], v["p99_ms"], v["p999_ms"] }'; }
    printf '| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$run" "$load" "$c1" "$c2" \
        "${raw%.*}" "${sat_rate%.*}" "$per_commit" "$half" "$(lat "$hl")" "$(lat "$five")"
    echo "$c1 $c2 ${raw%.*} ${sat_rate%.*} $per_commit $(echo "$hl" | result p99_ms)" \
        "$(echo "$hl" | result p999_ms) $(echo "$five" | result p99_ms) $(echo "$five" | result p999_ms)" \
        "$(echo "$sat" | result p99_ms) $load" >>"$dir/intake"
    run=$((run + 1))
done
# med N: the median of column N of the runs.
med() { cut -d' ' -f"$1" "$dir/intake" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk "BEGIN { printf \"%.2f\", $1 / $(med 2) }"; }
cat <<TABLE

| intake, median of $RUNS runs ($(nproc) cores, load $(med 11)) | orders/s | / ceiling 2 clients | ack p99 ms | ack p99.9 ms |
| --- | ---: | ---: | ---: | ---: |
| PostgreSQL's ceiling, same rows and indexes, server-side, 1 client | $(med 1) | $(ratio "$(med 1)") | | |
| PostgreSQL's ceiling, 2 clients (the baseline) | $(med 2) | 1.00 | | |
| sluice-rawbench, client-side, 2 connections as sluiced | $(med 3) | $(ratio "$(med 3)") | | |
| sluiced at saturation | $(med 4) | $(ratio "$(med 4)") | $(med 10) | |
| sluiced at half of saturation | | | $(med 6) | $(med 7) |
| sluiced at 5,000/s offered | | | $(med 8) | $(med 9) |

sluiced: $(med 5) orders per commit at saturation (median)
TABLE

# The same intake against a pg_auto_failover formation on this machine: its
# primary's commits wait for the synchronous standby (both share these cores
# and this disk with everything else; between machines a network round trip
# would be added instead). Same rows, same statement, same batch, once,
# beside the medians above.
if [ "$HA" = 1 ]; then
    echo "== the same against a pg_auto_failover formation (synchronous standby), load $(cut -d' ' -f1 /proc/loadavg)"
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
    ha_raw=$("$BUILD/sluice-rawbench" --dsn "$ha_dsn" --batch "$BATCH" --connections 2 \
             --count $((BATCH * 150)) | result rows_per_s)
    psql -q "$ha_dsn" -c "TRUNCATE order_events, orders" >/dev/null
    start_daemon "$dir/ha.conf"
    run=ha
    ha=$(offer sat)
    ha_rate=$(echo "$ha" | result accepted_per_s)
    kill -TERM "$daemon_pid"; wait "$daemon_pid" || true; daemon_pid=
    sh tools/scripts/pgaf.sh destroy "$dir/pgaf" >/dev/null
    cat <<TABLE

| intake with a synchronous standby ($(nproc) cores, the formation on this machine) | orders/s | / single-server median | ack p50 / p99 ms |
| --- | ---: | ---: | ---: |
| sluice-rawbench, 2 connections | ${ha_raw%.*} | $(awk "BEGIN { printf \"%.2f\", ${ha_raw:-0} / $(med 3) }") | |
| sluiced at saturation | ${ha_rate%.*} | $(awk "BEGIN { printf \"%.2f\", ${ha_rate:-0} / $(med 4) }") | $(echo "$ha" | result p50_ms) / $(echo "$ha" | result p99_ms) |

primary: $ha_sync
TABLE
else
    echo "== synchronous standby: left out (pg_auto_failover not installed, or BENCH_HA=0)"
fi

truncate_orders
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

cat <<TABLE

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

[ "$section" = intake ] && exit 0

# The whole life of an order (tools/bench/bench-life.sh), then dispatch with
# three platforms (tools/bench/bench-dispatch.sh), each with its own
# PostgreSQL, simulators and daemon.
echo
BUILD="$BUILD" sh tools/bench/bench-life.sh
echo
BUILD="$BUILD" sh tools/bench/bench-dispatch.sh

# Section drill, with its own PostgreSQL, sims and daemon.
echo
bench_drill

# Section ctl, on a PostgreSQL of its own: this one goes first.
cleanup
trap - EXIT INT TERM
echo
BUILD="$BUILD" sh tools/bench/bench-ctl.sh
