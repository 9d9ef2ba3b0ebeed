/* test_network_wire.c - proto/network.proto on our side (adapters/zmq/
 * network_wire.c): every request encoded as the protocol says and refused
 * at each bound; every reply body decoded field by field; replies that
 * break the protocol refused with the field named; a gateway's unknown
 * enum values and untidy text made safe; a cancel's fee told apart from a
 * fee not said, and read from older gateways' fee_cents. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "zmq/network_wire.h"
#include "proto/network.pb-c.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef Sluice__Net__V1__Request request_pb_t;
typedef Sluice__Net__V1__Reply reply_pb_t;

/* The decode buffer is too big for the stack; one per test run. */
static network_wire_reply_t s_out;
static uint8_t s_buf[1 << 17];

static const adapter_dispatch_req_t s_dispatch = {
    .key = "o1:1", .order_id = "o1", .store_id = 1001,
    .pickup = {30.27, 120.03}, .dropoff = {30.28, 120.04},
    .ready_at_ms = 1767225600000ull, .items = 2, .deliver_by_ms = 1767226800000ull,
};

/* s_unpack decodes FRAME as the gateway would. */
static request_pb_t *s_unpack(const network_wire_frame_t *frame)
{
    request_pb_t *req = sluice__net__v1__request__unpack(NULL, frame->len, frame->data);
    assert_non_null(req);
    return req;
}

/* ==== requests ========================================================= */

static void test_encode_dispatch(void **state)
{
    (void)state;
    network_wire_frame_t f;
    const char *why = "unset";
    assert_true(network_wire_encode_dispatch(42, &s_dispatch, &f, &why));
    assert_null(why);
    request_pb_t *req = s_unpack(&f);
    assert_int_equal(req->version, 1);
    assert_int_equal(req->request_id, 42);
    assert_int_equal(req->body_case, SLUICE__NET__V1__REQUEST__BODY_DISPATCH);
    Sluice__Net__V1__DispatchRequest *d = req->dispatch;
    assert_string_equal(d->key, "o1:1");
    assert_string_equal(d->order_id, "o1");
    assert_int_equal(d->store_id, 1001);
    assert_true(d->pickup->lat == 30.27 && d->pickup->lng == 120.03);
    assert_true(d->dropoff->lat == 30.28 && d->dropoff->lng == 120.04);
    assert_int_equal(d->ready_at_ms, 1767225600000ull);
    assert_int_equal(d->items, 2);
    assert_int_equal(d->deliver_by_ms, 1767226800000ull);
    sluice__net__v1__request__free_unpacked(req, NULL);
}

static void test_encode_others(void **state)
{
    (void)state;
    network_wire_frame_t f;
    const char *why;
    adapter_quote_req_t q = {.store_id = 7, .pickup = {1, 2}, .dropoff = {3, 4},
                             .ready_at_ms = 5, .items = 1000};
    assert_true(network_wire_encode_quote(1, &q, &f, &why));
    request_pb_t *req = s_unpack(&f);
    assert_int_equal(req->body_case, SLUICE__NET__V1__REQUEST__BODY_QUOTE);
    assert_string_equal(req->quote->order_id, "");  /* NULL: none */
    assert_int_equal(req->quote->items, 1000);
    assert_true(req->quote->dropoff->lng == 4);
    sluice__net__v1__request__free_unpacked(req, NULL);

    assert_true(network_wire_encode_cancel(2, "k:1", NULL, &f, &why));
    req = s_unpack(&f);
    assert_int_equal(req->body_case, SLUICE__NET__V1__REQUEST__BODY_CANCEL);
    assert_string_equal(req->cancel->key, "k:1");
    assert_string_equal(req->cancel->reason, "");
    sluice__net__v1__request__free_unpacked(req, NULL);

    assert_true(network_wire_encode_status(UINT64_MAX, "k:1", &f, &why));
    req = s_unpack(&f);
    assert_int_equal(req->request_id, UINT64_MAX);
    assert_string_equal(req->status->key, "k:1");
    sluice__net__v1__request__free_unpacked(req, NULL);

    adapter_settlement_req_t s = {.day = "2026-11-23", .utc_offset_minutes = -840,
                                  .page_token = "256", .max_lines = 10};
    assert_true(network_wire_encode_settlement(3, &s, &f, &why));
    req = s_unpack(&f);
    assert_string_equal(req->settlement->day, "2026-11-23");
    assert_int_equal(req->settlement->utc_offset_minutes, -840);
    assert_string_equal(req->settlement->page_token, "256");
    assert_int_equal(req->settlement->max_lines, 10);
    sluice__net__v1__request__free_unpacked(req, NULL);
}

