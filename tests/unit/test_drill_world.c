/* test_drill_world.c - sluice-drill's world (tools/drill/drill_world.c): one seed
 * gives one population, kitchens within their ranges, Zipf popularity, the
 * giveaway's demand shape, and a generated config that sluiced's own parser
 * (config_load) accepts, with pauses and halved brands carried over, the
 * giveaway's campaign, and as a node of a shard (--ha); a compressed store
 * promises what the real one would, through sluiced's own admission
 * (admit.c); a big world in store files and several cities, for every node;
 * the report's store classes, campaign figures, sums, axes and labels, and
 * its failovers: how long each left intake unavailable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../tools/drill/drill_report.h"
#include "../../tools/drill/drill_world.h"
#include "admit.h"
#include "proto/sluice.pb-c.h"
#include "config.h"
#include "store.h"
#include "unit_tmp.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_same_seed_same_world(void **state)
{
    (void)state;
    drill_world_t *a = drill_world_new(300, 7, 180, 200);
    drill_world_t *b = drill_world_new(300, 7, 180, 200);
    drill_world_t *c = drill_world_new(300, 8, 180, 200);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_memory_equal(a->stores, b->stores, 300 * sizeof *a->stores);
    assert_memory_not_equal(a->stores, c->stores, 300 * sizeof *a->stores);
    drill_world_destroy(&a);
    drill_world_destroy(&b);
    drill_world_destroy(&c);
    assert_null(a);
    drill_world_destroy(NULL);
    assert_null(drill_world_new(0, 1, 180, 200));
}

static void test_kitchens_in_their_ranges(void **state)
{
    (void)state;
    drill_world_t *w = drill_world_new(2000, 1, 180, 200);
    assert_non_null(w);
    bool ranks[2001] = { false };
    for (size_t i = 0; i < w->store_count; i++) {
        const drill_store_t *s = &w->stores[i];
        assert_int_equal(s->id, 1001 + i);
        assert_in_range(s->prep_slots, 2, 8);
        assert_in_range(s->item_seconds, 30, 90);
        assert_in_range(s->order_seconds, 20, 60);
        assert_in_range(s->max_wait_minutes, 20, 45);
        /* compressed by 180, exactly: the config takes fractions */
        assert_true(s->cfg_item_seconds == s->item_seconds / 180.0);
        assert_true(s->cfg_order_seconds == s->order_seconds / 180.0);
        assert_true(s->cfg_max_wait_minutes == s->max_wait_minutes / 180.0);
        assert_in_range(s->platform_count, 1, DRILL_PLATFORMS);
        for (uint32_t k = 0; k < s->platform_count; k++)
            for (uint32_t j = k + 1; j < s->platform_count; j++)
                assert_int_not_equal(s->platforms[k], s->platforms[j]);
        assert_in_range(s->brand, 0, w->brand_count - 1);
        /* within ~10 km of its district, of the one city a small world has */
        assert_int_equal(s->city, 0);
        const double *district = w->cities[s->city].district_at[s->district];
        assert_true(fabs(s->lat - district[0]) < 0.1 && fabs(s->lng - district[1]) < 0.1);
        assert_in_range(s->rank, 1, 2000);
        assert_false(ranks[s->rank]);
        ranks[s->rank] = true;
    }
    /* a small time scale keeps real kitchens */
    drill_world_t *slow = drill_world_new(10, 1, 1, 200);
    assert_non_null(slow);
    assert_int_equal(slow->stores[0].cfg_item_seconds, slow->stores[0].item_seconds);
    drill_world_destroy(&slow);
    drill_world_destroy(&w);
}

static void test_zipf_popularity(void **state)
{
    (void)state;
    drill_world_t *w = drill_world_new(200, 3, 180, 200);
    assert_non_null(w);
    uint32_t *hits = calloc(w->store_count, sizeof *hits);
    uint64_t rng = 42;
    const int draws = 200000;
    for (int i = 0; i < draws; i++)
        hits[drill_world_pick_store(w, &rng)]++;
    size_t top = drill_world_most_popular(w);
    assert_int_equal(w->stores[top].rank, 1);
    /* H(200) = 5.878: rank 1 gets 17% of orders, rank 2 half of that */
    double share = (double)hits[top] / draws;
    assert_true(share > 0.15 && share < 0.19);
    for (size_t i = 0; i < w->store_count; i++) {
        if (w->stores[i].rank == 2) {
            double r = (double)hits[i] / hits[top];
            assert_true(r > 0.45 && r < 0.55);
        }
    }
    free(hits);
    drill_world_destroy(&w);
}

