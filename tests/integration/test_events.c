/* test_events.c - the order-event PUB socket against the real daemon: a
 * subscriber to one store's topic sees that store's committed changes, in
 * order, with the promises the producer was given, and nothing of others. */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zmq.h>

#include "proto/events.pb-c.h"

#define S_REPLY_MS 5000

/* s_next_event receives one event on SUB, checking its topic frame. */
static Sluice__V1__OrderEvent *s_next_event(void *sub, const char *topic)
{
    char frame[64];
    int n = zmq_recv(sub, frame, sizeof frame - 1, 0);
    if (n < 0)
        fail_msg("no event within the deadline");
    frame[n] = '\0';
    assert_string_equal(frame, topic);
    int more = 0;
    size_t len = sizeof more;
    zmq_getsockopt(sub, ZMQ_RCVMORE, &more, &len);
    assert_true(more);
    uint8_t buf[2048];
    n = zmq_recv(sub, buf, sizeof buf, 0);
    assert_true(n > 0);
    Sluice__V1__OrderEvent *ev = sluice__v1__order_event__unpack(NULL, (size_t)n, buf);
    assert_non_null(ev);
    return ev;
}

static void test_events_follow_committed_changes(void **state)
{
    harness_t *h = *state;
    harness_boot(h, NULL);
    uint32_t store = HARNESS_FIRST_STORE + 2;
    char topic[32];
    snprintf(topic, sizeof topic, "store.%u", store);
    void *sub = zmq_socket(h->zctx, ZMQ_SUB);
    int timeout = S_REPLY_MS, linger = 0;
    zmq_setsockopt(sub, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(sub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, topic, strlen(topic));
    assert_int_equal(zmq_connect(sub, h->events), 0);
    /* A subscription takes a moment to reach the publisher: send probes to
     * the store until one is seen, then start counting. */
    harness_client_t *c = harness_client_new(h, ZMQ_DEALER);
    harness_order_t o;
    int probe_timeout = 200;
    zmq_setsockopt(sub, ZMQ_RCVTIMEO, &probe_timeout, sizeof probe_timeout);
    bool seen = false;
    for (int i = 0; i < 50 && !seen; i++) {
        char id[32];
        snprintf(id, sizeof id, "ev-probe-%d", i);
        harness_order_fill(&o, id, store);
        Sluice__V1__Reply *r = harness_submit(c, &o, S_REPLY_MS);
        harness_reply_free(&r);
        char frame[64];
        while (zmq_recv(sub, frame, sizeof frame, 0) >= 0)
            seen = true;  /* drain probe events (topic and body frames) */
    }
    assert_true(seen);
    zmq_setsockopt(sub, ZMQ_RCVTIMEO, &timeout, sizeof timeout);

    /* Another store's order is not delivered to this subscription. */
    harness_order_fill(&o, "ev-other", HARNESS_FIRST_STORE + 3);
    Sluice__V1__Reply *r = harness_submit(c, &o, S_REPLY_MS);
    harness_expect_ack(r, SLUICE__V1__DECISION__ACCEPTED, SLUICE__V1__REASON__REASON_NONE, "other");
    harness_reply_free(&r);

    harness_order_fill(&o, "ev-1", store);
    r = harness_submit(c, &o, S_REPLY_MS);
    harness_expect_ack(r, SLUICE__V1__DECISION__ACCEPTED, SLUICE__V1__REASON__REASON_NONE, "ev-1");
    uint64_t ready = r->ack->promised_ready_at_ms, delivery = r->ack->promised_delivery_at_ms;
    harness_reply_free(&r);
    Sluice__V1__OrderEvent *ev = s_next_event(sub, topic);
    assert_string_equal(ev->order_id, "ev-1");
    assert_int_equal(ev->store_id, store);
    assert_string_equal(ev->state, "ACCEPTED");
    assert_int_equal(ev->promised_ready_at_ms, ready);
    assert_int_equal(ev->promised_delivery_at_ms, delivery);
    assert_true(ev->at_ms > 0);
    sluice__v1__order_event__free_unpacked(ev, NULL);

    r = harness_cancel(c, "ev-1", "customer changed their mind", S_REPLY_MS);
    assert_non_null(r);
    assert_int_equal(r->body_case, SLUICE__V1__REPLY__BODY_STATUS);
    harness_reply_free(&r);
    ev = s_next_event(sub, topic);
    assert_string_equal(ev->order_id, "ev-1");
    assert_string_equal(ev->state, "CANCELLED");
    assert_non_null(strstr(ev->detail, "customer changed their mind"));
    sluice__v1__order_event__free_unpacked(ev, NULL);

    /* Nothing more: the other store's order never showed up here. */
    int quiet = 300;
    zmq_setsockopt(sub, ZMQ_RCVTIMEO, &quiet, sizeof quiet);
    char frame[64];
    assert_true(zmq_recv(sub, frame, sizeof frame, 0) < 0);
    zmq_close(sub);
    harness_client_destroy(&c);
    harness_pass(h);
}

int main(void)
{
    static const harness_case_t cases[] = {
        HARNESS_CASE(test_events_follow_committed_changes),
    };
    return harness_main("events", cases, HARNESS_COUNT(cases), NULL, NULL);
}
