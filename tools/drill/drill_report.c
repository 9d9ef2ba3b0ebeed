/* drill_report.c - owns sluice-drill's run record, its measurement in
 * PostgreSQL, the sums it checks, and its text and JSON reports. */
#include "drill_report.h"

#include "proto/sluice.pb-c.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

drill_report_t *drill_report_new(void)
{
    drill_report_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    for (size_t i = 0; i < DRILL_SHARDS_MAX; i++)
        r->last_accept_s[i] = -1;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(r->started_at, sizeof r->started_at, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return r;
}

void drill_report_destroy(drill_report_t **self)
{
    if (self == NULL || *self == NULL)
        return;
    drill_report_t *r = *self;
    free(r->secs);
    free(r->cur_lat);
    free(r->lat_all);
    free(r->lat_accepted);
    free(r->lat_rejected);
    free(r->late_s);
    free(r);
    *self = NULL;
}

/* s_push appends V to a growable float vector; drops the value if memory runs out. */
static void s_push(float **v, size_t *n, size_t *cap, float x)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4096;
        float *p = realloc(*v, nc * sizeof *p);
        if (p == NULL)
            return;
        *v = p;
        *cap = nc;
    }
    (*v)[(*n)++] = x;
}

drill_second_t *drill_report_second(drill_report_t *r, size_t s)
{
    if (s >= r->sec_cap) {
        size_t nc = r->sec_cap ? r->sec_cap : 256;
        while (nc <= s)
            nc *= 2;
        drill_second_t *p = realloc(r->secs, nc * sizeof *p);
        if (p == NULL)
            return NULL;
        r->secs = p;
        r->sec_cap = nc;
    }
    while (r->sec_count <= s) {
        drill_second_t *e = &r->secs[r->sec_count++];
        memset(e, 0, sizeof *e);
        e->p50_ms = e->p99_ms = -1;
        e->handoff_p50_s = e->handoff_p90_s = NAN;
        e->delivered = -1;
        memset(e->breaker, DRILL_BREAKER_UNKNOWN, sizeof e->breaker);
    }
    return &r->secs[s];
}

void drill_report_reply(drill_report_t *r, size_t s, double ms, int decision, int reason)
{
    drill_second_t *e = drill_report_second(r, s);
    if (e == NULL)
        return;
    s_push(&r->cur_lat, &r->cur_count, &r->cur_cap, (float)ms);
    s_push(&r->lat_all, &r->n_all, &r->cap_all, (float)ms);
    if (decision == SLUICE__V1__DECISION__ACCEPTED) {
        e->accepted++;
        r->answered_accepted++;
        s_push(&r->lat_accepted, &r->n_accepted, &r->cap_accepted, (float)ms);
    } else if (decision == SLUICE__V1__DECISION__REJECTED) {
        e->rejected++;
        r->rejected++;
        /* a reason past DRILL_REASONS is counted as a rejection only: the
         * sum of reasons then falls short, and the report says so */
        if (reason >= 0 && reason < DRILL_REASONS) {
            e->reasons[reason]++;
            r->reasons[reason]++;
        }
        s_push(&r->lat_rejected, &r->n_rejected, &r->cap_rejected, (float)ms);
    } else {
        e->errors++;
        r->errors++;
    }
}

static int s_cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

void drill_report_percentiles(float *v, size_t n, drill_pct_t *out)
{
    *out = (drill_pct_t){ .n = n };
    if (n == 0)
        return;
    qsort(v, n, sizeof *v, s_cmp_float);
    size_t i50 = (size_t)ceil(0.50 * (double)n), i90 = (size_t)ceil(0.90 * (double)n),
           i99 = (size_t)ceil(0.99 * (double)n);
    out->p50 = v[i50 ? i50 - 1 : 0];
    out->p90 = v[i90 ? i90 - 1 : 0];
    out->p99 = v[i99 ? i99 - 1 : 0];
    out->max = v[n - 1];
}

void drill_report_close_second(drill_report_t *r, size_t s)
{
    drill_second_t *e = drill_report_second(r, s);
    if (e != NULL && r->cur_count > 0) {
        drill_pct_t p;
        drill_report_percentiles(r->cur_lat, r->cur_count, &p);
        e->p50_ms = (float)p.p50;
        e->p99_ms = (float)p.p99;
    }
    r->cur_count = 0;
}

void drill_report_chaos(drill_report_t *r, double at_s, const char *fmt, ...)
{
    if (r->chaos_count == DRILL_CHAOS_MAX)
        return;
    drill_chaos_t *c = &r->chaos[r->chaos_count++];
    c->at_s = at_s;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->text, sizeof c->text, fmt, ap);
    va_end(ap);
}

#define LABEL_CHARS 24 /* a chaos label's length before it is cut at a word */

void drill_report_chaos_label(const drill_report_t *r, size_t i, char *label, size_t len)
{
    if (len == 0)
        return;
    const char *text = i < r->chaos_count ? r->chaos[i].text : "";
    size_t n = strcspn(text, "(,");
    while (n > 0 && text[n - 1] == ' ')
        n--;
    bool cut = n > LABEL_CHARS;
    if (cut) {
        n = LABEL_CHARS;
        while (n > 8 && text[n] != ' ')
            n--;
        while (n > 0 && text[n - 1] == ' ')
            n--;
    }
    snprintf(label, len, "%.*s%s", (int)n, text, cut ? "\u2026" : "");
}

int drill_report_failover_begin(drill_report_t *r, double at_s, bool database, int shard,
                                const char *fmt, ...)
{
    if (r->failover_count == DRILL_FAILOVERS_MAX)
        return -1;
    drill_failover_t *f = &r->failovers[r->failover_count];
    memset(f, 0, sizeof *f);
    f->database = database;
    f->shard = database ? -1 : shard;
    f->at_s = at_s;
    f->whole_s = -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->action, sizeof f->action, fmt, ap);
    va_end(ap);
    return (int)r->failover_count++;
}

void drill_report_failover_whole(drill_report_t *r, int f, double at_s)
{
    if (f >= 0 && (size_t)f < r->failover_count && r->failovers[f].whole_s < 0)
        r->failovers[f].whole_s = at_s;
}

/* s_hits: failover F hit shard S. */
static bool s_hits(const drill_failover_t *f, uint32_t s)
{
    return f->shard < 0 || (uint32_t)f->shard == s;
}

void drill_report_accepted(drill_report_t *r, uint32_t shard, double at_s)
{
    if (shard >= DRILL_SHARDS_MAX)
        return;
    double prev = r->last_accept_s[shard];
    /* a failover's window ends when the next one begins */
    if (r->failover_count > 0) {
        drill_failover_t *f = &r->failovers[r->failover_count - 1];
        if (!s_hits(f, shard) || f->closed[shard] || at_s < f->at_s)
            goto done;
        double from = prev >= 0 ? prev : f->at_s;
        if (at_s - from > f->gap_s[shard]) {
            f->gap_s[shard] = at_s - from;
            f->gap_from_s[shard] = from;
            f->gap_to_s[shard] = at_s;
        }
        if (f->whole_s >= 0 && at_s >= f->whole_s)
            f->closed[shard] = true;
    }
done:
    r->last_accept_s[shard] = at_s;
}

bool drill_report_failover_over(const drill_report_t *r, const drill_failover_t *f)
{
    if (f->whole_s < 0)
        return false;
    for (uint32_t s = 0; s < r->shards && s < DRILL_SHARDS_MAX; s++)
        if (s_hits(f, s) && !f->closed[s])
            return false;
    return true;
}

double drill_report_failover_worst(const drill_report_t *r, const drill_failover_t *f,
                                   uint32_t *shard)
{
    double worst = 0;
    for (uint32_t s = 0; s < r->shards && s < DRILL_SHARDS_MAX; s++) {
        if (s_hits(f, s) && f->gap_s[s] >= worst) {
            worst = f->gap_s[s];
            if (shard != NULL)
                *shard = s;
        }
    }
    return worst;
}

