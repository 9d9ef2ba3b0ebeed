/* drill_world.c - owns sluice-drill's synthetic world: stores, brands, demand curve, config. */
#include "drill_world.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Popularity: weight of the store of rank r is 1 / r^ZIPF_S. */
#define ZIPF_S 1.0
/* Stores sit around their city's centre, normally distributed, this many km. */
#define CITY_SIGMA_KM 1.5
#define KM_PER_DEG_LAT 111.0

static const char *const s_brand_names[] = { "heytea", "chagee", "mixue", "nayuki" };
/* Share of all stores per brand (the order above). */
static const double s_brand_share[] = { 0.35, 0.30, 0.20, 0.15 };

uint64_t drill_world_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double drill_world_uniform(uint64_t *state)
{
    return (double)(drill_world_rand(state) >> 11) * (1.0 / 9007199254740992.0);
}

static uint32_t s_range(uint64_t *rng, uint32_t lo, uint32_t hi)
{
    return lo + (uint32_t)(drill_world_rand(rng) % (uint64_t)(hi - lo + 1));
}

static double s_normal(uint64_t *rng)
{
    double u = drill_world_uniform(rng);
    double v = drill_world_uniform(rng);
    if (u < 1e-12)
        u = 1e-12;
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

/* The giveaway's cities, the first four districts of each where stores
 * cluster (Hangzhou's are its own; the others' sit at the same offsets
 * from their centres). A world of N stores uses ceil(N / 25,000) of them. */
static const drill_city_t s_cities[DRILL_CITIES_MAX] = {
    { 30.270,
      120.150,
      "Hangzhou",
      { "Wulin", "Xixi", "Binjiang", "Gongshu" },
      { { 30.274, 120.155 }, { 30.290, 120.060 }, { 30.210, 120.210 }, { 30.320, 120.200 } } },
    { 31.230, 121.470, "Shanghai", { 0 }, { { 0 } } },
    { 39.900, 116.400, "Beijing", { 0 }, { { 0 } } },
    { 23.130, 113.260, "Guangzhou", { 0 }, { { 0 } } },
    { 22.540, 114.060, "Shenzhen", { 0 }, { { 0 } } },
    { 30.660, 104.070, "Chengdu", { 0 }, { { 0 } } },
    { 30.590, 114.310, "Wuhan", { 0 }, { { 0 } } },
    { 34.340, 108.940, "Xi'an", { 0 }, { { 0 } } },
    { 32.060, 118.800, "Nanjing", { 0 }, { { 0 } } },
    { 29.560, 106.550, "Chongqing", { 0 }, { { 0 } } },
    { 39.130, 117.200, "Tianjin", { 0 }, { { 0 } } },
    { 31.300, 120.590, "Suzhou", { 0 }, { { 0 } } },
};
static const char *const s_district_names[DRILL_DISTRICTS] = { "North", "West", "South", "East" };

/* s_place_cities copies the first COUNT cities, giving those after
 * Hangzhou its districts' offsets around their own centres. */
static void s_place_cities(drill_world_t *w, size_t count)
{
    w->city_count = count;
    for (size_t c = 0; c < count; c++) {
        drill_city_t *city = &w->cities[c];
        *city = s_cities[c];
        for (int k = 0; c > 0 && k < DRILL_DISTRICTS; k++) {
            city->districts[k] = s_district_names[k];
            city->district_at[k][0] = city->lat + s_cities[0].district_at[k][0] - s_cities[0].lat;
            city->district_at[k][1] = city->lng + s_cities[0].district_at[k][1] - s_cities[0].lng;
        }
    }
}

drill_world_t *drill_world_new(uint32_t stores, uint64_t seed, double scale, double peak_rate)
{
    if (stores == 0 || scale <= 0 || peak_rate <= 0)
        return NULL;
    drill_world_t *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->seed = seed;
    w->scale = scale;
    w->peak_rate = peak_rate;
    w->stores = calloc(stores, sizeof *w->stores);
    w->cumulative = calloc(stores, sizeof *w->cumulative);
    if (w->stores == NULL || w->cumulative == NULL) {
        drill_world_destroy(&w);
        return NULL;
    }
    w->store_count = stores;
    w->rider_kmh = (DRILL_RIDER_KMH_MIN + DRILL_RIDER_KMH_MAX) / 2;
    /* Districts of a city are within its riders' disc; each city has riders
     * of its own (sluice-sim --center for each). */
    size_t cities = (stores + DRILL_STORES_PER_CITY - 1) / DRILL_STORES_PER_CITY;
    s_place_cities(w, cities > DRILL_CITIES_MAX ? DRILL_CITIES_MAX : cities);

    uint64_t rng = seed ^ 0x5eed5eed5eedull;
    w->brand_count = sizeof s_brand_names / sizeof s_brand_names[0];
    for (size_t b = 0; b < w->brand_count; b++) {
        snprintf(w->brands[b].name, sizeof w->brands[b].name, "%s", s_brand_names[b]);
        /* Each brand may take 40% of the peak: the biggest, whose stores are
         * also the most popular, meets its limit near noon. */
        double ops = ceil(peak_rate * 0.4);
        w->brands[b].orders_per_second = ops < 1 ? 1 : (uint32_t)ops;
    }

    /* Ranks are a random permutation, so popular stores are spread over
     * brands and cities. */
    uint32_t *ranks = malloc(stores * sizeof *ranks);
    if (ranks == NULL) {
        drill_world_destroy(&w);
        return NULL;
    }
    for (uint32_t i = 0; i < stores; i++)
        ranks[i] = i + 1;
    for (uint32_t i = stores - 1; i > 0; i--) {
        uint32_t j = (uint32_t)(drill_world_rand(&rng) % (i + 1));
        uint32_t t = ranks[i];
        ranks[i] = ranks[j];
        ranks[j] = t;
    }

    double total = 0;
    for (uint32_t i = 0; i < stores; i++) {
        drill_store_t *s = &w->stores[i];
        s->id = 1001 + i;
        double u = drill_world_uniform(&rng), acc = 0;
        s->brand = (uint32_t)w->brand_count - 1;
        for (size_t b = 0; b < w->brand_count; b++) {
            acc += s_brand_share[b];
            if (u < acc) {
                s->brand = (uint32_t)b;
                break;
            }
        }
        /* one city: the draw of old, so a seed keeps its small worlds */
        s->city = w->city_count > 1 ? (uint32_t)(drill_world_rand(&rng) % w->city_count) : 0;
        s->district = (uint32_t)(drill_world_rand(&rng) % DRILL_DISTRICTS);
        const double *at = w->cities[s->city].district_at[s->district];
        double km_per_deg_lng = KM_PER_DEG_LAT * cos(at[0] * M_PI / 180.0);
        s->lat = at[0] + s_normal(&rng) * CITY_SIGMA_KM / KM_PER_DEG_LAT;
        s->lng = at[1] + s_normal(&rng) * CITY_SIGMA_KM / km_per_deg_lng;
        s->prep_slots = s_range(&rng, 2, 8);
        s->item_seconds = s_range(&rng, 30, 90);
        s->order_seconds = s_range(&rng, 20, 60);
        s->max_wait_minutes = s_range(&rng, 20, 45);
        s->cfg_item_seconds = s->item_seconds / scale;
        s->cfg_order_seconds = s->order_seconds / scale;
        s->cfg_max_wait_minutes = s->max_wait_minutes / scale;
        /* 1..3 platforms in a random preference order. */
        uint32_t perm[DRILL_PLATFORMS] = { 0, 1, 2 };
        for (uint32_t k = DRILL_PLATFORMS - 1; k > 0; k--) {
            uint32_t j = (uint32_t)(drill_world_rand(&rng) % (k + 1));
            uint32_t t = perm[k];
            perm[k] = perm[j];
            perm[j] = t;
        }
        s->platform_count = s_range(&rng, 1, DRILL_PLATFORMS);
        memcpy(s->platforms, perm, sizeof perm);
        s->rank = ranks[i];
        total += 1.0 / pow((double)s->rank, ZIPF_S);
        w->cumulative[i] = total;
    }
    free(ranks);
    for (uint32_t i = 0; i < stores; i++)
        w->cumulative[i] /= total;
    w->cumulative[stores - 1] = 1.0;
    return w;
}

void drill_world_destroy(drill_world_t **self)
{
    if (self == NULL || *self == NULL)
        return;
    free((*self)->stores);
    free((*self)->cumulative);
    free(*self);
    *self = NULL;
}

size_t drill_world_pick_store(const drill_world_t *w, uint64_t *rng)
{
    double u = drill_world_uniform(rng);
    size_t lo = 0, hi = w->store_count - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->cumulative[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

size_t drill_world_most_popular(const drill_world_t *w)
{
    for (size_t i = 0; i < w->store_count; i++)
        if (w->stores[i].rank == 1)
            return i;
    return 0;
}

size_t drill_world_find_store(const drill_world_t *w, uint32_t id)
{
    if (id < 1001 || id - 1001 >= w->store_count)
        return SIZE_MAX;
    return id - 1001;
}

size_t drill_world_find_brand(const drill_world_t *w, const char *name)
{
    if (name == NULL || name[0] == '\0')
        return w->stores[drill_world_most_popular(w)].brand;
    for (size_t b = 0; b < w->brand_count; b++)
        if (strcmp(w->brands[b].name, name) == 0)
            return b;
    return SIZE_MAX;
}

uint32_t drill_world_store_shard(size_t i, uint32_t shards)
{
    return shards > 1 ? (uint32_t)(i % shards) : 0;
}

double drill_world_demand(double hour)
{
    double noon = (hour - 12.0) / 1.6;
    double evening = (hour - 17.5) / 1.0;
    double r = 0.25 + 0.75 * exp(-noon * noon) + 0.3 * exp(-evening * evening);
    return r > 1.0 ? 1.0 : r;
}

/* s_write_fleet: a node of shard ep->shard. The database timeouts are those
 * docs/operations.md gives for a pg_auto_failover formation: a host that
 * does not answer is given up after a second, and a primary that is back
 * is tried again within a second. */
static void s_write_fleet(FILE *f, const drill_endpoints_t *ep)
{
    fprintf(f,
            "  shard = \"s%u\"; node = \"%s\"; lease_seconds = %u;\n"
            "  db_connect_timeout_ms = 1000; reconnect_min_ms = 100; reconnect_max_ms = 1000;\n",
            ep->shard + 1, ep->node, ep->lease_seconds);
}

static void s_write_shards(FILE *f, const drill_endpoints_t *ep)
{
    fputs("shards = (\n", f);
    for (uint32_t s = 0; s < ep->shards; s++) {
        fprintf(f, "  { name = \"s%u\"; endpoints = [", s + 1);
        for (int n = 0; n < DRILL_NODES_PER_SHARD; n++)
            fprintf(f, "%s\"%s\"", n ? ", " : "", ep->shard_ingress[s][n]);
        fprintf(f, "]; }%s\n", s + 1 < ep->shards ? "," : "");
    }
    fputs(");\n", f);
}

/* s_write_platforms: timeouts and breakers are in real time (they guard the
 * wire, not the kitchen), so they are not scaled. */
static void s_write_platforms(FILE *f, const drill_endpoints_t *ep)
{
    fputs("platforms = (\n", f);
    for (int p = 0; p < DRILL_PLATFORMS; p++)
        fprintf(f,
                "  { name = \"p%d\"; adapter = \"zmq\"; endpoint = \"%s\";\n"
                "    timeout_ms = 800; quote_deadline_ms = 150; max_inflight = 100000;\n"
                "    breaker = { failure_ratio = 0.5; window_seconds = 5; slow_ms = 1500;\n"
                "                min_requests = 20; open_seconds = 5; }; }%s\n",
                p + 1, ep->platform_endpoint[p], p + 1 < DRILL_PLATFORMS ? "," : "");
    fputs(");\n", f);
}

/* s_open_tmp opens PATH.tmp (its name in TMP) for an atomic write of PATH. */
static FILE *s_open_tmp(const char *path, char *tmp, size_t len)
{
    snprintf(tmp, len, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        fprintf(stderr, "sluice-drill: failed to write %s: %s\n", tmp, strerror(errno));
    return f;
}

/* s_commit flushes F to disk, closes it and renames TMP to PATH. */
static bool s_commit(FILE *f, const char *tmp, const char *path)
{
    bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "sluice-drill: failed to write %s: %s\n", path, strerror(errno));
        unlink(tmp);
        return false;
    }
    return true;
}

/* s_write_stores writes the entries of stores FROM..TO-1, a comma between
 * each two (a file of them is one element of the stores list), each with its
 * shard when there are SHARDS. */
static void s_write_stores(FILE *f, const drill_world_t *w, size_t from, size_t to, uint32_t shards)
{
    for (size_t i = from; i < to; i++) {
        const drill_store_t *s = &w->stores[i];
        const drill_city_t *c = &w->cities[s->city];
        /* %.9g: the fractions to well under the millisecond admission keeps */
        fprintf(f,
                "  { id = %u; brand = \"%s\"; name = \"%s %s %s #%u\"; location = [%.5f, %.5f];\n"
                "    prep_slots = %u; item_seconds = %.9g; order_seconds = %.9g;"
                " max_wait_minutes = %.9g;\n"
                "    max_queue = 1000; paused = %s; platforms = [",
                s->id, w->brands[s->brand].name, w->brands[s->brand].name, c->name,
                c->districts[s->district], s->id, s->lat, s->lng, s->prep_slots,
                s->cfg_item_seconds, s->cfg_order_seconds, s->cfg_max_wait_minutes,
                s->paused ? "true" : "false");
        for (uint32_t k = 0; k < s->platform_count; k++)
            fprintf(f, "%s\"p%u\"", k > 0 ? ", " : "", s->platforms[k] + 1);
        fputs("];", f);
        if (shards > 0)
            fprintf(f, " shard = \"s%u\";", drill_world_store_shard(i, shards) + 1);
        fprintf(f, " }%s\n", i + 1 < to ? "," : "");
    }
}

/* s_write_store_files writes the store files whose stores changed since
 * they were last written (all of them the first time). */
static bool s_write_store_files(const drill_world_t *w, const drill_endpoints_t *ep,
                                const char *path, size_t files)
{
    char file[4200], tmp[4300];
    for (size_t k = 0; k < files; k++) {
        size_t from = k * DRILL_STORES_PER_FILE;
        size_t to = from + DRILL_STORES_PER_FILE < w->store_count ? from + DRILL_STORES_PER_FILE
                                                                  : w->store_count;
        bool changed = !w->files_written;
        for (size_t i = from; i < to && !changed; i++)
            changed = w->stores[i].paused != w->stores[i].written_paused;
        if (!changed)
            continue;
        snprintf(file, sizeof file, "%s.stores-%03zu.conf", path, k);
        FILE *f = s_open_tmp(file, tmp, sizeof tmp);
        if (f == NULL)
            return false;
        s_write_stores(f, w, from, to, ep->shards);
        if (!s_commit(f, tmp, file))
            return false;
    }
    return true;
}

/* s_store_files: how many store files W's config has (0: the stores inline). */
static size_t s_store_files(const drill_world_t *w)
{
    return w->store_count > DRILL_STORES_PER_FILE
               ? (w->store_count + DRILL_STORES_PER_FILE - 1) / DRILL_STORES_PER_FILE
               : 0;
}

static bool s_write_config(const drill_world_t *w, const drill_endpoints_t *ep, const char *path)
{
    size_t files = s_store_files(w);
    if (!s_write_store_files(w, ep, path, files))
        return false;
    char tmp[4300];
    FILE *f = s_open_tmp(path, tmp, sizeof tmp);
    if (f == NULL)
        return false;
    double sc = w->scale;
    fprintf(f,
            "# Generated by sluice-drill (seed %llu, %zu stores, time scale %.1f: kitchen,\n"
            "# dispatch, handoff and travel times are real ones divided by it, exact,\n"
            "# but for those sluiced keeps in whole seconds or minutes).\n"
            "daemon = {\n"
            "  database = \"%s\";\n"
            "  ingress = \"%s\";\n"
            "  events = \"%s\";\n"
            "  control = \"%s\";\n"
            "  http = \"%s\";\n"
            "  limits = { orders_per_second = 50000; queue_delay_ms = 50; commit_latency_ms = 250; "
            "};\n",
            (unsigned long long)w->seed, w->store_count, sc, ep->dsn, ep->ingress, ep->events,
            ep->control, ep->http);
    if (w->availability_event_ms)
        fprintf(f, "  availability_event_ms = %u;\n", w->availability_event_ms);
    if (ep->shards > 0)
        s_write_fleet(f, ep);
    fputs("};\n", f);
    if (ep->shards > 0)
        s_write_shards(f, ep);
    if (w->campaign_name[0] && w->campaign_store_share > 0) {
        double pace = ceil(w->peak_rate);
        fprintf(f,
                "campaigns = ( { name = \"%s\"; orders_per_second = %.0f; store_share = %g; } );\n",
                w->campaign_name, pace < 1 ? 1 : pace, w->campaign_store_share);
    }
    /* Riders are asked for a minute before ready (5 minutes' ride away
     * until quotes tell), and promised delivery is ready + handoff + travel
     * at rider_kmh, the simulated riders' mean speed: all of it as the real
     * store would, divided by the scale, exact. What sluiced keeps in whole
     * seconds or minutes stays so: an assignment waits 10 s, no platform
     * means a new try in 1 s, no rider within a minute past ready FAILS. */
    fprintf(f,
            "dispatch = { margin_seconds = %.9g; pickup_eta_seconds = %.9g;\n"
            "             assign_timeout_seconds = 10; retry_seconds = 1; max_hold_minutes = 1;\n"
            "             handoff_seconds = %.9g; rider_kmh = %.9g; };\n",
            60.0 / sc, 300.0 / sc, 300.0 / sc, w->rider_kmh * sc);
    fputs("brands = (\n", f);
    for (size_t b = 0; b < w->brand_count; b++)
        fprintf(f, "  { name = \"%s\"; orders_per_second = %u; }%s\n", w->brands[b].name,
                w->brands[b].orders_per_second, b + 1 < w->brand_count ? "," : "");
    fputs(");\n", f);
    s_write_platforms(f, ep);
    fputs("stores = (\n", f);
    if (files == 0)
        s_write_stores(f, w, 0, w->store_count, ep->shards);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    for (size_t k = 0; k < files; k++)
        fprintf(f, "  @include \"%s.stores-%03zu.conf\"\n%s", base, k,
                k + 1 < files ? "  ,\n" : "");
    fputs(");\n", f);
    return s_commit(f, tmp, path);
}

bool drill_world_write_configs(drill_world_t *w, const drill_endpoints_t *eps,
                               const char *const *paths, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!s_write_config(w, &eps[i], paths[i]))
            return false;
    /* only once every node's files say the same */
    w->files_written = s_store_files(w) > 0;
    for (size_t i = 0; i < w->store_count; i++)
        w->stores[i].written_paused = w->stores[i].paused;
    return true;
}

bool drill_world_write_config(drill_world_t *w, const drill_endpoints_t *ep, const char *path)
{
    return drill_world_write_configs(w, ep, &path, 1);
}