/* s_refuse: the dispatch D is refused naming FIELD, and nothing is written. */
static void s_refuse_dispatch(const adapter_dispatch_req_t *d, const char *field)
{
    network_wire_frame_t f = {.len = 12345};
    const char *why = NULL;
    assert_false(network_wire_encode_dispatch(1, d, &f, &why));
    assert_non_null(why);
    if (strncmp(why, field, strlen(field)) != 0)
        fail_msg("'%s' does not name %s", why, field);
    assert_int_equal(f.len, 12345);
}

static void test_encode_refuses_out_of_bounds(void **state)
{
    (void)state;
    char key64[65], key65[66];
    memset(key64, 'k', 64);
    key64[64] = '\0';
    memset(key65, 'k', 65);
    key65[65] = '\0';
    adapter_dispatch_req_t d = s_dispatch;
    network_wire_frame_t f;
    const char *why;
    d.key = key64;
    assert_true(network_wire_encode_dispatch(1, &d, &f, &why));
    d.key = key65;
    s_refuse_dispatch(&d, "dispatch.key");
    d.key = "";
    s_refuse_dispatch(&d, "dispatch.key");
    d.key = "a b";
    s_refuse_dispatch(&d, "dispatch.key");
    d.key = NULL;
    s_refuse_dispatch(&d, "dispatch.key");
    d = s_dispatch;
    d.order_id = "caf\xc3\xa9";
    s_refuse_dispatch(&d, "dispatch.order_id");
    d = s_dispatch;
    d.pickup.lat = 90.5;
    s_refuse_dispatch(&d, "dispatch.pickup");
    d = s_dispatch;
    d.dropoff.lng = NAN;
    s_refuse_dispatch(&d, "dispatch.dropoff");
    d = s_dispatch;
    d.ready_at_ms = 0;
    s_refuse_dispatch(&d, "dispatch.ready_at_ms");
    d = s_dispatch;
    d.items = 0;
    s_refuse_dispatch(&d, "dispatch.items");
    d.items = 1001;
    s_refuse_dispatch(&d, "dispatch.items");

    assert_false(network_wire_encode_dispatch(0, &s_dispatch, &f, &why));
    assert_non_null(strstr(why, "request_id"));

    adapter_quote_req_t q = {.order_id = "bad id", .pickup = {0, 0}, .dropoff = {0, 0},
                             .ready_at_ms = 1, .items = 1};
    assert_false(network_wire_encode_quote(1, &q, &f, &why));
    assert_non_null(strstr(why, "quote.order_id"));

    char reason[202];
    memset(reason, 'r', 201);
    reason[201] = '\0';
    assert_false(network_wire_encode_cancel(1, "k", reason, &f, &why));
    assert_non_null(strstr(why, "cancel.reason"));
    reason[200] = '\0';
    assert_true(network_wire_encode_cancel(1, "k", reason, &f, &why));
    /* a gateway's proto3 parser refuses a message with invalid UTF-8 */
    assert_false(network_wire_encode_cancel(1, "k", "cut \xe6\x8a", &f, &why));
    assert_false(network_wire_encode_cancel(1, "k", "esc \x1b[0m", &f, &why));
    assert_true(network_wire_encode_cancel(1, "k", "\xe5\x8f\x96\xe6\xb6\x88", &f, &why));
    assert_false(network_wire_encode_status(1, key65, &f, &why));

    adapter_settlement_req_t s = {.day = "2026-1-23"};
    assert_false(network_wire_encode_settlement(1, &s, &f, &why));
    assert_non_null(strstr(why, "settlement.day"));
    s.day = "2026-11-23";
    s.utc_offset_minutes = 841;
    assert_false(network_wire_encode_settlement(1, &s, &f, &why));
    assert_non_null(strstr(why, "utc_offset_minutes"));
    s.utc_offset_minutes = 0;
    s.page_token = "a b";
    assert_false(network_wire_encode_settlement(1, &s, &f, &why));
    assert_non_null(strstr(why, "page_token"));
}

