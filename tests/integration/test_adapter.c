/* test_adapter.c - the `zmq` adapter (adapters/) driven through its ops
 * from a small event loop, as the daemon will drive it, against sluice-sim
 * as a real process: a ride from quote to DELIVERED through the event
 * callback, settlement pages, repeated dispatch keys, timeouts in the dark
 * and the cancel that settles them, Error replies, 2,000 pipelined
 * requests, late replies, max_inflight, a reconnect, and close. Replies
 * out of order and replies that break the protocol come from a scripted
 * gateway (a ROUTER in this process), because the simulator answers in
 * order and well.
 *
 * Needs no database. Each test starts its own simulator on ports it picks
 * (tcp://127.0.0.1:*). Environment: as tests/integration/sim_proc.h. */
#include "harness.h"
#include "sim_proc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "adapter.h"
#include "clock.h"
#include "proto/network.pb-c.h"

#define WAIT_MS 5000           /* anything that should happen soon */
#define EVENTS_MAX 64
#define CENTER_LAT 30.27
#define CENTER_LNG 120.03
#define KM_LAT (1.0 / 111.195)

/* One test's world: a simulator (or a scripted gateway), the adapter, and
 * what its listener saw. */
typedef struct fix {
    char dir[PATH_MAX];
    void *zctx;
    sim_proc_t sim;
    void *router;              /* the scripted gateway, when a test uses one */
    char router_endpoint[128];
    adapter_platform_t platform;
    adapter_t *a;
    adapter_event_t events[EVENTS_MAX];
    size_t n_events;
    int ups, downs;
    bool passed;
} fix_t;

/* What one request's callback saw. */
typedef struct rec {
    int calls;
    adapter_done_t done;
    bool has_result;
    union {
        adapter_quote_t quote;
        adapter_dispatch_t dispatch;
        adapter_cancel_t cancel;
        adapter_status_t status;
    } r;
} rec_t;

/* ==== fixture ========================================================== */

static int s_setup(void **state)
{
    fix_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_true(harness_mkdtemp(f->dir, sizeof f->dir, "adapter"));
    f->zctx = zmq_ctx_new();
    assert_non_null(f->zctx);
    f->platform = (adapter_platform_t){.name = "sim", .adapter = "zmq", .timeout_ms = 2000,
                                       .quote_deadline_ms = 2000, .max_inflight = 100};
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    fix_t *f = *state;
    adapter_close(&f->a);
    if (f->router)
        zmq_close(f->router);
    sim_proc_kill(&f->sim);
    zmq_ctx_term(f->zctx);
    if (!f->passed && f->sim.log[0])
        sim_proc_dump_log(&f->sim);
    if (f->passed && !getenv("SLUICE_TEST_KEEP")) {
        unlink(f->sim.log);
        unlink(f->sim.ledger);
        rmdir(f->dir);
    }
    free(f);
    return 0;
}

static void s_on_event(void *arg, const adapter_event_t *e)
{
    fix_t *f = arg;
    assert_true(f->n_events < EVENTS_MAX);
    f->events[f->n_events++] = *e;
}

static void s_on_link(void *arg, bool up)
{
    fix_t *f = arg;
    if (up)
        f->ups++;
    else
        f->downs++;
}

/* s_pump is one pass of the daemon's loop, for the adapter alone: poll
 * what it asks for, at most as long as it allows and MAX_MS, then step. */
static void s_pump(fix_t *f, int max_ms)
{
    zmq_pollitem_t items[ADAPTER_POLL_MAX];
    size_t n = adapter_poll(f->a, items, ADAPTER_POLL_MAX);
    int wait = adapter_timeout_ms(f->a, clock_mono_ms());
    if (wait < 0 || wait > max_ms)
        wait = max_ms;
    assert_true(zmq_poll(items, (int)n, wait) >= 0);
    adapter_step(f->a, clock_mono_ms());
}

