/* schedule.h - owns each order's place in time: its one timer (the earlier
 * of its prep start, while it waits in line, and its next dispatch step) in
 * the deadline heap, and its booking in its store's kitchen and, for a
 * campaign order, in its campaign's share of the store (campaign.h). */
#ifndef SLUICE_SCHEDULE_H
#define SLUICE_SCHEDULE_H

#include "campaign.h"
#include "dispatch.h"
#include "kitchen.h"
#include "order_index.h"
#include "store.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct schedule schedule_t;

/* schedule_new keeps STORES and CAMPAIGNS (borrowed: they must outlive the
 * schedule). */
schedule_t *schedule_new(store_table_t *stores, campaign_table_t *campaigns)
    __attribute__((warn_unused_result));
void schedule_destroy(schedule_t **self);

/* schedule_kitchen_of: the kitchen order E was booked in, or NULL. */
kitchen_t *schedule_kitchen_of(schedule_t *self, const order_entry_t *e);

/* schedule_timer arms E's timer for its next due time (none: cleared). */
void schedule_timer(schedule_t *self, order_entry_t *e);
/* schedule_wait arms E's timer at its prep start (admission booked it for
 * later); false when out of memory. */
bool schedule_wait(schedule_t *self, order_entry_t *e) __attribute__((warn_unused_result));
/* schedule_prep_started: E's slot has started it (or it is made), so it no
 * longer waits in line. */
void schedule_prep_started(schedule_t *self, order_entry_t *e);
/* schedule_release gives back the slot time (and its campaign's share) of
 * an order cancelled before it was ready. */
void schedule_release(schedule_t *self, order_entry_t *e, uint64_t now_ms);
/* schedule_unplace gives back all an admission took for an order that was
 * never stored (its commit failed, it could not be queued, or another
 * process had stored its id): its slot time and, for a campaign order, its
 * share, its place in the budget and in the store's day (campaign_unplace;
 * E->updated_at_ms is when it was admitted). A store the config has
 * dropped since keeps its campaign counts: they can only refuse one more. */
void schedule_unplace(schedule_t *self, order_entry_t *e, uint64_t now_ms);
/* schedule_ready: the store made E at AT_MS (MarkReady), maybe before its
 * promised time: its slot, and its campaign's share, are free from then. */
void schedule_ready(schedule_t *self, order_entry_t *e, uint64_t at_ms);
/* schedule_restore books a restored order's slot again while it may still be
 * in the kitchen (a rider may be sought before it is ready), at NOW_MS. */
void schedule_restore(schedule_t *self, order_entry_t *e, uint64_t now_ms);

/* schedule_step runs every timer due by now: prep starts, and DISPATCH's
 * steps for the order. */
void schedule_step(schedule_t *self, dispatch_t *dispatch);
/* schedule_next_ms: when the earliest timer is due (wall ms), UINT64_MAX
 * when none is set. */
uint64_t schedule_next_ms(const schedule_t *self);

#endif
