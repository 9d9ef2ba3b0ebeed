/* config_scan.c - owns the lexical scan that finds where libconfig text may
 * be cut: @include directives and top-level list commas. The states mirror
 * libconfig 1.5's scanner.l: INITIAL, "strings" (backslash escapes, may span
 * lines), block comments, "#" and "//" comments to the end of the line, and
 * an @include directive only at the start of a line in INITIAL state. */
#include "config_scan.h"

#include <stdint.h>
#include <string.h>

enum { C_PLAIN, C_QUOTE, C_SLASH, C_HASH, C_OPEN, C_CLOSE, C_COMMA, C_NEWLINE };

/* s_classes: the bytes that matter in INITIAL state; the rest are skipped. */
static const unsigned char s_classes[256] = {
    ['"'] = C_QUOTE, ['/'] = C_SLASH, ['#'] = C_HASH,   ['{'] = C_OPEN,  ['('] = C_OPEN,
    ['['] = C_OPEN,  ['}'] = C_CLOSE, [')'] = C_CLOSE,  [']'] = C_CLOSE, [','] = C_COMMA,
    ['\n'] = C_NEWLINE,
};

struct scan {
    const char *t;
    size_t n;
    bool names;               /* track top-level setting names (for includes) */
    /* events; each returns false to stop the scan */
    bool (*include)(struct scan *s, const config_scan_include_t *inc);
    bool (*comma)(struct scan *s, size_t at, unsigned line);
    /* state after the scan */
    bool stopped;             /* an event returned false */
    bool open;                /* ended inside a string, comment or include name */
    bool unbalanced;          /* a bracket closed more than was open */
    int depth;
};

static bool s_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool s_name_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '*';
}

static bool s_name_byte(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '*';
}

/* s_directive: is there an @include directive at line start I, as libconfig's
 * rule ^[ \t]*@include[ \t]+\" and its INCLUDE state read it? Fills INC and
 * returns true; *CLOSED tells whether the name has its closing quote, and
 * *LINES counts the newlines inside the name. */
static bool s_directive(const char *t, size_t n, size_t i, config_scan_include_t *inc, bool *closed,
                        unsigned *lines)
{
    size_t j = i;
    while (j < n && s_blank(t[j]))
        j++;
    if (n - j < 9 || memcmp(t + j, "@include", 8) != 0 || !s_blank(t[j + 8]))
        return false;
    inc->start = j;
    j += 8;
    while (j < n && s_blank(t[j]))
        j++;
    if (j >= n || t[j] != '"')
        return false;
    size_t name = ++j;
    bool plain = true;
    *lines = 0;
    while (j < n && t[j] != '"') {
        if (t[j] == '\\') {
            plain = false;
            if (j + 1 < n && (t[j + 1] == '\\' || t[j + 1] == '"'))
                j++;
        } else if (t[j] == '\n') {
            plain = false;
            ++*lines;
        }
        j++;
    }
    *closed = j < n;
    inc->name = plain && *closed ? t + name : NULL;
    inc->name_len = j - name;
    inc->end = *closed ? j + 1 : n;
    return true;
}

/* s_scan walks S->t in INITIAL state from the start, calling the events. */
static void s_scan(struct scan *s)
{
    const unsigned char *cls = s_classes;
    const char *t = s->t;
    size_t n = s->n, i = 0;
    unsigned line = 1;
    int depth = 0;
    bool outer_list = false;                 /* the depth-1 bracket is a list ( */
    char outer_key[CONFIG_SCAN_KEY_MAX] = ""; /* and the setting it belongs to */
    size_t name_at = 0, name_len = 0;        /* the last top-level name seen */
    bool bol = true;

    while (i < n) {
        if (bol) {
            bol = false;
            config_scan_include_t inc;
            bool closed;
            unsigned lines;
            if (s_directive(t, n, i, &inc, &closed, &lines)) {
                inc.line = line;
                if (depth == 1 && outer_list)
                    memcpy(inc.key, outer_key, sizeof inc.key);
                else
                    inc.key[0] = '\0';
                line += lines;
                if (!closed) {
                    s->open = true;
                    return;
                }
                i = inc.end;
                if (s->include && !s->include(s, &inc)) {
                    s->stopped = true;
                    return;
                }
                continue;
            }
        }
        if (s->names) { /* slower: names matter too */
            while (i < n && !cls[(unsigned char)t[i]] && !s_name_start(t[i]))
                i++;
            if (i < n && !cls[(unsigned char)t[i]]) {
                size_t at = i;
                while (i < n && s_name_byte(t[i]))
                    i++;
                if (depth == 0) {
                    name_at = at;
                    name_len = i - at;
                }
                continue;
            }
        } else {
            while (i < n && !cls[(unsigned char)t[i]])
                i++;
        }
        if (i >= n)
            break;
        char c = t[i];
        switch (cls[(unsigned char)c]) {
        case C_NEWLINE:
            line++;
            i++;
            bol = true;
            break;
        case C_QUOTE:
            for (i++; i < n && t[i] != '"'; i++) {
                if (t[i] == '\\' && i + 1 < n && (t[i + 1] == '\\' || t[i + 1] == '"'))
                    i++;
                else if (t[i] == '\n')
                    line++;
            }
            if (i >= n) {
                s->open = true;
                return;
            }
            i++;
            break;
        case C_SLASH:
            if (i + 1 < n && t[i + 1] == '*') {
                for (i += 2; i + 1 < n && !(t[i] == '*' && t[i + 1] == '/'); i++)
                    line += t[i] == '\n';
                if (i + 1 >= n) {
                    s->open = true;
                    return;
                }
                i += 2;
            } else if (i + 1 < n && t[i + 1] == '/') {
                const char *nl = memchr(t + i, '\n', n - i);
                i = nl ? (size_t)(nl - t) : n;
            } else {
                i++; /* garbage to libconfig */
            }
            break;
        case C_HASH: {
            const char *nl = memchr(t + i, '\n', n - i);
            i = nl ? (size_t)(nl - t) : n;
            break;
        }
        case C_OPEN:
            if (depth == 0) {
                outer_list = c == '(';
                if (name_len && name_len < sizeof outer_key) {
                    memcpy(outer_key, t + name_at, name_len);
                    outer_key[name_len] = '\0';
                } else {
                    outer_key[0] = '\0';
                }
            }
            depth++;
            i++;
            break;
        case C_CLOSE:
            if (--depth < 0) {
                s->unbalanced = true;
                depth = 0;
            }
            i++;
            break;
        case C_COMMA:
            if (depth == 0 && s->comma && !s->comma(s, i, line)) {
                s->stopped = true;
                return;
            }
            i++;
            break;
        default:
            i++;
            break;
        }
    }
    s->depth = depth;
}

