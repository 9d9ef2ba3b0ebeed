/* campaign.c - owns campaigns and their counters (see campaign.h). */
#include "campaign.h"

#include "tz.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MINUTE_MS INT64_C(60000)
#define DAY_MS (INT64_C(1440) * MINUTE_MS)
#define EDGES_MAX 128    /* capacity changes in one check's span: 18 a day at most, 3 days */
#define SEARCH_STEPS 256 /* candidate times one retry search tries */

/* Each reads the orders of the node's shard ($2, or $3: "" for a node
 * without one, whose orders carry none): in a fleet, each shard counts and
 * enforces a campaign for its own stores (docs/capacity.md). */
const char campaign_counts_sql[] =
    "SELECT campaign, count(*), count(*) FILTER (WHERE accepted_at > now() - interval '1 second')"
    "  FROM orders WHERE campaign = ANY($1::text[])"
    "   AND shard IS NOT DISTINCT FROM nullif($2::text, '') GROUP BY campaign";

const char campaign_day_sql[] =
    "SELECT store_id, campaign, count(*) FROM orders"
    " WHERE campaign = ANY($1::text[])"
    "   AND accepted_at >= 'epoch'::timestamptz + $2::int8 * interval '1 millisecond'"
    "   AND shard IS NOT DISTINCT FROM nullif($3::text, '')"
    " GROUP BY store_id, campaign";

const char campaign_bookings_sql[] =
    "SELECT o.store_id, o.campaign,"
    "       (extract(epoch FROM o.prep_start_at) * 1000)::int8,"
    "       (extract(epoch FROM least(o.promised_ready_at, coalesce(("
    "           SELECT min(ev.at) FROM order_events ev"
    "            WHERE ev.order_id = o.order_id AND ev.state = 'CANCELLED'), 'infinity'))) * 1000)::int8"
    "  FROM orders o WHERE o.campaign = ANY($1::text[])"
    "   AND o.accepted_at >= 'epoch'::timestamptz + $2::int8 * interval '1 millisecond'"
    "   AND o.prep_start_at IS NOT NULL AND o.shard IS NOT DISTINCT FROM nullif($3::text, '')";

struct campaign {
    char *name;
    const config_campaign_t *cfg;   /* NULL: not in the current config */
    bucket_t pace;
    bool counted;                   /* its counts are read back (or it is new) */
    bool held;                      /* an operator's pause is in force (campaign_override_pause) */
    campaign_counts_t counts;
};

/* An operator's pause, kept by name: it outlives the campaign's place in
 * the config, for a reload that brings the campaign back. */
struct hold {
    char *name;
    char *by;
};

/* One store and one campaign. Bookings are kept as two sorted lists, their
 * starts and their ends: the time of bookings inside a window is the sum
 * over ends minus the sum over starts of how far into the window each
 * reaches (see s_reach), so which start goes with which end never
 * matters, and a bound that lies before every window still to be checked
 * can be dropped on its own. */
struct entry {
    uint64_t *starts, *ends;        /* one allocation: starts[cap], then ends[cap] */
    uint32_t store_id;
    uint32_t day;                   /* the local day TODAY counts */
    uint32_t today;                 /* orders placed at the store that day */
    uint32_t ns, ne, cap;           /* starts and ends held, room for each */
    uint16_t campaign;              /* slot + 1; 0: a free place in the hash table */
    bool full;                      /* its last share check found no room */
};

struct campaign_table {
    const config_t *cfg;
    struct campaign *v;             /* slots, by campaign_id_t; never removed */
    size_t count;
    struct entry *entries;          /* open addressing on (store, campaign) */
    size_t mask, used;
    struct hold *holds;             /* operators' pauses, few */
    size_t hold_count;
};

/* ------------------------------------------------------------ campaigns */

static struct campaign *s_slot(const campaign_table_t *self, campaign_id_t id)
{
    return id < self->count ? &self->v[id] : NULL;
}

static campaign_id_t s_slot_named(const campaign_table_t *self, const char *name)
{
    for (size_t i = 0; i < self->count; i++)
        if (strcmp(self->v[i].name, name) == 0)
            return (campaign_id_t)i;
    return CAMPAIGN_NONE;
}

static struct hold *s_hold_find(const campaign_table_t *self, const char *name)
{
    for (size_t i = 0; i < self->hold_count; i++)
        if (strcmp(self->holds[i].name, name) == 0)
            return &self->holds[i];
    return NULL;
}

campaign_table_t *campaign_table_new(const config_t *cfg, uint64_t now_us)
{
    campaign_table_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->entries = calloc(16, sizeof *self->entries);
    self->mask = 15;
    if (!self->entries || !campaign_table_configure(self, cfg, now_us)) {
        campaign_table_destroy(&self);
        return NULL;
    }
    return self;
}

void campaign_table_destroy(campaign_table_t **self)
{
    if (!self || !*self)
        return;
    campaign_table_t *t = *self;
    for (size_t i = 0; i < t->count; i++)
        free(t->v[i].name);
    for (size_t i = 0; t->entries && i <= t->mask; i++)
        free(t->entries[i].starts);
    for (size_t i = 0; i < t->hold_count; i++) {
        free(t->holds[i].name);
        free(t->holds[i].by);
    }
    free(t->holds);
    free(t->v);
    free(t->entries);
    free(t);
    *self = NULL;
}

