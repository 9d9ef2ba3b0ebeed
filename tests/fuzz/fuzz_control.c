/* fuzz_control.c - libFuzzer target for what the daemon does with one frame
 * from its control socket before the server sees it: control_decode
 * (daemon/control.c: unpacking a sluice.control.v1.Request, refusing text
 * with a NUL byte, control_check), on the write socket and on the read-only
 * one. A crash, a leak, a sanitizer report or a broken invariant below is a
 * bug:
 * - a refused request has a code and a message that says why, UTF-8 text
 *   that fits its buffer (the one answer it gets is an Error with it);
 * - no text field cut at a NUL byte passes (fuzz_text.h's own reading of
 *   the frame is the judge);
 * - nothing that changes state (pause, resume, reload), and no order (a
 *   customer's data), passes on the read-only socket;
 * - what passes has the current version, a body, and a store id that is
 *   not 0 where one is needed, an order id the support thread can take
 *   (order_id_valid) where one is needed, and a `by` that is UTF-8 text. */
#include "control.h"
#include "fuzz_text.h"
#include "order.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void s_fail(const char *what)
{
    fprintf(stderr, "fuzz_control: %s\n", what);
    abort();
}

static uint32_t s_store_of(const control_request_t *req)
{
    switch (req->body_case) {
    case SLUICE__CONTROL__V1__REQUEST__BODY_STORE: return req->store->store_id;
    case SLUICE__CONTROL__V1__REQUEST__BODY_STORE_DAY: return req->store_day->store_id;
    case SLUICE__CONTROL__V1__REQUEST__BODY_PAUSE: return req->pause->store_id;
    case SLUICE__CONTROL__V1__REQUEST__BODY_RESUME: return req->resume->store_id;
    default: return 1;
    }
}

/* s_by: a pause's or resume's `by`, stored in PostgreSQL and logged. */
static void s_by(const char *by)
{
    for (const unsigned char *p = (const unsigned char *)by; p && *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            s_fail("a `by` with a control character passed");
    if (by && (!fuzz_text_utf8(by) || strlen(by) > CONTROL_BY_MAX))
        s_fail("a `by` that is not UTF-8 text of at most 64 bytes passed");
}

static void s_check(const uint8_t *data, size_t size, bool readonly, const char *cut)
{
    control_code_t code = 0;
    char why[256];
    memset(why, 0, sizeof why);
    control_request_t *req = NULL;
    if (!control_decode(data, size, readonly, &req, &code, why, sizeof why)) {
        if (code == 0 || why[0] == '\0')
            s_fail("a refusal without a code or a reason");
        if (!memchr(why, '\0', sizeof why))
            s_fail("the reason runs past its buffer");
        if (!fuzz_text_utf8(why))
            s_fail("a reason that is not UTF-8 text");
        if (req)
            sluice__control__v1__request__free_unpacked(req, NULL);
        return;
    }
    if (req == NULL)
        s_fail("an undecodable frame passed");
    if (cut != NULL)
        s_fail("a text field cut at a NUL byte passed");
    if (readonly && control_is_write(req->body_case))
        s_fail("a write command passed on the read-only socket");
    if (readonly && !control_readonly_allows(req->body_case))
        s_fail("a command the read-only socket does not allow passed there");
    if (req->body_case == SLUICE__CONTROL__V1__REQUEST__BODY_PAUSE)
        s_by(req->pause->by);
    if (req->body_case == SLUICE__CONTROL__V1__REQUEST__BODY_RESUME)
        s_by(req->resume->by);
    if (req->version != SLUICE__CONTROL__V1__VERSION__VERSION_CURRENT)
        s_fail("another version passed");
    if (req->body_case == SLUICE__CONTROL__V1__REQUEST__BODY__NOT_SET)
        s_fail("a request without a body passed");
    if (req->body_case == SLUICE__CONTROL__V1__REQUEST__BODY_ORDER &&
        (!order_id_valid(req->order->order_id) || strlen(req->order->order_id) > ORDER_ID_MAX))
        s_fail("an order request with a bad order id passed");
    if (s_store_of(req) == 0)
        s_fail("store id 0 passed");
    sluice__control__v1__request__free_unpacked(req, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *cut = fuzz_text_cut(&sluice__control__v1__request__descriptor, data, size);
    s_check(data, size, false, cut);
    s_check(data, size, true, cut);
    return 0;
}
