/* dispatch.c - owns the dispatch jobs (one per order looking for or holding
 * a rider), their phases, the quotes and the choice of pool for each
 * attempt; dispatch_attempt.c follows each attempt at its platform. */
#include "dispatch_internal.h"

#include "clock.h"
#include "log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DISPATCH_EARLY_REQUOTES 3     /* times a too-early rider is asked for again later */
#define DISPATCH_TELL_EVERY_MS 60000  /* "no rider" goes into the timeline at most this often */

/* ---- a job's phases: the transition table --------------------------------- */

#define PH(p) (1u << JOB_##p)

/* Each row: from any phase of FROM (a set), on EVENT, to TO. */
static const struct job_step {
    uint8_t from, event, to;
} s_job_steps[] = {
    /* Refused, Error or not sent, the platform gave it up, or released after
     * our cancel: the next round of quotes. */
    {PH(WAITING) | PH(SENDING) | PH(LIVE) | PH(CANCELLING), JOB_QUOTE, JOB_QUOTING},
    {PH(QUOTING), JOB_WAIT, JOB_WAITING},
    {PH(QUOTING), JOB_CHOOSE, JOB_SAVING},
    {PH(SAVING) | PH(SENDING), JOB_SEND, JOB_SENDING},   /* again: a restart, a lost link */
    {PH(SENDING) | PH(LIVE), JOB_PROGRESS, JOB_LIVE},
    {PH(SAVING) | PH(SENDING) | PH(LIVE), JOB_CANCEL, JOB_CANCELLING},
    {PH(CANCELLING), JOB_TOO_LATE, JOB_LIVE},
    {(uint8_t)~PH(DONE), JOB_FINISH, JOB_DONE},
};

static const char *const s_phase_names[JOB_PHASE_COUNT] = {
    "waiting", "quoting", "saving", "sending", "live", "cancelling", "done",
};
static const char *const s_job_event_names[JOB_EVENT_COUNT] = {
    "quote", "wait", "choose", "send", "progress", "cancel", "too late", "finish",
};

