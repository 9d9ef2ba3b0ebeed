/* test_db.c - daemon/db.c against the throwaway PostgreSQL, without sluiced:
 * multi-host strings whose hosts hang (a socket that completes the TCP
 * handshake and never answers), a statement whose backend is frozen, the
 * deadlines waking a loop that sleeps for db_timeout_ms, and db_why_down.
 * With SLUICE_TEST_PGAF=1 also what an in-doubt commit looks like on a
 * pg_auto_failover formation (tools/scripts/pgaf.sh; about 20 s). */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "db.h"

#define S_SCHEMA 1
#define S_SLACK_MS 1500   /* connecting, the schema check and PREPAREs on a busy machine */

static const db_statement_t s_statements[] = {
    {.name = "backend_pid", .sql = "SELECT pg_backend_pid()", .nparams = 0},
    {.name = "one", .sql = "SELECT 1", .nparams = 0},
};

typedef struct outcome {
    bool done;
    bool ok;
    db_error_t err;
    long value;          /* first column of the first row */
    uint64_t at_ms;      /* when DONE ran */
} outcome_t;

typedef struct fixture {
    harness_t *h;
    db_t *db;
    int black_hole[2];           /* listening sockets that never accept, -1 when none */
    int black_port[2];
    char host[256], port[16], user[64];  /* the shared server, from SLUICE_TEST_DSN_BASE */
    int saved_stderr;            /* db logs to stderr; it goes to h->log_path meanwhile */
    pid_t frozen;                /* a backend this test SIGSTOPped, 0 when none */
    pid_t guard;                 /* the child that SIGCONTs it if this process dies */
    int guard_fd;
    char formation[PATH_MAX];    /* a pgaf.sh formation's directory, "" when none */
    outcome_t out;
} fixture_t;

/* ---- fixtures --------------------------------------------------------- */

static void s_server_address(fixture_t *f)
{
    const char *base = getenv("SLUICE_TEST_DSN_BASE");
    assert_non_null(base);
    char *error = NULL;
    PQconninfoOption *opts = PQconninfoParse(base, &error);
    assert_non_null(opts);
    for (const PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val)
            continue;
        if (strcmp(o->keyword, "host") == 0)
            snprintf(f->host, sizeof f->host, "%s", o->val);
        else if (strcmp(o->keyword, "port") == 0)
            snprintf(f->port, sizeof f->port, "%s", o->val);
        else if (strcmp(o->keyword, "user") == 0)
            snprintf(f->user, sizeof f->user, "%s", o->val);
    }
    PQconninfoFree(opts);
    if (!f->port[0])
        snprintf(f->port, sizeof f->port, "5432");
    assert_true(f->host[0] != '\0');
}

static int s_setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->black_hole[0] = f->black_hole[1] = -1;
    f->guard_fd = -1;
    f->saved_stderr = -1;
    void *hs = NULL;
    harness_setup(&hs);
    f->h = hs;
    *state = f;
    s_server_address(f);
    PGresult *res = PQexec(harness_db(f->h), "CREATE TABLE schema_migrations (version int);"
                                             "INSERT INTO schema_migrations VALUES (1)");
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    /* The db's log lines go where a failed test's log is dumped from. */
    fflush(stderr);
    int fd = open(f->h->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    f->saved_stderr = dup(STDERR_FILENO);
    assert_true(f->saved_stderr >= 0);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    close(fd);
    return 0;
}

/* s_thaw SIGCONTs the frozen backend and lets its guard go. */
static void s_thaw(fixture_t *f)
{
    if (!f->frozen)
        return;
    kill(f->frozen, SIGCONT);
    close(f->guard_fd);   /* the guard SIGCONTs it once more, harmlessly, and exits */
    waitpid(f->guard, NULL, 0);
    f->frozen = 0;
    f->guard = 0;
    f->guard_fd = -1;
}

