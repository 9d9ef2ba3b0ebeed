/* test_config_restart.c - unit tests for config_restart_changes
 * (daemon/config_restart.c): a reload that changes a key marked restart in
 * the key table is told, one line per key with both values; live keys are
 * not; a password never shows. Configs are real files read by config_load. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit_tmp.h"
#include "config.h"

#include <grp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TAIL " cannot change on reload; restart sluiced to apply it\n"

#define MEITUAN "name = \"meituan\"; adapter = \"zmq\"; endpoint = \"tcp://127.0.0.1:7601\";"
#define JD "name = \"jd\"; adapter = \"zmq\"; endpoint = \"tcp://127.0.0.1:7602\";"
#define PLATFORMS "{ " MEITUAN " }, { " JD " }"

#define STORE(id, slots)                                                              \
    "{ id = " #id "; brand = \"heytea\"; location = [30.27, 120.03]; prep_slots = " #slots \
    "; item_seconds = 60; max_wait_minutes = 40; platforms = [\"meituan\"]; }"

#define BRANDS_STORES                                                               \
    "brands = ( { name = \"heytea\"; orders_per_second = 5000; } );\n"                \
    "stores = ( " STORE(1, 4) " );\n"

struct fixture {
    char dir[64];
    int files;
};

static int s_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    if (!unit_tmp_template(f->dir, sizeof f->dir, "sluice-test-restart") || !mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    struct fixture *f = *state;
    char path[128];
    for (int i = 0; i < f->files; i++) {
        snprintf(path, sizeof path, "%s/%d.conf", f->dir, i);
        unlink(path);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* s_load writes a config of DAEMON (the daemon group's inside), PLATFORMS
 * (the platforms list's inside) and REST (further top-level settings) to a
 * file only its owner reads (a password is allowed there), and loads it. */
static config_t *s_load(struct fixture *f, const char *daemon, const char *platforms,
                        const char *rest)
{
    char path[128], *errors = NULL;
    snprintf(path, sizeof path, "%s/%d.conf", f->dir, f->files++);
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    fprintf(out, "daemon = { %s };\nplatforms = ( %s );\n%s", daemon, platforms, rest);
    assert_int_equal(fclose(out), 0);
    assert_int_equal(chmod(path, 0600), 0);
    config_t *cfg = config_load(path, &errors);
    if (!cfg)
        print_error("%s", errors);
    assert_non_null(cfg);
    free(errors);
    return cfg;
}

/* s_expect checks what config_restart_changes says from CUR to NEXT: WANT,
 * or nothing when WANT is NULL. */
static void s_expect(const config_t *cur, const config_t *next, const char *want)
{
    char why[4096];
    memset(why, 'x', sizeof why);
    bool changed = config_restart_changes(cur, next, why, sizeof why);
    if (!want) {
        if (changed || why[0])
            print_error("expected no restart change, got:\n%s", why);
        assert_false(changed);
        assert_string_equal(why, "");
        return;
    }
    if (!changed || strcmp(why, want) != 0)
        print_error("expected:\n%sgot (%s):\n%s", want, changed ? "true" : "false", why);
    assert_true(changed);
    assert_string_equal(why, want);
}

/* s_daemon_change loads a config with the daemon group FROM, one with TO,
 * and expects WANT from the first to the second. */
static void s_daemon_change(struct fixture *f, const char *from, const char *to, const char *want)
{
    config_t *cur = s_load(f, from, PLATFORMS, BRANDS_STORES);
    config_t *next = s_load(f, to, PLATFORMS, BRANDS_STORES);
    s_expect(cur, next, want);
    config_destroy(&cur);
    config_destroy(&next);
}

/* ------------------------------------------------------------------ tests */

/* Each restart key of the daemon group, changed alone, is one line naming
 * it with both values. */
