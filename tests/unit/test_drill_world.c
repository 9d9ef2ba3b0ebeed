/* test_drill_world.c - sluice-drill's world (tools/drill/drill_world.c): one seed
 * gives one population, kitchens within their ranges, Zipf popularity, the
 * giveaway's demand shape, and a generated config that sluiced's own parser
 * (config_load) accepts, with pauses and halved brands carried over, and as
 * a node of a shard (--ha). Also the report's failovers
 * (tools/drill/drill_report.c): how long each left intake unavailable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../tools/drill/drill_report.h"
#include "../../tools/drill/drill_world.h"
#include "config.h"
#include "unit_tmp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    bool ranks[2001] = {false};
    for (size_t i = 0; i < w->store_count; i++) {
        const drill_store_t *s = &w->stores[i];
        assert_int_equal(s->id, 1001 + i);
        assert_in_range(s->prep_slots, 2, 8);
        assert_in_range(s->item_seconds, 30, 90);
        assert_in_range(s->order_seconds, 20, 60);
        assert_in_range(s->max_wait_minutes, 20, 45);
        /* compressed by 180, never below 1 */
        assert_in_range(s->cfg_item_seconds, 1, 1);
        assert_in_range(s->cfg_max_wait_minutes, 1, 1);
        assert_in_range(s->platform_count, 1, DRILL_PLATFORMS);
        for (uint32_t k = 0; k < s->platform_count; k++)
            for (uint32_t j = k + 1; j < s->platform_count; j++)
                assert_int_not_equal(s->platforms[k], s->platforms[j]);
        assert_in_range(s->brand, 0, w->brand_count - 1);
        /* within ~10 km of its city */
        const drill_city_t *city = &w->cities[s->city];
        assert_true(fabs(s->lat - city->lat) < 0.1 && fabs(s->lng - city->lng) < 0.1);
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
    drill_endpoints_t ep = {.dsn = "host=/nonexistent dbname=sluice",
                            .ingress = "tcp://127.0.0.1:7400",
                            .events = "tcp://127.0.0.1:7401",
                            .control = "ipc:///tmp/drill-unit.sock",
                            .http = "127.0.0.1:9464"};
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
        assert_int_equal(cfg->stores[i].max_wait_minutes, (int)w->stores[i].cfg_max_wait_minutes);
        assert_int_equal(cfg->stores[i].platform_count, (int)w->stores[i].platform_count);
    }
    config_destroy(&cfg);
    free(errors);
    unlink(path);
    drill_world_destroy(&w);
}

/* A node of shard s2 of three: the daemon's fleet keys, the shards and
 * their endpoints, every store in the shard drill_world_store_shard says. */
static void test_config_of_a_shard_node(void **state)
{
    (void)state;
    drill_world_t *w = drill_world_new(30, 3, 180, 100);
    assert_non_null(w);
    drill_endpoints_t ep = {.dsn = "host=127.0.0.1,127.0.0.1 port=5433,5434 dbname=sluice"
                                   " target_session_attrs=read-write",
                            .ingress = "tcp://127.0.0.1:7410",
                            .events = "tcp://127.0.0.1:7411",
                            .control = "ipc:///tmp/drill-unit-s2-1/control.sock",
                            .http = "127.0.0.1:9465",
                            .shards = 3,
                            .shard = 1,
                            .node = "s2-1",
                            .lease_seconds = 4};
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
    size_t per_shard[3] = {0};
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
        cmocka_unit_test(test_config_of_a_shard_node),
        cmocka_unit_test(test_failover_unavailability),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
