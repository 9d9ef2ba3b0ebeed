/* dispatch_attempt.c - owns a dispatch job's current attempt at its
 * platform: its outbox row, the requests that carry it (dispatch, cancel,
 * status), what the platform answers or says unasked (rider events, a link
 * that came back), each applied along the attempt's transition table
 * (dispatch_state.h), and its release, after which dispatch.c looks for the
 * next pool. */
#include "dispatch_internal.h"

#include "clock.h"
#include "log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the platform says of a key (a reply, a status or an event), as a step
 * of the attempt's table. */
static const struct report {
    adapter_state_t said;
    dispatch_state_t state;
    dispatch_event_t event;
} s_reports[] = {
    {ADAPTER_STATE_PENDING, DISPATCH_PENDING, DISPATCH_EV_PENDING},
    {ADAPTER_STATE_ASSIGNED, DISPATCH_ASSIGNED, DISPATCH_EV_ASSIGNED},
    {ADAPTER_STATE_ARRIVED, DISPATCH_ARRIVED, DISPATCH_EV_ARRIVED},
    {ADAPTER_STATE_PICKED_UP, DISPATCH_PICKED_UP, DISPATCH_EV_PICKED_UP},
    {ADAPTER_STATE_DELIVERED, DISPATCH_DELIVERED, DISPATCH_EV_DELIVERED},
    {ADAPTER_STATE_CANCELLED, DISPATCH_CANCELLED, DISPATCH_EV_CANCELLED},
    {ADAPTER_STATE_REFUSED, DISPATCH_REFUSED, DISPATCH_EV_REFUSED},
};

/* s_report: the row of what the platform says when it names state SAID;
 * NULL for a state that says nothing about a rider (NONE, UNKNOWN). */
static const struct report *s_report(adapter_state_t said)
{
    for (size_t i = 0; i < sizeof s_reports / sizeof s_reports[0]; i++)
        if (s_reports[i].said == said)
            return &s_reports[i];
    return NULL;
}

/* s_job_pending_untimed: accepted, no rider yet, and no timer to give up on it. */
static bool s_job_pending_untimed(const dispatch_job_t *job)
{
    return job->phase == JOB_LIVE && job->dstate == DISPATCH_PENDING && job->wake_ms == UINT64_MAX;
}

/* s_attempt_next: the current attempt's state after EV, by dispatch_state.h's
 * table, in *NEXT; a step the table does not have is logged and refused. */
static bool s_attempt_next(const dispatch_job_t *job, dispatch_event_t ev, dispatch_state_t *next)
{
    if (dispatch_state_step((dispatch_state_t)job->dstate, ev, next))
        return true;
    /* A gateway's events and replies can cause it, as many as it sends. */
    static log_limiter_t refused_log = LOG_LIMITER_INIT;
    log_limited(&refused_log, LOG_LEVEL_ERR, "order %s: attempt %s cannot take '%s' while %s; refused",
                job->entry->order_id, job->key, dispatch_state_event_name(ev),
                dispatch_state_name((dispatch_state_t)job->dstate));
    return false;
}

static bool s_attempt_to(dispatch_job_t *job, dispatch_event_t ev)
{
    dispatch_state_t next;
    if (!s_attempt_next(job, ev, &next))
        return false;
    job->dstate = (uint8_t)next;
    return true;
}

/* s_job_fee: the platform named the current attempt's fee, CENTS. A
 * delivery fee of 0 is proto3's "not set": the fee stays as it was. */
static void s_job_fee(dispatch_job_t *job, uint32_t cents)
{
    if (cents == 0)
        return;
    job->fee_cents = cents;
    job->fee_said = true;
}

/* s_job_cancel_fee: the current attempt ended CANCELLED, and FEE is what the
 * platform charges for that (0 when free). It replaces the delivery fee
 * whatever it says: a cancel whose charge was not said is stored as not
 * known, never as the price of a delivery that did not happen. */
static void s_job_cancel_fee(dispatch_job_t *job, adapter_fee_t fee)
{
    job->fee_cents = fee.said ? fee.cents : 0;
    job->fee_said = fee.said;
}

/* s_job_released: the current attempt is over and no rider of it will come
 * (refused, Error, cancelled and released): EV says which. The order goes to
 * the next pool, unless it is ending. */
