/* test_admit.c - the admission decision (daemon/admit.c) over real configs
 * loaded from libconfig text: the level hierarchy (daemon shed limit, daemon
 * bucket, brand bucket, store), who names itself in the detail, exact
 * retry_after_ms, hours in the store's timezone, and that only admitted
 * orders spend tokens or book prep slots; the campaign level after them
 * all (its own cases are in test_campaign.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit_admit_env.h"
#include "unit_time.h"
#include "admit.h"
#include "config.h"
#include "store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEC 1000u
#define MIN (60u * SEC)
#define HOUR (60u * MIN)
#define DAY (24u * HOUR)
#define SH_OFFSET (8 * (int64_t)HOUR) /* Asia/Shanghai: UTC+8, no DST */
#define US0 UINT64_C(5000000000)    /* an arbitrary monotonic start, in us */

#define R_NONE SLUICE__V1__REASON__REASON_NONE
#define R_BUSY SLUICE__V1__REASON__STORE_BUSY
#define R_PAUSED SLUICE__V1__REASON__STORE_PAUSED
#define R_CLOSED SLUICE__V1__REASON__STORE_CLOSED
#define R_UNKNOWN SLUICE__V1__REASON__UNKNOWN_STORE
#define R_OVERLOADED SLUICE__V1__REASON__OVERLOADED
#define R_CAMPAIGN SLUICE__V1__REASON__CAMPAIGN_LIMIT


/* D: 2026-01-15 00:00 UTC. */
static uint64_t s_day(void)
{
    return (uint64_t)unit_days_from_civil(2026, 1, 15) * DAY;
}

/* s_utc: wall ms at HH:MM UTC on 2026-01-15 (+DAYS). */
static uint64_t s_utc(int days, int hh, int mm)
{
    return s_day() + (uint64_t)days * DAY + (uint64_t)hh * HOUR + (uint64_t)mm * MIN;
}

/* s_sh: wall ms when Shanghai reads HH:MM on local 2026-01-15 (+DAYS). */
static uint64_t s_sh(int days, int hh, int mm)
{
    return (uint64_t)((int64_t)s_utc(days, hh, mm) - SH_OFFSET);
}

/* ------------------------------------------------------------- fixture */

static int s_setup(void **state)
{
    return unit_env_setup(state, "sluice-test-admit");
}

static void s_start(env_t *e, const char *text, uint64_t now_us)
{
    e->cfg = unit_env_load(e, text);
    e->stores = store_table_new();
    assert_non_null(e->stores);
    assert_true(store_table_apply(e->stores, e->cfg, 0));  /* today's counts: not tested here */
    e->admit = admit_new(e->cfg, now_us);
    assert_non_null(e->admit);
}

/* s_reload applies TEXT as SIGHUP does: stores first, then admission; the
 * old config is freed only after both let go of it. */
static void s_reload(env_t *e, const char *text, uint64_t now_us)
{
    config_t *next = unit_env_load(e, text);
    assert_true(store_table_apply(e->stores, next, 0));
    assert_true(admit_configure(e->admit, next, now_us));
    config_destroy(&e->cfg);
    e->cfg = next;
}

static bool s_order(env_t *e, uint32_t id, unsigned drinks, uint64_t now_ms, uint64_t now_us,
                    size_t pending, admit_result_t *r)
{
    store_t *st = store_table_find(e->stores, id);
    assert_non_null(st);
    admit_order_in_t in = {
        .drinks = drinks,
        .dropoff_lat = st->cfg ? st->cfg->lat : 0,
        .dropoff_lng = st->cfg ? st->cfg->lng : 0,
        .pending = pending,
        .now_ms = now_ms,
        .now_us = now_us,
    };
    memset(r, 0xa5, sizeof *r);  /* admit_order must set everything it returns */
    bool ok = admit_order(e->admit, e->stores, st, &in, r);
    assert_int_equal(ok, r->reason == R_NONE);
    if (ok)
        assert_string_equal(r->detail, "");
    return ok;
}

static void s_admitted(env_t *e, uint32_t id, uint64_t now_ms, uint64_t now_us, size_t pending,
                       admit_result_t *r)
{
    if (!s_order(e, id, 1, now_ms, now_us, pending, r)) {
        print_error("store %u: expected admission, got reason %d: %s\n", id, r->reason, r->detail);
        fail();
    }
}

/* s_rejected checks REASON, RETRY_MS and that the detail starts with PREFIX
 * (the level naming itself) and contains WORDS. */
