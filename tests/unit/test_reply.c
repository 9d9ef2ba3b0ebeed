/* test_reply.c - the Reply messages (daemon/reply.c) as a DEALER client
 * reads them from a real ingress socket (inproc): each carries its request's
 * id; an error its code and message; an order's status its state, RECEIVED
 * while its commit is in flight, and its times. An ack never echoes an
 * order_id that is not a valid id (5,000 characters, not UTF-8) and says
 * so; a request with a NUL byte in a text field is answered by the ingress
 * itself, naming the field, and never handed on; a reply that could not go
 * as built (too big, text not UTF-8) goes as an Error 500 that fits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "reply.h"
#include "wire_text.h"

#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define S_ENDPOINT "inproc://test-reply"
#define S_WAIT_MS 2000

typedef struct fixture {
    void *ctx;
    ingress_t *ingress;
    void *client;     /* DEALER */
} fixture_t;

static int s_setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->ctx = zmq_ctx_new();
    f->ingress = ingress_new(f->ctx, S_ENDPOINT, 65536, NULL);
    assert_non_null(f->ingress);
    f->client = zmq_socket(f->ctx, ZMQ_DEALER);
    assert_int_equal(zmq_connect(f->client, S_ENDPOINT), 0);
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    fixture_t *f = *state;
    int linger = 0;
    zmq_setsockopt(f->client, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(f->client);
    ingress_destroy(&f->ingress);
    zmq_ctx_term(f->ctx);
    free(f);
    return 0;
}

/* s_ask sends a GetOrder with REQUEST_ID and returns the ingress's ticket. */
static ingress_ticket_t *s_ask(fixture_t *f, uint64_t request_id)
{
    Sluice__V1__GetOrder get = SLUICE__V1__GET_ORDER__INIT;
    get.order_id = "o-1";
    Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
    req.request_id = request_id;
    req.body_case = SLUICE__V1__REQUEST__BODY_GET;
    req.get = &get;
    uint8_t buf[256];
    size_t len = sluice__v1__request__pack(&req, buf);
    assert_int_equal(zmq_send(f->client, buf, len, 0), (int)len);
    zmq_pollitem_t item = {.socket = ingress_socket(f->ingress), .events = ZMQ_POLLIN};
    assert_int_equal(zmq_poll(&item, 1, S_WAIT_MS), 1);
    ingress_ticket_t *t = NULL;
    Sluice__V1__Request *got = NULL;
    assert_true(ingress_recv(f->ingress, &t, &got));
    assert_non_null(t);
    assert_non_null(got);
    sluice__v1__request__free_unpacked(got, NULL);
    assert_int_equal(t->request_id, request_id);
    return t;
}

/* s_answer reads the Reply the client got; free with
 * sluice__v1__reply__free_unpacked. */
static Sluice__V1__Reply *s_answer(fixture_t *f)
{
    zmq_pollitem_t item = {.socket = f->client, .events = ZMQ_POLLIN};
    assert_int_equal(zmq_poll(&item, 1, S_WAIT_MS), 1);
    uint8_t buf[INGRESS_REPLY_MAX + 1];
    int len = zmq_recv(f->client, buf, sizeof buf, 0);
    assert_true(len > 0 && (size_t)len < sizeof buf);
    Sluice__V1__Reply *r = sluice__v1__reply__unpack(NULL, (size_t)len, buf);
    assert_non_null(r);
    return r;
}

static void test_error(void **state)
{
    fixture_t *f = *state;
    ingress_ticket_t *t = s_ask(f, 41);
    reply_error(f->ingress, t, REPLY_NOT_FOUND, "order not found");
    free(t);
    Sluice__V1__Reply *r = s_answer(f);
    assert_int_equal(r->request_id, 41);
    assert_int_equal(r->body_case, SLUICE__V1__REPLY__BODY_ERROR);
    assert_int_equal(r->error->code, 404);
    assert_string_equal(r->error->message, "order not found");
    sluice__v1__reply__free_unpacked(r, NULL);
}

static void test_ack(void **state)
{
    fixture_t *f = *state;
    ingress_ticket_t *t = s_ask(f, 42);
    Sluice__V1__OrderAck ack = SLUICE__V1__ORDER_ACK__INIT;
    ack.order_id = "o-1";
    ack.decision = SLUICE__V1__DECISION__REJECTED;
    ack.reason = SLUICE__V1__REASON__STORE_BUSY;
    ack.retry_after_ms = 1500;
    reply_ack(f->ingress, t, &ack);
    free(t);
    Sluice__V1__Reply *r = s_answer(f);
    assert_int_equal(r->request_id, 42);
    assert_int_equal(r->body_case, SLUICE__V1__REPLY__BODY_ACK);
    assert_string_equal(r->ack->order_id, "o-1");
    assert_int_equal(r->ack->reason, SLUICE__V1__REASON__STORE_BUSY);
    assert_int_equal(r->ack->retry_after_ms, 1500);
    sluice__v1__reply__free_unpacked(r, NULL);
}