static int s_teardown(void **state)
{
    fixture_t *f = *state;
    s_thaw(f);   /* first of all: never leave the shared server with a frozen backend */
    db_destroy(&f->db);
    if (f->formation[0]) {
        char cmd[2 * PATH_MAX];
        snprintf(cmd, sizeof cmd, "sh '%s/scripts/pgaf.sh' destroy '%s' >/dev/null 2>&1",
                 getenv("SLUICE_TOOLS"), f->formation);
        if (system(cmd) != 0)
            fprintf(stderr, "test_db: failed to destroy the formation in %s\n", f->formation);
    }
    for (int i = 0; i < 2; i++)
        if (f->black_hole[i] >= 0)
            close(f->black_hole[i]);
    if (f->saved_stderr >= 0) {
        fflush(stderr);
        dup2(f->saved_stderr, STDERR_FILENO);
        close(f->saved_stderr);
    }
    void *hs = f->h;
    harness_teardown(&hs);
    free(f);
    *state = NULL;
    return 0;
}

/* s_freeze SIGSTOPs backend PID. A child stands guard: when this process
 * ends, however it ends, the pipe closes and the child SIGCONTs PID. */
static void s_freeze(fixture_t *f, pid_t pid)
{
    int fds[2];
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        close(fds[1]);
        char c;
        while (read(fds[0], &c, 1) < 0 && errno == EINTR)
            ;
        kill(pid, SIGCONT);
        _exit(0);
    }
    close(fds[0]);
    f->guard = child;
    f->guard_fd = fds[1];
    f->frozen = pid;
    assert_int_equal(kill(pid, SIGSTOP), 0);
}

/* s_black_hole listens on 127.0.0.1 and never accepts: the kernel completes
 * handshakes into the backlog, and nothing ever answers. */
static void s_black_hole(fixture_t *f, int i)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(fd, 16), 0);
    socklen_t len = sizeof addr;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    f->black_hole[i] = fd;
    f->black_port[i] = ntohs(addr.sin_port);
}

static void s_db_new(fixture_t *f, const char *conninfo, int schema, int connect_ms, int statement_ms)
{
    f->db = db_new(conninfo, schema, s_statements, sizeof s_statements / sizeof s_statements[0], 50,
                   1000);
    assert_non_null(f->db);
    db_set_timeouts(f->db, &(db_timeouts_t){.connect_ms = connect_ms, .statement_ms = statement_ms,
                                            .reconnect_min_ms = 50, .reconnect_max_ms = 1000});
}

/* ---- the loop --------------------------------------------------------- */

/* s_drive runs the db's share of the daemon's loop until COND holds: poll
 * the socket for what db wants, sleeping no longer than db_timeout_ms says
 * (forever when it says -1, up to the test's own limit), then db_step. A
 * db_timeout_ms that let the loop oversleep a deadline shows as a late
 * outcome. Returns the milliseconds it took; fails after TIMEOUT_MS. */
static uint64_t s_drive(fixture_t *f, bool (*cond)(fixture_t *), int timeout_ms, const char *what)
{
    uint64_t start = clock_mono_ms(), end = start + (uint64_t)timeout_ms;
    while (!cond(f)) {
        uint64_t now = clock_mono_ms();
        if (now >= end)
            fail_msg("%s: not within %d ms (db: %s)", what, timeout_ms, db_why_down(f->db));
        int wait = db_timeout_ms(f->db, now);
        int left = (int)(end - now);
        struct pollfd p = {.fd = db_socket(f->db), .events = db_poll_events(f->db)};
        int rc = poll(&p, 1, wait >= 0 && wait < left ? wait : left);
        db_step(f->db, rc > 0 ? p.revents : 0, clock_mono_ms());
    }
    return clock_mono_ms() - start;
}

static bool s_up(fixture_t *f)
{
    return db_is_up(f->db);
}

static bool s_done(fixture_t *f)
{
    return f->out.done;
}

static bool s_down(fixture_t *f)
{
    return db_state(f->db) == DB_DOWN;
}

/* s_refused: down again after an attempt. */
static bool s_refused(fixture_t *f)
{
    return db_state(f->db) == DB_DOWN && strcmp(db_why_down(f->db), "not connected yet") != 0;
}

static void s_record(void *arg, const PGresult *res, const db_error_t *err)
{
    outcome_t *out = arg;
    out->done = true;
    out->at_ms = clock_mono_ms();
    out->ok = err == NULL;
    if (err)
        out->err = *err;
    else if (PQntuples(res) > 0)
        out->value = atol(PQgetvalue(res, 0, 0));
}

