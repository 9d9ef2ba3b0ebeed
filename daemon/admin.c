/* admin.c - owns carrying out sluicectl's control commands. */
#include "admin.h"

#include "clock.h"
#include "control.h"
#include "log.h"
#include "order.h"
#include "support.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A pause or resume in force in memory, waiting for its row to commit: a
 * store's, or a campaign's when CAMPAIGN is not "". */
typedef struct write {
    struct write *next;
    control_ticket_t *ticket;
    uint32_t store_id;
    bool pause;
    uint8_t previous;           /* store_t.override before, put back if the write fails */
    bool was_held;              /* the campaign's operator pause before ... */
    char was_by[CONTROL_BY_MAX + 1];   /* ... and who had set it */
    char campaign[ORDER_ID_MAX + 1];
    char by[CONTROL_BY_MAX + 1];
} write_t;

struct admin {
    admin_with_t with;
    control_t *control;         /* sluicectl's sockets */
    support_t *support;         /* sluicectl order's lookups, on their own thread */
    write_t *writes;            /* FIFO of pauses and resumes to store */
    write_t **writes_tail;
    size_t write_count;
    bool write_in_flight;       /* the head is being written */
};

admin_t *admin_new(const admin_with_t *with)
{
    admin_t *self = calloc(1, sizeof *self);
    if (!self) {
        log_error("failed to start: out of memory");
        return NULL;
    }
    self->with = *with;
    self->writes_tail = &self->writes;
    const config_daemon_t *d = &reload_config(with->reload)->daemon;
    self->control = control_new(with->zmq, d);
    if (!self->control) {
        admin_destroy(&self);
        return NULL;
    }
    self->support = support_new(with->zmq, d->database);
    return self;
}

void admin_destroy(admin_t **self)
{
    if (!self || !*self)
        return;
    admin_t *a = *self;
    while (a->writes) {
        write_t *w = a->writes;
        a->writes = w->next;
        free(w->ticket);
        free(w);
    }
    support_destroy(&a->support);
    control_destroy(&a->control);
    free(a);
    *self = NULL;
}

size_t admin_poll(admin_t *self, zmq_pollitem_t *items, size_t max)
{
    size_t n = control_poll(self->control, items, max);
    return n + support_poll(self->support, items + n, max - n);
}

static double s_ms(double seconds)
{
    return isinf(seconds) ? seconds : seconds * 1000.0;
}

/* s_reason_count fills C with REASON's name and COUNT, for a control reply. */
static Sluice__Control__V1__ReasonCount *s_reason_count(Sluice__Control__V1__ReasonCount *c,
                                                        int reason, uint64_t count)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&sluice__v1__reason__descriptor, reason);
    sluice__control__v1__reason_count__init(c);
    c->reason = (char *)(v ? v->name : "OTHER");
    c->count = count;
    return c;
}

/* ---- reads -------------------------------------------------------------- */

static void s_platforms(admin_t *self, const control_ticket_t *t)
{
    dispatch_t *dispatch = self->with.dispatch;
    size_t n = dispatch_platform_count(dispatch);
    Sluice__Control__V1__Platform rows[DISPATCH_POOLS_MAX];
    Sluice__Control__V1__Platform *ptrs[DISPATCH_POOLS_MAX];
    uint64_t now = clock_mono_ms();
    for (size_t i = 0; i < n && i < DISPATCH_POOLS_MAX; i++) {
        dispatch_platform_t p;
        dispatch_platform_read(dispatch, i, now, &p);
        Sluice__Control__V1__Platform *r = &rows[i];
        sluice__control__v1__platform__init(r);
        r->name = (char *)p.name;
        r->adapter = (char *)p.adapter;
        r->link_up = p.link_up;
        r->breaker = (char *)p.breaker;
        r->inflight = p.inflight;
        r->max_inflight = p.max_inflight;
        r->window_requests = p.window_requests;
        r->window_failures = p.window_failures;
        r->error_ratio = p.window_requests ? (double)p.window_failures / (double)p.window_requests
                                           : 0.0;
        r->quote_p99_ms = s_ms(p.quote_p99_s);
        r->dispatch_p99_ms = s_ms(p.dispatch_p99_s);
        r->quotes = p.quotes;
        r->dispatches = p.dispatches;
        r->refusals = p.refusals;
        r->failures = p.failures;
        ptrs[i] = r;
    }
    Sluice__Control__V1__PlatformsReply body = SLUICE__CONTROL__V1__PLATFORMS_REPLY__INIT;
    body.n_platforms = n < DISPATCH_POOLS_MAX ? n : DISPATCH_POOLS_MAX;
    body.platforms = ptrs;
    control_reply_t reply = SLUICE__CONTROL__V1__REPLY__INIT;
    reply.body_case = SLUICE__CONTROL__V1__REPLY__BODY_PLATFORMS;
    reply.platforms = &body;
    control_reply(self->control, t, &reply);
}

