/* lease.h - owns this node's lease on its shard (daemon.shard): the row of
 * shard_leases (migration 010) that makes one node of a shard its active
 * node, on a database connection of its own so that renewals never wait
 * behind a batch.
 *
 * A standby tries to take the lease once a second; the database grants it
 * once it has expired by the database's clock, with a new epoch. The active
 * renews it every lease_seconds / 3 under its epoch, and every write it
 * makes carries the epoch (db_set_fence): a write under a stale epoch fails
 * in the database. The active counts the lease lost on its own clock at the
 * monotonic time its last good renewal was SENT + lease_seconds - a sixth of
 * it, which is before the database's expiry; also when a renewal is refused
 * or a write fails the fence. Lost is final: the process stops serving and
 * exits with LEASE_EXIT_LOST, and systemd starts it again as a standby. */
#ifndef SLUICE_LEASE_H
#define SLUICE_LEASE_H

#include "config.h"
#include "db.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#define LEASE_CHECK_MS 1000 /* a standby's attempts */
#define LEASE_EXIT_LOST 75  /* EX_TEMPFAIL: the lease was lost; restart as a standby */

typedef enum lease_role {
    LEASE_STANDBY, /* another node serves the shard, or none yet */
    LEASE_ACTIVE,  /* this node serves it */
    LEASE_LOST,    /* it did, and must stop now */
} lease_role_t;

typedef struct lease lease_t;

/* lease_new starts connecting to D's database for D->shard's lease, as
 * D->node (the host name when "") advertising ADVERTISE to producers.
 * NULL (logged) when out of memory. Sets the log prefix (log.h) to the
 * shard and role. */
lease_t *lease_new(const config_daemon_t *d, const char *advertise)
    __attribute__((warn_unused_result));
/* lease_destroy closes the connection; it does not release the lease
 * (lease_release does). */
void lease_destroy(lease_t **self);

/* Event-loop hooks: lease_poll adds the connection's socket to ITEMS (at
 * most MAX) and returns how many; lease_step gives it what poll saw, then
 * sends the attempt or renewal that is due; lease_timeout_ms: how long the
 * loop may sleep (-1: no need to wake). */
size_t lease_poll(lease_t *self, zmq_pollitem_t *items, size_t max);
void lease_step(lease_t *self, const zmq_pollitem_t *items, uint64_t now_mono_ms);
int lease_timeout_ms(const lease_t *self, uint64_t now_mono_ms);

/* lease_lost: is the lease lost at NOW (monotonic)? The active's deadline is
 * checked here, so call it first in every pass of the loop, before any step
 * that acts for the shard: a process resumed after a long stop finds its
 * lease lost before it does anything else. */
bool lease_lost(lease_t *self, uint64_t now_mono_ms);
/* lease_fenced is db's db_fenced_fn (ARG: the lease_t): a write failed the
 * fence, so another node holds the shard: an active's lease is lost. */
void lease_fenced(void *arg, const db_error_t *err);

lease_role_t lease_role(const lease_t *self);
const char *lease_role_name(const lease_t *self); /* "standby", "active", "lost" */
const char *lease_shard(const lease_t *self);
const char *lease_node(const lease_t *self);
uint64_t lease_epoch(const lease_t *self); /* 0 until this node held the lease */
/* lease_why_lost: one line, "" unless lost. */
const char *lease_why_lost(const lease_t *self);
/* The active node as a standby last read it from the lease row: its name
 * and advertised endpoint ("" when not known yet). */
const char *lease_holder(const lease_t *self);
const char *lease_holder_endpoint(const lease_t *self);
/* lease_retry_after_ms: for a standby's answers, the time until the
 * earliest takeover (the lease's expiry as last read), at least 1 s. */
uint64_t lease_retry_after_ms(const lease_t *self, uint64_t now_mono_ms);

/* lease_stand_down, on SIGTERM: a standby makes no more attempts (an
 * active keeps renewing while it drains). */
void lease_stand_down(lease_t *self);

/* lease_release, on a clean stop of the active, expires the lease now so
 * that a standby takes it at its next attempt; it waits for the database
 * at most TIMEOUT_MS. False when it did not (the standby then waits for
 * the expiry). */
bool lease_release(lease_t *self, int timeout_ms);

#endif
