/* batch.c - owns the group-commit batches and the statement that writes them. */
#include "batch.h"

#include "clock.h"
#include "log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { COL_ID, COL_STORE, COL_ITEMS, COL_LAT, COL_LNG, COL_VOUCHER, COL_CUSTOMER,
       COL_CREATED, COL_FINGERPRINT, COL_READY, COL_DELIVERY, COL_SLOT, COL_START, COL_CAMPAIGN };

/* Arrays in; out come the ids this statement inserted. An id that is not
 * returned already existed (a retry after a restart): the caller looks those
 * up by primary key. No join against orders here: at millions of rows the
 * planner would hash the whole table for every batch. A campaign order's
 * first event names its campaign, so its timeline says so.
 *
 * The batch statements share their input and their inserts, and differ in
 * the fence and in what they return. A node with a shard fences them:
 * sluice_fence (migration 010) checks the node's epoch once per statement,
 * holding the lease row until the commit, and returns the shard, which goes
 * to orders.shard, the last column. Its two parameters follow the arrays
 * (db.h appends them). */
#define BATCH_INSERT(fence, shard_column, shard_value, from) \
    "WITH " fence "input AS (" \
    " SELECT * FROM unnest($1::text[], $2::int8[], $3::jsonb[], $4::float8[], $5::float8[]," \
    "                      $6::text[], $7::text[], $8::int8[], $9::int8[], $10::int8[], $11::int8[]," \
    "                      $12::int2[], $13::int8[], $14::text[])" \
    "  WITH ORDINALITY AS t(order_id, store_id, items, lat, lng, voucher_id, customer_ref," \
    "                       created_ms, fingerprint, ready_ms, delivery_ms, slot, start_ms," \
    "                       campaign, n)" \
    "), inserted AS (" \
    " INSERT INTO orders (order_id, store_id, state, items, dropoff_lat, dropoff_lng, voucher_id," \
    "                     customer_ref, producer_created_at, fingerprint, promised_ready_at," \
    "                     promised_delivery_at, prep_slot, prep_start_at, campaign" shard_column ")" \
    " SELECT order_id, store_id, 'ACCEPTED', items, lat, lng, voucher_id, customer_ref," \
    "        'epoch'::timestamptz + nullif(created_ms, 0) * interval '1 millisecond', fingerprint," \
    "        'epoch'::timestamptz + ready_ms * interval '1 millisecond'," \
    "        'epoch'::timestamptz + delivery_ms * interval '1 millisecond', slot," \
    "        'epoch'::timestamptz + start_ms * interval '1 millisecond', nullif(campaign, '')" \
    shard_value \
    " FROM " from " ORDER BY n"  /* one lock order for every writer */ \
    " ON CONFLICT (order_id) DO NOTHING" \
    " RETURNING order_id, campaign" \
    "), events AS (" \
    " INSERT INTO order_events (order_id, state, detail)" \
    " SELECT order_id, 'ACCEPTED', 'campaign ' || campaign FROM inserted" \
    ")"
#define BATCH_UNFENCED BATCH_INSERT("", "", "", "input")
#define BATCH_FENCED \
    BATCH_INSERT("fence AS MATERIALIZED (SELECT sluice_fence($15, $16) AS shard), ", ", shard", \
                 ", fence.shard", "input CROSS JOIN fence")

/* A batch whose commit's outcome was lost (the connection dropped, or no
 * answer in time) is sent again as this, with the same parameters, once a
 * connection to a primary is up: its ON CONFLICT waits for the lost
 * transaction if that is still going, and the message, written in its
 * transaction, makes its commit wait for the synchronous standby (an xid
 * alone writes no WAL, and a commit without WAL waits for no standby). The
 * ids in the array it returns were stored by it; the others were stored
 * before. */
#define BATCH_RESOLVED \
    " SELECT pg_logical_emit_message(true, 'sluice', 'in-doubt batch')," \
    " ARRAY(SELECT order_id FROM inserted)"

