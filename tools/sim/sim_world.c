/* sim_world.c - owns sluice-sim's riders, dispatch records and rider timers. */
#include "sim_world.h"

#include "log.h"
#include "sim_grid.h"
#include "sim_map.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EARTH_KM 6371.0088
#define KM_PER_DEG_LAT 111.195   /* EARTH_KM * pi / 180 */
#define MS_PER_HOUR 3600000.0
#define PLATFORM_CANCEL_REASON "rider gave up the order"

/* A timer moves one record on: STEP to its next state (if its generation
 * still matches), PLATFORM_CANCEL gives it up (if still before pickup). */
enum timer_kind { TIMER_STEP, TIMER_PLATFORM_CANCEL };

typedef struct timer {
    uint64_t due_ms;
    uint64_t order;            /* insertion order: equal due times run first-in first-out */
    uint32_t index;
    uint32_t gen;
    enum timer_kind kind;
} timer_t_;

struct sim_world {
    sim_params_t params;
    sim_sink_t sink;
    uint64_t rng;              /* splitmix64 state: rider placement, speeds, cancellations */
    uint64_t now_ms;           /* the latest time seen; never goes back */
    sim_rider_t *riders;
    sim_grid_t *idle[SIM_CENTERS_MAX]; /* the idle riders of each city, by where they wait */
    uint32_t cities;           /* 1 + params.more_center_count */
    double pace;               /* riders move at this times their speed */
    sim_dispatch_t *records;
    size_t count, cap;
    sim_map_t by_key;          /* key -> record index */
    uint32_t *ended;           /* settlement order: indexes of keys that ended with a fee line */
    size_t ended_count, ended_cap;
    timer_t_ *timers;          /* binary min-heap by (due_ms, order) */
    size_t timer_count, timer_cap;
    uint64_t timer_order;
    size_t live;
    uint32_t stall_next;       /* dispatches still to be stalled on acceptance */
    sim_state_t stall_next_at;
    sim_stats_t stats;
};

static uint64_t s_now(sim_world_t *w, uint64_t now_ms);

/* ---- small helpers ---- */

