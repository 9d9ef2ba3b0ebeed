/* network_wire.c - owns proto/network.proto on our side of the wire:
 * encoding Requests, decoding and checking a gateway's Replies. */
#include "network_wire.h"

#include "proto/network.pb-c.h"
#include "wire_text.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef Sluice__Net__V1__Reply reply_pb_t;

/* adapter.h's values carry the wire's numbers, so a value is checked for
 * range and then used as it is. */
#define SAME(ours, wire) _Static_assert((int)(ours) == (int)(wire), #ours " is " #wire)
SAME(ADAPTER_STATE_UNKNOWN, SLUICE__NET__V1__DISPATCH_STATE__UNKNOWN);
SAME(ADAPTER_STATE_REFUSED, SLUICE__NET__V1__DISPATCH_STATE__REFUSED);
SAME(ADAPTER_STATE_PENDING, SLUICE__NET__V1__DISPATCH_STATE__PENDING);
SAME(ADAPTER_STATE_ASSIGNED, SLUICE__NET__V1__DISPATCH_STATE__ASSIGNED);
SAME(ADAPTER_STATE_ARRIVED, SLUICE__NET__V1__DISPATCH_STATE__ARRIVED);
SAME(ADAPTER_STATE_PICKED_UP, SLUICE__NET__V1__DISPATCH_STATE__PICKED_UP);
SAME(ADAPTER_STATE_DELIVERED, SLUICE__NET__V1__DISPATCH_STATE__DELIVERED);
SAME(ADAPTER_STATE_CANCELLED, SLUICE__NET__V1__DISPATCH_STATE__CANCELLED);
SAME(ADAPTER_REFUSAL_NO_RIDER, SLUICE__NET__V1__REFUSAL__NO_RIDER);
SAME(ADAPTER_REFUSAL_OUT_OF_AREA, SLUICE__NET__V1__REFUSAL__OUT_OF_AREA);
SAME(ADAPTER_REFUSAL_KEY_CANCELLED, SLUICE__NET__V1__REFUSAL__KEY_CANCELLED);
SAME(ADAPTER_CANCELLED_BY_CLIENT, SLUICE__NET__V1__CANCELLED_BY__CANCELLED_BY_CLIENT);
SAME(ADAPTER_CANCELLED_BY_PLATFORM, SLUICE__NET__V1__CANCELLED_BY__CANCELLED_BY_PLATFORM);
SAME(ADAPTER_ERR_BAD_REQUEST, SLUICE__NET__V1__ERROR_CODE__BAD_REQUEST);
SAME(ADAPTER_ERR_UNSUPPORTED_VERSION, SLUICE__NET__V1__ERROR_CODE__UNSUPPORTED_VERSION);
SAME(ADAPTER_ERR_KEY_CONFLICT, SLUICE__NET__V1__ERROR_CODE__KEY_CONFLICT);
SAME(ADAPTER_ERR_UNAVAILABLE, SLUICE__NET__V1__ERROR_CODE__UNAVAILABLE);
SAME(ADAPTER_ERR_INTERNAL, SLUICE__NET__V1__ERROR_CODE__INTERNAL);
SAME(NETWORK_WIRE_VERSION, SLUICE__NET__V1__VERSION__VERSION_CURRENT);

/* ==== text ============================================================ */

/* s_utf8_len: length of the valid, printable UTF-8 sequence at P (at most N
 * bytes available), or 0 when it is a control character, an overlong form,
 * a surrogate, past U+10FFFF or cut short. */
static size_t s_utf8_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return c >= 0x20 && c != 0x7f;
    size_t len = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (len == 0 || len > n)
        return 0;
    uint32_t cp = c & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    static const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
        (cp >= 0x80 && cp <= 0x9f))  /* C1 controls */
        return 0;
    return len;
}

/* s_text_ok: TEXT is valid UTF-8 without control characters, at most MAX
 * bytes (what a gateway's parser will take in a proto3 string). */
