/* tz.c - owns store zones' UTC offsets, read from the zones' TZif files.
 *
 * glibc answers "the offset of zone Z at time T" only through the process's
 * TZ variable, and sluiced has threads (libpq on the support thread reads the
 * environment), so switching TZ would race. Instead each zone's TZif file
 * (RFC 8536) is read here: the 64-bit transitions and their types up to the
 * last transition, then the footer's POSIX TZ string. Debian's files are
 * "fat" (transitions written out to 2037); "slim" ones stop at the last rule
 * change (2007 for New York), so the footer must be right either way.
 *
 * Zones are parsed once and cached by name (a daemon sees a few hundred at
 * most); each remembers the span of time its last answer holds for, so the
 * usual call is a hash probe and two compares. A mutex guards the cache, so
 * any thread may ask. */
#include "tz.h"

#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TZ_DIR_DEFAULT "/usr/share/zoneinfo"
#define TZ_FILE_MAX (256 * 1024)      /* the largest real zone file is under 4 KB */
#define TZ_DAY INT64_C(86400)
#define TZ_OFFSET_MIN (-25 * 3600)    /* RFC 8536 asks for -89999..93599 s */
#define TZ_OFFSET_MAX (26 * 3600)
#define TZ_EVER INT64_MIN
#define TZ_FOREVER INT64_MAX

typedef enum tz_rule_kind { TZ_JULIAN, TZ_DAY_OF_YEAR, TZ_MONTH_WEEK_DAY } tz_rule_kind_t;

/* One change of a POSIX TZ rule: on day Jn (1..365, Feb 29 never counted),
 * n (0..365) or Mm.w.d, at TIME seconds after that day's local midnight
 * (RFC 8536 allows -167..167 hours). */
typedef struct tz_rule {
    tz_rule_kind_t kind;
    int day;                  /* Jn and n; for Mm.w.d the weekday d, 0 = Sunday */
    int week, month;          /* Mm.w.d: week 1..5 (5: the last), month 1..12 */
    int32_t time;
} tz_rule_t;

/* A POSIX TZ string: standard time, and when HAS_DST daylight time from
 * START (read in standard time) to END (read in daylight time). Offsets are
 * seconds east of UTC; the string writes them west. */
typedef struct tz_posix {
    int32_t std_off, dst_off;
    bool has_dst;
    tz_rule_t start, end;
} tz_posix_t;

typedef struct tz_zone {
    char *name;
    bool known;               /* false: no usable file; its times count as UTC */
    char *why;                /* why not known (NULL when out of memory) */
    size_t transitions;
    int64_t *at;              /* transition instants, ascending */
    uint8_t *type_of;         /* the type in force from at[i] on */
    int32_t *utoff;           /* each type's UT offset */
    bool has_footer;
    tz_posix_t footer;        /* after the last transition */
    int64_t span_from, span_until;   /* the last answer holds on [from, until) */
    int32_t span_off;
} tz_zone_t;

/* The cache: open addressing on the name's hash, NULL slots empty. */
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static tz_zone_t **s_slots;
static size_t s_cap, s_count;

/* ---- calendar ---- */

static int64_t s_floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* s_days_from_civil: days from 1970-01-01 to Y-M-D (proleptic Gregorian). */
static int64_t s_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = s_floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* s_year_of_day: the year of day DAYS after 1970-01-01. */
static int64_t s_year_of_day(int64_t days)
{
    int64_t z = days + 719468;
    int64_t era = s_floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    return yoe + era * 400 + (mp >= 10);
}

