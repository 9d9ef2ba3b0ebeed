/* test_reply.c - the Reply messages (daemon/reply.c) as a DEALER client
 * reads them from a real ingress socket (inproc): each carries its request's
 * id; an error its code and message; an order's status its state, RECEIVED
 * while its commit is in flight, and its times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "reply.h"

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
    uint8_t buf[1024];
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_error, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_ack, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_entry_status, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
