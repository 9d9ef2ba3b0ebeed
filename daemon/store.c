/* store.c - owns the table of stores and their schedules. */
#include "store.h"

#include "tz.h"

#include <stdlib.h>
#include <string.h>

struct store_table {
    store_t *stores;
    size_t count, cap;
    uint32_t *index;        /* open addressing: store position + 1; 0 is empty */
    size_t mask;
    uint32_t generation;    /* bumped by every apply */
};

static size_t s_hash(uint32_t id)
{
    /* Store ids are often dense ranges; scramble them (Murmur3 finaliser). */
    uint32_t h = id;
    h ^= h >> 16; h *= 0x85ebca6bu;
    h ^= h >> 13; h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

store_table_t *store_table_new(void)
{
    store_table_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->index = calloc(16, sizeof *self->index);
    if (!self->index) {
        free(self);
        return NULL;
    }
    self->mask = 15;
    return self;
}

void store_table_destroy(store_table_t **self)
{
    if (!self || !*self)
        return;
    store_table_t *t = *self;
    for (size_t i = 0; i < t->count; i++)
        kitchen_free(&t->stores[i].kitchen);
    free(t->stores);
    free(t->index);
    free(t);
    *self = NULL;
}

static size_t s_slot_of(const store_table_t *t, uint32_t id)
{
    size_t at = s_hash(id) & t->mask;
    while (t->index[at] && t->stores[t->index[at] - 1].id != id)
        at = (at + 1) & t->mask;
    return at;
}

store_t *store_table_find(const store_table_t *self, uint32_t id)
{
    uint32_t pos = self->index[s_slot_of(self, id)];
    return pos ? &self->stores[pos - 1] : NULL;
}

/* s_reserve makes room for COUNT stores (array and a half-full index), so
 * that applying a config cannot fail half-way. */
static bool s_reserve(store_table_t *t, size_t count)
{
    if (count > t->cap) {
        store_t *stores = realloc(t->stores, count * sizeof *stores);
        if (!stores)
            return false;
        t->stores = stores;
        t->cap = count;
    }
    size_t size = t->mask + 1;
    if (count * 2 <= size)
        return true;
    while (size < count * 2)
        size *= 2;
    uint32_t *index = calloc(size, sizeof *index);
    if (!index)
        return false;
    free(t->index);
    t->index = index;
    t->mask = size - 1;
    for (size_t i = 0; i < t->count; i++)
        t->index[s_slot_of(t, t->stores[i].id)] = (uint32_t)i + 1;
    return true;
}

/* s_local_ms: wall NOW_MS as STORE's local time. */
static uint64_t s_local_ms(const config_store_t *c, uint64_t now_ms)
{
    return (uint64_t)((int64_t)now_ms + tz_offset_ms(c->timezone, now_ms));
}

bool store_table_apply(store_table_t *self, const config_t *cfg, uint64_t now_ms)
{
    if (!s_reserve(self, self->count + cfg->store_count))
        return false;
    self->generation++;
    for (size_t i = 0; i < self->count; i++)
        self->stores[i].cfg = NULL;
    for (size_t i = 0; i < cfg->store_count; i++) {
        const config_store_t *c = &cfg->stores[i];
        size_t at = s_slot_of(self, c->id);
        if (!self->index[at]) {
            store_t *s = &self->stores[self->count];
            memset(s, 0, sizeof *s);
            s->id = c->id;
            today_begin(&s->today, s_local_ms(c, now_ms));
            self->index[at] = (uint32_t)++self->count;
        }
        self->stores[self->index[at] - 1].cfg = c;
    }
    return true;
}

kitchen_t *store_kitchen(const store_table_t *self, store_t *store)
{
    if (store->configured == self->generation)
        return &store->kitchen;
    if (!store->cfg)  /* detached: keep the schedule it had */
        return store->kitchen.cap ? &store->kitchen : NULL;
    if (!kitchen_configure(&store->kitchen, store->cfg))
        return NULL;
    store->configured = self->generation;
    return &store->kitchen;
}

bool store_paused(const store_t *store)
{
    if (store->override != STORE_OVERRIDE_NONE)
        return store->override == STORE_OVERRIDE_PAUSED;
    return store->cfg && store->cfg->paused;
}

void store_count_decision(store_t *store, uint64_t now_ms, Sluice__V1__Reason reason)
{
    if (store->cfg)
        (void)today_count(&store->today, s_local_ms(store->cfg, now_ms), reason);
}

const today_t *store_today(store_t *store, uint64_t now_ms)
{
    if (!store->cfg)
        return NULL;
    today_roll(&store->today, s_local_ms(store->cfg, now_ms));
    return &store->today;
}

size_t store_table_count(const store_table_t *self)
{
    return self->count;
}

size_t store_table_memory_bytes(const store_table_t *self)
{
    size_t bytes = sizeof *self + self->cap * sizeof *self->stores +
                   (self->mask + 1) * sizeof *self->index;
    for (size_t i = 0; i < self->count; i++)
        bytes += kitchen_memory_bytes(&self->stores[i].kitchen);
    return bytes;
}
