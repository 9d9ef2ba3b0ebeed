/* seeds.c - writes the generated part of fuzz_ingress's seed corpus into a
 * directory: requests at the bounds of every field (50 items of 64-character
 * skus, 64-character ids, one past each, a 5,000-character id whose echo
 * would not fit the reply path), strings that protoc's text format refuses
 * to encode (invalid UTF-8 of several kinds, in an sku and in an order_id
 * that a refusal must not echo), and NUL bytes inside text. With a second
 * directory, fuzz_network's too: gateway replies at the bounds (a page of
 * 256 settlement lines and one of 257, 64- and 65-character keys, a long
 * page token), enum values no name stands for, untidy text, and a key and
 * a rider with a NUL byte inside.
 * The hand-written seeds are the .txtpb files in tests/fuzz/corpus/.
 * Usage: seeds INGRESS_DIR [NETWORK_DIR] */
#include "proto/network.pb-c.h"
#include "proto/sluice.pb-c.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_dir;
static int s_failed;

/* s_write_nul packs REQ into DIR/NAME, every '#' of the frame made a NUL
 * byte when NUL is set: protobuf-c packs C strings, which cannot hold one. */
static void s_write_nul(const char *name, const Sluice__V1__Request *req, int nul)
{
    size_t n = sluice__v1__request__get_packed_size(req);
    uint8_t *buf = malloc(n ? n : 1);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    FILE *f = buf ? fopen(path, "wb") : NULL;
    if (f && sluice__v1__request__pack(req, buf) == n && nul)
        for (size_t i = 0; i < n; i++)
            if (buf[i] == '#')
                buf[i] = '\0';
    if (!f || fwrite(buf, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "seeds: failed to write %s: %s\n", path, strerror(errno));
        s_failed = 1;
    }
    free(buf);
}

/* s_write packs REQ into DIR/NAME. */
static void s_write(const char *name, const Sluice__V1__Request *req)
{
    s_write_nul(name, req, 0);
}

/* One order, rebuilt for each seed by s_order. */
static Sluice__V1__SubmitOrder s_o;
static Sluice__V1__Item s_item[51];
static Sluice__V1__Item *s_items[51];
static char s_sku[51][80];
static Sluice__V1__Geo s_geo;

static Sluice__V1__Request *s_order(const char *id, size_t items, size_t sku_len)
{
    static Sluice__V1__Request req;
    sluice__v1__request__init(&req);
    sluice__v1__submit_order__init(&s_o);
    sluice__v1__geo__init(&s_geo);
    for (size_t i = 0; i < items; i++) {
        sluice__v1__item__init(&s_item[i]);
        memset(s_sku[i], 'a' + (int)(i % 26), sku_len);
        s_sku[i][sku_len] = '\0';
        s_item[i].sku = s_sku[i];
        s_item[i].quantity = 1 + (uint32_t)(i % 99);
        s_items[i] = &s_item[i];
    }
    s_o.order_id = (char *)id;
    s_o.store_id = 1001;
    s_o.n_items = items;
    s_o.items = s_items;
    s_geo.lat = 30.27;
    s_geo.lng = 120.03;
    s_o.dropoff = &s_geo;
    s_o.created_at_ms = 1767225600000ull;
    req.request_id = 100;
    req.body_case = SLUICE__V1__REQUEST__BODY_SUBMIT;
    req.submit = &s_o;
    return &req;
}

/* ==== gateway replies (fuzz_network) ================================== */

static const char *s_net_dir;

/* s_write_reply_nul packs REPLY (version 1) into NETWORK_DIR/NAME, every
 * '#' of the frame made a NUL byte when NUL is set. */
static void s_write_reply_nul(const char *name, Sluice__Net__V1__Reply *reply, int nul)
{
    reply->version = 1;
    size_t n = sluice__net__v1__reply__get_packed_size(reply);
    uint8_t *buf = malloc(n ? n : 1);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", s_net_dir, name);
    FILE *f = buf ? fopen(path, "wb") : NULL;
    if (f && sluice__net__v1__reply__pack(reply, buf) == n && nul)
        for (size_t i = 0; i < n; i++)
            if (buf[i] == '#')
                buf[i] = '\0';
    if (!f || fwrite(buf, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "seeds: failed to write %s: %s\n", path, strerror(errno));
        s_failed = 1;
    }
    free(buf);
}

/* s_write_reply packs REPLY (version 1) into NETWORK_DIR/NAME. */
static void s_write_reply(const char *name, Sluice__Net__V1__Reply *reply)
{
    s_write_reply_nul(name, reply, 0);
}

