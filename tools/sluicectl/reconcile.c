/* reconcile.c - owns the comparison of a settlement report with our
 * dispatches (see reconcile.h). */
#include "reconcile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const s_kind_names[RECONCILE_KINDS] = {
    [RECONCILE_MISSING_HERE] = "MISSING_HERE",
    [RECONCILE_MISSING_THERE] = "MISSING_THERE",
    [RECONCILE_FEE_MISMATCH] = "FEE_MISMATCH",
    [RECONCILE_DUPLICATE_CHARGE] = "DUPLICATE_CHARGE",
};

const char *reconcile_kind_name(reconcile_kind_t kind)
{
    return kind < RECONCILE_KINDS ? s_kind_names[kind] : "?";
}

/* The work of one comparison. */
typedef struct cmp {
    reconcile_result_t *out;
    size_t item_cap;
    const reconcile_ours_t *base;   /* as given */
    const reconcile_ours_t **ours;  /* by key */
    size_t n_ours;
    bool *matched;                  /* per ours[] position: a line named it */
} cmp_t;

static int s_ours_by_key(const void *a, const void *b)
{
    return strcmp((*(const reconcile_ours_t *const *)a)->key,
                  (*(const reconcile_ours_t *const *)b)->key);
}

/* Lines by key, and a key's lines in the platform's order (their addresses). */
static int s_lines_by_key(const void *a, const void *b)
{
    const adapter_settlement_line_t *x = *(const adapter_settlement_line_t *const *)a;
    const adapter_settlement_line_t *y = *(const adapter_settlement_line_t *const *)b;
    int c = strcmp(x->key, y->key);
    return c != 0 ? c : (x > y) - (x < y);
}

static int s_items_order(const void *a, const void *b)
{
    const reconcile_item_t *x = a, *y = b;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    if (x->store_id != y->store_id)
        return x->store_id < y->store_id ? -1 : 1;
    return strcmp(x->key, y->key);
}

