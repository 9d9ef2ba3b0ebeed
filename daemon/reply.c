/* reply.c - owns the Reply messages sent back on the ingress. */
#include "reply.h"

void reply_error(ingress_t *in, const ingress_ticket_t *t, uint32_t code, const char *message)
{
    Sluice__V1__Error error = SLUICE__V1__ERROR__INIT;
    error.code = code;
    error.message = (char *)message;
    Sluice__V1__Reply reply = SLUICE__V1__REPLY__INIT;
    reply.request_id = t->request_id;
    reply.body_case = SLUICE__V1__REPLY__BODY_ERROR;
    reply.error = &error;
    ingress_reply(in, t, &reply);
}

void reply_ack(ingress_t *in, const ingress_ticket_t *t, Sluice__V1__OrderAck *ack)
{
    Sluice__V1__Reply reply = SLUICE__V1__REPLY__INIT;
    reply.request_id = t->request_id;
    reply.body_case = SLUICE__V1__REPLY__BODY_ACK;
    reply.ack = ack;
    ingress_reply(in, t, &reply);
}

void reply_status(ingress_t *in, const ingress_ticket_t *t, const char *order_id,
                  uint32_t store_id, const char *state, uint64_t ready_ms, uint64_t delivery_ms,
                  uint64_t updated_ms)
{
    Sluice__V1__OrderStatus st = SLUICE__V1__ORDER_STATUS__INIT;
    st.order_id = (char *)order_id;
    st.store_id = store_id;
    st.state = (char *)state;
    st.promised_ready_at_ms = ready_ms;
    st.promised_delivery_at_ms = delivery_ms;
    st.updated_at_ms = updated_ms;
    Sluice__V1__Reply reply = SLUICE__V1__REPLY__INIT;
    reply.request_id = t->request_id;
    reply.body_case = SLUICE__V1__REPLY__BODY_STATUS;
    reply.status = &st;
    ingress_reply(in, t, &reply);
}

void reply_entry_status(ingress_t *in, const ingress_ticket_t *t, const order_entry_t *e)
{
    reply_status(in, t, e->order_id, e->store_id,
                 e->pending ? "RECEIVED" : order_state_name((order_state_t)e->state),
                 e->promised_ready_at_ms, e->promised_delivery_at_ms, e->updated_at_ms);
}
