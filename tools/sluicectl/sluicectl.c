/* sluicectl.c - owns sluicectl's command line: options, the config, the
 * commands and how their answers are shown (tables for people, one JSON
 * object with --json).
 *
 * `order` asks the daemon, whose support thread reads PostgreSQL on an open
 * connection (daemon/support.c), and reads PostgreSQL directly
 * (daemon/support_query.c) when no daemon answers; `store` reads PostgreSQL
 * directly, so support staff get answers while sluiced is down, and adds
 * the daemon's live view when the daemon answers on its control socket (ctl_control.c),
 * and every answer says where it came from. platforms, stats, pause, resume
 * and reload ask the daemon only. `reconcile` asks the platforms and
 * PostgreSQL itself (reconcile_cmd.c). */
#include "clock.h"
#include "config.h"
#include "control.h"
#include "ctl_control.h"
#include "ctl_format.h"
#include "ctl_json.h"
#include "kitchen.h"
#include "order.h"
#include "reconcile_cmd.h"
#include "support_query.h"
#include "tz.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "unknown"
#endif

#define S_DEFAULT_CONFIG "/etc/sluice/sluice.conf"
#define S_SOURCE_JSON "postgresql"

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
    config_t *cfg;            /* NULL when not read */
    uint32_t cfg_only_store;  /* cfg holds only this store's pieces (0: all) */
    char *config_errors;      /* why cfg is NULL, when reading was tried */
    support_query_t *db;
} ctl_t;

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
            "  --json                one JSON object instead of tables (read commands)\n"
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

/* ---- text for people ---- */

/* s_put writes S for a terminal: control characters (C0, DEL and C1, which
 * some terminals obey inside UTF-8) as \xNN, so data never moves the cursor
 * or changes colours. NULL is "-". Returns the columns written, counting one
 * per UTF-8 character. */
static size_t s_put(FILE *out, const char *s)
{
    if (s == NULL) {
        if (out != NULL)
            fputc('-', out);
        return 1;
    }
    size_t cols = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f || (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)) {
            unsigned code = *p == 0xc2 ? *++p : *p;
            if (out != NULL)
                fprintf(out, "\\x%02x", code);
            cols += 4;
            continue;
        }
        if (out != NULL)
            fputc(*p, out);
        if ((*p & 0xc0) != 0x80)
            cols++;
    }
    return cols;
}

/* s_put_lines writes S as s_put does, keeping its line breaks. */
static void s_put_lines(FILE *out, const char *s)
{
    char line[512];
    while (s != NULL) {
        const char *nl = strchr(s, '\n');
        size_t n = nl != NULL ? (size_t)(nl - s) : strlen(s);
        snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line ? n : sizeof line - 1), s);
        s_put(out, line);
        if (nl != NULL)
            fputc('\n', out);
        s = nl != NULL ? nl + 1 : NULL;
    }
}

/* s_field writes one "label   value" line. */
static void s_field(const char *label, const char *value)
{
    printf("%-20s", label);
    s_put(stdout, value);
    fputc('\n', stdout);
}

