/* test_sim.c - sluice-sim as a real process, spoken to over a real DEALER
 * with proto/network.proto: a ride's events in order on the time scale,
 * idempotent keys, cancel and status (and what a cancel costs, said even
 * when free), events after a reconnect, refusals, dark/light, injected
 * failures and slowness, platform cancellations, settlement, bad requests,
 * bad command lines and the ledger check.
 *
 * Needs no database. Each test starts its own simulator on ports it picks
 * itself (tcp://127.0.0.1:*, read back from the "ready" log line) and stops
 * it with SIGTERM, expecting exit 0 (under SAN=1 that includes no leaks).
 * Environment: SLUICE_SIM (path of sluice-sim), else next to SLUICE_BIN,
 * else build/sluice-sim; TMPDIR for the per-test directories. */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "proto/network.pb-c.h"

#define START_MS 15000         /* ASan builds start slower */
#define REPLY_MS 3000
#define INBOX_MAX 2048
#define ARGS_MAX 40
#define CENTER_LAT 30.27
#define CENTER_LNG 120.03
#define KM_LAT (1.0 / 111.195)

typedef Sluice__Net__V1__Reply reply_t;
typedef struct client client_t;

#define CLIENTS_MAX 8

/* A running simulator and the test's sockets to it. */
typedef struct sim {
    char dir[PATH_MAX];
    char log[PATH_MAX + 16];
    char ledger[PATH_MAX + 16];
    char gateway[128];
    char control[128];
    pid_t pid;
    void *zctx;
    void *ctl;                 /* REQ to --control */
    void *probe;               /* a REQ to the gateway, when a test opens one */
    client_t *clients[CLIENTS_MAX];  /* open clients: a failed test's are closed on teardown */
    bool passed;
} sim_t;

/* A DEALER, with what arrived but was not asked for yet, in arrival order. */
struct client {
    sim_t *owner;
    void *sock;
    uint64_t next_id;
    reply_t *inbox[INBOX_MAX];
    size_t inbox_count;
};

/* ==== the process ===================================================== */

static const char *s_sim_bin(void)
{
    static char path[PATH_MAX];
    const char *env = getenv("SLUICE_SIM");
    if (env && *env)
        return env;
    const char *daemon = getenv("SLUICE_BIN");
    if (daemon && strrchr(daemon, '/')) {
        snprintf(path, sizeof path, "%.*s/sluice-sim", (int)(strrchr(daemon, '/') - daemon),
                 daemon);
        return path;
    }
    return "build/sluice-sim";
}

/* s_spawn runs sluice-sim with ARGV[1..] (ARGV[0] is ignored), stdout and
 * stderr appended to OUT. */
static pid_t s_spawn(const char *const *argv, const char *out)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd < 0)
            _exit(126);
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
        execv(s_sim_bin(), (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", s_sim_bin(), strerror(errno));
        _exit(127);
    }
    return pid;
}

/* s_reap waits up to TIMEOUT_MS for PID: its exit status, 128+signal, or -1. */
static int s_reap(pid_t pid, int timeout_ms)
{
    uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (r < 0 || harness_now_ms() > deadline)
            return -1;
        harness_nap_ms(10);
    }
}

static bool s_file_contains(const char *path, const char *needle)
{
    char *text = harness_read_file(path);
    bool found = strstr(text, needle) != NULL;
    free(text);
    return found;
}

/* s_count_lines counts lines of PATH containing NEEDLE. */
static size_t s_count_lines(const char *path, const char *needle)
{
    char *text = harness_read_file(path);
    size_t n = 0;
    for (char *line = text; line && *line;) {
        char *end = strchr(line, '\n');
        if (end)
            *end = '\0';
        n += strstr(line, needle) != NULL;
        line = end ? end + 1 : NULL;
    }
    free(text);
    return n;
}

static int s_setup(void **state)
{
    sim_t *s = calloc(1, sizeof *s);
    assert_non_null(s);
    assert_true(harness_mkdtemp(s->dir, sizeof s->dir, "sim"));
    snprintf(s->log, sizeof s->log, "%s/sim.log", s->dir);
    snprintf(s->ledger, sizeof s->ledger, "%s/ledger.tsv", s->dir);
    s->zctx = zmq_ctx_new();
    assert_non_null(s->zctx);
    *state = s;
    return 0;
}

static void client_destroy(client_t **self);

static int s_teardown(void **state)
{
    sim_t *s = *state;
    /* every socket must be closed, or zmq_ctx_term waits for ever */
    for (size_t i = 0; i < CLIENTS_MAX; i++)
        client_destroy(&s->clients[i]);
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        (void)s_reap(s->pid, 5000);
    }
    if (s->ctl)
        zmq_close(s->ctl);
    if (s->probe)
        zmq_close(s->probe);
    zmq_ctx_term(s->zctx);
    if (!s->passed) {
        char *log = harness_read_file(s->log);
        fprintf(stderr, "---- sluice-sim log (%s) ----\n%s---- end ----\n", s->log, log);
        free(log);
    } else if (!getenv("SLUICE_TEST_KEEP")) {
        unlink(s->log);
        unlink(s->ledger);
        rmdir(s->dir);
    }
    free(s);
    return 0;
}

/* s_parse_ready finds "KEY=" in the ready line and copies its value. */
static bool s_ready_value(const char *log, const char *key, char *out, size_t len)
{
    const char *line = strstr(log, "ready gateway=");
    const char *at = line ? strstr(line, key) : NULL;
    if (!at)
        return false;
    at += strlen(key);
    size_t n = strcspn(at, " \n");
    snprintf(out, len, "%.*s", (int)n, at);
    return true;
}

/* sim_start starts sluice-sim with the test's endpoints and ledger plus
 * EXTRA (NULL-terminated), waits for its "ready" line and connects the
 * control socket. */
static void sim_start(sim_t *s, const char *const *extra)
{
    const char *argv[ARGS_MAX] = {"sluice-sim", "--endpoint", "tcp://127.0.0.1:*", "--control",
                                  "tcp://127.0.0.1:*", "--ledger", s->ledger, "--seed", "1"};
    size_t n = 9;
    for (size_t i = 0; extra && extra[i]; i++) {
        assert_true(n + 1 < ARGS_MAX);
        argv[n++] = extra[i];
    }
    argv[n] = NULL;
    s->pid = s_spawn(argv, s->log);
    uint64_t deadline = harness_now_ms() + START_MS;
    for (;;) {
        char *log = harness_read_file(s->log);
        bool ready = s_ready_value(log, "gateway=", s->gateway, sizeof s->gateway) &&
                     s_ready_value(log, "control=", s->control, sizeof s->control);
        free(log);
        if (ready)
            break;
        if (s_reap(s->pid, 0) >= 0) {
            s->pid = 0;
            fail_msg("sluice-sim exited before it was ready");
        }
        if (harness_now_ms() > deadline)
            fail_msg("sluice-sim did not log ready within %d ms", START_MS);
        harness_nap_ms(20);
    }
    s->ctl = zmq_socket(s->zctx, ZMQ_REQ);
    int linger = 0;
    assert_int_equal(zmq_setsockopt(s->ctl, ZMQ_LINGER, &linger, sizeof linger), 0);
    assert_int_equal(zmq_connect(s->ctl, s->control), 0);
}

/* sim_stop: SIGTERM, exit 0, "stopped" logged. Marks the test passed. */
static void sim_stop(sim_t *s)
{
    assert_int_equal(kill(s->pid, SIGTERM), 0);
    int rc = s_reap(s->pid, 10000);
    s->pid = 0;
    assert_int_equal(rc, 0);
    assert_true(s_file_contains(s->log, "stopped: "));
    s->passed = true;
}

/* sim_ctl sends one control command and returns its answer (static buffer). */
static const char *sim_ctl(sim_t *s, const char *cmd)
{
    static char out[4096];
    assert_true(zmq_send(s->ctl, cmd, strlen(cmd), 0) >= 0);
    zmq_pollitem_t item = {.socket = s->ctl, .events = ZMQ_POLLIN};
    assert_int_equal(zmq_poll(&item, 1, REPLY_MS), 1);
    int n = zmq_recv(s->ctl, out, sizeof out - 1, 0);
    assert_true(n >= 0);
    out[n < (int)sizeof out - 1 ? n : (int)sizeof out - 1] = '\0';
    return out;
}

