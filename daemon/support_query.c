/* support_query.c - owns the support reads of PostgreSQL (see support_query.h). */
#include "support_query.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

struct support_query {
    char *conninfo;
    PGconn *conn;
    char target[512];
    char error[1024];
};

/* to_char patterns, one per support_query_times_t: a time, and a clock
 * time within a detail. */
static const char *const s_formats[] = {
    [SUPPORT_QUERY_TIMES_TEXT] = "YYYY-MM-DD HH24:MI:SS.MS",
    [SUPPORT_QUERY_TIMES_ISO] = "YYYY-MM-DD\"T\"HH24:MI:SS.MSTZH:TZM",
};
static const char *const s_clocks[] = {
    [SUPPORT_QUERY_TIMES_TEXT] = "HH24:MI:SS",
    [SUPPORT_QUERY_TIMES_ISO] = "HH24:MI:SSTZH:TZM",
};

/* The live states are the ones orders_store_live covers: the function of
 * migration 007 inlines to that index's predicate. */
#define S_LIVE "NOT order_state_is_terminal(state)"

/* No JIT, as in sluiced's sessions: a store summary over many orders can
 * pass jit_above_cost, and loading LLVM into a fresh backend costs more than
 * the whole query. */
static const char s_begin_sql[] =
    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;"
    " SET LOCAL statement_timeout = '30s'; SET LOCAL jit = off";
static const char s_zone_sql[] = "SELECT set_config('TimeZone', $1, true)";

/* Empty texts read as NULL (NULLIF), so that the daemon's answer, where ""
 * stands for NULL (proto/control.proto OrderReply), says the same. */
static const char s_order_store_sql[] = "SELECT store_id FROM orders WHERE order_id = $1";
static const char s_order_sql[] =
    "SELECT order_id, store_id, state::text, items::text,"
    "       (SELECT string_agg(format('%s x %s', e->>'qty', e->>'sku'), ', ' ORDER BY n)"
    "          FROM jsonb_array_elements(items) WITH ORDINALITY AS i(e, n)),"
    "       NULLIF(voucher_id, ''), NULLIF(customer_ref, ''), to_char(accepted_at, $2), to_char(promised_ready_at, $2),"
    "       to_char(promised_delivery_at, $2), to_char(updated_at, $2), refund_due, prep_slot,"
    "       to_char(prep_start_at, $2), campaign"
    "  FROM orders WHERE order_id = $1";
static const char s_dispatches_sql[] =
    "SELECT attempt, platform, dispatch_key, state::text, NULLIF(rider_ref, ''), fee_cents,"
    "       to_char(pickup_at, $2), to_char(created_at, $2), to_char(updated_at, $2)"
    "  FROM dispatches WHERE order_id = $1 ORDER BY attempt";
/* The dispatch engine writes clock times into details in UTC ("rider at
 * the store ~13:46:45Z"). A table shows one zone: the first such time of a
 * detail is shown in the answer's zone like the rest ($3: "~21:46:45", or
 * "~21:46:45+08:00" in ISO answers), its day the one nearest the event's. */
#define S_CLOCK_Z "~((?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9])Z"
static const char s_events_sql[] =
    "SELECT e.event_id, to_char(e.at, $2), e.state::text,"
    "       NULLIF(CASE WHEN c.at IS NULL THEN e.detail"
    "                   ELSE regexp_replace(e.detail, '" S_CLOCK_Z "', '~' || to_char(c.at, $3))"
    "              END, '')"
    "  FROM order_events e"
    "  LEFT JOIN LATERAL ("
    "       SELECT d.ts + CASE WHEN d.ts < e.at - interval '12 hours' THEN interval '1 day'"
    "                          WHEN d.ts > e.at + interval '12 hours' THEN interval '-1 day'"
    "                          ELSE interval '0' END AS at"
    "         FROM (SELECT ((e.at AT TIME ZONE 'UTC')::date"
    "                       + substring(e.detail FROM '" S_CLOCK_Z "')::time)"
    "                      AT TIME ZONE 'UTC' AS ts"
    "                WHERE e.detail ~ '" S_CLOCK_Z "') AS d) AS c ON true"
    " WHERE e.order_id = $1 ORDER BY e.event_id";

