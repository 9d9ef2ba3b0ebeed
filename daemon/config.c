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
#include "adapter.h"
#include "curve.h"
#include "config_cache.h"
#include "config_scan.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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
    K_ADAPTER,   /* string naming a registered adapter (adapter_find) */
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

#define DM(f) offsetof(config_daemon_t, f)
static const struct key_row s_daemon_rows[] = {
    { "daemon.database", K_STRING, DM(database), "\"host=/run/postgresql dbname=sluice\"", 1, 4096,
      "libpq connection string" },
    { "daemon.ingress", K_STRING, DM(ingress), "\"tcp://127.0.0.1:7400\"", 1, 1024,
      "ZeroMQ ROUTER endpoint where orders arrive" },
    { "daemon.events", K_STRING, DM(events), "\"tcp://127.0.0.1:7401\"", 1, 1024,
      "ZeroMQ PUB endpoint publishing order events" },
    { "daemon.control", K_STRING, DM(control), "\"ipc:///run/sluice/control.sock\"", 1, 1024,
      "ZeroMQ endpoint for sluicectl, every command (pause, resume, reload too); ipc:// or "
      "loopback only; an ipc:// socket file is made mode 0660: write access is membership of "
      "its group" },
    { "daemon.control_readonly", K_STRING, DM(control_readonly), "\"\"", 0, 1024,
      "ZeroMQ endpoint for sluicectl's read commands only (platforms, stats, store); write "
      "commands get PERMISSION_DENIED; ipc:// or loopback only; an ipc:// socket file is made "
      "mode 0666. \"\" = control-ro.sock in daemon.control's directory "
      "(ipc:///run/sluice/control-ro.sock by default; none when daemon.control is not ipc://); "
      "\"none\" = no read-only socket" },
    { "daemon.control_group", K_STRING, DM(control_group), "\"\"", 0, 64,
      "group given the ipc:// socket file of daemon.control (the daemon must be a member); "
      "\"\" = the daemon's own group" },
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
    { "daemon.curve.secret_key_file", K_STRING, DM(curve_secret_key_file), "\"\"", 0, 4096,
      "file with the ingress's CURVE secret key (Z85); \"\" = no CURVE, allowed only when ingress is loopback or ipc://" },
    { "daemon.curve.client_keys_file", K_STRING, DM(curve_client_keys_file), "\"\"", 0, 4096,
      "file with the producers' CURVE public keys (Z85), one per line; others cannot connect" },
    { "daemon.paused_retry_ms", K_INT, DM(paused_retry_ms), "60000", 1, 86400000,
      "retry_after_ms sent with STORE_PAUSED (a pause has no announced end)" },
};

#define DI(f) offsetof(config_dispatch_t, f)
static const struct key_row s_dispatch_rows[] = {
    { "dispatch.margin_seconds", K_INT, DI(margin_seconds), "60", 0, 3600,
      "ask for riders at ready_at - pickup_eta - margin_seconds" },
    { "dispatch.pickup_eta_seconds", K_INT, DI(pickup_eta_seconds), "300", 0, 7200,
      "how long a rider takes to reach the store: the pickup_eta that times the first quote, "
      "before any quote has given one" },
    { "dispatch.assign_timeout_seconds", K_INT, DI(assign_timeout_seconds), "120", 1, 3600,
      "an attempt without an assigned rider after this long is cancelled and retried elsewhere" },
    { "dispatch.retry_seconds", K_INT, DI(retry_seconds), "30", 1, 3600,
      "when no platform can take an order now (all refused, breakers open, pools full), ask again after this long" },
    { "dispatch.stuck_minutes", K_INT, DI(stuck_minutes), "30", 1, 1440,
      "a rider with no news for this long is asked about; one who has not picked up by then is "
      "replaced, and a picked-up order still not delivered is logged and put in its timeline" },
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
    { "platforms.[].breaker.window_seconds", K_INT, PL(breaker.window_seconds), "10", 1,
      CONFIG_MAX_BREAKER_WINDOW, "recent requests: those of the last window_seconds" },
    { "platforms.[].breaker.slow_ms", K_INT, PL(breaker.slow_ms), "1500", 1, 600000,
      "a reply that takes this long or longer counts as a failure" },
    { "platforms.[].breaker.min_requests", K_INT, PL(breaker.min_requests), "20", 1, 1000000,
      "requests in the window before the breaker may open" },
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
static s_check_fn s_check_daemon, s_check_brand, s_check_platform;

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
                  sizeof(config_store_t), NULL }, /* stores: s_walk_stores, s_ids_check */
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

/* One problem found. A message about an element of a top-level list leaves
 * out the element's index: a piece of the stores list is walked before the
 * pieces before it are counted, so the index is added when pieces merge. */
struct msg {
    char *text;
    size_t split;             /* where the index goes */
    long index;               /* -1: none */
};

struct load;

/* A parser is the state of one walk over libconfig settings: the top level
 * of the file, or one piece of the stores list. Pieces are walked in
 * parallel, so each has its own messages and interned timezones, and reads
 * only what the load shares (brands, platforms, defaults). */
struct parser {
    const struct load *load;
    const char *file;         /* shown for settings libconfig read from a string */
    unsigned line_offset;     /* added to their lines: a piece starting mid-file */
    struct msg *msgs;
    size_t msg_count, msg_cap;
    size_t error_count;       /* messages past ERRORS_MAX are only counted */
    bool oom;                 /* a message was lost for want of memory */
    char **tz;                /* interned timezone names */
    bool *tz_ok;              /* per tz entry: its zoneinfo file exists */
    size_t tz_count, tz_cap, tz_last;
    size_t brand_last, platform_last;
    char **names;             /* file names shown by this walk's origins */
    size_t name_count;
    const char *name_raw;     /* libconfig's name of names[name_last] */
    size_t name_last;
};

/* Where a store's id was written, as messages show it (for "first at");
 * line 0: the store had problems and takes no part in the id check. */
struct origin {
    unsigned line;
    const char *file;
};

struct source;

/* A part is a run of the stores list walked on its own: consecutive
 * elements of the main file's tree, or a piece of an @include'd file. */
struct part {
    struct parser p;
    struct source *source;    /* NULL: the main tree's elements [from, from + count) */
    config_scan_piece_t piece;/* of source->text */
    unsigned from;
    config_store_t *stores;
    size_t count;
    struct origin *origins;   /* one per store */
    bool slab;                /* stores and origins are in the load's slabs */
};

/* A source is an @include'd file of the stores list that sluice reads
 * itself, in pieces, in parallel, instead of letting libconfig splice it
 * into one big tree (see config_load_with in config.h). */
struct source {
    unsigned line;            /* of the @include in the main file */
    char *path;               /* include directory + name, as libconfig opens it */
    char *shown;              /* as messages name it */
    char *text;               /* its bytes, while its pieces are walked */
    size_t len, cap;
    uint64_t hash;
    bool cacheable;           /* holds no @include: its bytes are all it depends on */
    const struct config_source *reuse; /* unchanged since the previous config */
    bool cached;              /* its stores came from the cache: one piece, walked */
    struct part *pieces;
    size_t piece_count, pieces_left;
};

/* The stores list is a sequence of segments: a run of the main tree's
 * elements, or the elements of one source. */
struct segment {
    struct part *run;
    struct source *source;
};

/* A previous config remembers, per source it read, what a later load needs
 * to reuse the source's stores without parsing it again. */
struct config_source {
    char *path, *shown;
    uint64_t hash;
    size_t len;
    size_t first, count;      /* its stores in config_t.stores */
    unsigned *id_lines;       /* per store: the line of its id */
};

struct config_sources {
    struct config_source *v;
    size_t count;
};

/* A load is one config_load_with call. The top parser walks the top level
 * and collects every message when the parts merge. */
