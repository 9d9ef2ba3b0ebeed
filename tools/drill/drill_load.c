/* drill_load.c - owns sluice-drill's producers: orders made to the demand
 * curve (a share of them for the giveaway's campaign) and submitted over
 * DEALER sockets, retried when rejected, sent again when unanswered, held
 * for a store that is not open when they honour the availability feed, and
 * the stores' MarkReady when their kitchens finish (see drill.h). */
#include "drill.h"

#include "clock.h"
#include "proto/events.pb-c.h"
#include "proto/sluice.pb-c.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static void s_heap_push(heap_t *h, timer_t_ t)
{
    if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 4096;
        timer_t_ *v = realloc(h->v, nc * sizeof *v);
        if (v == NULL)
            return;   /* the order then stays where it is; counted as never answered */
        h->v = v;
        h->cap = nc;
    }
    size_t i = h->n++;
    while (i > 0 && h->v[(i - 1) / 2].at_us > t.at_us) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = t;
}

static timer_t_ s_heap_pop(heap_t *h)
{
    timer_t_ top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->v[c + 1].at_us < h->v[c].at_us)
            c++;
        if (h->v[c].at_us >= last.at_us)
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n > 0)
        h->v[i] = last;
    return top;
}

bool drill_load_open(drill_t *d)
{
    for (uint32_t k = 0; k < d->opt.connections; k++) {
        void *s = zmq_socket(d->zctx, ZMQ_DEALER);
        if (s == NULL)
            return false;
        int linger = 0, hwm = 100000, ivl = 100;
        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
        zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
        zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
        zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
        if (zmq_connect(s, d->ep.ingress) != 0) {
            drill_log(d, "failed to connect to %s: %s", d->ep.ingress, zmq_strerror(errno));
            zmq_close(s);
            return false;
        }
        d->conns[k] = s;
    }
    if (!d->opt.honour)
        return true;
    d->avail = zmq_socket(d->zctx, ZMQ_SUB);
    int linger = 0, hwm = 100000;
    if (d->avail == NULL || zmq_setsockopt(d->avail, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_setsockopt(d->avail, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(d->avail, ZMQ_SUBSCRIBE, "avail.", 6) != 0 ||
        zmq_connect(d->avail, d->ep.events) != 0) {
        drill_log(d, "failed to subscribe to %s: %s", d->ep.events, zmq_strerror(errno));
        return false;
    }
    return true;
}

/* s_kind: the report's figures of order O's kind at its store's class. */
static drill_kind_t *s_kind(drill_t *d, const order_rec_t *o)
{
    const drill_store_t *st = &d->world->stores[o->store];
    return &d->report->kinds[drill_report_class(st->rank)][o->campaign ? 1 : 0];
}

size_t drill_load_sec(const drill_t *d, uint64_t now_us)
{
    return (size_t)((now_us - d->start_us) / 1000000u);
}

/* s_send submits order IDX (again): same id and content, a new request_id. */
static void s_send(drill_t *d, uint32_t idx, uint64_t now)
{
    order_rec_t *o = &d->orders[idx];
    char id[48], sku[3][8];
    snprintf(id, sizeof id, "%s-%" PRIu32, d->prefix, idx);
    Sluice__V1__Item items[3], *item_ptr[3];
    for (uint32_t i = 0; i < o->items; i++) {
        items[i] = (Sluice__V1__Item)SLUICE__V1__ITEM__INIT;
        snprintf(sku[i], sizeof sku[i], "tea-%u", (idx + i) % 7);
        items[i].sku = sku[i];
        items[i].quantity = 1;
        item_ptr[i] = &items[i];
    }
    Sluice__V1__Geo geo = SLUICE__V1__GEO__INIT;
    geo.lat = o->lat;
    geo.lng = o->lng;
    Sluice__V1__SubmitOrder sub = SLUICE__V1__SUBMIT_ORDER__INIT;
    sub.order_id = id;
    sub.store_id = d->world->stores[o->store].id;
    sub.n_items = o->items;
    sub.items = item_ptr;
    sub.dropoff = &geo;
    sub.created_at_ms = clock_wall_ms();
    sub.campaign = (char *)(o->campaign ? DRILL_CAMPAIGN : "");
    Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
    o->attempt++;
    req.request_id = ((uint64_t)idx << 16) | (o->attempt & 0xffffu);
    req.body_case = SLUICE__V1__REQUEST__BODY_SUBMIT;
    req.submit = &sub;
    uint8_t buf[PACK_BYTES];
    size_t len = protobuf_c_message_pack(&req.base, buf);
    bool sent = false;
    for (uint32_t tries = 0; tries < d->opt.connections && !sent; tries++) {
        void *s = d->conns[d->rr++ % d->opt.connections];
        sent = zmq_send(s, buf, len, ZMQ_DONTWAIT) == (int)len;
    }
    drill_second_t *e = drill_report_second(d->report, drill_load_sec(d, now));
    if (e != NULL)
        e->sent++;
    d->report->submissions++;
    s_kind(d, o)->submissions++;
    o->sent_us = now;
    if (o->state != OS_INFLIGHT)
        d->inflight++;
    o->state = OS_INFLIGHT;
    /* an unsent request is treated like a lost one: sent again after the timeout */
    s_heap_push(&d->timers, (timer_t_){now + REPLY_TIMEOUT_MS * 1000u, idx, o->attempt, TIMER_SUBMIT});
}

/* s_send_ready: the store's POS says order IDX is made. */
static void s_send_ready(drill_t *d, uint32_t idx)
{
    char id[48];
    snprintf(id, sizeof id, "%s-%" PRIu32, d->prefix, idx);
    Sluice__V1__MarkReady mr = SLUICE__V1__MARK_READY__INIT;
    mr.order_id = id;
    Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
    req.request_id = POS_BIT | idx;
    req.body_case = SLUICE__V1__REQUEST__BODY_READY;
    req.ready = &mr;
    uint8_t buf[256];
    size_t len = protobuf_c_message_pack(&req.base, buf);
    void *sock = d->conns[d->rr++ % d->opt.connections];
    if (zmq_send(sock, buf, len, ZMQ_DONTWAIT) == (int)len) {
        d->orders[idx].pos_tries++;
        d->report->ready_sent++;
    }
}

/* s_schedule_ready: the kitchen finishes order IDX around its promised ready
 * time, early or late by a share of its prep time, and the POS says so. */
static void s_schedule_ready(drill_t *d, uint32_t idx, uint64_t promised_ready_ms, uint64_t now)
{
    if (d->opt.no_pos || promised_ready_ms == 0)
        return;
    const order_rec_t *o = &d->orders[idx];
    const drill_store_t *st = &d->world->stores[o->store];
    double prep_ms = 1000.0 * (st->cfg_order_seconds + o->items * st->cfg_item_seconds);
    double jitter = prep_ms * (-0.25 + 0.40 * drill_world_uniform(&d->pos_rng));
    double delay_ms = (double)promised_ready_ms - (double)clock_wall_ms() + jitter;
    uint64_t at = now + (uint64_t)(delay_ms > 0 ? delay_ms * 1000.0 : 0);
    s_heap_push(&d->timers, (timer_t_){at, idx, 0, TIMER_POS});
}

static void s_on_ready_reply(drill_t *d, const Sluice__V1__Reply *rep, uint64_t now)
{
    uint64_t idx = rep->request_id & ~POS_BIT;
    if (idx >= d->order_count)
        return;
    if (rep->body_case == SLUICE__V1__REPLY__BODY_STATUS) {
        d->report->ready_ok++;
    } else if (rep->body_case == SLUICE__V1__REPLY__BODY_ERROR &&
               rep->error->code == ERROR_UNAVAILABLE && d->orders[idx].pos_tries < POS_TRIES_MAX) {
        s_heap_push(&d->timers,
                    (timer_t_){now + POS_RETRY_MS * 1000u, (uint32_t)idx, 0, TIMER_POS});
    } else {
        d->report->ready_refused++;   /* e.g. the order was cancelled or failed meanwhile */
        if (d->report->ready_refused_example[0] == '\0' && rep->body_case == SLUICE__V1__REPLY__BODY_ERROR)
            snprintf(d->report->ready_refused_example, sizeof d->report->ready_refused_example,
                     "%u %s", rep->error->code, rep->error->message ? rep->error->message : "");
    }
}

/* ---- honouring the availability feed ------------------------------------
 *
 * Each store's view says when it takes orders again: an avail.<store_id>
 * event sets it (open: now; busy or closed: its next_at; paused: try again
 * in PAUSED_RECHECK_MS), and so does a reply (a store's refusal: its
 * retry_after_ms; a campaign's refusal, for campaign orders only). An order
 * whose store is closed to it, or behind which others of its kind wait,
 * is held; when the store may have room, the oldest is sent alone, and the
 * next only after its answer. */

/* s_gate_us: when view V lets an order of KIND (1: the campaign's) go. */
static uint64_t s_gate_us(const store_view_t *v, int kind)
{
    return kind && v->campaign_at_us > v->open_at_us ? v->campaign_at_us : v->open_at_us;
}

static bool s_must_wait(const drill_t *d, const order_rec_t *o, uint64_t now)
{
    const store_view_t *v = &d->views[o->store];
    return v->head[o->campaign] != 0 || v->probing[o->campaign] ||
           s_gate_us(v, o->campaign) > now;
}

/* s_wake sets a TIMER_STORE for when STORE's next held order may go. */
static void s_wake(drill_t *d, uint32_t store, uint64_t now)
{
    store_view_t *v = &d->views[store];
    uint64_t at = UINT64_MAX;
    for (int kind = 0; kind < 2; kind++)
        if (v->head[kind] && !v->probing[kind] && s_gate_us(v, kind) < at)
            at = s_gate_us(v, kind);
    if (at == UINT64_MAX || at <= now || (v->wake_us > now && v->wake_us <= at))
        return;
    v->wake_us = at;
    s_heap_push(&d->timers, (timer_t_){at, store, 0, TIMER_STORE});
}

/* s_pump sends the oldest held order of each kind that STORE lets go now. */
static void s_pump(drill_t *d, uint32_t store, uint64_t now)
{
    store_view_t *v = &d->views[store];
    for (int kind = 0; kind < 2; kind++) {
        if (!v->head[kind] || v->probing[kind] || s_gate_us(v, kind) > now)
            continue;
        uint32_t idx = v->head[kind] - 1;
        order_rec_t *o = &d->orders[idx];
        v->head[kind] = o->next_held;
        if (!v->head[kind])
            v->tail[kind] = 0;
        o->next_held = 0;
        o->probe = 1;
        v->probing[kind] = true;
        o->state = OS_WAIT;
        s_send(d, idx, now);
    }
    s_wake(d, store, now);
}

/* s_hold holds order IDX for its store, first in line when FRONT (it was
 * sent already and refused). */
static void s_hold(drill_t *d, uint32_t idx, bool front, uint64_t now)
{
    order_rec_t *o = &d->orders[idx];
    store_view_t *v = &d->views[o->store];
    int kind = o->campaign;
    drill_load_finish(d, o, OS_HELD);
    if (!o->was_held) {
        o->was_held = 1;
        d->report->held++;
    }
    o->next_held = 0;
    if (front) {
        o->next_held = v->head[kind];
        v->head[kind] = idx + 1;
        if (!v->tail[kind])
            v->tail[kind] = idx + 1;
    } else {
        if (v->tail[kind])
            d->orders[v->tail[kind] - 1].next_held = idx + 1;
        else
            v->head[kind] = idx + 1;
        v->tail[kind] = idx + 1;
    }
    s_wake(d, o->store, now);
}

/* s_unprobe: order O's answer came (or never will): its store may send the
 * next held order of its kind. */
static void s_unprobe(drill_t *d, order_rec_t *o)
{
    if (o->probe && d->views != NULL)
        d->views[o->store].probing[o->campaign] = false;
    o->probe = 0;
}

/* s_refused_here: with the feed honoured, a refusal by O's store or by the
 * campaign there closes the store's view to it until the retry time, and O
 * waits in line (or gives up: out of tries, or no time helps). False for a
 * refusal of the whole daemon, retried as without the feed. */
static bool s_refused_here(drill_t *d, uint32_t idx, const Sluice__V1__OrderAck *ack, uint64_t now)
{
    order_rec_t *o = &d->orders[idx];
    store_view_t *v = &d->views[o->store];
    uint64_t until = ack->retry_after_ms ? now + ack->retry_after_ms * 1000u : UINT64_MAX;
    switch (ack->reason) {
    case SLUICE__V1__REASON__STORE_BUSY:
    case SLUICE__V1__REASON__STORE_CLOSED:
    case SLUICE__V1__REASON__STORE_PAUSED:
        if (ack->retry_after_ms)    /* 0: this order never fits; the store may take others */
            v->open_at_us = until;
        break;
    case SLUICE__V1__REASON__CAMPAIGN_LIMIT:
        v->campaign_at_us = until;
        break;
    default:
        return false;
    }
    s_unprobe(d, o);
    if (o->tries >= d->opt.max_tries || ack->retry_after_ms == 0) {
        d->report->gave_up++;
        drill_load_finish(d, o, OS_GAVE_UP);
        s_pump(d, o->store, now);
    } else {
        s_hold(d, idx, true, now);
    }
    return true;
}

void drill_load_feed(drill_t *d, uint64_t now)
{
    if (d->avail == NULL)
        return;
    uint64_t wall = clock_wall_ms();
    for (int n = 0; n < 4096; n++) {
        char topic[32];
        uint8_t buf[512];
        if (zmq_recv(d->avail, topic, sizeof topic, ZMQ_DONTWAIT) < 0)
            break;
        int len = zmq_recv(d->avail, buf, sizeof buf, ZMQ_DONTWAIT);
        if (len < 0 || (size_t)len > sizeof buf)
            continue;
        Sluice__V1__AvailabilityEvent *ev =
            sluice__v1__availability_event__unpack(NULL, (size_t)len, buf);
        if (ev == NULL)
            continue;
        d->report->feed_events++;
        size_t s = drill_world_find_store(d->world, ev->store_id);
        if (s != SIZE_MAX) {
            store_view_t *v = &d->views[s];
            bool timed = strcmp(ev->state, "busy") == 0 || strcmp(ev->state, "closed") == 0;
            if (strcmp(ev->state, "open") == 0)
                v->open_at_us = 0;
            else if (timed && ev->next_at_ms)
                v->open_at_us = now + (ev->next_at_ms > wall ? ev->next_at_ms - wall : 0) * 1000u;
            else
                v->open_at_us = now + PAUSED_RECHECK_MS * 1000u;
            s_pump(d, (uint32_t)s, now);
        }
        sluice__v1__availability_event__free_unpacked(ev, NULL);
    }
}

void drill_load_give_up_held(drill_t *d)
{
    for (size_t i = 0; i < d->order_count; i++)
        if (d->orders[i].state == OS_HELD) {
            d->report->gave_up++;
            drill_load_finish(d, &d->orders[i], OS_GAVE_UP);
        }
}

bool drill_load_new_order(drill_t *d, uint64_t now)
{
    if (d->order_count == d->order_cap) {
        size_t nc = d->order_cap ? d->order_cap * 2 : 65536;
        if (nc > 0xffffffffu)
            return false;
        order_rec_t *v = realloc(d->orders, nc * sizeof *v);
        if (v == NULL)
            return false;
        d->orders = v;
        d->order_cap = nc;
    }
    uint32_t idx = (uint32_t)d->order_count++;
    order_rec_t *o = &d->orders[idx];
    memset(o, 0, sizeof *o);
    o->store = (uint32_t)drill_world_pick_store(d->world, &d->rng);
    const drill_store_t *st = &d->world->stores[o->store];
    double u = drill_world_uniform(&d->rng);
    o->items = u < 0.6 ? 1 : u < 0.9 ? 2 : 3;   /* DRILL_MEAN_ITEMS on average */
    o->campaign = drill_world_uniform(&d->rng) < d->opt.campaign_share;
    /* drop-off within ~3 km of the store */
    double r = 3.0 * sqrt(drill_world_uniform(&d->rng)), a = 2 * M_PI * drill_world_uniform(&d->rng);
    o->lat = (float)(st->lat + r * sin(a) / 111.0);
    o->lng = (float)(st->lng + r * cos(a) / (111.0 * cos(st->lat * M_PI / 180)));
    o->state = OS_WAIT;
    d->report->orders++;
    s_kind(d, o)->offered++;
    drill_second_t *e = drill_report_second(d->report, drill_load_sec(d, now));
    if (e != NULL)
        e->offered++;
    if (d->views != NULL && s_must_wait(d, o, now))
        s_hold(d, idx, false, now);
    else
        s_send(d, idx, now);
    return true;
}

void drill_load_finish(drill_t *d, order_rec_t *o, int state)
{
    if (o->state == OS_INFLIGHT)
        d->inflight--;
    o->state = (uint8_t)state;
}

static void s_on_reply(drill_t *d, const uint8_t *data, size_t len, uint64_t now, bool offering,
                       uint64_t offering_end_us)
{
    Sluice__V1__Reply *rep = sluice__v1__reply__unpack(NULL, len, data);
    if (rep == NULL)
        return;
    if (rep->request_id & POS_BIT) {
        s_on_ready_reply(d, rep, now);
        goto done;
    }
    uint64_t idx = rep->request_id >> 16;
    uint32_t attempt = (uint32_t)(rep->request_id & 0xffffu);
    if (idx >= d->order_count)
        goto done;
    order_rec_t *o = &d->orders[idx];
    bool current = o->state == OS_INFLIGHT && (o->attempt & 0xffffu) == attempt;
    if (rep->body_case == SLUICE__V1__REPLY__BODY_ACK) {
        const Sluice__V1__OrderAck *ack = rep->ack;
        if (ack->decision == SLUICE__V1__DECISION__ACCEPTED) {
            if (current)
                drill_report_reply(d->report, drill_load_sec(d, now), (double)(now - o->sent_us) / 1000.0,
                                   ack->decision, 0);
            if (ack->duplicate)
                d->report->duplicates++;
            if (o->state != OS_ACCEPTED) {
                const drill_store_t *st = &d->world->stores[o->store];
                d->report->accepted++;
                drill_kind_t *k = s_kind(d, o);
                k->accepted++;
                k->accepted_prep_s += st->cfg_order_seconds + (double)o->items * st->cfg_item_seconds;
                drill_load_finish(d, o, OS_ACCEPTED);
                s_unprobe(d, o);
                s_schedule_ready(d, (uint32_t)idx, ack->promised_ready_at_ms, now);
                if (d->views != NULL && offering)
                    s_pump(d, o->store, now);
            }
            goto done;
        }
        if (!current)
            goto done;
        drill_report_reply(d->report, drill_load_sec(d, now), (double)(now - o->sent_us) / 1000.0,
                           ack->decision, ack->reason);
        d->report->rejected++;
        if (ack->reason < DRILL_REASONS)
            d->report->reasons[ack->reason]++;
        o->tries++;
        if (d->views != NULL && offering && s_refused_here(d, (uint32_t)idx, ack, now))
            goto done;
        s_unprobe(d, o);
        uint64_t at = now + (ack->retry_after_ms > 0 ? ack->retry_after_ms : 100) * 1000u;
        if (ack->retry_after_ms == 0 && ack->reason != SLUICE__V1__REASON__OVERLOADED &&
            ack->reason != SLUICE__V1__REASON__UNAVAILABLE)
            at = UINT64_MAX;   /* INVALID, CONFLICT, UNKNOWN_STORE: retrying cannot help */
        if (o->tries >= d->opt.max_tries || !offering || at >= offering_end_us) {
            d->report->gave_up++;
            drill_load_finish(d, o, OS_GAVE_UP);
        } else {
            drill_load_finish(d, o, OS_WAIT);
            s_heap_push(&d->timers, (timer_t_){at, (uint32_t)idx, o->attempt, TIMER_SUBMIT});
        }
    } else if (current) {
        drill_report_reply(d->report, drill_load_sec(d, now), (double)(now - o->sent_us) / 1000.0, 0, 0);
        d->report->errors++;
        d->report->gave_up++;
        drill_load_finish(d, o, OS_GAVE_UP);
        s_unprobe(d, o);
    }
done:
    sluice__v1__reply__free_unpacked(rep, NULL);
}

void drill_load_drain(drill_t *d, bool offering, uint64_t offering_end_us)
{
    uint8_t buf[65536];
    for (uint32_t k = 0; k < d->opt.connections; k++) {
        for (int n = 0; n < 4096; n++) {
            int got = zmq_recv(d->conns[k], buf, sizeof buf, ZMQ_DONTWAIT);
            if (got < 0)
                break;
            if ((size_t)got > sizeof buf)
                continue;
            s_on_reply(d, buf, (size_t)got, clock_mono_us(), offering, offering_end_us);
        }
    }
}

/* drill_load_fire_timers: retries of rejected orders and resends of unanswered ones. */
void drill_load_fire_timers(drill_t *d, uint64_t now, bool offering)
{
    while (d->timers.n > 0 && d->timers.v[0].at_us <= now) {
        timer_t_ t = s_heap_pop(&d->timers);
        if (t.kind == TIMER_STORE) {
            d->views[t.idx].wake_us = 0;
            if (offering)
                s_pump(d, t.idx, now);
            continue;
        }
        order_rec_t *o = &d->orders[t.idx];
        if (t.kind == TIMER_POS) {
            s_send_ready(d, t.idx);   /* kitchens keep working after offering ends */
            continue;
        }
        if (o->attempt != t.attempt)
            continue;
        if (o->state == OS_WAIT) {
            if (offering) {
                s_send(d, t.idx, now);
            } else {
                d->report->gave_up++;
                drill_load_finish(d, o, OS_GAVE_UP);
            }
        } else if (o->state == OS_INFLIGHT) {
            if (o->resends >= RESENDS_MAX) {
                d->report->unanswered++;
                drill_load_finish(d, o, OS_UNANSWERED);
                s_unprobe(d, o);
            } else {
                o->resends++;
                d->report->resent_after_timeout++;
                s_send(d, t.idx, now);
            }
        }
    }
}


uint32_t *drill_load_acked(const drill_t *d, size_t *n)
{
    uint32_t *v = malloc((d->order_count ? d->order_count : 1) * sizeof *v);
    *n = 0;
    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < d->order_count; i++)
        if (d->orders[i].state == OS_ACCEPTED)
            v[(*n)++] = (uint32_t)i;
    return v;
}

/* s_finish_run stops the daemon, measures, checks, stops the platforms. */