/* Enum order is lifecycle order. */
static const char s_store_live_sql[] =
    "SELECT state::text, count(*) FROM orders WHERE store_id = $1 AND " S_LIVE
    " GROUP BY state ORDER BY state";
/* date_trunc of a timestamptz truncates in the session's TimeZone: the
 * store's local midnight. */
static const char s_store_summary_sql[] =
    "SELECT to_char(now(), $2), to_char(now(), 'YYYY-MM-DD'),"
    "       to_char(date_trunc('day', now()), $2),"
    "       to_char(l.latest, $2),"
    "       ceil(extract(epoch FROM greatest(l.latest - now(), interval '0')))::bigint,"
    "       t.accepted, t.delivered, t.cancelled, t.failed, t.live,"
    "       (SELECT to_char(max(accepted_at), $2) FROM orders WHERE store_id = $1)"
    "  FROM (SELECT max(promised_ready_at) AS latest FROM orders"
    "         WHERE store_id = $1 AND " S_LIVE ") AS l,"
    "       (SELECT count(*) AS accepted,"
    "               count(*) FILTER (WHERE state = 'DELIVERED') AS delivered,"
    "               count(*) FILTER (WHERE state = 'CANCELLED') AS cancelled,"
    "               count(*) FILTER (WHERE state = 'FAILED') AS failed,"
    "               count(*) FILTER (WHERE " S_LIVE ") AS live"
    "          FROM orders WHERE store_id = $1 AND accepted_at >= date_trunc('day', now())) AS t";

support_query_t *support_query_new(const char *conninfo)
{
    support_query_t *self = calloc(1, sizeof *self);
    if (self == NULL)
        return NULL;
    self->conninfo = strdup(conninfo != NULL ? conninfo : "");
    if (self->conninfo == NULL) {
        free(self);
        return NULL;
    }
    snprintf(self->target, sizeof self->target, "(not connected)");
    return self;
}

void support_query_destroy(support_query_t **self)
{
    if (self == NULL || *self == NULL)
        return;
    PQfinish((*self)->conn);
    free((*self)->conninfo);
    free(*self);
    *self = NULL;
}

const char *support_query_target(const support_query_t *self)
{
    return self->target;
}

const char *support_query_error(const support_query_t *self)
{
    return self->error;
}

/* s_set_error formats the last failure on one line: libpq's messages span
 * lines ("...failed: No such file\n\tIs the server running..."). */
static void s_set_error(support_query_t *self, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void s_set_error(support_query_t *self, const char *fmt, ...)
{
    char raw[sizeof self->error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    size_t at = 0;
    bool space = false;
    for (const char *p = raw; *p && at + 1 < sizeof self->error; p++) {
        if (isspace((unsigned char)*p)) {
            space = at > 0;
            continue;
        }
        if (space && at + 2 < sizeof self->error)
            self->error[at++] = ' ';
        space = false;
        self->error[at++] = *p;
    }
    self->error[at] = '\0';
}

/* s_append_target adds " KEY=VALUE" to the target text, quoting a value
 * with spaces the way a connection string would. */
static void s_append_target(support_query_t *self, size_t *at, const char *key, const char *val)
{
    if (val == NULL || val[0] == '\0' || *at >= sizeof self->target)
        return;
    bool quote = strpbrk(val, " '\\") != NULL;
    int n = snprintf(self->target + *at, sizeof self->target - *at, "%s%s=%s%s%s",
                     *at > 0 ? " " : "", key, quote ? "'" : "", val, quote ? "'" : "");
    if (n > 0)
        *at += (size_t)n;
}

/* s_describe_target names the server from what libpq resolved (defaults and
 * PG* variables included), keyword by keyword: never the password. */
static void s_describe_target(support_query_t *self)
{
    static const char *const keys[] = { "service", "host", "hostaddr", "port", "dbname", "user" };
    size_t at = 0;
    self->target[0] = '\0';
    PQconninfoOption *opts = PQconninfo(self->conn);
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        const char *val = NULL;
        for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++)
            if (strcmp(o->keyword, keys[k]) == 0)
                val = o->val;
        if ((val == NULL || val[0] == '\0') && strcmp(keys[k], "host") == 0)
            val = PQhost(self->conn);
        if ((val == NULL || val[0] == '\0') && strcmp(keys[k], "port") == 0)
            val = PQport(self->conn);
        s_append_target(self, &at, keys[k], val);
    }
    PQconninfoFree(opts);
    if (at == 0)
        snprintf(self->target, sizeof self->target, "(libpq defaults)");
}

