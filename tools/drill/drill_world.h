/* drill_world.h - owns sluice-drill's synthetic world: brands, a store
 * population clustered in a few cities with realistic kitchens and Zipf-like
 * popularity, the giveaway's demand curve and its campaign, and the sluiced
 * config generated from them (rewritten for the chaos actions that pause a
 * store or halve a brand). Everything is drawn from one seed, so a run is
 * reproducible. */
#ifndef SLUICE_DRILL_WORLD_H
#define SLUICE_DRILL_WORLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DRILL_PLATFORMS 3
#define DRILL_BRANDS_MAX 8
#define DRILL_CITIES 4

/* The simulated day: the giveaway ran 10:00-19:00. */
#define DRILL_DAY_START_H 10.0
#define DRILL_DAY_END_H 19.0

typedef struct {
    char name[32];
    uint32_t orders_per_second;   /* what the config says now (halved by chaos) */
} drill_brand_t;

typedef struct {
    uint32_t id;
    uint32_t brand;               /* index into brands */
    uint32_t city;
    double lat, lng;
    /* The kitchen as a real one would be (seconds, minutes) ... */
    uint32_t prep_slots, item_seconds, order_seconds, max_wait_minutes;
    /* ... and as written to the config, compressed by the time scale (>= 1). */
    uint32_t cfg_item_seconds, cfg_order_seconds, cfg_max_wait_minutes;
    uint32_t platforms[DRILL_PLATFORMS];   /* platform indexes, preference order */
    uint32_t platform_count;
    uint32_t rank;                /* popularity rank, 1 = most popular */
    bool paused;
} drill_store_t;

typedef struct {
    double lat, lng;
    const char *name;
} drill_city_t;

/* Where the generated config points: filled in by the caller. */
typedef struct {
    char dsn[512];
    char ingress[128], events[128], control[256], http[64];
    char platform_endpoint[DRILL_PLATFORMS][128];
} drill_endpoints_t;

typedef struct {
    uint64_t seed;
    double scale;                 /* simulated seconds per real second */
    double peak_rate;             /* new orders/s at the noon peak */
    drill_brand_t brands[DRILL_BRANDS_MAX];
    size_t brand_count;
    drill_store_t *stores;        /* owned */
    size_t store_count;
    double *cumulative;           /* owned: popularity CDF, sums to 1 */
    drill_city_t cities[DRILL_CITIES];
    /* The giveaway's campaign (campaign_name, set by the caller): 0 < its
     * store_share <= 1 puts it in the config, paced at the peak rate. */
    char campaign_name[32];
    double campaign_store_share;
    uint32_t availability_event_ms;   /* daemon.availability_event_ms; 0: the default */
} drill_world_t;

/* drill_world_new draws STORES stores from SEED. Brand limits are sized from
 * PEAK_RATE so that the busiest brand meets its limit at the peak. SCALE
 * compresses kitchen times in the config. NULL on bad arguments or memory. */
drill_world_t *drill_world_new(uint32_t stores, uint64_t seed, double scale, double peak_rate)
    __attribute__((warn_unused_result));
void drill_world_destroy(drill_world_t **self);

/* drill_world_pick_store returns a store index drawn by popularity. */
size_t drill_world_pick_store(const drill_world_t *w, uint64_t *rng);

/* drill_world_most_popular returns the index of the rank-1 store. */
size_t drill_world_most_popular(const drill_world_t *w);

/* drill_world_find_store returns the index of store ID, or SIZE_MAX. */
size_t drill_world_find_store(const drill_world_t *w, uint32_t id);

/* drill_world_find_brand returns the brand index of NAME ("" = the brand
 * with the most popular store), or SIZE_MAX. */
size_t drill_world_find_brand(const drill_world_t *w, const char *name);

/* drill_world_demand is the giveaway's shape: relative demand (peak 1.0) at
 * simulated hour H of the day (10.0 .. 19.0): a ramp to a noon peak, an
 * afternoon fall and an evening bump. */
double drill_world_demand(double hour);

/* drill_world_write_config writes the sluiced config for the current world
 * (paused stores, brand limits) to PATH, atomically (temp file + rename).
 * RIDER_PLATFORM_NAMES are "p1".."p3". False when it cannot (logged). */
bool drill_world_write_config(const drill_world_t *w, const drill_endpoints_t *ep,
                              const char *path) __attribute__((warn_unused_result));

/* drill_world_rand is the world's generator (splitmix64), shared with the
 * producers so that one seed fixes the whole run. */
uint64_t drill_world_rand(uint64_t *state);
double drill_world_uniform(uint64_t *state);   /* [0, 1) */

#endif
