#!/bin/sh
# pgaf.sh - a pg_auto_failover formation on localhost for tests and drills:
# a monitor, a primary and a synchronous standby, each a pg_autoctl keeper
# in its own process group, trust auth, no TLS, listening on 127.0.0.1 only.
#
#   pgaf.sh start DIR PORT    create (once) and run: monitor on PORT, nodes on
#                             PORT+1 and PORT+2; waits for primary + secondary;
#                             prints the multi-host connection string
#   pgaf.sh uri DIR           the formation's connection string (read-write)
#   pgaf.sh state DIR         one line per node: name port reported assigned
#   pgaf.sh primary DIR       the name of the node that is primary now
#   pgaf.sh wait DIR SECONDS  wait until one node is primary and one secondary
#   pgaf.sh kill NODE DIR     kill -9 NODE's postmaster (its keeper restarts it)
#   pgaf.sh freeze NODE DIR   SIGSTOP every process of NODE (keeper, postmaster
#                             and every server process): a hung machine
#   pgaf.sh thaw NODE DIR     SIGCONT them
#   pgaf.sh stop DIR          stop every keeper and server
#   pgaf.sh destroy DIR       stop, then remove DIR
#
# The failover timings are set short: the monitor checks each node every
# second and calls a node unhealthy after 3 s without an answer; a primary
# that lost the monitor and its standby demotes itself after 4 s; the
# monitor promotes the standby 6 s after it asked a silent primary to
# demote. Measured with a frozen primary: the standby is primary about 10 s
# after the freeze. A frozen standby puts the primary in wait_primary
# (synchronous replication off, commits local only) 3 to 4 s after.
set -eu

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
cmd=${1:?usage: pgaf.sh start|uri|state|primary|wait|kill|freeze|thaw|stop|destroy ...}
shift

if [ "$(id -u)" = 0 ]; then
    runas=postgres
    id "$runas" >/dev/null 2>&1 || useradd --system --no-create-home "$runas"
else
    runas=$(id -un)
fi

# as: run as the server's user with pg_autoctl's files kept inside DIR.
as() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u "$runas" -- env PATH="$PGBIN:$PATH" XDG_CONFIG_HOME="$dir/xdg/config" \
            XDG_DATA_HOME="$dir/xdg/data" XDG_RUNTIME_DIR="$dir/xdg/run" "$@"
    else
        env PATH="$PGBIN:$PATH" XDG_CONFIG_HOME="$dir/xdg/config" XDG_DATA_HOME="$dir/xdg/data" \
            XDG_RUNTIME_DIR="$dir/xdg/run" "$@"
    fi
}

monitor_sql() {
    "$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$(cat "$dir/port")" -U autoctl_node \
        -d pg_auto_failover -c "$1"
}

# run_keeper NAME: pg_autoctl run for DIR/NAME in a session of its own, so
# that one signal to its group reaches the keeper and the postmaster it
# started. As root, setpriv rather than runuser: runuser stays in between as
# a parent that stops itself whenever its child stops, and stays stopped.
run_keeper() {
    if [ "$(id -u)" = 0 ]; then
        setsid setpriv --reuid="$runas" --regid="$runas" --init-groups \
            env HOME="$dir" PATH="$PGBIN:$PATH" XDG_CONFIG_HOME="$dir/xdg/config" \
            XDG_DATA_HOME="$dir/xdg/data" XDG_RUNTIME_DIR="$dir/xdg/run" \
            pg_autoctl run --pgdata "$dir/$1" >>"$dir/$1.log" 2>&1 &
    else
        setsid env PATH="$PGBIN:$PATH" XDG_CONFIG_HOME="$dir/xdg/config" \
            XDG_DATA_HOME="$dir/xdg/data" XDG_RUNTIME_DIR="$dir/xdg/run" \
            pg_autoctl run --pgdata "$dir/$1" >>"$dir/$1.log" 2>&1 &
    fi
    echo $! >"$dir/$1.pid"
}

