/* ctl_json.h - owns sluicectl's JSON output: a small writer that places the
 * commas and colons and escapes strings, so every --json answer is one valid
 * object on one line, and writes the daemon's protobuf replies by walking
 * their descriptors. No parsing, no library.
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

#include <protobuf-c/protobuf-c.h>

#include <stdbool.h>
#include <stddef.h>
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
void ctl_json_uint(ctl_json_t *j, unsigned long long v);
/* ctl_json_double writes V with 6 significant digits; NaN and infinities,
 * which JSON has no word for, as null. */
void ctl_json_double(ctl_json_t *j, double v);
void ctl_json_bool(ctl_json_t *j, bool v);
void ctl_json_null(ctl_json_t *j);
/* ctl_json_raw writes JSON text as it is (a number PostgreSQL printed, a jsonb
 * value); NULL: null. */
void ctl_json_raw(ctl_json_t *j, const char *json);

/* ctl_json_message writes M as one object: every field of its descriptor in
 * field-number order under the field's name, as its type says (integers,
 * doubles as ctl_json_double, bools, strings, bytes as base64, enums by
 * their value's name); a message field recursively, null when not set;
 * repeated fields as arrays; of a oneof only the member that is set. */
void ctl_json_message(ctl_json_t *j, const ProtobufCMessage *m);

/* One member that ctl_json_fields writes: the proto field NAME, under KEY
 * in the JSON (NULL: the field's own name). */
typedef struct ctl_json_field {
    const char *name;
    const char *key;
} ctl_json_field_t;

/* ctl_json_fields writes the N named fields of M, in the table's order, as
 * members of the object the caller has open: for answers whose JSON groups
 * or names fields otherwise than the message does. A name M's descriptor
 * does not have is written as null. */
void ctl_json_fields(ctl_json_t *j, const ProtobufCMessage *m, const ctl_json_field_t *fields,
                     size_t n);

/* ctl_json_escape writes S as a JSON string literal, quotes included: " and
 * \ escaped, control characters as \n, \t ... or \u00XX, everything else
 * (UTF-8 included) as it is. */
void ctl_json_escape(FILE *out, const char *s);

#endif
