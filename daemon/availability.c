/* availability.c - owns stores' availability and the feed of its changes. */
#include "availability.h"

#include <stdlib.h>
#include <string.h>

/* s_state: the class a refusal by the store's own rules puts it in. */
static Sluice__V1__StoreState s_state(Sluice__V1__Reason reason)
{
    switch (reason) {
    case SLUICE__V1__REASON__REASON_NONE:
        return SLUICE__V1__STORE_STATE__STORE_STATE_OPEN;
    case SLUICE__V1__REASON__STORE_PAUSED:
        return SLUICE__V1__STORE_STATE__STORE_STATE_PAUSED;
    case SLUICE__V1__REASON__STORE_CLOSED:
        return SLUICE__V1__STORE_STATE__STORE_STATE_CLOSED;
    case SLUICE__V1__REASON__UNKNOWN_STORE:
        return SLUICE__V1__STORE_STATE__STORE_STATE_UNKNOWN;
    default: /* STORE_BUSY, or no memory for its schedule: it takes none now */
        return SLUICE__V1__STORE_STATE__STORE_STATE_BUSY;
    }
}

void availability_of(admit_t *admit, const store_table_t *stores, store_t *store,
                     const char *campaign, uint64_t now_ms, uint64_t now_us, availability_t *out)
{
    memset(out, 0, sizeof *out);
    bool asked = campaign && campaign[0];
    const config_store_t *c = store ? store->cfg : NULL;
    out->typical_drinks = c ? (unsigned)c->typical_drinks : 0;
    admit_result_t r = { .reason = SLUICE__V1__REASON__UNKNOWN_STORE };
    if (store)  /* a store left out of the config is refused as unknown */
        (void)admit_store_rules(admit, stores, store, out->typical_drinks, now_ms, &r);
    out->state = s_state(r.reason);
    if (out->state != SLUICE__V1__STORE_STATE__STORE_STATE_OPEN) {
        out->store_never = r.retry_after_ms == 0;
        out->next_at_ms = out->store_never ? 0 : now_ms + r.retry_after_ms;
    }
    if (r.planned && (out->state == SLUICE__V1__STORE_STATE__STORE_STATE_OPEN ||
                      out->state == SLUICE__V1__STORE_STATE__STORE_STATE_BUSY))
        out->earliest_ready_at_ms = r.plan.ready_ms;
    if (!asked)
        return;
    if (!c) {
        out->campaign_never = true;
        return;
    }
    campaign_verdict_t v;
    bool ok = admit_campaign_rules(admit, stores, store, campaign, out->typical_drinks, &r, now_ms,
                                   now_us, &v);
    out->campaign_state = v.state;
    out->campaign_never = out->store_never || (!ok && v.never);
    if (out->campaign_never)
        return;
    uint64_t store_at = out->next_at_ms ? out->next_at_ms : now_ms;
    uint64_t campaign_at = ok ? now_ms : now_ms + v.retry_after_ms;
    uint64_t at = store_at > campaign_at ? store_at : campaign_at;
    out->campaign_next_at_ms = at > now_ms ? at : 0;
}

void availability_to_proto(const availability_t *a, uint32_t store_id,
                           Sluice__V1__StoreAvailability *msg)
{
    msg->store_id = store_id;
    msg->state = a->state;
    msg->earliest_ready_at_ms = a->earliest_ready_at_ms;
    msg->next_at_ms = a->next_at_ms;
    msg->store_never = a->store_never;
    msg->typical_drinks = a->typical_drinks;
    msg->campaign_next_at_ms = a->campaign_next_at_ms;
    msg->campaign_never = a->campaign_never;
    msg->campaign_state = a->campaign_state;
}

const char *availability_state_name(Sluice__V1__StoreState state)
{
    switch (state) {
    case SLUICE__V1__STORE_STATE__STORE_STATE_OPEN:
        return "open";
    case SLUICE__V1__STORE_STATE__STORE_STATE_BUSY:
        return "busy";
    case SLUICE__V1__STORE_STATE__STORE_STATE_PAUSED:
        return "paused";
    case SLUICE__V1__STORE_STATE__STORE_STATE_CLOSED:
        return "closed";
    default:
        return "unknown";
    }
}

/* ------------------------------------------------------------- the feed */

/* What the feed remembers of a store: 16 bytes, for the stores it has been
 * told about. */
struct seen {
    uint64_t sent_ms;         /* when its last event went out */
    uint32_t store_id;
    uint8_t sent;             /* Sluice__V1__StoreState of its last event */
    uint8_t latest;           /* the class noted last */
    bool held;                /* a change waits in the heap */
    bool used;                /* a store lives in this place of the table */
};

/* A held change, due at DUE_MS. */
struct hold {
    uint64_t due_ms;
    uint32_t store_id;
};

struct availability_feed {
    uint64_t interval_ms;
    struct seen *seen;        /* open addressing by store id */
    size_t mask, used;
    struct hold *heap;        /* earliest due first */
    size_t held, held_cap;
};

availability_feed_t *availability_feed_new(uint64_t interval_ms)
{
    availability_feed_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->interval_ms = interval_ms;
    self->mask = 63;
    self->seen = calloc(self->mask + 1, sizeof *self->seen);
    if (!self->seen) {
        free(self);
        return NULL;
    }
    return self;
}

