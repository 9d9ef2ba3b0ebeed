/* db.c - owns the PostgreSQL connection of the event loop: the attempts
 * through the hosts of the connection string, a deadline on everything that
 * waits, and why the connection is down. */
#include "db.h"

#include "clock.h"
#include "log.h"

#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The lists of a multi-host connection string that name one entry per host,
 * in the order libpq pairs them. */
enum { L_HOST, L_HOSTADDR, L_PORT, L_COUNT };
static const char *const s_list_keys[L_COUNT] = {"host", "hostaddr", "port"};

/* One host of a multi-host connection string. */
typedef struct target {
    char *entry[L_COUNT];   /* its entry of each list; NULL: no such list, or one port for all */
    char name[160];         /* HOST:PORT, for the logs */
    bool tried;             /* in this round */
} target_t;

struct db {
    char *conninfo;
    int schema_version;
    const db_statement_t *statements;
    size_t statement_count;
    size_t prepared;                         /* DB_CHECKING: statements prepared so far */
    db_timeouts_t timeouts;
    /* The hosts when the string names several, else none: libpq alone then
     * decides where to connect. An attempt gives libpq the lists rotated to
     * start at FIRST; libpq moves on by itself past a host that refuses (or
     * is a standby under target_session_attrs=read-write), OFFSET follows it. */
    target_t *targets;
    size_t target_count;
    size_t first;
    size_t offset;
    PGconn *conn;
    db_state_t state;
    PostgresPollingStatusType connect_poll;  /* what PQconnectPoll waits for */
    bool flush_pending;                      /* PQflush said 1: wait for POLLOUT */
    uint64_t next_attempt_ms;                /* DB_DOWN: when to try again */
    /* DB_CONNECTING: when libpq started on this host; DB_CHECKING, DB_BUSY:
     * the server's last sign of life since the statement was sent. */
    uint64_t waiting_since_ms;
    int attempt;                             /* the attempt under way, or the last one */
    int failures;                            /* consecutive failed attempts */
    int rounds;                              /* consecutive rounds every host failed, for the backoff */
    bool was_up;                             /* to log "lost" and "back" once */
    char live[160];                          /* HOST:PORT of the connection, "" when none */
    char last[400];                          /* how the last attempt or connection ended */
    char why[640];                           /* db_why_down */
    /* The statement in flight. */
    db_done_fn *done;
    void *done_arg;
    PGresult *result;                        /* the last result, or the first error */
    bool checking;                           /* the in-flight statement is the schema check */
    bool fenced;                             /* the in-flight statement is fenced */
    /* db_set_fence: what fenced statements append, and who hears of a failed fence. */
    char fence_shard[72];
    char fence_epoch[24];
    db_fenced_fn *on_fenced;
    void *on_fenced_arg;
};

/* s_one_line turns libpq's multi-line messages (one paragraph per host it
 * tried) into one log line. */
static char *s_one_line(char *text)
{
    char *out = text;
    bool space = false;
    for (const char *p = text; *p; p++) {
        bool blank = *p == '\n' || *p == '\t' || *p == ' ';
        if (blank && (space || out == text))
            continue;
        *out++ = blank ? ' ' : *p;
        space = blank;
    }
    if (out > text && space)
        out--;
    *out = '\0';
    return text;
}

/* s_message copies libpq's last error, as one line. */
static const char *s_message(PGconn *conn, char *buf, size_t len)
{
    snprintf(buf, len, "%s", conn ? PQerrorMessage(conn) : "out of memory");
    return s_one_line(buf);
}

static size_t s_list_length(const char *list)
{
    if (!list || !list[0])
        return 0;
    size_t n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    return n;
}

/* s_list_entry returns entry I of the comma-separated LIST, malloc'ed. */
static char *s_list_entry(const char *list, size_t i)
{
    for (; i > 0; i--)
        list = strchr(list, ',') + 1;
    return strndup(list, strcspn(list, ","));
}

static void s_targets_free(db_t *self)
{
    for (size_t i = 0; i < self->target_count; i++)
        for (int l = 0; l < L_COUNT; l++)
            free(self->targets[i].entry[l]);
    free(self->targets);
    self->targets = NULL;
    self->target_count = 0;
}

