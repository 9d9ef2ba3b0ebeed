/* order.c - owns SubmitOrder validation and the idempotency fingerprint. */
#include "order.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static bool s_id_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == ':' || c == '-';
}

bool order_id_valid(const char *id)
{
    size_t n = 0;
    for (; id[n]; n++)
        if (n >= ORDER_ID_MAX || !s_id_char((unsigned char)id[n]))
            return false;
    return n > 0;
}

/* s_utf8_char is the length (1..4) of the UTF-8 character that P starts, or
 * 0 when P starts none: a NUL, a stray or cut sequence, an overlong form, a
 * surrogate, or a code point past U+10FFFF. */
static size_t s_utf8_char(const unsigned char *p)
{
    unsigned char c = *p;
    size_t extra;
    uint32_t cp;
    if (c < 0x80)
        return c ? 1 : 0;
    if ((c & 0xe0) == 0xc0) {
        extra = 1; cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        extra = 2; cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        extra = 3; cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i <= extra; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    static const uint32_t min_cp[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return extra + 1;
}

/* s_text_chars validates UTF-8 without control characters (PostgreSQL refuses
 * invalid UTF-8, and one such string would fail a whole commit batch) and
 * counts code points. Returns -1 when the text is not acceptable. */
static long s_text_chars(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    long chars = 0;
    while (*p) {
        size_t n = *p < 0x20 || *p == 0x7f ? 0 : s_utf8_char(p);
        if (n == 0)
            return -1;
        p += n;
        chars++;
    }
    return chars;
}

bool order_cancel_detail(const char *reason, char *detail, size_t len)
{
    if (!reason || !reason[0]) {
        snprintf(detail, len, "cancelled: no reason given");
        return true;
    }
    size_t at = 0, keep = 0, n;
    for (; reason[at]; at += n) {
        if ((n = s_utf8_char((const unsigned char *)reason + at)) == 0)
            return false;
        if (at + n <= ORDER_REASON_MAX)
            keep = at + n;
    }
    snprintf(detail, len, "cancelled: %.*s", (int)keep, reason);
    return true;
}

static bool s_fail(char *detail, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool s_fail(char *detail, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, len, fmt, ap);
    va_end(ap);
    return false;
}

static bool s_check_optional_text(const char *field, const char *value, char *detail, size_t len)
{
    if (!value || !value[0])
        return true;
    long chars = s_text_chars(value);
    if (chars < 0)
        return s_fail(detail, len, "%s: must be UTF-8 text without control characters", field);
    if (chars > ORDER_TEXT_MAX)
        return s_fail(detail, len, "%s: at most %d characters (got %ld)", field, ORDER_TEXT_MAX, chars);
    return true;
}

static bool s_check_item(size_t i, const Sluice__V1__Item *item, char *detail, size_t len)
{
    if (!item->sku || !item->sku[0])
        return s_fail(detail, len, "items[%zu].sku: required", i);
    long chars = s_text_chars(item->sku);
    if (chars < 0)
        return s_fail(detail, len, "items[%zu].sku: must be UTF-8 text without control characters", i);
    if (chars > ORDER_SKU_MAX)
        return s_fail(detail, len, "items[%zu].sku: at most %d characters (got %ld)", i, ORDER_SKU_MAX, chars);
    if (item->quantity < 1 || item->quantity > ORDER_QUANTITY_MAX)
        return s_fail(detail, len, "items[%zu].quantity: must be 1..%d (got %u)", i,
                      ORDER_QUANTITY_MAX, item->quantity);
    return true;
}

bool order_validate(const Sluice__V1__SubmitOrder *o, char *detail, size_t len)
{
    const char *id = o->order_id ? o->order_id : "";
    if (!id[0])
        return s_fail(detail, len, "order_id: required");
    if (strlen(id) > ORDER_ID_MAX)
        return s_fail(detail, len, "order_id: at most %d characters (got %zu)", ORDER_ID_MAX, strlen(id));
    if (!order_id_valid(id))
        return s_fail(detail, len, "order_id: only letters, digits and . _ : - are allowed");
    if (o->store_id == 0)
        return s_fail(detail, len, "store_id: required");
    if (o->n_items < 1 || o->n_items > ORDER_ITEMS_MAX)
        return s_fail(detail, len, "items: must have 1..%d items (got %zu)", ORDER_ITEMS_MAX, o->n_items);
    for (size_t i = 0; i < o->n_items; i++)
        if (!s_check_item(i, o->items[i], detail, len))
            return false;
    if (!o->dropoff)
        return s_fail(detail, len, "dropoff: required");
    if (!isfinite(o->dropoff->lat) || o->dropoff->lat < -90.0 || o->dropoff->lat > 90.0)
        return s_fail(detail, len, "dropoff.lat: must be -90..90 (got %g)", o->dropoff->lat);
    if (!isfinite(o->dropoff->lng) || o->dropoff->lng < -180.0 || o->dropoff->lng > 180.0)
        return s_fail(detail, len, "dropoff.lng: must be -180..180 (got %g)", o->dropoff->lng);
    if (!s_check_optional_text("voucher_id", o->voucher_id, detail, len))
        return false;
    if (!s_check_optional_text("customer_ref", o->customer_ref, detail, len))
        return false;
    /* A campaign is named like an order id: the config's names obey the same rule. */
    const char *campaign = o->campaign ? o->campaign : "";
    if (strlen(campaign) > ORDER_ID_MAX)
        return s_fail(detail, len, "campaign: at most %d characters (got %zu)", ORDER_ID_MAX,
                      strlen(campaign));
    if (campaign[0] && !order_id_valid(campaign))
        return s_fail(detail, len, "campaign: only letters, digits and . _ : - are allowed");
    return true;
}

/* FNV-1a, 64 bit: enough to tell a retry from a different order that reuses
 * an id; the comparison is between versions of one order_id only. */
static uint64_t s_fnv(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* Length-prefixed so that ("ab","c") and ("a","bc") differ. */
static uint64_t s_fnv_str(uint64_t h, const char *s)
{
    uint32_t n = s ? (uint32_t)strlen(s) : 0;
    h = s_fnv(h, &n, sizeof n);
    return s_fnv(h, s ? s : "", n);
}

uint64_t order_fingerprint(const Sluice__V1__SubmitOrder *o)
{
    uint64_t h = 14695981039346656037ull;
    uint32_t store = o->store_id;
    uint32_t n = (uint32_t)o->n_items;
    h = s_fnv(h, &store, sizeof store);
    h = s_fnv(h, &n, sizeof n);
    for (size_t i = 0; i < o->n_items; i++) {
        h = s_fnv_str(h, o->items[i]->sku);
        h = s_fnv(h, &o->items[i]->quantity, sizeof o->items[i]->quantity);
    }
    double lat = o->dropoff ? o->dropoff->lat : 0.0, lng = o->dropoff ? o->dropoff->lng : 0.0;
    h = s_fnv(h, &lat, sizeof lat);
    h = s_fnv(h, &lng, sizeof lng);
    h = s_fnv_str(h, o->voucher_id);
    h = s_fnv_str(h, o->customer_ref);
    return h;
}

unsigned order_drink_count(const Sluice__V1__SubmitOrder *o)
{
    unsigned n = 0;
    for (size_t i = 0; i < o->n_items; i++)
        n += o->items[i]->quantity;
    return n;
}

/* Appends SRC with JSON string escaping; control characters were refused
 * by validation, so only the quote and the backslash need it. */
static size_t s_json_str(char *buf, size_t at, size_t len, const char *src)
{
    for (const char *p = src; *p; p++) {
        if (*p == '"' || *p == '\\') {
            if (at + 1 >= len)
                return len;
            buf[at++] = '\\';
        }
        if (at + 1 >= len)
            return len;
        buf[at++] = *p;
    }
    return at;
}

size_t order_items_json(const Sluice__V1__SubmitOrder *o, char *buf, size_t len)
{
    size_t at = 0;
    if (len < 3)
        return 0;
    buf[at++] = '[';
    for (size_t i = 0; i < o->n_items; i++) {
        int w = snprintf(buf + at, len - at, "%s{\"sku\":\"", i ? "," : "");
        if (w < 0 || (size_t)w >= len - at)
            return 0;
        at = s_json_str(buf, at + (size_t)w, len, o->items[i]->sku);
        if (at >= len)
            return 0;
        w = snprintf(buf + at, len - at, "\",\"qty\":%u}", o->items[i]->quantity);
        if (w < 0 || (size_t)w >= len - at)
            return 0;
        at += (size_t)w;
    }
    if (at + 2 > len)
        return 0;
    buf[at++] = ']';
    buf[at] = '\0';
    return at;
}
