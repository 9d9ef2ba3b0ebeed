/* dbwork.c - owns the PostgreSQL connections and the turns of the work
 * sources on them. */
#include "dbwork.h"

#include "batch.h"
#include "campaign.h"
#include "change.h"
#include "clock.h"
#include "log.h"
#include "migrate.h"
#include "override.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>

/* Every statement the daemon's loop runs, prepared on each connection. */
static const db_statement_t s_statements[] = {
    {.name = "insert_batch", .sql = batch_insert_sql, .nparams = BATCH_COLUMNS},
    {.name = "resolve_batch", .sql = batch_resolve_sql, .nparams = BATCH_COLUMNS},
    {.name = "lookup_orders", .sql = batch_lookup_sql, .nparams = 1},
    {.name = "live_orders", .sql = batch_live_sql, .nparams = 0},
    {.name = "change_orders", .sql = change_sql, .nparams = CHANGE_PARAMS},
    {.name = "load_overrides", .sql = override_load_sql, .nparams = 0},
    {.name = "put_override", .sql = override_put_sql, .nparams = 3},
    {.name = "delete_override", .sql = override_delete_sql, .nparams = 1},
    {.name = "campaign_counts", .sql = campaign_counts_sql, .nparams = 2},
    {.name = "campaign_day", .sql = campaign_day_sql, .nparams = 3},
    {.name = "campaign_bookings", .sql = campaign_bookings_sql, .nparams = 3},
    {.name = "load_campaign_overrides", .sql = campaign_override_load_sql, .nparams = 0},
    {.name = "put_campaign_override", .sql = campaign_override_put_sql, .nparams = 2},
    {.name = "delete_campaign_override", .sql = campaign_override_delete_sql, .nparams = 1},
};

/* The same for a node with a shard, under the same names: every write is
 * fenced (db.h: the fence's parameters come after the caller's), and the
 * live orders are the shard's ($1). */
#define FENCED(n) .nparams = (n) + DB_FENCE_PARAMS, .fenced = true
static const db_statement_t s_shard_statements[] = {
    {.name = "insert_batch", .sql = batch_insert_fenced_sql, FENCED(BATCH_COLUMNS)},
    {.name = "resolve_batch", .sql = batch_resolve_fenced_sql, FENCED(BATCH_COLUMNS)},
    {.name = "lookup_orders", .sql = batch_lookup_sql, .nparams = 1},
    {.name = "live_orders", .sql = batch_live_shard_sql, .nparams = 1},
    {.name = "change_orders", .sql = change_fenced_sql, FENCED(CHANGE_PARAMS)},
    {.name = "load_overrides", .sql = override_load_sql, .nparams = 0},
    {.name = "put_override", .sql = override_put_fenced_sql, FENCED(3)},
    {.name = "delete_override", .sql = override_delete_fenced_sql, FENCED(1)},
    {.name = "campaign_counts", .sql = campaign_counts_sql, .nparams = 2},
    {.name = "campaign_day", .sql = campaign_day_sql, .nparams = 3},
    {.name = "campaign_bookings", .sql = campaign_bookings_sql, .nparams = 3},
    {.name = "load_campaign_overrides", .sql = campaign_override_load_sql, .nparams = 0},
    {.name = "put_campaign_override", .sql = campaign_override_put_fenced_sql, FENCED(2)},
    {.name = "delete_campaign_override", .sql = campaign_override_delete_fenced_sql, FENCED(1)},
};
_Static_assert(sizeof s_statements == sizeof s_shard_statements,
               "a node with a shard runs the same statements, fenced");

struct dbwork {
    db_t *conns[DBWORK_CONNECTIONS_MAX];
    size_t conn_count;
    int item[DBWORK_CONNECTIONS_MAX];   /* index in the poll items, -1: none */
    dbwork_source_t sources[DBWORK_SOURCES_MAX];
    size_t source_count;
    size_t last;                        /* the ALTERNATE row that went last on connection 0 */
    bool start_held;                    /* ALONE rows wait (dbwork_hold_start) */
};