/* RUN_UNTIL pumps until COND holds, failing the test after MS. */
#define RUN_UNTIL(f, cond, ms)                                                        \
    do {                                                                              \
        uint64_t until_ = harness_now_ms() + (uint64_t)(ms);                          \
        while (!(cond)) {                                                             \
            if (harness_now_ms() > until_)                                            \
                fail_msg("line %d: not within %d ms: %s", __LINE__, (int)(ms), #cond); \
            s_pump(f, 20);                                                            \
        }                                                                             \
    } while (0)

/* s_open opens the adapter at ENDPOINT and waits for the link. */
static void s_open(fix_t *f, const char *endpoint)
{
    f->platform.endpoint = (char *)endpoint;
    adapter_listener_t l = {.event = s_on_event, .link = s_on_link, .arg = f};
    f->a = adapter_open(&f->platform, f->zctx, &l);
    assert_non_null(f->a);
    RUN_UNTIL(f, f->ups == 1, WAIT_MS);
}

/* s_start_sim starts a simulator with EXTRA and opens the adapter to it. */
static void s_start_sim(fix_t *f, const char *const *extra)
{
    sim_proc_start(&f->sim, f->zctx, f->dir, NULL, extra);
    s_open(f, f->sim.gateway);
}

static void s_stop_sim(fix_t *f)
{
    adapter_close(&f->a);
    assert_int_equal(sim_proc_stop(&f->sim), 0);
    f->passed = true;
}

/* ==== callbacks into records ========================================== */

static void s_record(rec_t *rec, const adapter_done_t *done, const void *result, size_t size)
{
    rec->calls++;
    rec->done = *done;
    rec->has_result = result != NULL;
    if (result)
        memcpy(&rec->r, result, size);
}

static void s_quote_done(void *arg, const adapter_done_t *done, const adapter_quote_t *r)
{
    s_record(arg, done, r, sizeof *r);
}

static void s_dispatch_done(void *arg, const adapter_done_t *done, const adapter_dispatch_t *r)
{
    s_record(arg, done, r, sizeof *r);
}

static void s_cancel_done(void *arg, const adapter_done_t *done, const adapter_cancel_t *r)
{
    s_record(arg, done, r, sizeof *r);
}

static void s_status_done(void *arg, const adapter_done_t *done, const adapter_status_t *r)
{
    s_record(arg, done, r, sizeof *r);
}

/* A settlement page, copied. */
typedef struct page {
    int calls;
    adapter_done_t done;
    adapter_settlement_line_t lines[8];
    size_t n_lines;
    char next[ADAPTER_PAGE_TOKEN_MAX + 1];
    uint32_t total_lines;
    uint64_t total_fee_cents;
    bool final;
} page_t;

static void s_settlement_done(void *arg, const adapter_done_t *done, const adapter_settlement_t *r)
{
    page_t *p = arg;
    p->calls++;
    p->done = *done;
    if (!r)
        return;
    assert_true(r->n_lines <= sizeof p->lines / sizeof p->lines[0]);
    memcpy(p->lines, r->lines, r->n_lines * sizeof *r->lines);
    p->n_lines = r->n_lines;
    snprintf(p->next, sizeof p->next, "%s", r->next_page_token);
    p->total_lines = r->total_lines;
    p->total_fee_cents = r->total_fee_cents;
    p->final = r->final;
}

/* s_expect waits for REC's one callback and checks its outcome. */
static void s_expect(fix_t *f, rec_t *rec, adapter_outcome_t outcome, const char *what)
{
    RUN_UNTIL(f, rec->calls > 0, WAIT_MS);
    assert_int_equal(rec->calls, 1);
    if (rec->done.outcome != outcome)
        fail_msg("%s: %s (%s), wanted %s", what, adapter_outcome_name(rec->done.outcome),
                 rec->done.error.message, adapter_outcome_name(outcome));
    assert_int_equal(rec->has_result, outcome == ADAPTER_OK);
}

/* ==== requests ========================================================= */

/* An order whose store is KM_STORE north of the centre and whose customer
 * is KM_RIDE further on. */
static adapter_dispatch_req_t s_order(const char *key, const char *order_id, double km_store,
                                      double km_ride, uint64_t ready_at_ms)
{
    return (adapter_dispatch_req_t){
        .key = key, .order_id = order_id, .store_id = 1001,
        .pickup = {CENTER_LAT + km_store * KM_LAT, CENTER_LNG},
        .dropoff = {CENTER_LAT + (km_store + km_ride) * KM_LAT, CENTER_LNG},
        .ready_at_ms = ready_at_ms, .items = 2};
}

static void s_send_dispatch(fix_t *f, const adapter_dispatch_req_t *d, rec_t *rec)
{
    assert_int_equal(adapter_dispatch(f->a, d, 0, s_dispatch_done, rec), ADAPTER_SEND_OK);
}

static void s_send_cancel(fix_t *f, const char *key, rec_t *rec)
{
    assert_int_equal(adapter_cancel(f->a, key, "test", 0, s_cancel_done, rec), ADAPTER_SEND_OK);
}

static void s_send_status(fix_t *f, const char *key, rec_t *rec)
{
    assert_int_equal(adapter_status(f->a, key, 0, s_status_done, rec), ADAPTER_SEND_OK);
}

/* s_day: the UTC date of AT_MS. */
static void s_day(uint64_t at_ms, char *out, size_t len)
{
    time_t t = (time_t)(at_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, len, "%Y-%m-%d", &tm);
}

/* One rider at the centre, 36 km/h, time scale 100: a km takes a second. */
static const char *const s_one_rider[] = {"--riders", "1", "--radius-km", "0", "--speed-kmh", "36",
                                          "--time-scale", "100", NULL};

/* ==== tests: sluice-sim ================================================= */

static void test_ride_to_delivered(void **state)
{
    fix_t *f = *state;
    s_start_sim(f, s_one_rider);
    uint64_t t0 = harness_wall_ms();
    adapter_dispatch_req_t d = s_order("o1:1", "o1", 1, 1, t0 + 2000);
    adapter_quote_req_t q = {.order_id = "o1", .store_id = 1001, .pickup = d.pickup,
                             .dropoff = d.dropoff, .ready_at_ms = d.ready_at_ms, .items = 2};
    rec_t quote = {0}, disp = {0}, st = {0};
    assert_int_equal(adapter_quote(f->a, &q, 0, s_quote_done, &quote), ADAPTER_SEND_OK);
    s_expect(f, &quote, ADAPTER_OK, "quote");
    assert_true(quote.r.quote.available);
    assert_int_equal(quote.r.quote.fee_cents, 650);
    assert_true(quote.r.quote.pickup_at_ms >= t0 + 900);
    assert_true(quote.done.gateway_at_ms >= t0);

    s_send_dispatch(f, &d, &disp);
    s_expect(f, &disp, ADAPTER_OK, "dispatch");
    assert_true(disp.r.dispatch.accepted);
    assert_false(disp.r.dispatch.duplicate);
    assert_string_equal(disp.r.dispatch.key, "o1:1");
    assert_string_equal(disp.r.dispatch.rider_ref, "sim-r0");
    assert_int_equal(disp.r.dispatch.state, ADAPTER_STATE_ASSIGNED);

    /* ASSIGNED, ARRIVED, PICKED_UP, DELIVERED through the listener */
    RUN_UNTIL(f, f->n_events == 4, 10000);
    uint32_t last = 0;
    for (size_t i = 0; i < 4; i++) {
        const adapter_event_t *e = &f->events[i];
        assert_string_equal(e->key, "o1:1");
        assert_string_equal(e->order_id, "o1");
        assert_int_equal(e->state, ADAPTER_STATE_ASSIGNED + (adapter_state_t)i);
        assert_int_equal(adapter_event_order(last, e->seq), ADAPTER_SEQ_NEXT);
        last = e->seq;
    }
    assert_int_equal(f->events[2].at_ms, d.ready_at_ms);  /* never picked up before ready */
    assert_int_equal(f->events[3].fee_cents, 650);

    s_send_status(f, "o1:1", &st);
    s_expect(f, &st, ADAPTER_OK, "status");
    assert_int_equal(st.r.status.state, ADAPTER_STATE_DELIVERED);
    assert_int_equal(st.r.status.seq, 4);
    assert_int_equal(st.r.status.delivered_at_ms, f->events[3].at_ms);

    /* the day's statement, one line per page */
    adapter_settlement_req_t sq = {.max_lines = 1};
    char day[16];
    s_day(f->events[3].at_ms, day, sizeof day);
    sq.day = day;
    page_t page = {0};
    assert_int_equal(adapter_settlement(f->a, &sq, 0, s_settlement_done, &page), ADAPTER_SEND_OK);
    RUN_UNTIL(f, page.calls == 1, WAIT_MS);
    assert_int_equal(page.done.outcome, ADAPTER_OK);
    assert_int_equal(page.n_lines, 1);
    assert_string_equal(page.lines[0].key, "o1:1");
    assert_int_equal(page.lines[0].status, ADAPTER_STATE_DELIVERED);
    assert_int_equal(page.lines[0].fee_cents, 650);
    assert_int_equal(page.total_lines, 1);
    assert_int_equal(page.total_fee_cents, 650);
    assert_string_equal(page.next, "");
    assert_false(page.final);

    const adapter_stats_t *stats = adapter_stats(f->a);
    assert_int_equal(stats->sent, 4);
    assert_int_equal(stats->answered, 4);
    assert_int_equal(stats->events, 4);
    assert_int_equal(stats->outstanding, 0);
    assert_int_equal(stats->link_ups, 1);
    s_stop_sim(f);
}

static void test_repeated_dispatch_same_rider(void **state)
{
    fix_t *f = *state;
    s_start_sim(f, (const char *const[]){"--riders", "3", "--time-scale", "100", NULL});
    adapter_dispatch_req_t d = s_order("o7:1", "o7", 1, 1, harness_wall_ms() + 60000);
    rec_t r[3] = {{0}};
    for (int i = 0; i < 3; i++)  /* pipelined: all three before any answer */
        s_send_dispatch(f, &d, &r[i]);
    for (int i = 0; i < 3; i++) {
        s_expect(f, &r[i], ADAPTER_OK, "dispatch");
        assert_true(r[i].r.dispatch.accepted);
        assert_int_equal(r[i].r.dispatch.duplicate, i > 0);
        assert_string_equal(r[i].r.dispatch.rider_ref, r[0].r.dispatch.rider_ref);
        assert_int_equal(r[i].r.dispatch.pickup_at_ms, r[0].r.dispatch.pickup_at_ms);
    }
    assert_int_equal(sim_proc_stat(&f->sim, "dispatches"), 1);
    assert_int_equal(sim_proc_stat(&f->sim, "riders_idle"), 2);
    /* the same key for another order is an Error: no effect */
    rec_t conflict = {0};
    adapter_dispatch_req_t other = d;
    other.order_id = "o8";
    s_send_dispatch(f, &other, &conflict);
    s_expect(f, &conflict, ADAPTER_ERROR, "conflicting dispatch");
    assert_int_equal(conflict.done.error.code, ADAPTER_ERR_KEY_CONFLICT);
    assert_int_equal(sim_proc_stat(&f->sim, "riders_idle"), 2);
    s_stop_sim(f);
}

/* No reply is not "no": the dispatch times out, and only a cancel answered
 * CANCELLED (released) frees the order for another platform. */
static void test_dark_timeout_then_cancel(void **state)
{
    fix_t *f = *state;
    f->platform.timeout_ms = 300;
    s_start_sim(f, s_one_rider);
    assert_string_equal(sim_proc_ctl(&f->sim, "dark"), "ok dark");
    adapter_dispatch_req_t d = s_order("o1:1", "o1", 1, 1, harness_wall_ms() + 60000);
    rec_t disp = {0}, lost_cancel = {0}, cancel = {0}, again = {0};
    uint64_t sent = harness_now_ms();
    s_send_dispatch(f, &d, &disp);
    s_expect(f, &disp, ADAPTER_TIMEOUT, "dispatch in the dark");
    uint64_t took = harness_now_ms() - sent;
    if (took < 300 || took > 2000)
        fail_msg("timeout_ms 300: the dispatch timed out after %" PRIu64 " ms", took);
    assert_true(disp.done.latency_ms >= 300);
    s_send_cancel(f, "o1:1", &lost_cancel);  /* a cancel in the dark is unknown too */
    s_expect(f, &lost_cancel, ADAPTER_TIMEOUT, "cancel in the dark");
    assert_int_equal(f->downs, 0);           /* dark is not disconnected */

    assert_string_equal(sim_proc_ctl(&f->sim, "light"), "ok light");
    s_send_cancel(f, "o1:1", &cancel);
    s_expect(f, &cancel, ADAPTER_OK, "cancel after light");
    assert_true(cancel.r.cancel.released);
    assert_int_equal(cancel.r.cancel.previous, ADAPTER_STATE_UNKNOWN);
    assert_int_equal(cancel.r.cancel.state, ADAPTER_STATE_CANCELLED);
    /* the lost dispatch, were it delivered late, would now be refused */
    s_send_dispatch(f, &d, &again);
    s_expect(f, &again, ADAPTER_OK, "dispatch after cancel");
    assert_false(again.r.dispatch.accepted);
    assert_int_equal(again.r.dispatch.refusal, ADAPTER_REFUSAL_KEY_CANCELLED);
    assert_int_equal(adapter_stats(f->a)->timeouts, 2);
    assert_int_equal(sim_proc_stat(&f->sim, "dispatches"), 0);
    s_stop_sim(f);
}

/* Under `fail 1` every request is answered Error UNAVAILABLE, with no
 * effect: the same dispatch key afterwards is decided anew. */
static void test_errors_have_no_effect(void **state)
{
    fix_t *f = *state;
    s_start_sim(f, s_one_rider);
    assert_string_equal(sim_proc_ctl(&f->sim, "fail 1"), "ok fail 1");
    adapter_dispatch_req_t d = s_order("o1:1", "o1", 1, 1, harness_wall_ms() + 60000);
    adapter_quote_req_t q = {.pickup = d.pickup, .dropoff = d.dropoff,
                             .ready_at_ms = d.ready_at_ms, .items = 1};
    adapter_settlement_req_t sq = {.day = "2026-11-23"};
    rec_t r[4] = {{0}};
    page_t page = {0};
    assert_int_equal(adapter_quote(f->a, &q, 0, s_quote_done, &r[0]), ADAPTER_SEND_OK);
    s_send_dispatch(f, &d, &r[1]);
    s_send_cancel(f, "o2:1", &r[2]);
    s_send_status(f, "o1:1", &r[3]);
    assert_int_equal(adapter_settlement(f->a, &sq, 0, s_settlement_done, &page), ADAPTER_SEND_OK);
    for (int i = 0; i < 4; i++) {
        s_expect(f, &r[i], ADAPTER_ERROR, "request under fail 1");
        assert_int_equal(r[i].done.error.code, ADAPTER_ERR_UNAVAILABLE);
        assert_true(r[i].done.error.retry_after_ms > 0);
        assert_non_null(strstr(r[i].done.error.message, "injected failure"));
    }
    RUN_UNTIL(f, page.calls == 1, WAIT_MS);
    assert_int_equal(page.done.outcome, ADAPTER_ERROR);
    assert_int_equal(adapter_stats(f->a)->errors, 5);

    assert_string_equal(sim_proc_ctl(&f->sim, "fail 0"), "ok fail 0");
    rec_t retry = {0};
    s_send_dispatch(f, &d, &retry);
    s_expect(f, &retry, ADAPTER_OK, "dispatch after fail 0");
    assert_true(retry.r.dispatch.accepted);
    assert_false(retry.r.dispatch.duplicate);  /* the failed one did nothing */
    s_stop_sim(f);
}

/* 2,000 requests sent before any answer is read; each completes once,
 * matched to its own request. (The simulator's ROUTER drops a reply when
 * its send queue to us is full; a request whose reply it dropped times
 * out, and it counts them: the numbers must agree.) */
static void test_pipelined_requests(void **state)
{
    fix_t *f = *state;
    enum { N = 2000 };
    f->platform.max_inflight = N;
    f->platform.timeout_ms = 5000;  /* slow machines, ASan */
    s_start_sim(f, (const char *const[]){"--riders", "50", NULL});
    rec_t *recs = calloc(N, sizeof *recs);
    assert_non_null(recs);
    char key[32];
    adapter_quote_req_t q = {.store_id = 1001, .pickup = {CENTER_LAT, CENTER_LNG},
                             .dropoff = {CENTER_LAT + KM_LAT, CENTER_LNG},
                             .ready_at_ms = harness_wall_ms() + 60000, .items = 1};
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "k%d:1", i);
        if (i % 2)
            s_send_status(f, key, &recs[i]);
        else
            assert_int_equal(adapter_quote(f->a, &q, 0, s_quote_done, &recs[i]), ADAPTER_SEND_OK);
    }
    assert_int_equal(adapter_stats(f->a)->outstanding, N);
    RUN_UNTIL(f, adapter_stats(f->a)->outstanding == 0, 10000);
    uint64_t dropped = sim_proc_stat(&f->sim, "send_dropped"), timeouts = 0;
    for (int i = 0; i < N; i++) {
        assert_int_equal(recs[i].calls, 1);
        if (recs[i].done.outcome == ADAPTER_TIMEOUT) {
            timeouts++;
            continue;
        }
        assert_int_equal(recs[i].done.outcome, ADAPTER_OK);
        if (i % 2) {
            snprintf(key, sizeof key, "k%d:1", i);
            assert_string_equal(recs[i].r.status.key, key);
            assert_int_equal(recs[i].r.status.state, ADAPTER_STATE_UNKNOWN);
        } else {
            assert_true(recs[i].r.quote.available);
        }
    }
    /* nothing more comes */
    for (int i = 0; i < 5; i++)
        s_pump(f, 10);
    const adapter_stats_t *st = adapter_stats(f->a);
    assert_int_equal(timeouts, dropped);
    if (dropped)
        print_message("the simulator dropped %" PRIu64 " replies (send queue full)\n", dropped);
    assert_int_equal(st->sent, N);
    assert_int_equal(st->answered, N - dropped);
    assert_int_equal(st->timeouts, dropped);
    assert_int_equal(st->late + st->bad_replies + st->unreadable, 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(recs[i].calls, 1);
    free(recs);
    s_stop_sim(f);
}

