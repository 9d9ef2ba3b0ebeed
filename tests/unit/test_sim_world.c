/* test_sim_world.c - sluice-sim's model (tools/sim/sim_world.c) on a clock the
 * test moves: rider placement (in one city or several), nearest-rider quotes
 * (across cities), the ride's timeline (never picked up before ready),
 * idempotent keys, refusals, cancels and tombstones, platform cancellations,
 * settlement pages, and the time scale and riders' pace. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../tools/sim/sim_world.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define T0 1800000000000ull    /* some unix ms */
#define MAX_SEEN 64
#define KM_LAT (1.0 / 111.195) /* one km north, in degrees */

typedef struct seen {
    char key[SIM_ID_MAX + 1];
    sim_state_t state;
    uint32_t seq;
    uint64_t at_ms;
} seen_t;

/* What the sink heard: events and ledger records, in order. */
typedef struct heard {
    seen_t events[MAX_SEEN];
    size_t n_events;
    char records[MAX_SEEN][32];
    char record_keys[MAX_SEEN][SIM_ID_MAX + 1];
    size_t n_records;
} heard_t;

static void s_event(void *ctx, const sim_world_t *w, const sim_dispatch_t *d)
{
    (void)w;
    heard_t *h = ctx;
    assert_true(h->n_events < MAX_SEEN);
    seen_t *e = &h->events[h->n_events++];
    snprintf(e->key, sizeof e->key, "%s", d->key);
    e->state = d->state;
    e->seq = d->seq;
    e->at_ms = d->updated_at_ms;
}

static void s_record(void *ctx, const sim_world_t *w, const sim_dispatch_t *d, uint64_t at_ms,
                     const char *what, const char *info)
{
    (void)w;
    (void)at_ms;
    (void)info;
    heard_t *h = ctx;
    assert_true(h->n_records < MAX_SEEN);
    snprintf(h->records[h->n_records], sizeof h->records[0], "%s", what);
    snprintf(h->record_keys[h->n_records++], sizeof h->record_keys[0], "%s", d->key);
}

static size_t s_count_records(const heard_t *h, const char *what, const char *key)
{
    size_t n = 0;
    for (size_t i = 0; i < h->n_records; i++)
        n += strcmp(h->records[i], what) == 0 && strcmp(h->record_keys[i], key) == 0;
    return n;
}

/* s_params: riders all at the centre (radius 0), 36 km/h (10 m/s), time
 * scale 100: one km takes 1 s of real time. */
static sim_params_t s_params(uint32_t riders)
{
    sim_params_t p = {.riders = riders, .center = {30.0, 120.0}, .radius_km = 0,
                      .speed_min_kmh = 36, .speed_max_kmh = 36, .seed = 7, .time_scale = 100,
                      .max_km = 20};
    snprintf(p.name, sizeof p.name, "t");
    return p;
}

static sim_world_t *s_world(const sim_params_t *p, heard_t *h)
{
    memset(h, 0, sizeof *h);
    sim_sink_t sink = {.ctx = h, .event = s_event, .record = s_record};
    sim_world_t *w = sim_world_new(p, &sink);
    assert_non_null(w);
    return w;
}

/* s_order: store KM_STORE north of the centre, drop-off KM_RIDE further. */
static sim_order_t s_order(const char *key, const char *order_id, double km_store, double km_ride,
                           uint64_t ready_at_ms)
{
    return (sim_order_t){.key = key, .order_id = order_id, .store_id = 1001, .items = 2,
                         .pickup = {30.0 + km_store * KM_LAT, 120.0},
                         .dropoff = {30.0 + (km_store + km_ride) * KM_LAT, 120.0},
                         .ready_at_ms = ready_at_ms};
}

static const sim_dispatch_t *s_dispatch(sim_world_t *w, const sim_order_t *o, uint64_t now,
                                        sim_result_t expect)
{
    uint32_t index;
    assert_int_equal(sim_world_dispatch(w, o, now, &index), expect);
    return sim_world_record(w, index);
}

