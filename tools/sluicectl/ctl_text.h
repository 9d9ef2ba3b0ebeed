/* ctl_text.h - owns how sluicectl writes for people: text that cannot move
 * the cursor, "label   value" lines, aligned tables, clock times. */
#ifndef SLUICE_CTL_TEXT_H
#define SLUICE_CTL_TEXT_H

#include <stddef.h>
#include <stdio.h>

/* ctl_text_put writes S for a terminal: control characters (C0, DEL and C1,
 * which some terminals obey inside UTF-8) as \xNN. NULL is "-". OUT NULL
 * writes nothing. Returns the columns written, one per UTF-8 character. */
size_t ctl_text_put(FILE *out, const char *s);
/* ctl_text_put_lines writes S as ctl_text_put does, keeping its line breaks. */
void ctl_text_put_lines(FILE *out, const char *s);
/* ctl_text_field writes one "label   value" line to stdout. */
void ctl_text_field(const char *label, const char *value);
void ctl_text_fieldf(const char *label, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* ctl_text_table prints ROWS rows of COLS cells (row-major; NULL cells are
 * "-"), indented, columns as wide as their widest cell. */
void ctl_text_table(size_t cols, const char *const *headers, size_t rows, const char **cells);
/* ctl_text_clock: minutes after local midnight (0..1440) as HH:MM in BUF. */
const char *ctl_text_clock(int minute, char *buf, size_t len);

#endif
