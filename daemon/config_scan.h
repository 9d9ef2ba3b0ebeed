/* config_scan.h - finds where libconfig text may be cut without parsing it:
 * @include directives, and the commas between the top-level elements of a
 * list. It follows the lexical rules of libconfig 1.5's scanner (strings,
 * comments, include lines) so a cut never falls inside a token; libconfig
 * still parses every byte (config_stores.c checks that each piece parsed
 * into the number of elements counted here, and falls back to one whole
 * read if not). */
#ifndef SLUICE_CONFIG_SCAN_H
#define SLUICE_CONFIG_SCAN_H

#include <stdbool.h>
#include <stddef.h>

#define CONFIG_SCAN_KEY_MAX 64

typedef struct config_scan_include {
    size_t start, end;       /* the directive, from '@' to just past the closing quote */
    const char *name;        /* the file name as written (not NUL-terminated), */
    size_t name_len;         /* NULL when it has a backslash or a newline */
    unsigned line;           /* of the '@' */
    /* The directive stands directly inside a list that is the value of the
     * top-level setting KEY ("" otherwise, or when the key is too long). */
    char key[CONFIG_SCAN_KEY_MAX];
} config_scan_include_t;

typedef bool config_scan_include_fn(void *arg, const config_scan_include_t *inc);

/* config_scan_includes calls FOUND for each @include directive of TEXT, in
 * order. Returns false when FOUND does or TEXT ends inside a string or a
 * comment, else true. */
bool config_scan_includes(const char *text, size_t len, config_scan_include_fn *found, void *arg)
    __attribute__((warn_unused_result));

/* A piece of a list's inside: [start, end) holds ELEMENTS comma-separated
 * elements; its first byte is on line LINE. */
typedef struct config_scan_piece {
    size_t start, end;
    unsigned line;
    size_t elements;
} config_scan_piece_t;

typedef bool config_scan_piece_fn(void *arg, const config_scan_piece_t *piece);

/* config_scan_list reads TEXT as the inside of a libconfig list, "e1, e2,
 * ...", and calls PIECE for consecutive pieces of about PIECE_BYTES bytes,
 * cut at top-level commas (a comma belongs to no piece). Returns false,
 * after calling PIECE for at most the pieces before, when TEXT cannot be cut
 * safely: a bracket closes more than it opened, TEXT ends inside a string, a
 * comment or a bracket, or holds an @include (whose file could close the
 * list); also when PIECE returns false. */
bool config_scan_list(const char *text, size_t len, size_t piece_bytes, config_scan_piece_fn *piece,
                      void *arg) __attribute__((warn_unused_result));

/* config_scan_has_number: does TEXT hold DIGITS (N decimal digits, no
 * leading zero) as a number of its own: not inside a longer run of digits,
 * though after leading zeros? A partial load (sluicectl store ID) parses
 * only the text that can hold the store's id. Compares 16 bytes at a time
 * (the first and the last digit at once): megabytes of store text are
 * scanned in milliseconds, where memmem takes a tenth of a second. */
bool config_scan_has_number(const char *text, size_t len, const char *digits, size_t n);

#endif
