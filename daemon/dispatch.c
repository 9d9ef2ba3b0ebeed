/* dispatch.c - owns the rider pools and the dispatch jobs. */
#include "dispatch.h"

#include "breaker.h"
#include "clock.h"
#include "log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DISPATCH_RETRY_SOON_MS 1000   /* a cancel or re-send that could not leave */
#define DISPATCH_EARLY_REQUOTES 3     /* times a too-early rider is asked for again later */
#define DISPATCH_ETA_WEIGHT 8         /* the pickup estimate follows 1/8 of each quote */
#define DISPATCH_CANCEL_WAIT_MAX_MS 60000  /* a cancel's deadline doubles up to this */
#define DISPATCH_TELL_EVERY_MS 60000  /* "no rider" goes into the timeline at most this often */

/* The dispatches row's states, named as in migration 003. */
typedef enum dstate {
    D_NONE, D_SENDING, D_PENDING, D_ASSIGNED, D_ARRIVED, D_PICKED_UP, D_DELIVERED,
    D_CANCELLING, D_CANCELLED, D_REFUSED, D_ERROR, D_COUNT
} dstate_t;

static const char *const dstate_names[D_COUNT] = {
    "", "SENDING", "PENDING", "ASSIGNED", "ARRIVED", "PICKED_UP", "DELIVERED",
    "CANCELLING", "CANCELLED", "REFUSED", "ERROR",
};

typedef enum job_phase {
    JOB_WAITING,     /* until wake_ms: quote (again) */
    JOB_QUOTING,     /* quotes out */
    JOB_SAVING,      /* the outbox row is committing */
    JOB_SENDING,     /* the DispatchRequest is out, or waits for the link (sync) */
    JOB_LIVE,        /* accepted: rider events */
    JOB_CANCELLING,  /* CancelRequest out, or to be sent again at wake_ms */
    JOB_DONE,        /* nothing more; freed once no request is outstanding */
} job_phase_t;

typedef struct pool {
    dispatch_t *d;
    int index;
    /* The name, copied: changes waiting for their commit point at it, and a
     * reload frees the config it came from (platform names cannot change). */
    char name[65];
    const config_platform_t *cfg;
    adapter_t *adapter;
    breaker_t breaker;
    breaker_state_t shown;     /* the state last logged */
    bool link_up;
    bool resync;               /* the breaker closed after an outage: ask about every key */
    uint64_t eta_ms;           /* quoted time from asking to a rider at the store */
    size_t live;               /* attempts here not yet released */
    uint64_t quotes, dispatches, refusals, cancels, failures;
    metrics_histogram_t quote_latency, dispatch_latency;
} pool_t;

struct dispatch_job {
    order_entry_t *entry;
    dispatch_job_t *prev, *next;   /* every job, for link-ups */
    uint64_t wake_ms;              /* wall clock; UINT64_MAX: nothing timed */
    uint64_t hold_until_ms;        /* no rider by then: FAILED */
    uint64_t pickup_at_ms;
    uint64_t best_pickup_ms;
    uint32_t tried;                /* pools tried this round (bit per pool) */
    uint32_t quoted;               /* pools quoted this round */
    uint64_t stuck_ms;             /* dispatch.stuck_minutes when the job began */
    uint32_t seq;                  /* last rider event applied */
    uint32_t fee_cents, best_fee;
    uint64_t told_at_ms;           /* when the timeline last heard "no rider" */
    uint64_t news_ms;              /* the current attempt's last change of state */
    uint16_t outstanding;          /* requests whose callback has not run */
    uint8_t phase;                 /* job_phase_t */
    uint8_t dstate;                /* dstate_t of the current attempt */
    uint8_t quotes_out;
    uint8_t early_requotes;
    uint8_t cancel_tries;          /* cancels sent for the current attempt */
    uint8_t end;                   /* order_state_t to end in (CANCELLED, FAILED); 0: none */
    int8_t pool;                   /* the current attempt's pool; -1: none */
    int8_t best;                   /* best quote's pool; -1: none */
    int8_t best_rank;              /* its place in the store's preference list */
    bool sync;                     /* ask the platform again when its link is up */
    bool maybe_sent;               /* the current key may have left this process */
    bool sweeping;                 /* a Status out because the attempt seemed stuck */
    char key[CHANGE_KEY_MAX + 1];
    char rider_ref[ADAPTER_REF_MAX + 1];
    char why[120];                 /* what the last round of quotes said */
};

/* The argument of one adapter request: the job and the attempt it was for. */
typedef struct request_ctx {
    dispatch_t *d;
    dispatch_job_t *job;
    int pool;
    uint16_t attempt;
    int8_t rank;
    bool counted;              /* the breaker let it through: its outcome is recorded */
    breaker_ticket_t ticket;
} request_ctx_t;

struct dispatch {
    const config_t *cfg;
    dispatch_host_t host;
    pool_t pools[DISPATCH_POOLS_MAX];
    size_t pool_count;
    dispatch_job_t *jobs;          /* list of every job */
    size_t job_count;
    bool closing;                  /* adapters closing: callbacks only clean up */
    uint64_t decisions, delivered, failed, redispatches, stray_events, sweeps, stuck;
};

static void s_job_quote(dispatch_t *d, dispatch_job_t *job, uint64_t now);
static void s_job_cancel(dispatch_t *d, dispatch_job_t *job, const char *reason);
static void s_job_send_dispatch(dispatch_t *d, dispatch_job_t *job);
static void s_job_stuck(dispatch_t *d, dispatch_job_t *job);

/* s_job_pending_untimed: accepted, no rider yet, and no timer to give up on it. */
static bool s_job_pending_untimed(const dispatch_job_t *job)
{
    return job->phase == JOB_LIVE && job->dstate == D_PENDING && job->wake_ms == UINT64_MAX;
}

/* ---- small helpers ------------------------------------------------------ */

void dispatch_key(const char *order_id, unsigned attempt, char out[CHANGE_KEY_MAX + 1])
{
    size_t len = strlen(order_id);
    attempt &= 0xffff;  /* attempts are uint16_t: ":65535" at most */
    if (len + 6 <= CHANGE_KEY_MAX) {
        snprintf(out, CHANGE_KEY_MAX + 1, "%.58s:%u", order_id, attempt);
        return;
    }
    uint64_t h = 1469598103934665603ull;  /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)order_id[i]) * 1099511628211ull;
    snprintf(out, CHANGE_KEY_MAX + 1, "%.40s.%016" PRIx64 ":%u", order_id, h, attempt);
}

/* s_text formats a timeline detail into BUF, cut at a character boundary
 * when it is too long (PostgreSQL refuses half a UTF-8 character, and with
 * it the whole run of changes). */
static void s_text(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void s_text(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        buf[0] = '\0';
        return;
    }
    if ((size_t)n < len)
        return;
    size_t end = len - 1;
    while (end > 0 && ((unsigned char)buf[end] & 0xC0) == 0x80)
        end--;   /* back to the start of the last character, which may be cut */
    if (end > 0 && ((unsigned char)buf[end] & 0x80))
        buf[end] = '\0';
}

static bool s_terminal(order_state_t st)
{
    return st == ORDER_DELIVERED || st == ORDER_CANCELLED || st == ORDER_FAILED;
}

static bool s_has_rider(const dispatch_job_t *job)
{
    return job->dstate == D_ASSIGNED || job->dstate == D_ARRIVED || job->dstate == D_PICKED_UP ||
           job->dstate == D_DELIVERED;
}

static dstate_t s_dstate_of(adapter_state_t st)
{
    switch (st) {
    case ADAPTER_STATE_PENDING: return D_PENDING;
    case ADAPTER_STATE_ASSIGNED: return D_ASSIGNED;
    case ADAPTER_STATE_ARRIVED: return D_ARRIVED;
    case ADAPTER_STATE_PICKED_UP: return D_PICKED_UP;
    case ADAPTER_STATE_DELIVERED: return D_DELIVERED;
    case ADAPTER_STATE_CANCELLED: return D_CANCELLED;
    case ADAPTER_STATE_REFUSED: return D_REFUSED;
    default: return D_NONE;
    }
}

