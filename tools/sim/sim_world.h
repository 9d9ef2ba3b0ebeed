/* sim_world.h - owns the simulated delivery network behind sluice-sim:
 * riders on a map, one record per dispatch key, and the timers that move
 * riders to the store, make them wait for the order and carry it to the
 * customer.
 *
 * No I/O and no clock of its own: callers pass the time in (unix ms, the
 * clock that goes on the wire), and the world reports every state change and
 * every ledger record through a sink, synchronously. It uses the wire's enums
 * (proto/network.proto) for states and reasons so nothing is translated twice.
 *
 * Time scale: a simulated duration D (a ride of so many km at so many km/h)
 * takes D / time_scale real milliseconds. All times the world hands out are
 * real unix ms, so a daemon talking to the simulator sees one clock. */
#ifndef SLUICE_SIM_WORLD_H
#define SLUICE_SIM_WORLD_H

#include "proto/network.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_ID_MAX 64          /* dispatch keys and order ids, as on the wire */
#define SIM_NAME_MAX 16        /* platform name: rider refs are "<name>-r<N>" */
#define SIM_REASON_MAX 64      /* cancel reason kept (longer ones are cut) */
#define SIM_BASE_FEE_CENTS 500 /* fee of a delivery: base + per km of the ride */
#define SIM_KM_FEE_CENTS 150
#define SIM_SKEW_CENTS 100     /* a skewed settlement line reports this much more */
#define SIM_CENTERS_MAX 16     /* cities riders start in (sim_params_t.center and more) */
#define SIM_PACE_MAX 100.0     /* sim_world_set_pace: riders at most this many times their speed */

typedef Sluice__Net__V1__DispatchState sim_state_t;
typedef Sluice__Net__V1__Refusal sim_refusal_t;
typedef Sluice__Net__V1__CancelledBy sim_cancelled_by_t;

typedef struct sim_geo {
    double lat, lng;
} sim_geo_t;

/* Faults injected into settlement reports, each counted from the start of
 * the day asked for, so a test knows the exact number of each discrepancy.
 * Applied in this order. */
typedef struct sim_settle_faults {
    uint32_t omit;             /* the day's first N DELIVERED lines are left out */
    uint32_t overcharge;       /* the first N lines left report SIM_SKEW_CENTS more */
    uint32_t duplicate;        /* the first N lines left are listed twice */
    uint32_t phantom;          /* N DELIVERED lines of keys never dispatched end the day */
} sim_settle_faults_t;

typedef struct sim_params {
    char name[SIM_NAME_MAX + 1];
    uint32_t riders;
    sim_geo_t center;          /* riders start uniformly in a disc around it */
    /* More cities: riders are dealt in turn to center and to each of these
     * (rider i to the (i mod cities)th), a disc of radius_km each, and wait
     * in their own city's grid when idle. */
    sim_geo_t more_centers[SIM_CENTERS_MAX - 1];
    uint32_t more_center_count;
    double radius_km;
    double speed_min_kmh, speed_max_kmh;  /* each rider's speed, uniform in the range */
    uint64_t seed;             /* same seed, same riders, same cancellations */
    double time_scale;         /* > 0; simulated ms per real ms */
    double cancel_ratio;       /* chance the platform cancels a dispatch before pickup */
    double max_km;             /* longest store -> drop-off ride taken (else OUT_OF_AREA) */
    double settlement_skew;    /* fraction of settlement lines reported SIM_SKEW_CENTS too high */
    sim_settle_faults_t settle;
} sim_params_t;

typedef enum sim_rider_state {
    SIM_RIDER_IDLE,
    SIM_RIDER_TO_STORE,
    SIM_RIDER_WAITING,         /* at the counter, order not ready */
    SIM_RIDER_CARRYING,
} sim_rider_state_t;

/* A rider moves along one straight leg at a time: FROM at LEG_START_MS to TO
 * at LEG_END_MS. An idle or waiting rider has FROM == TO. */
typedef struct sim_rider {
    sim_geo_t from, to;
    uint64_t leg_start_ms, leg_end_ms;
    double speed_kmh;
    sim_rider_state_t state;
    uint32_t dispatch;         /* record index while not idle */
} sim_rider_t;

/* What a QuoteRequest or DispatchRequest asks about (strings borrowed). */
typedef struct sim_order {
    const char *key;           /* dispatch only */
    const char *order_id;
    uint32_t store_id;
    uint32_t items;
    sim_geo_t pickup, dropoff;
    uint64_t ready_at_ms;
    uint64_t deliver_by_ms;
    uint32_t subscriber;       /* dispatch: who gets the key's events from now on (0: keep) */
} sim_order_t;

typedef struct sim_quote {
    bool available;
    sim_refusal_t refusal;
    uint64_t pickup_at_ms, delivery_at_ms;
    uint32_t fee_cents;
} sim_quote_t;

