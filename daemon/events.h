/* events.h - owns the PUB socket of order events (config daemon.events):
 * after each committed state change, a topic frame "store.<id>" and an
 * OrderEvent; when a platform's breaker changes, "platform.<name>" and a
 * PlatformEvent; when a store's availability changes class (watch.h),
 * "avail.<id>" and an AvailabilityEvent (proto/events.proto). Never blocks:
 * a subscriber that cannot keep up loses events, and PostgreSQL keeps the
 * whole history. */
#ifndef SLUICE_EVENTS_H
#define SLUICE_EVENTS_H

#include "availability.h"
#include "order_index.h"

#include <stdint.h>

typedef struct events events_t;

events_t *events_new(void *ctx, const char *endpoint) __attribute__((warn_unused_result));
void events_destroy(events_t **self);

/* events_endpoint: where the socket is bound, a wildcard port resolved. */
const char *events_endpoint(const events_t *self);

/* events_publish sends E's current state; DETAIL may be NULL. */
void events_publish(events_t *self, const order_entry_t *e, const char *detail);

/* events_publish_platform sends a PlatformEvent: PLATFORM's breaker is now
 * BREAKER ("closed", "open", "half-open"), with DETAIL. */
void events_publish_platform(events_t *self, const char *platform, const char *breaker,
                             const char *detail);

/* events_publish_availability sends an AvailabilityEvent: store
 * CHANGE->store_id is in class CHANGE->state since AT_MS, with A's promise
 * and next time (A is its availability at AT_MS). */
void events_publish_availability(events_t *self, const availability_change_t *change,
                                 const availability_t *a, uint64_t at_ms);

uint64_t events_published(const events_t *self);

#endif
