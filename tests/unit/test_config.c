/* test_config.c - unit tests for daemon/config*.c: the sample config, defaults,
 * one message per kind of problem, @include, and 300,000 stores. Run from the
 * repository root (the sample is packaging/sluice.conf). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* libconfig's config_t and config_destroy clash with ours: see
 * daemon/config_internal.h. */
#define config_t lc_config_t
#define config_destroy lc_config_destroy_unused
#include <libconfig.h>
#undef config_destroy
#undef config_t

#include "unit_tmp.h"
#include "unit_time.h"
#include "config.h"
#include "config_cache.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern void lc_destroy(lc_config_t *lc) __asm__("config_destroy");

#define SAMPLE "packaging/sluice.conf"
#define SHARD_SAMPLE "docs/sluice-shard.conf"

/* Brands and platforms the store snippets below refer to. */
#define PRELUDE                                                                  \
    "brands = ( { name = \"heytea\"; orders_per_second = 5000; } );\n"           \
    "platforms = (\n"                                                            \
    "  { name = \"meituan\"; adapter = \"zmq\"; endpoint = \"tcp://127.0.0.1:7601\"; },\n" \
    "  { name = \"jd\"; adapter = \"zmq\"; endpoint = \"tcp://127.0.0.1:7602\"; }\n" \
    ");\n"

/* A fleet of one shard, "a", that this node serves. */
#define SHARD_A                                                                  \
    "shards = ( { name = \"a\"; endpoints = [\"tcp://10.0.0.1:7400\"]; } );\n"    \
    "daemon = { shard = \"a\"; };\n"

#define STORE_NO_LOCATION "prep_slots = 4; item_seconds = 60; max_wait_minutes = 40;"
#define STORE_REQUIRED "location = [30.27, 120.03]; " STORE_NO_LOCATION

struct fixture {
    char dir[64];
};

static int s_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    if (!unit_tmp_template(f->dir, sizeof f->dir, "sluice-test-config") || !mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

/* s_rm_tree removes DIR, its files and its directories' files. */
static void s_rm_tree(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char path[512];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (unlink(path) != 0 && depth < 1) {
                chmod(path, 0700);
                s_rm_tree(path, depth + 1);
            }
        }
        closedir(d);
    }
    rmdir(dir);
}

static int s_teardown(void **state)
{
    struct fixture *f = *state;
    s_rm_tree(f->dir, 0);
    free(f);
    return 0;
}

/* s_write writes TEXT to DIR/NAME and puts the path in PATH. */
static void s_write(const struct fixture *f, const char *name, const char *text, char *path,
                    size_t size)
{
    snprintf(path, size, "%s/%s", f->dir, name);
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    assert_int_equal(fputs(text, out) >= 0, 1);
    assert_int_equal(fclose(out), 0);
}

/* s_line_of is the 1-based line of TEXT on which MARKER first appears. */
static int s_line_of(const char *text, const char *marker)
{
    const char *at = strstr(text, marker);
    assert_non_null(at);
    int line = 1;
    for (const char *c = text; c < at; c++)
        line += *c == '\n';
    return line;
}

/* s_load_fail loads PATH, which must fail, and returns the messages. */
static char *s_load_fail(const char *path)
{
    char *errors = NULL;
    config_t *cfg = config_load(path, &errors);
    if (cfg)
        config_destroy(&cfg);
    assert_null(cfg);
    assert_non_null(errors);
    return errors;
}

