/* drill_report.h - owns sluice-drill's record of a run and its report: the
 * per-second timeline (orders offered, accepted and given up; submissions
 * and their answers by reason; ack latency; breakers), the chaos log, the
 * failovers and how long each left intake unavailable (--ha), the
 * campaign's and regular orders by store class, the figures measured in
 * PostgreSQL after the run, the sums the report checks, the invariants,
 * and the report written as text and JSON (drill_report.c) and as a
 * self-contained HTML page with inline SVG charts (drill_page.c).
 *
 * Orders and submissions are counted apart: an order is offered once and
 * ends accepted, given up or never answered; each submission of it (a
 * retry after a refusal, a resend after no reply) is answered ACCEPTED,
 * refused for a reason or with an error, or goes unanswered. The same for
 * the stores' MarkReady requests. Every timestamp is real (the daemon's and
 * PostgreSQL's clocks); durations are shown in real seconds and, times the
 * time scale, in simulated minutes. */
#ifndef SLUICE_DRILL_REPORT_H
#define SLUICE_DRILL_REPORT_H

#include "drill_world.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define DRILL_REASONS 16          /* sluice.v1.Reason values counted; the descriptor names them */
#define DRILL_CLASSES 3           /* stores by popularity rank: 1-10, 11-100, the rest */
#define DRILL_CAMPAIGN "giveaway" /* the campaign's name in the generated config */
#define DRILL_CHAOS_MAX 64
#define DRILL_INVARIANTS_MAX 12
#define DRILL_SUMS_MAX 24
#define DRILL_INVARIANTS_MAX 12
#define DRILL_FAILOVERS_MAX 16
#define DRILL_BREAKER_UNKNOWN 255
#define DRILL_HEAT_STORES 12 /* the busiest stores in the slot-use heat map */
#define DRILL_HEAT_COLS 60   /* its time buckets */
/* The parts whose CPU time the report shows: sluiced (killed ones
 * included), PostgreSQL (since its last start), the three simulators,
 * sluice-drill itself. */
enum { DRILL_CPU_SLUICED, DRILL_CPU_POSTGRES, DRILL_CPU_SIMS, DRILL_CPU_DRILL, DRILL_CPU_PARTS };
/* drill_report_cpu_name: "sluiced", "PostgreSQL", "simulators", "sluice-drill". */
const char *drill_report_cpu_name(int part);

typedef struct {
    /* orders, by the second they were offered, accepted or given up in */
    uint32_t offered;         /* new orders the demand curve made */
    uint32_t orders_accepted; /* orders whose first ACCEPTED answer came */
    uint32_t orders_gave_up;  /* orders given up: refused too often, an error, never answered */
    uint32_t open;            /* orders neither, at the second's end */
    /* submissions: sent, and the answers that came this second */
    uint32_t sent;
    uint32_t accepted, rejected, errors;
    uint32_t timed_out; /* submissions without an answer after REPLY_TIMEOUT_MS */
    uint32_t reasons[DRILL_REASONS];
    float p50_ms, p99_ms;             /* ack latency of this second's answers; < 0: none */
    int64_t delivered;                /* DELIVERED orders in PostgreSQL so far; < 0: unknown */
    uint8_t breaker[DRILL_PLATFORMS]; /* 0 closed, 1 open, 2 half-open, 255 unknown */
    double sim_hour;                  /* the simulated time of day */
    /* measured in PostgreSQL after the run */
    uint32_t dispatched[DRILL_PLATFORMS]; /* dispatch attempts written for each platform */
    float handoff_p50_s, handoff_p90_s;   /* order wait at handoff of this second's pickups;
                                             * NAN: none */
} drill_second_t;

typedef struct {
    double at_s; /* seconds since offering began */
    char text[200];
} drill_chaos_t;

typedef struct {
    char name[64];
    bool ok;
    char detail[512];
} drill_invariant_t;

/* One sum the report checks: LEFT (one count) against RIGHT (the counts it
 * should be made of, or bound), as written in FORMULA. */
