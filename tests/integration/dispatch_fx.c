/* dispatch_fx.c - the dispatch integration tests' fixture (dispatch_fx.h). */
#include "dispatch_fx.h"

#include "proc.h"

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <zmq.h>

/* ---- fixture -------------------------------------------------------------- */


int dfx_setup(void **state)
{
    dfx_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    void *hs = NULL;
    harness_setup(&hs);
    f->h = hs;
    *state = f;
    return 0;
}

int dfx_teardown(void **state)
{
    dfx_t *f = *state;
    if (f == NULL)
        return 0;
    for (size_t i = 0; i < f->nsims; i++) {
        if (f->h && !f->h->passed && f->sims[i].log[0])
            sim_proc_dump_log(&f->sims[i]);
        sim_proc_kill(&f->sims[i]);
    }
    void *hs = f->h;
    harness_teardown(&hs);
    free(f);
    *state = NULL;
    return 0;
}

/* dfx_finish stops the daemon and the simulators, each expected to exit 0
 * (under SAN=1 that includes no leaks: the daemon may still hold dispatch
 * jobs), and marks the test passed. */
void dfx_finish(dfx_t *f)
{
    harness_client_destroy(&f->cl);
    int rc = harness_stop(f->h, 15000);
    if (rc != 0)
        fail_msg("sluiced exited %d on SIGTERM", rc);
    for (size_t i = 0; i < f->nsims; i++) {
        rc = sim_proc_stop(&f->sims[i]);
        if (rc != 0)
            fail_msg("sluice-sim %s exited %d", f->names[i], rc);
    }
    harness_pass(f->h);
}

/* dfx_sim starts simulator NAME (its own directory, log and ledger) with
 * EXTRA arguments after the common ones. */
sim_proc_t *dfx_sim(dfx_t *f, const char *name, const char *const *extra)
{
    assert_true(f->nsims < DFX_SIMS_MAX);
    size_t i = f->nsims;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%s", f->h->tmpdir, name);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        fail_msg("mkdir %s: %s", dir, strerror(errno));
    static char seeds[DFX_SIMS_MAX][8];
    snprintf(seeds[i], sizeof seeds[i], "%zu", i + 11);
    const char *argv[32] = {"--name", name, "--time-scale", DFX_TIME_SCALE, "--seed", seeds[i]};
    size_t n = 6;
    for (size_t k = 0; extra && extra[k]; k++) {
        assert_true(n + 1 < 32);
        argv[n++] = extra[k];
    }
    argv[n] = NULL;
    snprintf(f->names[i], sizeof f->names[i], "%s", name);
    f->nsims++;
    sim_proc_start(&f->sims[i], f->h->zctx, dir, NULL, argv);
    return &f->sims[i];
}

/* ---- config text ------------------------------------------------------------ */


void dfx_text_add(dfx_text_t *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, sizeof t->buf - t->len, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof t->buf - t->len);
    t->len += (size_t)n;
}


dfx_plat_t dfx_plat_defaults(void)
{
    /* Generous for a loaded 2-core machine (and ASan): a breaker that opens
     * only when a platform is truly gone. */
    return (dfx_plat_t){.timeout_ms = 2000, .quote_deadline_ms = 1000, .max_inflight = 1000,
                    .failure_ratio = 0.5, .slow_ms = 2000, .min_requests = 1000,
                    .open_seconds = 10, .window_seconds = 10};
}

void dfx_platform(dfx_text_t *t, const dfx_t *f, size_t i, const dfx_plat_t *p)
{
    dfx_text_add(t,
          "%s  { name = \"%s\"; adapter = \"zmq\"; endpoint = \"%s\"; timeout_ms = %d;"
          " quote_deadline_ms = %d; max_inflight = %d;\n"
          "    breaker = { failure_ratio = %g; slow_ms = %d; min_requests = %d;"
          " open_seconds = %d; window_seconds = %d; }; }",
          t->len ? ",\n" : "", f->names[i], f->sims[i].gateway, p->timeout_ms,
          p->quote_deadline_ms, p->max_inflight, p->failure_ratio, p->slow_ms, p->min_requests,
          p->open_seconds, p->window_seconds);
}


