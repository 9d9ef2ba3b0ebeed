/* dbwork.h - owns the daemon's PostgreSQL connections (daemon.db_connections
 * of them) and whose work goes out on them: a table of work sources, one row
 * per kind of statement the rooms send, in the order they are offered an idle
 * connection.
 *
 * Each row names its source, the connections it may use, how it takes its
 * turn, and callbacks: does it wait to send, send one statement (whose done
 * callback is the source's own), the database went away, is work of it
 * queued or in flight. Connection 0 serves every row; the others only the
 * rows that may use any connection (group commit: one batch executes while
 * another waits for its WAL flush). Single-threaded, never blocks. */
#ifndef SLUICE_DBWORK_H
#define SLUICE_DBWORK_H

#include "config.h"
#include "db.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#define DBWORK_CONNECTIONS_MAX 8
#define DBWORK_SOURCES_MAX 16

typedef enum dbwork_conns {
    DBWORK_FIRST,     /* connection 0 only */
    DBWORK_ANY,       /* every connection */
} dbwork_conns_t;

typedef enum dbwork_turn {
    DBWORK_IN_ORDER,  /* offered after the rows above it */
    DBWORK_ALONE,     /* a start-up step on connection 0: until it is done, nothing else goes */
    DBWORK_ALTERNATE, /* the ALTERNATE rows take turns when several wait (fairness) */
} dbwork_turn_t;

/* The callbacks of a row; ARG is the row's. WAITING: it has a statement to
 * send (an ALONE row: it is not done yet). SEND: send it on DB, connection
 * CONN, which is idle; false when nothing went. DOWN: its connections are
 * gone (connection 0 for a FIRST row, all for an ANY row); answer what
 * waits instead of holding clients. BUSY: work queued or in flight, which
 * shutdown waits for. */
typedef bool dbwork_waiting_fn(void *arg);
typedef bool dbwork_send_fn(void *arg, db_t *db, size_t conn);
typedef void dbwork_down_fn(void *arg);
typedef bool dbwork_busy_fn(void *arg);

typedef struct dbwork_source {
    const char *name;
    dbwork_conns_t conns;
    dbwork_turn_t turn;
    dbwork_waiting_fn *waiting;
    dbwork_send_fn *send;
    dbwork_down_fn *down;      /* NULL: it waits for the database to come back */
    dbwork_busy_fn *busy;      /* NULL: shutdown does not wait for it */
    void *arg;
} dbwork_source_t;

typedef struct dbwork dbwork_t;

/* dbwork_new starts connecting D's database->db_connections (1..8) times;
 * every connection prepares the daemon's statements: with D->shard, their
 * fenced forms (every write checks the shard's epoch, 0 until
 * dbwork_set_fence) and the shard's live orders. */
dbwork_t *dbwork_new(const config_daemon_t *d) __attribute__((warn_unused_result));
/* dbwork_configure applies D's database deadlines and reconnect backoff
 * (live keys: at start and on every reload) to every connection. */
void dbwork_configure(dbwork_t *self, const config_daemon_t *d);
/* dbwork_destroy closes the connections; a statement in flight fails, and
 * its source hears of it, so destroy this before the sources. */
void dbwork_destroy(dbwork_t **self);

/* dbwork_set_fence: from now on every write carries EPOCH of SHARD's lease;
 * FENCED (db.h) hears of a write the database refused for a stale one. */
void dbwork_set_fence(dbwork_t *self, const char *shard, uint64_t epoch, db_fenced_fn *fenced,
                      void *arg);
/* dbwork_hold_start: while HOLD, the ALONE rows (the start-up reads) wait and
 * the other rows are served: a standby answers lookups but restores nothing
 * until it holds its lease. */
void dbwork_hold_start(dbwork_t *self, bool hold);

/* dbwork_set_sources copies the table (N rows, in turn order). False when
 * there are more than DBWORK_SOURCES_MAX, or an ALONE row may use any
 * connection. The first turn among ALTERNATE rows is the second's. */
bool dbwork_set_sources(dbwork_t *self, const dbwork_source_t *sources, size_t n)
    __attribute__((warn_unused_result));

/* dbwork_order writes into ORDER the rows of SOURCES (N) that connection
 * CONN is offered to, in the order it is: the table's, except that the
 * ALTERNATE rows take turns at the place of the first of them, beginning
 * after row LAST. ALONE rows are left out (dbwork_step_send offers them
 * first). Returns how many it wrote. */
size_t dbwork_order(const dbwork_source_t *sources, size_t n, size_t conn, size_t last,
                    size_t order[]);

/* Event-loop hooks: dbwork_poll adds the sockets of the connections to
 * ITEMS (at most MAX) and returns how many; dbwork_step gives each
 * connection what poll saw in the same ITEMS. */
size_t dbwork_poll(dbwork_t *self, zmq_pollitem_t *items, size_t max);
void dbwork_step(dbwork_t *self, const zmq_pollitem_t *items, uint64_t now_mono_ms);
/* dbwork_step_down calls DOWN of the rows whose connections are gone. */
void dbwork_step_down(dbwork_t *self);
/* dbwork_abandon calls DOWN of every row, as if every connection were gone:
 * the node stops serving at once (its lease lost), and what waits for the
 * database is answered now; what is in flight is answered when
 * dbwork_destroy fails it. */
void dbwork_abandon(dbwork_t *self);
/* dbwork_step_send offers every idle connection to the rows, in turn. */
void dbwork_step_send(dbwork_t *self);
/* dbwork_timeout_ms: how long the loop may sleep (0: a row waits for an
 * idle connection; -1: no need to wake). */
int dbwork_timeout_ms(const dbwork_t *self, uint64_t now_mono_ms);

bool dbwork_up(const dbwork_t *self);         /* some connection is up */
/* dbwork_why_down: "" while a connection is up, else why none is (what the
 * first connection is trying, and what ended its last attempt). */
const char *dbwork_why_down(const dbwork_t *self);
bool dbwork_first_up(const dbwork_t *self);   /* connection 0 is up */
/* dbwork_retry_after_ms: a fair retry_after for clients while it is down. */
uint64_t dbwork_retry_after_ms(const dbwork_t *self);
/* dbwork_busy: some row has work queued or in flight. */
bool dbwork_busy(const dbwork_t *self);

#endif