void drill_report_invariant(drill_report_t *r, const char *name, bool ok, const char *fmt, ...)
{
    if (r->inv_count == DRILL_INVARIANTS_MAX)
        return;
    drill_invariant_t *v = &r->inv[r->inv_count++];
    snprintf(v->name, sizeof v->name, "%s", name);
    v->ok = ok;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->detail, sizeof v->detail, fmt, ap);
    va_end(ap);
}

bool drill_report_ok(const drill_report_t *r)
{
    for (size_t i = 0; i < r->inv_count; i++)
        if (!r->inv[i].ok)
            return false;
    return true;
}

/* drill_report_axis: see drill_report.h. */
void drill_report_axis(double max, double *top, double *step)
{
    if (!(max > 0)) {
        *top = 1;
        *step = 0.2;
        return;
    }
    double raw = max / 6, e = pow(10, floor(log10(raw))), m = raw / e;
    *step = (m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10) * e;
    double steps = ceil(max / *step - 1e-9);
    *top = (steps < 1 ? 1 : steps) * *step;
}

int drill_report_lanes(const double *from, const double *to, size_t n, int lanes, int *lane)
{
    double end[16];
    int used = 0;
    if (lanes > 16)
        lanes = 16;
    for (size_t i = 0; i < n; i++) {
        lane[i] = -1;
        for (int k = 0; k < lanes; k++) {
            if (k < used && end[k] > from[i])
                continue;
            lane[i] = k;
            end[k] = to[i];
            if (k == used)
                used++;
            break;
        }
    }
    return used;
}

/* ---- measuring in PostgreSQL ---- */

/* s_query runs SQL and returns its result if it produced rows, else NULL (logged). */
static PGresult *s_query(PGconn *c, const char *sql)
{
    PGresult *res = PQexec(c, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK) {
        fprintf(stderr, "sluice-drill: failed to query PostgreSQL: %s", PQerrorMessage(c));
        PQclear(res);
        return NULL;
    }
    return res;
}

/* s_query_params runs SQL with its N text PARAMS, returning its rows or
 * NULL (logged). */
static PGresult *s_query_params(PGconn *c, const char *sql, int n, const char *const *params)
{
    PGresult *res = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "sluice-drill: failed to query PostgreSQL: %s", PQerrorMessage(c));
        PQclear(res);
        return NULL;
    }
    return res;
}

/* s_query_since runs SQL with $1 the wall clock of second 0 (unix ms). */
static PGresult *s_query_since(PGconn *c, const drill_report_t *r, const char *sql)
{
    char start[32];
    snprintf(start, sizeof start, "%" PRIu64, r->start_wall_ms);
    const char *params[1] = { start };
    return s_query_params(c, sql, 1, params);
}

/* The second of the timeline a timestamp column falls in, given $1. */
#define SQL_SECOND(col) "floor((extract(epoch FROM " col ") * 1000 - $1::float8) / 1000)::bigint"

static int64_t s_int(PGresult *res, int row, int col)
{
    if (res == NULL || row >= PQntuples(res) || PQgetisnull(res, row, col))
        return -1;
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* s_seconds fetches one column of seconds (SQL) and fills OUT with its
 * percentiles; *LATE_SHARE (if not NULL) gets the share above 0, and
 * *KEEP (if not NULL) the values, sorted (N in *KEPT; the caller frees). */
static bool s_seconds(PGconn *c, const char *sql, drill_pct_t *out, double *late_share,
                      float **keep, size_t *kept)
{
    PGresult *res = s_query(c, sql);
    if (res == NULL)
        return false;
    size_t n = (size_t)PQntuples(res), late = 0;
    float *v = malloc((n ? n : 1) * sizeof *v);
    if (v == NULL) {
        PQclear(res);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        v[i] = strtof(PQgetvalue(res, (int)i, 0), NULL);
        late += v[i] > 0;
    }
    PQclear(res);
    drill_report_percentiles(v, n, out);
    if (late_share != NULL)
        *late_share = n ? (double)late / (double)n : 0;
    if (keep != NULL) {
        *keep = v;
        *kept = n;
    } else {
        free(v);
    }
    return true;
}

/* s_check_acked copies the acked ids into a temporary table, counts those
 * missing from orders, and the orders that no producer heard ACCEPTED for. */
static void s_check_acked(drill_report_t *r, PGconn *c, const char *prefix, const uint32_t *acked,
                          size_t n)
{
    PGresult *res = s_query(c, "CREATE TEMP TABLE drill_acked (order_id text PRIMARY KEY)");
    if (res == NULL)
        goto fail;
    PQclear(res);
    res = PQexec(c, "COPY drill_acked FROM STDIN");
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        PQclear(res);
        goto fail;
    }
    PQclear(res);
    char line[128];
    for (size_t i = 0; i < n; i++) {
        int len = snprintf(line, sizeof line, "%s-%" PRIu32 "\n", prefix, acked[i]);
        if (PQputCopyData(c, line, len) != 1)
            goto fail;
    }
    if (PQputCopyEnd(c, NULL) != 1)
        goto fail;
    res = PQgetResult(c);
    bool copied = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    while ((res = PQgetResult(c)) != NULL)
        PQclear(res);
    if (!copied)
        goto fail;
    res = s_query(c, "SELECT a.order_id FROM drill_acked a LEFT JOIN orders o USING (order_id)"
                     " WHERE o.order_id IS NULL ORDER BY 1");
    if (res == NULL)
        goto fail;
    int missing = PQntuples(res);
    char ids[300] = "";
    for (int i = 0; i < missing && i < 5; i++) {
        size_t used = strlen(ids);
        snprintf(ids + used, sizeof ids - used, "%s%s", i ? ", " : " e.g. ", PQgetvalue(res, i, 0));
    }
    PQclear(res);
    drill_report_invariant(r, "no acked order lost", missing == 0,
                           "%zu orders acked ACCEPTED, %d missing from orders%s", n, missing, ids);
    res = s_query(c, "SELECT count(*) FROM orders o LEFT JOIN drill_acked a USING (order_id)"
                     " WHERE a.order_id IS NULL");
    r->db_unacked = s_int(res, 0, 0);
    PQclear(res);
    return;
fail:
    drill_report_invariant(r, "no acked order lost", false, "could not check: %s",
                           PQerrorMessage(c));
}