__attribute__((format(printf, 2, 3)))
static void s_expect(const char *errors, const char *fmt, ...)
{
    char want[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(want, sizeof want, fmt, ap);
    va_end(ap);
    if (!strstr(errors, want)) {
        print_error("expected the line\n  %s\nin the errors:\n%s", want, errors);
        fail();
    }
}

static size_t s_lines(const char *text)
{
    size_t n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* -------------------------------------------------------------- the sample */

static void test_sample_loads(void **state)
{
    (void)state;
    char *errors = NULL;
    config_t *cfg = config_load(SAMPLE, &errors);
    if (!cfg)
        print_error("%s", errors ? errors : "(no errors)\n");
    assert_non_null(cfg);
    assert_null(errors);

    assert_string_equal(cfg->daemon.database, "host=/run/postgresql dbname=sluice");
    assert_int_equal(cfg->daemon.limits.orders_per_second, 50000);
    assert_int_equal(cfg->dispatch.max_hold_minutes, 15);
    assert_int_equal(cfg->brand_count, 1);
    assert_string_equal(cfg->brands[0].name, "heytea");
    assert_int_equal(cfg->platform_count, 2);
    assert_string_equal(cfg->platforms[0].name, "meituan");
    assert_string_equal(cfg->platforms[1].endpoint, "tcp://127.0.0.1:7602");
    assert_true(cfg->platforms[0].breaker.failure_ratio == 0.5);
    assert_true(cfg->store_count >= 3);

    const config_store_t *s = &cfg->stores[0];
    assert_int_equal(s->id, 1001);
    assert_int_equal(s->brand, 0);
    assert_string_equal(s->name, "Heytea Xixi");
    assert_true(s->lat == 30.27 && s->lng == 120.03);
    assert_int_equal(s->open_minute, 9 * 60);
    assert_int_equal(s->close_minute, 23 * 60);
    assert_string_equal(s->timezone, "Asia/Shanghai");
    assert_int_equal(s->platform_count, 2);
    assert_int_equal(s->platforms[0], 0);
    assert_int_equal(s->platforms[1], 1);
    assert_true(s->staffing_count >= 1);
    assert_int_equal(s->staffing[0].from_minute, 11 * 60);
    assert_int_equal(s->staffing[0].to_minute, 14 * 60);
    assert_int_equal(s->staffing[0].prep_slots, 6);
    assert_true(s->line > 0);

    /* one interned copy per distinct timezone */
    assert_ptr_equal(cfg->stores[0].timezone, cfg->stores[1].timezone);
    assert_int_equal(cfg->timezone_count, 1);

    config_destroy(&cfg);
    assert_null(cfg);
    config_destroy(&cfg); /* NULL is fine */
    config_destroy(NULL);
}

/* s_has: the tree under S has the path COMPONENTS, where "[]" means "in at
 * least one element of the list". */
static bool s_has(const config_setting_t *s, char **components, size_t n)
{
    if (n == 0)
        return true;
    if (strcmp(components[0], "[]") == 0) {
        for (int i = 0; i < config_setting_length(s); i++)
            if (s_has(config_setting_get_elem(s, (unsigned)i), components + 1, n - 1))
                return true;
        return false;
    }
    if (!config_setting_is_group(s))
        return false;
    const config_setting_t *m = config_setting_get_member(s, components[0]);
    return m && s_has(m, components + 1, n - 1);
}

/* Every key is in the sample, or, for the keys that make a node part of a
 * fleet (a single node has no shards), in the shard sample. */
static void test_sample_documents_every_key(void **state)
{
    (void)state;
    lc_config_t lc, shard;
    config_init(&lc);
    config_init(&shard);
    assert_true(config_read_file(&lc, SAMPLE));
    assert_true(config_read_file(&shard, SHARD_SAMPLE));
    size_t missing = 0;
    for (size_t i = 0; i < config_key_count(); i++) {
        char path[256], *components[16];
        size_t n = 0;
        snprintf(path, sizeof path, "%s", config_key_path(i));
        for (char *save, *c = strtok_r(path, ".", &save); c && n < 16; c = strtok_r(NULL, ".", &save))
            components[n++] = c;
        if (!s_has(config_root_setting(&lc), components, n) &&
            !s_has(config_root_setting(&shard), components, n)) {
            print_error("key %s is missing from " SAMPLE " and " SHARD_SAMPLE "\n",
                        config_key_path(i));
            missing++;
        }
    }
    lc_destroy(&lc);
    lc_destroy(&shard);
    assert_int_equal(missing, 0);
}

/* The shard sample is a node of a fleet: its shard, the map, each store's
 * shard; a config without shards has none, and every store -1. */
static void test_shard_sample_loads(void **state)
{
    (void)state;
    char *errors = NULL;
    config_t *cfg = config_load(SHARD_SAMPLE, &errors);
    if (!cfg)
        print_error("%s", errors ? errors : "(no errors)\n");
    assert_non_null(cfg);
    assert_string_equal(cfg->daemon.shard, "a");
    assert_string_equal(cfg->daemon.node, "a1");
    assert_string_equal(cfg->daemon.advertise, "tcp://10.0.1.1:7400");
    assert_int_equal(cfg->daemon.lease_seconds, 6);
    assert_int_equal(cfg->shard_count, 2);
    assert_string_equal(cfg->shards[1].name, "b");
    assert_string_equal(cfg->shards[1].endpoints[0], "tcp://10.0.2.1:7400");
    assert_string_equal(cfg->shards[1].endpoints[1], "tcp://10.0.2.2:7400");
    assert_null(cfg->shards[1].endpoints[2]);
    assert_int_equal(cfg->store_count, 2);
    assert_int_equal(cfg->stores[0].shard, 0);
    assert_int_equal(cfg->stores[1].shard, 1);
    config_destroy(&cfg);

    cfg = config_load(SAMPLE, &errors);
    assert_non_null(cfg);
    assert_string_equal(cfg->daemon.shard, "");
    assert_int_equal(cfg->daemon.in_doubt_max_ms, 5000);
    assert_int_equal(cfg->shard_count, 0);
    for (size_t i = 0; i < cfg->store_count; i++)
        assert_int_equal(cfg->stores[i].shard, -1);
    config_destroy(&cfg);
}

static void test_key_table(void **state)
{
    (void)state;
    size_t n = config_key_count();
    assert_true(n > 40);
    assert_null(config_key_path(n));
    char *doc = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&doc, &len);
    assert_non_null(out);
    config_print_keys(out);
    fclose(out);
    assert_int_equal(s_lines(doc), n + 2);
    assert_non_null(strstr(doc, "| key | type | default | range | meaning |"));
    for (size_t i = 0; i < n; i++) {
        char cell[128];
        snprintf(cell, sizeof cell, "| `%s` |", config_key_path(i));
        assert_non_null(strstr(doc, cell));
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(config_key_path(i), config_key_path(j));
    }
    assert_non_null(strstr(doc, "| `daemon.limits.queue_delay_ms` | int | `50` | 1..60000 |"));
    assert_non_null(strstr(doc, "| `stores.[].prep_slots` | int | required | 1..1000 |"));
    assert_non_null(strstr(doc, "| `platforms.[].breaker.failure_ratio` | double | `0.5` | 0..1 |"));
    assert_non_null(strstr(doc, "| `stores.[].hours` | hh:mm-hh:mm hours | `\"00:00-24:00\"` |"));
    free(doc);
}

/* --------------------------------------------------------------- defaults */

static void test_defaults(void **state)
{
    char path[512], *errors = NULL;
    s_write(*state, "min.conf",
            "platforms = ( { name = \"p\"; adapter = \"zmq\"; endpoint = \"tcp://127.0.0.1:1\"; } );\n"
            "stores = ( { id = 7; " STORE_REQUIRED " } );\n",
            path, sizeof path);
    config_t *cfg = config_load(path, &errors);
    if (!cfg)
        print_error("%s", errors);
    assert_non_null(cfg);

    const config_daemon_t *d = &cfg->daemon;
    assert_string_equal(d->database, "host=/run/postgresql dbname=sluice");
    assert_string_equal(d->ingress, "tcp://127.0.0.1:7400");
    assert_string_equal(d->events, "tcp://127.0.0.1:7401");
    assert_string_equal(d->control, "ipc:///run/sluice/control.sock");
    assert_string_equal(d->http, "127.0.0.1:9464");
    assert_int_equal(d->max_message_bytes, 65536);
    assert_int_equal(d->limits.orders_per_second, 50000);
    assert_int_equal(d->limits.queue_delay_ms, 50);
    assert_int_equal(d->limits.commit_latency_ms, 250);
    assert_int_equal(d->commit_batch_max, 2000);
    assert_int_equal(d->max_pending_orders, 100000);
    assert_int_equal(d->overloaded_retry_ms, 200);
    assert_int_equal(d->unavailable_retry_ms, 1000);
    assert_int_equal(d->reconnect_min_ms, 100);
    assert_int_equal(d->reconnect_max_ms, 5000);
    assert_int_equal(d->paused_retry_ms, 60000);
    assert_int_equal(d->availability_event_ms, 1000);
    assert_int_equal(cfg->dispatch.margin_seconds, 60);
    assert_int_equal(cfg->dispatch.pickup_eta_seconds, 300);
    assert_int_equal(cfg->dispatch.assign_timeout_seconds, 120);
    assert_int_equal(cfg->dispatch.retry_seconds, 30);
    assert_int_equal(cfg->dispatch.max_hold_minutes, 15);
    assert_int_equal(cfg->brand_count, 0);
    assert_null(cfg->brands);

    const config_platform_t *p = &cfg->platforms[0];
    assert_int_equal(p->timeout_ms, 800);
    assert_int_equal(p->quote_deadline_ms, 150);
    assert_int_equal(p->max_inflight, 20000);
    assert_true(p->breaker.failure_ratio == 0.5);
    assert_int_equal(p->breaker.window_seconds, 10);
    assert_int_equal(p->breaker.slow_ms, 1500);
    assert_int_equal(p->breaker.min_requests, 20);
    assert_int_equal(p->breaker.open_seconds, 10);

    const config_store_t *s = &cfg->stores[0];
    assert_int_equal(s->id, 7);
    assert_int_equal(s->brand, -1);
    assert_string_equal(s->name, "");
    assert_int_equal(s->order_seconds, 0);
    assert_int_equal(s->max_queue, 1000);
    assert_int_equal(s->open_minute, 0);
    assert_int_equal(s->close_minute, 24 * 60);
    assert_string_equal(s->timezone, "UTC");
    assert_false(s->paused);
    assert_int_equal(s->platform_count, 0);
    assert_int_equal(s->staffing_count, 0);
    assert_int_equal(s->typical_drinks, 2);
    assert_int_equal(s->campaign_count, 0);
    assert_int_equal(cfg->campaign_count, 0);
    assert_null(cfg->campaigns);
    config_destroy(&cfg);
}

static void test_empty_file_loads(void **state)
{
    char path[512], *errors = NULL;
    s_write(*state, "empty.conf", "# nothing\n", path, sizeof path);
    config_t *cfg = config_load(path, &errors);
    assert_non_null(cfg);
    assert_int_equal(cfg->store_count, 0);
    assert_int_equal(cfg->daemon.commit_batch_max, 2000);
    assert_string_equal(cfg->path, path);
    config_destroy(&cfg);
}

static void test_values(void **state)
{
    char path[512], *errors = NULL;
    s_write(*state, "values.conf",
            PRELUDE
            "stores = (\n"
            "  { id = 4294967295L; " STORE_NO_LOCATION " hours = \"22:00-02:00\"; timezone = \"Europe/London\";\n"
            "    location = [-33.87, 151.21];\n"
            "    staffing = ( { from = \"23:00\"; to = \"01:00\"; prep_slots = 2; },\n"
            "                 { from = \"01:00\"; to = \"02:00\"; prep_slots = 1; } ); },\n"
            "  { id = 2; " STORE_REQUIRED " hours = \"06:00-24:00\"; timezone = \"Europe/London\";\n"
            "    platforms = [\"jd\"]; paused = true; brand = \"heytea\"; },\n"
            "  { id = 3; " STORE_REQUIRED " }\n"
            ");\n",
            path, sizeof path);
    config_t *cfg = config_load(path, &errors);
    if (!cfg)
        print_error("%s", errors);
    assert_non_null(cfg);
    assert_int_equal(cfg->stores[0].id, 4294967295u);
    assert_int_equal(cfg->stores[0].open_minute, 22 * 60);
    assert_int_equal(cfg->stores[0].close_minute, 2 * 60);
    assert_true(cfg->stores[0].lat == -33.87 && cfg->stores[0].lng == 151.21);
    assert_int_equal(cfg->stores[0].staffing_count, 2);
    assert_int_equal(cfg->stores[0].staffing[0].to_minute, 60);
    assert_int_equal(cfg->stores[1].close_minute, 24 * 60);
    assert_int_equal(cfg->stores[1].platform_count, 1);
    assert_int_equal(cfg->stores[1].platforms[0], 1);
    assert_true(cfg->stores[1].paused);
    assert_int_equal(cfg->stores[1].brand, 0);
    assert_ptr_equal(cfg->stores[0].timezone, cfg->stores[1].timezone);
    assert_string_equal(cfg->stores[2].timezone, "UTC");
    assert_int_equal(cfg->timezone_count, 2);
    config_destroy(&cfg);
}

/* Campaigns and a store's own shares: times with their offsets become unix
 * ms, names become indexes, omitted keys take their defaults. */
static void test_campaign_values(void **state)
{
    char path[512], *errors = NULL;
    const char *text =
            PRELUDE
            "campaigns = (\n"
            "  { name = \"free-tea\"; starts = \"2027-02-10T10:00:00+08:00\";\n"
            "    ends = \"2027-02-10T19:00-05:30\"; store_share = 0.25; orders_per_second = 2000;\n"
            "    budget = 10000000; per_store_daily = 300; paused = true; },\n"
            "  { name = \"half:price_2.0\"; orders_per_second = 7; starts = \"2027-01-01T00:00Z\"; }\n"
            ");\n"
            "stores = (\n"
            "  { id = 1; " STORE_REQUIRED " typical_drinks = 3;\n"
            "    campaigns = ( { name = \"half:price_2.0\"; store_share = 0.0; },\n"
            "                  { name = \"free-tea\"; store_share = 1; } ); },\n"
            "  { id = 2; " STORE_REQUIRED " }\n"
            ");\n";
    s_write(*state, "campaigns.conf", text, path, sizeof path);
    config_t *cfg = config_load(path, &errors);
    if (!cfg)
        print_error("%s", errors);
    assert_non_null(cfg);
    assert_int_equal(cfg->campaign_count, 2);
    const config_campaign_t *a = &cfg->campaigns[0], *b = &cfg->campaigns[1];
    int64_t day = unit_days_from_civil(2027, 2, 10);
    assert_string_equal(a->name, "free-tea");
    assert_int_equal(a->starts_ms, (day * 86400 + 2 * 3600) * 1000);
    assert_int_equal(a->ends_ms, (day * 86400 + 19 * 3600 + 5 * 3600 + 30 * 60) * 1000);
    assert_true(a->store_share == 0.25);
    assert_int_equal(a->orders_per_second, 2000);
    assert_int_equal(a->budget, 10000000);
    assert_int_equal(a->per_store_daily, 300);
    assert_true(a->paused);
    assert_int_equal(a->line, s_line_of(text, "{ name = \"free-tea\""));
    assert_string_equal(b->name, "half:price_2.0");
    assert_int_equal(b->starts_ms, unit_days_from_civil(2027, 1, 1) * 86400 * 1000);
    assert_int_equal(b->ends_ms, 0);
    assert_true(b->store_share == 0.5);
    assert_int_equal(b->budget, 0);
    assert_int_equal(b->per_store_daily, 0);
    assert_false(b->paused);
    const config_store_t *s1 = &cfg->stores[0], *s2 = &cfg->stores[1];
    assert_int_equal(s1->typical_drinks, 3);
    assert_int_equal(s1->campaign_count, 2);
    assert_int_equal(s1->campaigns[0].campaign, 1);
    assert_true(s1->campaigns[0].store_share == 0.0);
    assert_int_equal(s1->campaigns[1].campaign, 0);
    assert_true(s1->campaigns[1].store_share == 1.0);
    assert_int_equal(s2->campaign_count, 0);
    config_destroy(&cfg);
}

/* ----------------------------------------------------------------- errors */

static void test_missing_file(void **state)
{
    struct fixture *f = *state;
    char path[512];
    snprintf(path, sizeof path, "%s/nope.conf", f->dir);
    char *errors = s_load_fail(path);
    s_expect(errors, "%s: cannot read: No such file or directory\n", path);
    free(errors);
}

static void test_syntax_error(void **state)
{
    const char *text = "daemon = {\n  database = \"x\";\n  ingress = ;\n};\n";
    char path[512];
    s_write(*state, "syntax.conf", text, path, sizeof path);
    char *errors = s_load_fail(path);
    s_expect(errors, "%s:3: syntax error\n", path);
    assert_int_equal(s_lines(errors), 1);
    free(errors);
}

struct error_case {
    const char *text;   /* appended to PRELUDE */
    const char *marker; /* on the line the message names */
    const char *expect; /* the message after "FILE:LINE: " */
};

static const struct error_case s_cases[] = {
    { "stores = ( { id = 1; location = [1.0, 2.0]; item_seconds = 60; max_wait_minutes = 40;\n"
      "  prep_slots = -1; } );\n",
      "prep_slots = -1", "stores[0].prep_slots: must be between 1 and 1000 (got -1)" },
    { "stores = ( { id = 1; " STORE_REQUIRED "\n  platforms = [\"meituan\",\n \"eleme\"]; } );\n",
      "\"eleme\"", "stores[0].platforms[1]: unknown platform: not in platforms (got \"eleme\")" },
    { "stores = ( { id = 1; " STORE_REQUIRED " platforms = [\"jd\", \"jd\"]; } );\n",
      "[\"jd\", \"jd\"]", "stores[0].platforms[1]: platform listed twice (got \"jd\")" },
    { "stores = ( { id = 1; " STORE_REQUIRED " platforms = [\"jd\", \"jd\", \"jd\", \"jd\", \"jd\","
      " \"jd\", \"jd\", \"jd\", \"jd\"]; } );\n",
      "platforms = [", "stores[0].platforms: at most 8 platforms (got 9)" },
    { "stores = (\n  { id = 1001; " STORE_REQUIRED " },\n  { id = 5; " STORE_REQUIRED " },\n"
      "  { id = 1001; " STORE_REQUIRED " }\n);\n",
      "{ id = 1001; " STORE_REQUIRED " }\n", "stores[2].id: duplicate store id 1001 (first at line 7)" },
    { "stores = ( { id = 1; " STORE_REQUIRED "\n  brand = \"heyte\"; } );\n",
      "brand = \"heyte\"", "stores[0].brand: unknown brand: not in brands (got \"heyte\")" },
    { "stores = ( { id = 1; " STORE_REQUIRED "\n  hours = \"9-23\"; } );\n", "hours",
      "stores[0].hours: must be \"HH:MM-HH:MM\" with times from 00:00 to 24:00 (got \"9-23\")" },
    { "stores = ( { id = 1; " STORE_REQUIRED "\n  hours = \"10:00-10:00\"; } );\n", "hours",
      "stores[0].hours: opens and closes at the same time; \"00:00-24:00\" means always open (got \"10:00-10:00\")" },
    { "stores = ( { id = 1; " STORE_REQUIRED "\n  hours = \"09:60-23:00\"; } );\n", "hours",
      "stores[0].hours: must be \"HH:MM-HH:MM\"" },
    { "stores = ( { id = 1; " STORE_REQUIRED "\n  timezone = \"Asia/Shangai\"; } );\n", "timezone",
      "stores[0].timezone: unknown timezone: no file /usr/share/zoneinfo/Asia/Shangai (got \"Asia/Shangai\")" },
    { "stores = ( { id = 1; " STORE_REQUIRED "\n  timezone = \"../../etc/passwd\"; } );\n", "timezone",
      "stores[0].timezone: must be a zoneinfo name like \"Asia/Shanghai\" (got \"../../etc/passwd\")" },
    { "stores = ( { id = 1; " STORE_REQUIRED "\n  timezone = \"/etc/localtime\"; } );\n", "timezone",
      "stores[0].timezone: must be a zoneinfo name" },
    { "stores = ( { id = 1; " STORE_REQUIRED "\n  timezone = \"Asia\"; } );\n", "timezone",
      "stores[0].timezone: unknown timezone: no file /usr/share/zoneinfo/Asia (got \"Asia\")" },
    { "stores = ( { id = 1; location = [1.0, 2.0]; item_seconds = 60; max_wait_minutes = 40;\n"
      "  prep_slot = 4; } );\n",
      "prep_slot =", "stores[0].prep_slot: unknown key (did you mean prep_slots?)" },
    { "stores = ( { id = 1; location = [1.0, 2.0]; item_seconds = 60; max_wait_minutes = 40;\n"
      "  prep_slot = 4; } );\n",
      "stores = (", "stores[0].prep_slots: required key missing" },
    { "stores = ( { id = 1; " STORE_NO_LOCATION "\n  location = [91.0, 120.0]; } );\n",
      "location = [91.0", "stores[0].location: latitude must be between -90 and 90 (got 91)" },
    { "stores = ( { id = 1; prep_slots = 4; item_seconds = 60; max_wait_minutes = 40;\n"
      "  location = [30.0, 180.5]; } );\n",
      "location = [30.0", "stores[0].location: longitude must be between -180 and 180 (got 180.5)" },
    { "stores = ( { id = 1; prep_slots = 4; item_seconds = 60; max_wait_minutes = 40;\n"
      "  location = \"Hangzhou\"; } );\n",
      "location =", "stores[0].location: must be [latitude, longitude], e.g. [30.27, 120.03] (got \"Hangzhou\")" },
    { "stores = ( { id = 1; location = [1.0, 2.0]; item_seconds = 60; max_wait_minutes = 40;\n"
      "  prep_slots = \"4\"; } );\n",
      "prep_slots", "stores[0].prep_slots: must be an integer (got \"4\")" },
    { "stores = ( { id = 1; location = [1.0, 2.0]; item_seconds = 60; max_wait_minutes = 40;\n"
      "  prep_slots = 4.0; } );\n",
      "prep_slots", "stores[0].prep_slots: must be an integer (got 4.0)" },
    { "stores = ( { id = 1; " STORE_REQUIRED "\n  paused = 1; } );\n", "paused",
      "stores[0].paused: must be true or false (got 1)" },
    { "stores = ( { " STORE_REQUIRED "\n  id = 3000000000; } );\n", "id =",
      "stores[0].id: must be between 1 and 4294967295; libconfig wraps integers above 2147483647 "
      "unless written with an L suffix, e.g. 3000000000L (got -1294967296)" },
    { "stores = ( { " STORE_REQUIRED "\n  id = 4294967296L; } );\n", "id =",
      "stores[0].id: must be between 1 and 4294967295 (got 4294967296L)" },
    { "stores = ( { id = 1; " STORE_REQUIRED "\n  staffing = ( { from = \"11:00\"; to = \"14:00\"; prep_slots = 6; },\n"
      "  { from = \"13:00\"; to = \"15:00\"; prep_slots = 6; } ); } );\n",
      "from = \"13:00\"", "stores[0].staffing[1]: overlaps staffing[0] (got 13:00-15:00)" },
    { "stores = ( { id = 1; " STORE_REQUIRED "\n  staffing = ( { from = \"22:00\"; to = \"02:00\"; prep_slots = 6; },\n"
      "  { from = \"01:00\"; to = \"03:00\"; prep_slots = 6; } ); } );\n",
      "from = \"01:00\"", "stores[0].staffing[1]: overlaps staffing[0] (got 01:00-03:00)" },
    { "stores = ( { id = 1; " STORE_REQUIRED "\n  staffing = ( { from = \"24:00\"; to = \"02:00\"; prep_slots = 6; } ); } );\n",
      "from = \"24:00\"", "stores[0].staffing[0].from: must be \"HH:MM\" from 00:00 to 23:59 (got \"24:00\")" },
    { "stores = ( { id = 1; " STORE_REQUIRED "\n  staffing = ( { from = \"11:00\"; to = \"14:00\"; prep_slots = 0; } ); } );\n",
      "prep_slots = 0", "stores[0].staffing[0].prep_slots: must be between 1 and 1000 (got 0)" },
    { "stores = ( { id = 1; " STORE_REQUIRED "\n  staffing = ( { from = \"11:00\"; prep_slots = 2; } ); } );\n",
      "from = \"11:00\"", "stores[0].staffing[0].to: required key missing" },
    { "stores = ( { id = 1; " STORE_REQUIRED "\n  staffing = ( { from = \"11:00\"; to = \"11:00\"; prep_slots = 2; } ); } );\n",
      "from = \"11:00\"", "stores[0].staffing[0]: from and to must differ (got 11:00)" },
    { "stores = ( { id = 1; " STORE_REQUIRED "\n  staffing = ( { form = \"11:00\"; to = \"12:00\"; prep_slots = 2; } ); } );\n",
      "form =", "stores[0].staffing[0].form: unknown key (did you mean from?)" },
    { "stores = ( 5 );\n", "stores", "stores[0]: must be a group { ... } (got 5)" },
    { "stores = { id = 1; };\n", "stores", "stores: must be a list ( { ... }, { ... } ) (got a group { ... })" },
    { "deamon = { };\n", "deamon", "deamon: unknown key (did you mean daemon?)" },
    { "daemon = {\n  limits = { queue_delay_ms = 0; };\n};\n", "queue_delay_ms",
      "daemon.limits.queue_delay_ms: must be between 1 and 60000 (got 0)" },
    { "daemon = {\n  limits = { queue_delay = 10; };\n};\n", "queue_delay",
      "daemon.limits.queue_delay: unknown key (did you mean queue_delay_ms?)" },
    { "daemon = {\n  limits = 5;\n};\n", "limits", "daemon.limits: must be a group { ... } (got 5)" },
    { "daemon = {\n  max_message_bytes = 100;\n};\n", "max_message_bytes",
      "daemon.max_message_bytes: must be between 1024 and 16777216 (got 100)" },
    { "daemon = {\n  database = \"\";\n};\n", "database", "daemon.database: must not be empty (got \"\")" },
    { "daemon = {\n  reconnect_min_ms = 9000;\n};\n", "reconnect_min_ms",
      "daemon.reconnect_min_ms: must not exceed reconnect_max_ms 5000 (got 9000)" },
    { "dispatch = 3;\n", "dispatch", "dispatch: must be a group { ... } (got 3)" },
    { "dispatch = {\n  pickup_eta_seconds = 7201;\n};\n", "pickup_eta_seconds",
      "dispatch.pickup_eta_seconds: must be between 0 and 7200 (got 7201)" },
    { "dispatch = {\n  retry_seconds = 0;\n};\n", "retry_seconds",
      "dispatch.retry_seconds: must be between 1 and 3600 (got 0)" },
    { "brands = ( { name = \"heytea\"; orders_per_second = 1; },\n"
      "  { name = \"heytea\"; orders_per_second = 2; } );\n",
      "orders_per_second = 2", "brands[1].name: duplicate brand \"heytea\" (first at line 1)" },
    { "brands = ( { name = \"b\"; orders_per_second = 0; } );\n", "orders_per_second = 0",
      "brands[0].orders_per_second: must be between 1 and 10000000 (got 0)" },
    { "brands = ( { orders_per_second = 10; } );\n", "orders_per_second = 10",
      "brands[0].name: required key missing" },
    { "platforms = ( { name = \"jd\"; adapter = \"zmq\"; endpoint = \"x\"; },\n"
      "  { name = \"jd\"; adapter = \"zmq\"; endpoint = \"y\"; } );\n",
      "endpoint = \"y\"", "platforms[1].name: duplicate platform \"jd\" (first at line 1)" },
    { "platforms = ( { name = \"x\";\n  adapter = \"http\"; endpoint = \"x\"; } );\n", "\"http\"",
      "platforms[0].adapter: unknown adapter, known: zmq (got \"http\")" },
    { "platforms = ( { name = \"x\"; adapter = \"zmq\"; endpoint = \"x\";\n"
      "  breaker = { failure_ratio = 1.5; }; } );\n",
      "failure_ratio", "platforms[0].breaker.failure_ratio: must be between 0 and 1 (got 1.5)" },
    { "platforms = ( { name = \"x\"; adapter = \"zmq\"; endpoint = \"x\";\n"
      "  breaker = { window_seconds = 601; }; } );\n",
      "window_seconds", "platforms[0].breaker.window_seconds: must be between 1 and 600 (got 601)" },
    { "daemon = {\n  availability_event_ms = -1;\n};\n", "availability_event_ms",
      "daemon.availability_event_ms: must be between 0 and 3600000 (got -1)" },
    { "campaigns = 5;\n", "campaigns", "campaigns: must be a list ( { ... }, { ... } ) (got 5)" },
    { "campaigns = (\n  { orders_per_second = 10; } );\n", "orders_per_second = 10",
      "campaigns[0].name: required key missing" },
    { "campaigns = (\n  { name = \"x\"; } );\n", "name = \"x\"",
      "campaigns[0].orders_per_second: required key missing" },
    { "campaigns = ( { orders_per_second = 1;\n  name = \"free tea\"; } );\n", "name = \"free tea",
      "campaigns[0].name: only letters, digits and . _ : - are allowed, as in "
      "SubmitOrder.campaign (got \"free tea\")" },
    { "campaigns = ( { orders_per_second = 1;\n  name = \"\"; } );\n", "name = \"\"",
      "campaigns[0].name: must not be empty (got \"\")" },
    { "campaigns = ( { name = \"a\"; orders_per_second = 1; },\n"
      "  { orders_per_second = 2;\n    name = \"a\"; } );\n",
      "name = \"a\"; } );", "campaigns[1].name: duplicate campaign \"a\" (first at line " },
    { "campaigns = ( { name = \"a\"; orders_per_second = 1;\n  starts = \"2027-02-10 10:00\"; } );\n",
      "starts", "campaigns[0].starts: must be a time with its offset, "
      "\"2027-02-10T10:00:00+08:00\" or \"2027-02-10T02:00:00Z\", after 1970, or \"\" for none "
      "(got \"2027-02-10 10:00\")" },
    { "campaigns = ( { name = \"a\"; orders_per_second = 1;\n  starts = \"2027-02-10T10:00:00\"; } );\n",
      "starts", "campaigns[0].starts: must be a time with its offset" },
    { "campaigns = ( { name = \"a\"; orders_per_second = 1;\n  ends = \"2027-02-29T10:00Z\"; } );\n",
      "ends", "campaigns[0].ends: must be a time with its offset" },
    { "campaigns = ( { name = \"a\"; orders_per_second = 1;\n  starts = 20270210; } );\n",
      "starts", "campaigns[0].starts: must be a string (got 20270210)" },
    { "campaigns = ( { name = \"a\"; orders_per_second = 1;\n"
      "  starts = \"2027-02-10T10:00:00+08:00\";\n  ends = \"2027-02-10T02:00:00Z\"; } );\n",
      "ends", "campaigns[0].ends: must be after starts" },
    { "campaigns = ( { name = \"a\"; orders_per_second = 1;\n  store_share = 1.5; } );\n",
      "store_share", "campaigns[0].store_share: must be between 0 and 1 (got 1.5)" },
    { "campaigns = ( { name = \"a\";\n  orders_per_second = 0; } );\n", "orders_per_second = 0",
      "campaigns[0].orders_per_second: must be between 1 and 10000000 (got 0)" },
    { "campaigns = ( { name = \"a\"; orders_per_second = 1;\n  budget = -1; } );\n", "budget",
      "campaigns[0].budget: must be between 0 and 2147483647 (got -1)" },
    { "campaigns = ( { name = \"a\"; orders_per_second = 1;\n  per_store_daily = 1000001; } );\n",
      "per_store_daily",
      "campaigns[0].per_store_daily: must be between 0 and 1000000 (got 1000001)" },
    { "campaigns = ( { name = \"a\"; orders_per_second = 1;\n  paused = \"yes\"; } );\n",
      "paused", "campaigns[0].paused: must be true or false (got \"yes\")" },
    { "campaigns = ( { name = \"a\"; orders_per_second = 1;\n  budjet = 5; } );\n", "budjet",
      "campaigns[0].budjet: unknown key (did you mean budget?)" },
    { "campaigns = ( { name = \"free-tea\"; orders_per_second = 1; } );\n"
      "stores = ( { id = 1; " STORE_REQUIRED "\n  typical_drinks = 0; } );\n", "typical_drinks",
      "stores[0].typical_drinks: must be between 1 and 99 (got 0)" },
    { "campaigns = ( { name = \"free-tea\"; orders_per_second = 1; } );\n"
      "stores = ( { id = 1; " STORE_REQUIRED "\n  campaigns = ( { name = \"free-te\"; store_share = 0.2; } ); } );\n",
      "free-te\"", "stores[0].campaigns[0].name: unknown campaign: not in campaigns (got \"free-te\")" },
    { "stores = ( { id = 1; " STORE_REQUIRED "\n  campaigns = ( { name = \"free-tea\"; store_share = 0.2; } ); } );\n",
      "free-tea\"", "stores[0].campaigns[0].name: unknown campaign: not in campaigns (got \"free-tea\")" },
    { "campaigns = ( { name = \"free-tea\"; orders_per_second = 1; } );\n"
      "stores = ( { id = 1; " STORE_REQUIRED "\n  campaigns = ( { name = \"free-tea\"; } ); } );\n",
      "campaigns = ( { name = \"free-tea\"; } )",
      "stores[0].campaigns[0].store_share: required key missing" },
    { "campaigns = ( { name = \"free-tea\"; orders_per_second = 1; } );\n"
      "stores = ( { id = 1; " STORE_REQUIRED "\n  campaigns = ( { name = \"free-tea\"; store_share = 2; } ); } );\n",
      "store_share = 2", "stores[0].campaigns[0].store_share: must be between 0 and 1 (got 2)" },
    { "campaigns = ( { name = \"free-tea\"; orders_per_second = 1; } );\n"
      "stores = ( { id = 1; " STORE_REQUIRED "\n  campaigns = ( { name = \"free-tea\"; store_share = 0.1; },\n"
      "    { store_share = 0.2; name = \"free-tea\"; } ); } );\n",
      "{ store_share = 0.2;",
      "stores[0].campaigns[1].name: campaign listed twice, first as campaigns[0] (got \"free-tea\")" },
    { "campaigns = ( { name = \"a\"; orders_per_second = 1; } );\n"
      "stores = ( { id = 1; " STORE_REQUIRED "\n  campaigns = ( { name = \"a\"; store_share = 0.1; },"
      " { name = \"a\"; store_share = 0.1; }, { name = \"a\"; store_share = 0.1; },"
      " { name = \"a\"; store_share = 0.1; }, { name = \"a\"; store_share = 0.1; } ); } );\n",
      "campaigns = ( { name = \"a\"; store_share", "stores[0].campaigns: at most 4 campaigns (got 5)" },
    { "campaigns = ( { name = \"a\"; orders_per_second = 1; } );\n"
      "stores = ( { id = 1; " STORE_REQUIRED "\n  campaigns = \"a\"; } );\n", "campaigns = \"a\"",
      "stores[0].campaigns: must be a list ( { name = \"...\"; store_share = 0.2; }, ... ) (got \"a\")" },
    { "campaigns = ( { name = \"a\"; orders_per_second = 1; } );\n"
      "stores = ( { id = 1; " STORE_REQUIRED "\n  campaigns = ( \"a\" ); } );\n", "campaigns = ( \"a\"",
      "stores[0].campaigns[0]: must be a group { name = ...; store_share = ...; } (got \"a\")" },
    { "campaigns = ( { name = \"a\"; orders_per_second = 1; } );\n"
      "stores = ( { id = 1; " STORE_REQUIRED "\n  campaigns = ( { name = \"a\"; store_shares = 0.1; } ); } );\n",
      "store_shares = 0.1", "stores[0].campaigns[0].store_shares: unknown key (did you mean store_share?)" },
    { SHARD_A "stores = ( { id = 1; " STORE_REQUIRED "\n  shard = \"b\"; } );\n", "shard = \"b\"",
      "stores[0].shard: unknown shard: not in shards (got \"b\")" },
    { SHARD_A "stores = (\n  { id = 1; " STORE_REQUIRED " } );\n", "{ id = 1;",
      "stores[0].shard: required when shards is set: the shard that owns the store" },
    { "shards = ( { name = \"a\"; endpoints = [\"tcp://10.0.0.1:7400\"]; } );\n"
      "daemon = {\n  node = \"n1\";\n};\n", "daemon = {",
      "daemon.shard: required when shards is set: the shard this node serves" },
    { "shards = ( { name = \"a\"; endpoints = [\"tcp://10.0.0.1:7400\"]; } );\n"
      "daemon = {\n  shard = \"c\";\n};\n", "shard = \"c\"",
      "daemon.shard: unknown shard: not in shards (got \"c\")" },
    { "shards = ( { endpoints = [\"tcp://10.0.0.1:7400\"];\n  name = \"a b\"; } );\n",
      "name = \"a b\"", "shards[0].name: only letters, digits and . _ : - are allowed (got \"a b\")" },
    { "shards = ( { name = \"a\"; endpoints = [\"x\"]; },\n"
      "  { endpoints = [\"y\"];\n    name = \"a\"; } );\n",
      "name = \"a\"; } );", "shards[1].name: duplicate shard \"a\" (first at line " },
    { "shards = ( { name = \"a\";\n  endpoints = []; } );\n", "endpoints = []",
      "shards[0].endpoints: must be a list of endpoints, [\"tcp://10.0.0.1:7400\", ...]" },
    { "shards = ( { name = \"a\";\n  endpoints = (\"x\", 5); } );\n", "endpoints = (",
      "shards[0].endpoints: element 1 must be an endpoint string of 1..1024 characters" },
    { "shards = ( { name = \"a\"; } );\n", "shards = (",
      "shards[0].endpoints: required key missing" },
    { "stores = ( { id = 1; " STORE_REQUIRED "\n  shard = \"a\"; } );\n", "shard = \"a\"",
      "stores[0].shard: unknown shard: not in shards (got \"a\")" },
    { "daemon = {\n  shard = \"a/b\";\n};\n", "shard = \"a/b\"",
      "daemon.shard: only letters, digits and . _ : - are allowed (got \"a/b\")" },
    { "daemon = {\n  lease_seconds = 1;\n};\n", "lease_seconds",
      "daemon.lease_seconds: must be between 2 and 300 (got 1)" },
    { "daemon = {\n  in_doubt_max_ms = 50;\n};\n", "in_doubt_max_ms",
      "daemon.in_doubt_max_ms: must be between 100 and 600000 (got 50)" },
};

/* Each case is its own file, after PRELUDE unless it defines brands or
 * platforms itself. */
static void test_each_error(void **state)
{
    size_t failed = 0;
    for (size_t i = 0; i < sizeof s_cases / sizeof s_cases[0]; i++) {
        const struct error_case *c = &s_cases[i];
        char text[4096], path[512], want[1024], *errors = NULL;
        bool own = strncmp(c->text, "brands", 6) == 0 || strncmp(c->text, "platforms", 9) == 0;
        snprintf(text, sizeof text, "%s%s", own ? "" : PRELUDE, c->text);
        char name[32];
        snprintf(name, sizeof name, "case%zu.conf", i);
        s_write(*state, name, text, path, sizeof path);
        config_t *cfg = config_load(path, &errors);
        snprintf(want, sizeof want, "%s:%d: %s", path, s_line_of(text, c->marker), c->expect);
        if (cfg || !errors || !strstr(errors, want)) {
            print_error("case %zu: expected\n  %s\ngot:\n%s\nin:\n%s\n", i, want,
                        errors ? errors : "(loaded)\n", text);
            failed++;
        }
        config_destroy(&cfg);
        free(errors);
    }
    assert_int_equal(failed, 0);
}

static void test_too_many_staffing_windows(void **state)
{
    char text[8192], path[512];
    int n = snprintf(text, sizeof text, PRELUDE "stores = (\n  { id = 1; " STORE_REQUIRED "\n    staffing = (\n");
    for (int i = 0; i < 51; i++)
        n += snprintf(text + n, sizeof text - (size_t)n,
                      "      { from = \"%02d:00\"; to = \"%02d:30\"; prep_slots = 2; }%s\n", i % 24, i % 24,
                      i < 50 ? "," : "");
    snprintf(text + n, sizeof text - (size_t)n, "    );\n  }\n);\n");
    s_write(*state, "staffing.conf", text, path, sizeof path);
    char *errors = s_load_fail(path);
    s_expect(errors, "%s:%d: stores[0].staffing: at most 8 windows (got 51)\n", path,
             s_line_of(text, "staffing = ("));
    assert_int_equal(s_lines(errors), 1);
    free(errors);
}

static void test_all_errors_reported(void **state)
{
    const char *text =
        PRELUDE
        "daemon = { commit_batch_max = 0; };\n"                                    /* 6 */
        "stores = (\n"
        "  { id = 1; " STORE_REQUIRED " },\n"                                    /* 8 */
        "  { id = 2; location = [1.0, 2.0]; item_seconds = 60; max_wait_minutes = 40;\n"
        "    prep_slots = -1; },\n"                                              /* 10 */
        "  { id = 3; " STORE_REQUIRED " platforms = [\"eleme\"]; },\n"            /* 11 */
        "  { id = 1; " STORE_REQUIRED " },\n"                                    /* 12 */
        "  { id = 5; " STORE_REQUIRED " brand = \"nope\"; hours = \"x\"; tz = \"UTC\"; }\n" /* 13 */
        ");\n";
    char path[512];
    s_write(*state, "many.conf", text, path, sizeof path);
    char *errors = s_load_fail(path);
    s_expect(errors, "%s:6: daemon.commit_batch_max: must be between 1 and 20000 (got 0)\n", path);
    s_expect(errors, "%s:10: stores[1].prep_slots: must be between 1 and 1000 (got -1)\n", path);
    s_expect(errors, "%s:11: stores[2].platforms[0]: unknown platform: not in platforms (got \"eleme\")\n", path);
    s_expect(errors, "%s:12: stores[3].id: duplicate store id 1 (first at line 8)\n", path);
    s_expect(errors, "%s:13: stores[4].brand: unknown brand: not in brands (got \"nope\")\n", path);
    s_expect(errors, "%s:13: stores[4].hours: must be \"HH:MM-HH:MM\"", path);
    s_expect(errors, "%s:13: stores[4].tz: unknown key\n", path);
    assert_int_equal(s_lines(errors), 7);
    free(errors);
}

static void test_errors_are_capped(void **state)
{
    size_t size = 3000 * 200 + 256;
    char *text = malloc(size), path[512];
    assert_non_null(text);
    int n = snprintf(text, size, "stores = (\n");
    for (int i = 0; i < 3000; i++)
        n += snprintf(text + n, size - (size_t)n, "  { id = %d; " STORE_REQUIRED " bad = 1; }%s\n", i + 1,
                      i < 2999 ? "," : "");
    snprintf(text + n, size - (size_t)n, ");\n");
    s_write(*state, "capped.conf", text, path, sizeof path);
    free(text);
    char *errors = s_load_fail(path);
    assert_int_equal(s_lines(errors), 1001);
    assert_non_null(strstr(errors, "... and 2000 more problems\n"));
    free(errors);
}

/* ---------------------------------------------------------------- @include */

static void test_include(void **state)
{
    struct fixture *f = *state;
    const char *east = "# stores in the east\n"
                       "{ id = 2001; brand = \"heytea\"; " STORE_REQUIRED " },\n"
                       "{ id = 2002; " STORE_REQUIRED " platforms = [\"jd\"]; }\n";
    const char *main_text = PRELUDE
                            "stores = (\n"
                            "  { id = 1001; " STORE_REQUIRED " },\n"
                            "  @include \"stores-east.conf\"\n"
                            ");\n";
    char path[512], inc[512], *errors = NULL;
    s_write(f, "stores-east.conf", east, inc, sizeof inc);
    s_write(f, "main.conf", main_text, path, sizeof path);
    config_t *cfg = config_load(path, &errors);
    if (!cfg)
        print_error("%s", errors);
    assert_non_null(cfg);
    assert_int_equal(cfg->store_count, 3);
    assert_int_equal(cfg->stores[2].id, 2002);
    assert_int_equal(cfg->stores[2].line, 3);
    config_destroy(&cfg);

    /* problems in the included file name that file */
    s_write(f, "stores-east.conf",
            "{ id = 2001; " STORE_REQUIRED " },\n"
            "{ id = 1001; " STORE_REQUIRED " },\n"
            "{ id = 2003; location = [1.0, 2.0]; item_seconds = 60; max_wait_minutes = 40;\n"
            "  prep_slots = 0; }\n",
            inc, sizeof inc);
    errors = s_load_fail(path);
    s_expect(errors, "%s:2: stores[2].id: duplicate store id 1001 (first at %s:7)\n", inc, path);
    s_expect(errors, "%s:4: stores[3].prep_slots: must be between 1 and 1000 (got 0)\n", inc);
    free(errors);

    /* a syntax error in the included file names it too */
    s_write(f, "stores-east.conf", "{ id = 2001; },\n{ id = ; }\n", inc, sizeof inc);
    errors = s_load_fail(path);
    s_expect(errors, "%s:2: syntax error\n", inc);
    free(errors);
}

/* An @include of a directory is refused with FILE:LINE. libconfig 1.5 opened
 * it and its scanner then called exit(2): on SIGHUP, the end of the daemon.
 * "" and "." both name the include directory itself. */
static void test_include_directory(void **state)
{
    struct fixture *f = *state;
    char path[512], inc[512];
    s_write(f, "main.conf", "stores = (\n  @include \"\"\n);\n", path, sizeof path);
    char *errors = s_load_fail(path);
    s_expect(errors, "%s:2: @include \"\": is a directory, not a file\n", path);
    free(errors);

    /* from an included file, and after a cycle that libconfig would stop at */
    s_write(f, "inner.conf", "@include \"inner.conf\"\n\t@include\t\".\"\n", inc, sizeof inc);
    s_write(f, "main.conf", "stores = (\n@include \"inner.conf\"\n);\n", path, sizeof path);
    errors = s_load_fail(path);
    s_expect(errors, "%s:2: @include \".\": is a directory, not a file\n", inc);
    free(errors);

    /* deep in a file of several megabytes (read in blocks of 1 MB): the
     * line is counted right across the blocks, "@include" inside a line is
     * no include, and one at the end without a newline is */
    size_t cap = 4u << 20, at = 0;
    char *big = malloc(cap);
    assert_non_null(big);
    for (int i = 1; i < 60000; i++)
        at += (size_t)snprintf(big + at, cap - at, "# store %05d; \"@include\" \".\" is text here\n", i);
    at += (size_t)snprintf(big + at, cap - at, " \t@include \".\"");
    assert_true(at > 2 * (1u << 20) && at < cap);
    s_write(f, "big.conf", big, inc, sizeof inc);
    free(big);
    s_write(f, "main.conf", "stores = (\n@include \"big.conf\"\n);\n", path, sizeof path);
    errors = s_load_fail(path);
    s_expect(errors, "%s:60000: @include \".\": is a directory, not a file\n", inc);
    free(errors);
}

/* ------------------------------------------- @include'd files in pieces */

/* s_store_text writes store I in one of several layouts: comments with
 * commas and braces between stores, strings holding them, stores over
 * several lines, keys left to their defaults. */
static int s_store_text(char *buf, size_t size, int i, int prep)
{
    static const char *const zones[] = { "Asia/Shanghai", "UTC", "Europe/Paris" };
    const char *sep = i % 11 == 3 ? "\n    " : " ";
    int n = 0;
    if (i % 13 == 5)
        n += snprintf(buf + n, size - (size_t)n, "# store %d, {closed} (for now)\n", i);
    if (i % 17 == 2)
        n += snprintf(buf + n, size - (size_t)n, "/* a block, with ( and }\n   over lines */ ");
    n += snprintf(buf + n, size - (size_t)n,
                  "{ id = %d;%sbrand = \"%s\"; name = \"Shop %d, {east} (\\\"%d\\\")\";%s"
                  "location = [%.4f, %.4f]; prep_slots = %d; item_seconds = 60;%s"
                  "max_wait_minutes = 40; timezone = \"%s\";",
                  i, sep, i % 3 ? "heytea" : "", i, i, sep, 20 + (i % 500) / 100.0,
                  100 + (i % 700) / 100.0, prep, sep, zones[i % 3]);
    if (i % 2)
        n += snprintf(buf + n, size - (size_t)n, " platforms = [\"jd\", \"meituan\"];%s"
                      "staffing = ( { from = \"22:00\"; to = \"02:00\"; prep_slots = 9; } );", sep);
    if (i % 5 == 1)
        n += snprintf(buf + n, size - (size_t)n, " paused = true; hours = \"10:00-01:30\"; // late\n");
    n += snprintf(buf + n, size - (size_t)n, " }");
    return n;
}

/* s_write_part writes stores FIRST .. FIRST + COUNT - 1 to DIR/NAME; EXTRA
 * (or NULL) is put in the place of store BAD. */
static void s_write_part(const struct fixture *f, const char *name, int first, int count, int bad,
                         const char *extra, int prep)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", f->dir, name);
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    for (int i = first; i < first + count; i++) {
        char store[1024];
        if (i == bad && extra)
            snprintf(store, sizeof store, "%s", extra);
        else
            s_store_text(store, sizeof store, i, i == first ? prep : 1 + i % 7);
        fprintf(out, "%s%s\n", store, i < first + count - 1 ? "," : "");
    }
    assert_int_equal(fclose(out), 0);
}

