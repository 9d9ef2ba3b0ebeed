/* test_dispatch.c - the dispatch engine (daemon/dispatch.c, dispatch_attempt.c,
 * pool.c, dispatch_state.c) against a fake transport registered as adapter
 * "fake" through adapter_register, in milliseconds: the choice among quotes
 * of two pools; a refusal going to the next pool; a breaker that opens
 * sending orders to the other platform; a dispatch that times out being
 * cancelled and moving on only once released; a restart sending the outbox
 * row again under the same key; FAILED when no rider comes by ready_at +
 * max_hold; rider events applied in seq order with a gap asking Status, and
 * one against the attempt's table refused; the attempt's table itself; the
 * half-open probe is a quote, never a re-sent cancel, and the log says what
 * the probe did; a cancelled attempt keeps the platform's cancel fee, 0
 * included, or none when it did not say, never the delivery fee; admission
 * counting out a platform whose gateway is gone or that had no rider for
 * the store, and taking it back as soon as it is there again.
 *
 * The fake answers a request only when the test says so, and delivers the
 * answers, rider events and link changes from adapter_step, as the zmq
 * transport does. A fake dispatch_host_t records the engine's changes and
 * commits them, in order, when the test says so. The config is real
 * (config_load of a small file). The clocks are this file's (below), so a
 * test can let minutes pass at once. End-to-end runs against sluice-sim are
 * in tests/integration/test_dispatch.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit_tmp.h"
#include "adapter.h"
#include "clock.h"
#include "config.h"
#include "dispatch.h"
#include "dispatch_state.h"
#include "order_index.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MINUTE_MS 60000u

/* ==== the clocks ============================================================ */

/* The engine reads base/clock.h. These definitions take the place of
 * clock.c's in this program (the archive's clock.o is never linked), so a
 * test lets time pass with s_skip: both clocks move on at once. */
static uint64_t s_skipped_ms;

uint64_t clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u + s_skipped_ms;
}

uint64_t clock_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u + s_skipped_ms * 1000u;
}

uint64_t clock_mono_ms(void)
{
    return clock_mono_us() / 1000u;
}

static void s_skip(uint64_t ms)
{
    s_skipped_ms += ms;
}

/* ==== the fake transport ================================================== */

#define FAKES_MAX 4
#define FAKE_REQS_MAX 64
#define FAKE_ITEMS_MAX 32

typedef enum fk_kind { FK_QUOTE, FK_DISPATCH, FK_CANCEL, FK_STATUS } fk_kind_t;

typedef struct fk_req {
    fk_kind_t kind;
    bool answered;            /* the test gave the answer; the next step delivers it */
    bool done;                /* its callback ran */
    char key[ADAPTER_ID_MAX + 1];
    char order_id[ADAPTER_ID_MAX + 1];
    uint64_t deadline_ms;
    uint64_t ready_at_ms;     /* a quote's or dispatch's */
    union {
        adapter_quote_fn *quote;
        adapter_dispatch_fn *dispatch;
        adapter_cancel_fn *cancel;
        adapter_status_fn *status;
    } fn;
    void *arg;
    adapter_done_t outcome;
    union {
        adapter_quote_t quote;
        adapter_dispatch_t dispatch;
        adapter_cancel_t cancel;
        adapter_status_t status;
    } r;
} fk_req_t;

/* What the next adapter_step delivers, in the order the test said it. */
typedef struct fk_item {
    enum { FI_ANSWER, FI_LINK, FI_EVENT } type;
    size_t req;
    bool up;
    adapter_event_t event;
} fk_item_t;

typedef struct fake {
    adapter_t base;
    char name[ADAPTER_ID_MAX + 1];
    adapter_listener_t listener;
    bool up;
    fk_req_t reqs[FAKE_REQS_MAX];
    size_t n_reqs;
    fk_item_t items[FAKE_ITEMS_MAX];
    size_t n_items;
    adapter_stats_t stats;
} fake_t;

/* The open fakes, found by their platform's name. */
static fake_t *s_fakes[FAKES_MAX];

static fake_t *s_self(adapter_t *a)
{
    return (fake_t *)a;
}

static adapter_t *s_open(const adapter_platform_t *platform, void *zmq_ctx,
                         const adapter_listener_t *listener)
{
    (void)zmq_ctx;
    fake_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->name, sizeof f->name, "%s", platform->name);
    f->listener = *listener;
    for (size_t i = 0; i < FAKES_MAX; i++)
        if (!s_fakes[i]) {
            s_fakes[i] = f;
            return &f->base;
        }
    fail_msg("more than %d fakes open", FAKES_MAX);
    return NULL;
}

/* s_complete runs REQ's callback with its outcome (and result when OK). */
static void s_complete(fk_req_t *req)
{
    req->done = true;
    bool ok = req->outcome.outcome == ADAPTER_OK;
    switch (req->kind) {
    case FK_QUOTE: req->fn.quote(req->arg, &req->outcome, ok ? &req->r.quote : NULL); break;
    case FK_DISPATCH: req->fn.dispatch(req->arg, &req->outcome, ok ? &req->r.dispatch : NULL); break;
    case FK_CANCEL: req->fn.cancel(req->arg, &req->outcome, ok ? &req->r.cancel : NULL); break;
    case FK_STATUS: req->fn.status(req->arg, &req->outcome, ok ? &req->r.status : NULL); break;
    }
}

static void s_close(adapter_t *a)
{
    fake_t *f = s_self(a);
    for (size_t i = 0; i < f->n_reqs; i++)
        if (!f->reqs[i].done) {
            f->reqs[i].outcome = (adapter_done_t){.outcome = ADAPTER_CLOSED};
            s_complete(&f->reqs[i]);
        }
    for (size_t i = 0; i < FAKES_MAX; i++)
        if (s_fakes[i] == f)
            s_fakes[i] = NULL;
    free(f);
}

static size_t s_poll(adapter_t *a, zmq_pollitem_t *items, size_t max)
{
    (void)a, (void)items, (void)max;
    return 0;
}

static int s_timeout_ms(const adapter_t *a, uint64_t now_ms)
{
    (void)a, (void)now_ms;
    return -1;
}

static void s_step(adapter_t *a, uint64_t now_ms)
{
    (void)now_ms;
    fake_t *f = s_self(a);
    size_t n = f->n_items;
    f->n_items = 0;  /* callbacks may send requests, never add items */
    for (size_t i = 0; i < n; i++) {
        fk_item_t *it = &f->items[i];
        if (it->type == FI_ANSWER) {
            s_complete(&f->reqs[it->req]);
        } else if (it->type == FI_LINK) {
            f->up = it->up;
            f->listener.link(f->listener.arg, it->up);
        } else {
            f->listener.event(f->listener.arg, &it->event);
        }
    }
}

