/* test_tz.c - store-local time (daemon/tz.c): zone offsets from zoneinfo,
 * DST changes seen across the quarter-hour cache, local minute of day, and
 * that the process's own TZ is left as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit_time.h"
#include "tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MIN INT64_C(60000)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)


/* s_utc: unix ms of Y-M-D HH:MM UTC. */
static uint64_t s_utc(int y, int m, int d, int hh, int mm)
{
    return (uint64_t)(unit_days_from_civil(y, m, d) * DAY + hh * HOUR + mm * MIN);
}

static int s_setup(void **state)
{
    (void)state;
    tz_reset();  /* no test depends on another's cache */
    return 0;
}

static void test_days_from_civil_matches_timegm(void **state)
{
    (void)state;
    /* The expected values below are computed with s_utc; check it once. */
    struct tm tm = { .tm_year = 2026 - 1900, .tm_mon = 6, .tm_mday = 15, .tm_hour = 12 };
    assert_int_equal(s_utc(2026, 7, 15, 12, 0), (uint64_t)timegm(&tm) * 1000u);
    assert_int_equal(s_utc(1970, 1, 1, 0, 0), 0);
}

static void test_utc_is_zero(void **state)
{
    (void)state;
    assert_int_equal(tz_offset_ms("UTC", s_utc(2026, 1, 15, 12, 0)), 0);
    assert_int_equal(tz_offset_ms("UTC", s_utc(2026, 7, 15, 12, 0)), 0);
    assert_int_equal(tz_offset_ms("Etc/UTC", s_utc(2026, 7, 15, 12, 0)), 0);
    assert_int_equal(tz_offset_ms(NULL, s_utc(2026, 7, 15, 12, 0)), 0);
    assert_int_equal(tz_offset_ms("", s_utc(2026, 7, 15, 12, 0)), 0);
    /* Unknown zones count as UTC. */
    assert_int_equal(tz_offset_ms("Mars/Olympus_Mons", s_utc(2026, 7, 15, 12, 0)), 0);
}

static void test_shanghai_is_plus_eight_all_year(void **state)
{
    (void)state;
    assert_int_equal(tz_offset_ms("Asia/Shanghai", s_utc(2026, 1, 15, 12, 0)), 8 * HOUR);
    assert_int_equal(tz_offset_ms("Asia/Shanghai", s_utc(2026, 7, 15, 12, 0)), 8 * HOUR);
    /* Other zones away from whole hours. */
    assert_int_equal(tz_offset_ms("Asia/Kathmandu", s_utc(2026, 1, 15, 12, 0)),
                     5 * HOUR + 45 * MIN);
    assert_int_equal(tz_offset_ms("Asia/Kolkata", s_utc(2026, 1, 15, 12, 0)),
                     5 * HOUR + 30 * MIN);
    /* POSIX names: Etc/GMT+5 is five hours behind UTC. */
    assert_int_equal((int64_t)tz_offset_ms("Etc/GMT+5", s_utc(2026, 1, 15, 12, 0)), -5 * HOUR);
}

static void test_new_york_changes_with_dst(void **state)
{
    (void)state;
    const char *ny = "America/New_York";
    assert_int_equal((int64_t)tz_offset_ms(ny, s_utc(2026, 1, 15, 12, 0)), -5 * HOUR);
    assert_int_equal((int64_t)tz_offset_ms(ny, s_utc(2026, 7, 15, 12, 0)), -4 * HOUR);
    /* 2026-03-08 02:00 EST (07:00 UTC) clocks go forward. The cache holds
     * an answer for one quarter hour, so the change is seen on the minute. */
    assert_int_equal((int64_t)tz_offset_ms(ny, s_utc(2026, 3, 8, 6, 45)), -5 * HOUR);
    assert_int_equal((int64_t)tz_offset_ms(ny, s_utc(2026, 3, 8, 7, 0) - 1), -5 * HOUR);
    assert_int_equal((int64_t)tz_offset_ms(ny, s_utc(2026, 3, 8, 7, 0)), -4 * HOUR);
    /* Going back in time is a different quarter too. */
    assert_int_equal((int64_t)tz_offset_ms(ny, s_utc(2026, 3, 8, 6, 59)), -5 * HOUR);
    /* 2026-11-01 02:00 EDT (06:00 UTC) clocks go back. */
    assert_int_equal((int64_t)tz_offset_ms(ny, s_utc(2026, 11, 1, 6, 0) - 1), -4 * HOUR);
    assert_int_equal((int64_t)tz_offset_ms(ny, s_utc(2026, 11, 1, 6, 0)), -5 * HOUR);
    /* Lord Howe Island moves by half an hour, at 15:30 UTC: the cache must
     * not hold an answer past the quarter hour it was asked in. */
    const char *lh = "Australia/Lord_Howe";
    assert_int_equal(tz_offset_ms(lh, s_utc(2026, 10, 3, 15, 15)), 10 * HOUR + 30 * MIN);
    assert_int_equal(tz_offset_ms(lh, s_utc(2026, 10, 3, 15, 30)), 11 * HOUR);
    /* Two zones cached side by side do not mix. */
    assert_int_equal((int64_t)tz_offset_ms("Asia/Shanghai", s_utc(2026, 11, 1, 6, 0)), 8 * HOUR);
    assert_int_equal((int64_t)tz_offset_ms(ny, s_utc(2026, 11, 1, 6, 0)), -5 * HOUR);
}

