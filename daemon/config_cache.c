/* config_cache.c - owns the parsed-store cache files: one per @include'd
 * store file, its stores written row by row of the key table's store rows
 * (see config_cache.h). */
#include "config_cache.h"
#include "config_table.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A store is written by walking the store rows of the key table (and the
 * staffing rows of its windows, the rows of its campaign shares), each by
 * its kind, then the two fields no
 * row sets (its line and its id's line); a key added to the table is cached
 * with no change here. The header holds a hash of those rows (paths, kinds,
 * offsets, defaults, ranges): a file written by a build whose table differs
 * is a miss. Bump CACHE_VERSION when how a kind is written or the header
 * changes. Numbers are written in the host's byte order (a cache belongs
 * to one machine); a file from a host of the other order reads as another
 * version. */
#define CACHE_MAGIC "SLUICE-STORES\n\0\0"
#define CACHE_VERSION UINT32_C(4)
#define NO_STRING UINT32_MAX

uint64_t config_cache_hash(const void *data, size_t len)
{
    const char *text = data;
    const uint64_t k1 = UINT64_C(0x9E3779B97F4A7C15), k2 = UINT64_C(0xC2B2AE3D27D4EB4F);
    uint64_t a = len ^ k1, b = ~len;
    size_t i = 0;
    for (; i + 16 <= len; i += 16) { /* two lanes: a chain of multiplies is the limit */
        uint64_t x, y;
        memcpy(&x, text + i, 8);
        memcpy(&y, text + i + 8, 8);
        a = ((a ^ x) * k1);
        a ^= a >> 29;
        b = ((b ^ y) * k2);
        b ^= b >> 31;
    }
    uint64_t tail[2] = { 0, 0 };
    memcpy(tail, text + i, len - i);
    a = (a ^ tail[0]) * k1;
    b = (b ^ tail[1]) * k2;
    uint64_t h = a ^ (b << 23 | b >> 41);
    h ^= h >> 33;
    h *= UINT64_C(0xFF51AFD7ED558CCD);
    h ^= h >> 33;
    h *= UINT64_C(0xC4CEB9FE1A85EC53);
    return h ^ (h >> 33);
}

static uint64_t s_mix(uint64_t h, const void *data, size_t len)
{
    return (h ^ config_cache_hash(data, len)) * UINT64_C(0x9E3779B97F4A7C15);
}

/* s_layout hashes what the store rows of the table say about a store's
 * fields, and the sizes of the structs they point into. */
static uint64_t s_layout(void)
{
    static const enum scope_id sids[] = { S_STORE, S_STAFFING, S_STORE_CAMPAIGN };
    uint64_t h = s_mix(0, (const uint64_t[]){ sizeof(config_store_t), sizeof(config_staffing_t),
                                              sizeof(config_store_campaign_t) },
                       3 * sizeof(uint64_t));
    for (size_t k = 0; k < sizeof sids / sizeof sids[0]; k++) {
        const struct scope *sc = &config_scopes[sids[k]];
        for (size_t i = 0; i < sc->row_count; i++) {
            const struct key_row *row = &sc->rows[i];
            const uint64_t n[2] = { (uint64_t)row->kind, (uint64_t)row->offset };
            const double range[2] = { row->min, row->max };
            h = s_mix(h, row->path, strlen(row->path) + 1);
            h = s_mix(h, n, sizeof n);
            h = s_mix(h, range, sizeof range);
            h = s_mix(h, row->def ? row->def : "", row->def ? strlen(row->def) + 1 : 0);
        }
    }
    return h;
}

/* A plan is how the codec walks a store: the store rows of the table in
 * order, each written by its kind. A plain number (int, id, double, hours,
 * location) is written as its bytes in host order, so rows whose fields lie
 * back to back in the struct are one copy (a store's location to its hours
 * are one, a staffing window is one), which keeps the walk close to code
 * written field by field. Built per call: a few dozen rows. */
struct step {
    size_t offset, bytes;        /* BYTES > 0: plain bytes at OFFSET */
    enum kind kind;              /* else a field of this kind at OFFSET */
};

struct plan {
    struct step store[ROWS_MAX], window[ROWS_MAX], share[ROWS_MAX];
    size_t store_count, window_count, share_count;
};