static void s_check_dispatches(drill_report_t *r, PGconn *c)
{
    PGresult *res = s_query(c, "SELECT order_id, count(*) FROM dispatches"
                               " WHERE dispatch_state_is_live(state)"
                               " GROUP BY order_id HAVING count(*) > 1 ORDER BY 1");
    if (res == NULL) {
        drill_report_invariant(r, "no order dispatched twice (database)", false, "could not check");
        return;
    }
    int n = PQntuples(res);
    drill_report_invariant(r, "no order dispatched twice (database)", n == 0,
                           "%d orders with two or more live dispatches rows%s%s", n,
                           n ? ", e.g. " : "", n ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
}

static void s_check_promises(drill_report_t *r, PGconn *c, const drill_world_t *w)
{
    PGresult *res =
        s_query(c, "SELECT store_id, max(extract(epoch FROM promised_ready_at - accepted_at)),"
                   " count(*) FROM orders GROUP BY store_id");
    if (res == NULL) {
        drill_report_invariant(r, "no store promised past its limit", false, "could not check");
        return;
    }
    int bad = 0;
    char first[160] = "";
    for (int i = 0; i < PQntuples(res); i++) {
        uint32_t id = (uint32_t)strtoul(PQgetvalue(res, i, 0), NULL, 10);
        double worst = strtod(PQgetvalue(res, i, 1), NULL);
        size_t k = drill_world_find_store(w, id);
        /* admission keeps the limit to the millisecond */
        double limit = k == SIZE_MAX ? -1
                                     : round(w->stores[k].cfg_max_wait_minutes * 60000.0) / 1000.0;
        if (worst > limit) {
            if (bad++ == 0)
                snprintf(first, sizeof first, ", e.g. store %u promised %.3f s, limit %.3f s", id,
                         worst, limit);
        }
    }
    drill_report_invariant(r, "no store promised past its limit", bad == 0,
                           "%d of %d stores with orders promised ready later than max_wait_minutes"
                           " after acceptance%s",
                           bad, PQntuples(res), first);
    PQclear(res);
}

static void s_measure_utilisation(drill_report_t *r, PGconn *c, const drill_world_t *w)
{
    /* busy slot-seconds over the span from the store's first prep start to
     * its last promised ready time */
    PGresult *res =
        s_query(c, "SELECT store_id, sum(extract(epoch FROM promised_ready_at - prep_start_at))"
                   " / greatest(1, extract(epoch FROM max(promised_ready_at) - min(prep_start_at)))"
                   " FROM orders WHERE prep_start_at IS NOT NULL GROUP BY store_id");
    if (res == NULL || r->offering_s <= 0) {
        PQclear(res);
        return;
    }
    double sum = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        size_t k = drill_world_find_store(w, (uint32_t)strtoul(PQgetvalue(res, i, 0), NULL, 10));
        if (k == SIZE_MAX)
            continue;
        double u = strtod(PQgetvalue(res, i, 1), NULL) / w->stores[k].prep_slots;
        sum += u;
        if (u > r->util_max) {
            r->util_max = u;
            r->util_max_store = w->stores[k].id;
        }
        r->util_saturated += u >= 0.9;
    }
    r->util_mean = sum / (double)w->store_count;
    PQclear(res);
}

/* The order's wait at handoff: its first pickup minus when it was ready
 * (the store's MarkReady when it came, else the promised ready time). */
#define SQL_HANDOFF                                                                       \
    "SELECT p.at, extract(epoch FROM p.at - coalesce(m.at, o.promised_ready_at)) AS wait" \
    " FROM orders o"                                                                      \
    " JOIN (SELECT order_id, min(at) AS at FROM order_events"                             \
    "        WHERE state = 'PICKED_UP' GROUP BY 1) p USING (order_id)"                    \
    " LEFT JOIN (SELECT order_id, min(at) AS at FROM order_events"                        \
    "        WHERE detail = 'marked ready by the store' GROUP BY 1) m USING (order_id)"

/* s_measure_timeline puts each second's dispatch attempts per platform and
 * its pickups' order wait at handoff into the timeline. */
static void s_measure_timeline(drill_report_t *r, PGconn *c)
{
    PGresult *res = s_query_since(c, r,
                                  "SELECT platform, " SQL_SECOND(
                                      "created_at") ", count(*) FROM dispatches GROUP BY 1, 2");
    for (int i = 0; res != NULL && i < PQntuples(res); i++) {
        const char *name = PQgetvalue(res, i, 0);
        int64_t s = s_int(res, i, 1), n = s_int(res, i, 2);
        int p = name[0] == 'p' ? name[1] - '1' : -1;
        drill_second_t *e = s >= 0 ? drill_report_second(r, (size_t)s) : NULL;
        if (e != NULL && p >= 0 && p < DRILL_PLATFORMS && name[2] == '\0')
            e->dispatched[p] += (uint32_t)n;
    }
    PQclear(res);
    res = s_query(c, "SELECT count(*) FROM dispatches");
    r->db_dispatches = s_int(res, 0, 0);
    PQclear(res);
    res =
        s_query_since(c, r,
                      "SELECT " SQL_SECOND(
                          "h.at") ", percentile_cont(0.5) WITHIN GROUP"
                                  " (ORDER BY h.wait), percentile_cont(0.9) WITHIN GROUP (ORDER BY"
                                  " h.wait) FROM (" SQL_HANDOFF ") h GROUP BY 1");
    for (int i = 0; res != NULL && i < PQntuples(res); i++) {
        int64_t s = s_int(res, i, 0);
        drill_second_t *e = s >= 0 ? drill_report_second(r, (size_t)s) : NULL;
        if (e == NULL)
            continue;
        e->handoff_p50_s = strtof(PQgetvalue(res, i, 1), NULL);
        e->handoff_p90_s = strtof(PQgetvalue(res, i, 2), NULL);
    }
    PQclear(res);
}

/* s_measure_heat: the DRILL_HEAT_STORES stores that accepted the most
 * orders, and the share of their slot time that preparation took in each
 * bucket of the timeline. */
static void s_measure_heat(drill_report_t *r, PGconn *c, const drill_world_t *w)
{
    drill_heat_t *h = &r->heat;
    h->rows = 0;
    if (r->sec_count == 0)
        return;
    h->col_s = ceil((double)r->sec_count / DRILL_HEAT_COLS);
    h->cols = (size_t)ceil((double)r->sec_count / h->col_s);
    char limit[16];
    snprintf(limit, sizeof limit, "%d", DRILL_HEAT_STORES);
    const char *top[1] = { limit };
    PGresult *res = s_query_params(c,
                                   "SELECT store_id, count(*) FROM orders"
                                   " WHERE prep_start_at IS NOT NULL"
                                   " GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $1::int",
                                   1, top);
    char ids[DRILL_HEAT_STORES * 12 + 4] = "{";
    for (int i = 0; res != NULL && i < PQntuples(res) && h->rows < DRILL_HEAT_STORES; i++) {
        size_t k = drill_world_find_store(w, (uint32_t)s_int(res, i, 0));
        if (k == SIZE_MAX)
            continue;
        drill_heat_row_t *row = &h->row[h->rows++];
        *row = (drill_heat_row_t){ .store_id = w->stores[k].id,
                                   .rank = w->stores[k].rank,
                                   .slots = w->stores[k].prep_slots,
                                   .orders = (uint64_t)s_int(res, i, 1) };
        size_t used = strlen(ids);
        snprintf(ids + used, sizeof ids - used, "%s%u", h->rows > 1 ? "," : "", row->store_id);
    }
    PQclear(res);
    if (h->rows == 0)
        return;
    strcat(ids, "}");
    char start[32];
    snprintf(start, sizeof start, "%" PRIu64, r->start_wall_ms);
    const char *params[2] = { start, ids };
    res = s_query_params(c,
                         "SELECT store_id, extract(epoch FROM prep_start_at) * 1000 - $1::float8,"
                         " extract(epoch FROM promised_ready_at) * 1000 - $1::float8 FROM orders"
                         " WHERE store_id = ANY ($2::bigint[]) AND prep_start_at IS NOT NULL",
                         2, params);
    if (res == NULL)
        return;
    double col_ms = h->col_s * 1000;
    for (int i = 0; i < PQntuples(res); i++) {
        uint32_t id = (uint32_t)s_int(res, i, 0);
        size_t k = 0;
        while (k < h->rows && h->row[k].store_id != id)
            k++;
        double from = strtod(PQgetvalue(res, i, 1), NULL), to = strtod(PQgetvalue(res, i, 2), NULL);
        if (k == h->rows || to <= from)
            continue;
        drill_heat_row_t *row = &h->row[k];
        for (size_t b = from > 0 ? (size_t)(from / col_ms) : 0; b < h->cols; b++) {
            double lo = fmax(from, (double)b * col_ms), hi = fmin(to, (double)(b + 1) * col_ms);
            if (hi <= lo)
                break;
            row->use[b] += (float)((hi - lo) / (col_ms * row->slots));
        }
    }
    PQclear(res);
}

