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

static const char *const s_brand_names[] = {"heytea", "chagee", "mixue", "nayuki"};
/* Share of all stores per brand (the order above). */
static const double s_brand_share[] = {0.35, 0.30, 0.20, 0.15};

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

/* s_scaled compresses a duration by the time scale, never below 1. */
static uint32_t s_scaled(uint32_t v, double scale)
{
    double x = round((double)v / scale);
    return x < 1 ? 1 : (uint32_t)x;
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
    /* Four districts of one metro area (Hangzhou): the simulated rider pools
     * start around one centre, so the cities must be within a rider's reach. */
    const drill_city_t cities[DRILL_CITIES] = {
        {30.274, 120.155, "Wulin"}, {30.290, 120.060, "Xixi"},
        {30.210, 120.210, "Binjiang"}, {30.320, 120.200, "Gongshu"}};
    memcpy(w->cities, cities, sizeof cities);

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
        s->city = (uint32_t)(drill_world_rand(&rng) % DRILL_CITIES);
        const drill_city_t *c = &w->cities[s->city];
        double km_per_deg_lng = KM_PER_DEG_LAT * cos(c->lat * M_PI / 180.0);
        s->lat = c->lat + s_normal(&rng) * CITY_SIGMA_KM / KM_PER_DEG_LAT;
        s->lng = c->lng + s_normal(&rng) * CITY_SIGMA_KM / km_per_deg_lng;
        s->prep_slots = s_range(&rng, 2, 8);
        s->item_seconds = s_range(&rng, 30, 90);
        s->order_seconds = s_range(&rng, 20, 60);
        s->max_wait_minutes = s_range(&rng, 20, 45);
        s->cfg_item_seconds = s_scaled(s->item_seconds, scale);
        s->cfg_order_seconds = s_scaled(s->order_seconds, scale);
        s->cfg_max_wait_minutes = s_scaled(s->max_wait_minutes, scale);
        /* 1..3 platforms in a random preference order. */
        uint32_t perm[DRILL_PLATFORMS] = {0, 1, 2};
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

double drill_world_demand(double hour)
{
    double noon = (hour - 12.0) / 1.6;
    double evening = (hour - 17.5) / 1.0;
    double r = 0.25 + 0.75 * exp(-noon * noon) + 0.3 * exp(-evening * evening);
    return r > 1.0 ? 1.0 : r;
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

bool drill_world_write_config(const drill_world_t *w, const drill_endpoints_t *ep, const char *path)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        fprintf(stderr, "sluice-drill: failed to write %s: %s\n", tmp, strerror(errno));
        return false;
    }
    double sc = w->scale;
    fprintf(f,
            "# Generated by sluice-drill (seed %llu, %zu stores, time scale %.1f:\n"
            "# kitchen and dispatch times are real ones divided by it, at least 1).\n"
            "daemon = {\n"
            "  database = \"%s\";\n"
            "  ingress = \"%s\";\n"
            "  events = \"%s\";\n"
            "  control = \"%s\";\n"
            "  http = \"%s\";\n"
            "  limits = { orders_per_second = 50000; queue_delay_ms = 50; commit_latency_ms = 250; };\n",
            (unsigned long long)w->seed, w->store_count, sc, ep->dsn, ep->ingress, ep->events,
            ep->control, ep->http);
    if (w->availability_event_ms)
        fprintf(f, "  availability_event_ms = %u;\n", w->availability_event_ms);
    fputs("};\n", f);
    if (w->campaign_name[0] && w->campaign_store_share > 0) {
        double pace = ceil(w->peak_rate);
        fprintf(f, "campaigns = ( { name = \"%s\"; orders_per_second = %.0f; store_share = %g; } );\n",
                w->campaign_name, pace < 1 ? 1 : pace, w->campaign_store_share);
    }
    double kmh = 15.0 * sc;
    fprintf(f,
            "dispatch = { margin_seconds = %u; pickup_eta_seconds = %u; assign_timeout_seconds = 10;\n"
            "             retry_seconds = 1; max_hold_minutes = 1; handoff_seconds = %u;\n"
            "             rider_kmh = %.1f; };\n",
            (unsigned)round(60.0 / sc), (unsigned)fmax(1, round(300.0 / sc)),
            (unsigned)round(300.0 / sc), kmh > 200 ? 200.0 : kmh);
    fputs("brands = (\n", f);
    for (size_t b = 0; b < w->brand_count; b++)
        fprintf(f, "  { name = \"%s\"; orders_per_second = %u; }%s\n", w->brands[b].name,
                w->brands[b].orders_per_second, b + 1 < w->brand_count ? "," : "");
    fputs(");\n", f);
    s_write_platforms(f, ep);
    fputs("stores = (\n", f);
    for (size_t i = 0; i < w->store_count; i++) {
        const drill_store_t *s = &w->stores[i];
        fprintf(f,
                "  { id = %u; brand = \"%s\"; name = \"%s %s #%u\"; location = [%.5f, %.5f];\n"
                "    prep_slots = %u; item_seconds = %u; order_seconds = %u; max_wait_minutes = %u;\n"
                "    max_queue = 1000; paused = %s; platforms = [",
                s->id, w->brands[s->brand].name, w->brands[s->brand].name,
                w->cities[s->city].name, s->id, s->lat, s->lng, s->prep_slots,
                s->cfg_item_seconds, s->cfg_order_seconds, s->cfg_max_wait_minutes,
                s->paused ? "true" : "false");
        for (uint32_t k = 0; k < s->platform_count; k++)
            fprintf(f, "%s\"p%u\"", k > 0 ? ", " : "", s->platforms[k] + 1);
        fprintf(f, "]; }%s\n", i + 1 < w->store_count ? "," : "");
    }
    fputs(");\n", f);
    bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "sluice-drill: failed to write %s: %s\n", path, strerror(errno));
        unlink(tmp);
        return false;
    }
    return true;
}