/* sim_stat reads one counter from "stats". */
static uint64_t sim_stat(sim_t *s, const char *name)
{
    const char *stats = sim_ctl(s, "stats");
    char key[64];
    snprintf(key, sizeof key, "%s=", name);
    const char *at = strstr(stats, key);
    while (at && at != stats && at[-1] != ' ')
        at = strstr(at + 1, key);
    if (!at)
        fail_msg("no %s in stats: %s", name, stats);
    return strtoull(at + strlen(key), NULL, 10);
}

/* sim_wait_stat polls "stats" until NAME reaches AT_LEAST. */
static void sim_wait_stat(sim_t *s, const char *name, uint64_t at_least, int timeout_ms)
{
    uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
    while (sim_stat(s, name) < at_least) {
        if (harness_now_ms() > deadline)
            fail_msg("stats %s did not reach %" PRIu64 " within %d ms", name, at_least,
                     timeout_ms);
        harness_nap_ms(20);
    }
}

/* sim_check_ledger runs `sluice-sim --check-ledger FILES...` and returns its
 * exit status; its output goes to OUT. */
static int sim_check_ledger(sim_t *s, const char *const *files, const char *out)
{
    const char *argv[ARGS_MAX] = {"sluice-sim", "--check-ledger"};
    size_t n = 2;
    for (size_t i = 0; files[i]; i++)
        argv[n++] = files[i];
    argv[n] = NULL;
    (void)s;
    unlink(out);
    return s_reap(s_spawn(argv, out), 10000);
}

/* ==== the client ====================================================== */

static client_t *client_new(sim_t *s)
{
    client_t *c = calloc(1, sizeof *c);
    assert_non_null(c);
    size_t slot = 0;
    while (slot < CLIENTS_MAX && s->clients[slot])
        slot++;
    assert_true(slot < CLIENTS_MAX);
    s->clients[slot] = c;
    c->owner = s;
    c->sock = zmq_socket(s->zctx, ZMQ_DEALER);
    int linger = 0;
    assert_int_equal(zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger), 0);
    assert_int_equal(zmq_connect(c->sock, s->gateway), 0);
    return c;
}

static void client_destroy(client_t **self)
{
    client_t *c = *self;
    if (!c)
        return;
    for (size_t i = 0; i < CLIENTS_MAX; i++)
        if (c->owner->clients[i] == c)
            c->owner->clients[i] = NULL;
    for (size_t i = 0; i < c->inbox_count; i++)
        sluice__net__v1__reply__free_unpacked(c->inbox[i], NULL);
    zmq_close(c->sock);
    free(c);
    *self = NULL;
}

static void client_send_raw(client_t *c, const void *data, size_t len)
{
    assert_int_equal(zmq_send(c->sock, data, len, 0), (int)len);
}

/* client_send stamps REQ with version 1 and a fresh request_id (unless the
 * test set them) and sends it; returns the request_id. */
static uint64_t client_send(client_t *c, Sluice__Net__V1__Request *req)
{
    if (req->version == 0)
        req->version = SLUICE__NET__V1__VERSION__VERSION_CURRENT;
    if (req->request_id == 0)
        req->request_id = ++c->next_id;
    uint8_t buf[8192];
    size_t len = sluice__net__v1__request__get_packed_size(req);
    assert_true(len <= sizeof buf);
    sluice__net__v1__request__pack(req, buf);
    client_send_raw(c, buf, len);
    return req->request_id;
}

/* s_receive takes one message off the socket into the inbox; false on
 * timeout. */
static bool s_receive(client_t *c, int timeout_ms)
{
    zmq_pollitem_t item = {.socket = c->sock, .events = ZMQ_POLLIN};
    if (zmq_poll(&item, 1, timeout_ms) <= 0)
        return false;
    uint8_t buf[1 << 17];
    int n = zmq_recv(c->sock, buf, sizeof buf, 0);
    assert_true(n >= 0 && n <= (int)sizeof buf);
    reply_t *r = sluice__net__v1__reply__unpack(NULL, (size_t)n, buf);
    assert_non_null(r);
    assert_int_equal(r->version, SLUICE__NET__V1__VERSION__VERSION_CURRENT);
    assert_true(c->inbox_count < INBOX_MAX);
    c->inbox[c->inbox_count++] = r;
    return true;
}

static reply_t *s_take(client_t *c, size_t i)
{
    reply_t *r = c->inbox[i];
    memmove(&c->inbox[i], &c->inbox[i + 1], (c->inbox_count - i - 1) * sizeof *c->inbox);
    c->inbox_count--;
    return r;
}

/* client_find waits up to TIMEOUT_MS for the first inbox message matching
 * (REQUEST_ID, or any event when EVENT) and takes it; NULL on timeout. */
static reply_t *client_find(client_t *c, uint64_t request_id, bool event, int timeout_ms)
{
    uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
    for (size_t seen = 0;;) {
        for (; seen < c->inbox_count; seen++) {
            reply_t *r = c->inbox[seen];
            bool is_event = r->body_case == SLUICE__NET__V1__REPLY__BODY_EVENT;
            if (event ? is_event : (!is_event && r->request_id == request_id))
                return s_take(c, seen);
        }
        uint64_t now = harness_now_ms();
        if (now >= deadline || !s_receive(c, (int)(deadline - now)))
            return NULL;
    }
}

static reply_t *client_reply(client_t *c, uint64_t request_id, int timeout_ms)
{
    return client_find(c, request_id, false, timeout_ms);
}

/* client_event: the next event; fails the test when none comes. */
static reply_t *client_event(client_t *c, int timeout_ms)
{
    reply_t *r = client_find(c, 0, true, timeout_ms);
    if (!r)
        fail_msg("no event within %d ms", timeout_ms);
    return r;
}

static void reply_free(reply_t **r)
{
    if (*r)
        sluice__net__v1__reply__free_unpacked(*r, NULL);
    *r = NULL;
}

/* An order for the wire: store KM_STORE north of the centre, drop-off
 * KM_RIDE further north. */
typedef struct order {
    Sluice__Net__V1__Geo pickup, dropoff;
    uint64_t ready_at_ms;
} order_t;

static order_t s_order(double km_store, double km_ride, uint64_t ready_at_ms)
{
    order_t o = {.pickup = SLUICE__NET__V1__GEO__INIT, .dropoff = SLUICE__NET__V1__GEO__INIT,
                 .ready_at_ms = ready_at_ms};
    o.pickup.lat = CENTER_LAT + km_store * KM_LAT;
    o.pickup.lng = CENTER_LNG;
    o.dropoff.lat = CENTER_LAT + (km_store + km_ride) * KM_LAT;
    o.dropoff.lng = CENTER_LNG;
    return o;
}

static uint64_t send_quote(client_t *c, order_t *o)
{
    Sluice__Net__V1__QuoteRequest q = SLUICE__NET__V1__QUOTE_REQUEST__INIT;
    q.store_id = 1001;
    q.pickup = &o->pickup;
    q.dropoff = &o->dropoff;
    q.ready_at_ms = o->ready_at_ms;
    q.items = 2;
    Sluice__Net__V1__Request req = SLUICE__NET__V1__REQUEST__INIT;
    req.body_case = SLUICE__NET__V1__REQUEST__BODY_QUOTE;
    req.quote = &q;
    return client_send(c, &req);
}

static uint64_t send_dispatch(client_t *c, const char *key, const char *order_id, order_t *o)
{
    Sluice__Net__V1__DispatchRequest d = SLUICE__NET__V1__DISPATCH_REQUEST__INIT;
    d.key = (char *)key;
    d.order_id = (char *)order_id;
    d.store_id = 1001;
    d.pickup = &o->pickup;
    d.dropoff = &o->dropoff;
    d.ready_at_ms = o->ready_at_ms;
    d.items = 2;
    Sluice__Net__V1__Request req = SLUICE__NET__V1__REQUEST__INIT;
    req.body_case = SLUICE__NET__V1__REQUEST__BODY_DISPATCH;
    req.dispatch = &d;
    return client_send(c, &req);
}