static dstate_t s_dstate_parse(const char *name)
{
    for (int i = 1; i < D_COUNT; i++)
        if (strcmp(name, dstate_names[i]) == 0)
            return (dstate_t)i;
    return D_NONE;
}

/* s_clock_text: HH:MM:SS UTC of a unix ms, for timeline details. */
static const char *s_clock_text(uint64_t ms, char buf[16])
{
    uint64_t s = ms / 1000 % 86400;
    snprintf(buf, 16, "%02u:%02u:%02uZ", (unsigned)(s / 3600), (unsigned)(s / 60 % 60),
             (unsigned)(s % 60));
    return buf;
}

static pool_t *s_pool(dispatch_t *d, int index)
{
    return index >= 0 && (size_t)index < d->pool_count ? &d->pools[index] : NULL;
}

static pool_t *s_pool_named(dispatch_t *d, const char *name)
{
    for (size_t i = 0; i < d->pool_count; i++)
        if (strcmp(d->pools[i].name, name) == 0)
            return &d->pools[i];
    return NULL;
}

static const config_store_t *s_store(dispatch_t *d, const order_entry_t *e)
{
    return d->host.store(d->host.arg, e->store_id);
}

/* s_breaker_note logs and publishes a breaker's change of state. */
static void s_breaker_note(pool_t *p, uint64_t now_mono)
{
    breaker_state_t st = breaker_state(&p->breaker, now_mono);
    if (st == p->shown)
        return;
    /* Back after an outage the link never saw (a gateway that stopped
     * answering): the rider events it had for us are lost, so ask about every
     * key in flight there, as a link-up does (dispatch_step, not here inside
     * some request's callback). */
    if (st == BREAKER_CLOSED)
        p->resync = true;
    p->shown = st;
    char detail[160];
    s_text(detail, sizeof detail, "error ratio %.2f over the last %d s", 
             breaker_error_ratio(&p->breaker, now_mono), p->cfg->breaker.window_seconds);
    if (st == BREAKER_OPEN)
        log_warning("platform %s: breaker open (%s); its orders go to other platforms for %d s",
                    p->name, detail, p->cfg->breaker.open_seconds);
    else
        log_notice("platform %s: breaker %s (%s)", p->name, breaker_state_name(st), detail);
    if (p->d->host.breaker)
        p->d->host.breaker(p->d->host.arg, p->name, breaker_state_name(st), detail);
}

/* s_breaker_admit asks P's breaker to count the request of CTX; false when
 * the breaker is open (the request may still be sent when it must be, like a
 * cancel, and is then not counted). */
static bool s_breaker_admit(pool_t *p, request_ctx_t *ctx)
{
    uint64_t now = clock_mono_ms();
    ctx->counted = breaker_allow(&p->breaker, now, &ctx->ticket);
    s_breaker_note(p, now);
    return ctx->counted;
}

static void s_breaker_record(pool_t *p, request_ctx_t *ctx, bool failed, uint64_t latency_ms)
{
    if (failed)
        p->failures++;
    if (!ctx->counted || p->d->closing)
        return;
    ctx->counted = false;
    uint64_t now = clock_mono_ms();
    breaker_record(&p->breaker, ctx->ticket, now, failed, latency_ms);
    s_breaker_note(p, now);
}

/* s_pool_usable: may a new order go to P now? (no side effects) */
static bool s_pool_usable(const pool_t *p, uint64_t now_mono)
{
    return p->link_up && breaker_would_allow(&p->breaker, now_mono) &&
           p->live < (size_t)p->cfg->max_inflight;
}

/* ---- jobs: life and timers ---------------------------------------------- */

static void s_job_timer(dispatch_t *d, dispatch_job_t *job)
{
    d->host.timer(d->host.arg, job->entry);
}

static void s_job_wake(dispatch_t *d, dispatch_job_t *job, uint64_t at_ms)
{
    job->wake_ms = at_ms;
    s_job_timer(d, job);
}

static dispatch_job_t *s_job_new(dispatch_t *d, order_entry_t *e)
{
    dispatch_job_t *job = calloc(1, sizeof *job);
    if (!job) {
        log_error("order %s: cannot look for a rider: out of memory", e->order_id);
        return NULL;
    }
    job->entry = e;
    job->wake_ms = UINT64_MAX;
    job->hold_until_ms = e->promised_ready_at_ms +
                         (uint64_t)d->cfg->dispatch.max_hold_minutes * 60000u;
    job->pool = job->best = -1;
    job->stuck_ms = (uint64_t)d->cfg->dispatch.stuck_minutes * 60000u;
    job->next = d->jobs;
    if (d->jobs)
        d->jobs->prev = job;
    d->jobs = job;
    d->job_count++;
    e->job = job;
    return job;
}

static void s_job_free(dispatch_t *d, dispatch_job_t *job)
{
    if (job->prev)
        job->prev->next = job->next;
    else
        d->jobs = job->next;
    if (job->next)
        job->next->prev = job->prev;
    d->job_count--;
    order_entry_t *e = job->entry;
    if (e->job == job)
        e->job = NULL;
    free(job);
    d->host.timer(d->host.arg, e);
}

/* s_job_finish: nothing more to do; the job goes once its callbacks ran. */
static void s_job_finish(dispatch_t *d, dispatch_job_t *job)
{
    job->phase = JOB_DONE;
    job->wake_ms = UINT64_MAX;
    if (job->outstanding == 0)
        s_job_free(d, job);
    else
        s_job_timer(d, job);
}

static request_ctx_t *s_ctx(dispatch_t *d, dispatch_job_t *job, int pool, int rank)
{
    request_ctx_t *ctx = malloc(sizeof *ctx);
    if (!ctx) {
        log_error("order %s: out of memory for a platform request", job->entry->order_id);
        return NULL;
    }
    *ctx = (request_ctx_t){.d = d, .job = job, .pool = pool, .attempt = job->entry->attempts,
                           .rank = (int8_t)rank};
    return ctx;
}

/* s_ctx_end: a callback ran. True when the job wants it handled (it is
 * current and the engine is not closing); frees CTX and a finished job. */
static bool s_ctx_end(request_ctx_t *ctx, dispatch_job_t **job_out)
{
    dispatch_t *d = ctx->d;
    dispatch_job_t *job = ctx->job;
    job->outstanding--;
    bool current = !d->closing && job->phase != JOB_DONE && ctx->attempt == job->entry->attempts;
    free(ctx);
    if (job->phase == JOB_DONE && job->outstanding == 0 && !d->closing) {
        s_job_free(d, job);
        return false;
    }
    *job_out = job;
    return current;
}

/* ---- changes ------------------------------------------------------------ */

/* s_change queues one engine change of JOB's order: an event row with
 * DETAIL, the order's new state TO (or none when KEEP), and the current
 * attempt's dispatches row when the job has one. */
static void s_change(dispatch_t *d, dispatch_job_t *job, order_state_t to, bool keep,
                     change_after_t after, const char *detail)
{
    order_entry_t *e = job->entry;
    if (s_terminal((order_state_t)e->state) || e->cancel_pending)
        keep = true;   /* a cancel (or the end) the requester asked for wins */
    if (keep)
        to = (order_state_t)e->state;
    change_t c = {.entry = e, .to = to, .keep_state = keep, .engine = true, .after = (uint8_t)after,
                  .at_ms = clock_wall_ms()};
    s_text(c.detail, sizeof c.detail, "%s", detail);
    pool_t *p = s_pool(d, job->pool);
    if (p && job->dstate != D_NONE) {
        change_dispatch_t *r = &c.dispatch;
        r->attempt = e->attempts;
        r->state = dstate_names[job->dstate];
        r->platform = p->name;
        r->seq = job->seq;
        r->fee_cents = job->fee_cents;
        r->pickup_at_ms = job->pickup_at_ms;
        memcpy(r->key, job->key, sizeof r->key);
        snprintf(r->rider_ref, sizeof r->rider_ref, "%s", job->rider_ref);
    }
    if (!d->host.queue(d->host.arg, &c)) {
        log_error("order %s: failed to queue '%s' for the database: out of memory", e->order_id,
                  detail);
        return;
    }
    e->state = (uint8_t)to;
}

