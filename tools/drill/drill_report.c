/* drill_report.c - owns sluice-drill's run record, its measurement in PostgreSQL and its report. */
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
        s_push(&r->lat_accepted, &r->n_accepted, &r->cap_accepted, (float)ms);
    } else if (decision == SLUICE__V1__DECISION__REJECTED) {
        e->rejected++;
        if (reason >= 0 && reason < DRILL_REASONS)
            e->reasons[reason]++;
        s_push(&r->lat_rejected, &r->n_rejected, &r->cap_rejected, (float)ms);
    } else {
        e->errors++;
    }
}

static int s_cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

void drill_report_percentiles(float *v, size_t n, drill_pct_t *out)
{
    *out = (drill_pct_t){.n = n};
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

static int64_t s_int(PGresult *res, int row, int col)
{
    if (res == NULL || row >= PQntuples(res) || PQgetisnull(res, row, col))
        return -1;
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* s_seconds fetches one column of seconds (SQL) and fills OUT with its percentiles. */
static bool s_seconds(PGconn *c, const char *sql, drill_pct_t *out, double *late_share)
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
    free(v);
    return true;
}

/* s_check_acked copies the acked ids into a temporary table and counts those
 * missing from orders. */
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
    PGresult *res = s_query(c, "SELECT store_id, max(extract(epoch FROM promised_ready_at - accepted_at)),"
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
        double limit = k == SIZE_MAX ? -1 : w->stores[k].cfg_max_wait_minutes * 60.0;
        if (worst > limit) {
            if (bad++ == 0)
                snprintf(first, sizeof first, ", e.g. store %u promised %.1f s, limit %.0f s", id,
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
    PGresult *res = s_query(c, "SELECT store_id, sum(extract(epoch FROM promised_ready_at - prep_start_at))"
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

bool drill_report_measure(drill_report_t *r, PGconn *c, const drill_world_t *w,
                          const char *prefix, const uint32_t *acked, size_t n,
                          const float *rider_wait_ms, size_t n_wait)
{
    PGresult *res = s_query(c,
        "SELECT count(*), count(*) FILTER (WHERE state = 'DELIVERED'),"
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

    (void)s_seconds(c, "SELECT extract(epoch FROM d.at - o.accepted_at) FROM orders o"
                       " JOIN order_events d ON d.order_id = o.order_id AND d.state = 'DELIVERED'",
                    &r->e2e_s, NULL);
    (void)s_seconds(c, "SELECT extract(epoch FROM d.at - o.promised_delivery_at) FROM orders o"
                       " JOIN order_events d ON d.order_id = o.order_id AND d.state = 'DELIVERED'",
                    &r->delivery_late_s, &r->delivered_late_share);
    /* MarkReady is an event with this detail whatever state the order is in */
    (void)s_seconds(c, "SELECT extract(epoch FROM min(e.at) - o.promised_ready_at) FROM orders o"
                       " JOIN order_events e ON e.order_id = o.order_id"
                       " AND e.detail = 'marked ready by the store'"
                       " GROUP BY o.order_id, o.promised_ready_at",
                    &r->ready_late_s, NULL);
    (void)s_seconds(c, "SELECT extract(epoch FROM p.at - coalesce(m.at, o.promised_ready_at))"
                       " FROM orders o"
                       " JOIN (SELECT order_id, min(at) AS at FROM order_events"
                       "        WHERE state = 'PICKED_UP' GROUP BY 1) p USING (order_id)"
                       " LEFT JOIN (SELECT order_id, min(at) AS at FROM order_events"
                       "        WHERE detail = 'marked ready by the store' GROUP BY 1) m USING (order_id)",
                    &r->handoff_s, NULL);
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

    s_check_acked(r, c, prefix, acked, n);
    s_check_dispatches(r, c);
    s_check_promises(r, c, w);
    drill_report_invariant(r, "every order terminal at the end", r->db_live == 0,
                           "%" PRId64 " of %" PRId64 " orders not DELIVERED, CANCELLED or FAILED",
                           r->db_live, r->db_orders);
    return true;
}

/* ---- the campaign's figures ---- */

size_t drill_report_class(uint32_t rank)
{
    return rank <= 10 ? 0 : rank <= 100 ? 1 : 2;
}

static const char *const s_class_names[DRILL_CLASSES] = {"top 10", "11-100", "the rest"};
static const char *const s_kind_names[2] = {"regular", "campaign"};

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
        fprintf(f, " (%" PRIu64 " avail events read, %" PRIu64 " orders held for a store not "
                   "open)", r->feed_events, r->held);
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
        fprintf(f, "  regular orders at the top 10 stores: %.3f of them accepted, %s their"
                   " remainder of the kitchens %.3f; their part of the prep time accepted"
                   " there %.3f\n\n",
                accepted, accepted >= rest ? "at least" : "below", rest,
                drill_report_regular_share(r));
    } else {
        fputc('\n', f);
    }
}

/* ---- text ---- */

static const char *s_reason_name(unsigned reason)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&sluice__v1__reason__descriptor, (int)reason);
    return v != NULL ? v->name : NULL;
}

static void s_pct_text(FILE *f, const char *label, const drill_pct_t *p, const char *unit,
                       double sim_factor)
{
    if (p->n == 0) {
        fprintf(f, "  %-34s none measured\n", label);
        return;
    }
    fprintf(f, "  %-34s p50 %.2f  p90 %.2f  p99 %.2f  max %.2f %s (n=%zu)", label, p->p50, p->p90,
            p->p99, p->max, unit, p->n);
    if (sim_factor > 0)
        fprintf(f, "  = p50 %.1f / p99 %.1f simulated min", p->p50 * sim_factor / 60.0,
                p->p99 * sim_factor / 60.0);
    fputc('\n', f);
}

void drill_report_print_text(const drill_report_t *r, FILE *f)
{
    fprintf(f, "sluice-drill report, %s\n", r->started_at);
    fprintf(f, "  %u stores, seed %" PRIu64 ", %.2f minutes for 10:00-19:00 (time scale %.1f),"
               " peak %.0f orders/s\n",
            r->stores, r->seed, r->minutes, r->scale, r->peak_rate);
    fprintf(f, "  chaos: %s\n\n", r->chaos_spec[0] ? r->chaos_spec : "(none)");
    fprintf(f, "producers (offering %.1f s%s, draining %.1f s)\n", r->offering_s,
            r->interrupted ? ", INTERRUPTED" : "", r->drain_s);
    fprintf(f, "  orders offered          %10" PRIu64 "\n", r->orders);
    fprintf(f, "  submissions (w/ retries)%10" PRIu64 "\n", r->submissions);
    fprintf(f, "  accepted (distinct)     %10" PRIu64 "   duplicate replies %" PRIu64 "\n",
            r->accepted, r->duplicates);
    fprintf(f, "  rejections              %10" PRIu64 "\n", r->rejected);
    for (unsigned k = 1; k < DRILL_REASONS; k++)
        if (r->reasons[k] > 0)
            fprintf(f, "    %-20s  %10" PRIu64 "\n", s_reason_name(k) ? s_reason_name(k) : "?",
                    r->reasons[k]);
    fprintf(f, "  errors                  %10" PRIu64 "\n", r->errors);
    fprintf(f, "  gave up after retries   %10" PRIu64 "\n", r->gave_up);
    fprintf(f, "  resent after no reply   %10" PRIu64 "\n", r->resent_after_timeout);
    fprintf(f, "  never answered          %10" PRIu64 "\n", r->unanswered);
    fprintf(f, "  MarkReady sent / ok / refused  %" PRIu64 " / %" PRIu64 " / %" PRIu64 "\n%s",
            r->ready_sent, r->ready_ok, r->ready_refused, r->ready_refused_example[0] ? "" : "\n");
    if (r->ready_refused_example[0])
        fprintf(f, "    first refusal: %s\n\n", r->ready_refused_example);
    s_campaign_text(r, f);

    drill_pct_t p;
    float *tmp = malloc((r->n_all ? r->n_all : 1) * sizeof *tmp);
    fprintf(f, "ack latency (send to reply)\n");
    if (tmp != NULL) {
        memcpy(tmp, r->lat_all, r->n_all * sizeof *tmp);
        drill_report_percentiles(tmp, r->n_all, &p);
        s_pct_text(f, "all replies", &p, "ms", 0);
        memcpy(tmp, r->lat_accepted, r->n_accepted * sizeof *tmp);
        drill_report_percentiles(tmp, r->n_accepted, &p);
        s_pct_text(f, "accepted", &p, "ms", 0);
        memcpy(tmp, r->lat_rejected, r->n_rejected * sizeof *tmp);
        drill_report_percentiles(tmp, r->n_rejected, &p);
        s_pct_text(f, "rejected", &p, "ms", 0);
        free(tmp);
    }
    if (r->measured) {
        fprintf(f, "\norders in PostgreSQL\n");
        fprintf(f, "  %" PRId64 " orders: %" PRId64 " delivered, %" PRId64 " failed (%" PRId64
                   " refund due), %" PRId64 " cancelled, %" PRId64 " not terminal\n",
                r->db_orders, r->db_delivered, r->db_failed, r->db_refund_due, r->db_cancelled,
                r->db_live);
        s_pct_text(f, "accepted -> DELIVERED", &r->e2e_s, "s", r->scale);
        s_pct_text(f, "DELIVERED - promised (late > 0)", &r->delivery_late_s, "s", r->scale);
        fprintf(f, "  %-34s %.1f%%\n", "delivered after the promise", 100.0 * r->delivered_late_share);
        s_pct_text(f, "marked ready - promised ready", &r->ready_late_s, "s", r->scale);
        s_pct_text(f, "order wait at handoff (pickup - ready)", &r->handoff_s, "s", r->scale);
        s_pct_text(f, "rider wait at the counter (ledgers)", &r->rider_wait_s, "s", r->scale);
        fprintf(f, "  store utilisation (slots busy, first start to last ready) mean %.0f%%, max %.0f%% (store %u),"
                   " %u stores at 90%% or more\n",
                100 * r->util_mean, 100 * r->util_max, r->util_max_store, r->util_saturated);
    }
    fprintf(f, "\nchaos\n");
    if (r->chaos_count == 0)
        fprintf(f, "  (none)\n");
    for (size_t i = 0; i < r->chaos_count; i++)
        fprintf(f, "  %7.1f s  %s\n", r->chaos[i].at_s, r->chaos[i].text);
    fprintf(f, "\ninvariants\n");
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
    fprintf(f, "\"campaign\":{\"name\":%s,\"demand_share\":%.3f,\"store_share\":%.3f,"
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
            fprintf(f, ",\"%s\":{\"offered\":%" PRIu64 ",\"submissions\":%" PRIu64
                       ",\"accepted\":%" PRIu64 ",\"accepted_prep_s\":%.1f}",
                    s_kind_names[k], x->offered, x->submissions, x->accepted, x->accepted_prep_s);
        }
        fputc('}', f);
    }
    fputs("]}", f);
}

static void s_write_json(const drill_report_t *r, FILE *f)
{
    fprintf(f, "{\"started_at\":");
    s_json_str(f, r->started_at);
    fprintf(f, ",\"stores\":%u,\"seed\":%" PRIu64 ",\"minutes\":%.3f,\"time_scale\":%.3f,"
               "\"peak_rate\":%.1f,\"chaos_spec\":",
            r->stores, r->seed, r->minutes, r->scale, r->peak_rate);
    s_json_str(f, r->chaos_spec);
    fprintf(f, ",\"interrupted\":%s", r->interrupted ? "true" : "false");
    fprintf(f, ",\"ok\":%s,\"offering_s\":%.3f,\"drain_s\":%.3f,\"totals\":{\"orders\":%" PRIu64
               ",\"submissions\":%" PRIu64 ",\"accepted\":%" PRIu64 ",\"duplicate_replies\":%" PRIu64
               ",\"rejected\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"gave_up\":%" PRIu64
               ",\"resent_after_timeout\":%" PRIu64 ",\"unanswered\":%" PRIu64 ",\"mark_ready\":{\"sent\":%" PRIu64
               ",\"ok\":%" PRIu64 ",\"refused\":%" PRIu64 "},\"rejected_by_reason\":{",
            drill_report_ok(r) ? "true" : "false", r->offering_s, r->drain_s, r->orders,
            r->submissions, r->accepted, r->duplicates, r->rejected, r->errors, r->gave_up,
            r->resent_after_timeout, r->unanswered, r->ready_sent, r->ready_ok, r->ready_refused);
    for (unsigned k = 1; k < DRILL_REASONS; k++)
        if (s_reason_name(k))
            fprintf(f, "%s\"%s\":%" PRIu64, k > 1 ? "," : "", s_reason_name(k), r->reasons[k]);
    fprintf(f, "}},");
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
    fprintf(f, "},\"database\":{\"measured\":%s,\"orders\":%" PRId64 ",\"delivered\":%" PRId64
               ",\"failed\":%" PRId64 ",\"cancelled\":%" PRId64 ",\"not_terminal\":%" PRId64
               ",\"refund_due\":%" PRId64 ",",
            r->measured ? "true" : "false", r->db_orders, r->db_delivered, r->db_failed,
            r->db_cancelled, r->db_live, r->db_refund_due);
    s_json_pct(f, "accepted_to_delivered_s", &r->e2e_s);
    fputc(',', f);
    s_json_pct(f, "delivered_minus_promised_s", &r->delivery_late_s);
    fprintf(f, ",\"delivered_late_share\":%.4f,", r->delivered_late_share);
    s_json_pct(f, "marked_ready_minus_promised_ready_s", &r->ready_late_s);
    fputc(',', f);
    s_json_pct(f, "order_wait_at_handoff_s", &r->handoff_s);
    fputc(',', f);
    s_json_pct(f, "rider_wait_s", &r->rider_wait_s);
    fprintf(f, ",\"store_utilisation\":{\"mean\":%.4f,\"max\":%.4f,\"max_store\":%u,"
               "\"saturated_stores\":%u}},\"chaos\":[",
            r->util_mean, r->util_max, r->util_max_store, r->util_saturated);
    for (size_t i = 0; i < r->chaos_count; i++) {
        fprintf(f, "%s{\"at_s\":%.3f,\"action\":", i ? "," : "", r->chaos[i].at_s);
        s_json_str(f, r->chaos[i].text);
        fputc('}', f);
    }
    fprintf(f, "],\"invariants\":[");
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
        fprintf(f, "%s{\"t\":%zu,\"offered\":%u,\"sent\":%u,\"accepted\":%u,\"rejected\":%u,",
                i ? "," : "", i, e->offered, e->sent, e->accepted, e->rejected);
        if (e->p99_ms >= 0)
            fprintf(f, "\"p50_ms\":%.3f,\"p99_ms\":%.3f,", e->p50_ms, e->p99_ms);
        else
            fprintf(f, "\"p50_ms\":null,\"p99_ms\":null,");
        fprintf(f, "\"delivered\":%" PRId64 ",\"breakers\":[", e->delivered);
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

/* ---- HTML with inline SVG ---- */

#define SVG_W 900
#define SVG_H 280
#define SVG_L 60     /* left margin: y axis labels */
#define SVG_R 20
#define SVG_T 20
#define SVG_B 40

typedef struct {
    const char *name, *color;
    const double *v;            /* one value per second; < 0 means no value */
} series_t;

static void s_html_esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else if (*s == '"')
            fputs("&quot;", f);
        else
            fputc(*s, f);
    }
}