/* A reply after its deadline: the request already said TIMEOUT; the reply
 * is counted late and calls no one. */
static void test_late_replies(void **state)
{
    fix_t *f = *state;
    f->platform.timeout_ms = 200;
    s_start_sim(f, s_one_rider);
    assert_string_equal(sim_proc_ctl(&f->sim, "slow 600"), "ok slow 600");
    rec_t early = {0}, patient = {0};
    s_send_status(f, "o1:1", &early);
    assert_int_equal(adapter_status(f->a, "o1:1", clock_mono_ms() + 3000, s_status_done, &patient),
                     ADAPTER_SEND_OK);
    s_expect(f, &early, ADAPTER_TIMEOUT, "status with timeout 200 under slow 600");
    assert_int_equal(patient.calls, 0);
    s_expect(f, &patient, ADAPTER_OK, "status with a 3 s deadline");
    assert_true(patient.done.latency_ms >= 590);
    RUN_UNTIL(f, adapter_stats(f->a)->late == 1, WAIT_MS);
    assert_int_equal(early.calls, 1);
    assert_int_equal(early.done.outcome, ADAPTER_TIMEOUT);
    assert_string_equal(sim_proc_ctl(&f->sim, "slow 0"), "ok slow 0");
    s_stop_sim(f);
}

