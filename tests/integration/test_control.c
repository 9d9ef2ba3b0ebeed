/* test_control.c - the daemon's control socket and the sluicectl commands
 * that use it, end to end: real PostgreSQL, real sluiced, real sluice-sim
 * for a platform, the real sluicectl binary.
 *
 * platforms, stats and store against a running daemon; pause refuses the
 * next order with STORE_PAUSED, survives kill -9 and a restart (and is
 * logged at start and on reload), resume lets orders in again, and each
 * answers in JSON with --json; the read-only socket refuses pause and an
 * order (a customer's data) with PERMISSION_DENIED and answers reads;
 * another Unix user (nobody) reaches only the read-only socket, and sees no
 * customer's data; malformed frames on the control socket get an Error
 * naming what is wrong (a NUL byte in text too) while orders still come in;
 * sluicectl reload applies a capacity change and reports a refused file,
 * also when its own -c file is that broken file (order, store and stats go
 * on too); with the daemon stopped, platforms fails with exit 5 and store
 * answers from PostgreSQL. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <zmq.h>

#include "ctl_proc.h"
#include "harness.h"
#include "order.h"
#include "proto/control.pb-c.h"
#include "sim_proc.h"

#define S_REPLY_MS 10000
#define S_STORE 1002

/* 1002 is the store the tests pause; 1003 has little capacity (one slot,
 * ten minutes an order, fifteen at most) for the reload test. */
static const char s_body[] =
    "brands = ( { name = \"testbrand\"; orders_per_second = 1000000; } );\n"
    "stores = (\n"
    "  { id = 1001; name = \"probe\"; location = [30.27, 120.03]; prep_slots = 1000;"
    " item_seconds = 1; max_wait_minutes = 600; max_queue = 100000; },\n"
    "  { id = 1002; brand = \"testbrand\"; name = \"Tea Pause\"; location = [30.27, 120.03];"
    " prep_slots = 4; item_seconds = 1; order_seconds = 1; max_wait_minutes = 600;"
    " max_queue = 1000; },\n"
    "  { id = 1003; name = \"Tea Small\"; location = [30.27, 120.03]; prep_slots = %d;"
    " item_seconds = 1; order_seconds = 600; max_wait_minutes = 15; max_queue = 100; }\n"
    ");\n";

static char *s_body_with_slots(int slots)
{
    static char buf[2048];
    snprintf(buf, sizeof buf, s_body, slots);
    return buf;
}

/* s_submit sends order ID to STORE and returns the ack's reason
 * (REASON_NONE when accepted). */
static int s_submit(harness_t *h, const char *id, uint32_t store)
{
    harness_client_t *c = harness_client_new(h, ZMQ_DEALER);
    harness_order_t o;
    harness_order_fill(&o, id, store);
    Sluice__V1__Reply *r = harness_submit(c, &o, S_REPLY_MS);
    if (r == NULL || r->body_case != SLUICE__V1__REPLY__BODY_ACK)
        fail_msg("order %s: no ack", id);
    int reason = r->ack->decision == SLUICE__V1__DECISION__ACCEPTED ? 0 : (int)r->ack->reason;
    if (r->ack->decision == SLUICE__V1__DECISION__ACCEPTED)
        assert_int_equal(r->ack->reason, SLUICE__V1__REASON__REASON_NONE);
    harness_reply_free(&r);
    harness_client_destroy(&c);
    return reason;
}

/* s_line_of: the line of PATH holding NEEDLE (1-based). */
static int s_line_of(const char *path, const char *needle)
{
    char *text = harness_read_file(path);
    const char *at = strstr(text, needle);
    assert_non_null(at);
    int line = 1;
    for (const char *p = text; p < at; p++)
        line += *p == '\n';
    free(text);
    return line;
}

static void s_ro_endpoint(const harness_t *h, char *out, size_t len)
{
    snprintf(out, len, "ipc://%s/control-ro.sock", h->tmpdir);
}

/* ---- every read command against a running daemon ---- */

/* s_span: the text of JSON from FROM up to TO (malloc'ed); fails when
 * either is missing. */
static char *s_span(const char *json, const char *from, const char *to)
{
    const char *a = strstr(json, from);
    const char *b = a ? strstr(a, to) : NULL;
    if (b == NULL)
        fail_msg("no %s ... %s in:\n%s", from, to, json);
    return strndup(a, (size_t)(b - a));
}

/* s_expect_same_day: store answers A (PostgreSQL read by the daemon) and B
 * (read directly) hold the same live orders, latest promise and today. */
static void s_expect_same_day(const char *a, const char *b)
{
    static const char *const spans[][2] = {
        { "\"timezone\":", "\"now\":" },
        { "\"live\":{\"total\"", "\"promised_wait_seconds\"" },
        { "\"latest_promised_ready_at\"", "\"rejected\"" },
    };
    for (size_t i = 0; i < sizeof spans / sizeof spans[0]; i++) {
        char *x = s_span(a, spans[i][0], spans[i][1]), *y = s_span(b, spans[i][0], spans[i][1]);
        if (strcmp(x, y) != 0)
            fail_msg("the daemon's read and the direct one differ:\n%s\n%s", x, y);
        free(x);
        free(y);
    }
}