const char batch_insert_sql[] = BATCH_UNFENCED " SELECT order_id FROM inserted";
const char batch_insert_fenced_sql[] = BATCH_FENCED " SELECT order_id FROM inserted";
const char batch_resolve_sql[] = BATCH_UNFENCED BATCH_RESOLVED;
const char batch_resolve_fenced_sql[] = BATCH_FENCED BATCH_RESOLVED;

/* An order as stored; batch_stored_read parses a row. */
#define BATCH_STORED_SELECT \
    "SELECT o.order_id, o.store_id, o.state," \
    "       (extract(epoch FROM o.promised_ready_at) * 1000)::int8," \
    "       (extract(epoch FROM o.promised_delivery_at) * 1000)::int8," \
    "       (extract(epoch FROM o.updated_at) * 1000)::int8," \
    "       o.fingerprint, coalesce(o.prep_slot, 0)," \
    "       (extract(epoch FROM coalesce(o.prep_start_at, o.promised_ready_at)) * 1000)::int8," \
    "       o.dropoff_lat, o.dropoff_lng," \
    "       (SELECT coalesce(sum((x->>'qty')::int), 0) FROM jsonb_array_elements(o.items) x)," \
    "       (SELECT coalesce(max(a.attempt), 0) FROM dispatches a WHERE a.order_id = o.order_id)," \
    "       coalesce(o.campaign, '')"

#define BATCH_DISPATCH_LIVE "dispatch_state_is_live(d.state)"
#define BATCH_DISPATCH_COLUMNS \
    ", d.dispatch_key, d.attempt, d.platform, d.state, coalesce(d.rider_ref, '')," \
    "  d.last_seq, coalesce(d.fee_cents, 0)"

/* Orders by primary key, for GetOrder misses and for ids a batch found
 * already stored. */
const char batch_lookup_sql[] = BATCH_STORED_SELECT " FROM orders o WHERE o.order_id = ANY($1::text[])";

/* Every live order with its live dispatch attempt if any, read once at start
 * to rebuild the prep schedules and the dispatch jobs (the orders_store_live
 * and dispatches_live indexes cover these rows: the state functions of
 * migration 007 are inlined into their predicates); then the finished
 * orders whose last attempt a platform has not released yet. A node with a
 * shard reads its shard's only (orders_shard_live, migration 010). */
#define BATCH_LIVE(shard) \
    BATCH_STORED_SELECT BATCH_DISPATCH_COLUMNS \
    "  FROM orders o LEFT JOIN dispatches d ON d.order_id = o.order_id AND " BATCH_DISPATCH_LIVE \
    " WHERE NOT order_state_is_terminal(o.state)" shard \
    " UNION ALL " \
    BATCH_STORED_SELECT BATCH_DISPATCH_COLUMNS \
    "  FROM dispatches d JOIN orders o ON o.order_id = d.order_id" \
    " WHERE " BATCH_DISPATCH_LIVE " AND order_state_is_terminal(o.state)" shard

const char batch_live_sql[] = BATCH_LIVE("");
const char batch_live_shard_sql[] = BATCH_LIVE(" AND o.shard = $1");

static batch_t *s_batch_new(size_t cap)
{
    batch_t *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->entries = calloc(cap, sizeof *b->entries);
    if (!b->entries) {
        free(b);
        return NULL;
    }
    b->cap = cap;
    return b;
}

void batch_free(batch_t *b)
{
    if (!b)
        return;
    for (int i = 0; i < BATCH_COLUMNS; i++)
        pgarray_free(&b->col[i]);
    free(b->entries);
    free(b);
}

void batch_queue_init(batch_queue_t *q, size_t batch_max)
{
    memset(q, 0, sizeof *q);
    q->batch_max = batch_max ? batch_max : 1;
}

void batch_queue_clear(batch_queue_t *q)
{
    while (q->head) {
        batch_t *next = q->head->next;
        batch_free(q->head);
        q->head = next;
    }
    batch_free(q->spare);
    q->tail = q->spare = NULL;
    q->orders = 0;
}