static void test_demand_shape(void **state)
{
    (void)state;
    double noon = drill_world_demand(12.0);
    assert_true(noon > 0.99 && noon <= 1.0);
    for (double h = DRILL_DAY_START_H; h <= DRILL_DAY_END_H; h += 0.25) {
        double d = drill_world_demand(h);
        assert_true(d > 0.2 && d <= 1.0);
    }
    /* ramp to noon, fall through the afternoon, evening bump */
    assert_true(drill_world_demand(10.0) < drill_world_demand(11.0));
    assert_true(drill_world_demand(11.0) < noon);
    assert_true(drill_world_demand(15.5) < drill_world_demand(13.0));
    assert_true(drill_world_demand(17.5) > drill_world_demand(15.5) + 0.1);
    assert_true(drill_world_demand(19.0) < drill_world_demand(17.5));
}

static void test_config_is_valid_and_follows_chaos(void **state)
{
    (void)state;
    drill_world_t *w = drill_world_new(50, 5, 180, 100);
    assert_non_null(w);
    drill_endpoints_t ep = { .dsn = "host=/nonexistent dbname=sluice",
                             .ingress = "tcp://127.0.0.1:7400",
                             .events = "tcp://127.0.0.1:7401",
                             .control = "ipc:///tmp/drill-unit.sock",
                             .http = "127.0.0.1:9464" };
    for (int p = 0; p < DRILL_PLATFORMS; p++)
        snprintf(ep.platform_endpoint[p], sizeof ep.platform_endpoint[p], "tcp://127.0.0.1:%d",
                 7601 + p);
    char path[512];
    assert_true(unit_tmp_template(path, sizeof path, "test_drill_world"));
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);

    size_t top = drill_world_most_popular(w);
    w->stores[top].paused = true;
    size_t brand = drill_world_find_brand(w, "");
    assert_int_equal(brand, w->stores[top].brand);
    w->brands[brand].orders_per_second /= 2;
    assert_true(drill_world_write_config(w, &ep, path));

    char *errors = NULL;
    config_t *cfg = config_load(path, &errors);
    if (cfg == NULL)
        fail_msg("generated config refused:\n%s", errors ? errors : "");
    assert_int_equal(cfg->store_count, 50);
    assert_int_equal(cfg->platform_count, DRILL_PLATFORMS);
    assert_int_equal(cfg->brand_count, w->brand_count);
    assert_int_equal(cfg->brands[brand].orders_per_second, w->brands[brand].orders_per_second);
    for (size_t i = 0; i < cfg->store_count; i++) {
        assert_int_equal(cfg->stores[i].id, w->stores[i].id);
        assert_int_equal(cfg->stores[i].paused, i == top);
        assert_true(fabs(cfg->stores[i].max_wait_minutes - w->stores[i].cfg_max_wait_minutes) <
                    1e-8);
        assert_true(fabs(cfg->stores[i].item_seconds - w->stores[i].cfg_item_seconds) < 1e-8);
        assert_int_equal(cfg->stores[i].platform_count, (int)w->stores[i].platform_count);
    }
    assert_int_equal(cfg->campaign_count, 0); /* none set */
    /* promises: 5 simulated minutes of handoff, the riders' mean speed */
    assert_true(fabs(cfg->dispatch.handoff_seconds - 300.0 / 180) < 1e-8);
    assert_true(fabs(cfg->dispatch.rider_kmh - 20.0 * 180) < 1e-6);
    config_destroy(&cfg);
    free(errors);

    /* the giveaway's campaign, paced at the peak, and events every 250 ms */
    snprintf(w->campaign_name, sizeof w->campaign_name, "%s", DRILL_CAMPAIGN);
    w->campaign_store_share = 0.4;
    w->availability_event_ms = 250;
    assert_true(drill_world_write_config(w, &ep, path));
    cfg = config_load(path, &errors);
    if (cfg == NULL)
        fail_msg("generated config refused:\n%s", errors ? errors : "");
    assert_int_equal(cfg->campaign_count, 1);
    assert_string_equal(cfg->campaigns[0].name, "giveaway");
    assert_true(cfg->campaigns[0].store_share > 0.39 && cfg->campaigns[0].store_share < 0.41);
    assert_int_equal(cfg->campaigns[0].orders_per_second, 100);
    assert_int_equal(cfg->daemon.availability_event_ms, 250);
    config_destroy(&cfg);
    free(errors);
    unlink(path);
    drill_world_destroy(&w);
}

