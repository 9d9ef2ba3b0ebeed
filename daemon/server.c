/* server.c - owns the event loop and what happens to each request. */
#include "server.h"

#include "admit.h"
#include "batch.h"
#include "change.h"
#include "clock.h"
#include "config_cache.h"
#include "control.h"
#include "curve.h"
#include "db.h"
#include "deadline.h"
#include "dispatch.h"
#include "events.h"
#include "http.h"
#include "ingress.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"
#include "notify.h"
#include "order.h"
#include "order_index.h"
#include "override.h"
#include "store.h"
#include "support.h"
#include "tz.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <zmq.h>

#define SERVER_RECV_PER_PASS 2048     /* then let the database have a turn */
#define SERVER_LOOKUP_MAX 10000       /* GetOrder misses waiting for the database */
#define SERVER_LOOKUP_BATCH 256
#define SERVER_SHUTDOWN_GRACE_MS 30000
#define SERVER_STATUS_EVERY_MS 5000
#define SERVER_DB_CONNECTIONS_MAX 8
#define SERVER_CHANGES_MAX 10000      /* requesters' state changes waiting for a commit */
#define SERVER_CHANGE_BATCH 1024
#define SERVER_CONTROL_PER_PASS 64    /* control requests read in one pass */
#define SERVER_CONTROL_WRITES_MAX 256 /* pauses and resumes waiting for the database */
#define SERVER_RATE_SAMPLES 11        /* one a second: the intake rate over 10 s */

enum { ERROR_BAD_REQUEST = 400, ERROR_NOT_FOUND = 404, ERROR_CONFLICT = 409,
       ERROR_UNAVAILABLE = 503 };

static const db_statement_t server_statements[] = {
    {.name = "insert_batch", .sql = batch_insert_sql, .nparams = BATCH_COLUMNS},
    {.name = "lookup_orders", .sql = batch_lookup_sql, .nparams = 1},
    {.name = "live_orders", .sql = batch_live_sql, .nparams = 0},
    {.name = "change_orders", .sql = change_sql, .nparams = CHANGE_PARAMS},
    {.name = "load_overrides", .sql = override_load_sql, .nparams = 0},
    {.name = "put_override", .sql = override_put_sql, .nparams = 3},
    {.name = "delete_override", .sql = override_delete_sql, .nparams = 1},
};

/* A pause or resume in force in memory, waiting for its row to commit. */
typedef struct control_write {
    struct control_write *next;
    control_ticket_t *ticket;
    uint32_t store_id;
    bool pause;
    uint8_t previous;           /* store_t.override before, put back if the write fails */
    char by[CONTROL_BY_MAX + 1];
} control_write_t;

/* What a request that missed the in-memory index wanted from the database. */
typedef enum lookup_kind { LOOKUP_GET, LOOKUP_READY, LOOKUP_CANCEL } lookup_kind_t;

typedef struct lookup {
    ingress_ticket_t *ticket;
    lookup_kind_t kind;
    char order_id[ORDER_ID_MAX + 1];
} lookup_t;

typedef struct server_stats {
    uint64_t submitted;
    uint64_t changes;
    uint64_t reloads;
    uint64_t reloads_refused;
    uint64_t accepted;
    uint64_t duplicates;
    uint64_t rejected[SLUICE__V1__REASON__NO_RIDERS + 1];
    uint64_t batches;
    uint64_t batch_rows;
    uint64_t batch_failures;
    uint64_t commit_us_total;
    uint64_t commit_us_max;
    metrics_histogram_t ack_latency[2];   /* [0] accepted, [1] rejected */
    metrics_histogram_t commit_latency;
    uint64_t started_ms;                            /* monotonic */
    uint64_t rate_ms[SERVER_RATE_SAMPLES];          /* ring: when ... */
    uint64_t rate_submitted[SERVER_RATE_SAMPLES];   /* ... submitted was this */
    size_t rate_next, rate_count;
} server_stats_t;

/* One PostgreSQL connection and the batch it is committing. Several let one
 * batch execute while another waits for its WAL flush. */
typedef struct server_conn {
    server_t *server;
    db_t *db;
    batch_t *committing;
} server_conn_t;

struct server {
    config_t *cfg;
    store_table_t *stores;
    admit_t *admit;
    deadline_heap_t deadlines;  /* each order's next timer: prep start, dispatch step */
    change_queue_t changes;     /* MarkReady, CancelOrder and dispatch steps to commit */
    dispatch_t *dispatch;       /* rider pools and the orders looking for riders */
    size_t changes_solo;        /* changes to send one per statement, to find one refused */
    void *zmq;
    ingress_t *ingress;
    curve_zap_t *zap;           /* NULL when the ingress is plain (loopback, ipc) */
    events_t *events;           /* PUB of committed state changes */
    http_t *http;
    control_t *control;         /* sluicectl's sockets */
    support_t *support;         /* sluicectl order's lookups, on their own thread */
    override_list_t overrides;  /* store_overrides, as last read or written */
    bool overrides_loaded;      /* read at start, before the live orders */
    bool overrides_in_flight;
    control_write_t *writes;    /* FIFO of pauses and resumes to store */
    control_write_t **writes_tail;
    size_t write_count;
    bool write_in_flight;       /* the head is being written */
    server_conn_t conns[SERVER_DB_CONNECTIONS_MAX];
    size_t conn_count;          /* conns[0] also serves lookups */
    order_index_t *orders;
    batch_queue_t queue;
    order_entry_t **resolving;  /* ids a batch found already stored: look them up */
    size_t resolving_count;
    bool resolve_in_flight;
    lookup_t *lookups;          /* FIFO of GetOrder misses */
    size_t lookup_head, lookup_count;
    size_t lookups_in_flight;   /* taken from the FIFO head by the statement in flight */
    bool last_sent_batch;       /* alternate batches and lookups for fairness */
    bool restored;              /* live orders read back into the schedules */
    bool restore_in_flight;
    bool fatal;                 /* cannot go on (out of memory restoring) */
    int signal_fd;
    bool stopping;
    uint64_t stop_deadline_ms;
    bool ready_notified;
    uint64_t watchdog_every_ms, watchdog_next_ms;
    uint64_t status_next_ms;
    server_stats_t stats;
};

static void s_fail_changes(server_t *s, const char *why);

/* ---- connections ------------------------------------------------------ */

static bool s_db_up(const server_t *s)
{
    for (size_t i = 0; i < s->conn_count; i++)
        if (db_is_up(s->conns[i].db))
            return true;
    return false;
}

static size_t s_committing_orders(const server_t *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->conn_count; i++)
        n += s->conns[i].committing ? s->conns[i].committing->count : 0;
    return n;
}

static uint64_t s_retry_after_ms(const server_t *s)
{
    return db_retry_after_ms(s->conns[0].db, clock_mono_ms());
}

/* ---- replies ---------------------------------------------------------- */

static void s_reply_error(server_t *s, ingress_ticket_t *t, uint32_t code, const char *message)
{
    Sluice__V1__Error error = SLUICE__V1__ERROR__INIT;
    error.code = code;
    error.message = (char *)message;
    Sluice__V1__Reply reply = SLUICE__V1__REPLY__INIT;
    reply.request_id = t->request_id;
    reply.body_case = SLUICE__V1__REPLY__BODY_ERROR;
    reply.error = &error;
    ingress_reply(s->ingress, t, &reply);
}

static void s_reply_ack(server_t *s, ingress_ticket_t *t, Sluice__V1__OrderAck *ack)
{
    metrics_observe_us(&s->stats.ack_latency[ack->decision == SLUICE__V1__DECISION__ACCEPTED ? 0 : 1],
                       clock_mono_us() - t->received_us);
    Sluice__V1__Reply reply = SLUICE__V1__REPLY__INIT;
    reply.request_id = t->request_id;
    reply.body_case = SLUICE__V1__REPLY__BODY_ACK;
    reply.ack = ack;
    ingress_reply(s->ingress, t, &reply);
}

static void s_reply_reject(server_t *s, ingress_ticket_t *t, const char *order_id,
                           Sluice__V1__Reason reason, uint64_t retry_after_ms, const char *detail)
{
    Sluice__V1__OrderAck ack = SLUICE__V1__ORDER_ACK__INIT;
    ack.order_id = (char *)order_id;
    ack.decision = SLUICE__V1__DECISION__REJECTED;
    ack.reason = reason;
    ack.retry_after_ms = retry_after_ms;
    ack.detail = (char *)(detail ? detail : "");
    if (reason <= SLUICE__V1__REASON__NO_RIDERS)
        s->stats.rejected[reason]++;
    s_reply_ack(s, t, &ack);
}

/* s_reject_at_store is s_reply_reject for an order of a known STORE: the
 * store counts the rejection among today's (sluicectl store). */
static void s_reject_at_store(server_t *s, ingress_ticket_t *t, store_t *store,
                              const char *order_id, Sluice__V1__Reason reason,
                              uint64_t retry_after_ms, const char *detail)
{
    if (store)
        store_count_decision(store, clock_wall_ms(), reason);
    s_reply_reject(s, t, order_id, reason, retry_after_ms, detail);
}

static void s_reply_accepted(server_t *s, ingress_ticket_t *t, const order_entry_t *e, bool duplicate)
{
    Sluice__V1__OrderAck ack = SLUICE__V1__ORDER_ACK__INIT;
    ack.order_id = (char *)e->order_id;
    ack.decision = SLUICE__V1__DECISION__ACCEPTED;
    ack.promised_ready_at_ms = e->promised_ready_at_ms;
    ack.promised_delivery_at_ms = e->promised_delivery_at_ms;
    ack.duplicate = duplicate;
    if (duplicate) {
        s->stats.duplicates++;
    } else {
        s->stats.accepted++;
        store_t *store = store_table_find(s->stores, e->store_id);
        if (store)
            store_count_decision(store, clock_wall_ms(), SLUICE__V1__REASON__REASON_NONE);
    }
    s_reply_ack(s, t, &ack);
}

/* s_answer_settled answers a request about an order whose first decision is
 * known: the same content gets that decision again, other content CONFLICT. */
static void s_answer_settled(server_t *s, ingress_ticket_t *t, const order_entry_t *e, bool first)
{
    if (t->fingerprint != e->fingerprint) {
        s_reply_reject(s, t, e->order_id, SLUICE__V1__REASON__CONFLICT, 0,
                       "order_id: already used for an order with different content");
        return;
    }
    s_reply_accepted(s, t, e, !first);
}

/* s_release_waiters answers every waiter of E and frees the tickets. FIRST_IS_NEW:
 * the first waiter submitted the order this commit made durable. */
static void s_release_waiters(server_t *s, order_entry_t *e, bool first_is_new)
{
    bool first = first_is_new;
    while (e->waiters) {
        ingress_ticket_t *t = e->waiters;
        e->waiters = t->next;
        s_answer_settled(s, t, e, first);
        first = false;
        free(t);
    }
}

static void s_fail_waiters(server_t *s, order_entry_t *e, uint64_t retry_after_ms)
{
    while (e->waiters) {
        ingress_ticket_t *t = e->waiters;
        e->waiters = t->next;
        s_reject_at_store(s, t, store_table_find(s->stores, e->store_id), e->order_id,
                          SLUICE__V1__REASON__UNAVAILABLE, retry_after_ms,
                          "database: the commit did not complete; nothing was stored");
        free(t);
    }
}

