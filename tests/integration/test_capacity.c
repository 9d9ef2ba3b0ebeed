/* test_capacity.c - the capacity model end to end: real PostgreSQL, real
 * sluiced, real ZeroMQ. Prep-slot promises and STORE_BUSY, paused, closed and
 * staffed stores in their own time zone, brand and daemon rate limits,
 * MarkReady and CancelOrder, live reload, kill -9 and restart, overload.
 *
 * Every expectation is derived from the store's configuration and from
 * clocks read around each request, never from what the daemon answered
 * before. Store HARNESS_FIRST_STORE is always a generous store without a
 * brand: harness_wait_ready sends its probe orders there. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <zmq.h>

#include "clock.h"
#include "harness.h"

#define S_REPLY_MS 10000
#define MINUTE_MS 60000ull
#define DAY_MS (1440ull * MINUTE_MS)
/* Asia/Shanghai has been UTC+8 without daylight saving since 1991; the test
 * computes local time on its own instead of trusting the daemon's tz code. */
#define SHANGHAI_OFFSET_MS (8ull * 3600ull * 1000ull)

#if defined(__SANITIZE_ADDRESS__)
#define S_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define S_SANITIZED 1
#endif
#endif
#ifndef S_SANITIZED
#define S_SANITIZED 0
#endif

/* ---- config text ------------------------------------------------------ */

typedef struct cfg {
    char *buf;
    size_t len, cap;
} cfg_t;

static void cfg_vadd(cfg_t *c, const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    assert_true(n >= 0);
    if (c->len + (size_t)n + 1 > c->cap) {
        c->cap = (c->len + (size_t)n + 1) * 2;
        c->buf = realloc(c->buf, c->cap);
        assert_non_null(c->buf);
    }
    vsnprintf(c->buf + c->len, c->cap - c->len, fmt, ap);
    c->len += (size_t)n;
}

static void cfg_add(cfg_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cfg_add(cfg_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cfg_vadd(c, fmt, ap);
    va_end(ap);
}

/* cfg_begin starts a body: brand "testbrand" (unlimited) plus BRANDS (more
 * list entries, may be NULL), then the stores list with the probe store. */
static void cfg_begin(cfg_t *c, const char *brands)
{
    memset(c, 0, sizeof *c);
    cfg_add(c, "brands = (\n  { name = \"testbrand\"; orders_per_second = 1000000; }%s%s\n);\n",
            brands != NULL ? ",\n  " : "", brands != NULL ? brands : "");
    cfg_add(c,
            "stores = (\n"
            "  { id = %d; name = \"probe\"; location = [30.27, 120.03]; prep_slots = 1000;"
            " item_seconds = 1; max_wait_minutes = 600; max_queue = 100000; }",
            HARNESS_FIRST_STORE);
}

/* cfg_store adds one store on one line (reload tests find problems by line). */
static void cfg_store(cfg_t *c, uint32_t id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void cfg_store(cfg_t *c, uint32_t id, const char *fmt, ...)
{
    cfg_add(c, ",\n  { id = %u; name = \"store %u\"; location = [30.27, 120.03]; ", id, id);
    va_list ap;
    va_start(ap, fmt);
    cfg_vadd(c, fmt, ap);
    va_end(ap);
    cfg_add(c, " }");
}

static const char *cfg_end(cfg_t *c)
{
    cfg_add(c, "\n);\n");
    return c->buf;
}

static void cfg_free(cfg_t *c)
{
    free(c->buf);
    memset(c, 0, sizeof *c);
}

/* s_line_of: the 1-based line of PATH holding the NTH (1-based) occurrence
 * of NEEDLE; fails the test when there is none. */
static int s_line_of(const char *path, const char *needle, int nth)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        fail_msg("failed to read %s: %s", path, strerror(errno));
    char line[8192];
    int n = 0, seen = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        n++;
        for (char *p = strstr(line, needle); p != NULL; p = strstr(p + 1, needle))
            if (++seen == nth) {
                fclose(f);
                return n;
            }
    }
    fclose(f);
    fail_msg("%s has no occurrence %d of \"%s\"", path, nth, needle);
    return -1;
}

/* ---- local time in Asia/Shanghai -------------------------------------- */

static int s_shanghai_minute(uint64_t wall_ms)
{
    return (int)(((wall_ms + SHANGHAI_OFFSET_MS) / MINUTE_MS) % 1440u);
}

/* s_until_shanghai: ms from WALL_MS until the next local MINUTE of the day. */
static uint64_t s_until_shanghai(uint64_t wall_ms, int minute)
{
    uint64_t into = (wall_ms + SHANGHAI_OFFSET_MS) % DAY_MS;
    uint64_t target = (uint64_t)(((minute % 1440) + 1440) % 1440) * MINUTE_MS;
    return target > into ? target - into : target + DAY_MS - into;
}

static const char *s_hhmm(int minute, char *buf, size_t len)
{
    minute = ((minute % 1440) + 1440) % 1440;
    snprintf(buf, len, "%02d:%02d", minute / 60, minute % 60);
    return buf;
}

/* ---- replies ---------------------------------------------------------- */

static void s_expect_error(const Sluice__V1__Reply *r, uint32_t code, const char *what)
{
    char buf[768];
    if (r == NULL || r->body_case != SLUICE__V1__REPLY__BODY_ERROR || r->error->code != code)
        fail_msg("%s: expected Error %u, got %s", what, code,
                 harness_reply_describe(r, buf, sizeof buf));
}

static void s_expect_detail(const Sluice__V1__Reply *r, const char *needle, const char *what)
{
    const char *d = r->ack->detail != NULL ? r->ack->detail : "";
    if (strstr(d, needle) == NULL)
        fail_msg("%s: detail \"%s\" does not name \"%s\"", what, d, needle);
}

/* A submission with the wall clock read just before sending and just after
 * the reply: whatever "now" the daemon used lies in [sent, got]. */
typedef struct timed {
    Sluice__V1__Reply *r;
    uint64_t sent_wall, got_wall;
} timed_t;

static timed_t s_submit(harness_client_t *c, const char *id, uint32_t store, unsigned drinks)
{
    harness_order_t *o = malloc(sizeof *o);
    assert_non_null(o);
    harness_order_fill(o, id, store);
    harness_order_set_items(o, 1);
    o->item_storage[0].quantity = drinks;
    timed_t t;
    t.sent_wall = harness_wall_ms();
    t.r = harness_submit(c, o, S_REPLY_MS);
    t.got_wall = harness_wall_ms();
    free(o);
    return t;
}

/* s_accept submits and wants ACCEPTED; returns the promised ready time. */
static uint64_t s_accept(harness_client_t *c, const char *id, uint32_t store, timed_t *out)
{
    char what[160];
    timed_t t = s_submit(c, id, store, 1);
    snprintf(what, sizeof what, "order %s to store %u", id, store);
    harness_expect_ack(t.r, SLUICE__V1__DECISION__ACCEPTED, SLUICE__V1__REASON__REASON_NONE, what);
    assert_false(t.r->ack->duplicate);
    if (t.r->ack->promised_delivery_at_ms < t.r->ack->promised_ready_at_ms)
        fail_msg("%s: delivery %llu promised before ready %llu", what,
                 (unsigned long long)t.r->ack->promised_delivery_at_ms,
                 (unsigned long long)t.r->ack->promised_ready_at_ms);
    uint64_t ready = t.r->ack->promised_ready_at_ms;
    if (out != NULL)
        *out = t;
    else
        harness_reply_free(&t.r);
    return ready;
}

/* s_reject submits and wants REJECTED REASON; returns the reply (caller frees). */
static timed_t s_reject(harness_client_t *c, const char *id, uint32_t store, int reason)
{
    char what[160];
    timed_t t = s_submit(c, id, store, 1);
    snprintf(what, sizeof what, "order %s to store %u", id, store);
    harness_expect_ack(t.r, SLUICE__V1__DECISION__REJECTED, reason, what);
    return t;
}

/* s_fill submits 1-drink orders PREFIX-0.. to STORE until the first
 * rejection (at most LIMIT) and returns how many were accepted. */
static size_t s_fill(harness_client_t *c, const char *prefix, uint32_t store, size_t limit)
{
    char id[96], buf[768];
    for (size_t i = 0; i < limit; i++) {
        snprintf(id, sizeof id, "%s-%zu", prefix, i);
        timed_t t = s_submit(c, id, store, 1);
        if (t.r == NULL || t.r->body_case != SLUICE__V1__REPLY__BODY_ACK)
            fail_msg("%s: expected an ack, got %s", id,
                     harness_reply_describe(t.r, buf, sizeof buf));
        bool accepted = t.r->ack->decision == SLUICE__V1__DECISION__ACCEPTED;
        if (!accepted && t.r->ack->reason != SLUICE__V1__REASON__STORE_BUSY)
            fail_msg("%s: expected ACCEPTED or STORE_BUSY, got %s", id,
                     harness_reply_describe(t.r, buf, sizeof buf));
        harness_reply_free(&t.r);
        if (!accepted)
            return i;
    }
    fail_msg("store %u accepted all %zu orders of %s", store, limit, prefix);
    return limit;
}