/* s_write_load writes W's config to PATH and loads it with sluiced's parser. */
static config_t *s_write_load(drill_world_t *w, const char *path)
{
    drill_endpoints_t ep = { .dsn = "host=/nonexistent dbname=sluice",
                             .ingress = "tcp://127.0.0.1:7400",
                             .events = "tcp://127.0.0.1:7401",
                             .control = "ipc:///tmp/drill-unit.sock",
                             .http = "127.0.0.1:9464" };
    for (int p = 0; p < DRILL_PLATFORMS; p++)
        snprintf(ep.platform_endpoint[p], sizeof ep.platform_endpoint[p], "tcp://127.0.0.1:%d",
                 7601 + p);
    assert_true(drill_world_write_config(w, &ep, path));
    char *errors = NULL;
    config_t *cfg = config_load(path, &errors);
    if (cfg == NULL)
        fail_msg("generated config refused:\n%s", errors ? errors : "");
    free(errors);
    return cfg;
}

/* One kitchen under the same orders, in real time and compressed. */
typedef struct {
    config_t *cfg;
    store_table_t *stores;
    admit_t *admit;
} kitchen_env_t;

static void s_kitchen_env(kitchen_env_t *k, drill_world_t *w, const char *path)
{
    k->cfg = s_write_load(w, path);
    k->stores = store_table_new();
    assert_non_null(k->stores);
    assert_true(store_table_apply(k->stores, k->cfg, 0));
    k->admit = admit_new(k->cfg, 1);
    assert_non_null(k->admit);
}

static void s_kitchen_env_free(kitchen_env_t *k)
{
    admit_destroy(&k->admit);
    store_table_destroy(&k->stores);
    config_destroy(&k->cfg);
}

/* A store of the drill at time scale 270 (the day in two minutes) promises,
 * in simulated time, what the same store promises in real time, within 5%
 * (here within a millisecond a promise): the same orders, 12 simulated
 * minutes apart then a rush, get the same decisions, ready and delivery
 * times; delivery travel uses the simulated riders' mean speed. */
static void test_compressed_store_promises_as_real_one(void **state)
{
    (void)state;
    const double scale = 270;
    drill_world_t *real = drill_world_new(20, 9, 1, 1e6);
    drill_world_t *fast = drill_world_new(20, 9, scale, 1e6);
    assert_non_null(real);
    assert_non_null(fast);
    char dir[512], path[600];
    assert_true(unit_tmp_template(dir, sizeof dir, "test_drill_world"));
    assert_non_null(mkdtemp(dir));
    kitchen_env_t r, f;
    snprintf(path, sizeof path, "%s/real.conf", dir);
    s_kitchen_env(&r, real, path);
    snprintf(path, sizeof path, "%s/fast.conf", dir);
    s_kitchen_env(&f, fast, path);
    assert_true(fabs(f.cfg->dispatch.rider_kmh - real->rider_kmh * scale) < 1e-6);

    const uint64_t t0 = UINT64_C(1800000000000); /* a wall clock ms, any */
    size_t busy = 0, accepted = 0;
    for (size_t s = 0; s < 4; s++) {
        uint32_t id = real->stores[s].id;
        double lat = real->stores[s].lat + 0.02, lng = real->stores[s].lng; /* 2.2 km north */
        for (unsigned i = 0; i < 40; i++) {
            /* 12 minutes apart, then a rush of one a second */
            double at_s = i < 5 ? 720.0 * i : 2880.0 + (i - 4);
            unsigned drinks = 1 + i % 3;
            admit_result_t a, b;
            admit_order_in_t in = { .drinks = drinks, .dropoff_lat = lat, .dropoff_lng = lng };
            in.now_ms = t0 + (uint64_t)llround(at_s * 1000);
            in.now_us = 1 + (uint64_t)llround(at_s * 1e6);
            bool ok_real = admit_order(r.admit, r.stores, store_table_find(r.stores, id), &in, &a);
            in.now_ms = t0 + (uint64_t)llround(at_s * 1000 / scale);
            in.now_us = 1 + (uint64_t)llround(at_s * 1e6 / scale);
            bool ok_fast = admit_order(f.admit, f.stores, store_table_find(f.stores, id), &in, &b);
            assert_int_equal(ok_real, ok_fast);
            assert_int_equal(a.reason, b.reason);
            if (!ok_real) {
                busy += a.reason == SLUICE__V1__REASON__STORE_BUSY;
                continue;
            }
            accepted++;
            double ready_real = (double)(a.plan.ready_ms - (t0 + (uint64_t)llround(at_s * 1000)));
            double ready_fast = (double)(b.plan.ready_ms - in.now_ms) * scale;
            double deliver_real = (double)(a.promised_delivery_at_ms - a.plan.ready_ms);
            double deliver_fast = (double)(b.promised_delivery_at_ms - b.plan.ready_ms) * scale;
            assert_true(fabs(ready_fast - ready_real) <= 0.05 * ready_real);
            assert_true(fabs(deliver_fast - deliver_real) <= 0.05 * deliver_real);
            /* ready + 5 minutes of handoff + 2.2 km at 20 km/h: about 11.7 minutes */
            assert_true(deliver_real > 11 * 60000.0 && deliver_real < 12.5 * 60000.0);
        }
    }
    assert_true(accepted >= 20);
    assert_true(busy > 0); /* the rush met max_wait_minutes in both */
    s_kitchen_env_free(&r);
    s_kitchen_env_free(&f);
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    assert_int_equal(system(path), 0);
    drill_world_destroy(&real);
    drill_world_destroy(&fast);
}