/* ---- prep schedule ---------------------------------------------------- */

/* s_kitchen_of: the schedule of the store order E was booked in, or NULL. */
static kitchen_t *s_kitchen_of(server_t *s, const order_entry_t *e)
{
    store_t *store = store_table_find(s->stores, e->store_id);
    return store ? store_kitchen(s->stores, store) : NULL;
}

/* s_order_timer arms E's one timer at the earlier of its prep start (while
 * it waits in line) and its next dispatch step; never at or before AFTER_MS,
 * so a pass of the timers always ends. */
static void s_order_timer_after(server_t *s, order_entry_t *e, uint64_t after_ms)
{
    uint64_t due = dispatch_due_ms(e);
    if (e->waiting && e->prep_start_at_ms < due)
        due = e->prep_start_at_ms;
    if (due == UINT64_MAX) {
        deadline_clear(&s->deadlines, e);
        return;
    }
    if (due <= after_ms)
        due = after_ms + 1;
    if (!deadline_set(&s->deadlines, e, due))
        log_error("order %s: failed to set its timer: out of memory", e->order_id);
}

static void s_order_timer(server_t *s, order_entry_t *e)
{
    s_order_timer_after(s, e, 0);
}

/* s_prep_started: E's slot has started it, so it no longer waits in line. */
static void s_prep_started(server_t *s, order_entry_t *e)
{
    if (e->waiting) {
        e->waiting = false;
        kitchen_t *k = s_kitchen_of(s, e);
        if (k && k->waiting)
            k->waiting--;
    }
    s_order_timer(s, e);
}

/* s_release_booking gives back the slot time of an order that will not be
 * made: its commit failed, or it was cancelled before it was ready. */
static void s_release_booking(server_t *s, order_entry_t *e, uint64_t now_ms)
{
    s_prep_started(s, e);
    kitchen_t *k = s_kitchen_of(s, e);
    if (k)
        kitchen_cancel(k, e->prep_slot, e->prep_start_at_ms, e->promised_ready_at_ms, now_ms);
}

static void s_step_deadlines(server_t *s)
{
    uint64_t now = clock_wall_ms();
    order_entry_t *e;
    while ((e = deadline_pop_due(&s->deadlines, now)) != NULL) {
        if (e->waiting && e->prep_start_at_ms <= now)
            s_prep_started(s, e);
        if (dispatch_due_ms(e) <= now)
            dispatch_run(s->dispatch, e, now);
        s_order_timer_after(s, e, now);
    }
}

/* ---- submit ----------------------------------------------------------- */

static void s_handle_submit(server_t *s, ingress_ticket_t *t, const Sluice__V1__SubmitOrder *o)
{
    char detail[ORDER_DETAIL_MAX];
    const char *order_id = o->order_id ? o->order_id : "";
    s->stats.submitted++;
    if (!order_validate(o, detail, sizeof detail)) {
        s_reply_reject(s, t, order_id, SLUICE__V1__REASON__INVALID, 0, detail);
        free(t);
        return;
    }
    t->fingerprint = order_fingerprint(o);

    /* Idempotency first: a repeat gets the first decision even if the store
     * has since filled up or the database is away. */
    order_entry_t *e = order_index_find(s->orders, order_id);
    if (e && e->pending) {
        ingress_ticket_t **tail = &e->waiters;
        while (*tail)
            tail = &(*tail)->next;
        t->next = NULL;
        *tail = t;
        return;
    }
    if (e) {
        s_answer_settled(s, t, e, false);
        free(t);
        return;
    }

    store_t *store = store_table_find(s->stores, o->store_id);
    if (!store) {
        snprintf(detail, sizeof detail, "store_id: no store %" PRIu32 " is configured", o->store_id);
        s_reply_reject(s, t, order_id, SLUICE__V1__REASON__UNKNOWN_STORE, 0, detail);
        free(t);
        return;
    }
    uint64_t riders_retry_ms = 0;
    if (store->cfg && !dispatch_can_deliver(s->dispatch, store->cfg, &riders_retry_ms)) {
        s_reject_at_store(s, t, store, order_id, SLUICE__V1__REASON__NO_RIDERS, riders_retry_ms,
                          "platforms: every platform of the store is unavailable or full");
        free(t);
        return;
    }
    if (!s_db_up(s)) {
        s_reject_at_store(s, t, store, order_id, SLUICE__V1__REASON__UNAVAILABLE,
                          s_retry_after_ms(s), "database: unreachable, retry later");
        free(t);
        return;
    }
    admit_order_in_t in = {
        .drinks = order_drink_count(o),
        .dropoff_lat = o->dropoff->lat,
        .dropoff_lng = o->dropoff->lng,
        .pending = s->queue.orders + s_committing_orders(s),
        .now_ms = clock_wall_ms(),
        .now_us = clock_mono_us(),
    };
    admit_result_t admit;
    if (!admit_order(s->admit, s->stores, store, &in, &admit)) {
        s_reject_at_store(s, t, store, order_id, admit.reason, admit.retry_after_ms, admit.detail);
        free(t);
        return;
    }

    e = order_index_add(s->orders, order_id);
    if (!e) {
        order_entry_t booked = {
            .store_id = o->store_id, .prep_slot = admit.plan.slot,
            .prep_start_at_ms = admit.plan.start_ms, .promised_ready_at_ms = admit.plan.ready_ms,
            .waiting = admit.plan.start_ms > in.now_ms,
        };
        s_release_booking(s, &booked, in.now_ms);
        s_reject_at_store(s, t, store, order_id, SLUICE__V1__REASON__OVERLOADED,
                          (uint64_t)s->cfg->daemon.overloaded_retry_ms, "daemon: out of memory");
        free(t);
        return;
    }
    e->fingerprint = t->fingerprint;
    e->store_id = o->store_id;
    e->state = ORDER_ACCEPTED;
    e->pending = true;
    e->prep_slot = admit.plan.slot;
    e->prep_start_at_ms = admit.plan.start_ms;
    e->promised_ready_at_ms = admit.plan.ready_ms;
    e->promised_delivery_at_ms = admit.promised_delivery_at_ms;
    e->waiting = admit.plan.start_ms > in.now_ms;
    e->dropoff_lat = o->dropoff->lat;
    e->dropoff_lng = o->dropoff->lng;
    e->drinks = (uint16_t)in.drinks;
    t->next = NULL;
    e->waiters = t;
    bool timed = !e->waiting || deadline_set(&s->deadlines, e, e->prep_start_at_ms);
    if (!timed || !batch_queue_add(&s->queue, e, o)) {
        log_error("failed to queue order %s for commit: out of memory", order_id);
        e->waiters = NULL;
        s_release_booking(s, e, in.now_ms);
        order_index_remove(s->orders, e);
        s_reject_at_store(s, t, store, order_id, SLUICE__V1__REASON__OVERLOADED,
                          (uint64_t)s->cfg->daemon.overloaded_retry_ms, "daemon: out of memory");
        free(t);
    }
}

/* ---- group commit ----------------------------------------------------- */

static void s_batch_failed(server_t *s, batch_t *b, const char *why)
{
    uint64_t retry = s_retry_after_ms(s);
    uint64_t now = clock_wall_ms();
    /* Newest first: each release then finds its order last on its slot. */
    for (size_t i = b->count; i-- > 0;) {
        order_entry_t *e = b->entries[i];
        s_release_booking(s, e, now);
        s_fail_waiters(s, e, retry);
        order_index_remove(s->orders, e);
    }
    s->stats.batch_failures++;
    log_warning("failed to commit a batch of %zu orders: %s; answered UNAVAILABLE", b->count, why);
}

static void s_batch_done(void *arg, const PGresult *res, const db_error_t *err)
{
    server_conn_t *conn = arg;
    server_t *s = conn->server;
    batch_t *b = conn->committing;
    conn->committing = NULL;
    uint64_t now_us = clock_mono_us();
    uint64_t took = now_us - b->sent_us;
    shed_observe(admit_shed(s->admit), b->sent_us - b->opened_us, took, b->count,
                 s->queue.orders + s_committing_orders(s), now_us);
    s->stats.commit_us_total += took;
    metrics_observe_us(&s->stats.commit_latency, took);
    if (took > s->stats.commit_us_max)
        s->stats.commit_us_max = took;

    if (err) {
        char why[300];
        snprintf(why, sizeof why, "%s%s%s", err->sqlstate, err->sqlstate[0] ? " " : "",
                 err->message);
        s_batch_failed(s, b, why);
        batch_queue_release(&s->queue, b);
        return;
    }
    uint64_t now_wall = clock_wall_ms();
    s->stats.batches++;
    s->stats.batch_rows += b->count;
    /* Committed: every returned id is new and durable now. */
    for (int row = 0; row < PQntuples(res); row++) {
        order_entry_t *e = order_index_find(s->orders, PQgetvalue(res, row, 0));
        if (!e || !e->pending)
            continue;
        e->pending = false;
        e->updated_at_ms = now_wall;
        dispatch_plan(s->dispatch, e);
        s_order_timer(s, e);
        s_release_waiters(s, e, true);
        events_publish(s->events, e, NULL);
    }
    /* The rest were stored before this process knew of them: their first
     * decision is in the database. */
    for (size_t i = b->count; i-- > 0;)
        if (b->entries[i]->pending) {
            s_release_booking(s, b->entries[i], now_wall);
            s->resolving[s->resolving_count++] = b->entries[i];
        }
    batch_queue_release(&s->queue, b);
}

/* s_id_array writes the ids as a text[] literal; validated ids need no
 * escaping. The caller frees it. */
static char *s_id_array(size_t n, const char *(*id_at)(const server_t *, size_t), const server_t *s)
{
    char *ids = malloc(n * (ORDER_ID_MAX + 1) + 3);
    if (!ids)
        return NULL;
    size_t len = 0;
    ids[len++] = '{';
    for (size_t i = 0; i < n; i++) {
        const char *id = id_at(s, i);
        size_t k = strlen(id);
        if (i)
            ids[len++] = ',';
        memcpy(ids + len, id, k);
        len += k;
    }
    ids[len++] = '}';
    ids[len] = '\0';
    return ids;
}

/* s_send_id_lookup runs lookup_orders for N ids on connection 0; DONE gets
 * the rows, or a connection-lost error when the statement could not go out. */
static void s_send_id_lookup(server_t *s, size_t n, const char *(*id_at)(const server_t *, size_t),
                             db_done_fn *done)
{
    char *ids = s_id_array(n, id_at, s);
    const char *values[1] = {ids};
    if (!ids || !db_send(s->conns[0].db, "lookup_orders", 1, values, done, s)) {
        db_error_t err = {.connection_lost = true};
        done(s, NULL, &err);
    }
    free(ids);
}

