/* test_intake.c - the way in, end to end: real PostgreSQL, real sluiced, real
 * ZeroMQ. Admission answers, durability of every ACCEPTED, idempotency, bad
 * input (text with a NUL byte, ids too long or not UTF-8: refused, never
 * shortened, never echoed), back-pressure, crashes, database outages (with
 * daemon.unavailable_retry_ms in every UNAVAILABLE), shutdown and
 * migrations. */
#include <ctype.h>
#include <glob.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zmq.h>

#include "harness.h"
#include "order.h"
#include "wire_text.h"

#define S_REPLY_MS 5000

static harness_order_t *s_order_new(const char *id, uint32_t store)
{
    harness_order_t *o = malloc(sizeof *o);
    assert_non_null(o);
    harness_order_fill(o, id, store);
    return o;
}

/* s_still_serving: a fresh client on a fresh socket gets a good order ACCEPTED. */
static void s_still_serving(harness_t *h, const char *after)
{
    static unsigned n;
    char id[64], what[160];
    snprintf(id, sizeof id, "alive-%u", n++);
    snprintf(what, sizeof what, "good order after %s", after);
    harness_client_t *c = harness_client_new(h, ZMQ_DEALER);
    harness_order_t *o = s_order_new(id, HARNESS_FIRST_STORE + 3);
    Sluice__V1__Reply *r = harness_submit(c, o, S_REPLY_MS);
    harness_expect_ack(r, SLUICE__V1__DECISION__ACCEPTED, SLUICE__V1__REASON__REASON_NONE, what);
    harness_reply_free(&r);
    free(o);
    harness_client_destroy(&c);
    if (!harness_daemon_alive(h))
        fail_msg("sluiced died after %s", after);
}

static long s_rows(harness_t *h, const char *order_id)
{
    return harness_db_count(h, "SELECT count(*) FROM orders WHERE order_id = $1", 1, order_id);
}

/* ---- tests ---- */

static void test_accept_and_persist(void **state)
{
    harness_t *h = *state;
    harness_boot(h, NULL);
    harness_client_t *c = harness_client_new(h, ZMQ_DEALER);
    harness_order_t *o = s_order_new("accept-1", HARNESS_FIRST_STORE + 1);
    uint64_t sent_at = harness_wall_ms();
    Sluice__V1__Reply *r = harness_submit(c, o, S_REPLY_MS);
    harness_expect_ack(r, SLUICE__V1__DECISION__ACCEPTED, SLUICE__V1__REASON__REASON_NONE, "accept-1");
    assert_string_equal(r->ack->order_id, "accept-1");
    assert_false(r->ack->duplicate);
    /* promises are wall-clock times from about now on (allowing clock slack) */
    assert_true(r->ack->promised_ready_at_ms + 2000 >= sent_at);
    assert_true(r->ack->promised_ready_at_ms < sent_at + 24ull * 3600 * 1000);
    assert_true(r->ack->promised_delivery_at_ms >= r->ack->promised_ready_at_ms);
    assert_true(r->ack->promised_delivery_at_ms + 2000 > sent_at);

    /* ACCEPTED means committed: the row must be there right now, no polling */
    assert_int_equal(harness_db_count(h,
                                      "SELECT count(*) FROM orders WHERE order_id = $1 "
                                      "AND state::text = 'ACCEPTED' AND store_id = $2",
                                      2, "accept-1", "1002"),
                     1);
    long events = harness_db_count(h, "SELECT count(*) FROM order_events WHERE order_id = $1",
                                   1, "accept-1");
    assert_true(events >= 1);
    harness_reply_free(&r);
    free(o);
    harness_client_destroy(&c);
    harness_pass(h);
}

static void test_duplicate_and_conflict(void **state)
{
    harness_t *h = *state;
    harness_boot(h, NULL);
    harness_client_t *c = harness_client_new(h, ZMQ_DEALER);
    harness_order_t *o = s_order_new("dup-1", HARNESS_FIRST_STORE);
    Sluice__V1__Reply *first = harness_submit(c, o, S_REPLY_MS);
    harness_expect_ack(first, SLUICE__V1__DECISION__ACCEPTED, SLUICE__V1__REASON__REASON_NONE,
                 "first submission");
    assert_false(first->ack->duplicate);

    /* same content, the producer's clock moved: the first decision again */
    o->msg.created_at_ms += 12345;
    Sluice__V1__Reply *again = harness_submit(c, o, S_REPLY_MS);
    harness_expect_ack(again, SLUICE__V1__DECISION__ACCEPTED, SLUICE__V1__REASON__REASON_NONE,
                 "same content again");
    assert_true(again->ack->duplicate);
    assert_int_equal(again->ack->promised_ready_at_ms, first->ack->promised_ready_at_ms);
    assert_int_equal(again->ack->promised_delivery_at_ms, first->ack->promised_delivery_at_ms);

    /* and from another socket too */
    harness_client_t *c2 = harness_client_new(h, ZMQ_REQ);
    Sluice__V1__Reply *other = harness_submit(c2, o, S_REPLY_MS);
    harness_expect_ack(other, SLUICE__V1__DECISION__ACCEPTED, SLUICE__V1__REASON__REASON_NONE,
                 "same content from another socket");
    assert_true(other->ack->duplicate);

    /* same id, different content */
    o->item_storage[0].quantity += 1;
    Sluice__V1__Reply *conflict = harness_submit(c, o, S_REPLY_MS);
    harness_expect_ack(conflict, SLUICE__V1__DECISION__REJECTED, SLUICE__V1__REASON__CONFLICT,
                 "different quantity");
    o->item_storage[0].quantity -= 1;
    o->dropoff.lat += 0.01;
    Sluice__V1__Reply *conflict2 = harness_submit(c, o, S_REPLY_MS);
    harness_expect_ack(conflict2, SLUICE__V1__DECISION__REJECTED, SLUICE__V1__REASON__CONFLICT,
                 "different dropoff");

    assert_int_equal(s_rows(h, "dup-1"), 1);
    harness_reply_free(&first);
    harness_reply_free(&again);
    harness_reply_free(&other);
    harness_reply_free(&conflict);
    harness_reply_free(&conflict2);
    free(o);
    harness_client_destroy(&c);
    harness_client_destroy(&c2);
    harness_pass(h);
}

