/* reconcile_db.c - owns reconciliation's reads and writes of PostgreSQL
 * (see reconcile_db.h). */
#include "reconcile_db.h"

#include "pgarray.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

/* Local midnight of $2 at offset $3 minutes, as a timestamptz. */
#define S_DAY_START "($2::date::timestamp - make_interval(mins => $3::int)) AT TIME ZONE 'UTC'"
/* Written like dispatches_ended's predicate so the planner can use it. */
#define S_ENDED_IN_DAY                                                                   \
    "(d.state IN ('DELIVERED', 'CANCELLED') AND d.updated_at >= b.lo"                   \
    " AND d.updated_at < b.lo + interval '1 day')"

static const char s_ours_sql[] =
    "SELECT d.dispatch_key, d.order_id, d.state::text, coalesce(o.store_id, 0), d.fee_cents,"
    "       " S_ENDED_IN_DAY
    "  FROM (SELECT " S_DAY_START " AS lo) AS b"
    "  JOIN dispatches d ON d.platform = $1"
    "   AND (" S_ENDED_IN_DAY " OR d.dispatch_key = ANY ($4::text[]))"
    "  LEFT JOIN orders o ON o.order_id = d.order_id";

static const char s_delete_sql[] =
    "DELETE FROM reconcile_discrepancies WHERE day = $1::date AND platform = $2";
static const char s_run_sql[] =
    "INSERT INTO reconcile_runs (day, utc_offset_minutes, platform, started_at, lines_theirs,"
    "                            lines_ours, final, discrepancies, status, error)"
    " VALUES ($1::date, $2::int, $3, to_timestamp($4::float8 / 1000), $5::int, $6::int,"
    "         $7::bool, $8::int, $9::reconcile_status, $10)"
    " RETURNING run_id";
static const char s_items_sql[] =
    "INSERT INTO reconcile_discrepancies (run_id, day, platform, kind, dispatch_key, order_id,"
    "                                     store_id, our_fee_cents, their_fee_cents, detail)"
    " SELECT $1::int8, $2::date, $3, t.kind, t.dkey, t.order_id, t.store_id, t.ours, t.theirs,"
    "        t.detail"
    "   FROM unnest($4::reconcile_kind[], $5::text[], $6::text[], $7::int8[], $8::int8[],"
    "               $9::int8[], $10::text[])"
    "     AS t(kind, dkey, order_id, store_id, ours, theirs, detail)";

static reconcile_end_t s_end(const char *state)
{
    if (strcmp(state, "DELIVERED") == 0)
        return RECONCILE_END_DELIVERED;
    if (strcmp(state, "CANCELLED") == 0)
        return RECONCILE_END_CANCELLED;
    return RECONCILE_END_OTHER;
}

static void s_row(PGresult *res, int r, reconcile_ours_t *o)
{
    o->key = PQgetvalue(res, r, 0);
    o->order_id = PQgetvalue(res, r, 1);
    o->state = PQgetvalue(res, r, 2);
    o->end = s_end(o->state);
    o->store_id = (uint32_t)strtoul(PQgetvalue(res, r, 3), NULL, 10);
    o->has_fee = !PQgetisnull(res, r, 4);
    o->fee_cents = o->has_fee ? (uint32_t)strtoul(PQgetvalue(res, r, 4), NULL, 10) : 0;
    o->in_day = PQgetvalue(res, r, 5)[0] == 't';
}

support_query_status_t reconcile_db_read_ours(support_query_t *db, const char *platform,
                                              const char *day, int32_t utc_offset_minutes,
                                              const adapter_settlement_line_t *theirs,
                                              size_t n_theirs, reconcile_db_ours_t *out)
{
    memset(out, 0, sizeof *out);
    pgarray_t keys = { 0 };
    support_query_status_t st = SUPPORT_QUERY_FAILED;
    for (size_t i = 0; i < n_theirs; i++)
        if (!pgarray_put_text(&keys, theirs[i].key, false))
            goto done;
    const char *key_list = pgarray_finish(&keys);
    if (key_list == NULL)
        goto done;
    char offset[16];
    snprintf(offset, sizeof offset, "%" PRId32, utc_offset_minutes);
    const char *params[] = { platform, day, offset, key_list };
    out->res = support_query_exec(db, "our dispatches of the day", s_ours_sql, 4, params, &st);
    if (out->res == NULL)
        goto done;
    int rows = PQntuples(out->res);
    out->rows = calloc(rows > 0 ? (size_t)rows : 1, sizeof *out->rows);
    if (out->rows == NULL) {
        st = SUPPORT_QUERY_FAILED;
        goto done;
    }
    for (int r = 0; r < rows; r++)
        s_row(out->res, r, &out->rows[r]);
    out->count = (size_t)rows;
done:
    pgarray_free(&keys);
    return st;
}

