/* fuzz_network.c - libFuzzer target for what the zmq adapter does with one
 * frame from a platform's gateway before any callback sees it:
 * network_wire_decode (adapters/zmq/network_wire.c), then the checks
 * zmq_adapter.c s_handle_frame relies on. A crash, a leak, a sanitizer
 * report or a broken invariant below is a bug:
 * - every string of a decoded reply ends inside its array; ids are 1..64 of
 *   [A-Za-z0-9._:-] (or empty where the protocol allows it); opaque text is
 *   printable UTF-8;
 * - enum fields hold only values adapter.h names, and the states the body
 *   allows (a cancel's state, an event's state, a settlement line's status);
 * - a dispatch that is not accepted has ended unserved (REFUSED or
 *   CANCELLED): anything else would let the daemon give the order to a
 *   second platform while a rider is coming;
 * - events come with request_id 0 and replies with one that is not;
 * - a cancel's fee is said only for a key that ended CANCELLED (the daemon
 *   puts it in place of the delivery fee), and "not said" carries 0;
 * - a refused frame says why;
 * - a frame whose text protobuf-c would cut at a NUL byte (fuzz_text.h's
 *   own reading of it) is found by wire_text_find_nul, the check the
 *   adapter makes before believing a frame's text. */
#include "fuzz_text.h"
#include "proto/network.pb-c.h"
#include "wire_text.h"
#include "zmq/network_wire.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static network_wire_reply_t s_out;  /* too big for the stack, as in zmq_adapter.c */

static void s_fail(const char *what, const char *text)
{
    fprintf(stderr, "fuzz_network: %s: %s\n", what, text ? text : "(null)");
    abort();
}

/* s_ended: FIELD holds a NUL within its SIZE bytes. */
static void s_ended(const char *field, size_t size, const char *what)
{
    if (!memchr(field, '\0', size))
        s_fail("string runs past its array", what);
}

/* s_printable: valid UTF-8 without C0, DEL or C1 controls, no overlong
 * forms, surrogates or code points past U+10FFFF. Written apart from the
 * decoder's own check on purpose. */
static void s_printable(const char *text, size_t size, const char *what)
{
    s_ended(text, size, what);
    const unsigned char *p = (const unsigned char *)text;
    while (*p) {
        uint32_t cp;
        int extra;
        if (*p < 0x80) {
            cp = *p;
            extra = 0;
        } else if (*p >= 0xc2 && *p <= 0xdf) {
            cp = *p & 0x1f;
            extra = 1;
        } else if (*p >= 0xe0 && *p <= 0xef) {
            cp = *p & 0x0f;
            extra = 2;
        } else if (*p >= 0xf0 && *p <= 0xf4) {
            cp = *p & 0x07;
            extra = 3;
        } else {
            s_fail("text is not UTF-8", what);
            return;
        }
        p++;
        for (int i = 0; i < extra; i++, p++) {
            if ((*p & 0xc0) != 0x80)
                s_fail("text is not UTF-8", what);
            cp = (cp << 6) | (*p & 0x3f);
        }
        if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            s_fail("text is not UTF-8", what);
        if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f))
            s_fail("text holds a control character", what);
    }
}

static void s_id(const char *id, bool optional, const char *what)
{
    s_ended(id, ADAPTER_ID_MAX + 1, what);
    if (!(optional && !id[0]) && !adapter_id_valid(id))
        s_fail("id is not 1..64 of [A-Za-z0-9._:-]", what);
}

static void s_state(adapter_state_t s, adapter_state_t lo, adapter_state_t hi, const char *what)
{
    if ((int)s < (int)lo || (int)s > (int)hi)
        s_fail("state out of range", what);
}

static void s_named(const char *name, const char *what)
{
    if (strcmp(name, "?") == 0)
        s_fail("a value without a name", what);
}

