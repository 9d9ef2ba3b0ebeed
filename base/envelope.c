/* envelope.c - owns reading and answering along ROUTER routing envelopes. */
#include "envelope.h"

#include "log.h"

#include <errno.h>
#include <string.h>

void envelope_discard_rest(void *socket)
{
    int more = 1;
    size_t len = sizeof more;
    while (zmq_getsockopt(socket, ZMQ_RCVMORE, &more, &len) == 0 && more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        (void)zmq_msg_recv(&part, socket, 0);
        zmq_msg_close(&part);
    }
}

envelope_status_t envelope_recv(void *socket, const char *what, uint8_t env[ENVELOPE_MAX],
                                size_t *len, zmq_msg_t *body)
{
    /* a peer can cause either line with every message it sends */
    static log_limiter_t failed_log = LOG_LIMITER_INIT, dropped_log = LOG_LIMITER_INIT;
    *len = 0;
    for (;;) {
        zmq_msg_init(body);
        if (zmq_msg_recv(body, socket, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(body);
            if (zmq_errno() != EAGAIN)
                log_limited(&failed_log, LOG_LEVEL_WARNING, "failed to receive on %s: %s", what,
                            zmq_strerror(zmq_errno()));
            return ENVELOPE_NONE;
        }
        if (!zmq_msg_more(body))
            return ENVELOPE_OK;
        size_t n = zmq_msg_size(body);
        if (n > 255 || *len + 1 + n > ENVELOPE_MAX) {
            log_limited(&dropped_log, LOG_LEVEL_WARNING,
                        "dropped a %s message with an oversized routing envelope (a frame before "
                        "its last over 255 bytes, or over %d bytes in all): it cannot be answered",
                        what, ENVELOPE_MAX);
            zmq_msg_close(body);
            envelope_discard_rest(socket);
            return ENVELOPE_REFUSED;
        }
        env[(*len)++] = (uint8_t)n;
        memcpy(env + *len, zmq_msg_data(body), n);
        *len += n;
        zmq_msg_close(body);
    }
}

bool envelope_send(void *socket, const uint8_t *env, size_t len, const void *body,
                   size_t body_len)
{
    for (size_t at = 0; at < len;) {
        size_t n = env[at++];
        if (zmq_send(socket, env + at, n, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
            return false;
        at += n;
    }
    return zmq_send(socket, body, body_len, ZMQ_DONTWAIT) >= 0;
}
