/* kitchen.c - owns a store's prep schedule. */
#include "kitchen.h"

#include "tz.h"

#include <stdlib.h>
#include <string.h>

#define MINUTE_MS 60000u

int kitchen_slots_at(const config_store_t *cfg, int minute)
{
    for (int i = 0; i < cfg->staffing_count; i++) {
        const config_staffing_t *w = &cfg->staffing[i];
        bool inside = w->from_minute <= w->to_minute
                          ? minute >= w->from_minute && minute < w->to_minute
                          : minute >= w->from_minute || minute < w->to_minute;
        if (inside)
            return w->prep_slots;
    }
    return cfg->prep_slots;
}

bool kitchen_open_at(const config_store_t *cfg, int minute)
{
    if (cfg->open_minute <= cfg->close_minute)
        return minute >= cfg->open_minute && minute < cfg->close_minute;
    return minute >= cfg->open_minute || minute < cfg->close_minute;
}

int kitchen_capacity_at(const config_store_t *cfg, int minute)
{
    return kitchen_open_at(cfg, minute) ? kitchen_slots_at(cfg, minute) : 0;
}

uint64_t kitchen_until_minute(uint64_t local_ms, int minute)
{
    uint64_t day_ms = (uint64_t)TZ_MINUTES_PER_DAY * MINUTE_MS;
    uint64_t into_day = local_ms % day_ms;
    uint64_t target = (uint64_t)(minute % TZ_MINUTES_PER_DAY) * MINUTE_MS;
    return target > into_day ? target - into_day : target + day_ms - into_day;
}

/* s_ahead: minutes from MINUTE to the next EDGE of the day, a full day when
 * it is now. */
static int s_ahead(int minute, int edge)
{
    int d = (edge % TZ_MINUTES_PER_DAY - minute + TZ_MINUTES_PER_DAY) % TZ_MINUTES_PER_DAY;
    return d ? d : TZ_MINUTES_PER_DAY;
}

int kitchen_capacity_next(const config_store_t *cfg, int minute)
{
    int ahead = s_ahead(minute, cfg->open_minute);
    int close = s_ahead(minute, cfg->close_minute);
    ahead = close < ahead ? close : ahead;
    for (int i = 0; i < cfg->staffing_count; i++) {
        int from = s_ahead(minute, cfg->staffing[i].from_minute);
        int to = s_ahead(minute, cfg->staffing[i].to_minute);
        ahead = from < ahead ? from : ahead;
        ahead = to < ahead ? to : ahead;
    }
    return ahead;
}

/* ---- the heap of always-staffed slots --------------------------------- */

static bool s_before(const kitchen_t *k, uint16_t a, uint16_t b)
{
    return k->free_at[a] < k->free_at[b] || (k->free_at[a] == k->free_at[b] && a < b);
}

static void s_place(kitchen_t *k, size_t at, uint16_t slot)
{
    k->heap[at] = slot;
    k->heap_pos[slot] = (uint16_t)at;
}

static void s_sift_up(kitchen_t *k, size_t at)
{
    uint16_t slot = k->heap[at];
    while (at > 0) {
        size_t parent = (at - 1) / 2;
        if (!s_before(k, slot, k->heap[parent]))
            break;
        s_place(k, at, k->heap[parent]);
        at = parent;
    }
    s_place(k, at, slot);
}

static void s_sift_down(kitchen_t *k, size_t at)
{
    uint16_t slot = k->heap[at];
    for (;;) {
        size_t child = 2 * at + 1;
        if (child >= k->always)
            break;
        if (child + 1 < k->always && s_before(k, k->heap[child + 1], k->heap[child]))
            child++;
        if (!s_before(k, k->heap[child], slot))
            break;
        s_place(k, at, k->heap[child]);
        at = child;
    }
    s_place(k, at, slot);
}

/* s_set_free_at changes a slot's free time and keeps the heap in order. */
static void s_set_free_at(kitchen_t *k, uint16_t slot, uint64_t at)
{
    uint64_t was = k->free_at[slot];
    k->free_at[slot] = at;
    if (slot >= k->always)
        return;
    if (at < was)
        s_sift_up(k, k->heap_pos[slot]);
    else
        s_sift_down(k, k->heap_pos[slot]);
}

/* ---- configuration ---------------------------------------------------- */

