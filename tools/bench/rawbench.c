/* rawbench.c - sluice-rawbench: the physical limit of durable order inserts
 * on this machine. It writes the same rows with the same statement and the
 * same batching as sluiced's group commit, straight through libpq, one commit
 * after another, and prints rows per second. `make bench` sets it beside
 * sluiced's figures from the same run. */
#include "batch.h"
#include "clock.h"
#include "order.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void s_usage(FILE *out)
{
    fprintf(out, "usage: sluice-rawbench --dsn CONNINFO [--batch N] [--count N] [--items K]\n"
                 "  writes COUNT orders in commits of BATCH rows (defaults 200000, 1000, 2)\n");
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"dsn", required_argument, NULL, 'd'}, {"batch", required_argument, NULL, 'b'},
        {"count", required_argument, NULL, 'n'}, {"items", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *dsn = NULL;
    long batch_size = 1000, count = 200000, items_per_order = 2;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'd': dsn = optarg; break;
        case 'b': batch_size = atol(optarg); break;
        case 'n': count = atol(optarg); break;
        case 'i': items_per_order = atol(optarg); break;
        case 'h': s_usage(stdout); return 0;
        default: s_usage(stderr); return 2;
        }
    }
    if (!dsn || batch_size < 1 || count < 1 || items_per_order < 1 ||
        items_per_order > ORDER_ITEMS_MAX) {
        s_usage(stderr);
        return 2;
    }

    int rc = 1;
    PGconn *conn = PQconnectdb(dsn);
    order_entry_t *entries = calloc((size_t)batch_size, sizeof *entries);
    batch_queue_t queue;
    batch_queue_init(&queue, (size_t)batch_size);
    if (PQstatus(conn) != CONNECTION_OK || !entries) {
        fprintf(stderr, "sluice-rawbench: failed to connect: %s", PQerrorMessage(conn));
        goto done;
    }
    /* The session sluiced's db module sets up: same settings, same plan. */
    PGresult *setup = PQexec(conn, "SET synchronous_commit TO on;"
                                   "SET plan_cache_mode TO force_generic_plan; SET jit TO off");
    ExecStatusType setup_status = PQresultStatus(setup);
    PQclear(setup);
    setup = PQprepare(conn, "insert_batch", batch_insert_sql, BATCH_COLUMNS, NULL);
    if (setup_status != PGRES_COMMAND_OK || PQresultStatus(setup) != PGRES_COMMAND_OK) {
        fprintf(stderr, "sluice-rawbench: failed to prepare: %s", PQerrorMessage(conn));
        PQclear(setup);
        goto done;
    }
    PQclear(setup);

    /* The same order shape as sluice-load sends. */
    Sluice__V1__Item item_storage[ORDER_ITEMS_MAX];
    Sluice__V1__Item *items[ORDER_ITEMS_MAX];
    char skus[ORDER_ITEMS_MAX][32];
    for (long i = 0; i < items_per_order; i++) {
        sluice__v1__item__init(&item_storage[i]);
        snprintf(skus[i], sizeof skus[i], "sku-%ld", i);
        item_storage[i].sku = skus[i];
        item_storage[i].quantity = 1;
        items[i] = &item_storage[i];
    }
    Sluice__V1__Geo geo = SLUICE__V1__GEO__INIT;
    geo.lat = 30.28;
    geo.lng = 120.15;
    Sluice__V1__SubmitOrder o = SLUICE__V1__SUBMIT_ORDER__INIT;
    o.n_items = (size_t)items_per_order;
    o.items = items;
    o.dropoff = &geo;
    o.voucher_id = "";
    o.customer_ref = "";

    char prefix[40];
    snprintf(prefix, sizeof prefix, "raw-%d-%" PRIu64, (int)getpid(), clock_wall_ms());
    uint64_t start = clock_mono_us(), commit_us_max = 0;
    long written = 0;
    while (written < count) {
        long n = count - written < batch_size ? count - written : batch_size;
        uint64_t now_ms = clock_wall_ms();
        for (long i = 0; i < n; i++) {
            order_entry_t *e = &entries[i];
            snprintf(e->order_id, sizeof e->order_id, "%s-%ld", prefix, written + i);
            o.store_id = 1001 + (uint32_t)((written + i) % 100);
            o.created_at_ms = now_ms;
            e->fingerprint = order_fingerprint(&o);
            e->promised_ready_at_ms = now_ms + 150000;
            e->promised_delivery_at_ms = now_ms + 1650000;
            if (!batch_queue_add(&queue, e, &o)) {
                fprintf(stderr, "sluice-rawbench: out of memory\n");
                goto done;
            }
        }
        batch_t *b = batch_queue_pop(&queue);
        const char *values[BATCH_COLUMNS];
        if (!batch_params(b, values)) {
            fprintf(stderr, "sluice-rawbench: out of memory\n");
            batch_queue_release(&queue, b);
            goto done;
        }
        uint64_t t0 = clock_mono_us();
        PGresult *res = PQexecPrepared(conn, "insert_batch", BATCH_COLUMNS, values, NULL, NULL, 0);
        uint64_t took = clock_mono_us() - t0;
        if (took > commit_us_max)
            commit_us_max = took;
        batch_queue_release(&queue, b);
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != n) {
            fprintf(stderr, "sluice-rawbench: failed to insert: %s", PQresultErrorMessage(res));
            PQclear(res);
            goto done;
        }
        PQclear(res);
        written += n;
    }
    double secs = (double)(clock_mono_us() - start) / 1e6;
    long batches = (count + batch_size - 1) / batch_size;
    printf("raw inserts: %ld orders in %ld commits of %ld: %.0f orders/s, "
           "commit %.2f ms mean, %.2f ms max\n",
           count, batches, batch_size, (double)count / secs, secs * 1000.0 / (double)batches,
           (double)commit_us_max / 1000.0);
    printf("RESULT rows=%ld batch=%ld rows_per_s=%.0f elapsed_s=%.3f\n", count, batch_size,
           (double)count / secs, secs);
    rc = 0;
done:
    batch_queue_clear(&queue);
    free(entries);
    PQfinish(conn);
    return rc;
}
