/* pool.c - owns the rider pools: each platform's adapter, circuit breaker,
 * live attempts, pickup estimate and figures. */
#include "pool.h"

#include "clock.h"
#include "log.h"
#include "norider.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_NAME_MAX 64               /* platforms.[].name is 1..64 characters */
#define POOL_ETA_WEIGHT 8              /* the pickup estimate follows 1/8 of each quote */
#define POOL_CANCEL_WAIT_MAX_MS 60000  /* a cancel's deadline doubles up to this */
#define POOL_RETRY_MS 1000             /* retry_after for a full pool: one may end any time */

struct pool {
    int index;
    char name[POOL_NAME_MAX + 1];
    const config_platform_t *cfg;
    adapter_t *adapter;
    pool_listener_t listener;
    breaker_t breaker;
    breaker_state_t shown;     /* the state last logged */
    bool link_up;
    bool link_known;           /* the adapter has said up or down once (start-up: not yet) */
    bool resync;               /* the breaker closed after an outage: sync at the next step */
    bool closing;              /* pool_destroy runs: outcomes no longer count */
    uint64_t eta_ms;
    size_t live;
    norider_t no_rider;        /* stores it recently had no rider for */
    uint64_t quotes, dispatches, refusals, failures;
    metrics_histogram_t quote_latency, dispatch_latency;
};

adapter_platform_t pool_adapter_platform(const config_platform_t *cfg)
{
    return (adapter_platform_t){
        .name = cfg->name,
        .adapter = cfg->adapter,
        .endpoint = cfg->endpoint,
        .timeout_ms = cfg->timeout_ms,
        .quote_deadline_ms = cfg->quote_deadline_ms,
        .max_inflight = cfg->max_inflight,
    };
}

/* ---- the breaker ---------------------------------------------------------- */

/* s_note logs and publishes a change of P's breaker state. PROBE says how
 * the request whose outcome made the change went ("timeout after 400 ms");
 * NULL when time or an admission made it. */
static void s_note(pool_t *p, uint64_t now_mono, const char *probe)
{
    breaker_state_t st = breaker_state(&p->breaker, now_mono);
    if (st == p->shown)
        return;
    /* Back after an outage the link never saw (a gateway that stopped
     * answering): the rider events it had for us are lost, so ask about every
     * key in flight there, as a link-up does (pool_step, not here inside
     * some request's callback). */
    if (st == BREAKER_CLOSED)
        p->resync = true;
    bool after_probe = p->shown == BREAKER_HALF_OPEN;
    p->shown = st;
    char detail[160];
    uint64_t requests, failures;
    breaker_counts(&p->breaker, now_mono, &requests, &failures);
    if (st == BREAKER_HALF_OPEN)
        snprintf(detail, sizeof detail, "open for %d s: the next quote is the probe",
                 p->cfg->breaker.open_seconds);
    else if (after_probe)
        /* The window is not fed while open: what it says now is history. */
        snprintf(detail, sizeof detail, "the half-open probe %s",
                 probe ? probe : "did not come back");
    else
        snprintf(detail, sizeof detail,
                 "error ratio %.2f over the last %d s: %llu of %llu requests failed or slow",
                 breaker_error_ratio(&p->breaker, now_mono), p->cfg->breaker.window_seconds,
                 (unsigned long long)failures, (unsigned long long)requests);
    if (st == BREAKER_OPEN)
        log_warning("platform %s: breaker open (%s); its orders go to other platforms for %d s",
                    p->name, detail, p->cfg->breaker.open_seconds);
    else
        log_notice("platform %s: breaker %s (%s)", p->name, breaker_state_name(st), detail);
    p->listener.breaker(p->listener.arg, p, breaker_state_name(st), detail);
}

bool pool_admit(pool_t *p, pool_ticket_t *t)
{
    uint64_t now = clock_mono_ms();
    t->counted = breaker_allow(&p->breaker, now, &t->ticket);
    s_note(p, now, NULL);
    return t->counted;
}

void pool_count(pool_t *p, pool_ticket_t *t)
{
    t->counted = breaker_count(&p->breaker, &t->ticket);
}

/* s_record counts one request's outcome: WHAT it came to (an adapter
 * outcome or send name), FAILED, after LATENCY_MS. */