/* max_inflight bounds what is outstanding: past it the call says FULL;
 * cancel and status have a reserve, so a table full of dispatches never
 * keeps a cancel from going out. Close tells every outstanding request. */
static void test_max_inflight(void **state)
{
    fix_t *f = *state;
    f->platform.max_inflight = 4;  /* reserve: 4 / 4 + 1 = 2 */
    f->platform.timeout_ms = 300;
    s_start_sim(f, s_one_rider);
    assert_string_equal(sim_proc_ctl(&f->sim, "dark"), "ok dark");
    rec_t r[8] = {{0}};
    char key[16];
    adapter_dispatch_req_t d = s_order("o0:1", "o0", 1, 1, harness_wall_ms() + 60000);
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof key, "o%d:1", i);
        d.key = key;
        s_send_dispatch(f, &d, &r[i]);
    }
    adapter_quote_req_t q = {.pickup = d.pickup, .dropoff = d.dropoff, .ready_at_ms = 1, .items = 1};
    adapter_settlement_req_t sq = {.day = "2026-11-23"};
    assert_int_equal(adapter_dispatch(f->a, &d, 0, s_dispatch_done, &r[7]), ADAPTER_SEND_FULL);
    assert_int_equal(adapter_quote(f->a, &q, 0, s_quote_done, &r[7]), ADAPTER_SEND_FULL);
    assert_int_equal(adapter_settlement(f->a, &sq, 0, NULL, NULL), ADAPTER_SEND_FULL);
    s_send_cancel(f, "o0:1", &r[4]);
    s_send_status(f, "o1:1", &r[5]);
    assert_int_equal(adapter_cancel(f->a, "o2:1", NULL, 0, s_cancel_done, &r[7]), ADAPTER_SEND_FULL);
    assert_int_equal(adapter_stats(f->a)->full, 4);
    assert_int_equal(adapter_stats(f->a)->outstanding, 6);
    /* the deadlines free the table */
    for (int i = 0; i < 6; i++)
        s_expect(f, &r[i], ADAPTER_TIMEOUT, "request in the dark");
    assert_int_equal(r[7].calls, 0);
    assert_int_equal(adapter_stats(f->a)->outstanding, 0);
    rec_t closing[3] = {{0}};
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof key, "c%d:1", i);
        d.key = key;
        s_send_dispatch(f, &d, &closing[i]);
    }
    adapter_close(&f->a);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(closing[i].calls, 1);
        assert_int_equal(closing[i].done.outcome, ADAPTER_CLOSED);
    }
    assert_int_equal(sim_proc_stop(&f->sim), 0);
    f->passed = true;
}