static void test_read_commands(void **state)
{
    harness_t *h = *state;
    sim_proc_t sim = {0};
    sim_proc_start(&sim, h->zctx, h->tmpdir, NULL, NULL);
    snprintf(h->platform_endpoint, sizeof h->platform_endpoint, "%s", sim.gateway);
    harness_boot_text(h, NULL, s_body_with_slots(1));
    assert_int_equal(s_submit(h, "rd-1", S_STORE), 0);
    assert_int_equal(s_submit(h, "rd-2", S_STORE), 0);

    /* platforms: the link to sluice-sim comes up on its own */
    uint64_t deadline = harness_now_ms() + 15000;
    ctl_run_t r;
    for (;;) {
        r = ctl_run(h, "-c", h->conf_path, "--json", "platforms", NULL);
        ctl_expect_rc(&r, 0, "--json platforms");
        if (strstr(r.out, "\"link_up\":true") != NULL || harness_now_ms() > deadline)
            break;
        ctl_run_free(&r);
        harness_nap_ms(100);
    }
    ctl_expect_has(r.out, "{\"source\":\"daemon\",\"endpoint\":\"ipc://", "--json platforms");
    ctl_expect_has(r.out, "\"name\":\"sim\",\"adapter\":\"zmq\",\"link_up\":true,"
                          "\"breaker\":\"closed\",\"inflight\":0,",
                   "--json platforms");
    ctl_expect_has(r.out, "\"error_ratio\":0,", "--json platforms");
    ctl_run_free(&r);
    r = ctl_run(h, "-c", h->conf_path, "platforms", NULL);
    ctl_expect_rc(&r, 0, "platforms");
    ctl_expect_has(r.out, "source: daemon at ipc://", "platforms");
    ctl_expect_has(r.out, "PLATFORM", "platforms");
    ctl_expect_has(r.out, "BREAKER", "platforms");
    ctl_expect_has(r.out, "  sim ", "platforms");
    ctl_expect_has(r.out, "closed", "platforms");
    ctl_run_free(&r);

    /* stats: the probe and our two accepted, one rejection by reason */
    assert_int_equal(s_submit(h, "rd-bad", 4242), SLUICE__V1__REASON__UNKNOWN_STORE);
    r = ctl_run(h, "-c", h->conf_path, "--json", "stats", NULL);
    ctl_expect_rc(&r, 0, "--json stats");
    ctl_expect_has(r.out, "\"decisions\":{\"ACCEPTED\":3,\"DUPLICATE\":0,\"STORE_BUSY\":0,"
                          "\"STORE_PAUSED\":0,\"STORE_CLOSED\":0,\"UNKNOWN_STORE\":1,",
                   "--json stats");
    ctl_expect_has(r.out, "\"intake\":{\"submitted\":4,", "--json stats");
    ctl_expect_has(r.out, "\"database_up\":true", "--json stats");
    ctl_expect_has(r.out, "\"batch_size_mean\":", "--json stats");
    ctl_run_free(&r);
    r = ctl_run(h, "-c", h->conf_path, "stats", NULL);
    ctl_expect_rc(&r, 0, "stats");
    ctl_expect_has(r.out, "decisions since start:", "stats");
    ctl_expect_field(r.out, "  UNKNOWN_STORE", "1");
    ctl_expect_has(r.out, "\ncommit latency      p50 <= ", "stats");
    ctl_run_free(&r);

    /* store: PostgreSQL's part and the daemon's live part */
    r = ctl_run(h, "-c", h->conf_path, "--json", "store", "1002", NULL);
    ctl_expect_rc(&r, 0, "--json store 1002");
    ctl_expect_has(r.out, "{\"source\":\"daemon+postgresql\",\"store_id\":1002,", "store json");
    ctl_expect_has(r.out, "\"daemon\":{\"endpoint\":\"ipc://", "store json");
    ctl_expect_has(r.out, "\"configured\":true,\"open_now\":true,\"paused\":false,"
                          "\"config_paused\":false,\"override\":null,\"prep_slots_now\":4,",
                   "store json");
    ctl_expect_has(r.out, "\"accepted\":2,", "store json");
    /* --database: the PostgreSQL half read directly, the same as the daemon's */
    ctl_run_t direct = ctl_run(h, "-c", h->conf_path, "--database", h->dsn, "--json", "store",
                               "1002", NULL);
    ctl_expect_rc(&direct, 0, "--json store 1002 --database");
    s_expect_same_day(r.out, direct.out);
    ctl_run_free(&direct);
    ctl_run_free(&r);
    /* 1003: one ten-minute order booked, so the next waits about twenty */
    assert_int_equal(s_submit(h, "rd-small", 1003), 0);
    r = ctl_run(h, "-c", h->conf_path, "store", "1003", NULL);
    ctl_expect_rc(&r, 0, "store 1003");
    ctl_expect_has(r.out, " (live) and PostgreSQL (its connection); times in UTC\n", "store 1003");
    ctl_expect_field(r.out, "  paused now", "no (config says no)");
    ctl_expect_field(r.out, "  slots now", "1");
    ctl_expect_field(r.out, "  queue", "0 orders waiting to start (max_queue 100)");
    ctl_expect_has(r.out, "\n  wait now          20 min ", "store 1003");
    ctl_run_free(&r);
    r = ctl_run(h, "-c", h->conf_path, "store", "4242", NULL);
    ctl_expect_rc(&r, 1, "store 4242");
    ctl_run_free(&r);

    assert_int_equal(harness_stop(h, 10000), 0);
    assert_int_equal(sim_proc_stop(&sim), 0);
    harness_pass(h);
}