bool campaign_table_configure(campaign_table_t *self, const config_t *cfg, uint64_t now_us)
{
    size_t fresh = 0;
    for (size_t i = 0; i < cfg->campaign_count; i++)
        fresh += s_slot_named(self, cfg->campaigns[i].name) == CAMPAIGN_NONE;
    if (self->count + fresh >= CAMPAIGN_NONE)
        return false;
    char **names = calloc(fresh + 1, sizeof *names);
    struct campaign *v = names ? realloc(self->v, (self->count + fresh + 1) * sizeof *v) : NULL;
    if (v)
        self->v = v;
    for (size_t i = 0, k = 0; v && i < cfg->campaign_count; i++)
        if (s_slot_named(self, cfg->campaigns[i].name) == CAMPAIGN_NONE &&
            !(names[k++] = strdup(cfg->campaigns[i].name)))
            v = NULL;
    if (!v) {
        for (size_t k = 0; names && k < fresh; k++)
            free(names[k]);
        free(names);
        return false;
    }
    for (size_t i = 0; i < self->count; i++)
        self->v[i].cfg = NULL;
    for (size_t i = 0, k = 0; i < cfg->campaign_count; i++) {
        const config_campaign_t *c = &cfg->campaigns[i];
        campaign_id_t id = s_slot_named(self, c->name);
        if (id == CAMPAIGN_NONE) {
            id = (campaign_id_t)self->count++;
            self->v[id] = (struct campaign){ .name = names[k++],
                                             .held = s_hold_find(self, c->name) != NULL };
            bucket_init(&self->v[id].pace, c->orders_per_second, now_us);
        } else {
            bucket_set_rate(&self->v[id].pace, c->orders_per_second, now_us);
        }
        self->v[id].cfg = c;
    }
    free(names);
    self->cfg = cfg;
    return true;
}

campaign_id_t campaign_find(const campaign_table_t *self, const char *name)
{
    campaign_id_t id = s_slot_named(self, name);
    return id != CAMPAIGN_NONE && self->v[id].cfg ? id : CAMPAIGN_NONE;
}

const char *campaign_name(const campaign_table_t *self, campaign_id_t id)
{
    const struct campaign *c = s_slot(self, id);
    return c ? c->name : NULL;
}

const campaign_counts_t *campaign_counts(const campaign_table_t *self, campaign_id_t id)
{
    const struct campaign *c = s_slot(self, id);
    return c ? &c->counts : NULL;
}

bool campaign_is_counted(const campaign_table_t *self, campaign_id_t id)
{
    const struct campaign *c = s_slot(self, id);
    return c && c->counted;
}

double campaign_pace_tokens(campaign_table_t *self, campaign_id_t id, uint64_t now_us)
{
    struct campaign *c = s_slot(self, id);
    if (!c)
        return 0;
    (void)bucket_has(&c->pace, now_us, NULL);   /* refills it to now */
    return c->pace.tokens;
}

void campaign_refused(campaign_table_t *self, campaign_id_t id, Sluice__V1__CampaignState state)
{
    struct campaign *c = s_slot(self, id);
    size_t n = sizeof c->counts.refused / sizeof c->counts.refused[0];
    if (c && (size_t)state < n)
        c->counts.refused[state]++;
}

/* s_share: the store's own share for campaign C, or the campaign's. */
static double s_share(const campaign_table_t *self, const struct campaign *c,
                      const config_store_t *store)
{
    int index = (int)(c->cfg - self->cfg->campaigns);
    for (int i = 0; i < store->campaign_count; i++)
        if (store->campaigns[i].campaign == index)
            return store->campaigns[i].store_share;
    return c->cfg->store_share;
}

/* -------------------------------------------------------------- entries */

static size_t s_hash(uint32_t store_id, campaign_id_t id)
{
    uint64_t h = ((uint64_t)store_id << 16 | id) * UINT64_C(0x9E3779B97F4A7C15);
    return (size_t)(h ^ (h >> 29));
}

static size_t s_place(const campaign_table_t *self, uint32_t store_id, campaign_id_t id)
{
    size_t at = s_hash(store_id, id) & self->mask;
    while (self->entries[at].campaign &&
           (self->entries[at].store_id != store_id || self->entries[at].campaign != id + 1u))
        at = (at + 1) & self->mask;
    return at;
}

static struct entry *s_entry(const campaign_table_t *self, uint32_t store_id, campaign_id_t id)
{
    struct entry *e = &self->entries[s_place(self, store_id, id)];
    return e->campaign ? e : NULL;
}

/* s_entry_add finds or makes the entry of STORE_ID and ID; NULL when out of
 * memory. The table grows before it is half full. */