/* The link goes down with the gateway and comes up again when it is back
 * at the same endpoint; meanwhile nothing can be sent. After the new up
 * the daemon asks Status: this simulator has forgotten its keys (a real
 * gateway must not). */
static void test_reconnect(void **state)
{
    fix_t *f = *state;
    s_start_sim(f, s_one_rider);
    char endpoint[128];
    snprintf(endpoint, sizeof endpoint, "%s", f->sim.gateway);
    adapter_dispatch_req_t d = s_order("o1:1", "o1", 1, 1, harness_wall_ms() + 600000);
    rec_t disp = {0}, st = {0};
    s_send_dispatch(f, &d, &disp);
    s_expect(f, &disp, ADAPTER_OK, "dispatch");
    assert_int_equal(sim_proc_stop(&f->sim), 0);
    RUN_UNTIL(f, f->downs == 1, WAIT_MS);
    assert_int_equal(adapter_status(f->a, "o1:1", 0, s_status_done, &st), ADAPTER_SEND_UNREACHABLE);
    assert_int_equal(adapter_stats(f->a)->unreachable, 1);

    sim_proc_start(&f->sim, f->zctx, f->dir, endpoint, s_one_rider);
    RUN_UNTIL(f, f->ups == 2, 15000);
    s_send_status(f, "o1:1", &st);
    s_expect(f, &st, ADAPTER_OK, "status after the reconnect");
    assert_int_equal(st.r.status.state, ADAPTER_STATE_UNKNOWN);
    const adapter_stats_t *stats = adapter_stats(f->a);
    assert_int_equal(stats->link_ups, 2);
    assert_int_equal(stats->link_downs, 1);
    s_stop_sim(f);
}

