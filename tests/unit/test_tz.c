/* test_tz.c - store-local time (daemon/tz.c): zone offsets from zoneinfo,
 * DST changes seen on the second, local minute of day, that the process's
 * own TZ is left as it was, agreement with glibc (TZ set in this
 * single-threaded process only) over 1990-2100 for real zones and for
 * footer-only files, and that missing or corrupt zone files are errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit_time.h"
#include "unit_tmp.h"
#include "tz.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MIN INT64_C(60000)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)


/* s_utc: unix ms of Y-M-D HH:MM UTC. */
static uint64_t s_utc(int y, int m, int d, int hh, int mm)
{
    return (uint64_t)(unit_days_from_civil(y, m, d) * DAY + hh * HOUR + mm * MIN);
}

static int s_setup(void **state)
{
    (void)state;
    tz_reset();  /* no test depends on another's cache */
    return 0;
}

static void test_days_from_civil_matches_timegm(void **state)
{
    (void)state;
    /* The expected values below are computed with s_utc; check it once. */
    struct tm tm = { .tm_year = 2026 - 1900, .tm_mon = 6, .tm_mday = 15, .tm_hour = 12 };
    assert_int_equal(s_utc(2026, 7, 15, 12, 0), (uint64_t)timegm(&tm) * 1000u);
    assert_int_equal(s_utc(1970, 1, 1, 0, 0), 0);
}

static void test_utc_is_zero(void **state)
{
    (void)state;
    assert_int_equal(tz_offset_ms("UTC", s_utc(2026, 1, 15, 12, 0)), 0);
    assert_int_equal(tz_offset_ms("UTC", s_utc(2026, 7, 15, 12, 0)), 0);
    assert_int_equal(tz_offset_ms("Etc/UTC", s_utc(2026, 7, 15, 12, 0)), 0);
    assert_int_equal(tz_offset_ms(NULL, s_utc(2026, 7, 15, 12, 0)), 0);
    assert_int_equal(tz_offset_ms("", s_utc(2026, 7, 15, 12, 0)), 0);
    /* Unknown zones count as UTC. */
    assert_int_equal(tz_offset_ms("Mars/Olympus_Mons", s_utc(2026, 7, 15, 12, 0)), 0);
}

static void test_shanghai_is_plus_eight_all_year(void **state)
{
    (void)state;
    assert_int_equal(tz_offset_ms("Asia/Shanghai", s_utc(2026, 1, 15, 12, 0)), 8 * HOUR);
    assert_int_equal(tz_offset_ms("Asia/Shanghai", s_utc(2026, 7, 15, 12, 0)), 8 * HOUR);
    /* Other zones away from whole hours. */
    assert_int_equal(tz_offset_ms("Asia/Kathmandu", s_utc(2026, 1, 15, 12, 0)),
                     5 * HOUR + 45 * MIN);
    assert_int_equal(tz_offset_ms("Asia/Kolkata", s_utc(2026, 1, 15, 12, 0)),
                     5 * HOUR + 30 * MIN);
    /* POSIX names: Etc/GMT+5 is five hours behind UTC. */
    assert_int_equal((int64_t)tz_offset_ms("Etc/GMT+5", s_utc(2026, 1, 15, 12, 0)), -5 * HOUR);
}

