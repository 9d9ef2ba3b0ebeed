/* restore.h - owns the daemon's start on its database: first the operators'
 * store overrides (store_overrides) and campaign pauses
 * (campaign_overrides), then every live order read back into the index, the
 * kitchens, its campaign's share and the dispatch engine, so that promises
 * made before a restart hold and riders already asked for are followed, not
 * asked for twice; then the campaigns' counts (campaign.h: budget, pace,
 * each store's day). Three dbwork sources go alone on connection 0 until
 * done; the counts are a fourth, in order on connection 0, which also
 * counts the campaigns a reload adds (until then those answer
 * UNAVAILABLE). The ingress opens once the live orders and the first
 * counts are back. */
#ifndef SLUICE_RESTORE_H
#define SLUICE_RESTORE_H

#include "campaign.h"
#include "dbwork.h"
#include "dispatch.h"
#include "order_index.h"
#include "override.h"
#include "reload.h"
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
    campaign_table_t *campaigns;  /* their pauses, bookings and counts come back */
    const reload_t *reload;       /* the running config: its zones' midnights */
} restore_with_t;

typedef struct restore restore_t;

restore_t *restore_new(const restore_with_t *with) __attribute__((warn_unused_result));
void restore_destroy(restore_t **self);

/* restore_done: the live orders and the first campaign counts are back;
 * the daemon may take requests. */
bool restore_done(const restore_t *self);
/* restore_failed: it cannot go on (out of memory restoring); the daemon
 * must stop. */
bool restore_failed(const restore_t *self);

/* The dbwork sources (ARG: the restore_t): the overrides, the campaign
 * pauses, the orders; the campaign counts. */
dbwork_waiting_fn restore_overrides_waiting;
dbwork_send_fn restore_send_overrides;
dbwork_waiting_fn restore_campaign_pauses_waiting;
dbwork_send_fn restore_send_campaign_pauses;
dbwork_waiting_fn restore_orders_waiting;
dbwork_send_fn restore_send_orders;
dbwork_waiting_fn restore_counts_waiting;
dbwork_send_fn restore_send_counts;
dbwork_busy_fn restore_counts_busy;

#endif
