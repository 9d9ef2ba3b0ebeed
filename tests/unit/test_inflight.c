/* test_inflight.c - the outstanding-request table (adapters/zmq/inflight.c):
 * ids never 0 and never repeated, an id found until it is taken and never
 * after, deadlines fired earliest first, growth with thousands outstanding,
 * and a long-lived request whose slot the id counter comes round to. All
 * under random operations checked against a brute-force model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit_time.h"
#include "zmq/inflight.h"

#include <stdlib.h>
#include <string.h>

/* s_check: the heap is a heap of the occupied slots, each knowing its place. */
static void s_check(const inflight_t *t)
{
    size_t used = 0;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].id) {
            used++;
            assert_int_equal(t->slots[i].id & (t->cap - 1), i);
            assert_true(t->slots[i].heap_at < t->count);
            assert_int_equal(t->heap[t->slots[i].heap_at], i);
        }
    assert_int_equal(used, t->count);
    assert_true(t->count * 2 <= t->cap);
    for (size_t i = 1; i < t->count; i++)
        assert_true(t->slots[t->heap[(i - 1) / 2]].deadline_ms <= t->slots[t->heap[i]].deadline_ms);
}

static void test_add_take_due(void **state)
{
    (void)state;
    inflight_t t;
    assert_true(inflight_init(&t));
    assert_int_equal(inflight_next_deadline(&t), UINT64_MAX);
    uint64_t a = inflight_add(&t, 300)->id;
    uint64_t b = inflight_add(&t, 100)->id;
    uint64_t c = inflight_add(&t, 200)->id;
    assert_true(a == 1 && b == 2 && c == 3);
    assert_int_equal(inflight_next_deadline(&t), 100);
    inflight_req_t r;
    assert_false(inflight_take_due(&t, 99, &r));
    assert_true(inflight_take_due(&t, 250, &r));
    assert_int_equal(r.id, b);
    assert_true(inflight_take_due(&t, 250, &r));
    assert_int_equal(r.id, c);
    assert_false(inflight_take_due(&t, 250, &r));
    assert_false(inflight_take(&t, b, &r));  /* a late reply finds nothing */
    assert_false(inflight_take(&t, 0, &r));
    assert_true(inflight_take(&t, a, NULL));
    assert_int_equal(t.count, 0);
    assert_int_equal(inflight_add(&t, 1)->id, 4);  /* never reused */
    s_check(&t);
    inflight_free(&t);
}

/* A request that stays while the counter goes round the table: the new id
 * that would land on its slot is skipped. */
static void test_long_lived_slot_skipped(void **state)
{
    (void)state;
    inflight_t t;
    assert_true(inflight_init(&t));
    uint64_t old = inflight_add(&t, 1000000)->id;
    for (int i = 0; i < 1000; i++) {
        inflight_req_t *r = inflight_add(&t, (uint64_t)i);
        assert_non_null(r);
        assert_int_not_equal(r->id & (t.cap - 1), old & (t.cap - 1));
        assert_true(inflight_take(&t, r->id, NULL));
    }
    inflight_req_t r;
    assert_true(inflight_take(&t, old, &r));
    assert_int_equal(r.deadline_ms, 1000000);
    inflight_free(&t);
}

/* Random adds, takes by id and takes by deadline against a model. */
static void test_random_against_model(void **state)
{
    (void)state;
    enum { N = 20000 };
    uint64_t *ids = calloc(N, sizeof *ids);
    uint64_t *due = calloc(N, sizeof *due);
    bool *live = calloc(N, sizeof *live);
    assert_true(ids && due && live);
    uint64_t rng = 7, last_id = 0, now = 0;
    size_t n = 0, live_count = 0, max_live = 0;
    inflight_t t;
    assert_true(inflight_init(&t));
    for (int step = 0; step < 200000; step++) {
        uint64_t x = unit_splitmix64(&rng);
        if (x % 10 < 5 && n < N) {
            /* add, with some deadlines far out so they live long */
            due[n] = now + 1 + (x >> 8) % (x % 7 == 0 ? 100000 : 500);
            inflight_req_t *r = inflight_add(&t, due[n]);
            assert_non_null(r);
            assert_true(r->id > last_id);
            last_id = ids[n] = r->id;
            r->arg = &ids[n];
            live[n++] = true;
            live_count++;
        } else if (x % 10 < 7 && n > 0) {
            /* a reply to a random request, maybe one already gone */
            size_t i = (x >> 16) % n;
            inflight_req_t r;
            bool found = inflight_take(&t, ids[i], &r);
            assert_int_equal(found, live[i]);
            if (found) {
                assert_ptr_equal(r.arg, &ids[i]);
                live[i] = false;
                live_count--;
            }
        } else {
            now += (x >> 20) % 50;
            inflight_req_t r;
            uint64_t prev = 0;
            while (inflight_take_due(&t, now, &r)) {
                size_t i = (size_t)((uint64_t *)r.arg - ids);
                assert_true(live[i]);
                assert_true(r.deadline_ms <= now && r.deadline_ms >= prev);
                prev = r.deadline_ms;
                live[i] = false;
                live_count--;
            }
            for (size_t i = 0; step % 64 == 0 && i < n; i++)
                assert_true(!live[i] || due[i] > now);
        }
        assert_int_equal(t.count, live_count);
        if (live_count > max_live)
            max_live = live_count;
        if (step % 5000 == 0)
            s_check(&t);
    }
    s_check(&t);
    assert_true(max_live >= 500);  /* it grew, with hundreds outstanding */
    assert_true(t.cap >= 2 * max_live);
    inflight_free(&t);
    free(ids);
    free(due);
    free(live);
}

static void test_hash(void **state)
{
    (void)state;
    assert_int_not_equal(inflight_hash(""), 0);
    assert_int_equal(inflight_hash("o1:1"), inflight_hash("o1:1"));
    assert_int_not_equal(inflight_hash("o1:1"), inflight_hash("o1:2"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_take_due),
        cmocka_unit_test(test_long_lived_slot_skipped),
        cmocka_unit_test(test_random_against_model),
        cmocka_unit_test(test_hash),
    };
    return cmocka_run_group_tests_name("inflight", tests, NULL, NULL);
}