static void s_fieldf(const char *label, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_fieldf(const char *label, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    s_field(label, buf);
}

/* s_table prints ROWS rows of COLS cells (row-major; NULL cells are "-"),
 * indented, columns as wide as their widest cell. */
static void s_table(size_t cols, const char *const *headers, size_t rows, const char **cells)
{
    size_t width[16] = { 0 };
    if (cols > sizeof width / sizeof width[0])
        cols = sizeof width / sizeof width[0];
    for (size_t c = 0; c < cols; c++) {
        width[c] = s_put(NULL, headers[c]);
        for (size_t r = 0; r < rows; r++) {
            size_t w = s_put(NULL, cells[r * cols + c]);
            width[c] = w > width[c] ? w : width[c];
        }
    }
    for (size_t r = 0; r <= rows; r++) {
        fputs("  ", stdout);
        for (size_t c = 0; c < cols; c++) {
            const char *cell = r == 0 ? headers[c] : cells[(r - 1) * cols + c];
            size_t w = s_put(stdout, cell);
            if (c + 1 < cols)
                printf("%*s", (int)(width[c] - w + 2), "");
        }
        fputc('\n', stdout);
    }
}

/* s_clock: minutes after local midnight (0..1440) as HH:MM. */
static const char *s_clock(int minute, char *buf, size_t len)
{
    unsigned m = minute < 0 ? 0u : minute > 1440 ? 1440u : (unsigned)minute;
    snprintf(buf, len, "%02u:%02u", m / 60, m % 60);
    return buf;
}

/* ---- config ---- */


/* s_load_config reads the config; with ONLY_STORE (not 0) only the pieces of
 * big store files that can hold that store (config_load_options_t): a
 * 300,000-store config takes a second or more to read whole. A failure is
 * fatal (false) when the connection string must come from it or the user
 * named the file; otherwise it is kept in config_errors and said in the
 * answer. */
static bool s_load_config(ctl_t *ctl, bool required, uint32_t only_store)
{
    const config_load_options_t opts = { .only_store = only_store };
    ctl->cfg = config_load_with(ctl->config_path, &opts, &ctl->config_errors);
    ctl->cfg_only_store = only_store;
    if (ctl->cfg != NULL)
        return true;
    if (ctl->config_errors == NULL)
        ctl->config_errors = strdup("cannot be read");
    if (required || ctl->config_explicit) {
        fprintf(stderr, "sluicectl: failed to read config %s:\n%s%s", ctl->config_path,
                ctl->config_errors ? ctl->config_errors : "",
                ctl->database == NULL ? "(or name the database with --database CONNINFO)\n" : "");
        return false;
    }
    /* one line for the answer */
    if (ctl->config_errors != NULL)
        ctl->config_errors[strcspn(ctl->config_errors, "\n")] = '\0';
    return true;
}

static const config_store_t *s_find_store(const config_t *cfg, uint32_t id)
{
    if (cfg == NULL)
        return NULL;
    for (size_t i = 0; i < cfg->store_count; i++)
        if (cfg->stores[i].id == id)
            return &cfg->stores[i];
    return NULL;
}

/* s_zone_of: support_query_zone_fn giving an order's store's timezone. A config
 * read for its daemon section alone is read again for this store. */
static const char *s_zone_of(uint32_t store_id, void *arg)
{
    ctl_t *ctl = arg;
    if (ctl->cfg != NULL && ctl->cfg_only_store == CONFIG_NO_STORE) {
        config_destroy(&ctl->cfg);
        if (!s_load_config(ctl, false, store_id))
            return NULL;
    }
    const config_store_t *s = s_find_store(ctl->cfg, store_id);
    return s != NULL && s->timezone != NULL && s->timezone[0] ? s->timezone : NULL;
}

/* ---- database ---- */

/* s_connect connects; on failure says where it tried (never a password)
 * and why, and returns the exit code. */
static int s_connect(ctl_t *ctl)
{
    const char *conninfo = ctl->database != NULL ? ctl->database : ctl->cfg->daemon.database;
    ctl->db = support_query_new(conninfo);
    if (ctl->db == NULL) {
        fprintf(stderr, "sluicectl: out of memory\n");
        return CTL_EXIT_FAILED;
    }
    if (support_query_connect(ctl->db) != SUPPORT_QUERY_OK) {
        fprintf(stderr, "sluicectl: PostgreSQL unreachable at %s (from %s): %s\n",
                support_query_target(ctl->db),
                ctl->database != NULL ? "--database" : "daemon.database",
                support_query_error(ctl->db));
        return CTL_EXIT_UNREACHABLE;
    }
    return CTL_EXIT_OK;
}

/* s_db_failure reports a failed read and returns its exit code. */
static int s_db_failure(ctl_t *ctl, support_query_status_t st)
{
    if (st == SUPPORT_QUERY_UNREACHABLE) {
        fprintf(stderr, "sluicectl: PostgreSQL unreachable at %s: %s\n",
                support_query_target(ctl->db), support_query_error(ctl->db));
        return CTL_EXIT_UNREACHABLE;
    }
    fprintf(stderr, "sluicectl: %s (at %s)\n", support_query_error(ctl->db),
            support_query_target(ctl->db));
    return CTL_EXIT_FAILED;
}

/* ---- the daemon's control socket ---- */

typedef Sluice__Control__V1__Request ctl_request_t;
typedef Sluice__Control__V1__Reply ctl_reply_t;

/* s_endpoint: the control endpoint to ask first. */
static const char *s_endpoint(const ctl_t *ctl)
{
    return ctl->control != NULL ? ctl->control : ctl->cfg->daemon.control;
}

static bool s_can_ask(const ctl_t *ctl)
{
    return ctl->control != NULL || ctl->cfg != NULL;
}

/* s_ask sends REQ to the daemon. A READ command that the write socket
 * keeps out (file permissions) or that cannot connect there is sent to
 * daemon.control_readonly instead, unless --control named the endpoint.
 * ctl->asked names the endpoint that answered, or else the first one. */
static ctl_control_status_t s_ask(ctl_t *ctl, ctl_request_t *req, bool read, ctl_reply_t **reply,
                                  char *why, size_t len)
{
    const char *ep = s_endpoint(ctl);
    snprintf(ctl->asked, sizeof ctl->asked, "%s", ep);
    ctl_control_status_t st = ctl_control_ask(ep, ctl->timeout_ms, req, reply, why, len);
    bool refused = st == CTL_CONTROL_DENIED || st == CTL_CONTROL_UNREACHABLE;
    if (!refused || !read || ctl->control != NULL)
        return st;
    char ro[1100], ro_why[512];
    control_readonly_endpoint(&ctl->cfg->daemon, ro, sizeof ro);
    if (!ro[0])
        return st;
    ctl_control_status_t ro_st = ctl_control_ask(ro, ctl->timeout_ms, req, reply, ro_why,
                                                 sizeof ro_why);
    if (ro_st == CTL_CONTROL_UNREACHABLE && st == CTL_CONTROL_UNREACHABLE)
        return st;  /* no daemon: say so of the socket it would have answered on */
    snprintf(ctl->asked, sizeof ctl->asked, "%s", ro);
    snprintf(why, len, "%s", ro_why);
    return ro_st;
}

/* s_daemon_failure reports a request the daemon did not answer and returns
 * its exit code. */
static int s_daemon_failure(const ctl_t *ctl, ctl_control_status_t st, const char *why)
{
    if (st == CTL_CONTROL_DENIED) {
        fprintf(stderr, "sluicectl: %s: %s; see sluicectl(8), PERMISSIONS\n", ctl->asked, why);
        return CTL_EXIT_DENIED;
    }
    if (st == CTL_CONTROL_UNREACHABLE) {
        fprintf(stderr, "sluicectl: daemon not reachable at %s: %s\n", ctl->asked, why);
        return CTL_EXIT_DAEMON_UNREACHABLE;
    }
    fprintf(stderr, "sluicectl: asking the daemon at %s failed: %s\n", ctl->asked, why);
    return CTL_EXIT_REFUSED;
}

/* s_reply_error: exit code of an Error reply (reported here), or -1 when R
 * is the body EXPECTED. */
static int s_reply_error(const ctl_t *ctl, const ctl_reply_t *r, Sluice__Control__V1__Reply__BodyCase expected)
{
    if (r->body_case == expected)
        return -1;
    if (r->body_case != SLUICE__CONTROL__V1__REPLY__BODY_ERROR || r->error == NULL) {
        fprintf(stderr, "sluicectl: the daemon at %s answered something unexpected\n", ctl->asked);
        return CTL_EXIT_REFUSED;
    }
    fprintf(stderr, "sluicectl: the daemon at %s says %s: ", ctl->asked,
            control_code_name(r->error->code));
    s_put_lines(stderr, r->error->message);
    fputc('\n', stderr);
    switch (r->error->code) {
    case SLUICE__CONTROL__V1__ERROR__CODE__PERMISSION_DENIED:
        return CTL_EXIT_DENIED;
    case SLUICE__CONTROL__V1__ERROR__CODE__NOT_FOUND:
        return CTL_EXIT_NOT_FOUND;
    default:
        return CTL_EXIT_REFUSED;
    }
}

/* s_call asks the daemon and checks the answer: CTL_EXIT_OK and *REPLY
 * (the caller frees it), or the exit code with the reason reported. */
static int s_call(ctl_t *ctl, ctl_request_t *req, bool read,
                  Sluice__Control__V1__Reply__BodyCase expected, ctl_reply_t **reply)
{
    char why[512];
    ctl_control_status_t st = s_ask(ctl, req, read, reply, why, sizeof why);
    if (st != CTL_CONTROL_OK)
        return s_daemon_failure(ctl, st, why);
    int rc = s_reply_error(ctl, *reply, expected);
    if (rc < 0)
        return CTL_EXIT_OK;
    sluice__control__v1__reply__free_unpacked(*reply, NULL);
    *reply = NULL;
    return rc;
}

/* A read command's answer shown one way: as JSON, or for people. */
typedef void s_show_fn(const ctl_t *ctl, const ctl_reply_t *r);

/* s_read_command asks the daemon REQ, a read command answered with body
 * EXPECTED, and shows the answer with JSON or TEXT as --json says. Returns
 * the exit code. */
static int s_read_command(ctl_t *ctl, ctl_request_t *req,
                          Sluice__Control__V1__Reply__BodyCase expected, s_show_fn *json,
                          s_show_fn *text)
{
    ctl_reply_t *r = NULL;
    int rc = s_call(ctl, req, true, expected, &r);
    if (rc != CTL_EXIT_OK)
        return rc;
    (ctl->json ? json : text)(ctl, r);
    sluice__control__v1__reply__free_unpacked(r, NULL);
    return CTL_EXIT_OK;
}

static void s_source_daemon_text(const ctl_t *ctl)
{
    printf("source: daemon at ");
    s_put(stdout, ctl->asked);
    printf(" (live)\n");
}

/* ---- sluicectl platforms ---- */

static void s_platforms_json(const ctl_t *ctl, const ctl_reply_t *reply)
{
    const Sluice__Control__V1__PlatformsReply *p = reply->platforms;
    ctl_json_t j;
    ctl_json_init(&j, stdout);
    ctl_json_begin_object(&j);
    ctl_json_key(&j, "source");
    ctl_json_string(&j, "daemon");
    ctl_json_key(&j, "endpoint");
    ctl_json_string(&j, ctl->asked);
    ctl_json_key(&j, "platforms");
    ctl_json_begin_array(&j);
    for (size_t i = 0; i < p->n_platforms; i++) {
        const Sluice__Control__V1__Platform *r = p->platforms[i];
        ctl_json_begin_object(&j);
        ctl_json_key(&j, "name");
        ctl_json_string(&j, r->name);
        ctl_json_key(&j, "adapter");
        ctl_json_string(&j, r->adapter);
        ctl_json_key(&j, "link_up");
        ctl_json_bool(&j, r->link_up);
        ctl_json_key(&j, "breaker");
        ctl_json_string(&j, r->breaker);
        ctl_json_key(&j, "inflight");
        ctl_json_int(&j, (long long)r->inflight);
        ctl_json_key(&j, "max_inflight");
        ctl_json_int(&j, (long long)r->max_inflight);
        ctl_json_key(&j, "window_requests");
        ctl_json_int(&j, (long long)r->window_requests);
        ctl_json_key(&j, "window_failures");
        ctl_json_int(&j, (long long)r->window_failures);
        ctl_json_key(&j, "error_ratio");
        ctl_json_double(&j, r->error_ratio);
        ctl_json_key(&j, "quote_p99_ms");
        ctl_json_double(&j, r->quote_p99_ms);
        ctl_json_key(&j, "dispatch_p99_ms");
        ctl_json_double(&j, r->dispatch_p99_ms);
        ctl_json_key(&j, "quotes");
        ctl_json_int(&j, (long long)r->quotes);
        ctl_json_key(&j, "dispatches");
        ctl_json_int(&j, (long long)r->dispatches);
        ctl_json_key(&j, "refusals");
        ctl_json_int(&j, (long long)r->refusals);
        ctl_json_key(&j, "failures");
        ctl_json_int(&j, (long long)r->failures);
        ctl_json_end_object(&j);
    }
    ctl_json_end_array(&j);
    ctl_json_end_object(&j);
}

#define S_PLATFORM_COLS 9
static void s_platforms_text(const ctl_t *ctl, const ctl_reply_t *reply)
{
    const Sluice__Control__V1__PlatformsReply *p = reply->platforms;
    s_source_daemon_text(ctl);
    printf("platforms: %zu\n", p->n_platforms);
    if (p->n_platforms == 0)
        return;
    static const char *const head[S_PLATFORM_COLS] = {
        "PLATFORM", "ADAPTER", "LINK", "BREAKER", "IN FLIGHT", "ERRORS (WINDOW)",
        "QUOTE P99", "DISPATCH P99", "SENT/REFUSED/FAILED"};
    char *text = calloc(p->n_platforms * S_PLATFORM_COLS, 64);
    const char **cells = calloc(p->n_platforms * S_PLATFORM_COLS, sizeof *cells);
    if (text == NULL || cells == NULL) {
        free(text);
        free(cells);
        fprintf(stderr, "sluicectl: out of memory\n");
        return;
    }
    for (size_t i = 0; i < p->n_platforms; i++) {
        const Sluice__Control__V1__Platform *r = p->platforms[i];
        char *t = text + i * S_PLATFORM_COLS * 64;
        const char **c = cells + i * S_PLATFORM_COLS;
        c[0] = r->name;
        c[1] = r->adapter;
        c[2] = r->link_up ? "up" : "down";
        c[3] = r->breaker;
        snprintf(t + 4 * 64, 64, "%" PRIu64 " of %" PRIu64, r->inflight, r->max_inflight);
        c[4] = t + 4 * 64;
        c[5] = ctl_format_ratio(r->window_failures, r->window_requests, t + 5 * 64, 64);
        c[6] = ctl_format_bound(r->quote_p99_ms, t + 6 * 64, 64);
        c[7] = ctl_format_bound(r->dispatch_p99_ms, t + 7 * 64, 64);
        snprintf(t + 8 * 64, 64, "%" PRIu64 "/%" PRIu64 "/%" PRIu64, r->dispatches, r->refusals,
                 r->failures);
        c[8] = t + 8 * 64;
    }
    s_table(S_PLATFORM_COLS, head, p->n_platforms, cells);
    free(cells);
    free(text);
}

static int s_cmd_platforms(ctl_t *ctl, char **argv)
{
    (void)argv;
    Sluice__Control__V1__PlatformsRequest body = SLUICE__CONTROL__V1__PLATFORMS_REQUEST__INIT;
    ctl_request_t req = SLUICE__CONTROL__V1__REQUEST__INIT;
    req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_PLATFORMS;
    req.platforms = &body;
    return s_read_command(ctl, &req, SLUICE__CONTROL__V1__REPLY__BODY_PLATFORMS,
                          s_platforms_json, s_platforms_text);
}

/* ---- sluicectl stats ---- */

static void s_stats_json(const ctl_t *ctl, const ctl_reply_t *r)
{
    const Sluice__Control__V1__StatsReply *st = r->stats;
    ctl_json_t j;
    ctl_json_init(&j, stdout);
    ctl_json_begin_object(&j);
    ctl_json_key(&j, "source");
    ctl_json_string(&j, "daemon");
    ctl_json_key(&j, "endpoint");
    ctl_json_string(&j, ctl->asked);
    ctl_json_key(&j, "uptime_ms");
    ctl_json_int(&j, (long long)st->uptime_ms);
    ctl_json_key(&j, "intake");
    ctl_json_begin_object(&j);
    ctl_json_key(&j, "submitted");
    ctl_json_int(&j, (long long)st->submitted);
    ctl_json_key(&j, "per_second_10s");
    ctl_json_double(&j, st->submitted_per_second);
    ctl_json_key(&j, "per_second_mean");
    ctl_json_double(&j, st->submitted_per_second_mean);
    ctl_json_end_object(&j);
    ctl_json_key(&j, "decisions");
    ctl_json_begin_object(&j);
    ctl_json_key(&j, "ACCEPTED");
    ctl_json_int(&j, (long long)st->accepted);
    ctl_json_key(&j, "DUPLICATE");
    ctl_json_int(&j, (long long)st->duplicates);
    for (size_t i = 0; i < st->n_rejected; i++) {
        ctl_json_key(&j, st->rejected[i]->reason);
        ctl_json_int(&j, (long long)st->rejected[i]->count);
    }
    ctl_json_end_object(&j);
    ctl_json_key(&j, "queue_delay_ms");
    ctl_json_double(&j, st->queue_delay_ms);
    ctl_json_key(&j, "commit");
    ctl_json_begin_object(&j);
    ctl_json_key(&j, "p50_ms");
    ctl_json_double(&j, st->commit_p50_ms);
    ctl_json_key(&j, "p99_ms");
    ctl_json_double(&j, st->commit_p99_ms);
    ctl_json_key(&j, "mean_ms");
    ctl_json_double(&j, st->commit_mean_ms);
    ctl_json_key(&j, "batches");
    ctl_json_int(&j, (long long)st->batches);
    ctl_json_key(&j, "batch_size_mean");
    ctl_json_double(&j, st->batch_size_mean);
    ctl_json_end_object(&j);
    ctl_json_key(&j, "pending");
    ctl_json_int(&j, (long long)st->pending);
    ctl_json_key(&j, "database_up");
    ctl_json_bool(&j, st->database_up);
    ctl_json_key(&j, "reloads");
    ctl_json_int(&j, (long long)st->reloads);
    ctl_json_key(&j, "reloads_refused");
    ctl_json_int(&j, (long long)st->reloads_refused);
    ctl_json_end_object(&j);
}

static void s_stats_text(const ctl_t *ctl, const ctl_reply_t *r)
{
    const Sluice__Control__V1__StatsReply *st = r->stats;
    char a[64], b[64];
    s_source_daemon_text(ctl);
    s_field("up for", ctl_format_wait(st->uptime_ms, a, sizeof a));
    s_fieldf("intake", "%.1f orders/s over 10 s, %.1f/s since start, %" PRIu64 " in all",
             st->submitted_per_second, st->submitted_per_second_mean, st->submitted);
    s_fieldf("database", "%s, %" PRIu64 " orders waiting for their commit",
             st->database_up ? "up" : "DOWN", st->pending);
    s_fieldf("queue delay", "%.1f ms (last batch's oldest order)", st->queue_delay_ms);
    s_fieldf("commit latency", "p50 %s, p99 %s, mean %.2f ms",
             ctl_format_bound(st->commit_p50_ms, a, sizeof a),
             ctl_format_bound(st->commit_p99_ms, b, sizeof b), st->commit_mean_ms);
    s_fieldf("batches", "%" PRIu64 ", %.1f orders each on average", st->batches,
             st->batch_size_mean);
    s_fieldf("reloads", "%" PRIu64 " applied, %" PRIu64 " refused", st->reloads,
             st->reloads_refused);
    printf("decisions since start:\n");
    s_fieldf("  ACCEPTED", "%" PRIu64, st->accepted);
    s_fieldf("  DUPLICATE", "%" PRIu64 " (repeats answered with the first decision)",
             st->duplicates);
    for (size_t i = 0; i < st->n_rejected; i++) {
        char label[64];
        snprintf(label, sizeof label, "  %s", st->rejected[i]->reason);
        s_fieldf(label, "%" PRIu64, st->rejected[i]->count);
    }
}

static int s_cmd_stats(ctl_t *ctl, char **argv)
{
    (void)argv;
    Sluice__Control__V1__StatsRequest body = SLUICE__CONTROL__V1__STATS_REQUEST__INIT;
    ctl_request_t req = SLUICE__CONTROL__V1__REQUEST__INIT;
    req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_STATS;
    req.stats = &body;
    return s_read_command(ctl, &req, SLUICE__CONTROL__V1__REPLY__BODY_STATS, s_stats_json,
                          s_stats_text);
}

/* ---- sluicectl pause / resume / reload ---- */

static bool s_parse_store_id(const char *arg, uint32_t *id)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (arg[0] < '0' || arg[0] > '9' || *end != '\0' || errno != 0 || v < 1 || v > UINT32_MAX) {
        fprintf(stderr, "sluicectl: \"%s\" is not a store id (1..4294967295)\n", arg);
        return false;
    }
    *id = (uint32_t)v;
    return true;
}

