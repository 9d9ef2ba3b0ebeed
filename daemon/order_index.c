/* order_index.c - owns the order_id hash table (open addressing, linear
 * probing, backward-shift deletion: no tombstones to pile up under churn). */
#include "order_index.h"

#include "log.h"

#include <stdlib.h>
#include <string.h>

struct order_index {
    order_entry_t **slots;
    size_t mask;
    size_t count;
};

static uint64_t s_hash(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

order_index_t *order_index_new(size_t expected)
{
    order_index_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    size_t size = 1024;
    while (size < expected * 2)
        size *= 2;
    self->slots = calloc(size, sizeof *self->slots);
    if (!self->slots) {
        free(self);
        return NULL;
    }
    self->mask = size - 1;
    return self;
}

static void s_free_entry(order_entry_t *entry)
{
    while (entry->waiters) {
        ingress_ticket_t *next = entry->waiters->next;
        free(entry->waiters);
        entry->waiters = next;
    }
    free(entry);
}

void order_index_destroy(order_index_t **self)
{
    if (!self || !*self)
        return;
    for (size_t i = 0; i <= (*self)->mask; i++)
        if ((*self)->slots[i])
            s_free_entry((*self)->slots[i]);
    free((*self)->slots);
    free(*self);
    *self = NULL;
}

order_entry_t *order_index_find(const order_index_t *self, const char *order_id)
{
    uint64_t h = s_hash(order_id);
    for (size_t at = h & self->mask; self->slots[at]; at = (at + 1) & self->mask) {
        order_entry_t *e = self->slots[at];
        if (e->hash == h && strcmp(e->order_id, order_id) == 0)
            return e;
    }
    return NULL;
}

static void s_place(order_entry_t **slots, size_t mask, order_entry_t *e)
{
    size_t at = e->hash & mask;
    while (slots[at])
        at = (at + 1) & mask;
    slots[at] = e;
}

/* s_grow doubles the table. At millions of orders this is one pause of some
 * tens of milliseconds; pre-size with the expected count to avoid it. */
static bool s_grow(order_index_t *self)
{
    size_t size = (self->mask + 1) * 2;
    order_entry_t **slots = calloc(size, sizeof *slots);
    if (!slots)
        return false;
    for (size_t i = 0; i <= self->mask; i++)
        if (self->slots[i])
            s_place(slots, size - 1, self->slots[i]);
    free(self->slots);
    self->slots = slots;
    self->mask = size - 1;
    return true;
}

order_entry_t *order_index_add(order_index_t *self, const char *order_id)
{
    if ((self->count + 1) * 2 > self->mask + 1 && !s_grow(self)) {
        log_error("failed to grow the order index past %zu orders: out of memory", self->count);
        return NULL;
    }
    order_entry_t *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    size_t n = strlen(order_id);
    if (n > ORDER_ID_MAX)
        n = ORDER_ID_MAX;
    memcpy(e->order_id, order_id, n);
    e->hash = s_hash(e->order_id);
    s_place(self->slots, self->mask, e);
    self->count++;
    return e;
}

void order_index_remove(order_index_t *self, order_entry_t *entry)
{
    size_t at = entry->hash & self->mask;
    while (self->slots[at] != entry) {
        if (!self->slots[at])
            return;  /* not ours */
        at = (at + 1) & self->mask;
    }
    /* Backward-shift: pull later members of the probe run into the hole. */
    size_t hole = at;
    for (size_t next = (hole + 1) & self->mask; self->slots[next]; next = (next + 1) & self->mask) {
        size_t home = self->slots[next]->hash & self->mask;
        /* Move NEXT into HOLE unless its home lies cyclically in (hole, next]. */
        bool home_between = hole <= next ? (home > hole && home <= next)
                                         : (home > hole || home <= next);
        if (!home_between) {
            self->slots[hole] = self->slots[next];
            hole = next;
        }
    }
    self->slots[hole] = NULL;
    self->count--;
    s_free_entry(entry);
}

size_t order_index_count(const order_index_t *self)
{
    return self->count;
}
