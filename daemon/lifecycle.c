/* lifecycle.c - owns the changes of accepted orders and hosts the dispatch
 * engine. */
#include "lifecycle.h"

#include "change.h"
#include "clock.h"
#include "log.h"
#include "order.h"
#include "reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lifecycle {
    lifecycle_with_t with;
    dispatch_t *dispatch;       /* rider pools and the orders looking for riders */
    change_queue_t changes;     /* MarkReady, CancelOrder and dispatch steps to commit */
    size_t changes_solo;        /* changes to send one per statement, to find one refused */
    uint64_t committed;         /* requesters' changes committed */
};

/* ---- the dispatch engine's host ----------------------------------------- */

/* s_queue takes an engine change. The engine has decided on what the
 * platform said, so a move the state machine lacks is recorded anyway, and
 * logged as the bug it is. */
static bool s_queue(void *arg, const change_t *c)
{
    lifecycle_t *self = arg;
    order_state_t from = (order_state_t)c->entry->state;
    if (!c->keep_state && c->to != from && !order_state_moves(from, c->to, NULL))
        log_error("order %s: the dispatch engine moves it from %s to %s, which no transition of "
                  "the order state machine does: %s", c->entry->order_id, order_state_name(from),
                  order_state_name(c->to), c->detail);
    return change_queue_push(&self->changes, c);
}

static void s_timer(void *arg, order_entry_t *e)
{
    lifecycle_t *self = arg;
    schedule_timer(self->with.schedule, e);
}

static const config_store_t *s_store_config(void *arg, uint32_t id)
{
    lifecycle_t *self = arg;
    store_t *store = store_table_find(self->with.stores, id);
    return store ? store->cfg : NULL;
}

static void s_breaker_changed(void *arg, const char *platform, const char *state,
                              const char *detail)
{
    lifecycle_t *self = arg;
    events_publish_platform(self->with.events, platform, state, detail);
}

lifecycle_t *lifecycle_new(const config_t *cfg, const lifecycle_with_t *with)
{
    lifecycle_t *self = calloc(1, sizeof *self);
    if (!self || !change_queue_init(&self->changes, LIFECYCLE_CHANGES_MAX)) {
        log_error("failed to start: out of memory");
        free(self);
        return NULL;
    }
    self->with = *with;
    dispatch_host_t host = {.orders = with->orders, .queue = s_queue, .timer = s_timer,
                            .store = s_store_config, .breaker = s_breaker_changed, .arg = self};
    self->dispatch = dispatch_new(cfg, with->zmq, &host);
    if (!self->dispatch) {
        lifecycle_destroy(&self);
        return NULL;
    }
    return self;
}

void lifecycle_destroy(lifecycle_t **self)
{
    if (!self || !*self)
        return;
    lifecycle_t *lc = *self;
    for (size_t i = 0; i < lc->changes.count; i++)
        free(change_queue_in_flight(&lc->changes, i)->ticket);
    dispatch_destroy(&lc->dispatch);   /* before the orders its jobs point at */
    change_queue_free(&lc->changes);
    free(lc);
    *self = NULL;
}

dispatch_t *lifecycle_dispatch(lifecycle_t *self)
{
    return self->dispatch;
}

lifecycle_stats_t lifecycle_stats(const lifecycle_t *self)
{
    return (lifecycle_stats_t){.changes = self->committed, .queued = self->changes.count};
}

/* ---- requesters: MarkReady and CancelOrder ------------------------------ */

static const char *s_asked(order_event_t event)
{
    return event == ORDER_EVENT_MARK_READY ? "marked ready" : "cancelled";
}

static unsigned s_facts(const order_entry_t *e)
{
    return e->marked_ready ? ORDER_GUARD_MARKED_READY : ORDER_GUARD_NONE;
}