static void s_job_released(dispatch_t *d, dispatch_job_t *job, dispatch_event_t ev,
                           const char *detail)
{
    pool_t *p = dispatch_pool(d, job->pool);
    bool picked_up = job->dstate == DISPATCH_PICKED_UP;
    if (!s_attempt_to(job, ev))
        return;
    char told[ORDER_DETAIL_MAX];
    if (ev == DISPATCH_EV_CANCELLED && job->fee_said && job->fee_cents > 0) {
        /* Support and accounts see the charge where the cancel is told. */
        dispatch_text(told, sizeof told, "%s; cancel fee %" PRIu32 " cents", detail,
                      job->fee_cents);
        detail = told;
    }
    dispatch_job_change(d, job, ORDER_DISPATCHING, job->end != 0, CHANGE_AFTER_NOTHING, detail);
    if (p) {
        pool_release(p);
        job->tried |= 1u << pool_index(p);
    }
    job->pool = -1;
    job->dstate = DISPATCH_NONE;   /* the attempt is over: the next one starts afresh */
    job->rider_ref[0] = '\0';
    job->fee_cents = 0;
    job->fee_said = false;
    job->sync = job->maybe_sent = false;
    if (job->end) {
        dispatch_job_finish(d, job);
        return;
    }
    if (picked_up) {
        dispatch_job_fail(d, job, "the platform gave the order up after its rider picked it up");
        return;
    }
    d->redispatches++;
    dispatch_job_quote(d, job, clock_wall_ms());
}

/* s_job_apply: the platform says the current attempt is in state SAID (in a
 * reply, an event or a status). DETAIL goes into the timeline. */
static void s_job_apply(dispatch_t *d, dispatch_job_t *job, adapter_state_t said,
                        const char *detail)
{
    pool_t *p = dispatch_pool(d, job->pool);
    const struct report *r = s_report(said);
    if (!p || !r || r->state == job->dstate)
        return;
    if (r->state == DISPATCH_CANCELLED || r->state == DISPATCH_REFUSED) {
        s_job_released(d, job, r->event, detail);
        return;
    }
    dispatch_state_t next;
    if (!s_attempt_next(job, r->event, &next) ||
        (job->phase != JOB_CANCELLING && !dispatch_job_to(job, JOB_PROGRESS)))
        return;
    job->dstate = (uint8_t)next;
    order_state_t to = ORDER_DISPATCHING;
    if (r->state == DISPATCH_ASSIGNED || r->state == DISPATCH_ARRIVED)
        to = ORDER_RIDER_ASSIGNED;
    else if (r->state == DISPATCH_PICKED_UP)
        to = ORDER_PICKED_UP;
    else if (r->state == DISPATCH_DELIVERED)
        to = ORDER_DELIVERED;
    job->news_ms = clock_wall_ms();
    dispatch_job_change(d, job, to, false, CHANGE_AFTER_NOTHING, detail);
    if (r->state == DISPATCH_DELIVERED) {
        pool_release(p);
        d->delivered++;
        job->pool = -1;
        dispatch_job_finish(d, job);
        return;
    }
    /* A rider accepted but not assigned gets assign_timeout_seconds. */
    uint64_t wake = UINT64_MAX;
    if (r->state == DISPATCH_PENDING && job->phase == JOB_LIVE)
        wake = clock_wall_ms() + (uint64_t)d->cfg->dispatch.assign_timeout_seconds * 1000u;
    dispatch_job_wake(d, job, wake);
}

void dispatch_attempt_begin(dispatch_t *d, dispatch_job_t *job, pool_t *p)
{
    order_entry_t *e = job->entry;
    char detail[ORDER_DETAIL_MAX], t[16];
    dispatch_state_t next;
    if (!s_attempt_next(job, DISPATCH_EV_SEND, &next) || !dispatch_job_to(job, JOB_CHOOSE))
        return;
    e->attempts++;
    dispatch_key(e->order_id, e->attempts, job->key);
    job->pool = (int8_t)pool_index(p);
    job->dstate = (uint8_t)next;
    job->seq = 0;
    job->pickup_at_ms = job->best_pickup_ms;
    job->fee_cents = job->best_fee;
    job->fee_said = job->best_fee > 0;
    job->maybe_sent = false;
    pool_take(p);
    dispatch_text(detail, sizeof detail,
                  "dispatching to %s (attempt %u, key %s): rider at the store ~%s, fee %" PRIu32
                  " cents", pool_name(p), (unsigned)e->attempts, job->key,
                  dispatch_clock_text(job->pickup_at_ms, t), job->fee_cents);
    dispatch_job_change(d, job, ORDER_DISPATCHING, false, CHANGE_AFTER_SEND_DISPATCH, detail);
}

