/* inflight.h - owns one connection's outstanding requests: their request
 * ids (never 0, never reused), the entry of an id found in O(1), and their
 * deadlines in a binary min-heap, so that matching a reply, firing the
 * earliest deadline and removing an answered request cost O(log n) at most,
 * with tens of thousands outstanding. */
#ifndef SLUICE_INFLIGHT_H
#define SLUICE_INFLIGHT_H

#include "adapter.h"
#include "network_wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef union inflight_done {
    adapter_quote_fn *quote;
    adapter_dispatch_fn *dispatch;
    adapter_cancel_fn *cancel;
    adapter_status_fn *status;
    adapter_settlement_fn *settlement;
} inflight_done_t;

typedef struct inflight_req {
    uint64_t id;              /* 0: a free slot */
    uint64_t deadline_ms;     /* monotonic */
    uint64_t sent_ms;         /* monotonic */
    uint64_t echo_hash;       /* inflight_hash of the key (day) the reply must echo */
    uint32_t heap_at;         /* position in the heap */
    network_wire_body_t kind; /* the body the reply must have (or an Error) */
    inflight_done_t done;
    void *arg;
} inflight_req_t;

/* A table of power-of-two capacity, at most half full: an id's slot is
 * id & (cap - 1), and a new id skips ids whose slot is taken, so ids of
 * requests outstanding at once never share a slot. */
typedef struct inflight {
    inflight_req_t *slots;
    uint32_t *heap;           /* slot indexes, earliest deadline first */
    size_t cap, count;
    uint64_t next_id;
} inflight_t;

/* inflight_init: an empty table; false when out of memory. */
bool inflight_init(inflight_t *t) __attribute__((warn_unused_result));
void inflight_free(inflight_t *t);

/* inflight_add: a new entry with a fresh id, due at DEADLINE_MS, for the
 * caller to fill (kind, done, arg, ...). NULL when out of memory. The
 * pointer is good until the next add or take. */
inflight_req_t *inflight_add(inflight_t *t, uint64_t deadline_ms)
    __attribute__((warn_unused_result));
/* inflight_take removes ID's entry and copies it to *OUT (may be NULL);
 * false when ID is not outstanding (a late reply, or one never sent). */
bool inflight_take(inflight_t *t, uint64_t id, inflight_req_t *out);
/* inflight_take_due removes the earliest entry due at NOW_MS into *OUT. */
bool inflight_take_due(inflight_t *t, uint64_t now_ms, inflight_req_t *out);
/* inflight_next_deadline: the earliest deadline, UINT64_MAX when none. */
uint64_t inflight_next_deadline(const inflight_t *t);

/* inflight_hash: 64-bit FNV-1a of TEXT, never 0 (0 means "no echo"). */
uint64_t inflight_hash(const char *text);

#endif