/* s_plain_bytes: the bytes of a plain number's field, 0 for other kinds. */
static size_t s_plain_bytes(enum kind kind)
{
    switch (kind) {
    case K_INT:
    case K_CLOCK:
        return sizeof(int);
    case K_ID:
        return sizeof(uint32_t);
    case K_DOUBLE:
        return sizeof(double);
    case K_HOURS:
        return 2 * sizeof(int);
    case K_LOCATION:
        return 2 * sizeof(double);
    case K_INSTANT:
        return sizeof(int64_t);
    default:
        return 0;
    }
}

static size_t s_plan_scope(enum scope_id sid, struct step *steps)
{
    const struct scope *sc = &config_scopes[sid];
    size_t n = 0;
    for (size_t i = 0; i < sc->row_count; i++) {
        const struct key_row *row = &sc->rows[i];
        size_t bytes = s_plain_bytes(row->kind);
        struct step *last = n ? &steps[n - 1] : NULL;
        if (bytes && last && last->bytes && last->offset + last->bytes == row->offset)
            last->bytes += bytes;
        else
            steps[n++] = (struct step){ row->offset, bytes, row->kind };
    }
    return n;
}

static void s_plan(struct plan *pl)
{
    pl->store_count = s_plan_scope(S_STORE, pl->store);
    pl->window_count = s_plan_scope(S_STAFFING, pl->window);
    pl->share_count = s_plan_scope(S_STORE_CAMPAIGN, pl->share);
}

/* s_file_name: DIR/stores-<hash of the source's path>.cache in BUF. */
static bool s_file_name(const char *dir, const char *path, char *buf, size_t size)
{
    uint64_t h = config_cache_hash(path, strlen(path));
    return (size_t)snprintf(buf, size, "%s/stores-%016" PRIx64 ".cache", dir, h) < size;
}

/* ------------------------------------------------------------- writing */

struct out {
    unsigned char *buf;
    size_t len, cap;
    bool oom;
    const char **tz;         /* the zones the stores written use, */
    size_t tz_count;         /* by index, for the header's table */
    struct plan plan;
};

static void s_put(struct out *o, const void *data, size_t len)
{
    if (o->oom)
        return;
    if (o->len + len > o->cap) {
        size_t cap = o->cap ? o->cap : 64 << 10;
        while (cap < o->len + len)
            cap *= 2;
        unsigned char *buf = realloc(o->buf, cap);
        if (!buf) {
            o->oom = true;
            return;
        }
        o->buf = buf;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, data, len);
    o->len += len;
}

static void s_put_u32(struct out *o, uint32_t v) { s_put(o, &v, sizeof v); }
static void s_put_i32(struct out *o, int v) { s_put(o, &(int32_t){ (int32_t)v }, 4); }
static void s_put_u64(struct out *o, uint64_t v) { s_put(o, &v, sizeof v); }

static void s_put_str(struct out *o, const char *s)
{
    size_t len = s ? strlen(s) : 0;
    if (s && len >= NO_STRING) {
        o->oom = true; /* cannot be written: no cache file */
        return;
    }
    s_put_u32(o, s ? (uint32_t)len : NO_STRING);
    if (s)
        s_put(o, s, len);
}

/* s_put_key writes what a reader must match: the header. */
static void s_put_key(struct out *o, const config_cache_key_t *key)
{
    s_put(o, CACHE_MAGIC, sizeof CACHE_MAGIC - 1);
    s_put_u32(o, CACHE_VERSION);
    s_put_u64(o, s_layout());
    s_put_u64(o, key->len);
    s_put_u64(o, key->hash);
    s_put_str(o, key->path);
    s_put_str(o, key->shown);
    s_put_u32(o, (uint32_t)key->brand_count);
    for (size_t i = 0; i < key->brand_count; i++)
        s_put_str(o, key->brands[i].name);
    s_put_u32(o, (uint32_t)key->platform_count);
    for (size_t i = 0; i < key->platform_count; i++)
        s_put_str(o, key->platforms[i].name);
    s_put_u32(o, (uint32_t)key->campaign_count);
    for (size_t i = 0; i < key->campaign_count; i++)
        s_put_str(o, key->campaigns[i].name);
    s_put_u32(o, (uint32_t)key->shard_count);
    for (size_t i = 0; i < key->shard_count; i++)
        s_put_str(o, key->shards[i].name);
}

