/* reconcile_cmd.c - owns `sluicectl reconcile` (see reconcile_cmd.h). */
#include "reconcile_cmd.h"

#include "clock.h"
#include "ctl_error.h"
#include "ctl_json.h"
#include "log.h"
#include "reconcile.h"
#include "reconcile_db.h"
#include "settlement.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define S_DAY_S 86400
/* How long a platform may make no progress (no link, no page) beyond its
 * own timeout_ms per try before its report counts as unreachable. */
#define S_CONNECT_MS 2000

/* One platform's run. */
typedef struct run {
    const config_platform_t *platform;
    settlement_status_t status;
    settlement_report_t report;
    reconcile_db_ours_t ours;
    reconcile_result_t result;
} run_t;

typedef struct day {
    char date[ADAPTER_DAY_LEN + 1];
    int32_t offset;           /* minutes east of UTC */
} day_t;

/* s_parse_day fills DAY from the options; false (said) when they are bad. */
static bool s_parse_day(const reconcile_cmd_opts_t *opts, day_t *day)
{
    day->offset = 0;
    if (opts->utc_offset != NULL) {
        char *end;
        errno = 0;
        long v = strtol(opts->utc_offset, &end, 10);
        if (opts->utc_offset[0] == '\0' || *end != '\0' || errno != 0 || v < -840 || v > 840) {
            ctl_error("--utc-offset %s: minutes east of UTC, -840..840 (480 for UTC+08:00)",
                      opts->utc_offset);
            return false;
        }
        day->offset = (int32_t)v;
    }
    time_t t;
    struct tm tm = { 0 };
    if (opts->date == NULL) {
        /* yesterday, on the calendar at the offset */
        t = (time_t)(clock_wall_ms() / 1000) + (time_t)day->offset * 60 - S_DAY_S;
    } else {
        int y, m, d;
        char extra;
        if (strlen(opts->date) != ADAPTER_DAY_LEN ||
            sscanf(opts->date, "%4d-%2d-%2d%c", &y, &m, &d, &extra) != 3 || y < 1970) {
            ctl_error("--date %s: a date YYYY-MM-DD, 1970 or later", opts->date);
            return false;
        }
        tm = (struct tm){ .tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d };
        t = timegm(&tm);
        if (tm.tm_year != y - 1900 || tm.tm_mon != m - 1 || tm.tm_mday != d) {
            ctl_error("--date %s: no such day", opts->date);
            return false;
        }
    }
    gmtime_r(&t, &tm);
    strftime(day->date, sizeof day->date, "%Y-%m-%d", &tm);
    return true;
}

static int s_db_exit(support_query_t *db, support_query_status_t st)
{
    ctl_error("%s (at %s)", support_query_error(db), support_query_target(db));
    return st == SUPPORT_QUERY_UNREACHABLE ? RECONCILE_EXIT_DB_UNREACHABLE
                                           : RECONCILE_EXIT_DB_FAILED;
}

/* s_run_one fetches, compares and stores one platform's day. A platform
 * that cannot be reached is a FAILED run, not an error; PostgreSQL's
 * failures are. */
static support_query_status_t s_run_one(run_t *r, support_query_t *db, void *zctx, const day_t *day)
{
    const config_platform_t *p = r->platform;
    reconcile_db_run_t stored = { .day = day->date, .utc_offset_minutes = day->offset,
                                  .platform = p->name, .started_at_ms = clock_wall_ms() };
    uint64_t wait_ms = S_CONNECT_MS + (uint64_t)p->timeout_ms * SETTLEMENT_TRIES;
    r->status = settlement_fetch(p, zctx, day->date, day->offset, wait_ms, &r->report);
    if (r->status != SETTLEMENT_OK) {
        stored.error = r->report.error;
        return reconcile_db_store(db, &stored);
    }
    support_query_status_t st = reconcile_db_read_ours(db, p->name, day->date, day->offset,
                                                       r->report.lines, r->report.count, &r->ours);
    if (st != SUPPORT_QUERY_OK)
        return st;
    if (!reconcile_compare(r->ours.rows, r->ours.count, r->report.lines, r->report.count,
                           &r->result)) {
        ctl_error("out of memory comparing %s's report", p->name);
        return SUPPORT_QUERY_FAILED;
    }
    stored.result = &r->result;
    stored.lines_theirs = r->report.count;
    stored.lines_ours = r->ours.count;
    stored.final = r->report.final;
    return reconcile_db_store(db, &stored);
}

static const char *s_run_status(const run_t *r)
{
    if (r->status != SETTLEMENT_OK)
        return "FAILED";
    return r->result.item_count > 0 ? "DISCREPANCIES" : "CLEAN";
}

/* ---- the answer for people ---- */

static const char *s_u32(char *buf, size_t len, bool has, uint32_t v)
{
    if (!has)
        return "-";
    snprintf(buf, len, "%" PRIu32, v);
    return buf;
}