static void test_unknown_store(void **state)
{
    harness_t *h = *state;
    harness_boot(h, NULL);
    harness_client_t *c = harness_client_new(h, ZMQ_DEALER);
    harness_order_t *o = s_order_new("nostore-1", 999999);
    Sluice__V1__Reply *r = harness_submit(c, o, S_REPLY_MS);
    harness_expect_ack(r, SLUICE__V1__DECISION__REJECTED, SLUICE__V1__REASON__UNKNOWN_STORE,
                 "store 999999");
    assert_int_equal(s_rows(h, "nostore-1"), 0);
    harness_reply_free(&r);
    free(o);
    harness_client_destroy(&c);
    harness_pass(h);
}

/* ---- bad frames: a table walked by test_bad_input ---- */

/* What a bad frame must get back; the daemon keeps serving either way. */
typedef enum bad_reply {
    BAD_ERROR,              /* an Error answering REQUEST_ID, with CODE unless 0 */
    BAD_ERROR_OR_INVALID,   /* an Error, or an ack REJECTED INVALID */
    BAD_INVALID,            /* REJECTED INVALID with a detail naming FIELD */
    BAD_DROPPED,            /* nothing: ZeroMQ drops it (and the peer) */
} bad_reply_t;

#define BAD_FRAME_MAX 16384

typedef struct bad_frame {
    const char *name;
    size_t (*build)(uint8_t *buf);     /* the frame, into BAD_FRAME_MAX bytes; or: */
    void (*order)(harness_order_t *o); /* a SubmitOrder of the order this fills */
    bad_reply_t expect;
    uint32_t code;
    uint64_t request_id;
    const char *field;
} bad_frame_t;

static size_t s_garbage(uint8_t *buf)
{
    memcpy(buf, "\xff\xff\xff\xff", 4);  /* not protobuf at all */
    return 4;
}

/* valid protobuf of other message types */
static size_t s_packed_item(uint8_t *buf)
{
    Sluice__V1__Item item = SLUICE__V1__ITEM__INIT;
    item.sku = "tea";
    item.quantity = 3;
    return sluice__v1__item__pack(&item, buf);
}

static size_t s_packed_ack(uint8_t *buf)
{
    Sluice__V1__OrderAck ack = SLUICE__V1__ORDER_ACK__INIT;
    ack.order_id = "x-1";
    ack.decision = SLUICE__V1__DECISION__ACCEPTED;
    ack.promised_ready_at_ms = 123456789;
    return sluice__v1__order_ack__pack(&ack, buf);
}

static size_t s_no_body(uint8_t *buf)
{
    Sluice__V1__Request empty = SLUICE__V1__REQUEST__INIT;
    empty.request_id = 77;
    return sluice__v1__request__pack(&empty, buf);
}

/* ~10 kB, over max_message_bytes = 4096: a valid Request that would be
 * answered */
static size_t s_huge_get(uint8_t *buf)
{
    static char huge[10001];
    memset(huge, 'z', 10000);
    Sluice__V1__GetOrder get = SLUICE__V1__GET_ORDER__INIT;
    get.order_id = huge;
    Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
    req.request_id = 1;
    req.body_case = SLUICE__V1__REQUEST__BODY_GET;
    req.get = &get;
    assert_true(sluice__v1__request__get_packed_size(&req) <= BAD_FRAME_MAX);
    return sluice__v1__request__pack(&req, buf);
}

static void s_fill_long(char *buf)
{
    memset(buf, 'a', 65);
    buf[65] = '\0';
}

static void s_empty_id(harness_order_t *o)
{
    harness_order_fill(o, "", HARNESS_FIRST_STORE);
}

static void s_long_id(harness_order_t *o)
{
    char id[66];
    s_fill_long(id);
    harness_order_fill(o, id, HARNESS_FIRST_STORE);
}

static void s_spaced_id(harness_order_t *o)
{
    harness_order_fill(o, "has space", HARNESS_FIRST_STORE);
}

static void s_no_items(harness_order_t *o)
{
    harness_order_fill(o, "bad-items-0", HARNESS_FIRST_STORE);
    harness_order_set_items(o, 0);
}

static void s_51_items(harness_order_t *o)
{
    harness_order_fill(o, "bad-items-51", HARNESS_FIRST_STORE);
    harness_order_set_items(o, 51);
}

static void s_quantity_0(harness_order_t *o)
{
    harness_order_fill(o, "bad-qty-0", HARNESS_FIRST_STORE);
    o->item_storage[1].quantity = 0;
}

static void s_quantity_100(harness_order_t *o)
{
    harness_order_fill(o, "bad-qty-100", HARNESS_FIRST_STORE);
    o->item_storage[0].quantity = 100;
}

static void s_long_sku(harness_order_t *o)
{
    harness_order_fill(o, "bad-sku", HARNESS_FIRST_STORE);
    s_fill_long(o->skus[0]);
}

static void s_latitude_91(harness_order_t *o)
{
    harness_order_fill(o, "bad-lat", HARNESS_FIRST_STORE);
    o->dropoff.lat = 91.0;
}

/* 5,000 characters: refused, and an answer that echoed it would not fit
 * the reply path (4,096 bytes). */
static void s_id_5000(harness_order_t *o)
{
    static char id[5001];
    memset(id, 'A', 5000);
    harness_order_fill(o, "bad-id-5000", HARNESS_FIRST_STORE);
    o->msg.order_id = id;
}

/* Not UTF-8: echoed in a `string` field, standard clients could not parse
 * the answer. */
static void s_id_not_utf8(harness_order_t *o)
{
    harness_order_fill(o, "bad-\xff\xfe-\xc3", HARNESS_FIRST_STORE);
}

static const bad_frame_t s_bad_frames[] = {
    { "a garbage frame", .build = s_garbage, .expect = BAD_ERROR, .code = 400 },
    { "a packed Item", .build = s_packed_item, .expect = BAD_ERROR_OR_INVALID },
    { "a packed OrderAck", .build = s_packed_ack, .expect = BAD_ERROR_OR_INVALID },
    { "a Request without body", .build = s_no_body, .expect = BAD_ERROR, .request_id = 77 },
    { "empty order_id", .order = s_empty_id, .expect = BAD_INVALID, .field = "order_id" },
    { "65-char order_id", .order = s_long_id, .expect = BAD_INVALID, .field = "order_id" },
    { "order_id with a space", .order = s_spaced_id, .expect = BAD_INVALID, .field = "order_id" },
    { "zero items", .order = s_no_items, .expect = BAD_INVALID, .field = "items" },
    { "51 items", .order = s_51_items, .expect = BAD_INVALID, .field = "items" },
    { "quantity 0", .order = s_quantity_0, .expect = BAD_INVALID, .field = "quantity" },
    { "quantity 100", .order = s_quantity_100, .expect = BAD_INVALID, .field = "quantity" },
    { "65-char sku", .order = s_long_sku, .expect = BAD_INVALID, .field = "sku" },
    { "dropoff latitude 91", .order = s_latitude_91, .expect = BAD_INVALID, .field = "lat" },
    { "5,000-char order_id", .order = s_id_5000, .expect = BAD_INVALID, .field = "order_id" },
    { "order_id not UTF-8", .order = s_id_not_utf8, .expect = BAD_INVALID, .field = "order_id" },
    { "an oversized frame", .build = s_huge_get, .expect = BAD_DROPPED },
};