/* s_parse_targets finds the hosts of a connection string that names several
 * (key=value or URI: PQconninfoParse reads both). A string libpq cannot
 * parse, or whose lists do not pair up, gets no rotation: the first attempt
 * then fails with libpq's own message. False when out of memory. */
static bool s_parse_targets(db_t *self)
{
    char *error = NULL;
    PQconninfoOption *options = PQconninfoParse(self->conninfo, &error);
    PQfreemem(error);  /* it may quote the string, password and all: libpq says it at connect */
    if (!options)
        return true;
    const char *list[L_COUNT] = {NULL};
    size_t count[L_COUNT] = {0};
    for (const PQconninfoOption *o = options; o->keyword; o++)
        for (int l = 0; l < L_COUNT; l++)
            if (o->val && strcmp(o->keyword, s_list_keys[l]) == 0) {
                list[l] = o->val;
                count[l] = s_list_length(o->val);
            }
    size_t n = count[L_HOST] ? count[L_HOST] : count[L_HOSTADDR];
    bool pairs = (!count[L_HOST] || !count[L_HOSTADDR] || count[L_HOST] == count[L_HOSTADDR]) &&
                 (count[L_PORT] <= 1 || count[L_PORT] == n);
    bool ok = true;
    if (n >= 2 && pairs) {
        self->targets = calloc(n, sizeof *self->targets);
        ok = self->targets != NULL;
        self->target_count = ok ? n : 0;
        for (size_t i = 0; ok && i < n; i++) {
            target_t *t = &self->targets[i];
            for (int l = 0; l < L_COUNT; l++)
                if (count[l] == n && !(t->entry[l] = s_list_entry(list[l], i)))
                    ok = false;
            if (!ok)
                break;
            const char *host = t->entry[L_HOST] && t->entry[L_HOST][0] ? t->entry[L_HOST]
                             : t->entry[L_HOSTADDR] && t->entry[L_HOSTADDR][0]
                                 ? t->entry[L_HOSTADDR] : "(default host)";
            const char *port = t->entry[L_PORT] ? t->entry[L_PORT] : list[L_PORT];
            snprintf(t->name, sizeof t->name, "%s%s%s", host, port && port[0] ? ":" : "",
                     port && port[0] ? port : "");
        }
        if (!ok)
            s_targets_free(self);
    }
    PQconninfoFree(options);
    return ok;
}

db_t *db_new(const char *conninfo, int schema_version, const db_statement_t *statements, size_t n,
             int reconnect_min_ms, int reconnect_max_ms)
{
    db_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->conninfo = strdup(conninfo);
    if (!self->conninfo || !s_parse_targets(self)) {
        free(self->conninfo);
        free(self);
        return NULL;
    }
    self->schema_version = schema_version;
    self->statements = statements;
    self->statement_count = n;
    db_set_timeouts(self, &(db_timeouts_t){.connect_ms = DB_CONNECT_TIMEOUT_MS,
                                           .statement_ms = DB_STATEMENT_TIMEOUT_MS,
                                           .reconnect_min_ms = reconnect_min_ms > 0 ? reconnect_min_ms
                                                                                    : 100,
                                           .reconnect_max_ms = reconnect_max_ms});
    self->state = DB_DOWN;
    snprintf(self->why, sizeof self->why, "not connected yet");
    snprintf(self->fence_epoch, sizeof self->fence_epoch, "0");
    return self;
}

void db_set_fence(db_t *self, const char *shard, uint64_t epoch, db_fenced_fn *fenced, void *arg)
{
    snprintf(self->fence_shard, sizeof self->fence_shard, "%s", shard);
    snprintf(self->fence_epoch, sizeof self->fence_epoch, "%" PRIu64, epoch);
    self->on_fenced = fenced;
    self->on_fenced_arg = arg;
}

void db_set_timeouts(db_t *self, const db_timeouts_t *timeouts)
{
    self->timeouts.connect_ms = timeouts->connect_ms > 0 ? timeouts->connect_ms : 1;
    self->timeouts.statement_ms = timeouts->statement_ms > 0 ? timeouts->statement_ms : 1;
    self->timeouts.reconnect_min_ms = timeouts->reconnect_min_ms > 0 ? timeouts->reconnect_min_ms : 1;
    self->timeouts.reconnect_max_ms = timeouts->reconnect_max_ms > self->timeouts.reconnect_min_ms
                                          ? timeouts->reconnect_max_ms
                                          : self->timeouts.reconnect_min_ms;
    /* The deadlines under way are computed from the new values in db_step;
     * a backoff under way waits no longer than the new cap. */
    uint64_t cap = clock_mono_ms() + (uint64_t)self->timeouts.reconnect_max_ms;
    if (self->state == DB_DOWN && self->next_attempt_ms > cap)
        self->next_attempt_ms = cap;
}