wait_for() {   # wait_for SECONDS: one primary and one secondary reported
    i=0
    while [ "$i" -lt $(($1 * 10)) ]; do
        s=$(monitor_sql "SELECT string_agg(reportedstate::text, ',' ORDER BY reportedstate)
                         FROM pgautofailover.node" 2>/dev/null || true)
        [ "$s" = "primary,secondary" ] && return 0
        sleep 0.1
        i=$((i + 1))
    done
    echo "pgaf.sh: no primary and secondary after $1 s (states: ${s:-none})" >&2
    return 1
}

# group_of NAME: the process group of NAME's keeper (its session leader).
group_of() {
    pid=$(cat "$dir/$1.pid")
    g=$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')
    # Only a group of its own: never the caller's.
    [ "$g" = "$pid" ] && echo "$g"
    return 0
}

# server_children NAME: the processes of NAME's postmaster. Each calls
# setsid(), so they are in no group of the keeper's and a signal to that
# group misses them.
server_children() {
    pm=$(head -1 "$dir/$1/postmaster.pid" 2>/dev/null || true)
    [ -n "$pm" ] && pgrep -P "$pm"
    return 0
}

# signal_node SIGNAL NAME: STOP the keeper's group first, so the postmaster
# forks no new process meanwhile, then the server's processes; CONT in the
# opposite order.
signal_node() {
    g=$(group_of "$2")
    [ -n "$g" ] || { echo "pgaf.sh: $2 is not running" >&2; exit 1; }
    [ "$1" = STOP ] && kill -s STOP -- "-$g"
    for p in $(server_children "$2"); do
        kill -s "$1" "$p" 2>/dev/null || true
    done
    [ "$1" = CONT ] && kill -s CONT -- "-$g"
    return 0
}

case "$cmd" in
start)
    dir=${1:?usage: pgaf.sh start DIR PORT}
    port=${2:?usage: pgaf.sh start DIR PORT}
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    mkdir -p "$dir/xdg/config" "$dir/xdg/data" "$dir/xdg/run"
    [ "$(id -u)" = 0 ] && chown -R "$runas" "$dir"
    chmod 0700 "$dir/xdg/run"
    echo "$port" >"$dir/port"
    if [ ! -f "$dir/monitor/PG_VERSION" ]; then
        as pg_autoctl create monitor --pgdata "$dir/monitor" --pgport "$port" \
            --hostname 127.0.0.1 --auth trust --no-ssl --pgctl "$PGBIN/pg_ctl" \
            >"$dir/create-monitor.log" 2>&1 || { cat "$dir/create-monitor.log" >&2; exit 1; }
        cat >>"$dir/monitor/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
pgautofailover.health_check_period = 1000
pgautofailover.health_check_timeout = 1000
pgautofailover.health_check_max_retries = 1
pgautofailover.health_check_retry_delay = 500
pgautofailover.node_considered_unhealthy_timeout = 3000
pgautofailover.primary_demote_timeout = 6000
pgautofailover.startup_grace_period = 3000
CONF
    fi
    run_keeper monitor
    i=0
    until monitor_sql "SELECT 1" >/dev/null 2>&1; do
        i=$((i + 1))
        [ "$i" -lt 300 ] || { tail -20 "$dir/monitor.log" >&2; exit 1; }
        sleep 0.1
    done
    mon="postgres://autoctl_node@127.0.0.1:$port/pg_auto_failover?sslmode=disable"
    for n in 1 2; do
        if [ ! -f "$dir/node$n/PG_VERSION" ]; then
            as pg_autoctl create postgres --pgdata "$dir/node$n" --pgport $((port + n)) \
                --hostname 127.0.0.1 --listen 127.0.0.1 --auth trust --no-ssl \
                --monitor "$mon" --name "node$n" --dbname sluice --pgctl "$PGBIN/pg_ctl" \
                >"$dir/create-node$n.log" 2>&1 || { cat "$dir/create-node$n.log" >&2; exit 1; }
            as pg_autoctl config set --pgdata "$dir/node$n" timeout.network_partition_timeout 4 \
                >/dev/null
            # pgtmp.sh's settings, so that `make bench` compares a node
            # with a synchronous standby with a single server like for like
            cat >>"$dir/node$n/postgresql.conf" <<CONF