static void test_riders_placed_in_disc(void **state)
{
    (void)state;
    heard_t h1, h2;
    sim_params_t p = s_params(500);
    p.radius_km = 3;
    p.speed_min_kmh = 15;
    p.speed_max_kmh = 25;
    sim_world_t *a = s_world(&p, &h1), *b = s_world(&p, &h2);
    double far = 0;
    for (size_t i = 0; i < sim_world_rider_count(a); i++) {
        const sim_rider_t *r = sim_world_rider(a, i);
        double km = sim_distance_km(r->to, p.center);
        far = km > far ? km : far;
        assert_true(km <= 3.0 + 1e-6);
        assert_true(r->speed_kmh >= 15 && r->speed_kmh <= 25);
        assert_int_equal(r->state, SIM_RIDER_IDLE);
        /* the same seed places the same riders */
        assert_true(r->to.lat == sim_world_rider(b, i)->to.lat);
        assert_true(r->speed_kmh == sim_world_rider(b, i)->speed_kmh);
    }
    assert_true(far > 2.5);  /* spread over the disc, not bunched */
    assert_int_equal(sim_world_idle_riders(a), 500);
    sim_world_destroy(&a);
    sim_world_destroy(&b);
    assert_null(a);
    sim_world_destroy(&a);  /* NULL is fine */
}

static void test_quote_uses_nearest_idle_rider(void **state)
{
    (void)state;
    heard_t h;
    sim_params_t p = s_params(200);
    p.radius_km = 5;
    p.speed_min_kmh = 10;
    p.speed_max_kmh = 30;
    sim_world_t *w = s_world(&p, &h);
    sim_order_t o = s_order("k", "o", 1, 2, T0 + 60000);
    size_t best = 0;
    for (size_t i = 1; i < sim_world_rider_count(w); i++)
        if (sim_distance_km(sim_world_rider(w, i)->to, o.pickup) <
            sim_distance_km(sim_world_rider(w, best)->to, o.pickup))
            best = i;
    const sim_rider_t *r = sim_world_rider(w, best);
    uint64_t to_store = sim_world_travel_ms(w, sim_distance_km(r->to, o.pickup), r->speed_kmh);
    uint64_t ride = sim_world_travel_ms(w, sim_distance_km(o.pickup, o.dropoff), r->speed_kmh);
    sim_quote_t q;
    sim_world_quote(w, &o, T0, &q);
    assert_true(q.available);
    assert_int_equal(q.pickup_at_ms, T0 + to_store);
    uint64_t pickup = T0 + to_store > o.ready_at_ms ? T0 + to_store : o.ready_at_ms;
    assert_int_equal(q.delivery_at_ms, pickup + ride);
    assert_int_equal(q.fee_cents, SIM_BASE_FEE_CENTS + 2 * SIM_KM_FEE_CENTS);
    /* a quote reserves nothing */
    assert_int_equal(sim_world_idle_riders(w), 200);
    const sim_dispatch_t *d = s_dispatch(w, &o, T0, SIM_OK);
    assert_int_equal(d->rider, (int32_t)best);
    assert_int_equal(d->first_pickup_at_ms, q.pickup_at_ms);
    sim_world_destroy(&w);
}

/* The ride: 1 km to the store takes 1 s, the order is ready 1.5 s after
 * dispatch, so the rider waits 0.5 s, then 2 km to the customer take 2 s. */
