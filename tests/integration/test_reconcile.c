/* test_reconcile.c - `sluicectl reconcile` end to end: the real sluiced
 * delivers orders through two sluice-sim platforms (pa for store 2001, pb
 * for 2002) into a real throwaway PostgreSQL; then the real sluicectl
 * fetches both settlement reports of the day and compares them with
 * `dispatches` and `orders`. A clean day reports nothing (exit 0); each fault
 * the simulators inject into their reports (settle omit / overcharge /
 * duplicate / phantom, skew) is found exactly, in the output and in
 * reconcile_discrepancies (exit 8); a re-run replaces the day's rows; an
 * unreachable platform is exit 9 with its earlier rows kept, and all of it
 * works with the daemon stopped. Dispatches that end cancelled after a rider
 * was assigned (the platform's own cancels, free; ours of a rider on the
 * way, free; ours of a rider at the counter, half the fee) are recorded with
 * the fee the platform said, so their lines reconcile clean. Every wait
 * polls against a deadline.
 * Environment: as tests/integration/harness.h and sim_proc.h. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <zmq.h>

#include "harness.h"
#include "ctl_proc.h"
#include "sim_proc.h"

#define REPLY_MS 10000
#define DELIVER_MS 120000
#define STORE_A 2001          /* platform pa */
#define STORE_B 2002          /* platform pb */
#define N_A 6
#define N_B 4

typedef struct fx {
    harness_t *h;
    sim_proc_t pa, pb;
    char day[16];             /* today, UTC */
    ctl_run_t run;            /* sluicectl's last run */
} fx_t;

static int s_setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    void *hs = NULL;
    harness_setup(&hs);
    f->h = hs;
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    fx_t *f = *state;
    sim_proc_t *sims[] = { &f->pa, &f->pb };
    for (size_t i = 0; i < 2; i++) {
        if (!f->h->passed && sims[i]->log[0])
            sim_proc_dump_log(sims[i]);
        sim_proc_kill(sims[i]);
    }
    void *hs = f->h;
    harness_teardown(&hs);
    ctl_run_free(&f->run);
    free(f);
    return 0;
}

static void s_sim(fx_t *f, sim_proc_t *s, const char *name, const char *seed)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%s", f->h->tmpdir, name);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        fail_msg("mkdir %s: %s", dir, strerror(errno));
    const char *argv[] = { "--name", name, "--time-scale", "120", "--seed", seed, NULL };
    sim_proc_start(s, f->h->zctx, dir, NULL, argv);
}

/* s_boot starts sluiced with store 2001 on pa and 2002 on pb, or with
 * 2001 on pa then pb when BOTH. */
static void s_boot(fx_t *f, bool both)
{
    char plats[1024], body[2048];
    snprintf(plats, sizeof plats,
             "  { name = \"pa\"; adapter = \"zmq\"; endpoint = \"%s\"; timeout_ms = 2000;"
             " quote_deadline_ms = 1000; },\n"
             "  { name = \"pb\"; adapter = \"zmq\"; endpoint = \"%s\"; timeout_ms = 2000;"
             " quote_deadline_ms = 1000; }",
             f->pa.gateway, f->pb.gateway);
#define STORE_FMT                                                                            \
    "  { id = %d; name = \"s%d\"; location = [30.27, 120.03]; prep_slots = 100;"              \
    " item_seconds = 1; order_seconds = 1; max_wait_minutes = 60;"                            \
    " max_queue = 1000; platforms = [\"%s\"]; }"
    char a[512], b[512];
    snprintf(a, sizeof a, STORE_FMT, STORE_A, STORE_A, both ? "pa\", \"pb" : "pa");
    snprintf(b, sizeof b, STORE_FMT, STORE_B, STORE_B, "pb");
    snprintf(body, sizeof body,
             "dispatch = { margin_seconds = 3; pickup_eta_seconds = 4; assign_timeout_seconds = 20;"
             " retry_seconds = 1; max_hold_minutes = 5; handoff_seconds = 60; rider_kmh = 15.0; };\n"
             "stores = (\n"
             "  { id = %d; name = \"probe\"; location = [30.27, 120.03]; prep_slots = 1000;"
             " item_seconds = 1; max_wait_minutes = 600; max_queue = 100000; },\n%s,\n%s\n);\n",
             HARNESS_FIRST_STORE, a, b);
    harness_boot_platforms(f->h, NULL, plats, body);
}

/* s_deliver submits N orders PREFIX-i to STORE and waits until all are
 * DELIVERED. */