typedef enum { DRILL_SUM_EQUAL, DRILL_SUM_AT_MOST } drill_sum_kind_t;

typedef struct {
    char what[80];     /* what it counts */
    char formula[160]; /* e.g. "offered = accepted + gave up + never answered + open" */
    drill_sum_kind_t kind;
    int64_t left, right;
    bool ok;
} drill_sum_t;

/* A failover (--ha): a database primary or a shard's active node lost, from
 * the chaos action until the fleet is whole again. Intake was unavailable
 * on a shard for the longest gap between two answers ACCEPTED to the
 * producers' latest attempts, the second one after the action, up to the
 * first after the fleet was whole: the producers' view. */
typedef struct {
    char action[160];               /* what was done */
    bool database;                  /* the database failed over; else a node of SHARD */
    int shard;                      /* the shard it hit; -1: every shard */
    double at_s;                    /* seconds since offering began */
    double whole_s;                 /* when the fleet was whole again; < 0: not yet */
    double gap_s[DRILL_SHARDS_MAX]; /* per shard: the longest gap so far */
    double gap_from_s[DRILL_SHARDS_MAX], gap_to_s[DRILL_SHARDS_MAX];
    bool closed[DRILL_SHARDS_MAX]; /* an ACCEPTED came after whole_s */
} drill_failover_t;

typedef struct {
    double p50, p90, p99, max;
    size_t n;
} drill_pct_t;

/* One kind of order (regular or the campaign's) at one class of stores. */
typedef struct {
    uint64_t offered;     /* new orders */
    uint64_t submissions; /* retries and resends included */
    uint64_t accepted;
    double accepted_prep_s; /* their prep time as configured (real seconds) */
} drill_kind_t;

/* The busiest stores' slot use over time: the share of a store's slot time
 * that accepted orders' preparation took, per bucket of COL_S seconds. */
typedef struct {
    uint32_t store_id, rank, slots;
    uint64_t orders; /* accepted */
    float use[DRILL_HEAT_COLS];
} drill_heat_row_t;

typedef struct {
    size_t rows, cols;
    double col_s;
    drill_heat_row_t row[DRILL_HEAT_STORES];
} drill_heat_t;