static void s_stats(admin_t *self, const control_ticket_t *t)
{
    const intake_stats_t *st = intake_stats(self->with.intake);
    const reload_stats_t *rs = reload_stats(self->with.reload);
    uint64_t now = clock_mono_ms();
    Sluice__Control__V1__ReasonCount counts[INTAKE_REASON_SLOTS];
    Sluice__Control__V1__ReasonCount *ptrs[INTAKE_REASON_SLOTS];
    size_t n = 0;
    int r;
    const char *name;
    for (; n < INTAKE_REASON_SLOTS && intake_reason(n, &r, &name); n++)
        ptrs[n] = s_reason_count(&counts[n], r, st->rejected[r]);
    Sluice__Control__V1__StatsReply body = SLUICE__CONTROL__V1__STATS_REPLY__INIT;
    uint64_t uptime = status_uptime_ms(self->with.status, now);
    body.uptime_ms = uptime;
    body.submitted = st->submitted;
    body.submitted_per_second = status_submit_rate(self->with.status, now);
    body.submitted_per_second_mean = uptime ? (double)st->submitted * 1000.0 / (double)uptime : 0;
    body.accepted = st->accepted;
    body.duplicates = st->duplicates;
    body.n_rejected = n;
    body.rejected = ptrs;
    body.queue_delay_ms = (double)admit_shed(self->with.admit)->queue_delay_us / 1000.0;
    body.commit_p50_ms = s_ms(metrics_quantile_seconds(&st->commit_latency, 0.5));
    body.commit_p99_ms = s_ms(metrics_quantile_seconds(&st->commit_latency, 0.99));
    body.commit_mean_ms = s_ms(metrics_mean_seconds(&st->commit_latency));
    body.batches = st->batches;
    body.batch_size_mean = st->batches ? (double)st->batch_rows / (double)st->batches : 0;
    body.pending = intake_pending(self->with.intake);
    body.database_up = dbwork_up(self->with.dbwork);
    body.reloads = rs->reloads;
    body.reloads_refused = rs->reloads_refused;
    control_reply_t reply = SLUICE__CONTROL__V1__REPLY__INIT;
    reply.body_case = SLUICE__CONTROL__V1__REPLY__BODY_STATS;
    reply.stats = &body;
    control_reply(self->control, t, &reply);
}

