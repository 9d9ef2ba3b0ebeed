/* lease.c - owns the shard lease: attempts, renewals, the local deadline. */
#include "lease.h"

#include "clock.h"
#include "log.h"
#include "migrate.h"

#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LEASE_NAME_MAX 72
#define LEASE_ENDPOINT_MAX 1040
#define LEASE_RETRY_MS 250 /* a failed renewal is tried again this soon */

/* The lease's statements, on its own connection (migration 010's functions:
 * the rules live in the database, beside the row). */
static const db_statement_t s_statements[] = {
    { .name = "lease_acquire",
      .sql = "SELECT acquired, lease_holder, lease_epoch, lease_endpoint, expires_in_ms"
             " FROM sluice_lease_acquire($1, $2, $3, $4::int)",
      .nparams = 4 },
    { .name = "lease_renew",
      .sql = "SELECT renewed, lease_holder, lease_epoch, lease_endpoint, expires_in_ms"
             " FROM sluice_lease_renew($1, $2, $3::int8, $4::int)",
      .nparams = 4 },
    { .name = "lease_release",
      .sql = "SELECT sluice_lease_release($1, $2, $3::int8)",
      .nparams = 3 },
};

struct lease {
    db_t *db;
    char shard[LEASE_NAME_MAX];
    char node[LEASE_NAME_MAX];
    char endpoint[LEASE_ENDPOINT_MAX]; /* advertised */
    uint64_t lease_ms;
    uint64_t margin_ms; /* counted lost this much before the database would */
    lease_role_t role;
    uint64_t epoch;
    bool in_flight; /* an attempt, renewal or release */
    bool releasing;
    bool released;
    uint64_t sent_ms;         /* when the statement in flight was sent */
    uint64_t next_ms;         /* the next attempt or renewal is due */
    uint64_t deadline_ms;     /* active: lost from then on */
    uint64_t renewed_sent_ms; /* active: when the last good renewal was sent */
    /* The row as last read. */
    char holder[LEASE_NAME_MAX];
    char holder_endpoint[LEASE_ENDPOINT_MAX];
    uint64_t holder_epoch;
    uint64_t seen_epoch; /* a standby's: the holder it last logged */
    uint64_t expires_in_ms;
    uint64_t read_ms;
    bool failing;    /* the last statement failed: log once */
    bool closing;    /* lease_destroy: a statement failing is no news */
    bool stood_down; /* lease_stand_down: no more attempts */
    char why[512];
};

static void s_prefix(const lease_t *self)
{
    char prefix[LOG_PREFIX_MAX];
    snprintf(prefix, sizeof prefix, "[shard %s %s] ", self->shard, lease_role_name(self));
    log_set_prefix(prefix);
}

lease_t *lease_new(const config_daemon_t *d, const char *advertise)
{
    lease_t *self = calloc(1, sizeof *self);
    if (!self) {
        log_error("failed to start the shard lease: out of memory");
        return NULL;
    }
    snprintf(self->shard, sizeof self->shard, "%s", d->shard);
    if (d->node[0])
        snprintf(self->node, sizeof self->node, "%s", d->node);
    else if (gethostname(self->node, sizeof self->node - 1) != 0 || !self->node[0])
        snprintf(self->node, sizeof self->node, "sluiced-%ld", (long)getpid());
    snprintf(self->endpoint, sizeof self->endpoint, "%s", advertise);
    self->lease_ms = (uint64_t)d->lease_seconds * 1000;
    self->margin_ms = self->lease_ms / 6;
    self->role = LEASE_STANDBY;
    self->db = db_new(d->database, migrate_latest_version(), s_statements,
                      sizeof s_statements / sizeof s_statements[0], d->reconnect_min_ms,
                      d->reconnect_max_ms);
    if (!self->db) {
        log_error("failed to start the shard lease: out of memory");
        free(self);
        return NULL;
    }
    /* A renewal that hangs is given up in time to try another host before
     * the lease runs out. */
    int third = (int)(self->lease_ms / 3);
    db_set_timeouts(
        self->db,
        &(db_timeouts_t){
            .connect_ms = d->db_connect_timeout_ms < third ? d->db_connect_timeout_ms : third,
            .statement_ms = third,
            .reconnect_min_ms = d->reconnect_min_ms,
            .reconnect_max_ms = d->reconnect_max_ms < third ? d->reconnect_max_ms : third });
    s_prefix(self);
    log_notice("standby for shard %s as node %s (advertising %s): taking the lease once it is "
               "free",
               self->shard, self->node, self->endpoint);
    return self;
}

void lease_destroy(lease_t **self)
{
    if (!self || !*self)
        return;
    (*self)->closing = true;
    db_destroy(&(*self)->db); /* may fail the statement in flight: s_done hears */
    free(*self);
    *self = NULL;
}

/* ---- state -------------------------------------------------------------- */

lease_role_t lease_role(const lease_t *self)
{
    return self->role;
}

const char *lease_role_name(const lease_t *self)
{
    return self->role == LEASE_ACTIVE ? "active" : self->role == LEASE_LOST ? "lost" : "standby";
}

const char *lease_shard(const lease_t *self)
{
    return self->shard;
}