static void s_rejected(const admit_result_t *r, int reason, uint64_t retry_ms, const char *prefix,
                       const char *words)
{
    if (r->reason != (Sluice__V1__Reason)reason)
        print_error("expected reason %d, got %d: %s\n", reason, r->reason, r->detail);
    assert_int_equal(r->reason, reason);
    assert_int_equal(r->retry_after_ms, retry_ms);
    if (strncmp(r->detail, prefix, strlen(prefix)) != 0 || !strstr(r->detail, words)) {
        print_error("detail \"%s\" should start with \"%s\" and contain \"%s\"\n", r->detail,
                    prefix, words);
        fail();
    }
}

static kitchen_t *s_kitchen(env_t *e, uint32_t id)
{
    store_t *st = store_table_find(e->stores, id);
    assert_non_null(st);
    kitchen_t *k = store_kitchen(e->stores, st);
    assert_non_null(k);
    return k;
}

/* ---------------------------------------------------------------- store */

static void test_max_wait_admits_five_then_busy_with_exact_retry(void **state)
{
    env_t *e = *state;
    s_start(e,
            "stores = ( { id = 1; location = [31.23, 121.47]; prep_slots = 1;\n"
            "             item_seconds = 60; order_seconds = 0; max_wait_minutes = 5; } );\n",
            US0);
    uint64_t now = s_utc(0, 10, 0);
    admit_result_t r;
    for (uint64_t i = 0; i < 5; i++) {
        s_admitted(e, 1, now, US0, 0, &r);
        assert_int_equal(r.plan.slot, 0);
        assert_int_equal(r.plan.start_ms, now + i * MIN);
        assert_int_equal(r.plan.ready_ms, now + (i + 1) * MIN);
        /* Drop-off at the store: delivery is ready + the default 300 s handoff. */
        assert_int_equal(r.promised_delivery_at_ms, r.plan.ready_ms + 300 * SEC);
    }
    assert_int_equal(s_kitchen(e, 1)->waiting, 4);  /* all but the first wait */
    /* The 6th would be ready in 6 minutes: one minute too late. */
    assert_false(s_order(e, 1, 1, now, US0, 0, &r));
    s_rejected(&r, R_BUSY, 60000, "store 1:", "over max_wait_minutes 5");
    assert_non_null(strstr(r.detail, "ready in 6 min"));
    /* The rejection booked nothing: the same answer again. */
    assert_false(s_order(e, 1, 1, now, US0, 0, &r));
    assert_int_equal(r.retry_after_ms, 60000);
    assert_int_equal(s_kitchen(e, 1)->free_at[0], now + 5 * MIN);
    assert_int_equal(s_kitchen(e, 1)->waiting, 4);
    /* retry_after_ms is exact: 1 ms earlier is still busy, then it fits. */
    assert_false(s_order(e, 1, 1, now + 60000 - 1, US0, 0, &r));
    s_rejected(&r, R_BUSY, 1, "store 1:", "max_wait_minutes");
    s_admitted(e, 1, now + 60000, US0, 0, &r);
    assert_int_equal(r.plan.start_ms, now + 5 * MIN);
    assert_int_equal(r.plan.ready_ms, now + 6 * MIN);
    assert_int_equal(s_kitchen(e, 1)->waiting, 5);
    /* Two drinks after that one: ready at now + 8 min, 7 min away at now + 1 min,
     * 2 min over max_wait. */
    assert_false(s_order(e, 1, 2, now + 60000, US0, 0, &r));
    s_rejected(&r, R_BUSY, 2 * MIN, "store 1:", "ready in 7 min");
}

static void test_order_that_never_fits_gets_no_retry_time(void **state)
{
    env_t *e = *state;
    s_start(e,
            "stores = ( { id = 1; location = [31.23, 121.47]; prep_slots = 1;\n"
            "             item_seconds = 60; order_seconds = 0; max_wait_minutes = 5; } );\n",
            US0);
    uint64_t now = s_utc(0, 10, 0);
    admit_result_t r;
    /* Six drinks take 6 minutes even in an idle kitchen: retrying never helps. */
    assert_false(s_order(e, 1, 6, now, US0, 0, &r));
    s_rejected(&r, R_BUSY, 0, "store 1:", "6 drinks take 6 min");
    assert_int_equal(s_kitchen(e, 1)->free_at[0], 0);
    /* Five fit exactly. */
    assert_true(s_order(e, 1, 5, now, US0, 0, &r));
    assert_int_equal(r.plan.ready_ms, now + 5 * MIN);
}