static uint64_t send_cancel(client_t *c, const char *key, const char *reason)
{
    Sluice__Net__V1__CancelRequest q = SLUICE__NET__V1__CANCEL_REQUEST__INIT;
    q.key = (char *)key;
    q.reason = (char *)reason;
    Sluice__Net__V1__Request req = SLUICE__NET__V1__REQUEST__INIT;
    req.body_case = SLUICE__NET__V1__REQUEST__BODY_CANCEL;
    req.cancel = &q;
    return client_send(c, &req);
}

static uint64_t send_status(client_t *c, const char *key)
{
    Sluice__Net__V1__StatusRequest q = SLUICE__NET__V1__STATUS_REQUEST__INIT;
    q.key = (char *)key;
    Sluice__Net__V1__Request req = SLUICE__NET__V1__REQUEST__INIT;
    req.body_case = SLUICE__NET__V1__REQUEST__BODY_STATUS;
    req.status = &q;
    return client_send(c, &req);
}

static uint64_t send_settlement(client_t *c, const char *day, int offset, const char *token,
                                uint32_t max_lines)
{
    Sluice__Net__V1__SettlementRequest q = SLUICE__NET__V1__SETTLEMENT_REQUEST__INIT;
    q.day = (char *)day;
    q.utc_offset_minutes = offset;
    q.page_token = (char *)token;
    q.max_lines = max_lines;
    Sluice__Net__V1__Request req = SLUICE__NET__V1__REQUEST__INIT;
    req.body_case = SLUICE__NET__V1__REQUEST__BODY_SETTLEMENT;
    req.settlement = &q;
    return client_send(c, &req);
}

/* expect_body fails unless R arrived and has body CASE. */
static reply_t *expect_body(reply_t *r, Sluice__Net__V1__Reply__BodyCase body_case, const char *what)
{
    if (!r)
        fail_msg("%s: no reply", what);
    if (r->body_case != body_case)
        fail_msg("%s: body %d, wanted %d%s%s", what, (int)r->body_case, (int)body_case,
                 r->body_case == SLUICE__NET__V1__REPLY__BODY_ERROR ? ": " : "",
                 r->body_case == SLUICE__NET__V1__REPLY__BODY_ERROR ? r->error->message : "");
    return r;
}

static reply_t *quote(client_t *c, order_t *o)
{
    return expect_body(client_reply(c, send_quote(c, o), REPLY_MS),
                       SLUICE__NET__V1__REPLY__BODY_QUOTE, "quote");
}

static reply_t *dispatch(client_t *c, const char *key, const char *order_id, order_t *o)
{
    return expect_body(client_reply(c, send_dispatch(c, key, order_id, o), REPLY_MS),
                       SLUICE__NET__V1__REPLY__BODY_DISPATCH, "dispatch");
}

static reply_t *cancel(client_t *c, const char *key)
{
    return expect_body(client_reply(c, send_cancel(c, key, "test"), REPLY_MS),
                       SLUICE__NET__V1__REPLY__BODY_CANCEL, "cancel");
}

static reply_t *status(client_t *c, const char *key)
{
    return expect_body(client_reply(c, send_status(c, key), REPLY_MS),
                       SLUICE__NET__V1__REPLY__BODY_STATUS, "status");
}

/* expect_error fails unless R is an Error with CODE whose message starts
 * with PREFIX (NULL: any); it frees R. */
static void expect_error(reply_t *r, Sluice__Net__V1__ErrorCode code, const char *prefix)
{
    expect_body(r, SLUICE__NET__V1__REPLY__BODY_ERROR, prefix ? prefix : "error");
    assert_int_equal(r->error->code, code);
    if (prefix && strncmp(r->error->message, prefix, strlen(prefix)) != 0)
        fail_msg("error message '%s' does not start with '%s'", r->error->message, prefix);
    reply_free(&r);
}

/* expect_event takes the next event and checks its key, state and seq. */
static reply_t *expect_event(client_t *c, const char *key, Sluice__Net__V1__DispatchState state,
                             uint32_t seq, int timeout_ms)
{
    reply_t *r = client_event(c, timeout_ms);
    Sluice__Net__V1__RiderEvent *e = r->event;
    assert_int_equal(r->request_id, 0);
    assert_string_equal(e->key, key);
    if (e->state != state || e->seq != seq)
        fail_msg("event of %s: state %d seq %" PRIu32 ", wanted state %d seq %" PRIu32, key,
                 (int)e->state, e->seq, (int)state, seq);
    return r;
}

/* s_nth_state: the state of a ride's event number N+1 (ASSIGNED, ARRIVED,
 * PICKED_UP, DELIVERED). */
static Sluice__Net__V1__DispatchState s_nth_state(uint32_t n)
{
    return (Sluice__Net__V1__DispatchState)(SLUICE__NET__V1__DISPATCH_STATE__ASSIGNED + n);
}

/* ==== tests =========================================================== */

/* One rider at the centre, 36 km/h, time scale 100: a km takes one real
 * second. The first test's store is 1 km away, the order ready 2.5 s after
 * dispatch (slack for a slow machine), its customer 1 km on. */
static const char *const s_one_rider[] = {"--riders", "1", "--radius-km", "0", "--speed-kmh", "36",
                                          "--time-scale", "100", NULL};

static void test_ride_events_in_order(void **state)
{
    sim_t *s = *state;
    sim_start(s, s_one_rider);
    client_t *c = client_new(s);
    uint64_t t0 = harness_wall_ms();
    order_t o = s_order(1, 1, t0 + 2500);
    reply_t *q = quote(c, &o);
    assert_true(q->quote->available);
    assert_true(q->quote->pickup_at_ms >= t0 + 950 && q->quote->pickup_at_ms <= t0 + 2000);
    assert_int_equal(q->quote->fee_cents, 650);  /* 500 + 150 per km */

    reply_t *d = dispatch(c, "o1:1", "o1", &o);
    Sluice__Net__V1__DispatchReply *dr = d->dispatch;
    assert_true(dr->accepted);
    assert_false(dr->duplicate);
    assert_string_equal(dr->key, "o1:1");
    assert_string_equal(dr->rider_ref, "sim-r0");
    assert_int_equal(dr->state, SLUICE__NET__V1__DISPATCH_STATE__ASSIGNED);
    assert_true(dr->pickup_at_ms >= q->quote->pickup_at_ms);
    assert_true(dr->pickup_at_ms <= q->quote->pickup_at_ms + 1000);
    assert_int_equal(dr->fee_cents, 650);
    assert_true(c->inbox_count == 0 || c->inbox[0]->body_case == SLUICE__NET__V1__REPLY__BODY_EVENT);

    reply_t *e1 = expect_event(c, "o1:1", SLUICE__NET__V1__DISPATCH_STATE__ASSIGNED, 1, REPLY_MS);
    assert_string_equal(e1->event->rider_ref, "sim-r0");
    assert_string_equal(e1->event->order_id, "o1");
    assert_non_null(e1->event->rider_position);
    reply_t *e2 = expect_event(c, "o1:1", SLUICE__NET__V1__DISPATCH_STATE__ARRIVED, 2, 5000);
    uint64_t got = harness_wall_ms();
    /* it arrived when the dispatch said, and not before then in real time */
    assert_int_equal(e2->event->at_ms, dr->pickup_at_ms);
    assert_true(got + 5 >= e2->event->at_ms);
    assert_true(e2->event->at_ms < o.ready_at_ms);
    assert_true(fabs(e2->event->rider_position->lat - o.pickup.lat) < 1e-9);
    reply_t *e3 = expect_event(c, "o1:1", SLUICE__NET__V1__DISPATCH_STATE__PICKED_UP, 3, 5000);
    /* never before the order is ready; the wait at the counter is recorded */
    assert_int_equal(e3->event->at_ms, o.ready_at_ms);
    assert_int_equal(e3->event->wait_ms, o.ready_at_ms - e2->event->at_ms);
    reply_t *e4 = expect_event(c, "o1:1", SLUICE__NET__V1__DISPATCH_STATE__DELIVERED, 4, 5000);
    assert_int_equal(e4->event->at_ms, dr->delivery_at_ms);
    assert_true(e4->event->at_ms >= o.ready_at_ms + 950 && e4->event->at_ms <= o.ready_at_ms + 1050);
    assert_int_equal(e4->event->fee_cents, 650);
    assert_true(harness_wall_ms() + 5 >= e4->event->at_ms);

    assert_int_equal(s_count_lines(s->ledger, "\tdispatch\to1:1\to1\tsim-r0\t650\t"), 1);
    assert_int_equal(s_count_lines(s->ledger, "\tarrived\to1:1\t"), 1);
    assert_int_equal(s_count_lines(s->ledger, "\tpicked_up\to1:1\t"), 1);
    assert_int_equal(s_count_lines(s->ledger, "\tdelivered\to1:1\to1\tsim-r0\t650\t"), 1);
    assert_int_equal(sim_stat(s, "waits"), 1);
    reply_free(&q);
    reply_free(&d);
    reply_free(&e1);
    reply_free(&e2);
    reply_free(&e3);
    reply_free(&e4);
    client_destroy(&c);
    sim_stop(s);
}

