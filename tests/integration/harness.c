/* harness.c - owns the integration tests' world: their main(), a fresh
 * database, a config, the real sluiced as a child process on the ports it
 * picks, ZeroMQ clients and libpq checks. */
#include "harness.h"

#include "clock.h"
#include "proc.h"

#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <zmq.h>

#define S_LOG_TAIL_BYTES (64 * 1024)
#define S_BOUND_MS 30000          /* for the "bound:" line; ASan builds start slower */

static unsigned s_db_counter;

static char *s_read_log(const char *path, off_t from, size_t *len_out);
static void s_pin_endpoints(harness_t *h);
static void s_read_bound(harness_t *h);

/* ---- time ---- */

/* The daemon's own clocks (base/clock.c), so tests and daemon agree. */
uint64_t harness_now_ms(void)
{
    return clock_mono_ms();
}

uint64_t harness_wall_ms(void)
{
    return clock_wall_ms();
}

void harness_nap_ms(int ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static const char *s_env(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0')
        fail_msg("environment variable %s is not set (run through tests/run-integration.sh)",
                 name);
    return v;
}

/* ---- PostgreSQL ---- */

static PGconn *s_connect(const char *dbname)
{
    char dsn[1200];
    snprintf(dsn, sizeof dsn, "%s dbname=%s connect_timeout=5", s_env("SLUICE_TEST_DSN_BASE"),
             dbname);
    PGconn *conn = PQconnectdb(dsn);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "harness: failed to connect to %s: %s", dsn, PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    PQsetNoticeProcessor(conn, NULL, NULL);
    return conn;
}

PGconn *harness_db(harness_t *h)
{
    if (h->pg != NULL && PQstatus(h->pg) != CONNECTION_OK) {
        PQfinish(h->pg);
        h->pg = NULL;
    }
    if (h->pg == NULL)
        h->pg = s_connect(h->dbname);
    return h->pg;
}

/* s_query runs SQL once, retrying once on a fresh connection when the old one
 * was lost (the server may have been restarted by the test). */
static PGresult *s_query(harness_t *h, const char *sql, int nparams, const char *const *params)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        PGconn *conn = harness_db(h);
        if (conn == NULL)
            return NULL;
        PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
            return res;
        fprintf(stderr, "harness: query failed: %s: %s", sql, PQerrorMessage(conn));
        PQclear(res);
        if (PQstatus(conn) == CONNECTION_OK)
            return NULL;
        PQfinish(h->pg);
        h->pg = NULL;
    }
    return NULL;
}

static char *s_value_v(harness_t *h, const char *sql, int nparams, va_list ap)
{
    const char *params[16];
    assert_true(nparams >= 0 && nparams <= 16);
    for (int i = 0; i < nparams; i++)
        params[i] = va_arg(ap, const char *);
    PGresult *res = s_query(h, sql, nparams, params);
    if (res == NULL)
        return NULL;
    char *out = NULL;
    if (PQntuples(res) > 0 && PQnfields(res) > 0 && !PQgetisnull(res, 0, 0))
        out = strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return out;
}

char *harness_db_value(harness_t *h, const char *sql, int nparams, ...)
{
    va_list ap;
    va_start(ap, nparams);
    char *v = s_value_v(h, sql, nparams, ap);
    va_end(ap);
    return v;
}

long harness_db_count(harness_t *h, const char *sql, int nparams, ...)
{
    va_list ap;
    va_start(ap, nparams);
    char *v = s_value_v(h, sql, nparams, ap);
    va_end(ap);
    if (v == NULL)
        return -1;
    long n = strtol(v, NULL, 10);
    free(v);
    return n;
}

