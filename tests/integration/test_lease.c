/* test_lease.c - daemon failover within a shard: two real sluiced for shard
 * "a" on the shared PostgreSQL, one active (it holds the lease row), one
 * standby (bound, answering UNAVAILABLE with the active's endpoint, /readyz
 * 503 "standby"). A clean stop hands the lease over at once; kill -9 of the
 * active hands it over once it expires, and the standby restores the live
 * orders and their dispatches through sluice-sim without a second rider; an
 * active stopped (SIGSTOP) past its lease is replaced, and when it runs
 * again it writes nothing and exits with status 75. */
#include "dispatch_fx.h"
#include "ctl_proc.h"
#include "node_proc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "proc.h"

#define EXIT_LEASE_LOST 75
#define READY_MS 30000

typedef struct fixture {
    dfx_t *f; /* the harness (PostgreSQL) and the simulators */
    node_proc_t nodes[2];
} fixture_t;

static int s_setup(void **state)
{
    fixture_t *x = calloc(1, sizeof *x);
    assert_non_null(x);
    void *fs = NULL;
    dfx_setup(&fs);
    x->f = fs;
    *state = x;
    return 0;
}

static int s_teardown(void **state)
{
    fixture_t *x = *state;
    for (size_t i = 0; i < 2; i++) {
        if (x->nodes[i].log[0] && !x->f->h->passed)
            node_dump_log(&x->nodes[i]);
        node_kill(&x->nodes[i]);
    }
    void *fs = x->f;
    dfx_teardown(&fs);
    free(x);
    *state = NULL;
    return 0;
}

/* s_daemon: the daemon section's keys of node NAME of shard "a". */
static const char *s_daemon(const char *name, int lease_seconds)
{
    static char buf[256];
    snprintf(buf, sizeof buf,
             "shard = \"a\"; node = \"%s\"; lease_seconds = %d; db_connections = 1;"
             " reconnect_min_ms = 50; reconnect_max_ms = 500;",
             name, lease_seconds);
    return buf;
}

/* s_stores: the harness's stores 1001..1010, no platforms. */
static const char *s_stores(void)
{
    static char buf[4096];
    size_t n = (size_t)snprintf(buf, sizeof buf, "stores = (\n");
    for (int i = 0; i < HARNESS_STORE_COUNT; i++)
        n +=
            (size_t)snprintf(buf + n, sizeof buf - n,
                             "  { id = %d; location = [30.27, 120.03]; prep_slots = 1000;"
                             " item_seconds = 1; max_wait_minutes = 600; max_queue = 100000; }%s\n",
                             HARNESS_FIRST_STORE + i, i + 1 < HARNESS_STORE_COUNT ? "," : "");
    snprintf(buf + n, sizeof buf - n, ");\n");
    return buf;
}

static void s_migrate(node_proc_t *n)
{
    const char *args[] = { "-c", n->conf, "--migrate", NULL };
    int rc = harness_run(n->h, 60000, args);
    if (rc != 0)
        fail_msg("sluiced --migrate exited with %d", rc);
}

/* s_active starts N and waits until it serves: its /readyz says ready. */
static void s_active(node_proc_t *n)
{
    node_start(n);
    if (!node_wait_http(n, "/readyz", 200, "ready", READY_MS)) {
        node_dump_log(n);
        fail_msg("node %s did not become active", n->name);
    }
}

/* s_standby starts N and waits until it knows the active, ACTIVE. */
static void s_standby(node_proc_t *n, const node_proc_t *active)
{
    node_start(n);
    char line[256];
    snprintf(line, sizeof line, "standby: shard a is served by node %s at %s", active->name,
             active->ingress);
    if (!node_wait_log(n, line, READY_MS)) {
        node_dump_log(n);
        fail_msg("node %s did not stand by for %s", n->name, active->name);
    }
}

static void s_submit(harness_client_t *c, const char *id, uint32_t store, int decision, int reason,
                     Sluice__V1__Reply **out)
{
    harness_order_t o;
    harness_order_fill(&o, id, store);
    Sluice__V1__Reply *r = harness_submit(c, &o, 10000);
    harness_expect_ack(r, decision, reason, id);
    if (out)
        *out = r;
    else
        harness_reply_free(&r);
}

