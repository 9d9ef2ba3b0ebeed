/* availability.h - owns a store's availability: its class (open, busy,
 * paused, closed, unknown) and the promise an order of typical size would
 * get now, decided by admission's own rules without booking anything, with
 * when a campaign could place one there (QueryAvailability); and the feed
 * of class changes behind the avail.<store_id> events, at most one per
 * store per interval.
 *
 * "Typical size" is the store's typical_drinks (default 2): prep time
 * order_seconds + typical_drinks x item_seconds. One store costs a lookup,
 * a zone offset from the cache, kitchen_plan (O(log slots)) and, with a
 * campaign, its limits at that store (O(its bookings there)); nothing
 * grows with the number of stores. */
#ifndef SLUICE_AVAILABILITY_H
#define SLUICE_AVAILABILITY_H

#include "admit.h"
#include "store.h"
#include "proto/sluice.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a store would do with a typical order now (times: wall ms). */
typedef struct availability {
    Sluice__V1__StoreState state;
    unsigned typical_drinks;
    uint64_t earliest_ready_at_ms;   /* OPEN or BUSY: the promise it would get; else 0 */
    uint64_t next_at_ms;             /* 0: it takes one now; else when it would, as
                                      * retry_after_ms says (0 with store_never) */
    bool store_never;                /* no time helps (unknown, order longer than
                                      * max_wait_minutes) */
    Sluice__V1__CampaignState campaign_state; /* NONE: no campaign asked */
    uint64_t campaign_next_at_ms;    /* 0: the campaign could place one now */
    bool campaign_never;
} availability_t;

/* availability_of fills OUT for STORE (NULL: no such store) at NOW_MS
 * (wall) and NOW_US (monotonic), and, when CAMPAIGN names one, says when
 * that campaign could place a typical order there: the later of when the
 * store and the campaign's limits would take it. When the store would not
 * take one now, its booking is unknown, so the campaign's share is not
 * looked at; the time then is the later of the store's and the campaign's
 * other limits. Nothing is booked or spent. */
void availability_of(admit_t *admit, const store_table_t *stores, store_t *store,
                     const char *campaign, uint64_t now_ms, uint64_t now_us, availability_t *out);

/* availability_to_proto writes A, STORE_ID's availability, into MSG (the
 * caller initialised it with SLUICE__V1__STORE_AVAILABILITY__INIT). */
void availability_to_proto(const availability_t *a, uint32_t store_id,
                           Sluice__V1__StoreAvailability *msg);

/* availability_state_name: "open", "busy", "paused", "closed" or "unknown",
 * as the AvailabilityEvent (events.proto) names a class. */
const char *availability_state_name(Sluice__V1__StoreState state);

/* ---- the feed behind the avail.<store_id> events ------------------------ */

typedef struct availability_feed availability_feed_t;

/* A change to publish. */
typedef struct availability_change {
    uint32_t store_id;
    Sluice__V1__StoreState state;
    Sluice__V1__StoreState previous; /* the class of the last event sent */
    bool first;                      /* none was sent for the store before */
} availability_change_t;

/* availability_feed_new: at most one event per store per INTERVAL_MS (0:
 * every change at once). NULL when out of memory. */
availability_feed_t *availability_feed_new(uint64_t interval_ms)
    __attribute__((warn_unused_result));
void availability_feed_destroy(availability_feed_t **self);

/* availability_feed_set_interval applies a reloaded interval to the changes
 * held from now on. */
void availability_feed_set_interval(availability_feed_t *self, uint64_t interval_ms);

/* availability_feed_note: STORE_ID is in STATE at NOW_MS. True: publish
 * OUT now (it is recorded as sent). False: nothing to publish now: the
 * class is the one last sent, or an event went out less than the interval
 * ago, and the change is held for availability_feed_next, the latest
 * class noted winning. The first class noted for a store is always sent.
 * A store the feed cannot remember for want of memory gets no events. */
bool availability_feed_note(availability_feed_t *self, uint32_t store_id,
                            Sluice__V1__StoreState state, uint64_t now_ms,
                            availability_change_t *out);

/* availability_feed_next gives, one per call, the held changes whose time
 * has come at NOW_MS (recorded as sent); a store back to its last sent
 * class by then is dropped. False when there is none (now). */
bool availability_feed_next(availability_feed_t *self, uint64_t now_ms, availability_change_t *out);

/* availability_feed_due_ms: when the next held change is due, UINT64_MAX
 * for none: the event loop's timeout. */
uint64_t availability_feed_due_ms(const availability_feed_t *self);

/* availability_feed_memory_bytes: what the feed holds. */
size_t availability_feed_memory_bytes(const availability_feed_t *self);

#endif
