/* test_limits.c - the two kinds of limit behind OVERLOADED: token buckets
 * (daemon/bucket.c: capacity, refill, retry_ms, reload) and the adaptive
 * pending-orders limit (daemon/shed.c: AIMD cuts, growth, bounds). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bucket.h"
#include "shed.h"

#include <string.h>

#define T0 UINT64_C(7000000000) /* monotonic us */
#define MS UINT64_C(1000)       /* in us */

/* ---------------------------------------------------------------- bucket */

/* s_drain takes tokens at NOW_US until none is left; returns how many. */
static int s_drain(bucket_t *b, uint64_t now_us)
{
    int n = 0;
    while (bucket_has(b, now_us, NULL) && n < 1000000) {
        bucket_take(b);
        n++;
    }
    return n;
}

static void test_bucket_holds_one_second_of_rate(void **state)
{
    (void)state;
    bucket_t b;
    bucket_init(&b, 10, T0);
    assert_int_equal(s_drain(&b, T0), 10);
    uint64_t retry = 0;
    assert_false(bucket_has(&b, T0, &retry));
    assert_int_equal(retry, 100);  /* 10/s, empty: one token in 100 ms */
    /* A quiet spell of ten seconds still gives only one second of tokens. */
    assert_int_equal(s_drain(&b, T0 + 10000 * MS), 10);
    /* An hour idle: the same. */
    assert_int_equal(s_drain(&b, T0 + 3600000 * MS), 10);
}

static void test_bucket_refills_with_time(void **state)
{
    (void)state;
    bucket_t b;
    bucket_init(&b, 10, T0);
    assert_int_equal(s_drain(&b, T0), 10);
    uint64_t retry = 0;
    assert_false(bucket_has(&b, T0 + 50 * MS, &retry));
    assert_int_equal(retry, 50);   /* half a token there, half to go */
    assert_true(bucket_has(&b, T0 + 100 * MS, &retry));
    bucket_take(&b);
    assert_false(bucket_has(&b, T0 + 100 * MS, NULL));  /* NULL retry is fine */
    /* 350 ms later: 3.5 tokens, three orders. */
    assert_int_equal(s_drain(&b, T0 + 450 * MS), 3);
    assert_false(bucket_has(&b, T0 + 450 * MS, &retry));
    assert_int_equal(retry, 50);
    /* 1 us short of a token: retry rounds up to 1 ms, never 0 while empty. */
    bucket_init(&b, 10, T0);
    assert_int_equal(s_drain(&b, T0), 10);
    assert_false(bucket_has(&b, T0 + 99999, &retry));
    assert_int_equal(retry, 1);
    assert_true(bucket_has(&b, T0 + 100999, &retry));
}