/* ==== replies ========================================================== */

/* s_decode packs PB (version 1 unless set) and decodes it into s_out. */
static network_wire_result_t s_decode(reply_pb_t *pb)
{
    if (pb->version == 0)
        pb->version = 1;
    size_t n = sluice__net__v1__reply__get_packed_size(pb);
    assert_true(n <= sizeof s_buf);
    sluice__net__v1__reply__pack(pb, s_buf);
    return network_wire_decode(s_buf, n, &s_out);
}

/* s_expect_bad: PB decodes as BAD with a problem containing NEEDLE. */
static void s_expect_bad(reply_pb_t *pb, const char *needle)
{
    assert_int_equal(s_decode(pb), NETWORK_WIRE_BAD);
    if (!strstr(s_out.problem, needle))
        fail_msg("problem '%s' does not contain '%s'", s_out.problem, needle);
}

static void test_decode_dispatch(void **state)
{
    (void)state;
    Sluice__Net__V1__DispatchReply d = SLUICE__NET__V1__DISPATCH_REPLY__INIT;
    d.key = "o1:1";
    d.accepted = true;
    d.duplicate = true;
    d.rider_ref = "sim-r0";
    d.pickup_at_ms = 11;
    d.delivery_at_ms = 22;
    d.fee_cents = 650;
    d.state = SLUICE__NET__V1__DISPATCH_STATE__ASSIGNED;
    reply_pb_t pb = SLUICE__NET__V1__REPLY__INIT;
    pb.request_id = 9;
    pb.sent_at_ms = 1234;
    pb.body_case = SLUICE__NET__V1__REPLY__BODY_DISPATCH;
    pb.dispatch = &d;
    assert_int_equal(s_decode(&pb), NETWORK_WIRE_OK);
    assert_int_equal(s_out.request_id, 9);
    assert_int_equal(s_out.sent_at_ms, 1234);
    assert_int_equal(s_out.body, NETWORK_WIRE_DISPATCH);
    const adapter_dispatch_t *r = &s_out.u.dispatch;
    assert_string_equal(r->key, "o1:1");
    assert_true(r->accepted && r->duplicate);
    assert_int_equal(r->refusal, ADAPTER_REFUSAL_NONE);
    assert_string_equal(r->rider_ref, "sim-r0");
    assert_int_equal(r->pickup_at_ms, 11);
    assert_int_equal(r->delivery_at_ms, 22);
    assert_int_equal(r->fee_cents, 650);
    assert_int_equal(r->state, ADAPTER_STATE_ASSIGNED);
    assert_string_equal(network_wire_reply_key(&s_out), "o1:1");

    /* a refusal: the key is REFUSED, or CANCELLED for KEY_CANCELLED */
    d.accepted = false;
    d.state = SLUICE__NET__V1__DISPATCH_STATE__REFUSED;
    d.refusal = SLUICE__NET__V1__REFUSAL__NO_RIDER;
    assert_int_equal(s_decode(&pb), NETWORK_WIRE_OK);
    assert_int_equal(s_out.u.dispatch.refusal, ADAPTER_REFUSAL_NO_RIDER);
    d.refusal = 77;  /* a newer gateway's reason: still a refusal */
    assert_int_equal(s_decode(&pb), NETWORK_WIRE_OK);
    assert_int_equal(s_out.u.dispatch.refusal, ADAPTER_REFUSAL_OTHER);
    d.refusal = SLUICE__NET__V1__REFUSAL__REFUSAL_NONE;
    assert_int_equal(s_decode(&pb), NETWORK_WIRE_OK);
    assert_int_equal(s_out.u.dispatch.refusal, ADAPTER_REFUSAL_OTHER);

    /* a decision that contradicts its state could mean two riders */
    d.state = SLUICE__NET__V1__DISPATCH_STATE__ASSIGNED;
    s_expect_bad(&pb, "not accepted, yet state ASSIGNED");
    d.accepted = true;
    d.state = SLUICE__NET__V1__DISPATCH_STATE__REFUSED;
    s_expect_bad(&pb, "accepted, yet state REFUSED");
    d.state = SLUICE__NET__V1__DISPATCH_STATE__UNKNOWN;
    s_expect_bad(&pb, "dispatch.state");
    d.state = 42;
    s_expect_bad(&pb, "dispatch.state");
    d.state = SLUICE__NET__V1__DISPATCH_STATE__PENDING;
    d.key = "o1 1";
    s_expect_bad(&pb, "dispatch.key");
    assert_int_equal(s_out.request_id, 9);  /* still known, so the request is answered */
}

