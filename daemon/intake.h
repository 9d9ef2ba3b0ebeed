/* intake.h - owns orders coming in: SubmitOrder (validation, idempotency,
 * the shard, admission, the ack), GetOrder and QueryAvailability, and the
 * group commit that makes each accepted order durable before its ack:
 * batches of orders on any database connection, and then, on connection 0,
 * the ids a batch found already stored ("resolving"), whose first decision
 * is the database's.
 *
 * A batch whose commit's outcome was lost (the connection dropped, or no
 * answer within the statement deadline: it may have committed) is in
 * doubt: its orders stay pending, bookings and waiters kept, until a
 * connection to a primary is up again; then the batch is sent again as
 * batch_resolve_sql, and the ids it did not store now are looked up: the
 * same content with this process's promise was stored by the lost commit
 * and is ACCEPTED as this process's own. Clients wait for that at most
 * daemon.in_doubt_max_ms, and on SIGTERM not at all: then they get
 * UNAVAILABLE saying the outcome is unknown and a resubmission is safe.
 * These are dbwork sources too. It counts what it decides and commits
 * (intake_stats), and tells the watch (watch.h) which stores its decisions
 * and questions touched. */
#ifndef SLUICE_INTAKE_H
#define SLUICE_INTAKE_H

#include "admit.h"
#include "dbwork.h"
#include "dispatch.h"
#include "events.h"
#include "ingress.h"
#include "lease.h"
#include "lookup.h"
#include "metrics.h"
#include "order_index.h"
#include "reload.h"
#include "schedule.h"
#include "store.h"
#include "watch.h"
#include "proto/sluice.pb-c.h"

#include <stddef.h>
#include <stdint.h>

/* Rejections are counted by Reason value, with room for reasons to come;
 * readers list the ones sluice.v1.Reason's descriptor names (intake_reason). */
#define INTAKE_REASON_SLOTS 32

/* QueryAvailability.store_ids per request, at most: answered from memory in
 * well under a millisecond (metric sluice_availability_query_seconds). */
#define INTAKE_QUERY_STORES_MAX 1000

typedef struct intake_stats {
    uint64_t submitted;
    uint64_t accepted;
    uint64_t duplicates;
    uint64_t rejected[INTAKE_REASON_SLOTS];
    uint64_t batches;                     /* group commits that succeeded */
    uint64_t batch_rows;
    uint64_t batch_failures;
    uint64_t batches_in_doubt;            /* commits whose outcome was lost, resolved by id */
    uint64_t commit_us_total;
    uint64_t commit_us_max;
    metrics_histogram_t ack_latency[2];   /* [0] accepted, [1] rejected */
    metrics_histogram_t commit_latency;
    uint64_t queries;                     /* QueryAvailability answered */
    uint64_t queried_stores;              /* stores in them */
    metrics_histogram_t query_latency;    /* a query's service time, read to answer sent */
} intake_stats_t;

/* What intake works with; borrowed, each must outlive it. */
typedef struct intake_with {
    const reload_t *reload;       /* the running config */
    store_table_t *stores;
    admit_t *admit;
    order_index_t *orders;
    schedule_t *schedule;
    dispatch_t *dispatch;
    events_t *events;
    ingress_t *ingress;
    const dbwork_t *dbwork;
    lookup_t *lookup;             /* GetOrder of an order not in memory */
    const lease_t *lease;         /* this node's shard lease; NULL: no shard */
    watch_t *watch;               /* the avail.<store_id> events */
} intake_with_t;

typedef struct intake intake_t;

intake_t *intake_new(const intake_with_t *with) __attribute__((warn_unused_result));
/* intake_destroy frees the batches still queued (not their orders: the
 * index owns those). Destroy the dbwork first, so that a commit in flight
 * has failed. */
void intake_destroy(intake_t **self);

/* intake_submit decides SubmitOrder O of ticket T (taken): answered at once
 * when rejected or a repeat of a settled order; otherwise the ack waits for
 * the commit of the order's batch. */
void intake_submit(intake_t *self, ingress_ticket_t *t, const Sluice__V1__SubmitOrder *o);
/* intake_get answers GetOrder G of ticket T (taken), from memory or later
 * from the database. */
void intake_get(intake_t *self, ingress_ticket_t *t, const Sluice__V1__GetOrder *g);

/* intake_query answers QueryAvailability Q of ticket T (taken) at once,
 * from memory: each store's availability (availability.h), with Q's
 * campaign when it names one. More than INTAKE_QUERY_STORES_MAX stores, or
 * a campaign the config does not have, is an Error naming the field. */
void intake_query(intake_t *self, ingress_ticket_t *t, const Sluice__V1__QueryAvailability *q);

/* intake_pending: orders admitted and not yet committed (queued,
 * committing and in doubt). intake_oldest_pending_us: the age of the oldest
 * at NOW_US (monotonic), 0 when none. intake_in_doubt: orders of batches
 * whose commit's outcome is being resolved. */
size_t intake_pending(const intake_t *self);
uint64_t intake_oldest_pending_us(const intake_t *self, uint64_t now_us);
size_t intake_in_doubt(const intake_t *self);

/* intake_step answers the clients of batches in doubt for longer than
 * daemon.in_doubt_max_ms; intake_timeout_ms: when it is next due (-1:
 * never). */
void intake_step(intake_t *self, uint64_t now_mono_ms);
int intake_timeout_ms(const intake_t *self, uint64_t now_mono_ms);

/* intake_stop, on SIGTERM: batches in doubt that wait for a connection are
 * answered now (outcome unknown), and so is one that loses its outcome
 * from now on; what is committing goes on. intake_abandon, when the node
 * stops serving at once (its lease lost): the same, and the batches not
 * sent yet are answered UNAVAILABLE (nothing was stored). */
void intake_stop(intake_t *self);
void intake_abandon(intake_t *self);

const intake_stats_t *intake_stats(const intake_t *self);

/* intake_reason gives the I-th reason a rejection can have, in the order of
 * sluice.v1.Reason (REASON_NONE left out): its value in *REASON and its
 * name in *NAME. False past the last. */
bool intake_reason(size_t i, int *reason, const char **name);

/* The dbwork sources (ARG: the intake_t): the batches, and the ids to resolve. */
dbwork_waiting_fn intake_batches_waiting;
dbwork_send_fn intake_send_batch;
dbwork_down_fn intake_batches_down;
dbwork_busy_fn intake_batches_busy;
dbwork_waiting_fn intake_resolve_waiting;
dbwork_send_fn intake_send_resolve;
dbwork_down_fn intake_resolve_down;
dbwork_busy_fn intake_resolve_busy;
/* The batches in doubt (ARG: the intake_t), on connection 0 once it is up;
 * nothing is answered when it goes down (they wait for a primary). */
dbwork_waiting_fn intake_doubt_waiting;
dbwork_send_fn intake_send_doubt;
dbwork_busy_fn intake_doubt_busy;

#endif
