/* drill.h - owns one sluice-drill run (drill_t): its options, the orders it
 * offers, the chaos it schedules, the processes it runs and what its monitor
 * thread sees. drill.c reads the options and runs the offering loop;
 * drill_chaos.c parses and carries out the schedule, drill_procs.c starts,
 * watches and stops PostgreSQL, the platforms and the sluiced nodes
 * (base/proc), drill_ha.c is the --ha topology (a pg_auto_failover formation,
 * shards of an active and a standby node, their failovers), and
 * drill_load.c is the producers: orders, routing, retries, replies and the
 * stores' MarkReady; producers that honour the availability feed
 * (avail.<store_id> events) hold an order for a store that is not open. The
 * world is drill_world.c, the record and report drill_report.c. */
#ifndef SLUICE_DRILL_H
#define SLUICE_DRILL_H

#include "drill_report.h"
#include "drill_world.h"

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DRILL_RIDERS_MAX 60000  /* default riders per platform, at most */
#define DRILL_RIDE_SIM_S 1800.0 /* a delivery: ~30 simulated minutes of a rider */
#define DRILL_MEAN_ITEMS 1.5    /* of drill_load_new_order's 1, 2 or 3 items */
#define EXIT_BROKEN 1           /* an invariant broke */
#define EXIT_SETUP 2            /* usage, or the system under test could not be started */

#define CONNS_MAX 64 /* producer sockets per node */
#define DRILL_NODES_MAX (DRILL_SHARDS_MAX * DRILL_NODES_PER_SHARD)
#define SOCKETS_MAX (CONNS_MAX * DRILL_NODES_MAX)
#define CHAOS_ACTIONS_MAX 64
#define REPLY_TIMEOUT_MS 3000 /* no reply this long: send the same order again */
#define RESENDS_MAX 40        /* then count it as never answered */
#define SUSPECT_MS \
    (2 * REPLY_TIMEOUT_MS) /* --ha: a node that did not answer is avoided this long */
#define REPLIES_WAIT_S 20  /* after offering, wait this long for outstanding replies */
#define READY_WAIT_S 60
#define PACK_BYTES 2048
#define POS_RETRY_MS 200 /* MarkReady answered 503 (order still committing): again after */
#define POS_TRIES_MAX 20
#define POS_BIT (1ull << 63)   /* request_id of a MarkReady: POS_BIT | order index */
#define PAUSED_RECHECK_MS 5000 /* a store the feed says is paused is tried again after */
#define ERROR_UNAVAILABLE 503  /* Error.code: nothing happened, try again (sluiced's server.c) */

typedef struct {
    uint32_t stores;
    double minutes;
    double scale; /* 0 = 9 hours in --minutes */
    double peak_rate;
    uint64_t seed;
    uint32_t connections;
    uint32_t max_tries;
    uint32_t riders; /* per platform; 0 = sized from the kitchens */
    double drain_s;
    char chaos[1024];
    const char *chaos_file;
    char out[PATH_MAX];
    char bindir[PATH_MAX];
    char pgtmp[PATH_MAX];
    char pgaf[PATH_MAX];
    bool keep;
    bool quiet;
    bool no_pos;
    double campaign_share;  /* of the demand, for the giveaway's campaign */
    double store_share;     /* the campaign's store_share in the config */
    bool honour;            /* --honour-availability */
    bool ha;                /* a formation and shards of two nodes */
    uint32_t shards;        /* with --ha */
    uint32_t lease_seconds; /* with --ha */
} options_t;

typedef enum {
    CH_KILL_DAEMON,
    CH_RESTART_DB,
    CH_DARK,
    CH_LIGHT,
    CH_SLOW,
    CH_FAIL,
    CH_CANCEL_RATIO,
    CH_PAUSE_STORE,
    CH_RESUME_STORE,
    CH_HALVE_BRAND,
    CH_RIDER_PACE,
    /* --ha only: each waits until the fleet is whole (drill_ha_whole) */
    CH_KILL_DB_PRIMARY,
    CH_FREEZE_DB_PRIMARY,
    CH_KILL_ACTIVE,
    CH_FREEZE_ACTIVE,
} chaos_kind_t;