static void test_max_queue_counts_waiting_orders(void **state)
{
    env_t *e = *state;
    s_start(e,
            "stores = (\n"
            "  { id = 3; location = [0.0, 0.0]; prep_slots = 1; item_seconds = 60;\n"
            "    max_wait_minutes = 60; max_queue = 2; },\n"
            "  { id = 4; location = [0.0, 0.0]; prep_slots = 4; item_seconds = 2;\n"
            "    max_wait_minutes = 60; max_queue = 2; } );\n",
            US0);
    uint64_t now = s_utc(0, 12, 0);
    admit_result_t r;
    s_admitted(e, 3, now, US0, 0, &r);  /* starts at once: not waiting */
    s_admitted(e, 3, now, US0, 0, &r);
    s_admitted(e, 3, now, US0, 0, &r);
    assert_int_equal(s_kitchen(e, 3)->waiting, 2);
    assert_false(s_order(e, 3, 1, now, US0, 0, &r));
    /* retry: one order's prep time over the slots (60 s / 1). */
    s_rejected(&r, R_BUSY, 60000, "store 3:", "2 orders already waiting (max_queue)");
    assert_int_equal(s_kitchen(e, 3)->free_at[0], now + 3 * MIN);

    /* Four 2 s slots: four start now, two wait, the 7th is refused with
     * the 1 s floor (2000 ms / 4 slots = 500 ms). */
    for (int i = 0; i < 6; i++)
        s_admitted(e, 4, now, US0, 0, &r);
    assert_int_equal(s_kitchen(e, 4)->waiting, 2);
    assert_false(s_order(e, 4, 1, now, US0, 0, &r));
    s_rejected(&r, R_BUSY, 1000, "store 4:", "max_queue");
}

static void test_paused_store(void **state)
{
    env_t *e = *state;
    s_start(e,
            "daemon = { paused_retry_ms = 12345; };\n"
            "stores = ( { id = 5; location = [0.0, 0.0]; prep_slots = 1; item_seconds = 60;\n"
            "             max_wait_minutes = 60; paused = true; } );\n",
            US0);
    admit_result_t r;
    assert_false(s_order(e, 5, 1, s_utc(0, 12, 0), US0, 0, &r));
    s_rejected(&r, R_PAUSED, 12345, "store 5:", "paused");
}

#define HOURS_STORES                                                                    \
    "stores = (\n"                                                                      \
    "  { id = 10; location = [31.2, 121.4]; prep_slots = 4; item_seconds = 60;\n"       \
    "    max_wait_minutes = 30; hours = \"09:00-21:00\"; timezone = \"Asia/Shanghai\"; },\n" \
    "  { id = 11; location = [51.5, 0.0]; prep_slots = 4; item_seconds = 60;\n"         \
    "    max_wait_minutes = 30; hours = \"09:00-21:00\"; timezone = \"UTC\"; },\n"      \
    "  { id = 12; location = [31.2, 121.4]; prep_slots = 4; item_seconds = 60;\n"       \
    "    max_wait_minutes = 30; hours = \"20:00-02:00\"; timezone = \"Asia/Shanghai\"; } );\n"

static void test_closed_outside_hours_in_store_timezone(void **state)
{
    env_t *e = *state;
    s_start(e, HOURS_STORES, US0);
    admit_result_t r;
    /* 00:30 UTC = 08:30 in Shanghai. */
    uint64_t now = s_utc(0, 0, 30);
    assert_int_equal(now, s_sh(0, 8, 30));
    assert_false(s_order(e, 10, 1, now, US0, 0, &r));
    s_rejected(&r, R_CLOSED, 30 * MIN, "store 10:", "closed, opens at 09:00 Asia/Shanghai");
    assert_false(s_order(e, 11, 1, now, US0, 0, &r));
    s_rejected(&r, R_CLOSED, 8 * HOUR + 30 * MIN, "store 11:", "opens at 09:00 UTC");
    assert_false(s_order(e, 12, 1, now, US0, 0, &r));  /* opens 20:00 local */
    s_rejected(&r, R_CLOSED, 11 * HOUR + 30 * MIN, "store 12:", "opens at 20:00 Asia/Shanghai");

    /* 09:00 Shanghai: open, the order starts now. UTC is still at 01:00. */
    now = s_sh(0, 9, 0);
    s_admitted(e, 10, now, US0, 0, &r);
    assert_int_equal(r.plan.start_ms, now);
    assert_false(s_order(e, 11, 1, now, US0, 0, &r));
    s_rejected(&r, R_CLOSED, 8 * HOUR, "store 11:", "closed");
    /* 09:00 UTC: the UTC store opens. */
    s_admitted(e, 11, s_utc(0, 9, 0), US0, 0, &r);

    /* 20:59 Shanghai: a one-minute order is ready exactly at closing: fine. */
    now = s_sh(0, 20, 59);
    s_admitted(e, 10, now, US0, 0, &r);
    assert_int_equal(r.plan.ready_ms, s_sh(0, 21, 0));
    /* 21:00 Shanghai: closed until 09:00 tomorrow. */
    assert_false(s_order(e, 10, 1, s_sh(0, 21, 0), US0, 0, &r));
    s_rejected(&r, R_CLOSED, 12 * HOUR, "store 10:", "opens at 09:00");

    /* Past midnight: open 20:00-02:00 Shanghai. */
    s_admitted(e, 12, s_sh(0, 20, 0), US0, 0, &r);
    s_admitted(e, 12, s_sh(1, 1, 30), US0, 0, &r);
    assert_false(s_order(e, 12, 1, s_sh(1, 2, 0), US0, 0, &r));
    s_rejected(&r, R_CLOSED, 18 * HOUR, "store 12:", "opens at 20:00");
}