void availability_feed_destroy(availability_feed_t **self)
{
    if (!self || !*self)
        return;
    free((*self)->seen);
    free((*self)->heap);
    free(*self);
    *self = NULL;
}

void availability_feed_set_interval(availability_feed_t *self, uint64_t interval_ms)
{
    self->interval_ms = interval_ms;
}

static size_t s_place(const availability_feed_t *self, uint32_t store_id)
{
    uint32_t h = store_id;
    h ^= h >> 16; h *= 0x85ebca6bu;
    h ^= h >> 13; h *= 0xc2b2ae35u;
    h ^= h >> 16;
    size_t at = h & self->mask;
    while (self->seen[at].used && self->seen[at].store_id != store_id)
        at = (at + 1) & self->mask;
    return at;
}

/* s_seen finds or adds STORE_ID's place; NULL when out of memory. */
static struct seen *s_seen(availability_feed_t *self, uint32_t store_id, bool *added)
{
    struct seen *s = &self->seen[s_place(self, store_id)];
    *added = !s->used;
    if (s->used)
        return s;
    if ((self->used + 1) * 2 > self->mask + 1) {
        size_t size = (self->mask + 1) * 2;
        struct seen *grown = calloc(size, sizeof *grown), *old = self->seen;
        if (!grown)
            return NULL;
        size_t old_size = self->mask + 1;
        self->seen = grown;
        self->mask = size - 1;
        for (size_t i = 0; i < old_size; i++)
            if (old[i].used)
                self->seen[s_place(self, old[i].store_id)] = old[i];
        free(old);
        s = &self->seen[s_place(self, store_id)];
    }
    *s = (struct seen){ .store_id = store_id, .used = true };
    self->used++;
    return s;
}

static void s_swap(struct hold *a, struct hold *b)
{
    struct hold t = *a;
    *a = *b;
    *b = t;
}

static bool s_hold(availability_feed_t *self, uint32_t store_id, uint64_t due_ms)
{
    if (self->held == self->held_cap) {
        size_t cap = self->held_cap ? self->held_cap * 2 : 64;
        struct hold *heap = realloc(self->heap, cap * sizeof *heap);
        if (!heap)
            return false;
        self->heap = heap;
        self->held_cap = cap;
    }
    size_t at = self->held++;
    self->heap[at] = (struct hold){ due_ms, store_id };
    while (at > 0 && self->heap[(at - 1) / 2].due_ms > self->heap[at].due_ms) {
        s_swap(&self->heap[(at - 1) / 2], &self->heap[at]);
        at = (at - 1) / 2;
    }
    return true;
}

static struct hold s_pop(availability_feed_t *self)
{
    struct hold top = self->heap[0];
    self->heap[0] = self->heap[--self->held];
    for (size_t at = 0;;) {
        size_t child = 2 * at + 1;
        if (child >= self->held)
            break;
        if (child + 1 < self->held && self->heap[child + 1].due_ms < self->heap[child].due_ms)
            child++;
        if (self->heap[at].due_ms <= self->heap[child].due_ms)
            break;
        s_swap(&self->heap[at], &self->heap[child]);
        at = child;
    }
    return top;
}

/* s_send records STATE as sent for S at NOW_MS and describes it in OUT. */
static void s_send(struct seen *s, Sluice__V1__StoreState state, bool first, uint64_t now_ms,
                   availability_change_t *out)
{
    *out = (availability_change_t){ s->store_id, state, (Sluice__V1__StoreState)s->sent, first };
    s->sent = (uint8_t)state;
    s->latest = (uint8_t)state;
    s->sent_ms = now_ms;
}

bool availability_feed_note(availability_feed_t *self, uint32_t store_id,
                            Sluice__V1__StoreState state, uint64_t now_ms,
                            availability_change_t *out)
{
    bool added;
    struct seen *s = s_seen(self, store_id, &added);
    if (!s)
        return false;
    if (added) {
        s_send(s, state, true, now_ms, out);
        return true;
    }
    s->latest = (uint8_t)state;
    if (s->held || state == (Sluice__V1__StoreState)s->sent)
        return false;
    if (now_ms >= s->sent_ms + self->interval_ms) {
        s_send(s, state, false, now_ms, out);
        return true;
    }
    s->held = s_hold(self, store_id, s->sent_ms + self->interval_ms);
    return false;
}

bool availability_feed_next(availability_feed_t *self, uint64_t now_ms, availability_change_t *out)
{
    while (self->held && self->heap[0].due_ms <= now_ms) {
        struct hold h = s_pop(self);
        struct seen *s = &self->seen[s_place(self, h.store_id)];
        s->held = false;
        if (s->latest != s->sent) {
            s_send(s, (Sluice__V1__StoreState)s->latest, false, now_ms, out);
            return true;
        }
    }
    return false;
}

uint64_t availability_feed_due_ms(const availability_feed_t *self)
{
    return self->held ? self->heap[0].due_ms : UINT64_MAX;
}

size_t availability_feed_memory_bytes(const availability_feed_t *self)
{
    return sizeof *self + (self->mask + 1) * sizeof *self->seen +
           self->held_cap * sizeof *self->heap;
}
