/* rawbench.c - sluice-rawbench: the client-side limit of durable order inserts
 * on this machine. It writes the same rows with the same statement and the
 * same batching as sluiced's group commit (daemon/batch.c builds them),
 * straight through libpq, on as many connections as sluiced commits on
 * (--connections, daemon.db_connections): each connection has one batch in
 * flight and the next is built while they wait, in one thread, as in the
 * daemon. It prints rows per second. `make bench` sets it beside PostgreSQL's
 * own ceiling (tools/bench/ceiling.sql) and sluiced's figures of the same run. */
#include "batch.h"
#include "clock.h"
#include "order.h"

#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RAW_CONNECTIONS_MAX 8

/* One connection and the batch it has in flight. */
typedef struct raw_conn {
    PGconn *conn;
    order_entry_t *entries;   /* the batch's rows (batch_t points at them) */
    batch_t *batch;           /* in flight, NULL when idle */
    long rows;
    uint64_t sent_us;
    bool flushing;            /* PQflush said 1: the rest of the statement waits for POLLOUT */
} raw_conn_t;

/* What every connection shares: the order template and the counters. */
typedef struct raw {
    batch_queue_t queue;
    Sluice__V1__SubmitOrder order;
    char prefix[40];
    long batch_size, count, queued, written;
    uint64_t commit_us_total, commit_us_max;
    long commits;
} raw_t;

static void s_usage(FILE *out)
{
    fprintf(out, "usage: sluice-rawbench --dsn CONNINFO [--batch N] [--count N] [--items K]\n"
                 "                       [--connections C]\n"
                 "  writes COUNT orders in commits of BATCH rows on C connections at once\n"
                 "  (defaults 200000, 1000, 2 items, 1 connection)\n");
}

static bool s_open(raw_conn_t *c, const char *dsn, long batch_size)
{
    c->conn = PQconnectdb(dsn);
    c->entries = calloc((size_t)batch_size, sizeof *c->entries);
    if (PQstatus(c->conn) != CONNECTION_OK || !c->entries) {
        fprintf(stderr, "sluice-rawbench: failed to connect: %s", PQerrorMessage(c->conn));
        return false;
    }
    /* The session sluiced's db module sets up: same settings, same plan. */
    PGresult *setup = PQexec(c->conn, "SET synchronous_commit TO on;"
                                      "SET plan_cache_mode TO force_generic_plan; SET jit TO off");
    ExecStatusType setup_status = PQresultStatus(setup);
    PQclear(setup);
    setup = PQprepare(c->conn, "insert_batch", batch_insert_sql, BATCH_COLUMNS, NULL);
    bool ok = setup_status == PGRES_COMMAND_OK && PQresultStatus(setup) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "sluice-rawbench: failed to prepare: %s", PQerrorMessage(c->conn));
    PQclear(setup);
    return ok && PQsetnonblocking(c->conn, 1) == 0;
}

/* s_send builds the next batch and sends it on C; false on failure. */
static bool s_send(raw_t *r, raw_conn_t *c)
{
    long n = r->count - r->queued < r->batch_size ? r->count - r->queued : r->batch_size;
    uint64_t now_ms = clock_wall_ms();
    Sluice__V1__SubmitOrder *o = &r->order;
    for (long i = 0; i < n; i++) {
        order_entry_t *e = &c->entries[i];
        long seq = r->queued + i;
        snprintf(e->order_id, sizeof e->order_id, "%s-%ld", r->prefix, seq);
        o->store_id = 1001 + (uint32_t)(seq % 100);
        o->created_at_ms = now_ms;
        e->fingerprint = order_fingerprint(o);
        e->promised_ready_at_ms = now_ms + 150000;
        e->promised_delivery_at_ms = now_ms + 1650000;
        if (!batch_queue_add(&r->queue, e, o)) {
            fprintf(stderr, "sluice-rawbench: out of memory\n");
            return false;
        }
    }
    batch_t *b = batch_queue_pop(&r->queue);
    const char *values[BATCH_COLUMNS];
    if (!batch_params(b, values)) {
        fprintf(stderr, "sluice-rawbench: out of memory\n");
        batch_queue_release(&r->queue, b);
        return false;
    }
    c->sent_us = clock_mono_us();
    int flushed = -1;
    if (!PQsendQueryPrepared(c->conn, "insert_batch", BATCH_COLUMNS, values, NULL, NULL, 0) ||
        (flushed = PQflush(c->conn)) < 0) {
        fprintf(stderr, "sluice-rawbench: failed to send: %s", PQerrorMessage(c->conn));
        batch_queue_release(&r->queue, b);
        return false;
    }
    c->flushing = flushed == 1;
    c->batch = b;
    c->rows = n;
    r->queued += n;
    return true;
}