static void test_bucket_retry_for_several_rates(void **state)
{
    (void)state;
    static const struct { double rate; uint64_t retry_ms; } cases[] = {
        { 1, 1000 }, { 2, 500 }, { 3, 334 }, { 7, 143 }, { 1000, 1 }, { 50000, 1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bucket_t b;
        bucket_init(&b, cases[i].rate, T0);
        assert_int_equal(s_drain(&b, T0), (int)cases[i].rate);
        uint64_t retry = 0;
        assert_false(bucket_has(&b, T0, &retry));
        assert_int_equal(retry, cases[i].retry_ms);
        /* Waiting exactly retry_ms is enough. */
        assert_true(bucket_has(&b, T0 + retry * MS, NULL));
    }
}

static void test_bucket_set_rate_caps_and_keeps_tokens(void **state)
{
    (void)state;
    bucket_t b;
    bucket_init(&b, 10, T0);
    /* Lower: the 10 tokens it holds are capped at the new capacity. */
    bucket_set_rate(&b, 4, T0);
    assert_int_equal(s_drain(&b, T0), 4);
    uint64_t retry = 0;
    assert_false(bucket_has(&b, T0, &retry));
    assert_int_equal(retry, 250);
    /* Higher: no free refill, the bucket stays empty. */
    bucket_set_rate(&b, 100, T0);
    assert_false(bucket_has(&b, T0, &retry));
    assert_int_equal(retry, 10);
    /* The time before a change is counted at the old rate: 50 ms at 10/s
     * is half a token, which at 100/s is 5 ms from a whole one. */
    bucket_init(&b, 10, T0);
    assert_int_equal(s_drain(&b, T0), 10);
    bucket_set_rate(&b, 100, T0 + 50 * MS);
    assert_false(bucket_has(&b, T0 + 50 * MS, &retry));
    assert_int_equal(retry, 5);
    assert_true(bucket_has(&b, T0 + 55 * MS, NULL));
    /* Partly full, raised: tokens kept as they were. */
    bucket_init(&b, 10, T0);
    for (int i = 0; i < 7; i++)
        bucket_take(&b);
    bucket_set_rate(&b, 1000, T0);
    assert_int_equal(s_drain(&b, T0), 3);
}

/* ------------------------------------------------------------------ shed */

static shed_t s_shed(size_t max_pending, size_t batch_max)
{
    shed_t s;
    memset(&s, 0, sizeof s);
    shed_configure(&s, max_pending, batch_max, 50, 250);
    return s;
}

static void test_shed_starts_at_max_and_allows_below_limit(void **state)
{
    (void)state;
    shed_t s = s_shed(1000, 100);
    assert_true(s.limit == 1000.0);
    assert_true(s.max_limit == 1000.0);
    assert_true(s.min_limit == 100.0);
    assert_int_equal(s.queue_delay_target_us, 50000);
    assert_int_equal(s.commit_target_us, 250000);
    assert_true(shed_allows(&s, 0));
    assert_true(shed_allows(&s, 999));
    assert_false(shed_allows(&s, 1000));
    assert_false(shed_allows(&s, 5000));
    assert_false(shed_overloaded(&s));
}

static void test_shed_cuts_a_tenth_once_per_round_trip(void **state)
{
    (void)state;
    shed_t s = s_shed(1000, 100);
    uint64_t t = T0;
    /* Commit 300 ms > 250 ms target: 1000 -> 900. */
    shed_observe(&s, 1 * MS, 300 * MS, 100, 900, t);
    assert_true(s.limit == 900.0);
    assert_int_equal(s.cuts, 1);
    assert_true(shed_overloaded(&s));
    assert_false(shed_allows(&s, 900));
    assert_true(shed_allows(&s, 899));
    /* Within the same round trip (300 ms): batches admitted under the old
     * limit say nothing new. */
    shed_observe(&s, 1 * MS, 300 * MS, 100, 900, t + 100 * MS);
    shed_observe(&s, 1 * MS, 300 * MS, 100, 900, t + 300 * MS - 1);
    assert_true(s.limit == 900.0);
    assert_int_equal(s.cuts, 1);
    /* One round trip later: 900 -> 810. */
    shed_observe(&s, 1 * MS, 300 * MS, 100, 900, t + 300 * MS);
    assert_true(s.limit == 810.0);
    assert_int_equal(s.cuts, 2);
    /* The queue-delay target alone also cuts (60 ms > 50 ms). */
    t += 300 * MS + 20 * MS;
    shed_observe(&s, 60 * MS, 20 * MS, 100, 0, t);
    assert_true(s.limit > 728.9 && s.limit < 729.1);
    assert_int_equal(s.cuts, 3);
    assert_true(shed_overloaded(&s));
    /* Exactly at both targets is not over them, and with few orders pending
     * the limit does not move. */
    t += 1000 * MS;
    double was = s.limit;
    shed_observe(&s, 50 * MS, 250 * MS, 100, 10, t);
    assert_false(shed_overloaded(&s));
    assert_true(s.limit == was);
    assert_int_equal(s.cuts, 3);
}

static void test_shed_never_below_one_batch(void **state)
{
    (void)state;
    shed_t s = s_shed(1000, 100);
    uint64_t t = T0;
    for (int i = 0; i < 100; i++) {
        t += 1000 * MS;
        shed_observe(&s, 500 * MS, 500 * MS, 100, 1000, t);
        assert_true(s.limit >= 100.0);
    }
    assert_true(s.limit == 100.0);
    assert_int_equal(s.cuts, 100);
    assert_true(shed_allows(&s, 99));
    assert_false(shed_allows(&s, 100));
}

static void test_shed_grows_only_when_in_use_and_up_to_max(void **state)
{
    (void)state;
    shed_t s = s_shed(1000, 100);
    uint64_t t = T0;
    shed_observe(&s, 0, 300 * MS, 100, 0, t);
    shed_observe(&s, 0, 300 * MS, 100, 0, t + 300 * MS);
    assert_true(s.limit == 810.0);
    /* Healthy, but fewer than half the limit pending: the limit is not what
     * holds admissions back, so it stays. */
    t += 1000 * MS;
    shed_observe(&s, 1 * MS, 10 * MS, 100, 404, t);
    assert_true(s.limit == 810.0);
    assert_false(shed_overloaded(&s));
    /* Half the limit pending: grows by a tenth of the batch (100 -> 10). */
    shed_observe(&s, 1 * MS, 10 * MS, 100, 405, t);
    assert_true(s.limit >= 820.0 && s.limit <= 821.0);
    double was = s.limit;
    shed_observe(&s, 1 * MS, 10 * MS, 500, 1000, t);
    assert_true(s.limit >= was + 50.0 && s.limit <= was + 51.0);
    /* Capped at max_pending_orders. */
    for (int i = 0; i < 100; i++)
        shed_observe(&s, 1 * MS, 10 * MS, 100, 1000, t);
    assert_true(s.limit == 1000.0);
}

static void test_shed_configure_keeps_limit_in_bounds(void **state)
{
    (void)state;
    shed_t s = s_shed(1000, 100);
    shed_observe(&s, 0, 300 * MS, 100, 0, T0);
    assert_true(s.limit == 900.0);
    /* Reload with a larger max: the measured limit is kept, not reset. */
    shed_configure(&s, 5000, 100, 50, 250);
    assert_true(s.limit == 900.0);
    assert_true(s.max_limit == 5000.0);
    /* A smaller max: the limit comes down to it. */
    shed_configure(&s, 500, 100, 50, 250);
    assert_true(s.limit == 500.0);
    /* A larger batch raises the floor, and the limit with it. */
    shed_configure(&s, 5000, 800, 50, 250);
    assert_true(s.min_limit == 800.0);
    assert_true(s.limit == 800.0);
    /* A batch larger than max: the floor is max. */
    shed_configure(&s, 50, 100, 50, 250);
    assert_true(s.min_limit == 50.0);
    assert_true(s.max_limit == 50.0);
    assert_true(s.limit == 50.0);
    /* New targets take effect: 300 ms is under a 400 ms target. */
    shed_configure(&s, 1000, 100, 50, 400);
    assert_int_equal(s.commit_target_us, 400000);
    shed_observe(&s, 0, 300 * MS, 100, 0, T0 + 10000 * MS);
    assert_false(shed_overloaded(&s));
    assert_int_equal(s.cuts, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_holds_one_second_of_rate),
        cmocka_unit_test(test_bucket_refills_with_time),
        cmocka_unit_test(test_bucket_retry_for_several_rates),
        cmocka_unit_test(test_bucket_set_rate_caps_and_keeps_tokens),
        cmocka_unit_test(test_shed_starts_at_max_and_allows_below_limit),
        cmocka_unit_test(test_shed_cuts_a_tenth_once_per_round_trip),
        cmocka_unit_test(test_shed_never_below_one_batch),
        cmocka_unit_test(test_shed_grows_only_when_in_use_and_up_to_max),
        cmocka_unit_test(test_shed_configure_keeps_limit_in_bounds),
    };
    return cmocka_run_group_tests_name("limits", tests, NULL, NULL);
}