static void s_deliver(harness_client_t *cl, const char *prefix, size_t n, uint32_t store)
{
    harness_order_t *o = malloc(sizeof *o);
    assert_non_null(o);
    for (size_t i = 0; i < n; i++) {
        char id[64];
        snprintf(id, sizeof id, "%s-%zu", prefix, i);
        harness_order_fill(o, id, store);
        Sluice__V1__Reply *r = harness_submit(cl, o, REPLY_MS);
        harness_expect_ack(r, SLUICE__V1__DECISION__ACCEPTED, SLUICE__V1__REASON__REASON_NONE, id);
        harness_reply_free(&r);
    }
    free(o);
}

static void s_wait_delivered(fx_t *f, long n)
{
    uint64_t deadline = harness_now_ms() + DELIVER_MS;
    long got = 0;
    while (harness_now_ms() < deadline) {
        got = harness_db_count(f->h,
                               "SELECT count(*) FROM dispatches d JOIN orders o USING (order_id)"
                               " WHERE o.state = 'DELIVERED' AND d.state = 'DELIVERED'",
                               0);
        if (got == n)
            return;
        harness_nap_ms(200);
    }
    fail_msg("%ld of %ld orders DELIVERED after %d ms", got, n, DELIVER_MS);
}

/* s_ctl runs sluicectl with "-c CONF" and at most 6 more arguments
 * (NULL-terminated); the run is kept in f->run for the checks below. */
static void s_ctl(fx_t *f, ...)
{
    const char *a[7] = {NULL};
    va_list ap;
    va_start(ap, f);
    for (size_t n = 0; n < 6 && (a[n] = va_arg(ap, const char *)) != NULL; n++)
        ;
    va_end(ap);
    ctl_run_free(&f->run);
    f->run = ctl_run(f->h, "-c", f->h->conf_path, a[0], a[1], a[2], a[3], a[4], a[5], NULL);
}

/* s_expect_out: NEEDLE is in what the last sluicectl wrote (either stream). */
static void s_expect_out(fx_t *f, const char *needle)
{
    if (strstr(f->run.err, needle) == NULL)
        ctl_expect_has(f->run.out, needle, "sluicectl reconcile");
}

/* s_count: discrepancies of PLATFORM of KIND (NULL: any) for the day. */
static long s_count(fx_t *f, const char *platform, const char *kind)
{
    if (kind == NULL)
        return harness_db_count(f->h,
                                "SELECT count(*) FROM reconcile_discrepancies"
                                " WHERE day = $1::date AND platform = $2",
                                2, f->day, platform);
    return harness_db_count(f->h,
                            "SELECT count(*) FROM reconcile_discrepancies"
                            " WHERE day = $1::date AND platform = $2 AND kind = $3::reconcile_kind",
                            3, f->day, platform, kind);
}

/* s_settle sends the control command CMD, which must be answered "ok CMD". */
static void s_settle(sim_proc_t *s, const char *cmd)
{
    char want[64];
    snprintf(want, sizeof want, "ok %s", cmd);
    assert_string_equal(sim_proc_ctl(s, cmd), want);
}

