/* support.h - owns the support thread: it answers `sluicectl order ID` and
 * the PostgreSQL half of `sluicectl store ID` (OrderRequest and
 * StoreDayRequest on the control sockets) from a PostgreSQL connection it
 * keeps open, so that a support lookup costs neither a new backend nor a
 * moment of the event loop.
 *
 * The loop hands it a lookup (support_order) and, in support_step, answers
 * the thread's one question of each lookup, the order's store's time zone
 * and name (the running config belongs to the loop), and sends the finished
 * answers. The thread runs the same queries as sluicectl does itself
 * (support_query.c): one read-only snapshot per answer. The two talk over an
 * inproc ZeroMQ PAIR, passing ownership of each lookup with it. */
#ifndef SLUICE_SUPPORT_H
#define SLUICE_SUPPORT_H

#include "control.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#define SUPPORT_LOOKUPS_MAX 64        /* lookups handed over and not yet answered */
#define SUPPORT_RECONNECT_MS 1000     /* after a failed connect, answer UNAVAILABLE for this long */

typedef struct support support_t;

/* support_store_fn tells the thread the zone and name of store STORE_ID as
 * the running config has them (NULL: unknown, then UTC and no name). */
typedef void support_store_fn(uint32_t store_id, const char **zone, const char **name, void *arg);

/* support_new starts the thread on CTX; it connects to CONNINFO (libpq) on
 * its first lookup and again after the connection is lost. NULL (logged)
 * when the thread or its sockets cannot be made. */
support_t *support_new(void *ctx, const char *conninfo) __attribute__((warn_unused_result));

/* support_destroy stops the thread: the lookup it is running finishes (or
 * fails fast), those still waiting are dropped unanswered. NULL is fine. */
void support_destroy(support_t **self);

/* support_poll adds the loop's end of the PAIR to ITEMS (at most MAX) and
 * returns how many it added. */
size_t support_poll(support_t *self, zmq_pollitem_t *items, size_t max);

/* support_order hands the lookup of ORDER_ID to the thread and takes
 * TICKET. ISO_TIMES: ISO 8601 times (for --json). False when
 * SUPPORT_LOOKUPS_MAX are already waiting (or out of memory): TICKET is
 * still the caller's, to answer UNAVAILABLE. */
bool support_order(support_t *self, control_ticket_t *ticket, const char *order_id,
                   bool iso_times);

/* support_store_day hands the read of store STORE_ID's orders (live, and
 * today's in ZONE; NULL: UTC) to the thread; as support_order. */
bool support_store_day(support_t *self, control_ticket_t *ticket, uint32_t store_id,
                       const char *zone, bool iso_times);

/* support_step answers the thread's questions with STORE_FN and sends every
 * finished lookup's reply on CONTROL. Never blocks. */
void support_step(support_t *self, control_t *control, support_store_fn *store_fn, void *arg);

/* support_waiting: lookups handed over and not yet answered. */
size_t support_waiting(const support_t *self);

#endif
