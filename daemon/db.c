/* db.c - owns the PostgreSQL connection of the event loop. */
#include "db.h"

#include "clock.h"
#include "log.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DB_CONNECT_TIMEOUT_MS 10000

struct db {
    char *conninfo;
    int schema_version;
    const db_statement_t *statements;
    size_t statement_count;
    size_t prepared;                         /* DB_CHECKING: statements prepared so far */
    int reconnect_min_ms, reconnect_max_ms;
    PGconn *conn;
    db_state_t state;
    PostgresPollingStatusType connect_poll;  /* what PQconnectPoll waits for */
    bool flush_pending;                      /* PQflush said 1: wait for POLLOUT */
    uint64_t next_attempt_ms;                /* DB_DOWN: when to try again */
    uint64_t connect_deadline_ms;
    int failures;                            /* consecutive, for the backoff */
    bool was_up;                             /* to log "lost" and "back" once */
    /* The statement in flight. */
    db_done_fn *done;
    void *done_arg;
    PGresult *result;                        /* the last result, or the first error */
    bool checking;                           /* the in-flight statement is the schema check */
};

db_t *db_new(const char *conninfo, int schema_version, const db_statement_t *statements, size_t n,
             int reconnect_min_ms, int reconnect_max_ms)
{
    db_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->conninfo = strdup(conninfo);
    if (!self->conninfo) {
        free(self);
        return NULL;
    }
    self->schema_version = schema_version;
    self->statements = statements;
    self->statement_count = n;
    self->reconnect_min_ms = reconnect_min_ms > 0 ? reconnect_min_ms : 100;
    self->reconnect_max_ms = reconnect_max_ms > self->reconnect_min_ms ? reconnect_max_ms
                                                                       : self->reconnect_min_ms;
    self->state = DB_DOWN;
    return self;
}

static void s_fail_statement(db_t *self, const db_error_t *err)
{
    db_done_fn *done = self->done;
    void *arg = self->done_arg;
    self->done = NULL;
    self->done_arg = NULL;
    PQclear(self->result);
    self->result = NULL;
    if (done)
        done(arg, NULL, err);
}

void db_destroy(db_t **self)
{
    if (!self || !*self)
        return;
    db_t *db = *self;
    if (db->done) {
        db_error_t err = {.connection_lost = true};
        snprintf(err.message, sizeof err.message, "daemon shutting down");
        s_fail_statement(db, &err);
    }
    PQfinish(db->conn);
    free(db->conninfo);
    free(db);
    *self = NULL;
}

static uint64_t s_backoff_ms(db_t *self)
{
    uint64_t delay = (uint64_t)self->reconnect_min_ms;
    for (int i = 1; i < self->failures && delay < (uint64_t)self->reconnect_max_ms; i++)
        delay *= 2;
    if (delay > (uint64_t)self->reconnect_max_ms)
        delay = (uint64_t)self->reconnect_max_ms;
    /* Jitter of up to a quarter, so a fleet does not reconnect in lockstep. */
    return delay - delay / 4 + (uint64_t)(rand() % (int)(delay / 4 + 1));
}

/* s_lost closes the connection, fails the statement in flight, and schedules
 * the next attempt. */
static void s_lost(db_t *self, uint64_t now_ms, const char *why)
{
    if (self->was_up)
        log_error("lost database connection: %s", why);
    else
        log_warning("failed to connect to database: %s", why);
    self->was_up = false;
    if (self->done) {
        db_error_t err = {.connection_lost = true};
        snprintf(err.message, sizeof err.message, "%s", why);
        s_fail_statement(self, &err);
    }
    self->checking = false;
    PQfinish(self->conn);
    self->conn = NULL;
    self->flush_pending = false;
    self->failures++;
    self->state = DB_DOWN;
    self->next_attempt_ms = now_ms + s_backoff_ms(self);
}

/* s_message trims libpq's trailing newline for one-line logs. */
static const char *s_message(PGconn *conn, char *buf, size_t len)
{
    snprintf(buf, len, "%s", conn ? PQerrorMessage(conn) : "out of memory");
    size_t n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    return buf;
}

static void s_start_connect(db_t *self, uint64_t now_ms)
{
    const char *keys[] = {"dbname", "application_name", NULL};
    const char *values[] = {self->conninfo, "sluiced", NULL};
    self->conn = PQconnectStartParams(keys, values, 1);
    if (!self->conn || PQstatus(self->conn) == CONNECTION_BAD) {
        char buf[256];
        s_lost(self, now_ms, s_message(self->conn, buf, sizeof buf));
        return;
    }
    self->state = DB_CONNECTING;
    self->connect_poll = PGRES_POLLING_WRITING;
    self->connect_deadline_ms = now_ms + DB_CONNECT_TIMEOUT_MS;
}

