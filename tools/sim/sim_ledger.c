/* sim_ledger.c - owns sluice-sim's ledger file and the two-live-riders check. */
#include "sim_ledger.h"

#include "log.h"
#include "sim_map.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define LEDGER_FIELDS 7
#define LEDGER_INFO_MAX 256

struct sim_ledger {
    FILE *file;
    char *path;
    bool failed;               /* a write failed: said once */
};

/* ---- writing ---- */

sim_ledger_t *sim_ledger_open(const char *path, const char *platform, uint64_t now_ms)
{
    sim_ledger_t *l = calloc(1, sizeof *l);
    if (!l || !(l->path = strdup(path)))
        goto fail;
    l->file = fopen(path, "a");
    if (!l->file) {
        log_error("failed to open ledger %s: %s", path, strerror(errno));
        goto fail;
    }
    bool fresh = ftell(l->file) == 0;
    if ((fresh && fprintf(l->file, "# sluice-sim ledger v1\n"
                                   "# at_ms\tevent\tkey\torder_id\trider\tfee_cents\tinfo\n") < 0) ||
        fprintf(l->file, "# started platform=%s at_ms=%" PRIu64 "\n", platform, now_ms) < 0 ||
        fflush(l->file) != 0) {
        log_error("failed to write ledger %s: %s", path, strerror(errno));
        goto fail;
    }
    return l;
fail:
    sim_ledger_close(&l);
    return NULL;
}

void sim_ledger_close(sim_ledger_t **self)
{
    if (!self || !*self)
        return;
    sim_ledger_t *l = *self;
    if (l->file && fclose(l->file) != 0)
        log_error("failed to close ledger %s: %s", l->path, strerror(errno));
    free(l->path);
    free(l);
    *self = NULL;
}

static const char *s_field(const char *s)
{
    return s && *s ? s : "-";
}

/* s_clean copies S into BUF with tabs, newlines and other control bytes as
 * spaces, so a line always has its seven fields. */
static const char *s_clean(const char *s, char *buf, size_t len)
{
    size_t i = 0;
    for (; s && s[i] && i + 1 < len; i++)
        buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];
    buf[i] = '\0';
    return s_field(buf);
}

bool sim_ledger_append(sim_ledger_t *l, uint64_t at_ms, const char *event, const char *key,
                       const char *order_id, const char *rider, uint32_t fee_cents,
                       const char *info)
{
    char clean[LEDGER_INFO_MAX];
    if (fprintf(l->file, "%" PRIu64 "\t%s\t%s\t%s\t%s\t%" PRIu32 "\t%s\n", at_ms, event,
                s_field(key), s_field(order_id), s_field(rider), fee_cents,
                s_clean(info, clean, sizeof clean)) < 0 ||
        fflush(l->file) != 0) {
        if (!l->failed)
            log_error("failed to write ledger %s: %s", l->path, strerror(errno));
        l->failed = true;
        return false;
    }
    return true;
}

/* ---- checking ---- */

enum entry_kind { ENTRY_END, ENTRY_DISPATCH, ENTRY_OTHER };

typedef struct entry {
    uint64_t at_ms;
    enum entry_kind kind;      /* ends sort before dispatches at the same ms */
    uint32_t file;
    uint64_t line;             /* keeps each file's own order at equal times */
    char *key, *order_id;      /* point into the owning line buffer */
} entry_t;

typedef struct check {
    entry_t *entries;
    char **lines;              /* owned line buffers, one per entry */
    size_t count, cap;
    const char *const *paths;
    FILE *out;
} check_t;

/* s_file_cmp orders one file's entries by time, keeping the file's own
 * order at equal times (a dispatch and its cancel in the same millisecond). */
static int s_file_cmp(const void *pa, const void *pb)
{
    const entry_t *a = pa, *b = pb;
    if (a->file != b->file)
        return a->file < b->file ? -1 : 1;
    if (a->at_ms != b->at_ms)
        return a->at_ms < b->at_ms ? -1 : 1;
    return a->line < b->line ? -1 : a->line > b->line;
}

/* s_head_before: which of two files' next entries comes first. Across files
 * at the same millisecond an end goes first: sluiced moves an order on only
 * after one platform's answer, which that platform wrote before answering. */
static bool s_head_before(const entry_t *a, const entry_t *b)
{
    if (a->at_ms != b->at_ms)
        return a->at_ms < b->at_ms;
    if (a->kind != b->kind)
        return a->kind < b->kind;
    return a->file < b->file;
}

/* s_merge puts the entries in replay order: each file in its own order,
 * the files merged by time. False when out of memory. */
static bool s_merge(check_t *c, uint32_t files)
{
    qsort(c->entries, c->count, sizeof *c->entries, s_file_cmp);
    size_t *head = calloc(files + 1, sizeof *head);
    entry_t *merged = malloc((c->count + 1) * sizeof *merged);
    if (!head || !merged) {
        free(head);
        free(merged);
        return false;
    }
    /* head[f]..head[f + 1]: file f's entries, then its next one. */
    size_t *end = head + 1;
    for (size_t i = 0; i < c->count; i++)
        end[c->entries[i].file]++;
    for (uint32_t f = 1; f < files; f++)
        end[f] += end[f - 1];
    size_t *next = calloc(files + 1, sizeof *next);
    if (!next) {
        free(head);
        free(merged);
        return false;
    }
    for (uint32_t f = 0; f < files; f++)
        next[f] = f == 0 ? 0 : end[f - 1];
    for (size_t out = 0; out < c->count; out++) {
        int best = -1;
        for (uint32_t f = 0; f < files; f++)
            if (next[f] < end[f] &&
                (best < 0 || s_head_before(&c->entries[next[f]], &c->entries[next[best]])))
                best = (int)f;
        merged[out] = c->entries[next[best]++];
    }
    free(next);
    free(head);
    free(c->entries);
    c->entries = merged;
    return true;
}