/* s_settlement_seeds: a full page of 256 lines and one line too many. */
static void s_settlement_seeds(void)
{
    enum { N = 257 };
    static Sluice__Net__V1__SettlementLine lines[N];
    static Sluice__Net__V1__SettlementLine *ptrs[N];
    static char keys[N][24];
    for (size_t i = 0; i < N; i++) {
        sluice__net__v1__settlement_line__init(&lines[i]);
        snprintf(keys[i], sizeof keys[i], "order-%zu:1", i);
        lines[i].key = keys[i];
        lines[i].order_id = keys[i];
        lines[i].status = i % 5 ? SLUICE__NET__V1__DISPATCH_STATE__DELIVERED
                                : SLUICE__NET__V1__DISPATCH_STATE__CANCELLED;
        lines[i].at_ms = 1767225600000ull + i * 1000;
        lines[i].fee_cents = 500 + (uint32_t)i;
        lines[i].rider_ref = "sim-r1";
        lines[i].store_id = 1001;
        ptrs[i] = &lines[i];
    }
    char token[130];
    memset(token, 't', 129);
    token[129] = '\0';
    Sluice__Net__V1__SettlementReply s = SLUICE__NET__V1__SETTLEMENT_REPLY__INIT;
    s.day = "2026-11-23";
    s.lines = ptrs;
    s.n_lines = 256;
    s.next_page_token = token + 1;  /* 128: the longest we keep */
    s.total_lines = 1000;
    s.total_fee_cents = 654321;
    Sluice__Net__V1__Reply r = SLUICE__NET__V1__REPLY__INIT;
    r.request_id = 300;
    r.body_case = SLUICE__NET__V1__REPLY__BODY_SETTLEMENT;
    r.settlement = &s;
    s_write_reply("gen_settlement_256", &r);
    s.n_lines = 257;
    s_write_reply("gen_settlement_257", &r);
    s.n_lines = 1;
    s.next_page_token = token;
    s_write_reply("gen_settlement_token_129", &r);
}

/* s_network_seeds: what protoc's text format cannot say (unknown enum
 * values, invalid UTF-8), and ids at and past their bound. */
