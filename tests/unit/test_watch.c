/* test_watch.c - the watch behind the avail.<store_id> events
 * (daemon/watch.c) over a real config, admission and PUB socket, on a
 * fake clock: a store is followed once touched, its first class goes out,
 * a busy store is looked at again when it frees, a change within the
 * interval is held and sent when it has passed, untouched open stores are
 * forgotten (the memory follows the stores in play), and the table of
 * followed stores finds every survivor after others were forgotten. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit_tmp.h"
#include "unit_time.h"
#include "admit.h"
#include "config.h"
#include "events.h"
#include "reload.h"
#include "store.h"
#include "watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#define SEC 1000u
#define MIN (60u * SEC)
#define HOUR (60u * MIN)
#define DAY (24u * HOUR)
#define US0 UINT64_C(5000000000)

typedef struct env {
    char dir[64];
    char path[128];
    store_table_t *stores;
    admit_t *admit;
    reload_t *reload;          /* owns the config */
    void *zmq;
    events_t *events;
    watch_t *watch;
} env_t;

static uint64_t s_utc(int hh, int mm)
{
    return (uint64_t)unit_days_from_civil(2026, 1, 15) * DAY + (uint64_t)hh * HOUR +
           (uint64_t)mm * MIN;
}

static int s_setup(void **state)
{
    env_t *e = calloc(1, sizeof *e);
    if (!e)
        return -1;
    if (!unit_tmp_template(e->dir, sizeof e->dir, "sluice-test-watch") || !mkdtemp(e->dir)) {
        free(e);
        return -1;
    }
    *state = e;
    return 0;
}

static int s_teardown(void **state)
{
    env_t *e = *state;
    watch_destroy(&e->watch);
    events_destroy(&e->events);
    if (e->zmq)
        zmq_ctx_term(e->zmq);
    admit_destroy(&e->admit);
    store_table_destroy(&e->stores);
    reload_destroy(&e->reload);
    unlink(e->path);
    rmdir(e->dir);
    free(e);
    return 0;
}

/* s_start runs TEXT's stores with admission, a PUB socket and the watch
 * (events at most once a second per store). */
static void s_start(env_t *e, const char *text)
{
    snprintf(e->path, sizeof e->path, "%s/watch.conf", e->dir);
    FILE *out = fopen(e->path, "w");
    assert_non_null(out);
    assert_true(fputs(text, out) >= 0);
    assert_int_equal(fclose(out), 0);
    char *errors = NULL;
    config_t *cfg = config_load(e->path, &errors);
    if (!cfg)
        fail_msg("config_load failed:\n%s", errors ? errors : "(no message)");
    e->stores = store_table_new();
    assert_non_null(e->stores);
    assert_true(store_table_apply(e->stores, cfg, 0));
    e->admit = admit_new(cfg, US0);
    assert_non_null(e->admit);
    reload_targets_t rt = {.stores = e->stores, .admit = e->admit};
    e->reload = reload_new(cfg, &rt);
    assert_non_null(e->reload);
    e->zmq = zmq_ctx_new();
    assert_non_null(e->zmq);
    e->events = events_new(e->zmq, "inproc://test-watch");
    assert_non_null(e->events);
    watch_with_t with = {.admit = e->admit, .stores = e->stores, .events = e->events,
                         .interval_ms = 1000};
    e->watch = watch_new(&with);
    assert_non_null(e->watch);
}

/* s_book admits a one-drink order at store ID at NOW_MS. */
static void s_book(env_t *e, uint32_t id, uint64_t now_ms)
{
    admit_order_in_t in = {.drinks = 1, .now_ms = now_ms, .now_us = US0};
    admit_result_t r;
    assert_true(admit_order(e->admit, e->stores, store_table_find(e->stores, id), &in, &r));
}

