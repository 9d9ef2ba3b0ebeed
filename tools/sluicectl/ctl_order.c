/* ctl_order.c - owns sluicectl order (see ctl_order.h). */
#include "ctl_order.h"

#include "control.h"
#include "ctl_daemon.h"
#include "ctl_error.h"
#include "ctl_json.h"
#include "ctl_text.h"
#include "order.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* s_zone_of: support_query_zone_fn giving an order's store's timezone. A config
 * read for its daemon section alone is read again for this store. */
static const char *s_zone_of(uint32_t store_id, void *arg)
{
    ctl_t *ctl = arg;
    if (ctl->cfg != NULL && ctl->cfg_only_store == CONFIG_NO_STORE) {
        config_destroy(&ctl->cfg);
        if (!ctl_load_config(ctl, false, store_id))
            return NULL;
    }
    const config_store_t *s = ctl_find_store(ctl->cfg, store_id);
    return s != NULL && s->timezone != NULL && s->timezone[0] ? s->timezone : NULL;
}

/* Where an order's answer came from: the daemon's connection (ENDPOINT
 * answered), or PostgreSQL directly (WHY the daemon was not used). */
typedef struct order_source {
    const char *endpoint;
    const char *why;
} order_source_t;

static void s_order_json(const support_query_order_t *o, const order_source_t *src)
{
    ctl_json_t j;
    ctl_json_init(&j, stdout);
    ctl_json_begin_object(&j);
    ctl_json_key(&j, "source");
    ctl_json_string(&j, src->endpoint ? "daemon" : CTL_SOURCE_JSON);
    ctl_json_key(&j, src->endpoint ? "endpoint" : "daemon_error");
    ctl_json_string(&j, src->endpoint ? src->endpoint : src->why);
    ctl_json_key(&j, "timezone");
    ctl_json_string(&j, o->timezone);
    const support_query_order_row_t *r = &o->row;
    ctl_json_key(&j, "order");
    ctl_json_begin_object(&j);
    ctl_json_key(&j, "order_id");
    ctl_json_string(&j, r->order_id);
    ctl_json_key(&j, "store_id");
    ctl_json_raw(&j, r->store_id);
    ctl_json_key(&j, "state");
    ctl_json_string(&j, r->state);
    ctl_json_key(&j, "items");
    ctl_json_raw(&j, r->items_json);
    ctl_json_key(&j, "voucher_id");
    ctl_json_string(&j, r->voucher_id);
    ctl_json_key(&j, "customer_ref");
    ctl_json_string(&j, r->customer_ref);
    ctl_json_key(&j, "campaign");
    ctl_json_string(&j, r->campaign);
    ctl_json_key(&j, "accepted_at");
    ctl_json_string(&j, r->accepted_at);
    ctl_json_key(&j, "promised_ready_at");
    ctl_json_string(&j, r->promised_ready_at);
    ctl_json_key(&j, "promised_delivery_at");
    ctl_json_string(&j, r->promised_delivery_at);
    ctl_json_key(&j, "prep_slot");
    ctl_json_raw(&j, r->prep_slot);
    ctl_json_key(&j, "prep_start_at");
    ctl_json_string(&j, r->prep_start_at);
    ctl_json_key(&j, "updated_at");
    ctl_json_string(&j, r->updated_at);
    ctl_json_key(&j, "refund_due");
    ctl_json_bool(&j, r->refund_due);
    ctl_json_end_object(&j);

    ctl_json_key(&j, "dispatches");
    ctl_json_begin_array(&j);
    for (size_t i = 0; i < o->dispatch_count; i++) {
        const support_query_dispatch_t *d = &o->dispatches[i];
        ctl_json_begin_object(&j);
        ctl_json_key(&j, "attempt");
        ctl_json_raw(&j, d->attempt);
        ctl_json_key(&j, "platform");
        ctl_json_string(&j, d->platform);
        ctl_json_key(&j, "dispatch_key");
        ctl_json_string(&j, d->dispatch_key);
        ctl_json_key(&j, "state");
        ctl_json_string(&j, d->state);
        ctl_json_key(&j, "rider_ref");
        ctl_json_string(&j, d->rider_ref);
        ctl_json_key(&j, "fee_cents");
        ctl_json_raw(&j, d->fee_cents);
        ctl_json_key(&j, "pickup_at");
        ctl_json_string(&j, d->pickup_at);
        ctl_json_key(&j, "created_at");
        ctl_json_string(&j, d->created_at);
        ctl_json_key(&j, "updated_at");
        ctl_json_string(&j, d->updated_at);
        ctl_json_end_object(&j);
    }
    ctl_json_end_array(&j);

    ctl_json_key(&j, "timeline");
    ctl_json_begin_array(&j);
    for (size_t i = 0; i < o->event_count; i++) {
        const support_query_event_t *e = &o->events[i];
        ctl_json_begin_object(&j);
        ctl_json_key(&j, "event_id");
        ctl_json_raw(&j, e->event_id);
        ctl_json_key(&j, "at");
        ctl_json_string(&j, e->at);
        ctl_json_key(&j, "state");
        ctl_json_string(&j, e->state);
        ctl_json_key(&j, "detail");
        ctl_json_string(&j, e->detail);
        ctl_json_end_object(&j);
    }
    ctl_json_end_array(&j);
    ctl_json_end_object(&j);
}

