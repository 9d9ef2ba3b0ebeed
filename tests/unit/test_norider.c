/* test_norider.c - a rider pool's memory of the stores it had no rider for
 * (daemon/norider.c): a note stands until its time, a yes forgets it at
 * once, passed times are dropped before the table grows, so 300,000 stores
 * refused one after another never hold more than the ones refused lately;
 * and the table against a plain array under random notes, forgets and time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit_time.h"
#include "norider.h"

#include <stdlib.h>
#include <string.h>

#define T0 1000000u

static void test_note_forget_expire(void **state)
{
    (void)state;
    norider_t r;
    norider_init(&r);
    assert_int_equal(norider_until(&r, 7, T0), 0);
    norider_forget(&r, 7);  /* nothing to forget, no table yet */
    norider_note(&r, 7, T0 + 2000, T0);
    norider_note(&r, 8, T0 + 3000, T0);
    assert_int_equal(norider_until(&r, 7, T0), T0 + 2000);
    assert_int_equal(norider_until(&r, 7, T0 + 1999), T0 + 2000);
    assert_int_equal(norider_until(&r, 7, T0 + 2000), 0);  /* passed */
    assert_int_equal(norider_until(&r, 9, T0), 0);
    norider_note(&r, 7, T0 + 5000, T0 + 1000);  /* refused again: later */
    assert_int_equal(norider_until(&r, 7, T0 + 2500), T0 + 5000);
    assert_int_equal(norider_standing(&r, T0 + 2500), 2);
    norider_forget(&r, 7);  /* a rider again */
    assert_int_equal(norider_until(&r, 7, T0 + 2500), 0);
    assert_int_equal(norider_until(&r, 8, T0 + 2500), T0 + 3000);
    assert_int_equal(norider_standing(&r, T0 + 2500), 1);
    norider_note(&r, 0, T0 + 9000, T0);      /* no store 0 */
    norider_note(&r, 10, T0, T0);            /* already passed: not kept */
    assert_int_equal(r.count, 1);
    assert_int_equal(norider_standing(&r, T0 + 3000), 0);
    norider_free(&r);
    norider_free(&r);  /* twice is fine */
}

/* 300,000 stores refused over an hour, each standing 60 s: the table holds
 * about the last minute's, not all of them. */
static void test_bounded_by_recent(void **state)
{
    (void)state;
    norider_t r;
    norider_init(&r);
    uint64_t now = T0;
    size_t most = 0;
    for (uint32_t store = 1; store <= 300000; store++) {
        now += 12;  /* 300,000 in an hour */
        norider_note(&r, store, now + 60000, now);
        if (r.cap > most)
            most = r.cap;
        assert_int_equal(norider_until(&r, store, now), now + 60000);
    }
    /* 60 s at one refusal per 12 ms: 5,000 standing; the table at most
     * four times that, rounded to a power of two. */
    assert_true(most <= 32768);
    assert_int_equal(norider_until(&r, 1, now), 0);
    assert_int_equal(norider_until(&r, 300000, now), now + 60000);
    assert_int_equal(norider_standing(&r, now), 5000);
    norider_free(&r);
}

/* The table against an array indexed by store: random notes, forgets and
 * time, lookups of every store after each step. Few stores and small
 * tables, so probe chains wrap and deletions shift. */
static void test_matches_model(void **state)
{
    (void)state;
    enum { STORES = 200, STEPS = 20000 };
    uint64_t model[STORES + 1];
    memset(model, 0, sizeof model);
    norider_t r;
    norider_init(&r);
    uint64_t seed = 42, now = T0;
    for (int step = 0; step < STEPS; step++) {
        uint32_t store = (uint32_t)(unit_splitmix64(&seed) % STORES) + 1;
        uint64_t roll = unit_splitmix64(&seed) % 10;
        if (roll < 5) {
            uint64_t until = now + 1 + unit_splitmix64(&seed) % 3000;
            norider_note(&r, store, until, now);
            model[store] = until;
        } else if (roll < 8) {
            norider_forget(&r, store);
            model[store] = 0;
        } else {
            now += unit_splitmix64(&seed) % 500;
        }
        for (uint32_t s = 1; s <= STORES; s++) {
            uint64_t want = model[s] > now ? model[s] : 0;
            if (norider_until(&r, s, now) != want)
                fail_msg("step %d: store %u until %llu, model %llu", step, s,
                         (unsigned long long)norider_until(&r, s, now),
                         (unsigned long long)want);
        }
        assert_true(r.count * 2 <= r.cap);
    }
    norider_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_note_forget_expire),
        cmocka_unit_test(test_bounded_by_recent),
        cmocka_unit_test(test_matches_model),
    };
    return cmocka_run_group_tests_name("norider", tests, NULL, NULL);
}