/* ==== tests: a scripted gateway ======================================== */

/* s_gateway binds a ROUTER in this process and opens the adapter to it. */
static void s_gateway(fix_t *f)
{
    f->router = zmq_socket(f->zctx, ZMQ_ROUTER);
    int linger = 0;
    assert_int_equal(zmq_setsockopt(f->router, ZMQ_LINGER, &linger, sizeof linger), 0);
    assert_int_equal(zmq_bind(f->router, "tcp://127.0.0.1:*"), 0);
    size_t len = sizeof f->router_endpoint;
    assert_int_equal(zmq_getsockopt(f->router, ZMQ_LAST_ENDPOINT, f->router_endpoint, &len), 0);
    s_open(f, f->router_endpoint);
}

/* A request as the gateway read it, with the peer to answer. */
typedef struct got {
    uint8_t peer[256];
    size_t peer_len;
    Sluice__Net__V1__Request *req;
} got_t;

/* s_gateway_read reads N requests, pumping the adapter meanwhile. */
static void s_gateway_read(fix_t *f, got_t *got, size_t n)
{
    uint64_t until = harness_now_ms() + WAIT_MS;
    for (size_t i = 0; i < n;) {
        zmq_pollitem_t item = {.socket = f->router, .events = ZMQ_POLLIN};
        if (zmq_poll(&item, 1, 10) <= 0) {
            if (harness_now_ms() > until)
                fail_msg("the gateway read %zu requests of %zu", i, n);
            s_pump(f, 0);
            continue;
        }
        int id_len = zmq_recv(f->router, got[i].peer, sizeof got[i].peer, 0);
        assert_true(id_len > 0);
        got[i].peer_len = (size_t)id_len;
        uint8_t buf[4096];
        int len = zmq_recv(f->router, buf, sizeof buf, 0);
        assert_true(len > 0);
        got[i].req = sluice__net__v1__request__unpack(NULL, (size_t)len, buf);
        assert_non_null(got[i].req);
        assert_int_equal(got[i].req->version, 1);
        assert_true(got[i].req->request_id != 0);
        i++;
    }
}

