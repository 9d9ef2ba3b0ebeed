/* ingress.h - owns the ZeroMQ ROUTER socket that producers talk to: reading
 * a Request with its routing envelope, and sending the Reply back along it.
 * What it hands on is a Request whose text C reads as it was sent: one with
 * a NUL byte inside a text field is answered here. What it sends is one
 * Reply per request that a standard protobuf client can read: UTF-8 text,
 * at most INGRESS_REPLY_MAX bytes. */
#ifndef SLUICE_INGRESS_H
#define SLUICE_INGRESS_H

#include "proto/sluice.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of one packed Reply: an ack is under 300, an Availability of the
 * most stores one QueryAvailability may ask about (1,000) about 45,000. */
#define INGRESS_REPLY_MAX 65536

/* A ticket says whom to answer: the routing envelope the request came with
 * (identity frame, and the empty delimiter when the client is a REQ socket)
 * and its request_id. One malloc'ed block; free() releases it. */
typedef struct ingress_ticket {
    struct ingress_ticket *next;  /* for whoever queues it */
    uint64_t request_id;
    uint64_t fingerprint;         /* content of a SubmitOrder, for waiters */
    uint64_t received_us;         /* monotonic, for queue delay */
    uint16_t envelope_len;
    uint8_t envelope[];           /* frames as (u8 length, bytes)... */
} ingress_ticket_t;

typedef struct ingress ingress_t;

typedef struct ingress_stats {
    uint64_t received;
    uint64_t undecodable;
    uint64_t replies;
    uint64_t replies_dropped;     /* peer gone or its queue full */
} ingress_stats_t;

/* ingress_new binds a ROUTER at ENDPOINT on CTX with ZMQ_MAXMSGSIZE. With
 * CURVE_SECRET (Z85 text, NULL for none) it is a CURVE server whose
 * handshakes the ZAP handler (curve.h) must approve. */
ingress_t *ingress_new(void *ctx, const char *endpoint, int max_message_bytes,
                       const char *curve_secret)
    __attribute__((warn_unused_result));
void ingress_destroy(ingress_t **self);

/* ingress_endpoint: where the socket is bound, e.g. "tcp://127.0.0.1:41234"
 * for "tcp://127.0.0.1:*" (ZMQ_LAST_ENDPOINT). */
const char *ingress_endpoint(const ingress_t *self);

void *ingress_socket(ingress_t *self);
const ingress_stats_t *ingress_stats(const ingress_t *self);

typedef enum ingress_decoded {
    INGRESS_REQUEST,      /* a Request whose text is whole */
    INGRESS_NOT_REQUEST,  /* not a sluice.v1.Request */
    INGRESS_REFUSED,      /* a text field holds a NUL byte: answered by the refusal */
} ingress_decoded_t;

/* The answer to a request refused by ingress_decode, and what it points to. */
typedef struct ingress_refusal {
    Sluice__V1__Reply reply;
    Sluice__V1__OrderAck ack;
    Sluice__V1__Error error;
    char order_id[65];           /* ORDER_ID_MAX + 1: echoed only when valid */
    char text[192];
} ingress_refusal_t;

/* ingress_decode decodes FRAME (LEN bytes). INGRESS_REQUEST: *REQUEST is the
 * caller's (sluice__v1__request__free_unpacked). INGRESS_REFUSED: a text
 * field held a NUL byte, and a C string would stop there, so the shorter
 * value would be taken for the one sent; REFUSAL is the answer, naming the
 * field: REJECTED INVALID for a SubmitOrder (its order_id echoed when it is
 * whole and valid), an Error 400 for the others. INGRESS_NOT_REQUEST: *REQUEST
 * is NULL. No socket: the fuzz target runs it as ingress_recv does. */
ingress_decoded_t ingress_decode(const uint8_t *frame, size_t len, Sluice__V1__Request **request,
                                 ingress_refusal_t *refusal);

/* ingress_recv reads one message without blocking. Returns false when none
 * is waiting. Otherwise *TICKET is a new ticket the caller owns and *REQUEST
 * the decoded request (caller frees with sluice__v1__request__free_unpacked),
 * or NULL when the body was not a Request. Messages refused by
 * ingress_decode, and messages whose routing envelope is too long
 * (envelope.h), are answered or dropped here and not handed on. */
bool ingress_recv(ingress_t *self, ingress_ticket_t **ticket, Sluice__V1__Request **request);

/* ingress_reply_pack packs REPLY into BUF and returns its length. A reply
 * that cannot go as it is (a text field that is not UTF-8, or more than
 * INGRESS_REPLY_MAX bytes) is packed as an Error 500 to the same request
 * instead, and WHY (LEN bytes; "" otherwise) says what was wrong: every
 * request gets one answer, and one its client can read. */
size_t ingress_reply_pack(const Sluice__V1__Reply *reply, uint8_t buf[INGRESS_REPLY_MAX], char *why,
                          size_t len);

/* ingress_reply sends REPLY along TICKET's envelope (as ingress_reply_pack
 * packs it); never blocks (a reply to a peer that is gone or not reading is
 * dropped and counted). */
void ingress_reply(ingress_t *self, const ingress_ticket_t *ticket, const Sluice__V1__Reply *reply);

/* ingress_close_for_shutdown lets pending replies go out for up to
 * LINGER_MS when the socket closes. */
void ingress_set_linger(ingress_t *self, int linger_ms);

#endif