static bool s_text_ok(const char *text, size_t max)
{
    size_t n = strlen(text);
    if (n > max)
        return false;
    for (size_t i = 0; i < n;) {
        size_t len = s_utf8_len((const unsigned char *)text + i, n - i);
        if (len == 0)
            return false;
        i += len;
    }
    return true;
}

/* s_copy_text copies opaque text from a gateway into DST (CAP bytes with
 * the NUL): a byte that does not start a printable UTF-8 character becomes
 * '?', and the text is cut at a character boundary. Such text only reaches
 * logs and the database, where it must be text. */
static void s_copy_text(char *dst, size_t cap, const char *src)
{
    const unsigned char *p = (const unsigned char *)(src ? src : "");
    size_t n = strlen((const char *)p), out = 0;
    for (size_t i = 0; i < n;) {
        size_t len = s_utf8_len(p + i, n - i);
        size_t put = len ? len : 1;
        if (out + put >= cap)
            break;
        if (len)
            memcpy(dst + out, p + i, len);
        else
            dst[out] = '?';
        out += put;
        i += put;
    }
    dst[out] = '\0';
}

/* s_copy_id copies an id (a key or an order id) into DST, which holds
 * ADAPTER_ID_MAX + 1 bytes. False unless it is valid, or empty when
 * OPTIONAL. */
static bool s_copy_id(char *dst, const char *src, bool optional)
{
    src = src ? src : "";
    if (!(optional && !src[0]) && !adapter_id_valid(src))
        return false;
    snprintf(dst, ADAPTER_ID_MAX + 1, "%s", src);
    return true;
}

/* s_day_ok: "YYYY-MM-DD" in digits (the gateway judges the date itself). */
static bool s_day_ok(const char *day)
{
    if (!day || strlen(day) != ADAPTER_DAY_LEN)
        return false;
    for (size_t i = 0; i < ADAPTER_DAY_LEN; i++)
        if (i == 4 || i == 7 ? day[i] != '-' : (day[i] < '0' || day[i] > '9'))
            return false;
    return true;
}

/* s_token_ok: a page token is printable ASCII, at most 128 bytes, so we
 * can log it, store it and send it back unchanged. */
static bool s_token_ok(const char *token)
{
    size_t n = strlen(token);
    for (size_t i = 0; i < n; i++)
        if (token[i] < 0x21 || token[i] > 0x7e)
            return false;
    return n <= ADAPTER_PAGE_TOKEN_MAX;
}

/* ==== encoding ========================================================= */

static bool s_geo_ok(adapter_geo_t g)
{
    return isfinite(g.lat) && isfinite(g.lng) && g.lat >= -90 && g.lat <= 90 && g.lng >= -180 &&
           g.lng <= 180;
}

/* s_check_order: the fields a quote and a dispatch share; NULL or the
 * problem, named for the request (DISPATCH: 1 for a dispatch). */
static const char *s_check_order(int dispatch, adapter_geo_t pickup, adapter_geo_t dropoff,
                                 uint64_t ready_at_ms, uint32_t items)
{
    static const char *const problems[2][4] = {
        {"quote.pickup: lat -90..90, lng -180..180", "quote.dropoff: lat -90..90, lng -180..180",
         "quote.ready_at_ms: required", "quote.items: 1..1000"},
        {"dispatch.pickup: lat -90..90, lng -180..180",
         "dispatch.dropoff: lat -90..90, lng -180..180", "dispatch.ready_at_ms: required",
         "dispatch.items: 1..1000"},
    };
    if (!s_geo_ok(pickup))
        return problems[dispatch][0];
    if (!s_geo_ok(dropoff))
        return problems[dispatch][1];
    if (ready_at_ms == 0)
        return problems[dispatch][2];
    if (items < 1 || items > ADAPTER_ITEMS_MAX)
        return problems[dispatch][3];
    return NULL;
}