long harness_db_missing(harness_t *h, char *const *ids, size_t n, char *first, size_t first_len)
{
    if (first != NULL && first_len > 0)
        first[0] = '\0';
    if (n == 0)
        return 0;
    size_t cap = 3;
    for (size_t i = 0; i < n; i++)
        cap += strlen(ids[i]) + 3;
    char *arr = malloc(cap);
    assert_non_null(arr);
    size_t pos = 0;
    arr[pos++] = '{';
    for (size_t i = 0; i < n; i++) {
        /* ids are [A-Za-z0-9._:-]; quoting keeps any other text literal */
        pos += (size_t)sprintf(arr + pos, "%s\"%s\"", i ? "," : "", ids[i]);
    }
    arr[pos++] = '}';
    arr[pos] = '\0';
    const char *params[1] = { arr };
    PGresult *res = s_query(h,
                            "SELECT x FROM unnest($1::text[]) AS x "
                            "WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.order_id = x)",
                            1, params);
    free(arr);
    if (res == NULL)
        return -1;
    long missing = PQntuples(res);
    if (missing > 0 && first != NULL && first_len > 0)
        snprintf(first, first_len, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return missing;
}

static void s_pgtmp(const char *cmd)
{
    char line[PATH_MAX * 2 + 64];
    snprintf(line, sizeof line, "sh '%s/pgtmp.sh' %s '%s' >/dev/null", s_env("SLUICE_TOOLS"), cmd,
             s_env("SLUICE_TEST_PGDIR"));
    int rc = system(line);
    if (rc != 0)
        fprintf(stderr, "harness: `%s` exited with %d\n", line, rc);
}

int harness_http_get(harness_t *h, const char *path, char *body, size_t len)
{
    return harness_http_get_at(h->http, path, body, len);
}

int harness_http_get_at(const char *http, const char *path, char *body, size_t len)
{
    const char *colon = strrchr(http, ':');
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n", path);
    static char buf[1 << 20];
    size_t got = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    for (;;) {
        ssize_t r = read(fd, buf + got, sizeof buf - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    int status = -1;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    const char *start = strstr(buf, "\r\n\r\n");
    snprintf(body, len, "%s", start ? start + 4 : "");
    return status;
}

void harness_pg_stop(harness_t *h)
{
    if (h->pg != NULL) {
        PQfinish(h->pg);
        h->pg = NULL;
    }
    h->pg_stopped = true;
    s_pgtmp("stop");
}

pid_t harness_pg_stop_begin(harness_t *h)
{
    if (h->pg != NULL) {
        PQfinish(h->pg);
        h->pg = NULL;
    }
    h->pg_stopped = true;
    char script[PATH_MAX];
    snprintf(script, sizeof script, "%s/pgtmp.sh", s_env("SLUICE_TOOLS"));
    const char *argv[] = { "sh", script, "stop", s_env("SLUICE_TEST_PGDIR"), NULL };
    const proc_spec_t spec = { .argv = argv, .out = "/dev/null" };
    pid_t pid = proc_spawn(&spec);
    if (pid < 0)
        fail_msg("failed to run %s stop", script);
    return pid;
}

void harness_pg_start(harness_t *h)
{
    s_pgtmp("start");
    /* poll until the server answers, so callers can rely on it */
    char dsn[1200];
    snprintf(dsn, sizeof dsn, "%s dbname=postgres connect_timeout=2", s_env("SLUICE_TEST_DSN_BASE"));
    uint64_t deadline = harness_now_ms() + 30000;
    while (PQping(dsn) != PQPING_OK) {
        if (harness_now_ms() > deadline)
            fail_msg("PostgreSQL did not come back after pgtmp.sh start");
        harness_nap_ms(50);
    }
    h->pg_stopped = false;
}

static bool s_pg_running(void)
{
    char dsn[1200];
    snprintf(dsn, sizeof dsn, "%s dbname=postgres connect_timeout=2", s_env("SLUICE_TEST_DSN_BASE"));
    return PQping(dsn) == PQPING_OK;
}

/* ---- temp dir ---- */

static int s_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void harness_rmtemp(const char *dir)
{
    if (dir[0] == '\0')
        return;
    if (getenv("SLUICE_TEST_KEEP") != NULL)
        fprintf(stderr, "harness: kept %s\n", dir);
    else
        nftw(dir, s_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- fixtures ---- */

int harness_setup(void **state)
{
    harness_t *h = calloc(1, sizeof *h);
    assert_non_null(h);
    *state = h;

    if (!harness_mkdtemp(h->tmpdir, sizeof h->tmpdir, "sluice-it"))
        fail_msg("failed to create temp dir %s: %s", h->tmpdir, strerror(errno));
    snprintf(h->conf_path, sizeof h->conf_path, "%s/sluice.conf", h->tmpdir);
    snprintf(h->log_path, sizeof h->log_path, "%s/sluiced.log", h->tmpdir);

    if (!s_pg_running()) {
        fprintf(stderr, "harness: PostgreSQL was down at setup; starting it\n");
        harness_pg_start(h);
    }
    snprintf(h->dbname, sizeof h->dbname, "t_%ld_%u_%u", (long)getpid(), s_db_counter++,
             (unsigned)(harness_wall_ms() % 100000u));
    PGconn *admin = s_connect("postgres");
    if (admin == NULL)
        fail_msg("cannot reach the test PostgreSQL");
    char sql[160];
    snprintf(sql, sizeof sql, "CREATE DATABASE \"%s\"", h->dbname);
    PGresult *res = PQexec(admin, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(admin));
        PQclear(res);
        PQfinish(admin);
        fail_msg("failed to create database %s: %s", h->dbname, msg);
    }
    PQclear(res);
    PQfinish(admin);
    snprintf(h->dsn, sizeof h->dsn, "%s dbname=%s", s_env("SLUICE_TEST_DSN_BASE"), h->dbname);

    h->zctx = zmq_ctx_new();
    assert_non_null(h->zctx);
    return 0;
}

void harness_pass(harness_t *h)
{
    h->passed = true;
}

int harness_teardown(void **state)
{
    harness_t *h = *state;
    if (h == NULL)
        return 0;
    if (h->pid > 0) {
        proc_signal(h->pid, SIGKILL);
        (void)proc_wait(h->pid, -1);
        h->pid = 0;
    }
    for (size_t i = 0; i < h->held_count; i++)
        close(h->held[i]);
    if (h->pg_stopped || !s_pg_running()) {
        fprintf(stderr, "harness: restarting PostgreSQL the test left stopped\n");
        s_pgtmp("start");
        h->pg_stopped = false;
    }
    if (!h->passed)
        harness_dump_log(h);
    if (h->pg != NULL)
        PQfinish(h->pg);
    /* a failed test jumped past its own cleanup: close what it left open,
     * or zmq_ctx_term would wait for those sockets forever */
    while (h->clients != NULL) {
        harness_client_t *c = h->clients;
        harness_client_destroy(&c);
    }
    if (h->zctx != NULL)
        zmq_ctx_term(h->zctx);
    harness_rmtemp(h->tmpdir);
    free(h);
    *state = NULL;
    return 0;
}

/* ---- the runner ---- */

int harness_main(const char *group, const harness_case_t *cases, size_t n,
                 int (*setup)(void **state), int (*teardown)(void **state))
{
    static const char *const required[] = { "SLUICE_TEST_PGDIR", "SLUICE_TEST_DSN_BASE",
                                            "SLUICE_BIN", "SLUICE_TOOLS" };
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        const char *v = getenv(required[i]);
        if (v == NULL || v[0] == '\0') {
            fprintf(stderr, "%s: %s is not set (run through tests/run-integration.sh)\n", group,
                    required[i]);
            return 1;
        }
    }
    if (access(getenv("SLUICE_BIN"), X_OK) != 0) {
        fprintf(stderr, "%s: SLUICE_BIN %s cannot be run: %s\n", group, getenv("SLUICE_BIN"),
                strerror(errno));
        return 1;
    }
    /* a daemon that dies while a test writes to it fails that test, not the run */
    signal(SIGPIPE, SIG_IGN);
    const char *filter = getenv("SLUICE_TEST_FILTER");
    if (filter != NULL && filter[0] != '\0')
        cmocka_set_test_filter(filter);
    struct CMUnitTest *tests = calloc(n, sizeof *tests);
    if (tests == NULL) {
        fprintf(stderr, "%s: out of memory\n", group);
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        tests[i] = (struct CMUnitTest){ .name = cases[i].name,
                                        .test_func = cases[i].test,
                                        .setup_func = setup != NULL ? setup : harness_setup,
                                        .teardown_func =
                                            teardown != NULL ? teardown : harness_teardown };
    /* what cmocka_run_group_tests_name expands to, for an array built here */
    int failed = _cmocka_run_group_tests(group, tests, n, NULL, NULL);
    free(tests);
    return failed;
}

/* ---- ports and config ---- */

int harness_hold_port(harness_t *h)
{
    assert_true(h->held_count < HARNESS_HELD_MAX);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    h->held[h->held_count++] = fd;
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = 0 };
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    socklen_t len = sizeof addr;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    return ntohs(addr.sin_port);
}

/* s_wildcard: does ENDPOINT leave the port to whoever binds it? */
static bool s_wildcard(const char *endpoint)
{
    size_t n = strlen(endpoint);
    return n >= 2 && endpoint[n - 2] == ':' && (endpoint[n - 1] == '*' || endpoint[n - 1] == '0');
}

/* s_choose_endpoints fills what neither the test nor an earlier write set:
 * wildcards for sluiced to bind, the control socket in the temp dir, and a
 * held port for platform "sim". */
static void s_choose_endpoints(harness_t *h)
{
    struct {
        char *conf, *client;
        size_t size;
        const char *wildcard;
    } keys[] = {
        { h->conf_ingress, h->ingress, sizeof h->ingress, "tcp://127.0.0.1:*" },
        { h->conf_events, h->events, sizeof h->events, "tcp://127.0.0.1:*" },
        { h->conf_http, h->http, sizeof h->http, "127.0.0.1:0" },
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (keys[i].conf[0] == '\0')
            snprintf(keys[i].conf, keys[i].size, "%s",
                     keys[i].client[0] != '\0' ? keys[i].client : keys[i].wildcard);
        if (keys[i].client[0] == '\0')
            snprintf(keys[i].client, keys[i].size, "%s", keys[i].conf);
    }
    if (h->control[0] == '\0')
        snprintf(h->control, sizeof h->control, "ipc://%s/control.sock", h->tmpdir);
    if (h->platform_endpoint[0] == '\0')
        snprintf(h->platform_endpoint, sizeof h->platform_endpoint, "tcp://127.0.0.1:%d",
                 harness_hold_port(h));
}

/* s_exited: has the daemon exited? Leaves it to be reaped by whoever waits. */
static bool s_exited(harness_t *h)
{
    siginfo_t info = { 0 };
    return waitid(P_PID, (id_t)h->pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           info.si_pid == h->pid;
}

/* s_bound_value copies the endpoint after " KEY " in LINE, up to the next
 * comma or the end of the line, to OUT. */
static bool s_bound_value(const char *line, const char *key, char *out, size_t len)
{
    char needle[32];
    snprintf(needle, sizeof needle, " %s ", key);
    const char *at = strstr(line, needle);
    if (at == NULL)
        return false;
    at += strlen(needle);
    size_t n = strcspn(at, ",\n");
    if (n == 0 || n >= len)
        return false;
    memcpy(out, at, n);
    out[n] = '\0';
    return true;
}

/* s_read_bound waits for the "bound:" log line of the daemon just started
 * (server.c) and points the endpoints the config leaves to sluiced at what
 * it bound. A daemon that exits first is left for the test to see. */
static void s_read_bound(harness_t *h)
{
    uint64_t deadline = harness_now_ms() + S_BOUND_MS;
    for (;;) {
        char *log = s_read_log(h->log_path, h->log_mark, NULL);
        const char *line = strstr(log, "bound: ingress ");
        if (line != NULL && strchr(line, '\n') != NULL) {
            char ingress[sizeof h->ingress], events[sizeof h->events], http[sizeof h->http];
            bool ok = s_bound_value(line, "ingress", ingress, sizeof ingress) &&
                      s_bound_value(line, "events", events, sizeof events) &&
                      s_bound_value(line, "http", http, sizeof http);
            free(log);
            if (!ok)
                fail_msg("sluiced's \"bound:\" line does not name ingress, events and http");
            if (s_wildcard(h->conf_ingress))
                snprintf(h->ingress, sizeof h->ingress, "%s", ingress);
            if (s_wildcard(h->conf_events))
                snprintf(h->events, sizeof h->events, "%s", events);
            if (s_wildcard(h->conf_http))
                snprintf(h->http, sizeof h->http, "%s", http);
            return;
        }
        free(log);
        if (s_exited(h))
            return;
        if (harness_now_ms() > deadline)
            fail_msg("sluiced did not log its bound endpoints within %d ms", S_BOUND_MS);
        harness_nap_ms(10);
    }
}

/* s_pin_endpoints rewrites the config file's wildcard endpoints to the
 * ones the last daemon bound, so the next daemon binds the same ports. A
 * key the file does not have as the harness wrote it stays a wildcard. */
static void s_pin_endpoints(harness_t *h)
{
    struct {
        const char *key;
        char *conf;
        const char *bound;
        size_t size;
    } keys[] = {
        { "ingress", h->conf_ingress, h->ingress, sizeof h->conf_ingress },
        { "events", h->conf_events, h->events, sizeof h->conf_events },
        { "http", h->conf_http, h->http, sizeof h->conf_http },
    };
    char *text = NULL;
    bool changed = false;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (!s_wildcard(keys[i].conf) || s_wildcard(keys[i].bound))
            continue;
        if (text == NULL)
            text = s_read_log(h->conf_path, 0, NULL);
        char from[128], to[128];
        snprintf(from, sizeof from, "%s = \"%s\";", keys[i].key, keys[i].conf);
        snprintf(to, sizeof to, "%s = \"%s\";", keys[i].key, keys[i].bound);
        char *at = strstr(text, from);
        if (at == NULL)
            continue;
        size_t head = (size_t)(at - text);
        char *next = malloc(strlen(text) - strlen(from) + strlen(to) + 1);
        assert_non_null(next);
        sprintf(next, "%.*s%s%s", (int)head, text, to, at + strlen(from));
        free(text);
        text = next;
        snprintf(keys[i].conf, keys[i].size, "%s", keys[i].bound);
        changed = true;
    }
    if (changed) {
        FILE *f = fopen(h->conf_path, "w");
        bool ok = f != NULL && fputs(text, f) != EOF;
        if (f != NULL && fclose(f) != 0)
            ok = false;
        if (!ok)
            fail_msg("failed to rewrite %s: %s", h->conf_path, strerror(errno));
    }
    free(text);
}

static FILE *s_config_open(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        fail_msg("failed to write %s: %s", path, strerror(errno));
    return f;
}

/* s_write_daemon writes the daemon section with EXTRA inside it. */
static void s_write_daemon(harness_t *h, FILE *f, const char *extra)
{
    if (extra == NULL)
        extra = "";
    fprintf(f,
            "# written by tests/integration/harness.c\n"
            "daemon = {\n"
            "  database = \"%s\";\n"
            "  ingress = \"%s\";\n"
            "  events = \"%s\";\n"
            "  control = \"%s\";\n"
            "  http = \"%s\";\n",
            h->dsn, h->conf_ingress, h->conf_events, h->control, h->conf_http);
    if (strstr(extra, "limits") == NULL)
        fprintf(f, "  limits = { orders_per_second = 1000000; queue_delay_ms = 5000; "
                   "commit_latency_ms = 10000; };\n");
    fprintf(f, "  %s\n};\n", extra);
}

void harness_write_config(harness_t *h, const char *extra)
{
    s_choose_endpoints(h);
    FILE *f = s_config_open(h->conf_path);
    s_write_daemon(h, f, extra);
    fprintf(f,
            "brands = ( { name = \"testbrand\"; orders_per_second = 1000000; } );\n"
            "platforms = (\n"
            "  { name = \"sim\"; adapter = \"zmq\"; endpoint = \"%s\"; }\n"
            ");\n"
            "stores = (\n",
            h->platform_endpoint);
    /* No store lists the platform: these stores never ask for riders, so
     * tests of intake see only the events they cause (test_dispatch writes
     * its own platforms). */
    for (int i = 0; i < HARNESS_STORE_COUNT; i++) {
        fprintf(f,
                "  { id = %d; brand = \"testbrand\"; name = \"Test store %d\";"
                " location = [30.27, 120.03];\n"
                "    prep_slots = 1000; item_seconds = 1; order_seconds = 1;"
                " max_wait_minutes = 600; max_queue = 100000;\n"
                "    hours = \"00:00-24:00\"; timezone = \"UTC\"; }%s\n",
                HARNESS_FIRST_STORE + i, i, i + 1 < HARNESS_STORE_COUNT ? "," : "");
    }
    fprintf(f, ");\n");
    fclose(f);
}

void harness_write_config_text(harness_t *h, const char *path, const char *daemon_extra,
                               const char *body)
{
    harness_write_config_platforms(h, path, daemon_extra, NULL, body);
}

void harness_write_config_platforms(harness_t *h, const char *path, const char *daemon_extra,
                                    const char *platforms, const char *body)
{
    s_choose_endpoints(h);
    FILE *f = s_config_open(path != NULL ? path : h->conf_path);
    s_write_daemon(h, f, daemon_extra);
    if (platforms != NULL)
        fprintf(f, "platforms = (\n%s\n);\n", platforms);
    else
        fprintf(f,
                "platforms = (\n"
                "  { name = \"sim\"; adapter = \"zmq\"; endpoint = \"%s\"; }\n"
                ");\n",
                h->platform_endpoint);
    fprintf(f, "%s", body != NULL ? body : "");
    fclose(f);
}

/* ---- processes ---- */

pid_t harness_spawn(harness_t *h, const char *out_path, const char *const *args)
{
    return harness_spawn_bin(h, s_env("SLUICE_BIN"), out_path, args);
}

/* s_spec: BIN with ARGS (NULL-terminated, without argv[0]) in ARGV (32
 * entries), stdout and stderr appended to OUT_PATH, never outliving a
 * crashed test. */
static proc_spec_t s_spec(const char *bin, const char *out_path, const char *const *args,
                          const char **argv)
{
    size_t n = 0;
    argv[n++] = bin;
    for (size_t i = 0; args[i] != NULL && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return (proc_spec_t){ .argv = argv, .out = out_path, .die_with_parent = true };
}

pid_t harness_spawn_bin(harness_t *h, const char *bin, const char *out_path,
                        const char *const *args)
{
    (void)h;
    const char *argv[32];
    const proc_spec_t spec = s_spec(bin, out_path, args, argv);
    pid_t pid = proc_spawn(&spec);
    if (pid < 0)
        fail_msg("failed to start %s (output to %s)", bin, out_path);
    return pid;
}

/* harness_reap polls PID until it exits or the deadline passes (-1). */
int harness_reap(pid_t pid, int timeout_ms)
{
    return proc_wait(pid, timeout_ms);
}

int harness_run_capture(harness_t *h, int timeout_ms, const char *out_path,
                        const char *const *args)
{
    (void)h;
    const char *argv[32];
    const proc_spec_t spec = s_spec(s_env("SLUICE_BIN"), out_path, args, argv);
    int rc = proc_run(&spec, timeout_ms);
    if (rc == PROC_ERROR)
        fail_msg("failed to run %s (output to %s)", argv[0], out_path);
    return rc;
}

int harness_run(harness_t *h, int timeout_ms, const char *const *args)
{
    return harness_run_capture(h, timeout_ms, h->log_path, args);
}

int harness_migrate(harness_t *h)
{
    const char *args[] = { "-c", h->conf_path, "--migrate", NULL };
    return harness_run(h, 60000, args);
}

void harness_start(harness_t *h)
{
    assert_int_equal(h->pid, 0);
    s_pin_endpoints(h);
    struct stat st;
    h->log_mark = stat(h->log_path, &st) == 0 ? st.st_size : 0;
    const char *args[] = { "-c", h->conf_path, NULL };
    h->pid = harness_spawn(h, h->log_path, args);
    h->starts++;
    if (s_wildcard(h->conf_ingress) || s_wildcard(h->conf_events) || s_wildcard(h->conf_http))
        s_read_bound(h);
}

bool harness_daemon_alive(harness_t *h)
{
    if (h->pid <= 0)
        return false;
    int status;
    if (proc_alive(h->pid, &status))
        return true;
    fprintf(stderr, "harness: sluiced (pid %ld) exited with %d\n", (long)h->pid, status);
    h->pid = 0;
    return false;
}

void harness_signal(harness_t *h, int sig)
{
    assert_true(h->pid > 0);
    assert_true(proc_signal(h->pid, sig));
}

int harness_wait_exit(harness_t *h, int timeout_ms)
{
    if (h->pid <= 0)
        return -2;
    int rc = harness_reap(h->pid, timeout_ms);
    if (rc != -1)
        h->pid = 0;
    return rc;
}

int harness_stop(harness_t *h, int timeout_ms)
{
    if (h->pid <= 0)
        return -2;
    int rc = proc_stop(h->pid, timeout_ms);
    if (rc == PROC_RUNNING)
        fprintf(stderr, "harness: sluiced ignored SIGTERM for %d ms; killed it\n", timeout_ms);
    h->pid = 0;
    return rc;
}

/* s_read_log returns the log from byte FROM on, malloc'ed (never NULL). */
static char *s_read_log(const char *path, off_t from, size_t *len_out)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        if (fseeko(f, from, SEEK_SET) == 0) {
            size_t cap = 0;
            char chunk[8192];
            size_t got;
            while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
                if (len + got + 1 > cap) {
                    cap = (len + got + 1) * 2;
                    buf = realloc(buf, cap);
                    assert_non_null(buf);
                }
                memcpy(buf + len, chunk, got);
                len += got;
            }
        }
        fclose(f);
    }
    if (buf == NULL) {
        buf = malloc(1);
        assert_non_null(buf);
    }
    buf[len] = '\0';
    if (len_out != NULL)
        *len_out = len;
    return buf;
}

bool harness_log_contains(harness_t *h, const char *needle, bool since_start)
{
    char *log = s_read_log(h->log_path, since_start ? h->log_mark : 0, NULL);
    bool found = strstr(log, needle) != NULL;
    free(log);
    return found;
}

off_t harness_log_size(harness_t *h)
{
    struct stat st;
    return stat(h->log_path, &st) == 0 ? st.st_size : 0;
}

bool harness_mkdtemp(char *buf, size_t len, const char *name)
{
    const char *tmp = getenv("TMPDIR");
    int n = snprintf(buf, len, "%s/%s-XXXXXX", tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp", name);
    if (n < 0 || (size_t)n >= len) {
        errno = ENAMETOOLONG;
        return false;
    }
    return mkdtemp(buf) != NULL;
}

char *harness_read_file(const char *path)
{
    return s_read_log(path, 0, NULL);
}

char *harness_log_read_from(harness_t *h, off_t from)
{
    return s_read_log(h->log_path, from, NULL);
}

bool harness_log_contains_from(harness_t *h, off_t from, const char *needle)
{
    char *log = s_read_log(h->log_path, from, NULL);
    bool found = strstr(log, needle) != NULL;
    free(log);
    return found;
}

bool harness_wait_log(harness_t *h, off_t from, const char *needle, int timeout_ms)
{
    uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        if (harness_log_contains_from(h, from, needle))
            return true;
        if (harness_now_ms() > deadline)
            return false;
        harness_nap_ms(10);
    }
}

long harness_daemon_rss_kb(harness_t *h)
{
    if (h->pid <= 0)
        return -1;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)h->pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

void harness_dump_log(harness_t *h)
{
    struct stat st;
    if (stat(h->log_path, &st) != 0) {
        fprintf(stderr, "---- no sluiced log (%s) ----\n", h->log_path);
        return;
    }
    off_t from = st.st_size > S_LOG_TAIL_BYTES ? st.st_size - S_LOG_TAIL_BYTES : 0;
    size_t len;
    char *log = s_read_log(h->log_path, from, &len);
    fprintf(stderr, "---- sluiced log %s (%s%lld bytes) ----\n", h->log_path,
            from > 0 ? "last " : "", (long long)len);
    fwrite(log, 1, len, stderr);
    if (len > 0 && log[len - 1] != '\n')
        fputc('\n', stderr);
    fprintf(stderr, "---- end of sluiced log ----\n");
    free(log);
}

bool harness_wait_ready(harness_t *h, int timeout_ms)
{
    uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
    harness_client_t *c = harness_client_new(h, ZMQ_DEALER);
    bool logged = false, answered = false, accepted = false;
    char probe_id[128];
    snprintf(probe_id, sizeof probe_id, "harness-probe-%u-%s", h->starts, h->dbname);
    harness_order_t *probe = malloc(sizeof *probe);
    assert_non_null(probe);
    harness_order_fill(probe, probe_id, HARNESS_FIRST_STORE);

    while (!(logged && answered && accepted)) {
        if (harness_now_ms() > deadline)
            break;
        if (!harness_daemon_alive(h))
            break;
        if (!logged)
            logged = harness_log_contains(h, "ready", true);
        if (!answered) {
            uint64_t id = harness_send_get(c, "harness-ping");
            Sluice__V1__Reply *r = harness_recv_for(c, id, 200);
            if (r != NULL)
                answered = true;
            harness_reply_free(&r);
            continue;
        }
        if (!accepted) {
            uint64_t id = harness_send_submit(c, probe);
            Sluice__V1__Reply *r = harness_recv_for(c, id, 1000);
            if (r != NULL && r->body_case == SLUICE__V1__REPLY__BODY_ACK &&
                r->ack->decision == SLUICE__V1__DECISION__ACCEPTED)
                accepted = true;
            else if (r != NULL)
                harness_nap_ms(50);  /* e.g. UNAVAILABLE while the database connects */
            harness_reply_free(&r);
            continue;
        }
        harness_nap_ms(20);
    }
    free(probe);
    harness_client_destroy(&c);
    if (!(logged && answered && accepted))
        fprintf(stderr,
                "harness: sluiced not ready after %d ms (log says ready: %s, GetOrder "
                "answered: %s, probe accepted: %s)\n",
                timeout_ms, logged ? "yes" : "no", answered ? "yes" : "no",
                accepted ? "yes" : "no");
    return logged && answered && accepted;
}

void harness_boot(harness_t *h, const char *extra)
{
    harness_write_config(h, extra);
    int rc = harness_migrate(h);
    if (rc != 0)
        fail_msg("sluiced --migrate exited with %d", rc);
    harness_start(h);
    if (!harness_wait_ready(h, 30000))
        fail_msg("sluiced did not become ready");
}

void harness_boot_text(harness_t *h, const char *daemon_extra, const char *body)
{
    harness_boot_platforms(h, daemon_extra, NULL, body);
}

void harness_boot_platforms(harness_t *h, const char *daemon_extra, const char *platforms,
                            const char *body)
{
    harness_write_config_platforms(h, NULL, daemon_extra, platforms, body);
    int rc = harness_migrate(h);
    if (rc != 0)
        fail_msg("sluiced --migrate exited with %d", rc);
    harness_start(h);
    if (!harness_wait_ready(h, 30000))
        fail_msg("sluiced did not become ready");
}

/* ---- clients ---- */

harness_client_t *harness_client_new(harness_t *h, int type)
{
    return harness_client_new_at(h, type, h->ingress);
}

harness_client_t *harness_client_new_at(harness_t *h, int type, const char *endpoint)
{
    harness_client_t *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->owner = h;
    c->next = h->clients;
    h->clients = c;
    c->type = type;
    c->delimiter = true;
    c->next_request_id = 1;
    c->sock = zmq_socket(h->zctx, type);
    assert_non_null(c->sock);
    int zero = 0, hwm = 200000, sndtimeo = 5000;
    zmq_setsockopt(c->sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(c->sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(c->sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(c->sock, ZMQ_SNDTIMEO, &sndtimeo, sizeof sndtimeo);
    if (zmq_connect(c->sock, endpoint) != 0)
        fail_msg("failed to connect to %s: %s", endpoint, zmq_strerror(zmq_errno()));
    return c;
}

void harness_client_destroy(harness_client_t **self)
{
    if (self == NULL || *self == NULL)
        return;
    harness_client_t *c = *self;
    for (harness_client_t **p = &c->owner->clients; *p != NULL; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    int zero = 0;
    zmq_setsockopt(c->sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(c->sock);
    free(*self);
    *self = NULL;
}

/* s_send_frame sends DATA as the message body; a DEALER with `delimiter`
 * first sends the empty frame a REQ socket would. Returns false on EAGAIN
 * (only with FLAGS = ZMQ_DONTWAIT). */
static bool s_send_frame(harness_client_t *c, const void *data, size_t len, int flags)
{
    if (c->type == ZMQ_DEALER && c->delimiter) {
        if (zmq_send(c->sock, "", 0, ZMQ_SNDMORE | flags) < 0) {
            if (zmq_errno() == EAGAIN && flags != 0)
                return false;
            fail_msg("failed to send delimiter: %s", zmq_strerror(zmq_errno()));
        }
    }
    if (zmq_send(c->sock, data, len, flags) < 0)
        fail_msg("failed to send %zu bytes: %s", len, zmq_strerror(zmq_errno()));
    return true;
}

void harness_send_raw(harness_client_t *c, const void *data, size_t len)
{
    s_send_frame(c, data, len, 0);
}

static bool s_send_request(harness_client_t *c, Sluice__V1__Request *req, int flags)
{
    size_t len = sluice__v1__request__get_packed_size(req);
    uint8_t stackbuf[4096];
    uint8_t *buf = len <= sizeof stackbuf ? stackbuf : malloc(len);
    assert_non_null(buf);
    sluice__v1__request__pack(req, buf);
    bool ok = s_send_frame(c, buf, len, flags);
    if (buf != stackbuf)
        free(buf);
    return ok;
}

uint64_t harness_send_request(harness_client_t *c, Sluice__V1__Request *req)
{
    if (req->request_id == 0)
        req->request_id = c->next_request_id++;
    s_send_request(c, req, 0);
    return req->request_id;
}

uint64_t harness_send_submit(harness_client_t *c, const harness_order_t *o)
{
    Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
    req.request_id = c->next_request_id++;
    req.body_case = SLUICE__V1__REQUEST__BODY_SUBMIT;
    req.submit = (Sluice__V1__SubmitOrder *)&o->msg;
    s_send_request(c, &req, 0);
    return req.request_id;
}

uint64_t harness_send_get(harness_client_t *c, const char *order_id)
{
    Sluice__V1__GetOrder get = SLUICE__V1__GET_ORDER__INIT;
    get.order_id = (char *)order_id;
    Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
    req.request_id = c->next_request_id++;
    req.body_case = SLUICE__V1__REQUEST__BODY_GET;
    req.get = &get;
    s_send_request(c, &req, 0);
    return req.request_id;
}

uint64_t harness_send_cancel(harness_client_t *c, const char *order_id, const char *reason)
{
    Sluice__V1__CancelOrder cancel = SLUICE__V1__CANCEL_ORDER__INIT;
    cancel.order_id = (char *)order_id;
    cancel.reason = (char *)(reason != NULL ? reason : "");
    Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
    req.request_id = c->next_request_id++;
    req.body_case = SLUICE__V1__REQUEST__BODY_CANCEL;
    req.cancel = &cancel;
    s_send_request(c, &req, 0);
    return req.request_id;
}

uint64_t harness_send_ready(harness_client_t *c, const char *order_id)
{
    Sluice__V1__MarkReady ready = SLUICE__V1__MARK_READY__INIT;
    ready.order_id = (char *)order_id;
    Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
    req.request_id = c->next_request_id++;
    req.body_case = SLUICE__V1__REQUEST__BODY_READY;
    req.ready = &ready;
    s_send_request(c, &req, 0);
    return req.request_id;
}

Sluice__V1__Reply *harness_recv(harness_client_t *c, int timeout_ms)
{
    zmq_pollitem_t item = { .socket = c->sock, .events = ZMQ_POLLIN };
    uint64_t deadline = harness_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        uint64_t now = harness_now_ms();
        long left = now >= deadline ? 0 : (long)(deadline - now);
        int n = zmq_poll(&item, 1, left);
        if (n < 0 && zmq_errno() == EINTR)
            continue;
        if (n <= 0)
            return NULL;
        break;
    }
    /* read every frame; the body is the last one, earlier ones are envelope */
    zmq_msg_t msg, body;
    zmq_msg_init(&body);
    for (;;) {
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, c->sock, 0) < 0)
            fail_msg("failed to receive: %s", zmq_strerror(zmq_errno()));
        bool more = zmq_msg_more(&msg);
        zmq_msg_close(&body);
        zmq_msg_init(&body);
        zmq_msg_move(&body, &msg);
        zmq_msg_close(&msg);
        if (!more)
            break;
    }
    Sluice__V1__Reply *r =
        sluice__v1__reply__unpack(NULL, zmq_msg_size(&body), zmq_msg_data(&body));
    size_t size = zmq_msg_size(&body);
    zmq_msg_close(&body);
    if (r == NULL)
        fail_msg("received %zu bytes that are not a Reply", size);
    return r;
}

void harness_reply_free(Sluice__V1__Reply **reply)
{
    if (reply == NULL || *reply == NULL)
        return;
    sluice__v1__reply__free_unpacked(*reply, NULL);
    *reply = NULL;
}

Sluice__V1__Reply *harness_recv_for(harness_client_t *c, uint64_t request_id, int timeout_ms)
{
    uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        uint64_t now = harness_now_ms();
        int left = now >= deadline ? 0 : (int)(deadline - now);
        Sluice__V1__Reply *r = harness_recv(c, left);
        if (r == NULL)
            return NULL;
        if (r->request_id == request_id)
            return r;
        harness_reply_free(&r);
        if (harness_now_ms() >= deadline)
            return NULL;
    }
}

Sluice__V1__Reply *harness_submit(harness_client_t *c, const harness_order_t *o, int timeout_ms)
{
    uint64_t id = harness_send_submit(c, o);
    return harness_recv_for(c, id, timeout_ms);
}

Sluice__V1__Reply *harness_get(harness_client_t *c, const char *order_id, int timeout_ms)
{
    uint64_t id = harness_send_get(c, order_id);
    return harness_recv_for(c, id, timeout_ms);
}

Sluice__V1__Reply *harness_cancel(harness_client_t *c, const char *order_id, const char *reason,
                                  int timeout_ms)
{
    uint64_t id = harness_send_cancel(c, order_id, reason);
    return harness_recv_for(c, id, timeout_ms);
}

Sluice__V1__Reply *harness_mark_ready(harness_client_t *c, const char *order_id, int timeout_ms)
{
    uint64_t id = harness_send_ready(c, order_id);
    return harness_recv_for(c, id, timeout_ms);
}

void harness_order_set_items(harness_order_t *o, size_t n)
{
    assert_true(n <= HARNESS_MAX_ITEMS);
    for (size_t i = 0; i < n; i++) {
        Sluice__V1__Item init = SLUICE__V1__ITEM__INIT;
        o->item_storage[i] = init;
        snprintf(o->skus[i], sizeof o->skus[i], "sku-%zu", i);
        o->item_storage[i].sku = o->skus[i];
        o->item_storage[i].quantity = 1;
        o->items[i] = &o->item_storage[i];
    }
    o->msg.n_items = n;
    o->msg.items = n > 0 ? o->items : NULL;
}

void harness_order_fill(harness_order_t *o, const char *order_id, uint32_t store_id)
{
    memset(o, 0, sizeof *o);
    Sluice__V1__SubmitOrder init = SLUICE__V1__SUBMIT_ORDER__INIT;
    Sluice__V1__Geo geo = SLUICE__V1__GEO__INIT;
    o->msg = init;
    o->dropoff = geo;
    o->dropoff.lat = 30.28;
    o->dropoff.lng = 120.05;
    snprintf(o->order_id, sizeof o->order_id, "%s", order_id);
    o->msg.order_id = o->order_id;
    o->msg.store_id = store_id;
    o->msg.dropoff = &o->dropoff;
    o->msg.voucher_id = o->voucher_id;      /* empty: none */
    o->msg.customer_ref = o->customer_ref;
    snprintf(o->customer_ref, sizeof o->customer_ref, "cust-1");
    o->msg.created_at_ms = harness_wall_ms();
    harness_order_set_items(o, 2);
    o->item_storage[0].quantity = 2;
}

void harness_expect_ack(const Sluice__V1__Reply *r, int decision, int reason, const char *what)
{
    char buf[768];
    if (r == NULL)
        fail_msg("%s: no reply within the deadline", what);
    if (r->body_case != SLUICE__V1__REPLY__BODY_ACK || (int)r->ack->decision != decision ||
        (int)r->ack->reason != reason)
        fail_msg("%s: expected ack %s %s, got %s", what, harness_decision_name(decision),
                 harness_reason_name(reason), harness_reply_describe(r, buf, sizeof buf));
}

void harness_expect_status(const Sluice__V1__Reply *r, const char *order_id, const char *state,
                           const char *what)
{
    char buf[768];
    if (r == NULL || r->body_case != SLUICE__V1__REPLY__BODY_STATUS ||
        strcmp(r->status->order_id, order_id) != 0 || strcmp(r->status->state, state) != 0)
        fail_msg("%s: expected status %s of %s, got %s", what, state, order_id,
                 harness_reply_describe(r, buf, sizeof buf));
}

const char *harness_decision_name(int decision)
{
    switch (decision) {
    case SLUICE__V1__DECISION__ACCEPTED: return "ACCEPTED";
    case SLUICE__V1__DECISION__REJECTED: return "REJECTED";
    default: return "DECISION_UNSPECIFIED";
    }
}

const char *harness_reason_name(int reason)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&sluice__v1__reason__descriptor, reason);
    return v ? v->name : "?";
}