static void s_order_text(const support_query_order_t *o, const char *store_name,
                         const order_source_t *src)
{
    const support_query_order_row_t *r = &o->row;
    if (src->endpoint) {
        printf("source: daemon at ");
        ctl_text_put(stdout, src->endpoint);
        printf(" (its PostgreSQL connection); times in %s\n", o->timezone);
    } else {
        printf("source: PostgreSQL (%s); times in %s\n", src->why, o->timezone);
    }
    ctl_text_field("order", r->order_id);
    if (store_name != NULL && store_name[0])
        ctl_text_fieldf("store", "%s (%s)", r->store_id, store_name);
    else
        ctl_text_field("store", r->store_id);
    ctl_text_field("state", r->state);
    ctl_text_field("items", r->items_text);
    if (r->voucher_id != NULL)
        ctl_text_field("voucher", r->voucher_id);
    if (r->customer_ref != NULL)
        ctl_text_field("customer", r->customer_ref);
    if (r->campaign != NULL)
        ctl_text_field("campaign", r->campaign);
    ctl_text_field("accepted", r->accepted_at);
    ctl_text_field("promised ready", r->promised_ready_at);
    ctl_text_field("promised delivery", r->promised_delivery_at);
    if (r->prep_slot != NULL)
        ctl_text_fieldf("prep", "slot %s from %s", r->prep_slot,
                        r->prep_start_at ? r->prep_start_at : "-");
    ctl_text_field("updated", r->updated_at);
    ctl_text_field("refund due", r->refund_due ? "yes" : "no");

    printf("\ndispatch attempts: %zu\n", o->dispatch_count);
    if (o->dispatch_count > 0) {
        static const char *const head[] = { "ATTEMPT", "PLATFORM", "KEY", "STATE", "RIDER",
                                            "FEE_CENTS", "PICKUP_AT", "CREATED", "UPDATED" };
        const char **cells = calloc(o->dispatch_count * 9, sizeof *cells);
        if (cells != NULL) {
            for (size_t i = 0; i < o->dispatch_count; i++) {
                const support_query_dispatch_t *d = &o->dispatches[i];
                const char *row[9] = { d->attempt,   d->platform,  d->dispatch_key,
                                       d->state,     d->rider_ref, d->fee_cents,
                                       d->pickup_at, d->created_at, d->updated_at };
                memcpy(cells + i * 9, row, sizeof row);
            }
            ctl_text_table(9, head, o->dispatch_count, cells);
            free(cells);
        }
    }

    printf("\ntimeline: %zu event%s\n", o->event_count, o->event_count == 1 ? "" : "s");
    if (o->event_count > 0) {
        static const char *const head[] = { "TIME", "STATE", "DETAIL" };
        const char **cells = calloc(o->event_count * 3, sizeof *cells);
        if (cells != NULL) {
            for (size_t i = 0; i < o->event_count; i++) {
                cells[i * 3] = o->events[i].at;
                cells[i * 3 + 1] = o->events[i].state;
                cells[i * 3 + 2] = o->events[i].detail ? o->events[i].detail : "";
            }
            ctl_text_table(3, head, o->event_count, cells);
            free(cells);
        }
    }
}