static void s_expect_between(const char *what, int64_t got, int64_t lo, int64_t hi)
{
    if (got < lo || got > hi)
        fail_msg("%s: %lld is outside the expected [%lld, %lld]", what, (long long)got,
                 (long long)lo, (long long)hi);
}

/* ---- PostgreSQL ------------------------------------------------------- */

static long s_ms_of(harness_t *h, const char *column, const char *order_id)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT (extract(epoch FROM %s) * 1000)::int8 FROM orders WHERE order_id = $1",
             column);
    return harness_db_count(h, sql, 1, order_id);
}

/* s_check_schedule checks every order of STORE in the database: its slot
 * exists, it is promised no later than MAX_WAIT_MIN after it was accepted,
 * its prep takes PREP_MS (0: not checked) and on each slot the
 * [prep_start_at, promised_ready_at) of orders still to be made never
 * overlap. A cancelled order may have given its time back, and an order
 * marked ready early freed its slot at that moment, so those two are left
 * out of the overlap check. Returns the number of orders. */
static long s_check_schedule(harness_t *h, uint32_t store, int slots, uint64_t prep_ms,
                             int max_wait_min)
{
    char sid[16], sslots[16], sprep[32], swait[16];
    snprintf(sid, sizeof sid, "%u", store);
    snprintf(sslots, sizeof sslots, "%d", slots);
    snprintf(sprep, sizeof sprep, "%llu", (unsigned long long)prep_ms);
    snprintf(swait, sizeof swait, "%d", max_wait_min);
    long n = harness_db_count(h, "SELECT count(*) FROM orders WHERE store_id = $1", 1, sid);
    long missing = harness_db_count(h,
                                    "SELECT count(*) FROM orders WHERE store_id = $1 AND "
                                    "(prep_slot IS NULL OR prep_start_at IS NULL)",
                                    1, sid);
    long bad_slot = harness_db_count(h,
                                     "SELECT count(*) FROM orders WHERE store_id = $1 AND "
                                     "(prep_slot < 0 OR prep_slot >= $2::int)",
                                     2, sid, sslots);
    long too_far = harness_db_count(h,
                                    "SELECT count(*) FROM orders WHERE store_id = $1 AND "
                                    "promised_ready_at - accepted_at > "
                                    "make_interval(mins => $2::int)",
                                    2, sid, swait);
    long bad_prep = prep_ms == 0 ? 0
                    : harness_db_count(h,
                                       "SELECT count(*) FROM orders WHERE store_id = $1 AND "
                                       "promised_ready_at - prep_start_at <> "
                                       "$2::int8 * interval '1 millisecond'",
                                       2, sid, sprep);
    long overlaps = harness_db_count(
        h,
        "SELECT count(*) FROM (SELECT prep_start_at, lag(promised_ready_at) OVER "
        "(PARTITION BY prep_slot ORDER BY prep_start_at, promised_ready_at) AS prev_ready "
        "FROM orders WHERE store_id = $1 AND state NOT IN ('CANCELLED', 'READY')) x "
        "WHERE prev_ready > prep_start_at",
        1, sid);
    if (n < 0 || missing != 0 || bad_slot != 0 || too_far != 0 || bad_prep != 0 || overlaps != 0)
        fail_msg("store %u: %ld orders; %ld without a slot, %ld on a slot >= %d, %ld promised "
                 "more than %d min after acceptance, %ld with a prep time other than %llu ms, "
                 "%ld overlapping another order on its slot",
                 store, n, missing, bad_slot, slots, too_far, max_wait_min, bad_prep,
                 (unsigned long long)prep_ms, overlaps);
    return n;
}

/* ---- 1. a one-slot store ---------------------------------------------- */

enum { ONE_STORE = 2001, QUEUE_STORE = 2002, ONE_ITEM_S = 60, ONE_ORDER_S = 0, ONE_WAIT_MIN = 5,
       QUEUE_MAX = 2, ONE_HANDOFF_S = 240 };
#define ONE_RIDER_KMH 12.0

/* s_travel_ms: straight-line (haversine) distance from the stores' location
 * to harness_order_fill's drop-off, at KMH. */
static double s_travel_ms(double kmh)
{
    const double rad = M_PI / 180.0, lat1 = 30.27, lng1 = 120.03, lat2 = 30.28, lng2 = 120.05;
    double dlat = (lat2 - lat1) * rad, dlng = (lng2 - lng1) * rad;
    double a = sin(dlat / 2) * sin(dlat / 2) +
               cos(lat1 * rad) * cos(lat2 * rad) * sin(dlng / 2) * sin(dlng / 2);
    double km = 2.0 * 6371.0 * asin(sqrt(a));
    return km / kmh * 3600000.0;
}

static void test_one_slot_store(void **state)
{
    harness_t *h = *state;
    cfg_t c;
    cfg_begin(&c, NULL);
    cfg_store(&c, ONE_STORE,
              "prep_slots = 1; item_seconds = %d; order_seconds = %d; max_wait_minutes = %d;",
              ONE_ITEM_S, ONE_ORDER_S, ONE_WAIT_MIN);
    cfg_store(&c, QUEUE_STORE,
              "prep_slots = 1; item_seconds = %d; order_seconds = %d; max_wait_minutes = %d;"
              " max_queue = %d;",
              ONE_ITEM_S, ONE_ORDER_S, ONE_WAIT_MIN, QUEUE_MAX);
    cfg_add(&c, "\n);\ndispatch = { handoff_seconds = %d; rider_kmh = %.1f; };\n",
            ONE_HANDOFF_S, ONE_RIDER_KMH);
    harness_boot_text(h, NULL, c.buf);
    cfg_free(&c);

    const uint64_t prep = (ONE_ORDER_S + 1 * ONE_ITEM_S) * 1000ull;
    const uint64_t max_wait = ONE_WAIT_MIN * MINUTE_MS;
    const size_t fits = (size_t)(max_wait / prep);  /* 5 */
    harness_client_t *cl = harness_client_new(h, ZMQ_DEALER);
    uint64_t promise[16];
    timed_t first = { 0 };
    char id[64], what[160];
    for (size_t k = 0; k < fits; k++) {
        snprintf(id, sizeof id, "one-%zu", k);
        timed_t t;
        promise[k] = s_accept(cl, id, ONE_STORE, &t);
        if (k == 0) {
            /* the empty slot starts it now */
            s_expect_between("first promise", (int64_t)promise[0], (int64_t)(t.sent_wall + prep),
                             (int64_t)(t.got_wall + prep));
            first = t;
            /* delivery: ready + handoff + travel from the store to the drop-off */
            double travel = s_travel_ms(ONE_RIDER_KMH);
            int64_t want = (int64_t)promise[0] + ONE_HANDOFF_S * 1000 + (int64_t)llround(travel);
            int64_t slack = 1000 + (int64_t)(travel * 0.02);
            fprintf(stderr, "# promised delivery %llu ms after ready (handoff %d s + %.0f ms "
                            "travel)\n",
                    (unsigned long long)(t.r->ack->promised_delivery_at_ms - promise[0]),
                    ONE_HANDOFF_S, travel);
            s_expect_between("promised delivery", (int64_t)t.r->ack->promised_delivery_at_ms,
                             want - slack, want + slack);
        } else {
            snprintf(what, sizeof what, "promise of order %zu (first + %zu x %llu ms)", k, k,
                     (unsigned long long)prep);
            s_expect_between(what, (int64_t)promise[k], (int64_t)(promise[0] + k * prep),
                             (int64_t)(promise[0] + k * prep));
            harness_reply_free(&t.r);
        }
    }
    harness_reply_free(&first.r);

    /* the next one would be ready at last + prep: too far; it fits once now
     * has moved to (last + prep) - max_wait */
    timed_t busy = s_reject(cl, "one-busy", ONE_STORE, SLUICE__V1__REASON__STORE_BUSY);
    uint64_t fits_at = promise[fits - 1] + prep - max_wait;
    int64_t lo = (int64_t)fits_at - (int64_t)busy.got_wall - 1000;
    int64_t hi = (int64_t)fits_at - (int64_t)busy.sent_wall + 1000;
    fprintf(stderr, "# one-slot store: %zu accepted %llu ms apart; STORE_BUSY retry_after_ms %llu "
                    "(expected %lld..%lld without the 1 s slack)\n",
            fits, (unsigned long long)prep, (unsigned long long)busy.r->ack->retry_after_ms,
            (long long)(lo + 1000), (long long)(hi - 1000));
    s_expect_between("STORE_BUSY retry_after_ms", (int64_t)busy.r->ack->retry_after_ms, lo, hi);
    s_expect_detail(busy.r, "2001", "STORE_BUSY");
    harness_reply_free(&busy.r);

    /* still full a moment later; the refused orders were not stored */
    busy = s_reject(cl, "one-busy-2", ONE_STORE, SLUICE__V1__REASON__STORE_BUSY);
    harness_reply_free(&busy.r);
    assert_int_equal(harness_db_count(h, "SELECT count(*) FROM orders WHERE order_id LIKE "
                                         "'one-busy%'", 0), 0);

    /* every accepted row carries its place in the schedule */
    for (size_t k = 0; k < fits; k++) {
        snprintf(id, sizeof id, "one-%zu", k);
        long ready = s_ms_of(h, "promised_ready_at", id);
        long start = s_ms_of(h, "prep_start_at", id);
        long slot = harness_db_count(h, "SELECT prep_slot FROM orders WHERE order_id = $1", 1, id);
        if (ready != (long)promise[k] || start != (long)(promise[k] - prep) || slot != 0)
            fail_msg("row %s: promised_ready_at %ld (acked %llu), prep_start_at %ld (expected "
                     "%llu), prep_slot %ld (expected 0)",
                     id, ready, (unsigned long long)promise[k], start,
                     (unsigned long long)(promise[k] - prep), slot);
    }
    assert_int_equal(s_check_schedule(h, ONE_STORE, 1, prep, ONE_WAIT_MIN), (long)fits);

    /* max_queue: the first order starts at once, the next QUEUE_MAX wait;
     * one more is refused although max_wait_minutes would allow it */
    size_t queued = s_fill(cl, "queue", QUEUE_STORE, 10);
    fprintf(stderr, "# max_queue = %d: %zu accepted\n", QUEUE_MAX, queued);
    assert_int_equal(queued, 1 + QUEUE_MAX);
    busy = s_reject(cl, "queue-again", QUEUE_STORE, SLUICE__V1__REASON__STORE_BUSY);
    s_expect_detail(busy.r, "max_queue", "STORE_BUSY past max_queue");
    assert_true(busy.r->ack->retry_after_ms > 0);
    harness_reply_free(&busy.r);

    harness_client_destroy(&cl);
    harness_pass(h);
}

