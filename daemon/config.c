/* config.c - owns sluiced's configuration: one table of keys drives parsing
 * (libconfig), defaults, validation, the key docs and --check-config. */

/* libconfig names its handle config_t and exports a config_destroy, as we do.
 * Rename both while its header is read; its destructor is declared again
 * below as lc_destroy, linked under its real name. */
#define config_t lc_config_t
#define config_destroy lc_config_destroy_unused
#include <libconfig.h>
#undef config_destroy
#undef config_t

#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

extern void lc_destroy(lc_config_t *lc) __asm__("config_destroy");

typedef config_setting_t setting_t;

#define ZONEINFO_DIR "/usr/share/zoneinfo/"
#define ERRORS_MAX 1000 /* problems written out; the rest are counted */
#define SHOW_MAX 96     /* a value quoted in a message */
#define ROWS_MAX 64     /* rows per scope: one bit each in a uint64_t */

/* ---------------------------------------------------------------- the table */

enum kind {
    K_INT,       /* int within [min, max] */
    K_ID,        /* uint32_t within [min, max]; int64 settings accepted */
    K_DOUBLE,    /* double within [min, max] */
    K_BOOL,
    K_STRING,    /* malloc'ed char *, length within [min, max] */
    K_ADAPTER,   /* string naming an entry of s_adapters */
    K_BRAND,     /* brand name -> index into config_t.brands, "" -> -1 */
    K_HOURS,     /* "HH:MM-HH:MM" -> open_minute, close_minute */
    K_CLOCK,     /* "HH:MM" -> minutes after midnight within [min, max] */
    K_LOCATION,  /* [lat, lng] -> lat, lng */
    K_TIMEZONE,  /* zoneinfo name -> interned const char * */
    K_PLATFORMS, /* ["name", ...] -> platform_count, platforms[] */
    K_STAFFING,  /* ( { from; to; prep_slots; }, ... ) -> staffing_count, staffing[] */
    K_COUNT
};

struct key_row {
    const char *path;   /* dotted; "[]" stands for every element of a list */
    enum kind kind;
    size_t offset;      /* of the (first) field set, in the scope's struct */
    const char *def;    /* default in libconfig syntax; NULL: required */
    double min, max;    /* numbers: value; strings: length; lists: entries */
    const char *doc;
};

enum scope_id { S_DAEMON, S_DISPATCH, S_BRAND, S_PLATFORM, S_STORE, S_STAFFING, S_COUNT };

/* Adapter names sluiced knows; keep in step with the adapter registry. */
static const char *const s_adapters[] = { "zmq" };

#define DM(f) offsetof(config_daemon_t, f)
static const struct key_row s_daemon_rows[] = {
    { "daemon.database", K_STRING, DM(database), "\"host=/run/postgresql dbname=sluice\"", 1, 4096,
      "libpq connection string" },
    { "daemon.ingress", K_STRING, DM(ingress), "\"tcp://127.0.0.1:7400\"", 1, 1024,
      "ZeroMQ ROUTER endpoint where orders arrive" },
    { "daemon.events", K_STRING, DM(events), "\"tcp://127.0.0.1:7401\"", 1, 1024,
      "ZeroMQ PUB endpoint publishing order events" },
    { "daemon.control", K_STRING, DM(control), "\"ipc:///run/sluice/control.sock\"", 1, 1024,
      "ZeroMQ endpoint for sluicectl" },
    { "daemon.http", K_STRING, DM(http), "\"127.0.0.1:9464\"", 1, 1024,
      "host:port serving /metrics /healthz /readyz" },
    { "daemon.max_message_bytes", K_INT, DM(max_message_bytes), "65536", 1024, 16777216,
      "largest ingress message accepted (ZMQ_MAXMSGSIZE)" },
    { "daemon.limits.orders_per_second", K_INT, DM(limits.orders_per_second), "50000", 1, 10000000,
      "global token-bucket rate; orders past it get OVERLOADED" },
    { "daemon.limits.queue_delay_ms", K_INT, DM(limits.queue_delay_ms), "50", 1, 60000,
      "adaptive shedding target: ingress queue delay" },
    { "daemon.limits.commit_latency_ms", K_INT, DM(limits.commit_latency_ms), "250", 1, 60000,
      "adaptive shedding target: batch commit latency" },
    { "daemon.commit_batch_max", K_INT, DM(commit_batch_max), "2000", 1, 20000,
      "most orders written by one commit" },
    { "daemon.db_connections", K_INT, DM(db_connections), "2", 1, 8,
      "PostgreSQL connections committing batches at once (the first also serves lookups)" },
    { "daemon.max_pending_orders", K_INT, DM(max_pending_orders), "100000", 1, 10000000,
      "orders waiting for a commit; past it new orders get OVERLOADED" },
    { "daemon.overloaded_retry_ms", K_INT, DM(overloaded_retry_ms), "200", 1, 600000,
      "retry_after_ms sent with OVERLOADED" },
    { "daemon.unavailable_retry_ms", K_INT, DM(unavailable_retry_ms), "1000", 1, 600000,
      "retry_after_ms sent with UNAVAILABLE" },
    { "daemon.reconnect_min_ms", K_INT, DM(reconnect_min_ms), "100", 1, 600000,
      "first database reconnect delay" },
    { "daemon.reconnect_max_ms", K_INT, DM(reconnect_max_ms), "5000", 1, 600000,
      "cap of the exponential reconnect backoff; at least reconnect_min_ms" },
    { "daemon.paused_retry_ms", K_INT, DM(paused_retry_ms), "60000", 1, 86400000,
      "retry_after_ms sent with STORE_PAUSED (a pause has no announced end)" },
};

#define DI(f) offsetof(config_dispatch_t, f)
static const struct key_row s_dispatch_rows[] = {
    { "dispatch.margin_seconds", K_INT, DI(margin_seconds), "60", 0, 3600,
      "ask for riders at ready_at - pickup_eta - margin_seconds" },
    { "dispatch.assign_timeout_seconds", K_INT, DI(assign_timeout_seconds), "120", 1, 3600,
      "an attempt without an assigned rider after this long is cancelled and retried elsewhere" },
    { "dispatch.max_hold_minutes", K_INT, DI(max_hold_minutes), "15", 0, 1440,
      "no rider by ready_at + max_hold_minutes: the order FAILS and is flagged for refund" },
    { "dispatch.handoff_seconds", K_INT, DI(handoff_seconds), "300", 0, 7200,
      "promised delivery = ready + handoff_seconds + travel from store to drop-off" },
    { "dispatch.rider_kmh", K_DOUBLE, DI(rider_kmh), "15", 1, 200,
      "rider speed that turns the straight-line distance into a travel estimate" },
};

#define BR(f) offsetof(config_brand_t, f)
static const struct key_row s_brand_rows[] = {
    { "brands.[].name", K_STRING, BR(name), NULL, 1, 64,
      "brand name that stores refer to; unique" },
    { "brands.[].orders_per_second", K_INT, BR(orders_per_second), NULL, 1, 10000000,
      "token-bucket rate shared by all the brand's stores" },
};

