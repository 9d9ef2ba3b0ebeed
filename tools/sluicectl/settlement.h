/* settlement.h - owns fetching one platform's settlement report for one day
 * through its adapter (platforms.[].adapter): open, every page, close. A
 * batch tool's blocking loop around the adapter's event-loop hooks (poll,
 * timeout_ms, step), for sluicectl reconcile; the daemon never calls it. */
#ifndef SLUICE_SETTLEMENT_H
#define SLUICE_SETTLEMENT_H

#include "adapter.h"
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SETTLEMENT_TRIES 3        /* sends of one page before giving up */

typedef enum settlement_status {
    SETTLEMENT_OK = 0,
    SETTLEMENT_UNREACHABLE,       /* no connection, or no answer in time */
    SETTLEMENT_FAILED,            /* the gateway refused the request or broke the protocol */
} settlement_status_t;

/* The whole day, every page's lines in the platform's order. */
typedef struct settlement_report {
    adapter_settlement_line_t *lines;
    size_t count;
    uint32_t total_lines;         /* the last page's totals, as the platform says */
    uint64_t total_fee_cents;
    bool final;                   /* the platform says the day will not change */
    char error[ADAPTER_TEXT_MAX + 64];  /* why, unless SETTLEMENT_OK */
    size_t cap;                   /* private */
} settlement_report_t;

/* settlement_fetch opens PLATFORM on ZCTX, asks for DAY ("YYYY-MM-DD", the
 * day from local midnight at UTC_OFFSET_MINUTES) page by page and closes
 * it. It gives up after WAIT_MS without progress (no link, no answer). OUT
 * is overwritten; free it with settlement_report_free whatever the answer. */
settlement_status_t settlement_fetch(const config_platform_t *platform, void *zctx, const char *day,
                                     int32_t utc_offset_minutes, uint64_t wait_ms,
                                     settlement_report_t *out) __attribute__((warn_unused_result));
void settlement_report_free(settlement_report_t *r);

#endif
