/* test_shard.c - a fleet of two shards over the shared PostgreSQL: every
 * node loads every store, takes its own shard's and refuses another's with
 * WRONG_SHARD naming the owner and its endpoints; orders carry their shard,
 * a restart restores only its shard's live orders, and lookups (GetOrder,
 * sluicectl order) answer for any order from the database. A single node
 * (no shard) is as it was: no lease, no shard column written, no shard in
 * its metrics or log lines. */
#include "ctl_proc.h"
#include "node_proc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define READY_MS 30000
#define B_ENDPOINT_1 "tcp://10.0.2.1:7400"
#define B_ENDPOINT_2 "tcp://10.0.2.2:7400"

typedef struct fixture {
    harness_t *h;
    node_proc_t nodes[2];
} fixture_t;

static int s_setup(void **state)
{
    fixture_t *x = calloc(1, sizeof *x);
    assert_non_null(x);
    void *hs = NULL;
    harness_setup(&hs);
    x->h = hs;
    *state = x;
    return 0;
}

static int s_teardown(void **state)
{
    fixture_t *x = *state;
    for (size_t i = 0; i < 2; i++) {
        if (x->nodes[i].log[0] && !x->h->passed)
            node_dump_log(&x->nodes[i]);
        node_kill(&x->nodes[i]);
    }
    void *hs = x->h;
    harness_teardown(&hs);
    free(x);
    *state = NULL;
    return 0;
}

/* s_fleet: the map every node loads: shard a owns stores 1001..1005, shard
 * b 1006..1010 (its endpoints are only named, never reached). */
static const char *s_fleet(void)
{
    static char buf[8192];
    size_t n = (size_t)snprintf(buf, sizeof buf,
                                "shards = (\n"
                                "  { name = \"a\"; endpoints = [\"tcp://10.0.1.1:7400\"]; },\n"
                                "  { name = \"b\"; endpoints = [\"" B_ENDPOINT_1
                                "\", \"" B_ENDPOINT_2 "\"]; }\n"
                                ");\n"
                                "stores = (\n");
    for (int i = 0; i < HARNESS_STORE_COUNT; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n,
                              "  { id = %d; location = [30.27, 120.03]; prep_slots = 1000;"
                              " item_seconds = 1; max_wait_minutes = 600; max_queue = 100000;"
                              " shard = \"%s\"; }%s\n",
                              HARNESS_FIRST_STORE + i, i < 5 ? "a" : "b",
                              i + 1 < HARNESS_STORE_COUNT ? "," : "");
    snprintf(buf + n, sizeof buf - n, ");\n");
    return buf;
}

static void s_boot(node_proc_t *n, harness_t *h, const char *name, const char *shard)
{
    char daemon[256];
    snprintf(daemon, sizeof daemon,
             "shard = \"%s\"; node = \"%s1\"; lease_seconds = 4; db_connections = 1;", shard, name);
    node_write(n, h, name, daemon, NULL, s_fleet());
    const char *args[] = { "-c", n->conf, "--migrate", NULL };
    assert_int_equal(harness_run(h, 60000, args), 0);
    node_start(n);
    if (!node_wait_http(n, "/readyz", 200, "ready", READY_MS)) {
        node_dump_log(n);
        fail_msg("node %s did not serve its shard", name);
    }
}

static Sluice__V1__Reply *s_submit(harness_client_t *c, const char *id, uint32_t store)
{
    harness_order_t o;
    harness_order_fill(&o, id, store);
    Sluice__V1__Reply *r = harness_submit(c, &o, 10000);
    assert_non_null(r);
    return r;
}

/* A node of shard a takes a's stores, refuses b's with WRONG_SHARD naming
 * shard b and its endpoints (in the fields and the detail), and the node of
 * shard b takes them. Each order's row carries its shard; either node
 * answers GetOrder and sluicectl order for the other's order. */
static void test_wrong_shard_redirect(void **state)
{
    fixture_t *x = *state;
    node_proc_t *a = &x->nodes[0], *b = &x->nodes[1];
    s_boot(a, x->h, "a", "a");
    s_boot(b, x->h, "b", "b");
    harness_client_t *ca = node_client(a), *cb = node_client(b);

    Sluice__V1__Reply *r = s_submit(ca, "shard-a-1", HARNESS_FIRST_STORE + 1);
    harness_expect_ack(r, SLUICE__V1__DECISION__ACCEPTED, SLUICE__V1__REASON__REASON_NONE,
                       "a's store at a");
    harness_reply_free(&r);
    r = s_submit(ca, "shard-b-1", HARNESS_FIRST_STORE + 7);
    harness_expect_ack(r, SLUICE__V1__DECISION__REJECTED, SLUICE__V1__REASON__WRONG_SHARD,
                       "b's store at a");
    assert_string_equal(r->ack->shard, "b");
    assert_int_equal(r->ack->n_shard_endpoints, 2);
    assert_string_equal(r->ack->shard_endpoints[0], B_ENDPOINT_1);
    assert_string_equal(r->ack->shard_endpoints[1], B_ENDPOINT_2);
    assert_int_equal(r->ack->retry_after_ms, 0);
    assert_string_equal(r->ack->detail,
                        "store_id: store 1008 belongs to shard b; send it to " B_ENDPOINT_1
                        ", " B_ENDPOINT_2);
    harness_reply_free(&r);
    r = s_submit(cb, "shard-b-1", HARNESS_FIRST_STORE + 7);
    harness_expect_ack(r, SLUICE__V1__DECISION__ACCEPTED, SLUICE__V1__REASON__REASON_NONE,
                       "b's store at b");
    harness_reply_free(&r);

    assert_int_equal(harness_db_count(x->h,
                                      "SELECT count(*) FROM orders WHERE order_id ="
                                      " 'shard-a-1' AND shard = 'a'",
                                      0),
                     1);
    assert_int_equal(harness_db_count(x->h,
                                      "SELECT count(*) FROM orders WHERE order_id ="
                                      " 'shard-b-1' AND shard = 'b'",
                                      0),
                     1);
    r = harness_get(ca, "shard-b-1", 10000);
    harness_expect_status(r, "shard-b-1", "ACCEPTED", "b's order from a");
    harness_reply_free(&r);
    ctl_run_t ctl = ctl_run(x->h, "-c", a->conf, "order", "shard-b-1", NULL);
    ctl_expect_rc(&ctl, 0, "sluicectl order of b's order at a");
    ctl_expect_field(ctl.out, "order", "shard-b-1");
    ctl_run_free(&ctl);

    harness_client_destroy(&ca);
    harness_client_destroy(&cb);
    for (size_t i = 0; i < 2; i++) {
        node_signal(&x->nodes[i], SIGTERM);
        assert_int_equal(node_wait_exit(&x->nodes[i], 15000), 0);
    }
    harness_pass(x->h);
}

