/* server.c - owns the event loop and the wiring of the rooms: what they
 * share, the order in which the database serves them, and shutdown. */
#include "server.h"

#include "admin.h"
#include "admit.h"
#include "clock.h"
#include "curve.h"
#include "dbwork.h"
#include "dispatch.h"
#include "events.h"
#include "ingress.h"
#include "intake.h"
#include "lease.h"
#include "lifecycle.h"
#include "log.h"
#include "lookup.h"
#include "notify.h"
#include "order_index.h"
#include "override.h"
#include "reload.h"
#include "reply.h"
#include "restore.h"
#include "schedule.h"
#include "status.h"
#include "store.h"
#include "tz.h"
#include "watch.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <zmq.h>

#define SERVER_RECV_PER_PASS 2048     /* then let the database have a turn */
#define SERVER_SHUTDOWN_GRACE_MS 30000
#define SERVER_LEASE_RELEASE_MS 1000   /* a clean stop hands the shard over at once */
#define SERVER_POLL_ITEMS (6 + CONTROL_SOCKETS + DBWORK_CONNECTIONS_MAX + \
                           DISPATCH_POOLS_MAX * ADAPTER_POLL_MAX)

struct server {
    /* What the rooms share, lent to them. */
    store_table_t *stores;
    admit_t *admit;
    order_index_t *orders;
    override_list_t overrides;  /* store_overrides, as last read or written */
    void *zmq;
    curve_zap_t *zap;           /* NULL when the ingress is plain (loopback, ipc) */
    ingress_t *ingress;
    events_t *events;           /* PUB of committed state changes */
    /* The rooms. */
    reload_t *reload;           /* owns the running config */
    dbwork_t *dbwork;
    schedule_t *schedule;
    lookup_t *lookup;
    lifecycle_t *lifecycle;
    dispatch_t *dispatch;       /* the lifecycle's engine */
    intake_t *intake;
    restore_t *restore;
    watch_t *watch;             /* the avail.<store_id> events */
    status_t *status;
    admin_t *admin;
    lease_t *lease;             /* daemon.shard's lease; NULL: a single node */
    bool took_over;             /* the lease is held: writes fenced, start-up reads let go */
    /* The loop. */
    int signal_fd;
    bool stopping;
    uint64_t stop_deadline_ms;
};

/* ---- loop steps ------------------------------------------------------- */

static void s_step_signals(server_t *s, uint64_t now)
{
    struct signalfd_siginfo si;
    while (read(s->signal_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGHUP) {
            char result[2048];
            if (!s->stopping)
                (void)reload_run(s->reload, result, sizeof result);
            continue;
        }
        if (!s->stopping) {
            log_notice("%s: no new requests; finishing %zu pending orders",
                       strsignal((int)si.ssi_signo), intake_pending(s->intake));
            notify_stopping();
            s->stopping = true;
            status_stopping(s->status);
            intake_stop(s->intake);
            if (s->lease)
                lease_stand_down(s->lease);
            s->stop_deadline_ms = now + SERVER_SHUTDOWN_GRACE_MS;
        }
    }
}

/* s_standby: this node stands by for its shard: it answers, changes nothing. */
static bool s_standby(const server_t *s)
{
    return s->lease && lease_role(s->lease) != LEASE_ACTIVE;
}

/* s_route hands one request to the room that owns it; takes T. */
static void s_route(server_t *s, ingress_ticket_t *t, const Sluice__V1__Request *req)
{
    if (!req) {
        reply_error(s->ingress, t, REPLY_BAD_REQUEST, "request: not a sluice.v1.Request protobuf");
        free(t);
        return;
    }
    if (s_standby(s) && (req->body_case == SLUICE__V1__REQUEST__BODY_CANCEL ||
                         req->body_case == SLUICE__V1__REQUEST__BODY_READY)) {
        char why[1200];
        snprintf(why, sizeof why, "standby: node %s at %s serves shard %s; send it there",
                 lease_holder(s->lease)[0] ? lease_holder(s->lease) : "(none yet)",
                 lease_holder_endpoint(s->lease)[0] ? lease_holder_endpoint(s->lease) : "(none)",
                 lease_shard(s->lease));
        reply_error(s->ingress, t, REPLY_UNAVAILABLE, why);
        free(t);
        return;
    }
    switch (req->body_case) {
    case SLUICE__V1__REQUEST__BODY_SUBMIT:
        intake_submit(s->intake, t, req->submit);
        break;
    case SLUICE__V1__REQUEST__BODY_GET:
        intake_get(s->intake, t, req->get);
        break;
    case SLUICE__V1__REQUEST__BODY_QUERY_AVAILABILITY:
        intake_query(s->intake, t, req->query_availability);
        break;
    case SLUICE__V1__REQUEST__BODY_CANCEL:
        lifecycle_request(s->lifecycle, t, "cancel.order_id",
                          req->cancel->order_id ? req->cancel->order_id : "", ORDER_EVENT_CANCEL,
                          req->cancel->reason);
        break;
    case SLUICE__V1__REQUEST__BODY_READY:
        lifecycle_request(s->lifecycle, t, "ready.order_id",
                          req->ready->order_id ? req->ready->order_id : "",
                          ORDER_EVENT_MARK_READY, NULL);
        break;
    default:
        reply_error(s->ingress, t, REPLY_BAD_REQUEST,
                    "request: no body (expected submit, cancel, ready, get or "
                    "query_availability)");
        free(t);
        break;
    }
}

