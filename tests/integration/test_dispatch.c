/* test_dispatch.c - the dispatch engine end to end: the real sluiced, a real
 * throwaway PostgreSQL and two or three sluice-sim processes as delivery
 * platforms. Orders ride to DELIVERED with the rider at the counter within
 * the margin of the ready time; a platform that goes dark trips its breaker
 * and the others take its orders until it recovers; a platform slower than
 * timeout_ms never holds a second rider for one order; kill -9 in the middle
 * of dispatching loses nothing and doubles nothing; a platform's own cancel
 * sends the order elsewhere; NO_RIDERS at admission (breakers open, a full
 * pool, a gateway that is gone from the start or later and is used again as
 * soon as it is back, a platform that has no rider for the store); FAILED
 * after max_hold; MarkReady sends the rider at once, for the time reported.
 *
 * The simulators' ledgers are the witnesses: `sluice-sim --check-ledger`
 * over all of them proves that no order ever had two live riders. Every wait
 * polls against a deadline. Store HARNESS_FIRST_STORE has no platforms: the
 * harness's probe orders land there and stay out of the way; the stores
 * under test are 2001.. at the simulators' centre.
 * Environment: as tests/integration/harness.h and sim_proc.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <zmq.h>

#include "harness.h"
#include "proto/events.pb-c.h"
#include "sim_proc.h"

#include "dispatch_fx.h"

#define STORE_B 2002
#define STORE_C 2003
/* Timers of two processes on a loaded machine: how far an arrival may stray
 * past the margin. */
#define SLACK_MS 1500

/* ==== 1. orders flow to DELIVERED, riders on time ============================= */

/* Two stores with opposite preferences over two platforms: each store's
 * orders go to its first platform (equal fees, arrivals within the same
 * minute: the preference decides), all are DELIVERED with exactly one
 * attempt, and each rider reached the counter within the margin of the
 * order's promised ready time, on the simulator's clock (its ledger). */
static void test_flow_delivered(void **state)
{
    dfx_t *f = *state;
    enum { N = 24 };
    dfx_sim(f, "pa", NULL);
    dfx_sim(f, "pb", NULL);
    dfx_plat_t plats[2] = {dfx_plat_defaults(), dfx_plat_defaults()};
    dfx_disp_t d = dfx_disp_defaults();
    const char *stores[] = {"2001:pa,pb", "2002:pb,pa", NULL};
    dfx_boot(f, plats, &d, stores);

    uint64_t t0 = harness_now_ms();
    const uint32_t ids[] = {STORE_A, STORE_B};
    dfx_submit_many(f, "flow", N, ids, 2);
    dfx_wait_done(f, "flow", N, false, 60000);
    fprintf(stderr, "dispatch: %d orders accepted to DELIVERED in %" PRIu64 " ms\n", N,
            harness_now_ms() - t0);
    dfx_check_attempts(f, "flow", N);

    /* Preference: equal fees and arrivals within the minute. */
    long wrong = dfx_count_like(f,
                              "SELECT count(*) FROM orders o JOIN dispatches d USING (order_id)"
                              " WHERE o.order_id LIKE $1 AND d.state = 'DELIVERED' AND"
                              " d.platform <> CASE o.store_id WHEN 2001 THEN 'pa' ELSE 'pb' END",
                              "flow");
    assert_int_equal(wrong, 0);
    long one_attempt = dfx_count_like(f,
                                    "SELECT count(*) FROM dispatches WHERE order_id LIKE $1 AND"
                                    " attempt = 1 AND state = 'DELIVERED'",
                                    "flow");
    assert_int_equal(one_attempt, N);

    /* The timeline: every step an event with a readable detail. */
    long timelines = dfx_count_like(
        f,
        "SELECT count(*) FROM orders o WHERE o.order_id LIKE $1 AND"
        " EXISTS (SELECT 1 FROM order_events e WHERE e.order_id = o.order_id AND"
        "         e.state = 'DISPATCHING' AND e.detail LIKE 'dispatching to p_ (attempt 1, key %')"
        " AND EXISTS (SELECT 1 FROM order_events e WHERE e.order_id = o.order_id AND"
        "         e.state = 'RIDER_ASSIGNED')"
        " AND EXISTS (SELECT 1 FROM order_events e WHERE e.order_id = o.order_id AND"
        "         e.state = 'PICKED_UP')"
        " AND EXISTS (SELECT 1 FROM order_events e WHERE e.order_id = o.order_id AND"
        "         e.state = 'DELIVERED' AND e.detail LIKE '%delivered by rider%')",
        "flow");
    assert_int_equal(timelines, N);

    /* A POS that taps "ready" after the rider took the order gets the
     * status, not a conflict: the order was ready. */
    Sluice__V1__Reply *late = harness_mark_ready(f->cl, "flow-0", DFX_REPLY_MS);
    harness_expect_status(late, "flow-0", "DELIVERED", "MarkReady of a delivered order");
    harness_reply_free(&late);

    /* On time: the simulators' "arrived" records against promised_ready_at. */
    PGresult *res = dfx_query(f,
                            "SELECT order_id, (extract(epoch FROM promised_ready_at) * 1000)::int8"
                            " FROM orders WHERE order_id LIKE 'flow-%'",
                            0, NULL);
    assert_int_equal(PQntuples(res), N);
    size_t arrivals = 0;
    int64_t worst_early = 0, worst_late = 0;
    const int64_t margin_ms = DFX_MARGIN_S * 1000;
    for (size_t s = 0; s < f->nsims; s++) {
        size_t n = 0;
        dfx_lrec_t *recs = dfx_ledger_read(f->sims[s].ledger, &n);
        for (size_t i = 0; i < n; i++) {
            if (strcmp(recs[i].event, "arrived") != 0)
                continue;
            int row = -1;
            for (int r = 0; r < PQntuples(res) && row < 0; r++)
                if (strcmp(PQgetvalue(res, r, 0), recs[i].order_id) == 0)
                    row = r;
            if (row < 0)
                continue;  /* not one of ours */
            arrivals++;
            int64_t ready = strtoll(PQgetvalue(res, row, 1), NULL, 10);
            int64_t off = (int64_t)recs[i].at_ms - ready;  /* < 0: the rider waits */
            if (-off > worst_early)
                worst_early = -off;
            if (off > worst_late)
                worst_late = off;
            if (off < -(margin_ms + SLACK_MS) || off > margin_ms + SLACK_MS)
                fail_msg("order %s: the rider of %s reached the counter %" PRId64 " ms %s its "
                         "ready time; the margin is %" PRId64 " ms",
                         recs[i].order_id, f->names[s], off < 0 ? -off : off,
                         off < 0 ? "before" : "after", margin_ms);
        }
        free(recs);
    }
    PQclear(res);
    assert_int_equal(arrivals, N);
    fprintf(stderr, "dispatch: riders at the counter at most %" PRId64 " ms early, %" PRId64
                    " ms late (margin %" PRId64 " ms)\n",
            worst_early, worst_late, margin_ms);
    dfx_check_ledgers(f);
    dfx_finish(f);
}