static void s_record(pool_t *p, pool_ticket_t *t, const char *what, bool failed,
                     uint64_t latency_ms)
{
    if (failed)
        p->failures++;
    if (!t->counted || p->closing)
        return;
    t->counted = false;
    uint64_t now = clock_mono_ms(), before = breaker_transitions(&p->breaker);
    breaker_record(&p->breaker, t->ticket, now, failed, latency_ms);
    if (breaker_transitions(&p->breaker) == before) {
        s_note(p, now, NULL);  /* only time can have moved it */
        return;
    }
    char how[96];
    if (failed)
        snprintf(how, sizeof how, "failed: %s after %llu ms", what,
                 (unsigned long long)latency_ms);
    else if (latency_ms >= (uint64_t)p->cfg->breaker.slow_ms)
        snprintf(how, sizeof how, "was slow: answered in %llu ms (slow_ms %d)",
                 (unsigned long long)latency_ms, p->cfg->breaker.slow_ms);
    else
        snprintf(how, sizeof how, "answered in %llu ms", (unsigned long long)latency_ms);
    s_note(p, now, how);
}

/* ---- what the adapter says unasked ----------------------------------------- */

static void s_event(void *arg, const adapter_event_t *ev)
{
    pool_t *p = arg;
    p->listener.event(p->listener.arg, p, ev);
}

static void s_link(void *arg, bool up)
{
    pool_t *p = arg;
    p->link_up = up;
    p->link_known = true;
    if (!up) {
        log_warning("platform %s: link to %s down", p->name, p->cfg->endpoint);
        return;
    }
    log_notice("platform %s: link to %s up", p->name, p->cfg->endpoint);
    /* Every up asks about every key in flight: it also routes their events here. */
    p->listener.sync(p->listener.arg, p);
}

/* ---- life ------------------------------------------------------------------- */

pool_t *pool_new(int index, const config_platform_t *cfg, uint64_t eta_ms, void *zmq_ctx,
                 const pool_listener_t *listener)
{
    pool_t *p = calloc(1, sizeof *p);
    if (!p) {
        log_error("failed to open platform %s: out of memory", cfg->name);
        return NULL;
    }
    p->index = index;
    p->cfg = cfg;
    snprintf(p->name, sizeof p->name, "%s", cfg->name);
    p->eta_ms = eta_ms;
    p->listener = *listener;
    norider_init(&p->no_rider);
    breaker_init(&p->breaker, &cfg->breaker);
    adapter_platform_t platform = pool_adapter_platform(cfg);
    adapter_listener_t hooks = {.event = s_event, .link = s_link, .arg = p};
    p->adapter = adapter_open(&platform, zmq_ctx, &hooks);
    if (!p->adapter) {
        free(p);
        return NULL;
    }
    return p;
}

void pool_destroy(pool_t **self)
{
    if (!self || !*self)
        return;
    pool_t *p = *self;
    p->closing = true;
    adapter_close(&p->adapter);
    norider_free(&p->no_rider);
    free(p);
    *self = NULL;
}

void pool_configure(pool_t *p, const config_platform_t *cfg)
{
    p->cfg = cfg;
}

size_t pool_poll(pool_t *p, zmq_pollitem_t *items, size_t max)
{
    return adapter_poll(p->adapter, items, max);
}

int pool_timeout_ms(const pool_t *p, uint64_t now_mono_ms)
{
    return adapter_timeout_ms(p->adapter, now_mono_ms);
}

void pool_step(pool_t *p, uint64_t now_mono_ms)
{
    adapter_step(p->adapter, now_mono_ms);
    s_note(p, now_mono_ms, NULL);  /* open -> half-open shows by itself */
    if (p->resync) {
        p->resync = false;
        if (p->link_up)
            p->listener.sync(p->listener.arg, p);
    }
}

/* ---- what the engine reads -------------------------------------------------- */

int pool_index(const pool_t *p)
{
    return p->index;
}

const char *pool_name(const pool_t *p)
{
    return p->name;
}

bool pool_link_up(const pool_t *p)
{
    return p->link_up;
}

uint64_t pool_eta_ms(const pool_t *p)
{
    return p->eta_ms;
}

