/* sim_map.c - owns sluice-sim's string -> uint32 map. */
#include "sim_map.h"

#include <stdlib.h>
#include <string.h>

#define SIM_MAP_MIN_CAP 64

/* FNV-1a: keys are short ids, this is enough and has no state. */
static uint64_t s_hash(const char *key)
{
    uint64_t h = 14695981039346656037ull;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h;
}

/* s_slot returns the slot holding KEY, or the empty slot where it would go. */
static sim_map_slot_t *s_slot(sim_map_slot_t *slots, size_t cap, const char *key)
{
    size_t i = (size_t)s_hash(key) & (cap - 1);
    while (slots[i].key && strcmp(slots[i].key, key) != 0)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

bool sim_map_get(const sim_map_t *m, const char *key, uint32_t *value)
{
    if (m->cap == 0)
        return false;
    const sim_map_slot_t *slot = s_slot(m->slots, m->cap, key);
    if (!slot->key)
        return false;
    *value = slot->value;
    return true;
}

/* s_grow doubles the table so it stays under 70% full; the keys move over. */
static bool s_grow(sim_map_t *m)
{
    size_t cap = m->cap ? m->cap * 2 : SIM_MAP_MIN_CAP;
    sim_map_slot_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return false;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key)
            *s_slot(slots, cap, m->slots[i].key) = m->slots[i];
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return true;
}

bool sim_map_put(sim_map_t *m, const char *key, uint32_t value)
{
    if ((m->count + 1) * 10 > m->cap * 7 && !s_grow(m))
        return false;
    sim_map_slot_t *slot = s_slot(m->slots, m->cap, key);
    if (!slot->key) {
        char *copy = strdup(key);
        if (!copy)
            return false;
        slot->key = copy;
        m->count++;
    }
    slot->value = value;
    return true;
}

void sim_map_free(sim_map_t *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    *m = (sim_map_t){0};
}
