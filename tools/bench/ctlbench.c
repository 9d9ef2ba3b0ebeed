/* ctlbench.c - sluice-ctlbench: how long sluicectl's support reads take on a
 * big database, beside the plain PostgreSQL round trips measured in the same
 * run. tools/bench/bench-ctl.sh fills a throwaway PostgreSQL with 10 million
 * orders and runs this; it prints min / median / max of each measure and
 * one RESULT line (medians) for the script.
 *
 * Measures, each RUNS times after one run that is reported as "first":
 *   - SELECT 1 on an open connection, and connect + SELECT 1 + close;
 *   - support_query_order_read and support_query_store_read on an open connection (the
 *     queries alone);
 *   - the sluicectl process end to end (start, config, connect, queries,
 *     output to /dev/null), as support staff run it;
 *   - with --big-config, the same with a config of many stores (fewer runs:
 *     reading the config is most of it). */
#include "clock.h"
#include "proc.h"
#include "support_query.h"

#include <getopt.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUNS_MAX 200

typedef struct series {
    const char *name;
    const char *key;   /* RESULT field, NULL: not reported there */
    double first;      /* the run before the counted ones, ms */
    double v[RUNS_MAX];
    int n;
} series_t;

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double s_median(const series_t *s)
{
    double sorted[RUNS_MAX];
    memcpy(sorted, s->v, (size_t)s->n * sizeof *sorted);
    qsort(sorted, (size_t)s->n, sizeof *sorted, s_cmp);
    return s->n % 2 ? sorted[s->n / 2] : (sorted[s->n / 2 - 1] + sorted[s->n / 2]) / 2;
}

static void s_report(const series_t *s)
{
    double lo = s->v[0], hi = s->v[0];
    for (int i = 1; i < s->n; i++) {
        lo = s->v[i] < lo ? s->v[i] : lo;
        hi = s->v[i] > hi ? s->v[i] : hi;
    }
    printf("%-58s first %8.2f  min %8.2f  median %8.2f  max %8.2f ms\n", s->name, s->first, lo,
           s_median(s), hi);
}

static double s_ms_since(uint64_t t0_us)
{
    return (double)(clock_mono_us() - t0_us) / 1000.0;
}

/* s_run_process runs ARGV with stdout on /dev/null; the time it took (ms),
 * or -1 when it did not exit 0. */
static double s_run_process(char *const *argv)
{
    const proc_spec_t spec = { .argv = (const char *const *)argv, .out = "/dev/null",
                               .err_inherited = true };
    uint64_t t0 = clock_mono_us();
    int rc = proc_run(&spec, -1);
    double ms = s_ms_since(t0);
    return rc == 0 ? ms : -1;
}

typedef enum { M_SELECT1, M_CONNECT, M_ORDER_QUERY, M_STORE_QUERY, M_PROCESS } measure_t;

typedef struct bench {
    const char *dsn;
    PGconn *conn;
    support_query_t *db;
    const char *order_id;
    uint32_t store_id;
    const char *zone;
} bench_t;

static const char *s_zone(uint32_t store_id, void *arg)
{
    (void)store_id;
    return ((const bench_t *)arg)->zone;
}

/* s_once runs measure M once; the time in ms, -1 on failure. */
static double s_once(bench_t *b, measure_t m, char *const *argv)
{
    uint64_t t0 = clock_mono_us();
    switch (m) {
    case M_SELECT1: {
        PGresult *res = PQexec(b->conn, "SELECT 1");
        bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
        PQclear(res);
        return ok ? s_ms_since(t0) : -1;
    }
    case M_CONNECT: {
        PGconn *c = PQconnectdb(b->dsn);
        PGresult *res = PQexec(c, "SELECT 1");
        bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
        PQclear(res);
        PQfinish(c);
        return ok ? s_ms_since(t0) : -1;
    }
    case M_ORDER_QUERY: {
        support_query_order_t o;
        support_query_status_t st =
            support_query_order_read(b->db, b->order_id, SUPPORT_QUERY_TIMES_TEXT, s_zone, b, &o);
        double ms = s_ms_since(t0);
        support_query_order_clear(&o);
        return st == SUPPORT_QUERY_OK ? ms : -1;
    }
    case M_STORE_QUERY: {
        support_query_store_t s;
        support_query_status_t st = support_query_store_read(b->db, b->store_id, b->zone,
                                                             SUPPORT_QUERY_TIMES_TEXT, &s);
        double ms = s_ms_since(t0);
        support_query_store_clear(&s);
        return st == SUPPORT_QUERY_OK ? ms : -1;
    }
    case M_PROCESS:
        return s_run_process(argv);
    }
    return -1;
}

