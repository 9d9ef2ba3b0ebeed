/* support.c - owns the support thread (see support.h). */
#include "support.h"

#include "clock.h"
#include "log.h"
#include "order.h"
#include "support_query.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What goes over the PAIR: one frame, a kind byte and its payload. */
enum {
    MSG_LOOKUP = 1, /* loop -> thread: a lookup_t *, now the thread's */
    MSG_STORE,      /* loop -> thread: "zone\0name\0" answering MSG_ASK ("" unknown) */
    MSG_STOP,       /* loop -> thread: finish up */
    MSG_ASK,        /* thread -> loop: the uint32_t store id of the lookup it runs */
    MSG_DONE,       /* thread -> loop: a lookup_t *, answered or not run, the loop's again */
    MSG_BYE,        /* thread -> loop: the thread is gone from its socket */
};

#define SUPPORT_STORE_MSG_MAX 1024

typedef enum lookup_kind { LOOKUP_ORDER, LOOKUP_STORE_DAY } lookup_kind_t;

typedef struct lookup {
    struct lookup *next;      /* the thread's list of those read early */
    support_t *support;
    control_ticket_t *ticket;
    lookup_kind_t kind;
    char order_id[ORDER_ID_MAX + 1];
    uint32_t store_id;        /* LOOKUP_STORE_DAY */
    bool iso_times;
    bool ran;
    support_query_status_t status;
    char error[512];
    char *zone, *store_name;  /* the loop's answer to MSG_ASK; a store day's given zone */
    support_query_order_t order;
    support_query_store_t store;
} lookup_t;

struct support {
    void *loop_socket;        /* the loop's end */
    void *thread_socket;      /* the thread's end; only it touches it once started */
    pthread_t thread;
    bool thread_started;
    size_t waiting;
    /* The thread's own. */
    char *conninfo;
    support_query_t *db;
    uint64_t retry_at_ms;
    char last_error[512];
    lookup_t *early, **early_tail;
    bool stopping;
};

/* s_send sends KIND and LEN bytes of PAYLOAD as one frame. */
static bool s_send(void *socket, int kind, const void *payload, size_t len, int flags)
{
    uint8_t buf[1 + SUPPORT_STORE_MSG_MAX];
    if (len > SUPPORT_STORE_MSG_MAX)
        return false;
    buf[0] = (uint8_t)kind;
    if (len)
        memcpy(buf + 1, payload, len);
    return zmq_send(socket, buf, 1 + len, flags) == (int)(1 + len);
}

/* s_recv reads one frame into BUF (CAP bytes); returns its kind, 0 when
 * none (ZMQ_DONTWAIT) or on error. *LEN is the payload's length. */
static int s_recv(void *socket, int flags, uint8_t *buf, size_t cap, size_t *len)
{
    int n;
    while ((n = zmq_recv(socket, buf, cap, flags)) < 0 && zmq_errno() == EINTR)
        ;
    if (n < 1 || (size_t)n > cap)
        return 0;
    *len = (size_t)n - 1;
    return buf[0];
}

static bool s_send_lookup(void *socket, int kind, lookup_t *l, int flags)
{
    return s_send(socket, kind, &l, sizeof l, flags);
}

static lookup_t *s_payload_lookup(const uint8_t *buf, size_t len)
{
    lookup_t *l = NULL;
    if (len == sizeof l)
        memcpy(&l, buf + 1, sizeof l);
    return l;
}

static void s_lookup_free(lookup_t *l)
{
    if (!l)
        return;
    support_query_order_clear(&l->order);
    support_query_store_clear(&l->store);
    free(l->zone);
    free(l->store_name);
    free(l->ticket);
    free(l);
}

/* ---- the thread --------------------------------------------------------- */

static void s_keep_early(support_t *self, lookup_t *l)
{
    l->next = NULL;
    *self->early_tail = l;
    self->early_tail = &l->next;
}

/* s_store_of: support_query_zone_fn run on the thread; asks the loop, keeping any
 * lookup that arrives meanwhile for later. */