/* s_nice rounds a chart's top up to 1, 2 or 5 times a power of ten. */
static double s_nice(double v)
{
    if (v <= 0)
        return 1;
    double e = pow(10, floor(log10(v)));
    double m = v / e;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * e;
}

static void s_svg_chart(FILE *f, const drill_report_t *r, const char *id, const char *title,
                        const char *unit, const series_t *series, size_t ns, size_t n)
{
    double top = 0;
    for (size_t k = 0; k < ns; k++)
        for (size_t i = 0; i < n; i++)
            top = fmax(top, series[k].v[i]);
    top = s_nice(top);
    double pw = SVG_W - SVG_L - SVG_R, ph = SVG_H - SVG_T - SVG_B;
    double span = n > 1 ? (double)(n - 1) : 1;
    fprintf(f, "<h2>");
    s_html_esc(f, title);
    fprintf(f, "</h2>\n<svg id=\"%s\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" "
               "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n",
            id, SVG_W, SVG_H, SVG_W, SVG_H);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" fill=\"#fafafa\" "
               "stroke=\"#ccc\"/>\n", SVG_L, SVG_T, pw, ph);
    for (int g = 0; g <= 4; g++) {
        double y = SVG_T + ph - ph * g / 4.0;
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>"
                   "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%g</text>\n",
                SVG_L, y, SVG_L + pw, y, SVG_L - 4, y + 4, top * g / 4.0);
    }
    size_t step = n > 20 ? (size_t)s_nice((double)n / 10) : 2;
    for (size_t t = 0; t < n; t += step)
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%zus</text>\n",
                SVG_L + pw * (double)t / span, SVG_H - SVG_B + 15, t);
    fprintf(f, "<text x=\"12\" y=\"%d\" font-size=\"11\" transform=\"rotate(-90 12 %d)\" "
               "text-anchor=\"middle\">", SVG_T + (int)ph / 2, SVG_T + (int)ph / 2);
    s_html_esc(f, unit);
    fputs("</text>\n", f);
    for (size_t c = 0; c < r->chaos_count; c++) {
        double x = SVG_L + pw * r->chaos[c].at_s / span;
        if (x > SVG_L + pw)
            continue;
        fprintf(f, "<line class=\"chaos\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.0f\" "
                   "stroke=\"#c0392b\" stroke-dasharray=\"4 3\"><title>",
                x, SVG_T, x, SVG_T + ph);
        s_html_esc(f, r->chaos[c].text);
        fprintf(f, "</title></line><text x=\"%.1f\" y=\"%.0f\" font-size=\"9\" fill=\"#c0392b\" "
                   "transform=\"rotate(-90 %.1f %.0f)\">", x - 2, SVG_T + ph - 2, x - 2, SVG_T + ph - 2);
        char label[32];
        snprintf(label, sizeof label, "%.24s", r->chaos[c].text);
        s_html_esc(f, label);
        fputs("</text>\n", f);
    }
    for (size_t k = 0; k < ns; k++) {
        fprintf(f, "<polyline class=\"series\" data-series=\"%s\" fill=\"none\" stroke=\"%s\" "
                   "stroke-width=\"1.5\" points=\"", series[k].name, series[k].color);
        for (size_t i = 0; i < n; i++) {
            if (series[k].v[i] < 0)
                continue;
            fprintf(f, "%.1f,%.1f ", SVG_L + pw * (double)i / span,
                    SVG_T + ph - ph * fmin(series[k].v[i], top) / top);
        }
        fputs("\"/>\n", f);
        fprintf(f, "<rect x=\"%.0f\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                   "<text x=\"%.0f\" y=\"%d\" font-size=\"11\">%s</text>\n",
                SVG_L + 10 + 130.0 * (double)k, SVG_H - 14, series[k].color,
                SVG_L + 24 + 130.0 * (double)k, SVG_H - 5, series[k].name);
    }
    fputs("</svg>\n", f);
}