/* One dispatch key. Pointers to records stay valid only until the next call
 * that may add a key (dispatch, cancel); keep the index instead. */
typedef struct sim_dispatch {
    char key[SIM_ID_MAX + 1];
    char order_id[SIM_ID_MAX + 1];  /* "" for a key only cancelled so far */
    uint32_t store_id, items;
    sim_geo_t pickup, dropoff;
    uint64_t ready_at_ms, deliver_by_ms;
    sim_state_t state;
    sim_cancelled_by_t cancelled_by;
    char reason[SIM_REASON_MAX];    /* why it was cancelled */
    int32_t rider;                  /* -1: never had one */
    uint32_t seq;                   /* seq of the last event */
    uint32_t gen;                   /* bumped per state change; older step timers are stale */
    uint32_t subscriber;            /* the caller's handle of who gets events; 0: nobody */
    /* The first DispatchRequest's decision, repeated to every duplicate. */
    bool decided;
    bool accepted;
    sim_refusal_t refusal;
    uint64_t first_pickup_at_ms, first_delivery_at_ms;
    uint32_t fee_cents;             /* price of the delivery */
    /* What happened since. */
    uint32_t charged_cents;         /* what settlement reports, once ended */
    uint64_t updated_at_ms, assigned_at_ms, arrived_at_ms, picked_up_at_ms;
    uint64_t delivered_at_ms, cancelled_at_ms;
    uint64_t pickup_at_ms, delivery_at_ms;  /* current estimates; 0 once passed or ended */
    sim_state_t stall_at;           /* the ride stops here (0: never); see sim_world_stall */
    uint32_t wait_ms;               /* the rider waited this long at the counter */
    uint32_t late_ms;               /* the order waited this long for the rider */
} sim_dispatch_t;

typedef struct sim_stats {
    uint64_t quotes, quotes_refused;
    uint64_t dispatches;            /* accepted */
    uint64_t refused, duplicates, conflicts;
    uint64_t cancels, tombstones, cancels_too_late;
    uint64_t client_cancelled, platform_cancelled;
    uint64_t arrived, picked_up, delivered;
    uint64_t waits, wait_ms_total, wait_ms_max;   /* riders who came before the order was ready */
    uint64_t lates, late_ms_total, late_ms_max;   /* orders ready before their rider came */
} sim_stats_t;

typedef struct sim_world sim_world_t;

/* The sink hears about everything that happened, during the call that made
 * it happen (a request or sim_world_advance). */
typedef struct sim_sink {
    void *ctx;
    /* event: D moved to a new state and D->seq grew by one. */
    void (*event)(void *ctx, const sim_world_t *w, const sim_dispatch_t *d);
    /* record: one ledger record about D at AT_MS. WHAT is "dispatch"
     * (accepted, rider assigned), "refused", "tombstone" (cancel of an unknown
     * key), "arrived", "picked_up", "delivered" or "cancelled"; INFO is more,
     * or "". */
    void (*record)(void *ctx, const sim_world_t *w, const sim_dispatch_t *d, uint64_t at_ms,
                   const char *what, const char *info);
} sim_sink_t;

typedef enum sim_result {
    SIM_OK,
    SIM_DUPLICATE,             /* the key was decided before; its record holds the decision */
    SIM_CONFLICT,              /* the key was decided for another order_id; nothing changed */
    SIM_NOMEM,                 /* nothing changed */
} sim_result_t;

/* sim_world_new places the riders (PARAMS->seed decides where and how fast).
 * PARAMS and SINK are copied. NULL when out of memory. */
sim_world_t *sim_world_new(const sim_params_t *params, const sim_sink_t *sink)
    __attribute__((warn_unused_result));
void sim_world_destroy(sim_world_t **self);

const sim_params_t *sim_world_params(const sim_world_t *w);
const sim_stats_t *sim_world_stats(const sim_world_t *w);
/* Runtime knobs (sluice-sim's control channel); the new values apply to
 * later dispatches and reports. */
void sim_world_set_cancel_ratio(sim_world_t *w, double ratio);
/* sim_world_set_pace: from now on riders move at PACE (0 < PACE <=
 * SIM_PACE_MAX) times their own speed (0.5: half as fast, as in a storm):
 * quotes, new legs and the rides of orders picked up from now on; a leg
 * under way keeps its arrival. 1 at start. */
void sim_world_set_pace(sim_world_t *w, double pace);
double sim_world_pace(const sim_world_t *w);
void sim_world_set_settlement_skew(sim_world_t *w, double ratio);
void sim_world_set_settle_faults(sim_world_t *w, const sim_settle_faults_t *faults);

/* Stalls (`stall` on the control channel): a stalled ride stops moving when
 * it reaches AT (ASSIGNED: the rider never arrives; ARRIVED: the rider waits
 * at the counter for good; PICKED_UP: never delivered) and sends no more
 * events; Status still answers its true state, and a client cancel still
 * stops it before pickup (at the counter it costs half the fee). AT is
 * ASSIGNED, ARRIVED or PICKED_UP (anything else is refused: false). sim_world_stall_next stalls
 * the next N dispatches accepted (0: none); sim_world_stall the known KEY. */