/* ==== 2. a platform goes dark: its breaker opens, then closes ================= */

/* A steady trickle of orders over the stores, one every INTERVAL_MS. */
typedef struct flow {
    dfx_t *f;
    const char *prefix;
    const uint32_t *stores;
    size_t nstores, next;
    int interval_ms;
    uint64_t next_at;
} flow_t;

static void s_flow_tick(flow_t *fl)
{
    uint64_t now = harness_now_ms();
    if (now < fl->next_at)
        return;
    char id[64];
    dfx_order_id(id, sizeof id, fl->prefix, fl->next);
    dfx_submit(fl->f, id, fl->stores[fl->next % fl->nstores]);
    fl->next++;
    fl->next_at = (fl->next_at ? fl->next_at : now) + (uint64_t)fl->interval_ms;
}

/* s_flow_until sends the trickle until the log from MARK on has NEEDLE;
 * returns how long that took (ms), or fails after TIMEOUT_MS. */
static uint64_t s_flow_until_log(flow_t *fl, off_t mark, const char *needle, int timeout_ms)
{
    uint64_t start = harness_now_ms(), deadline = start + (uint64_t)timeout_ms;
    while (!harness_log_contains_from(fl->f->h, mark, needle)) {
        if (harness_now_ms() > deadline)
            fail_msg("no '%s' in the log within %d ms", needle, timeout_ms);
        if (!harness_daemon_alive(fl->f->h))
            fail_msg("sluiced died");
        s_flow_tick(fl);
        harness_nap_ms(20);
    }
    return harness_now_ms() - start;
}

static void s_flow_for(flow_t *fl, int ms)
{
    uint64_t end = harness_now_ms() + (uint64_t)ms;
    while (harness_now_ms() < end) {
        s_flow_tick(fl);
        harness_nap_ms(20);
    }
}

/* Three platforms, three stores each preferring another one. While orders
 * flow and pa holds riders, pa goes dark: its breaker opens within its
 * window (log line and /metrics), orders of the store that prefers pa go to
 * its second choice, and after "light" the breaker goes half-open and closes
 * again. Every order, also those pa held while dark, ends DELIVERED with one
 * delivered attempt, and no order ever had two riders. */
/* s_platform_event_seen: a PlatformEvent for PLATFORM saying BREAKER arrives
 * on SUB within TIMEOUT_MS (earlier events of other states are skipped). */
static bool s_platform_event_seen(void *sub, const char *platform, const char *breaker,
                                  int timeout_ms)
{
    uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
    while (harness_now_ms() < deadline) {
        char topic[64];
        uint8_t body[1024];
        int t = zmq_recv(sub, topic, sizeof topic - 1, ZMQ_DONTWAIT);
        if (t < 0) {
            harness_nap_ms(20);
            continue;
        }
        int n = zmq_recv(sub, body, sizeof body, 0);
        if (n < 0 || n > (int)sizeof body)
            continue;
        Sluice__V1__PlatformEvent *ev =
            sluice__v1__platform_event__unpack(NULL, (size_t)n, body);
        if (!ev)
            fail_msg("a platform event that is not a PlatformEvent");
        bool match = strcmp(ev->platform, platform) == 0 && strcmp(ev->breaker, breaker) == 0 &&
                     ev->at_ms > 0;
        sluice__v1__platform_event__free_unpacked(ev, NULL);
        if (match)
            return true;
    }
    return false;
}

