/* breaker.h - owns a platform's circuit breaker: whether a request may go to
 * the platform now, judged from how its recent requests went (design 6).
 *
 * CLOSED lets every request through and counts outcomes in a window of the
 * last window_seconds, one bucket per second. A failure is an error, a
 * timeout, an unreachable platform, or a reply that took slow_ms or longer.
 * Once the window holds min_requests requests of which at least one failed
 * and the failed share is failure_ratio or more, the breaker OPENS for
 * open_seconds and refuses everything. After that it is HALF_OPEN: one probe
 * goes through at a time; a good probe CLOSES it with an empty window, a
 * failed or slow one OPENS it again for a full open_seconds. The probe is a
 * request asked with breaker_allow (the pool's quotes, which answer within
 * quote_deadline_ms); the requests that go anyway ask breaker_count and are
 * counted only while closed.
 *
 * Time is the caller's monotonic clock in ms; the breaker never reads a
 * clock, so tests and the event loop agree on "now". No allocation: the
 * buckets live in the struct (CONFIG_MAX_BREAKER_WINDOW of them).
 *
 * Tickets: breaker_allow hands out a ticket naming the state the request was
 * let through in, and breaker_record takes it back. An outcome whose ticket
 * is from an earlier state (a request let through while closed, answered
 * after the breaker opened) changes nothing, so a late reply can never be
 * mistaken for the half-open probe's.
 *
 * Transitions: every state change adds one to breaker_transitions(); each
 * call makes at most one. A caller that logs and publishes changes compares
 * the count before and after breaker_allow and breaker_record. OPEN to
 * HALF_OPEN is counted when breaker_allow lets the probe through, although
 * breaker_state reports HALF_OPEN as soon as open_seconds have passed. */
#ifndef SLUICE_BREAKER_H
#define SLUICE_BREAKER_H

#include "config.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    BREAKER_CLOSED = 0,
    BREAKER_OPEN = 1,
    BREAKER_HALF_OPEN = 2,
} breaker_state_t;

/* Names the state a request was let through in; only compared for equality. */
typedef uint64_t breaker_ticket_t;

typedef struct breaker_bucket {
    uint32_t requests, failures;
} breaker_bucket_t;

typedef struct breaker {
    /* from config_breaker_t (breaker_configure) */
    double failure_ratio;
    uint64_t slow_ms;
    uint64_t min_requests;
    uint64_t open_ms;
    uint64_t window;          /* seconds = buckets in use, 1..CONFIG_MAX_BREAKER_WINDOW */

    /* HALF_OPEN here means the probe is out; OPEN past open_until_ms is
     * half-open with no probe out yet, and breaker_state reports it so. */
    breaker_state_t state;
    uint64_t open_until_ms;
    uint64_t transitions;     /* state changes so far; the current ticket */

    /* The window: second s is counted in buckets[s % window]; it holds the
     * seconds (head_s - window, head_s]. The sums are over those buckets. */
    uint64_t head_s;
    uint64_t requests, failures;
    breaker_bucket_t buckets[CONFIG_MAX_BREAKER_WINDOW];
} breaker_t;

/* breaker_init starts B closed with an empty window and CFG's numbers. */
void breaker_init(breaker_t *b, const config_breaker_t *cfg);

/* breaker_configure takes CFG's numbers on reload and keeps the state, the
 * open_until of an open breaker and the counts of the seconds that still fit
 * a new window_seconds. The new numbers apply from the next request and the
 * next opening. */
void breaker_configure(breaker_t *b, const config_breaker_t *cfg);

/* breaker_allow: may one request go to the platform at NOW_MS? The first
 * one allowed after open_seconds is the half-open probe. When true,
 * *TICKET is set and the request's outcome must be given to breaker_record
 * with it, also when the request timed out (as a failure): a half-open
 * breaker lets nothing else through until its probe comes back. */
bool breaker_allow(breaker_t *b, uint64_t now_ms, breaker_ticket_t *ticket)
    __attribute__((warn_unused_result));

/* breaker_count: may a request that goes whatever the breaker says (a
 * dispatch, a cancel, a status) be counted? True, with *TICKET set, only
 * while the breaker is closed: such a request is never the half-open probe,
 * because it may wait long for its answer (a cancel's deadline doubles up to
 * a minute) and a probe must answer within a quote's deadline, or a platform
 * that is back stays unused until the slow request gives up. False: send it
 * uncounted. Changes nothing. */
bool breaker_count(const breaker_t *b, breaker_ticket_t *ticket)
    __attribute__((warn_unused_result));

/* breaker_record counts the outcome of the request let through with TICKET:
 * FAILED for an error, timeout or unreachable platform, else a reply after
 * LATENCY_MS (slow_ms or more counts as failed). Outcomes of requests let
 * through in an earlier state are ignored. */
void breaker_record(breaker_t *b, breaker_ticket_t ticket, uint64_t now_ms, bool failed,
                    uint64_t latency_ms);

/* breaker_would_allow: would breaker_allow say yes at NOW_MS? Changes
 * nothing, so admission can ask it about every platform of a store. */
bool breaker_would_allow(const breaker_t *b, uint64_t now_ms);

/* breaker_state at NOW_MS: HALF_OPEN once open_until has passed, even before
 * breaker_allow has let the probe through. */
breaker_state_t breaker_state(const breaker_t *b, uint64_t now_ms);

/* breaker_open_until: when an open breaker lets its probe through (monotonic
 * ms), for retry_after; 0 when closed. While a probe is out it is in the
 * past: the answer then depends on the probe, not on time. */
uint64_t breaker_open_until(const breaker_t *b);

/* breaker_transitions: state changes since breaker_init (see above). */
uint64_t breaker_transitions(const breaker_t *b);

/* breaker_counts: requests and failures in the window as of NOW_MS. The
 * window is not fed while open or half-open, so there it still shows what
 * opened the breaker until that ages out. */
void breaker_counts(const breaker_t *b, uint64_t now_ms, uint64_t *requests, uint64_t *failures);

/* breaker_error_ratio: failures / requests of breaker_counts, 0 with none. */
double breaker_error_ratio(const breaker_t *b, uint64_t now_ms);

/* breaker_state_name: "closed", "open", "half-open". */
const char *breaker_state_name(breaker_state_t state);

#endif
