/* dispatch_fx.h - the fixture of the dispatch integration tests
 * (test_dispatch, test_sweep): the real sluiced with its throwaway
 * PostgreSQL and up to DFX_SIMS_MAX sluice-sim processes as platforms; the
 * config text they share; orders submitted and waited for; the checks that
 * no order ever had two live riders (the dispatches table while it runs,
 * and the simulators' ledgers after). Helpers fail the current cmocka test
 * when they cannot go on. Store HARNESS_FIRST_STORE has no platforms: the
 * harness's probe orders land there; the stores under test are 2001.. at the
 * simulators' centre. */
#ifndef SLUICE_TEST_DISPATCH_FX_H
#define SLUICE_TEST_DISPATCH_FX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness.h"
#include "sim_proc.h"

#define DFX_SIMS_MAX 3
#define DFX_REPLY_MS 10000
#define DFX_TIME_SCALE "120"        /* a simulated minute is half a real second */
#define STORE_A 2001
/* Stores make an order of harness_order_fill (3 drinks) in
 * DFX_ORDER_SECONDS + 3 * DFX_ITEM_SECONDS = 11 s: long enough that a rider a
 * few real seconds away must be held back to arrive within the margin. */
#define DFX_ITEM_SECONDS 3
#define DFX_ORDER_SECONDS 2
#define DFX_MARGIN_S 3
#define DFX_PICKUP_ETA_S 4

/* dispatches rows not ended yet (a live attempt). */
#define DFX_LIVE_SQL "dispatch_state_is_live(state)"

typedef struct dfx {
    harness_t *h;
    sim_proc_t sims[DFX_SIMS_MAX];
    char names[DFX_SIMS_MAX][16];
    size_t nsims;
    harness_client_t *cl;
} dfx_t;

/* Config text being written. */
typedef struct dfx_text {
    char buf[16384];
    size_t len;
} dfx_text_t;

/* A platform's settings; zero fields take the defaults of dfx_plat_defaults. */
typedef struct dfx_plat {
    int timeout_ms, quote_deadline_ms, max_inflight;
    double failure_ratio;
    int slow_ms, min_requests, open_seconds, window_seconds;
} dfx_plat_t;

typedef struct dfx_disp {
    int margin, pickup_eta, assign_timeout, retry, max_hold;
    int item_seconds, order_seconds;   /* the stores' prep time */
    int stuck_minutes;                 /* 0: the daemon's default */
} dfx_disp_t;

/* One line of a simulator's ledger. */
typedef struct dfx_lrec {
    uint64_t at_ms;
    char event[16];
    char key[72];
    char order_id[72];
    char info[96];
} dfx_lrec_t;

/* cmocka setup and teardown: the harness (PostgreSQL), and at teardown the
 * simulators killed (their logs printed when the test failed). */
int dfx_setup(void **state);
int dfx_teardown(void **state);
/* dfx_finish stops the daemon and the simulators, each expected to exit 0,
 * and marks the test passed. */
void dfx_finish(dfx_t *f);
/* dfx_sim starts simulator NAME with EXTRA arguments after the common ones. */
sim_proc_t *dfx_sim(dfx_t *f, const char *name, const char *const *extra);

void dfx_text_add(dfx_text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
dfx_plat_t dfx_plat_defaults(void);
void dfx_platform(dfx_text_t *t, const dfx_t *f, size_t i, const dfx_plat_t *p);
dfx_disp_t dfx_disp_defaults(void);
/* dfx_body: the dispatch section, the probe store and STORES (lines of
 * "id:platform,platform"). */
void dfx_body(dfx_text_t *t, const dfx_disp_t *d, const char *const *stores);
/* dfx_boot writes the config (simulator I with PLATS[I]), starts the daemon
 * and opens the test's client. */
void dfx_boot(dfx_t *f, const dfx_plat_t *plats, const dfx_disp_t *d, const char *const *stores);

void dfx_order_id(char *buf, size_t len, const char *prefix, size_t i);
/* dfx_submit sends one order and expects it ACCEPTED. */
void dfx_submit(dfx_t *f, const char *id, uint32_t store);
/* dfx_submit_many: N orders PREFIX-0.. over STORES in turn, all ACCEPTED. */
void dfx_submit_many(dfx_t *f, const char *prefix, size_t n, const uint32_t *stores,
                     size_t nstores);

/* dfx_query runs SQL with text parameters (rows expected); the caller PQclears. */
PGresult *dfx_query(dfx_t *f, const char *sql, int nparams, const char *const *params);
/* dfx_count_like: the count of SQL with $1 = PREFIX || '-%'. */
long dfx_count_like(dfx_t *f, const char *sql, const char *prefix);
/* dfx_no_double_live fails if an order of PREFIX has two live attempts. */
void dfx_no_double_live(dfx_t *f, const char *prefix, const char *when);
const char *dfx_describe_unfinished(dfx_t *f, const char *prefix);
/* dfx_wait_done polls until N orders of PREFIX are DELIVERED (ANY_END: in
 * any terminal state), checking on every poll that none has two live attempts. */
void dfx_wait_done(dfx_t *f, const char *prefix, long n, bool any_end, int timeout_ms);
/* dfx_check_attempts: every order of PREFIX has exactly one DELIVERED
 * attempt and none live. */
void dfx_check_attempts(dfx_t *f, const char *prefix, long n);

/* dfx_ledger_read parses PATH (sim_ledger.h); the records are malloc'ed. */
dfx_lrec_t *dfx_ledger_read(const char *path, size_t *count);
size_t dfx_ledger_count(const sim_proc_t *s, const char *event, const char *info);
/* dfx_check_ledgers: `sluice-sim --check-ledger` over every simulator's ledger exits 0. */
void dfx_check_ledgers(dfx_t *f);

/* dfx_metric: the value of SERIES (name and labels, as printed) on /metrics; -1: absent. */
double dfx_metric(dfx_t *f, const char *series);
/* dfx_breaker_metric: sluice_platform_breaker_state of NAME (-1: not found). */
int dfx_breaker_metric(dfx_t *f, const char *name);
/* dfx_wait_breaker polls until NAME's breaker shows STATE; returns the ms it took. */
uint64_t dfx_wait_breaker(dfx_t *f, const char *name, int state, int timeout_ms);

#endif
