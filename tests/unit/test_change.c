/* test_change.c - the state-change queue (daemon/change.c) and dispatch keys
 * (daemon/dispatch.c): requesters' changes are bounded and engine changes
 * are not; a failed run stays queued in order; dropped changes are not sent;
 * the parameters carry the dispatches row only when there is one; keys fit
 * the protocol's 64 characters whatever the order id. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "change.h"
#include "dispatch.h"

#include <stdio.h>
#include <string.h>

static change_t s_change(order_entry_t *e, bool engine, order_state_t to)
{
    change_t c = {.entry = e, .to = to, .engine = engine};
    snprintf(c.detail, sizeof c.detail, "%s", engine ? "engine" : "requester");
    return c;
}

static void test_requests_bounded_engine_grows(void **state)
{
    (void)state;
    change_queue_t q;
    assert_true(change_queue_init(&q, 3));
    order_entry_t e = {.order_id = "o-1"};
    for (int i = 0; i < 3; i++) {
        change_t c = s_change(&e, false, ORDER_READY);
        assert_true(change_queue_push(&q, &c));
    }
    change_t c = s_change(&e, false, ORDER_READY);
    assert_false(change_queue_push(&q, &c));  /* the fourth requester waits */
    /* The engine is never refused short of memory: past the ring's size too. */
    size_t cap = q.cap;
    for (size_t i = 0; i < cap * 3; i++) {
        change_t ec = s_change(&e, true, ORDER_DISPATCHING);
        ec.dispatch.seq = (uint32_t)i;
        assert_true(change_queue_push(&q, &ec));
    }
    assert_true(q.cap > cap);
    assert_int_equal(q.count, 3 + cap * 3);
    /* Order is kept across the growth. */
    for (size_t i = 0; i < 3; i++)
        assert_false(change_queue_in_flight(&q, i)->engine);
    for (size_t i = 0; i < cap * 3; i++)
        assert_int_equal(change_queue_in_flight(&q, 3 + i)->dispatch.seq, i);
    change_queue_free(&q);
}

static void test_failed_run_stays_dropped_not_sent(void **state)
{
    (void)state;
    change_queue_t q;
    assert_true(change_queue_init(&q, 10));
    order_entry_t a = {.order_id = "a"}, b = {.order_id = "b"};
    change_t c1 = s_change(&a, false, ORDER_CANCELLED);
    change_t c2 = s_change(&b, true, ORDER_DISPATCHING);
    c2.dispatch = (change_dispatch_t){.attempt = 2, .state = "SENDING", .platform = "jd",
                                      .key = "b:2", .fee_cents = 650};
    assert_true(change_queue_push(&q, &c1));
    assert_true(change_queue_push(&q, &c2));
    const char *v[CHANGE_PARAMS];
    bool oom = true;
    assert_int_equal(change_queue_params(&q, 100, v, &oom), 2);
    assert_false(oom);
    assert_string_equal(v[0], "{\"a\",\"b\"}");
    assert_string_equal(v[4], "{NULL,\"b:2\"}");    /* a dispatches row only for b */
    assert_string_equal(v[6], "{NULL,\"jd\"}");
    assert_string_equal(v[10], "{0,650}");
    /* The statement failed: the requester was answered (dropped), the
     * engine's change is sent again, alone, still first in line. */
    change_queue_in_flight(&q, 0)->dropped = true;
    change_queue_keep_in_flight(&q);
    assert_int_equal(q.count, 2);
    assert_int_equal(change_queue_params(&q, 100, v, &oom), 1);
    assert_string_equal(v[0], "{\"b\"}");
    change_queue_pop_in_flight(&q);
    assert_int_equal(q.count, 0);
    assert_int_equal(q.requests, 0);
    /* Only dropped changes in a run: nothing to send. */
    change_t c3 = s_change(&a, false, ORDER_READY);
    c3.dropped = true;
    assert_true(change_queue_push(&q, &c3));
    assert_int_equal(change_queue_params(&q, 100, v, &oom), 0);
    assert_false(oom);
    change_queue_free(&q);
}

static void test_params_take_at_most_max(void **state)
{
    (void)state;
    change_queue_t q;
    assert_true(change_queue_init(&q, 10));
    order_entry_t e = {.order_id = "x"};
    for (int i = 0; i < 5; i++) {
        change_t c = s_change(&e, true, ORDER_RIDER_ASSIGNED);
        c.keep_state = i % 2;
        assert_true(change_queue_push(&q, &c));
    }
    const char *v[CHANGE_PARAMS];
    bool oom;
    assert_int_equal(change_queue_params(&q, 2, v, &oom), 2);
    assert_string_equal(v[3], "{f,t}");
    change_queue_pop_in_flight(&q);
    assert_int_equal(q.count, 3);
    change_queue_free(&q);
}

static void test_dispatch_keys(void **state)
{
    (void)state;
    char key[CHANGE_KEY_MAX + 1], other[CHANGE_KEY_MAX + 1];
    dispatch_key("o-17", 3, key);
    assert_string_equal(key, "o-17:3");
    /* Long ids keep a prefix and a hash of the whole id: unique, at most 64. */
    char id[ORDER_ID_MAX + 1], id2[ORDER_ID_MAX + 1];
    memset(id, 'a', ORDER_ID_MAX);
    id[ORDER_ID_MAX] = '\0';
    memcpy(id2, id, sizeof id2);
    id2[ORDER_ID_MAX - 1] = 'b';
    dispatch_key(id, 65535, key);
    dispatch_key(id2, 65535, other);
    assert_true(strlen(key) <= CHANGE_KEY_MAX);
    assert_string_not_equal(key, other);
    assert_non_null(strstr(key, ":65535"));
    dispatch_key(id, 1, other);
    assert_string_not_equal(key, other);
    /* 58 characters still fit with any attempt number. */
    id[58] = '\0';
    dispatch_key(id, 65535, key);
    assert_int_equal(strlen(key), 64);
    assert_int_equal(strncmp(key, id, 58), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests_bounded_engine_grows),
        cmocka_unit_test(test_failed_run_stays_dropped_not_sent),
        cmocka_unit_test(test_params_take_at_most_max),
        cmocka_unit_test(test_dispatch_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
