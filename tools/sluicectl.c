/* sluicectl.c - owns sluicectl's command line: options, the config, the
 * commands and how their answers are shown (tables for people, one JSON
 * object with --json).
 *
 * This version reads PostgreSQL directly (tools/ctl_db.c) and never asks the
 * daemon, so support staff get answers while sluiced is down; every answer
 * says so. Commands that need the daemon (platforms, stats, pause, resume,
 * reload) come with its control socket. `reconcile` asks the platforms and
 * PostgreSQL itself (tools/reconcile_cmd.c). */
#include "clock.h"
#include "config.h"
#include "ctl_db.h"
#include "ctl_json.h"
#include "kitchen.h"
#include "order.h"
#include "reconcile_cmd.h"
#include "tz.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "unknown"
#endif

#define S_DEFAULT_CONFIG "/etc/sluice/sluice.conf"
#define S_SOURCE_TEXT "source: PostgreSQL (daemon not asked)"
#define S_SOURCE_JSON "postgresql"

/* Exit codes, documented in sluicectl(8). */
enum ctl_exit {
    CTL_EXIT_OK = 0,
    CTL_EXIT_NOT_FOUND = 1,   /* no such order or store */
    CTL_EXIT_USAGE = 2,       /* bad command line, or a config that cannot be read */
    CTL_EXIT_UNREACHABLE = 3, /* PostgreSQL cannot be reached */
    CTL_EXIT_FAILED = 4,      /* PostgreSQL refused a query (schema not migrated, ...) */
};

typedef struct ctl {
    const char *config_path;
    bool config_explicit;     /* -c given */
    const char *database;     /* --database, NULL: daemon.database */
    bool json;
    reconcile_cmd_opts_t reconcile;  /* --date, --utc-offset */
    config_t *cfg;            /* NULL when not read */
    char *config_errors;      /* why cfg is NULL, when reading was tried */
    ctl_db_t *db;
} ctl_t;

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: sluicectl [-c CONFIG] [--database CONNINFO] [--json] COMMAND ...\n"
            "\n"
            "  order ID    an order: state, promises, dispatch attempts and its timeline\n"
            "  store ID    a store: configured capacity, live orders, promised wait, today\n"
            "  reconcile [--date YYYY-MM-DD] [--utc-offset MINUTES]\n"
            "              every platform's settlement report of a day (default yesterday, UTC)\n"
            "              against PostgreSQL; stores and prints the discrepancies (exit 5 if any,\n"
            "              6 if a platform could not be asked)\n"
            "\n"
            "  -c, --config FILE     config to read (default " S_DEFAULT_CONFIG ")\n"
            "  --database CONNINFO   libpq connection string, instead of daemon.database\n"
            "  --json                one JSON object instead of tables\n"
            "\n"
            "Answers are read from PostgreSQL directly; the daemon is not asked.\n"
            "Exit status: 0 ok, 1 not found, 2 usage or config, 3 PostgreSQL unreachable,\n"
            "4 PostgreSQL refused a query. See sluicectl(8).\n");
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

/* s_load_config reads the config. A failure is fatal (false) when the
 * connection string must come from it or the user named the file;
 * otherwise it is kept in config_errors and said in the answer. */
