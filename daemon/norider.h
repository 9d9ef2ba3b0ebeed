/* norider.h - owns one rider pool's memory of the stores it recently had no
 * rider for: store id -> until when (monotonic ms) a NO_RIDER answer for
 * that store still stands. Admission reads it (dispatch_can_deliver), so an
 * order is refused NO_RIDERS while every platform of its store is known to
 * have no rider there, instead of being accepted to fail later.
 *
 * A quote or dispatch for the store that a platform answers NO_RIDER sets the
 * store's time (norider_note); one it answers yes forgets it at once
 * (norider_forget), so a platform with riders again is used again at its
 * next answer. A time that passes is as good as forgotten.
 *
 * Memory is bounded by the stores that had a refusal lately, not by the
 * stores of the config (300,000 of them): an open-addressing table of 16
 * bytes a slot that drops passed times before it grows. When it cannot grow
 * (out of memory) the store is not remembered: admission then believes the
 * platform can serve, which is what it did before it knew. */
#ifndef SLUICE_NORIDER_H
#define SLUICE_NORIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct norider_slot {
    uint32_t store;            /* 0: empty (store ids start at 1) */
    uint64_t until_ms;
} norider_slot_t;

typedef struct norider {
    norider_slot_t *slots;     /* cap of them, a power of two; NULL until the first note */
    size_t cap, count;
} norider_t;

/* norider_init: an empty memory (no allocation yet); norider_free frees. */
void norider_init(norider_t *r);
void norider_free(norider_t *r);

/* norider_note: the platform had no rider for STORE; it stands until
 * UNTIL_MS (monotonic), unless a later answer forgets it. NOW_MS lets the
 * table drop passed times before it grows. */
void norider_note(norider_t *r, uint32_t store, uint64_t until_ms, uint64_t now_ms);
/* norider_forget: the platform has a rider for STORE again. */
void norider_forget(norider_t *r, uint32_t store);
/* norider_until: until when the refusal for STORE stands as of NOW_MS; 0
 * when none does. */
uint64_t norider_until(const norider_t *r, uint32_t store, uint64_t now_ms);
/* norider_standing: the stores whose refusal stands at NOW_MS (a walk over
 * the table, for /metrics). */
size_t norider_standing(const norider_t *r, uint64_t now_ms);

#endif
