/* fuzz_ingress.c - libFuzzer target for what sluiced does with one ingress
 * frame before anything touches a socket or the database: decode it as a
 * sluice.v1.Request, then validate it the way server.c s_route and its rooms do
 * (SubmitOrder: order_validate, then order_fingerprint and order_items_json
 * as batch.c writes the row; Get/Cancel/Ready: order_id_valid; Cancel: the
 * event detail made of its reason), and free it
 * as s_step_ingress does. A crash, a leak, a sanitizer report or a broken
 * invariant below is a bug. */
#include "order.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The buffer batch_queue_add gives order_items_json (daemon/batch.c):
 * every validated order must fit in it, or its row could never be written. */
#define ITEMS_JSON_MAX (ORDER_ITEMS_MAX * (2 * ORDER_SKU_MAX * 4 + 32) + 8)

static void s_fail(const char *what, const char *text)
{
    fprintf(stderr, "fuzz_ingress: %s: %s\n", what, text ? text : "(null)");
    abort();
}

/* s_utf8 is true when TEXT is valid UTF-8 (CONTROLS: control characters
 * allowed): what a detail must be to go back in a Reply or into the database.
 * Overlong forms and surrogates are left to order.c's own checks. */
static int s_utf8_text(const char *text, int controls)
{
    const unsigned char *p = (const unsigned char *)text;
    while (*p) {
        unsigned char c = *p++;
        int extra = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2
                  : (c & 0xf8) == 0xf0 ? 3 : -1;
        if (extra < 0 || (extra == 0 && !controls && (c < 0x20 || c == 0x7f)))
            return 0;
        for (int i = 0; i < extra; i++)
            if ((*p++ & 0xc0) != 0x80)
                return 0;
    }
    return 1;
}

static int s_utf8(const char *text)
{
    return s_utf8_text(text, 0);
}

static void s_submit(const Sluice__V1__SubmitOrder *o)
{
    char detail[ORDER_DETAIL_MAX];
    detail[0] = '\0';
    if (!order_validate(o, detail, sizeof detail)) {
        /* Refused: the Reply carries a detail naming the field. */
        if (!detail[0] || !strchr(detail, ':'))
            s_fail("refusal without a detail naming the field", detail);
        if (!s_utf8(detail))
            s_fail("detail is not UTF-8 text", detail);
        return;
    }
    /* Admitted to the batch: fingerprint, drinks, the items column. */
    volatile uint64_t fp = order_fingerprint(o);
    volatile unsigned drinks = order_drink_count(o);
    (void)fp;
    if (drinks < o->n_items || drinks > ORDER_ITEMS_MAX * ORDER_QUANTITY_MAX)
        s_fail("drink count out of bounds for a valid order", o->order_id);
    char *json = malloc(ITEMS_JSON_MAX);
    if (!json)
        return;
    size_t n = order_items_json(o, json, ITEMS_JSON_MAX);
    if (n == 0)
        s_fail("items of a valid order do not fit the batch's buffer", o->order_id);
    if (n != strlen(json) || json[0] != '[' || json[n - 1] != ']')
        s_fail("items JSON is malformed", json);
    if (!s_utf8(json))
        s_fail("items JSON is not UTF-8 text", json);
    free(json);
}

static void s_order_id(const char *id)
{
    if (order_id_valid(id ? id : "") && (strlen(id) < 1 || strlen(id) > ORDER_ID_MAX))
        s_fail("order_id_valid accepted an id out of bounds", id);
}

/* s_cancel_reason: what lifecycle.c puts in the change's order_events row. */
static void s_cancel_reason(const char *reason)
{
    char detail[ORDER_DETAIL_MAX];
    if (!order_cancel_detail(reason, detail, sizeof detail))
        return;  /* answered 400 cancel.reason */
    if (!s_utf8_text(detail, 1))
        s_fail("cancel detail is not UTF-8 (PostgreSQL refuses the whole change batch)", detail);
    if (strlen(detail) > strlen("cancelled: ") + ORDER_REASON_MAX)
        s_fail("cancel detail longer than the reason's bound", detail);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Sluice__V1__Request *req = sluice__v1__request__unpack(NULL, size, data);
    if (!req)
        return 0;  /* answered "not a sluice.v1.Request protobuf" */
    switch (req->body_case) {
    case SLUICE__V1__REQUEST__BODY_SUBMIT:
        s_submit(req->submit);
        break;
    case SLUICE__V1__REQUEST__BODY_GET:
        s_order_id(req->get->order_id);
        break;
    case SLUICE__V1__REQUEST__BODY_CANCEL:
        s_order_id(req->cancel->order_id);
        s_cancel_reason(req->cancel->reason);
        break;
    case SLUICE__V1__REQUEST__BODY_READY:
        s_order_id(req->ready->order_id);
        break;
    default:
        break;  /* answered "request: no body" */
    }
    sluice__v1__request__free_unpacked(req, NULL);
    return 0;
}
