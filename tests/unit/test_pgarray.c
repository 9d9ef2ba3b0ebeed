/* test_pgarray.c - PostgreSQL array literals (base/pgarray.c): quoting of
 * '"' and '\', NULL for empty nullable text, "{}" for an empty array, and
 * growth past the first allocation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pgarray.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void test_empty_is_braces(void **state)
{
    (void)state;
    pgarray_t a = { 0 };
    assert_string_equal(pgarray_finish(&a), "{}");
    assert_string_equal(pgarray_finish(&a), "{}");  /* finishing twice: same */
    pgarray_reset(&a);
    assert_string_equal(pgarray_finish(&a), "{}");
    pgarray_free(&a);
    assert_null(a.data);
    pgarray_free(&a);
}

static void test_text_quotes_quote_and_backslash(void **state)
{
    (void)state;
    pgarray_t a = { 0 };
    assert_true(pgarray_put_text(&a, "plain", false));
    assert_true(pgarray_put_text(&a, "a \"b\" c", false));
    assert_true(pgarray_put_text(&a, "back\\slash", false));
    assert_true(pgarray_put_text(&a, "\\\"", false));
    assert_true(pgarray_put_text(&a, "{,}", false));   /* array syntax inside quotes */
    assert_true(pgarray_put_text(&a, "NULL", false));  /* the word, not SQL NULL */
    assert_string_equal(pgarray_finish(&a),
                        "{\"plain\",\"a \\\"b\\\" c\",\"back\\\\slash\",\"\\\\\\\"\",\"{,}\","
                        "\"NULL\"}");
    pgarray_free(&a);
}

static void test_nullable_empty_is_null(void **state)
{
    (void)state;
    pgarray_t a = { 0 };
    assert_true(pgarray_put_text(&a, "", true));
    assert_true(pgarray_put_text(&a, NULL, true));
    assert_true(pgarray_put_text(&a, "", false));   /* not nullable: empty string */
    assert_true(pgarray_put_text(&a, NULL, false));
    assert_true(pgarray_put_text(&a, "NULL", true)); /* text, quoted */
    assert_true(pgarray_put_text(&a, "x", true));
    assert_string_equal(pgarray_finish(&a), "{NULL,NULL,\"\",\"\",\"NULL\",\"x\"}");
    pgarray_free(&a);
}

static void test_raw_fmt_and_reset(void **state)
{
    (void)state;
    pgarray_t a = { 0 };
    assert_true(pgarray_put_fmt(&a, "%d", -7));
    assert_true(pgarray_put_raw(&a, "NULL", 4));
    assert_true(pgarray_put_fmt(&a, "%.2f", 1.5));
    assert_true(pgarray_put_fmt(&a, "%" PRIu64, UINT64_MAX));
    assert_true(pgarray_put_raw(&a, "12345", 2));   /* only N bytes */
    assert_string_equal(pgarray_finish(&a), "{-7,NULL,1.50,18446744073709551615,12}");
    /* Reset: the next literal starts afresh in the same buffer. */
    pgarray_reset(&a);
    assert_true(pgarray_put_text(&a, "again", false));
    assert_string_equal(pgarray_finish(&a), "{\"again\"}");
    pgarray_free(&a);
}

static void test_growth_keeps_every_element(void **state)
{
    (void)state;
    pgarray_t a = { 0 };
    enum { N = 20000 };
    static char expect[N * 16 + 8];
    size_t len = 0;
    expect[len++] = '{';
    for (int i = 0; i < N; i++) {
        char text[16];
        snprintf(text, sizeof text, "%d\"%d", i, i % 7);  /* every element needs quoting */
        assert_true(pgarray_put_text(&a, text, false));
        len += (size_t)snprintf(expect + len, sizeof expect - len, "%s\"%d\\\"%d\"",
                                i ? "," : "", i, i % 7);
    }
    expect[len++] = '}';
    expect[len] = '\0';
    const char *got = pgarray_finish(&a);
    assert_true(a.cap > 4096);
    assert_int_equal(strlen(got), len);
    assert_string_equal(got, expect);
    pgarray_free(&a);

    /* A single element larger than the first allocation, all of it escaped. */
    static char big[10000];
    memset(big, '\\', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_true(pgarray_put_text(&a, big, false));
    got = pgarray_finish(&a);
    assert_int_equal(strlen(got), 2 + 2 + 2 * (sizeof big - 1));
    assert_int_equal(got[0], '{');
    assert_int_equal(got[1], '"');
    for (size_t i = 2; i < 2 + 2 * (sizeof big - 1); i++)
        assert_int_equal(got[i], '\\');
    assert_string_equal(got + 2 + 2 * (sizeof big - 1), "\"}");
    pgarray_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_is_braces),
        cmocka_unit_test(test_text_quotes_quote_and_backslash),
        cmocka_unit_test(test_nullable_empty_is_null),
        cmocka_unit_test(test_raw_fmt_and_reset),
        cmocka_unit_test(test_growth_keeps_every_element),
    };
    return cmocka_run_group_tests_name("pgarray", tests, NULL, NULL);
}
