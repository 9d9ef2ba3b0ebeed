/* test_sluicectl.c - sluicectl's reads of PostgreSQL, end to end: real
 * PostgreSQL, real sluiced (or none), the real sluicectl binary beside it.
 * An accepted order and a cancelled one, as tables and as JSON, with
 * dispatch attempts written by SQL; one dispatched by the engine, whose
 * timeline shows the engine's clock times in the store's zone too; the
 * store summary (live orders, promised wait, today's counts in the store's
 * zone) against a running daemon and a stopped one; unknown order and store, usage errors, PostgreSQL down (with
 * --json, an error object on stdout), a password never shown, a schema that
 * was never migrated.
 *
 * Expected values come from the test's own SQL and clocks, never from an
 * earlier answer of sluicectl. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <zmq.h>

#include "harness.h"
#include "ctl_proc.h"
#include "sim_proc.h"

#define S_REPLY_MS 10000
/* `order` and `store` ask the daemon first; with none running they say so */
#define DAEMON_LINE "source: daemon at ipc://"
#define DAEMON_CONN " (its PostgreSQL connection); times in "
#define STORE_DOWN_LINE "source: PostgreSQL (daemon not reachable at ipc://"
#define DOWN_LINE STORE_DOWN_LINE
#define DATABASE_LINE "source: PostgreSQL (daemon not asked: --database given)"

/* Store 1002 keeps Asia/Shanghai time (UTC+8 all year), so that local times
 * and "today" are visibly not UTC; 1001 is the harness's probe store. Only
 * 1003, which gets no orders, lists a platform: the dispatch engine would
 * otherwise look for riders at a gateway nobody runs, and write that into
 * the timelines this test compares (the dispatches rows here are SQL's). */
#define ZONE_STORE 1002
static const char s_body[] =
    "brands = ( { name = \"testbrand\"; orders_per_second = 1000000; } );\n"
    "stores = (\n"
    "  { id = 1001; name = \"probe\"; location = [30.27, 120.03]; prep_slots = 1000;"
    " item_seconds = 1; max_wait_minutes = 600; max_queue = 100000; },\n"
    "  { id = 1002; brand = \"testbrand\"; name = \"Tea Xixi\"; location = [30.27, 120.03];"
    " prep_slots = 4; item_seconds = 1; order_seconds = 1; max_wait_minutes = 600;"
    " max_queue = 1000; hours = \"00:00-24:00\"; timezone = \"Asia/Shanghai\";"
    " staffing = ( { from = \"11:00\"; to = \"14:00\"; prep_slots = 6; } ); },\n"
    "  { id = 1003; name = \"quiet\"; location = [30.27, 120.03]; prep_slots = 2;"
    " item_seconds = 60; max_wait_minutes = 30; max_queue = 10; platforms = [\"sim\"]; }\n"
    ");\n";

/* ---- running sluicectl: ctl_proc.h ---- */

/* s_expect_same_order: order answers A (from the daemon) and B (read
 * directly) are the same after their source: the text after the first line,
 * the JSON from "timezone" on. */
static void s_expect_same_order(const char *a, const char *b, bool json)
{
    const char *from_a = json ? strstr(a, "\"timezone\":") : strchr(a, '\n');
    const char *from_b = json ? strstr(b, "\"timezone\":") : strchr(b, '\n');
    if (from_a == NULL || from_b == NULL || strcmp(from_a, from_b) != 0)
        fail_msg("the daemon's answer and PostgreSQL's differ:\n%s\n----\n%s", a, b);
}

/* s_line_with returns the line of TEXT holding NEEDLE (malloc'ed). */
static char *s_line_with(const char *text, const char *needle)
{
    const char *p = strstr(text, needle);
    if (p == NULL)
        fail_msg("no line with \"%s\" in:\n%s", needle, text);
    const char *start = p, *end = strchr(p, '\n');
    while (start > text && start[-1] != '\n')
        start--;
    size_t len = end != NULL ? (size_t)(end - start) : strlen(start);
    char *line = strndup(start, len);
    assert_non_null(line);
    return line;
}


/* ---- a minimal JSON checker: is the text one valid JSON value? ---- */

static const char *s_json_value(const char *p, int depth);

static const char *s_json_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

static const char *s_json_string(const char *p)
{
    if (*p++ != '"')
        return NULL;
    for (; *p != '"'; p++) {
        if ((unsigned char)*p < 0x20)
            return NULL;
        if (*p == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", p[i]) || p[i] == '\0')
                        return NULL;
                p += 4;
            } else if (*p == '\0' || !strchr("\"\\/bfnrt", *p)) {
                return NULL;
            }
        }
    }
    return p + 1;
}

static const char *s_json_number(const char *p)
{
    const char *start = p;
    if (*p == '-')
        p++;
    if (*p < '0' || *p > '9')
        return NULL;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (*p < '0' || *p > '9')
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return p > start ? p : NULL;
}

static const char *s_json_value(const char *p, int depth)
{
    if (depth > 32)
        return NULL;
    p = s_json_ws(p);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        p = s_json_ws(p + 1);
        if (*p == close)
            return p + 1;
        for (;;) {
            if (close == '}') {
                if ((p = s_json_string(p)) == NULL)
                    return NULL;
                p = s_json_ws(p);
                if (*p++ != ':')
                    return NULL;
            }
            if ((p = s_json_value(p, depth + 1)) == NULL)
                return NULL;
            p = s_json_ws(p);
            if (*p == close)
                return p + 1;
            if (*p++ != ',')
                return NULL;
            p = s_json_ws(p);
        }
    }
    if (*p == '"')
        return s_json_string(p);
    if (strncmp(p, "true", 4) == 0)
        return p + 4;
    if (strncmp(p, "false", 5) == 0)
        return p + 5;
    if (strncmp(p, "null", 4) == 0)
        return p + 4;
    return s_json_number(p);
}

/* s_expect_json: OUT is exactly one JSON object on one line. */
static void s_expect_json(const char *out, const char *what)
{
    const char *end = out[0] == '{' ? s_json_value(out, 0) : NULL;
    if (end == NULL || strcmp(end, "\n") != 0)
        fail_msg("%s: not one JSON object on one line:\n%s", what, out);
}

/* ---- orders ---- */

static void s_submit(harness_client_t *c, const char *id, uint32_t store)
{
    harness_order_t *o = malloc(sizeof *o);
    assert_non_null(o);
    harness_order_fill(o, id, store);
    Sluice__V1__Reply *r = harness_submit(c, o, S_REPLY_MS);
    harness_expect_ack(r, SLUICE__V1__DECISION__ACCEPTED, SLUICE__V1__REASON__REASON_NONE, id);
    harness_reply_free(&r);
    free(o);
}