static batch_t *s_tail_with_room(batch_queue_t *q)
{
    if (q->tail && q->tail->count < q->tail->cap)
        return q->tail;
    batch_t *b = q->spare ? q->spare : s_batch_new(q->batch_max);
    if (!b)
        return NULL;
    q->spare = NULL;
    if (q->tail)
        q->tail->next = b;
    else
        q->head = b;
    q->tail = b;
    return b;
}

/* s_put_int appends V in decimal: seven numbers a row, and snprintf's format
 * parsing was the larger part of building a batch. */
static bool s_put_int(pgarray_t *a, int64_t v)
{
    char buf[24], *p = buf + sizeof buf;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u > 0);
    if (v < 0)
        *--p = '-';
    return pgarray_put_raw(a, p, (size_t)(buf + sizeof buf - p));
}

static bool s_put_uint(pgarray_t *a, uint64_t v)
{
    char buf[24], *p = buf + sizeof buf;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    return pgarray_put_raw(a, p, (size_t)(buf + sizeof buf - p));
}

bool batch_queue_add(batch_queue_t *q, order_entry_t *entry, const Sluice__V1__SubmitOrder *o)
{
    batch_t *b = s_tail_with_room(q);
    if (!b)
        return false;
    char items[ORDER_ITEMS_MAX * (2 * ORDER_SKU_MAX * 4 + 32) + 8];
    if (order_items_json(o, items, sizeof items) == 0)
        return false;
    /* Remember each column's length so a failure part-way leaves no half row. */
    size_t mark[BATCH_COLUMNS];
    for (int i = 0; i < BATCH_COLUMNS; i++)
        mark[i] = b->col[i].len;
    bool ok = pgarray_put_text(&b->col[COL_ID], entry->order_id, false) &&
              s_put_uint(&b->col[COL_STORE], o->store_id) &&
              pgarray_put_text(&b->col[COL_ITEMS], items, false) &&
              pgarray_put_fmt(&b->col[COL_LAT], "%.17g", o->dropoff->lat) &&
              pgarray_put_fmt(&b->col[COL_LNG], "%.17g", o->dropoff->lng) &&
              pgarray_put_text(&b->col[COL_VOUCHER], o->voucher_id, true) &&
              pgarray_put_text(&b->col[COL_CUSTOMER], o->customer_ref, true) &&
              s_put_int(&b->col[COL_CREATED], (int64_t)o->created_at_ms) &&
              s_put_int(&b->col[COL_FINGERPRINT], (int64_t)entry->fingerprint) &&
              s_put_uint(&b->col[COL_READY], entry->promised_ready_at_ms) &&
              s_put_uint(&b->col[COL_DELIVERY], entry->promised_delivery_at_ms) &&
              s_put_uint(&b->col[COL_SLOT], entry->prep_slot) &&
              s_put_uint(&b->col[COL_START], entry->prep_start_at_ms) &&
              pgarray_put_text(&b->col[COL_CAMPAIGN], o->campaign, true);
    if (!ok) {
        for (int i = 0; i < BATCH_COLUMNS; i++)
            b->col[i].len = mark[i];
        return false;
    }
    if (b->count == 0)
        b->opened_us = clock_mono_us();
    b->entries[b->count++] = entry;
    q->orders++;
    return true;
}

batch_t *batch_queue_pop(batch_queue_t *q)
{
    batch_t *b = q->head;
    if (!b)
        return NULL;
    q->head = b->next;
    if (!q->head)
        q->tail = NULL;
    b->next = NULL;
    q->orders -= b->count;
    return b;
}

void batch_queue_release(batch_queue_t *q, batch_t *b)
{
    if (!b)
        return;
    if (q->spare) {
        batch_free(b);
        return;
    }
    b->count = 0;
    b->sent_us = 0;
    for (int i = 0; i < BATCH_COLUMNS; i++)
        pgarray_reset(&b->col[i]);
    q->spare = b;
}