/* ---- 2. paused, closed, opening hours and staffing in the store's zone -- */

enum { PAUSED_STORE = 2101, CLOSED_STORE = 2102, OPEN_STORE = 2103, STAFFED_STORE = 2104,
       PLAIN_STORE = 2105, PAUSED_RETRY_MS = 45000 };

static void test_paused_closed_staffing(void **state)
{
    harness_t *h = *state;
    uint64_t now = harness_wall_ms();
    int local = s_shanghai_minute(now);
    int utc = (int)((now / MINUTE_MS) % 1440u);
    char open_at[8], close_at[8], from[8], to[8];
    /* Closed: opens in 15 h, for 2 h. In UTC (8 h behind) that window holds
     * the current time, so a daemon reading hours as UTC would accept. */
    int closed_open = (local + 900) % 1440, closed_close = (local + 1020) % 1440;
    assert_true((utc - closed_open + 1440) % 1440 < 120);
    cfg_t c;
    cfg_begin(&c, NULL);
    cfg_store(&c, PAUSED_STORE,
              "prep_slots = 4; item_seconds = 60; max_wait_minutes = 30; paused = true;");
    cfg_store(&c, CLOSED_STORE,
              "prep_slots = 4; item_seconds = 60; max_wait_minutes = 30; hours = \"%s-%s\";"
              " timezone = \"Asia/Shanghai\";",
              s_hhmm(closed_open, open_at, sizeof open_at),
              s_hhmm(closed_close, close_at, sizeof close_at));
    /* Open: 3 h either side of local now, which is outside in UTC. */
    cfg_store(&c, OPEN_STORE,
              "prep_slots = 4; item_seconds = 60; max_wait_minutes = 30; hours = \"%s-%s\";"
              " timezone = \"Asia/Shanghai\";",
              s_hhmm(local - 180, from, sizeof from), s_hhmm(local + 180, to, sizeof to));
    /* Staffing: 2 slots instead of 1 for 3 h either side of local now (in
     * UTC the window is 5 h away). */
    cfg_store(&c, STAFFED_STORE,
              "prep_slots = 1; item_seconds = 60; max_wait_minutes = 5;"
              " timezone = \"Asia/Shanghai\"; staffing = ( { from = \"%s\"; to = \"%s\";"
              " prep_slots = 2; } );",
              from, to);
    cfg_store(&c, PLAIN_STORE,
              "prep_slots = 1; item_seconds = 60; max_wait_minutes = 5;"
              " timezone = \"Asia/Shanghai\";");
    char extra[64];
    snprintf(extra, sizeof extra, "paused_retry_ms = %d;", PAUSED_RETRY_MS);
    harness_boot_text(h, extra, cfg_end(&c));
    cfg_free(&c);
    harness_client_t *cl = harness_client_new(h, ZMQ_DEALER);

    timed_t t = s_reject(cl, "paused-1", PAUSED_STORE, SLUICE__V1__REASON__STORE_PAUSED);
    assert_int_equal(t.r->ack->retry_after_ms, PAUSED_RETRY_MS);
    s_expect_detail(t.r, "2101", "STORE_PAUSED");
    harness_reply_free(&t.r);

    t = s_reject(cl, "closed-1", CLOSED_STORE, SLUICE__V1__REASON__STORE_CLOSED);
    int64_t lo = (int64_t)s_until_shanghai(t.got_wall, closed_open) - 60000;
    int64_t hi = (int64_t)s_until_shanghai(t.sent_wall, closed_open) + 60000;
    fprintf(stderr, "# closed store (hours %s-%s Asia/Shanghai, local now %02d:%02d): "
                    "retry_after_ms %llu, expected %lld\n",
            open_at, close_at, local / 60, local % 60,
            (unsigned long long)t.r->ack->retry_after_ms, (long long)(lo + 60000));
    s_expect_between("STORE_CLOSED retry_after_ms (time until opening)",
                     (int64_t)t.r->ack->retry_after_ms, lo, hi);
    harness_reply_free(&t.r);
    assert_int_equal(harness_db_count(h, "SELECT count(*) FROM orders WHERE order_id IN "
                                         "('paused-1', 'closed-1')", 0), 0);

    s_accept(cl, "open-1", OPEN_STORE, NULL);

    size_t plain = s_fill(cl, "plain", PLAIN_STORE, 40);
    size_t staffed = s_fill(cl, "staffed", STAFFED_STORE, 40);
    fprintf(stderr, "# staffing window %s-%s with 2 slots: %zu accepted; 1 slot: %zu\n", from, to,
            staffed, plain);
    assert_int_equal(plain, (size_t)(5 * MINUTE_MS / 60000u));  /* max_wait / prep */
    assert_int_equal(staffed, 2 * plain);
    s_check_schedule(h, STAFFED_STORE, 2, 60000, 5);
    s_check_schedule(h, PLAIN_STORE, 1, 60000, 5);
    harness_client_destroy(&cl);
    harness_pass(h);
}

/* ---- 3. brand and daemon rate limits ---------------------------------- */

enum { LIMITED_STORE = 2201, FREE_STORE = 2202, LIMIT_RATE = 5, BURST = 30 };

/* s_burst pipelines BURST orders to STORE at once, collects every reply and
 * checks the limit: at least FLOOR accepted, at most what a full bucket of
 * LIMIT_RATE plus refill during the burst allows; every other one OVERLOADED
 * with a retry within one token's time and a detail naming LEVEL. */