static void test_decode_cancel_status_quote(void **state)
{
    (void)state;
    Sluice__Net__V1__CancelReply c = SLUICE__NET__V1__CANCEL_REPLY__INIT;
    c.key = "k";
    c.previous = SLUICE__NET__V1__DISPATCH_STATE__UNKNOWN;
    c.state = SLUICE__NET__V1__DISPATCH_STATE__CANCELLED;
    reply_pb_t pb = SLUICE__NET__V1__REPLY__INIT;
    pb.request_id = 1;
    pb.body_case = SLUICE__NET__V1__REPLY__BODY_CANCEL;
    pb.cancel = &c;
    assert_int_equal(s_decode(&pb), NETWORK_WIRE_OK);
    assert_true(s_out.u.cancel.released);
    assert_int_equal(s_out.u.cancel.previous, ADAPTER_STATE_UNKNOWN);
    c.state = SLUICE__NET__V1__DISPATCH_STATE__REFUSED;
    assert_int_equal(s_decode(&pb), NETWORK_WIRE_OK);
    assert_true(s_out.u.cancel.released);
    c.state = SLUICE__NET__V1__DISPATCH_STATE__PICKED_UP;
    assert_int_equal(s_decode(&pb), NETWORK_WIRE_OK);
    assert_false(s_out.u.cancel.released);  /* too late: the rider has it */
    c.state = SLUICE__NET__V1__DISPATCH_STATE__ASSIGNED;
    s_expect_bad(&pb, "cancel.state");
    c.state = SLUICE__NET__V1__DISPATCH_STATE__CANCELLED;
    c.previous = 0;
    s_expect_bad(&pb, "cancel.previous");

    Sluice__Net__V1__StatusReply s = SLUICE__NET__V1__STATUS_REPLY__INIT;
    Sluice__Net__V1__Geo at = SLUICE__NET__V1__GEO__INIT;
    at.lat = 30.1;
    at.lng = 120.2;
    s.key = "k";
    s.state = SLUICE__NET__V1__DISPATCH_STATE__CANCELLED;
    s.order_id = "o";
    s.seq = 3;
    s.cancelled_by = SLUICE__NET__V1__CANCELLED_BY__CANCELLED_BY_PLATFORM;
    s.cancelled_at_ms = 77;
    s.rider_position = &at;
    pb.body_case = SLUICE__NET__V1__REPLY__BODY_STATUS;
    pb.status = &s;
    assert_int_equal(s_decode(&pb), NETWORK_WIRE_OK);
    const adapter_status_t *st = &s_out.u.status;
    assert_int_equal(st->state, ADAPTER_STATE_CANCELLED);
    assert_int_equal(st->seq, 3);
    assert_int_equal(st->cancelled_by, ADAPTER_CANCELLED_BY_PLATFORM);
    assert_int_equal(st->cancelled_at_ms, 77);
    assert_true(st->has_position && st->rider_position.lat == 30.1);
    at.lat = 91;  /* information only: dropped, not the whole reply */
    s.cancelled_by = 9;
    assert_int_equal(s_decode(&pb), NETWORK_WIRE_OK);
    assert_false(s_out.u.status.has_position);
    assert_int_equal(s_out.u.status.cancelled_by, ADAPTER_CANCELLED_BY_NONE);
    s.order_id = "";  /* UNKNOWN keys and keys only cancelled have none */
    assert_int_equal(s_decode(&pb), NETWORK_WIRE_OK);
    s.order_id = "o\n";
    s_expect_bad(&pb, "status.order_id");
    s.order_id = "o";
    s.state = 0;
    s_expect_bad(&pb, "status.state");

    Sluice__Net__V1__QuoteReply q = SLUICE__NET__V1__QUOTE_REPLY__INIT;
    q.available = false;
    q.refusal = SLUICE__NET__V1__REFUSAL__OUT_OF_AREA;
    pb.body_case = SLUICE__NET__V1__REPLY__BODY_QUOTE;
    pb.quote = &q;
    assert_int_equal(s_decode(&pb), NETWORK_WIRE_OK);
    assert_int_equal(s_out.u.quote.refusal, ADAPTER_REFUSAL_OUT_OF_AREA);
    assert_null(network_wire_reply_key(&s_out));
    pb.request_id = 0;  /* only events and complaints come with id 0 */
    s_expect_bad(&pb, "request_id 0");
}