#define PART_STORES 1500 /* about 380 KB: two pieces */

/* s_write_split writes main.conf, whose stores list has a store of its
 * own, then @includes part1..3.conf, with stores before and after. */
static void s_write_split(const struct fixture *f, char *path, size_t size)
{
    const char *text = PRELUDE
                       "stores = (\n"
                       "  { id = 1; " STORE_REQUIRED " },\n"
                       "  @include \"part1.conf\"\n"
                       "  ,\n"
                       "@include \"part2.conf\"\n"
                       ", { id = 2; " STORE_REQUIRED " }, # between\n"
                       "  @include \"part3.conf\"\n"
                       ");\n";
    s_write(f, "main.conf", text, path, size);
    for (int k = 0; k < 3; k++) {
        char name[32];
        snprintf(name, sizeof name, "part%d.conf", k + 1);
        s_write_part(f, name, 1000 + k * PART_STORES, PART_STORES, -1, NULL, 4);
    }
}

/* s_file_line is the line of PATH on which MARKER first appears. */
static int s_file_line(const char *path, const char *marker)
{
    FILE *in = fopen(path, "r");
    assert_non_null(in);
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof text - 1, in);
    fclose(in);
    text[n] = '\0';
    return s_line_of(text, marker);
}

static config_t *s_load_opts(const char *path, const config_load_options_t *opts, char **errors)
{
    *errors = NULL;
    return config_load_with(path, opts, errors);
}