dbwork_t *dbwork_new(const config_daemon_t *d)
{
    dbwork_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->conn_count = (size_t)d->db_connections;
    if (self->conn_count < 1 || self->conn_count > DBWORK_CONNECTIONS_MAX)
        self->conn_count = 1;
    bool sharded = d->shard && d->shard[0];
    for (size_t i = 0; i < self->conn_count; i++) {
        self->item[i] = -1;
        self->conns[i] = db_new(d->database, migrate_latest_version(),
                                sharded ? s_shard_statements : s_statements,
                                sizeof s_statements / sizeof s_statements[0],
                                d->reconnect_min_ms, d->reconnect_max_ms);
        if (!self->conns[i]) {
            dbwork_destroy(&self);
            return NULL;
        }
        /* Epoch 0 until the node holds its lease: no write of it can pass. */
        if (sharded)
            db_set_fence(self->conns[i], d->shard, 0, NULL, NULL);
    }
    dbwork_configure(self, d);
    return self;
}

void dbwork_configure(dbwork_t *self, const config_daemon_t *d)
{
    db_timeouts_t t = {.connect_ms = d->db_connect_timeout_ms,
                       .statement_ms = d->db_statement_timeout_ms,
                       .reconnect_min_ms = d->reconnect_min_ms,
                       .reconnect_max_ms = d->reconnect_max_ms};
    for (size_t i = 0; i < self->conn_count; i++)
        db_set_timeouts(self->conns[i], &t);
}

void dbwork_destroy(dbwork_t **self)
{
    if (!self || !*self)
        return;
    dbwork_t *w = *self;
    /* Connection 0 last: a source answering a failed statement may still
     * ask it for a retry time. */
    for (size_t i = w->conn_count; i-- > 0;)
        db_destroy(&w->conns[i]);   /* may fail the statement in flight */
    free(w);
    *self = NULL;
}

void dbwork_set_fence(dbwork_t *self, const char *shard, uint64_t epoch, db_fenced_fn *fenced,
                      void *arg)
{
    for (size_t i = 0; i < self->conn_count; i++)
        db_set_fence(self->conns[i], shard, epoch, fenced, arg);
}

void dbwork_hold_start(dbwork_t *self, bool hold)
{
    self->start_held = hold;
}

bool dbwork_set_sources(dbwork_t *self, const dbwork_source_t *sources, size_t n)
{
    if (n > DBWORK_SOURCES_MAX) {
        log_error("failed to set the database work sources: %zu of them, at most %d", n,
                  DBWORK_SOURCES_MAX);
        return false;
    }
    for (size_t i = 0; i < n; i++)
        if (sources[i].turn == DBWORK_ALONE && sources[i].conns != DBWORK_FIRST) {
            log_error("failed to set the database work sources: %s goes alone on any connection",
                      sources[i].name);
            return false;
        }
    memcpy(self->sources, sources, n * sizeof *sources);
    self->source_count = n;
    /* As if the first ALTERNATE row had just gone. */
    self->last = 0;
    for (size_t i = 0; i < n; i++)
        if (sources[i].turn == DBWORK_ALTERNATE) {
            self->last = i;
            break;
        }
    return true;
}

static bool s_may_use(const dbwork_source_t *r, size_t conn)
{
    return conn == 0 || r->conns == DBWORK_ANY;
}

size_t dbwork_order(const dbwork_source_t *sources, size_t n, size_t conn, size_t last,
                    size_t order[])
{
    size_t alt[DBWORK_SOURCES_MAX], alt_count = 0, start = 0;
    for (size_t i = 0; i < n && i < DBWORK_SOURCES_MAX; i++)
        if (sources[i].turn == DBWORK_ALTERNATE && s_may_use(&sources[i], conn)) {
            if (i == last)
                start = alt_count + 1;
            alt[alt_count++] = i;
        }
    size_t count = 0;
    bool alt_placed = false;
    for (size_t i = 0; i < n && i < DBWORK_SOURCES_MAX; i++) {
        const dbwork_source_t *r = &sources[i];
        if (r->turn == DBWORK_ALONE || !s_may_use(r, conn))
            continue;
        if (r->turn == DBWORK_IN_ORDER) {
            order[count++] = i;
        } else if (!alt_placed) {
            alt_placed = true;
            for (size_t k = 0; k < alt_count; k++)
                order[count++] = alt[(start + k) % alt_count];
        }
    }
    return count;
}

/* zmq_poll has its own event bits; db speaks poll(2)'s. */
static short s_zmq_events(short poll_events)
{
    return (short)(((poll_events & POLLIN) ? ZMQ_POLLIN : 0) |
                   ((poll_events & POLLOUT) ? ZMQ_POLLOUT : 0));
}

static short s_poll_revents(short zmq_revents)
{
    return (short)(((zmq_revents & ZMQ_POLLIN) ? POLLIN : 0) |
                   ((zmq_revents & ZMQ_POLLOUT) ? POLLOUT : 0) |
                   ((zmq_revents & ZMQ_POLLERR) ? POLLERR : 0));
}