static void s_burst(harness_t *h, const char *prefix, uint32_t store, size_t floor_accepted,
                    const char *level)
{
    harness_stream_t *s = harness_stream_new(h, prefix, BURST, BURST);
    s->stores[0] = store;
    s->store_count = 1;
    s->drinks = 1;
    /* connected before the clock starts */
    Sluice__V1__Reply *hello = harness_get(s->client, "hello", S_REPLY_MS);
    assert_non_null(hello);
    harness_reply_free(&hello);
    harness_order_t *o = malloc(sizeof *o);
    assert_non_null(o);
    uint64_t ids[BURST];
    uint64_t started = clock_mono_us();
    for (size_t i = 0; i < BURST; i++) {
        harness_stream_fill_order(s, i, o);
        ids[i] = harness_send_submit(s->client, o);
    }
    free(o);
    size_t accepted = 0, overloaded = 0;
    char buf[768];
    for (size_t n = 0; n < BURST; n++) {
        Sluice__V1__Reply *r = harness_recv(s->client, S_REPLY_MS);
        if (r == NULL)
            fail_msg("%s: only %zu of %d replies", prefix, n, BURST);
        if (r->request_id < ids[0] || r->request_id > ids[BURST - 1] ||
            r->body_case != SLUICE__V1__REPLY__BODY_ACK)
            fail_msg("%s: unexpected %s", prefix, harness_reply_describe(r, buf, sizeof buf));
        if (r->ack->decision == SLUICE__V1__DECISION__ACCEPTED) {
            accepted++;
        } else {
            if (r->ack->reason != SLUICE__V1__REASON__OVERLOADED)
                fail_msg("%s: expected OVERLOADED, got %s", prefix,
                         harness_reply_describe(r, buf, sizeof buf));
            s_expect_detail(r, level, "OVERLOADED");
            s_expect_detail(r, "orders_per_second", "OVERLOADED");
            /* one token comes every 1000 / rate ms */
            s_expect_between("OVERLOADED retry_after_ms", (int64_t)r->ack->retry_after_ms, 1,
                             (1000 + LIMIT_RATE - 1) / LIMIT_RATE);
            overloaded++;
        }
        harness_reply_free(&r);
    }
    double took_s = (double)(clock_mono_us() - started) / 1e6;
    size_t most = (size_t)(LIMIT_RATE + LIMIT_RATE * took_s);
    fprintf(stderr, "# %s limit %d/s: burst of %d in %.3f s: %zu accepted (allowed %zu..%zu), "
                    "%zu OVERLOADED\n",
            level, LIMIT_RATE, BURST, took_s, accepted, floor_accepted, most, overloaded);
    s_expect_between("accepted in the burst", (int64_t)accepted, (int64_t)floor_accepted,
                     (int64_t)most);
    assert_int_equal(accepted + overloaded, BURST);
    char like[64];
    snprintf(like, sizeof like, "%s-%%", prefix);
    assert_int_equal(harness_db_count(h, "SELECT count(*) FROM orders WHERE order_id LIKE $1", 1,
                                      like),
                     (long)accepted);
    harness_stream_destroy(&s);
}

static void test_brand_limit(void **state)
{
    harness_t *h = *state;
    cfg_t c;
    char brand[96];
    snprintf(brand, sizeof brand, "{ name = \"slowtea\"; orders_per_second = %d; }", LIMIT_RATE);
    cfg_begin(&c, brand);
    cfg_store(&c, LIMITED_STORE, "brand = \"slowtea\"; prep_slots = 1000; item_seconds = 1;"
                                 " max_wait_minutes = 600; max_queue = 100000;");
    cfg_store(&c, FREE_STORE, "brand = \"testbrand\"; prep_slots = 1000; item_seconds = 1;"
                              " max_wait_minutes = 600; max_queue = 100000;");
    harness_boot_text(h, NULL, cfg_end(&c));
    cfg_free(&c);
    /* nothing has spent the brand's tokens: a full bucket */
    s_burst(h, "brand", LIMITED_STORE, LIMIT_RATE, "brand slowtea");
    /* the limit is the brand's: another brand's store is not held back */
    harness_client_t *cl = harness_client_new(h, ZMQ_DEALER);
    s_accept(cl, "other-brand-1", FREE_STORE, NULL);
    harness_client_destroy(&cl);
    harness_pass(h);
}

static void test_global_limit(void **state)
{
    harness_t *h = *state;
    cfg_t c;
    cfg_begin(&c, NULL);
    cfg_store(&c, FREE_STORE, "brand = \"testbrand\"; prep_slots = 1000; item_seconds = 1;"
                              " max_wait_minutes = 600; max_queue = 100000;");
    char extra[160];
    snprintf(extra, sizeof extra,
             "limits = { orders_per_second = %d; queue_delay_ms = 5000; commit_latency_ms = "
             "10000; };",
             LIMIT_RATE);
    harness_boot_text(h, extra, cfg_end(&c));
    cfg_free(&c);
    /* harness_wait_ready's one accepted probe spent a token */
    s_burst(h, "global", FREE_STORE, LIMIT_RATE - 1, "daemon");
    harness_pass(h);
}

/* ---- 4. MarkReady and CancelOrder ------------------------------------- */

enum { CANCEL_STORE = 2301, READY_STORE = 2302 };

static void test_cancel_and_ready(void **state)
{
    harness_t *h = *state;
    cfg_t c;
    cfg_begin(&c, NULL);
    cfg_store(&c, CANCEL_STORE, "prep_slots = 1; item_seconds = 60; max_wait_minutes = 5;");
    cfg_store(&c, READY_STORE, "prep_slots = 1; item_seconds = 60; max_wait_minutes = 5;");
    harness_boot_text(h, NULL, cfg_end(&c));
    cfg_free(&c);
    const uint64_t prep = 60000;
    harness_client_t *cl = harness_client_new(h, ZMQ_DEALER);

    uint64_t pa = s_accept(cl, "c-a", CANCEL_STORE, NULL);
    uint64_t pb = s_accept(cl, "c-b", CANCEL_STORE, NULL);
    uint64_t pc = s_accept(cl, "c-c", CANCEL_STORE, NULL);
    assert_int_equal(pb, pa + prep);
    assert_int_equal(pc, pb + prep);

    /* cancel the last one booked on the slot */
    Sluice__V1__Reply *r = harness_cancel(cl, "c-c", "customer changed her mind", S_REPLY_MS);
    harness_expect_status(r, "c-c", "CANCELLED", "CancelOrder c-c");
    assert_int_equal(r->status->store_id, CANCEL_STORE);
    assert_int_equal(r->status->promised_ready_at_ms, pc);
    harness_reply_free(&r);
    /* answered after the commit: row and event are there now */
    assert_int_equal(harness_db_count(h, "SELECT count(*) FROM orders WHERE order_id = 'c-c' "
                                         "AND state = 'CANCELLED'", 0), 1);
    assert_int_equal(harness_db_count(h, "SELECT count(*) FROM order_events WHERE order_id = "
                                         "'c-c' AND state = 'CANCELLED' AND detail LIKE "
                                         "'%customer changed her mind%'", 0), 1);
    /* its time is given back: the next order gets c-c's promise */
    uint64_t pd = s_accept(cl, "c-d", CANCEL_STORE, NULL);
    fprintf(stderr, "# cancelled c-c (ready %llu); c-d promised %llu\n", (unsigned long long)pc,
            (unsigned long long)pd);
    assert_int_equal(pd, pc);

    /* cancelling again answers the same status, and records nothing new */
    r = harness_cancel(cl, "c-c", "again", S_REPLY_MS);
    harness_expect_status(r, "c-c", "CANCELLED", "second CancelOrder c-c");
    assert_int_equal(r->status->promised_ready_at_ms, pc);
    harness_reply_free(&r);
    assert_int_equal(harness_db_count(h, "SELECT count(*) FROM order_events WHERE order_id = "
                                         "'c-c' AND state = 'CANCELLED'", 0), 1);
    /* a cancelled order cannot be made */
    r = harness_mark_ready(cl, "c-c", S_REPLY_MS);
    s_expect_error(r, 409, "MarkReady of a cancelled order");
    harness_reply_free(&r);
    assert_int_equal(harness_db_count(h, "SELECT count(*) FROM orders WHERE order_id = 'c-c' "
                                         "AND state = 'CANCELLED'", 0), 1);
    /* unknown ids */
    r = harness_cancel(cl, "c-nosuch", "", S_REPLY_MS);
    s_expect_error(r, 404, "CancelOrder of an unknown id");
    harness_reply_free(&r);
    r = harness_mark_ready(cl, "c-nosuch", S_REPLY_MS);
    s_expect_error(r, 404, "MarkReady of an unknown id");
    harness_reply_free(&r);
    /* a reason that is not UTF-8 is refused, naming the field: PostgreSQL
     * would refuse it, and every change committed in the same statement */
    r = harness_cancel(cl, "c-b", "changed \xff mind", S_REPLY_MS);
    s_expect_error(r, 400, "CancelOrder with a reason that is not UTF-8");
    assert_non_null(strstr(r->error->message, "cancel.reason"));
    harness_reply_free(&r);
    /* a long reason is cut at a character boundary, never inside one */
    char reason[1 + 50 * 3 + 1] = "a", kept[64 + 39 * 3] = "cancelled: a";
    for (int i = 0; i < 50; i++)
        strcat(reason, "\xe5\x8f\x96"); /* U+53D6 */
    /* 118 bytes of the reason are kept: 120 would cut the 40th character */
    memcpy(kept + strlen("cancelled: a"), reason + 1, 39 * 3);
    kept[strlen("cancelled: a") + 39 * 3] = '\0';
    /* cancelling one in the middle keeps the promises behind it */
    r = harness_cancel(cl, "c-b", reason, S_REPLY_MS);
    harness_expect_status(r, "c-b", "CANCELLED", "CancelOrder c-b");
    harness_reply_free(&r);
    assert_int_equal(harness_db_count(h, "SELECT count(*) FROM order_events WHERE order_id = "
                                         "'c-b' AND state = 'CANCELLED' AND detail = $1", 1, kept),
                     1);
    uint64_t pe = s_accept(cl, "c-e", CANCEL_STORE, NULL);
    fprintf(stderr, "# cancelled c-b (ready %llu) in the middle; c-e promised %llu\n",
            (unsigned long long)pb, (unsigned long long)pe);
    r = harness_get(cl, "c-d", S_REPLY_MS);
    harness_expect_status(r, "c-d", "ACCEPTED", "GetOrder c-d");
    assert_int_equal(r->status->promised_ready_at_ms, pd);
    harness_reply_free(&r);
    s_check_schedule(h, CANCEL_STORE, 1, prep, 5);

    /* MarkReady early: the slot is free now, the next order starts now */
    timed_t tx;
    uint64_t px = s_accept(cl, "r-x", READY_STORE, &tx);
    harness_reply_free(&tx.r);
    r = harness_mark_ready(cl, "r-x", S_REPLY_MS);
    harness_expect_status(r, "r-x", "READY", "MarkReady r-x");
    assert_int_equal(r->status->promised_ready_at_ms, px);
    harness_reply_free(&r);
    assert_int_equal(harness_db_count(h, "SELECT count(*) FROM orders WHERE order_id = 'r-x' "
                                         "AND state = 'READY'", 0), 1);
    assert_int_equal(harness_db_count(h, "SELECT count(*) FROM order_events WHERE order_id = "
                                         "'r-x' AND state = 'READY'", 0), 1);
    timed_t ty;
    uint64_t py = s_accept(cl, "r-y", READY_STORE, &ty);
    fprintf(stderr, "# r-x promised %llu, marked ready early; r-y promised %llu (now + %llu)\n",
            (unsigned long long)px, (unsigned long long)py, (unsigned long long)prep);
    s_expect_between("promise after an early MarkReady", (int64_t)py,
                     (int64_t)(ty.sent_wall + prep), (int64_t)(ty.got_wall + prep));
    harness_reply_free(&ty.r);
    /* a repeat of MarkReady is answered with the same status */
    r = harness_mark_ready(cl, "r-x", S_REPLY_MS);
    harness_expect_status(r, "r-x", "READY", "second MarkReady r-x");
    harness_reply_free(&r);
    assert_int_equal(harness_db_count(h, "SELECT count(*) FROM order_events WHERE order_id = "
                                         "'r-x' AND state = 'READY'", 0), 1);
    harness_client_destroy(&cl);
    harness_pass(h);
}