/* s_who: "sluicectl USER", kept with the override (store_overrides.set_by). */
static void s_who(char *out, size_t len)
{
    const struct passwd *pw = getpwuid(getuid());
    snprintf(out, len, "sluicectl %.40s", pw != NULL ? pw->pw_name : "unknown");
}

static int s_pause_or_resume(ctl_t *ctl, char **argv, bool pause)
{
    uint32_t id;
    if (!s_parse_store_id(argv[0], &id))
        return CTL_EXIT_USAGE;
    char by[CONTROL_BY_MAX + 1];
    s_who(by, sizeof by);
    Sluice__Control__V1__PauseRequest p = SLUICE__CONTROL__V1__PAUSE_REQUEST__INIT;
    Sluice__Control__V1__ResumeRequest r = SLUICE__CONTROL__V1__RESUME_REQUEST__INIT;
    ctl_request_t req = SLUICE__CONTROL__V1__REQUEST__INIT;
    if (pause) {
        p.store_id = id;
        p.by = by;
        req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_PAUSE;
        req.pause = &p;
    } else {
        r.store_id = id;
        r.by = by;
        req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_RESUME;
        req.resume = &r;
    }
    ctl_reply_t *reply = NULL;
    int rc = s_call(ctl, &req, false, SLUICE__CONTROL__V1__REPLY__BODY_PAUSE, &reply);
    if (rc != CTL_EXIT_OK)
        return rc;
    s_put(stdout, reply->pause->message);
    fputc('\n', stdout);
    sluice__control__v1__reply__free_unpacked(reply, NULL);
    return CTL_EXIT_OK;
}

static int s_cmd_pause(ctl_t *ctl, char **argv)
{
    return s_pause_or_resume(ctl, argv, true);
}

static int s_cmd_resume(ctl_t *ctl, char **argv)
{
    return s_pause_or_resume(ctl, argv, false);
}

static int s_cmd_reload(ctl_t *ctl, char **argv)
{
    (void)argv;
    Sluice__Control__V1__ReloadRequest body = SLUICE__CONTROL__V1__RELOAD_REQUEST__INIT;
    ctl_request_t req = SLUICE__CONTROL__V1__REQUEST__INIT;
    req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_RELOAD;
    req.reload = &body;
    ctl_reply_t *r = NULL;
    int rc = s_call(ctl, &req, false, SLUICE__CONTROL__V1__REPLY__BODY_RELOAD, &r);
    if (rc != CTL_EXIT_OK)
        return rc;
    s_put_lines(stdout, r->reload->message);
    fputc('\n', stdout);
    sluice__control__v1__reply__free_unpacked(r, NULL);
    return CTL_EXIT_OK;
}