static void test_ready_after_closing_is_closed(void **state)
{
    env_t *e = *state;
    s_start(e,
            "stores = (\n"
            "  { id = 20; location = [31.2, 121.4]; prep_slots = 1; item_seconds = 600;\n"
            "    max_wait_minutes = 60; hours = \"09:00-21:00\"; timezone = \"Asia/Shanghai\"; },\n"
            "  { id = 21; location = [31.2, 121.4]; prep_slots = 1; item_seconds = 600;\n"
            "    max_wait_minutes = 60; hours = \"20:00-02:00\"; timezone = \"Asia/Shanghai\"; } );\n",
            US0);
    admit_result_t r;
    uint64_t now = s_sh(0, 20, 45);
    s_admitted(e, 20, now, US0, 0, &r);
    assert_int_equal(r.plan.ready_ms, s_sh(0, 20, 55));
    /* The next would be ready at 21:05: closed, retry when it opens (09:00). */
    assert_false(s_order(e, 20, 1, now, US0, 0, &r));
    s_rejected(&r, R_CLOSED, 12 * HOUR + 15 * MIN, "store 20:",
               "closes at 21:00 Asia/Shanghai, before the order could be ready");
    assert_int_equal(s_kitchen(e, 20)->free_at[0], s_sh(0, 20, 55));
    assert_int_equal(s_kitchen(e, 20)->waiting, 0);

    /* Closing after midnight: at 01:45 a 10-minute order is ready at 01:55;
     * at 01:56 it would be ready at 02:06, after the 02:00 closing. */
    s_admitted(e, 21, s_sh(1, 1, 45), US0, 0, &r);
    assert_false(s_order(e, 21, 1, s_sh(1, 1, 56), US0, 0, &r));
    s_rejected(&r, R_CLOSED, 18 * HOUR + 4 * MIN, "store 21:", "closes at 02:00");
}

static void test_staffing_window_in_store_timezone(void **state)
{
    env_t *e = *state;
    s_start(e,
            "stores = ( { id = 30; location = [31.2, 121.4]; prep_slots = 1;\n"
            "  item_seconds = 1800; max_wait_minutes = 60; timezone = \"Asia/Shanghai\";\n"
            "  staffing = ( { from = \"11:00\"; to = \"14:00\"; prep_slots = 2; } ); } );\n",
            US0);
    admit_result_t r;
    uint64_t now = s_sh(0, 10, 50);
    s_admitted(e, 30, now, US0, 0, &r);
    assert_int_equal(r.plan.start_ms, now);
    s_admitted(e, 30, now, US0, 0, &r);  /* the second slot opens 11:00 local */
    assert_int_equal(r.plan.slot, 1);
    assert_int_equal(r.plan.start_ms, s_utc(0, 3, 0));
    s_admitted(e, 30, now, US0, 0, &r);  /* 11:20 .. 11:50: exactly max_wait */
    assert_int_equal(r.plan.start_ms, s_sh(0, 11, 20));
    assert_false(s_order(e, 30, 1, now, US0, 0, &r));  /* 11:30 .. 12:00 */
    s_rejected(&r, R_BUSY, 10 * MIN, "store 30:", "max_wait_minutes 60");
}

/* --------------------------------------------------- daemon and brand */

#define LIMIT_CONFIG                                                                      \
    "daemon = { max_pending_orders = 10; commit_batch_max = 4; overloaded_retry_ms = 250;\n" \
    "           limits = { orders_per_second = 3; }; };\n"                                \
    "brands = ( { name = \"heytea\"; orders_per_second = 1; } );\n"                       \
    "stores = (\n"                                                                        \
    "  { id = 1; brand = \"heytea\"; location = [0.0, 0.0]; prep_slots = 50;\n"           \
    "    item_seconds = 60; max_wait_minutes = 60; },\n"                                  \
    "  { id = 2; location = [0.0, 0.0]; prep_slots = 50; item_seconds = 60;\n"            \
    "    max_wait_minutes = 60; },\n"                                                     \
    "  { id = 3; brand = \"heytea\"; location = [0.0, 0.0]; prep_slots = 50;\n"           \
    "    item_seconds = 60; max_wait_minutes = 60; paused = true; },\n"                   \
    "  { id = 4; brand = \"heytea\"; location = [0.0, 0.0]; prep_slots = 50;\n"           \
    "    item_seconds = 60; max_wait_minutes = 60; hours = \"00:00-01:00\"; } );\n"