size_t dbwork_poll(dbwork_t *self, zmq_pollitem_t *items, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < self->conn_count; i++) {
        int fd = db_socket(self->conns[i]);
        self->item[i] = fd >= 0 && n < max ? (int)n : -1;
        if (self->item[i] >= 0)
            items[n++] = (zmq_pollitem_t){
                .fd = fd, .events = s_zmq_events(db_poll_events(self->conns[i]))};
    }
    return n;
}

void dbwork_step(dbwork_t *self, const zmq_pollitem_t *items, uint64_t now_mono_ms)
{
    for (size_t i = 0; i < self->conn_count; i++)
        db_step(self->conns[i],
                self->item[i] >= 0 ? s_poll_revents(items[self->item[i]].revents) : 0,
                now_mono_ms);
}

void dbwork_step_down(dbwork_t *self)
{
    bool first = dbwork_first_up(self), any = dbwork_up(self);
    for (size_t i = 0; i < self->source_count; i++) {
        const dbwork_source_t *r = &self->sources[i];
        if (r->down && !(r->conns == DBWORK_FIRST ? first : any))
            r->down(r->arg);
    }
}

void dbwork_abandon(dbwork_t *self)
{
    for (size_t i = 0; i < self->source_count; i++)
        if (self->sources[i].down)
            self->sources[i].down(self->sources[i].arg);
}

/* s_offer gives idle connection CONN to the first row in turn that sends. */
static void s_offer(dbwork_t *self, size_t conn)
{
    size_t order[DBWORK_SOURCES_MAX];
    size_t n = dbwork_order(self->sources, self->source_count, conn, self->last, order);
    for (size_t k = 0; k < n; k++) {
        const dbwork_source_t *r = &self->sources[order[k]];
        if (!r->waiting(r->arg) || !r->send(r->arg, self->conns[conn], conn))
            continue;
        if (conn == 0 && r->turn == DBWORK_ALTERNATE)
            self->last = order[k];
        return;
    }
}

void dbwork_step_send(dbwork_t *self)
{
    for (size_t i = 0; i < self->source_count && !self->start_held; i++) {
        const dbwork_source_t *r = &self->sources[i];
        if (r->turn == DBWORK_ALONE && r->waiting(r->arg)) {
            if (db_is_idle(self->conns[0]))
                (void)r->send(r->arg, self->conns[0], 0);
            return;
        }
    }
    for (size_t c = 0; c < self->conn_count; c++)
        if (db_is_idle(self->conns[c]))
            s_offer(self, c);
}

int dbwork_timeout_ms(const dbwork_t *self, uint64_t now_mono_ms)
{
    int timeout = -1;
    for (size_t c = 0; c < self->conn_count; c++) {
        int wait = db_timeout_ms(self->conns[c], now_mono_ms);
        if (wait >= 0 && (timeout < 0 || wait < timeout))
            timeout = wait;
    }
    /* Work waiting for an idle connection: don't sleep. */
    for (size_t c = 0; c < self->conn_count; c++) {
        if (!db_is_idle(self->conns[c]))
            continue;
        for (size_t i = 0; i < self->source_count; i++) {
            const dbwork_source_t *r = &self->sources[i];
            if (s_may_use(r, c) && !(r->turn == DBWORK_ALONE && self->start_held) &&
                r->waiting(r->arg))
                return 0;
        }
    }
    return timeout;
}

bool dbwork_up(const dbwork_t *self)
{
    for (size_t i = 0; i < self->conn_count; i++)
        if (db_is_up(self->conns[i]))
            return true;
    return false;
}

const char *dbwork_why_down(const dbwork_t *self)
{
    for (size_t i = 0; i < self->conn_count; i++)
        if (db_is_up(self->conns[i]))
            return "";
    return db_why_down(self->conns[0]);
}

bool dbwork_first_up(const dbwork_t *self)
{
    return db_is_up(self->conns[0]);
}

uint64_t dbwork_retry_after_ms(const dbwork_t *self)
{
    return db_retry_after_ms(self->conns[0], clock_mono_ms());
}

bool dbwork_busy(const dbwork_t *self)
{
    for (size_t i = 0; i < self->source_count; i++) {
        const dbwork_source_t *r = &self->sources[i];
        if (r->busy && r->busy(r->arg))
            return true;
    }
    return false;
}