static uint64_t s_splitmix(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* s_uniform: a double in [0, 1). */
static double s_uniform(uint64_t *state)
{
    return (double)(s_splitmix(state) >> 11) * 0x1.0p-53;
}

static void s_copy(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
}

/* s_clock: the world's time never goes back, so events of a key and the
 * settlement list come out in time order even if the wall clock steps. */
static uint64_t s_clock(sim_world_t *w, uint64_t now_ms)
{
    if (now_ms > w->now_ms)
        w->now_ms = now_ms;
    return w->now_ms;
}

double sim_distance_km(sim_geo_t a, sim_geo_t b)
{
    double rad = M_PI / 180.0;
    double dlat = (b.lat - a.lat) * rad, dlng = (b.lng - a.lng) * rad;
    double h = sin(dlat / 2) * sin(dlat / 2) +
               cos(a.lat * rad) * cos(b.lat * rad) * sin(dlng / 2) * sin(dlng / 2);
    return 2 * EARTH_KM * asin(sqrt(h > 1 ? 1 : h));
}

uint64_t sim_world_travel_ms(const sim_world_t *w, double km, double speed_kmh)
{
    return (uint64_t)ceil(km / (speed_kmh * w->pace) * MS_PER_HOUR / w->params.time_scale);
}

static uint32_t s_fee_cents(double ride_km)
{
    return SIM_BASE_FEE_CENTS + (uint32_t)lround(ride_km * SIM_KM_FEE_CENTS);
}

static uint64_t s_max(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

/* ---- timers ---- */

static bool s_timer_less(const timer_t_ *a, const timer_t_ *b)
{
    return a->due_ms != b->due_ms ? a->due_ms < b->due_ms : a->order < b->order;
}

static void s_timer_swap(sim_world_t *w, size_t i, size_t j)
{
    timer_t_ t = w->timers[i];
    w->timers[i] = w->timers[j];
    w->timers[j] = t;
}

/* s_timer_add schedules a timer. Out of memory, the record stays where it is
 * (logged: the simulator's riders then never move on). */
static bool s_timer_add(sim_world_t *w, uint64_t due_ms, uint32_t index, enum timer_kind kind)
{
    if (w->timer_count == w->timer_cap) {
        size_t cap = w->timer_cap ? w->timer_cap * 2 : 256;
        timer_t_ *t = realloc(w->timers, cap * sizeof *t);
        if (!t) {
            log_error("failed to schedule a rider step: out of memory");
            return false;
        }
        w->timers = t;
        w->timer_cap = cap;
    }
    size_t i = w->timer_count++;
    w->timers[i] = (timer_t_){.due_ms = due_ms, .order = w->timer_order++, .index = index,
                              .gen = w->records[index].gen, .kind = kind};
    while (i > 0 && s_timer_less(&w->timers[i], &w->timers[(i - 1) / 2])) {
        s_timer_swap(w, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    return true;
}

static timer_t_ s_timer_pop(sim_world_t *w)
{
    timer_t_ top = w->timers[0];
    w->timers[0] = w->timers[--w->timer_count];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < w->timer_count && s_timer_less(&w->timers[l], &w->timers[m]))
            m = l;
        if (r < w->timer_count && s_timer_less(&w->timers[r], &w->timers[m]))
            m = r;
        if (m == i)
            break;
        s_timer_swap(w, i, m);
        i = m;
    }
    return top;
}

uint64_t sim_world_next_due(const sim_world_t *w)
{
    return w->timer_count ? w->timers[0].due_ms : UINT64_MAX;
}

/* ---- riders ---- */

static sim_geo_t s_center(const sim_params_t *p, uint32_t city)
{
    return city == 0 ? p->center : p->more_centers[city - 1];
}

/* s_city: the city rider I belongs to (and waits in when idle). */
static uint32_t s_city(const sim_world_t *w, uint32_t rider)
{
    return rider % w->cities;
}

/* s_place_riders spreads each city's riders uniformly over its disc (the
 * square root makes the density even, not bunched at the centre). */
static void s_place_riders(sim_world_t *w)
{
    const sim_params_t *p = &w->params;
    for (uint32_t i = 0; i < p->riders; i++) {
        sim_geo_t c = s_center(p, s_city(w, i));
        double cos_lat = fmax(cos(c.lat * M_PI / 180.0), 1e-6);  /* the poles */
        double r = p->radius_km * sqrt(s_uniform(&w->rng));
        double angle = 2 * M_PI * s_uniform(&w->rng);
        sim_geo_t at = {
            .lat = c.lat + r * sin(angle) / KM_PER_DEG_LAT,
            .lng = c.lng + r * cos(angle) / (KM_PER_DEG_LAT * cos_lat),
        };
        double speed = p->speed_min_kmh + (p->speed_max_kmh - p->speed_min_kmh) * s_uniform(&w->rng);
        w->riders[i] = (sim_rider_t){.from = at, .to = at, .speed_kmh = speed,
                                     .state = SIM_RIDER_IDLE};
        sim_grid_add(w->idle[s_city(w, i)], i, at);
    }
}

sim_geo_t sim_world_rider_position(const sim_world_t *w, size_t i, uint64_t now_ms)
{
    const sim_rider_t *r = &w->riders[i];
    if (now_ms >= r->leg_end_ms || r->leg_end_ms <= r->leg_start_ms)
        return r->to;
    if (now_ms <= r->leg_start_ms)
        return r->from;
    double f = (double)(now_ms - r->leg_start_ms) / (double)(r->leg_end_ms - r->leg_start_ms);
    return (sim_geo_t){.lat = r->from.lat + (r->to.lat - r->from.lat) * f,
                       .lng = r->from.lng + (r->to.lng - r->from.lng) * f};
}

/* s_nearest_idle returns the idle rider closest to AT (lowest index on a
 * tie), or -1. */
static int32_t s_nearest_idle(const sim_world_t *w, sim_geo_t at, double *km)
{
    if (w->cities == 1)
        return sim_grid_nearest(w->idle[0], at, km);
    /* The cities by how near their riders could be, nearest first; a city
     * whose nearest possible rider is further than one found is skipped. */
    uint32_t order[SIM_CENTERS_MAX];
    double bound[SIM_CENTERS_MAX];
    for (uint32_t c = 0; c < w->cities; c++) {
        double b = sim_grid_bound_km(w->idle[c], at);
        uint32_t k = c;
        for (; k > 0 && bound[k - 1] > b; k--) {
            bound[k] = bound[k - 1];
            order[k] = order[k - 1];
        }
        bound[k] = b;
        order[k] = c;
    }
    int32_t best = -1;
    *km = INFINITY;
    for (uint32_t k = 0; k < w->cities && bound[k] <= *km; k++) {
        double d;
        int32_t r = sim_grid_nearest(w->idle[order[k]], at, &d);
        if (r >= 0 && (d < *km || (d == *km && r < best))) {
            best = r;
            *km = d;
        }
    }
    return best;
}

static void s_leg(sim_rider_t *r, sim_geo_t from, sim_geo_t to, uint64_t start, uint64_t end)
{
    r->from = from;
    r->to = to;
    r->leg_start_ms = start;
    r->leg_end_ms = end;
}

/* s_release leaves the rider idle where it is now (mid-road if it was on its
 * way). */
static void s_release(sim_world_t *w, int32_t rider, uint64_t now_ms)
{
    sim_rider_t *r = &w->riders[rider];
    sim_geo_t here = sim_world_rider_position(w, (size_t)rider, now_ms);
    s_leg(r, here, here, now_ms, now_ms);
    r->state = SIM_RIDER_IDLE;
    sim_grid_add(w->idle[s_city(w, (uint32_t)rider)], (uint32_t)rider, here);
}

size_t sim_world_rider_count(const sim_world_t *w)
{
    return w->params.riders;
}

const sim_rider_t *sim_world_rider(const sim_world_t *w, size_t i)
{
    return &w->riders[i];
}

size_t sim_world_idle_riders(const sim_world_t *w)
{
    size_t n = 0;
    for (uint32_t c = 0; c < w->cities; c++)
        n += sim_grid_count(w->idle[c]);
    return n;
}

size_t sim_world_live(const sim_world_t *w)
{
    return w->live;
}

void sim_world_rider_ref(const sim_world_t *w, int32_t i, char *buf, size_t len)
{
    if (i < 0)
        s_copy(buf, len, "");
    else
        snprintf(buf, len, "%s-r%d", w->params.name, (int)i);
}

/* ---- lifecycle ---- */

sim_world_t *sim_world_new(const sim_params_t *params, const sim_sink_t *sink)
{
    sim_world_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->params = *params;
    w->sink = *sink;
    w->rng = params->seed;
    w->pace = 1;
    w->cities = 1 + (params->more_center_count < SIM_CENTERS_MAX ? params->more_center_count
                                                                 : SIM_CENTERS_MAX - 1);
    w->riders = calloc(params->riders ? params->riders : 1, sizeof *w->riders);
    bool ok = w->riders != NULL;
    for (uint32_t c = 0; c < w->cities && ok; c++) {
        w->idle[c] = sim_grid_new(s_center(params, c), params->radius_km, params->riders);
        ok = w->idle[c] != NULL;
    }
    if (!ok) {
        sim_world_destroy(&w);
        return NULL;
    }
    s_place_riders(w);
    return w;
}

void sim_world_destroy(sim_world_t **self)
{
    if (!self || !*self)
        return;
    sim_world_t *w = *self;
    sim_map_free(&w->by_key);
    for (uint32_t c = 0; c < SIM_CENTERS_MAX; c++)
        sim_grid_free(&w->idle[c]);
    free(w->riders);
    free(w->records);
    free(w->ended);
    free(w->timers);
    free(w);
    *self = NULL;
}

const sim_params_t *sim_world_params(const sim_world_t *w)
{
    return &w->params;
}

const sim_stats_t *sim_world_stats(const sim_world_t *w)
{
    return &w->stats;
}

void sim_world_set_cancel_ratio(sim_world_t *w, double ratio)
{
    w->params.cancel_ratio = ratio;
}

void sim_world_set_pace(sim_world_t *w, double pace)
{
    if (pace > 0 && pace <= SIM_PACE_MAX)
        w->pace = pace;
}

double sim_world_pace(const sim_world_t *w)
{
    return w->pace;
}

static bool s_stall_state(sim_state_t at)
{
    return at == SLUICE__NET__V1__DISPATCH_STATE__ASSIGNED ||
           at == SLUICE__NET__V1__DISPATCH_STATE__ARRIVED ||
           at == SLUICE__NET__V1__DISPATCH_STATE__PICKED_UP;
}

bool sim_world_stall_next(sim_world_t *w, uint32_t n, sim_state_t at)
{
    if (n && !s_stall_state(at))
        return false;
    w->stall_next = n;
    w->stall_next_at = at;
    return true;
}

bool sim_world_stall(sim_world_t *w, const char *key, sim_state_t at)
{
    uint32_t index;
    if (!s_stall_state(at) || !sim_world_find(w, key, &index))
        return false;
    w->records[index].stall_at = at;
    return true;
}

void sim_world_set_settle_faults(sim_world_t *w, const sim_settle_faults_t *faults)
{
    w->params.settle = *faults;
}

void sim_world_set_settlement_skew(sim_world_t *w, double ratio)
{
    w->params.settlement_skew = ratio;
}

/* ---- records ---- */

bool sim_world_find(const sim_world_t *w, const char *key, uint32_t *index)
{
    return sim_map_get(&w->by_key, key, index);
}

const sim_dispatch_t *sim_world_record(const sim_world_t *w, uint32_t index)
{
    return &w->records[index];
}

void sim_world_subscribe(sim_world_t *w, uint32_t index, uint32_t subscriber)
{
    w->records[index].subscriber = subscriber;
}

/* s_new_record adds a blank record for KEY; false when out of memory. */
static bool s_new_record(sim_world_t *w, const char *key, uint32_t *index)
{
    if (w->count == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 1024;
        sim_dispatch_t *r = realloc(w->records, cap * sizeof *r);
        if (!r)
            return false;
        w->records = r;
        w->cap = cap;
    }
    uint32_t i = (uint32_t)w->count;
    if (!sim_map_put(&w->by_key, key, i))
        return false;
    w->count++;
    sim_dispatch_t *d = &w->records[i];
    *d = (sim_dispatch_t){.rider = -1};
    s_copy(d->key, sizeof d->key, key);
    *index = i;
    return true;
}

static bool s_end_listed(sim_world_t *w, uint32_t index)
{
    if (w->ended_count == w->ended_cap) {
        size_t cap = w->ended_cap ? w->ended_cap * 2 : 1024;
        uint32_t *e = realloc(w->ended, cap * sizeof *e);
        if (!e) {
            log_error("failed to list key %s for settlement: out of memory", w->records[index].key);
            return false;
        }
        w->ended = e;
        w->ended_cap = cap;
    }
    w->ended[w->ended_count++] = index;
    return true;
}

static void s_record(sim_world_t *w, const sim_dispatch_t *d, uint64_t at_ms, const char *what,
                     const char *info)
{
    if (w->sink.record)
        w->sink.record(w->sink.ctx, w, d, at_ms, what, info ? info : "");
}

/* s_change moves record INDEX to STATE: one event, one ledger record. */
static void s_change(sim_world_t *w, uint32_t index, sim_state_t state, uint64_t now_ms,
                     const char *what, const char *info)
{
    sim_dispatch_t *d = &w->records[index];
    d->state = state;
    d->updated_at_ms = now_ms;
    d->gen++;
    d->seq++;
    s_record(w, d, now_ms, what, info);
    if (w->sink.event)
        w->sink.event(w->sink.ctx, w, d);
}

/* ---- quote and dispatch ---- */

void sim_world_quote(sim_world_t *w, const sim_order_t *o, uint64_t now_ms, sim_quote_t *out)
{
    uint64_t now = s_now(w, now_ms);
    *out = (sim_quote_t){0};
    w->stats.quotes++;
    double ride_km = sim_distance_km(o->pickup, o->dropoff), to_store_km = 0;
    int32_t rider = ride_km > w->params.max_km ? -1 : s_nearest_idle(w, o->pickup, &to_store_km);
    if (rider < 0) {
        out->refusal = ride_km > w->params.max_km ? SLUICE__NET__V1__REFUSAL__OUT_OF_AREA
                                                  : SLUICE__NET__V1__REFUSAL__NO_RIDER;
        w->stats.quotes_refused++;
        return;
    }
    double speed = w->riders[rider].speed_kmh;
    out->available = true;
    out->pickup_at_ms = now + sim_world_travel_ms(w, to_store_km, speed);
    out->delivery_at_ms = s_max(out->pickup_at_ms, o->ready_at_ms) +
                          sim_world_travel_ms(w, ride_km, speed);
    out->fee_cents = s_fee_cents(ride_km);
}

static void s_fill_order(sim_dispatch_t *d, const sim_order_t *o)
{
    s_copy(d->order_id, sizeof d->order_id, o->order_id);
    d->store_id = o->store_id;
    d->items = o->items;
    d->pickup = o->pickup;
    d->dropoff = o->dropoff;
    d->ready_at_ms = o->ready_at_ms;
    d->deliver_by_ms = o->deliver_by_ms;
}

static const char *s_refusal_name(sim_refusal_t r)
{
    switch (r) {
    case SLUICE__NET__V1__REFUSAL__NO_RIDER: return "NO_RIDER";
    case SLUICE__NET__V1__REFUSAL__OUT_OF_AREA: return "OUT_OF_AREA";
    case SLUICE__NET__V1__REFUSAL__KEY_CANCELLED: return "KEY_CANCELLED";
    default: return "NONE";
    }
}

static void s_refuse(sim_world_t *w, uint32_t index, sim_refusal_t refusal, uint64_t now)
{
    sim_dispatch_t *d = &w->records[index];
    d->decided = true;
    d->accepted = false;
    d->refusal = refusal;
    if (d->state != SLUICE__NET__V1__DISPATCH_STATE__CANCELLED) {
        d->state = SLUICE__NET__V1__DISPATCH_STATE__REFUSED;
        d->updated_at_ms = now;
    }
    w->stats.refused++;
    s_record(w, d, now, "refused", s_refusal_name(refusal));
}

/* s_assign sends RIDER to the store of record INDEX: it leaves now, its
 * arrival is the record's first timer; a platform cancellation, if drawn,
 * falls somewhere on the way. */
static void s_assign(sim_world_t *w, uint32_t index, int32_t rider, double to_store_km,
                     uint64_t now)
{
    sim_dispatch_t *d = &w->records[index];
    sim_rider_t *r = &w->riders[rider];
    double ride_km = sim_distance_km(d->pickup, d->dropoff);
    uint64_t arrive = now + sim_world_travel_ms(w, to_store_km, r->speed_kmh);
    s_leg(r, r->to, d->pickup, now, arrive);
    r->state = SIM_RIDER_TO_STORE;
    sim_grid_remove(w->idle[s_city(w, (uint32_t)rider)], (uint32_t)rider);
    r->dispatch = index;
    d->rider = rider;
    d->decided = true;
    d->accepted = true;
    d->fee_cents = s_fee_cents(ride_km);
    d->assigned_at_ms = now;
    if (w->stall_next) {
        w->stall_next--;
        d->stall_at = w->stall_next_at;
    }
    d->pickup_at_ms = d->first_pickup_at_ms = arrive;
    d->delivery_at_ms = d->first_delivery_at_ms =
        s_max(arrive, d->ready_at_ms) + sim_world_travel_ms(w, ride_km, r->speed_kmh);
    w->live++;
    w->stats.dispatches++;
    s_change(w, index, SLUICE__NET__V1__DISPATCH_STATE__ASSIGNED, now, "dispatch", "");
    (void)s_timer_add(w, arrive, index, TIMER_STEP);
    if (w->params.cancel_ratio > 0 && s_uniform(&w->rng) < w->params.cancel_ratio) {
        uint64_t at = now + (uint64_t)((double)(arrive - now) * (0.2 + 0.6 * s_uniform(&w->rng)));
        (void)s_timer_add(w, at, index, TIMER_PLATFORM_CANCEL);
    }
}

/* s_decide is the first DispatchRequest of record INDEX. */
static void s_decide(sim_world_t *w, uint32_t index, const sim_order_t *o, uint64_t now)
{
    sim_dispatch_t *d = &w->records[index];
    s_fill_order(d, o);
    if (d->state == SLUICE__NET__V1__DISPATCH_STATE__CANCELLED) {  /* a tombstone */
        s_refuse(w, index, SLUICE__NET__V1__REFUSAL__KEY_CANCELLED, now);
        return;
    }
    if (sim_distance_km(o->pickup, o->dropoff) > w->params.max_km) {
        s_refuse(w, index, SLUICE__NET__V1__REFUSAL__OUT_OF_AREA, now);
        return;
    }
    double km = 0;
    int32_t rider = s_nearest_idle(w, o->pickup, &km);
    if (rider < 0) {
        s_refuse(w, index, SLUICE__NET__V1__REFUSAL__NO_RIDER, now);
        return;
    }
    s_assign(w, index, rider, km, now);
}

sim_result_t sim_world_dispatch(sim_world_t *w, const sim_order_t *o, uint64_t now_ms,
                                uint32_t *index)
{
    uint64_t now = s_now(w, now_ms);
    if (sim_world_find(w, o->key, index)) {
        const sim_dispatch_t *d = &w->records[*index];
        if (d->decided && strcmp(d->order_id, o->order_id) != 0) {
            w->stats.conflicts++;
            return SIM_CONFLICT;
        }
        if (d->decided) {
            if (o->subscriber)
                w->records[*index].subscriber = o->subscriber;
            w->stats.duplicates++;
            return SIM_DUPLICATE;
        }
    } else if (!s_new_record(w, o->key, index)) {
        return SIM_NOMEM;
    }
    if (o->subscriber)  /* before deciding: the ASSIGNED event goes to the asker */
        w->records[*index].subscriber = o->subscriber;
    s_decide(w, *index, o, now);
    return SIM_OK;
}

/* ---- the ride ---- */

static void s_arrive(sim_world_t *w, uint32_t index, uint64_t now)
{
    sim_dispatch_t *d = &w->records[index];
    sim_rider_t *r = &w->riders[d->rider];
    s_leg(r, d->pickup, d->pickup, now, now);
    r->state = SIM_RIDER_WAITING;
    d->arrived_at_ms = now;
    d->pickup_at_ms = s_max(now, d->ready_at_ms);
    d->delivery_at_ms = d->pickup_at_ms +
                        sim_world_travel_ms(w, sim_distance_km(d->pickup, d->dropoff), r->speed_kmh);
    if (d->ready_at_ms > now) {
        d->wait_ms = (uint32_t)(d->ready_at_ms - now);
        w->stats.waits++;
        w->stats.wait_ms_total += d->wait_ms;
        w->stats.wait_ms_max = s_max(w->stats.wait_ms_max, d->wait_ms);
    } else {
        d->late_ms = (uint32_t)(now - d->ready_at_ms);
        w->stats.lates++;
        w->stats.late_ms_total += d->late_ms;
        w->stats.late_ms_max = s_max(w->stats.late_ms_max, d->late_ms);
    }
    w->stats.arrived++;
    char info[64];
    snprintf(info, sizeof info, "wait_ms=%u late_ms=%u", d->wait_ms, d->late_ms);
    s_change(w, index, SLUICE__NET__V1__DISPATCH_STATE__ARRIVED, now, "arrived", info);
    (void)s_timer_add(w, d->pickup_at_ms, index, TIMER_STEP);
}

/* s_pick_up: the order is ready and the rider takes it (never before
 * ready_at: the timer was set for the later of arrival and ready). */
static void s_pick_up(sim_world_t *w, uint32_t index, uint64_t now)
{
    sim_dispatch_t *d = &w->records[index];
    sim_rider_t *r = &w->riders[d->rider];
    uint64_t drop = now + sim_world_travel_ms(w, sim_distance_km(d->pickup, d->dropoff),
                                              r->speed_kmh);
    s_leg(r, d->pickup, d->dropoff, now, drop);
    r->state = SIM_RIDER_CARRYING;
    d->picked_up_at_ms = now;
    d->pickup_at_ms = 0;
    d->delivery_at_ms = drop;
    w->stats.picked_up++;
    char info[32];
    snprintf(info, sizeof info, "wait_ms=%u", d->wait_ms);
    s_change(w, index, SLUICE__NET__V1__DISPATCH_STATE__PICKED_UP, now, "picked_up", info);
    (void)s_timer_add(w, drop, index, TIMER_STEP);
}

static void s_deliver(sim_world_t *w, uint32_t index, uint64_t now)
{
    sim_dispatch_t *d = &w->records[index];
    s_release(w, d->rider, now);
    d->delivered_at_ms = now;
    d->delivery_at_ms = 0;
    d->charged_cents = d->fee_cents;
    w->live--;
    w->stats.delivered++;
    (void)s_end_listed(w, index);
    s_change(w, index, SLUICE__NET__V1__DISPATCH_STATE__DELIVERED, now, "delivered", "");
}

static void s_step(sim_world_t *w, uint32_t index, uint64_t now)
{
    if (w->records[index].stall_at == w->records[index].state)
        return;  /* stalled: the timer is dropped, the ride stays where it is */
    switch (w->records[index].state) {
    case SLUICE__NET__V1__DISPATCH_STATE__ASSIGNED: s_arrive(w, index, now); break;
    case SLUICE__NET__V1__DISPATCH_STATE__ARRIVED: s_pick_up(w, index, now); break;
    case SLUICE__NET__V1__DISPATCH_STATE__PICKED_UP: s_deliver(w, index, now); break;
    default: break;
    }
}

static bool s_stoppable(sim_state_t s)
{
    return s == SLUICE__NET__V1__DISPATCH_STATE__PENDING ||
           s == SLUICE__NET__V1__DISPATCH_STATE__ASSIGNED ||
           s == SLUICE__NET__V1__DISPATCH_STATE__ARRIVED;
}

/* s_stop cancels a live record before pickup: the rider is free at once.
 * A rider who already stood at the counter costs half the fee when the
 * client cancels; the platform's own cancellations cost nothing. */
static void s_stop(sim_world_t *w, uint32_t index, sim_cancelled_by_t by, const char *reason,
                   uint64_t now)
{
    sim_dispatch_t *d = &w->records[index];
    bool client = by == SLUICE__NET__V1__CANCELLED_BY__CANCELLED_BY_CLIENT;
    if (d->rider >= 0)
        s_release(w, d->rider, now);
    d->charged_cents =
        client && d->state == SLUICE__NET__V1__DISPATCH_STATE__ARRIVED ? d->fee_cents / 2 : 0;
    d->cancelled_by = by;
    d->cancelled_at_ms = now;
    d->pickup_at_ms = d->delivery_at_ms = 0;
    s_copy(d->reason, sizeof d->reason, reason);
    w->live--;
    if (client)
        w->stats.client_cancelled++;
    else
        w->stats.platform_cancelled++;
    if (d->rider >= 0)
        (void)s_end_listed(w, index);
    char info[SIM_REASON_MAX + 16];
    snprintf(info, sizeof info, "by=%s %s", client ? "client" : "platform", d->reason);
    s_change(w, index, SLUICE__NET__V1__DISPATCH_STATE__CANCELLED, now, "cancelled", info);
}

/* s_run_due runs every timer due at the world's time. Each step happens at
 * its own due time, so recorded times do not depend on how late the loop came
 * round; and every entry point runs it first, so a request at time T sees
 * every change due before T (and times of one key never go back). */
static void s_run_due(sim_world_t *w)
{
    while (w->timer_count && w->timers[0].due_ms <= w->now_ms) {
        timer_t_ t = s_timer_pop(w);
        uint64_t at = s_max(t.due_ms, w->records[t.index].updated_at_ms);
        if (t.kind == TIMER_STEP && t.gen == w->records[t.index].gen)
            s_step(w, t.index, at);
        else if (t.kind == TIMER_PLATFORM_CANCEL && s_stoppable(w->records[t.index].state))
            s_stop(w, t.index, SLUICE__NET__V1__CANCELLED_BY__CANCELLED_BY_PLATFORM,
                   PLATFORM_CANCEL_REASON, at);
    }
}

/* s_now takes the caller's time and brings the world up to it. */
static uint64_t s_now(sim_world_t *w, uint64_t now_ms)
{
    uint64_t now = s_clock(w, now_ms);
    s_run_due(w);
    return now;
}

void sim_world_advance(sim_world_t *w, uint64_t now_ms)
{
    (void)s_now(w, now_ms);
}

/* ---- cancel ---- */

sim_result_t sim_world_cancel(sim_world_t *w, const char *key, const char *reason,
                              uint32_t subscriber, uint64_t now_ms, sim_state_t *previous,
                              uint32_t *index)
{
    uint64_t now = s_now(w, now_ms);
    w->stats.cancels++;
    if (!sim_world_find(w, key, index)) {
        if (!s_new_record(w, key, index))
            return SIM_NOMEM;
        sim_dispatch_t *d = &w->records[*index];
        d->state = SLUICE__NET__V1__DISPATCH_STATE__CANCELLED;
        d->cancelled_by = SLUICE__NET__V1__CANCELLED_BY__CANCELLED_BY_CLIENT;
        d->cancelled_at_ms = d->updated_at_ms = now;
        s_copy(d->reason, sizeof d->reason, reason);
        d->subscriber = subscriber;
        *previous = SLUICE__NET__V1__DISPATCH_STATE__UNKNOWN;
        w->stats.tombstones++;
        s_record(w, d, now, "tombstone", d->reason);
        return SIM_OK;
    }
    sim_state_t state = w->records[*index].state;
    *previous = state;
    if (subscriber)
        w->records[*index].subscriber = subscriber;
    if (s_stoppable(state))
        s_stop(w, *index, SLUICE__NET__V1__CANCELLED_BY__CANCELLED_BY_CLIENT, reason, now);
    else if (state == SLUICE__NET__V1__DISPATCH_STATE__PICKED_UP ||
             state == SLUICE__NET__V1__DISPATCH_STATE__DELIVERED)
        w->stats.cancels_too_late++;
    return SIM_OK;
}

bool sim_world_platform_cancel(sim_world_t *w, const char *key, uint64_t now_ms)
{
    uint64_t now = s_now(w, now_ms);
    uint32_t index;
    if (!sim_world_find(w, key, &index) || !s_stoppable(w->records[index].state))
        return false;
    s_stop(w, index, SLUICE__NET__V1__CANCELLED_BY__CANCELLED_BY_PLATFORM, PLATFORM_CANCEL_REASON,
           now);
    return true;
}

/* ---- settlement ---- */

static uint64_t s_ended_at(const sim_world_t *w, size_t pos)
{
    const sim_dispatch_t *d = &w->records[w->ended[pos]];
    return d->state == SLUICE__NET__V1__DISPATCH_STATE__DELIVERED ? d->delivered_at_ms
                                                                  : d->cancelled_at_ms;
}

/* s_lower_bound: the first position whose end time is >= AT. */
static size_t s_lower_bound(const sim_world_t *w, uint64_t at)
{
    size_t lo = 0, hi = w->ended_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s_ended_at(w, mid) < at)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* s_reported_fee: a skewed line is chosen by its key and the seed, so every
 * report of the day agrees with the others. */
static uint32_t s_reported_fee(const sim_world_t *w, const sim_dispatch_t *d)
{
    if (w->params.settlement_skew <= 0)
        return d->charged_cents;
    uint64_t h = w->params.seed ^ 0x5be77e5ull;
    for (const unsigned char *p = (const unsigned char *)d->key; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    uint64_t state = h;
    bool skewed = s_uniform(&state) < w->params.settlement_skew;
    return d->charged_cents + (skewed ? SIM_SKEW_CENTS : 0);
}

/* The walk over a day's reported lines: positions start at the range's
 * first real position, so without faults they are the ended list's. */
typedef struct report_walk {
    size_t pos, start, max;
    sim_line_t *lines;
    sim_page_t *page;
} report_walk_t;

static void s_emit(report_walk_t *r, sim_line_t line)
{
    r->page->total_lines++;
    r->page->total_fee_cents += line.fee_cents;
    if (r->pos >= r->start && r->page->count < r->max)
        r->lines[r->page->count++] = line;
    r->pos++;
}

bool sim_world_settlement(const sim_world_t *w, uint64_t from_ms, uint64_t to_ms, size_t start,
                          size_t max, sim_line_t *lines, sim_page_t *page)
{
    size_t begin = s_lower_bound(w, from_ms), end = s_lower_bound(w, to_ms);
    sim_settle_faults_t left = w->params.settle;
    report_walk_t r = { .pos = begin, .start = start == SIZE_MAX ? begin : start, .max = max,
                        .lines = lines, .page = page };
    if (r.start < begin)
        return false;
    *page = (sim_page_t){ 0 };
    uint64_t last_at = from_ms;
    uint32_t first_store = 0;
    for (size_t pos = begin; pos < end; pos++) {
        const sim_dispatch_t *d = &w->records[w->ended[pos]];
        if (pos == begin)
            first_store = d->store_id;
        if (left.omit > 0 && d->state == SLUICE__NET__V1__DISPATCH_STATE__DELIVERED) {
            left.omit--;
            continue;
        }
        sim_line_t line = { .index = w->ended[pos], .at_ms = s_ended_at(w, pos),
                            .fee_cents = s_reported_fee(w, d) };
        if (left.overcharge > 0) {
            left.overcharge--;
            line.fee_cents += SIM_SKEW_CENTS;
        }
        last_at = line.at_ms;
        s_emit(&r, line);
        if (left.duplicate > 0) {
            left.duplicate--;
            s_emit(&r, line);
        }
    }
    for (uint32_t i = 1; i <= left.phantom; i++)
        s_emit(&r, (sim_line_t){ .phantom = i, .store_id = first_store, .at_ms = last_at,
                                 .fee_cents = SIM_BASE_FEE_CENTS });
    if (r.start > r.pos)
        return false;
    page->next = r.start + page->count;
    page->more = page->next < r.pos;
    return true;
}
