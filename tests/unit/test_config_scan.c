/* test_config_scan.c - unit tests for daemon/config_scan.c: where @include
 * directives are, and where a list's inside may be cut, by libconfig's
 * lexical rules (strings, comments, include lines). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config_scan.h"

#include <stdio.h>
#include <string.h>

struct found {
    char names[8][64];
    char keys[8][64];
    unsigned lines[8];
    int count;
};

static bool s_found(void *arg, const config_scan_include_t *inc)
{
    struct found *f = arg;
    if (f->count == 8)
        return false;
    snprintf(f->names[f->count], sizeof f->names[0], "%.*s", inc->name ? (int)inc->name_len : 4,
             inc->name ? inc->name : "NULL");
    snprintf(f->keys[f->count], sizeof f->keys[0], "%s", inc->key);
    f->lines[f->count] = inc->line;
    f->count++;
    return true;
}

static void test_includes(void **state)
{
    (void)state;
    const char *text =
        "# @include \"comment.cfg\"\n"               /* 1: a comment */
        "/* block\n@include \"block.cfg\"\n*/\n"     /* 2-4: inside a block comment */
        "name = \"a string\n@include \\\"str.cfg\\\"\n\";\n" /* 5-7: inside a string */
        "x = 1; @include \"midline.cfg\"\n"          /* 8: not at the start of a line */
        "brands = (\n"                               /* 9 */
        "  @include \"brands.cfg\"\n"                /* 10 */
        ");\n"
        "stores = (\n"                               /* 12 */
        "  { id = 1; name = \"(\"; },\n"
        "\t@include \"a.cfg\"  ,\n"                  /* 14 */
        "@include \"b\\\\c.cfg\"\n"                  /* 15: a backslash */
        ");\n"
        "@include \"top.cfg\"\n"                     /* 17: top level */
        "daemon = { x = (\n@include \"deep.cfg\"\n); };\n"; /* 19: not a top-level list */
    struct found f = { 0 };
    assert_true(config_scan_includes(text, strlen(text), s_found, &f));
    assert_int_equal(f.count, 5);
    assert_string_equal(f.names[0], "brands.cfg");
    assert_string_equal(f.keys[0], "brands");
    assert_int_equal(f.lines[0], 10);
    assert_string_equal(f.names[1], "a.cfg");
    assert_string_equal(f.keys[1], "stores");
    assert_int_equal(f.lines[1], 14);
    assert_string_equal(f.names[2], "NULL");
    assert_string_equal(f.keys[2], "stores");
    assert_int_equal(f.lines[2], 15);
    assert_string_equal(f.names[3], "top.cfg");
    assert_string_equal(f.keys[3], "");
    assert_int_equal(f.lines[3], 17);
    assert_string_equal(f.names[4], "deep.cfg");
    assert_string_equal(f.keys[4], "");
    assert_int_equal(f.lines[4], 19);

    /* ends inside a string or a comment */
    f.count = 0;
    assert_false(config_scan_includes("a = \"x", 6, s_found, &f));
    assert_false(config_scan_includes("a = 1; /* x", 11, s_found, &f));
}

struct pieces {
    config_scan_piece_t v[64];
    int count;
};

static bool s_piece(void *arg, const config_scan_piece_t *piece)
{
    struct pieces *ps = arg;
    if (ps->count == 64)
        return false;
    ps->v[ps->count++] = *piece;
    return true;
}