static void s_store(admin_t *self, const control_ticket_t *t, uint32_t id)
{
    store_t *store = store_table_find(self->with.stores, id);
    const override_t *o = override_find(self->with.overrides, id);
    if (!store && !o) {
        control_reply_error(self->control, t, SLUICE__CONTROL__V1__ERROR__CODE__NOT_FOUND,
                            "store %" PRIu32 ": not in the running configuration", id);
        return;
    }
    Sluice__Control__V1__StoreReply body = SLUICE__CONTROL__V1__STORE_REPLY__INIT;
    body.store_id = id;
    body.override_set = o != NULL;
    body.override_paused = o && o->paused;
    body.override_by = (char *)(o ? o->by : "");
    if (store && store->cfg) {
        admit_store_view_t v;
        admit_store_view(self->with.stores, store, clock_wall_ms(), &v);
        body.configured = true;
        body.name = store->cfg->name ? store->cfg->name : (char *)"";
        body.open_now = v.open_now;
        body.paused = store_paused(store);
        body.config_paused = store->cfg->paused;
        body.prep_slots_now = (uint32_t)v.prep_slots_now;
        body.queue_length = v.queue_length;
        body.promise_possible = v.promise_possible;
        body.promised_wait_ms = v.promised_wait_ms;
        body.max_wait_minutes = (uint32_t)store->cfg->max_wait_minutes;
        body.max_queue = (uint32_t)store->cfg->max_queue;
    }
    char date[16], since[16];
    Sluice__Control__V1__ReasonCount counts[TODAY_REASONS];
    Sluice__Control__V1__ReasonCount *ptrs[TODAY_REASONS];
    const today_t *today = store ? store_today(store, clock_wall_ms()) : NULL;
    if (today) {
        body.timezone = (char *)(store->cfg->timezone ? store->cfg->timezone : "UTC");
        body.today_date = (char *)today_date(today->day, date, sizeof date);
        body.today_since = (char *)today_clock(today->since_s, since, sizeof since);
        body.today_since_midnight = today->since_s == 0;
        body.accepted_today = today->accepted;
        for (size_t i = 0; i < TODAY_REASONS; i++)
            ptrs[i] = s_reason_count(&counts[i], (int)today_reason(i), today->rejected[i]);
        body.n_rejected_today = TODAY_REASONS;
        body.rejected_today = ptrs;
    }
    control_reply_t reply = SLUICE__CONTROL__V1__REPLY__INIT;
    reply.body_case = SLUICE__CONTROL__V1__REPLY__BODY_STORE;
    reply.store = &body;
    control_reply(self->control, t, &reply);
}

/* ---- campaigns ------------------------------------------------------------ */

#define S_LIMITS (SLUICE__V1__CAMPAIGN_STATE__CAMPAIGN_STATE_SHARE_FULL - \
                  SLUICE__V1__CAMPAIGN_STATE__CAMPAIGN_STATE_COUNTING + 1)

/* One campaign's answer and what it points at. */
typedef struct campaign_answer {
    Sluice__Control__V1__Campaign row;
    Sluice__Control__V1__LimitCount limits[S_LIMITS];
    Sluice__Control__V1__LimitCount *limit_ptrs[S_LIMITS];
    uint32_t share_full[ADMIN_SHARE_FULL_LISTED];
} campaign_answer_t;

/* s_campaign_state: what campaign C's next order meets first, before any
 * store's share. */
static const char *s_campaign_state(const config_campaign_t *c, bool counted, bool paused,
                                    uint64_t placed, uint64_t now_ms)
{
    if (!counted)
        return "counting";
    if (paused)
        return "paused";
    if (c->ends_ms && (int64_t)now_ms >= c->ends_ms)
        return "ended";
    if (c->budget && placed >= (uint64_t)c->budget)
        return "budget spent";
    if (c->starts_ms && (int64_t)now_ms < c->starts_ms)
        return "not started";
    return "taking orders";
}

