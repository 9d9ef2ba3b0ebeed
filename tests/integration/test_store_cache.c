/* test_store_cache.c - the parsed-store cache (daemon/config_cache.c) end to
 * end: a real sluiced with CACHE_DIRECTORY set, as systemd's CacheDirectory=
 * sets it, real PostgreSQL. The first start parses the @include'd store file
 * and writes its cache file; a restart after kill -9 takes the stores from
 * the cache; a reload of a changed file parses it and the new capacity
 * applies; a damaged cache file is parsed again, never trusted. Each step is
 * checked by what admission answers, not only by the log. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <zmq.h>

#include "harness.h"

#define S_REPLY_MS 10000
#define S_STORE 2001

static const char s_body[] =
    "brands = ( { name = \"testbrand\"; orders_per_second = 1000000; } );\n"
    "stores = (\n  @include \"cache-stores.conf\"\n);\n";

/* s_write_stores writes the included file: the probe store, and S_STORE with
 * SLOTS prep slots of ten-minute orders and a 15-minute limit, so that it
 * takes exactly SLOTS orders. */
static void s_write_stores(harness_t *h, int slots)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/cache-stores.conf", h->tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "  { id = 1001; name = \"probe\"; location = [30.27, 120.03]; prep_slots = 1000;"
            " item_seconds = 1; max_wait_minutes = 600; max_queue = 100000; },\n"
            "  { id = %d; brand = \"testbrand\"; name = \"Tea Cache\"; location = [30.27, 120.03];"
            " prep_slots = %d; item_seconds = 1; order_seconds = 600; max_wait_minutes = 15;"
            " max_queue = 100; timezone = \"Asia/Shanghai\"; }\n",
            S_STORE, slots);
    assert_int_equal(fclose(f), 0);
}

/* s_cache_file puts the one cache file's path in OUT; false when none. */
static bool s_cache_file(const char *dir, char *out, size_t len)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return false;
    bool found = false;
    for (struct dirent *e; !found && (e = readdir(d)) != NULL;)
        if (strncmp(e->d_name, "stores-", 7) == 0 && strstr(e->d_name, ".cache") != NULL &&
            strstr(e->d_name, ".tmp") == NULL)
            found = (size_t)snprintf(out, len, "%s/%s", dir, e->d_name) < len;
    closedir(d);
    return found;
}

/* s_submit sends order ID to S_STORE and returns the ack's reason
 * (REASON_NONE when accepted). */
static int s_submit(harness_t *h, const char *id)
{
    harness_client_t *c = harness_client_new(h, ZMQ_DEALER);
    harness_order_t o;
    harness_order_fill(&o, id, S_STORE);
    harness_order_set_items(&o, 1);
    Sluice__V1__Reply *r = harness_submit(c, &o, S_REPLY_MS);
    if (r == NULL || r->body_case != SLUICE__V1__REPLY__BODY_ACK)
        fail_msg("order %s: no ack", id);
    int reason = r->ack->decision == SLUICE__V1__DECISION__ACCEPTED ? 0 : (int)r->ack->reason;
    harness_reply_free(&r);
    harness_client_destroy(&c);
    return reason;
}

static void s_kill_and_restart(harness_t *h)
{
    harness_signal(h, SIGKILL);
    assert_int_equal(harness_wait_exit(h, 5000), 128 + SIGKILL);
    harness_start(h);
    if (!harness_wait_ready(h, 30000))
        fail_msg("sluiced did not come back after kill -9");
}

static void test_restart_and_reload(void **state)
{
    harness_t *h = *state;
    char cache[PATH_MAX], file[PATH_MAX];
    snprintf(cache, sizeof cache, "%s/cache", h->tmpdir);
    assert_int_equal(mkdir(cache, 0700), 0);
    assert_int_equal(setenv("CACHE_DIRECTORY", cache, 1), 0);

    /* first start: `sluiced --migrate` (the unit's ExecStartPre) parses the
     * file and writes its cache file; the daemon then takes it */
    s_write_stores(h, 1);
    harness_boot_text(h, NULL, s_body);
    assert_true(harness_log_contains(
        h, "migrate: 0 stores from the store cache (0 files), 1 files parsed", false));
    assert_true(harness_log_contains(
        h, "start: 2 stores from the store cache (1 files), 0 files parsed", true));
    assert_true(s_cache_file(cache, file, sizeof file));
    assert_int_equal(s_submit(h, "sc-1"), 0);
    assert_int_equal(s_submit(h, "sc-2"), SLUICE__V1__REASON__STORE_BUSY);

    /* kill -9: the stores come from the cache, the promise still holds */
    s_kill_and_restart(h);
    assert_true(harness_log_contains(
        h, "start: 2 stores from the store cache (1 files), 0 files parsed", true));
    assert_int_equal(s_submit(h, "sc-3"), SLUICE__V1__REASON__STORE_BUSY);

    /* a merchant raises capacity: the reload parses the changed file */
    s_write_stores(h, 3);
    off_t mark = harness_log_size(h);
    harness_signal(h, SIGHUP);
    if (!harness_wait_log(h, mark, "reload: 0 stores from the store cache (0 files), 1 files "
                                   "parsed", 20000))
        fail_msg("the reload did not parse the changed store file");
    assert_int_equal(s_submit(h, "sc-4"), 0);

    /* a damaged cache file is parsed instead, and admission says 3 slots */
    struct stat st;
    assert_int_equal(stat(file, &st), 0);
    assert_int_equal(truncate(file, st.st_size / 2), 0);
    s_kill_and_restart(h);
    assert_true(harness_log_contains(
        h, "start: 0 stores from the store cache (0 files), 1 files parsed", true));
    assert_int_equal(s_submit(h, "sc-5"), 0);
    assert_int_equal(s_submit(h, "sc-6"), SLUICE__V1__REASON__STORE_BUSY);
    /* four slots by reload, then kill -9: the start takes the stores from
     * the cache file the reload wrote, so the fourth slot is there */
    s_write_stores(h, 4);
    mark = harness_log_size(h);
    harness_signal(h, SIGHUP);
    if (!harness_wait_log(h, mark, "reload: 0 stores from the store cache (0 files), 1 files "
                                   "parsed", 20000))
        fail_msg("the second reload did not parse the changed store file");
    s_kill_and_restart(h);
    assert_true(harness_log_contains(
        h, "start: 2 stores from the store cache (1 files), 0 files parsed", true));
    assert_int_equal(s_submit(h, "sc-7"), 0);
    assert_int_equal(s_submit(h, "sc-8"), SLUICE__V1__REASON__STORE_BUSY);

    assert_int_equal(harness_stop(h, 10000), 0);
    unsetenv("CACHE_DIRECTORY");
    harness_pass(h);
}

int main(void)
{
    static const harness_case_t cases[] = {
        HARNESS_CASE(test_restart_and_reload),
    };
    return harness_main("store_cache", cases, HARNESS_COUNT(cases), NULL, NULL);
}
