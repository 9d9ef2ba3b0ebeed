/* harness.h - shared helpers of the integration tier: one main() for every
 * test file, a fresh database per test, a config file, the real sluiced as a
 * child process on the ports it picks, ZeroMQ clients speaking the wire
 * contract, and libpq checks.
 *
 * Environment (set by tests/run-integration.sh; harness_main checks it):
 *   SLUICE_TEST_PGDIR      the throwaway PostgreSQL's directory (pgtmp.sh)
 *   SLUICE_TEST_DSN_BASE   libpq string without dbname
 *   SLUICE_BIN             path of sluiced
 *   SLUICE_TOOLS           directory holding pgtmp.sh
 *   SLUICE_TEST_FILTER     optional: run only the cases whose names match
 *                          this glob, e.g. test_reload or 'test_flow*'
 *
 * Every wait polls a condition against a deadline; nothing sleeps a fixed
 * time to synchronise. Helpers that cannot go on fail the current cmocka
 * test (they call fail_msg), so a test reads as a list of steps. */
#ifndef SLUICE_TEST_HARNESS_H
#define SLUICE_TEST_HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <libpq-fe.h>

#include "proto/sluice.pb-c.h"

#define HARNESS_FIRST_STORE 1001
#define HARNESS_STORE_COUNT 10
#define HARNESS_MAX_ITEMS 64
#define HARNESS_STR_MAX 160
#define HARNESS_HELD_MAX 4

/* ---- the runner ---- */

/* One test case: its name (cmocka's, and what SLUICE_TEST_FILTER matches)
 * and its function. */
typedef struct harness_case {
    const char *name;
    void (*test)(void **state);
} harness_case_t;

#define HARNESS_CASE(fn) { #fn, fn }
#define HARNESS_COUNT(cases) (sizeof(cases) / sizeof((cases)[0]))

/* harness_main is every test file's main(): it checks the environment,
 * ignores SIGPIPE, applies SLUICE_TEST_FILTER, and runs the N CASES as
 * cmocka group GROUP, each between SETUP and TEARDOWN (NULL: harness_setup
 * and harness_teardown). Returns what main returns. cmocka prints the
 * summary tests/run-integration.sh counts. */
int harness_main(const char *group, const harness_case_t *cases, size_t n,
                 int (*setup)(void **state), int (*teardown)(void **state));

typedef struct harness_client harness_client_t;

typedef struct harness {
    char tmpdir[256];             /* per-test mkdtemp directory, removed on teardown */
    char dbname[64];              /* per-test database */
    char dsn[1024];               /* SLUICE_TEST_DSN_BASE + dbname */
    char conf_path[PATH_MAX];
    char log_path[PATH_MAX];
    /* Where clients reach sluiced. A test may set ingress, events or http
     * (and platform_endpoint) before the first config is written; the rest
     * are written as wildcards ("tcp://127.0.0.1:*", "127.0.0.1:0") and
     * become the endpoints sluiced bound once harness_start has read its
     * "bound:" log line. */
    char ingress[64];
    char events[64];
    char control[PATH_MAX + 16];
    char http[64];
    char platform_endpoint[128];  /* platform "sim": unless set, a held port nobody answers on */
    /* What the config file says for ingress, events and http: the wildcards
     * until a daemon has bound them; the next harness_start pins the file to
     * the bound ports, so a restarted daemon is where clients already are,
     * while a reload of the first daemon still sees its own config. */
    char conf_ingress[64];
    char conf_events[64];
    char conf_http[64];
    int held[HARNESS_HELD_MAX];   /* harness_hold_port's sockets, closed on teardown */
    size_t held_count;
    pid_t pid;                    /* running sluiced, 0 when none */
    off_t log_mark;               /* log size when the current daemon started */
    unsigned starts;              /* how many daemons this test started */
    void *zctx;                   /* ZeroMQ context for the clients */
    harness_client_t *clients;    /* open clients, closed on teardown if a test failed */
    PGconn *pg;                   /* connection to the test database, lazily opened */
    bool pg_stopped;              /* the test stopped the shared server */
    bool passed;                  /* set by harness_pass; teardown dumps the log otherwise */
} harness_t;

/* cmocka group/test fixtures. harness_setup creates the database and the temp
 * dir; harness_teardown kills the daemon, restarts PostgreSQL if the test
 * stopped it, dumps the daemon log when the test did not reach harness_pass,
 * and removes the temp dir. Both always succeed or fail loudly. */
int harness_setup(void **state);
int harness_teardown(void **state);
void harness_pass(harness_t *h);