support_query_status_t support_query_connect(support_query_t *self)
{
    /* Keywords are applied in order and the connection string is expanded
     * where dbname stands: its own connect_timeout wins over ours, and
     * client_encoding after it keeps every answer UTF-8 (JSON needs it). */
    const char *const keys[] = { "connect_timeout", "fallback_application_name", "dbname",
                                 "client_encoding", NULL };
    const char *const vals[] = { "5", "sluicectl", self->conninfo, "UTF8", NULL };
    PQfinish(self->conn);
    self->conn = PQconnectdbParams(keys, vals, 1);
    if (self->conn == NULL) {
        s_set_error(self, "out of memory");
        return SUPPORT_QUERY_UNREACHABLE;
    }
    s_describe_target(self);
    if (PQstatus(self->conn) != CONNECTION_OK) {
        s_set_error(self, "%s", PQerrorMessage(self->conn));
        return SUPPORT_QUERY_UNREACHABLE;
    }
    PQsetNoticeProcessor(self->conn, NULL, NULL);
    return SUPPORT_QUERY_OK;
}

/* s_failed records why RES failed and whether the connection is gone (SQLSTATE
 * class 08, or the server shutting down: 57P01..57P03). Clears RES. */
static support_query_status_t s_failed(support_query_t *self, PGresult *res, const char *what)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorMessage(res);
    if (msg == NULL || msg[0] == '\0')
        msg = PQerrorMessage(self->conn);
    s_set_error(self, "failed to read %s: %s%s%s%s", what, msg, state ? " (SQLSTATE " : "",
                state ? state : "", state ? ")" : "");
    bool lost = PQstatus(self->conn) != CONNECTION_OK ||
                (state != NULL && (strncmp(state, "08", 2) == 0 || strncmp(state, "57P0", 4) == 0));
    PQclear(res);
    return lost ? SUPPORT_QUERY_UNREACHABLE : SUPPORT_QUERY_FAILED;
}

/* s_query runs SQL with text PARAMS; NULL (and *status set) on failure. */
static PGresult *s_query(support_query_t *self, const char *what, const char *sql, int nparams,
                         const char *const *params, support_query_status_t *status)
{
    PGresult *res = PQexecParams(self->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        *status = SUPPORT_QUERY_OK;
        return res;
    }
    *status = s_failed(self, res, what);
    return NULL;
}

/* s_command runs fixed SQL without parameters (it may hold several statements). */
static support_query_status_t s_command(support_query_t *self, const char *what, const char *sql)
{
    if (self->conn == NULL || PQstatus(self->conn) != CONNECTION_OK) {
        s_set_error(self, "failed to read %s: not connected", what);
        return SUPPORT_QUERY_UNREACHABLE;
    }
    PGresult *res = PQexec(self->conn, sql);
    if (PQresultStatus(res) == PGRES_COMMAND_OK) {
        PQclear(res);
        return SUPPORT_QUERY_OK;
    }
    return s_failed(self, res, what);
}

/* s_rollback ends a failed or finished read; its own failure changes nothing. */
static void s_rollback(support_query_t *self)
{
    if (self->conn != NULL && PQstatus(self->conn) == CONNECTION_OK)
        PQclear(PQexec(self->conn, "ROLLBACK"));
}

PGresult *support_query_exec(support_query_t *self, const char *what, const char *sql, int nparams,
                             const char *const *params, support_query_status_t *status)
{
    return s_query(self, what, sql, nparams, params, status);
}

support_query_status_t support_query_command(support_query_t *self, const char *what,
                                             const char *sql)
{
    return s_command(self, what, sql);
}

void support_query_rollback(support_query_t *self)
{
    s_rollback(self);
}

/* s_set_zone sets the transaction's TimeZone. *UNKNOWN is set when
 * PostgreSQL does not know ZONE (SQLSTATE 22023): the transaction is then
 * aborted and the caller starts again in UTC. */
