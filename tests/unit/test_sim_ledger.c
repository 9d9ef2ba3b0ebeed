/* test_sim_ledger.c - the check that no order had two live riders
 * (tools/sim/sim_ledger.c) on hand-written ledgers: a dispatch and its cancel in
 * the same millisecond of one file (the file's order decides), a hand-over
 * between two platforms in the same millisecond (the end goes first), and a
 * real double dispatch, which it must report. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../tools/sim/sim_ledger.h"
#include "unit_tmp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void s_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static long s_check(const char *a, const char *b)
{
    char pa[512], pb[512];
    assert_true(unit_tmp_template(pa, sizeof pa, "ledger-a"));
    assert_true(unit_tmp_template(pb, sizeof pb, "ledger-b"));
    int fa = mkstemp(pa), fb = mkstemp(pb);
    assert_true(fa >= 0 && fb >= 0);
    close(fa);
    close(fb);
    s_write(pa, a);
    s_write(pb, b);
    const char *paths[] = {pa, pb};
    FILE *out = fopen("/dev/null", "w");
    long bad = sim_ledger_check(paths, 2, out);
    fclose(out);
    unlink(pa);
    unlink(pb);
    return bad;
}

static void test_same_ms_dispatch_then_cancel_in_one_file(void **state)
{
    (void)state;
    /* Timed out, cancelled in the same millisecond, then attempt 2. */
    assert_int_equal(s_check("100\tdispatch\to:1\to\tr1\t900\t-\n"
                             "100\tcancelled\to:1\to\tr1\t0\tby=client timeout\n"
                             "200\tdispatch\to:2\to\tr2\t900\t-\n",
                             ""),
                     0);
}

static void test_same_ms_hand_over_between_files(void **state)
{
    (void)state;
    /* Platform A released it at 100; B got it in the same millisecond. */
    assert_int_equal(s_check("50\tdispatch\to:1\to\tr1\t900\t-\n"
                             "100\tcancelled\to:1\to\tr1\t0\tby=client timeout\n",
                             "100\tdispatch\to:2\to\tr9\t900\t-\n"),
                     0);
}

static void test_two_live_riders_reported(void **state)
{
    (void)state;
    assert_int_equal(s_check("50\tdispatch\to:1\to\tr1\t900\t-\n"
                             "300\tdelivered\to:1\to\tr1\t900\t-\n",
                             "100\tdispatch\to:2\to\tr9\t900\t-\n"
                             "60\tdispatch\tp:1\tp\tr8\t900\t-\n"),
                     1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_ms_dispatch_then_cancel_in_one_file),
        cmocka_unit_test(test_same_ms_hand_over_between_files),
        cmocka_unit_test(test_two_live_riders_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
