/* order.h - owns what an order is on the way in: the bounds of every
 * SubmitOrder field, and the content fingerprint that idempotency compares.
 * Its states and their machine are order_state.h's. */
#ifndef SLUICE_ORDER_H
#define SLUICE_ORDER_H

#include "order_state.h"
#include "proto/sluice.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ORDER_ID_MAX 64
#define ORDER_ITEMS_MAX 50
#define ORDER_SKU_MAX 64
#define ORDER_QUANTITY_MAX 99
#define ORDER_TEXT_MAX 64      /* voucher_id, customer_ref */
#define ORDER_DETAIL_MAX 160
#define ORDER_REASON_MAX 120   /* bytes of a cancel reason kept in its event */

/* order_id_valid: 1..64 chars of [A-Za-z0-9._:-]. */
bool order_id_valid(const char *id);

/* order_validate checks every field's bounds (campaign: optional, else
 * 1..64 chars of [A-Za-z0-9._:-], as order_id). On failure it writes a
 * detail that names the field ("items[2].quantity: must be 1..99 (got 100)"). */
bool order_validate(const Sluice__V1__SubmitOrder *o, char *detail, size_t detail_len);

/* order_cancel_detail writes the event detail of a CancelOrder into DETAIL:
 * "cancelled: " and REASON, cut to ORDER_REASON_MAX bytes at a character
 * boundary ("no reason given" when empty). False, writing nothing, when REASON
 * is not UTF-8: PostgreSQL would refuse it, and with it every change that is
 * committed in the same statement. */
bool order_cancel_detail(const char *reason, char *detail, size_t detail_len)
    __attribute__((warn_unused_result));

/* order_fingerprint hashes the content the design compares for duplicates:
 * store_id, items, dropoff, voucher_id and customer_ref (not created_at_ms). */
uint64_t order_fingerprint(const Sluice__V1__SubmitOrder *o);

/* order_drink_count is the number of drinks to make (sum of quantities). */
unsigned order_drink_count(const Sluice__V1__SubmitOrder *o);

/* order_items_json writes items as JSON ([{"sku":"..","qty":n},..]) into BUF;
 * returns the length, or 0 when BUF is too small. Validated orders only. */
size_t order_items_json(const Sluice__V1__SubmitOrder *o, char *buf, size_t len);

#endif
