/* sluicectl.c - owns sluicectl's command line: options, the commands'
 * table, the config and the PostgreSQL connection of a run (ctl.h).
 *
 * `order` asks the daemon, whose support thread reads PostgreSQL on an open
 * connection (daemon/support.c), and reads PostgreSQL directly
 * (daemon/support_query.c) when no daemon answers; `store` reads PostgreSQL
 * directly, so support staff get answers while sluiced is down, and adds
 * the daemon's live view when the daemon answers on its control socket
 * (ctl_daemon.c, ctl_control.c), and every answer says where it came from.
 * platforms, stats, campaign, pause, resume and reload ask the daemon only.
 * `reconcile` asks the platforms and PostgreSQL itself (reconcile_cmd.c). */
#include "ctl.h"
#include "ctl_admin.h"
#include "ctl_campaign.h"
#include "ctl_control.h"
#include "ctl_error.h"
#include "ctl_order.h"
#include "ctl_stats.h"
#include "ctl_store.h"

#include "tz.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "unknown"
#endif

#define S_DEFAULT_CONFIG "/etc/sluice/sluice.conf"

static void s_usage_commands(FILE *out);

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: sluicectl [-c CONFIG] [--database CONNINFO] [--control ENDPOINT] [--json]\n"
            "                 COMMAND ...\n"
            "\n");
    s_usage_commands(out);
    fprintf(out,
            "\n"
            "  -c, --config FILE     config to read (default " S_DEFAULT_CONFIG ")\n"
            "  --database CONNINFO   libpq connection string, instead of daemon.database\n"
            "  --control ENDPOINT    the daemon's control socket, instead of daemon.control\n"
            "                        (read commands then try daemon.control_readonly)\n"
            "  --timeout MS          how long to wait for the daemon (default 2000)\n"
            "  --json                one JSON object instead of tables or lines; a failure\n"
            "                        too: {\"error\":{\"exit\":N,\"reason\":...,\"message\":...}}\n"
            "\n"
            "order asks the daemon (its open PostgreSQL connection) and reads PostgreSQL\n"
            "itself when no daemon answers; store reads PostgreSQL and, when the daemon\n"
            "answers, adds its live view. reconcile asks the platforms and PostgreSQL.\n"
            "The other commands ask the daemon.\n"
            "Exit status: 0 ok, 1 not found, 2 usage or config, 3 PostgreSQL unreachable,\n"
            "4 PostgreSQL refused a query, 5 daemon not reachable, 6 permission denied,\n"
            "7 the daemon refused the command, 8 reconcile found discrepancies, 9 reconcile\n"
            "could not ask a platform. See sluicectl(8).\n");
}

/* ---- database ---- */

/* ctl_connect connects; on failure says where it tried (never a password)
 * and why, and returns the exit code. */
int ctl_connect(ctl_t *ctl)
{
    const char *conninfo = ctl->database != NULL ? ctl->database : ctl->daemon->database;
    ctl->db = support_query_new(conninfo);
    if (ctl->db == NULL) {
        ctl_error("out of memory");
        return CTL_EXIT_FAILED;
    }
    if (support_query_connect(ctl->db) != SUPPORT_QUERY_OK) {
        ctl_error("PostgreSQL unreachable at %s (from %s): %s", support_query_target(ctl->db),
                  ctl->database != NULL ? "--database" : "daemon.database",
                  support_query_error(ctl->db));
        return CTL_EXIT_UNREACHABLE;
    }
    return CTL_EXIT_OK;
}

/* ctl_pg_failure reports a failed read and returns its exit code. */
int ctl_pg_failure(ctl_t *ctl, support_query_status_t st)
{
    if (st == SUPPORT_QUERY_UNREACHABLE) {
        ctl_error("PostgreSQL unreachable at %s: %s", support_query_target(ctl->db),
                  support_query_error(ctl->db));
        return CTL_EXIT_UNREACHABLE;
    }
    ctl_error("%s (at %s)", support_query_error(ctl->db), support_query_target(ctl->db));
    return CTL_EXIT_FAILED;
}

/* ---- arguments and commands ---- */

bool ctl_parse_store_id(const char *arg, uint32_t *id)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (arg[0] < '0' || arg[0] > '9' || *end != '\0' || errno != 0 || v < 1 || v > UINT32_MAX) {
        ctl_error("\"%s\" is not a store id (1..4294967295)", arg);
        return false;
    }
    *id = (uint32_t)v;
    return true;
}