/* s_request records a request; UNREACHABLE without a link, as zmq says. */
static fk_req_t *s_request(fake_t *f, fk_kind_t kind, const char *key, const char *order_id,
                           uint64_t deadline_ms, adapter_send_t *rc)
{
    if (!f->up) {
        f->stats.unreachable++;
        *rc = ADAPTER_SEND_UNREACHABLE;
        return NULL;
    }
    assert_true(f->n_reqs < FAKE_REQS_MAX);
    fk_req_t *r = &f->reqs[f->n_reqs++];
    *r = (fk_req_t){.kind = kind, .deadline_ms = deadline_ms};
    snprintf(r->key, sizeof r->key, "%s", key ? key : "");
    snprintf(r->order_id, sizeof r->order_id, "%s", order_id ? order_id : "");
    f->stats.sent++;
    *rc = ADAPTER_SEND_OK;
    return r;
}

static adapter_send_t s_quote(adapter_t *a, const adapter_quote_req_t *req, uint64_t deadline_ms,
                              adapter_quote_fn *done, void *arg)
{
    adapter_send_t rc;
    fk_req_t *r = s_request(s_self(a), FK_QUOTE, NULL, req->order_id, deadline_ms, &rc);
    if (r) {
        r->ready_at_ms = req->ready_at_ms;
        r->fn.quote = done;
        r->arg = arg;
    }
    return rc;
}

static adapter_send_t s_dispatch(adapter_t *a, const adapter_dispatch_req_t *req,
                                 uint64_t deadline_ms, adapter_dispatch_fn *done, void *arg)
{
    adapter_send_t rc;
    fk_req_t *r = s_request(s_self(a), FK_DISPATCH, req->key, req->order_id, deadline_ms, &rc);
    if (r) {
        r->ready_at_ms = req->ready_at_ms;
        r->fn.dispatch = done;
        r->arg = arg;
    }
    return rc;
}

static adapter_send_t s_cancel(adapter_t *a, const char *key, const char *reason,
                               uint64_t deadline_ms, adapter_cancel_fn *done, void *arg)
{
    (void)reason;
    adapter_send_t rc;
    fk_req_t *r = s_request(s_self(a), FK_CANCEL, key, NULL, deadline_ms, &rc);
    if (r) {
        r->fn.cancel = done;
        r->arg = arg;
    }
    return rc;
}

static adapter_send_t s_status(adapter_t *a, const char *key, uint64_t deadline_ms,
                               adapter_status_fn *done, void *arg)
{
    adapter_send_t rc;
    fk_req_t *r = s_request(s_self(a), FK_STATUS, key, NULL, deadline_ms, &rc);
    if (r) {
        r->fn.status = done;
        r->arg = arg;
    }
    return rc;
}

static adapter_send_t s_settlement(adapter_t *a, const adapter_settlement_req_t *req,
                                   uint64_t deadline_ms, adapter_settlement_fn *done, void *arg)
{
    (void)a, (void)req, (void)deadline_ms, (void)done, (void)arg;
    return ADAPTER_SEND_INVALID;  /* the engine never asks for settlements */
}

static const adapter_stats_t *s_stats(const adapter_t *a)
{
    return &((const fake_t *)a)->stats;
}

static const adapter_ops_t s_fake_ops = {
    .name = "fake",
    .open = s_open,
    .close = s_close,
    .poll = s_poll,
    .timeout_ms = s_timeout_ms,
    .step = s_step,
    .quote = s_quote,
    .dispatch = s_dispatch,
    .cancel = s_cancel,
    .status = s_status,
    .settlement = s_settlement,
    .stats = s_stats,
};

/* ---- what a test tells a fake ---------------------------------------------- */

static fake_t *s_fake(const char *platform)
{
    for (size_t i = 0; i < FAKES_MAX; i++)
        if (s_fakes[i] && strcmp(s_fakes[i]->name, platform) == 0)
            return s_fakes[i];
    fail_msg("no fake open for platform %s", platform);
    return NULL;
}

static size_t s_waiting(const fake_t *f, fk_kind_t kind)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n_reqs; i++)
        n += f->reqs[i].kind == kind && !f->reqs[i].answered && !f->reqs[i].done;
    return n;
}

/* s_next: the oldest request of KIND the test has not answered. */
static fk_req_t *s_next(fake_t *f, fk_kind_t kind)
{
    for (size_t i = 0; i < f->n_reqs; i++)
        if (f->reqs[i].kind == kind && !f->reqs[i].answered && !f->reqs[i].done)
            return &f->reqs[i];
    fail_msg("platform %s has no %d request waiting", f->name, (int)kind);
    return NULL;
}

static void s_push(fake_t *f, fk_item_t item)
{
    assert_true(f->n_items < FAKE_ITEMS_MAX);
    f->items[f->n_items++] = item;
}

/* s_answer: REQ is answered with OUTCOME (and its result, set by the caller)
 * at the next step. */
static void s_answer(fake_t *f, fk_req_t *req, adapter_outcome_t outcome)
{
    req->answered = true;
    req->outcome.outcome = outcome;
    if (outcome == ADAPTER_ERROR)
        req->outcome.error.code = ADAPTER_ERR_UNAVAILABLE;
    s_push(f, (fk_item_t){.type = FI_ANSWER, .req = (size_t)(req - f->reqs)});
}

static void s_link(const char *platform, bool up)
{
    s_push(s_fake(platform), (fk_item_t){.type = FI_LINK, .up = up});
}

static void s_quote_ok(const char *platform, uint64_t pickup_at_ms, uint32_t fee)
{
    fake_t *f = s_fake(platform);
    fk_req_t *r = s_next(f, FK_QUOTE);
    r->r.quote = (adapter_quote_t){.available = true, .pickup_at_ms = pickup_at_ms,
                                   .delivery_at_ms = pickup_at_ms + 20 * MINUTE_MS,
                                   .fee_cents = fee};
    s_answer(f, r, ADAPTER_OK);
}

static void s_quote_none(const char *platform)
{
    fake_t *f = s_fake(platform);
    fk_req_t *r = s_next(f, FK_QUOTE);
    r->r.quote = (adapter_quote_t){.available = false, .refusal = ADAPTER_REFUSAL_NO_RIDER};
    s_answer(f, r, ADAPTER_OK);
}

static void s_quote_refused(const char *platform, adapter_refusal_t refusal)
{
    fake_t *f = s_fake(platform);
    fk_req_t *r = s_next(f, FK_QUOTE);
    r->r.quote = (adapter_quote_t){.available = false, .refusal = refusal};
    s_answer(f, r, ADAPTER_OK);
}

static void s_quote_fails(const char *platform, adapter_outcome_t outcome)
{
    fake_t *f = s_fake(platform);
    s_answer(f, s_next(f, FK_QUOTE), outcome);
}