static void s_fail_statement(db_t *self, const db_error_t *err)
{
    self->fenced = false;
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
    s_targets_free(db);
    free(db->conninfo);
    free(db);
    *self = NULL;
}

static uint64_t s_backoff_ms(db_t *self)
{
    uint64_t max = (uint64_t)self->timeouts.reconnect_max_ms;
    uint64_t delay = (uint64_t)self->timeouts.reconnect_min_ms;
    for (int i = 1; i < self->rounds && delay < max; i++)
        delay *= 2;
    if (delay > max)
        delay = max;
    /* Jitter of up to a quarter, so a fleet does not reconnect in lockstep. */
    return delay - delay / 4 + (uint64_t)(rand() % (int)(delay / 4 + 1));
}

/* s_where names the host the attempt under way is on: the target libpq has
 * reached, or what libpq says for a string with one host. */
static const char *s_where(const db_t *self, char *buf, size_t len)
{
    if (self->target_count >= 2)
        return self->targets[(self->first + self->offset) % self->target_count].name;
    const char *host = self->conn ? PQhost(self->conn) : NULL;
    const char *port = self->conn ? PQport(self->conn) : NULL;
    if (!host || !host[0])
        return "the database";
    snprintf(buf, len, "%s%s%s", host, port && port[0] ? ":" : "", port && port[0] ? port : "");
    return buf;
}

static void s_say_connecting(db_t *self)
{
    char where[160];
    snprintf(self->why, sizeof self->why, "connecting to %s (attempt %d)%s%s",
             s_where(self, where, sizeof where), self->attempt, self->last[0] ? " after: " : "",
             self->last);
}

/* s_lost closes the connection, schedules the next attempt, says why and
 * where next, then fails the statement in flight (TIMED_OUT: it had no
 * answer in time). The next attempt starts from the host after the one this
 * attempt or connection ended on: at once when that host is new in this
 * round, after the backoff once every host has failed. WHY leaves out the
 * host; one line is logged per attempt, so per host and round. */
static void s_lost(db_t *self, uint64_t now_ms, const char *why, bool timed_out)
{
    char where_buf[160];
    const char *where = self->live[0] ? self->live : s_where(self, where_buf, sizeof where_buf);
    if (self->was_up)
        snprintf(self->last, sizeof self->last, "lost the connection to %s: %s", where, why);
    else
        snprintf(self->last, sizeof self->last, "attempt %d on %s: %s", self->attempt, where, why);
    bool fresh = false;
    size_t n = self->target_count;
    if (n >= 2) {
        for (size_t k = 0; k <= self->offset; k++)
            self->targets[(self->first + k) % n].tried = true;
        self->first = (self->first + self->offset + 1) % n;
        fresh = !self->targets[self->first].tried;
        for (size_t i = 0; !fresh && i < n; i++)
            self->targets[i].tried = false;
    }
    self->offset = 0;
    uint64_t delay = 0;
    char next[200];
    if (fresh) {
        snprintf(next, sizeof next, "trying %s next", self->targets[self->first].name);
    } else {
        self->rounds++;
        delay = s_backoff_ms(self);
        snprintf(next, sizeof next, "next attempt after %" PRIu64 " ms", delay);
    }
    if (self->was_up)
        log_error("lost database connection to %s: %s; %s", where, why, next);
    else
        log_warning("failed to connect to database at %s (attempt %d): %s; %s", where,
                    self->attempt, why, next);
    snprintf(self->why, sizeof self->why, "%s; %s", self->last, next);
    self->was_up = false;
    self->checking = false;
    PQfinish(self->conn);
    self->conn = NULL;
    self->live[0] = '\0';
    self->flush_pending = false;
    self->failures++;
    self->state = DB_DOWN;
    self->next_attempt_ms = now_ms + delay;
    if (self->done) {
        db_error_t err = {.connection_lost = true, .timed_out = timed_out};
        snprintf(err.message, sizeof err.message, "%s", why);
        s_fail_statement(self, &err);
    }
}

