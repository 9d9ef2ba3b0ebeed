/* config_report.c - owns the config loader's messages: the text buffer,
 * "FILE:LINE: key: problem" with the value quoted, "did you mean", and the
 * collected text that config_load hands its caller. */
#include "config_internal.h"

#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* -------------------------------------------------------------- the text */

__attribute__((format(printf, 2, 0)))
static void s_text_vadd(struct text *t, const char *fmt, va_list ap)
{
    if (t->oom)
        return;
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, copy);
    va_end(copy);
    if (n < 0) {
        t->oom = true;
        return;
    }
    if (t->len + (size_t)n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + (size_t)n + 1)
            cap *= 2;
        char *buf = realloc(t->buf, cap);
        if (!buf) {
            t->oom = true;
            return;
        }
        t->buf = buf;
        t->cap = cap;
        vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    }
    t->len += (size_t)n;
}

__attribute__((format(printf, 2, 3)))
void config_text_add(struct text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_text_vadd(t, fmt, ap);
    va_end(ap);
}

/* config_text_mem appends LEN bytes of MEM to T. */
void config_text_mem(struct text *t, const char *mem, size_t len)
{
    if (t->oom)
        return;
    if (t->len + len + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + len + 1)
            cap *= 2;
        char *buf = realloc(t->buf, cap);
        if (!buf) {
            t->oom = true;
            return;
        }
        t->buf = buf;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, mem, len);
    t->len += len;
    t->buf[t->len] = '\0';
}

/* s_text_ctx writes CTX as "stores[].staffing[1]", leaving the top-level
 * index out: *SPLIT gets where it goes and *INDEX the index (see struct msg). */
static void s_text_ctx(struct text *t, const struct ctx *ctx, size_t *split, long *index)
{
    if (!ctx)
        return;
    if (ctx->parent) {
        s_text_ctx(t, ctx->parent, split, index);
        config_text_add(t, ".");
    }
    config_text_add(t, "%s", ctx->name);
    if (ctx->index >= 0 && !ctx->parent) {
        config_text_add(t, "[");
        *split = t->len;
        *index = ctx->index;
        config_text_add(t, "]");
    } else if (ctx->index >= 0) {
        config_text_add(t, "[%ld]", ctx->index);
    }
}

/* s_msg_add takes T's text as a message of P. */
static void s_msg_add(struct parser *p, struct text *t, size_t split, long index)
{
    if (t->oom || (p->msg_count == p->msg_cap && p->msg_count == SIZE_MAX / sizeof *p->msgs)) {
        free(t->buf);
        p->oom = true;
        return;
    }
    if (p->msg_count == p->msg_cap) {
        size_t cap = p->msg_cap ? 2 * p->msg_cap : 16;
        struct msg *msgs = realloc(p->msgs, cap * sizeof *msgs);
        if (!msgs) {
            free(t->buf);
            p->oom = true;
            return;
        }
        p->msgs = msgs;
        p->msg_cap = cap;
    }
    p->msgs[p->msg_count++] = (struct msg){ t->buf, split, index };
}

/* config_line is AT's line in its file. */
unsigned config_line(const struct parser *p, const setting_t *at)
{
    unsigned line = config_setting_source_line(at);
    if (line > 0 && !config_setting_source_file(at))
        line += p->line_offset;
    return line;
}

/* s_vreport adds "FILE:LINE: CTX.KEY: MESSAGE" (LINE 0: "FILE: ..."). */
__attribute__((format(printf, 6, 0)))
static void s_vreport(struct parser *p, const char *file, unsigned line, const struct ctx *ctx,
                      const char *key, const char *fmt, va_list ap)
{
    if (++p->error_count > ERRORS_MAX)
        return;
    struct text t = { 0 };
    size_t split = 0;
    long index = -1;
    if (line > 0)
        config_text_add(&t, "%s:%u: ", file, line);
    else
        config_text_add(&t, "%s: ", file);
    s_text_ctx(&t, ctx, &split, &index);
    if (key)
        config_text_add(&t, "%s%s", ctx ? "." : "", key);
    if (ctx || key)
        config_text_add(&t, ": ");
    s_text_vadd(&t, fmt, ap);
    config_text_add(&t, "\n");
    s_msg_add(p, &t, split, index);
}