const char *lease_node(const lease_t *self)
{
    return self->node;
}

uint64_t lease_epoch(const lease_t *self)
{
    return self->epoch;
}

const char *lease_why_lost(const lease_t *self)
{
    return self->role == LEASE_LOST ? self->why : "";
}

const char *lease_holder(const lease_t *self)
{
    return self->holder;
}

const char *lease_holder_endpoint(const lease_t *self)
{
    return self->holder_endpoint;
}

uint64_t lease_retry_after_ms(const lease_t *self, uint64_t now_mono_ms)
{
    uint64_t left = 0;
    if (self->read_ms && self->expires_in_ms > now_mono_ms - self->read_ms)
        left = self->expires_in_ms - (now_mono_ms - self->read_ms);
    return left > LEASE_CHECK_MS ? left : LEASE_CHECK_MS;
}

/* s_lose makes the lease lost for good, saying WHY once. */
static void s_lose(lease_t *self, const char *why)
{
    if (self->role == LEASE_LOST)
        return;
    bool was_active = self->role == LEASE_ACTIVE;
    self->role = LEASE_LOST;
    snprintf(self->why, sizeof self->why, "%s", why);
    s_prefix(self);
    log_error("lost the lease of shard %s (epoch %" PRIu64 "%s): %s; stopping", self->shard,
              self->epoch, was_active ? "" : ", not active yet", why);
}

bool lease_lost(lease_t *self, uint64_t now_mono_ms)
{
    if (self->role == LEASE_ACTIVE && now_mono_ms >= self->deadline_ms) {
        char why[256];
        snprintf(why, sizeof why,
                 "no renewal came back in time: the last good one was sent %" PRIu64
                 " ms ago, the lease is %" PRIu64 " ms and counted lost %" PRIu64 " ms early",
                 now_mono_ms - self->renewed_sent_ms, self->lease_ms, self->margin_ms);
        s_lose(self, why);
    }
    return self->role == LEASE_LOST;
}

void lease_fenced(void *arg, const db_error_t *err)
{
    lease_t *self = arg;
    if (self->role != LEASE_ACTIVE) {
        log_warning("a write of this standby was refused by the fence of shard %s: %s", self->shard,
                    err->message);
        return;
    }
    /* libpq's text starts with the severity, which the log line has. */
    const char *message = err->message;
    if (strncmp(message, "ERROR:  ", 8) == 0)
        message += 8;
    char why[400];
    snprintf(why, sizeof why, "a write was refused by the fence: %s", message);
    s_lose(self, why);
}

/* ---- the statements ----------------------------------------------------- */

/* s_read_row takes the lease row a statement returned; false when there is
 * none (a renewal of a shard whose row is gone). */
static bool s_read_row(lease_t *self, const PGresult *res, bool *granted)
{
    if (PQntuples(res) != 1 || PQnfields(res) != 5)
        return false;
    *granted = PQgetvalue(res, 0, 0)[0] == 't';
    snprintf(self->holder, sizeof self->holder, "%s", PQgetvalue(res, 0, 1));
    self->holder_epoch = (uint64_t)strtoull(PQgetvalue(res, 0, 2), NULL, 10);
    snprintf(self->holder_endpoint, sizeof self->holder_endpoint, "%s", PQgetvalue(res, 0, 3));
    self->expires_in_ms = (uint64_t)strtoull(PQgetvalue(res, 0, 4), NULL, 10);
    self->read_ms = clock_mono_ms();
    return true;
}

/* s_granted: this node holds the lease at the epoch read, from the time the
 * statement that said so was sent. */
static void s_granted(lease_t *self)
{
    self->renewed_sent_ms = self->sent_ms;
    self->deadline_ms = self->sent_ms + self->lease_ms - self->margin_ms;
    self->next_ms = self->sent_ms + self->lease_ms / 3;
    if (self->role == LEASE_ACTIVE)
        return;
    self->role = LEASE_ACTIVE;
    self->epoch = self->holder_epoch;
    s_prefix(self);
    log_notice("took the lease of shard %s as node %s (epoch %" PRIu64 "): restoring its live "
               "orders, then serving",
               self->shard, self->node, self->epoch);
}

static void s_done(void *arg, const PGresult *res, const db_error_t *err)
{
    lease_t *self = arg;
    uint64_t now = clock_mono_ms();
    self->in_flight = false;
    if (self->closing || self->role == LEASE_LOST)
        return;
    if (self->releasing) {
        self->releasing = false;
        self->released = !err && PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
        return;
    }
    bool granted = false;
    if (err || !s_read_row(self, res, &granted)) {
        if (!self->failing)
            log_warning("failed to %s the lease of shard %s: %s; trying again",
                        self->role == LEASE_ACTIVE ? "renew" : "read", self->shard,
                        err ? err->message : "no lease row");
        self->failing = true;
        self->next_ms = now + (self->role == LEASE_ACTIVE ? LEASE_RETRY_MS : LEASE_CHECK_MS);
        return;
    }
    if (self->failing)
        log_notice("the lease of shard %s answers again", self->shard);
    self->failing = false;
    if (granted) {
        s_granted(self);
        return;
    }
    if (self->role == LEASE_ACTIVE) {
        char why[300];
        snprintf(why, sizeof why, "node %s holds it now (epoch %" PRIu64 ")", self->holder,
                 self->holder_epoch);
        s_lose(self, why);
        return;
    }
    if (self->holder_epoch != self->seen_epoch) {
        log_notice("standby: shard %s is served by node %s at %s (epoch %" PRIu64 ")", self->shard,
                   self->holder[0] ? self->holder : "(nobody yet)",
                   self->holder_endpoint[0] ? self->holder_endpoint : "(none)", self->holder_epoch);
        self->seen_epoch = self->holder_epoch;
    }
    self->next_ms = now + LEASE_CHECK_MS;
}