/* s_job_fail ends the order FAILED (refund due); a live attempt is cancelled. */
static void s_job_fail(dispatch_t *d, dispatch_job_t *job, const char *why)
{
    char detail[ORDER_DETAIL_MAX];
    s_text(detail, sizeof detail, "failed: %s; refund due", why);
    s_change(d, job, ORDER_FAILED, false, CHANGE_AFTER_NOTHING, detail);
    d->failed++;
    log_notice("order %s: failed: %s", job->entry->order_id, why);
    job->end = ORDER_FAILED;
    if (job->pool >= 0 && job->phase != JOB_CANCELLING)
        s_job_cancel(d, job, "no rider in time");
    else if (job->pool < 0)
        s_job_finish(d, job);
}

/* s_job_released: the current attempt is over and no rider of it will come
 * (refused, Error, cancelled and released). DSTATE is its final state. The
 * order goes to the next pool, unless it is ending. */
static void s_job_released(dispatch_t *d, dispatch_job_t *job, dstate_t dstate, const char *detail)
{
    pool_t *p = s_pool(d, job->pool);
    bool picked_up = job->dstate == D_PICKED_UP;
    job->dstate = (uint8_t)dstate;
    order_state_t back = ORDER_DISPATCHING;
    s_change(d, job, back, job->end != 0, CHANGE_AFTER_NOTHING, detail);
    if (p) {
        p->live--;
        job->tried |= 1u << p->index;
    }
    job->pool = -1;
    job->dstate = D_NONE;
    job->rider_ref[0] = '\0';
    job->fee_cents = 0;
    job->sync = job->maybe_sent = false;
    if (job->end) {
        s_job_finish(d, job);
        return;
    }
    if (picked_up) {
        s_job_fail(d, job, "the platform gave the order up after its rider picked it up");
        return;
    }
    d->redispatches++;
    s_job_quote(d, job, clock_wall_ms());
}

/* s_job_apply: the platform says the current attempt is in state DSTATE
 * (from a reply, an event or a status). WHAT says where it came from. */
static void s_job_apply(dispatch_t *d, dispatch_job_t *job, dstate_t dstate, const char *detail)
{
    pool_t *p = s_pool(d, job->pool);
    if (!p || dstate == D_NONE || dstate == job->dstate)
        return;
    if (dstate == D_CANCELLED || dstate == D_REFUSED) {
        s_job_released(d, job, dstate, detail);
        return;
    }
    order_state_t to = ORDER_DISPATCHING;
    if (dstate == D_ASSIGNED || dstate == D_ARRIVED)
        to = ORDER_RIDER_ASSIGNED;
    else if (dstate == D_PICKED_UP)
        to = ORDER_PICKED_UP;
    else if (dstate == D_DELIVERED)
        to = ORDER_DELIVERED;
    job->dstate = (uint8_t)dstate;
    job->news_ms = clock_wall_ms();
    s_change(d, job, to, false, CHANGE_AFTER_NOTHING, detail);
    if (dstate == D_DELIVERED) {
        p->live--;
        d->delivered++;
        job->pool = -1;
        s_job_finish(d, job);
        return;
    }
    if (job->phase != JOB_CANCELLING)
        job->phase = JOB_LIVE;
    /* A rider accepted but not assigned gets assign_timeout_seconds. */
    uint64_t wake = UINT64_MAX;
    if (dstate == D_PENDING && job->phase == JOB_LIVE)
        wake = clock_wall_ms() + (uint64_t)d->cfg->dispatch.assign_timeout_seconds * 1000u;
    s_job_wake(d, job, wake);
}

/* ---- quotes and the choice ----------------------------------------------- */

static void s_job_choose(dispatch_t *d, dispatch_job_t *job, uint64_t now);

static void s_quote_done(void *arg, const adapter_done_t *done, const adapter_quote_t *q)
{
    request_ctx_t *ctx = arg;
    dispatch_t *d = ctx->d;
    pool_t *p = s_pool(d, ctx->pool);
    int rank = ctx->rank;
    dispatch_job_t *job;
    if (!d->closing)
        metrics_observe_us(&p->quote_latency, done->latency_ms * 1000u);
    s_breaker_record(p, ctx, done->outcome != ADAPTER_OK, done->latency_ms);
    if (!s_ctx_end(ctx, &job) || job->phase != JOB_QUOTING)
        return;
    job->quotes_out--;
    uint64_t now = clock_wall_ms();
    size_t used = strlen(job->why);
    const char *sep = used ? ", " : "";
    if (done->outcome != ADAPTER_OK) {
        s_text(job->why + used, sizeof job->why - used, "%s%s %s", sep, p->name,
                 done->outcome == ADAPTER_ERROR ? adapter_error_name(done->error.code)
                                                : adapter_outcome_name(done->outcome));
    } else if (!q->available) {
        s_text(job->why + used, sizeof job->why - used, "%s%s %s", sep, p->name,
                 adapter_refusal_name(q->refusal));
    } else {
        if (q->pickup_at_ms > now)
            p->eta_ms = (p->eta_ms * (DISPATCH_ETA_WEIGHT - 1) + (q->pickup_at_ms - now)) /
                        DISPATCH_ETA_WEIGHT;
        uint64_t ready = job->entry->promised_ready_at_ms;
        uint64_t off = q->pickup_at_ms > ready ? q->pickup_at_ms - ready : ready - q->pickup_at_ms;
        uint64_t best_off = 0;
        if (job->best >= 0)
            best_off = job->best_pickup_ms > ready ? job->best_pickup_ms - ready
                                                   : ready - job->best_pickup_ms;
        bool better = job->best < 0 || off / 60000 < best_off / 60000 ||
                      (off / 60000 == best_off / 60000 &&
                       (q->fee_cents < job->best_fee ||
                        (q->fee_cents == job->best_fee && rank < job->best_rank)));
        if (better) {
            job->best = (int8_t)p->index;
            job->best_rank = (int8_t)rank;
            job->best_pickup_ms = q->pickup_at_ms;
            job->best_fee = q->fee_cents;
        }
    }
    if (job->quotes_out == 0)
        s_job_choose(d, job, now);
}

/* s_job_quote asks every usable pool of the store for a quote; with none,
 * it tries again after retry_seconds. */
