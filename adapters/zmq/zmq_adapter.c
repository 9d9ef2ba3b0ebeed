/* zmq_adapter.c - owns the `zmq` transport: one DEALER per platform to its
 * gateway (proto/network.proto), pipelined requests matched to replies by
 * request_id, their deadlines, the link state seen by a socket monitor, and
 * rider events handed to the listener. Single-threaded, never blocks. */
#include "zmq_adapter.h"

#include "clock.h"
#include "envelope.h"
#include "inflight.h"
#include "log.h"
#include "network_wire.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define RECV_BATCH 1024              /* frames per step, so one gateway cannot starve the loop */
#define MAX_FRAME_BYTES (256 * 1024) /* the protocol's frames are at most 64 KiB; a peer sending
                                      * more than this is cut off by libzmq */
#define RECONNECT_IVL_MS 100         /* libzmq reconnects on its own, backing off to the max */
#define RECONNECT_IVL_MAX_MS ADAPTER_RECONNECT_MAX_MS  /* a gateway back is used within this */
#define CONNECT_TIMEOUT_MS ADAPTER_CONNECT_TIMEOUT_MS  /* a host that drops our SYNs: retry */
#define HEARTBEAT_IVL_MS 2000        /* ZMTP pings find a gateway whose host vanished */
#define HEARTBEAT_TIMEOUT_MS 6000
#define COMPLAIN_EVERY_MS 1000       /* one warning per second about a misbehaving gateway */
/* A peer that is not a ZMTP gateway, or refused our security: a link down. */
#define S_HANDSHAKE_FAILED                                                                    \
    (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |              \
     ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)

typedef struct zmq_adapter {
    adapter_t base;
    char *name;               /* the platform, for logs */
    char *endpoint;
    uint64_t timeout_ms, quote_deadline_ms;
    size_t limit;             /* max_inflight: quotes, dispatches and settlements */
    size_t reserve;           /* more for cancels and statuses, which settle what is unknown */
    void *socket;             /* DEALER to the gateway */
    void *monitor;            /* PAIR receiving the DEALER's connection events */
    adapter_listener_t listener;
    inflight_t inflight;
    network_wire_reply_t *reply;  /* decode buffer, reused for every frame */
    bool up;                  /* the link is up as far as the monitor has told */
    bool told;                /* the listener has heard of the link once: it is not unknown */
    bool more;                /* the last step stopped at RECV_BATCH with frames waiting */
    bool closing;
    uint64_t quiet_until_ms;  /* s_complain's rate limit */
    uint64_t suppressed;
    adapter_stats_t stats;
} zmq_adapter_t;

/* A request as the send path sees it: one of the request structs, or a key
 * (and reason) for cancel and status. */
typedef struct request {
    network_wire_body_t kind;
    const void *body;
    const char *key;
    const char *reason;
} request_t;

static zmq_adapter_t *s_self(adapter_t *a)
{
    return (zmq_adapter_t *)a;
}

/* s_complain logs a gateway's misbehaviour, at most once per
 * COMPLAIN_EVERY_MS, saying how many were left out meanwhile. */
