/* admin.c - owns carrying out sluicectl's control commands. */
#include "admin.h"

#include "clock.h"
#include "control.h"
#include "log.h"
#include "support.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* A pause or resume in force in memory, waiting for its row to commit. */
typedef struct write {
    struct write *next;
    control_ticket_t *ticket;
    uint32_t store_id;
    bool pause;
    uint8_t previous;           /* store_t.override before, put back if the write fails */
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
    Sluice__Control__V1__ReasonCount counts[SLUICE__V1__REASON__NO_RIDERS];
    Sluice__Control__V1__ReasonCount *ptrs[SLUICE__V1__REASON__NO_RIDERS];
    size_t n = 0;
    for (int r = 1; r <= SLUICE__V1__REASON__NO_RIDERS; r++, n++)
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

/* ---- pause and resume --------------------------------------------------- */

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
    write_t *w = self->write_count < ADMIN_WRITES_MAX ? calloc(1, sizeof *w) : NULL;
    if (!dbwork_first_up(self->with.dbwork) || !w) {
        control_reply_error(self->control, t, SLUICE__CONTROL__V1__ERROR__CODE__UNAVAILABLE,
                            "database %s: the %s could not be stored, so it would not survive a "
                            "restart; nothing changed, retry later",
                            w ? "unreachable" : "busy", pause ? "pause" : "resume");
        free(w);
        free(t);
        return;
    }
    w->ticket = t;
    w->store_id = id;
    w->pause = pause;
    w->previous = store->override;
    snprintf(w->by, sizeof w->by, "%s", by ? by : "");
    /* A resume removes the override: the config decides again. */
    store->override = pause ? STORE_OVERRIDE_PAUSED : STORE_OVERRIDE_NONE;
    *self->writes_tail = w;
    self->writes_tail = &w->next;
    self->write_count++;
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

/* s_write_answer tells the requester of W how it went; frees W. */
static void s_write_answer(admin_t *self, write_t *w, const db_error_t *err)
{
    /* A failure repeats with every pause sent while the database is away:
     * limited. The line of a change made is not: it records who changed what,
     * and only the control group can cause it. */
    static log_limiter_t failed_log = LOG_LIMITER_INIT, oom_log = LOG_LIMITER_INIT;
    store_t *store = store_table_find(self->with.stores, w->store_id);
    const char *what = w->pause ? "pause" : "resume";
    if (err) {
        if (store)
            store->override = w->previous;
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
    self->write_in_flight = true;
    bool sent = w->pause ? db_send(db, "put_override", 3, values, s_write_done, self)
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