static void test_reconcile_finds_each_kind(void **state)
{
    fx_t *f = *state;
    s_sim(f, &f->pa, "pa", "21");
    s_sim(f, &f->pb, "pb", "22");
    s_boot(f, false);
    harness_client_t *cl = harness_client_new(f->h, ZMQ_DEALER);
    s_deliver(cl, "ra", N_A, STORE_A);
    s_deliver(cl, "rb", N_B, STORE_B);
    s_wait_delivered(f, N_A + N_B);
    harness_client_destroy(&cl);
    time_t now = (time_t)(harness_wall_ms() / 1000);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(f->day, sizeof f->day, "%Y-%m-%d", &tm);

    /* a clean day */
    s_ctl(f, "reconcile", "--date", f->day, NULL);
    ctl_expect_rc(&f->run, 0, "clean day");
    s_expect_out(f, "platform pa: CLEAN; 6 lines there");
    s_expect_out(f, "platform pb: CLEAN; 4 lines there");
    s_expect_out(f, "discrepancies: 0");
    assert_int_equal(harness_db_count(f->h, "SELECT count(*) FROM reconcile_runs"
                                            " WHERE status = 'CLEAN' AND lines_theirs = lines_ours",
                                      0),
                     2);
    assert_int_equal(harness_db_count(f->h, "SELECT count(*) FROM reconcile_discrepancies", 0), 0);

    /* pa leaves its first two deliveries out: MISSING_THERE */
    s_settle(&f->pa, "settle omit 2");
    s_ctl(f, "reconcile", "--date", f->day, NULL);
    ctl_expect_rc(&f->run, 8, "omitted lines");
    s_expect_out(f, "MISSING_THERE");
    assert_int_equal(s_count(f, "pa", "MISSING_THERE"), 2);
    assert_int_equal(s_count(f, "pa", NULL), 2);
    assert_int_equal(s_count(f, "pb", NULL), 0);

    /* then overcharges one, lists one twice, invents three; pb skews all:
     * the re-run replaces pa's MISSING_THERE rows */
    s_settle(&f->pa, "settle omit 0");
    s_settle(&f->pa, "settle overcharge 1");
    s_settle(&f->pa, "settle duplicate 1");
    s_settle(&f->pa, "settle phantom 3");
    assert_string_equal(sim_proc_ctl(&f->pb, "skew 1"), "ok skew 1");
    s_ctl(f, "--json", "reconcile", "--date", f->day, NULL);
    ctl_expect_rc(&f->run, 8, "every kind");
    s_expect_out(f, "\"counts\":{\"MISSING_HERE\":3,\"MISSING_THERE\":0,\"FEE_MISMATCH\":1,"
                    "\"DUPLICATE_CHARGE\":1}");
    s_expect_out(f, "\"counts\":{\"MISSING_HERE\":0,\"MISSING_THERE\":0,\"FEE_MISMATCH\":4,"
                    "\"DUPLICATE_CHARGE\":0}");
    assert_int_equal(s_count(f, "pa", "MISSING_THERE"), 0);
    assert_int_equal(s_count(f, "pa", "MISSING_HERE"), 3);
    assert_int_equal(s_count(f, "pa", "FEE_MISMATCH"), 1);
    assert_int_equal(s_count(f, "pa", "DUPLICATE_CHARGE"), 1);
    assert_int_equal(s_count(f, "pb", "FEE_MISMATCH"), 4);
    assert_int_equal(s_count(f, "pb", NULL), 4);
    /* the fee rows carry both fees, 100 cents apart; phantoms are store 2001's */
    assert_int_equal(harness_db_count(f->h, "SELECT count(*) FROM reconcile_discrepancies"
                                            " WHERE kind = 'FEE_MISMATCH'"
                                            "   AND their_fee_cents = our_fee_cents + 100",
                                      0),
                     5);
    assert_int_equal(harness_db_count(f->h, "SELECT count(*) FROM reconcile_discrepancies"
                                            " WHERE kind = 'MISSING_HERE' AND store_id = $1::int8"
                                            "   AND dispatch_key LIKE 'phantom-%'",
                                      1, "2001"),
                     3);

    /* daemon stopped, pb gone, pa clean again: pa's rows replaced by none,
     * pb's kept beside a FAILED run; exit 9 */
    assert_int_equal(harness_stop(f->h, 15000), 0);
    assert_int_equal(sim_proc_stop(&f->pb), 0);
    s_settle(&f->pa, "settle overcharge 0");
    s_settle(&f->pa, "settle duplicate 0");
    s_settle(&f->pa, "settle phantom 0");
    s_ctl(f, "reconcile", "--date", f->day, NULL);
    ctl_expect_rc(&f->run, 9, "platform unreachable");
    s_expect_out(f, "platform pb: FAILED: no connection");
    s_expect_out(f, "platform pa: CLEAN");
    assert_int_equal(s_count(f, "pa", NULL), 0);
    assert_int_equal(s_count(f, "pb", NULL), 4);
    assert_int_equal(harness_db_count(f->h, "SELECT count(*) FROM reconcile_runs"
                                            " WHERE platform = 'pb' AND status = 'FAILED'"
                                            "   AND error LIKE 'no connection%'",
                                      0),
                     1);

    /* bad input and an unreachable PostgreSQL */
    s_ctl(f, "reconcile", "--date", "2024-02-30", NULL);
    ctl_expect_rc(&f->run, 2, "no such day");
    s_ctl(f, "reconcile", "--utc-offset", "900", NULL);
    ctl_expect_rc(&f->run, 2, "offset too far");
    s_ctl(f, "--database", "host=/nonexistent connect_timeout=2", "reconcile", NULL);
    ctl_expect_rc(&f->run, 3, "PostgreSQL unreachable");

    assert_int_equal(sim_proc_stop(&f->pa), 0);
    harness_pass(f->h);
}

/* s_wait_count polls until SQL (one text parameter) counts WANT rows. */
static void s_wait_count(fx_t *f, const char *sql, const char *param, long want, const char *what)
{
    uint64_t deadline = harness_now_ms() + DELIVER_MS;
    long got = 0;
    while (harness_now_ms() < deadline) {
        got = harness_db_count(f->h, sql, 1, param);
        if (got == want)
            return;
        harness_nap_ms(50);
    }
    fail_msg("%s: %ld rows, expected %ld", what, got, want);
}

/* s_cancel_stalled: ORDER_ID's ride at pb stops in STATE; the customer
 * cancels it there and pb releases the key. */
