/* ingress.c - owns the producers' ROUTER socket. */
#include "ingress.h"

#include "clock.h"
#include "envelope.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define INGRESS_REPLY_MAX 4096

struct ingress {
    void *socket;
    ingress_stats_t stats;
    char endpoint[256];           /* as bound: a wildcard port resolved */
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

bool ingress_recv(ingress_t *self, ingress_ticket_t **ticket_out, Sluice__V1__Request **request_out)
{
    uint8_t envelope[ENVELOPE_MAX];
    size_t envelope_len = 0;
    zmq_msg_t frame;
    if (envelope_recv(self->socket, "ingress", envelope, &envelope_len, &frame) != ENVELOPE_OK)
        return false;

    self->stats.received++;
    ingress_ticket_t *ticket = malloc(sizeof *ticket + envelope_len);
    if (!ticket) {
        zmq_msg_close(&frame);
        log_error("failed to allocate an ingress ticket: out of memory");
        return false;
    }
    memset(ticket, 0, sizeof *ticket);
    ticket->received_us = clock_mono_us();
    ticket->envelope_len = (uint16_t)envelope_len;
    memcpy(ticket->envelope, envelope, envelope_len);

    Sluice__V1__Request *request = sluice__v1__request__unpack(
        NULL, zmq_msg_size(&frame), zmq_msg_data(&frame));
    zmq_msg_close(&frame);
    if (!request)
        self->stats.undecodable++;
    else
        ticket->request_id = request->request_id;
    *ticket_out = ticket;
    *request_out = request;
    return true;
}

void ingress_reply(ingress_t *self, const ingress_ticket_t *ticket, const Sluice__V1__Reply *reply)
{
    /* Acks fit the stack; an Availability of up to 1,000 stores (about 40
     * bytes each) is packed on the heap. */
    uint8_t stack[INGRESS_REPLY_MAX], *body = stack;
    size_t body_len = sluice__v1__reply__get_packed_size(reply);
    if (body_len > sizeof stack && !(body = malloc(body_len))) {
        log_error("failed to send reply %llu of %zu bytes: out of memory",
                  (unsigned long long)ticket->request_id, body_len);
        goto dropped;
    }
    sluice__v1__reply__pack(reply, body);
    bool sent = envelope_send(self->socket, ticket->envelope, ticket->envelope_len, body, body_len);
    if (body != stack)
        free(body);
    if (!sent)
        goto dropped;
    self->stats.replies++;
    return;
dropped:
    /* ROUTER drops a message to an unknown peer silently; a full queue to a
     * slow peer fails with EAGAIN. Either way the client will ask again. */
    self->stats.replies_dropped++;
}
