/* intake.c - owns SubmitOrder, GetOrder and the group commit of accepted
 * orders. */
#include "intake.h"

#include "batch.h"
#include "clock.h"
#include "log.h"
#include "reply.h"
#include "shard.h"
#include "shed.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One connection's batch in its commit; the statement's done callback gets
 * this, so it knows which. */
typedef struct committing {
    intake_t *intake;
    batch_t *batch;
} committing_t;

/* A batch whose commit's outcome was lost, until a primary says what became
 * of it. */
typedef struct doubt {
    struct doubt *next;
    batch_t *batch;
    uint64_t lost_ms;           /* monotonic: when the outcome was lost */
    bool released;              /* its clients were answered: in doubt too long */
} doubt_t;

/* An order of a batch in doubt that the resolving insert found stored
 * already: by the lost commit, or by someone else. */
typedef struct doubt_id {
    order_entry_t *entry;
    uint64_t lost_ms;
    bool released;
} doubt_id_t;

/* What of the batches in doubt is in flight on connection 0. */
typedef enum doubt_sent { DOUBT_IDLE, DOUBT_RESOLVING, DOUBT_LOOKING_UP } doubt_sent_t;

struct intake {
    intake_with_t with;
    /* QueryAvailability's answer, made once: no allocation per question */
    Sluice__V1__StoreAvailability *answers;
    Sluice__V1__StoreAvailability **answer_ptrs;
    batch_queue_t queue;
    committing_t committing[DBWORK_CONNECTIONS_MAX];
    order_entry_t **resolving;  /* ids a batch found already stored: look them up */
    size_t resolving_count, resolving_cap;
    size_t resolve_sent;        /* the first this many are in the lookup in flight */
    doubt_t *doubt_head, *doubt_tail;   /* oldest first; a resolution sends the head */
    doubt_id_t *doubt_ids;      /* stored before the resolution: look them up */
    size_t doubt_id_count, doubt_id_cap;
    size_t doubt_orders;        /* in the batches and ids in doubt */
    size_t doubt_released;      /* batches and ids in doubt whose clients were answered */
    doubt_sent_t doubt_sent;
    size_t doubt_ids_sent;      /* DOUBT_LOOKING_UP: the first this many ids */
    bool stopping;              /* intake_stop: nobody waits for a resolution any more */
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
    self->answers = calloc(INTAKE_QUERY_STORES_MAX, sizeof *self->answers);
    self->answer_ptrs = calloc(INTAKE_QUERY_STORES_MAX, sizeof *self->answer_ptrs);
    if (!self->resolving || !self->answers || !self->answer_ptrs) {
        intake_destroy(&self);
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
    while (in->doubt_head) {
        doubt_t *d = in->doubt_head;
        in->doubt_head = d->next;
        batch_free(d->batch);
        free(d);
    }
    free(in->doubt_ids);
    batch_queue_clear(&in->queue);
    free(in->resolving);
    free(in->answers);
    free(in->answer_ptrs);
    free(in);
    *self = NULL;
}

const intake_stats_t *intake_stats(const intake_t *self)
{
    return &self->stats;
}

bool intake_reason(size_t i, int *reason, const char **name)
{
    const ProtobufCEnumDescriptor *d = &sluice__v1__reason__descriptor;
    for (unsigned k = 0; k < d->n_values; k++) {
        const ProtobufCEnumValue *v = &d->values[k];
        if (v->value <= SLUICE__V1__REASON__REASON_NONE || v->value >= INTAKE_REASON_SLOTS)
            continue;
        if (i-- == 0) {
            *reason = v->value;
            *name = v->name;
            return true;
        }
    }
    return false;
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
    return self->queue.orders + s_committing_orders(self) + self->doubt_orders;
}

uint64_t intake_oldest_pending_us(const intake_t *self, uint64_t now_us)
{
    uint64_t oldest = self->queue.head ? now_us - self->queue.head->opened_us : 0;
    for (size_t i = 0; i < DBWORK_CONNECTIONS_MAX; i++) {
        const batch_t *b = self->committing[i].batch;
        if (b && now_us - b->opened_us > oldest)
            oldest = now_us - b->opened_us;
    }
    if (self->doubt_head && now_us - self->doubt_head->batch->opened_us > oldest)
        oldest = now_us - self->doubt_head->batch->opened_us;
    return oldest;
}

size_t intake_in_doubt(const intake_t *self)
{
    return self->doubt_orders;
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
    if ((unsigned)reason < INTAKE_REASON_SLOTS)
        self->stats.rejected[reason]++;
    s_ack(self, t, &ack);
}

/* s_reject_to_shard is s_reject naming SHARD and where to reach it
 * (ENDPOINTS, N of them): another shard's store (WRONG_SHARD), or a standby
 * naming its shard's active node (UNAVAILABLE). */
static void s_reject_to_shard(intake_t *self, ingress_ticket_t *t, const char *order_id,
                              Sluice__V1__Reason reason, uint64_t retry_after_ms,
                              const char *detail, const char *shard,
                              const char *const *endpoints, size_t n)
{
    Sluice__V1__OrderAck ack = SLUICE__V1__ORDER_ACK__INIT;
    ack.order_id = (char *)order_id;
    ack.decision = SLUICE__V1__DECISION__REJECTED;
    ack.reason = reason;
    ack.retry_after_ms = retry_after_ms;
    ack.detail = (char *)detail;
    ack.shard = (char *)shard;
    ack.n_shard_endpoints = n;
    ack.shard_endpoints = (char **)endpoints;
    if (reason <= SLUICE__V1__REASON__NO_RIDERS)
        self->stats.rejected[reason]++;
    s_ack(self, t, &ack);
}

/* s_reject_standby: this node stands by for its shard; the active node, as
 * the lease row said, is where the order should go. */
static void s_reject_standby(intake_t *self, ingress_ticket_t *t, const char *order_id)
{
    const lease_t *l = self->with.lease;
    const char *holder = lease_holder(l), *endpoint = lease_holder_endpoint(l);
    char detail[ORDER_DETAIL_MAX];
    if (holder[0] && endpoint[0])
        snprintf(detail, sizeof detail,
                 "standby: node %s at %s serves shard %s; send it there, or here after "
                 "retry_after_ms", holder, endpoint, lease_shard(l));
    else
        snprintf(detail, sizeof detail,
                 "standby: shard %s has no active node yet; retry after retry_after_ms",
                 lease_shard(l));
    const char *endpoints[1] = {endpoint};
    s_reject_to_shard(self, t, order_id, SLUICE__V1__REASON__UNAVAILABLE,
                      lease_retry_after_ms(l, clock_mono_ms()), detail, lease_shard(l), endpoints,
                      endpoint[0] ? 1 : 0);
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

/* What the clients of an order in doubt are told when they can wait no
 * longer. */
static const char s_unknown[] =
    "database: the commit's outcome is unknown (the connection was lost while it was in "
    "flight); resubmitting the same order_id is safe and returns the first decision";

/* s_fail_unknown answers every waiter of E, whose commit's outcome is not
 * known, UNAVAILABLE, and frees the tickets. */
static void s_fail_unknown(intake_t *self, order_entry_t *e)
{
    uint64_t retry = dbwork_retry_after_ms(self->with.dbwork);
    while (e->waiters) {
        ingress_ticket_t *t = e->waiters;
        e->waiters = t->next;
        s_reject_at_store(self, t, store_table_find(self->with.stores, e->store_id), e->order_id,
                          SLUICE__V1__REASON__UNAVAILABLE, retry, s_unknown);
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

static bool s_doubt_released_holds(const intake_t *self, const order_entry_t *e);

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
        if (self->doubt_released > 0 && s_doubt_released_holds(self, e)) {
            s_reject(self, t, order_id, SLUICE__V1__REASON__UNAVAILABLE,
                     dbwork_retry_after_ms(w->dbwork), s_unknown);
            free(t);
            return;
        }
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
    shard_owner_t owner;
    if (!shard_serves(cfg, store->cfg, &owner)) {
        s_reject_to_shard(self, t, order_id, SLUICE__V1__REASON__WRONG_SHARD, 0,
                          shard_detail(&owner, o->store_id, detail, sizeof detail), owner.name,
                          owner.endpoints, owner.endpoint_count);
        free(t);
        return;
    }
    if (w->lease && lease_role(w->lease) != LEASE_ACTIVE) {
        s_reject_standby(self, t, order_id);
        free(t);
        return;
    }
    uint64_t riders_retry_ms = 0;
    if (store->cfg &&
        !dispatch_can_deliver(w->dispatch, store->cfg, &riders_retry_ms, detail, sizeof detail)) {
        s_reject_at_store(self, t, store, order_id, SLUICE__V1__REASON__NO_RIDERS, riders_retry_ms,
                          detail);
        free(t);
        return;
    }
    if (!dbwork_up(w->dbwork)) {
        s_reject_at_store(self, t, store, order_id, SLUICE__V1__REASON__UNAVAILABLE,
                          s_unavailable_retry_ms(self), "database: unreachable, retry later");
        free(t);
        return;
    }
    if (self->doubt_orders >= (size_t)cfg->daemon.in_doubt_max_orders) {
        snprintf(detail, sizeof detail,
                 "database: %zu orders whose commit's outcome was lost are being resolved; "
                 "retry later", self->doubt_orders);
        s_reject_at_store(self, t, store, order_id, SLUICE__V1__REASON__UNAVAILABLE,
                          dbwork_retry_after_ms(w->dbwork), detail);
        free(t);
        return;
    }
    admit_order_in_t in = {
        .campaign = o->campaign,
        .drinks = order_drink_count(o),
        .dropoff_lat = o->dropoff->lat,
        .dropoff_lng = o->dropoff->lng,
        .pending = intake_pending(self),
        .now_ms = clock_wall_ms(),
        .now_us = clock_mono_us(),
    };
    admit_result_t admit;
    if (!admit_order(w->admit, w->stores, store, &in, &admit)) {
        /* Nothing was booked: the store's class is as it was. */
        if (admit.reason != SLUICE__V1__REASON__OVERLOADED)
            watch_touch(w->watch, o->store_id, in.now_ms, in.now_us);
        s_reject_at_store(self, t, store, order_id, admit.reason, admit.retry_after_ms,
                          admit.detail);
        free(t);
        return;
    }
    watch_store(w->watch, o->store_id, in.now_ms, in.now_us);

    uint16_t campaign = admit.campaign == CAMPAIGN_NONE ? 0 : (uint16_t)(admit.campaign + 1u);
    e = order_index_add(w->orders, order_id);
    if (!e) {
        order_entry_t booked = {
            .store_id = o->store_id, .prep_slot = admit.plan.slot,
            .prep_start_at_ms = admit.plan.start_ms, .promised_ready_at_ms = admit.plan.ready_ms,
            .waiting = admit.plan.start_ms > in.now_ms, .campaign = campaign,
            .updated_at_ms = in.now_ms,
        };
        schedule_unplace(w->schedule, &booked, in.now_ms);
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
    e->campaign = campaign;
    e->updated_at_ms = in.now_ms;   /* until its commit: when it was admitted */
    t->next = NULL;
    e->waiters = t;
    bool timed = !e->waiting || schedule_wait(w->schedule, e);
    if (!timed || !batch_queue_add(&self->queue, e, o)) {
        static log_limiter_t oom_log = LOG_LIMITER_INIT;
        log_limited(&oom_log, LOG_LEVEL_ERR, "failed to queue order %s for commit: out of memory",
                    order_id);
        e->waiters = NULL;
        schedule_unplace(w->schedule, e, in.now_ms);
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

/* ---- QueryAvailability -------------------------------------------------- */

void intake_query(intake_t *self, ingress_ticket_t *t, const Sluice__V1__QueryAvailability *q)
{
    const intake_with_t *w = &self->with;
    uint64_t started = clock_mono_us();
    const char *campaign = q->campaign ? q->campaign : "";
    char why[ORDER_DETAIL_MAX];
    if (q->n_store_ids > INTAKE_QUERY_STORES_MAX) {
        snprintf(why, sizeof why, "query_availability.store_ids: at most %d stores per request "
                 "(got %zu)", INTAKE_QUERY_STORES_MAX, q->n_store_ids);
        reply_error(w->ingress, t, REPLY_BAD_REQUEST, why);
        free(t);
        return;
    }
    if (campaign[0] && !order_id_valid(campaign)) {
        reply_error(w->ingress, t, REPLY_BAD_REQUEST,
                    "query_availability.campaign: 1..64 chars of [A-Za-z0-9._:-]");
        free(t);
        return;
    }
    if (campaign[0] && campaign_find(admit_campaigns(w->admit), campaign) == CAMPAIGN_NONE) {
        snprintf(why, sizeof why, "query_availability.campaign: no campaign %s is configured",
                 campaign);
        reply_error(w->ingress, t, REPLY_BAD_REQUEST, why);
        free(t);
        return;
    }
    uint64_t now_ms = clock_wall_ms(), now_us = clock_mono_us();
    for (size_t i = 0; i < q->n_store_ids; i++) {
        uint32_t id = q->store_ids[i];
        store_t *store = store_table_find(w->stores, id);
        availability_t a;
        availability_of(w->admit, w->stores, store, campaign, now_ms, now_us, &a);
        sluice__v1__store_availability__init(&self->answers[i]);
        availability_to_proto(&a, id, &self->answers[i]);
        self->answer_ptrs[i] = &self->answers[i];
        watch_seen(w->watch, store, &a, now_ms);
    }
    Sluice__V1__Availability body = SLUICE__V1__AVAILABILITY__INIT;
    body.n_stores = q->n_store_ids;
    body.stores = self->answer_ptrs;
    Sluice__V1__Reply reply = SLUICE__V1__REPLY__INIT;
    reply.request_id = t->request_id;
    reply.body_case = SLUICE__V1__REPLY__BODY_AVAILABILITY;
    reply.availability = &body;
    ingress_reply(w->ingress, t, &reply);
    free(t);
    self->stats.queries++;
    self->stats.queried_stores += q->n_store_ids;
    metrics_observe_us(&self->stats.query_latency, clock_mono_us() - started);
}

/* ---- group commit ------------------------------------------------------- */

static void s_batch_failed(intake_t *self, batch_t *b, const char *why)
{
    uint64_t retry = s_unavailable_retry_ms(self);
    uint64_t now = clock_wall_ms();
    /* Newest first: each release then finds its order last on its slot. */
    for (size_t i = b->count; i-- > 0;) {
        order_entry_t *e = b->entries[i];
        schedule_unplace(self->with.schedule, e, now);
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

/* s_committed: E's commit returned (its batch's, or the resolution of a
 * batch in doubt): E is durable; its waiters get ACCEPTED, the first as
 * new, and its timers start. */
static void s_committed(intake_t *self, order_entry_t *e, uint64_t now_wall)
{
    const intake_with_t *w = &self->with;
    e->pending = false;
    e->updated_at_ms = now_wall;
    dispatch_plan(w->dispatch, e);
    schedule_timer(w->schedule, e);
    s_release_waiters(self, e, true);
    events_publish(w->events, e, NULL);
}

static void s_park(intake_t *self, batch_t *b, const db_error_t *err);

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

    if (err && err->connection_lost) {
        /* It may have committed: nobody is answered until a primary says. */
        s_park(self, b, err);
        return;
    }
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
        s_committed(self, e, now_wall);
    }
    /* The rest were stored before this process knew of them: their first
     * decision is in the database. */
    for (size_t i = b->count; i-- > 0;)
        if (b->entries[i]->pending) {
            schedule_unplace(w->schedule, b->entries[i], now_wall);
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

/* ---- batches in doubt --------------------------------------------------- */

/* s_drop_unknown: E's outcome stays unknown (shutting down, or the database
 * cannot say): its waiters are told so, its booking is given back and it
 * leaves the index, so that a resubmission is decided anew against what the
 * database holds. */
static void s_drop_unknown(intake_t *self, order_entry_t *e, uint64_t now_wall)
{
    schedule_release(self->with.schedule, e, now_wall);
    s_fail_unknown(self, e);
    order_index_remove(self->with.orders, e);
}

static void s_batch_unknown(intake_t *self, batch_t *b, const char *why)
{
    uint64_t now = clock_wall_ms();
    /* Newest first: each release then finds its order last on its slot. */
    for (size_t i = b->count; i-- > 0;)
        s_drop_unknown(self, b->entries[i], now);
    log_warning("answered a batch of %zu orders whose commit's outcome is unknown UNAVAILABLE: %s",
                b->count, why);
    batch_queue_release(&self->queue, b);
}

/* s_park keeps batch B, whose commit's outcome ERR lost, to resolve by id. */
static void s_park(intake_t *self, batch_t *b, const db_error_t *err)
{
    doubt_t *d = self->stopping ? NULL : calloc(1, sizeof *d);
    if (!d) {
        s_batch_unknown(self, b, self->stopping ? "shutting down" : "out of memory");
        return;
    }
    d->batch = b;
    d->lost_ms = clock_mono_ms();
    if (self->doubt_tail)
        self->doubt_tail->next = d;
    else
        self->doubt_head = d;
    self->doubt_tail = d;
    self->doubt_orders += b->count;
    self->stats.batches_in_doubt++;
    log_warning("the outcome of the commit of a batch of %zu orders is unknown (%s): resolving it "
                "by order id once a primary answers", b->count, err->message);
}

/* s_doubt_id_add queues E of a batch in doubt (lost at LOST_MS, its clients
 * RELEASED) for the lookup of what is stored under its id. */
static bool s_doubt_id_add(intake_t *self, order_entry_t *e, uint64_t lost_ms, bool released)
{
    if (self->doubt_id_count == self->doubt_id_cap) {
        size_t cap = self->doubt_id_cap ? self->doubt_id_cap * 2 : 64;
        doubt_id_t *grown = realloc(self->doubt_ids, cap * sizeof *grown);
        if (!grown)
            return false;
        self->doubt_ids = grown;
        self->doubt_id_cap = cap;
    }
    self->doubt_ids[self->doubt_id_count++] = (doubt_id_t){e, lost_ms, released};
    self->doubt_orders++;
    if (released)
        self->doubt_released++;
    return true;
}

/* s_resolved_new: the resolution stored ID now: its order is this
 * process's and durable. False when ID is no order in doubt. */
static bool s_resolved_new(intake_t *self, const char *id, uint64_t now)
{
    order_entry_t *e = order_index_find(self->with.orders, id);
    if (!e || !e->pending)
        return false;
    s_committed(self, e, now);
    return true;
}

/* s_resolved_ids calls s_resolved_new for each element of the text[]
 * literal ARRAY (order ids need no escapes; only one spelled like NULL
 * comes quoted) and returns how many were orders in doubt. */
static size_t s_resolved_ids(intake_t *self, const char *array, uint64_t now)
{
    size_t n = 0;
    const char *p = array[0] == '{' ? array + 1 : array;
    while (*p && *p != '}') {
        size_t len = strcspn(p, ",}");
        char id[ORDER_ID_MAX + 3];
        if (len < sizeof id) {
            memcpy(id, p, len);
            id[len] = '\0';
            bool quoted = len >= 2 && id[0] == '"' && id[len - 1] == '"';
            if (quoted)
                id[len - 1] = '\0';
            n += s_resolved_new(self, quoted ? id + 1 : id, now);
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return n;
}

static void s_doubt_done(void *arg, const PGresult *res, const db_error_t *err)
{
    intake_t *self = arg;
    doubt_t *d = self->doubt_head;
    self->doubt_sent = DOUBT_IDLE;
    if (err && err->connection_lost && !self->stopping) {
        log_warning("failed to resolve a batch of %zu orders in doubt: %s; again once a primary "
                    "answers", d->batch->count, err->message);
        return;
    }
    self->doubt_head = d->next;
    if (!self->doubt_head)
        self->doubt_tail = NULL;
    batch_t *b = d->batch;
    self->doubt_orders -= b->count;
    if (d->released)
        self->doubt_released--;
    if (err || PQntuples(res) != 1 || PQnfields(res) != 2) {
        s_batch_unknown(self, b, err ? err->message : "the resolution returned no row");
        free(d);
        return;
    }
    uint64_t now = clock_wall_ms();
    size_t stored_now = s_resolved_ids(self, PQgetvalue(res, 0, 1), now), stored_before = 0;
    /* The others were stored before: by the lost commit, or by someone
     * else; newest first, as every release. */
    for (size_t i = b->count; i-- > 0;) {
        order_entry_t *e = b->entries[i];
        if (!e->pending)
            continue;
        stored_before++;
        if (!s_doubt_id_add(self, e, d->lost_ms, d->released))
            s_drop_unknown(self, e, now);
    }
    log_notice("resolved a batch of %zu orders in doubt: %zu stored by the resolution, %zu "
               "stored before (looking them up)", b->count, stored_now, stored_before);
    batch_queue_release(&self->queue, b);
    free(d);
}

static void s_doubt_lookup_done(void *arg, const PGresult *res, const db_error_t *err)
{
    intake_t *self = arg;
    const intake_with_t *w = &self->with;
    size_t sent = self->doubt_ids_sent;
    self->doubt_sent = DOUBT_IDLE;
    self->doubt_ids_sent = 0;
    if (err && err->connection_lost && !self->stopping)
        return;   /* looked up again once a primary answers */
    uint64_t now = clock_wall_ms();
    for (int row = 0; !err && row < PQntuples(res); row++) {
        batch_stored_t stored;
        if (!batch_stored_read(res, row, &stored))
            continue;
        order_entry_t *e = order_index_find(w->orders, stored.order_id);
        if (!e || !e->pending)
            continue;
        /* This content with this process's promise: the lost commit stored
         * it, so it is this process's own order, accepted once. */
        if (stored.fingerprint == e->fingerprint && stored.store_id == e->store_id &&
            stored.promised_ready_at_ms == e->promised_ready_at_ms &&
            stored.prep_slot == e->prep_slot) {
            s_committed(self, e, now);
            continue;
        }
        schedule_release(w->schedule, e, now);
        batch_stored_settle(e, &stored);
        s_release_waiters(self, e, false);
    }
    /* Not found, or the database cannot say: never ACCEPTED. */
    for (size_t i = 0; i < sent; i++) {
        doubt_id_t *di = &self->doubt_ids[i];
        if (di->released)
            self->doubt_released--;
        if (di->entry->pending)
            s_drop_unknown(self, di->entry, now);
    }
    self->doubt_orders -= sent;
    self->doubt_id_count -= sent;
    memmove(self->doubt_ids, self->doubt_ids + sent, self->doubt_id_count * sizeof *self->doubt_ids);
}

static const char *s_doubt_id_at(const void *arg, size_t i)
{
    const intake_t *self = arg;
    return self->doubt_ids[i].entry->order_id;
}

bool intake_doubt_waiting(void *arg)
{
    const intake_t *self = arg;
    return self->doubt_sent == DOUBT_IDLE && (self->doubt_id_count > 0 || self->doubt_head);
}

/* intake_send_doubt looks up the ids found stored first, then resolves the
 * oldest batch. */
bool intake_send_doubt(void *arg, db_t *db, size_t conn)
{
    intake_t *self = arg;
    (void)conn;
    if (self->doubt_id_count > 0) {
        size_t n = self->doubt_id_count < LOOKUP_BATCH ? self->doubt_id_count : LOOKUP_BATCH;
        char *ids = batch_id_array(n, s_doubt_id_at, self);
        const char *values[1] = {ids};
        if (ids && db_send(db, "lookup_orders", 1, values, s_doubt_lookup_done, self)) {
            self->doubt_sent = DOUBT_LOOKING_UP;
            self->doubt_ids_sent = n;
        }
        free(ids);
        return true;
    }
    const char *values[BATCH_COLUMNS];
    if (!batch_params(self->doubt_head->batch, values)) {
        log_error("failed to resolve a batch in doubt: out of memory; trying again");
        return true;
    }
    if (db_send(db, "resolve_batch", BATCH_COLUMNS, values, s_doubt_done, self))
        self->doubt_sent = DOUBT_RESOLVING;
    return true;
}

bool intake_doubt_busy(void *arg)
{
    const intake_t *self = arg;
    return self->doubt_head || self->doubt_id_count > 0;
}

static bool s_doubt_released_holds(const intake_t *self, const order_entry_t *e)
{
    for (const doubt_t *d = self->doubt_head; d; d = d->next)
        for (size_t i = 0; d->released && i < d->batch->count; i++)
            if (d->batch->entries[i] == e)
                return true;
    for (size_t i = 0; i < self->doubt_id_count; i++)
        if (self->doubt_ids[i].released && self->doubt_ids[i].entry == e)
            return true;
    return false;
}

void intake_step(intake_t *self, uint64_t now_mono_ms)
{
    uint64_t max = (uint64_t)reload_config(self->with.reload)->daemon.in_doubt_max_ms;
    /* Lost during this pass, after NOW was read: not due yet. */
    for (doubt_t *d = self->doubt_head; d; d = d->next) {
        if (d->released || now_mono_ms < d->lost_ms + max)
            continue;
        for (size_t i = 0; i < d->batch->count; i++)
            s_fail_unknown(self, d->batch->entries[i]);
        d->released = true;
        self->doubt_released++;
        log_warning("answered the clients of a batch of %zu orders in doubt for %" PRIu64
                    " ms UNAVAILABLE (outcome unknown); resolving it goes on", d->batch->count,
                    now_mono_ms - d->lost_ms);
    }
    for (size_t i = 0; i < self->doubt_id_count; i++) {
        doubt_id_t *di = &self->doubt_ids[i];
        if (di->released || now_mono_ms < di->lost_ms + max)
            continue;
        s_fail_unknown(self, di->entry);
        di->released = true;
        self->doubt_released++;
    }
}

int intake_timeout_ms(const intake_t *self, uint64_t now_mono_ms)
{
    uint64_t max = (uint64_t)reload_config(self->with.reload)->daemon.in_doubt_max_ms;
    uint64_t due = UINT64_MAX;
    for (const doubt_t *d = self->doubt_head; d; d = d->next)
        if (!d->released && d->lost_ms + max < due)
            due = d->lost_ms + max;
    for (size_t i = 0; i < self->doubt_id_count; i++)
        if (!self->doubt_ids[i].released && self->doubt_ids[i].lost_ms + max < due)
            due = self->doubt_ids[i].lost_ms + max;
    if (due == UINT64_MAX)
        return -1;
    return due <= now_mono_ms ? 0 : due - now_mono_ms > INT_MAX ? INT_MAX : (int)(due - now_mono_ms);
}

void intake_stop(intake_t *self)
{
    self->stopping = true;
    uint64_t now = clock_wall_ms();
    /* What is in flight is answered when its statement ends. */
    doubt_t **at = &self->doubt_head;
    if (self->doubt_sent == DOUBT_RESOLVING)
        at = &(*at)->next;
    while (*at) {
        doubt_t *d = *at;
        *at = d->next;
        self->doubt_orders -= d->batch->count;
        if (d->released)
            self->doubt_released--;
        s_batch_unknown(self, d->batch, "shutting down");
        free(d);
    }
    self->doubt_tail = self->doubt_head;
    size_t keep = self->doubt_sent == DOUBT_LOOKING_UP ? self->doubt_ids_sent : 0;
    for (size_t i = keep; i < self->doubt_id_count; i++) {
        if (self->doubt_ids[i].released)
            self->doubt_released--;
        s_drop_unknown(self, self->doubt_ids[i].entry, now);
    }
    self->doubt_orders -= self->doubt_id_count - keep;
    self->doubt_id_count = keep;
}

void intake_abandon(intake_t *self)
{
    intake_stop(self);
    intake_batches_down(self);
}
