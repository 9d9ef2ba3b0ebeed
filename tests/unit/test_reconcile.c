/* test_reconcile.c - the settlement comparison (tools/sluicectl/reconcile.c) on
 * arrays: a clean day, each kind of discrepancy alone, all of them at once,
 * a delivery our clock put on the next day, cancels with fees (a free
 * cancel said free, one whose fee was never said), empty inputs, and the
 * per-store totals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../tools/sluicectl/reconcile.h"

#include <stdio.h>
#include <string.h>

static reconcile_ours_t s_ours(const char *key, uint32_t store, reconcile_end_t end, uint32_t fee,
                               bool in_day)
{
    return (reconcile_ours_t){ .key = key, .order_id = key, .store_id = store, .end = end,
                               .state = end == RECONCILE_END_DELIVERED   ? "DELIVERED"
                                        : end == RECONCILE_END_CANCELLED ? "CANCELLED"
                                                                         : "ASSIGNED",
                               .has_fee = fee > 0, .fee_cents = fee, .in_day = in_day };
}

static adapter_settlement_line_t s_line(const char *key, uint32_t store, bool delivered,
                                        uint32_t fee)
{
    adapter_settlement_line_t l = { .store_id = store, .fee_cents = fee,
                                    .status = delivered ? ADAPTER_STATE_DELIVERED
                                                        : ADAPTER_STATE_CANCELLED };
    snprintf(l.key, sizeof l.key, "%s", key);
    snprintf(l.order_id, sizeof l.order_id, "%s", key);
    return l;
}

static const reconcile_total_t *s_store(const reconcile_result_t *r, uint32_t id)
{
    for (size_t i = 0; i < r->total_count; i++)
        if (r->totals[i].store_id == id)
            return &r->totals[i];
    fail_msg("no total for store %u", id);
    return NULL;
}

#define D RECONCILE_END_DELIVERED
#define C RECONCILE_END_CANCELLED

static void test_clean_day(void **state)
{
    (void)state;
    reconcile_ours_t ours[] = { s_ours("a:1", 7, D, 500, true), s_ours("b:1", 7, D, 650, true),
                                s_ours("c:1", 8, D, 800, true) };
    adapter_settlement_line_t theirs[] = { s_line("c:1", 8, true, 800),
                                           s_line("a:1", 7, true, 500),
                                           s_line("b:1", 7, true, 650) };
    reconcile_result_t r;
    assert_true(reconcile_compare(ours, 3, theirs, 3, &r));
    assert_int_equal(r.item_count, 0);
    assert_int_equal(r.total_count, 2);
    const reconcile_total_t *t7 = s_store(&r, 7), *t8 = s_store(&r, 8);
    assert_int_equal(t7->delivered_ours, 2);
    assert_int_equal(t7->delivered_theirs, 2);
    assert_int_equal(t7->fee_ours_cents, 1150);
    assert_int_equal(t7->fee_theirs_cents, 1150);
    assert_int_equal(t8->delivered_ours, 1);
    assert_int_equal(t8->fee_theirs_cents, 800);
    assert_int_equal(t8->discrepancies, 0);
    reconcile_result_free(&r);
}

static void test_each_kind(void **state)
{
    (void)state;
    reconcile_ours_t ours[] = {
        s_ours("ok:1", 7, D, 500, true),
        s_ours("gone:1", 7, D, 500, true),     /* not in their report */
        s_ours("fee:1", 7, D, 500, true),      /* they say 600 */
        s_ours("dup:1", 8, D, 700, true),      /* they list it twice */
        s_ours("live:1", 8, RECONCILE_END_OTHER, 0, false), /* they say delivered */
    };
    adapter_settlement_line_t theirs[] = {
        s_line("ok:1", 7, true, 500),   s_line("fee:1", 7, true, 600),
        s_line("dup:1", 8, true, 700),  s_line("ghost:1", 9, true, 550),
        s_line("dup:1", 8, true, 700),  s_line("live:1", 8, true, 450),
    };
    reconcile_result_t r;
    assert_true(reconcile_compare(ours, 5, theirs, 6, &r));
    assert_int_equal(r.item_count, 5);
    assert_int_equal(r.kind_count[RECONCILE_MISSING_HERE], 2);
    assert_int_equal(r.kind_count[RECONCILE_MISSING_THERE], 1);
    assert_int_equal(r.kind_count[RECONCILE_FEE_MISMATCH], 1);
    assert_int_equal(r.kind_count[RECONCILE_DUPLICATE_CHARGE], 1);

    /* sorted by kind, then store, then key */
    assert_int_equal(r.items[0].kind, RECONCILE_MISSING_HERE);
    assert_string_equal(r.items[0].key, "live:1");
    assert_string_equal(r.items[0].detail, "delivered there, ASSIGNED here");
    assert_true(r.items[0].has_their_fee);
    assert_int_equal(r.items[0].their_fee_cents, 450);
    assert_string_equal(r.items[1].key, "ghost:1");
    assert_int_equal(r.items[1].store_id, 9);
    assert_false(r.items[1].has_our_fee);
    assert_string_equal(r.items[2].key, "gone:1");
    assert_int_equal(r.items[2].kind, RECONCILE_MISSING_THERE);
    assert_false(r.items[2].has_their_fee);
    assert_int_equal(r.items[2].our_fee_cents, 500);
    assert_string_equal(r.items[3].key, "fee:1");
    assert_int_equal(r.items[3].our_fee_cents, 500);
    assert_int_equal(r.items[3].their_fee_cents, 600);
    assert_string_equal(r.items[3].detail, "delivered: +100 cents there");
    assert_string_equal(r.items[4].key, "dup:1");
    assert_string_equal(r.items[4].detail, "listed 2 times");

    const reconcile_total_t *t7 = s_store(&r, 7), *t8 = s_store(&r, 8), *t9 = s_store(&r, 9);
    assert_int_equal(t7->delivered_ours, 3);
    assert_int_equal(t7->delivered_theirs, 2);
    assert_int_equal(t7->fee_ours_cents, 1500);
    assert_int_equal(t7->fee_theirs_cents, 1100);
    assert_int_equal(t7->discrepancies, 2);
    /* a duplicate is one delivery billed twice */
    assert_int_equal(t8->delivered_ours, 1);
    assert_int_equal(t8->delivered_theirs, 2);
    assert_int_equal(t8->fee_ours_cents, 700);
    assert_int_equal(t8->fee_theirs_cents, 1850);
    assert_int_equal(t9->delivered_theirs, 1);
    assert_int_equal(t9->delivered_ours, 0);
    reconcile_result_free(&r);
}