const char *harness_reply_describe(const Sluice__V1__Reply *r, char *buf, size_t len)
{
    if (r == NULL) {
        snprintf(buf, len, "(no reply)");
        return buf;
    }
    switch (r->body_case) {
    case SLUICE__V1__REPLY__BODY_ACK:
        snprintf(buf, len,
                 "ack{request_id=%llu order_id=%s %s %s retry_after=%llu ready=%llu "
                 "delivery=%llu duplicate=%d detail=\"%s\"}",
                 (unsigned long long)r->request_id, r->ack->order_id,
                 harness_decision_name(r->ack->decision), harness_reason_name(r->ack->reason),
                 (unsigned long long)r->ack->retry_after_ms,
                 (unsigned long long)r->ack->promised_ready_at_ms,
                 (unsigned long long)r->ack->promised_delivery_at_ms, r->ack->duplicate,
                 r->ack->detail);
        break;
    case SLUICE__V1__REPLY__BODY_STATUS:
        snprintf(buf, len, "status{request_id=%llu order_id=%s store=%u state=%s}",
                 (unsigned long long)r->request_id, r->status->order_id, r->status->store_id,
                 r->status->state);
        break;
    case SLUICE__V1__REPLY__BODY_ERROR:
        snprintf(buf, len, "error{request_id=%llu code=%u message=\"%s\"}",
                 (unsigned long long)r->request_id, r->error->code, r->error->message);
        break;
    default:
        snprintf(buf, len, "reply{request_id=%llu, no body}", (unsigned long long)r->request_id);
    }
    return buf;
}