#define PL(f) offsetof(config_platform_t, f)
static const struct key_row s_platform_rows[] = {
    { "platforms.[].name", K_STRING, PL(name), NULL, 1, 64,
      "platform name that stores list in platforms; unique" },
    { "platforms.[].adapter", K_ADAPTER, PL(adapter), NULL, 1, 64,
      "transport that reaches the platform" },
    { "platforms.[].endpoint", K_STRING, PL(endpoint), NULL, 1, 1024,
      "where the adapter connects (a ZeroMQ endpoint for zmq)" },
    { "platforms.[].timeout_ms", K_INT, PL(timeout_ms), "800", 1, 60000,
      "a request without a reply after this long has failed" },
    { "platforms.[].quote_deadline_ms", K_INT, PL(quote_deadline_ms), "150", 1, 60000,
      "how long dispatch waits for this platform's quote" },
    { "platforms.[].max_inflight", K_INT, PL(max_inflight), "20000", 1, 1000000,
      "most dispatches outstanding at once; past it the pool counts as full" },
    { "platforms.[].breaker.failure_ratio", K_DOUBLE, PL(breaker.failure_ratio), "0.5", 0, 1,
      "the breaker opens when this share of recent requests failed or were slow" },
    { "platforms.[].breaker.slow_ms", K_INT, PL(breaker.slow_ms), "1500", 1, 600000,
      "a reply slower than this counts as a failure" },
    { "platforms.[].breaker.min_requests", K_INT, PL(breaker.min_requests), "20", 1, 1000000,
      "requests seen before the breaker may open" },
    { "platforms.[].breaker.open_seconds", K_INT, PL(breaker.open_seconds), "10", 1, 3600,
      "how long the breaker stays open before a half-open probe" },
};

#define ST(f) offsetof(config_store_t, f)
static const struct key_row s_store_rows[] = {
    { "stores.[].id", K_ID, ST(id), NULL, 1, 4294967295.0,
      "store id used by orders; unique; write ids above 2147483647 with an L suffix (3000000000L)" },
    { "stores.[].brand", K_BRAND, ST(brand), "\"\"", 0, 0,
      "brand whose rate limit the store shares; \"\" for none" },
    { "stores.[].name", K_STRING, ST(name), "\"\"", 0, 256,
      "display name" },
    { "stores.[].location", K_LOCATION, ST(lat), NULL, 0, 0,
      "[latitude, longitude] in WGS84 degrees" },
    { "stores.[].prep_slots", K_INT, ST(prep_slots), NULL, 1, 1000,
      "drinks made in parallel" },
    { "stores.[].item_seconds", K_INT, ST(item_seconds), NULL, 1, 3600,
      "preparation time per item" },
    { "stores.[].order_seconds", K_INT, ST(order_seconds), "0", 0, 3600,
      "overhead per order: prep time = order_seconds + items * item_seconds" },
    { "stores.[].max_wait_minutes", K_INT, ST(max_wait_minutes), NULL, 1, 1440,
      "longest promise made; an order ready later is refused BUSY" },
    { "stores.[].max_queue", K_INT, ST(max_queue), "1000", 1, 100000,
      "most accepted orders waiting to be prepared" },
    { "stores.[].hours", K_HOURS, ST(open_minute), "\"00:00-24:00\"", 0, 0,
      "opening hours, local time; close before open means past midnight" },
    { "stores.[].timezone", K_TIMEZONE, ST(timezone), "\"UTC\"", 0, 0,
      "zoneinfo name that hours and staffing are in" },
    { "stores.[].paused", K_BOOL, ST(paused), "false", 0, 0,
      "refuse new orders with PAUSED" },
    { "stores.[].platforms", K_PLATFORMS, ST(platform_count), "[]", 0, CONFIG_MAX_STORE_PLATFORMS,
      "delivery platforms the store may use, in preference order" },
    { "stores.[].staffing", K_STAFFING, ST(staffing_count), "()", 0, CONFIG_MAX_STAFFING,
      "time windows with their own prep_slots" },
};

#define SF(f) offsetof(config_staffing_t, f)
static const struct key_row s_staffing_rows[] = {
    { "stores.[].staffing.[].from", K_CLOCK, SF(from_minute), NULL, 0, 1439,
      "window start, local \"HH:MM\"" },
    { "stores.[].staffing.[].to", K_CLOCK, SF(to_minute), NULL, 0, 1440,
      "window end, local \"HH:MM\"; before from means past midnight" },
    { "stores.[].staffing.[].prep_slots", K_INT, SF(prep_slots), NULL, 1, 1000,
      "prep_slots during the window" },
};

struct parser;
struct ctx;
typedef void s_check_fn(struct parser *p, const setting_t *grp, const struct ctx *ctx,
                        void *array, size_t index);
static s_check_fn s_check_daemon, s_check_brand, s_check_platform, s_check_store;

struct scope {
    const char *key;          /* top-level key; NULL for staffing */
    bool list;                /* a list of groups, one struct each */
    const char *prefix;       /* rows' path up to their own name */
    size_t prefix_len;
    const struct key_row *rows;
    size_t row_count;
    size_t size;              /* of the struct the rows' offsets point into */
    s_check_fn *check;        /* checks across keys, after the rows */
};

#define PREFIX(s) s, sizeof(s) - 1
#define ROWS(a) a, sizeof(a) / sizeof(a[0])
static const struct scope s_scopes[S_COUNT] = {
    [S_DAEMON] = { "daemon", false, PREFIX("daemon."), ROWS(s_daemon_rows),
                   sizeof(config_daemon_t), s_check_daemon },
    [S_DISPATCH] = { "dispatch", false, PREFIX("dispatch."), ROWS(s_dispatch_rows),
                     sizeof(config_dispatch_t), NULL },
    [S_BRAND] = { "brands", true, PREFIX("brands.[]."), ROWS(s_brand_rows),
                  sizeof(config_brand_t), s_check_brand },
    [S_PLATFORM] = { "platforms", true, PREFIX("platforms.[]."), ROWS(s_platform_rows),
                     sizeof(config_platform_t), s_check_platform },
    [S_STORE] = { "stores", true, PREFIX("stores.[]."), ROWS(s_store_rows),
                  sizeof(config_store_t), s_check_store },
    [S_STAFFING] = { NULL, true, PREFIX("stores.[].staffing.[]."), ROWS(s_staffing_rows),
                     sizeof(config_staffing_t), NULL },
};

#define ROWS_FIT(a) _Static_assert(sizeof a / sizeof a[0] <= ROWS_MAX, #a " has too many rows")
ROWS_FIT(s_daemon_rows);
ROWS_FIT(s_dispatch_rows);
ROWS_FIT(s_brand_rows);
ROWS_FIT(s_platform_rows);
ROWS_FIT(s_store_rows);
ROWS_FIT(s_staffing_rows);

/* ------------------------------------------------------------ parser state */

struct text {
    char *buf;
    size_t len, cap;
    bool oom;
};

struct ctx {                  /* names a group in messages; formatted only on error */
    const struct ctx *parent;
    const char *name;         /* "stores", "daemon" */
    long index;               /* list element index, -1 for a plain group */
};

struct slot {                 /* what one row sets, and where, for one value */
    const struct key_row *row;
    const struct ctx *ctx;
    const char *key;          /* the row's path inside its scope */
    void *base;               /* the scope's struct; the kinds that set several
                               * fields (hours, location, platforms, staffing)
                               * use it as the config_store_t */
    void *field;              /* base + row->offset */
};