static void s_settle_from_database(order_entry_t *e, const batch_stored_t *stored)
{
    e->pending = false;
    e->fingerprint = stored->fingerprint;
    e->store_id = stored->store_id;
    e->state = (uint8_t)stored->state;
    e->promised_ready_at_ms = stored->promised_ready_at_ms;
    e->promised_delivery_at_ms = stored->promised_delivery_at_ms;
    e->updated_at_ms = stored->updated_at_ms;
    e->prep_slot = stored->prep_slot;
    e->prep_start_at_ms = stored->prep_start_at_ms;
    e->dropoff_lat = stored->dropoff_lat;
    e->dropoff_lng = stored->dropoff_lng;
    e->drinks = stored->drinks;
    e->attempts = stored->attempts;
}

static void s_resolve_done(void *arg, const PGresult *res, const db_error_t *err)
{
    server_t *s = arg;
    s->resolve_in_flight = false;
    for (int row = 0; res && row < PQntuples(res); row++) {
        batch_stored_t stored;
        if (!batch_stored_read(res, row, &stored))
            continue;
        order_entry_t *e = order_index_find(s->orders, stored.order_id);
        if (!e || !e->pending)
            continue;
        s_settle_from_database(e, &stored);
        s_release_waiters(s, e, false);
    }
    /* Not found: the id's holder was a concurrent writer that rolled back,
     * or the lookup failed. Either way, nothing of this request is stored. */
    uint64_t retry = err ? s_retry_after_ms(s)
                         : (uint64_t)s->cfg->daemon.unavailable_retry_ms;
    for (size_t i = 0; i < s->resolving_count; i++) {
        order_entry_t *e = s->resolving[i];
        if (!e->pending)
            continue;
        s_fail_waiters(s, e, retry);
        order_index_remove(s->orders, e);
    }
    s->resolving_count = 0;
}

static const char *s_resolving_id(const server_t *s, size_t i)
{
    return s->resolving[i]->order_id;
}

static bool s_send_resolve(server_t *s)
{
    if (s->resolving_count == 0 || s->resolve_in_flight)
        return false;
    s->resolve_in_flight = true;
    s_send_id_lookup(s, s->resolving_count, s_resolving_id, s_resolve_done);
    return true;
}

static bool s_send_batch(server_t *s, server_conn_t *conn)
{
    batch_t *b = batch_queue_pop(&s->queue);
    if (!b)
        return false;
    const char *values[BATCH_COLUMNS];
    b->sent_us = clock_mono_us();
    conn->committing = b;
    if (!batch_params(b, values) || !db_send(conn->db, "insert_batch", BATCH_COLUMNS, values, s_batch_done, conn)) {
        conn->committing = NULL;
        s_batch_failed(s, b, "could not send the statement");
        batch_queue_release(&s->queue, b);
    }
    return true;
}

/* ---- GetOrder --------------------------------------------------------- */

static void s_reply_status(server_t *s, ingress_ticket_t *t, const char *order_id, uint32_t store_id,
                           const char *state, uint64_t ready, uint64_t delivery, uint64_t updated)
{
    Sluice__V1__OrderStatus st = SLUICE__V1__ORDER_STATUS__INIT;
    st.order_id = (char *)order_id;
    st.store_id = store_id;
    st.state = (char *)state;
    st.promised_ready_at_ms = ready;
    st.promised_delivery_at_ms = delivery;
    st.updated_at_ms = updated;
    Sluice__V1__Reply reply = SLUICE__V1__REPLY__INIT;
    reply.request_id = t->request_id;
    reply.body_case = SLUICE__V1__REPLY__BODY_STATUS;
    reply.status = &st;
    ingress_reply(s->ingress, t, &reply);
}

/* s_lookup_later asks the database about an order the index does not hold:
 * it was never seen, or it ended before this process started. */
static void s_lookup_later(server_t *s, ingress_ticket_t *t, lookup_kind_t kind, const char *order_id)
{
    if (!db_is_up(s->conns[0].db) || s->lookup_count >= SERVER_LOOKUP_MAX) {
        s_reply_error(s, t, ERROR_UNAVAILABLE, "database: unreachable or busy, retry later");
        free(t);
        return;
    }
    size_t at = (s->lookup_head + s->lookup_count) % SERVER_LOOKUP_MAX;
    s->lookups[at].ticket = t;
    s->lookups[at].kind = kind;
    snprintf(s->lookups[at].order_id, sizeof s->lookups[at].order_id, "%s", order_id);
    s->lookup_count++;
}

static void s_handle_get(server_t *s, ingress_ticket_t *t, const Sluice__V1__GetOrder *g)
{
    const char *order_id = g->order_id ? g->order_id : "";
    if (!order_id_valid(order_id)) {
        s_reply_error(s, t, ERROR_BAD_REQUEST, "get.order_id: 1..64 chars of [A-Za-z0-9._:-]");
        free(t);
        return;
    }
    const order_entry_t *e = order_index_find(s->orders, order_id);
    if (e) {
        s_reply_status(s, t, e->order_id, e->store_id,
                       e->pending ? "RECEIVED" : order_state_name((order_state_t)e->state),
                       e->promised_ready_at_ms, e->promised_delivery_at_ms, e->updated_at_ms);
        free(t);
        return;
    }
    s_lookup_later(s, t, LOOKUP_GET, order_id);
}

/* s_left_kitchen: a rider has the order, so it was ready. A MarkReady from
 * a POS that taps late is then a repeat, answered with the status. */
static bool s_left_kitchen(order_state_t st)
{
    return st == ORDER_PICKED_UP || st == ORDER_DELIVERED;
}

static void s_lookups_done(void *arg, const PGresult *res, const db_error_t *err)
{
    server_t *s = arg;
    size_t n = s->lookups_in_flight;
    s->lookups_in_flight = 0;
    for (size_t i = 0; i < n; i++) {
        lookup_t *l = &s->lookups[s->lookup_head];
        s->lookup_head = (s->lookup_head + 1) % SERVER_LOOKUP_MAX;
        s->lookup_count--;
        batch_stored_t stored;
        bool found = false;
        for (int r = 0; res && !found && r < PQntuples(res); r++)
            found = batch_stored_read(res, r, &stored) && strcmp(stored.order_id, l->order_id) == 0;
        char why[ORDER_DETAIL_MAX + 64];
        if (err)
            s_reply_error(s, l->ticket, ERROR_UNAVAILABLE, "database: lookup failed, retry later");
        else if (!found)
            s_reply_error(s, l->ticket, ERROR_NOT_FOUND, "order not found");
        else if (l->kind != LOOKUP_GET &&
                 stored.state != (l->kind == LOOKUP_READY ? ORDER_READY : ORDER_CANCELLED) &&
                 !(l->kind == LOOKUP_READY && s_left_kitchen(stored.state))) {
            /* Every live order is in memory, so a stored one found here has
             * ended; one already in the asked-for state (or delivered, for a
             * late MarkReady) is a repeat and gets its status, as it would
             * from memory. */
            snprintf(why, sizeof why, "order %s is %s; it cannot be %s", l->order_id,
                     order_state_name(stored.state),
                     l->kind == LOOKUP_READY ? "marked ready" : "cancelled");
            s_reply_error(s, l->ticket, ERROR_CONFLICT, why);
        } else
            s_reply_status(s, l->ticket, l->order_id, stored.store_id,
                           order_state_name(stored.state), stored.promised_ready_at_ms,
                           stored.promised_delivery_at_ms, stored.updated_at_ms);
        free(l->ticket);
        l->ticket = NULL;
    }
}

static const char *s_lookup_id(const server_t *s, size_t i)
{
    return s->lookups[(s->lookup_head + i) % SERVER_LOOKUP_MAX].order_id;
}

static bool s_send_lookups(server_t *s)
{
    if (s->lookup_count == 0)
        return false;
    size_t n = s->lookup_count < SERVER_LOOKUP_BATCH ? s->lookup_count : SERVER_LOOKUP_BATCH;
    s->lookups_in_flight = n;
    s_send_id_lookup(s, n, s_lookup_id, s_lookups_done);
    return true;
}

/* ---- MarkReady and CancelOrder ---------------------------------------- */

static bool s_is_terminal(order_state_t st)
{
    return st == ORDER_DELIVERED || st == ORDER_CANCELLED || st == ORDER_FAILED;
}

static bool s_change_allowed(order_state_t from, order_state_t to)
{
    if (to == ORDER_READY)  /* a rider may be on the way already: READY is then an event */
        return from == ORDER_ACCEPTED || from == ORDER_PREPARING || from == ORDER_DISPATCHING ||
               from == ORDER_RIDER_ASSIGNED;
    if (to == ORDER_CANCELLED)
        return !s_is_terminal(from);
    return false;
}

static void s_reply_entry_status(server_t *s, ingress_ticket_t *t, const order_entry_t *e)
{
    s_reply_status(s, t, e->order_id, e->store_id,
                   e->pending ? "RECEIVED" : order_state_name((order_state_t)e->state),
                   e->promised_ready_at_ms, e->promised_delivery_at_ms, e->updated_at_ms);
}

static void s_handle_change(server_t *s, ingress_ticket_t *t, const char *field,
                            const char *order_id, order_state_t to, const char *reason)
{
    char why[ORDER_DETAIL_MAX + 64], detail[ORDER_DETAIL_MAX];
    if (!order_id_valid(order_id)) {
        snprintf(why, sizeof why, "%s: 1..64 chars of [A-Za-z0-9._:-]", field);
        s_reply_error(s, t, ERROR_BAD_REQUEST, why);
        free(t);
        return;
    }
    if (to == ORDER_READY) {
        snprintf(detail, sizeof detail, "marked ready by the store");
    } else if (!order_cancel_detail(reason, detail, sizeof detail)) {
        s_reply_error(s, t, ERROR_BAD_REQUEST, "cancel.reason: must be UTF-8 text");
        free(t);
        return;
    }
    order_entry_t *e = order_index_find(s->orders, order_id);
    if (!e) {
        s_lookup_later(s, t, to == ORDER_READY ? LOOKUP_READY : LOOKUP_CANCEL, order_id);
        return;
    }
    if (e->pending || e->changing) {
        /* Temporary, unlike the 409 below: a retry in a moment succeeds. */
        snprintf(why, sizeof why, "order %s: %s is still being committed; retry shortly", order_id,
                 e->pending ? "its acceptance" : "another change");
        s_reply_error(s, t, ERROR_UNAVAILABLE, why);
        free(t);
        return;
    }
    order_state_t from = (order_state_t)e->state;
    if (from == to || (to == ORDER_READY && (e->marked_ready || s_left_kitchen(from)))) {
        /* a repeat: the POS or the app retried, or the POS tapped late */
        s_reply_entry_status(s, t, e);
        free(t);
        return;
    }
    if (!s_change_allowed(from, to)) {
        snprintf(why, sizeof why, "order %s is %s; it cannot be %s", order_id,
                 order_state_name(from), to == ORDER_READY ? "marked ready" : "cancelled");
        s_reply_error(s, t, ERROR_CONFLICT, why);
        free(t);
        return;
    }
    /* Once a rider is sought, READY is recorded as an event and the order
     * keeps its delivery state. */
    bool keep = to == ORDER_READY && from != ORDER_ACCEPTED && from != ORDER_PREPARING;
    change_t c = {.entry = e, .ticket = t, .to = keep ? from : to, .asked = to,
                  .keep_state = keep, .at_ms = clock_wall_ms()};
    memcpy(c.detail, detail, sizeof c.detail);
    if (!s_db_up(s) || !change_queue_push(&s->changes, &c)) {
        s_reply_error(s, t, ERROR_UNAVAILABLE, "database: unreachable or busy, retry later");
        free(t);
        return;
    }
    e->changing = true;
    e->cancel_pending = to == ORDER_CANCELLED;
}