/* ---- 5. reload -------------------------------------------------------- */

enum { RELOAD_STORE = 2401, STEADY_STORE = 2402, NEW_STORE = 2403, RELOAD_SLOTS = 4 };

/* s_reload_body: the reload test's stores. RELOAD_STORE has SLOTS prep
 * slots (0: left out); STEADY_STORE is PAUSED or not; BAD is appended to
 * the stores list (a store line, may be NULL), TAIL after it. */
static char *s_reload_body(int slots, bool paused, const char *bad, const char *tail)
{
    cfg_t c;
    cfg_begin(&c, NULL);
    if (slots > 0)
        cfg_store(&c, RELOAD_STORE, "prep_slots = %d; item_seconds = 60; max_wait_minutes = 5;",
                  slots);
    cfg_store(&c, STEADY_STORE, "prep_slots = 100; item_seconds = 1; max_wait_minutes = 60;"
                                " paused = %s;",
              paused ? "true" : "false");
    if (bad != NULL)
        cfg_add(&c, ",\n  %s", bad);
    cfg_end(&c);
    if (tail != NULL)
        cfg_add(&c, "%s", tail);
    return c.buf;
}

/* sd_notify: the reload test plays systemd's part with a datagram socket
 * named in NOTIFY_SOCKET. */
static int s_notify_fd = -1;

static int s_notify_open(harness_t *h, char *path, size_t len)
{
    snprintf(path, len, "%s/notify.sock", h->tmpdir);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    size_t plen = strlen(path);
    assert_true(plen < sizeof addr.sun_path);
    memcpy(addr.sun_path, path, plen + 1);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0)
        fail_msg("failed to bind %s: %s", path, strerror(errno));
    return fd;
}

/* s_notify_wait collects notifications into SEEN (separated by '|') until
 * SEEN holds NEEDLE after AFTER (NULL: anywhere), or the deadline passes. */
static bool s_notify_wait(char *seen, size_t len, const char *after, const char *needle,
                          int timeout_ms)
{
    uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        char msg[4096];
        ssize_t n;
        while ((n = recv(s_notify_fd, msg, sizeof msg - 1, 0)) > 0) {
            msg[n] = '\0';
            for (char *p = msg; *p != '\0'; p++)
                if (*p == '\n')
                    *p = ' ';
            size_t used = strlen(seen);
            snprintf(seen + used, len - used, "%s|", msg);
        }
        const char *from = after != NULL ? strstr(seen, after) : seen;
        if (from != NULL && strstr(from, needle) != NULL)
            return true;
        if (harness_now_ms() > deadline)
            return false;
        harness_nap_ms(5);
    }
}

/* s_send_hup writes BODY, sends SIGHUP and waits for NEEDLE in the log and
 * for sd_notify RELOADING=1 then READY=1; returns the log mark from before
 * the signal. */
static off_t s_send_hup(harness_t *h, const char *body, const char *needle)
{
    harness_write_config_text(h, NULL, NULL, body);
    char seen[8192] = "";
    s_notify_wait(seen, sizeof seen, NULL, "\x01", 0);  /* drop what came before */
    seen[0] = '\0';
    off_t mark = harness_log_size(h);
    harness_signal(h, SIGHUP);
    if (!harness_wait_log(h, mark, needle, 20000))
        fail_msg("no \"%s\" in the log within 20 s of SIGHUP", needle);
    if (!s_notify_wait(seen, sizeof seen, "RELOADING=1", "READY=1", 5000))
        fail_msg("sd_notify around the reload: expected RELOADING=1, then READY=1; got \"%s\"",
                 seen);
    return mark;
}

/* s_error_lines copies the lines of TEXT that hold "PATH:<digit>". */
static size_t s_error_lines(const char *text, const char *path, char lines[][512], size_t max)
{
    size_t n = 0, plen = strlen(path);
    const char *p = text;
    while (*p != '\0' && n < max) {
        const char *end = strchr(p, '\n');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        const char *hit = NULL;
        for (const char *q = p; q + plen < p + len; q++)
            if (strncmp(q, path, plen) == 0 && q[plen] == ':' &&
                isdigit((unsigned char)q[plen + 1])) {
                hit = q;
                break;
            }
        if (hit != NULL) {
            size_t k = (size_t)(p + len - hit);
            if (k >= sizeof lines[0])
                k = sizeof lines[0] - 1;
            memcpy(lines[n], hit, k);
            lines[n][k] = '\0';
            n++;
        }
        p += len + (end != NULL ? 1 : 0);
    }
    return n;
}

/* s_bad_reload writes BODY (invalid, with a problem on LINE naming WORD),
 * sends SIGHUP and checks the refusal, that the old config still serves,
 * and that --check-config on the same file reports the same errors. */
static void s_bad_reload(harness_t *h, harness_client_t *cl, const char *name, const char *body,
                         const char *line_needle, int nth, const char *word)
{
    off_t mark = s_send_hup(h, body, "refused");
    int line = s_line_of(h->conf_path, line_needle, nth);
    char where[PATH_MAX + 32];
    snprintf(where, sizeof where, "%s:%d", h->conf_path, line);
    char *log = harness_log_read_from(h, mark);
    if (strstr(log, where) == NULL || strstr(log, word) == NULL || strstr(log, "reloaded") != NULL)
        fail_msg("reload with %s: the log does not say %s and \"%s\" (or says reloaded):\n%s", name,
                 where, word, log);
    const char *errors = strchr(log, '\n');
    fprintf(stderr, "# reload with %s refused:%s", name, errors != NULL ? errors : "\n");

    /* the old config serves: the steady store is not paused, the new store
     * does not exist, the reloaded store is still full */
    char id[96];
    static unsigned n;
    snprintf(id, sizeof id, "after-bad-%u", n++);
    s_accept(cl, id, STEADY_STORE, NULL);
    snprintf(id, sizeof id, "after-bad-%u", n++);
    timed_t t = s_reject(cl, id, NEW_STORE, SLUICE__V1__REASON__UNKNOWN_STORE);
    harness_reply_free(&t.r);
    snprintf(id, sizeof id, "after-bad-%u", n++);
    t = s_reject(cl, id, RELOAD_STORE, SLUICE__V1__REASON__STORE_BUSY);
    harness_reply_free(&t.r);

    /* --check-config finds the same problems */
    char out[PATH_MAX + 32];
    snprintf(out, sizeof out, "%s/check-%u.out", h->tmpdir, n);
    const char *args[] = { "--check-config", h->conf_path, NULL };
    int rc = harness_run_capture(h, 20000, out, args);
    FILE *f = fopen(out, "r");
    char text[16384];
    size_t len = f != NULL ? fread(text, 1, sizeof text - 1, f) : 0;
    text[len] = '\0';
    if (f != NULL)
        fclose(f);
    if (rc != 1)
        fail_msg("--check-config with %s exited %d:\n%s", name, rc, text);
    static char from_check[32][512], from_log[32][512];
    size_t nc = s_error_lines(text, h->conf_path, from_check, 32);
    size_t nl = s_error_lines(log, h->conf_path, from_log, 32);
    if (nc == 0 || nc != nl)
        fail_msg("with %s --check-config reports %zu problems, the reload %zu:\n%s\n---\n%s", name,
                 nc, nl, text, log);
    for (size_t i = 0; i < nc; i++)
        if (strcmp(from_check[i], from_log[i]) != 0)
            fail_msg("with %s --check-config says \"%s\", the reload \"%s\"", name, from_check[i],
                     from_log[i]);
    free(log);
}