/* s_tz_index: the index of NAME in O's zone table (added when new), -1
 * for none or when out of memory (then O is marked). Stores of one file use
 * few zones, and consecutive stores often the same one. */
static int s_tz_index(struct out *o, const char *name)
{
    if (!name)
        return -1;
    for (size_t i = o->tz_count; i-- > 0;)
        if (o->tz[i] == name || strcmp(o->tz[i], name) == 0)
            return (int)i;
    const char **v = realloc(o->tz, (o->tz_count + 1) * sizeof *v);
    if (!v) {
        o->oom = true;
        return -1;
    }
    o->tz = v;
    v[o->tz_count] = name;
    return (int)o->tz_count++;
}

static int s_int_at(const char *field)
{
    int v;
    memcpy(&v, field, sizeof v);
    return v;
}

static const char *s_string_at(const char *field)
{
    const char *v;
    memcpy(&v, field, sizeof v);
    return v;
}

/* s_put_fields writes BASE by COUNT STEPS of O's plan. */
static void s_put_fields(struct out *o, const struct step *steps, size_t count, const char *base)
{
    for (size_t i = 0; i < count; i++) {
        const char *field = base + steps[i].offset;
        if (steps[i].bytes) {
            s_put(o, field, steps[i].bytes);
            continue;
        }
        switch (steps[i].kind) {
        case K_BRAND:
        case K_CAMPAIGN:
        case K_SHARD:
            s_put_i32(o, s_int_at(field));
            break;
        case K_BOOL: {
            bool b;
            memcpy(&b, field, sizeof b);
            s_put_u32(o, b);
            break;
        }
        case K_STRING:
        case K_ADAPTER:
            s_put_str(o, s_string_at(field));
            break;
        case K_TIMEZONE:
            s_put_i32(o, s_tz_index(o, s_string_at(field)));
            break;
        case K_PLATFORMS: {
            int n = s_int_at(field);
            s_put_i32(o, n);
            for (int k = 0; k < n && k < CONFIG_MAX_STORE_PLATFORMS; k++)
                s_put_i32(o, s_int_at(field + sizeof(int) * (size_t)(1 + k)));
            break;
        }
        case K_STAFFING: {
            int n = s_int_at(field);
            s_put_i32(o, n);
            for (int k = 0; k < n && k < CONFIG_MAX_STAFFING; k++)
                s_put_fields(o, o->plan.window, o->plan.window_count,
                             field + sizeof(int) + (size_t)k * sizeof(config_staffing_t));
            break;
        }
        case K_CAMPAIGNS: {
            int n = s_int_at(field);
            s_put_i32(o, n);
            for (int k = 0; k < n && k < CONFIG_MAX_STORE_CAMPAIGNS; k++)
                s_put_fields(o, o->plan.share, o->plan.share_count,
                             field + CAMPAIGNS_ARRAY_AT +
                                 (size_t)k * sizeof(config_store_campaign_t));
            break;
        }
        case K_INT:
        case K_ID:
        case K_DOUBLE:
        case K_HOURS:
        case K_CLOCK:
        case K_LOCATION:
        case K_INSTANT:
        case K_ENDPOINTS: /* not a store's */
        case K_COUNT:
            break; /* plain numbers: copied above */
        }
    }
}

static void s_put_store(struct out *o, const config_store_t *st, unsigned id_line)
{
    s_put_fields(o, o->plan.store, o->plan.store_count, (const char *)st);
    s_put_i32(o, st->line);
    s_put_u32(o, id_line);
}

/* s_write_file writes LEN bytes of BUF to PATH.tmp.<pid>, then renames it
 * to PATH. Not fsync'ed: a file torn by a crash fails its checksum, which
 * is a miss, and costs only a parse. */
static bool s_write_file(const char *path, const unsigned char *buf, size_t len)
{
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp)
        return false;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return false;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    bool ok = close(fd) == 0 && done == len && rename(tmp, path) == 0;
    if (!ok)
        unlink(tmp);
    return ok;
}

