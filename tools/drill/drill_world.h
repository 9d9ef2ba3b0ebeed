/* drill_world.h - owns sluice-drill's synthetic world: brands, a store
 * population clustered in districts of one city (or, past 25,000 stores,
 * of up to twelve) with realistic kitchens and Zipf-like popularity, the
 * riders' speed, the giveaway's demand curve and its campaign, and the
 * sluiced config generated from them (rewritten for the chaos actions that
 * pause a store or halve a brand). Everything is drawn from one seed, so a
 * run is reproducible. */
#ifndef SLUICE_DRILL_WORLD_H
#define SLUICE_DRILL_WORLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DRILL_PLATFORMS 3
#define DRILL_BRANDS_MAX 8
#define DRILL_DISTRICTS 4 /* of each city, where its stores cluster */
#define DRILL_CITIES_MAX 12
#define DRILL_STORES_PER_CITY 25000 /* a city more for each so many stores */
#define DRILL_CITY_RADIUS_KM 10.0   /* the riders' disc around a city's centre */
#define DRILL_STORES_PER_FILE 3000  /* a bigger world's stores go in @include'd files of so many */
/* The simulated riders' speeds (sluice-sim --speed-kmh), uniform in the
 * range; promises use their mean (drill_world_t.rider_kmh). */
#define DRILL_RIDER_KMH_MIN 15.0
#define DRILL_RIDER_KMH_MAX 25.0
/* --ha: stores split over shards s1..sN, each run by an active and a standby. */
#define DRILL_SHARDS_MAX 4
#define DRILL_NODES_PER_SHARD 2

/* The simulated day: the giveaway ran 10:00-19:00. */
#define DRILL_DAY_START_H 10.0
#define DRILL_DAY_END_H 19.0

typedef struct {
    char name[32];
    uint32_t orders_per_second; /* what the config says now (halved by chaos) */
} drill_brand_t;

typedef struct {
    uint32_t id;
    uint32_t brand;    /* index into brands */
    uint32_t city;     /* index into cities */
    uint32_t district; /* 0 .. DRILL_DISTRICTS-1 of its city */
    double lat, lng;
    /* The kitchen as a real one would be (seconds, minutes) ... */
    uint32_t prep_slots, item_seconds, order_seconds, max_wait_minutes;
    /* ... and as written to the config: divided by the time scale, kept
     * exact (the config takes fractions), so the drill's store promises in
     * simulated time what the real one would promise. */
    double cfg_item_seconds, cfg_order_seconds, cfg_max_wait_minutes;
    uint32_t platforms[DRILL_PLATFORMS]; /* platform indexes, preference order */
    uint32_t platform_count;
    uint32_t rank; /* popularity rank, 1 = most popular */
    bool paused;
    bool written_paused; /* what its store file says (drill_world_write_config) */
} drill_store_t;

typedef struct {
    double lat, lng; /* the centre: where the city's riders start */
    const char *name;
    const char *districts[DRILL_DISTRICTS];
    double district_at[DRILL_DISTRICTS][2]; /* lat, lng */
} drill_city_t;

/* Where the generated config points: filled in by the caller. With SHARDS
 * > 0 the config is that of node NODE of shard SHARD (an index; the shards
 * are named s1..sN) in a fleet whose every shard's nodes listen on
 * SHARD_INGRESS, with a lease of LEASE_SECONDS; with 0, a single node. */
typedef struct {
    char dsn[512];
    char ingress[128], events[128], control[256], http[64];
    char platform_endpoint[DRILL_PLATFORMS][128];
    uint32_t shards;
    char shard_ingress[DRILL_SHARDS_MAX][DRILL_NODES_PER_SHARD][128];
    uint32_t shard;
    char node[32];
    uint32_t lease_seconds;
} drill_endpoints_t;

typedef struct {
    uint64_t seed;
    double scale;     /* simulated seconds per real second */
    double peak_rate; /* new orders/s at the noon peak */
    drill_brand_t brands[DRILL_BRANDS_MAX];
    size_t brand_count;
    drill_store_t *stores; /* owned */
    size_t store_count;
    double *cumulative; /* owned: popularity CDF, sums to 1 */
    drill_city_t cities[DRILL_CITIES_MAX];
    size_t city_count;
    /* The speed promises assume, simulated km/h: the riders' mean; the
     * config says it times the scale, as the simulators move them. */
    double rider_kmh;
    bool files_written; /* the store files exist (a world of more than one) */
    /* The giveaway's campaign (campaign_name, set by the caller): 0 < its
     * store_share <= 1 puts it in the config, paced at the peak rate. */
    char campaign_name[32];
    double campaign_store_share;
    uint32_t availability_event_ms; /* daemon.availability_event_ms; 0: the default */
} drill_world_t;

/* drill_world_new draws STORES stores from SEED. Brand limits are sized from
 * PEAK_RATE so that the busiest brand meets its limit at the peak. SCALE
 * compresses kitchen, handoff and travel times in the config. NULL on bad
 * arguments or memory. */
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

/* drill_world_store_shard: the shard (index) store index I belongs to when
 * the stores are split over SHARDS shards: every SHARDS-th store, so that
 * popular stores land on every shard. */
uint32_t drill_world_store_shard(size_t i, uint32_t shards);

/* drill_world_demand is the giveaway's shape: relative demand (peak 1.0) at
 * simulated hour H of the day (10.0 .. 19.0): a ramp to a noon peak, an
 * afternoon fall and an evening bump. */
double drill_world_demand(double hour);

/* drill_world_write_config writes the sluiced config for the current world
 * (paused stores, brand limits) to PATH, atomically (temp file + rename).
 * Platforms are "p1".."p3". A world of more than DRILL_STORES_PER_FILE
 * stores has them in files next to PATH (PATH.stores-NNN.conf, @include'd
 * in the stores list, which sluiced reads in parallel); only those whose
 * stores changed are written again, so a reload parses only them. Kitchen
 * times, handoff and rider speed are the real ones divided by the time
 * scale, exact. False when it cannot (logged). */
bool drill_world_write_config(drill_world_t *w, const drill_endpoints_t *ep, const char *path)
    __attribute__((warn_unused_result));
/* drill_world_write_configs writes N nodes' configs, node I's with EPS[I] to
 * PATHS[I], each with its own store files; a store file is written again
 * for every node when its stores changed since the last call. */
bool drill_world_write_configs(drill_world_t *w, const drill_endpoints_t *eps,
                               const char *const *paths, size_t n)
    __attribute__((warn_unused_result));

/* drill_world_rand is the world's generator (splitmix64), shared with the
 * producers so that one seed fixes the whole run. */
uint64_t drill_world_rand(uint64_t *state);
double drill_world_uniform(uint64_t *state); /* [0, 1) */

#endif