/* ---- sluicectl order ID ---- */

/* Where an order's answer came from: the daemon's connection (ENDPOINT
 * answered), or PostgreSQL directly (WHY the daemon was not used). */
typedef struct order_source {
    const char *endpoint;
    const char *why;
} order_source_t;

static void s_order_json(const support_query_order_t *o, const order_source_t *src)
{
    ctl_json_t j;
    ctl_json_init(&j, stdout);
    ctl_json_begin_object(&j);
    ctl_json_key(&j, "source");
    ctl_json_string(&j, src->endpoint ? "daemon" : S_SOURCE_JSON);
    ctl_json_key(&j, src->endpoint ? "endpoint" : "daemon_error");
    ctl_json_string(&j, src->endpoint ? src->endpoint : src->why);
    ctl_json_key(&j, "timezone");
    ctl_json_string(&j, o->timezone);
    const support_query_order_row_t *r = &o->row;
    ctl_json_key(&j, "order");
    ctl_json_begin_object(&j);
    ctl_json_key(&j, "order_id");
    ctl_json_string(&j, r->order_id);
    ctl_json_key(&j, "store_id");
    ctl_json_raw(&j, r->store_id);
    ctl_json_key(&j, "state");
    ctl_json_string(&j, r->state);
    ctl_json_key(&j, "items");
    ctl_json_raw(&j, r->items_json);
    ctl_json_key(&j, "voucher_id");
    ctl_json_string(&j, r->voucher_id);
    ctl_json_key(&j, "customer_ref");
    ctl_json_string(&j, r->customer_ref);
    ctl_json_key(&j, "accepted_at");
    ctl_json_string(&j, r->accepted_at);
    ctl_json_key(&j, "promised_ready_at");
    ctl_json_string(&j, r->promised_ready_at);
    ctl_json_key(&j, "promised_delivery_at");
    ctl_json_string(&j, r->promised_delivery_at);
    ctl_json_key(&j, "prep_slot");
    ctl_json_raw(&j, r->prep_slot);
    ctl_json_key(&j, "prep_start_at");
    ctl_json_string(&j, r->prep_start_at);
    ctl_json_key(&j, "updated_at");
    ctl_json_string(&j, r->updated_at);
    ctl_json_key(&j, "refund_due");
    ctl_json_bool(&j, r->refund_due);
    ctl_json_end_object(&j);

    ctl_json_key(&j, "dispatches");
    ctl_json_begin_array(&j);
    for (size_t i = 0; i < o->dispatch_count; i++) {
        const support_query_dispatch_t *d = &o->dispatches[i];
        ctl_json_begin_object(&j);
        ctl_json_key(&j, "attempt");
        ctl_json_raw(&j, d->attempt);
        ctl_json_key(&j, "platform");
        ctl_json_string(&j, d->platform);
        ctl_json_key(&j, "dispatch_key");
        ctl_json_string(&j, d->dispatch_key);
        ctl_json_key(&j, "state");
        ctl_json_string(&j, d->state);
        ctl_json_key(&j, "rider_ref");
        ctl_json_string(&j, d->rider_ref);
        ctl_json_key(&j, "fee_cents");
        ctl_json_raw(&j, d->fee_cents);
        ctl_json_key(&j, "pickup_at");
        ctl_json_string(&j, d->pickup_at);
        ctl_json_key(&j, "created_at");
        ctl_json_string(&j, d->created_at);
        ctl_json_key(&j, "updated_at");
        ctl_json_string(&j, d->updated_at);
        ctl_json_end_object(&j);
    }
    ctl_json_end_array(&j);

    ctl_json_key(&j, "timeline");
    ctl_json_begin_array(&j);
    for (size_t i = 0; i < o->event_count; i++) {
        const support_query_event_t *e = &o->events[i];
        ctl_json_begin_object(&j);
        ctl_json_key(&j, "event_id");
        ctl_json_raw(&j, e->event_id);
        ctl_json_key(&j, "at");
        ctl_json_string(&j, e->at);
        ctl_json_key(&j, "state");
        ctl_json_string(&j, e->state);
        ctl_json_key(&j, "detail");
        ctl_json_string(&j, e->detail);
        ctl_json_end_object(&j);
    }
    ctl_json_end_array(&j);
    ctl_json_end_object(&j);
}

static void s_order_text(const support_query_order_t *o, const char *store_name,
                         const order_source_t *src)
{
    const support_query_order_row_t *r = &o->row;
    if (src->endpoint) {
        printf("source: daemon at ");
        s_put(stdout, src->endpoint);
        printf(" (its PostgreSQL connection); times in %s\n", o->timezone);
    } else {
        printf("source: PostgreSQL (%s); times in %s\n", src->why, o->timezone);
    }
    s_field("order", r->order_id);
    if (store_name != NULL && store_name[0])
        s_fieldf("store", "%s (%s)", r->store_id, store_name);
    else
        s_field("store", r->store_id);
    s_field("state", r->state);
    s_field("items", r->items_text);
    if (r->voucher_id != NULL)
        s_field("voucher", r->voucher_id);
    if (r->customer_ref != NULL)
        s_field("customer", r->customer_ref);
    s_field("accepted", r->accepted_at);
    s_field("promised ready", r->promised_ready_at);
    s_field("promised delivery", r->promised_delivery_at);
    if (r->prep_slot != NULL)
        s_fieldf("prep", "slot %s from %s", r->prep_slot,
                 r->prep_start_at ? r->prep_start_at : "-");
    s_field("updated", r->updated_at);
    s_field("refund due", r->refund_due ? "yes" : "no");

    printf("\ndispatch attempts: %zu\n", o->dispatch_count);
    if (o->dispatch_count > 0) {
        static const char *const head[] = { "ATTEMPT", "PLATFORM", "KEY", "STATE", "RIDER",
                                            "FEE_CENTS", "PICKUP_AT", "CREATED", "UPDATED" };
        const char **cells = calloc(o->dispatch_count * 9, sizeof *cells);
        if (cells != NULL) {
            for (size_t i = 0; i < o->dispatch_count; i++) {
                const support_query_dispatch_t *d = &o->dispatches[i];
                const char *row[9] = { d->attempt,   d->platform,  d->dispatch_key,
                                       d->state,     d->rider_ref, d->fee_cents,
                                       d->pickup_at, d->created_at, d->updated_at };
                memcpy(cells + i * 9, row, sizeof row);
            }
            s_table(9, head, o->dispatch_count, cells);
            free(cells);
        }
    }

    printf("\ntimeline: %zu event%s\n", o->event_count, o->event_count == 1 ? "" : "s");
    if (o->event_count > 0) {
        static const char *const head[] = { "TIME", "STATE", "DETAIL" };
        const char **cells = calloc(o->event_count * 3, sizeof *cells);
        if (cells != NULL) {
            for (size_t i = 0; i < o->event_count; i++) {
                cells[i * 3] = o->events[i].at;
                cells[i * 3 + 1] = o->events[i].state;
                cells[i * 3 + 2] = o->events[i].detail ? o->events[i].detail : "";
            }
            s_table(3, head, o->event_count, cells);
            free(cells);
        }
    }
}

/* s_nullable: "" on the wire is NULL (proto/control.proto OrderReply). */
static const char *s_nullable(const char *v)
{
    return v != NULL && v[0] ? v : NULL;
}

/* s_order_of_reply points O's fields into the daemon's answer R; false when
 * out of memory. Clear O with support_query_order_clear (it owns no result). */
static bool s_order_of_reply(const Sluice__Control__V1__OrderReply *r, support_query_order_t *o)
{
    memset(o, 0, sizeof *o);
    const Sluice__Control__V1__OrderRow *w = r->order;
    o->timezone = r->timezone;
    o->row = (support_query_order_row_t){
        .order_id = s_nullable(w->order_id), .store_id = s_nullable(w->store_id),
        .state = s_nullable(w->state), .items_json = s_nullable(w->items_json),
        .items_text = s_nullable(w->items_text), .voucher_id = s_nullable(w->voucher_id),
        .customer_ref = s_nullable(w->customer_ref), .accepted_at = s_nullable(w->accepted_at),
        .promised_ready_at = s_nullable(w->promised_ready_at),
        .promised_delivery_at = s_nullable(w->promised_delivery_at),
        .updated_at = s_nullable(w->updated_at), .refund_due = w->refund_due,
        .prep_slot = s_nullable(w->prep_slot), .prep_start_at = s_nullable(w->prep_start_at),
    };
    o->dispatch_count = r->n_dispatches;
    o->event_count = r->n_events;
    o->dispatches = calloc(o->dispatch_count + 1, sizeof *o->dispatches);
    o->events = calloc(o->event_count + 1, sizeof *o->events);
    if (o->dispatches == NULL || o->events == NULL)
        return false;
    for (size_t i = 0; i < o->dispatch_count; i++) {
        const Sluice__Control__V1__DispatchAttempt *d = r->dispatches[i];
        o->dispatches[i] = (support_query_dispatch_t){
            .attempt = s_nullable(d->attempt), .platform = s_nullable(d->platform),
            .dispatch_key = s_nullable(d->dispatch_key), .state = s_nullable(d->state),
            .rider_ref = s_nullable(d->rider_ref), .fee_cents = s_nullable(d->fee_cents),
            .pickup_at = s_nullable(d->pickup_at), .created_at = s_nullable(d->created_at),
            .updated_at = s_nullable(d->updated_at),
        };
    }
    for (size_t i = 0; i < o->event_count; i++) {
        const Sluice__Control__V1__OrderEvent *e = r->events[i];
        o->events[i] = (support_query_event_t){ .event_id = s_nullable(e->event_id),
                                         .at = s_nullable(e->at), .state = s_nullable(e->state),
                                         .detail = s_nullable(e->detail) };
    }
    return true;
}

