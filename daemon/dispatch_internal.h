/* dispatch_internal.h - what the two halves of the dispatch engine share,
 * private to them: dispatch.c (the jobs, their phases, quotes and the
 * choice) and dispatch_attempt.c (a job's current attempt at its platform:
 * the requests that carry it, what the platform answers or says unasked,
 * and its release). Nothing else includes this file. */
#ifndef SLUICE_DISPATCH_INTERNAL_H
#define SLUICE_DISPATCH_INTERNAL_H

#include "dispatch.h"
#include "dispatch_state.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DISPATCH_RETRY_SOON_MS 1000   /* a cancel or re-send that could not leave */

/* A job's phases; dispatch.c's table says how they follow each other. */
typedef enum job_phase {
    JOB_WAITING,     /* until wake_ms: quote (again) */
    JOB_QUOTING,     /* quotes out */
    JOB_SAVING,      /* the outbox row is committing */
    JOB_SENDING,     /* the DispatchRequest is out, or waits for the link (sync) */
    JOB_LIVE,        /* accepted: rider events */
    JOB_CANCELLING,  /* CancelRequest out, or to be sent again at wake_ms */
    JOB_DONE,        /* nothing more; freed once no request is outstanding */
    JOB_PHASE_COUNT
} job_phase_t;

typedef enum job_event {
    JOB_QUOTE,       /* ask the store's usable pools for quotes */
    JOB_WAIT,        /* nobody, a rider too early, or a cancel committing: later */
    JOB_CHOOSE,      /* a pool chosen: its outbox row commits */
    JOB_SEND,        /* the DispatchRequest leaves (again, under the same key) */
    JOB_PROGRESS,    /* the platform accepted the key, or reports its rider */
    JOB_CANCEL,      /* the attempt must end before the order may go elsewhere */
    JOB_TOO_LATE,    /* the cancel came too late: the rider has the order */
    JOB_FINISH,      /* nothing more to do */
    JOB_EVENT_COUNT
} job_event_t;

struct dispatch_job {
    order_entry_t *entry;
    dispatch_job_t *prev, *next;   /* every job, for link-ups */
    uint64_t wake_ms;              /* wall clock; UINT64_MAX: nothing timed */
    uint64_t ready_at_ms;          /* when the order is ready: promised, or earlier when the
                                    * kitchen said so (MarkReady); riders are timed to it */
    uint64_t hold_until_ms;        /* no rider by then: FAILED */
    uint64_t pickup_at_ms;
    uint64_t best_pickup_ms;
    uint32_t tried;                /* pools tried this round (bit per pool) */
    uint32_t quoted;               /* pools quoted this round */
    uint64_t stuck_ms;             /* dispatch.stuck_minutes when the job began */
    uint32_t seq;                  /* last rider event applied */
    uint32_t fee_cents, best_fee;  /* the current attempt's fee; the best quote's */
    uint64_t told_at_ms;           /* when the timeline last heard "no rider" */
    uint64_t news_ms;              /* the current attempt's last change of state */
    uint16_t outstanding;          /* requests whose callback has not run */
    uint8_t phase;                 /* job_phase_t */
    uint8_t dstate;                /* dispatch_state_t of the current attempt */
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
    bool fee_said;                 /* fee_cents is the platform's word, a free cancel's 0
                                    * included; false: not said, stored NULL */
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
    pool_ticket_t ticket;          /* its standing with the pool's breaker */
} request_ctx_t;

struct dispatch {
    const config_t *cfg;
    dispatch_host_t host;
    pool_t *pools[DISPATCH_POOLS_MAX];
    size_t pool_count;
    dispatch_job_t *jobs;          /* list of every job */
    size_t job_count;
    bool closing;                  /* adapters closing: callbacks only clean up */
    uint64_t decisions, delivered, failed, redispatches, stray_events, sweeps, stuck;
};

/* ---- dispatch.c ------------------------------------------------------------ */

/* dispatch_job_to moves JOB's phase along the table on EV; a step the table
 * does not have is logged and refused (false), the phase unchanged. */
bool dispatch_job_to(dispatch_job_t *job, job_event_t ev) __attribute__((warn_unused_result));
/* dispatch_job_quote asks every usable pool of the store for a quote; with
 * none, it tries again after retry_seconds. */