/* Past 3,000 stores the stores go in @include'd files that sluiced loads in
 * parallel, and a pause rewrites only its store's file; past 25,000 they
 * spread over several cities, about evenly. */
static void test_big_world_in_files_and_cities(void **state)
{
    (void)state;
    drill_world_t *w = drill_world_new(7000, 2, 180, 3200);
    assert_non_null(w);
    assert_int_equal(w->city_count, 1);
    char dir[512], path[600], file[700];
    assert_true(unit_tmp_template(dir, sizeof dir, "test_drill_world"));
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/sluice.conf", dir);
    config_t *cfg = s_write_load(w, path);
    assert_int_equal(cfg->store_count, 7000);
    assert_int_equal(cfg->stores[6999].id, w->stores[6999].id);
    assert_true(fabs(cfg->stores[4500].item_seconds - w->stores[4500].cfg_item_seconds) < 1e-8);
    config_destroy(&cfg);
    struct stat before[3], after[3];
    for (int k = 0; k < 3; k++) {
        snprintf(file, sizeof file, "%s.stores-%03d.conf", path, k);
        assert_int_equal(stat(file, &before[k]), 0);
    }
    w->stores[4000].paused = true; /* in the second file */
    cfg = s_write_load(w, path);
    assert_true(cfg->stores[4000].paused);
    assert_false(cfg->stores[3999].paused);
    config_destroy(&cfg);
    for (int k = 0; k < 3; k++) {
        snprintf(file, sizeof file, "%s.stores-%03d.conf", path, k);
        assert_int_equal(stat(file, &after[k]), 0);
        assert_int_equal(after[k].st_ino != before[k].st_ino, k == 1);
    }
    snprintf(file, sizeof file, "rm -rf '%s'", dir);
    assert_int_equal(system(file), 0);
    drill_world_destroy(&w);

    w = drill_world_new(60000, 2, 54, 3200);
    assert_non_null(w);
    assert_int_equal(w->city_count, 3);
    size_t per_city[3] = { 0 };
    for (size_t i = 0; i < w->store_count; i++) {
        const drill_store_t *s = &w->stores[i];
        assert_in_range(s->city, 0, 2);
        per_city[s->city]++;
        /* within a rider's reach of its city's centre */
        assert_true(fabs(s->lat - w->cities[s->city].lat) < 0.2 &&
                    fabs(s->lng - w->cities[s->city].lng) < 0.2);
    }
    for (int c = 0; c < 3; c++)
        assert_true(per_city[c] > 19000 && per_city[c] < 21000);
    assert_string_equal(w->cities[1].name, "Shanghai");
    drill_world_destroy(&w);
}

/* With --ha every node has its own config and store files: each gets them
 * all, with the shards, and a pause reaches every node's copy. */