dfx_disp_t dfx_disp_defaults(void)
{
    return (dfx_disp_t){.margin = DFX_MARGIN_S, .pickup_eta = DFX_PICKUP_ETA_S, .assign_timeout = 20,
                    .retry = 1, .max_hold = 5, .item_seconds = DFX_ITEM_SECONDS,
                    .order_seconds = DFX_ORDER_SECONDS};
}

/* dfx_body: the dispatch section, the probe store and STORES (lines of
 * "id:platform,platform"), all at the simulators' centre. */
void dfx_body(dfx_text_t *t, const dfx_disp_t *d, const char *const *stores)
{
    dfx_text_add(t,
          "dispatch = { margin_seconds = %d; pickup_eta_seconds = %d;"
          " assign_timeout_seconds = %d; retry_seconds = %d; max_hold_minutes = %d;"
          " handoff_seconds = 60; rider_kmh = 15.0; stuck_minutes = %d; };\n",
          d->margin, d->pickup_eta, d->assign_timeout, d->retry, d->max_hold,
          d->stuck_minutes ? d->stuck_minutes : 30);
    dfx_text_add(t,
          "stores = (\n"
          "  { id = %d; name = \"probe\"; location = [30.27, 120.03]; prep_slots = 1000;"
          " item_seconds = 1; max_wait_minutes = 600; max_queue = 100000; }",
          HARNESS_FIRST_STORE);
    for (size_t i = 0; stores[i]; i++) {
        unsigned id = (unsigned)strtoul(stores[i], NULL, 10);
        const char *list = strchr(stores[i], ':') + 1;
        dfx_text_add(t,
              ",\n  { id = %u; name = \"store %u\"; location = [30.27, 120.03]; prep_slots = 1000;"
              " item_seconds = %d; order_seconds = %d; max_wait_minutes = 60;"
              " max_queue = 100000; platforms = [",
              id, id, d->item_seconds, d->order_seconds);
        for (const char *p = list; *p;) {
            size_t n = strcspn(p, ",");
            dfx_text_add(t, "%s\"%.*s\"", p == list ? "" : ", ", (int)n, p);
            p += n + (p[n] == ',');
        }
        dfx_text_add(t, "]; }");
    }
    dfx_text_add(t, "\n);\n");
}

/* dfx_boot writes the config (platform I of the fixture with PLATS[I]) and
 * starts the daemon, then opens the test's client. */
void dfx_boot(dfx_t *f, const dfx_plat_t *plats, const dfx_disp_t *d, const char *const *stores)
{
    dfx_text_t *pl = calloc(1, sizeof *pl), *body = calloc(1, sizeof *body);
    assert_true(pl && body);
    for (size_t i = 0; i < f->nsims; i++)
        dfx_platform(pl, f, i, &plats[i]);
    dfx_body(body, d, stores);
    harness_boot_platforms(f->h, NULL, pl->buf, body->buf);
    free(pl);
    free(body);
    f->cl = harness_client_new(f->h, ZMQ_DEALER);
}

/* ---- orders --------------------------------------------------------------- */

void dfx_order_id(char *buf, size_t len, const char *prefix, size_t i)
{
    snprintf(buf, len, "%s-%zu", prefix, i);
}

/* dfx_submit sends one order and expects it ACCEPTED. */
void dfx_submit(dfx_t *f, const char *id, uint32_t store)
{
    harness_order_t *o = malloc(sizeof *o);
    assert_non_null(o);
    harness_order_fill(o, id, store);
    Sluice__V1__Reply *r = harness_submit(f->cl, o, DFX_REPLY_MS);
    char what[160];
    snprintf(what, sizeof what, "order %s to store %u", id, store);
    harness_expect_ack(r, SLUICE__V1__DECISION__ACCEPTED, SLUICE__V1__REASON__REASON_NONE, what);
    harness_reply_free(&r);
    free(o);
}