static void test_ride_timeline_waits_for_ready(void **state)
{
    (void)state;
    heard_t h;
    sim_params_t p = s_params(1);
    sim_world_t *w = s_world(&p, &h);
    sim_order_t o = s_order("k1", "o1", 1, 2, T0 + 1500);
    uint64_t arrive = T0 + sim_world_travel_ms(w, sim_distance_km(p.center, o.pickup), 36);
    uint64_t ride = sim_world_travel_ms(w, sim_distance_km(o.pickup, o.dropoff), 36);
    assert_true(arrive >= T0 + 999 && arrive <= T0 + 1001);
    const sim_dispatch_t *d = s_dispatch(w, &o, T0, SIM_OK);
    assert_true(d->accepted);
    assert_int_equal(d->state, SLUICE__NET__V1__DISPATCH_STATE__ASSIGNED);
    assert_int_equal(d->first_pickup_at_ms, arrive);
    assert_int_equal(d->first_delivery_at_ms, T0 + 1500 + ride);
    assert_int_equal(sim_world_idle_riders(w), 0);
    assert_int_equal(sim_world_next_due(w), arrive);

    sim_world_advance(w, arrive - 1);
    assert_int_equal(h.n_events, 1);             /* only ASSIGNED so far */
    sim_world_advance(w, T0 + 1499);             /* late loop: arrival keeps its own time */
    assert_int_equal(h.n_events, 2);
    assert_int_equal(h.events[1].state, SLUICE__NET__V1__DISPATCH_STATE__ARRIVED);
    assert_int_equal(h.events[1].at_ms, arrive);
    assert_int_equal(sim_world_rider(w, 0)->state, SIM_RIDER_WAITING);
    sim_world_advance(w, T0 + 1500);
    assert_int_equal(h.n_events, 3);
    assert_int_equal(h.events[2].state, SLUICE__NET__V1__DISPATCH_STATE__PICKED_UP);
    assert_int_equal(h.events[2].at_ms, T0 + 1500);
    d = sim_world_record(w, 0);
    assert_int_equal(d->wait_ms, T0 + 1500 - arrive);
    assert_int_equal(d->late_ms, 0);
    sim_world_advance(w, T0 + 10000);
    assert_int_equal(h.n_events, 4);
    assert_int_equal(h.events[3].state, SLUICE__NET__V1__DISPATCH_STATE__DELIVERED);
    assert_int_equal(h.events[3].at_ms, T0 + 1500 + ride);
    for (uint32_t i = 0; i < 4; i++)
        assert_int_equal(h.events[i].seq, i + 1);
    d = sim_world_record(w, 0);
    assert_int_equal(d->charged_cents, d->fee_cents);
    assert_int_equal(sim_world_idle_riders(w), 1);
    assert_int_equal(sim_world_live(w), 0);
    /* the rider is now where it delivered */
    assert_true(sim_distance_km(sim_world_rider(w, 0)->to, o.dropoff) < 1e-9);
    assert_int_equal(s_count_records(&h, "dispatch", "k1"), 1);
    assert_int_equal(s_count_records(&h, "delivered", "k1"), 1);
    const sim_stats_t *st = sim_world_stats(w);
    assert_int_equal(st->waits, 1);
    assert_int_equal(st->lates, 0);
    sim_world_destroy(&w);
}

static void test_late_rider_picks_up_on_arrival(void **state)
{
    (void)state;
    heard_t h;
    sim_params_t p = s_params(1);
    sim_world_t *w = s_world(&p, &h);
    sim_order_t o = s_order("k1", "o1", 1, 1, T0 - 5000);  /* ready long ago */
    (void)s_dispatch(w, &o, T0, SIM_OK);
    sim_world_advance(w, T0 + 1200);
    assert_int_equal(h.n_events, 3);  /* ASSIGNED, ARRIVED, PICKED_UP at once */
    assert_int_equal(h.events[2].at_ms, h.events[1].at_ms);
    const sim_dispatch_t *d = sim_world_record(w, 0);
    assert_int_equal(d->wait_ms, 0);
    assert_int_equal(d->late_ms, d->arrived_at_ms - (T0 - 5000));
    assert_int_equal(sim_world_stats(w)->lates, 1);
    sim_world_destroy(&w);
}

static void test_same_key_gives_first_answer(void **state)
{
    (void)state;
    heard_t h;
    sim_params_t p = s_params(3);
    sim_world_t *w = s_world(&p, &h);
    sim_order_t o = s_order("k1", "o1", 1, 1, T0 + 60000);
    const sim_dispatch_t *d = s_dispatch(w, &o, T0, SIM_OK);
    int32_t rider = d->rider;
    uint64_t pickup = d->first_pickup_at_ms;
    d = s_dispatch(w, &o, T0 + 5000, SIM_DUPLICATE);
    assert_int_equal(d->rider, rider);
    assert_int_equal(d->first_pickup_at_ms, pickup);
    assert_int_equal(sim_world_idle_riders(w), 2);  /* no second rider */
    sim_order_t other = s_order("k1", "o2", 1, 1, T0 + 60000);
    uint32_t index;
    assert_int_equal(sim_world_dispatch(w, &other, T0 + 6000, &index), SIM_CONFLICT);
    assert_int_equal(s_count_records(&h, "dispatch", "k1"), 1);
    assert_int_equal(sim_world_stats(w)->duplicates, 1);
    assert_int_equal(sim_world_stats(w)->conflicts, 1);
    sim_world_destroy(&w);
}