static void test_levels_in_order_and_only_admitted_orders_spend(void **state)
{
    env_t *e = *state;
    s_start(e, LIMIT_CONFIG, US0);
    uint64_t now = s_utc(0, 10, 0);
    admit_result_t r;
    /* Store-level refusals spend neither the daemon's nor the brand's tokens. */
    for (int i = 0; i < 3; i++) {
        assert_false(s_order(e, 3, 1, now, US0, 0, &r));
        s_rejected(&r, R_PAUSED, 60000, "store 3:", "paused");
        assert_false(s_order(e, 4, 1, now, US0, 0, &r));
        s_rejected(&r, R_CLOSED, 14 * HOUR, "store 4:", "closed");
    }
    /* The adaptive limit (10 pending) comes first, and spends nothing either. */
    for (int i = 0; i < 3; i++) {
        assert_false(s_order(e, 1, 1, now, US0, 10, &r));
        s_rejected(&r, R_OVERLOADED, 250, "daemon:", "adaptive limit of 10 pending orders");
    }
    s_admitted(e, 1, now, US0, 9, &r);  /* the brand's only token */
    /* Brand bucket empty: the brand names itself; 1/s refills in 1000 ms. */
    assert_false(s_order(e, 1, 1, now, US0, 0, &r));
    s_rejected(&r, R_OVERLOADED, 1000, "brand heytea:", "orders_per_second 1 reached");
    /* The brand level comes before the store level. */
    assert_false(s_order(e, 3, 1, now, US0, 0, &r));
    s_rejected(&r, R_OVERLOADED, 1000, "brand heytea:", "orders_per_second 1");
    /* Brand refusals did not spend daemon tokens: two of three are left. */
    s_admitted(e, 2, now, US0, 0, &r);
    s_admitted(e, 2, now, US0, 0, &r);
    assert_false(s_order(e, 2, 1, now, US0, 0, &r));
    /* 3/s: the next token in ceil(1000/3) ms. */
    s_rejected(&r, R_OVERLOADED, 334, "daemon:", "limits.orders_per_second 3 reached");
    /* The daemon bucket is checked before the brand's. */
    assert_false(s_order(e, 1, 1, now, US0, 0, &r));
    s_rejected(&r, R_OVERLOADED, 334, "daemon:", "orders_per_second 3");
    /* ...and the adaptive limit before both. */
    assert_false(s_order(e, 1, 1, now, US0, 10, &r));
    s_rejected(&r, R_OVERLOADED, 250, "daemon:", "adaptive limit");
    /* Refill: 333 ms give 0.999 tokens, 334 ms give one. */
    assert_false(s_order(e, 2, 1, now, US0 + 333000, 0, &r));
    s_rejected(&r, R_OVERLOADED, 1, "daemon:", "orders_per_second");
    s_admitted(e, 2, now, US0 + 334000, 0, &r);
    /* 1.5 s after the first: the brand has its one token back (capacity 1). */
    s_admitted(e, 1, now, US0 + 1500000, 0, &r);
    assert_false(s_order(e, 1, 1, now, US0 + 1500000, 0, &r));
    s_rejected(&r, R_OVERLOADED, 1000, "brand heytea:", "reached");
}

static void test_adaptive_limit_follows_measurements(void **state)
{
    env_t *e = *state;
    s_start(e, LIMIT_CONFIG, US0);
    shed_t *s = admit_shed(e->admit);
    assert_non_null(s);
    assert_true(s->limit == 10.0);
    uint64_t now = s_utc(0, 10, 0);
    admit_result_t r;
    /* A commit of 300 ms passes the 250 ms default target: 10 -> 9. */
    shed_observe(s, 1000, 300000, 4, 9, US0 + 1000000);
    assert_false(s_order(e, 2, 1, now, US0 + 1000000, 9, &r));
    s_rejected(&r, R_OVERLOADED, 250, "daemon:",
               "adaptive limit of 9 pending orders (commit 300 ms, queue delay 1 ms)");
    s_admitted(e, 2, now, US0 + 1000000, 8, &r);
}

