/* support_query.h - owns the support reads of PostgreSQL: one blocking libpq
 * connection and the queries behind `sluicectl order` and `sluicectl store`.
 * sluicectl runs them itself while the daemon is down (or without asking
 * it); sluiced runs the order's on its support thread (support.c), on a
 * connection it keeps open, so that a lookup costs no new backend.
 *
 * Every query is parameterized. One answer is read in one read-only
 * REPEATABLE READ transaction, so it is one snapshot: an order's row, its
 * dispatch attempts and its timeline agree with each other. Timestamps come
 * back as text that PostgreSQL formatted in the zone the caller names.
 * Results point into libpq results that the result struct owns; release
 * them with support_query_order_clear / support_query_store_clear. A NULL text field is
 * SQL NULL. */
#ifndef SLUICE_SUPPORT_QUERY_H
#define SLUICE_SUPPORT_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pg_result;

typedef enum support_query_status {
    SUPPORT_QUERY_OK = 0,
    SUPPORT_QUERY_NOT_FOUND,   /* no such order */
    SUPPORT_QUERY_UNREACHABLE, /* could not connect, or the connection was lost */
    SUPPORT_QUERY_FAILED,      /* PostgreSQL refused a query (support_query_error says why) */
} support_query_status_t;

/* How timestamps are formatted: for people, in the zone without its name
 * ("2026-11-23 12:15:03.120"), or ISO 8601 with the offset
 * ("2026-11-23T12:15:03.120+08:00"). */
typedef enum support_query_times {
    SUPPORT_QUERY_TIMES_TEXT,
    SUPPORT_QUERY_TIMES_ISO,
} support_query_times_t;

typedef struct support_query support_query_t;

/* support_query_new keeps CONNINFO (a libpq connection string or URI; "" means
 * libpq's defaults and PG* variables) for support_query_connect. NULL only when out
 * of memory. support_query_destroy closes the connection; NULL is fine. */
support_query_t *support_query_new(const char *conninfo) __attribute__((warn_unused_result));
void support_query_destroy(support_query_t **self);

/* support_query_connect connects (connect_timeout 5 s unless CONNINFO sets one).
 * SUPPORT_QUERY_OK or SUPPORT_QUERY_UNREACHABLE. */
support_query_status_t support_query_connect(support_query_t *self)
    __attribute__((warn_unused_result));

/* support_query_target names where the connection goes, for messages: service,
 * host, port, database and user as libpq resolved them, never a password. */
const char *support_query_target(const support_query_t *self);
/* support_query_error is the last failure, one line (libpq's or the server's message,
 * with the SQLSTATE for a refused query). */
const char *support_query_error(const support_query_t *self);

/* ---- for sluicectl's other modules (reconcile_db.c) ---- */

/* support_query_exec runs SQL with text PARAMS (a NULL entry is SQL NULL) and
 * returns its result (the caller PQclears it); NULL on failure, with *STATUS
 * and support_query_error set ("failed to read WHAT: ..."). */
struct pg_result *support_query_exec(support_query_t *self, const char *what, const char *sql,
                                     int nparams, const char *const *params,
                                     support_query_status_t *status)
    __attribute__((warn_unused_result));
/* support_query_command runs fixed SQL without parameters (BEGIN, COMMIT). */
support_query_status_t support_query_command(support_query_t *self, const char *what,
                                             const char *sql)
    __attribute__((warn_unused_result));
/* support_query_rollback ends a transaction; its own failure changes nothing. */
void support_query_rollback(support_query_t *self);

/* ---- one order ---- */

typedef struct support_query_order_row {
    const char *order_id, *store_id, *state;
    const char *items_json;   /* the items as stored: [{"sku":"...","qty":n},...] */
    const char *items_text;   /* the same for people: "2 x sku-a, 1 x sku-b" */
    const char *voucher_id, *customer_ref;
    const char *accepted_at, *promised_ready_at, *promised_delivery_at, *updated_at;
    bool refund_due;
    const char *prep_slot, *prep_start_at;
    const char *campaign;     /* NULL: a regular order */
} support_query_order_row_t;

typedef struct support_query_dispatch {
    const char *attempt, *platform, *dispatch_key, *state, *rider_ref, *fee_cents;
    const char *pickup_at, *created_at, *updated_at;
} support_query_dispatch_t;

typedef struct support_query_event {
    const char *event_id, *at, *state, *detail;
} support_query_event_t;

typedef struct support_query_order {
    const char *timezone;            /* the zone the times are in */
    support_query_order_row_t row;
    support_query_dispatch_t *dispatches;   /* by attempt */
    size_t dispatch_count;
    support_query_event_t *events;          /* the timeline, by event_id */
    size_t event_count;
    struct pg_result *res[3];        /* private: what the fields point into */
} support_query_order_t;

/* support_query_zone_fn names the zone to show the times of an order of STORE_ID in
 * (the store's own timezone from the config, say); NULL means UTC. */
typedef const char *support_query_zone_fn(uint32_t store_id, void *arg);

/* support_query_order_read reads order ORDER_ID: its row, every dispatch attempt and
 * the whole timeline. A zone PostgreSQL does not know falls back to UTC
 * (out->timezone says which was used). SUPPORT_QUERY_NOT_FOUND when there is no
 * such order. OUT is cleared first; clear it again when done, whatever the
 * result. */
support_query_status_t support_query_order_read(support_query_t *self, const char *order_id,
                                                support_query_times_t times,
                                                support_query_zone_fn *zone, void *zone_arg,
                                                support_query_order_t *out)
    __attribute__((warn_unused_result));
void support_query_order_clear(support_query_order_t *o);

/* ---- one store ---- */

typedef struct support_query_state_count {
    const char *state;
    long count;
} support_query_state_count_t;

typedef struct support_query_store {
    const char *timezone;            /* the zone "today" and the times are in */
    const char *now;                 /* now, formatted */
    const char *today;               /* the local date, YYYY-MM-DD */
    const char *day_start;           /* local midnight, formatted */
    support_query_state_count_t *live;      /* live orders by state, in lifecycle order */
    size_t live_states;
    long live_total;
    const char *latest_ready;        /* latest promised_ready_at of a live order; NULL: none */
    long wait_seconds;               /* latest_ready - now, 0 when none or past */
    /* orders accepted since local midnight, by the state they are in now */
    long accepted_today, delivered_today, cancelled_today, failed_today, live_today;
    const char *last_accepted;       /* the store's last order ever; NULL: none */
    struct pg_result *res[3];        /* private */
} support_query_store_t;

/* support_query_store_read reads STORE_ID's live orders, promised wait and today's
 * counts, "today" beginning at midnight in ZONE (NULL: UTC; unknown to
 * PostgreSQL: UTC, and out->timezone says so). A store without orders is
 * SUPPORT_QUERY_OK with last_accepted NULL. */
support_query_status_t support_query_store_read(support_query_t *self, uint32_t store_id,
                                                const char *zone, support_query_times_t times,
                                                support_query_store_t *out)
    __attribute__((warn_unused_result));
void support_query_store_clear(support_query_store_t *s);

#endif
