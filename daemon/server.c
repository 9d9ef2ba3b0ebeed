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

enum { ERROR_BAD_REQUEST = 400, ERROR_NOT_FOUND = 404, ERROR_NOT_IMPLEMENTED = 501,
       ERROR_UNAVAILABLE = 503 };

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

struct server {
    config_t *cfg;
    store_table_t *stores;
    void *zmq;
    ingress_t *ingress;
    db_t *db;
    order_index_t *orders;
    batch_queue_t queue;
    batch_t *committing;        /* the batch whose commit is in flight */
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

    uint64_t now_mono = clock_mono_ms();
    const config_store_t *store = store_table_find(s->stores, o->store_id);
    if (!store) {
        snprintf(detail, sizeof detail, "store_id: no store %" PRIu32 " is configured", o->store_id);
        s_reply_reject(s, t, order_id, SLUICE__V1__REASON__UNKNOWN_STORE, 0, detail);
        free(t);
        return;
    }
    if (!db_is_up(s->db)) {
        s_reply_reject(s, t, order_id, SLUICE__V1__REASON__UNAVAILABLE,
                       db_retry_after_ms(s->db, now_mono), "database: unreachable, retry later");
        free(t);
        return;
    }
    size_t pending = s->queue.orders + (s->committing ? s->committing->count : 0);
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
    uint64_t retry = db_retry_after_ms(s->db, clock_mono_ms());
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
    server_t *s = arg;
    batch_t *b = s->committing;
    s->committing = NULL;
    uint64_t took = clock_mono_us() - b->sent_us;
    s->stats.commit_us_total += took;
    if (took > s->stats.commit_us_max)
        s->stats.commit_us_max = took;

    if (err) {
        char why[300];
        snprintf(why, sizeof why, "%s%s%s", err->sqlstate[0] ? err->sqlstate : "",
                 err->sqlstate[0] ? " " : "", err->message);
        s_batch_failed(s, b, why);
        batch_queue_release(&s->queue, b);
        return;
    }
    if (PQntuples(res) != (int)b->count) {
        /* Should not happen; the commit may have stored rows, so say
         * UNAVAILABLE: a retry will find them and answer duplicate. */
        s_batch_failed(s, b, "result has the wrong number of rows");
        batch_queue_release(&s->queue, b);
        return;
    }
    uint64_t now_wall = clock_wall_ms();
    s->stats.batches++;
    s->stats.batch_rows += b->count;
    for (size_t i = 0; i < b->count; i++) {
        order_entry_t *e = b->entries[i];
        batch_outcome_t out;
        bool ok = batch_outcome_read(res, (int)i, &out);
        e->pending = false;
        if (ok && out.inserted) {
            e->updated_at_ms = now_wall;
            s_release_waiters(s, e, true);
        } else if (ok && out.existing) {
            /* Stored before this process knew of it (restart): the database's
             * first decision stands. */
            e->fingerprint = out.fingerprint;
            e->store_id = out.store_id;
            e->state = (uint8_t)out.state;
            e->promised_ready_at_ms = out.promised_ready_at_ms;
            e->promised_delivery_at_ms = out.promised_delivery_at_ms;
            e->updated_at_ms = out.updated_at_ms;
            s_release_waiters(s, e, false);
        } else {
            /* Neither inserted nor visible: a concurrent writer holds the id. */
            s_fail_waiters(s, e, (uint64_t)s->cfg->daemon.unavailable_retry_ms);
            order_index_remove(s->orders, e);
        }
    }
    batch_queue_release(&s->queue, b);
}

