/* reply.h - owns the Reply messages the daemon sends back on the ingress:
 * errors, acks and order statuses, each along its request's ticket. An ack
 * echoes its order_id only when it is a valid id (1..64 of
 * [A-Za-z0-9._:-]): a refused id may be long, or not UTF-8, and an answer
 * must fit the reply path and parse in any protobuf client; the detail then
 * says it was left out. The builders make a Reply without a socket, for the
 * senders here and for the fuzz target. */
#ifndef SLUICE_REPLY_H
#define SLUICE_REPLY_H

#include "ingress.h"
#include "order.h"
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

/* A Reply and what it points to; the strings given to a builder are
 * borrowed and must outlive it. */
typedef struct reply_msg {
    Sluice__V1__Reply reply;
    Sluice__V1__OrderAck ack;
    Sluice__V1__Error error;
    char detail[ORDER_DETAIL_MAX + 48];
} reply_msg_t;

/* reply_build_ack makes M the reply to REQUEST_ID carrying ACK, its order_id
 * left out (and the detail saying so) when it is not a valid id. */
void reply_build_ack(reply_msg_t *m, uint64_t request_id, const Sluice__V1__OrderAck *ack);
void reply_build_error(reply_msg_t *m, uint64_t request_id, uint32_t code, const char *message);

void reply_error(ingress_t *in, const ingress_ticket_t *t, uint32_t code, const char *message);
void reply_ack(ingress_t *in, const ingress_ticket_t *t, const Sluice__V1__OrderAck *ack);

/* reply_status answers with an OrderStatus of the order and times given. */
void reply_status(ingress_t *in, const ingress_ticket_t *t, const char *order_id,
                  uint32_t store_id, const char *state, uint64_t ready_ms, uint64_t delivery_ms,
                  uint64_t updated_ms);
/* reply_entry_status answers with E's status; an order still committing is
 * RECEIVED. */
void reply_entry_status(ingress_t *in, const ingress_ticket_t *t, const order_entry_t *e);

#endif
