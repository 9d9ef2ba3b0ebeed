/* fuzz_control.c - libFuzzer target for what the daemon does with one frame
 * from its control socket before the server sees it: decoding a
 * sluice.control.v1.Request and control_check (daemon/control.c), on the
 * write socket and on the read-only one. A crash, a leak, a sanitizer report
 * or a broken invariant below is a bug:
 * - a refused request has a code and a message that says why;
 * - nothing that changes state (pause, resume, reload) passes on the
 *   read-only socket;
 * - what passes has the current version, a body, and a store id that is
 *   not 0 where one is needed, an order id the support thread can take
 *   (order_id_valid) where one is needed. */
#include "control.h"
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

static void s_check(const control_request_t *req, bool readonly)
{
    control_code_t code = 0;
    char why[256];
    memset(why, 0, sizeof why);
    if (!control_check(req, readonly, &code, why, sizeof why)) {
        if (code == 0 || why[0] == '\0')
            s_fail("a refusal without a code or a reason");
        if (!memchr(why, '\0', sizeof why))
            s_fail("the reason runs past its buffer");
        return;
    }
    if (req == NULL)
        s_fail("an undecodable frame passed");
    if (readonly && control_is_write(req->body_case))
        s_fail("a write command passed on the read-only socket");
    if (req->version != SLUICE__CONTROL__V1__VERSION__VERSION_CURRENT)
        s_fail("another version passed");
    if (req->body_case == SLUICE__CONTROL__V1__REQUEST__BODY__NOT_SET)
        s_fail("a request without a body passed");
    if (req->body_case == SLUICE__CONTROL__V1__REQUEST__BODY_ORDER &&
        (!order_id_valid(req->order->order_id) || strlen(req->order->order_id) > ORDER_ID_MAX))
        s_fail("an order request with a bad order id passed");
    if (s_store_of(req) == 0)
        s_fail("store id 0 passed");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    control_request_t *req = sluice__control__v1__request__unpack(NULL, size, data);
    s_check(req, false);
    s_check(req, true);
    if (req)
        sluice__control__v1__request__free_unpacked(req, NULL);
    return 0;
}