static bool s_leap(int64_t y)
{
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static int s_month_days(int64_t y, int m)
{
    static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return days[m - 1] + (m == 2 && s_leap(y));
}

/* s_rule_yday: the day of YEAR (0 = January 1) rule R falls on. */
static int64_t s_rule_yday(const tz_rule_t *r, int64_t year)
{
    switch (r->kind) {
    case TZ_JULIAN:
        return r->day - 1 + (s_leap(year) && r->day >= 60);
    case TZ_DAY_OF_YEAR:
        return r->day;
    case TZ_MONTH_WEEK_DAY:
        break;
    }
    int64_t jan1 = s_days_from_civil(year, 1, 1);
    int64_t first = s_days_from_civil(year, r->month, 1);
    int weekday = (int)(((first + 4) % 7 + 7) % 7);   /* 1970-01-01 was a Thursday */
    int mday = (r->day - weekday + 7) % 7 + 7 * (r->week - 1);
    int len = s_month_days(year, r->month);
    while (mday >= len)                                 /* week 5: the last one */
        mday -= 7;
    return first - jan1 + mday;
}

/* s_footer_at returns F's offset at T and the span [*FROM, *UNTIL) it holds
 * for. The rules are evaluated per UTC year, as glibc does: the year is cut
 * at START and END into three pieces, and spans never cross New Year. */
static int32_t s_footer_at(const tz_posix_t *f, int64_t t, int64_t *from, int64_t *until)
{
    if (!f->has_dst) {
        *from = TZ_EVER;
        *until = TZ_FOREVER;
        return f->std_off;
    }
    int64_t year = s_year_of_day(s_floor_div(t, TZ_DAY));
    int64_t y0 = s_days_from_civil(year, 1, 1) * TZ_DAY;
    int64_t y1 = s_days_from_civil(year + 1, 1, 1) * TZ_DAY;
    int64_t start = y0 + s_rule_yday(&f->start, year) * TZ_DAY + f->start.time - f->std_off;
    int64_t end = y0 + s_rule_yday(&f->end, year) * TZ_DAY + f->end.time - f->dst_off;
    bool north = start <= end;   /* south: DST runs over New Year */
    int64_t lo = north ? start : end, hi = north ? end : start;
    int64_t a, b;
    bool dst;
    if (t < lo) {
        a = y0;
        b = lo;
        dst = !north;
    } else if (t < hi) {
        a = lo;
        b = hi;
        dst = north;
    } else {
        a = hi;
        b = y1;
        dst = !north;
    }
    *from = a > y0 ? a : y0;
    *until = b < y1 ? b : y1;
    return dst ? f->dst_off : f->std_off;
}

/* ---- POSIX TZ strings ---- */

/* s_number reads 1..MAX_DIGITS decimal digits at *S. */
static bool s_number(const char **s, int max_digits, long *out)
{
    const char *p = *s;
    long n = 0;
    int digits = 0;
    while (isdigit((unsigned char)*p) && digits < max_digits) {
        n = n * 10 + (*p++ - '0');
        digits++;
    }
    if (digits == 0 || isdigit((unsigned char)*p))
        return false;
    *s = p;
    *out = n;
    return true;
}

/* s_posix_name skips a zone abbreviation: 3+ letters, or <...> of 3+ of
 * [+-A-Za-z0-9]. */
static bool s_posix_name(const char **s)
{
    const char *p = *s, *q;
    if (*p == '<') {
        for (q = ++p; *q == '+' || *q == '-' || isalnum((unsigned char)*q); q++) {
        }
        if (*q != '>' || q - p < 3)
            return false;
        *s = q + 1;
        return true;
    }
    for (q = p; isalpha((unsigned char)*q); q++) {
    }
    if (q - p < 3)
        return false;
    *s = q;
    return true;
}

/* s_posix_hms reads [+-]hh[:mm[:ss]], hours at most MAX_HOURS, as seconds. */
static bool s_posix_hms(const char **s, long max_hours, int32_t *out)
{
    const char *p = *s;
    int sign = 1;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    long hh, mm = 0, ss = 0;
    if (!s_number(&p, 3, &hh) || hh > max_hours)
        return false;
    if (*p == ':' && (++p, !s_number(&p, 2, &mm) || mm > 59))
        return false;
    if (*p == ':' && (++p, !s_number(&p, 2, &ss) || ss > 59))
        return false;
    *out = (int32_t)(sign * (hh * 3600 + mm * 60 + ss));
    *s = p;
    return true;
}

/* s_posix_rule reads Jn, n or Mm.w.d, then an optional /time (02:00 when
 * none). */
static bool s_posix_rule(const char **s, tz_rule_t *r)
{
    const char *p = *s;
    long a, b, c;
    if (*p == 'J') {
        p++;
        if (!s_number(&p, 3, &a) || a < 1 || a > 365)
            return false;
        *r = (tz_rule_t){ .kind = TZ_JULIAN, .day = (int)a };
    } else if (*p == 'M') {
        p++;
        if (!s_number(&p, 2, &a) || a < 1 || a > 12 || *p++ != '.' || !s_number(&p, 1, &b) ||
            b < 1 || b > 5 || *p++ != '.' || !s_number(&p, 1, &c) || c > 6)
            return false;
        *r = (tz_rule_t){ .kind = TZ_MONTH_WEEK_DAY, .month = (int)a, .week = (int)b,
                          .day = (int)c };
    } else {
        if (!s_number(&p, 3, &a) || a > 365)
            return false;
        *r = (tz_rule_t){ .kind = TZ_DAY_OF_YEAR, .day = (int)a };
    }
    r->time = 2 * 3600;
    if (*p == '/' && (++p, !s_posix_hms(&p, 167, &r->time)))
        return false;
    *s = p;
    return true;
}

/* s_posix_parse reads TEXT, e.g. "EST5EDT,M3.2.0,M11.1.0". DST without
 * rules takes the US ones, as glibc and the reference tzcode do. */
static bool s_posix_parse(const char *text, tz_posix_t *out)
{
    const char *p = text;
    int32_t west;
    if (!s_posix_name(&p) || !s_posix_hms(&p, 24, &west))
        return false;
    *out = (tz_posix_t){ .std_off = -west };
    if (*p == '\0')
        return true;
    if (!s_posix_name(&p))
        return false;
    out->has_dst = true;
    out->dst_off = out->std_off + 3600;
    if (*p != ',' && *p != '\0') {
        if (!s_posix_hms(&p, 24, &west))
            return false;
        out->dst_off = -west;
    }
    if (*p == '\0') {
        out->start = (tz_rule_t){ .kind = TZ_MONTH_WEEK_DAY, .month = 3, .week = 2,
                                  .time = 2 * 3600 };
        out->end = (tz_rule_t){ .kind = TZ_MONTH_WEEK_DAY, .month = 11, .week = 1,
                                .time = 2 * 3600 };
        return true;
    }
    if (*p++ != ',' || !s_posix_rule(&p, &out->start) || *p++ != ',' ||
        !s_posix_rule(&p, &out->end))
        return false;
    return *p == '\0';
}

/* ---- TZif files ---- */

typedef struct reader {
    const uint8_t *p;
    size_t left;
} reader_t;

typedef struct tzif_counts {
    uint32_t isut, isstd, leap, time, type, chars;
} tzif_counts_t;

static bool s_take(reader_t *r, uint64_t n, const uint8_t **out)
{
    if (n > r->left)
        return false;
    *out = r->p;
    r->p += n;
    r->left -= (size_t)n;
    return true;
}

static uint32_t s_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t s_be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)s_be32(p) << 32 | s_be32(p + 4));
}

