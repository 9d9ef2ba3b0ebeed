/* tz.c - owns local time of day for store zones.
 *
 * glibc answers "what is the offset of zone Z at time T" only through the TZ
 * environment variable and localtime_r. That is slow (tzset re-reads the
 * zone file) and process-wide, so answers are cached per zone for the
 * current quarter hour; a daemon with 300,000 stores sees a handful of zones.
 * sluiced is single-threaded, which is what makes switching TZ safe here. */
#include "tz.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TZ_CACHE_MAX 64
#define TZ_QUARTER_MS (15u * 60u * 1000u)

typedef struct tz_cached {
    char *zone;
    uint64_t quarter;        /* wall_ms / TZ_QUARTER_MS the offset is for */
    int64_t offset_ms;
} tz_cached_t;

static tz_cached_t tz_cache[TZ_CACHE_MAX];
static size_t tz_cache_count;

static int64_t tz_lookup(const char *zone, uint64_t wall_ms)
{
    const char *saved = getenv("TZ");
    char *restore = saved ? strdup(saved) : NULL;
    setenv("TZ", zone, 1);
    tzset();
    time_t t = (time_t)(wall_ms / 1000u);
    struct tm tm;
    int64_t offset = localtime_r(&t, &tm) ? (int64_t)tm.tm_gmtoff * 1000 : 0;
    if (restore)
        setenv("TZ", restore, 1);
    else
        unsetenv("TZ");
    tzset();
    free(restore);
    return offset;
}

int64_t tz_offset_ms(const char *zone, uint64_t wall_ms)
{
    if (!zone || !*zone || strcmp(zone, "UTC") == 0)
        return 0;
    uint64_t quarter = wall_ms / TZ_QUARTER_MS;
    tz_cached_t *c = NULL;
    for (size_t i = 0; i < tz_cache_count; i++)
        if (strcmp(tz_cache[i].zone, zone) == 0) {
            c = &tz_cache[i];
            break;
        }
    if (c && c->quarter == quarter)
        return c->offset_ms;
    int64_t offset = tz_lookup(zone, wall_ms);
    if (!c && tz_cache_count < TZ_CACHE_MAX) {
        char *name = strdup(zone);
        if (name) {
            c = &tz_cache[tz_cache_count++];
            c->zone = name;
        }
    }
    if (c) {
        c->quarter = quarter;
        c->offset_ms = offset;
    }
    return offset;
}

int tz_minute_of_day(const char *zone, uint64_t wall_ms)
{
    int64_t local = (int64_t)wall_ms + tz_offset_ms(zone, wall_ms);
    int64_t minute = (local / 60000) % TZ_MINUTES_PER_DAY;
    return (int)(minute < 0 ? minute + TZ_MINUTES_PER_DAY : minute);
}

void tz_reset(void)
{
    for (size_t i = 0; i < tz_cache_count; i++)
        free(tz_cache[i].zone);
    tz_cache_count = 0;
}