static void test_reload(void **state)
{
    harness_t *h = *state;
    char *body = s_reload_body(1, false, NULL, NULL);
    harness_write_config_text(h, NULL, NULL, body);
    free(body);
    assert_int_equal(harness_migrate(h), 0);
    char notify_path[PATH_MAX];
    s_notify_fd = s_notify_open(h, notify_path, sizeof notify_path);
    setenv("NOTIFY_SOCKET", notify_path, 1);
    harness_start(h);
    unsetenv("NOTIFY_SOCKET");
    if (!harness_wait_ready(h, 30000))
        fail_msg("sluiced did not become ready");
    char seen[8192] = "";
    if (!s_notify_wait(seen, sizeof seen, NULL, "READY=1", 5000))
        fail_msg("no sd_notify READY=1 at start; got \"%s\"", seen);
    const size_t per_slot = 5;  /* max_wait 5 min / 60 s per 1-drink order */

    /* a pipelined stream to the one-slot store, until it is full */
    harness_stream_t *s = harness_stream_new(h, "rl", 1000000, 64);
    s->stores[0] = RELOAD_STORE;
    s->store_count = 1;
    s->drinks = 1;
    s->rate_per_sec = 200;
    uint64_t deadline = harness_now_ms() + 20000;
    while (s->by_reason[SLUICE__V1__REASON__STORE_BUSY] < 20) {
        if (harness_now_ms() > deadline)
            fail_msg("stream before the reload: %zu accepted, %zu busy", s->accepted,
                     s->by_reason[SLUICE__V1__REASON__STORE_BUSY]);
        harness_stream_pump(s, 10);
    }
    assert_int_equal(s->accepted, per_slot);
    size_t sent_before = s->sent;

    /* more slots, while the stream goes on */
    body = s_reload_body(RELOAD_SLOTS, false, NULL, NULL);
    harness_write_config_text(h, NULL, NULL, body);
    free(body);
    seen[0] = '\0';
    s_notify_wait(seen, sizeof seen, NULL, "\x01", 0);  /* drop what came before */
    seen[0] = '\0';
    off_t mark = harness_log_size(h);
    harness_signal(h, SIGHUP);
    deadline = harness_now_ms() + 20000;
    bool reloaded = false;
    size_t expected = per_slot * RELOAD_SLOTS;  /* slot 0 stays full; the new ones fill */
    while (!reloaded || s->accepted < expected) {
        if (harness_now_ms() > deadline)
            fail_msg("after SIGHUP: reloaded %s, %zu accepted (want %zu)", reloaded ? "yes" : "no",
                     s->accepted, expected);
        harness_stream_pump(s, 10);
        reloaded = reloaded || harness_log_contains_from(h, mark, "reloaded");
    }
    uint64_t more = harness_now_ms() + 500;
    while (harness_now_ms() < more)
        harness_stream_pump(s, 10);
    if (!s_notify_wait(seen, sizeof seen, "RELOADING=1", "READY=1", 5000))
        fail_msg("sd_notify around the reload: expected RELOADING=1, then READY=1; got \"%s\"",
                 seen);
    fprintf(stderr, "# sd_notify during the reload: %s\n", seen);
    if (!harness_stream_drain(s, 15000))
        fail_msg("%zu of %zu submissions got no reply across the reload", s->sent - s->replied,
                 s->sent);
    fprintf(stderr, "# reload 1 -> %d slots under a stream: %zu sent (%zu before SIGHUP), %zu "
                    "accepted, %zu STORE_BUSY, all answered\n",
            RELOAD_SLOTS, s->sent, sent_before, s->accepted,
            s->by_reason[SLUICE__V1__REASON__STORE_BUSY]);
    assert_int_equal(s->unexpected, 0);
    assert_int_equal(s->errors, 0);
    assert_int_equal(s->duplicates, 0);
    assert_int_equal(s->accepted, expected);
    assert_int_equal(s->rejected, s->by_reason[SLUICE__V1__REASON__STORE_BUSY]);
    /* accepted again after it had been refusing */
    size_t first_busy = 0;
    while (s->outcome[first_busy] != HARNESS_REJECTED)
        first_busy++;
    assert_true(s->last_accepted_index > first_busy);
    harness_stream_check_accepted(h, s);
    s_check_schedule(h, RELOAD_STORE, RELOAD_SLOTS, 60000, 5);

    /* invalid files: each also pauses the steady store, which must not happen */
    harness_client_t *cl = harness_client_new(h, ZMQ_DEALER);
    body = s_reload_body(RELOAD_SLOTS, true, NULL, "dispatch = { margin_seconds = ; };\n");
    s_bad_reload(h, cl, "a syntax error", body, "margin_seconds = ;", 1, "syntax");
    free(body);
    body = s_reload_body(RELOAD_SLOTS, true,
                         "{ id = 2403; location = [30.27, 120.03]; prep_slots = -1;"
                         " item_seconds = 60; max_wait_minutes = 5; }",
                         NULL);
    s_bad_reload(h, cl, "prep_slots = -1", body, "prep_slots = -1", 1, "prep_slots");
    free(body);
    body = s_reload_body(RELOAD_SLOTS, true,
                         "{ id = 2402; location = [30.27, 120.03]; prep_slots = 1;"
                         " item_seconds = 60; max_wait_minutes = 5; }",
                         NULL);
    s_bad_reload(h, cl, "a duplicate store id", body, "id = 2402;", 2, "duplicate");
    free(body);
    body = s_reload_body(RELOAD_SLOTS, true,
                         "{ id = 2403; location = [30.27, 120.03]; prep_slots = 1;"
                         " item_seconds = 60; max_wait_minutes = 5; platforms = [\"nope\"]; }",
                         NULL);
    s_bad_reload(h, cl, "an unknown platform", body, "[\"nope\"]", 1, "platform");
    free(body);

    /* a store removed: no new orders, its orders still answer */
    size_t some = 0;
    while (s->outcome[some] != HARNESS_ACCEPTED)
        some++;
    char id[96];
    harness_stream_order_id(s, some, id, sizeof id);
    long promised = s_ms_of(h, "promised_ready_at", id);
    body = s_reload_body(0, false, NULL, NULL);
    s_send_hup(h, body, "reloaded");
    free(body);
    timed_t t = s_reject(cl, "after-removal", RELOAD_STORE, SLUICE__V1__REASON__UNKNOWN_STORE);
    harness_reply_free(&t.r);
    Sluice__V1__Reply *r = harness_get(cl, id, S_REPLY_MS);
    harness_expect_status(r, id, "ACCEPTED", "GetOrder of an order of the removed store");
    assert_int_equal(r->status->store_id, RELOAD_STORE);
    assert_int_equal((long)r->status->promised_ready_at_ms, promised);
    harness_reply_free(&r);
    r = harness_cancel(cl, id, "store closed for good", S_REPLY_MS);
    harness_expect_status(r, id, "CANCELLED", "CancelOrder of an order of the removed store");
    harness_reply_free(&r);

    /* back in the config: its schedule, and the promises in it, are intact */
    body = s_reload_body(RELOAD_SLOTS, false, NULL, NULL);
    s_send_hup(h, body, "reloaded");
    free(body);
    t = s_reject(cl, "after-return", RELOAD_STORE, SLUICE__V1__REASON__STORE_BUSY);
    harness_reply_free(&t.r);
    s_check_schedule(h, RELOAD_STORE, RELOAD_SLOTS, 60000, 5);
    assert_true(harness_daemon_alive(h));
    harness_client_destroy(&cl);
    harness_stream_destroy(&s);
    close(s_notify_fd);
    s_notify_fd = -1;
    harness_pass(h);
}