static void test_repeated_dispatch_same_rider(void **state)
{
    sim_t *s = *state;
    sim_start(s, (const char *const[]){"--riders", "3", "--time-scale", "100", NULL});
    client_t *c = client_new(s);
    order_t o = s_order(1, 1, harness_wall_ms() + 60000);
    /* pipelined: three copies before any answer */
    uint64_t ids[3];
    for (int i = 0; i < 3; i++)
        ids[i] = send_dispatch(c, "o7:1", "o7", &o);
    reply_t *r[3];
    for (int i = 0; i < 3; i++) {
        r[i] = expect_body(client_reply(c, ids[i], REPLY_MS), SLUICE__NET__V1__REPLY__BODY_DISPATCH,
                           "dispatch");
        assert_true(r[i]->dispatch->accepted);
        assert_int_equal(r[i]->dispatch->duplicate, i > 0);
        assert_string_equal(r[i]->dispatch->rider_ref, r[0]->dispatch->rider_ref);
        assert_int_equal(r[i]->dispatch->pickup_at_ms, r[0]->dispatch->pickup_at_ms);
        assert_int_equal(r[i]->dispatch->fee_cents, r[0]->dispatch->fee_cents);
    }
    assert_int_equal(sim_stat(s, "dispatches"), 1);
    assert_int_equal(sim_stat(s, "duplicates"), 2);
    assert_int_equal(sim_stat(s, "riders_idle"), 2);
    assert_int_equal(s_count_lines(s->ledger, "\tdispatch\to7:1\t"), 1);
    /* the same key for another order is the caller's bug */
    expect_error(client_reply(c, send_dispatch(c, "o7:1", "o8", &o), REPLY_MS),
                 SLUICE__NET__V1__ERROR_CODE__KEY_CONFLICT, "dispatch.key");
    assert_int_equal(sim_stat(s, "riders_idle"), 2);
    for (int i = 0; i < 3; i++)
        reply_free(&r[i]);
    client_destroy(&c);
    sim_stop(s);
}

static void test_cancel_then_status(void **state)
{
    sim_t *s = *state;
    sim_start(s, s_one_rider);
    client_t *c = client_new(s);
    order_t far = s_order(1, 1, harness_wall_ms() + 600000);
    reply_t *d = dispatch(c, "o1:1", "o1", &far);
    assert_true(d->dispatch->accepted);
    reply_t *x = cancel(c, "o1:1");
    assert_int_equal(x->cancel->previous, SLUICE__NET__V1__DISPATCH_STATE__ASSIGNED);
    assert_int_equal(x->cancel->state, SLUICE__NET__V1__DISPATCH_STATE__CANCELLED);
    assert_string_equal(x->cancel->rider_ref, "sim-r0");
    assert_int_equal(x->cancel->fee_cents, 0);
    assert_non_null(x->cancel->cancel_fee);  /* free, and said so */
    assert_int_equal(x->cancel->cancel_fee->cents, 0);
    reply_t *st = status(c, "o1:1");
    assert_non_null(st->status->cancel_fee);
    assert_int_equal(st->status->cancel_fee->cents, 0);
    assert_int_equal(st->status->state, SLUICE__NET__V1__DISPATCH_STATE__CANCELLED);
    assert_int_equal(st->status->cancelled_by, SLUICE__NET__V1__CANCELLED_BY__CANCELLED_BY_CLIENT);
    assert_string_equal(st->status->order_id, "o1");
    assert_int_equal(st->status->seq, 2);
    assert_true(st->status->assigned_at_ms > 0);
    assert_true(st->status->cancelled_at_ms >= st->status->assigned_at_ms);
    reply_t *e1 = expect_event(c, "o1:1", SLUICE__NET__V1__DISPATCH_STATE__ASSIGNED, 1, REPLY_MS);
    reply_t *e2 = expect_event(c, "o1:1", SLUICE__NET__V1__DISPATCH_STATE__CANCELLED, 2, REPLY_MS);
    assert_int_equal(e2->event->cancelled_by, SLUICE__NET__V1__CANCELLED_BY__CANCELLED_BY_CLIENT);
    assert_non_null(e2->event->cancel_fee);
    assert_int_equal(e2->event->cancel_fee->cents, 0);
    assert_null(e1->event->cancel_fee);  /* only a cancelled key has a cancel fee */
    reply_t *again = cancel(c, "o1:1");
    assert_int_equal(again->cancel->previous, SLUICE__NET__V1__DISPATCH_STATE__CANCELLED);
    assert_int_equal(again->cancel->state, SLUICE__NET__V1__DISPATCH_STATE__CANCELLED);

    /* cancel before the dispatch arrives: the late dispatch is refused */
    reply_t *ghost = cancel(c, "o2:1");
    assert_int_equal(ghost->cancel->previous, SLUICE__NET__V1__DISPATCH_STATE__UNKNOWN);
    assert_int_equal(ghost->cancel->state, SLUICE__NET__V1__DISPATCH_STATE__CANCELLED);
    reply_t *late = dispatch(c, "o2:1", "o2", &far);
    assert_false(late->dispatch->accepted);
    assert_int_equal(late->dispatch->refusal, SLUICE__NET__V1__REFUSAL__KEY_CANCELLED);
    reply_t *unknown = status(c, "never-sent");
    assert_int_equal(unknown->status->state, SLUICE__NET__V1__DISPATCH_STATE__UNKNOWN);

    /* the rider is free again; after pickup a cancel is too late */
    order_t now = s_order(0.1, 0.5, harness_wall_ms());
    reply_t *d2 = dispatch(c, "o3:1", "o3", &now);
    assert_true(d2->dispatch->accepted);
    reply_t *ev[3];
    for (uint32_t i = 0; i < 3; i++)
        ev[i] = expect_event(c, "o3:1", s_nth_state(i), i + 1, 5000);
    reply_t *too_late = cancel(c, "o3:1");
    assert_int_equal(too_late->cancel->previous, SLUICE__NET__V1__DISPATCH_STATE__PICKED_UP);
    assert_int_equal(too_late->cancel->state, SLUICE__NET__V1__DISPATCH_STATE__PICKED_UP);
    assert_null(too_late->cancel->cancel_fee);
    reply_t *done = expect_event(c, "o3:1", SLUICE__NET__V1__DISPATCH_STATE__DELIVERED, 4, 5000);

    assert_int_equal(s_count_lines(s->ledger, "\tcancelled\to1:1\to1\tsim-r0\t0\tby=client test"), 1);
    assert_int_equal(s_count_lines(s->ledger, "\ttombstone\to2:1\t"), 1);
    assert_int_equal(s_count_lines(s->ledger, "\trefused\to2:1\to2\t-\t0\tKEY_CANCELLED"), 1);
    char out[PATH_MAX + 16];
    snprintf(out, sizeof out, "%s/check.out", s->dir);
    assert_int_equal(sim_check_ledger(s, (const char *const[]){s->ledger, NULL}, out), 0);
    reply_t *all[] = {d, x, st, e1, e2, again, ghost, late, unknown, d2, ev[0], ev[1], ev[2],
                      too_late, done};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        reply_free(&all[i]);
    client_destroy(&c);
    sim_stop(s);
}

/* Our cancel of a rider who waits at the counter costs half the fee, said
 * in the CancelReply, the CANCELLED event, Status and the settlement line. */
