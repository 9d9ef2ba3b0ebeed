/* change.h - owns state changes of stored orders (MarkReady, CancelOrder;
 * later the rider events): a bounded FIFO of changes waiting for a commit,
 * and the one statement that writes a run of them - each an orders row
 * update plus an order_events row, in one transaction. The requester is
 * answered only after that commit. */
#ifndef SLUICE_CHANGE_H
#define SLUICE_CHANGE_H

#include "ingress.h"
#include "order.h"
#include "order_index.h"
#include "pgarray.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#define CHANGE_PARAMS 3

typedef struct change {
    order_entry_t *entry;
    ingress_ticket_t *ticket;      /* who asked; NULL for the daemon's own */
    order_state_t to;
    uint64_t at_ms;                /* wall clock when it was asked */
    char detail[ORDER_DETAIL_MAX]; /* goes into order_events.detail */
} change_t;

typedef struct change_queue {
    change_t *items;               /* ring of cap */
    size_t head, count, cap;
    size_t in_flight;              /* taken from head by the statement in flight */
    pgarray_t col[CHANGE_PARAMS];
} change_queue_t;

/* change_sql: $1 order ids, $2 new states, $3 details; returns the ids it
 * changed with updated_at in unix ms. */
extern const char change_sql[];

bool change_queue_init(change_queue_t *q, size_t cap) __attribute__((warn_unused_result));
void change_queue_free(change_queue_t *q);

/* change_queue_push: false when the queue is full. */
bool change_queue_push(change_queue_t *q, const change_t *c);

/* change_queue_params marks up to MAX changes from the head as in flight and
 * fills VALUES; 0 when there is nothing to send or out of memory. */
size_t change_queue_params(change_queue_t *q, size_t max, const char *values[CHANGE_PARAMS]);

/* change_queue_done_at returns in-flight change I (0-based). */
change_t *change_queue_in_flight(change_queue_t *q, size_t i);
/* change_queue_pop_in_flight drops the in-flight changes from the head. */
void change_queue_pop_in_flight(change_queue_t *q);

#endif
