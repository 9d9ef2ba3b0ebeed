/* admit.h - owns the admission decision: may this store take this order now,
 * and what can it honestly promise? */
#ifndef SLUICE_ADMIT_H
#define SLUICE_ADMIT_H

#include "config.h"
#include "proto/sluice.pb-c.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct admit_result {
    Sluice__V1__Reason reason;       /* REASON_NONE when admitted */
    uint64_t retry_after_ms;
    uint64_t promised_ready_at_ms;
    uint64_t promised_delivery_at_ms;
    const char *detail;              /* static text naming the level that refused */
} admit_result_t;

/* admit_order decides for one validated order of DRINKS drinks at NOW_MS.
 * Returns true when admitted; OUT holds the promise or the rejection.
 * This is the seam the capacity model (issue 3) fills: for now a known store
 * that is not paused is admitted, with a promise of its own prep time. */
bool admit_order(const config_t *cfg, const config_store_t *store, unsigned drinks,
                 uint64_t now_ms, admit_result_t *out);

#endif