static void s_dispatch_done(void *arg, const adapter_done_t *done, const adapter_dispatch_t *r)
{
    request_ctx_t *ctx = arg;
    dispatch_t *d = ctx->d;
    pool_t *p = dispatch_pool(d, ctx->pool);
    dispatch_job_t *job;
    pool_dispatch_answered(p, &ctx->ticket, done, done->outcome == ADAPTER_OK ? r : NULL);
    if (done->outcome == ADAPTER_OK)
        dispatch_learn_riders(d, p, ctx->job->entry->store_id, r->accepted, r->refusal);
    if (!dispatch_request_end(ctx, &job) || job->phase != JOB_SENDING || job->pool != pool_index(p))
        return;
    char detail[ORDER_DETAIL_MAX];
    if (done->outcome == ADAPTER_ERROR) {
        dispatch_text(detail, sizeof detail, "%s answered %s (%s); trying another platform",
                      pool_name(p), adapter_error_name(done->error.code), done->error.message);
        s_job_released(d, job, DISPATCH_EV_ERROR, detail);
        return;
    }
    if (done->outcome != ADAPTER_OK) {
        char why[80];
        dispatch_text(why, sizeof why, "no answer to the dispatch (%s)",
                      adapter_outcome_name(done->outcome));
        dispatch_attempt_cancel(d, job, why);
        return;
    }
    if (!r->accepted) {
        dispatch_text(detail, sizeof detail, "%s refused: %s; trying another platform",
                      pool_name(p), adapter_refusal_name(r->refusal));
        s_job_released(d, job, DISPATCH_EV_REFUSED, detail);
        return;
    }
    snprintf(job->rider_ref, sizeof job->rider_ref, "%s", r->rider_ref);
    s_job_fee(job, r->fee_cents);
    if (r->pickup_at_ms)
        job->pickup_at_ms = r->pickup_at_ms;
    dispatch_text(detail, sizeof detail, "%s accepted%s%s%s", pool_name(p),
                  r->rider_ref[0] ? ": rider " : "", r->rider_ref, r->duplicate ? " (repeat)" : "");
    /* Accepted says PENDING at least, whatever state the reply names. */
    s_job_apply(d, job, s_report(r->state) ? r->state : ADAPTER_STATE_PENDING, detail);
}

void dispatch_attempt_send(dispatch_t *d, dispatch_job_t *job)
{
    order_entry_t *e = job->entry;
    pool_t *p = dispatch_pool(d, job->pool);
    const config_store_t *st = dispatch_store(d, e);
    if (!dispatch_job_to(job, JOB_SEND))
        return;
    job->sync = false;
    if (!p || !st) {
        dispatch_job_fail(d, job,
                          "the store left the configuration, so there is no pickup address");
        return;
    }
    adapter_dispatch_req_t req = {
        .key = job->key, .order_id = e->order_id, .store_id = e->store_id,
        .pickup = {st->lat, st->lng}, .dropoff = {e->dropoff_lat, e->dropoff_lng},
        .ready_at_ms = job->ready_at_ms, .items = e->drinks ? e->drinks : 1,
        .deliver_by_ms = e->promised_delivery_at_ms,
    };
    request_ctx_t *ctx = dispatch_request_new(d, job, pool_index(p), 0);
    adapter_send_t rc = ADAPTER_SEND_FAILED;
    if (ctx) {
        pool_count(p, &ctx->ticket);
        rc = pool_dispatch(p, &ctx->ticket, &req, s_dispatch_done, ctx);
    }
    if (rc == ADAPTER_SEND_OK) {
        job->outstanding++;
        job->maybe_sent = true;
        return;
    }
    free(ctx);
    if (job->maybe_sent) {
        /* An earlier send (or process) may have delivered it: only the same
         * key again, or its cancel, is safe. */
        job->sync = true;
        dispatch_job_wake(d, job, clock_wall_ms() + DISPATCH_RETRY_SOON_MS);
        return;
    }
    char detail[ORDER_DETAIL_MAX];
    dispatch_text(detail, sizeof detail, "%s: dispatch not sent (%s); trying another platform",
                  pool_name(p), adapter_send_name(rc));
    s_job_released(d, job, DISPATCH_EV_ERROR, detail);
}