struct parser {
    const char *path;         /* main file, as given */
    char *dir;                /* its directory: the @include directory */
    config_t *cfg;            /* being built; owned until handed over */
    struct text errors;
    size_t error_count;
    lc_config_t defaults;     /* every row's default, parsed once per load */
    bool defaults_live;
    const setting_t *def[S_COUNT][ROWS_MAX];
    bool *tz_ok;              /* per cfg->timezones entry: the zoneinfo file exists */
    size_t tz_cap, tz_last;
    size_t brand_last, platform_last;
    uint64_t *ids;            /* open-addressing set of id << 32 | store index + 1 */
    size_t ids_mask;
    const setting_t *stores;  /* the stores list, for "first at" */
};

typedef void s_set_fn(struct parser *p, const struct slot *sl, const setting_t *s);

/* ---------------------------------------------------------------- messages */

__attribute__((format(printf, 2, 0)))
static void s_text_vadd(struct text *t, const char *fmt, va_list ap)
{
    if (t->oom)
        return;
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, copy);
    va_end(copy);
    if (n < 0) {
        t->oom = true;
        return;
    }
    if (t->len + (size_t)n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + (size_t)n + 1)
            cap *= 2;
        char *buf = realloc(t->buf, cap);
        if (!buf) {
            t->oom = true;
            return;
        }
        t->buf = buf;
        t->cap = cap;
        vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    }
    t->len += (size_t)n;
}

__attribute__((format(printf, 2, 3)))
static void s_text_add(struct text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_text_vadd(t, fmt, ap);
    va_end(ap);
}

static void s_text_ctx(struct text *t, const struct ctx *ctx)
{
    if (!ctx)
        return;
    if (ctx->parent) {
        s_text_ctx(t, ctx->parent);
        s_text_add(t, ".");
    }
    s_text_add(t, "%s", ctx->name);
    if (ctx->index >= 0)
        s_text_add(t, "[%ld]", ctx->index);
}

/* s_file_name: libconfig records an @include'd file by the name written in
 * the @include, which is relative to the include directory. */
static const char *s_file_name(const struct parser *p, const char *file, char *buf, size_t size)
{
    if (!file || strcmp(file, p->path) == 0)
        return p->path;
    if (file[0] == '/' || strcmp(p->dir, ".") == 0)
        return file;
    snprintf(buf, size, "%s/%s", p->dir, file);
    return buf;
}

/* s_report adds "FILE:LINE: CTX.KEY: MESSAGE" for the setting AT (NULL: the
 * file itself). */
__attribute__((format(printf, 5, 6)))
static void s_report(struct parser *p, const setting_t *at, const struct ctx *ctx,
                     const char *key, const char *fmt, ...)
{
    if (++p->error_count > ERRORS_MAX)
        return;
    char name[PATH_MAX];
    const char *file = s_file_name(p, at ? config_setting_source_file(at) : NULL, name, sizeof name);
    if (at && config_setting_source_line(at) > 0)
        s_text_add(&p->errors, "%s:%u: ", file, config_setting_source_line(at));
    else
        s_text_add(&p->errors, "%s: ", file);
    s_text_ctx(&p->errors, ctx);
    if (key)
        s_text_add(&p->errors, "%s%s", ctx ? "." : "", key);
    if (ctx || key)
        s_text_add(&p->errors, ": ");
    va_list ap;
    va_start(ap, fmt);
    s_text_vadd(&p->errors, fmt, ap);
    va_end(ap);
    s_text_add(&p->errors, "\n");
}

/* s_show writes S as it would appear in the file, for "(got ...)". */
static const char *s_show(const setting_t *s, char *buf, size_t size)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
        snprintf(buf, size, "%d", config_setting_get_int(s));
        break;
    case CONFIG_TYPE_INT64:
        snprintf(buf, size, "%lldL", config_setting_get_int64(s));
        break;
    case CONFIG_TYPE_FLOAT:
        snprintf(buf, size, "%g", config_setting_get_float(s));
        if (!strpbrk(buf, ".eni"))
            strncat(buf, ".0", size - strlen(buf) - 1);
        break;
    case CONFIG_TYPE_BOOL:
        snprintf(buf, size, "%s", config_setting_get_bool(s) ? "true" : "false");
        break;
    case CONFIG_TYPE_STRING: {
        const char *v = config_setting_get_string(s);
        size_t n = 0, max = size - 6; /* quotes, "...", NUL */
        buf[n++] = '"';
        for (; *v && n < max; v++)
            buf[n++] = (unsigned char)*v < ' ' ? '?' : *v;
        if (*v) {
            memcpy(buf + n, "...", 3);
            n += 3;
        }
        buf[n++] = '"';
        buf[n] = '\0';
        break;
    }
    case CONFIG_TYPE_GROUP:
        snprintf(buf, size, "a group { ... }");
        break;
    case CONFIG_TYPE_ARRAY:
        snprintf(buf, size, "an array [ ... ]");
        break;
    case CONFIG_TYPE_LIST:
        snprintf(buf, size, "a list ( ... )");
        break;
    default:
        snprintf(buf, size, "nothing");
        break;
    }
    return buf;
}

