/* status.h - owns what the daemon says about itself: the HTTP endpoint
 * (daemon.http) with /metrics, /healthz and /readyz, systemd's READY,
 * WATCHDOG and STATUS line, and the figures `sluicectl stats` adds to the
 * rooms' own: the uptime and the submit rate over the last 10 s. It reads
 * the rooms' counters through their accessors; it counts nothing else. */
#ifndef SLUICE_STATUS_H
#define SLUICE_STATUS_H

#include "admit.h"
#include "curve.h"
#include "dbwork.h"
#include "dispatch.h"
#include "events.h"
#include "ingress.h"
#include "intake.h"
#include "lease.h"
#include "lifecycle.h"
#include "order_index.h"
#include "reload.h"
#include "restore.h"
#include "watch.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#define STATUS_EVERY_MS 5000      /* the sd_notify STATUS line */
#define STATUS_RATE_SAMPLES 11    /* one a second: the submit rate over 10 s */

/* What status reads; borrowed, each must outlive it. */
typedef struct status_with {
    const reload_t *reload;
    const intake_t *intake;
    const lifecycle_t *lifecycle;
    const restore_t *restore;
    const dbwork_t *dbwork;
    admit_t *admit;
    const dispatch_t *dispatch;
    const order_index_t *orders;
    const ingress_t *ingress;
    const events_t *events;
    const curve_zap_t *zap;         /* NULL when the ingress is plain */
    const lease_t *lease;           /* daemon.shard's lease; NULL: a single node */
    const watch_t *watch;
} status_with_t;

typedef struct status status_t;

/* status_new listens on daemon.http; NULL (logged) when it cannot. */
status_t *status_new(const status_with_t *with) __attribute__((warn_unused_result));
void status_destroy(status_t **self);

/* status_poll adds the HTTP socket to ITEMS (at most MAX); returns how many.
 * status_timeout_ms: how long the loop may sleep for HTTP and the watchdog
 * (-1: no need to wake). */
size_t status_poll(status_t *self, zmq_pollitem_t *items, size_t max);
int status_timeout_ms(const status_t *self, uint64_t now_mono_ms);
/* status_step answers HTTP (ITEMS as filled by status_poll), tells systemd
 * what is due, and samples the submit rate. */
void status_step(status_t *self, const zmq_pollitem_t *items, uint64_t now_mono_ms);

/* status_stopping: the daemon is draining; /readyz says so from now on. */
void status_stopping(status_t *self);

uint64_t status_uptime_ms(const status_t *self, uint64_t now_mono_ms);
/* status_http_endpoint: the host:port the HTTP endpoint bound (a port of 0
 * in the config shows the one the kernel chose). */
const char *status_http_endpoint(const status_t *self);
/* status_submit_rate: SubmitOrders per second over the last 10 s. */
double status_submit_rate(const status_t *self, uint64_t now_mono_ms);

#endif
