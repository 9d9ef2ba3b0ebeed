/* shed.h - owns adaptive load shedding: a limit on orders admitted but not
 * yet committed, moved by AIMD on what the daemon measures of itself.
 *
 * Each finished commit reports two latencies: how long its oldest order
 * waited in the queue before the batch went out (queue delay) and how long
 * the commit took. When either passes its target, the limit is cut by a
 * tenth, at most once per commit round trip; while both are under target and
 * the limit is actually in use, it grows by a tenth of the batch plus one. Orders
 * past the limit are answered OVERLOADED at once, so latency and memory stay
 * bounded when PostgreSQL slows down, and the limit recovers by itself.
 *
 * Why AIMD and not a gradient limit (Netflix's Gradient2, Envoy's adaptive
 * concurrency): a gradient compares latency now with a no-load baseline,
 * but group commit makes latency grow with batch size by design, so the
 * baseline would read healthy batching as congestion. AIMD only needs the
 * targets an operator already sets in the config, and its behaviour is easy
 * to predict at 3 a.m. */
#ifndef SLUICE_SHED_H
#define SLUICE_SHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct shed {
    double limit;             /* orders allowed pending (queued + committing) */
    double min_limit;         /* never below one full batch */
    double max_limit;         /* daemon.max_pending_orders */
    uint64_t queue_delay_target_us;
    uint64_t commit_target_us;
    uint64_t last_cut_us;     /* monotonic time of the last decrease */
    uint64_t queue_delay_us;  /* last measured */
    uint64_t commit_us;       /* last measured */
    uint64_t cuts;            /* decreases so far */
} shed_t;

/* shed_configure sets targets and bounds (start, and every reload); the
 * current limit is kept within the new bounds. */
void shed_configure(shed_t *s, size_t max_pending, size_t batch_max, int queue_delay_target_ms,
                    int commit_target_ms);

/* shed_observe feeds one finished commit of BATCH_COUNT orders while PENDING
 * orders were pending. */
void shed_observe(shed_t *s, uint64_t queue_delay_us, uint64_t commit_us, size_t batch_count,
                  size_t pending, uint64_t now_us);

/* shed_allows: may one more order be admitted with PENDING pending? */
bool shed_allows(const shed_t *s, size_t pending);

/* shed_overloaded: is a target passed right now (for /readyz and stats)? */
bool shed_overloaded(const shed_t *s);

#endif