/* ---- streams ---- */

harness_stream_t *harness_stream_new(harness_t *h, const char *prefix, size_t count,
                                     size_t window)
{
    harness_stream_t *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->client = harness_client_new(h, ZMQ_DEALER);
    snprintf(s->prefix, sizeof s->prefix, "%s", prefix);
    s->count = count;
    s->window = window;
    s->outcome = calloc(count, 1);
    s->reason = calloc(count, 1);
    s->retry_after = calloc(count, sizeof *s->retry_after);
    s->duplicate = calloc(count, sizeof *s->duplicate);
    s->acked_ms = calloc(count, sizeof *s->acked_ms);
    s->sent_us = calloc(count, sizeof *s->sent_us);
    s->replied_us = calloc(count, sizeof *s->replied_us);
    assert_true(s->outcome && s->reason && s->retry_after && s->duplicate && s->acked_ms &&
                s->sent_us && s->replied_us);
    return s;
}

void harness_stream_destroy(harness_stream_t **self)
{
    if (self == NULL || *self == NULL)
        return;
    harness_stream_t *s = *self;
    harness_client_destroy(&s->client);
    free(s->outcome);
    free(s->reason);
    free(s->retry_after);
    free(s->duplicate);
    free(s->acked_ms);
    free(s->sent_us);
    free(s->replied_us);
    free(s);
    *self = NULL;
}

