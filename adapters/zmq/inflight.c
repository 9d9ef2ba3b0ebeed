/* inflight.c - owns one connection's outstanding requests: ids, lookup by
 * id, deadlines in a min-heap. */
#include "inflight.h"

#include <stdlib.h>
#include <string.h>

#define INFLIGHT_FIRST_CAP 64

bool inflight_init(inflight_t *t)
{
    memset(t, 0, sizeof *t);
    t->slots = calloc(INFLIGHT_FIRST_CAP, sizeof *t->slots);
    t->heap = calloc(INFLIGHT_FIRST_CAP, sizeof *t->heap);
    if (!t->slots || !t->heap) {
        inflight_free(t);
        return false;
    }
    t->cap = INFLIGHT_FIRST_CAP;
    t->next_id = 1;
    return true;
}

void inflight_free(inflight_t *t)
{
    free(t->slots);
    free(t->heap);
    memset(t, 0, sizeof *t);
}

/* ---- the heap --------------------------------------------------------- */

static bool s_earlier(const inflight_t *t, uint32_t a, uint32_t b)
{
    return t->slots[a].deadline_ms < t->slots[b].deadline_ms;
}

static void s_place(inflight_t *t, size_t pos, uint32_t slot)
{
    t->heap[pos] = slot;
    t->slots[slot].heap_at = (uint32_t)pos;
}

static void s_sift_up(inflight_t *t, size_t pos)
{
    uint32_t slot = t->heap[pos];
    while (pos > 0 && s_earlier(t, slot, t->heap[(pos - 1) / 2])) {
        s_place(t, pos, t->heap[(pos - 1) / 2]);
        pos = (pos - 1) / 2;
    }
    s_place(t, pos, slot);
}

static void s_sift_down(inflight_t *t, size_t pos)
{
    uint32_t slot = t->heap[pos];
    for (;;) {
        size_t child = 2 * pos + 1;
        if (child >= t->count)
            break;
        if (child + 1 < t->count && s_earlier(t, t->heap[child + 1], t->heap[child]))
            child++;
        if (!s_earlier(t, t->heap[child], slot))
            break;
        s_place(t, pos, t->heap[child]);
        pos = child;
    }
    s_place(t, pos, slot);
}

/* s_remove frees SLOT: out of the heap (the last entry takes its place and
 * moves up or down), then cleared. */
static void s_remove(inflight_t *t, uint32_t slot, inflight_req_t *out)
{
    size_t pos = t->slots[slot].heap_at;
    if (out)
        *out = t->slots[slot];
    t->count--;
    if (pos < t->count) {
        uint32_t moved = t->heap[t->count];
        s_place(t, pos, moved);
        s_sift_up(t, pos);
        if (t->slots[moved].heap_at == pos)
            s_sift_down(t, pos);
    }
    memset(&t->slots[slot], 0, sizeof t->slots[slot]);
}

/* ---- the table ---------------------------------------------------------- */

/* s_grow doubles the table. No two outstanding ids share a slot at the new
 * size either: equal modulo 2*cap would make them equal modulo cap. The
 * heap keeps its order; only the slot numbers in it change. */
static bool s_grow(inflight_t *t)
{
    size_t cap = t->cap * 2;
    if (cap > UINT32_MAX)
        return false;
    inflight_req_t *slots = calloc(cap, sizeof *slots);
    uint32_t *heap = calloc(cap, sizeof *heap);
    if (!slots || !heap) {
        free(slots);
        free(heap);
        return false;
    }
    for (size_t i = 0; i < t->count; i++) {
        const inflight_req_t *r = &t->slots[t->heap[i]];
        uint32_t at = (uint32_t)(r->id & (cap - 1));
        slots[at] = *r;
        heap[i] = at;
    }
    free(t->slots);
    free(t->heap);
    t->slots = slots;
    t->heap = heap;
    t->cap = cap;
    return true;
}

inflight_req_t *inflight_add(inflight_t *t, uint64_t deadline_ms)
{
    if ((t->count + 1) * 2 > t->cap && !s_grow(t))
        return NULL;
    uint64_t mask = t->cap - 1;
    while (t->next_id == 0 || t->slots[t->next_id & mask].id != 0)
        t->next_id++;
    uint32_t slot = (uint32_t)(t->next_id & mask);
    inflight_req_t *r = &t->slots[slot];
    r->id = t->next_id++;
    r->deadline_ms = deadline_ms;
    t->heap[t->count++] = slot;
    s_sift_up(t, t->count - 1);
    return r;
}

bool inflight_take(inflight_t *t, uint64_t id, inflight_req_t *out)
{
    uint32_t slot = (uint32_t)(id & (t->cap - 1));
    if (id == 0 || t->slots[slot].id != id)
        return false;
    s_remove(t, slot, out);
    return true;
}

bool inflight_take_due(inflight_t *t, uint64_t now_ms, inflight_req_t *out)
{
    if (t->count == 0 || t->slots[t->heap[0]].deadline_ms > now_ms)
        return false;
    s_remove(t, t->heap[0], out);
    return true;
}

uint64_t inflight_next_deadline(const inflight_t *t)
{
    return t->count ? t->slots[t->heap[0]].deadline_ms : UINT64_MAX;
}

uint64_t inflight_hash(const char *text)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    return h ? h : 1;
}
