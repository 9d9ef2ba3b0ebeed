/* test_sweep.c - the stuck-order sweep and redispatch after an outage, end to
 * end: the real sluiced with dispatch.stuck_minutes = 1, a throwaway
 * PostgreSQL, two sluice-sim platforms, and the real sluicectl reading the
 * timelines.
 *
 * 1. A ride that stalls at ASSIGNED (the rider never comes; sluice-sim's
 *    `stall`) is asked about after a minute without news, its rider is
 *    replaced, and the order is DELIVERED by the second attempt; a ride that
 *    stalls at PICKED_UP is escalated (a warning and a timeline entry) and
 *    never redispatched: the drink is with a rider.
 * 2. pa goes dark while its DispatchRequest is unanswered: the attempt times
 *    out, is cancelled once pa is back, and the order goes to pb; sluicectl
 *    lists both attempts with platform and outcome.
 *
 * Every wait polls against a deadline and checks that no order ever has two
 * live attempts; the simulators' ledgers are checked at the end.
 * Environment: as tests/integration/harness.h and sim_proc.h. */
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctl_proc.h"
#include "dispatch_fx.h"
#include "harness.h"
#include "sim_proc.h"

#define STORE_PA_ONLY 2002   /* a store whose only platform is pa */
#define STUCK_MINUTES 1
/* The sweep asks after STUCK_MINUTES; the rest is one more ride at the
 * simulators' time scale, on a loaded machine (and ASan). */
#define SWEEP_WAIT_MS (STUCK_MINUTES * 60000 + 45000)
/* The test sees a state in the database a little after the daemon took the
 * news (the commit, the poll): how much earlier than stuck_minutes after
 * that sighting the sweep may act. */
#define SEEN_LAG_MS 2000u
#define STUCK_MS (STUCK_MINUTES * 60000u - SEEN_LAG_MS)

/* s_row: one value of SQL with the order id as $1 ("" when none; static). */
static const char *s_row(dfx_t *f, const char *sql, const char *id)
{
    static char out[1024];
    char *v = harness_db_value(f->h, sql, 1, id);
    snprintf(out, sizeof out, "%s", v ? v : "");
    free(v);
    return out;
}

/* s_attempts: "attempt platform state, ..." of order ID (static). */
static const char *s_attempts(dfx_t *f, const char *id)
{
    return s_row(f,
                 "SELECT coalesce(string_agg(attempt || ' ' || platform || ' ' || state, ', '"
                 " ORDER BY attempt), '') FROM dispatches WHERE order_id = $1",
                 id);
}

/* s_timeline: the order's event details in order, " | " between (malloc'ed). */
static char *s_timeline(dfx_t *f, const char *id)
{
    char *t = harness_db_value(f->h,
                               "SELECT string_agg(detail, ' | ' ORDER BY event_id)"
                               " FROM order_events WHERE order_id = $1",
                               1, id);
    assert_non_null(t);
    return t;
}

/* s_wait_timeline polls until order ID's timeline holds NEEDLE and returns
 * it (malloc'ed): the log says a decision when it is taken, its timeline
 * entry commits with the next batch of changes. */
static char *s_wait_timeline(dfx_t *f, const char *id, const char *needle, int timeout_ms)
{
    uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        char *tl = s_timeline(f, id);
        if (strstr(tl, needle) != NULL)
            return tl;
        if (harness_now_ms() > deadline)
            fail_msg("order %s: no '%s' in its timeline %d ms after the log said it:\n%s", id,
                     needle, timeout_ms, tl);
        free(tl);
        harness_nap_ms(20);
    }
}

/* s_wait_attempt polls until order ID's attempt ATTEMPT is at PLATFORM in
 * STATE (NULL: any state), checking for two live attempts on the way. */
