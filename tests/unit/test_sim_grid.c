/* test_sim_grid.c - sluice-sim's index of idle riders (tools/sim/sim_grid.c)
 * against the answer of a scan over every idle rider: the same rider and
 * distance for stores inside the disc, at its edge, far outside it, while
 * riders come and go, and where the flat map gives up (near a pole, a huge
 * disc, an empty grid). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../tools/sim/sim_grid.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#define KM_PER_DEG_LAT 111.195

typedef struct shadow {
    sim_geo_t *at;
    bool *idle;
    uint32_t n;
} shadow_t;

static uint64_t s_rng = 0x9e3779b97f4a7c15ull;

static double s_uniform(void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return (double)(s_rng >> 11) / 9007199254740992.0;
}

/* s_point: uniform in a square of HALF_KM around CENTER. */
static sim_geo_t s_point(sim_geo_t center, double half_km)
{
    double cos_lat = fmax(cos(center.lat * M_PI / 180.0), 1e-6);
    return (sim_geo_t){
        .lat = center.lat + (2 * s_uniform() - 1) * half_km / KM_PER_DEG_LAT,
        .lng = center.lng + (2 * s_uniform() - 1) * half_km / (KM_PER_DEG_LAT * cos_lat),
    };
}

static int32_t s_scan(const shadow_t *sh, sim_geo_t at, double *km)
{
    int32_t best = -1;
    *km = INFINITY;
    for (uint32_t i = 0; i < sh->n; i++) {
        if (!sh->idle[i])
            continue;
        double d = sim_distance_km(sh->at[i], at);
        if (d < *km) {
            *km = d;
            best = (int32_t)i;
        }
    }
    return best;
}

static void s_expect_same(const sim_grid_t *g, const shadow_t *sh, sim_geo_t at)
{
    double want_km, got_km;
    int32_t want = s_scan(sh, at, &want_km);
    int32_t got = sim_grid_nearest(g, at, &got_km);
    if (want != got || want_km != got_km)
        fail_msg("store at %.5f,%.5f: grid says rider %d at %.4f km, a scan says %d at %.4f km",
                 at.lat, at.lng, got, got_km, want, want_km);
}

/* s_exercise: RIDERS riders placed in a square of SPREAD_KM around CENTER
 * (riders far outside a disc of RADIUS_KM too), then rounds of queries and
 * riders leaving and coming back at new places, as rides do. */
static void s_exercise(sim_geo_t center, double radius_km, double spread_km, uint32_t riders,
                       int rounds)
{
    sim_grid_t *g = sim_grid_new(center, radius_km, riders);
    assert_non_null(g);
    shadow_t sh = {calloc(riders + 1, sizeof *sh.at), calloc(riders + 1, sizeof *sh.idle), riders};
    assert_non_null(sh.at);
    assert_non_null(sh.idle);
    for (uint32_t i = 0; i < riders; i++) {
        sh.at[i] = s_point(center, spread_km);
        sh.idle[i] = true;
        sim_grid_add(g, i, sh.at[i]);
    }
    assert_int_equal(sim_grid_count(g), riders);
    for (int r = 0; r < rounds; r++) {
        for (int q = 0; q < 50; q++)
            s_expect_same(g, &sh, s_point(center, q % 10 == 0 ? radius_km * 4 : radius_km));
        for (uint32_t k = 0; riders > 0 && k < riders / 3 + 1; k++) {
            uint32_t i = (uint32_t)(s_uniform() * riders) % riders;
            if (sh.idle[i]) {
                sim_grid_remove(g, i);
                sh.idle[i] = false;
            } else {
                sh.at[i] = s_point(center, spread_km);
                sim_grid_add(g, i, sh.at[i]);
                sh.idle[i] = true;
            }
        }
    }
    size_t idle = 0;
    for (uint32_t i = 0; i < riders; i++)
        idle += sh.idle[i];
    assert_int_equal(sim_grid_count(g), idle);
    free(sh.at);
    free(sh.idle);
    sim_grid_free(&g);
    assert_null(g);
}

static void test_city_disc(void **state)
{
    (void)state;
    s_exercise((sim_geo_t){30.27, 120.15}, 10, 12, 8000, 20);
}