typedef struct {
    /* the run */
    uint64_t seed;
    uint32_t stores;
    size_t cities;
    double minutes, peak_rate, scale, rider_kmh;
    char chaos_spec[1024];
    char started_at[32];
    uint64_t start_wall_ms; /* wall clock at second 0 of the timeline */
    /* the timeline, one entry per second of offering and draining */
    drill_second_t *secs;
    size_t sec_count, sec_cap;
    /* this second's ack latencies, folded into secs[] at each second's end */
    float *cur_lat;
    size_t cur_count, cur_cap;
    /* every ack latency, ms */
    float *lat_all, *lat_accepted, *lat_rejected;
    size_t n_all, n_accepted, n_rejected, cap_all, cap_accepted, cap_rejected;
    /* orders: offered = accepted + gave_up + unanswered + still open */
    uint64_t orders, accepted, gave_up, unanswered;
    uint64_t gave_up_error;       /* of gave_up: an Error answer */
    uint64_t gave_up_unavailable; /* of gave_up: the last answer was UNAVAILABLE */
    uint64_t census[4];           /* the orders' states at the end: accepted, gave up,
                                   * never answered, open (drill_load_census) */
    /* submissions = accepted answers + rejected + errors + timed out + unanswered */
    uint64_t submissions, answered_accepted, duplicates, rejected, errors, timed_out,
        unanswered_submissions, late_answers;
    uint64_t reasons[DRILL_REASONS];
    double offering_s, drain_s;
    bool interrupted; /* offering cut short by SIGINT/SIGTERM */
    /* the stores' MarkReady, requests and orders:
     * sent = ok + answered 503 (tried again) + refused + unanswered;
     * orders = ok + refused + gave up after POS_TRIES_MAX + unanswered */
    uint64_t ready_sent, ready_ok, ready_503, ready_refused, ready_unanswered;
    uint64_t ready_orders, ready_orders_ok, ready_orders_refused, ready_orders_gave_up,
        ready_orders_unanswered;
    char ready_refused_example[160];
    /* the giveaway's campaign and the feed */
    double campaign_share, store_share;
    bool honour;                          /* producers honoured the availability feed */
    uint64_t held;                        /* orders held at least once for a store not open */
    uint64_t feed_events;                 /* avail.<store_id> events the producers read */
    drill_kind_t kinds[DRILL_CLASSES][2]; /* [class][0 regular, 1 campaign] */
    /* chaos */
    drill_chaos_t chaos[DRILL_CHAOS_MAX];
    size_t chaos_count;
    /* failovers (--ha), over SHARDS shards (0 without --ha) */
    uint32_t shards;
    double last_accept_s[DRILL_SHARDS_MAX]; /* < 0: none yet */
    drill_failover_t failovers[DRILL_FAILOVERS_MAX];
    size_t failover_count;
    /* measured in PostgreSQL and the ledgers after the run */
    bool measured;
    int64_t db_orders, db_delivered, db_failed, db_cancelled, db_live, db_refund_due, db_dispatches;
    int64_t db_unacked;          /* orders in PostgreSQL never answered ACCEPTED to a producer */
    drill_pct_t e2e_s;           /* accepted -> DELIVERED, real seconds */
    drill_pct_t delivery_late_s; /* DELIVERED - promised_delivery_at, real seconds (< 0 early) */
    double delivered_late_share;
    float *late_s; /* each DELIVERED - promised, s, sorted (the histogram's) */
    size_t late_count;
    drill_pct_t ready_late_s;   /* marked READY - promised_ready_at, where the POS said so */
    drill_pct_t handoff_s;      /* first pickup - ready (marked, else promised): the order's wait */
    drill_pct_t rider_wait_s;   /* rider waiting at the counter, from the ledgers */
    double util_mean, util_max; /* store utilisation over the offering period */
    uint32_t util_max_store;
    uint32_t util_saturated; /* stores at 90% or more */
    drill_heat_t heat;
    /* where the time went: CPU seconds of each part over the run, and the
     * machine it ran on (drill_procs_cpu) */
    double cpu_s[DRILL_CPU_PARTS];
    double wall_s;
    long cores;
    double load_start, load_end; /* the 1-minute load average */
    /* the sums the report checks (drill_report_check_sums) */
    drill_sum_t sums[DRILL_SUMS_MAX];
    size_t sum_count;
    /* invariants */
    drill_invariant_t inv[DRILL_INVARIANTS_MAX];
    size_t inv_count;
} drill_report_t;

drill_report_t *drill_report_new(void) __attribute__((warn_unused_result));
void drill_report_destroy(drill_report_t **self);

/* drill_report_second returns the entry of second S, growing the timeline. */
drill_second_t *drill_report_second(drill_report_t *r, size_t s);

/* drill_report_reply records one submission's answer, its latency and
 * outcome in second S: DECISION ACCEPTED or REJECTED (for REASON), else an
 * error. */
void drill_report_reply(drill_report_t *r, size_t s, double ms, int decision, int reason);

/* drill_report_close_second folds the latencies of second S into its entry. */
void drill_report_close_second(drill_report_t *r, size_t s);

