/* test_order.c - bounds of every SubmitOrder field and the idempotency
 * fingerprint (what counts as "same content"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "order.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct fixture {
    Sluice__V1__SubmitOrder o;
    Sluice__V1__Item item_storage[60];
    Sluice__V1__Item *items[60];
    char skus[60][80];
    Sluice__V1__Geo geo;
    char id[100];
    char detail[ORDER_DETAIL_MAX];
} fixture_t;

static fixture_t f;

/* s_valid_order fills F with a good two-item order. */
static Sluice__V1__SubmitOrder *s_valid_order(void)
{
    memset(&f, 0, sizeof f);
    sluice__v1__submit_order__init(&f.o);
    sluice__v1__geo__init(&f.geo);
    for (int i = 0; i < 60; i++) {
        sluice__v1__item__init(&f.item_storage[i]);
        snprintf(f.skus[i], sizeof f.skus[i], "sku-%d", i);
        f.item_storage[i].sku = f.skus[i];
        f.item_storage[i].quantity = 1;
        f.items[i] = &f.item_storage[i];
    }
    snprintf(f.id, sizeof f.id, "order-1");
    f.o.order_id = f.id;
    f.o.store_id = 1001;
    f.o.n_items = 2;
    f.o.items = f.items;
    f.geo.lat = 30.28;
    f.geo.lng = 120.15;
    f.o.dropoff = &f.geo;
    f.o.voucher_id = "";
    f.o.customer_ref = "";
    f.o.created_at_ms = 1700000000000ull;
    return &f.o;
}

static void s_expect_invalid(const char *field)
{
    assert_false(order_validate(&f.o, f.detail, sizeof f.detail));
    if (!strstr(f.detail, field))
        fail_msg("detail '%s' does not name '%s'", f.detail, field);
}

static void test_valid_order_passes(void **state)
{
    (void)state;
    s_valid_order();
    assert_true(order_validate(&f.o, f.detail, sizeof f.detail));
    f.o.n_items = 50;
    f.item_storage[49].quantity = 99;
    memset(f.skus[3], 'x', 64);
    f.skus[3][64] = '\0';
    f.o.voucher_id = "\xe5\x85\x8d\xe8\xb4\xb9";  /* 免费: UTF-8 is fine */
    assert_true(order_validate(&f.o, f.detail, sizeof f.detail));
}

static void test_order_id_bounds(void **state)
{
    (void)state;
    s_valid_order();
    f.id[0] = '\0';
    s_expect_invalid("order_id");
    memset(f.id, 'a', 65);
    f.id[65] = '\0';
    s_expect_invalid("order_id");
    memset(f.id, 'a', 64);
    f.id[64] = '\0';
    assert_true(order_validate(&f.o, f.detail, sizeof f.detail));
    snprintf(f.id, sizeof f.id, "has space");
    s_expect_invalid("order_id");
    snprintf(f.id, sizeof f.id, "ok.A-z_0:9");
    assert_true(order_validate(&f.o, f.detail, sizeof f.detail));
    f.o.order_id = NULL;
    s_expect_invalid("order_id");
}

static void test_items_bounds(void **state)
{
    (void)state;
    s_valid_order();
    f.o.n_items = 0;
    s_expect_invalid("items");
    f.o.n_items = 51;
    s_expect_invalid("items");
    s_valid_order();
    f.item_storage[1].quantity = 0;
    s_expect_invalid("items[1].quantity");
    f.item_storage[1].quantity = 100;
    s_expect_invalid("items[1].quantity");
    s_valid_order();
    memset(f.skus[0], 'x', 65);
    f.skus[0][65] = '\0';
    s_expect_invalid("items[0].sku");
    f.skus[0][0] = '\0';
    s_expect_invalid("items[0].sku");
    snprintf(f.skus[0], sizeof f.skus[0], "bad\xff");
    s_expect_invalid("items[0].sku");
    snprintf(f.skus[0], sizeof f.skus[0], "tab\there");
    s_expect_invalid("items[0].sku");
}

static void test_dropoff_and_text_bounds(void **state)
{
    (void)state;
    s_valid_order();
    f.geo.lat = 91;
    s_expect_invalid("dropoff.lat");
    f.geo.lat = NAN;
    s_expect_invalid("dropoff.lat");
    s_valid_order();
    f.geo.lng = -180.5;
    s_expect_invalid("dropoff.lng");
    s_valid_order();
    f.o.dropoff = NULL;
    s_expect_invalid("dropoff");
    s_valid_order();
    f.o.store_id = 0;
    s_expect_invalid("store_id");
    s_valid_order();
    char long_text[80];
    memset(long_text, 'v', 65);
    long_text[65] = '\0';
    f.o.voucher_id = long_text;
    s_expect_invalid("voucher_id");
    s_valid_order();
    f.o.customer_ref = long_text;
    s_expect_invalid("customer_ref");
}