/* ---- pause, kill -9, restart, reload, resume ---- */

static void test_pause_survives_restart(void **state)
{
    harness_t *h = *state;
    harness_boot_text(h, NULL, s_body_with_slots(1));
    assert_int_equal(s_submit(h, "ps-1", S_STORE), 0);

    ctl_run_t r = ctl_run(h, "-c", h->conf_path, "pause", "1002", NULL);
    ctl_expect_rc(&r, 0, "pause 1002");
    ctl_expect_has(r.out, "store 1002 paused by sluicectl override (config says paused = false)",
                   "pause 1002");
    ctl_run_free(&r);
    assert_int_equal(s_submit(h, "ps-2", S_STORE), SLUICE__V1__REASON__STORE_PAUSED);
    assert_int_equal(s_submit(h, "ps-other", 1001), 0);  /* only that store */
    assert_int_equal(harness_db_count(h, "SELECT count(*) FROM store_overrides WHERE store_id = "
                                         "1002 AND paused AND set_by LIKE 'sluicectl %'", 0),
                     1);
    /* a repeat is fine */
    r = ctl_run(h, "-c", h->conf_path, "pause", "1002", NULL);
    ctl_expect_rc(&r, 0, "pause 1002 again");
    ctl_run_free(&r);

    /* kill -9: the override is in PostgreSQL, and the next start applies it */
    harness_signal(h, SIGKILL);
    assert_int_equal(harness_wait_exit(h, 10000), 128 + SIGKILL);
    harness_start(h);
    off_t started = h->log_mark;
    assert_true(harness_wait_log(h, started,
                                 "start: store 1002 paused by sluicectl override (config says "
                                 "paused = false), set by sluicectl ",
                                 15000));
    assert_true(harness_wait_ready(h, 30000));
    assert_int_equal(s_submit(h, "ps-3", S_STORE), SLUICE__V1__REASON__STORE_PAUSED);
    r = ctl_run(h, "-c", h->conf_path, "store", "1002", NULL);
    ctl_expect_rc(&r, 0, "store 1002, paused");
    ctl_expect_has(r.out, "\n  paused now        yes (config says no; sluicectl override: "
                          "paused by sluicectl ",
                   "store 1002, paused");
    ctl_run_free(&r);

    /* a reload keeps it, and says so */
    off_t mark = harness_log_size(h);
    harness_signal(h, SIGHUP);
    assert_true(harness_wait_log(h, mark, "reload: store 1002 paused by sluicectl override", 10000));
    assert_int_equal(s_submit(h, "ps-4", S_STORE), SLUICE__V1__REASON__STORE_PAUSED);

    r = ctl_run(h, "-c", h->conf_path, "resume", "1002", NULL);
    ctl_expect_rc(&r, 0, "resume 1002");
    ctl_expect_has(r.out, "store 1002 override removed; the store takes orders", "resume 1002");
    ctl_run_free(&r);
    assert_int_equal(s_submit(h, "ps-5", S_STORE), 0);
    assert_int_equal(harness_db_count(h, "SELECT count(*) FROM store_overrides", 0), 0);

    /* a store the daemon does not have */
    r = ctl_run(h, "-c", h->conf_path, "pause", "4242", NULL);
    ctl_expect_rc(&r, 1, "pause 4242");
    ctl_expect_has(r.err, "NOT_FOUND", "pause 4242");
    ctl_run_free(&r);
    r = ctl_run(h, "-c", h->conf_path, "--json", "pause", "1002", NULL);
    ctl_expect_rc(&r, 0, "--json pause");
    ctl_expect_has(r.out, "{\"source\":\"daemon\",\"endpoint\":\"ipc://", "--json pause");
    ctl_expect_has(r.out, "\"store_id\":1002,\"paused\":true,\"config_paused\":false,"
                          "\"message\":\"store 1002 paused by sluicectl override", "--json pause");
    ctl_run_free(&r);
    r = ctl_run(h, "-c", h->conf_path, "--json", "resume", "1002", NULL);
    ctl_expect_rc(&r, 0, "--json resume");
    ctl_expect_has(r.out, "\"store_id\":1002,\"paused\":false,", "--json resume");
    ctl_run_free(&r);
    r = ctl_run(h, "-c", h->conf_path, "--json", "pause", "4242", NULL);
    ctl_expect_rc(&r, 1, "--json pause 4242");
    ctl_expect_has(r.out, "{\"error\":{\"exit\":1,\"reason\":\"not_found\",\"message\":\"the "
                          "daemon at ipc://", "--json pause 4242");
    ctl_run_free(&r);

    assert_int_equal(harness_stop(h, 10000), 0);
    harness_pass(h);
}

/* ---- the read-only socket ---- */

