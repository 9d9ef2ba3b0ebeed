/* admit.c - owns admission decisions. */
#include "admit.h"

#include <string.h>

bool admit_order(const config_t *cfg, const config_store_t *store, unsigned drinks,
                 uint64_t now_ms, admit_result_t *out)
{
    memset(out, 0, sizeof *out);
    if (store->paused) {
        out->reason = SLUICE__V1__REASON__STORE_PAUSED;
        out->retry_after_ms = 60000;
        out->detail = "store: paused by the merchant";
        return false;
    }
    /* No queue model yet: the promise is the order's own prep time. */
    uint64_t prep_ms = ((uint64_t)store->order_seconds +
                        (uint64_t)drinks * (uint64_t)store->item_seconds) * 1000u;
    out->reason = SLUICE__V1__REASON__REASON_NONE;
    out->promised_ready_at_ms = now_ms + prep_ms;
    out->promised_delivery_at_ms = out->promised_ready_at_ms +
                                   (uint64_t)cfg->daemon.delivery_minutes * 60000u;
    return true;
}
