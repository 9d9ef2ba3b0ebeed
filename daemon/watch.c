/* watch.c - owns following stores' availability for the avail.<store_id>
 * events (see watch.h). */
#include "watch.h"

#include "log.h"
#include "tz.h"

#include <stdlib.h>
#include <string.h>

#define MINUTE_MS 60000u
#define WATCH_STEP_MAX 4096     /* looks and sends in one pass; the rest next pass */
#define NONE UINT32_MAX

/* A followed store: 32 bytes in the vector, plus its hash and heap places. */
struct followed {
    uint64_t due_ms;            /* when to look again (its heap key) */
    uint64_t touched_ms;        /* the last decision, release, pause or question */
    uint32_t store_id;          /* a free place: the next free place + 1 */
    uint32_t heap_pos;
    uint8_t state;              /* Sluice__V1__StoreState as last looked */
    bool pending;               /* a change with time alone is due (busy, closed) */
    bool noted;                 /* STATE is the feed's latest for the store */
};

struct watch {
    watch_with_t with;
    availability_feed_t *feed;
    struct followed *v;         /* places are stable: the hash and heap hold indexes */
    size_t count, cap;          /* places used or freed; room */
    uint32_t free_head;         /* a free place + 1; 0: none */
    uint32_t *slots;            /* open addressing: index + 1, 0 empty */
    size_t mask;
    uint32_t *heap;             /* indexes, earliest due first */
    size_t heap_n;
    uint64_t reloads;           /* reload_stats().reloads at the last step */
    bool stepped;               /* RELOADS is known */
    watch_stats_t stats;
};

watch_t *watch_new(const watch_with_t *with)
{
    watch_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->with = *with;
    self->feed = availability_feed_new(with->interval_ms);
    self->mask = 63;
    self->slots = calloc(self->mask + 1, sizeof *self->slots);
    if (!self->feed || !self->slots) {
        watch_destroy(&self);
        return NULL;
    }
    return self;
}

void watch_destroy(watch_t **self)
{
    if (!self || !*self)
        return;
    watch_t *w = *self;
    availability_feed_destroy(&w->feed);
    free(w->v);
    free(w->slots);
    free(w->heap);
    free(w);
    *self = NULL;
}

watch_stats_t watch_stats(const watch_t *self)
{
    return self->stats;
}

size_t watch_memory_bytes(const watch_t *self)
{
    return sizeof *self + self->cap * (sizeof *self->v + sizeof *self->heap) +
           (self->mask + 1) * sizeof *self->slots + availability_feed_memory_bytes(self->feed);
}

/* ---- the heap of looks to come ------------------------------------------ */

static bool s_earlier(const watch_t *self, size_t a, size_t b)
{
    return self->v[self->heap[a]].due_ms < self->v[self->heap[b]].due_ms;
}

static void s_swap(watch_t *self, size_t a, size_t b)
{
    uint32_t t = self->heap[a];
    self->heap[a] = self->heap[b];
    self->heap[b] = t;
    self->v[self->heap[a]].heap_pos = (uint32_t)a;
    self->v[self->heap[b]].heap_pos = (uint32_t)b;
}

static void s_sift(watch_t *self, size_t at)
{
    while (at > 0 && s_earlier(self, at, (at - 1) / 2)) {
        s_swap(self, at, (at - 1) / 2);
        at = (at - 1) / 2;
    }
    for (;;) {
        size_t child = 2 * at + 1;
        if (child >= self->heap_n)
            return;
        if (child + 1 < self->heap_n && s_earlier(self, child + 1, child))
            child++;
        if (!s_earlier(self, child, at))
            return;
        s_swap(self, at, child);
        at = child;
    }
}

static void s_set_due(watch_t *self, uint32_t i, uint64_t due_ms)
{
    self->v[i].due_ms = due_ms;
    s_sift(self, self->v[i].heap_pos);
}

/* ---- the followed stores by id ------------------------------------------ */

static size_t s_home(const watch_t *self, uint32_t store_id)
{
    uint32_t h = store_id;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h & self->mask;
}

/* s_slot: where STORE_ID's index is, or the empty place it would take. */
static size_t s_slot(const watch_t *self, uint32_t store_id)
{
    size_t at = s_home(self, store_id);
    while (self->slots[at] && self->v[self->slots[at] - 1].store_id != store_id)
        at = (at + 1) & self->mask;
    return at;
}

static uint32_t s_find(const watch_t *self, uint32_t store_id)
{
    uint32_t at = self->slots[s_slot(self, store_id)];
    return at ? at - 1 : NONE;
}