/* dfx_submit_many sends N orders PREFIX-0.. over STORES in turn, pipelined,
 * and expects every one ACCEPTED. */
void dfx_submit_many(dfx_t *f, const char *prefix, size_t n, const uint32_t *stores,
                          size_t nstores)
{
    harness_order_t *o = malloc(sizeof *o);
    assert_non_null(o);
    uint64_t *ids = calloc(n, sizeof *ids);
    assert_non_null(ids);
    for (size_t i = 0; i < n; i++) {
        char id[64];
        dfx_order_id(id, sizeof id, prefix, i);
        harness_order_fill(o, id, stores[i % nstores]);
        ids[i] = harness_send_submit(f->cl, o);
    }
    for (size_t i = 0; i < n; i++) {
        Sluice__V1__Reply *r = harness_recv_for(f->cl, ids[i], DFX_REPLY_MS);
        char what[96];
        snprintf(what, sizeof what, "order %s-%zu", prefix, i);
        harness_expect_ack(r, SLUICE__V1__DECISION__ACCEPTED, SLUICE__V1__REASON__REASON_NONE,
                           what);
        harness_reply_free(&r);
    }
    free(ids);
    free(o);
}

/* ---- the database ------------------------------------------------------------ */

/* dfx_query runs SQL with text parameters; the caller PQclears. */
PGresult *dfx_query(dfx_t *f, const char *sql, int nparams, const char *const *params)
{
    PGresult *res = PQexecParams(harness_db(f->h), sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(harness_db(f->h)));
        PQclear(res);
        fail_msg("query failed: %s\n%s", msg, sql);
    }
    return res;
}

/* dfx_count_like: rows of SQL with $1 = PREFIX || '-%' (a LIKE pattern). */
long dfx_count_like(dfx_t *f, const char *sql, const char *prefix)
{
    char like[80];
    snprintf(like, sizeof like, "%s-%%", prefix);
    long n = harness_db_count(f->h, sql, 1, like);
    if (n < 0)
        fail_msg("query failed: %s", sql);
    return n;
}

/* Orders of PREFIX with more than one attempt not yet ended: never allowed. */
static const char dfx_doubles_sql[] =
    "SELECT count(*) FROM (SELECT order_id FROM dispatches WHERE order_id LIKE $1 AND " DFX_LIVE_SQL
    " GROUP BY order_id HAVING count(*) > 1) x";

void dfx_no_double_live(dfx_t *f, const char *prefix, const char *when)
{
    long doubles = dfx_count_like(f, dfx_doubles_sql, prefix);
    if (doubles != 0) {
        char like[80];
        snprintf(like, sizeof like, "%s-%%", prefix);
        const char *params[] = {like};
        PGresult *res = dfx_query(f,
                                "SELECT string_agg(dispatch_key || ' ' || platform || ' ' || "
                                "state, ', ' ORDER BY dispatch_key) FROM dispatches WHERE "
                                "order_id LIKE $1 AND " DFX_LIVE_SQL,
                                1, params);
        fail_msg("%s: %ld orders have two attempts not yet ended: %s", when, doubles,
                 PQgetvalue(res, 0, 0));
    }
}

/* dfx_describe_unfinished lists orders of PREFIX not in a terminal state,
 * with their attempts, for a failure message (static buffer). */