/* s_pack stamps REQ with the version and REQUEST_ID and packs it into OUT. */
static bool s_pack(Sluice__Net__V1__Request *req, uint64_t request_id, network_wire_frame_t *out,
                   const char **why)
{
    if (request_id == 0) {
        *why = "request_id: 0 is reserved for events";
        return false;
    }
    req->version = NETWORK_WIRE_VERSION;
    req->request_id = request_id;
    size_t len = sluice__net__v1__request__get_packed_size(req);
    if (len > sizeof out->data) {
        *why = "request: longer than a frame we send";
        return false;
    }
    out->len = sluice__net__v1__request__pack(req, out->data);
    return true;
}

bool network_wire_encode_quote(uint64_t request_id, const adapter_quote_req_t *q,
                               network_wire_frame_t *out, const char **why)
{
    const char *order_id = q->order_id ? q->order_id : "";
    *why = order_id[0] && !adapter_id_valid(order_id)
               ? "quote.order_id: 1..64 characters of [A-Za-z0-9._:-], or none"
               : s_check_order(0, q->pickup, q->dropoff, q->ready_at_ms, q->items);
    if (*why)
        return false;
    Sluice__Net__V1__Geo pickup = SLUICE__NET__V1__GEO__INIT, dropoff = SLUICE__NET__V1__GEO__INIT;
    pickup.lat = q->pickup.lat;
    pickup.lng = q->pickup.lng;
    dropoff.lat = q->dropoff.lat;
    dropoff.lng = q->dropoff.lng;
    Sluice__Net__V1__QuoteRequest body = SLUICE__NET__V1__QUOTE_REQUEST__INIT;
    body.order_id = (char *)order_id;
    body.store_id = q->store_id;
    body.pickup = &pickup;
    body.dropoff = &dropoff;
    body.ready_at_ms = q->ready_at_ms;
    body.items = q->items;
    Sluice__Net__V1__Request req = SLUICE__NET__V1__REQUEST__INIT;
    req.body_case = SLUICE__NET__V1__REQUEST__BODY_QUOTE;
    req.quote = &body;
    return s_pack(&req, request_id, out, why);
}

bool network_wire_encode_dispatch(uint64_t request_id, const adapter_dispatch_req_t *d,
                                  network_wire_frame_t *out, const char **why)
{
    if (!adapter_id_valid(d->key))
        *why = "dispatch.key: 1..64 characters of [A-Za-z0-9._:-]";
    else if (!adapter_id_valid(d->order_id))
        *why = "dispatch.order_id: 1..64 characters of [A-Za-z0-9._:-]";
    else
        *why = s_check_order(1, d->pickup, d->dropoff, d->ready_at_ms, d->items);
    if (*why)
        return false;
    Sluice__Net__V1__Geo pickup = SLUICE__NET__V1__GEO__INIT, dropoff = SLUICE__NET__V1__GEO__INIT;
    pickup.lat = d->pickup.lat;
    pickup.lng = d->pickup.lng;
    dropoff.lat = d->dropoff.lat;
    dropoff.lng = d->dropoff.lng;
    Sluice__Net__V1__DispatchRequest body = SLUICE__NET__V1__DISPATCH_REQUEST__INIT;
    body.key = (char *)d->key;
    body.order_id = (char *)d->order_id;
    body.store_id = d->store_id;
    body.pickup = &pickup;
    body.dropoff = &dropoff;
    body.ready_at_ms = d->ready_at_ms;
    body.items = d->items;
    body.deliver_by_ms = d->deliver_by_ms;
    Sluice__Net__V1__Request req = SLUICE__NET__V1__REQUEST__INIT;
    req.body_case = SLUICE__NET__V1__REQUEST__BODY_DISPATCH;
    req.dispatch = &body;
    return s_pack(&req, request_id, out, why);
}

bool network_wire_encode_cancel(uint64_t request_id, const char *key, const char *reason,
                                network_wire_frame_t *out, const char **why)
{
    reason = reason ? reason : "";
    if (!adapter_id_valid(key))
        *why = "cancel.key: 1..64 characters of [A-Za-z0-9._:-]";
    else if (!s_text_ok(reason, ADAPTER_REASON_MAX))
        *why = "cancel.reason: at most 200 bytes of printable UTF-8";
    else
        *why = NULL;
    if (*why)
        return false;
    Sluice__Net__V1__CancelRequest body = SLUICE__NET__V1__CANCEL_REQUEST__INIT;
    body.key = (char *)key;
    body.reason = (char *)reason;
    Sluice__Net__V1__Request req = SLUICE__NET__V1__REQUEST__INIT;
    req.body_case = SLUICE__NET__V1__REQUEST__BODY_CANCEL;
    req.cancel = &body;
    return s_pack(&req, request_id, out, why);
}

