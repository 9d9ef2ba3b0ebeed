/* ctl.h - owns one sluicectl run: its options, the config it read, its
 * PostgreSQL connection and its exit codes; each command family is a file
 * of its own (ctl_order.c, ctl_store.c, ctl_stats.c, ctl_admin.c, and
 * reconcile_cmd.c), the config is read by ctl_config.c, the daemon is asked
 * through ctl_daemon.c, people read ctl_text.c's lines and tables, and what
 * went wrong is said by ctl_error.c. */
#ifndef SLUICE_CTL_H
#define SLUICE_CTL_H

#include "config.h"
#include "ctl_config.h"
#include "reconcile_cmd.h"
#include "support_query.h"

#include <stdbool.h>
#include <stdint.h>

/* "source" of an answer read from PostgreSQL directly, in --json. */
#define CTL_SOURCE_JSON "postgresql"

/* Exit codes, documented in sluicectl(8). */
enum ctl_exit {
    CTL_EXIT_OK = 0,
    CTL_EXIT_NOT_FOUND = 1,   /* no such order or store */
    CTL_EXIT_USAGE = 2,       /* bad command line, or a config that cannot be read */
    CTL_EXIT_UNREACHABLE = 3, /* PostgreSQL cannot be reached */
    CTL_EXIT_FAILED = 4,      /* PostgreSQL refused a query (schema not migrated, ...) */
    CTL_EXIT_DAEMON_UNREACHABLE = 5, /* no daemon answers at the control endpoint */
    CTL_EXIT_DENIED = 6,      /* a write command without write permission */
    CTL_EXIT_REFUSED = 7,     /* the daemon refused or could not carry out the command */
};

typedef struct ctl {
    const char *config_path;
    bool config_explicit;     /* -c given */
    const char *database;     /* --database, NULL: daemon.database */
    const char *control;      /* --control, NULL: daemon.control */
    int timeout_ms;           /* --timeout, for the daemon's answer */
    char asked[1100];         /* the control endpoint that answered or was tried last */
    bool json;
    reconcile_cmd_opts_t reconcile;  /* --date, --utc-offset */
    bool required_whole;      /* the command needs the whole config (reconcile: platforms) */
    config_t *cfg;            /* NULL when not read, or when it does not load */
    uint32_t cfg_only_store;  /* cfg holds only this store's pieces (0: all) */
    char *config_errors;      /* why cfg is NULL, when reading was tried */
    ctl_fallback_t fallback;  /* what was read of a config that does not load */
    const config_daemon_t *daemon;  /* the endpoints and the database: cfg's, the
                                     * fallback's, or NULL (config not read) */
    support_query_t *db;
} ctl_t;

/* ctl_load_config reads ctl->config_path into ctl->cfg (ctl_config.c); with
 * ONLY_STORE (not 0) only the pieces of big store files that can hold that
 * store (config_load_options_t). A file that is there but does not load is
 * said, every problem with its FILE:LINE, and ctl->daemon then holds what
 * ctl_config_fallback read of it, unless the command needs it whole. False
 * (said) when the config is needed (REQUIRED, -c named it, or whole) and
 * cannot be had; otherwise a failure is kept in ctl->config_errors, one line
 * for the answer. */
bool ctl_load_config(ctl_t *ctl, bool required, uint32_t only_store);
/* ctl_find_store: store ID of CFG (NULL when CFG is NULL or has none). */
const config_store_t *ctl_find_store(const config_t *cfg, uint32_t id);

/* ctl_connect connects ctl->db to --database or daemon.database: CTL_EXIT_OK,
 * or the exit code with where and why said (never a password). */
int ctl_connect(ctl_t *ctl);
/* ctl_pg_failure says why a support read failed and returns its exit code. */
int ctl_pg_failure(ctl_t *ctl, support_query_status_t st);

/* ctl_parse_store_id parses a store id (1..4294967295); false (said) when
 * ARG is none. */
bool ctl_parse_store_id(const char *arg, uint32_t *id);

#endif
