/* shed.c - owns the adaptive pending-orders limit (AIMD). */
#include "shed.h"

#define SHED_DECREASE 0.9
#define SHED_INCREASE 0.1   /* of each good batch */

void shed_configure(shed_t *s, size_t max_pending, size_t batch_max, int queue_delay_target_ms,
                    int commit_target_ms)
{
    bool first = s->max_limit == 0;
    s->max_limit = (double)max_pending;
    s->min_limit = (double)(batch_max < max_pending ? batch_max : max_pending);
    s->queue_delay_target_us = (uint64_t)queue_delay_target_ms * 1000u;
    s->commit_target_us = (uint64_t)commit_target_ms * 1000u;
    if (first || s->limit > s->max_limit)
        s->limit = s->max_limit;
    if (s->limit < s->min_limit)
        s->limit = s->min_limit;
}

bool shed_overloaded(const shed_t *s)
{
    return s->queue_delay_us > s->queue_delay_target_us || s->commit_us > s->commit_target_us;
}

void shed_observe(shed_t *s, uint64_t queue_delay_us, uint64_t commit_us, size_t batch_count,
                  size_t pending, uint64_t now_us)
{
    s->queue_delay_us = queue_delay_us;
    s->commit_us = commit_us;
    if (shed_overloaded(s)) {
        /* Once per round trip: the batches still in flight were admitted
         * under the old limit and say nothing about the new one. */
        if (now_us - s->last_cut_us < commit_us)
            return;
        s->last_cut_us = now_us;
        s->cuts++;
        s->limit *= SHED_DECREASE;
        if (s->limit < s->min_limit)
            s->limit = s->min_limit;
        return;
    }
    /* Grow only while the limit is what holds admissions back. */
    if ((double)pending * 2.0 < s->limit)
        return;
    s->limit += SHED_INCREASE * (double)batch_count + 1.0;
    if (s->limit > s->max_limit)
        s->limit = s->max_limit;
}

bool shed_allows(const shed_t *s, size_t pending)
{
    return (double)pending < s->limit;
}
