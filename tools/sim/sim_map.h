/* sim_map.h - owns a string -> uint32 map for sluice-sim (dispatch keys to
 * record indexes, order ids to ledger state): open addressing with linear
 * probing, keys copied in, no deletion (the simulator forgets nothing). */
#ifndef SLUICE_SIM_MAP_H
#define SLUICE_SIM_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sim_map_slot {
    char *key;                /* owned copy; NULL: empty slot */
    uint32_t value;
} sim_map_slot_t;

/* Zero-initialised is an empty map. */
typedef struct sim_map {
    sim_map_slot_t *slots;
    size_t cap;               /* 0 or a power of two */
    size_t count;
} sim_map_t;

/* sim_map_get: true and *VALUE when KEY is in the map. */
bool sim_map_get(const sim_map_t *m, const char *key, uint32_t *value);
/* sim_map_put sets KEY to VALUE (inserting a copy of KEY when absent); false
 * when out of memory, and the map is unchanged. */
bool sim_map_put(sim_map_t *m, const char *key, uint32_t value)
    __attribute__((warn_unused_result));
/* sim_map_free releases every key and the table; the map is empty after. */
void sim_map_free(sim_map_t *m);

#endif