static void test_reload_keeps_tokens_by_brand_name(void **state)
{
    env_t *e = *state;
    s_start(e,
            "daemon = { limits = { orders_per_second = 1000; }; };\n"
            "brands = ( { name = \"heytea\"; orders_per_second = 2; } );\n"
            "stores = ( { id = 1; brand = \"heytea\"; location = [0.0, 0.0]; prep_slots = 50;\n"
            "             item_seconds = 60; max_wait_minutes = 60; } );\n",
            US0);
    uint64_t now = s_utc(0, 10, 0);
    admit_result_t r;
    s_admitted(e, 1, now, US0, 0, &r);
    s_admitted(e, 1, now, US0, 0, &r);
    assert_false(s_order(e, 1, 1, now, US0, 0, &r));
    s_rejected(&r, R_OVERLOADED, 500, "brand heytea:", "orders_per_second 2");
    uint64_t booked = s_kitchen(e, 1)->free_at[0];

    /* Reload: heytea goes to 10/s but keeps its (empty) bucket; a new brand
     * starts full; the daemon's 998 tokens are capped at the new rate, 3. */
    s_reload(e,
             "daemon = { limits = { orders_per_second = 3; }; };\n"
             "brands = ( { name = \"other\"; orders_per_second = 5; },\n"
             "           { name = \"heytea\"; orders_per_second = 10; } );\n"
             "stores = (\n"
             "  { id = 1; brand = \"heytea\"; location = [0.0, 0.0]; prep_slots = 50;\n"
             "    item_seconds = 60; max_wait_minutes = 60; },\n"
             "  { id = 2; brand = \"other\"; location = [0.0, 0.0]; prep_slots = 50;\n"
             "    item_seconds = 60; max_wait_minutes = 60; } );\n",
             US0);
    assert_false(s_order(e, 1, 1, now, US0, 0, &r));
    s_rejected(&r, R_OVERLOADED, 100, "brand heytea:", "orders_per_second 10");
    assert_int_equal(s_kitchen(e, 1)->free_at[0], booked);  /* promises survive */
    /* 50 ms later heytea has half a token at 10/s: 50 ms to go. */
    uint64_t later = US0 + 50000;
    assert_false(s_order(e, 1, 1, now, later, 0, &r));
    s_rejected(&r, R_OVERLOADED, 50, "brand heytea:", "reached");
    s_admitted(e, 2, now, later, 0, &r);
    s_admitted(e, 2, now, later, 0, &r);
    s_admitted(e, 2, now, later, 0, &r);
    assert_false(s_order(e, 2, 1, now, later, 0, &r));
    s_rejected(&r, R_OVERLOADED, 334, "daemon:", "orders_per_second 3");

    /* Reload without store 1: it takes no new orders. */
    s_reload(e,
             "stores = ( { id = 2; location = [0.0, 0.0]; prep_slots = 50;\n"
             "             item_seconds = 60; max_wait_minutes = 60; } );\n",
             US0 + 2000000);
    assert_false(s_order(e, 1, 1, now, US0 + 2000000, 0, &r));
    s_rejected(&r, R_UNKNOWN, 0, "store 1:", "removed from the configuration");
    s_admitted(e, 2, now, US0 + 2000000, 0, &r);
}

#define ONE_STORE(slots, paused)                                                       \
    "stores = ( { id = 1; location = [0.0, 0.0]; prep_slots = " #slots ";\n"            \
    "             item_seconds = 60; max_wait_minutes = 5; paused = " #paused "; } );\n"

/* SIGHUP: new capacity applies to new orders at once; accepted orders keep
 * their promises. */
static void test_reload_applies_new_capacity_at_once(void **state)
{
    env_t *e = *state;
    s_start(e, ONE_STORE(1, false), US0);
    uint64_t now = s_utc(0, 10, 0);
    admit_result_t r;
    for (int i = 0; i < 5; i++)
        s_admitted(e, 1, now, US0, 0, &r);
    assert_false(s_order(e, 1, 1, now, US0, 0, &r));
    s_rejected(&r, R_BUSY, MIN, "store 1:", "max_wait_minutes");

    /* A second slot: the next order starts now on it. */
    s_reload(e, ONE_STORE(2, false), US0);
    s_admitted(e, 1, now, US0, 0, &r);
    assert_int_equal(r.plan.slot, 1);
    assert_int_equal(r.plan.start_ms, now);
    assert_int_equal(s_kitchen(e, 1)->free_at[0], now + 5 * MIN);

    /* Back to one slot: slot 0 still holds its five orders. */
    s_reload(e, ONE_STORE(1, false), US0);
    assert_false(s_order(e, 1, 1, now, US0, 0, &r));
    s_rejected(&r, R_BUSY, MIN, "store 1:", "max_wait_minutes");
    assert_int_equal(s_kitchen(e, 1)->slots, 1);

    /* Paused by a reload: refused at once, and resumed the same way. */
    s_reload(e, ONE_STORE(1, true), US0);
    assert_false(s_order(e, 1, 1, now + MIN, US0, 0, &r));
    s_rejected(&r, R_PAUSED, 60000, "store 1:", "paused");
    s_reload(e, ONE_STORE(1, false), US0);
    s_admitted(e, 1, now + MIN, US0, 0, &r);
    assert_int_equal(r.plan.start_ms, now + 5 * MIN);
}