/* s_cmd_reconcile: sluicectl reconcile (reconcile_cmd.c) on this run's connection. */
static int s_cmd_reconcile(ctl_t *ctl, char **argv)
{
    (void)argv;
    int rc = ctl_connect(ctl);
    if (rc != CTL_EXIT_OK)
        return rc;
    ctl->reconcile.json = ctl->json;
    return reconcile_cmd_run(ctl->cfg, ctl->db, &ctl->reconcile);
}

/* ---- main ---- */

/* What a command needs the config for. */
typedef enum ctl_needs {
    CTL_NEEDS_DATABASE,  /* the connection string, unless --database or --control */
    CTL_NEEDS_STORES,    /* the stores, and the daemon's endpoint */
    CTL_NEEDS_CONTROL,   /* the daemon's endpoint, unless --control */
    CTL_NEEDS_CONFIG,    /* the whole config: platforms, their adapters, the database */
} ctl_needs_t;

/* The commands: one row each. A new command is one row and its function. */
typedef struct ctl_command {
    const char *name;
    const char *arg;          /* its one argument's name, NULL for none; in brackets
                               * ("[NAME]"): optional, and the command checks its
                               * words itself (campaign pause NAME) */
    ctl_needs_t needs;
    int (*run)(ctl_t *ctl, char **argv);
    const char *help;
} ctl_command_t;

static const ctl_command_t s_commands[] = {
    {"order", "ID", CTL_NEEDS_DATABASE, ctl_order_run,
     "an order: state, promises, dispatch attempts and its timeline (PostgreSQL,\n"
     "                   through the daemon's connection when it answers)"},
    {"store", "ID", CTL_NEEDS_STORES, ctl_store_run,
     "a store: capacity, live orders, promised wait, today (PostgreSQL), and the\n"
     "                   daemon's live view: open, paused, slots, queue, wait now,\n"
     "                   today's rejections by reason"},
    {"platforms", NULL, CTL_NEEDS_CONTROL, ctl_stats_platforms,
     "each platform: link, breaker, in flight, error ratio, p99 reply times"},
    {"stats", NULL, CTL_NEEDS_CONTROL, ctl_stats_run,
     "intake rate, decisions by reason, queue delay, commit latency, batch size"},
    {"campaign", "[NAME]", CTL_NEEDS_CONTROL, ctl_campaign_run,
     "a campaign (every one without NAME): state, placed, budget left, pace,\n"
     "                   refusals by limit, the stores where its share is full;\n"
     "                   campaign pause NAME: refuse its orders (CAMPAIGN_LIMIT) now\n"
     "                   and across restarts; campaign resume NAME: the config decides\n"
     "                   again"},
    {"pause", "STORE", CTL_NEEDS_CONTROL, ctl_admin_pause,
     "refuse the store's new orders (STORE_PAUSED) now and across restarts"},
    {"resume", "STORE", CTL_NEEDS_CONTROL, ctl_admin_resume,
     "remove the pause: the config decides again"},
    {"reload", NULL, CTL_NEEDS_CONTROL, ctl_admin_reload,
     "re-read the daemon's config (as SIGHUP); a refused file is reported"},
    {"reconcile", NULL, CTL_NEEDS_CONFIG, s_cmd_reconcile,
     "[--date YYYY-MM-DD] [--utc-offset MINUTES]: every platform's settlement\n"
     "                   report of a day (default yesterday, UTC) against PostgreSQL;\n"
     "                   stores and prints the discrepancies (exit 8 if any, 9 if a\n"
     "                   platform could not be asked)"},
};

static void s_usage_commands(FILE *out)
{
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++) {
        char left[32];
        snprintf(left, sizeof left, "%s%s%s", s_commands[i].name, s_commands[i].arg ? " " : "",
                 s_commands[i].arg ? s_commands[i].arg : "");
        fprintf(out, "  %-16s %s\n", left, s_commands[i].help);
    }
}

static const ctl_command_t *s_find_command(const char *name)
{
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        if (strcmp(s_commands[i].name, name) == 0)
            return &s_commands[i];
    return NULL;
}

/* s_prepare_config reads the config when COMMAND needs it. A 300,000-store
 * config takes a second or more to read, so `order --database` and the
 * daemon's commands with --control skip it unless -c names it, `store ID`
 * reads only what can hold its store, and `order` only the daemon section
 * until it knows the order's store (s_zone_of). ARG is the command's
 * argument, or NULL. */