/* config_report reports a problem at the setting AT (NULL: the file itself). */
__attribute__((format(printf, 5, 6)))
void config_report(struct parser *p, const setting_t *at, const struct ctx *ctx,
                   const char *key, const char *fmt, ...)
{
    char name[PATH_MAX];
    const char *file = config_file_name(p, at ? config_setting_source_file(at) : NULL, name,
                                        sizeof name);
    va_list ap;
    va_start(ap, fmt);
    s_vreport(p, file, at ? config_line(p, at) : 0, ctx, key, fmt, ap);
    va_end(ap);
}

/* config_report_at reports a problem at FILE (as shown) and LINE. */
__attribute__((format(printf, 6, 7)))
void config_report_at(struct parser *p, const char *file, unsigned line, const struct ctx *ctx,
                      const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_vreport(p, file, line, ctx, key, fmt, ap);
    va_end(ap);
}

/* config_show writes S as it would appear in the file, for "(got ...)". */
const char *config_show(const setting_t *s, char *buf, size_t size)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
        snprintf(buf, size, "%d", config_setting_get_int(s));
        break;
    case CONFIG_TYPE_INT64:
        snprintf(buf, size, "%lldL", config_setting_get_int64(s));
        break;
    case CONFIG_TYPE_FLOAT:
        snprintf(buf, size, "%g", config_setting_get_float(s));
        if (!strpbrk(buf, ".eni"))
            strncat(buf, ".0", size - strlen(buf) - 1);
        break;
    case CONFIG_TYPE_BOOL:
        snprintf(buf, size, "%s", config_setting_get_bool(s) ? "true" : "false");
        break;
    case CONFIG_TYPE_STRING: {
        const char *v = config_setting_get_string(s);
        size_t n = 0, max = size - 6; /* quotes, "...", NUL */
        buf[n++] = '"';
        for (; *v && n < max; v++)
            buf[n++] = (unsigned char)*v < ' ' ? '?' : *v;
        if (*v) {
            memcpy(buf + n, "...", 3);
            n += 3;
        }
        buf[n++] = '"';
        buf[n] = '\0';
        break;
    }
    case CONFIG_TYPE_GROUP:
        snprintf(buf, size, "a group { ... }");
        break;
    case CONFIG_TYPE_ARRAY:
        snprintf(buf, size, "an array [ ... ]");
        break;
    case CONFIG_TYPE_LIST:
        snprintf(buf, size, "a list ( ... )");
        break;
    default:
        snprintf(buf, size, "nothing");
        break;
    }
    return buf;
}

