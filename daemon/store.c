/* store.c - owns the store-id lookup table. */
#include "store.h"

#include <stdlib.h>

struct store_table {
    const config_t *cfg;
    uint32_t *slots;        /* store index + 1; 0 marks an empty slot */
    size_t mask;
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

store_table_t *store_table_new(const config_t *cfg)
{
    store_table_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    size_t size = 16;
    while (size < cfg->store_count * 2)
        size *= 2;
    self->slots = calloc(size, sizeof *self->slots);
    if (!self->slots) {
        free(self);
        return NULL;
    }
    self->cfg = cfg;
    self->mask = size - 1;
    for (size_t i = 0; i < cfg->store_count; i++) {
        size_t at = s_hash(cfg->stores[i].id) & self->mask;
        while (self->slots[at])
            at = (at + 1) & self->mask;
        self->slots[at] = (uint32_t)i + 1;
    }
    return self;
}

void store_table_destroy(store_table_t **self)
{
    if (!self || !*self)
        return;
    free((*self)->slots);
    free(*self);
    *self = NULL;
}

const config_store_t *store_table_find(const store_table_t *self, uint32_t id)
{
    for (size_t at = s_hash(id) & self->mask; self->slots[at]; at = (at + 1) & self->mask) {
        const config_store_t *store = &self->cfg->stores[self->slots[at] - 1];
        if (store->id == id)
            return store;
    }
    return NULL;
}
