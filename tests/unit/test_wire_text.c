/* test_wire_text.c - base/wire_text.c: a NUL byte inside a `string` field of
 * a packed message is found and named by its path at any depth (the order
 * id, the second item's sku, a cancel reason), text without one passes, a
 * path too long for its buffer is cut, and bytes that are not protobuf are
 * left to the unpacker; UTF-8 is judged strictly, and repaired byte by byte
 * where it is not; a message about to be
 * packed is walked for text that is not UTF-8, through oneofs, repeated
 * fields and nested messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "wire_text.h"
#include "proto/control.pb-c.h"
#include "proto/sluice.pb-c.h"

#include <string.h>

/* s_packed packs REQ into BUF and turns every '#' of it into a NUL byte:
 * protobuf-c packs C strings, so this is how a frame with one is made. */
static size_t s_packed(const Sluice__V1__Request *req, uint8_t *buf)
{
    size_t n = sluice__v1__request__pack(req, buf);
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '#')
            buf[i] = '\0';
    return n;
}

typedef struct order {
    Sluice__V1__Request req;
    Sluice__V1__SubmitOrder submit;
    Sluice__V1__Item item[2];
    Sluice__V1__Item *items[2];
    Sluice__V1__Geo geo;
} order_t;

static void s_order(order_t *o, const char *id, const char *sku0, const char *sku1)
{
    sluice__v1__request__init(&o->req);
    sluice__v1__submit_order__init(&o->submit);
    sluice__v1__geo__init(&o->geo);
    for (int i = 0; i < 2; i++) {
        sluice__v1__item__init(&o->item[i]);
        o->item[i].quantity = 1;
        o->items[i] = &o->item[i];
    }
    o->item[0].sku = (char *)sku0;
    o->item[1].sku = (char *)sku1;
    o->submit.order_id = (char *)id;
    o->submit.store_id = 1001;
    o->submit.n_items = 2;
    o->submit.items = o->items;
    o->submit.dropoff = &o->geo;
    o->submit.customer_ref = "c-1";
    o->req.request_id = 9;
    o->req.body_case = SLUICE__V1__REQUEST__BODY_SUBMIT;
    o->req.submit = &o->submit;
}

static void s_nul_at(const uint8_t *buf, size_t n, const char *path)
{
    char field[128] = "x";
    bool found = wire_text_find_nul(&sluice__v1__request__descriptor, buf, n, field, sizeof field);
    if (path == NULL) {
        if (found)
            fail_msg("a NUL found in %s", field);
        assert_string_equal(field, "");
        return;
    }
    if (!found)
        fail_msg("no NUL found; expected one in %s", path);
    assert_string_equal(field, path);
}

static void test_nul_named(void **state)
{
    (void)state;
    uint8_t buf[1024];
    order_t o;
    s_order(&o, "A#first", "milk-tea", "tea");
    s_nul_at(buf, s_packed(&o.req, buf), "submit.order_id");
    s_order(&o, "A-first", "milk-tea", "milk#-tea-with-extra");
    s_nul_at(buf, s_packed(&o.req, buf), "submit.items[1].sku");
    s_order(&o, "A-first", "milk#", "tea");
    s_nul_at(buf, s_packed(&o.req, buf), "submit.items[0].sku");
    s_order(&o, "A-first", "milk-tea", "tea");
    s_nul_at(buf, s_packed(&o.req, buf), NULL);
    o.submit.customer_ref = "#";
    s_nul_at(buf, s_packed(&o.req, buf), "submit.customer_ref");

    Sluice__V1__CancelOrder cancel = SLUICE__V1__CANCEL_ORDER__INIT;
    Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
    req.body_case = SLUICE__V1__REQUEST__BODY_CANCEL;
    req.cancel = &cancel;
    cancel.order_id = "o-1";
    cancel.reason = "changed my mind#; refund";
    s_nul_at(buf, s_packed(&req, buf), "cancel.reason");

    /* the path cut to its buffer, never past it */
    s_order(&o, "A-first", "milk-tea", "tea#");
    size_t n = s_packed(&o.req, buf);
    char small[12];
    memset(small, 'x', sizeof small);
    assert_true(wire_text_find_nul(&sluice__v1__request__descriptor, buf, n, small, sizeof small));
    assert_string_equal(small, "submit.item");
    char none[1] = { 'x' };
    assert_true(wire_text_find_nul(&sluice__v1__request__descriptor, buf, n, none, sizeof none));
    assert_int_equal(none[0], '\0');
    /* an unknown field numbered 0 (written 0x80 0x00) before: protobuf-c
     * reads on, so does the walk */
    uint8_t odd[1100] = { 0x80, 0x00, 0x22 };
    memcpy(odd + 3, buf, n);
    assert_true(wire_text_find_nul(&sluice__v1__request__descriptor, odd, n + 3, small,
                                   sizeof small));
    Sluice__V1__Request *back = sluice__v1__request__unpack(NULL, n + 3, odd);
    assert_non_null(back);
    sluice__v1__request__free_unpacked(back, NULL);
    /* not protobuf: left to the unpacker, which refuses it */
    assert_false(wire_text_find_nul(&sluice__v1__request__descriptor, buf, n - 1, small,
                                    sizeof small));
    static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0x0b, 0x00 };
    assert_false(wire_text_find_nul(&sluice__v1__request__descriptor, junk, sizeof junk, small,
                                    sizeof small));
    assert_false(wire_text_find_nul(&sluice__v1__request__descriptor, junk, 0, small,
                                    sizeof small));
}