bool drill_report_measure(drill_report_t *r, PGconn *c, const drill_world_t *w, const char *prefix,
                          const uint32_t *acked, size_t n, const float *rider_wait_ms,
                          size_t n_wait)
{
    PGresult *res = s_query(
        c, "SELECT count(*), count(*) FILTER (WHERE state = 'DELIVERED'),"
           " count(*) FILTER (WHERE state = 'FAILED'), count(*) FILTER (WHERE state = 'CANCELLED'),"
           " count(*) FILTER (WHERE NOT order_state_is_terminal(state)),"
           " count(*) FILTER (WHERE refund_due) FROM orders");
    if (res == NULL) {
        drill_report_invariant(r, "database reachable after the run", false, "%s",
                               PQerrorMessage(c));
        return false;
    }
    r->measured = true;
    r->db_orders = s_int(res, 0, 0);
    r->db_delivered = s_int(res, 0, 1);
    r->db_failed = s_int(res, 0, 2);
    r->db_cancelled = s_int(res, 0, 3);
    r->db_live = s_int(res, 0, 4);
    r->db_refund_due = s_int(res, 0, 5);
    PQclear(res);

    (void)s_seconds(c,
                    "SELECT extract(epoch FROM d.at - o.accepted_at) FROM orders o"
                    " JOIN order_events d ON d.order_id = o.order_id AND d.state = 'DELIVERED'",
                    &r->e2e_s, NULL, NULL, NULL);
    free(r->late_s);
    r->late_s = NULL;
    r->late_count = 0;
    (void)s_seconds(c,
                    "SELECT extract(epoch FROM d.at - o.promised_delivery_at) FROM orders o"
                    " JOIN order_events d ON d.order_id = o.order_id AND d.state = 'DELIVERED'",
                    &r->delivery_late_s, &r->delivered_late_share, &r->late_s, &r->late_count);
    /* MarkReady is an event with this detail whatever state the order is in */
    (void)s_seconds(c,
                    "SELECT extract(epoch FROM min(e.at) - o.promised_ready_at) FROM orders o"
                    " JOIN order_events e ON e.order_id = o.order_id"
                    " AND e.detail = 'marked ready by the store'"
                    " GROUP BY o.order_id, o.promised_ready_at",
                    &r->ready_late_s, NULL, NULL, NULL);
    (void)s_seconds(c, "SELECT h.wait FROM (" SQL_HANDOFF ") h", &r->handoff_s, NULL, NULL, NULL);
    if (n_wait > 0) {
        float *v = malloc(n_wait * sizeof *v);
        if (v != NULL) {
            for (size_t i = 0; i < n_wait; i++)
                v[i] = rider_wait_ms[i] / 1000.0f;
            drill_report_percentiles(v, n_wait, &r->rider_wait_s);
            free(v);
        }
    }
    s_measure_utilisation(r, c, w);
    s_measure_timeline(r, c);
    s_measure_heat(r, c, w);

    s_check_acked(r, c, prefix, acked, n);
    s_check_dispatches(r, c);
    s_check_promises(r, c, w);
    drill_report_invariant(r, "every order terminal at the end", r->db_live == 0,
                           "%" PRId64 " of %" PRId64 " orders not DELIVERED, CANCELLED or FAILED",
                           r->db_live, r->db_orders);
    return true;
}

/* ---- the sums the report checks ---- */

/* s_sum records one sum: LEFT against RIGHT, as FORMULA says. */
static void s_sum(drill_report_t *r, const char *what, const char *formula, drill_sum_kind_t kind,
                  int64_t left, int64_t right)
{
    if (r->sum_count == DRILL_SUMS_MAX)
        return;
    drill_sum_t *s = &r->sums[r->sum_count++];
    snprintf(s->what, sizeof s->what, "%s", what);
    snprintf(s->formula, sizeof s->formula, "%s", formula);
    s->kind = kind;
    s->left = left;
    s->right = right;
    s->ok = kind == DRILL_SUM_EQUAL ? left == right : left <= right;
}

void drill_report_check_sums(drill_report_t *r)
{
    r->sum_count = 0;
    int64_t reasons = 0, sec_offered = 0, sec_sent = 0, sec_acc = 0, sec_rej = 0, sec_err = 0,
            sec_timed_out = 0, sec_orders_acc = 0, sec_gave_up = 0, sec_dispatched = 0;
    for (unsigned k = 0; k < DRILL_REASONS; k++)
        reasons += (int64_t)r->reasons[k];
    for (size_t i = 0; i < r->sec_count; i++) {
        const drill_second_t *e = &r->secs[i];
        sec_offered += e->offered;
        sec_sent += e->sent;
        sec_acc += e->accepted;
        sec_rej += e->rejected;
        sec_err += e->errors;
        sec_timed_out += e->timed_out;
        sec_orders_acc += e->orders_accepted;
        sec_gave_up += e->orders_gave_up;
        for (int p = 0; p < DRILL_PLATFORMS; p++)
            sec_dispatched += e->dispatched[p];
    }
    int64_t k_offered = 0, k_sub = 0, k_acc = 0;
    for (size_t c = 0; c < DRILL_CLASSES; c++)
        for (int k = 0; k < 2; k++) {
            k_offered += (int64_t)r->kinds[c][k].offered;
            k_sub += (int64_t)r->kinds[c][k].submissions;
            k_acc += (int64_t)r->kinds[c][k].accepted;
        }
    int64_t orders = (int64_t)r->orders, accepted = (int64_t)r->accepted;
    int64_t ended = (int64_t)(r->gave_up + r->unanswered);

    s_sum(r, "orders offered", "accepted + gave up + never answered + still open", DRILL_SUM_EQUAL,
          orders, accepted + ended + (int64_t)r->census[3]);
    s_sum(r, "orders accepted", "orders found ACCEPTED at the end", DRILL_SUM_EQUAL, accepted,
          (int64_t)r->census[0]);
    s_sum(r, "orders given up", "gave up + never answered, found so at the end", DRILL_SUM_EQUAL,
          ended, (int64_t)(r->census[1] + r->census[2]));
    s_sum(r, "submissions",
          "accepted answers + refused + errors + no answer in 3 s + never answered",
          DRILL_SUM_EQUAL, (int64_t)r->submissions,
          (int64_t)(r->answered_accepted + r->rejected + r->errors + r->timed_out +
                    r->unanswered_submissions));
    s_sum(r, "refused submissions", "the sum over their reasons", DRILL_SUM_EQUAL,
          (int64_t)r->rejected, reasons);
    s_sum(r, "orders offered", "the timeline's offered, second by second", DRILL_SUM_EQUAL, orders,
          sec_offered);
    s_sum(r, "orders accepted", "the timeline's orders accepted", DRILL_SUM_EQUAL, accepted,
          sec_orders_acc);
    s_sum(r, "orders given up", "the timeline's orders given up", DRILL_SUM_EQUAL, ended,
          sec_gave_up);
    s_sum(r, "submissions", "the timeline's submissions sent", DRILL_SUM_EQUAL,
          (int64_t)r->submissions, sec_sent);
    s_sum(r, "answers", "the timeline's accepted + refused + error answers + no answers in 3 s",
          DRILL_SUM_EQUAL, (int64_t)(r->answered_accepted + r->rejected + r->errors + r->timed_out),
          sec_acc + sec_rej + sec_err + sec_timed_out);
    s_sum(r, "orders offered", "the store classes' regular + campaign orders", DRILL_SUM_EQUAL,
          orders, k_offered);
    s_sum(r, "submissions", "the store classes' submissions", DRILL_SUM_EQUAL,
          (int64_t)r->submissions, k_sub);
    s_sum(r, "orders accepted", "the store classes' accepted", DRILL_SUM_EQUAL, accepted, k_acc);
    s_sum(r, "MarkReady requests", "ok + answered 503 (sent again) + refused + never answered",
          DRILL_SUM_EQUAL, (int64_t)r->ready_sent,
          (int64_t)(r->ready_ok + r->ready_503 + r->ready_refused + r->ready_unanswered));
    s_sum(r, "orders marked ready", "ok + refused + gave up after 503s + never answered",
          DRILL_SUM_EQUAL, (int64_t)r->ready_orders,
          (int64_t)(r->ready_orders_ok + r->ready_orders_refused + r->ready_orders_gave_up +
                    r->ready_orders_unanswered));
    s_sum(r, "orders marked ready", "orders accepted", DRILL_SUM_AT_MOST, (int64_t)r->ready_orders,
          accepted);
    if (r->measured) {
        s_sum(r, "orders in PostgreSQL", "delivered + failed + cancelled + not terminal",
              DRILL_SUM_EQUAL, r->db_orders,
              r->db_delivered + r->db_failed + r->db_cancelled + r->db_live);
        s_sum(r, "orders in PostgreSQL", "orders acked + those never acked", DRILL_SUM_EQUAL,
              r->db_orders, accepted + r->db_unacked);
        s_sum(r, "orders in PostgreSQL never acked",
              "orders never answered + given up after UNAVAILABLE", DRILL_SUM_AT_MOST,
              r->db_unacked, (int64_t)(r->unanswered + r->gave_up_unavailable));
        s_sum(r, "dispatch attempts in PostgreSQL", "the timeline's, per platform", DRILL_SUM_EQUAL,
              r->db_dispatches, sec_dispatched);
        s_sum(r, "DELIVERED orders", "the histogram of delivered - promised", DRILL_SUM_EQUAL,
              r->db_delivered, (int64_t)r->late_count);
    }
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < r->sum_count; i++)
        if (!r->sums[i].ok && bad++ == 0)
            first = i;
    const char *name = "every count in the report adds up";
    if (bad == 0) {
        drill_report_invariant(r, name, true, "%zu sums checked, every one holds", r->sum_count);
        return;
    }
    const drill_sum_t *f = &r->sums[first];
    drill_report_invariant(r, name, false,
                           "%zu of %zu sums do not hold, e.g. %s %" PRId64 " %s %s %" PRId64, bad,
                           r->sum_count, f->what, f->left, f->kind == DRILL_SUM_EQUAL ? "!=" : ">",
                           f->formula, f->right);
}