static void test_refusals_stand(void **state)
{
    (void)state;
    heard_t h;
    sim_params_t p = s_params(1);
    sim_world_t *w = s_world(&p, &h);
    sim_order_t a = s_order("a", "oa", 0.5, 1, T0), b = s_order("b", "ob", 0.5, 1, T0);
    (void)s_dispatch(w, &a, T0, SIM_OK);
    sim_quote_t q;
    sim_world_quote(w, &b, T0, &q);
    assert_false(q.available);
    assert_int_equal(q.refusal, SLUICE__NET__V1__REFUSAL__NO_RIDER);
    const sim_dispatch_t *d = s_dispatch(w, &b, T0, SIM_OK);
    assert_false(d->accepted);
    assert_int_equal(d->refusal, SLUICE__NET__V1__REFUSAL__NO_RIDER);
    assert_int_equal(d->state, SLUICE__NET__V1__DISPATCH_STATE__REFUSED);
    /* the rider is free again, but a refused key stays refused */
    sim_world_advance(w, T0 + 60000);
    assert_int_equal(sim_world_idle_riders(w), 1);
    d = s_dispatch(w, &b, T0 + 60000, SIM_DUPLICATE);
    assert_false(d->accepted);
    sim_order_t far = s_order("f", "of", 0.5, 25, T0);
    sim_world_quote(w, &far, T0 + 60000, &q);
    assert_int_equal(q.refusal, SLUICE__NET__V1__REFUSAL__OUT_OF_AREA);
    d = s_dispatch(w, &far, T0 + 60000, SIM_OK);
    assert_int_equal(d->refusal, SLUICE__NET__V1__REFUSAL__OUT_OF_AREA);
    assert_int_equal(sim_world_idle_riders(w), 1);
    sim_world_destroy(&w);
}

static sim_state_t s_cancel(sim_world_t *w, const char *key, uint64_t now, uint32_t *index)
{
    sim_state_t previous;
    assert_int_equal(sim_world_cancel(w, key, "test", 0, now, &previous, index), SIM_OK);
    return previous;
}

static void test_cancel_frees_rider_and_is_idempotent(void **state)
{
    (void)state;
    heard_t h;
    sim_params_t p = s_params(1);
    sim_world_t *w = s_world(&p, &h);
    uint32_t i;
    sim_order_t o = s_order("k1", "o1", 1, 1, T0 + 60000);
    (void)s_dispatch(w, &o, T0, SIM_OK);
    assert_int_equal(s_cancel(w, "k1", T0 + 500, &i), SLUICE__NET__V1__DISPATCH_STATE__ASSIGNED);
    const sim_dispatch_t *d = sim_world_record(w, i);
    assert_int_equal(d->state, SLUICE__NET__V1__DISPATCH_STATE__CANCELLED);
    assert_int_equal(d->cancelled_by, SLUICE__NET__V1__CANCELLED_BY__CANCELLED_BY_CLIENT);
    assert_int_equal(d->charged_cents, 0);
    assert_int_equal(sim_world_idle_riders(w), 1);
    /* halfway to the store when it was stopped */
    double km = sim_distance_km(sim_world_rider(w, 0)->to, p.center);
    assert_true(km > 0.45 && km < 0.55);
    assert_int_equal(s_cancel(w, "k1", T0 + 600, &i), SLUICE__NET__V1__DISPATCH_STATE__CANCELLED);
    assert_int_equal(h.n_events, 2);  /* ASSIGNED, CANCELLED; the repeat changed nothing */
    assert_int_equal(h.events[1].seq, 2);
    sim_world_advance(w, T0 + 120000);  /* the stale arrival timer does nothing */
    assert_int_equal(h.n_events, 2);

    /* cancelled while waiting at the counter: half the fee */
    sim_order_t o2 = s_order("k2", "o2", 0, 1, T0 + 200000);
    d = s_dispatch(w, &o2, T0 + 120000, SIM_OK);
    uint32_t fee = d->fee_cents;
    sim_world_advance(w, T0 + 130000);
    assert_int_equal(s_cancel(w, "k2", T0 + 130000, &i), SLUICE__NET__V1__DISPATCH_STATE__ARRIVED);
    assert_int_equal(sim_world_record(w, i)->charged_cents, fee / 2);

    /* after pickup it is too late: the order is delivered anyway */
    sim_order_t o3 = s_order("k3", "o3", 0, 1, T0 + 130000);
    (void)s_dispatch(w, &o3, T0 + 130000, SIM_OK);
    sim_world_advance(w, T0 + 130100);
    assert_int_equal(s_cancel(w, "k3", T0 + 130100, &i), SLUICE__NET__V1__DISPATCH_STATE__PICKED_UP);
    assert_int_equal(sim_world_record(w, i)->state, SLUICE__NET__V1__DISPATCH_STATE__PICKED_UP);
    sim_world_advance(w, T0 + 200000);
    assert_int_equal(sim_world_record(w, i)->state, SLUICE__NET__V1__DISPATCH_STATE__DELIVERED);
    assert_int_equal(sim_world_stats(w)->cancels_too_late, 1);
    sim_world_destroy(&w);
}