static void test_decode_settlement(void **state)
{
    (void)state;
    enum { N = ADAPTER_SETTLEMENT_LINES_MAX + 1 };
    static Sluice__Net__V1__SettlementLine lines[N];
    static Sluice__Net__V1__SettlementLine *ptrs[N];
    static char keys[N][16];
    for (size_t i = 0; i < N; i++) {
        sluice__net__v1__settlement_line__init(&lines[i]);
        snprintf(keys[i], sizeof keys[i], "k%zu:1", i);
        lines[i].key = keys[i];
        lines[i].order_id = keys[i];
        lines[i].status = i % 2 ? SLUICE__NET__V1__DISPATCH_STATE__CANCELLED
                                : SLUICE__NET__V1__DISPATCH_STATE__DELIVERED;
        lines[i].fee_cents = (uint32_t)i;
        lines[i].store_id = 1001;
        ptrs[i] = &lines[i];
    }
    Sluice__Net__V1__SettlementReply s = SLUICE__NET__V1__SETTLEMENT_REPLY__INIT;
    s.day = "2026-11-23";
    s.utc_offset_minutes = 480;
    s.lines = ptrs;
    s.n_lines = ADAPTER_SETTLEMENT_LINES_MAX;
    s.next_page_token = "256";
    s.total_lines = 300;
    s.total_fee_cents = 99999;
    reply_pb_t pb = SLUICE__NET__V1__REPLY__INIT;
    pb.request_id = 5;
    pb.body_case = SLUICE__NET__V1__REPLY__BODY_SETTLEMENT;
    pb.settlement = &s;
    assert_int_equal(s_decode(&pb), NETWORK_WIRE_OK);
    const adapter_settlement_t *r = &s_out.u.settlement;
    assert_int_equal(r->n_lines, ADAPTER_SETTLEMENT_LINES_MAX);
    assert_string_equal(r->lines[255].key, "k255:1");
    assert_int_equal(r->lines[255].status, ADAPTER_STATE_CANCELLED);
    assert_int_equal(r->lines[255].fee_cents, 255);
    assert_string_equal(r->next_page_token, "256");
    assert_int_equal(r->total_lines, 300);
    assert_int_equal(r->total_fee_cents, 99999);
    assert_false(r->final);
    assert_string_equal(network_wire_reply_key(&s_out), "2026-11-23");

    s.n_lines = N;
    s_expect_bad(&pb, "at most 256");
    s.n_lines = 3;
    lines[1].status = SLUICE__NET__V1__DISPATCH_STATE__ASSIGNED;
    s_expect_bad(&pb, "settlement.lines[1].status");
    lines[1].status = SLUICE__NET__V1__DISPATCH_STATE__DELIVERED;
    s.next_page_token = "two words";
    s_expect_bad(&pb, "next_page_token");
    s.next_page_token = "";
    s.day = "today";
    s_expect_bad(&pb, "settlement.day");
}