static void test_dark_platform_breaker(void **state)
{
    dfx_t *f = *state;
    sim_proc_t *pa = dfx_sim(f, "pa", NULL);
    dfx_sim(f, "pb", NULL);
    dfx_sim(f, "pc", NULL);
    dfx_plat_t p = dfx_plat_defaults();
    p.timeout_ms = 600;
    p.quote_deadline_ms = 400;
    p.slow_ms = 1000;
    p.min_requests = 4;
    p.open_seconds = 2;
    p.window_seconds = 4;
    /* pb and pc keep lenient breakers and deadlines: a slow moment of a
     * loaded machine must not send orders past their second choice. */
    dfx_plat_t plats[3] = {p, dfx_plat_defaults(), dfx_plat_defaults()};
    dfx_disp_t d = dfx_disp_defaults();
    const char *stores[] = {"2001:pa,pb,pc", "2002:pb,pc,pa", "2003:pc,pa,pb", NULL};
    dfx_boot(f, plats, &d, stores);
    assert_int_equal(dfx_breaker_metric(f, "pa"), 0);
    /* Breaker changes are published too (topic "platform.<name>"). Its own
     * context: a failed assertion must not leave the harness's context
     * waiting for this socket at teardown. */
    void *sub_ctx = zmq_ctx_new();
    void *sub = zmq_socket(sub_ctx, ZMQ_SUB);
    int linger = 0;
    zmq_setsockopt(sub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "platform.pa", strlen("platform.pa"));
    assert_int_equal(zmq_connect(sub, f->h->events), 0);

    const uint32_t ids[] = {STORE_A, STORE_B, STORE_C};
    flow_t fl = {.f = f, .prefix = "dark", .stores = ids, .nstores = 3, .interval_ms = 250};
    /* Flow until pa has riders on the way to the store and riders carrying
     * orders, so going dark strands some of each: their events are lost. */
    uint64_t deadline = harness_now_ms() + 30000;
    while (harness_db_count(f->h,
                            "SELECT count(*) FILTER (WHERE state = 'PICKED_UP') * "
                            "       count(*) FILTER (WHERE state IN ('ASSIGNED', 'ARRIVED'))"
                            " FROM dispatches WHERE platform = 'pa'",
                            0) < 1) {
        if (harness_now_ms() > deadline)
            fail_msg("pa never had riders both on the way and carrying");
        s_flow_tick(&fl);
        harness_nap_ms(20);
    }

    off_t mark = harness_log_size(f->h);
    uint64_t dark_wall = harness_wall_ms();
    assert_string_equal(sim_proc_ctl(pa, "dark"), "ok dark");
    uint64_t opened_ms = s_flow_until_log(&fl, mark, "platform pa: breaker open (", 30000);
    uint64_t metric_ms = dfx_wait_breaker(f, "pa", 1, 5000);
    fprintf(stderr, "dispatch: pa dark: breaker open after %" PRIu64 " ms (window %d s), on "
                    "/metrics %" PRIu64 " ms later\n",
            opened_ms, p.window_seconds, metric_ms);
    assert_true(s_platform_event_seen(sub, "pa", "open", 5000));
    if (opened_ms > (uint64_t)p.window_seconds * 1000u + (uint64_t)p.quote_deadline_ms + 1000u)
        fail_msg("pa's breaker opened %" PRIu64 " ms after it went dark; its window is %d s",
                 opened_ms, p.window_seconds);
    /* Orders while pa's breaker is open; dark long enough that the rides it
     * carried end unseen. */
    s_flow_for(&fl, 2500);
    while (harness_wall_ms() < dark_wall + 7000)
        s_flow_for(&fl, 100);

    off_t lit = harness_log_size(f->h);
    uint64_t light_wall = harness_wall_ms();
    assert_string_equal(sim_proc_ctl(pa, "light"), "ok light");
    uint64_t closed_ms = s_flow_until_log(&fl, lit, "platform pa: breaker closed (", 20000);
    dfx_wait_breaker(f, "pa", 0, 5000);
    assert_true(s_platform_event_seen(sub, "pa", "closed", 5000));
    zmq_close(sub);
    zmq_ctx_term(sub_ctx);
    fprintf(stderr, "dispatch: pa light: breaker closed after %" PRIu64 " ms (open %d s)\n",
            closed_ms, p.open_seconds);
    /* Closed by a half-open probe: the last change before "closed" is
     * half-open. */
    char *log = harness_log_read_from(f->h, mark);
    const char *closed = strstr(log, "platform pa: breaker closed (");
    const char *last = NULL;
    for (const char *at = strstr(log, "platform pa: breaker "); at && at < closed;
         at = strstr(at + 1, "platform pa: breaker "))
        last = at;
    if (!last || strncmp(last, "platform pa: breaker half-open", 30) != 0)
        fail_msg("pa's breaker did not close through half-open; before 'closed' the log says "
                 "'%.60s'", last ? last : "nothing");
    free(log);
    s_flow_for(&fl, 1000);

    long n = (long)fl.next;
    dfx_wait_done(f, "dark", n, false, 60000);
    dfx_check_attempts(f, "dark", n);
    /* While pa was dark, no attempt went to it (its quotes could not
     * answer, and once its breaker opened it was not even asked), and the
     * store preferring it had its orders dispatched to its second choice. */
    char from[32], to[32];
    snprintf(from, sizeof from, "%" PRIu64, dark_wall + (uint64_t)p.quote_deadline_ms);
    snprintf(to, sizeof to, "%" PRIu64, light_wall);
    static const char in_dark[] =
        " FROM dispatches d JOIN orders o USING (order_id) WHERE o.store_id = 2001 AND"
        " d.created_at >= to_timestamp($1::int8 / 1000.0) AND"
        " d.created_at < to_timestamp($2::int8 / 1000.0)";
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT count(*)%s AND d.platform = 'pb'", in_dark);
    long to_pb = harness_db_count(f->h, sql, 2, from, to);
    snprintf(sql, sizeof sql, "SELECT count(*)%s AND d.platform <> 'pb'", in_dark);
    long elsewhere = harness_db_count(f->h, sql, 2, from, to);
    fprintf(stderr, "dispatch: while pa was dark, store 2001 dispatched %ld orders to pb, %ld "
                    "elsewhere\n", to_pb, elsewhere);
    assert_true(to_pb > 0);
    assert_int_equal(elsewhere, 0);
    assert_int_equal(harness_db_count(f->h,
                                      "SELECT count(*) FROM dispatches WHERE platform = 'pa' AND"
                                      " created_at >= to_timestamp($1::int8 / 1000.0) AND"
                                      " created_at < to_timestamp($2::int8 / 1000.0)",
                                      2, from, to),
                     0);
    /* Rides pa ended while dark, their events lost: the daemon learnt of
     * them by asking pa once it answered again. */
    size_t nrec = 0, unseen = 0;
    dfx_lrec_t *recs = dfx_ledger_read(pa->ledger, &nrec);
    for (size_t i = 0; i < nrec; i++) {
        if (strcmp(recs[i].event, "delivered") != 0 || recs[i].at_ms < dark_wall ||
            recs[i].at_ms >= light_wall)
            continue;
        unseen++;
        assert_int_equal(harness_db_count(f->h,
                                          "SELECT count(*) FROM order_events WHERE order_id = $1"
                                          " AND state = 'DELIVERED' AND"
                                          " detail = 'pa reports the attempt DELIVERED'",
                                          1, recs[i].order_id),
                         1);
    }
    free(recs);
    fprintf(stderr, "dispatch: %zu rides of pa were delivered while it was dark\n", unseen);
    assert_true(unseen > 0);
    long at_pa = harness_db_count(f->h,
                                  "SELECT count(*) FROM dispatches WHERE platform = 'pa' AND"
                                  " state = 'DELIVERED'",
                                  0);
    fprintf(stderr, "dispatch: %ld orders, %ld delivered by pa\n", n, at_pa);
    dfx_check_ledgers(f);
    dfx_finish(f);
}

/* ==== 3. a platform slower than timeout_ms ===================================== */

/* pa answers every request 800 ms late: its quotes (deadline 3 s) arrive,
 * so it is chosen (the stores prefer it), but its dispatch replies miss
 * timeout_ms = 300. Each such attempt must be cancelled, and the order may
 * go to pb only once pa said it released the key. The breaker is kept out of
 * the way (min_requests too high) so that every order goes through this.
 * No order ever has two live riders (ledgers, and the dispatches table at
 * every poll) and every order is DELIVERED, by pb. */