struct load {
    const char *path;         /* main file, as given */
    char *dir;                /* its directory: the @include directory */
    config_t *cfg;            /* being built; owned until handed over */
    const config_t *previous;
    const char *cache_dir;    /* config_load_options_t.cache_dir; NULL: none */
    bool reuse;               /* previous's sources may be reused (same brands, ...) */
    lc_config_t defaults;     /* every row's default, parsed once per load */
    bool defaults_live;
    const setting_t *def[S_COUNT][ROWS_MAX];
    struct parser top;
    struct source *sources;   /* per @include of the stores list read by sluice */
    size_t source_count;
    struct segment *segments;
    size_t segment_count;
    unsigned threads;
    uint32_t only_store;      /* config_load_options_t.only_store */
    char only_digits[12];     /* the same as text, "" for all */
    size_t only_len;
    /* workers: lock guards everything below */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    size_t next_source;       /* sources not yet taken */
    size_t loading;           /* sources being read now */
    struct part **queue;      /* pieces ready to walk, [queue_head, queue_len) */
    size_t queue_head, queue_len, queue_cap;
    bool failed;              /* libconfig refused a piece: read the whole file instead */
    struct { char *buf; size_t cap; } spare[16]; /* see s_buffer_take */
    size_t spare_count;
    struct { char *map, *base; size_t size, used; } slabs[64]; /* see s_slab_alloc */
    size_t slab_count;
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

/* s_text_ctx writes CTX as "stores[].staffing[1]", leaving the top-level
 * index out: *SPLIT gets where it goes and *INDEX the index (see struct msg). */
static void s_text_ctx(struct text *t, const struct ctx *ctx, size_t *split, long *index)
{
    if (!ctx)
        return;
    if (ctx->parent) {
        s_text_ctx(t, ctx->parent, split, index);
        s_text_add(t, ".");
    }
    s_text_add(t, "%s", ctx->name);
    if (ctx->index >= 0 && !ctx->parent) {
        s_text_add(t, "[");
        *split = t->len;
        *index = ctx->index;
        s_text_add(t, "]");
    } else if (ctx->index >= 0) {
        s_text_add(t, "[%ld]", ctx->index);
    }
}

/* s_msg_add takes T's text as a message of P. */
static void s_msg_add(struct parser *p, struct text *t, size_t split, long index)
{
    if (t->oom || (p->msg_count == p->msg_cap && p->msg_count == SIZE_MAX / sizeof *p->msgs)) {
        free(t->buf);
        p->oom = true;
        return;
    }
    if (p->msg_count == p->msg_cap) {
        size_t cap = p->msg_cap ? 2 * p->msg_cap : 16;
        struct msg *msgs = realloc(p->msgs, cap * sizeof *msgs);
        if (!msgs) {
            free(t->buf);
            p->oom = true;
            return;
        }
        p->msgs = msgs;
        p->msg_cap = cap;
    }
    p->msgs[p->msg_count++] = (struct msg){ t->buf, split, index };
}

/* s_file_name: libconfig records an @include'd file by the name written in
 * the @include, which is relative to the include directory; text it read
 * from a string (FILE NULL) is P's file. */
static const char *s_file_name(const struct parser *p, const char *file, char *buf, size_t size);

/* s_line is AT's line in its file. */
static unsigned s_line(const struct parser *p, const setting_t *at)
{
    unsigned line = config_setting_source_line(at);
    if (line > 0 && !config_setting_source_file(at))
        line += p->line_offset;
    return line;
}

/* s_vreport adds "FILE:LINE: CTX.KEY: MESSAGE" (LINE 0: "FILE: ..."). */
__attribute__((format(printf, 6, 0)))
static void s_vreport(struct parser *p, const char *file, unsigned line, const struct ctx *ctx,
                      const char *key, const char *fmt, va_list ap)
{
    if (++p->error_count > ERRORS_MAX)
        return;
    struct text t = { 0 };
    size_t split = 0;
    long index = -1;
    if (line > 0)
        s_text_add(&t, "%s:%u: ", file, line);
    else
        s_text_add(&t, "%s: ", file);
    s_text_ctx(&t, ctx, &split, &index);
    if (key)
        s_text_add(&t, "%s%s", ctx ? "." : "", key);
    if (ctx || key)
        s_text_add(&t, ": ");
    s_text_vadd(&t, fmt, ap);
    s_text_add(&t, "\n");
    s_msg_add(p, &t, split, index);
}

/* s_report reports a problem at the setting AT (NULL: the file itself). */
__attribute__((format(printf, 5, 6)))
static void s_report(struct parser *p, const setting_t *at, const struct ctx *ctx,
                     const char *key, const char *fmt, ...)
{
    char name[PATH_MAX];
    const char *file = s_file_name(p, at ? config_setting_source_file(at) : NULL, name, sizeof name);
    va_list ap;
    va_start(ap, fmt);
    s_vreport(p, file, at ? s_line(p, at) : 0, ctx, key, fmt, ap);
    va_end(ap);
}

/* s_report_at reports a problem at FILE (as shown) and LINE. */
__attribute__((format(printf, 6, 7)))
static void s_report_at(struct parser *p, const char *file, unsigned line, const struct ctx *ctx,
                        const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_vreport(p, file, line, ctx, key, fmt, ap);
    va_end(ap);
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

/* s_set_adapter: names come from the adapter registry (adapters/adapter.c,
 * const data, safe on the parsing threads), so the config accepts exactly
 * the transports that are built in. */
static void s_set_adapter(struct parser *p, const struct slot *sl, const setting_t *s)
{
    const char *v = s_string(p, sl, s);
    if (!v)
        return;
    if (adapter_find(v)) {
        s_set_string(p, sl, s);
        return;
    }
    char known[128] = "";
    for (size_t i = 0; i < adapter_count(); i++)
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "",
                 adapter_name(i));
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
        i = s_find_name(p->load->cfg->brands, p->load->cfg->brand_count, sizeof(config_brand_t),
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

/* s_tz_intern returns NAME's index in p->tz, adding it (and checking its
 * zoneinfo file, once) when new; -1 when out of memory. */
static long s_tz_intern(struct parser *p, const char *name)
{
    if (p->tz_last < p->tz_count && strcmp(p->tz[p->tz_last], name) == 0)
        return (long)p->tz_last;
    for (size_t i = 0; i < p->tz_count; i++)
        if (strcmp(p->tz[i], name) == 0)
            return (long)(p->tz_last = i);
    if (p->tz_count == p->tz_cap) {
        size_t cap = p->tz_cap ? p->tz_cap * 2 : 16;
        char **names = realloc(p->tz, cap * sizeof *names);
        if (!names)
            return -1;
        p->tz = names;
        bool *ok = realloc(p->tz_ok, cap * sizeof *ok);
        if (!ok)
            return -1;
        p->tz_ok = ok;
        p->tz_cap = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return -1;
    p->tz_ok[p->tz_count] = s_zone_exists(name);
    p->tz[p->tz_count] = copy;
    return (long)(p->tz_last = p->tz_count++);
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
        *(const char **)sl->field = p->tz[i];
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
        int at = s_find_name(p->load->cfg->platforms, p->load->cfg->platform_count,
                             sizeof(config_platform_t),
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
            s_set(p, sc, row, p->load->def[sid][i], base, ctx);
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

/* s_alloc_big is malloc that asks for transparent huge pages when the
 * array is large: 300,000 stores take 67 MB, otherwise 16,000 page faults.
 * ZERO: clear it (not needed when every byte is written next). */
static void *s_alloc_big(size_t n, size_t size, bool zero)
{
    const size_t huge = (size_t)2 << 20;
    void *array;
    if (size && n > SIZE_MAX / size)
        return NULL;
    if (n * size < 2 * huge)
        return zero ? calloc(n, size) : malloc(n * size + 1);
    if (posix_memalign(&array, huge, n * size) != 0)
        return NULL;
    (void)madvise(array, n * size, MADV_HUGEPAGE); /* a hint; fine if refused */
    return zero ? memset(array, 0, n * size) : array;
}

static void *s_calloc_big(size_t n, size_t size)
{
    return s_alloc_big(n, size, true);
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

static const char *s_file_name(const struct parser *p, const char *file, char *buf, size_t size)
{
    const struct load *ld = p->load;
    if (!file)
        return p->file;
    if (strcmp(file, ld->path) == 0)
        return ld->path;
    if (file[0] == '/' || strcmp(ld->dir, ".") == 0)
        return file;
    snprintf(buf, size, "%s/%s", ld->dir, file);
    return buf;
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
        s_report(p, at, ctx, key, "duplicate %s (first at line %u)", what, s_line(p, first));
    else
        s_report(p, at, ctx, key, "duplicate %s (first at %s:%u)", what, file, s_line(p, first));
}

/* s_ingress_is_local: ipc://, inproc:// or tcp:// on a loopback address,
 * where only this machine's users can reach the ingress. */
static bool s_ingress_is_local(const char *endpoint)
{
    if (strncmp(endpoint, "ipc://", 6) == 0 || strncmp(endpoint, "inproc://", 9) == 0)
        return true;
    const char *host = strncmp(endpoint, "tcp://", 6) == 0 ? endpoint + 6 : NULL;
    return host && (strncmp(host, "127.", 4) == 0 || strncmp(host, "localhost:", 10) == 0 ||
                    strncmp(host, "[::1]:", 6) == 0);
}

/* s_check_curve: a network-facing ingress needs CURVE, and its key files
 * must read cleanly now, so that --check-config catches what a start would. */
static void s_check_curve(struct parser *p, const setting_t *grp, const struct ctx *ctx,
                          const config_daemon_t *d)
{
    bool secret = d->curve_secret_key_file && d->curve_secret_key_file[0];
    bool clients = d->curve_client_keys_file && d->curve_client_keys_file[0];
    const setting_t *curve = grp ? config_setting_get_member(grp, "curve") : NULL;
    if (secret != clients) {
        s_report(p, curve ? curve : grp, ctx, "curve",
                 "set both secret_key_file and client_keys_file, or neither");
        return;
    }
    if (!secret) {
        if (!s_ingress_is_local(d->ingress))
            s_report(p, s_member_or(grp, "ingress"), ctx, "ingress",
                     "%s is reachable from the network: set curve.secret_key_file and "
                     "curve.client_keys_file, or bind to 127.0.0.1 or ipc://", d->ingress);
        return;
    }
    char key[CURVE_KEY_TEXT + 1], why[600];
    uint8_t (*keys)[32] = NULL;
    size_t count = 0;
    if (!curve_read_secret(d->curve_secret_key_file, key, why, sizeof why))
        s_report(p, curve, ctx, "curve.secret_key_file", "%s", why);
    if (!curve_read_clients(d->curve_client_keys_file, &keys, &count, why, sizeof why))
        s_report(p, curve, ctx, "curve.client_keys_file", "%s", why);
    free(keys);
    memset(key, 0, sizeof key);
}

/* s_check_password: a password in the connection string is only allowed in
 * a file other users cannot read (libpq's service file or PGPASSFILE are
 * the better places). */
static void s_check_password(struct parser *p, const setting_t *grp, const struct ctx *ctx,
                             const config_daemon_t *d)
{
    const char *db = d->database ? d->database : "";
    bool uri = strncmp(db, "postgresql://", 13) == 0 || strncmp(db, "postgres://", 11) == 0;
    const char *at = uri ? strchr(db, '@') : NULL;
    const char *userinfo = uri ? strchr(db, ':') + 1 : NULL;  /* after the scheme's ':' */
    bool has = strstr(db, "password=") != NULL ||
               (at && memchr(userinfo, ':', (size_t)(at - userinfo)) != NULL);
    if (!has)
        return;
    const setting_t *member = s_member_or(grp, "database");
    char name[PATH_MAX];
    const char *file = s_file_name(p, member ? config_setting_source_file(member) : NULL, name,
                                   sizeof name);
    struct stat st;
    if (stat(file, &st) == 0 && (st.st_mode & S_IROTH))
        s_report(p, member, ctx, "database",
                 "holds a password but %s is readable by every user; chmod o-r %s, or move "
                 "the password to PGPASSFILE or a libpq service file", file, file);
}

/* s_check_control: the control sockets have no CURVE, so they must stay
 * on this machine, and the group named for the write socket must exist. */
static void s_check_control(struct parser *p, const setting_t *grp, const struct ctx *ctx,
                            const config_daemon_t *d)
{
    if (d->control && !s_ingress_is_local(d->control))
        s_report(p, s_member_or(grp, "control"), ctx, "control",
                 "%s is reachable from the network: use ipc:// or a loopback address", d->control);
    const char *ro = d->control_readonly ? d->control_readonly : "";
    if (ro[0] && strcmp(ro, "none") != 0) {
        if (!s_ingress_is_local(ro))
            s_report(p, s_member_or(grp, "control_readonly"), ctx, "control_readonly",
                     "%s is reachable from the network: use ipc:// or a loopback address", ro);
        else if (d->control && strcmp(ro, d->control) == 0)
            s_report(p, s_member_or(grp, "control_readonly"), ctx, "control_readonly",
                     "must differ from control (%s)", d->control);
    }
    if (d->control_group && d->control_group[0] && getgrnam(d->control_group) == NULL)
        s_report(p, s_member_or(grp, "control_group"), ctx, "control_group",
                 "no group \"%s\" on this machine", d->control_group);
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
    s_check_curve(p, grp, ctx, d);
    s_check_password(p, grp, ctx, d);
    s_check_control(p, grp, ctx, d);
}

/* s_check_unique_name reports element INDEX of a list of structs (STRIDE
 * bytes each, a char *name at NAME_OFFSET) when an earlier one has its name. */
static void s_check_unique_name(struct parser *p, const setting_t *grp, const struct ctx *ctx,
                                const char *kind, const void *array, size_t stride,
                                size_t name_offset, size_t index)
{
    const char *base = array;
    const char *name = *(char *const *)(base + index * stride + name_offset);
    for (size_t j = 0; j < index && name; j++) {
        const char *other = *(char *const *)(base + j * stride + name_offset);
        if (!other || strcmp(other, name) != 0)
            continue;
        char what[128];
        snprintf(what, sizeof what, "%s \"%s\"", kind, name);
        s_duplicate(p, s_member_or(grp, "name"), ctx, "name", what,
                    config_setting_get_elem(config_setting_parent(grp), (unsigned)j));
        return;
    }
}

static void s_check_brand(struct parser *p, const setting_t *grp, const struct ctx *ctx,
                          void *array, size_t index)
{
    config_brand_t *brands = array;
    brands[index].line = (int)s_line(p, grp);
    s_check_unique_name(p, grp, ctx, "brand", array, sizeof *brands,
                        offsetof(config_brand_t, name), index);
}

static void s_check_platform(struct parser *p, const setting_t *grp, const struct ctx *ctx,
                             void *array, size_t index)
{
    config_platform_t *platforms = array;
    platforms[index].line = (int)s_line(p, grp);
    s_check_unique_name(p, grp, ctx, "platform", array, sizeof *platforms,
                        offsetof(config_platform_t, name), index);
}

/* ------------------------------------------------------------ the stores */

/* s_origin_file is the file AT came from, as messages show it, in storage
 * that lasts as long as P (a piece's libconfig tree does not). NULL when out
 * of memory. */
static const char *s_origin_file(struct parser *p, const setting_t *at)
{
    const char *raw = config_setting_source_file(at);
    if (!raw)
        return p->file;
    if (p->name_count && raw == p->name_raw)
        return p->names[p->name_last];
    char buf[PATH_MAX];
    const char *shown = s_file_name(p, raw, buf, sizeof buf);
    size_t i = 0;
    while (i < p->name_count && strcmp(p->names[i], shown) != 0)
        i++;
    if (i == p->name_count) {
        char **names = realloc(p->names, (p->name_count + 1) * sizeof *names);
        if (!names)
            return NULL;
        p->names = names;
        if (!(names[i] = strdup(shown)))
            return NULL;
        p->name_count++;
    }
    p->name_raw = raw;
    p->name_last = i;
    return p->names[i];
}

/* s_walk_stores parses COUNT elements of LIST, from FROM on, into PT. A
 * store without problems gets its line and origin; ids are checked across
 * all parts when they merge. */
static void s_walk_stores(struct part *pt, const setting_t *list, unsigned from, size_t count)
{
    struct parser *p = &pt->p;
    const char *key = s_scopes[S_STORE].key;
    if (!pt->slab) {
        pt->stores = s_calloc_big(count, sizeof *pt->stores);
        pt->origins = calloc(count, sizeof *pt->origins);
    }
    if (!pt->stores || !pt->origins) {
        s_report(p, list, NULL, key, "out of memory for %zu entries", count);
        pt->count = 0; /* a run of the main tree came with its count */
        return;
    }
    pt->count = count;
    for (size_t k = 0; k < count; k++) {
        const setting_t *e = config_setting_get_elem(list, from + (unsigned)k);
        struct ctx ctx = { NULL, key, (long)k };
        if (!config_setting_is_group(e)) {
            char got[SHOW_MAX];
            s_report(p, e, &ctx, NULL, "must be a group { ... } (got %s)", s_show(e, got, sizeof got));
            continue;
        }
        size_t before = p->error_count;
        s_parse_group(p, S_STORE, e, &pt->stores[k], &ctx);
        if (p->error_count != before)
            continue;
        const setting_t *id = s_member_or(e, "id");
        const char *file = s_origin_file(p, id);
        if (!file) {
            s_report(p, e, &ctx, NULL, "out of memory");
            continue;
        }
        pt->stores[k].line = (int)s_line(p, e);
        pt->origins[k] = (struct origin){ s_line(p, id), file };
    }
}

static void s_free_strings(enum scope_id sid, void *base);

static void s_parser_free(struct parser *p)
{
    for (size_t i = 0; i < p->msg_count; i++)
        free(p->msgs[i].text);
    free(p->msgs);
    for (size_t i = 0; i < p->tz_count; i++)
        free(p->tz[i]);
    free(p->tz);
    free(p->tz_ok);
    for (size_t i = 0; i < p->name_count; i++)
        free(p->names[i]);
    free(p->names);
    *p = (struct parser){ 0 };
}

/* s_part_free frees PT's contents; stores it still holds own their strings. */
static void s_part_free(struct part *pt)
{
    s_parser_free(&pt->p);
    if (pt->stores)
        for (size_t i = 0; i < pt->count; i++)
            s_free_strings(S_STORE, &pt->stores[i]);
    if (!pt->slab) {
        free(pt->stores);
        free(pt->origins);
    }
}

/* s_slab_alloc returns SIZE zeroed bytes for a piece's stores or origins
 * (lock held), from slabs of 32 MB in transparent huge pages that the load
 * unmaps at its end; NULL: use calloc. Pieces' arrays add up to as much as
 * the config's own (65 MB for 300,000 stores): in 4 KB pages that was 16,000
 * page faults, most of the load's. A new mapping reads as zeros and is
 * faulted in by the thread that writes it, outside the lock. */
static void *s_slab_alloc(struct load *ld, size_t size)
{
    const size_t huge = (size_t)2 << 20, slab = (size_t)32 << 20;
    size = (size + 63) & ~(size_t)63;
    if (size > slab / 4)
        return NULL;
    if (ld->slab_count && ld->slabs[ld->slab_count - 1].size - ld->slabs[ld->slab_count - 1].used >= size) {
        void *at = ld->slabs[ld->slab_count - 1].base + ld->slabs[ld->slab_count - 1].used;
        ld->slabs[ld->slab_count - 1].used += size;
        return at;
    }
    if (ld->slab_count == sizeof ld->slabs / sizeof ld->slabs[0])
        return NULL;
    /* map a huge page more, to start the slab on a huge page boundary */
    char *map = mmap(NULL, slab + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED)
        return NULL;
    char *base = (char *)(((uintptr_t)map + huge - 1) & ~(uintptr_t)(huge - 1));
    (void)madvise(base, slab, MADV_HUGEPAGE); /* a hint; fine if refused */
    ld->slabs[ld->slab_count].map = map;
    ld->slabs[ld->slab_count].base = base;
    ld->slabs[ld->slab_count].size = slab;
    ld->slabs[ld->slab_count++].used = size;
    return base;
}

/* ---------------------------------------------------------- the sources */

/* PIECE_BYTES: a source is cut into pieces of about this size, so that
 * threads share even one big file and finish together, and each piece's
 * libconfig tree (about ten times the text) is freed and its memory reused
 * before the next. 32 KB to 512 KB measured the same within the noise. */
#define PIECE_BYTES ((size_t)128 << 10)

/* The placeholder that stands in the main file for an @include sluice reads
 * itself; \x01 keeps it from meaning anything a person would write. */
#define PLACEHOLDER "\001sluice-include "

/* s_read_file reads the regular file PATH into *BUF (of *CAP bytes, grown
 * as needed), NUL-terminated, its length in *LEN. */
static bool s_read_file(const char *path, char **buf, size_t *cap, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat st;
    size_t n = 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uintmax_t)st.st_size >= SIZE_MAX / 4)
        goto fail;
    for (size_t want = (size_t)st.st_size + 1;; want = 2 * *cap) { /* larger: it grew */
        if (want > *cap) {
            /* a big file in huge pages: 93 MB are 23,000 page faults in small ones */
            char *more = want >= ((size_t)4 << 20) ? s_alloc_big(want, 1, false) : malloc(want);
            if (!more)
                goto fail;
            memcpy(more, *buf ? *buf : "", n);
            free(*buf);
            *buf = more;
            *cap = want;
        }
        ssize_t got;
        while ((got = read(fd, *buf + n, *cap - 1 - n)) > 0 || (got < 0 && errno == EINTR))
            n += got > 0 ? (size_t)got : 0;
        if (got < 0)
            goto fail;
        if (n < *cap - 1)
            break; /* end of file before the buffer's end */
        char probe;
        if ((got = read(fd, &probe, 1)) == 0)
            break;
        if (got < 0)
            goto fail;
        (*buf)[n++] = probe;
    }
    close(fd);
    (*buf)[n] = '\0';
    *len = n;
    return true;
fail:
    close(fd);
    return false;
}

/* s_buffer_take / s_buffer_give: the texts of sources come from a pool kept
 * for the whole load, so a freed 1 MB buffer is not handed back to the
 * kernel and faulted in again for the next file (lock held). */
static void s_buffer_take(struct load *ld, char **buf, size_t *cap)
{
    *buf = NULL;
    *cap = 0;
    if (ld->spare_count) {
        ld->spare_count--;
        *buf = ld->spare[ld->spare_count].buf;
        *cap = ld->spare[ld->spare_count].cap;
    }
}

static void s_buffer_give(struct load *ld, char *buf, size_t cap)
{
    if (!buf)
        return;
    if (ld->spare_count == sizeof ld->spare / sizeof ld->spare[0]) {
        free(buf);
        return;
    }
    ld->spare[ld->spare_count].buf = buf;
    ld->spare[ld->spare_count++].cap = cap;
}

struct pieces {
    config_scan_piece_t *v;
    size_t count, cap;
};

static bool s_on_piece(void *arg, const config_scan_piece_t *piece)
{
    struct pieces *ps = arg;
    if (ps->count == ps->cap) {
        size_t cap = ps->cap ? 2 * ps->cap : 8;
        config_scan_piece_t *v = realloc(ps->v, cap * sizeof *v);
        if (!v)
            return false;
        ps->v = v;
        ps->cap = cap;
    }
    ps->v[ps->count++] = *piece;
    return true;
}

/* s_source_cached gives SRC one piece, already walked, holding its stores
 * from the cache, when the cache has them for these bytes, brands and
 * platforms. A file is cached only when it was cacheable, and the same
 * bytes scan the same, so SRC is cacheable too. A zone that no longer
 * exists makes it a miss: the parse then says so as usual. */
static bool s_source_cached(struct load *ld, struct source *src)
{
    const config_t *cfg = ld->cfg;
    config_cache_key_t key = { src->path, src->shown, src->len, src->hash, cfg->brands,
                               cfg->brand_count, cfg->platforms, cfg->platform_count };
    config_cache_entry_t e;
    if (!config_cache_read(ld->cache_dir, &key, &e))
        return false;
    struct part *pt = calloc(1, sizeof *pt);
    struct origin *origins = calloc(e.count + 1, sizeof *origins);
    bool ok = pt && origins;
    for (size_t i = 0; ok && i < e.timezone_count; i++)
        ok = s_zone_exists(e.timezones[i]);
    if (!ok) {
        free(pt);
        free(origins);
        config_cache_entry_free(&e);
        return false;
    }
    for (size_t k = 0; k < e.count; k++)
        origins[k] = (struct origin){ e.id_lines[k], src->shown };
    pt->p.load = ld;
    pt->p.file = src->shown;
    pt->p.tz = e.timezones; /* the stores' zones point here until they merge */
    pt->p.tz_count = pt->p.tz_cap = e.timezone_count;
    pt->source = src;
    pt->stores = e.stores;
    pt->count = e.count;
    pt->origins = origins;
    free(e.id_lines);
    src->pieces = pt;
    src->piece_count = 1;
    src->cached = src->cacheable = true;
    return true;
}

/* s_source_load reads SRC, then finds it unchanged in the previous config
 * or in the cache, or cuts it into pieces. False: read it with libconfig instead (it
 * cannot be read, or holds a NUL byte, which libconfig's string reader
 * would take for the end). */
static bool s_source_load(struct load *ld, struct source *src)
{
    if (ld->only_store == CONFIG_NO_STORE)
        return true; /* not even read */
    if (!s_read_file(src->path, &src->text, &src->cap, &src->len) ||
        memchr(src->text, '\0', src->len))
        return false;
    if (ld->only_len &&
        !config_scan_has_number(src->text, src->len, ld->only_digits, ld->only_len))
        return true; /* a partial load: no piece of it can hold the store */
    src->hash = config_cache_hash(src->text, src->len);
    const struct config_sources *prev = ld->reuse ? ld->previous->sources : NULL;
    for (size_t i = 0; prev && i < prev->count; i++) {
        const struct config_source *cs = &prev->v[i];
        if (cs->len == src->len && cs->hash == src->hash && strcmp(cs->path, src->path) == 0 &&
            strcmp(cs->shown, src->shown) == 0) {
            src->reuse = cs;
            return true; /* its text goes back to the pool */
        }
    }
    if (ld->cache_dir && s_source_cached(ld, src))
        return true;
    struct pieces ps = { 0 };
    src->cacheable = config_scan_list(src->text, src->len, PIECE_BYTES, s_on_piece, &ps);
    if (!src->cacheable) {
        /* One piece, its elements uncounted: libconfig reads the @include
         * inside it, or refuses the text (then the whole file is read). */
        ps.count = 0;
        if (!s_on_piece(&ps, &(config_scan_piece_t){ 0, src->len, 1, 0 })) {
            free(ps.v);
            return false;
        }
    }
    src->pieces = calloc(ps.count, sizeof *src->pieces);
    if (!src->pieces) {
        free(ps.v);
        return false;
    }
    for (size_t i = 0; i < ps.count; i++) {
        struct part *pt = &src->pieces[i];
        pt->p.load = ld;
        pt->p.file = src->shown;
        pt->p.line_offset = ps.v[i].line - 1;
        pt->source = src;
        pt->piece = ps.v[i];
    }
    src->piece_count = src->pieces_left = ps.count;
    free(ps.v);
    return true;
}

/* s_text_mem appends LEN bytes of MEM to T. */
static void s_text_mem(struct text *t, const char *mem, size_t len)
{
    if (t->oom)
        return;
    if (t->len + len + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + len + 1)
            cap *= 2;
        char *buf = realloc(t->buf, cap);
        if (!buf) {
            t->oom = true;
            return;
        }
        t->buf = buf;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, mem, len);
    t->len += len;
    t->buf[t->len] = '\0';
}

/* A piece is fed to libconfig as "stores = ( PIECE );" through a stream
 * that reads the three parts in turn: no copy of the piece, and no buffer
 * as big as the piece (config_read_string takes the length of its text and
 * copies it byte by byte into a new buffer: a tenth of the load's time). */
struct piece_stream {
    const char *part[3];
    size_t len[3];
    size_t at;                /* in part[0] + part[1] + part[2] */
};

static ssize_t s_piece_read(void *cookie, char *buf, size_t size)
{
    struct piece_stream *ps = cookie;
    size_t done = 0, skip = ps->at;
    for (int i = 0; i < 3 && done < size; i++) {
        if (skip >= ps->len[i]) {
            skip -= ps->len[i];
            continue;
        }
        size_t n = ps->len[i] - skip < size - done ? ps->len[i] - skip : size - done;
        memcpy(buf + done, ps->part[i] + skip, n);
        done += n;
        skip = 0;
    }
    ps->at += done;
    return (ssize_t)done;
}

/* s_piece_walk parses one piece of a source with its own libconfig instance
 * (libconfig 1.5 keeps no global state: a reentrant flex scanner and a pure
 * bison parser) and walks it. STDIO is the calling thread's stream buffer
 * (libconfig reads a stream with getc). The piece is wrapped on its first
 * line, so its lines stay its own, plus line_offset; no newline before ");",
 * so a "#" comment at the end of a file stays what libconfig makes of it.
 * False when libconfig refuses the piece or reads other than the counted
 * elements: then the load reads the whole file. */
static bool s_piece_walk(struct load *ld, char *stdio, size_t stdio_size, struct part *pt)
{
    const char *key = s_scopes[S_STORE].key;
    const config_scan_piece_t *pc = &pt->piece;
    char open[32];
    snprintf(open, sizeof open, "%s = (", key);
    struct piece_stream ps = { { open, pt->source->text + pc->start, " );" },
                               { strlen(open), pc->end - pc->start, 3 }, 0 };
    FILE *in = fopencookie(&ps, "r", (cookie_io_functions_t){ .read = s_piece_read });
    if (!in)
        return false;
    setvbuf(in, stdio, _IOFBF, stdio_size);
    lc_config_t lc;
    config_init(&lc);
    config_set_include_dir(&lc, ld->dir);
    bool ok = config_read(&lc, in) == CONFIG_TRUE;
    fclose(in);
    const setting_t *root = config_root_setting(&lc);
    const setting_t *list = ok ? config_setting_get_member(root, key) : NULL;
    int n = list ? config_setting_length(list) : 0;
    ok = list && config_setting_length(root) == 1 && config_setting_is_list(list) && n > 0 &&
         (pc->elements == 0 || (size_t)n == pc->elements);
    if (ok)
        s_walk_stores(pt, list, 0, (size_t)n);
    lc_destroy(&lc);
    return ok;
}

/* s_piece_skipped: a partial load (only_store) leaves out a counted piece
 * whose text cannot hold the store's id as a number of its own. A piece of uncounted elements may
 * @include another file, so it is always read. */
static bool s_piece_skipped(const struct load *ld, const struct part *pt)
{
    const config_scan_piece_t *pc = &pt->piece;
    return ld->only_len && pc->elements &&
           !config_scan_has_number(pt->source->text + pc->start, pc->end - pc->start,
                                   ld->only_digits, ld->only_len);
}

/* s_queue_pieces makes SRC's pieces available to the workers (lock held). */
static bool s_queue_pieces(struct load *ld, struct source *src)
{
    if (ld->queue_len + src->piece_count > ld->queue_cap) {
        size_t cap = ld->queue_cap ? ld->queue_cap : 64;
        while (cap < ld->queue_len + src->piece_count)
            cap *= 2;
        struct part **q = realloc(ld->queue, cap * sizeof *q);
        if (!q)
            return false;
        ld->queue = q;
        ld->queue_cap = cap;
    }
    for (size_t i = 0; i < src->piece_count; i++)
        ld->queue[ld->queue_len++] = &src->pieces[i];
    return true;
}

/* s_work is one worker: it walks queued pieces first (so few sources are
 * held in memory at once), else reads the next source, until all are done
 * or one failed. Every thread of the load runs it, the caller's too. */
static void *s_work(void *arg)
{
    struct load *ld = arg;
    char stdio[64 << 10]; /* on the stack: each thread its own */
    pthread_mutex_lock(&ld->lock);
    while (!ld->failed) {
        if (ld->queue_head < ld->queue_len) {
            struct part *pt = ld->queue[ld->queue_head++];
            size_t n = pt->piece.elements;
            bool skip = s_piece_skipped(ld, pt);
            if (n && !skip) {
                pt->stores = s_slab_alloc(ld, n * sizeof *pt->stores);
                pt->origins = pt->stores ? s_slab_alloc(ld, n * sizeof *pt->origins) : NULL;
                pt->slab = pt->origins != NULL;
                if (!pt->slab)
                    pt->stores = NULL;
            }
            pthread_mutex_unlock(&ld->lock);
            bool ok = skip || s_piece_walk(ld, stdio, sizeof stdio, pt);
            pthread_mutex_lock(&ld->lock);
            ld->failed |= !ok;
            struct source *src = pt->source;
            if (--src->pieces_left == 0) {
                s_buffer_give(ld, src->text, src->cap);
                src->text = NULL;
            }
        } else if (ld->next_source < ld->source_count) {
            struct source *src = &ld->sources[ld->next_source++];
            ld->loading++;
            s_buffer_take(ld, &src->text, &src->cap);
            pthread_mutex_unlock(&ld->lock);
            bool ok = s_source_load(ld, src);
            pthread_mutex_lock(&ld->lock);
            ld->loading--;
            if (!ok || (!src->reuse && !src->cached && !s_queue_pieces(ld, src)))
                ld->failed = true;
            if (src->reuse || src->cached || src->piece_count == 0) {
                s_buffer_give(ld, src->text, src->cap);
                src->text = NULL;
            }
            pthread_cond_broadcast(&ld->wake);
        } else if (ld->loading > 0) {
            pthread_cond_wait(&ld->wake, &ld->lock);
        } else {
            break;
        }
    }
    pthread_cond_broadcast(&ld->wake);
    pthread_mutex_unlock(&ld->lock);
    return NULL;
}

/* s_run walks the main tree's runs of stores and, on LD->threads threads
 * (this one included), the sources. Worker threads block every signal: the
 * daemon takes its signals through a signalfd in the main thread. A thread
 * that cannot be started only means fewer workers. */
static void s_run(struct load *ld, const setting_t *list)
{
    pthread_t threads[15];
    size_t started = 0, want = ld->threads > 1 ? ld->threads - 1 : 0;
    if (want > sizeof threads / sizeof threads[0])
        want = sizeof threads / sizeof threads[0];
    if (ld->source_count == 0)
        want = 0;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    while (started < want && pthread_create(&threads[started], NULL, s_work, ld) == 0)
        started++;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    for (size_t i = 0; i < ld->segment_count; i++) {
        struct part *run = ld->segments[i].run;
        if (run)
            s_walk_stores(run, list, run->from, run->count);
    }
    s_work(ld);
    for (size_t i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
}

/* s_placeholder: 1 when E stands for source *K, 0 when it is an element of
 * the main file, -1 when it looks like a placeholder that is not one. */
static int s_placeholder(const struct load *ld, const setting_t *e, size_t *k)
{
    if (ld->source_count == 0 || config_setting_type(e) != CONFIG_TYPE_STRING)
        return 0;
    const char *v = config_setting_get_string(e);
    if (strncmp(v, PLACEHOLDER, sizeof PLACEHOLDER - 1) != 0)
        return 0;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v + sizeof PLACEHOLDER - 1, &end, 10);
    /* (its line is not checked: libconfig gives a string the line of the
     * token after it, which it reads to see whether another string follows) */
    if (errno || *end || n >= ld->source_count || config_setting_source_file(e))
        return -1;
    *k = (size_t)n;
    return 1;
}

static bool s_segment_add(struct load *ld, struct part *run, struct source *src)
{
    struct segment *v = realloc(ld->segments, (ld->segment_count + 1) * sizeof *v);
    if (!v)
        return false;
    ld->segments = v;
    v[ld->segment_count++] = (struct segment){ run, src };
    return true;
}

static bool s_run_add(struct load *ld, unsigned from, unsigned to)
{
    struct part *run = calloc(1, sizeof *run);
    if (!run)
        return false;
    run->p.load = ld;
    run->p.file = ld->top.file;
    run->from = from;
    run->count = to - from;
    if (s_segment_add(ld, run, NULL))
        return true;
    free(run);
    return false;
}

/* s_stores_segments splits the stores LIST into runs of the main tree and
 * sources. False when the placeholders are not each found once, as elements
 * of this list: then the @include was elsewhere, and the whole file is read. */
static bool s_stores_segments(struct load *ld, const setting_t *list)
{
    unsigned n = (unsigned)config_setting_length(list), from = 0;
    bool *seen = calloc(ld->source_count + 1, sizeof *seen), ok = seen != NULL;
    for (unsigned i = 0; ok && i < n; i++) {
        size_t k;
        int is = s_placeholder(ld, config_setting_get_elem(list, i), &k);
        if (is == 0)
            continue;
        ok = is > 0 && !seen[k];
        if (ok && i > from)
            ok = s_run_add(ld, from, i);
        if (ok) {
            seen[k] = true;
            ok = s_segment_add(ld, NULL, &ld->sources[k]);
            from = i + 1;
        }
    }
    if (ok && n > from)
        ok = s_run_add(ld, from, n);
    for (size_t k = 0; ok && k < ld->source_count; k++)
        ok = seen[k];
    free(seen);
    return ok;
}

/* ---------------------------------------------------------------- merging */

/* s_msgs_take moves PT's messages to the top parser, after adding BASE to
 * their stores index. */
static void s_msgs_take(struct load *ld, struct parser *from, size_t base)
{
    struct parser *top = &ld->top;
    for (size_t i = 0; i < from->msg_count; i++) {
        struct msg m = from->msgs[i];
        from->msgs[i].text = NULL;
        if (m.index >= 0)
            m.index += (long)base;
        if (++top->error_count > ERRORS_MAX) {
            free(m.text);
            continue;
        }
        struct text t = { .buf = m.text };
        s_msg_add(top, &t, m.split, m.index);
    }
    top->error_count += from->error_count - from->msg_count;
    top->oom |= from->oom;
}

/* Stores' ids are checked in one pass over all parts, in order, with an
 * open-addressing set of id << 32 | index + 1; "first at" comes from the
 * spans, the origins of each part in the stores array. */
struct span {
    size_t base, count;
    const struct origin *origins;  /* a fresh part's, or: */
    const unsigned *id_lines;      /* a reused source's, all in */
    const char *shown;
};

struct ids {
    uint64_t *slots;
    size_t mask;
    struct span *spans;
    size_t span_count;
};

static struct origin s_origin_of(const struct ids *ids, size_t g)
{
    size_t lo = 0, hi = ids->span_count;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (ids->spans[mid].base <= g)
            lo = mid;
        else
            hi = mid;
    }
    const struct span *sp = &ids->spans[lo];
    if (sp->origins)
        return sp->origins[g - sp->base];
    return (struct origin){ sp->id_lines[g - sp->base], sp->shown };
}

static void s_ids_check(struct load *ld, struct ids *ids, size_t g, struct origin at)
{
    uint32_t id = ld->cfg->stores[g].id;
    size_t h = (size_t)((id * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & ids->mask;
    for (; ids->slots[h]; h = (h + 1) & ids->mask) {
        if (ids->slots[h] >> 32 != id)
            continue;
        struct origin first = s_origin_of(ids, (ids->slots[h] & UINT32_MAX) - 1);
        struct ctx ctx = { NULL, s_scopes[S_STORE].key, (long)g };
        if (strcmp(first.file, at.file) == 0)
            s_report_at(&ld->top, at.file, at.line, &ctx, "id",
                        "duplicate store id %" PRIu32 " (first at line %u)", id, first.line);
        else
            s_report_at(&ld->top, at.file, at.line, &ctx, "id",
                        "duplicate store id %" PRIu32 " (first at %s:%u)", id, first.file, first.line);
        return;
    }
    ids->slots[h] = (uint64_t)id << 32 | (g + 1);
}

/* s_tz_take returns the top parser's interning of P's timezone TZ. */
static const char *s_tz_take(struct load *ld, const char *tz)
{
    long i = s_tz_intern(&ld->top, tz);
    return i < 0 ? NULL : ld->top.tz[i];
}

/* s_tz_reintern points COUNT stores' timezones at this load's interned
 * names (they came from a piece's parser or from the previous config). */
static void s_tz_reintern(struct load *ld, config_store_t *stores, size_t count)
{
    const char *from = NULL, *to = NULL;
    for (size_t k = 0; k < count; k++) {
        config_store_t *st = &stores[k];
        if (st->timezone && st->timezone != from) {
            from = st->timezone;
            if (!(to = s_tz_take(ld, from)))
                s_report(&ld->top, NULL, NULL, NULL, "out of memory");
        }
        if (st->timezone)
            st->timezone = to;
    }
}

/* s_merge_part moves PT's stores to the config at BASE (unless the config
 * adopted PT's array) and its messages to the top parser, then checks ids. */
static void s_merge_part(struct load *ld, struct ids *ids, struct part *pt, size_t base)
{
    config_t *cfg = ld->cfg;
    s_msgs_take(ld, &pt->p, base);
    if (pt->stores && cfg->stores != pt->stores)
        memcpy(cfg->stores + base, pt->stores, pt->count * sizeof *pt->stores);
    if (pt->stores) {
        if (cfg->stores != pt->stores && !pt->slab)
            free(pt->stores);
        pt->stores = NULL; /* the config owns them and their strings now */
    }
    s_tz_reintern(ld, cfg->stores + base, pt->count);
    ids->spans[ids->span_count++] = (struct span){ base, pt->count, pt->origins, NULL, NULL };
    for (size_t k = 0; k < pt->count; k++)
        if (pt->origins[k].line)
            s_ids_check(ld, ids, base + k, pt->origins[k]);
}

/* s_merge_reused copies the stores of source CS of the previous config. */
static void s_merge_reused(struct load *ld, struct ids *ids, const struct config_source *cs,
                           size_t base)
{
    config_t *cfg = ld->cfg;
    const config_store_t *old = ld->previous->stores + cs->first;
    memcpy(cfg->stores + base, old, cs->count * sizeof *old);
    for (size_t k = 0; k < cs->count; k++) {
        config_store_t *st = &cfg->stores[base + k];
        if (st->name && !(st->name = strdup(st->name)))
            s_report(&ld->top, NULL, NULL, NULL, "out of memory");
    }
    s_tz_reintern(ld, cfg->stores + base, cs->count);
    ids->spans[ids->span_count++] = (struct span){ base, cs->count, NULL, cs->id_lines, cs->shown };
    for (size_t k = 0; k < cs->count; k++)
        s_ids_check(ld, ids, base + k, (struct origin){ cs->id_lines[k], cs->shown });
}

static size_t s_source_count(const struct source *src)
{
    if (src->reuse)
        return src->reuse->count;
    size_t n = 0;
    for (size_t i = 0; i < src->piece_count; i++)
        n += src->pieces[i].count;
    return n;
}

/* s_merge puts the parts' stores into one array in list order and checks
 * store ids across them. One fresh part (a config without sources) hands
 * over its array as it is. */
static void s_merge(struct load *ld)
{
    config_t *cfg = ld->cfg;
    size_t total = 0, spans = 0;
    struct part *only = NULL;
    for (size_t i = 0; i < ld->segment_count; i++) {
        const struct segment *sg = &ld->segments[i];
        total += sg->run ? sg->run->count : s_source_count(sg->source);
        spans += sg->run || sg->source->reuse ? 1 : sg->source->piece_count;
        only = sg->run ? sg->run : sg->source->piece_count == 1 ? sg->source->pieces : NULL;
    }
    if (ld->segment_count != 1 || (only && (!only->stores || only->slab)))
        only = NULL;
    struct ids ids = { 0 };
    size_t slots = 16;
    while (slots < 2 * total)
        slots *= 2;
    ids.mask = slots - 1;
    ids.slots = s_calloc_big(slots, sizeof *ids.slots);
    ids.spans = calloc(spans + 1, sizeof *ids.spans);
    /* every store is copied in below, so the array needs no clearing */
    cfg->stores = only ? only->stores : total ? s_alloc_big(total, sizeof *cfg->stores, false) : NULL;
    if (!ids.slots || !ids.spans || (total && !cfg->stores)) {
        s_report(&ld->top, NULL, NULL, s_scopes[S_STORE].key, "out of memory for %zu entries", total);
        if (!only)
            free(cfg->stores);
        cfg->stores = NULL;
        goto done;
    }
    cfg->store_count = total;
    size_t base = 0;
    for (size_t i = 0; i < ld->segment_count; i++) {
        struct segment *sg = &ld->segments[i];
        if (sg->run) {
            s_merge_part(ld, &ids, sg->run, base);
            base += sg->run->count;
        } else if (sg->source->reuse) {
            s_merge_reused(ld, &ids, sg->source->reuse, base);
            base += sg->source->reuse->count;
        } else {
            for (size_t j = 0; j < sg->source->piece_count; j++) {
                s_merge_part(ld, &ids, &sg->source->pieces[j], base);
                base += sg->source->pieces[j].count;
            }
        }
    }
done:
    free(ids.slots);
    free(ids.spans);
}

static void s_sources_free(struct config_sources *cs)
{
    if (!cs)
        return;
    for (size_t i = 0; i < cs->count; i++) {
        free(cs->v[i].path);
        free(cs->v[i].shown);
        free(cs->v[i].id_lines);
    }
    free(cs->v);
    free(cs);
}

/* s_id_lines puts the line of each of SRC's stores' ids in LINES. */
static void s_id_lines(const struct source *src, unsigned *lines)
{
    if (src->reuse) {
        memcpy(lines, src->reuse->id_lines, src->reuse->count * sizeof *lines);
        return;
    }
    size_t k = 0;
    for (size_t j = 0; j < src->piece_count; j++)
        for (size_t m = 0; m < src->pieces[j].count; m++)
            lines[k++] = src->pieces[j].origins[m].line;
}

/* s_cache_write writes the cache file of every source this load parsed
 * (only cacheable ones: their bytes are all their stores depend on, besides
 * brands and platforms, which the file names). The cache is only a help: a
 * file not written is counted for the caller to warn about, no error. */
static void s_cache_write(struct load *ld)
{
    config_t *cfg = ld->cfg;
    size_t base = 0;
    for (size_t i = 0; i < ld->segment_count; i++) {
        const struct segment *sg = &ld->segments[i];
        const struct source *src = sg->source;
        size_t count = sg->run ? sg->run->count : s_source_count(src);
        if (src && src->cacheable && !src->reuse && !src->cached) {
            config_cache_key_t key = { src->path, src->shown, src->len, src->hash, cfg->brands,
                                       cfg->brand_count, cfg->platforms, cfg->platform_count };
            unsigned *lines = malloc((count + 1) * sizeof *lines);
            if (lines)
                s_id_lines(src, lines);
            if (!lines || !config_cache_write(ld->cache_dir, &key, cfg->stores + base, lines, count))
                cfg->stats.cache_write_failures++;
            free(lines);
        }
        base += count;
    }
}

/* s_stats_count fills the config's stats: what became of each source. */
static void s_stats_count(struct load *ld)
{
    config_load_stats_t *st = &ld->cfg->stats;
    for (size_t i = 0; i < ld->source_count; i++) {
        const struct source *src = &ld->sources[i];
        if (src->reuse) {
            st->files_reused++;
        } else if (src->cached) {
            st->files_cached++;
            st->stores_cached += s_source_count(src);
        } else if (src->piece_count) {
            st->files_parsed++;
        }
    }
}

/* s_sources_keep records in the new config what a later load needs to
 * reuse its sources (those without an @include inside). Only a help: when
 * out of memory the config just records none. */
static void s_sources_keep(struct load *ld)
{
    struct config_sources *cs = calloc(1, sizeof *cs);
    if (!cs || !(cs->v = calloc(ld->source_count + 1, sizeof *cs->v)))
        goto fail;
    size_t base = 0;
    for (size_t i = 0; i < ld->segment_count; i++) {
        const struct segment *sg = &ld->segments[i];
        if (sg->run) {
            base += sg->run->count;
            continue;
        }
        const struct source *src = sg->source;
        size_t count = s_source_count(src);
        if (src->reuse || src->cacheable) {
            struct config_source *c = &cs->v[cs->count++];
            *c = (struct config_source){ strdup(src->path), strdup(src->shown), src->hash, src->len,
                                         base, count, malloc((count + 1) * sizeof *c->id_lines) };
            if (!c->path || !c->shown || !c->id_lines)
                goto fail;
            s_id_lines(src, c->id_lines);
        }
        base += count;
    }
    ld->cfg->sources = cs;
    return;
fail:
    s_sources_free(cs);
}

/* s_reuse_init: the previous config's sources may be reused when it read
 * them against the same brands and platforms (stores hold their indexes)
 * and every timezone it knew still exists. */
static bool s_reuse_init(const struct load *ld)
{
    const config_t *old = ld->previous, *cfg = ld->cfg;
    if (!old || !old->sources || old->brand_count != cfg->brand_count ||
        old->platform_count != cfg->platform_count)
        return false;
    for (size_t i = 0; i < cfg->brand_count; i++)
        if (!old->brands[i].name || !cfg->brands[i].name ||
            strcmp(old->brands[i].name, cfg->brands[i].name) != 0)
            return false;
    for (size_t i = 0; i < cfg->platform_count; i++)
        if (!old->platforms[i].name || !cfg->platforms[i].name ||
            strcmp(old->platforms[i].name, cfg->platforms[i].name) != 0)
            return false;
    for (size_t i = 0; i < old->timezone_count; i++)
        if (!s_zone_exists(old->timezones[i]))
            return false;
    return true;
}

/* ---------------------------------------------------------------- loading */

/* s_load_tree walks the top level. False: a placeholder was not where it
 * belongs, so this attempt must be given up for a whole read. */
static bool s_load_tree(struct load *ld, const setting_t *root)
{
    struct parser *p = &ld->top;
    config_t *cfg = ld->cfg;
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

    const char *key = s_scopes[S_STORE].key;
    const setting_t *list = config_setting_get_member(root, key);
    int count = list ? config_setting_length(list) : 0;
    if (ld->source_count && (!list || !config_setting_is_list(list)))
        return false;
    if (list && !config_setting_is_list(list) && !(config_setting_is_array(list) && count == 0)) {
        char got[SHOW_MAX];
        s_report(p, list, NULL, key, "must be a list ( { ... }, { ... } ) (got %s)",
                 s_show(list, got, sizeof got));
        return true;
    }
    if ((count > 0 || ld->source_count) && !s_stores_segments(ld, list))
        return false;
    ld->reuse = s_reuse_init(ld);
    s_run(ld, list);
    if (ld->failed)
        return false;
    s_merge(ld);
    return true;
}

/* s_defaults_init parses every row's default once, so defaults go through
 * the same setters (and checks) as values from the file. */
static bool s_defaults_init(struct load *ld)
{
    struct text t = { 0 };
    for (size_t sid = 0; sid < S_COUNT; sid++)
        for (size_t i = 0; i < s_scopes[sid].row_count; i++)
            if (s_scopes[sid].rows[i].def)
                s_text_add(&t, "d%zu_%zu = %s;\n", sid, i, s_scopes[sid].rows[i].def);
    config_init(&ld->defaults);
    ld->defaults_live = true;
    bool ok = !t.oom && config_read_string(&ld->defaults, t.buf);
    for (size_t sid = 0; ok && sid < S_COUNT; sid++)
        for (size_t i = 0; i < s_scopes[sid].row_count; i++) {
            char name[32];
            snprintf(name, sizeof name, "d%zu_%zu", sid, i);
            ld->def[sid][i] = config_lookup(&ld->defaults, name);
        }
    if (!ok)
        s_report(&ld->top, NULL, NULL, NULL,
                 "internal error: cannot parse the built-in defaults: %s line %d",
                 t.oom ? "out of memory" : config_error_text(&ld->defaults),
                 config_error_line(&ld->defaults));
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
static bool s_includes_ok(struct load *ld, const char *file, const char *shown,
                          struct stat chain[10], int depth);

/* An @include line found by s_include_lines: its number and its text (NUL
 * in place of the newline). */
typedef bool s_include_line_fn(void *arg, unsigned lineno, char *line);

#define INCLUDE_SCAN_BLOCK (1u << 20)

/* s_count_lines: the newlines in [FROM, TO), by memchr (a byte loop over a
 * 79 MB store file costs more than the rest of a partial load). */
static unsigned s_count_lines(const char *from, const char *to)
{
    unsigned n = 0;
    for (const char *p = from; p < to && (p = memchr(p, '\n', (size_t)(to - p))) != NULL; p++)
        n++;
    return n;
}

/* s_include_lines calls ON for every line of F that begins, after blanks,
 * with "@include". Store files are tens of megabytes of lines that never
 * do, so F is read in big blocks searched for "@include", counting lines
 * only up to each hit, instead of line by line. A line longer than a block
 * is looked at in its first block only, where an @include would be. False
 * when ON says stop or a block cannot be allocated. */
static bool s_include_lines(FILE *f, s_include_line_fn *on, void *arg)
{
    char *buf = malloc(INCLUDE_SCAN_BLOCK + 1);
    if (!buf)
        return false;
    size_t have = 0;
    unsigned lineno = 1;
    bool ok = true, eof = false;
    while (ok && !eof) {
        size_t n = fread(buf + have, 1, INCLUDE_SCAN_BLOCK - have, f);
        eof = n < INCLUDE_SCAN_BLOCK - have;
        have += n;
        char *end = buf + have;
        if (!eof) { /* whole lines only; the rest waits for the next block */
            char *nl = memrchr(buf, '\n', have);
            end = nl ? nl + 1 : end;
        }
        char *counted = buf;
        /* memchr for '@' is many times faster than memmem over megabytes */
        for (char *at = buf; ok && (at = memchr(at, '@', (size_t)(end - at))) != NULL; at++) {
            if ((size_t)(end - at) < 8 || memcmp(at, "@include", 8) != 0)
                continue;
            char *start = at;
            while (start > buf && (start[-1] == ' ' || start[-1] == '\t'))
                start--;
            if (start > buf && start[-1] != '\n')
                continue;
            lineno += s_count_lines(counted, start);
            counted = start;
            char *eol = memchr(at, '\n', (size_t)(end - at));
            char saved = eol ? *eol : *end;
            char *stop = eol ? eol : end;
            *stop = '\0';
            ok = on(arg, lineno, start);
            *stop = saved;
        }
        lineno += s_count_lines(counted, end);
        have = (size_t)(buf + have - end);
        memmove(buf, end, have);
    }
    free(buf);
    return ok;
}

struct includes_walk {
    struct load *ld;
    const char *shown;
    struct stat *chain;
    int depth;
    bool ok;
};

/* s_include_line checks one @include line of s_includes_ok's file. */
static bool s_include_line(void *arg, unsigned lineno, char *line)
{
    struct includes_walk *w = arg;
    char path[PATH_MAX], buf[PATH_MAX];
    char *s = line + strspn(line, " \t"), *name, *end;
    if (s[8] != ' ' && s[8] != '\t')
        return true;
    name = s + 8 + strspn(s + 8, " \t");
    if (*name++ != '"')
        return true;
    for (end = name; *end && *end != '"'; end++)
        if (end[0] == '\\' && end[1])
            memmove(end, end + 1, strlen(end)); /* \\ and \" */
    *end = '\0';
    struct stat st;
    if ((size_t)snprintf(path, sizeof path, "%s/%s", w->ld->dir, name) >= sizeof path ||
        stat(path, &st) != 0)
        return true;
    if (S_ISDIR(st.st_mode)) {
        s_report_at(&w->ld->top, w->shown, lineno, NULL, NULL,
                    "@include \"%s\": is a directory, not a file", name);
        w->ok = false;
    } else if (S_ISREG(st.st_mode) && w->ld->only_store != CONFIG_NO_STORE) {
        /* A load without store files (sluicectl's daemon section) is not
         * worth reading a node's 80 MB of stores for: the daemon, which
         * reloads on SIGHUP, checks them all; a tool gets libconfig's own
         * message for an @include nested in an included file. */
        w->ok = s_includes_ok(w->ld, path, s_file_name(&w->ld->top, name, buf, sizeof buf),
                              w->chain, w->depth + 1);
    }
    return w->ok;
}

static bool s_includes_ok(struct load *ld, const char *file, const char *shown,
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
    struct includes_walk w = { ld, shown, chain, depth, true };
    bool scanned = s_include_lines(f, s_include_line, &w);
    fclose(f);
    if (!scanned && w.ok)
        s_report_at(&ld->top, shown, 0, NULL, NULL, "out of memory reading its @include lines");
    return scanned && w.ok;
}

/* s_errors_take writes the top parser's messages, each with its index. */
static char *s_errors_take(struct parser *p)
{
    struct text t = { 0 };
    for (size_t i = 0; i < p->msg_count; i++) {
        const struct msg *m = &p->msgs[i];
        if (m->index < 0) {
            s_text_add(&t, "%s", m->text);
            continue;
        }
        s_text_mem(&t, m->text, m->split);
        s_text_add(&t, "%ld%s", m->index, m->text + m->split);
    }
    if (p->error_count > ERRORS_MAX)
        s_text_add(&t, "... and %zu more problems\n", p->error_count - ERRORS_MAX);
    if (t.oom || p->oom) {
        free(t.buf);
        return strdup("out of memory while reporting configuration problems\n");
    }
    return t.buf ? t.buf : strdup("");
}

struct include_walk {
    struct load *ld;
    struct text *out;         /* the main file, placeholders for its sources */
    const char *text;
    size_t copied;            /* of text, to out */
};

/* s_on_include makes an @include directly inside the stores list a source,
 * and leaves any other for libconfig to splice in. */
static bool s_on_include(void *arg, const config_scan_include_t *inc)
{
    struct include_walk *iw = arg;
    struct load *ld = iw->ld;
    if (!inc->name || strcmp(inc->key, s_scopes[S_STORE].key) != 0)
        return true;
    char name[PATH_MAX], buf[PATH_MAX];
    if (inc->name_len >= sizeof name)
        return true;
    memcpy(name, inc->name, inc->name_len);
    name[inc->name_len] = '\0';
    struct source *v = realloc(ld->sources, (ld->source_count + 1) * sizeof *v);
    if (!v)
        return false;
    ld->sources = v;
    struct source *src = &v[ld->source_count];
    /* libconfig 1.5 opens include_dir + "/" + name, even for a name from / */
    size_t size = strlen(ld->dir) + inc->name_len + 2;
    *src = (struct source){ .line = inc->line, .path = malloc(size),
                            .shown = strdup(s_file_name(&ld->top, name, buf, sizeof buf)) };
    if (!src->path || !src->shown) {
        free(src->path);
        free(src->shown);
        return false;
    }
    snprintf(src->path, size, "%s/%s", ld->dir, name);
    ld->source_count++;
    s_text_mem(iw->out, iw->text + iw->copied, inc->start - iw->copied);
    s_text_add(iw->out, "\"\\x01sluice-include %zu\"", ld->source_count - 1);
    iw->copied = inc->end;
    return true;
}

/* s_read_main reads the main file with libconfig into LC. With SPLIT, the
 * @include lines of the stores list become placeholders for sources that
 * s_run reads; false then means "read it whole instead". */
static bool s_read_main(struct load *ld, lc_config_t *lc, bool split)
{
    config_set_include_dir(lc, ld->dir);
    if (split) {
        size_t len, cap = 0;
        char *text = NULL;
        struct text out = { 0 };
        bool ok = s_read_file(ld->path, &text, &cap, &len) && !memchr(text, '\0', len);
        struct include_walk iw = { ld, &out, text, 0 };
        if (ok)
            ok = config_scan_includes(text, len, s_on_include, &iw) && ld->source_count > 0;
        if (ok) {
            s_text_mem(&out, text + iw.copied, len - iw.copied);
            ok = !out.oom && config_read_string(lc, out.buf) == CONFIG_TRUE;
        }
        free(text);
        free(out.buf);
        return ok;
    }
    if (config_read_file(lc, ld->path))
        return true;
    int err = errno;
    char name[PATH_MAX];
    if (config_error_type(lc) == CONFIG_ERR_FILE_IO) {
        s_report(&ld->top, NULL, NULL, NULL, "cannot read: %s", strerror(err));
    } else {
        s_report_at(&ld->top, s_file_name(&ld->top, config_error_file(lc), name, sizeof name),
                    (unsigned)config_error_line(lc), NULL, NULL, "%s", config_error_text(lc));
    }
    return true;
}

static void s_load_free(struct load *ld)
{
    config_destroy(&ld->cfg);
    if (ld->defaults_live)
        lc_destroy(&ld->defaults);
    s_parser_free(&ld->top);
    for (size_t i = 0; i < ld->segment_count; i++)
        if (ld->segments[i].run) {
            s_part_free(ld->segments[i].run);
            free(ld->segments[i].run);
        }
    free(ld->segments);
    for (size_t i = 0; i < ld->source_count; i++) {
        struct source *src = &ld->sources[i];
        for (size_t j = 0; j < src->piece_count; j++)
            s_part_free(&src->pieces[j]);
        free(src->pieces);
        free(src->text);
        free(src->path);
        free(src->shown);
    }
    free(ld->sources);
    free(ld->queue);
    for (size_t i = 0; i < ld->spare_count; i++)
        free(ld->spare[i].buf);
    for (size_t i = 0; i < ld->slab_count; i++)
        munmap(ld->slabs[i].map, ld->slabs[i].size + ((size_t)2 << 20));
    free(ld->dir);
}

enum attempt { A_DONE, A_WHOLE };

/* s_attempt loads PATH once: with SPLIT its sources apart (A_WHOLE: give
 * that up and read the file whole), else whole. */
static enum attempt s_attempt(const char *path, const config_load_options_t *opts, bool split,
                              config_t **result, char **errors)
{
    struct load ld = { .path = path, .previous = opts->previous, .threads = opts->threads };
    ld.only_store = opts->only_store;
    ld.cache_dir = opts->only_store ? NULL : opts->cache_dir; /* not for a partial load */
    if (opts->only_store)
        ld.only_len = (size_t)snprintf(ld.only_digits, sizeof ld.only_digits, "%" PRIu32,
                                       opts->only_store);
    enum attempt a = A_DONE;
    lc_config_t lc;
    bool lc_live = false, sync_live = false;

    ld.top.load = &ld;
    ld.top.file = path;
    ld.cfg = calloc(1, sizeof *ld.cfg);
    ld.dir = s_dirname(path);
    if (!ld.cfg || !ld.dir || !(ld.cfg->path = strdup(path))) {
        s_report(&ld.top, NULL, NULL, NULL, "out of memory");
        goto done;
    }
    if (pthread_mutex_init(&ld.lock, NULL) != 0) {
        s_report(&ld.top, NULL, NULL, NULL, "failed to create a mutex");
        goto done;
    }
    if (pthread_cond_init(&ld.wake, NULL) != 0) {
        s_report(&ld.top, NULL, NULL, NULL, "failed to create a condition variable");
        pthread_mutex_destroy(&ld.lock);
        goto done;
    }
    sync_live = true;
    if (!s_defaults_init(&ld))
        goto done;
    struct stat chain[10];
    if (!s_includes_ok(&ld, path, path, chain, 0))
        goto done;
    config_init(&lc);
    lc_live = true;
    if (!s_read_main(&ld, &lc, split)) {
        a = A_WHOLE;
        goto done;
    }
    if (ld.top.error_count == 0 && !s_load_tree(&ld, config_root_setting(&lc))) {
        a = A_WHOLE;
        goto done;
    }
    if (ld.top.error_count == 0) {
        s_stats_count(&ld);
        if (ld.source_count && !ld.only_len)  /* a partial load is no base for reuse */
            s_sources_keep(&ld);
        if (ld.source_count && !ld.only_len && ld.cache_dir) /* nor for the cache */
            s_cache_write(&ld);
        ld.cfg->timezones = ld.top.tz;
        ld.cfg->timezone_count = ld.top.tz_count;
        ld.top.tz = NULL;
        ld.top.tz_count = 0;
        *result = ld.cfg;
        ld.cfg = NULL;
    }
done:
    if (lc_live)
        lc_destroy(&lc);
    if (sync_live) {
        pthread_cond_destroy(&ld.wake);
        pthread_mutex_destroy(&ld.lock);
    }
    if (a == A_DONE && !*result && errors)
        *errors = s_errors_take(&ld.top);
    s_load_free(&ld);
    return a;
}

config_t *config_load_with(const char *path, const config_load_options_t *opts, char **errors)
{
    config_load_options_t o = opts ? *opts : (config_load_options_t){ 0 };
    config_t *result = NULL;
    if (errors)
        *errors = NULL;
    if (o.threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        o.threads = n > 0 ? (unsigned)n : 1;
    }
    if (o.whole || s_attempt(path, &o, true, &result, errors) == A_WHOLE)
        s_attempt(path, &o, false, &result, errors);
    return result;
}

config_t *config_load(const char *path, char **errors)
{
    return config_load_with(path, NULL, errors);
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
    s_sources_free(cfg->sources);
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
        for (size_t i = 0; i < adapter_count(); i++)
            snprintf(buf + strlen(buf), size - strlen(buf), "%s`\"%s\"`", i ? ", " : "",
                     adapter_name(i));
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
