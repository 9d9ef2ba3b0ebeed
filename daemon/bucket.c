/* bucket.c - owns token buckets. */
#include "bucket.h"

#include <math.h>

static void s_refill(bucket_t *b, uint64_t now_us)
{
    if (now_us > b->refilled_us) {
        b->tokens += b->rate * (double)(now_us - b->refilled_us) / 1e6;
        if (b->tokens > b->rate)
            b->tokens = b->rate;
    }
    b->refilled_us = now_us;
}

void bucket_init(bucket_t *b, double rate, uint64_t now_us)
{
    b->rate = rate;
    b->tokens = rate;
    b->refilled_us = now_us;
}

void bucket_set_rate(bucket_t *b, double rate, uint64_t now_us)
{
    s_refill(b, now_us);
    b->rate = rate;
    if (b->tokens > rate)
        b->tokens = rate;
}

bool bucket_has(bucket_t *b, uint64_t now_us, uint64_t *retry_ms)
{
    s_refill(b, now_us);
    if (b->tokens >= 1.0)
        return true;
    if (retry_ms)
        *retry_ms = (uint64_t)ceil((1.0 - b->tokens) * 1000.0 / b->rate);
    return false;
}

void bucket_take(bucket_t *b)
{
    b->tokens -= 1.0;
}
