/* config.h - sluiced's configuration: one declarative table of keys drives
 * parsing (libconfig), defaults, validation, --check-config and the docs. */
#ifndef SLUICE_CONFIG_H
#define SLUICE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_MAX_STORE_PLATFORMS 8
#define CONFIG_MAX_STAFFING 8
#define CONFIG_MAX_STORE_CAMPAIGNS 4 /* campaign overrides in one store's entry */
#define CONFIG_MAX_BREAKER_WINDOW 600 /* seconds; the breaker keeps a bucket per second */
#define CONFIG_MAX_SHARD_ENDPOINTS 8  /* a shard's ingress endpoints */

typedef struct config_limits {
    int orders_per_second;   /* global token bucket rate */
    int queue_delay_ms;      /* adaptive shedding target: ingress queue delay */
    int commit_latency_ms;   /* adaptive shedding target: batch commit latency */
} config_limits_t;

typedef struct config_daemon {
    char *database;          /* libpq connection string */
    char *ingress;           /* ZeroMQ ROUTER endpoint */
    char *events;            /* ZeroMQ PUB endpoint */
    char *control;           /* ZeroMQ control endpoint (sluicectl): every command */
    char *control_readonly;  /* read commands only; "" next to control, "none" off */
    char *control_group;     /* group of control's ipc socket file; "" the daemon's */
    char *http;              /* host:port for /metrics /healthz /readyz */
    int max_message_bytes;   /* ZMQ_MAXMSGSIZE on ingress */
    config_limits_t limits;
    int commit_batch_max;    /* most orders written by one commit */
    int db_connections;      /* connections committing batches concurrently */
    int max_pending_orders;  /* orders waiting for a commit, past it OVERLOADED */
    int overloaded_retry_ms; /* retry_after_ms sent with OVERLOADED */
    int unavailable_retry_ms;/* retry_after_ms sent with UNAVAILABLE */
    int reconnect_min_ms;    /* first database reconnect delay */
    int reconnect_max_ms;    /* cap of the exponential reconnect backoff */
    int db_connect_timeout_ms;   /* one host's connection attempt */
    int db_statement_timeout_ms; /* a statement without an answer this long: connection lost */
    int paused_retry_ms;     /* retry_after_ms sent with STORE_PAUSED */
    int availability_event_ms; /* at most one avail.<store_id> event per store this often */
    char *curve_secret_key_file;  /* "" = no CURVE (loopback or ipc:// ingress only) */
    char *curve_client_keys_file; /* allowed producer public keys, one per line */
    int in_doubt_max_ms;     /* how long a client waits for a commit whose outcome was lost */
    int in_doubt_max_orders; /* orders in doubt at most; past it new orders get UNAVAILABLE */
    char *shard;             /* the shard this node serves; "" = a single node, no lease */
    char *node;              /* this node's name in its shard's lease; "" = the host name */
    char *advertise;         /* the ingress endpoint producers are told; "" = the one bound */
    int lease_seconds;       /* the shard lease's term; renewed every third of it */
} config_daemon_t;

typedef struct config_dispatch {
    int margin_seconds;
    int pickup_eta_seconds;  /* rider to store, until a quote says otherwise */
    int assign_timeout_seconds;
    int stuck_minutes;       /* no news of a rider for this long: ask, then replace or escalate */
    int retry_seconds;       /* no platform can take the order now: ask again after */
    int max_hold_minutes;
    int handoff_seconds;     /* from ready to a rider leaving with it */
    double rider_kmh;        /* travel estimate speed, straight line */
} config_dispatch_t;

typedef struct config_brand {
    char *name;
    int orders_per_second;
    int line;                /* source line, for messages */
} config_brand_t;

typedef struct config_breaker {
    double failure_ratio;
    int window_seconds;      /* how far back "recent requests" reach */
    int slow_ms;
    int min_requests;
    int open_seconds;
} config_breaker_t;

typedef struct config_platform {
    char *name;
    char *adapter;
    char *endpoint;
    int timeout_ms;
    int quote_deadline_ms;
    int max_inflight;
    config_breaker_t breaker;
    int line;
} config_platform_t;