bool dispatch_job_to(dispatch_job_t *job, job_event_t ev)
{
    for (size_t i = 0; i < sizeof s_job_steps / sizeof s_job_steps[0]; i++)
        if ((s_job_steps[i].from & (1u << job->phase)) && s_job_steps[i].event == ev) {
            job->phase = s_job_steps[i].to;
            return true;
        }
    /* A gateway's events can cause it, as many as it sends: limited. */
    static log_limiter_t refused_log = LOG_LIMITER_INIT;
    log_limited(&refused_log, LOG_LEVEL_ERR, "order %s: its dispatch job cannot %s while %s; refused",
                job->entry->order_id, s_job_event_names[ev], s_phase_names[job->phase]);
    return false;
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

void dispatch_text(char *buf, size_t len, const char *fmt, ...)
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

static bool s_has_rider(const dispatch_job_t *job)
{
    return job->dstate == DISPATCH_ASSIGNED || job->dstate == DISPATCH_ARRIVED ||
           job->dstate == DISPATCH_PICKED_UP || job->dstate == DISPATCH_DELIVERED;
}

const char *dispatch_clock_text(uint64_t ms, char buf[16])
{
    uint64_t s = ms / 1000 % 86400;
    snprintf(buf, 16, "%02u:%02u:%02uZ", (unsigned)(s / 3600), (unsigned)(s / 60 % 60),
             (unsigned)(s % 60));
    return buf;
}

pool_t *dispatch_pool(const dispatch_t *d, int index)
{
    return index >= 0 && (size_t)index < d->pool_count ? d->pools[index] : NULL;
}

const config_store_t *dispatch_store(dispatch_t *d, const order_entry_t *e)
{
    return d->host.store(d->host.arg, e->store_id);
}

/* ---- jobs: life and timers ---------------------------------------------- */

/* s_ready_at: when E is ready, as far as NOW_MS knows. READY is reached by
 * MarkReady only, so an order restored in it was made by now at the latest
 * (the moment of the mark is not kept). */
static uint64_t s_ready_at(const order_entry_t *e, uint64_t now_ms)
{
    if ((e->marked_ready || e->state == ORDER_READY) && now_ms < e->promised_ready_at_ms)
        return now_ms;
    return e->promised_ready_at_ms;
}

void dispatch_job_timer(dispatch_t *d, dispatch_job_t *job)
{
    d->host.timer(d->host.arg, job->entry);
}

void dispatch_job_wake(dispatch_t *d, dispatch_job_t *job, uint64_t at_ms)
{
    job->wake_ms = at_ms;
    dispatch_job_timer(d, job);
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
    job->ready_at_ms = s_ready_at(e, clock_wall_ms());
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

void dispatch_job_finish(dispatch_t *d, dispatch_job_t *job)
{
    if (!dispatch_job_to(job, JOB_FINISH))
        return;
    job->wake_ms = UINT64_MAX;
    if (job->outstanding == 0)
        s_job_free(d, job);
    else
        dispatch_job_timer(d, job);
}

request_ctx_t *dispatch_request_new(dispatch_t *d, dispatch_job_t *job, int pool, int rank)
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

bool dispatch_request_end(request_ctx_t *ctx, dispatch_job_t **job_out)
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

void dispatch_job_change(dispatch_t *d, dispatch_job_t *job, order_state_t to, bool keep,
                         change_after_t after, const char *detail)
{
    order_entry_t *e = job->entry;
    if (order_state_is_terminal((order_state_t)e->state) || e->cancel_pending)
        keep = true;   /* a cancel (or the end) the requester asked for wins */
    if (keep)
        to = (order_state_t)e->state;
    change_t c = {.entry = e, .to = to, .keep_state = keep, .engine = true, .after = (uint8_t)after,
                  .at_ms = clock_wall_ms()};
    dispatch_text(c.detail, sizeof c.detail, "%s", detail);
    pool_t *p = dispatch_pool(d, job->pool);
    if (p && job->dstate != DISPATCH_NONE) {
        change_dispatch_t *r = &c.dispatch;
        r->attempt = e->attempts;
        r->state = dispatch_state_name((dispatch_state_t)job->dstate);
        r->platform = pool_name(p);
        r->seq = job->seq;
        r->fee_cents = job->fee_cents;
        r->fee_unknown = !job->fee_said;
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

void dispatch_job_fail(dispatch_t *d, dispatch_job_t *job, const char *why)
{
    char detail[ORDER_DETAIL_MAX];
    dispatch_text(detail, sizeof detail, "failed: %s; refund due", why);
    dispatch_job_change(d, job, ORDER_FAILED, false, CHANGE_AFTER_NOTHING, detail);
    d->failed++;
    log_notice("order %s: failed: %s", job->entry->order_id, why);
    job->end = ORDER_FAILED;
    if (job->pool >= 0 && job->phase != JOB_CANCELLING)
        dispatch_attempt_cancel(d, job, "no rider in time");
    else if (job->pool < 0)
        dispatch_job_finish(d, job);
}

/* ---- quotes and the choice ----------------------------------------------- */

void dispatch_learn_riders(dispatch_t *d, pool_t *p, uint32_t store_id, bool rider,
                           adapter_refusal_t refusal)
{
    if (rider) {
        pool_has_rider(p, store_id);
    } else if (refusal == ADAPTER_REFUSAL_NO_RIDER) {
        /* Waiting orders of the store ask again every retry_seconds and keep
         * it fresh; twice that, so one late round does not let it lapse. */
        uint64_t stands = 2u * (uint64_t)d->cfg->dispatch.retry_seconds * 1000u;
        pool_no_rider(p, store_id, clock_mono_ms() + stands);
    }
}

static void s_job_choose(dispatch_t *d, dispatch_job_t *job, uint64_t now);

static void s_quote_done(void *arg, const adapter_done_t *done, const adapter_quote_t *q)
{
    request_ctx_t *ctx = arg;
    dispatch_t *d = ctx->d;
    pool_t *p = dispatch_pool(d, ctx->pool);
    int rank = ctx->rank;
    dispatch_job_t *job;
    pool_quote_answered(p, &ctx->ticket, done);
    if (done->outcome == ADAPTER_OK)
        dispatch_learn_riders(d, p, ctx->job->entry->store_id, q->available, q->refusal);
    if (!dispatch_request_end(ctx, &job) || job->phase != JOB_QUOTING)
        return;
    job->quotes_out--;
    uint64_t now = clock_wall_ms();
    size_t used = strlen(job->why);
    const char *sep = used ? ", " : "";
    if (done->outcome != ADAPTER_OK) {
        dispatch_text(job->why + used, sizeof job->why - used, "%s%s %s", sep, pool_name(p),
                      done->outcome == ADAPTER_ERROR ? adapter_error_name(done->error.code)
                                                     : adapter_outcome_name(done->outcome));
    } else if (!q->available) {
        dispatch_text(job->why + used, sizeof job->why - used, "%s%s %s", sep, pool_name(p),
                      adapter_refusal_name(q->refusal));
    } else {
        if (q->pickup_at_ms > now)
            pool_learn_eta(p, q->pickup_at_ms - now);
        uint64_t ready = job->ready_at_ms;
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
            job->best = (int8_t)pool_index(p);
            job->best_rank = (int8_t)rank;
            job->best_pickup_ms = q->pickup_at_ms;
            job->best_fee = q->fee_cents;
        }
    }
    if (job->quotes_out == 0)
        s_job_choose(d, job, now);
}

void dispatch_job_quote(dispatch_t *d, dispatch_job_t *job, uint64_t now)
{
    order_entry_t *e = job->entry;
    const config_store_t *st = dispatch_store(d, e);
    if (!st) {
        dispatch_job_fail(d, job,
                          "the store left the configuration, so there is no pickup address");
        return;
    }
    if (!dispatch_job_to(job, JOB_QUOTE))
        return;
    job->best = -1;
    job->quoted = 0;
    job->why[0] = '\0';
    uint64_t now_mono = clock_mono_ms();
    adapter_quote_req_t req = {
        .order_id = e->order_id, .store_id = e->store_id,
        .pickup = {st->lat, st->lng}, .dropoff = {e->dropoff_lat, e->dropoff_lng},
        .ready_at_ms = job->ready_at_ms, .items = e->drinks ? e->drinks : 1,
    };
    job->quotes_out = 1;  /* held until every quote is sent, so none completes the round early */
    for (int i = 0; i < st->platform_count; i++) {
        pool_t *p = dispatch_pool(d, st->platforms[i]);
        if (!p || (job->tried & (1u << pool_index(p))))
            continue;
        request_ctx_t *ctx = dispatch_request_new(d, job, pool_index(p), i);
        if (!ctx)
            continue;
        const char *skip = pool_unusable(p, now_mono);
        if (!skip && !pool_admit(p, &ctx->ticket))
            skip = "breaker half-open, probe out";
        if (!skip) {
            adapter_send_t rc = pool_quote(p, &ctx->ticket, &req, s_quote_done, ctx);
            if (rc != ADAPTER_SEND_OK)
                skip = adapter_send_name(rc);
        }
        if (skip) {
            free(ctx);
            size_t used = strlen(job->why);
            dispatch_text(job->why + used, sizeof job->why - used, "%s%s %s", used ? ", " : "",
                          pool_name(p), skip);
            continue;
        }
        job->outstanding++;
        job->quotes_out++;
        job->quoted |= 1u << pool_index(p);
    }
    job->quotes_out--;
    if (job->quotes_out == 0)
        s_job_choose(d, job, now);
}

static void s_job_choose(dispatch_t *d, dispatch_job_t *job, uint64_t now)
{
    order_entry_t *e = job->entry;
    char detail[ORDER_DETAIL_MAX];
    if (job->end) {
        dispatch_job_finish(d, job);
        return;
    }
    if (e->changing && e->cancel_pending) {  /* a cancel is committing: wait for it */
        if (dispatch_job_to(job, JOB_WAIT))
            dispatch_job_wake(d, job, now + DISPATCH_RETRY_SOON_MS);
        return;
    }
    d->decisions++;
    if (job->best < 0) {
        /* Nobody this round: the pools that answered no are tried; when every
         * pool is, a new round starts after retry_seconds. */
        dispatch_text(detail, sizeof detail, "no rider available (%s); asking again every %d s",
                      job->why[0] ? job->why : "no platform", d->cfg->dispatch.retry_seconds);
        job->tried = 0;
        if (!dispatch_job_to(job, JOB_WAIT))
            return;
        /* The timeline hears it at most once a minute, not every round. */
        if (!job->told_at_ms || now >= job->told_at_ms + DISPATCH_TELL_EVERY_MS) {
            dispatch_job_change(d, job, (order_state_t)e->state, true, CHANGE_AFTER_NOTHING,
                                detail);
            job->told_at_ms = now;
        }
        dispatch_job_wake(d, job, now + (uint64_t)d->cfg->dispatch.retry_seconds * 1000u);
        return;
    }
    uint64_t margin = (uint64_t)d->cfg->dispatch.margin_seconds * 1000u;
    uint64_t ready = job->ready_at_ms;
    if (job->best_pickup_ms + margin < ready && job->early_requotes < DISPATCH_EARLY_REQUOTES) {
        /* The rider would wait at the counter past the margin: ask later. */
        job->early_requotes++;
        if (dispatch_job_to(job, JOB_WAIT))
            dispatch_job_wake(d, job, now + (ready - margin - job->best_pickup_ms));
        return;
    }
    dispatch_attempt_begin(d, job, dispatch_pool(d, job->best));
}

static void s_pool_breaker(void *arg, const pool_t *p, const char *state, const char *detail)
{
    dispatch_t *d = arg;
    if (d->host.breaker)
        d->host.breaker(d->host.arg, pool_name(p), state, detail);
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
    pool_listener_t listener = {.event = dispatch_attempt_event,
                                .sync = dispatch_attempt_pool_sync,
                                .breaker = s_pool_breaker,
                                .arg = d};
    uint64_t eta = (uint64_t)cfg->dispatch.pickup_eta_seconds * 1000u;
    for (size_t i = 0; i < cfg->platform_count; i++) {
        d->pools[i] = pool_new((int)i, &cfg->platforms[i], eta, zmq_ctx, &listener);
        if (!d->pools[i]) {
            dispatch_destroy(&d);
            return NULL;
        }
        d->pool_count = i + 1;
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
        pool_destroy(&d->pools[i]);
    while (d->jobs) {
        dispatch_job_t *job = d->jobs;
        d->jobs = job->next;
        job->entry->job = NULL;
        free(job);
    }
    free(d);
    *self = NULL;
}

void dispatch_configure(dispatch_t *self, const config_t *cfg)
{
    self->cfg = cfg;
    for (size_t i = 0; i < self->pool_count; i++)
        pool_configure(self->pools[i], &cfg->platforms[i]);
}

size_t dispatch_poll(dispatch_t *self, zmq_pollitem_t *items, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < self->pool_count && n < max; i++)
        n += pool_poll(self->pools[i], items + n, max - n);
    return n;
}

int dispatch_timeout_ms(const dispatch_t *self, uint64_t now_mono_ms)
{
    int timeout = -1;
    for (size_t i = 0; i < self->pool_count; i++) {
        int t = pool_timeout_ms(self->pools[i], now_mono_ms);
        if (t >= 0 && (timeout < 0 || t < timeout))
            timeout = t;
    }
    return timeout;
}

void dispatch_step(dispatch_t *self, uint64_t now_mono_ms)
{
    for (size_t i = 0; i < self->pool_count; i++)
        pool_step(self->pools[i], now_mono_ms);
}

void dispatch_plan(dispatch_t *self, order_entry_t *e)
{
    e->dispatch_at_ms = 0;
    const config_store_t *st = dispatch_store(self, e);
    if (!st || st->platform_count == 0 || e->job || order_state_is_terminal((order_state_t)e->state))
        return;
    uint64_t eta = 0;
    for (int i = 0; i < st->platform_count; i++) {
        pool_t *p = dispatch_pool(self, st->platforms[i]);
        if (p && pool_eta_ms(p) > eta)
            eta = pool_eta_ms(p);
    }
    uint64_t lead = eta + (uint64_t)self->cfg->dispatch.margin_seconds * 1000u;
    uint64_t ready = s_ready_at(e, clock_wall_ms());
    e->dispatch_at_ms = ready > lead ? ready - lead : 1;
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
        if (e->pending || order_state_is_terminal((order_state_t)e->state) || !(job = s_job_new(self, e)))
            return;
        if (now_ms < job->hold_until_ms) {
            dispatch_job_quote(self, job, now_ms);
            return;
        }
        /* Too late already (the daemon was down past the hold): no quotes. */
    }
    if (job->phase == JOB_DONE)
        return;
    if (!job->end && !s_has_rider(job) && now_ms >= job->hold_until_ms) {
        char why[80];
        dispatch_text(why, sizeof why, "no rider assigned within %d minutes of the ready time",
                      self->cfg->dispatch.max_hold_minutes);
        dispatch_job_fail(self, job, why);
        return;
    }
    if (job->phase == JOB_LIVE && !job->end && !job->sweeping && job->news_ms &&
        now_ms >= job->news_ms + job->stuck_ms) {
        /* No news for stuck_minutes: the platform's word first. */
        job->sweeping = true;
        self->sweeps++;
        dispatch_attempt_status(self, job);
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
        dispatch_job_quote(self, job, now_ms);
        break;
    case JOB_SENDING:
        if (job->sync && pool_link_up(dispatch_pool(self, job->pool)))
            dispatch_attempt_sync(self, job);
        break;
    case JOB_CANCELLING:
        dispatch_attempt_send_cancel(self, job, "cancel sent again");
        break;
    case JOB_LIVE:
        if (job->sync) {
            dispatch_attempt_status(self, job);
        } else if (job->dstate == DISPATCH_PENDING) {
            char why[80];
            dispatch_text(why, sizeof why, "no rider assigned within %d s",
                          self->cfg->dispatch.assign_timeout_seconds);
            dispatch_attempt_cancel(self, job, why);
        }
        break;
    default:
        break;
    }
}

void dispatch_marked_ready(dispatch_t *self, order_entry_t *e, uint64_t now_ms)
{
    dispatch_job_t *job = e->job;
    if (!job) {
        if (!e->dispatch_at_ms)
            return;   /* no platforms, or nothing more to do */
        /* Made: the rider is wanted now, not at the promised time's plan. */
        e->dispatch_at_ms = 0;
        if (e->pending || order_state_is_terminal((order_state_t)e->state) ||
            !(job = s_job_new(self, e)))
            return;
        job->phase = JOB_WAITING;
    }
    if (now_ms < job->ready_at_ms)
        job->ready_at_ms = now_ms;
    /* A job waiting for its first round, for a rider who would have waited
     * at the counter, or for the next round after "no rider" asks now. One
     * with quotes out chooses by the new time; one whose rider is on the way
     * keeps that rider (the protocol has no way to hurry one). */
    if (job->phase == JOB_WAITING)
        dispatch_job_wake(self, job, now_ms);
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
        dispatch_job_finish(self, job);
        break;
    case JOB_QUOTING:
    case JOB_SAVING:
        break;  /* the quotes' end, or the outbox commit, finishes it */
    case JOB_SENDING:
    case JOB_LIVE:
        dispatch_attempt_cancel(self, job, "the order was cancelled");
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
        dispatch_attempt_cancel(self, job, "the order was cancelled");
        return;
    }
    dispatch_attempt_send(self, job);
}

bool dispatch_can_deliver(const dispatch_t *self, const config_store_t *store,
                          uint64_t *retry_after_ms, char *why, size_t why_len)
{
    if (store->platform_count == 0)
        return true;
    uint64_t now = clock_mono_ms(), soonest = UINT64_MAX;
    /* Room for every platform's name (1..64 bytes) and reason: it is cut to
     * WHY_LEN at a character boundary only at the end. */
    char all[DISPATCH_POOLS_MAX * (64 + 32) + 64];
    size_t used = 0;
    for (int i = 0; i < store->platform_count; i++) {
        const pool_t *p = dispatch_pool(self, store->platforms[i]);
        if (!p)
            continue;
        uint64_t wait;
        const char *unable = pool_unable(p, store->id, now, &wait);
        if (!unable)
            return true;
        int n = snprintf(all + used, sizeof all - used, "%s%s %s", used ? ", " : "",
                         pool_name(p), unable);
        if (n > 0 && (size_t)n < sizeof all - used)
            used += (size_t)n;
        if (wait < soonest)
            soonest = wait;
    }
    all[used] = '\0';
    dispatch_text(why, why_len, "platforms: none can take an order now (%s)", all);
    *retry_after_ms = soonest == UINT64_MAX ? 1000 : soonest;
    return false;
}

bool dispatch_restore_attempt(dispatch_t *self, order_entry_t *e, const dispatch_row_t *row)
{
    pool_t *p = NULL;
    for (size_t i = 0; i < self->pool_count && !p; i++)
        if (strcmp(pool_name(self->pools[i]), row->platform) == 0)
            p = self->pools[i];
    dispatch_state_t st = dispatch_state_parse(row->state);
    if (!p || st == DISPATCH_NONE) {
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
    /* Restored as the database has it, not stepped: the platform is asked
     * what became of it once its link is up. */
    job->pool = (int8_t)pool_index(p);
    job->dstate = (uint8_t)st;
    job->seq = row->seq;
    job->fee_cents = row->fee_cents;
    job->fee_said = row->fee_cents > 0;
    job->sync = job->maybe_sent = true;
    job->wake_ms = job->news_ms = clock_wall_ms();  /* a first look, in case the link is up */
    job->phase = st == DISPATCH_SENDING      ? JOB_SENDING
                 : st == DISPATCH_CANCELLING ? JOB_CANCELLING
                                             : JOB_LIVE;
    pool_take(p);
    if (order_state_is_terminal((order_state_t)e->state)) {
        job->end = (uint8_t)e->state;
        job->phase = JOB_CANCELLING;
        job->dstate = DISPATCH_CANCELLING;
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
    pool_read(self->pools[i], now_mono_ms, out);
}

void dispatch_metrics(const dispatch_t *self, metrics_page_t *p, uint64_t now_mono_ms)
{
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
    pool_metrics(self->pools, self->pool_count, p, now_mono_ms);
}