static void test_big_world_for_every_node(void **state)
{
    (void)state;
    drill_world_t *w = drill_world_new(7000, 2, 180, 3200);
    assert_non_null(w);
    char dir[512], conf[2][700], cmd[700];
    assert_true(unit_tmp_template(dir, sizeof dir, "test_drill_nodes"));
    assert_non_null(mkdtemp(dir));
    drill_endpoints_t eps[2];
    const char *paths[2];
    for (int n = 0; n < 2; n++) {
        eps[n] = (drill_endpoints_t){ .dsn = "host=/nonexistent dbname=sluice",
                                      .control = "ipc:///tmp/drill-unit-nodes.sock",
                                      .http = "127.0.0.1:9466",
                                      .shards = 2,
                                      .shard = 0,
                                      .lease_seconds = 4 };
        snprintf(eps[n].node, sizeof eps[n].node, "s1-%d", n + 1);
        snprintf(eps[n].ingress, sizeof eps[n].ingress, "tcp://127.0.0.1:%d", 7420 + n);
        snprintf(eps[n].events, sizeof eps[n].events, "tcp://127.0.0.1:%d", 7430 + n);
        for (int p = 0; p < DRILL_PLATFORMS; p++)
            snprintf(eps[n].platform_endpoint[p], sizeof eps[n].platform_endpoint[p],
                     "tcp://127.0.0.1:%d", 7601 + p);
        for (uint32_t sh = 0; sh < 2; sh++)
            for (int k = 0; k < DRILL_NODES_PER_SHARD; k++)
                snprintf(eps[n].shard_ingress[sh][k], sizeof eps[n].shard_ingress[sh][k],
                         "tcp://127.0.0.1:%u", 7800 + 10 * sh + (uint32_t)k);
        snprintf(conf[n], sizeof conf[n], "%s/node%d", dir, n + 1);
        assert_int_equal(mkdir(conf[n], 0700), 0);
        strncat(conf[n], "/sluice.conf", sizeof conf[n] - strlen(conf[n]) - 1);
        paths[n] = conf[n];
    }
    for (int round = 0; round < 2; round++) {
        if (round == 1)
            w->stores[4000].paused = true; /* in the second file */
        assert_true(drill_world_write_configs(w, eps, paths, 2));
        for (int n = 0; n < 2; n++) {
            char *errors = NULL;
            config_t *cfg = config_load(paths[n], &errors);
            if (cfg == NULL)
                fail_msg("node %d's config refused:\n%s", n + 1, errors ? errors : "");
            assert_int_equal(cfg->store_count, 7000);
            assert_int_equal(cfg->stores[4001].shard, (int)drill_world_store_shard(4001, 2));
            assert_int_equal(cfg->stores[4000].paused, round == 1);
            config_destroy(&cfg);
            free(errors);
        }
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    drill_world_destroy(&w);
}

/* Stores fall in three classes by popularity; the campaign's figures are
 * the report's sums over them. */
static void test_report_classes_and_shares(void **state)
{
    (void)state;
    assert_int_equal(drill_report_class(1), 0);
    assert_int_equal(drill_report_class(10), 0);
    assert_int_equal(drill_report_class(11), 1);
    assert_int_equal(drill_report_class(100), 1);
    assert_int_equal(drill_report_class(101), 2);
    drill_report_t *r = drill_report_new();
    assert_non_null(r);
    assert_true(drill_report_regular_share(r) == 0);
    assert_true(drill_report_regular_accepted(r) == 0);
    assert_true(drill_report_per_accepted(r, 2) == 0);
    r->kinds[0][0] =
        (drill_kind_t){ .offered = 10, .submissions = 12, .accepted = 6, .accepted_prep_s = 30 };
    r->kinds[0][1] =
        (drill_kind_t){ .offered = 20, .submissions = 40, .accepted = 4, .accepted_prep_s = 20 };
    r->kinds[2][1] =
        (drill_kind_t){ .offered = 5, .submissions = 8, .accepted = 4, .accepted_prep_s = 9 };
    assert_true(drill_report_regular_share(r) > 0.5999 && drill_report_regular_share(r) < 0.6001);
    assert_true(drill_report_regular_accepted(r) == 0.6);
    assert_true(drill_report_per_accepted(r, 0) == 2.0);
    assert_true(drill_report_per_accepted(r, 1) == 6.0);
    assert_true(drill_report_per_accepted(r, 2) == 60.0 / 14.0);
    drill_report_destroy(&r);
}

/* The report's sums: a run whose counts agree passes every one; a count
 * off by one fails its sum and the invariant, which names it. */
static void test_report_checks_its_sums(void **state)
{
    (void)state;
    drill_report_t *r = drill_report_new();
    assert_non_null(r);
    /* 10 orders: 6 accepted, 3 gave up, 1 never answered; 15 submissions */
    r->orders = 10;
    r->accepted = 6;
    r->gave_up = 3;
    r->unanswered = 1;
    r->census[0] = 6;
    r->census[1] = 3;
    r->census[2] = 1;
    r->submissions = 15;
    r->answered_accepted = 6;
    r->rejected = 6;
    r->reasons[SLUICE__V1__REASON__STORE_BUSY] = 5;
    r->reasons[SLUICE__V1__REASON__OVERLOADED] = 1;
    r->timed_out = 2;
    r->unanswered_submissions = 1;
    drill_second_t *e = drill_report_second(r, 0);
    assert_non_null(e);
    *e = (drill_second_t){ .offered = 10,
                           .orders_accepted = 6,
                           .orders_gave_up = 4,
                           .sent = 15,
                           .accepted = 6,
                           .rejected = 6,
                           .timed_out = 2 };
    r->kinds[0][0] = (drill_kind_t){ .offered = 4, .submissions = 5, .accepted = 2 };
    r->kinds[2][1] = (drill_kind_t){ .offered = 6, .submissions = 10, .accepted = 4 };
    r->ready_orders = r->ready_orders_ok = r->ready_ok = 6;
    r->ready_sent = 7;
    r->ready_503 = 1;
    r->measured = true;
    r->db_orders = 7; /* the one never answered was committed */
    r->db_delivered = 6;
    r->db_failed = 1;
    r->db_unacked = 1;
    r->db_dispatches = 3;
    e->dispatched[1] = 3;
    r->late_count = 6;
    drill_report_check_sums(r);
    assert_true(r->sum_count >= 20);
    for (size_t i = 0; i < r->sum_count; i++)
        if (!r->sums[i].ok)
            fail_msg("sum %s = %s does not hold: %" PRId64 " vs %" PRId64, r->sums[i].what,
                     r->sums[i].formula, r->sums[i].left, r->sums[i].right);
    assert_true(drill_report_ok(r));
    assert_string_equal(r->inv[r->inv_count - 1].name, "every count in the report adds up");

    r->inv_count = 0;
    r->reasons[SLUICE__V1__REASON__OVERLOADED] = 0; /* a refusal without its reason */
    r->db_unacked = 2;                              /* more unacked than unanswered */
    drill_report_check_sums(r);
    size_t bad = 0;
    for (size_t i = 0; i < r->sum_count; i++)
        bad += !r->sums[i].ok;
    assert_int_equal(bad, 3); /* reasons; acked + never acked; never acked <= unanswered */
    assert_false(drill_report_ok(r));
    assert_non_null(
        strstr(r->inv[0].detail, "refused submissions 6 != the sum over their reasons 5"));
    drill_report_destroy(&r);
}

/* Axes end at a round step just above the data; chaos labels take the
 * lowest lane where they fit, and a short label of the first words. */
static void test_report_axes_and_labels(void **state)
{
    (void)state;
    double top, step;
    drill_report_axis(260, &top, &step);
    assert_true(top == 300 && step == 50);
    drill_report_axis(500, &top, &step);
    assert_true(top == 500 && step == 100);
    drill_report_axis(0.37, &top, &step);
    assert_true(fabs(top - 0.4) < 1e-9 && fabs(step - 0.1) < 1e-9);
    drill_report_axis(0, &top, &step);
    assert_true(top == 1);
    drill_report_axis(11, &top, &step);
    assert_true(top == 12 && step == 2);

    const double from[] = { 10, 20, 60, 65, 70, 300 };
    const double to[] = { 50, 90, 100, 120, 110, 340 };
    int lane[6];
    assert_int_equal(drill_report_lanes(from, to, 6, 3, lane), 3);
    assert_int_equal(lane[0], 0);
    assert_int_equal(lane[1], 1);
    assert_int_equal(lane[2], 0); /* the first lane is free again at 50 */
    assert_int_equal(lane[3], 2);
    assert_int_equal(lane[4], -1); /* no lane free: its number only */
    assert_int_equal(lane[5], 0);

    drill_report_t *r = drill_report_new();
    assert_non_null(r);
    drill_report_chaos(r, 1, "p2: dark (ok)");
    drill_report_chaos(r, 2, "kill -9 sluiced (pid 7), restarted as pid 8");
    drill_report_chaos(r, 3, "sluiced answering again, 2.0 s after the restart");
    drill_report_chaos(r, 4, "PostgreSQL accepting connections again 2.0 s after the stop");
    char label[64];
    drill_report_chaos_label(r, 0, label, sizeof label);
    assert_string_equal(label, "p2: dark");
    drill_report_chaos_label(r, 1, label, sizeof label);
    assert_string_equal(label, "kill -9 sluiced");
    drill_report_chaos_label(r, 2, label, sizeof label);
    assert_string_equal(label, "sluiced answering again");
    drill_report_chaos_label(r, 3, label, sizeof label);
    assert_string_equal(label, "PostgreSQL accepting\u2026");
    drill_report_destroy(&r);
}

/* A node of shard s2 of three: the daemon's fleet keys, the shards and
 * their endpoints, every store in the shard drill_world_store_shard says. */
static void test_config_of_a_shard_node(void **state)
{
    (void)state;
    drill_world_t *w = drill_world_new(30, 3, 180, 100);
    assert_non_null(w);
    drill_endpoints_t ep = { .dsn = "host=127.0.0.1,127.0.0.1 port=5433,5434 dbname=sluice"
                                    " target_session_attrs=read-write",
                             .ingress = "tcp://127.0.0.1:7410",
                             .events = "tcp://127.0.0.1:7411",
                             .control = "ipc:///tmp/drill-unit-s2-1/control.sock",
                             .http = "127.0.0.1:9465",
                             .shards = 3,
                             .shard = 1,
                             .node = "s2-1",
                             .lease_seconds = 4 };
    for (int p = 0; p < DRILL_PLATFORMS; p++)
        snprintf(ep.platform_endpoint[p], sizeof ep.platform_endpoint[p], "tcp://127.0.0.1:%d",
                 7601 + p);
    for (uint32_t s = 0; s < ep.shards; s++)
        for (int n = 0; n < DRILL_NODES_PER_SHARD; n++)
            snprintf(ep.shard_ingress[s][n], sizeof ep.shard_ingress[s][n], "tcp://127.0.0.1:%u",
                     7700 + 10 * s + (uint32_t)n);
    char path[512];
    assert_true(unit_tmp_template(path, sizeof path, "test_drill_shard"));
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_true(drill_world_write_config(w, &ep, path));

    char *errors = NULL;
    config_t *cfg = config_load(path, &errors);
    if (cfg == NULL)
        fail_msg("generated config refused:\n%s", errors ? errors : "");
    assert_string_equal(cfg->daemon.shard, "s2");
    assert_string_equal(cfg->daemon.node, "s2-1");
    assert_int_equal(cfg->daemon.lease_seconds, 4);
    assert_int_equal(cfg->shard_count, 3);
    assert_string_equal(cfg->shards[2].name, "s3");
    assert_string_equal(cfg->shards[2].endpoints[1], "tcp://127.0.0.1:7721");
    assert_null(cfg->shards[2].endpoints[DRILL_NODES_PER_SHARD]);
    size_t per_shard[3] = { 0 };
    for (size_t i = 0; i < cfg->store_count; i++) {
        uint32_t k = drill_world_store_shard(i, ep.shards);
        assert_int_equal(cfg->stores[i].shard, (int)k);
        per_shard[k]++;
    }
    assert_int_equal(per_shard[0], 10);
    assert_int_equal(per_shard[1], 10);
    assert_int_equal(per_shard[2], 10);
    assert_int_equal(drill_world_store_shard(7, 1), 0);
    config_destroy(&cfg);
    free(errors);
    unlink(path);
    drill_world_destroy(&w);
}

/* A database failover hits every shard, a takeover one: each shard's
 * unavailability is its longest gap between acceptances from the action
 * until the first acceptance once the fleet is whole again; a shard that
 * accepted nothing since is not over; a failover's window ends when the
 * next one begins. */
static void test_failover_unavailability(void **state)
{
    (void)state;
    drill_report_t *r = drill_report_new();
    assert_non_null(r);
    r->shards = 2;
    for (int i = 0; i < 100; i++) { /* until 9.9 and 9.95 */
        drill_report_accepted(r, 0, i / 10.0);
        drill_report_accepted(r, 1, i / 10.0 + 0.05);
    }
    int db = drill_report_failover_begin(r, 10.0, true, 0, "kill-db-primary: %s", "node1");
    assert_int_equal(db, 0);
    assert_int_equal(r->failovers[0].shard, -1); /* every shard */
    drill_report_accepted(r, 0, 10.02);          /* a commit that made it */
    drill_report_accepted(r, 0, 16.0);           /* intake back on s1 */
    drill_report_accepted(r, 1, 14.0);           /* and on s2 */
    drill_report_accepted(r, 1, 14.5);
    assert_false(drill_report_failover_over(r, &r->failovers[0]));
    drill_report_failover_whole(r, db, 17.0);
    drill_report_failover_whole(r, db, 18.0); /* the first time counts */
    assert_true(r->failovers[0].whole_s == 17.0);
    drill_report_accepted(r, 0, 17.5); /* s1 after whole: over there */
    assert_false(drill_report_failover_over(r, &r->failovers[0]));
    drill_report_accepted(r, 0, 30.0); /* after closing: not counted */
    drill_report_accepted(r, 1, 17.2);
    assert_true(drill_report_failover_over(r, &r->failovers[0]));
    const drill_failover_t *f = &r->failovers[0];
    assert_true(f->gap_s[0] > 5.97 && f->gap_s[0] < 5.99);
    assert_true(f->gap_from_s[0] == 10.02 && f->gap_to_s[0] == 16.0);
    assert_true(f->gap_s[1] > 4.04 && f->gap_s[1] < 4.06); /* from 9.95 */
    uint32_t worst_shard = 9;
    double worst = drill_report_failover_worst(r, f, &worst_shard);
    assert_true(worst == f->gap_s[0]);
    assert_int_equal(worst_shard, 0);

    int takeover = drill_report_failover_begin(r, 40.0, false, 1, "kill-active s2");
    assert_int_equal(takeover, 1);
    drill_report_accepted(r, 0, 40.5); /* s1 is not hit */
    drill_report_accepted(r, 1, 43.0);
    drill_report_failover_whole(r, takeover, 44.0);
    assert_false(drill_report_failover_over(r, &r->failovers[1]));
    drill_report_accepted(r, 1, 44.1);
    assert_true(drill_report_failover_over(r, &r->failovers[1]));
    /* s2's last acceptance before was 17.2: the gap runs from there */
    assert_true(r->failovers[1].gap_s[1] > 25.79 && r->failovers[1].gap_s[1] < 25.81);
    assert_true(r->failovers[1].gap_s[0] == 0);
    assert_true(drill_report_failover_worst(r, &r->failovers[1], NULL) == r->failovers[1].gap_s[1]);

    /* one that never came back; the one before it is no longer counted */
    double before = r->failovers[1].gap_s[1];
    int lost = drill_report_failover_begin(r, 50.0, false, 0, "freeze-active s1");
    drill_report_accepted(r, 0, 52.0);
    drill_report_accepted(r, 1, 80.0);
    assert_false(drill_report_failover_over(r, &r->failovers[lost]));
    assert_true(r->failovers[1].gap_s[1] == before);
    assert_true(r->failovers[lost].gap_s[1] == 0);
    drill_report_destroy(&r);
    assert_null(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_same_world),
        cmocka_unit_test(test_kitchens_in_their_ranges),
        cmocka_unit_test(test_zipf_popularity),
        cmocka_unit_test(test_demand_shape),
        cmocka_unit_test(test_config_is_valid_and_follows_chaos),
        cmocka_unit_test(test_compressed_store_promises_as_real_one),
        cmocka_unit_test(test_big_world_in_files_and_cities),
        cmocka_unit_test(test_big_world_for_every_node),
        cmocka_unit_test(test_report_classes_and_shares),
        cmocka_unit_test(test_report_checks_its_sums),
        cmocka_unit_test(test_report_axes_and_labels),
        cmocka_unit_test(test_config_of_a_shard_node),
        cmocka_unit_test(test_failover_unavailability),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