/* s_campaign_row fills A for the config's campaign INDEX. */
static void s_campaign_row(admin_t *self, const config_t *cfg, size_t index,
                           campaign_answer_t *a)
{
    campaign_table_t *campaigns = admit_campaigns(self->with.admit);
    const config_campaign_t *c = &cfg->campaigns[index];
    campaign_id_t id = campaign_find(campaigns, c->name);
    const campaign_counts_t *n = campaign_counts(campaigns, id);
    const char *by = campaign_override_by(campaigns, c->name);
    Sluice__Control__V1__Campaign *r = &a->row;
    sluice__control__v1__campaign__init(r);
    r->name = c->name;
    r->config_paused = c->paused;
    r->override_paused = by != NULL;
    r->override_by = (char *)(by ? by : "");
    r->paused = c->paused || by;
    r->state = (char *)s_campaign_state(c, campaign_is_counted(campaigns, id), r->paused,
                                        n->placed, clock_wall_ms());
    r->starts_at_ms = (uint64_t)c->starts_ms;
    r->ends_at_ms = (uint64_t)c->ends_ms;
    r->store_share = c->store_share;
    for (size_t i = 0; i < cfg->store_count; i++)
        for (int k = 0; k < cfg->stores[i].campaign_count; k++)
            r->store_share_overrides += cfg->stores[i].campaigns[k].campaign == (int)index;
    r->orders_per_second = (uint32_t)c->orders_per_second;
    r->pace_tokens = campaign_pace_tokens(campaigns, id, clock_mono_us());
    r->budget = (uint64_t)c->budget;
    r->placed = n->placed;
    r->budget_left = c->budget && n->placed < (uint64_t)c->budget
                         ? (uint64_t)c->budget - n->placed : 0;
    r->per_store_daily = (uint32_t)c->per_store_daily;
    for (int k = 0; k < S_LIMITS; k++) {
        int state = SLUICE__V1__CAMPAIGN_STATE__CAMPAIGN_STATE_COUNTING + k;
        const ProtobufCEnumValue *v =
            protobuf_c_enum_descriptor_get_value(&sluice__v1__campaign_state__descriptor, state);
        sluice__control__v1__limit_count__init(&a->limits[k]);
        a->limits[k].limit = (char *)(v ? v->name + strlen("CAMPAIGN_STATE_") : "OTHER");
        a->limits[k].count = n->refused[state];
        a->limit_ptrs[k] = &a->limits[k];
    }
    r->n_refused = S_LIMITS;
    r->refused = a->limit_ptrs;
    size_t full = campaign_share_full_list(campaigns, id, a->share_full, ADMIN_SHARE_FULL_LISTED);
    r->share_full_stores = (uint32_t)full;
    r->n_share_full = full < ADMIN_SHARE_FULL_LISTED ? full : ADMIN_SHARE_FULL_LISTED;
    r->share_full = a->share_full;
}

/* s_campaign answers `sluicectl campaign [NAME]`: NAME "" is every campaign
 * of the running config. */
static void s_campaign(admin_t *self, const control_ticket_t *t, const char *name)
{
    const config_t *cfg = reload_config(self->with.reload);
    size_t n = 0, only = 0;
    for (size_t i = 0; i < cfg->campaign_count; i++)
        if (!name[0] || strcmp(cfg->campaigns[i].name, name) == 0) {
            n++;
            only = i;
        }
    if (name[0] && n == 0) {
        control_reply_error(self->control, t, SLUICE__CONTROL__V1__ERROR__CODE__NOT_FOUND,
                            "campaign %s: not in the running configuration", name);
        return;
    }
    campaign_answer_t *answers = calloc(n ? n : 1, sizeof *answers);
    Sluice__Control__V1__Campaign **rows = calloc(n ? n : 1, sizeof *rows);
    if (!answers || !rows) {
        control_reply_error(self->control, t, SLUICE__CONTROL__V1__ERROR__CODE__UNAVAILABLE,
                            "campaign: out of memory");
        goto done;
    }
    for (size_t i = 0, k = 0; k < n; i++)
        if (!name[0] || i == only) {
            s_campaign_row(self, cfg, i, &answers[k]);
            rows[k] = &answers[k].row;
            k++;
        }
    Sluice__Control__V1__CampaignReply body = SLUICE__CONTROL__V1__CAMPAIGN_REPLY__INIT;
    body.n_campaigns = n;
    body.campaigns = rows;
    control_reply_t reply = SLUICE__CONTROL__V1__REPLY__INIT;
    reply.body_case = SLUICE__CONTROL__V1__REPLY__BODY_CAMPAIGN;
    reply.campaign = &body;
    control_reply(self->control, t, &reply);
done:
    free(answers);
    free(rows);
}

/* ---- pause and resume --------------------------------------------------- */