static void s_dispatch(const adapter_dispatch_t *d)
{
    s_id(d->key, false, "dispatch.key");
    s_printable(d->rider_ref, sizeof d->rider_ref, "dispatch.rider_ref");
    s_state(d->state, ADAPTER_STATE_REFUSED, ADAPTER_STATE_CANCELLED, "dispatch.state");
    s_named(adapter_refusal_name(d->refusal), "dispatch.refusal");
    if (!d->accepted && d->state != ADAPTER_STATE_REFUSED && d->state != ADAPTER_STATE_CANCELLED)
        s_fail("a refusal with a live state", d->key);
    if (!d->accepted && d->refusal == ADAPTER_REFUSAL_NONE)
        s_fail("a refusal without a reason", d->key);
}

/* s_cancel_fee: FEE, of a key in STATE, is said only when it is CANCELLED. */
static void s_cancel_fee(adapter_fee_t fee, adapter_state_t state, const char *key)
{
    if (fee.said && state != ADAPTER_STATE_CANCELLED)
        s_fail("a cancel fee for a key not cancelled", key);
    if (!fee.said && fee.cents != 0)
        s_fail("a cancel fee not said, yet with cents", key);
}

static void s_cancel(const adapter_cancel_t *c)
{
    s_id(c->key, false, "cancel.key");
    s_printable(c->rider_ref, sizeof c->rider_ref, "cancel.rider_ref");
    s_state(c->previous, ADAPTER_STATE_UNKNOWN, ADAPTER_STATE_CANCELLED, "cancel.previous");
    bool released = c->state == ADAPTER_STATE_CANCELLED || c->state == ADAPTER_STATE_REFUSED;
    if (!released && c->state != ADAPTER_STATE_PICKED_UP && c->state != ADAPTER_STATE_DELIVERED)
        s_fail("a cancel left a live state", c->key);
    if (c->released != released)
        s_fail("released disagrees with the state", c->key);
    s_cancel_fee(c->cancel_fee, c->state, c->key);
}

static void s_status(const adapter_status_t *s)
{
    s_id(s->key, false, "status.key");
    s_id(s->order_id, true, "status.order_id");
    s_printable(s->rider_ref, sizeof s->rider_ref, "status.rider_ref");
    s_state(s->state, ADAPTER_STATE_UNKNOWN, ADAPTER_STATE_CANCELLED, "status.state");
    s_named(adapter_refusal_name(s->refusal), "status.refusal");
    if (s->has_position && !(s->rider_position.lat >= -90 && s->rider_position.lat <= 90 &&
                             s->rider_position.lng >= -180 && s->rider_position.lng <= 180))
        s_fail("a position out of range", s->key);
    s_cancel_fee(s->cancel_fee, s->state, s->key);
}

static void s_settlement(const adapter_settlement_t *s)
{
    s_ended(s->day, sizeof s->day, "settlement.day");
    if (strlen(s->day) != ADAPTER_DAY_LEN)
        s_fail("settlement.day is not YYYY-MM-DD", s->day);
    if (s->n_lines > ADAPTER_SETTLEMENT_LINES_MAX || (s->n_lines && s->lines != s_out.lines))
        s_fail("settlement lines out of bounds", s->day);
    s_ended(s->next_page_token, sizeof s->next_page_token, "settlement.next_page_token");
    for (const char *t = s->next_page_token; *t; t++)
        if (*t < 0x21 || *t > 0x7e)
            s_fail("page token is not printable ASCII", s->next_page_token);
    for (size_t i = 0; i < s->n_lines; i++) {
        const adapter_settlement_line_t *l = &s->lines[i];
        s_id(l->key, false, "settlement.lines[].key");
        s_id(l->order_id, true, "settlement.lines[].order_id");
        s_printable(l->rider_ref, sizeof l->rider_ref, "settlement.lines[].rider_ref");
        if (l->status != ADAPTER_STATE_DELIVERED && l->status != ADAPTER_STATE_CANCELLED)
            s_fail("settlement line neither DELIVERED nor CANCELLED", l->key);
        if ((int)l->cancelled_by < ADAPTER_CANCELLED_BY_NONE ||
            (int)l->cancelled_by > ADAPTER_CANCELLED_BY_PLATFORM)
            s_fail("settlement.lines[].cancelled_by out of range", l->key);
    }
}