/* s_run sends statement NAME and drives the loop until it ends. */
static uint64_t s_run(fixture_t *f, const char *name, int timeout_ms)
{
    memset(&f->out, 0, sizeof f->out);
    assert_true(db_is_idle(f->db));
    assert_true(db_send(f->db, name, 0, NULL, s_record, &f->out));
    return s_drive(f, s_done, timeout_ms, name);
}

static void s_expect_why(fixture_t *f, const char *needle)
{
    if (!strstr(db_why_down(f->db), needle))
        fail_msg("db_why_down says \"%s\", expected \"%s\" in it", db_why_down(f->db), needle);
}

static void s_expect_log(fixture_t *f, const char *needle)
{
    if (!harness_log_contains(f->h, needle, false))
        fail_msg("the log has no \"%s\"", needle);
}

/* ---- tests ------------------------------------------------------------ */

/* The first host completes the handshake and never answers: the attempt
 * times out, the next one goes to the second host at once, and that one is
 * up within the connect timeout and a little. */
static void test_hung_first_host_is_passed_over(void **state)
{
    fixture_t *f = *state;
    s_black_hole(f, 0);
    char conninfo[1024], hole[64], real[320];
    snprintf(conninfo, sizeof conninfo, "host=127.0.0.1,%s port=%d,%s user=%s dbname=%s", f->host,
             f->black_port[0], f->port, f->user, f->h->dbname);
    snprintf(hole, sizeof hole, "127.0.0.1:%d", f->black_port[0]);
    snprintf(real, sizeof real, "%s:%s", f->host, f->port);
    s_db_new(f, conninfo, S_SCHEMA, 1000, 5000);
    s_expect_why(f, "not connected yet");
    assert_string_equal(db_host(f->db), "");

    db_step(f->db, 0, clock_mono_ms());
    assert_int_equal(db_state(f->db), DB_CONNECTING);
    char expect[128];
    snprintf(expect, sizeof expect, "connecting to %s (attempt 1)", hole);
    s_expect_why(f, expect);
    int wait = db_timeout_ms(f->db, clock_mono_ms());
    assert_true(wait > 0 && wait <= 1000);

    uint64_t took = s_drive(f, s_up, 1000 + S_SLACK_MS, "up through the second host");
    assert_true(took >= 900);
    assert_string_equal(db_host(f->db), real);
    assert_string_equal(db_why_down(f->db), "");
    char line[512];
    snprintf(line, sizeof line,
             "failed to connect to database at %s (attempt 1): connection attempt timed out after "
             "1000 ms; trying %s next", hole, real);
    s_expect_log(f, line);
    snprintf(line, sizeof line, "database connection is back on %s after 1 failed attempt", real);
    s_expect_log(f, line);

    s_run(f, "one", 5000);
    assert_true(f->out.ok);
    assert_int_equal(f->out.value, 1);
    harness_pass(f->h);
}

/* The real server first, as a URI this time: no attempt waits for the hung
 * host. */
static void test_live_first_host_needs_no_rotation(void **state)
{
    fixture_t *f = *state;
    s_black_hole(f, 0);
    char conninfo[1024], host[320];
    size_t n = 0;
    for (const char *p = f->host; *p && n + 4 < sizeof host; p++)
        n += (size_t)(*p == '/' ? snprintf(host + n, sizeof host - n, "%%2F")
                                : snprintf(host + n, sizeof host - n, "%c", *p));
    host[n] = '\0';
    snprintf(conninfo, sizeof conninfo, "postgresql://%s@%s:%s,127.0.0.1:%d/%s", f->user, host,
             f->port, f->black_port[0], f->h->dbname);
    s_db_new(f, conninfo, S_SCHEMA, 1000, 5000);
    uint64_t took = s_drive(f, s_up, S_SLACK_MS, "up on the first host");
    assert_true(took < 1000);
    char real[320];
    snprintf(real, sizeof real, "%s:%s", f->host, f->port);
    assert_string_equal(db_host(f->db), real);
    assert_false(harness_log_contains(f->h, "timed out", false));
    char line[400];
    snprintf(line, sizeof line, "database connected to %s", real);
    s_expect_log(f, line);
    harness_pass(f->h);
}

