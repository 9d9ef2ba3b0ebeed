/* test_indoubt.c - batches whose commit's outcome was lost, against the real
 * sluiced and the shared PostgreSQL. Two ways to lose one: the server made
 * to wait for a synchronous standby that does not exist (the commit is
 * written but its answer never comes, as when a primary's standby hangs),
 * and the daemon's backend frozen before it read the statement (nothing was
 * written). Either way the statement deadline drops the connection; the
 * order is answered ACCEPTED exactly once when it is stored, never when it
 * is not, and UNAVAILABLE ("outcome unknown") when the database cannot say
 * in time or the daemon is stopping; SIGTERM with a hung database ends
 * well within the shutdown grace. */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#define REPLY_MS 15000
#define STATEMENT_MS 1000
#define EXTRA                                                                    \
    "db_connections = 1; db_statement_timeout_ms = 1000; reconnect_min_ms = 50;" \
    " reconnect_max_ms = 200;"

typedef struct fixture {
    harness_t *h;
    pid_t frozen[4]; /* backends this test SIGSTOPped */
    pid_t guard[4];  /* each one's guard: SIGCONTs it if this process dies */
    int guard_fd[4];
    size_t frozen_count;
    bool sync_hang; /* synchronous_standby_names names nobody */
} fixture_t;

/* ---- the server's side -------------------------------------------------- */

/* s_exec runs SQL on a connection of its own (the harness's may be the one
 * waiting), failing the test on an error. */
static void s_exec(fixture_t *f, const char *sql)
{
    PGconn *c = PQconnectdb(f->h->dsn);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("failed to connect: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
}

/* s_sync_hang makes every commit that asks for synchronous replication (the
 * daemon's sessions do) wait for a standby that never comes, or lets them
 * all go. Read-only statements are not held. */
static void s_sync_hang(fixture_t *f, bool on)
{
    s_exec(f, on ? "ALTER SYSTEM SET synchronous_standby_names = 'sluice_test_nobody'"
                 : "ALTER SYSTEM RESET synchronous_standby_names");
    s_exec(f, "SELECT pg_reload_conf()");
    f->sync_hang = on;
    /* Once a session of ours sees it, the postmaster has signalled every
     * backend: each reads it before its next statement. */
    uint64_t deadline = harness_now_ms() + 10000;
    for (;;) {
        char *v = harness_db_value(f->h, "SELECT current_setting('synchronous_standby_names')", 0);
        bool seen = v && strcmp(v, on ? "sluice_test_nobody" : "") == 0;
        free(v);
        if (seen)
            return;
        if (harness_now_ms() > deadline)
            fail_msg("the server did not take synchronous_standby_names");
        harness_nap_ms(20);
    }
}

/* s_daemon_backends: the pids of sluiced's sessions on the test database. */
static size_t s_daemon_backends(fixture_t *f, pid_t *pids, size_t max)
{
    PGresult *r = PQexec(harness_db(f->h),
                         "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                         " AND application_name = 'sluiced' ORDER BY pid");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    size_t n = 0;
    for (int i = 0; i < PQntuples(r) && n < max; i++)
        pids[n++] = (pid_t)atol(PQgetvalue(r, i, 0));
    PQclear(r);
    return n;
}

/* s_freeze SIGSTOPs backend PID. A child stands guard: when this process
 * ends, however it ends, the pipe closes and the child SIGCONTs PID. */
static void s_freeze(fixture_t *f, pid_t pid)
{
    assert_true(f->frozen_count < 4);
    int fds[2];
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        close(fds[1]);
        /* Not the other guards' pipes: each must see its own end close. */
        for (size_t k = 0; k < f->frozen_count; k++)
            close(f->guard_fd[k]);
        char c;
        while (read(fds[0], &c, 1) < 0 && errno == EINTR)
            ;
        kill(pid, SIGCONT);
        _exit(0);
    }
    close(fds[0]);
    size_t i = f->frozen_count++;
    f->guard[i] = child;
    f->guard_fd[i] = fds[1];
    f->frozen[i] = pid;
    assert_int_equal(kill(pid, SIGSTOP), 0);
}

/* s_thaw ends the frozen backends (terminated first, so that they run
 * nothing they had not read) and lets their guards go. */
static void s_thaw(fixture_t *f)
{
    for (size_t i = 0; i < f->frozen_count; i++) {
        kill(f->frozen[i], SIGTERM);
        kill(f->frozen[i], SIGCONT);
        close(f->guard_fd[i]);
        waitpid(f->guard[i], NULL, 0);
    }
    f->frozen_count = 0;
}

static int s_setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    void *hs = NULL;
    harness_setup(&hs);
    f->h = hs;
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    fixture_t *f = *state;
    s_thaw(f); /* first of all: never leave the shared server stopped or waiting */
    if (f->sync_hang) {
        PGconn *c = PQconnectdb(f->h->dsn);
        PQclear(PQexec(c, "ALTER SYSTEM RESET synchronous_standby_names"));
        PQclear(PQexec(c, "SELECT pg_reload_conf()"));
        PQfinish(c);
    }
    void *hs = f->h;
    harness_teardown(&hs);
    free(f);
    *state = NULL;
    return 0;
}