void lease_stand_down(lease_t *self)
{
    self->stood_down = true;
}

static void s_send(lease_t *self)
{
    char ms[24], epoch[24];
    snprintf(ms, sizeof ms, "%" PRIu64, self->lease_ms);
    snprintf(epoch, sizeof epoch, "%" PRIu64, self->epoch);
    const char *acquire[] = { self->shard, self->node, self->endpoint, ms };
    const char *renew[] = { self->shard, self->node, epoch, ms };
    bool active = self->role == LEASE_ACTIVE;
    if (!active && self->stood_down)
        return;
    self->sent_ms = clock_mono_ms();
    self->in_flight = db_send(self->db, active ? "lease_renew" : "lease_acquire", 4,
                              active ? renew : acquire, s_done, self);
    if (!self->in_flight)
        self->next_ms = self->sent_ms + LEASE_RETRY_MS;
}

/* ---- the loop ----------------------------------------------------------- */

size_t lease_poll(lease_t *self, zmq_pollitem_t *items, size_t max)
{
    int fd = db_socket(self->db);
    if (fd < 0 || max == 0)
        return 0;
    short ev = db_poll_events(self->db);
    items[0] = (zmq_pollitem_t){ .fd = fd,
                                 .events = (short)(((ev & POLLIN) ? ZMQ_POLLIN : 0) |
                                                   ((ev & POLLOUT) ? ZMQ_POLLOUT : 0)) };
    return 1;
}

void lease_step(lease_t *self, const zmq_pollitem_t *items, uint64_t now_mono_ms)
{
    short revents = 0;
    if (items && db_socket(self->db) >= 0) {
        short z = items[0].revents;
        revents = (short)(((z & ZMQ_POLLIN) ? POLLIN : 0) | ((z & ZMQ_POLLOUT) ? POLLOUT : 0) |
                          ((z & ZMQ_POLLERR) ? POLLERR : 0));
    }
    db_step(self->db, revents, now_mono_ms);
    if (self->role != LEASE_LOST && !self->in_flight && db_is_idle(self->db) &&
        now_mono_ms >= self->next_ms)
        s_send(self);
}

int lease_timeout_ms(const lease_t *self, uint64_t now_mono_ms)
{
    int timeout = db_timeout_ms(self->db, now_mono_ms);
    uint64_t due = UINT64_MAX;
    if (self->role != LEASE_LOST && !self->in_flight && db_is_idle(self->db) &&
        !(self->role == LEASE_STANDBY && self->stood_down))
        due = self->next_ms;
    if (self->role == LEASE_ACTIVE && self->deadline_ms < due)
        due = self->deadline_ms;
    if (due != UINT64_MAX) {
        uint64_t wait = due > now_mono_ms ? due - now_mono_ms : 0;
        if (timeout < 0 || wait < (uint64_t)timeout)
            timeout = wait > INT_MAX ? INT_MAX : (int)wait;
    }
    return timeout;
}

bool lease_release(lease_t *self, int timeout_ms)
{
    if (self->role != LEASE_ACTIVE)
        return false;
    uint64_t end = clock_mono_ms() + (uint64_t)timeout_ms;
    char epoch[24];
    snprintf(epoch, sizeof epoch, "%" PRIu64, self->epoch);
    const char *values[] = { self->shard, self->node, epoch };
    bool sent = false;
    for (uint64_t now = clock_mono_ms(); now < end; now = clock_mono_ms()) {
        if (!sent && !self->in_flight && db_is_idle(self->db)) {
            self->releasing = true;
            self->in_flight = sent = db_send(self->db, "lease_release", 3, values, s_done, self);
            self->releasing = sent;
        }
        if (sent && !self->in_flight)
            break;
        int wait = db_timeout_ms(self->db, now);
        int left = (int)(end - now);
        struct pollfd p = { .fd = db_socket(self->db), .events = db_poll_events(self->db) };
        int rc = poll(&p, p.fd >= 0 ? 1 : 0, wait >= 0 && wait < left ? wait : left);
        db_step(self->db, rc > 0 ? p.revents : 0, clock_mono_ms());
    }
    if (self->released)
        log_notice("released the lease of shard %s (epoch %" PRIu64 "): a standby takes over now",
                   self->shard, self->epoch);
    else
        log_warning("failed to release the lease of shard %s in %d ms: a standby takes over "
                    "once it expires",
                    self->shard, timeout_ms);
    return self->released;
}