/* A shard (daemon/shard.h): a named set of stores (stores.[].shard) served
 * by one active node at a time, which producers reach at its endpoints. */
typedef struct config_shard {
    char *name;
    char *endpoints[CONFIG_MAX_SHARD_ENDPOINTS + 1]; /* ingress endpoints, NULL after the last */
    int line;                /* source line, for messages */
} config_shard_t;

/* A campaign (daemon/campaign.h): orders that name it in
 * SubmitOrder.campaign are paced, capped and kept to a share of each
 * store's prep time, on top of the store's own rules. */
typedef struct config_campaign {
    char *name;
    int64_t starts_ms;       /* unix ms it takes orders from; 0: no start */
    int64_t ends_ms;         /* unix ms it stops taking them; 0: no end */
    double store_share;      /* most of a store's prep-slot time in any window of
                              * its max_wait_minutes; 1: no limit, 0: none */
    int orders_per_second;   /* token bucket over all stores */
    int budget;              /* orders it may place in all; 0: no limit */
    int per_store_daily;     /* orders per store per local day; 0: no limit */
    bool paused;
    int line;                /* source line, for messages */
} config_campaign_t;

/* A store's own store_share for one campaign (stores.[].campaigns). */
typedef struct config_store_campaign {
    int campaign;            /* index into config_t.campaigns */
    double store_share;      /* 0: the store takes none of its orders */
} config_store_campaign_t;

typedef struct config_staffing {
    int from_minute;         /* minutes after local midnight */
    int to_minute;
    int prep_slots;
} config_staffing_t;

typedef struct config_store {
    uint32_t id;
    int brand;               /* index into config_t.brands, -1 when none */
    char *name;
    double lat, lng;
    int prep_slots;
    int item_seconds;
    int order_seconds;
    int max_wait_minutes;
    int max_queue;
    int open_minute;         /* "hours": minutes after local midnight; */
    int close_minute;        /* close < open means the store closes after midnight */
    const char *timezone;    /* interned in config_t, not owned by the store */
    bool paused;
    int platform_count;
    int platforms[CONFIG_MAX_STORE_PLATFORMS]; /* indexes into config_t.platforms */
    int staffing_count;
    config_staffing_t staffing[CONFIG_MAX_STAFFING];
    int typical_drinks;      /* the order size availability answers for */
    int campaign_count;
    config_store_campaign_t campaigns[CONFIG_MAX_STORE_CAMPAIGNS];
    int shard;               /* index into config_t.shards, -1 when none */
    int line;
} config_store_t;

struct config_sources;        /* private to the loader (config_stores.c) */

/* What a load did with the @include'd store files, for a log line. */
typedef struct config_load_stats {
    size_t files_parsed;         /* by libconfig */
    size_t files_reused;         /* stores copied from config_load_options_t.previous */
    size_t files_cached;         /* stores read from config_load_options_t.cache_dir */
    size_t stores_cached;
    size_t cache_write_failures; /* cache files not written (a warning, no error) */
} config_load_stats_t;

typedef struct config {
    char *path;
    config_daemon_t daemon;
    config_dispatch_t dispatch;
    config_brand_t *brands;
    size_t brand_count;
    config_platform_t *platforms;
    size_t platform_count;
    config_campaign_t *campaigns;
    size_t campaign_count;
    config_shard_t *shards;
    size_t shard_count;
    config_store_t *stores;
    size_t store_count;
    char **timezones;        /* interned timezone names */
    size_t timezone_count;
    struct config_sources *sources; /* the @include'd store files read, for reuse
                                     * by config_load_with; private to the loader */
    config_load_stats_t stats;
} config_t;

/* config_load parses and validates FILE. On success returns a new config the
 * caller owns (free with config_destroy). On failure returns NULL and sets
 * *errors to a malloc'ed text, one "file:line: key: problem" per line, listing
 * every problem found; the caller frees it. Never applies a file half-way. */
config_t *config_load(const char *path, char **errors)
    __attribute__((warn_unused_result));

