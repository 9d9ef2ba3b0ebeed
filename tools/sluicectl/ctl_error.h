/* ctl_error.h - owns what sluicectl says went wrong: a line on stderr for
 * people, and, with --json, the same as one JSON object on stdout so that a
 * script reading the answer gets one whatever happened:
 *   {"error":{"exit":1,"reason":"not_found","message":"no order x in ..."}}
 * The exit status is the same either way. One run, one thread: the last
 * error said is the one kept. */
#ifndef SLUICE_CTL_ERROR_H
#define SLUICE_CTL_ERROR_H

#include <stdio.h>

/* ctl_error writes "sluicectl: " and the message to stderr (control
 * characters shown as \xNN, line breaks kept) and keeps it. */
void ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ctl_error_reason: the word for exit status RC ("not_found", "usage",
 * "postgresql_unreachable", ...); NULL for 0 and for statuses that come
 * with an answer of their own (reconcile's 8 and 9). */
const char *ctl_error_reason(int rc);

/* ctl_error_json writes the kept error as the JSON object above, with exit
 * status RC, and a newline, to OUT. */
void ctl_error_json(FILE *out, int rc);

#endif