/* s_order_from_daemon asks the daemon, whose connection to PostgreSQL is
 * already open (a new one costs more than the whole lookup), and prints its
 * answer. Returns the exit code, or -1 with WHY (LEN bytes) saying why
 * PostgreSQL must be asked directly: no daemon, or one that could not
 * answer this (its database down, an older version). */
static int s_order_from_daemon(ctl_t *ctl, const char *id, char *why, size_t len)
{
    if (ctl->database != NULL || !s_can_ask(ctl)) {
        snprintf(why, len, "daemon not asked: %s",
                 ctl->database != NULL ? "--database given" : "config not read");
        return -1;
    }
    Sluice__Control__V1__OrderRequest body = SLUICE__CONTROL__V1__ORDER_REQUEST__INIT;
    body.order_id = (char *)id;
    body.iso_times = ctl->json;
    ctl_request_t req = SLUICE__CONTROL__V1__REQUEST__INIT;
    req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_ORDER;
    req.order = &body;
    ctl_reply_t *reply = NULL;
    char ask_why[512];
    ctl_control_status_t st = s_ask(ctl, &req, true, &reply, ask_why, sizeof ask_why);
    if (st != CTL_CONTROL_OK) {
        snprintf(why, len, "daemon not reachable at %.200s: %.300s", ctl->asked, ask_why);
        return -1;
    }
    int rc = -1;
    const Sluice__Control__V1__Error *err =
        reply->body_case == SLUICE__CONTROL__V1__REPLY__BODY_ERROR ? reply->error : NULL;
    if (reply->body_case == SLUICE__CONTROL__V1__REPLY__BODY_ORDER && reply->order->order) {
        support_query_order_t o;
        order_source_t src = { .endpoint = ctl->asked };
        if (!s_order_of_reply(reply->order, &o)) {
            fprintf(stderr, "sluicectl: out of memory\n");
            rc = CTL_EXIT_FAILED;
        } else if (ctl->json) {
            s_order_json(&o, &src);
            rc = CTL_EXIT_OK;
        } else {
            s_order_text(&o, reply->order->store_name, &src);
            rc = CTL_EXIT_OK;
        }
        support_query_order_clear(&o);
    } else if (err != NULL && err->code == SLUICE__CONTROL__V1__ERROR__CODE__NOT_FOUND) {
        fprintf(stderr, "sluicectl: no order %s in PostgreSQL (asked the daemon at %s)\n", id,
                ctl->asked);
        rc = CTL_EXIT_NOT_FOUND;
    } else {
        snprintf(why, len, "the daemon at %.200s says %s: %.300s", ctl->asked,
                 err ? control_code_name(err->code) : "something unexpected",
                 err ? err->message : "");
    }
    sluice__control__v1__reply__free_unpacked(reply, NULL);
    return rc;
}

static int s_cmd_order(ctl_t *ctl, char **argv)
{
    const char *id = argv[0];
    if (!order_id_valid(id)) {
        fprintf(stderr, "sluicectl: \"%s\" is not an order id (1..64 of A-Z a-z 0-9 . _ : -)\n",
                id);
        return CTL_EXIT_USAGE;
    }
    char why[600];
    int rc = s_order_from_daemon(ctl, id, why, sizeof why);
    if (rc >= 0)
        return rc;
    if (ctl->database == NULL && ctl->cfg == NULL) {
        fprintf(stderr, "sluicectl: %s; no database to read instead (-c CONFIG or --database "
                        "CONNINFO)\n", why);
        return CTL_EXIT_DAEMON_UNREACHABLE;
    }
    if ((rc = s_connect(ctl)) != CTL_EXIT_OK)
        return rc;
    support_query_order_t o;
    support_query_times_t times = ctl->json ? SUPPORT_QUERY_TIMES_ISO : SUPPORT_QUERY_TIMES_TEXT;
    support_query_status_t st = support_query_order_read(ctl->db, id, times, s_zone_of, ctl, &o);
    if (st == SUPPORT_QUERY_OK) {
        order_source_t src = { .why = why };
        if (ctl->json) {
            s_order_json(&o, &src);
        } else {
            const config_store_t *cs =
                s_find_store(ctl->cfg, (uint32_t)strtoul(o.row.store_id, NULL, 10));
            s_order_text(&o, cs != NULL ? cs->name : NULL, &src);
        }
    } else if (st == SUPPORT_QUERY_NOT_FOUND) {
        fprintf(stderr, "sluicectl: no order %s in PostgreSQL (%s)\n", id,
                support_query_target(ctl->db));
        rc = CTL_EXIT_NOT_FOUND;
    } else {
        rc = s_db_failure(ctl, st);
    }
    support_query_order_clear(&o);
    return rc;
}

/* ---- sluicectl store ID ---- */

/* What the config says of a store now, in its own time zone. */
typedef struct store_now {
    bool open;
    int slots;
    char hours[40];
} store_now_t;

static store_now_t s_store_now(const config_store_t *s)
{
    store_now_t n = { 0 };
    int minute = tz_minute_of_day(s->timezone, clock_wall_ms());
    /* as admit.c decides: close before open means open past midnight */
    if (s->open_minute <= s->close_minute)
        n.open = minute >= s->open_minute && minute < s->close_minute;
    else
        n.open = minute >= s->open_minute || minute < s->close_minute;
    n.slots = kitchen_slots_at(s, minute);
    char a[16], b[16];
    snprintf(n.hours, sizeof n.hours, "%s-%s", s_clock(s->open_minute, a, sizeof a),
             s_clock(s->close_minute, b, sizeof b));
    return n;
}

static const char *s_brand_of(const config_t *cfg, const config_store_t *s)
{
    return s->brand >= 0 && (size_t)s->brand < cfg->brand_count ? cfg->brands[s->brand].name : NULL;
}

static const char s_rejected_note[] =
    "not stored in PostgreSQL: only the running daemon counts rejections";
static const char s_rejected_daemon_note[] =
    "counted in memory by the running daemon since rejected_since (store's local time); "
    "not stored in PostgreSQL, so a restart counts from zero";

static void s_store_config_json(const ctl_t *ctl, ctl_json_t *j, const config_store_t *s)
{
    ctl_json_begin_object(j);
    ctl_json_key(j, "file");
    ctl_json_string(j, ctl->config_path);
    ctl_json_key(j, "read");
    ctl_json_bool(j, ctl->cfg != NULL);
    if (ctl->cfg == NULL) {
        ctl_json_key(j, "error");
        ctl_json_string(j, ctl->config_errors);
        ctl_json_end_object(j);
        return;
    }
    ctl_json_key(j, "found");
    ctl_json_bool(j, s != NULL);
    if (s != NULL) {
        store_now_t now = s_store_now(s);
        char a[16], b[16];
        ctl_json_key(j, "name");
        ctl_json_string(j, s->name);
        ctl_json_key(j, "brand");
        ctl_json_string(j, s_brand_of(ctl->cfg, s));
        ctl_json_key(j, "timezone");
        ctl_json_string(j, s->timezone);
        ctl_json_key(j, "hours");
        ctl_json_string(j, now.hours);
        ctl_json_key(j, "open_now");
        ctl_json_bool(j, now.open);
        ctl_json_key(j, "paused");
        ctl_json_bool(j, s->paused);
        ctl_json_key(j, "prep_slots");
        ctl_json_int(j, s->prep_slots);
        ctl_json_key(j, "prep_slots_now");
        ctl_json_int(j, now.slots);
        ctl_json_key(j, "staffing");
        ctl_json_begin_array(j);
        for (int i = 0; i < s->staffing_count; i++) {
            ctl_json_begin_object(j);
            ctl_json_key(j, "from");
            ctl_json_string(j, s_clock(s->staffing[i].from_minute, a, sizeof a));
            ctl_json_key(j, "to");
            ctl_json_string(j, s_clock(s->staffing[i].to_minute, b, sizeof b));
            ctl_json_key(j, "prep_slots");
            ctl_json_int(j, s->staffing[i].prep_slots);
            ctl_json_end_object(j);
        }
        ctl_json_end_array(j);
        ctl_json_key(j, "item_seconds");
        ctl_json_int(j, s->item_seconds);
        ctl_json_key(j, "order_seconds");
        ctl_json_int(j, s->order_seconds);
        ctl_json_key(j, "max_wait_minutes");
        ctl_json_int(j, s->max_wait_minutes);
        ctl_json_key(j, "max_queue");
        ctl_json_int(j, s->max_queue);
        ctl_json_key(j, "platforms");
        ctl_json_begin_array(j);
        for (int i = 0; i < s->platform_count; i++)
            ctl_json_string(j, ctl->cfg->platforms[s->platforms[i]].name);
        ctl_json_end_array(j);
    }
    ctl_json_end_object(j);
}