/* s_expect_bad_reply fails unless R is what frame B must get; REQUEST_ID
 * is the request the frame carried, SENT_ID its order_id (NULL: none). */
static void s_expect_bad_reply(const bad_frame_t *b, uint64_t request_id, const char *sent_id,
                               const Sluice__V1__Reply *r)
{
    char buf[768], field[128];
    bool error = r != NULL && r->body_case == SLUICE__V1__REPLY__BODY_ERROR;
    if (r != NULL && wire_text_find_invalid(&r->base, field, sizeof field))
        fail_msg("%s: the reply's %s is not UTF-8", b->name, field);
    switch (b->expect) {
    case BAD_ERROR:
        if (!error)
            fail_msg("%s: expected an Error reply, got %s", b->name,
                     harness_reply_describe(r, buf, sizeof buf));
        if (r->request_id != request_id || (b->code != 0 && r->error->code != b->code))
            fail_msg("%s: expected an Error to request %llu with code %u, got %s", b->name,
                     (unsigned long long)request_id, b->code,
                     harness_reply_describe(r, buf, sizeof buf));
        break;
    case BAD_ERROR_OR_INVALID:
        if (!error && !(r != NULL && r->body_case == SLUICE__V1__REPLY__BODY_ACK &&
                        r->ack->reason == SLUICE__V1__REASON__INVALID))
            fail_msg("%s: expected Error or REJECTED INVALID, got %s", b->name,
                     harness_reply_describe(r, buf, sizeof buf));
        break;
    case BAD_INVALID:
        harness_expect_ack(r, SLUICE__V1__DECISION__REJECTED, SLUICE__V1__REASON__INVALID,
                           b->name);
        if (r->request_id != request_id)
            fail_msg("%s: the reply answers request %llu, not %llu", b->name,
                     (unsigned long long)r->request_id, (unsigned long long)request_id);
        if (r->ack->detail == NULL || r->ack->detail[0] == '\0' ||
            strstr(r->ack->detail, b->field) == NULL)
            fail_msg("%s: detail \"%s\" does not name \"%s\"", b->name,
                     r->ack->detail ? r->ack->detail : "", b->field);
        /* an id that is not one is never echoed, and the detail says so */
        if (sent_id != NULL && sent_id[0] != '\0' && !order_id_valid(sent_id) &&
            (r->ack->order_id[0] != '\0' || strstr(r->ack->detail, "left out") == NULL))
            fail_msg("%s: order_id \"%.80s\" echoed, detail \"%s\"", b->name, r->ack->order_id,
                     r->ack->detail);
        break;
    case BAD_DROPPED:
        if (r != NULL)
            fail_msg("%s was answered: %s", b->name, harness_reply_describe(r, buf, sizeof buf));
        break;
    }
}

/* Each bad frame gets its answer (one client for all but the dropped one,
 * whose peer ZeroMQ drops too), no rejected order reaches the database, and
 * a fresh client is served after each. */
static void test_bad_input(void **state)
{
    harness_t *h = *state;
    /* room for the 5,000-character id, not for the 10 kB frame */
    harness_boot(h, "max_message_bytes = 8192;");
    harness_client_t *c = harness_client_new(h, ZMQ_DEALER);
    uint8_t *frame = malloc(BAD_FRAME_MAX);
    harness_order_t *o = malloc(sizeof *o);
    assert_non_null(frame);
    assert_non_null(o);
    for (size_t i = 0; i < sizeof s_bad_frames / sizeof s_bad_frames[0]; i++) {
        const bad_frame_t *b = &s_bad_frames[i];
        uint64_t request_id = b->request_id;
        size_t len;
        if (b->order != NULL) {
            b->order(o);
            Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
            req.request_id = request_id = 1000 + i;
            req.body_case = SLUICE__V1__REQUEST__BODY_SUBMIT;
            req.submit = &o->msg;
            len = sluice__v1__request__get_packed_size(&req);
            assert_true(len <= BAD_FRAME_MAX);
            sluice__v1__request__pack(&req, frame);
        } else {
            len = b->build(frame);
        }
        harness_client_t *to = b->expect == BAD_DROPPED ? harness_client_new(h, ZMQ_DEALER) : c;
        harness_send_raw(to, frame, len);
        Sluice__V1__Reply *r = harness_recv(to, b->expect == BAD_DROPPED ? 1000 : S_REPLY_MS);
        s_expect_bad_reply(b, request_id, b->order != NULL ? o->msg.order_id : NULL, r);
        harness_reply_free(&r);
        if (to != c)
            harness_client_destroy(&to);
        /* (PostgreSQL takes only UTF-8 text to look for) */
        if (b->order != NULL && wire_text_utf8(o->order_id, strlen(o->order_id)) &&
            s_rows(h, o->order_id) != 0)
            fail_msg("%s: rejected order \"%s\" is in the database", b->name, o->order_id);
        s_still_serving(h, b->name);
    }
    free(o);
    free(frame);
    harness_client_destroy(&c);
    harness_pass(h);
}

/* s_send_nul sends REQ with REQUEST_ID, every '#' of its frame a NUL byte,
 * and returns the reply. */
static Sluice__V1__Reply *s_send_nul(harness_client_t *c, Sluice__V1__Request *req,
                                     uint64_t request_id)
{
    uint8_t buf[4096];
    req->request_id = request_id;
    size_t len = sluice__v1__request__pack(req, buf);
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '#')
            buf[i] = '\0';
    harness_send_raw(c, buf, len);
    Sluice__V1__Reply *r = harness_recv_for(c, request_id, S_REPLY_MS);
    if (r == NULL)
        fail_msg("no answer to request %llu", (unsigned long long)request_id);
    return r;
}

/* proto3 text may hold a NUL byte; C strings stop at it. Neither "A" nor
 * "milk" is taken for what was sent, and "A\0second" is no CONFLICT with an
 * order that was never stored. */