static bool s_send_batch(server_t *s)
{
    batch_t *b = batch_queue_pop(&s->queue);
    if (!b)
        return false;
    const char *values[BATCH_COLUMNS];
    batch_params(b, values);
    b->sent_us = clock_mono_us();
    s->committing = b;
    if (!db_send(s->db, batch_insert_sql, BATCH_COLUMNS, values, s_batch_done, s)) {
        s->committing = NULL;
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
    if (!db_is_up(s->db) || s->lookup_count >= SERVER_LOOKUP_MAX) {
        s_reply_error(s, t, ERROR_UNAVAILABLE, "database: unreachable or busy, retry later");
        free(t);
        return;
    }
    size_t at = (s->lookup_head + s->lookup_count) % SERVER_LOOKUP_MAX;
    s->lookups[at].ticket = t;
    snprintf(s->lookups[at].order_id, sizeof s->lookups[at].order_id, "%s", order_id);
    s->lookup_count++;
}

static const char lookup_sql[] =
    "SELECT order_id, store_id, state,"
    "       (extract(epoch FROM promised_ready_at) * 1000)::int8,"
    "       (extract(epoch FROM promised_delivery_at) * 1000)::int8,"
    "       (extract(epoch FROM updated_at) * 1000)::int8"
    "  FROM orders WHERE order_id = ANY($1::text[])";

static void s_lookups_done(void *arg, const PGresult *res, const db_error_t *err)
{
    server_t *s = arg;
    size_t n = s->lookups_in_flight;
    s->lookups_in_flight = 0;
    for (size_t i = 0; i < n; i++) {
        lookup_t *l = &s->lookups[s->lookup_head];
        s->lookup_head = (s->lookup_head + 1) % SERVER_LOOKUP_MAX;
        s->lookup_count--;
        int row = -1;
        for (int r = 0; res && r < PQntuples(res); r++)
            if (strcmp(PQgetvalue(res, r, 0), l->order_id) == 0)
                row = r;
        if (err)
            s_reply_error(s, l->ticket, ERROR_UNAVAILABLE, "database: lookup failed, retry later");
        else if (row < 0)
            s_reply_error(s, l->ticket, ERROR_NOT_FOUND, "order not found");
        else
            s_reply_status(s, l->ticket, l->order_id,
                           (uint32_t)strtoul(PQgetvalue(res, row, 1), NULL, 10),
                           PQgetvalue(res, row, 2),
                           strtoull(PQgetvalue(res, row, 3), NULL, 10),
                           strtoull(PQgetvalue(res, row, 4), NULL, 10),
                           strtoull(PQgetvalue(res, row, 5), NULL, 10));
        free(l->ticket);
        l->ticket = NULL;
    }
}

static bool s_send_lookups(server_t *s)
{
    if (s->lookup_count == 0)
        return false;
    size_t n = s->lookup_count < SERVER_LOOKUP_BATCH ? s->lookup_count : SERVER_LOOKUP_BATCH;
    /* Validated ids need no escaping inside the array literal. */
    char *ids = malloc(n * (ORDER_ID_MAX + 1) + 3);
    if (!ids)
        return false;
    size_t len = 0;
    ids[len++] = '{';
    for (size_t i = 0; i < n; i++) {
        const lookup_t *l = &s->lookups[(s->lookup_head + i) % SERVER_LOOKUP_MAX];
        if (i)
            ids[len++] = ',';
        size_t k = strlen(l->order_id);
        memcpy(ids + len, l->order_id, k);
        len += k;
    }
    ids[len++] = '}';
    ids[len] = '\0';
    const char *values[1] = {ids};
    s->lookups_in_flight = n;
    if (!db_send(s->db, lookup_sql, 1, values, s_lookups_done, s)) {
        db_error_t err = {.connection_lost = true};
        s_lookups_done(s, NULL, &err);
    }
    free(ids);
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

/* s_step_database_send keeps exactly one statement in flight: the next
 * batch (group commit: it holds everything that arrived meanwhile) or the
 * waiting lookups, alternating when both wait. */
static void s_step_database_send(server_t *s)
{
    if (!db_is_idle(s->db))
        return;
    bool lookups_turn = s->lookup_count > 0 && (s->last_sent_batch || !s->queue.head);
    if (lookups_turn && s_send_lookups(s)) {
        s->last_sent_batch = false;
        return;
    }
    if (s_send_batch(s))
        s->last_sent_batch = true;
}

/* s_step_database_down answers at once everything that waits for a
 * database that is not there, instead of holding clients hostage. */
static void s_step_database_down(server_t *s)
{
    if (db_is_up(s->db) || s->committing)
        return;
    batch_t *b;
    while ((b = batch_queue_pop(&s->queue)) != NULL) {
        s_batch_failed(s, b, "database connection lost");
        batch_queue_release(&s->queue, b);
    }
    if (s->lookup_count > 0) {
        db_error_t err = {.connection_lost = true};
        s->lookups_in_flight = s->lookup_count;
        s_lookups_done(s, NULL, &err);
    }
}

static void s_format_status(server_t *s, char *buf, size_t len)
{
    snprintf(buf, len, "accepted %" PRIu64 ", duplicates %" PRIu64 ", pending %zu, database %s",
             s->stats.accepted, s->stats.duplicates,
             s->queue.orders + (s->committing ? s->committing->count : 0),
             db_is_up(s->db) ? "up" : "down");
}

static void s_step_notify(server_t *s, uint64_t now)
{
    if (!s->ready_notified && db_is_up(s->db)) {
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
                       s->queue.orders + (s->committing ? s->committing->count : 0));
            notify_stopping();
            s->stopping = true;
            s->stop_deadline_ms = now + SERVER_SHUTDOWN_GRACE_MS;
        }
    }
}

