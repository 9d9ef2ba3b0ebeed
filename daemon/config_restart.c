/* config_restart.c - owns the reload's restart check: which keys marked
 * restart in the key table differ between the running config and a
 * reloaded one, told with both values (a connection string's password
 * masked), walking the table's rows by kind and offset. */
#include "config_table.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define VALUE_MAX 256    /* characters of a string shown; longer ones end in "..." */
#define SHOWN_MAX 1024   /* a value as shown, lists included */
#define TAIL_ROOM 80     /* kept for the "... and N more" line */

/* A bounded text: what does not fit is cut, never overrun; LEN counts what
 * was asked for, so LEN >= SIZE means it was cut. */
struct out {
    char *buf;
    size_t size, len;
};

static void s_put(struct out *o, const char *s, size_t n)
{
    if (o->len < o->size) {
        size_t room = o->size - o->len - 1;
        memcpy(o->buf + o->len, s, n < room ? n : room);
        o->buf[o->len + (n < room ? n : room)] = '\0';
    }
    o->len += n;
}

__attribute__((format(printf, 2, 3)))
static void s_putf(struct out *o, const char *fmt, ...)
{
    char tmp[SHOWN_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        s_put(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* ------------------------------------------------------------ passwords */

/* s_mask_uri copies the postgres:// URI V to O with the password of its user
 * info and of a password= parameter replaced by ***. */
static void s_mask_uri(struct out *o, const char *v)
{
    const char *rest = strstr(v, "://") + 3;
    const char *host_end = rest + strcspn(rest, "/?#");
    const char *at = memrchr(rest, '@', (size_t)(host_end - rest));
    const char *colon = at ? memchr(rest, ':', (size_t)(at - rest)) : NULL;
    const char *p = v;
    if (colon) {
        s_put(o, p, (size_t)(colon + 1 - p));
        s_put(o, "***", 3);
        p = at;
    }
    const char *query = strchr(p, '?');
    if (!query) {
        s_put(o, p, strlen(p));
        return;
    }
    s_put(o, p, (size_t)(query + 1 - p));
    for (p = query + 1; *p;) {
        size_t n = strcspn(p, "&#");
        if (n >= 9 && strncmp(p, "password=", 9) == 0) {
            s_put(o, p, 9);
            s_put(o, "***", 3);
        } else {
            s_put(o, p, n);
        }
        p += n;
        if (*p == '#') {
            s_put(o, p, strlen(p));
            return;
        }
        if (*p)
            s_put(o, p++, 1);
    }
}

/* s_mask_password copies V to O with any password in it replaced by ***:
 * in a libpq "keyword = value" string the value of password (quoted or
 * not, as libpq reads it), in a postgres:// URI the user info's password
 * and a password= parameter. Other strings (endpoints, paths) hold no such
 * keyword and come out as they are. */
static void s_mask_password(struct out *o, const char *v)
{
    if (strncmp(v, "postgresql://", 13) == 0 || strncmp(v, "postgres://", 11) == 0) {
        s_mask_uri(o, v);
        return;
    }
    const char *p = v;
    while (*p) {
        const char *start = p;
        while (isspace((unsigned char)*p))
            p++;
        const char *key = p;
        while (*p && *p != '=' && !isspace((unsigned char)*p))
            p++;
        bool password = p - key == 8 && strncmp(key, "password", 8) == 0;
        while (isspace((unsigned char)*p))
            p++;
        if (*p != '=') { /* not keyword = value: leave it be */
            s_put(o, start, (size_t)(p - start));
            continue;
        }
        p++;
        while (isspace((unsigned char)*p))
            p++;
        s_put(o, start, (size_t)(p - start));
        const char *value = p;
        bool quoted = *p == '\'';
        for (p += quoted; *p && (quoted ? *p != '\'' : !isspace((unsigned char)*p)); p++)
            if (*p == '\\' && p[1])
                p++;
        p += quoted && *p == '\'';
        if (password)
            s_put(o, quoted ? "'***'" : "***", quoted ? 5 : 3);
        else
            s_put(o, value, (size_t)(p - value));
    }
}

/* --------------------------------------------------------------- values */

/* s_quote writes S as a quoted string, a password masked, control
 * characters as '?', at most VALUE_MAX characters of it ("..." after). */
static void s_quote(struct out *o, const char *s)
{
    char masked[VALUE_MAX + 2] = ""; /* enough to tell whether there is more */
    struct out m = { masked, sizeof masked, 0 };
    s_mask_password(&m, s ? s : "");
    s_put(o, "\"", 1);
    size_t n = 0;
    for (const char *c = masked; *c && n < VALUE_MAX; c++, n++)
        s_put(o, (unsigned char)*c < ' ' ? "?" : c, 1);
    if (n == VALUE_MAX && masked[n])
        s_put(o, "...", 3);
    s_put(o, "\"", 1);
}

static void s_clock(struct out *o, int minute)
{
    s_putf(o, "%02d:%02d", minute / 60, minute % 60);
}

static const char *s_name(const void *array, size_t count, size_t stride, size_t name_at, int i)
{
    if (i < 0 || (size_t)i >= count)
        return NULL;
    return *(char *const *)(const void *)((const char *)array + (size_t)i * stride + name_at);
}

static void s_show(struct out *o, const struct key_row *row, const config_t *cfg, const char *field);

/* s_show_group writes BASE, a struct of scope SID, as libconfig's group. */
static void s_show_group(struct out *o, enum scope_id sid, const config_t *cfg, const char *base)
{
    const struct scope *sc = &config_scopes[sid];
    s_put(o, "{ ", 2);
    for (size_t i = 0; i < sc->row_count; i++) {
        s_putf(o, "%s = ", sc->rows[i].path + sc->prefix_len);
        s_show(o, &sc->rows[i], cfg, base + sc->rows[i].offset);
        s_put(o, "; ", 2);
    }
    s_put(o, "}", 1);
}

/* s_show writes the value FIELD of ROW, as in the file; CFG is the config
 * it belongs to, for the names that indexes stand for. */
static void s_show(struct out *o, const struct key_row *row, const config_t *cfg, const char *field)
{
    int n[2];
    double d[2];
    switch (row->kind) {
    case K_INT:
        memcpy(n, field, sizeof n[0]);
        s_putf(o, "%d", n[0]);
        break;
    case K_ID: {
        uint32_t id;
        memcpy(&id, field, sizeof id);
        s_putf(o, "%" PRIu32, id);
        break;
    }
    case K_DOUBLE:
        memcpy(d, field, sizeof d[0]);
        s_putf(o, "%.15g", d[0]);
        break;
    case K_BOOL: {
        bool b;
        memcpy(&b, field, sizeof b);
        s_putf(o, "%s", b ? "true" : "false");
        break;
    }
    case K_STRING:
    case K_ADAPTER:
    case K_TIMEZONE: {
        const char *s;
        memcpy(&s, field, sizeof s);
        s_quote(o, s);
        break;
    }
    case K_BRAND:
        memcpy(n, field, sizeof n[0]);
        s_quote(o, s_name(cfg->brands, cfg->brand_count, sizeof *cfg->brands,
                          offsetof(config_brand_t, name), n[0]));
        break;
    case K_HOURS:
        memcpy(n, field, sizeof n);
        s_put(o, "\"", 1);
        s_clock(o, n[0]);
        s_put(o, "-", 1);
        s_clock(o, n[1]);
        s_put(o, "\"", 1);
        break;
    case K_CLOCK:
        memcpy(n, field, sizeof n[0]);
        s_put(o, "\"", 1);
        s_clock(o, n[0]);
        s_put(o, "\"", 1);
        break;
    case K_LOCATION:
        memcpy(d, field, sizeof d);
        s_putf(o, "[%.15g, %.15g]", d[0], d[1]);
        break;
    case K_PLATFORMS: {
        int count, v[CONFIG_MAX_STORE_PLATFORMS];
        memcpy(&count, field, sizeof count);
        memcpy(v, field + sizeof count, sizeof v);
        s_put(o, "[", 1);
        for (int i = 0; i < count && i < CONFIG_MAX_STORE_PLATFORMS; i++) {
            if (i)
                s_put(o, ", ", 2);
            s_quote(o, s_name(cfg->platforms, cfg->platform_count, sizeof *cfg->platforms,
                              offsetof(config_platform_t, name), v[i]));
        }
        s_put(o, "]", 1);
        break;
    }
    case K_STAFFING: {
        int count;
        memcpy(&count, field, sizeof count);
        const char *windows = field + sizeof count;
        s_put(o, "(", 1);
        for (int i = 0; i < count && i < CONFIG_MAX_STAFFING; i++) {
            s_put(o, i ? ", " : " ", i ? 2 : 1);
            s_show_group(o, S_STAFFING, cfg, windows + (size_t)i * sizeof(config_staffing_t));
        }
        if (count > 0)
            s_put(o, " ", 1);
        s_put(o, ")", 1);
        break;
    }
    case K_INSTANT: {
        int64_t ms;
        memcpy(&ms, field, sizeof ms);
        time_t t = (time_t)(ms / 1000);
        struct tm tm;
        char text[32];
        if (ms && gmtime_r(&t, &tm) && strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm))
            s_quote(o, text);
        else
            s_quote(o, "");
        break;
    }
    case K_CAMPAIGN:
        memcpy(n, field, sizeof n[0]);
        s_quote(o, s_name(cfg->campaigns, cfg->campaign_count, sizeof *cfg->campaigns,
                          offsetof(config_campaign_t, name), n[0]));
        break;
    case K_SHARD:
        memcpy(n, field, sizeof n[0]);
        s_quote(o, s_name(cfg->shards, cfg->shard_count, sizeof *cfg->shards,
                          offsetof(config_shard_t, name), n[0]));
        break;
    case K_ENDPOINTS: {
        const char *const *v = (const char *const *)(const void *)field;
        s_put(o, "[", 1);
        for (int i = 0; i < CONFIG_MAX_SHARD_ENDPOINTS && v[i]; i++) {
            if (i)
                s_put(o, ", ", 2);
            s_quote(o, v[i]);
        }
        s_put(o, "]", 1);
        break;
    }
    case K_CAMPAIGNS: {
        int count;
        memcpy(&count, field, sizeof count);
        const char *shares = field + CAMPAIGNS_ARRAY_AT;
        s_put(o, "(", 1);
        for (int i = 0; i < count && i < CONFIG_MAX_STORE_CAMPAIGNS; i++) {
            s_put(o, i ? ", " : " ", i ? 2 : 1);
            s_show_group(o, S_STORE_CAMPAIGN, cfg,
                         shares + (size_t)i * sizeof(config_store_campaign_t));
        }
        if (count > 0)
            s_put(o, " ", 1);
        s_put(o, ")", 1);
        break;
    }
    case K_COUNT:
        break;
    }
}

/* s_differs: do the values A (of config CA) and B (of CB) of ROW differ?
 * Strings by their text, indexes by the names they stand for, the rest by
 * their bytes (every kind's fields are ints, doubles and bools, no
 * padding). */
static bool s_differs(const struct key_row *row, const config_t *ca, const char *a,
                      const config_t *cb, const char *b)
{
    switch (row->kind) {
    case K_STRING:
    case K_ADAPTER:
    case K_TIMEZONE: {
        const char *x, *y;
        memcpy(&x, a, sizeof x);
        memcpy(&y, b, sizeof y);
        return strcmp(x ? x : "", y ? y : "") != 0;
    }
    case K_INT:
    case K_CLOCK:
        return memcmp(a, b, sizeof(int)) != 0;
    case K_ID:
        return memcmp(a, b, sizeof(uint32_t)) != 0;
    case K_DOUBLE:
        return memcmp(a, b, sizeof(double)) != 0;
    case K_BOOL:
        return memcmp(a, b, sizeof(bool)) != 0;
    case K_HOURS:
        return memcmp(a, b, 2 * sizeof(int)) != 0;
    case K_LOCATION:
        return memcmp(a, b, 2 * sizeof(double)) != 0;
    case K_INSTANT:
        return memcmp(a, b, sizeof(int64_t)) != 0;
    case K_STAFFING: {
        int count;
        memcpy(&count, a, sizeof count);
        count = count < 0 ? 0 : count > CONFIG_MAX_STAFFING ? CONFIG_MAX_STAFFING : count;
        return memcmp(a, b, sizeof count) != 0 ||
               memcmp(a + sizeof count, b + sizeof count,
                      (size_t)count * sizeof(config_staffing_t)) != 0;
    }
    case K_BRAND:
    case K_PLATFORMS:
    case K_CAMPAIGN:
    case K_CAMPAIGNS:
    case K_SHARD:
    case K_ENDPOINTS:
    case K_COUNT:
        break;
    }
    /* what indexes stand for: their names, as shown */
    char x[SHOWN_MAX], y[SHOWN_MAX];
    struct out ox = { x, sizeof x, 0 }, oy = { y, sizeof y, 0 };
    s_show(&ox, row, ca, a);
    s_show(&oy, row, cb, b);
    return strcmp(x, y) != 0;
}

/* ---------------------------------------------------------------- lines */

/* What config_restart_changes writes: whole lines, then how many did not
 * fit. */
struct why {
    struct out out;
    size_t changes, left_out;
};

static void s_line(struct why *w, const char *key, const char *from, const char *to,
                   const char *note)
{
    char line[2 * SHOWN_MAX + 256];
    int n = snprintf(line, sizeof line,
                     "%s: %s -> %s%s cannot change on reload; restart sluiced to apply it\n", key,
                     from, to, note);
    w->changes++;
    /* once one is left out, so are those after it: the lines keep table order */
    if (w->left_out || n < 0 || (size_t)n >= sizeof line ||
        w->out.len + (size_t)n + TAIL_ROOM >= w->out.size) {
        w->left_out++;
        return;
    }
    s_put(&w->out, line, (size_t)n);
}

/* s_row compares ROW of the structs A (of CA) and B (of CB), KEY naming it. */
static void s_row(struct why *w, const struct key_row *row, const char *key, const config_t *ca,
                  const char *a, const config_t *cb, const char *b)
{
    if (!s_differs(row, ca, a, cb, b))
        return;
    char x[SHOWN_MAX], y[SHOWN_MAX];
    struct out ox = { x, sizeof x, 0 }, oy = { y, sizeof y, 0 };
    s_show(&ox, row, ca, a);
    s_show(&oy, row, cb, b);
    const char *note = "";
    if (strcmp(x, y) == 0) /* the difference is in what is not shown */
        note = strstr(x, "***") ? " (the password differs)" : " (they differ further on)";
    s_line(w, key, x, y, note);
}

/* s_group compares the restart rows of scope SC in the structs A and B,
 * element INDEX of its list (-1: a group). */
static void s_group(struct why *w, const struct scope *sc, const config_t *ca, const char *a,
                    const config_t *cb, const char *b, long index)
{
    for (size_t i = 0; i < sc->row_count; i++) {
        const struct key_row *row = &sc->rows[i];
        if (row->apply != APPLY_RESTART)
            continue;
        char key[160];
        if (index < 0)
            snprintf(key, sizeof key, "%s", row->path);
        else
            snprintf(key, sizeof key, "%s[%ld].%s", sc->key, index, row->path + sc->prefix_len);
        s_row(w, row, key, ca, a + row->offset, cb, b + row->offset);
    }
}

/* s_names writes the names of a list's COUNT elements, ["a", "b"]. */
static void s_names(struct out *o, const struct scope *sc, const char *array, size_t count)
{
    s_put(o, "[", 1);
    for (size_t i = 0; i < count; i++) {
        if (i)
            s_put(o, ", ", 2);
        s_quote(o, s_name(array, count, sc->size, (size_t)sc->name_at, (int)i));
    }
    s_put(o, "]", 1);
}

/* s_list compares the list of scope SC: its elements are matched by index,
 * so when the list grew, shrank, or its names moved or changed, that is the
 * one thing said (both lists of names, or counts for a list without). */
static void s_list(struct why *w, const struct scope *sc, const config_t *ca, const config_t *cb)
{
    const char *a, *b;
    size_t na, nb;
    memcpy(&a, (const char *)ca + sc->at, sizeof a);
    memcpy(&b, (const char *)cb + sc->at, sizeof b);
    memcpy(&na, (const char *)ca + sc->count_at, sizeof na);
    memcpy(&nb, (const char *)cb + sc->count_at, sizeof nb);
    bool same = na == nb;
    for (size_t i = 0; same && sc->name_at >= 0 && i < na; i++) {
        const char *x = s_name(a, na, sc->size, (size_t)sc->name_at, (int)i);
        const char *y = s_name(b, nb, sc->size, (size_t)sc->name_at, (int)i);
        same = strcmp(x ? x : "", y ? y : "") == 0;
    }
    if (!same) {
        char x[SHOWN_MAX], y[SHOWN_MAX];
        struct out ox = { x, sizeof x, 0 }, oy = { y, sizeof y, 0 };
        if (sc->name_at >= 0) {
            s_names(&ox, sc, a, na);
            s_names(&oy, sc, b, nb);
        } else {
            s_putf(&ox, "%zu entries", na);
            s_putf(&oy, "%zu entries", nb);
        }
        s_line(w, sc->key, x, y, "");
        return;
    }
    for (size_t i = 0; i < na; i++)
        s_group(w, sc, ca, a + i * sc->size, cb, b + i * sc->size, (long)i);
}

static bool s_has_restart(const struct scope *sc)
{
    for (size_t i = 0; i < sc->row_count; i++)
        if (sc->rows[i].apply == APPLY_RESTART)
            return true;
    return false;
}

bool config_restart_changes(const config_t *cur, const config_t *next, char *why, size_t len)
{
    struct why w = { { why, len, 0 }, 0, 0 };
    if (len)
        why[0] = '\0';
    for (size_t sid = 0; sid < S_COUNT; sid++) {
        const struct scope *sc = &config_scopes[sid];
        if (!sc->key || !s_has_restart(sc)) /* staffing goes with its store row */
            continue;
        if (sc->list)
            s_list(&w, sc, cur, next);
        else
            s_group(&w, sc, cur, (const char *)cur + sc->at, next, (const char *)next + sc->at, -1);
    }
    if (w.left_out)
        s_putf(&w.out, "... and %zu more that cannot change on reload\n", w.left_out);
    return w.changes > 0;
}