/* s_follow_host notes the host libpq has moved on to: each host gets a
 * connect timeout of its own, as libpq's connect_timeout would give it. */
static void s_follow_host(db_t *self, uint64_t now_ms)
{
    size_t n = self->target_count;
    if (n < 2)
        return;
    const char *host = PQhost(self->conn), *port = PQport(self->conn);
    for (size_t k = self->offset; k < n; k++) {
        const target_t *t = &self->targets[(self->first + k) % n];
        const char *mine = t->entry[L_HOST] && t->entry[L_HOST][0] ? t->entry[L_HOST]
                                                                   : t->entry[L_HOSTADDR];
        if ((mine && mine[0] && strcmp(mine, host ? host : "") != 0) ||
            (t->entry[L_PORT] && t->entry[L_PORT][0] && strcmp(t->entry[L_PORT], port ? port : "") != 0))
            continue;
        if (k != self->offset) {
            self->offset = k;
            self->waiting_since_ms = now_ms;
            s_say_connecting(self);
        }
        return;
    }
}

/* s_rotated is the list L of the targets from FIRST on, wrapping round:
 * what libpq gets for this attempt. Malloc'ed; NULL when out of memory. */
static char *s_rotated(const db_t *self, int l)
{
    size_t n = self->target_count, len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(self->targets[i].entry[l]) + 1;
    char *out = malloc(len), *p = out;
    for (size_t k = 0; out && k < n; k++)
        p += sprintf(p, "%s%s", k ? "," : "", self->targets[(self->first + k) % n].entry[l]);
    return out;
}

static void s_start_connect(db_t *self, uint64_t now_ms)
{
    /* The lists come after the expanded dbname, so they replace the
     * string's own; application_name likewise. */
    const char *keys[L_COUNT + 3], *values[L_COUNT + 3];
    char *lists[L_COUNT] = {NULL};
    size_t k = 0;
    bool ok = true;
    keys[k] = "dbname";
    values[k++] = self->conninfo;
    for (int l = 0; l < L_COUNT && self->target_count >= 2; l++) {
        if (!self->targets[0].entry[l])
            continue;
        ok = ok && (lists[l] = s_rotated(self, l)) != NULL;
        keys[k] = s_list_keys[l];
        values[k++] = lists[l];
    }
    keys[k] = "application_name";
    values[k++] = "sluiced";
    keys[k] = NULL;
    values[k] = NULL;
    self->attempt++;
    self->offset = 0;
    self->waiting_since_ms = now_ms;
    self->conn = ok ? PQconnectStartParams(keys, values, 1) : NULL;
    for (int l = 0; l < L_COUNT; l++)
        free(lists[l]);
    if (!self->conn || PQstatus(self->conn) == CONNECTION_BAD) {
        char buf[512];
        if (self->conn)
            s_follow_host(self, now_ms);
        s_lost(self, now_ms, s_message(self->conn, buf, sizeof buf), false);
        return;
    }
    self->state = DB_CONNECTING;
    self->connect_poll = PGRES_POLLING_WRITING;
    s_follow_host(self, now_ms);
    s_say_connecting(self);
}

static bool s_send_check(db_t *self, uint64_t now_ms)
{
    /* Acks promise durability: insist on synchronous commit for this session
     * whatever the server's default is. Our statements are short and take
     * arrays of any length: one generic plan, no JIT. A read-only session
     * (a standby, or a demoted primary) cannot take orders. */
    if (!PQsendQuery(self->conn,
                     "SET synchronous_commit TO on;"
                     "SET plan_cache_mode TO force_generic_plan;"
                     "SET jit TO off;"
                     "SELECT coalesce(max(version), 0), current_setting('transaction_read_only')"
                     " FROM schema_migrations"))
        return false;
    self->checking = true;
    self->prepared = 0;
    self->state = DB_CHECKING;
    self->waiting_since_ms = now_ms;
    snprintf(self->why, sizeof self->why, "checking the schema on %s (attempt %d)", self->live,
             self->attempt);
    int rc = PQflush(self->conn);
    self->flush_pending = rc == 1;
    return rc >= 0;
}