static bool s_load_config(ctl_t *ctl, bool required)
{
    ctl->cfg = config_load(ctl->config_path, &ctl->config_errors);
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

/* s_zone_of: ctl_db_zone_fn giving an order's store's timezone. */
static const char *s_zone_of(uint32_t store_id, void *arg)
{
    const config_store_t *s = s_find_store(((ctl_t *)arg)->cfg, store_id);
    return s != NULL && s->timezone != NULL && s->timezone[0] ? s->timezone : NULL;
}

/* ---- database ---- */

/* s_connect connects; on failure says where it tried (never a password)
 * and why, and returns the exit code. */
static int s_connect(ctl_t *ctl)
{
    const char *conninfo = ctl->database != NULL ? ctl->database : ctl->cfg->daemon.database;
    ctl->db = ctl_db_new(conninfo);
    if (ctl->db == NULL) {
        fprintf(stderr, "sluicectl: out of memory\n");
        return CTL_EXIT_FAILED;
    }
    if (ctl_db_connect(ctl->db) != CTL_DB_OK) {
        fprintf(stderr, "sluicectl: PostgreSQL unreachable at %s (from %s): %s\n",
                ctl_db_target(ctl->db),
                ctl->database != NULL ? "--database" : "daemon.database",
                ctl_db_error(ctl->db));
        return CTL_EXIT_UNREACHABLE;
    }
    return CTL_EXIT_OK;
}

/* s_db_failure reports a failed read and returns its exit code. */
static int s_db_failure(ctl_t *ctl, ctl_db_status_t st)
{
    if (st == CTL_DB_UNREACHABLE) {
        fprintf(stderr, "sluicectl: PostgreSQL unreachable at %s: %s\n", ctl_db_target(ctl->db),
                ctl_db_error(ctl->db));
        return CTL_EXIT_UNREACHABLE;
    }
    fprintf(stderr, "sluicectl: %s (at %s)\n", ctl_db_error(ctl->db), ctl_db_target(ctl->db));
    return CTL_EXIT_FAILED;
}

/* ---- sluicectl order ID ---- */

static void s_order_json(const ctl_db_order_t *o)
{
    ctl_json_t j;
    ctl_json_init(&j, stdout);
    ctl_json_begin_object(&j);
    ctl_json_key(&j, "source");
    ctl_json_string(&j, S_SOURCE_JSON);
    ctl_json_key(&j, "timezone");
    ctl_json_string(&j, o->timezone);
    const ctl_db_order_row_t *r = &o->row;
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
        const ctl_db_dispatch_t *d = &o->dispatches[i];
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
        const ctl_db_event_t *e = &o->events[i];
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

static void s_order_text(const ctl_t *ctl, const ctl_db_order_t *o)
{
    const ctl_db_order_row_t *r = &o->row;
    printf("%s; times in %s\n", S_SOURCE_TEXT, o->timezone);
    s_field("order", r->order_id);
    const config_store_t *cs = s_find_store(ctl->cfg, (uint32_t)strtoul(r->store_id, NULL, 10));
    if (cs != NULL && cs->name != NULL && cs->name[0])
        s_fieldf("store", "%s (%s)", r->store_id, cs->name);
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
                const ctl_db_dispatch_t *d = &o->dispatches[i];
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

static int s_cmd_order(ctl_t *ctl, const char *id)
{
    if (!order_id_valid(id)) {
        fprintf(stderr, "sluicectl: \"%s\" is not an order id (1..64 of A-Z a-z 0-9 . _ : -)\n",
                id);
        return CTL_EXIT_USAGE;
    }
    int rc = s_connect(ctl);
    if (rc != CTL_EXIT_OK)
        return rc;
    ctl_db_order_t o;
    ctl_db_times_t times = ctl->json ? CTL_DB_TIMES_ISO : CTL_DB_TIMES_TEXT;
    ctl_db_status_t st = ctl_db_order_read(ctl->db, id, times, s_zone_of, ctl, &o);
    if (st == CTL_DB_OK) {
        if (ctl->json)
            s_order_json(&o);
        else
            s_order_text(ctl, &o);
    } else if (st == CTL_DB_NOT_FOUND) {
        fprintf(stderr, "sluicectl: no order %s in PostgreSQL (%s)\n", id, ctl_db_target(ctl->db));
        rc = CTL_EXIT_NOT_FOUND;
    } else {
        rc = s_db_failure(ctl, st);
    }
    ctl_db_order_clear(&o);
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

static void s_store_json(const ctl_t *ctl, uint32_t id, const config_store_t *s,
                         const ctl_db_store_t *d)
{
    ctl_json_t j;
    ctl_json_init(&j, stdout);
    ctl_json_begin_object(&j);
    ctl_json_key(&j, "source");
    ctl_json_string(&j, S_SOURCE_JSON);
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
    ctl_json_key(&j, "rejected");
    ctl_json_null(&j);
    ctl_json_key(&j, "rejected_note");
    ctl_json_string(&j, s_rejected_note);
    ctl_json_end_object(&j);
    ctl_json_key(&j, "last_accepted_at");
    ctl_json_string(&j, d->last_accepted);
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
                         const ctl_db_store_t *d)
{
    printf("%s; times in %s\n", S_SOURCE_TEXT, d->timezone);
    const char *brand = s != NULL ? s_brand_of(ctl->cfg, s) : NULL;
    if (s != NULL && s->name != NULL && s->name[0])
        s_fieldf("store", "%" PRIu32 " (%s)%s%s", id, s->name, brand ? ", brand " : "",
                 brand ? brand : "");
    else
        s_fieldf("store", "%" PRIu32 "%s%s", id, brand ? ", brand " : "", brand ? brand : "");
    s_field("now", d->now);
    s_store_config_text(ctl, id, s);
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
    s_field("  rejected", s_rejected_note);
    s_field("last order accepted", d->last_accepted ? d->last_accepted : "never");
}

static int s_cmd_store(ctl_t *ctl, const char *arg)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (arg[0] < '0' || arg[0] > '9' || *end != '\0' || errno != 0 || v < 1 || v > UINT32_MAX) {
        fprintf(stderr, "sluicectl: \"%s\" is not a store id (1..4294967295)\n", arg);
        return CTL_EXIT_USAGE;
    }
    uint32_t id = (uint32_t)v;
    int rc = s_connect(ctl);
    if (rc != CTL_EXIT_OK)
        return rc;
    const config_store_t *s = s_find_store(ctl->cfg, id);
    const char *zone = s != NULL && s->timezone != NULL && s->timezone[0] ? s->timezone : NULL;
    ctl_db_store_t d;
    ctl_db_status_t st = ctl_db_store_read(ctl->db, id, zone,
                                           ctl->json ? CTL_DB_TIMES_ISO : CTL_DB_TIMES_TEXT, &d);
    if (st != CTL_DB_OK) {
        rc = s_db_failure(ctl, st);
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
        s_store_json(ctl, id, s, &d);
    } else {
        s_store_text(ctl, id, s, &d);
    }
    ctl_db_store_clear(&d);
    return rc;
}

/* ---- sluicectl reconcile ---- */

static int s_cmd_reconcile(ctl_t *ctl)
{
    if (!s_load_config(ctl, true))
        return CTL_EXIT_USAGE;
    int rc = s_connect(ctl);
    if (rc != CTL_EXIT_OK)
        return rc;
    ctl->reconcile.json = ctl->json;
    return reconcile_cmd_run(ctl->cfg, ctl->db, &ctl->reconcile);
}

/* ---- main ---- */

/* Commands of the issue that need the daemon's control socket. */
static const char *const s_daemon_commands[] = { "platforms", "stats", "pause", "resume",
                                                 "reload" };

int main(int argc, char **argv)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' }, { "database", required_argument, NULL, 'd' },
        { "json", no_argument, NULL, 'j' },         { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },      { "date", required_argument, NULL, 'D' },
        { "utc-offset", required_argument, NULL, 'U' }, { NULL, 0, NULL, 0 },
    };
    ctl_t ctl = { .config_path = S_DEFAULT_CONFIG };
    int opt;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c': ctl.config_path = optarg; ctl.config_explicit = true; break;
        case 'd': ctl.database = optarg; break;
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
    const char *cmd = argv[optind];
    int args = argc - optind - 1;
    bool is_order = strcmp(cmd, "order") == 0, is_store = strcmp(cmd, "store") == 0;
    bool is_reconcile = strcmp(cmd, "reconcile") == 0;
    if (!is_order && !is_store && !is_reconcile) {
        for (size_t i = 0; i < sizeof s_daemon_commands / sizeof s_daemon_commands[0]; i++)
            if (strcmp(cmd, s_daemon_commands[i]) == 0) {
                fprintf(stderr, "sluicectl: %s needs the daemon's control socket, which this "
                                "sluicectl cannot use yet\n", cmd);
                return CTL_EXIT_USAGE;
            }
        fprintf(stderr, "sluicectl: unknown command \"%s\"\n", cmd);
        s_usage(stderr);
        return CTL_EXIT_USAGE;
    }
    if (is_reconcile && args != 0) {
        fprintf(stderr, "usage: sluicectl [options] reconcile [--date D] [--utc-offset M]\n");
        return CTL_EXIT_USAGE;
    }
    if (!is_reconcile && args != 1) {
        fprintf(stderr, "usage: sluicectl [options] %s ID\n", cmd);
        return CTL_EXIT_USAGE;
    }

    /* The config is read when the connection string must come from it, when
     * -c names it, and for `store` (capacity, time zone). `order --database`
     * skips it: a 300,000-store config takes a second or more to read. */
    int rc = CTL_EXIT_USAGE;
    if (is_reconcile) {
        rc = s_cmd_reconcile(&ctl);
        goto done;
    }
    if (ctl.database == NULL || ctl.config_explicit || is_store) {
        if (!s_load_config(&ctl, ctl.database == NULL))
            goto done;
    }
    rc = is_order ? s_cmd_order(&ctl, argv[optind + 1]) : s_cmd_store(&ctl, argv[optind + 1]);
done:
    ctl_db_destroy(&ctl.db);
    config_destroy(&ctl.cfg);
    free(ctl.config_errors);
    if (fflush(stdout) != 0 && rc == CTL_EXIT_OK) {
        fprintf(stderr, "sluicectl: failed to write the answer: %s\n", strerror(errno));
        rc = CTL_EXIT_FAILED;
    }
    return rc;
}
