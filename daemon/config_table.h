/* config_table.h - the shape of the config key table (daemon/config_keys.c),
 * for what walks it by kind and offset: the loader's parts, the store cache
 * codec (config_cache.c) and the restart check (config_restart.c). Private
 * to daemon/config*.c; it needs no libconfig. */
#ifndef SLUICE_CONFIG_TABLE_H
#define SLUICE_CONFIG_TABLE_H

#include "config.h"

#include <stdbool.h>
#include <stddef.h>

#define ROWS_MAX 64 /* rows per scope: one bit each in a uint64_t */

/* What a row's field holds, from the row's offset on in its scope's struct.
 * The kinds that set several fields keep them next to each other there
 * (config_keys.c asserts it), so a walk needs only the offset. */
enum kind {
    K_INT,       /* int within [min, max] */
    K_ID,        /* uint32_t within [min, max]; int64 settings accepted */
    K_DOUBLE,    /* double within [min, max] */
    K_BOOL,
    K_STRING,    /* malloc'ed char *, length within [min, max] */
    K_ADAPTER,   /* string naming a registered adapter (adapter_find) */
    K_BRAND,     /* brand name -> int index into config_t.brands, "" -> -1 */
    K_HOURS,     /* "HH:MM-HH:MM" -> int open_minute, close_minute */
    K_CLOCK,     /* "HH:MM" -> int minutes after midnight within [min, max] */
    K_LOCATION,  /* [lat, lng] -> double lat, lng */
    K_TIMEZONE,  /* zoneinfo name -> interned const char * */
    K_PLATFORMS, /* ["name", ...] -> int platform_count, int platforms[] */
    K_STAFFING,  /* ( { from; to; prep_slots; }, ... ) -> int staffing_count,
                  * config_staffing_t staffing[] (its rows: S_STAFFING) */
    K_INSTANT,   /* "YYYY-MM-DDTHH:MM[:SS]" and "Z" or "+HH:MM" -> int64_t unix ms;
                  * "" -> 0 (none) */
    K_CAMPAIGN,  /* campaign name -> int index into config_t.campaigns */
    K_CAMPAIGNS, /* ( { name; store_share; }, ... ) -> int campaign_count, then
                  * CAMPAIGNS_ARRAY_AT bytes after it config_store_campaign_t
                  * campaigns[] (its rows: S_STORE_CAMPAIGN) */
    K_SHARD,     /* shard name -> int index into config_t.shards, "" -> -1 */
    K_ENDPOINTS, /* ["endpoint", ...] -> char *endpoints[], malloc'ed, NULL after
                  * the last (at most max) */
    K_COUNT
};

/* Where a store's campaign overrides start, from their count: the int,
 * rounded up to the array's alignment (config_keys.c asserts it). */
#define CAMPAIGNS_ARRAY_AT \
    ((sizeof(int) + _Alignof(config_store_campaign_t) - 1) / _Alignof(config_store_campaign_t) * \
     _Alignof(config_store_campaign_t))

/* When a changed value takes effect. A reload that changes a restart row is
 * refused (config_restart_changes), naming the key and both values. The
 * rows of stores.[].staffing.[] go with their list's row, stores.[].staffing,
 * and those of stores.[].campaigns.[] with stores.[].campaigns. */
enum apply {
    APPLY_LIVE,      /* the next order sees the reloaded value */
    APPLY_RESTART,   /* bound, connected or sized at start: a restart applies it */
};

struct key_row {
    const char *path;   /* dotted; "[]" stands for every element of a list */
    enum kind kind;
    enum apply apply;
    size_t offset;      /* of the (first) field set, in the scope's struct */
    const char *def;    /* default in libconfig syntax; NULL: required */
    double min, max;    /* numbers: value; strings: length; lists: entries */
    const char *doc;
};

enum scope_id {
    S_DAEMON, S_DISPATCH, S_BRAND, S_PLATFORM, S_CAMPAIGN, S_SHARD, S_STORE, S_STAFFING,
    S_STORE_CAMPAIGN, S_COUNT
};

/* config_check_fn checks a scope's struct across keys, after its rows were
 * set without problems (see config_internal.h for the parser). */
struct parser;
struct ctx;
struct config_setting_t;
typedef void config_check_fn(struct parser *p, const struct config_setting_t *grp,
                             const struct ctx *ctx, void *array, size_t index);

struct scope {
    const char *key;          /* top-level key; NULL for staffing */
    bool list;                /* a list of groups, one struct each */
    const char *prefix;       /* rows' path up to their own name */
    size_t prefix_len;
    const struct key_row *rows;
    size_t row_count;
    size_t size;              /* of the struct the rows' offsets point into */
    config_check_fn *check;   /* checks across keys, after the rows */
    /* Where config_t keeps the scope (those with a key): the struct of a
     * group, or a list's array pointer and its size_t count. */
    size_t at, count_at;
    long name_at;             /* a list element's char *name, -1: none */
};

extern const struct scope config_scopes[S_COUNT];

/* config_free_strings frees the strings that the rows of SID own in BASE
 * (a struct of that scope) and clears their pointers. */
void config_free_strings(enum scope_id sid, void *base);

#endif