static void s_cancel_done(void *arg, const adapter_done_t *done, const adapter_cancel_t *r)
{
    request_ctx_t *ctx = arg;
    dispatch_t *d = ctx->d;
    pool_t *p = dispatch_pool(d, ctx->pool);
    dispatch_job_t *job;
    pool_answered(p, &ctx->ticket, done);
    if (!dispatch_request_end(ctx, &job) || job->phase != JOB_CANCELLING ||
        job->pool != pool_index(p))
        return;
    if (done->outcome != ADAPTER_OK || strcmp(r->key, job->key) != 0) {
        dispatch_job_wake(d, job, clock_wall_ms() + DISPATCH_RETRY_SOON_MS);  /* send it again */
        return;
    }
    char detail[ORDER_DETAIL_MAX];
    if (r->released) {
        if (r->state == ADAPTER_STATE_CANCELLED)
            s_job_cancel_fee(job, r->cancel_fee);
        dispatch_text(detail, sizeof detail, "%s released attempt %u%s", pool_name(p),
                      (unsigned)job->entry->attempts,
                      r->previous == ADAPTER_STATE_UNKNOWN ? " (it had never arrived)" : "");
        s_job_released(d, job,
                       r->state == ADAPTER_STATE_REFUSED ? DISPATCH_EV_REFUSED
                                                         : DISPATCH_EV_CANCELLED,
                       detail);
        return;
    }
    /* Too late to cancel: the rider has it. Follow it to the end. */
    if (r->rider_ref[0])
        snprintf(job->rider_ref, sizeof job->rider_ref, "%s", r->rider_ref);
    dispatch_text(detail, sizeof detail, "%s could not cancel: the order is %s", pool_name(p),
                  adapter_state_name(r->state));
    if (dispatch_job_to(job, JOB_TOO_LATE))
        s_job_apply(d, job, r->state, detail);
}

void dispatch_attempt_send_cancel(dispatch_t *d, dispatch_job_t *job, const char *reason)
{
    pool_t *p = dispatch_pool(d, job->pool);
    request_ctx_t *ctx = dispatch_request_new(d, job, pool_index(p), 0);
    adapter_send_t rc = ADAPTER_SEND_FAILED;
    if (ctx) {
        pool_count(p, &ctx->ticket);
        rc = pool_cancel(p, &ctx->ticket, job->key, reason,
                         pool_cancel_deadline(p, job->cancel_tries, clock_mono_ms()),
                         s_cancel_done, ctx);
        if (job->cancel_tries < UINT8_MAX)
            job->cancel_tries++;
    }
    if (rc == ADAPTER_SEND_OK) {
        job->outstanding++;
        return;
    }
    free(ctx);
    job->sync = true;
    dispatch_job_wake(d, job, clock_wall_ms() + DISPATCH_RETRY_SOON_MS);
}

void dispatch_attempt_cancel(dispatch_t *d, dispatch_job_t *job, const char *reason)
{
    pool_t *p = dispatch_pool(d, job->pool);
    dispatch_state_t next;
    if (!s_attempt_next(job, DISPATCH_EV_CANCEL, &next) || !dispatch_job_to(job, JOB_CANCEL))
        return;
    char detail[ORDER_DETAIL_MAX];
    dispatch_text(detail, sizeof detail, "cancelling attempt %u at %s: %s",
                  (unsigned)job->entry->attempts, pool_name(p), reason);
    job->dstate = (uint8_t)next;
    job->wake_ms = UINT64_MAX;
    job->cancel_tries = 0;
    dispatch_job_change(d, job, (order_state_t)job->entry->state, true, CHANGE_AFTER_NOTHING,
                        detail);
    dispatch_attempt_send_cancel(d, job, reason);
    dispatch_job_timer(d, job);
}

/* s_job_stuck: the platform confirms no progress for stuck_minutes. A rider
 * who has not picked up is replaced; an order on its way is escalated (a log
 * line and a timeline entry) and looked at again after as long. */