static support_query_status_t s_set_zone(support_query_t *self, const char *zone, bool *unknown)
{
    const char *params[1] = { zone };
    *unknown = false;
    PGresult *res = PQexecParams(self->conn, s_zone_sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        PQclear(res);
        return SUPPORT_QUERY_OK;
    }
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    *unknown = state != NULL && strcmp(state, "22023") == 0;
    return s_failed(self, res, "the time zone");
}

static const char *s_text(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static long s_long(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? 0 : strtol(PQgetvalue(res, row, col), NULL, 10);
}

void support_query_order_clear(support_query_order_t *o)
{
    for (size_t i = 0; i < sizeof o->res / sizeof o->res[0]; i++)
        PQclear(o->res[i]);
    free(o->dispatches);
    free(o->events);
    memset(o, 0, sizeof *o);
}

/* s_order_begin opens the read of ORDER_ID and sets the zone of its store;
 * *ZONE_USED is what was set. */
static support_query_status_t s_order_begin(support_query_t *self, const char *order_id,
                                            support_query_zone_fn *zone_fn, void *zone_arg,
                                            const char **zone_used)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        support_query_status_t st = s_command(self, "the order", s_begin_sql);
        if (st != SUPPORT_QUERY_OK)
            return st;
        const char *params[1] = { order_id };
        PGresult *res = s_query(self, "the order", s_order_store_sql, 1, params, &st);
        if (res == NULL)
            return st;
        if (PQntuples(res) == 0) {
            PQclear(res);
            s_rollback(self);
            return SUPPORT_QUERY_NOT_FOUND;
        }
        uint32_t store_id = (uint32_t)strtoul(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
        const char *zone = attempt == 0 && zone_fn != NULL ? zone_fn(store_id, zone_arg) : NULL;
        *zone_used = zone != NULL ? zone : "UTC";
        bool unknown;
        st = s_set_zone(self, *zone_used, &unknown);
        if (st == SUPPORT_QUERY_OK || !unknown)
            return st;
        s_rollback(self);
    }
    return SUPPORT_QUERY_FAILED; /* UTC is always known: not reached */
}

support_query_status_t support_query_order_read(support_query_t *self, const char *order_id,
                                                support_query_times_t times,
                                                support_query_zone_fn *zone_fn, void *zone_arg,
                                                support_query_order_t *out)
{
    memset(out, 0, sizeof *out);
    support_query_status_t st = s_order_begin(self, order_id, zone_fn, zone_arg, &out->timezone);
    if (st != SUPPORT_QUERY_OK) {
        if (st != SUPPORT_QUERY_NOT_FOUND) /* not found has ended its transaction */
            s_rollback(self);
        return st;
    }
    const char *params[3] = { order_id, s_formats[times], s_clocks[times] };
    if ((out->res[0] = s_query(self, "the order", s_order_sql, 2, params, &st)) == NULL ||
        (out->res[1] = s_query(self, "the dispatch attempts", s_dispatches_sql, 2, params, &st)) ==
            NULL ||
        (out->res[2] = s_query(self, "the timeline", s_events_sql, 3, params, &st)) == NULL)
        goto fail;
    if ((st = s_command(self, "the order", "COMMIT")) != SUPPORT_QUERY_OK)
        goto fail;
    const PGresult *r = out->res[0];
    if (PQntuples(r) == 0) /* same snapshot as s_order_begin: cannot happen */
        return SUPPORT_QUERY_NOT_FOUND;
    out->row = (support_query_order_row_t){
        .order_id = s_text(r, 0, 0), .store_id = s_text(r, 0, 1), .state = s_text(r, 0, 2),
        .items_json = s_text(r, 0, 3), .items_text = s_text(r, 0, 4),
        .voucher_id = s_text(r, 0, 5), .customer_ref = s_text(r, 0, 6),
        .accepted_at = s_text(r, 0, 7), .promised_ready_at = s_text(r, 0, 8),
        .promised_delivery_at = s_text(r, 0, 9), .updated_at = s_text(r, 0, 10),
        .refund_due = strcmp(PQgetvalue(r, 0, 11), "t") == 0, .prep_slot = s_text(r, 0, 12),
        .prep_start_at = s_text(r, 0, 13), .campaign = s_text(r, 0, 14),
    };
    r = out->res[1];
    out->dispatch_count = (size_t)PQntuples(r);
    out->dispatches = calloc(out->dispatch_count + 1, sizeof *out->dispatches);
    r = out->res[2];
    out->event_count = (size_t)PQntuples(r);
    out->events = calloc(out->event_count + 1, sizeof *out->events);
    if (out->dispatches == NULL || out->events == NULL) {
        s_set_error(self, "out of memory");
        return SUPPORT_QUERY_FAILED;
    }
    r = out->res[1];
    for (int i = 0; i < PQntuples(r); i++)
        out->dispatches[i] = (support_query_dispatch_t){
            .attempt = s_text(r, i, 0), .platform = s_text(r, i, 1),
            .dispatch_key = s_text(r, i, 2), .state = s_text(r, i, 3),
            .rider_ref = s_text(r, i, 4), .fee_cents = s_text(r, i, 5),
            .pickup_at = s_text(r, i, 6), .created_at = s_text(r, i, 7),
            .updated_at = s_text(r, i, 8),
        };
    r = out->res[2];
    for (int i = 0; i < PQntuples(r); i++)
        out->events[i] = (support_query_event_t){ .event_id = s_text(r, i, 0),
                                                  .at = s_text(r, i, 1),
                                                  .state = s_text(r, i, 2),
                                                  .detail = s_text(r, i, 3) };
    return SUPPORT_QUERY_OK;
fail:
    s_rollback(self);
    return st;
}