bool config_cache_write(const char *dir, const config_cache_key_t *key, const config_store_t *stores,
                        const unsigned *id_lines, size_t count)
{
    char path[PATH_MAX];
    if (!s_file_name(dir, key->path, path, sizeof path))
        return false;
    struct out head = { 0 }, body = { 0 };
    bool ok = false;
    /* the body first, to learn the zones the header's table lists */
    s_plan(&body.plan);
    s_put_u64(&body, count);
    for (size_t i = 0; i < count; i++)
        s_put_store(&body, &stores[i], id_lines[i]);
    s_put_key(&head, key);
    s_put_u32(&head, (uint32_t)body.tz_count);
    for (size_t i = 0; i < body.tz_count; i++)
        s_put_str(&head, body.tz[i]);
    s_put(&head, body.buf, body.len);
    s_put_u64(&head, config_cache_hash(head.buf, head.len));
    if (!head.oom && !body.oom)
        ok = s_write_file(path, head.buf, head.len);
    free(body.tz);
    free(head.buf);
    free(body.buf);
    return ok;
}

/* ------------------------------------------------------------- reading */

/* A reader over the checked bytes of a cache file: every get checks that
 * the bytes are there; the first that is not marks the reader bad, and
 * later gets read zeros. */
struct in {
    const unsigned char *at, *end;
    bool bad;
    struct plan plan;
};

static void s_get(struct in *r, void *to, size_t len)
{
    if (r->bad || (size_t)(r->end - r->at) < len) {
        r->bad = true;
        memset(to, 0, len);
        return;
    }
    memcpy(to, r->at, len);
    r->at += len;
}

static uint32_t s_get_u32(struct in *r) { uint32_t v; s_get(r, &v, sizeof v); return v; }
static int s_get_i32(struct in *r) { int32_t v; s_get(r, &v, sizeof v); return v; }
static uint64_t s_get_u64(struct in *r) { uint64_t v; s_get(r, &v, sizeof v); return v; }

/* s_get_str points *S at a string's bytes in the file (not NUL-terminated),
 * *LEN its length; *S NULL for a NULL string. */
static void s_get_str(struct in *r, const char **s, size_t *len)
{
    uint32_t n = s_get_u32(r);
    *s = NULL;
    *len = 0;
    if (r->bad || n == NO_STRING)
        return;
    if ((size_t)(r->end - r->at) < n) {
        r->bad = true;
        return;
    }
    *s = (const char *)r->at;
    *len = n;
    r->at += n;
}

/* s_match_str: the next string is exactly WANT (NULL matches NULL). */
static bool s_match_str(struct in *r, const char *want)
{
    const char *s;
    size_t len;
    s_get_str(r, &s, &len);
    if (r->bad || (s == NULL) != (want == NULL))
        return false;
    return !s || (strlen(want) == len && memcmp(s, want, len) == 0);
}

static bool s_match_key(struct in *r, const config_cache_key_t *key)
{
    char magic[sizeof CACHE_MAGIC - 1];
    s_get(r, magic, sizeof magic);
    if (memcmp(magic, CACHE_MAGIC, sizeof magic) != 0 || s_get_u32(r) != CACHE_VERSION ||
        s_get_u64(r) != s_layout() || s_get_u64(r) != key->len || s_get_u64(r) != key->hash || !s_match_str(r, key->path) ||
        !s_match_str(r, key->shown) || s_get_u32(r) != key->brand_count)
        return false;
    for (size_t i = 0; i < key->brand_count; i++)
        if (!s_match_str(r, key->brands[i].name))
            return false;
    if (s_get_u32(r) != key->platform_count)
        return false;
    for (size_t i = 0; i < key->platform_count; i++)
        if (!s_match_str(r, key->platforms[i].name))
            return false;
    if (s_get_u32(r) != key->campaign_count)
        return false;
    for (size_t i = 0; i < key->campaign_count; i++)
        if (!s_match_str(r, key->campaigns[i].name))
            return false;
    if (s_get_u32(r) != key->shard_count)
        return false;
    for (size_t i = 0; i < key->shard_count; i++)
        if (!s_match_str(r, key->shards[i].name))
            return false;
    return !r->bad;
}

/* s_in_range: V in [LO, HI). */
static bool s_in_range(long long v, long long lo, long long hi)
{
    return v >= lo && v < hi;
}

