/* reply.h - owns the Reply messages the daemon sends back on the ingress:
 * errors, acks and order statuses, each along its request's ticket. */
#ifndef SLUICE_REPLY_H
#define SLUICE_REPLY_H

#include "ingress.h"
#include "order_index.h"
#include "proto/sluice.pb-c.h"

#include <stdint.h>

/* Error.code values, as HTTP says them. */
enum {
    REPLY_BAD_REQUEST = 400,
    REPLY_NOT_FOUND = 404,
    REPLY_CONFLICT = 409,
    REPLY_UNAVAILABLE = 503,
};

void reply_error(ingress_t *in, const ingress_ticket_t *t, uint32_t code, const char *message);
void reply_ack(ingress_t *in, const ingress_ticket_t *t, Sluice__V1__OrderAck *ack);

/* reply_status answers with an OrderStatus of the order and times given. */
void reply_status(ingress_t *in, const ingress_ticket_t *t, const char *order_id,
                  uint32_t store_id, const char *state, uint64_t ready_ms, uint64_t delivery_ms,
                  uint64_t updated_ms);
/* reply_entry_status answers with E's status; an order still committing is
 * RECEIVED. */
void reply_entry_status(ingress_t *in, const ingress_ticket_t *t, const order_entry_t *e);

#endif