static bool s_send_check(db_t *self)
{
    /* Acks promise durability: insist on synchronous commit for this session
     * whatever the server's default is. Our statements are short and take
     * arrays of any length: one generic plan, no JIT. */
    if (!PQsendQuery(self->conn,
                     "SET synchronous_commit TO on;"
                     "SET plan_cache_mode TO force_generic_plan;"
                     "SET jit TO off;"
                     "SELECT coalesce(max(version), 0) FROM schema_migrations"))
        return false;
    self->checking = true;
    self->prepared = 0;
    self->state = DB_CHECKING;
    int rc = PQflush(self->conn);
    self->flush_pending = rc == 1;
    return rc >= 0;
}

static void s_step_connect(db_t *self, short revents, uint64_t now_ms)
{
    if (now_ms >= self->connect_deadline_ms) {
        s_lost(self, now_ms, "connection attempt timed out");
        return;
    }
    if (!revents)
        return;
    self->connect_poll = PQconnectPoll(self->conn);
    if (self->connect_poll == PGRES_POLLING_FAILED) {
        char buf[256];
        s_lost(self, now_ms, s_message(self->conn, buf, sizeof buf));
        return;
    }
    if (self->connect_poll != PGRES_POLLING_OK)
        return;
    if (PQsetnonblocking(self->conn, 1) != 0 || !s_send_check(self)) {
        char buf[256];
        s_lost(self, now_ms, s_message(self->conn, buf, sizeof buf));
    }
}

static bool s_connection_lost_state(const char *sqlstate)
{
    /* Class 08: connection exception. 57P01-57P03: the server is shutting
     * down or starting up. Any of them means: reconnect. */
    return strncmp(sqlstate, "08", 2) == 0 || strcmp(sqlstate, "57P01") == 0 ||
           strcmp(sqlstate, "57P02") == 0 || strcmp(sqlstate, "57P03") == 0;
}

/* s_prepare_next sends the next PREPARE of a fresh connection. Returns
 * false when every statement is prepared. */
static bool s_prepare_next(db_t *self, uint64_t now_ms)
{
    if (self->prepared >= self->statement_count)
        return false;
    const db_statement_t *st = &self->statements[self->prepared++];
    if (!PQsendPrepare(self->conn, st->name, st->sql, st->nparams, NULL)) {
        char buf[256];
        s_lost(self, now_ms, s_message(self->conn, buf, sizeof buf));
        return true;
    }
    int rc = PQflush(self->conn);
    self->flush_pending = rc == 1;
    self->state = DB_CHECKING;
    return true;
}

/* s_check_version: false (connection dropped) when the schema is missing
 * or older than this binary. */
static bool s_check_version(db_t *self, const PGresult *res, uint64_t now_ms)
{
    int version = atoi(PQgetvalue(res, 0, 0));
    if (version >= self->schema_version)
        return true;
    char why[160];
    snprintf(why, sizeof why,
             "database schema is at version %d, sluiced needs %d; run `sluiced -c FILE --migrate`",
             version, self->schema_version);
    s_lost(self, now_ms, why);
    return false;
}

/* s_finish_check takes one result of bringing a connection up: the session
 * settings and schema version first, then one PREPARE per statement. */
static void s_finish_check(db_t *self, uint64_t now_ms)
{
    PGresult *res = self->result;
    self->result = NULL;
    ExecStatusType st = PQresultStatus(res);
    bool version_step = self->prepared == 0;
    if (st != (version_step ? PGRES_TUPLES_OK : PGRES_COMMAND_OK) ||
        (version_step && PQntuples(res) != 1)) {
        char why[320];
        snprintf(why, sizeof why, "%s failed (%s)%s",
                 version_step ? "schema check" : self->statements[self->prepared - 1].name,
                 PQresultErrorMessage(res),
                 version_step ? "; run `sluiced -c FILE --migrate`" : "");
        for (char *p = why; *p; p++)
            if (*p == '\n')
                *p = ' ';
        PQclear(res);
        s_lost(self, now_ms, why);
        return;
    }
    bool ok = !version_step || s_check_version(self, res, now_ms);
    PQclear(res);
    if (!ok || s_prepare_next(self, now_ms))
        return;
    self->checking = false;
    if (self->failures > 0)
        log_notice("database connection is back after %d failed attempt%s", self->failures,
                   self->failures == 1 ? "" : "s");
    else
        log_notice("database connected");
    self->failures = 0;
    self->was_up = true;
    self->state = DB_IDLE;
}

/* s_collect reads every result of the statement in flight; when the last one
 * is in, it hands the outcome to the caller. */