/* s_apply_change: a requester's change committed; now memory, the schedule
 * and the dispatch follow. */
static void s_apply_change(server_t *s, const change_t *c, uint64_t updated_ms)
{
    order_entry_t *e = c->entry;
    order_state_t from = (order_state_t)e->state;
    e->updated_at_ms = updated_ms;
    s->stats.changes++;
    kitchen_t *k = s_kitchen_of(s, e);
    if (c->asked == ORDER_READY) {
        /* The dispatch engine may have moved the order on meanwhile. */
        if (from == ORDER_ACCEPTED || from == ORDER_PREPARING)
            e->state = ORDER_READY;
        e->marked_ready = true;
        s_prep_started(s, e);
        if (k)
            kitchen_ready(k, e->prep_slot, e->promised_ready_at_ms, c->at_ms);
        dispatch_marked_ready(s->dispatch, e, c->at_ms);
        return;
    }
    e->state = ORDER_CANCELLED;
    /* Still in the kitchen (a rider may be on the way already): give the
     * prep time back. */
    if (!e->marked_ready && from != ORDER_READY && from != ORDER_PICKED_UP)
        s_release_booking(s, e, c->at_ms);
    dispatch_cancelled(s->dispatch, e);
}

/* s_change_settled: change C committed (at UPDATED_MS) or failed (ROW < 0). */
static void s_change_settled(server_t *s, change_t *c, bool committed, uint64_t updated_ms)
{
    order_entry_t *e = c->entry;
    if (c->engine) {
        if (committed) {
            e->updated_at_ms = updated_ms;
            events_publish(s->events, e, c->detail);
            dispatch_committed(s->dispatch, c);
        }
        return;
    }
    if (c->dropped)
        return;
    e->changing = false;
    e->cancel_pending = false;
    if (committed) {
        s_apply_change(s, c, updated_ms);
        events_publish(s->events, e, c->detail);
    }
    if (c->ticket) {
        if (committed)
            s_reply_entry_status(s, c->ticket, e);
        else
            s_reply_error(s, c->ticket, ERROR_UNAVAILABLE,
                          "database: the change may not have been recorded; retry (a repeat is safe)");
        free(c->ticket);
        c->ticket = NULL;
    }
    c->dropped = !committed;
}

static void s_changes_done(void *arg, const PGresult *res, const db_error_t *err)
{
    server_t *s = arg;
    int rows = res && !err ? PQntuples(res) : 0;
    for (size_t i = 0; i < s->changes.in_flight; i++) {
        change_t *c = change_queue_in_flight(&s->changes, i);
        int row = -1;
        for (int r = 0; r < rows && row < 0; r++)
            if (strcmp(PQgetvalue(res, r, 0), c->entry->order_id) == 0)
                row = r;
        uint64_t updated = row >= 0 ? (uint64_t)strtoll(PQgetvalue(res, row, 1), NULL, 10) : 0;
        s_change_settled(s, c, row >= 0, updated);
    }
    if (s->changes_solo)
        s->changes_solo--;
    if (err && !err->connection_lost && s->changes.in_flight == 1) {
        /* The database refuses this one change itself: keeping it would
         * block every change behind it for good. */
        change_t *c = change_queue_in_flight(&s->changes, 0);
        log_error("order %s: the database refuses a change (%s%s%s); dropped: %s",
                  c->entry->order_id, err->sqlstate, err->sqlstate[0] ? " " : "", err->message,
                  c->detail);
        change_queue_pop_in_flight(&s->changes);
        return;
    }
    if (err) {
        /* Requesters have their answer; the engine's changes are sent again,
         * one per statement if the database refused the run. */
        log_warning("failed to record %zu order changes: %s; the dispatch steps among them will "
                    "be sent again", s->changes.in_flight, err->message);
        if (!err->connection_lost && !s->changes_solo)
            s->changes_solo = s->changes.in_flight;
        change_queue_keep_in_flight(&s->changes);
        return;
    }
    change_queue_pop_in_flight(&s->changes);
}

static bool s_send_changes(server_t *s)
{
    if (s->changes.count == 0 || s->changes.in_flight)
        return false;
    const char *values[CHANGE_PARAMS];
    bool oom = false;
    size_t rows = change_queue_params(&s->changes, s->changes_solo ? 1 : SERVER_CHANGE_BATCH,
                                      values, &oom);
    if (rows == 0 && !oom) {  /* only changes already answered */
        change_queue_pop_in_flight(&s->changes);
        return false;
    }
    if (oom || !db_send(s->conns[0].db, "change_orders", CHANGE_PARAMS, values, s_changes_done, s)) {
        db_error_t err = {.connection_lost = true};
        snprintf(err.message, sizeof err.message, "%s", oom ? "out of memory" : "could not send");
        s_changes_done(s, NULL, &err);
    }
    return true;
}

/* s_fail_changes answers the requesters' changes still queued when the
 * database went away; the engine's wait for it. */
static void s_fail_changes(server_t *s, const char *why)
{
    (void)why;
    if (s->changes.in_flight)
        return;
    for (size_t i = 0; i < s->changes.count; i++) {
        change_t *c = change_queue_in_flight(&s->changes, i);
        if (!c->engine)
            s_change_settled(s, c, false, 0);
    }
}

/* ---- dispatching requests --------------------------------------------- */

static void s_handle_request(server_t *s, ingress_ticket_t *t, Sluice__V1__Request *req)
{
    if (!req) {
        s_reply_error(s, t, ERROR_BAD_REQUEST, "request: not a sluice.v1.Request protobuf");
        free(t);
        return;
    }
    switch (req->body_case) {
    case SLUICE__V1__REQUEST__BODY_SUBMIT:
        s_handle_submit(s, t, req->submit);
        break;
    case SLUICE__V1__REQUEST__BODY_GET:
        s_handle_get(s, t, req->get);
        break;
    case SLUICE__V1__REQUEST__BODY_CANCEL:
        s_handle_change(s, t, "cancel.order_id", req->cancel->order_id ? req->cancel->order_id : "",
                        ORDER_CANCELLED, req->cancel->reason);
        break;
    case SLUICE__V1__REQUEST__BODY_READY:
        s_handle_change(s, t, "ready.order_id", req->ready->order_id ? req->ready->order_id : "",
                        ORDER_READY, NULL);
        break;
    default:
        s_reply_error(s, t, ERROR_BAD_REQUEST,
                      "request: no body (expected submit, cancel, ready or get)");
        free(t);
        break;
    }
}

/* ---- restart: the live orders come back ------------------------------ */

/* s_restore_kitchen books a restored order's prep slot again while it may
 * still be in the kitchen (a rider may be sought before it is ready). */
static void s_restore_kitchen(server_t *s, order_entry_t *e, uint64_t now)
{
    order_state_t st = (order_state_t)e->state;
    bool in_kitchen = st == ORDER_ACCEPTED || st == ORDER_PREPARING ||
                      ((st == ORDER_DISPATCHING || st == ORDER_RIDER_ASSIGNED) &&
                       e->promised_ready_at_ms > now);
    kitchen_t *k = in_kitchen ? s_kitchen_of(s, e) : NULL;
    if (!k)
        return;  /* done cooking, or the store left the config: no schedule to keep */
    kitchen_restore(k, e->prep_slot, e->promised_ready_at_ms);
    if (e->prep_start_at_ms > now) {
        e->waiting = true;
        k->waiting++;
    }
}

/* s_restore_order puts one order read at start back into the index, its
 * store's schedule and the dispatch engine, so promises made before a crash
 * hold and riders already asked for are followed, not asked for twice. */
static bool s_restore_order(server_t *s, const batch_stored_t *st, uint64_t now)
{
    if (order_index_find(s->orders, st->order_id))
        return true;
    order_entry_t *e = order_index_add(s->orders, st->order_id);
    if (!e)
        return false;
    s_settle_from_database(e, st);
    s_restore_kitchen(s, e, now);
    if (st->has_dispatch && !dispatch_restore_attempt(s->dispatch, e, &st->dispatch))
        return false;
    if (!s_is_terminal((order_state_t)e->state) && !dispatch_restore_done(s->dispatch, e))
        return false;
    s_order_timer(s, e);
    return true;
}

static void s_restore_done(void *arg, const PGresult *res, const db_error_t *err)
{
    server_t *s = arg;
    s->restore_in_flight = false;
    if (err) {
        log_warning("failed to read the live orders back: %s; trying again", err->message);
        return;
    }
    uint64_t now = clock_wall_ms();
    int rows = PQntuples(res);
    for (int row = 0; row < rows; row++) {
        batch_stored_t st;
        if (!batch_stored_read(res, row, &st))
            continue;
        if (!s_restore_order(s, &st, now)) {
            log_error("failed to restore the live orders: out of memory after %d of %d", row, rows);
            s->fatal = true;
            return;
        }
    }
    s->restored = true;
    log_notice("restored %d live orders into the prep schedules", rows);
}

static void s_send_restore(server_t *s)
{
    if (s->restore_in_flight || !db_is_idle(s->conns[0].db))
        return;
    s->restore_in_flight = true;
    if (!db_send(s->conns[0].db, "live_orders", 0, NULL, s_restore_done, s)) {
        db_error_t err = {.connection_lost = true};
        snprintf(err.message, sizeof err.message, "could not send the query");
        s_restore_done(s, NULL, &err);
    }
}

/* ---- reload ------------------------------------------------------------ */

/* Keys that the running process has bound or connected with; a reload that
 * changes them is refused so the operator knows a restart is needed. */
static const char *s_fixed_key_changed(const config_t *old, const config_t *next)
{
    const config_daemon_t *a = &old->daemon, *b = &next->daemon;
    if (strcmp(a->database, b->database) != 0)
        return "daemon.database";
    if (strcmp(a->ingress, b->ingress) != 0)
        return "daemon.ingress";
    if (strcmp(a->events, b->events) != 0)
        return "daemon.events";
    if (strcmp(a->control, b->control) != 0)
        return "daemon.control";
    if (strcmp(a->control_readonly, b->control_readonly) != 0)
        return "daemon.control_readonly";
    if (strcmp(a->control_group, b->control_group) != 0)
        return "daemon.control_group";
    if (strcmp(a->http, b->http) != 0)
        return "daemon.http";
    if (a->max_message_bytes != b->max_message_bytes)
        return "daemon.max_message_bytes";
    if (a->db_connections != b->db_connections)
        return "daemon.db_connections";
    if (a->commit_batch_max != b->commit_batch_max)
        return "daemon.commit_batch_max";
    if (strcmp(a->curve_secret_key_file, b->curve_secret_key_file) != 0)
        return "daemon.curve.secret_key_file";
    return NULL;
}

/* s_reload_refused logs WHY, keeps it in OUT (LEN bytes) for a sluicectl
 * that asked, and returns false. */