static void test_decode_events_and_errors(void **state)
{
    (void)state;
    Sluice__Net__V1__RiderEvent e = SLUICE__NET__V1__RIDER_EVENT__INIT;
    e.key = "o1:1";
    e.order_id = "o1";
    e.seq = 4;
    e.state = SLUICE__NET__V1__DISPATCH_STATE__DELIVERED;
    e.rider_ref = "sim-r0";
    e.at_ms = 100;
    e.fee_cents = 650;
    reply_pb_t pb = SLUICE__NET__V1__REPLY__INIT;
    pb.sent_at_ms = 101;
    pb.body_case = SLUICE__NET__V1__REPLY__BODY_EVENT;
    pb.event = &e;
    assert_int_equal(s_decode(&pb), NETWORK_WIRE_OK);
    assert_int_equal(s_out.body, NETWORK_WIRE_EVENT);
    assert_int_equal(s_out.u.event.seq, 4);
    assert_int_equal(s_out.u.event.state, ADAPTER_STATE_DELIVERED);
    assert_int_equal(s_out.u.event.gateway_at_ms, 101);
    assert_false(s_out.u.event.has_position);
    e.seq = 0;
    s_expect_bad(&pb, "event.seq");
    e.seq = 1;
    e.state = SLUICE__NET__V1__DISPATCH_STATE__PENDING;  /* no event moves a key to PENDING */
    s_expect_bad(&pb, "event.state");
    e.state = SLUICE__NET__V1__DISPATCH_STATE__ASSIGNED;
    pb.request_id = 3;
    s_expect_bad(&pb, "an event with request_id 3");

    Sluice__Net__V1__Error err = SLUICE__NET__V1__ERROR__INIT;
    err.code = SLUICE__NET__V1__ERROR_CODE__UNAVAILABLE;
    err.message = "try later";
    err.retry_after_ms = 500;
    pb.body_case = SLUICE__NET__V1__REPLY__BODY_ERROR;
    pb.error = &err;
    assert_int_equal(s_decode(&pb), NETWORK_WIRE_OK);
    assert_int_equal(s_out.u.error.code, ADAPTER_ERR_UNAVAILABLE);
    assert_int_equal(s_out.u.error.retry_after_ms, 500);
    assert_string_equal(s_out.u.error.message, "try later");
    pb.request_id = 0;  /* about a frame the gateway could not read */
    assert_int_equal(s_decode(&pb), NETWORK_WIRE_OK);
    err.code = 99;
    assert_int_equal(s_decode(&pb), NETWORK_WIRE_OK);
    assert_int_equal(s_out.u.error.code, ADAPTER_ERR_OTHER);

    pb.version = 2;
    s_expect_bad(&pb, "version: 2");
    pb.version = 1;
    pb.body_case = SLUICE__NET__V1__REPLY__BODY__NOT_SET;
    s_expect_bad(&pb, "no body");

    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    assert_int_equal(network_wire_decode(garbage, sizeof garbage, &s_out), NETWORK_WIRE_UNREADABLE);
    assert_int_equal(s_out.request_id, 0);
    /* an empty frame is a Reply of zero values: version 0 */
    assert_int_equal(network_wire_decode(garbage, 0, &s_out), NETWORK_WIRE_BAD);
}