static void test_slow_platform_no_double(void **state)
{
    dfx_t *f = *state;
    enum { N = 8 };
    const char *const slow[] = {"--slow-ms", "800", NULL};
    sim_proc_t *pa = dfx_sim(f, "pa", slow);
    dfx_sim(f, "pb", NULL);
    dfx_plat_t plats[2] = {dfx_plat_defaults(), dfx_plat_defaults()};
    plats[0].timeout_ms = 300;
    plats[0].quote_deadline_ms = 3000;
    plats[0].min_requests = 1000000;
    dfx_disp_t d = dfx_disp_defaults();
    d.item_seconds = 1;   /* ready in 3 s: the margin is not the point here */
    d.order_seconds = 0;
    const char *stores[] = {"2001:pa,pb", NULL};
    dfx_boot(f, plats, &d, stores);

    const uint32_t ids[] = {STORE_A};
    dfx_submit_many(f, "slow", N, ids, 1);
    dfx_wait_done(f, "slow", N, false, 90000);
    dfx_check_attempts(f, "slow", N);
    dfx_check_ledgers(f);

    /* It happened as meant: pa took each order first, timed out, released. */
    long timed_out = dfx_count_like(f,
                                  "SELECT count(DISTINCT order_id) FROM order_events WHERE"
                                  " order_id LIKE $1 AND detail LIKE"
                                  " 'cancelling attempt 1 at pa: no answer to the dispatch%'",
                                  "slow");
    long released = dfx_count_like(f,
                                 "SELECT count(*) FROM dispatches WHERE order_id LIKE $1 AND"
                                 " platform = 'pa' AND state = 'CANCELLED'",
                                 "slow");
    long by_pb = dfx_count_like(f,
                              "SELECT count(*) FROM dispatches WHERE order_id LIKE $1 AND"
                              " platform = 'pb' AND state = 'DELIVERED' AND attempt = 2",
                              "slow");
    size_t pa_dispatched = dfx_ledger_count(pa, "dispatch", NULL);
    size_t pa_cancelled = dfx_ledger_count(pa, "cancelled", "by=client");
    fprintf(stderr, "dispatch: slow pa: %ld timed out, %ld released, %ld delivered by pb; pa's "
                    "ledger: %zu dispatched, %zu cancelled by us\n",
            timed_out, released, by_pb, pa_dispatched, pa_cancelled);
    assert_int_equal(timed_out, N);
    assert_int_equal(released, N);
    assert_int_equal(by_pb, N);
    assert_int_equal(pa_dispatched, N);
    assert_int_equal(pa_cancelled, N);
    dfx_finish(f);
}

/* ==== 4. kill -9 in the middle of dispatching ===================================== */

/* s_wait_attempts polls until the attempts of PREFIX at pa in STATE for at
 * least MIN_AGE_MS number at least MIN_STATE while those with a rider number
 * at least MIN_RIDER, checking for double live attempts on every poll. The
 * age matters: a SENDING row is committed before its request leaves, so a
 * kill in the first instant may come before pa ever saw the key. */
static void s_wait_attempts(dfx_t *f, const char *prefix, const char *state, int min_age_ms,
                            long min_state, long min_rider, int timeout_ms)
{
    uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
    char like[80], age[32];
    snprintf(like, sizeof like, "%s-%%", prefix);
    snprintf(age, sizeof age, "%d milliseconds", min_age_ms);
    const char *sql = "SELECT count(*) FROM dispatches WHERE order_id LIKE $1 AND platform = 'pa'"
                      " AND state = $2::dispatch_state AND updated_at < now() - $3::interval";
    long in_state = 0, riding = 0;
    for (;;) {
        dfx_no_double_live(f, prefix, "before the kill");
        in_state = harness_db_count(f->h, sql, 3, like, state, age);
        if (in_state < 0)
            fail_msg("query failed: %s", sql);
        riding = dfx_count_like(f,
                              "SELECT count(*) FROM dispatches WHERE order_id LIKE $1 AND"
                              " state IN ('ASSIGNED', 'ARRIVED', 'PICKED_UP')",
                              prefix);
        if (in_state >= min_state && riding >= min_rider)
            return;
        if (harness_now_ms() > deadline)
            fail_msg("no moment with %ld attempts %s (saw %ld) and %ld with a rider (saw %ld)",
                     min_state, state, in_state, min_rider, riding);
        harness_nap_ms(10);
    }
}

/* s_kill9_restart kills the daemon with SIGKILL, says what it left behind,
 * and starts it again on the same database. */
static void s_kill9_restart(dfx_t *f, const char *prefix)
{
    harness_signal(f->h, SIGKILL);
    assert_int_equal(harness_wait_exit(f->h, 10000), 128 + SIGKILL);
    char like[80];
    snprintf(like, sizeof like, "%s-%%", prefix);
    const char *params[] = {like};
    PGresult *res = dfx_query(f,
                            "SELECT platform || ' ' || state || '=' || count(*) FROM dispatches"
                            " WHERE order_id LIKE $1 GROUP BY platform, state ORDER BY 1",
                            1, params);
    fprintf(stderr, "dispatch: killed with attempts:");
    for (int r = 0; r < PQntuples(res); r++)
        fprintf(stderr, " %s", PQgetvalue(res, r, 0));
    PQclear(res);
    fprintf(stderr, "; orders without an attempt: %ld\n",
            dfx_count_like(f,
                         "SELECT count(*) FROM orders o WHERE order_id LIKE $1 AND NOT EXISTS"
                         " (SELECT 1 FROM dispatches d WHERE d.order_id = o.order_id)",
                         prefix));
    dfx_no_double_live(f, prefix, "after the kill");
    harness_start(f->h);
    if (!harness_wait_ready(f->h, 30000))
        fail_msg("sluiced did not come back after kill -9");
}

/* Orders over two platforms; pa answers 400 ms late, below its timeout_ms of
 * 1 s, so outbox rows stay SENDING a while. First kill -9 while attempts are
 * SENDING and riders are on the road (restart: re-sent under their keys,
 * asked for their status). Then pa slows to 1.5 s, past timeout_ms: its new
 * attempts time out and are cancelled; second kill -9 while attempts are
 * CANCELLING (restart: cancelled again). Every order ends DELIVERED with one
 * delivered attempt, the ledgers show no order with two live riders, and no
 * poll of the dispatches table ever saw an order with two live attempts. */