static bool s_reload_refused(server_t *s, const char *why, char *out, size_t len)
{
    s->stats.reloads_refused++;
    log_error("reload of %s refused; the running configuration stays:\n%s", s->cfg->path, why);
    snprintf(out, len, "reload of %s refused; the running configuration stays:\n%s", s->cfg->path,
             why);
    notify_ready("reload refused (see the log); running the previous configuration");
    return false;
}

/* s_reload re-reads the config (SIGHUP or sluicectl reload): all of it
 * applies, or none. OUT (LEN bytes) gets the one-line result or why not. */
static bool s_reload(server_t *s, char *out, size_t len)
{
    notify_reloading();
    uint64_t started = clock_mono_ms();
    char *errors = NULL;
    /* Store files unchanged since the running config was read are reused;
     * changed ones may be in the store cache (another file's old text). */
    char cache_buf[PATH_MAX];
    config_load_options_t opts = {.previous = s->cfg,
                                  .cache_dir = config_cache_dir_env(cache_buf, sizeof cache_buf)};
    config_t *next = config_load_with(s->cfg->path, &opts, &errors);
    if (!next) {
        bool r = s_reload_refused(s, errors ? errors : "out of memory", out, len);
        free(errors);
        return r;
    }
    const char *fixed = s_fixed_key_changed(s->cfg, next);
    if (!fixed)
        fixed = dispatch_platforms_changed(s->cfg, next);
    char why[256];
    const char *refused = NULL;
    if (fixed) {
        snprintf(why, sizeof why, "%s: %s cannot change on reload; restart sluiced to apply it",
                 next->path, fixed);
        refused = why;
    } else if (s->zap && !curve_zap_reload(s->zap, next->daemon.curve_client_keys_file)) {
        refused = "daemon.curve.client_keys_file: cannot be read (see above)";
    } else if (!admit_configure(s->admit, next, clock_mono_us())) {
        refused = "out of memory";
    } else if (!store_table_apply(s->stores, next, clock_wall_ms())) {
        if (!admit_configure(s->admit, s->cfg, clock_mono_us()))
            log_error("reload: out of memory restoring the previous limits");
        refused = "out of memory";
    }
    if (refused) {
        config_destroy(&next);
        return s_reload_refused(s, refused, out, len);
    }
    size_t before = s->cfg->store_count;
    dispatch_configure(s->dispatch, next);
    config_destroy(&s->cfg);
    s->cfg = next;
    s->stats.reloads++;
    /* Operators' pauses stand over whatever the file says now. */
    override_apply(&s->overrides, s->stores, "reload");
    snprintf(out, len, "reloaded %s: %zu stores (was %zu), %zu brands, in %" PRIu64 " ms",
             next->path, next->store_count, before, next->brand_count, clock_mono_ms() - started);
    log_notice("%s", out);
    config_cache_report(next, opts.cache_dir, "reload");
    notify_ready(out);
    return true;
}

/* ---- HTTP: /metrics /healthz /readyz ---------------------------------- */

static void s_metrics_page(server_t *s, metrics_page_t *p)
{
    const server_stats_t *st = &s->stats;
    const ingress_stats_t *in = ingress_stats(s->ingress);
    const shed_t *shed = admit_shed(s->admit);
    metrics_counter(p, "sluice_ingress_messages_total", "Frames read from the ingress socket",
                    (double)in->received);
    metrics_counter(p, "sluice_ingress_undecodable_total", "Frames that were not a Request",
                    (double)in->undecodable);
    metrics_counter(p, "sluice_replies_dropped_total", "Replies to peers that were gone or full",
                    (double)in->replies_dropped);
    metrics_family(p, "sluice_curve_handshakes_total", "counter",
                   "CURVE handshakes on the ingress, by result");
    metrics_sample(p, "sluice_curve_handshakes_total", "result=\"allowed\"",
                   s->zap ? (double)curve_zap_allowed(s->zap) : 0);
    metrics_sample(p, "sluice_curve_handshakes_total", "result=\"denied\"",
                   s->zap ? (double)curve_zap_denied(s->zap) : 0);
    metrics_counter(p, "sluice_orders_submitted_total", "SubmitOrder requests",
                    (double)st->submitted);
    metrics_counter(p, "sluice_orders_accepted_total", "Orders accepted and committed",
                    (double)st->accepted);
    metrics_counter(p, "sluice_orders_duplicate_total", "Repeats answered with the first decision",
                    (double)st->duplicates);
    metrics_family(p, "sluice_orders_rejected_total", "counter", "Orders rejected, by reason");
    for (int r = 1; r <= SLUICE__V1__REASON__NO_RIDERS; r++) {
        const ProtobufCEnumValue *v =
            protobuf_c_enum_descriptor_get_value(&sluice__v1__reason__descriptor, r);
        char label[64];
        snprintf(label, sizeof label, "reason=\"%s\"", v ? v->name : "OTHER");
        metrics_sample(p, "sluice_orders_rejected_total", label, (double)st->rejected[r]);
    }
    metrics_counter(p, "sluice_events_published_total", "Order events sent on the PUB socket",
                    (double)events_published(s->events));
    metrics_counter(p, "sluice_order_changes_total", "MarkReady and CancelOrder changes committed",
                    (double)st->changes);
    metrics_counter(p, "sluice_commit_batches_total", "Group commits that succeeded",
                    (double)st->batches);
    metrics_counter(p, "sluice_commit_rows_total", "Orders written by group commits",
                    (double)st->batch_rows);
    metrics_counter(p, "sluice_commit_failures_total", "Group commits that failed",
                    (double)st->batch_failures);
    metrics_family(p, "sluice_config_reloads_total", "counter", "Configuration reloads, by result");
    metrics_sample(p, "sluice_config_reloads_total", "result=\"applied\"", (double)st->reloads);
    metrics_sample(p, "sluice_config_reloads_total", "result=\"refused\"",
                   (double)st->reloads_refused);
    size_t pending = s->queue.orders + s_committing_orders(s);
    uint64_t now_us = clock_mono_us();
    uint64_t oldest = s->queue.head ? now_us - s->queue.head->opened_us : 0;
    for (size_t i = 0; i < s->conn_count; i++)
        if (s->conns[i].committing && now_us - s->conns[i].committing->opened_us > oldest)
            oldest = now_us - s->conns[i].committing->opened_us;
    metrics_gauge(p, "sluice_pending_orders", "Orders admitted and not yet committed",
                  (double)pending);
    metrics_gauge(p, "sluice_oldest_pending_order_age_seconds",
                  "Age of the oldest order waiting for its commit", (double)oldest / 1e6);
    metrics_gauge(p, "sluice_queue_delay_seconds",
                  "Queue delay of the last committed batch's oldest order",
                  (double)shed->queue_delay_us / 1e6);
    metrics_gauge(p, "sluice_shed_limit_orders", "Adaptive limit on pending orders (AIMD)",
                  shed->limit);
    metrics_gauge(p, "sluice_database_up", "1 when a database connection is up",
                  s_db_up(s) ? 1 : 0);
    metrics_gauge(p, "sluice_stores", "Stores in the running configuration",
                  (double)s->cfg->store_count);
    metrics_gauge(p, "sluice_orders_in_memory", "Orders in the in-memory index",
                  (double)order_index_count(s->orders));
    metrics_family(p, "sluice_ack_latency_seconds", "histogram",
                   "From reading a SubmitOrder to sending its ack, by decision");
    metrics_histogram(p, "sluice_ack_latency_seconds", "decision=\"accepted\"",
                      &st->ack_latency[0]);
    metrics_histogram(p, "sluice_ack_latency_seconds", "decision=\"rejected\"",
                      &st->ack_latency[1]);
    metrics_family(p, "sluice_commit_latency_seconds", "histogram",
                   "Group commit statement round trips");
    metrics_histogram(p, "sluice_commit_latency_seconds", NULL, &st->commit_latency);
    metrics_gauge(p, "sluice_order_changes_queued", "State changes waiting for their commit",
                  (double)s->changes.count);
    dispatch_metrics(s->dispatch, p, clock_mono_ms());
}

static int s_http_answer(void *arg, const char *path, http_answer_t *out)
{
    server_t *s = arg;
    out->status = 200;
    out->content_type = "text/plain; charset=utf-8";
    if (strcmp(path, "/metrics") == 0) {
        metrics_page_t page = {0};
        s_metrics_page(s, &page);
        out->content_type = "text/plain; version=0.0.4; charset=utf-8";
        out->body = metrics_page_take(&page, &out->len);
        return out->body != NULL;
    }
    if (strcmp(path, "/healthz") == 0) {
        out->body = strdup("alive\n");
    } else if (strcmp(path, "/readyz") == 0) {
        const char *why = s->stopping ? "not ready: shutting down\n"
                        : !s_db_up(s) ? "not ready: database unreachable\n"
                        : !s->restored ? "not ready: reading live orders back\n"
                        : NULL;
        out->status = why ? 503 : 200;
        out->body = strdup(why ? why : "ready\n");
    } else {
        out->status = 404;
        out->body = strdup("not found: try /metrics, /healthz or /readyz\n");
    }
    return out->body != NULL;
}

/* ---- control: sluicectl's requests ------------------------------------- */

static double s_ms(double seconds)
{
    return isinf(seconds) ? seconds : seconds * 1000.0;
}

static void s_control_platforms(server_t *s, const control_ticket_t *t)
{
    size_t n = dispatch_platform_count(s->dispatch);
    Sluice__Control__V1__Platform rows[DISPATCH_POOLS_MAX];
    Sluice__Control__V1__Platform *ptrs[DISPATCH_POOLS_MAX];
    uint64_t now = clock_mono_ms();
    for (size_t i = 0; i < n && i < DISPATCH_POOLS_MAX; i++) {
        dispatch_platform_t p;
        dispatch_platform_read(s->dispatch, i, now, &p);
        Sluice__Control__V1__Platform *r = &rows[i];
        sluice__control__v1__platform__init(r);
        r->name = (char *)p.name;
        r->adapter = (char *)p.adapter;
        r->link_up = p.link_up;
        r->breaker = (char *)p.breaker;
        r->inflight = p.inflight;
        r->max_inflight = p.max_inflight;
        r->window_requests = p.window_requests;
        r->window_failures = p.window_failures;
        r->error_ratio = p.window_requests ? (double)p.window_failures / (double)p.window_requests
                                           : 0.0;
        r->quote_p99_ms = s_ms(p.quote_p99_s);
        r->dispatch_p99_ms = s_ms(p.dispatch_p99_s);
        r->quotes = p.quotes;
        r->dispatches = p.dispatches;
        r->refusals = p.refusals;
        r->failures = p.failures;
        ptrs[i] = r;
    }
    Sluice__Control__V1__PlatformsReply body = SLUICE__CONTROL__V1__PLATFORMS_REPLY__INIT;
    body.n_platforms = n < DISPATCH_POOLS_MAX ? n : DISPATCH_POOLS_MAX;
    body.platforms = ptrs;
    control_reply_t reply = SLUICE__CONTROL__V1__REPLY__INIT;
    reply.body_case = SLUICE__CONTROL__V1__REPLY__BODY_PLATFORMS;
    reply.platforms = &body;
    control_reply(s->control, t, &reply);
}