/* ---- 6. kill -9 and restart ------------------------------------------- */

enum { PART_STORE = 2501, FULL_STORE = 2502, TWO_STORE = 2503, KEEP_STORE = 2504 };

/* s_next_ready: what an empty-handed planner would promise next at STORE,
 * from the live orders in the database: the earliest of the slots' last
 * promises (a slot without any is free now) plus the prep time. FREE_NOW is
 * set when some slot is free already (the promise then depends on now). */
static uint64_t s_next_from_db(harness_t *h, uint32_t store, int slots, uint64_t prep,
                               bool *free_now)
{
    char sid[16], sslot[16];
    snprintf(sid, sizeof sid, "%u", store);
    uint64_t best = UINT64_MAX;
    *free_now = false;
    for (int slot = 0; slot < slots; slot++) {
        snprintf(sslot, sizeof sslot, "%d", slot);
        long last = harness_db_count(h,
                                     "SELECT coalesce(max((extract(epoch FROM promised_ready_at) "
                                     "* 1000)::int8), 0) FROM orders WHERE store_id = $1 AND "
                                     "prep_slot = $2::int AND state IN ('ACCEPTED', 'PREPARING')",
                                     2, sid, sslot);
        assert_true(last >= 0);
        if ((uint64_t)last <= harness_wall_ms())
            *free_now = true;
        else if ((uint64_t)last < best)
            best = (uint64_t)last;
    }
    return best == UINT64_MAX ? 0 : best + prep;
}

static void test_kill9_keeps_promises(void **state)
{
    harness_t *h = *state;
    cfg_t c;
    cfg_begin(&c, NULL);
    cfg_store(&c, PART_STORE, "prep_slots = 1; item_seconds = 60; max_wait_minutes = 5;");
    cfg_store(&c, FULL_STORE, "prep_slots = 1; item_seconds = 60; max_wait_minutes = 5;");
    cfg_store(&c, TWO_STORE, "prep_slots = 2; item_seconds = 60; max_wait_minutes = 5;");
    cfg_store(&c, KEEP_STORE, "prep_slots = 10; item_seconds = 60; max_wait_minutes = 5;");
    harness_boot_text(h, NULL, cfg_end(&c));
    cfg_free(&c);
    const uint64_t prep = 60000, max_wait = 5 * MINUTE_MS;
    harness_client_t *cl = harness_client_new(h, ZMQ_DEALER);
    char id[64];
    uint64_t part[3];
    for (int i = 0; i < 3; i++) {
        snprintf(id, sizeof id, "part-%d", i);
        part[i] = s_accept(cl, id, PART_STORE, NULL);
    }
    size_t full = s_fill(cl, "full", FULL_STORE, 20);
    assert_int_equal(full, (size_t)(max_wait / prep));
    for (int i = 0; i < 3; i++) {
        snprintf(id, sizeof id, "two-%d", i);
        s_accept(cl, id, TWO_STORE, NULL);
    }
    uint64_t kept = s_accept(cl, "keep-1", KEEP_STORE, NULL);
    s_accept(cl, "gone-1", KEEP_STORE, NULL);
    Sluice__V1__Reply *r = harness_cancel(cl, "gone-1", "before the crash", S_REPLY_MS);
    harness_expect_status(r, "gone-1", "CANCELLED", "CancelOrder before the crash");
    harness_reply_free(&r);
    harness_client_destroy(&cl);

    harness_signal(h, SIGKILL);
    assert_int_equal(harness_wait_exit(h, 5000), 128 + SIGKILL);
    harness_start(h);
    if (!harness_wait_ready(h, 30000))
        fail_msg("sluiced did not come back after kill -9");
    if (!harness_log_contains(h, "restored", true))
        fprintf(stderr, "# note: the restarted daemon did not log \"restored\"\n");
    cl = harness_client_new(h, ZMQ_DEALER);

    /* the full store is still full, and says when it fits again */
    snprintf(id, sizeof id, "full-%zu", full - 1);
    uint64_t last_full = (uint64_t)s_ms_of(h, "promised_ready_at", id);
    timed_t t = s_reject(cl, "full-after", FULL_STORE, SLUICE__V1__REASON__STORE_BUSY);
    uint64_t fits_at = last_full + prep - max_wait;
    s_expect_between("STORE_BUSY retry_after_ms after restart", (int64_t)t.r->ack->retry_after_ms,
                     (int64_t)fits_at - (int64_t)t.got_wall - 1000,
                     (int64_t)fits_at - (int64_t)t.sent_wall + 1000);
    harness_reply_free(&t.r);

    /* the one-slot store continues behind its last promise */
    bool free_now;
    uint64_t expect = s_next_from_db(h, PART_STORE, 1, prep, &free_now);
    assert_false(free_now);
    assert_int_equal(expect, part[2] + prep);
    uint64_t after = s_accept(cl, "part-after", PART_STORE, NULL);
    fprintf(stderr, "# after kill -9: last promise before %llu, first after %llu\n",
            (unsigned long long)part[2], (unsigned long long)after);
    assert_int_equal(after, expect);
    size_t more = s_fill(cl, "part-more", PART_STORE, 20);
    fprintf(stderr, "# one-slot store: 3 + 1 before and after the crash, then %zu more fit\n",
            more);

    /* two slots: the order goes to the slot free first */
    expect = s_next_from_db(h, TWO_STORE, 2, prep, &free_now);
    assert_false(free_now);
    after = s_accept(cl, "two-after", TWO_STORE, NULL);
    assert_int_equal(after, expect);

    /* promises read back unchanged; a cancelled order stays cancelled, and
     * cancelling it again is still answered with its status */
    r = harness_get(cl, "keep-1", S_REPLY_MS);
    harness_expect_status(r, "keep-1", "ACCEPTED", "GetOrder after restart");
    assert_int_equal(r->status->promised_ready_at_ms, kept);
    harness_reply_free(&r);
    r = harness_get(cl, "gone-1", S_REPLY_MS);
    harness_expect_status(r, "gone-1", "CANCELLED", "GetOrder of a cancelled order after restart");
    harness_reply_free(&r);
    r = harness_cancel(cl, "gone-1", "again", S_REPLY_MS);
    harness_expect_status(r, "gone-1", "CANCELLED", "cancelling a cancelled order again after restart");
    harness_reply_free(&r);

    s_check_schedule(h, PART_STORE, 1, prep, 5);
    s_check_schedule(h, FULL_STORE, 1, prep, 5);
    s_check_schedule(h, TWO_STORE, 2, prep, 5);
    harness_client_destroy(&cl);
    harness_pass(h);
}

/* ---- 7. overload ------------------------------------------------------ */

enum { OVER_FIRST_STORE = 2601, OVER_STORES = 8, OVER_SLOTS = 3, OVER_ITEM_S = 2,
       OVER_WAIT_MIN = 1, OVER_THREADS = 3 };

typedef struct load_arg {
    harness_stream_t *s;
    uint64_t until_ms;
} load_arg_t;

static void *s_load_main(void *arg)
{
    load_arg_t *a = arg;
    while (harness_now_ms() < a->until_ms && a->s->sent < a->s->count)
        harness_stream_pump(a->s, 20);
    return NULL;
}

static int s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t s_pct(uint64_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, s_cmp_u64);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

