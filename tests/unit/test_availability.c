/* test_availability.c - a store's availability (daemon/availability.c) over
 * real configs: each class with its promise for a typical order and when
 * the store would take one, when a campaign could place one, that asking
 * books and spends nothing, the wire form, 1,000 stores at once (timed as a
 * report), and the feed behind the avail.<store_id> events: first class,
 * one event per interval, the latest class winning. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit_admit_env.h"
#include "unit_time.h"
#include "availability.h"
#include "config.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SEC 1000u
#define MIN (60u * SEC)
#define HOUR (60u * MIN)
#define DAY (24u * HOUR)
#define US0 UINT64_C(5000000000)

#define ST(x) SLUICE__V1__STORE_STATE__STORE_STATE_##x
#define CS(x) SLUICE__V1__CAMPAIGN_STATE__CAMPAIGN_STATE_##x

/* s_utc: wall ms at HH:MM UTC on 2026-01-15. */
static uint64_t s_utc(int hh, int mm)
{
    return (uint64_t)unit_days_from_civil(2026, 1, 15) * DAY + (uint64_t)hh * HOUR +
           (uint64_t)mm * MIN;
}

static int s_setup(void **state)
{
    return unit_env_setup(state, "sluice-test-avail");
}

static void s_start(env_t *e, const char *text)
{
    e->cfg = unit_env_load(e, text);
    e->stores = store_table_new();
    assert_non_null(e->stores);
    assert_true(store_table_apply(e->stores, e->cfg, 0));
    e->admit = admit_new(e->cfg, US0);
    assert_non_null(e->admit);
    const char *names[8];
    size_t n = campaign_uncounted(admit_campaigns(e->admit), names, 8);
    campaign_counted(admit_campaigns(e->admit), names, n);
}

static store_t *s_store(env_t *e, uint32_t id)
{
    return store_table_find(e->stores, id);
}

static void s_avail(env_t *e, uint32_t id, const char *campaign, uint64_t now, availability_t *a)
{
    memset(a, 0xa5, sizeof *a);
    availability_of(e->admit, e->stores, s_store(e, id), campaign, now, US0, a);
}

static bool s_order(env_t *e, uint32_t id, const char *campaign, unsigned drinks, uint64_t now,
                    admit_result_t *r)
{
    admit_order_in_t in = { .campaign = campaign, .drinks = drinks, .now_ms = now, .now_us = US0 };
    return admit_order(e->admit, e->stores, s_store(e, id), &in, r);
}

/* ------------------------------------------------------------- classes */

#define CLASSES_CONFIG(with_6)                                                                 \
    "daemon = { paused_retry_ms = 30000; };\n"                                                 \
    "stores = (\n"                                                                             \
    "  { id = 1; location = [0.0, 0.0]; prep_slots = 2; item_seconds = 60; order_seconds = 30;\n" \
    "    max_wait_minutes = 20; typical_drinks = 3; },\n"                                      \
    "  { id = 2; location = [0.0, 0.0]; prep_slots = 2; item_seconds = 60; max_wait_minutes = 20;\n" \
    "    paused = true; },\n"                                                                  \
    "  { id = 3; location = [0.0, 0.0]; prep_slots = 2; item_seconds = 60; max_wait_minutes = 20;\n" \
    "    hours = \"14:00-22:00\"; },\n"                                                        \
    "  { id = 4; location = [0.0, 0.0]; prep_slots = 1; item_seconds = 60; max_wait_minutes = 5; },\n" \
    "  { id = 5; location = [0.0, 0.0]; prep_slots = 1; item_seconds = 60; max_wait_minutes = 1; }\n" \
    with_6 ");\n"