static void s_job_quote(dispatch_t *d, dispatch_job_t *job, uint64_t now)
{
    order_entry_t *e = job->entry;
    const config_store_t *st = s_store(d, e);
    if (!st) {
        s_job_fail(d, job, "the store left the configuration, so there is no pickup address");
        return;
    }
    job->phase = JOB_QUOTING;
    job->best = -1;
    job->quoted = 0;
    job->why[0] = '\0';
    uint64_t now_mono = clock_mono_ms();
    adapter_quote_req_t req = {
        .order_id = e->order_id, .store_id = e->store_id,
        .pickup = {st->lat, st->lng}, .dropoff = {e->dropoff_lat, e->dropoff_lng},
        .ready_at_ms = e->promised_ready_at_ms, .items = e->drinks ? e->drinks : 1,
    };
    job->quotes_out = 1;  /* held until every quote is sent, so none completes the round early */
    for (int i = 0; i < st->platform_count; i++) {
        pool_t *p = s_pool(d, st->platforms[i]);
        if (!p || (job->tried & (1u << p->index)))
            continue;
        request_ctx_t *ctx = s_ctx(d, job, p->index, i);
        if (!ctx)
            continue;
        const char *skip = !p->link_up ? "not connected"
                           : p->live >= (size_t)p->cfg->max_inflight ? "full"
                           : !breaker_would_allow(&p->breaker, now_mono) ? "breaker open"
                           : !s_breaker_admit(p, ctx) ? "breaker half-open, probe out" : NULL;
        if (skip) {
            free(ctx);
            size_t used = strlen(job->why);
            s_text(job->why + used, sizeof job->why - used, "%s%s %s", used ? ", " : "",
                     p->name, skip);
            continue;
        }
        adapter_send_t rc = adapter_quote(p->adapter, &req, 0, s_quote_done, ctx);
        if (rc != ADAPTER_SEND_OK) {
            s_breaker_record(p, ctx, rc == ADAPTER_SEND_UNREACHABLE || rc == ADAPTER_SEND_FAILED, 0);
            free(ctx);
            size_t used = strlen(job->why);
            s_text(job->why + used, sizeof job->why - used, "%s%s %s", used ? ", " : "",
                     p->name, adapter_send_name(rc));
            continue;
        }
        p->quotes++;
        job->outstanding++;
        job->quotes_out++;
        job->quoted |= 1u << p->index;
    }
    job->quotes_out--;
    if (job->quotes_out == 0)
        s_job_choose(d, job, now);
}

static void s_job_choose(dispatch_t *d, dispatch_job_t *job, uint64_t now)
{
    order_entry_t *e = job->entry;
    char detail[ORDER_DETAIL_MAX], t[16];
    if (job->end) {
        s_job_finish(d, job);
        return;
    }
    if (e->changing && e->cancel_pending) {  /* a cancel is committing: wait for it */
        job->phase = JOB_WAITING;
        s_job_wake(d, job, now + DISPATCH_RETRY_SOON_MS);
        return;
    }
    d->decisions++;
    if (job->best < 0) {
        /* Nobody this round: the pools that answered no are tried; when every
         * pool is, a new round starts after retry_seconds. */
        s_text(detail, sizeof detail, "no rider available (%s); asking again every %d s",
                 job->why[0] ? job->why : "no platform", d->cfg->dispatch.retry_seconds);
        job->tried = 0;
        job->phase = JOB_WAITING;
        /* The timeline hears it at most once a minute, not every round. */
        if (!job->told_at_ms || now >= job->told_at_ms + DISPATCH_TELL_EVERY_MS) {
            s_change(d, job, (order_state_t)e->state, true, CHANGE_AFTER_NOTHING, detail);
            job->told_at_ms = now;
        }
        s_job_wake(d, job, now + (uint64_t)d->cfg->dispatch.retry_seconds * 1000u);
        return;
    }
    uint64_t margin = (uint64_t)d->cfg->dispatch.margin_seconds * 1000u;
    uint64_t ready = e->promised_ready_at_ms;
    if (job->best_pickup_ms + margin < ready && job->early_requotes < DISPATCH_EARLY_REQUOTES) {
        /* The rider would wait at the counter past the margin: ask later. */
        job->early_requotes++;
        job->phase = JOB_WAITING;
        s_job_wake(d, job, now + (ready - margin - job->best_pickup_ms));
        return;
    }
    pool_t *p = &d->pools[job->best];
    e->attempts++;
    dispatch_key(e->order_id, e->attempts, job->key);
    job->pool = (int8_t)p->index;
    job->dstate = D_SENDING;
    job->phase = JOB_SAVING;
    job->seq = 0;
    job->pickup_at_ms = job->best_pickup_ms;
    job->fee_cents = job->best_fee;
    job->maybe_sent = false;
    p->live++;
    s_text(detail, sizeof detail,
             "dispatching to %s (attempt %u, key %s): rider at the store ~%s, fee %" PRIu32
             " cents", p->name, (unsigned)e->attempts, job->key,
             s_clock_text(job->pickup_at_ms, t), job->fee_cents);
    s_change(d, job, ORDER_DISPATCHING, false, CHANGE_AFTER_SEND_DISPATCH, detail);
}

/* ---- dispatch, cancel, status --------------------------------------------- */

static void s_dispatch_done(void *arg, const adapter_done_t *done, const adapter_dispatch_t *r)
{
    request_ctx_t *ctx = arg;
    dispatch_t *d = ctx->d;
    pool_t *p = s_pool(d, ctx->pool);
    dispatch_job_t *job;
    if (!d->closing)
        metrics_observe_us(&p->dispatch_latency, done->latency_ms * 1000u);
    s_breaker_record(p, ctx, done->outcome != ADAPTER_OK, done->latency_ms);
    if (!s_ctx_end(ctx, &job) || job->phase != JOB_SENDING || job->pool != p->index)
        return;
    char detail[ORDER_DETAIL_MAX];
    if (done->outcome == ADAPTER_ERROR) {
        s_text(detail, sizeof detail, "%s answered %s (%s); trying another platform",
                 p->name, adapter_error_name(done->error.code), done->error.message);
        s_job_released(d, job, D_ERROR, detail);
        return;
    }
    if (done->outcome != ADAPTER_OK) {
        char why[80];
        s_text(why, sizeof why, "no answer to the dispatch (%s)",
                 adapter_outcome_name(done->outcome));
        s_job_cancel(d, job, why);
        return;
    }
    if (!r->accepted) {
        p->refusals++;
        s_text(detail, sizeof detail, "%s refused: %s; trying another platform", p->name,
                 adapter_refusal_name(r->refusal));
        s_job_released(d, job, D_REFUSED, detail);
        return;
    }
    snprintf(job->rider_ref, sizeof job->rider_ref, "%s", r->rider_ref);
    if (r->fee_cents)
        job->fee_cents = r->fee_cents;
    if (r->pickup_at_ms)
        job->pickup_at_ms = r->pickup_at_ms;
    job->phase = JOB_LIVE;
    s_text(detail, sizeof detail, "%s accepted%s%s%s", p->name,
             r->rider_ref[0] ? ": rider " : "", r->rider_ref, r->duplicate ? " (repeat)" : "");
    dstate_t st = s_dstate_of(r->state);
    s_job_apply(d, job, st == D_NONE ? D_PENDING : st, detail);
}

static void s_job_send_dispatch(dispatch_t *d, dispatch_job_t *job)
{
    order_entry_t *e = job->entry;
    pool_t *p = s_pool(d, job->pool);
    const config_store_t *st = s_store(d, e);
    job->phase = JOB_SENDING;
    job->sync = false;
    if (!p || !st) {
        s_job_fail(d, job, "the store left the configuration, so there is no pickup address");
        return;
    }
    adapter_dispatch_req_t req = {
        .key = job->key, .order_id = e->order_id, .store_id = e->store_id,
        .pickup = {st->lat, st->lng}, .dropoff = {e->dropoff_lat, e->dropoff_lng},
        .ready_at_ms = e->promised_ready_at_ms, .items = e->drinks ? e->drinks : 1,
        .deliver_by_ms = e->promised_delivery_at_ms,
    };
    request_ctx_t *ctx = s_ctx(d, job, p->index, 0);
    if (ctx)
        (void)s_breaker_admit(p, ctx);
    adapter_send_t rc = ctx ? adapter_dispatch(p->adapter, &req, 0, s_dispatch_done, ctx)
                            : ADAPTER_SEND_FAILED;
    if (rc == ADAPTER_SEND_OK) {
        job->outstanding++;
        job->maybe_sent = true;
        p->dispatches++;
        return;
    }
    if (ctx)
        s_breaker_record(p, ctx, rc == ADAPTER_SEND_UNREACHABLE || rc == ADAPTER_SEND_FAILED, 0);
    free(ctx);
    if (job->maybe_sent) {
        /* An earlier send (or process) may have delivered it: only the same
         * key again, or its cancel, is safe. */
        job->sync = true;
        s_job_wake(d, job, clock_wall_ms() + DISPATCH_RETRY_SOON_MS);
        return;
    }
    char detail[ORDER_DETAIL_MAX];
    s_text(detail, sizeof detail, "%s: dispatch not sent (%s); trying another platform",
             p->name, adapter_send_name(rc));
    s_job_released(d, job, D_ERROR, detail);
}