/* Our clock put the delivery on the next day (not in_day), theirs inside:
 * matched by key, no discrepancy, counted on both sides. */
static void test_midnight_is_one_delivery(void **state)
{
    (void)state;
    reconcile_ours_t ours[] = { s_ours("late:1", 7, D, 500, false),
                                s_ours("tomorrow:1", 7, D, 500, false) };
    adapter_settlement_line_t theirs[] = { s_line("late:1", 7, true, 500) };
    reconcile_result_t r;
    assert_true(reconcile_compare(ours, 2, theirs, 1, &r));
    assert_int_equal(r.item_count, 0);
    assert_int_equal(s_store(&r, 7)->delivered_ours, 1);
    assert_int_equal(s_store(&r, 7)->fee_ours_cents, 500);
    reconcile_result_free(&r);
}

static void test_cancels(void **state)
{
    (void)state;
    reconcile_ours_t ours[] = {
        s_ours("c-ok:1", 7, C, 200, true),
        s_ours("c-fee:1", 7, C, 0, true),        /* we know no fee; they charge 300 */
        s_ours("c-here-del:1", 7, D, 500, true), /* delivered here, cancelled there */
        s_ours("c-unbilled:1", 7, C, 0, true),   /* a cancel they do not list: fine */
    };
    adapter_settlement_line_t theirs[] = {
        s_line("c-ok:1", 7, false, 200), s_line("c-fee:1", 7, false, 300),
        s_line("c-here-del:1", 7, false, 0), s_line("c-ghost:1", 7, false, 100),
    };
    reconcile_result_t r;
    assert_true(reconcile_compare(ours, 4, theirs, 4, &r));
    assert_int_equal(r.item_count, 3);
    assert_int_equal(r.kind_count[RECONCILE_FEE_MISMATCH], 1);
    assert_int_equal(r.kind_count[RECONCILE_MISSING_THERE], 1);
    assert_int_equal(r.kind_count[RECONCILE_MISSING_HERE], 1);
    assert_string_equal(r.items[0].key, "c-ghost:1");
    assert_string_equal(r.items[0].detail, "a cancel charged there, never dispatched here");
    assert_string_equal(r.items[1].key, "c-here-del:1");
    assert_string_equal(r.items[1].detail, "delivered here, CANCELLED there");
    assert_string_equal(r.items[2].key, "c-fee:1");
    assert_false(r.items[2].has_our_fee);
    assert_int_equal(s_store(&r, 7)->delivered_theirs, 0);
    assert_int_equal(s_store(&r, 7)->delivered_ours, 1);
    reconcile_result_free(&r);
}