const char *dfx_describe_unfinished(dfx_t *f, const char *prefix)
{
    static char out[4096];
    char like[80];
    snprintf(like, sizeof like, "%s-%%", prefix);
    const char *params[] = {like};
    PGresult *res = dfx_query(
        f,
        "SELECT o.order_id || ' ' || o.state || ' [' || coalesce((SELECT string_agg("
        "d.dispatch_key || ' ' || d.platform || ' ' || d.state, ', ' ORDER BY d.attempt)"
        " FROM dispatches d WHERE d.order_id = o.order_id), '') || '] last: ' ||"
        " coalesce((SELECT e.detail FROM order_events e WHERE e.order_id = o.order_id"
        " ORDER BY e.event_id DESC LIMIT 1), '')"
        " FROM orders o WHERE o.order_id LIKE $1 AND NOT order_state_is_terminal(o.state)"
        " ORDER BY o.order_id LIMIT 12",
        1, params);
    size_t len = 0;
    out[0] = '\0';
    for (int r = 0; r < PQntuples(res) && len + 1 < sizeof out; r++) {
        int n = snprintf(out + len, sizeof out - len, "\n  %s", PQgetvalue(res, r, 0));
        if (n < 0)
            break;
        len += (size_t)n < sizeof out - len ? (size_t)n : sizeof out - len - 1;
    }
    PQclear(res);
    return out;
}

/* dfx_wait_done polls until all N orders of PREFIX are DELIVERED (or, with
 * ANY_END, in any terminal state), checking on every poll that no order
 * has two live attempts. */
void dfx_wait_done(dfx_t *f, const char *prefix, long n, bool any_end, int timeout_ms)
{
    const char *sql = any_end ? "SELECT count(*) FROM orders WHERE order_id LIKE $1 AND "
                                "order_state_is_terminal(state)"
                              : "SELECT count(*) FROM orders WHERE order_id LIKE $1 AND state = "
                                "'DELIVERED'";
    uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
    long done = 0;
    for (;;) {
        done = dfx_count_like(f, sql, prefix);
        dfx_no_double_live(f, prefix, "while orders rode");
        if (done == n) {
            fprintf(stderr, "dispatch: %ld orders %s %" PRIu64 " ms into the wait\n", n,
                    any_end ? "ended" : "DELIVERED",
                    harness_now_ms() + (uint64_t)timeout_ms - deadline);
            return;
        }
        if (harness_now_ms() > deadline)
            break;
        if (!harness_daemon_alive(f->h))
            fail_msg("sluiced died while orders rode");
        harness_nap_ms(100);
    }
    fail_msg("%ld of %ld orders %s after %d ms; the others:%s", done, n,
             any_end ? "ended" : "DELIVERED", timeout_ms, dfx_describe_unfinished(f, prefix));
}

/* dfx_check_attempts: every order of PREFIX has exactly one DELIVERED attempt
 * and none still live. */
void dfx_check_attempts(dfx_t *f, const char *prefix, long n)
{
    long ok = dfx_count_like(f,
                           "SELECT count(*) FROM orders o WHERE o.order_id LIKE $1 AND"
                           " (SELECT count(*) FROM dispatches d WHERE d.order_id = o.order_id"
                           "   AND d.state = 'DELIVERED') = 1 AND"
                           " (SELECT count(*) FROM dispatches d WHERE d.order_id = o.order_id"
                           "   AND dispatch_state_is_live(d.state)) = 0",
                           prefix);
    if (ok != n)
        fail_msg("%ld of %ld orders have exactly one DELIVERED attempt and no live one", ok, n);
}

/* ---- ledgers -------------------------------------------------------------------- */


