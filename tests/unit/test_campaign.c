/* test_campaign.c - campaigns (daemon/campaign.c) through admission
 * (daemon/admit.c) over real configs: unknown names, pace, budget, the
 * per-store daily cap across a local midnight, paused and the window live
 * on reload, the share of a store's prep time and its retry time, regular
 * orders beside a flood of campaign orders, giving time and counts back,
 * the restart's counts, and the share invariant under random bookings,
 * cancels and early readies against a brute-force checker of every window. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit_admit_env.h"
#include "unit_time.h"
#include "admit.h"
#include "campaign.h"
#include "config.h"
#include "order.h"
#include "store.h"
#include "tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SEC 1000u
#define MIN (60u * SEC)
#define HOUR (60u * MIN)
#define DAY (24u * HOUR)
#define SH_OFFSET (8 * (int64_t)HOUR) /* Asia/Shanghai: UTC+8, no DST */
#define US0 UINT64_C(5000000000)    /* an arbitrary monotonic start, in us */

#define R_NONE SLUICE__V1__REASON__REASON_NONE
#define R_BUSY SLUICE__V1__REASON__STORE_BUSY
#define R_CAMPAIGN SLUICE__V1__REASON__CAMPAIGN_LIMIT
#define R_UNAVAILABLE SLUICE__V1__REASON__UNAVAILABLE
#define R_OVERLOADED SLUICE__V1__REASON__OVERLOADED

#define CS(x) SLUICE__V1__CAMPAIGN_STATE__CAMPAIGN_STATE_##x

/* s_utc: wall ms at HH:MM UTC on 2026-01-15 (+DAYS). */
static uint64_t s_utc(int days, int hh, int mm)
{
    return (uint64_t)unit_days_from_civil(2026, 1, 15) * DAY + (uint64_t)days * DAY +
           (uint64_t)hh * HOUR + (uint64_t)mm * MIN;
}

/* s_sh: wall ms when Shanghai reads HH:MM on local 2026-01-15 (+DAYS). */
static uint64_t s_sh(int days, int hh, int mm)
{
    return (uint64_t)((int64_t)s_utc(days, hh, mm) - SH_OFFSET);
}

/* ------------------------------------------------------------- fixture */

static int s_setup(void **state)
{
    return unit_env_setup(state, "sluice-test-campaign");
}

static campaign_table_t *s_campaigns(env_t *e)
{
    return admit_campaigns(e->admit);
}

/* s_counted: what the daemon does once the database has no counts for any
 * campaign (a first start): every campaign takes orders. */
static void s_counted(env_t *e)
{
    const char *names[16];
    size_t n = campaign_uncounted(s_campaigns(e), names, 16);
    assert_true(n <= 16);
    campaign_counted(s_campaigns(e), names, n);
    assert_int_equal(campaign_uncounted(s_campaigns(e), names, 16), 0);
}

static void s_start(env_t *e, const char *text, uint64_t now_us)
{
    e->cfg = unit_env_load(e, text);
    e->stores = store_table_new();
    assert_non_null(e->stores);
    assert_true(store_table_apply(e->stores, e->cfg, 0));
    e->admit = admit_new(e->cfg, now_us);
    assert_non_null(e->admit);
    s_counted(e);
}

static void s_reload(env_t *e, const char *text, uint64_t now_us)
{
    config_t *next = unit_env_load(e, text);
    assert_true(store_table_apply(e->stores, next, 0));
    assert_true(admit_configure(e->admit, next, now_us));
    config_destroy(&e->cfg);
    e->cfg = next;
}

static bool s_order(env_t *e, uint32_t id, const char *campaign, unsigned drinks, uint64_t now_ms,
                    uint64_t now_us, admit_result_t *r)
{
    store_t *st = store_table_find(e->stores, id);
    assert_non_null(st);
    admit_order_in_t in = {
        .campaign = campaign,
        .drinks = drinks,
        .dropoff_lat = st->cfg ? st->cfg->lat : 0,
        .dropoff_lng = st->cfg ? st->cfg->lng : 0,
        .now_ms = now_ms,
        .now_us = now_us,
    };
    memset(r, 0xa5, sizeof *r);
    bool ok = admit_order(e->admit, e->stores, st, &in, r);
    assert_int_equal(ok, r->reason == R_NONE);
    return ok;
}

static void s_admitted(env_t *e, uint32_t id, const char *campaign, uint64_t now_ms,
                       uint64_t now_us, admit_result_t *r)
{
    if (!s_order(e, id, campaign, 1, now_ms, now_us, r)) {
        print_error("store %u campaign %s: expected admission, got reason %d: %s\n", id,
                    campaign ? campaign : "-", r->reason, r->detail);
        fail();
    }
    if (campaign)
        assert_int_equal(r->campaign, campaign_find(s_campaigns(e), campaign));
    else
        assert_int_equal(r->campaign, CAMPAIGN_NONE);
}

/* s_refused checks a CAMPAIGN_LIMIT (or REASON) with STATE, RETRY_MS and
 * a detail that starts with PREFIX and contains WORDS. */
