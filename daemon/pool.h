/* pool.h - owns the rider pools: one per configured platform, with the
 * adapter that reaches its gateway, its circuit breaker, the count of
 * attempts live there, its pickup estimate, and its figures for `sluicectl
 * platforms` and /metrics.
 *
 * The dispatch engine (dispatch.h) decides which pool an order goes to and
 * follows each attempt; it sends every request through the pool, which asks
 * the breaker first and counts the outcome when the answer comes:
 *
 *   pool_ticket_t t;                        (kept with the request)
 *   pool_admit(p, &t)                       (a quote; false: the breaker
 *                                             refuses, it is not sent)
 *   pool_count(p, &t)                       (a dispatch, cancel or status:
 *                                             it goes anyway, counted only
 *                                             while the breaker is closed)
 *   pool_quote(p, &t, ...) / pool_dispatch / pool_cancel / pool_status
 *   in its callback: pool_quote_answered / pool_dispatch_answered /
 *                    pool_answered (cancel, status)
 *
 * What a platform says unasked (rider events, its link coming up, its
 * breaker closing after an outage) goes to the pool's listener. */
#ifndef SLUICE_POOL_H
#define SLUICE_POOL_H

#include "adapter.h"
#include "breaker.h"
#include "config.h"
#include "metrics.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pool pool_t;

/* What a pool tells its owner. Every function is required. */
typedef struct pool_listener {
    /* EVENT: a rider event from P's platform. */
    void (*event)(void *arg, pool_t *p, const adapter_event_t *ev);
    /* SYNC: ask P about every key in flight there: its link came up (its
     * gateway routes a key's events to whoever asked last), or its breaker
     * closed after an outage the link never saw (the events meanwhile are
     * lost). Called from adapter_step or pool_step, never from a request's
     * callback. */
    void (*sync)(void *arg, pool_t *p);
    /* BREAKER: P's breaker changed state (already logged); STATE is a
     * breaker_state_name, DETAIL says why. */
    void (*breaker)(void *arg, const pool_t *p, const char *state, const char *detail);
    void *arg;
} pool_listener_t;

/* pool_adapter_platform: what the adapter of platform CFG is opened with
 * (the pointers are CFG's). */
adapter_platform_t pool_adapter_platform(const config_platform_t *cfg);

/* pool_new opens platform CFG (number INDEX in the config) with the adapter
 * it names, on ZeroMQ context ZMQ_CTX; its link comes up later. ETA_MS is
 * the pickup estimate until quotes say otherwise. CFG must stay alive until
 * pool_configure replaces it; LISTENER is copied. NULL on failure, logged. */
pool_t *pool_new(int index, const config_platform_t *cfg, uint64_t eta_ms, void *zmq_ctx,
                 const pool_listener_t *listener) __attribute__((warn_unused_result));
/* pool_destroy closes the adapter (every outstanding request's callback runs
 * with ADAPTER_CLOSED; its outcome counts nowhere), frees, clears *SELF;
 * NULL is fine. */
void pool_destroy(pool_t **self);

/* pool_configure points P at its entry CFG of a reloaded config (one whose
 * platforms' restart-only keys are unchanged: config_restart_changes). */
void pool_configure(pool_t *p, const config_platform_t *cfg);

/* Event-loop hooks, as adapter.h describes them. pool_step also notes a
 * breaker that went half-open by the passing of time, and syncs after one
 * that closed. */
size_t pool_poll(pool_t *p, zmq_pollitem_t *items, size_t max);
int pool_timeout_ms(const pool_t *p, uint64_t now_mono_ms);
void pool_step(pool_t *p, uint64_t now_mono_ms);

/* pool_index: P's place in the config's platforms (its bit in a set of
 * pools). pool_name: its name, valid as long as P (not the config's copy:
 * changes waiting for their commit point at it across reloads).
 * pool_link_up: requests can be sent (false too while not known yet). */
int pool_index(const pool_t *p);
const char *pool_name(const pool_t *p);
bool pool_link_up(const pool_t *p);
/* pool_eta_ms: the pickup estimate, from asking to a rider at the store. */
uint64_t pool_eta_ms(const pool_t *p);

/* pool_cancel_deadline: the deadline (monotonic) of the cancel sent after
 * TRIES others for one attempt: each waits twice as long as the one before,
 * from timeout_ms up to a minute, so a platform slower than timeout_ms still
 * gets to answer one (until it does, the order may not go elsewhere). */
uint64_t pool_cancel_deadline(const pool_t *p, unsigned tries, uint64_t now_mono_ms);

/* pool_unusable: why a request for a new attempt may not go to P now ("not
 * connected", "full", "breaker open"), or NULL when it may. No side
 * effects. */
const char *pool_unusable(const pool_t *p, uint64_t now_mono_ms);

