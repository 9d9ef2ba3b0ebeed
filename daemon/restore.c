/* restore.c - owns reading the overrides, the live orders and the
 * campaigns' counts back. */
#include "restore.h"

#include "batch.h"
#include "clock.h"
#include "log.h"
#include "order_state.h"
#include "pgarray.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One round of reading campaigns' counts back: the names uncounted when it
 * began, the counts query, their bookings, then the day query once per
 * local midnight the config's zones have at NOW_MS. */
typedef struct counting {
    const char **names;         /* the campaign table's own strings */
    size_t count;
    pgarray_t names_array;      /* the $1 text[] of both queries */
    uint64_t *days;             /* distinct local midnights, wall ms */
    size_t day_count;
    size_t step;                /* 0: the counts; 1: the bookings; 2..: a day */
    uint64_t now_ms;
    uint64_t since_ms;          /* the bookings query's $2 */
    bool active;
    bool in_flight;
} counting_t;

struct restore {
    restore_with_t with;
    bool overrides_loaded;
    bool overrides_in_flight;
    bool pauses_loaded;
    bool pauses_in_flight;
    bool restored;
    bool restore_in_flight;
    bool counted_once;          /* the first round is done: requests may come */
    bool failed;
    counting_t counting;
};

static void s_round_end(counting_t *c);

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
    s_round_end(&(*self)->counting);
    free(*self);
    *self = NULL;
}

