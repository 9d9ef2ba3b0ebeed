/* kitchen.h - owns one store's prep schedule: which prep slot makes each
 * order, and when each slot is next free.
 *
 * The model (design section 5): a store makes prep_slots orders in parallel
 * (staffing windows change that count by local time of day); an order takes
 * the slot that can start it earliest and occupies it for order_seconds +
 * drinks * item_seconds. Slots staffed at every hour sit in a binary heap
 * ordered by free time, so planning is O(log slots); the few slots that only
 * exist in some staffing windows are scanned. Promises already made are
 * never moved: cancelling or finishing early frees a slot only when the
 * order was the last one booked on it. */
#ifndef SLUICE_KITCHEN_H
#define SLUICE_KITCHEN_H

#include "config.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct kitchen {
    uint64_t *free_at;      /* per slot: wall ms when the slot is next free */
    uint16_t *heap;         /* always-staffed slots, earliest free first */
    uint16_t *heap_pos;     /* slot -> index in heap (slots < always only) */
    uint16_t cap;           /* entries allocated in the three arrays */
    uint16_t slots;         /* most slots staffed at any time of day */
    uint16_t always;        /* slots staffed at every time of day */
    uint32_t waiting;       /* booked orders whose prep has not started yet */
} kitchen_t;

typedef struct kitchen_plan {
    uint16_t slot;
    uint64_t start_ms;      /* wall ms the slot starts the order */
    uint64_t ready_ms;      /* start_ms + prep time: the promise */
} kitchen_plan_t;

/* kitchen_slots_at: prep slots staffed at local MINUTE (0..1439). */
int kitchen_slots_at(const config_store_t *cfg, int minute);

/* kitchen_open_at: is the store open (its hours) at local MINUTE (0..1439)? */
bool kitchen_open_at(const config_store_t *cfg, int minute);

/* kitchen_capacity_at: the prep slots the store has to give at local MINUTE
 * (0..1439): those staffed while it is open, none while it is closed. This
 * is the "slot time" a campaign's share is a share of (campaign.h). */
int kitchen_capacity_at(const config_store_t *cfg, int minute);

/* kitchen_until_minute: ms from local time LOCAL_MS to the next local
 * MINUTE of the day (a full day when it is that minute's start now). */
uint64_t kitchen_until_minute(uint64_t local_ms, int minute);

/* kitchen_capacity_next: minutes (1..1440) from local MINUTE to the next
 * minute at which kitchen_capacity_at may change: an opening or closing
 * time, or a staffing window's edge. */
int kitchen_capacity_next(const config_store_t *cfg, int minute);

/* kitchen_configure sizes the schedule for CFG (first use, or after a reload
 * changed the store). Booked slots keep their free times. False when out of
 * memory; the kitchen is then unchanged. */
bool kitchen_configure(kitchen_t *k, const config_store_t *cfg)
    __attribute__((warn_unused_result));

/* kitchen_plan finds the earliest start for an order of PREP_MS at NOW_MS
 * without booking it. OFFSET_MS is the store zone's UTC offset (staffing
 * windows are local time). False when no slot is ever staffed. */
bool kitchen_plan(const kitchen_t *k, const config_store_t *cfg, uint64_t prep_ms,
                  uint64_t now_ms, int64_t offset_ms, kitchen_plan_t *out);

/* kitchen_book takes the planned slot. */
void kitchen_book(kitchen_t *k, const kitchen_plan_t *plan);

/* kitchen_cancel gives back the time of an order booked on SLOT from
 * START_MS to READY_MS, when it was the slot's last booking. */
void kitchen_cancel(kitchen_t *k, uint16_t slot, uint64_t start_ms, uint64_t ready_ms,
                    uint64_t now_ms);

/* kitchen_ready records that the order on SLOT promised for READY_MS was made
 * at NOW_MS: early frees the slot (if it was its last booking); late pushes
 * the slot's free time to now, because the kitchen is behind. */
void kitchen_ready(kitchen_t *k, uint16_t slot, uint64_t ready_ms, uint64_t now_ms);

/* kitchen_restore puts back a booking read from the database after a
 * restart (configure first). A slot the config no longer has is folded onto
 * one it has, which can only make later promises more cautious. */
void kitchen_restore(kitchen_t *k, uint16_t slot, uint64_t ready_ms);

/* kitchen_memory_bytes: what the schedule holds on the heap. */
size_t kitchen_memory_bytes(const kitchen_t *k);

void kitchen_free(kitchen_t *k);

#endif
