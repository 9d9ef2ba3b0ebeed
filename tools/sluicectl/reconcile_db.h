/* reconcile_db.h - owns reconciliation's PostgreSQL side: reading our
 * dispatches of a platform and day for the comparison (reconcile.h), and
 * storing a run with its discrepancies (migration 005). Through sluicectl's
 * connection (support_query.h); every statement parameterized.
 *
 * The day: from local midnight at UTC_OFFSET_MINUTES to the next, as in the
 * SettlementRequest. Our side of it is a dispatch's updated_at, which the
 * daemon sets when it applies the DELIVERED (or CANCELLED) event. */
#ifndef SLUICE_RECONCILE_DB_H
#define SLUICE_RECONCILE_DB_H

#include "reconcile.h"
#include "support_query.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct reconcile_db_ours {
    reconcile_ours_t *rows;   /* strings point into res */
    size_t count;
    struct pg_result *res;    /* private */
} reconcile_db_ours_t;

/* reconcile_db_read_ours reads PLATFORM's dispatches that ended (DELIVERED
 * or CANCELLED) inside DAY, and those whose key is in THEIRS whenever they
 * ended, with their order's store. OUT is overwritten; clear it whatever the
 * answer. */
support_query_status_t reconcile_db_read_ours(support_query_t *db, const char *platform,
                                              const char *day, int32_t utc_offset_minutes,
                                              const adapter_settlement_line_t *theirs,
                                              size_t n_theirs, reconcile_db_ours_t *out)
    __attribute__((warn_unused_result));
void reconcile_db_ours_clear(reconcile_db_ours_t *o);

/* One run, as stored in reconcile_runs. */
typedef struct reconcile_db_run {
    const char *day;
    int32_t utc_offset_minutes;
    const char *platform;
    uint64_t started_at_ms;   /* unix ms */
    const reconcile_result_t *result;  /* NULL: the report was not fetched (FAILED) */
    size_t lines_theirs, lines_ours;
    bool final;
    const char *error;        /* FAILED: why */
} reconcile_db_run_t;

/* reconcile_db_store writes RUN in one transaction. With a result it first
 * deletes the day's earlier discrepancies of the platform and stores the
 * new ones; without one (FAILED) it only adds the run row and leaves them. */
support_query_status_t reconcile_db_store(support_query_t *db, const reconcile_db_run_t *run)
    __attribute__((warn_unused_result));

#endif