/* What the daemon said of a store, or why it said nothing. */
typedef struct store_live {
    const Sluice__Control__V1__StoreReply *reply;  /* NULL: see why */
    char why[600];
    bool day_by_daemon;       /* the PostgreSQL half came through the daemon's connection */
} store_live_t;

/* s_daemon_counts_today: does the daemon's answer R hold rejection counts
 * for the day DATE ("YYYY-MM-DD" in the store's zone; NULL: any day)? Not
 * when it does not serve the store, nor across a midnight between the two
 * reads. */
static bool s_daemon_counts_today(const Sluice__Control__V1__StoreReply *r, const char *date)
{
    return r != NULL && r->configured && r->today_date != NULL && r->today_date[0] &&
           (date == NULL || strcmp(r->today_date, date) == 0);
}

static uint64_t s_rejected_total(const Sluice__Control__V1__StoreReply *r)
{
    uint64_t total = 0;
    for (size_t i = 0; i < r->n_rejected_today; i++)
        total += r->rejected_today[i]->count;
    return total;
}

/* s_since_text: "midnight" or "09:12:40 local", for people. */
static const char *s_since_text(const Sluice__Control__V1__StoreReply *r, char *out, size_t len)
{
    if (r->today_since_midnight)
        snprintf(out, len, "midnight");
    else
        snprintf(out, len, "%s local", r->today_since);
    return out;
}

/* s_rejected_json writes the daemon's rejections of R by reason as one
 * object {"STORE_BUSY":4,...}. */
static void s_rejected_json(ctl_json_t *j, const Sluice__Control__V1__StoreReply *r)
{
    ctl_json_begin_object(j);
    for (size_t i = 0; i < r->n_rejected_today; i++) {
        ctl_json_key(j, r->rejected_today[i]->reason);
        ctl_json_int(j, (long long)r->rejected_today[i]->count);
    }
    ctl_json_end_object(j);
}

/* s_rejected_text prints the daemon's rejections today by reason, under
 * the line of today's counts; the PostgreSQL note when it has none for
 * DATE (NULL: any day). */
static void s_rejected_text(const store_live_t *live, const char *date)
{
    const Sluice__Control__V1__StoreReply *r = live->reply;
    if (!s_daemon_counts_today(r, date)) {
        if (s_daemon_counts_today(r, NULL))
            s_fieldf("  rejected", "%s (the daemon counts %s: midnight passed between the reads)",
                     s_rejected_note, r->today_date);
        else
            s_field("  rejected", s_rejected_note);
        return;
    }
    char since[64];
    s_fieldf("  rejected",
             "%" PRIu64 " since %s (counted in memory by the running daemon, which accepted %" PRIu64
             " in that time)",
             s_rejected_total(r), s_since_text(r, since, sizeof since), r->accepted_today);
    for (size_t i = 0; i < r->n_rejected_today; i++) {
        char label[48];
        snprintf(label, sizeof label, "    %s", r->rejected_today[i]->reason);
        s_fieldf(label, "%" PRIu64, r->rejected_today[i]->count);
    }
}

static void s_store_live_json(const ctl_t *ctl, ctl_json_t *j, const store_live_t *live)
{
    const Sluice__Control__V1__StoreReply *r = live->reply;
    ctl_json_key(j, "daemon");
    if (r == NULL) {
        ctl_json_null(j);
        ctl_json_key(j, "daemon_error");
        ctl_json_string(j, live->why);
        return;
    }
    ctl_json_begin_object(j);
    ctl_json_key(j, "endpoint");
    ctl_json_string(j, ctl->asked);
    ctl_json_key(j, "configured");
    ctl_json_bool(j, r->configured);
    ctl_json_key(j, "open_now");
    ctl_json_bool(j, r->open_now);
    ctl_json_key(j, "paused");
    ctl_json_bool(j, r->paused);
    ctl_json_key(j, "config_paused");
    ctl_json_bool(j, r->config_paused);
    ctl_json_key(j, "override");
    if (r->override_set) {
        ctl_json_begin_object(j);
        ctl_json_key(j, "paused");
        ctl_json_bool(j, r->override_paused);
        ctl_json_key(j, "by");
        ctl_json_string(j, r->override_by);
        ctl_json_end_object(j);
    } else {
        ctl_json_null(j);
    }
    ctl_json_key(j, "prep_slots_now");
    ctl_json_int(j, r->prep_slots_now);
    ctl_json_key(j, "queue_length");
    ctl_json_int(j, r->queue_length);
    ctl_json_key(j, "promised_wait_ms");
    if (r->promise_possible)
        ctl_json_int(j, (long long)r->promised_wait_ms);
    else
        ctl_json_null(j);
    ctl_json_key(j, "max_wait_minutes");
    ctl_json_int(j, r->max_wait_minutes);
    ctl_json_key(j, "max_queue");
    ctl_json_int(j, r->max_queue);
    ctl_json_key(j, "today");
    if (s_daemon_counts_today(r, NULL)) {
        ctl_json_begin_object(j);
        ctl_json_key(j, "date");
        ctl_json_string(j, r->today_date);
        ctl_json_key(j, "timezone");
        ctl_json_string(j, r->timezone);
        ctl_json_key(j, "since");
        ctl_json_string(j, r->today_since);
        ctl_json_key(j, "since_midnight");
        ctl_json_bool(j, r->today_since_midnight);
        ctl_json_key(j, "accepted");
        ctl_json_int(j, (long long)r->accepted_today);
        ctl_json_key(j, "rejected");
        s_rejected_json(j, r);
        ctl_json_end_object(j);
    } else {
        ctl_json_null(j);
    }
    ctl_json_end_object(j);
}

static void s_store_live_text(const ctl_t *ctl, const store_live_t *live)
{
    const Sluice__Control__V1__StoreReply *r = live->reply;
    if (r == NULL) {
        s_fieldf("daemon", "not asked or no answer: %s", live->why);
        return;
    }
    s_fieldf("daemon", "%s (live, what admission decides now)", ctl->asked);
    if (!r->configured) {
        s_field("  configured", "no: not in the running configuration");
    } else {
        s_field("  open", r->open_now ? "yes" : "no");
    }
    char override[160] = "";
    if (r->override_set)
        snprintf(override, sizeof override, "; sluicectl override: %s%s%s",
                 r->override_paused ? "paused" : "resumed", r->override_by[0] ? " by " : "",
                 r->override_by);
    s_fieldf("  paused now", "%s (config says %s%s)", r->paused ? "yes" : "no",
             r->config_paused ? "yes" : "no", override);
    if (!r->configured)
        return;
    s_fieldf("  slots now", "%" PRIu32, r->prep_slots_now);
    s_fieldf("  queue", "%" PRIu32 " orders waiting to start (max_queue %" PRIu32 ")",
             r->queue_length, r->max_queue);
    char wait[64];
    if (r->promise_possible)
        s_fieldf("  wait now", "%s for a one-drink order (max %" PRIu32 " min)",
                 ctl_format_wait(r->promised_wait_ms, wait, sizeof wait), r->max_wait_minutes);
    else
        s_field("  wait now", "none: no prep slot is staffed");
}