static void s_gateway_send_raw(fix_t *f, const got_t *to, const void *data, size_t len, int more)
{
    assert_true(zmq_send(f->router, to->peer, to->peer_len, ZMQ_SNDMORE) >= 0);
    assert_true(zmq_send(f->router, data, len, more) >= 0);
}

static void s_gateway_send(fix_t *f, const got_t *to, Sluice__Net__V1__Reply *reply)
{
    if (reply->version == 0)
        reply->version = 1;
    uint8_t buf[4096];
    size_t len = sluice__net__v1__reply__get_packed_size(reply);
    assert_true(len <= sizeof buf);
    sluice__net__v1__reply__pack(reply, buf);
    s_gateway_send_raw(f, to, buf, len, 0);
}

/* s_status_reply answers GOT (a StatusRequest) with state UNKNOWN for KEY. */
static void s_status_reply(fix_t *f, const got_t *got, const char *key)
{
    Sluice__Net__V1__StatusReply s = SLUICE__NET__V1__STATUS_REPLY__INIT;
    s.key = (char *)key;
    s.state = SLUICE__NET__V1__DISPATCH_STATE__UNKNOWN;
    Sluice__Net__V1__Reply r = SLUICE__NET__V1__REPLY__INIT;
    r.request_id = got->req->request_id;
    r.body_case = SLUICE__NET__V1__REPLY__BODY_STATUS;
    r.status = &s;
    s_gateway_send(f, got, &r);
}

static void s_got_free(got_t *got, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sluice__net__v1__request__free_unpacked(got[i].req, NULL);
}

/* Replies in the reverse order of the requests: each finds its own. */
static void test_out_of_order_replies(void **state)
{
    fix_t *f = *state;
    enum { N = 50 };
    s_gateway(f);
    rec_t recs[N] = {{0}};
    got_t got[N];
    char key[16];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "k%d", i);
        s_send_status(f, key, &recs[i]);
    }
    s_gateway_read(f, got, N);
    for (int i = N - 1; i >= 0; i--)
        s_status_reply(f, &got[i], got[i].req->status->key);
    for (int i = 0; i < N; i++) {
        s_expect(f, &recs[i], ADAPTER_OK, "status answered out of order");
        snprintf(key, sizeof key, "k%d", i);
        assert_string_equal(recs[i].r.status.key, key);
    }
    s_got_free(got, N);
    f->passed = true;
}

/* Replies that break the protocol are BAD_REPLY (as unknown as a timeout),
 * never OK; frames that are no Reply at all leave their request to time
 * out; events and complaints with request_id 0 are sorted out. */