/* s_step_rate samples the submitted counter once a second for the 10 s rate. */
static void s_step_rate(server_t *s, uint64_t now)
{
    server_stats_t *st = &s->stats;
    size_t last = (st->rate_next + SERVER_RATE_SAMPLES - 1) % SERVER_RATE_SAMPLES;
    if (st->rate_count && now < st->rate_ms[last] + 1000)
        return;
    st->rate_ms[st->rate_next] = now;
    st->rate_submitted[st->rate_next] = st->submitted;
    st->rate_next = (st->rate_next + 1) % SERVER_RATE_SAMPLES;
    if (st->rate_count < SERVER_RATE_SAMPLES)
        st->rate_count++;
}

static double s_recent_rate(const server_stats_t *st, uint64_t now)
{
    if (st->rate_count == 0)
        return 0;
    size_t oldest = (st->rate_next + SERVER_RATE_SAMPLES - st->rate_count) % SERVER_RATE_SAMPLES;
    uint64_t span = now - st->rate_ms[oldest];
    return span ? (double)(st->submitted - st->rate_submitted[oldest]) * 1000.0 / (double)span : 0;
}

/* s_reason_count fills C with REASON's name and COUNT, for a control reply. */
static Sluice__Control__V1__ReasonCount *s_reason_count(Sluice__Control__V1__ReasonCount *c,
                                                        int reason, uint64_t count)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&sluice__v1__reason__descriptor, reason);
    sluice__control__v1__reason_count__init(c);
    c->reason = (char *)(v ? v->name : "OTHER");
    c->count = count;
    return c;
}

static void s_control_stats(server_t *s, const control_ticket_t *t)
{
    const server_stats_t *st = &s->stats;
    uint64_t now = clock_mono_ms();
    Sluice__Control__V1__ReasonCount counts[SLUICE__V1__REASON__NO_RIDERS];
    Sluice__Control__V1__ReasonCount *ptrs[SLUICE__V1__REASON__NO_RIDERS];
    size_t n = 0;
    for (int r = 1; r <= SLUICE__V1__REASON__NO_RIDERS; r++, n++)
        ptrs[n] = s_reason_count(&counts[n], r, st->rejected[r]);
    Sluice__Control__V1__StatsReply body = SLUICE__CONTROL__V1__STATS_REPLY__INIT;
    uint64_t uptime = now - st->started_ms;
    body.uptime_ms = uptime;
    body.submitted = st->submitted;
    body.submitted_per_second = s_recent_rate(st, now);
    body.submitted_per_second_mean = uptime ? (double)st->submitted * 1000.0 / (double)uptime : 0;
    body.accepted = st->accepted;
    body.duplicates = st->duplicates;
    body.n_rejected = n;
    body.rejected = ptrs;
    body.queue_delay_ms = (double)admit_shed(s->admit)->queue_delay_us / 1000.0;
    body.commit_p50_ms = s_ms(metrics_quantile_seconds(&st->commit_latency, 0.5));
    body.commit_p99_ms = s_ms(metrics_quantile_seconds(&st->commit_latency, 0.99));
    body.commit_mean_ms = s_ms(metrics_mean_seconds(&st->commit_latency));
    body.batches = st->batches;
    body.batch_size_mean = st->batches ? (double)st->batch_rows / (double)st->batches : 0;
    body.pending = s->queue.orders + s_committing_orders(s);
    body.database_up = s_db_up(s);
    body.reloads = st->reloads;
    body.reloads_refused = st->reloads_refused;
    control_reply_t reply = SLUICE__CONTROL__V1__REPLY__INIT;
    reply.body_case = SLUICE__CONTROL__V1__REPLY__BODY_STATS;
    reply.stats = &body;
    control_reply(s->control, t, &reply);
}

static void s_control_store(server_t *s, const control_ticket_t *t, uint32_t id)
{
    store_t *store = store_table_find(s->stores, id);
    const override_t *o = override_find(&s->overrides, id);
    if (!store && !o) {
        control_reply_error(s->control, t, SLUICE__CONTROL__V1__ERROR__CODE__NOT_FOUND,
                            "store %" PRIu32 ": not in the running configuration", id);
        return;
    }
    Sluice__Control__V1__StoreReply body = SLUICE__CONTROL__V1__STORE_REPLY__INIT;
    body.store_id = id;
    body.override_set = o != NULL;
    body.override_paused = o && o->paused;
    body.override_by = (char *)(o ? o->by : "");
    if (store && store->cfg) {
        admit_store_view_t v;
        admit_store_view(s->stores, store, clock_wall_ms(), &v);
        body.configured = true;
        body.name = store->cfg->name ? store->cfg->name : (char *)"";
        body.open_now = v.open_now;
        body.paused = store_paused(store);
        body.config_paused = store->cfg->paused;
        body.prep_slots_now = (uint32_t)v.prep_slots_now;
        body.queue_length = v.queue_length;
        body.promise_possible = v.promise_possible;
        body.promised_wait_ms = v.promised_wait_ms;
        body.max_wait_minutes = (uint32_t)store->cfg->max_wait_minutes;
        body.max_queue = (uint32_t)store->cfg->max_queue;
    }
    char date[16], since[16];
    Sluice__Control__V1__ReasonCount counts[TODAY_REASONS];
    Sluice__Control__V1__ReasonCount *ptrs[TODAY_REASONS];
    const today_t *today = store ? store_today(store, clock_wall_ms()) : NULL;
    if (today) {
        body.timezone = (char *)(store->cfg->timezone ? store->cfg->timezone : "UTC");
        body.today_date = (char *)today_date(today->day, date, sizeof date);
        body.today_since = (char *)today_clock(today->since_s, since, sizeof since);
        body.today_since_midnight = today->since_s == 0;
        body.accepted_today = today->accepted;
        for (size_t i = 0; i < TODAY_REASONS; i++)
            ptrs[i] = s_reason_count(&counts[i], (int)today_reason(i), today->rejected[i]);
        body.n_rejected_today = TODAY_REASONS;
        body.rejected_today = ptrs;
    }
    control_reply_t reply = SLUICE__CONTROL__V1__REPLY__INIT;
    reply.body_case = SLUICE__CONTROL__V1__REPLY__BODY_STORE;
    reply.store = &body;
    control_reply(s->control, t, &reply);
}

/* s_control_pause puts a pause (PAUSE) or a resume in force at once and
 * queues its store_overrides row; the answer waits for the commit, and a
 * failed commit takes it back. Takes T. */
static void s_control_pause(server_t *s, control_ticket_t *t, uint32_t id, bool pause,
                            const char *by)
{
    store_t *store = store_table_find(s->stores, id);
    if (!store || !store->cfg) {
        control_reply_error(s->control, t, SLUICE__CONTROL__V1__ERROR__CODE__NOT_FOUND,
                            "store %" PRIu32 ": not in the running configuration; nothing changed",
                            id);
        free(t);
        return;
    }
    control_write_t *w = s->write_count < SERVER_CONTROL_WRITES_MAX ? calloc(1, sizeof *w) : NULL;
    if (!db_is_up(s->conns[0].db) || !w) {
        control_reply_error(s->control, t, SLUICE__CONTROL__V1__ERROR__CODE__UNAVAILABLE,
                            "database %s: the %s could not be stored, so it would not survive a "
                            "restart; nothing changed, retry later",
                            w ? "unreachable" : "busy", pause ? "pause" : "resume");
        free(w);
        free(t);
        return;
    }
    w->ticket = t;
    w->store_id = id;
    w->pause = pause;
    w->previous = store->override;
    snprintf(w->by, sizeof w->by, "%s", by ? by : "");
    /* A resume removes the override: the config decides again. */
    store->override = pause ? STORE_OVERRIDE_PAUSED : STORE_OVERRIDE_NONE;
    *s->writes_tail = w;
    s->writes_tail = &w->next;
    s->write_count++;
}

static control_write_t *s_write_pop(server_t *s)
{
    control_write_t *w = s->writes;
    s->writes = w->next;
    if (!s->writes)
        s->writes_tail = &s->writes;
    s->write_count--;
    s->write_in_flight = false;
    return w;
}

/* s_write_answer tells the requester of W how it went; frees W. */
static void s_write_answer(server_t *s, control_write_t *w, const db_error_t *err)
{
    store_t *store = store_table_find(s->stores, w->store_id);
    const char *what = w->pause ? "pause" : "resume";
    if (err) {
        if (store)
            store->override = w->previous;
        log_warning("store %" PRIu32 ": %s not stored (%s); taken back", w->store_id, what,
                    err->message);
        control_reply_error(s->control, w->ticket, SLUICE__CONTROL__V1__ERROR__CODE__UNAVAILABLE,
                            "database: the %s could not be stored (%s); nothing changed, retry",
                            what, err->message[0] ? err->message : "connection lost");
    } else {
        if (w->pause && !override_put(&s->overrides, w->store_id, true, w->by))
            log_error("store %" PRIu32 ": failed to remember its override: out of memory",
                      w->store_id);
        if (!w->pause)
            override_remove(&s->overrides, w->store_id);
        bool config_paused = store && store->cfg && store->cfg->paused;
        bool paused = store && store_paused(store);
        char line[256];
        if (w->pause)
            snprintf(line, sizeof line, "store %" PRIu32 " paused by sluicectl override (config "
                     "says paused = %s); new orders get STORE_PAUSED", w->store_id,
                     config_paused ? "true" : "false");
        else
            snprintf(line, sizeof line, "store %" PRIu32 " override removed; %s", w->store_id,
                     paused ? "the config says paused = true, so the store stays paused"
                            : "the store takes orders (config says paused = false)");
        log_notice("%s%s%s", line, w->by[0] ? "; by " : "", w->by);
        Sluice__Control__V1__PauseReply body = SLUICE__CONTROL__V1__PAUSE_REPLY__INIT;
        body.store_id = w->store_id;
        body.paused = paused;
        body.config_paused = config_paused;
        body.message = line;
        control_reply_t reply = SLUICE__CONTROL__V1__REPLY__INIT;
        reply.body_case = SLUICE__CONTROL__V1__REPLY__BODY_PAUSE;
        reply.pause = &body;
        control_reply(s->control, w->ticket, &reply);
    }
    free(w->ticket);
    free(w);
}

static void s_write_done(void *arg, const PGresult *res, const db_error_t *err)
{
    server_t *s = arg;
    (void)res;
    s_write_answer(s, s_write_pop(s), err);
}

static bool s_send_write(server_t *s)
{
    if (!s->writes || s->write_in_flight)
        return false;
    control_write_t *w = s->writes;
    char id[16];
    snprintf(id, sizeof id, "%" PRIu32, w->store_id);
    const char *values[3] = {id, "true", w->by};
    s->write_in_flight = true;
    bool sent = w->pause ? db_send(s->conns[0].db, "put_override", 3, values, s_write_done, s)
                         : db_send(s->conns[0].db, "delete_override", 1, values, s_write_done, s);
    if (!sent) {
        db_error_t err = {.connection_lost = true};
        snprintf(err.message, sizeof err.message, "could not send the statement");
        s_write_done(s, NULL, &err);
    }
    return true;
}

/* s_fail_writes answers the pauses and resumes still queued when the
 * database went away. */
