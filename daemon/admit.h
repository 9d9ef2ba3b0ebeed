/* admit.h - owns the admission decision: may this order come in now, and
 * what can the store honestly promise?
 *
 * Levels, in order, each naming itself in the rejection's detail:
 *   daemon  adaptive pending-orders limit (shed.h) -> OVERLOADED
 *   daemon  daemon.limits.orders_per_second token bucket -> OVERLOADED
 *   brand   brands.[].orders_per_second token bucket -> OVERLOADED
 *   store   paused -> STORE_PAUSED; outside hours, or ready after closing
 *           -> STORE_CLOSED; max_queue orders waiting, or ready later than
 *           max_wait_minutes -> STORE_BUSY
 * Tokens are spent only by admitted orders, so the limits bound what reaches
 * the kitchens and the database, not what producers try. */
#ifndef SLUICE_ADMIT_H
#define SLUICE_ADMIT_H

#include "bucket.h"
#include "config.h"
#include "kitchen.h"
#include "order.h"
#include "shed.h"
#include "store.h"
#include "proto/sluice.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct admit_result {
    Sluice__V1__Reason reason;       /* REASON_NONE when admitted */
    uint64_t retry_after_ms;
    kitchen_plan_t plan;             /* admitted: the slot booked and the promise */
    uint64_t promised_delivery_at_ms;
    char detail[ORDER_DETAIL_MAX];   /* rejected: the level and why */
} admit_result_t;

typedef struct admit_order_in {
    unsigned drinks;
    double dropoff_lat, dropoff_lng;
    size_t pending;                  /* orders admitted and not yet committed */
    uint64_t now_ms;                 /* wall clock: promises */
    uint64_t now_us;                 /* monotonic: rates */
} admit_order_in_t;

typedef struct admit admit_t;

admit_t *admit_new(const config_t *cfg, uint64_t now_us) __attribute__((warn_unused_result));
void admit_destroy(admit_t **self);

/* admit_configure applies a reloaded CFG: new rates and targets; brands keep
 * the tokens they had (matched by name). False when out of memory, and the
 * old settings stay. CFG must outlive the next configure. */
bool admit_configure(admit_t *self, const config_t *cfg, uint64_t now_us)
    __attribute__((warn_unused_result));

/* admit_order decides for one validated order for STORE (found in STORES).
 * Admitted: books the slot, spends the tokens, returns true. */
bool admit_order(admit_t *self, const store_table_t *stores, store_t *store,
                 const admit_order_in_t *in, admit_result_t *out);

/* What admission would see of a store now, for `sluicectl store`. */
typedef struct admit_store_view {
    bool open_now;
    int prep_slots_now;
    uint32_t queue_length;         /* booked orders whose prep has not started */
    bool promise_possible;         /* false: no slot staffed, or out of memory */
    uint64_t promised_wait_ms;     /* a one-drink order now would be ready in */
} admit_store_view_t;

/* admit_store_view fills OUT for STORE (with a config) at NOW_MS, without
 * booking anything. */
void admit_store_view(const store_table_t *stores, store_t *store, uint64_t now_ms,
                      admit_store_view_t *out);

/* admit_shed gives the adaptive limit its measurements (see shed.h). */
shed_t *admit_shed(admit_t *self);

/* admit_delivery_ms: promised delivery for an order ready at READY_MS:
 * ready + handoff + straight-line travel at the configured rider speed. */
uint64_t admit_delivery_ms(const config_t *cfg, const config_store_t *store, uint64_t ready_ms,
                           double lat, double lng);

#endif
