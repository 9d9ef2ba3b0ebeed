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
 *   campaign  an order that names one: its limits (campaign.h), in their
 *           order -> CAMPAIGN_LIMIT ("campaign NAME: ..."), or UNAVAILABLE
 *           while its counts are read back after a start
 * Tokens are spent only by admitted orders, so the limits bound what reaches
 * the kitchens and the database, not what producers try. A regular order
 * never meets the campaign level: whatever campaigns book, what their shares
 * leave of each store is theirs. */
#ifndef SLUICE_ADMIT_H
#define SLUICE_ADMIT_H

#include "bucket.h"
#include "campaign.h"
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
    bool planned;                    /* PLAN holds the booking the store would make
                                      * (admitted, or refused after planning it) */
    uint64_t promised_delivery_at_ms;
    campaign_id_t campaign;          /* the order's campaign; CAMPAIGN_NONE: none
                                      * (release its booking with campaign_give_back) */
    Sluice__V1__CampaignState campaign_state; /* CAMPAIGN_LIMIT: the limit; else NONE or OK */
    char detail[ORDER_DETAIL_MAX];   /* rejected: the level and why */
} admit_result_t;

typedef struct admit_order_in {
    const char *campaign;            /* SubmitOrder.campaign; NULL or "": a regular order */
    unsigned drinks;
    double dropoff_lat, dropoff_lng;
    size_t pending;                  /* orders admitted and not yet committed */
    uint64_t now_ms;                 /* wall clock: promises */
    uint64_t now_us;                 /* monotonic: rates */
} admit_order_in_t;

typedef struct admit admit_t;

admit_t *admit_new(const config_t *cfg, uint64_t now_us) __attribute__((warn_unused_result));
void admit_destroy(admit_t **self);

/* admit_configure applies a reloaded CFG: new rates and targets; brands and
 * campaigns keep the tokens and counts they had (matched by name). False
 * when out of memory, and the old settings stay. CFG must outlive the next
 * configure. */
bool admit_configure(admit_t *self, const config_t *cfg, uint64_t now_us)
    __attribute__((warn_unused_result));

/* admit_order decides for one validated order for STORE (found in STORES).
 * Admitted: books the slot, spends the tokens, counts it for its campaign,
 * returns true. */
bool admit_order(admit_t *self, const store_table_t *stores, store_t *store,
                 const admit_order_in_t *in, admit_result_t *out);

/* admit_store_rules runs the store level alone (paused, hours, queue, wait)
 * for an order of DRINKS at wall NOW_MS, booking and spending nothing: true
 * when the store would take it. OUT is filled as by admit_order, and
 * OUT->plan (with OUT->planned) whenever the store got as far as planning,
 * also when the wait is too long. */
bool admit_store_rules(const admit_t *self, const store_table_t *stores, store_t *store,
                       unsigned drinks, uint64_t now_ms, admit_result_t *out);

/* admit_campaign_rules runs the campaign level alone for an order of DRINKS
 * of campaign NAME at STORE, whose store level gave STORE_RESULT (from
 * admit_store_rules: with its plan when the store would take it; without,
 * the share is not looked at), spending nothing. OUT->detail is left ""
 * (formatting it would cost more than the check). */
bool admit_campaign_rules(admit_t *self, const store_table_t *stores, store_t *store,
                          const char *name, unsigned drinks, const admit_result_t *store_result,
                          uint64_t now_ms, uint64_t now_us, campaign_verdict_t *out);

/* admit_campaigns: the campaigns and their counters (campaign.h), for
 * releases, the restart and availability. */
campaign_table_t *admit_campaigns(admit_t *self);

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