/* s_bad reports a problem with the value S of a slot, quoting the value. */
__attribute__((format(printf, 4, 5)))
static void s_bad(struct parser *p, const struct slot *sl, const setting_t *s, const char *fmt, ...)
{
    char msg[256], got[SHOW_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    s_report(p, s, sl->ctx, sl->key, "%s (got %s)", msg, s_show(s, got, sizeof got));
}

/* s_distance is the edit distance of A and B (first 63 bytes). */
static size_t s_distance(const char *a, const char *b)
{
    size_t la = strnlen(a, 63), lb = strnlen(b, 63), row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* s_unknown reports an unknown key, suggesting the nearest known one among
 * the names valid in SECTION of scope SC (every scope's key when SC is NULL). */
static void s_unknown(struct parser *p, const struct scope *sc, const char *section,
                      const setting_t *s, const struct ctx *ctx, const char *key)
{
    const char *name = config_setting_name(s);
    char best[64] = "", cand[64];
    size_t best_d = 4, seclen = strlen(section), len = strlen(name);
    size_t n = sc ? sc->row_count : S_COUNT;
    for (size_t i = 0; i < n; i++) {
        const char *rel;
        if (sc) {
            rel = sc->rows[i].path + sc->prefix_len;
            if (strncmp(rel, section, seclen) != 0)
                continue;
            rel += seclen;
        } else if (!(rel = s_scopes[i].key)) {
            continue;
        }
        snprintf(cand, sizeof cand, "%.*s", (int)strcspn(rel, "."), rel);
        size_t d = s_distance(name, cand);
        if (d < best_d && 2 * d <= len) { /* close, for its length */
            best_d = d;
            snprintf(best, sizeof best, "%s", cand);
        }
    }
    if (best[0])
        s_report(p, s, ctx, key, "unknown key (did you mean %s?)", best);
    else
        s_report(p, s, ctx, key, "unknown key");
}

/* ---------------------------------------------------------- value parsers */

static bool s_integer(const setting_t *s, long long *v)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
        *v = config_setting_get_int(s);
        return true;
    case CONFIG_TYPE_INT64:
        *v = config_setting_get_int64(s);
        return true;
    default:
        return false;
    }
}

static bool s_number(const setting_t *s, double *v)
{
    long long i;
    if (s_integer(s, &i)) {
        *v = (double)i;
        return true;
    }
    if (config_setting_type(s) != CONFIG_TYPE_FLOAT)
        return false;
    *v = config_setting_get_float(s);
    return isfinite(*v);
}

static const char *s_string(struct parser *p, const struct slot *sl, const setting_t *s)
{
    if (config_setting_type(s) == CONFIG_TYPE_STRING)
        return config_setting_get_string(s);
    s_bad(p, sl, s, "must be a string");
    return NULL;
}

/* s_clock parses exactly five characters "HH:MM", 00:00 to 24:00. */
static bool s_clock(const char *v, int *minute)
{
    for (int i = 0; i < 5; i++)
        if (i == 2 ? v[i] != ':' : (v[i] < '0' || v[i] > '9'))
            return false;
    int h = (v[0] - '0') * 10 + (v[1] - '0'), m = (v[3] - '0') * 10 + (v[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && m != 0))
        return false;
    *minute = h * 60 + m;
    return true;
}

static void s_set_int(struct parser *p, const struct slot *sl, const setting_t *s)
{
    long long v;
    if (!s_integer(s, &v))
        s_bad(p, sl, s, "must be an integer");
    else if (v < sl->row->min || v > sl->row->max)
        s_bad(p, sl, s, "must be between %.0f and %.0f", sl->row->min, sl->row->max);
    else
        *(int *)sl->field = (int)v;
}

static void s_set_id(struct parser *p, const struct slot *sl, const setting_t *s)
{
    long long v;
    if (!s_integer(s, &v))
        s_bad(p, sl, s, "must be an integer");
    else if (v < 0 && config_setting_type(s) == CONFIG_TYPE_INT)
        s_bad(p, sl, s, "must be between %.0f and %.0f; libconfig wraps integers above "
              "2147483647 unless written with an L suffix, e.g. 3000000000L",
              sl->row->min, sl->row->max);
    else if (v < sl->row->min || v > sl->row->max)
        s_bad(p, sl, s, "must be between %.0f and %.0f", sl->row->min, sl->row->max);
    else
        *(uint32_t *)sl->field = (uint32_t)v;
}

static void s_set_double(struct parser *p, const struct slot *sl, const setting_t *s)
{
    double v;
    if (!s_number(s, &v))
        s_bad(p, sl, s, "must be a number");
    else if (v < sl->row->min || v > sl->row->max)
        s_bad(p, sl, s, "must be between %g and %g", sl->row->min, sl->row->max);
    else
        *(double *)sl->field = v;
}

static void s_set_bool(struct parser *p, const struct slot *sl, const setting_t *s)
{
    if (config_setting_type(s) != CONFIG_TYPE_BOOL)
        s_bad(p, sl, s, "must be true or false");
    else
        *(bool *)sl->field = config_setting_get_bool(s);
}

static void s_set_string(struct parser *p, const struct slot *sl, const setting_t *s)
{
    const char *v = s_string(p, sl, s);
    if (!v)
        return;
    size_t len = strlen(v);
    if (len < sl->row->min) {
        s_bad(p, sl, s, "must not be empty");
        return;
    }
    if (len > sl->row->max) {
        s_bad(p, sl, s, "must be at most %.0f characters", sl->row->max);
        return;
    }
    char *copy = strdup(v);
    if (!copy) {
        s_report(p, s, sl->ctx, sl->key, "out of memory");
        return;
    }
    char **field = sl->field;
    free(*field);
    *field = copy;
}

static void s_set_adapter(struct parser *p, const struct slot *sl, const setting_t *s)
{
    const char *v = s_string(p, sl, s);
    if (!v)
        return;
    for (size_t i = 0; i < sizeof s_adapters / sizeof s_adapters[0]; i++)
        if (strcmp(v, s_adapters[i]) == 0) {
            s_set_string(p, sl, s);
            return;
        }
    char known[128] = "";
    for (size_t i = 0; i < sizeof s_adapters / sizeof s_adapters[0]; i++)
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "",
                 s_adapters[i]);
    s_bad(p, sl, s, "unknown adapter, known: %s", known);
}

/* s_find_name looks NAME up among COUNT structs of SIZE bytes whose char *
 * name sits at NAME_OFFSET, trying *LAST first; -1 when absent. */
static int s_find_name(const void *array, size_t count, size_t size, size_t name_offset,
                       size_t *last, const char *name)
{
    const char *base = array;
    for (size_t k = 0; k < count; k++) {
        size_t i = (*last + k) % count;
        const char *have = *(char *const *)(const void *)(base + i * size + name_offset);
        if (have && strcmp(have, name) == 0) {
            *last = i;
            return (int)i;
        }
    }
    return -1;
}

static void s_set_brand(struct parser *p, const struct slot *sl, const setting_t *s)
{
    const char *v = s_string(p, sl, s);
    if (!v)
        return;
    int i = -1;
    if (v[0]) {
        i = s_find_name(p->cfg->brands, p->cfg->brand_count, sizeof(config_brand_t),
                        offsetof(config_brand_t, name), &p->brand_last, v);
        if (i < 0) {
            s_bad(p, sl, s, "unknown brand: not in brands");
            return;
        }
    }
    *(int *)sl->field = i;
}

static void s_set_hours(struct parser *p, const struct slot *sl, const setting_t *s)
{
    config_store_t *st = sl->base;
    const char *v = s_string(p, sl, s);
    int open, close;
    if (!v)
        return;
    if (strlen(v) != 11 || v[5] != '-' || !s_clock(v, &open) || !s_clock(v + 6, &close))
        s_bad(p, sl, s, "must be \"HH:MM-HH:MM\" with times from 00:00 to 24:00");
    else if (open == 24 * 60)
        s_bad(p, sl, s, "cannot open at 24:00, write 00:00");
    else if (open == close)
        s_bad(p, sl, s, "opens and closes at the same time; \"00:00-24:00\" means always open");
    else {
        st->open_minute = open;
        st->close_minute = close;
    }
}

static void s_set_clock(struct parser *p, const struct slot *sl, const setting_t *s)
{
    const char *v = s_string(p, sl, s);
    int minute;
    if (!v)
        return;
    if (strlen(v) != 5 || !s_clock(v, &minute) || minute < sl->row->min || minute > sl->row->max)
        s_bad(p, sl, s, "must be \"HH:MM\" from %02d:%02d to %02d:%02d",
              (int)sl->row->min / 60, (int)sl->row->min % 60,
              (int)sl->row->max / 60, (int)sl->row->max % 60);
    else
        *(int *)sl->field = minute;
}

static void s_set_location(struct parser *p, const struct slot *sl, const setting_t *s)
{
    config_store_t *st = sl->base;
    double lat, lng;
    if ((!config_setting_is_array(s) && !config_setting_is_list(s)) ||
        config_setting_length(s) != 2 || !s_number(config_setting_get_elem(s, 0), &lat) ||
        !s_number(config_setting_get_elem(s, 1), &lng)) {
        s_bad(p, sl, s, "must be [latitude, longitude], e.g. [30.27, 120.03]");
        return;
    }
    if (lat < -90 || lat > 90)
        s_report(p, s, sl->ctx, sl->key, "latitude must be between -90 and 90 (got %g)", lat);
    else if (lng < -180 || lng > 180)
        s_report(p, s, sl->ctx, sl->key, "longitude must be between -180 and 180 (got %g)", lng);
    else {
        st->lat = lat;
        st->lng = lng;
    }
}

/* s_zone_exists: UTC needs no file; any other name must be a regular file
 * under ZONEINFO_DIR. Names are checked for ".." and "/" before. */
static bool s_zone_exists(const char *name)
{
    char path[PATH_MAX];
    struct stat st;
    if (strcmp(name, "UTC") == 0)
        return true;
    if ((size_t)snprintf(path, sizeof path, "%s%s", ZONEINFO_DIR, name) >= sizeof path)
        return false;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* s_tz_intern returns NAME's index in cfg->timezones, adding it (and checking
 * its zoneinfo file, once) when new; -1 when out of memory. */
