/* drill_report.h - owns sluice-drill's record of a run and its report: the
 * per-second timeline (offered, accepted, rejected by reason, ack latency,
 * breakers), the chaos log, the campaign's and regular orders by store
 * class, the figures measured in PostgreSQL after the run, the invariants,
 * and the report written as text, JSON and a self-contained HTML page with
 * inline SVG charts. */
#ifndef SLUICE_DRILL_REPORT_H
#define SLUICE_DRILL_REPORT_H

#include "drill_world.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define DRILL_REASONS 16        /* sluice.v1.Reason values counted; the descriptor names them */
#define DRILL_CLASSES 3         /* stores by popularity rank: 1-10, 11-100, the rest */
#define DRILL_CAMPAIGN "giveaway"   /* the campaign's name in the generated config */
#define DRILL_CHAOS_MAX 64
#define DRILL_INVARIANTS_MAX 8
#define DRILL_BREAKER_UNKNOWN 255

typedef struct {
    uint32_t offered;           /* new orders the demand curve made this second */
    uint32_t sent;              /* submissions, retries included */
    uint32_t accepted, rejected, errors;
    uint32_t reasons[DRILL_REASONS];
    float p50_ms, p99_ms;       /* ack latency of this second's replies; < 0: none */
    int64_t delivered;          /* DELIVERED orders in PostgreSQL so far; < 0: unknown */
    uint8_t breaker[DRILL_PLATFORMS];   /* 0 closed, 1 open, 2 half-open, 255 unknown */
    double sim_hour;            /* the simulated time of day */
} drill_second_t;

typedef struct {
    double at_s;                /* seconds since offering began */
    char text[200];
} drill_chaos_t;

typedef struct {
    char name[64];
    bool ok;
    char detail[512];
} drill_invariant_t;

typedef struct {
    double p50, p90, p99, max;
    size_t n;
} drill_pct_t;

/* One kind of order (regular or the campaign's) at one class of stores. */
typedef struct {
    uint64_t offered;           /* new orders */
    uint64_t submissions;       /* retries and resends included */
    uint64_t accepted;
    double accepted_prep_s;     /* their prep time as configured (real seconds) */
} drill_kind_t;

typedef struct {
    /* the run */
    uint64_t seed;
    uint32_t stores;
    double minutes, peak_rate, scale;
    char chaos_spec[1024];
    char started_at[32];
    /* the timeline, one entry per second of offering and draining */
    drill_second_t *secs;
    size_t sec_count, sec_cap;
    /* this second's ack latencies, folded into secs[] at each second's end */
    float *cur_lat;
    size_t cur_count, cur_cap;
    /* every ack latency, ms */
    float *lat_all, *lat_accepted, *lat_rejected;
    size_t n_all, n_accepted, n_rejected, cap_all, cap_accepted, cap_rejected;
    /* producer totals */
    uint64_t orders, submissions, accepted, duplicates, rejected, errors, gave_up,
        unanswered, resent_after_timeout;
    uint64_t reasons[DRILL_REASONS];
    double offering_s, drain_s;
    bool interrupted;           /* offering cut short by SIGINT/SIGTERM */
    uint64_t ready_sent, ready_ok, ready_refused;   /* the stores' MarkReady */
    char ready_refused_example[160];
    /* the giveaway's campaign and the feed */
    double campaign_share, store_share;
    bool honour;                /* producers honoured the availability feed */
    uint64_t held;              /* orders held at least once for a store not open */
    uint64_t feed_events;       /* avail.<store_id> events the producers read */
    drill_kind_t kinds[DRILL_CLASSES][2];   /* [class][0 regular, 1 campaign] */
    /* chaos */
    drill_chaos_t chaos[DRILL_CHAOS_MAX];
    size_t chaos_count;
    /* measured in PostgreSQL and the ledgers after the run */
    bool measured;
    int64_t db_orders, db_delivered, db_failed, db_cancelled, db_live, db_refund_due;
    drill_pct_t e2e_s;          /* accepted -> DELIVERED, real seconds */
    drill_pct_t delivery_late_s;/* DELIVERED - promised_delivery_at, real seconds (< 0 early) */
    double delivered_late_share;
    drill_pct_t ready_late_s;   /* marked READY - promised_ready_at, where the POS said so */
    drill_pct_t handoff_s;      /* first pickup - ready (marked, else promised): the order's wait */
    drill_pct_t rider_wait_s;   /* rider waiting at the counter, from the ledgers */
    double util_mean, util_max; /* store utilisation over the offering period */
    uint32_t util_max_store;
    uint32_t util_saturated;    /* stores at 90% or more */
    /* invariants */
    drill_invariant_t inv[DRILL_INVARIANTS_MAX];
    size_t inv_count;
} drill_report_t;

drill_report_t *drill_report_new(void) __attribute__((warn_unused_result));
void drill_report_destroy(drill_report_t **self);

/* drill_report_second returns the entry of second S, growing the timeline. */
drill_second_t *drill_report_second(drill_report_t *r, size_t s);

/* drill_report_reply records one reply's latency and outcome in second S. */
void drill_report_reply(drill_report_t *r, size_t s, double ms, int decision, int reason);

/* drill_report_close_second folds the latencies of second S into its entry. */
void drill_report_close_second(drill_report_t *r, size_t s);

/* drill_report_chaos logs a chaos action (printf-style) at AT_S. */
void drill_report_chaos(drill_report_t *r, double at_s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* drill_report_invariant records one invariant's verdict. */
void drill_report_invariant(drill_report_t *r, const char *name, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* drill_report_measure reads the run's figures and checks the invariants
 * that PostgreSQL can answer: every acked order (ids PREFIX-<i> for the N
 * indexes in ACKED) is in orders; no order has two live dispatches; no store
 * promised past its max_wait; every order is terminal. RIDER_WAIT_MS holds
 * the ledgers' picked_up waits (may be empty). False if the database could
 * not be asked (recorded as a failed invariant). */
bool drill_report_measure(drill_report_t *r, PGconn *c, const drill_world_t *w,
                          const char *prefix, const uint32_t *acked, size_t n,
                          const float *rider_wait_ms, size_t n_wait);

/* drill_report_ok is true when every invariant held. */
bool drill_report_ok(const drill_report_t *r);

/* drill_report_write writes report.txt, report.json and report.html into
 * DIR. False when a file could not be written (logged). */
bool drill_report_write(drill_report_t *r, const char *dir) __attribute__((warn_unused_result));

/* drill_report_print_text writes the text report to F. */
void drill_report_print_text(const drill_report_t *r, FILE *f);

/* drill_report_class: the class of a store of popularity RANK. */
size_t drill_report_class(uint32_t rank);

/* drill_report_regular_accepted: the share of the regular orders offered
 * at the top-10 stores that were accepted (0 when none was offered); the
 * campaign's share leaves them at least 1 - store_share of those kitchens.
 * drill_report_regular_share: their part of the prep time accepted there
 * (0 when none was), which their demand bounds too. */
double drill_report_regular_accepted(const drill_report_t *r);
double drill_report_regular_share(const drill_report_t *r);

/* drill_report_per_accepted: submissions per accepted order of KIND (0
 * regular, 1 campaign, 2 both), over every class; 0 when none accepted. */
double drill_report_per_accepted(const drill_report_t *r, int kind);

/* drill_report_percentiles sorts V (N floats) in place and fills OUT. */
void drill_report_percentiles(float *v, size_t n, drill_pct_t *out);

#endif
