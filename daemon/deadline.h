/* deadline.h - owns the order timers: a binary min-heap of order entries by
 * due_ms (wall clock), each entry at most once, so setting, moving and
 * clearing an order's next deadline are O(log n) with a million orders. */
#ifndef SLUICE_DEADLINE_H
#define SLUICE_DEADLINE_H

#include "order_index.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct deadline_heap {
    order_entry_t **items;
    size_t count, cap;
} deadline_heap_t;

/* deadline_set (re)schedules E at DUE_MS; false when out of memory. */
bool deadline_set(deadline_heap_t *h, order_entry_t *e, uint64_t due_ms)
    __attribute__((warn_unused_result));
/* deadline_clear unschedules E (fine when it is not scheduled). */
void deadline_clear(deadline_heap_t *h, order_entry_t *e);
/* deadline_pop_due takes the earliest entry due at NOW_MS, or NULL. */
order_entry_t *deadline_pop_due(deadline_heap_t *h, uint64_t now_ms);
/* deadline_next: the earliest due_ms, UINT64_MAX when none. */
uint64_t deadline_next(const deadline_heap_t *h);
void deadline_free(deadline_heap_t *h);

#endif
