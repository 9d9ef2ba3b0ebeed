/* admit.c - owns admission decisions. */
#include "admit.h"

#include "tz.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MINUTE_MS 60000u
#define EARTH_RADIUS_KM 6371.0

struct admit {
    const config_t *cfg;
    shed_t shed;
    bucket_t global;
    bucket_t *brands;       /* parallel to cfg->brands */
    campaign_table_t *campaigns;
};

admit_t *admit_new(const config_t *cfg, uint64_t now_us)
{
    admit_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    bucket_init(&self->global, cfg->daemon.limits.orders_per_second, now_us);
    self->campaigns = campaign_table_new(cfg, now_us);
    if (!self->campaigns || !admit_configure(self, cfg, now_us)) {
        admit_destroy(&self);
        return NULL;
    }
    return self;
}

void admit_destroy(admit_t **self)
{
    if (!self || !*self)
        return;
    campaign_table_destroy(&(*self)->campaigns);
    free((*self)->brands);
    free(*self);
    *self = NULL;
}

bool admit_configure(admit_t *self, const config_t *cfg, uint64_t now_us)
{
    bucket_t *brands = calloc(cfg->brand_count ? cfg->brand_count : 1, sizeof *brands);
    if (!brands)
        return false;
    if (!campaign_table_configure(self->campaigns, cfg, now_us)) {
        free(brands);
        return false;
    }
    for (size_t i = 0; i < cfg->brand_count; i++) {
        const config_brand_t *b = &cfg->brands[i];
        bucket_init(&brands[i], b->orders_per_second, now_us);
        for (size_t j = 0; self->cfg && j < self->cfg->brand_count; j++)
            if (strcmp(self->cfg->brands[j].name, b->name) == 0) {
                brands[i] = self->brands[j];
                bucket_set_rate(&brands[i], b->orders_per_second, now_us);
                break;
            }
    }
    free(self->brands);
    self->brands = brands;
    bucket_set_rate(&self->global, cfg->daemon.limits.orders_per_second, now_us);
    shed_configure(&self->shed, (size_t)cfg->daemon.max_pending_orders,
                   (size_t)cfg->daemon.commit_batch_max, cfg->daemon.limits.queue_delay_ms,
                   cfg->daemon.limits.commit_latency_ms);
    self->cfg = cfg;
    return true;
}

shed_t *admit_shed(admit_t *self)
{
    return &self->shed;
}

campaign_table_t *admit_campaigns(admit_t *self)
{
    return self->campaigns;
}

uint64_t admit_delivery_ms(const config_t *cfg, const config_store_t *store, uint64_t ready_ms,
                           double lat, double lng)
{
    /* Haversine: straight line; riders do worse, the dispatch quotes refine it. */
    double rad = M_PI / 180.0;
    double dlat = (lat - store->lat) * rad, dlng = (lng - store->lng) * rad;
    double a = sin(dlat / 2) * sin(dlat / 2) +
               cos(store->lat * rad) * cos(lat * rad) * sin(dlng / 2) * sin(dlng / 2);
    double km = 2.0 * EARTH_RADIUS_KM * asin(sqrt(a < 1.0 ? a : 1.0));
    double travel_ms = km / cfg->dispatch.rider_kmh * 3600000.0;
    return ready_ms + (uint64_t)llround(cfg->dispatch.handoff_seconds * 1000.0) +
           (uint64_t)llround(travel_ms);
}

/* s_prep_ms: DRINKS take this long at store C. Its times may be fractions
 * of a second (a time-compressed drill's), so they are summed before they
 * are rounded to the millisecond. */
static uint64_t s_prep_ms(const config_store_t *c, unsigned drinks)
{
    return (uint64_t)llround((c->order_seconds + (double)drinks * c->item_seconds) * 1000.0);
}