/* s_dispatch_answer answers the oldest dispatch: ACCEPTED in STATE with
 * rider RIDER (may be ""), or refused. Returns its key. */
static const char *s_dispatch_answer(const char *platform, bool accepted, adapter_state_t state,
                                     const char *rider, bool duplicate)
{
    fake_t *f = s_fake(platform);
    fk_req_t *r = s_next(f, FK_DISPATCH);
    adapter_dispatch_t *a = &r->r.dispatch;
    *a = (adapter_dispatch_t){.accepted = accepted, .duplicate = duplicate, .state = state,
                              .refusal = accepted ? ADAPTER_REFUSAL_NONE : ADAPTER_REFUSAL_NO_RIDER,
                              .fee_cents = 450};
    snprintf(a->key, sizeof a->key, "%s", r->key);
    snprintf(a->rider_ref, sizeof a->rider_ref, "%s", rider);
    s_answer(f, r, ADAPTER_OK);
    return r->key;
}

static void s_event(const char *platform, const char *key, const char *order_id, uint32_t seq,
                    adapter_state_t state, const char *rider)
{
    fk_item_t it = {.type = FI_EVENT};
    snprintf(it.event.key, sizeof it.event.key, "%s", key);
    snprintf(it.event.order_id, sizeof it.event.order_id, "%s", order_id);
    snprintf(it.event.rider_ref, sizeof it.event.rider_ref, "%s", rider);
    it.event.seq = seq;
    it.event.state = state;
    it.event.at_ms = clock_wall_ms();
    s_push(s_fake(platform), it);
}

/* ==== the engine's world: config, orders, and a host that records ========== */

typedef struct fx {
    char dir[PATH_MAX];
    char path[PATH_MAX];
    config_t *cfg;
    order_index_t *orders;
    dispatch_t *d;
    dispatch_host_t host;
    change_t changes[256];
    size_t n_changes, committed;
    char breaker[8][48];       /* "platform state" of each breaker change */
    char breaker_why[8][160];  /* and the detail it was told with */
    size_t n_breaker;
} fx_t;

static bool s_host_queue(void *arg, const change_t *c)
{
    fx_t *f = arg;
    assert_true(f->n_changes < sizeof f->changes / sizeof f->changes[0]);
    f->changes[f->n_changes++] = *c;
    return true;
}

static void s_host_timer(void *arg, order_entry_t *e)
{
    (void)arg, (void)e;  /* the tests call dispatch_run themselves */
}

static const config_store_t *s_host_store(void *arg, uint32_t id)
{
    fx_t *f = arg;
    for (size_t i = 0; i < f->cfg->store_count; i++)
        if (f->cfg->stores[i].id == id)
            return &f->cfg->stores[i];
    return NULL;
}

static void s_host_breaker(void *arg, const char *platform, const char *state, const char *detail)
{
    fx_t *f = arg;
    assert_true(f->n_breaker < sizeof f->breaker / sizeof f->breaker[0]);
    snprintf(f->breaker_why[f->n_breaker], sizeof f->breaker_why[0], "%s", detail);
    snprintf(f->breaker[f->n_breaker++], sizeof f->breaker[0], "%s %s", platform, state);
}

/* Store 1 may use pa then pb; store 2 only pa. pa's breaker opens after two
 * failed requests of two. */
static const char s_config[] =
    "dispatch = { margin_seconds = 60; pickup_eta_seconds = 300; assign_timeout_seconds = 120;\n"
    "             retry_seconds = 30; max_hold_minutes = 15; };\n"
    "platforms = (\n"
    "  { name = \"pa\"; adapter = \"fake\"; endpoint = \"fake://pa\"; timeout_ms = 800;\n"
    "    breaker = { failure_ratio = 0.5; min_requests = 2; open_seconds = 60; }; },\n"
    "  { name = \"pb\"; adapter = \"fake\"; endpoint = \"fake://pb\"; timeout_ms = 800; }\n"
    ");\n"
    "stores = (\n"
    "  { id = 1; location = [30.27, 120.03]; prep_slots = 4; item_seconds = 60;\n"
    "    max_wait_minutes = 40; platforms = [\"pa\", \"pb\"]; },\n"
    "  { id = 2; location = [30.27, 120.03]; prep_slots = 4; item_seconds = 60;\n"
    "    max_wait_minutes = 40; platforms = [\"pa\"]; }\n"
    ");\n";

static void s_step_all(fx_t *f)
{
    dispatch_step(f->d, clock_mono_ms());
}

static void s_new_engine(fx_t *f)
{
    f->d = dispatch_new(f->cfg, NULL, &f->host);
    assert_non_null(f->d);
}