/* Stalls: the next dispatch stops at ASSIGNED (the rider never arrives) and
 * a known key at PICKED_UP (never delivered); no events after, the record
 * keeps its true state, and a client cancel still frees the stalled rider. */
static void test_stalls(void **state)
{
    (void)state;
    heard_t h;
    sim_params_t p = s_params(2);
    sim_world_t *w = s_world(&p, &h);
    uint32_t i;
    assert_false(sim_world_stall_next(w, 1, SLUICE__NET__V1__DISPATCH_STATE__DELIVERED));
    assert_false(sim_world_stall(w, "nobody", SLUICE__NET__V1__DISPATCH_STATE__ASSIGNED));
    assert_true(sim_world_stall_next(w, 1, SLUICE__NET__V1__DISPATCH_STATE__ASSIGNED));
    sim_order_t o1 = s_order("k1", "o1", 1, 1, T0 + 1000);
    sim_order_t o2 = s_order("k2", "o2", 1, 1, T0 + 1000);
    (void)s_dispatch(w, &o1, T0, SIM_OK);
    (void)s_dispatch(w, &o2, T0, SIM_OK);  /* the stall was for one dispatch only */
    assert_true(sim_world_stall(w, "k2", SLUICE__NET__V1__DISPATCH_STATE__PICKED_UP));
    sim_world_advance(w, T0 + 600000);
    assert_true(sim_world_find(w, "k1", &i));
    assert_int_equal(sim_world_record(w, i)->state, SLUICE__NET__V1__DISPATCH_STATE__ASSIGNED);
    assert_int_equal(sim_world_record(w, i)->seq, 1);
    assert_true(sim_world_find(w, "k2", &i));
    assert_int_equal(sim_world_record(w, i)->state, SLUICE__NET__V1__DISPATCH_STATE__PICKED_UP);
    assert_int_equal(h.n_events, 4);  /* ASSIGNED twice, ARRIVED and PICKED_UP of k2 */
    assert_int_equal(sim_world_live(w), 2);
    assert_int_equal(s_cancel(w, "k1", T0 + 600000, &i), SLUICE__NET__V1__DISPATCH_STATE__ASSIGNED);
    assert_int_equal(sim_world_record(w, i)->state, SLUICE__NET__V1__DISPATCH_STATE__CANCELLED);
    assert_int_equal(sim_world_idle_riders(w), 1);
    sim_world_destroy(&w);
}

static void test_cancel_before_dispatch_leaves_tombstone(void **state)
{
    (void)state;
    heard_t h;
    sim_params_t p = s_params(1);
    sim_world_t *w = s_world(&p, &h);
    uint32_t i;
    assert_int_equal(s_cancel(w, "ghost", T0, &i), SLUICE__NET__V1__DISPATCH_STATE__UNKNOWN);
    assert_int_equal(s_count_records(&h, "tombstone", "ghost"), 1);
    assert_int_equal(h.n_events, 0);
    sim_order_t o = s_order("ghost", "o1", 1, 1, T0 + 60000);
    const sim_dispatch_t *d = s_dispatch(w, &o, T0 + 10, SIM_OK);
    assert_false(d->accepted);
    assert_int_equal(d->refusal, SLUICE__NET__V1__REFUSAL__KEY_CANCELLED);
    assert_int_equal(d->state, SLUICE__NET__V1__DISPATCH_STATE__CANCELLED);
    assert_int_equal(sim_world_idle_riders(w), 1);
    d = s_dispatch(w, &o, T0 + 20, SIM_DUPLICATE);
    assert_int_equal(d->refusal, SLUICE__NET__V1__REFUSAL__KEY_CANCELLED);
    assert_int_equal(s_cancel(w, "ghost", T0 + 30, &i), SLUICE__NET__V1__DISPATCH_STATE__CANCELLED);
    sim_world_destroy(&w);
}