/* drill_report_chaos logs a chaos action (printf-style) at AT_S. */
void drill_report_chaos(drill_report_t *r, double at_s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* drill_report_chaos_label writes a short label of chaos entry I (up to
 * LEN bytes): its text up to the first '(' or ',', cut at a word. */
void drill_report_chaos_label(const drill_report_t *r, size_t i, char *label, size_t len);

/* drill_report_failover_begin opens a failover at AT_S (text printf-style):
 * of the DATABASE, or of SHARD's active node. Its index, or -1 when there
 * is no room left. */
int drill_report_failover_begin(drill_report_t *r, double at_s, bool database, int shard,
                                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* drill_report_failover_whole: failover F's fleet is whole again at AT_S. */
void drill_report_failover_whole(drill_report_t *r, int f, double at_s);
/* drill_report_accepted: an answer ACCEPTED to a latest attempt, for a
 * store of SHARD, came at AT_S. It counts for the last failover begun: a
 * failover's window ends when the next one begins. */
void drill_report_accepted(drill_report_t *r, uint32_t shard, double at_s);
/* drill_report_failover_over: F's fleet was whole again and every shard it
 * hit accepted orders after that. */
bool drill_report_failover_over(const drill_report_t *r, const drill_failover_t *f);
/* drill_report_failover_worst: F's longest unavailability over the shards
 * it hit (seconds; the shard in *SHARD when not NULL). */
double drill_report_failover_worst(const drill_report_t *r, const drill_failover_t *f,
                                   uint32_t *shard);

/* drill_report_invariant records one invariant's verdict. */
void drill_report_invariant(drill_report_t *r, const char *name, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* drill_report_measure reads the run's figures and checks the invariants
 * that PostgreSQL can answer: every acked order (ids PREFIX-<i> for the N
 * indexes in ACKED) is in orders; no order has two live dispatches; no store
 * promised past its max_wait; every order is terminal. RIDER_WAIT_MS holds
 * the ledgers' picked_up waits (may be empty). The timeline gets each
 * second's dispatches per platform and order wait at handoff, and the heat
 * map the busiest stores' slot use. False if the database could not be
 * asked (recorded as a failed invariant). */
bool drill_report_measure(drill_report_t *r, PGconn *c, const drill_world_t *w, const char *prefix,
                          const uint32_t *acked, size_t n, const float *rider_wait_ms,
                          size_t n_wait);

/* drill_report_check_sums checks every sum the report shows (orders,
 * submissions, MarkReady, the timeline against the totals, the store
 * classes, PostgreSQL's states), records each in r->sums, and the
 * invariant "every count in the report adds up". Call it once, last. */
void drill_report_check_sums(drill_report_t *r);

/* drill_report_ok is true when every invariant held. */
bool drill_report_ok(const drill_report_t *r);

/* drill_report_write writes report.txt, report.json and report.html into
 * DIR (drill_page.c). False when a file could not be written (logged). */
bool drill_report_write(drill_report_t *r, const char *dir) __attribute__((warn_unused_result));

/* drill_report_print_text writes the text report to F; drill_report_write_json
 * the JSON one. */
void drill_report_print_text(const drill_report_t *r, FILE *f);
void drill_report_write_json(const drill_report_t *r, FILE *f);

/* drill_report_write_html writes the HTML page (drill_page.c) to F. */
void drill_report_write_html(const drill_report_t *r, FILE *f);

/* drill_report_class: the class of a store of popularity RANK. */
size_t drill_report_class(uint32_t rank);
/* drill_report_class_name: "top 10", "11-100", "the rest". */
const char *drill_report_class_name(size_t c);

/* drill_report_reason_name: sluice.v1.Reason REASON's name, NULL if none. */
const char *drill_report_reason_name(unsigned reason);

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

/* drill_report_axis: a chart's axis from 0 to at least MAX: *STEP is the
 * least of 1, 2, 2.5 or 5 times a power of ten that needs at most 6 steps
 * (3 at least), *TOP the first step at or above MAX (1 and 0.2 for
 * nothing). */
void drill_report_axis(double max, double *top, double *step);

/* drill_report_lanes gives N labels, each spanning [FROM[i], TO[i]) along
 * an axis and sorted by FROM, a lane each (LANE[i], 0 nearest the plot) so
 * that no two in a lane overlap; a label that would need more than LANES
 * lanes gets -1 (shown by its number only). Returns the lanes used. */
int drill_report_lanes(const double *from, const double *to, size_t n, int lanes, int *lane);

#endif