static void s_cancel(harness_client_t *c, const char *id, const char *reason)
{
    Sluice__V1__Reply *r = harness_cancel(c, id, reason, S_REPLY_MS);
    char buf[512];
    if (r == NULL || r->body_case != SLUICE__V1__REPLY__BODY_STATUS ||
        strcmp(r->status->state, "CANCELLED") != 0)
        fail_msg("cancel %s: %s", id, harness_reply_describe(r, buf, sizeof buf));
    harness_reply_free(&r);
}

static void s_sql(harness_t *h, const char *sql, int nparams, ...)
{
    const char *params[8];
    va_list ap;
    va_start(ap, nparams);
    for (int i = 0; i < nparams; i++)
        params[i] = va_arg(ap, const char *);
    va_end(ap);
    PGconn *conn = harness_db(h);
    assert_non_null(conn);
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(conn));
        PQclear(res);
        fail_msg("%s: %s", sql, msg);
    }
    PQclear(res);
}

/* s_local_time: a column of order ORDER_ID as sluicectl shows it in
 * Asia/Shanghai, for people (ISO false) or in JSON. */
static char *s_local_time(harness_t *h, const char *column, const char *order_id, bool iso)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT to_char(%s AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD%sHH24:MI:SS.MS')%s"
             "  FROM orders WHERE order_id = $1",
             column, iso ? "\"T\"" : " ", iso ? " || '+08:00'" : "");
    char *v = harness_db_value(h, sql, 1, order_id);
    assert_non_null(v);
    return v;
}

/* ---- tests ---- */