/* dfx_ledger_read parses PATH (sim_ledger.h); returns the records (malloc'ed). */
dfx_lrec_t *dfx_ledger_read(const char *path, size_t *count)
{
    FILE *fp = fopen(path, "r");
    size_t n = 0, cap = 64;
    dfx_lrec_t *recs = malloc(cap * sizeof *recs);
    assert_non_null(recs);
    char line[512];
    while (fp && fgets(line, sizeof line, fp)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        line[strcspn(line, "\n")] = '\0';
        char *field[7] = {0};
        char *save = NULL, *p = line;
        for (int k = 0; k < 7; k++, p = NULL)
            field[k] = strtok_r(p, "\t", &save);
        if (!field[5])
            fail_msg("%s: malformed ledger line", path);
        if (n == cap) {
            recs = realloc(recs, (cap *= 2) * sizeof *recs);
            assert_non_null(recs);
        }
        dfx_lrec_t *r = &recs[n++];
        r->at_ms = strtoull(field[0], NULL, 10);
        snprintf(r->event, sizeof r->event, "%s", field[1]);
        snprintf(r->key, sizeof r->key, "%s", field[2]);
        snprintf(r->order_id, sizeof r->order_id, "%s", field[3]);
        snprintf(r->info, sizeof r->info, "%s", field[6] ? field[6] : "");
    }
    if (fp)
        fclose(fp);
    *count = n;
    return recs;
}

size_t dfx_ledger_count(const sim_proc_t *s, const char *event, const char *info)
{
    size_t n = 0, hits = 0;
    dfx_lrec_t *recs = dfx_ledger_read(s->ledger, &n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(recs[i].event, event) == 0 && (!info || strstr(recs[i].info, info)))
            hits++;
    free(recs);
    return hits;
}

/* dfx_check_ledgers runs `sluice-sim --check-ledger` over every simulator's
 * ledger and fails the test unless it exits 0. */
void dfx_check_ledgers(dfx_t *f)
{
    char out[PATH_MAX];
    snprintf(out, sizeof out, "%s/check-ledger.out", f->h->tmpdir);
    const char *argv[DFX_SIMS_MAX + 3] = {"sluice-sim", "--check-ledger"};
    size_t n = 2;
    for (size_t i = 0; i < f->nsims; i++)
        argv[n++] = f->sims[i].ledger;
    argv[n] = NULL;
    const proc_spec_t spec = { .path = sim_proc_bin(), .argv = argv, .out = out,
                               .truncate = true, .die_with_parent = true };
    int rc = proc_run(&spec, 20000);
    if (rc != 0) {
        char text[4096] = "";
        FILE *fp = fopen(out, "r");
        if (fp) {
            size_t got = fread(text, 1, sizeof text - 1, fp);
            text[got] = '\0';
            fclose(fp);
        }
        fail_msg("sluice-sim --check-ledger exited %d:\n%s", rc, text);
    }
}

/* ---- metrics and log ------------------------------------------------------------- */

/* dfx_metric: the value of the sample SERIES (name and labels, as printed)
 * on /metrics; -1 when it is not there. */
double dfx_metric(dfx_t *f, const char *series)
{
    static char body[262144];
    if (harness_http_get(f->h, "/metrics", body, sizeof body) != 200)
        return -1;
    char needle[160];
    snprintf(needle, sizeof needle, "\n%s ", series);
    const char *at = strstr(body, needle);
    return at ? strtod(at + strlen(needle), NULL) : -1;
}

/* dfx_breaker_metric: sluice_platform_breaker_state of NAME (-1: not found). */
int dfx_breaker_metric(dfx_t *f, const char *name)
{
    char series[96];
    snprintf(series, sizeof series, "sluice_platform_breaker_state{platform=\"%s\"}", name);
    return (int)dfx_metric(f, series);
}

/* dfx_wait_breaker polls /metrics until NAME's breaker shows STATE; returns
 * how long that took (ms) or fails. */
uint64_t dfx_wait_breaker(dfx_t *f, const char *name, int state, int timeout_ms)
{
    uint64_t start = harness_now_ms(), deadline = start + (uint64_t)timeout_ms;
    int seen = -1;
    while ((seen = dfx_breaker_metric(f, name)) != state) {
        if (harness_now_ms() > deadline)
            fail_msg("breaker of %s shows %d on /metrics, not %d, after %d ms", name, seen, state,
                     timeout_ms);
        harness_nap_ms(20);
    }
    return harness_now_ms() - start;
}

