/* store.h - owns the stores the daemon serves: for each store id, its current
 * configuration and its live prep schedule. The schedule outlives reloads:
 * a reload only points the store at its new configuration, and a store that
 * left the configuration keeps its schedule for the orders it still has.
 *
 * Memory per store: sizeof(store_t) (104 bytes, 40 of them today's counts)
 * plus 8 bytes of hash table, plus its config_store_t and name; the prep
 * schedule (12 bytes per slot) is allocated on the store's first order. */
#ifndef SLUICE_STORE_H
#define SLUICE_STORE_H

#include "config.h"
#include "kitchen.h"
#include "today.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An operator's pause or resume (sluicectl, table store_overrides) that
 * stands over the config's `paused` across reloads and restarts. */
typedef enum store_override {
    STORE_OVERRIDE_NONE = 0,        /* the config decides */
    STORE_OVERRIDE_PAUSED,
    STORE_OVERRIDE_RESUMED,
} store_override_t;

typedef struct store {
    uint32_t id;
    uint32_t configured;            /* table generation the kitchen is sized for */
    const config_store_t *cfg;      /* NULL: removed from the config, no new orders */
    kitchen_t kitchen;
    uint8_t override;               /* store_override_t; kept by every apply */
    today_t today;                  /* today's decisions; read through store_today */
} store_t;

typedef struct store_table store_table_t;

store_table_t *store_table_new(void) __attribute__((warn_unused_result));
void store_table_destroy(store_table_t **self);

/* store_table_apply points every store at its entry in CFG, adds new ones
 * and detaches those CFG no longer has. All or nothing: false when out of
 * memory, and the table still describes the previous config. CFG must stay
 * alive until the next apply. store_t pointers are valid until then too.
 * New stores count today's decisions from NOW_MS (wall ms). */
bool store_table_apply(store_table_t *self, const config_t *cfg, uint64_t now_ms)
    __attribute__((warn_unused_result));

/* store_table_find returns the store with ID (also a detached one), or NULL. */
store_t *store_table_find(const store_table_t *self, uint32_t id);

/* store_kitchen returns STORE's schedule sized for its current config, or
 * NULL when out of memory or when the store is detached and never had one. */
kitchen_t *store_kitchen(const store_table_t *self, store_t *store);

/* store_paused: does admission refuse STORE's orders as paused now? The
 * override when there is one, else the config's `paused`. */
bool store_paused(const store_t *store);

/* store_count_decision counts a decision about STORE at wall NOW_MS in its
 * local day (see today.h): REASON_NONE for an accepted order. A detached
 * store has no zone and counts nothing. */
void store_count_decision(store_t *store, uint64_t now_ms, Sluice__V1__Reason reason);

/* store_today returns STORE's counts moved to the local day of wall NOW_MS,
 * or NULL for a detached store. */
const today_t *store_today(store_t *store, uint64_t now_ms);

size_t store_table_count(const store_table_t *self);
/* store_table_memory_bytes: the table, the stores and their schedules. */
size_t store_table_memory_bytes(const store_table_t *self);

#endif
