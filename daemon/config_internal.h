/* config_internal.h - what the parts of the config loader share: the parser
 * state, the load, and the functions each part offers the others (config.c
 * the top-level flow, config_keys.c the table and its value parsers,
 * config_report.c the FILE:LINE messages, config_stores.c the parallel store
 * loader). Private to daemon/config*.c; includes <libconfig.h>, renaming its
 * names that clash with ours. */
#ifndef SLUICE_CONFIG_INTERNAL_H
#define SLUICE_CONFIG_INTERNAL_H

/* libconfig names its handle config_t and exports a config_destroy, as we do.
 * Rename both while its header is read; its destructor is declared again
 * below as lc_destroy, linked under its real name. */
#define config_t lc_config_t
#define config_destroy lc_config_destroy_unused
#include <libconfig.h>
#undef config_destroy
#undef config_t

#include "config.h"
#include "config_scan.h"
#include "config_table.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

extern void lc_destroy(lc_config_t *lc) __asm__("config_destroy");

typedef config_setting_t setting_t;

#define ERRORS_MAX 1000 /* problems written out; the rest are counted */
#define SHOW_MAX 96     /* a value quoted in a message */
#define ZONEINFO_DIR "/usr/share/zoneinfo/"   /* where a store's timezone is looked up */

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
 * into one big tree (see config_load_with in config.h; config_stores.c). */
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
    struct { char *buf; size_t cap; } spare[16]; /* config_stores.c: s_buffer_take */
    size_t spare_count;
    struct { char *map, *base; size_t size, used; } slabs[64]; /* there: s_slab_alloc */
    size_t slab_count;
};

/* ------------------------------------------------ config_keys.c: the table */

typedef void config_kind_set_fn(struct parser *p, const struct slot *sl, const setting_t *s);

struct kind_info {
    const char *type;         /* for the docs */
    config_kind_set_fn *set;
};

extern const struct kind_info config_kinds[K_COUNT];

/* config_zone_exists: UTC needs no file; any other name must be a regular
 * file under the zoneinfo directory. */
bool config_zone_exists(const char *name);

/* config_tz_intern returns NAME's index in p->tz, adding it (and checking
 * its zoneinfo file, once) when new; -1 when out of memory. */
long config_tz_intern(struct parser *p, const char *name);

/* ---------------------------------------------- config_report.c: messages */

__attribute__((format(printf, 2, 3)))
void config_text_add(struct text *t, const char *fmt, ...);
/* config_text_mem appends LEN bytes of MEM to T. */
void config_text_mem(struct text *t, const char *mem, size_t len);

/* config_file_name: libconfig records an @include'd file by the name written
 * in the @include, which is relative to the include directory; text it read
 * from a string (FILE NULL) is P's file. */
const char *config_file_name(const struct parser *p, const char *file, char *buf, size_t size);

/* config_line is AT's line in its file. */
unsigned config_line(const struct parser *p, const setting_t *at);

/* config_member_or is GRP's member NAME, or GRP itself when it has none. */
const setting_t *config_member_or(const setting_t *grp, const char *name);

/* config_report reports a problem at the setting AT (NULL: the file itself),
 * as "FILE:LINE: CTX.KEY: MESSAGE". */
__attribute__((format(printf, 5, 6)))
void config_report(struct parser *p, const setting_t *at, const struct ctx *ctx, const char *key,
                   const char *fmt, ...);

/* config_report_at reports a problem at FILE (as shown) and LINE. */
__attribute__((format(printf, 6, 7)))
void config_report_at(struct parser *p, const char *file, unsigned line, const struct ctx *ctx,
                      const char *key, const char *fmt, ...);

/* config_show writes S as it would appear in the file, for "(got ...)". */
const char *config_show(const setting_t *s, char *buf, size_t size);

/* config_bad reports a problem with the value S of a slot, quoting the value. */
__attribute__((format(printf, 4, 5)))
void config_bad(struct parser *p, const struct slot *sl, const setting_t *s, const char *fmt, ...);

/* config_unknown reports an unknown key, suggesting the nearest known one
 * among the names valid in SECTION of scope SC (every scope's key when SC is
 * NULL). */
void config_unknown(struct parser *p, const struct scope *sc, const char *section,
                    const setting_t *s, const struct ctx *ctx, const char *key);

/* config_duplicate reports AT, the KEY of a group, as a duplicate of WHAT,
 * first seen in the group FIRST. */
void config_duplicate(struct parser *p, const setting_t *at, const struct ctx *ctx,
                      const char *key, const char *what, const setting_t *first);

/* config_msgs_take moves FROM's messages to TOP, after adding BASE to their
 * stores index. */
void config_msgs_take(struct parser *top, struct parser *from, size_t base);

/* config_errors_take writes P's messages, each with its index, as one new
 * text the caller frees. */
char *config_errors_take(struct parser *p);

/* ----------------------------------------------- config.c: the load's flow */

/* config_parse_group sets BASE from GRP (NULL: absent) by the rows of scope
 * SID, applying defaults and reporting missing required keys. */
void config_parse_group(struct parser *p, enum scope_id sid, const setting_t *grp, void *base,
                        const struct ctx *ctx);

/* config_parser_free frees what P holds and clears it. */
void config_parser_free(struct parser *p);

/* ------------------------------------------- config_stores.c: the stores */

/* config_alloc_big is malloc that asks for transparent huge pages when the
 * array is large; ZERO: clear it. */
void *config_alloc_big(size_t n, size_t size, bool zero);

/* config_stores_split_main reads the main file into LC with the @include
 * lines of the stores list made placeholders for sources, which
 * config_stores_load reads itself. False: read the file whole instead. */
bool config_stores_split_main(struct load *ld, lc_config_t *lc);

/* config_stores_load reads the stores list of ROOT, its sources on the
 * load's threads, and merges them into the config. False: a placeholder was
 * not where it belongs or libconfig refused a piece, so this attempt must be
 * given up for a whole read. */
bool config_stores_load(struct load *ld, const setting_t *root);

/* config_stores_finish, after a load without problems, counts what became
 * of the sources, keeps what a later load needs to reuse them, and writes
 * their cache files. */
void config_stores_finish(struct load *ld);

/* config_stores_free frees the load's parts, sources and buffers. */
void config_stores_free(struct load *ld);

/* config_sources_free frees what a config keeps of its sources (NULL fine). */
void config_sources_free(struct config_sources *cs);

#endif