static void s_refused(const admit_result_t *r, int reason, int state, uint64_t retry_ms,
                      const char *prefix, const char *words)
{
    if (r->reason != (Sluice__V1__Reason)reason || (int)r->campaign_state != state ||
        r->retry_after_ms != retry_ms)
        print_error("expected reason %d state %d retry %llu, got %d %d %llu: %s\n", reason, state,
                    (unsigned long long)retry_ms, r->reason, r->campaign_state,
                    (unsigned long long)r->retry_after_ms, r->detail);
    assert_int_equal(r->reason, reason);
    assert_int_equal(r->campaign_state, state);
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

static const config_store_t *s_store_cfg(env_t *e, uint32_t id)
{
    store_t *st = store_table_find(e->stores, id);
    assert_non_null(st);
    return st->cfg;
}

/* ------------------------------------------------------- the order field */

static void test_campaign_field_validated(void **state)
{
    (void)state;
    Sluice__V1__Geo geo = SLUICE__V1__GEO__INIT;
    Sluice__V1__Item item = SLUICE__V1__ITEM__INIT, *items[1] = { &item };
    Sluice__V1__SubmitOrder o = SLUICE__V1__SUBMIT_ORDER__INIT;
    item.sku = "tea";
    item.quantity = 1;
    o.order_id = "o-1";
    o.store_id = 1;
    o.n_items = 1;
    o.items = items;
    o.dropoff = &geo;
    char detail[ORDER_DETAIL_MAX];
    assert_true(order_validate(&o, detail, sizeof detail));          /* "" is a regular order */
    o.campaign = "free-tea:2027.02_A";
    assert_true(order_validate(&o, detail, sizeof detail));
    uint64_t regular = order_fingerprint(&o);
    o.campaign = "";
    assert_int_equal(order_fingerprint(&o), regular);               /* not compared content */
    o.campaign = "free tea";
    assert_false(order_validate(&o, detail, sizeof detail));
    assert_string_equal(detail, "campaign: only letters, digits and . _ : - are allowed");
    char longer[70];
    memset(longer, 'a', 65);
    longer[65] = '\0';
    o.campaign = longer;
    assert_false(order_validate(&o, detail, sizeof detail));
    assert_string_equal(detail, "campaign: at most 64 characters (got 65)");
    longer[64] = '\0';
    assert_true(order_validate(&o, detail, sizeof detail));
}

/* ----------------------------------------------------------- the limits */

#define PACE_CONFIG                                                                        \
    "daemon = { limits = { orders_per_second = 3; }; };\n"                                 \
    "campaigns = ( { name = \"free-tea\"; orders_per_second = 2; store_share = 1; } );\n" \
    "stores = ( { id = 1; location = [0.0, 0.0]; prep_slots = 50; item_seconds = 60;\n"    \
    "             max_wait_minutes = 60; } );\n"

static void test_unknown_campaign_and_regular_orders(void **state)
{
    env_t *e = *state;
    s_start(e, PACE_CONFIG, US0);
    uint64_t now = s_utc(0, 10, 0);
    admit_result_t r;
    assert_false(s_order(e, 1, "free-coffee", 1, now, US0, &r));
    s_refused(&r, R_CAMPAIGN, CS(UNKNOWN), 0, "campaign free-coffee:", "not in the configuration");
    assert_int_equal(r.campaign, CAMPAIGN_NONE);
    /* the refusal spent nothing: three regular orders take the daemon's 3 */
    s_admitted(e, 1, NULL, now, US0, &r);
    s_admitted(e, 1, "", now, US0, &r);
    assert_int_equal(r.campaign_state, CS(NONE));
    s_admitted(e, 1, NULL, now, US0, &r);
    assert_false(s_order(e, 1, NULL, 1, now, US0, &r));
    assert_int_equal(r.reason, R_OVERLOADED);
}

static void test_pace_then_resubmit_at_retry_time(void **state)
{
    env_t *e = *state;
    s_start(e, PACE_CONFIG, US0);
    uint64_t now = s_utc(0, 10, 0);
    admit_result_t r;
    s_admitted(e, 1, "free-tea", now, US0, &r);
    assert_int_equal(r.campaign_state, CS(OK));
    s_admitted(e, 1, "free-tea", now, US0, &r);
    assert_false(s_order(e, 1, "free-tea", 1, now, US0, &r));
    s_refused(&r, R_CAMPAIGN, CS(PACED), 500, "campaign free-tea:", "orders_per_second 2 reached");
    assert_int_equal(campaign_counts(s_campaigns(e), r.campaign)->refused[CS(PACED)], 1);
    /* the refusal spent no daemon token: a regular order gets the third */
    s_admitted(e, 1, NULL, now, US0, &r);
    /* half a millisecond early it is still paced (for 1 ms, rounded up);
     * at retry_after_ms it is taken */
    assert_false(s_order(e, 1, "free-tea", 1, now, US0 + 499500, &r));
    s_refused(&r, R_CAMPAIGN, CS(PACED), 1, "campaign free-tea:", "orders_per_second 2");
    s_admitted(e, 1, "free-tea", now, US0 + 500000, &r);
    /* a quiet second fills the bucket to one second's worth, no more */
    s_admitted(e, 1, "free-tea", now, US0 + 2000000, &r);
    s_admitted(e, 1, "free-tea", now, US0 + 2000000, &r);
    assert_false(s_order(e, 1, "free-tea", 1, now, US0 + 2000000, &r));
    s_refused(&r, R_CAMPAIGN, CS(PACED), 500, "campaign free-tea:", "orders_per_second 2");
    assert_int_equal(campaign_counts(s_campaigns(e), r.campaign)->placed, 5);
    assert_int_equal(campaign_counts(s_campaigns(e), r.campaign)->refused[CS(PACED)], 3);
}

static void test_budget_spent_for_good_and_given_back_by_a_failed_commit(void **state)
{
    env_t *e = *state;
    s_start(e,
            "campaigns = ( { name = \"free-tea\"; orders_per_second = 1000; budget = 3;\n"
            "                store_share = 1; } );\n"
            "stores = ( { id = 1; location = [0.0, 0.0]; prep_slots = 50; item_seconds = 60;\n"
            "             max_wait_minutes = 60; },\n"
            "           { id = 2; location = [0.0, 0.0]; prep_slots = 50; item_seconds = 60;\n"
            "             max_wait_minutes = 60; } );\n",
            US0);
    uint64_t now = s_utc(0, 10, 0);
    admit_result_t r;
    s_admitted(e, 1, "free-tea", now, US0, &r);
    s_admitted(e, 2, "free-tea", now, US0, &r);
    kitchen_plan_t last = r.plan;
    s_admitted(e, 2, "free-tea", now, US0, &r);
    kitchen_plan_t third = r.plan;
    assert_false(s_order(e, 1, "free-tea", 1, now + HOUR, US0 + 3600000000u, &r));
    s_refused(&r, R_CAMPAIGN, CS(BUDGET_SPENT), 0, "campaign free-tea:", "budget of 3 orders spent");
    s_admitted(e, 1, NULL, now, US0, &r); /* regular orders go on */
    /* A cancel does not give its place back; a failed commit does. */
    campaign_give_back(s_campaigns(e), campaign_find(s_campaigns(e), "free-tea"),
                       s_store_cfg(e, 2), last.start_ms, last.ready_ms, now);
    assert_false(s_order(e, 1, "free-tea", 1, now, US0, &r));
    assert_int_equal(r.campaign_state, CS(BUDGET_SPENT));
    campaign_unplace(s_campaigns(e), campaign_find(s_campaigns(e), "free-tea"), s_store_cfg(e, 2),
                     third.start_ms, third.ready_ms, now, now);
    assert_int_equal(campaign_counts(s_campaigns(e), 0)->placed, 2);
    s_admitted(e, 1, "free-tea", now, US0, &r);
    assert_false(s_order(e, 1, "free-tea", 1, now, US0, &r));
    assert_int_equal(r.campaign_state, CS(BUDGET_SPENT));
}

#define DAILY_CONFIG(paused)                                                                 \
    "daemon = { paused_retry_ms = 4321; };\n"                                               \
    "campaigns = ( { name = \"free-tea\"; orders_per_second = 1000; per_store_daily = 2;\n" \
    "                store_share = 1; paused = " #paused "; } );\n"                         \
    "stores = (\n"                                                                           \
    "  { id = 1; location = [31.2, 121.4]; prep_slots = 50; item_seconds = 60;\n"           \
    "    max_wait_minutes = 60; timezone = \"Asia/Shanghai\"; },\n"                         \
    "  { id = 2; location = [51.5, 0.0]; prep_slots = 50; item_seconds = 60;\n"             \
    "    max_wait_minutes = 60; timezone = \"UTC\"; } );\n"

/* The cap is per local day: Shanghai's midnight is 16:00 UTC. */
static void test_per_store_daily_across_local_midnight(void **state)
{
    env_t *e = *state;
    s_start(e, DAILY_CONFIG(false), US0);
    uint64_t now = s_sh(0, 23, 50);
    admit_result_t r;
    s_admitted(e, 1, "free-tea", now, US0, &r);
    s_admitted(e, 1, "free-tea", now, US0, &r);
    assert_false(s_order(e, 1, "free-tea", 1, now, US0, &r));
    s_refused(&r, R_CAMPAIGN, CS(STORE_DAILY_CAP), 10 * MIN, "campaign free-tea:",
              "per_store_daily 2 reached at store 1 today");
    /* another store has its own count */
    s_admitted(e, 2, "free-tea", now, US0, &r);
    /* 1 ms before local midnight: still today */
    assert_false(s_order(e, 1, "free-tea", 1, s_sh(1, 0, 0) - 1, US0, &r));
    s_refused(&r, R_CAMPAIGN, CS(STORE_DAILY_CAP), 1, "campaign free-tea:", "per_store_daily");
    /* at the retry time: a new day */
    s_admitted(e, 1, "free-tea", now + 10 * MIN, US0, &r);
    s_admitted(e, 1, "free-tea", now + 10 * MIN, US0, &r);
    assert_false(s_order(e, 1, "free-tea", 1, s_sh(1, 12, 0), US0, &r));
    s_refused(&r, R_CAMPAIGN, CS(STORE_DAILY_CAP), 12 * HOUR, "campaign free-tea:", "today");
    /* the UTC store's day turns at 00:00 UTC, eight hours later than Shanghai's */
    s_admitted(e, 2, "free-tea", s_sh(1, 0, 0), US0, &r);
    assert_false(s_order(e, 2, "free-tea", 1, s_sh(1, 0, 0), US0, &r));
    s_refused(&r, R_CAMPAIGN, CS(STORE_DAILY_CAP), 8 * HOUR, "campaign free-tea:", "store 2");
}

static void test_paused_and_window_live_on_reload(void **state)
{
    env_t *e = *state;
    s_start(e, DAILY_CONFIG(false), US0);
    uint64_t now = s_utc(0, 10, 0);
    admit_result_t r;
    s_admitted(e, 2, "free-tea", now, US0, &r);
    s_reload(e, DAILY_CONFIG(true), US0);
    assert_false(s_order(e, 2, "free-tea", 1, now, US0, &r));
    s_refused(&r, R_CAMPAIGN, CS(PAUSED), 4321, "campaign free-tea:", "paused");
    s_admitted(e, 2, NULL, now, US0, &r); /* regular orders are not paused */
    s_reload(e, DAILY_CONFIG(false), US0);
    s_admitted(e, 2, "free-tea", now, US0, &r);
    /* the count survived both reloads: two today */
    assert_false(s_order(e, 2, "free-tea", 1, now, US0, &r));
    assert_int_equal(r.campaign_state, CS(STORE_DAILY_CAP));

    /* starts and ends: 10:00 to 10:30 UTC (18:00 to 18:30 in Shanghai) */
    s_reload(e,
             "campaigns = ( { name = \"late\"; orders_per_second = 1000; store_share = 1;\n"
             "  starts = \"2026-01-15T18:00:00+08:00\"; ends = \"2026-01-15T10:30Z\"; } );\n"
             "stores = ( { id = 2; location = [51.5, 0.0]; prep_slots = 50; item_seconds = 60;\n"
             "             max_wait_minutes = 60; } );\n",
             US0);
    s_counted(e);
    assert_false(s_order(e, 2, "late", 1, now - 90 * SEC, US0, &r));
    s_refused(&r, R_CAMPAIGN, CS(NOT_STARTED), 90 * SEC, "campaign late:",
              "starts at 2026-01-15T10:00:00Z");
    s_admitted(e, 2, "late", now, US0, &r);
    s_admitted(e, 2, "late", now + 30 * MIN - 1, US0, &r);
    assert_false(s_order(e, 2, "late", 1, now + 30 * MIN, US0, &r));
    s_refused(&r, R_CAMPAIGN, CS(ENDED), 0, "campaign late:", "ended at 2026-01-15T10:30:00Z");
    /* free-tea left the config: its name is unknown now */
    assert_false(s_order(e, 2, "free-tea", 1, now, US0, &r));
    assert_int_equal(r.campaign_state, CS(UNKNOWN));
}

/* ------------------------------------------------------------- the share */

/* One slot, one-minute orders, a 10-minute window, half of it for the
 * campaign: 5 minutes of campaign orders in any 10 minutes. */
#define SHARE_CONFIG(share)                                                                  \
    "campaigns = ( { name = \"free-tea\"; orders_per_second = 1000; store_share = " #share  \
    "; } );\n"                                                                               \
    "stores = ( { id = 1; location = [0.0, 0.0]; prep_slots = 1; item_seconds = 60;\n"      \
    "             max_wait_minutes = 10; },\n"                                               \
    "           { id = 2; location = [0.0, 0.0]; prep_slots = 1; item_seconds = 60;\n"      \
    "             max_wait_minutes = 10;\n"                                                  \
    "             campaigns = ( { name = \"free-tea\"; store_share = 0.0; } ); } );\n"

static void test_share_refuses_with_the_exact_retry_time(void **state)
{
    env_t *e = *state;
    s_start(e, SHARE_CONFIG(0.5), US0);
    uint64_t now = s_utc(0, 10, 0);
    admit_result_t r;
    for (int i = 0; i < 5; i++) {
        s_admitted(e, 1, "free-tea", now, US0, &r);
        assert_int_equal(r.plan.start_ms, now + (uint64_t)i * MIN);
    }
    /* a sixth would make 6 minutes of [now, now + 10 min) */
    assert_false(s_order(e, 1, "free-tea", 1, now, US0, &r));
    s_refused(&r, R_CAMPAIGN, CS(SHARE_FULL), 10 * MIN, "campaign free-tea:",
              "store_share 0.5 of store 1's prep time in max_wait_minutes 10 is booked");
    /* a refusal booked nothing */
    assert_int_equal(s_kitchen(e, 1)->free_at[0], now + 5 * MIN);
    /* 1 ms before the retry time it is still refused, for 1 ms more */
    assert_false(s_order(e, 1, "free-tea", 1, now + 10 * MIN - 1, US0, &r));
    s_refused(&r, R_CAMPAIGN, CS(SHARE_FULL), 1, "campaign free-tea:", "store_share");
    s_admitted(e, 1, "free-tea", now + 10 * MIN, US0, &r);
    assert_int_equal(r.plan.start_ms, now + 10 * MIN);
    /* from 10:11, four more fit ([10:10, 10:15) is 5 minutes, and a window
     * reaching back to [10:04, 10:05) ends before 10:14); then the next
     * fits when [10:10, 10:15) has left its windows: a start at 10:20 */
    s_admitted(e, 1, "free-tea", now + 11 * MIN, US0, &r);
    s_admitted(e, 1, "free-tea", now + 11 * MIN, US0, &r);
    s_admitted(e, 1, "free-tea", now + 11 * MIN, US0, &r);
    s_admitted(e, 1, "free-tea", now + 11 * MIN, US0, &r);
    assert_int_equal(r.plan.ready_ms, now + 15 * MIN);
    assert_false(s_order(e, 1, "free-tea", 1, now + 11 * MIN, US0, &r));
    s_refused(&r, R_CAMPAIGN, CS(SHARE_FULL), 9 * MIN, "campaign free-tea:", "store_share");

    /* a store that opted out never takes one; its regular orders go on */
    assert_false(s_order(e, 2, "free-tea", 1, now, US0, &r));
    s_refused(&r, R_CAMPAIGN, CS(STORE_OPTED_OUT), 0, "campaign free-tea:",
              "store 2 takes none of its orders (store_share 0)");
    s_admitted(e, 2, NULL, now, US0, &r);
}

/* The case: a campaign floods a store. Its regular customers still
 * get the rest of the kitchen, and only then STORE_BUSY. */
static void test_flooded_store_keeps_taking_regular_orders(void **state)
{
    env_t *e = *state;
    s_start(e,
            "campaigns = ( { name = \"free-tea\"; orders_per_second = 100000; } );\n"
            "stores = ( { id = 1; location = [0.0, 0.0]; prep_slots = 4; item_seconds = 60;\n"
            "             order_seconds = 30; max_wait_minutes = 40; } );\n",
            US0);
    uint64_t now = s_utc(0, 10, 0);
    admit_result_t r;
    int campaign = 0, regular = 0;
    while (s_order(e, 1, "free-tea", 1, now, US0, &r))
        campaign++;
    s_refused(&r, R_CAMPAIGN, CS(SHARE_FULL), r.retry_after_ms, "campaign free-tea:", "store_share 0.5");
    /* 4 slots x 40 minutes, half of it in 90-second orders: 53 of them,
     * 14 on slot 0 (free at 21 min), 13 on each other (free at 19.5) */
    assert_int_equal(campaign, 53);
    while (s_order(e, 1, NULL, 1, now, US0, &r))
        regular++;
    assert_int_equal(r.reason, R_BUSY);
    /* the rest of each slot up to 40 minutes: 12 + 3 x 13 regular orders */
    assert_int_equal(regular, 51);
    /* a minute later every slot frees at 39 minutes, within the wait
     * again: the campaign still has no room there, a regular order has */
    assert_false(s_order(e, 1, "free-tea", 1, now + MIN, US0, &r));
    assert_int_equal(r.campaign_state, CS(SHARE_FULL));
    s_admitted(e, 1, NULL, now + MIN, US0, &r);
    assert_int_equal(r.plan.start_ms, now + 39 * MIN);
    for (int i = 1; i < 4; i++)
        s_admitted(e, 1, NULL, now + MIN, US0, &r);
    /* and with the kitchen full, the store's own rule comes first */
    assert_false(s_order(e, 1, "free-tea", 1, now + MIN, US0, &r));
    assert_int_equal(r.reason, R_BUSY);
}

/* A cancel before prep gives all its time back, one during prep the rest of
 * it, an early MarkReady what it did not use; the counts stand. */
static void test_time_given_back(void **state)
{
    env_t *e = *state;
    s_start(e, SHARE_CONFIG(0.5), US0);
    campaign_id_t id = campaign_find(s_campaigns(e), "free-tea");
    uint64_t now = s_utc(0, 10, 0);
    admit_result_t r, booked[5];
    for (int i = 0; i < 5; i++)
        s_admitted(e, 1, "free-tea", now, US0, &booked[i]);
    assert_false(s_order(e, 1, "free-tea", 1, now, US0, &r));
    /* the last (4..5 min) cancelled before it starts: a sixth fits again */
    kitchen_cancel(s_kitchen(e, 1), booked[4].plan.slot, booked[4].plan.start_ms,
                   booked[4].plan.ready_ms, now);
    campaign_give_back(s_campaigns(e), id, s_store_cfg(e, 1), booked[4].plan.start_ms,
                       booked[4].plan.ready_ms, now);
    s_admitted(e, 1, "free-tea", now, US0, &r);
    assert_int_equal(r.plan.start_ms, now + 4 * MIN);
    assert_false(s_order(e, 1, "free-tea", 1, now, US0, &r));
    /* the first made 30 s early: from 10:00:30 on, 30 s of room */
    uint64_t later = now + 30 * SEC;
    kitchen_ready(s_kitchen(e, 1), booked[0].plan.slot, booked[0].plan.ready_ms, later);
    campaign_give_back(s_campaigns(e), id, s_store_cfg(e, 1), booked[0].plan.start_ms,
                       booked[0].plan.ready_ms, later);
    /* 4.5 minutes are booked now, [0, 0:30) and [1, 5): a one-minute order
     * at 5 would make 5.5 in [0, 10); the first start that fits is 9:30,
     * with 30 s in [0, 10) and the window sliding along it */
    assert_false(s_order(e, 1, "free-tea", 1, later, US0, &r));
    s_refused(&r, R_CAMPAIGN, CS(SHARE_FULL), 9 * MIN, "campaign free-tea:", "store_share");
    s_admitted(e, 1, "free-tea", later + 9 * MIN, US0, &r);
    assert_int_equal(r.plan.start_ms, now + 9 * MIN + 30 * SEC);
    assert_int_equal(campaign_counts(s_campaigns(e), id)->placed, 7);
}

/* An operator's pause stands over the config by name, across reloads that
 * drop the campaign and bring it back, and one for a name not configured
 * yet applies when a reload adds it; the stores where the share was found
 * full are counted and listed until a check there finds room; the pace's
 * tokens are what the bucket holds. */
static void test_operator_pause_and_share_full_stores(void **state)
{
    env_t *e = *state;
    s_start(e, SHARE_CONFIG(0.5), US0);
    campaign_table_t *t = s_campaigns(e);
    campaign_id_t id = campaign_find(t, "free-tea");
    uint64_t now = s_utc(0, 10, 0);
    admit_result_t r;
    assert_true(campaign_is_counted(t, id));
    for (int i = 0; i < 5; i++)
        s_admitted(e, 1, "free-tea", now, US0, &r);
    assert_true(campaign_pace_tokens(t, id, US0) > 994.9);
    assert_true(campaign_pace_tokens(t, id, US0) < 995.1);
    assert_int_equal(campaign_counts(t, id)->share_full_stores, 0);
    assert_false(s_order(e, 1, "free-tea", 1, now, US0, &r));
    assert_int_equal(r.campaign_state, CS(SHARE_FULL));
    assert_int_equal(campaign_counts(t, id)->share_full_stores, 1);
    uint32_t stores[4] = {0};
    assert_int_equal(campaign_share_full_list(t, id, stores, 4), 1);
    assert_int_equal(stores[0], 1);
    assert_int_equal(campaign_share_full_list(t, id, stores, 0), 1);
    /* asked again, still full: counted once */
    assert_false(s_order(e, 1, "free-tea", 1, now, US0, &r));
    assert_int_equal(campaign_counts(t, id)->share_full_stores, 1);

    assert_null(campaign_override_by(t, "free-tea"));
    assert_true(campaign_override_pause(t, "free-tea", "sluicectl alice"));
    assert_string_equal(campaign_override_by(t, "free-tea"), "sluicectl alice");
    assert_false(s_order(e, 1, "free-tea", 1, now + 10 * MIN, US0, &r));
    s_refused(&r, R_CAMPAIGN, CS(PAUSED), 60000, "campaign free-tea:",
              "paused by an operator (sluicectl campaign pause)");
    s_admitted(e, 1, NULL, now + 10 * MIN, US0, &r); /* regular orders go on */
    /* a reload without the campaign and one that brings it back: still paused */
    s_reload(e,
             "stores = ( { id = 1; location = [0.0, 0.0]; prep_slots = 1; item_seconds = 60;\n"
             "             max_wait_minutes = 10; } );\n",
             US0);
    assert_int_equal(campaign_find(t, "free-tea"), CAMPAIGN_NONE);
    assert_string_equal(campaign_override_by(t, "free-tea"), "sluicectl alice");
    s_reload(e, SHARE_CONFIG(0.5), US0);
    assert_false(s_order(e, 1, "free-tea", 1, now + 10 * MIN, US0, &r));
    assert_int_equal(r.campaign_state, CS(PAUSED));
    /* paused again by someone else: one pause, the last word on who */
    assert_true(campaign_override_pause(t, "free-tea", ""));
    assert_string_equal(campaign_override_by(t, "free-tea"), "");
    campaign_override_clear(t, "free-tea");
    assert_null(campaign_override_by(t, "free-tea"));
    campaign_override_clear(t, "free-tea"); /* nothing to lift: no change */
    /* the store 1 booking of 10:10 left room for one at 10:11: the check
     * that admits it finds the share with room again */
    s_admitted(e, 1, "free-tea", now + 11 * MIN, US0, &r);
    assert_int_equal(campaign_counts(t, id)->share_full_stores, 0);
    assert_int_equal(campaign_share_full_list(t, id, stores, 4), 0);

    /* a pause of a name the config does not have yet holds when it comes */
    assert_true(campaign_override_pause(t, "later", "sluicectl bob"));
    s_reload(e,
             "campaigns = ( { name = \"later\"; orders_per_second = 1000; store_share = 1; } );\n"
             "stores = ( { id = 1; location = [0.0, 0.0]; prep_slots = 1; item_seconds = 60;\n"
             "             max_wait_minutes = 10; } );\n",
             US0);
    s_counted(e);
    assert_false(s_order(e, 1, "later", 1, now + 20 * MIN, US0, &r));
    assert_int_equal(r.campaign_state, CS(PAUSED));
    campaign_override_clear(t, "later");
    s_admitted(e, 1, "later", now + 20 * MIN, US0, &r);
    assert_true(campaign_table_memory_bytes(t) > 0);
}

/* ----------------------------------------------------------- the restart */

#define RESTART_CONFIG(more)                                                                 \
    "campaigns = ( { name = \"free-tea\"; orders_per_second = 10; budget = 100;\n"          \
    "                per_store_daily = 5; store_share = 0.5; },\n"                           \
    "              { name = \"other\"; orders_per_second = 10; } " more " );\n"             \
    "stores = (\n"                                                                           \
    "  { id = 1; location = [31.2, 121.4]; prep_slots = 1; item_seconds = 60;\n"            \
    "    max_wait_minutes = 10; timezone = \"Asia/Shanghai\"; },\n"                         \
    "  { id = 2; location = [31.2, 121.4]; prep_slots = 1; item_seconds = 60;\n"            \
    "    max_wait_minutes = 10; timezone = \"UTC\"; },\n"                                   \
    "  { id = 3; location = [31.2, 121.4]; prep_slots = 1; item_seconds = 60;\n"            \
    "    max_wait_minutes = 10; timezone = \"UTC\"; } );\n"

static void test_restart_counts_from_the_database(void **state)
{
    env_t *e = *state;
    e->cfg = unit_env_load(e, RESTART_CONFIG(""));
    e->stores = store_table_new();
    assert_non_null(e->stores);
    assert_true(store_table_apply(e->stores, e->cfg, 0));
    e->admit = admit_new(e->cfg, US0);
    assert_non_null(e->admit);
    campaign_table_t *t = s_campaigns(e);
    uint64_t now = s_sh(0, 12, 0);
    admit_result_t r;

    /* until the counts are read back, campaign orders wait; regular ones do not */
    const char *names[4];
    assert_int_equal(campaign_uncounted(t, names, 4), 2);
    assert_string_equal(names[0], "free-tea");
    assert_string_equal(names[1], "other");
    assert_false(s_order(e, 1, "free-tea", 1, now, US0, &r));
    s_refused(&r, R_UNAVAILABLE, CS(COUNTING), 1000, "campaign free-tea:", "read back");
    s_admitted(e, 1, NULL, now, US0, &r);

    /* what the two queries return: 99 placed, 9 of them in the last second;
     * 5 today at store 1 (since Shanghai's midnight), 4 at store 2 (since
     * UTC's); the store 2 row of the Shanghai query is for another day */
    uint64_t sh_midnight = campaign_day_start_ms("Asia/Shanghai", now);
    uint64_t utc_midnight = campaign_day_start_ms("UTC", now);
    assert_int_equal(sh_midnight, s_sh(0, 0, 0));
    assert_int_equal(utc_midnight, s_utc(0, 0, 0));
    campaign_restore_counts(t, "free-tea", 99, 9, US0);
    campaign_restore_counts(t, "gone", 5, 0, US0); /* not configured: ignored */
    assert_true(campaign_restore_day(t, "free-tea", s_store_cfg(e, 1), sh_midnight, 5, now));
    assert_true(campaign_restore_day(t, "free-tea", s_store_cfg(e, 2), sh_midnight, 7, now));
    assert_true(campaign_restore_day(t, "free-tea", s_store_cfg(e, 2), utc_midnight, 4, now));
    assert_true(campaign_restore_day(t, "free-tea", s_store_cfg(e, 1), utc_midnight, 6, now));
    /* and the live orders' bookings: 5 minutes at store 3, from now on */
    for (int i = 0; i < 5; i++)
        assert_true(campaign_restore_booking(t, "free-tea", s_store_cfg(e, 3),
                                             now + (uint64_t)i * MIN, now + (uint64_t)(i + 1) * MIN,
                                             now));
    /* one that ended more than a window ago is not kept */
    assert_true(campaign_restore_booking(t, "free-tea", s_store_cfg(e, 3), now - 20 * MIN,
                                         now - 10 * MIN, now));
    campaign_counted(t, names, 2);
    assert_int_equal(campaign_uncounted(t, names, 4), 0);
    assert_int_equal(campaign_counts(t, 0)->placed, 99);

    /* store 1: its day is full */
    assert_false(s_order(e, 1, "free-tea", 1, now, US0, &r));
    s_refused(&r, R_CAMPAIGN, CS(STORE_DAILY_CAP), 12 * HOUR, "campaign free-tea:", "store 1");
    /* store 3: the share is full with the restored bookings (a kitchen
     * restored from the same orders would start it after them; the share
     * alone already says no) */
    assert_false(s_order(e, 3, "free-tea", 1, now, US0, &r));
    assert_int_equal(r.campaign_state, CS(SHARE_FULL));
    /* store 2: one more today; the bucket kept 10 - 9 tokens: one now */
    s_admitted(e, 2, "free-tea", now, US0, &r);
    assert_int_equal(campaign_counts(t, 0)->placed, 100);
    assert_false(s_order(e, 2, "free-tea", 1, now, US0 + 100000, &r));
    s_refused(&r, R_CAMPAIGN, CS(BUDGET_SPENT), 0, "campaign free-tea:", "budget of 100");
    /* a reload adding a campaign: it waits for its own counts */
    s_reload(e, RESTART_CONFIG(", { name = \"new\"; orders_per_second = 1; }"), US0);
    assert_int_equal(campaign_uncounted(t, names, 4), 1);
    assert_string_equal(names[0], "new");
    assert_false(s_order(e, 2, "new", 1, now, US0, &r));
    assert_int_equal(r.campaign_state, CS(COUNTING));
    assert_false(s_order(e, 2, "free-tea", 1, now, US0 + 100000, &r));
    assert_int_equal(r.campaign_state, CS(BUDGET_SPENT)); /* kept by name */
    s_counted(e);
    s_admitted(e, 2, "new", now, US0, &r);
}

/* --------------------------------------- the share against brute force */

/* The model the brute-force checker keeps: every campaign booking per
 * store, with what give-backs did to it. */
struct booking {
    uint32_t store;
    uint64_t start, end;      /* end == start: given back whole */
    uint16_t slot;
    uint64_t ready;           /* the kitchen's promise, for its cancel */
    bool done;                /* cancelled or made: nothing more to give */
};

#define BOOKINGS_MAX 20000

struct model {
    struct booking b[BOOKINGS_MAX];
    size_t n;
};

/* s_capacity_ms: slot time of STORE in [FROM, TO), minute by minute. */
static int64_t s_capacity_ms(const config_store_t *c, int64_t offset, int64_t from, int64_t to)
{
    int64_t total = 0;
    for (int64_t t = from; t < to;) {
        int64_t local = t + offset;
        int64_t minute_end = (local / MIN + 1) * MIN - offset;
        int64_t until = minute_end < to ? minute_end : to;
        total += kitchen_capacity_at(c, (int)(local / MIN % 1440)) * (until - t);
        t = until;
    }
    return total;
}

/* s_booked_ms: time of STORE's campaign bookings in [A, A + W), plus EXTRA. */
static int64_t s_booked_ms(const struct model *m, uint32_t store, int64_t a, int64_t w,
                           int64_t es, int64_t ee)
{
    int64_t total = 0;
    for (size_t i = 0; i <= m->n; i++) {
        int64_t s, en;
        if (i == m->n) {
            s = es;
            en = ee;
        } else {
            if (m->b[i].store != store)
                continue;
            s = (int64_t)m->b[i].start;
            en = (int64_t)m->b[i].end;
        }
        int64_t lo = s > a ? s : a, hi = en < a + w ? en : a + w;
        total += hi > lo ? hi - lo : 0;
    }
    return total;
}

/* s_brute_ok: with the extra booking [ES, EE) (empty: none), does every
 * window [a, a + W) of STORE hold? Every breakpoint of both sides is
 * tried, each evaluated from scratch; windows an extra booking does not
 * overlap are left out, as admission leaves them out. */
static bool s_brute_ok(const struct model *m, const config_store_t *c, int64_t offset,
                       double share, int64_t es, int64_t ee)
{
    int64_t w = (int64_t)c->max_wait_minutes * MIN;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t i = 0; i <= m->n; i++) {
        int64_t s = i == m->n ? es : (int64_t)m->b[i].start;
        int64_t en = i == m->n ? ee : (int64_t)m->b[i].end;
        if ((i < m->n && m->b[i].store != c->id) || en <= s)
            continue;
        lo = s - w < lo ? s - w : lo;
        hi = en > hi ? en : hi;
    }
    if (lo > hi)
        return true;
    for (size_t i = 0; i <= m->n + 1; i++) {
        int64_t u[2];
        if (i < m->n) {
            if (m->b[i].store != c->id)
                continue;
            u[0] = (int64_t)m->b[i].start;
            u[1] = (int64_t)m->b[i].end;
        } else if (i == m->n) {
            u[0] = es;
            u[1] = ee;
        } else {
            continue;
        }
        for (int k = 0; k < 2; k++)
            for (int sh = 0; sh < 2; sh++)
                for (int d = -1; d <= 1; d++) {
                    int64_t a = u[k] - (sh ? w : 0) + d;
                    if (ee > es && (a + w <= es || a >= ee))
                        continue;
                    int64_t booked = s_booked_ms(m, c->id, a, w, es, ee);
                    int64_t allowed = (int64_t)(share * (double)s_capacity_ms(c, offset, a, a + w));
                    if (booked > allowed)
                        return false;
                }
    }
    /* the capacity's own breakpoints: minute edges, a window's worth */
    for (int64_t a = lo - lo % MIN; a <= hi; a += MIN)
        for (int sh = 0; sh < 2; sh++) {
            int64_t at = a - (sh ? w : 0);
            if (ee > es && (at + w <= es || at >= ee))
                continue;
            int64_t booked = s_booked_ms(m, c->id, at, w, es, ee);
            if (booked > (int64_t)(share * (double)s_capacity_ms(c, offset, at, at + w)))
                return false;
        }
    return true;
}