static void test_kill9_mid_dispatch(void **state)
{
    dfx_t *f = *state;
    enum { N1 = 20, N2 = 12 };
    const char *const slow[] = {"--slow-ms", "400", NULL};
    sim_proc_t *pa = dfx_sim(f, "pa", slow);
    dfx_sim(f, "pb", NULL);
    dfx_plat_t plats[2] = {dfx_plat_defaults(), dfx_plat_defaults()};
    plats[0].timeout_ms = 1000;
    plats[0].quote_deadline_ms = 3000;
    dfx_disp_t d = dfx_disp_defaults();
    const char *stores[] = {"2001:pa,pb", "2002:pb,pa", NULL};
    dfx_boot(f, plats, &d, stores);

    const uint32_t ids[] = {STORE_A, STORE_B};
    dfx_submit_many(f, "kill", N1, ids, 2);
    s_wait_attempts(f, "kill", "SENDING", 150, 1, 4, 40000);
    s_kill9_restart(f, "kill");

    assert_string_equal(sim_proc_ctl(pa, "slow 1500"), "ok slow 1500");
    for (size_t i = N1; i < N1 + N2; i++) {
        char id[64];
        dfx_order_id(id, sizeof id, "kill", i);
        dfx_submit(f, id, ids[i % 2]);
    }
    s_wait_attempts(f, "kill", "CANCELLING", 0, 1, 1, 40000);
    s_kill9_restart(f, "kill");

    dfx_wait_done(f, "kill", N1 + N2, false, 90000);
    dfx_check_attempts(f, "kill", N1 + N2);
    dfx_check_ledgers(f);
    uint64_t duplicates = sim_proc_stat(pa, "duplicates");
    long recancelled = dfx_count_like(f,
                                    "SELECT count(*) FROM order_events WHERE order_id LIKE $1"
                                    " AND detail LIKE 'pa released attempt%'",
                                    "kill");
    fprintf(stderr, "dispatch: pa saw %" PRIu64 " repeated keys; %ld attempts released by pa\n",
            duplicates, recancelled);
    assert_true(duplicates > 0);   /* SENDING rows went out again under their keys */
    assert_true(recancelled > 0);
    dfx_finish(f);
}

/* ==== 5. the platform cancels after assigning ======================================= */

/* pa gives up every order it takes (--cancel-ratio 1), on the rider's way to
 * the store; pb is normal. Each order goes to pa (preferred), is cancelled
 * by pa, goes to pb as attempt 2 under key "<order_id>:2" and is DELIVERED;
 * its timeline tells both attempts. */
static void test_platform_cancel_redispatch(void **state)
{
    dfx_t *f = *state;
    enum { N = 4 };
    const char *const cancels[] = {"--cancel-ratio", "1", NULL};
    sim_proc_t *pa = dfx_sim(f, "pa", cancels);
    dfx_sim(f, "pb", NULL);
    dfx_plat_t plats[2] = {dfx_plat_defaults(), dfx_plat_defaults()};
    dfx_disp_t d = dfx_disp_defaults();
    d.item_seconds = 1;   /* ready in 3 s: the margin is not the point here */
    d.order_seconds = 0;
    const char *stores[] = {"2001:pa,pb", NULL};
    dfx_boot(f, plats, &d, stores);

    const uint32_t ids[] = {STORE_A};
    dfx_submit_many(f, "pcan", N, ids, 1);
    dfx_wait_done(f, "pcan", N, false, 60000);
    dfx_check_attempts(f, "pcan", N);
    for (size_t i = 0; i < N; i++) {
        char id[64], key1[72], key2[72];
        dfx_order_id(id, sizeof id, "pcan", i);
        snprintf(key1, sizeof key1, "%s:1", id);
        snprintf(key2, sizeof key2, "%s:2", id);
        char *row1 = harness_db_value(f->h,
                                      "SELECT platform || ' ' || state FROM dispatches WHERE"
                                      " dispatch_key = $1 AND order_id = $2 AND attempt = 1",
                                      2, key1, id);
        char *row2 = harness_db_value(f->h,
                                      "SELECT platform || ' ' || state FROM dispatches WHERE"
                                      " dispatch_key = $1 AND order_id = $2 AND attempt = 2",
                                      2, key2, id);
        if (!row1 || strcmp(row1, "pa CANCELLED") != 0 || !row2 ||
            strcmp(row2, "pb DELIVERED") != 0)
            fail_msg("order %s: attempt 1 is '%s', attempt 2 '%s'; expected pa CANCELLED, then pb "
                     "DELIVERED",
                     id, row1 ? row1 : "missing", row2 ? row2 : "missing");
        free(row1);
        free(row2);
        assert_int_equal(harness_db_count(f->h,
                                          "SELECT count(*) FROM dispatches WHERE order_id = $1",
                                          1, id),
                         2);
        /* The timeline, in order: attempt 1 at pa, pa's cancel, attempt 2 at pb. */
        char *timeline = harness_db_value(f->h,
                                          "SELECT string_agg(detail, ' | ' ORDER BY event_id)"
                                          " FROM order_events WHERE order_id = $1",
                                          1, id);
        assert_non_null(timeline);
        char want1[128], want3[128];
        snprintf(want1, sizeof want1, "dispatching to pa (attempt 1, key %s)", key1);
        snprintf(want3, sizeof want3, "dispatching to pb (attempt 2, key %s)", key2);
        const char *a1 = strstr(timeline, want1);
        const char *a2 = a1 ? strstr(a1, "pa cancelled attempt 1 (theirs") : NULL;
        const char *a3 = a2 ? strstr(a2, want3) : NULL;
        const char *a4 = a3 ? strstr(a3, "pb: delivered by rider") : NULL;
        if (!a4)
            fail_msg("order %s: the timeline does not tell both attempts in order: %s", id,
                     timeline);
        free(timeline);
    }
    assert_int_equal(dfx_ledger_count(pa, "cancelled", "by=platform"), N);
    dfx_check_ledgers(f);
    dfx_finish(f);
}

/* ==== 6. NO_RIDERS at admission ========================================================= */

/* Both platforms of store 2001 go dark; the orders already accepted keep
 * asking them until both breakers open. Then a new order to that store is
 * refused NO_RIDERS with a retry_after_ms no later than the breakers' open
 * time, while a store without platforms still accepts. Store 2002's only
 * platform pc takes one order at a time (max_inflight = 1): while it holds
 * one, a new order there is refused NO_RIDERS too, and accepted again once
 * that one is delivered. */