static void s_network_seeds(const char *id64, const char *id65)
{
    Sluice__Net__V1__Reply r = SLUICE__NET__V1__REPLY__INIT;
    Sluice__Net__V1__DispatchReply d = SLUICE__NET__V1__DISPATCH_REPLY__INIT;
    r.request_id = 301;
    r.body_case = SLUICE__NET__V1__REPLY__BODY_DISPATCH;
    r.dispatch = &d;
    d.key = (char *)id64;
    d.accepted = 1;
    d.state = SLUICE__NET__V1__DISPATCH_STATE__ASSIGNED;
    d.rider_ref = "r\x1b[31m\xff\xc0\xaf\xed\xa0\x80\xc2\x85\xe6\x8a";
    s_write_reply("gen_dispatch_key_64_untidy_rider", &r);
    d.key = (char *)id65;
    s_write_reply("gen_dispatch_key_65", &r);
    d.key = "o1#:1";
    d.rider_ref = "r-1#-impostor";
    s_write_reply_nul("gen_dispatch_key_nul", &r, 1);
    d.key = "o1:1";
    d.state = 42;
    s_write_reply("gen_dispatch_state_42", &r);
    d.accepted = 0;
    d.state = SLUICE__NET__V1__DISPATCH_STATE__REFUSED;
    d.refusal = 9;
    s_write_reply("gen_dispatch_refusal_9", &r);

    Sluice__Net__V1__RiderEvent e = SLUICE__NET__V1__RIDER_EVENT__INIT;
    static char reason[300];
    memset(reason, 'x', sizeof reason - 1);  /* the last byte stays NUL */
    memcpy(reason + 198, "\xe6\xb6\x88", 3);  /* a character across the 200-byte cut */
    e.key = "o1:1";
    e.order_id = "o1";
    e.seq = UINT32_MAX;
    e.state = SLUICE__NET__V1__DISPATCH_STATE__CANCELLED;
    e.cancelled_by = 7;
    e.reason = reason;
    Sluice__Net__V1__Reply ev = SLUICE__NET__V1__REPLY__INIT;
    ev.body_case = SLUICE__NET__V1__REPLY__BODY_EVENT;
    ev.event = &e;
    s_write_reply("gen_event_long_reason", &ev);
    e.state = SLUICE__NET__V1__DISPATCH_STATE__PENDING;
    s_write_reply("gen_event_pending", &ev);

    Sluice__Net__V1__Error err = SLUICE__NET__V1__ERROR__INIT;
    err.code = 99;
    err.message = "\xff\xfe not text";
    err.retry_after_ms = UINT64_MAX;
    r.body_case = SLUICE__NET__V1__REPLY__BODY_ERROR;
    r.error = &err;
    s_write_reply("gen_error_code_99", &r);
    s_settlement_seeds();
}

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: seeds INGRESS_DIR [NETWORK_DIR]\n");
        return 2;
    }
    s_dir = argv[1];
    s_net_dir = argc == 3 ? argv[2] : NULL;
    char id64[65], id65[66];
    memset(id64, 'z', 64);
    id64[64] = '\0';
    memset(id65, 'z', 65);
    id65[65] = '\0';

    /* The largest valid order, and one past each bound. */
    s_write("gen_submit_max", s_order(id64, 50, 64));
    s_write("gen_submit_51_items", s_order("o51", 51, 4));
    s_write("gen_submit_sku_65", s_order("sku65", 1, 65));
    s_write("gen_submit_id_65", s_order(id65, 1, 4));
    s_write("gen_submit_no_items", s_order("none", 0, 0));
    static char id5000[5001];
    memset(id5000, 'A', 5000);
    s_write("gen_submit_id_5000", s_order(id5000, 1, 4));
    s_write("gen_submit_id_not_utf8", s_order("bad-\xff\xfe-\xc3", 1, 4));
    s_write_nul("gen_submit_id_nul", s_order("A#first", 1, 4), 1);
    Sluice__V1__Request *nul = s_order("A-first", 2, 4);
    s_item[1].sku = "milk#-tea-with-extra";
    s_write_nul("gen_submit_sku_nul", nul, 1);

    /* Text no text-format file can hold. */
    static const struct { const char *name, *text; } bad[] = {
        { "gen_sku_overlong", "\xc0\xaf" },          /* overlong '/' */
        { "gen_sku_surrogate", "\xed\xa0\x80" },     /* U+D800 */
        { "gen_sku_past_max", "\xf4\x90\x80\x80" },  /* U+110000 */
        { "gen_sku_cut", "tea\xe6\x8a" },            /* cut 3-byte char */
        { "gen_sku_control", "tea\x1b[0m" },         /* escape sequence */
        { "gen_sku_del", "tea\x7f" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Sluice__V1__Request *req = s_order("bad-text", 1, 3);
        s_item[0].sku = (char *)bad[i].text;
        s_write(bad[i].name, req);
    }
    Sluice__V1__Request *req = s_order("bad-voucher", 1, 3);
    s_o.voucher_id = "\xff\xfe";
    s_o.customer_ref = "ok";
    s_write("gen_voucher_invalid", req);

    /* Cancel, ready and get with the ids one past the bound and non-ASCII. */
    Sluice__V1__CancelOrder cancel = SLUICE__V1__CANCEL_ORDER__INIT;
    Sluice__V1__MarkReady ready = SLUICE__V1__MARK_READY__INIT;
    Sluice__V1__GetOrder get = SLUICE__V1__GET_ORDER__INIT;
    Sluice__V1__Request r = SLUICE__V1__REQUEST__INIT;
    r.request_id = 200;
    r.body_case = SLUICE__V1__REQUEST__BODY_CANCEL;
    r.cancel = &cancel;
    cancel.order_id = id64;
    cancel.reason = "\xe5\x8f\x96\xe6\xb6\x88 \xff cut\xe6\x8a";
    s_write("gen_cancel_reason_invalid", &r);
    r.body_case = SLUICE__V1__REQUEST__BODY_READY;
    r.ready = &ready;
    ready.order_id = id65;
    s_write("gen_ready_id_65", &r);
    r.body_case = SLUICE__V1__REQUEST__BODY_GET;
    r.get = &get;
    get.order_id = "caf\xc3\xa9";
    s_write("gen_get_id_utf8", &r);
    get.order_id = "A#second";
    s_write_nul("gen_get_id_nul", &r, 1);
    r.body_case = SLUICE__V1__REQUEST__BODY_CANCEL;
    cancel.order_id = "A-1";
    cancel.reason = "changed my mind#; refund";
    s_write_nul("gen_cancel_reason_nul", &r, 1);
    if (s_net_dir)
        s_network_seeds(id64, id65);
    return s_failed;
}
