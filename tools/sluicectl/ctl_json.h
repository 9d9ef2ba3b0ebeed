/* ctl_json.h - owns sluicectl's JSON output: a small writer that places the
 * commas and colons and escapes strings, so every --json answer is one valid
 * object on one line. No parsing, no library.
 *
 *   ctl_json_t j;
 *   ctl_json_init(&j, stdout);
 *   ctl_json_begin_object(&j);
 *   ctl_json_key(&j, "state"); ctl_json_string(&j, "ACCEPTED");
 *   ctl_json_end_object(&j);          // {"state":"ACCEPTED"}
 *
 * Values given as text (numbers, JSON from PostgreSQL) are written as they
 * are: the caller vouches that they are valid JSON. NULL text is null. */
#ifndef SLUICE_CTL_JSON_H
#define SLUICE_CTL_JSON_H

#include <stdbool.h>
#include <stdio.h>

#define CTL_JSON_MAX_DEPTH 16

typedef struct ctl_json {
    FILE *out;
    int depth;
    bool need_comma[CTL_JSON_MAX_DEPTH]; /* per open container: a value was written */
    bool after_key;                      /* the next value follows a key */
} ctl_json_t;

void ctl_json_init(ctl_json_t *j, FILE *out);

void ctl_json_begin_object(ctl_json_t *j);
void ctl_json_end_object(ctl_json_t *j);
void ctl_json_begin_array(ctl_json_t *j);
void ctl_json_end_array(ctl_json_t *j);
void ctl_json_key(ctl_json_t *j, const char *key);

void ctl_json_string(ctl_json_t *j, const char *s);       /* NULL: null */
void ctl_json_int(ctl_json_t *j, long long v);
/* ctl_json_double writes V with 6 significant digits; NaN and infinities,
 * which JSON has no word for, as null. */
void ctl_json_double(ctl_json_t *j, double v);
void ctl_json_bool(ctl_json_t *j, bool v);
void ctl_json_null(ctl_json_t *j);
/* ctl_json_raw writes JSON text as it is (a number PostgreSQL printed, a jsonb
 * value); NULL: null. */
void ctl_json_raw(ctl_json_t *j, const char *json);

/* ctl_json_escape writes S as a JSON string literal, quotes included: " and
 * \ escaped, control characters as \n, \t ... or \u00XX, everything else
 * (UTF-8 included) as it is. */
void ctl_json_escape(FILE *out, const char *s);

#endif