static void s_event(const adapter_event_t *e)
{
    s_id(e->key, false, "event.key");
    s_id(e->order_id, true, "event.order_id");
    s_printable(e->rider_ref, sizeof e->rider_ref, "event.rider_ref");
    s_printable(e->reason, sizeof e->reason, "event.reason");
    s_state(e->state, ADAPTER_STATE_ASSIGNED, ADAPTER_STATE_CANCELLED, "event.state");
    if (e->seq == 0)
        s_fail("event with seq 0", e->key);
    if ((int)e->cancelled_by < ADAPTER_CANCELLED_BY_NONE ||
        (int)e->cancelled_by > ADAPTER_CANCELLED_BY_PLATFORM)
        s_fail("event.cancelled_by out of range", e->key);
    s_cancel_fee(e->cancel_fee, e->state, e->key);
}

/* s_reply: the invariants of a frame decoded as NETWORK_WIRE_OK. */
static void s_reply(const network_wire_reply_t *r)
{
    bool unsolicited = r->body == NETWORK_WIRE_EVENT || r->body == NETWORK_WIRE_ERROR;
    if (r->body == NETWORK_WIRE_EVENT ? r->request_id != 0 : !unsolicited && r->request_id == 0)
        s_fail("request_id does not fit the body", network_wire_body_name(r->body));
    const char *key = network_wire_reply_key(r);
    bool keyed = r->body == NETWORK_WIRE_DISPATCH || r->body == NETWORK_WIRE_CANCEL ||
                 r->body == NETWORK_WIRE_STATUS || r->body == NETWORK_WIRE_SETTLEMENT;
    if (keyed != (key != NULL))
        s_fail("reply key missing or where none belongs", network_wire_body_name(r->body));
    switch (r->body) {
    case NETWORK_WIRE_QUOTE:
        s_named(adapter_refusal_name(r->u.quote.refusal), "quote.refusal");
        if (!r->u.quote.available && r->u.quote.refusal == ADAPTER_REFUSAL_NONE)
            s_fail("a quote not available without a reason", "quote");
        break;
    case NETWORK_WIRE_DISPATCH: s_dispatch(&r->u.dispatch); break;
    case NETWORK_WIRE_CANCEL: s_cancel(&r->u.cancel); break;
    case NETWORK_WIRE_STATUS: s_status(&r->u.status); break;
    case NETWORK_WIRE_SETTLEMENT: s_settlement(&r->u.settlement); break;
    case NETWORK_WIRE_ERROR:
        s_named(adapter_error_name(r->u.error.code), "error.code");
        s_printable(r->u.error.message, sizeof r->u.error.message, "error.message");
        break;
    case NETWORK_WIRE_EVENT: s_event(&r->u.event); break;
    default: s_fail("decoded without a body", network_wire_body_name(r->body));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *cut = fuzz_text_cut(&sluice__net__v1__reply__descriptor, data, size);
    char field[128];
    if (cut != NULL &&
        !wire_text_find_nul(&sluice__net__v1__reply__descriptor, data, size, field, sizeof field))
        s_fail("a text field cut at a NUL byte that wire_text_find_nul does not find", cut);
    network_wire_result_t result = network_wire_decode(data, size, &s_out);
    s_ended(s_out.problem, sizeof s_out.problem, "problem");
    if (cut != NULL && result == NETWORK_WIRE_OK)
        s_fail("a text field cut at a NUL byte was believed", cut);
    if (result == NETWORK_WIRE_OK) {
        if (s_out.problem[0])
            s_fail("a problem with a good reply", s_out.problem);
        s_reply(&s_out);
    } else if (!s_out.problem[0]) {
        s_fail("refused without saying why", network_wire_body_name(s_out.body));
    }
    return 0;
}