/* s_header reads a 44-byte header: magic, version, six counts. */
static bool s_header(reader_t *r, char *version, tzif_counts_t *c, char *why, size_t len)
{
    const uint8_t *h;
    if (!s_take(r, 44, &h)) {
        snprintf(why, len, "truncated (header)");
        return false;
    }
    if (memcmp(h, "TZif", 4) != 0) {
        snprintf(why, len, "not a TZif file (bad magic)");
        return false;
    }
    *version = (char)h[4];
    *c = (tzif_counts_t){ .isut = s_be32(h + 20), .isstd = s_be32(h + 24), .leap = s_be32(h + 28),
                          .time = s_be32(h + 32), .type = s_be32(h + 36), .chars = s_be32(h + 40) };
    if (c->type == 0 || c->type > 256 || (c->isut != 0 && c->isut != c->type) ||
        (c->isstd != 0 && c->isstd != c->type)) {
        snprintf(why, len, "bad header counts (%" PRIu32 " types, %" PRIu32 " UT flags, %" PRIu32
                           " standard flags)",
                 c->type, c->isut, c->isstd);
        return false;
    }
    return true;
}

/* s_block_size: bytes of the data block C describes, times TIME_SIZE wide. */
static uint64_t s_block_size(const tzif_counts_t *c, unsigned time_size)
{
    return (uint64_t)c->time * (time_size + 1) + (uint64_t)c->type * 6 + c->chars +
           (uint64_t)c->leap * (time_size + 4) + c->isstd + c->isut;
}