/* ---- checks ------------------------------------------------------------- */

static long s_rows(fixture_t *f, const char *table, const char *order_id)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE order_id = $1", table);
    return harness_db_count(f->h, sql, 1, order_id);
}

/* s_expect_unknown: R is UNAVAILABLE saying the outcome is unknown and that
 * a resubmission is safe. */
static void s_expect_unknown(const Sluice__V1__Reply *r, const char *what)
{
    harness_expect_ack(r, SLUICE__V1__DECISION__REJECTED, SLUICE__V1__REASON__UNAVAILABLE, what);
    if (!strstr(r->ack->detail, "outcome is unknown") ||
        !strstr(r->ack->detail, "resubmitting the same order_id is safe"))
        fail_msg("%s: detail \"%s\" does not say the outcome is unknown", what, r->ack->detail);
    assert_true(r->ack->retry_after_ms > 0);
}

/* s_no_more: nothing else comes for C. */
static void s_no_more(harness_client_t *c, const char *what)
{
    Sluice__V1__Reply *r = harness_recv(c, 500);
    if (r) {
        char buf[512];
        fail_msg("%s: a second reply: %s", what, harness_reply_describe(r, buf, sizeof buf));
    }
}

/* ---- tests -------------------------------------------------------------- */

/* The commit is written but its answer never comes (it waits for a standby):
 * the deadline drops the connection, the batch waits in doubt, and once
 * the server lets the commit go the resolution finds the order stored with
 * this daemon's promise: ACCEPTED once, as new, with one ACCEPTED event;
 * a repeat is a duplicate. */
static void test_lost_commit_is_accepted_once(void **state)
{
    fixture_t *f = *state;
    harness_boot(f->h, EXTRA);
    harness_client_t *c = harness_client_new(f->h, ZMQ_DEALER);
    off_t mark = harness_log_size(f->h);
    s_sync_hang(f, true);

    harness_order_t o;
    harness_order_fill(&o, "doubt-1", HARNESS_FIRST_STORE + 1);
    uint64_t id = harness_send_submit(c, &o);
    if (!harness_wait_log(f->h, mark, "is unknown (statement timed out", STATEMENT_MS + 5000))
        fail_msg("the commit's outcome was not lost");
    assert_null(harness_recv(c, 200));                   /* nobody answered yet */
    assert_int_equal(s_rows(f, "orders", "doubt-1"), 0); /* waiting: not visible */

    s_sync_hang(f, false);
    Sluice__V1__Reply *r = harness_recv_for(c, id, REPLY_MS);
    harness_expect_ack(r, SLUICE__V1__DECISION__ACCEPTED, SLUICE__V1__REASON__REASON_NONE,
                       "the lost commit");
    assert_false(r->ack->duplicate);
    assert_true(r->ack->promised_ready_at_ms > 0);
    uint64_t promised = r->ack->promised_ready_at_ms;
    harness_reply_free(&r);
    s_no_more(c, "the lost commit");
    assert_int_equal(s_rows(f, "orders", "doubt-1"), 1);
    assert_int_equal(s_rows(f, "order_events", "doubt-1"), 1);
    assert_true(harness_log_contains_from(f->h, mark, "resolved a batch of 1 orders in doubt"));

    r = harness_submit(c, &o, REPLY_MS);
    harness_expect_ack(r, SLUICE__V1__DECISION__ACCEPTED, SLUICE__V1__REASON__REASON_NONE,
                       "repeat");
    assert_true(r->ack->duplicate);
    assert_int_equal(r->ack->promised_ready_at_ms, promised);
    harness_reply_free(&r);
    char body[65536];
    assert_int_equal(harness_http_get(f->h, "/metrics", body, sizeof body), 200);
    assert_null(strstr(body, "sluice_commit_in_doubt_total 0\n"));
    assert_non_null(strstr(body, "sluice_orders_in_doubt 0\n"));
    harness_client_destroy(&c);
    assert_int_equal(harness_stop(f->h, 15000), 0);
    harness_pass(f->h);
}