/* A refusing host, then a hung one, then the real one: libpq moves past the
 * refusal itself, the hung host gets a connect timeout of its own, and the
 * next attempt starts after it. */
static void test_rotation_follows_libpq_past_a_refusal(void **state)
{
    fixture_t *f = *state;
    s_black_hole(f, 0);
    int closed = harness_hold_port(f->h);   /* bound, not listening: refuses */
    char conninfo[1024], hole[64];
    snprintf(conninfo, sizeof conninfo,
             "host=127.0.0.1,127.0.0.1,%s port=%d,%d,%s user=%s dbname=%s", f->host, closed,
             f->black_port[0], f->port, f->user, f->h->dbname);
    snprintf(hole, sizeof hole, "127.0.0.1:%d", f->black_port[0]);
    s_db_new(f, conninfo, S_SCHEMA, 800, 5000);
    db_step(f->db, 0, clock_mono_ms());
    uint64_t took = s_drive(f, s_up, 800 + S_SLACK_MS, "up through the third host");
    assert_true(took >= 700);
    char line[512];
    snprintf(line, sizeof line, "failed to connect to database at %s (attempt 1): connection "
             "attempt timed out after 800 ms, having passed over: connection to server at "
             "\"127.0.0.1\", port %d failed: Connection refused", hole, closed);
    s_expect_log(f, line);
    snprintf(line, sizeof line, "accepting TCP/IP connections?; trying %s:%s next", f->host, f->port);
    s_expect_log(f, line);
    harness_pass(f->h);
}

/* Every host hangs: one line per host per round, each host tried once
 * quickly, then the backoff. */
static bool s_fourth_attempt_logged(fixture_t *f)
{
    return harness_log_contains(f->h, "(attempt 4)", false);
}

static void test_every_host_hung_backs_off(void **state)
{
    fixture_t *f = *state;
    s_black_hole(f, 0);
    s_black_hole(f, 1);
    char conninfo[1024], a[64], b[64], line[400];
    snprintf(conninfo, sizeof conninfo, "host=127.0.0.1,127.0.0.1 port=%d,%d user=%s dbname=%s",
             f->black_port[0], f->black_port[1], f->user, f->h->dbname);
    snprintf(a, sizeof a, "127.0.0.1:%d", f->black_port[0]);
    snprintf(b, sizeof b, "127.0.0.1:%d", f->black_port[1]);
    s_db_new(f, conninfo, S_SCHEMA, 300, 5000);
    s_drive(f, s_fourth_attempt_logged, 4 * 300 + 2 * 1000 + S_SLACK_MS, "four attempts");
    snprintf(line, sizeof line, "at %s (attempt 1): connection attempt timed out after 300 ms; "
             "trying %s next", a, b);
    s_expect_log(f, line);
    snprintf(line, sizeof line, "at %s (attempt 2): connection attempt timed out after 300 ms; "
             "next attempt after ", b);
    s_expect_log(f, line);
    snprintf(line, sizeof line, "at %s (attempt 3): connection attempt timed out after 300 ms; "
             "trying %s next", a, b);
    s_expect_log(f, line);
    char *log = harness_log_read_from(f->h, 0);
    size_t lines = 0;
    for (const char *p = log; (p = strstr(p, "failed to connect to database")); p++)
        lines++;
    free(log);
    assert_int_equal(lines, 4);
    harness_pass(f->h);
}