static void s_step_ingress(server_t *s)
{
    for (int i = 0; i < SERVER_RECV_PER_PASS; i++) {
        ingress_ticket_t *t = NULL;
        Sluice__V1__Request *req = NULL;
        if (!ingress_recv(s->ingress, &t, &req))
            return;
        s_route(s, t, req);
        if (req)
            sluice__v1__request__free_unpacked(req, NULL);
    }
}

static bool s_drained(const server_t *s)
{
    return !dbwork_busy(s->dbwork);
}

static void s_sooner(int *timeout, int wait)
{
    if (wait >= 0 && wait < *timeout)
        *timeout = wait;
}

static int s_poll_timeout(server_t *s, uint64_t now)
{
    int timeout = 1000;
    s_sooner(&timeout, dbwork_timeout_ms(s->dbwork, now));
    s_sooner(&timeout, intake_timeout_ms(s->intake, now));
    if (s->lease)
        s_sooner(&timeout, lease_timeout_ms(s->lease, now));
    s_sooner(&timeout, status_timeout_ms(s->status, now));
    s_sooner(&timeout, dispatch_timeout_ms(s->dispatch, now));
    uint64_t wall = clock_wall_ms();
    const uint64_t dues[2] = {schedule_next_ms(s->schedule), watch_due_ms(s->watch)};
    for (int i = 0; i < 2; i++)
        if (dues[i] != UINT64_MAX && (dues[i] <= wall || dues[i] - wall < (uint64_t)timeout))
            timeout = dues[i] <= wall ? 0 : (int)(dues[i] - wall);
    return timeout;
}

/* s_take_over: this node holds its shard's lease now: its writes carry the
 * epoch, and the start-up reads (overrides, live orders) go; the ingress
 * opens once they are done. */
static void s_take_over(server_t *s)
{
    s->took_over = true;
    dbwork_set_fence(s->dbwork, lease_shard(s->lease), lease_epoch(s->lease), lease_fenced,
                     s->lease);
    dbwork_hold_start(s->dbwork, false);
}

/* s_stop_serving: the lease is lost, so another node may serve the shard
 * now; nothing more is done for it. What waits is answered without the
 * database (what is in flight when the connections close). */
static void s_stop_serving(server_t *s)
{
    log_error("stopping: %s; exiting with status %d to be started again as a standby",
              lease_why_lost(s->lease), LEASE_EXIT_LOST);
    notify_stopping();
    s->stopping = true;
    status_stopping(s->status);
    intake_abandon(s->intake);
    dbwork_abandon(s->dbwork);
}