/* s_write_new makes the write of a pause (PAUSE) or resume for ticket T by
 * BY, or answers T (then NULL) when the database could not store it. */
static write_t *s_write_new(admin_t *self, control_ticket_t *t, bool pause, const char *by)
{
    write_t *w = self->write_count < ADMIN_WRITES_MAX ? calloc(1, sizeof *w) : NULL;
    if (!dbwork_first_up(self->with.dbwork) || !w) {
        control_reply_error(self->control, t, SLUICE__CONTROL__V1__ERROR__CODE__UNAVAILABLE,
                            "database %s: the %s could not be stored, so it would not survive a "
                            "restart; nothing changed, retry later",
                            w ? "unreachable" : "busy", pause ? "pause" : "resume");
        free(w);
        free(t);
        return NULL;
    }
    w->ticket = t;
    w->pause = pause;
    snprintf(w->by, sizeof w->by, "%s", by ? by : "");
    return w;
}

static void s_write_queue(admin_t *self, write_t *w)
{
    *self->writes_tail = w;
    self->writes_tail = &w->next;
    self->write_count++;
}

/* s_pause puts a pause (PAUSE) or a resume in force at once and queues its
 * store_overrides row; the answer waits for the commit, and a failed commit
 * takes it back. Takes T. */
static void s_pause(admin_t *self, control_ticket_t *t, uint32_t id, bool pause, const char *by)
{
    store_t *store = store_table_find(self->with.stores, id);
    if (!store || !store->cfg) {
        control_reply_error(self->control, t, SLUICE__CONTROL__V1__ERROR__CODE__NOT_FOUND,
                            "store %" PRIu32 ": not in the running configuration; nothing changed",
                            id);
        free(t);
        return;
    }
    write_t *w = s_write_new(self, t, pause, by);
    if (!w)
        return;
    w->store_id = id;
    w->previous = store->override;
    /* A resume removes the override: the config decides again. */
    store->override = pause ? STORE_OVERRIDE_PAUSED : STORE_OVERRIDE_NONE;
    watch_store(self->with.watch, id, clock_wall_ms(), clock_mono_us());
    s_write_queue(self, w);
}

/* s_campaign_pause is s_pause for campaign NAME (campaign_overrides). A
 * campaign the config lacks may be resumed when a pause of it is stored. */
static void s_campaign_pause(admin_t *self, control_ticket_t *t, const char *name, bool pause,
                             const char *by)
{
    campaign_table_t *campaigns = admit_campaigns(self->with.admit);
    const char *was = campaign_override_by(campaigns, name);
    if (campaign_find(campaigns, name) == CAMPAIGN_NONE && (pause || !was)) {
        control_reply_error(self->control, t, SLUICE__CONTROL__V1__ERROR__CODE__NOT_FOUND,
                            "campaign %s: not in the running configuration; nothing changed",
                            name);
        free(t);
        return;
    }
    write_t *w = s_write_new(self, t, pause, by);
    if (!w)
        return;
    snprintf(w->campaign, sizeof w->campaign, "%s", name);
    w->was_held = was != NULL;
    snprintf(w->was_by, sizeof w->was_by, "%s", was ? was : "");
    if (!pause) {
        campaign_override_clear(campaigns, name);
    } else if (!campaign_override_pause(campaigns, name, w->by)) {
        control_reply_error(self->control, t, SLUICE__CONTROL__V1__ERROR__CODE__UNAVAILABLE,
                            "campaign %s: out of memory; nothing changed, retry later", name);
        free(t);
        free(w);
        return;
    }
    s_write_queue(self, w);
}

static write_t *s_write_pop(admin_t *self)
{
    write_t *w = self->writes;
    self->writes = w->next;
    if (!self->writes)
        self->writes_tail = &self->writes;
    self->write_count--;
    self->write_in_flight = false;
    return w;
}