static void s_store_json(const ctl_t *ctl, uint32_t id, const config_store_t *s,
                         const support_query_store_t *d, const store_live_t *live)
{
    ctl_json_t j;
    ctl_json_init(&j, stdout);
    ctl_json_begin_object(&j);
    ctl_json_key(&j, "source");
    ctl_json_string(&j, live->reply != NULL ? "daemon+postgresql" : S_SOURCE_JSON);
    ctl_json_key(&j, "store_id");
    ctl_json_int(&j, id);
    ctl_json_key(&j, "timezone");
    ctl_json_string(&j, d->timezone);
    ctl_json_key(&j, "now");
    ctl_json_string(&j, d->now);
    ctl_json_key(&j, "config");
    s_store_config_json(ctl, &j, s);
    ctl_json_key(&j, "live");
    ctl_json_begin_object(&j);
    ctl_json_key(&j, "total");
    ctl_json_int(&j, d->live_total);
    ctl_json_key(&j, "by_state");
    ctl_json_begin_object(&j);
    for (size_t i = 0; i < d->live_states; i++) {
        ctl_json_key(&j, d->live[i].state);
        ctl_json_int(&j, d->live[i].count);
    }
    ctl_json_end_object(&j);
    ctl_json_end_object(&j);
    ctl_json_key(&j, "promised_wait_seconds");
    ctl_json_int(&j, d->wait_seconds);
    ctl_json_key(&j, "latest_promised_ready_at");
    ctl_json_string(&j, d->latest_ready);
    ctl_json_key(&j, "today");
    ctl_json_begin_object(&j);
    ctl_json_key(&j, "date");
    ctl_json_string(&j, d->today);
    ctl_json_key(&j, "since");
    ctl_json_string(&j, d->day_start);
    ctl_json_key(&j, "accepted");
    ctl_json_int(&j, d->accepted_today);
    ctl_json_key(&j, "delivered");
    ctl_json_int(&j, d->delivered_today);
    ctl_json_key(&j, "cancelled");
    ctl_json_int(&j, d->cancelled_today);
    ctl_json_key(&j, "failed");
    ctl_json_int(&j, d->failed_today);
    ctl_json_key(&j, "live");
    ctl_json_int(&j, d->live_today);
    const Sluice__Control__V1__StoreReply *r = live->reply;
    bool counted = s_daemon_counts_today(r, d->today);
    ctl_json_key(&j, "rejected");
    if (counted)
        s_rejected_json(&j, r);
    else
        ctl_json_null(&j);
    ctl_json_key(&j, "rejected_total");
    if (counted)
        ctl_json_int(&j, (long long)s_rejected_total(r));
    else
        ctl_json_null(&j);
    ctl_json_key(&j, "rejected_since");
    ctl_json_string(&j, counted ? r->today_since : NULL);
    ctl_json_key(&j, "rejected_since_midnight");
    ctl_json_bool(&j, counted && r->today_since_midnight);
    ctl_json_key(&j, "rejected_note");
    ctl_json_string(&j, counted ? s_rejected_daemon_note : s_rejected_note);
    ctl_json_end_object(&j);
    ctl_json_key(&j, "last_accepted_at");
    ctl_json_string(&j, d->last_accepted);
    s_store_live_json(ctl, &j, live);
    ctl_json_end_object(&j);
}

static void s_store_config_text(const ctl_t *ctl, uint32_t id, const config_store_t *s)
{
    if (ctl->cfg == NULL) {
        s_fieldf("config", "not read (%s)", ctl->config_errors);
        return;
    }
    if (s == NULL) {
        s_fieldf("config", "store %" PRIu32 " is not in %s (removed, or another node's)", id,
                 ctl->config_path);
        return;
    }
    store_now_t now = s_store_now(s);
    char a[16], b[16];
    s_fieldf("config", "%s (as the file says now; a running daemon may still run an older one)",
             ctl->config_path);
    s_fieldf("  open now", "%s (hours %s, %s)", now.open ? "yes" : "no", now.hours, s->timezone);
    s_field("  paused", s->paused ? "yes" : "no");
    char staffing[256] = "";
    size_t at = 0;
    for (int i = 0; i < s->staffing_count && at < sizeof staffing; i++)
        at += (size_t)snprintf(staffing + at, sizeof staffing - at, "; %d from %s to %s",
                               s->staffing[i].prep_slots,
                               s_clock(s->staffing[i].from_minute, a, sizeof a),
                               s_clock(s->staffing[i].to_minute, b, sizeof b));
    s_fieldf("  prep slots", "%d now (%d%s)", now.slots, s->prep_slots, staffing);
    s_fieldf("  prep time", "%d s an order + %d s an item", s->order_seconds, s->item_seconds);
    s_fieldf("  max wait", "%d min", s->max_wait_minutes);
    s_fieldf("  max queue", "%d", s->max_queue);
    char platforms[256] = "";
    at = 0;
    for (int i = 0; i < s->platform_count && at < sizeof platforms; i++)
        at += (size_t)snprintf(platforms + at, sizeof platforms - at, "%s%s", i ? ", " : "",
                               ctl->cfg->platforms[s->platforms[i]].name);
    s_field("  platforms", s->platform_count > 0 ? platforms : "(none)");
}

static void s_store_text(const ctl_t *ctl, uint32_t id, const config_store_t *s,
                         const support_query_store_t *d, const store_live_t *live)
{
    if (live->reply != NULL) {
        printf("source: daemon at ");
        s_put(stdout, ctl->asked);
        printf(" (live) and PostgreSQL%s; times in %s\n",
               live->day_by_daemon ? " (its connection)" : "", d->timezone);
    } else {
        printf("source: PostgreSQL (%s); times in %s\n", live->why, d->timezone);
    }
    const char *brand = s != NULL ? s_brand_of(ctl->cfg, s) : NULL;
    if (s != NULL && s->name != NULL && s->name[0])
        s_fieldf("store", "%" PRIu32 " (%s)%s%s", id, s->name, brand ? ", brand " : "",
                 brand ? brand : "");
    else
        s_fieldf("store", "%" PRIu32 "%s%s", id, brand ? ", brand " : "", brand ? brand : "");
    s_field("now", d->now);
    s_store_config_text(ctl, id, s);
    s_store_live_text(ctl, live);
    s_fieldf("live orders", "%ld", d->live_total);
    for (size_t i = 0; i < d->live_states; i++) {
        char label[40];
        snprintf(label, sizeof label, "  %s", d->live[i].state);
        s_fieldf(label, "%ld", d->live[i].count);
    }
    if (d->latest_ready != NULL)
        s_fieldf("promised wait now", "%ld min %02ld s (latest promised ready %s)",
                 d->wait_seconds / 60, d->wait_seconds % 60, d->latest_ready);
    else
        s_field("promised wait now", "0 (no live orders)");
    printf("today %s, since %s: orders accepted today, by their state now\n", d->today,
           d->day_start);
    s_fieldf("  accepted", "%ld", d->accepted_today);
    s_fieldf("  delivered", "%ld", d->delivered_today);
    s_fieldf("  cancelled", "%ld", d->cancelled_today);
    s_fieldf("  failed", "%ld", d->failed_today);
    s_fieldf("  still live", "%ld", d->live_today);
    s_rejected_text(live, d->today);
    s_field("last order accepted", d->last_accepted ? d->last_accepted : "never");
}

/* s_store_ask asks the daemon for store ID's live view into LIVE; *REPLY
 * holds it (the caller frees it). A daemon that does not answer is no
 * failure: PostgreSQL answers alone, and says why. */
static void s_store_ask(ctl_t *ctl, uint32_t id, store_live_t *live, ctl_reply_t **reply)
{
    *reply = NULL;
    if (!s_can_ask(ctl)) {
        snprintf(live->why, sizeof live->why, "daemon not asked: config not read");
        return;
    }
    Sluice__Control__V1__StoreRequest body = SLUICE__CONTROL__V1__STORE_REQUEST__INIT;
    body.store_id = id;
    ctl_request_t req = SLUICE__CONTROL__V1__REQUEST__INIT;
    req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_STORE;
    req.store = &body;
    char why[512];
    ctl_control_status_t st = s_ask(ctl, &req, true, reply, why, sizeof why);
    if (st != CTL_CONTROL_OK) {
        snprintf(live->why, sizeof live->why, "daemon not reachable at %.200s: %.300s", ctl->asked,
                 why);
        return;
    }
    if ((*reply)->body_case == SLUICE__CONTROL__V1__REPLY__BODY_STORE) {
        live->reply = (*reply)->store;
        return;
    }
    bool error = (*reply)->body_case == SLUICE__CONTROL__V1__REPLY__BODY_ERROR && (*reply)->error;
    snprintf(live->why, sizeof live->why, "the daemon at %.200s says %s: %.300s", ctl->asked,
             error ? control_code_name((*reply)->error->code) : "something unexpected",
             error ? (*reply)->error->message : "");
}

/* s_store_of_reply points D's fields into the daemon's answer R; false
 * when out of memory. Clear D with support_query_store_clear (it owns no result). */
static bool s_store_of_reply(const Sluice__Control__V1__StoreDayReply *r, support_query_store_t *d)
{
    memset(d, 0, sizeof *d);
    d->timezone = r->timezone;
    d->now = r->now;
    d->today = r->today;
    d->day_start = r->day_start;
    d->latest_ready = s_nullable(r->latest_ready);
    d->wait_seconds = (long)r->wait_seconds;
    d->accepted_today = (long)r->accepted_today;
    d->delivered_today = (long)r->delivered_today;
    d->cancelled_today = (long)r->cancelled_today;
    d->failed_today = (long)r->failed_today;
    d->live_today = (long)r->live_today;
    d->last_accepted = s_nullable(r->last_accepted);
    d->live_states = r->n_live;
    if ((d->live = calloc(d->live_states + 1, sizeof *d->live)) == NULL)
        return false;
    for (size_t i = 0; i < d->live_states; i++) {
        d->live[i] = (support_query_state_count_t){ .state = r->live[i]->state,
                                             .count = (long)r->live[i]->count };
        d->live_total += d->live[i].count;
    }
    return true;
}