static void test_list_pieces(void **state)
{
    (void)state;
    const char *text = "{ a = 1; s = \"},{\"; },\n"     /* 1: a comma and braces in a string */
                       "# a comment, with a comma\n"     /* 2 */
                       "{ b = [1, 2]; c = ( {}, {} ); }, /* x, y */ { d = 2; },\n" /* 3 */
                       "{ e = \"multi\nline, string\"; }\n"; /* 4-5 */
    struct pieces ps = { 0 };
    /* piece size 1: cut at every top-level comma */
    assert_true(config_scan_list(text, strlen(text), 1, s_piece, &ps));
    assert_int_equal(ps.count, 4);
    int lines[] = { 1, 1, 3, 3 };
    for (int i = 0; i < 4; i++) {
        assert_int_equal(ps.v[i].elements, 1);
        assert_int_equal(ps.v[i].line, lines[i]);
    }
    assert_int_equal(ps.v[0].start, 0);
    assert_int_equal(text[ps.v[0].end], ',');
    assert_int_equal(ps.v[1].start, ps.v[0].end + 1);
    assert_int_equal(ps.v[3].end, strlen(text));
    assert_true(strncmp(text + ps.v[3].start, "\n{ e =", 6) == 0);

    /* a big piece size: one piece of four elements */
    ps.count = 0;
    assert_true(config_scan_list(text, strlen(text), 1 << 20, s_piece, &ps));
    assert_int_equal(ps.count, 1);
    assert_int_equal(ps.v[0].elements, 4);
    assert_int_equal(ps.v[0].end, strlen(text));

    /* cannot be cut safely */
    static const char *const bad[] = {
        "{ a = 1; } ); x = ( { b = 2; }", /* closes the list it is in */
        "{ a = 1; }, { b = 2;",           /* leaves a bracket open */
        "{ a = \"x; }",                   /* ends in a string */
        "{ a = 1; } /* x",                /* ends in a comment */
        "{ a = 1; },\n@include \"more.cfg\"\n", /* an @include: its file could close the list */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ps.count = 0;
        assert_false(config_scan_list(bad[i], strlen(bad[i]), 1 << 20, s_piece, &ps));
    }
}

/* s_naive_has_number: config_scan_has_number the obvious way, to compare. */
static bool s_naive_has_number(const char *text, size_t len, const char *digits, size_t n)
{
    for (size_t i = 0; i + n <= len; i++) {
        if (memcmp(text + i, digits, n) != 0)
            continue;
        if (i + n < len && text[i + n] >= '0' && text[i + n] <= '9')
            continue;
        size_t b = i;
        while (b > 0 && text[b - 1] == '0')
            b--;
        if (b == 0 || text[b - 1] < '0' || text[b - 1] > '9')
            return true;
    }
    return false;
}

static void test_has_number(void **state)
{
    (void)state;
    static const struct { const char *text; bool found; } cases[] = {
        { "id = 1002;", true },
        { "1002", true },
        { "{ id = 1002 }", true },
        { "id = 01002;", true },              /* leading zeros belong to it */
        { "id = 10020; id = 11002;", false }, /* inside longer numbers */
        { "name = \"store 1002\";", true },   /* text: parsed anyway, harmless */
        { "id = 100; x = 2;", false },
        { "", false },
        /* at the very end of a text longer than one 16-byte block */
        { "{ location = [30.27, 120.03]; prep_slots = 4; id = 1002", true },
        { "{ location = [30.27, 120.03]; prep_slots = 4; id = 21002", false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool got = config_scan_has_number(cases[i].text, strlen(cases[i].text), "1002", 4);
        if (got != cases[i].found)
            fail_msg("\"%s\": %s, expected %s", cases[i].text, got ? "found" : "not found",
                     cases[i].found ? "found" : "not found");
    }
    /* the id at every offset of a 64-byte text, so that it starts in each
     * lane of a block and straddles the blocks' edges; with a digit after
     * it, never */
    char text[300];
    for (size_t at = 0; at + 5 <= 64; at++) {
        memset(text, ' ', 64);
        memcpy(text + at, "1002", 4);
        if (!config_scan_has_number(text, 64, "1002", 4))
            fail_msg("1002 at offset %zu of 64 not found", at);
        memcpy(text + at, "10021", 5);
        if (config_scan_has_number(text, 64, "1002", 4))
            fail_msg("10021 at offset %zu of 64 taken for 1002", at);
    }
    /* random text of digits and separators against the obvious way, at
     * every alignment and length: the 16-byte loop misses nothing */
    uint32_t x = 12345;
    const char *needles[] = { "7", "42", "1002", "3000000001" };
    for (int round = 0; round < 4000; round++) {
        size_t len = (size_t)(round % 299) + 1;
        for (size_t k = 0; k < len; k++) {
            x = x * 1103515245u + 12345u;
            text[k] = "0123456789 ;=0147"[(x >> 16) % 17];
        }
        for (size_t k = 0; k < sizeof needles / sizeof needles[0]; k++) {
            size_t n = strlen(needles[k]);
            bool want = s_naive_has_number(text, len, needles[k], n);
            if (config_scan_has_number(text, len, needles[k], n) != want)
                fail_msg("round %d, \"%s\" in \"%.*s\": expected %s", round, needles[k],
                         (int)len, text, want ? "found" : "not found");
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_includes),
        cmocka_unit_test(test_list_pieces),
        cmocka_unit_test(test_has_number),
    };
    return cmocka_run_group_tests_name("config_scan", tests, NULL, NULL);
}