static void test_minute_of_day(void **state)
{
    (void)state;
    /* 16:30 UTC is 00:30 the next day in Shanghai. */
    assert_int_equal(tz_minute_of_day("Asia/Shanghai", s_utc(2026, 1, 15, 16, 30)), 30);
    assert_int_equal(tz_minute_of_day("UTC", s_utc(2026, 1, 15, 16, 30)), 16 * 60 + 30);
    /* 03:00 UTC is 22:00 the day before in New York (winter). */
    assert_int_equal(tz_minute_of_day("America/New_York", s_utc(2026, 1, 15, 3, 0)), 22 * 60);
    assert_int_equal(tz_minute_of_day("America/New_York", s_utc(2026, 7, 15, 3, 0)), 23 * 60);
    assert_int_equal(tz_minute_of_day("Asia/Kathmandu", s_utc(2026, 1, 15, 0, 0)), 5 * 60 + 45);
    assert_int_equal(tz_minute_of_day("Asia/Shanghai", s_utc(2026, 1, 15, 15, 59)), 1439);
    assert_int_equal(tz_minute_of_day("Asia/Shanghai", s_utc(2026, 1, 15, 16, 0)), 0);
}

static void test_process_tz_is_left_alone(void **state)
{
    (void)state;
    const char *saved = getenv("TZ");
    char *restore = saved ? strdup(saved) : NULL;
    assert_int_equal(setenv("TZ", "Europe/Paris", 1), 0);
    tzset();
    assert_int_equal(tz_offset_ms("Asia/Tokyo", s_utc(2026, 1, 15, 12, 0)), 9 * HOUR);
    assert_string_equal(getenv("TZ"), "Europe/Paris");
    time_t t = (time_t)(s_utc(2026, 1, 15, 12, 0) / 1000u);
    struct tm tm;
    assert_non_null(localtime_r(&t, &tm));
    assert_int_equal(tm.tm_gmtoff, 3600);  /* Paris in winter, not Tokyo */
    assert_int_equal(unsetenv("TZ"), 0);
    assert_int_equal(tz_offset_ms("Asia/Tokyo", s_utc(2026, 1, 16, 12, 0)), 9 * HOUR);
    assert_null(getenv("TZ"));
    if (restore)
        setenv("TZ", restore, 1);
    tzset();
    free(restore);
}

static void test_more_zones_than_the_cache(void **state)
{
    (void)state;
    uint64_t t = s_utc(2026, 1, 15, 12, 0);
    assert_int_equal(tz_offset_ms("Asia/Shanghai", t), 8 * HOUR);
    char name[32];
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof name, "Nowhere/Zone%d", i);
        assert_int_equal(tz_offset_ms(name, t), 0);
    }
    /* Past the cache's size answers are still right, just not cached. */
    assert_int_equal(tz_offset_ms("Asia/Tokyo", t), 9 * HOUR);
    assert_int_equal((int64_t)tz_offset_ms("America/New_York", t), -5 * HOUR);
    assert_int_equal((int64_t)tz_offset_ms("America/New_York", s_utc(2026, 7, 15, 12, 0)),
                     -4 * HOUR);
    assert_int_equal(tz_offset_ms("Asia/Shanghai", t + 20 * MIN), 8 * HOUR);
    tz_reset();
    assert_int_equal(tz_offset_ms("Asia/Shanghai", t), 8 * HOUR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_days_from_civil_matches_timegm, s_setup),
        cmocka_unit_test_setup(test_utc_is_zero, s_setup),
        cmocka_unit_test_setup(test_shanghai_is_plus_eight_all_year, s_setup),
        cmocka_unit_test_setup(test_new_york_changes_with_dst, s_setup),
        cmocka_unit_test_setup(test_minute_of_day, s_setup),
        cmocka_unit_test_setup(test_process_tz_is_left_alone, s_setup),
        cmocka_unit_test_setup(test_more_zones_than_the_cache, s_setup),
    };
    int failed = cmocka_run_group_tests_name("tz", tests, NULL, NULL);
    tz_reset();  /* free the cached names (LeakSanitizer) */
    return failed;
}