static bool s_reject(admit_result_t *out, Sluice__V1__Reason reason, uint64_t retry_ms,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static bool s_reject(admit_result_t *out, Sluice__V1__Reason reason, uint64_t retry_ms,
                     const char *fmt, ...)
{
    out->reason = reason;
    out->retry_after_ms = retry_ms;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->detail, sizeof out->detail, fmt, ap);
    va_end(ap);
    return false;
}

static bool s_always_open(const config_store_t *c)
{
    return c->open_minute == 0 && c->close_minute == TZ_MINUTES_PER_DAY;
}

static void s_clock_text(int minute, char *buf, size_t len)
{
    snprintf(buf, len, "%02d:%02d", minute / 60 % 24, minute % 60);
}

/* What the store level worked out, for the campaign level after it. */
struct at_store {
    kitchen_t *kitchen;
    int64_t offset_ms;       /* the zone's UTC offset now */
    uint64_t prep_ms;
};

/* s_store_decides runs the store level: paused, hours, queue, wait. */
static bool s_store_decides(const admit_t *self, const store_table_t *stores, store_t *store,
                            unsigned drinks, uint64_t now_ms, admit_result_t *out,
                            struct at_store *at_store)
{
    const config_store_t *c = store->cfg;
    char at[8];
    if (store_paused(store))
        return s_reject(out, SLUICE__V1__REASON__STORE_PAUSED,
                        (uint64_t)self->cfg->daemon.paused_retry_ms, "store %u: paused %s", c->id,
                        store->override == STORE_OVERRIDE_PAUSED ? "by an operator (sluicectl pause)"
                                                                 : "by the merchant");
    int64_t offset = tz_offset_ms(c->timezone, now_ms);
    uint64_t local_ms = (uint64_t)((int64_t)now_ms + offset);
    int minute = (int)(local_ms / MINUTE_MS % TZ_MINUTES_PER_DAY);
    if (!s_always_open(c) && !kitchen_open_at(c, minute)) {
        s_clock_text(c->open_minute, at, sizeof at);
        return s_reject(out, SLUICE__V1__REASON__STORE_CLOSED,
                        kitchen_until_minute(local_ms, c->open_minute),
                        "store %u: closed, opens at %s %s", c->id, at, c->timezone);
    }
    kitchen_t *k = store_kitchen(stores, store);
    if (!k)
        return s_reject(out, SLUICE__V1__REASON__OVERLOADED,
                        (uint64_t)self->cfg->daemon.overloaded_retry_ms,
                        "daemon: out of memory for store %u's schedule", c->id);
    uint64_t prep_ms = s_prep_ms(c, drinks);
    kitchen_plan_t plan;
    if (!kitchen_plan(k, c, prep_ms, now_ms, offset, &plan))
        return s_reject(out, SLUICE__V1__REASON__STORE_BUSY, MINUTE_MS,
                        "store %u: no prep slot is staffed", c->id);
    *at_store = (struct at_store){ k, offset, prep_ms };
    out->plan = plan;
    out->planned = true;
    if (k->waiting >= (uint32_t)c->max_queue) {
        /* Roughly one order's prep time lets the queue move by one. */
        uint64_t retry = prep_ms / (uint64_t)(k->slots ? k->slots : 1);
        return s_reject(out, SLUICE__V1__REASON__STORE_BUSY, retry < 1000 ? 1000 : retry,
                        "store %u: %u orders already waiting (max_queue)", c->id, k->waiting);
    }
    uint64_t max_wait_ms = (uint64_t)llround(c->max_wait_minutes * MINUTE_MS);
    if (prep_ms > max_wait_ms)  /* no retry helps: say so instead of a retry time */
        return s_reject(out, SLUICE__V1__REASON__STORE_BUSY, 0,
                        "store %u: %u drinks take %" PRIu64 " min to make, over max_wait_minutes %g",
                        c->id, drinks, (prep_ms + MINUTE_MS - 1) / MINUTE_MS,
                        c->max_wait_minutes);
    if (plan.ready_ms - now_ms > max_wait_ms) {
        /* The booked slots do not move, so the earliest start stays where it
         * is; the order fits once now + max_wait reaches start + prep. */
        return s_reject(out, SLUICE__V1__REASON__STORE_BUSY,
                        plan.ready_ms - max_wait_ms - now_ms,
                        "store %u: ready in %" PRIu64 " min, over max_wait_minutes %g", c->id,
                        (plan.ready_ms - now_ms + MINUTE_MS - 1) / MINUTE_MS,
                        c->max_wait_minutes);
    }
    if (!s_always_open(c)) {
        uint64_t close_in = kitchen_until_minute(local_ms, c->close_minute);
        if (plan.ready_ms > now_ms + close_in) {
            s_clock_text(c->close_minute, at, sizeof at);
            return s_reject(out, SLUICE__V1__REASON__STORE_CLOSED,
                            kitchen_until_minute(local_ms, c->open_minute),
                            "store %u: closes at %s %s, before the order could be ready", c->id,
                            at, c->timezone);
        }
    }
    return true;
}