static void test_cancel_fee_at_the_counter(void **state)
{
    sim_t *s = *state;
    sim_start(s, s_one_rider);
    client_t *c = client_new(s);
    order_t later = s_order(0.1, 1, harness_wall_ms() + 600000);
    reply_t *d = dispatch(c, "o1:1", "o1", &later);
    assert_true(d->dispatch->accepted);
    assert_int_equal(d->dispatch->fee_cents, 650);
    reply_t *e1 = expect_event(c, "o1:1", SLUICE__NET__V1__DISPATCH_STATE__ASSIGNED, 1, REPLY_MS);
    reply_t *e2 = expect_event(c, "o1:1", SLUICE__NET__V1__DISPATCH_STATE__ARRIVED, 2, 5000);
    reply_t *x = cancel(c, "o1:1");
    assert_int_equal(x->cancel->previous, SLUICE__NET__V1__DISPATCH_STATE__ARRIVED);
    assert_int_equal(x->cancel->state, SLUICE__NET__V1__DISPATCH_STATE__CANCELLED);
    assert_non_null(x->cancel->cancel_fee);
    assert_int_equal(x->cancel->cancel_fee->cents, 325);
    assert_int_equal(x->cancel->fee_cents, 325);  /* what older adapters read */
    reply_t *e3 = expect_event(c, "o1:1", SLUICE__NET__V1__DISPATCH_STATE__CANCELLED, 3, REPLY_MS);
    assert_non_null(e3->event->cancel_fee);
    assert_int_equal(e3->event->cancel_fee->cents, 325);
    reply_t *st = status(c, "o1:1");
    assert_non_null(st->status->cancel_fee);
    assert_int_equal(st->status->cancel_fee->cents, 325);
    assert_int_equal(s_count_lines(s->ledger, "\tcancelled\to1:1\to1\tsim-r0\t325\tby=client"), 1);
    reply_t *all[] = {d, e1, e2, x, e3, st};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        reply_free(&all[i]);
    client_destroy(&c);
    sim_stop(s);
}

/* A restarted adapter asks Status and gets the key's later events. */
static void test_events_follow_status_after_reconnect(void **state)
{
    sim_t *s = *state;
    sim_start(s, s_one_rider);
    client_t *a = client_new(s);
    order_t o = s_order(1, 1, harness_wall_ms() + 1500);
    reply_t *d = dispatch(a, "o1:1", "o1", &o);
    reply_t *e1 = expect_event(a, "o1:1", SLUICE__NET__V1__DISPATCH_STATE__ASSIGNED, 1, REPLY_MS);
    client_destroy(&a);

    client_t *b = client_new(s);
    reply_t *st = status(b, "o1:1");
    uint32_t seq = st->status->seq;
    assert_true(seq >= 1 && seq < 4);
    assert_int_equal(st->status->state, SLUICE__NET__V1__DISPATCH_STATE__ASSIGNED + (seq - 1));
    for (uint32_t next = seq + 1; next <= 4; next++) {
        reply_t *e = expect_event(b, "o1:1", s_nth_state(next - 1), next, 5000);
        reply_free(&e);
    }
    reply_free(&d);
    reply_free(&e1);
    reply_free(&st);
    client_destroy(&b);
    sim_stop(s);
}

static void test_refusals(void **state)
{
    sim_t *s = *state;
    sim_start(s, s_one_rider);
    client_t *c = client_new(s);
    order_t o = s_order(1, 1, harness_wall_ms() + 60000);
    reply_t *a = dispatch(c, "a:1", "a", &o);
    assert_true(a->dispatch->accepted);
    reply_t *q = quote(c, &o);
    assert_false(q->quote->available);
    assert_int_equal(q->quote->refusal, SLUICE__NET__V1__REFUSAL__NO_RIDER);
    reply_t *b = dispatch(c, "b:1", "b", &o);
    assert_false(b->dispatch->accepted);
    assert_int_equal(b->dispatch->refusal, SLUICE__NET__V1__REFUSAL__NO_RIDER);
    assert_int_equal(b->dispatch->state, SLUICE__NET__V1__DISPATCH_STATE__REFUSED);
    reply_t *b2 = dispatch(c, "b:1", "b", &o);
    assert_false(b2->dispatch->accepted);
    assert_true(b2->dispatch->duplicate);
    order_t far = s_order(1, 50, harness_wall_ms());
    reply_t *qf = quote(c, &far);
    assert_int_equal(qf->quote->refusal, SLUICE__NET__V1__REFUSAL__OUT_OF_AREA);
    assert_int_equal(s_count_lines(s->ledger, "\trefused\tb:1\tb\t-\t0\tNO_RIDER"), 1);
    reply_t *all[] = {a, q, b, b2, qf};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        reply_free(&all[i]);
    client_destroy(&c);
    sim_stop(s);
}

static void test_dark_then_light(void **state)
{
    sim_t *s = *state;
    sim_start(s, s_one_rider);
    client_t *c = client_new(s);
    order_t o = s_order(1, 1, harness_wall_ms() + 1500);
    reply_t *d = dispatch(c, "o1:1", "o1", &o);
    reply_t *e1 = expect_event(c, "o1:1", SLUICE__NET__V1__DISPATCH_STATE__ASSIGNED, 1, REPLY_MS);
    assert_string_equal(sim_ctl(s, "dark"), "ok dark");
    uint64_t lost_status = send_status(c, "o1:1");
    order_t o2 = s_order(1, 1, harness_wall_ms() + 1500);
    uint64_t lost_dispatch = send_dispatch(c, "o2:1", "o2", &o2);
    /* the ride goes on in the dark; its events are not sent */
    sim_wait_stat(s, "delivered", 1, 10000);
    assert_null(client_reply(c, lost_status, 0));
    assert_int_equal(c->inbox_count, 0);
    assert_true(sim_stat(s, "dark_dropped") >= 2);
    assert_string_equal(sim_ctl(s, "light"), "ok light");
    reply_t *st = status(c, "o1:1");
    assert_int_equal(st->status->state, SLUICE__NET__V1__DISPATCH_STATE__DELIVERED);
    assert_int_equal(st->status->seq, 4);  /* events 2..4 were lost: Status is the truth */
    reply_t *st2 = status(c, "o2:1");
    assert_int_equal(st2->status->state, SLUICE__NET__V1__DISPATCH_STATE__UNKNOWN);
    /* requests read in the dark are never answered */
    assert_null(client_reply(c, lost_status, 300));
    assert_null(client_reply(c, lost_dispatch, 0));
    assert_null(client_find(c, 0, true, 0));
    assert_int_equal(s_count_lines(s->ledger, "\to2:1\t"), 0);
    reply_free(&d);
    reply_free(&e1);
    reply_free(&st);
    reply_free(&st2);
    client_destroy(&c);
    sim_stop(s);
}

static void test_fail_ratio_observed(void **state)
{
    sim_t *s = *state;
    sim_start(s, (const char *const[]){"--fail-ratio", "0.3", "--seed", "7", NULL});
    client_t *c = client_new(s);
    enum { N = 400 };
    uint64_t first = 0;
    for (int i = 0; i < N; i++) {
        uint64_t id = send_status(c, "nothing");
        first = first ? first : id;
    }
    int errors = 0;
    for (int i = 0; i < N; i++) {
        reply_t *r = client_reply(c, first + (uint64_t)i, REPLY_MS);
        assert_non_null(r);
        if (r->body_case == SLUICE__NET__V1__REPLY__BODY_ERROR) {
            assert_int_equal(r->error->code, SLUICE__NET__V1__ERROR_CODE__UNAVAILABLE);
            assert_true(r->error->retry_after_ms > 0);
            errors++;
        } else {
            assert_int_equal(r->status->state, SLUICE__NET__V1__DISPATCH_STATE__UNKNOWN);
        }
        reply_free(&r);
    }
    double ratio = (double)errors / N;
    if (ratio < 0.22 || ratio > 0.38)
        fail_msg("fail ratio 0.3, observed %.3f", ratio);
    assert_int_equal(sim_stat(s, "injected_failures"), (uint64_t)errors);
    /* a failed dispatch had no effect */
    assert_string_equal(sim_ctl(s, "fail 1"), "ok fail 1");
    order_t o = s_order(1, 1, harness_wall_ms() + 60000);
    expect_error(client_reply(c, send_dispatch(c, "o1:1", "o1", &o), REPLY_MS),
                 SLUICE__NET__V1__ERROR_CODE__UNAVAILABLE, NULL);
    assert_string_equal(sim_ctl(s, "fail 0"), "ok fail 0");
    reply_t *st = status(c, "o1:1");
    assert_int_equal(st->status->state, SLUICE__NET__V1__DISPATCH_STATE__UNKNOWN);
    assert_int_equal(s_count_lines(s->ledger, "\to1:1\t"), 0);
    reply_t *d = dispatch(c, "o1:1", "o1", &o);  /* the same key, decided anew */
    assert_true(d->dispatch->accepted);
    assert_false(d->dispatch->duplicate);
    reply_free(&st);
    reply_free(&d);
    client_destroy(&c);
    sim_stop(s);
}