static const char *s_store_of(uint32_t store_id, void *arg)
{
    lookup_t *l = arg;
    support_t *self = l->support;
    if (self->stopping || !s_send(self->thread_socket, MSG_ASK, &store_id, sizeof store_id, 0))
        return NULL;
    uint8_t buf[1 + SUPPORT_STORE_MSG_MAX + 1];
    for (;;) {
        size_t len;
        int kind = s_recv(self->thread_socket, 0, buf, sizeof buf - 1, &len);
        if (kind == MSG_LOOKUP) {
            lookup_t *next = s_payload_lookup(buf, len);
            if (next)
                s_keep_early(self, next);
            continue;
        }
        if (kind == MSG_STORE) {
            buf[1 + len] = '\0';
            const char *zone = (const char *)buf + 1;
            size_t zone_len = strnlen(zone, len);
            const char *name = zone_len < len ? zone + zone_len + 1 : "";
            l->zone = zone[0] ? strdup(zone) : NULL;
            l->store_name = name[0] ? strdup(name) : NULL;
            return l->zone;
        }
        /* MSG_STOP, or the socket failed: the zone is UTC, and stop after. */
        self->stopping = true;
        return NULL;
    }
}

/* s_connect makes sure of a connection; false (with L's error set) when
 * there is none, without trying again within SUPPORT_RECONNECT_MS. */
static bool s_connect(support_t *self, lookup_t *l)
{
    if (self->db)
        return true;
    uint64_t now = clock_mono_ms();
    l->status = SUPPORT_QUERY_UNREACHABLE;
    if (now < self->retry_at_ms) {
        snprintf(l->error, sizeof l->error, "%s", self->last_error);
        return false;
    }
    self->db = support_query_new(self->conninfo);
    if (!self->db) {
        l->status = SUPPORT_QUERY_FAILED;
        snprintf(l->error, sizeof l->error, "out of memory");
        return false;
    }
    if (support_query_connect(self->db) == SUPPORT_QUERY_OK)
        return true;
    snprintf(self->last_error, sizeof self->last_error, "PostgreSQL unreachable at %s: %s",
             support_query_target(self->db), support_query_error(self->db));
    snprintf(l->error, sizeof l->error, "%s", self->last_error);
    support_query_destroy(&self->db);
    self->retry_at_ms = now + SUPPORT_RECONNECT_MS;
    return false;
}

static void s_run(support_t *self, lookup_t *l)
{
    l->ran = true;
    if (!s_connect(self, l))
        return;
    support_query_times_t times = l->iso_times ? SUPPORT_QUERY_TIMES_ISO : SUPPORT_QUERY_TIMES_TEXT;
    if (l->kind == LOOKUP_STORE_DAY)
        l->status = support_query_store_read(self->db, l->store_id, l->zone, times, &l->store);
    else
        l->status = support_query_order_read(self->db, l->order_id, times, s_store_of, l,
                                             &l->order);
    if (l->status == SUPPORT_QUERY_OK || l->status == SUPPORT_QUERY_NOT_FOUND)
        return;
    snprintf(l->error, sizeof l->error, "%s", support_query_error(self->db));
    if (l->status == SUPPORT_QUERY_UNREACHABLE)
        support_query_destroy(&self->db); /* connect again for the next one */
}

/* s_next_lookup: one kept early, else the next from the loop; NULL means stop. */
static lookup_t *s_next_lookup(support_t *self)
{
    uint8_t buf[1 + SUPPORT_STORE_MSG_MAX];
    while (!self->stopping) {
        if (self->early) {
            lookup_t *l = self->early;
            if (!(self->early = l->next))
                self->early_tail = &self->early;
            return l;
        }
        size_t len;
        int kind = s_recv(self->thread_socket, 0, buf, sizeof buf, &len);
        if (kind == MSG_LOOKUP) {
            lookup_t *l = s_payload_lookup(buf, len);
            if (l)
                return l;
        } else if (kind != MSG_STORE) { /* a late answer is dropped */
            self->stopping = true;
        }
    }
    return NULL;
}

static void *s_thread_main(void *arg)
{
    support_t *self = arg;
    lookup_t *l;
    while ((l = s_next_lookup(self)) != NULL) {
        s_run(self, l);
        s_send_lookup(self->thread_socket, MSG_DONE, l, 0);
    }
    /* Whatever was read early goes back unanswered, for the loop to free. */
    while ((l = self->early) != NULL) {
        self->early = l->next;
        s_send_lookup(self->thread_socket, MSG_DONE, l, 0);
    }
    support_query_destroy(&self->db);
    s_send(self->thread_socket, MSG_BYE, NULL, 0, 0);
    return NULL;
}

/* ---- the loop's side ---------------------------------------------------- */