static void s_wait_attempt(dfx_t *f, const char *id, int attempt, const char *platform,
                           const char *state, int timeout_ms)
{
    char n[16];
    snprintf(n, sizeof n, "%d", attempt);
    uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        char *got = harness_db_value(f->h,
                                     "SELECT platform || ' ' || state FROM dispatches"
                                     " WHERE order_id = $1 AND attempt = $2",
                                     2, id, n);
        char want[96];
        snprintf(want, sizeof want, "%s %s", platform, state ? state : "");
        bool ok = got && strncmp(got, want, strlen(want)) == 0 &&
                  (state || got[strlen(want)] != '\0');
        free(got);
        if (ok)
            return;
        char prefix[64];
        snprintf(prefix, sizeof prefix, "%.*s", (int)(strrchr(id, '-') - id), id);
        dfx_no_double_live(f, prefix, "while waiting for an attempt");
        if (harness_now_ms() > deadline)
            fail_msg("order %s: attempt %d is not %s after %d ms; attempts: %s", id, attempt,
                     want, timeout_ms, s_attempts(f, id));
        if (!harness_daemon_alive(f->h))
            fail_msg("sluiced died");
        harness_nap_ms(20);
    }
}

/* s_expect_in_order fails unless TEXT holds the NULL-terminated NEEDLES, in
 * that order. */
static void s_expect_in_order(const char *text, const char *what, ...)
{
    va_list ap;
    va_start(ap, what);
    const char *at = text;
    for (const char *needle; (needle = va_arg(ap, const char *));) {
        const char *hit = strstr(at, needle);
        if (!hit) {
            va_end(ap);
            fail_msg("%s: '%s' missing (or out of order) in:\n%s", what, needle, text);
        }
        at = hit + strlen(needle);
    }
    va_end(ap);
}

/* s_ctl_attempt: sluicectl's answer OUT has a line with KEY, PLATFORM and
 * STATE (one row of the attempts table). */
static void s_ctl_attempt(const char *out, const char *key, const char *platform,
                          const char *state)
{
    for (const char *line = out; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char row[512];
        snprintf(row, sizeof row, "%.*s", (int)(len < sizeof row ? len : sizeof row - 1), line);
        if (strstr(row, key) && strstr(row, platform) && strstr(row, state))
            return;
        line = end ? end + 1 : NULL;
    }
    fail_msg("sluicectl order: no attempt row with %s %s %s in:\n%s", key, platform, state, out);
}

/* s_ctl_redispatched: `sluicectl order ID` shows the order DELIVERED, its
 * attempt 1 CANCELLED at pa, attempt 2 DELIVERED at PLATFORM2, and WHY in
 * its timeline. */
static void s_ctl_redispatched(dfx_t *f, const char *id, const char *platform2, const char *why)
{
    char what[96], key[80];
    snprintf(what, sizeof what, "sluicectl order %s", id);
    ctl_run_t r = ctl_run(f->h, "-c", f->h->conf_path, "order", id, NULL);
    ctl_expect_rc(&r, 0, what);
    fprintf(stderr, "sweep: %s:\n%s", what, r.out);
    ctl_expect_field(r.out, "state", "DELIVERED");
    ctl_expect_has(r.out, "\ndispatch attempts: 2\n", what);
    snprintf(key, sizeof key, "%s:1", id);
    s_ctl_attempt(r.out, key, "pa", "CANCELLED");
    snprintf(key, sizeof key, "%s:2", id);
    s_ctl_attempt(r.out, key, platform2, "DELIVERED");
    ctl_expect_has(r.out, why, what);
    ctl_run_free(&r);
}

static dfx_plat_t s_plat(void)
{
    dfx_plat_t p = dfx_plat_defaults();
    p.quote_deadline_ms = 2500;  /* pa answers 1.5 s late in test 2 */
    p.timeout_ms = 3000;
    return p;
}

/* s_boot starts the daemon with pa and pb; pa's breaker opens once
 * PA_MIN_REQUESTS requests in its window saw half of them fail. */
static void s_boot(dfx_t *f, int pa_min_requests)
{
    dfx_plat_t plats[2] = {s_plat(), s_plat()};
    plats[0].min_requests = pa_min_requests;
    dfx_disp_t d = dfx_disp_defaults();
    d.stuck_minutes = STUCK_MINUTES;
    d.max_hold = 10;  /* longer than a sweep and a second ride */
    const char *stores[] = {"2001:pa,pb", "2002:pa", NULL};
    dfx_boot(f, plats, &d, stores);
}

/* ==== 1. stalled at ASSIGNED: rider replaced; at PICKED_UP: escalated ===== */