/* s_get_fields reads BASE by COUNT STEPS of R's plan (its strings
 * malloc'ed), checking every count and index against KEY and E's zone
 * table. Once R is bad its gets read zeros, so the walk goes on and fails
 * at its end. */
static bool s_get_fields(struct in *r, const config_cache_key_t *key,
                         const config_cache_entry_t *e, const struct step *steps, size_t count,
                         char *base)
{
    for (size_t i = 0; i < count; i++) {
        char *field = base + steps[i].offset;
        if (steps[i].bytes) {
            s_get(r, field, steps[i].bytes);
            continue;
        }
        int n;
        switch (steps[i].kind) {
        case K_BRAND:
            n = s_get_i32(r);
            if (!s_in_range(n, -1, (long long)key->brand_count))
                return false;
            memcpy(field, &n, sizeof n);
            break;
        case K_CAMPAIGN:
            n = s_get_i32(r);
            if (!s_in_range(n, 0, (long long)key->campaign_count))
                return false;
            memcpy(field, &n, sizeof n);
            break;
        case K_SHARD:
            n = s_get_i32(r);
            if (!s_in_range(n, -1, (long long)key->shard_count))
                return false;
            memcpy(field, &n, sizeof n);
            break;
        case K_BOOL: {
            uint32_t v = s_get_u32(r);
            bool b = v == 1;
            if (v > 1)
                return false;
            memcpy(field, &b, sizeof b);
            break;
        }
        case K_STRING:
        case K_ADAPTER: {
            const char *s;
            size_t len;
            char *copy = NULL;
            s_get_str(r, &s, &len);
            if (s && !(copy = strndup(s, len)))
                return false;
            memcpy(field, &copy, sizeof copy);
            break;
        }
        case K_TIMEZONE: {
            n = s_get_i32(r);
            if (!s_in_range(n, -1, (long long)e->timezone_count))
                return false;
            const char *name = n < 0 ? NULL : e->timezones[n];
            memcpy(field, &name, sizeof name);
            break;
        }
        case K_PLATFORMS:
            n = s_get_i32(r);
            if (!s_in_range(n, 0, CONFIG_MAX_STORE_PLATFORMS + 1))
                return false;
            memcpy(field, &n, sizeof n);
            for (int k = 0; k < n; k++) {
                int at = s_get_i32(r);
                if (!s_in_range(at, 0, (long long)key->platform_count))
                    return false;
                memcpy(field + sizeof(int) * (size_t)(1 + k), &at, sizeof at);
            }
            break;
        case K_STAFFING:
            n = s_get_i32(r);
            if (!s_in_range(n, 0, CONFIG_MAX_STAFFING + 1))
                return false;
            memcpy(field, &n, sizeof n);
            for (int k = 0; k < n; k++)
                if (!s_get_fields(r, key, e, r->plan.window, r->plan.window_count,
                                  field + sizeof(int) + (size_t)k * sizeof(config_staffing_t)))
                    return false;
            break;
        case K_CAMPAIGNS:
            n = s_get_i32(r);
            if (!s_in_range(n, 0, CONFIG_MAX_STORE_CAMPAIGNS + 1))
                return false;
            memcpy(field, &n, sizeof n);
            for (int k = 0; k < n; k++)
                if (!s_get_fields(r, key, e, r->plan.share, r->plan.share_count,
                                  field + CAMPAIGNS_ARRAY_AT +
                                      (size_t)k * sizeof(config_store_campaign_t)))
                    return false;
            break;
        case K_INT:
        case K_ID:
        case K_DOUBLE:
        case K_HOURS:
        case K_CLOCK:
        case K_LOCATION:
        case K_INSTANT:
        case K_ENDPOINTS: /* not a store's */
        case K_COUNT:
            break; /* plain numbers: copied above */
        }
    }
    return !r->bad;
}

/* s_get_store reads one store into ST (its strings malloc'ed: the caller
 * frees them, also when it fails half-way). */
static bool s_get_store(struct in *r, const config_cache_key_t *key, config_cache_entry_t *e,
                        config_store_t *st, unsigned *id_line)
{
    if (!s_get_fields(r, key, e, r->plan.store, r->plan.store_count, (char *)st))
        return false;
    st->line = s_get_i32(r);
    *id_line = s_get_u32(r);
    return !r->bad;
}