static void test_each_class_and_its_times(void **state)
{
    env_t *e = *state;
    s_start(e, CLASSES_CONFIG(",  { id = 6; location = [0.0, 0.0]; prep_slots = 1; item_seconds = 60;\n"
                              "    max_wait_minutes = 5; }\n"));
    uint64_t now = s_utc(12, 0);
    availability_t a;

    /* open: three drinks (its typical order) take 30 + 3 x 60 s */
    s_avail(e, 1, NULL, now, &a);
    assert_int_equal(a.state, ST(OPEN));
    assert_int_equal(a.typical_drinks, 3);
    assert_int_equal(a.earliest_ready_at_ms, now + 210 * SEC);
    assert_int_equal(a.next_at_ms, 0);
    assert_false(a.store_never);
    assert_int_equal(a.campaign_state, CS(NONE));

    /* paused by the merchant, then by an operator over an open store */
    s_avail(e, 2, NULL, now, &a);
    assert_int_equal(a.state, ST(PAUSED));
    assert_int_equal(a.next_at_ms, now + 30 * SEC);
    assert_int_equal(a.earliest_ready_at_ms, 0);
    s_store(e, 1)->override = STORE_OVERRIDE_PAUSED;
    s_avail(e, 1, NULL, now, &a);
    assert_int_equal(a.state, ST(PAUSED));
    s_store(e, 1)->override = STORE_OVERRIDE_NONE;

    /* closed until 14:00 */
    s_avail(e, 3, NULL, now, &a);
    assert_int_equal(a.state, ST(CLOSED));
    assert_int_equal(a.next_at_ms, s_utc(14, 0));

    /* busy: five minutes booked on its one slot; a two-drink order would be
     * ready at +7 min, two over max_wait 5 */
    admit_result_t r;
    for (int i = 0; i < 5; i++)
        assert_true(s_order(e, 4, NULL, 1, now, &r));
    s_avail(e, 4, NULL, now, &a);
    assert_int_equal(a.state, ST(BUSY));
    assert_int_equal(a.earliest_ready_at_ms, now + 7 * MIN);
    assert_int_equal(a.next_at_ms, now + 2 * MIN);
    assert_false(a.store_never);
    /* at next_at_ms it is open again, for exactly that order */
    s_avail(e, 4, NULL, now + 2 * MIN, &a);
    assert_int_equal(a.state, ST(OPEN));
    assert_true(s_order(e, 4, NULL, 2, now + 2 * MIN, &r));
    assert_int_equal(r.plan.ready_ms, now + 7 * MIN);

    /* a typical order longer than the store's max_wait: busy for good */
    s_avail(e, 5, NULL, now, &a);
    assert_int_equal(a.state, ST(BUSY));
    assert_true(a.store_never);
    assert_int_equal(a.next_at_ms, 0);

    /* unknown: no such id, and a store a reload removed */
    s_avail(e, 99, NULL, now, &a);
    assert_int_equal(a.state, ST(UNKNOWN));
    assert_true(a.store_never);
    config_t *next = unit_env_load(e, CLASSES_CONFIG(""));
    assert_true(store_table_apply(e->stores, next, 0));
    assert_true(admit_configure(e->admit, next, US0));
    config_destroy(&e->cfg);
    e->cfg = next;
    s_avail(e, 6, NULL, now, &a);
    assert_int_equal(a.state, ST(UNKNOWN));
    assert_true(a.store_never);
    assert_int_equal(a.typical_drinks, 0);
}

/* ----------------------------------------------------------- campaigns */

#define CAMPAIGN_CONFIG                                                                        \
    "daemon = { paused_retry_ms = 30000; };\n"                                                 \
    "campaigns = (\n"                                                                          \
    "  { name = \"free-tea\"; orders_per_second = 1000; },\n"                                  \
    "  { name = \"later\"; orders_per_second = 1000; starts = \"2026-01-15T15:00Z\"; },\n"     \
    "  { name = \"spent\"; orders_per_second = 1000; budget = 1; },\n"                         \
    "  { name = \"slow\"; orders_per_second = 1; } );\n"                                       \
    "stores = (\n"                                                                             \
    "  { id = 1; location = [0.0, 0.0]; prep_slots = 1; item_seconds = 60; max_wait_minutes = 10;\n" \
    "    typical_drinks = 1; },\n"                                                             \
    "  { id = 2; location = [0.0, 0.0]; prep_slots = 1; item_seconds = 60; max_wait_minutes = 10;\n" \
    "    typical_drinks = 1; campaigns = ( { name = \"free-tea\"; store_share = 0.0; } ); },\n" \
    "  { id = 3; location = [0.0, 0.0]; prep_slots = 1; item_seconds = 60; max_wait_minutes = 10;\n" \
    "    typical_drinks = 1; hours = \"13:00-23:00\"; } );\n"

