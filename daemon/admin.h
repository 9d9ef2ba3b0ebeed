/* admin.h - owns the control commands of sluicectl, as the control sockets
 * (control.h) hand them over: platforms, stats, store and campaign are
 * answered from the rooms' figures; pause and resume of a store or a
 * campaign take effect at once and are stored in store_overrides or
 * campaign_overrides (a dbwork source on connection 0) before they are
 * answered, and taken back if that fails; reload runs the reload room; order
 * and store_day go to the support thread, which it runs. */
#ifndef SLUICE_ADMIN_H
#define SLUICE_ADMIN_H

#include "admit.h"
#include "dbwork.h"
#include "dispatch.h"
#include "intake.h"
#include "override.h"
#include "reload.h"
#include "status.h"
#include "store.h"
#include "watch.h"

#include <stdbool.h>
#include <stddef.h>
#include <zmq.h>

#define ADMIN_PER_PASS 64           /* control requests read in one pass */
#define ADMIN_WRITES_MAX 256        /* pauses and resumes waiting for the database */
#define ADMIN_SHARE_FULL_LISTED 100 /* stores `sluicectl campaign` lists where a share is full */

/* What admin works with; borrowed, each must outlive it. */
typedef struct admin_with {
    reload_t *reload;               /* the running config; `sluicectl reload` */
    store_table_t *stores;
    admit_t *admit;
    override_list_t *overrides;
    dispatch_t *dispatch;
    const intake_t *intake;
    const status_t *status;
    const dbwork_t *dbwork;
    void *zmq;
    watch_t *watch;                 /* a pause or resume changes a store's class */
} admin_with_t;

typedef struct admin admin_t;

/* admin_new binds the control sockets and starts the support thread
 * (without which sluicectl reads PostgreSQL itself: not worth refusing to
 * start). NULL (logged) when a socket cannot be bound. */
admin_t *admin_new(const admin_with_t *with) __attribute__((warn_unused_result));
/* admin_destroy frees the pauses and resumes still waiting, unanswered. */
void admin_destroy(admin_t **self);

/* admin_poll adds the control sockets and the support thread's to ITEMS (at
 * most MAX); returns how many. */
size_t admin_poll(admin_t *self, zmq_pollitem_t *items, size_t max);
/* admin_step carries out the requests waiting (a reload is refused while
 * STOPPING) and sends the support thread's answers. */
void admin_step(admin_t *self, bool stopping);
/* admin_control_endpoint: what the control socket (READONLY: the read-only
 * one; "none" when there is none) bound. */
const char *admin_control_endpoint(const admin_t *self, bool readonly);

/* The dbwork source (ARG: the admin_t): pauses and resumes to store. */
dbwork_waiting_fn admin_writes_waiting;
dbwork_send_fn admin_send_write;
dbwork_down_fn admin_writes_down;
dbwork_busy_fn admin_writes_busy;

#endif
