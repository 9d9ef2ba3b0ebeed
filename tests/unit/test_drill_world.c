/* test_drill_world.c - sluice-drill's world (tools/drill/drill_world.c): one seed
 * gives one population, kitchens within their ranges, Zipf popularity, the
 * giveaway's demand shape, and a generated config that sluiced's own parser
 * (config_load) accepts, with pauses and halved brands carried over and the
 * giveaway's campaign; the report's store classes and campaign figures. */
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
    assert_int_equal(cfg->campaign_count, 0);   /* none set */
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
    r->kinds[0][0] = (drill_kind_t){.offered = 10, .submissions = 12, .accepted = 6,
                                    .accepted_prep_s = 30};
    r->kinds[0][1] = (drill_kind_t){.offered = 20, .submissions = 40, .accepted = 4,
                                    .accepted_prep_s = 20};
    r->kinds[2][1] = (drill_kind_t){.offered = 5, .submissions = 8, .accepted = 4,
                                    .accepted_prep_s = 9};
    assert_true(drill_report_regular_share(r) > 0.5999 && drill_report_regular_share(r) < 0.6001);
    assert_true(drill_report_regular_accepted(r) == 0.6);
    assert_true(drill_report_per_accepted(r, 0) == 2.0);
    assert_true(drill_report_per_accepted(r, 1) == 6.0);
    assert_true(drill_report_per_accepted(r, 2) == 60.0 / 14.0);
    drill_report_destroy(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_same_world),
        cmocka_unit_test(test_kitchens_in_their_ranges),
        cmocka_unit_test(test_zipf_popularity),
        cmocka_unit_test(test_demand_shape),
        cmocka_unit_test(test_config_is_valid_and_follows_chaos),
        cmocka_unit_test(test_report_classes_and_shares),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