/* s_store_day_ask asks the daemon that answered the live view for the
 * PostgreSQL half too, read on its open connection: true with *D filled
 * from *REPLY (the caller frees it). False: PostgreSQL is read directly. */
static bool s_store_day_ask(ctl_t *ctl, uint32_t id, support_query_store_t *d, ctl_reply_t **reply)
{
    Sluice__Control__V1__StoreDayRequest body = SLUICE__CONTROL__V1__STORE_DAY_REQUEST__INIT;
    body.store_id = id;
    body.iso_times = ctl->json;
    ctl_request_t req = SLUICE__CONTROL__V1__REQUEST__INIT;
    req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_STORE_DAY;
    req.store_day = &body;
    char why[512];
    *reply = NULL;
    if (ctl_control_ask(ctl->asked, ctl->timeout_ms, &req, reply, why, sizeof why) !=
        CTL_CONTROL_OK)
        return false;
    if ((*reply)->body_case == SLUICE__CONTROL__V1__REPLY__BODY_STORE_DAY &&
        s_store_of_reply((*reply)->store_day, d))
        return true;
    support_query_store_clear(d);
    sluice__control__v1__reply__free_unpacked(*reply, NULL);
    *reply = NULL;
    return false;
}

/* s_store_read reads the PostgreSQL half of store ID into D: through the
 * daemon that answered LIVE when it can (and no --database), else directly. CTL_EXIT_OK, or
 * the exit code with the reason reported. */
static int s_store_read(ctl_t *ctl, uint32_t id, const config_store_t *s, store_live_t *live,
                        support_query_store_t *d, ctl_reply_t **day_reply)
{
    /* --database names the role to read with: then always directly. */
    if (live->reply != NULL && ctl->database == NULL && s_store_day_ask(ctl, id, d, day_reply)) {
        live->day_by_daemon = true;
        return CTL_EXIT_OK;
    }
    int rc = s_connect(ctl);
    if (rc != CTL_EXIT_OK)
        return rc;
    const char *zone = s != NULL && s->timezone != NULL && s->timezone[0] ? s->timezone : NULL;
    support_query_times_t times = ctl->json ? SUPPORT_QUERY_TIMES_ISO : SUPPORT_QUERY_TIMES_TEXT;
    support_query_status_t st = support_query_store_read(ctl->db, id, zone, times, d);
    return st == SUPPORT_QUERY_OK ? CTL_EXIT_OK : s_db_failure(ctl, st);
}

static int s_cmd_store(ctl_t *ctl, char **argv)
{
    uint32_t id;
    if (!s_parse_store_id(argv[0], &id))
        return CTL_EXIT_USAGE;
    store_live_t live = {0};
    ctl_reply_t *reply = NULL, *day_reply = NULL;
    s_store_ask(ctl, id, &live, &reply);
    const config_store_t *s = s_find_store(ctl->cfg, id);
    support_query_store_t d;
    memset(&d, 0, sizeof d);
    int rc = s_store_read(ctl, id, s, &live, &d, &day_reply);
    if (rc == CTL_EXIT_UNREACHABLE) {
        if (live.reply != NULL && !ctl->json) {  /* the daemon's half still helps */
            s_source_daemon_text(ctl);
            s_store_live_text(ctl, &live);
            if (s_daemon_counts_today(live.reply, NULL)) {
                printf("today %s (the daemon's count)\n", live.reply->today_date);
                s_rejected_text(&live, NULL);
            }
        }
    } else if (rc != CTL_EXIT_OK) {
        /* reported */
    } else if (s == NULL && d.last_accepted == NULL) {
        if (ctl->cfg != NULL)
            fprintf(stderr,
                    "sluicectl: no store %" PRIu32 " in %s and no order of it in PostgreSQL\n", id,
                    ctl->config_path);
        else
            fprintf(stderr,
                    "sluicectl: no order of store %" PRIu32
                    " in PostgreSQL (config not read: %s)\n",
                    id, ctl->config_errors);
        rc = CTL_EXIT_NOT_FOUND;
    } else if (ctl->json) {
        s_store_json(ctl, id, s, &d, &live);
    } else {
        s_store_text(ctl, id, s, &d, &live);
    }
    support_query_store_clear(&d);
    if (reply != NULL)
        sluice__control__v1__reply__free_unpacked(reply, NULL);
    if (day_reply != NULL)
        sluice__control__v1__reply__free_unpacked(day_reply, NULL);
    return rc;
}

/* ---- sluicectl reconcile ---- */

static int s_cmd_reconcile(ctl_t *ctl, char **argv)
{
    (void)argv;
    int rc = s_connect(ctl);
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
    const char *arg;          /* its one argument's name, NULL for none */
    ctl_needs_t needs;
    bool json;                /* --json applies */
    int (*run)(ctl_t *ctl, char **argv);
    const char *help;
} ctl_command_t;

static const ctl_command_t s_commands[] = {
    {"order", "ID", CTL_NEEDS_DATABASE, true, s_cmd_order,
     "an order: state, promises, dispatch attempts and its timeline (PostgreSQL,\n"
     "                   through the daemon's connection when it answers)"},
    {"store", "ID", CTL_NEEDS_STORES, true, s_cmd_store,
     "a store: capacity, live orders, promised wait, today (PostgreSQL), and the\n"
     "                   daemon's live view: open, paused, slots, queue, wait now,\n"
     "                   today's rejections by reason"},
    {"platforms", NULL, CTL_NEEDS_CONTROL, true, s_cmd_platforms,
     "each platform: link, breaker, in flight, error ratio, p99 reply times"},
    {"stats", NULL, CTL_NEEDS_CONTROL, true, s_cmd_stats,
     "intake rate, decisions by reason, queue delay, commit latency, batch size"},
    {"pause", "STORE", CTL_NEEDS_CONTROL, false, s_cmd_pause,
     "refuse the store's new orders (STORE_PAUSED) now and across restarts"},
    {"resume", "STORE", CTL_NEEDS_CONTROL, false, s_cmd_resume,
     "remove the pause: the config decides again"},
    {"reload", NULL, CTL_NEEDS_CONTROL, false, s_cmd_reload,
     "re-read the daemon's config (as SIGHUP); a refused file is reported"},
    {"reconcile", NULL, CTL_NEEDS_CONFIG, true, s_cmd_reconcile,
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
        required = wanted = true;
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
    if (ctl->cfg == NULL && !s_load_config(ctl, required, only))
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
    int opt;
    char *end;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c': ctl.config_path = optarg; ctl.config_explicit = true; break;
        case 'd': ctl.database = optarg; break;
        case 'C': ctl.control = optarg; break;
        case 't':
            ctl.timeout_ms = (int)strtol(optarg, &end, 10);
            if (*end != '\0' || ctl.timeout_ms < 1 || ctl.timeout_ms > 600000) {
                fprintf(stderr, "sluicectl: --timeout takes 1..600000 ms (got \"%s\")\n", optarg);
                return CTL_EXIT_USAGE;
            }
            break;
        case 'j': ctl.json = true; break;
        case 'h': s_usage(stdout); return CTL_EXIT_OK;
        case 'V': printf("sluicectl %s\n", SLUICE_VERSION); return CTL_EXIT_OK;
        case 'D': ctl.reconcile.date = optarg; break;
        case 'U': ctl.reconcile.utc_offset = optarg; break;
        default: s_usage(stderr); return CTL_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        s_usage(stderr);
        return CTL_EXIT_USAGE;
    }
    const ctl_command_t *command = s_find_command(argv[optind]);
    if (command == NULL) {
        fprintf(stderr, "sluicectl: unknown command \"%s\"\n", argv[optind]);
        s_usage(stderr);
        return CTL_EXIT_USAGE;
    }
    int args = argc - optind - 1;
    if (args != (command->arg != NULL ? 1 : 0)) {
        fprintf(stderr, "usage: sluicectl [options] %s%s%s\n", command->name,
                command->arg ? " " : "", command->arg ? command->arg : "");
        return CTL_EXIT_USAGE;
    }
    if (ctl.json && !command->json) {
        fprintf(stderr, "sluicectl: --json is for read commands; %s answers in one line\n",
                command->name);
        return CTL_EXIT_USAGE;
    }
    int rc = CTL_EXIT_USAGE;
    if (s_prepare_config(&ctl, command, command->arg != NULL ? argv[optind + 1] : NULL))
        rc = command->run(&ctl, argv + optind + 1);
    support_query_destroy(&ctl.db);
    config_destroy(&ctl.cfg);
    free(ctl.config_errors);
    if (fflush(stdout) != 0 && rc == CTL_EXIT_OK) {
        fprintf(stderr, "sluicectl: failed to write the answer: %s\n", strerror(errno));
        rc = CTL_EXIT_FAILED;
    }
    return rc;
}