static void test_new_york_changes_with_dst(void **state)
{
    (void)state;
    const char *ny = "America/New_York";
    assert_int_equal((int64_t)tz_offset_ms(ny, s_utc(2026, 1, 15, 12, 0)), -5 * HOUR);
    assert_int_equal((int64_t)tz_offset_ms(ny, s_utc(2026, 7, 15, 12, 0)), -4 * HOUR);
    /* 2026-03-08 02:00 EST (07:00 UTC) clocks go forward. A cached answer
     * holds only until the zone's next change, so it is seen on the second. */
    assert_int_equal((int64_t)tz_offset_ms(ny, s_utc(2026, 3, 8, 6, 45)), -5 * HOUR);
    assert_int_equal((int64_t)tz_offset_ms(ny, s_utc(2026, 3, 8, 7, 0) - 1), -5 * HOUR);
    assert_int_equal((int64_t)tz_offset_ms(ny, s_utc(2026, 3, 8, 7, 0)), -4 * HOUR);
    /* Going back in time leaves the cached span too. */
    assert_int_equal((int64_t)tz_offset_ms(ny, s_utc(2026, 3, 8, 6, 59)), -5 * HOUR);
    /* 2026-11-01 02:00 EDT (06:00 UTC) clocks go back. */
    assert_int_equal((int64_t)tz_offset_ms(ny, s_utc(2026, 11, 1, 6, 0) - 1), -4 * HOUR);
    assert_int_equal((int64_t)tz_offset_ms(ny, s_utc(2026, 11, 1, 6, 0)), -5 * HOUR);
    /* Lord Howe Island moves by half an hour, at 15:30 UTC: the cache must
     * not hold an answer past that change. */
    const char *lh = "Australia/Lord_Howe";
    assert_int_equal(tz_offset_ms(lh, s_utc(2026, 10, 3, 15, 15)), 10 * HOUR + 30 * MIN);
    assert_int_equal(tz_offset_ms(lh, s_utc(2026, 10, 3, 15, 30)), 11 * HOUR);
    /* Two zones cached side by side do not mix. */
    assert_int_equal((int64_t)tz_offset_ms("Asia/Shanghai", s_utc(2026, 11, 1, 6, 0)), 8 * HOUR);
    assert_int_equal((int64_t)tz_offset_ms(ny, s_utc(2026, 11, 1, 6, 0)), -5 * HOUR);
}

static void test_minute_of_day(void **state)
{
    (void)state;
    /* 16:30 UTC is 00:30 the next day in Shanghai. */
    assert_int_equal(tz_minute_of_day("Asia/Shanghai", s_utc(2026, 1, 15, 16, 30)), 30);
    assert_int_equal(tz_minute_of_day("UTC", s_utc(2026, 1, 15, 16, 30)), 16 * 60 + 30);
    /* 03:00 UTC is 22:00 the day before in New York (winter). */
    assert_int_equal(tz_minute_of_day("America/New_York", s_utc(2026, 1, 15, 3, 0)), 22 * 60);
    assert_int_equal(tz_minute_of_day("America/New_York", s_utc(2026, 7, 15, 3, 0)), 23 * 60);
    assert_int_equal(tz_minute_of_day("Asia/Kathmandu", s_utc(2026, 1, 15, 0, 0)), 5 * 60 + 45);
    assert_int_equal(tz_minute_of_day("Asia/Shanghai", s_utc(2026, 1, 15, 15, 59)), 1439);
    assert_int_equal(tz_minute_of_day("Asia/Shanghai", s_utc(2026, 1, 15, 16, 0)), 0);
}

static void test_process_tz_is_left_alone(void **state)
{
    (void)state;
    const char *saved = getenv("TZ");
    char *restore = saved ? strdup(saved) : NULL;
    assert_int_equal(setenv("TZ", "Europe/Paris", 1), 0);
    tzset();
    assert_int_equal(tz_offset_ms("Asia/Tokyo", s_utc(2026, 1, 15, 12, 0)), 9 * HOUR);
    assert_string_equal(getenv("TZ"), "Europe/Paris");
    time_t t = (time_t)(s_utc(2026, 1, 15, 12, 0) / 1000u);
    struct tm tm;
    assert_non_null(localtime_r(&t, &tm));
    assert_int_equal(tm.tm_gmtoff, 3600);  /* Paris in winter, not Tokyo */
    assert_int_equal(unsetenv("TZ"), 0);
    assert_int_equal(tz_offset_ms("Asia/Tokyo", s_utc(2026, 1, 16, 12, 0)), 9 * HOUR);
    assert_null(getenv("TZ"));
    if (restore)
        setenv("TZ", restore, 1);
    tzset();
    free(restore);
}