static int s_u32_order(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static const reconcile_ours_t *s_find_ours(const cmp_t *c, const char *key)
{
    reconcile_ours_t probe = { .key = key };
    const reconcile_ours_t *p = &probe;
    const reconcile_ours_t **hit = bsearch(&p, c->ours, c->n_ours, sizeof *c->ours, s_ours_by_key);
    return hit != NULL ? *hit : NULL;
}

/* s_add appends one discrepancy; NULL when out of memory. */
static reconcile_item_t *s_add(cmp_t *c, reconcile_kind_t kind, const char *key,
                               const char *order_id, uint32_t store_id)
{
    reconcile_result_t *r = c->out;
    if (r->item_count == c->item_cap) {
        size_t cap = c->item_cap ? c->item_cap * 2 : 16;
        reconcile_item_t *items = realloc(r->items, cap * sizeof *items);
        if (items == NULL)
            return NULL;
        r->items = items;
        c->item_cap = cap;
    }
    reconcile_item_t *it = &r->items[r->item_count++];
    memset(it, 0, sizeof *it);
    it->kind = kind;
    snprintf(it->key, sizeof it->key, "%s", key);
    snprintf(it->order_id, sizeof it->order_id, "%s", order_id ? order_id : "");
    it->store_id = store_id;
    r->kind_count[kind]++;
    return it;
}

static void s_set_ours(reconcile_item_t *it, const reconcile_ours_t *o)
{
    it->has_our_fee = o->has_fee;
    it->our_fee_cents = o->fee_cents;
}

static void s_set_theirs(reconcile_item_t *it, const adapter_settlement_line_t *l)
{
    it->has_their_fee = true;
    it->their_fee_cents = l->fee_cents;
}

/* s_first_line compares the first line of a key with our dispatch. */
static bool s_first_line(cmp_t *c, const adapter_settlement_line_t *l)
{
    const reconcile_ours_t *o = s_find_ours(c, l->key);
    bool delivered = l->status == ADAPTER_STATE_DELIVERED;
    reconcile_item_t *it = NULL;
    if (o == NULL) {
        it = s_add(c, RECONCILE_MISSING_HERE, l->key, l->order_id, l->store_id);
        if (it == NULL)
            return false;
        snprintf(it->detail, sizeof it->detail, "%s there, never dispatched here",
                 delivered ? "delivered" : "a cancel charged");
        s_set_theirs(it, l);
        return true;
    }
    c->matched[o - c->base] = true;
    uint32_t store = o->store_id ? o->store_id : l->store_id;
    if (delivered && o->end != RECONCILE_END_DELIVERED) {
        it = s_add(c, RECONCILE_MISSING_HERE, l->key, o->order_id, store);
        if (it != NULL)
            snprintf(it->detail, sizeof it->detail, "delivered there, %s here", o->state);
    } else if (!delivered && o->end == RECONCILE_END_DELIVERED) {
        it = s_add(c, RECONCILE_MISSING_THERE, l->key, o->order_id, store);
        if (it != NULL)
            snprintf(it->detail, sizeof it->detail, "delivered here, CANCELLED there");
    } else if ((o->has_fee ? o->fee_cents : 0) != l->fee_cents) {
        it = s_add(c, RECONCILE_FEE_MISMATCH, l->key, o->order_id, store);
        if (it != NULL)
            snprintf(it->detail, sizeof it->detail, "%s: %s%lld cents there%s",
                     delivered ? "delivered" : "cancelled",
                     l->fee_cents >= (o->has_fee ? o->fee_cents : 0) ? "+" : "",
                     (long long)l->fee_cents - (long long)(o->has_fee ? o->fee_cents : 0),
                     o->has_fee ? "" : delivered ? "; no fee known here"
                                                 : "; the platform never said a cancel fee");
    } else {
        return true;
    }
    if (it == NULL)
        return false;
    s_set_ours(it, o);
    s_set_theirs(it, l);
    return true;
}

/* s_extra_line: a repeat of a key already listed. */
static bool s_extra_line(cmp_t *c, const adapter_settlement_line_t *l, size_t times)
{
    const reconcile_ours_t *o = s_find_ours(c, l->key);
    uint32_t store = o != NULL && o->store_id ? o->store_id : l->store_id;
    reconcile_item_t *it =
        s_add(c, RECONCILE_DUPLICATE_CHARGE, l->key, o ? o->order_id : l->order_id, store);
    if (it == NULL)
        return false;
    snprintf(it->detail, sizeof it->detail, "listed %zu times", times);
    if (o != NULL)
        s_set_ours(it, o);
    s_set_theirs(it, l);
    return true;
}

/* s_compare_lines walks the lines key by key. */
static bool s_compare_lines(cmp_t *c, const adapter_settlement_line_t **lines, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && strcmp(lines[j]->key, lines[i]->key) == 0)
            j++;
        if (!s_first_line(c, lines[i]))
            return false;
        for (size_t k = i + 1; k < j; k++)
            if (!s_extra_line(c, lines[k], j - i))
                return false;
        i = j;
    }
    return true;
}

/* s_missing_there: our deliveries of the day that no line names. */
static bool s_missing_there(cmp_t *c)
{
    for (size_t i = 0; i < c->n_ours; i++) {
        const reconcile_ours_t *o = &c->base[i];
        if (c->matched[i] || !o->in_day || o->end != RECONCILE_END_DELIVERED)
            continue;
        reconcile_item_t *it = s_add(c, RECONCILE_MISSING_THERE, o->key, o->order_id, o->store_id);
        if (it == NULL)
            return false;
        snprintf(it->detail, sizeof it->detail, "delivered here, not in their report");
        s_set_ours(it, o);
    }
    return true;
}

static bool s_counts_ours(const cmp_t *c, size_t i)
{
    return c->matched[i] || c->base[i].in_day;
}

/* s_total: the row of STORE_ID (s_u32_order reads store_id, the first field). */
static reconcile_total_t *s_total(reconcile_result_t *r, uint32_t store_id)
{
    reconcile_total_t probe = { .store_id = store_id };
    return bsearch(&probe, r->totals, r->total_count, sizeof *r->totals, s_u32_order);
}

/* s_totals: one row per store that any counted dispatch, line or
 * discrepancy names, then the sums. */