static void s_text_items(const run_t *runs, size_t n, size_t total)
{
    printf("\ndiscrepancies: %zu\n", total);
    if (total == 0)
        return;
    printf("  %-12s %-16s %10s %-24s %-28s %9s %11s  %s\n", "PLATFORM", "KIND", "STORE", "ORDER",
           "KEY", "OUR_FEE", "THEIR_FEE", "DETAIL");
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < runs[i].result.item_count; k++) {
            const reconcile_item_t *it = &runs[i].result.items[k];
            char store[16], ours[16], theirs[16];
            printf("  %-12s %-16s %10s %-24s %-28s %9s %11s  %s\n", runs[i].platform->name,
                   reconcile_kind_name(it->kind),
                   s_u32(store, sizeof store, it->store_id != 0, it->store_id),
                   it->order_id[0] ? it->order_id : "-", it->key,
                   s_u32(ours, sizeof ours, it->has_our_fee, it->our_fee_cents),
                   s_u32(theirs, sizeof theirs, it->has_their_fee, it->their_fee_cents),
                   it->detail);
        }
}

static void s_text_totals(const run_t *runs, size_t n)
{
    printf("\nper store (fees in cents):\n");
    printf("  %-12s %10s %14s %16s %10s %12s %13s\n", "PLATFORM", "STORE", "DELIVERED_OURS",
           "DELIVERED_THEIRS", "FEE_OURS", "FEE_THEIRS", "DISCREPANCIES");
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < runs[i].result.total_count; k++) {
            const reconcile_total_t *t = &runs[i].result.totals[k];
            char store[16];
            printf("  %-12s %10s %14" PRIu64 " %16" PRIu64 " %10" PRIu64 " %12" PRIu64
                   " %13" PRIu64 "\n",
                   runs[i].platform->name, s_u32(store, sizeof store, t->store_id != 0, t->store_id),
                   t->delivered_ours, t->delivered_theirs, t->fee_ours_cents, t->fee_theirs_cents,
                   t->discrepancies);
        }
}

static void s_text(const day_t *day, const run_t *runs, size_t n)
{
    printf("reconcile %s, the day from local midnight at UTC%c%02d:%02d; source: the platforms' "
           "settlement reports and PostgreSQL\n",
           day->date, day->offset < 0 ? '-' : '+', abs(day->offset) / 60, abs(day->offset) % 60);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const run_t *r = &runs[i];
        if (r->status != SETTLEMENT_OK) {
            printf("platform %s: FAILED: %s\n", r->platform->name, r->report.error);
            continue;
        }
        printf("platform %s: %s; %zu lines there%s, %zu dispatches here; %zu discrepancies\n",
               r->platform->name, s_run_status(r), r->report.count,
               r->report.final ? "" : " (provisional: the day is not over there)", r->ours.count,
               r->result.item_count);
        total += r->result.item_count;
    }
    s_text_items(runs, n, total);
    s_text_totals(runs, n);
}

/* ---- one JSON object ---- */

static void s_json_fee(ctl_json_t *j, const char *key, bool has, uint32_t v)
{
    ctl_json_key(j, key);
    if (has)
        ctl_json_int(j, v);
    else
        ctl_json_null(j);
}

static void s_json_items(ctl_json_t *j, const reconcile_result_t *res)
{
    ctl_json_key(j, "discrepancies");
    ctl_json_begin_array(j);
    for (size_t k = 0; k < res->item_count; k++) {
        const reconcile_item_t *it = &res->items[k];
        ctl_json_begin_object(j);
        ctl_json_key(j, "kind");
        ctl_json_string(j, reconcile_kind_name(it->kind));
        s_json_fee(j, "store_id", it->store_id != 0, it->store_id);
        ctl_json_key(j, "order_id");
        ctl_json_string(j, it->order_id[0] ? it->order_id : NULL);
        ctl_json_key(j, "dispatch_key");
        ctl_json_string(j, it->key);
        s_json_fee(j, "our_fee_cents", it->has_our_fee, it->our_fee_cents);
        s_json_fee(j, "their_fee_cents", it->has_their_fee, it->their_fee_cents);
        ctl_json_key(j, "detail");
        ctl_json_string(j, it->detail);
        ctl_json_end_object(j);
    }
    ctl_json_end_array(j);
}