static struct entry *s_entry_add(campaign_table_t *self, uint32_t store_id, campaign_id_t id)
{
    struct entry *e = s_entry(self, store_id, id);
    if (e)
        return e;
    if ((self->used + 1) * 2 > self->mask + 1) {
        size_t size = (self->mask + 1) * 2;
        struct entry *grown = calloc(size, sizeof *grown), *old = self->entries;
        if (!grown)
            return NULL;
        size_t old_size = self->mask + 1;
        self->entries = grown;
        self->mask = size - 1;
        for (size_t i = 0; i < old_size; i++)
            if (old[i].campaign)
                self->entries[s_place(self, old[i].store_id, old[i].campaign - 1u)] = old[i];
        free(old);
    }
    e = &self->entries[s_place(self, store_id, id)];
    *e = (struct entry){ .store_id = store_id, .campaign = (uint16_t)(id + 1u) };
    self->used++;
    return e;
}

static uint32_t s_day(uint64_t now_ms, int64_t offset_ms)
{
    return (uint32_t)(((int64_t)now_ms + offset_ms) / DAY_MS);
}

/* s_today: the orders E's campaign placed at its store in the local day of
 * NOW_MS. */
static uint32_t s_today(const struct entry *e, uint64_t now_ms, int64_t offset_ms)
{
    return e && e->day == s_day(now_ms, offset_ms) ? e->today : 0;
}

/* s_lower: the first index of the N sorted values V that is >= X. */
static uint32_t s_lower(const uint64_t *v, uint32_t n, uint64_t x)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void s_insert(uint64_t *v, uint32_t *n, uint64_t x)
{
    uint32_t at = s_lower(v, *n, x + 1);
    memmove(v + at + 1, v + at, (size_t)(*n - at) * sizeof *v);
    v[at] = x;
    (*n)++;
}

/* s_remove takes one X out of the N sorted values V; false when there is
 * none. */
static bool s_remove(uint64_t *v, uint32_t *n, uint64_t x)
{
    uint32_t at = s_lower(v, *n, x);
    if (at == *n || v[at] != x)
        return false;
    memmove(v + at, v + at + 1, (size_t)(*n - at - 1) * sizeof *v);
    (*n)--;
    return true;
}

/* s_drop_before forgets the bounds at or before T: every window still to
 * be checked starts after T, where they count for nothing. */
static void s_drop_before(struct entry *e, uint64_t t)
{
    if (!e->cap)
        return;
    uint32_t s = s_lower(e->starts, e->ns, t + 1), x = s_lower(e->ends, e->ne, t + 1);
    memmove(e->starts, e->starts + s, (size_t)(e->ns - s) * sizeof *e->starts);
    memmove(e->ends, e->ends + x, (size_t)(e->ne - x) * sizeof *e->ends);
    e->ns -= s;
    e->ne -= x;
    if (e->ne == 0) {       /* no booking left (a start has its end after it) */
        free(e->starts);
        e->starts = e->ends = NULL;
        e->ns = e->cap = 0;
    }
}

/* s_room makes room in E for one more booking. */
static bool s_room(struct entry *e)
{
    if (e->ne < e->cap)
        return true;
    uint32_t cap = e->cap ? e->cap * 2 : 8;
    uint64_t *v = malloc(2 * (size_t)cap * sizeof *v);
    if (!v)
        return false;
    if (e->cap) {
        memcpy(v, e->starts, e->ns * sizeof *v);
        memcpy(v + cap, e->ends, e->ne * sizeof *v);
    }
    free(e->starts);
    e->starts = v;
    e->ends = v + cap;
    e->cap = cap;
    return true;
}

static uint64_t s_window_ms(const config_store_t *store)
{
    return (uint64_t)store->max_wait_minutes * (uint64_t)MINUTE_MS;
}

/* s_book adds [START, READY) to E, after forgetting what ended a window
 * before NOW_MS. False when out of memory (E has only forgotten). */
static bool s_book(struct entry *e, const config_store_t *store, uint64_t start, uint64_t ready,
                   uint64_t now_ms)
{
    uint64_t w = s_window_ms(store);
    if (now_ms > w)
        s_drop_before(e, now_ms - w);
    if (!s_room(e))
        return false;
    s_insert(e->starts, &e->ns, start);
    s_insert(e->ends, &e->ne, ready);
    return true;
}

/* ---------------------------------------------------------------- share */

/* A store's capacity changes at these times by DELTA slots. */
struct edge {
    int64_t at;
    int delta;
};

/* What one share check looks at: the store, its window, the share, and the
 * campaign's bookings there. */
struct share {
    const config_store_t *store;
    int64_t offset_ms;
    int64_t w;
    double share;
    const uint64_t *starts, *ends;
    uint32_t ns, ne;
};

/* s_reach: how much of the window [A, A + W) lies before U, the term a
 * bound U adds (an end) or takes away (a start). */
static int64_t s_reach(int64_t u, int64_t a, int64_t w)
{
    int64_t r = u - a;
    return r < 0 ? 0 : r > w ? w : r;
}

/* s_edges lists the times in (FROM, TO] at which the store's capacity
 * changes, in local time at the zone's offset now; *AT_FROM is the
 * capacity at FROM. False when there are more than MAX. */