uint64_t pool_cancel_deadline(const pool_t *p, unsigned tries, uint64_t now_mono_ms)
{
    uint64_t wait = (uint64_t)p->cfg->timeout_ms;
    for (unsigned i = 0; i < tries && wait < POOL_CANCEL_WAIT_MAX_MS; i++)
        wait *= 2;
    if (wait > POOL_CANCEL_WAIT_MAX_MS)
        wait = POOL_CANCEL_WAIT_MAX_MS;
    return now_mono_ms + wait;
}

const char *pool_unusable(const pool_t *p, uint64_t now_mono_ms)
{
    if (!p->link_up)
        return "not connected";
    if (p->live >= (size_t)p->cfg->max_inflight)
        return "full";
    if (!breaker_would_allow(&p->breaker, now_mono_ms))
        return "breaker open";
    return NULL;
}

const char *pool_unable(const pool_t *p, uint32_t store_id, uint64_t now_mono_ms,
                        uint64_t *retry_after_ms)
{
    *retry_after_ms = POOL_RETRY_MS;
    if (!p->link_up && p->link_known) {
        /* The next reconnect may find it back. */
        *retry_after_ms = ADAPTER_RECONNECT_MAX_MS;
        return "not connected";
    }
    if (p->live >= (size_t)p->cfg->max_inflight)
        return "full";
    if (!breaker_would_allow(&p->breaker, now_mono_ms)) {
        uint64_t until = breaker_open_until(&p->breaker);
        if (until > now_mono_ms)
            *retry_after_ms = until - now_mono_ms;
        return "breaker open";
    }
    uint64_t until = norider_until(&p->no_rider, store_id, now_mono_ms);
    if (until) {
        *retry_after_ms = until - now_mono_ms;
        return "no rider near the store";
    }
    return NULL;
}

void pool_no_rider(pool_t *p, uint32_t store_id, uint64_t until_mono_ms)
{
    norider_note(&p->no_rider, store_id, until_mono_ms, clock_mono_ms());
}

void pool_has_rider(pool_t *p, uint32_t store_id)
{
    norider_forget(&p->no_rider, store_id);
}

void pool_learn_eta(pool_t *p, uint64_t eta_ms)
{
    p->eta_ms = (p->eta_ms * (POOL_ETA_WEIGHT - 1) + eta_ms) / POOL_ETA_WEIGHT;
}

void pool_take(pool_t *p)
{
    p->live++;
}

void pool_release(pool_t *p)
{
    p->live--;
}

/* ---- requests --------------------------------------------------------------- */

/* s_sent counts a send: in COUNT when it left, else its outcome at once. */
static adapter_send_t s_sent(pool_t *p, pool_ticket_t *t, adapter_send_t rc, uint64_t *count)
{
    if (rc == ADAPTER_SEND_OK) {
        if (count)
            (*count)++;
        return rc;
    }
    bool failed = rc == ADAPTER_SEND_UNREACHABLE || rc == ADAPTER_SEND_FAILED;
    s_record(p, t, adapter_send_name(rc), failed, 0);
    return rc;
}

adapter_send_t pool_quote(pool_t *p, pool_ticket_t *t, const adapter_quote_req_t *req,
                          adapter_quote_fn *done, void *arg)
{
    return s_sent(p, t, adapter_quote(p->adapter, req, 0, done, arg), &p->quotes);
}

adapter_send_t pool_dispatch(pool_t *p, pool_ticket_t *t, const adapter_dispatch_req_t *req,
                             adapter_dispatch_fn *done, void *arg)
{
    return s_sent(p, t, adapter_dispatch(p->adapter, req, 0, done, arg), &p->dispatches);
}

adapter_send_t pool_cancel(pool_t *p, pool_ticket_t *t, const char *key, const char *reason,
                           uint64_t deadline_ms, adapter_cancel_fn *done, void *arg)
{
    return s_sent(p, t, adapter_cancel(p->adapter, key, reason, deadline_ms, done, arg), NULL);
}

adapter_send_t pool_status(pool_t *p, pool_ticket_t *t, const char *key, adapter_status_fn *done,
                           void *arg)
{
    return s_sent(p, t, adapter_status(p->adapter, key, 0, done, arg), NULL);
}

