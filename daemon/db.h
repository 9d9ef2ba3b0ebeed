/* db.h - owns the daemon's PostgreSQL connection: non-blocking libpq driven
 * by the event loop, one statement in flight at a time, loss detected (SQLSTATE
 * class 08, admin shutdown, EOF) and healed by reconnecting with backoff and
 * jitter. A connection counts as up only once the schema version matches. */
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
    bool connection_lost;
    char message[256];
} db_error_t;

/* Called once per statement: RES on success (db frees it after the call),
 * or ERR. */
typedef void db_done_fn(void *arg, const PGresult *res, const db_error_t *err);

/* A statement prepared on every new connection, run by name. */
typedef struct db_statement {
    const char *name;
    const char *sql;
    int nparams;
} db_statement_t;

typedef struct db db_t;

/* db_new: STATEMENTS (N of them, static storage) are prepared, with a generic
 * plan, each time a connection comes up. */
db_t *db_new(const char *conninfo, int schema_version, const db_statement_t *statements, size_t n,
             int reconnect_min_ms, int reconnect_max_ms) __attribute__((warn_unused_result));
void db_destroy(db_t **self);

/* Event-loop hooks: the socket to poll (-1 for none) and the events wanted,
 * then db_step with what poll saw, every pass. */
int db_socket(const db_t *self);
short db_poll_events(const db_t *self);
void db_step(db_t *self, short revents, uint64_t now_ms);
/* db_timeout_ms: how long the loop may sleep before db_step needs to run. */
int db_timeout_ms(const db_t *self, uint64_t now_ms);

db_state_t db_state(const db_t *self);
bool db_is_up(const db_t *self);      /* IDLE or BUSY */
bool db_is_idle(const db_t *self);
/* db_retry_after_ms: a fair retry_after for clients while the database is down. */
uint64_t db_retry_after_ms(const db_t *self, uint64_t now_ms);

/* db_send runs the prepared statement NAME with NPARAMS text parameters;
 * DONE runs when it ends.
 * Only when db_is_idle. Returns false (and does not call DONE) if it could
 * not be sent, which also marks the connection lost. */
bool db_send(db_t *self, const char *name, int nparams, const char *const *values,
             db_done_fn *done, void *arg) __attribute__((warn_unused_result));

#endif