static void test_stalled_rides(void **state)
{
    dfx_t *f = *state;
    sim_proc_t *pa = dfx_sim(f, "pa", NULL);
    dfx_sim(f, "pb", NULL);
    s_boot(f, dfx_plat_defaults().min_requests);

    /* (a) pa's next ride never reaches the store. */
    assert_string_equal(sim_proc_ctl(pa, "stall next 1 at assigned"),
                        "ok stall next 1 at assigned");
    dfx_submit(f, "assigned-0", STORE_A);
    s_wait_attempt(f, "assigned-0", 1, "pa", "ASSIGNED", 30000);
    uint64_t assigned = harness_now_ms();

    /* (b) the next one never reaches the customer (pa is that store's only
     * platform). */
    assert_string_equal(sim_proc_ctl(pa, "stall next 1 at picked-up"),
                        "ok stall next 1 at picked-up");
    dfx_submit(f, "pickup-0", STORE_PA_ONLY);
    s_wait_attempt(f, "pickup-0", 1, "pa", "PICKED_UP", 60000);
    uint64_t picked = harness_now_ms();

    /* (a): attempt 1 cancelled for want of a pickup, not before a minute
     * without news; attempt 2 delivers. */
    dfx_wait_done(f, "assigned", 1, false, SWEEP_WAIT_MS);
    uint64_t took = harness_now_ms() - assigned;
    fprintf(stderr, "sweep: assigned-0 DELIVERED %" PRIu64 " ms after its first rider was assigned\n",
            took);
    if (took < STUCK_MS)
        fail_msg("assigned-0 was delivered %" PRIu64 " ms after attempt 1 was assigned: before "
                 "stuck_minutes",
                 took);
    dfx_check_attempts(f, "assigned", 1);
    const char *att = s_attempts(f, "assigned-0");
    if (strncmp(att, "1 pa CANCELLED, 2 p", 19) != 0 || !strstr(att, "DELIVERED") ||
        strchr(att + 19, ','))
        fail_msg("assigned-0: attempts %s; expected pa CANCELLED, then one DELIVERED", att);
    char *tl = s_timeline(f, "assigned-0");
    s_expect_in_order(tl, "assigned-0's timeline", "dispatching to pa (attempt 1, key assigned-0:1)",
                      "cancelling attempt 1 at pa: rider pa-r",
                      "has not picked up in 1 minute; pa says ASSIGNED", "(attempt 2, key assigned-0:2)",
                      "delivered by rider", NULL);
    free(tl);
    assert_true(harness_log_contains(f->h, "order assigned-0: rider pa-r", true));
    assert_true(harness_log_contains(f->h, "pa says ASSIGNED; replacing the rider", true));

    /* sluicectl tells support both attempts and why the first ended. */
    char platform2[1024];
    snprintf(platform2, sizeof platform2, "%s",
             s_row(f, "SELECT platform FROM dispatches WHERE order_id = $1 AND attempt = 2",
                   "assigned-0"));
    s_ctl_redispatched(f, "assigned-0", platform2,
                       "has not picked up in 1 minute; pa says ASSIGNED");

    /* (b): escalated once a minute passed without news, and left with its
     * rider: still PICKED_UP, one attempt. */
    uint64_t deadline = picked + SWEEP_WAIT_MS;
    while (!harness_log_contains(f->h, "order pickup-0: stuck: no news from pa for 1 minute;", true)) {
        if (harness_now_ms() > deadline)
            fail_msg("pickup-0 was not escalated %d ms after pickup; timeline: %s", SWEEP_WAIT_MS,
                     s_row(f,
                           "SELECT string_agg(detail, ' | ' ORDER BY event_id) FROM order_events"
                           " WHERE order_id = $1",
                           "pickup-0"));
        harness_nap_ms(100);
    }
    took = harness_now_ms() - picked;
    fprintf(stderr, "sweep: pickup-0 escalated %" PRIu64 " ms after pickup\n", took);
    if (took < STUCK_MS)
        fail_msg("pickup-0 escalated %" PRIu64 " ms after pickup: before stuck_minutes", took);
    assert_true(harness_log_contains(f->h, "support should call the platform", true));
    tl = s_wait_timeline(f, "pickup-0", "stuck: no news from pa", 10000);
    s_expect_in_order(tl, "pickup-0's timeline", "dispatching to pa (attempt 1, key pickup-0:1)",
                      "stuck: no news from pa for 1 minute; it says PICKED_UP (rider pa-r", NULL);
    free(tl);
    assert_string_equal(s_attempts(f, "pickup-0"), "1 pa PICKED_UP");
    assert_string_equal(s_row(f, "SELECT state FROM orders WHERE order_id = $1", "pickup-0"),
                        "PICKED_UP");
    ctl_run_t r = ctl_run(f->h, "-c", f->h->conf_path, "order", "pickup-0", NULL);
    ctl_expect_rc(&r, 0, "sluicectl order pickup-0");
    ctl_expect_has(r.out, "\ndispatch attempts: 1\n", "sluicectl order pickup-0");
    ctl_expect_has(r.out, "it says PICKED_UP", "sluicectl order pickup-0");
    ctl_run_free(&r);

    /* The platform was asked (Status) before either was acted on. */
    double sweeps = dfx_metric(f, "sluice_dispatch_sweeps_total");
    double stuck = dfx_metric(f, "sluice_dispatch_stuck_total");
    fprintf(stderr, "sweep: sluice_dispatch_sweeps_total %g, sluice_dispatch_stuck_total %g\n",
            sweeps, stuck);
    if (stuck < 2 || sweeps < stuck)
        fail_msg("metrics: %g sweeps, %g confirmed stuck; expected at least 2, and no fewer "
                 "sweeps than stuck",
                 sweeps, stuck);

    dfx_check_ledgers(f);
    dfx_finish(f);
}