static bool s_prepare_config(ctl_t *ctl, const ctl_command_t *command, const char *arg)
{
    bool required, wanted;
    uint32_t only = 0;
    switch (command->needs) {
    case CTL_NEEDS_DATABASE:  /* order: the daemon at --control may answer alone */
        required = ctl->database == NULL && ctl->control == NULL;
        wanted = required || ctl->config_explicit;
        only = CONFIG_NO_STORE;
        break;
    case CTL_NEEDS_STORES:
        required = ctl->database == NULL;
        wanted = true;
        only = CONFIG_NO_STORE;
        if (arg != NULL) {  /* a bad id is said by the command */
            char *end;
            unsigned long long v = strtoull(arg, &end, 10);
            only = *arg >= '0' && *arg <= '9' && *end == '\0' && v >= 1 && v < CONFIG_NO_STORE
                       ? (uint32_t)v : CONFIG_NO_STORE;
        }
        break;
    case CTL_NEEDS_CONFIG:  /* reconcile: platforms and the database */
        required = wanted = ctl->required_whole = true;
        only = CONFIG_NO_STORE;
        break;
    default:
        required = ctl->control == NULL;
        wanted = required || ctl->config_explicit;
        only = CONFIG_NO_STORE;
        break;
    }
    if (!wanted)
        return true;
    if (ctl->cfg == NULL && !ctl_load_config(ctl, required, only))
        return false;
    return true;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' },  { "database", required_argument, NULL, 'd' },
        { "control", required_argument, NULL, 'C' }, { "timeout", required_argument, NULL, 't' },
        { "json", no_argument, NULL, 'j' },          { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },       { "date", required_argument, NULL, 'D' },
        { "utc-offset", required_argument, NULL, 'U' }, { NULL, 0, NULL, 0 },
    };
    ctl_t ctl = { .config_path = S_DEFAULT_CONFIG, .timeout_ms = CTL_CONTROL_TIMEOUT_MS };
    int opt, rc = CTL_EXIT_USAGE;
    char *end;
    const ctl_command_t *command = NULL;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c': ctl.config_path = optarg; ctl.config_explicit = true; break;
        case 'd': ctl.database = optarg; break;
        case 'C': ctl.control = optarg; break;
        case 't':
            ctl.timeout_ms = (int)strtol(optarg, &end, 10);
            if (*end != '\0' || ctl.timeout_ms < 1 || ctl.timeout_ms > 600000) {
                ctl_error("--timeout takes 1..600000 ms (got \"%s\")", optarg);
                goto done;
            }
            break;
        case 'j': ctl.json = true; break;
        case 'h': s_usage(stdout); return CTL_EXIT_OK;
        case 'V': printf("sluicectl %s\n", SLUICE_VERSION); return CTL_EXIT_OK;
        case 'D': ctl.reconcile.date = optarg; break;
        case 'U': ctl.reconcile.utc_offset = optarg; break;
        default:
            ctl_error("a bad option (getopt said which above)");
            s_usage(stderr);
            goto done;
        }
    }
    if (optind >= argc) {
        ctl_error("no command");
        s_usage(stderr);
        goto done;
    }
    command = s_find_command(argv[optind]);
    if (command == NULL) {
        ctl_error("unknown command \"%s\"", argv[optind]);
        s_usage(stderr);
        goto done;
    }
    int args = argc - optind - 1;
    bool own_words = command->arg != NULL && command->arg[0] == '[';
    if (!own_words && args != (command->arg != NULL ? 1 : 0)) {
        ctl_error("usage: sluicectl [options] %s%s%s", command->name, command->arg ? " " : "",
                  command->arg ? command->arg : "");
        goto done;
    }
    if (s_prepare_config(&ctl, command, command->arg != NULL ? argv[optind + 1] : NULL))
        rc = command->run(&ctl, argv + optind + 1);
done:
    /* --json: whatever happened, one object on stdout */
    if (ctl.json && ctl_error_reason(rc) != NULL)
        ctl_error_json(stdout, rc);
    support_query_destroy(&ctl.db);
    config_destroy(&ctl.cfg);
    ctl_config_fallback_clear(&ctl.fallback);
    free(ctl.config_errors);
    tz_reset();   /* the zones read for the answer's local times */
    if (fflush(stdout) != 0 && rc == CTL_EXIT_OK) {
        fprintf(stderr, "sluicectl: failed to write the answer: %s\n", strerror(errno));
        rc = CTL_EXIT_FAILED;
    }
    return rc;
}
