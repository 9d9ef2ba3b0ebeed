/* test_ctl_config.c - what sluicectl still reads of a config file that does
 * not load (tools/sluicectl/ctl_config.c): daemon.control,
 * daemon.control_readonly and daemon.database as libconfig would read them
 * (comments of every kind, ':' or '=', strings joined and unescaped, groups
 * inside the daemon section and settings of the same names elsewhere left
 * alone), whatever is broken around them; the built-in defaults for what is
 * not there; and the JSON error object of a failed run (ctl_error.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../tools/sluicectl/ctl_config.h"
#include "../../tools/sluicectl/ctl_error.h"
#include "unit_tmp.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct found {
    char *control, *readonly, *database;
    size_t n;
} found_t;

static found_t s_read(const char *text)
{
    found_t f = { 0 };
    f.n = ctl_config_daemon_settings(text, strlen(text), &f.control, &f.readonly, &f.database);
    return f;
}

static void s_free(found_t *f)
{
    free(f->control);
    free(f->readonly);
    free(f->database);
}

static void test_settings_found(void **state)
{
    (void)state;
    found_t f = s_read(
        "# the node's config\n"
        "control = \"ipc:///wrong/top-level.sock\";\n"
        "stores = ( { id = 1; daemon = { control = \"ipc:///wrong/inner.sock\"; }; } );\n"
        "daemon :\n"
        "{\n"
        "  // where sluicectl finds us\n"
        "  limits = { control = \"ipc:///wrong/limits.sock\"; orders_per_second = 10; };\n"
        "  control = \"ipc:///run/sluice/\" /* joined */ \"control.sock\";\n"
        "  database: \"host=/run/postgresql \\\"quoted\\\" dbname=sluice\\x21\",\n"
        "  max_message_bytes = 65536;\n"
        "};\n"
        "stores = ( { id = 2 prep_slots = 1; } );   # a typo: a missing ';'\n");
    assert_int_equal(f.n, 2);
    assert_string_equal(f.control, "ipc:///run/sluice/control.sock");
    assert_string_equal(f.database, "host=/run/postgresql \"quoted\" dbname=sluice!");
    assert_null(f.readonly);
    s_free(&f);

    /* the typo inside the daemon section, after what we want */
    f = s_read("daemon = { control_readonly = \"\"; control = \"ipc:///x/c.sock\"; "
               "max_message_bytes = ; database = 7; };");
    assert_int_equal(f.n, 2);
    assert_string_equal(f.readonly, "");
    assert_string_equal(f.control, "ipc:///x/c.sock");
    assert_null(f.database);   /* not a string */
    s_free(&f);
}

static void test_nothing_to_find(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "",
        "stores = ( );\n",
        "dispatch = { control = \"ipc:///no.sock\"; };\n",
        "daemon = \"not a group\"; control = \"ipc:///no.sock\";\n",
        "x = \"an unterminated string; daemon = { control = \"ipc:///no.sock\"; };\n",
        "/* an unterminated comment daemon = { control = \"ipc:///no.sock\"; };\n",
        "@include \"daemon.conf\"\n",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        found_t f = s_read(texts[i]);
        if (f.n != 0 || f.control != NULL)
            fail_msg("text %zu: found %zu settings", i, f.n);
        s_free(&f);
    }
}

static void test_fallback_with_defaults(void **state)
{
    (void)state;
    char path[4096];
    assert_true(unit_tmp_template(path, sizeof path, "test_ctl_config"));
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static const char text[] = "daemon = { control = \"ipc:///tmp/t/control.sock\"; \n"
                               "stores = ( { id = 1; } ";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    ctl_fallback_t fb;
    assert_true(ctl_config_fallback(path, &fb));
    assert_string_equal(fb.daemon.control, "ipc:///tmp/t/control.sock");
    assert_string_equal(fb.daemon.database, "host=/run/postgresql dbname=sluice");  /* default */
    assert_string_equal(fb.daemon.control_readonly, "");
    assert_null(fb.database);
    ctl_config_fallback_clear(&fb);
    ctl_config_fallback_clear(&fb);  /* twice is fine */
    unlink(path);
    /* no file at all: the defaults */
    assert_true(ctl_config_fallback(path, &fb));
    assert_string_equal(fb.daemon.control, "ipc:///run/sluice/control.sock");
    ctl_config_fallback_clear(&fb);
}

static void test_error_json(void **state)
{
    (void)state;
    assert_string_equal(ctl_error_reason(1), "not_found");
    assert_string_equal(ctl_error_reason(6), "permission_denied");
    assert_string_equal(ctl_error_reason(7), "daemon_refused");
    assert_null(ctl_error_reason(0));
    assert_null(ctl_error_reason(8));
    /* what ctl_error says on stderr is not this test's: /dev/null meanwhile */
    fflush(stderr);
    int saved = dup(STDERR_FILENO), null = open("/dev/null", O_WRONLY);
    assert_true(saved >= 0 && null >= 0);
    dup2(null, STDERR_FILENO);
    close(null);
    ctl_error("no order %s in PostgreSQL\n(a \"second\" line)", "x-1");
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    ctl_error_json(out, 1);
    fclose(out);
    assert_string_equal(text, "{\"error\":{\"exit\":1,\"reason\":\"not_found\",\"message\":"
                              "\"no order x-1 in PostgreSQL\\n(a \\\"second\\\" line)\"}}\n");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settings_found),
        cmocka_unit_test(test_nothing_to_find),
        cmocka_unit_test(test_fallback_with_defaults),
        cmocka_unit_test(test_error_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