static bool s_edges(const struct share *sh, int64_t from, int64_t to, int *at_from,
                    struct edge *edges, size_t max, size_t *count)
{
    int64_t m = (from + sh->offset_ms) / MINUTE_MS;  /* local minutes since 1970 */
    int minute = (int)(m % TZ_MINUTES_PER_DAY);
    int c = kitchen_capacity_at(sh->store, minute);
    *at_from = c;
    *count = 0;
    for (;;) {
        int ahead = kitchen_capacity_next(sh->store, minute);
        m += ahead;
        minute = (minute + ahead) % TZ_MINUTES_PER_DAY;
        int64_t at = m * MINUTE_MS - sh->offset_ms;
        if (at > to)
            return true;
        int next = kitchen_capacity_at(sh->store, minute);
        if (next == c)
            continue;
        if (*count == max)
            return false;
        edges[(*count)++] = (struct edge){ at, next - c };
        c = next;
    }
}

/* A stream of the events at which the slopes of the booked time and of the
 * capacity of the window [a, a + W) change, as a moves: a sorted list of
 * bounds (or capacity edges) shifted by SHIFT, each changing the booked
 * time's slope by DB (or the capacity's by SIGN x its delta). */
struct stream {
    const uint64_t *v;
    const struct edge *edges;
    uint32_t i, n;
    int64_t shift;
    int db, sign;
    const int *dbs;           /* per element instead of DB (the new booking's) */
};

/* s_at: where stream S's next event is; INT64_MAX when it has none left. */
static int64_t s_at(const struct stream *s)
{
    if (s->i >= s->n)
        return INT64_MAX;
    return (s->v ? (int64_t)s->v[s->i] : s->edges[s->i].at) + s->shift;
}

/* s_share_holds: may the booking [B, B + P) join SH's bookings? Every
 * window [a, a + W) that overlaps it, a from B - W + 1 to B + P - 1, is
 * checked at each breakpoint of the booked time and of the slot time,
 * between which both are linear. When one is over, *JUMP is a time before
 * which no booking start can pass: each window over its share excludes
 * every later start up to the one that leaves it no more than its room. */
static bool s_share_holds(const struct share *sh, int64_t b, int64_t p, int64_t *jump)
{
    int64_t w = sh->w, a0 = b - w + 1, a1 = b + p - 1;
    struct edge edges[EDGES_MAX];
    size_t ec;
    int c0;
    if (!s_edges(sh, a0, a1 + w, &c0, edges, EDGES_MAX, &ec)) {
        *jump = b + 1;
        return false;
    }
    /* the booked time and its slope at a0 (the slope just after it) */
    int64_t booked = 0, slope_b = 0;
    const int64_t mine[2] = { b + p, b };  /* the new booking's end and start */
    for (int k = 0; k < 2; k++) {
        int sign = k == 0 ? 1 : -1;
        booked += sign * s_reach(mine[k], a0, w);
        if (mine[k] > a0 && mine[k] <= a0 + w)
            slope_b -= sign;
    }
    /* bounds in (a0, a0 + w] reach partly into the window and move with a;
     * those after it reach across the whole window */
    uint32_t e_in = s_lower(sh->ends, sh->ne, (uint64_t)a0 + 1);
    uint32_t e_out = s_lower(sh->ends, sh->ne, (uint64_t)(a0 + w) + 1);
    uint32_t s_in = s_lower(sh->starts, sh->ns, (uint64_t)a0 + 1);
    uint32_t s_out = s_lower(sh->starts, sh->ns, (uint64_t)(a0 + w) + 1);
    for (uint32_t i = e_in; i < e_out; i++)
        booked += (int64_t)sh->ends[i] - a0;
    for (uint32_t i = s_in; i < s_out; i++)
        booked -= (int64_t)sh->starts[i] - a0;
    booked += w * ((int64_t)(sh->ne - e_out) - (int64_t)(sh->ns - s_out));
    slope_b += (int64_t)(s_out - s_in) - (int64_t)(e_out - e_in);
    /* the slot time and its slope at a0 */
    int64_t slots = 0, t = a0;
    int c = c0, c_end = c0;
    for (size_t i = 0; i < ec && edges[i].at <= a0 + w; i++) {
        slots += c * (edges[i].at - t);
        t = edges[i].at;
        c += edges[i].delta;
    }
    slots += c * (a0 + w - t);
    c_end = c;
    int64_t slope_c = c_end - c0;

    /* the events in (a0, a1], merged from their sorted streams */
    /* the new booking: its start adds +1 at b - W and -1 at b, its end
     * -1 at b + p - W and +1 at b + p */
    const uint64_t news[4] = { (uint64_t)(b - w), (uint64_t)b, (uint64_t)(b + p - w),
                               (uint64_t)(b + p) };
    static const int start_db[2] = { +1, -1 }, end_db[2] = { -1, +1 };
    struct stream st[8] = {
        { sh->starts, NULL, 0, sh->ns, -w, +1, 0, NULL },
        { sh->starts, NULL, 0, sh->ns, 0, -1, 0, NULL },
        { sh->ends, NULL, 0, sh->ne, -w, -1, 0, NULL },
        { sh->ends, NULL, 0, sh->ne, 0, +1, 0, NULL },
        { news, NULL, 0, 2, 0, 0, 0, start_db },
        { news + 2, NULL, 0, 2, 0, 0, 0, end_db },
        { NULL, edges, 0, (uint32_t)ec, -w, 0, +1, NULL },
        { NULL, edges, 0, (uint32_t)ec, 0, 0, -1, NULL },
    };
    /* each stream from its first event after a0 up to its last at or before
     * a1; CUR caches where each is */
    int64_t cur[8];
    for (int k = 0; k < 8; k++) {
        if (st[k].v) {
            uint64_t lo = (uint64_t)(a0 - st[k].shift) + 1, hi = (uint64_t)(a1 - st[k].shift) + 1;
            st[k].i = s_lower(st[k].v, st[k].n, lo);
            st[k].n = s_lower(st[k].v, st[k].n, hi);
        } else {
            while (s_at(&st[k]) <= a0)
                st[k].i++;
            while (st[k].n > st[k].i && st[k].edges[st[k].n - 1].at + st[k].shift > a1)
                st[k].n--;
        }
        cur[k] = s_at(&st[k]);
    }
    bool holds = true;
    int64_t a = a0, allowed_for = -1, allowed = 0;
    *jump = b + 1;
    for (;;) {
        int64_t next = a1 + 1;
        for (int k = 0; k < 8; k++)
            next = cur[k] < next ? cur[k] : next;
        /* check at A, then move to the next event (or past a1) */
        if (slots != allowed_for) { /* the slot time changes rarely: most stores keep theirs */
            allowed = (int64_t)(sh->share * (double)slots);
            allowed_for = slots;
        }
        if (booked > allowed) {
            int64_t own = s_reach(b + p, a, w) - s_reach(b, a, w);
            int64_t room = allowed - (booked - own);
            int64_t clear = a + w - (room > 0 ? room : 0);
            *jump = clear > *jump ? clear : *jump;
            holds = false;
        }
        if (next > a1) {
            if (a < a1) {
                booked += slope_b * (a1 - a);
                slots += slope_c * (a1 - a);
                a = a1;
                continue;
            }
            return holds;
        }
        booked += slope_b * (next - a);
        slots += slope_c * (next - a);
        a = next;
        for (int k = 0; k < 8; k++)
            while (cur[k] == a) {
                if (st[k].dbs)
                    slope_b += st[k].dbs[st[k].i];
                else if (st[k].v)
                    slope_b += st[k].db;
                else
                    slope_c += st[k].sign * st[k].edges[st[k].i].delta;
                st[k].i++;
                cur[k] = s_at(&st[k]);
            }
    }
}