shared_buffers = 512MB
wal_buffers = 64MB
max_wal_size = 8GB
checkpoint_timeout = 30min
max_connections = 60
log_min_messages = warning
CONF
        fi
        run_keeper "node$n"
        # The second node clones the first: let the first become primary.
        [ "$n" = 1 ] && sleep 2
    done
    wait_for 120
    sh "$0" uri "$dir"
    ;;
uri)
    dir=$(cd "${1:?usage: pgaf.sh uri DIR}" && pwd)
    hosts=$(monitor_sql "SELECT string_agg(nodehost || ':' || nodeport, ',' ORDER BY nodeid)
                         FROM pgautofailover.node")
    h=$(echo "$hosts" | sed 's/:[0-9]*//g')
    p=$(echo "$hosts" | sed 's/[^,]*://g')
    echo "host=$h port=$p dbname=sluice user=$runas target_session_attrs=read-write sslmode=disable"
    ;;
state)
    dir=$(cd "${1:?usage: pgaf.sh state DIR}" && pwd)
    monitor_sql "SELECT nodename, nodeport, reportedstate, goalstate FROM pgautofailover.node
                 ORDER BY nodeid" | tr '|' ' '
    ;;
primary)
    dir=$(cd "${1:?usage: pgaf.sh primary DIR}" && pwd)
    monitor_sql "SELECT nodename FROM pgautofailover.node
                 WHERE reportedstate IN ('primary', 'wait_primary', 'single') AND goalstate IN ('primary', 'wait_primary', 'single') LIMIT 1"
    ;;
wait)
    dir=$(cd "${1:?usage: pgaf.sh wait DIR SECONDS}" && pwd)
    wait_for "${2:-60}"
    ;;
kill)
    node=${1:?usage: pgaf.sh kill NODE DIR}
    dir=$(cd "${2:?usage: pgaf.sh kill NODE DIR}" && pwd)
    pid=$(head -1 "$dir/$node/postmaster.pid")
    kill -KILL "$pid"
    ;;
freeze|thaw)
    node=${1:?usage: pgaf.sh freeze|thaw NODE DIR}
    dir=$(cd "${2:?usage: pgaf.sh freeze|thaw NODE DIR}" && pwd)
    if [ "$cmd" = freeze ]; then signal_node STOP "$node"; else signal_node CONT "$node"; fi
    ;;
stop|destroy)
    dir=${1:?usage: pgaf.sh stop|destroy DIR}
    [ -d "$dir" ] || exit 0
    dir=$(cd "$dir" && pwd)
    for n in node2 node1 monitor; do
        [ -f "$dir/$n.pid" ] || continue
        g=$(group_of "$n" || true)
        [ -n "$g" ] || continue
        # A frozen server would never finish its shutdown.
        for p in $(server_children "$n"); do kill -s CONT "$p" 2>/dev/null || true; done
        kill -s CONT -- "-$g" 2>/dev/null || true
        kill -s TERM -- "-$g" 2>/dev/null || true
    done
    for n in node2 node1 monitor; do
        [ -f "$dir/$n.pid" ] || continue
        i=0
        while g=$(group_of "$n") && [ -n "$g" ] && [ "$i" -lt 100 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        g=$(group_of "$n" || true)
        [ -z "$g" ] || kill -s KILL -- "-$g" 2>/dev/null || true
    done
    # A server left behind by a killed keeper.
    for n in node2 node1 monitor; do
        [ -f "$dir/$n/postmaster.pid" ] &&
            as "$PGBIN/pg_ctl" -D "$dir/$n" -m immediate -w stop >/dev/null 2>&1 || true
    done
    [ "$cmd" = destroy ] && rm -rf "$dir"
    exit 0
    ;;
*) echo "pgaf.sh: unknown command $cmd" >&2; exit 2 ;;
esac