typedef struct {
    double at_s;
    chaos_kind_t kind;
    int platform; /* 0..2 */
    double value;
    char arg[64];   /* store id, brand name or shard; "" = the most popular, s1 */
    char text[128]; /* as written */
    bool held;      /* --ha: said to wait until the fleet is whole */
} chaos_action_t;

/* ---- the sluiced nodes: one, or two per shard with --ha ---- */

typedef enum { ROLE_DOWN, ROLE_ACTIVE, ROLE_STANDBY } node_role_t; /* as /readyz says */

typedef struct {
    char name[32];  /* "sluiced", or s1-1, s1-2, s2-1 ... */
    uint32_t shard; /* index: s1 is 0 */
    char ingress[128], events[128], control[256], http[64];
    char conf[PATH_MAX + 32], log[PATH_MAX + 32];
    pid_t pid;
    /* freeze-active: SIGSTOPped at FROZEN_AT, to be let run at THAW_AT (run
     * seconds); then its log from THAW_MARK on says what it did */
    double frozen_at, thaw_at;
    bool frozen, thawed;
    long thaw_mark;
    /* the producers' view: when it last answered, and when a request to it
     * last went unanswered for REPLY_TIMEOUT_MS */
    uint64_t replied_us, timed_out_us;
} drill_node_t;

/* ---- orders ---- */

enum { OS_INFLIGHT, OS_WAIT, OS_ACCEPTED, OS_GAVE_UP, OS_UNANSWERED, OS_HELD };

/* Where an order's MarkReady stands. */
enum { POS_NONE, POS_SENT, POS_AGAIN, POS_DONE };

typedef struct {
    uint32_t store;   /* index into the world's stores */
    uint32_t attempt; /* submissions so far; request_id = idx << 16 | attempt */
    uint64_t sent_us;
    float lat, lng;
    uint8_t items;
    uint8_t tries;   /* rejections so far */
    uint8_t resends; /* sends after no reply */
    uint8_t state;
    uint8_t outstanding; /* its latest submission awaits its answer */
    uint8_t last_reason; /* of its latest refusal (sluice.v1.Reason), 0: none */
    uint8_t pos_tries;   /* MarkReady requests sent */
    uint8_t pos;         /* POS_*: its MarkReady */
    uint8_t campaign;    /* it carries the giveaway's campaign */
    uint8_t probe;       /* --honour-availability: sent to learn whether its store has room */
    uint8_t was_held;    /* it waited for its store at least once */
    uint32_t next_held;  /* the next held order of its store and kind, index + 1 */
    uint8_t node;        /* the node the last submission went to */
} order_rec_t;

/* TIMER_SUBMIT: a refused order's retry; TIMER_REPLY: a submission's answer
 * is due; TIMER_POS: a kitchen finishes; TIMER_STORE: a held order may go. */
enum { TIMER_SUBMIT, TIMER_POS, TIMER_STORE, TIMER_REPLY };

/* What a producer honouring the feed knows of a store: when it takes
 * orders again (from the avail.<store_id> events and its own replies), and
 * the orders it holds for it meanwhile, by kind (0 regular, 1 campaign),
 * released one at a time once it may have room. */
typedef struct {
    uint64_t open_at_us;       /* 0: takes orders as far as we know; else not before */
    uint64_t campaign_at_us;   /* the campaign may place one here from then */
    uint64_t wake_us;          /* a TIMER_STORE is set for then (0: none) */
    uint32_t head[2], tail[2]; /* held orders, index + 1; 0: none */
    bool probing[2];           /* one held order of that kind is in flight */
} store_view_t;

typedef struct {
    uint64_t at_us;
    uint32_t idx;
    uint32_t attempt; /* TIMER_SUBMIT: the attempt it belongs to */
    uint32_t kind;
} timer_t_;