static void s_complain(zmq_adapter_t *self, uint64_t now_ms, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void s_complain(zmq_adapter_t *self, uint64_t now_ms, const char *fmt, ...)
{
    if (now_ms < self->quiet_until_ms) {
        self->suppressed++;
        return;
    }
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (self->suppressed)
        log_warning("platform %s: %s (and %llu more like it)", self->name, text,
                    (unsigned long long)self->suppressed);
    else
        log_warning("platform %s: %s", self->name, text);
    self->quiet_until_ms = now_ms + COMPLAIN_EVERY_MS;
    self->suppressed = 0;
}

/* ==== open and close ================================================== */

static void s_free(zmq_adapter_t *self)
{
    if (self->socket)
        (void)zmq_socket_monitor(self->socket, NULL, 0);
    if (self->monitor)
        zmq_close(self->monitor);
    if (self->socket)
        zmq_close(self->socket);
    inflight_free(&self->inflight);
    free(self->reply);
    free(self->name);
    free(self->endpoint);
    free(self);
}

static bool s_set_int(void *socket, int option, int value)
{
    return zmq_setsockopt(socket, option, &value, sizeof value) == 0;
}

/* s_socket_options: why each is set is at its #define above, and:
 * LINGER 0, because requests still queued at close are reported CLOSED
 * (unknown) anyway; IMMEDIATE, so that with no connection a send fails at
 * once (UNREACHABLE, certain to have had no effect) instead of queueing
 * stale requests that would all arrive at the next connect; the send queue
 * holds every request the table allows. */
static bool s_socket_options(zmq_adapter_t *self)
{
    size_t queue = self->limit + self->reserve;
    int hwm = queue > INT_MAX / 2 ? INT_MAX / 2 : (int)queue;
    int64_t max_frame = MAX_FRAME_BYTES;
    return s_set_int(self->socket, ZMQ_LINGER, 0) && s_set_int(self->socket, ZMQ_IMMEDIATE, 1) &&
           s_set_int(self->socket, ZMQ_SNDHWM, hwm) &&
           s_set_int(self->socket, ZMQ_RCVHWM, hwm < 10000 ? 20000 : 2 * hwm) &&
           zmq_setsockopt(self->socket, ZMQ_MAXMSGSIZE, &max_frame, sizeof max_frame) == 0 &&
           s_set_int(self->socket, ZMQ_RECONNECT_IVL, RECONNECT_IVL_MS) &&
           s_set_int(self->socket, ZMQ_RECONNECT_IVL_MAX, RECONNECT_IVL_MAX_MS) &&
           s_set_int(self->socket, ZMQ_CONNECT_TIMEOUT, CONNECT_TIMEOUT_MS) &&
           s_set_int(self->socket, ZMQ_HEARTBEAT_IVL, HEARTBEAT_IVL_MS) &&
           s_set_int(self->socket, ZMQ_HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS);
}

/* s_monitor starts watching the DEALER before it connects, so the first
 * handshake is seen. The monitor's inproc name is unique in the process. */
static bool s_monitor(zmq_adapter_t *self, void *ctx)
{
    static atomic_uint monitors;
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "inproc://sluice-adapter-monitor-%u",
             atomic_fetch_add(&monitors, 1));
    if (zmq_socket_monitor(self->socket, endpoint,
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED |
                               ZMQ_EVENT_CONNECT_RETRIED | S_HANDSHAKE_FAILED) != 0)
        return false;
    self->monitor = zmq_socket(ctx, ZMQ_PAIR);
    return self->monitor && s_set_int(self->monitor, ZMQ_LINGER, 0) &&
           zmq_connect(self->monitor, endpoint) == 0;
}