/* s_block reads the transitions and types of a data block into Z. Leap
 * second records are skipped: offsets are to POSIX time, as tm_gmtoff. */
static bool s_block(reader_t *r, const tzif_counts_t *c, unsigned time_size, tz_zone_t *z,
                    char *why, size_t len)
{
    const uint8_t *times, *idx, *types, *chars, *rest;
    if (!s_take(r, (uint64_t)c->time * time_size, &times) || !s_take(r, c->time, &idx) ||
        !s_take(r, (uint64_t)c->type * 6, &types) || !s_take(r, c->chars, &chars) ||
        !s_take(r, (uint64_t)c->leap * (time_size + 4) + c->isstd + c->isut, &rest)) {
        snprintf(why, len, "truncated (data)");
        return false;
    }
    z->at = malloc((c->time ? c->time : 1) * sizeof *z->at);
    z->type_of = malloc(c->time ? c->time : 1);
    z->utoff = malloc(c->type * sizeof *z->utoff);
    if (!z->at || !z->type_of || !z->utoff) {
        snprintf(why, len, "out of memory");
        return false;
    }
    for (uint32_t i = 0; i < c->time; i++) {
        const uint8_t *at = times + (size_t)i * time_size;
        z->at[i] = time_size == 8 ? s_be64(at) : (int32_t)s_be32(at);
        z->type_of[i] = idx[i];
        if (i > 0 && z->at[i] <= z->at[i - 1]) {
            snprintf(why, len, "transition %" PRIu32 " is not after the one before", i);
            return false;
        }
        if (idx[i] >= c->type) {
            snprintf(why, len, "transition %" PRIu32 " names type %u of %" PRIu32, i, idx[i],
                     c->type);
            return false;
        }
    }
    for (uint32_t i = 0; i < c->type; i++) {
        const uint8_t *t = types + (size_t)i * 6;
        int32_t utoff = (int32_t)s_be32(t);
        if (utoff < TZ_OFFSET_MIN || utoff > TZ_OFFSET_MAX || t[4] > 1 || t[5] >= c->chars) {
            snprintf(why, len, "type %" PRIu32 " is out of range", i);
            return false;
        }
        z->utoff[i] = utoff;
    }
    z->transitions = c->time;
    return true;
}

/* s_footer reads "\n<POSIX TZ string>\n", the end of a version 2+ file. */
static bool s_footer(reader_t *r, tz_zone_t *z, char *why, size_t len)
{
    const char *text = (const char *)r->p;
    const char *nl = r->left > 0 ? memchr(text + 1, '\n', r->left - 1) : NULL;
    if (r->left < 2 || text[0] != '\n' || !nl) {
        snprintf(why, len, "truncated (footer)");
        return false;
    }
    size_t n = (size_t)(nl - text - 1);
    if ((size_t)(nl - text) + 1 != r->left) {
        snprintf(why, len, "data after the footer");
        return false;
    }
    char tz[128];
    if (n >= sizeof tz || memchr(text + 1, '\0', n)) {
        snprintf(why, len, "footer too long, or not text");
        return false;
    }
    memcpy(tz, text + 1, n);
    tz[n] = '\0';
    if (n > 0 && !s_posix_parse(tz, &z->footer)) {
        snprintf(why, len, "bad footer TZ string \"%s\"", tz);
        return false;
    }
    z->has_footer = n > 0;
    return true;
}

/* s_tzif_parse reads a TZif file of LEN bytes into Z: the 64-bit block
 * and the footer of version 2+, or the 32-bit block of version 1. */