bool admit_store_rules(const admit_t *self, const store_table_t *stores, store_t *store,
                       unsigned drinks, uint64_t now_ms, admit_result_t *out)
{
    struct at_store at_store;
    memset(out, 0, sizeof *out);
    out->campaign = CAMPAIGN_NONE;
    if (!store->cfg)
        return s_reject(out, SLUICE__V1__REASON__UNKNOWN_STORE, 0,
                        "store %u: removed from the configuration; takes no new orders",
                        store->id);
    return s_store_decides(self, stores, store, drinks, now_ms, out, &at_store);
}

void admit_store_view(const store_table_t *stores, store_t *store, uint64_t now_ms,
                      admit_store_view_t *out)
{
    const config_store_t *c = store->cfg;
    *out = (admit_store_view_t){.queue_length = store->kitchen.waiting};
    int64_t offset = tz_offset_ms(c->timezone, now_ms);
    int minute = (int)((uint64_t)((int64_t)now_ms + offset) / MINUTE_MS % TZ_MINUTES_PER_DAY);
    out->open_now = s_always_open(c) || kitchen_open_at(c, minute);
    out->prep_slots_now = kitchen_slots_at(c, minute);
    kitchen_t *k = store_kitchen(stores, store);
    uint64_t prep_ms = s_prep_ms(c, 1);
    kitchen_plan_t plan;
    if (k && kitchen_plan(k, c, prep_ms, now_ms, offset, &plan)) {
        out->promise_possible = true;
        out->promised_wait_ms = plan.ready_ms > now_ms ? plan.ready_ms - now_ms : 0;
    }
}

static bool s_campaign_check(admit_t *self, const char *name, const campaign_ask_t *ask,
                             campaign_verdict_t *out)
{
    return campaign_check(self->campaigns, name, ask, (uint64_t)self->cfg->daemon.paused_retry_ms,
                          (uint64_t)self->cfg->daemon.unavailable_retry_ms, out);
}

bool admit_campaign_rules(admit_t *self, const store_table_t *stores, store_t *store,
                          const char *name, unsigned drinks, const admit_result_t *store_result,
                          uint64_t now_ms, uint64_t now_us, campaign_verdict_t *out)
{
    const config_store_t *c = store->cfg;
    bool planned = store_result->reason == SLUICE__V1__REASON__REASON_NONE && store_result->planned;
    campaign_ask_t ask = {
        .store = c,
        .kitchen = planned ? store_kitchen(stores, store) : NULL,
        .plan = planned ? &store_result->plan : NULL,
        .prep_ms = s_prep_ms(c, drinks),
        .offset_ms = tz_offset_ms(c->timezone, now_ms),
        .now_ms = now_ms,
        .now_us = now_us,
        .terse = true,
    };
    return s_campaign_check(self, name, &ask, out);
}

