/* envelope.h - owns a ROUTER socket's routing envelopes: reading one message
 * as (envelope, body) and sending a body back along the envelope it came
 * with. The ingress and the control sockets both answer REQ and DEALER
 * clients this way. */
#ifndef SLUICE_ENVELOPE_H
#define SLUICE_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

/* ROUTER identities are at most 255 bytes; REQ adds one empty delimiter and
 * proxies add more hops. More than this is not a client we know. Every
 * frame before the last is taken for a routing frame (a DEALER that sends
 * frames of its own before its body makes them part of the envelope): one
 * over 255 bytes, or more than this in all, and the message is dropped
 * unanswered, since no answer could be routed back along it; the drop is
 * logged through a rate limiter (log.h). */
#define ENVELOPE_MAX 1024

typedef enum envelope_status {
    ENVELOPE_NONE,      /* nothing waiting (or a receive error, logged) */
    ENVELOPE_REFUSED,   /* a message with an oversized envelope, dropped and logged */
    ENVELOPE_OK,        /* *BODY holds the last frame; close it */
} envelope_status_t;

/* envelope_recv reads one message from SOCKET without blocking: its routing
 * frames into ENV (as u8 length, bytes, ...; *LEN bytes of ENVELOPE_MAX) and
 * its last frame into BODY (initialised here; the caller closes it on OK).
 * WHAT names the socket in log lines. */
envelope_status_t envelope_recv(void *socket, const char *what, uint8_t env[ENVELOPE_MAX],
                                size_t *len, zmq_msg_t *body);

/* envelope_send sends BODY along ENV without blocking. False when the peer
 * is gone or its queue is full (ROUTER drops or refuses; the client asks
 * again). */
bool envelope_send(void *socket, const uint8_t *env, size_t len, const void *body,
                   size_t body_len);

/* envelope_discard_rest drops the frames of a message still to be read
 * after the one just read (a message refused, or one with more frames than
 * its reader takes); any ZeroMQ socket. */
void envelope_discard_rest(void *socket);

#endif