bool kitchen_configure(kitchen_t *k, const config_store_t *cfg)
{
    int most = cfg->prep_slots, least = cfg->prep_slots;
    for (int i = 0; i < cfg->staffing_count; i++) {
        if (cfg->staffing[i].prep_slots > most)
            most = cfg->staffing[i].prep_slots;
        if (cfg->staffing[i].prep_slots < least)
            least = cfg->staffing[i].prep_slots;
    }
    if (most > k->cap) {
        uint64_t *free_at = realloc(k->free_at, (size_t)most * sizeof *free_at);
        if (!free_at)
            return false;
        k->free_at = free_at;
        uint16_t *heap = realloc(k->heap, (size_t)most * sizeof *heap);
        if (!heap)
            return false;
        k->heap = heap;
        uint16_t *pos = realloc(k->heap_pos, (size_t)most * sizeof *pos);
        if (!pos)
            return false;
        k->heap_pos = pos;
        memset(k->free_at + k->cap, 0, (size_t)(most - k->cap) * sizeof *free_at);
        k->cap = (uint16_t)most;
    }
    k->slots = (uint16_t)most;
    k->always = (uint16_t)least;
    for (uint16_t i = 0; i < k->always; i++)
        s_place(k, i, i);
    for (size_t i = k->always / 2; i-- > 0;)
        s_sift_down(k, i);
    return true;
}

/* ---- planning --------------------------------------------------------- */

/* s_next_staffed: the earliest time at or after T when SLOT is staffed.
 * Staffing only changes at window edges, so jump from edge to edge; a day
 * holds at most two edges per window. */
static uint64_t s_next_staffed(const config_store_t *cfg, uint16_t slot, uint64_t t,
                               int64_t offset_ms)
{
    for (int step = 0; step <= 2 * cfg->staffing_count + 1; step++) {
        uint64_t local = (uint64_t)((int64_t)t + offset_ms);
        int minute = (int)((local / MINUTE_MS) % TZ_MINUTES_PER_DAY);
        if (slot < kitchen_slots_at(cfg, minute))
            return t;
        int ahead = TZ_MINUTES_PER_DAY;
        for (int i = 0; i < cfg->staffing_count; i++) {
            int edges[2] = { cfg->staffing[i].from_minute,
                             cfg->staffing[i].to_minute % TZ_MINUTES_PER_DAY };
            for (int e = 0; e < 2; e++) {
                int d = (edges[e] - minute + TZ_MINUTES_PER_DAY) % TZ_MINUTES_PER_DAY;
                if (d == 0)
                    d = TZ_MINUTES_PER_DAY;
                if (d < ahead)
                    ahead = d;
            }
        }
        t = t - local % MINUTE_MS + (uint64_t)ahead * MINUTE_MS;
    }
    return UINT64_MAX;
}

bool kitchen_plan(const kitchen_t *k, const config_store_t *cfg, uint64_t prep_ms,
                  uint64_t now_ms, int64_t offset_ms, kitchen_plan_t *out)
{
    uint64_t best = UINT64_MAX;
    uint16_t best_slot = 0;
    if (k->always > 0) {
        best_slot = k->heap[0];
        best = k->free_at[best_slot] > now_ms ? k->free_at[best_slot] : now_ms;
    }
    for (uint16_t slot = k->always; slot < k->slots; slot++) {
        uint64_t from = k->free_at[slot] > now_ms ? k->free_at[slot] : now_ms;
        if (from >= best)
            continue;
        uint64_t start = s_next_staffed(cfg, slot, from, offset_ms);
        if (start < best) {
            best = start;
            best_slot = slot;
        }
    }
    if (best == UINT64_MAX)
        return false;
    out->slot = best_slot;
    out->start_ms = best;
    out->ready_ms = best + prep_ms;
    return true;
}

void kitchen_book(kitchen_t *k, const kitchen_plan_t *plan)
{
    s_set_free_at(k, plan->slot, plan->ready_ms);
}

void kitchen_cancel(kitchen_t *k, uint16_t slot, uint64_t start_ms, uint64_t ready_ms,
                    uint64_t now_ms)
{
    if (slot >= k->cap || k->free_at[slot] != ready_ms)
        return;  /* later orders are booked behind it: their promises stand */
    s_set_free_at(k, slot, start_ms > now_ms ? start_ms : now_ms);
}

void kitchen_ready(kitchen_t *k, uint16_t slot, uint64_t ready_ms, uint64_t now_ms)
{
    if (slot >= k->cap)
        return;
    if (k->free_at[slot] == ready_ms || k->free_at[slot] < now_ms)
        s_set_free_at(k, slot, now_ms);
}

void kitchen_restore(kitchen_t *k, uint16_t slot, uint64_t ready_ms)
{
    if (k->slots == 0)
        return;
    if (slot >= k->slots)
        slot = (uint16_t)(slot % k->slots);
    if (ready_ms > k->free_at[slot])
        s_set_free_at(k, slot, ready_ms);
}

size_t kitchen_memory_bytes(const kitchen_t *k)
{
    return (size_t)k->cap * (sizeof *k->free_at + sizeof *k->heap + sizeof *k->heap_pos);
}

void kitchen_free(kitchen_t *k)
{
    free(k->free_at);
    free(k->heap);
    free(k->heap_pos);
    memset(k, 0, sizeof *k);
}