static void test_no_riders(void **state)
{
    dfx_t *f = *state;
    sim_proc_t *pa = dfx_sim(f, "pa", NULL);
    sim_proc_t *pb = dfx_sim(f, "pb", NULL);
    dfx_sim(f, "pc", NULL);
    dfx_plat_t p = dfx_plat_defaults();
    p.timeout_ms = 300;
    p.quote_deadline_ms = 300;
    p.min_requests = 3;
    p.open_seconds = 60;
    p.window_seconds = 10;
    dfx_plat_t plats[3] = {p, p, dfx_plat_defaults()};
    plats[2].max_inflight = 1;
    dfx_disp_t d = dfx_disp_defaults();
    d.item_seconds = 1;   /* ready in 3 s */
    d.order_seconds = 0;
    const char *stores[] = {"2001:pa,pb", "2002:pc", NULL};
    dfx_boot(f, plats, &d, stores);

    dfx_submit(f, "norid-0", STORE_A);  /* healthy: accepted */
    assert_string_equal(sim_proc_ctl(pa, "dark"), "ok dark");
    assert_string_equal(sim_proc_ctl(pb, "dark"), "ok dark");
    dfx_submit(f, "norid-1", STORE_A);  /* breakers still closed: accepted */
    dfx_wait_breaker(f, "pa", 1, 20000);
    dfx_wait_breaker(f, "pb", 1, 20000);
    assert_true(harness_log_contains(f->h, "platform pa: breaker open (", true));
    assert_true(harness_log_contains(f->h, "platform pb: breaker open (", true));

    harness_order_t *o = malloc(sizeof *o);
    assert_non_null(o);
    harness_order_fill(o, "norid-2", STORE_A);
    Sluice__V1__Reply *r = harness_submit(f->cl, o, DFX_REPLY_MS);
    harness_expect_ack(r, SLUICE__V1__DECISION__REJECTED, SLUICE__V1__REASON__NO_RIDERS,
                       "an order while every platform's breaker is open");
    uint64_t retry = r->ack->retry_after_ms;
    harness_reply_free(&r);
    fprintf(stderr, "dispatch: NO_RIDERS (breakers open), retry_after_ms %" PRIu64 "\n", retry);
    assert_true(retry > 0);
    assert_true(retry <= (uint64_t)p.open_seconds * 1000u);
    assert_int_equal(harness_db_count(f->h, "SELECT count(*) FROM orders WHERE order_id = $1", 1,
                                      "norid-2"),
                     0);
    /* Admission refuses for riders only where riders are missing. */
    harness_order_fill(o, "norid-3", HARNESS_FIRST_STORE);
    r = harness_submit(f->cl, o, DFX_REPLY_MS);
    harness_expect_ack(r, SLUICE__V1__DECISION__ACCEPTED, SLUICE__V1__REASON__REASON_NONE,
                       "an order to a store without platforms");
    harness_reply_free(&r);

    /* A full pool: pc holds one order. */
    dfx_submit(f, "full-0", STORE_B);
    uint64_t deadline = harness_now_ms() + 20000;
    while (harness_db_count(f->h,
                            "SELECT count(*) FROM dispatches WHERE order_id = 'full-0' AND " DFX_LIVE_SQL,
                            0) != 1) {
        if (harness_now_ms() > deadline)
            fail_msg("full-0 was never dispatched to pc");
        harness_nap_ms(20);
    }
    harness_order_fill(o, "full-1", STORE_B);
    r = harness_submit(f->cl, o, DFX_REPLY_MS);  /* full-0 rides for seconds yet */
    harness_expect_ack(r, SLUICE__V1__DECISION__REJECTED, SLUICE__V1__REASON__NO_RIDERS,
                       "an order while the store's only platform is full");
    fprintf(stderr, "dispatch: NO_RIDERS (pool full), retry_after_ms %" PRIu64 "\n",
            r->ack->retry_after_ms);
    assert_true(r->ack->retry_after_ms > 0);
    harness_reply_free(&r);
    dfx_wait_done(f, "full", 1, false, 30000);
    harness_order_fill(o, "full-2", STORE_B);
    r = harness_submit(f->cl, o, DFX_REPLY_MS);
    harness_expect_ack(r, SLUICE__V1__DECISION__ACCEPTED, SLUICE__V1__REASON__REASON_NONE,
                       "an order once the full platform delivered");
    harness_reply_free(&r);
    free(o);
    dfx_finish(f);
}

/* s_expect_no_riders submits ID to STORE and expects NO_RIDERS with a
 * detail containing WHY and a retry_after_ms of at most MAX_RETRY_MS. */
static void s_expect_no_riders(dfx_t *f, const char *id, uint32_t store, const char *why,
                               uint64_t max_retry_ms)
{
    harness_order_t *o = malloc(sizeof *o);
    assert_non_null(o);
    harness_order_fill(o, id, store);
    Sluice__V1__Reply *r = harness_submit(f->cl, o, DFX_REPLY_MS);
    free(o);
    harness_expect_ack(r, SLUICE__V1__DECISION__REJECTED, SLUICE__V1__REASON__NO_RIDERS, id);
    fprintf(stderr, "dispatch: %s: NO_RIDERS, retry_after_ms %" PRIu64 ", '%s'\n", id,
            r->ack->retry_after_ms, r->ack->detail);
    if (!strstr(r->ack->detail, why))
        fail_msg("%s: the detail '%s' does not say '%s'", id, r->ack->detail, why);
    assert_true(r->ack->retry_after_ms > 0 && r->ack->retry_after_ms <= max_retry_ms);
    harness_reply_free(&r);
}

/* s_until_accepted submits PREFIX-0, -1, ... to STORE until one is
 * ACCEPTED (within TIMEOUT_MS; the others must be NO_RIDERS) and returns
 * how long it took. */
static uint64_t s_until_accepted(dfx_t *f, const char *prefix, uint32_t store, int timeout_ms)
{
    harness_order_t *o = malloc(sizeof *o);
    assert_non_null(o);
    uint64_t t0 = harness_now_ms();
    for (size_t i = 0;; i++) {
        char id[64];
        dfx_order_id(id, sizeof id, prefix, i);
        harness_order_fill(o, id, store);
        Sluice__V1__Reply *r = harness_submit(f->cl, o, DFX_REPLY_MS);
        assert_non_null(r);
        assert_int_equal(r->body_case, SLUICE__V1__REPLY__BODY_ACK);
        bool accepted = r->ack->decision == SLUICE__V1__DECISION__ACCEPTED;
        if (!accepted)
            assert_int_equal(r->ack->reason, SLUICE__V1__REASON__NO_RIDERS);
        harness_reply_free(&r);
        if (accepted)
            break;
        if (harness_now_ms() > t0 + (uint64_t)timeout_ms)
            fail_msg("no order of %s was accepted within %d ms", prefix, timeout_ms);
        harness_nap_ms(100);
    }
    free(o);
    return harness_now_ms() - t0;
}