/* A cancelled key's fee: the Fee wrapper says it, 0 included; without it
 * (a gateway older than the field) a non-zero fee_cents is the charge and 0
 * is "not said"; a key not CANCELLED has no cancel fee. The same rule in a
 * CancelReply, a StatusReply and a CANCELLED event. */
static void test_decode_cancel_fee(void **state)
{
    (void)state;
    Sluice__Net__V1__Fee zero = SLUICE__NET__V1__FEE__INIT, some = SLUICE__NET__V1__FEE__INIT;
    some.cents = 325;
    Sluice__Net__V1__CancelReply c = SLUICE__NET__V1__CANCEL_REPLY__INIT;
    c.key = "k:1";
    c.previous = SLUICE__NET__V1__DISPATCH_STATE__ARRIVED;
    c.state = SLUICE__NET__V1__DISPATCH_STATE__CANCELLED;
    c.fee_cents = 999;        /* superseded where cancel_fee is set */
    c.cancel_fee = &zero;
    Sluice__Net__V1__StatusReply st = SLUICE__NET__V1__STATUS_REPLY__INIT;
    st.key = "k:1";
    st.order_id = "k";
    st.state = SLUICE__NET__V1__DISPATCH_STATE__CANCELLED;
    st.fee_cents = 999;
    st.cancel_fee = &zero;
    Sluice__Net__V1__RiderEvent e = SLUICE__NET__V1__RIDER_EVENT__INIT;
    e.key = "k:1";
    e.order_id = "k";
    e.seq = 3;
    e.state = SLUICE__NET__V1__DISPATCH_STATE__CANCELLED;
    e.fee_cents = 999;
    e.cancel_fee = &zero;
    reply_pb_t pb[3] = {SLUICE__NET__V1__REPLY__INIT, SLUICE__NET__V1__REPLY__INIT,
                        SLUICE__NET__V1__REPLY__INIT};
    pb[0].request_id = 1;
    pb[0].body_case = SLUICE__NET__V1__REPLY__BODY_CANCEL;
    pb[0].cancel = &c;
    pb[1].request_id = 2;
    pb[1].body_case = SLUICE__NET__V1__REPLY__BODY_STATUS;
    pb[1].status = &st;
    pb[2].body_case = SLUICE__NET__V1__REPLY__BODY_EVENT;
    pb[2].event = &e;
    const adapter_fee_t *got[3] = {&s_out.u.cancel.cancel_fee, &s_out.u.status.cancel_fee,
                                   &s_out.u.event.cancel_fee};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(s_decode(&pb[i]), NETWORK_WIRE_OK);
        assert_true(got[i]->said);                 /* free, said so */
        assert_int_equal(got[i]->cents, 0);
    }
    c.cancel_fee = st.cancel_fee = e.cancel_fee = &some;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(s_decode(&pb[i]), NETWORK_WIRE_OK);
        assert_true(got[i]->said);
        assert_int_equal(got[i]->cents, 325);
    }
    /* An older gateway: fee_cents is the charge, and 0 says nothing. */
    c.cancel_fee = st.cancel_fee = e.cancel_fee = NULL;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(s_decode(&pb[i]), NETWORK_WIRE_OK);
        assert_true(got[i]->said);
        assert_int_equal(got[i]->cents, 999);
    }
    c.fee_cents = st.fee_cents = e.fee_cents = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(s_decode(&pb[i]), NETWORK_WIRE_OK);
        assert_false(got[i]->said);
    }
    /* Not cancelled: no cancel fee, whatever is set. */
    c.cancel_fee = st.cancel_fee = e.cancel_fee = &some;
    c.state = SLUICE__NET__V1__DISPATCH_STATE__PICKED_UP;
    st.state = SLUICE__NET__V1__DISPATCH_STATE__DELIVERED;
    e.state = SLUICE__NET__V1__DISPATCH_STATE__DELIVERED;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(s_decode(&pb[i]), NETWORK_WIRE_OK);
        assert_false(got[i]->said);
    }
}

