/* network_wire.h - owns the translation between proto/network.proto frames
 * and the adapter's plain structs: requests are checked against the
 * protocol's bounds and encoded; a gateway's frames are decoded and checked
 * before anything in them is believed. No sockets, no state: the zmq
 * adapter and fuzz_network use it alike. */
#ifndef SLUICE_NETWORK_WIRE_H
#define SLUICE_NETWORK_WIRE_H

#include "adapter.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NETWORK_WIRE_VERSION 1        /* Version.VERSION_CURRENT */
#define NETWORK_WIRE_REQUEST_MAX 1024 /* our largest Request (a dispatch) is under 400 bytes */

typedef enum network_wire_body {
    NETWORK_WIRE_NONE = 0,
    NETWORK_WIRE_QUOTE,
    NETWORK_WIRE_DISPATCH,
    NETWORK_WIRE_CANCEL,
    NETWORK_WIRE_STATUS,
    NETWORK_WIRE_SETTLEMENT,
    NETWORK_WIRE_ERROR,
    NETWORK_WIRE_EVENT,
} network_wire_body_t;

/* One encoded Request. */
typedef struct network_wire_frame {
    size_t len;
    uint8_t data[NETWORK_WIRE_REQUEST_MAX];
} network_wire_frame_t;

/* The encoders check REQ against the protocol (ids, coordinates, bounds,
 * UTF-8 text) and pack a version-1 Request with REQUEST_ID (non-zero) into
 * OUT. False when a field is out of bounds: *WHY names it ("dispatch.key:
 * ..."), nothing is written. */
bool network_wire_encode_quote(uint64_t request_id, const adapter_quote_req_t *req,
                               network_wire_frame_t *out, const char **why)
    __attribute__((warn_unused_result));
bool network_wire_encode_dispatch(uint64_t request_id, const adapter_dispatch_req_t *req,
                                  network_wire_frame_t *out, const char **why)
    __attribute__((warn_unused_result));
bool network_wire_encode_cancel(uint64_t request_id, const char *key, const char *reason,
                                network_wire_frame_t *out, const char **why)
    __attribute__((warn_unused_result));
bool network_wire_encode_status(uint64_t request_id, const char *key, network_wire_frame_t *out,
                                const char **why) __attribute__((warn_unused_result));
bool network_wire_encode_settlement(uint64_t request_id, const adapter_settlement_req_t *req,
                                    network_wire_frame_t *out, const char **why)
    __attribute__((warn_unused_result));

typedef enum network_wire_result {
    NETWORK_WIRE_OK,          /* a well-formed reply (request_id > 0) or event/complaint (0) */
    NETWORK_WIRE_BAD,         /* a version-1 Reply that breaks the protocol; request_id and
                               * problem are set, the body is not to be believed */
    NETWORK_WIRE_UNREADABLE,  /* not a Reply at all: no request_id to match */
} network_wire_result_t;

/* A decoded frame. Strings are NUL-terminated inside their arrays: ids are
 * checked ([A-Za-z0-9._:-], 1..64, or empty where the protocol allows it),
 * opaque text (rider_ref, reasons, messages) is cut and made printable
 * UTF-8. Enums hold only the values adapter.h names. */
typedef struct network_wire_reply {
    uint64_t request_id;
    uint64_t sent_at_ms;
    network_wire_body_t body;
    char problem[160];        /* NETWORK_WIRE_BAD: what was wrong */
    union {
        adapter_quote_t quote;
        adapter_dispatch_t dispatch;
        adapter_cancel_t cancel;
        adapter_status_t status;
        adapter_settlement_t settlement;  /* lines point into .lines below */
        adapter_error_t error;
        adapter_event_t event;
    } u;
    adapter_settlement_line_t lines[ADAPTER_SETTLEMENT_LINES_MAX];
} network_wire_reply_t;

/* network_wire_decode reads one frame from a gateway into OUT (about 90 KB:
 * keep one per connection, not on the stack). Allocates nothing that
 * outlives the call. */
network_wire_result_t network_wire_decode(const void *data, size_t len, network_wire_reply_t *out);

/* network_wire_reply_key: the text a reply must echo from its request (the
 * key of a dispatch, cancel or status; the day of a settlement), NULL for
 * other bodies. */
const char *network_wire_reply_key(const network_wire_reply_t *reply);

const char *network_wire_body_name(network_wire_body_t body);

#endif