/* s_hours_let: may an order submitted at T, ready at READY, pass the
 * store's hours? When not, *OPEN is when it opens next. */
static bool s_hours_let(const config_store_t *store, int64_t offset_ms, int64_t t, int64_t ready,
                        int64_t *open)
{
    if (store->open_minute == 0 && store->close_minute == TZ_MINUTES_PER_DAY)
        return true;
    uint64_t local = (uint64_t)(t + offset_ms);
    int minute = (int)(local / (uint64_t)MINUTE_MS % TZ_MINUTES_PER_DAY);
    *open = t + (int64_t)kitchen_until_minute(local, store->open_minute);
    return kitchen_open_at(store, minute) &&
           ready <= t + (int64_t)kitchen_until_minute(local, store->close_minute);
}

/* s_share_next: the earliest time from FROM on at which the order asked
 * about, submitted again, would pass the store's hours and the share,
 * nothing else changing: its booking is then the one kitchen_plan gives
 * at that time. No booking may start before NOT_BEFORE (what the check
 * now found), so no time before it is tried. False: none within a day
 * after the last booking has left every window. */
static bool s_share_next(const struct share *sh, const campaign_ask_t *ask, int64_t from,
                         int64_t not_before, int64_t *at)
{
    int64_t p = (int64_t)ask->prep_ms, last = (int64_t)ask->now_ms;
    if (sh->ne && (int64_t)sh->ends[sh->ne - 1] > last)
        last = (int64_t)sh->ends[sh->ne - 1];
    int64_t horizon = (from > last ? from : last) + 2 * sh->w + DAY_MS;
    int64_t t = from > not_before ? from : not_before;
    for (int step = 0; step < SEARCH_STEPS && t <= horizon; step++) {
        kitchen_plan_t plan = *ask->plan;
        if (t > (int64_t)ask->now_ms &&
            !kitchen_plan(ask->kitchen, ask->store, ask->prep_ms, (uint64_t)t, sh->offset_ms, &plan))
            return false;
        int64_t b = (int64_t)plan.start_ms, open, jump;
        if (!s_hours_let(ask->store, sh->offset_ms, t, b + p, &open)) {
            t = open;
            continue;
        }
        if (s_share_holds(sh, b, p, &jump)) {
            *at = t;
            return true;
        }
        t = jump > t ? jump : t + 1;
    }
    return false;
}

/* --------------------------------------------------------------- checks */

static bool s_refuse(campaign_verdict_t *out, bool terse, Sluice__V1__CampaignState state,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* s_refuse records the first limit that refuses, naming it in the detail
 * unless TERSE. */
static bool s_refuse(campaign_verdict_t *out, bool terse, Sluice__V1__CampaignState state,
                     const char *fmt, ...)
{
    if (out->state != SLUICE__V1__CAMPAIGN_STATE__CAMPAIGN_STATE_OK)
        return false;
    out->state = state;
    if (terse)
        return false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->detail, sizeof out->detail, fmt, ap);
    va_end(ap);
    return false;
}