static void test_text_with_nul(void **state)
{
    harness_t *h = *state;
    harness_boot(h, NULL);
    harness_client_t *c = harness_client_new(h, ZMQ_DEALER);
    harness_order_t *o = s_order_new("A#first", HARNESS_FIRST_STORE);
    snprintf(o->skus[0], sizeof o->skus[0], "milk#-tea-with-extra");
    Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
    req.body_case = SLUICE__V1__REQUEST__BODY_SUBMIT;
    req.submit = &o->msg;
    const char *const ids[] = { "A#first", "A#second" };
    for (size_t i = 0; i < 2; i++) {
        snprintf(o->order_id, sizeof o->order_id, "%s", ids[i]);
        Sluice__V1__Reply *r = s_send_nul(c, &req, 900 + i);
        harness_expect_ack(r, SLUICE__V1__DECISION__REJECTED, SLUICE__V1__REASON__INVALID, ids[i]);
        assert_string_equal(r->ack->order_id, "");
        assert_non_null(strstr(r->ack->detail, "order_id: must not hold a NUL byte"));
        harness_reply_free(&r);
    }
    /* the id whole, the sku not: named, and the id echoed */
    snprintf(o->order_id, sizeof o->order_id, "A-1");
    Sluice__V1__Reply *r = s_send_nul(c, &req, 902);
    harness_expect_ack(r, SLUICE__V1__DECISION__REJECTED, SLUICE__V1__REASON__INVALID, "sku");
    assert_string_equal(r->ack->order_id, "A-1");
    assert_string_equal(r->ack->detail, "items[0].sku: must not hold a NUL byte");
    harness_reply_free(&r);
    assert_int_equal(s_rows(h, "A"), 0);
    assert_int_equal(s_rows(h, "A-1"), 0);
    assert_int_equal(harness_db_count(h, "SELECT count(*) FROM orders WHERE items::text LIKE "
                                         "'%\"milk\"%'", 0), 0);

    /* GetOrder and CancelOrder: an Error naming the field */
    Sluice__V1__GetOrder get = SLUICE__V1__GET_ORDER__INIT;
    get.order_id = "A#first";
    Sluice__V1__Request g = SLUICE__V1__REQUEST__INIT;
    g.body_case = SLUICE__V1__REQUEST__BODY_GET;
    g.get = &get;
    r = s_send_nul(c, &g, 903);
    assert_int_equal(r->body_case, SLUICE__V1__REPLY__BODY_ERROR);
    assert_int_equal(r->error->code, 400);
    assert_string_equal(r->error->message, "get.order_id: must not hold a NUL byte");
    harness_reply_free(&r);
    Sluice__V1__CancelOrder cancel = SLUICE__V1__CANCEL_ORDER__INIT;
    cancel.order_id = "A-1";
    cancel.reason = "changed my mind#; refund please";
    g.body_case = SLUICE__V1__REQUEST__BODY_CANCEL;
    g.cancel = &cancel;
    r = s_send_nul(c, &g, 904);
    assert_int_equal(r->body_case, SLUICE__V1__REPLY__BODY_ERROR);
    assert_string_equal(r->error->message, "cancel.reason: must not hold a NUL byte");
    harness_reply_free(&r);

    /* "A" itself is a new order: nothing was stored under it */
    harness_order_fill(o, "A", HARNESS_FIRST_STORE);
    r = harness_submit(c, o, S_REPLY_MS);
    harness_expect_ack(r, SLUICE__V1__DECISION__ACCEPTED, SLUICE__V1__REASON__REASON_NONE, "A");
    assert_false(r->ack->duplicate);
    harness_reply_free(&r);
    assert_true(harness_log_contains(h, "ingress: refused request 900: order_id: must not hold "
                                        "a NUL byte", true));
    free(o);
    harness_client_destroy(&c);
    harness_pass(h);
}

/* s_check_round_trip submits one good order on C and wants it ACCEPTED. */
static void s_check_round_trip(harness_client_t *c, const char *id, const char *what)
{
    harness_order_t *o = s_order_new(id, HARNESS_FIRST_STORE + 2);
    Sluice__V1__Reply *r = harness_submit(c, o, S_REPLY_MS);
    harness_expect_ack(r, SLUICE__V1__DECISION__ACCEPTED, SLUICE__V1__REASON__REASON_NONE, what);
    assert_string_equal(r->ack->order_id, id);
    harness_reply_free(&r);
    free(o);
}

