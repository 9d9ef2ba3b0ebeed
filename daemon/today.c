/* today.c - owns a store's counts of today's decisions. */
#include "today.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define DAY_MS ((uint64_t)TODAY_DAY_S * 1000u)

/* The per-store reasons, in the order sluicectl lists them. */
static const Sluice__V1__Reason today_reasons[TODAY_REASONS] = {
    SLUICE__V1__REASON__STORE_BUSY,  SLUICE__V1__REASON__STORE_PAUSED,
    SLUICE__V1__REASON__STORE_CLOSED, SLUICE__V1__REASON__OVERLOADED,
    SLUICE__V1__REASON__NO_RIDERS,   SLUICE__V1__REASON__UNAVAILABLE,
    SLUICE__V1__REASON__CAMPAIGN_LIMIT,
};

void today_begin(today_t *t, uint64_t local_ms)
{
    memset(t, 0, sizeof *t);
    t->day = (uint32_t)(local_ms / DAY_MS);
    t->since_s = (uint32_t)(local_ms % DAY_MS / 1000u);
}

void today_roll(today_t *t, uint64_t local_ms)
{
    uint32_t day = (uint32_t)(local_ms / DAY_MS);
    if (day == t->day)
        return;
    if (day < t->day) {
        today_begin(t, local_ms);
        return;
    }
    memset(t, 0, sizeof *t);
    t->day = day;
}

int today_index(Sluice__V1__Reason reason)
{
    for (int i = 0; i < TODAY_REASONS; i++)
        if (today_reasons[i] == reason)
            return i;
    return -1;
}

Sluice__V1__Reason today_reason(size_t i)
{
    return i < TODAY_REASONS ? today_reasons[i] : SLUICE__V1__REASON__REASON_NONE;
}

static void s_bump(uint32_t *counter)
{
    if (*counter < UINT32_MAX)
        (*counter)++;
}

bool today_count(today_t *t, uint64_t local_ms, Sluice__V1__Reason reason)
{
    int i = today_index(reason);
    if (reason != SLUICE__V1__REASON__REASON_NONE && i < 0)
        return false;
    today_roll(t, local_ms);
    s_bump(i < 0 ? &t->accepted : &t->rejected[i]);
    return true;
}

const char *today_date(uint32_t day, char *out, size_t len)
{
    time_t at = (time_t)day * (time_t)TODAY_DAY_S;
    struct tm tm;
    if (gmtime_r(&at, &tm) == NULL || strftime(out, len, "%Y-%m-%d", &tm) == 0)
        snprintf(out, len, "day %u", day);
    return out;
}

const char *today_clock(uint32_t second, char *out, size_t len)
{
    snprintf(out, len, "%02u:%02u:%02u", second / 3600u % 24u, second / 60u % 60u, second % 60u);
    return out;
}