static adapter_t *s_open(const adapter_platform_t *platform, void *ctx,
                         const adapter_listener_t *listener)
{
    zmq_adapter_t *self = calloc(1, sizeof *self);
    if (!self) {
        log_error("failed to open platform %s: out of memory", platform->name);
        return NULL;
    }
    self->name = strdup(platform->name ? platform->name : "?");
    self->endpoint = strdup(platform->endpoint ? platform->endpoint : "");
    self->reply = malloc(sizeof *self->reply);
    self->listener = *listener;
    self->timeout_ms = platform->timeout_ms > 0 ? (uint64_t)platform->timeout_ms : 1;
    self->quote_deadline_ms =
        platform->quote_deadline_ms > 0 ? (uint64_t)platform->quote_deadline_ms : 1;
    self->limit = platform->max_inflight > 0 ? (size_t)platform->max_inflight : 1;
    self->reserve = self->limit / 4 + 1;
    if (!self->name || !self->endpoint || !self->reply || !inflight_init(&self->inflight)) {
        log_error("failed to open platform %s: out of memory", platform->name);
        goto fail;
    }
    self->socket = zmq_socket(ctx, ZMQ_DEALER);
    if (!self->socket || !s_socket_options(self) || !s_monitor(self, ctx)) {
        log_error("failed to open platform %s: %s", self->name, zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (zmq_connect(self->socket, self->endpoint) != 0) {
        log_error("failed to connect platform %s to %s: %s", self->name, self->endpoint,
                  zmq_strerror(zmq_errno()));
        goto fail;
    }
    return &self->base;
fail:
    s_free(self);
    return NULL;
}

static void s_complete(const inflight_req_t *req, const adapter_done_t *done,
                       const network_wire_reply_t *r);

/* s_close: every outstanding request is told CLOSED, earliest deadline
 * first, so callers free what they tied to it; then everything goes. */
static void s_close(adapter_t *a)
{
    zmq_adapter_t *self = s_self(a);
    self->closing = true;
    inflight_req_t req;
    uint64_t now = clock_mono_ms();
    while (inflight_take_due(&self->inflight, UINT64_MAX, &req)) {
        adapter_done_t done = {.outcome = ADAPTER_CLOSED, .request_id = req.id,
                               .latency_ms = now - req.sent_ms};
        s_complete(&req, &done, NULL);
    }
    s_free(self);
}

/* ==== sending ========================================================== */

static bool s_encode(const request_t *rq, uint64_t id, network_wire_frame_t *f, const char **why)
{
    switch (rq->kind) {
    case NETWORK_WIRE_QUOTE: return network_wire_encode_quote(id, rq->body, f, why);
    case NETWORK_WIRE_DISPATCH: return network_wire_encode_dispatch(id, rq->body, f, why);
    case NETWORK_WIRE_CANCEL: return network_wire_encode_cancel(id, rq->key, rq->reason, f, why);
    case NETWORK_WIRE_STATUS: return network_wire_encode_status(id, rq->key, f, why);
    case NETWORK_WIRE_SETTLEMENT: return network_wire_encode_settlement(id, rq->body, f, why);
    default: *why = "no such request"; return false;
    }
}

/* s_echo: what the reply must repeat from the request, hashed; 0: nothing. */
static uint64_t s_echo(const request_t *rq)
{
    if (rq->kind == NETWORK_WIRE_DISPATCH)
        return inflight_hash(((const adapter_dispatch_req_t *)rq->body)->key);
    if (rq->kind == NETWORK_WIRE_SETTLEMENT)
        return inflight_hash(((const adapter_settlement_req_t *)rq->body)->day);
    return rq->key ? inflight_hash(rq->key) : 0;
}

/* s_transmit encodes RQ under request id ID and sends it without blocking. */
static adapter_send_t s_transmit(zmq_adapter_t *self, const request_t *rq, uint64_t id)
{
    network_wire_frame_t frame;
    const char *why = NULL;
    if (!s_encode(rq, id, &frame, &why)) {
        log_error("platform %s: refused to send a %s: %s", self->name,
                  network_wire_body_name(rq->kind), why);
        return ADAPTER_SEND_INVALID;
    }
    if (zmq_send(self->socket, frame.data, frame.len, ZMQ_DONTWAIT) >= 0)
        return ADAPTER_SEND_OK;
    if (zmq_errno() == EAGAIN) {  /* no connection (ZMQ_IMMEDIATE), or its queue is full */
        self->stats.unreachable++;
        return ADAPTER_SEND_UNREACHABLE;
    }
    log_error("platform %s: failed to send a %s: %s", self->name,
              network_wire_body_name(rq->kind), zmq_strerror(zmq_errno()));
    return ADAPTER_SEND_FAILED;
}

/* s_send: room in the table (cancel and status may use the reserve), an
 * entry with a fresh id, then the frame. An entry whose frame did not go
 * is taken back, so no callback is left behind. */
static adapter_send_t s_send(zmq_adapter_t *self, const request_t *rq, uint64_t deadline_ms,
                             inflight_done_t done, void *arg)
{
    if (self->closing)
        return ADAPTER_SEND_UNREACHABLE;
    bool settles = rq->kind == NETWORK_WIRE_CANCEL || rq->kind == NETWORK_WIRE_STATUS;
    if (self->inflight.count >= self->limit + (settles ? self->reserve : 0)) {
        self->stats.full++;
        return ADAPTER_SEND_FULL;
    }
    uint64_t now = clock_mono_ms();
    if (deadline_ms == 0)
        deadline_ms = now + (rq->kind == NETWORK_WIRE_QUOTE ? self->quote_deadline_ms
                                                            : self->timeout_ms);
    /* A deadline already past fires at the next step, not in this one's
     * loop: a callback that re-sends with it cannot spin that loop. */
    if (deadline_ms <= now)
        deadline_ms = now + 1;
    inflight_req_t *req = inflight_add(&self->inflight, deadline_ms);
    if (!req) {
        log_error("platform %s: failed to send a %s: out of memory", self->name,
                  network_wire_body_name(rq->kind));
        return ADAPTER_SEND_FAILED;
    }
    uint64_t id = req->id;
    adapter_send_t result = s_transmit(self, rq, id);
    if (result == ADAPTER_SEND_OK) {
        /* no reply can be read before this returns: one thread */
        req->sent_ms = now;
        req->echo_hash = s_echo(rq);  /* the encoder checked the key (day) is there */
        req->kind = rq->kind;
        req->done = done;
        req->arg = arg;
        self->stats.sent++;
    } else {
        (void)inflight_take(&self->inflight, id, NULL);
    }
    self->stats.outstanding = self->inflight.count;
    return result;
}

static adapter_send_t s_quote(adapter_t *a, const adapter_quote_req_t *q, uint64_t deadline_ms,
                              adapter_quote_fn *done, void *arg)
{
    request_t rq = {.kind = NETWORK_WIRE_QUOTE, .body = q};
    return s_send(s_self(a), &rq, deadline_ms, (inflight_done_t){.quote = done}, arg);
}

static adapter_send_t s_dispatch(adapter_t *a, const adapter_dispatch_req_t *d,
                                 uint64_t deadline_ms, adapter_dispatch_fn *done, void *arg)
{
    request_t rq = {.kind = NETWORK_WIRE_DISPATCH, .body = d};
    return s_send(s_self(a), &rq, deadline_ms, (inflight_done_t){.dispatch = done}, arg);
}

static adapter_send_t s_cancel(adapter_t *a, const char *key, const char *reason,
                               uint64_t deadline_ms, adapter_cancel_fn *done, void *arg)
{
    request_t rq = {.kind = NETWORK_WIRE_CANCEL, .key = key ? key : "", .reason = reason};
    return s_send(s_self(a), &rq, deadline_ms, (inflight_done_t){.cancel = done}, arg);
}

static adapter_send_t s_status(adapter_t *a, const char *key, uint64_t deadline_ms,
                               adapter_status_fn *done, void *arg)
{
    request_t rq = {.kind = NETWORK_WIRE_STATUS, .key = key ? key : ""};
    return s_send(s_self(a), &rq, deadline_ms, (inflight_done_t){.status = done}, arg);
}

static adapter_send_t s_settlement(adapter_t *a, const adapter_settlement_req_t *s,
                                   uint64_t deadline_ms, adapter_settlement_fn *done, void *arg)
{
    request_t rq = {.kind = NETWORK_WIRE_SETTLEMENT, .body = s};
    return s_send(s_self(a), &rq, deadline_ms, (inflight_done_t){.settlement = done}, arg);
}

/* ==== receiving ======================================================== */

/* s_complete runs REQ's callback; the result only when the outcome is OK. */
static void s_complete(const inflight_req_t *req, const adapter_done_t *done,
                       const network_wire_reply_t *r)
{
    bool ok = done->outcome == ADAPTER_OK;
    switch (req->kind) {
    case NETWORK_WIRE_QUOTE:
        if (req->done.quote)
            req->done.quote(req->arg, done, ok ? &r->u.quote : NULL);
        break;
    case NETWORK_WIRE_DISPATCH:
        if (req->done.dispatch)
            req->done.dispatch(req->arg, done, ok ? &r->u.dispatch : NULL);
        break;
    case NETWORK_WIRE_CANCEL:
        if (req->done.cancel)
            req->done.cancel(req->arg, done, ok ? &r->u.cancel : NULL);
        break;
    case NETWORK_WIRE_STATUS:
        if (req->done.status)
            req->done.status(req->arg, done, ok ? &r->u.status : NULL);
        break;
    case NETWORK_WIRE_SETTLEMENT:
        if (req->done.settlement)
            req->done.settlement(req->arg, done, ok ? &r->u.settlement : NULL);
        break;
    default:
        break;
    }
}

/* s_judge sets DONE's outcome for reply R (decoded as RESULT) to REQ. */
static void s_judge(const inflight_req_t *req, network_wire_result_t result,
                    const network_wire_reply_t *r, adapter_done_t *done)
{
    const char *echo = network_wire_reply_key(r);
    done->outcome = ADAPTER_BAD_REPLY;
    if (result == NETWORK_WIRE_BAD)
        snprintf(done->error.message, sizeof done->error.message, "%s", r->problem);
    else if (r->body == NETWORK_WIRE_ERROR) {
        done->outcome = ADAPTER_ERROR;
        done->error = r->u.error;
    } else if (r->body != req->kind)
        snprintf(done->error.message, sizeof done->error.message, "a %s reply to a %s request",
                 network_wire_body_name(r->body), network_wire_body_name(req->kind));
    else if (req->echo_hash && (!echo || inflight_hash(echo) != req->echo_hash))
        snprintf(done->error.message, sizeof done->error.message,
                 "the %s reply names %s, not what was asked", network_wire_body_name(r->body),
                 echo ? echo : "nothing");
    else
        done->outcome = ADAPTER_OK;
}

/* s_unsolicited: request_id 0 is an event, or the gateway's complaint
 * about a frame it could not read. */
static void s_unsolicited(zmq_adapter_t *self, network_wire_result_t result,
                          const network_wire_reply_t *r, uint64_t now)
{
    if (result == NETWORK_WIRE_OK && r->body == NETWORK_WIRE_EVENT) {
        self->stats.events++;
        if (self->listener.event)
            self->listener.event(self->listener.arg, &r->u.event);
    } else if (result == NETWORK_WIRE_OK && r->body == NETWORK_WIRE_ERROR) {
        self->stats.complaints++;
        s_complain(self, now, "the gateway could not read a frame of ours: %s: %s",
                   adapter_error_name(r->u.error.code), r->u.error.message);
    } else {
        self->stats.bad_events++;
        s_complain(self, now, "dropped an event: %s", r->problem);
    }
}

static void s_handle_frame(zmq_adapter_t *self, const void *data, size_t len, uint64_t now)
{
    network_wire_reply_t *r = self->reply;
    network_wire_result_t result = network_wire_decode(data, len, r);
    if (result == NETWORK_WIRE_UNREADABLE) {
        self->stats.unreadable++;
        s_complain(self, now, "dropped a frame of %zu bytes: %s", len, r->problem);
        return;
    }
    if (r->request_id == 0) {
        s_unsolicited(self, result, r, now);
        return;
    }
    inflight_req_t req;
    if (!inflight_take(&self->inflight, r->request_id, &req)) {
        self->stats.late++;  /* its deadline passed, and its callback said TIMEOUT */
        log_debug("platform %s: reply to request %llu after its deadline", self->name,
                  (unsigned long long)r->request_id);
        return;
    }
    adapter_done_t done = {.request_id = req.id,
                           .latency_ms = now > req.sent_ms ? now - req.sent_ms : 0,
                           .gateway_at_ms = r->sent_at_ms};
    s_judge(&req, result, r, &done);
    self->stats.answered++;
    self->stats.errors += done.outcome == ADAPTER_ERROR;
    if (done.outcome == ADAPTER_BAD_REPLY) {
        self->stats.bad_replies++;
        s_complain(self, now, "request %llu: %s", (unsigned long long)req.id,
                   done.error.message);
    }
    s_complete(&req, &done, r);
}

static void s_step_replies(zmq_adapter_t *self, uint64_t now)
{
    self->more = false;
    for (int i = 0; i < RECV_BATCH; i++) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, self->socket, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            if (zmq_errno() != EAGAIN)
                s_complain(self, now, "failed to receive: %s", zmq_strerror(zmq_errno()));
            return;
        }
        if (zmq_msg_more(&msg)) {
            envelope_discard_rest(self->socket);
            self->stats.unreadable++;
            s_complain(self, now, "dropped a message of several frames (a Reply is one)");
        } else {
            s_handle_frame(self, zmq_msg_data(&msg), zmq_msg_size(&msg), now);
        }
        zmq_msg_close(&msg);
    }
    self->more = true;
}