void lifecycle_request(lifecycle_t *self, ingress_ticket_t *t, const char *field,
                       const char *order_id, order_event_t event, const char *reason)
{
    ingress_t *in = self->with.ingress;
    char why[ORDER_DETAIL_MAX + 64], detail[ORDER_DETAIL_MAX];
    if (!order_id_valid(order_id)) {
        snprintf(why, sizeof why, "%s: 1..64 chars of [A-Za-z0-9._:-]", field);
        reply_error(in, t, REPLY_BAD_REQUEST, why);
        free(t);
        return;
    }
    if (event == ORDER_EVENT_MARK_READY) {
        snprintf(detail, sizeof detail, "marked ready by the store");
    } else if (!order_cancel_detail(reason, detail, sizeof detail)) {
        reply_error(in, t, REPLY_BAD_REQUEST, "cancel.reason: must be UTF-8 text");
        free(t);
        return;
    }
    order_entry_t *e = order_index_find(self->with.orders, order_id);
    if (!e) {
        lookup_change(self->with.lookup, t, event, order_id);
        return;
    }
    if (e->pending || e->changing) {
        /* Temporary, unlike the 409 below: a retry in a moment succeeds. */
        snprintf(why, sizeof why, "order %s: %s is still being committed; retry shortly", order_id,
                 e->pending ? "its acceptance" : "another change");
        reply_error(in, t, REPLY_UNAVAILABLE, why);
        free(t);
        return;
    }
    order_state_t from = (order_state_t)e->state, to;
    order_effect_t effect = order_state_on(from, event, s_facts(e), &to);
    if (effect == ORDER_EFFECT_REPEAT) {
        /* the POS or the app retried, or the POS tapped late */
        reply_entry_status(in, t, e);
        free(t);
        return;
    }
    if (effect == ORDER_EFFECT_REFUSED) {
        snprintf(why, sizeof why, "order %s is %s; it cannot be %s", order_id,
                 order_state_name(from), s_asked(event));
        reply_error(in, t, REPLY_CONFLICT, why);
        free(t);
        return;
    }
    /* A noted event (READY once a rider is sought) keeps the order's state. */
    change_t c = {.entry = e, .ticket = t, .to = to, .asked = event,
                  .keep_state = effect == ORDER_EFFECT_NOTE, .at_ms = clock_wall_ms()};
    memcpy(c.detail, detail, sizeof c.detail);
    if (!dbwork_up(self->with.dbwork) || !change_queue_push(&self->changes, &c)) {
        reply_error(in, t, REPLY_UNAVAILABLE, "database: unreachable or busy, retry later");
        free(t);
        return;
    }
    e->changing = true;
    e->cancel_pending = event == ORDER_EVENT_CANCEL;
}

/* s_apply: a requester's change C committed; now memory, the schedule and
 * the dispatch follow. The dispatch engine may have moved the order on
 * meanwhile, so the table decides again from where it is now. */
static void s_apply(lifecycle_t *self, const change_t *c, uint64_t updated_ms)
{
    order_entry_t *e = c->entry;
    order_state_t from = (order_state_t)e->state, to;
    e->updated_at_ms = updated_ms;
    self->committed++;
    bool in_kitchen = !e->marked_ready && order_state_in_kitchen(from);
    if (order_state_on(from, c->asked, s_facts(e), &to) == ORDER_EFFECT_MOVE)
        e->state = (uint8_t)to;
    if (c->asked == ORDER_EVENT_MARK_READY) {
        e->marked_ready = true;
        schedule_ready(self->with.schedule, e, c->at_ms);
        watch_store(self->with.watch, e->store_id, clock_wall_ms(), clock_mono_us());
        dispatch_marked_ready(self->dispatch, e, c->at_ms);
        return;
    }
    /* Still in the kitchen (a rider may be on the way already): give the
     * prep time (and a campaign's share of it) back. */
    if (in_kitchen) {
        schedule_release(self->with.schedule, e, c->at_ms);
        watch_store(self->with.watch, e->store_id, clock_wall_ms(), clock_mono_us());
    }
    dispatch_cancelled(self->dispatch, e);
}

/* s_settled: change C committed (at UPDATED_MS) or failed. */
static void s_settled(lifecycle_t *self, change_t *c, bool committed, uint64_t updated_ms)
{
    order_entry_t *e = c->entry;
    if (c->engine) {
        if (committed) {
            e->updated_at_ms = updated_ms;
            events_publish(self->with.events, e, c->detail);
            dispatch_committed(self->dispatch, c);
        }
        return;
    }
    if (c->dropped)
        return;
    e->changing = false;
    e->cancel_pending = false;
    if (committed) {
        s_apply(self, c, updated_ms);
        events_publish(self->with.events, e, c->detail);
    }
    if (c->ticket) {
        if (committed)
            reply_entry_status(self->with.ingress, c->ticket, e);
        else
            reply_error(self->with.ingress, c->ticket, REPLY_UNAVAILABLE,
                        "database: the change may not have been recorded; retry (a repeat is "
                        "safe)");
        free(c->ticket);
        c->ticket = NULL;
    }
    c->dropped = !committed;
}