static void test_more_zones_than_the_cache(void **state)
{
    (void)state;
    uint64_t t = s_utc(2026, 1, 15, 12, 0);
    assert_int_equal(tz_offset_ms("Asia/Shanghai", t), 8 * HOUR);
    char name[32];
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof name, "Nowhere/Zone%d", i);
        assert_int_equal(tz_offset_ms(name, t), 0);
    }
    /* After a hundred unknown zones in the cache, answers are still right. */
    assert_int_equal(tz_offset_ms("Asia/Tokyo", t), 9 * HOUR);
    assert_int_equal((int64_t)tz_offset_ms("America/New_York", t), -5 * HOUR);
    assert_int_equal((int64_t)tz_offset_ms("America/New_York", s_utc(2026, 7, 15, 12, 0)),
                     -4 * HOUR);
    assert_int_equal(tz_offset_ms("Asia/Shanghai", t + 20 * MIN), 8 * HOUR);
    tz_reset();
    assert_int_equal(tz_offset_ms("Asia/Shanghai", t), 8 * HOUR);
}

/* ---- against glibc ---- */

#define S_STEP (6 * 3600)   /* between samples; no zone changes twice in 6 h */

static char *s_saved_tz, *s_saved_tzdir;   /* the environment main started with */

static void s_setenv(const char *name, const char *value)
{
    if (value)
        assert_int_equal(setenv(name, value, 1), 0);
    else
        assert_int_equal(unsetenv(name), 0);
    tzset();
}

/* s_restore_env: teardown of the tests that set TZ or TZDIR. */
static int s_restore_env(void **state)
{
    (void)state;
    s_setenv("TZ", s_saved_tz);
    s_setenv("TZDIR", s_saved_tzdir);
    tz_reset();
    return 0;
}

/* s_glibc_s: glibc's UT offset in seconds at T under the TZ set now. */
static long s_glibc_s(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    assert_non_null(localtime_r(&tt, &tm));
    return tm.tm_gmtoff;
}

/* s_expect_same fails unless tz.c's ZONE and glibc agree at T. */
static void s_expect_same(const char *zone, int64_t t, size_t *checked)
{
    int64_t ours = tz_offset_ms(zone, (uint64_t)t * 1000u);
    long theirs = s_glibc_s(t);
    if (ours != (int64_t)theirs * 1000) {
        char when[64];
        time_t tt = (time_t)t;
        struct tm tm;
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&tt, &tm));
        fail_msg("%s at %s (%lld): tz.c says %+lld s, glibc %+ld s", zone, when, (long long)t,
                 (long long)(ours / 1000), theirs);
    }
    (*checked)++;
}

/* s_walk compares tz.c's ZONE with glibc under TZ=GLIBC_TZ from 1990 to
 * 2100: every S_STEP seconds, at random instants, and where glibc's offset
 * changes the second before, of and after the change (found by bisection).
 * Returns the number of changes. */
static size_t s_walk(const char *zone, const char *glibc_tz, size_t *checked)
{
    s_setenv("TZ", glibc_tz);
    int64_t from = (int64_t)(s_utc(1990, 1, 1, 0, 0) / 1000u);
    int64_t until = (int64_t)(s_utc(2100, 1, 1, 0, 0) / 1000u);
    size_t changes = 0;
    int64_t prev = from;
    long prev_off = s_glibc_s(from);
    s_expect_same(zone, from, checked);
    for (int64_t t = from + S_STEP; t <= until; t += S_STEP) {
        long off = s_glibc_s(t);
        s_expect_same(zone, t, checked);
        if (off != prev_off) {
            int64_t lo = prev, hi = t;   /* prev_off at lo, the new offset at hi */
            while (hi - lo > 1) {
                int64_t mid = lo + (hi - lo) / 2;
                if (s_glibc_s(mid) == prev_off)
                    lo = mid;
                else
                    hi = mid;
            }
            s_expect_same(zone, hi - 1, checked);
            s_expect_same(zone, hi, checked);
            s_expect_same(zone, hi + 1, checked);
            changes++;
        }
        prev = t;
        prev_off = off;
    }
    uint64_t seed = 13;
    for (int i = 0; i < 2000; i++)
        s_expect_same(zone, from + (int64_t)(unit_splitmix64(&seed) % (uint64_t)(until - from)),
                      checked);
    return changes;
}