static void s_step_deadlines(zmq_adapter_t *self, uint64_t now)
{
    inflight_req_t req;
    while (inflight_take_due(&self->inflight, now, &req)) {
        self->stats.timeouts++;
        adapter_done_t done = {.outcome = ADAPTER_TIMEOUT, .request_id = req.id,
                               .latency_ms = now > req.sent_ms ? now - req.sent_ms : 0};
        s_complete(&req, &done, NULL);
    }
}

/* s_link tells the listener of a change of the link, and of the first
 * thing known of it: a first attempt that failed is news (a link down from
 * the start), its repeats while down are not. */
static void s_link(zmq_adapter_t *self, bool up)
{
    if (self->told && self->up == up)
        return;
    bool first = !self->told;
    self->told = true;
    self->up = up;
    if (up) {
        self->stats.link_ups++;
        log_notice("platform %s: connected to %s", self->name, self->endpoint);
    } else {
        self->stats.link_downs++;
        if (first)
            log_warning("platform %s: cannot connect to %s; trying again every %d s at most",
                        self->name, self->endpoint, RECONNECT_IVL_MAX_MS / 1000);
        else
            log_warning("platform %s: lost the connection to %s; reconnecting", self->name,
                        self->endpoint);
    }
    if (self->listener.link)
        self->listener.link(self->listener.arg, up);
}