static void test_slow_replies_keep_order(void **state)
{
    sim_t *s = *state;
    sim_start(s, s_one_rider);
    client_t *c = client_new(s);
    assert_string_equal(sim_ctl(s, "slow 1000"), "ok slow 1000");
    uint64_t sent = harness_now_ms(), wall = harness_wall_ms();
    /* the store is 5 km away, so no later event of the key is queued behind
     * the slow ones when the speed comes back (the queue keeps its order) */
    order_t o = s_order(5, 1, harness_wall_ms() + 60000);
    uint64_t id = send_dispatch(c, "o1:1", "o1", &o);
    /* nothing for ~1 s, then the reply before its key's first event */
    assert_true(s_receive(c, 5000));
    uint64_t took = harness_now_ms() - sent;
    if (took < 980 || took > 4000)
        fail_msg("slow 1000: first message after %" PRIu64 " ms", took);
    while (c->inbox_count < 2)
        assert_true(s_receive(c, 3000));
    assert_int_equal(c->inbox[0]->request_id, id);
    assert_int_equal(c->inbox[0]->body_case, SLUICE__NET__V1__REPLY__BODY_DISPATCH);
    assert_true(c->inbox[0]->sent_at_ms >= wall + 980);
    assert_int_equal(c->inbox[1]->body_case, SLUICE__NET__V1__REPLY__BODY_EVENT);
    assert_string_equal(sim_ctl(s, "slow 0"), "ok slow 0");
    sent = harness_now_ms();
    reply_t *st = status(c, "o1:1");
    assert_true(harness_now_ms() - sent < 500);
    reply_free(&st);
    client_destroy(&c);
    sim_stop(s);
}

static void test_platform_cancellations(void **state)
{
    sim_t *s = *state;
    sim_start(s, (const char *const[]){"--riders", "2", "--radius-km", "0", "--speed-kmh", "36",
                                       "--time-scale", "100", "--cancel-ratio", "1", NULL});
    client_t *c = client_new(s);
    order_t o = s_order(2, 1, harness_wall_ms() + 3000);
    reply_t *d = dispatch(c, "o1:1", "o1", &o);
    assert_true(d->dispatch->accepted);
    reply_t *e1 = expect_event(c, "o1:1", SLUICE__NET__V1__DISPATCH_STATE__ASSIGNED, 1, REPLY_MS);
    reply_t *e2 = client_event(c, 5000);
    assert_int_equal(e2->event->seq, 2);
    assert_int_equal(e2->event->state, SLUICE__NET__V1__DISPATCH_STATE__CANCELLED);
    assert_int_equal(e2->event->cancelled_by, SLUICE__NET__V1__CANCELLED_BY__CANCELLED_BY_PLATFORM);
    assert_true(e2->event->reason[0] != '\0');
    assert_true(e2->event->at_ms < d->dispatch->pickup_at_ms);  /* before the rider got there */
    assert_non_null(e2->event->cancel_fee);  /* the platform's own cancel is free */
    assert_int_equal(e2->event->cancel_fee->cents, 0);
    reply_t *st = status(c, "o1:1");
    assert_int_equal(st->status->cancelled_by, SLUICE__NET__V1__CANCELLED_BY__CANCELLED_BY_PLATFORM);
    assert_int_equal(st->status->picked_up_at_ms, 0);
    /* on command */
    assert_string_equal(sim_ctl(s, "cancel-ratio 0"), "ok cancel-ratio 0");
    reply_t *d2 = dispatch(c, "o2:1", "o2", &o);
    reply_t *f1 = expect_event(c, "o2:1", SLUICE__NET__V1__DISPATCH_STATE__ASSIGNED, 1, REPLY_MS);
    assert_string_equal(sim_ctl(s, "platform-cancel o2:1"), "ok platform-cancel o2:1");
    reply_t *f2 = expect_event(c, "o2:1", SLUICE__NET__V1__DISPATCH_STATE__CANCELLED, 2, REPLY_MS);
    assert_int_equal(f2->event->cancelled_by, SLUICE__NET__V1__CANCELLED_BY__CANCELLED_BY_PLATFORM);
    assert_int_equal(s_count_lines(s->ledger, "\tcancelled\to1:1\to1\t"), 1);
    assert_int_equal(s_count_lines(s->ledger, "by=platform"), 2);
    assert_int_equal(sim_stat(s, "platform_cancelled"), 2);
    reply_t *all[] = {d, e1, e2, st, d2, f1, f2};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        reply_free(&all[i]);
    client_destroy(&c);
    sim_stop(s);
}

/* s_day writes the date of AT_MS at OFFSET minutes from UTC. */
static void s_day(uint64_t at_ms, int offset, char *out, size_t len)
{
    time_t t = (time_t)(at_ms / 1000) + offset * 60;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, len, "%Y-%m-%d", &tm);
}

/* s_settle collects every line of the days that hold FIRST_MS..LAST_MS at
 * OFFSET, pages of MAX_LINES, and returns how many pages it took. */
static size_t s_settle(client_t *c, uint64_t first_ms, uint64_t last_ms, int offset,
                       uint32_t max_lines, char keys[][80], uint32_t *fees, size_t *n,
                       uint64_t *total_fee)
{
    char days[2][16];
    s_day(first_ms, offset, days[0], sizeof days[0]);
    s_day(last_ms, offset, days[1], sizeof days[1]);
    size_t pages = 0;
    *n = 0;
    *total_fee = 0;
    for (int d = 0; d < (strcmp(days[0], days[1]) ? 2 : 1); d++) {
        char token[64] = "";
        do {
            uint64_t id = send_settlement(c, days[d], offset, token, max_lines);
            reply_t *r = expect_body(client_reply(c, id, REPLY_MS),
                                     SLUICE__NET__V1__REPLY__BODY_SETTLEMENT, "settlement");
            Sluice__Net__V1__SettlementReply *sr = r->settlement;
            assert_string_equal(sr->day, days[d]);
            if (d == 1 || strcmp(days[0], days[1]) == 0)
                assert_false(sr->final);  /* today is not over */
            assert_true(sr->n_lines <= max_lines);
            if (token[0] == '\0')
                *total_fee += sr->total_fee_cents;
            for (size_t i = 0; i < sr->n_lines; i++) {
                snprintf(keys[*n], 80, "%s|%s|%d|%" PRIu64, sr->lines[i]->key,
                         sr->lines[i]->order_id, (int)sr->lines[i]->status, sr->lines[i]->at_ms);
                fees[(*n)++] = sr->lines[i]->fee_cents;
            }
            snprintf(token, sizeof token, "%s", sr->next_page_token);
            pages++;
            reply_free(&r);
        } while (token[0]);
    }
    return pages;
}