/* ---- the campaign's figures ---- */

size_t drill_report_class(uint32_t rank)
{
    return rank <= 10 ? 0 : rank <= 100 ? 1 : 2;
}

static const char *const s_class_names[DRILL_CLASSES] = { "top 10", "11-100", "the rest" };
static const char *const s_kind_names[2] = { "regular", "campaign" };

const char *drill_report_class_name(size_t c)
{
    return c < DRILL_CLASSES ? s_class_names[c] : "?";
}

const char *drill_report_reason_name(unsigned reason)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&sluice__v1__reason__descriptor, (int)reason);
    return v != NULL ? v->name : NULL;
}

double drill_report_regular_accepted(const drill_report_t *r)
{
    const drill_kind_t *k = &r->kinds[0][0];
    return k->offered ? (double)k->accepted / (double)k->offered : 0;
}

double drill_report_regular_share(const drill_report_t *r)
{
    double regular = r->kinds[0][0].accepted_prep_s, all = regular + r->kinds[0][1].accepted_prep_s;
    return all > 0 ? regular / all : 0;
}

double drill_report_per_accepted(const drill_report_t *r, int kind)
{
    uint64_t sub = 0, acc = 0;
    for (size_t c = 0; c < DRILL_CLASSES; c++)
        for (int k = 0; k < 2; k++)
            if (kind == 2 || kind == k) {
                sub += r->kinds[c][k].submissions;
                acc += r->kinds[c][k].accepted;
            }
    return acc ? (double)sub / (double)acc : 0;
}

static void s_campaign_text(const drill_report_t *r, FILE *f)
{
    if (r->campaign_share > 0)
        fprintf(f, "campaign %s: %.0f%% of the demand, store_share %g\n", DRILL_CAMPAIGN,
                100 * r->campaign_share, r->store_share);
    else
        fprintf(f, "no campaign (--campaign-share 0)\n");
    fprintf(f, "  producers honour the availability feed: %s", r->honour ? "yes" : "no");
    if (r->honour)
        fprintf(f,
                " (%" PRIu64 " avail events read, %" PRIu64 " orders held for a store not "
                "open)",
                r->feed_events, r->held);
    fprintf(f, "\n  %-9s %-9s %10s %11s %10s %8s %14s\n", "stores", "orders", "offered",
            "submitted", "accepted", "sub/acc", "prep s accepted");
    for (size_t c = 0; c < DRILL_CLASSES; c++)
        for (int k = 0; k < 2; k++) {
            const drill_kind_t *x = &r->kinds[c][k];
            fprintf(f, "  %-9s %-9s %10" PRIu64 " %11" PRIu64 " %10" PRIu64 " %8.2f %14.0f\n",
                    s_class_names[c], s_kind_names[k], x->offered, x->submissions, x->accepted,
                    x->accepted ? (double)x->submissions / (double)x->accepted : 0,
                    x->accepted_prep_s);
        }
    fprintf(f, "  submissions per accepted order: %.2f (regular %.2f, campaign %.2f)\n",
            drill_report_per_accepted(r, 2), drill_report_per_accepted(r, 0),
            drill_report_per_accepted(r, 1));
    if (r->campaign_share > 0) {
        double accepted = drill_report_regular_accepted(r), rest = 1 - r->store_share;
        fprintf(f,
                "  regular orders at the top 10 stores: %.3f of them accepted, %s their"
                " remainder of the kitchens %.3f; their part of the prep time accepted"
                " there %.3f\n\n",
                accepted, accepted >= rest ? "at least" : "below", rest,
                drill_report_regular_share(r));
    } else {
        fputc('\n', f);
    }
}

/* ---- text ---- */

static void s_pct_text(FILE *f, const char *label, const drill_pct_t *p, const char *unit,
                       double sim_factor)
{
    if (p->n == 0) {
        fprintf(f, "  %-38s none measured\n", label);
        return;
    }
    fprintf(f, "  %-38s p50 %.2f  p90 %.2f  p99 %.2f  max %.2f %s (n=%zu)", label, p->p50, p->p90,
            p->p99, p->max, unit, p->n);
    if (sim_factor > 0)
        fprintf(f, "  = p50 %.1f / p90 %.1f / p99 %.1f simulated min", p->p50 * sim_factor / 60.0,
                p->p90 * sim_factor / 60.0, p->p99 * sim_factor / 60.0);
    fputc('\n', f);
}

/* s_rejections_text: "STORE_BUSY 12, OVERLOADED 3" or "none". */
static void s_rejections_text(const drill_report_t *r, FILE *f)
{
    bool any = false;
    for (unsigned k = 1; k < DRILL_REASONS; k++)
        if (r->reasons[k] > 0) {
            const char *name = drill_report_reason_name(k);
            fprintf(f, "%s%s %" PRIu64, any ? ", " : "", name ? name : "?", r->reasons[k]);
            any = true;
        }
    if (!any)
        fputs("none", f);
}