typedef struct {
    timer_t_ *v;
    size_t n, cap;
} heap_t;

/* ---- what the monitor thread sees ---- */

typedef struct {
    pthread_mutex_t mu;
    bool stop;
    bool metrics_ok;
    int64_t delivered, live, orders;
    uint8_t breaker[DRILL_PLATFORMS];
    uint64_t scrapes;
    /* --ha: each node's /readyz, and the formation as its monitor says */
    node_role_t role[DRILL_NODES_MAX];
    bool formation_whole; /* one node primary, one secondary, both as assigned */
    char db_primary[64];  /* the node the monitor has as primary; "" none */
} monitor_t;

typedef struct {
    options_t opt;
    drill_world_t *world;
    drill_report_t *report;
    drill_endpoints_t ep;      /* the database and platforms; a node's own are in nodes[] */
    char pgdir[PATH_MAX + 32]; /* pgtmp.sh's, or with --ha pgaf.sh's formation */
    char monitor_dsn[256];     /* --ha: the formation's monitor */
    char prefix[32];
    /* processes */
    drill_node_t nodes[DRILL_NODES_MAX];
    size_t node_count;
    pid_t sim_pid[DRILL_PLATFORMS];
    char sim_control[DRILL_PLATFORMS][64];
    pid_t db_restart_pid;
    double db_restart_at;
    bool daemon_down;      /* killed by chaos, not yet answering /metrics */
    uint64_t down_scrapes; /* the monitor's scrape count when it was killed */
    double daemon_killed_at;
    int daemon_unexpected_exits;
    double killed_cpu_s; /* CPU seconds of the sluiced instances killed by chaos */
    /* --ha: the failover under way (an index into the report's), the
     * monitor's scrape count when it began, a frozen database primary */
    int failover;
    uint64_t failover_scrapes;
    char db_frozen[64];     /* the node frozen; "" none */
    double db_thaw_at;      /* run seconds; 0: once another node is primary */
    int lease_exits;        /* nodes that exited 75 while a failover was under way */
    int freezes_past_lease; /* freeze-active longer than the lease */
    int freeze_exits_clean; /* ... whose node then exited 75 having written nothing */
    int freeze_exits_dirty; /* ... whose node's log says it wrote after the thaw */
    /* producers */
    void *zctx;
    void *conns[SOCKETS_MAX];         /* node n's are conns[n * connections ...] */
    uint32_t route[DRILL_SHARDS_MAX]; /* the node each shard's orders go to */
    uint32_t rr;
    void *avail;         /* SUB of avail.<store_id> events (--honour-availability) */
    store_view_t *views; /* one per store (--honour-availability) */
    order_rec_t *orders;
    size_t order_count, order_cap;
    heap_t timers;
    size_t inflight;  /* orders in flight */
    size_t pending;   /* submissions awaiting their answer */
    uint64_t rng;     /* the orders: their stores, sizes, drop-offs, campaign */
    uint64_t pos_rng; /* the kitchens' timing: a stream of its own, so that runs
                                 * of one seed offer the same orders whatever is accepted */
    double owed;      /* orders due but not yet made */
    uint64_t start_us;
    /* chaos */
    chaos_action_t chaos[CHAOS_ACTIONS_MAX];
    size_t chaos_count;
    /* monitor */
    monitor_t mon;
    pthread_t mon_thread;
    bool mon_started;
} drill_t;

/* drill_interrupts: how many times SIGINT or SIGTERM came (the first ends
 * the offering, the second the wait). */