static void s_write_html(const drill_report_t *r, FILE *f)
{
    size_t n = r->sec_count;
    double *v = calloc(6 * (n ? n : 1), sizeof *v);
    if (v == NULL)
        return;
    double *off = v, *acc = v + n, *rej = v + 2 * n, *p50 = v + 3 * n, *p99 = v + 4 * n,
           *del = v + 5 * n;
    int64_t last_del = 0;
    for (size_t i = 0; i < n; i++) {
        const drill_second_t *e = &r->secs[i];
        off[i] = e->offered;
        acc[i] = e->accepted;
        rej[i] = e->rejected;
        p50[i] = e->p50_ms;
        p99[i] = e->p99_ms;
        /* deliveries per second, from the cumulative count when it was known */
        if (e->delivered >= 0) {
            del[i] = (double)(e->delivered >= last_del ? e->delivered - last_del : 0);
            last_del = e->delivered;
        } else {
            del[i] = -1;
        }
    }
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
               "<title>sluice-drill report</title>\n<style>\n"
               "body{font-family:sans-serif;margin:2em;max-width:960px;color:#222}\n"
               "table{border-collapse:collapse}td,th{padding:2px 10px;text-align:left;"
               "border-bottom:1px solid #eee}\n.ok{color:#1e7b34}.fail{color:#c0392b;font-weight:bold}\n"
               "pre{background:#f4f4f4;padding:1em;overflow-x:auto}\n</style></head><body>\n");
    fprintf(f, "<h1>sluice-drill: %s</h1>\n<p class=\"%s\" id=\"verdict\">%s</p>\n", r->started_at,
            drill_report_ok(r) ? "ok" : "fail",
            drill_report_ok(r) ? "All invariants held." : "An invariant broke.");
    fprintf(f, "<p>%u stores, seed %" PRIu64 ", the simulated day 10:00-19:00 in %.2f minutes "
               "(time scale %.1f), peak %.0f orders/s. Chaos: ",
            r->stores, r->seed, r->minutes, r->scale, r->peak_rate);
    s_html_esc(f, r->chaos_spec[0] ? r->chaos_spec : "none");
    fputs(".</p>\n<h2>Invariants</h2>\n<table id=\"invariants\">\n", f);
    for (size_t i = 0; i < r->inv_count; i++) {
        fprintf(f, "<tr><td class=\"%s\">%s</td><td>", r->inv[i].ok ? "ok" : "fail",
                r->inv[i].ok ? "ok" : "FAIL");
        s_html_esc(f, r->inv[i].name);
        fputs("</td><td>", f);
        s_html_esc(f, r->inv[i].detail);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
    series_t load[] = {{"offered", "#555", off}, {"accepted", "#1e7b34", acc},
                       {"rejected", "#d35400", rej}, {"delivered", "#2471a3", del}};
    s_svg_chart(f, r, "chart-load", "Orders per second (new orders offered; replies; deliveries)",
                "orders/s", load, 4, n);
    series_t lat[] = {{"ack p50", "#2471a3", p50}, {"ack p99", "#c0392b", p99}};
    s_svg_chart(f, r, "chart-latency", "Ack latency per second (send to reply)", "ms", lat, 2, n);
    fputs("<h2>Chaos</h2>\n<table id=\"chaos\">\n", f);
    for (size_t i = 0; i < r->chaos_count; i++) {
        fprintf(f, "<tr><td>%.1f s</td><td>", r->chaos[i].at_s);
        s_html_esc(f, r->chaos[i].text);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n<h2>Figures</h2>\n<pre>", f);
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (m != NULL) {
        drill_report_print_text(r, m);
        fclose(m);
        s_html_esc(f, text);
        free(text);
    }
    fputs("</pre>\n</body></html>\n", f);
    free(v);
}

static bool s_write_file(const drill_report_t *r, const char *dir, const char *name,
                         void (*fn)(const drill_report_t *, FILE *))
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "sluice-drill: failed to write %s: %s\n", path, strerror(errno));
        return false;
    }
    fn(r, f);
    if (fclose(f) != 0) {
        fprintf(stderr, "sluice-drill: failed to write %s: %s\n", path, strerror(errno));
        return false;
    }
    return true;
}

static void s_text_fn(const drill_report_t *r, FILE *f)
{
    drill_report_print_text(r, f);
}

bool drill_report_write(drill_report_t *r, const char *dir)
{
    bool ok = s_write_file(r, dir, "report.txt", s_text_fn);
    ok = s_write_file(r, dir, "report.json", s_write_json) && ok;
    ok = s_write_file(r, dir, "report.html", s_write_html) && ok;
    return ok;
}