void pool_quote_answered(pool_t *p, pool_ticket_t *t, const adapter_done_t *done)
{
    if (!p->closing)
        metrics_observe_us(&p->quote_latency, done->latency_ms * 1000u);
    s_record(p, t, adapter_outcome_name(done->outcome), done->outcome != ADAPTER_OK,
             done->latency_ms);
}

void pool_dispatch_answered(pool_t *p, pool_ticket_t *t, const adapter_done_t *done,
                            const adapter_dispatch_t *r)
{
    if (!p->closing)
        metrics_observe_us(&p->dispatch_latency, done->latency_ms * 1000u);
    s_record(p, t, adapter_outcome_name(done->outcome), done->outcome != ADAPTER_OK,
             done->latency_ms);
    if (r && !r->accepted)
        p->refusals++;
}

void pool_answered(pool_t *p, pool_ticket_t *t, const adapter_done_t *done)
{
    s_record(p, t, adapter_outcome_name(done->outcome), done->outcome != ADAPTER_OK,
             done->latency_ms);
}

/* ---- figures ---------------------------------------------------------------- */

void pool_read(const pool_t *p, uint64_t now_mono_ms, pool_figures_t *out)
{
    *out = (pool_figures_t){
        .name = p->name,
        .adapter = p->cfg->adapter,
        .link_up = p->link_up,
        .breaker = breaker_state_name(breaker_state(&p->breaker, now_mono_ms)),
        .inflight = p->live,
        .max_inflight = (uint64_t)p->cfg->max_inflight,
        .window_requests = p->breaker.requests,
        .window_failures = p->breaker.failures,
        .quote_p99_s = metrics_quantile_seconds(&p->quote_latency, 0.99),
        .dispatch_p99_s = metrics_quantile_seconds(&p->dispatch_latency, 0.99),
        .quotes = p->quotes,
        .dispatches = p->dispatches,
        .refusals = p->refusals,
        .failures = p->failures,
    };
}

void pool_metrics(pool_t *const *pools, size_t n, metrics_page_t *page, uint64_t now_mono_ms)
{
    char label[96];
    static const struct {
        const char *name, *type, *help;
    } families[] = {
        {"sluice_platform_up", "gauge", "1 when the link to the platform's gateway is up"},
        {"sluice_platform_breaker_state", "gauge", "Circuit breaker: 0 closed, 1 open, 2 half-open"},
        {"sluice_platform_inflight", "gauge", "Dispatches at the platform not yet released"},
        {"sluice_platform_quotes_total", "counter", "Quote requests sent"},
        {"sluice_platform_dispatches_total", "counter", "Dispatch requests sent"},
        {"sluice_platform_norider_total", "counter", "Dispatches the platform refused"},
        {"sluice_platform_failures_total", "counter",
         "Requests that failed (Error, timeout, unreachable) or were slow"},
        {"sluice_platform_stores_without_riders", "gauge",
         "Stores whose last quote or dispatch there was refused NO_RIDER, lately: admission "
         "counts the platform out for them"},
    };
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) {
        metrics_family(page, families[f].name, families[f].type, families[f].help);
        for (size_t i = 0; i < n; i++) {
            const pool_t *p = pools[i];
            double v[] = {p->link_up, breaker_state(&p->breaker, now_mono_ms), (double)p->live,
                          (double)p->quotes, (double)p->dispatches, (double)p->refusals,
                          (double)p->failures,
                          (double)norider_standing(&p->no_rider, now_mono_ms)};
            snprintf(label, sizeof label, "platform=\"%s\"", p->name);
            metrics_sample(page, families[f].name, label, v[f]);
        }
    }
    metrics_family(page, "sluice_quote_latency_seconds", "histogram",
                   "Quote round trips, by platform");
    for (size_t i = 0; i < n; i++) {
        snprintf(label, sizeof label, "platform=\"%s\"", pools[i]->name);
        metrics_histogram(page, "sluice_quote_latency_seconds", label, &pools[i]->quote_latency);
    }
    metrics_family(page, "sluice_dispatch_latency_seconds", "histogram",
                   "Dispatch request round trips, by platform");
    for (size_t i = 0; i < n; i++) {
        snprintf(label, sizeof label, "platform=\"%s\"", pools[i]->name);
        metrics_histogram(page, "sluice_dispatch_latency_seconds", label,
                          &pools[i]->dispatch_latency);
    }
}