void harness_stream_order_id(const harness_stream_t *s, size_t i, char *buf, size_t len)
{
    snprintf(buf, len, "%s-%zu", s->prefix, i);
}

void harness_stream_fill_order(const harness_stream_t *s, size_t i, harness_order_t *o)
{
    char id[96];
    harness_stream_order_id(s, i, id, sizeof id);
    uint32_t store = s->store_count > 0
                         ? s->stores[i % s->store_count]
                         : (uint32_t)(HARNESS_FIRST_STORE + i % HARNESS_STORE_COUNT);
    harness_order_fill(o, id, store);
    harness_order_set_items(o, 1);
    snprintf(o->skus[0], sizeof o->skus[0], "sku-%zu", i % 7);
    o->item_storage[0].quantity = s->drinks > 0 ? s->drinks : (uint32_t)(1 + i % 3);
}

static void s_stream_record(harness_stream_t *s, Sluice__V1__Reply *r)
{
    s->last_reply_ms = harness_now_ms();
    if (r->request_id == 0 || r->request_id > s->sent ||
        s->outcome[r->request_id - 1] != HARNESS_PENDING) {
        char buf[512];
        fprintf(stderr, "harness: stream %s: unexpected %s\n", s->prefix,
                harness_reply_describe(r, buf, sizeof buf));
        s->unexpected++;
        return;
    }
    size_t i = (size_t)(r->request_id - 1);
    s->replied++;
    s->acked_ms[i] = s->last_reply_ms;
    s->replied_us[i] = clock_mono_us();
    if (r->body_case != SLUICE__V1__REPLY__BODY_ACK) {
        s->outcome[i] = HARNESS_ERROR;
        s->errors++;
        return;
    }
    s->retry_after[i] = r->ack->retry_after_ms;
    s->duplicate[i] = r->ack->duplicate;
    if (r->ack->duplicate)
        s->duplicates++;
    if (r->ack->decision == SLUICE__V1__DECISION__ACCEPTED) {
        s->outcome[i] = HARNESS_ACCEPTED;
        s->accepted++;
        s->last_accepted_index = i;
        s->any_accepted = true;
    } else {
        s->outcome[i] = HARNESS_REJECTED;
        s->rejected++;
        s->reason[i] = (uint8_t)r->ack->reason;
        if (r->ack->reason >= 0 && r->ack->reason < 16)
            s->by_reason[r->ack->reason]++;
    }
}