static void test_order_accepted_and_cancelled(void **state)
{
    harness_t *h = *state;
    harness_boot_text(h, NULL, s_body);
    harness_client_t *c = harness_client_new(h, ZMQ_DEALER);
    s_submit(c, "ctl-a", ZONE_STORE);
    s_submit(c, "ctl-c", ZONE_STORE);
    s_cancel(c, "ctl-c", "customer changed her mind");
    harness_client_destroy(&c);
    /* two attempts for ctl-a, as the dispatch engine writes them: the
     * first cancelled after a timeout, the second with a rider */
    s_sql(h,
          "INSERT INTO dispatches (dispatch_key, order_id, attempt, platform, state, rider_ref,"
          "                        fee_cents, pickup_at)"
          " VALUES ('ctl-a:1', 'ctl-a', 1, 'sim', 'CANCELLED', NULL, NULL, NULL),"
          "        ('ctl-a:2', 'ctl-a', 2, 'sim', 'ASSIGNED', 'rider-7', 850,"
          "         now() + interval '5 minutes')",
          0);

    /* people: the daemon is running and answers from its own connection */
    ctl_run_t r = ctl_run(h, "-c", h->conf_path, "order", "ctl-a", NULL);
    ctl_expect_rc(&r, 0, "order ctl-a");
    assert_int_equal(strncmp(r.out, DAEMON_LINE, strlen(DAEMON_LINE)), 0);
    char *source = s_line_with(r.out, DAEMON_LINE);
    ctl_expect_has(source, DAEMON_CONN "Asia/Shanghai", "order ctl-a: source");
    free(source);
    ctl_expect_field(r.out, "order", "ctl-a");
    ctl_expect_field(r.out, "store", "1002 (Tea Xixi)");
    ctl_expect_field(r.out, "state", "ACCEPTED");
    ctl_expect_field(r.out, "items", "2 x sku-0, 1 x sku-1"); /* harness_order_fill */
    ctl_expect_field(r.out, "customer", "cust-1");
    char *accepted = s_local_time(h, "accepted_at", "ctl-a", false);
    char *ready = s_local_time(h, "promised_ready_at", "ctl-a", false);
    char *delivery = s_local_time(h, "promised_delivery_at", "ctl-a", false);
    ctl_expect_field(r.out, "accepted", accepted);
    ctl_expect_field(r.out, "promised ready", ready);
    ctl_expect_field(r.out, "promised delivery", delivery);
    ctl_expect_field(r.out, "refund due", "no");
    ctl_expect_has(r.out, "\ndispatch attempts: 2\n", "order ctl-a");
    char *a1 = s_line_with(r.out, "ctl-a:1"), *a2 = s_line_with(r.out, "ctl-a:2");
    ctl_expect_has(a1, "CANCELLED", "attempt 1");
    ctl_expect_has(a2, "ASSIGNED", "attempt 2");
    ctl_expect_has(a2, "rider-7", "attempt 2");
    ctl_expect_has(a2, "850", "attempt 2");
    assert_true(strstr(r.out, "ctl-a:1") < strstr(r.out, "ctl-a:2"));
    ctl_expect_has(r.out, "\ntimeline: 1 event\n", "order ctl-a");
    /* the event is written in the order's own statement: same now() */
    char *ev = s_line_with(strstr(r.out, "\ntimeline:"), "  ACCEPTED");
    ctl_expect_has(ev, accepted, "the ACCEPTED event's time");
    free(a1);
    free(a2);
    free(ev);
    free(ready);
    free(delivery);
    ctl_run_free(&r);

    /* JSON: one valid object, exact fields */
    r = ctl_run(h, "-c", h->conf_path, "--json", "order", "ctl-a", NULL);
    ctl_expect_rc(&r, 0, "--json order ctl-a");
    s_expect_json(r.out, "--json order ctl-a");
    char *accepted_iso = s_local_time(h, "accepted_at", "ctl-a", true);
    char want[256];
    snprintf(want, sizeof want, "\"accepted_at\":\"%s\"", accepted_iso);
    const char *const fields[] = {
        "{\"source\":\"daemon\",\"endpoint\":\"ipc://",
        "\",\"timezone\":\"Asia/Shanghai\",\"order\":{",
        "\"order_id\":\"ctl-a\"", "\"store_id\":1002", "\"state\":\"ACCEPTED\"",
        "\"items\":[{\"qty\": 2, \"sku\": \"sku-0\"}, {\"qty\": 1, \"sku\": \"sku-1\"}]",
        "\"refund_due\":false", "\"voucher_id\":null,\"customer_ref\":\"cust-1\"",
        "\"dispatches\":[{\"attempt\":1,\"platform\":\"sim\",\"dispatch_key\":\"ctl-a:1\","
        "\"state\":\"CANCELLED\",\"rider_ref\":null,\"fee_cents\":null,\"pickup_at\":null,",
        "{\"attempt\":2,\"platform\":\"sim\",\"dispatch_key\":\"ctl-a:2\",\"state\":\"ASSIGNED\","
        "\"rider_ref\":\"rider-7\",\"fee_cents\":850,\"pickup_at\":\"",
        "\"timeline\":[{\"event_id\":", want,
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        ctl_expect_has(r.out, fields[i], "--json order ctl-a");
    snprintf(want, sizeof want, "\"at\":\"%s\",\"state\":\"ACCEPTED\",\"detail\":null}]}\n",
             accepted_iso);
    ctl_expect_has(r.out, want, "--json order ctl-a: timeline");
    free(accepted_iso);
    free(accepted);
    ctl_run_free(&r);

    /* the cancelled order: ACCEPTED, then CANCELLED with the reason */
    ctl_run_t up = ctl_run(h, "-c", h->conf_path, "order", "ctl-c", NULL);
    ctl_expect_rc(&up, 0, "order ctl-c");
    ctl_expect_field(up.out, "state", "CANCELLED");
    ctl_expect_has(up.out, "\ndispatch attempts: 0\n", "order ctl-c");
    ctl_expect_has(up.out, "\ntimeline: 2 events\n", "order ctl-c");
    const char *acc = strstr(up.out, "  ACCEPTED"), *can = strstr(up.out, "  CANCELLED  ");
    assert_non_null(acc);
    assert_non_null(can);
    assert_true(acc < can);
    char *line = s_line_with(can, "CANCELLED");
    ctl_expect_has(line, "cancelled: customer changed her mind", "the CANCELLED event");
    free(line);

    ctl_run_t js = ctl_run(h, "-c", h->conf_path, "--json", "order", "ctl-c", NULL);
    ctl_expect_rc(&js, 0, "--json order ctl-c");
    s_expect_json(js.out, "--json order ctl-c");
    const char *tl = strstr(js.out, "\"timeline\":[");
    assert_non_null(tl);
    const char *j1 = strstr(tl, "\"state\":\"ACCEPTED\",\"detail\":null}");
    const char *j2 = strstr(tl, "\"state\":\"CANCELLED\","
                                "\"detail\":\"cancelled: customer changed her mind\"}]}\n");
    if (j1 == NULL || j2 == NULL || j1 > j2)
        fail_msg("timeline of ctl-c is not ACCEPTED then CANCELLED with the reason:\n%s", js.out);
    ctl_expect_has(js.out, "\"dispatches\":[]", "--json order ctl-c");

    /* the daemon stopped: PostgreSQL read directly, the same answers */
    assert_int_equal(harness_stop(h, 10000), 0);
    ctl_run_t down = ctl_run(h, "-c", h->conf_path, "order", "ctl-c", NULL);
    ctl_expect_rc(&down, 0, "order ctl-c, daemon stopped");
    assert_int_equal(strncmp(down.out, DOWN_LINE, strlen(DOWN_LINE)), 0);
    s_expect_same_order(up.out, down.out, false);
    ctl_run_t jdown = ctl_run(h, "-c", h->conf_path, "--json", "order", "ctl-c", NULL);
    ctl_expect_rc(&jdown, 0, "--json order ctl-c, daemon stopped");
    ctl_expect_has(jdown.out, "{\"source\":\"postgresql\",\"daemon_error\":\"daemon not "
                              "reachable at ipc://", "--json order ctl-c, daemon stopped");
    s_expect_same_order(js.out, jdown.out, true);
    /* --database instead of the config: times in UTC, the same events */
    ctl_run_t db = ctl_run(h, "--database", h->dsn, "order", "ctl-c", NULL);
    ctl_expect_rc(&db, 0, "order ctl-c --database");
    ctl_expect_has(db.out, DATABASE_LINE "; times in UTC\n", "order ctl-c --database");
    ctl_expect_field(db.out, "store", "1002");
    ctl_expect_has(db.out, "cancelled: customer changed her mind", "order ctl-c --database");
    ctl_run_free(&up);
    ctl_run_free(&js);
    ctl_run_free(&down);
    ctl_run_free(&jdown);
    ctl_run_free(&db);
    harness_pass(h);
}

/* s_states: the "state" values of the JSON array after KEY, joined by ','. */
static void s_json_states(const char *json, const char *key, char *out, size_t len)
{
    const char *p = strstr(json, key);
    if (p == NULL)
        fail_msg("no %s in:\n%s", key, json);
    const char *end = strstr(p, "]");
    out[0] = '\0';
    for (p = strstr(p, "\"state\":\""); p != NULL && (end == NULL || p < end);
         p = strstr(p, "\"state\":\"")) {
        p += strlen("\"state\":\"");
        size_t n = strcspn(p, "\"");
        size_t at = strlen(out);
        snprintf(out + at, len - at, "%s%.*s", at ? "," : "", (int)n, p);
    }
}

/* An order the dispatch engine handed to a real simulated platform: its
 * attempt, rider and every timeline entry the engine wrote are shown as
 * PostgreSQL holds them, with the daemon running and stopped. */
static void test_order_dispatched_by_the_engine(void **state)
{
    harness_t *h = *state;
    static const char body[] =
        "stores = (\n"
        "  { id = 1001; name = \"probe\"; location = [30.27, 120.03]; prep_slots = 1000;"
        " item_seconds = 1; max_wait_minutes = 600; max_queue = 100000; },\n"
        "  { id = 1004; name = \"Tea Ride\"; location = [30.27, 120.03]; prep_slots = 4;"
        " item_seconds = 1; order_seconds = 1; max_wait_minutes = 600; max_queue = 100;"
        " timezone = \"Asia/Shanghai\"; platforms = [\"sim\"]; }\n"
        ");\n";
    /* the platform first, on a port it picks, and the config says where, so
     * that the store has riders from its first order on */
    static const char *const fast[] = { "--riders", "3", "--radius-km", "0.5", "--speed-kmh",
                                        "36", "--time-scale", "100", NULL };
    sim_proc_t sim = { 0 };
    sim_proc_start(&sim, h->zctx, h->tmpdir, NULL, fast);
    snprintf(h->platform_endpoint, sizeof h->platform_endpoint, "%s", sim.gateway);
    harness_boot_text(h, NULL, body);
    harness_client_t *c = harness_client_new(h, ZMQ_DEALER);
    s_submit(c, "ride-1", 1004);
    harness_client_destroy(&c);

    uint64_t deadline = harness_now_ms() + 60000;
    char *st = NULL;
    for (;;) {
        free(st);
        st = harness_db_value(h, "SELECT state::text FROM orders WHERE order_id = 'ride-1'", 0);
        if (st != NULL && strcmp(st, "DELIVERED") == 0)
            break;
        if (harness_now_ms() > deadline) {
            sim_proc_dump_log(&sim);
            fail_msg("ride-1 not delivered within 60 s (state %s)", st ? st : "?");
        }
        harness_nap_ms(50);
    }
    free(st);

    char *key = harness_db_value(h, "SELECT dispatch_key FROM dispatches WHERE order_id = "
                                    "'ride-1' ORDER BY attempt DESC LIMIT 1", 0);
    char *rider = harness_db_value(h, "SELECT rider_ref FROM dispatches WHERE order_id = "
                                      "'ride-1' ORDER BY attempt DESC LIMIT 1", 0);
    char *states = harness_db_value(h, "SELECT string_agg(state::text, ',' ORDER BY event_id)"
                                       "  FROM order_events WHERE order_id = 'ride-1'", 0);
    long attempts = harness_db_count(h, "SELECT count(*) FROM dispatches WHERE order_id = "
                                        "'ride-1'", 0);
    assert_non_null(key);
    assert_non_null(rider);
    assert_non_null(states);
    assert_true(attempts >= 1);

    ctl_run_t up = ctl_run(h, "-c", h->conf_path, "--json", "order", "ride-1", NULL);
    ctl_expect_rc(&up, 0, "--json order ride-1");
    s_expect_json(up.out, "--json order ride-1");
    ctl_expect_has(up.out, "\"state\":\"DELIVERED\"", "--json order ride-1");
    char want[256];
    snprintf(want, sizeof want, "\"platform\":\"sim\",\"dispatch_key\":\"%s\","
                                "\"state\":\"DELIVERED\",\"rider_ref\":\"%s\"", key, rider);
    ctl_expect_has(up.out, want, "--json order ride-1: the last attempt");
    char shown[512];
    s_json_states(up.out, "\"timeline\":[", shown, sizeof shown);
    if (strcmp(shown, states) != 0)
        fail_msg("timeline states %s, PostgreSQL has %s:\n%s", shown, states, up.out);
    ctl_expect_has(states, "DELIVERED", "the engine's timeline");

    /* the engine writes its clock times in UTC ("~13:46:45Z"); the
     * timeline shows them in the store's zone like every other time */
    char *utc = harness_db_value(h, "SELECT substring(detail FROM '~([0-9:]{8})Z') FROM "
                                    "order_events WHERE order_id = 'ride-1' AND detail ~ "
                                    "'~[0-9:]{8}Z' ORDER BY event_id LIMIT 1", 0);
    assert_non_null(utc);
    char local[16];
    snprintf(local, sizeof local, "~%02d%s", (atoi(utc) + 8) % 24, utc + 2);  /* UTC+8 */
    ctl_expect_lacks(up.out, "Z\"", "--json order ride-1: a time in UTC");
    snprintf(want, sizeof want, "%s+08:00", local);
    ctl_expect_has(up.out, want, "--json order ride-1: the engine's clock time");
    ctl_run_t text = ctl_run(h, "-c", h->conf_path, "order", "ride-1", NULL);
    ctl_expect_rc(&text, 0, "order ride-1");
    ctl_expect_has(text.out, "; times in Asia/Shanghai\n", "order ride-1");
    ctl_expect_has(text.out, local, "order ride-1: the engine's clock time");
    for (const char *t = strchr(text.out, '~'); t != NULL; t = strchr(t + 1, '~'))
        if (strlen(t) > 9 && t[9] == 'Z')
            fail_msg("a time in UTC in the timeline:\n%s", text.out);
    free(utc);
    char *line = s_line_with(text.out, key);
    ctl_expect_has(line, rider, "the attempt's line");
    ctl_expect_has(line, "DELIVERED", "the attempt's line");
    free(line);
    snprintf(want, sizeof want, "\ndispatch attempts: %ld\n", attempts);
    ctl_expect_has(text.out, want, "order ride-1");

    /* stopped: the same answer */
    assert_int_equal(harness_stop(h, 10000), 0);
    ctl_run_t down = ctl_run(h, "-c", h->conf_path, "--json", "order", "ride-1", NULL);
    ctl_expect_rc(&down, 0, "--json order ride-1, daemon stopped");
    ctl_expect_has(up.out, "{\"source\":\"daemon\",", "--json order ride-1");
    ctl_expect_has(down.out, "{\"source\":\"postgresql\",", "--json order ride-1, stopped");
    s_expect_same_order(up.out, down.out, true);
    assert_int_equal(sim_proc_stop(&sim), 0);
    free(key);
    free(rider);
    free(states);
    ctl_run_free(&up);
    ctl_run_free(&text);
    ctl_run_free(&down);
    harness_pass(h);
}

/* s_json_int: the number after "KEY": in TEXT (the first one). */
static long s_json_int(const char *text, const char *key)
{
    char pat[96];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(text, pat);
    if (p == NULL)
        fail_msg("no \"%s\" in:\n%s", key, text);
    return strtol(p + strlen(pat), NULL, 10);
}

/* "Today" is the day in Asia/Shanghai: a run across its midnight (16:00 UTC)
 * would count some orders on the day before. */
/* s_write_split_config writes PATH: s_body's stores, then 2,000 more, in a
 * file @include'd in the stores list (several pieces: the layout big
 * configs use), and the same daemon section. */
static void s_write_split_config(harness_t *h, char *path, size_t size)
{
    char stores[PATH_MAX];
    snprintf(stores, sizeof stores, "%s/split-stores.conf", h->tmpdir);
    snprintf(path, size, "%s/split.conf", h->tmpdir);
    const char *from = strstr(s_body, "stores = (\n") + strlen("stores = (\n");
    const char *to = strstr(from, "\n);");
    FILE *out = fopen(stores, "w");
    assert_non_null(out);
    fprintf(out, "%.*s,\n", (int)(to - from), from);
    for (int id = 5000; id < 7000; id++)
        fprintf(out, "  { id = %d; name = \"filler %d\"; location = [30.27, 120.03]; prep_slots = 2;"
                     " item_seconds = 60; max_wait_minutes = 30; max_queue = 10; }%s\n",
                id, id, id < 6999 ? "," : "");
    assert_int_equal(fclose(out), 0);
    harness_write_config_text(h, path, NULL,
                              "brands = ( { name = \"testbrand\"; orders_per_second = 1000000; } );\n"
                              "stores = (\n  @include \"split-stores.conf\"\n);\n");
}

/* s_same_but_now: sluicectl's answers A and B are the same but for the
 * lines that say the time now and which config file was read, and the
 * promised wait, counted down from now (its latest ready time must agree). */
static void s_same_but_now(const char *a, const char *b)
{
    static const char wait[] = "promised wait now";
    while (*a || *b) {
        size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
        bool skip = strncmp(a, "now ", 4) == 0 || strncmp(a, "config ", 7) == 0;
        if (strncmp(a, wait, strlen(wait)) == 0 && strncmp(b, wait, strlen(wait)) == 0) {
            const char *ra = strstr(a, "(latest"), *rb = strstr(b, "(latest");
            skip = ra != NULL && rb != NULL && ra < a + la && rb < b + lb &&
                   a + la - ra == b + lb - rb && strncmp(ra, rb, (size_t)(a + la - ra)) == 0;
        }
        if (!skip && (la != lb || strncmp(a, b, la) != 0))
            fail_msg("answers differ at:\n%.*s\n%.*s", (int)la, a, (int)lb, b);
        a += la + (a[la] == '\n');
        b += lb + (b[lb] == '\n');
    }
}

static void test_store_summary(void **state)
{
    harness_t *h = *state;
    harness_boot_text(h, NULL, s_body);
    harness_client_t *c = harness_client_new(h, ZMQ_DEALER);
    static const char *const ids[] = { "st-1", "st-2", "st-3", "st-4", "st-5", "st-6" };
    for (size_t i = 0; i < 6; i++)
        s_submit(c, ids[i], ZONE_STORE);
    s_cancel(c, "st-2", "closed early");
    harness_client_destroy(&c);

    /* running daemon: six accepted, one cancelled, five live */
    ctl_run_t r = ctl_run(h, "-c", h->conf_path, "--json", "store", "1002", NULL);
    ctl_expect_rc(&r, 0, "--json store 1002, daemon running");
    s_expect_json(r.out, "--json store 1002");
    ctl_expect_has(r.out, "\"today\":{\"date\":", "store 1002");
    assert_int_equal(s_json_int(r.out, "accepted"), 6);
    assert_int_equal(s_json_int(r.out, "cancelled"), 1);
    assert_int_equal(s_json_int(r.out, "total"), 5);
    ctl_run_free(&r);

    /* Stopped, and moved on by SQL as the dispatch engine would: one
     * delivered, one failed with a refund due, one promised 10 minutes out. */
    assert_int_equal(harness_stop(h, 10000), 0);
    s_sql(h, "UPDATE orders SET state = 'DELIVERED' WHERE order_id = 'st-3'", 0);
    s_sql(h, "UPDATE orders SET state = 'FAILED', refund_due = true WHERE order_id = 'st-4'", 0);
    s_sql(h, "UPDATE orders SET state = 'PREPARING' WHERE order_id = 'st-5'", 0);
    s_sql(h,
          "UPDATE orders SET promised_ready_at = now() + interval '10 minutes'"
          " WHERE order_id = 'st-6'",
          0);
    s_sql(h,
          "INSERT INTO order_events (order_id, state, detail) VALUES ('st-3', 'DELIVERED', NULL),"
          " ('st-4', 'FAILED', 'no rider before ready_at + max_hold'),"
          " ('st-5', 'PREPARING', NULL)",
          0);

    uint64_t before = harness_wall_ms();
    r = ctl_run(h, "-c", h->conf_path, "--json", "store", "1002", NULL);
    uint64_t after = harness_wall_ms();
    ctl_expect_rc(&r, 0, "--json store 1002, daemon stopped");
    s_expect_json(r.out, "--json store 1002");
    static const char *const fields[] = {
        "{\"source\":\"postgresql\",\"store_id\":1002,\"timezone\":\"Asia/Shanghai\",\"now\":\"",
        "\"found\":true,\"name\":\"Tea Xixi\",\"brand\":\"testbrand\","
        "\"timezone\":\"Asia/Shanghai\",\"hours\":\"00:00-24:00\",\"open_now\":true,"
        "\"paused\":false,\"prep_slots\":4,\"prep_slots_now\":",
        "\"staffing\":[{\"from\":\"11:00\",\"to\":\"14:00\",\"prep_slots\":6}],"
        "\"item_seconds\":1,\"order_seconds\":1,\"max_wait_minutes\":600,\"max_queue\":1000,"
        "\"platforms\":[]}",
        "\"live\":{\"total\":3,\"by_state\":{\"ACCEPTED\":2,\"PREPARING\":1}}",
        "\"accepted\":6,\"delivered\":1,\"cancelled\":1,\"failed\":1,\"live\":3,"
        "\"rejected\":null,\"rejected_total\":null,\"rejected_since\":null,"
        "\"rejected_since_midnight\":false,\"rejected_note\":\"not stored in PostgreSQL: only the "
        "running daemon counts rejections\"}",
        "+08:00\"",
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        ctl_expect_has(r.out, fields[i], "--json store 1002");
    /* the wait: the promise 10 minutes out, seen some time within the run */
    long wait = s_json_int(r.out, "promised_wait_seconds");
    assert_true(wait <= 600);
    assert_true(wait >= 600 - (long)((after - before) / 1000) - 2);
    ctl_run_free(&r);

    r = ctl_run(h, "-c", h->conf_path, "store", "1002", NULL);
    ctl_expect_rc(&r, 0, "store 1002");
    assert_int_equal(strncmp(r.out, STORE_DOWN_LINE, strlen(STORE_DOWN_LINE)), 0);
    char *first = s_line_with(r.out, STORE_DOWN_LINE);
    ctl_expect_has(first, "sluiced is not running there); times in Asia/Shanghai", "store 1002");
    free(first);
    ctl_expect_field(r.out, "store", "1002 (Tea Xixi), brand testbrand");
    ctl_expect_field(r.out, "  paused", "no");
    ctl_expect_field(r.out, "  platforms", "(none)");
    ctl_expect_field(r.out, "live orders", "3");
    ctl_expect_field(r.out, "  ACCEPTED", "2");
    ctl_expect_field(r.out, "  PREPARING", "1");
    ctl_expect_field(r.out, "  accepted", "6");
    ctl_expect_field(r.out, "  delivered", "1");
    ctl_expect_field(r.out, "  cancelled", "1");
    ctl_expect_field(r.out, "  failed", "1");
    ctl_expect_field(r.out, "  still live", "3");
    ctl_expect_field(r.out, "  rejected",
                   "not stored in PostgreSQL: only the running daemon counts rejections");
    char *wait_line = s_line_with(r.out, "promised wait now");
    if (strstr(wait_line, " 10 min 00 s") == NULL && strstr(wait_line, " 9 min ") == NULL)
        fail_msg("promised wait is not about 10 minutes: %s", wait_line);
    free(wait_line);
    ctl_run_free(&r);

    /* the order that failed says so */
    r = ctl_run(h, "-c", h->conf_path, "order", "st-4", NULL);
    ctl_expect_rc(&r, 0, "order st-4");
    ctl_expect_field(r.out, "refund due", "yes");
    ctl_expect_has(r.out, "no rider before ready_at + max_hold", "order st-4");
    ctl_run_free(&r);

    /* the same stores in a big @include'd file: sluicectl reads only the
     * pieces that can hold the store asked about (or the order's), and
     * answers as with the whole config */
    char split[PATH_MAX];
    s_write_split_config(h, split, sizeof split);
    ctl_run_t whole = ctl_run(h, "-c", h->conf_path, "store", "1002", NULL);
    ctl_run_t part = ctl_run(h, "-c", split, "store", "1002", NULL);
    ctl_expect_rc(&part, 0, "store 1002, split config");
    s_same_but_now(whole.out, part.out);
    ctl_run_free(&whole);
    ctl_run_free(&part);
    whole = ctl_run(h, "-c", h->conf_path, "order", "st-4", NULL);
    part = ctl_run(h, "-c", split, "order", "st-4", NULL);
    ctl_expect_rc(&part, 0, "order st-4, split config");
    ctl_expect_has(part.out, "times in Asia/Shanghai", "order st-4, split config");
    ctl_expect_field(part.out, "store", "1002 (Tea Xixi)");
    s_same_but_now(whole.out, part.out);
    /* and read directly (no daemon at --control): the order's store's
     * pieces are read for its zone and name */
    ctl_run_t direct = ctl_run(h, "-c", split, "--control", "ipc:///nonexistent/sluice.sock",
                               "order", "st-4", NULL);
    ctl_expect_rc(&direct, 0, "order st-4, split config, read directly");
    ctl_expect_has(direct.out, "source: PostgreSQL (daemon not reachable at ipc:///nonexistent",
                   "order st-4, split config, read directly");
    ctl_expect_field(direct.out, "store", "1002 (Tea Xixi)");
    s_expect_same_order(whole.out, direct.out, false);
    ctl_run_free(&direct);
    ctl_run_free(&whole);
    ctl_run_free(&part);

    /* a store of the config without orders; the probe store in UTC */
    r = ctl_run(h, "-c", h->conf_path, "store", "1003", NULL);
    ctl_expect_rc(&r, 0, "store 1003");
    ctl_expect_field(r.out, "  platforms", "sim");
    ctl_expect_field(r.out, "  max wait", "30 min");
    ctl_expect_field(r.out, "live orders", "0");
    ctl_expect_field(r.out, "promised wait now", "0 (no live orders)");
    ctl_expect_field(r.out, "  accepted", "0");
    ctl_expect_field(r.out, "last order accepted", "never");
    ctl_run_free(&r);
    r = ctl_run(h, "-c", h->conf_path, "store", "1001", NULL);
    ctl_expect_rc(&r, 0, "store 1001");
    ctl_expect_has(r.out, "); times in UTC\n", "store 1001");
    ctl_expect_has(r.out, STORE_DOWN_LINE, "store 1001");
    ctl_run_free(&r);

    /* a store the config no longer has, with orders: said, and answered */
    s_sql(h,
          "INSERT INTO orders (order_id, store_id, state, items, dropoff_lat, dropoff_lng,"
          "                    fingerprint, promised_ready_at, promised_delivery_at)"
          " VALUES ('gone-1', 7777, 'DELIVERED', '[]', 30.2, 120.1, 1, now(), now())",
          0);
    r = ctl_run(h, "-c", h->conf_path, "store", "7777", NULL);
    ctl_expect_rc(&r, 0, "store 7777");
    ctl_expect_has(r.out, "store 7777 is not in", "store 7777");
    ctl_expect_field(r.out, "  delivered", "1");
    ctl_run_free(&r);
    r = ctl_run(h, "-c", h->conf_path, "--json", "store", "7777", NULL);
    ctl_expect_rc(&r, 0, "--json store 7777");
    s_expect_json(r.out, "--json store 7777");
    ctl_expect_has(r.out, "\"config\":{\"file\":", "--json store 7777");
    ctl_expect_has(r.out, "\"read\":true,\"found\":false}", "--json store 7777");
    ctl_run_free(&r);
    harness_pass(h);
}

/* Stores for today's rejections, in Asia/Shanghai: 1004 has one slot and
 * 10 minutes a two-drink order (harness_order_fill), so a second order
 * would be ready in 20 minutes, past max_wait_minutes 15: STORE_BUSY;
 * 1005 is paused: STORE_PAUSED. */
static const char s_reject_body[] =
    "stores = (\n"
    "  { id = 1001; name = \"probe\"; location = [30.27, 120.03]; prep_slots = 1000;"
    " item_seconds = 1; max_wait_minutes = 600; max_queue = 100000; },\n"
    "  { id = 1004; name = \"one slot\"; location = [30.27, 120.03]; prep_slots = 1;"
    " item_seconds = 300; order_seconds = 0; max_wait_minutes = 15; max_queue = 100;"
    " timezone = \"Asia/Shanghai\"; },\n"
    "  { id = 1005; name = \"paused\"; location = [30.27, 120.03]; prep_slots = 4;"
    " item_seconds = 1; max_wait_minutes = 30; max_queue = 100; paused = true;"
    " timezone = \"Asia/Shanghai\"; }\n"
    ");\n";

static void s_submit_expect(harness_client_t *c, const char *id, uint32_t store, int decision,
                            int reason)
{
    harness_order_t *o = malloc(sizeof *o);
    assert_non_null(o);
    harness_order_fill(o, id, store);
    Sluice__V1__Reply *r = harness_submit(c, o, S_REPLY_MS);
    harness_expect_ack(r, decision, reason, id);
    harness_reply_free(&r);
    free(o);
}

/* s_shanghai_clock: wall MS as HH:MM:SS in Asia/Shanghai (UTC+8 all year). */
static void s_shanghai_clock(uint64_t ms, char *out, size_t len)
{
    uint64_t s = (ms / 1000u + 8u * 3600u) % 86400u;
    snprintf(out, len, "%02u:%02u:%02u", (unsigned)(s / 3600u), (unsigned)(s / 60u % 60u),
             (unsigned)(s % 60u));
}

/* s_expect_since: the "since HH:MM:SS" in TEXT (after NEEDLE) lies between
 * the clocks LO and HI. Returns it in OUT. */
static void s_expect_since(const char *text, const char *needle, const char *lo, const char *hi,
                           char *out, size_t len)
{
    const char *p = strstr(text, needle);
    if (p == NULL)
        fail_msg("no %s in:\n%s", needle, text);
    p += strlen(needle);
    snprintf(out, len, "%.8s", p);
    if (strcmp(out, lo) < 0 || strcmp(out, hi) > 0)
        fail_msg("counting since %s, not between the daemon's start %s and %s:\n%s", out, lo,
                 hi, text);
}

#define ZERO_REJECTED(busy, paused)                                                        \
    "\"rejected\":{\"STORE_BUSY\":" #busy ",\"STORE_PAUSED\":" #paused ",\"STORE_CLOSED\":0," \
    "\"OVERLOADED\":0,\"NO_RIDERS\":0,\"UNAVAILABLE\":0,\"CAMPAIGN_LIMIT\":0}"

/* Today's rejections come from the running daemon's memory, by reason, with
 * the local time they count from; a restart counts from zero again, and a
 * stopped daemon leaves the old wording. Like test_store_summary, a run
 * across Shanghai's midnight (16:00 UTC) would see the counts start over. */
static void test_store_rejected_today(void **state)
{
    harness_t *h = *state;
    char lo[16], hi[16], since[16];
    s_shanghai_clock(harness_wall_ms(), lo, sizeof lo);
    harness_boot_text(h, NULL, s_reject_body);
    harness_client_t *c = harness_client_new(h, ZMQ_DEALER);
    const int ok = SLUICE__V1__DECISION__ACCEPTED, no = SLUICE__V1__DECISION__REJECTED;
    s_submit_expect(c, "rj-1", 1004, ok, SLUICE__V1__REASON__REASON_NONE);
    s_submit_expect(c, "rj-1", 1004, ok, SLUICE__V1__REASON__REASON_NONE);  /* duplicate */
    s_submit_expect(c, "rj-2", 1004, no, SLUICE__V1__REASON__STORE_BUSY);
    s_submit_expect(c, "rj-3", 1004, no, SLUICE__V1__REASON__STORE_BUSY);
    s_submit_expect(c, "rj-3", 1004, no, SLUICE__V1__REASON__STORE_BUSY);   /* asked again */
    s_submit_expect(c, "rj-4", 1005, no, SLUICE__V1__REASON__STORE_PAUSED);
    s_submit_expect(c, "rj-5", 1005, no, SLUICE__V1__REASON__STORE_PAUSED);
    s_submit_expect(c, "rj-6", 9999, no, SLUICE__V1__REASON__UNKNOWN_STORE); /* no store */
    harness_client_destroy(&c);
    s_shanghai_clock(harness_wall_ms(), hi, sizeof hi);
    char *date = harness_db_value(h, "SELECT to_char(now() AT TIME ZONE 'Asia/Shanghai',"
                                     " 'YYYY-MM-DD')", 0);
    assert_non_null(date);

    ctl_run_t r = ctl_run(h, "-c", h->conf_path, "store", "1004", NULL);
    ctl_expect_rc(&r, 0, "store 1004");
    ctl_expect_field(r.out, "  accepted", "1");
    s_expect_since(r.out, "  rejected          3 since ", lo, hi, since, sizeof since);
    ctl_expect_has(r.out, " local (counted in memory by the running daemon, which accepted 1 in"
                          " that time)\n", "store 1004");
    ctl_expect_field(r.out, "    STORE_BUSY", "3");
    ctl_expect_field(r.out, "    STORE_PAUSED", "0");
    ctl_expect_field(r.out, "    STORE_CLOSED", "0");
    ctl_expect_field(r.out, "    OVERLOADED", "0");
    ctl_expect_field(r.out, "    NO_RIDERS", "0");
    ctl_expect_field(r.out, "    UNAVAILABLE", "0");
    ctl_expect_field(r.out, "    CAMPAIGN_LIMIT", "0");
    ctl_expect_lacks(r.out, "UNKNOWN_STORE", "store 1004");
    ctl_run_free(&r);

    r = ctl_run(h, "-c", h->conf_path, "--json", "store", "1004", NULL);
    ctl_expect_rc(&r, 0, "--json store 1004");
    s_expect_json(r.out, "--json store 1004");
    char want[512];
    snprintf(want, sizeof want,
             ZERO_REJECTED(3, 0) ",\"rejected_total\":3,\"rejected_since\":\"%s\","
             "\"rejected_since_midnight\":false,\"rejected_note\":\"counted in memory",
             since);
    ctl_expect_has(r.out, want, "--json store 1004");
    snprintf(want, sizeof want,
             "\"today\":{\"date\":\"%s\",\"timezone\":\"Asia/Shanghai\",\"since\":\"%s\","
             "\"since_midnight\":false,\"accepted\":1," ZERO_REJECTED(3, 0) "}}",
             date, since);
    ctl_expect_has(r.out, want, "--json store 1004, the daemon's part");
    ctl_run_free(&r);

    r = ctl_run(h, "-c", h->conf_path, "store", "1005", NULL);
    ctl_expect_rc(&r, 0, "store 1005");
    ctl_expect_has(r.out, "  rejected          2 since ", "store 1005");
    ctl_expect_field(r.out, "    STORE_PAUSED", "2");
    ctl_expect_field(r.out, "    STORE_BUSY", "0");
    ctl_run_free(&r);
    r = ctl_run(h, "-c", h->conf_path, "--json", "store", "1005", NULL);
    ctl_expect_rc(&r, 0, "--json store 1005");
    s_expect_json(r.out, "--json store 1005");
    ctl_expect_has(r.out, ZERO_REJECTED(0, 2) ",\"rejected_total\":2,", "--json store 1005");
    ctl_run_free(&r);

    /* stopped: PostgreSQL alone cannot say */
    assert_int_equal(harness_stop(h, 10000), 0);
    r = ctl_run(h, "-c", h->conf_path, "store", "1004", NULL);
    ctl_expect_rc(&r, 0, "store 1004, daemon stopped");
    ctl_expect_field(r.out, "  rejected",
                     "not stored in PostgreSQL: only the running daemon counts rejections");
    ctl_expect_lacks(r.out, "STORE_BUSY", "store 1004, daemon stopped");
    ctl_run_free(&r);
    r = ctl_run(h, "-c", h->conf_path, "--json", "store", "1004", NULL);
    ctl_expect_rc(&r, 0, "--json store 1004, daemon stopped");
    ctl_expect_has(r.out, "\"rejected\":null,\"rejected_total\":null,\"rejected_since\":null,"
                          "\"rejected_since_midnight\":false,\"rejected_note\":\"not stored",
                   "--json store 1004, daemon stopped");
    ctl_run_free(&r);

    /* restarted: memory only, so counting starts again from the restart */
    s_shanghai_clock(harness_wall_ms(), lo, sizeof lo);
    harness_start(h);
    assert_true(harness_wait_ready(h, 20000));
    s_shanghai_clock(harness_wall_ms(), hi, sizeof hi);
    r = ctl_run(h, "-c", h->conf_path, "store", "1004", NULL);
    ctl_expect_rc(&r, 0, "store 1004, restarted");
    s_expect_since(r.out, "  rejected          0 since ", lo, hi, since, sizeof since);
    ctl_expect_field(r.out, "  accepted", "1");   /* PostgreSQL's count of the day */
    ctl_expect_field(r.out, "    STORE_BUSY", "0");
    ctl_run_free(&r);
    free(date);
    harness_pass(h);
}

static void test_not_found_and_usage(void **state)
{
    harness_t *h = *state;
    /* no daemon ever started: only the schema */
    harness_write_config_text(h, NULL, NULL, s_body);
    assert_int_equal(harness_migrate(h), 0);

    ctl_run_t r = ctl_run(h, "-c", h->conf_path, "order", "no-such-order", NULL);
    ctl_expect_rc(&r, 1, "unknown order");
    assert_string_equal(r.out, "");
    ctl_expect_has(r.err, "no order no-such-order in PostgreSQL", "unknown order");
    ctl_run_free(&r);
    /* --json: an answer on stdout even so, the exit status the same */
    r = ctl_run(h, "-c", h->conf_path, "--json", "order", "no-such-order", NULL);
    ctl_expect_rc(&r, 1, "--json unknown order");
    s_expect_json(r.out, "--json unknown order");
    ctl_expect_has(r.out, "{\"error\":{\"exit\":1,\"reason\":\"not_found\",\"message\":\"no "
                          "order no-such-order in PostgreSQL", "--json unknown order");
    ctl_run_free(&r);

    r = ctl_run(h, "-c", h->conf_path, "store", "4242", NULL);
    ctl_expect_rc(&r, 1, "unknown store");
    assert_string_equal(r.out, "");
    ctl_expect_has(r.err, "no store 4242 in", "unknown store");
    ctl_run_free(&r);

    static const char *const bad[][4] = {
        { "order", NULL },                       /* no id */
        { "order", "a b", NULL },                /* not an order id */
        { "order", "x", "y", NULL },             /* too many */
        { "store", "0", NULL },
        { "store", "4294967296", NULL },
        { "store", "12ab", NULL },
        { "frobnicate", "1", NULL },
        { "--no-such-option", "order", "x", NULL },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = ctl_run(h, "-c", h->conf_path, bad[i][0], bad[i][1], bad[i][2], bad[i][3], NULL);
        char what[128];
        snprintf(what, sizeof what, "usage error %zu (%s %s)", i, bad[i][0],
                 bad[i][1] ? bad[i][1] : "");
        ctl_expect_rc(&r, 2, what);
        assert_string_equal(r.out, "");
        ctl_run_free(&r);
    }
    r = ctl_run(h, NULL);
    ctl_expect_rc(&r, 2, "no command");
    ctl_expect_has(r.err, "usage: sluicectl", "no command");
    ctl_run_free(&r);
    /* no daemon runs here: the daemon's commands say so (test_control has
     * them against a running one) */
    r = ctl_run(h, "-c", h->conf_path, "pause", "1002", NULL);
    ctl_expect_rc(&r, 5, "pause, no daemon");
    ctl_expect_has(r.err, "daemon not reachable at ", "pause, no daemon");
    ctl_run_free(&r);

    /* a config that cannot be read, without --database */
    char missing[PATH_MAX];
    snprintf(missing, sizeof missing, "%s/missing.conf", h->tmpdir);
    r = ctl_run(h, "-c", missing, "order", "x", NULL);
    ctl_expect_rc(&r, 2, "missing config");
    ctl_expect_has(r.err, "missing.conf", "missing config");
    ctl_run_free(&r);
    r = ctl_run(h, "--help", NULL);
    ctl_expect_rc(&r, 0, "--help");
    ctl_expect_has(r.out, "order ID", "--help");
    ctl_run_free(&r);
    harness_pass(h);
}

static void test_database_unreachable(void **state)
{
    harness_t *h = *state;
    harness_write_config_text(h, NULL, NULL, s_body);
    assert_int_equal(harness_migrate(h), 0);

    /* nothing listens there; the password must not be shown */
    char dsn[PATH_MAX + 128];
    snprintf(dsn, sizeof dsn,
             "host=%s/nowhere port=5999 dbname=sluice user=support password=hunter2", h->tmpdir);
    ctl_run_t r = ctl_run(h, "--database", dsn, "order", "x", NULL);
    ctl_expect_rc(&r, 3, "--database to nowhere");
    assert_string_equal(r.out, "");
    char target[PATH_MAX + 64];
    snprintf(target, sizeof target, "PostgreSQL unreachable at host=%s/nowhere port=5999 "
                                    "dbname=sluice user=support", h->tmpdir);
    ctl_expect_has(r.err, target, "--database to nowhere");
    ctl_expect_lacks(r.err, "hunter2", "--database to nowhere");
    ctl_run_free(&r);
    r = ctl_run(h, "--database", "postgresql://support:hunter2@127.0.0.1:1/sluice", "--json",
              "store", "1002", NULL);
    ctl_expect_rc(&r, 3, "URI to a closed port");
    s_expect_json(r.out, "URI to a closed port");
    ctl_expect_has(r.out, "{\"error\":{\"exit\":3,\"reason\":\"postgresql_unreachable\",",
                   "URI to a closed port");
    ctl_expect_lacks(r.out, "hunter2", "URI");
    ctl_expect_has(r.err, "host=127.0.0.1 port=1 dbname=sluice user=support", "URI");
    ctl_expect_lacks(r.err, "hunter2", "URI");
    ctl_run_free(&r);

    /* the real server stopped: the config's database, named */
    harness_pg_stop(h);
    r = ctl_run(h, "-c", h->conf_path, "order", "x", NULL);
    ctl_expect_rc(&r, 3, "PostgreSQL stopped");
    snprintf(target, sizeof target, "PostgreSQL unreachable at host=%s/sock",
             getenv("SLUICE_TEST_PGDIR"));
    ctl_expect_has(r.err, target, "PostgreSQL stopped");
    ctl_expect_has(r.err, h->dbname, "PostgreSQL stopped");
    ctl_expect_has(r.err, "(from daemon.database)", "PostgreSQL stopped");
    ctl_run_free(&r);
    r = ctl_run(h, "-c", h->conf_path, "store", "1002", NULL);
    ctl_expect_rc(&r, 3, "PostgreSQL stopped: store");
    ctl_run_free(&r);
    harness_pg_start(h);
    harness_pass(h);
}

static void test_schema_not_migrated(void **state)
{
    harness_t *h = *state;
    harness_write_config_text(h, NULL, NULL, s_body);
    /* no --migrate: PostgreSQL refuses the query, which is not "not found" */
    ctl_run_t r = ctl_run(h, "-c", h->conf_path, "order", "x", NULL);
    ctl_expect_rc(&r, 4, "no schema");
    ctl_expect_has(r.err, "relation \"orders\" does not exist", "no schema");
    ctl_expect_has(r.err, "SQLSTATE 42P01", "no schema");
    ctl_run_free(&r);
    harness_pass(h);
}

int main(void)
{
    static const harness_case_t cases[] = {
        HARNESS_CASE(test_order_accepted_and_cancelled),
        HARNESS_CASE(test_order_dispatched_by_the_engine),
        HARNESS_CASE(test_store_summary),
        HARNESS_CASE(test_store_rejected_today),
        HARNESS_CASE(test_not_found_and_usage),
        HARNESS_CASE(test_database_unreachable),
        HARNESS_CASE(test_schema_not_migrated),
    };
    return harness_main("sluicectl", cases, HARNESS_COUNT(cases), NULL, NULL);
}