int server_run(server_t *s)
{
    int rc = 0;
    while (!(s->stopping && s_drained(s)) && !restore_failed(s->restore)) {
        uint64_t now = clock_mono_ms();
        if (s->stopping && now >= s->stop_deadline_ms) {
            log_error("shutdown grace of %d ms passed with orders still uncommitted",
                      SERVER_SHUTDOWN_GRACE_MS);
            break;
        }
        bool serving = !s->stopping && (restore_done(s->restore) || s_standby(s));
        zmq_pollitem_t items[SERVER_POLL_ITEMS] = {
            {.socket = ingress_socket(s->ingress), .events = serving ? ZMQ_POLLIN : 0},
            {.fd = s->signal_fd, .events = ZMQ_POLLIN},
        };
        size_t n = 2, max = sizeof items / sizeof items[0];
        zmq_pollitem_t *lease_items = items + n;
        size_t lease_n = s->lease ? lease_poll(s->lease, lease_items, max - n) : 0;
        n += lease_n;
        int zap_item = -1;
        if (s->zap) {
            zap_item = (int)n;
            items[n++] = (zmq_pollitem_t){.socket = curve_zap_socket(s->zap), .events = ZMQ_POLLIN};
        }
        zmq_pollitem_t *status_items = items + n;
        n += status_poll(s->status, status_items, max - n);
        n += admin_poll(s->admin, items + n, max - n);
        zmq_pollitem_t *db_items = items + n;
        n += dbwork_poll(s->dbwork, db_items, max - n);
        n += dispatch_poll(s->dispatch, items + n, max - n);
        if (zmq_poll(items, (int)n, s_poll_timeout(s, now)) < 0 && zmq_errno() != EINTR) {
            log_error("failed to poll: %s", zmq_strerror(zmq_errno()));
            return 1;
        }
        now = clock_mono_ms();
        /* The fixed list of steps of one pass. The lease comes first: a node
         * whose lease is lost (say, resumed after a stop longer than it)
         * must not read a request, step a dispatch or send a byte to a
         * platform for its shard. */
        if (s->lease) {
            lease_step(s->lease, lease_n ? lease_items : NULL, now);
            if (lease_lost(s->lease, now)) {
                s_stop_serving(s);
                rc = LEASE_EXIT_LOST;
                break;
            }
            if (!s->took_over && lease_role(s->lease) == LEASE_ACTIVE)
                s_take_over(s);
        }
        s_step_signals(s, now);
        if (zap_item >= 0 && items[zap_item].revents)
            curve_zap_step(s->zap);
        dbwork_step(s->dbwork, db_items, now);
        dbwork_step_down(s->dbwork);
        intake_step(s->intake, now);
        dispatch_step(s->dispatch, now);
        schedule_step(s->schedule, s->dispatch);
        watch_step(s->watch, s->reload, clock_wall_ms(), clock_mono_us());
        dbwork_step_send(s->dbwork);
        if (!s->stopping && (restore_done(s->restore) || s_standby(s)))
            s_step_ingress(s);
        admin_step(s->admin, s->stopping);
        dbwork_step_send(s->dbwork);
        status_step(s->status, status_items, now);
    }
    const intake_stats_t *st = intake_stats(s->intake);
    double avg = st->batches ? (double)st->batch_rows / (double)st->batches : 0.0;
    double commit_ms = st->batches ? (double)st->commit_us_total / 1000.0 /
                                         (double)st->batches : 0.0;
    log_notice("stopped: accepted %" PRIu64 ", duplicates %" PRIu64 ", batches %" PRIu64
               " (%.1f orders each, commit %.2f ms mean, %.2f ms max), failed batches %" PRIu64
               ", replies dropped %" PRIu64,
               st->accepted, st->duplicates, st->batches, avg, commit_ms,
               (double)st->commit_us_max / 1000.0, st->batch_failures,
               ingress_stats(s->ingress)->replies_dropped);
    /* Give the last acks a moment to leave the socket. */
    ingress_set_linger(s->ingress, 2000);
    if (rc == LEASE_EXIT_LOST)
        return rc;
    bool clean = s_drained(s) && !restore_failed(s->restore);
    if (clean && s->lease && lease_role(s->lease) == LEASE_ACTIVE)
        (void)lease_release(s->lease, SERVER_LEASE_RELEASE_MS);
    return clean ? 0 : 1;
}

/* ---- wiring ------------------------------------------------------------ */

static int s_signal_fd(void)
{
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0)
        return -1;
    return signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* s_open_ingress binds the ingress, a CURVE server with its ZAP handler
 * when daemon.curve.secret_key_file is set. */
static bool s_open_ingress(server_t *s, const config_daemon_t *d)
{
    char secret[CURVE_KEY_TEXT + 1] = "";
    if (d->curve_secret_key_file[0]) {
        char why[600];
        /* The ZAP handler must be bound before the first handshake. */
        if (!curve_read_secret(d->curve_secret_key_file, secret, why, sizeof why)) {
            log_error("daemon.curve.secret_key_file: %s", why);
            return false;
        }
        s->zap = curve_zap_new(s->zmq, d->curve_client_keys_file);
        if (!s->zap)
            return false;
    }
    s->ingress = ingress_new(s->zmq, d->ingress, d->max_message_bytes, secret[0] ? secret : NULL);
    memset(secret, 0, sizeof secret);
    return s->ingress != NULL;
}

