/* ingress.h - owns the ZeroMQ ROUTER socket that producers talk to: reading
 * a Request with its routing envelope, and sending the Reply back along it. */
#ifndef SLUICE_INGRESS_H
#define SLUICE_INGRESS_H

#include "proto/sluice.pb-c.h"

#include <stdbool.h>
#include <stdint.h>

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

/* ingress_recv reads one message without blocking. Returns false when none
 * is waiting. Otherwise *TICKET is a new ticket the caller owns and *REQUEST
 * the decoded request (caller frees with sluice__v1__request__free_unpacked),
 * or NULL when the body was not a Request. */
bool ingress_recv(ingress_t *self, ingress_ticket_t **ticket, Sluice__V1__Request **request);

/* ingress_reply sends REPLY along TICKET's envelope; never blocks (a reply
 * to a peer that is gone or not reading is dropped and counted). */
void ingress_reply(ingress_t *self, const ingress_ticket_t *ticket, const Sluice__V1__Reply *reply);

/* ingress_close_for_shutdown lets pending replies go out for up to
 * LINGER_MS when the socket closes. */
void ingress_set_linger(ingress_t *self, int linger_ms);

#endif