/* s_step_monitor reads the DEALER's connection events: a completed
 * handshake is a link up; a disconnect, an attempt that failed (refused,
 * or unanswered for CONNECT_TIMEOUT_MS: libzmq schedules the next one) and
 * a handshake that failed (not a ZMTP peer) are a link down. Each event is
 * two frames: (u16 event, u32 value), then the peer's address. */
static void s_step_monitor(zmq_adapter_t *self)
{
    for (;;) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, self->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            return;
        }
        uint16_t event = 0;
        if (zmq_msg_size(&msg) >= sizeof event)
            memcpy(&event, zmq_msg_data(&msg), sizeof event);
        zmq_msg_close(&msg);
        envelope_discard_rest(self->monitor);
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
            s_link(self, true);
        else if (event == ZMQ_EVENT_DISCONNECTED || event == ZMQ_EVENT_CONNECT_RETRIED ||
                 (event & S_HANDSHAKE_FAILED))
            s_link(self, false);
    }
}

/* s_step: link changes first (a callback may want to ask Status), then the
 * replies that arrived, then the deadlines: a reply here in time wins over
 * a deadline that passed while the loop was busy elsewhere. */
static void s_step(adapter_t *a, uint64_t now_ms)
{
    zmq_adapter_t *self = s_self(a);
    s_step_monitor(self);
    s_step_replies(self, now_ms);
    s_step_deadlines(self, now_ms);
    self->stats.outstanding = self->inflight.count;
}