size_t harness_stream_pump(harness_stream_t *s, int budget_ms)
{
    if (s->started_ms == 0)
        s->started_ms = harness_now_ms();
    uint64_t deadline = harness_now_ms() + (uint64_t)budget_ms;
    size_t handled = 0;
    harness_order_t *o = malloc(sizeof *o);
    assert_non_null(o);
    for (;;) {
        /* send what the window and the rate allow */
        while (s->sent < s->count && s->sent - s->replied < s->window) {
            if (s->rate_per_sec > 0) {
                uint64_t elapsed = harness_now_ms() - s->started_ms;
                if (s->sent >= (size_t)((elapsed * (uint64_t)s->rate_per_sec) / 1000u) + 1)
                    break;
            }
            harness_stream_fill_order(s, s->sent, o);
            Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
            req.request_id = s->sent + 1;
            req.body_case = SLUICE__V1__REQUEST__BODY_SUBMIT;
            req.submit = &o->msg;
            s->sent_us[s->sent] = clock_mono_us();
            if (!s_send_request(s->client, &req, ZMQ_DONTWAIT))
                break;
            s->sent++;
        }
        uint64_t now = harness_now_ms();
        if (now >= deadline)
            break;
        if (s->sent == s->count && s->replied == s->sent)
            break;
        int wait = (int)(deadline - now);
        if (wait > 5)
            wait = 5;
        Sluice__V1__Reply *r = harness_recv(s->client, wait);
        while (r != NULL) {
            s_stream_record(s, r);
            handled++;
            harness_reply_free(&r);
            r = harness_recv(s->client, 0);
        }
    }
    free(o);
    return handled;
}

bool harness_stream_drain(harness_stream_t *s, int timeout_ms)
{
    size_t saved = s->count;
    s->count = s->sent;  /* no new sends */
    uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
    while (s->replied < s->sent && harness_now_ms() < deadline)
        harness_stream_pump(s, 50);
    s->count = saved;
    return s->replied == s->sent;
}

size_t harness_stream_check_accepted(harness_t *h, const harness_stream_t *s)
{
    size_t n = 0;
    char **ids = calloc(s->accepted + 1, sizeof *ids);
    assert_non_null(ids);
    for (size_t i = 0; i < s->sent; i++) {
        if (s->outcome[i] != HARNESS_ACCEPTED)
            continue;
        ids[n] = malloc(96);
        assert_non_null(ids[n]);
        harness_stream_order_id(s, i, ids[n], 96);
        n++;
    }
    char first[128];
    long missing = harness_db_missing(h, ids, n, first, sizeof first);
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    if (missing != 0)
        fail_msg("stream %s: %ld of %zu ACCEPTED orders are not in the database (first: %s)",
                 s->prefix, missing, n, missing > 0 ? first : "query failed");
    return n;
}