static void test_bad_replies(void **state)
{
    fix_t *f = *state;
    f->platform.timeout_ms = 300;
    s_gateway(f);
    enum { N = 5 };
    rec_t recs[N] = {{0}};
    got_t got[N];
    adapter_dispatch_req_t d = s_order("o1:1", "o1", 1, 1, harness_wall_ms() + 60000);
    s_send_dispatch(f, &d, &recs[0]);
    s_send_status(f, "o1:1", &recs[1]);
    s_send_status(f, "o2:1", &recs[2]);
    s_send_status(f, "o3:1", &recs[3]);
    s_send_status(f, "o4:1", &recs[4]);
    s_gateway_read(f, got, N);

    /* a dispatch answered "not accepted" while a rider is on the way */
    Sluice__Net__V1__DispatchReply dr = SLUICE__NET__V1__DISPATCH_REPLY__INIT;
    dr.key = "o1:1";
    dr.state = SLUICE__NET__V1__DISPATCH_STATE__ASSIGNED;
    Sluice__Net__V1__Reply r = SLUICE__NET__V1__REPLY__INIT;
    r.request_id = got[0].req->request_id;
    r.body_case = SLUICE__NET__V1__REPLY__BODY_DISPATCH;
    r.dispatch = &dr;
    s_gateway_send(f, &got[0], &r);
    /* a status answered with a dispatch body */
    r.request_id = got[1].req->request_id;
    dr.accepted = true;
    s_gateway_send(f, &got[1], &r);
    /* a status answered for another key */
    s_status_reply(f, &got[2], "o9:1");
    /* a frame that is no Reply, and a message of two frames */
    static const uint8_t junk[] = {0xff, 0xff, 0xff};
    s_gateway_send_raw(f, &got[3], junk, sizeof junk, 0);
    s_gateway_send_raw(f, &got[3], "a", 1, ZMQ_SNDMORE);
    assert_true(zmq_send(f->router, "b", 1, 0) == 1);
    /* version 2 */
    Sluice__Net__V1__StatusReply sr = SLUICE__NET__V1__STATUS_REPLY__INIT;
    sr.key = "o4:1";
    sr.state = SLUICE__NET__V1__DISPATCH_STATE__UNKNOWN;
    r.version = 2;
    r.request_id = got[4].req->request_id;
    r.body_case = SLUICE__NET__V1__REPLY__BODY_STATUS;
    r.status = &sr;
    s_gateway_send(f, &got[4], &r);
    r.version = 1;

    /* request_id 0: a good event, a bad one, a complaint; an unknown id */
    Sluice__Net__V1__RiderEvent e = SLUICE__NET__V1__RIDER_EVENT__INIT;
    e.key = "o1:1";
    e.seq = 1;
    e.state = SLUICE__NET__V1__DISPATCH_STATE__ASSIGNED;
    e.rider_ref = "r\x1bX";
    r.request_id = 0;
    r.body_case = SLUICE__NET__V1__REPLY__BODY_EVENT;
    r.event = &e;
    s_gateway_send(f, &got[0], &r);
    e.seq = 0;
    s_gateway_send(f, &got[0], &r);
    Sluice__Net__V1__Error err = SLUICE__NET__V1__ERROR__INIT;
    err.code = SLUICE__NET__V1__ERROR_CODE__BAD_REQUEST;
    err.message = "not a sluice.net.v1.Request";
    r.body_case = SLUICE__NET__V1__REPLY__BODY_ERROR;
    r.error = &err;
    s_gateway_send(f, &got[0], &r);
    s_status_reply(f, &got[0], "o1:1");  /* the dispatch's id again: already answered */

    static const char *const wanted[] = {"not accepted, yet state ASSIGNED",
                                         "a dispatch reply to a status request",
                                         "names o9:1", NULL, "version: 2"};
    for (int i = 0; i < N; i++) {
        if (i == 3)
            continue;
        s_expect(f, &recs[i], ADAPTER_BAD_REPLY, "a reply that breaks the protocol");
        if (!strstr(recs[i].done.error.message, wanted[i]))
            fail_msg("request %d: '%s' does not say '%s'", i, recs[i].done.error.message, wanted[i]);
    }
    s_expect(f, &recs[3], ADAPTER_TIMEOUT, "a request answered with junk");
    RUN_UNTIL(f, adapter_stats(f->a)->complaints == 1 && adapter_stats(f->a)->late == 1, WAIT_MS);
    const adapter_stats_t *st = adapter_stats(f->a);
    assert_int_equal(st->bad_replies, 4);
    assert_int_equal(st->unreadable, 2);
    assert_int_equal(st->events, 1);
    assert_int_equal(st->bad_events, 1);
    assert_int_equal(st->late, 1);
    assert_int_equal(f->n_events, 1);
    assert_string_equal(f->events[0].rider_ref, "r?X");
    s_got_free(got, N);
    f->passed = true;
}

int main(void)
{
    static const harness_case_t cases[] = {
        HARNESS_CASE(test_ride_to_delivered),
        HARNESS_CASE(test_repeated_dispatch_same_rider),
        HARNESS_CASE(test_dark_timeout_then_cancel),
        HARNESS_CASE(test_errors_have_no_effect),
        HARNESS_CASE(test_pipelined_requests),
        HARNESS_CASE(test_late_replies),
        HARNESS_CASE(test_max_inflight),
        HARNESS_CASE(test_reconnect),
        HARNESS_CASE(test_out_of_order_replies),
        HARNESS_CASE(test_bad_replies),
    };
    return harness_main("adapter", cases, HARNESS_COUNT(cases), s_setup, s_teardown);
}
