/* sim_ledger.h - owns sluice-sim's ledger: a text file with one line per
 * accepted dispatch and per state change, flushed per line so a test can read
 * it while the simulator runs; and the check that no order ever had two live
 * riders, across the ledgers of several simulated platforms.
 *
 * Format (tab-separated, "-" for an empty field; lines starting "#" are
 * comments):
 *
 *   at_ms  event  key  order_id  rider  fee_cents  info
 *
 * at_ms: unix ms; event: dispatch (accepted, rider assigned), refused,
 * tombstone (cancel of a key never dispatched), arrived, picked_up,
 * delivered, cancelled (info "by=client ..." or "by=platform ..."). */
#ifndef SLUICE_SIM_LEDGER_H
#define SLUICE_SIM_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct sim_ledger sim_ledger_t;

/* sim_ledger_open appends to PATH (created if missing, with a header), and
 * writes a "# started" comment naming PLATFORM. NULL when it cannot be
 * opened (logged). */
sim_ledger_t *sim_ledger_open(const char *path, const char *platform, uint64_t now_ms)
    __attribute__((warn_unused_result));
void sim_ledger_close(sim_ledger_t **self);

/* sim_ledger_append writes one line and flushes it; false when that failed
 * (logged). Tabs and newlines in INFO become spaces; NULL or "" fields are
 * written "-". */
bool sim_ledger_append(sim_ledger_t *l, uint64_t at_ms, const char *event, const char *key,
                       const char *order_id, const char *rider, uint32_t fee_cents,
                       const char *info) __attribute__((warn_unused_result));

/* sim_ledger_check reads the N ledgers at PATHS, merges them by time (at
 * equal times, ends before dispatches: an adapter cancels on one platform
 * before it dispatches on the next), and prints to OUT one line per dispatch
 * of an order that already had a live one (dispatched, not yet delivered or
 * cancelled). Returns the number of such orders, or -1 when a file could not
 * be read or has a malformed line (said on OUT). */
long sim_ledger_check(const char *const *paths, size_t n, FILE *out);

#endif