static void s_cancel_done(void *arg, const adapter_done_t *done, const adapter_cancel_t *r)
{
    request_ctx_t *ctx = arg;
    dispatch_t *d = ctx->d;
    pool_t *p = s_pool(d, ctx->pool);
    dispatch_job_t *job;
    s_breaker_record(p, ctx, done->outcome != ADAPTER_OK, done->latency_ms);
    if (!s_ctx_end(ctx, &job) || job->phase != JOB_CANCELLING || job->pool != p->index)
        return;
    if (done->outcome != ADAPTER_OK || strcmp(r->key, job->key) != 0) {
        s_job_wake(d, job, clock_wall_ms() + DISPATCH_RETRY_SOON_MS);  /* send it again */
        return;
    }
    char detail[ORDER_DETAIL_MAX];
    if (r->released) {
        s_text(detail, sizeof detail, "%s released attempt %u%s", p->name,
                 (unsigned)job->entry->attempts,
                 r->previous == ADAPTER_STATE_UNKNOWN ? " (it had never arrived)" : "");
        s_job_released(d, job, r->state == ADAPTER_STATE_REFUSED ? D_REFUSED : D_CANCELLED,
                       detail);
        return;
    }
    /* Too late to cancel: the rider has it. Follow it to the end. */
    if (r->rider_ref[0])
        snprintf(job->rider_ref, sizeof job->rider_ref, "%s", r->rider_ref);
    s_text(detail, sizeof detail, "%s could not cancel: the order is %s", p->name,
             adapter_state_name(r->state));
    job->phase = JOB_LIVE;
    s_job_apply(d, job, s_dstate_of(r->state), detail);
}

/* s_cancel_deadline: each cancel of one attempt waits twice as long as the
 * one before, so a platform slower than timeout_ms still gets to answer one
 * (until it does, the order may not go elsewhere). */
static uint64_t s_cancel_deadline(const pool_t *p, dispatch_job_t *job)
{
    uint64_t wait = (uint64_t)p->cfg->timeout_ms;
    for (unsigned i = 0; i < job->cancel_tries && wait < DISPATCH_CANCEL_WAIT_MAX_MS; i++)
        wait *= 2;
    if (wait > DISPATCH_CANCEL_WAIT_MAX_MS)
        wait = DISPATCH_CANCEL_WAIT_MAX_MS;
    if (job->cancel_tries < UINT8_MAX)
        job->cancel_tries++;
    return clock_mono_ms() + wait;
}

static void s_job_send_cancel(dispatch_t *d, dispatch_job_t *job, const char *reason)
{
    pool_t *p = s_pool(d, job->pool);
    request_ctx_t *ctx = s_ctx(d, job, p->index, 0);
    if (ctx)
        (void)s_breaker_admit(p, ctx);
    adapter_send_t rc = ctx ? adapter_cancel(p->adapter, job->key, reason,
                                             s_cancel_deadline(p, job), s_cancel_done, ctx)
                            : ADAPTER_SEND_FAILED;
    if (rc == ADAPTER_SEND_OK) {
        job->outstanding++;
        p->cancels++;
        return;
    }
    if (ctx)
        s_breaker_record(p, ctx, rc == ADAPTER_SEND_UNREACHABLE || rc == ADAPTER_SEND_FAILED, 0);
    free(ctx);
    job->sync = true;
    s_job_wake(d, job, clock_wall_ms() + DISPATCH_RETRY_SOON_MS);
}

/* s_job_cancel: the current attempt must end before the order may go
 * elsewhere (a timeout, a reply that broke the protocol, no rider assigned in
 * time, the order cancelled or failed). */
static void s_job_cancel(dispatch_t *d, dispatch_job_t *job, const char *reason)
{
    pool_t *p = s_pool(d, job->pool);
    char detail[ORDER_DETAIL_MAX];
    s_text(detail, sizeof detail, "cancelling attempt %u at %s: %s",
             (unsigned)job->entry->attempts, p->name, reason);
    job->phase = JOB_CANCELLING;
    job->dstate = D_CANCELLING;
    job->wake_ms = UINT64_MAX;
    job->cancel_tries = 0;
    s_change(d, job, (order_state_t)job->entry->state, true, CHANGE_AFTER_NOTHING, detail);
    s_job_send_cancel(d, job, reason);
    s_job_timer(d, job);
}

static void s_status_done(void *arg, const adapter_done_t *done, const adapter_status_t *r)
{
    request_ctx_t *ctx = arg;
    dispatch_t *d = ctx->d;
    pool_t *p = s_pool(d, ctx->pool);
    dispatch_job_t *job;
    s_breaker_record(p, ctx, done->outcome != ADAPTER_OK, done->latency_ms);
    if (!s_ctx_end(ctx, &job) || job->pool != p->index)
        return;
    bool sweeping = job->sweeping;
    job->sweeping = false;
    if (done->outcome != ADAPTER_OK || strcmp(r->key, job->key) != 0) {
        job->sync = true;
        s_job_wake(d, job, clock_wall_ms() + DISPATCH_RETRY_SOON_MS);
        return;
    }
    if (job->phase != JOB_LIVE)
        return;
    if (sweeping && s_dstate_of(r->state) == job->dstate) {
        s_job_stuck(d, job);
        return;
    }
    char detail[ORDER_DETAIL_MAX];
    if (r->state == ADAPTER_STATE_UNKNOWN) {
        s_text(detail, sizeof detail, "%s has no record of attempt %u", p->name,
                 (unsigned)job->entry->attempts);
        s_job_released(d, job, D_CANCELLED, detail);
        return;
    }
    if (r->seq < job->seq)
        return;
    job->seq = r->seq;
    if (r->rider_ref[0])
        snprintf(job->rider_ref, sizeof job->rider_ref, "%s", r->rider_ref);
    if (r->fee_cents)
        job->fee_cents = r->fee_cents;
    s_text(detail, sizeof detail, "%s reports the attempt %s", p->name,
             adapter_state_name(r->state));
    dstate_t st = s_dstate_of(r->state);
    s_job_apply(d, job, st, detail);  /* may end (and free) the job, unless PENDING */
    /* Still no rider (say, restored while PENDING): the assign timeout runs
     * from now, as for a fresh acceptance. */
    if (st == D_PENDING && s_job_pending_untimed(job))
        s_job_wake(d, job, clock_wall_ms() +
                               (uint64_t)d->cfg->dispatch.assign_timeout_seconds * 1000u);
}

/* s_job_stuck: the platform confirms no progress for stuck_minutes. A rider
 * who has not picked up is replaced; an order on its way is escalated (a log
 * line and a timeline entry) and looked at again after as long. */
static void s_job_stuck(dispatch_t *d, dispatch_job_t *job)
{
    pool_t *p = s_pool(d, job->pool);
    unsigned minutes = (unsigned)(job->stuck_ms / 60000u);
    char why[ORDER_DETAIL_MAX];
    d->stuck++;
    job->news_ms = clock_wall_ms();
    if (job->dstate == D_ASSIGNED || job->dstate == D_ARRIVED) {
        /* Support reads this line: it says the platform was asked, and what
         * it answered. */
        s_text(why, sizeof why, "rider %s has not picked up in %u minute%s; %s says %s",
               job->rider_ref, minutes, minutes == 1 ? "" : "s", p->name,
               dstate_names[job->dstate]);
        log_warning("order %s: %s; replacing the rider", job->entry->order_id, why);
        s_job_cancel(d, job, why);
        return;
    }
    s_text(why, sizeof why, "stuck: no news from %s for %u minute%s; it says %s (rider %s)",
           p->name, minutes, minutes == 1 ? "" : "s", dstate_names[job->dstate], job->rider_ref);
    log_warning("order %s: %s; support should call the platform", job->entry->order_id, why);
    s_change(d, job, (order_state_t)job->entry->state, true, CHANGE_AFTER_NOTHING, why);
    s_job_timer(d, job);
}

