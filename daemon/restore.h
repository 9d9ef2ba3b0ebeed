/* restore.h - owns the daemon's start on its database: first the operators'
 * store overrides (store_overrides), then every live order read back into
 * the index, the kitchens and the dispatch engine, so that promises made
 * before a restart hold and riders already asked for are followed, not asked
 * for twice. Two dbwork sources that go alone on connection 0 until done;
 * the ingress opens once they are. */
#ifndef SLUICE_RESTORE_H
#define SLUICE_RESTORE_H

#include "dbwork.h"
#include "dispatch.h"
#include "order_index.h"
#include "override.h"
#include "schedule.h"
#include "store.h"

#include <stdbool.h>

/* What restore works with; borrowed, each must outlive it. */
typedef struct restore_with {
    override_list_t *overrides;   /* filled from the table at start */
    store_table_t *stores;
    order_index_t *orders;
    schedule_t *schedule;
    dispatch_t *dispatch;
    const char *shard;            /* daemon.shard: only its live orders; "" all */
} restore_with_t;

typedef struct restore restore_t;

restore_t *restore_new(const restore_with_t *with) __attribute__((warn_unused_result));
void restore_destroy(restore_t **self);

/* restore_done: the live orders are back; the daemon may take requests. */
bool restore_done(const restore_t *self);
/* restore_failed: it cannot go on (out of memory restoring); the daemon
 * must stop. */
bool restore_failed(const restore_t *self);

/* The dbwork sources (ARG: the restore_t): the overrides, then the orders. */
dbwork_waiting_fn restore_overrides_waiting;
dbwork_send_fn restore_send_overrides;
dbwork_waiting_fn restore_orders_waiting;
dbwork_send_fn restore_send_orders;

#endif