/* s_count: how many times NEEDLE is in TEXT. */
static size_t s_count(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* s_send_fat_envelope sends one message whose first frame (300 bytes) no
 * routing envelope can hold: dropped unanswered. */
static void s_send_fat_envelope(harness_client_t *c, const uint8_t *body, size_t len)
{
    static const char fat[300] = { 'x' };
    if (zmq_send(c->sock, fat, sizeof fat, ZMQ_SNDMORE) < 0 || zmq_send(c->sock, body, len, 0) < 0)
        fail_msg("failed to send: %s", zmq_strerror(zmq_errno()));
}

/* 10,000 messages the ingress must drop unanswered write a line a
 * LOG_LIMIT_INTERVAL_MS (10 s), not 10,000; the next interval's line says
 * how many were left out; everyone else is served meanwhile. */
static void test_log_flood_limited(void **state)
{
    harness_t *h = *state;
    harness_boot(h, NULL);
    harness_client_t *c = harness_client_new(h, ZMQ_DEALER);
    c->delimiter = false;
    harness_order_t *o = s_order_new("flood-1", HARNESS_FIRST_STORE);
    Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
    req.body_case = SLUICE__V1__REQUEST__BODY_SUBMIT;
    req.submit = &o->msg;
    uint8_t body[1024];
    size_t len = sluice__v1__request__pack(&req, body);
    off_t mark = harness_log_size(h);
    uint64_t t0 = harness_now_ms();
    for (int i = 0; i < 10000; i++)
        s_send_fat_envelope(c, body, len);
    s_still_serving(h, "10,000 dropped messages");
    /* the last of them has been read: a message after them is answered */
    harness_client_t *after = harness_client_new(h, ZMQ_DEALER);
    s_check_round_trip(after, "flood-after-1", "after the flood");
    static const char line[] = "dropped a ingress message with an oversized routing envelope";
    char *log = harness_log_read_from(h, mark);
    size_t lines = s_count(log, line);
    uint64_t took_s = (harness_now_ms() - t0) / 1000;
    free(log);
    if (lines < 1 || lines > 1 + took_s / 10 + 1)
        fail_msg("%zu log lines for 10,000 dropped messages in %llu s", lines,
                 (unsigned long long)took_s);
    assert_int_equal(s_rows(h, "flood-1"), 0);
    /* the next interval's first line counts the rest */
    uint64_t deadline = harness_now_ms() + 25000;
    while (!harness_log_contains_from(h, mark, "more like this not logged in the ")) {
        if (harness_now_ms() > deadline)
            fail_msg("no line counting the messages left out within 25 s");
        s_send_fat_envelope(c, body, len);
        harness_nap_ms(200);
    }
    assert_null(harness_recv(c, 200));  /* none of them was answered */
    free(o);
    harness_client_destroy(&after);
    harness_client_destroy(&c);
    harness_pass(h);
}

static void test_req_and_dealer_together(void **state)
{
    harness_t *h = *state;
    harness_boot(h, NULL);
    harness_client_t *req = harness_client_new(h, ZMQ_REQ);
    harness_client_t *dealer = harness_client_new(h, ZMQ_DEALER);
    harness_order_t *o = malloc(sizeof *o);
    assert_non_null(o);
    enum { ROUNDS = 10, PIPELINE = 20 };
    uint64_t ids[ROUNDS][PIPELINE];
    char id[64], buf[768];

    for (int round = 0; round < ROUNDS; round++) {
        /* the DEALER pipelines, the REQ does one strict round trip meanwhile */
        for (int k = 0; k < PIPELINE; k++) {
            snprintf(id, sizeof id, "dealer-%d-%d", round, k);
            harness_order_fill(o, id, (uint32_t)(HARNESS_FIRST_STORE + k % HARNESS_STORE_COUNT));
            ids[round][k] = harness_send_submit(dealer, o);
        }
        snprintf(id, sizeof id, "req-%d", round);
        harness_order_fill(o, id, HARNESS_FIRST_STORE + 4);
        uint64_t rid = harness_send_submit(req, o);
        Sluice__V1__Reply *r = harness_recv(req, S_REPLY_MS);
        harness_expect_ack(r, SLUICE__V1__DECISION__ACCEPTED, SLUICE__V1__REASON__REASON_NONE,
                     "REQ submission");
        assert_int_equal(r->request_id, rid);
        assert_string_equal(r->ack->order_id, id);
        harness_reply_free(&r);

        bool seen[PIPELINE] = { false };
        for (int k = 0; k < PIPELINE; k++) {
            r = harness_recv(dealer, S_REPLY_MS);
            harness_expect_ack(r, SLUICE__V1__DECISION__ACCEPTED, SLUICE__V1__REASON__REASON_NONE,
                         "DEALER submission");
            int64_t idx = (int64_t)r->request_id - (int64_t)ids[round][0];
            if (idx < 0 || idx >= PIPELINE || seen[idx])
                fail_msg("DEALER got an unexpected reply %s",
                         harness_reply_describe(r, buf, sizeof buf));
            seen[idx] = true;
            snprintf(id, sizeof id, "dealer-%d-%d", round, (int)idx);
            assert_string_equal(r->ack->order_id, id);
            harness_reply_free(&r);
        }
    }
    assert_int_equal(harness_db_count(h,
                                      "SELECT count(*) FROM orders WHERE order_id LIKE 'dealer-%' "
                                      "OR order_id LIKE 'req-%'",
                                      0),
                     ROUNDS * (PIPELINE + 1));
    free(o);
    harness_client_destroy(&req);
    harness_client_destroy(&dealer);
    harness_pass(h);
}

/* A DEALER that sends the bare Request frame (no empty delimiter). */
static void test_dealer_without_delimiter(void **state)
{
    harness_t *h = *state;
    harness_boot(h, NULL);
    harness_client_t *c = harness_client_new(h, ZMQ_DEALER);
    c->delimiter = false;
    s_check_round_trip(c, "bare-dealer-1", "DEALER without delimiter");
    harness_client_destroy(&c);
    harness_pass(h);
}

static void test_client_disconnects_before_ack(void **state)
{
    harness_t *h = *state;
    harness_boot(h, NULL);
    enum { N = 200 };
    harness_stream_t *s = harness_stream_new(h, "gone", N, N);
    /* connect first, so the burst really reaches the daemon */
    Sluice__V1__Reply *hello = harness_get(s->client, "hello", S_REPLY_MS);
    assert_non_null(hello);
    harness_reply_free(&hello);
    while (s->sent < N)
        harness_stream_pump(s, 0);
    /* vanish as soon as the daemon has started answering */
    Sluice__V1__Reply *first = harness_recv(s->client, S_REPLY_MS);
    assert_non_null(first);
    harness_reply_free(&first);
    harness_stream_destroy(&s);  /* linger 0, the rest of the replies never read */

    /* a new client is served */
    s_still_serving(h, "a client vanished with 200 requests in flight");

    /* whatever the daemon committed settles; then every id resubmitted must be
     * ACCEPTED (fresh, or duplicate when it was committed), never CONFLICT */
    long before = -1, now;
    uint64_t deadline = harness_now_ms() + 10000;
    while ((now = harness_db_count(h, "SELECT count(*) FROM orders WHERE order_id LIKE 'gone-%'",
                                   0)) != before) {
        if (harness_now_ms() > deadline)
            break;
        before = now;
        harness_nap_ms(300);  /* poll interval for the count to stop moving */
    }
    fprintf(stderr, "# %ld of %d orders of the vanished client were committed\n", now, N);

    harness_stream_t *again = harness_stream_new(h, "gone", N, 50);
    harness_order_t *o = malloc(sizeof *o);
    assert_non_null(o);
    size_t committed_before = 0;
    for (size_t i = 0; i < N; i++) {
        char id[64];
        harness_stream_order_id(again, i, id, sizeof id);
        bool was_there = s_rows(h, id) == 1;
        committed_before += was_there;
        harness_stream_fill_order(again, i, o);
        Sluice__V1__Reply *r = harness_submit(again->client, o, S_REPLY_MS);
        harness_expect_ack(r, SLUICE__V1__DECISION__ACCEPTED, SLUICE__V1__REASON__REASON_NONE,
                     "resubmitting an order of the vanished client");
        if (was_there && !r->ack->duplicate)
            fail_msg("%s was committed but its resubmission is not duplicate=true", id);
        harness_reply_free(&r);
    }
    assert_int_equal(harness_db_count(h,
                                      "SELECT count(*) FROM orders WHERE order_id LIKE 'gone-%'",
                                      0),
                     N);
    free(o);
    harness_stream_destroy(&again);
    assert_true(harness_daemon_alive(h));
    harness_pass(h);
}

static void test_bounded_queue(void **state)
{
    harness_t *h = *state;
    harness_boot(h, "max_pending_orders = 5; commit_batch_max = 1;");
    enum { N = 500 };
    harness_stream_t *s = harness_stream_new(h, "bq", N, N);
    uint64_t deadline = harness_now_ms() + 60000;
    while (s->replied < N && harness_now_ms() < deadline)
        harness_stream_pump(s, 100);
    fprintf(stderr, "# bounded queue: %zu accepted, %zu overloaded, %zu other rejections\n",
            s->accepted, s->by_reason[SLUICE__V1__REASON__OVERLOADED],
            s->rejected - s->by_reason[SLUICE__V1__REASON__OVERLOADED]);
    if (s->replied != N)
        fail_msg("only %zu of %d pipelined requests got a reply", s->replied, N);
    assert_int_equal(s->unexpected, 0);
    assert_int_equal(s->errors, 0);
    assert_true(s->accepted > 0);
    if (s->by_reason[SLUICE__V1__REASON__OVERLOADED] == 0)
        fail_msg("500 pipelined orders with max_pending_orders = 5: no OVERLOADED");
    for (size_t i = 0; i < N; i++) {
        if (s->outcome[i] == HARNESS_REJECTED) {
            if (s->reason[i] != SLUICE__V1__REASON__OVERLOADED)
                fail_msg("order %zu rejected with %s, expected only OVERLOADED", i,
                         harness_reason_name(s->reason[i]));
            if (s->retry_after[i] == 0)
                fail_msg("order %zu OVERLOADED without retry_after_ms", i);
        }
    }
    harness_stream_check_accepted(h, s);
    harness_stream_destroy(&s);
    s_still_serving(h, "the overload");
    harness_pass(h);
}

static void test_kill9_during_stream(void **state)
{
    harness_t *h = *state;
    harness_boot(h, NULL);
    harness_stream_t *s = harness_stream_new(h, "k9", 20000, 500);
    uint64_t start = harness_now_ms();
    /* stream until a good share is acked (or a few seconds passed) */
    while (s->sent < s->count) {
        harness_stream_pump(s, 20);
        uint64_t elapsed = harness_now_ms() - start;
        if (s->accepted >= 4000 || (elapsed > 3000 && s->accepted > 0))
            break;
        if (elapsed > 30000)
            fail_msg("stream made no progress: %zu sent, %zu replied, %zu accepted", s->sent,
                     s->replied, s->accepted);
    }
    assert_true(s->sent < s->count);  /* the kill lands mid-stream */
    harness_signal(h, SIGKILL);
    assert_int_equal(harness_wait_exit(h, 5000), 128 + SIGKILL);
    /* acks already on their way to us count too */
    harness_stream_pump(s, 300);
    fprintf(stderr, "# kill -9 after %zu sent, %zu acked ACCEPTED, %zu rejected\n", s->sent,
            s->accepted, s->rejected);
    size_t checked = harness_stream_check_accepted(h, s);
    assert_true(checked > 0);
    harness_client_destroy(&s->client);  /* nothing queued may reach the next daemon */

    harness_start(h);
    if (!harness_wait_ready(h, 30000))
        fail_msg("sluiced did not come back after kill -9");

    /* resubmit a sample of acked ids plus the last 50 acked */
    size_t *acked = malloc(s->accepted * sizeof *acked);
    assert_non_null(acked);
    size_t n = 0;
    for (size_t i = 0; i < s->sent; i++)
        if (s->outcome[i] == HARNESS_ACCEPTED)
            acked[n++] = i;
    /* order by ack time so "last acked" means last */
    for (size_t i = 1; i < n; i++) {
        size_t v = acked[i], j = i;
        while (j > 0 && s->acked_ms[acked[j - 1]] > s->acked_ms[v]) {
            acked[j] = acked[j - 1];
            j--;
        }
        acked[j] = v;
    }
    harness_client_t *c = harness_client_new(h, ZMQ_DEALER);
    harness_order_t *o = malloc(sizeof *o);
    assert_non_null(o);
    size_t step = n > 200 ? n / 200 : 1;
    size_t resubmitted = 0;
    char buf[768];
    for (size_t k = 0; k < n; k++) {
        if (k % step != 0 && k + 50 < n)
            continue;
        harness_stream_fill_order(s, acked[k], o);
        Sluice__V1__Reply *r = harness_submit(c, o, S_REPLY_MS);
        if (r == NULL || r->body_case != SLUICE__V1__REPLY__BODY_ACK ||
            r->ack->decision != SLUICE__V1__DECISION__ACCEPTED || !r->ack->duplicate)
            fail_msg("resubmitting acked %s after restart: expected ACCEPTED duplicate, got %s",
                     o->order_id, harness_reply_describe(r, buf, sizeof buf));
        harness_reply_free(&r);
        resubmitted++;
    }
    fprintf(stderr, "# resubmitted %zu acked orders after restart: all duplicates\n",
            resubmitted);
    free(o);
    free(acked);
    harness_client_destroy(&c);
    harness_stream_destroy(&s);
    harness_pass(h);
}

static void test_postgres_restart_during_stream(void **state)
{
    harness_t *h = *state;
    /* UNAVAILABLE answers carry unavailable_retry_ms, longer than the time
     * to the next reconnect attempt (at most reconnect_max_ms + 500) */
    harness_boot(h, "reconnect_min_ms = 50; reconnect_max_ms = 1000; unavailable_retry_ms = 7777;");
    harness_stream_t *s = harness_stream_new(h, "pg", 200000, 50);
    s->rate_per_sec = 400;
    uint64_t deadline = harness_now_ms() + 20000;
    while (s->accepted < 200) {
        if (harness_now_ms() > deadline)
            fail_msg("stream before the outage: only %zu accepted", s->accepted);
        harness_stream_pump(s, 20);
    }

    /* stop the server while orders are in flight: keep streaming during it */
    s->rate_per_sec = 1500;
    size_t accepted_at_stop = s->accepted;
    pid_t stopper = harness_pg_stop_begin(h);
    int stop_rc = -1;
    deadline = harness_now_ms() + 30000;
    while (stop_rc == -1 && harness_now_ms() < deadline) {
        harness_stream_pump(s, 10);
        stop_rc = harness_reap(stopper, 0);
    }
    if (stop_rc != 0)
        fail_msg("pgtmp.sh stop exited with %d", stop_rc);
    s->rate_per_sec = 400;
    s->started_ms = harness_now_ms() - (uint64_t)s->sent * 1000u / 400u;
    deadline = harness_now_ms() + 20000;
    while (s->by_reason[SLUICE__V1__REASON__UNAVAILABLE] == 0) {
        if (harness_now_ms() > deadline)
            fail_msg("PostgreSQL down for 20 s: no UNAVAILABLE (%zu sent, %zu replied, %zu "
                     "accepted, %zu rejected, %zu errors)",
                     s->sent, s->replied, s->accepted, s->rejected, s->errors);
        harness_stream_pump(s, 20);
    }
    /* a little more traffic while it is down */
    size_t sent_mark = s->sent;
    while (s->sent < sent_mark + 200 && harness_now_ms() < deadline)
        harness_stream_pump(s, 20);
    fprintf(stderr, "# during the outage: %zu accepted before, %zu UNAVAILABLE so far\n",
            accepted_at_stop, s->by_reason[SLUICE__V1__REASON__UNAVAILABLE]);
    if (!harness_daemon_alive(h))
        fail_msg("sluiced died while PostgreSQL was down");

    harness_pg_start(h);
    size_t first_after = s->sent;
    bool recovered = false;
    deadline = harness_now_ms() + 30000;
    while (!recovered && harness_now_ms() < deadline) {
        harness_stream_pump(s, 20);
        recovered = s->any_accepted && s->last_accepted_index >= first_after;
    }
    if (!recovered)
        fail_msg("no ACCEPTED within 30 s of PostgreSQL coming back (%zu replied, %zu "
                 "UNAVAILABLE)",
                 s->replied, s->by_reason[SLUICE__V1__REASON__UNAVAILABLE]);
    /* some more traffic after recovery, then collect every reply */
    sent_mark = s->sent;
    while (s->sent < sent_mark + 200)
        harness_stream_pump(s, 20);
    if (!harness_stream_drain(s, 15000))
        fail_msg("%zu requests never answered", s->sent - s->replied);

    for (size_t i = 0; i < s->sent; i++) {
        if (s->outcome[i] != HARNESS_REJECTED || s->reason[i] != SLUICE__V1__REASON__UNAVAILABLE)
            continue;
        if (s->retry_after[i] == 0)
            fail_msg("order %zu: UNAVAILABLE without retry_after_ms", i);
        if (s->retry_after[i] != 7777)
            fail_msg("order %zu: UNAVAILABLE with retry_after_ms %llu, not the configured 7777",
                     i, (unsigned long long)s->retry_after[i]);
    }
    fprintf(stderr, "# outage stream: %zu sent, %zu accepted, %zu UNAVAILABLE, %zu other\n",
            s->sent, s->accepted, s->by_reason[SLUICE__V1__REASON__UNAVAILABLE],
            s->rejected - s->by_reason[SLUICE__V1__REASON__UNAVAILABLE] + s->errors);
    harness_stream_check_accepted(h, s);
    harness_stream_destroy(&s);
    harness_pass(h);
}

static void test_sigterm_during_stream(void **state)
{
    harness_t *h = *state;
    harness_boot(h, NULL);
    harness_stream_t *s = harness_stream_new(h, "term", 5000, 100);
    uint64_t deadline = harness_now_ms() + 20000;
    while (s->accepted < 300) {
        if (harness_now_ms() > deadline)
            fail_msg("stream before SIGTERM: only %zu accepted", s->accepted);
        harness_stream_pump(s, 10);
    }
    harness_signal(h, SIGTERM);
    int rc = -1;
    deadline = harness_now_ms() + 15000;
    while (harness_now_ms() < deadline) {
        harness_stream_pump(s, 10);  /* keep streaming while it shuts down */
        rc = harness_wait_exit(h, 0);
        if (rc != -1)
            break;
    }
    if (rc == -1)
        fail_msg("sluiced still running 15 s after SIGTERM");
    assert_int_equal(rc, 0);
    harness_stream_pump(s, 200);  /* replies already sent before the exit */
    fprintf(stderr, "# SIGTERM: %zu sent, %zu accepted, %zu rejected, %zu unanswered\n", s->sent,
            s->accepted, s->rejected, s->sent - s->replied);
    harness_stream_check_accepted(h, s);
    harness_stream_destroy(&s);
    harness_pass(h);
}

static void test_get_order(void **state)
{
    harness_t *h = *state;
    harness_boot(h, NULL);
    harness_client_t *c = harness_client_new(h, ZMQ_DEALER);
    harness_order_t *o = s_order_new("get-1", HARNESS_FIRST_STORE + 5);
    Sluice__V1__Reply *ack = harness_submit(c, o, S_REPLY_MS);
    harness_expect_ack(ack, SLUICE__V1__DECISION__ACCEPTED, SLUICE__V1__REASON__REASON_NONE, "get-1");

    char buf[768];
    Sluice__V1__Reply *r = harness_get(c, "get-1", S_REPLY_MS);
    if (r == NULL || r->body_case != SLUICE__V1__REPLY__BODY_STATUS)
        fail_msg("GetOrder get-1: expected a status, got %s",
                 harness_reply_describe(r, buf, sizeof buf));
    assert_string_equal(r->status->order_id, "get-1");
    assert_string_equal(r->status->state, "ACCEPTED");
    assert_int_equal(r->status->store_id, HARNESS_FIRST_STORE + 5);
    assert_int_equal(r->status->promised_ready_at_ms, ack->ack->promised_ready_at_ms);
    assert_int_equal(r->status->promised_delivery_at_ms, ack->ack->promised_delivery_at_ms);
    harness_reply_free(&r);

    r = harness_get(c, "no-such-order", S_REPLY_MS);
    if (r == NULL || r->body_case != SLUICE__V1__REPLY__BODY_ERROR)
        fail_msg("GetOrder for an unknown id: expected an Error, got %s",
                 harness_reply_describe(r, buf, sizeof buf));
    assert_int_equal(r->error->code, 404);
    harness_reply_free(&r);

    /* also answered from a REQ socket */
    harness_client_t *req = harness_client_new(h, ZMQ_REQ);
    r = harness_get(req, "get-1", S_REPLY_MS);
    if (r == NULL || r->body_case != SLUICE__V1__REPLY__BODY_STATUS)
        fail_msg("GetOrder over REQ: expected a status, got %s",
                 harness_reply_describe(r, buf, sizeof buf));
    harness_reply_free(&r);
    harness_reply_free(&ack);
    free(o);
    harness_client_destroy(&req);
    harness_client_destroy(&c);
    harness_pass(h);
}

static size_t s_migration_files(void)
{
    char pattern[PATH_MAX];
    snprintf(pattern, sizeof pattern, "%s/../../migrations/*.sql", getenv("SLUICE_TOOLS"));
    glob_t g;
    size_t n = 0;
    if (glob(pattern, 0, NULL, &g) == 0)
        n = g.gl_pathc;
    globfree(&g);
    return n;
}

static void s_check_schema_migrations(harness_t *h, const char *when)
{
    long rows = harness_db_count(h, "SELECT count(*) FROM schema_migrations", 0);
    long distinct = harness_db_count(h, "SELECT count(DISTINCT version) FROM schema_migrations", 0);
    size_t files = s_migration_files();
    if (rows < 1 || rows != distinct)
        fail_msg("%s: schema_migrations has %ld rows for %ld versions", when, rows, distinct);
    if (files > 0 && (size_t)rows != files)
        fail_msg("%s: schema_migrations has %ld versions, migrations/ has %zu files", when, rows,
                 files);
}

static void test_migrations(void **state)
{
    harness_t *h = *state;
    harness_write_config(h, NULL);
    const char *args[] = { "-c", h->conf_path, "--migrate", NULL };

    /* two at the same time on a fresh database */
    pid_t a = harness_spawn(h, h->log_path, args);
    pid_t b = harness_spawn(h, h->log_path, args);
    int rc_a = harness_reap(a, 60000), rc_b = harness_reap(b, 60000);
    if (rc_a != 0 || rc_b != 0)
        fail_msg("two concurrent --migrate exited with %d and %d", rc_a, rc_b);
    s_check_schema_migrations(h, "after two concurrent runs");

    /* twice in a row: nothing to do, still exit 0 */
    assert_int_equal(harness_migrate(h), 0);
    assert_int_equal(harness_migrate(h), 0);
    s_check_schema_migrations(h, "after two more runs");
    assert_int_equal(harness_db_count(h, "SELECT count(*) FROM orders", 0), 0);
    harness_pass(h);
}

/* s_file_line: does OUT contain "PATH:<digits>"? */
static bool s_mentions_file_line(const char *out_path, const char *path)
{
    FILE *f = fopen(out_path, "r");
    if (f == NULL)
        return false;
    char line[4096];
    bool found = false;
    size_t plen = strlen(path);
    while (!found && fgets(line, sizeof line, f) != NULL) {
        for (char *p = strstr(line, path); p != NULL; p = strstr(p + 1, path))
            if (p[plen] == ':' && isdigit((unsigned char)p[plen + 1]))
                found = true;
    }
    fclose(f);
    return found;
}

static void s_cat(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    char line[4096];
    while (fgets(line, sizeof line, f) != NULL)
        fprintf(stderr, "  | %s", line);
    fclose(f);
}

static void test_check_config(void **state)
{
    harness_t *h = *state;
    harness_write_config(h, NULL);
    char out[PATH_MAX + 16], bad[PATH_MAX + 16];
    snprintf(out, sizeof out, "%s/check-good.out", h->tmpdir);
    const char *good_args[] = { "--check-config", h->conf_path, NULL };
    int rc = harness_run_capture(h, 20000, out, good_args);
    if (rc != 0) {
        s_cat(out);
        fail_msg("--check-config on the harness's config exited with %d", rc);
    }

    /* a syntax error on a known line */
    snprintf(bad, sizeof bad, "%s/bad-syntax.conf", h->tmpdir);
    FILE *in = fopen(h->conf_path, "r"), *f = fopen(bad, "w");
    assert_non_null(in);
    assert_non_null(f);
    char line[4096];
    int lines = 0;
    while (fgets(line, sizeof line, in) != NULL) {
        fputs(line, f);
        lines++;
    }
    fclose(in);
    fprintf(f, "dispatch = { margin_seconds = ; };\n");
    fclose(f);
    snprintf(out, sizeof out, "%s/check-bad.out", h->tmpdir);
    const char *bad_args[] = { "--check-config", bad, NULL };
    rc = harness_run_capture(h, 20000, out, bad_args);
    if (rc <= 0 || rc >= 128) {
        s_cat(out);
        fail_msg("--check-config on a file with a syntax error exited with %d", rc);
    }
    if (!s_mentions_file_line(out, bad)) {
        s_cat(out);
        fail_msg("--check-config output does not say %s:LINE", bad);
    }
    char exact[PATH_MAX + 32];
    snprintf(exact, sizeof exact, "%s:%d", bad, lines + 1);
    FILE *o = fopen(out, "r");
    bool exact_line = false;
    while (o != NULL && fgets(line, sizeof line, o) != NULL)
        exact_line = exact_line || strstr(line, exact) != NULL;
    if (o != NULL)
        fclose(o);
    if (!exact_line)
        fprintf(stderr, "# note: --check-config did not name line %d exactly\n", lines + 1);
    harness_pass(h);
}

/* an out-of-range value is named with its file and line too */
static void test_check_config_bad_value(void **state)
{
    harness_t *h = *state;
    harness_write_config(h, "commit_batch_max = -3;");
    char out[PATH_MAX + 16];
    snprintf(out, sizeof out, "%s/check-value.out", h->tmpdir);
    const char *args[] = { "--check-config", h->conf_path, NULL };
    int rc = harness_run_capture(h, 20000, out, args);
    if (rc <= 0 || rc >= 128) {
        s_cat(out);
        fail_msg("--check-config with commit_batch_max = -3 exited with %d", rc);
    }
    if (!s_mentions_file_line(out, h->conf_path)) {
        s_cat(out);
        fail_msg("--check-config output does not say %s:LINE", h->conf_path);
    }
    harness_pass(h);
}

int main(void)
{
    static const harness_case_t cases[] = {
        HARNESS_CASE(test_migrations),
        HARNESS_CASE(test_check_config),
        HARNESS_CASE(test_check_config_bad_value),
        HARNESS_CASE(test_accept_and_persist),
        HARNESS_CASE(test_duplicate_and_conflict),
        HARNESS_CASE(test_unknown_store),
        HARNESS_CASE(test_get_order),
        HARNESS_CASE(test_bad_input),
        HARNESS_CASE(test_text_with_nul),
        HARNESS_CASE(test_log_flood_limited),
        HARNESS_CASE(test_req_and_dealer_together),
        HARNESS_CASE(test_dealer_without_delimiter),
        HARNESS_CASE(test_client_disconnects_before_ack),
        HARNESS_CASE(test_bounded_queue),
        HARNESS_CASE(test_kill9_during_stream),
        HARNESS_CASE(test_sigterm_during_stream),
        HARNESS_CASE(test_postgres_restart_during_stream),
    };
    return harness_main("intake", cases, HARNESS_COUNT(cases), NULL, NULL);
}