#define RANDOM_CONFIG                                                                          \
    "campaigns = ( { name = \"free-tea\"; orders_per_second = 40; store_share = 0.4; } );\n" \
    "stores = (\n"                                                                             \
    "  { id = 1; location = [0.0, 0.0]; prep_slots = 2; item_seconds = 45; order_seconds = 20;\n" \
    "    max_wait_minutes = 12; max_queue = 100000; },\n"                                      \
    "  { id = 2; location = [31.2, 121.4]; prep_slots = 2; item_seconds = 50; order_seconds = 10;\n" \
    "    max_wait_minutes = 15; max_queue = 100000; timezone = \"Asia/Shanghai\";\n"           \
    "    hours = \"09:00-21:30\";\n"                                                           \
    "    staffing = ( { from = \"11:00\"; to = \"12:10\"; prep_slots = 4; },\n"                \
    "                 { from = \"20:00\"; to = \"21:00\"; prep_slots = 1; } );\n"              \
    "    campaigns = ( { name = \"free-tea\"; store_share = 0.55; } ); } );\n"

/* Random campaign and regular orders, cancels, early readies and failed
 * commits at two stores, one with staffing windows and hours in Shanghai,
 * over a day: after each step every window holds; every campaign order
 * admitted passes the brute-force check and every one refused for the
 * share fails it (exact both ways); a share refusal's retry time passes it
 * too, and at the plain store 1 ms earlier does not. */
