/* lifecycle.h - owns what happens to an accepted order: the requesters'
 * MarkReady and CancelOrder, and every step of the dispatch engine, each a
 * change (change.h) checked against the order state machine (order_state.h)
 * and committed in order through one queue, a dbwork source on connection 0.
 * It runs the dispatch engine and is its host (dispatch_host_t): a step goes
 * dispatch -> lifecycle -> dbwork -> lifecycle -> dispatch. */
#ifndef SLUICE_LIFECYCLE_H
#define SLUICE_LIFECYCLE_H

#include "config.h"
#include "dbwork.h"
#include "dispatch.h"
#include "events.h"
#include "ingress.h"
#include "lookup.h"
#include "order_index.h"
#include "schedule.h"
#include "store.h"
#include "watch.h"

#include <stddef.h>
#include <stdint.h>

#define LIFECYCLE_CHANGES_MAX 10000   /* requesters' changes waiting for a commit */
#define LIFECYCLE_CHANGE_BATCH 1024   /* changes per statement */

/* What lifecycle works with; borrowed, each must outlive it. */
typedef struct lifecycle_with {
    store_table_t *stores;
    order_index_t *orders;
    schedule_t *schedule;
    events_t *events;
    ingress_t *ingress;
    const dbwork_t *dbwork;
    lookup_t *lookup;             /* a change of an order not in memory */
    void *zmq;                    /* for the platforms' adapters */
    watch_t *watch;               /* a store whose prep time frees may open */
} lifecycle_with_t;

typedef struct lifecycle_stats {
    uint64_t changes;             /* requesters' changes committed */
    size_t queued;                /* changes waiting for their commit */
} lifecycle_stats_t;

typedef struct lifecycle lifecycle_t;

/* lifecycle_new starts the dispatch engine on CFG (see dispatch_new). */
lifecycle_t *lifecycle_new(const config_t *cfg, const lifecycle_with_t *with)
    __attribute__((warn_unused_result));
/* lifecycle_destroy stops the engine and frees the changes still queued;
 * destroy it before the order index (the engine's jobs point at orders)
 * and after the dbwork (a statement in flight has failed then). */
void lifecycle_destroy(lifecycle_t **self);

/* lifecycle_dispatch: the dispatch engine it runs. */
dispatch_t *lifecycle_dispatch(lifecycle_t *self);

/* lifecycle_request asks EVENT (MARK_READY or CANCEL) for ORDER_ID on
 * behalf of ticket T (taken); FIELD names the id's field for errors, REASON
 * is a cancel's (may be NULL). Answered once the change committed, at once
 * when it is refused, a repeat, or cannot be queued. */
void lifecycle_request(lifecycle_t *self, ingress_ticket_t *t, const char *field,
                       const char *order_id, order_event_t event, const char *reason);

lifecycle_stats_t lifecycle_stats(const lifecycle_t *self);

/* The dbwork source (ARG: the lifecycle_t). */
dbwork_waiting_fn lifecycle_changes_waiting;
dbwork_send_fn lifecycle_send_changes;
dbwork_down_fn lifecycle_changes_down;
dbwork_busy_fn lifecycle_changes_busy;

#endif