/* A restart of shard a's node reads back a's live orders only: b's are
 * left to b, and the restore is served by orders_shard_live. */
static void test_restore_reads_only_its_shard(void **state)
{
    fixture_t *x = *state;
    node_proc_t *a = &x->nodes[0], *b = &x->nodes[1];
    s_boot(a, x->h, "a", "a");
    s_boot(b, x->h, "b", "b");
    harness_client_t *ca = node_client(a), *cb = node_client(b);
    for (int i = 0; i < 3; i++) {
        char id[32];
        snprintf(id, sizeof id, "live-a-%d", i);
        Sluice__V1__Reply *r = s_submit(ca, id, HARNESS_FIRST_STORE + (uint32_t)i);
        harness_expect_ack(r, SLUICE__V1__DECISION__ACCEPTED, SLUICE__V1__REASON__REASON_NONE, id);
        harness_reply_free(&r);
    }
    for (int i = 0; i < 5; i++) {
        char id[32];
        snprintf(id, sizeof id, "live-b-%d", i);
        Sluice__V1__Reply *r = s_submit(cb, id, HARNESS_FIRST_STORE + 5 + (uint32_t)i);
        harness_expect_ack(r, SLUICE__V1__DECISION__ACCEPTED, SLUICE__V1__REASON__REASON_NONE, id);
        harness_reply_free(&r);
    }
    harness_client_destroy(&ca);
    node_signal(a, SIGTERM);
    assert_int_equal(node_wait_exit(a, 15000), 0);
    node_start(a);
    if (!node_wait_http(a, "/readyz", 200, "ready", READY_MS))
        fail_msg("shard a's node did not come back");
    assert_true(node_log_contains(a, "restored 3 live orders of shard a into the prep schedules"));
    /* The index's predicate is the query's (the planner may still prefer a
     * scan of so small a table). */
    PGconn *pg = harness_db(x->h);
    PQclear(PQexec(pg, "SET enable_seqscan = off"));
    PGresult *plan = PQexec(pg, "EXPLAIN (COSTS OFF) SELECT 1 FROM orders o WHERE o.shard = 'a'"
                                " AND NOT order_state_is_terminal(o.state)");
    PQclear(PQexec(pg, "RESET enable_seqscan"));
    assert_int_equal(PQresultStatus(plan), PGRES_TUPLES_OK);
    bool indexed = false;
    for (int i = 0; i < PQntuples(plan); i++)
        indexed = indexed || strstr(PQgetvalue(plan, i, 0), "orders_shard_live");
    PQclear(plan);
    assert_true(indexed);
    harness_client_destroy(&cb);
    for (size_t i = 0; i < 2; i++) {
        node_signal(&x->nodes[i], SIGTERM);
        assert_int_equal(node_wait_exit(&x->nodes[i], 15000), 0);
    }
    harness_pass(x->h);
}

/* A node without a shard takes every store as before: no lease row, no
 * shard written, no shard in /metrics or the log. */
static void test_single_node_unchanged(void **state)
{
    fixture_t *x = *state;
    harness_boot(x->h, NULL);
    harness_client_t *c = harness_client_new(x->h, ZMQ_DEALER);
    for (int i = 0; i < HARNESS_STORE_COUNT; i++) {
        char id[32];
        snprintf(id, sizeof id, "single-%d", i);
        Sluice__V1__Reply *r = s_submit(c, id, HARNESS_FIRST_STORE + (uint32_t)i);
        harness_expect_ack(r, SLUICE__V1__DECISION__ACCEPTED, SLUICE__V1__REASON__REASON_NONE, id);
        harness_reply_free(&r);
    }
    assert_int_equal(harness_db_count(x->h, "SELECT count(*) FROM shard_leases", 0), 0);
    assert_int_equal(
        harness_db_count(x->h, "SELECT count(*) FROM orders WHERE shard IS NOT NULL", 0), 0);
    char body[1 << 16];
    assert_int_equal(harness_http_get(x->h, "/metrics", body, sizeof body), 200);
    assert_null(strstr(body, "sluice_node_info"));
    assert_int_equal(harness_http_get(x->h, "/readyz", body, sizeof body), 200);
    assert_false(harness_log_contains(x->h, "[shard", false));
    harness_client_destroy(&c);
    assert_int_equal(harness_stop(x->h, 15000), 0);
    harness_pass(x->h);
}

int main(void)
{
    static const harness_case_t cases[] = {
        HARNESS_CASE(test_wrong_shard_redirect),
        HARNESS_CASE(test_restore_reads_only_its_shard),
        HARNESS_CASE(test_single_node_unchanged),
    };
    return harness_main("shard", cases, HARNESS_COUNT(cases), s_setup, s_teardown);
}
