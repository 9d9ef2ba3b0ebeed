/* reconcile_cmd.h - owns `sluicectl reconcile`: the day it means, a run per
 * configured platform (fetch its settlement report, compare, store), and the
 * answer (tables, or one JSON object) with its exit status. It runs in
 * sluicectl itself, daemon or no daemon: it needs the config (platforms) and
 * PostgreSQL. */
#ifndef SLUICE_RECONCILE_CMD_H
#define SLUICE_RECONCILE_CMD_H

#include "config.h"
#include "support_query.h"

#include <stdbool.h>

/* Exit codes, documented in sluicectl(8); 2..4 as sluicectl's others. */
enum reconcile_exit {
    RECONCILE_EXIT_CLEAN = 0,
    RECONCILE_EXIT_USAGE = 2,         /* bad --date or --utc-offset */
    RECONCILE_EXIT_DB_UNREACHABLE = 3,
    RECONCILE_EXIT_DB_FAILED = 4,     /* PostgreSQL refused (schema not migrated, ...) */
    RECONCILE_EXIT_DISCREPANCIES = 8, /* every report was compared; some disagree */
    RECONCILE_EXIT_PLATFORM = 9,      /* a platform's report could not be fetched */
};

typedef struct reconcile_cmd_opts {
    const char *date;         /* YYYY-MM-DD; NULL: yesterday at the offset */
    const char *utc_offset;   /* minutes east of UTC, -840..840; NULL: 0 (UTC) */
    bool json;
} reconcile_cmd_opts_t;

/* reconcile_cmd_run reconciles every platform of CFG on DB (connected) and
 * prints the answer; returns the exit status. */
int reconcile_cmd_run(const config_t *cfg, support_query_t *db, const reconcile_cmd_opts_t *opts);

#endif