/* s_order_of_reply points O's fields into the daemon's answer R; false when
 * out of memory. Clear O with support_query_order_clear (it owns no result). */
static bool s_order_of_reply(const Sluice__Control__V1__OrderReply *r, support_query_order_t *o)
{
    memset(o, 0, sizeof *o);
    const Sluice__Control__V1__OrderRow *w = r->order;
    o->timezone = r->timezone;
    o->row = (support_query_order_row_t){
        .order_id = ctl_daemon_nullable(w->order_id),
        .store_id = ctl_daemon_nullable(w->store_id),
        .state = ctl_daemon_nullable(w->state),
        .items_json = ctl_daemon_nullable(w->items_json),
        .items_text = ctl_daemon_nullable(w->items_text),
        .voucher_id = ctl_daemon_nullable(w->voucher_id),
        .customer_ref = ctl_daemon_nullable(w->customer_ref),
        .accepted_at = ctl_daemon_nullable(w->accepted_at),
        .promised_ready_at = ctl_daemon_nullable(w->promised_ready_at),
        .promised_delivery_at = ctl_daemon_nullable(w->promised_delivery_at),
        .updated_at = ctl_daemon_nullable(w->updated_at),
        .refund_due = w->refund_due,
        .prep_slot = ctl_daemon_nullable(w->prep_slot),
        .prep_start_at = ctl_daemon_nullable(w->prep_start_at),
        .campaign = ctl_daemon_nullable(w->campaign),
    };
    o->dispatch_count = r->n_dispatches;
    o->event_count = r->n_events;
    o->dispatches = calloc(o->dispatch_count + 1, sizeof *o->dispatches);
    o->events = calloc(o->event_count + 1, sizeof *o->events);
    if (o->dispatches == NULL || o->events == NULL)
        return false;
    for (size_t i = 0; i < o->dispatch_count; i++) {
        const Sluice__Control__V1__DispatchAttempt *d = r->dispatches[i];
        o->dispatches[i] = (support_query_dispatch_t){
            .attempt = ctl_daemon_nullable(d->attempt),
            .platform = ctl_daemon_nullable(d->platform),
            .dispatch_key = ctl_daemon_nullable(d->dispatch_key),
            .state = ctl_daemon_nullable(d->state),
            .rider_ref = ctl_daemon_nullable(d->rider_ref),
            .fee_cents = ctl_daemon_nullable(d->fee_cents),
            .pickup_at = ctl_daemon_nullable(d->pickup_at),
            .created_at = ctl_daemon_nullable(d->created_at),
            .updated_at = ctl_daemon_nullable(d->updated_at),
        };
    }
    for (size_t i = 0; i < o->event_count; i++) {
        const Sluice__Control__V1__OrderEvent *e = r->events[i];
        o->events[i] = (support_query_event_t){
            .event_id = ctl_daemon_nullable(e->event_id),
            .at = ctl_daemon_nullable(e->at),
            .state = ctl_daemon_nullable(e->state),
            .detail = ctl_daemon_nullable(e->detail),
        };
    }
    return true;
}

/* s_order_from_daemon asks the daemon, whose connection to PostgreSQL is
 * already open (a new one costs more than the whole lookup), and prints its
 * answer. Returns the exit code, or -1 with WHY (LEN bytes) saying why
 * PostgreSQL must be asked directly: no daemon, or one that could not
 * answer this (its database down, an older version), or would not (*DENIED:
 * an order is a customer's data, not for the read-only socket; PostgreSQL's
 * own permissions then decide). */