static enum entry_kind s_kind(const char *event)
{
    if (strcmp(event, "dispatch") == 0)
        return ENTRY_DISPATCH;
    if (strcmp(event, "delivered") == 0 || strcmp(event, "cancelled") == 0)
        return ENTRY_END;
    return ENTRY_OTHER;
}

/* s_parse splits LINE (tabs to NULs, in place) into an entry; false when it
 * does not have the seven fields with a numeric time. */
static bool s_parse(char *line, entry_t *e)
{
    char *field[LEDGER_FIELDS];
    size_t n = 0;
    for (char *save = NULL, *tok = strtok_r(line, "\t\n", &save); tok && n < LEDGER_FIELDS;
         tok = strtok_r(NULL, "\t\n", &save))
        field[n++] = tok;
    if (n != LEDGER_FIELDS)
        return false;
    char *end = NULL;
    errno = 0;
    e->at_ms = strtoull(field[0], &end, 10);
    if (errno || end == field[0] || *end)
        return false;
    e->kind = s_kind(field[1]);
    e->key = field[2];
    e->order_id = field[3];
    return true;
}

static bool s_add(check_t *c, char *line, const entry_t *e)
{
    if (c->count == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 1024;
        entry_t *entries = realloc(c->entries, cap * sizeof *entries);
        if (entries)
            c->entries = entries;
        char **lines = realloc(c->lines, cap * sizeof *lines);
        if (lines)
            c->lines = lines;
        if (!entries || !lines)
            return false;
        c->cap = cap;
    }
    c->entries[c->count] = *e;
    c->lines[c->count++] = line;
    return true;
}

/* s_read_file adds every dispatch and end line of file F. */
static bool s_read_file(check_t *c, uint32_t f)
{
    FILE *in = fopen(c->paths[f], "r");
    if (!in) {
        fprintf(c->out, "%s: %s\n", c->paths[f], strerror(errno));
        return false;
    }
    bool ok = true;
    char *buf = NULL;
    size_t cap = 0;
    uint64_t lineno = 0;
    while (ok && getline(&buf, &cap, in) != -1) {
        lineno++;
        if (buf[0] == '#' || buf[0] == '\n')
            continue;
        char *line = strdup(buf);
        entry_t e = {.file = f, .line = lineno};
        if (!line || !s_parse(line, &e)) {
            fprintf(c->out, "%s:%" PRIu64 ": %s\n", c->paths[f], lineno,
                    line ? "not a ledger line" : "out of memory");
            free(line);
            ok = false;
        } else if (e.kind == ENTRY_OTHER) {
            free(line);
        } else if (!s_add(c, line, &e)) {
            fprintf(c->out, "%s: out of memory\n", c->paths[f]);
            free(line);
            ok = false;
        }
    }
    free(buf);
    fclose(in);
    return ok;
}

/* Per order: how many of its keys are live, and the last one dispatched. */
typedef struct order_state {
    uint32_t live;
    size_t last;               /* entry index of its latest dispatch */
    bool reported;
} order_state_t;

/* s_walk replays the merged entries; returns the number of orders that had
 * two live dispatches at once, or -1 when out of memory. */
static long s_walk(check_t *c)
{
    sim_map_t keys = {0}, orders = {0};  /* "file:key" -> entry+1 while live; order -> state */
    order_state_t *states = calloc(c->count + 1, sizeof *states);
    long bad = -1;
    if (!states)
        goto done;
    bad = 0;
    uint32_t next_state = 0;
    for (size_t i = 0; i < c->count && bad >= 0; i++) {
        const entry_t *e = &c->entries[i];
        char fk[32 + 2 * 65];
        snprintf(fk, sizeof fk, "%" PRIu32 ":%s", e->file, e->key);
        uint32_t live = 0, o = 0;
        (void)sim_map_get(&keys, fk, &live);
        if (!sim_map_get(&orders, e->order_id, &o)) {
            o = next_state++;
            if (!sim_map_put(&orders, e->order_id, o))
                bad = -1;
        }
        order_state_t *st = &states[o];
        if (bad < 0)
            break;
        if (e->kind == ENTRY_DISPATCH && !live) {
            if (st->live > 0) {
                const entry_t *prev = &c->entries[st->last];
                fprintf(c->out, "order %s: key %s (%s) dispatched at %" PRIu64
                        " while key %s (%s) was live\n", e->order_id, e->key, c->paths[e->file],
                        e->at_ms, prev->key, c->paths[prev->file]);
                bad += !st->reported;
                st->reported = true;
            }
            st->live++;
            st->last = i;
            if (!sim_map_put(&keys, fk, (uint32_t)(i + 1)))
                bad = -1;
        } else if (e->kind == ENTRY_END && live) {
            st->live--;
            if (!sim_map_put(&keys, fk, 0))
                bad = -1;
        }
    }
    if (bad < 0)
        fprintf(c->out, "out of memory\n");
done:
    free(states);
    sim_map_free(&keys);
    sim_map_free(&orders);
    return bad;
}

long sim_ledger_check(const char *const *paths, size_t n, FILE *out)
{
    check_t c = {.paths = paths, .out = out};
    long bad = -1;
    for (uint32_t f = 0; f < n; f++)
        if (!s_read_file(&c, f))
            goto done;
    if (!s_merge(&c, (uint32_t)n)) {
        fprintf(out, "out of memory\n");
        goto done;
    }
    bad = s_walk(&c);
done:
    for (size_t i = 0; i < c.count; i++)
        free(c.lines[i]);
    free(c.lines);
    free(c.entries);
    return bad;
}