static void test_settlement_lists_deliveries(void **state)
{
    sim_t *s = *state;
    sim_start(s, (const char *const[]){"--riders", "3", "--radius-km", "0", "--speed-kmh", "36",
                                       "--time-scale", "100", NULL});
    client_t *c = client_new(s);
    enum { N = 3 };
    char want[N][80];
    uint32_t want_fee[N];
    uint64_t first = UINT64_MAX, last = 0, sum = 0;
    for (int i = 0; i < N; i++) {
        char key[16], order[16];
        snprintf(key, sizeof key, "s%d:1", i);
        snprintf(order, sizeof order, "s%d", i);
        order_t o = s_order(0.2, 0.5 + i, harness_wall_ms());
        reply_t *d = dispatch(c, key, order, &o);
        assert_true(d->dispatch->accepted);
        reply_free(&d);
    }
    for (int delivered = 0; delivered < N;) {
        reply_t *e = client_event(c, 10000);
        if (e->event->state == SLUICE__NET__V1__DISPATCH_STATE__DELIVERED) {
            int i = e->event->key[1] - '0';
            snprintf(want[i], sizeof want[i], "%s|%s|%d|%" PRIu64, e->event->key, e->event->order_id,
                     (int)SLUICE__NET__V1__DISPATCH_STATE__DELIVERED, e->event->at_ms);
            want_fee[i] = e->event->fee_cents;
            sum += want_fee[i];
            first = e->event->at_ms < first ? e->event->at_ms : first;
            last = e->event->at_ms > last ? e->event->at_ms : last;
            delivered++;
        }
        reply_free(&e);
    }
    char got[8][80];
    uint32_t fees[8];
    size_t n;
    uint64_t total;
    size_t pages = s_settle(c, first, last, 0, 2, got, fees, &n, &total);
    assert_int_equal(n, N);
    assert_true(pages >= 2);
    assert_int_equal(total, sum);
    for (int i = 0; i < N; i++) {
        bool found = false;
        for (size_t j = 0; j < n; j++)
            if (strcmp(got[j], want[i]) == 0) {
                assert_int_equal(fees[j], want_fee[i]);
                found = true;
            }
        if (!found)
            fail_msg("settlement lacks %s", want[i]);
    }
    /* the same lines by China's day */
    (void)s_settle(c, first, last, 480, 100, got, fees, &n, &total);
    assert_int_equal(n, N);
    /* discrepancies on demand: every line 100 cents high */
    assert_string_equal(sim_ctl(s, "skew 1"), "ok skew 1");
    (void)s_settle(c, first, last, 0, 100, got, fees, &n, &total);
    assert_int_equal(total, sum + N * 100);
    /* a day long past is final and empty; bad days and tokens are refused */
    reply_t *old = expect_body(client_reply(c, send_settlement(c, "2001-02-03", 0, "", 0), REPLY_MS),
                               SLUICE__NET__V1__REPLY__BODY_SETTLEMENT, "old day");
    assert_true(old->settlement->final);
    assert_int_equal(old->settlement->total_lines, 0);
    expect_error(client_reply(c, send_settlement(c, "2026-02-30", 0, "", 0), REPLY_MS),
                 SLUICE__NET__V1__ERROR_CODE__BAD_REQUEST, "settlement.day");
    expect_error(client_reply(c, send_settlement(c, "2001-02-03", 0, "zz", 0), REPLY_MS),
                 SLUICE__NET__V1__ERROR_CODE__BAD_REQUEST, "settlement.page_token");
    expect_error(client_reply(c, send_settlement(c, "2001-02-03", 900, "", 0), REPLY_MS),
                 SLUICE__NET__V1__ERROR_CODE__BAD_REQUEST, "settlement.utc_offset_minutes");
    reply_free(&old);
    client_destroy(&c);
    sim_stop(s);
}

static void test_bad_requests_answered(void **state)
{
    sim_t *s = *state;
    sim_start(s, NULL);
    client_t *c = client_new(s);
    client_send_raw(c, "\xff\xff\xff garbage", 11);
    expect_error(client_reply(c, 0, REPLY_MS), SLUICE__NET__V1__ERROR_CODE__BAD_REQUEST, "not a");

    Sluice__Net__V1__StatusRequest st = SLUICE__NET__V1__STATUS_REQUEST__INIT;
    st.key = "k";
    Sluice__Net__V1__Request req = SLUICE__NET__V1__REQUEST__INIT;
    req.body_case = SLUICE__NET__V1__REQUEST__BODY_STATUS;
    req.status = &st;
    req.version = 2;
    expect_error(client_reply(c, client_send(c, &req), REPLY_MS),
                 SLUICE__NET__V1__ERROR_CODE__UNSUPPORTED_VERSION, "version 2");
    Sluice__Net__V1__Request none = SLUICE__NET__V1__REQUEST__INIT;
    expect_error(client_reply(c, client_send(c, &none), REPLY_MS),
                 SLUICE__NET__V1__ERROR_CODE__BAD_REQUEST, "body");

    order_t o = s_order(1, 1, harness_wall_ms());
    expect_error(client_reply(c, send_dispatch(c, "has space", "o1", &o), REPLY_MS),
                 SLUICE__NET__V1__ERROR_CODE__BAD_REQUEST, "dispatch.key");
    expect_error(client_reply(c, send_dispatch(c, "k", "", &o), REPLY_MS),
                 SLUICE__NET__V1__ERROR_CODE__BAD_REQUEST, "dispatch.order_id");
    order_t bad = o;
    bad.pickup.lat = 95;
    expect_error(client_reply(c, send_quote(c, &bad), REPLY_MS),
                 SLUICE__NET__V1__ERROR_CODE__BAD_REQUEST, "quote.pickup");
    bad = o;
    bad.ready_at_ms = 0;
    expect_error(client_reply(c, send_dispatch(c, "k", "o1", &bad), REPLY_MS),
                 SLUICE__NET__V1__ERROR_CODE__BAD_REQUEST, "dispatch.ready_at_ms");
    char reason[300];
    memset(reason, 'x', sizeof reason - 1);
    reason[sizeof reason - 1] = '\0';
    expect_error(client_reply(c, send_cancel(c, "k", reason), REPLY_MS),
                 SLUICE__NET__V1__ERROR_CODE__BAD_REQUEST, "cancel.reason");
    /* a request with request_id 0 */
    Sluice__Net__V1__Request zero = SLUICE__NET__V1__REQUEST__INIT;
    zero.version = 1;
    zero.body_case = SLUICE__NET__V1__REQUEST__BODY_STATUS;
    zero.status = &st;
    uint8_t buf[256];
    size_t len = sluice__net__v1__request__pack(&zero, buf);
    client_send_raw(c, buf, len);
    expect_error(client_reply(c, 0, REPLY_MS), SLUICE__NET__V1__ERROR_CODE__BAD_REQUEST,
                 "request_id");
    /* two frames from a DEALER: not a message of the protocol, dropped */
    assert_int_equal(zmq_send(c->sock, "x", 1, ZMQ_SNDMORE), 1);
    assert_int_equal(zmq_send(c->sock, buf, len, 0), (int)len);
    sim_wait_stat(s, "malformed", 1, REPLY_MS);
    /* still serving, and a REQ socket works for probing */
    reply_t *q = quote(c, &o);
    assert_true(q->quote->available);
    void *probe = s->probe = zmq_socket(s->zctx, ZMQ_REQ);
    int linger = 0;
    zmq_setsockopt(probe, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_connect(probe, s->gateway), 0);
    Sluice__Net__V1__Request ok = SLUICE__NET__V1__REQUEST__INIT;
    ok.version = 1;
    ok.request_id = 99;
    ok.body_case = SLUICE__NET__V1__REQUEST__BODY_STATUS;
    ok.status = &st;
    len = sluice__net__v1__request__pack(&ok, buf);
    assert_int_equal(zmq_send(probe, buf, len, 0), (int)len);
    zmq_pollitem_t item = {.socket = probe, .events = ZMQ_POLLIN};
    assert_int_equal(zmq_poll(&item, 1, REPLY_MS), 1);
    int n = zmq_recv(probe, buf, sizeof buf, 0);
    assert_true(n > 0);
    reply_t *pr = sluice__net__v1__reply__unpack(NULL, (size_t)n, buf);
    assert_non_null(pr);
    assert_int_equal(pr->request_id, 99);
    assert_int_equal(pr->status->state, SLUICE__NET__V1__DISPATCH_STATE__UNKNOWN);
    reply_free(&pr);
    zmq_close(probe);
    s->probe = NULL;
    assert_int_equal(c->inbox_count, 0);
    reply_free(&q);
    client_destroy(&c);
    sim_stop(s);
}