static void s_job_send_status(dispatch_t *d, dispatch_job_t *job)
{
    pool_t *p = s_pool(d, job->pool);
    request_ctx_t *ctx = s_ctx(d, job, p->index, 0);
    if (ctx)
        (void)s_breaker_admit(p, ctx);
    adapter_send_t rc = ctx ? adapter_status(p->adapter, job->key, 0, s_status_done, ctx)
                            : ADAPTER_SEND_FAILED;
    if (rc == ADAPTER_SEND_OK) {
        job->outstanding++;
        job->sync = false;
        return;
    }
    if (ctx)
        s_breaker_record(p, ctx, rc == ADAPTER_SEND_UNREACHABLE || rc == ADAPTER_SEND_FAILED, 0);
    free(ctx);
    job->sync = true;
}

/* s_job_sync asks the platform what became of the current attempt: the
 * outbox row is sent again under its key, a cancel again, a live one asked
 * for its status. */
static void s_job_sync(dispatch_t *d, dispatch_job_t *job)
{
    job->sync = false;
    if (job->phase == JOB_SENDING)
        s_job_send_dispatch(d, job);
    else if (job->phase == JOB_CANCELLING)
        s_job_send_cancel(d, job, "cancel sent again");
    else if (job->phase == JOB_LIVE)
        s_job_send_status(d, job);
}

/* ---- what the adapters say unasked ---------------------------------------- */

static void s_event(void *arg, const adapter_event_t *ev)
{
    pool_t *p = arg;
    dispatch_t *d = p->d;
    order_entry_t *e = order_index_find(d->host.orders, ev->order_id);
    dispatch_job_t *job = e ? e->job : NULL;
    if (!job || job->pool != p->index || strcmp(job->key, ev->key) != 0 ||
        job->phase == JOB_DONE) {
        d->stray_events++;
        log_debug("platform %s: event for key %s that is not in flight here", p->name,
                  ev->key);
        return;
    }
    adapter_seq_t order = adapter_event_order(job->seq, ev->seq);
    if (order == ADAPTER_SEQ_STALE)
        return;
    job->seq = ev->seq;
    bool replaced = ev->state == ADAPTER_STATE_ASSIGNED && job->dstate == D_ASSIGNED &&
                    ev->rider_ref[0] && strcmp(ev->rider_ref, job->rider_ref) != 0;
    if (ev->rider_ref[0])
        snprintf(job->rider_ref, sizeof job->rider_ref, "%s", ev->rider_ref);
    if (ev->fee_cents)
        job->fee_cents = ev->fee_cents;
    if (ev->pickup_at_ms)
        job->pickup_at_ms = ev->pickup_at_ms;
    char detail[ORDER_DETAIL_MAX], t[16];
    switch (ev->state) {
    case ADAPTER_STATE_ASSIGNED:
        s_text(detail, sizeof detail, "%s: rider %s assigned, at the store ~%s", p->name,
                 job->rider_ref, s_clock_text(job->pickup_at_ms, t));
        break;
    case ADAPTER_STATE_ARRIVED:
        s_text(detail, sizeof detail, "%s: rider %s at the store", p->name, job->rider_ref);
        break;
    case ADAPTER_STATE_PICKED_UP:
        s_text(detail, sizeof detail, "%s: rider %s picked it up after waiting %" PRIu32 " s",
                 p->name, job->rider_ref, ev->wait_ms / 1000);
        break;
    case ADAPTER_STATE_DELIVERED:
        s_text(detail, sizeof detail, "%s: delivered by rider %s, fee %" PRIu32 " cents",
                 p->name, job->rider_ref, job->fee_cents);
        break;
    case ADAPTER_STATE_CANCELLED:
        s_text(detail, sizeof detail, "%s cancelled attempt %u (%s: %s)%s", p->name,
                 (unsigned)job->entry->attempts,
                 ev->cancelled_by == ADAPTER_CANCELLED_BY_CLIENT ? "ours" : "theirs",
                 ev->reason[0] ? ev->reason : "no reason", job->end ? "" : "; trying again");
        break;
    default:
        s_text(detail, sizeof detail, "%s: %s", p->name, adapter_state_name(ev->state));
        break;
    }
    if (job->phase == JOB_CANCELLING && ev->state != ADAPTER_STATE_CANCELLED) {
        /* Our cancel's reply decides; note the rider's progress meanwhile. */
        if (order == ADAPTER_SEQ_GAP)
            s_job_send_status(d, job);
        return;
    }
    if (replaced) {
        /* The platform swapped riders: same state, so say it here. */
        s_text(detail, sizeof detail, "%s: rider replaced by %s, at the store ~%s", p->name,
               job->rider_ref, s_clock_text(job->pickup_at_ms, t));
        job->news_ms = clock_wall_ms();
        s_change(d, job, (order_state_t)e->state, true, CHANGE_AFTER_NOTHING, detail);
    }
    s_job_apply(d, job, s_dstate_of(ev->state), detail);
    if (order == ADAPTER_SEQ_GAP && e->job == job && job->phase == JOB_LIVE)
        s_job_send_status(d, job);
}

/* s_pool_sync asks P about every key in flight there: outbox rows are sent
 * again, cancels too, live attempts asked for their status. */
static void s_pool_sync(dispatch_t *d, pool_t *p)
{
    for (dispatch_job_t *job = d->jobs, *next; job; job = next) {
        next = job->next;
        if (job->pool == p->index && job->phase >= JOB_SENDING && job->phase <= JOB_CANCELLING &&
            (job->phase != JOB_SENDING || job->sync))
            s_job_sync(d, job);
    }
}

static void s_link(void *arg, bool up)
{
    pool_t *p = arg;
    dispatch_t *d = p->d;
    p->link_up = up;
    if (!up) {
        log_warning("platform %s: link to %s down", p->name, p->cfg->endpoint);
        return;
    }
    log_notice("platform %s: link to %s up", p->name, p->cfg->endpoint);
    /* Every up asks about every key in flight: it also routes their events here. */
    s_pool_sync(d, p);
}

/* ---- the engine ------------------------------------------------------------ */

dispatch_t *dispatch_new(const config_t *cfg, void *zmq_ctx, const dispatch_host_t *host)
{
    if (cfg->platform_count > DISPATCH_POOLS_MAX) {
        log_error("platforms: at most %d are supported", DISPATCH_POOLS_MAX);
        return NULL;
    }
    dispatch_t *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->cfg = cfg;
    d->host = *host;
    for (size_t i = 0; i < cfg->platform_count; i++) {
        pool_t *p = &d->pools[i];
        p->d = d;
        p->index = (int)i;
        p->cfg = &cfg->platforms[i];
        snprintf(p->name, sizeof p->name, "%s", p->cfg->name);
        p->eta_ms = (uint64_t)cfg->dispatch.pickup_eta_seconds * 1000u;
        breaker_init(&p->breaker, &p->cfg->breaker);
        d->pool_count = i + 1;
        adapter_listener_t listener = {.event = s_event, .link = s_link, .arg = p};
        adapter_platform_t platform = {
            .name = p->cfg->name, .adapter = p->cfg->adapter, .endpoint = p->cfg->endpoint,
            .timeout_ms = p->cfg->timeout_ms, .quote_deadline_ms = p->cfg->quote_deadline_ms,
            .max_inflight = p->cfg->max_inflight,
        };
        p->adapter = adapter_open(&platform, zmq_ctx, &listener);
        if (!p->adapter) {
            dispatch_destroy(&d);
            return NULL;
        }
    }
    return d;
}