typedef struct config_load_options {
    /* A config loaded before (say, the one running when SIGHUP asks for a
     * reload). A file @include'd in the stores list whose path, length and
     * content hash are unchanged since PREVIOUS read it has its stores copied
     * from PREVIOUS instead of parsed again, provided brands, platforms and
     * campaigns (and shards) are the same names in the same order. PREVIOUS is only
     * read; it must stay alive during the call. NULL: parse everything. */
    const config_t *previous;
    /* Threads that parse (the caller's included); 0: one per online CPU. */
    unsigned threads;
    /* Let libconfig read the file and its @includes as one tree, the way
     * config_load did before it read store files in parallel: for
     * comparisons in tests and benchmarks. */
    bool whole;
    /* Non-zero: a partial load for tools that want one store of a big config
     * (sluicectl store ID). Pieces of @include'd store files whose text does
     * not hold this id's digits are not parsed, so their stores are left out
     * and ids are not checked across the whole list; every other key is read
     * and checked as usual. CONFIG_NO_STORE: no store of those files at
     * all, which are then not even read (for the daemon section alone).
     * Such a config must not be run or passed as PREVIOUS. */
    uint32_t only_store;
    /* A directory for the parsed-store cache (daemon/config_cache.h); NULL:
     * none. Each @include'd store file that is not reused from PREVIOUS has
     * its stores read from its cache file there when that file matches its
     * bytes, brands, platforms and campaigns exactly, instead of parsed.
     * After a load without errors, the files parsed get their cache files
     * (re)written, atomically; one that cannot be written only counts in
     * stats.cache_write_failures. Not used by a partial load (only_store)
     * nor by a whole one. */
    const char *cache_dir;
} config_load_options_t;

#define CONFIG_NO_STORE UINT32_MAX

/* config_load_with is config_load with OPTS (NULL: the defaults above).
 *
 * How a big config loads fast: each @include written directly inside the
 * top-level stores list ("stores = ( @include \"a.cfg\", ... );") is read by
 * sluice, cut at the commas between stores into pieces of about 256 KB, and
 * each piece is parsed by its own libconfig instance on a pool of threads,
 * its tree freed before the next (libconfig's tree of a 300,000-store file
 * takes about 1 GB and most of the time is spent growing it). Results and
 * messages (FILE:LINE of the included file) are the same as reading the file
 * whole; whenever libconfig refuses a piece, the file is read whole again so
 * that its message is libconfig's own. Other @includes are read by
 * libconfig as before. */
config_t *config_load_with(const char *path, const config_load_options_t *opts, char **errors)
    __attribute__((warn_unused_result));

/* config_destroy frees SELF (NULL is fine) and clears the caller's pointer.
 * libconfig exports a function of the same name (and a type named config_t),
 * so ours is linked as sluice_config_destroy; only the loader (through
 * daemon/config_internal.h) and its unit test include <libconfig.h>,
 * renaming libconfig's names as they do. */
void config_destroy(config_t **self) __asm__("sluice_config_destroy");

/* config_restart_changes: does NEXT change a key that only a restart applies
 * (the rows marked restart in the key table: what the running process has
 * bound, connected or sized from CUR)? When it does, WHY (LEN bytes) gets
 * one line per such key, naming it and both values, e.g.
 *   daemon.ingress: "tcp://127.0.0.1:7400" -> "tcp://127.0.0.1:7500" cannot
 *   change on reload; restart sluiced to apply it
 * (a list element by its index, platforms[1].timeout_ms; a list whose
 * length or names differ as both lists of names), each ending in a newline;
 * a password in a connection string is shown as ***. Lines that do not fit
 * are counted in a last "... and N more" line. False (WHY "") when a reload
 * may apply NEXT. */
bool config_restart_changes(const config_t *cur, const config_t *next, char *why, size_t len)
    __attribute__((warn_unused_result));

/* config_print_keys writes the key table (key, type, default, range, meaning,
 * apply: live or restart) as Markdown, used for the README, `sluiced
 * --config-keys` and sluice.conf(5). */
void config_print_keys(FILE *out);

/* config_key_count / config_key_path enumerate the table's key paths
 * (e.g. "daemon.limits.queue_delay_ms", "stores.[].prep_slots"), so a test
 * can check that the sample config mentions every key. */
size_t config_key_count(void);
const char *config_key_path(size_t i);

#endif