static void test_platform_cancels_before_pickup(void **state)
{
    (void)state;
    heard_t h;
    sim_params_t p = s_params(4);
    p.cancel_ratio = 1;
    sim_world_t *w = s_world(&p, &h);
    char key[4][16];
    for (int k = 0; k < 4; k++) {
        snprintf(key[k], sizeof key[k], "k%d", k);
        sim_order_t o = s_order(key[k], key[k], 2, 1, T0);
        (void)s_dispatch(w, &o, T0, SIM_OK);
    }
    sim_world_advance(w, T0 + 60000);
    for (uint32_t k = 0; k < 4; k++) {
        const sim_dispatch_t *d = sim_world_record(w, k);
        assert_int_equal(d->state, SLUICE__NET__V1__DISPATCH_STATE__CANCELLED);
        assert_int_equal(d->cancelled_by, SLUICE__NET__V1__CANCELLED_BY__CANCELLED_BY_PLATFORM);
        assert_int_equal(d->picked_up_at_ms, 0);
        assert_int_equal(d->charged_cents, 0);
    }
    assert_int_equal(sim_world_stats(w)->platform_cancelled, 4);
    assert_int_equal(sim_world_idle_riders(w), 4);
    /* and on command, for a key that is live */
    sim_world_set_cancel_ratio(w, 0);
    sim_order_t o = s_order("x", "ox", 2, 1, T0 + 70000);
    (void)s_dispatch(w, &o, T0 + 60000, SIM_OK);
    assert_true(sim_world_platform_cancel(w, "x", T0 + 60001));
    assert_false(sim_world_platform_cancel(w, "x", T0 + 60002));
    assert_false(sim_world_platform_cancel(w, "nope", T0 + 60002));
    sim_world_destroy(&w);
}

/* s_five_delivered: five deliveries one second apart, all ended by
 * T0 + 100000; returns the sum of their fees. */
static uint64_t s_five_delivered(sim_world_t *w)
{
    uint64_t fees = 0;
    for (int k = 0; k < 5; k++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", k);
        sim_order_t o = s_order(key, key, 0, 1, T0 + (uint64_t)k * 1000);
        fees += s_dispatch(w, &o, T0 + (uint64_t)k * 1000, SIM_OK)->fee_cents;
        sim_world_advance(w, T0 + (uint64_t)k * 1000 + 999);
    }
    sim_world_advance(w, T0 + 100000);
    return fees;
}

/* Five deliveries, then pages of two over that range. */
static void test_settlement_pages_and_skew(void **state)
{
    (void)state;
    heard_t h;
    sim_params_t p = s_params(5);
    sim_world_t *w = s_world(&p, &h);
    uint64_t fees = s_five_delivered(w);
    sim_line_t lines[8];
    sim_page_t page;
    assert_true(sim_world_settlement(w, T0, T0 + 100000, SIZE_MAX, 8, lines, &page));
    assert_int_equal(page.count, 5);
    assert_int_equal(page.total_lines, 5);
    assert_int_equal(page.total_fee_cents, fees);
    assert_false(page.more);
    for (size_t i = 1; i < page.count; i++)
        assert_true(lines[i].at_ms >= lines[i - 1].at_ms);
    /* the range is half-open: a line at exactly TO belongs to the next one */
    uint64_t third = lines[2].at_ms;
    assert_true(sim_world_settlement(w, T0, third, SIZE_MAX, 8, lines, &page));
    assert_int_equal(page.total_lines, 2);
    assert_true(sim_world_settlement(w, third, T0 + 100000, SIZE_MAX, 8, lines, &page));
    assert_int_equal(page.total_lines, 3);
    /* pages of two */
    size_t start = SIZE_MAX, seen = 0, pages = 0;
    do {
        assert_true(sim_world_settlement(w, T0, T0 + 100000, start, 2, lines, &page));
        seen += page.count;
        pages++;
        start = page.next;
    } while (page.more);
    assert_int_equal(seen, 5);
    assert_int_equal(pages, 3);
    assert_false(sim_world_settlement(w, T0 + 50000, T0 + 100000, 1, 2, lines, &page));
    /* skew: every line 100 cents high, the totals agree with the lines */
    sim_world_set_settlement_skew(w, 1);
    assert_true(sim_world_settlement(w, T0, T0 + 100000, SIZE_MAX, 8, lines, &page));
    assert_int_equal(page.total_fee_cents, fees + 5 * SIM_SKEW_CENTS);
    sim_world_destroy(&w);
}

/* Each settlement fault, counted from the day's start: 1 omitted, 2
 * overcharged, 1 duplicated, 2 phantoms; pages of two see the same report. */
