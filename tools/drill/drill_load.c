/* drill_load.c - owns sluice-drill's producers: orders made to the demand
 * curve and submitted over DEALER sockets, routed to their store's shard's
 * active node as a producer learns it (docs/operations.md, "How a producer
 * routes"), retried when rejected, sent again when unanswered, and the
 * stores' MarkReady when their kitchens finish (see drill.h). */
#include "drill.h"

#include "clock.h"
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
    for (size_t n = 0; n < d->node_count; n++) {
        for (uint32_t k = 0; k < d->opt.connections; k++) {
            void *s = zmq_socket(d->zctx, ZMQ_DEALER);
            if (s == NULL)
                return false;
            int linger = 0, hwm = 100000, ivl = 100;
            zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
            zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
            zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
            zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
            if (zmq_connect(s, d->nodes[n].ingress) != 0) {
                drill_log(d, "failed to connect to %s: %s", d->nodes[n].ingress,
                          zmq_strerror(errno));
                zmq_close(s);
                return false;
            }
            d->conns[n * d->opt.connections + k] = s;
        }
    }
    /* Each shard's first node is its active one at the start. */
    for (uint32_t sh = 0; sh < DRILL_SHARDS_MAX; sh++)
        d->route[sh] = d->opt.ha ? sh * DRILL_NODES_PER_SHARD : 0;
    return true;
}

/* s_shard: the shard (index) of order O's store. */
static uint32_t s_shard(const drill_t *d, const order_rec_t *o)
{
    return d->opt.ha ? drill_world_store_shard(o->store, d->opt.shards) : 0;
}

/* s_socket: the next socket to node N, round robin. */
static void *s_socket(drill_t *d, uint32_t n)
{
    return d->conns[n * d->opt.connections + d->rr++ % d->opt.connections];
}

/* s_suspect: a request to node N went unanswered since it last answered,
 * lately (SUSPECT_MS): a node restarted since may be the one that holds
 * the lease now, and is tried again after that. */
static bool s_suspect(const drill_node_t *n, uint64_t now)
{
    return n->timed_out_us > n->replied_us && now < n->timed_out_us + SUSPECT_MS * 1000u;
}

/* s_rotate: the shard's orders go to its other node from now on (rule 3 of
 * docs/operations.md's producer: try the shard's endpoints in turn). */
static void s_rotate(drill_t *d, uint32_t shard)
{
    if (!d->opt.ha)
        return;
    uint32_t first = shard * DRILL_NODES_PER_SHARD;
    d->route[shard] = first + (d->route[shard] - first + 1) % DRILL_NODES_PER_SHARD;
}

/* s_redirect: UNAVAILABLE from a standby names its shard's active node at
 * ENDPOINT (rule 2): the shard's orders go there from now on. Unless it is
 * the node that answered (one restarted before its old lease expired names
 * itself): then to the shard's other node; or one that has stopped
 * answering: then they stay with the node that answered, which takes over
 * once the lease expires. True when order O may be sent again at once;
 * otherwise after retry_after_ms. */
static bool s_redirect(drill_t *d, const order_rec_t *o, const char *endpoint, uint64_t now)
{
    uint32_t shard = s_shard(d, o), first = shard * DRILL_NODES_PER_SHARD;
    for (uint32_t n = first; n < first + DRILL_NODES_PER_SHARD && n < d->node_count; n++) {
        if (strcmp(d->nodes[n].ingress, endpoint) != 0)
            continue;
        if (n == o->node) {
            d->route[shard] = o->node;
            s_rotate(d, shard);
            return false;
        }
        if (s_suspect(&d->nodes[n], now)) {
            d->route[shard] = o->node;
            return false;
        }
        d->route[shard] = n;
        return true;
    }
    return false;
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
    Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
    o->attempt++;
    req.request_id = ((uint64_t)idx << 16) | (o->attempt & 0xffffu);
    req.body_case = SLUICE__V1__REQUEST__BODY_SUBMIT;
    req.submit = &sub;
    uint8_t buf[PACK_BYTES];
    size_t len = protobuf_c_message_pack(&req.base, buf);
    bool sent = false;
    o->node = (uint8_t)d->route[s_shard(d, o)];
    for (uint32_t tries = 0; tries < d->opt.connections && !sent; tries++)
        sent = zmq_send(s_socket(d, o->node), buf, len, ZMQ_DONTWAIT) == (int)len;
    drill_second_t *e = drill_report_second(d->report, drill_load_sec(d, now));
    if (e != NULL)
        e->sent++;
    d->report->submissions++;
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
    void *sock = s_socket(d, d->route[s_shard(d, &d->orders[idx])]);
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
    double jitter = prep_ms * (-0.25 + 0.40 * drill_world_uniform(&d->rng));
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
    /* drop-off within ~3 km of the store */
    double r = 3.0 * sqrt(drill_world_uniform(&d->rng)), a = 2 * M_PI * drill_world_uniform(&d->rng);
    o->lat = (float)(st->lat + r * sin(a) / 111.0);
    o->lng = (float)(st->lng + r * cos(a) / (111.0 * cos(st->lat * M_PI / 180)));
    o->state = OS_WAIT;
    d->report->orders++;
    drill_second_t *e = drill_report_second(d->report, drill_load_sec(d, now));
    if (e != NULL)
        e->offered++;
    s_send(d, idx, now);
    return true;
}