bool network_wire_encode_status(uint64_t request_id, const char *key, network_wire_frame_t *out,
                                const char **why)
{
    *why = adapter_id_valid(key) ? NULL : "status.key: 1..64 characters of [A-Za-z0-9._:-]";
    if (*why)
        return false;
    Sluice__Net__V1__StatusRequest body = SLUICE__NET__V1__STATUS_REQUEST__INIT;
    body.key = (char *)key;
    Sluice__Net__V1__Request req = SLUICE__NET__V1__REQUEST__INIT;
    req.body_case = SLUICE__NET__V1__REQUEST__BODY_STATUS;
    req.status = &body;
    return s_pack(&req, request_id, out, why);
}

bool network_wire_encode_settlement(uint64_t request_id, const adapter_settlement_req_t *s,
                                    network_wire_frame_t *out, const char **why)
{
    const char *token = s->page_token ? s->page_token : "";
    if (!s_day_ok(s->day))
        *why = "settlement.day: YYYY-MM-DD";
    else if (s->utc_offset_minutes < -840 || s->utc_offset_minutes > 840)
        *why = "settlement.utc_offset_minutes: -840..840";
    else if (!s_token_ok(token))
        *why = "settlement.page_token: at most 128 bytes of printable ASCII";
    else
        *why = NULL;
    if (*why)
        return false;
    Sluice__Net__V1__SettlementRequest body = SLUICE__NET__V1__SETTLEMENT_REQUEST__INIT;
    body.day = (char *)s->day;
    body.utc_offset_minutes = s->utc_offset_minutes;
    body.page_token = (char *)token;
    body.max_lines = s->max_lines;
    Sluice__Net__V1__Request req = SLUICE__NET__V1__REQUEST__INIT;
    req.body_case = SLUICE__NET__V1__REQUEST__BODY_SETTLEMENT;
    req.settlement = &body;
    return s_pack(&req, request_id, out, why);
}

/* ==== decoding ========================================================= */

/* s_bad records why OUT is not to be believed; always false. */
static bool s_bad(network_wire_reply_t *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static bool s_bad(network_wire_reply_t *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->problem, sizeof out->problem, fmt, ap);
    va_end(ap);
    return false;
}

/* s_state: the wire's DispatchState when it is one we know and LO..HI. */
static bool s_state(int v, adapter_state_t lo, adapter_state_t hi, adapter_state_t *out)
{
    if (v < (int)lo || v > (int)hi)
        return false;
    *out = (adapter_state_t)v;
    return true;
}

static adapter_refusal_t s_refusal(int v)
{
    return v >= ADAPTER_REFUSAL_NONE && v <= ADAPTER_REFUSAL_KEY_CANCELLED ? (adapter_refusal_t)v
                                                                           : ADAPTER_REFUSAL_OTHER;
}

static adapter_cancelled_by_t s_cancelled_by(int v)
{
    return v == ADAPTER_CANCELLED_BY_CLIENT || v == ADAPTER_CANCELLED_BY_PLATFORM
               ? (adapter_cancelled_by_t)v : ADAPTER_CANCELLED_BY_NONE;
}

/* s_cancel_fee: what a key in STATE costs for its cancel: the message's
 * cancel_fee when set (0 included); else, from a gateway older than that
 * field, a non-zero fee_cents, which it documented as the cancel's charge;
 * else not said. Nothing for a key not CANCELLED. */