/* s_how_text: how the figures were measured, and in which clock. */
static void s_how_text(const drill_report_t *r, FILE *f)
{
    fprintf(f,
            "how it was measured\n"
            "  Every timestamp is real: sluiced's clock and PostgreSQL's now(). The stores'\n"
            "  kitchen times, the dispatch margin and ETA, the handoff and the riders' speed\n"
            "  are the real ones divided by the time scale (%.1f) in the config, so a promise\n"
            "  in real seconds times %.1f is what the same store promises in real life.\n"
            "  Promised delivery = ready + 5 simulated minutes of handoff + the straight line\n"
            "  at %.0f km/h, the simulated riders' mean speed (they ride %.0f-%.0f km/h).\n"
            "  Delivered - promised: the DELIVERED event's time minus promised_delivery_at.\n"
            "  Order wait at handoff (the melted ice): first PICKED_UP minus ready (the\n"
            "  store's MarkReady when it came, else the promised ready time). Rider wait:\n"
            "  the simulators' ledgers, arrival at the counter to pickup. Each real ms of the\n"
            "  system's own delay (a dispatch's commit, a quote) is %.1f simulated ms, so a\n"
            "  high time scale makes riders later than the same system would in real time.\n\n",
            r->scale, r->scale, r->rider_kmh, DRILL_RIDER_KMH_MIN, DRILL_RIDER_KMH_MAX, r->scale);
}

static const char *const s_cpu_names[DRILL_CPU_PARTS] = { "sluiced", "PostgreSQL", "simulators",
                                                          "sluice-drill" };

const char *drill_report_cpu_name(int part)
{
    return part >= 0 && part < DRILL_CPU_PARTS ? s_cpu_names[part] : "?";
}

static void s_cpu_text(const drill_report_t *r, FILE *f)
{
    double capacity = r->wall_s * (double)(r->cores > 0 ? r->cores : 1);
    fprintf(f,
            "where the time went (%.1f s of offering and draining on %ld cores, load average"
            " %.2f at the start, %.2f at the end)\n ",
            r->wall_s, r->cores, r->load_start, r->load_end);
    for (int k = 0; k < DRILL_CPU_PARTS; k++)
        fprintf(f, "%s %s %.1f CPU s (%.0f%% of the machine)", k ? "," : "", s_cpu_names[k],
                r->cpu_s[k], capacity > 0 ? 100 * r->cpu_s[k] / capacity : 0);
    fputs("\n\n", f);
}

static void s_sums_text(const drill_report_t *r, FILE *f)
{
    fprintf(f, "counts that add up (checked by the report)\n");
    for (size_t i = 0; i < r->sum_count; i++) {
        const drill_sum_t *s = &r->sums[i];
        fprintf(f, "  %-4s %s %" PRId64 " %s %s %" PRId64 "\n", s->ok ? "ok" : "FAIL", s->what,
                s->left, s->kind == DRILL_SUM_EQUAL ? "=" : "<=", s->formula, s->right);
    }
    fputc('\n', f);
}

static void s_failovers_text(const drill_report_t *r, FILE *f)
{
    fprintf(f, "\nfailovers (intake unavailable per shard: the longest gap between ACCEPTED"
               " answers,\nfrom the action until the fleet was whole again)\n");
    for (size_t i = 0; i < r->failover_count; i++) {
        const drill_failover_t *fo = &r->failovers[i];
        fprintf(f, "  %7.1f s  %s\n", fo->at_s, fo->action);
        if (fo->whole_s >= 0)
            fprintf(f, "             whole again after %.1f s;", fo->whole_s - fo->at_s);
        else
            fprintf(f, "             NOT whole again by the end;");
        for (uint32_t s = 0; s < r->shards && s < DRILL_SHARDS_MAX; s++) {
            if (!s_hits(fo, s))
                continue;
            fprintf(f, " s%u %.1f s (%.1f-%.1f)%s", s + 1, fo->gap_s[s], fo->gap_from_s[s],
                    fo->gap_to_s[s], fo->closed[s] ? "" : " NOT BACK");
        }
        fprintf(f, "\n             unavailable: %.1f s (%s)\n",
                drill_report_failover_worst(r, fo, NULL),
                fo->database ? "database failover" : "daemon takeover");
    }
}

void drill_report_print_text(const drill_report_t *r, FILE *f)
{
    fprintf(f, "sluice-drill report, %s\n", r->started_at);
    fprintf(f,
            "  %u stores in %zu cit%s, seed %" PRIu64 ", %.2f minutes for 10:00-19:00 (time"
            " scale %.1f), peak %.0f orders/s\n",
            r->stores, r->cities, r->cities == 1 ? "y" : "ies", r->seed, r->minutes, r->scale,
            r->peak_rate);
    if (r->shards > 0)
        fprintf(f,
                "  --ha: a pg_auto_failover formation, %u shards of an active and a standby node\n",
                r->shards);
    fprintf(f, "  chaos: %s\n\n", r->chaos_spec[0] ? r->chaos_spec : "(none)");
    fprintf(f, "orders (offering %.1f s%s, draining %.1f s)\n", r->offering_s,
            r->interrupted ? ", INTERRUPTED" : "", r->drain_s);
    fprintf(f, "  offered                 %10" PRIu64 "\n", r->orders);
    fprintf(f, "  accepted                %10" PRIu64 "\n", r->accepted);
    fprintf(f,
            "  gave up                 %10" PRIu64 "   (after an error %" PRIu64
            ", last refused UNAVAILABLE %" PRIu64 ")\n",
            r->gave_up, r->gave_up_error, r->gave_up_unavailable);
    fprintf(f, "  never answered          %10" PRIu64 "\n", r->unanswered);
    fprintf(f, "  still open              %10" PRIu64 "\n", r->census[3]);
    fprintf(f, "submissions (an order's retries and resends each count)\n");
    fprintf(f, "  sent                    %10" PRIu64 "\n", r->submissions);
    fprintf(f, "  answered ACCEPTED       %10" PRIu64 "   (%" PRIu64 " of them duplicates)\n",
            r->answered_accepted, r->duplicates);
    fprintf(f, "  refused                 %10" PRIu64 "   (", r->rejected);
    s_rejections_text(r, f);
    fprintf(f, ")\n");
    fprintf(f, "  answered with an error  %10" PRIu64 "\n", r->errors);
    fprintf(f,
            "  no answer in 3 s        %10" PRIu64 "   (sent again or given up; %" PRIu64
            " answers came later)\n",
            r->timed_out, r->late_answers);
    fprintf(f, "  never answered          %10" PRIu64 "\n", r->unanswered_submissions);
    fprintf(f, "MarkReady (the stores' POS)\n");
    fprintf(f,
            "  orders marked           %10" PRIu64 "   ok %" PRIu64 ", refused %" PRIu64
            ", gave up after 503s %" PRIu64 ", never answered %" PRIu64 "\n",
            r->ready_orders, r->ready_orders_ok, r->ready_orders_refused, r->ready_orders_gave_up,
            r->ready_orders_unanswered);
    fprintf(f,
            "  requests                %10" PRIu64 "   ok %" PRIu64 ", 503 and sent again %" PRIu64
            ", refused %" PRIu64 ", never answered %" PRIu64 "\n",
            r->ready_sent, r->ready_ok, r->ready_503, r->ready_refused, r->ready_unanswered);
    if (r->ready_refused_example[0])
        fprintf(f, "  first refusal: %s\n", r->ready_refused_example);
    fputc('\n', f);
    s_campaign_text(r, f);

    drill_pct_t p;
    float *tmp = malloc((r->n_all ? r->n_all : 1) * sizeof *tmp);
    fprintf(f, "ack latency (send to answer)\n");
    if (tmp != NULL) {
        memcpy(tmp, r->lat_all, r->n_all * sizeof *tmp);
        drill_report_percentiles(tmp, r->n_all, &p);
        s_pct_text(f, "all answers", &p, "ms", 0);
        memcpy(tmp, r->lat_accepted, r->n_accepted * sizeof *tmp);
        drill_report_percentiles(tmp, r->n_accepted, &p);
        s_pct_text(f, "accepted", &p, "ms", 0);
        memcpy(tmp, r->lat_rejected, r->n_rejected * sizeof *tmp);
        drill_report_percentiles(tmp, r->n_rejected, &p);
        s_pct_text(f, "refused", &p, "ms", 0);
        free(tmp);
    }
    if (r->measured) {
        fprintf(f, "\norders in PostgreSQL\n");
        fprintf(f,
                "  %" PRId64 " orders: %" PRId64 " delivered, %" PRId64 " failed (%" PRId64
                " refund due), %" PRId64 " cancelled, %" PRId64 " not terminal; %" PRId64
                " never acked to a producer\n",
                r->db_orders, r->db_delivered, r->db_failed, r->db_refund_due, r->db_cancelled,
                r->db_live, r->db_unacked);
        s_pct_text(f, "accepted -> DELIVERED", &r->e2e_s, "s", r->scale);
        s_pct_text(f, "delivered - promised (late > 0)", &r->delivery_late_s, "s", r->scale);
        fprintf(f, "  %-38s %.1f%%\n", "delivered after the promise",
                100.0 * r->delivered_late_share);
        s_pct_text(f, "marked ready - promised ready", &r->ready_late_s, "s", r->scale);
        s_pct_text(f, "order wait at handoff (pickup - ready)", &r->handoff_s, "s", r->scale);
        s_pct_text(f, "rider wait at the counter (ledgers)", &r->rider_wait_s, "s", r->scale);
        fprintf(f,
                "  store utilisation (slots busy, first start to last ready) mean %.0f%%, max "
                "%.0f%% (store %u),"
                " %u stores at 90%% or more\n\n",
                100 * r->util_mean, 100 * r->util_max, r->util_max_store, r->util_saturated);
        s_how_text(r, f);
    } else {
        fputc('\n', f);
    }
    s_cpu_text(r, f);
    fprintf(f, "chaos\n");
    if (r->chaos_count == 0)
        fprintf(f, "  (none)\n");
    for (size_t i = 0; i < r->chaos_count; i++)
        fprintf(f, "  %2zu %7.1f s  %s\n", i + 1, r->chaos[i].at_s, r->chaos[i].text);
    if (r->failover_count > 0)
        s_failovers_text(r, f);
    fputc('\n', f);
    s_sums_text(r, f);
    fprintf(f, "invariants\n");
    for (size_t i = 0; i < r->inv_count; i++)
        fprintf(f, "  %-4s %-40s %s\n", r->inv[i].ok ? "ok" : "FAIL", r->inv[i].name,
                r->inv[i].detail);
    fprintf(f, "\nverdict: %s\n", drill_report_ok(r) ? "all invariants held" : "INVARIANT BROKEN");
}