/* s_set_sources is the order in which the rooms' work goes to the
 * database: the start-up reads alone, then on connection 0 the campaigns'
 * counts, the operators' writes, the batches whose commit's outcome was
 * lost, the ids a batch found stored, the state changes, and lookups and
 * batches taking turns; batches also on every other connection. */
static bool s_set_sources(server_t *s)
{
    const dbwork_source_t sources[] = {
        {"start-up overrides", DBWORK_FIRST, DBWORK_ALONE, restore_overrides_waiting,
         restore_send_overrides, NULL, NULL, s->restore},
        {"start-up campaign pauses", DBWORK_FIRST, DBWORK_ALONE, restore_campaign_pauses_waiting,
         restore_send_campaign_pauses, NULL, NULL, s->restore},
        {"restore", DBWORK_FIRST, DBWORK_ALONE, restore_orders_waiting, restore_send_orders,
         NULL, NULL, s->restore},
        {"campaign counts", DBWORK_FIRST, DBWORK_IN_ORDER, restore_counts_waiting,
         restore_send_counts, NULL, restore_counts_busy, s->restore},
        {"control writes", DBWORK_FIRST, DBWORK_IN_ORDER, admin_writes_waiting, admin_send_write,
         admin_writes_down, admin_writes_busy, s->admin},
        {"batches in doubt", DBWORK_FIRST, DBWORK_IN_ORDER, intake_doubt_waiting,
         intake_send_doubt, NULL, intake_doubt_busy, s->intake},
        {"resolving ids", DBWORK_FIRST, DBWORK_IN_ORDER, intake_resolve_waiting,
         intake_send_resolve, intake_resolve_down, intake_resolve_busy, s->intake},
        {"order changes", DBWORK_FIRST, DBWORK_IN_ORDER, lifecycle_changes_waiting,
         lifecycle_send_changes, lifecycle_changes_down, lifecycle_changes_busy, s->lifecycle},
        {"GetOrder lookups", DBWORK_FIRST, DBWORK_ALTERNATE, lookup_waiting, lookup_send,
         lookup_down, lookup_busy, s->lookup},
        {"intake batches", DBWORK_ANY, DBWORK_ALTERNATE, intake_batches_waiting,
         intake_send_batch, intake_batches_down, intake_batches_busy, s->intake},
    };
    return dbwork_set_sources(s->dbwork, sources, sizeof sources / sizeof sources[0]);
}

/* s_open_rooms makes the rooms in the order they lend to each other. The
 * reload room takes *CFG (then NULL) once it exists. */
static bool s_open_rooms(server_t *s, config_t **cfg)
{
    s->dbwork = dbwork_new(&(*cfg)->daemon);
    if (s->dbwork && s->lease)
        dbwork_hold_start(s->dbwork, true);   /* until the lease is this node's */
    s->schedule = schedule_new(s->stores, admit_campaigns(s->admit));
    s->lookup = s->dbwork ? lookup_new(s->ingress, s->dbwork) : NULL;
    watch_with_t ww = {.admit = s->admit, .stores = s->stores, .events = s->events,
                       .interval_ms = (uint64_t)(*cfg)->daemon.availability_event_ms};
    s->watch = watch_new(&ww);
    if (!s->dbwork || !s->schedule || !s->lookup || !s->watch) {
        log_error("failed to start: out of memory");
        return false;
    }
    lifecycle_with_t lw = {.stores = s->stores, .orders = s->orders, .schedule = s->schedule,
                           .events = s->events, .ingress = s->ingress, .dbwork = s->dbwork,
                           .lookup = s->lookup, .zmq = s->zmq, .watch = s->watch};
    s->lifecycle = lifecycle_new(*cfg, &lw);
    if (!s->lifecycle)
        return false;
    s->dispatch = lifecycle_dispatch(s->lifecycle);
    reload_targets_t rt = {.stores = s->stores, .admit = s->admit, .dispatch = s->dispatch,
                           .zap = s->zap, .overrides = &s->overrides, .dbwork = s->dbwork};
    s->reload = reload_new(*cfg, &rt);
    if (s->reload)
        *cfg = NULL;
    intake_with_t iw = {.reload = s->reload, .stores = s->stores, .admit = s->admit,
                        .orders = s->orders, .schedule = s->schedule, .dispatch = s->dispatch,
                        .events = s->events, .ingress = s->ingress, .dbwork = s->dbwork,
                        .lookup = s->lookup, .lease = s->lease, .watch = s->watch};
    s->intake = s->reload ? intake_new(&iw) : NULL;
    restore_with_t rw = {.overrides = &s->overrides, .stores = s->stores, .orders = s->orders,
                         .schedule = s->schedule, .dispatch = s->dispatch,
                         .shard = s->lease ? lease_shard(s->lease) : "",
                         .campaigns = admit_campaigns(s->admit), .reload = s->reload};
    s->restore = restore_new(&rw);
    if (!s->reload || !s->intake || !s->restore) {
        log_error("failed to start: out of memory");
        return false;
    }
    status_with_t sw = {.reload = s->reload, .intake = s->intake, .lifecycle = s->lifecycle,
                        .restore = s->restore, .dbwork = s->dbwork, .admit = s->admit,
                        .dispatch = s->dispatch, .orders = s->orders, .ingress = s->ingress,
                        .events = s->events, .zap = s->zap, .lease = s->lease,
                        .watch = s->watch};
    s->status = status_new(&sw);
    if (!s->status)
        return false;
    admin_with_t aw = {.reload = s->reload, .stores = s->stores, .admit = s->admit,
                       .overrides = &s->overrides, .dispatch = s->dispatch, .intake = s->intake,
                       .status = s->status, .dbwork = s->dbwork, .zmq = s->zmq,
                       .watch = s->watch};
    s->admin = admin_new(&aw);
    return s->admin && s_set_sources(s);
}