static void test_share_random_against_brute_force(void **state)
{
    env_t *e = *state;
    s_start(e, RANDOM_CONFIG, US0);
    campaign_table_t *t = s_campaigns(e);
    campaign_id_t id = campaign_find(t, "free-tea");
    static struct model m;
    m.n = 0;
    uint64_t seed = 17, now = s_sh(0, 8, 50), us = US0;
    const double shares[2] = { 0.4, 0.55 };
    size_t admitted = 0, refused = 0, retries_checked = 0, paced = 0;
    double check_s = 0;
    size_t checks = 0;
    for (int step = 0; step < 6000 && m.n < BOOKINGS_MAX; step++) {
        uint64_t roll = unit_splitmix64(&seed);
        now += roll % 4 == 0 ? (roll >> 8) % (3 * MIN) : (roll >> 8) % (20 * SEC);
        us += 5000; /* 200 steps a second: the pace of 40 a second refuses some */
        uint32_t sid = 1 + (uint32_t)((roll >> 20) % 2);
        const config_store_t *c = s_store_cfg(e, sid);
        int64_t offset = sid == 2 ? SH_OFFSET : 0;
        double share = shares[sid - 1];
        unsigned what = (unsigned)((roll >> 24) % 10);
        admit_result_t r;
        if (what < 5) {
            unsigned drinks = 1 + (unsigned)((roll >> 32) % 3);
            struct timespec t0, t1;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            bool ok = s_order(e, sid, "free-tea", drinks, now, us, &r);
            clock_gettime(CLOCK_MONOTONIC, &t1);
            check_s += (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
            checks++;
            if (ok) {
                assert_true(s_brute_ok(&m, c, offset, share, (int64_t)r.plan.start_ms,
                                       (int64_t)r.plan.ready_ms));
                m.b[m.n++] = (struct booking){ sid, r.plan.start_ms, r.plan.ready_ms, r.plan.slot,
                                               r.plan.ready_ms, false };
                admitted++;
            } else if (r.campaign_state == CS(PACED) && r.planned) {
                /* when the bucket has a token again, the share lets it in too */
                uint64_t prep = r.plan.ready_ms - r.plan.start_ms, at = now + r.retry_after_ms;
                kitchen_plan_t p;
                assert_true(kitchen_plan(s_kitchen(e, sid), c, prep, at, offset, &p));
                assert_true(s_brute_ok(&m, c, offset, share, (int64_t)p.start_ms,
                                       (int64_t)p.ready_ms));
                paced++;
            } else if (r.campaign_state == CS(SHARE_FULL)) {
                assert_true(r.planned);
                assert_false(s_brute_ok(&m, c, offset, share, (int64_t)r.plan.start_ms,
                                        (int64_t)r.plan.ready_ms));
                refused++;
                if (r.retry_after_ms) {
                    /* the booking the kitchen would make then passes */
                    uint64_t prep = r.plan.ready_ms - r.plan.start_ms, at = now + r.retry_after_ms;
                    kitchen_plan_t p;
                    assert_true(kitchen_plan(s_kitchen(e, sid), c, prep, at, offset, &p));
                    assert_true(s_brute_ok(&m, c, offset, share, (int64_t)p.start_ms,
                                           (int64_t)p.ready_ms));
                    if (sid == 1 && at - 1 >= now) {
                        assert_true(kitchen_plan(s_kitchen(e, sid), c, prep, at - 1, offset, &p));
                        assert_false(s_brute_ok(&m, c, offset, share, (int64_t)p.start_ms,
                                                (int64_t)p.ready_ms));
                    }
                    retries_checked++;
                }
            }
        } else if (what < 7) {
            (void)s_order(e, sid, NULL, 1 + (unsigned)((roll >> 32) % 2), now, us, &r);
        } else if (m.n > 0) {
            struct booking *b = &m.b[(roll >> 32) % m.n];
            if (b->done || now >= b->end)
                continue;
            const config_store_t *bc = s_store_cfg(e, b->store);
            kitchen_t *k = s_kitchen(e, b->store);
            if (what == 7) {        /* cancelled */
                kitchen_cancel(k, b->slot, b->start, b->ready, now);
                campaign_give_back(t, id, bc, b->start, b->end, now);
            } else if (what == 8) { /* made early */
                kitchen_ready(k, b->slot, b->ready, now);
                campaign_give_back(t, id, bc, b->start, b->end, now);
            } else {                /* its commit failed */
                kitchen_cancel(k, b->slot, b->start, b->ready, now);
                campaign_unplace(t, id, bc, b->start, b->end, now, now);
            }
            b->end = now > b->start ? now : b->start;
            b->done = true;
        }
        if (step % 50 == 0)
            for (uint32_t s = 1; s <= 2; s++)
                assert_true(s_brute_ok(&m, s_store_cfg(e, s), s == 2 ? SH_OFFSET : 0,
                                       shares[s - 1], 0, 0));
    }
    print_message("      %zu campaign orders admitted, %zu refused for the share, %zu retry "
                  "times checked, %zu paced; %.1f us per admission with a campaign (a report, "
                  "not a limit); %zu bytes of campaign state\n",
                  admitted, refused, retries_checked, paced, check_s * 1e6 / (double)checks,
                  campaign_table_memory_bytes(t));
    assert_true(admitted > 300);
    assert_true(refused > 300);
    assert_true(retries_checked > 100);
    assert_true(paced > 50);
}

int main(void)
{
    tz_reset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_campaign_field_validated),
        cmocka_unit_test_setup_teardown(test_unknown_campaign_and_regular_orders, s_setup,
                                        unit_env_teardown),
        cmocka_unit_test_setup_teardown(test_pace_then_resubmit_at_retry_time, s_setup,
                                        unit_env_teardown),
        cmocka_unit_test_setup_teardown(test_budget_spent_for_good_and_given_back_by_a_failed_commit,
                                        s_setup, unit_env_teardown),
        cmocka_unit_test_setup_teardown(test_per_store_daily_across_local_midnight, s_setup,
                                        unit_env_teardown),
        cmocka_unit_test_setup_teardown(test_paused_and_window_live_on_reload, s_setup,
                                        unit_env_teardown),
        cmocka_unit_test_setup_teardown(test_share_refuses_with_the_exact_retry_time, s_setup,
                                        unit_env_teardown),
        cmocka_unit_test_setup_teardown(test_flooded_store_keeps_taking_regular_orders, s_setup,
                                        unit_env_teardown),
        cmocka_unit_test_setup_teardown(test_time_given_back, s_setup, unit_env_teardown),
        cmocka_unit_test_setup_teardown(test_operator_pause_and_share_full_stores, s_setup,
                                        unit_env_teardown),
        cmocka_unit_test_setup_teardown(test_restart_counts_from_the_database, s_setup,
                                        unit_env_teardown),
        cmocka_unit_test_setup_teardown(test_share_random_against_brute_force, s_setup,
                                        unit_env_teardown),
    };
    return cmocka_run_group_tests_name("campaign", tests, NULL, NULL);
}