/* The daemon's backend is frozen before it reads the insert: nothing is
 * written. The deadline drops the connection, the resolution on a new one
 * stores the order: ACCEPTED once. The old backend, ended, stores nothing
 * more. */
static void test_lost_before_commit_is_committed_again(void **state)
{
    fixture_t *f = *state;
    harness_boot(f->h, EXTRA);
    harness_client_t *c = harness_client_new(f->h, ZMQ_DEALER);
    pid_t pids[4];
    assert_int_equal(s_daemon_backends(f, pids, 4), 1);
    s_freeze(f, pids[0]);

    harness_order_t o;
    harness_order_fill(&o, "doubt-2", HARNESS_FIRST_STORE + 2);
    uint64_t sent = harness_now_ms();
    Sluice__V1__Reply *r = harness_submit(c, &o, REPLY_MS);
    harness_expect_ack(r, SLUICE__V1__DECISION__ACCEPTED, SLUICE__V1__REASON__REASON_NONE,
                       "resolved on a new connection");
    assert_false(r->ack->duplicate);
    assert_true(harness_now_ms() - sent >= STATEMENT_MS);
    harness_reply_free(&r);
    s_no_more(c, "resolved on a new connection");
    assert_true(harness_log_contains(f->h, "1 stored by the resolution", true));

    char old[24];
    snprintf(old, sizeof old, "%ld", (long)pids[0]);
    s_thaw(f);
    uint64_t deadline = harness_now_ms() + 10000;
    while (harness_db_count(f->h, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int", 1,
                            old) != 0) {
        if (harness_now_ms() > deadline)
            fail_msg("the frozen backend did not end");
        harness_nap_ms(20);
    }
    assert_int_equal(s_rows(f, "orders", "doubt-2"), 1);
    assert_int_equal(s_rows(f, "order_events", "doubt-2"), 1);
    harness_client_destroy(&c);
    assert_int_equal(harness_stop(f->h, 15000), 0);
    harness_pass(f->h);
}

/* The database cannot say for longer than in_doubt_max_ms: the client gets
 * UNAVAILABLE (outcome unknown), and so does a resubmission meanwhile; the
 * resolution goes on, and once it has found the order stored a
 * resubmission gets the first decision. */
static void test_in_doubt_too_long_is_unavailable(void **state)
{
    fixture_t *f = *state;
    harness_boot(f->h, EXTRA " in_doubt_max_ms = 1500;");
    harness_client_t *c = harness_client_new(f->h, ZMQ_DEALER);
    off_t mark = harness_log_size(f->h);
    s_sync_hang(f, true);

    harness_order_t o;
    harness_order_fill(&o, "doubt-3", HARNESS_FIRST_STORE + 3);
    uint64_t sent = harness_now_ms();
    Sluice__V1__Reply *r = harness_submit(c, &o, REPLY_MS);
    s_expect_unknown(r, "in doubt too long");
    assert_true(harness_now_ms() - sent >= STATEMENT_MS + 1500);
    harness_reply_free(&r);
    r = harness_submit(c, &o, 2000);
    s_expect_unknown(r, "a resubmission while in doubt");
    harness_reply_free(&r);
    assert_int_equal(s_rows(f, "orders", "doubt-3"), 0);

    s_sync_hang(f, false);
    if (!harness_wait_log(f->h, mark, "resolved a batch of 1 orders in doubt", REPLY_MS))
        fail_msg("the batch in doubt was not resolved");
    uint64_t deadline = harness_now_ms() + REPLY_MS;
    for (;;) {
        r = harness_submit(c, &o, REPLY_MS);
        assert_non_null(r);
        if (r->body_case == SLUICE__V1__REPLY__BODY_ACK &&
            r->ack->decision == SLUICE__V1__DECISION__ACCEPTED)
            break;
        s_expect_unknown(r, "a resubmission while it is looked up");
        harness_reply_free(&r);
        if (harness_now_ms() > deadline)
            fail_msg("the order in doubt was never settled");
        harness_nap_ms(50);
    }
    assert_true(r->ack->duplicate); /* the first decision, given again */
    harness_reply_free(&r);
    assert_int_equal(s_rows(f, "orders", "doubt-3"), 1);
    assert_int_equal(s_rows(f, "order_events", "doubt-3"), 1);
    harness_client_destroy(&c);
    assert_int_equal(harness_stop(f->h, 15000), 0);
    harness_pass(f->h);
}