static void test_when_a_campaign_could_place_one(void **state)
{
    env_t *e = *state;
    s_start(e, CAMPAIGN_CONFIG);
    campaign_table_t *t = admit_campaigns(e->admit);
    uint64_t now = s_utc(12, 0);
    availability_t a;
    admit_result_t r;
    s_avail(e, 1, "free-tea", now, &a);
    assert_int_equal(a.state, ST(OPEN));
    assert_int_equal(a.campaign_state, CS(OK));
    assert_int_equal(a.campaign_next_at_ms, 0);
    assert_false(a.campaign_never);

    /* fill its share (5 minutes of 10): the answer is admission's retry */
    for (int i = 0; i < 5; i++)
        assert_true(s_order(e, 1, "free-tea", 1, now, &r));
    assert_false(s_order(e, 1, "free-tea", 1, now, &r));
    s_avail(e, 1, "free-tea", now, &a);
    assert_int_equal(a.state, ST(OPEN));          /* for regular orders it is open */
    assert_int_equal(a.campaign_state, CS(SHARE_FULL));
    assert_int_equal(a.campaign_next_at_ms, now + r.retry_after_ms);
    assert_int_equal(a.campaign_next_at_ms, now + 10 * MIN);

    /* a store that opted out, a campaign spent, one unknown: never */
    s_avail(e, 2, "free-tea", now, &a);
    assert_int_equal(a.campaign_state, CS(STORE_OPTED_OUT));
    assert_true(a.campaign_never);
    assert_true(s_order(e, 2, "spent", 1, now, &r));
    s_avail(e, 1, "spent", now, &a);
    assert_int_equal(a.campaign_state, CS(BUDGET_SPENT));
    assert_true(a.campaign_never);
    s_avail(e, 1, "nope", now, &a);
    assert_int_equal(a.campaign_state, CS(UNKNOWN));
    assert_true(a.campaign_never);
    s_avail(e, 99, "free-tea", now, &a);
    assert_int_equal(a.state, ST(UNKNOWN));
    assert_true(a.campaign_never);

    /* closed until 13:00, and the campaign starts at 15:00: the later */
    s_avail(e, 3, "later", now, &a);
    assert_int_equal(a.state, ST(CLOSED));
    assert_int_equal(a.next_at_ms, s_utc(13, 0));
    assert_int_equal(a.campaign_state, CS(NOT_STARTED));
    assert_int_equal(a.campaign_next_at_ms, s_utc(15, 0));
    s_avail(e, 3, "free-tea", now, &a);
    assert_int_equal(a.campaign_state, CS(OK));
    assert_int_equal(a.campaign_next_at_ms, s_utc(13, 0));

    /* asking books and spends nothing: the pace's one token is still there */
    uint64_t free_at = store_kitchen(e->stores, s_store(e, 3))->free_at[0];
    for (int i = 0; i < 100; i++) {
        s_avail(e, 3, "slow", now + 2 * HOUR, &a);
        assert_int_equal(a.campaign_state, CS(OK));
    }
    assert_int_equal(store_kitchen(e->stores, s_store(e, 3))->free_at[0], free_at);
    assert_int_equal(campaign_counts(t, campaign_find(t, "slow"))->placed, 0);
    assert_true(s_order(e, 3, "slow", 1, now + 2 * HOUR, &r));
    s_avail(e, 3, "slow", now + 2 * HOUR, &a);
    assert_int_equal(a.campaign_state, CS(PACED));
    assert_int_equal(a.campaign_next_at_ms, now + 2 * HOUR + SEC);
}