static void s_json_totals(ctl_json_t *j, const reconcile_result_t *res)
{
    ctl_json_key(j, "stores");
    ctl_json_begin_array(j);
    for (size_t k = 0; k < res->total_count; k++) {
        const reconcile_total_t *t = &res->totals[k];
        ctl_json_begin_object(j);
        s_json_fee(j, "store_id", t->store_id != 0, t->store_id);
        ctl_json_key(j, "delivered_ours");
        ctl_json_int(j, (long long)t->delivered_ours);
        ctl_json_key(j, "delivered_theirs");
        ctl_json_int(j, (long long)t->delivered_theirs);
        ctl_json_key(j, "fee_ours_cents");
        ctl_json_int(j, (long long)t->fee_ours_cents);
        ctl_json_key(j, "fee_theirs_cents");
        ctl_json_int(j, (long long)t->fee_theirs_cents);
        ctl_json_key(j, "discrepancies");
        ctl_json_int(j, (long long)t->discrepancies);
        ctl_json_end_object(j);
    }
    ctl_json_end_array(j);
}

static void s_json_run(ctl_json_t *j, const run_t *r)
{
    ctl_json_begin_object(j);
    ctl_json_key(j, "platform");
    ctl_json_string(j, r->platform->name);
    ctl_json_key(j, "status");
    ctl_json_string(j, s_run_status(r));
    ctl_json_key(j, "error");
    ctl_json_string(j, r->status != SETTLEMENT_OK ? r->report.error : NULL);
    if (r->status == SETTLEMENT_OK) {
        ctl_json_key(j, "lines_theirs");
        ctl_json_int(j, (long long)r->report.count);
        ctl_json_key(j, "lines_ours");
        ctl_json_int(j, (long long)r->ours.count);
        ctl_json_key(j, "final");
        ctl_json_bool(j, r->report.final);
        ctl_json_key(j, "counts");
        ctl_json_begin_object(j);
        for (int k = 0; k < RECONCILE_KINDS; k++) {
            ctl_json_key(j, reconcile_kind_name((reconcile_kind_t)k));
            ctl_json_int(j, (long long)r->result.kind_count[k]);
        }
        ctl_json_end_object(j);
        s_json_items(j, &r->result);
        s_json_totals(j, &r->result);
    }
    ctl_json_end_object(j);
}

static void s_json(const day_t *day, const run_t *runs, size_t n, int rc)
{
    ctl_json_t j;
    ctl_json_init(&j, stdout);
    ctl_json_begin_object(&j);
    ctl_json_key(&j, "source");
    ctl_json_string(&j, "platforms+postgresql");
    ctl_json_key(&j, "date");
    ctl_json_string(&j, day->date);
    ctl_json_key(&j, "utc_offset_minutes");
    ctl_json_int(&j, day->offset);
    ctl_json_key(&j, "clean");
    ctl_json_bool(&j, rc == RECONCILE_EXIT_CLEAN);
    ctl_json_key(&j, "platforms");
    ctl_json_begin_array(&j);
    for (size_t i = 0; i < n; i++)
        s_json_run(&j, &runs[i]);
    ctl_json_end_array(&j);
    ctl_json_end_object(&j);
}

/* s_exit: a platform not heard from outweighs discrepancies (the answer is
 * incomplete); both only once everything was stored. */
static int s_exit(const run_t *runs, size_t n)
{
    int rc = RECONCILE_EXIT_CLEAN;
    for (size_t i = 0; i < n; i++) {
        if (runs[i].status != SETTLEMENT_OK)
            return RECONCILE_EXIT_PLATFORM;
        if (runs[i].result.item_count > 0)
            rc = RECONCILE_EXIT_DISCREPANCIES;
    }
    return rc;
}

int reconcile_cmd_run(const config_t *cfg, support_query_t *db, const reconcile_cmd_opts_t *opts)
{
    day_t day;
    if (!s_parse_day(opts, &day))
        return RECONCILE_EXIT_USAGE;
    /* the adapter's notices (connected ...) are not part of the answer */
    log_set_level(LOG_LEVEL_WARNING);
    size_t n = cfg->platform_count;
    run_t *runs = calloc(n ? n : 1, sizeof *runs);
    void *zctx = zmq_ctx_new();
    int rc = RECONCILE_EXIT_DB_FAILED;
    if (runs == NULL || zctx == NULL) {
        ctl_error("out of memory");
        goto done;
    }
    zmq_ctx_set(zctx, ZMQ_BLOCKY, 0);  /* closing never waits for unsent requests */
    for (size_t i = 0; i < n; i++) {
        runs[i].platform = &cfg->platforms[i];
        support_query_status_t st = s_run_one(&runs[i], db, zctx, &day);
        if (st != SUPPORT_QUERY_OK) {
            rc = s_db_exit(db, st);
            goto done;
        }
    }
    rc = s_exit(runs, n);
    if (opts->json)
        s_json(&day, runs, n, rc);
    else
        s_text(&day, runs, n);
done:
    for (size_t i = 0; runs != NULL && i < n; i++) {
        settlement_report_free(&runs[i].report);
        reconcile_db_ours_clear(&runs[i].ours);
        reconcile_result_free(&runs[i].result);
    }
    free(runs);
    if (zctx != NULL)
        zmq_ctx_term(zctx);
    return rc;
}
