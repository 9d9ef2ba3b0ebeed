/* ctl_text.c - owns how sluicectl writes for people (see ctl_text.h). */
#include "ctl_text.h"

#include <stdarg.h>
#include <string.h>

/* ctl_text_put writes S for a terminal: control characters (C0, DEL and C1, which
 * some terminals obey inside UTF-8) as \xNN, so data never moves the cursor
 * or changes colours. NULL is "-". Returns the columns written, counting one
 * per UTF-8 character. */
size_t ctl_text_put(FILE *out, const char *s)
{
    if (s == NULL) {
        if (out != NULL)
            fputc('-', out);
        return 1;
    }
    size_t cols = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f || (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)) {
            unsigned code = *p == 0xc2 ? *++p : *p;
            if (out != NULL)
                fprintf(out, "\\x%02x", code);
            cols += 4;
            continue;
        }
        if (out != NULL)
            fputc(*p, out);
        if ((*p & 0xc0) != 0x80)
            cols++;
    }
    return cols;
}

/* ctl_text_put_lines writes S as ctl_text_put does, keeping its line breaks. */
void ctl_text_put_lines(FILE *out, const char *s)
{
    char line[512];
    while (s != NULL) {
        const char *nl = strchr(s, '\n');
        size_t n = nl != NULL ? (size_t)(nl - s) : strlen(s);
        snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line ? n : sizeof line - 1), s);
        ctl_text_put(out, line);
        if (nl != NULL)
            fputc('\n', out);
        s = nl != NULL ? nl + 1 : NULL;
    }
}

/* ctl_text_field writes one "label   value" line. */
void ctl_text_field(const char *label, const char *value)
{
    printf("%-20s", label);
    ctl_text_put(stdout, value);
    fputc('\n', stdout);
}

void ctl_text_fieldf(const char *label, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ctl_text_field(label, buf);
}

/* ctl_text_table prints ROWS rows of COLS cells (row-major; NULL cells are "-"),
 * indented, columns as wide as their widest cell. */
void ctl_text_table(size_t cols, const char *const *headers, size_t rows, const char **cells)
{
    size_t width[16] = { 0 };
    if (cols > sizeof width / sizeof width[0])
        cols = sizeof width / sizeof width[0];
    for (size_t c = 0; c < cols; c++) {
        width[c] = ctl_text_put(NULL, headers[c]);
        for (size_t r = 0; r < rows; r++) {
            size_t w = ctl_text_put(NULL, cells[r * cols + c]);
            width[c] = w > width[c] ? w : width[c];
        }
    }
    for (size_t r = 0; r <= rows; r++) {
        fputs("  ", stdout);
        for (size_t c = 0; c < cols; c++) {
            const char *cell = r == 0 ? headers[c] : cells[(r - 1) * cols + c];
            size_t w = ctl_text_put(stdout, cell);
            if (c + 1 < cols)
                printf("%*s", (int)(width[c] - w + 2), "");
        }
        fputc('\n', stdout);
    }
}

/* ctl_text_clock: minutes after local midnight (0..1440) as HH:MM. */
const char *ctl_text_clock(int minute, char *buf, size_t len)
{
    unsigned m = minute < 0 ? 0u : minute > 1440 ? 1440u : (unsigned)minute;
    snprintf(buf, len, "%02u:%02u", m / 60, m % 60);
    return buf;
}