/* Opaque text from a gateway reaches logs and the database: it comes out
 * printable UTF-8, cut at a character boundary. */
static void test_decode_cleans_text(void **state)
{
    (void)state;
    char longer[400];
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    memcpy(longer + 198, "\xe6\xb6\x88", 3);  /* a 3-byte character across byte 200 */
    Sluice__Net__V1__RiderEvent e = SLUICE__NET__V1__RIDER_EVENT__INIT;
    e.key = "k";
    e.seq = 1;
    e.state = SLUICE__NET__V1__DISPATCH_STATE__CANCELLED;
    e.rider_ref = "r\x1b[31m\xff\xc0\xaf\xed\xa0\x80\xc2\x85ok\xe4\xb8\xad";
    e.reason = longer;
    reply_pb_t pb = SLUICE__NET__V1__REPLY__INIT;
    pb.body_case = SLUICE__NET__V1__REPLY__BODY_EVENT;
    pb.event = &e;
    assert_int_equal(s_decode(&pb), NETWORK_WIRE_OK);
    /* ESC, 0xff, an overlong '/', a surrogate and a C1 control each become '?' */
    assert_string_equal(s_out.u.event.rider_ref, "r?[31m????????ok\xe4\xb8\xad");
    assert_int_equal(strlen(s_out.u.event.reason), 198);
    e.rider_ref = longer;
    assert_int_equal(s_decode(&pb), NETWORK_WIRE_OK);
    assert_int_equal(strlen(s_out.u.event.rider_ref), ADAPTER_REF_MAX);
}

/* A key or rider_ref with a NUL byte inside would be believed as the
 * shorter text before it (C strings stop there): the frame is refused,
 * naming the field. */
static void test_decode_refuses_nul_in_text(void **state)
{
    (void)state;
    Sluice__Net__V1__DispatchReply d = SLUICE__NET__V1__DISPATCH_REPLY__INIT;
    d.key = "o1:1";
    d.accepted = true;
    d.rider_ref = "sim-r0#tail";
    d.state = SLUICE__NET__V1__DISPATCH_STATE__ASSIGNED;
    reply_pb_t pb = SLUICE__NET__V1__REPLY__INIT;
    pb.version = 1;
    pb.request_id = 12;
    pb.body_case = SLUICE__NET__V1__REPLY__BODY_DISPATCH;
    pb.dispatch = &d;
    size_t n = sluice__net__v1__reply__pack(&pb, s_buf);
    assert_int_equal(network_wire_decode(s_buf, n, &s_out), NETWORK_WIRE_OK);
    assert_string_equal(s_out.u.dispatch.rider_ref, "sim-r0#tail");
    uint8_t *hash = memchr(s_buf, '#', n);
    assert_non_null(hash);
    *hash = '\0';   /* "sim-r0\0tail" on the wire */
    assert_int_equal(network_wire_decode(s_buf, n, &s_out), NETWORK_WIRE_BAD);
    if (!strstr(s_out.problem, "dispatch.rider_ref: must not hold a NUL byte"))
        fail_msg("problem '%s' does not name dispatch.rider_ref's NUL byte", s_out.problem);
    assert_int_equal(s_out.request_id, 12);  /* still known, so the request is answered */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_dispatch),
        cmocka_unit_test(test_encode_others),
        cmocka_unit_test(test_encode_refuses_out_of_bounds),
        cmocka_unit_test(test_decode_dispatch),
        cmocka_unit_test(test_decode_cancel_status_quote),
        cmocka_unit_test(test_decode_cancel_fee),
        cmocka_unit_test(test_decode_settlement),
        cmocka_unit_test(test_decode_events_and_errors),
        cmocka_unit_test(test_decode_cleans_text),
        cmocka_unit_test(test_decode_refuses_nul_in_text),
    };
    return cmocka_run_group_tests_name("network_wire", tests, NULL, NULL);
}