static int s_setup(void **state)
{
    s_skipped_ms = 0;  /* each test starts at the machine's time */
    fx_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_true(unit_tmp_template(f->dir, sizeof f->dir, "sluice-test-dispatch"));
    assert_non_null(mkdtemp(f->dir));
    int n = snprintf(f->path, sizeof f->path, "%.*s/sluice.conf", PATH_MAX - 16, f->dir);
    assert_true(n > 0 && (size_t)n < sizeof f->path);
    FILE *out = fopen(f->path, "w");
    assert_non_null(out);
    assert_true(fputs(s_config, out) >= 0);
    assert_int_equal(fclose(out), 0);
    char *errors = NULL;
    f->cfg = config_load(f->path, &errors);
    if (!f->cfg)
        fail_msg("config_load: %s", errors ? errors : "?");
    f->orders = order_index_new(16);
    assert_non_null(f->orders);
    f->host = (dispatch_host_t){.orders = f->orders, .queue = s_host_queue, .timer = s_host_timer,
                                .store = s_host_store, .breaker = s_host_breaker, .arg = f};
    s_new_engine(f);
    s_link("pa", true);
    s_link("pb", true);
    s_step_all(f);
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    fx_t *f = *state;
    dispatch_destroy(&f->d);   /* before the orders its jobs point at */
    order_index_destroy(&f->orders);
    config_destroy(&f->cfg);
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* s_order adds order ID of STORE, ready READY_MS (wall clock), accepted. */
static order_entry_t *s_order(fx_t *f, const char *id, uint32_t store, uint64_t ready_ms)
{
    order_entry_t *e = order_index_add(f->orders, id);
    assert_non_null(e);
    e->store_id = store;
    e->promised_ready_at_ms = ready_ms;
    e->promised_delivery_at_ms = ready_ms + 25 * MINUTE_MS;
    e->dropoff_lat = 30.28;
    e->dropoff_lng = 120.05;
    e->drinks = 2;
    e->state = ORDER_ACCEPTED;
    return e;
}

/* s_start: the dispatch timer of E fires: quotes go out. */
static void s_start(fx_t *f, order_entry_t *e)
{
    dispatch_plan(f->d, e);
    assert_true(e->dispatch_at_ms > 0);
    dispatch_run(f->d, e, e->dispatch_at_ms);
    assert_non_null(e->job);
}

/* s_commit: every change queued so far commits, in order. */
static void s_commit(fx_t *f)
{
    while (f->committed < f->n_changes) {
        change_t c = f->changes[f->committed++];
        dispatch_committed(f->d, &c);
    }
}

static const change_t *s_last(const fx_t *f)
{
    assert_true(f->n_changes > 0);
    return &f->changes[f->n_changes - 1];
}

/* s_expect_last: the last change's detail starts with PREFIX. */
static const change_t *s_expect_last(const fx_t *f, const char *prefix)
{
    const change_t *c = s_last(f);
    if (strncmp(c->detail, prefix, strlen(prefix)) != 0)
        fail_msg("last change: \"%s\", expected it to start with \"%s\"", c->detail, prefix);
    return c;
}

/* ==== the choice ============================================================ */

/* Closest to the ready time (to the minute) first, then the lower fee, then
 * the store's preference (pa before pb at store 1). The outbox row commits
 * before the DispatchRequest leaves. */
static void test_choice(void **state)
{
    fx_t *f = *state;
    uint64_t ready = clock_wall_ms() + 20 * MINUTE_MS;

    order_entry_t *a = s_order(f, "choice-a", 1, ready);
    s_start(f, a);
    s_quote_ok("pa", ready + 4 * MINUTE_MS, 300);
    s_quote_ok("pb", ready + 30000, 900);
    s_step_all(f);
    const change_t *c = s_expect_last(f, "dispatching to pb (attempt 1, key choice-a:1)");
    assert_int_equal(c->after, CHANGE_AFTER_SEND_DISPATCH);
    assert_int_equal(c->to, ORDER_DISPATCHING);
    assert_string_equal(c->dispatch.state, "SENDING");
    assert_string_equal(c->dispatch.platform, "pb");
    assert_int_equal(s_waiting(s_fake("pb"), FK_DISPATCH), 0);  /* not before its commit */
    s_commit(f);
    assert_string_equal(s_next(s_fake("pb"), FK_DISPATCH)->key, "choice-a:1");
    assert_string_equal(s_next(s_fake("pb"), FK_DISPATCH)->order_id, "choice-a");

    order_entry_t *b = s_order(f, "choice-b", 1, ready);
    s_start(f, b);
    s_quote_ok("pa", ready + 10000, 500);
    s_quote_ok("pb", ready + 20000, 400);
    s_step_all(f);
    s_expect_last(f, "dispatching to pb (attempt 1, key choice-b:1)");

    order_entry_t *c3 = s_order(f, "choice-c", 1, ready);
    s_start(f, c3);
    s_quote_ok("pa", ready + 10000, 500);
    s_quote_ok("pb", ready + 20000, 500);
    s_step_all(f);
    s_expect_last(f, "dispatching to pa (attempt 1, key choice-c:1)");

    dispatch_platform_t pa;
    dispatch_platform_read(f->d, 0, clock_mono_ms(), &pa);
    assert_string_equal(pa.name, "pa");
    assert_int_equal(pa.quotes, 3);
    assert_int_equal(pa.inflight, 1);
    assert_int_equal(dispatch_jobs(f->d), 3);
}

/* ==== a refusal ============================================================= */

/* pa refuses: the attempt ends REFUSED, and the next round asks pb only. */
static void test_refused_goes_to_next_pool(void **state)
{
    fx_t *f = *state;
    uint64_t ready = clock_wall_ms() + 20 * MINUTE_MS;
    order_entry_t *e = s_order(f, "refused", 1, ready);
    s_start(f, e);
    s_quote_ok("pa", ready, 100);
    s_quote_ok("pb", ready, 200);
    s_step_all(f);
    s_expect_last(f, "dispatching to pa (attempt 1, key refused:1)");
    s_commit(f);
    s_dispatch_answer("pa", false, ADAPTER_STATE_REFUSED, "", false);
    s_step_all(f);

    const change_t *refusal = NULL;
    for (size_t i = f->committed; i < f->n_changes; i++)
        if (strncmp(f->changes[i].detail, "pa refused: NO_RIDER", 20) == 0)
            refusal = &f->changes[i];
    assert_non_null(refusal);
    assert_string_equal(refusal->dispatch.state, "REFUSED");
    assert_string_equal(refusal->dispatch.key, "refused:1");
    assert_int_equal(s_waiting(s_fake("pa"), FK_QUOTE), 0);
    assert_int_equal(s_waiting(s_fake("pb"), FK_QUOTE), 1);

    s_quote_ok("pb", ready, 200);
    s_step_all(f);
    s_expect_last(f, "dispatching to pb (attempt 2, key refused:2)");
    s_commit(f);
    s_dispatch_answer("pb", true, ADAPTER_STATE_PENDING, "", false);
    s_step_all(f);
    const change_t *c = s_expect_last(f, "pb accepted");
    assert_string_equal(c->dispatch.state, "PENDING");
    assert_int_equal(e->attempts, 2);

    dispatch_platform_t pa;
    dispatch_platform_read(f->d, 0, clock_mono_ms(), &pa);
    assert_int_equal(pa.refusals, 1);
    assert_int_equal(pa.inflight, 0);
}

/* ==== the breaker ============================================================ */

/* Two failed quotes of two open pa's breaker: the next order is quoted by
 * pb alone, a store with only pa cannot take orders for a while, and the
 * change is told to the host. */
static void test_breaker_reroutes(void **state)
{
    fx_t *f = *state;
    uint64_t ready = clock_wall_ms() + 20 * MINUTE_MS;
    order_entry_t *x1 = s_order(f, "brk-1", 1, ready);
    s_start(f, x1);
    s_quote_fails("pa", ADAPTER_ERROR);
    s_quote_ok("pb", ready, 300);
    s_step_all(f);
    s_expect_last(f, "dispatching to pb (attempt 1, key brk-1:1)");
    assert_int_equal(f->n_breaker, 0);

    order_entry_t *x2 = s_order(f, "brk-2", 1, ready);
    s_start(f, x2);
    s_quote_fails("pa", ADAPTER_TIMEOUT);
    s_quote_ok("pb", ready, 300);
    s_step_all(f);
    s_expect_last(f, "dispatching to pb (attempt 1, key brk-2:1)");
    assert_int_equal(f->n_breaker, 1);
    assert_string_equal(f->breaker[0], "pa open");

    order_entry_t *x3 = s_order(f, "brk-3", 1, ready);
    s_start(f, x3);
    assert_int_equal(s_waiting(s_fake("pa"), FK_QUOTE), 0);
    s_quote_ok("pb", ready, 300);
    s_step_all(f);
    s_expect_last(f, "dispatching to pb (attempt 1, key brk-3:1)");

    uint64_t retry = 0;
    char why[ORDER_DETAIL_MAX];
    assert_false(dispatch_can_deliver(f->d, s_host_store(f, 2), &retry, why, sizeof why));
    assert_true(retry > 0 && retry <= 60000);
    assert_string_equal(why, "platforms: none can take an order now (pa breaker open)");
    assert_true(dispatch_can_deliver(f->d, s_host_store(f, 1), &retry, why, sizeof why));
    dispatch_platform_t pa;
    dispatch_platform_read(f->d, 0, clock_mono_ms(), &pa);
    assert_string_equal(pa.breaker, "open");
    assert_int_equal(pa.failures, 2);
    assert_int_equal(pa.quotes, 2);
}

/* pa's breaker opens on a dispatch that timed out; the cancel for that key
 * goes unanswered and is sent again after open_seconds. That cancel must not
 * be the half-open probe (it may take a minute to answer): the next order's
 * quote is, and its quick answer decides. A failed probe opens the breaker
 * again and the log says so, not "error ratio 0.00" of an aged-out window;
 * the next probe that answers closes it. */
static void test_probe_is_a_quote(void **state)
{
    fx_t *f = *state;
    uint64_t ready = clock_wall_ms() + 20 * MINUTE_MS;
    order_entry_t *e = s_order(f, "probe-1", 1, ready);
    s_start(f, e);
    s_quote_ok("pa", ready, 100);
    s_quote_ok("pb", ready + 4 * MINUTE_MS, 100);
    s_step_all(f);
    s_commit(f);
    fake_t *pa = s_fake("pa");
    s_answer(pa, s_next(pa, FK_DISPATCH), ADAPTER_TIMEOUT);
    s_step_all(f);
    assert_int_equal(f->n_breaker, 1);
    assert_string_equal(f->breaker[0], "pa open");
    assert_non_null(strstr(f->breaker_why[0], "error ratio 0.50 over the last"));
    s_answer(pa, s_next(pa, FK_CANCEL), ADAPTER_TIMEOUT);
    s_step_all(f);

    /* open_seconds pass; the cancel goes again and stays unanswered. */
    s_skip(61000);
    dispatch_run(f->d, e, clock_wall_ms());
    assert_int_equal(s_waiting(pa, FK_CANCEL), 1);
    s_step_all(f);
    assert_int_equal(f->n_breaker, 2);
    assert_string_equal(f->breaker[1], "pa half-open");

    /* The next order's quote is the probe; it times out: open again. */
    order_entry_t *x = s_order(f, "probe-2", 2, ready);
    s_start(f, x);
    assert_int_equal(s_waiting(pa, FK_QUOTE), 1);
    s_quote_fails("pa", ADAPTER_TIMEOUT);
    s_step_all(f);
    assert_int_equal(f->n_breaker, 3);
    assert_string_equal(f->breaker[2], "pa open");
    assert_non_null(strstr(f->breaker_why[2], "the half-open probe failed: timeout"));
    assert_null(strstr(f->breaker_why[2], "error ratio"));

    /* Another open_seconds: the store's next round of quotes probes, the
     * platform answers, the breaker closes. */
    s_skip(61000);
    s_step_all(f);
    dispatch_run(f->d, x, clock_wall_ms());
    assert_int_equal(s_waiting(pa, FK_QUOTE), 1);
    s_quote_ok("pa", ready, 100);
    s_step_all(f);
    assert_int_equal(f->n_breaker, 5);
    assert_string_equal(f->breaker[3], "pa half-open");
    assert_string_equal(f->breaker[4], "pa closed");
    assert_non_null(strstr(f->breaker_why[4], "the half-open probe answered in"));
    s_expect_last(f, "dispatching to pa (attempt 1, key probe-2:1)");
    /* The cancel that never held the probe is still out; closing after an
     * outage asked about the key again (a resync). */
    assert_int_equal(s_waiting(pa, FK_CANCEL), 2);
}

/* ==== MarkReady ================================================================ */

/* The kitchen marks an order ready 20 minutes early. Its rider is sought at
 * once and for the reported time: the quotes and the DispatchRequest carry
 * it, and a rider 5 minutes away is sent, not held back for the promised
 * time. The same for an order whose job was already waiting to ask again
 * because its rider would have been early. */
static void test_marked_ready_dispatches_now(void **state)
{
    fx_t *f = *state;
    uint64_t ready = clock_wall_ms() + 20 * MINUTE_MS;
    order_entry_t *e = s_order(f, "early-1", 1, ready);
    dispatch_plan(f->d, e);
    assert_true(e->dispatch_at_ms > clock_wall_ms() + 10 * MINUTE_MS);
    uint64_t mark = clock_wall_ms();
    e->marked_ready = true;  /* as lifecycle.c does before telling the engine */
    dispatch_marked_ready(f->d, e, mark);
    assert_true(dispatch_due_ms(e) <= mark);
    dispatch_run(f->d, e, mark);
    fk_req_t *q = s_next(s_fake("pa"), FK_QUOTE);
    assert_int_equal(q->ready_at_ms, mark);
    s_quote_ok("pa", mark + 5 * MINUTE_MS, 100);
    s_quote_ok("pb", mark + 7 * MINUTE_MS, 100);
    s_step_all(f);
    s_expect_last(f, "dispatching to pa (attempt 1, key early-1:1)");
    s_commit(f);
    fk_req_t *r = s_next(s_fake("pa"), FK_DISPATCH);
    assert_string_equal(r->key, "early-1:1");
    assert_int_equal(r->ready_at_ms, mark);

    /* Already waiting: its rider would have stood at the counter. */
    order_entry_t *w = s_order(f, "early-2", 1, ready);
    s_start(f, w);
    uint64_t now = clock_wall_ms();
    s_quote_ok("pa", now + 5 * MINUTE_MS, 100);
    s_quote_ok("pb", now + 5 * MINUTE_MS, 100);
    size_t before = f->n_changes;
    s_step_all(f);
    assert_int_equal(f->n_changes, before);  /* held back: asks again later */
    assert_true(dispatch_due_ms(w) > now + 10 * MINUTE_MS);
    mark = clock_wall_ms();
    w->marked_ready = true;
    dispatch_marked_ready(f->d, w, mark);
    assert_true(dispatch_due_ms(w) <= mark);
    dispatch_run(f->d, w, mark);
    assert_int_equal(s_next(s_fake("pb"), FK_QUOTE)->ready_at_ms, mark);
    s_quote_ok("pa", mark + 6 * MINUTE_MS, 100);
    s_quote_ok("pb", mark + 5 * MINUTE_MS, 100);
    s_step_all(f);
    s_expect_last(f, "dispatching to pb (attempt 1, key early-2:1)");
    s_commit(f);
    assert_int_equal(s_next(s_fake("pb"), FK_DISPATCH)->ready_at_ms, mark);
}

/* ==== admission: who can serve ================================================== */

/* s_can: dispatch_can_deliver for STORE; its detail and retry in WHY, RETRY. */
static bool s_can(fx_t *f, uint32_t store, char *why, uint64_t *retry)
{
    why[0] = '\0';
    *retry = 0;
    return dispatch_can_deliver(f->d, s_host_store(f, store), retry, why, ORDER_DETAIL_MAX);
}

/* A platform whose gateway is gone counts out its stores, from the first
 * failed attempt to connect (not only after a link that was up went down),
 * and is counted in again the moment its link is up. At start-up, before
 * any attempt settled, a platform counts as able: orders are not refused
 * for a link that is merely not known yet. */
static void test_admission_links(void **state)
{
    fx_t *f = *state;
    char why[ORDER_DETAIL_MAX];
    uint64_t retry;
    dispatch_destroy(&f->d);
    s_new_engine(f);  /* its links not known yet */
    assert_true(s_can(f, 2, why, &retry));
    assert_true(s_can(f, 1, why, &retry));

    s_link("pa", false);  /* the first attempt failed: nothing listens */
    s_step_all(f);
    assert_false(s_can(f, 2, why, &retry));
    assert_string_equal(why, "platforms: none can take an order now (pa not connected)");
    assert_int_equal(retry, ADAPTER_RECONNECT_MAX_MS);
    assert_true(s_can(f, 1, why, &retry));  /* pb not known yet: able */
    s_link("pb", false);
    s_step_all(f);
    assert_false(s_can(f, 1, why, &retry));
    assert_string_equal(why, "platforms: none can take an order now (pa not connected, "
                             "pb not connected)");

    s_link("pa", true);  /* back */
    s_step_all(f);
    assert_true(s_can(f, 2, why, &retry));
    assert_true(s_can(f, 1, why, &retry));
    s_link("pa", false);  /* gone again after being up */
    s_step_all(f);
    assert_false(s_can(f, 2, why, &retry));
}

/* Every quote for store 2 refused NO_RIDER: its only platform counts out
 * for that store (not for store 1, which has pb too) for 2 x retry_seconds
 * or until a quote says yes. The waiting order keeps asking, and the first
 * yes takes it back at once. OUT_OF_AREA is about one drop-off: it counts
 * nothing out. */
static void test_admission_no_rider(void **state)
{
    fx_t *f = *state;
    char why[ORDER_DETAIL_MAX];
    uint64_t retry;
    uint64_t ready = clock_wall_ms() + 20 * MINUTE_MS;
    order_entry_t *e = s_order(f, "norider-1", 2, ready);
    s_start(f, e);
    s_quote_refused("pa", ADAPTER_REFUSAL_OUT_OF_AREA);
    s_step_all(f);
    assert_true(s_can(f, 2, why, &retry));

    s_skip(30000);  /* retry_seconds: the next round */
    dispatch_run(f->d, e, clock_wall_ms());
    s_quote_none("pa");
    s_step_all(f);
    assert_false(s_can(f, 2, why, &retry));
    assert_string_equal(why, "platforms: none can take an order now (pa no rider near the store)");
    assert_true(retry > 59000 && retry <= 60000);
    assert_true(s_can(f, 1, why, &retry));  /* another store of pa's: unaffected */

    s_skip(30000);  /* asked again, still nobody: it stands on */
    dispatch_run(f->d, e, clock_wall_ms());
    s_quote_none("pa");
    s_step_all(f);
    s_skip(45000);
    assert_false(s_can(f, 2, why, &retry));
    assert_true(retry > 0 && retry <= 15000);

    dispatch_run(f->d, e, clock_wall_ms());  /* the round after: a rider at last */
    uint64_t now = clock_wall_ms();
    s_quote_ok("pa", now + 5 * MINUTE_MS, 100);
    s_step_all(f);
    assert_true(s_can(f, 2, why, &retry));

    /* Left alone, a refusal passes after 2 x retry_seconds. */
    order_entry_t *x = s_order(f, "norider-2", 2, ready);
    s_start(f, x);
    s_quote_none("pa");
    s_step_all(f);
    assert_false(s_can(f, 2, why, &retry));
    s_skip(60000);
    assert_true(s_can(f, 2, why, &retry));
}

/* ==== a dispatch that times out ================================================ */

/* No answer to the dispatch: the key is cancelled, and until the platform
 * says it released it the order goes nowhere else, however often the cancel
 * must be sent (each waiting longer). Released, it goes to pb. */
static void test_timeout_cancels_then_moves_on(void **state)
{
    fx_t *f = *state;
    uint64_t ready = clock_wall_ms() + 20 * MINUTE_MS;
    order_entry_t *e = s_order(f, "dark", 1, ready);
    s_start(f, e);
    s_quote_ok("pa", ready, 100);
    s_quote_ok("pb", ready, 200);
    s_step_all(f);
    s_commit(f);
    fake_t *pa = s_fake("pa");
    s_answer(pa, s_next(pa, FK_DISPATCH), ADAPTER_TIMEOUT);
    s_step_all(f);
    const change_t *c = s_expect_last(f, "cancelling attempt 1 at pa: no answer to the dispatch");
    assert_string_equal(c->dispatch.state, "CANCELLING");
    fk_req_t *first = s_next(pa, FK_CANCEL);
    assert_string_equal(first->key, "dark:1");
    uint64_t first_deadline = first->deadline_ms;

    s_answer(pa, first, ADAPTER_TIMEOUT);
    size_t before = f->n_changes;
    s_step_all(f);
    assert_int_equal(f->n_changes, before);
    assert_int_equal(s_waiting(s_fake("pb"), FK_QUOTE), 0);
    assert_int_equal(s_waiting(pa, FK_CANCEL), 0);

    dispatch_run(f->d, e, clock_wall_ms() + 2000);  /* the cancel's retry is due */
    fk_req_t *second = s_next(pa, FK_CANCEL);
    assert_string_equal(second->key, "dark:1");
    assert_true(second->deadline_ms >= first_deadline + 800);  /* it waits twice as long */
    assert_int_equal(s_waiting(s_fake("pb"), FK_QUOTE), 0);

    second->r.cancel = (adapter_cancel_t){.previous = ADAPTER_STATE_PENDING,
                                          .state = ADAPTER_STATE_CANCELLED, .released = true};
    snprintf(second->r.cancel.key, sizeof second->r.cancel.key, "dark:1");
    s_answer(pa, second, ADAPTER_OK);
    s_step_all(f);
    bool released = false;
    for (size_t i = before; i < f->n_changes; i++)
        if (strcmp(f->changes[i].detail, "pa released attempt 1") == 0) {
            released = true;
            assert_string_equal(f->changes[i].dispatch.state, "CANCELLED");
        }
    assert_true(released);
    s_quote_ok("pb", ready, 200);
    s_step_all(f);
    s_expect_last(f, "dispatching to pb (attempt 2, key dark:2)");
}

/* ==== cancel fees ============================================================== */

/* s_last_event_fee: the cancel fee of the event the test pushed last. */
static void s_last_event_fee(const char *platform, bool said, uint32_t cents)
{
    fake_t *f = s_fake(platform);
    assert_true(f->n_items > 0);
    f->items[f->n_items - 1].event.cancel_fee = (adapter_fee_t){.said = said, .cents = cents};
}

/* A dispatch accepted at 450 cents that ends CANCELLED is recorded with
 * what the platform charges for the cancel: 150 for ours of a rider at the
 * counter, 0 for a ride the platform gave up (said 0: free, not "450"), and
 * no fee at all when the platform did not say. */
static void test_cancel_fee_recorded(void **state)
{
    fx_t *f = *state;
    uint64_t ready = clock_wall_ms() + 20 * MINUTE_MS;
    fake_t *pa = s_fake("pa");
    order_entry_t *e = s_order(f, "fee-1", 2, ready);
    s_start(f, e);
    s_quote_ok("pa", ready, 300);
    s_step_all(f);
    s_commit(f);
    s_dispatch_answer("pa", true, ADAPTER_STATE_ASSIGNED, "r-1", false);
    s_step_all(f);
    assert_int_equal(s_last(f)->dispatch.fee_cents, 450);
    assert_false(s_last(f)->dispatch.fee_unknown);
    e->state = ORDER_CANCELLED;  /* committed, as lifecycle.c tells the engine */
    dispatch_cancelled(f->d, e);
    fk_req_t *c = s_next(pa, FK_CANCEL);
    c->r.cancel = (adapter_cancel_t){.previous = ADAPTER_STATE_ARRIVED,
                                     .state = ADAPTER_STATE_CANCELLED, .released = true,
                                     .fee_cents = 150, .cancel_fee = {.said = true, .cents = 150}};
    snprintf(c->r.cancel.key, sizeof c->r.cancel.key, "fee-1:1");
    s_answer(pa, c, ADAPTER_OK);
    s_step_all(f);
    const change_t *x = s_expect_last(f, "pa released attempt 1; cancel fee 150 cents");
    assert_string_equal(x->dispatch.state, "CANCELLED");
    assert_int_equal(x->dispatch.fee_cents, 150);
    assert_false(x->dispatch.fee_unknown);

    const char *said[] = {"fee-2", "fee-3"};
    for (int i = 0; i < 2; i++) {
        order_entry_t *o = s_order(f, said[i], 2, ready);
        s_start(f, o);
        s_quote_ok("pa", ready, 300);
        s_step_all(f);
        s_commit(f);
        char key[32];
        snprintf(key, sizeof key, "%s", s_dispatch_answer("pa", true, ADAPTER_STATE_ASSIGNED,
                                                          "r-2", false));
        s_step_all(f);
        s_event("pa", key, said[i], 1, ADAPTER_STATE_CANCELLED, "r-2");
        s_last_event_fee("pa", i == 0, 0);
        s_step_all(f);
        size_t k = f->n_changes;
        while (k > 0 && (strcmp(f->changes[k - 1].dispatch.key, key) != 0 ||
                         strcmp(f->changes[k - 1].dispatch.state, "CANCELLED") != 0))
            k--;
        assert_true(k > 0);
        x = &f->changes[k - 1];
        assert_int_equal(strncmp(x->detail, "pa cancelled attempt 1 (theirs", 30), 0);
        assert_int_equal(x->dispatch.fee_cents, 0);
        assert_true(x->dispatch.fee_unknown == (i == 1));
    }
}

/* ==== restart ================================================================== */

/* The process stops with the outbox row committed and the DispatchRequest
 * unanswered. The new engine restores the attempt and, once pa's link is
 * up, sends the same key again, adding nothing to the timeline first. */
static void test_restart_resends_same_key(void **state)
{
    fx_t *f = *state;
    uint64_t ready = clock_wall_ms() + 20 * MINUTE_MS;
    order_entry_t *e = s_order(f, "again", 1, ready);
    s_start(f, e);
    s_quote_ok("pa", ready, 100);
    s_quote_ok("pb", ready, 200);
    s_step_all(f);
    s_commit(f);
    assert_string_equal(s_next(s_fake("pa"), FK_DISPATCH)->key, "again:1");

    dispatch_destroy(&f->d);   /* the unanswered request is told CLOSED */
    assert_null(e->job);
    assert_int_equal(e->state, ORDER_DISPATCHING);
    s_new_engine(f);
    size_t before = f->n_changes;
    dispatch_row_t row = {.key = "again:1", .platform = "pa", .state = "SENDING",
                          .rider_ref = "", .attempt = 1};
    assert_true(dispatch_restore_attempt(f->d, e, &row));
    assert_true(dispatch_restore_done(f->d, e));
    assert_int_equal(s_fake("pa")->n_reqs, 0);  /* no link yet */

    s_link("pa", true);
    s_link("pb", true);
    s_step_all(f);
    fk_req_t *r = s_next(s_fake("pa"), FK_DISPATCH);
    assert_string_equal(r->key, "again:1");
    assert_string_equal(r->order_id, "again");
    assert_int_equal(s_fake("pa")->n_reqs, 1);
    assert_int_equal(s_fake("pb")->n_reqs, 0);
    assert_int_equal(f->n_changes, before);

    s_dispatch_answer("pa", true, ADAPTER_STATE_ASSIGNED, "rider-7", true);
    s_step_all(f);
    const change_t *c = s_expect_last(f, "pa accepted: rider rider-7 (repeat)");
    assert_int_equal(c->to, ORDER_RIDER_ASSIGNED);
    assert_string_equal(c->dispatch.state, "ASSIGNED");
    assert_string_equal(c->dispatch.key, "again:1");
    assert_int_equal(e->attempts, 1);
}

/* ==== no rider in time ========================================================= */

static void test_no_rider_by_max_hold_fails(void **state)
{
    fx_t *f = *state;
    uint64_t ready = clock_wall_ms() + 20 * MINUTE_MS;
    order_entry_t *e = s_order(f, "nobody", 1, ready);
    s_start(f, e);
    s_quote_none("pa");
    s_quote_none("pb");
    s_step_all(f);
    const change_t *c =
        s_expect_last(f, "no rider available (pa NO_RIDER, pb NO_RIDER); asking again every 30 s");
    assert_true(c->keep_state);
    assert_true(dispatch_due_ms(e) < ready + 15 * MINUTE_MS);  /* the next round first */

    dispatch_run(f->d, e, ready + 15 * MINUTE_MS);
    c = s_expect_last(f, "failed: no rider assigned within 15 minutes of the ready time; refund due");
    assert_int_equal(c->to, ORDER_FAILED);
    assert_false(c->keep_state);
    assert_int_equal(e->state, ORDER_FAILED);
    assert_null(e->job);
    assert_int_equal(dispatch_jobs(f->d), 0);
}

/* ==== rider events ============================================================= */

/* Events apply in seq order: a repeat is dropped, a gap is applied and asks
 * Status, one that would go back along the attempt's table is refused, and
 * DELIVERED ends the job. */
static void test_rider_events_in_order(void **state)
{
    fx_t *f = *state;
    uint64_t ready = clock_wall_ms() + 20 * MINUTE_MS;
    order_entry_t *e = s_order(f, "ride", 1, ready);
    s_start(f, e);
    s_quote_ok("pa", ready, 100);
    s_quote_ok("pb", ready, 200);
    s_step_all(f);
    s_commit(f);
    s_dispatch_answer("pa", true, ADAPTER_STATE_PENDING, "", false);
    s_step_all(f);
    assert_string_equal(s_last(f)->dispatch.state, "PENDING");

    s_event("pa", "ride:1", "ride", 1, ADAPTER_STATE_ASSIGNED, "r-1");
    s_step_all(f);
    const change_t *c = s_expect_last(f, "pa: rider r-1 assigned");
    assert_int_equal(c->to, ORDER_RIDER_ASSIGNED);
    assert_int_equal(c->dispatch.seq, 1);
    assert_string_equal(c->dispatch.rider_ref, "r-1");

    size_t before = f->n_changes;
    s_event("pa", "ride:1", "ride", 1, ADAPTER_STATE_ASSIGNED, "r-1");
    s_step_all(f);
    assert_int_equal(f->n_changes, before);

    s_event("pa", "ride:1", "ride", 3, ADAPTER_STATE_PICKED_UP, "r-1");
    s_step_all(f);
    c = s_expect_last(f, "pa: rider r-1 picked it up");
    assert_int_equal(c->to, ORDER_PICKED_UP);
    assert_int_equal(c->dispatch.seq, 3);
    fk_req_t *status = s_next(s_fake("pa"), FK_STATUS);
    assert_string_equal(status->key, "ride:1");
    status->r.status = (adapter_status_t){.state = ADAPTER_STATE_PICKED_UP, .seq = 3};
    snprintf(status->r.status.key, sizeof status->r.status.key, "ride:1");
    s_answer(s_fake("pa"), status, ADAPTER_OK);
    before = f->n_changes;
    s_step_all(f);
    assert_int_equal(f->n_changes, before);  /* the status agrees: nothing new */

    s_event("pa", "ride:1", "ride", 4, ADAPTER_STATE_ASSIGNED, "r-2");
    s_step_all(f);
    assert_int_equal(f->n_changes, before);  /* PICKED_UP -> ASSIGNED: not in the table */
    assert_int_equal(e->state, ORDER_PICKED_UP);

    s_event("pa", "ride:1", "ride", 5, ADAPTER_STATE_DELIVERED, "");
    s_step_all(f);
    c = s_expect_last(f, "pa: delivered by rider r-1");  /* the refused event changed nothing */
    assert_int_equal(c->to, ORDER_DELIVERED);
    assert_string_equal(c->dispatch.state, "DELIVERED");
    assert_null(e->job);
    dispatch_platform_t pa;
    dispatch_platform_read(f->d, 0, clock_mono_ms(), &pa);
    assert_int_equal(pa.inflight, 0);
}

/* ==== the attempt's table ====================================================== */

/* Live and terminal come from the table: they are migration 003's live
 * (dispatches_live) and terminal states; forward steps only. */
static void test_attempt_table(void **state)
{
    (void)state;
    const char *live[] = {"SENDING", "PENDING", "ASSIGNED", "ARRIVED", "PICKED_UP", "CANCELLING"};
    const char *ended[] = {"DELIVERED", "CANCELLED", "REFUSED", "ERROR"};
    for (size_t i = 0; i < sizeof live / sizeof live[0]; i++)
        assert_true(dispatch_state_is_live(live[i]));
    for (size_t i = 0; i < sizeof ended / sizeof ended[0]; i++) {
        assert_false(dispatch_state_is_live(ended[i]));
        dispatch_state_t st = dispatch_state_parse(ended[i]);
        assert_true(dispatch_state_terminal(st));
        for (int ev = 0; ev < DISPATCH_EVENT_COUNT; ev++) {
            dispatch_state_t to;
            assert_false(dispatch_state_step(st, (dispatch_event_t)ev, &to));
        }
    }
    assert_false(dispatch_state_is_live("NONE"));
    assert_false(dispatch_state_is_live("sending"));
    assert_false(dispatch_state_is_live(""));
    assert_false(dispatch_state_is_live(NULL));
    for (int st = DISPATCH_NONE + 1; st < DISPATCH_STATE_COUNT; st++)
        assert_int_equal(dispatch_state_parse(dispatch_state_name((dispatch_state_t)st)), st);

    dispatch_state_t to = DISPATCH_NONE;
    assert_true(dispatch_state_step(DISPATCH_NONE, DISPATCH_EV_SEND, &to));
    assert_int_equal(to, DISPATCH_SENDING);
    assert_true(dispatch_state_step(DISPATCH_SENDING, DISPATCH_EV_ASSIGNED, &to));
    assert_int_equal(to, DISPATCH_ASSIGNED);
    assert_true(dispatch_state_step(DISPATCH_CANCELLING, DISPATCH_EV_PICKED_UP, &to));
    assert_int_equal(to, DISPATCH_PICKED_UP);
    assert_true(dispatch_state_step(DISPATCH_PICKED_UP, DISPATCH_EV_CANCELLED, &to));
    assert_int_equal(to, DISPATCH_CANCELLED);
    assert_false(dispatch_state_step(DISPATCH_PICKED_UP, DISPATCH_EV_ASSIGNED, &to));
    assert_false(dispatch_state_step(DISPATCH_PENDING, DISPATCH_EV_ERROR, &to));
    assert_false(dispatch_state_step(DISPATCH_CANCELLING, DISPATCH_EV_CANCEL, &to));
    assert_false(dispatch_state_step(DISPATCH_NONE, DISPATCH_EV_CANCEL, &to));
}

int main(void)
{
    if (!adapter_register(&s_fake_ops))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_choice, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_refused_goes_to_next_pool, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_breaker_reroutes, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_probe_is_a_quote, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_marked_ready_dispatches_now, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_admission_links, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_admission_no_rider, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_timeout_cancels_then_moves_on, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_cancel_fee_recorded, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_restart_resends_same_key, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_no_rider_by_max_hold_fails, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_rider_events_in_order, s_setup, s_teardown),
        cmocka_unit_test(test_attempt_table),
    };
    return cmocka_run_group_tests_name("dispatch", tests, NULL, NULL);
}