static void s_step_connect(db_t *self, short revents, uint64_t now_ms)
{
    if (revents) {
        self->connect_poll = PQconnectPoll(self->conn);
        s_follow_host(self, now_ms);
        if (self->connect_poll == PGRES_POLLING_FAILED) {
            char buf[512];
            s_lost(self, now_ms, s_message(self->conn, buf, sizeof buf), false);
            return;
        }
        if (self->connect_poll == PGRES_POLLING_OK) {
            char where[160];
            snprintf(self->live, sizeof self->live, "%s", s_where(self, where, sizeof where));
            if (PQsetnonblocking(self->conn, 1) != 0 || !s_send_check(self, now_ms)) {
                char buf[512];
                s_lost(self, now_ms, s_message(self->conn, buf, sizeof buf), false);
            }
            return;
        }
    }
    if (now_ms >= self->waiting_since_ms + (uint64_t)self->timeouts.connect_ms) {
        /* libpq's message says why it passed over the hosts before this one
         * (refused, read-only...). */
        char why[400], passed[320] = "";
        if (self->offset > 0) {
            /* Without the line libpq began for the host that hung. */
            s_message(self->conn, passed, sizeof passed);
            char *hung = NULL;
            for (char *p = passed; (p = strstr(p, "connection to ")); p++)
                hung = p;
            size_t len = strlen(passed);
            if (hung && hung > passed && len > 7 && strcmp(passed + len - 7, "failed:") == 0)
                hung[-1] = '\0';
        }
        snprintf(why, sizeof why, "connection attempt timed out after %d ms%s%s",
                 self->timeouts.connect_ms, passed[0] ? ", having passed over: " : "", passed);
        s_lost(self, now_ms, why, true);
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
        char buf[512];
        s_lost(self, now_ms, s_message(self->conn, buf, sizeof buf), false);
        return true;
    }
    int rc = PQflush(self->conn);
    self->flush_pending = rc == 1;
    self->state = DB_CHECKING;
    self->waiting_since_ms = now_ms;
    return true;
}

/* s_check_session: false (connection dropped) when the schema is missing or
 * older than this binary, or the session cannot write. */
static bool s_check_session(db_t *self, const PGresult *res, uint64_t now_ms)
{
    int version = atoi(PQgetvalue(res, 0, 0));
    char why[200];
    if (version < self->schema_version)
        snprintf(why, sizeof why,
                 "database schema is at version %d, sluiced needs %d; run `sluiced -c FILE --migrate`",
                 version, self->schema_version);
    else if (strcmp(PQgetvalue(res, 0, 1), "on") == 0)
        snprintf(why, sizeof why,
                 "the session is read-only (a standby?); sluiced needs the primary "
                 "(target_session_attrs=read-write finds it)");
    else
        return true;
    s_lost(self, now_ms, why, false);
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
        PQclear(res);
        s_lost(self, now_ms, s_one_line(why), false);
        return;
    }
    bool ok = !version_step || s_check_session(self, res, now_ms);
    PQclear(res);
    if (!ok || s_prepare_next(self, now_ms))
        return;
    self->checking = false;
    if (self->failures > 0)
        log_notice("database connection is back on %s after %d failed attempt%s", self->live,
                   self->failures, self->failures == 1 ? "" : "s");
    else
        log_notice("database connected to %s", self->live);
    /* A new round starts at this host when the connection ends. */
    if (self->target_count >= 2) {
        self->first = (self->first + self->offset) % self->target_count;
        for (size_t i = 0; i < self->target_count; i++)
            self->targets[i].tried = false;
    }
    self->offset = 0;
    self->failures = 0;
    self->rounds = 0;
    self->was_up = true;
    self->last[0] = '\0';
    self->why[0] = '\0';
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
            self->fenced = false;
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
            s_lost(self, now_ms, err.message, false);  /* fails the statement with a "lost" error */
            return;
        }
        if (self->fenced && self->on_fenced && strcmp(err.sqlstate, DB_FENCED_SQLSTATE) == 0)
            self->on_fenced(self->on_fenced_arg, &err);
        s_fail_statement(self, &err);
        return;
    }
}