static adapter_fee_t s_cancel_fee(adapter_state_t state, const Sluice__Net__V1__Fee *cancel_fee,
                                  uint32_t fee_cents)
{
    if (state != ADAPTER_STATE_CANCELLED)
        return (adapter_fee_t){0};
    if (cancel_fee)
        return (adapter_fee_t){.said = true, .cents = cancel_fee->cents};
    return (adapter_fee_t){.said = fee_cents > 0, .cents = fee_cents};
}

/* s_position: a rider position is information only; one out of range is
 * treated as not known. */
static bool s_position(const Sluice__Net__V1__Geo *g, adapter_geo_t *out)
{
    if (!g || !s_geo_ok((adapter_geo_t){g->lat, g->lng}))
        return false;
    *out = (adapter_geo_t){g->lat, g->lng};
    return true;
}

static bool s_quote(const Sluice__Net__V1__QuoteReply *q, network_wire_reply_t *out)
{
    adapter_quote_t *r = &out->u.quote;
    r->available = q->available;
    r->refusal = s_refusal(q->refusal);
    if (!r->available && r->refusal == ADAPTER_REFUSAL_NONE)
        r->refusal = ADAPTER_REFUSAL_OTHER;  /* not available needs a reason */
    r->pickup_at_ms = q->pickup_at_ms;
    r->delivery_at_ms = q->delivery_at_ms;
    r->fee_cents = q->fee_cents;
    return true;
}

/* s_dispatch: the decision must agree with the state, because the daemon
 * sends the order elsewhere on a refusal: "not accepted" with a live state
 * would mean two riders, so it is believed by no one. */
static bool s_dispatch(const Sluice__Net__V1__DispatchReply *d, network_wire_reply_t *out)
{
    adapter_dispatch_t *r = &out->u.dispatch;
    if (!s_copy_id(r->key, d->key, false))
        return s_bad(out, "dispatch.key: not 1..64 characters of [A-Za-z0-9._:-]");
    if (!s_state(d->state, ADAPTER_STATE_REFUSED, ADAPTER_STATE_CANCELLED, &r->state))
        return s_bad(out, "dispatch.state: %d is not a state after a dispatch", (int)d->state);
    r->accepted = d->accepted;
    bool ended_unserved = r->state == ADAPTER_STATE_REFUSED || r->state == ADAPTER_STATE_CANCELLED;
    if (!r->accepted && !ended_unserved)
        return s_bad(out, "dispatch: not accepted, yet state %s", adapter_state_name(r->state));
    if (r->accepted && r->state == ADAPTER_STATE_REFUSED)
        return s_bad(out, "dispatch: accepted, yet state REFUSED");
    r->refusal = s_refusal(d->refusal);
    if (!r->accepted && r->refusal == ADAPTER_REFUSAL_NONE)
        r->refusal = ADAPTER_REFUSAL_OTHER;
    r->duplicate = d->duplicate;
    s_copy_text(r->rider_ref, sizeof r->rider_ref, d->rider_ref);
    r->pickup_at_ms = d->pickup_at_ms;
    r->delivery_at_ms = d->delivery_at_ms;
    r->fee_cents = d->fee_cents;
    return true;
}

static bool s_cancel(const Sluice__Net__V1__CancelReply *c, network_wire_reply_t *out)
{
    adapter_cancel_t *r = &out->u.cancel;
    if (!s_copy_id(r->key, c->key, false))
        return s_bad(out, "cancel.key: not 1..64 characters of [A-Za-z0-9._:-]");
    if (!s_state(c->previous, ADAPTER_STATE_UNKNOWN, ADAPTER_STATE_CANCELLED, &r->previous))
        return s_bad(out, "cancel.previous: %d is not a state", (int)c->previous);
    if (!s_state(c->state, ADAPTER_STATE_REFUSED, ADAPTER_STATE_CANCELLED, &r->state) ||
        r->state == ADAPTER_STATE_PENDING || r->state == ADAPTER_STATE_ASSIGNED ||
        r->state == ADAPTER_STATE_ARRIVED)
        return s_bad(out, "cancel.state: %d is not a state after a cancel", (int)c->state);
    r->released = r->state == ADAPTER_STATE_CANCELLED || r->state == ADAPTER_STATE_REFUSED;
    s_copy_text(r->rider_ref, sizeof r->rider_ref, c->rider_ref);
    r->fee_cents = c->fee_cents;
    r->cancel_fee = s_cancel_fee(r->state, c->cancel_fee, c->fee_cents);
    return true;
}