static void test_riders_outside_the_grid(void **state)
{
    (void)state;
    /* a third of the square lies outside the grid's box: overflow riders */
    s_exercise((sim_geo_t){30.27, 120.15}, 5, 20, 2000, 20);
}

static void test_few_riders(void **state)
{
    (void)state;
    s_exercise((sim_geo_t){-33.9, 151.2}, 10, 10, 3, 30);
    s_exercise((sim_geo_t){0, -179.99}, 10, 10, 1, 10);
}

static void test_where_the_flat_map_gives_up(void **state)
{
    (void)state;
    s_exercise((sim_geo_t){85, 20}, 10, 10, 500, 10);    /* near the pole */
    s_exercise((sim_geo_t){40, 0}, 2000, 2000, 500, 10); /* a continent */
    s_exercise((sim_geo_t){40, 0}, 0, 1, 50, 5);         /* no disc */
}

static void test_empty_and_misuse(void **state)
{
    (void)state;
    sim_grid_t *g = sim_grid_new((sim_geo_t){30, 120}, 10, 0);
    assert_non_null(g);
    double km = 0;
    assert_int_equal(sim_grid_nearest(g, (sim_geo_t){30, 120}, &km), -1);
    assert_true(isinf(km));
    sim_grid_add(g, 0, (sim_geo_t){30, 120});  /* no such rider: ignored */
    assert_int_equal(sim_grid_count(g), 0);
    sim_grid_free(&g);

    g = sim_grid_new((sim_geo_t){30, 120}, 10, 2);
    assert_non_null(g);
    sim_grid_add(g, 1, (sim_geo_t){30, 120});
    sim_grid_add(g, 1, (sim_geo_t){31, 121});  /* already in: ignored */
    sim_grid_remove(g, 0);                     /* not in: ignored */
    assert_int_equal(sim_grid_count(g), 1);
    assert_int_equal(sim_grid_nearest(g, (sim_geo_t){31, 121}, &km), 1);
    assert_true(km > 100);                     /* still where it was added */
    assert_int_equal(sim_grid_nearest(g, (sim_geo_t){NAN, 121}, &km), -1);  /* nowhere */
    sim_grid_remove(g, 1);
    assert_int_equal(sim_grid_nearest(g, (sim_geo_t){30, 120}, &km), -1);
    sim_grid_free(&g);
    sim_grid_free(&g);                         /* twice: harmless */
}

/* The bound a search over several cities skips a far grid by: never above
 * the distance of any rider in it, in its box or outside it. */
static void test_bound_for_far_grids(void **state)
{
    (void)state;
    sim_grid_t *g = sim_grid_new((sim_geo_t){30, 120}, 10, 3);
    assert_non_null(g);
    const sim_geo_t beijing = {39.9, 116.4}, near = {30.01, 120.01};
    assert_true(sim_grid_bound_km(g, near) == 0);            /* inside the box */
    double far = sim_grid_bound_km(g, beijing);
    assert_true(far > 1000 && far < sim_distance_km(beijing, (sim_geo_t){30, 120}));
    sim_grid_add(g, 0, (sim_geo_t){30.05, 120.05});
    assert_true(sim_grid_bound_km(g, beijing) == far);       /* a rider in the box */
    sim_grid_add(g, 1, (sim_geo_t){35, 118});                /* one left outside */
    double out = sim_distance_km(beijing, (sim_geo_t){35, 118});
    assert_true(sim_grid_bound_km(g, beijing) <= out && out < far);
    double km;
    assert_int_equal(sim_grid_nearest(g, beijing, &km), 1);
    assert_true(km >= sim_grid_bound_km(g, beijing));
    sim_grid_free(&g);
    g = sim_grid_new((sim_geo_t){85, 20}, 10, 1);            /* no flat map: cannot say */
    assert_non_null(g);
    assert_true(sim_grid_bound_km(g, beijing) == 0);
    sim_grid_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_city_disc),
        cmocka_unit_test(test_riders_outside_the_grid),
        cmocka_unit_test(test_few_riders),
        cmocka_unit_test(test_where_the_flat_map_gives_up),
        cmocka_unit_test(test_empty_and_misuse),
        cmocka_unit_test(test_bound_for_far_grids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