static void test_wire_form(void **state)
{
    (void)state;
    availability_t a = { .state = ST(BUSY), .typical_drinks = 2, .earliest_ready_at_ms = 123456,
                         .next_at_ms = 120000, .campaign_state = CS(SHARE_FULL),
                         .campaign_next_at_ms = 600000 };
    Sluice__V1__StoreAvailability one = SLUICE__V1__STORE_AVAILABILITY__INIT, *list[1] = { &one };
    availability_to_proto(&a, 1001, &one);
    Sluice__V1__Availability body = SLUICE__V1__AVAILABILITY__INIT;
    body.n_stores = 1;
    body.stores = list;
    Sluice__V1__Reply reply = SLUICE__V1__REPLY__INIT;
    reply.request_id = 7;
    reply.body_case = SLUICE__V1__REPLY__BODY_AVAILABILITY;
    reply.availability = &body;
    uint8_t buf[256];
    size_t len = sluice__v1__reply__pack(&reply, buf);
    Sluice__V1__Reply *back = sluice__v1__reply__unpack(NULL, len, buf);
    assert_non_null(back);
    assert_int_equal(back->body_case, SLUICE__V1__REPLY__BODY_AVAILABILITY);
    assert_int_equal(back->availability->n_stores, 1);
    const Sluice__V1__StoreAvailability *s = back->availability->stores[0];
    assert_int_equal(s->store_id, 1001);
    assert_int_equal(s->state, ST(BUSY));
    assert_int_equal(s->typical_drinks, 2);
    assert_int_equal(s->earliest_ready_at_ms, 123456);
    assert_int_equal(s->next_at_ms, 120000);
    assert_int_equal(s->campaign_state, CS(SHARE_FULL));
    assert_int_equal(s->campaign_next_at_ms, 600000);
    assert_false(s->campaign_never);
    sluice__v1__reply__free_unpacked(back, NULL);
    assert_string_equal(availability_state_name(ST(OPEN)), "open");
    assert_string_equal(availability_state_name(ST(BUSY)), "busy");
    assert_string_equal(availability_state_name(ST(PAUSED)), "paused");
    assert_string_equal(availability_state_name(ST(CLOSED)), "closed");
    assert_string_equal(availability_state_name(ST(UNKNOWN)), "unknown");
}

/* 1,000 stores, every other one with campaign bookings filling its share:
 * one QueryAvailability's worth. The time is printed, not asserted: unit
 * tests are no benchmark. */
static void test_thousand_stores(void **state)
{
    env_t *e = *state;
    size_t cap = 1u << 20, n = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    n += (size_t)snprintf(text + n, cap - n,
                          "campaigns = ( { name = \"free-tea\"; orders_per_second = 10000000; } );\n"
                          "stores = (\n");
    for (int i = 1; i <= 1000; i++)
        n += (size_t)snprintf(text + n, cap - n,
                              "  { id = %d; location = [0.0, 0.0]; prep_slots = 4; item_seconds = 60;\n"
                              "    order_seconds = 30; max_wait_minutes = 40;%s }%s\n",
                              i, i % 3 ? "" : " hours = \"08:00-23:00\"; timezone = \"Asia/Shanghai\";",
                              i < 1000 ? "," : "");
    snprintf(text + n, cap - n, ");\n");
    s_start(e, text);
    free(text);
    uint64_t now = s_utc(10, 0);
    admit_result_t r;
    for (uint32_t id = 2; id <= 1000; id += 2)
        while (s_order(e, id, "free-tea", 1, now, &r))
            ;
    static availability_t a[1000];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (uint32_t id = 1; id <= 1000; id++)
        availability_of(e->admit, e->stores, s_store(e, id), "free-tea", now, US0, &a[id - 1]);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (uint32_t id = 1; id <= 1000; id++)
        availability_of(e->admit, e->stores, s_store(e, id), NULL, now, US0, &a[id - 1]);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double plain_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    for (uint32_t id = 1; id <= 1000; id++)
        availability_of(e->admit, e->stores, s_store(e, id), "free-tea", now, US0, &a[id - 1]);
    size_t full = 0;
    for (size_t i = 0; i < 1000; i++) {
        assert_int_equal(a[i].state, ST(OPEN));
        full += a[i].campaign_state == CS(SHARE_FULL);
    }
    assert_int_equal(full, 500);
    print_message("      1,000 stores with a campaign, 500 of them at their share: %.3f ms; "
                  "without the campaign %.3f ms (a report, not a limit)\n", ms, plain_ms);
}