static void s_never(campaign_verdict_t *out)
{
    out->never = true;
    out->retry_after_ms = 0;
}

static void s_time_text(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, len, "%" PRId64 " ms", ms);
}

/* s_mark_full records what the share check of C at E's store found: FULL,
 * no room for the booking asked about. A store without bookings has no
 * entry and is never full. */
static void s_mark_full(struct campaign *c, struct entry *e, bool full)
{
    if (!e || e->full == full)
        return;
    e->full = full;
    if (full)
        c->counts.share_full_stores++;
    else if (c->counts.share_full_stores)
        c->counts.share_full_stores--;
}

bool campaign_check(campaign_table_t *self, const char *name, const campaign_ask_t *ask,
                    uint64_t paused_retry_ms, uint64_t counting_retry_ms,
                    campaign_verdict_t *out)
{
    memset(out, 0, sizeof *out);
    out->state = SLUICE__V1__CAMPAIGN_STATE__CAMPAIGN_STATE_OK;
    out->id = campaign_find(self, name);
    struct campaign *c = s_slot(self, out->id);
    const config_store_t *store = ask->store;
    int64_t now = (int64_t)ask->now_ms;
    char when[40] = "";
    if (!c) {
        s_never(out);
        return s_refuse(out, ask->terse, SLUICE__V1__CAMPAIGN_STATE__CAMPAIGN_STATE_UNKNOWN,
                        "campaign %.64s: not in the configuration", name);
    }
    const config_campaign_t *cfg = c->cfg;
    if (!c->counted) {
        out->retry_after_ms = counting_retry_ms;
        return s_refuse(out, ask->terse, SLUICE__V1__CAMPAIGN_STATE__CAMPAIGN_STATE_COUNTING,
                        "campaign %s: its counts are being read back from the database", c->name);
    }
    if (cfg->paused || c->held) {
        out->retry_after_ms = paused_retry_ms;
        return s_refuse(out, ask->terse, SLUICE__V1__CAMPAIGN_STATE__CAMPAIGN_STATE_PAUSED,
                        "campaign %s: paused %s", c->name,
                        c->held ? "by an operator (sluicectl campaign pause)" : "by the config");
    }
    if (cfg->ends_ms && now >= cfg->ends_ms) {
        s_never(out);
        if (!ask->terse)
            s_time_text(cfg->ends_ms, when, sizeof when);
        return s_refuse(out, ask->terse, SLUICE__V1__CAMPAIGN_STATE__CAMPAIGN_STATE_ENDED,
                        "campaign %s: ended at %s", c->name, when);
    }
    if (cfg->budget && c->counts.placed >= (uint64_t)cfg->budget) {
        s_never(out);
        return s_refuse(out, ask->terse, SLUICE__V1__CAMPAIGN_STATE__CAMPAIGN_STATE_BUDGET_SPENT,
                        "campaign %s: budget of %d orders spent", c->name, cfg->budget);
    }
    double share = s_share(self, c, store);
    if (share <= 0.0) {
        s_never(out);
        return s_refuse(out, ask->terse, SLUICE__V1__CAMPAIGN_STATE__CAMPAIGN_STATE_STORE_OPTED_OUT,
                        "campaign %s: store %" PRIu32 " takes none of its orders (store_share 0)",
                        c->name, store->id);
    }
    /* The limits that pass with time: FROM is when all of them have. */
    int64_t from = now;
    if (cfg->starts_ms && now < cfg->starts_ms) {
        if (!ask->terse)
            s_time_text(cfg->starts_ms, when, sizeof when);
        s_refuse(out, ask->terse, SLUICE__V1__CAMPAIGN_STATE__CAMPAIGN_STATE_NOT_STARTED,
                 "campaign %s: starts at %s", c->name, when);
        from = cfg->starts_ms;
    }
    uint64_t token_ms = 0;
    if (!bucket_has(&c->pace, ask->now_us, &token_ms)) {
        s_refuse(out, ask->terse, SLUICE__V1__CAMPAIGN_STATE__CAMPAIGN_STATE_PACED,
                 "campaign %s: orders_per_second %d reached", c->name, cfg->orders_per_second);
        from = now + (int64_t)token_ms > from ? now + (int64_t)token_ms : from;
    }
    struct entry *e = s_entry(self, store->id, out->id);
    if (cfg->per_store_daily && s_today(e, ask->now_ms, ask->offset_ms) >= (uint32_t)cfg->per_store_daily) {
        s_refuse(out, ask->terse, SLUICE__V1__CAMPAIGN_STATE__CAMPAIGN_STATE_STORE_DAILY_CAP,
                 "campaign %s: per_store_daily %d reached at store %" PRIu32 " today", c->name,
                 cfg->per_store_daily, store->id);
        int64_t midnight = ((int64_t)s_day(ask->now_ms, ask->offset_ms) + 1) * DAY_MS -
                           ask->offset_ms;
        from = midnight > from ? midnight : from;
    }
    if (share < 1.0 && ask->plan && ask->kitchen) {
        struct share sh = { store, ask->offset_ms, (int64_t)s_window_ms(store), share,
                            e ? e->starts : NULL, e ? e->ends : NULL, e ? e->ns : 0,
                            e ? e->ne : 0 };
        int64_t jump, at;
        int64_t b = (int64_t)ask->plan->start_ms, p = (int64_t)ask->prep_ms;
        bool holds = s_share_holds(&sh, b, p, &jump);
        s_mark_full(c, e, !holds);
        if (holds)
            jump = now; /* no start is ruled out */
        else
            s_refuse(out, ask->terse, SLUICE__V1__CAMPAIGN_STATE__CAMPAIGN_STATE_SHARE_FULL,
                     "campaign %s: store_share %g of store %" PRIu32
                     "'s prep time in max_wait_minutes %d is booked", c->name, share, store->id,
                     store->max_wait_minutes);
        if (out->state == SLUICE__V1__CAMPAIGN_STATE__CAMPAIGN_STATE_OK)
            return true;
        if (!s_share_next(&sh, ask, from, jump, &at)) {
            s_never(out);
            size_t len = strlen(out->detail);
            if (!ask->terse)
                snprintf(out->detail + len, sizeof out->detail - len,
                         "; the share has no room for it");
            return false;
        }
        from = at;
    } else if (share >= 1.0) {
        s_mark_full(c, e, false);   /* a reload lifted the limit */
    }
    if (out->state == SLUICE__V1__CAMPAIGN_STATE__CAMPAIGN_STATE_OK)
        return true;
    if (cfg->ends_ms && from >= cfg->ends_ms) {
        s_never(out);
        size_t len = strlen(out->detail);
        if (!ask->terse)
            snprintf(out->detail + len, sizeof out->detail - len, "; it ends before then");
        return false;
    }
    out->retry_after_ms = (uint64_t)(from - now);
    return false;
}