static bool s_grow_slots(watch_t *self)
{
    size_t size = (self->mask + 1) * 2;
    uint32_t *grown = calloc(size, sizeof *grown), *old = self->slots;
    if (!grown)
        return false;
    size_t old_size = self->mask + 1;
    self->slots = grown;
    self->mask = size - 1;
    for (size_t i = 0; i < old_size; i++)
        if (old[i])
            self->slots[s_slot(self, self->v[old[i] - 1].store_id)] = old[i];
    free(old);
    return true;
}

/* s_add follows STORE_ID; NONE when out of memory (it is not followed). */
static uint32_t s_add(watch_t *self, uint32_t store_id, uint64_t now_ms)
{
    if ((self->stats.followed + 1) * 2 > self->mask + 1 && !s_grow_slots(self))
        return NONE;
    if (!self->free_head && self->count == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 64;
        struct followed *v = realloc(self->v, cap * sizeof *v);
        if (v)
            self->v = v;
        uint32_t *heap = v ? realloc(self->heap, cap * sizeof *heap) : NULL;
        if (!heap)
            return NONE;
        self->heap = heap;
        self->cap = cap;
    }
    uint32_t i;
    if (self->free_head) {
        i = self->free_head - 1;
        self->free_head = self->v[i].store_id;
    } else {
        i = (uint32_t)self->count++;
    }
    self->v[i] = (struct followed){ .due_ms = now_ms, .touched_ms = now_ms, .store_id = store_id,
                                    .heap_pos = (uint32_t)self->heap_n };
    self->heap[self->heap_n++] = i;
    s_sift(self, self->v[i].heap_pos);
    self->slots[s_slot(self, store_id)] = i + 1;
    self->stats.followed++;
    return i;
}

/* s_forget stops following place I: out of the heap, and out of the hash by
 * backward shift, so no probe chain breaks. */
static void s_forget(watch_t *self, uint32_t i)
{
    size_t pos = self->v[i].heap_pos;
    if (pos != --self->heap_n) {
        s_swap(self, pos, self->heap_n);
        s_sift(self, pos);
    }
    size_t hole = s_slot(self, self->v[i].store_id);
    self->slots[hole] = 0;
    for (size_t at = (hole + 1) & self->mask; self->slots[at]; at = (at + 1) & self->mask) {
        size_t home = s_home(self, self->v[self->slots[at] - 1].store_id);
        /* the entry at AT may fill the hole unless its home lies in (hole, at] */
        bool stays = hole <= at ? (home > hole && home <= at) : (home > hole || home <= at);
        if (!stays) {
            self->slots[hole] = self->slots[at];
            self->slots[at] = 0;
            hole = at;
        }
    }
    self->v[i].store_id = self->free_head;
    self->free_head = i + 1;
    self->stats.followed--;
}

/* ---- looking ------------------------------------------------------------- */

/* s_next_look: when STORE's class A, seen at NOW_MS, may change with time
 * alone: a busy or closed store's next_at; for an open one, when a typical
 * order would end at its next opening, closing or staffing edge; else (and
 * at the latest) when an untouched store is forgotten. */
static uint64_t s_next_look(const store_t *store, const availability_t *a, uint64_t now_ms)
{
    uint64_t idle = now_ms + WATCH_IDLE_MS;
    if (a->next_at_ms > now_ms)
        return a->next_at_ms;
    if (a->state != SLUICE__V1__STORE_STATE__STORE_STATE_OPEN || !store || !store->cfg)
        return idle;
    const config_store_t *c = store->cfg;
    uint64_t local = (uint64_t)((int64_t)now_ms + tz_offset_ms(c->timezone, now_ms));
    int minute = (int)(local / MINUTE_MS % TZ_MINUTES_PER_DAY);
    uint64_t edge = now_ms + (uint64_t)kitchen_capacity_next(c, minute) * MINUTE_MS -
                    local % MINUTE_MS;
    uint64_t wait = a->earliest_ready_at_ms > now_ms ? a->earliest_ready_at_ms - now_ms : 0;
    uint64_t at = edge > wait ? edge - wait : now_ms;
    at = at > now_ms + 1000u ? at : now_ms + 1000u;
    return at < idle ? at : idle;
}

static void s_publish(watch_t *self, const availability_change_t *c, const availability_t *a,
                      uint64_t now_ms)
{
    events_publish_availability(self->with.events, c, a, now_ms);
    self->stats.events++;
}

/* s_follow records A, place I's availability at NOW_MS: when to look again,
 * and the feed, which says whether an event goes out now. */