/* ---- JSON ---- */

static void s_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void s_json_pct(FILE *f, const char *key, const drill_pct_t *p)
{
    if (p->n == 0)
        fprintf(f, "\"%s\":null", key);
    else
        fprintf(f, "\"%s\":{\"n\":%zu,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f}", key,
                p->n, p->p50, p->p90, p->p99, p->max);
}

static void s_campaign_json(const drill_report_t *r, FILE *f)
{
    fprintf(f,
            "\"campaign\":{\"name\":%s,\"demand_share\":%.3f,\"store_share\":%.3f,"
            "\"honour_availability\":%s,\"feed_events\":%" PRIu64 ",\"held\":%" PRIu64
            ",\"submissions_per_accepted\":{\"all\":%.4f,\"regular\":%.4f,"
            "\"campaign\":%.4f},\"top10_regular_accepted\":%.4f,"
            "\"top10_regular_prep_share\":%.4f,\"top10_remainder\":%.4f,\"classes\":[",
            r->campaign_share > 0 ? "\"" DRILL_CAMPAIGN "\"" : "null", r->campaign_share,
            r->store_share, r->honour ? "true" : "false", r->feed_events, r->held,
            drill_report_per_accepted(r, 2), drill_report_per_accepted(r, 0),
            drill_report_per_accepted(r, 1), drill_report_regular_accepted(r),
            drill_report_regular_share(r), 1 - r->store_share);
    for (size_t c = 0; c < DRILL_CLASSES; c++) {
        fprintf(f, "%s{\"stores\":\"%s\"", c ? "," : "", s_class_names[c]);
        for (int k = 0; k < 2; k++) {
            const drill_kind_t *x = &r->kinds[c][k];
            fprintf(f,
                    ",\"%s\":{\"offered\":%" PRIu64 ",\"submissions\":%" PRIu64
                    ",\"accepted\":%" PRIu64 ",\"accepted_prep_s\":%.1f}",
                    s_kind_names[k], x->offered, x->submissions, x->accepted, x->accepted_prep_s);
        }
        fputc('}', f);
    }
    fputs("]}", f);
}

/* s_failovers_json: the "failovers" member (--ha), each with how long it
 * left intake unavailable on every shard it hit. */
static void s_failovers_json(const drill_report_t *r, FILE *f)
{
    fprintf(f, "\"failovers\":[");
    for (size_t i = 0; i < r->failover_count; i++) {
        const drill_failover_t *fo = &r->failovers[i];
        fprintf(f, "%s{\"at_s\":%.3f,\"action\":", i ? "," : "", fo->at_s);
        s_json_str(f, fo->action);
        fprintf(f, ",\"kind\":\"%s\",\"shard\":", fo->database ? "database" : "daemon");
        if (fo->shard < 0)
            fputs("null", f);
        else
            fprintf(f, "\"s%d\"", fo->shard + 1);
        if (fo->whole_s >= 0)
            fprintf(f, ",\"whole_after_s\":%.3f", fo->whole_s - fo->at_s);
        else
            fputs(",\"whole_after_s\":null", f);
        fprintf(f, ",\"over\":%s,\"unavailable_s\":{",
                drill_report_failover_over(r, fo) ? "true" : "false");
        bool first = true;
        for (uint32_t s = 0; s < r->shards && s < DRILL_SHARDS_MAX; s++) {
            if (!s_hits(fo, s))
                continue;
            fprintf(f, "%s\"s%u\":%.3f", first ? "" : ",", s + 1, fo->gap_s[s]);
            first = false;
        }
        fprintf(f, "},\"max_unavailable_s\":%.3f}", drill_report_failover_worst(r, fo, NULL));
    }
    fputc(']', f);
}

