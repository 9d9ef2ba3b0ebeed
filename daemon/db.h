/* db.h - owns the daemon's PostgreSQL connection: non-blocking libpq driven
 * by the event loop, one statement in flight at a time, loss detected (SQLSTATE
 * class 08, admin shutdown, EOF, a deadline passed) and healed by reconnecting
 * host by host through a multi-host connection string, then with backoff and
 * jitter. A connection counts as up only once the schema version matches and
 * the session can write. */
#ifndef SLUICE_DB_H
#define SLUICE_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum db_state {
    DB_DOWN,         /* waiting for the next connection attempt */
    DB_CONNECTING,   /* PQconnectPoll in progress */
    DB_CHECKING,     /* connected, checking the schema version */
    DB_IDLE,         /* up, nothing in flight */
    DB_BUSY,         /* up, one statement in flight */
} db_state_t;

typedef struct db_error {
    char sqlstate[6];
    bool connection_lost;    /* the statement's outcome is unknown unless it only read */
    bool timed_out;          /* no answer within the statement timeout: it may have committed */
    char message[256];
} db_error_t;

/* Called once per statement: RES on success (db frees it after the call),
 * or ERR. */
typedef void db_done_fn(void *arg, const PGresult *res, const db_error_t *err);

/* A statement prepared on every new connection, run by name. A fenced
 * statement (a write of a node with a shard, lease.h) takes two more
 * parameters than its callers pass, NPARAMS counting them: db appends the
 * fence's shard and epoch (db_set_fence), which its SQL hands to
 * sluice_fence (migration 010). */
typedef struct db_statement {
    const char *name;
    const char *sql;
    int nparams;
    bool fenced;
} db_statement_t;

/* What sluice_fence raises when the epoch a write carries is not the
 * lease's: another node has taken the shard over. */
#define DB_FENCED_SQLSTATE "SLF01"
#define DB_FENCE_PARAMS 2
#define DB_PARAMS_MAX 32

/* Called when a fenced statement failed with DB_FENCED_SQLSTATE, before the
 * statement's own done callback. */
typedef void db_fenced_fn(void *arg, const db_error_t *err);

typedef struct db db_t;

/* The deadlines (daemon.db_connect_timeout_ms, daemon.db_statement_timeout_ms)
 * and the backoff (daemon.reconnect_min_ms, daemon.reconnect_max_ms). */
typedef struct db_timeouts {
    int connect_ms;        /* per host: from the TCP handshake to the session being ready */
    int statement_ms;      /* a statement the server sends nothing back for this long is lost */
    int reconnect_min_ms;  /* first delay once every host failed */
    int reconnect_max_ms;  /* cap of the exponential backoff */
} db_timeouts_t;

#define DB_CONNECT_TIMEOUT_MS 2000
#define DB_STATEMENT_TIMEOUT_MS 5000

/* db_new: CONNINFO is a libpq connection string or URI; when it names
 * several hosts, each attempt starts from the host after the one the last
 * attempt or connection ended on. STATEMENTS (N of them, static storage) are
 * prepared, with a generic plan, each time a connection comes up. The
 * timeouts are DB_CONNECT_TIMEOUT_MS and DB_STATEMENT_TIMEOUT_MS until
 * db_set_timeouts. */
db_t *db_new(const char *conninfo, int schema_version, const db_statement_t *statements, size_t n,
             int reconnect_min_ms, int reconnect_max_ms) __attribute__((warn_unused_result));
void db_destroy(db_t **self);

/* db_set_timeouts applies TIMEOUTS at once, also to the attempt, statement
 * or backoff under way: call it after db_new and on every reload. Values
 * below 1 ms count as 1; reconnect_max_ms as at least reconnect_min_ms. */
void db_set_timeouts(db_t *self, const db_timeouts_t *timeouts);

/* Event-loop hooks: the socket to poll (-1 for none) and the events wanted,
 * then db_step with what poll saw, every pass. */
int db_socket(const db_t *self);
short db_poll_events(const db_t *self);
void db_step(db_t *self, short revents, uint64_t now_ms);
/* db_timeout_ms: how long the loop may sleep before db_step needs to run
 * (the next attempt, or the deadline of the attempt or statement under way);
 * -1 when nothing is due. */
int db_timeout_ms(const db_t *self, uint64_t now_ms);

db_state_t db_state(const db_t *self);
bool db_is_up(const db_t *self);      /* IDLE or BUSY */
bool db_is_idle(const db_t *self);
/* db_why_down: why the connection is not up, one line for /readyz and the
 * logs ("connecting to 10.0.0.2:5432 (attempt 3) after: ..."); "" when up.
 * db_host: HOST:PORT of the connection, "" when there is none. Both point
 * into SELF and change with its state. Neither ever holds a password. */
const char *db_why_down(const db_t *self);
const char *db_host(const db_t *self);
/* db_retry_after_ms: a fair retry_after for clients while the database is down. */
uint64_t db_retry_after_ms(const db_t *self, uint64_t now_ms);

/* db_set_fence sets what fenced statements append: SHARD and EPOCH (0
 * until this node holds the shard's lease: every fenced write then fails).
 * FENCED (may be NULL) hears of each that failed the fence. */
void db_set_fence(db_t *self, const char *shard, uint64_t epoch, db_fenced_fn *fenced, void *arg);

/* db_send runs the prepared statement NAME with NPARAMS text parameters
 * (a fenced one: the fence's two after them); DONE runs when it ends.
 * Only when db_is_idle. Returns false (and does not call DONE) if it could
 * not be sent, which also marks the connection lost. */
bool db_send(db_t *self, const char *name, int nparams, const char *const *values,
             db_done_fn *done, void *arg) __attribute__((warn_unused_result));

#endif
