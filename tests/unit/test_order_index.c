/* test_order_index.c - the order_id hash table under growth and churn, and
 * the batch array literals that carry orders to PostgreSQL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "batch.h"
#include "order_index.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_add_find_remove_with_growth(void **state)
{
    (void)state;
    order_index_t *idx = order_index_new(4);
    assert_non_null(idx);
    char id[32];
    enum { N = 50000 };
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "o-%d", i);
        assert_null(order_index_find(idx, id));
        order_entry_t *e = order_index_add(idx, id);
        assert_non_null(e);
        e->store_id = (uint32_t)i;
    }
    assert_int_equal(order_index_count(idx), N);
    /* Remove every third: the others must stay reachable (backward shift). */
    for (int i = 0; i < N; i += 3) {
        snprintf(id, sizeof id, "o-%d", i);
        order_entry_t *e = order_index_find(idx, id);
        assert_non_null(e);
        order_index_remove(idx, e);
    }
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "o-%d", i);
        order_entry_t *e = order_index_find(idx, id);
        if (i % 3 == 0) {
            assert_null(e);
        } else {
            assert_non_null(e);
            assert_int_equal(e->store_id, i);
        }
    }
    assert_int_equal(order_index_count(idx), N - (N + 2) / 3);
    order_index_destroy(&idx);
    assert_null(idx);
    order_index_destroy(&idx);  /* NULL is fine */
}

static void test_destroy_frees_waiting_tickets(void **state)
{
    (void)state;
    order_index_t *idx = order_index_new(0);
    order_entry_t *e = order_index_add(idx, "waiting");
    for (int i = 0; i < 3; i++) {
        ingress_ticket_t *t = calloc(1, sizeof *t);
        t->next = e->waiters;
        e->waiters = t;
    }
    order_index_destroy(&idx);  /* ASan's leak check is the assertion */
}

static void test_batch_literals_escape_and_null(void **state)
{
    (void)state;
    batch_queue_t q;
    batch_queue_init(&q, 2);
    Sluice__V1__Item item = SLUICE__V1__ITEM__INIT;
    item.sku = "a\"b\\c";
    item.quantity = 2;
    Sluice__V1__Item *items[1] = {&item};
    Sluice__V1__Geo geo = SLUICE__V1__GEO__INIT;
    geo.lat = 1.5;
    geo.lng = -2.25;
    Sluice__V1__SubmitOrder o = SLUICE__V1__SUBMIT_ORDER__INIT;
    o.store_id = 7;
    o.n_items = 1;
    o.items = items;
    o.dropoff = &geo;
    o.voucher_id = "";
    o.customer_ref = "ref \"1\"";
    order_entry_t e[3];
    memset(e, 0, sizeof e);
    for (int i = 0; i < 3; i++) {
        snprintf(e[i].order_id, sizeof e[i].order_id, "id-%d", i);
        e[i].fingerprint = UINT64_MAX - (uint64_t)i;  /* stored as a signed bigint */
        assert_true(batch_queue_add(&q, &e[i], &o));
    }
    assert_int_equal(q.orders, 3);
    batch_t *b = batch_queue_pop(&q);   /* batch_max 2: the first two */
    assert_int_equal(b->count, 2);
    const char *v[BATCH_COLUMNS];
    batch_params(b, v);
    assert_string_equal(v[0], "{\"id-0\",\"id-1\"}");
    assert_string_equal(v[1], "{7,7}");
    assert_string_equal(v[2], "{\"[{\\\"sku\\\":\\\"a\\\\\\\"b\\\\\\\\c\\\",\\\"qty\\\":2}]\","
                              "\"[{\\\"sku\\\":\\\"a\\\\\\\"b\\\\\\\\c\\\",\\\"qty\\\":2}]\"}");
    assert_string_equal(v[3], "{1.5,1.5}");
    assert_string_equal(v[4], "{-2.25,-2.25}");
    assert_string_equal(v[5], "{NULL,NULL}");
    assert_string_equal(v[6], "{\"ref \\\"1\\\"\",\"ref \\\"1\\\"\"}");
    assert_string_equal(v[8], "{-1,-2}");
    assert_string_equal(v[13], "{NULL,NULL}");   /* no campaign: a regular order */
    batch_queue_release(&q, b);
    b = batch_queue_pop(&q);
    assert_int_equal(b->count, 1);
    assert_int_equal(q.orders, 0);
    assert_null(batch_queue_pop(&q));
    batch_queue_release(&q, b);
    batch_queue_clear(&q);
}

/* The integer columns are written without printf: each at its limits. */
static void test_batch_integers_at_their_limits(void **state)
{
    (void)state;
    batch_queue_t q;
    batch_queue_init(&q, 4);
    Sluice__V1__Item item = SLUICE__V1__ITEM__INIT;
    item.sku = "s";
    item.quantity = 1;
    Sluice__V1__Item *items[1] = {&item};
    Sluice__V1__Geo geo = SLUICE__V1__GEO__INIT;
    Sluice__V1__SubmitOrder o = SLUICE__V1__SUBMIT_ORDER__INIT;
    o.n_items = 1;
    o.items = items;
    o.dropoff = &geo;
    order_entry_t e[3];
    memset(e, 0, sizeof e);
    const uint32_t stores[3] = {0, 10, UINT32_MAX};
    const uint64_t created[3] = {0, 1000000000000, (uint64_t)INT64_MAX};
    const uint64_t fingerprints[3] = {0, (uint64_t)INT64_MIN, 9};
    const uint16_t slots[3] = {0, 9, UINT16_MAX};
    for (int i = 0; i < 3; i++) {
        snprintf(e[i].order_id, sizeof e[i].order_id, "n-%d", i);
        o.store_id = stores[i];
        o.created_at_ms = created[i];
        e[i].fingerprint = fingerprints[i];
        e[i].promised_ready_at_ms = i == 2 ? UINT64_MAX : (uint64_t)i * 100;
        e[i].promised_delivery_at_ms = 1764000000000 + (uint64_t)i;
        e[i].prep_slot = slots[i];
        e[i].prep_start_at_ms = (uint64_t)i;
        assert_true(batch_queue_add(&q, &e[i], &o));
    }
    batch_t *b = batch_queue_pop(&q);
    const char *v[BATCH_COLUMNS];
    assert_true(batch_params(b, v));
    assert_string_equal(v[1], "{0,10,4294967295}");
    assert_string_equal(v[7], "{0,1000000000000,9223372036854775807}");
    assert_string_equal(v[8], "{0,-9223372036854775808,9}");
    assert_string_equal(v[9], "{0,100,18446744073709551615}");
    assert_string_equal(v[10], "{1764000000000,1764000000001,1764000000002}");
    assert_string_equal(v[11], "{0,9,65535}");
    assert_string_equal(v[12], "{0,1,2}");
    batch_queue_release(&q, b);
    batch_queue_clear(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_find_remove_with_growth),
        cmocka_unit_test(test_destroy_frees_waiting_tickets),
        cmocka_unit_test(test_batch_literals_escape_and_null),
        cmocka_unit_test(test_batch_integers_at_their_limits),
    };
    return cmocka_run_group_tests_name("order_index", tests, NULL, NULL);
}
