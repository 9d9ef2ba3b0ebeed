/* watch.h - owns following stores' availability for the avail.<store_id>
 * events: which stores are followed, when each is looked at again, and the
 * feed (availability.h) that lets at most one event per store out per
 * daemon.availability_event_ms before events.c publishes it.
 *
 * A store is followed once a decision, a release of its prep time, a pause
 * or a resume, or a QueryAvailability has touched it. Its class changes
 * with those, which look at it at once, and with time alone: a busy store
 * frees at its next_at, a closed one opens, an open one closes or loses
 * staff; the watch looks again then. A store nobody touched for
 * WATCH_IDLE_MS is forgotten once it is open, paused or unknown (nothing
 * that time alone changes is pending); a busy or closed one is followed
 * until it opens, so its producers hear of it. So the work and the memory
 * (about 44 bytes a store, plus the feed's 32) grow with the stores in play, not
 * with the 300,000 configured. A reload looks at every followed store. */
#ifndef SLUICE_WATCH_H
#define SLUICE_WATCH_H

#include "admit.h"
#include "availability.h"
#include "events.h"
#include "reload.h"
#include "store.h"

#include <stddef.h>
#include <stdint.h>

#define WATCH_IDLE_MS 600000u   /* an untouched open store is forgotten after this */

/* What the watch works with; borrowed, each must outlive it. */
typedef struct watch_with {
    admit_t *admit;
    const store_table_t *stores;
    events_t *events;
    uint64_t interval_ms;         /* daemon.availability_event_ms at start */
} watch_with_t;

typedef struct watch_stats {
    size_t followed;              /* stores followed now */
    uint64_t events;              /* avail.<store_id> events sent */
    uint64_t looks;               /* times a store's availability was worked out */
} watch_stats_t;

typedef struct watch watch_t;

watch_t *watch_new(const watch_with_t *with) __attribute__((warn_unused_result));
void watch_destroy(watch_t **self);

/* watch_store looks at STORE_ID now (wall NOW_MS, monotonic NOW_US): a
 * decision, a release or a pause may have changed its class. */
void watch_store(watch_t *self, uint32_t store_id, uint64_t now_ms, uint64_t now_us);

/* watch_touch: a request concerned STORE_ID without changing it (a
 * rejection): it stays followed; it is looked at only if it was not. */
void watch_touch(watch_t *self, uint32_t store_id, uint64_t now_ms, uint64_t now_us);

/* watch_seen follows STORE (NULL: none) from A, its availability at NOW_MS
 * as a QueryAvailability worked it out, without working it out again.
 * Stores not in the config are not followed. */
void watch_seen(watch_t *self, const store_t *store, const availability_t *a, uint64_t now_ms);

/* watch_step looks again at the stores whose time has come, and sends the
 * changes the feed held whose time has come. After a reload of RELOAD (the
 * running config) it takes its availability_event_ms and looks at every
 * followed store. */
void watch_step(watch_t *self, const reload_t *reload, uint64_t now_ms, uint64_t now_us);

/* watch_due_ms: when watch_step next has work (wall ms), UINT64_MAX when
 * none: the event loop's timeout. */
uint64_t watch_due_ms(const watch_t *self);

watch_stats_t watch_stats(const watch_t *self);

/* watch_memory_bytes: the followed stores and the feed. */
size_t watch_memory_bytes(const watch_t *self);

#endif