static void test_follows_holds_and_forgets(void **state)
{
    env_t *e = *state;
    s_start(e, "stores = (\n"
               "  { id = 1; location = [0.0, 0.0]; prep_slots = 10; item_seconds = 1;"
               " max_wait_minutes = 60; },\n"
               "  { id = 2; location = [0.0, 0.0]; prep_slots = 1; item_seconds = 60;"
               " max_wait_minutes = 2; typical_drinks = 1; } );\n");
    uint64_t t0 = s_utc(10, 0);
    watch_store(e->watch, 1, t0, US0);
    assert_int_equal(watch_stats(e->watch).followed, 1);
    assert_int_equal(watch_stats(e->watch).events, 1);    /* its first class goes out */
    watch_store(e->watch, 1, t0 + 1, US0);
    assert_int_equal(watch_stats(e->watch).events, 1);    /* the same class: nothing */
    watch_store(e->watch, 999, t0, US0);                   /* not in the config */
    assert_int_equal(watch_stats(e->watch).followed, 1);
    assert_int_equal(watch_due_ms(e->watch), t0 + WATCH_IDLE_MS);   /* nothing sooner */

    /* two one-minute orders fill store 2's two-minute window: busy until
     * the first is made, at once in the feed (its first class) */
    s_book(e, 2, t0);
    s_book(e, 2, t0);
    watch_store(e->watch, 2, t0, US0);
    assert_int_equal(watch_stats(e->watch).followed, 2);
    assert_int_equal(watch_stats(e->watch).events, 2);
    assert_int_equal(watch_due_ms(e->watch), t0 + MIN);
    watch_step(e->watch, e->reload, t0 + MIN - 1, US0);
    assert_int_equal(watch_stats(e->watch).events, 2);
    watch_step(e->watch, e->reload, t0 + MIN, US0);        /* time alone: open */
    assert_int_equal(watch_stats(e->watch).events, 3);

    /* busy again within the interval: held, then sent when it has passed */
    s_book(e, 2, t0 + MIN);
    watch_store(e->watch, 2, t0 + MIN, US0);
    assert_int_equal(watch_stats(e->watch).events, 3);
    assert_int_equal(watch_due_ms(e->watch), t0 + MIN + SEC);
    watch_step(e->watch, e->reload, t0 + MIN + SEC, US0);
    assert_int_equal(watch_stats(e->watch).events, 4);

    /* store 1, open and untouched, is forgotten after WATCH_IDLE_MS; store
     * 2 is followed while busy, then forgotten once open and idle */
    watch_step(e->watch, e->reload, t0 + 1 + WATCH_IDLE_MS, US0);
    assert_int_equal(watch_stats(e->watch).followed, 1);
    uint64_t later = t0 + 2 * WATCH_IDLE_MS + 2 * MIN;
    for (uint64_t t = t0 + WATCH_IDLE_MS; t <= later; t += 30 * SEC)
        watch_step(e->watch, e->reload, t, US0);
    assert_int_equal(watch_stats(e->watch).followed, 0);
    assert_int_equal(watch_stats(e->watch).events, 5);    /* and its opening went out */
    assert_int_equal(watch_due_ms(e->watch), UINT64_MAX);
    assert_true(watch_memory_bytes(e->watch) > 0);
}

/* 300 stores followed; half of them forgotten; the rest are all still
 * found (a touch finds a followed store without looking at it), and the
 * forgotten ones are followed again when touched. */
static void test_many_stores(void **state)
{
    env_t *e = *state;
    char *text = calloc(1, 64 * 1024);
    assert_non_null(text);
    size_t n = (size_t)snprintf(text, 64 * 1024, "stores = (\n");
    for (int id = 1; id <= 300; id++)
        n += (size_t)snprintf(text + n, 64 * 1024 - n,
                              "  { id = %d; location = [0.0, 0.0]; prep_slots = 2;"
                              " item_seconds = 60; max_wait_minutes = 30; }%s\n",
                              id, id < 300 ? "," : "");
    snprintf(text + n, 64 * 1024 - n, ");\n");
    s_start(e, text);
    free(text);
    uint64_t t0 = s_utc(10, 0);
    for (uint32_t id = 1; id <= 300; id++)
        watch_store(e->watch, id, t0, US0);
    assert_int_equal(watch_stats(e->watch).followed, 300);
    assert_int_equal(watch_stats(e->watch).looks, 300);
    for (uint32_t id = 1; id <= 150; id++)
        watch_touch(e->watch, id, t0 + 5 * MIN, US0);
    assert_int_equal(watch_stats(e->watch).looks, 300);   /* all found */
    watch_step(e->watch, e->reload, t0 + WATCH_IDLE_MS, US0);
    assert_int_equal(watch_stats(e->watch).followed, 150);
    for (uint32_t id = 1; id <= 150; id++)
        watch_touch(e->watch, id, t0 + WATCH_IDLE_MS + 1, US0);
    assert_int_equal(watch_stats(e->watch).looks, 600);   /* 300 due looks, no new one */
    for (uint32_t id = 151; id <= 300; id++)
        watch_touch(e->watch, id, t0 + WATCH_IDLE_MS + 1, US0);
    assert_int_equal(watch_stats(e->watch).followed, 300);
    assert_int_equal(watch_stats(e->watch).looks, 750);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_follows_holds_and_forgets, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_many_stores, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("watch", tests, NULL, NULL);
}
