/* events.c - owns the order-event PUB socket. */
#include "events.h"

#include "clock.h"
#include "log.h"
#include "order.h"
#include "proto/events.pb-c.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <zmq.h>

#define EVENTS_HWM 100000   /* per subscriber, then ZeroMQ drops */

struct events {
    void *socket;
    uint64_t published;
    char endpoint[256];           /* as bound: a wildcard port resolved */
};

events_t *events_new(void *ctx, const char *endpoint)
{
    events_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    int hwm = EVENTS_HWM, linger = 0;
    size_t len = sizeof self->endpoint;
    self->socket = zmq_socket(ctx, ZMQ_PUB);
    if (!self->socket || zmq_setsockopt(self->socket, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(self->socket, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_bind(self->socket, endpoint) != 0 ||
        zmq_getsockopt(self->socket, ZMQ_LAST_ENDPOINT, self->endpoint, &len) != 0) {
        log_error("failed to bind events %s: %s", endpoint, zmq_strerror(zmq_errno()));
        events_destroy(&self);
        return NULL;
    }
    return self;
}

void events_destroy(events_t **self)
{
    if (!self || !*self)
        return;
    if ((*self)->socket)
        zmq_close((*self)->socket);
    free(*self);
    *self = NULL;
}

const char *events_endpoint(const events_t *self)
{
    return self->endpoint;
}

void events_publish(events_t *self, const order_entry_t *e, const char *detail)
{
    Sluice__V1__OrderEvent ev = SLUICE__V1__ORDER_EVENT__INIT;
    ev.order_id = (char *)e->order_id;
    ev.store_id = e->store_id;
    ev.state = (char *)order_state_name((order_state_t)e->state);
    ev.at_ms = e->updated_at_ms;
    ev.promised_ready_at_ms = e->promised_ready_at_ms;
    ev.promised_delivery_at_ms = e->promised_delivery_at_ms;
    ev.detail = (char *)(detail ? detail : "");
    uint8_t buf[1024];
    size_t len = sluice__v1__order_event__get_packed_size(&ev);
    if (len > sizeof buf)
        return;  /* cannot happen with validated fields; never block or allocate here */
    sluice__v1__order_event__pack(&ev, buf);
    char topic[32];
    int n = snprintf(topic, sizeof topic, "store.%" PRIu32, e->store_id);
    if (zmq_send(self->socket, topic, (size_t)n, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(self->socket, buf, len, ZMQ_DONTWAIT) < 0)
        return;
    self->published++;
}

void events_publish_platform(events_t *self, const char *platform, const char *breaker,
                             const char *detail)
{
    Sluice__V1__PlatformEvent ev = SLUICE__V1__PLATFORM_EVENT__INIT;
    ev.platform = (char *)platform;
    ev.breaker = (char *)breaker;
    ev.at_ms = clock_wall_ms();
    ev.detail = (char *)(detail ? detail : "");
    uint8_t buf[1024];
    size_t len = sluice__v1__platform_event__get_packed_size(&ev);
    char topic[96];
    int n = snprintf(topic, sizeof topic, "platform.%s", platform);
    if (len > sizeof buf || n < 0 || (size_t)n >= sizeof topic)
        return;
    sluice__v1__platform_event__pack(&ev, buf);
    if (zmq_send(self->socket, topic, (size_t)n, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(self->socket, buf, len, ZMQ_DONTWAIT) < 0)
        return;
    self->published++;
}

void events_publish_availability(events_t *self, const availability_change_t *change,
                                 const availability_t *a, uint64_t at_ms)
{
    Sluice__V1__AvailabilityEvent ev = SLUICE__V1__AVAILABILITY_EVENT__INIT;
    ev.store_id = change->store_id;
    ev.state = (char *)availability_state_name(change->state);
    ev.previous = (char *)(change->first ? "" : availability_state_name(change->previous));
    ev.at_ms = at_ms;
    ev.earliest_ready_at_ms = a->earliest_ready_at_ms;
    ev.next_at_ms = a->next_at_ms;
    uint8_t buf[128];
    size_t len = sluice__v1__availability_event__get_packed_size(&ev);
    char topic[32];
    int n = snprintf(topic, sizeof topic, "avail.%" PRIu32, change->store_id);
    if (len > sizeof buf)
        return;  /* cannot happen: two short names and five numbers */
    sluice__v1__availability_event__pack(&ev, buf);
    if (zmq_send(self->socket, topic, (size_t)n, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(self->socket, buf, len, ZMQ_DONTWAIT) < 0)
        return;
    self->published++;
}

uint64_t events_published(const events_t *self)
{
    return self->published;
}