static void test_real_zones_match_glibc(void **state)
{
    (void)state;
    /* MIN_CHANGES: offset changes 1990-2100 at least (two a year while DST
     * lasts); MAX_CHANGES at most. */
    static const struct {
        const char *zone;
        size_t min_changes, max_changes;
    } zones[] = {
        { "Asia/Shanghai", 3, 4 },            /* DST until 1991 */
        { "Europe/London", 219, 220 },
        { "America/New_York", 219, 220 },
        { "Australia/Lord_Howe", 219, 220 },  /* half an hour */
        { "America/Sao_Paulo", 50, 60 },      /* DST abolished in 2019 */
        { "Pacific/Apia", 20, 30 },           /* over the date line in 2011, DST 2010-2021 */
        { "Africa/Casablanca", 100, 300 },    /* Ramadan, listed to 2087 */
        { "UTC", 0, 0 },
        { "Etc/GMT+5", 0, 0 },
    };
    size_t checked = 0;
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) {
        size_t changes = s_walk(zones[i].zone, zones[i].zone, &checked);
        if (changes < zones[i].min_changes || changes > zones[i].max_changes)
            fail_msg("%s: %zu offset changes 1990-2100, expected %zu..%zu", zones[i].zone,
                     changes, zones[i].min_changes, zones[i].max_changes);
    }
    assert_true(checked > 9 * 160000);
}

/* ---- TZif files written here ---- */

typedef struct tzif {
    char version;                 /* '\0' (version 1), '2', '3' */
    const int32_t *utoff;         /* per type */
    size_t types;
    const int64_t *at;            /* transitions */
    const uint8_t *type_of;
    size_t transitions;
    const char *footer;           /* version 2+ */
} tzif_t;

static uint8_t *s_put32(uint8_t *p, uint32_t v)
{
    *p++ = (uint8_t)(v >> 24);
    *p++ = (uint8_t)(v >> 16);
    *p++ = (uint8_t)(v >> 8);
    *p++ = (uint8_t)v;
    return p;
}

/* s_put_block writes a header and data block, times TIME_SIZE wide. */
static uint8_t *s_put_block(uint8_t *p, const tzif_t *z, unsigned time_size)
{
    memcpy(p, "TZif", 4);
    p[4] = (uint8_t)z->version;
    memset(p + 5, 0, 15);
    p += 20;
    p = s_put32(p, 0);                              /* UT flags */
    p = s_put32(p, 0);                              /* standard flags */
    p = s_put32(p, 0);                              /* leap seconds */
    p = s_put32(p, (uint32_t)z->transitions);
    p = s_put32(p, (uint32_t)z->types);
    p = s_put32(p, 4);                              /* "ZZZ\0" */
    for (size_t i = 0; i < z->transitions; i++) {
        if (time_size == 8)
            p = s_put32(p, (uint32_t)((uint64_t)z->at[i] >> 32));
        p = s_put32(p, (uint32_t)z->at[i]);
    }
    for (size_t i = 0; i < z->transitions; i++)
        *p++ = z->type_of[i];
    for (size_t i = 0; i < z->types; i++) {
        p = s_put32(p, (uint32_t)z->utoff[i]);
        *p++ = 0;
        *p++ = 0;
    }
    memcpy(p, "ZZZ", 4);
    return p + 4;
}