static void test_entry_status(void **state)
{
    fixture_t *f = *state;
    order_entry_t e = {.store_id = 1001, .state = ORDER_RIDER_ASSIGNED, .pending = true,
                       .promised_ready_at_ms = 1000, .promised_delivery_at_ms = 2000,
                       .updated_at_ms = 500, .order_id = "o-1"};
    for (int pending = 1; pending >= 0; pending--) {
        e.pending = pending;
        ingress_ticket_t *t = s_ask(f, 43);
        reply_entry_status(f->ingress, t, &e);
        free(t);
        Sluice__V1__Reply *r = s_answer(f);
        assert_int_equal(r->request_id, 43);
        assert_int_equal(r->body_case, SLUICE__V1__REPLY__BODY_STATUS);
        assert_string_equal(r->status->order_id, "o-1");
        assert_int_equal(r->status->store_id, 1001);
        /* Its acceptance is not durable yet: only RECEIVED may be said. */
        assert_string_equal(r->status->state, pending ? "RECEIVED" : "RIDER_ASSIGNED");
        assert_int_equal(r->status->promised_ready_at_ms, 1000);
        assert_int_equal(r->status->promised_delivery_at_ms, 2000);
        assert_int_equal(r->status->updated_at_ms, 500);
        sluice__v1__reply__free_unpacked(r, NULL);
    }
}

/* s_fits: R came whole (s_answer) and its text is UTF-8. */
static void s_fits(const Sluice__V1__Reply *r)
{
    char field[128];
    if (wire_text_find_invalid(&r->base, field, sizeof field))
        fail_msg("%s is not UTF-8", field);
}

static void test_ack_echoes_valid_ids_only(void **state)
{
    fixture_t *f = *state;
    static char long_id[5001];
    memset(long_id, 'A', 5000);
    const char *const ids[] = { long_id, "caf\xc3\xa9-\xff", "has space" };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        ingress_ticket_t *t = s_ask(f, 50 + i);
        Sluice__V1__OrderAck ack = SLUICE__V1__ORDER_ACK__INIT;
        ack.order_id = (char *)ids[i];
        ack.decision = SLUICE__V1__DECISION__REJECTED;
        ack.reason = SLUICE__V1__REASON__INVALID;
        ack.detail = "order_id: at most 64 characters (got 5000)";
        reply_ack(f->ingress, t, &ack);
        free(t);
        Sluice__V1__Reply *r = s_answer(f);
        s_fits(r);
        assert_int_equal(r->request_id, 50 + i);
        assert_int_equal(r->body_case, SLUICE__V1__REPLY__BODY_ACK);
        assert_int_equal(r->ack->reason, SLUICE__V1__REASON__INVALID);
        assert_string_equal(r->ack->order_id, "");
        assert_string_equal(r->ack->detail, "order_id: at most 64 characters (got 5000); "
                                            "order_id is left out of this reply");
        sluice__v1__reply__free_unpacked(r, NULL);
    }
    /* a valid id is echoed, its detail as given */
    reply_msg_t m;
    Sluice__V1__OrderAck ack = SLUICE__V1__ORDER_ACK__INIT;
    ack.order_id = "A-1";
    ack.detail = "store_id: no store 7 is configured";
    reply_build_ack(&m, 5, &ack);
    assert_string_equal(m.ack.order_id, "A-1");
    assert_string_equal(m.ack.detail, "store_id: no store 7 is configured");
}

/* s_send_raw sends a Request packed with every '#' made a NUL byte. */
static void s_send_raw(fixture_t *f, const Sluice__V1__Request *req)
{
    uint8_t buf[1024];
    size_t len = sluice__v1__request__pack(req, buf);
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '#')
            buf[i] = '\0';
    assert_int_equal(zmq_send(f->client, buf, len, 0), (int)len);
}

/* s_refused: the ingress answers the frame sent last itself and hands
 * nothing on. */
static Sluice__V1__Reply *s_refused(fixture_t *f)
{
    zmq_pollitem_t item = {.socket = ingress_socket(f->ingress), .events = ZMQ_POLLIN};
    assert_int_equal(zmq_poll(&item, 1, S_WAIT_MS), 1);
    ingress_ticket_t *t = NULL;
    Sluice__V1__Request *got = NULL;
    assert_false(ingress_recv(f->ingress, &t, &got));
    assert_null(t);
    assert_null(got);
    Sluice__V1__Reply *r = s_answer(f);
    s_fits(r);
    return r;
}