bool restore_done(const restore_t *self)
{
    return self->restored && self->counted_once;
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

/* ---- the operators' campaign pauses ------------------------------------- */

static void s_pauses_done(void *arg, const PGresult *res, const db_error_t *err)
{
    restore_t *self = arg;
    self->pauses_in_flight = false;
    if (err) {
        log_warning("failed to read campaign_overrides: %s; trying again", err->message);
        return;
    }
    for (int row = 0; row < PQntuples(res); row++) {
        const char *name = PQgetvalue(res, row, 0), *by = PQgetvalue(res, row, 1);
        if (!campaign_override_pause(self->with.campaigns, name, by)) {
            log_error("failed to read campaign_overrides: out of memory");
            self->failed = true;
            return;
        }
        log_notice("start: campaign %s paused by sluicectl override%s%s%s", name,
                   by[0] ? ", set by " : "", by,
                   campaign_find(self->with.campaigns, name) == CAMPAIGN_NONE
                       ? " (not in the configuration; kept for a reload that adds it)"
                       : "");
    }
    self->pauses_loaded = true;
}

bool restore_campaign_pauses_waiting(void *arg)
{
    const restore_t *self = arg;
    return !self->pauses_loaded;
}

bool restore_send_campaign_pauses(void *arg, db_t *db, size_t conn)
{
    restore_t *self = arg;
    (void)conn;
    if (self->pauses_in_flight)
        return false;
    self->pauses_in_flight = true;
    if (!db_send(db, "load_campaign_overrides", 0, NULL, s_pauses_done, self)) {
        db_error_t err = {.connection_lost = true};
        snprintf(err.message, sizeof err.message, "could not send the query");
        s_pauses_done(self, NULL, &err);
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
    /* Its booking comes back with its campaign's counts (restore_send_counts);
     * the id lets a cancel or an early MarkReady give it back. */
    campaign_id_t id = campaign_find(w->campaigns, st->campaign);
    if (st->campaign[0] && id != CAMPAIGN_NONE)
        e->campaign = (uint16_t)(id + 1u);
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
    if (campaign_uncounted(self->with.campaigns, NULL, 0) == 0)
        self->counted_once = true;
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

/* ---- the campaigns' counts ---------------------------------------------- */

static void s_round_end(counting_t *c)
{
    free(c->names);
    free(c->days);
    pgarray_free(&c->names_array);
    *c = (counting_t){0};
}

/* s_add_day adds MIDNIGHT to C's days unless it is there. */
static bool s_add_day(counting_t *c, uint64_t midnight, size_t cap)
{
    for (size_t i = 0; i < c->day_count; i++)
        if (c->days[i] == midnight)
            return true;
    if (c->day_count == cap)
        return false;
    c->days[c->day_count++] = midnight;
    return true;
}

/* s_round_begin takes the names uncounted now and the midnights of the
 * config's zones (UTC among them: a store without a zone). False when out
 * of memory. */
static bool s_round_begin(restore_t *self)
{
    counting_t *c = &self->counting;
    const config_t *cfg = reload_config(self->with.reload);
    size_t n = campaign_uncounted(self->with.campaigns, NULL, 0);
    c->names = calloc(n ? n : 1, sizeof *c->names);
    c->days = calloc(cfg->timezone_count + 1, sizeof *c->days);
    if (!c->names || !c->days)
        return false;
    c->count = campaign_uncounted(self->with.campaigns, c->names, n);
    for (size_t i = 0; i < c->count; i++)
        if (!pgarray_put_text(&c->names_array, c->names[i], false))
            return false;
    if (!pgarray_finish(&c->names_array))
        return false;
    c->now_ms = clock_wall_ms();
    uint64_t longest = 0;
    for (size_t i = 0; i < cfg->store_count; i++)
        if ((uint64_t)cfg->stores[i].max_wait_minutes > longest)
            longest = (uint64_t)cfg->stores[i].max_wait_minutes;
    longest *= 60000u;
    c->since_ms = c->now_ms > 2 * longest ? c->now_ms - 2 * longest : 0;
    (void)s_add_day(c, campaign_day_start_ms(NULL, c->now_ms), cfg->timezone_count + 1);
    for (size_t i = 0; i < cfg->timezone_count; i++)
        (void)s_add_day(c, campaign_day_start_ms(cfg->timezones[i], c->now_ms),
                        cfg->timezone_count + 1);
    c->active = true;
    return true;
}

static uint64_t s_u64(const PGresult *res, int row, int col)
{
    return (uint64_t)strtoull(PQgetvalue(res, row, col), NULL, 10);
}

/* s_round_finish: every query of the round has answered; the names still
 * in the config take orders now (one a reload removed meanwhile was not
 * counted, and is counted when a reload brings it back). */
static void s_round_finish(restore_t *self)
{
    counting_t *c = &self->counting;
    campaign_table_t *t = self->with.campaigns;
    size_t kept = 0;
    for (size_t i = 0; i < c->count; i++) {
        campaign_id_t id = campaign_find(t, c->names[i]);
        if (id == CAMPAIGN_NONE)
            continue;
        c->names[kept++] = c->names[i];
        log_notice("campaign %s: counts read back, %" PRIu64 " orders placed; it takes orders",
                   c->names[i], campaign_counts(t, id)->placed);
    }
    campaign_counted(t, c->names, kept);
    self->counted_once = true;
    s_round_end(c);
}

static void s_counts_done(void *arg, const PGresult *res, const db_error_t *err)
{
    restore_t *self = arg;
    counting_t *c = &self->counting;
    campaign_table_t *t = self->with.campaigns;
    c->in_flight = false;
    if (err) {
        log_warning("failed to read the campaigns' counts back: %s; trying again", err->message);
        s_round_end(c);
        return;
    }
    for (int row = 0; row < PQntuples(res); row++) {
        if (c->step == 0) {
            campaign_restore_counts(t, PQgetvalue(res, row, 0), s_u64(res, row, 1),
                                    s_u64(res, row, 2), clock_mono_us());
            continue;
        }
        store_t *store = store_table_find(self->with.stores, (uint32_t)s_u64(res, row, 0));
        if (!store || !store->cfg)
            continue;
        const char *name = PQgetvalue(res, row, 1);
        bool ok = c->step == 1
                      ? campaign_restore_booking(t, name, store->cfg, s_u64(res, row, 2),
                                                 s_u64(res, row, 3), c->now_ms)
                      : campaign_restore_day(t, name, store->cfg, c->days[c->step - 2],
                                             s_u64(res, row, 2), c->now_ms);
        if (!ok) {
            log_error("failed to read the campaigns' counts back: out of memory");
            self->failed = true;
            s_round_end(c);
            return;
        }
    }
    if (++c->step > c->day_count + 1)
        s_round_finish(self);
}

bool restore_counts_waiting(void *arg)
{
    const restore_t *self = arg;
    if (!self->restored || self->counting.in_flight)
        return false;
    return self->counting.active || campaign_uncounted(self->with.campaigns, NULL, 0) > 0;
}

bool restore_send_counts(void *arg, db_t *db, size_t conn)
{
    restore_t *self = arg;
    counting_t *c = &self->counting;
    (void)conn;
    if (!c->active && !s_round_begin(self)) {
        log_error("failed to read the campaigns' counts back: out of memory");
        self->failed = true;
        s_round_end(c);
        return false;
    }
    char ms[24];
    const char *counts[2] = {pgarray_finish(&c->names_array), self->with.shard};
    const char *values[3] = {counts[0], ms, self->with.shard};
    bool sent;
    c->in_flight = true;
    if (c->step == 0) {
        sent = db_send(db, "campaign_counts", 2, counts, s_counts_done, self);
    } else if (c->step == 1) {
        snprintf(ms, sizeof ms, "%" PRIu64, c->since_ms);
        sent = db_send(db, "campaign_bookings", 3, values, s_counts_done, self);
    } else {
        snprintf(ms, sizeof ms, "%" PRIu64, c->days[c->step - 2]);
        sent = db_send(db, "campaign_day", 3, values, s_counts_done, self);
    }
    if (!sent) {
        db_error_t err = {.connection_lost = true};
        snprintf(err.message, sizeof err.message, "could not send the query");
        s_counts_done(self, NULL, &err);
    }
    return true;
}

bool restore_counts_busy(void *arg)
{
    const restore_t *self = arg;
    return self->counting.in_flight;
}
