/* norider.c - owns a rider pool's memory of the stores it recently had no
 * rider for (see norider.h). */
#include "norider.h"

#include "log.h"

#include <stdlib.h>
#include <string.h>

#define NORIDER_FIRST_CAP 64  /* slots at the first note */

/* s_home: the first slot to look at for STORE (Fibonacci hashing: store ids
 * are often consecutive). */
static size_t s_home(const norider_t *r, uint32_t store)
{
    return (size_t)(((uint64_t)store * 0x9E3779B97F4A7C15ull) >> 32) & (r->cap - 1);
}

/* s_find: the slot of STORE, or the empty slot where it would go. */
static size_t s_find(const norider_t *r, uint32_t store)
{
    size_t i = s_home(r, store);
    while (r->slots[i].store != 0 && r->slots[i].store != store)
        i = (i + 1) & (r->cap - 1);
    return i;
}

/* s_remove empties slot I and shifts back the slots after it that would not
 * be found past the hole (backward-shift deletion: no tombstones). */
static void s_remove(norider_t *r, size_t i)
{
    size_t mask = r->cap - 1;
    for (size_t j = (i + 1) & mask; r->slots[j].store != 0; j = (j + 1) & mask) {
        size_t home = s_home(r, r->slots[j].store);
        /* J stays when its home lies cyclically in (I, J]. */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            r->slots[i] = r->slots[j];
            i = j;
        }
    }
    r->slots[i] = (norider_slot_t){0};
    r->count--;
}

/* s_rebuild moves the stores whose time has not passed at NOW_MS into a
 * table of CAP slots; false (the old table kept) when out of memory. */
static bool s_rebuild(norider_t *r, size_t cap, uint64_t now_ms)
{
    norider_slot_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return false;
    norider_t fresh = {.slots = slots, .cap = cap};
    for (size_t i = 0; i < r->cap; i++) {
        const norider_slot_t *s = &r->slots[i];
        if (s->store == 0 || s->until_ms <= now_ms)
            continue;
        fresh.slots[s_find(&fresh, s->store)] = *s;
        fresh.count++;
    }
    free(r->slots);
    *r = fresh;
    return true;
}

void norider_init(norider_t *r)
{
    memset(r, 0, sizeof *r);
}

void norider_free(norider_t *r)
{
    free(r->slots);
    memset(r, 0, sizeof *r);
}

void norider_note(norider_t *r, uint32_t store, uint64_t until_ms, uint64_t now_ms)
{
    if (store == 0 || until_ms <= now_ms)
        return;
    if (r->slots) {
        size_t i = s_find(r, store);
        if (r->slots[i].store == store) {
            r->slots[i].until_ms = until_ms;
            return;
        }
    }
    /* At most half full: drop what has passed first, grow only if that is
     * not enough, so the table follows the stores refused lately. */
    if ((r->count + 1) * 2 > r->cap) {
        size_t cap = r->cap ? r->cap : NORIDER_FIRST_CAP;
        if (!s_rebuild(r, cap, now_ms) ||
            ((r->count + 1) * 4 > cap && !s_rebuild(r, cap * 2, now_ms))) {
            if ((r->count + 1) * 2 > r->cap) {
                log_error("failed to remember that store %u has no rider: out of memory", store);
                return;
            }
        }
    }
    size_t i = s_find(r, store);
    r->slots[i] = (norider_slot_t){.store = store, .until_ms = until_ms};
    r->count++;
}

void norider_forget(norider_t *r, uint32_t store)
{
    if (!r->slots || store == 0)
        return;
    size_t i = s_find(r, store);
    if (r->slots[i].store == store)
        s_remove(r, i);
}

uint64_t norider_until(const norider_t *r, uint32_t store, uint64_t now_ms)
{
    if (!r->slots || store == 0)
        return 0;
    const norider_slot_t *s = &r->slots[s_find(r, store)];
    return s->store == store && s->until_ms > now_ms ? s->until_ms : 0;
}

size_t norider_standing(const norider_t *r, uint64_t now_ms)
{
    size_t n = 0;
    for (size_t i = 0; i < r->cap; i++)
        n += r->slots[i].store != 0 && r->slots[i].until_ms > now_ms;
    return n;
}