static void test_nul_refused_by_the_ingress(void **state)
{
    fixture_t *f = *state;
    Sluice__V1__Item item[2] = { SLUICE__V1__ITEM__INIT, SLUICE__V1__ITEM__INIT };
    Sluice__V1__Item *items[2] = { &item[0], &item[1] };
    item[0].sku = "milk-tea";
    item[0].quantity = 1;
    item[1].sku = "milk#-tea-with-extra";
    item[1].quantity = 2;
    Sluice__V1__Geo geo = SLUICE__V1__GEO__INIT;
    Sluice__V1__SubmitOrder o = SLUICE__V1__SUBMIT_ORDER__INIT;
    o.order_id = "A-first";
    o.store_id = 1001;
    o.n_items = 2;
    o.items = items;
    o.dropoff = &geo;
    Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
    req.request_id = 61;
    req.body_case = SLUICE__V1__REQUEST__BODY_SUBMIT;
    req.submit = &o;
    s_send_raw(f, &req);
    Sluice__V1__Reply *r = s_refused(f);
    assert_int_equal(r->request_id, 61);
    assert_int_equal(r->body_case, SLUICE__V1__REPLY__BODY_ACK);
    assert_int_equal(r->ack->decision, SLUICE__V1__DECISION__REJECTED);
    assert_int_equal(r->ack->reason, SLUICE__V1__REASON__INVALID);
    assert_string_equal(r->ack->order_id, "A-first");
    assert_string_equal(r->ack->detail, "items[1].sku: must not hold a NUL byte");
    sluice__v1__reply__free_unpacked(r, NULL);

    /* in the id: the shorter "A" is not echoed as if it were the order's */
    o.order_id = "A#first";
    item[1].sku = "tea";
    req.request_id = 62;
    s_send_raw(f, &req);
    r = s_refused(f);
    assert_int_equal(r->request_id, 62);
    assert_string_equal(r->ack->order_id, "");
    assert_string_equal(r->ack->detail, "order_id: must not hold a NUL byte; order_id is left "
                                        "out of this reply");
    sluice__v1__reply__free_unpacked(r, NULL);

    Sluice__V1__GetOrder get = SLUICE__V1__GET_ORDER__INIT;
    get.order_id = "A#second";
    req.request_id = 63;
    req.body_case = SLUICE__V1__REQUEST__BODY_GET;
    req.get = &get;
    s_send_raw(f, &req);
    r = s_refused(f);
    assert_int_equal(r->request_id, 63);
    assert_int_equal(r->body_case, SLUICE__V1__REPLY__BODY_ERROR);
    assert_int_equal(r->error->code, 400);
    assert_string_equal(r->error->message, "get.order_id: must not hold a NUL byte");
    sluice__v1__reply__free_unpacked(r, NULL);

    /* the next whole request is handed on as before */
    ingress_ticket_t *t = s_ask(f, 64);
    free(t);
}

static void test_reply_that_cannot_go_as_built(void **state)
{
    fixture_t *f = *state;
    static char big[INGRESS_REPLY_MAX + 1];
    memset(big, 'x', INGRESS_REPLY_MAX);
    const char *const messages[] = { big, "bad \xc0\xaf text" };
    char over[64];
    snprintf(over, sizeof over, "bytes, over the %d-byte limit", INGRESS_REPLY_MAX);
    const char *const why[] = { over, "error.message is not UTF-8" };
    for (size_t i = 0; i < 2; i++) {
        ingress_ticket_t *t = s_ask(f, 70 + i);
        reply_error(f->ingress, t, REPLY_NOT_FOUND, messages[i]);
        free(t);
        Sluice__V1__Reply *r = s_answer(f);
        s_fits(r);
        assert_int_equal(r->request_id, 70 + i);
        assert_int_equal(r->body_case, SLUICE__V1__REPLY__BODY_ERROR);
        assert_int_equal(r->error->code, 500);
        if (strstr(r->error->message, why[i]) == NULL)
            fail_msg("\"%s\" does not say \"%s\"", r->error->message, why[i]);
        sluice__v1__reply__free_unpacked(r, NULL);
    }
    /* the largest that fits goes as it is, one byte more does not */
    reply_msg_t m;
    size_t cut = INGRESS_REPLY_MAX;
    do {
        big[--cut] = '\0';
        reply_build_error(&m, 1, 404, big);
    } while (sluice__v1__reply__get_packed_size(&m.reply) > INGRESS_REPLY_MAX);
    uint8_t buf[INGRESS_REPLY_MAX];
    char why_not[192];
    assert_int_equal(ingress_reply_pack(&m.reply, buf, why_not, sizeof why_not),
                     INGRESS_REPLY_MAX);
    assert_string_equal(why_not, "");
    big[cut] = 'x';
    assert_true(ingress_reply_pack(&m.reply, buf, why_not, sizeof why_not) < 400);
    char one_over[64];
    snprintf(one_over, sizeof one_over, "%d bytes, over the %d-byte limit", INGRESS_REPLY_MAX + 1,
             INGRESS_REPLY_MAX);
    assert_string_equal(why_not, one_over);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_error, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_ack, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_entry_status, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_ack_echoes_valid_ids_only, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_nul_refused_by_the_ingress, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_reply_that_cannot_go_as_built, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