void drill_report_write_json(const drill_report_t *r, FILE *f)
{
    fprintf(f, "{\"started_at\":");
    s_json_str(f, r->started_at);
    fprintf(f,
            ",\"stores\":%u,\"seed\":%" PRIu64 ",\"minutes\":%.3f,\"time_scale\":%.3f,"
            "\"peak_rate\":%.1f,\"chaos_spec\":",
            r->stores, r->seed, r->minutes, r->scale, r->peak_rate);
    s_json_str(f, r->chaos_spec);
    fprintf(f, ",\"shards\":%u,\"interrupted\":%s", r->shards, r->interrupted ? "true" : "false");
    fprintf(f,
            ",\"ok\":%s,\"offering_s\":%.3f,\"drain_s\":%.3f,\"cities\":%zu,"
            "\"rider_kmh\":%.1f,\"orders\":{\"offered\":%" PRIu64 ",\"accepted\":%" PRIu64
            ",\"gave_up\":%" PRIu64 ",\"gave_up_after_error\":%" PRIu64
            ",\"gave_up_after_unavailable\":%" PRIu64 ",\"never_answered\":%" PRIu64
            ",\"still_open\":%" PRIu64 "},",
            drill_report_ok(r) ? "true" : "false", r->offering_s, r->drain_s, r->cities,
            r->rider_kmh, r->orders, r->accepted, r->gave_up, r->gave_up_error,
            r->gave_up_unavailable, r->unanswered, r->census[3]);
    fprintf(f,
            "\"submissions\":{\"sent\":%" PRIu64 ",\"accepted\":%" PRIu64 ",\"duplicates\":%" PRIu64
            ",\"refused\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"no_answer_in_3s\":%" PRIu64
            ",\"late_answers\":%" PRIu64 ",\"never_answered\":%" PRIu64 ",",
            r->submissions, r->answered_accepted, r->duplicates, r->rejected, r->errors,
            r->timed_out, r->late_answers, r->unanswered_submissions);
    fprintf(f, "\"refused_by_reason\":{");
    bool first = true;
    for (unsigned k = 1; k < DRILL_REASONS; k++)
        if (drill_report_reason_name(k)) {
            fprintf(f, "%s\"%s\":%" PRIu64, first ? "" : ",", drill_report_reason_name(k),
                    r->reasons[k]);
            first = false;
        }
    fprintf(f,
            "}},\"mark_ready\":{\"requests\":{\"sent\":%" PRIu64 ",\"ok\":%" PRIu64
            ",\"answered_503\":%" PRIu64 ",\"refused\":%" PRIu64 ",\"never_answered\":%" PRIu64
            "},\"orders\":{\"marked\":%" PRIu64 ",\"ok\":%" PRIu64 ",\"refused\":%" PRIu64
            ",\"gave_up\":%" PRIu64 ",\"never_answered\":%" PRIu64 "}},",
            r->ready_sent, r->ready_ok, r->ready_503, r->ready_refused, r->ready_unanswered,
            r->ready_orders, r->ready_orders_ok, r->ready_orders_refused, r->ready_orders_gave_up,
            r->ready_orders_unanswered);
    fprintf(f, "\"cpu\":{\"wall_s\":%.3f,\"cores\":%ld,\"load_start\":%.2f,\"load_end\":%.2f",
            r->wall_s, r->cores, r->load_start, r->load_end);
    for (int k = 0; k < DRILL_CPU_PARTS; k++)
        fprintf(f, ",\"%s_s\":%.3f",
                k == DRILL_CPU_SLUICED    ? "sluiced"
                : k == DRILL_CPU_POSTGRES ? "postgres"
                : k == DRILL_CPU_SIMS     ? "simulators"
                                          : "drill",
                r->cpu_s[k]);
    fprintf(f, "},\"sums\":[");
    for (size_t i = 0; i < r->sum_count; i++) {
        const drill_sum_t *s = &r->sums[i];
        fprintf(f, "%s{\"what\":", i ? "," : "");
        s_json_str(f, s->what);
        fprintf(f, ",\"relation\":\"%s\",\"of\":", s->kind == DRILL_SUM_EQUAL ? "=" : "<=");
        s_json_str(f, s->formula);
        fprintf(f, ",\"left\":%" PRId64 ",\"right\":%" PRId64 ",\"ok\":%s}", s->left, s->right,
                s->ok ? "true" : "false");
    }
    fprintf(f, "],");
    s_campaign_json(r, f);
    fprintf(f, ",\"ack_latency_ms\":{");
    drill_pct_t p;
    float *tmp = malloc((r->n_all ? r->n_all : 1) * sizeof *tmp);
    if (tmp != NULL) {
        memcpy(tmp, r->lat_all, r->n_all * sizeof *tmp);
        drill_report_percentiles(tmp, r->n_all, &p);
        s_json_pct(f, "all", &p);
        memcpy(tmp, r->lat_accepted, r->n_accepted * sizeof *tmp);
        drill_report_percentiles(tmp, r->n_accepted, &p);
        fputc(',', f);
        s_json_pct(f, "accepted", &p);
        memcpy(tmp, r->lat_rejected, r->n_rejected * sizeof *tmp);
        drill_report_percentiles(tmp, r->n_rejected, &p);
        fputc(',', f);
        s_json_pct(f, "rejected", &p);
        free(tmp);
    }
    fprintf(f,
            "},\"database\":{\"measured\":%s,\"orders\":%" PRId64 ",\"delivered\":%" PRId64
            ",\"failed\":%" PRId64 ",\"cancelled\":%" PRId64 ",\"not_terminal\":%" PRId64
            ",\"refund_due\":%" PRId64 ",\"never_acked\":%" PRId64 ",\"dispatch_attempts\":%" PRId64
            ",",
            r->measured ? "true" : "false", r->db_orders, r->db_delivered, r->db_failed,
            r->db_cancelled, r->db_live, r->db_refund_due, r->db_unacked, r->db_dispatches);
    s_json_pct(f, "accepted_to_delivered_s", &r->e2e_s);
    fputc(',', f);
    s_json_pct(f, "delivered_minus_promised_s", &r->delivery_late_s);
    fprintf(f, ",\"delivered_late_share\":%.4f,", r->delivered_late_share);
    s_json_pct(f, "marked_ready_minus_promised_ready_s", &r->ready_late_s);
    fputc(',', f);
    s_json_pct(f, "order_wait_at_handoff_s", &r->handoff_s);
    fputc(',', f);
    s_json_pct(f, "rider_wait_s", &r->rider_wait_s);
    fprintf(f,
            ",\"store_utilisation\":{\"mean\":%.4f,\"max\":%.4f,\"max_store\":%u,"
            "\"saturated_stores\":%u}},\"chaos\":[",
            r->util_mean, r->util_max, r->util_max_store, r->util_saturated);
    for (size_t i = 0; i < r->chaos_count; i++) {
        fprintf(f, "%s{\"at_s\":%.3f,\"action\":", i ? "," : "", r->chaos[i].at_s);
        s_json_str(f, r->chaos[i].text);
        fputc('}', f);
    }
    fputs("],", f);
    s_failovers_json(r, f);
    fprintf(f, ",\"invariants\":[");
    for (size_t i = 0; i < r->inv_count; i++) {
        fprintf(f, "%s{\"name\":", i ? "," : "");
        s_json_str(f, r->inv[i].name);
        fprintf(f, ",\"ok\":%s,\"detail\":", r->inv[i].ok ? "true" : "false");
        s_json_str(f, r->inv[i].detail);
        fputc('}', f);
    }
    fprintf(f, "],\"timeline\":[");
    for (size_t i = 0; i < r->sec_count; i++) {
        const drill_second_t *e = &r->secs[i];
        fprintf(f,
                "%s{\"t\":%zu,\"offered\":%u,\"orders_accepted\":%u,\"orders_gave_up\":%u,"
                "\"open\":%u,\"sent\":%u,\"accepted\":%u,\"refused\":%u,\"errors\":%u,"
                "\"no_answer\":%u,",
                i ? "," : "", i, e->offered, e->orders_accepted, e->orders_gave_up, e->open,
                e->sent, e->accepted, e->rejected, e->errors, e->timed_out);
        if (e->p99_ms >= 0)
            fprintf(f, "\"p50_ms\":%.3f,\"p99_ms\":%.3f,", e->p50_ms, e->p99_ms);
        else
            fprintf(f, "\"p50_ms\":null,\"p99_ms\":null,");
        if (!isnan(e->handoff_p50_s))
            fprintf(f, "\"handoff_p50_s\":%.3f,\"handoff_p90_s\":%.3f,", e->handoff_p50_s,
                    e->handoff_p90_s);
        fprintf(f, "\"delivered\":%" PRId64 ",\"dispatched\":[%u,%u,%u],\"breakers\":[",
                e->delivered, e->dispatched[0], e->dispatched[1], e->dispatched[2]);
        for (int k = 0; k < DRILL_PLATFORMS; k++) {
            if (e->breaker[k] == DRILL_BREAKER_UNKNOWN)
                fprintf(f, "%snull", k ? "," : "");
            else
                fprintf(f, "%s%u", k ? "," : "", e->breaker[k]);
        }
        fprintf(f, "]}");
    }
    fprintf(f, "]}\n");
}