/* s_metric_has: /metrics of N holds NEEDLE. */
static bool s_metric_has(node_proc_t *n, const char *needle)
{
    static char body[1 << 17];
    return node_http_get(n, "/metrics", body, sizeof body) == 200 && strstr(body, needle);
}

/* ---- one active, one standby --------------------------------------------- */

/* The second node of the shard stands by: /readyz 503 naming the active, a
 * submission UNAVAILABLE with the active's endpoint (detail and fields) and
 * a retry time, a cancel refused naming the active, GetOrder and sluicectl
 * order answered from the database, its role in /metrics and in every log
 * line. A clean stop of the active releases the lease: the standby serves
 * within a couple of seconds. */
static void test_active_and_standby(void **state)
{
    fixture_t *x = *state;
    harness_t *h = x->f->h;
    node_proc_t *a1 = &x->nodes[0], *a2 = &x->nodes[1];
    node_write(a1, h, "a1", s_daemon("a1", 4), NULL, s_stores());
    node_write(a2, h, "a2", s_daemon("a2", 4), NULL, s_stores());
    s_migrate(a1);
    s_active(a1);
    s_standby(a2, a1);

    char body[4096], want[512];
    assert_int_equal(node_http_get(a2, "/readyz", body, sizeof body), 503);
    snprintf(want, sizeof want, "not ready: standby (active: a1 at %s)", a1->ingress);
    if (!strstr(body, want))
        fail_msg("standby's /readyz says \"%s\", not \"%s\"", body, want);

    harness_client_t *c1 = node_client(a1), *c2 = node_client(a2);
    s_submit(c1, "lease-1", HARNESS_FIRST_STORE, SLUICE__V1__DECISION__ACCEPTED,
             SLUICE__V1__REASON__REASON_NONE, NULL);
    Sluice__V1__Reply *r;
    s_submit(c2, "lease-2", HARNESS_FIRST_STORE, SLUICE__V1__DECISION__REJECTED,
             SLUICE__V1__REASON__UNAVAILABLE, &r);
    assert_true(r->ack->retry_after_ms >= 1000);
    assert_non_null(strstr(r->ack->detail, a1->ingress));
    assert_string_equal(r->ack->shard, "a");
    assert_int_equal(r->ack->n_shard_endpoints, 1);
    assert_string_equal(r->ack->shard_endpoints[0], a1->ingress);
    harness_reply_free(&r);

    r = harness_get(c2, "lease-1", 10000);
    harness_expect_status(r, "lease-1", "ACCEPTED", "GetOrder on the standby");
    harness_reply_free(&r);
    r = harness_cancel(c2, "lease-1", "changed my mind", 10000);
    assert_non_null(r);
    assert_int_equal(r->body_case, SLUICE__V1__REPLY__BODY_ERROR);
    assert_int_equal(r->error->code, 503);
    assert_non_null(strstr(r->error->message, "a1"));
    harness_reply_free(&r);

    ctl_run_t ctl = ctl_run(h, "-c", a2->conf, "order", "lease-1", NULL);
    ctl_expect_rc(&ctl, 0, "sluicectl order against the standby");
    ctl_expect_field(ctl.out, "order", "lease-1");
    ctl_run_free(&ctl);

    assert_true(s_metric_has(a1, "sluice_node_info{shard=\"a\",role=\"active\",node=\"a1\"} 1"));
    assert_true(s_metric_has(a2, "sluice_node_info{shard=\"a\",role=\"standby\",node=\"a2\"} 1"));
    assert_true(node_log_contains(a2, "<5>[shard a standby] standby: shard a is served"));
    assert_true(node_log_contains(a1, "<5>[shard a active] took the lease of shard a"));
    assert_int_equal(harness_db_count(h, "SELECT count(*) FROM orders WHERE shard = 'a'", 0), 1);

    /* A clean stop releases the lease: no waiting for it to expire. */
    node_signal(a1, SIGTERM);
    uint64_t stopped = harness_now_ms();
    assert_int_equal(node_wait_exit(a1, 15000), 0);
    assert_true(node_log_contains(a1, "released the lease of shard a (epoch 1)"));
    if (!node_wait_http(a2, "/readyz", 200, "ready", 10000))
        fail_msg("the standby did not take over after a clean stop");
    uint64_t took = harness_now_ms() - stopped;
    fprintf(stderr, "lease: handed over on a clean stop in %" PRIu64 " ms\n", took);
    assert_true(took < 4000);
    s_submit(c2, "lease-2", HARNESS_FIRST_STORE, SLUICE__V1__DECISION__ACCEPTED,
             SLUICE__V1__REASON__REASON_NONE, NULL);
    r = harness_get(c2, "lease-1", 10000); /* restored: live in memory again */
    harness_expect_status(r, "lease-1", "ACCEPTED", "GetOrder after the takeover");
    harness_reply_free(&r);
    assert_true(s_metric_has(a2, "sluice_node_info{shard=\"a\",role=\"active\",node=\"a2\"} 1"));
    assert_true(s_metric_has(a2, "sluice_lease_epoch 2\n"));

    harness_client_destroy(&c1);
    harness_client_destroy(&c2);
    node_signal(a2, SIGTERM);
    assert_int_equal(node_wait_exit(a2, 15000), 0);
    harness_pass(h);
}

