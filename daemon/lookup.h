/* lookup.h - owns the requests about orders the in-memory index does not
 * hold (never seen, or ended before this process started): a GetOrder, or a
 * MarkReady or CancelOrder of such an order, each waiting in a FIFO until
 * the database says what it stored. Its statements are a dbwork source on
 * connection 0, up to LOOKUP_BATCH ids each. */
#ifndef SLUICE_LOOKUP_H
#define SLUICE_LOOKUP_H

#include "dbwork.h"
#include "ingress.h"
#include "order_state.h"

#include <stdbool.h>
#include <stddef.h>

#define LOOKUP_MAX 10000      /* requests waiting for the database */
#define LOOKUP_BATCH 256      /* ids per statement */

typedef struct lookup lookup_t;

/* lookup_new answers on INGRESS and asks DBWORK whether connection 0 is up
 * (both borrowed). */
lookup_t *lookup_new(ingress_t *ingress, const dbwork_t *dbwork)
    __attribute__((warn_unused_result));
/* lookup_destroy frees the requests still waiting, unanswered. */
void lookup_destroy(lookup_t **self);

/* lookup_get queues a GetOrder of ORDER_ID, and lookup_change a requester's
 * EVENT (MARK_READY or CANCEL) for it; both take T. An order found stored
 * has ended (every live one is in memory), so a change of it is answered
 * with its status when the table says the event is a repeat, and CONFLICT
 * otherwise. Answered UNAVAILABLE at once when the database is down or
 * LOOKUP_MAX wait. */
void lookup_get(lookup_t *self, ingress_ticket_t *t, const char *order_id);
void lookup_change(lookup_t *self, ingress_ticket_t *t, order_event_t event,
                   const char *order_id);

/* The dbwork source (ARG: the lookup_t). */
dbwork_waiting_fn lookup_waiting;
dbwork_send_fn lookup_send;
dbwork_down_fn lookup_down;
dbwork_busy_fn lookup_busy;

#endif
