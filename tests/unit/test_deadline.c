/* test_deadline.c - the order timer heap (daemon/deadline.c): set, move,
 * clear and pop under random operations, checked against a brute-force
 * model, with every entry's due_pos pointing back at its heap position. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit_time.h"
#include "deadline.h"

#include <stdlib.h>
#include <string.h>

static uint64_t s_rand_state;

static uint64_t s_rand(void)
{
    return unit_splitmix64(&s_rand_state);
}

/* s_check: the heap holds exactly the scheduled entries, each knows its
 * position, parents are due no later than children, next is the minimum. */
static void s_check(const deadline_heap_t *h, order_entry_t *e, const bool *scheduled,
                    const uint64_t *due, size_t n)
{
    size_t count = 0;
    uint64_t min = UINT64_MAX;
    for (size_t i = 0; i < n; i++) {
        if (!scheduled[i]) {
            assert_int_equal(e[i].due_pos, 0);
            continue;
        }
        count++;
        assert_true(e[i].due_pos >= 1 && e[i].due_pos <= h->count);
        assert_ptr_equal(h->items[e[i].due_pos - 1], &e[i]);
        assert_int_equal(e[i].due_ms, due[i]);
        if (due[i] < min)
            min = due[i];
    }
    assert_int_equal(h->count, count);
    for (size_t i = 1; i < h->count; i++)
        assert_true(h->items[(i - 1) / 2]->due_ms <= h->items[i]->due_ms);
    assert_int_equal(deadline_next(h), min);
}

static void test_empty_heap(void **state)
{
    (void)state;
    deadline_heap_t h = { 0 };
    assert_int_equal(deadline_next(&h), UINT64_MAX);
    assert_null(deadline_pop_due(&h, UINT64_MAX));
    order_entry_t e;
    memset(&e, 0, sizeof e);
    deadline_clear(&h, &e);  /* not scheduled: fine */
    assert_int_equal(h.count, 0);
    deadline_free(&h);
    deadline_free(&h);
}

static void test_set_move_clear_pop(void **state)
{
    (void)state;
    deadline_heap_t h = { 0 };
    order_entry_t e[4];
    memset(e, 0, sizeof e);
    assert_true(deadline_set(&h, &e[0], 300));
    assert_true(deadline_set(&h, &e[1], 100));
    assert_true(deadline_set(&h, &e[2], 200));
    assert_int_equal(h.count, 3);
    assert_int_equal(deadline_next(&h), 100);
    /* Not due yet. */
    assert_null(deadline_pop_due(&h, 99));
    /* Moving an entry never duplicates it. */
    assert_true(deadline_set(&h, &e[0], 50));
    assert_int_equal(h.count, 3);
    assert_int_equal(deadline_next(&h), 50);
    assert_true(deadline_set(&h, &e[0], 500));
    assert_int_equal(h.count, 3);
    assert_int_equal(deadline_next(&h), 100);
    deadline_clear(&h, &e[1]);
    assert_int_equal(e[1].due_pos, 0);
    deadline_clear(&h, &e[1]);  /* twice: fine */
    assert_int_equal(h.count, 2);
    assert_int_equal(deadline_next(&h), 200);
    assert_true(deadline_set(&h, &e[3], 200));  /* a tie */
    order_entry_t *a = deadline_pop_due(&h, 250);
    order_entry_t *b = deadline_pop_due(&h, 250);
    assert_true((a == &e[2] && b == &e[3]) || (a == &e[3] && b == &e[2]));
    assert_null(deadline_pop_due(&h, 250));
    assert_int_equal(deadline_next(&h), 500);
    assert_ptr_equal(deadline_pop_due(&h, 500), &e[0]);
    assert_int_equal(h.count, 0);
    /* A popped entry can be scheduled again. */
    assert_true(deadline_set(&h, &e[0], 600));
    assert_int_equal(e[0].due_pos, 1);
    assert_int_equal(deadline_next(&h), 600);
    deadline_free(&h);
}

static void test_pop_in_due_order(void **state)
{
    (void)state;
    deadline_heap_t h = { 0 };
    enum { N = 5000 };  /* past the first allocation of 1024 */
    order_entry_t *e = calloc(N, sizeof *e);
    assert_non_null(e);
    s_rand_state = 7;
    for (size_t i = 0; i < N; i++)
        assert_true(deadline_set(&h, &e[i], s_rand() % 100000));
    assert_int_equal(h.count, N);
    uint64_t last = 0;
    size_t popped = 0;
    for (uint64_t now = 0; now < 100000 + 997; now += 997) {
        order_entry_t *p;
        while ((p = deadline_pop_due(&h, now))) {
            assert_true(p->due_ms <= now);
            assert_true(p->due_ms >= last);
            assert_int_equal(p->due_pos, 0);
            last = p->due_ms;
            popped++;
        }
        assert_true(deadline_next(&h) > now);
    }
    assert_int_equal(popped, N);
    assert_int_equal(h.count, 0);
    deadline_free(&h);
    assert_null(h.items);
    free(e);
}

static void test_random_ops_match_model(void **state)
{
    (void)state;
    enum { N = 3000, OPS = 200000 };
    order_entry_t *e = calloc(N, sizeof *e);
    bool *scheduled = calloc(N, sizeof *scheduled);
    uint64_t *due = calloc(N, sizeof *due);
    assert_non_null(e);
    assert_non_null(scheduled);
    assert_non_null(due);
    deadline_heap_t h = { 0 };
    s_rand_state = 42;
    uint64_t now = 1000000;
    size_t sets = 0, moves = 0, clears = 0, pops = 0;
    for (int op = 0; op < OPS; op++) {
        size_t i = (size_t)(s_rand() % N);
        unsigned r = (unsigned)(s_rand() % 100);
        if (r < 45) {
            /* schedule or move, earlier or later, sometimes to the same time */
            uint64_t at = now + s_rand() % 60000;
            if (r < 5 && scheduled[i])
                at = due[i];
            if (scheduled[i])
                moves++;
            else
                sets++;
            assert_true(deadline_set(&h, &e[i], at));
            scheduled[i] = true;
            due[i] = at;
        } else if (r < 65) {
            if (scheduled[i])
                clears++;
            deadline_clear(&h, &e[i]);
            scheduled[i] = false;
        } else {
            now += s_rand() % 500;
            order_entry_t *p = deadline_pop_due(&h, now);
            uint64_t min = UINT64_MAX;
            for (size_t j = 0; j < N; j++)
                if (scheduled[j] && due[j] < min)
                    min = due[j];
            if (min > now) {
                assert_null(p);
            } else {
                assert_non_null(p);
                size_t j = (size_t)(p - e);
                assert_true(j < N);
                assert_true(scheduled[j]);
                assert_int_equal(due[j], min);  /* the earliest; any of a tie */
                scheduled[j] = false;
                pops++;
            }
        }
        if (op % 97 == 0 || op > OPS - 1000)
            s_check(&h, e, scheduled, due, N);
    }
    s_check(&h, e, scheduled, due, N);
    assert_true(sets > 1000 && moves > 1000 && clears > 1000 && pops > 1000);
    deadline_free(&h);
    free(e);
    free(scheduled);
    free(due);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_heap),
        cmocka_unit_test(test_set_move_clear_pop),
        cmocka_unit_test(test_pop_in_due_order),
        cmocka_unit_test(test_random_ops_match_model),
    };
    return cmocka_run_group_tests_name("deadline", tests, NULL, NULL);
}