support_t *support_new(void *ctx, const char *conninfo)
{
    support_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->early_tail = &self->early;
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "inproc://sluice-support-%p", (void *)self);
    int linger = 0;
    if (!(self->conninfo = strdup(conninfo ? conninfo : "")) ||
        !(self->loop_socket = zmq_socket(ctx, ZMQ_PAIR)) ||
        !(self->thread_socket = zmq_socket(ctx, ZMQ_PAIR)) ||
        zmq_setsockopt(self->loop_socket, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_setsockopt(self->thread_socket, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_bind(self->loop_socket, endpoint) != 0 ||
        zmq_connect(self->thread_socket, endpoint) != 0) {
        log_error("failed to make the support thread's sockets: %s", zmq_strerror(zmq_errno()));
        support_destroy(&self);
        return NULL;
    }
    int rc = pthread_create(&self->thread, NULL, s_thread_main, self);
    if (rc != 0) {
        log_error("failed to start the support thread: %s", strerror(rc));
        support_destroy(&self);
        return NULL;
    }
    self->thread_started = true;
    return self;
}

/* s_drain: after MSG_STOP, frees what comes back until the thread says bye. */
static void s_drain(support_t *self)
{
    uint8_t buf[1 + SUPPORT_STORE_MSG_MAX];
    for (;;) {
        size_t len;
        int kind = s_recv(self->loop_socket, 0, buf, sizeof buf, &len);
        if (kind == MSG_DONE) {
            s_lookup_free(s_payload_lookup(buf, len));
        } else if (kind == MSG_ASK) {
            s_send(self->loop_socket, MSG_STORE, "\0", 2, 0);
        } else {
            return; /* MSG_BYE, or the socket failed */
        }
    }
}

void support_destroy(support_t **self)
{
    if (!self || !*self)
        return;
    support_t *s = *self;
    if (s->thread_started) {
        if (s_send(s->loop_socket, MSG_STOP, NULL, 0, 0))
            s_drain(s);
        pthread_join(s->thread, NULL);
    }
    if (s->loop_socket)
        zmq_close(s->loop_socket);
    if (s->thread_socket)
        zmq_close(s->thread_socket);
    free(s->conninfo);
    free(s);
    *self = NULL;
}

size_t support_poll(support_t *self, zmq_pollitem_t *items, size_t max)
{
    if (!self || max == 0)
        return 0;
    items[0] = (zmq_pollitem_t){.socket = self->loop_socket, .events = ZMQ_POLLIN};
    return 1;
}

size_t support_waiting(const support_t *self)
{
    return self ? self->waiting : 0;
}

/* s_lookup_new: a lookup of KIND, or NULL when too many wait. */
static lookup_t *s_lookup_new(support_t *self, lookup_kind_t kind, bool iso_times)
{
    if (!self || self->waiting >= SUPPORT_LOOKUPS_MAX)
        return NULL;
    lookup_t *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->support = self;
    l->kind = kind;
    l->iso_times = iso_times;
    return l;
}

/* s_hand_over gives L to the thread, with TICKET once it is sure to go. */
static bool s_hand_over(support_t *self, lookup_t *l, control_ticket_t *ticket)
{
    if (!s_send_lookup(self->loop_socket, MSG_LOOKUP, l, ZMQ_DONTWAIT)) {
        s_lookup_free(l);
        return false;
    }
    l->ticket = ticket; /* only now: a refused hand-over leaves it the caller's */
    self->waiting++;
    return true;
}

bool support_order(support_t *self, control_ticket_t *ticket, const char *order_id,
                   bool iso_times)
{
    if (strlen(order_id) > ORDER_ID_MAX)
        return false;
    lookup_t *l = s_lookup_new(self, LOOKUP_ORDER, iso_times);
    if (!l)
        return false;
    snprintf(l->order_id, sizeof l->order_id, "%s", order_id);
    return s_hand_over(self, l, ticket);
}

bool support_store_day(support_t *self, control_ticket_t *ticket, uint32_t store_id,
                       const char *zone, bool iso_times)
{
    lookup_t *l = s_lookup_new(self, LOOKUP_STORE_DAY, iso_times);
    if (!l)
        return false;
    l->store_id = store_id;
    if (zone && zone[0] && !(l->zone = strdup(zone))) {
        s_lookup_free(l);
        return false;
    }
    return s_hand_over(self, l, ticket);
}

/* s_text: a NULL column is "" on the wire. */
static char *s_text(const char *v)
{
    return (char *)(v ? v : "");
}

/* s_answer_order sends L's order. The reply points into L. */
static void s_answer_order(control_t *control, lookup_t *l)
{
    const support_query_order_t *o = &l->order;
    const support_query_order_row_t *r = &o->row;
    Sluice__Control__V1__OrderRow row = SLUICE__CONTROL__V1__ORDER_ROW__INIT;
    row.order_id = s_text(r->order_id);
    row.store_id = s_text(r->store_id);
    row.state = s_text(r->state);
    row.items_json = s_text(r->items_json);
    row.items_text = s_text(r->items_text);
    row.voucher_id = s_text(r->voucher_id);
    row.customer_ref = s_text(r->customer_ref);
    row.accepted_at = s_text(r->accepted_at);
    row.promised_ready_at = s_text(r->promised_ready_at);
    row.promised_delivery_at = s_text(r->promised_delivery_at);
    row.updated_at = s_text(r->updated_at);
    row.refund_due = r->refund_due;
    row.prep_slot = s_text(r->prep_slot);
    row.prep_start_at = s_text(r->prep_start_at);
    row.campaign = s_text(r->campaign);

    Sluice__Control__V1__DispatchAttempt *d = calloc(o->dispatch_count + 1, sizeof *d);
    Sluice__Control__V1__DispatchAttempt **dp = calloc(o->dispatch_count + 1, sizeof *dp);
    Sluice__Control__V1__OrderEvent *e = calloc(o->event_count + 1, sizeof *e);
    Sluice__Control__V1__OrderEvent **ep = calloc(o->event_count + 1, sizeof *ep);
    if (!d || !dp || !e || !ep) {
        control_reply_error(control, l->ticket, SLUICE__CONTROL__V1__ERROR__CODE__UNAVAILABLE,
                            "order %s: out of memory", l->order_id);
        goto done;
    }
    for (size_t i = 0; i < o->dispatch_count; i++) {
        const support_query_dispatch_t *src = &o->dispatches[i];
        sluice__control__v1__dispatch_attempt__init(&d[i]);
        d[i].attempt = s_text(src->attempt);
        d[i].platform = s_text(src->platform);
        d[i].dispatch_key = s_text(src->dispatch_key);
        d[i].state = s_text(src->state);
        d[i].rider_ref = s_text(src->rider_ref);
        d[i].fee_cents = s_text(src->fee_cents);
        d[i].pickup_at = s_text(src->pickup_at);
        d[i].created_at = s_text(src->created_at);
        d[i].updated_at = s_text(src->updated_at);
        dp[i] = &d[i];
    }
    for (size_t i = 0; i < o->event_count; i++) {
        const support_query_event_t *src = &o->events[i];
        sluice__control__v1__order_event__init(&e[i]);
        e[i].event_id = s_text(src->event_id);
        e[i].at = s_text(src->at);
        e[i].state = s_text(src->state);
        e[i].detail = s_text(src->detail);
        ep[i] = &e[i];
    }
    Sluice__Control__V1__OrderReply body = SLUICE__CONTROL__V1__ORDER_REPLY__INIT;
    body.timezone = s_text(o->timezone);
    body.store_name = s_text(l->store_name);
    body.order = &row;
    body.n_dispatches = o->dispatch_count;
    body.dispatches = dp;
    body.n_events = o->event_count;
    body.events = ep;
    control_reply_t reply = SLUICE__CONTROL__V1__REPLY__INIT;
    reply.body_case = SLUICE__CONTROL__V1__REPLY__BODY_ORDER;
    reply.order = &body;
    control_reply(control, l->ticket, &reply);
done:
    free(d);
    free(dp);
    free(e);
    free(ep);
}

/* s_answer_store_day sends L's store day. The reply points into L. */
static void s_answer_store_day(control_t *control, lookup_t *l)
{
    const support_query_store_t *d = &l->store;
    Sluice__Control__V1__StateCount *c = calloc(d->live_states + 1, sizeof *c);
    Sluice__Control__V1__StateCount **cp = calloc(d->live_states + 1, sizeof *cp);
    if (!c || !cp) {
        control_reply_error(control, l->ticket, SLUICE__CONTROL__V1__ERROR__CODE__UNAVAILABLE,
                            "store %" PRIu32 ": out of memory", l->store_id);
        goto done;
    }
    for (size_t i = 0; i < d->live_states; i++) {
        sluice__control__v1__state_count__init(&c[i]);
        c[i].state = s_text(d->live[i].state);
        c[i].count = d->live[i].count;
        cp[i] = &c[i];
    }
    Sluice__Control__V1__StoreDayReply body = SLUICE__CONTROL__V1__STORE_DAY_REPLY__INIT;
    body.timezone = s_text(d->timezone);
    body.now = s_text(d->now);
    body.today = s_text(d->today);
    body.day_start = s_text(d->day_start);
    body.n_live = d->live_states;
    body.live = cp;
    body.latest_ready = s_text(d->latest_ready);
    body.wait_seconds = d->wait_seconds;
    body.accepted_today = d->accepted_today;
    body.delivered_today = d->delivered_today;
    body.cancelled_today = d->cancelled_today;
    body.failed_today = d->failed_today;
    body.live_today = d->live_today;
    body.last_accepted = s_text(d->last_accepted);
    control_reply_t reply = SLUICE__CONTROL__V1__REPLY__INIT;
    reply.body_case = SLUICE__CONTROL__V1__REPLY__BODY_STORE_DAY;
    reply.store_day = &body;
    control_reply(control, l->ticket, &reply);
done:
    free(c);
    free(cp);
}

/* s_what names what L looks up, for the log: "order X", "store N". */
static const char *s_what(const lookup_t *l, char *out, size_t len)
{
    if (l->kind == LOOKUP_STORE_DAY)
        snprintf(out, len, "store %" PRIu32, l->store_id);
    else
        snprintf(out, len, "order %s", l->order_id);
    return out;
}

static void s_answer(control_t *control, lookup_t *l)
{
    /* one per lookup while PostgreSQL is away: limited */
    static log_limiter_t failed_log = LOG_LIMITER_INIT;
    char what[96];
    switch (l->ran ? l->status : SUPPORT_QUERY_FAILED) {
    case SUPPORT_QUERY_OK:
        if (l->kind == LOOKUP_STORE_DAY)
            s_answer_store_day(control, l);
        else
            s_answer_order(control, l);
        return;
    case SUPPORT_QUERY_NOT_FOUND:
        control_reply_error(control, l->ticket, SLUICE__CONTROL__V1__ERROR__CODE__NOT_FOUND,
                            "order %s: not in PostgreSQL", l->order_id);
        return;
    case SUPPORT_QUERY_UNREACHABLE:
        log_limited(&failed_log, LOG_LEVEL_WARNING, "support: %s not looked up: %s",
                    s_what(l, what, sizeof what), l->error);
        control_reply_error(control, l->ticket, SLUICE__CONTROL__V1__ERROR__CODE__UNAVAILABLE,
                            "%s", l->error);
        return;
    default:
        log_limited(&failed_log, LOG_LEVEL_WARNING, "support: %s not looked up: %s",
                    s_what(l, what, sizeof what), l->ran ? l->error : "the support thread stopped");
        control_reply_error(control, l->ticket, SLUICE__CONTROL__V1__ERROR__CODE__FAILED, "%s",
                            l->ran ? l->error : "the support thread stopped");
        return;
    }
}

/* s_answer_store answers the thread's MSG_ASK about store ID. */
static void s_answer_store(support_t *self, uint32_t id, support_store_fn *store_fn, void *arg)
{
    const char *zone = NULL, *name = NULL;
    store_fn(id, &zone, &name, arg);
    char buf[SUPPORT_STORE_MSG_MAX];
    int n = snprintf(buf, sizeof buf, "%s%c%s", zone ? zone : "", '\0', name ? name : "");
    size_t len = n < 0 ? 0 : (size_t)n >= sizeof buf ? sizeof buf - 1 : (size_t)n;
    /* Blocking at most for a moment: the thread is waiting for exactly this. */
    static log_limiter_t failed_log = LOG_LIMITER_INIT;
    if (!s_send(self->loop_socket, MSG_STORE, buf, len + 1, 0))
        log_limited(&failed_log, LOG_LEVEL_ERR, "support: failed to answer the thread: %s",
                    zmq_strerror(zmq_errno()));
}

void support_step(support_t *self, control_t *control, support_store_fn *store_fn, void *arg)
{
    if (!self)
        return;
    uint8_t buf[1 + SUPPORT_STORE_MSG_MAX];
    for (;;) {
        size_t len;
        int kind = s_recv(self->loop_socket, ZMQ_DONTWAIT, buf, sizeof buf, &len);
        if (kind == 0)
            return;
        if (kind == MSG_ASK && len == sizeof(uint32_t)) {
            uint32_t id;
            memcpy(&id, buf + 1, sizeof id);
            s_answer_store(self, id, store_fn, arg);
        } else if (kind == MSG_DONE) {
            lookup_t *l = s_payload_lookup(buf, len);
            if (!l)
                continue;
            self->waiting--;
            s_answer(control, l);
            s_lookup_free(l);
        }
    }
}
