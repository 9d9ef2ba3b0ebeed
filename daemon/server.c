/* server.c - owns the event loop and what happens to each request. */
#include "server.h"

#include "admit.h"
#include "batch.h"
#include "clock.h"
#include "db.h"
#include "ingress.h"
#include "log.h"
#include "migrate.h"
#include "notify.h"
#include "order.h"
#include "order_index.h"
#include "store.h"

#include <errno.h>
#include <inttypes.h>
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

enum { ERROR_BAD_REQUEST = 400, ERROR_NOT_FOUND = 404, ERROR_NOT_IMPLEMENTED = 501,
       ERROR_UNAVAILABLE = 503 };

static const db_statement_t server_statements[] = {
    {.name = "insert_batch", .sql = batch_insert_sql, .nparams = BATCH_COLUMNS},
    {.name = "lookup_orders", .sql = batch_lookup_sql, .nparams = 1},
};

typedef struct lookup {
    ingress_ticket_t *ticket;
    char order_id[ORDER_ID_MAX + 1];
} lookup_t;

typedef struct server_stats {
    uint64_t submitted;
    uint64_t accepted;
    uint64_t duplicates;
    uint64_t rejected[SLUICE__V1__REASON__NO_RIDERS + 1];
    uint64_t batches;
    uint64_t batch_rows;
    uint64_t batch_failures;
    uint64_t commit_us_total;
    uint64_t commit_us_max;
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
    void *zmq;
    ingress_t *ingress;
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
    int signal_fd;
    bool stopping;
    uint64_t stop_deadline_ms;
    bool ready_notified;
    uint64_t watchdog_every_ms, watchdog_next_ms;
    uint64_t status_next_ms;
    server_stats_t stats;
};

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

static void s_reply_accepted(server_t *s, ingress_ticket_t *t, const order_entry_t *e, bool duplicate)
{
    Sluice__V1__OrderAck ack = SLUICE__V1__ORDER_ACK__INIT;
    ack.order_id = (char *)e->order_id;
    ack.decision = SLUICE__V1__DECISION__ACCEPTED;
    ack.promised_ready_at_ms = e->promised_ready_at_ms;
    ack.promised_delivery_at_ms = e->promised_delivery_at_ms;
    ack.duplicate = duplicate;
    if (duplicate)
        s->stats.duplicates++;
    else
        s->stats.accepted++;
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
        s_reply_reject(s, t, e->order_id, SLUICE__V1__REASON__UNAVAILABLE, retry_after_ms,
                       "database: the commit did not complete; nothing was stored");
        free(t);
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

    const config_store_t *store = store_table_find(s->stores, o->store_id);
    if (!store) {
        snprintf(detail, sizeof detail, "store_id: no store %" PRIu32 " is configured", o->store_id);
        s_reply_reject(s, t, order_id, SLUICE__V1__REASON__UNKNOWN_STORE, 0, detail);
        free(t);
        return;
    }
    if (!s_db_up(s)) {
        s_reply_reject(s, t, order_id, SLUICE__V1__REASON__UNAVAILABLE,
                       s_retry_after_ms(s), "database: unreachable, retry later");
        free(t);
        return;
    }
    size_t pending = s->queue.orders + s_committing_orders(s);
    if (pending >= (size_t)s->cfg->daemon.max_pending_orders) {
        s_reply_reject(s, t, order_id, SLUICE__V1__REASON__OVERLOADED,
                       (uint64_t)s->cfg->daemon.overloaded_retry_ms,
                       "daemon: commit queue is full");
        free(t);
        return;
    }
    admit_result_t admit;
    if (!admit_order(s->cfg, store, order_drink_count(o), clock_wall_ms(), &admit)) {
        s_reply_reject(s, t, order_id, admit.reason, admit.retry_after_ms, admit.detail);
        free(t);
        return;
    }

    e = order_index_add(s->orders, order_id);
    if (!e) {
        s_reply_reject(s, t, order_id, SLUICE__V1__REASON__OVERLOADED,
                       (uint64_t)s->cfg->daemon.overloaded_retry_ms, "daemon: out of memory");
        free(t);
        return;
    }
    e->fingerprint = t->fingerprint;
    e->store_id = o->store_id;
    e->state = ORDER_ACCEPTED;
    e->pending = true;
    e->promised_ready_at_ms = admit.promised_ready_at_ms;
    e->promised_delivery_at_ms = admit.promised_delivery_at_ms;
    t->next = NULL;
    e->waiters = t;
    if (!batch_queue_add(&s->queue, e, o)) {
        log_error("failed to queue order %s for commit: out of memory", order_id);
        e->waiters = NULL;
        order_index_remove(s->orders, e);
        s_reply_reject(s, t, order_id, SLUICE__V1__REASON__OVERLOADED,
                       (uint64_t)s->cfg->daemon.overloaded_retry_ms, "daemon: out of memory");
        free(t);
    }
}

/* ---- group commit ----------------------------------------------------- */

static void s_batch_failed(server_t *s, batch_t *b, const char *why)
{
    uint64_t retry = s_retry_after_ms(s);
    for (size_t i = 0; i < b->count; i++) {
        order_entry_t *e = b->entries[i];
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
    uint64_t took = clock_mono_us() - b->sent_us;
    s->stats.commit_us_total += took;
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
        s_release_waiters(s, e, true);
    }
    /* The rest were stored before this process knew of them: their first
     * decision is in the database. */
    for (size_t i = 0; i < b->count; i++)
        if (b->entries[i]->pending)
            s->resolving[s->resolving_count++] = b->entries[i];
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
}