server_t *server_new(config_t *cfg)
{
    server_t *s = calloc(1, sizeof *s);
    if (!s) {
        config_destroy(&cfg);
        return NULL;
    }
    s->signal_fd = -1;
    s->stores = store_table_new();
    s->admit = admit_new(cfg, clock_mono_us());
    s->orders = order_index_new(1u << 20);
    s->zmq = zmq_ctx_new();
    if (!s->stores || !s->admit || !s->orders || !s->zmq ||
        !store_table_apply(s->stores, cfg, clock_wall_ms())) {
        log_error("failed to start: out of memory");
        goto fail;
    }
    s->signal_fd = s_signal_fd();
    if (s->signal_fd < 0) {
        log_error("failed to set up signal handling: %s", strerror(errno));
        goto fail;
    }
    if (!s_open_ingress(s, &cfg->daemon))
        goto fail;
    if (cfg->daemon.shard[0]) {
        s->lease = lease_new(&cfg->daemon, cfg->daemon.advertise[0] ? cfg->daemon.advertise
                                                                    : ingress_endpoint(s->ingress));
        if (!s->lease)
            goto fail;
    }
    s->events = events_new(s->zmq, cfg->daemon.events);
    if (!s->events)
        goto fail;
    if (!s_open_rooms(s, &cfg))
        goto fail;
    log_notice("listening on %s; connecting to the database",
               reload_config(s->reload)->daemon.ingress);
    /* Ports given as * (ZeroMQ) or 0 (HTTP) are the kernel's choice: say which. */
    log_notice("bound: ingress %s, events %s, http %s, control %s, control_readonly %s",
               ingress_endpoint(s->ingress), events_endpoint(s->events),
               status_http_endpoint(s->status), admin_control_endpoint(s->admin, false),
               admin_control_endpoint(s->admin, true));
    return s;
fail:
    server_destroy(&s);
    config_destroy(&cfg);   /* last: the rooms point into it (NULL once reload has it) */
    return NULL;
}

void server_destroy(server_t **self)
{
    if (!self || !*self)
        return;
    server_t *s = *self;
    dbwork_destroy(&s->dbwork);        /* fails the statements in flight: the rooms hear */
    lease_destroy(&s->lease);
    admin_destroy(&s->admin);
    status_destroy(&s->status);
    intake_destroy(&s->intake);
    restore_destroy(&s->restore);
    lifecycle_destroy(&s->lifecycle);  /* before the orders its engine's jobs point at */
    lookup_destroy(&s->lookup);
    watch_destroy(&s->watch);
    schedule_destroy(&s->schedule);
    override_list_free(&s->overrides);
    order_index_destroy(&s->orders);
    ingress_destroy(&s->ingress);
    curve_zap_destroy(&s->zap);
    events_destroy(&s->events);
    if (s->zmq)
        zmq_ctx_term(s->zmq);
    if (s->signal_fd >= 0)
        close(s->signal_fd);
    store_table_destroy(&s->stores);
    admit_destroy(&s->admit);
    tz_reset();
    reload_destroy(&s->reload);        /* the running config, which everything above used */
    free(s);
    *self = NULL;
}