static void test_delivery_promise_adds_handoff_and_travel(void **state)
{
    env_t *e = *state;
    s_start(e,
            "dispatch = { handoff_seconds = 120; rider_kmh = 30.0; };\n"
            "stores = ( { id = 40; location = [0.0, 0.0]; prep_slots = 1; item_seconds = 60;\n"
            "             max_wait_minutes = 60; } );\n",
            US0);
    const config_store_t *st = &e->cfg->stores[0];
    uint64_t ready = s_utc(0, 12, 0);
    /* One degree along the equator or a meridian: 6371 km * pi / 180. */
    double km = 6371.0 * M_PI / 180.0;
    uint64_t travel = (uint64_t)llround(km / 30.0 * 3600000.0);
    assert_int_equal(travel, 13343391);
    uint64_t east = admit_delivery_ms(e->cfg, st, ready, 0.0, 1.0);
    uint64_t north = admit_delivery_ms(e->cfg, st, ready, 1.0, 0.0);
    assert_in_range(east, ready + 120 * SEC + travel - 1, ready + 120 * SEC + travel + 1);
    assert_in_range(north, ready + 120 * SEC + travel - 1, ready + 120 * SEC + travel + 1);
    assert_int_equal(admit_delivery_ms(e->cfg, st, ready, 0.0, 0.0), ready + 120 * SEC);

    admit_result_t r;
    store_t *s40 = store_table_find(e->stores, 40);
    admit_order_in_t in = { .drinks = 2, .dropoff_lat = 0.0, .dropoff_lng = 1.0,
                            .now_ms = ready - 2 * MIN, .now_us = US0 };
    assert_true(admit_order(e->admit, e->stores, s40, &in, &r));
    assert_int_equal(r.plan.ready_ms, ready);
    assert_int_equal(r.promised_delivery_at_ms, east);
}

/* ------------------------------------------------------------ campaigns */

#define CAMPAIGN_LEVEL_CONFIG                                                               \
    "daemon = { limits = { orders_per_second = 4; }; };\n"                                  \
    "brands = ( { name = \"heytea\"; orders_per_second = 3; } );\n"                        \
    "campaigns = ( { name = \"free-tea\"; orders_per_second = 1; store_share = 1; } );\n" \
    "stores = (\n"                                                                          \
    "  { id = 1; brand = \"heytea\"; location = [0.0, 0.0]; prep_slots = 50;\n"            \
    "    item_seconds = 60; max_wait_minutes = 60; },\n"                                   \
    "  { id = 2; brand = \"heytea\"; location = [0.0, 0.0]; prep_slots = 50;\n"            \
    "    item_seconds = 60; max_wait_minutes = 60; paused = true; } );\n"

/* s_campaign_order is s_order for an order of CAMPAIGN. */
static bool s_campaign_order(env_t *e, uint32_t id, const char *campaign, uint64_t now_ms,
                             uint64_t now_us, admit_result_t *r)
{
    store_t *st = store_table_find(e->stores, id);
    assert_non_null(st);
    admit_order_in_t in = { .campaign = campaign, .drinks = 1, .now_ms = now_ms, .now_us = now_us };
    memset(r, 0xa5, sizeof *r);
    bool ok = admit_order(e->admit, e->stores, st, &in, r);
    assert_int_equal(ok, r->reason == R_NONE);
    return ok;
}

/* The campaign level comes last, after the daemon's, the brand's and the
 * store's; its refusals spend no token of any level and book nothing;
 * regular orders never meet it. */
