/* test_today.c - a store's counts of today's decisions (daemon/today.c, and
 * their use in daemon/store.c): counting by reason, reasons that concern no
 * store, the day rolling over at the store's local midnight (lazily, on a
 * count or a read), the time the counts start from, and a clock that moves
 * back. Clocks are plain numbers passed in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit_time.h"
#include "store.h"
#include "today.h"
#include "tz.h"

#include <string.h>

#define SEC UINT64_C(1000)
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)

#define R_NONE SLUICE__V1__REASON__REASON_NONE
#define R_BUSY SLUICE__V1__REASON__STORE_BUSY
#define R_PAUSED SLUICE__V1__REASON__STORE_PAUSED
#define R_CLOSED SLUICE__V1__REASON__STORE_CLOSED
#define R_OVERLOADED SLUICE__V1__REASON__OVERLOADED
#define R_NO_RIDERS SLUICE__V1__REASON__NO_RIDERS
#define R_UNAVAILABLE SLUICE__V1__REASON__UNAVAILABLE

/* s_at: ms of Y-M-D HH:MM:SS on a clock (UTC, or local time for today.c). */
static uint64_t s_at(int y, int m, int d, int hh, int mm, int ss)
{
    return (uint64_t)unit_days_from_civil(y, m, d) * DAY + (uint64_t)hh * HOUR +
           (uint64_t)mm * MIN + (uint64_t)ss * SEC;
}

static uint32_t s_rejected(const today_t *t, Sluice__V1__Reason reason)
{
    int i = today_index(reason);
    assert_true(i >= 0);
    return t->rejected[i];
}

static void test_counts_by_reason_from_the_start(void **state)
{
    (void)state;
    today_t t;
    today_begin(&t, s_at(2026, 11, 24, 9, 12, 40));
    char buf[32];
    assert_string_equal(today_date(t.day, buf, sizeof buf), "2026-11-24");
    assert_string_equal(today_clock(t.since_s, buf, sizeof buf), "09:12:40");
    uint64_t now = s_at(2026, 11, 24, 10, 0, 0);
    for (int i = 0; i < 3; i++)
        assert_true(today_count(&t, now, R_NONE));
    for (int i = 0; i < 4; i++)
        assert_true(today_count(&t, now, R_BUSY));
    assert_true(today_count(&t, now, R_PAUSED));
    assert_true(today_count(&t, now, R_CLOSED));
    assert_true(today_count(&t, now, R_OVERLOADED));
    assert_true(today_count(&t, now, R_NO_RIDERS));
    assert_true(today_count(&t, now, R_UNAVAILABLE));
    assert_true(today_count(&t, now, SLUICE__V1__REASON__CAMPAIGN_LIMIT));
    assert_true(today_count(&t, now, SLUICE__V1__REASON__CAMPAIGN_LIMIT));
    assert_int_equal(t.accepted, 3);
    assert_int_equal(s_rejected(&t, R_BUSY), 4);
    assert_int_equal(s_rejected(&t, R_PAUSED), 1);
    assert_int_equal(s_rejected(&t, R_CLOSED), 1);
    assert_int_equal(s_rejected(&t, R_OVERLOADED), 1);
    assert_int_equal(s_rejected(&t, R_NO_RIDERS), 1);
    assert_int_equal(s_rejected(&t, R_UNAVAILABLE), 1);
    assert_int_equal(s_rejected(&t, SLUICE__V1__REASON__CAMPAIGN_LIMIT), 2);
    assert_int_equal(t.since_s, 9 * 3600 + 12 * 60 + 40);  /* still the same day */
}

static void test_reasons_without_a_store_count_nothing(void **state)
{
    (void)state;
    today_t t, before;
    today_begin(&t, s_at(2026, 11, 24, 9, 0, 0));
    before = t;
    uint64_t now = s_at(2026, 11, 24, 9, 5, 0);
    assert_false(today_count(&t, now, SLUICE__V1__REASON__INVALID));
    assert_false(today_count(&t, now, SLUICE__V1__REASON__UNKNOWN_STORE));
    assert_false(today_count(&t, now, SLUICE__V1__REASON__CONFLICT));
    assert_memory_equal(&t, &before, sizeof t);
    assert_int_equal(today_index(SLUICE__V1__REASON__INVALID), -1);
    /* every listed reason maps back to its place */
    for (size_t i = 0; i < TODAY_REASONS; i++)
        assert_int_equal(today_index(today_reason(i)), (int)i);
    assert_int_equal(today_reason(TODAY_REASONS), R_NONE);
}