/* config_bad reports a problem with the value S of a slot, quoting the value. */
__attribute__((format(printf, 4, 5)))
void config_bad(struct parser *p, const struct slot *sl, const setting_t *s, const char *fmt, ...)
{
    char msg[256], got[SHOW_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    config_report(p, s, sl->ctx, sl->key, "%s (got %s)", msg, config_show(s, got, sizeof got));
}

/* s_distance is the edit distance of A and B (first 63 bytes). */
static size_t s_distance(const char *a, const char *b)
{
    size_t la = strnlen(a, 63), lb = strnlen(b, 63), row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* config_unknown reports an unknown key, suggesting the nearest known one among
 * the names valid in SECTION of scope SC (every scope's key when SC is NULL). */
void config_unknown(struct parser *p, const struct scope *sc, const char *section,
                    const setting_t *s, const struct ctx *ctx, const char *key)
{
    const char *name = config_setting_name(s);
    char best[64] = "", cand[64];
    size_t best_d = 4, seclen = strlen(section), len = strlen(name);
    size_t n = sc ? sc->row_count : S_COUNT;
    for (size_t i = 0; i < n; i++) {
        const char *rel;
        if (sc) {
            rel = sc->rows[i].path + sc->prefix_len;
            if (strncmp(rel, section, seclen) != 0)
                continue;
            rel += seclen;
        } else if (!(rel = config_scopes[i].key)) {
            continue;
        }
        snprintf(cand, sizeof cand, "%.*s", (int)strcspn(rel, "."), rel);
        size_t d = s_distance(name, cand);
        if (d < best_d && 2 * d <= len) { /* close, for its length */
            best_d = d;
            snprintf(best, sizeof best, "%s", cand);
        }
    }
    if (best[0])
        config_report(p, s, ctx, key, "unknown key (did you mean %s?)", best);
    else
        config_report(p, s, ctx, key, "unknown key");
}

/* config_member_or is GRP's member NAME, or GRP itself when it has none. */
const setting_t *config_member_or(const setting_t *grp, const char *name)
{
    const setting_t *s = grp ? config_setting_get_member(grp, name) : NULL;
    return s ? s : grp;
}

/* config_file_name: libconfig records an @include'd file by the name written in
 * the @include, which is relative to the include directory; text it read
 * from a string (FILE NULL) is P's file. */
const char *config_file_name(const struct parser *p, const char *file, char *buf, size_t size)
{
    const struct load *ld = p->load;
    if (!file)
        return p->file;
    if (strcmp(file, ld->path) == 0)
        return ld->path;
    if (file[0] == '/' || strcmp(ld->dir, ".") == 0)
        return file;
    snprintf(buf, size, "%s/%s", ld->dir, file);
    return buf;
}

/* config_duplicate reports AT, the KEY of a group, as a duplicate of WHAT, first
 * seen in the group FIRST. */
void config_duplicate(struct parser *p, const setting_t *at, const struct ctx *ctx,
                      const char *key, const char *what, const setting_t *first)
{
    char name[PATH_MAX];
    first = config_member_or(first, key);
    const char *file = config_file_name(p, config_setting_source_file(first), name, sizeof name);
    char here_buf[PATH_MAX];
    const char *here = config_file_name(p, config_setting_source_file(at), here_buf,
                                        sizeof here_buf);
    if (strcmp(file, here) == 0)
        config_report(p, at, ctx, key, "duplicate %s (first at line %u)", what,
                      config_line(p, first));
    else
        config_report(p, at, ctx, key, "duplicate %s (first at %s:%u)", what, file,
                      config_line(p, first));
}

/* -------------------------------------------------------- the messages */

/* config_msgs_take moves FROM's messages to TOP, after adding BASE to their
 * stores index. */
void config_msgs_take(struct parser *top, struct parser *from, size_t base)
{
    for (size_t i = 0; i < from->msg_count; i++) {
        struct msg m = from->msgs[i];
        from->msgs[i].text = NULL;
        if (m.index >= 0)
            m.index += (long)base;
        if (++top->error_count > ERRORS_MAX) {
            free(m.text);
            continue;
        }
        struct text t = { .buf = m.text };
        s_msg_add(top, &t, m.split, m.index);
    }
    top->error_count += from->error_count - from->msg_count;
    top->oom |= from->oom;
}

/* config_errors_take writes P's messages, each with its index. */
char *config_errors_take(struct parser *p)
{
    struct text t = { 0 };
    for (size_t i = 0; i < p->msg_count; i++) {
        const struct msg *m = &p->msgs[i];
        if (m->index < 0) {
            config_text_add(&t, "%s", m->text);
            continue;
        }
        config_text_mem(&t, m->text, m->split);
        config_text_add(&t, "%ld%s", m->index, m->text + m->split);
    }
    if (p->error_count > ERRORS_MAX)
        config_text_add(&t, "... and %zu more problems\n", p->error_count - ERRORS_MAX);
    if (t.oom || p->oom) {
        free(t.buf);
        return strdup("out of memory while reporting configuration problems\n");
    }
    return t.buf ? t.buf : strdup("");
}
