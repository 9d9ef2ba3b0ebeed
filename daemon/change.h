/* change.h - owns state changes of stored orders (MarkReady, CancelOrder, and
 * every step of the dispatch engine): a FIFO of changes waiting for a commit,
 * and the one statement that writes a run of them. Each change is an orders
 * row update plus one order_events row, and for the dispatch engine the
 * upsert of one dispatches row, all in one transaction.
 *
 * A requester's change (MarkReady, CancelOrder) is applied in memory after
 * its commit and answered then; if the database fails it is answered with an
 * error and dropped. An engine change is applied in memory when it is queued
 * (the engine decides on what it knows) and stays queued until it commits,
 * however long the database is away: rider events are never forgotten while
 * the process lives, and a restart asks the platforms again. Values written
 * are absolute (the state, the seq, the rider), so a change sent twice after
 * an ambiguous failure writes the same row again. */
#ifndef SLUICE_CHANGE_H
#define SLUICE_CHANGE_H

#include "ingress.h"
#include "order.h"
#include "order_index.h"
#include "pgarray.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#define CHANGE_PARAMS 12
#define CHANGE_KEY_MAX 64
#define CHANGE_REF_MAX 64

/* What the dispatch engine does once a change has committed. */
typedef enum change_after {
    CHANGE_AFTER_NOTHING = 0,
    CHANGE_AFTER_SEND_DISPATCH,   /* the outbox row is durable: send the DispatchRequest */
} change_after_t;

/* The dispatches row a change writes (attempt 0: none). */
typedef struct change_dispatch {
    uint16_t attempt;
    const char *state;             /* a dispatch_state name (static storage) */
    const char *platform;          /* the pool's own copy: outlives reloads (dispatch.c) */
    uint32_t seq;                  /* last rider event applied */
    uint32_t fee_cents;            /* written as is, 0 included (a free cancel) */
    bool fee_unknown;              /* the platform did not say: written NULL (a cancel whose
                                    * fee was not said must not keep the delivery fee) */
    uint64_t pickup_at_ms;         /* 0: not known (kept) */
    char key[CHANGE_KEY_MAX + 1];
    char rider_ref[CHANGE_REF_MAX + 1];  /* "": not known (kept) */
} change_dispatch_t;

typedef struct change {
    order_entry_t *entry;
    ingress_ticket_t *ticket;      /* who asked; NULL for the daemon's own */
    order_state_t to;              /* the event row's state; the order's new state unless keep_state */
    order_event_t asked;           /* a requester's: MARK_READY or CANCEL */
    bool keep_state;               /* an event (and dispatch row) only: orders.state stays */
    bool engine;                   /* the dispatch engine's: see above */
    bool dropped;                  /* a requester's change already answered with an error */
    uint8_t after;                 /* change_after_t */
    uint64_t at_ms;                /* wall clock when it was asked */
    char detail[ORDER_DETAIL_MAX]; /* goes into order_events.detail */
    change_dispatch_t dispatch;
} change_t;

typedef struct change_queue {
    change_t *items;               /* ring of cap */
    size_t head, count, cap;
    size_t requests;               /* requesters' changes queued, bounded by max_requests */
    size_t max_requests;
    size_t in_flight;              /* taken from head by the statement in flight */
    pgarray_t col[CHANGE_PARAMS];
} change_queue_t;

/* change_sql: order ids, event states, details, keep flags, then the
 * dispatch columns (key, attempt, platform, state, rider_ref, seq, fee,
 * pickup ms); returns the orders it touched with updated_at in unix ms.
 * change_fenced_sql: the same for a node with a shard, the fence's two
 * parameters after those (db.h). */
extern const char change_sql[];
extern const char change_fenced_sql[];

/* change_queue_init: room for MAX_REQUESTS requesters' changes; engine
 * changes grow the ring as needed. */
bool change_queue_init(change_queue_t *q, size_t max_requests) __attribute__((warn_unused_result));
void change_queue_free(change_queue_t *q);

/* change_queue_push: false when requesters' changes are at their limit or
 * out of memory. */
bool change_queue_push(change_queue_t *q, const change_t *c) __attribute__((warn_unused_result));

/* change_queue_params marks up to MAX changes from the head as in flight and
 * fills VALUES with the ones not dropped; returns how many rows that is (0:
 * nothing to send, or *OOM when out of memory). */
size_t change_queue_params(change_queue_t *q, size_t max, const char *values[CHANGE_PARAMS],
                           bool *oom);

/* change_queue_in_flight returns in-flight change I (0-based). */
change_t *change_queue_in_flight(change_queue_t *q, size_t i);
/* change_queue_pop_in_flight drops the in-flight changes from the head. */
void change_queue_pop_in_flight(change_queue_t *q);
/* change_queue_keep_in_flight: the statement failed; the in-flight changes
 * stay at the head to be sent again (callers mark requesters' ones dropped). */
void change_queue_keep_in_flight(change_queue_t *q);

#endif