static void s_job_stuck(dispatch_t *d, dispatch_job_t *job)
{
    pool_t *p = dispatch_pool(d, job->pool);
    unsigned minutes = (unsigned)(job->stuck_ms / 60000u);
    const char *says = dispatch_state_name((dispatch_state_t)job->dstate);
    char why[ORDER_DETAIL_MAX];
    d->stuck++;
    job->news_ms = clock_wall_ms();
    if (job->dstate == DISPATCH_ASSIGNED || job->dstate == DISPATCH_ARRIVED) {
        /* Support reads this line: it says the platform was asked, and what
         * it answered. */
        dispatch_text(why, sizeof why, "rider %s has not picked up in %u minute%s; %s says %s",
                      job->rider_ref, minutes, minutes == 1 ? "" : "s", pool_name(p), says);
        log_warning("order %s: %s; replacing the rider", job->entry->order_id, why);
        dispatch_attempt_cancel(d, job, why);
        return;
    }
    dispatch_text(why, sizeof why, "stuck: no news from %s for %u minute%s; it says %s (rider %s)",
                  pool_name(p), minutes, minutes == 1 ? "" : "s", says, job->rider_ref);
    log_warning("order %s: %s; support should call the platform", job->entry->order_id, why);
    dispatch_job_change(d, job, (order_state_t)job->entry->state, true, CHANGE_AFTER_NOTHING, why);
    dispatch_job_timer(d, job);
}

static void s_status_done(void *arg, const adapter_done_t *done, const adapter_status_t *r)
{
    request_ctx_t *ctx = arg;
    dispatch_t *d = ctx->d;
    pool_t *p = dispatch_pool(d, ctx->pool);
    dispatch_job_t *job;
    pool_answered(p, &ctx->ticket, done);
    if (!dispatch_request_end(ctx, &job) || job->pool != pool_index(p))
        return;
    bool sweeping = job->sweeping;
    job->sweeping = false;
    if (done->outcome != ADAPTER_OK || strcmp(r->key, job->key) != 0) {
        job->sync = true;
        dispatch_job_wake(d, job, clock_wall_ms() + DISPATCH_RETRY_SOON_MS);
        return;
    }
    if (job->phase != JOB_LIVE)
        return;
    const struct report *said = s_report(r->state);
    if (sweeping && said && said->state == job->dstate) {
        s_job_stuck(d, job);
        return;
    }
    char detail[ORDER_DETAIL_MAX];
    if (r->state == ADAPTER_STATE_UNKNOWN) {
        dispatch_text(detail, sizeof detail, "%s has no record of attempt %u", pool_name(p),
                      (unsigned)job->entry->attempts);
        s_job_released(d, job, DISPATCH_EV_CANCELLED, detail);
        return;
    }
    if (r->seq < job->seq)
        return;
    job->seq = r->seq;
    if (r->rider_ref[0])
        snprintf(job->rider_ref, sizeof job->rider_ref, "%s", r->rider_ref);
    if (r->state == ADAPTER_STATE_CANCELLED)
        s_job_cancel_fee(job, r->cancel_fee);
    else
        s_job_fee(job, r->fee_cents);
    dispatch_text(detail, sizeof detail, "%s reports the attempt %s", pool_name(p),
                  adapter_state_name(r->state));
    s_job_apply(d, job, r->state, detail);  /* may end (and free) the job, unless PENDING */
    /* Still no rider (say, restored while PENDING): the assign timeout runs
     * from now, as for a fresh acceptance. */
    if (r->state == ADAPTER_STATE_PENDING && s_job_pending_untimed(job))
        dispatch_job_wake(d, job, clock_wall_ms() +
                          (uint64_t)d->cfg->dispatch.assign_timeout_seconds * 1000u);
}

void dispatch_attempt_status(dispatch_t *d, dispatch_job_t *job)
{
    pool_t *p = dispatch_pool(d, job->pool);
    request_ctx_t *ctx = dispatch_request_new(d, job, pool_index(p), 0);
    adapter_send_t rc = ADAPTER_SEND_FAILED;
    if (ctx) {
        pool_count(p, &ctx->ticket);
        rc = pool_status(p, &ctx->ticket, job->key, s_status_done, ctx);
    }
    if (rc == ADAPTER_SEND_OK) {
        job->outstanding++;
        job->sync = false;
        return;
    }
    free(ctx);
    job->sync = true;
}

void dispatch_attempt_sync(dispatch_t *d, dispatch_job_t *job)
{
    job->sync = false;
    if (job->phase == JOB_SENDING)
        dispatch_attempt_send(d, job);
    else if (job->phase == JOB_CANCELLING)
        dispatch_attempt_send_cancel(d, job, "cancel sent again");
    else if (job->phase == JOB_LIVE)
        dispatch_attempt_status(d, job);
}

/* ---- what the pools say unasked ------------------------------------------ */