/* s_campaign_answer tells the requester of campaign write W how it went. */
static void s_campaign_answer(admin_t *self, const write_t *w, const db_error_t *err)
{
    campaign_table_t *campaigns = admit_campaigns(self->with.admit);
    const char *what = w->pause ? "pause" : "resume";
    /* As a store's: a failure repeats with every pause sent while the
     * database is away. */
    static log_limiter_t failed_log = LOG_LIMITER_INIT;
    if (err) {
        if (!w->was_held)
            campaign_override_clear(campaigns, w->campaign);
        else if (!campaign_override_pause(campaigns, w->campaign, w->was_by))
            log_error("campaign %s: failed to put its pause back: out of memory", w->campaign);
        log_limited(&failed_log, LOG_LEVEL_WARNING, "campaign %s: %s not stored (%s); taken back",
                    w->campaign, what, err->message);
        control_reply_error(self->control, w->ticket, SLUICE__CONTROL__V1__ERROR__CODE__UNAVAILABLE,
                            "database: the %s could not be stored (%s); nothing changed, retry",
                            what, err->message[0] ? err->message : "connection lost");
        return;
    }
    const config_t *cfg = reload_config(self->with.reload);
    bool config_paused = false;
    for (size_t i = 0; i < cfg->campaign_count; i++)
        if (strcmp(cfg->campaigns[i].name, w->campaign) == 0)
            config_paused = cfg->campaigns[i].paused;
    char line[256];
    if (w->pause)
        snprintf(line, sizeof line, "campaign %s paused by sluicectl override (config says "
                 "paused = %s); its orders get CAMPAIGN_LIMIT", w->campaign,
                 config_paused ? "true" : "false");
    else
        snprintf(line, sizeof line, "campaign %s override removed; %s", w->campaign,
                 config_paused ? "the config says paused = true, so the campaign stays paused"
                               : "the campaign takes orders (config says paused = false)");
    log_notice("%s%s%s", line, w->by[0] ? "; by " : "", w->by);
    Sluice__Control__V1__CampaignPauseReply body = SLUICE__CONTROL__V1__CAMPAIGN_PAUSE_REPLY__INIT;
    body.name = (char *)w->campaign;
    body.paused = w->pause || config_paused;
    body.config_paused = config_paused;
    body.message = line;
    control_reply_t reply = SLUICE__CONTROL__V1__REPLY__INIT;
    reply.body_case = SLUICE__CONTROL__V1__REPLY__BODY_CAMPAIGN_PAUSE;
    reply.campaign_pause = &body;
    control_reply(self->control, w->ticket, &reply);
}

/* s_write_answer tells the requester of W how it went; frees W. */
static void s_write_answer(admin_t *self, write_t *w, const db_error_t *err)
{
    if (w->campaign[0]) {
        s_campaign_answer(self, w, err);
        free(w->ticket);
        free(w);
        return;
    }
    /* A failure repeats with every pause sent while the database is away:
     * limited. The line of a change made is not: it records who changed what,
     * and only the control group can cause it. */
    static log_limiter_t failed_log = LOG_LIMITER_INIT, oom_log = LOG_LIMITER_INIT;
    store_t *store = store_table_find(self->with.stores, w->store_id);
    const char *what = w->pause ? "pause" : "resume";
    if (err) {
        if (store)
            store->override = w->previous;
        watch_store(self->with.watch, w->store_id, clock_wall_ms(), clock_mono_us());
        log_limited(&failed_log, LOG_LEVEL_WARNING, "store %" PRIu32 ": %s not stored (%s); "
                    "taken back", w->store_id, what, err->message);
        control_reply_error(self->control, w->ticket, SLUICE__CONTROL__V1__ERROR__CODE__UNAVAILABLE,
                            "database: the %s could not be stored (%s); nothing changed, retry",
                            what, err->message[0] ? err->message : "connection lost");
    } else {
        if (w->pause && !override_put(self->with.overrides, w->store_id, true, w->by))
            log_limited(&oom_log, LOG_LEVEL_ERR,
                        "store %" PRIu32 ": failed to remember its override: out of memory",
                        w->store_id);
        if (!w->pause)
            override_remove(self->with.overrides, w->store_id);
        bool config_paused = store && store->cfg && store->cfg->paused;
        bool paused = store && store_paused(store);
        char line[256];
        if (w->pause)
            snprintf(line, sizeof line, "store %" PRIu32 " paused by sluicectl override (config "
                     "says paused = %s); new orders get STORE_PAUSED", w->store_id,
                     config_paused ? "true" : "false");
        else
            snprintf(line, sizeof line, "store %" PRIu32 " override removed; %s", w->store_id,
                     paused ? "the config says paused = true, so the store stays paused"
                            : "the store takes orders (config says paused = false)");
        log_notice("%s%s%s", line, w->by[0] ? "; by " : "", w->by);
        Sluice__Control__V1__PauseReply body = SLUICE__CONTROL__V1__PAUSE_REPLY__INIT;
        body.store_id = w->store_id;
        body.paused = paused;
        body.config_paused = config_paused;
        body.message = line;
        control_reply_t reply = SLUICE__CONTROL__V1__REPLY__INIT;
        reply.body_case = SLUICE__CONTROL__V1__REPLY__BODY_PAUSE;
        reply.pause = &body;
        control_reply(self->control, w->ticket, &reply);
    }
    free(w->ticket);
    free(w);
}