/* harness_hold_port binds a TCP socket on 127.0.0.1 to a port the kernel
 * picks, without listening, and keeps it until teardown: nobody else can
 * take the port, and connecting to it is refused. Returns the port. */
int harness_hold_port(harness_t *h);

/* harness_write_config writes conf_path: the daemon's endpoints (see
 * harness_t), the test DSN, one brand, platform "sim" (adapter zmq), stores
 * 1001..1010 with generous capacity, plus EXTRA (more keys inside
 * `daemon = { ... }`, may be NULL), e.g. "max_pending_orders = 5;
 * commit_batch_max = 1;". */
void harness_write_config(harness_t *h, const char *extra);

/* harness_write_config_text writes PATH (NULL: conf_path): the same daemon
 * section with DAEMON_EXTRA inside (may be NULL), platform "sim", then BODY
 * verbatim (brands, stores; anything after the daemon section, also text
 * that is meant to be invalid). Every write keeps the endpoints of the one
 * before, so the file can be rewritten and reloaded with SIGHUP. BODY needs
 * store HARNESS_FIRST_STORE for harness_wait_ready's probe. */
void harness_write_config_text(harness_t *h, const char *path, const char *daemon_extra,
                               const char *body);
/* harness_boot_text = harness_write_config_text, migrate, start, wait ready. */
void harness_boot_text(harness_t *h, const char *daemon_extra, const char *body);
/* harness_write_config_platforms and harness_boot_platforms are the two
 * above with PLATFORMS (the entries of the `platforms` list, verbatim)
 * instead of the one platform "sim"; NULL: "sim" as above. */
void harness_write_config_platforms(harness_t *h, const char *path, const char *daemon_extra,
                                    const char *platforms, const char *body);
void harness_boot_platforms(harness_t *h, const char *daemon_extra, const char *platforms,
                            const char *body);

/* harness_run runs sluiced with ARGS (NULL-terminated, not counting argv[0]),
 * output appended to the log, and returns its exit status (128+sig when
 * killed, -1 on timeout). */
int harness_run(harness_t *h, int timeout_ms, const char *const *args);
int harness_migrate(harness_t *h);   /* sluiced -c conf --migrate */

/* harness_spawn starts sluiced with ARGS, output appended to OUT_PATH, and
 * returns its pid; harness_reap polls it for TIMEOUT_MS and returns its exit
 * status (128+sig when killed), or -1 if it is still running. */
pid_t harness_spawn(harness_t *h, const char *out_path, const char *const *args);
/* harness_spawn_bin is harness_spawn running BIN (sluicectl, say) instead. */
pid_t harness_spawn_bin(harness_t *h, const char *bin, const char *out_path,
                        const char *const *args);
int harness_reap(pid_t pid, int timeout_ms);

/* harness_run_capture is harness_run writing output to OUT_PATH instead. */
int harness_run_capture(harness_t *h, int timeout_ms, const char *out_path,
                        const char *const *args);

/* harness_start starts `sluiced -c conf` in the background. While the file
 * has wildcard endpoints it waits for the daemon's "bound:" log line (or its
 * exit) and takes the endpoints from it; on a later start it first pins
 * the file's wildcards to those endpoints. harness_wait_ready polls until
 * the log says "ready", a GetOrder gets any Reply and a probe SubmitOrder to
 * store 1001 is ACCEPTED. harness_boot = write config, migrate, start, wait
 * ready, asserting each step. */
void harness_start(harness_t *h);
bool harness_wait_ready(harness_t *h, int timeout_ms);
void harness_boot(harness_t *h, const char *extra);

/* harness_signal sends SIG to the daemon. harness_wait_exit polls for its exit
 * and returns the exit status (128+sig when killed), or -1 on timeout. */
void harness_signal(harness_t *h, int sig);
int harness_wait_exit(harness_t *h, int timeout_ms);
bool harness_daemon_alive(harness_t *h);
/* harness_stop: SIGTERM, wait, SIGKILL if it lingers. Returns exit status. */
int harness_stop(harness_t *h, int timeout_ms);

void harness_dump_log(harness_t *h);
bool harness_log_contains(harness_t *h, const char *needle, bool since_start);
/* harness_log_size is the log's length now: a mark for the _from calls.
 * harness_log_read_from returns the log from byte FROM on (malloc'ed, never
 * NULL). */
off_t harness_log_size(harness_t *h);
char *harness_log_read_from(harness_t *h, off_t from);
bool harness_log_contains_from(harness_t *h, off_t from, const char *needle);
/* harness_read_file: the whole file at PATH, malloc'ed and NUL-terminated
 * ("" when it cannot be read). */