static void s_changes_done(void *arg, const PGresult *res, const db_error_t *err)
{
    lifecycle_t *self = arg;
    int rows = res && !err ? PQntuples(res) : 0;
    for (size_t i = 0; i < self->changes.in_flight; i++) {
        change_t *c = change_queue_in_flight(&self->changes, i);
        int row = -1;
        for (int r = 0; r < rows && row < 0; r++)
            if (strcmp(PQgetvalue(res, r, 0), c->entry->order_id) == 0)
                row = r;
        uint64_t updated = row >= 0 ? (uint64_t)strtoll(PQgetvalue(res, row, 1), NULL, 10) : 0;
        s_settled(self, c, row >= 0, updated);
    }
    if (self->changes_solo)
        self->changes_solo--;
    /* Both repeat with every run while the database is away or refuses:
     * one line per interval, saying how many were left out. */
    static log_limiter_t refused_log = LOG_LIMITER_INIT, failed_log = LOG_LIMITER_INIT;
    if (err && !err->connection_lost && self->changes.in_flight == 1) {
        /* The database refuses this one change itself: keeping it would
         * block every change behind it for good. */
        change_t *c = change_queue_in_flight(&self->changes, 0);
        log_limited(&refused_log, LOG_LEVEL_ERR,
                    "order %s: the database refuses a change (%s%s%s); dropped: %s",
                    c->entry->order_id, err->sqlstate, err->sqlstate[0] ? " " : "", err->message,
                    c->detail);
        change_queue_pop_in_flight(&self->changes);
        return;
    }
    if (err) {
        /* Requesters have their answer; the engine's changes are sent again,
         * one per statement if the database refused the run. */
        log_limited(&failed_log, LOG_LEVEL_WARNING,
                    "failed to record %zu order changes: %s; the dispatch steps among them will "
                    "be sent again", self->changes.in_flight, err->message);
        if (!err->connection_lost && !self->changes_solo)
            self->changes_solo = self->changes.in_flight;
        change_queue_keep_in_flight(&self->changes);
        return;
    }
    change_queue_pop_in_flight(&self->changes);
}

bool lifecycle_changes_waiting(void *arg)
{
    const lifecycle_t *self = arg;
    return self->changes.count > 0 && self->changes.in_flight == 0;
}

bool lifecycle_send_changes(void *arg, db_t *db, size_t conn)
{
    lifecycle_t *self = arg;
    (void)conn;
    const char *values[CHANGE_PARAMS];
    bool oom = false;
    size_t max = self->changes_solo ? 1 : LIFECYCLE_CHANGE_BATCH;
    size_t rows = change_queue_params(&self->changes, max, values, &oom);
    if (rows == 0 && !oom) {  /* only changes already answered */
        change_queue_pop_in_flight(&self->changes);
        return false;
    }
    if (oom || !db_send(db, "change_orders", CHANGE_PARAMS, values, s_changes_done, self)) {
        db_error_t err = {.connection_lost = true};
        snprintf(err.message, sizeof err.message, "%s", oom ? "out of memory" : "could not send");
        s_changes_done(self, NULL, &err);
    }
    return true;
}

/* lifecycle_changes_down answers the requesters' changes still queued when
 * the database went away; the engine's wait for it. */
void lifecycle_changes_down(void *arg)
{
    lifecycle_t *self = arg;
    if (self->changes.in_flight)
        return;
    for (size_t i = 0; i < self->changes.count; i++) {
        change_t *c = change_queue_in_flight(&self->changes, i);
        if (!c->engine)
            s_settled(self, c, false, 0);
    }
}

bool lifecycle_changes_busy(void *arg)
{
    const lifecycle_t *self = arg;
    return self->changes.count > 0;
}