static void s_write_done(void *arg, const PGresult *res, const db_error_t *err)
{
    admin_t *self = arg;
    (void)res;
    s_write_answer(self, s_write_pop(self), err);
}

bool admin_writes_waiting(void *arg)
{
    const admin_t *self = arg;
    return self->writes && !self->write_in_flight;
}

bool admin_send_write(void *arg, db_t *db, size_t conn)
{
    admin_t *self = arg;
    (void)conn;
    write_t *w = self->writes;
    char id[16];
    snprintf(id, sizeof id, "%" PRIu32, w->store_id);
    const char *values[3] = {id, "true", w->by};
    const char *campaign[2] = {w->campaign, w->by};
    self->write_in_flight = true;
    bool sent;
    if (w->campaign[0])
        sent = w->pause
                   ? db_send(db, "put_campaign_override", 2, campaign, s_write_done, self)
                   : db_send(db, "delete_campaign_override", 1, campaign, s_write_done, self);
    else
        sent = w->pause ? db_send(db, "put_override", 3, values, s_write_done, self)
                        : db_send(db, "delete_override", 1, values, s_write_done, self);
    if (!sent) {
        db_error_t err = {.connection_lost = true};
        snprintf(err.message, sizeof err.message, "could not send the statement");
        s_write_done(self, NULL, &err);
    }
    return true;
}

/* admin_writes_down answers the pauses and resumes still queued when the
 * database went away. */
void admin_writes_down(void *arg)
{
    admin_t *self = arg;
    db_error_t err = {.connection_lost = true};
    snprintf(err.message, sizeof err.message, "database connection lost");
    while (self->writes && !self->write_in_flight)
        s_write_answer(self, s_write_pop(self), &err);
}

bool admin_writes_busy(void *arg)
{
    const admin_t *self = arg;
    return self->writes != NULL;
}

/* ---- reload and the support thread -------------------------------------- */

static void s_reload(admin_t *self, const control_ticket_t *t, bool stopping)
{
    char result[2048];
    if (stopping) {
        control_reply_error(self->control, t, SLUICE__CONTROL__V1__ERROR__CODE__FAILED,
                            "the daemon is shutting down; no reload");
        return;
    }
    if (!reload_run(self->with.reload, result, sizeof result)) {
        control_reply_error(self->control, t, SLUICE__CONTROL__V1__ERROR__CODE__FAILED, "%s",
                            result);
        return;
    }
    Sluice__Control__V1__ReloadReply body = SLUICE__CONTROL__V1__RELOAD_REPLY__INIT;
    body.message = result;
    control_reply_t reply = SLUICE__CONTROL__V1__REPLY__INIT;
    reply.body_case = SLUICE__CONTROL__V1__REPLY__BODY_RELOAD;
    reply.reload = &body;
    control_reply(self->control, t, &reply);
}