/* Another node takes the lease (its UPDATE, done here by hand) while the
 * active still counts it held: the active's next write fails the fence in
 * the database, its order is answered UNAVAILABLE and not stored, and the
 * active stops and exits 75. The lease is long, so no renewal comes first. */
static void test_fenced_write_stops_the_node(void **state)
{
    fixture_t *x = *state;
    harness_t *h = x->f->h;
    node_proc_t *a1 = &x->nodes[0];
    node_write(a1, h, "a1", s_daemon("a1", 30), NULL, s_stores());
    s_migrate(a1);
    s_active(a1);
    harness_client_t *c = node_client(a1);
    s_submit(c, "fence-1", HARNESS_FIRST_STORE, SLUICE__V1__DECISION__ACCEPTED,
             SLUICE__V1__REASON__REASON_NONE, NULL);
    assert_int_equal(harness_db_count(h,
                                      "UPDATE shard_leases SET epoch = epoch + 1, holder ="
                                      " 'intruder' WHERE shard = 'a' RETURNING epoch",
                                      0),
                     2);
    Sluice__V1__Reply *r;
    s_submit(c, "fence-2", HARNESS_FIRST_STORE, SLUICE__V1__DECISION__REJECTED,
             SLUICE__V1__REASON__UNAVAILABLE, &r);
    assert_non_null(strstr(r->ack->detail, "nothing was stored"));
    harness_reply_free(&r);
    assert_int_equal(node_wait_exit(a1, 10000), EXIT_LEASE_LOST);
    assert_true(node_log_contains(a1, "lost the lease of shard a (epoch 1): a write was refused "
                                      "by the fence: shard a: epoch 1 is stale"));
    assert_int_equal(
        harness_db_count(h, "SELECT count(*) FROM orders WHERE order_id = 'fence-2'", 0), 0);
    harness_client_destroy(&c);
    harness_pass(h);
}

/* ---- takeover with dispatches in flight ---------------------------------- */

/* s_boot_pair writes both nodes with platform "pa" (sluice-sim) and store
 * STORE_A, starts A1 active and A2 standby, and returns a client of A1. */
static harness_client_t *s_boot_pair(fixture_t *x, int lease_seconds)
{
    dfx_t *f = x->f;
    dfx_sim(f, "pa", NULL);
    dfx_text_t *pl = calloc(1, sizeof *pl), *body = calloc(1, sizeof *body);
    assert_true(pl && body);
    dfx_plat_t plat = dfx_plat_defaults();
    dfx_platform(pl, f, 0, &plat);
    dfx_disp_t d = dfx_disp_defaults();
    const char *stores[] = { "2001:pa", NULL };
    dfx_body(body, &d, stores);
    node_proc_t *a1 = &x->nodes[0], *a2 = &x->nodes[1];
    node_write(a1, f->h, "a1", s_daemon("a1", lease_seconds), pl->buf, body->buf);
    node_write(a2, f->h, "a2", s_daemon("a2", lease_seconds), pl->buf, body->buf);
    free(pl);
    free(body);
    s_migrate(a1);
    s_active(a1);
    s_standby(a2, a1);
    return node_client(a1);
}