/* A shorter connect timeout set while an attempt hangs applies to it. */
static void test_timeouts_apply_to_the_attempt_under_way(void **state)
{
    fixture_t *f = *state;
    s_black_hole(f, 0);
    char conninfo[512];
    snprintf(conninfo, sizeof conninfo, "host=127.0.0.1 port=%d user=%s dbname=%s",
             f->black_port[0], f->user, f->h->dbname);
    s_db_new(f, conninfo, S_SCHEMA, 60000, 5000);
    uint64_t start = clock_mono_ms();
    db_step(f->db, 0, start);
    assert_int_equal(db_state(f->db), DB_CONNECTING);
    assert_true(db_timeout_ms(f->db, clock_mono_ms()) > 30000);
    db_set_timeouts(f->db, &(db_timeouts_t){.connect_ms = 300, .statement_ms = 5000,
                                            .reconnect_min_ms = 50, .reconnect_max_ms = 1000});
    assert_true(db_timeout_ms(f->db, clock_mono_ms()) <= 300);
    s_drive(f, s_down, 300 + S_SLACK_MS, "the attempt timed out");
    assert_true(clock_mono_ms() - start < 300 + S_SLACK_MS);
    s_expect_why(f, "connection attempt timed out after 300 ms; next attempt after ");
    harness_pass(f->h);
}

/* The backend of the statement in flight is frozen: the statement fails as
 * timed out (it may have committed) within the statement timeout, the
 * connection is dropped, and once the backend runs again db reconnects. */
static void test_statement_deadline(void **state)
{
    fixture_t *f = *state;
    s_db_new(f, f->h->dsn, S_SCHEMA, 2000, 1000);
    s_drive(f, s_up, S_SLACK_MS + 2000, "up");
    s_run(f, "backend_pid", 5000);
    assert_true(f->out.ok);
    pid_t backend = (pid_t)f->out.value;
    assert_true(backend > 0);
    char host[320];
    snprintf(host, sizeof host, "%s", db_host(f->db));

    s_freeze(f, backend);
    uint64_t sent = clock_mono_ms();
    memset(&f->out, 0, sizeof f->out);
    assert_true(db_send(f->db, "one", 0, NULL, s_record, &f->out));
    assert_true(db_timeout_ms(f->db, clock_mono_ms()) <= 1000);
    s_drive(f, s_done, 1000 + S_SLACK_MS, "the statement timed out");
    uint64_t took = f->out.at_ms - sent;
    assert_true(took >= 1000 && took < 1000 + 500);
    assert_false(f->out.ok);
    assert_true(f->out.err.connection_lost);
    assert_true(f->out.err.timed_out);
    assert_non_null(strstr(f->out.err.message, "timed out after 1000 ms"));
    assert_false(db_is_up(f->db));
    assert_string_equal(db_host(f->db), "");
    char expect[512];
    snprintf(expect, sizeof expect, "lost the connection to %s: statement timed out after 1000 ms",
             host);
    s_expect_why(f, expect);
    snprintf(expect, sizeof expect, "lost database connection to %s: statement timed out", host);
    s_expect_log(f, expect);

    s_thaw(f);
    s_drive(f, s_up, S_SLACK_MS + 2000, "up again");
    s_run(f, "backend_pid", 5000);
    assert_true(f->out.ok);
    assert_true(f->out.value != backend);
    harness_pass(f->h);
}

/* A schema older than the binary, and a session that cannot write: never
 * up, and db_why_down says why. */
static void test_why_down_says_what_is_wrong(void **state)
{
    fixture_t *f = *state;
    s_db_new(f, f->h->dsn, 7, 2000, 5000);
    s_drive(f, s_refused, S_SLACK_MS, "the schema refused");
    s_expect_why(f, "database schema is at version 1, sluiced needs 7");
    db_destroy(&f->db);

    char conninfo[1200];
    snprintf(conninfo, sizeof conninfo, "%s options='-c default_transaction_read_only=on'",
             f->h->dsn);
    s_db_new(f, conninfo, S_SCHEMA, 2000, 5000);
    s_drive(f, s_refused, S_SLACK_MS, "the read-only session refused");
    s_expect_why(f, "the session is read-only (a standby?)");
    assert_false(db_is_up(f->db));
    harness_pass(f->h);
}


/* ---- pg_auto_failover (opt-in) ------------------------------------------ */

static const db_statement_t s_pgaf_statements[] = {
    {.name = "insert", .sql = "INSERT INTO t VALUES ($1)", .nparams = 1},
};

/* s_free_ports returns a port P with P, P+1 and P+2 free on 127.0.0.1. */
/* s_free_ports: the first of three ports in a row that nothing holds now.
 * PostgreSQL needs numbers in its config, so this cannot bind port 0 and
 * read the endpoint back as the rest of the tier does; pg_autoctl fails
 * loudly on a port taken in between. */