/* s_sim_back starts S again (the same name and seed) on ENDPOINT. */
static void s_sim_back(dfx_t *f, sim_proc_t *s, const char *name, const char *endpoint)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%s", f->h->tmpdir, name);
    const char *argv[] = {"--name", name, "--time-scale", DFX_TIME_SCALE, "--seed", "11", NULL};
    sim_proc_start(s, f->h->zctx, dir, endpoint, argv);
}

/* The only platform of store 2001 has no gateway when sluiced starts
 * (nothing listens): once the first attempt to connect has failed, orders
 * there are refused NO_RIDERS, retry after the reconnect interval, instead
 * of being accepted to wait for a rider who cannot come. The gateway starts:
 * orders are accepted within a reconnect interval and delivered. The
 * gateway's process goes away: refused again at once; it comes back: taken
 * again as quickly. */
static void test_gone_platform(void **state)
{
    dfx_t *f = *state;
    sim_proc_t *pa = dfx_sim(f, "pa", NULL);
    char endpoint[128];
    snprintf(endpoint, sizeof endpoint, "%s", pa->gateway);
    assert_int_equal(sim_proc_stop(pa), 0);
    dfx_plat_t plats[1] = {dfx_plat_defaults()};
    dfx_disp_t d = dfx_disp_defaults();
    d.item_seconds = 1;   /* ready in 3 s */
    d.order_seconds = 0;
    const char *stores[] = {"2001:pa", NULL};
    dfx_boot(f, plats, &d, stores);

    char down[192];
    snprintf(down, sizeof down, "platform pa: link to %s down", endpoint);
    assert_true(harness_wait_log(f->h, 0, down, 10000));
    s_expect_no_riders(f, "gone-start", STORE_A, "pa not connected", 2000);

    s_sim_back(f, pa, "pa", endpoint);
    uint64_t took = s_until_accepted(f, "gone-up", STORE_A, 10000);
    fprintf(stderr, "dispatch: pa started: accepted again after %" PRIu64 " ms\n", took);
    dfx_wait_done(f, "gone-up", 1, false, 30000);

    off_t mark = harness_log_size(f->h);
    assert_int_equal(sim_proc_stop(pa), 0);
    assert_true(harness_wait_log(f->h, mark, down, 10000));
    s_expect_no_riders(f, "gone-later", STORE_A, "pa not connected", 2000);
    assert_int_equal(harness_db_count(f->h, "SELECT count(*) FROM orders WHERE order_id LIKE"
                                            " 'gone-start%' OR order_id LIKE 'gone-later%'", 0),
                     0);

    s_sim_back(f, pa, "pa", endpoint);
    took = s_until_accepted(f, "gone-back", STORE_A, 10000);
    fprintf(stderr, "dispatch: pa back: accepted again after %" PRIu64 " ms\n", took);
    dfx_wait_done(f, "gone-back", 1, false, 30000);
    dfx_finish(f);
}

/* Every quote of store 2001's only platform is refused NO_RIDER (no riders
 * at all). The first order is accepted (nothing is known yet); once its
 * quote was refused, the next are refused NO_RIDERS at admission, retry
 * within 2 x retry_seconds, instead of being accepted to FAIL with a refund.
 * Store 2002, on another platform, is not affected. */
static void test_no_rider_admission(void **state)
{
    dfx_t *f = *state;
    const char *const none[] = {"--riders", "0", NULL};
    dfx_sim(f, "pa", none);
    dfx_sim(f, "pb", NULL);
    dfx_plat_t plats[2] = {dfx_plat_defaults(), dfx_plat_defaults()};
    dfx_disp_t d = dfx_disp_defaults();
    d.item_seconds = 1;   /* ready in 3 s: quoted at once */
    d.order_seconds = 0;
    const char *stores[] = {"2001:pa", "2002:pb", NULL};
    dfx_boot(f, plats, &d, stores);

    dfx_submit(f, "nr-0", STORE_A);
    uint64_t deadline = harness_now_ms() + 20000;
    while (harness_db_count(f->h, "SELECT count(*) FROM order_events WHERE order_id = 'nr-0'"
                                  " AND detail LIKE 'no rider available (pa NO_RIDER)%'", 0) < 1) {
        if (harness_now_ms() > deadline)
            fail_msg("nr-0 was never refused a rider");
        harness_nap_ms(50);
    }
    assert_true(dfx_metric(f, "sluice_platform_stores_without_riders{platform=\"pa\"}") == 1);
    for (int i = 1; i <= 3; i++) {
        char id[32];
        snprintf(id, sizeof id, "nr-%d", i);
        s_expect_no_riders(f, id, STORE_A, "pa no rider near the store",
                           2u * (uint64_t)d.retry * 1000u);
    }
    dfx_submit(f, "nr-other-0", STORE_B);
    dfx_wait_done(f, "nr-other", 1, false, 30000);
    assert_int_equal(harness_db_count(f->h, "SELECT count(*) FROM orders WHERE store_id = 2001",
                                      0),
                     1);
    dfx_finish(f);
}

/* ==== 7. MarkReady: the rider now, for the time the kitchen reported ========== */

/* An order promised ready 32 s after it is accepted is marked ready at once.
 * Its rider is sent at the mark, not at the promised time's plan, and the
 * DispatchRequest carries the reported time: the rider picks it up as soon
 * as there, long before the promised time (the simulator never picks up
 * before the ready time it was sent). */
