/* test_ctl_format.c - sluicectl's text for the daemon's figures
 * (tools/sluicectl/ctl_format.c): histogram bounds (none, ms, s, past the last
 * bucket), waits (seconds, minutes, hours, rounding), error ratios. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../tools/sluicectl/ctl_format.h"

#include <math.h>

static void test_bound(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(ctl_format_bound(0, b, sizeof b), "-");
    assert_string_equal(ctl_format_bound(0.25, b, sizeof b), "<= 0.25 ms");
    assert_string_equal(ctl_format_bound(25, b, sizeof b), "<= 25 ms");
    assert_string_equal(ctl_format_bound(1000, b, sizeof b), "<= 1 s");
    assert_string_equal(ctl_format_bound(2500, b, sizeof b), "<= 2.5 s");
    assert_string_equal(ctl_format_bound(INFINITY, b, sizeof b), "> 10 s");
    /* a short buffer is cut, never overrun */
    char tiny[4];
    assert_string_equal(ctl_format_bound(25, tiny, sizeof tiny), "<= ");
}

static void test_wait(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(ctl_format_wait(0, b, sizeof b), "0 s");
    assert_string_equal(ctl_format_wait(499, b, sizeof b), "0 s");
    assert_string_equal(ctl_format_wait(500, b, sizeof b), "1 s");
    assert_string_equal(ctl_format_wait(59499, b, sizeof b), "59 s");
    assert_string_equal(ctl_format_wait(60000, b, sizeof b), "1 min 00 s");
    assert_string_equal(ctl_format_wait(1203000, b, sizeof b), "20 min 03 s");
    assert_string_equal(ctl_format_wait(3599000, b, sizeof b), "59 min 59 s");
    assert_string_equal(ctl_format_wait(3600000, b, sizeof b), "1 h 00 min");
    assert_string_equal(ctl_format_wait(7380000, b, sizeof b), "2 h 03 min");
}

static void test_ratio(void **state)
{
    (void)state;
    char b[48];
    assert_string_equal(ctl_format_ratio(0, 0, b, sizeof b), "- (no requests)");
    assert_string_equal(ctl_format_ratio(0, 20, b, sizeof b), "0.00 (0 of 20)");
    assert_string_equal(ctl_format_ratio(5, 20, b, sizeof b), "0.25 (5 of 20)");
    assert_string_equal(ctl_format_ratio(3, 3, b, sizeof b), "1.00 (3 of 3)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bound),
        cmocka_unit_test(test_wait),
        cmocka_unit_test(test_ratio),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
