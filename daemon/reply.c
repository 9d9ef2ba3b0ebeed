/* reply.c - owns the Reply messages sent back on the ingress. */
#include "reply.h"

#include <stdio.h>
#include <string.h>

void reply_build_error(reply_msg_t *m, uint64_t request_id, uint32_t code, const char *message)
{
    sluice__v1__error__init(&m->error);
    m->error.code = code;
    m->error.message = (char *)message;
    sluice__v1__reply__init(&m->reply);
    m->reply.request_id = request_id;
    m->reply.body_case = SLUICE__V1__REPLY__BODY_ERROR;
    m->reply.error = &m->error;
}

void reply_build_ack(reply_msg_t *m, uint64_t request_id, const Sluice__V1__OrderAck *ack)
{
    m->ack = *ack;
    const char *id = ack->order_id ? ack->order_id : "";
    if (id[0] && !order_id_valid(id)) {
        const char *detail = ack->detail ? ack->detail : "";
        snprintf(m->detail, sizeof m->detail, "%s%sorder_id is left out of this reply", detail,
                 detail[0] ? "; " : "");
        m->ack.order_id = (char *)"";
        m->ack.detail = m->detail;
    }
    sluice__v1__reply__init(&m->reply);
    m->reply.request_id = request_id;
    m->reply.body_case = SLUICE__V1__REPLY__BODY_ACK;
    m->reply.ack = &m->ack;
}

void reply_error(ingress_t *in, const ingress_ticket_t *t, uint32_t code, const char *message)
{
    reply_msg_t m;
    reply_build_error(&m, t->request_id, code, message);
    ingress_reply(in, t, &m.reply);
}

void reply_ack(ingress_t *in, const ingress_ticket_t *t, const Sluice__V1__OrderAck *ack)
{
    reply_msg_t m;
    reply_build_ack(&m, t->request_id, ack);
    ingress_reply(in, t, &m.reply);
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