void dispatch_attempt_event(void *arg, pool_t *p, const adapter_event_t *ev)
{
    dispatch_t *d = arg;
    order_entry_t *e = order_index_find(d->host.orders, ev->order_id);
    dispatch_job_t *job = e ? e->job : NULL;
    if (!job || job->pool != pool_index(p) || strcmp(job->key, ev->key) != 0 ||
        job->phase == JOB_DONE) {
        d->stray_events++;
        log_debug("platform %s: event for key %s that is not in flight here", pool_name(p),
                  ev->key);
        return;
    }
    adapter_seq_t order = adapter_event_order(job->seq, ev->seq);
    if (order == ADAPTER_SEQ_STALE)
        return;
    job->seq = ev->seq;
    const struct report *said = s_report(ev->state);
    dispatch_state_t next;
    if (said && said->state != job->dstate && job->phase != JOB_CANCELLING &&
        !s_attempt_next(job, said->event, &next))
        return;  /* against the attempt's table (logged): it changes nothing */
    bool replaced = ev->state == ADAPTER_STATE_ASSIGNED && job->dstate == DISPATCH_ASSIGNED &&
                    ev->rider_ref[0] && strcmp(ev->rider_ref, job->rider_ref) != 0;
    if (ev->rider_ref[0])
        snprintf(job->rider_ref, sizeof job->rider_ref, "%s", ev->rider_ref);
    if (ev->state == ADAPTER_STATE_CANCELLED)
        s_job_cancel_fee(job, ev->cancel_fee);
    else
        s_job_fee(job, ev->fee_cents);
    if (ev->pickup_at_ms)
        job->pickup_at_ms = ev->pickup_at_ms;
    char detail[ORDER_DETAIL_MAX], t[16];
    switch (ev->state) {
    case ADAPTER_STATE_ASSIGNED:
        dispatch_text(detail, sizeof detail, "%s: rider %s assigned, at the store ~%s",
                      pool_name(p), job->rider_ref, dispatch_clock_text(job->pickup_at_ms, t));
        break;
    case ADAPTER_STATE_ARRIVED:
        dispatch_text(detail, sizeof detail, "%s: rider %s at the store", pool_name(p),
                      job->rider_ref);
        break;
    case ADAPTER_STATE_PICKED_UP:
        dispatch_text(detail, sizeof detail,
                      "%s: rider %s picked it up after waiting %" PRIu32 " s", pool_name(p),
                      job->rider_ref, ev->wait_ms / 1000);
        break;
    case ADAPTER_STATE_DELIVERED:
        dispatch_text(detail, sizeof detail, "%s: delivered by rider %s, fee %" PRIu32 " cents",
                      pool_name(p), job->rider_ref, job->fee_cents);
        break;
    case ADAPTER_STATE_CANCELLED:
        dispatch_text(detail, sizeof detail, "%s cancelled attempt %u (%s: %s)%s", pool_name(p),
                      (unsigned)job->entry->attempts,
                      ev->cancelled_by == ADAPTER_CANCELLED_BY_CLIENT ? "ours" : "theirs",
                      ev->reason[0] ? ev->reason : "no reason",
                      job->end ? "" : "; trying again");
        break;
    default:
        dispatch_text(detail, sizeof detail, "%s: %s", pool_name(p), adapter_state_name(ev->state));
        break;
    }
    if (job->phase == JOB_CANCELLING && ev->state != ADAPTER_STATE_CANCELLED) {
        /* Our cancel's reply decides; note the rider's progress meanwhile. */
        if (order == ADAPTER_SEQ_GAP)
            dispatch_attempt_status(d, job);
        return;
    }
    if (replaced) {
        /* The platform swapped riders: same state, so say it here. */
        dispatch_text(detail, sizeof detail, "%s: rider replaced by %s, at the store ~%s",
                      pool_name(p), job->rider_ref, dispatch_clock_text(job->pickup_at_ms, t));
        job->news_ms = clock_wall_ms();
        dispatch_job_change(d, job, (order_state_t)e->state, true, CHANGE_AFTER_NOTHING, detail);
    }
    s_job_apply(d, job, ev->state, detail);
    if (order == ADAPTER_SEQ_GAP && e->job == job && job->phase == JOB_LIVE)
        dispatch_attempt_status(d, job);
}

void dispatch_attempt_pool_sync(void *arg, pool_t *p)
{
    dispatch_t *d = arg;
    for (dispatch_job_t *job = d->jobs, *next; job; job = next) {
        next = job->next;
        if (job->pool == pool_index(p) && job->phase >= JOB_SENDING &&
            job->phase <= JOB_CANCELLING && (job->phase != JOB_SENDING || job->sync))
            dispatch_attempt_sync(d, job);
    }
}
