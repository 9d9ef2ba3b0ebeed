/* order_index.h - owns the in-memory index of orders by order_id: what the
 * daemon decided for each id it has seen (idempotency, GetOrder), and who is
 * waiting for an order whose commit is still in flight. */
#ifndef SLUICE_ORDER_INDEX_H
#define SLUICE_ORDER_INDEX_H

#include "ingress.h"
#include "order.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct order_entry {
    uint64_t hash;
    uint64_t fingerprint;
    uint64_t promised_ready_at_ms;
    uint64_t promised_delivery_at_ms;
    uint64_t updated_at_ms;       /* pending: when admission decided (a failed commit
                                   * gives back its campaign's count of that day) */
    uint64_t prep_start_at_ms;    /* when its prep slot starts it */
    uint64_t due_ms;              /* the next thing to do for it (deadline.h) */
    uint64_t dispatch_at_ms;      /* when to look for a rider (0: not to be dispatched) */
    struct dispatch_job *job;     /* looking for or holding a rider (dispatch.h); NULL: not */
    double dropoff_lat, dropoff_lng;
    uint32_t due_pos;             /* position in the deadline heap + 1; 0: none */
    uint32_t store_id;
    uint16_t prep_slot;           /* which of the store's prep slots makes it */
    uint16_t drinks;              /* items to carry */
    uint16_t attempts;            /* dispatch attempts so far (the last key's number) */
    uint16_t campaign;            /* its campaign's campaign_id_t + 1 (campaign.h);
                                   * 0: a regular order, as a new entry is */
    uint8_t state;                /* order_state_t */
    bool pending;                 /* in a batch whose commit has not returned */
    bool waiting;                 /* counted in its kitchen's waiting orders */
    bool changing;                /* a requester's state change is being committed */
    bool cancel_pending;          /* the requester's change committing is a cancel */
    bool marked_ready;            /* the store said it is ready (MarkReady) */
    ingress_ticket_t *waiters;    /* pending only: the submitter first, then repeats */
    char order_id[ORDER_ID_MAX + 1];
} order_entry_t;

typedef struct order_index order_index_t;

order_index_t *order_index_new(size_t expected) __attribute__((warn_unused_result));
/* order_index_destroy frees every entry and any tickets still waiting. */
void order_index_destroy(order_index_t **self);

order_entry_t *order_index_find(const order_index_t *self, const char *order_id);
/* order_index_add creates the entry for ORDER_ID, which must not be present.
 * Returns NULL when out of memory. The index owns the entry. */
order_entry_t *order_index_add(order_index_t *self, const char *order_id);
/* order_index_remove frees ENTRY; its waiters must have been answered. */
void order_index_remove(order_index_t *self, order_entry_t *entry);
size_t order_index_count(const order_index_t *self);

#endif
