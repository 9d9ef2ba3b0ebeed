/* breaker.c - owns a platform's circuit breaker: closed, open, half-open,
 * from the failures and slow replies in a window of one-second buckets. */
#include "breaker.h"

#include <string.h>

enum breaker_event {
    EV_TRIPPED,      /* closed: the window's failed share reached failure_ratio */
    EV_COOLED,       /* open: open_seconds passed and the probe is let through */
    EV_PROBE_OK,     /* half-open: the probe came back neither failed nor slow */
    EV_PROBE_FAILED, /* half-open: the probe failed or was slow */
};

/* The whole state machine; an event not listed for a state changes nothing. */
static const struct {
    breaker_state_t from;
    enum breaker_event event;
    breaker_state_t to;
} s_transitions[] = {
    { BREAKER_CLOSED, EV_TRIPPED, BREAKER_OPEN },
    { BREAKER_OPEN, EV_COOLED, BREAKER_HALF_OPEN },
    { BREAKER_HALF_OPEN, EV_PROBE_OK, BREAKER_CLOSED },
    { BREAKER_HALF_OPEN, EV_PROBE_FAILED, BREAKER_OPEN },
};

static void s_window_clear(breaker_t *b, uint64_t now_s)
{
    memset(b->buckets, 0, sizeof b->buckets);
    b->requests = b->failures = 0;
    b->head_s = now_s;
}

/* s_window_advance makes NOW_S the newest second, emptying the buckets of
 * the seconds that leave the window. A clock that went back (it should not)
 * keeps the newest second, so its outcomes still count. */
static void s_window_advance(breaker_t *b, uint64_t now_s)
{
    if (now_s <= b->head_s)
        return;
    if (now_s - b->head_s >= b->window) {
        s_window_clear(b, now_s);
        return;
    }
    for (uint64_t s = b->head_s + 1; s <= now_s; s++) {
        breaker_bucket_t *k = &b->buckets[s % b->window];
        b->requests -= k->requests;
        b->failures -= k->failures;
        k->requests = k->failures = 0;
    }
    b->head_s = now_s;
}

/* s_fire applies EVENT from the current state and runs what entering the
 * new state takes; false when the table has no such transition. */
static bool s_fire(breaker_t *b, enum breaker_event event, uint64_t now_ms)
{
    for (size_t i = 0; i < sizeof s_transitions / sizeof s_transitions[0]; i++) {
        if (s_transitions[i].from != b->state || s_transitions[i].event != event)
            continue;
        b->state = s_transitions[i].to;
        b->transitions++;
        switch (b->state) {
        case BREAKER_OPEN:
            b->open_until_ms = now_ms + b->open_ms;
            break;
        case BREAKER_CLOSED:
            /* What opened the breaker is history once a probe got through. */
            s_window_clear(b, now_ms / 1000);
            break;
        case BREAKER_HALF_OPEN:
            break;
        }
        return true;
    }
    return false;
}

/* s_tripped: enough requests, and failed ones at failure_ratio or above.
 * At least one failure is needed, so failure_ratio 0 means "any failure"
 * rather than "always open". Dividing (not multiplying the ratio) makes
 * 10 of 20 at 0.5, or 3 of 10 at 0.3, land exactly on the configured ratio. */
static bool s_tripped(const breaker_t *b)
{
    return b->requests >= b->min_requests && b->failures > 0 &&
           (double)b->failures / (double)b->requests >= b->failure_ratio;
}

void breaker_init(breaker_t *b, const config_breaker_t *cfg)
{
    memset(b, 0, sizeof *b);
    b->state = BREAKER_CLOSED;
    breaker_configure(b, cfg);
}

/* s_window_resize moves the seconds that fit a window of N seconds to
 * where the new ring keeps them; the rest are dropped. */
static void s_window_resize(breaker_t *b, uint64_t n)
{
    breaker_bucket_t kept[CONFIG_MAX_BREAKER_WINDOW];
    uint64_t keep = b->window < n ? b->window : n;
    if (keep > b->head_s + 1)
        keep = b->head_s + 1; /* no seconds before 0 */
    for (uint64_t i = 0; i < keep; i++)
        kept[i] = b->buckets[(b->head_s - i) % b->window];
    s_window_clear(b, b->head_s);
    b->window = n;
    for (uint64_t i = 0; i < keep; i++) {
        b->buckets[(b->head_s - i) % n] = kept[i];
        b->requests += kept[i].requests;
        b->failures += kept[i].failures;
    }
}