void drill_load_finish(drill_t *d, order_rec_t *o, int state)
{
    if (o->state == OS_INFLIGHT)
        d->inflight--;
    o->state = (uint8_t)state;
}

/* s_on_reply handles one reply that came from node NODE. */
static void s_on_reply(drill_t *d, uint32_t node, const uint8_t *data, size_t len, uint64_t now,
                       bool offering, uint64_t offering_end_us)
{
    Sluice__V1__Reply *rep = sluice__v1__reply__unpack(NULL, len, data);
    if (rep == NULL)
        return;
    d->nodes[node].replied_us = now;
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
            if (current) {
                drill_report_reply(d->report, drill_load_sec(d, now), (double)(now - o->sent_us) / 1000.0,
                                   ack->decision, 0);
                /* Only the answer to the latest attempt says the shard takes
                 * orders now: a frozen node's replies may leave long after. */
                drill_report_accepted(d->report, s_shard(d, o), (double)(now - d->start_us) / 1e6);
            }
            if (ack->duplicate)
                d->report->duplicates++;
            if (o->state != OS_ACCEPTED) {
                d->report->accepted++;
                drill_load_finish(d, o, OS_ACCEPTED);
                s_schedule_ready(d, (uint32_t)idx, ack->promised_ready_at_ms, now);
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
        uint64_t at = now + (ack->retry_after_ms > 0 ? ack->retry_after_ms : 100) * 1000u;
        bool unavailable = ack->reason == SLUICE__V1__REASON__UNAVAILABLE;
        if (d->opt.ha && unavailable && ack->n_shard_endpoints > 0 &&
            s_redirect(d, o, ack->shard_endpoints[0], now)) {
            /* a standby named the active node: not a refusal, a direction */
            drill_load_finish(d, o, OS_WAIT);
            s_heap_push(&d->timers, (timer_t_){now, (uint32_t)idx, o->attempt, TIMER_SUBMIT});
            goto done;
        }
        if (d->opt.ha && unavailable && ack->n_shard_endpoints == 0 &&
            d->route[s_shard(d, o)] == o->node)
            s_rotate(d, s_shard(d, o));
        o->tries++;
        if (ack->retry_after_ms == 0 && ack->reason != SLUICE__V1__REASON__OVERLOADED && !unavailable)
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
    }
done:
    sluice__v1__reply__free_unpacked(rep, NULL);
}

void drill_load_drain(drill_t *d, bool offering, uint64_t offering_end_us)
{
    uint8_t buf[65536];
    for (size_t k = 0; k < d->node_count * d->opt.connections; k++) {
        for (int n = 0; n < 4096; n++) {
            int got = zmq_recv(d->conns[k], buf, sizeof buf, ZMQ_DONTWAIT);
            if (got < 0)
                break;
            if ((size_t)got > sizeof buf)
                continue;
            s_on_reply(d, (uint32_t)(k / d->opt.connections), buf, (size_t)got, clock_mono_us(),
                       offering, offering_end_us);
        }
    }
}

/* drill_load_fire_timers: retries of rejected orders and resends of unanswered ones. */
void drill_load_fire_timers(drill_t *d, uint64_t now, bool offering)
{
    while (d->timers.n > 0 && d->timers.v[0].at_us <= now) {
        timer_t_ t = s_heap_pop(&d->timers);
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
            /* no answer from that node: it may be dead or stopped (rule 3) */
            d->nodes[o->node].timed_out_us = now;
            if (d->route[s_shard(d, o)] == o->node)
                s_rotate(d, s_shard(d, o));
            if (o->resends >= RESENDS_MAX) {
                d->report->unanswered++;
                drill_load_finish(d, o, OS_UNANSWERED);
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