/* SIGTERM while every backend of the daemon is frozen and its commits are in
 * flight: they reach their deadline, their orders are answered UNAVAILABLE
 * (outcome unknown), the batch that waited is answered UNAVAILABLE too
 * (nothing stored) or goes on a new connection, no order is ACCEPTED that
 * is not stored, and the daemon exits 0 long before its 30 s shutdown
 * grace. */
static void test_sigterm_with_hung_database(void **state)
{
    fixture_t *f = *state;
    enum { N = 6 };
    harness_boot(f->h, "db_connections = 2; db_statement_timeout_ms = 1000; commit_batch_max = 2;"
                       " reconnect_min_ms = 50; reconnect_max_ms = 200;");
    harness_client_t *c = harness_client_new(f->h, ZMQ_DEALER);
    pid_t pids[4];
    size_t n = s_daemon_backends(f, pids, 4);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++)
        s_freeze(f, pids[i]);
    harness_order_t o;
    for (int i = 0; i < N; i++) {
        char id[32];
        snprintf(id, sizeof id, "hung-%d", i);
        harness_order_fill(&o, id, HARNESS_FIRST_STORE + (uint32_t)i % HARNESS_STORE_COUNT);
        harness_send_submit(c, &o);
    }
    /* Every order taken in, none answered: the commits are in flight. */
    char body[65536], want[64];
    snprintf(want, sizeof want, "\nsluice_pending_orders %d\n", N);
    uint64_t deadline = harness_now_ms() + 5000;
    while (harness_http_get(f->h, "/metrics", body, sizeof body) != 200 || !strstr(body, want)) {
        if (harness_now_ms() > deadline)
            fail_msg("the daemon did not take the %d orders in", N);
        harness_nap_ms(10);
    }
    uint64_t start = harness_now_ms();
    harness_signal(f->h, SIGTERM);
    assert_int_equal(harness_wait_exit(f->h, 20000), 0);
    uint64_t took = harness_now_ms() - start;
    fprintf(stderr, "indoubt: SIGTERM with a hung database took %" PRIu64 " ms\n", took);
    assert_true(took < STATEMENT_MS + 5000);
    int unknown = 0;
    for (int i = 0; i < N; i++) {
        Sluice__V1__Reply *r = harness_recv(c, 2000);
        assert_non_null(r);
        assert_int_equal(r->body_case, SLUICE__V1__REPLY__BODY_ACK);
        if (r->ack->decision == SLUICE__V1__DECISION__ACCEPTED) {
            assert_int_equal(s_rows(f, "orders", r->ack->order_id), 1);
        } else if (strstr(r->ack->detail, "nothing was stored")) {
            harness_expect_ack(r, SLUICE__V1__DECISION__REJECTED, SLUICE__V1__REASON__UNAVAILABLE,
                               "a batch not sent at SIGTERM");
        } else {
            s_expect_unknown(r, "a commit in flight at SIGTERM");
            unknown++;
        }
        harness_reply_free(&r);
    }
    assert_true(unknown >= 2); /* the two batches on the frozen backends */
    s_thaw(f);
    harness_client_destroy(&c);
    harness_pass(f->h);
}

int main(void)
{
    static const harness_case_t cases[] = {
        HARNESS_CASE(test_lost_commit_is_accepted_once),
        HARNESS_CASE(test_lost_before_commit_is_committed_again),
        HARNESS_CASE(test_in_doubt_too_long_is_unavailable),
        HARNESS_CASE(test_sigterm_with_hung_database),
    };
    return harness_main("indoubt", cases, HARNESS_COUNT(cases), s_setup, s_teardown);
}