/* s_get_body reads the zone table and the stores after the header. */
static bool s_get_body(struct in *r, const config_cache_key_t *key, config_cache_entry_t *e)
{
    uint32_t zones = s_get_u32(r);
    /* each entry takes at least 4 bytes: a bigger count is corrupt */
    if (r->bad || zones > (size_t)(r->end - r->at) / 4 ||
        (zones && !(e->timezones = calloc(zones, sizeof *e->timezones))))
        return false;
    for (; e->timezone_count < zones; e->timezone_count++) {
        const char *s;
        size_t len;
        s_get_str(r, &s, &len);
        if (!s || !(e->timezones[e->timezone_count] = strndup(s, len)))
            return false;
    }
    uint64_t count = s_get_u64(r);
    /* a store takes at least the 8 bytes of its two lines */
    if (r->bad || count > (size_t)(r->end - r->at) / 8)
        return false;
    e->stores = calloc(count + 1, sizeof *e->stores);
    e->id_lines = malloc((count + 1) * sizeof *e->id_lines);
    if (!e->stores || !e->id_lines)
        return false;
    for (; e->count < count; e->count++)
        if (!s_get_store(r, key, e, &e->stores[e->count], &e->id_lines[e->count])) {
            config_free_strings(S_STORE, &e->stores[e->count]); /* the one half read */
            return false;
        }
    return r->at == r->end;
}

/* s_read_file reads PATH whole into a new *BUF of *LEN bytes. */
static bool s_read_file(const char *path, unsigned char **buf, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat st;
    bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 8 &&
              (uintmax_t)st.st_size < SIZE_MAX / 2;
    *buf = ok ? malloc((size_t)st.st_size) : NULL;
    size_t done = 0;
    while (*buf && done < (size_t)st.st_size) {
        ssize_t n = read(fd, *buf + done, (size_t)st.st_size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    close(fd);
    if (!*buf || done != (size_t)st.st_size) {
        free(*buf);
        *buf = NULL;
        return false;
    }
    *len = done;
    return true;
}

bool config_cache_read(const char *dir, const config_cache_key_t *key, config_cache_entry_t *out)
{
    char path[PATH_MAX];
    unsigned char *buf;
    size_t len;
    *out = (config_cache_entry_t){ 0 };
    if (!s_file_name(dir, key->path, path, sizeof path) || !s_read_file(path, &buf, &len))
        return false;
    struct in r = { .at = buf, .end = buf + len - 8 };
    s_plan(&r.plan);
    uint64_t sum;
    memcpy(&sum, buf + len - 8, sizeof sum);
    bool ok = s_match_key(&r, key) && sum == config_cache_hash(buf, len - 8) && s_get_body(&r, key, out);
    free(buf);
    if (!ok)
        config_cache_entry_free(out);
    return ok;
}

void config_cache_entry_free(config_cache_entry_t *e)
{
    if (!e)
        return;
    for (size_t i = 0; e->stores && i < e->count; i++)
        config_free_strings(S_STORE, &e->stores[i]);
    for (size_t i = 0; i < e->timezone_count; i++)
        free(e->timezones[i]);
    free(e->stores);
    free(e->id_lines);
    free(e->timezones);
    *e = (config_cache_entry_t){ 0 };
}

/* ---------------------------------------------------------- the daemon */

const char *config_cache_dir_env(char *buf, size_t size)
{
    const char *env = getenv("CACHE_DIRECTORY");
    if (!env || !*env || *env == ':')
        return NULL;
    size_t len = strcspn(env, ":");
    if (len >= size)
        return NULL;
    memcpy(buf, env, len);
    buf[len] = '\0';
    return buf;
}

void config_cache_report(const config_t *cfg, const char *dir, const char *when)
{
    const config_load_stats_t *st = &cfg->stats;
    log_info("%s: %zu stores from the store cache (%zu files), %zu files parsed, %zu reused; cache %s",
             when, st->stores_cached, st->files_cached, st->files_parsed, st->files_reused,
             dir ? dir : "off (no CACHE_DIRECTORY)");
    if (st->cache_write_failures)
        log_warning("%s: failed to write %zu store cache files in %s: the next start parses them",
                    when, st->cache_write_failures, dir);
}