void breaker_configure(breaker_t *b, const config_breaker_t *cfg)
{
    b->failure_ratio = cfg->failure_ratio;
    b->slow_ms = (uint64_t)cfg->slow_ms;
    b->min_requests = (uint64_t)cfg->min_requests;
    b->open_ms = (uint64_t)cfg->open_seconds * 1000u;
    /* config.c checks every range; this one is checked again because the
     * ring must stay inside the struct whatever the caller passes. */
    uint64_t window = cfg->window_seconds < 1 ? 1
                      : cfg->window_seconds > CONFIG_MAX_BREAKER_WINDOW
                          ? CONFIG_MAX_BREAKER_WINDOW
                          : (uint64_t)cfg->window_seconds;
    if (b->window == 0)
        b->window = window; /* breaker_init: nothing to keep */
    else if (window != b->window)
        s_window_resize(b, window);
}

bool breaker_allow(breaker_t *b, uint64_t now_ms, breaker_ticket_t *ticket)
{
    switch (b->state) {
    case BREAKER_CLOSED:
        break;
    case BREAKER_OPEN:
        if (now_ms < b->open_until_ms || !s_fire(b, EV_COOLED, now_ms))
            return false;
        break; /* this request is the probe */
    case BREAKER_HALF_OPEN:
        return false; /* the probe is out */
    }
    *ticket = b->transitions;
    return true;
}

bool breaker_count(const breaker_t *b, breaker_ticket_t *ticket)
{
    if (b->state != BREAKER_CLOSED)
        return false;
    *ticket = b->transitions;
    return true;
}

void breaker_record(breaker_t *b, breaker_ticket_t ticket, uint64_t now_ms, bool failed,
                    uint64_t latency_ms)
{
    if (ticket != b->transitions)
        return; /* let through before the last change of state */
    bool bad = failed || latency_ms >= b->slow_ms;
    switch (b->state) {
    case BREAKER_CLOSED: {
        s_window_advance(b, now_ms / 1000);
        breaker_bucket_t *k = &b->buckets[b->head_s % b->window];
        k->requests++;
        b->requests++;
        if (bad) {
            k->failures++;
            b->failures++;
        }
        if (s_tripped(b))
            s_fire(b, EV_TRIPPED, now_ms);
        break;
    }
    case BREAKER_OPEN:
        break; /* no ticket is current while open */
    case BREAKER_HALF_OPEN:
        s_fire(b, bad ? EV_PROBE_FAILED : EV_PROBE_OK, now_ms);
        break;
    }
}

bool breaker_would_allow(const breaker_t *b, uint64_t now_ms)
{
    switch (b->state) {
    case BREAKER_CLOSED:
        return true;
    case BREAKER_OPEN:
        return now_ms >= b->open_until_ms; /* the probe would go */
    case BREAKER_HALF_OPEN:
        return false;
    }
    return false;
}

breaker_state_t breaker_state(const breaker_t *b, uint64_t now_ms)
{
    if (b->state == BREAKER_OPEN && now_ms >= b->open_until_ms)
        return BREAKER_HALF_OPEN;
    return b->state;
}

uint64_t breaker_open_until(const breaker_t *b)
{
    return b->state == BREAKER_CLOSED ? 0 : b->open_until_ms;
}

uint64_t breaker_transitions(const breaker_t *b)
{
    return b->transitions;
}

void breaker_counts(const breaker_t *b, uint64_t now_ms, uint64_t *requests, uint64_t *failures)
{
    uint64_t now_s = now_ms / 1000;
    *requests = b->requests;
    *failures = b->failures;
    if (now_s <= b->head_s)
        return;
    if (now_s - b->head_s >= b->window) {
        *requests = *failures = 0;
        return;
    }
    /* What s_window_advance would drop, without dropping it. */
    for (uint64_t s = b->head_s + 1; s <= now_s; s++) {
        *requests -= b->buckets[s % b->window].requests;
        *failures -= b->buckets[s % b->window].failures;
    }
}

double breaker_error_ratio(const breaker_t *b, uint64_t now_ms)
{
    uint64_t requests, failures;
    breaker_counts(b, now_ms, &requests, &failures);
    return requests ? (double)failures / (double)requests : 0.0;
}

const char *breaker_state_name(breaker_state_t state)
{
    switch (state) {
    case BREAKER_CLOSED:
        return "closed";
    case BREAKER_OPEN:
        return "open";
    case BREAKER_HALF_OPEN:
        return "half-open";
    }
    return "unknown";
}
