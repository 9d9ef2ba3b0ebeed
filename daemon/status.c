/* status.c - owns /metrics, /healthz, /readyz and the sd_notify status. */
#include "status.h"

#include "clock.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct status {
    status_with_t with;
    http_t *http;
    int http_item;              /* index in the poll items, -1: none */
    bool stopping;
    bool ready_notified;
    bool serving_notified;      /* a node of a shard said it serves, once */
    uint64_t watchdog_every_ms, watchdog_next_ms;
    uint64_t status_next_ms;
    uint64_t started_ms;                            /* monotonic */
    uint64_t rate_ms[STATUS_RATE_SAMPLES];          /* ring: when ... */
    uint64_t rate_submitted[STATUS_RATE_SAMPLES];   /* ... submitted was this */
    size_t rate_next, rate_count;
};

static int s_http_answer(void *arg, const char *path, http_answer_t *out);

status_t *status_new(const status_with_t *with)
{
    status_t *self = calloc(1, sizeof *self);
    if (!self) {
        log_error("failed to start: out of memory");
        return NULL;
    }
    self->with = *with;
    self->http_item = -1;
    self->started_ms = clock_mono_ms();
    self->http = http_new(reload_config(with->reload)->daemon.http, s_http_answer, self);
    if (!self->http) {
        free(self);
        return NULL;
    }
    self->watchdog_every_ms = notify_watchdog_interval_ms();
    return self;
}

void status_destroy(status_t **self)
{
    if (!self || !*self)
        return;
    http_destroy(&(*self)->http);
    free(*self);
    *self = NULL;
}

void status_stopping(status_t *self)
{
    self->stopping = true;
}

/* ---- HTTP --------------------------------------------------------------- */

/* s_availability_metrics: QueryAvailability and the avail.<store_id> events. */
static void s_availability_metrics(status_t *self, metrics_page_t *p)
{
    const intake_stats_t *st = intake_stats(self->with.intake);
    watch_stats_t ws = watch_stats(self->with.watch);
    metrics_counter(p, "sluice_availability_queries_total", "QueryAvailability requests answered",
                    (double)st->queries);
    metrics_counter(p, "sluice_availability_query_stores_total",
                    "Stores asked about in QueryAvailability requests", (double)st->queried_stores);
    metrics_family(p, "sluice_availability_query_seconds", "histogram",
                   "A QueryAvailability's service time, from reading it to sending its answer");
    metrics_histogram(p, "sluice_availability_query_seconds", NULL, &st->query_latency);
    metrics_counter(p, "sluice_availability_events_total",
                    "avail.<store_id> events sent on the PUB socket", (double)ws.events);
    metrics_gauge(p, "sluice_availability_stores_followed",
                  "Stores whose availability the avail.<store_id> events follow now",
                  (double)ws.followed);
}

/* s_campaign_sample writes one campaign's sample of family NAME. */
static void s_campaign_sample(metrics_page_t *p, const char *name, const char *campaign,
                              const char *more, double value)
{
    char label[160];
    snprintf(label, sizeof label, "campaign=\"%s\"%s", campaign, more ? more : "");
    metrics_sample(p, name, label, value);
}

/* s_campaign_metrics: each configured campaign's counters (no per-store
 * labels: the stores are sluicectl campaign's). */