/* ------------------------------------------------------------ the feed */

static void test_feed_first_then_one_per_interval_latest_wins(void **state)
{
    (void)state;
    availability_feed_t *f = availability_feed_new(1000);
    assert_non_null(f);
    availability_change_t c;
    uint64_t t = 5000000;
    /* the first class of a store is sent, whatever it is */
    assert_true(availability_feed_note(f, 7, ST(OPEN), t, &c));
    assert_int_equal(c.store_id, 7);
    assert_int_equal(c.state, ST(OPEN));
    assert_true(c.first);
    assert_false(availability_feed_note(f, 7, ST(OPEN), t + 10, &c)); /* no change */
    assert_int_equal(availability_feed_due_ms(f), UINT64_MAX);
    /* a change within the second is held ... */
    assert_false(availability_feed_note(f, 7, ST(BUSY), t + 100, &c));
    assert_int_equal(availability_feed_due_ms(f), t + 1000);
    assert_false(availability_feed_note(f, 7, ST(CLOSED), t + 200, &c));
    assert_false(availability_feed_next(f, t + 999, &c));
    /* ... and the latest goes out when the second has passed */
    assert_true(availability_feed_next(f, t + 1000, &c));
    assert_int_equal(c.state, ST(CLOSED));
    assert_int_equal(c.previous, ST(OPEN));
    assert_false(c.first);
    assert_false(availability_feed_next(f, t + 1000, &c));
    /* a change after the interval goes at once */
    assert_true(availability_feed_note(f, 7, ST(OPEN), t + 2500, &c));
    assert_int_equal(c.previous, ST(CLOSED));
    /* there and back within the interval: nothing at all */
    assert_false(availability_feed_note(f, 7, ST(BUSY), t + 2600, &c));
    assert_false(availability_feed_note(f, 7, ST(OPEN), t + 2700, &c));
    assert_false(availability_feed_next(f, t + 5000, &c));
    assert_int_equal(availability_feed_due_ms(f), UINT64_MAX);

    /* many stores: each due on its own time, earliest first */
    for (uint32_t id = 100; id < 3100; id++)
        assert_true(availability_feed_note(f, id, ST(OPEN), t + id, &c));
    for (uint32_t id = 3099; id >= 100; id--)
        assert_false(availability_feed_note(f, id, ST(BUSY), t + id + 999, &c));
    size_t sent = 0;
    uint64_t last = 0;
    for (uint64_t now = t + 1100; now <= t + 4200; now += 7)
        while (availability_feed_next(f, now, &c)) {
            assert_int_equal(c.state, ST(BUSY));
            assert_true(now >= t + c.store_id + 1000);
            assert_true(c.store_id > last);
            last = c.store_id;
            sent++;
        }
    assert_int_equal(sent, 3000);
    print_message("      the feed remembers 3,001 stores in %zu bytes\n",
                  availability_feed_memory_bytes(f));

    /* 0: every change at once */
    availability_feed_set_interval(f, 0);
    assert_true(availability_feed_note(f, 100, ST(PAUSED), t + 5000, &c));
    assert_true(availability_feed_note(f, 100, ST(OPEN), t + 5000, &c));
    availability_feed_destroy(&f);
    assert_null(f);
    availability_feed_destroy(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_each_class_and_its_times, s_setup, unit_env_teardown),
        cmocka_unit_test_setup_teardown(test_when_a_campaign_could_place_one, s_setup,
                                        unit_env_teardown),
        cmocka_unit_test(test_wire_form),
        cmocka_unit_test_setup_teardown(test_thousand_stores, s_setup, unit_env_teardown),
        cmocka_unit_test(test_feed_first_then_one_per_interval_latest_wins),
    };
    return cmocka_run_group_tests_name("availability", tests, NULL, NULL);
}