/* s_wait_dispatching polls until at least MIN orders of PREFIX have a live
 * attempt (the outbox row written, the platform asked). */
static void s_wait_dispatching(dfx_t *f, const char *prefix, long min)
{
    uint64_t deadline = harness_now_ms() + 60000;
    for (;;) {
        dfx_no_double_live(f, prefix, "before the failover");
        long live = dfx_count_like(
            f, "SELECT count(*) FROM dispatches WHERE order_id LIKE $1 AND " DFX_LIVE_SQL, prefix);
        if (live >= min)
            return;
        if (harness_now_ms() > deadline)
            fail_msg("only %ld orders of %s are dispatching", live, prefix);
        harness_nap_ms(20);
    }
}

/* s_wait_delivered polls until the N orders of PREFIX are DELIVERED, while
 * node ACTIVE runs, checking on every poll that none has two live attempts
 * (dfx_wait_done's check, for a node that is not the harness's daemon). */
static void s_wait_delivered(dfx_t *f, node_proc_t *active, const char *prefix, long n)
{
    uint64_t deadline = harness_now_ms() + 120000;
    for (;;) {
        long done = dfx_count_like(f,
                                   "SELECT count(*) FROM orders WHERE order_id LIKE $1 AND"
                                   " state = 'DELIVERED'",
                                   prefix);
        dfx_no_double_live(f, prefix, "while orders rode");
        if (done == n)
            return;
        if (!proc_alive(active->pid, NULL))
            fail_msg("node %s died while orders rode", active->name);
        if (harness_now_ms() > deadline)
            fail_msg("%ld of %ld orders DELIVERED; the others:%s", done, n,
                     dfx_describe_unfinished(f, prefix));
        harness_nap_ms(100);
    }
}

/* s_finish stops the node left and the simulator, expecting 0 from both. */
static void s_finish(fixture_t *x, node_proc_t *n)
{
    node_signal(n, SIGTERM);
    int rc = node_wait_exit(n, 15000);
    if (rc != 0)
        fail_msg("node %s exited %d on SIGTERM", n->name, rc);
    for (size_t i = 0; i < x->f->nsims; i++) {
        rc = sim_proc_stop(&x->f->sims[i]);
        if (rc != 0)
            fail_msg("sluice-sim %s exited %d", x->f->names[i], rc);
    }
    harness_pass(x->f->h);
}

/* kill -9 of the active while riders are being dispatched: the standby
 * takes the lease once it expires (within lease_seconds and a few seconds),
 * restores the live orders and their attempts, re-sends the outbox under
 * the same keys; every order is delivered once, by one rider. */
static void test_kill9_takeover(void **state)
{
    fixture_t *x = *state;
    dfx_t *f = x->f;
    enum { N = 12, LEASE_S = 4 };
    f->cl = s_boot_pair(x, LEASE_S);
    const uint32_t ids[] = { STORE_A };
    dfx_submit_many(f, "kill", N, ids, 1);
    s_wait_dispatching(f, "kill", 3);

    node_proc_t *a1 = &x->nodes[0], *a2 = &x->nodes[1];
    node_signal(a1, SIGKILL);
    uint64_t killed = harness_now_ms();
    assert_int_equal(node_wait_exit(a1, 10000), 128 + SIGKILL);
    if (!node_wait_http(a2, "/readyz", 200, "ready", (LEASE_S + 10) * 1000))
        fail_msg("the standby did not take over");
    uint64_t took = harness_now_ms() - killed;
    fprintf(stderr, "lease: kill -9 to the standby serving: %" PRIu64 " ms (lease %d s)\n", took,
            LEASE_S);
    assert_true(took < (LEASE_S + 4) * 1000);
    assert_true(node_log_contains(a2, "took the lease of shard a as node a2 (epoch 2)"));
    assert_true(node_log_contains(a2, " live orders of shard a into the prep schedules"));
    assert_false(node_log_contains(a2, "restored 0 live orders"));

    harness_client_destroy(&f->cl);
    f->cl = node_client(a2);
    s_wait_delivered(f, a2, "kill", N);
    dfx_check_attempts(f, "kill", N);
    dfx_check_ledgers(f);
    s_finish(x, a2);
}