static long s_tz_intern(struct parser *p, const char *name)
{
    config_t *cfg = p->cfg;
    if (p->tz_last < cfg->timezone_count && strcmp(cfg->timezones[p->tz_last], name) == 0)
        return (long)p->tz_last;
    for (size_t i = 0; i < cfg->timezone_count; i++)
        if (strcmp(cfg->timezones[i], name) == 0)
            return (long)(p->tz_last = i);
    if (cfg->timezone_count == p->tz_cap) {
        size_t cap = p->tz_cap ? p->tz_cap * 2 : 16;
        char **names = realloc(cfg->timezones, cap * sizeof *names);
        if (!names)
            return -1;
        cfg->timezones = names;
        bool *ok = realloc(p->tz_ok, cap * sizeof *ok);
        if (!ok)
            return -1;
        p->tz_ok = ok;
        p->tz_cap = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return -1;
    p->tz_ok[cfg->timezone_count] = s_zone_exists(name);
    cfg->timezones[cfg->timezone_count] = copy;
    return (long)(p->tz_last = cfg->timezone_count++);
}

static void s_set_timezone(struct parser *p, const struct slot *sl, const setting_t *s)
{
    const char *v = s_string(p, sl, s);
    if (!v)
        return;
    if (!v[0] || v[0] == '/' || strstr(v, "..")) {
        s_bad(p, sl, s, "must be a zoneinfo name like \"Asia/Shanghai\"");
        return;
    }
    long i = s_tz_intern(p, v);
    if (i < 0)
        s_report(p, s, sl->ctx, sl->key, "out of memory");
    else if (!p->tz_ok[i])
        s_bad(p, sl, s, "unknown timezone: no file " ZONEINFO_DIR "%s", v);
    else
        *(const char **)sl->field = p->cfg->timezones[i];
}

static void s_set_platforms(struct parser *p, const struct slot *sl, const setting_t *s)
{
    config_store_t *st = sl->base;
    if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
        s_bad(p, sl, s, "must be a list of platform names like [\"meituan\", \"jd\"]");
        return;
    }
    int n = config_setting_length(s);
    if (n > sl->row->max) {
        s_report(p, s, sl->ctx, sl->key, "at most %.0f platforms (got %d)", sl->row->max, n);
        return;
    }
    int count = 0;
    for (int i = 0; i < n; i++) {
        const setting_t *e = config_setting_get_elem(s, (unsigned)i);
        char key[64];
        snprintf(key, sizeof key, "%s[%d]", sl->key, i);
        struct slot esl = *sl;
        esl.key = key;
        const char *v = s_string(p, &esl, e);
        if (!v)
            continue;
        int at = s_find_name(p->cfg->platforms, p->cfg->platform_count, sizeof(config_platform_t),
                             offsetof(config_platform_t, name), &p->platform_last, v);
        if (at < 0) {
            s_bad(p, &esl, e, "unknown platform: not in platforms");
            continue;
        }
        bool repeat = false;
        for (int j = 0; j < count; j++)
            repeat |= st->platforms[j] == at;
        if (repeat)
            s_bad(p, &esl, e, "platform listed twice");
        else
            st->platforms[count++] = at;
    }
    st->platform_count = count;
}

/* s_window_ranges lists the minutes of W's day it covers as up to two
 * half-open ranges (two when it runs past midnight). */
static int s_window_ranges(const config_staffing_t *w, int r[2][2])
{
    if (w->from_minute < w->to_minute) {
        r[0][0] = w->from_minute, r[0][1] = w->to_minute;
        return 1;
    }
    r[0][0] = w->from_minute, r[0][1] = 24 * 60;
    r[1][0] = 0, r[1][1] = w->to_minute;
    return 2;
}

static bool s_windows_overlap(const config_staffing_t *a, const config_staffing_t *b)
{
    int ra[2][2], rb[2][2];
    int na = s_window_ranges(a, ra), nb = s_window_ranges(b, rb);
    for (int i = 0; i < na; i++)
        for (int j = 0; j < nb; j++)
            if (ra[i][0] < rb[j][1] && rb[j][0] < ra[i][1])
                return true;
    return false;
}

static void s_parse_group(struct parser *p, enum scope_id sid, const setting_t *grp, void *base,
                          const struct ctx *ctx);

static void s_set_staffing(struct parser *p, const struct slot *sl, const setting_t *s)
{
    config_store_t *st = sl->base;
    int n = config_setting_length(s);
    if (!config_setting_is_list(s) && !(config_setting_is_array(s) && n == 0)) {
        s_bad(p, sl, s, "must be a list ( { from = \"HH:MM\"; to = \"HH:MM\"; prep_slots = N; }, ... )");
        return;
    }
    if (n > sl->row->max) {
        s_report(p, s, sl->ctx, sl->key, "at most %.0f windows (got %d)", sl->row->max, n);
        return;
    }
    bool ok[CONFIG_MAX_STAFFING];
    for (int i = 0; i < n; i++) {
        const setting_t *e = config_setting_get_elem(s, (unsigned)i);
        struct ctx ectx = { sl->ctx, "staffing", i };
        size_t before = p->error_count;
        if (!config_setting_is_group(e)) {
            char got[SHOW_MAX];
            s_report(p, e, &ectx, NULL, "must be a group { from = ...; to = ...; prep_slots = ...; } (got %s)",
                     s_show(e, got, sizeof got));
        } else {
            s_parse_group(p, S_STAFFING, e, &st->staffing[i], &ectx);
        }
        config_staffing_t *w = &st->staffing[i];
        ok[i] = p->error_count == before;
        if (ok[i] && w->from_minute == w->to_minute) {
            s_report(p, e, &ectx, NULL, "from and to must differ (got %02d:%02d)",
                     w->from_minute / 60, w->from_minute % 60);
            ok[i] = false;
        }
        for (int j = 0; ok[i] && j < i; j++)
            if (ok[j] && s_windows_overlap(&st->staffing[j], w))
                s_report(p, e, &ectx, NULL, "overlaps staffing[%d] (got %02d:%02d-%02d:%02d)", j,
                         w->from_minute / 60, w->from_minute % 60, w->to_minute / 60,
                         w->to_minute % 60);
    }
    st->staffing_count = n;
}

static const struct kind_info {
    const char *type; /* for the docs */
    s_set_fn *set;
} s_kinds[K_COUNT] = {
    [K_INT] = { "int", s_set_int },
    [K_ID] = { "int (uint32)", s_set_id },
    [K_DOUBLE] = { "double", s_set_double },
    [K_BOOL] = { "bool", s_set_bool },
    [K_STRING] = { "string", s_set_string },
    [K_ADAPTER] = { "adapter name", s_set_adapter },
    [K_BRAND] = { "brand name", s_set_brand },
    [K_HOURS] = { "hh:mm-hh:mm hours", s_set_hours },
    [K_CLOCK] = { "hh:mm", s_set_clock },
    [K_LOCATION] = { "location [lat,lng]", s_set_location },
    [K_TIMEZONE] = { "timezone", s_set_timezone },
    [K_PLATFORMS] = { "list of platform names", s_set_platforms },
    [K_STAFFING] = { "staffing list", s_set_staffing },
};

/* ---------------------------------------------------------------- groups */