static bool s_status(const Sluice__Net__V1__StatusReply *s, network_wire_reply_t *out)
{
    adapter_status_t *r = &out->u.status;
    if (!s_copy_id(r->key, s->key, false))
        return s_bad(out, "status.key: not 1..64 characters of [A-Za-z0-9._:-]");
    if (!s_state(s->state, ADAPTER_STATE_UNKNOWN, ADAPTER_STATE_CANCELLED, &r->state))
        return s_bad(out, "status.state: %d is not a state", (int)s->state);
    if (!s_copy_id(r->order_id, s->order_id, true))
        return s_bad(out, "status.order_id: not 1..64 characters of [A-Za-z0-9._:-]");
    s_copy_text(r->rider_ref, sizeof r->rider_ref, s->rider_ref);
    r->seq = s->seq;
    r->updated_at_ms = s->updated_at_ms;
    r->assigned_at_ms = s->assigned_at_ms;
    r->arrived_at_ms = s->arrived_at_ms;
    r->picked_up_at_ms = s->picked_up_at_ms;
    r->delivered_at_ms = s->delivered_at_ms;
    r->cancelled_at_ms = s->cancelled_at_ms;
    r->cancelled_by = s_cancelled_by(s->cancelled_by);
    r->pickup_at_ms = s->pickup_at_ms;
    r->delivery_at_ms = s->delivery_at_ms;
    r->fee_cents = s->fee_cents;
    r->has_position = s_position(s->rider_position, &r->rider_position);
    r->refusal = s_refusal(s->refusal);
    r->cancel_fee = s_cancel_fee(r->state, s->cancel_fee, s->fee_cents);
    return true;
}

static bool s_settlement_line(const Sluice__Net__V1__SettlementLine *l, size_t i,
                              adapter_settlement_line_t *r, network_wire_reply_t *out)
{
    if (!l || !s_copy_id(r->key, l->key, false))
        return s_bad(out, "settlement.lines[%zu].key: not 1..64 characters of [A-Za-z0-9._:-]", i);
    if (!s_copy_id(r->order_id, l->order_id, true))
        return s_bad(out, "settlement.lines[%zu].order_id: not 1..64 characters of [A-Za-z0-9._:-]",
                     i);
    if (l->status != SLUICE__NET__V1__DISPATCH_STATE__DELIVERED &&
        l->status != SLUICE__NET__V1__DISPATCH_STATE__CANCELLED)
        return s_bad(out, "settlement.lines[%zu].status: %d is not DELIVERED or CANCELLED", i,
                     (int)l->status);
    r->status = (adapter_state_t)l->status;
    r->at_ms = l->at_ms;
    r->fee_cents = l->fee_cents;
    s_copy_text(r->rider_ref, sizeof r->rider_ref, l->rider_ref);
    r->store_id = l->store_id;
    r->cancelled_by = s_cancelled_by(l->cancelled_by);
    return true;
}

static bool s_settlement(const Sluice__Net__V1__SettlementReply *s, network_wire_reply_t *out)
{
    adapter_settlement_t *r = &out->u.settlement;
    if (!s_day_ok(s->day))
        return s_bad(out, "settlement.day: not YYYY-MM-DD");
    snprintf(r->day, sizeof r->day, "%s", s->day);
    if (s->utc_offset_minutes < -840 || s->utc_offset_minutes > 840)
        return s_bad(out, "settlement.utc_offset_minutes: %d is not -840..840",
                     (int)s->utc_offset_minutes);
    r->utc_offset_minutes = s->utc_offset_minutes;
    if (s->n_lines > ADAPTER_SETTLEMENT_LINES_MAX)
        return s_bad(out, "settlement.lines: %zu, at most %d in a page", s->n_lines,
                     ADAPTER_SETTLEMENT_LINES_MAX);
    for (size_t i = 0; i < s->n_lines; i++)
        if (!s_settlement_line(s->lines[i], i, &out->lines[i], out))
            return false;
    r->lines = out->lines;
    r->n_lines = s->n_lines;
    const char *token = s->next_page_token ? s->next_page_token : "";
    if (!s_token_ok(token))
        return s_bad(out, "settlement.next_page_token: not at most 128 bytes of printable ASCII");
    snprintf(r->next_page_token, sizeof r->next_page_token, "%s", token);
    r->total_lines = s->total_lines;
    r->total_fee_cents = s->total_fee_cents;
    r->final = s->final;
    return true;
}