static void s_campaign_metrics(status_t *self, metrics_page_t *p)
{
    const config_t *cfg = reload_config(self->with.reload);
    campaign_table_t *t = admit_campaigns(self->with.admit);
    uint64_t now_us = clock_mono_us();
    static const struct {
        const char *name, *type, *help;
    } families[] = {
        {"sluice_campaign_orders_placed", "gauge",
         "Orders the campaign has placed in all, as its budget counts them (read back at start)"},
        {"sluice_campaign_refused_total", "counter",
         "The campaign's orders refused since start, by the limit that refused them"},
        {"sluice_campaign_budget_left", "gauge", "Orders the campaign may still place (with a budget)"},
        {"sluice_campaign_pace_tokens", "gauge", "Tokens in the campaign's orders_per_second bucket"},
        {"sluice_campaign_stores_share_full", "gauge",
         "Stores where the campaign's last check found its store_share booked"},
        {"sluice_campaign_paused", "gauge", "1 while the config or an operator pauses the campaign"},
        {"sluice_campaign_counting", "gauge", "1 while the campaign's counts are read back"},
    };
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) {
        metrics_family(p, families[f].name, families[f].type, families[f].help);
        for (size_t i = 0; i < cfg->campaign_count; i++) {
            const config_campaign_t *c = &cfg->campaigns[i];
            campaign_id_t id = campaign_find(t, c->name);
            const campaign_counts_t *n = campaign_counts(t, id);
            if (!n)
                continue;
            switch (f) {
            case 0:
                s_campaign_sample(p, families[f].name, c->name, NULL, (double)n->placed);
                break;
            case 1:
                for (int st = SLUICE__V1__CAMPAIGN_STATE__CAMPAIGN_STATE_COUNTING;
                     st <= SLUICE__V1__CAMPAIGN_STATE__CAMPAIGN_STATE_SHARE_FULL; st++) {
                    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
                        &sluice__v1__campaign_state__descriptor, st);
                    char more[64];
                    snprintf(more, sizeof more, ",limit=\"%s\"",
                             v ? v->name + strlen("CAMPAIGN_STATE_") : "OTHER");
                    s_campaign_sample(p, families[f].name, c->name, more, (double)n->refused[st]);
                }
                break;
            case 2:
                if (c->budget)
                    s_campaign_sample(p, families[f].name, c->name, NULL,
                                      n->placed >= (uint64_t)c->budget
                                          ? 0 : (double)((uint64_t)c->budget - n->placed));
                break;
            case 3:
                s_campaign_sample(p, families[f].name, c->name, NULL,
                                  campaign_pace_tokens(t, id, now_us));
                break;
            case 4:
                s_campaign_sample(p, families[f].name, c->name, NULL,
                                  (double)n->share_full_stores);
                break;
            case 5:
                s_campaign_sample(p, families[f].name, c->name, NULL,
                                  c->paused || campaign_override_by(t, c->name) ? 1 : 0);
                break;
            default:
                s_campaign_sample(p, families[f].name, c->name, NULL,
                                  campaign_is_counted(t, id) ? 0 : 1);
                break;
            }
        }
    }
}

static void s_metrics_page(status_t *self, metrics_page_t *p)
{
    const status_with_t *w = &self->with;
    const intake_stats_t *st = intake_stats(w->intake);
    const reload_stats_t *rs = reload_stats(w->reload);
    lifecycle_stats_t ls = lifecycle_stats(w->lifecycle);
    const ingress_stats_t *in = ingress_stats(w->ingress);
    const shed_t *shed = admit_shed(w->admit);
    metrics_counter(p, "sluice_ingress_messages_total", "Frames read from the ingress socket",
                    (double)in->received);
    metrics_counter(p, "sluice_ingress_undecodable_total", "Frames that were not a Request",
                    (double)in->undecodable);
    metrics_counter(p, "sluice_replies_dropped_total", "Replies to peers that were gone or full",
                    (double)in->replies_dropped);
    metrics_family(p, "sluice_curve_handshakes_total", "counter",
                   "CURVE handshakes on the ingress, by result");
    metrics_sample(p, "sluice_curve_handshakes_total", "result=\"allowed\"",
                   w->zap ? (double)curve_zap_allowed(w->zap) : 0);
    metrics_sample(p, "sluice_curve_handshakes_total", "result=\"denied\"",
                   w->zap ? (double)curve_zap_denied(w->zap) : 0);
    metrics_counter(p, "sluice_orders_submitted_total", "SubmitOrder requests",
                    (double)st->submitted);
    metrics_counter(p, "sluice_orders_accepted_total", "Orders accepted and committed",
                    (double)st->accepted);
    metrics_counter(p, "sluice_orders_duplicate_total", "Repeats answered with the first decision",
                    (double)st->duplicates);
    metrics_family(p, "sluice_orders_rejected_total", "counter", "Orders rejected, by reason");
    int r;
    const char *name;
    for (size_t i = 0; intake_reason(i, &r, &name); i++) {
        char label[64];
        snprintf(label, sizeof label, "reason=\"%s\"", name);
        metrics_sample(p, "sluice_orders_rejected_total", label, (double)st->rejected[r]);
    }
    metrics_counter(p, "sluice_events_published_total", "Order events sent on the PUB socket",
                    (double)events_published(w->events));
    metrics_counter(p, "sluice_order_changes_total", "MarkReady and CancelOrder changes committed",
                    (double)ls.changes);
    metrics_counter(p, "sluice_commit_batches_total", "Group commits that succeeded",
                    (double)st->batches);
    metrics_counter(p, "sluice_commit_rows_total", "Orders written by group commits",
                    (double)st->batch_rows);
    metrics_counter(p, "sluice_commit_failures_total", "Group commits that failed",
                    (double)st->batch_failures);
    metrics_family(p, "sluice_config_reloads_total", "counter", "Configuration reloads, by result");
    metrics_sample(p, "sluice_config_reloads_total", "result=\"applied\"", (double)rs->reloads);
    metrics_sample(p, "sluice_config_reloads_total", "result=\"refused\"",
                   (double)rs->reloads_refused);
    metrics_gauge(p, "sluice_pending_orders", "Orders admitted and not yet committed",
                  (double)intake_pending(w->intake));
    metrics_gauge(p, "sluice_oldest_pending_order_age_seconds",
                  "Age of the oldest order waiting for its commit",
                  (double)intake_oldest_pending_us(w->intake, clock_mono_us()) / 1e6);
    metrics_gauge(p, "sluice_queue_delay_seconds",
                  "Queue delay of the last committed batch's oldest order",
                  (double)shed->queue_delay_us / 1e6);
    metrics_gauge(p, "sluice_shed_limit_orders", "Adaptive limit on pending orders (AIMD)",
                  shed->limit);
    metrics_gauge(p, "sluice_database_up", "1 when a database connection is up",
                  dbwork_up(w->dbwork) ? 1 : 0);
    metrics_gauge(p, "sluice_stores", "Stores in the running configuration",
                  (double)reload_config(w->reload)->store_count);
    metrics_gauge(p, "sluice_orders_in_memory", "Orders in the in-memory index",
                  (double)order_index_count(w->orders));
    metrics_family(p, "sluice_ack_latency_seconds", "histogram",
                   "From reading a SubmitOrder to sending its ack, by decision");
    metrics_histogram(p, "sluice_ack_latency_seconds", "decision=\"accepted\"",
                      &st->ack_latency[0]);
    metrics_histogram(p, "sluice_ack_latency_seconds", "decision=\"rejected\"",
                      &st->ack_latency[1]);
    metrics_family(p, "sluice_commit_latency_seconds", "histogram",
                   "Group commit statement round trips");
    metrics_histogram(p, "sluice_commit_latency_seconds", NULL, &st->commit_latency);
    metrics_gauge(p, "sluice_order_changes_queued", "State changes waiting for their commit",
                  (double)ls.queued);
    metrics_counter(p, "sluice_commit_in_doubt_total",
                    "Group commits whose outcome was lost and was resolved by order id",
                    (double)st->batches_in_doubt);
    metrics_gauge(p, "sluice_orders_in_doubt",
                  "Orders of batches whose commit's outcome is being resolved",
                  (double)intake_in_doubt(w->intake));
    if (w->lease) {
        char label[256];
        snprintf(label, sizeof label, "shard=\"%s\",role=\"%s\",node=\"%s\"",
                 lease_shard(w->lease), lease_role_name(w->lease), lease_node(w->lease));
        metrics_family(p, "sluice_node_info", "gauge", "This node's shard and role (1)");
        metrics_sample(p, "sluice_node_info", label, 1);
        metrics_gauge(p, "sluice_lease_epoch", "The epoch of the shard lease this node holds",
                      (double)lease_epoch(w->lease));
    }
    s_availability_metrics(self, p);
    s_campaign_metrics(self, p);
    dispatch_metrics(w->dispatch, p, clock_mono_ms());
}

