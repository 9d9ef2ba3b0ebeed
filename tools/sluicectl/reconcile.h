/* reconcile.h - owns the comparison of one platform's settlement report for
 * one day with our own dispatches: which lines disagree and why, and the
 * per-store totals. Pure: arrays in, a result out, no I/O, no clock (the
 * fetching is settlement.c, the reading and storing reconcile_db.c).
 *
 * The rules, by dispatch key (the idempotency key both sides know):
 * - a key listed more than once by the platform: DUPLICATE_CHARGE for each
 *   extra line (their_fee: that line's fee); the first line is compared as
 *   below;
 * - a platform line whose key we never dispatched: MISSING_HERE;
 * - a DELIVERED line whose dispatch is not DELIVERED here: MISSING_HERE
 *   (detail: our state);
 * - a CANCELLED line whose dispatch is DELIVERED here: MISSING_THERE;
 * - otherwise the line and our dispatch match: FEE_MISMATCH when the fees
 *   differ (our fee NULL counts as 0). For a CANCELLED dispatch our fee is
 *   what the platform said the cancel costs (0 when it said free; NULL when
 *   it never said, which the detail tells), not the delivery fee;
 * - a dispatch DELIVERED here inside the day that no line names:
 *   MISSING_THERE.
 * A line matches our dispatch whatever day our clock put it in, so a
 * delivery a second before midnight on one side and after it on the other is
 * one delivery, not two discrepancies (ours is looked up by key). */
#ifndef SLUICE_RECONCILE_H
#define SLUICE_RECONCILE_H

#include "adapter.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RECONCILE_DETAIL_MAX 96

typedef enum reconcile_kind {
    RECONCILE_MISSING_HERE = 0,
    RECONCILE_MISSING_THERE,
    RECONCILE_FEE_MISMATCH,
    RECONCILE_DUPLICATE_CHARGE,
    RECONCILE_KINDS
} reconcile_kind_t;

/* What our dispatch ended as, for the comparison. */
typedef enum reconcile_end {
    RECONCILE_END_OTHER = 0,   /* live, refused, error: not charged */
    RECONCILE_END_DELIVERED,
    RECONCILE_END_CANCELLED,
} reconcile_end_t;

/* One of our dispatches of the platform (strings borrowed). */
typedef struct reconcile_ours {
    const char *key;
    const char *order_id;
    const char *state;         /* dispatch_state as text, for details */
    reconcile_end_t end;
    uint32_t store_id;         /* 0: its order is not in `orders` */
    bool has_fee;
    uint32_t fee_cents;
    bool in_day;               /* ended (DELIVERED or CANCELLED) inside the day by our clock */
} reconcile_ours_t;

typedef struct reconcile_item {
    reconcile_kind_t kind;
    char key[ADAPTER_ID_MAX + 1];
    char order_id[ADAPTER_ID_MAX + 1];
    uint32_t store_id;         /* 0: unknown */
    bool has_our_fee, has_their_fee;
    uint32_t our_fee_cents, their_fee_cents;
    char detail[RECONCILE_DETAIL_MAX];
} reconcile_item_t;

/* Per store. Ours counts our dispatches that ended inside the day or that a
 * line names; theirs counts every line (a duplicate's fee included: it is
 * what they bill). */
typedef struct reconcile_total {
    uint32_t store_id;
    uint64_t delivered_ours, delivered_theirs;
    uint64_t fee_ours_cents, fee_theirs_cents;
    uint64_t discrepancies;
} reconcile_total_t;

typedef struct reconcile_result {
    reconcile_item_t *items;   /* by kind, then store, then key */
    size_t item_count;
    reconcile_total_t *totals; /* by store_id */
    size_t total_count;
    size_t kind_count[RECONCILE_KINDS];
} reconcile_result_t;

/* reconcile_compare compares OURS (keys unique) with the platform's lines
 * THEIRS, in the order the platform listed them. OUT is overwritten; free it
 * with reconcile_result_free whatever the answer. False only when out of
 * memory. */
bool reconcile_compare(const reconcile_ours_t *ours, size_t n_ours,
                       const adapter_settlement_line_t *theirs, size_t n_theirs,
                       reconcile_result_t *out) __attribute__((warn_unused_result));
void reconcile_result_free(reconcile_result_t *r);

/* reconcile_kind_name: the reconcile_kind enum label in PostgreSQL. */
const char *reconcile_kind_name(reconcile_kind_t kind);

#endif
