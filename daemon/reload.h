/* reload.h - owns the running configuration and its replacement: SIGHUP or
 * `sluicectl reload` reads the file again, and all of it applies, or none:
 * the stores, the limits, the dispatch engine, the CURVE client keys, then
 * the operators' overrides over the new file. Keys the running process has
 * bound or connected with cannot change; a reload that changes one is
 * refused, naming it, and the old configuration keeps running. */
#ifndef SLUICE_RELOAD_H
#define SLUICE_RELOAD_H

#include "admit.h"
#include "config.h"
#include "curve.h"
#include "dbwork.h"
#include "dispatch.h"
#include "override.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a reload reconfigures; borrowed, they must outlive the reload_t. */
typedef struct reload_targets {
    store_table_t *stores;
    admit_t *admit;
    dispatch_t *dispatch;
    curve_zap_t *zap;                    /* NULL when the ingress is plain */
    const override_list_t *overrides;    /* stand over whatever the file says */
    dbwork_t *dbwork;                    /* the database deadlines and backoff */
} reload_targets_t;

typedef struct reload_stats {
    uint64_t reloads;
    uint64_t reloads_refused;
} reload_stats_t;

typedef struct reload reload_t;

/* reload_new takes ownership of CFG, the running configuration, which
 * TARGETS run with already; on failure (out of memory) CFG stays the
 * caller's. */
reload_t *reload_new(config_t *cfg, const reload_targets_t *targets)
    __attribute__((warn_unused_result));
/* reload_destroy frees the running configuration. */
void reload_destroy(reload_t **self);

/* reload_config: the running configuration; a reload replaces it, so read
 * it again rather than keep it. */
const config_t *reload_config(const reload_t *self);

/* reload_run re-reads the file. OUT (LEN bytes) gets the one-line result,
 * or why it was refused (false). */
bool reload_run(reload_t *self, char *out, size_t len);

const reload_stats_t *reload_stats(const reload_t *self);

#endif