static void s_collect(db_t *self, uint64_t now_ms)
{
    while ((self->state == DB_BUSY || self->state == DB_CHECKING) && !PQisBusy(self->conn)) {
        PGresult *res = PQgetResult(self->conn);
        if (res) {
            ExecStatusType st = PQresultStatus(res);
            bool is_error = st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK;
            bool have_error = self->result && PQresultStatus(self->result) != PGRES_COMMAND_OK &&
                              PQresultStatus(self->result) != PGRES_TUPLES_OK;
            if (have_error && is_error) {
                PQclear(res);       /* keep the first error */
            } else if (!have_error) {
                PQclear(self->result);
                self->result = res;
            } else {
                PQclear(res);
            }
            continue;
        }
        /* NULL: the statement is complete. */
        self->state = DB_IDLE;
        if (self->checking) {
            s_finish_check(self, now_ms);
            return;
        }
        PGresult *done_res = self->result;
        ExecStatusType st = PQresultStatus(done_res);
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
            db_done_fn *done = self->done;
            void *arg = self->done_arg;
            self->done = NULL;
            self->done_arg = NULL;
            self->result = NULL;
            if (done)
                done(arg, done_res, NULL);
            PQclear(done_res);
            return;
        }
        db_error_t err = {0};
        const char *state = PQresultErrorField(done_res, PG_DIAG_SQLSTATE);
        snprintf(err.sqlstate, sizeof err.sqlstate, "%s", state ? state : "");
        snprintf(err.message, sizeof err.message, "%s", PQresultErrorMessage(done_res));
        err.message[strcspn(err.message, "\n")] = '\0';
        err.connection_lost = PQstatus(self->conn) == CONNECTION_BAD ||
                              s_connection_lost_state(err.sqlstate);
        if (err.connection_lost) {
            s_lost(self, now_ms, err.message);  /* fails the statement with a "lost" error */
            return;
        }
        s_fail_statement(self, &err);
        return;
    }
}

static void s_step_up(db_t *self, short revents, uint64_t now_ms)
{
    if (self->flush_pending && (revents & (POLLOUT | POLLIN))) {
        int rc = PQflush(self->conn);
        if (rc < 0) {
            char buf[256];
            s_lost(self, now_ms, s_message(self->conn, buf, sizeof buf));
            return;
        }
        self->flush_pending = rc == 1;
    }
    if (revents & (POLLIN | POLLERR | POLLHUP)) {
        if (!PQconsumeInput(self->conn)) {
            char buf[256];
            s_lost(self, now_ms, s_message(self->conn, buf, sizeof buf));
            return;
        }
    }
    if (self->state == DB_BUSY || self->state == DB_CHECKING)
        s_collect(self, now_ms);
    /* An idle connection that the server closed (restart, admin kill). */
    if (self->conn && PQstatus(self->conn) == CONNECTION_BAD) {
        char buf[256];
        s_lost(self, now_ms, s_message(self->conn, buf, sizeof buf));
    }
}

void db_step(db_t *self, short revents, uint64_t now_ms)
{
    switch (self->state) {
    case DB_DOWN:
        if (now_ms >= self->next_attempt_ms)
            s_start_connect(self, now_ms);
        break;
    case DB_CONNECTING:
        s_step_connect(self, revents, now_ms);
        break;
    case DB_CHECKING:
    case DB_IDLE:
    case DB_BUSY:
        s_step_up(self, revents, now_ms);
        break;
    }
}

int db_socket(const db_t *self)
{
    return self->conn ? PQsocket(self->conn) : -1;
}

short db_poll_events(const db_t *self)
{
    if (!self->conn)
        return 0;
    if (self->state == DB_CONNECTING)
        return self->connect_poll == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    return (short)(POLLIN | (self->flush_pending ? POLLOUT : 0));
}

int db_timeout_ms(const db_t *self, uint64_t now_ms)
{
    uint64_t deadline;
    if (self->state == DB_DOWN)
        deadline = self->next_attempt_ms;
    else if (self->state == DB_CONNECTING)
        deadline = self->connect_deadline_ms;
    else
        return -1;
    return deadline <= now_ms ? 0 : (int)(deadline - now_ms);
}

db_state_t db_state(const db_t *self)
{
    return self->state;
}

bool db_is_up(const db_t *self)
{
    return (self->state == DB_IDLE || self->state == DB_BUSY) && !self->checking;
}

bool db_is_idle(const db_t *self)
{
    return self->state == DB_IDLE;
}

uint64_t db_retry_after_ms(const db_t *self, uint64_t now_ms)
{
    uint64_t wait = self->state == DB_DOWN && self->next_attempt_ms > now_ms
                        ? self->next_attempt_ms - now_ms : 0;
    return wait + 500;  /* the attempt itself, and time to catch up */
}

bool db_send(db_t *self, const char *name, int nparams, const char *const *values,
             db_done_fn *done, void *arg)
{
    if (self->state != DB_IDLE)
        return false;
    if (!PQsendQueryPrepared(self->conn, name, nparams, values, NULL, NULL, 0)) {
        char buf[256];
        s_lost(self, clock_mono_ms(), s_message(self->conn, buf, sizeof buf));
        return false;
    }
    int rc = PQflush(self->conn);
    if (rc < 0) {
        char buf[256];
        s_lost(self, clock_mono_ms(), s_message(self->conn, buf, sizeof buf));
        return false;
    }
    self->flush_pending = rc == 1;
    self->state = DB_BUSY;
    self->done = done;
    self->done_arg = arg;
    return true;
}