static int s_http_answer(void *arg, const char *path, http_answer_t *out)
{
    status_t *self = arg;
    out->status = 200;
    out->content_type = "text/plain; charset=utf-8";
    if (strcmp(path, "/metrics") == 0) {
        metrics_page_t page = {0};
        s_metrics_page(self, &page);
        out->content_type = "text/plain; version=0.0.4; charset=utf-8";
        out->body = metrics_page_take(&page, &out->len);
        return out->body != NULL;
    }
    if (strcmp(path, "/healthz") == 0) {
        out->body = strdup("alive\n");
    } else if (strcmp(path, "/readyz") == 0) {
        const status_with_t *w = &self->with;
        char db_why[512], standby[1200];
        snprintf(db_why, sizeof db_why, "not ready: database unreachable: %s\n",
                 dbwork_why_down(w->dbwork));
        bool is_standby = w->lease && lease_role(w->lease) == LEASE_STANDBY;
        if (is_standby)
            snprintf(standby, sizeof standby, "not ready: standby (active: %s at %s)\n",
                     lease_holder(w->lease)[0] ? lease_holder(w->lease) : "none yet",
                     lease_holder_endpoint(w->lease)[0] ? lease_holder_endpoint(w->lease)
                                                        : "none");
        const char *why = self->stopping ? "not ready: shutting down\n"
                        : is_standby ? standby
                        : !dbwork_up(w->dbwork) ? db_why
                        : !restore_done(w->restore) ? "not ready: reading live orders back\n"
                        : NULL;
        out->status = why ? 503 : 200;
        out->body = strdup(why ? why : "ready\n");
    } else {
        out->status = 404;
        out->body = strdup("not found: try /metrics, /healthz or /readyz\n");
    }
    return out->body != NULL;
}