static void test_fingerprint_compares_content_not_clock(void **state)
{
    (void)state;
    s_valid_order();
    uint64_t base = order_fingerprint(&f.o);
    f.o.created_at_ms += 5000;
    assert_int_equal(order_fingerprint(&f.o), base);
    f.item_storage[0].quantity = 2;
    assert_int_not_equal(order_fingerprint(&f.o), base);
    s_valid_order();
    f.o.store_id = 1002;
    assert_int_not_equal(order_fingerprint(&f.o), base);
    s_valid_order();
    f.geo.lat += 0.0001;
    assert_int_not_equal(order_fingerprint(&f.o), base);
    s_valid_order();
    f.o.voucher_id = "v1";
    assert_int_not_equal(order_fingerprint(&f.o), base);
    s_valid_order();
    f.o.customer_ref = "c1";
    assert_int_not_equal(order_fingerprint(&f.o), base);
    /* Length-prefixed fields: moving a character between skus changes it. */
    s_valid_order();
    snprintf(f.skus[0], sizeof f.skus[0], "ab");
    snprintf(f.skus[1], sizeof f.skus[1], "c");
    uint64_t split1 = order_fingerprint(&f.o);
    snprintf(f.skus[0], sizeof f.skus[0], "a");
    snprintf(f.skus[1], sizeof f.skus[1], "bc");
    assert_int_not_equal(order_fingerprint(&f.o), split1);
}

static void test_items_json_escapes(void **state)
{
    (void)state;
    s_valid_order();
    snprintf(f.skus[0], sizeof f.skus[0], "say \"hi\"\\");
    f.item_storage[1].quantity = 3;
    char buf[256];
    size_t n = order_items_json(&f.o, buf, sizeof buf);
    assert_true(n > 0);
    assert_string_equal(buf, "[{\"sku\":\"say \\\"hi\\\"\\\\\",\"qty\":1},{\"sku\":\"sku-1\",\"qty\":3}]");
    assert_int_equal(order_items_json(&f.o, buf, 10), 0);
    assert_int_equal(order_drink_count(&f.o), 4);
}

/* The detail of a cancel goes into order_events in one statement with other
 * changes: it must be UTF-8, and a long reason is cut between characters. */
static void test_cancel_detail(void **state)
{
    (void)state;
    char detail[ORDER_DETAIL_MAX], reason[1 + 50 * 3 + 1] = "a";
    assert_true(order_cancel_detail(NULL, detail, sizeof detail));
    assert_string_equal(detail, "cancelled: no reason given");
    assert_true(order_cancel_detail("", detail, sizeof detail));
    assert_string_equal(detail, "cancelled: no reason given");
    assert_true(order_cancel_detail("late\tagain", detail, sizeof detail));
    assert_string_equal(detail, "cancelled: late\tagain");
    for (int i = 0; i < 50; i++)
        strcat(reason, "\xe5\x8f\x96"); /* 3 bytes each: byte 120 is inside one */
    assert_true(order_cancel_detail(reason, detail, sizeof detail));
    assert_int_equal(strlen(detail), strlen("cancelled: ") + 1 + 39 * 3);
    assert_memory_equal(detail + strlen("cancelled: "), reason, 1 + 39 * 3);
    static const char *const bad[] = { "\xff", "ok\xc0\xaf", "\xed\xa0\x80", "cut\xe5\x8f",
                                       "\xf4\x90\x80\x80" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        strcpy(detail, "untouched");
        assert_false(order_cancel_detail(bad[i], detail, sizeof detail));
        assert_string_equal(detail, "untouched");
    }
    /* invalid past the part that is kept is still refused */
    reason[sizeof reason - 2] = '\xff';
    assert_false(order_cancel_detail(reason, detail, sizeof detail));
}

static void test_state_names_round_trip(void **state)
{
    (void)state;
    for (int i = 0; i < ORDER_STATE_COUNT; i++) {
        order_state_t back;
        assert_true(order_state_parse(order_state_name((order_state_t)i), &back));
        assert_int_equal(back, i);
    }
    order_state_t dummy;
    assert_false(order_state_parse("MELTED", &dummy));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_order_passes),
        cmocka_unit_test(test_order_id_bounds),
        cmocka_unit_test(test_items_bounds),
        cmocka_unit_test(test_dropoff_and_text_bounds),
        cmocka_unit_test(test_fingerprint_compares_content_not_clock),
        cmocka_unit_test(test_items_json_escapes),
        cmocka_unit_test(test_cancel_detail),
        cmocka_unit_test(test_state_names_round_trip),
    };
    return cmocka_run_group_tests_name("order", tests, NULL, NULL);
}
