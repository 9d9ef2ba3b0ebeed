/* change.c - owns the queue and statement of order state changes. */
#include "change.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* One statement per run of changes. Several changes of one order may share a
 * run: the order takes the state of its last change that sets one, a
 * dispatches row the values of its last change, and every change adds its
 * event row, in queue order.
 * A node with a shard fences the statement (as batch.c does its inserts):
 * sluice_fence's two parameters follow the arrays. */
#define CHANGE_STATEMENT(fence, fence_join) \
    "WITH " fence "input AS (" \
    " SELECT * FROM unnest($1::text[], $2::order_state[], $3::text[], $4::bool[]," \
    "                      $5::text[], $6::int4[], $7::text[], $8::dispatch_state[]," \
    "                      $9::text[], $10::int4[], $11::int4[], $12::int8[])" \
    "   WITH ORDINALITY AS t(order_id, state, detail, keep_state, dkey, attempt, platform," \
    "                        dstate, rider_ref, seq, fee, pickup_ms, n)" \
    "), touched AS (" \
    " SELECT order_id, (array_agg(state ORDER BY n DESC) FILTER (WHERE NOT keep_state))[1] AS state" \
    "   FROM input GROUP BY order_id" \
    "), updated AS (" \
    " UPDATE orders o SET state = coalesce(t.state, o.state)," \
    "        refund_due = o.refund_due OR coalesce(t.state = 'FAILED', false), updated_at = now()" \
    "   FROM touched t" fence_join " WHERE o.order_id = t.order_id" \
    " RETURNING o.order_id, o.updated_at" \
    "), dispatched AS (" \
    " INSERT INTO dispatches AS d (dispatch_key, order_id, attempt, platform, state, rider_ref," \
    "                             last_seq, fee_cents, pickup_at)" \
    " SELECT DISTINCT ON (dkey) dkey, order_id, attempt, platform, dstate, rider_ref, seq," \
    "        fee, CASE WHEN pickup_ms > 0 THEN to_timestamp(pickup_ms / 1000.0) END" \
    "   FROM input WHERE dkey IS NOT NULL AND order_id IN (SELECT order_id FROM updated)" \
    "  ORDER BY dkey, n DESC" \
    " ON CONFLICT (dispatch_key) DO UPDATE SET state = EXCLUDED.state," \
    "        rider_ref = coalesce(EXCLUDED.rider_ref, d.rider_ref)," \
    "        last_seq = greatest(EXCLUDED.last_seq, d.last_seq)," \
    "        fee_cents = EXCLUDED.fee_cents," \
    "        pickup_at = coalesce(EXCLUDED.pickup_at, d.pickup_at), updated_at = now()" \
    "), events AS (" \
    " INSERT INTO order_events (order_id, state, detail)" \
    " SELECT order_id, state, detail FROM input WHERE order_id IN (SELECT order_id FROM updated)" \
    "  ORDER BY n" \
    ")" \
    " SELECT order_id, (extract(epoch FROM updated_at) * 1000)::int8 FROM updated"

const char change_sql[] = CHANGE_STATEMENT("", "");
const char change_fenced_sql[] =
    CHANGE_STATEMENT("fence AS MATERIALIZED (SELECT sluice_fence($13, $14)), ", " CROSS JOIN fence");

bool change_queue_init(change_queue_t *q, size_t max_requests)
{
    memset(q, 0, sizeof *q);
    size_t cap = max_requests < 1024 ? 1024 : max_requests;
    q->items = calloc(cap, sizeof *q->items);
    q->cap = q->items ? cap : 0;
    q->max_requests = max_requests;
    return q->items != NULL;
}

void change_queue_free(change_queue_t *q)
{
    free(q->items);
    for (int i = 0; i < CHANGE_PARAMS; i++)
        pgarray_free(&q->col[i]);
    memset(q, 0, sizeof *q);
}

/* s_grow doubles the ring, keeping the order from the head. */
static bool s_grow(change_queue_t *q)
{
    size_t cap = q->cap * 2;
    change_t *items = calloc(cap, sizeof *items);
    if (!items)
        return false;
    for (size_t i = 0; i < q->count; i++)
        items[i] = q->items[(q->head + i) % q->cap];
    free(q->items);
    q->items = items;
    q->cap = cap;
    q->head = 0;
    return true;
}

bool change_queue_push(change_queue_t *q, const change_t *c)
{
    if (!c->engine && q->requests >= q->max_requests)
        return false;
    if (q->count == q->cap && !s_grow(q))
        return false;
    q->items[(q->head + q->count) % q->cap] = *c;
    q->count++;
    if (!c->engine)
        q->requests++;
    return true;
}

change_t *change_queue_in_flight(change_queue_t *q, size_t i)
{
    return &q->items[(q->head + i) % q->cap];
}

static bool s_put_row(change_queue_t *q, const change_t *c)
{
    const change_dispatch_t *d = &c->dispatch;
    bool row = d->attempt > 0;
    pgarray_t *col = q->col;
    if (!pgarray_put_text(&col[0], c->entry->order_id, false) ||
        !pgarray_put_text(&col[1], order_state_name(c->to), false) ||
        !pgarray_put_text(&col[2], c->detail, true) ||
        !pgarray_put_raw(&col[3], c->keep_state ? "t" : "f", 1) ||
        !pgarray_put_text(&col[4], row ? d->key : NULL, true) ||
        !pgarray_put_fmt(&col[5], "%u", (unsigned)d->attempt) ||
        !pgarray_put_text(&col[6], row ? d->platform : NULL, true) ||
        !pgarray_put_text(&col[7], row ? d->state : NULL, true) ||
        !pgarray_put_text(&col[8], row ? d->rider_ref : NULL, true) ||
        !pgarray_put_fmt(&col[9], "%" PRIu32, d->seq) ||
        !(d->fee_unknown ? pgarray_put_raw(&col[10], "NULL", 4)
                         : pgarray_put_fmt(&col[10], "%" PRIu32, d->fee_cents)) ||
        !pgarray_put_fmt(&col[11], "%" PRIu64, d->pickup_at_ms))
        return false;
    return true;
}

size_t change_queue_params(change_queue_t *q, size_t max, const char *values[CHANGE_PARAMS],
                           bool *oom)
{
    size_t n = q->count < max ? q->count : max, rows = 0;
    *oom = false;
    for (int i = 0; i < CHANGE_PARAMS; i++)
        pgarray_reset(&q->col[i]);
    q->in_flight = n;
    for (size_t i = 0; i < n; i++) {
        const change_t *c = change_queue_in_flight(q, i);
        if (c->dropped)
            continue;
        if (!s_put_row(q, c)) {
            *oom = true;
            return 0;
        }
        rows++;
    }
    for (int i = 0; i < CHANGE_PARAMS; i++)
        if (!(values[i] = pgarray_finish(&q->col[i]))) {
            *oom = true;
            return 0;
        }
    return rows;
}

void change_queue_pop_in_flight(change_queue_t *q)
{
    for (size_t i = 0; i < q->in_flight; i++)
        if (!change_queue_in_flight(q, i)->engine)
            q->requests--;
    q->head = (q->head + q->in_flight) % q->cap;
    q->count -= q->in_flight;
    q->in_flight = 0;
}

void change_queue_keep_in_flight(change_queue_t *q)
{
    q->in_flight = 0;
}