/* s_collect reads what C's server sent; when its statement has ended, checks
 * it and makes C idle. False on failure. */
static bool s_collect(raw_t *r, raw_conn_t *c)
{
    int flushed = PQflush(c->conn);
    if (flushed < 0 || !PQconsumeInput(c->conn)) {
        fprintf(stderr, "sluice-rawbench: connection lost: %s", PQerrorMessage(c->conn));
        return false;
    }
    c->flushing = flushed == 1;
    bool ok = true;
    while (c->batch && !PQisBusy(c->conn)) {
        PGresult *res = PQgetResult(c->conn);
        if (!res) {
            uint64_t took = clock_mono_us() - c->sent_us;
            r->commit_us_total += took;
            if (took > r->commit_us_max)
                r->commit_us_max = took;
            r->commits++;
            r->written += c->rows;
            batch_queue_release(&r->queue, c->batch);
            c->batch = NULL;
            break;
        }
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != c->rows) {
            fprintf(stderr, "sluice-rawbench: failed to insert: %s", PQresultErrorMessage(res));
            ok = false;
        }
        PQclear(res);
    }
    return ok;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"dsn", required_argument, NULL, 'd'}, {"batch", required_argument, NULL, 'b'},
        {"count", required_argument, NULL, 'n'}, {"items", required_argument, NULL, 'i'},
        {"connections", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dsn = NULL;
    long items_per_order = 2, connections = 1;
    raw_t r = {.batch_size = 1000, .count = 200000};
    int opt;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'd': dsn = optarg; break;
        case 'b': r.batch_size = atol(optarg); break;
        case 'n': r.count = atol(optarg); break;
        case 'i': items_per_order = atol(optarg); break;
        case 'c': connections = atol(optarg); break;
        case 'h': s_usage(stdout); return 0;
        default: s_usage(stderr); return 2;
        }
    }
    if (!dsn || r.batch_size < 1 || r.count < 1 || items_per_order < 1 ||
        items_per_order > ORDER_ITEMS_MAX || connections < 1 || connections > RAW_CONNECTIONS_MAX) {
        s_usage(stderr);
        return 2;
    }

    int rc = 1;
    raw_conn_t conns[RAW_CONNECTIONS_MAX] = {{0}};
    batch_queue_init(&r.queue, (size_t)r.batch_size);
    for (long i = 0; i < connections; i++)
        if (!s_open(&conns[i], dsn, r.batch_size))
            goto done;

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
    sluice__v1__submit_order__init(&r.order);
    r.order.n_items = (size_t)items_per_order;
    r.order.items = items;
    r.order.dropoff = &geo;
    r.order.voucher_id = "";
    r.order.customer_ref = "";
    snprintf(r.prefix, sizeof r.prefix, "raw-%d-%" PRIu64, (int)getpid(), clock_wall_ms());

    uint64_t start = clock_mono_us();
    while (r.written < r.count) {
        struct pollfd pfds[RAW_CONNECTIONS_MAX];
        for (long i = 0; i < connections; i++) {
            raw_conn_t *c = &conns[i];
            if (!c->batch && r.queued < r.count && !s_send(&r, c))
                goto done;
            pfds[i] = (struct pollfd){.fd = c->batch ? PQsocket(c->conn) : -1,
                                      .events = (short)(POLLIN | (c->flushing ? POLLOUT : 0))};
        }
        if (poll(pfds, (nfds_t)connections, -1) < 0)
            continue;
        for (long i = 0; i < connections; i++)
            if (pfds[i].revents && !s_collect(&r, &conns[i]))
                goto done;
    }
    double secs = (double)(clock_mono_us() - start) / 1e6;
    printf("raw inserts: %ld orders in %ld commits of %ld on %ld connection%s: %.0f orders/s, "
           "commit %.2f ms mean, %.2f ms max\n",
           r.count, r.commits, r.batch_size, connections, connections == 1 ? "" : "s",
           (double)r.count / secs, (double)r.commit_us_total / 1000.0 / (double)r.commits,
           (double)r.commit_us_max / 1000.0);
    printf("RESULT rows=%ld batch=%ld connections=%ld rows_per_s=%.0f elapsed_s=%.3f\n", r.count,
           r.batch_size, connections, (double)r.count / secs, secs);
    rc = 0;
done:
    for (long i = 0; i < connections; i++) {
        batch_free(conns[i].batch);
        free(conns[i].entries);
        PQfinish(conns[i].conn);
    }
    batch_queue_clear(&r.queue);
    return rc;
}