static size_t s_poll(adapter_t *a, zmq_pollitem_t *items, size_t max)
{
    zmq_adapter_t *self = s_self(a);
    void *sockets[] = {self->socket, self->monitor};
    size_t n = 0;
    for (; n < max && n < sizeof sockets / sizeof sockets[0]; n++)
        items[n] = (zmq_pollitem_t){.socket = sockets[n], .events = ZMQ_POLLIN};
    return n;
}

static int s_timeout_ms(const adapter_t *a, uint64_t now_ms)
{
    const zmq_adapter_t *self = (const zmq_adapter_t *)a;
    if (self->more)
        return 0;
    uint64_t due = inflight_next_deadline(&self->inflight);
    if (due == UINT64_MAX)
        return -1;
    if (due <= now_ms)
        return 0;
    return due - now_ms > INT_MAX ? INT_MAX : (int)(due - now_ms);
}

static const adapter_stats_t *s_stats(const adapter_t *a)
{
    return &((const zmq_adapter_t *)a)->stats;
}

const adapter_ops_t zmq_adapter_ops = {
    .name = "zmq",
    .open = s_open,
    .close = s_close,
    .poll = s_poll,
    .timeout_ms = s_timeout_ms,
    .step = s_step,
    .quote = s_quote,
    .dispatch = s_dispatch,
    .cancel = s_cancel,
    .status = s_status,
    .settlement = s_settlement,
    .stats = s_stats,
};
