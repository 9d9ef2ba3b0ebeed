/* pgarray.c - owns PostgreSQL array literals. */
#include "pgarray.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool s_reserve(pgarray_t *a, size_t more)
{
    if (a->len + more + 2 <= a->cap)  /* room for the closing "}\0" too */
        return true;
    size_t cap = a->cap ? a->cap : 4096;
    while (cap < a->len + more + 2)
        cap *= 2;
    char *data = realloc(a->data, cap);
    if (!data)
        return false;
    a->data = data;
    a->cap = cap;
    return true;
}

bool pgarray_put_raw(pgarray_t *a, const char *text, size_t n)
{
    if (!s_reserve(a, n + 1))
        return false;
    a->data[a->len] = a->len == 0 ? '{' : ',';
    a->len++;
    memcpy(a->data + a->len, text, n);
    a->len += n;
    return true;
}

bool pgarray_put_text(pgarray_t *a, const char *text, bool nullable)
{
    if (nullable && (!text || !text[0]))
        return pgarray_put_raw(a, "NULL", 4);
    size_t n = text ? strlen(text) : 0;
    if (!s_reserve(a, 2 * n + 3))
        return false;
    a->data[a->len] = a->len == 0 ? '{' : ',';
    a->len++;
    a->data[a->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        if (text[i] == '"' || text[i] == '\\')
            a->data[a->len++] = '\\';
        a->data[a->len++] = text[i];
    }
    a->data[a->len++] = '"';
    return true;
}

bool pgarray_put_fmt(pgarray_t *a, const char *fmt, ...)
{
    char buf[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return n > 0 && (size_t)n < sizeof buf && pgarray_put_raw(a, buf, (size_t)n);
}

const char *pgarray_finish(pgarray_t *a)
{
    if (a->len == 0) {
        if (!s_reserve(a, 0))
            return NULL;
        a->data[a->len++] = '{';
    }
    /* s_reserve always left room for these two bytes. */
    a->data[a->len] = '}';
    a->data[a->len + 1] = '\0';
    return a->data;
}

void pgarray_reset(pgarray_t *a)
{
    a->len = 0;
}

void pgarray_free(pgarray_t *a)
{
    free(a->data);
    memset(a, 0, sizeof *a);
}