static void test_settlement_faults(void **state)
{
    (void)state;
    heard_t h;
    sim_params_t p = s_params(5);
    sim_world_t *w = s_world(&p, &h);
    uint64_t fees = s_five_delivered(w);
    sim_line_t all[8];
    sim_page_t page;
    assert_true(sim_world_settlement(w, T0, T0 + 100000, SIZE_MAX, 8, all, &page));
    uint32_t first_fee = all[0].fee_cents, first_store = sim_world_record(w, all[0].index)->store_id;

    sim_settle_faults_t f = { .omit = 1, .overcharge = 2, .duplicate = 1, .phantom = 2 };
    sim_world_set_settle_faults(w, &f);
    sim_line_t lines[8];
    assert_true(sim_world_settlement(w, T0, T0 + 100000, SIZE_MAX, 8, lines, &page));
    assert_int_equal(page.count, 4 + 1 + 2);
    assert_int_equal(page.total_lines, 7);
    assert_int_equal(page.total_fee_cents, fees - first_fee + 2 * SIM_SKEW_CENTS +
                                               lines[0].fee_cents + 2 * SIM_BASE_FEE_CENTS);
    assert_int_equal(lines[0].index, all[1].index);           /* k0 omitted */
    assert_int_equal(lines[0].fee_cents, all[1].fee_cents + SIM_SKEW_CENTS);
    assert_int_equal(lines[1].index, all[1].index);           /* k1 listed twice */
    assert_int_equal(lines[1].fee_cents, lines[0].fee_cents);
    assert_int_equal(lines[2].fee_cents, all[2].fee_cents + SIM_SKEW_CENTS);
    assert_int_equal(lines[4].fee_cents, all[4].fee_cents);
    assert_int_equal(lines[5].phantom, 1);
    assert_int_equal(lines[6].phantom, 2);
    assert_int_equal(lines[6].store_id, first_store);
    assert_true(lines[6].at_ms >= lines[4].at_ms);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(lines[i].phantom, 0);

    size_t start = SIZE_MAX, seen = 0;
    do {
        sim_line_t two[2];
        assert_true(sim_world_settlement(w, T0, T0 + 100000, start, 2, two, &page));
        for (size_t i = 0; i < page.count; i++, seen++)
            assert_memory_equal(&two[i], &lines[seen], sizeof two[i]);
        start = page.next;
    } while (page.more);
    assert_int_equal(seen, 7);
    sim_world_destroy(&w);
}

static void test_time_scale_shortens_rides(void **state)
{
    (void)state;
    heard_t h;
    sim_params_t p = s_params(1);
    p.time_scale = 1;
    sim_world_t *slow = s_world(&p, &h);
    p.time_scale = 60;
    sim_world_t *fast = s_world(&p, &h);
    /* 3 km at 36 km/h is 300 s: 300 s of real time at scale 1, 5 s at 60 */
    assert_int_equal(sim_world_travel_ms(slow, 3, 36), 300000);
    assert_int_equal(sim_world_travel_ms(fast, 3, 36), 5000);
    sim_world_destroy(&slow);
    sim_world_destroy(&fast);
}

/* Riders dealt to three cities a thousand km apart: each disc holds its
 * share, and a quote anywhere finds the rider a scan of all would. */
