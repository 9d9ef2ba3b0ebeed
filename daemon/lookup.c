/* lookup.c - owns the requests waiting for the database to find an order. */
#include "lookup.h"

#include "batch.h"
#include "order.h"
#include "reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct request {
    ingress_ticket_t *ticket;
    order_event_t event;        /* a requester's change; ORDER_EVENT_COUNT: a GetOrder */
    char order_id[ORDER_ID_MAX + 1];
} request_t;

struct lookup {
    ingress_t *ingress;
    const dbwork_t *dbwork;
    request_t *fifo;            /* ring of LOOKUP_MAX */
    size_t head, count;
    size_t in_flight;           /* taken from the head by the statement in flight */
};

lookup_t *lookup_new(ingress_t *ingress, const dbwork_t *dbwork)
{
    lookup_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->fifo = calloc(LOOKUP_MAX, sizeof *self->fifo);
    if (!self->fifo) {
        free(self);
        return NULL;
    }
    self->ingress = ingress;
    self->dbwork = dbwork;
    return self;
}

void lookup_destroy(lookup_t **self)
{
    if (!self || !*self)
        return;
    lookup_t *l = *self;
    for (size_t i = 0; i < l->count; i++)
        free(l->fifo[(l->head + i) % LOOKUP_MAX].ticket);
    free(l->fifo);
    free(l);
    *self = NULL;
}

static void s_later(lookup_t *self, ingress_ticket_t *t, order_event_t event,
                    const char *order_id)
{
    if (!dbwork_first_up(self->dbwork) || self->count >= LOOKUP_MAX) {
        reply_error(self->ingress, t, REPLY_UNAVAILABLE,
                    "database: unreachable or busy, retry later");
        free(t);
        return;
    }
    request_t *r = &self->fifo[(self->head + self->count) % LOOKUP_MAX];
    r->ticket = t;
    r->event = event;
    snprintf(r->order_id, sizeof r->order_id, "%s", order_id);
    self->count++;
}

void lookup_get(lookup_t *self, ingress_ticket_t *t, const char *order_id)
{
    s_later(self, t, ORDER_EVENT_COUNT, order_id);
}

void lookup_change(lookup_t *self, ingress_ticket_t *t, order_event_t event,
                   const char *order_id)
{
    s_later(self, t, event, order_id);
}

/* s_answer answers R from the stored row STORED (NULL: not found) or ERR. */
static void s_answer(lookup_t *self, const request_t *r, const batch_stored_t *stored,
                     const db_error_t *err)
{
    char why[ORDER_DETAIL_MAX + 64];
    order_state_t to;
    if (err) {
        reply_error(self->ingress, r->ticket, REPLY_UNAVAILABLE,
                    "database: lookup failed, retry later");
    } else if (!stored) {
        reply_error(self->ingress, r->ticket, REPLY_NOT_FOUND, "order not found");
    } else if (r->event != ORDER_EVENT_COUNT &&
               order_state_on(stored->state, r->event, ORDER_GUARD_NONE, &to) !=
                   ORDER_EFFECT_REPEAT) {
        /* Every live order is in memory, so a stored one found here has
         * ended; one for which the change is a repeat (already in the asked
         * for state, or delivered for a late MarkReady) gets its status, as
         * it would from memory. */
        snprintf(why, sizeof why, "order %s is %s; it cannot be %s", r->order_id,
                 order_state_name(stored->state),
                 r->event == ORDER_EVENT_MARK_READY ? "marked ready" : "cancelled");
        reply_error(self->ingress, r->ticket, REPLY_CONFLICT, why);
    } else {
        reply_status(self->ingress, r->ticket, r->order_id, stored->store_id,
                     order_state_name(stored->state), stored->promised_ready_at_ms,
                     stored->promised_delivery_at_ms, stored->updated_at_ms);
    }
}

static void s_done(void *arg, const PGresult *res, const db_error_t *err)
{
    lookup_t *self = arg;
    size_t n = self->in_flight;
    self->in_flight = 0;
    for (size_t i = 0; i < n; i++) {
        request_t *r = &self->fifo[self->head];
        self->head = (self->head + 1) % LOOKUP_MAX;
        self->count--;
        batch_stored_t stored;
        bool found = false;
        for (int row = 0; res && !found && row < PQntuples(res); row++)
            found = batch_stored_read(res, row, &stored) &&
                    strcmp(stored.order_id, r->order_id) == 0;
        s_answer(self, r, found ? &stored : NULL, err);
        free(r->ticket);
        r->ticket = NULL;
    }
}

static const char *s_id_at(const void *arg, size_t i)
{
    const lookup_t *self = arg;
    return self->fifo[(self->head + i) % LOOKUP_MAX].order_id;
}

bool lookup_waiting(void *arg)
{
    const lookup_t *self = arg;
    return self->count > 0 && self->in_flight == 0;
}

bool lookup_send(void *arg, db_t *db, size_t conn)
{
    lookup_t *self = arg;
    (void)conn;
    size_t n = self->count < LOOKUP_BATCH ? self->count : LOOKUP_BATCH;
    self->in_flight = n;
    char *ids = batch_id_array(n, s_id_at, self);
    const char *values[1] = {ids};
    if (!ids || !db_send(db, "lookup_orders", 1, values, s_done, self)) {
        db_error_t err = {.connection_lost = true};
        s_done(self, NULL, &err);
    }
    free(ids);
    return true;
}

void lookup_down(void *arg)
{
    lookup_t *self = arg;
    if (self->count > 0 && self->in_flight == 0) {
        db_error_t err = {.connection_lost = true};
        self->in_flight = self->count;
        s_done(self, NULL, &err);
    }
}

bool lookup_busy(void *arg)
{
    const lookup_t *self = arg;
    return self->count > 0;
}
