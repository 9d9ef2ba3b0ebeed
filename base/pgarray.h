/* pgarray.h - owns building PostgreSQL array literals ({a,"b c",NULL}) that
 * carry a whole batch in one statement parameter. */
#ifndef SLUICE_PGARRAY_H
#define SLUICE_PGARRAY_H

#include <stdbool.h>
#include <stddef.h>

typedef struct pgarray {
    char *data;
    size_t len, cap;
} pgarray_t;

/* Each put appends one element; false when out of memory (the literal may
 * then hold part of the element: callers roll back to a saved len). */
bool pgarray_put_raw(pgarray_t *a, const char *text, size_t n);
/* pgarray_put_text quotes TEXT; NULLABLE turns "" and NULL into NULL. */
bool pgarray_put_text(pgarray_t *a, const char *text, bool nullable);
bool pgarray_put_fmt(pgarray_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* pgarray_finish closes the literal and returns it ("{}" when empty; NULL
 * only when out of memory). Putting more reopens nothing: reset first. */
const char *pgarray_finish(pgarray_t *a);
void pgarray_reset(pgarray_t *a);
void pgarray_free(pgarray_t *a);

#endif