static void test_next_day_starts_from_zero_at_midnight(void **state)
{
    (void)state;
    today_t t;
    today_begin(&t, s_at(2026, 11, 24, 9, 12, 0));
    assert_true(today_count(&t, s_at(2026, 11, 24, 23, 59, 59), R_BUSY));
    assert_true(today_count(&t, s_at(2026, 11, 24, 23, 59, 59), R_NONE));
    /* a read after midnight: the new day, nothing yet, counted since 00:00 */
    today_roll(&t, s_at(2026, 11, 25, 0, 0, 0));
    char buf[32];
    assert_string_equal(today_date(t.day, buf, sizeof buf), "2026-11-25");
    assert_int_equal(t.since_s, 0);
    assert_int_equal(t.accepted, 0);
    assert_int_equal(s_rejected(&t, R_BUSY), 0);
    /* a count two days on, with no read between: the day of the count */
    assert_true(today_count(&t, s_at(2026, 11, 27, 8, 0, 0), R_PAUSED));
    assert_string_equal(today_date(t.day, buf, sizeof buf), "2026-11-27");
    assert_int_equal(t.since_s, 0);
    assert_int_equal(s_rejected(&t, R_PAUSED), 1);
}

static void test_clock_back_to_yesterday_starts_from_then(void **state)
{
    (void)state;
    today_t t;
    today_begin(&t, s_at(2026, 11, 25, 0, 10, 0));
    assert_true(today_count(&t, s_at(2026, 11, 25, 0, 11, 0), R_BUSY));
    /* yesterday's counts are gone: claim only what was seen since */
    assert_true(today_count(&t, s_at(2026, 11, 24, 23, 50, 0), R_CLOSED));
    char buf[32];
    assert_string_equal(today_date(t.day, buf, sizeof buf), "2026-11-24");
    assert_string_equal(today_clock(t.since_s, buf, sizeof buf), "23:50:00");
    assert_int_equal(s_rejected(&t, R_BUSY), 0);
    assert_int_equal(s_rejected(&t, R_CLOSED), 1);
}

static void test_counts_stop_at_the_top(void **state)
{
    (void)state;
    today_t t;
    today_begin(&t, s_at(2026, 11, 24, 9, 0, 0));
    t.accepted = UINT32_MAX - 1;
    assert_true(today_count(&t, s_at(2026, 11, 24, 9, 0, 1), R_NONE));
    assert_true(today_count(&t, s_at(2026, 11, 24, 9, 0, 2), R_NONE));
    assert_int_equal(t.accepted, UINT32_MAX);
}

/* The store's own zone decides the day: Asia/Shanghai's midnight is 16:00
 * UTC, so counts made at 15:59 UTC are gone at 16:00 UTC. */
static void test_store_day_is_the_store_local_day(void **state)
{
    (void)state;
    tz_reset();
    config_store_t cs = { .id = 7, .timezone = "Asia/Shanghai" };
    config_t cfg = { .stores = &cs, .store_count = 1 };
    store_table_t *stores = store_table_new();
    assert_non_null(stores);
    assert_true(store_table_apply(stores, &cfg, s_at(2026, 11, 24, 1, 12, 0)));  /* 09:12 local */
    store_t *s = store_table_find(stores, 7);
    assert_non_null(s);
    const today_t *t = store_today(s, s_at(2026, 11, 24, 2, 0, 0));
    assert_non_null(t);
    char buf[32];
    assert_string_equal(today_date(t->day, buf, sizeof buf), "2026-11-24");
    assert_string_equal(today_clock(t->since_s, buf, sizeof buf), "09:12:00");
    store_count_decision(s, s_at(2026, 11, 24, 15, 59, 0), R_BUSY);
    store_count_decision(s, s_at(2026, 11, 24, 15, 59, 0), R_NONE);
    t = store_today(s, s_at(2026, 11, 24, 15, 59, 59));
    assert_int_equal(s_rejected(t, R_BUSY), 1);
    assert_int_equal(t->accepted, 1);
    t = store_today(s, s_at(2026, 11, 24, 16, 0, 0));
    assert_string_equal(today_date(t->day, buf, sizeof buf), "2026-11-25");
    assert_int_equal(t->since_s, 0);
    assert_int_equal(s_rejected(t, R_BUSY), 0);
    assert_int_equal(t->accepted, 0);

    /* A reload without the store detaches it: no zone, nothing counted or
     * read; a store the reload adds counts from the reload. */
    config_store_t other = { .id = 8, .timezone = "UTC" };
    config_t next = { .stores = &other, .store_count = 1 };
    assert_true(store_table_apply(stores, &next, s_at(2026, 11, 24, 17, 30, 5)));
    s = store_table_find(stores, 7);
    store_count_decision(s, s_at(2026, 11, 24, 17, 31, 0), R_BUSY);
    assert_null(store_today(s, s_at(2026, 11, 24, 17, 31, 0)));
    assert_int_equal(s->today.rejected[today_index(R_BUSY)], 0);
    t = store_today(store_table_find(stores, 8), s_at(2026, 11, 24, 17, 31, 0));
    assert_non_null(t);
    assert_string_equal(today_clock(t->since_s, buf, sizeof buf), "17:30:05");
    store_table_destroy(&stores);
    tz_reset();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_by_reason_from_the_start),
        cmocka_unit_test(test_reasons_without_a_store_count_nothing),
        cmocka_unit_test(test_next_day_starts_from_zero_at_midnight),
        cmocka_unit_test(test_clock_back_to_yesterday_starts_from_then),
        cmocka_unit_test(test_counts_stop_at_the_top),
        cmocka_unit_test(test_store_day_is_the_store_local_day),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