static void test_each_daemon_key_alone(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *from, *to, *want;
    } cases[] = {
        { "database = \"host=/run/postgresql dbname=sluice\";",
          "database = \"host=/run/postgresql dbname=other\";",
          "daemon.database: \"host=/run/postgresql dbname=sluice\" -> "
          "\"host=/run/postgresql dbname=other\"" TAIL },
        { "ingress = \"tcp://127.0.0.1:7400\";", "ingress = \"tcp://127.0.0.1:7500\";",
          "daemon.ingress: \"tcp://127.0.0.1:7400\" -> \"tcp://127.0.0.1:7500\"" TAIL },
        { "", "events = \"tcp://127.0.0.1:7402\";",
          "daemon.events: \"tcp://127.0.0.1:7401\" -> \"tcp://127.0.0.1:7402\"" TAIL },
        { "", "control = \"ipc:///tmp/sluice-test/control.sock\";",
          "daemon.control: \"ipc:///run/sluice/control.sock\" -> "
          "\"ipc:///tmp/sluice-test/control.sock\"" TAIL },
        { "", "control_readonly = \"none\";",
          "daemon.control_readonly: \"\" -> \"none\"" TAIL },
        { "http = \"127.0.0.1:9464\";", "http = \"127.0.0.1:9465\";",
          "daemon.http: \"127.0.0.1:9464\" -> \"127.0.0.1:9465\"" TAIL },
        { "", "max_message_bytes = 131072;",
          "daemon.max_message_bytes: 65536 -> 131072" TAIL },
        { "db_connections = 2;", "db_connections = 4;",
          "daemon.db_connections: 2 -> 4" TAIL },
        { "", "commit_batch_max = 500;", "daemon.commit_batch_max: 2000 -> 500" TAIL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        s_daemon_change(f, cases[i].from, cases[i].to, cases[i].want);

    /* control_group must name a group of this machine: the test's own */
    const struct group *g = getgrgid(getegid());
    assert_non_null(g);
    char to[128], want[256];
    snprintf(to, sizeof to, "control_group = \"%s\";", g->gr_name);
    snprintf(want, sizeof want, "daemon.control_group: \"\" -> \"%s\"" TAIL, g->gr_name);
    s_daemon_change(f, "", to, want);

    /* CURVE needs key files to load; the check reads only the struct */
    config_t *cur = s_load(f, "", PLATFORMS, BRANDS_STORES);
    config_t *next = s_load(f, "", PLATFORMS, BRANDS_STORES);
    free(next->daemon.curve_secret_key_file);
    next->daemon.curve_secret_key_file = strdup("/etc/sluice/curve.key");
    assert_non_null(next->daemon.curve_secret_key_file);
    s_expect(cur, next, "daemon.curve.secret_key_file: \"\" -> \"/etc/sluice/curve.key\"" TAIL);
    config_destroy(&cur);
    config_destroy(&next);
}

/* Live keys may change: nothing is said, whatever else changed with them. */
static void test_live_keys_not_reported(void **state)
{
    struct fixture *f = *state;
    config_t *cur = s_load(f, "", PLATFORMS, BRANDS_STORES);
    config_t *same = s_load(f, "", PLATFORMS, BRANDS_STORES);
    s_expect(cur, same, NULL);
    config_t *next = s_load(f,
                            "limits = { orders_per_second = 100; queue_delay_ms = 20; };"
                            "max_pending_orders = 10; reconnect_min_ms = 50; paused_retry_ms = 1;",
                            PLATFORMS,
                            "dispatch = { margin_seconds = 5; rider_kmh = 20.5; };\n"
                            "brands = ( { name = \"heytea\"; orders_per_second = 7; },"
                            "           { name = \"chagee\"; orders_per_second = 9; } );\n"
                            "stores = ( " STORE(1, 9) ", " STORE(2, 1) " );\n");
    free(next->daemon.curve_client_keys_file); /* read again on reload */
    next->daemon.curve_client_keys_file = strdup("/etc/sluice/clients.keys");
    assert_non_null(next->daemon.curve_client_keys_file);
    s_expect(cur, next, NULL);
    config_destroy(&cur);
    config_destroy(&same);
    config_destroy(&next);
}

/* A platform's field is named with the platform's index in the list. */
static void test_platform_field_named_with_index(void **state)
{
    struct fixture *f = *state;
    config_t *cur = s_load(f, "", PLATFORMS, BRANDS_STORES);
    config_t *next = s_load(f, "", "{ " MEITUAN " }, { " JD " timeout_ms = 900; }", BRANDS_STORES);
    s_expect(cur, next, "platforms[1].timeout_ms: 800 -> 900" TAIL);
    config_destroy(&next);

    next = s_load(f, "",
                  "{ name = \"meituan\"; adapter = \"zmq\"; endpoint = \"tcp://127.0.0.1:7611\";"
                  "  breaker = { failure_ratio = 0.25; window_seconds = 30; }; },"
                  "{ " JD " }",
                  BRANDS_STORES);
    s_expect(cur, next,
             "platforms[0].endpoint: \"tcp://127.0.0.1:7601\" -> \"tcp://127.0.0.1:7611\"" TAIL
             "platforms[0].breaker.failure_ratio: 0.5 -> 0.25" TAIL
             "platforms[0].breaker.window_seconds: 10 -> 30" TAIL);
    config_destroy(&cur);
    config_destroy(&next);
}

/* Platforms added, removed or reordered: one line with both lists of
 * names, and no per-field lines about elements that are other platforms. */
static void test_platform_list_changed(void **state)
{
    struct fixture *f = *state;
    config_t *cur = s_load(f, "", PLATFORMS, BRANDS_STORES);
    config_t *added = s_load(f, "",
                             PLATFORMS ", { name = \"eleme\"; adapter = \"zmq\";"
                                       "    endpoint = \"tcp://127.0.0.1:7603\"; }",
                             BRANDS_STORES);
    s_expect(cur, added,
             "platforms: [\"meituan\", \"jd\"] -> [\"meituan\", \"jd\", \"eleme\"]" TAIL);
    s_expect(added, cur,
             "platforms: [\"meituan\", \"jd\", \"eleme\"] -> [\"meituan\", \"jd\"]" TAIL);
    config_t *swapped = s_load(f, "", "{ " JD " }, { " MEITUAN " timeout_ms = 100; }",
                               BRANDS_STORES);
    s_expect(cur, swapped, "platforms: [\"meituan\", \"jd\"] -> [\"jd\", \"meituan\"]" TAIL);
    config_destroy(&cur);
    config_destroy(&added);
    config_destroy(&swapped);
}

/* Two restart keys changed: two lines, in the table's order. */
static void test_two_keys_two_lines(void **state)
{
    struct fixture *f = *state;
    s_daemon_change(f, "",
                    "http = \"127.0.0.1:9470\"; limits = { orders_per_second = 5; };"
                    "ingress = \"ipc:///tmp/sluice-test/ingress\";",
                    "daemon.ingress: \"tcp://127.0.0.1:7400\" -> "
                    "\"ipc:///tmp/sluice-test/ingress\"" TAIL
                    "daemon.http: \"127.0.0.1:9464\" -> \"127.0.0.1:9470\"" TAIL);
}

/* A password in daemon.database never shows: in a keyword/value string
 * (quoted or not) and in a URI; a change of the password alone still
 * counts, and says so. */
static void test_password_masked(void **state)
{
    struct fixture *f = *state;
    s_daemon_change(f, "database = \"host=db password=hunter2 dbname=sluice\";",
                    "database = \"host=db password = 'hunter 3' dbname=other\";",
                    "daemon.database: \"host=db password=*** dbname=sluice\" -> "
                    "\"host=db password = '***' dbname=other\"" TAIL);
    s_daemon_change(f, "database = \"host=db password=hunter2 dbname=sluice\";",
                    "database = \"host=db password=hunter3 dbname=sluice\";",
                    "daemon.database: \"host=db password=*** dbname=sluice\" -> "
                    "\"host=db password=*** dbname=sluice\" (the password differs)" TAIL);
    s_daemon_change(f, "database = \"postgresql://sluice:hunter2@db:5432/sluice\";",
                    "database = \"postgres://sluice@db/sluice?password=hunter3&sslmode=require\";",
                    "daemon.database: \"postgresql://sluice:***@db:5432/sluice\" -> "
                    "\"postgres://sluice@db/sluice?password=***&sslmode=require\"" TAIL);
}

/* WHY too small for every line: whole lines only, then how many are left
 * out; nothing is written past LEN. */
static void test_why_too_small(void **state)
{
    struct fixture *f = *state;
    config_t *cur = s_load(f, "", PLATFORMS, BRANDS_STORES);
    config_t *next = s_load(f,
                            "ingress = \"tcp://127.0.0.1:7500\"; events = \"tcp://127.0.0.1:7501\";"
                            "http = \"127.0.0.1:9470\"; db_connections = 3;",
                            PLATFORMS, BRANDS_STORES);
    char why[200];
    memset(why, 'x', sizeof why);
    assert_true(config_restart_changes(cur, next, why, 120 + 80));
    assert_string_equal(why,
                        "daemon.ingress: \"tcp://127.0.0.1:7400\" -> \"tcp://127.0.0.1:7500\"" TAIL
                        "... and 3 more that cannot change on reload\n");
    char tiny[8];
    assert_true(config_restart_changes(cur, next, tiny, sizeof tiny));
    assert_true(strlen(tiny) < sizeof tiny);
    assert_true(config_restart_changes(cur, next, NULL, 0));
    config_destroy(&cur);
    config_destroy(&next);
}

/* --config-keys says which keys need a restart, in its last column. */
static void test_keys_doc_says_apply(void **state)
{
    (void)state;
    char *doc = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&doc, &len);
    assert_non_null(out);
    config_print_keys(out);
    fclose(out);
    assert_non_null(strstr(doc, "| meaning | apply |\n"));
    assert_non_null(strstr(doc, "| `daemon.ingress` | string |"));
    assert_non_null(strstr(doc, "ZeroMQ ROUTER endpoint where orders arrive | restart |\n"));
    assert_non_null(strstr(doc, "| `platforms.[].breaker.open_seconds` | int |"));
    assert_non_null(strstr(doc, "before a half-open probe | restart |\n"));
    assert_non_null(strstr(doc, "orders past it get OVERLOADED | live |\n"));
    size_t restart = 0;
    for (const char *at = doc; (at = strstr(at, "| restart |\n")) != NULL; at++)
        restart++;
    assert_int_equal(restart, 15 + 11); /* the daemon's (4 of them its shard's) and every platform key */
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_each_daemon_key_alone, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_live_keys_not_reported, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_platform_field_named_with_index, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_platform_list_changed, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_two_keys_two_lines, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_password_masked, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_why_too_small, s_setup, s_teardown),
        cmocka_unit_test(test_keys_doc_says_apply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
