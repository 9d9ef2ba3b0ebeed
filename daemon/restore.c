/* restore.c - owns reading the overrides and the live orders back at start. */
#include "restore.h"

#include "batch.h"
#include "clock.h"
#include "log.h"
#include "order_state.h"

#include <stdio.h>
#include <stdlib.h>

struct restore {
    restore_with_t with;
    bool overrides_loaded;
    bool overrides_in_flight;
    bool restored;
    bool restore_in_flight;
    bool failed;
};

restore_t *restore_new(const restore_with_t *with)
{
    restore_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->with = *with;
    return self;
}

void restore_destroy(restore_t **self)
{
    if (!self || !*self)
        return;
    free(*self);
    *self = NULL;
}

bool restore_done(const restore_t *self)
{
    return self->restored;
}

bool restore_failed(const restore_t *self)
{
    return self->failed;
}

/* ---- the operators' overrides ------------------------------------------- */

static void s_overrides_done(void *arg, const PGresult *res, const db_error_t *err)
{
    restore_t *self = arg;
    self->overrides_in_flight = false;
    if (err) {
        log_warning("failed to read store_overrides: %s; trying again", err->message);
        return;
    }
    if (!override_read(self->with.overrides, res)) {
        log_error("failed to read store_overrides: out of memory");
        self->failed = true;
        return;
    }
    override_apply(self->with.overrides, self->with.stores, "start");
    self->overrides_loaded = true;
}

bool restore_overrides_waiting(void *arg)
{
    const restore_t *self = arg;
    return !self->overrides_loaded;
}

bool restore_send_overrides(void *arg, db_t *db, size_t conn)
{
    restore_t *self = arg;
    (void)conn;
    if (self->overrides_in_flight)
        return false;
    self->overrides_in_flight = true;
    if (!db_send(db, "load_overrides", 0, NULL, s_overrides_done, self)) {
        db_error_t err = {.connection_lost = true};
        snprintf(err.message, sizeof err.message, "could not send the query");
        s_overrides_done(self, NULL, &err);
    }
    return true;
}

/* ---- the live orders ---------------------------------------------------- */

/* s_restore_order puts one order read at start back into the index, its
 * store's schedule and the dispatch engine, so promises made before a crash
 * hold and riders already asked for are followed, not asked for twice. */
static bool s_restore_order(restore_t *self, const batch_stored_t *st, uint64_t now)
{
    const restore_with_t *w = &self->with;
    if (order_index_find(w->orders, st->order_id))
        return true;
    order_entry_t *e = order_index_add(w->orders, st->order_id);
    if (!e)
        return false;
    batch_stored_settle(e, st);
    schedule_restore(w->schedule, e, now);
    if (st->has_dispatch && !dispatch_restore_attempt(w->dispatch, e, &st->dispatch))
        return false;
    if (!order_state_is_terminal((order_state_t)e->state) && !dispatch_restore_done(w->dispatch, e))
        return false;
    schedule_timer(w->schedule, e);
    return true;
}

static void s_orders_done(void *arg, const PGresult *res, const db_error_t *err)
{
    restore_t *self = arg;
    self->restore_in_flight = false;
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
        if (!s_restore_order(self, &st, now)) {
            log_error("failed to restore the live orders: out of memory after %d of %d", row, rows);
            self->failed = true;
            return;
        }
    }
    self->restored = true;
    if (self->with.shard[0])
        log_notice("restored %d live orders of shard %s into the prep schedules", rows,
                   self->with.shard);
    else
        log_notice("restored %d live orders into the prep schedules", rows);
}

bool restore_orders_waiting(void *arg)
{
    const restore_t *self = arg;
    return !self->restored;
}

bool restore_send_orders(void *arg, db_t *db, size_t conn)
{
    restore_t *self = arg;
    (void)conn;
    if (self->restore_in_flight)
        return false;
    self->restore_in_flight = true;
    const char *shard[1] = {self->with.shard};
    if (!db_send(db, "live_orders", shard[0][0] ? 1 : 0, shard[0][0] ? shard : NULL, s_orders_done,
                 self)) {
        db_error_t err = {.connection_lost = true};
        snprintf(err.message, sizeof err.message, "could not send the query");
        s_orders_done(self, NULL, &err);
    }
    return true;
}