/* ------------------------------------------------------------ includes */

struct include_scan {
    struct scan s;
    config_scan_include_fn *found;
    void *arg;
};

static bool s_on_include(struct scan *s, const config_scan_include_t *inc)
{
    struct include_scan *is = (struct include_scan *)s;
    return is->found(is->arg, inc);
}

bool config_scan_includes(const char *text, size_t len, config_scan_include_fn *found, void *arg)
{
    struct include_scan is = { .s = { .t = text, .n = len, .names = true, .include = s_on_include },
                               .found = found, .arg = arg };
    s_scan(&is.s);
    return !is.s.stopped && !is.s.open;
}

/* --------------------------------------------------------------- lists */

struct list_scan {
    struct scan s;
    size_t piece_bytes;
    config_scan_piece_fn *piece;
    void *arg;
    config_scan_piece_t cur; /* the piece being read */
    bool has_include;
};

static bool s_list_include(struct scan *s, const config_scan_include_t *inc)
{
    (void)inc;
    ((struct list_scan *)s)->has_include = true;
    return false;
}

static bool s_list_comma(struct scan *s, size_t at, unsigned line)
{
    struct list_scan *ls = (struct list_scan *)s;
    ls->cur.elements++;
    if (at - ls->cur.start < ls->piece_bytes)
        return true;
    ls->cur.end = at;
    if (!ls->piece(ls->arg, &ls->cur))
        return false;
    ls->cur = (config_scan_piece_t){ .start = at + 1, .line = line };
    return true;
}

bool config_scan_list(const char *text, size_t len, size_t piece_bytes, config_scan_piece_fn *piece,
                      void *arg)
{
    struct list_scan ls = { .s = { .t = text, .n = len, .include = s_list_include,
                                   .comma = s_list_comma },
                            .piece_bytes = piece_bytes, .piece = piece, .arg = arg,
                            .cur = { .start = 0, .line = 1 } };
    s_scan(&ls.s);
    if (ls.s.stopped || ls.s.open || ls.s.unbalanced || ls.s.depth != 0 || ls.has_include)
        return false;
    ls.cur.end = len;
    ls.cur.elements++; /* the element after the last comma */
    return piece(arg, &ls.cur);
}

/* ---- a number in text ---------------------------------------------------- */

typedef unsigned char scan_v16 __attribute__((vector_size(16)));

static bool s_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* s_number_at: is the run at TEXT + AT (N bytes, equal to the digits) a
 * number of its own? Leading zeros before it belong to it. */
static bool s_number_at(const char *text, size_t len, size_t at, size_t n)
{
    if (at + n < len && s_is_digit(text[at + n]))
        return false;
    size_t b = at;
    while (b > 0 && text[b - 1] == '0')
        b--;
    return b == 0 || !s_is_digit(text[b - 1]);
}

bool config_scan_has_number(const char *text, size_t len, const char *digits, size_t n)
{
    if (n == 0 || n > len)
        return false;
    size_t i = 0;
    if (len - n + 1 >= 16) {
        scan_v16 first, last;
        for (int k = 0; k < 16; k++) {
            first[k] = (unsigned char)digits[0];
            last[k] = (unsigned char)digits[n - 1];
        }
        /* blocks whose 16 candidate starts all fit */
        for (; i + 15 + n - 1 < len; i += 16) {
            scan_v16 a, z;
            memcpy(&a, text + i, 16);
            memcpy(&z, text + i + n - 1, 16);
            scan_v16 m = (a == first) & (z == last);
            uint64_t lo, hi;
            memcpy(&lo, &m, 8);
            memcpy(&hi, (const char *)&m + 8, 8);
            if ((lo | hi) == 0)
                continue;
            for (size_t k = 0; k < 16; k++)
                if (m[k] && memcmp(text + i + k, digits, n) == 0 &&
                    s_number_at(text, len, i + k, n))
                    return true;
        }
    }
    for (; i + n <= len; i++)
        if (text[i] == digits[0] && memcmp(text + i, digits, n) == 0 &&
            s_number_at(text, len, i, n))
            return true;
    return false;
}