/* The active is stopped (SIGSTOP) longer than its lease: the standby takes
 * over, restores and serves. With the new active held still, the old one
 * is let run: its lease is lost before it does anything, so the orders,
 * dispatches and events are exactly as they were, and it exits 75. Then
 * every order is delivered once. */
static void test_sigstop_active_is_fenced(void **state)
{
    fixture_t *x = *state;
    dfx_t *f = x->f;
    enum { N = 10, LEASE_S = 6 };
    f->cl = s_boot_pair(x, LEASE_S);
    const uint32_t ids[] = { STORE_A };
    dfx_submit_many(f, "stop", N, ids, 1);
    s_wait_dispatching(f, "stop", 2);

    node_proc_t *a1 = &x->nodes[0], *a2 = &x->nodes[1];
    node_signal(a1, SIGSTOP);
    uint64_t stopped = harness_now_ms();
    if (!node_wait_http(a2, "/readyz", 200, "ready", (LEASE_S + 10) * 1000))
        fail_msg("the standby did not take over from a stopped active");
    fprintf(stderr, "lease: SIGSTOP to the standby serving: %" PRIu64 " ms (lease %d s)\n",
            harness_now_ms() - stopped, LEASE_S);

    /* Both still, and the database done with what they sent: whatever
     * changes now is the old active's doing. */
    node_signal(a2, SIGSTOP);
    uint64_t deadline = harness_now_ms() + 10000;
    while (harness_db_count(f->h,
                            "SELECT count(*) FROM pg_stat_activity WHERE datname ="
                            " current_database() AND application_name = 'sluiced'"
                            " AND state <> 'idle'",
                            0) != 0) {
        if (harness_now_ms() > deadline)
            fail_msg("the nodes' statements did not end");
        harness_nap_ms(10);
    }
    const char *snapshot =
        "SELECT (SELECT count(*) FROM order_events)::text || '/' ||"
        " (SELECT coalesce(max(updated_at)::text, '') FROM orders) || '/' ||"
        " (SELECT coalesce(max(updated_at)::text, '') FROM dispatches) || '/' ||"
        " (SELECT count(*) FROM dispatches)::text || '/' || (SELECT count(*) FROM orders)::text";
    char *before = harness_db_value(f->h, snapshot, 0);
    assert_non_null(before);
    node_signal(a1, SIGCONT);
    assert_int_equal(node_wait_exit(a1, 10000), EXIT_LEASE_LOST);
    char *after = harness_db_value(f->h, snapshot, 0);
    assert_non_null(after);
    assert_string_equal(after, before);
    free(before);
    free(after);
    node_signal(a2, SIGCONT);
    assert_true(node_log_contains(a1, "lost the lease of shard a (epoch 1): no renewal came back"));
    assert_true(node_log_contains(a1, "exiting with status 75"));

    harness_client_destroy(&f->cl);
    f->cl = node_client(a2);
    s_wait_delivered(f, a2, "stop", N);
    dfx_check_attempts(f, "stop", N);
    dfx_check_ledgers(f);
    s_finish(x, a2);
}

int main(void)
{
    static const harness_case_t cases[] = {
        HARNESS_CASE(test_active_and_standby),
        HARNESS_CASE(test_fenced_write_stops_the_node),
        HARNESS_CASE(test_kill9_takeover),
        HARNESS_CASE(test_sigstop_active_is_fenced),
    };
    return harness_main("lease", cases, HARNESS_COUNT(cases), s_setup, s_teardown);
}