/* s_write_tzif writes Z as DIR/NAME and returns its size. */
static size_t s_write_tzif(const char *dir, const char *name, const tzif_t *z)
{
    uint8_t buf[4096];
    uint8_t *p = s_put_block(buf, z, 4);
    if (z->version != '\0') {
        p = s_put_block(p, z, 8);
        p += sprintf((char *)p, "\n%s\n", z->footer);
    }
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, (size_t)(p - buf), f), (size_t)(p - buf));
    assert_int_equal(fclose(f), 0);
    return (size_t)(p - buf);
}

static int s_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static char s_dir[256];

/* s_dir_setup makes a scratch directory that will be TZDIR. */
static int s_dir_setup(void **state)
{
    (void)state;
    tz_reset();
    assert_true(unit_tmp_template(s_dir, sizeof s_dir, "sluice-tz"));
    assert_non_null(mkdtemp(s_dir));
    return 0;
}

static int s_dir_teardown(void **state)
{
    nftw(s_dir, s_rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    return s_restore_env(state);
}

/* Files with no transitions: every instant comes from the footer, as in a
 * slim file after its last listed change (2007 for New York). */
static void test_footer_rules_match_glibc(void **state)
{
    (void)state;
    static const char *const footers[] = {
        "EST5EDT,M3.2.0,M11.1.0",
        "GMT0BST,M3.5.0/1,M10.5.0",
        "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",   /* Lord Howe: half an hour, south */
        "AEST-10AEDT,M10.1.0,M4.1.0/3",
        "NZST-12NZDT,M9.5.0,M4.1.0/3",
        "<-03>3<-02>,M3.5.0/-2,M10.5.0/-1",        /* negative times (version 3) */
        "IST-2IDT,M3.4.4/26,M10.5.0",               /* past 24 h (version 3) */
        "EST5EDT,0/0,J365/25",                      /* DST all year (version 3) */
        "CET-1CEST,J60/2,J300/3",                   /* Jn: Feb 29 never counted */
        "<-04>4<-03>3,59/2,299/3",                  /* n: Feb 29 counted */
        "CST6CDT,M3.2.0/2:30:15,M11.1.0/1:45",
        "PST8PDT",                                  /* no rules: the US ones */
        "<+0545>-5:45",
        "<-0930>9:30",
        "UTC0",
    };
    int32_t utoff = 0;
    size_t checked = 0;
    for (size_t i = 0; i < sizeof footers / sizeof footers[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "footer-%zu", i);
        tzif_t z = { .version = '3', .utoff = &utoff, .types = 1, .footer = footers[i] };
        s_write_tzif(s_dir, name, &z);
    }
    s_setenv("TZDIR", s_dir);
    for (size_t i = 0; i < sizeof footers / sizeof footers[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "footer-%zu", i);
        size_t changes = s_walk(name, footers[i], &checked);
        bool dst = strchr(footers[i], ',') != NULL || strcmp(footers[i], "PST8PDT") == 0;
        bool all_year = strstr(footers[i], "J365/25") != NULL;
        if (dst && !all_year && changes < 219)
            fail_msg("%s: only %zu changes 1990-2100", footers[i], changes);
        if (!dst && changes != 0)
            fail_msg("%s: %zu changes without DST", footers[i], changes);
    }
}

/* Transitions from the table, then the footer; version 1 files (32-bit
 * times, no footer) read the same table. */
static void test_table_then_footer(void **state)
{
    (void)state;
    static const int32_t utoff[] = { 3600, 7200, -3600 };
    static const int64_t at[] = { 1000000000, 1100000000 };
    static const uint8_t type_of[] = { 1, 2 };
    tzif_t z = { .version = '2', .utoff = utoff, .types = 3, .at = at, .type_of = type_of,
                 .transitions = 2, .footer = "<+03>-3" };
    s_write_tzif(s_dir, "v2", &z);
    z.version = '\0';
    s_write_tzif(s_dir, "v1", &z);
    z.version = '2';
    z.footer = "";
    s_write_tzif(s_dir, "v2-no-footer", &z);
    s_setenv("TZDIR", s_dir);
    char why[256] = "";
    assert_true(tz_check("v2", why, sizeof why));
    /* type 0 before the first transition */
    assert_int_equal(tz_offset_ms("v2", 999999999 * UINT64_C(1000)), HOUR);
    assert_int_equal(tz_offset_ms("v2", 1000000000 * UINT64_C(1000)), 2 * HOUR);
    assert_int_equal(tz_offset_ms("v2", 1099999999 * UINT64_C(1000)), 2 * HOUR);
    /* from the last transition on the footer, as glibc reads it (in a file
     * zic wrote, the footer agrees with the last transition's type) */
    assert_int_equal(tz_offset_ms("v2", 1100000000 * UINT64_C(1000)), 3 * HOUR);
    assert_int_equal(tz_offset_ms("v2", 1100000001 * UINT64_C(1000)), 3 * HOUR);
    assert_int_equal(tz_offset_ms("v1", 999999999 * UINT64_C(1000)), HOUR);
    assert_int_equal(tz_offset_ms("v1", 1000000000 * UINT64_C(1000)), 2 * HOUR);
    assert_int_equal((int64_t)tz_offset_ms("v1", 1200000000 * UINT64_C(1000)), -HOUR);
    assert_int_equal((int64_t)tz_offset_ms("v2-no-footer", 1200000000 * UINT64_C(1000)), -HOUR);
    /* the cached span does not outlive its change */
    assert_int_equal(tz_offset_ms("v2", 1099999999 * UINT64_C(1000)), 2 * HOUR);
}

/* s_expect_refused: tz_check(NAME) fails saying NEEDLE, and the zone's
 * times count as UTC. */
static void s_expect_refused(const char *name, const char *needle)
{
    char why[512] = "";
    if (tz_check(name, why, sizeof why))
        fail_msg("%s: read as a valid zone", name);
    if (!strstr(why, needle))
        fail_msg("%s: \"%s\" does not say \"%s\"", name, why, needle);
    assert_int_equal(tz_offset_ms(name, s_utc(2026, 7, 15, 12, 0)), 0);
}

static void test_missing_and_corrupt_files(void **state)
{
    (void)state;
    s_expect_refused("Mars/Olympus_Mons", "No such file");
    s_expect_refused("../etc/passwd", "not a zone name");
    s_expect_refused("/usr/share/zoneinfo/UTC", "not a zone name");
    s_expect_refused("America", "not a regular file");

    /* a real file, then every shorter prefix of it, and a bad magic */
    FILE *f = fopen("/usr/share/zoneinfo/America/New_York", "r");
    assert_non_null(f);
    static uint8_t ny[64 * 1024];
    size_t size = fread(ny, 1, sizeof ny, f);
    fclose(f);
    assert_true(size > 44);
    char path[512];
    snprintf(path, sizeof path, "%s/cut", s_dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, ny, size), (ssize_t)size);
    assert_int_equal(close(fd), 0);
    s_setenv("TZDIR", s_dir);
    assert_true(tz_check("cut", NULL, 0));
    assert_int_equal((int64_t)tz_offset_ms("cut", s_utc(2026, 1, 15, 12, 0)), -5 * HOUR);
    for (size_t len = size; len-- > 0;) {
        assert_int_equal(truncate(path, (off_t)len), 0);
        tz_reset();
        s_expect_refused("cut", len < 44 ? "truncated (header)" : "truncated");
    }
    ny[2] = 'x';
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, ny, size), (ssize_t)size);
    assert_int_equal(close(fd), 0);
    tz_reset();
    s_expect_refused("cut", "bad magic");

    /* broken tables and footers */
    static const int32_t utoff[] = { 3600, 7200 };
    static const int64_t backwards[] = { 1100000000, 1000000000 };
    static const int64_t forwards[] = { 1000000000, 1100000000 };
    static const uint8_t types[] = { 1, 0 }, bad_types[] = { 1, 2 };
    tzif_t z = { .version = '2', .utoff = utoff, .types = 2, .at = backwards, .type_of = types,
                 .transitions = 2, .footer = "" };
    s_write_tzif(s_dir, "backwards", &z);
    z.at = forwards;
    z.type_of = bad_types;
    s_write_tzif(s_dir, "bad-type", &z);
    z.type_of = types;
    z.footer = "EST5EDT,M13.1.0,M11.1.0";
    s_write_tzif(s_dir, "bad-month", &z);
    z.footer = "EST5EDT,M3.2.0";
    s_write_tzif(s_dir, "one-rule", &z);
    z.footer = "E5";
    s_write_tzif(s_dir, "short-name", &z);
    z.types = 0;
    z.transitions = 0;
    z.footer = "UTC0";
    s_write_tzif(s_dir, "no-types", &z);
    static const int32_t far[] = { 30 * 3600 };
    z.utoff = far;
    z.types = 1;
    s_write_tzif(s_dir, "far-offset", &z);
    z.utoff = utoff;
    s_write_tzif(s_dir, "trailing", &z);
    snprintf(path, sizeof path, "%s/trailing", s_dir);
    f = fopen(path, "a");
    assert_non_null(f);
    fputs("more", f);
    assert_int_equal(fclose(f), 0);
    tz_reset();
    s_expect_refused("backwards", "is not after the one before");
    s_expect_refused("bad-type", "names type 2 of 2");
    s_expect_refused("bad-month", "bad footer TZ string");
    s_expect_refused("one-rule", "bad footer TZ string");
    s_expect_refused("short-name", "bad footer TZ string");
    s_expect_refused("no-types", "bad header counts");
    s_expect_refused("far-offset", "out of range");
    s_expect_refused("trailing", "data after the footer");
    /* refusals are cached like zones: asking again reads nothing */
    assert_int_equal(unlink(path), 0);
    s_expect_refused("trailing", "data after the footer");
}