static bool s_tzif_parse(tz_zone_t *z, const uint8_t *buf, size_t size, char *why, size_t len)
{
    reader_t r = { buf, size };
    tzif_counts_t c;
    char version;
    const uint8_t *v1;
    if (!s_header(&r, &version, &c, why, len))
        return false;
    if (version == '\0')
        return s_block(&r, &c, 4, z, why, len);
    if (!s_take(&r, s_block_size(&c, 4), &v1)) {
        snprintf(why, len, "truncated (version 1 data)");
        return false;
    }
    if (!s_header(&r, &version, &c, why, len) || !s_block(&r, &c, 8, z, why, len))
        return false;
    return s_footer(&r, z, why, len);
}

/* s_zone_read fills Z from its file under $TZDIR (default
 * /usr/share/zoneinfo). */
static bool s_zone_read(tz_zone_t *z, char *why, size_t len)
{
    if (z->name[0] == '/' || strstr(z->name, "..")) {
        snprintf(why, len, "not a zone name");
        return false;
    }
    const char *dir = getenv("TZDIR");
    char path[PATH_MAX], err[128];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : TZ_DIR_DEFAULT,
                         z->name) >= sizeof path) {
        snprintf(why, len, "name too long");
        return false;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, len, "%s: %s", path, strerror_r(errno, err, sizeof err));
        return false;
    }
    uint8_t *buf = NULL;
    bool ok = false;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(why, len, "%s: %s", path, strerror_r(errno, err, sizeof err));
        goto fail;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > TZ_FILE_MAX) {
        snprintf(why, len, "%s: not a zone file (%s)", path,
                 S_ISREG(st.st_mode) ? "too large" : "not a regular file");
        goto fail;
    }
    size_t size = (size_t)st.st_size, got = 0;
    if (!(buf = malloc(size ? size : 1))) {
        snprintf(why, len, "out of memory");
        goto fail;
    }
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(why, len, "%s: %s", path,
                     n < 0 ? strerror_r(errno, err, sizeof err) : "shorter than it was");
            goto fail;
        }
        got += (size_t)n;
    }
    char detail[200];
    ok = s_tzif_parse(z, buf, size, detail, sizeof detail);
    if (!ok)
        snprintf(why, len, "%s: %s", path, detail);
fail:
    free(buf);
    close(fd);
    return ok;
}

/* ---- zones and the cache ---- */

static void s_zone_destroy(tz_zone_t **self)
{
    if (!*self)
        return;
    tz_zone_t *z = *self;
    free(z->name);
    free(z->why);
    free(z->at);
    free(z->type_of);
    free(z->utoff);
    free(z);
    *self = NULL;
}

/* s_zone_new reads zone NAME; a zone without a usable file comes back
 * unknown with the reason. NULL when out of memory. */
static tz_zone_t *s_zone_new(const char *name)
{
    tz_zone_t *z = calloc(1, sizeof *z);
    if (!z || !(z->name = strdup(name))) {
        free(z);
        return NULL;
    }
    char why[PATH_MAX + 256];
    z->known = s_zone_read(z, why, sizeof why);
    if (!z->known) {
        free(z->at);
        free(z->type_of);
        free(z->utoff);
        z->at = NULL;
        z->type_of = NULL;
        z->utoff = NULL;
        z->transitions = 0;
        z->why = strdup(why);
    }
    return z;
}

/* s_zone_at: Z's UT offset at T (unix seconds). Before the first transition
 * type 0 holds (RFC 8536), after the last one the footer. */
static int32_t s_zone_at(tz_zone_t *z, int64_t t)
{
    if (z->span_from <= t && t < z->span_until)
        return z->span_off;
    size_t n = z->transitions;
    int64_t from, until;
    int32_t off;
    if (n == 0 || t >= z->at[n - 1]) {
        if (z->has_footer) {
            off = s_footer_at(&z->footer, t, &from, &until);
        } else {
            off = z->utoff[n ? z->type_of[n - 1] : 0];
            from = TZ_EVER;
            until = TZ_FOREVER;
        }
        if (n && from < z->at[n - 1])
            from = z->at[n - 1];
    } else if (t < z->at[0]) {
        off = z->utoff[0];
        from = TZ_EVER;
        until = z->at[0];
    } else {
        size_t lo = 0, hi = n - 1;   /* at[lo] <= t < at[hi] */
        while (hi - lo > 1) {
            size_t mid = lo + (hi - lo) / 2;
            if (z->at[mid] <= t)
                lo = mid;
            else
                hi = mid;
        }
        off = z->utoff[z->type_of[lo]];
        from = z->at[lo];
        until = z->at[hi];
    }
    z->span_from = from;
    z->span_until = until;
    z->span_off = off;
    return off;
}