static void s_same_text(const char *a, const char *b)
{
    if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0)) {
        print_error("\"%s\" != \"%s\"\n", a ? a : "(null)", b ? b : "(null)");
        fail();
    }
}

/* s_same_config: everything A holds, B holds the same. */
static void s_same_config(const config_t *a, const config_t *b)
{
    s_same_text(a->daemon.database, b->daemon.database);
    assert_int_equal(a->brand_count, b->brand_count);
    assert_int_equal(a->platform_count, b->platform_count);
    assert_int_equal(a->store_count, b->store_count);
    for (size_t i = 0; i < a->store_count; i++) {
        const config_store_t *x = &a->stores[i], *y = &b->stores[i];
        if (x->id != y->id || x->brand != y->brand || x->lat != y->lat || x->lng != y->lng ||
            x->prep_slots != y->prep_slots || x->item_seconds != y->item_seconds ||
            x->order_seconds != y->order_seconds || x->max_wait_minutes != y->max_wait_minutes ||
            x->max_queue != y->max_queue || x->open_minute != y->open_minute ||
            x->close_minute != y->close_minute || x->paused != y->paused ||
            x->platform_count != y->platform_count || x->staffing_count != y->staffing_count ||
            x->line != y->line || x->typical_drinks != y->typical_drinks ||
            x->campaign_count != y->campaign_count ||
            memcmp(x->platforms, y->platforms, sizeof x->platforms) != 0 ||
            memcmp(x->staffing, y->staffing, sizeof x->staffing) != 0) {
            print_error("store %zu differs: id %u/%u line %d/%d\n", i, x->id, y->id, x->line, y->line);
            fail();
        }
        for (int k = 0; k < x->campaign_count; k++)
            if (x->campaigns[k].campaign != y->campaigns[k].campaign ||
                x->campaigns[k].store_share != y->campaigns[k].store_share) {
                print_error("store %zu: campaigns[%d] differs\n", i, k);
                fail();
            }
        s_same_text(x->name, y->name);
        s_same_text(x->timezone, y->timezone);
    }
}