static bool s_totals(cmp_t *c, const adapter_settlement_line_t *theirs, size_t n_theirs)
{
    reconcile_result_t *r = c->out;
    size_t cap = c->n_ours + n_theirs + r->item_count, n = 0;
    uint32_t *ids = malloc((cap ? cap : 1) * sizeof *ids);
    if (ids == NULL)
        return false;
    for (size_t i = 0; i < c->n_ours; i++)
        if (s_counts_ours(c, i))
            ids[n++] = c->base[i].store_id;
    for (size_t i = 0; i < n_theirs; i++)
        ids[n++] = theirs[i].store_id;
    for (size_t i = 0; i < r->item_count; i++)
        ids[n++] = r->items[i].store_id;
    qsort(ids, n, sizeof *ids, s_u32_order);
    r->totals = calloc(n ? n : 1, sizeof *r->totals);
    if (r->totals == NULL) {
        free(ids);
        return false;
    }
    for (size_t i = 0; i < n; i++)
        if (i == 0 || ids[i] != ids[i - 1])
            r->totals[r->total_count++].store_id = ids[i];
    free(ids);

    for (size_t i = 0; i < c->n_ours; i++) {
        const reconcile_ours_t *o = &c->base[i];
        if (!s_counts_ours(c, i) || o->end == RECONCILE_END_OTHER)
            continue;
        reconcile_total_t *t = s_total(r, o->store_id);
        t->delivered_ours += o->end == RECONCILE_END_DELIVERED;
        t->fee_ours_cents += o->has_fee ? o->fee_cents : 0;
    }
    for (size_t i = 0; i < n_theirs; i++) {
        reconcile_total_t *t = s_total(r, theirs[i].store_id);
        t->fee_theirs_cents += theirs[i].fee_cents;
    }
    for (size_t i = 0; i < r->item_count; i++)
        s_total(r, r->items[i].store_id)->discrepancies++;
    return true;
}

/* s_delivered_theirs counts each key's first DELIVERED line: a duplicate is
 * one delivery charged twice. LINES is sorted by key. */
static void s_delivered_theirs(reconcile_result_t *r, const adapter_settlement_line_t **lines,
                               size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lines[i]->status == ADAPTER_STATE_DELIVERED &&
            (i == 0 || strcmp(lines[i]->key, lines[i - 1]->key) != 0))
            s_total(r, lines[i]->store_id)->delivered_theirs++;
}

bool reconcile_compare(const reconcile_ours_t *ours, size_t n_ours,
                       const adapter_settlement_line_t *theirs, size_t n_theirs,
                       reconcile_result_t *out)
{
    memset(out, 0, sizeof *out);
    cmp_t c = { .out = out, .base = ours, .n_ours = n_ours };
    const adapter_settlement_line_t **lines = malloc((n_theirs ? n_theirs : 1) * sizeof *lines);
    c.ours = malloc((n_ours ? n_ours : 1) * sizeof *c.ours);
    c.matched = calloc(n_ours ? n_ours : 1, sizeof *c.matched);
    bool ok = false;
    if (lines == NULL || c.ours == NULL || c.matched == NULL)
        goto done;
    for (size_t i = 0; i < n_ours; i++)
        c.ours[i] = &ours[i];
    qsort(c.ours, n_ours, sizeof *c.ours, s_ours_by_key);
    for (size_t i = 0; i < n_theirs; i++)
        lines[i] = &theirs[i];
    qsort(lines, n_theirs, sizeof *lines, s_lines_by_key);

    if (!s_compare_lines(&c, lines, n_theirs) || !s_missing_there(&c) ||
        !s_totals(&c, theirs, n_theirs))
        goto done;
    s_delivered_theirs(out, lines, n_theirs);
    if (out->item_count > 0)
        qsort(out->items, out->item_count, sizeof *out->items, s_items_order);
    ok = true;
done:
    free(lines);
    free(c.ours);
    free(c.matched);
    return ok;
}

void reconcile_result_free(reconcile_result_t *r)
{
    if (r == NULL)
        return;
    free(r->items);
    free(r->totals);
    memset(r, 0, sizeof *r);
}