char *harness_read_file(const char *path);
/* harness_mkdtemp makes a fresh directory NAME-<six random characters>
 * under $TMPDIR (else /tmp) and writes its path to BUF; false when the path
 * does not fit in LEN or mkdtemp fails (errno says why). */
bool harness_mkdtemp(char *buf, size_t len, const char *name);
/* harness_rmtemp removes DIR and everything under it, unless
 * SLUICE_TEST_KEEP is set: then it says that it kept it. */
void harness_rmtemp(const char *dir);
/* harness_wait_log polls until the log from FROM on contains NEEDLE. */
bool harness_wait_log(harness_t *h, off_t from, const char *needle, int timeout_ms);

/* harness_daemon_rss_kb: VmRSS of the running daemon (/proc), -1 if unknown. */
long harness_daemon_rss_kb(harness_t *h);

/* Time. */
uint64_t harness_now_ms(void);       /* monotonic */
uint64_t harness_wall_ms(void);      /* unix epoch */
void harness_nap_ms(int ms);         /* poll interval only, never as synchronisation */

/* ---- client API ---- */

struct harness_client {
    harness_t *owner;
    harness_client_t *next;       /* in owner->clients */
    void *sock;
    int type;                 /* ZMQ_DEALER or ZMQ_REQ */
    bool delimiter;           /* DEALER sends an empty delimiter frame like REQ does */
    uint64_t next_request_id;
};

/* harness_client_new connects a DEALER or REQ to the daemon's ingress;
 * harness_client_new_at to ENDPOINT (another daemon's), closed on teardown
 * all the same. */
harness_client_t *harness_client_new(harness_t *h, int type);
harness_client_t *harness_client_new_at(harness_t *h, int type, const char *endpoint);
/* harness_client_destroy closes with linger 0; NULL is fine. */
void harness_client_destroy(harness_client_t **self);

/* A SubmitOrder with its own storage. Do not copy: msg points into it. */
typedef struct harness_order {
    Sluice__V1__SubmitOrder msg;
    Sluice__V1__Geo dropoff;
    Sluice__V1__Item item_storage[HARNESS_MAX_ITEMS];
    Sluice__V1__Item *items[HARNESS_MAX_ITEMS];
    char order_id[HARNESS_STR_MAX];
    char skus[HARNESS_MAX_ITEMS][HARNESS_STR_MAX];
    char voucher_id[HARNESS_STR_MAX];
    char customer_ref[HARNESS_STR_MAX];
} harness_order_t;

/* harness_order_fill makes a valid order: 2 items, dropoff near the stores,
 * created_at_ms = now. harness_order_set_items resizes to N (<= 64) items. */
void harness_order_fill(harness_order_t *o, const char *order_id, uint32_t store_id);
void harness_order_set_items(harness_order_t *o, size_t n);

/* Senders return the request_id used (a DEALER may pipeline). */
uint64_t harness_send_request(harness_client_t *c, Sluice__V1__Request *req);
uint64_t harness_send_submit(harness_client_t *c, const harness_order_t *o);
uint64_t harness_send_get(harness_client_t *c, const char *order_id);
uint64_t harness_send_cancel(harness_client_t *c, const char *order_id, const char *reason);
uint64_t harness_send_ready(harness_client_t *c, const char *order_id);
void harness_send_raw(harness_client_t *c, const void *data, size_t len);

/* harness_recv returns the next Reply or NULL on timeout; an undecodable
 * reply fails the test. Free with harness_reply_free. */
Sluice__V1__Reply *harness_recv(harness_client_t *c, int timeout_ms);
void harness_reply_free(Sluice__V1__Reply **reply);
/* harness_recv_for waits for the reply to REQUEST_ID, dropping others. */
Sluice__V1__Reply *harness_recv_for(harness_client_t *c, uint64_t request_id, int timeout_ms);
/* Round trips: send and wait for the matching reply (NULL on timeout). */
Sluice__V1__Reply *harness_submit(harness_client_t *c, const harness_order_t *o, int timeout_ms);
Sluice__V1__Reply *harness_get(harness_client_t *c, const char *order_id, int timeout_ms);
Sluice__V1__Reply *harness_cancel(harness_client_t *c, const char *order_id, const char *reason,
                                  int timeout_ms);
Sluice__V1__Reply *harness_mark_ready(harness_client_t *c, const char *order_id, int timeout_ms);

/* harness_expect_ack fails the test unless R is an ack with DECISION and
 * REASON; WHAT names the step in the message. */
void harness_expect_ack(const Sluice__V1__Reply *r, int decision, int reason, const char *what);

/* harness_expect_status fails the test unless R is the status of ORDER_ID
 * in STATE. */
