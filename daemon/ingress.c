/* ingress.c - owns the producers' ROUTER socket. */
#include "ingress.h"

#include "clock.h"
#include "envelope.h"
#include "log.h"
#include "order.h"
#include "wire_text.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* Messages ingress_recv answers or drops itself in one call, before it lets
 * the loop have its turn. */
#define INGRESS_REFUSED_PER_CALL 64

struct ingress {
    void *socket;
    ingress_stats_t stats;
    char endpoint[256];           /* as bound: a wildcard port resolved */
    uint8_t reply[INGRESS_REPLY_MAX];   /* every reply is packed here, then sent */
};

ingress_t *ingress_new(void *ctx, const char *endpoint, int max_message_bytes,
                       const char *curve_secret)
{
    ingress_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->socket = zmq_socket(ctx, ZMQ_ROUTER);
    if (!self->socket)
        goto fail;
    int64_t max_size = max_message_bytes;
    int hwm = 200000;
    int linger = 0;
    if (zmq_setsockopt(self->socket, ZMQ_MAXMSGSIZE, &max_size, sizeof max_size) != 0 ||
        zmq_setsockopt(self->socket, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(self->socket, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(self->socket, ZMQ_LINGER, &linger, sizeof linger) != 0)
        goto fail;
    int on = 1;
    if (curve_secret && (zmq_setsockopt(self->socket, ZMQ_CURVE_SERVER, &on, sizeof on) != 0 ||
                         zmq_setsockopt(self->socket, ZMQ_CURVE_SECRETKEY, curve_secret, 40) != 0 ||
                         zmq_setsockopt(self->socket, ZMQ_ZAP_DOMAIN, "sluice", 6) != 0)) {
        log_error("failed to set up CURVE on ingress: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    size_t len = sizeof self->endpoint;
    if (zmq_bind(self->socket, endpoint) != 0 ||
        zmq_getsockopt(self->socket, ZMQ_LAST_ENDPOINT, self->endpoint, &len) != 0) {
        log_error("failed to bind ingress %s: %s", endpoint, zmq_strerror(zmq_errno()));
        goto fail;
    }
    return self;
fail:
    if (self->socket)
        zmq_close(self->socket);
    free(self);
    return NULL;
}

void ingress_destroy(ingress_t **self)
{
    if (!self || !*self)
        return;
    zmq_close((*self)->socket);
    free(*self);
    *self = NULL;
}

const char *ingress_endpoint(const ingress_t *self)
{
    return self->endpoint;
}

void *ingress_socket(ingress_t *self)
{
    return self->socket;
}

const ingress_stats_t *ingress_stats(const ingress_t *self)
{
    return &self->stats;
}

void ingress_set_linger(ingress_t *self, int linger_ms)
{
    (void)zmq_setsockopt(self->socket, ZMQ_LINGER, &linger_ms, sizeof linger_ms);
}

/* s_refuse fills REFUSAL for REQ, whose text field FIELD (a path from the
 * Request, "submit.items[1].sku") holds a NUL byte. */
static void s_refuse(const Sluice__V1__Request *req, const char *field, ingress_refusal_t *refusal)
{
    memset(refusal, 0, sizeof *refusal);
    sluice__v1__reply__init(&refusal->reply);
    refusal->reply.request_id = req->request_id;
    if (req->body_case != SLUICE__V1__REQUEST__BODY_SUBMIT) {
        snprintf(refusal->text, sizeof refusal->text, "%s: must not hold a NUL byte", field);
        sluice__v1__error__init(&refusal->error);
        refusal->error.code = 400;
        refusal->error.message = refusal->text;
        refusal->reply.body_case = SLUICE__V1__REPLY__BODY_ERROR;
        refusal->reply.error = &refusal->error;
        return;
    }
    /* The details of a SubmitOrder name its fields without "submit.". */
    const char *name = strncmp(field, "submit.", 7) == 0 ? field + 7 : field;
    const char *id = req->submit->order_id ? req->submit->order_id : "";
    if (strcmp(name, "order_id") != 0 && order_id_valid(id))
        snprintf(refusal->order_id, sizeof refusal->order_id, "%s", id);
    snprintf(refusal->text, sizeof refusal->text, "%s: must not hold a NUL byte%s", name,
             refusal->order_id[0] ? "" : "; order_id is left out of this reply");
    sluice__v1__order_ack__init(&refusal->ack);
    refusal->ack.order_id = refusal->order_id;
    refusal->ack.decision = SLUICE__V1__DECISION__REJECTED;
    refusal->ack.reason = SLUICE__V1__REASON__INVALID;
    refusal->ack.detail = refusal->text;
    refusal->reply.body_case = SLUICE__V1__REPLY__BODY_ACK;
    refusal->reply.ack = &refusal->ack;
}

ingress_decoded_t ingress_decode(const uint8_t *frame, size_t len, Sluice__V1__Request **request,
                                 ingress_refusal_t *refusal)
{
    *request = sluice__v1__request__unpack(NULL, len, frame);
    if (*request == NULL)
        return INGRESS_NOT_REQUEST;
    char field[128];
    if (!wire_text_find_nul(&sluice__v1__request__descriptor, frame, len, field, sizeof field))
        return INGRESS_REQUEST;
    s_refuse(*request, field, refusal);
    sluice__v1__request__free_unpacked(*request, NULL);
    *request = NULL;
    return INGRESS_REFUSED;
}

/* s_recv_one reads one message: true when it is to be handed on (*TICKET,
 * *REQUEST as ingress_recv says), false with *DONE when none is waiting. */
static bool s_recv_one(ingress_t *self, ingress_ticket_t **ticket_out,
                       Sluice__V1__Request **request_out, bool *done)
{
    static log_limiter_t oom_log = LOG_LIMITER_INIT, refused_log = LOG_LIMITER_INIT;
    uint8_t envelope[ENVELOPE_MAX];
    size_t envelope_len = 0;
    zmq_msg_t frame;
    envelope_status_t st = envelope_recv(self->socket, "ingress", envelope, &envelope_len, &frame);
    *done = st == ENVELOPE_NONE;
    if (st != ENVELOPE_OK)
        return false;

    self->stats.received++;
    ingress_ticket_t *ticket = malloc(sizeof *ticket + envelope_len);
    if (!ticket) {
        zmq_msg_close(&frame);
        log_limited(&oom_log, LOG_LEVEL_ERR, "failed to allocate an ingress ticket: out of memory");
        return false;
    }
    memset(ticket, 0, sizeof *ticket);
    ticket->received_us = clock_mono_us();
    ticket->envelope_len = (uint16_t)envelope_len;
    memcpy(ticket->envelope, envelope, envelope_len);

    Sluice__V1__Request *request = NULL;
    ingress_refusal_t refusal;
    ingress_decoded_t d = ingress_decode(zmq_msg_data(&frame), zmq_msg_size(&frame), &request,
                                         &refusal);
    zmq_msg_close(&frame);
    if (d == INGRESS_REFUSED) {
        ticket->request_id = refusal.reply.request_id;
        log_limited(&refused_log, LOG_LEVEL_NOTICE, "ingress: refused request %llu: %s",
                    (unsigned long long)ticket->request_id,
                    refusal.reply.ack ? refusal.ack.detail : refusal.error.message);
        ingress_reply(self, ticket, &refusal.reply);
        free(ticket);
        return false;
    }
    if (!request)
        self->stats.undecodable++;
    else
        ticket->request_id = request->request_id;
    *ticket_out = ticket;
    *request_out = request;
    return true;
}

bool ingress_recv(ingress_t *self, ingress_ticket_t **ticket_out, Sluice__V1__Request **request_out)
{
    bool done = false;
    for (int i = 0; i < INGRESS_REFUSED_PER_CALL && !done; i++)
        if (s_recv_one(self, ticket_out, request_out, &done))
            return true;
    return false;
}

/* s_pack_error packs an Error 500 to REQUEST_ID saying WHY into BUF. */
static size_t s_pack_error(uint64_t request_id, const char *why, uint8_t buf[INGRESS_REPLY_MAX])
{
    char message[320];
    snprintf(message, sizeof message, "reply: the answer could not be sent (%s); ask again, "
             "requests are idempotent", why);
    Sluice__V1__Error error = SLUICE__V1__ERROR__INIT;
    error.code = 500;
    error.message = message;
    Sluice__V1__Reply reply = SLUICE__V1__REPLY__INIT;
    reply.request_id = request_id;
    reply.body_case = SLUICE__V1__REPLY__BODY_ERROR;
    reply.error = &error;
    return sluice__v1__reply__pack(&reply, buf);
}

size_t ingress_reply_pack(const Sluice__V1__Reply *reply, uint8_t buf[INGRESS_REPLY_MAX], char *why,
                          size_t len)
{
    char field[128], problem[192];
    size_t body_len = sluice__v1__reply__get_packed_size(reply);
    why[0] = '\0';
    if (wire_text_find_invalid(&reply->base, field, sizeof field))
        snprintf(problem, sizeof problem, "%s is not UTF-8", field);
    else if (body_len > INGRESS_REPLY_MAX)
        snprintf(problem, sizeof problem, "%zu bytes, over the %d-byte limit", body_len,
                 INGRESS_REPLY_MAX);
    else
        return sluice__v1__reply__pack(reply, buf);
    snprintf(why, len, "%s", problem);
    return s_pack_error(reply->request_id, problem, buf);
}

void ingress_reply(ingress_t *self, const ingress_ticket_t *ticket, const Sluice__V1__Reply *reply)
{
    static log_limiter_t replaced_log = LOG_LIMITER_INIT;
    char why[192];
    size_t body_len = ingress_reply_pack(reply, self->reply, why, sizeof why);
    if (why[0])
        log_limited(&replaced_log, LOG_LEVEL_ERR,
                    "failed to send reply %llu as built: %s; answered Error 500 instead",
                    (unsigned long long)ticket->request_id, why);
    if (!envelope_send(self->socket, ticket->envelope, ticket->envelope_len, self->reply, body_len))
        goto dropped;
    self->stats.replies++;
    return;
dropped:
    /* ROUTER drops a message to an unknown peer silently; a full queue to a
     * slow peer fails with EAGAIN. Either way the client will ask again. */
    self->stats.replies_dropped++;
}