static void test_utf8(void **state)
{
    (void)state;
    static const char *const good[] = { "", "tea", "caf\xc3\xa9", "\xe5\x8f\x96\xe6\xb6\x88",
                                        "\xf0\x9f\x8d\xb5", "\xf4\x8f\xbf\xbf", "\xed\x9f\xbf" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!wire_text_utf8(good[i], strlen(good[i])))
            fail_msg("good text %zu refused", i);
    static const char *const bad[] = { "\xff", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80",
                                       "\xf4\x90\x80\x80", "tea\xe6\x8a", "\xe6\x8a" "a",
                                       "\x80", "\xf8\x88\x80\x80\x80" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (wire_text_utf8(bad[i], strlen(bad[i])))
            fail_msg("bad text %zu taken", i);
    assert_true(wire_text_utf8("a\0b", 3));               /* NUL is text to UTF-8 */
    assert_false(wire_text_utf8("\xe5\x8f\x96", 2));      /* cut by the length given */

    char text[] = "caf\xc3\xa9 \xff \xc0\xaf \xe5\x8f\x96\xe6\xb6";
    assert_int_equal(wire_text_repair(text), 5);
    assert_string_equal(text, "caf\xc3\xa9 ? ?? \xe5\x8f\x96??");
    assert_int_equal(wire_text_repair(text), 0);
}

static void test_invalid_named(void **state)
{
    (void)state;
    char field[128];
    Sluice__V1__OrderAck ack = SLUICE__V1__ORDER_ACK__INIT;
    ack.order_id = "caf\xc3\xa9";
    Sluice__V1__Reply reply = SLUICE__V1__REPLY__INIT;
    reply.body_case = SLUICE__V1__REPLY__BODY_ACK;
    reply.ack = &ack;
    assert_false(wire_text_find_invalid(&reply.base, field, sizeof field));
    assert_string_equal(field, "");
    ack.detail = "order_id: \xff";
    assert_true(wire_text_find_invalid(&reply.base, field, sizeof field));
    assert_string_equal(field, "ack.detail");
    /* another member of the oneof set: the ack is not looked at */
    Sluice__V1__Error error = SLUICE__V1__ERROR__INIT;
    error.message = "fine";
    reply.body_case = SLUICE__V1__REPLY__BODY_ERROR;
    reply.error = &error;
    assert_false(wire_text_find_invalid(&reply.base, field, sizeof field));

    /* repeated messages, nested */
    Sluice__Control__V1__OrderEvent ev[2];
    Sluice__Control__V1__OrderEvent *evp[2] = { &ev[0], &ev[1] };
    for (int i = 0; i < 2; i++)
        sluice__control__v1__order_event__init(&ev[i]);
    ev[0].detail = "cancelled: \xe5\x8f\x96\xe6\xb6\x88";
    ev[1].detail = "cancelled: \xe5\x8f";
    Sluice__Control__V1__OrderRow row = SLUICE__CONTROL__V1__ORDER_ROW__INIT;
    Sluice__Control__V1__OrderReply order = SLUICE__CONTROL__V1__ORDER_REPLY__INIT;
    order.order = &row;
    order.n_events = 2;
    order.events = evp;
    Sluice__Control__V1__Reply creply = SLUICE__CONTROL__V1__REPLY__INIT;
    creply.body_case = SLUICE__CONTROL__V1__REPLY__BODY_ORDER;
    creply.order = &order;
    assert_true(wire_text_find_invalid(&creply.base, field, sizeof field));
    assert_string_equal(field, "order.events[1].detail");
    ev[1].detail = NULL;
    row.customer_ref = "\xc0\xaf";
    assert_true(wire_text_find_invalid(&creply.base, field, sizeof field));
    assert_string_equal(field, "order.order.customer_ref");
    row.customer_ref = "";
    assert_false(wire_text_find_invalid(&creply.base, field, sizeof field));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nul_named),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_invalid_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