static bool s_error(const Sluice__Net__V1__Error *e, network_wire_reply_t *out)
{
    adapter_error_t *r = &out->u.error;
    int code = (int)e->code;
    r->code = code >= ADAPTER_ERR_BAD_REQUEST && code <= ADAPTER_ERR_INTERNAL
                  ? (adapter_error_code_t)code : ADAPTER_ERR_OTHER;
    r->retry_after_ms = e->retry_after_ms;
    s_copy_text(r->message, sizeof r->message, e->message);
    return true;
}

static bool s_event(const Sluice__Net__V1__RiderEvent *e, network_wire_reply_t *out)
{
    adapter_event_t *r = &out->u.event;
    if (!s_copy_id(r->key, e->key, false))
        return s_bad(out, "event.key: not 1..64 characters of [A-Za-z0-9._:-]");
    if (!s_copy_id(r->order_id, e->order_id, true))
        return s_bad(out, "event.order_id: not 1..64 characters of [A-Za-z0-9._:-]");
    if (!s_state(e->state, ADAPTER_STATE_ASSIGNED, ADAPTER_STATE_CANCELLED, &r->state))
        return s_bad(out, "event.state: %d is not a state an event moves to", (int)e->state);
    if (e->seq == 0)
        return s_bad(out, "event.seq: 0 (events count from 1)");
    r->seq = e->seq;
    s_copy_text(r->rider_ref, sizeof r->rider_ref, e->rider_ref);
    r->at_ms = e->at_ms;
    r->has_position = s_position(e->rider_position, &r->rider_position);
    r->cancelled_by = s_cancelled_by(e->cancelled_by);
    s_copy_text(r->reason, sizeof r->reason, e->reason);
    r->wait_ms = e->wait_ms;
    r->fee_cents = e->fee_cents;
    r->pickup_at_ms = e->pickup_at_ms;
    r->delivery_at_ms = e->delivery_at_ms;
    r->gateway_at_ms = out->sent_at_ms;
    r->cancel_fee = s_cancel_fee(r->state, e->cancel_fee, e->fee_cents);
    return true;
}

/* s_body: which bodies may carry which request_id; then the body itself. */
static bool s_body(const reply_pb_t *pb, network_wire_reply_t *out)
{
    bool event = pb->body_case == SLUICE__NET__V1__REPLY__BODY_EVENT;
    bool error = pb->body_case == SLUICE__NET__V1__REPLY__BODY_ERROR;
    if (pb->body_case == SLUICE__NET__V1__REPLY__BODY__NOT_SET)
        return s_bad(out, "reply: no body");
    if (event && pb->request_id != 0)
        return s_bad(out, "reply: an event with request_id %llu, not 0",
                     (unsigned long long)pb->request_id);
    if (!event && !error && pb->request_id == 0)
        return s_bad(out, "reply: a %s body with request_id 0", network_wire_body_name(out->body));
    switch (pb->body_case) {
    case SLUICE__NET__V1__REPLY__BODY_QUOTE: return s_quote(pb->quote, out);
    case SLUICE__NET__V1__REPLY__BODY_DISPATCH: return s_dispatch(pb->dispatch, out);
    case SLUICE__NET__V1__REPLY__BODY_CANCEL: return s_cancel(pb->cancel, out);
    case SLUICE__NET__V1__REPLY__BODY_STATUS: return s_status(pb->status, out);
    case SLUICE__NET__V1__REPLY__BODY_SETTLEMENT: return s_settlement(pb->settlement, out);
    case SLUICE__NET__V1__REPLY__BODY_ERROR: return s_error(pb->error, out);
    case SLUICE__NET__V1__REPLY__BODY_EVENT: return s_event(pb->event, out);
    default: return s_bad(out, "reply: body %d unknown", (int)pb->body_case);
    }
}