/* s_sorted_lines sorts TEXT's lines in place (messages of different parts
 * may come in another order). */
static int s_cmp_lines(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void s_same_lines(const char *a, const char *b)
{
    char *ca = strdup(a), *cb = strdup(b), *la[4096], *lb[4096];
    size_t na = 0, nb = 0;
    for (char *s = strtok(ca, "\n"); s && na < 4096; s = strtok(NULL, "\n"))
        la[na++] = s;
    for (char *s = strtok(cb, "\n"); s && nb < 4096; s = strtok(NULL, "\n"))
        lb[nb++] = s;
    qsort(la, na, sizeof *la, s_cmp_lines);
    qsort(lb, nb, sizeof *lb, s_cmp_lines);
    bool same = na == nb;
    for (size_t i = 0; same && i < na; i++)
        same = strcmp(la[i], lb[i]) == 0;
    if (!same)
        print_error("messages differ:\n%s\n---- and ----\n%s\n", a, b);
    free(ca);
    free(cb);
    assert_true(same);
}

static const config_load_options_t s_whole = { .whole = true };
static const config_load_options_t s_two = { .threads = 2 };

static void test_split_same_as_whole(void **state)
{
    char path[512], *errors;
    s_write_split(*state, path, sizeof path);
    config_t *whole = s_load_opts(path, &s_whole, &errors);
    if (!whole)
        print_error("%s", errors);
    assert_non_null(whole);
    assert_int_equal(whole->store_count, 2 + 3 * PART_STORES);
    assert_null(whole->sources);
    static const unsigned threads[] = { 1, 2, 5 };
    for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
        config_load_options_t o = { .threads = threads[t] };
        config_t *split = s_load_opts(path, &o, &errors);
        if (!split)
            print_error("%s", errors);
        assert_non_null(split);
        assert_non_null(split->sources); /* it did read the files itself */
        s_same_config(whole, split);
        config_destroy(&split);
    }
    config_destroy(&whole);
}