/* The daemon records a cancel's fee as the platform said it: 0 for a free
 * one, which matches a 0 line (it used to keep the delivery fee and every
 * such cancel was a FEE_MISMATCH); NULL when the platform never said, which
 * matches a 0 line and is reported, saying so, against a charge. */
static void test_cancel_fees_said(void **state)
{
    (void)state;
    reconcile_ours_t ours[] = {
        s_ours("free:1", 7, C, 0, true), s_ours("half:1", 7, C, 325, true),
        s_ours("unsaid-0:1", 7, C, 0, true), s_ours("unsaid-fee:1", 7, C, 0, true),
        s_ours("free-charged:1", 7, C, 0, true),
    };
    ours[0].has_fee = ours[4].has_fee = true;   /* said: free */
    adapter_settlement_line_t theirs[] = {
        s_line("free:1", 7, false, 0), s_line("half:1", 7, false, 325),
        s_line("unsaid-0:1", 7, false, 0), s_line("unsaid-fee:1", 7, false, 150),
        s_line("free-charged:1", 7, false, 150),
    };
    reconcile_result_t r;
    assert_true(reconcile_compare(ours, 5, theirs, 5, &r));
    assert_int_equal(r.item_count, 2);
    assert_int_equal(r.kind_count[RECONCILE_FEE_MISMATCH], 2);
    assert_string_equal(r.items[0].key, "free-charged:1");
    assert_string_equal(r.items[0].detail, "cancelled: +150 cents there");
    assert_true(r.items[0].has_our_fee);
    assert_int_equal(r.items[0].our_fee_cents, 0);
    assert_string_equal(r.items[1].key, "unsaid-fee:1");
    assert_string_equal(r.items[1].detail,
                        "cancelled: +150 cents there; the platform never said a cancel fee");
    assert_false(r.items[1].has_our_fee);
    assert_int_equal(s_store(&r, 7)->fee_ours_cents, 325);
    assert_int_equal(s_store(&r, 7)->fee_theirs_cents, 625);
    reconcile_result_free(&r);
}

static void test_empty(void **state)
{
    (void)state;
    reconcile_result_t r;
    assert_true(reconcile_compare(NULL, 0, NULL, 0, &r));
    assert_int_equal(r.item_count, 0);
    assert_int_equal(r.total_count, 0);
    reconcile_result_free(&r);

    reconcile_ours_t ours[] = { s_ours("a:1", 7, D, 500, true), s_ours("b:1", 7, D, 500, true) };
    assert_true(reconcile_compare(ours, 2, NULL, 0, &r));
    assert_int_equal(r.kind_count[RECONCILE_MISSING_THERE], 2);
    reconcile_result_free(&r);

    adapter_settlement_line_t theirs[] = { s_line("a:1", 7, true, 500),
                                           s_line("a:1", 7, true, 500),
                                           s_line("a:1", 7, true, 500) };
    assert_true(reconcile_compare(NULL, 0, theirs, 3, &r));
    assert_int_equal(r.kind_count[RECONCILE_MISSING_HERE], 1);
    assert_int_equal(r.kind_count[RECONCILE_DUPLICATE_CHARGE], 2);
    assert_string_equal(r.items[1].detail, "listed 3 times");
    assert_int_equal(s_store(&r, 7)->delivered_theirs, 1);
    assert_int_equal(s_store(&r, 7)->fee_theirs_cents, 1500);
    reconcile_result_free(&r);
}

static void test_kind_names(void **state)
{
    (void)state;
    assert_string_equal(reconcile_kind_name(RECONCILE_MISSING_HERE), "MISSING_HERE");
    assert_string_equal(reconcile_kind_name(RECONCILE_MISSING_THERE), "MISSING_THERE");
    assert_string_equal(reconcile_kind_name(RECONCILE_FEE_MISMATCH), "FEE_MISMATCH");
    assert_string_equal(reconcile_kind_name(RECONCILE_DUPLICATE_CHARGE), "DUPLICATE_CHARGE");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_day),
        cmocka_unit_test(test_each_kind),
        cmocka_unit_test(test_midnight_is_one_delivery),
        cmocka_unit_test(test_cancels),
        cmocka_unit_test(test_cancel_fees_said),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_kind_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