static void s_set(struct parser *p, const struct scope *sc, const struct key_row *row,
                  const setting_t *s, void *base, const struct ctx *ctx)
{
    struct slot sl = { row, ctx, row->path + sc->prefix_len, base, (char *)base + row->offset };
    s_kinds[row->kind].set(p, &sl, s);
}

/* s_find_row returns the index of the row named SECTION + NAME in SC, or
 * SC->row_count. Keys usually come in table order, so it starts at *HINT. */
static size_t s_find_row(const struct scope *sc, const char *section, size_t seclen,
                         const char *name, size_t *hint)
{
    for (size_t k = 0; k < sc->row_count; k++) {
        size_t i = (*hint + k) % sc->row_count;
        const char *rel = sc->rows[i].path + sc->prefix_len;
        if (strncmp(rel, section, seclen) == 0 && strcmp(rel + seclen, name) == 0) {
            *hint = i + 1;
            return i;
        }
    }
    return sc->row_count;
}

/* s_is_section: some row of SC lies inside the nested group KEY. */
static bool s_is_section(const struct scope *sc, const char *key)
{
    size_t len = strlen(key);
    for (size_t i = 0; i < sc->row_count; i++) {
        const char *rel = sc->rows[i].path + sc->prefix_len;
        if (strncmp(rel, key, len) == 0 && rel[len] == '.')
            return true;
    }
    return false;
}

static void s_parse_members(struct parser *p, enum scope_id sid, const setting_t *grp,
                            const char *section, void *base, const struct ctx *ctx, uint64_t *seen)
{
    const struct scope *sc = &s_scopes[sid];
    size_t seclen = strlen(section), hint = 0;
    int n = config_setting_length(grp);
    for (int i = 0; i < n; i++) {
        const setting_t *s = config_setting_get_elem(grp, (unsigned)i);
        const char *name = config_setting_name(s);
        size_t r = s_find_row(sc, section, seclen, name, &hint);
        if (r < sc->row_count) {
            *seen |= UINT64_C(1) << r;
            s_set(p, sc, &sc->rows[r], s, base, ctx);
            continue;
        }
        char key[256];
        snprintf(key, sizeof key, "%s%s", section, name);
        if (!s_is_section(sc, key)) {
            s_unknown(p, sc, section, s, ctx, key);
        } else if (!config_setting_is_group(s)) {
            char got[SHOW_MAX];
            s_report(p, s, ctx, key, "must be a group { ... } (got %s)", s_show(s, got, sizeof got));
        } else {
            char sub[sizeof key + 1];
            snprintf(sub, sizeof sub, "%s.", key);
            s_parse_members(p, sid, s, sub, base, ctx, seen);
        }
    }
}

/* s_parse_group sets BASE from GRP (NULL: absent) by the rows of scope SID,
 * applying defaults and reporting missing required keys. */
static void s_parse_group(struct parser *p, enum scope_id sid, const setting_t *grp, void *base,
                          const struct ctx *ctx)
{
    const struct scope *sc = &s_scopes[sid];
    uint64_t seen = 0;
    if (grp)
        s_parse_members(p, sid, grp, "", base, ctx, &seen);
    for (size_t i = 0; i < sc->row_count; i++) {
        if (seen & (UINT64_C(1) << i))
            continue;
        const struct key_row *row = &sc->rows[i];
        if (row->def)
            s_set(p, sc, row, p->def[sid][i], base, ctx);
        else
            s_report(p, grp, ctx, row->path + sc->prefix_len, "required key missing");
    }
}

static void s_parse_section(struct parser *p, enum scope_id sid, const setting_t *root, void *base)
{
    const struct scope *sc = &s_scopes[sid];
    const setting_t *grp = config_setting_get_member(root, sc->key);
    struct ctx ctx = { NULL, sc->key, -1 };
    if (grp && !config_setting_is_group(grp)) {
        char got[SHOW_MAX];
        s_report(p, grp, NULL, sc->key, "must be a group { ... } (got %s)", s_show(grp, got, sizeof got));
        return;
    }
    size_t before = p->error_count;
    s_parse_group(p, sid, grp, base, &ctx);
    if (sc->check && p->error_count == before)
        sc->check(p, grp, &ctx, base, 0);
}

/* s_calloc_big is calloc that asks for transparent huge pages when the
 * array is large: 300,000 stores take 67 MB, otherwise 16,000 page faults. */
static void *s_calloc_big(size_t n, size_t size)
{
    const size_t huge = (size_t)2 << 20;
    void *array;
    if (size && n > SIZE_MAX / size)
        return NULL;
    if (n * size < 2 * huge)
        return calloc(n, size);
    if (posix_memalign(&array, huge, n * size) != 0)
        return NULL;
    (void)madvise(array, n * size, MADV_HUGEPAGE); /* a hint; fine if refused */
    return memset(array, 0, n * size);
}

/* s_parse_list returns a new array of *COUNT structs from the list at the
 * root's key of scope SID (NULL when empty or out of memory). */
static void *s_parse_list(struct parser *p, enum scope_id sid, const setting_t *root, size_t *count)
{
    const struct scope *sc = &s_scopes[sid];
    const setting_t *list = config_setting_get_member(root, sc->key);
    *count = 0;
    if (!list)
        return NULL;
    int n = config_setting_length(list);
    if (!config_setting_is_list(list) && !(config_setting_is_array(list) && n == 0)) {
        char got[SHOW_MAX];
        s_report(p, list, NULL, sc->key, "must be a list ( { ... }, { ... } ) (got %s)",
                 s_show(list, got, sizeof got));
        return NULL;
    }
    if (n == 0)
        return NULL;
    char *array = s_calloc_big((size_t)n, sc->size);
    if (!array) {
        s_report(p, list, NULL, sc->key, "out of memory for %d entries", n);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        const setting_t *e = config_setting_get_elem(list, (unsigned)i);
        struct ctx ctx = { NULL, sc->key, i };
        if (!config_setting_is_group(e)) {
            char got[SHOW_MAX];
            s_report(p, e, &ctx, NULL, "must be a group { ... } (got %s)", s_show(e, got, sizeof got));
            continue;
        }
        size_t before = p->error_count;
        s_parse_group(p, sid, e, array + (size_t)i * sc->size, &ctx);
        if (sc->check && p->error_count == before)
            sc->check(p, e, &ctx, array, (size_t)i);
    }
    *count = (size_t)n;
    return array;
}

/* ------------------------------------------------- checks across keys */

static const setting_t *s_member_or(const setting_t *grp, const char *name)
{
    const setting_t *s = grp ? config_setting_get_member(grp, name) : NULL;
    return s ? s : grp;
}

/* s_duplicate reports AT, the KEY of a group, as a duplicate of WHAT, first
 * seen in the group FIRST. */
static void s_duplicate(struct parser *p, const setting_t *at, const struct ctx *ctx,
                        const char *key, const char *what, const setting_t *first)
{
    char name[PATH_MAX];
    first = s_member_or(first, key);
    const char *file = s_file_name(p, config_setting_source_file(first), name, sizeof name);
    char here_buf[PATH_MAX];
    const char *here = s_file_name(p, config_setting_source_file(at), here_buf, sizeof here_buf);
    if (strcmp(file, here) == 0)
        s_report(p, at, ctx, key, "duplicate %s (first at line %u)", what,
                 config_setting_source_line(first));
    else
        s_report(p, at, ctx, key, "duplicate %s (first at %s:%u)", what, file,
                 config_setting_source_line(first));
}