static int s_free_ports(void)
{
    for (int tries = 0; tries < 50; tries++) {
        int fd0 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a0 = {.sin_family = AF_INET, .sin_port = 0};
        a0.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t a0len = sizeof a0;
        if (fd0 < 0 || bind(fd0, (struct sockaddr *)&a0, sizeof a0) != 0 ||
            getsockname(fd0, (struct sockaddr *)&a0, &a0len) != 0)
            fail_msg("cannot bind a loopback port");
        close(fd0);
        int base = ntohs(a0.sin_port);
        bool ok = base < 65000;
        for (int i = 1; ok && i < 3; i++) {
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(base + i))};
            addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            ok = bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0;
            close(fd);
        }
        if (ok)
            return base;
    }
    fail_msg("no three free ports in a row");
    return -1;
}

static PGconn *s_connect(const char *conninfo)
{
    PGconn *conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK)
        fail_msg("failed to connect to %s: %s", conninfo, PQerrorMessage(conn));
    return conn;
}

/* s_value runs SQL on CONN and returns the first value (malloc'ed). */
static char *s_value(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        fail_msg("%s: %s", sql, PQresultErrorMessage(res));
    char *v = strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    assert_non_null(v);
    return v;
}

static long s_number(PGconn *conn, const char *sql)
{
    char *v = s_value(conn, sql);
    long n = atol(v);
    free(v);
    return n;
}

/* s_wait_result waits up to TIMEOUT_MS for CONN's query to end; returns
 * its result (NULL: still running). */
static PGresult *s_wait_result(PGconn *conn, int timeout_ms)
{
    uint64_t end = clock_mono_ms() + (uint64_t)timeout_ms;
    while (PQisBusy(conn)) {
        uint64_t now = clock_mono_ms();
        if (now >= end)
            return NULL;
        struct pollfd p = {.fd = PQsocket(conn), .events = POLLIN};
        poll(&p, 1, (int)(end - now));
        assert_true(PQconsumeInput(conn));
    }
    PGresult *res = PQgetResult(conn), *extra;
    while ((extra = PQgetResult(conn)))
        PQclear(extra);
    return res;
}

/* A commit that waits for the synchronous standby when its client goes away
 * is in doubt: committed on the primary once released, maybe never on the
 * standby. This checks what the in-doubt lookup can rely on, with the
 * standby's WAL receiver frozen (the monitor sees a healthy standby, so
 * commits wait for it for as long as the freeze lasts):
 * - a plain SELECT on the primary does not see the waiting commit;
 * - a SELECT calling pg_current_xact_id() does not wait for the standby
 *   (an xid alone writes no WAL, and a commit without WAL waits for no one);
 * - re-running the insert with ON CONFLICT DO NOTHING plus a transactional
 *   pg_logical_emit_message waits for the lost transaction, then for the
 *   standby, and returns once both commits are on it. */