/* s_find_store: the store ID of CFG, or NULL. */
static const config_store_t *s_find_store(const config_t *cfg, uint32_t id)
{
    for (size_t i = 0; i < cfg->store_count; i++)
        if (cfg->stores[i].id == id)
            return &cfg->stores[i];
    return NULL;
}

/* A partial load (only_store) has the store asked for, exactly as a full
 * load reads it, the main file's own stores, and fewer of the rest; it keeps
 * no sources for reuse. An id in no file loads without that store. */
static void test_only_store(void **state)
{
    char path[512], *errors;
    s_write_split(*state, path, sizeof path);
    config_t *whole = s_load_opts(path, &s_whole, &errors);
    assert_non_null(whole);
    /* ids whose digits few stores' text holds (not "2500": "location = [20.2500, ...") */
    const uint32_t ids[] = { 1234, 2468, 5499 };
    for (size_t k = 0; k < sizeof ids / sizeof ids[0]; k++) {
        config_load_options_t o = { .threads = 2, .only_store = ids[k] };
        config_t *part = s_load_opts(path, &o, &errors);
        if (!part)
            print_error("%s", errors);
        assert_non_null(part);
        if (part->store_count >= whole->store_count)
            print_error("only_store %u: %zu of %zu stores\n", ids[k], part->store_count, whole->store_count);
        assert_true(part->store_count < whole->store_count);
        assert_null(part->sources);
        const config_store_t *x = s_find_store(whole, ids[k]), *y = s_find_store(part, ids[k]);
        assert_non_null(x);
        assert_non_null(y);
        assert_int_equal(x->line, y->line);
        assert_int_equal(x->prep_slots, y->prep_slots);
        assert_int_equal(x->platform_count, y->platform_count);
        s_same_text(x->name, y->name);
        s_same_text(x->timezone, y->timezone);
        assert_non_null(s_find_store(part, 1));
        assert_non_null(s_find_store(part, 2));
        s_same_text(whole->daemon.database, part->daemon.database);
        config_destroy(&part);
    }
    const uint32_t absent[] = { 99999, CONFIG_NO_STORE };
    for (size_t k = 0; k < 2; k++) {
        config_load_options_t none = { .only_store = absent[k] };
        config_t *part = s_load_opts(path, &none, &errors);
        assert_non_null(part);
        assert_null(s_find_store(part, absent[k]));
        assert_int_equal(part->store_count, 2); /* only the main file's own */
        assert_int_equal(part->platform_count, whole->platform_count);
        config_destroy(&part);
    }
    config_destroy(&whole);
}

static void test_split_errors_same_as_whole(void **state)
{
    struct fixture *f = *state;
    char path[512], *errors, *split_errors;
    s_write_split(f, path, sizeof path);
    /* in part2's second piece: a bad value, an unknown key, a store id
     * from part1 and one from the main file */
    s_write_part(f, "part2.conf", 1000 + PART_STORES, PART_STORES, 1000 + PART_STORES + 1400,
                 "{ id = 3;\n  location = [1.0, 2.0]; item_seconds = 60; max_wait_minutes = 40;\n"
                 "  prep_slots = 0; colour = \"red\"; }, { id = 1020; " STORE_REQUIRED " },"
                 " { id = 2; " STORE_REQUIRED " }",
                 4);
    config_t *cfg = s_load_opts(path, &s_whole, &errors);
    assert_null(cfg);
    cfg = s_load_opts(path, &s_two, &split_errors);
    assert_null(cfg);
    s_same_lines(errors, split_errors);
    char inc[600], first[600];
    snprintf(inc, sizeof inc, "%s/part2.conf", f->dir);
    snprintf(first, sizeof first, "%s/part1.conf", f->dir);
    int line = s_file_line(inc, "prep_slots = 0"), at = 1 + PART_STORES + 1400;
    s_expect(split_errors, "%s:%d: stores[%d].prep_slots: must be between 1 and 1000 (got 0)\n", inc,
             line, at);
    s_expect(split_errors, "%s:%d: stores[%d].id: duplicate store id 1020 (first at %s:%d)\n", inc,
             line, at + 1, first, s_file_line(first, "{ id = 1020;"));
    s_expect(split_errors, "%s:11: stores[%d].id: duplicate store id 2 (first at %s:%d)\n", path,
             3 + 2 * PART_STORES, inc, line);
    free(errors);
    free(split_errors);

    /* libconfig refuses a piece: the whole file is read, for libconfig's message */
    s_write_part(f, "part3.conf", 1000 + 2 * PART_STORES, PART_STORES, 1000 + 2 * PART_STORES + 1200,
                 "{ id = 5; location = [1.0, 2.0];\n prep_slots = ; }", 4);
    cfg = s_load_opts(path, &s_whole, &errors);
    assert_null(cfg);
    cfg = s_load_opts(path, &s_two, &split_errors);
    assert_null(cfg);
    assert_string_equal(errors, split_errors);
    snprintf(inc, sizeof inc, "%s/part3.conf", f->dir);
    s_expect(split_errors, "%s:%d: syntax error\n", inc, s_file_line(inc, "prep_slots = ;"));
    free(errors);
    free(split_errors);
}

/* Files the pieces cannot stand for alone are read by libconfig: results
 * and messages stay those of a whole read. */
static void test_split_falls_back(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *main, *inc;
    } cases[] = {
        /* an empty file: "(1, )" is a syntax error */
        { "stores = (\n  { id = 1; " STORE_REQUIRED " },\n  @include \"inc.conf\"\n);\n", "# nothing\n" },
        { "stores = (\n  @include \"inc.conf\"\n);\n", "" },
        /* a file that closes the list and opens another */
        { "stores = (\n  @include \"inc.conf\"\n);\n", "{ id = 7; " STORE_REQUIRED " } ); more = (1" },
        /* a comment without a newline at the end, which libconfig refuses */
        { "stores = (\n  @include \"inc.conf\"\n);\n", "{ id = 7; " STORE_REQUIRED " } # end" },
        /* a missing file */
        { "stores = (\n  @include \"nope.conf\"\n);\n", "" },
        /* an @include inside the included file */
        { "stores = (\n  @include \"inc.conf\"\n);\n", "{ id = 7; " STORE_REQUIRED " },\n@include \"two.conf\"\n" },
        /* @include of brands: libconfig splices it, the stores file is read apart */
        { "brands = (\n@include \"two.conf\"\n);\nstores = (\n  @include \"inc.conf\"\n);\n",
          "{ id = 7; " STORE_REQUIRED " brand = \"b2\"; }" },
    };
    char two[512];
    s_write(f, "two.conf", "{ name = \"b2\"; orders_per_second = 3; }", two, sizeof two);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[512], inc[512], *errors, *split_errors;
        s_write(f, "main.conf", cases[i].main, path, sizeof path);
        s_write(f, "inc.conf", cases[i].inc, inc, sizeof inc);
        if (i == 5)
            s_write(f, "two.conf", "{ id = 8; " STORE_REQUIRED " }", two, sizeof two);
        if (i == 6)
            s_write(f, "two.conf", "{ name = \"b2\"; orders_per_second = 3; }", two, sizeof two);
        config_t *whole = s_load_opts(path, &s_whole, &errors);
        config_t *split = s_load_opts(path, &s_two, &split_errors);
        if ((whole == NULL) != (split == NULL)) {
            print_error("case %zu: whole %s, split %s\n%s\n%s\n", i, whole ? "loads" : "fails",
                        split ? "loads" : "fails", errors ? errors : "", split_errors ? split_errors : "");
            fail();
        }
        if (whole)
            s_same_config(whole, split);
        else
            assert_string_equal(errors, split_errors);
        config_destroy(&whole);
        config_destroy(&split);
        free(errors);
        free(split_errors);
    }
}

static void test_reload_reuses_unchanged_files(void **state)
{
    struct fixture *f = *state;
    char path[512], *errors;
    s_write_split(f, path, sizeof path);
    config_t *first = s_load_opts(path, &s_two, &errors);
    assert_non_null(first);

    /* one value in one file changes: the reload sees it, and the rest is as
     * a fresh load of the changed files */
    s_write_part(f, "part2.conf", 1000 + PART_STORES, PART_STORES, -1, NULL, 77);
    config_load_options_t o = { .previous = first, .threads = 2 };
    config_t *next = s_load_opts(path, &o, &errors);
    assert_non_null(next);
    size_t at = 1 + PART_STORES;
    assert_int_equal(next->stores[at].id, 1000 + PART_STORES);
    assert_int_equal(next->stores[at].prep_slots, 77);
    assert_int_equal(first->stores[at].prep_slots, 4);
    config_t *fresh = s_load_opts(path, &s_whole, &errors);
    assert_non_null(fresh);
    s_same_config(fresh, next);
    config_destroy(&first);

    /* reloading from a reload, with brands in another order: nothing can be
     * reused (stores hold brand indexes), the result is still right */
    s_write(f, "main.conf",
            "brands = ( { name = \"other\"; orders_per_second = 1; },\n"
            "  { name = \"heytea\"; orders_per_second = 5000; } );\n"
            "platforms = (\n"
            "  { name = \"meituan\"; adapter = \"zmq\"; endpoint = \"tcp://127.0.0.1:7601\"; },\n"
            "  { name = \"jd\"; adapter = \"zmq\"; endpoint = \"tcp://127.0.0.1:7602\"; }\n"
            ");\nstores = (\n@include \"part1.conf\"\n,\n@include \"part2.conf\"\n);\n",
            path, sizeof path);
    o.previous = next;
    config_t *third = s_load_opts(path, &o, &errors);
    assert_non_null(third);
    assert_int_equal(third->stores[1].brand, 1);
    config_destroy(&fresh);
    fresh = s_load_opts(path, &s_whole, &errors);
    assert_non_null(fresh);
    s_same_config(fresh, third);
    config_destroy(&fresh);

    /* a changed file repeats an id of a reused one: "first at" names it */
    o.previous = third;
    s_write_part(f, "part2.conf", 1000 + PART_STORES, PART_STORES, 1000 + PART_STORES + 5,
                 "{ id = 1003; " STORE_REQUIRED " }", 4);
    config_t *bad = s_load_opts(path, &o, &errors);
    assert_null(bad);
    char *whole_errors;
    bad = s_load_opts(path, &s_whole, &whole_errors);
    assert_null(bad);
    assert_string_equal(errors, whole_errors);
    s_expect(errors, "stores[%d].id: duplicate store id 1003 (first at %s/part1.conf:", PART_STORES + 5,
             f->dir);
    free(errors);
    free(whole_errors);
    config_destroy(&next);
    config_destroy(&third);
}

/* ------------------------------------------------------ the store cache */