static void test_readonly_socket(void **state)
{
    harness_t *h = *state;
    harness_boot_text(h, NULL, s_body_with_slots(1));
    char ro[PATH_MAX + 16];
    s_ro_endpoint(h, ro, sizeof ro);

    /* the socket files' modes: write needs the group, read is for all */
    struct stat st;
    assert_int_equal(stat(h->control + 6, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0660);
    assert_int_equal(stat(ro + 6, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0666);

    ctl_run_t r = ctl_run(h, "--control", ro, "pause", "1002", NULL);
    ctl_expect_rc(&r, 6, "pause on the read-only socket");
    ctl_expect_has(r.err, "PERMISSION_DENIED", "pause on the read-only socket");
    ctl_expect_has(r.err, "read-only control socket", "pause on the read-only socket");
    ctl_run_free(&r);
    r = ctl_run(h, "--control", ro, "reload", NULL);
    ctl_expect_rc(&r, 6, "reload on the read-only socket");
    ctl_run_free(&r);
    assert_int_equal(s_submit(h, "ro-1", S_STORE), 0);  /* nothing was paused */
    assert_int_equal(harness_db_count(h, "SELECT count(*) FROM store_overrides", 0), 0);

    r = ctl_run(h, "--control", ro, "--json", "stats", NULL);
    ctl_expect_rc(&r, 0, "stats on the read-only socket");
    ctl_expect_has(r.out, "\"source\":\"daemon\"", "stats on the read-only socket");
    ctl_run_free(&r);
    r = ctl_run(h, "--control", ro, "platforms", NULL);
    ctl_expect_rc(&r, 0, "platforms on the read-only socket");
    ctl_run_free(&r);
    /* an order is a customer's data: not on the read-only socket; with a
     * database to read, sluicectl reads it itself (PostgreSQL's own
     * permissions decide), without one it stops there */
    r = ctl_run(h, "-c", h->conf_path, "--control", ro, "order", "ro-1", NULL);
    ctl_expect_rc(&r, 0, "order on the read-only socket");
    ctl_expect_has(r.out, "source: PostgreSQL (the daemon at ipc://", "order, read-only");
    ctl_expect_has(r.out, "control-ro.sock says PERMISSION_DENIED: permission denied: this is "
                          "the read-only control socket; an order shows a customer's data",
                   "order, read-only");
    ctl_expect_has(r.out, "\ntimeline: 1 event\n", "order on the read-only socket");
    ctl_run_free(&r);
    r = ctl_run(h, "--control", ro, "order", "ro-unknown", NULL);
    ctl_expect_rc(&r, 6, "order on the read-only socket, no database");
    ctl_expect_has(r.err, "PERMISSION_DENIED", "order on the read-only socket, no database");
    ctl_expect_has(r.err, "no database to read instead", "order, read-only, no database");
    ctl_run_free(&r);
    r = ctl_run(h, "--control", "ipc:///nonexistent/sluice.sock", "order", "ro-1", NULL);
    ctl_expect_rc(&r, 5, "order, no daemon and no config");
    ctl_expect_has(r.err, "no database to read instead", "order, no daemon and no config");
    ctl_run_free(&r);

    /* a config whose write socket cannot be reached: reads go to the
     * read-only one by themselves, writes do not */
    char alt[PATH_MAX], text[8192];
    snprintf(alt, sizeof alt, "%s/alt.conf", h->tmpdir);
    FILE *f = fopen(h->conf_path, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    char *at = strstr(text, "control = \"");
    assert_non_null(at);
    f = fopen(alt, "w");
    assert_non_null(f);
    fprintf(f, "%.*scontrol = \"ipc://%s/nobody.sock\"; control_readonly = \"%s\";\n%s",
            (int)(at - text), text, h->tmpdir, ro, strchr(at, '\n') + 1);
    fclose(f);
    r = ctl_run(h, "-c", alt, "--json", "stats", NULL);
    ctl_expect_rc(&r, 0, "stats, falling back to the read-only socket");
    ctl_expect_has(r.out, "control-ro.sock", "stats, falling back to the read-only socket");
    ctl_run_free(&r);
    r = ctl_run(h, "-c", alt, "pause", "1002", NULL);
    ctl_expect_rc(&r, 5, "pause, write socket unreachable");
    ctl_expect_has(r.err, "nobody.sock", "pause, write socket unreachable");
    ctl_run_free(&r);

    assert_int_equal(harness_stop(h, 10000), 0);
    harness_pass(h);
}

/* ---- roles, as another Unix user ---- */

/* What a local user outside the control group (nobody) may do: figures on
 * the read-only socket; no order (a customer's data), no pause, nothing on
 * the group's socket. The group (here root, the daemon's) may do it all. */
static void test_roles_as_another_user(void **state)
{
    harness_t *h = *state;
    if (geteuid() != 0) {
        print_message("skipped: running sluicectl as another user needs root (CI runs as root)\n");
        harness_pass(h);
        return;
    }
    const struct passwd *pw = getpwnam("nobody");
    assert_non_null(pw);
    harness_boot_text(h, NULL, s_body_with_slots(1));
    /* others may pass through the test's directory, as through /run/sluice */
    assert_int_equal(chmod(h->tmpdir, 0711), 0);
    harness_order_t o;
    harness_order_fill(&o, "who-1", S_STORE);
    snprintf(o.customer_ref, sizeof o.customer_ref, "customer-who-1");
    harness_client_t *c = harness_client_new(h, ZMQ_DEALER);
    Sluice__V1__Reply *rep = harness_submit(c, &o, S_REPLY_MS);
    harness_expect_ack(rep, SLUICE__V1__DECISION__ACCEPTED, SLUICE__V1__REASON__REASON_NONE, "who-1");
    harness_reply_free(&rep);
    harness_client_destroy(&c);
    char ro[PATH_MAX + 16];
    s_ro_endpoint(h, ro, sizeof ro);
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;

    /* figures: yes */
    ctl_run_t r = ctl_run_as(h, uid, gid, "--control", ro, "--json", "stats", NULL);
    ctl_expect_rc(&r, 0, "nobody: stats");
    ctl_run_free(&r);
    r = ctl_run_as(h, uid, gid, "--control", ro, "platforms", NULL);
    ctl_expect_rc(&r, 0, "nobody: platforms");
    ctl_run_free(&r);
    /* an order: refused, nothing of it shown, in text or JSON */
    r = ctl_run_as(h, uid, gid, "--control", ro, "order", "who-1", NULL);
    ctl_expect_rc(&r, 6, "nobody: order");
    ctl_expect_has(r.err, "PERMISSION_DENIED", "nobody: order");
    ctl_expect_lacks(r.out, "customer-who-1", "nobody: order");
    ctl_expect_lacks(r.err, "customer-who-1", "nobody: order");
    ctl_run_free(&r);
    r = ctl_run_as(h, uid, gid, "--control", ro, "--json", "order", "who-1", NULL);
    ctl_expect_rc(&r, 6, "nobody: --json order");
    ctl_expect_has(r.out, "{\"error\":{\"exit\":6,\"reason\":\"permission_denied\",",
                   "nobody: --json order");
    ctl_expect_lacks(r.out, "customer-who-1", "nobody: --json order");
    ctl_run_free(&r);
    /* writes: no, on either socket; the group's socket file keeps nobody out */
    r = ctl_run_as(h, uid, gid, "--control", ro, "pause", "1002", NULL);
    ctl_expect_rc(&r, 6, "nobody: pause on the read-only socket");
    ctl_run_free(&r);
    r = ctl_run_as(h, uid, gid, "--control", h->control, "pause", "1002", NULL);
    ctl_expect_rc(&r, 6, "nobody: pause on the group's socket");
    ctl_expect_has(r.err, "permission denied on ", "nobody: the group's socket");
    ctl_run_free(&r);
    r = ctl_run_as(h, uid, gid, "--control", h->control, "order", "who-1", NULL);
    ctl_expect_rc(&r, 6, "nobody: order on the group's socket");
    ctl_expect_lacks(r.out, "customer-who-1", "nobody: order on the group's socket");
    ctl_run_free(&r);
    assert_int_equal(harness_db_count(h, "SELECT count(*) FROM store_overrides", 0), 0);

    /* the group: the order, the customer included */
    r = ctl_run(h, "--control", h->control, "order", "who-1", NULL);
    ctl_expect_rc(&r, 0, "the group: order");
    ctl_expect_field(r.out, "customer", "customer-who-1");
    ctl_run_free(&r);
    assert_int_equal(chmod(h->tmpdir, 0700), 0);
    assert_int_equal(harness_stop(h, 10000), 0);
    harness_pass(h);
}

/* ---- malformed requests ---- */

/* s_raw sends LEN bytes to the control socket and returns the reply. */
static Sluice__Control__V1__Reply *s_raw(harness_t *h, const char *endpoint, const void *data,
                                         size_t len)
{
    void *sock = zmq_socket(h->zctx, ZMQ_REQ);
    assert_non_null(sock);
    int timeout = S_REPLY_MS, linger = 0;
    zmq_setsockopt(sock, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_connect(sock, endpoint), 0);
    assert_int_equal(zmq_send(sock, data, len, 0), (int)len);
    char buf[8192];
    int n = zmq_recv(sock, buf, sizeof buf, 0);
    zmq_close(sock);
    if (n < 0)
        fail_msg("no reply from %s", endpoint);
    Sluice__Control__V1__Reply *r = sluice__control__v1__reply__unpack(NULL, (size_t)n,
                                                                       (uint8_t *)buf);
    assert_non_null(r);
    return r;
}

static void s_expect_error(Sluice__Control__V1__Reply *r, int code, const char *needle)
{
    assert_int_equal(r->version, SLUICE__CONTROL__V1__VERSION__VERSION_CURRENT);
    if (r->body_case != SLUICE__CONTROL__V1__REPLY__BODY_ERROR)
        fail_msg("expected an Error with \"%s\", got body %d", needle, (int)r->body_case);
    if ((int)r->error->code != code || strstr(r->error->message, needle) == NULL)
        fail_msg("expected Error %d with \"%s\", got %d \"%s\"", code, needle,
                 (int)r->error->code, r->error->message);
    sluice__control__v1__reply__free_unpacked(r, NULL);
}

static void s_send_request(harness_t *h, Sluice__Control__V1__Request *req, int code,
                           const char *needle)
{
    uint8_t buf[512];
    size_t n = sluice__control__v1__request__pack(req, buf);
    s_expect_error(s_raw(h, h->control, buf, n), code, needle);
}

static void test_malformed_requests(void **state)
{
    harness_t *h = *state;
    harness_boot_text(h, NULL, s_body_with_slots(1));

    static const char junk[] = "\xff\xff\xff\xff not a protobuf";
    s_expect_error(s_raw(h, h->control, junk, sizeof junk - 1),
                   SLUICE__CONTROL__V1__ERROR__CODE__BAD_REQUEST,
                   "not a sluice.control.v1.Request");

    Sluice__Control__V1__Request req = SLUICE__CONTROL__V1__REQUEST__INIT;
    Sluice__Control__V1__StatsRequest stats = SLUICE__CONTROL__V1__STATS_REQUEST__INIT;
    req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_STATS;
    req.stats = &stats;
    s_send_request(h, &req, SLUICE__CONTROL__V1__ERROR__CODE__UNSUPPORTED_VERSION, "version: 0");

    req.version = SLUICE__CONTROL__V1__VERSION__VERSION_CURRENT;
    req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY__NOT_SET;
    s_send_request(h, &req, SLUICE__CONTROL__V1__ERROR__CODE__BAD_REQUEST, "request: no body");

    Sluice__Control__V1__PauseRequest pause = SLUICE__CONTROL__V1__PAUSE_REQUEST__INIT;
    req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_PAUSE;
    req.pause = &pause;
    s_send_request(h, &req, SLUICE__CONTROL__V1__ERROR__CODE__BAD_REQUEST, "pause.store_id");
    pause.store_id = S_STORE;
    pause.by = "a\nb";
    s_send_request(h, &req, SLUICE__CONTROL__V1__ERROR__CODE__BAD_REQUEST, "pause.by");

    Sluice__Control__V1__OrderRequest order = SLUICE__CONTROL__V1__ORDER_REQUEST__INIT;
    req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_ORDER;
    req.order = &order;
    s_send_request(h, &req, SLUICE__CONTROL__V1__ERROR__CODE__BAD_REQUEST, "order.order_id");
    order.order_id = "a b";
    s_send_request(h, &req, SLUICE__CONTROL__V1__ERROR__CODE__BAD_REQUEST, "order.order_id");
    char long_id[ORDER_ID_MAX + 2];
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    order.order_id = long_id;
    s_send_request(h, &req, SLUICE__CONTROL__V1__ERROR__CODE__BAD_REQUEST, "order.order_id");

    /* a NUL byte inside text: refused naming the field, never cut short */
    order.order_id = "mf#1";
    uint8_t buf[512];
    size_t n = sluice__control__v1__request__pack(&req, buf);
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '#')
            buf[i] = '\0';
    s_expect_error(s_raw(h, h->control, buf, n), SLUICE__CONTROL__V1__ERROR__CODE__BAD_REQUEST,
                   "order.order_id: must not hold a NUL byte");
    req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_PAUSE;
    req.pause = &pause;  /* the oneof's member again */
    pause.by = "ops \xff\xfe";
    s_send_request(h, &req, SLUICE__CONTROL__V1__ERROR__CODE__BAD_REQUEST,
                   "pause.by: must be UTF-8 text");

    /* the daemon still takes orders and answers sluicectl */
    assert_int_equal(s_submit(h, "mf-1", S_STORE), 0);
    ctl_run_t r = ctl_run(h, "-c", h->conf_path, "stats", NULL);
    ctl_expect_rc(&r, 0, "stats after malformed requests");
    ctl_run_free(&r);
    assert_true(harness_log_contains(h, "control: refused a request", true));
    assert_int_equal(harness_stop(h, 10000), 0);
    harness_pass(h);
}

/* ---- order lookups on the daemon's support thread ---- */

/* s_order_burst sends COUNT OrderRequests for ORDER_ID at once on one
 * DEALER and counts the answers: *FOUND the order, *BUSY told to wait. */
static void s_order_burst(harness_t *h, const char *order_id, int count, int *found, int *busy)
{
    void *sock = zmq_socket(h->zctx, ZMQ_DEALER);
    assert_non_null(sock);
    int timeout = S_REPLY_MS, linger = 0;
    zmq_setsockopt(sock, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_connect(sock, h->control), 0);
    Sluice__Control__V1__OrderRequest body = SLUICE__CONTROL__V1__ORDER_REQUEST__INIT;
    body.order_id = (char *)order_id;
    Sluice__Control__V1__Request req = SLUICE__CONTROL__V1__REQUEST__INIT;
    req.version = SLUICE__CONTROL__V1__VERSION__VERSION_CURRENT;
    req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_ORDER;
    req.order = &body;
    uint8_t buf[256];
    for (int i = 0; i < count; i++) {
        req.request_id = (uint64_t)i + 1;
        size_t n = sluice__control__v1__request__pack(&req, buf);
        assert_int_equal(zmq_send(sock, "", 0, ZMQ_SNDMORE), 0);
        assert_int_equal(zmq_send(sock, buf, n, 0), (int)n);
    }
    *found = *busy = 0;
    for (int i = 0; i < count; i++) {
        char reply[8192];
        int empty = zmq_recv(sock, reply, sizeof reply, 0);
        int n = empty == 0 ? zmq_recv(sock, reply, sizeof reply, 0) : -1;
        if (n < 0)
            fail_msg("answer %d of %d: none within %d ms", i + 1, count, S_REPLY_MS);
        Sluice__Control__V1__Reply *r =
            sluice__control__v1__reply__unpack(NULL, (size_t)n, (uint8_t *)reply);
        assert_non_null(r);
        if (r->body_case == SLUICE__CONTROL__V1__REPLY__BODY_ORDER &&
            strcmp(r->order->order->order_id, order_id) == 0)
            (*found)++;
        else if (r->body_case == SLUICE__CONTROL__V1__REPLY__BODY_ERROR &&
                 r->error->code == SLUICE__CONTROL__V1__ERROR__CODE__UNAVAILABLE &&
                 strstr(r->error->message, "too many waiting") != NULL)
            (*busy)++;
        else
            fail_msg("answer %d of %d is neither the order nor \"too many waiting\"", i + 1,
                     count);
        sluice__control__v1__reply__free_unpacked(r, NULL);
    }
    zmq_close(sock);
}

static void test_order_lookups(void **state)
{
    harness_t *h = *state;
    harness_boot_text(h, NULL, s_body_with_slots(1));
    assert_int_equal(s_submit(h, "ol-1", S_STORE), 0);

    /* a burst: every request answered, at most SUPPORT_LOOKUPS_MAX (64)
     * waiting at once, the rest told to wait; the daemon keeps serving */
    int found, busy;
    s_order_burst(h, "ol-1", 300, &found, &busy);
    print_message("300 lookups at once: %d answered, %d told to wait\n", found, busy);
    assert_int_equal(found + busy, 300);
    assert_true(found >= 64);
    assert_true(busy > 0); /* the cap holds: 300 arrive within one pass or two */
    assert_int_equal(s_submit(h, "ol-2", S_STORE), 0);

    /* PostgreSQL down: the daemon cannot answer, sluicectl reads PostgreSQL
     * itself and says that it is unreachable */
    harness_pg_stop(h);
    ctl_run_t r = ctl_run(h, "-c", h->conf_path, "order", "ol-1", NULL);
    ctl_expect_rc(&r, 3, "order, PostgreSQL down");
    ctl_expect_has(r.err, "PostgreSQL unreachable at", "order, PostgreSQL down");
    ctl_run_free(&r);
    harness_pg_start(h);

    /* back: the support thread connects again by itself */
    bool again = false;
    for (int i = 0; i < 100 && !again; i++) {
        r = ctl_run(h, "-c", h->conf_path, "order", "ol-1", NULL);
        again = r.rc == 0 && strncmp(r.out, "source: daemon at ", 18) == 0;
        ctl_run_free(&r);
        if (!again)
            usleep(200 * 1000);
    }
    assert_true(again);
    assert_true(harness_log_contains(h, "support: order ol-1 not looked up", true));
    assert_int_equal(harness_stop(h, 10000), 0);
    harness_pass(h);
}

/* ---- reload through sluicectl ---- */

static void test_reload_capacity(void **state)
{
    harness_t *h = *state;
    harness_boot_text(h, NULL, s_body_with_slots(1));
    /* one slot: the second ten-minute order would be ready in twenty */
    assert_int_equal(s_submit(h, "rl-1", 1003), 0);
    assert_int_equal(s_submit(h, "rl-2", 1003), SLUICE__V1__REASON__STORE_BUSY);

    harness_write_config_text(h, NULL, NULL, s_body_with_slots(3));
    ctl_run_t r = ctl_run(h, "-c", h->conf_path, "reload", NULL);
    ctl_expect_rc(&r, 0, "reload");
    ctl_expect_has(r.out, "reloaded ", "reload");
    ctl_run_free(&r);
    assert_int_equal(s_submit(h, "rl-3", 1003), 0);

    /* a broken file is refused, said, and the running config stays */
    harness_write_config_text(h, NULL, NULL, "stores = ( { id = 0; } );\n");
    r = ctl_run(h, "--control", h->control, "reload", NULL);
    ctl_expect_rc(&r, 7, "reload of a broken file");
    ctl_expect_has(r.err, "FAILED", "reload of a broken file");
    ctl_expect_has(r.err, "refused; the running configuration stays", "reload of a broken file");
    ctl_run_free(&r);
    assert_int_equal(s_submit(h, "rl-4", 1003), 0);
    assert_int_equal(s_submit(h, "rl-5", 1003), SLUICE__V1__REASON__STORE_BUSY);

    harness_write_config_text(h, NULL, NULL, s_body_with_slots(3));
    r = ctl_run(h, "-c", h->conf_path, "--json", "stats", NULL);
    ctl_expect_rc(&r, 0, "stats after reloads");
    ctl_expect_has(r.out, "\"reloads\":1,\"reloads_refused\":1", "stats after reloads");
    ctl_run_free(&r);

    /* a typo in the file sluicectl reads itself: it says so, with FILE:LINE,
     * goes on with the daemon section's endpoints and database, and reload
     * carries the daemon's refusal (FILE:LINE too) with exit 7 */
    char *broken = strdup(s_body_with_slots(3));
    char *typo = strstr(broken, "prep_slots = 3;");
    assert_non_null(typo);
    memcpy(typo, "prep_slots ==3;", 15);
    harness_write_config_text(h, NULL, NULL, broken);
    free(broken);
    char where[PATH_MAX + 16];
    snprintf(where, sizeof where, "%s:%d", h->conf_path, s_line_of(h->conf_path, "==3;"));
    r = ctl_run(h, "-c", h->conf_path, "reload", NULL);
    ctl_expect_rc(&r, 7, "reload, sluicectl's own config broken");
    ctl_expect_has(r.err, "does not load", "reload, own config broken");
    ctl_expect_has(r.err, "going on with daemon.control from the file", "reload, own config broken");
    ctl_expect_has(r.err, "refused; the running configuration stays", "reload, own config broken");
    ctl_expect_has(strstr(r.err, "says FAILED"), where, "reload: the daemon's FILE:LINE");
    ctl_expect_has(r.err, where, "reload: sluicectl's FILE:LINE");
    ctl_run_free(&r);
    r = ctl_run(h, "-c", h->conf_path, "--json", "reload", NULL);
    ctl_expect_rc(&r, 7, "--json reload, broken");
    ctl_expect_has(r.out, "{\"error\":{\"exit\":7,\"reason\":\"daemon_refused\",", "--json reload");
    ctl_expect_has(r.out, where, "--json reload, broken");
    ctl_run_free(&r);
    r = ctl_run(h, "-c", h->conf_path, "--json", "stats", NULL);
    ctl_expect_rc(&r, 0, "stats, own config broken");
    ctl_expect_has(r.out, "\"reloads\":1,\"reloads_refused\":3", "stats, own config broken");
    ctl_run_free(&r);
    r = ctl_run(h, "-c", h->conf_path, "order", "rl-1", NULL);
    ctl_expect_rc(&r, 0, "order, own config broken");
    ctl_expect_has(r.out, "source: daemon at ipc://", "order, own config broken");
    ctl_run_free(&r);
    r = ctl_run(h, "-c", h->conf_path, "store", "1003", NULL);
    ctl_expect_rc(&r, 0, "store, own config broken");
    ctl_expect_has(r.out, " (live) and PostgreSQL (its connection)", "store, own config broken");
    ctl_expect_has(r.out, "not read (", "store, own config broken");
    ctl_run_free(&r);

    harness_write_config_text(h, NULL, NULL, s_body_with_slots(3));
    r = ctl_run(h, "-c", h->conf_path, "--json", "reload", NULL);
    ctl_expect_rc(&r, 0, "--json reload");
    ctl_expect_has(r.out, "{\"source\":\"daemon\",\"endpoint\":\"ipc://", "--json reload");
    ctl_expect_has(r.out, "\"message\":\"reloaded ", "--json reload");
    ctl_run_free(&r);
    r = ctl_run(h, "-c", h->conf_path, "--json", "stats", NULL);
    ctl_expect_rc(&r, 0, "stats after every reload");
    ctl_expect_has(r.out, "\"reloads\":2,\"reloads_refused\":3", "stats after every reload");
    ctl_run_free(&r);
    assert_int_equal(harness_stop(h, 10000), 0);
    harness_pass(h);
}

/* ---- no daemon ---- */

static void test_daemon_stopped(void **state)
{
    harness_t *h = *state;
    harness_boot_text(h, NULL, s_body_with_slots(1));
    assert_int_equal(s_submit(h, "dn-1", S_STORE), 0);
    /* kill -9 leaves the socket file behind: nothing listens there */
    harness_signal(h, SIGKILL);
    assert_int_equal(harness_wait_exit(h, 10000), 128 + SIGKILL);

    uint64_t t0 = harness_now_ms();
    ctl_run_t r = ctl_run(h, "-c", h->conf_path, "platforms", NULL);
    ctl_expect_rc(&r, 5, "platforms, daemon killed");
    ctl_expect_has(r.err, "daemon not reachable at ipc://", "platforms, daemon killed");
    ctl_expect_has(r.err, "sluiced is not running there", "platforms, daemon killed");
    assert_string_equal(r.out, "");
    ctl_run_free(&r);
    assert_true(harness_now_ms() - t0 < 1500);  /* no wait for a timeout */
    r = ctl_run(h, "-c", h->conf_path, "pause", "1002", NULL);
    ctl_expect_rc(&r, 5, "pause, daemon killed");
    ctl_run_free(&r);

    r = ctl_run(h, "-c", h->conf_path, "store", "1002", NULL);
    ctl_expect_rc(&r, 0, "store, daemon killed");
    ctl_expect_has(r.out, "source: PostgreSQL (daemon not reachable at ipc://", "store");
    ctl_expect_field(r.out, "  accepted", "1");
    ctl_run_free(&r);
    r = ctl_run(h, "-c", h->conf_path, "--json", "store", "1002", NULL);
    ctl_expect_rc(&r, 0, "--json store, daemon killed");
    ctl_expect_has(r.out, "{\"source\":\"postgresql\",", "--json store");
    ctl_expect_has(r.out, "\"daemon\":null,\"daemon_error\":\"daemon not reachable at ipc://",
                   "--json store");
    ctl_run_free(&r);

    /* a control endpoint where nobody ever answers: the timeout */
    char tcp[64];
    snprintf(tcp, sizeof tcp, "tcp://127.0.0.1:%d", harness_hold_port(h));
    r = ctl_run(h, "--control", tcp, "--timeout", "300", "stats", NULL);
    ctl_expect_rc(&r, 5, "stats, nobody at the endpoint");
    ctl_expect_has(r.err, "no answer within 300 ms", "stats, nobody at the endpoint");
    ctl_run_free(&r);
    harness_pass(h);
}

int main(void)
{
    static const harness_case_t cases[] = {
        HARNESS_CASE(test_read_commands),
        HARNESS_CASE(test_pause_survives_restart),
        HARNESS_CASE(test_readonly_socket),
        HARNESS_CASE(test_roles_as_another_user),
        HARNESS_CASE(test_malformed_requests),
        HARNESS_CASE(test_order_lookups),
        HARNESS_CASE(test_reload_capacity),
        HARNESS_CASE(test_daemon_stopped),
    };
    return harness_main("control", cases, HARNESS_COUNT(cases), NULL, NULL);
}