static void s_cancel_stalled(fx_t *f, harness_client_t *cl, const char *order_id,
                             const char *state)
{
    char cmd[32];
    snprintf(cmd, sizeof cmd, "stall next 1 at %.9s", state);
    s_settle(&f->pb, cmd);
    harness_order_t *o = malloc(sizeof *o);
    assert_non_null(o);
    harness_order_fill(o, order_id, STORE_A);
    Sluice__V1__Reply *r = harness_submit(cl, o, REPLY_MS);
    harness_expect_ack(r, SLUICE__V1__DECISION__ACCEPTED, SLUICE__V1__REASON__REASON_NONE,
                       order_id);
    harness_reply_free(&r);
    free(o);
    const char *upper = strcmp(state, "arrived") == 0 ? "ARRIVED" : "ASSIGNED";
    char sql[192];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM dispatches WHERE order_id = $1 AND"
                              " platform = 'pb' AND state = '%s'", upper);
    s_wait_count(f, sql, order_id, 1, "the ride stalled at pb");
    r = harness_cancel(cl, order_id, "changed my mind", REPLY_MS);
    harness_expect_status(r, order_id, "CANCELLED", "a cancel of a stalled ride");
    harness_reply_free(&r);
    s_wait_count(f, "SELECT count(*) FROM dispatches WHERE order_id = $1 AND platform = 'pb'"
                    " AND state = 'CANCELLED'", order_id, 1, "pb released the ride");
}

/* pa gives up every ride it takes (a platform's cancel after a rider was
 * assigned: listed, free); pb delivers, except two rides the customer
 * cancels, one with the rider on the way (free) and one with the rider at
 * the counter (half the fee). Every cancelled dispatch carries the fee the
 * platform said, 0 included, and the day reconciles clean on both. */
static void test_reconcile_cancel_fees(void **state)
{
    enum { N = 3 };
    fx_t *f = *state;
    s_sim(f, &f->pa, "pa", "31");
    s_sim(f, &f->pb, "pb", "32");
    s_boot(f, true);
    assert_string_equal(sim_proc_ctl(&f->pa, "cancel-ratio 1"), "ok cancel-ratio 1");
    harness_client_t *cl = harness_client_new(f->h, ZMQ_DEALER);
    s_deliver(cl, "rc", N, STORE_A);
    s_wait_delivered(f, N);
    s_cancel_stalled(f, cl, "rc-way", "assigned");
    s_cancel_stalled(f, cl, "rc-counter", "arrived");
    harness_client_destroy(&cl);
    time_t now = (time_t)(harness_wall_ms() / 1000);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(f->day, sizeof f->day, "%Y-%m-%d", &tm);

    /* Said free: 0, not the delivery fee and not unknown. */
    long pa_cancelled = harness_db_count(f->h, "SELECT count(*) FROM dispatches WHERE"
                                               " platform = 'pa' AND state = 'CANCELLED'", 0);
    assert_true(pa_cancelled >= 1);
    assert_int_equal(harness_db_count(f->h, "SELECT count(*) FROM dispatches WHERE"
                                            " platform = 'pa' AND state = 'CANCELLED'"
                                            " AND fee_cents = 0", 0),
                     pa_cancelled);
    assert_int_equal(harness_db_count(f->h, "SELECT count(*) FROM dispatches WHERE"
                                            " order_id = 'rc-way' AND platform = 'pb'"
                                            " AND fee_cents = 0", 0),
                     1);
    /* At the counter: half of a delivery fee (500 cents and up). */
    assert_int_equal(harness_db_count(f->h, "SELECT count(*) FROM dispatches WHERE"
                                            " order_id = 'rc-counter' AND platform = 'pb'"
                                            " AND fee_cents >= 250", 0),
                     1);
    char *timeline = harness_db_value(f->h, "SELECT string_agg(detail, ' | ' ORDER BY event_id)"
                                            " FROM order_events WHERE order_id = 'rc-counter'", 0);
    assert_non_null(timeline);
    if (!strstr(timeline, "pb released attempt") || !strstr(timeline, "; cancel fee "))
        fail_msg("rc-counter's timeline does not tell the cancel fee: %s", timeline);
    free(timeline);

    s_ctl(f, "reconcile", "--date", f->day, NULL);
    ctl_expect_rc(&f->run, 0, "cancel fees as the platforms said");
    s_expect_out(f, "platform pa: CLEAN");
    s_expect_out(f, "platform pb: CLEAN");
    assert_int_equal(harness_db_count(f->h, "SELECT count(*) FROM reconcile_discrepancies", 0), 0);
    assert_int_equal(harness_stop(f->h, 15000), 0);
    assert_int_equal(sim_proc_stop(&f->pa), 0);
    assert_int_equal(sim_proc_stop(&f->pb), 0);
    harness_pass(f->h);
}

int main(void)
{
    static const harness_case_t cases[] = {
        HARNESS_CASE(test_reconcile_finds_each_kind),
        HARNESS_CASE(test_reconcile_cancel_fees),
    };
    return harness_main("reconcile", cases, HARNESS_COUNT(cases), s_setup, s_teardown);
}
