/* config_cache.h - the parsed-store cache: one file per @include'd store
 * file, holding its stores as config_load parsed them, so that a restart
 * skips libconfig for every store file that has not changed (the way
 * PostgreSQL keeps its relcache init file). A cache file that is missing,
 * short, corrupt, of another version or about other bytes is a miss: the
 * caller parses the file as usual. */
#ifndef SLUICE_CONFIG_CACHE_H
#define SLUICE_CONFIG_CACHE_H

#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a cache file must match exactly to be used: the source file and what
 * its stores' indexes point into (brands, platforms, campaigns and shards,
 * by name, in order). */
typedef struct config_cache_key {
    const char *path;        /* as config_load opens it */
    const char *shown;       /* as messages name it */
    size_t len;              /* the source's bytes */
    uint64_t hash;           /* config_cache_hash of them */
    const config_brand_t *brands;
    size_t brand_count;
    const config_platform_t *platforms;
    size_t platform_count;
    const config_campaign_t *campaigns;
    size_t campaign_count;
    const config_shard_t *shards;
    size_t shard_count;
} config_cache_key_t;

/* A cache hit. The caller owns everything in it: STORES (malloc'ed, each
 * store's name malloc'ed, its timezone pointing into TIMEZONES), ID_LINES
 * (per store, the line of its id), TIMEZONES (malloc'ed names). */
typedef struct config_cache_entry {
    config_store_t *stores;
    unsigned *id_lines;
    size_t count;
    char **timezones;
    size_t timezone_count;
} config_cache_entry_t;

/* config_cache_hash is a 64-bit hash of LEN bytes: it names sources for
 * reuse and for the cache, and checksums cache files. Not cryptographic: it
 * guards against edits and torn writes, not against someone who can write
 * the files. */
uint64_t config_cache_hash(const void *data, size_t len);

/* config_cache_read fills *OUT from DIR's cache file for KEY->path when the
 * file matches KEY exactly and every count and index in it is in range.
 * False (nothing to free) otherwise. */
bool config_cache_read(const char *dir, const config_cache_key_t *key, config_cache_entry_t *out)
    __attribute__((warn_unused_result));

/* config_cache_entry_free frees what *E holds (NULL fine) and clears it. */
void config_cache_entry_free(config_cache_entry_t *e);

/* config_cache_write writes COUNT STORES (ID_LINES per store) as DIR's
 * cache file for KEY, atomically (a temporary file renamed over it). False
 * when it could not; the cache is only a help, so that is no error. */
bool config_cache_write(const char *dir, const config_cache_key_t *key, const config_store_t *stores,
                        const unsigned *id_lines, size_t count)
    __attribute__((warn_unused_result));

/* config_cache_dir_env puts in BUF (SIZE bytes) the directory systemd
 * gives for CacheDirectory= ($CACHE_DIRECTORY; the first when it lists
 * several, separated by ':') and returns BUF; NULL when it is unset, empty
 * or too long: no cache, as for anyone who does not set it. */
const char *config_cache_dir_env(char *buf, size_t size);

/* config_cache_report logs (INFO) what the load of CFG did with its store
 * files, WHEN being "start" or "reload", and warns when cache files in DIR
 * could not be written. */
void config_cache_report(const config_t *cfg, const char *dir, const char *when);

#endif