/* ==== 2. redispatched after an outage: each attempt in the timeline ======= */

static void test_outage_redispatch(void **state)
{
    dfx_t *f = *state;
    sim_proc_t *pa = dfx_sim(f, "pa", NULL);
    dfx_sim(f, "pb", NULL);
    s_boot(f, 2);

    /* pa answers 1.5 s late: its quote still counts (deadline 2.5 s), and
     * going dark in that time loses the answer to the DispatchRequest. Its
     * rider never comes (stall): had the ride gone on unseen, the cancel
     * after the outage would come too late and the row follow the rider to
     * DELIVERED at pa (no redispatch, rightly). */
    assert_string_equal(sim_proc_ctl(pa, "slow 1500"), "ok slow 1500");
    assert_string_equal(sim_proc_ctl(pa, "stall next 1"), "ok stall next 1 at assigned");
    dfx_submit(f, "outage-0", STORE_A);
    s_wait_attempt(f, "outage-0", 1, "pa", NULL, 30000);
    assert_string_equal(sim_proc_ctl(pa, "dark"), "ok dark");
    /* No answer in timeout_ms: the key is being cancelled, and pa, dark, does
     * not answer that either; the order waits rather than risk two riders. */
    s_wait_attempt(f, "outage-0", 1, "pa", "CANCELLING", 20000);
    /* The timeout and the unanswered cancel are failures: the breaker opens. */
    dfx_wait_breaker(f, "pa", 1, 20000);
    dfx_no_double_live(f, "outage", "while pa was dark");
    assert_string_equal(sim_proc_ctl(pa, "slow 0"), "ok slow 0");
    assert_string_equal(sim_proc_ctl(pa, "light"), "ok light");

    dfx_wait_done(f, "outage", 1, false, 90000);
    dfx_check_attempts(f, "outage", 1);
    const char *att = s_attempts(f, "outage-0");
    if (strcmp(att, "1 pa CANCELLED, 2 pb DELIVERED") != 0)
        fail_msg("outage-0: attempts %s; expected 1 pa CANCELLED, 2 pb DELIVERED", att);
    char *tl = s_timeline(f, "outage-0");
    s_expect_in_order(tl, "outage-0's timeline", "dispatching to pa (attempt 1, key outage-0:1)",
                      "cancelling attempt 1 at pa", "dispatching to pb (attempt 2, key outage-0:2)",
                      "pb: delivered by rider", NULL);
    free(tl);

    s_ctl_redispatched(f, "outage-0", "pb", "cancelling attempt 1 at pa");

    dfx_check_ledgers(f);
    dfx_finish(f);
}

int main(void)
{
    static const harness_case_t cases[] = {
        HARNESS_CASE(test_stalled_rides),
        HARNESS_CASE(test_outage_redispatch),
    };
    return harness_main("sweep", cases, HARNESS_COUNT(cases), dfx_setup, dfx_teardown);
}