bool sim_world_stall_next(sim_world_t *w, uint32_t n, sim_state_t at);
bool sim_world_stall(sim_world_t *w, const char *key, sim_state_t at);

/* sim_world_quote says what a dispatch of O now would give; no effect. */
void sim_world_quote(sim_world_t *w, const sim_order_t *o, uint64_t now_ms, sim_quote_t *out);

/* sim_world_dispatch decides O->key. The first time: assign the nearest
 * idle rider, or refuse (NO_RIDER, OUT_OF_AREA, KEY_CANCELLED after a
 * tombstone). Later: SIM_DUPLICATE, the first decision stands. *INDEX is the
 * key's record unless SIM_NOMEM. */
sim_result_t sim_world_dispatch(sim_world_t *w, const sim_order_t *o, uint64_t now_ms,
                                uint32_t *index) __attribute__((warn_unused_result));

/* sim_world_cancel cancels KEY for the client (idempotent; an unknown key
 * becomes a tombstone). SUBSCRIBER (0: keep) gets the key's events from now
 * on, this cancel's included. *PREVIOUS is the state it found, *INDEX the
 * record. */
sim_result_t sim_world_cancel(sim_world_t *w, const char *key, const char *reason,
                              uint32_t subscriber, uint64_t now_ms, sim_state_t *previous,
                              uint32_t *index)
    __attribute__((warn_unused_result));

/* sim_world_platform_cancel: the platform gives KEY up now (as if its rider
 * cancelled). False when the key is unknown or past PICKED_UP. */
bool sim_world_platform_cancel(sim_world_t *w, const char *key, uint64_t now_ms);

bool sim_world_find(const sim_world_t *w, const char *key, uint32_t *index);
const sim_dispatch_t *sim_world_record(const sim_world_t *w, uint32_t index);
/* sim_world_subscribe: KEY's later events go to SUBSCRIBER (non-zero). */
void sim_world_subscribe(sim_world_t *w, uint32_t index, uint32_t subscriber);

/* Timers: sim_world_next_due is the earliest (UINT64_MAX: none);
 * sim_world_advance runs every timer due at NOW_MS, in order. */
uint64_t sim_world_next_due(const sim_world_t *w);
void sim_world_advance(sim_world_t *w, uint64_t now_ms);

size_t sim_world_rider_count(const sim_world_t *w);
const sim_rider_t *sim_world_rider(const sim_world_t *w, size_t i);
size_t sim_world_idle_riders(const sim_world_t *w);
size_t sim_world_live(const sim_world_t *w);  /* keys with a rider on the way or carrying */
/* sim_world_rider_ref writes "<name>-r<I>" ("" for I < 0). */
void sim_world_rider_ref(const sim_world_t *w, int32_t i, char *buf, size_t len);
/* sim_world_rider_position: where rider I is at NOW_MS (interpolated on its leg). */
sim_geo_t sim_world_rider_position(const sim_world_t *w, size_t i, uint64_t now_ms);

/* ---- settlement ----
 * Keys that ended DELIVERED, or CANCELLED after a rider was assigned, are
 * kept in the order they ended (the world's clock never goes back, so that is
 * by time). A page is a run of that list; positions are page tokens. */
typedef struct sim_line {
    uint32_t index;            /* the record; unused for a phantom */
    uint32_t phantom;          /* 0: a real record; N: phantom line N ("phantom-N", no record) */
    uint32_t store_id;         /* a phantom's store: the day's first line's (0: none) */
    uint64_t at_ms;            /* when it ended */
    uint32_t fee_cents;        /* as reported, skew included */
} sim_line_t;

typedef struct sim_page {
    size_t count;              /* lines written */
    bool more;                 /* another page follows, starting at NEXT */
    size_t next;
    uint32_t total_lines;      /* of the whole range */
    uint64_t total_fee_cents;
} sim_page_t;

/* sim_world_settlement writes up to MAX lines of those that ended in
 * [FROM_MS, TO_MS), as params.settle changes them, into LINES, starting at
 * position START (SIZE_MAX: the range's first). False when START is not a
 * position inside the range. */
bool sim_world_settlement(const sim_world_t *w, uint64_t from_ms, uint64_t to_ms, size_t start,
                          size_t max, sim_line_t *lines, sim_page_t *page)
    __attribute__((warn_unused_result));

/* Geometry, shared with the tests: great-circle distance in km, and the
 * real time a ride of KM at SPEED_KMH takes under the world's time scale
 * and pace. */
double sim_distance_km(sim_geo_t a, sim_geo_t b);
uint64_t sim_world_travel_ms(const sim_world_t *w, double km, double speed_kmh);

#endif