static uint64_t s_hash(const char *s)
{
    uint64_t h = 14695981039346656037u;   /* FNV-1a */
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211u;
    return h;
}

/* s_slot: where NAME is in the cache, or the empty slot it would take. */
static tz_zone_t **s_slot(const char *name)
{
    size_t i = (size_t)s_hash(name) & (s_cap - 1);
    while (s_slots[i] && strcmp(s_slots[i]->name, name) != 0)
        i = (i + 1) & (s_cap - 1);
    return &s_slots[i];
}

static bool s_grow(void)
{
    size_t cap = s_cap ? s_cap * 2 : 64;
    tz_zone_t **old = s_slots;
    size_t old_cap = s_cap;
    if (!(s_slots = calloc(cap, sizeof *s_slots))) {
        s_slots = old;
        return false;
    }
    s_cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i])
            *s_slot(old[i]->name) = old[i];
    free(old);
    return true;
}

/* s_zone_get returns NAME's zone, read and cached now when *FRESH; NULL
 * when out of memory. Called with s_lock held. */
static tz_zone_t *s_zone_get(const char *name, bool *fresh)
{
    *fresh = false;
    if (s_cap) {
        tz_zone_t **slot = s_slot(name);
        if (*slot)
            return *slot;
    }
    if ((s_count + 1) * 4 > s_cap * 3 && !s_grow())
        return NULL;
    tz_zone_t *z = s_zone_new(name);
    if (!z)
        return NULL;
    *s_slot(name) = z;
    s_count++;
    *fresh = true;
    return z;
}

/* s_is_utc: names answered without a file. */
static bool s_is_utc(const char *zone)
{
    return !zone || !*zone || strcmp(zone, "UTC") == 0;
}

int64_t tz_offset_ms(const char *zone, uint64_t wall_ms)
{
    if (s_is_utc(zone))
        return 0;
    pthread_mutex_lock(&s_lock);
    bool fresh;
    tz_zone_t *z = s_zone_get(zone, &fresh);
    int64_t offset = 0;
    if (!z)
        log_error("failed to cache zone %s: out of memory; its times count as UTC", zone);
    else if (z->known)
        offset = (int64_t)s_zone_at(z, (int64_t)(wall_ms / 1000u)) * 1000;
    else if (fresh)
        log_error("failed to read zone %s: %s; its times count as UTC", zone,
                  z->why ? z->why : "out of memory");
    pthread_mutex_unlock(&s_lock);
    return offset;
}

int tz_minute_of_day(const char *zone, uint64_t wall_ms)
{
    int64_t local = (int64_t)wall_ms + tz_offset_ms(zone, wall_ms);
    int64_t minute = (local / 60000) % TZ_MINUTES_PER_DAY;
    return (int)(minute < 0 ? minute + TZ_MINUTES_PER_DAY : minute);
}

bool tz_check(const char *zone, char *why, size_t len)
{
    if (s_is_utc(zone))
        return true;
    pthread_mutex_lock(&s_lock);
    bool fresh;
    tz_zone_t *z = s_zone_get(zone, &fresh);
    bool known = z && z->known;
    if (!known && why && len)
        snprintf(why, len, "%s", z && z->why ? z->why : "out of memory");
    pthread_mutex_unlock(&s_lock);
    return known;
}

void tz_reset(void)
{
    pthread_mutex_lock(&s_lock);
    for (size_t i = 0; i < s_cap; i++)
        s_zone_destroy(&s_slots[i]);
    free(s_slots);
    s_slots = NULL;
    s_cap = s_count = 0;
    pthread_mutex_unlock(&s_lock);
}