static void test_mark_ready_dispatches_now(void **state)
{
    dfx_t *f = *state;
    sim_proc_t *pa = dfx_sim(f, "pa", NULL);
    dfx_plat_t plats[1] = {dfx_plat_defaults()};
    dfx_disp_t d = dfx_disp_defaults();
    d.item_seconds = 10;   /* 3 drinks: ready 32 s after it is accepted */
    const char *stores[] = {"2001:pa", NULL};
    dfx_boot(f, plats, &d, stores);

    dfx_submit(f, "early-0", STORE_A);
    uint64_t marked = harness_wall_ms();
    Sluice__V1__Reply *r = harness_mark_ready(f->cl, "early-0", DFX_REPLY_MS);
    harness_expect_status(r, "early-0", "READY", "MarkReady half a minute early");
    harness_reply_free(&r);
    dfx_wait_done(f, "early", 1, false, 30000);

    char *promised_text = harness_db_value(f->h, "SELECT (extract(epoch FROM promised_ready_at)"
                                                 " * 1000)::int8 FROM orders"
                                                 " WHERE order_id = 'early-0'", 0);
    assert_non_null(promised_text);
    uint64_t promised = strtoull(promised_text, NULL, 10);
    free(promised_text);
    assert_true(promised > marked + 25000);
    char by[32];
    snprintf(by, sizeof by, "%" PRIu64, marked + 5000);
    assert_int_equal(harness_db_count(f->h, "SELECT count(*) FROM dispatches WHERE"
                                            " order_id = 'early-0' AND attempt = 1 AND"
                                            " created_at < to_timestamp($1::int8 / 1000.0)",
                                      1, by),
                     1);
    size_t n = 0;
    uint64_t picked = 0;
    dfx_lrec_t *recs = dfx_ledger_read(pa->ledger, &n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(recs[i].event, "picked_up") == 0 && strcmp(recs[i].order_id, "early-0") == 0)
            picked = recs[i].at_ms;
    free(recs);
    fprintf(stderr, "dispatch: marked ready %" PRIu64 " ms early, picked up %" PRIu64
                    " ms after the mark\n", promised - marked, picked - marked);
    assert_true(picked > 0 && picked + 15000 < promised);
    dfx_finish(f);
}

/* ==== 8. FAILED after max_hold ============================================================ */

/* A platform without riders refuses every quote (NO_RIDER); with
 * max_hold_minutes = 0 the order FAILS at its ready time, flagged for
 * refund, with a timeline entry saying why. */
static void test_failed_after_max_hold(void **state)
{
    dfx_t *f = *state;
    const char *const none[] = {"--riders", "0", NULL};
    dfx_sim(f, "pa", none);
    dfx_plat_t plats[1] = {dfx_plat_defaults()};
    dfx_disp_t d = dfx_disp_defaults();
    d.item_seconds = 1;   /* ready in 3 s: the margin is not the point here */
    d.order_seconds = 0;
    d.max_hold = 0;
    const char *stores[] = {"2001:pa", NULL};
    dfx_boot(f, plats, &d, stores);

    dfx_submit(f, "hold-0", STORE_A);
    dfx_wait_done(f, "hold", 1, true, 40000);
    char *st = harness_db_value(f->h,
                                "SELECT state || ' ' || refund_due FROM orders WHERE order_id = $1",
                                1, "hold-0");
    assert_non_null(st);
    assert_string_equal(st, "FAILED true");
    free(st);
    /* Not before the ready time: max_hold counts from there. */
    assert_int_equal(harness_db_count(f->h,
                                      "SELECT count(*) FROM orders WHERE order_id = $1 AND"
                                      " updated_at >= promised_ready_at",
                                      1, "hold-0"),
                     1);
    char *why = harness_db_value(f->h,
                                 "SELECT detail FROM order_events WHERE order_id = $1 AND"
                                 " state = 'FAILED' ORDER BY event_id DESC LIMIT 1",
                                 1, "hold-0");
    assert_non_null(why);
    fprintf(stderr, "dispatch: FAILED: %s\n", why);
    if (!strstr(why, "no rider") || !strstr(why, "refund"))
        fail_msg("the FAILED entry does not say why: '%s'", why);
    free(why);
    /* On the way it said why there was no rider. */
    assert_true(harness_db_count(f->h,
                                 "SELECT count(*) FROM order_events WHERE order_id = $1 AND"
                                 " detail LIKE 'no rider available (pa NO_RIDER)%'",
                                 1, "hold-0") >= 1);
    assert_int_equal(harness_db_count(f->h, "SELECT count(*) FROM dispatches", 0), 0);
    dfx_finish(f);
}

/* test_reload_while_changes_wait: rider events keep coming while PostgreSQL
 * is away, so dispatch steps queue up; a reload then replaces the config
 * they were made under. Every step must still commit (a step once pointed at
 * its platform's name inside the old config: freed memory, written as
 * garbage that PostgreSQL refused, and under ASan a use after free). */
static void test_reload_while_changes_wait(void **state)
{
    dfx_t *f = *state;
    enum { N = 12 };
    dfx_sim(f, "pa", NULL);
    dfx_plat_t plats[1] = {dfx_plat_defaults()};
    dfx_disp_t d = dfx_disp_defaults();
    const char *stores[] = {"2001:pa", NULL};
    dfx_boot(f, plats, &d, stores);
    const uint32_t ids[] = {STORE_A};
    dfx_submit_many(f, "reload", N, ids, 1);
    /* Riders assigned, not yet delivered: their next events will queue. */
    uint64_t deadline = harness_now_ms() + 20000;
    while (dfx_count_like(f, "SELECT count(*) FROM dispatches WHERE order_id LIKE $1 AND"
                           " state IN ('ASSIGNED', 'ARRIVED', 'PICKED_UP')", "reload") < 1) {
        if (harness_now_ms() > deadline)
            fail_msg("no rider was assigned");
        harness_nap_ms(20);
    }
    harness_pg_stop(f->h);
    harness_nap_ms(1500);
    off_t mark = harness_log_size(f->h);
    harness_signal(f->h, SIGHUP);
    assert_true(harness_wait_log(f->h, mark, "reloaded", 10000));
    harness_nap_ms(500);
    harness_pg_start(f->h);
    dfx_wait_done(f, "reload", N, false, 60000);
    assert_false(harness_log_contains(f->h, "refuses a change", true));
    dfx_finish(f);
}

int main(void)
{
    static const harness_case_t cases[] = {
        HARNESS_CASE(test_flow_delivered),
        HARNESS_CASE(test_dark_platform_breaker),
        HARNESS_CASE(test_slow_platform_no_double),
        HARNESS_CASE(test_kill9_mid_dispatch),
        HARNESS_CASE(test_platform_cancel_redispatch),
        HARNESS_CASE(test_no_riders),
        HARNESS_CASE(test_gone_platform),
        HARNESS_CASE(test_no_rider_admission),
        HARNESS_CASE(test_mark_ready_dispatches_now),
        HARNESS_CASE(test_failed_after_max_hold),
        HARNESS_CASE(test_reload_while_changes_wait),
    };
    return harness_main("dispatch", cases, HARNESS_COUNT(cases), dfx_setup, dfx_teardown);
}