bool campaign_book(campaign_table_t *self, campaign_id_t id, const campaign_ask_t *ask)
{
    struct campaign *c = s_slot(self, id);
    if (!c)
        return true;
    struct entry *e = s_entry_add(self, ask->store->id, id);
    if (!e || !s_book(e, ask->store, ask->plan->start_ms, ask->plan->ready_ms, ask->now_ms))
        return false;
    bucket_take(&c->pace);
    c->counts.placed++;
    uint32_t day = s_day(ask->now_ms, ask->offset_ms);
    if (e->day != day) {
        e->day = day;
        e->today = 0;
    }
    e->today++;
    return true;
}

void campaign_give_back(campaign_table_t *self, campaign_id_t id, const config_store_t *store,
                        uint64_t start_ms, uint64_t ready_ms, uint64_t now_ms)
{
    struct entry *e = s_slot(self, id) ? s_entry(self, store->id, id) : NULL;
    /* An end already forgotten lies before now: nothing is left to give. */
    if (!e || !e->cap || now_ms >= ready_ms || !s_remove(e->ends, &e->ne, ready_ms))
        return;
    if (now_ms <= start_ms)
        s_remove(e->starts, &e->ns, start_ms);
    else
        s_insert(e->ends, &e->ne, now_ms);  /* into the room s_remove made */
    if (e->ne == 0)
        s_drop_before(e, UINT64_MAX - 1);
}

void campaign_unplace(campaign_table_t *self, campaign_id_t id, const config_store_t *store,
                      uint64_t start_ms, uint64_t ready_ms, uint64_t placed_ms, uint64_t now_ms)
{
    struct campaign *c = s_slot(self, id);
    if (!c)
        return;
    if (c->counts.placed)
        c->counts.placed--;
    struct entry *e = s_entry(self, store->id, id);
    int64_t offset = tz_offset_ms(store->timezone, now_ms);
    if (e && e->today && e->day == s_day(placed_ms, offset))
        e->today--;
    campaign_give_back(self, id, store, start_ms, ready_ms, now_ms);
}

/* -------------------------------------------------------------- restart */

size_t campaign_uncounted(const campaign_table_t *self, const char **names, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < self->count; i++)
        if (self->v[i].cfg && !self->v[i].counted) {
            if (n < max)
                names[n] = self->v[i].name;
            n++;
        }
    return n;
}

void campaign_restore_counts(campaign_table_t *self, const char *name, uint64_t placed,
                             uint64_t last_second, uint64_t now_us)
{
    struct campaign *c = s_slot(self, campaign_find(self, name));
    if (!c || c->counted)
        return;
    c->counts.placed = placed;
    bucket_init(&c->pace, c->cfg->orders_per_second, now_us);
    double left = c->pace.rate - (double)last_second;
    c->pace.tokens = left > 0 ? left : 0;
}

bool campaign_restore_day(campaign_table_t *self, const char *name, const config_store_t *store,
                          uint64_t since_ms, uint64_t placed, uint64_t now_ms)
{
    campaign_id_t id = campaign_find(self, name);
    if (id == CAMPAIGN_NONE || self->v[id].counted ||
        since_ms != campaign_day_start_ms(store->timezone, now_ms))
        return true;
    struct entry *e = s_entry_add(self, store->id, id);
    if (!e)
        return false;
    e->day = s_day(now_ms, tz_offset_ms(store->timezone, now_ms));
    e->today = placed > UINT32_MAX ? UINT32_MAX : (uint32_t)placed;
    return true;
}