/* s_campaign_decides runs the campaign level for IN's campaign, the store
 * having planned OUT->plan; counts a refusal by its limit. */
static bool s_campaign_decides(admit_t *self, const admit_order_in_t *in,
                               const campaign_ask_t *ask, admit_result_t *out)
{
    campaign_verdict_t v;
    bool ok = s_campaign_check(self, in->campaign, ask, &v);
    out->campaign = v.id;
    out->campaign_state = v.state;
    if (ok)
        return true;
    if (v.id != CAMPAIGN_NONE)
        campaign_refused(self->campaigns, v.id, v.state);
    return s_reject(out,
                    v.state == SLUICE__V1__CAMPAIGN_STATE__CAMPAIGN_STATE_COUNTING
                        ? SLUICE__V1__REASON__UNAVAILABLE
                        : SLUICE__V1__REASON__CAMPAIGN_LIMIT,
                    v.retry_after_ms, "%s", v.detail);
}

bool admit_order(admit_t *self, const store_table_t *stores, store_t *store,
                 const admit_order_in_t *in, admit_result_t *out)
{
    memset(out, 0, sizeof *out);
    out->campaign = CAMPAIGN_NONE;
    if (!store->cfg)
        return s_reject(out, SLUICE__V1__REASON__UNKNOWN_STORE, 0,
                        "store %u: removed from the configuration; takes no new orders",
                        store->id);
    if (!shed_allows(&self->shed, in->pending))
        return s_reject(out, SLUICE__V1__REASON__OVERLOADED,
                        (uint64_t)self->cfg->daemon.overloaded_retry_ms,
                        "daemon: adaptive limit of %.0f pending orders (commit %" PRIu64
                        " ms, queue delay %" PRIu64 " ms)",
                        self->shed.limit, self->shed.commit_us / 1000u,
                        self->shed.queue_delay_us / 1000u);
    uint64_t retry = 0;
    if (!bucket_has(&self->global, in->now_us, &retry))
        return s_reject(out, SLUICE__V1__REASON__OVERLOADED, retry,
                        "daemon: limits.orders_per_second %d reached",
                        self->cfg->daemon.limits.orders_per_second);
    bucket_t *brand = store->cfg->brand >= 0 ? &self->brands[store->cfg->brand] : NULL;
    if (brand && !bucket_has(brand, in->now_us, &retry))
        return s_reject(out, SLUICE__V1__REASON__OVERLOADED, retry,
                        "brand %s: orders_per_second %d reached",
                        self->cfg->brands[store->cfg->brand].name,
                        self->cfg->brands[store->cfg->brand].orders_per_second);
    struct at_store at;
    if (!s_store_decides(self, stores, store, in->drinks, in->now_ms, out, &at))
        return false;
    bool campaign = in->campaign && in->campaign[0];
    campaign_ask_t ask = { store->cfg, at.kitchen, &out->plan, at.prep_ms, at.offset_ms,
                           in->now_ms, in->now_us, false };
    if (campaign && !s_campaign_decides(self, in, &ask, out))
        return false;
    if (campaign && !campaign_book(self->campaigns, out->campaign, &ask)) {
        out->campaign = CAMPAIGN_NONE;
        return s_reject(out, SLUICE__V1__REASON__OVERLOADED,
                        (uint64_t)self->cfg->daemon.overloaded_retry_ms,
                        "daemon: out of memory for campaign %s at store %u", in->campaign,
                        store->cfg->id);
    }
    bucket_take(&self->global);
    if (brand)
        bucket_take(brand);
    kitchen_book(at.kitchen, &out->plan);
    if (out->plan.start_ms > in->now_ms)
        at.kitchen->waiting++;
    out->reason = SLUICE__V1__REASON__REASON_NONE;
    out->promised_delivery_at_ms = admit_delivery_ms(self->cfg, store->cfg, out->plan.ready_ms,
                                                     in->dropoff_lat, in->dropoff_lng);
    return true;
}
