/* deadline.c - owns the order timer heap. */
#include "deadline.h"

#include <stdlib.h>

static void s_place(deadline_heap_t *h, size_t at, order_entry_t *e)
{
    h->items[at] = e;
    e->due_pos = (uint32_t)at + 1;
}

static void s_sift_up(deadline_heap_t *h, size_t at)
{
    order_entry_t *e = h->items[at];
    while (at > 0) {
        size_t parent = (at - 1) / 2;
        if (h->items[parent]->due_ms <= e->due_ms)
            break;
        s_place(h, at, h->items[parent]);
        at = parent;
    }
    s_place(h, at, e);
}

static void s_sift_down(deadline_heap_t *h, size_t at)
{
    order_entry_t *e = h->items[at];
    for (;;) {
        size_t child = 2 * at + 1;
        if (child >= h->count)
            break;
        if (child + 1 < h->count && h->items[child + 1]->due_ms < h->items[child]->due_ms)
            child++;
        if (h->items[child]->due_ms >= e->due_ms)
            break;
        s_place(h, at, h->items[child]);
        at = child;
    }
    s_place(h, at, e);
}

bool deadline_set(deadline_heap_t *h, order_entry_t *e, uint64_t due_ms)
{
    if (e->due_pos) {
        uint64_t was = e->due_ms;
        e->due_ms = due_ms;
        if (due_ms < was)
            s_sift_up(h, e->due_pos - 1);
        else
            s_sift_down(h, e->due_pos - 1);
        return true;
    }
    if (h->count == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 1024;
        order_entry_t **items = realloc(h->items, cap * sizeof *items);
        if (!items)
            return false;
        h->items = items;
        h->cap = cap;
    }
    e->due_ms = due_ms;
    h->items[h->count] = e;
    s_sift_up(h, h->count++);
    return true;
}

void deadline_clear(deadline_heap_t *h, order_entry_t *e)
{
    if (!e->due_pos)
        return;
    size_t at = e->due_pos - 1;
    e->due_pos = 0;
    order_entry_t *last = h->items[--h->count];
    if (last == e)
        return;
    h->items[at] = last;
    last->due_pos = (uint32_t)at + 1;
    s_sift_up(h, at);
    s_sift_down(h, last->due_pos - 1);
}

order_entry_t *deadline_pop_due(deadline_heap_t *h, uint64_t now_ms)
{
    if (h->count == 0 || h->items[0]->due_ms > now_ms)
        return NULL;
    order_entry_t *e = h->items[0];
    deadline_clear(h, e);
    return e;
}

uint64_t deadline_next(const deadline_heap_t *h)
{
    return h->count ? h->items[0]->due_ms : UINT64_MAX;
}

void deadline_free(deadline_heap_t *h)
{
    free(h->items);
    h->items = NULL;
    h->count = h->cap = 0;
}