void dispatch_destroy(dispatch_t **self)
{
    if (!self || !*self)
        return;
    dispatch_t *d = *self;
    d->closing = true;
    for (size_t i = 0; i < d->pool_count; i++)
        adapter_close(&d->pools[i].adapter);
    while (d->jobs) {
        dispatch_job_t *job = d->jobs;
        d->jobs = job->next;
        job->entry->job = NULL;
        free(job);
    }
    free(d);
    *self = NULL;
}

const char *dispatch_platforms_changed(const config_t *cur, const config_t *next)
{
    if (cur->platform_count != next->platform_count)
        return "platforms were added or removed";
    for (size_t i = 0; i < cur->platform_count; i++) {
        const config_platform_t *a = &cur->platforms[i], *b = &next->platforms[i];
        if (strcmp(a->name, b->name) != 0 || strcmp(a->adapter, b->adapter) != 0 ||
            strcmp(a->endpoint, b->endpoint) != 0)
            return "a platform's name, adapter or endpoint changed";
        if (a->timeout_ms != b->timeout_ms || a->quote_deadline_ms != b->quote_deadline_ms ||
            a->max_inflight != b->max_inflight ||
            memcmp(&a->breaker, &b->breaker, sizeof a->breaker) != 0)
            return "a platform's timeouts, max_inflight or breaker changed";
    }
    return NULL;
}

void dispatch_configure(dispatch_t *self, const config_t *cfg)
{
    self->cfg = cfg;
    for (size_t i = 0; i < self->pool_count; i++)
        self->pools[i].cfg = &cfg->platforms[i];
}

size_t dispatch_poll(dispatch_t *self, zmq_pollitem_t *items, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < self->pool_count && n < max; i++)
        n += adapter_poll(self->pools[i].adapter, items + n, max - n);
    return n;
}

int dispatch_timeout_ms(const dispatch_t *self, uint64_t now_mono_ms)
{
    int timeout = -1;
    for (size_t i = 0; i < self->pool_count; i++) {
        int t = adapter_timeout_ms(self->pools[i].adapter, now_mono_ms);
        if (t >= 0 && (timeout < 0 || t < timeout))
            timeout = t;
    }
    return timeout;
}

void dispatch_step(dispatch_t *self, uint64_t now_mono_ms)
{
    for (size_t i = 0; i < self->pool_count; i++) {
        adapter_step(self->pools[i].adapter, now_mono_ms);
        s_breaker_note(&self->pools[i], now_mono_ms);  /* open -> half-open shows by itself */
        if (self->pools[i].resync) {
            self->pools[i].resync = false;
            if (self->pools[i].link_up)
                s_pool_sync(self, &self->pools[i]);
        }
    }
}

void dispatch_plan(dispatch_t *self, order_entry_t *e)
{
    e->dispatch_at_ms = 0;
    const config_store_t *st = s_store(self, e);
    if (!st || st->platform_count == 0 || e->job || s_terminal((order_state_t)e->state))
        return;
    uint64_t eta = 0;
    for (int i = 0; i < st->platform_count; i++) {
        pool_t *p = s_pool(self, st->platforms[i]);
        if (p && p->eta_ms > eta)
            eta = p->eta_ms;
    }
    uint64_t lead = eta + (uint64_t)self->cfg->dispatch.margin_seconds * 1000u;
    e->dispatch_at_ms = e->promised_ready_at_ms > lead ? e->promised_ready_at_ms - lead : 1;
}

uint64_t dispatch_due_ms(const order_entry_t *e)
{
    const dispatch_job_t *job = e->job;
    if (!job)
        return e->dispatch_at_ms ? e->dispatch_at_ms : UINT64_MAX;
    uint64_t due = job->wake_ms;
    if (job->phase != JOB_DONE && !job->end && !s_has_rider(job) && job->hold_until_ms < due)
        due = job->hold_until_ms;
    if (job->phase == JOB_LIVE && !job->end && !job->sweeping && job->news_ms &&
        job->news_ms + job->stuck_ms < due)
        due = job->news_ms + job->stuck_ms;
    return due;
}

void dispatch_run(dispatch_t *self, order_entry_t *e, uint64_t now_ms)
{
    dispatch_job_t *job = e->job;
    if (!job) {
        if (!e->dispatch_at_ms || e->dispatch_at_ms > now_ms)
            return;
        e->dispatch_at_ms = 0;
        if (e->pending || s_terminal((order_state_t)e->state) || !(job = s_job_new(self, e)))
            return;
        if (now_ms < job->hold_until_ms) {
            s_job_quote(self, job, now_ms);
            return;
        }
        /* Too late already (the daemon was down past the hold): no quotes. */
    }
    if (job->phase == JOB_DONE)
        return;
    if (!job->end && !s_has_rider(job) && now_ms >= job->hold_until_ms) {
        char why[80];
        s_text(why, sizeof why, "no rider assigned within %d minutes of the ready time",
                 self->cfg->dispatch.max_hold_minutes);
        s_job_fail(self, job, why);
        return;
    }
    if (job->phase == JOB_LIVE && !job->end && !job->sweeping && job->news_ms &&
        now_ms >= job->news_ms + job->stuck_ms) {
        /* No news for stuck_minutes: the platform's word first. */
        job->sweeping = true;
        self->sweeps++;
        s_job_send_status(self, job);
        if (!job->sync)
            return;
        job->sweeping = false;  /* not sent: the link-up asks, the sweep comes again */
        job->news_ms = now_ms;
    }
    if (job->wake_ms > now_ms)
        return;
    job->wake_ms = UINT64_MAX;
    switch (job->phase) {
    case JOB_WAITING:
        s_job_quote(self, job, now_ms);
        break;
    case JOB_SENDING:
        if (job->sync && s_pool(self, job->pool)->link_up)
            s_job_sync(self, job);
        break;
    case JOB_CANCELLING:
        s_job_send_cancel(self, job, "cancel sent again");
        break;
    case JOB_LIVE:
        if (job->sync) {
            s_job_send_status(self, job);
        } else if (job->dstate == D_PENDING) {
            char why[80];
            s_text(why, sizeof why, "no rider assigned within %d s",
                     self->cfg->dispatch.assign_timeout_seconds);
            s_job_cancel(self, job, why);
        }
        break;
    default:
        break;
    }
}

void dispatch_marked_ready(dispatch_t *self, order_entry_t *e, uint64_t now_ms)
{
    if (e->job || !e->dispatch_at_ms)
        return;
    uint64_t promised = e->promised_ready_at_ms;
    if (now_ms >= promised)
        return;
    /* Ready early by so much: the rider is wanted that much sooner. */
    uint64_t early = promised - now_ms;
    e->dispatch_at_ms = e->dispatch_at_ms > now_ms + early ? e->dispatch_at_ms - early : now_ms;
    self->host.timer(self->host.arg, e);
}

void dispatch_cancelled(dispatch_t *self, order_entry_t *e)
{
    e->dispatch_at_ms = 0;
    dispatch_job_t *job = e->job;
    if (!job) {
        self->host.timer(self->host.arg, e);
        return;
    }
    if (job->phase == JOB_DONE || job->end)
        return;
    job->end = ORDER_CANCELLED;
    switch (job->phase) {
    case JOB_WAITING:
        s_job_finish(self, job);
        break;
    case JOB_QUOTING:
    case JOB_SAVING:
        break;  /* the quotes' end, or the outbox commit, finishes it */
    case JOB_SENDING:
    case JOB_LIVE:
        s_job_cancel(self, job, "the order was cancelled");
        break;
    default:
        break;
    }
}

