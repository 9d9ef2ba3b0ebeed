/* change.c - owns the queue and statement of order state changes. */
#include "change.h"

#include <stdlib.h>
#include <string.h>

const char change_sql[] =
    "WITH input AS ("
    " SELECT * FROM unnest($1::text[], $2::order_state[], $3::text[]) AS t(order_id, state, detail)"
    "), updated AS ("
    " UPDATE orders o SET state = i.state, updated_at = now()"
    "   FROM input i WHERE o.order_id = i.order_id"
    " RETURNING o.order_id, o.state, i.detail, o.updated_at"
    "), events AS ("
    " INSERT INTO order_events (order_id, state, detail) SELECT order_id, state, detail FROM updated"
    ")"
    " SELECT order_id, (extract(epoch FROM updated_at) * 1000)::int8 FROM updated";

bool change_queue_init(change_queue_t *q, size_t cap)
{
    memset(q, 0, sizeof *q);
    q->items = calloc(cap, sizeof *q->items);
    q->cap = q->items ? cap : 0;
    return q->items != NULL;
}

void change_queue_free(change_queue_t *q)
{
    free(q->items);
    for (int i = 0; i < CHANGE_PARAMS; i++)
        pgarray_free(&q->col[i]);
    memset(q, 0, sizeof *q);
}

bool change_queue_push(change_queue_t *q, const change_t *c)
{
    if (q->count == q->cap)
        return false;
    q->items[(q->head + q->count) % q->cap] = *c;
    q->count++;
    return true;
}

change_t *change_queue_in_flight(change_queue_t *q, size_t i)
{
    return &q->items[(q->head + i) % q->cap];
}

size_t change_queue_params(change_queue_t *q, size_t max, const char *values[CHANGE_PARAMS])
{
    size_t n = q->count < max ? q->count : max;
    for (int i = 0; i < CHANGE_PARAMS; i++)
        pgarray_reset(&q->col[i]);
    for (size_t i = 0; i < n; i++) {
        const change_t *c = change_queue_in_flight(q, i);
        if (!pgarray_put_text(&q->col[0], c->entry->order_id, false) ||
            !pgarray_put_text(&q->col[1], order_state_name(c->to), false) ||
            !pgarray_put_text(&q->col[2], c->detail, true))
            return 0;
    }
    for (int i = 0; i < CHANGE_PARAMS; i++)
        if (!(values[i] = pgarray_finish(&q->col[i])))
            return 0;
    q->in_flight = n;
    return n;
}

void change_queue_pop_in_flight(change_queue_t *q)
{
    q->head = (q->head + q->in_flight) % q->cap;
    q->count -= q->in_flight;
    q->in_flight = 0;
}