static void test_overload(void **state)
{
    harness_t *h = *state;
    const char *env = getenv("SLUICE_TEST_OVERLOAD_SECONDS");
    int seconds = env != NULL && atoi(env) > 0 ? atoi(env) : 30;
    cfg_t c;
    cfg_begin(&c, NULL);
    for (int i = 0; i < OVER_STORES; i++)
        cfg_store(&c, (uint32_t)(OVER_FIRST_STORE + i),
                  "prep_slots = %d; item_seconds = %d; max_wait_minutes = %d; max_queue = 100000;",
                  OVER_SLOTS, OVER_ITEM_S, OVER_WAIT_MIN);
    harness_boot_text(h, NULL, cfg_end(&c));
    cfg_free(&c);

    /* What the stores can make in the run: each slot fills max_wait ahead at
     * once, then frees one order per prep time. Offer ten times that. */
    const uint64_t prep_s = OVER_ITEM_S, wait_s = OVER_WAIT_MIN * 60u;
    const size_t backlog = OVER_SLOTS * (size_t)(wait_s / prep_s);
    const size_t per_store = backlog + OVER_SLOTS * (size_t)((uint64_t)seconds / prep_s);
    const size_t capacity = per_store * OVER_STORES;
    const int rate = (int)(10 * capacity / (size_t)seconds);
    const int per_thread = (rate + OVER_THREADS - 1) / OVER_THREADS;
    fprintf(stderr, "# overload: %d stores can make %zu orders in %d s (%zu each); offering %d/s "
                    "from %d DEALERs\n",
            OVER_STORES, capacity, seconds, per_store, rate, OVER_THREADS);

    harness_stream_t *streams[OVER_THREADS];
    load_arg_t args[OVER_THREADS];
    pthread_t threads[OVER_THREADS];
    uint64_t until = harness_now_ms() + (uint64_t)seconds * 1000u;
    long rss_start = harness_daemon_rss_kb(h), rss_peak = rss_start;
    assert_true(rss_start > 0);
    for (int i = 0; i < OVER_THREADS; i++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "ov%d", i);
        streams[i] = harness_stream_new(h, prefix, (size_t)per_thread * (size_t)seconds * 2 + 100,
                                        500);
        for (int k = 0; k < OVER_STORES; k++)
            streams[i]->stores[k] = (uint32_t)(OVER_FIRST_STORE + (k + i) % OVER_STORES);
        streams[i]->store_count = OVER_STORES;
        streams[i]->drinks = 1;
        streams[i]->rate_per_sec = per_thread;
        args[i] = (load_arg_t){ .s = streams[i], .until_ms = until };
    }
    for (int i = 0; i < OVER_THREADS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, s_load_main, &args[i]), 0);

    /* Meanwhile: one order at a time on a separate DEALER, timing the
     * rejections; the daemon's memory and life, every 200 ms. */
    harness_client_t *probe = harness_client_new(h, ZMQ_DEALER);
    harness_order_t *o = malloc(sizeof *o);
    assert_non_null(o);
    size_t probe_cap = 200000, probes = 0, probe_accepted = 0;
    uint64_t *probe_us = malloc(probe_cap * sizeof *probe_us);
    assert_non_null(probe_us);
    uint64_t next_rss = 0;
    bool died = false;
    char buf[768];
    for (unsigned k = 0; harness_now_ms() < until; k++) {
        if (harness_now_ms() >= next_rss) {
            long rss = harness_daemon_rss_kb(h);
            if (rss > rss_peak)
                rss_peak = rss;
            if (!harness_daemon_alive(h)) {
                died = true;
                break;
            }
            next_rss = harness_now_ms() + 200;
        }
        char id[64];
        snprintf(id, sizeof id, "probe-%u", k);
        harness_order_fill(o, id, (uint32_t)(OVER_FIRST_STORE + k % OVER_STORES));
        harness_order_set_items(o, 1);
        uint64_t t0 = clock_mono_us();
        uint64_t rid = harness_send_submit(probe, o);
        Sluice__V1__Reply *r = harness_recv_for(probe, rid, S_REPLY_MS);
        uint64_t took = clock_mono_us() - t0;
        if (r == NULL || r->body_case != SLUICE__V1__REPLY__BODY_ACK)
            fail_msg("probe %s under overload: %s", id, harness_reply_describe(r, buf, sizeof buf));
        if (r->ack->decision == SLUICE__V1__DECISION__ACCEPTED)
            probe_accepted++;
        else if (probes < probe_cap)
            probe_us[probes++] = took;
        harness_reply_free(&r);
        harness_nap_ms(2);
    }
    for (int i = 0; i < OVER_THREADS; i++)
        pthread_join(threads[i], NULL);
    if (died)
        fail_msg("sluiced died under overload");
    long rss_end = harness_daemon_rss_kb(h);
    if (rss_end > rss_peak)
        rss_peak = rss_end;

    /* every request answered; only the stores and the shedding refuse */
    size_t sent = 0, accepted = 0, busy = 0, overloaded = 0, lat_n = 0;
    for (int i = 0; i < OVER_THREADS; i++) {
        harness_stream_t *s = streams[i];
        if (!harness_stream_drain(s, 30000))
            fail_msg("stream %s: %zu of %zu unanswered", s->prefix, s->sent - s->replied, s->sent);
        assert_int_equal(s->unexpected, 0);
        assert_int_equal(s->errors, 0);
        sent += s->sent;
        accepted += s->accepted;
        busy += s->by_reason[SLUICE__V1__REASON__STORE_BUSY];
        overloaded += s->by_reason[SLUICE__V1__REASON__OVERLOADED];
        if (s->rejected != s->by_reason[SLUICE__V1__REASON__STORE_BUSY] +
                               s->by_reason[SLUICE__V1__REASON__OVERLOADED])
            fail_msg("stream %s: rejections other than STORE_BUSY and OVERLOADED", s->prefix);
        harness_stream_check_accepted(h, s);
        lat_n += s->rejected;
    }
    uint64_t *lat = malloc((lat_n + 1) * sizeof *lat);
    assert_non_null(lat);
    size_t m = 0;
    for (int i = 0; i < OVER_THREADS; i++)
        for (size_t k = 0; k < streams[i]->sent; k++)
            if (streams[i]->outcome[k] == HARNESS_REJECTED)
                lat[m++] = streams[i]->replied_us[k] - streams[i]->sent_us[k];
    uint64_t stream_p50 = s_pct(lat, m, 0.50), stream_p99 = s_pct(lat, m, 0.99);
    uint64_t probe_p50 = s_pct(probe_us, probes, 0.50), probe_p99 = s_pct(probe_us, probes, 0.99);
    uint64_t probe_max = probes ? probe_us[probes - 1] : 0;
    fprintf(stderr,
            "# overload: %zu offered in %d s (%.0f/s), %zu accepted, %zu STORE_BUSY, %zu "
            "OVERLOADED\n"
            "# rejection round trip, one at a time beside the load: p50 %.3f ms, p99 %.3f ms, "
            "max %.3f ms (%zu rejections, %zu probes accepted)\n"
            "# rejection round trip inside the pipelined load streams: p50 %.3f ms, p99 %.3f ms\n"
            "# sluiced VmRSS: %ld kB at start, %ld kB peak, %ld kB at end (+%ld kB)\n",
            sent, seconds, (double)sent / seconds, accepted, busy, overloaded,
            (double)probe_p50 / 1000.0, (double)probe_p99 / 1000.0, (double)probe_max / 1000.0,
            probes, probe_accepted, (double)stream_p50 / 1000.0, (double)stream_p99 / 1000.0,
            rss_start, rss_peak, rss_end, rss_peak - rss_start);
    free(lat);
    free(probe_us);
    free(o);
    harness_client_destroy(&probe);

    /* the offer really was ten times the capacity (within the pacing) */
    if (sent < 8 * capacity)
        fail_msg("only %zu orders offered, want about %zu", sent, 10 * capacity);
    /* bounded memory: tens of MB at most (ASan keeps freed memory in quarantine) */
    long rss_bound_kb = S_SANITIZED ? 256 * 1024 : 64 * 1024;
    if (rss_peak - rss_start > rss_bound_kb)
        fail_msg("sluiced grew by %ld kB under overload (bound %ld kB)", rss_peak - rss_start,
                 rss_bound_kb);
    uint64_t p99_bound_us = S_SANITIZED ? 150000 : 50000;
    if (probe_p99 > p99_bound_us)
        fail_msg("rejection p99 %.3f ms over the bound %.3f ms", (double)probe_p99 / 1000.0,
                 (double)p99_bound_us / 1000.0);

    /* no store was promised past its limit; each was really filled */
    for (int i = 0; i < OVER_STORES; i++) {
        uint32_t store = (uint32_t)(OVER_FIRST_STORE + i);
        long n = s_check_schedule(h, store, OVER_SLOTS, prep_s * 1000u, OVER_WAIT_MIN);
        if (n < (long)backlog)
            fail_msg("store %u accepted %ld orders; at ten times its capacity it should have "
                     "filled its %zu-order backlog",
                     store, n, backlog);
    }
    if (!harness_daemon_alive(h))
        fail_msg("sluiced died after the overload");
    harness_client_t *cl = harness_client_new(h, ZMQ_DEALER);
    s_accept(cl, "after-overload", HARNESS_FIRST_STORE, NULL);
    harness_client_destroy(&cl);
    for (int i = 0; i < OVER_THREADS; i++)
        harness_stream_destroy(&streams[i]);
    harness_pass(h);
}

int main(void)
{
    static const harness_case_t cases[] = {
        HARNESS_CASE(test_one_slot_store),
        HARNESS_CASE(test_paused_closed_staffing),
        HARNESS_CASE(test_brand_limit),
        HARNESS_CASE(test_global_limit),
        HARNESS_CASE(test_cancel_and_ready),
        HARNESS_CASE(test_reload),
        HARNESS_CASE(test_kill9_keeps_promises),
        HARNESS_CASE(test_overload),
    };
    return harness_main("capacity", cases, HARNESS_COUNT(cases), NULL, NULL);
}