static void test_cities_and_nearest_across_them(void **state)
{
    (void)state;
    heard_t h;
    sim_params_t p = s_params(301);
    p.radius_km = 8;
    p.more_centers[0] = (sim_geo_t){39.9, 116.4};
    p.more_centers[1] = (sim_geo_t){23.1, 113.3};
    p.more_center_count = 2;
    sim_world_t *w = s_world(&p, &h);
    for (size_t i = 0; i < sim_world_rider_count(w); i++) {
        sim_geo_t c = i % 3 == 0 ? p.center : p.more_centers[i % 3 - 1];
        assert_true(sim_distance_km(sim_world_rider(w, i)->to, c) <= 8.0 + 1e-6);
    }
    assert_int_equal(sim_world_idle_riders(w), 301);
    const sim_geo_t stores[] = {{30.01, 120.02}, {39.95, 116.3}, {23.0, 113.35}, {35.0, 118.0},
                                {45.0, 125.0}};
    for (size_t k = 0; k < sizeof stores / sizeof stores[0]; k++) {
        sim_order_t o = s_order("q", "q", 0, 1, T0);
        o.pickup = stores[k];
        o.dropoff = stores[k];
        size_t best = 0;
        for (size_t i = 1; i < sim_world_rider_count(w); i++)
            if (sim_distance_km(sim_world_rider(w, i)->to, o.pickup) <
                sim_distance_km(sim_world_rider(w, best)->to, o.pickup))
                best = i;
        const sim_rider_t *r = sim_world_rider(w, best);
        sim_quote_t q;
        sim_world_quote(w, &o, T0, &q);
        assert_true(q.available);
        assert_int_equal(q.pickup_at_ms,
                         T0 + sim_world_travel_ms(w, sim_distance_km(r->to, o.pickup), r->speed_kmh));
    }
    /* a rider taken in one city is not found in another, and comes back to its own */
    sim_order_t o = s_order("k", "o", 0.5, 1, T0);
    o.pickup = (sim_geo_t){39.9, 116.4};
    o.dropoff = (sim_geo_t){39.91, 116.4};
    const sim_dispatch_t *d = s_dispatch(w, &o, T0, SIM_OK);
    assert_int_equal(d->rider % 3, 1);
    assert_int_equal(sim_world_idle_riders(w), 300);
    sim_world_advance(w, T0 + 3600000);
    assert_int_equal(sim_world_idle_riders(w), 301);
    sim_world_destroy(&w);
}

/* A pace of 0.5 doubles the time of what starts after it; a ride under way
 * keeps its arrival. */
static void test_pace_slows_new_legs(void **state)
{
    (void)state;
    heard_t h;
    sim_params_t p = s_params(2);
    sim_world_t *w = s_world(&p, &h);
    assert_true(sim_world_pace(w) == 1);
    sim_order_t o1 = s_order("k1", "o1", 1, 2, T0);
    const sim_dispatch_t *d = s_dispatch(w, &o1, T0, SIM_OK);
    uint64_t arrive = d->first_pickup_at_ms;
    assert_true(arrive >= T0 + 999 && arrive <= T0 + 1001);
    sim_world_set_pace(w, 0.5);
    assert_true(sim_world_pace(w) == 0.5);
    sim_world_set_pace(w, 0);                  /* refused: keeps 0.5 */
    sim_world_set_pace(w, SIM_PACE_MAX * 2);
    assert_true(sim_world_pace(w) == 0.5);
    assert_int_equal(sim_world_travel_ms(w, 3, 36), 6000);  /* 3 s at full pace */
    sim_world_advance(w, arrive);              /* the first rider arrives as planned */
    assert_int_equal(sim_world_record(w, 0)->state, SLUICE__NET__V1__DISPATCH_STATE__PICKED_UP);
    sim_order_t o2 = s_order("k2", "o2", 1, 2, T0);
    sim_quote_t q;
    sim_world_quote(w, &o2, arrive, &q);
    assert_true(q.available);
    assert_true(q.pickup_at_ms >= arrive + 1998 && q.pickup_at_ms <= arrive + 2002);
    /* the picked-up order rides its 2 km at half speed: 4 s */
    sim_world_advance(w, arrive + 3999);
    assert_int_equal(sim_world_record(w, 0)->state, SLUICE__NET__V1__DISPATCH_STATE__PICKED_UP);
    sim_world_advance(w, arrive + 4001);
    assert_int_equal(sim_world_record(w, 0)->state, SLUICE__NET__V1__DISPATCH_STATE__DELIVERED);
    sim_world_destroy(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_riders_placed_in_disc),
        cmocka_unit_test(test_quote_uses_nearest_idle_rider),
        cmocka_unit_test(test_ride_timeline_waits_for_ready),
        cmocka_unit_test(test_late_rider_picks_up_on_arrival),
        cmocka_unit_test(test_same_key_gives_first_answer),
        cmocka_unit_test(test_refusals_stand),
        cmocka_unit_test(test_cancel_frees_rider_and_is_idempotent),
        cmocka_unit_test(test_stalls),
        cmocka_unit_test(test_cancel_before_dispatch_leaves_tombstone),
        cmocka_unit_test(test_platform_cancels_before_pickup),
        cmocka_unit_test(test_settlement_pages_and_skew),
        cmocka_unit_test(test_settlement_faults),
        cmocka_unit_test(test_time_scale_shortens_rides),
        cmocka_unit_test(test_cities_and_nearest_across_them),
        cmocka_unit_test(test_pace_slows_new_legs),
    };
    return cmocka_run_group_tests_name("sim_world", tests, NULL, NULL);
}