static void s_fail_writes(server_t *s)
{
    db_error_t err = {.connection_lost = true};
    snprintf(err.message, sizeof err.message, "database connection lost");
    while (s->writes && !s->write_in_flight)
        s_write_answer(s, s_write_pop(s), &err);
}

static void s_control_reload(server_t *s, const control_ticket_t *t)
{
    char result[2048];
    if (s->stopping) {
        control_reply_error(s->control, t, SLUICE__CONTROL__V1__ERROR__CODE__FAILED,
                            "the daemon is shutting down; no reload");
        return;
    }
    if (!s_reload(s, result, sizeof result)) {
        control_reply_error(s->control, t, SLUICE__CONTROL__V1__ERROR__CODE__FAILED, "%s", result);
        return;
    }
    Sluice__Control__V1__ReloadReply body = SLUICE__CONTROL__V1__RELOAD_REPLY__INIT;
    body.message = result;
    control_reply_t reply = SLUICE__CONTROL__V1__REPLY__INIT;
    reply.body_case = SLUICE__CONTROL__V1__REPLY__BODY_RELOAD;
    reply.reload = &body;
    control_reply(s->control, t, &reply);
}

/* s_support_refused answers a lookup the support thread could not take. */
static void s_support_refused(server_t *s, const control_ticket_t *t)
{
    control_reply_error(s->control, t, SLUICE__CONTROL__V1__ERROR__CODE__UNAVAILABLE,
                        "support lookups: %s; read PostgreSQL directly",
                        s->support ? "too many waiting" : "the support thread is not running");
}

/* s_control_store_day hands the store's day to the support thread, in the
 * store's zone from the running config; true when it took T. */
static bool s_control_store_day(server_t *s, control_ticket_t *t,
                                const Sluice__Control__V1__StoreDayRequest *r)
{
    const store_t *store = store_table_find(s->stores, r->store_id);
    const char *zone = store && store->cfg ? store->cfg->timezone : NULL;
    return support_store_day(s->support, t, r->store_id, zone, r->iso_times);
}

/* s_handle_control carries out one checked request; takes T. */
static void s_handle_control(server_t *s, control_ticket_t *t, const control_request_t *req)
{
    switch (req->body_case) {
    case SLUICE__CONTROL__V1__REQUEST__BODY_PLATFORMS:
        s_control_platforms(s, t);
        break;
    case SLUICE__CONTROL__V1__REQUEST__BODY_STATS:
        s_control_stats(s, t);
        break;
    case SLUICE__CONTROL__V1__REQUEST__BODY_STORE:
        s_control_store(s, t, req->store->store_id);
        break;
    case SLUICE__CONTROL__V1__REQUEST__BODY_PAUSE:
        s_control_pause(s, t, req->pause->store_id, true, req->pause->by);
        return;
    case SLUICE__CONTROL__V1__REQUEST__BODY_RESUME:
        s_control_pause(s, t, req->resume->store_id, false, req->resume->by);
        return;
    case SLUICE__CONTROL__V1__REQUEST__BODY_RELOAD:
        s_control_reload(s, t);
        break;
    case SLUICE__CONTROL__V1__REQUEST__BODY_ORDER:
        if (support_order(s->support, t, req->order->order_id, req->order->iso_times))
            return;
        s_support_refused(s, t);
        break;
    case SLUICE__CONTROL__V1__REQUEST__BODY_STORE_DAY:
        if (s_control_store_day(s, t, req->store_day))
            return;
        s_support_refused(s, t);
        break;
    default:  /* control_check let through only the cases above */
        break;
    }
    free(t);
}

/* s_support_store: support_store_fn, the store of an order being looked up. */
static void s_support_store(uint32_t id, const char **zone, const char **name, void *arg)
{
    server_t *s = arg;
    const store_t *store = store_table_find(s->stores, id);
    if (store && store->cfg) {
        *zone = store->cfg->timezone;
        *name = store->cfg->name;
    }
}

static void s_step_control(server_t *s)
{
    for (int i = 0; i < SERVER_CONTROL_PER_PASS; i++) {
        control_ticket_t *t;
        control_request_t *req;
        if (!control_recv(s->control, &t, &req))
            return;
        if (t)
            s_handle_control(s, t, req);
        if (req)
            sluice__control__v1__request__free_unpacked(req, NULL);
    }
}

/* ---- start: the operators' overrides, then the live orders ------------- */

static void s_overrides_done(void *arg, const PGresult *res, const db_error_t *err)
{
    server_t *s = arg;
    s->overrides_in_flight = false;
    if (err) {
        log_warning("failed to read store_overrides: %s; trying again", err->message);
        return;
    }
    if (!override_read(&s->overrides, res)) {
        log_error("failed to read store_overrides: out of memory");
        s->fatal = true;
        return;
    }
    override_apply(&s->overrides, s->stores, "start");
    s->overrides_loaded = true;
}

static void s_send_overrides(server_t *s)
{
    if (s->overrides_in_flight || !db_is_idle(s->conns[0].db))
        return;
    s->overrides_in_flight = true;
    if (!db_send(s->conns[0].db, "load_overrides", 0, NULL, s_overrides_done, s)) {
        db_error_t err = {.connection_lost = true};
        snprintf(err.message, sizeof err.message, "could not send the query");
        s_overrides_done(s, NULL, &err);
    }
}

/* ---- loop steps ------------------------------------------------------- */

static void s_step_ingress(server_t *s)
{
    for (int i = 0; i < SERVER_RECV_PER_PASS; i++) {
        ingress_ticket_t *t = NULL;
        Sluice__V1__Request *req = NULL;
        if (!ingress_recv(s->ingress, &t, &req))
            return;
        s_handle_request(s, t, req);
        if (req)
            sluice__v1__request__free_unpacked(req, NULL);
    }
}

/* s_step_database_send gives every idle connection the next batch (group
 * commit: it holds everything that arrived meanwhile). Connection 0 first
 * serves ids a batch found already stored, then alternates GetOrder lookups
 * and batches when both wait. */
static void s_step_database_send(server_t *s)
{
    server_conn_t *first = &s->conns[0];
    if (!s->overrides_loaded) {
        s_send_overrides(s);
        return;
    }
    if (!s->restored) {
        s_send_restore(s);
        return;
    }
    if (db_is_idle(first->db) && !s_send_write(s) && !s_send_resolve(s) && !s_send_changes(s)) {
        bool lookups_turn = s->lookup_count > 0 && (s->last_sent_batch || !s->queue.head);
        if (lookups_turn && s_send_lookups(s))
            s->last_sent_batch = false;
        else if (s_send_batch(s, first))
            s->last_sent_batch = true;
    }
    for (size_t i = 1; i < s->conn_count; i++)
        if (db_is_idle(s->conns[i].db))
            (void)s_send_batch(s, &s->conns[i]);
}

/* s_step_database_down answers at once everything that waits for a
 * database that is not there, instead of holding clients hostage. */
static void s_step_database_down(server_t *s)
{
    if (!db_is_up(s->conns[0].db)) {
        if (s->lookup_count > 0 && s->lookups_in_flight == 0) {
            db_error_t err = {.connection_lost = true};
            s->lookups_in_flight = s->lookup_count;
            s_lookups_done(s, NULL, &err);
        }
        if (s->resolving_count > 0 && !s->resolve_in_flight) {
            db_error_t err = {.connection_lost = true};
            s_resolve_done(s, NULL, &err);
        }
        s_fail_changes(s, "database connection lost");
        s_fail_writes(s);
    }
    if (s_db_up(s))
        return;
    /* Newest batch first, so that every booking is given back. */
    batch_t *failed = NULL, *b;
    while ((b = batch_queue_pop(&s->queue)) != NULL) {
        b->next = failed;
        failed = b;
    }
    while ((b = failed) != NULL) {
        failed = b->next;
        b->next = NULL;
        s_batch_failed(s, b, "database connection lost");
        batch_queue_release(&s->queue, b);
    }
}

static void s_format_status(server_t *s, char *buf, size_t len)
{
    snprintf(buf, len, "accepted %" PRIu64 ", duplicates %" PRIu64 ", pending %zu, database %s",
             s->stats.accepted, s->stats.duplicates,
             s->queue.orders + s_committing_orders(s), s_db_up(s) ? "up" : "down");
}

static void s_step_notify(server_t *s, uint64_t now)
{
    if (!s->ready_notified && s->restored && s_db_up(s)) {
        s->ready_notified = true;
        char buf[256];
        snprintf(buf, sizeof buf, "ready: ingress %s, database connected",
                 s->cfg->daemon.ingress);
        log_notice("%s", buf);
        notify_ready(buf);
    }
    if (s->watchdog_every_ms && now >= s->watchdog_next_ms) {
        notify_watchdog();
        s->watchdog_next_ms = now + s->watchdog_every_ms;
    }
    if (now >= s->status_next_ms) {
        char buf[256];
        s_format_status(s, buf, sizeof buf);
        notify_status(buf);
        s->status_next_ms = now + SERVER_STATUS_EVERY_MS;
    }
}

static void s_step_signals(server_t *s, uint64_t now)
{
    struct signalfd_siginfo si;
    while (read(s->signal_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGHUP) {
            char result[2048];
            if (!s->stopping)
                (void)s_reload(s, result, sizeof result);
            continue;
        }
        if (!s->stopping) {
            log_notice("%s: no new requests; finishing %zu pending orders",
                       strsignal((int)si.ssi_signo),
                       s->queue.orders + s_committing_orders(s));
            notify_stopping();
            s->stopping = true;
            s->stop_deadline_ms = now + SERVER_SHUTDOWN_GRACE_MS;
        }
    }
}

static bool s_drained(const server_t *s)
{
    return s_committing_orders(s) == 0 && !s->queue.head && s->lookup_count == 0 &&
           s->resolving_count == 0 && s->changes.count == 0 && !s->writes;
}

/* zmq_poll has its own event bits; db speaks poll(2)'s. */
static short s_zmq_events(short poll_events)
{
    return (short)(((poll_events & POLLIN) ? ZMQ_POLLIN : 0) |
                   ((poll_events & POLLOUT) ? ZMQ_POLLOUT : 0));
}

static short s_poll_revents(short zmq_revents)
{
    return (short)(((zmq_revents & ZMQ_POLLIN) ? POLLIN : 0) |
                   ((zmq_revents & ZMQ_POLLOUT) ? POLLOUT : 0) |
                   ((zmq_revents & ZMQ_POLLERR) ? POLLERR : 0));
}