void reconcile_db_ours_clear(reconcile_db_ours_t *o)
{
    if (o == NULL)
        return;
    PQclear(o->res);
    free(o->rows);
    memset(o, 0, sizeof *o);
}

/* Columns of the discrepancies' unnest, in s_items_sql's order. */
enum { S_KIND, S_KEY, S_ORDER, S_STORE, S_OURS, S_THEIRS, S_DETAIL, S_COLS };

static bool s_put_fee(pgarray_t *a, bool has, uint32_t cents)
{
    return has ? pgarray_put_fmt(a, "%" PRIu32, cents) : pgarray_put_raw(a, "NULL", 4);
}

static bool s_put_item(pgarray_t *col, const reconcile_item_t *it)
{
    return pgarray_put_text(&col[S_KIND], reconcile_kind_name(it->kind), false) &&
           pgarray_put_text(&col[S_KEY], it->key, false) &&
           pgarray_put_text(&col[S_ORDER], it->order_id, true) &&
           (it->store_id ? pgarray_put_fmt(&col[S_STORE], "%" PRIu32, it->store_id)
                         : pgarray_put_raw(&col[S_STORE], "NULL", 4)) &&
           s_put_fee(&col[S_OURS], it->has_our_fee, it->our_fee_cents) &&
           s_put_fee(&col[S_THEIRS], it->has_their_fee, it->their_fee_cents) &&
           pgarray_put_text(&col[S_DETAIL], it->detail, true);
}

/* s_store_items inserts the result's discrepancies under RUN_ID. */
static support_query_status_t s_store_items(support_query_t *db, const reconcile_db_run_t *run,
                                            const char *run_id)
{
    pgarray_t col[S_COLS] = { { 0 } };
    const char *params[3 + S_COLS] = { run_id, run->day, run->platform };
    support_query_status_t st = SUPPORT_QUERY_FAILED;
    for (size_t i = 0; i < run->result->item_count; i++)
        if (!s_put_item(col, &run->result->items[i]))
            goto done;
    for (int c = 0; c < S_COLS; c++)
        if ((params[3 + c] = pgarray_finish(&col[c])) == NULL)
            goto done;
    PGresult *res = support_query_exec(db, "or write reconcile_discrepancies", s_items_sql,
                                       3 + S_COLS, params, &st);
    PQclear(res);
done:
    for (int c = 0; c < S_COLS; c++)
        pgarray_free(&col[c]);
    return st;
}

static const char *s_status(const reconcile_db_run_t *run)
{
    if (run->result == NULL)
        return "FAILED";
    return run->result->item_count > 0 ? "DISCREPANCIES" : "CLEAN";
}

/* s_store_run inserts the run row and, for a fetched report, replaces the
 * day's discrepancies; inside the caller's transaction. */
static support_query_status_t s_store_run(support_query_t *db, const reconcile_db_run_t *run)
{
    char offset[16], started[24], theirs[24], ours[24], items[24];
    bool fetched = run->result != NULL;
    snprintf(offset, sizeof offset, "%" PRId32, run->utc_offset_minutes);
    snprintf(started, sizeof started, "%" PRIu64, run->started_at_ms);
    snprintf(theirs, sizeof theirs, "%zu", run->lines_theirs);
    snprintf(ours, sizeof ours, "%zu", run->lines_ours);
    snprintf(items, sizeof items, "%zu", fetched ? run->result->item_count : 0);
    support_query_status_t st = SUPPORT_QUERY_OK;
    if (fetched) {
        const char *del[] = { run->day, run->platform };
        PQclear(support_query_exec(db, "or write reconcile_discrepancies", s_delete_sql, 2, del,
                                   &st));
        if (st != SUPPORT_QUERY_OK)
            return st;
    }
    const char *params[] = { run->day,  offset,
                             run->platform, started,
                             fetched ? theirs : NULL, fetched ? ours : NULL,
                             fetched ? (run->final ? "true" : "false") : NULL,
                             fetched ? items : NULL, s_status(run),
                             run->error };
    PGresult *res = support_query_exec(db, "or write reconcile_runs", s_run_sql, 10, params, &st);
    if (res == NULL)
        return st;
    if (fetched)
        st = s_store_items(db, run, PQgetvalue(res, 0, 0));
    PQclear(res);
    return st;
}

support_query_status_t reconcile_db_store(support_query_t *db, const reconcile_db_run_t *run)
{
    support_query_status_t st = support_query_command(db, "or write the reconciliation", "BEGIN");
    if (st != SUPPORT_QUERY_OK)
        return st;
    st = s_store_run(db, run);
    if (st == SUPPORT_QUERY_OK)
        st = support_query_command(db, "or write the reconciliation", "COMMIT");
    if (st != SUPPORT_QUERY_OK)
        support_query_rollback(db);
    return st;
}
