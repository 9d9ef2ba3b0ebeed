/* intake.c - owns SubmitOrder, GetOrder and the group commit of accepted
 * orders. */
#include "intake.h"

#include "batch.h"
#include "clock.h"
#include "log.h"
#include "reply.h"
#include "shed.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One connection's batch in its commit; the statement's done callback gets
 * this, so it knows which. */
typedef struct committing {
    intake_t *intake;
    batch_t *batch;
} committing_t;

struct intake {
    intake_with_t with;
    batch_queue_t queue;
    committing_t committing[DBWORK_CONNECTIONS_MAX];
    order_entry_t **resolving;  /* ids a batch found already stored: look them up */
    size_t resolving_count, resolving_cap;
    size_t resolve_sent;        /* the first this many are in the lookup in flight */
    intake_stats_t stats;
};

intake_t *intake_new(const intake_with_t *with)
{
    intake_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->with = *with;
    size_t batch_max = (size_t)reload_config(with->reload)->daemon.commit_batch_max;
    batch_queue_init(&self->queue, batch_max);
    self->resolving_cap = batch_max ? batch_max : 1;
    self->resolving = calloc(self->resolving_cap, sizeof *self->resolving);
    if (!self->resolving) {
        free(self);
        return NULL;
    }
    for (size_t i = 0; i < DBWORK_CONNECTIONS_MAX; i++)
        self->committing[i].intake = self;
    return self;
}

void intake_destroy(intake_t **self)
{
    if (!self || !*self)
        return;
    intake_t *in = *self;
    for (size_t i = 0; i < DBWORK_CONNECTIONS_MAX; i++)
        batch_free(in->committing[i].batch);   /* its entries go with the index */
    batch_queue_clear(&in->queue);
    free(in->resolving);
    free(in);
    *self = NULL;
}

const intake_stats_t *intake_stats(const intake_t *self)
{
    return &self->stats;
}

static size_t s_committing_orders(const intake_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < DBWORK_CONNECTIONS_MAX; i++)
        n += self->committing[i].batch ? self->committing[i].batch->count : 0;
    return n;
}

size_t intake_pending(const intake_t *self)
{
    return self->queue.orders + s_committing_orders(self);
}

uint64_t intake_oldest_pending_us(const intake_t *self, uint64_t now_us)
{
    uint64_t oldest = self->queue.head ? now_us - self->queue.head->opened_us : 0;
    for (size_t i = 0; i < DBWORK_CONNECTIONS_MAX; i++) {
        const batch_t *b = self->committing[i].batch;
        if (b && now_us - b->opened_us > oldest)
            oldest = now_us - b->opened_us;
    }
    return oldest;
}

/* ---- answers ------------------------------------------------------------ */

/* s_unavailable_retry_ms: retry_after_ms of an UNAVAILABLE answer,
 * daemon.unavailable_retry_ms, or the wait for the database's next
 * reconnect attempt when that is longer: asking before it is no use. */
static uint64_t s_unavailable_retry_ms(const intake_t *self)
{
    uint64_t configured = (uint64_t)reload_config(self->with.reload)->daemon.unavailable_retry_ms;
    uint64_t reconnect = dbwork_retry_after_ms(self->with.dbwork);
    return reconnect > configured ? reconnect : configured;
}

static void s_ack(intake_t *self, ingress_ticket_t *t, Sluice__V1__OrderAck *ack)
{
    metrics_observe_us(
        &self->stats.ack_latency[ack->decision == SLUICE__V1__DECISION__ACCEPTED ? 0 : 1],
        clock_mono_us() - t->received_us);
    reply_ack(self->with.ingress, t, ack);
}

static void s_reject(intake_t *self, ingress_ticket_t *t, const char *order_id,
                     Sluice__V1__Reason reason, uint64_t retry_after_ms, const char *detail)
{
    Sluice__V1__OrderAck ack = SLUICE__V1__ORDER_ACK__INIT;
    ack.order_id = (char *)order_id;
    ack.decision = SLUICE__V1__DECISION__REJECTED;
    ack.reason = reason;
    ack.retry_after_ms = retry_after_ms;
    ack.detail = (char *)(detail ? detail : "");
    if (reason <= SLUICE__V1__REASON__NO_RIDERS)
        self->stats.rejected[reason]++;
    s_ack(self, t, &ack);
}