static void test_pgaf_in_doubt_commit(void **state)
{
    fixture_t *f = *state;
    if (!getenv("SLUICE_TEST_PGAF")) {
        harness_pass(f->h);
        skip();
    }
    assert_true(harness_mkdtemp(f->formation, sizeof f->formation, "pgaf"));
    int port = s_free_ports();
    char cmd[2 * PATH_MAX], conninfo[1024] = "";
    snprintf(cmd, sizeof cmd, "sh '%s/scripts/pgaf.sh' start '%s' %d", getenv("SLUICE_TOOLS"),
             f->formation, port);
    FILE *out = popen(cmd, "r");
    assert_non_null(out);
    while (fgets(conninfo, sizeof conninfo, out) && !strstr(conninfo, "target_session_attrs"))
        ;
    assert_int_equal(pclose(out), 0);
    conninfo[strcspn(conninfo, "\n")] = '\0';
    char primary_dsn[1200], standby_dsn[1200], sql[512];
    snprintf(primary_dsn, sizeof primary_dsn, "%s host=127.0.0.1 port=%d", conninfo, port + 1);
    snprintf(standby_dsn, sizeof standby_dsn, "%s host=127.0.0.1 port=%d target_session_attrs=any",
             conninfo, port + 2);
    PGconn *primary = s_connect(primary_dsn), *standby = s_connect(standby_dsn);
    PQclear(PQexec(primary, "CREATE TABLE schema_migrations (version int);"
                            "INSERT INTO schema_migrations VALUES (1);"
                            "CREATE TABLE t (id text PRIMARY KEY)"));

    f->db = db_new(conninfo, S_SCHEMA, s_pgaf_statements, 1, 50, 1000);
    assert_non_null(f->db);
    db_set_timeouts(f->db, &(db_timeouts_t){.connect_ms = 2000, .statement_ms = 1000,
                                            .reconnect_min_ms = 50, .reconnect_max_ms = 1000});
    s_drive(f, s_up, 10000, "up on the formation's primary");
    char node1[64];
    snprintf(node1, sizeof node1, "127.0.0.1:%d", port + 1);
    assert_string_equal(db_host(f->db), node1);

    s_freeze(f, (pid_t)s_number(standby, "SELECT pid FROM pg_stat_wal_receiver"));
    const char *values[] = {"o1"};
    memset(&f->out, 0, sizeof f->out);
    assert_true(db_send(f->db, "insert", 1, values, s_record, &f->out));
    s_drive(f, s_done, 1000 + S_SLACK_MS, "the insert timed out");
    assert_true(f->out.err.timed_out);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
             "'sluiced' AND wait_event = 'SyncRep'");
    assert_int_equal(s_number(primary, sql), 1);
    assert_int_equal(s_number(primary, "SELECT count(*) FROM t WHERE id = 'o1'"), 0);

    uint64_t start = clock_mono_ms();
    char *xid = s_value(primary, "SELECT x.xid || '/' || coalesce(t.id, '') FROM "
                                 "(SELECT pg_current_xact_id() AS xid) x "
                                 "LEFT JOIN t ON t.id = 'o1'");
    uint64_t xid_ms = clock_mono_ms() - start;
    assert_true(xid_ms < 1000);
    assert_non_null(strstr(xid, "/"));
    assert_string_equal(strchr(xid, '/'), "/");

    PGconn *resolve = s_connect(primary_dsn);
    assert_true(PQsendQuery(resolve,
                            "WITH ins AS (INSERT INTO t VALUES ('o1') ON CONFLICT DO NOTHING "
                            "RETURNING id) "
                            "SELECT pg_logical_emit_message(true, 'sluice', 'in-doubt'), "
                            "ARRAY(SELECT id FROM ins)"));
    assert_null(s_wait_result(resolve, 1000));
    uint64_t thawed = clock_mono_ms();
    s_thaw(f);
    PGresult *res = s_wait_result(resolve, 5000);
    assert_non_null(res);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(res, 0, 1), "{}");  /* the lost insert had stored it */
    PQclear(res);
    uint64_t resolve_ms = clock_mono_ms() - thawed;
    long on_standby = 0;
    for (uint64_t end = clock_mono_ms() + 3000; !on_standby && clock_mono_ms() < end;
         harness_nap_ms(20))
        on_standby = s_number(standby, "SELECT count(*) FROM t WHERE id = 'o1'");
    assert_int_equal(on_standby, 1);
    fprintf(stdout, "pgaf: pg_current_xact_id() lookup returned in %" PRIu64 " ms without o1 while "
            "the standby was frozen; the resolve returned %" PRIu64 " ms after the thaw, with "
            "o1 on both nodes (xid/row %s)\n", xid_ms, resolve_ms, xid);
    free(xid);
    PQfinish(resolve);
    PQfinish(primary);
    PQfinish(standby);
    s_drive(f, s_up, 5000, "up again");
    harness_pass(f->h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hung_first_host_is_passed_over, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_live_first_host_needs_no_rotation, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_rotation_follows_libpq_past_a_refusal, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_every_host_hung_backs_off, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_timeouts_apply_to_the_attempt_under_way, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_statement_deadline, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_why_down_says_what_is_wrong, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_pgaf_in_doubt_commit, s_setup, s_teardown),
    };
    if (getenv("SLUICE_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("SLUICE_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