void dispatch_committed(dispatch_t *self, const change_t *c)
{
    if (c->after != CHANGE_AFTER_SEND_DISPATCH)
        return;
    dispatch_job_t *job = c->entry->job;
    if (!job || job->phase != JOB_SAVING || strcmp(job->key, c->dispatch.key) != 0)
        return;
    if (job->end) {
        /* Cancelled while its outbox row committed: the cancel tombstones
         * the key in case a copy of the request ever arrives. */
        s_job_cancel(self, job, "the order was cancelled");
        return;
    }
    s_job_send_dispatch(self, job);
}

bool dispatch_can_deliver(const dispatch_t *self, const config_store_t *store,
                          uint64_t *retry_after_ms)
{
    if (store->platform_count == 0)
        return true;
    uint64_t now = clock_mono_ms(), soonest = UINT64_MAX;
    for (int i = 0; i < store->platform_count; i++) {
        const pool_t *p = store->platforms[i] >= 0 && (size_t)store->platforms[i] < self->pool_count
                              ? &self->pools[store->platforms[i]] : NULL;
        if (!p)
            continue;
        if (!p->link_up)
            return true;  /* not connected yet or just lost: the breaker decides */
        if (s_pool_usable(p, now))
            return true;
        uint64_t until = breaker_open_until(&p->breaker);
        uint64_t wait = until > now ? until - now : 1000;
        if (wait < soonest)
            soonest = wait;
    }
    *retry_after_ms = soonest == UINT64_MAX ? 1000 : soonest;
    return false;
}

bool dispatch_restore_attempt(dispatch_t *self, order_entry_t *e, const dispatch_row_t *row)
{
    pool_t *p = s_pool_named(self, row->platform);
    dstate_t st = s_dstate_parse(row->state);
    if (!p || st == D_NONE) {
        log_error("order %s: attempt %s at platform '%s' (%s) cannot be followed: the platform "
                  "is not configured; ask it by hand", e->order_id, row->key, row->platform,
                  row->state);
        return true;
    }
    dispatch_job_t *job = e->job ? e->job : s_job_new(self, e);
    if (!job)
        return false;
    snprintf(job->key, sizeof job->key, "%s", row->key);
    snprintf(job->rider_ref, sizeof job->rider_ref, "%s", row->rider_ref ? row->rider_ref : "");
    if (row->attempt > e->attempts)
        e->attempts = row->attempt;
    job->pool = (int8_t)p->index;
    job->dstate = (uint8_t)st;
    job->seq = row->seq;
    job->fee_cents = row->fee_cents;
    job->sync = job->maybe_sent = true;
    job->wake_ms = job->news_ms = clock_wall_ms();  /* a first look, in case the link is up */
    job->phase = st == D_SENDING ? JOB_SENDING : st == D_CANCELLING ? JOB_CANCELLING : JOB_LIVE;
    p->live++;
    if (s_terminal((order_state_t)e->state)) {
        job->end = (uint8_t)e->state;
        job->phase = JOB_CANCELLING;
        job->dstate = D_CANCELLING;
    }
    return true;
}

bool dispatch_restore_done(dispatch_t *self, order_entry_t *e)
{
    if (e->job)
        return true;  /* its attempt is asked about when the link comes up */
    if (e->state != ORDER_DISPATCHING && e->state != ORDER_RIDER_ASSIGNED &&
        e->state != ORDER_PICKED_UP) {
        dispatch_plan(self, e);
        return true;
    }
    /* Between attempts when the process stopped: look for a rider now. */
    dispatch_job_t *job = s_job_new(self, e);
    if (!job)
        return false;
    job->phase = JOB_WAITING;
    job->wake_ms = clock_wall_ms();
    return true;
}

size_t dispatch_jobs(const dispatch_t *self)
{
    return self->job_count;
}

size_t dispatch_platform_count(const dispatch_t *self)
{
    return self->pool_count;
}

void dispatch_platform_read(const dispatch_t *self, size_t i, uint64_t now_mono_ms,
                            dispatch_platform_t *out)
{
    const pool_t *pl = &self->pools[i];
    *out = (dispatch_platform_t){
        .name = pl->name,
        .adapter = pl->cfg->adapter,
        .link_up = pl->link_up,
        .breaker = breaker_state_name(breaker_state(&pl->breaker, now_mono_ms)),
        .inflight = pl->live,
        .max_inflight = (uint64_t)pl->cfg->max_inflight,
        .window_requests = pl->breaker.requests,
        .window_failures = pl->breaker.failures,
        .quote_p99_s = metrics_quantile_seconds(&pl->quote_latency, 0.99),
        .dispatch_p99_s = metrics_quantile_seconds(&pl->dispatch_latency, 0.99),
        .quotes = pl->quotes,
        .dispatches = pl->dispatches,
        .refusals = pl->refusals,
        .failures = pl->failures,
    };
}

void dispatch_metrics(const dispatch_t *self, metrics_page_t *p, uint64_t now_mono_ms)
{
    char label[96];
    metrics_counter(p, "sluice_dispatch_decisions_total",
                    "Rounds of quotes that ended in a choice (or in no rider)",
                    (double)self->decisions);
    metrics_counter(p, "sluice_orders_delivered_total", "Orders delivered", (double)self->delivered);
    metrics_counter(p, "sluice_orders_failed_total", "Orders failed (no rider in time)",
                    (double)self->failed);
    metrics_counter(p, "sluice_redispatches_total",
                    "Attempts that ended without a delivery and sent the order on",
                    (double)self->redispatches);
    metrics_gauge(p, "sluice_dispatch_jobs", "Orders looking for or holding a rider",
                  (double)self->job_count);
    metrics_counter(p, "sluice_dispatch_sweeps_total",
                    "Riders asked about after stuck_minutes without news", (double)self->sweeps);
    metrics_counter(p, "sluice_dispatch_stuck_total",
                    "Of those, confirmed stuck (rider replaced, or escalated)", (double)self->stuck);
    static const struct {
        const char *name, *type, *help;
    } families[] = {
        {"sluice_platform_up", "gauge", "1 when the link to the platform's gateway is up"},
        {"sluice_platform_breaker_state", "gauge", "Circuit breaker: 0 closed, 1 open, 2 half-open"},
        {"sluice_platform_inflight", "gauge", "Dispatches at the platform not yet released"},
        {"sluice_platform_quotes_total", "counter", "Quote requests sent"},
        {"sluice_platform_dispatches_total", "counter", "Dispatch requests sent"},
        {"sluice_platform_refusals_total", "counter", "Dispatches the platform refused"},
        {"sluice_platform_failures_total", "counter",
         "Requests that failed (Error, timeout, unreachable) or were slow"},
    };
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) {
        metrics_family(p, families[f].name, families[f].type, families[f].help);
        for (size_t i = 0; i < self->pool_count; i++) {
            const pool_t *pl = &self->pools[i];
            double v[] = {pl->link_up, breaker_state(&pl->breaker, now_mono_ms), (double)pl->live,
                          (double)pl->quotes, (double)pl->dispatches, (double)pl->refusals,
                          (double)pl->failures};
            snprintf(label, sizeof label, "platform=\"%s\"", pl->name);
            metrics_sample(p, families[f].name, label, v[f]);
        }
    }
    metrics_family(p, "sluice_quote_latency_seconds", "histogram", "Quote round trips, by platform");
    for (size_t i = 0; i < self->pool_count; i++) {
        snprintf(label, sizeof label, "platform=\"%s\"", self->pools[i].name);
        metrics_histogram(p, "sluice_quote_latency_seconds", label, &self->pools[i].quote_latency);
    }
    metrics_family(p, "sluice_dispatch_latency_seconds", "histogram",
                   "Dispatch request round trips, by platform");
    for (size_t i = 0; i < self->pool_count; i++) {
        snprintf(label, sizeof label, "platform=\"%s\"", self->pools[i].name);
        metrics_histogram(p, "sluice_dispatch_latency_seconds", label,
                          &self->pools[i].dispatch_latency);
    }
}