/* s_reject_at_store is s_reject for an order of a known STORE: the store
 * counts the rejection among today's (sluicectl store). */
static void s_reject_at_store(intake_t *self, ingress_ticket_t *t, store_t *store,
                              const char *order_id, Sluice__V1__Reason reason,
                              uint64_t retry_after_ms, const char *detail)
{
    if (store)
        store_count_decision(store, clock_wall_ms(), reason);
    s_reject(self, t, order_id, reason, retry_after_ms, detail);
}

static void s_accepted(intake_t *self, ingress_ticket_t *t, const order_entry_t *e, bool duplicate)
{
    Sluice__V1__OrderAck ack = SLUICE__V1__ORDER_ACK__INIT;
    ack.order_id = (char *)e->order_id;
    ack.decision = SLUICE__V1__DECISION__ACCEPTED;
    ack.promised_ready_at_ms = e->promised_ready_at_ms;
    ack.promised_delivery_at_ms = e->promised_delivery_at_ms;
    ack.duplicate = duplicate;
    if (duplicate) {
        self->stats.duplicates++;
    } else {
        self->stats.accepted++;
        store_t *store = store_table_find(self->with.stores, e->store_id);
        if (store)
            store_count_decision(store, clock_wall_ms(), SLUICE__V1__REASON__REASON_NONE);
    }
    s_ack(self, t, &ack);
}

/* s_answer_settled answers a request about an order whose first decision is
 * known: the same content gets that decision again, other content CONFLICT. */
static void s_answer_settled(intake_t *self, ingress_ticket_t *t, const order_entry_t *e,
                             bool first)
{
    if (t->fingerprint != e->fingerprint) {
        s_reject(self, t, e->order_id, SLUICE__V1__REASON__CONFLICT, 0,
                 "order_id: already used for an order with different content");
        return;
    }
    s_accepted(self, t, e, !first);
}

/* s_release_waiters answers every waiter of E and frees the tickets.
 * FIRST_IS_NEW: the first waiter submitted the order this commit made
 * durable. */
static void s_release_waiters(intake_t *self, order_entry_t *e, bool first_is_new)
{
    bool first = first_is_new;
    while (e->waiters) {
        ingress_ticket_t *t = e->waiters;
        e->waiters = t->next;
        s_answer_settled(self, t, e, first);
        first = false;
        free(t);
    }
}

static void s_fail_waiters(intake_t *self, order_entry_t *e, uint64_t retry_after_ms)
{
    while (e->waiters) {
        ingress_ticket_t *t = e->waiters;
        e->waiters = t->next;
        s_reject_at_store(self, t, store_table_find(self->with.stores, e->store_id), e->order_id,
                          SLUICE__V1__REASON__UNAVAILABLE, retry_after_ms,
                          "database: the commit did not complete; nothing was stored");
        free(t);
    }
}

/* ---- SubmitOrder -------------------------------------------------------- */

/* s_wait_behind queues T behind E's first submitter: a repeat while its
 * commit is in flight gets the same answer. */
static void s_wait_behind(order_entry_t *e, ingress_ticket_t *t)
{
    ingress_ticket_t **tail = &e->waiters;
    while (*tail)
        tail = &(*tail)->next;
    t->next = NULL;
    *tail = t;
}