void campaign_counted(campaign_table_t *self, const char *const *names, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        campaign_id_t id = s_slot_named(self, names[i]);
        if (id != CAMPAIGN_NONE)
            self->v[id].counted = true;
    }
}

bool campaign_restore_booking(campaign_table_t *self, const char *name, const config_store_t *store,
                              uint64_t start_ms, uint64_t ready_ms, uint64_t now_ms)
{
    campaign_id_t id = campaign_find(self, name);
    uint64_t w = s_window_ms(store);
    if (id == CAMPAIGN_NONE || ready_ms <= start_ms || ready_ms + w <= now_ms)
        return true;
    struct entry *e = s_entry_add(self, store->id, id);
    return e && s_book(e, store, start_ms, ready_ms, now_ms);
}

/* ------------------------------------------------------ operators' pauses */

const char campaign_override_load_sql[] =
    "SELECT campaign, coalesce(set_by, '') FROM campaign_overrides ORDER BY campaign";
/* The writes; a node with a shard fences them (sluice_fence, migration 010,
 * its two parameters after the others), as override.c does a store's. */
#define CAMPAIGN_OVERRIDE_PUT(fence, from) \
    fence "INSERT INTO campaign_overrides (campaign, set_by)" \
    " SELECT $1::text, nullif($2::text, '')" from \
    " ON CONFLICT (campaign) DO UPDATE SET set_at = now(), set_by = EXCLUDED.set_by"
#define CAMPAIGN_OVERRIDE_DELETE(fence, where) \
    fence "DELETE FROM campaign_overrides WHERE campaign = $1::text" where
const char campaign_override_put_sql[] = CAMPAIGN_OVERRIDE_PUT("", "");
const char campaign_override_delete_sql[] = CAMPAIGN_OVERRIDE_DELETE("", "");
const char campaign_override_put_fenced_sql[] =
    CAMPAIGN_OVERRIDE_PUT("WITH fence AS MATERIALIZED (SELECT sluice_fence($3, $4)) ", " FROM fence");
const char campaign_override_delete_fenced_sql[] =
    CAMPAIGN_OVERRIDE_DELETE("WITH fence AS MATERIALIZED (SELECT sluice_fence($2, $3)) ",
                             " AND EXISTS (SELECT FROM fence)");

bool campaign_override_pause(campaign_table_t *self, const char *name, const char *by)
{
    struct hold *h = s_hold_find(self, name);
    char *copy = strdup(by ? by : "");
    if (!copy)
        return false;
    if (!h) {
        struct hold *holds = realloc(self->holds, (self->hold_count + 1) * sizeof *holds);
        char *key = holds ? strdup(name) : NULL;
        if (holds)
            self->holds = holds;
        if (!key) {
            free(copy);
            return false;
        }
        h = &self->holds[self->hold_count++];
        *h = (struct hold){ key, NULL };
    }
    free(h->by);
    h->by = copy;
    campaign_id_t id = s_slot_named(self, name);
    if (id != CAMPAIGN_NONE)
        self->v[id].held = true;
    return true;
}

void campaign_override_clear(campaign_table_t *self, const char *name)
{
    struct hold *h = s_hold_find(self, name);
    if (!h)
        return;
    free(h->name);
    free(h->by);
    *h = self->holds[--self->hold_count];
    campaign_id_t id = s_slot_named(self, name);
    if (id != CAMPAIGN_NONE)
        self->v[id].held = false;
}

const char *campaign_override_by(const campaign_table_t *self, const char *name)
{
    const struct hold *h = s_hold_find(self, name);
    return h ? h->by : NULL;
}

size_t campaign_share_full_list(const campaign_table_t *self, campaign_id_t id, uint32_t *stores,
                                size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i <= self->mask; i++) {
        const struct entry *e = &self->entries[i];
        if (e->campaign == id + 1u && e->full) {
            if (n < max)
                stores[n] = e->store_id;
            n++;
        }
    }
    return n;
}

uint64_t campaign_day_start_ms(const char *zone, uint64_t now_ms)
{
    int64_t offset = tz_offset_ms(zone, now_ms);
    return (uint64_t)((int64_t)s_day(now_ms, offset) * DAY_MS - offset);
}

size_t campaign_table_memory_bytes(const campaign_table_t *self)
{
    size_t bytes = sizeof *self + self->count * sizeof *self->v +
                   (self->mask + 1) * sizeof *self->entries;
    for (size_t i = 0; i < self->count; i++)
        bytes += strlen(self->v[i].name) + 1;
    for (size_t i = 0; i < self->hold_count; i++)
        bytes += sizeof *self->holds + strlen(self->holds[i].name) + strlen(self->holds[i].by) + 2;
    for (size_t i = 0; i <= self->mask; i++)
        bytes += 2 * (size_t)self->entries[i].cap * sizeof(uint64_t);
    return bytes;
}