static void s_resolve_done(void *arg, const PGresult *res, const db_error_t *err)
{
    server_t *s = arg;
    s->resolve_in_flight = false;
    for (int row = 0; res && row < PQntuples(res); row++) {
        batch_stored_t stored;
        if (!batch_lookup_read(res, row, &stored))
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
    batch_params(b, values);
    b->sent_us = clock_mono_us();
    conn->committing = b;
    if (!db_send(conn->db, "insert_batch", BATCH_COLUMNS, values, s_batch_done, conn)) {
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
    if (!db_is_up(s->conns[0].db) || s->lookup_count >= SERVER_LOOKUP_MAX) {
        s_reply_error(s, t, ERROR_UNAVAILABLE, "database: unreachable or busy, retry later");
        free(t);
        return;
    }
    size_t at = (s->lookup_head + s->lookup_count) % SERVER_LOOKUP_MAX;
    s->lookups[at].ticket = t;
    snprintf(s->lookups[at].order_id, sizeof s->lookups[at].order_id, "%s", order_id);
    s->lookup_count++;
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
            found = batch_lookup_read(res, r, &stored) && strcmp(stored.order_id, l->order_id) == 0;
        if (err)
            s_reply_error(s, l->ticket, ERROR_UNAVAILABLE, "database: lookup failed, retry later");
        else if (!found)
            s_reply_error(s, l->ticket, ERROR_NOT_FOUND, "order not found");
        else
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
    case SLUICE__V1__REQUEST__BODY_READY:
        s_reply_error(s, t, ERROR_NOT_IMPLEMENTED, "request: cancel and ready are not served yet");
        free(t);
        break;
    default:
        s_reply_error(s, t, ERROR_BAD_REQUEST,
                      "request: no body (expected submit, cancel, ready or get)");
        free(t);
        break;
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
    if (db_is_idle(first->db) && !s_send_resolve(s)) {
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
    }
    if (s_db_up(s))
        return;
    batch_t *b;
    while ((b = batch_queue_pop(&s->queue)) != NULL) {
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
    if (!s->ready_notified && s_db_up(s)) {
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
            log_warning("SIGHUP: configuration reload is not implemented yet; "
                        "the running configuration stays");
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
           s->resolving_count == 0;
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
    if (db_is_idle(s->conns[0].db) && (s->lookup_count || s->resolving_count))
        timeout = 0;
    return timeout;
}

int server_run(server_t *s)
{
    while (!(s->stopping && s_drained(s))) {
        uint64_t now = clock_mono_ms();
        if (s->stopping && now >= s->stop_deadline_ms) {
            log_error("shutdown grace of %d ms passed with orders still uncommitted",
                      SERVER_SHUTDOWN_GRACE_MS);
            break;
        }
        zmq_pollitem_t items[2 + SERVER_DB_CONNECTIONS_MAX] = {
            {.socket = ingress_socket(s->ingress), .events = s->stopping ? 0 : ZMQ_POLLIN},
            {.fd = s->signal_fd, .events = ZMQ_POLLIN},
        };
        int nitems = 2;
        int db_item[SERVER_DB_CONNECTIONS_MAX];
        for (size_t i = 0; i < s->conn_count; i++) {
            int fd = db_socket(s->conns[i].db);
            db_item[i] = fd >= 0 ? nitems : -1;
            if (fd >= 0)
                items[nitems++] = (zmq_pollitem_t){
                    .fd = fd, .events = s_zmq_events(db_poll_events(s->conns[i].db))};
        }
        if (zmq_poll(items, nitems, s_poll_timeout(s, now)) < 0 && zmq_errno() != EINTR) {
            log_error("failed to poll: %s", zmq_strerror(zmq_errno()));
            return 1;
        }
        now = clock_mono_ms();
        /* The fixed list of steps of one pass. */
        s_step_signals(s, now);
        for (size_t i = 0; i < s->conn_count; i++)
            db_step(s->conns[i].db, db_item[i] >= 0 ? s_poll_revents(items[db_item[i]].revents) : 0,
                    now);
        s_step_database_down(s);
        s_step_database_send(s);
        if (!s->stopping)
            s_step_ingress(s);
        s_step_database_send(s);
        s_step_notify(s, now);
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
    return s_drained(s) ? 0 : 1;
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
    batch_queue_init(&s->queue, (size_t)cfg->daemon.commit_batch_max);
    s->stores = store_table_new(cfg);
    s->orders = order_index_new(1u << 20);
    s->lookups = calloc(SERVER_LOOKUP_MAX, sizeof *s->lookups);
    s->resolving = calloc((size_t)cfg->daemon.commit_batch_max, sizeof *s->resolving);
    s->zmq = zmq_ctx_new();
    if (!s->stores || !s->orders || !s->lookups || !s->resolving || !s->zmq) {
        log_error("failed to start: out of memory");
        goto fail;
    }
    s->signal_fd = s_signal_fd();
    if (s->signal_fd < 0) {
        log_error("failed to set up signal handling: %s", strerror(errno));
        goto fail;
    }
    s->ingress = ingress_new(s->zmq, cfg->daemon.ingress, cfg->daemon.max_message_bytes);
    if (!s->ingress)
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
    order_index_destroy(&s->orders);
    ingress_destroy(&s->ingress);
    if (s->zmq)
        zmq_ctx_term(s->zmq);
    if (s->signal_fd >= 0)
        close(s->signal_fd);
    store_table_destroy(&s->stores);
    config_destroy(&s->cfg);
    free(s);
    *self = NULL;
}
