/* fuzz_ingress.c - libFuzzer target for what sluiced does with one ingress
 * frame before anything touches a socket or the database: decode it as
 * ingress_recv does (ingress_decode: a Request, or not one, or refused for a
 * NUL byte in a text field), then validate it the way server.c s_route and
 * its rooms do (SubmitOrder: order_validate, then order_fingerprint and
 * order_items_json as batch.c writes the row; Get/Cancel/Ready:
 * order_id_valid; Cancel: the event detail made of its reason), build the
 * answer as the rooms do (reply.c's builders) and pack it as ingress_reply
 * does (ingress_reply_pack), and free it as s_step_ingress does. A crash, a
 * leak, a sanitizer report or a broken invariant below is a bug:
 * - no text field cut at a NUL byte is handed on (fuzz_text.h's own
 *   reading of the frame is the judge), and one that ingress_decode refuses
 *   really holds a NUL byte;
 * - every request gets exactly one answer, which packs as built (never the
 *   Error 500 stand-in) within INGRESS_REPLY_MAX bytes, unpacks as a Reply
 *   to the same request_id, and holds no `string` field that is cut at a
 *   NUL byte or not UTF-8; an ack echoes only a valid order_id;
 * - a refusal names a field; every accepted order's row can be written. */
#include "fuzz_text.h"
#include "ingress.h"
#include "order.h"
#include "reply.h"

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

/* s_answer: REPLY, the one answer to REQUEST_ID, goes out as built, fits
 * the reply path and reads back whole as UTF-8 text. */
static void s_answer(const Sluice__V1__Reply *reply, uint64_t request_id, const char *what)
{
    uint8_t buf[INGRESS_REPLY_MAX];
    char why[192];
    size_t len = ingress_reply_pack(reply, buf, why, sizeof why);
    if (why[0])
        s_fail("an answer that could not go as built", why);
    if (len > INGRESS_REPLY_MAX)
        s_fail("an answer over the reply path's limit", what);
    const char *cut = fuzz_text_cut(&sluice__v1__reply__descriptor, buf, len);
    if (cut != NULL)
        s_fail("an answer with a text field holding a NUL byte", cut);
    Sluice__V1__Reply *back = sluice__v1__reply__unpack(NULL, len, buf);
    if (back == NULL)
        s_fail("an answer that is not a Reply", what);
    if (back->request_id != request_id)
        s_fail("an answer to another request", what);
    const char *bad = fuzz_text_bad_string(&back->base);
    if (bad != NULL)
        s_fail("an answer with text that is not UTF-8", bad);
    if (back->body_case == SLUICE__V1__REPLY__BODY_ACK && back->ack->order_id[0] &&
        !order_id_valid(back->ack->order_id))
        s_fail("an ack echoing an order_id that is not one", what);
    sluice__v1__reply__free_unpacked(back, NULL);
}

/* s_ack: the ack a room sends about ORDER_ID, built as reply_ack does. */
static void s_ack(uint64_t request_id, const char *order_id, Sluice__V1__Decision decision,
                  Sluice__V1__Reason reason, const char *detail)
{
    Sluice__V1__OrderAck ack = SLUICE__V1__ORDER_ACK__INIT;
    ack.order_id = (char *)order_id;
    ack.decision = decision;
    ack.reason = reason;
    ack.retry_after_ms = UINT64_MAX;
    ack.promised_ready_at_ms = UINT64_MAX;
    ack.promised_delivery_at_ms = UINT64_MAX;
    ack.duplicate = true;
    ack.detail = (char *)detail;
    reply_msg_t m;
    reply_build_ack(&m, request_id, &ack);
    s_answer(&m.reply, request_id, order_id);
}

/* s_error: an Error a room sends, built as reply_error does. */
static void s_error(uint64_t request_id, const char *message)
{
    reply_msg_t m;
    reply_build_error(&m, request_id, 400, message);
    s_answer(&m.reply, request_id, message);
}

static void s_submit(uint64_t request_id, const Sluice__V1__SubmitOrder *o)
{
    char detail[ORDER_DETAIL_MAX];
    detail[0] = '\0';
    const char *id = o->order_id ? o->order_id : "";
    if (!order_validate(o, detail, sizeof detail)) {
        /* Refused: the Reply carries a detail naming the field. */
        if (!detail[0] || !strchr(detail, ':'))
            s_fail("refusal without a detail naming the field", detail);
        if (!s_utf8(detail))
            s_fail("detail is not UTF-8 text", detail);
        s_ack(request_id, id, SLUICE__V1__DECISION__REJECTED, SLUICE__V1__REASON__INVALID, detail);
        return;
    }
    /* Any of the answers a valid order can get, with the longest detail a
     * room writes. */
    char longest[ORDER_DETAIL_MAX];
    memset(longest, 'x', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    s_ack(request_id, id, SLUICE__V1__DECISION__ACCEPTED, SLUICE__V1__REASON__REASON_NONE, "");
    s_ack(request_id, id, SLUICE__V1__DECISION__REJECTED, SLUICE__V1__REASON__CONFLICT, longest);
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

/* s_order_id: Get, Cancel and Ready refuse an id that is not one with an
 * Error; a valid one is bounded, so is the status that echoes it. */
static void s_order_id(uint64_t request_id, const char *id)
{
    if (!order_id_valid(id ? id : "")) {
        s_error(request_id, "get.order_id: 1..64 chars of [A-Za-z0-9._:-]");
        return;
    }
    if (strlen(id) < 1 || strlen(id) > ORDER_ID_MAX)
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
    Sluice__V1__Request *req = NULL;
    ingress_refusal_t refusal;
    ingress_decoded_t decoded = ingress_decode(data, size, &req, &refusal);
    const char *cut = fuzz_text_cut(&sluice__v1__request__descriptor, data, size);
    if (cut != NULL && decoded != INGRESS_REFUSED)
        s_fail("a text field cut at a NUL byte was handed on", cut);
    if (decoded == INGRESS_REFUSED) {
        if (!memchr(data, '\0', size))
            s_fail("refused for a NUL byte in a frame without one", "");
        const char *why = refusal.reply.body_case == SLUICE__V1__REPLY__BODY_ACK
                              ? refusal.ack.detail : refusal.error.message;
        if (!strstr(why, ": must not hold a NUL byte"))
            s_fail("a refusal that names no field", why);
        s_answer(&refusal.reply, refusal.reply.request_id, why);
        return 0;
    }
    if (decoded == INGRESS_NOT_REQUEST) {
        s_error(0, "request: not a sluice.v1.Request protobuf");  /* server.c s_route */
        return 0;
    }
    uint64_t id = req->request_id;
    switch (req->body_case) {
    case SLUICE__V1__REQUEST__BODY_SUBMIT:
        s_submit(id, req->submit);
        break;
    case SLUICE__V1__REQUEST__BODY_GET:
        s_order_id(id, req->get->order_id);
        break;
    case SLUICE__V1__REQUEST__BODY_CANCEL:
        s_order_id(id, req->cancel->order_id);
        s_cancel_reason(req->cancel->reason);
        break;
    case SLUICE__V1__REQUEST__BODY_READY:
        s_order_id(id, req->ready->order_id);
        break;
    default:
        s_error(id, "request: no body (expected submit, cancel, ready or get)");
        break;
    }
    sluice__v1__request__free_unpacked(req, NULL);
    return 0;
}