static void s_step_up(db_t *self, short revents, uint64_t now_ms)
{
    bool alive = false;  /* the server read or sent something */
    if (self->flush_pending && (revents & (POLLOUT | POLLIN))) {
        int rc = PQflush(self->conn);
        if (rc < 0) {
            char buf[512];
            s_lost(self, now_ms, s_message(self->conn, buf, sizeof buf), false);
            return;
        }
        self->flush_pending = rc == 1;
        alive = true;
    }
    if (revents & (POLLIN | POLLERR | POLLHUP)) {
        if (!PQconsumeInput(self->conn)) {
            char buf[512];
            s_lost(self, now_ms, s_message(self->conn, buf, sizeof buf), false);
            return;
        }
        alive = true;
    }
    if (alive && now_ms > self->waiting_since_ms)
        self->waiting_since_ms = now_ms;
    if (self->state == DB_BUSY || self->state == DB_CHECKING)
        s_collect(self, now_ms);
    /* An idle connection that the server closed (restart, admin kill). */
    if (self->conn && PQstatus(self->conn) == CONNECTION_BAD) {
        char buf[512];
        s_lost(self, now_ms, s_message(self->conn, buf, sizeof buf), false);
        return;
    }
    /* A server that accepts a statement and then says nothing (hung, or cut
     * off without a reset) would keep it in flight forever. */
    if ((self->state == DB_BUSY || self->state == DB_CHECKING) &&
        now_ms >= self->waiting_since_ms + (uint64_t)self->timeouts.statement_ms) {
        char why[160];
        snprintf(why, sizeof why, "%s timed out after %d ms without an answer",
                 self->state == DB_BUSY ? "statement" : "schema check", self->timeouts.statement_ms);
        s_lost(self, now_ms, why, true);
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
    uint64_t deadline = 0;
    switch (self->state) {
    case DB_IDLE:
        return -1;
    case DB_DOWN:
        deadline = self->next_attempt_ms;
        break;
    case DB_CONNECTING:
        deadline = self->waiting_since_ms + (uint64_t)self->timeouts.connect_ms;
        break;
    case DB_CHECKING:
    case DB_BUSY:
        deadline = self->waiting_since_ms + (uint64_t)self->timeouts.statement_ms;
        break;
    }
    if (deadline <= now_ms)
        return 0;
    return deadline - now_ms > INT_MAX ? INT_MAX : (int)(deadline - now_ms);
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

const char *db_why_down(const db_t *self)
{
    return db_is_up(self) ? "" : self->why;
}

const char *db_host(const db_t *self)
{
    return self->live;
}

uint64_t db_retry_after_ms(const db_t *self, uint64_t now_ms)
{
    uint64_t wait = self->state == DB_DOWN && self->next_attempt_ms > now_ms
                        ? self->next_attempt_ms - now_ms : 0;
    return wait + 500;  /* the attempt itself, and time to catch up */
}

/* s_find_statement: the statement named NAME, NULL when none is. */
static const db_statement_t *s_find_statement(const db_t *self, const char *name)
{
    for (size_t i = 0; i < self->statement_count; i++)
        if (strcmp(self->statements[i].name, name) == 0)
            return &self->statements[i];
    return NULL;
}

bool db_send(db_t *self, const char *name, int nparams, const char *const *values,
             db_done_fn *done, void *arg)
{
    if (self->state != DB_IDLE)
        return false;
    const db_statement_t *st = s_find_statement(self, name);
    bool fenced = st && st->fenced;
    const char *all[DB_PARAMS_MAX];
    if (fenced) {
        if (nparams < 0 || nparams + DB_FENCE_PARAMS > DB_PARAMS_MAX) {
            log_error("failed to send %s: %d parameters, at most %d", name, nparams,
                      DB_PARAMS_MAX - DB_FENCE_PARAMS);
            return false;
        }
        for (int i = 0; i < nparams; i++)
            all[i] = values[i];
        all[nparams] = self->fence_shard;
        all[nparams + 1] = self->fence_epoch;
        values = all;
        nparams += DB_FENCE_PARAMS;
    }
    if (!PQsendQueryPrepared(self->conn, name, nparams, values, NULL, NULL, 0)) {
        char buf[512];
        s_lost(self, clock_mono_ms(), s_message(self->conn, buf, sizeof buf), false);
        return false;
    }
    int rc = PQflush(self->conn);
    if (rc < 0) {
        char buf[512];
        s_lost(self, clock_mono_ms(), s_message(self->conn, buf, sizeof buf), false);
        return false;
    }
    self->flush_pending = rc == 1;
    self->state = DB_BUSY;
    self->waiting_since_ms = clock_mono_ms();
    self->done = done;
    self->done_arg = arg;
    self->fenced = fenced;
    return true;
}