/* s_cache_dir makes DIR/cache, for config_load_options_t.cache_dir. */
static void s_cache_dir(const struct fixture *f, char *dir, size_t size)
{
    snprintf(dir, size, "%s/cache", f->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
}

/* s_cache_files counts the cache files in DIR (and finds no temporary one). */
static size_t s_cache_files(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        assert_null(strstr(e->d_name, ".tmp."));
        n += strncmp(e->d_name, "stores-", 7) == 0 && strstr(e->d_name, ".cache") != NULL;
    }
    closedir(d);
    return n;
}

/* s_cache_file: the path of the cache file in DIR for the fixture's NAME. */
static void s_cache_file(const struct fixture *f, const char *dir, const char *name, char *path,
                         size_t size)
{
    char src[512];
    snprintf(src, sizeof src, "%s/%s", f->dir, name); /* as config_stores.c opens it */
    int n = snprintf(path, size, "%s/stores-%016llx.cache", dir,
                     (unsigned long long)config_cache_hash(src, strlen(src)));
    assert_true(n > 0 && (size_t)n < size);
}

/* s_load_cached loads PATH with CACHE and checks what it says it did:
 * PARSED files parsed, CACHED files from the cache, and the stores the
 * same as a load without the cache. */
static config_t *s_load_cached(const char *path, const char *cache, size_t parsed, size_t cached)
{
    char *errors;
    config_load_options_t o = { .threads = 2, .cache_dir = cache };
    config_t *cfg = s_load_opts(path, &o, &errors);
    if (!cfg)
        print_error("%s", errors);
    assert_non_null(cfg);
    config_t *plain = s_load_opts(path, &s_two, &errors);
    assert_non_null(plain);
    s_same_config(plain, cfg);
    assert_int_equal(cfg->timezone_count, plain->timezone_count);
    for (size_t i = 0; i < cfg->store_count; i++) { /* zones interned in the config */
        size_t k = 0;
        while (k < cfg->timezone_count && cfg->stores[i].timezone != cfg->timezones[k])
            k++;
        assert_true(k < cfg->timezone_count || !cfg->stores[i].timezone);
    }
    if (cfg->stats.files_parsed != parsed || cfg->stats.files_cached != cached)
        print_error("parsed %zu cached %zu, expected %zu %zu\n", cfg->stats.files_parsed,
                    cfg->stats.files_cached, parsed, cached);
    assert_int_equal(cfg->stats.files_parsed, parsed);
    assert_int_equal(cfg->stats.files_cached, cached);
    assert_int_equal(cfg->stats.cache_write_failures, 0);
    assert_int_equal(plain->stats.files_cached, 0);
    config_destroy(&plain);
    return cfg;
}

/* A second load takes every unchanged file's stores from the cache the
 * first wrote: the same stores, lines and zones as a parse. */
static void test_cache_same_as_parse(void **state)
{
    struct fixture *f = *state;
    char path[512], cache[512];
    s_write_split(f, path, sizeof path);
    s_cache_dir(f, cache, sizeof cache);
    config_t *cfg = s_load_cached(path, cache, 3, 0);
    assert_int_equal(s_cache_files(cache), 3);
    config_destroy(&cfg);
    cfg = s_load_cached(path, cache, 0, 3);
    assert_int_equal(cfg->stats.stores_cached, 3 * PART_STORES);
    /* what came from the cache can be reused by a reload in turn */
    char *errors;
    config_load_options_t o = { .previous = cfg, .threads = 2, .cache_dir = cache };
    config_t *next = s_load_opts(path, &o, &errors);
    assert_non_null(next);
    assert_int_equal(next->stats.files_reused, 3);
    s_same_config(cfg, next);
    config_destroy(&next);
    config_destroy(&cfg);

    /* one file changed: only it is parsed, and its cache file rewritten */
    s_write_part(f, "part2.conf", 1000 + PART_STORES, PART_STORES, -1, NULL, 77);
    cfg = s_load_cached(path, cache, 1, 2);
    assert_int_equal(cfg->stores[1 + PART_STORES].prep_slots, 77);
    config_destroy(&cfg);
    cfg = s_load_cached(path, cache, 0, 3);
    assert_int_equal(cfg->stores[1 + PART_STORES].prep_slots, 77);
    config_destroy(&cfg);

    /* not for a partial load, neither read nor written */
    char part2[512];
    s_cache_file(f, cache, "part2.conf", part2, sizeof part2);
    assert_int_equal(unlink(part2), 0);
    config_load_options_t only = { .only_store = 1234, .cache_dir = cache };
    cfg = s_load_opts(path, &only, &errors);
    assert_non_null(cfg);
    assert_int_equal(cfg->stats.files_cached, 0);
    assert_int_equal(s_cache_files(cache), 2);
    config_destroy(&cfg);
}

/* Brands renamed or reordered: stores hold brand indexes, so no cache file
 * is used; the result is a parse's. */
static void test_cache_brands_changed(void **state)
{
    struct fixture *f = *state;
    char path[512], cache[512];
    s_write_split(f, path, sizeof path);
    s_cache_dir(f, cache, sizeof cache);
    config_t *cfg = s_load_cached(path, cache, 3, 0);
    config_destroy(&cfg);
    static const char *const brands[] = {
        "brands = ( { name = \"other\"; orders_per_second = 1; },\n"
        "  { name = \"heytea\"; orders_per_second = 5000; } );\n",
        "brands = ( { name = \"heytea\"; orders_per_second = 5000; },\n"
        "  { name = \"other\"; orders_per_second = 1; } );\n",
    };
    for (size_t i = 0; i < 2; i++) {
        char text[2048];
        snprintf(text, sizeof text,
                 "%s platforms = (\n"
                 "  { name = \"meituan\"; adapter = \"zmq\"; endpoint = \"tcp://127.0.0.1:7601\"; },\n"
                 "  { name = \"jd\"; adapter = \"zmq\"; endpoint = \"tcp://127.0.0.1:7602\"; }\n"
                 ");\nstores = (\n@include \"part1.conf\"\n,\n@include \"part2.conf\"\n);\n",
                 brands[i]);
        s_write(f, "main.conf", text, path, sizeof path);
        cfg = s_load_cached(path, cache, 2, 0);
        assert_int_equal(cfg->stores[1].brand, i == 0 ? 1 : 0);
        config_destroy(&cfg);
    }
}

/* Stores hold campaign indexes too: campaigns reordered, renamed or gone
 * mean no cache file and no reuse; a name that is gone is refused at its
 * line in the store file. */
static void test_cache_campaigns_changed(void **state)
{
    struct fixture *f = *state;
    char path[512], inc[512], cache[512], *errors;
    const char *stores = "{ id = 1; " STORE_REQUIRED " },\n"
                         "{ id = 2; " STORE_REQUIRED "\n"
                         "  campaigns = ( { name = \"b\"; store_share = 0.2; } ); }\n";
    s_write(f, "camp.conf", stores, inc, sizeof inc);
    s_cache_dir(f, cache, sizeof cache);
    static const char *const campaigns[] = {
        "campaigns = ( { name = \"a\"; orders_per_second = 1; },\n"
        "  { name = \"b\"; orders_per_second = 2; } );\n",
        "campaigns = ( { name = \"b\"; orders_per_second = 2; },\n"
        "  { name = \"a\"; orders_per_second = 1; } );\n",
    };
    config_t *prev = NULL;
    for (size_t i = 0; i < 4; i++) {
        char text[2048];
        snprintf(text, sizeof text, PRELUDE "%sstores = (\n@include \"camp.conf\"\n);\n",
                 campaigns[i % 2]);
        s_write(f, "main.conf", text, path, sizeof path);
        config_load_options_t o = { .previous = prev, .threads = 2, .cache_dir = cache };
        config_t *cfg = s_load_opts(path, &o, &errors);
        if (!cfg)
            print_error("%s", errors);
        assert_non_null(cfg);
        assert_int_equal(cfg->stores[1].campaign_count, 1);
        assert_int_equal(cfg->stores[1].campaigns[0].campaign, i % 2 ? 0 : 1);
        /* the first load and each change parse it; the same campaigns again reuse it */
        assert_int_equal(cfg->stats.files_parsed, 1);
        assert_int_equal(cfg->stats.files_reused + cfg->stats.files_cached, 0);
        config_load_options_t same = { .previous = cfg, .threads = 2, .cache_dir = cache };
        config_t *again = s_load_opts(path, &same, &errors);
        assert_non_null(again);
        assert_int_equal(again->stats.files_reused, 1);
        s_same_config(cfg, again);
        config_destroy(&again);
        config_destroy(&prev);
        prev = cfg;
    }
    s_write(f, "main.conf",
            PRELUDE "campaigns = ( { name = \"a\"; orders_per_second = 1; } );\n"
                    "stores = (\n@include \"camp.conf\"\n);\n",
            path, sizeof path);
    config_load_options_t o = { .previous = prev, .threads = 2, .cache_dir = cache };
    assert_null(s_load_opts(path, &o, &errors));
    s_expect(errors, "%s:%d: stores[1].campaigns[0].name: unknown campaign: not in campaigns "
             "(got \"b\")", inc, s_line_of(stores, "campaigns ="));
    free(errors);
    config_destroy(&prev);
}

/* s_corrupt damages the cache file PATH in way HOW. */
static void s_corrupt(const char *path, int how)
{
    FILE *io = fopen(path, "r+b");
    assert_non_null(io);
    static unsigned char buf[1 << 20];
    size_t len = fread(buf, 1, sizeof buf, io);
    assert_true(len > 100 && len < sizeof buf);
    rewind(io);
    if (how == 0) {        /* torn: half of it */
        assert_int_equal(ftruncate(fileno(io), (off_t)(len / 2)), 0);
        len = 0;
    } else if (how == 1) { /* one bit in the body */
        buf[len / 2] ^= 0x10;
    } else {               /* another version, its checksum right */
        buf[16]++;
        uint64_t sum = config_cache_hash(buf, len - 8);
        memcpy(buf + len - 8, &sum, 8);
    }
    assert_int_equal(fwrite(buf, 1, len, io), len);
    assert_int_equal(fclose(io), 0);
}

/* A cache file torn, flipped or of another version is ignored (the file is
 * parsed, the result is a parse's) and rewritten. */
static void test_cache_corrupt(void **state)
{
    struct fixture *f = *state;
    char path[512], cache[512], part2[512];
    s_write_split(f, path, sizeof path);
    s_cache_dir(f, cache, sizeof cache);
    config_t *cfg = s_load_cached(path, cache, 3, 0);
    config_destroy(&cfg);
    s_cache_file(f, cache, "part2.conf", part2, sizeof part2);
    for (int how = 0; how < 3; how++) {
        s_corrupt(part2, how);
        cfg = s_load_cached(path, cache, 1, 2);
        config_destroy(&cfg);
        cfg = s_load_cached(path, cache, 0, 3); /* rewritten */
        config_destroy(&cfg);
    }
    /* an empty file */
    FILE *empty = fopen(part2, "w");
    assert_non_null(empty);
    fclose(empty);
    cfg = s_load_cached(path, cache, 1, 2);
    config_destroy(&cfg);
}

/* A store id repeated across files, one of them from the cache: the same
 * message, naming file:line, as without the cache. */