void support_query_store_clear(support_query_store_t *s)
{
    for (size_t i = 0; i < sizeof s->res / sizeof s->res[0]; i++)
        PQclear(s->res[i]);
    free(s->live);
    memset(s, 0, sizeof *s);
}

support_query_status_t support_query_store_read(support_query_t *self, uint32_t store_id,
                                                const char *zone, support_query_times_t times,
                                                support_query_store_t *out)
{
    memset(out, 0, sizeof *out);
    out->timezone = zone != NULL ? zone : "UTC";
    support_query_status_t st;
    for (;;) {
        if ((st = s_command(self, "the store", s_begin_sql)) != SUPPORT_QUERY_OK)
            return st;
        bool unknown;
        st = s_set_zone(self, out->timezone, &unknown);
        if (st == SUPPORT_QUERY_OK)
            break;
        s_rollback(self);
        if (!unknown || strcmp(out->timezone, "UTC") == 0)
            return st;
        out->timezone = "UTC";
    }
    char id[16];
    snprintf(id, sizeof id, "%u", store_id);
    const char *params[2] = { id, s_formats[times] };
    if ((out->res[0] = s_query(self, "the store's live orders", s_store_live_sql, 1, params,
                               &st)) == NULL ||
        (out->res[1] = s_query(self, "the store's summary", s_store_summary_sql, 2, params,
                               &st)) == NULL)
        goto fail;
    if ((st = s_command(self, "the store", "COMMIT")) != SUPPORT_QUERY_OK)
        goto fail;
    const PGresult *r = out->res[0];
    out->live_states = (size_t)PQntuples(r);
    out->live = calloc(out->live_states + 1, sizeof *out->live);
    if (out->live == NULL) {
        s_set_error(self, "out of memory");
        return SUPPORT_QUERY_FAILED;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        out->live[i] = (support_query_state_count_t){ .state = s_text(r, i, 0),
                                                      .count = s_long(r, i, 1) };
        out->live_total += out->live[i].count;
    }
    r = out->res[1];
    out->now = s_text(r, 0, 0);
    out->today = s_text(r, 0, 1);
    out->day_start = s_text(r, 0, 2);
    out->latest_ready = s_text(r, 0, 3);
    out->wait_seconds = s_long(r, 0, 4);
    out->accepted_today = s_long(r, 0, 5);
    out->delivered_today = s_long(r, 0, 6);
    out->cancelled_today = s_long(r, 0, 7);
    out->failed_today = s_long(r, 0, 8);
    out->live_today = s_long(r, 0, 9);
    out->last_accepted = s_text(r, 0, 10);
    return SUPPORT_QUERY_OK;
fail:
    s_rollback(self);
    return st;
}
