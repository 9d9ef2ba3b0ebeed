/* test_ctl_json.c - sluicectl's JSON writer (tools/sluicectl/ctl_json.c): string
 * escapes (quote, backslash, every control character, DEL; UTF-8 as it is),
 * commas between members and elements at any depth, null for NULL text, one
 * line per top-level value. Output goes to a memory stream and is compared
 * byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../tools/sluicectl/ctl_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct mem {
    char *buf;
    size_t len;
    FILE *f;
} mem_t;

static void s_open(mem_t *m)
{
    m->buf = NULL;
    m->len = 0;
    m->f = open_memstream(&m->buf, &m->len);
    assert_non_null(m->f);
}

static const char *s_text(mem_t *m)
{
    fflush(m->f);
    return m->buf;
}

static void s_close(mem_t *m)
{
    fclose(m->f);
    free(m->buf);
}

static void test_escape(void **state)
{
    (void)state;
    mem_t m;
    s_open(&m);
    ctl_json_escape(m.f, "a\"b\\c/d");
    assert_string_equal(s_text(&m), "\"a\\\"b\\\\c/d\"");
    s_close(&m);

    s_open(&m);
    ctl_json_escape(m.f, "\b\f\n\r\t");
    assert_string_equal(s_text(&m), "\"\\b\\f\\n\\r\\t\"");
    s_close(&m);

    /* every other control character, and DEL, as \u00XX */
    char in[40];
    size_t n = 0;
    for (int c = 1; c < 0x20; c++)
        if (!strchr("\b\f\n\r\t", c))
            in[n++] = (char)c;
    in[n++] = 0x7f;
    in[n] = '\0';
    s_open(&m);
    ctl_json_escape(m.f, in);
    char want[256] = "\"";
    for (size_t i = 0; i < n; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "\\u%04x", (unsigned char)in[i]);
    strcat(want, "\"");
    assert_string_equal(s_text(&m), want);
    s_close(&m);

    /* UTF-8 passes through untouched (PostgreSQL text in a UTF8 database) */
    s_open(&m);
    ctl_json_escape(m.f, "\xe5\x96\x9c\xe8\x8c\xb6 caf\xc3\xa9");
    assert_string_equal(s_text(&m), "\"\xe5\x96\x9c\xe8\x8c\xb6 caf\xc3\xa9\"");
    s_close(&m);

    s_open(&m);
    ctl_json_escape(m.f, "");
    assert_string_equal(s_text(&m), "\"\"");
    s_close(&m);
}

static void test_nesting_and_commas(void **state)
{
    (void)state;
    mem_t m;
    s_open(&m);
    ctl_json_t j;
    ctl_json_init(&j, m.f);
    ctl_json_begin_object(&j);
    ctl_json_key(&j, "source");
    ctl_json_string(&j, "postgresql");
    ctl_json_key(&j, "n");
    ctl_json_int(&j, -42);
    ctl_json_key(&j, "ok");
    ctl_json_bool(&j, true);
    ctl_json_key(&j, "none");
    ctl_json_string(&j, NULL);
    ctl_json_key(&j, "raw");
    ctl_json_raw(&j, "[{\"sku\": \"a\", \"qty\": 2}]");
    ctl_json_key(&j, "rawnull");
    ctl_json_raw(&j, NULL);
    ctl_json_key(&j, "empty");
    ctl_json_begin_array(&j);
    ctl_json_end_array(&j);
    ctl_json_key(&j, "list");
    ctl_json_begin_array(&j);
    for (int i = 0; i < 3; i++) {
        ctl_json_begin_object(&j);
        ctl_json_key(&j, "i");
        ctl_json_int(&j, i);
        ctl_json_key(&j, "inner");
        ctl_json_begin_array(&j);
        ctl_json_int(&j, 1);
        ctl_json_null(&j);
        ctl_json_end_array(&j);
        ctl_json_end_object(&j);
    }
    ctl_json_end_array(&j);
    ctl_json_key(&j, "k\"ey");
    ctl_json_begin_object(&j);
    ctl_json_end_object(&j);
    ctl_json_end_object(&j);
    assert_string_equal(s_text(&m),
                        "{\"source\":\"postgresql\",\"n\":-42,\"ok\":true,\"none\":null,"
                        "\"raw\":[{\"sku\": \"a\", \"qty\": 2}],\"rawnull\":null,\"empty\":[],"
                        "\"list\":[{\"i\":0,\"inner\":[1,null]},{\"i\":1,\"inner\":[1,null]},"
                        "{\"i\":2,\"inner\":[1,null]}],\"k\\\"ey\":{}}\n");
    s_close(&m);
}

static void test_top_level_values_one_per_line(void **state)
{
    (void)state;
    mem_t m;
    s_open(&m);
    ctl_json_t j;
    ctl_json_init(&j, m.f);
    ctl_json_begin_array(&j);
    ctl_json_string(&j, "a");
    ctl_json_end_array(&j);
    ctl_json_begin_object(&j);
    ctl_json_end_object(&j);
    assert_string_equal(s_text(&m), "[\"a\"]\n{}\n");
    s_close(&m);
}

/* Doubles: six significant digits; no JSON word for NaN or infinity: null. */
static void test_doubles(void **state)
{
    (void)state;
    mem_t m;
    s_open(&m);
    ctl_json_t j;
    ctl_json_init(&j, m.f);
    ctl_json_begin_array(&j);
    ctl_json_double(&j, 0);
    ctl_json_double(&j, 0.25);
    ctl_json_double(&j, 2500);
    ctl_json_double(&j, 1.0 / 3.0);
    ctl_json_double(&j, HUGE_VAL);
    ctl_json_double(&j, -HUGE_VAL);
    ctl_json_double(&j, NAN);
    ctl_json_end_array(&j);
    assert_string_equal(s_text(&m), "[0,0.25,2500,0.333333,null,null,null]\n");
    s_close(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_doubles),
        cmocka_unit_test(test_nesting_and_commas),
        cmocka_unit_test(test_top_level_values_one_per_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