bool batch_params(batch_t *b, const char *values[BATCH_COLUMNS])
{
    for (int i = 0; i < BATCH_COLUMNS; i++)
        if (!(values[i] = pgarray_finish(&b->col[i])))
            return false;
    return true;
}

static uint64_t s_u64(const PGresult *res, int row, int col)
{
    return (uint64_t)strtoll(PQgetvalue(res, row, col), NULL, 10);
}

bool batch_stored_read(const PGresult *res, int row, batch_stored_t *out)
{
    memset(out, 0, sizeof *out);
    int fields = PQnfields(res);
    if ((fields != BATCH_STORED_FIELDS && fields != BATCH_STORED_FIELDS + 7) ||
        row >= PQntuples(res))
        return false;
    out->order_id = PQgetvalue(res, row, 0);
    out->store_id = (uint32_t)s_u64(res, row, 1);
    if (!order_state_parse(PQgetvalue(res, row, 2), &out->state)) {
        log_error("failed to read order state '%s' from the database", PQgetvalue(res, row, 2));
        return false;
    }
    out->promised_ready_at_ms = s_u64(res, row, 3);
    out->promised_delivery_at_ms = s_u64(res, row, 4);
    out->updated_at_ms = s_u64(res, row, 5);
    out->fingerprint = s_u64(res, row, 6);
    out->prep_slot = (uint16_t)s_u64(res, row, 7);
    out->prep_start_at_ms = s_u64(res, row, 8);
    out->dropoff_lat = strtod(PQgetvalue(res, row, 9), NULL);
    out->dropoff_lng = strtod(PQgetvalue(res, row, 10), NULL);
    out->drinks = (uint16_t)s_u64(res, row, 11);
    out->attempts = (uint16_t)s_u64(res, row, 12);
    out->campaign = PQgetvalue(res, row, 13);
    int d = BATCH_STORED_FIELDS;
    if (fields > d && !PQgetisnull(res, row, d)) {
        out->has_dispatch = true;
        out->dispatch.key = PQgetvalue(res, row, d);
        out->dispatch.attempt = (uint16_t)s_u64(res, row, d + 1);
        out->dispatch.platform = PQgetvalue(res, row, d + 2);
        out->dispatch.state = PQgetvalue(res, row, d + 3);
        out->dispatch.rider_ref = PQgetvalue(res, row, d + 4);
        out->dispatch.seq = (uint32_t)s_u64(res, row, d + 5);
        out->dispatch.fee_cents = (uint32_t)s_u64(res, row, d + 6);
    }
    return true;
}

void batch_stored_settle(order_entry_t *e, const batch_stored_t *stored)
{
    e->pending = false;
    e->fingerprint = stored->fingerprint;
    e->store_id = stored->store_id;
    e->state = (uint8_t)stored->state;
    e->promised_ready_at_ms = stored->promised_ready_at_ms;
    e->promised_delivery_at_ms = stored->promised_delivery_at_ms;
    e->updated_at_ms = stored->updated_at_ms;
    e->prep_slot = stored->prep_slot;
    e->prep_start_at_ms = stored->prep_start_at_ms;
    e->dropoff_lat = stored->dropoff_lat;
    e->dropoff_lng = stored->dropoff_lng;
    e->drinks = stored->drinks;
    e->attempts = stored->attempts;
}

char *batch_id_array(size_t n, const char *(*id_at)(const void *arg, size_t i), const void *arg)
{
    char *ids = malloc(n * (ORDER_ID_MAX + 1) + 3);
    if (!ids)
        return NULL;
    size_t len = 0;
    ids[len++] = '{';
    for (size_t i = 0; i < n; i++) {
        const char *id = id_at(arg, i);
        size_t k = strlen(id);
        if (i)
            ids[len++] = ',';
        memcpy(ids + len, id, k);
        len += k;
    }
    ids[len++] = '}';
    ids[len] = '\0';
    return ids;
}