void intake_submit(intake_t *self, ingress_ticket_t *t, const Sluice__V1__SubmitOrder *o)
{
    const intake_with_t *w = &self->with;
    const config_t *cfg = reload_config(w->reload);
    char detail[ORDER_DETAIL_MAX];
    const char *order_id = o->order_id ? o->order_id : "";
    self->stats.submitted++;
    if (!order_validate(o, detail, sizeof detail)) {
        s_reject(self, t, order_id, SLUICE__V1__REASON__INVALID, 0, detail);
        free(t);
        return;
    }
    t->fingerprint = order_fingerprint(o);

    /* Idempotency first: a repeat gets the first decision even if the store
     * has since filled up or the database is away. */
    order_entry_t *e = order_index_find(w->orders, order_id);
    if (e && e->pending) {
        s_wait_behind(e, t);
        return;
    }
    if (e) {
        s_answer_settled(self, t, e, false);
        free(t);
        return;
    }

    store_t *store = store_table_find(w->stores, o->store_id);
    if (!store) {
        snprintf(detail, sizeof detail, "store_id: no store %" PRIu32 " is configured", o->store_id);
        s_reject(self, t, order_id, SLUICE__V1__REASON__UNKNOWN_STORE, 0, detail);
        free(t);
        return;
    }
    uint64_t riders_retry_ms = 0;
    if (store->cfg && !dispatch_can_deliver(w->dispatch, store->cfg, &riders_retry_ms)) {
        s_reject_at_store(self, t, store, order_id, SLUICE__V1__REASON__NO_RIDERS, riders_retry_ms,
                          "platforms: every platform of the store is unavailable or full");
        free(t);
        return;
    }
    if (!dbwork_up(w->dbwork)) {
        s_reject_at_store(self, t, store, order_id, SLUICE__V1__REASON__UNAVAILABLE,
                          s_unavailable_retry_ms(self), "database: unreachable, retry later");
        free(t);
        return;
    }
    admit_order_in_t in = {
        .drinks = order_drink_count(o),
        .dropoff_lat = o->dropoff->lat,
        .dropoff_lng = o->dropoff->lng,
        .pending = intake_pending(self),
        .now_ms = clock_wall_ms(),
        .now_us = clock_mono_us(),
    };
    admit_result_t admit;
    if (!admit_order(w->admit, w->stores, store, &in, &admit)) {
        s_reject_at_store(self, t, store, order_id, admit.reason, admit.retry_after_ms,
                          admit.detail);
        free(t);
        return;
    }

    e = order_index_add(w->orders, order_id);
    if (!e) {
        order_entry_t booked = {
            .store_id = o->store_id, .prep_slot = admit.plan.slot,
            .prep_start_at_ms = admit.plan.start_ms, .promised_ready_at_ms = admit.plan.ready_ms,
            .waiting = admit.plan.start_ms > in.now_ms,
        };
        schedule_release(w->schedule, &booked, in.now_ms);
        s_reject_at_store(self, t, store, order_id, SLUICE__V1__REASON__OVERLOADED,
                          (uint64_t)cfg->daemon.overloaded_retry_ms, "daemon: out of memory");
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
    bool timed = !e->waiting || schedule_wait(w->schedule, e);
    if (!timed || !batch_queue_add(&self->queue, e, o)) {
        static log_limiter_t oom_log = LOG_LIMITER_INIT;
        log_limited(&oom_log, LOG_LEVEL_ERR, "failed to queue order %s for commit: out of memory",
                    order_id);
        e->waiters = NULL;
        schedule_release(w->schedule, e, in.now_ms);
        order_index_remove(w->orders, e);
        s_reject_at_store(self, t, store, order_id, SLUICE__V1__REASON__OVERLOADED,
                          (uint64_t)cfg->daemon.overloaded_retry_ms, "daemon: out of memory");
        free(t);
    }
}

/* ---- GetOrder ----------------------------------------------------------- */

void intake_get(intake_t *self, ingress_ticket_t *t, const Sluice__V1__GetOrder *g)
{
    const char *order_id = g->order_id ? g->order_id : "";
    if (!order_id_valid(order_id)) {
        reply_error(self->with.ingress, t, REPLY_BAD_REQUEST,
                    "get.order_id: 1..64 chars of [A-Za-z0-9._:-]");
        free(t);
        return;
    }
    const order_entry_t *e = order_index_find(self->with.orders, order_id);
    if (e) {
        reply_entry_status(self->with.ingress, t, e);
        free(t);
        return;
    }
    lookup_get(self->with.lookup, t, order_id);
}

/* ---- group commit ------------------------------------------------------- */

static void s_batch_failed(intake_t *self, batch_t *b, const char *why)
{
    uint64_t retry = s_unavailable_retry_ms(self);
    uint64_t now = clock_wall_ms();
    /* Newest first: each release then finds its order last on its slot. */
    for (size_t i = b->count; i-- > 0;) {
        order_entry_t *e = b->entries[i];
        schedule_release(self->with.schedule, e, now);
        s_fail_waiters(self, e, retry);
        order_index_remove(self->with.orders, e);
    }
    static log_limiter_t failed_log = LOG_LIMITER_INIT;
    self->stats.batch_failures++;
    log_limited(&failed_log, LOG_LEVEL_WARNING,
                "failed to commit a batch of %zu orders: %s; answered UNAVAILABLE", b->count, why);
}

/* s_resolve_later queues E, which a batch found stored already, for the
 * lookup of its first decision. Batches of other connections may commit
 * while a lookup is in flight, so the list grows past one batch. */
static void s_resolve_later(intake_t *self, order_entry_t *e)
{
    static log_limiter_t oom_log = LOG_LIMITER_INIT;
    if (self->resolving_count == self->resolving_cap) {
        size_t cap = self->resolving_cap * 2;
        order_entry_t **grown = realloc(self->resolving, cap * sizeof *grown);
        if (!grown) {
            log_limited(&oom_log, LOG_LEVEL_ERR,
                        "order %s: failed to look up its stored decision: out of memory",
                        e->order_id);
            s_fail_waiters(self, e, s_unavailable_retry_ms(self));
            order_index_remove(self->with.orders, e);
            return;
        }
        self->resolving = grown;
        self->resolving_cap = cap;
    }
    self->resolving[self->resolving_count++] = e;
}

static void s_batch_done(void *arg, const PGresult *res, const db_error_t *err)
{
    committing_t *c = arg;
    intake_t *self = c->intake;
    const intake_with_t *w = &self->with;
    batch_t *b = c->batch;
    c->batch = NULL;
    uint64_t now_us = clock_mono_us();
    uint64_t took = now_us - b->sent_us;
    shed_observe(admit_shed(w->admit), b->sent_us - b->opened_us, took, b->count,
                 intake_pending(self), now_us);
    self->stats.commit_us_total += took;
    metrics_observe_us(&self->stats.commit_latency, took);
    if (took > self->stats.commit_us_max)
        self->stats.commit_us_max = took;

    if (err) {
        char why[300];
        snprintf(why, sizeof why, "%s%s%s", err->sqlstate, err->sqlstate[0] ? " " : "",
                 err->message);
        s_batch_failed(self, b, why);
        batch_queue_release(&self->queue, b);
        return;
    }
    uint64_t now_wall = clock_wall_ms();
    self->stats.batches++;
    self->stats.batch_rows += b->count;
    /* Committed: every returned id is new and durable now. */
    for (int row = 0; row < PQntuples(res); row++) {
        order_entry_t *e = order_index_find(w->orders, PQgetvalue(res, row, 0));
        if (!e || !e->pending)
            continue;
        e->pending = false;
        e->updated_at_ms = now_wall;
        dispatch_plan(w->dispatch, e);
        schedule_timer(w->schedule, e);
        s_release_waiters(self, e, true);
        events_publish(w->events, e, NULL);
    }
    /* The rest were stored before this process knew of them: their first
     * decision is in the database. */
    for (size_t i = b->count; i-- > 0;)
        if (b->entries[i]->pending) {
            schedule_release(w->schedule, b->entries[i], now_wall);
            s_resolve_later(self, b->entries[i]);
        }
    batch_queue_release(&self->queue, b);
}

bool intake_batches_waiting(void *arg)
{
    const intake_t *self = arg;
    return self->queue.head != NULL;
}

bool intake_send_batch(void *arg, db_t *db, size_t conn)
{
    intake_t *self = arg;
    batch_t *b = batch_queue_pop(&self->queue);
    if (!b)
        return false;
    committing_t *c = &self->committing[conn];
    const char *values[BATCH_COLUMNS];
    b->sent_us = clock_mono_us();
    c->batch = b;
    if (!batch_params(b, values) ||
        !db_send(db, "insert_batch", BATCH_COLUMNS, values, s_batch_done, c)) {
        c->batch = NULL;
        s_batch_failed(self, b, "could not send the statement");
        batch_queue_release(&self->queue, b);
    }
    return true;
}

/* intake_batches_down: no connection is up, so every queued batch fails. */
void intake_batches_down(void *arg)
{
    intake_t *self = arg;
    /* Newest batch first, so that every booking is given back. */
    batch_t *failed = NULL, *b;
    while ((b = batch_queue_pop(&self->queue)) != NULL) {
        b->next = failed;
        failed = b;
    }
    while ((b = failed) != NULL) {
        failed = b->next;
        b->next = NULL;
        s_batch_failed(self, b, "database connection lost");
        batch_queue_release(&self->queue, b);
    }
}

bool intake_batches_busy(void *arg)
{
    const intake_t *self = arg;
    return self->queue.head != NULL || s_committing_orders(self) > 0;
}

/* ---- resolving ids a batch found stored --------------------------------- */

static void s_resolve_done(void *arg, const PGresult *res, const db_error_t *err)
{
    intake_t *self = arg;
    const intake_with_t *w = &self->with;
    size_t sent = self->resolve_sent;
    (void)err;  /* a failed lookup finds no row: its orders fail below */
    self->resolve_sent = 0;
    for (int row = 0; res && row < PQntuples(res); row++) {
        batch_stored_t stored;
        if (!batch_stored_read(res, row, &stored))
            continue;
        order_entry_t *e = order_index_find(w->orders, stored.order_id);
        if (!e || !e->pending)
            continue;
        batch_stored_settle(e, &stored);
        s_release_waiters(self, e, false);
    }
    /* Not found: the id's holder was a concurrent writer that rolled back,
     * or the lookup failed. Either way, nothing of this request is stored. */
    uint64_t retry = s_unavailable_retry_ms(self);
    for (size_t i = 0; i < sent; i++) {
        order_entry_t *e = self->resolving[i];
        if (!e->pending)
            continue;
        s_fail_waiters(self, e, retry);
        order_index_remove(w->orders, e);
    }
    /* Those queued meanwhile wait for the next lookup. */
    self->resolving_count -= sent;
    memmove(self->resolving, self->resolving + sent,
            self->resolving_count * sizeof *self->resolving);
}

static const char *s_resolving_id(const void *arg, size_t i)
{
    const intake_t *self = arg;
    return self->resolving[i]->order_id;
}

bool intake_resolve_waiting(void *arg)
{
    const intake_t *self = arg;
    return self->resolving_count > 0 && self->resolve_sent == 0;
}

bool intake_send_resolve(void *arg, db_t *db, size_t conn)
{
    intake_t *self = arg;
    (void)conn;
    self->resolve_sent = self->resolving_count;
    char *ids = batch_id_array(self->resolving_count, s_resolving_id, self);
    const char *values[1] = {ids};
    if (!ids || !db_send(db, "lookup_orders", 1, values, s_resolve_done, self)) {
        db_error_t err = {.connection_lost = true};
        s_resolve_done(self, NULL, &err);
    }
    free(ids);
    return true;
}

void intake_resolve_down(void *arg)
{
    intake_t *self = arg;
    if (self->resolving_count > 0 && self->resolve_sent == 0) {
        db_error_t err = {.connection_lost = true};
        self->resolve_sent = self->resolving_count;
        s_resolve_done(self, NULL, &err);
    }
}

bool intake_resolve_busy(void *arg)
{
    const intake_t *self = arg;
    return self->resolving_count > 0;
}