static bool s_drained(const server_t *s)
{
    return !s->committing && !s->queue.head && s->lookup_count == 0;
}

static int s_poll_timeout(server_t *s, uint64_t now)
{
    int timeout = 1000;
    int db_wait = db_timeout_ms(s->db, now);
    if (db_wait >= 0 && db_wait < timeout)
        timeout = db_wait;
    if (s->watchdog_every_ms) {
        uint64_t w = s->watchdog_next_ms > now ? s->watchdog_next_ms - now : 0;
        if (w < (uint64_t)timeout)
            timeout = (int)w;
    }
    /* Work waiting for an idle connection: don't sleep. */
    if (db_is_idle(s->db) && (s->queue.head || s->lookup_count))
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
        zmq_pollitem_t items[3] = {
            {.socket = ingress_socket(s->ingress), .events = s->stopping ? 0 : ZMQ_POLLIN},
            {.fd = s->signal_fd, .events = ZMQ_POLLIN},
            {.fd = db_socket(s->db), .events = db_poll_events(s->db)},
        };
        int nitems = db_socket(s->db) >= 0 ? 3 : 2;
        if (zmq_poll(items, nitems, s_poll_timeout(s, now)) < 0 && zmq_errno() != EINTR) {
            log_error("failed to poll: %s", zmq_strerror(zmq_errno()));
            return 1;
        }
        now = clock_mono_ms();
        /* The fixed list of steps of one pass. */
        s_step_signals(s, now);
        db_step(s->db, nitems == 3 ? items[2].revents : 0, now);
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
    s->zmq = zmq_ctx_new();
    if (!s->stores || !s->orders || !s->lookups || !s->zmq) {
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
    s->db = db_new(cfg->daemon.database, migrate_latest_version(), cfg->daemon.reconnect_min_ms,
                   cfg->daemon.reconnect_max_ms);
    if (!s->db)
        goto fail;
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
    db_destroy(&s->db);              /* may fail the statement in flight */
    if (s->committing) {
        batch_free(s->committing);   /* its entries go with the index */
        s->committing = NULL;
    }
    batch_queue_clear(&s->queue);
    for (size_t i = 0; s->lookups && i < s->lookup_count; i++)
        free(s->lookups[(s->lookup_head + i) % SERVER_LOOKUP_MAX].ticket);
    free(s->lookups);
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