static network_wire_body_t s_body_kind(Sluice__Net__V1__Reply__BodyCase c)
{
    switch (c) {
    case SLUICE__NET__V1__REPLY__BODY_QUOTE: return NETWORK_WIRE_QUOTE;
    case SLUICE__NET__V1__REPLY__BODY_DISPATCH: return NETWORK_WIRE_DISPATCH;
    case SLUICE__NET__V1__REPLY__BODY_CANCEL: return NETWORK_WIRE_CANCEL;
    case SLUICE__NET__V1__REPLY__BODY_STATUS: return NETWORK_WIRE_STATUS;
    case SLUICE__NET__V1__REPLY__BODY_SETTLEMENT: return NETWORK_WIRE_SETTLEMENT;
    case SLUICE__NET__V1__REPLY__BODY_ERROR: return NETWORK_WIRE_ERROR;
    case SLUICE__NET__V1__REPLY__BODY_EVENT: return NETWORK_WIRE_EVENT;
    default: return NETWORK_WIRE_NONE;
    }
}

network_wire_result_t network_wire_decode(const void *data, size_t len, network_wire_reply_t *out)
{
    out->request_id = 0;
    out->sent_at_ms = 0;
    out->body = NETWORK_WIRE_NONE;
    out->problem[0] = '\0';
    memset(&out->u, 0, sizeof out->u);
    reply_pb_t *pb = sluice__net__v1__reply__unpack(NULL, len, data);
    if (!pb) {
        s_bad(out, "not a sluice.net.v1.Reply");
        return NETWORK_WIRE_UNREADABLE;
    }
    out->request_id = pb->request_id;
    out->sent_at_ms = pb->sent_at_ms;
    out->body = s_body_kind(pb->body_case);
    /* A C string stops at a NUL byte: a key or a rider_ref cut there would
     * be believed as a shorter one. */
    char field[128];
    bool ok = wire_text_find_nul(&sluice__net__v1__reply__descriptor, data, len, field,
                                 sizeof field)
                  ? s_bad(out, "%s: must not hold a NUL byte", field)
              : pb->version == NETWORK_WIRE_VERSION
                  ? s_body(pb, out)
                  : s_bad(out, "reply.version: %u, we speak %d", (unsigned)pb->version,
                          NETWORK_WIRE_VERSION);
    sluice__net__v1__reply__free_unpacked(pb, NULL);
    return ok ? NETWORK_WIRE_OK : NETWORK_WIRE_BAD;
}

const char *network_wire_reply_key(const network_wire_reply_t *r)
{
    switch (r->body) {
    case NETWORK_WIRE_DISPATCH: return r->u.dispatch.key;
    case NETWORK_WIRE_CANCEL: return r->u.cancel.key;
    case NETWORK_WIRE_STATUS: return r->u.status.key;
    case NETWORK_WIRE_SETTLEMENT: return r->u.settlement.day;
    default: return NULL;
    }
}

const char *network_wire_body_name(network_wire_body_t body)
{
    static const char *const names[] = {
        [NETWORK_WIRE_NONE] = "none",         [NETWORK_WIRE_QUOTE] = "quote",
        [NETWORK_WIRE_DISPATCH] = "dispatch", [NETWORK_WIRE_CANCEL] = "cancel",
        [NETWORK_WIRE_STATUS] = "status",     [NETWORK_WIRE_SETTLEMENT] = "settlement",
        [NETWORK_WIRE_ERROR] = "error",       [NETWORK_WIRE_EVENT] = "event",
    };
    return (size_t)body < sizeof names / sizeof names[0] ? names[body] : "?";
}