static void test_campaign_level_comes_last_and_spends_nothing(void **state)
{
    env_t *e = *state;
    s_start(e, CAMPAIGN_LEVEL_CONFIG, US0);
    const char *names[1];
    size_t n = campaign_uncounted(admit_campaigns(e->admit), names, 1);
    assert_int_equal(n, 1);
    campaign_counted(admit_campaigns(e->admit), names, n);
    uint64_t now = s_utc(0, 10, 0);
    admit_result_t r;
    /* the store's rule before the campaign's: a paused store says so */
    assert_false(s_campaign_order(e, 2, "no-such-campaign", now, US0, &r));
    s_rejected(&r, R_PAUSED, 60000, "store 2:", "paused");
    assert_true(s_campaign_order(e, 1, "free-tea", now, US0, &r));
    assert_int_equal(r.campaign, 0);
    uint64_t booked = s_kitchen(e, 1)->free_at[0];
    /* the campaign's one token is gone: refused, nothing spent, nothing booked */
    for (int i = 0; i < 5; i++) {
        assert_false(s_campaign_order(e, 1, "free-tea", now, US0, &r));
        s_rejected(&r, R_CAMPAIGN, 1000, "campaign free-tea:", "orders_per_second 1 reached");
    }
    assert_int_equal(s_kitchen(e, 1)->free_at[1], 0);
    assert_int_equal(s_kitchen(e, 1)->free_at[0], booked);
    /* the brand still has 2 of its 3 tokens, the daemon 3 of its 4 */
    s_admitted(e, 1, now, US0, 0, &r);
    assert_int_equal(r.campaign, CAMPAIGN_NONE);
    s_admitted(e, 1, now, US0, 0, &r);
    assert_false(s_order(e, 1, 1, now, US0, 0, &r));
    s_rejected(&r, R_OVERLOADED, 334, "brand heytea:", "orders_per_second 3");
    /* the brand comes before the campaign, even one that is not configured */
    assert_false(s_campaign_order(e, 1, "no-such-campaign", now, US0, &r));
    s_rejected(&r, R_OVERLOADED, 334, "brand heytea:", "orders_per_second 3");
    /* a second later: an unknown campaign is the campaign level's refusal */
    assert_false(s_campaign_order(e, 1, "no-such-campaign", now, US0 + 1000000, &r));
    s_rejected(&r, R_CAMPAIGN, 0, "campaign no-such-campaign:", "not in the configuration");
    assert_true(s_campaign_order(e, 1, "free-tea", now, US0 + 1000000, &r));
}

/* admit_store_rules answers for the store alone, booking nothing, and
 * shows the plan also when the wait is too long. */
static void test_store_rules_alone(void **state)
{
    env_t *e = *state;
    s_start(e,
            "stores = ( { id = 1; location = [0.0, 0.0]; prep_slots = 1; item_seconds = 60;\n"
            "             max_wait_minutes = 2; } );\n",
            US0);
    uint64_t now = s_utc(0, 10, 0);
    admit_result_t r;
    store_t *st = store_table_find(e->stores, 1);
    assert_true(admit_store_rules(e->admit, e->stores, st, 2, now, &r));
    assert_true(r.planned);
    assert_int_equal(r.plan.ready_ms, now + 2 * MIN);
    assert_int_equal(s_kitchen(e, 1)->free_at[0], 0);
    s_admitted(e, 1, now, US0, 0, &r);
    assert_false(admit_store_rules(e->admit, e->stores, st, 2, now, &r));
    s_rejected(&r, R_BUSY, MIN, "store 1:", "over max_wait_minutes 2");
    assert_true(r.planned);
    assert_int_equal(r.plan.ready_ms, now + 3 * MIN);
    assert_int_equal(s_kitchen(e, 1)->free_at[0], now + MIN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_max_wait_admits_five_then_busy_with_exact_retry,
                                        s_setup, unit_env_teardown),
        cmocka_unit_test_setup_teardown(test_order_that_never_fits_gets_no_retry_time, s_setup,
                                        unit_env_teardown),
        cmocka_unit_test_setup_teardown(test_max_queue_counts_waiting_orders, s_setup,
                                        unit_env_teardown),
        cmocka_unit_test_setup_teardown(test_paused_store, s_setup, unit_env_teardown),
        cmocka_unit_test_setup_teardown(test_closed_outside_hours_in_store_timezone, s_setup,
                                        unit_env_teardown),
        cmocka_unit_test_setup_teardown(test_ready_after_closing_is_closed, s_setup,
                                        unit_env_teardown),
        cmocka_unit_test_setup_teardown(test_staffing_window_in_store_timezone, s_setup,
                                        unit_env_teardown),
        cmocka_unit_test_setup_teardown(test_levels_in_order_and_only_admitted_orders_spend,
                                        s_setup, unit_env_teardown),
        cmocka_unit_test_setup_teardown(test_adaptive_limit_follows_measurements, s_setup,
                                        unit_env_teardown),
        cmocka_unit_test_setup_teardown(test_reload_keeps_tokens_by_brand_name, s_setup,
                                        unit_env_teardown),
        cmocka_unit_test_setup_teardown(test_reload_applies_new_capacity_at_once, s_setup,
                                        unit_env_teardown),
        cmocka_unit_test_setup_teardown(test_delivery_promise_adds_handoff_and_travel, s_setup,
                                        unit_env_teardown),
        cmocka_unit_test_setup_teardown(test_campaign_level_comes_last_and_spends_nothing, s_setup,
                                        unit_env_teardown),
        cmocka_unit_test_setup_teardown(test_store_rules_alone, s_setup, unit_env_teardown),
    };
    return cmocka_run_group_tests_name("admit", tests, NULL, NULL);
}