static bool s_measure(bench_t *b, series_t *s, int runs, measure_t m, char *const *argv)
{
    s->first = s_once(b, m, argv);
    for (s->n = 0; s->n < runs; s->n++)
        if ((s->v[s->n] = s_once(b, m, argv)) < 0)
            break;
    if (s->first < 0 || s->n < runs) {
        fprintf(stderr, "sluice-ctlbench: %s failed%s%s\n", s->name,
                m == M_ORDER_QUERY || m == M_STORE_QUERY ? ": " : "",
                m == M_ORDER_QUERY || m == M_STORE_QUERY ? support_query_error(b->db) : "");
        return false;
    }
    s_report(s);
    return true;
}

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: sluice-ctlbench --dsn CONNINFO --ctl SLUICECTL --config FILE --order ID\n"
            "                       --store ID [--store ID [--store ID]] [--zone ZONE] [--runs N]\n"
            "                       [--big-config FILE [--big-runs N]]\n"
            "  times sluicectl order/store (process and queries) beside SELECT 1 (runs 21)\n");
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        { "dsn", required_argument, NULL, 'd' },   { "ctl", required_argument, NULL, 'x' },
        { "config", required_argument, NULL, 'c' }, { "order", required_argument, NULL, 'o' },
        { "store", required_argument, NULL, 's' }, { "zone", required_argument, NULL, 'z' },
        { "runs", required_argument, NULL, 'r' },  { "help", no_argument, NULL, 'h' },
        { "big-config", required_argument, NULL, 'B' },
        { "big-runs", required_argument, NULL, 'R' },
        { NULL, 0, NULL, 0 },
    };
    bench_t b = { .zone = "Asia/Shanghai" };
    const char *ctl = NULL, *config = NULL, *big = NULL, *stores[3] = { NULL, NULL, NULL };
    int runs = 21, big_runs = 5, nstores = 0, opt;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'd': b.dsn = optarg; break;
        case 'x': ctl = optarg; break;
        case 'c': config = optarg; break;
        case 'o': b.order_id = optarg; break;
        case 's':
            if (nstores < 3)
                stores[nstores++] = optarg;
            break;
        case 'z': b.zone = optarg; break;
        case 'r': runs = atoi(optarg); break;
        case 'B': big = optarg; break;
        case 'R': big_runs = atoi(optarg); break;
        case 'h': s_usage(stdout); return 0;
        default: s_usage(stderr); return 2;
        }
    }
    if (!b.dsn || !ctl || !config || !b.order_id || nstores == 0 || runs < 1 || runs > RUNS_MAX ||
        big_runs < 1 || big_runs > RUNS_MAX) {
        s_usage(stderr);
        return 2;
    }

    int rc = 1;
    b.conn = PQconnectdb(b.dsn);
    b.db = support_query_new(b.dsn);
    if (PQstatus(b.conn) != CONNECTION_OK || b.db == NULL ||
        support_query_connect(b.db) != SUPPORT_QUERY_OK) {
        fprintf(stderr, "sluice-ctlbench: failed to connect: %s", PQerrorMessage(b.conn));
        goto done;
    }

    series_t select1 = { .name = "SELECT 1 round trip (open connection)", .key = "select1_ms" };
    series_t connect = { .name = "connect + SELECT 1 + close (in process)", .key = "connect_ms" };
    series_t q_order = { .name = "order: queries only (open connection)", .key = "order_query_ms" };
    if (!s_measure(&b, &select1, runs, M_SELECT1, NULL) ||
        !s_measure(&b, &connect, runs, M_CONNECT, NULL) ||
        !s_measure(&b, &q_order, runs, M_ORDER_QUERY, NULL))
        goto done;

    char *version[] = { (char *)ctl, "--version", NULL };
    char *order[] = { (char *)ctl, "-c", (char *)config, "order", (char *)b.order_id, NULL };
    char *order_json[] = { (char *)ctl, "-c", (char *)config, "--json", "order",
                           (char *)b.order_id, NULL };
    char *order_db[] = { (char *)ctl, "--database", (char *)b.dsn, "order", (char *)b.order_id,
                         NULL };
    series_t p_version = { .name = "sluicectl --version (process start, no work)",
                           .key = "process_ms" };
    series_t p_order = { .name = "sluicectl -c CONFIG order ID", .key = "order_ms" };
    series_t p_order_json = { .name = "sluicectl -c CONFIG --json order ID",
                              .key = "order_json_ms" };
    series_t p_order_db = { .name = "sluicectl --database DSN order ID (no config)",
                            .key = "order_noconfig_ms" };
    if (!s_measure(&b, &p_version, runs, M_PROCESS, version) ||
        !s_measure(&b, &p_order, runs, M_PROCESS, order) ||
        !s_measure(&b, &p_order_json, runs, M_PROCESS, order_json) ||
        !s_measure(&b, &p_order_db, runs, M_PROCESS, order_db))
        goto done;

    series_t q_store[3], p_store[3];
    char names[6][96];
    static const char *const qkeys[3] = { "store_query_ms", "store2_query_ms", "store3_query_ms" };
    static const char *const pkeys[3] = { "store_ms", "store2_ms", "store3_ms" };
    for (int i = 0; i < nstores; i++) {
        b.store_id = (uint32_t)strtoul(stores[i], NULL, 10);
        snprintf(names[2 * i], sizeof names[0], "store %s: queries only (open connection)",
                 stores[i]);
        snprintf(names[2 * i + 1], sizeof names[0], "sluicectl -c CONFIG store %s", stores[i]);
        q_store[i] = (series_t){ .name = names[2 * i], .key = qkeys[i] };
        p_store[i] = (series_t){ .name = names[2 * i + 1], .key = pkeys[i] };
        char *store[] = { (char *)ctl, "-c", (char *)config, "store", (char *)stores[i], NULL };
        if (!s_measure(&b, &q_store[i], runs, M_STORE_QUERY, NULL) ||
            !s_measure(&b, &p_store[i], runs, M_PROCESS, store))
            goto done;
    }

    series_t big_order = { .name = "sluicectl -c BIG_CONFIG order ID", .key = "big_order_ms" };
    series_t big_store = { .name = "sluicectl -c BIG_CONFIG store ID", .key = "big_store_ms" };
    if (big != NULL) {
        char *order_big[] = { (char *)ctl, "-c", (char *)big, "order", (char *)b.order_id, NULL };
        char *store_big[] = { (char *)ctl, "-c", (char *)big, "store", (char *)stores[0], NULL };
        if (!s_measure(&b, &big_order, big_runs, M_PROCESS, order_big) ||
            !s_measure(&b, &big_store, big_runs, M_PROCESS, store_big))
            goto done;
    }

    const series_t *all[] = { &select1, &connect, &q_order, &p_version, &p_order, &p_order_json,
                              &p_order_db, &q_store[0], &p_store[0],
                              nstores > 1 ? &q_store[1] : NULL, nstores > 1 ? &p_store[1] : NULL,
                              nstores > 2 ? &q_store[2] : NULL, nstores > 2 ? &p_store[2] : NULL,
                              big ? &big_order : NULL, big ? &big_store : NULL };
    printf("RESULT runs=%d", runs);
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i] != NULL)
            printf(" %s=%.2f %s_first=%.2f", all[i]->key, s_median(all[i]), all[i]->key,
                   all[i]->first);
    printf("\n");
    rc = 0;
done:
    support_query_destroy(&b.db);
    PQfinish(b.conn);
    return rc;
}