static void s_check_daemon(struct parser *p, const setting_t *grp, const struct ctx *ctx,
                           void *array, size_t index)
{
    const config_daemon_t *d = array;
    (void)index;
    if (d->reconnect_min_ms > d->reconnect_max_ms)
        s_report(p, s_member_or(grp, "reconnect_min_ms"), ctx, "reconnect_min_ms",
                 "must not exceed reconnect_max_ms %d (got %d)", d->reconnect_max_ms,
                 d->reconnect_min_ms);
}

static void s_check_brand(struct parser *p, const setting_t *grp, const struct ctx *ctx,
                          void *array, size_t index)
{
    config_brand_t *brands = array, *b = &brands[index];
    const setting_t *list = config_setting_parent(grp);
    b->line = (int)config_setting_source_line(grp);
    for (size_t j = 0; j < index; j++)
        if (brands[j].name && strcmp(brands[j].name, b->name) == 0) {
            char what[128];
            snprintf(what, sizeof what, "brand \"%s\"", b->name);
            s_duplicate(p, s_member_or(grp, "name"), ctx, "name", what,
                        config_setting_get_elem(list, (unsigned)j));
            return;
        }
}

static void s_check_platform(struct parser *p, const setting_t *grp, const struct ctx *ctx,
                             void *array, size_t index)
{
    config_platform_t *platforms = array, *pl = &platforms[index];
    const setting_t *list = config_setting_parent(grp);
    pl->line = (int)config_setting_source_line(grp);
    for (size_t j = 0; j < index; j++)
        if (platforms[j].name && strcmp(platforms[j].name, pl->name) == 0) {
            char what[128];
            snprintf(what, sizeof what, "platform \"%s\"", pl->name);
            s_duplicate(p, s_member_or(grp, "name"), ctx, "name", what,
                        config_setting_get_elem(list, (unsigned)j));
            return;
        }
}

/* s_check_store: store ids are unique, checked with a hash set that holds
 * the ids themselves, so a probe touches no store (300,000 stores). Only
 * stores that parsed cleanly get here, so id != 0. */
