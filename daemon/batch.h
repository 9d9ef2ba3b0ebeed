/* batch.h - owns group commit: accepted orders queue up in batches of at most
 * commit_batch_max; each batch is written by ONE statement (one transaction)
 * that inserts the orders and their first events, and reports which ids it
 * inserted; the others were already stored (idempotency after a restart). */
#ifndef SLUICE_BATCH_H
#define SLUICE_BATCH_H

#include "dispatch.h"
#include "order_index.h"
#include "pgarray.h"
#include "proto/sluice.pb-c.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BATCH_COLUMNS 14

typedef struct batch {
    struct batch *next;
    size_t count;
    size_t cap;
    order_entry_t **entries;           /* the index entries, in row order */
    pgarray_t col[BATCH_COLUMNS];        /* one array literal per column */
    uint64_t opened_us;                /* monotonic, when its first order came */
    uint64_t sent_us;                  /* monotonic, when the commit was sent */
} batch_t;

typedef struct batch_queue {
    batch_t *head, *tail;   /* head is the oldest; only the tail still fills */
    batch_t *spare;         /* one emptied batch kept to avoid reallocating */
    size_t orders;          /* orders in all queued batches */
    size_t batch_max;
} batch_queue_t;

/* An order as stored, read by batch_lookup_sql. */
typedef struct batch_stored {
    const char *order_id;   /* points into the PGresult */
    uint64_t fingerprint;
    uint32_t store_id;
    order_state_t state;
    uint64_t promised_ready_at_ms;
    uint64_t promised_delivery_at_ms;
    uint64_t updated_at_ms;
    uint64_t prep_start_at_ms;
    uint16_t prep_slot;
    uint16_t drinks;
    uint16_t attempts;      /* dispatch attempts made (the highest number) */
    const char *campaign;   /* its campaign's name, "" for none (in the PGresult) */
    double dropoff_lat, dropoff_lng;
    bool has_dispatch;      /* batch_live_sql: the live attempt, strings in the PGresult */
    dispatch_row_t dispatch;
} batch_stored_t;

#define BATCH_STORED_FIELDS 14

/* batch_insert_sql: BATCH_COLUMNS array parameters; returns the order_ids it
 * inserted. batch_resolve_sql: the same parameters, for a batch whose
 * commit's outcome was lost; returns one row: a WAL position, then the
 * text[] of the ids it inserted (the others were stored before). Their
 * _fenced forms, for a node with a shard, take the fence's two parameters
 * after the arrays (db.h) and write orders.shard. batch_lookup_sql: one
 * text[] of order_ids; returns stored orders. batch_live_sql: no
 * parameters; returns every order not yet terminal; batch_live_shard_sql:
 * those of the shard $1. */
extern const char batch_insert_sql[];
extern const char batch_insert_fenced_sql[];
extern const char batch_resolve_sql[];
extern const char batch_resolve_fenced_sql[];
extern const char batch_lookup_sql[];
extern const char batch_live_sql[];
extern const char batch_live_shard_sql[];

void batch_queue_init(batch_queue_t *q, size_t batch_max);
/* batch_queue_clear frees every batch (not the entries they point at). */
void batch_queue_clear(batch_queue_t *q);

/* batch_queue_add appends order O (validated and admitted) for ENTRY.
 * Returns false when out of memory. */
bool batch_queue_add(batch_queue_t *q, order_entry_t *entry, const Sluice__V1__SubmitOrder *o)
    __attribute__((warn_unused_result));

/* batch_queue_pop takes the oldest batch; the caller gives it back with
 * batch_queue_release once its commit has returned. NULL when empty. */
batch_t *batch_queue_pop(batch_queue_t *q);
void batch_queue_release(batch_queue_t *q, batch_t *b);

/* batch_params finishes the array literals and fills VALUES for
 * batch_insert_sql; false when out of memory. */
bool batch_params(batch_t *b, const char *values[BATCH_COLUMNS]);

/* batch_stored_read parses row ROW of a batch_lookup_sql or batch_live_sql
 * result. */
bool batch_stored_read(const PGresult *res, int row, batch_stored_t *out);

/* batch_stored_settle makes E what the database stored for it (STORED):
 * the first decision is known, so E is no longer pending. */
void batch_stored_settle(order_entry_t *e, const batch_stored_t *stored);

/* batch_id_array writes N order ids, ID_AT(ARG, i) for each i, as the text[]
 * literal that batch_lookup_sql takes; validated ids need no escaping. NULL
 * when out of memory; the caller frees it. */
char *batch_id_array(size_t n, const char *(*id_at)(const void *arg, size_t i), const void *arg);

/* batch_free frees a batch that is not in a queue. */
void batch_free(batch_t *b);

#endif