static void test_control_commands(void **state)
{
    sim_t *s = *state;
    sim_start(s, NULL);
    assert_true(strncmp(sim_ctl(s, "help"), "ok commands:", 12) == 0);
    assert_true(strncmp(sim_ctl(s, "bogus"), "error: unknown command 'bogus'", 30) == 0);
    assert_true(strncmp(sim_ctl(s, "fail 2"), "error: fail needs a ratio", 25) == 0);
    assert_true(strncmp(sim_ctl(s, "slow x"), "error: slow needs", 17) == 0);
    assert_true(strncmp(sim_ctl(s, "platform-cancel nope"), "error:", 6) == 0);
    assert_true(strncmp(sim_ctl(s, ""), "error: empty", 12) == 0);
    assert_true(strncmp(sim_ctl(s, "stall"), "error: stall needs", 18) == 0);
    assert_true(strncmp(sim_ctl(s, "stall nope:1"), "error: stall needs", 18) == 0);
    assert_true(strncmp(sim_ctl(s, "stall next x"), "error: stall needs", 18) == 0);
    assert_true(strncmp(sim_ctl(s, "stall next 1 at delivered"), "error: stall needs", 18) == 0);
    assert_true(strncmp(sim_ctl(s, "stall next 1 on assigned"), "error: stall needs", 18) == 0);
    assert_string_equal(sim_ctl(s, "stall next 2 at picked-up"), "ok stall next 2 at picked-up");
    assert_string_equal(sim_ctl(s, "stall next 1 at arrived"), "ok stall next 1 at arrived");
    assert_string_equal(sim_ctl(s, "stall next 0"), "ok stall next 0 at assigned");
    assert_string_equal(sim_ctl(s, "skew 0.25"), "ok skew 0.25");
    assert_true(strstr(sim_ctl(s, "stats"), " skew=0.25 ") != NULL);
    assert_int_equal(sim_stat(s, "riders"), 50);
    assert_true(s_file_contains(s->log, "control: skew 0.25 -> ok skew 0.25"));
    sim_stop(s);
}

/* s_expect_usage runs sluice-sim with ARGS and expects exit STATUS with
 * NEEDLE in its output. */
static void s_expect_usage(sim_t *s, const char *const *args, int status, const char *needle)
{
    const char *argv[ARGS_MAX] = {"sluice-sim"};
    size_t n = 1;
    for (size_t i = 0; args[i]; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    char out[PATH_MAX + 16];
    snprintf(out, sizeof out, "%s/usage.out", s->dir);
    unlink(out);
    int rc = s_reap(s_spawn(argv, out), 10000);
    char *text = harness_read_file(out);
    if (rc != status || !strstr(text, needle))
        fail_msg("sluice-sim %s: exit %d (wanted %d), output '%s' lacks '%s'", args[0], rc,
                 status, text, needle);
    free(text);
}

static void test_command_line_errors(void **state)
{
    sim_t *s = *state;
    struct { const char *args[4]; int status; const char *needle; } cases[] = {
        {{"--riders", "abc"}, 2, "--riders: 'abc' is not a whole number in 0..1000000"},
        {{"--riders", "-1"}, 2, "--riders: '-1'"},
        {{"--center", "91,0"}, 2, "--center: '91,0' is not LAT,LNG"},
        {{"--center", "30"}, 2, "--center: '30'"},
        {{"--speed-kmh", "30,10"}, 2, "--speed-kmh: '30,10' is not MIN[,MAX]"},
        {{"--radius-km", "-2"}, 2, "--radius-km: '-2'"},
        {{"--time-scale", "0"}, 2, "--time-scale: '0' is not a number > 0"},
        {{"--fail-ratio", "1.5"}, 2, "--fail-ratio: '1.5' is not a ratio in 0..1"},
        {{"--cancel-ratio", "nan"}, 2, "--cancel-ratio: 'nan'"},
        {{"--slow-ms", "-5"}, 2, "--slow-ms: '-5'"},
        {{"--name", "has space"}, 2, "--name: 'has space'"},
        {{"--bogus"}, 2, "bogus"},
        {{"stray"}, 2, "unexpected argument 'stray'"},
        {{"--check-ledger"}, 2, "--check-ledger needs FILE"},
        {{"--endpoint", "nonsense"}, 1, "failed to bind --endpoint nonsense"},
        {{"--help"}, 0, "--time-scale F"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        s_expect_usage(s, cases[i].args, cases[i].status, cases[i].needle);
    s->passed = true;
}

/* s_write writes TEXT to DIR/NAME and returns the path (static per slot). */
static const char *s_write(sim_t *s, int slot, const char *text)
{
    static char paths[4][PATH_MAX + 16];
    snprintf(paths[slot], sizeof paths[slot], "%s/l%d.tsv", s->dir, slot);
    FILE *f = fopen(paths[slot], "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return paths[slot];
}

static void test_ledger_check_finds_two_live_riders(void **state)
{
    sim_t *s = *state;
    char out[PATH_MAX + 16];
    snprintf(out, sizeof out, "%s/check.out", s->dir);
    /* one simulator, one order dispatched under two keys at once */
    sim_start(s, (const char *const[]){"--riders", "2", NULL});
    client_t *c = client_new(s);
    order_t o = s_order(1, 1, harness_wall_ms() + 600000);
    reply_t *a = dispatch(c, "dup:1", "dup", &o);
    reply_t *b = dispatch(c, "dup:2", "dup", &o);
    assert_true(a->dispatch->accepted && b->dispatch->accepted);
    assert_int_equal(sim_check_ledger(s, (const char *const[]){s->ledger, NULL}, out), 1);
    assert_true(s_file_contains(out, "order dup: key dup:2"));
    assert_true(s_file_contains(out, "FAIL: 1 order with two live riders"));
    reply_free(&a);
    reply_free(&b);
    client_destroy(&c);
    sim_stop(s);

    /* two platforms: a cancel on one, then a dispatch on the other, is fine,
     * also within the same millisecond; overlapping is not */
    const char *p1 = s_write(s, 0, "# sluice-sim ledger v1\n"
                                   "100\tdispatch\tx:1\tx\tp1-r0\t650\t-\n"
                                   "200\tcancelled\tx:1\tx\tp1-r0\t0\tby=client timeout\n"
                                   "300\tdispatch\ty:1\ty\tp1-r1\t650\t-\n");
    const char *p2 = s_write(s, 1, "200\tdispatch\tx:2\tx\tp2-r0\t700\t-\n"
                                   "900\tdelivered\tx:2\tx\tp2-r0\t700\t-\n");
    assert_int_equal(sim_check_ledger(s, (const char *const[]){p1, p2, NULL}, out), 0);
    assert_true(s_file_contains(out, "ok: 0 orders with two live riders in 2 ledgers"));
    const char *p3 = s_write(s, 2, "150\tdispatch\tx:3\tx\tp3-r0\t700\t-\n");
    assert_int_equal(sim_check_ledger(s, (const char *const[]){p1, p2, p3, NULL}, out), 1);
    assert_true(s_file_contains(out, "order x: key x:3"));
    const char *junk = s_write(s, 3, "not a ledger line\n");
    assert_int_equal(sim_check_ledger(s, (const char *const[]){junk, NULL}, out), 2);
    assert_true(s_file_contains(out, "l3.tsv:1: not a ledger line"));
}

int main(void)
{
    static const harness_case_t cases[] = {
        HARNESS_CASE(test_ride_events_in_order),
        HARNESS_CASE(test_repeated_dispatch_same_rider),
        HARNESS_CASE(test_cancel_then_status),
        HARNESS_CASE(test_cancel_fee_at_the_counter),
        HARNESS_CASE(test_events_follow_status_after_reconnect),
        HARNESS_CASE(test_refusals),
        HARNESS_CASE(test_dark_then_light),
        HARNESS_CASE(test_fail_ratio_observed),
        HARNESS_CASE(test_slow_replies_keep_order),
        HARNESS_CASE(test_platform_cancellations),
        HARNESS_CASE(test_settlement_lists_deliveries),
        HARNESS_CASE(test_bad_requests_answered),
        HARNESS_CASE(test_control_commands),
        HARNESS_CASE(test_command_line_errors),
        HARNESS_CASE(test_ledger_check_finds_two_live_riders),
    };
    return harness_main("sluice-sim", cases, HARNESS_COUNT(cases), s_setup, s_teardown);
}
