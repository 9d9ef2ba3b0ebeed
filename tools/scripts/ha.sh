#!/bin/sh
# ha.sh - the failover test on one machine (issue 14, part 5): sluice-drill
# --ha starts, on localhost, a pg_auto_failover formation (pgaf.sh: monitor,
# primary, synchronous standby), two shards of two sluiced each (an active
# and a standby) and three simulated platforms, offers a steady stream of
# orders, and in turn, each once the fleet is whole again (the formation a
# primary and a secondary, every shard an active node and a standby):
#
#   1. kill -9 of the PostgreSQL primary's postmaster;
#   2. SIGSTOP of every process of the PostgreSQL primary until the standby
#      is promoted, then SIGCONT;
#   3. kill -9 of shard s1's active sluiced (restarted: a standby);
#   4. SIGSTOP of shard s2's active sluiced for twice its lease, then
#      SIGCONT: it must write nothing and exit 75 (restarted: a standby).
#
# It prints how long each failover left intake unavailable (per shard, the
# gap between the last ACCEPTED before and the first after, as the
# producers saw it) and the invariants: every order acked ACCEPTED is in
# the database, no order had two live riders, no store was promised past
# its limit, every order ended. Exit status: the drill's (0 all held).
#
#   BUILD=build sh tools/scripts/ha.sh [sluice-drill options, e.g. --out DIR]
#
# HA_STORES (40), HA_MINUTES (2.5: the offering), HA_PEAK (40 orders/s at
# the noon peak) and HA_LEASE_SECONDS (4) size it. Later options win over
# these. Takes about 5 minutes on 2 cores (tests/integration/test_ha.c).
set -eu
BUILD=${BUILD:-build}
lease=${HA_LEASE_SECONDS:-4}
exec "$BUILD/sluice-drill" --ha --shards 2 --stores "${HA_STORES:-40}" \
    --minutes "${HA_MINUTES:-2.5}" --peak-rate "${HA_PEAK:-40}" --lease-seconds "$lease" \
    --drain-seconds 90 \
    --chaos "15s:kill-db-primary,20s:freeze-db-primary 0,25s:kill-active s1,30s:freeze-active $((lease * 2)) s2" \
    "$@"