/* pool_unable: why P cannot serve a new order of store STORE_ID, for
 * admission: its link is down, it is full, its breaker is open, or it had
 * no rider for that store lately (pool_no_rider); NULL when it can. A link
 * not known yet (start-up, before the first attempt to connect settled)
 * counts as able: unknown is not down. *RETRY_AFTER_MS says when to ask
 * again: the reconnect interval, the breaker's open time left, the refusal's
 * time left, or a second for a full pool. No side effects. */
const char *pool_unable(const pool_t *p, uint32_t store_id, uint64_t now_mono_ms,
                        uint64_t *retry_after_ms);

/* pool_no_rider: P answered a quote or dispatch for store STORE_ID NO_RIDER;
 * admission counts P out for that store until UNTIL_MONO_MS, unless
 * pool_has_rider comes first: P offered or took a rider for it. Memory
 * follows the stores refused lately (norider.h). */
void pool_no_rider(pool_t *p, uint32_t store_id, uint64_t until_mono_ms);
void pool_has_rider(pool_t *p, uint32_t store_id);

/* pool_learn_eta: a quote said a rider reaches the store ETA_MS after asking;
 * the estimate follows it slowly. */
void pool_learn_eta(pool_t *p, uint64_t eta_ms);

/* pool_take: an attempt went live at P (counts against max_inflight);
 * pool_release: it ended (released by the platform, or delivered). */
void pool_take(pool_t *p);
void pool_release(pool_t *p);

/* One request's standing with the breaker: whether it counts, and as of
 * which breaker state. */
typedef struct pool_ticket {
    bool counted;
    breaker_ticket_t ticket;
} pool_ticket_t;

/* pool_admit asks P's breaker to let one quote through and count it; false
 * when the breaker refuses (open, or half-open with its probe out): the
 * quote is then not sent. The first quote after open_seconds is the
 * half-open probe: it answers within quote_deadline_ms, so a platform that
 * is back is used again that soon. */
bool pool_admit(pool_t *p, pool_ticket_t *t);
/* pool_count: a request that must go whatever the breaker says (dispatch,
 * cancel, status) is counted while the breaker is closed, and never made
 * the probe (breaker_count says why); otherwise it goes uncounted. */
void pool_count(pool_t *p, pool_ticket_t *t);

/* The sends: as adapter.h's, through P's adapter, with T from pool_admit.
 * When nothing was sent (not ADAPTER_SEND_OK) the outcome is counted at
 * once (unreachable or failed is a failure) and no callback runs. */
adapter_send_t pool_quote(pool_t *p, pool_ticket_t *t, const adapter_quote_req_t *req,
                          adapter_quote_fn *done, void *arg) __attribute__((warn_unused_result));
adapter_send_t pool_dispatch(pool_t *p, pool_ticket_t *t, const adapter_dispatch_req_t *req,
                             adapter_dispatch_fn *done, void *arg)
    __attribute__((warn_unused_result));
/* pool_cancel: DEADLINE_MS as adapter_cancel's. */
adapter_send_t pool_cancel(pool_t *p, pool_ticket_t *t, const char *key, const char *reason,
                           uint64_t deadline_ms, adapter_cancel_fn *done, void *arg)
    __attribute__((warn_unused_result));
adapter_send_t pool_status(pool_t *p, pool_ticket_t *t, const char *key, adapter_status_fn *done,
                           void *arg) __attribute__((warn_unused_result));

/* The answers, from the request's callback: the breaker counts the outcome
 * (anything but ADAPTER_OK is a failure; a slow answer too), the figures
 * its latency, and a dispatch's refusal (R: NULL unless ADAPTER_OK). */
void pool_quote_answered(pool_t *p, pool_ticket_t *t, const adapter_done_t *done);
void pool_dispatch_answered(pool_t *p, pool_ticket_t *t, const adapter_done_t *done,
                            const adapter_dispatch_t *r);
void pool_answered(pool_t *p, pool_ticket_t *t, const adapter_done_t *done);

/* What `sluicectl platforms` shows of one pool. */
typedef struct pool_figures {
    const char *name;
    const char *adapter;
    bool link_up;
    const char *breaker;          /* breaker_state_name */
    uint64_t inflight, max_inflight;
    uint64_t window_requests, window_failures;   /* the breaker's window */
    double quote_p99_s, dispatch_p99_s;           /* metrics_quantile_seconds */
    uint64_t quotes, dispatches, refusals, failures;
} pool_figures_t;

void pool_read(const pool_t *p, uint64_t now_mono_ms, pool_figures_t *out);

/* pool_metrics writes the per-platform families of /metrics for POOLS[0..N). */
void pool_metrics(pool_t *const *pools, size_t n, metrics_page_t *page, uint64_t now_mono_ms);

#endif
