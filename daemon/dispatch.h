/* dispatch.h - owns handing orders to riders: one job per order that is
 * looking for or holding a rider, and the choice of the rider pool
 * (pool.h: one per configured platform, with its adapter, circuit breaker
 * and pickup estimate) each attempt goes to.
 *
 * The way of one order (design sections 4 and 6):
 *
 *   accepted: dispatch_at = ready_at - pickup estimate - margin (MarkReady:
 *     at once, with the ready time the kitchen reported)
 *   at dispatch_at: quote every usable pool of the store (breaker allows,
 *     fewer than max_inflight live dispatches, not tried this round)
 *   all quotes in: the rider who reaches the store closest to ready_at (to
 *     the minute), then the lower fee, then the store's preference; a rider
 *     who would wait past the margin is asked for again later
 *   outbox: the dispatches row (SENDING) and the order's DISPATCHING commit
 *     first, then the DispatchRequest leaves under key "<order_id>:<attempt>"
 *   refused or Error: the next pool; timeout or a broken reply: cancel the
 *     key and move on only once the platform says it released it
 *   rider events (seq-ordered, gaps and reconnects repaired with Status):
 *     ASSIGNED -> RIDER_ASSIGNED, PICKED_UP, DELIVERED; a platform's cancel
 *     sends the order to the next pool
 *   no rider assigned by ready_at + max_hold: cancel, FAILED (refund due)
 *
 * Every step is a change (change.h) that the engine applies in memory at once
 * and that commits in order behind it. An attempt's states and a job's
 * phases move only along their transition tables (dispatch_state.h, and the
 * job's in dispatch.c). Single-threaded, never blocks. */
#ifndef SLUICE_DISPATCH_H
#define SLUICE_DISPATCH_H

#include "adapter.h"
#include "change.h"
#include "config.h"
#include "metrics.h"
#include "order_index.h"
#include "pool.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DISPATCH_POOLS_MAX 32    /* platforms: tried-sets are bitmasks */

typedef struct dispatch dispatch_t;
typedef struct dispatch_job dispatch_job_t;

/* What the engine needs from the daemon around it. */
typedef struct dispatch_host {
    order_index_t *orders;    /* rider events name their order */
    /* QUEUE takes one engine change (never refused short of memory). */
    bool (*queue)(void *arg, const change_t *c);
    /* TIMER re-arms E's timer after its dispatch_due_ms changed. */
    void (*timer)(void *arg, order_entry_t *e);
    /* STORE: the configuration of store ID, NULL when it left the config. */
    const config_store_t *(*store)(void *arg, uint32_t id);
    /* BREAKER: a platform's breaker changed state (already logged). */
    void (*breaker)(void *arg, const char *platform, const char *state, const char *detail);
    void *arg;
} dispatch_host_t;

/* dispatch_new opens one adapter per platform of CFG (their links come up
 * later). CFG must stay alive until dispatch_configure replaces it. */
dispatch_t *dispatch_new(const config_t *cfg, void *zmq_ctx, const dispatch_host_t *host)
    __attribute__((warn_unused_result));
/* dispatch_destroy closes the adapters and frees every job. */
void dispatch_destroy(dispatch_t **self);

/* dispatch_configure points the engine at a reloaded CFG (same platforms). */
void dispatch_configure(dispatch_t *self, const config_t *cfg);

/* Event-loop hooks, as adapter.h describes them, for every pool. */
size_t dispatch_poll(dispatch_t *self, zmq_pollitem_t *items, size_t max);
int dispatch_timeout_ms(const dispatch_t *self, uint64_t now_mono_ms);
void dispatch_step(dispatch_t *self, uint64_t now_mono_ms);

/* dispatch_plan sets E's dispatch_at_ms from its promised ready time (0 when
 * its store has no platforms). Call when the order is accepted or restored. */
void dispatch_plan(dispatch_t *self, order_entry_t *e);
/* dispatch_due_ms: when E next needs dispatch_run (UINT64_MAX: never). */
uint64_t dispatch_due_ms(const order_entry_t *e);
/* dispatch_run does what is due for E at NOW_MS (wall clock). */
void dispatch_run(dispatch_t *self, order_entry_t *e, uint64_t now_ms);

/* dispatch_marked_ready: the store said at NOW_MS (wall clock) that E is
 * ready, earlier than promised perhaps. Its rider is sought at once, for
 * that ready time: quotes and the DispatchRequest carry it, and a rider is
 * no longer held back to arrive at the promised time. A rider already on
 * the way keeps the time it was sent for. */
void dispatch_marked_ready(dispatch_t *self, order_entry_t *e, uint64_t now_ms);
/* dispatch_cancelled: E was cancelled (committed): release its rider, if any. */
void dispatch_cancelled(dispatch_t *self, order_entry_t *e);
/* dispatch_committed: change C of the engine has committed. */
void dispatch_committed(dispatch_t *self, const change_t *c);

/* dispatch_can_deliver: false when none of STORE's platforms could take an
 * order now: each is not connected (its gateway is gone), full, has its
 * breaker open, or had no rider for this store at its last quote or
 * dispatch (until a quote says yes, or for 2 x retry_seconds). WHY
 * (WHY_LEN bytes) then names each platform and its reason, and
 * *RETRY_AFTER_MS says when the first may serve again. A platform whose link is not known yet
 * (start-up: its first attempt to connect has not settled) counts as able.
 * Stores without platforms always can (no riders asked). */
bool dispatch_can_deliver(const dispatch_t *self, const config_store_t *store,
                          uint64_t *retry_after_ms, char *why, size_t why_len);

/* Restart: dispatch_restore_attempt gives E (restored from the database) its
 * live attempt (a dispatches row not yet terminal); dispatch_restore_done,
 * once every row is read, starts the jobs: outbox rows are sent again under
 * their keys, the others asked for their status as each link comes up, and
 * orders that were between attempts look for a rider at once. */
typedef struct dispatch_row {
    const char *key;
    const char *platform;
    const char *state;        /* a dispatch_state name */
    const char *rider_ref;
    uint16_t attempt;
    uint32_t seq, fee_cents;
} dispatch_row_t;
bool dispatch_restore_attempt(dispatch_t *self, order_entry_t *e, const dispatch_row_t *row)
    __attribute__((warn_unused_result));
bool dispatch_restore_done(dispatch_t *self, order_entry_t *e) __attribute__((warn_unused_result));

/* dispatch_key writes the key of ORDER_ID's attempt ATTEMPT: "<order_id>:<n>",
 * or, when that passes 64 characters, the first 40 characters of the id, a
 * dot and a 64-bit hash of the whole id, then ":<n>". */
void dispatch_key(const char *order_id, unsigned attempt, char out[CHANGE_KEY_MAX + 1]);

/* What `sluicectl platforms` shows of one pool (pool.h). */
typedef pool_figures_t dispatch_platform_t;

size_t dispatch_platform_count(const dispatch_t *self);
/* dispatch_platform_read fills OUT for pool I (< dispatch_platform_count). */
void dispatch_platform_read(const dispatch_t *self, size_t i, uint64_t now_mono_ms,
                            dispatch_platform_t *out);

/* Figures for /metrics and the status line. */
size_t dispatch_jobs(const dispatch_t *self);
void dispatch_metrics(const dispatch_t *self, metrics_page_t *p, uint64_t now_mono_ms);

#endif