int drill_interrupts(void);
/* drill_elapsed_s: seconds since the offering began. */
double drill_elapsed_s(const drill_t *d);
/* drill_log writes one progress line to stderr (D may be NULL before the run). */
void drill_log(const drill_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* drill_parse_double parses S as a finite number in LO..HI. */
bool drill_parse_double(const char *s, double lo, double hi, double *out);

/* drill_chaos_parse reads --chaos and --chaos-file into d->chaos, by time;
 * false (said) on a bad action. */
bool drill_chaos_parse(drill_t *d);
/* drill_chaos_run carries out action A, AT seconds into the run, and
 * records it in the report. */
void drill_chaos_run(drill_t *d, chaos_action_t *a, double at);

/* drill_procs_setup starts PostgreSQL (with --ha, the formation), the
 * platforms and the sluiced nodes; false (said) when one could not be
 * started. */
bool drill_procs_setup(drill_t *d);
/* drill_procs_write_configs writes every node's config for the world as it
 * is now; false (said) when one could not be written. */
bool drill_procs_write_configs(drill_t *d);
/* drill_procs_free_port returns a TCP port that was free on 127.0.0.1 a
 * moment ago and not handed out before by this process, or 0. */
unsigned drill_procs_free_port(void);
/* drill_procs_start_node starts node N (sluiced -c its config). */
void drill_procs_start_node(drill_t *d, drill_node_t *n);
/* drill_procs_wait_role waits up to SECONDS for node N's /readyz to say
 * ROLE; false (said) when it did not. */
bool drill_procs_wait_role(drill_t *d, drill_node_t *n, node_role_t role, double seconds);
/* drill_procs_pgtmp runs pgtmp.sh CMD on the drill's database; DSN (if not
 * NULL) gets what it printed. */
bool drill_procs_pgtmp(drill_t *d, const char *cmd, char *dsn, size_t cap);
/* drill_procs_sim_control sends one text command to platform P's control
 * socket; true when it answered "ok...". ANSWER gets the answer. */
bool drill_procs_sim_control(drill_t *d, int p, const char *cmd, char *answer, size_t cap);
/* drill_procs_kill_daemon: kill -9 of sluiced and a new one, as a crash
 * and its restart by systemd. */
void drill_procs_kill_daemon(drill_t *d, double at);
/* drill_procs_restart_db stops PostgreSQL and starts it a second later, in
 * the background (drill_procs_watch reports when it is back). */
void drill_procs_restart_db(drill_t *d, double at);
/* drill_procs_watch reaps the database restart and notices a node that
 * died on its own (which is restarted, and breaks the run unless it was a
 * node of a shard that lost its lease to a failover: drill_ha_exited). */
void drill_procs_watch(drill_t *d, double at);
/* drill_procs_monitor_start starts the monitor thread (/metrics and
 * PostgreSQL once a second); drill_procs_monitor_stop joins it. */
bool drill_procs_monitor_start(drill_t *d);
void drill_procs_monitor_stop(drill_t *d);
/* drill_procs_stop_daemon and drill_procs_stop_sims: SIGTERM, then SIGKILL
 * after the grace; drill_procs_wait_db waits for a database restart. */
void drill_procs_stop_daemon(drill_t *d, int grace_ms);
/* drill_procs_log_since: node N's log from byte MARK on (malloc'ed, NULL
 * when it cannot be read); drill_procs_log_size its size now. */
char *drill_procs_log_since(const drill_node_t *n, long mark);
long drill_procs_log_size(const drill_node_t *n);

/* ---- --ha (drill_ha.c) ---- */

/* drill_ha_start_formation starts the pg_auto_failover formation (pgaf.sh
 * start) in d->pgdir and sets d->ep.dsn to its multi-host string. */
bool drill_ha_start_formation(drill_t *d);
/* drill_ha_pgaf runs pgaf.sh CMD [NODE] on the formation; OUT (if not
 * NULL) gets the first line it printed. */
bool drill_ha_pgaf(drill_t *d, const char *cmd, const char *node, char *out, size_t cap);
/* drill_ha_plan_nodes names the nodes of every shard and picks their
 * endpoints (fills d->nodes, d->ep's shard map). */
void drill_ha_plan_nodes(drill_t *d);
/* drill_ha_whole: the formation has a primary and a secondary, every shard
 * one active node and one standby, nothing is frozen, and the monitor has
 * seen it since the last failover began. */
bool drill_ha_whole(drill_t *d);
/* drill_ha_settled: the fleet is whole (drill_ha_whole; the failover under
 * way is recorded whole again at AT) and every shard it hit has accepted an
 * order since: the next failover may begin. */
bool drill_ha_settled(drill_t *d, double at);
/* drill_ha_run carries out an HA chaos action (CH_KILL_DB_PRIMARY ..
 * CH_FREEZE_ACTIVE), opening a failover in the report. */
void drill_ha_run(drill_t *d, const chaos_action_t *a, double at);
/* drill_ha_step, once a second: thaws what is due, and records the failover
 * under way over once the fleet is whole again (drill_ha_settled). */
void drill_ha_step(drill_t *d, double at);
/* drill_ha_exited: node N exited with STATUS (not killed by the drill);
 * true when that is a node doing its job: a lease lost (75) while a
 * failover was under way, or after a freeze past its lease, which is then
 * checked: it must have written nothing after it lost the lease. */
bool drill_ha_exited(drill_t *d, drill_node_t *n, int status, double at);
/* drill_ha_finish records the HA invariants at the end of the run. */
void drill_ha_finish(drill_t *d);
void drill_procs_stop_sims(drill_t *d);
void drill_procs_wait_db(drill_t *d);
/* drill_procs_cpu records, before anything is stopped, the CPU seconds
 * sluiced, PostgreSQL, the simulators and the drill have used, and the
 * load average. */
void drill_procs_cpu(drill_t *d);
/* drill_procs_load: the machine's 1-minute load average (0 when unknown). */
double drill_procs_load(void);
/* drill_procs_check_ledgers runs sluice-sim --check-ledger on the three
 * ledgers and records the invariant. */
void drill_procs_check_ledgers(drill_t *d);

/* drill_load_open connects the producers' DEALER sockets to every node's
 * ingress (--connections of them each). */
bool drill_load_open(drill_t *d);
/* drill_load_sec: the run's second NOW_US falls in. */
size_t drill_load_sec(const drill_t *d, uint64_t now_us);
/* drill_load_new_order makes one order and submits it; false when out of
 * memory (or of order numbers). */
bool drill_load_new_order(drill_t *d, uint64_t now);
/* drill_load_finish moves order O to STATE (OS_*), out of flight. */
void drill_load_finish(drill_t *d, order_rec_t *o, int state);
/* drill_load_end_replies: the wait for answers is over at NOW; orders
 * still in flight were never answered, nor were the submissions awaiting
 * an answer. */
void drill_load_end_replies(drill_t *d, uint64_t now);
/* drill_load_end_pos: the kitchens are done; a MarkReady awaiting its
 * answer was never answered, one waiting to be sent again gave up. */
void drill_load_end_pos(drill_t *d);
/* drill_load_census counts the orders by how they ended into the
 * report's census (accepted, gave up, never answered, still open). */
void drill_load_census(drill_t *d);
/* drill_load_drain handles the replies waiting on every socket. */
void drill_load_drain(drill_t *d, bool offering, uint64_t offering_end_us);
/* drill_load_fire_timers: retries of rejected orders, resends of unanswered
 * ones, and the stores' MarkReady, as they fall due. */
void drill_load_fire_timers(drill_t *d, uint64_t now, bool offering);
/* drill_load_acked lists the indexes of the orders acknowledged ACCEPTED
 * (malloc'ed, *N of them; NULL when out of memory). */
uint32_t *drill_load_acked(const drill_t *d, size_t *n);
/* drill_load_feed reads the avail.<store_id> events waiting (with
 * --honour-availability) and releases held orders of stores that opened. */
void drill_load_feed(drill_t *d, uint64_t now);
/* drill_load_give_up_held: offering has ended at NOW; the held orders give up. */
void drill_load_give_up_held(drill_t *d, uint64_t now);

#endif