int main(void)
{
    const char *tz = getenv("TZ"), *tzdir = getenv("TZDIR");
    s_saved_tz = tz ? strdup(tz) : NULL;
    s_saved_tzdir = tzdir ? strdup(tzdir) : NULL;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_days_from_civil_matches_timegm, s_setup),
        cmocka_unit_test_setup(test_utc_is_zero, s_setup),
        cmocka_unit_test_setup(test_shanghai_is_plus_eight_all_year, s_setup),
        cmocka_unit_test_setup(test_new_york_changes_with_dst, s_setup),
        cmocka_unit_test_setup(test_minute_of_day, s_setup),
        cmocka_unit_test_setup(test_process_tz_is_left_alone, s_setup),
        cmocka_unit_test_setup(test_more_zones_than_the_cache, s_setup),
        cmocka_unit_test_setup_teardown(test_real_zones_match_glibc, s_setup, s_restore_env),
        cmocka_unit_test_setup_teardown(test_footer_rules_match_glibc, s_dir_setup,
                                        s_dir_teardown),
        cmocka_unit_test_setup_teardown(test_table_then_footer, s_dir_setup, s_dir_teardown),
        cmocka_unit_test_setup_teardown(test_missing_and_corrupt_files, s_dir_setup,
                                        s_dir_teardown),
    };
    int failed = cmocka_run_group_tests_name("tz", tests, NULL, NULL);
    tz_reset();  /* free the cached zones (LeakSanitizer) */
    free(s_saved_tz);
    free(s_saved_tzdir);
    return failed;
}