/* s_support_refused answers a lookup the support thread could not take. */
static void s_support_refused(admin_t *self, const control_ticket_t *t)
{
    control_reply_error(self->control, t, SLUICE__CONTROL__V1__ERROR__CODE__UNAVAILABLE,
                        "support lookups: %s; read PostgreSQL directly",
                        self->support ? "too many waiting" : "the support thread is not running");
}

/* s_store_day hands the store's day to the support thread, in the store's
 * zone from the running config; true when it took T. */
static bool s_store_day(admin_t *self, control_ticket_t *t,
                        const Sluice__Control__V1__StoreDayRequest *r)
{
    const store_t *store = store_table_find(self->with.stores, r->store_id);
    const char *zone = store && store->cfg ? store->cfg->timezone : NULL;
    return support_store_day(self->support, t, r->store_id, zone, r->iso_times);
}

/* s_support_store: support_store_fn, the store of an order being looked up. */
static void s_support_store(uint32_t id, const char **zone, const char **name, void *arg)
{
    admin_t *self = arg;
    const store_t *store = store_table_find(self->with.stores, id);
    if (store && store->cfg) {
        *zone = store->cfg->timezone;
        *name = store->cfg->name;
    }
}

/* s_handle carries out one checked request; takes T. */
static void s_handle(admin_t *self, control_ticket_t *t, const control_request_t *req,
                     bool stopping)
{
    switch (req->body_case) {
    case SLUICE__CONTROL__V1__REQUEST__BODY_PLATFORMS:
        s_platforms(self, t);
        break;
    case SLUICE__CONTROL__V1__REQUEST__BODY_STATS:
        s_stats(self, t);
        break;
    case SLUICE__CONTROL__V1__REQUEST__BODY_STORE:
        s_store(self, t, req->store->store_id);
        break;
    case SLUICE__CONTROL__V1__REQUEST__BODY_PAUSE:
        s_pause(self, t, req->pause->store_id, true, req->pause->by);
        return;
    case SLUICE__CONTROL__V1__REQUEST__BODY_RESUME:
        s_pause(self, t, req->resume->store_id, false, req->resume->by);
        return;
    case SLUICE__CONTROL__V1__REQUEST__BODY_RELOAD:
        s_reload(self, t, stopping);
        break;
    case SLUICE__CONTROL__V1__REQUEST__BODY_CAMPAIGN:
        s_campaign(self, t, req->campaign->name);
        break;
    case SLUICE__CONTROL__V1__REQUEST__BODY_CAMPAIGN_PAUSE:
        s_campaign_pause(self, t, req->campaign_pause->name, true, req->campaign_pause->by);
        return;
    case SLUICE__CONTROL__V1__REQUEST__BODY_CAMPAIGN_RESUME:
        s_campaign_pause(self, t, req->campaign_resume->name, false, req->campaign_resume->by);
        return;
    case SLUICE__CONTROL__V1__REQUEST__BODY_ORDER:
        if (support_order(self->support, t, req->order->order_id, req->order->iso_times))
            return;
        s_support_refused(self, t);
        break;
    case SLUICE__CONTROL__V1__REQUEST__BODY_STORE_DAY:
        if (s_store_day(self, t, req->store_day))
            return;
        s_support_refused(self, t);
        break;
    default:  /* control_check let through only the cases above */
        break;
    }
    free(t);
}

void admin_step(admin_t *self, bool stopping)
{
    for (int i = 0; i < ADMIN_PER_PASS; i++) {
        control_ticket_t *t;
        control_request_t *req;
        if (!control_recv(self->control, &t, &req))
            break;
        if (t)
            s_handle(self, t, req, stopping);
        if (req)
            sluice__control__v1__request__free_unpacked(req, NULL);
    }
    support_step(self->support, self->control, s_support_store, self);
}

const char *admin_control_endpoint(const admin_t *self, bool readonly)
{
    return control_endpoint(self->control, readonly);
}