static void s_check_store(struct parser *p, const setting_t *grp, const struct ctx *ctx,
                          void *array, size_t index)
{
    config_store_t *st = (config_store_t *)array + index;
    st->line = (int)config_setting_source_line(grp);
    if (!p->ids)
        return; /* out of memory, reported */
    size_t h = (size_t)((st->id * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & p->ids_mask;
    for (; p->ids[h]; h = (h + 1) & p->ids_mask) {
        if (p->ids[h] >> 32 == st->id) {
            size_t first = (p->ids[h] & UINT32_MAX) - 1;
            char what[64];
            snprintf(what, sizeof what, "store id %" PRIu32, st->id);
            s_duplicate(p, s_member_or(grp, "id"), ctx, "id", what,
                        config_setting_get_elem(p->stores, (unsigned)first));
            return;
        }
    }
    p->ids[h] = (uint64_t)st->id << 32 | (index + 1);
}

/* ---------------------------------------------------------------- loading */

static void s_load_tree(struct parser *p, const setting_t *root)
{
    config_t *cfg = p->cfg;
    int n = config_setting_length(root);
    for (int i = 0; i < n; i++) {
        const setting_t *s = config_setting_get_elem(root, (unsigned)i);
        const char *name = config_setting_name(s);
        bool known = false;
        for (size_t k = 0; k < S_COUNT && !known; k++)
            known = s_scopes[k].key && strcmp(s_scopes[k].key, name) == 0;
        if (!known)
            s_unknown(p, NULL, "", s, NULL, name);
    }
    s_parse_section(p, S_DAEMON, root, &cfg->daemon);
    s_parse_section(p, S_DISPATCH, root, &cfg->dispatch);
    cfg->brands = s_parse_list(p, S_BRAND, root, &cfg->brand_count);
    cfg->platforms = s_parse_list(p, S_PLATFORM, root, &cfg->platform_count);

    p->stores = config_setting_get_member(root, s_scopes[S_STORE].key);
    size_t slots = 16, want = p->stores ? 2 * (size_t)config_setting_length(p->stores) : 0;
    while (slots < want)
        slots *= 2;
    p->ids = s_calloc_big(slots, sizeof *p->ids);
    p->ids_mask = slots - 1;
    if (!p->ids)
        s_report(p, p->stores, NULL, s_scopes[S_STORE].key, "out of memory");
    cfg->stores = s_parse_list(p, S_STORE, root, &cfg->store_count);
}

/* s_defaults_init parses every row's default once, so defaults go through
 * the same setters (and checks) as values from the file. */
static bool s_defaults_init(struct parser *p)
{
    struct text t = { 0 };
    for (size_t sid = 0; sid < S_COUNT; sid++)
        for (size_t i = 0; i < s_scopes[sid].row_count; i++)
            if (s_scopes[sid].rows[i].def)
                s_text_add(&t, "d%zu_%zu = %s;\n", sid, i, s_scopes[sid].rows[i].def);
    config_init(&p->defaults);
    p->defaults_live = true;
    bool ok = !t.oom && config_read_string(&p->defaults, t.buf);
    for (size_t sid = 0; ok && sid < S_COUNT; sid++)
        for (size_t i = 0; i < s_scopes[sid].row_count; i++) {
            char name[32];
            snprintf(name, sizeof name, "d%zu_%zu", sid, i);
            p->def[sid][i] = config_lookup(&p->defaults, name);
        }
    if (!ok)
        s_report(p, NULL, NULL, NULL, "internal error: cannot parse the built-in defaults: %s line %d",
                 t.oom ? "out of memory" : config_error_text(&p->defaults),
                 config_error_line(&p->defaults));
    free(t.buf);
    return ok;
}

static char *s_dirname(const char *path)
{
    char *dir = strdup(path);
    if (!dir)
        return NULL;
    char *slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    return dir;
}

/* s_includes_ok is false, after reporting it, when FILE or a file it
 * includes says @include of a directory: libconfig 1.5 opens one without
 * complaint, then its scanner fails to read it and calls exit(2), which on
 * SIGHUP would end the running daemon. Lines are matched the way libconfig's
 * scanner matches them (^[ \t]*@include[ \t]+"name", name relative to the
 * include directory), but also inside comments and strings: there such a
 * line can only make a file refused, never end the process. CHAIN holds the
 * files being read, outermost first: libconfig stops at a cycle, so do we. */
static bool s_includes_ok(struct parser *p, const char *file, const char *shown,
                          struct stat chain[10], int depth)
{
    FILE *f = depth < 10 ? fopen(file, "r") : NULL; /* libconfig reports the rest */
    bool stop = !f || fstat(fileno(f), &chain[depth]) != 0;
    for (int i = 0; i < depth && !stop; i++)
        stop = chain[i].st_dev == chain[depth].st_dev && chain[i].st_ino == chain[depth].st_ino;
    if (stop) {
        if (f)
            fclose(f);
        return true;
    }
    char *line = NULL, path[PATH_MAX], buf[PATH_MAX];
    size_t cap = 0;
    unsigned lineno = 0;
    bool ok = true;
    while (ok && getline(&line, &cap, f) > 0) {
        lineno++;
        char *s = line + strspn(line, " \t"), *name, *end;
        if (strncmp(s, "@include", 8) != 0 || (s[8] != ' ' && s[8] != '\t'))
            continue;
        name = s + 8 + strspn(s + 8, " \t");
        if (*name++ != '"')
            continue;
        for (end = name; *end && *end != '"'; end++)
            if (end[0] == '\\' && end[1])
                memmove(end, end + 1, strlen(end)); /* \\ and \" */
        *end = '\0';
        struct stat st;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", p->dir, name) >= sizeof path ||
            stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            s_text_add(&p->errors, "%s:%u: @include \"%s\": is a directory, not a file\n", shown,
                       lineno, name);
            p->error_count++;
            ok = false;
        } else if (S_ISREG(st.st_mode)) {
            ok = s_includes_ok(p, path, s_file_name(p, name, buf, sizeof buf), chain, depth + 1);
        }
    }
    free(line);
    fclose(f);
    return ok;
}

static char *s_errors_take(struct parser *p)
{
    if (p->error_count > ERRORS_MAX)
        s_text_add(&p->errors, "... and %zu more problems\n", p->error_count - ERRORS_MAX);
    if (p->errors.oom) {
        free(p->errors.buf);
        p->errors = (struct text){ 0 };
        return strdup("out of memory while reporting configuration problems\n");
    }
    char *text = p->errors.buf;
    p->errors = (struct text){ 0 };
    return text;
}

static void s_parser_cleanup(struct parser *p)
{
    config_destroy(&p->cfg);
    if (p->defaults_live)
        lc_destroy(&p->defaults);
    free(p->dir);
    free(p->errors.buf);
    free(p->tz_ok);
    free(p->ids);
}

config_t *config_load(const char *path, char **errors)
{
    struct parser p = { .path = path };
    lc_config_t lc;
    bool lc_live = false;
    config_t *result = NULL;

    if (errors)
        *errors = NULL;
    p.cfg = calloc(1, sizeof *p.cfg);
    p.dir = s_dirname(path);
    if (!p.cfg || !p.dir || !(p.cfg->path = strdup(path))) {
        s_report(&p, NULL, NULL, NULL, "out of memory");
        goto fail;
    }
    if (!s_defaults_init(&p))
        goto fail;
    struct stat chain[10];
    if (!s_includes_ok(&p, path, path, chain, 0))
        goto fail;
    config_init(&lc);
    lc_live = true;
    config_set_include_dir(&lc, p.dir);
    if (!config_read_file(&lc, path)) {
        int err = errno;
        char name[PATH_MAX];
        if (config_error_type(&lc) == CONFIG_ERR_FILE_IO) {
            s_report(&p, NULL, NULL, NULL, "cannot read: %s", strerror(err));
        } else {
            s_text_add(&p.errors, "%s:%d: %s\n",
                       s_file_name(&p, config_error_file(&lc), name, sizeof name),
                       config_error_line(&lc), config_error_text(&lc));
            p.error_count++;
        }
        goto fail;
    }
    s_load_tree(&p, config_root_setting(&lc));
    if (p.error_count == 0) {
        result = p.cfg;
        p.cfg = NULL;
    }
fail:
    if (lc_live)
        lc_destroy(&lc);
    if (!result && errors)
        *errors = s_errors_take(&p);
    s_parser_cleanup(&p);
    return result;
}

/* s_free_strings frees the strings that the rows of SID own in BASE. */
static void s_free_strings(enum scope_id sid, void *base)
{
    const struct scope *sc = &s_scopes[sid];
    for (size_t i = 0; i < sc->row_count; i++)
        if (sc->rows[i].kind == K_STRING || sc->rows[i].kind == K_ADAPTER) {
            char **field = (void *)((char *)base + sc->rows[i].offset);
            free(*field);
            *field = NULL;
        }
}

void config_destroy(config_t **self)
{
    if (!self || !*self)
        return;
    config_t *cfg = *self;
    s_free_strings(S_DAEMON, &cfg->daemon);
    for (size_t i = 0; i < cfg->brand_count; i++)
        s_free_strings(S_BRAND, &cfg->brands[i]);
    for (size_t i = 0; i < cfg->platform_count; i++)
        s_free_strings(S_PLATFORM, &cfg->platforms[i]);
    for (size_t i = 0; i < cfg->store_count; i++)
        s_free_strings(S_STORE, &cfg->stores[i]);
    for (size_t i = 0; i < cfg->timezone_count; i++)
        free(cfg->timezones[i]);
    free(cfg->brands);
    free(cfg->platforms);
    free(cfg->stores);
    free(cfg->timezones);
    free(cfg->path);
    free(cfg);
    *self = NULL;
}

/* ------------------------------------------------------------------ docs */

static void s_range_text(const struct key_row *row, char *buf, size_t size)
{
    switch (row->kind) {
    case K_INT:
    case K_ID:
        snprintf(buf, size, "%.0f..%.0f", row->min, row->max);
        break;
    case K_DOUBLE:
        snprintf(buf, size, "%g..%g", row->min, row->max);
        break;
    case K_STRING:
        snprintf(buf, size, "%.0f..%.0f characters", row->min, row->max);
        break;
    case K_ADAPTER:
        buf[0] = '\0';
        for (size_t i = 0; i < sizeof s_adapters / sizeof s_adapters[0]; i++)
            snprintf(buf + strlen(buf), size - strlen(buf), "%s`\"%s\"`", i ? ", " : "",
                     s_adapters[i]);
        break;
    case K_BRAND:
        snprintf(buf, size, "a name in brands, or `\"\"`");
        break;
    case K_HOURS:
        snprintf(buf, size, "`\"HH:MM-HH:MM\"`, open != close");
        break;
    case K_CLOCK:
        snprintf(buf, size, "%02d:%02d..%02d:%02d", (int)row->min / 60, (int)row->min % 60,
                 (int)row->max / 60, (int)row->max % 60);
        break;
    case K_LOCATION:
        snprintf(buf, size, "lat -90..90, lng -180..180");
        break;
    case K_TIMEZONE:
        snprintf(buf, size, "a file under " ZONEINFO_DIR);
        break;
    case K_PLATFORMS:
        snprintf(buf, size, "names in platforms, no repeats, at most %.0f", row->max);
        break;
    case K_STAFFING:
        snprintf(buf, size, "at most %.0f windows, not overlapping", row->max);
        break;
    case K_BOOL:
        snprintf(buf, size, "true, false");
        break;
    case K_COUNT:
        buf[0] = '\0';
        break;
    }
}

void config_print_keys(FILE *out)
{
    fputs("| key | type | default | range | meaning |\n", out);
    fputs("| --- | --- | --- | --- | --- |\n", out);
    for (size_t sid = 0; sid < S_COUNT; sid++)
        for (size_t i = 0; i < s_scopes[sid].row_count; i++) {
            const struct key_row *row = &s_scopes[sid].rows[i];
            char range[160];
            s_range_text(row, range, sizeof range);
            fprintf(out, "| `%s` | %s | %s%s%s | %s | %s |\n", row->path, s_kinds[row->kind].type,
                    row->def ? "`" : "", row->def ? row->def : "required", row->def ? "`" : "",
                    range, row->doc);
        }
}

size_t config_key_count(void)
{
    size_t n = 0;
    for (size_t sid = 0; sid < S_COUNT; sid++)
        n += s_scopes[sid].row_count;
    return n;
}

const char *config_key_path(size_t i)
{
    for (size_t sid = 0; sid < S_COUNT; sid++) {
        if (i < s_scopes[sid].row_count)
            return s_scopes[sid].rows[i].path;
        i -= s_scopes[sid].row_count;
    }
    return NULL;
}