static void s_follow(watch_t *self, uint32_t i, const store_t *store, const availability_t *a,
                     uint64_t now_ms)
{
    struct followed *f = &self->v[i];
    bool same = f->noted && f->state == (uint8_t)a->state;
    f->state = (uint8_t)a->state;
    f->pending = a->next_at_ms > now_ms;
    /* A look sooner than needed costs one look; moving the store later in
     * the heap at every question would cost a sift each time. */
    uint64_t due = s_next_look(store, a, now_ms);
    if (f->due_ms <= now_ms || due < f->due_ms)
        s_set_due(self, i, due);
    /* The feed has the class last looked at already: a question about 1,000
     * stores whose classes stand costs it nothing. */
    availability_change_t change;
    if (!same && availability_feed_note(self->feed, f->store_id, a->state, now_ms, &change))
        s_publish(self, &change, a, now_ms);
    f->noted = true;
}

static void s_look(watch_t *self, uint32_t i, uint64_t now_ms, uint64_t now_us)
{
    store_t *store = store_table_find(self->with.stores, self->v[i].store_id);
    availability_t a;
    availability_of(self->with.admit, self->with.stores, store, NULL, now_ms, now_us, &a);
    self->stats.looks++;
    s_follow(self, i, store, &a, now_ms);
}

void watch_store(watch_t *self, uint32_t store_id, uint64_t now_ms, uint64_t now_us)
{
    if (!store_table_find(self->with.stores, store_id))
        return;
    uint32_t i = s_find(self, store_id);
    if (i == NONE && (i = s_add(self, store_id, now_ms)) == NONE)
        return;
    self->v[i].touched_ms = now_ms;
    s_look(self, i, now_ms, now_us);
}

void watch_touch(watch_t *self, uint32_t store_id, uint64_t now_ms, uint64_t now_us)
{
    uint32_t i = s_find(self, store_id);
    if (i == NONE) {
        watch_store(self, store_id, now_ms, now_us);
        return;
    }
    self->v[i].touched_ms = now_ms;
}

void watch_seen(watch_t *self, const store_t *store, const availability_t *a, uint64_t now_ms)
{
    if (!store || a->state == SLUICE__V1__STORE_STATE__STORE_STATE_UNKNOWN)
        return;
    uint32_t i = s_find(self, store->id);
    if (i == NONE && (i = s_add(self, store->id, now_ms)) == NONE)
        return;
    self->v[i].touched_ms = now_ms;
    s_follow(self, i, store, a, now_ms);
}

/* s_reloaded looks at every followed store once after a reload: hours,
 * slots and pauses in the file may have changed any of them. */
static void s_reloaded(watch_t *self, const reload_t *reload, uint64_t now_ms)
{
    uint64_t reloads = reload_stats(reload)->reloads;
    bool first = !self->stepped;
    self->stepped = true;
    if (reloads == self->reloads || first) {
        self->reloads = reloads;
        return;
    }
    self->reloads = reloads;
    availability_feed_set_interval(
        self->feed, (uint64_t)reload_config(reload)->daemon.availability_event_ms);
    for (size_t k = 0; k < self->heap_n; k++)
        self->v[self->heap[k]].due_ms = now_ms;
}

void watch_step(watch_t *self, const reload_t *reload, uint64_t now_ms, uint64_t now_us)
{
    s_reloaded(self, reload, now_ms);
    for (int n = 0; n < WATCH_STEP_MAX && self->heap_n; n++) {
        uint32_t i = self->heap[0];
        if (self->v[i].due_ms > now_ms)
            break;
        s_look(self, i, now_ms, now_us);
        const struct followed *f = &self->v[i];
        if (!f->pending && now_ms - f->touched_ms >= WATCH_IDLE_MS)
            s_forget(self, i);
    }
    availability_change_t change;
    for (int n = 0; n < WATCH_STEP_MAX && availability_feed_next(self->feed, now_ms, &change);
         n++) {
        /* A held change: its promise and next time as they are now. */
        store_t *store = store_table_find(self->with.stores, change.store_id);
        availability_t a;
        availability_of(self->with.admit, self->with.stores, store, NULL, now_ms, now_us, &a);
        if (a.state != change.state)
            a.earliest_ready_at_ms = a.next_at_ms = 0;   /* not this class's */
        s_publish(self, &change, &a, now_ms);
    }
}

uint64_t watch_due_ms(const watch_t *self)
{
    uint64_t due = availability_feed_due_ms(self->feed);
    if (self->heap_n && self->v[self->heap[0]].due_ms < due)
        due = self->v[self->heap[0]].due_ms;
    return due;
}