void dispatch_job_quote(dispatch_t *d, dispatch_job_t *job, uint64_t now);
/* dispatch_job_fail ends the order FAILED (refund due); a live attempt is
 * cancelled first. */
void dispatch_job_fail(dispatch_t *d, dispatch_job_t *job, const char *why);
/* dispatch_job_finish: nothing more to do; the job goes once its callbacks ran. */
void dispatch_job_finish(dispatch_t *d, dispatch_job_t *job);
/* dispatch_job_change queues one engine change of JOB's order: an event row
 * with DETAIL, the order's new state TO (or none when KEEP), and the current
 * attempt's dispatches row when the job has one. */
void dispatch_job_change(dispatch_t *d, dispatch_job_t *job, order_state_t to, bool keep,
                         change_after_t after, const char *detail);
/* dispatch_job_timer re-arms JOB's timer; dispatch_job_wake sets it first. */
void dispatch_job_timer(dispatch_t *d, dispatch_job_t *job);
void dispatch_job_wake(dispatch_t *d, dispatch_job_t *job, uint64_t at_ms);
/* dispatch_request_new: the argument of a request of JOB's current attempt
 * to pool POOL (RANK: its place in the store's list); NULL, logged, when out
 * of memory. dispatch_request_end: its callback ran; true when the job wants
 * it handled (it is current and the engine is not closing); frees CTX and a
 * finished job. */
request_ctx_t *dispatch_request_new(dispatch_t *d, dispatch_job_t *job, int pool, int rank);
bool dispatch_request_end(request_ctx_t *ctx, dispatch_job_t **job_out)
    __attribute__((warn_unused_result));
/* dispatch_learn_riders: P answered a quote or dispatch for store STORE_ID
 * with a rider (RIDER) or without, for REFUSAL: admission's memory of the
 * stores P has no rider for follows (pool_no_rider). OUT_OF_AREA is about
 * one drop-off, not the store: it changes nothing. */
void dispatch_learn_riders(dispatch_t *d, pool_t *p, uint32_t store_id, bool rider,
                           adapter_refusal_t refusal);
pool_t *dispatch_pool(const dispatch_t *d, int index);
const config_store_t *dispatch_store(dispatch_t *d, const order_entry_t *e);
/* dispatch_text formats a timeline detail into BUF, cut at a character
 * boundary when it is too long (PostgreSQL refuses half a UTF-8 character,
 * and with it the whole run of changes). */
void dispatch_text(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* dispatch_clock_text: HH:MM:SS UTC of a unix ms, for timeline details. */
const char *dispatch_clock_text(uint64_t ms, char buf[16]);

/* ---- dispatch_attempt.c ------------------------------------------------------ */

/* dispatch_attempt_begin starts an attempt of JOB at pool P, the choice: its
 * key, its outbox row (dispatch_committed then sends it). */
void dispatch_attempt_begin(dispatch_t *d, dispatch_job_t *job, pool_t *p);
/* dispatch_attempt_send sends the current attempt's DispatchRequest (again,
 * under its key). */
void dispatch_attempt_send(dispatch_t *d, dispatch_job_t *job);
/* dispatch_attempt_cancel: the current attempt must end before the order may
 * go elsewhere (a timeout, a reply that broke the protocol, no rider assigned
 * in time, the order cancelled or failed). dispatch_attempt_send_cancel
 * sends its CancelRequest (again). */
void dispatch_attempt_cancel(dispatch_t *d, dispatch_job_t *job, const char *reason);
void dispatch_attempt_send_cancel(dispatch_t *d, dispatch_job_t *job, const char *reason);
/* dispatch_attempt_status asks the platform about the current attempt. */
void dispatch_attempt_status(dispatch_t *d, dispatch_job_t *job);
/* dispatch_attempt_sync asks the platform what became of the current
 * attempt: the outbox row is sent again under its key, a cancel again, a live
 * one asked for its status. */
void dispatch_attempt_sync(dispatch_t *d, dispatch_job_t *job);
/* The pool listener's EVENT and SYNC (pool.h); ARG is the dispatch_t. */
void dispatch_attempt_event(void *arg, pool_t *p, const adapter_event_t *ev);
void dispatch_attempt_pool_sync(void *arg, pool_t *p);

#endif
