/* bucket.h - owns token buckets: the orders-per-second limits of the whole
 * daemon and of each brand. A bucket holds at most one second of tokens, so
 * a burst after a quiet spell is at most the configured rate. */
#ifndef SLUICE_BUCKET_H
#define SLUICE_BUCKET_H

#include <stdbool.h>
#include <stdint.h>

typedef struct bucket {
    double rate;            /* tokens per second; also the capacity */
    double tokens;
    uint64_t refilled_us;   /* monotonic */
} bucket_t;

void bucket_init(bucket_t *b, double rate, uint64_t now_us);
/* bucket_set_rate changes the rate (reload) and keeps the tokens it has,
 * capped at the new capacity. */
void bucket_set_rate(bucket_t *b, double rate, uint64_t now_us);

/* bucket_has reports whether one token is there; when not, *RETRY_MS (if
 * given) says when it will be. bucket_take spends one (call bucket_has first). */
bool bucket_has(bucket_t *b, uint64_t now_us, uint64_t *retry_ms);
void bucket_take(bucket_t *b);

#endif