static void test_cache_duplicate_id(void **state)
{
    struct fixture *f = *state;
    char path[512], cache[512], *errors, *plain_errors;
    s_write_split(f, path, sizeof path);
    s_cache_dir(f, cache, sizeof cache);
    config_t *cfg = s_load_cached(path, cache, 3, 0);
    config_destroy(&cfg);
    /* part1 takes an id of part2 and one of part3, which come from the cache */
    int dup2 = 1000 + PART_STORES + 5, dup3 = 1000 + 2 * PART_STORES + 7;
    char extra[512];
    snprintf(extra, sizeof extra, "{ id = %d; " STORE_REQUIRED " }, { id = %d; " STORE_REQUIRED " }",
             dup2, dup3);
    s_write_part(f, "part1.conf", 1000, PART_STORES, 1000 + 10, extra, 4);
    config_load_options_t o = { .threads = 2, .cache_dir = cache };
    cfg = s_load_opts(path, &o, &errors);
    assert_null(cfg);
    cfg = s_load_opts(path, &s_two, &plain_errors);
    assert_null(cfg);
    assert_string_equal(errors, plain_errors);
    char inc[600], first[600];
    snprintf(inc, sizeof inc, "%s/part2.conf", f->dir);
    snprintf(first, sizeof first, "%s/part1.conf", f->dir);
    s_expect(errors, "%s:%d: stores[%d].id: duplicate store id %d (first at %s:%d)\n", inc,
             s_file_line(inc, "{ id = 2505;"), 2 + PART_STORES + 5, dup2, first, /* part1 has one more */
             s_file_line(first, "{ id = 2505;"));
    free(errors);
    free(plain_errors);
    /* (the failed load read part2 and part3 from the cache, which are good;
     * it wrote nothing, so part1's is still that of its first text) */
    s_write_part(f, "part1.conf", 1000, PART_STORES, -1, NULL, 4);
    cfg = s_load_cached(path, cache, 0, 3);
    config_destroy(&cfg);
}

/* A cache directory that cannot be written: the load succeeds, and says
 * how many cache files it could not write. */
static void test_cache_unwritable(void **state)
{
    struct fixture *f = *state;
    char path[512], cache[512], *errors;
    s_write_split(f, path, sizeof path);
    snprintf(cache, sizeof cache, "%s/no/such/dir", f->dir);
    config_load_options_t o = { .threads = 2, .cache_dir = cache };
    config_t *cfg = s_load_opts(path, &o, &errors);
    assert_non_null(cfg);
    assert_int_equal(cfg->stats.cache_write_failures, 3);
    assert_int_equal(cfg->store_count, 2 + 3 * PART_STORES);
    config_destroy(&cfg);
    if (geteuid() == 0)
        return; /* root writes where the mode says no */
    s_cache_dir(f, cache, sizeof cache);
    assert_int_equal(chmod(cache, 0500), 0);
    cfg = s_load_opts(path, &o, &errors);
    assert_non_null(cfg);
    assert_int_equal(cfg->stats.cache_write_failures, 3);
    assert_int_equal(s_cache_files(cache), 0);
    config_destroy(&cfg);
}

/* A value of every kind of store key survives config_cache_write and
 * config_cache_read (the codec walks the key table's store rows): a store
 * with every key off its default, and one with none of the optional ones
 * (no name, brand, zone, platforms or staffing), come back field for field. */
static void test_cache_round_trip(void **state)
{
    struct fixture *f = *state;
    char cache[512];
    s_cache_dir(f, cache, sizeof cache);
    config_brand_t brands[] = { { .name = "heytea" }, { .name = "chagee" } };
    config_platform_t platforms[] = { { .name = "meituan" }, { .name = "jd" }, { .name = "eleme" } };
    config_campaign_t campaigns[] = { { .name = "free-tea" }, { .name = "half-price" } };
    config_shard_t shards[] = { { .name = "east" }, { .name = "west" } };
    config_cache_key_t key = { "/etc/sluice/stores-a.conf", "stores-a.conf", 12345,
                               UINT64_C(0xfeedface), brands, 2, platforms, 3, campaigns, 2,
                               shards, 2 };
    char name[] = "Heytea \"Xixi\" \xe6\xb5\xb7";
    config_store_t st[2] = {
        { .id = 3000000000u, .brand = 1, .name = name, .lat = -33.8688, .lng = 151.2093,
          .prep_slots = 7, .item_seconds = 45, .order_seconds = 12, .max_wait_minutes = 90,
          .max_queue = 321, .open_minute = 22 * 60, .close_minute = 2 * 60 + 30,
          .timezone = "Australia/Sydney", .paused = true, .platform_count = 3,
          .platforms = { 2, 0, 1 }, .staffing_count = 2,
          .staffing = { { 11 * 60, 14 * 60, 9 }, { 23 * 60, 60, 1 } }, .typical_drinks = 3,
          .campaign_count = 2, .campaigns = { { 1, 0.25 }, { 0, 0.0 } }, .shard = 1, .line = 42 },
        { .id = 1, .brand = -1, .prep_slots = 1, .item_seconds = 1, .max_wait_minutes = 1,
          .max_queue = 1, .close_minute = 24 * 60, .shard = -1, .line = 44 },
    };
    unsigned lines[] = { 43, 45 };
    assert_true(config_cache_write(cache, &key, st, lines, 2));
    config_cache_entry_t e;
    assert_true(config_cache_read(cache, &key, &e));
    assert_int_equal(e.count, 2);
    assert_int_equal(e.timezone_count, 1);
    assert_string_equal(e.timezones[0], "Australia/Sydney");
    for (size_t i = 0; i < 2; i++) {
        const config_store_t *a = &st[i], *b = &e.stores[i];
        assert_int_equal(b->id, a->id);
        assert_int_equal(b->brand, a->brand);
        if (a->name)
            assert_string_equal(b->name, a->name);
        else
            assert_null(b->name);
        assert_true(b->lat == a->lat && b->lng == a->lng);
        assert_int_equal(b->prep_slots, a->prep_slots);
        assert_int_equal(b->item_seconds, a->item_seconds);
        assert_int_equal(b->order_seconds, a->order_seconds);
        assert_int_equal(b->max_wait_minutes, a->max_wait_minutes);
        assert_int_equal(b->max_queue, a->max_queue);
        assert_int_equal(b->open_minute, a->open_minute);
        assert_int_equal(b->close_minute, a->close_minute);
        if (a->timezone)
            assert_ptr_equal(b->timezone, e.timezones[0]); /* into the entry's table */
        else
            assert_null(b->timezone);
        assert_int_equal(b->paused, a->paused);
        assert_int_equal(b->platform_count, a->platform_count);
        assert_memory_equal(b->platforms, a->platforms, sizeof a->platforms);
        assert_int_equal(b->staffing_count, a->staffing_count);
        assert_memory_equal(b->staffing, a->staffing, sizeof a->staffing);
        assert_int_equal(b->typical_drinks, a->typical_drinks);
        assert_int_equal(b->campaign_count, a->campaign_count);
        for (int k = 0; k < a->campaign_count; k++) {
            assert_int_equal(b->campaigns[k].campaign, a->campaigns[k].campaign);
            assert_true(b->campaigns[k].store_share == a->campaigns[k].store_share);
        }
        assert_int_equal(b->shard, a->shard);
        assert_int_equal(b->line, a->line);
        assert_int_equal(e.id_lines[i], lines[i]);
    }
    config_cache_entry_free(&e);
    /* indexes are only good against the same names: another key is a miss */
    key.campaigns = (config_campaign_t[]){ { .name = "half-price" }, { .name = "free-tea" } };
    assert_false(config_cache_read(cache, &key, &e));
    assert_null(e.stores);
    key.campaigns = campaigns;
    key.shards = (config_shard_t[]){ { .name = "west" }, { .name = "east" } };
    assert_false(config_cache_read(cache, &key, &e));
    assert_null(e.stores);
    key.shards = shards;
    key.platform_count = 2;
    assert_false(config_cache_read(cache, &key, &e));
    assert_null(e.stores);
}

/* ------------------------------------------------------------ 300,000 stores */

static void test_300k_stores(void **state)
{
    static const char *const zones[] = {
        "Asia/Shanghai", "Asia/Tokyo", "Asia/Seoul", "Asia/Singapore", "Asia/Hong_Kong",
        "Asia/Taipei", "Asia/Bangkok", "Asia/Kolkata", "Asia/Dubai", "Europe/London",
        "Europe/Paris", "Europe/Berlin", "Europe/Madrid", "Europe/Rome", "Europe/Moscow",
        "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles",
        "America/Sao_Paulo", "America/Mexico_City", "Australia/Sydney", "Australia/Perth",
        "Pacific/Auckland", "Africa/Cairo", "Africa/Johannesburg", "UTC",
    };
    const size_t nzones = sizeof zones / sizeof zones[0];
#if defined(__SANITIZE_ADDRESS__)
    const int count = 30000; /* ASan takes minutes over libconfig's 5 million allocations */
#else
    const int count = 300000;
#endif
    struct fixture *f = *state;
    char path[512], *errors = NULL;
    snprintf(path, sizeof path, "%s/big.conf", f->dir);
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    fputs(PRELUDE "stores = (\n", out);
    for (int i = 0; i < count; i++) {
        fprintf(out,
                "  { id = %d; brand = \"heytea\"; name = \"Store %d\"; location = [%.4f, %.4f];"
                " prep_slots = %d; item_seconds = 60; order_seconds = 30; max_wait_minutes = 40;"
                " max_queue = 200; hours = \"09:00-23:00\"; timezone = \"%s\"; paused = false;"
                " platforms = [\"meituan\", \"jd\"];%s }%s\n",
                100000 + i, i, 20 + (i % 2000) / 100.0, 110 + (i % 3000) / 100.0, 1 + i % 8,
                zones[(size_t)i / 1000 % nzones],
                i % 10 == 0 ? " staffing = ( { from = \"11:00\"; to = \"14:00\"; prep_slots = 9; } );" : "",
                i < count - 1 ? "," : "");
    }
    fputs(");\n", out);
    assert_int_equal(fclose(out), 0);

    /* libconfig alone first: it pays for growing the heap, which the load
     * after it reuses, so the comparison below cannot flatter config.c. */
    double t0 = s_now();
    lc_config_t lc;
    config_init(&lc);
    assert_true(config_read_file(&lc, path));
    lc_destroy(&lc);
    double parse = s_now() - t0;

    t0 = s_now();
    config_t *cfg = config_load(path, &errors);
    double total = s_now() - t0;
    if (!cfg)
        print_error("%.2000s", errors);
    assert_non_null(cfg);
    printf("[ INFO     ] %d stores: config_load %.3f s; libconfig's parse alone %.3f s\n", count,
           total, parse);
    assert_int_equal(cfg->store_count, (size_t)count);
    assert_int_equal(cfg->stores[count - 1].id, 100000 + count - 1);
    assert_int_equal(cfg->stores[10].staffing_count, 1);
    assert_int_equal(cfg->timezone_count, nzones);
    config_destroy(&cfg);
    unlink(path);

    /* libconfig 1.5 itself needs 1.5-5 s for this file on a small VM, so the
     * "well under a second" goal cannot be asserted absolutely. What config.c
     * controls is its own share: validation must not cost more than half of
     * libconfig's parse (a quadratic duplicate check would take minutes). */
    assert_true(total < 1.5 * parse + 0.5);
#if defined(__SANITIZE_ADDRESS__)
    assert_true(total < 300);
#else
    assert_true(total < 60);
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_loads),
        cmocka_unit_test(test_sample_documents_every_key),
        cmocka_unit_test(test_shard_sample_loads),
        cmocka_unit_test(test_key_table),
        cmocka_unit_test_setup_teardown(test_defaults, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_empty_file_loads, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_values, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_campaign_values, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_missing_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_syntax_error, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_each_error, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_too_many_staffing_windows, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_all_errors_reported, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_errors_are_capped, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_include, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_include_directory, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_split_same_as_whole, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_only_store, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_split_errors_same_as_whole, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_split_falls_back, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_reload_reuses_unchanged_files, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_cache_same_as_parse, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_cache_brands_changed, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_cache_campaigns_changed, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_cache_corrupt, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_cache_duplicate_id, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_cache_unwritable, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_cache_round_trip, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_300k_stores, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