static int s_poll_timeout(server_t *s, uint64_t now)
{
    int timeout = 1000;
    for (size_t i = 0; i < s->conn_count; i++) {
        int db_wait = db_timeout_ms(s->conns[i].db, now);
        if (db_wait >= 0 && db_wait < timeout)
            timeout = db_wait;
    }
    if (s->watchdog_every_ms) {
        uint64_t w = s->watchdog_next_ms > now ? s->watchdog_next_ms - now : 0;
        if (w < (uint64_t)timeout)
            timeout = (int)w;
    }
    /* Work waiting for an idle connection: don't sleep. */
    for (size_t i = 0; i < s->conn_count; i++)
        if (db_is_idle(s->conns[i].db) && s->queue.head)
            timeout = 0;
    if (db_is_idle(s->conns[0].db) && (s->lookup_count || s->resolving_count || s->changes.count ||
                                       s->writes || !s->restored || !s->overrides_loaded))
        timeout = 0;
    int adapters_wait = dispatch_timeout_ms(s->dispatch, now);
    if (adapters_wait >= 0 && adapters_wait < timeout)
        timeout = adapters_wait;
    int http_wait = http_timeout_ms(s->http);
    if (http_wait >= 0 && http_wait < timeout)
        timeout = http_wait;
    uint64_t due = deadline_next(&s->deadlines), wall = clock_wall_ms();
    if (due != UINT64_MAX && (due <= wall || due - wall < (uint64_t)timeout))
        timeout = due <= wall ? 0 : (int)(due - wall);
    return timeout;
}

int server_run(server_t *s)
{
    while (!(s->stopping && s_drained(s)) && !s->fatal) {
        uint64_t now = clock_mono_ms();
        if (s->stopping && now >= s->stop_deadline_ms) {
            log_error("shutdown grace of %d ms passed with orders still uncommitted",
                      SERVER_SHUTDOWN_GRACE_MS);
            break;
        }
        zmq_pollitem_t items[5 + CONTROL_SOCKETS + SERVER_DB_CONNECTIONS_MAX +
                             DISPATCH_POOLS_MAX * ADAPTER_POLL_MAX] = {
            {.socket = ingress_socket(s->ingress),
             .events = s->stopping || !s->restored ? 0 : ZMQ_POLLIN},
            {.fd = s->signal_fd, .events = ZMQ_POLLIN},
        };
        int nitems = 2;
        int zap_item = -1;
        if (s->zap) {
            zap_item = nitems;
            items[nitems++] = (zmq_pollitem_t){.socket = curve_zap_socket(s->zap), .events = ZMQ_POLLIN};
        }
        int http_item = -1;
        if (http_fd(s->http) >= 0) {
            http_item = nitems;
            items[nitems++] = (zmq_pollitem_t){.fd = http_fd(s->http), .events = ZMQ_POLLIN};
        }
        nitems += (int)control_poll(s->control, items + nitems, CONTROL_SOCKETS);
        nitems += (int)support_poll(s->support, items + nitems, 1);
        int db_item[SERVER_DB_CONNECTIONS_MAX];
        for (size_t i = 0; i < s->conn_count; i++) {
            int fd = db_socket(s->conns[i].db);
            db_item[i] = fd >= 0 ? nitems : -1;
            if (fd >= 0)
                items[nitems++] = (zmq_pollitem_t){
                    .fd = fd, .events = s_zmq_events(db_poll_events(s->conns[i].db))};
        }
        nitems += (int)dispatch_poll(s->dispatch, items + nitems,
                                     sizeof items / sizeof items[0] - (size_t)nitems);
        if (zmq_poll(items, nitems, s_poll_timeout(s, now)) < 0 && zmq_errno() != EINTR) {
            log_error("failed to poll: %s", zmq_strerror(zmq_errno()));
            return 1;
        }
        now = clock_mono_ms();
        /* The fixed list of steps of one pass. */
        s_step_signals(s, now);
        if (zap_item >= 0 && items[zap_item].revents)
            curve_zap_step(s->zap);
        for (size_t i = 0; i < s->conn_count; i++)
            db_step(s->conns[i].db, db_item[i] >= 0 ? s_poll_revents(items[db_item[i]].revents) : 0,
                    now);
        s_step_database_down(s);
        dispatch_step(s->dispatch, now);
        s_step_deadlines(s);
        s_step_database_send(s);
        if (!s->stopping && s->restored)
            s_step_ingress(s);
        s_step_control(s);
        support_step(s->support, s->control, s_support_store, s);
        s_step_database_send(s);
        if ((http_item >= 0 && items[http_item].revents) || http_timeout_ms(s->http) == 0)
            http_step(s->http);
        s_step_notify(s, now);
        s_step_rate(s, now);
    }
    double avg = s->stats.batches ? (double)s->stats.batch_rows / (double)s->stats.batches : 0.0;
    double commit_ms = s->stats.batches ? (double)s->stats.commit_us_total / 1000.0 /
                                              (double)s->stats.batches : 0.0;
    log_notice("stopped: accepted %" PRIu64 ", duplicates %" PRIu64 ", batches %" PRIu64
               " (%.1f orders each, commit %.2f ms mean, %.2f ms max), failed batches %" PRIu64
               ", replies dropped %" PRIu64,
               s->stats.accepted, s->stats.duplicates, s->stats.batches, avg, commit_ms,
               (double)s->stats.commit_us_max / 1000.0, s->stats.batch_failures,
               ingress_stats(s->ingress)->replies_dropped);
    /* Give the last acks a moment to leave the socket. */
    ingress_set_linger(s->ingress, 2000);
    return s_drained(s) && !s->fatal ? 0 : 1;
}

/* ---- what the dispatch engine asks of the server ------------------------ */

static bool s_queue_change(void *arg, const change_t *c)
{
    server_t *s = arg;
    return change_queue_push(&s->changes, c);
}

static void s_timer_of(void *arg, order_entry_t *e)
{
    s_order_timer(arg, e);
}

static const config_store_t *s_store_config(void *arg, uint32_t id)
{
    server_t *s = arg;
    store_t *store = store_table_find(s->stores, id);
    return store ? store->cfg : NULL;
}

static void s_breaker_changed(void *arg, const char *platform, const char *state,
                              const char *detail)
{
    server_t *s = arg;
    events_publish_platform(s->events, platform, state, detail);
}

static int s_signal_fd(void)
{
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0)
        return -1;
    return signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
}

server_t *server_new(config_t *cfg)
{
    server_t *s = calloc(1, sizeof *s);
    if (!s) {
        config_destroy(&cfg);
        return NULL;
    }
    s->cfg = cfg;
    s->signal_fd = -1;
    s->writes_tail = &s->writes;
    s->stats.started_ms = clock_mono_ms();
    batch_queue_init(&s->queue, (size_t)cfg->daemon.commit_batch_max);
    s->stores = store_table_new();
    s->admit = admit_new(cfg, clock_mono_us());
    s->orders = order_index_new(1u << 20);
    s->lookups = calloc(SERVER_LOOKUP_MAX, sizeof *s->lookups);
    s->resolving = calloc((size_t)cfg->daemon.commit_batch_max, sizeof *s->resolving);
    s->zmq = zmq_ctx_new();
    if (!s->stores || !s->admit || !s->orders || !s->lookups || !s->resolving || !s->zmq ||
        !store_table_apply(s->stores, cfg, clock_wall_ms()) ||
        !change_queue_init(&s->changes, SERVER_CHANGES_MAX)) {
        log_error("failed to start: out of memory");
        goto fail;
    }
    s->signal_fd = s_signal_fd();
    if (s->signal_fd < 0) {
        log_error("failed to set up signal handling: %s", strerror(errno));
        goto fail;
    }
    char secret[CURVE_KEY_TEXT + 1] = "";
    if (cfg->daemon.curve_secret_key_file[0]) {
        char why[600];
        /* The ZAP handler must be bound before the first handshake. */
        if (!curve_read_secret(cfg->daemon.curve_secret_key_file, secret, why, sizeof why)) {
            log_error("daemon.curve.secret_key_file: %s", why);
            goto fail;
        }
        s->zap = curve_zap_new(s->zmq, cfg->daemon.curve_client_keys_file);
        if (!s->zap)
            goto fail;
    }
    s->ingress = ingress_new(s->zmq, cfg->daemon.ingress, cfg->daemon.max_message_bytes,
                             secret[0] ? secret : NULL);
    memset(secret, 0, sizeof secret);
    if (!s->ingress)
        goto fail;
    s->events = events_new(s->zmq, cfg->daemon.events);
    if (!s->events)
        goto fail;
    s->http = http_new(cfg->daemon.http, s_http_answer, s);
    if (!s->http)
        goto fail;
    s->control = control_new(s->zmq, &cfg->daemon);
    if (!s->control)
        goto fail;
    /* Without it sluicectl reads PostgreSQL itself: not worth refusing to start. */
    s->support = support_new(s->zmq, cfg->daemon.database);
    dispatch_host_t host = {.orders = s->orders, .queue = s_queue_change, .timer = s_timer_of,
                            .store = s_store_config, .breaker = s_breaker_changed, .arg = s};
    s->dispatch = dispatch_new(cfg, s->zmq, &host);
    if (!s->dispatch)
        goto fail;
    s->conn_count = (size_t)cfg->daemon.db_connections;
    if (s->conn_count < 1 || s->conn_count > SERVER_DB_CONNECTIONS_MAX)
        s->conn_count = 1;
    for (size_t i = 0; i < s->conn_count; i++) {
        s->conns[i].server = s;
        s->conns[i].db = db_new(cfg->daemon.database, migrate_latest_version(), server_statements,
                                sizeof server_statements / sizeof server_statements[0],
                                cfg->daemon.reconnect_min_ms, cfg->daemon.reconnect_max_ms);
        if (!s->conns[i].db)
            goto fail;
    }
    s->watchdog_every_ms = notify_watchdog_interval_ms();
    log_notice("listening on %s; connecting to the database", cfg->daemon.ingress);
    log_notice("bound: ingress %s, events %s, http %s, control %s, control_readonly %s",
               ingress_endpoint(s->ingress), events_endpoint(s->events), http_endpoint(s->http),
               control_endpoint(s->control, false), control_endpoint(s->control, true));
    return s;
fail:
    server_destroy(&s);
    return NULL;
}

void server_destroy(server_t **self)
{
    if (!self || !*self)
        return;
    server_t *s = *self;
    for (size_t i = 0; i < s->conn_count; i++) {
        db_destroy(&s->conns[i].db);           /* may fail the statement in flight */
        batch_free(s->conns[i].committing);    /* its entries go with the index */
        s->conns[i].committing = NULL;
    }
    batch_queue_clear(&s->queue);
    for (size_t i = 0; s->lookups && i < s->lookup_count; i++)
        free(s->lookups[(s->lookup_head + i) % SERVER_LOOKUP_MAX].ticket);
    free(s->lookups);
    free(s->resolving);
    for (size_t i = 0; i < s->changes.count; i++)
        free(change_queue_in_flight(&s->changes, i)->ticket);
    while (s->writes) {
        control_write_t *w = s->writes;
        s->writes = w->next;
        free(w->ticket);
        free(w);
    }
    override_list_free(&s->overrides);
    dispatch_destroy(&s->dispatch);   /* before the orders its jobs point at */
    change_queue_free(&s->changes);
    deadline_free(&s->deadlines);
    order_index_destroy(&s->orders);
    ingress_destroy(&s->ingress);
    curve_zap_destroy(&s->zap);
    events_destroy(&s->events);
    http_destroy(&s->http);
    support_destroy(&s->support);
    control_destroy(&s->control);
    if (s->zmq)
        zmq_ctx_term(s->zmq);
    if (s->signal_fd >= 0)
        close(s->signal_fd);
    store_table_destroy(&s->stores);
    admit_destroy(&s->admit);
    tz_reset();
    config_destroy(&s->cfg);
    free(s);
    *self = NULL;
}