static int s_order_from_daemon(ctl_t *ctl, const char *id, char *why, size_t len, bool *denied)
{
    *denied = false;
    if (ctl->database != NULL || !ctl_daemon_can_ask(ctl)) {
        snprintf(why, len, "daemon not asked: %s",
                 ctl->database != NULL ? "--database given" : "config not read");
        return -1;
    }
    Sluice__Control__V1__OrderRequest body = SLUICE__CONTROL__V1__ORDER_REQUEST__INIT;
    body.order_id = (char *)id;
    body.iso_times = ctl->json;
    ctl_request_t req = SLUICE__CONTROL__V1__REQUEST__INIT;
    req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_ORDER;
    req.order = &body;
    ctl_reply_t *reply = NULL;
    char ask_why[512];
    ctl_control_status_t st = ctl_daemon_ask(ctl, &req, true, &reply, ask_why, sizeof ask_why);
    if (st != CTL_CONTROL_OK) {
        *denied = st == CTL_CONTROL_DENIED;
        snprintf(why, len, "daemon %s at %.200s: %.300s",
                 *denied ? "not ours to ask" : "not reachable", ctl->asked, ask_why);
        return -1;
    }
    int rc = -1;
    const Sluice__Control__V1__Error *err =
        reply->body_case == SLUICE__CONTROL__V1__REPLY__BODY_ERROR ? reply->error : NULL;
    if (reply->body_case == SLUICE__CONTROL__V1__REPLY__BODY_ORDER && reply->order->order) {
        support_query_order_t o;
        order_source_t src = { .endpoint = ctl->asked };
        if (!s_order_of_reply(reply->order, &o)) {
            ctl_error("out of memory");
            rc = CTL_EXIT_FAILED;
        } else if (ctl->json) {
            s_order_json(&o, &src);
            rc = CTL_EXIT_OK;
        } else {
            s_order_text(&o, reply->order->store_name, &src);
            rc = CTL_EXIT_OK;
        }
        support_query_order_clear(&o);
    } else if (err != NULL && err->code == SLUICE__CONTROL__V1__ERROR__CODE__NOT_FOUND) {
        ctl_error("no order %s in PostgreSQL (asked the daemon at %s)", id, ctl->asked);
        rc = CTL_EXIT_NOT_FOUND;
    } else {
        *denied = err != NULL && err->code == SLUICE__CONTROL__V1__ERROR__CODE__PERMISSION_DENIED;
        snprintf(why, len, "the daemon at %.200s says %s: %.300s", ctl->asked,
                 err ? control_code_name(err->code) : "something unexpected",
                 err ? err->message : "");
    }
    sluice__control__v1__reply__free_unpacked(reply, NULL);
    return rc;
}

int ctl_order_run(ctl_t *ctl, char **argv)
{
    const char *id = argv[0];
    if (!order_id_valid(id)) {
        ctl_error("\"%s\" is not an order id (1..64 of A-Z a-z 0-9 . _ : -)", id);
        return CTL_EXIT_USAGE;
    }
    char why[600];
    bool denied;
    int rc = s_order_from_daemon(ctl, id, why, sizeof why, &denied);
    if (rc >= 0)
        return rc;
    if (ctl->database == NULL && ctl->daemon == NULL) {
        ctl_error("%s; no database to read instead (-c CONFIG or --database CONNINFO)", why);
        return denied ? CTL_EXIT_DENIED : CTL_EXIT_DAEMON_UNREACHABLE;
    }
    if ((rc = ctl_connect(ctl)) != CTL_EXIT_OK)
        return rc;
    support_query_order_t o;
    support_query_times_t times = ctl->json ? SUPPORT_QUERY_TIMES_ISO : SUPPORT_QUERY_TIMES_TEXT;
    support_query_status_t st = support_query_order_read(ctl->db, id, times, s_zone_of, ctl, &o);
    if (st == SUPPORT_QUERY_OK) {
        order_source_t src = { .why = why };
        if (ctl->json) {
            s_order_json(&o, &src);
        } else {
            const config_store_t *cs =
                ctl_find_store(ctl->cfg, (uint32_t)strtoul(o.row.store_id, NULL, 10));
            s_order_text(&o, cs != NULL ? cs->name : NULL, &src);
        }
    } else if (st == SUPPORT_QUERY_NOT_FOUND) {
        ctl_error("no order %s in PostgreSQL (%s)", id, support_query_target(ctl->db));
        rc = CTL_EXIT_NOT_FOUND;
    } else {
        rc = ctl_pg_failure(ctl, st);
    }
    support_query_order_clear(&o);
    return rc;
}