size_t status_poll(status_t *self, zmq_pollitem_t *items, size_t max)
{
    self->http_item = -1;
    if (http_fd(self->http) < 0 || max == 0)
        return 0;
    self->http_item = 0;
    items[0] = (zmq_pollitem_t){.fd = http_fd(self->http), .events = ZMQ_POLLIN};
    return 1;
}

int status_timeout_ms(const status_t *self, uint64_t now_mono_ms)
{
    int timeout = http_timeout_ms(self->http);
    if (self->watchdog_every_ms) {
        uint64_t w = self->watchdog_next_ms > now_mono_ms ? self->watchdog_next_ms - now_mono_ms
                                                          : 0;
        if (timeout < 0 || w < (uint64_t)timeout)
            timeout = w < INT_MAX ? (int)w : INT_MAX;
    }
    return timeout;
}

/* ---- systemd and the submit rate ---------------------------------------- */

static void s_notify(status_t *self, uint64_t now)
{
    const status_with_t *w = &self->with;
    /* A standby is started as far as systemd is concerned: it may wait for
     * its lease for days. */
    bool standby = w->lease && lease_role(w->lease) == LEASE_STANDBY;
    if (!self->ready_notified && (standby || (restore_done(w->restore) && dbwork_up(w->dbwork)))) {
        self->ready_notified = true;
        char buf[256];
        if (standby)
            snprintf(buf, sizeof buf, "ready: ingress %s, standby for shard %s",
                     reload_config(w->reload)->daemon.ingress, lease_shard(w->lease));
        else
            snprintf(buf, sizeof buf, "ready: ingress %s, database connected",
                     reload_config(w->reload)->daemon.ingress);
        log_notice("%s", buf);
        notify_ready(buf);
    }
    if (self->ready_notified && !self->serving_notified && w->lease &&
        lease_role(w->lease) == LEASE_ACTIVE && restore_done(w->restore)) {
        self->serving_notified = true;
        log_notice("serving shard %s as its active node (epoch %" PRIu64 ")", lease_shard(w->lease),
                   lease_epoch(w->lease));
    }
    if (self->watchdog_every_ms && now >= self->watchdog_next_ms) {
        notify_watchdog();
        self->watchdog_next_ms = now + self->watchdog_every_ms;
    }
    if (now >= self->status_next_ms) {
        const intake_stats_t *st = intake_stats(w->intake);
        char buf[256];
        char role[128] = "";
        if (w->lease)
            snprintf(role, sizeof role, "%s of shard %s, ", lease_role_name(w->lease),
                     lease_shard(w->lease));
        snprintf(buf, sizeof buf,
                 "%saccepted %" PRIu64 ", duplicates %" PRIu64 ", pending %zu, database %s", role,
                 st->accepted, st->duplicates, intake_pending(w->intake),
                 dbwork_up(w->dbwork) ? "up" : "down");
        notify_status(buf);
        self->status_next_ms = now + STATUS_EVERY_MS;
    }
}

/* s_sample_rate samples the submitted counter once a second for the 10 s
 * rate. */
static void s_sample_rate(status_t *self, uint64_t now)
{
    size_t last = (self->rate_next + STATUS_RATE_SAMPLES - 1) % STATUS_RATE_SAMPLES;
    if (self->rate_count && now < self->rate_ms[last] + 1000)
        return;
    self->rate_ms[self->rate_next] = now;
    self->rate_submitted[self->rate_next] = intake_stats(self->with.intake)->submitted;
    self->rate_next = (self->rate_next + 1) % STATUS_RATE_SAMPLES;
    if (self->rate_count < STATUS_RATE_SAMPLES)
        self->rate_count++;
}

void status_step(status_t *self, const zmq_pollitem_t *items, uint64_t now_mono_ms)
{
    if ((self->http_item >= 0 && items[self->http_item].revents) ||
        http_timeout_ms(self->http) == 0)
        http_step(self->http);
    s_notify(self, now_mono_ms);
    s_sample_rate(self, now_mono_ms);
}

const char *status_http_endpoint(const status_t *self)
{
    return http_endpoint(self->http);
}

uint64_t status_uptime_ms(const status_t *self, uint64_t now_mono_ms)
{
    return now_mono_ms - self->started_ms;
}

double status_submit_rate(const status_t *self, uint64_t now_mono_ms)
{
    if (self->rate_count == 0)
        return 0;
    size_t oldest = (self->rate_next + STATUS_RATE_SAMPLES - self->rate_count) %
                    STATUS_RATE_SAMPLES;
    uint64_t span = now_mono_ms - self->rate_ms[oldest];
    uint64_t submitted = intake_stats(self->with.intake)->submitted;
    return span ? (double)(submitted - self->rate_submitted[oldest]) * 1000.0 / (double)span : 0;
}