void harness_expect_status(const Sluice__V1__Reply *r, const char *order_id, const char *state,
                           const char *what);

const char *harness_decision_name(int decision);
const char *harness_reason_name(int reason);
/* harness_reply_describe formats a reply for failure messages. */
const char *harness_reply_describe(const Sluice__V1__Reply *r, char *buf, size_t len);

/* ---- pipelined streams ----
 * A stream sends COUNT orders named PREFIX-<i> over one DEALER with at most
 * WINDOW unanswered, spread over the stores, and records each reply.
 * Create and destroy streams on the test's thread; pumping may happen on
 * another thread, one thread per stream. */

enum harness_outcome { HARNESS_PENDING = 0, HARNESS_ACCEPTED, HARNESS_REJECTED, HARNESS_ERROR };

typedef struct harness_stream {
    harness_client_t *client;
    char prefix[48];
    size_t count, window, sent, replied;
    int rate_per_sec;             /* 0: as fast as the window allows */
    uint64_t started_ms;
    uint8_t *outcome;             /* enum harness_outcome per index */
    uint8_t *reason;              /* Reason per index when rejected */
    uint64_t *retry_after;        /* retry_after_ms per index */
    bool *duplicate;
    uint64_t *acked_ms;           /* when the reply came (monotonic) */
    size_t accepted, rejected, errors, duplicates, unexpected;
    size_t by_reason[16];
    uint64_t last_reply_ms;
    size_t last_accepted_index;   /* most recent index answered ACCEPTED */
    bool any_accepted;
    uint64_t *sent_us;            /* when each was sent (monotonic us) */
    uint64_t *replied_us;         /* when its reply came (monotonic us) */
    /* Optional, set before the first pump: orders go to stores[i % store_count]
     * instead of the harness's stores; DRINKS > 0 is the quantity of the
     * order's one item (otherwise 1..3 by index). */
    uint32_t stores[16];
    size_t store_count;
    unsigned drinks;
} harness_stream_t;

harness_stream_t *harness_stream_new(harness_t *h, const char *prefix, size_t count,
                                     size_t window);
void harness_stream_destroy(harness_stream_t **self);
/* harness_stream_pump sends what the window and rate allow and handles replies
 * for up to BUDGET_MS. Returns the number of replies handled. */
size_t harness_stream_pump(harness_stream_t *s, int budget_ms);
/* harness_stream_finish pumps until every sent request is answered or the
 * deadline passes; no new sends. Returns true when all were answered. */
bool harness_stream_drain(harness_stream_t *s, int timeout_ms);
void harness_stream_order_id(const harness_stream_t *s, size_t i, char *buf, size_t len);
/* harness_stream_fill_order builds the order for index I (same content every time). */
void harness_stream_fill_order(const harness_stream_t *s, size_t i, harness_order_t *o);

/* ---- HTTP ---- */

/* harness_http_get GETs PATH from the daemon's http endpoint (HTTP/1.0, one
 * connection per call) and returns the status code, or -1 when it could not
 * connect or read. The body, NUL-terminated, goes to BODY (truncated to LEN). */
int harness_http_get(harness_t *h, const char *path, char *body, size_t len);
/* harness_http_get_at is harness_http_get of the endpoint HTTP (host:port). */
int harness_http_get_at(const char *http, const char *path, char *body, size_t len);

/* ---- PostgreSQL ---- */

/* harness_db returns the connection to the test database (reopened when it
 * was lost). harness_db_count runs SQL with NPARAMS text parameters and
 * returns the first column of the first row as a number, -1 on error.
 * harness_db_value returns it as malloc'ed text (NULL: no row or error). */
PGconn *harness_db(harness_t *h);
long harness_db_count(harness_t *h, const char *sql, int nparams, ...);
char *harness_db_value(harness_t *h, const char *sql, int nparams, ...);
/* harness_db_missing returns how many of IDS are not in orders, and copies
 * the first missing id into FIRST (if non-NULL). -1 on error. */
long harness_db_missing(harness_t *h, char *const *ids, size_t n, char *first, size_t first_len);
/* harness_stream_check_accepted asserts every index answered ACCEPTED is a
 * row of orders; returns the number checked. */
size_t harness_stream_check_accepted(harness_t *h, const harness_stream_t *s);

/* Stop and start the shared server (tools/scripts/pgtmp.sh). */
void harness_pg_stop(harness_t *h);
void harness_pg_start(harness_t *h);
/* harness_pg_stop_begin runs `pgtmp.sh stop` in the background so the test
 * can keep streaming meanwhile; reap the returned pid with harness_reap. */
pid_t harness_pg_stop_begin(harness_t *h);

#endif
