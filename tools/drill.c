/* drill.c - owns sluice-drill: runs a flash crowd with chaos against a whole
 * Sluice (throwaway PostgreSQL, three sluice-sim platforms, sluiced) and
 * checks that nothing was lost. The world (stores, demand curve, config) is
 * drill_world.c; the record and the report are drill_report.c. */
#include "drill_report.h"
#include "drill_world.h"
#include "proto/sluice.pb-c.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <libpq-fe.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define DRILL_RIDERS_MAX 60000     /* default riders per platform, at most */
#define DRILL_RIDE_SIM_S 1800.0     /* a delivery: ~30 simulated minutes of a rider */
#define DRILL_MEAN_ITEMS 1.5        /* of s_new_order's 1, 2 or 3 items */
#define EXIT_BROKEN 1          /* an invariant broke */
#define EXIT_SETUP 2           /* usage, or the system under test could not be started */

#define CONNS_MAX 64
#define CHAOS_ACTIONS_MAX 64
#define REPLY_TIMEOUT_MS 3000  /* no reply this long: send the same order again */
#define RESENDS_MAX 40         /* then count it as never answered */
#define REPLIES_WAIT_S 20      /* after offering, wait this long for outstanding replies */
#define READY_WAIT_S 60
#define PACK_BYTES 2048
#define POS_RETRY_MS 200       /* MarkReady answered 503 (order still committing): again after */
#define POS_TRIES_MAX 20
#define POS_BIT (1ull << 63)   /* request_id of a MarkReady: POS_BIT | order index */
#define ERROR_UNAVAILABLE 503  /* Error.code: nothing happened, try again (sluiced's server.c) */

/* ---- options ---- */

typedef struct {
    uint32_t stores;
    double minutes;
    double scale;               /* 0 = 9 hours in --minutes */
    double peak_rate;
    uint64_t seed;
    uint32_t connections;
    uint32_t max_tries;
    uint32_t riders;            /* per platform; 0 = sized from the kitchens */
    double drain_s;
    char chaos[1024];
    const char *chaos_file;
    char out[PATH_MAX];
    char bindir[PATH_MAX];
    char pgtmp[PATH_MAX];
    bool keep;
    bool quiet;
    bool no_pos;
} options_t;

/* ---- chaos schedule ---- */

typedef enum {
    CH_KILL_DAEMON, CH_RESTART_DB, CH_DARK, CH_LIGHT, CH_SLOW, CH_FAIL, CH_CANCEL_RATIO,
    CH_PAUSE_STORE, CH_RESUME_STORE, CH_HALVE_BRAND,
} chaos_kind_t;

static const struct {
    const char *name;
    chaos_kind_t kind;
    int platform_arg;           /* 1: first argument is a platform p1..p3 */
    int value_arg;              /* 1: a numeric value follows */
} s_chaos_verbs[] = {
    {"kill-daemon", CH_KILL_DAEMON, 0, 0}, {"restart-db", CH_RESTART_DB, 0, 0},
    {"dark", CH_DARK, 1, 0},               {"light", CH_LIGHT, 1, 0},
    {"slow", CH_SLOW, 1, 1},               {"fail", CH_FAIL, 1, 1},
    {"cancel-ratio", CH_CANCEL_RATIO, 1, 1}, {"pause-store", CH_PAUSE_STORE, 0, 0},
    {"resume-store", CH_RESUME_STORE, 0, 0}, {"halve-brand", CH_HALVE_BRAND, 0, 0},
};

typedef struct {
    double at_s;
    chaos_kind_t kind;
    int platform;               /* 0..2 */
    double value;
    char arg[64];               /* store id or brand name; "" = the most popular */
    char text[128];             /* as written */
    bool done;
} chaos_action_t;

/* ---- orders ---- */

enum { OS_INFLIGHT, OS_WAIT, OS_ACCEPTED, OS_GAVE_UP, OS_UNANSWERED };

typedef struct {
    uint32_t store;             /* index into the world's stores */
    uint32_t attempt;           /* submissions so far; request_id = idx << 16 | attempt */
    uint64_t sent_us;
    float lat, lng;
    uint8_t items;
    uint8_t tries;              /* rejections so far */
    uint8_t resends;            /* sends after no reply */
    uint8_t state;
    uint8_t pos_tries;          /* MarkReady requests sent */
} order_rec_t;

enum { TIMER_SUBMIT, TIMER_POS };

typedef struct {
    uint64_t at_us;
    uint32_t idx;
    uint32_t attempt;           /* TIMER_SUBMIT: the attempt it belongs to */
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
} monitor_t;

typedef struct {
    options_t opt;
    drill_world_t *world;
    drill_report_t *report;
    drill_endpoints_t ep;
    char conf_path[PATH_MAX + 32];
    char pgdir[PATH_MAX + 32];
    char prefix[32];
    /* processes */
    pid_t daemon_pid;
    pid_t sim_pid[DRILL_PLATFORMS];
    char sim_control[DRILL_PLATFORMS][64];
    pid_t db_restart_pid;
    double db_restart_at;
    bool daemon_down;           /* killed by chaos, not yet answering /metrics */
    uint64_t down_scrapes;      /* the monitor's scrape count when it was killed */
    double daemon_killed_at;
    int daemon_unexpected_exits;
    /* producers */
    void *zctx;
    void *conns[CONNS_MAX];
    uint32_t rr;
    order_rec_t *orders;
    size_t order_count, order_cap;
    heap_t timers;
    size_t inflight;
    uint64_t rng;
    double owed;                /* orders due but not yet made */
    uint64_t start_us;
    /* chaos */
    chaos_action_t chaos[CHAOS_ACTIONS_MAX];
    size_t chaos_count;
    /* monitor */
    monitor_t mon;
    pthread_t mon_thread;
    bool mon_started;
} drill_t;

static volatile sig_atomic_t s_interrupts;

static void s_on_signal(int sig)
{
    (void)sig;
    s_interrupts++;
}

static uint64_t s_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t s_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static double s_elapsed_s(const drill_t *d)
{
    return (double)(s_mono_us() - d->start_us) / 1e6;
}

static void s_log(const drill_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_log(const drill_t *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sluice-drill: ");
    if (d != NULL && d->start_us > 0)
        fprintf(stderr, "[%6.1fs] ", s_elapsed_s(d));
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- usage and options ---- */

static void s_usage(FILE *f)
{
    fputs("usage: sluice-drill [options]\n"
          "Replays a flash crowd (the giveaway's day, 10:00-19:00, compressed) against a\n"
          "throwaway PostgreSQL, three sluice-sim platforms and sluiced, with chaos on a\n"
          "schedule, then checks the invariants and writes a report (text, JSON, HTML).\n"
          "\n"
          "  --stores N          stores (default 200)\n"
          "  --minutes M         real minutes for the 9-hour day (default 3)\n"
          "  --time-scale F      simulated seconds per real second (default 540 / M)\n"
          "  --peak-rate R       new orders/s at the noon peak (default 200)\n"
          "  --seed N            stores, demand and orders (default 1)\n"
          "  --connections N     producer DEALER sockets (default 4)\n"
          "  --max-tries N       submissions of a rejected order before giving up (default 4)\n"
          "  --riders N          riders per platform (default: sized from the kitchens)\n"
          "  --drain-seconds S   after offering, wait at most S for orders to end (default 120)\n"
          "  --chaos SPEC        comma-separated TIME:ACTION, TIME as 30, 30s, 1m or 50%\n"
          "                      (of the offering time). Actions: kill-daemon, restart-db,\n"
          "                      dark P, light P, slow P MS, fail P RATIO, cancel-ratio P R\n"
          "                      (P = p1|p2|p3), pause-store [ID], resume-store [ID]\n"
          "                      (default: the most popular store), halve-brand [NAME]\n"
          "                      (default: the most popular store's brand)\n"
          "  --chaos-file FILE   more actions, one per line (TIME:ACTION or TIME ACTION; # comments)\n"
          "  --out DIR           report and run files (default tmp/drill-<unixtime>)\n"
          "  --bin-dir DIR       where sluiced and sluice-sim are (default: this program's)\n"
          "  --pgtmp PATH        tools/pgtmp.sh (default: BIN_DIR/../tools/pgtmp.sh)\n"
          "  --keep              keep the database directory (stopped) in DIR/pg\n"
          "  --quiet             no progress lines\n"
          "  --no-pos            stores do not send MarkReady (by default each store's POS marks\n"
          "                      an order ready at its promised time, give or take: -25%..+15%\n"
          "                      of its prep time)\n"
          "\n"
          "Exit status: 0 every invariant held, 1 an invariant broke, 2 usage or setup error.\n",
          f);
}

static bool s_parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool s_parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
    double v;
    if (!s_parse_double(s, lo, hi, &v) || v != floor(v))
        return false;
    *out = (uint32_t)v;
    return true;
}

/* s_chaos_time parses 30, 30s, 1m, 1m30s or 50% (of OFFERING_S). */
static bool s_chaos_time(const char *s, double offering_s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return false;
    if (*end == '%' && end[1] == '\0') {
        *out = offering_s * v / 100.0;
        return true;
    }
    if (*end == 'm') {
        v *= 60;
        end++;
        if (*end != '\0') {
            char *e2;
            double sec = strtod(end, &e2);
            if (e2 == end || (*e2 != 's' && *e2 != '\0') || (*e2 == 's' && e2[1] != '\0'))
                return false;
            v += sec;
            end = e2 + (*e2 == 's');
        }
    } else if (*end == 's') {
        end++;
    }
    if (*end != '\0')
        return false;
    *out = v;
    return true;
}

/* s_chaos_add parses one "TIME:ACTION ARGS" (or "TIME ACTION ARGS"). */
static bool s_chaos_add(drill_t *d, const char *item, double offering_s)
{
    char buf[256];
    while (*item == ' ' || *item == '\t')
        item++;
    snprintf(buf, sizeof buf, "%s", item);
    size_t len = strlen(buf);
    while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        buf[--len] = '\0';
    if (len == 0)
        return true;
    char *sep = strpbrk(buf, ": \t");
    if (sep == NULL || d->chaos_count == CHAOS_ACTIONS_MAX)
        goto bad;
    *sep = '\0';
    chaos_action_t *a = &d->chaos[d->chaos_count];
    memset(a, 0, sizeof *a);
    if (!s_chaos_time(buf, offering_s, &a->at_s))
        goto bad;
    char *words[4] = {0};
    int nw = 0;
    for (char *tok = strtok(sep + 1, " \t"); tok != NULL && nw < 4; tok = strtok(NULL, " \t"))
        words[nw++] = tok;
    if (nw == 0)
        goto bad;
    size_t v;
    for (v = 0; v < sizeof s_chaos_verbs / sizeof s_chaos_verbs[0]; v++)
        if (strcmp(words[0], s_chaos_verbs[v].name) == 0)
            break;
    if (v == sizeof s_chaos_verbs / sizeof s_chaos_verbs[0])
        goto bad;
    a->kind = s_chaos_verbs[v].kind;
    int w = 1;
    if (s_chaos_verbs[v].platform_arg) {
        if (w >= nw || words[w][0] != 'p' || words[w][1] < '1' ||
            words[w][1] > '0' + DRILL_PLATFORMS || words[w][2] != '\0')
            goto bad;
        a->platform = words[w][1] - '1';
        w++;
    }
    if (s_chaos_verbs[v].value_arg) {
        if (w >= nw || !s_parse_double(words[w], 0, 600000, &a->value))
            goto bad;
        w++;
    }
    if (!s_chaos_verbs[v].platform_arg && !s_chaos_verbs[v].value_arg && w < nw &&
        a->kind >= CH_PAUSE_STORE)
        snprintf(a->arg, sizeof a->arg, "%s", words[w++]);
    if (w != nw)
        goto bad;
    snprintf(a->text, sizeof a->text, "%s", item);
    len = strlen(a->text);
    while (len > 0 && (a->text[len - 1] == '\n' || a->text[len - 1] == ' '))
        a->text[--len] = '\0';
    d->chaos_count++;
    return true;
bad:
    fprintf(stderr, "sluice-drill: bad chaos action '%s' (see --help)\n", item);
    return false;
}

static int s_chaos_cmp(const void *a, const void *b)
{
    double x = ((const chaos_action_t *)a)->at_s, y = ((const chaos_action_t *)b)->at_s;
    return (x > y) - (x < y);
}

static bool s_chaos_parse(drill_t *d)
{
    double offering_s = d->opt.minutes * 60.0;
    char spec[1024];
    snprintf(spec, sizeof spec, "%s", d->opt.chaos);
    char *save = NULL;
    for (char *item = strtok_r(spec, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save))
        if (!s_chaos_add(d, item, offering_s))
            return false;
    if (d->opt.chaos_file != NULL) {
        FILE *f = fopen(d->opt.chaos_file, "r");
        if (f == NULL) {
            fprintf(stderr, "sluice-drill: failed to read %s: %s\n", d->opt.chaos_file,
                    strerror(errno));
            return false;
        }
        char line[256];
        bool ok = true;
        while (ok && fgets(line, sizeof line, f) != NULL) {
            char *p = line + strspn(line, " \t");
            if (*p == '#' || *p == '\n' || *p == '\0')
                continue;
            ok = s_chaos_add(d, p, offering_s);
        }
        fclose(f);
        if (!ok)
            return false;
    }
    qsort(d->chaos, d->chaos_count, sizeof d->chaos[0], s_chaos_cmp);
    return true;
}

enum { O_STORES = 256, O_MINUTES, O_SCALE, O_PEAK, O_SEED, O_CONNS, O_TRIES, O_RIDERS, O_DRAIN,
       O_CHAOS, O_CHAOS_FILE, O_OUT, O_BINDIR, O_PGTMP, O_KEEP, O_QUIET, O_NO_POS, O_HELP };

static const struct option s_longopts[] = {
    {"stores", required_argument, NULL, O_STORES},
    {"minutes", required_argument, NULL, O_MINUTES},
    {"time-scale", required_argument, NULL, O_SCALE},
    {"peak-rate", required_argument, NULL, O_PEAK},
    {"seed", required_argument, NULL, O_SEED},
    {"connections", required_argument, NULL, O_CONNS},
    {"max-tries", required_argument, NULL, O_TRIES},
    {"riders", required_argument, NULL, O_RIDERS},
    {"drain-seconds", required_argument, NULL, O_DRAIN},
    {"chaos", required_argument, NULL, O_CHAOS},
    {"chaos-file", required_argument, NULL, O_CHAOS_FILE},
    {"out", required_argument, NULL, O_OUT},
    {"bin-dir", required_argument, NULL, O_BINDIR},
    {"pgtmp", required_argument, NULL, O_PGTMP},
    {"keep", no_argument, NULL, O_KEEP},
    {"quiet", no_argument, NULL, O_QUIET},
    {"no-pos", no_argument, NULL, O_NO_POS},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

static bool s_apply_option(options_t *o, int c, const char *arg)
{
    uint32_t u;
    switch (c) {
    case O_STORES:
        return s_parse_u32(arg, 1, 1000000, &o->stores);
    case O_MINUTES:
        return s_parse_double(arg, 0.05, 24 * 60, &o->minutes);
    case O_SCALE:
        return s_parse_double(arg, 1, 100000, &o->scale);
    case O_PEAK:
        return s_parse_double(arg, 0.1, 1000000, &o->peak_rate);
    case O_SEED:
        if (!s_parse_u32(arg, 0, UINT32_MAX, &u))
            return false;
        o->seed = u;
        return true;
    case O_CONNS:
        return s_parse_u32(arg, 1, CONNS_MAX, &o->connections);
    case O_TRIES:
        return s_parse_u32(arg, 1, 100, &o->max_tries);
    case O_RIDERS:
        return s_parse_u32(arg, 1, 1000000, &o->riders);
    case O_DRAIN:
        return s_parse_double(arg, 0, 86400, &o->drain_s);
    case O_CHAOS:
        snprintf(o->chaos, sizeof o->chaos, "%s", arg);
        return strlen(arg) < sizeof o->chaos;
    case O_CHAOS_FILE:
        o->chaos_file = arg;
        return true;
    case O_OUT:
        snprintf(o->out, sizeof o->out, "%s", arg);
        return true;
    case O_BINDIR:
        snprintf(o->bindir, sizeof o->bindir, "%s", arg);
        return true;
    case O_PGTMP:
        snprintf(o->pgtmp, sizeof o->pgtmp, "%s", arg);
        return true;
    case O_KEEP:
        o->keep = true;
        return true;
    case O_QUIET:
        o->quiet = true;
        return true;
    case O_NO_POS:
        o->no_pos = true;
        return true;
    default:
        return false;
    }
}

/* s_parse_options: false on a usage error (said); *help for --help. */
static bool s_parse_options(int argc, char **argv, options_t *o, bool *help)
{
    *o = (options_t){.stores = 200, .minutes = 3, .peak_rate = 200, .seed = 1, .connections = 4,
                     .max_tries = 4, .drain_s = 120};
    *help = false;
    int c;
    while ((c = getopt_long(argc, argv, "h", s_longopts, NULL)) != -1) {
        if (c == 'h' || c == O_HELP) {
            *help = true;
            return true;
        }
        if (c < O_STORES || c > O_HELP)
            return false;
        if (!s_apply_option(o, c, optarg)) {
            fprintf(stderr, "sluice-drill: bad value for --%s: '%s'\n",
                    s_longopts[c - O_STORES].name, optarg ? optarg : "");
            return false;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sluice-drill: unexpected argument '%s'\n", argv[optind]);
        return false;
    }
    if (o->scale == 0)
        o->scale = 9.0 * 60.0 / o->minutes;
    if (o->out[0] == '\0')
        snprintf(o->out, sizeof o->out, "tmp/drill-%lld", (long long)time(NULL));
    if (o->bindir[0] == '\0') {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0) {
            fprintf(stderr, "sluice-drill: cannot find my own directory; give --bin-dir\n");
            return false;
        }
        exe[n] = '\0';
        snprintf(o->bindir, sizeof o->bindir, "%s", dirname(exe));
    }
    if (o->pgtmp[0] == '\0') {
        char tmp[PATH_MAX];
        snprintf(tmp, sizeof tmp, "%.*s/../tools/pgtmp.sh", PATH_MAX - 32, o->bindir);
        if (access(tmp, R_OK) != 0)
            snprintf(tmp, sizeof tmp, "tools/pgtmp.sh");
        snprintf(o->pgtmp, sizeof o->pgtmp, "%s", tmp);
    }
    return true;
}

/* ---- processes ---- */

/* s_mkdir_p creates PATH and its parents. */
static bool s_mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%.*s", PATH_MAX - 1, path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return false;
        *p = '/';
    }
    return mkdir(buf, 0755) == 0 || errno == EEXIST;
}

/* s_spawn starts ARGV with stdout and stderr appended to LOG; -1 on failure. */
static pid_t s_spawn(char *const argv[], const char *log)
{
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "sluice-drill: failed to fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0) {
            dup2(null, 0);
            close(null);
        }
        signal(SIGINT, SIG_IGN);   /* Ctrl-C is for the drill, which stops its children */
        execv(argv[0], argv);
        fprintf(stderr, "sluice-drill: failed to run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

/* s_run runs ARGV to its end; returns its exit status, or -1. */
static int s_run(char *const argv[], const char *log)
{
    pid_t pid = s_spawn(argv, log);
    if (pid < 0)
        return -1;
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* s_stop sends SIGTERM, waits up to SECONDS, then SIGKILL. */
static void s_stop(pid_t *pid, double seconds)
{
    if (*pid <= 0)
        return;
    kill(*pid, SIGTERM);
    uint64_t until = s_mono_us() + (uint64_t)(seconds * 1e6);
    int st;
    while (waitpid(*pid, &st, WNOHANG) == 0) {
        if (s_mono_us() > until) {
            kill(*pid, SIGKILL);
            waitpid(*pid, &st, 0);
            break;
        }
        usleep(20000);
    }
    *pid = 0;
}

/* s_pgtmp runs pgtmp.sh CMD on the drill's database; DSN (if not NULL) gets its output. */
static bool s_pgtmp(drill_t *d, const char *cmd, char *dsn, size_t cap)
{
    char command[3 * PATH_MAX];
    snprintf(command, sizeof command, "sh '%s' %s '%s'", d->opt.pgtmp, cmd, d->pgdir);
    FILE *p = popen(command, "r");
    if (p == NULL)
        return false;
    char line[1024] = "";
    if (fgets(line, sizeof line, p) == NULL)
        line[0] = '\0';
    int st = pclose(p);
    if (st != 0) {
        s_log(d, "failed to %s PostgreSQL with %s", cmd, d->opt.pgtmp);
        return false;
    }
    line[strcspn(line, "\n")] = '\0';
    if (dsn != NULL)
        snprintf(dsn, cap, "%s", line);
    return true;
}

/* s_http_get asks 127.0.0.1:port for PATH; fills BODY (NUL-terminated) and
 * returns the status code, or -1. Blocking with a one-second timeout. */
static int s_http_get(const char *hostport, const char *path, char *body, size_t cap)
{
    const char *colon = strrchr(hostport, ':');
    if (colon == NULL)
        return -1;
    char host[64];
    snprintf(host, sizeof host, "%.*s", (int)(colon - hostport), hostport);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = 1};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int status = -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        goto done;
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, hostport);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
        goto done;
    size_t used = 0;
    for (;;) {
        if (used + 1 >= cap)
            break;
        ssize_t got = recv(fd, body + used, cap - 1 - used, 0);
        if (got <= 0)
            break;
        used += (size_t)got;
    }
    body[used] = '\0';
    if (strncmp(body, "HTTP/1.", 7) == 0 && used > 12)
        status = atoi(body + 9);
done:
    close(fd);
    return status;
}

/* s_sim_control sends one text command to platform P's control socket. */
static bool s_sim_control(drill_t *d, int p, const char *cmd, char *answer, size_t cap)
{
    void *s = zmq_socket(d->zctx, ZMQ_REQ);
    if (s == NULL)
        return false;
    int linger = 0, timeo = 2000;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeo, sizeof timeo);
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &timeo, sizeof timeo);
    bool ok = false;
    if (zmq_connect(s, d->sim_control[p]) == 0 && zmq_send(s, cmd, strlen(cmd), 0) >= 0) {
        int n = zmq_recv(s, answer, cap - 1, 0);
        if (n >= 0) {
            answer[(size_t)n < cap - 1 ? (size_t)n : cap - 1] = '\0';
            ok = strncmp(answer, "ok", 2) == 0;
        }
    }
    if (!ok && cap > 0 && answer[0] == '\0')
        snprintf(answer, cap, "no answer");
    zmq_close(s);
    return ok;
}

static pid_t s_start_daemon(drill_t *d)
{
    char bin[PATH_MAX + 64], log[PATH_MAX + 64];
    snprintf(bin, sizeof bin, "%s/sluiced", d->opt.bindir);
    snprintf(log, sizeof log, "%s/sluiced.log", d->opt.out);
    char *argv[] = {bin, "-c", d->conf_path, NULL};
    return s_spawn(argv, log);
}

static bool s_wait_ready(drill_t *d, double seconds)
{
    uint64_t until = s_mono_us() + (uint64_t)(seconds * 1e6);
    char body[512];
    while (s_mono_us() < until && s_interrupts == 0) {
        if (s_http_get(d->ep.http, "/readyz", body, sizeof body) == 200)
            return true;
        int st;
        if (d->daemon_pid > 0 && waitpid(d->daemon_pid, &st, WNOHANG) == d->daemon_pid) {
            d->daemon_pid = 0;
            s_log(d, "sluiced exited while starting; see %s/sluiced.log", d->opt.out);
            return false;
        }
        usleep(50000);
    }
    return false;
}

/* s_free_port returns a TCP port that was free on 127.0.0.1 a moment ago, or 0. */
static unsigned s_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    unsigned port = 0;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static bool s_start_sims(drill_t *d)
{
    uint32_t riders = d->opt.riders;
    if (riders == 0) {
        /* Enough riders for every kitchen working flat out: orders made per
         * simulated second, times a ride, shared by the platforms with half
         * again to spare for when one is dark. Not sized from the offered
         * peak: only accepted orders need riders, and the kitchens bound
         * those. The simulators find riders in a grid, so many are cheap. */
        double made_per_s = 0;
        for (size_t i = 0; i < d->world->store_count; i++) {
            const drill_store_t *st = &d->world->stores[i];
            made_per_s += st->prep_slots /
                          (st->order_seconds + DRILL_MEAN_ITEMS * st->item_seconds);
        }
        double busy = made_per_s * DRILL_RIDE_SIM_S;
        riders = (uint32_t)fmin(DRILL_RIDERS_MAX, fmax(200, busy / DRILL_PLATFORMS * 1.5));
    }
    for (int p = 0; p < DRILL_PLATFORMS; p++) {
        char bin[PATH_MAX + 64], log[PATH_MAX + 64], ledger[PATH_MAX + 64], name[16],
            riders_s[16], scale_s[32], seed_s[32];
        snprintf(bin, sizeof bin, "%s/sluice-sim", d->opt.bindir);
        snprintf(log, sizeof log, "%s/p%d.log", d->opt.out, p + 1);
        snprintf(ledger, sizeof ledger, "%s/p%d.tsv", d->opt.out, p + 1);
        snprintf(name, sizeof name, "p%d", p + 1);
        snprintf(riders_s, sizeof riders_s, "%u", riders);
        snprintf(scale_s, sizeof scale_s, "%.3f", d->opt.scale);
        snprintf(seed_s, sizeof seed_s, "%" PRIu64, d->opt.seed * 10 + (uint64_t)p);
        snprintf(d->ep.platform_endpoint[p], sizeof d->ep.platform_endpoint[p],
                 "tcp://127.0.0.1:%u", s_free_port());
        snprintf(d->sim_control[p], sizeof d->sim_control[p], "tcp://127.0.0.1:%u", s_free_port());
        char *argv[] = {bin, "--endpoint", d->ep.platform_endpoint[p], "--control",
                        d->sim_control[p], "--name", name, "--riders", riders_s,
                        "--center", "30.27,120.15", "--radius-km", "10", "--time-scale", scale_s,
                        "--seed", seed_s, "--ledger", ledger, NULL};
        d->sim_pid[p] = s_spawn(argv, log);
        if (d->sim_pid[p] < 0)
            return false;
    }
    /* ready when each answers its control socket */
    for (int p = 0; p < DRILL_PLATFORMS; p++) {
        char answer[256] = "";
        bool ok = false;
        for (int i = 0; i < 50 && !ok; i++) {
            answer[0] = '\0';
            ok = s_sim_control(d, p, "help", answer, sizeof answer);
            if (!ok)
                usleep(100000);
        }
        if (!ok) {
            s_log(d, "platform p%d did not answer on %s; see %s/p%d.log", p + 1,
                  d->sim_control[p], d->opt.out, p + 1);
            return false;
        }
    }
    s_log(d, "three platforms up (%u riders each, time scale %.1f)", riders, d->opt.scale);
    return true;
}

/* s_setup starts PostgreSQL, the platforms and sluiced. */
static bool s_setup(drill_t *d)
{
    snprintf(d->pgdir, sizeof d->pgdir, "%s/pg", d->opt.out);
    if (!s_pgtmp(d, "start", d->ep.dsn, sizeof d->ep.dsn))
        return false;
    s_log(d, "PostgreSQL up: %s", d->ep.dsn);
    snprintf(d->ep.ingress, sizeof d->ep.ingress, "tcp://127.0.0.1:%u", s_free_port());
    snprintf(d->ep.events, sizeof d->ep.events, "tcp://127.0.0.1:%u", s_free_port());
    snprintf(d->ep.http, sizeof d->ep.http, "127.0.0.1:%u", s_free_port());
    snprintf(d->ep.control, sizeof d->ep.control, "ipc://%.200s/control.sock", d->opt.out);
    if (!s_start_sims(d))
        return false;
    snprintf(d->conf_path, sizeof d->conf_path, "%s/sluice.conf", d->opt.out);
    if (!drill_world_write_config(d->world, &d->ep, d->conf_path))
        return false;
    char bin[PATH_MAX + 64], log[PATH_MAX + 64];
    snprintf(bin, sizeof bin, "%s/sluiced", d->opt.bindir);
    snprintf(log, sizeof log, "%s/sluiced.log", d->opt.out);
    char *argv[] = {bin, "-c", d->conf_path, "--migrate", NULL};
    if (s_run(argv, log) != 0) {
        s_log(d, "sluiced --migrate failed; see %s", log);
        return false;
    }
    d->daemon_pid = s_start_daemon(d);
    if (d->daemon_pid < 0 || !s_wait_ready(d, READY_WAIT_S)) {
        s_log(d, "sluiced did not become ready; see %s", log);
        return false;
    }
    s_log(d, "sluiced up (pid %d), ingress %s, http %s, %zu stores", (int)d->daemon_pid,
          d->ep.ingress, d->ep.http, d->world->store_count);
    return true;
}

/* ---- the monitor thread: /metrics and PostgreSQL once a second ---- */

static void s_parse_breakers(monitor_t *m, const char *body)
{
    const char *key = "sluice_platform_breaker_state{";
    for (const char *p = strstr(body, key); p != NULL; p = strstr(p + 1, key)) {
        const char *name = strstr(p, "platform=\"p");
        const char *end = strchr(p, '}');
        if (name == NULL || end == NULL || name > end)
            continue;
        int k = name[11] - '1';
        if (k < 0 || k >= DRILL_PLATFORMS)
            continue;
        m->breaker[k] = (uint8_t)atoi(end + 1);
    }
}

static void *s_monitor_main(void *arg)
{
    drill_t *d = arg;
    monitor_t *m = &d->mon;
    char conninfo[700];
    snprintf(conninfo, sizeof conninfo, "%s connect_timeout=2 options='-c statement_timeout=2000'",
             d->ep.dsn);
    PGconn *c = NULL;
    size_t cap = 1 << 20;
    char *body = malloc(cap);
    uint64_t next = s_mono_us();
    for (;;) {
        pthread_mutex_lock(&m->mu);
        bool stop = m->stop;
        pthread_mutex_unlock(&m->mu);
        if (stop || body == NULL)
            break;
        uint64_t now = s_mono_us();
        if (now < next) {
            usleep((useconds_t)fmin(100000, (double)(next - now)));
            continue;
        }
        next = now + 1000000;
        int status = s_http_get(d->ep.http, "/metrics", body, cap);
        int64_t delivered = -1, live = -1, orders = -1;
        if (c == NULL || PQstatus(c) != CONNECTION_OK) {
            PQfinish(c);
            c = PQconnectdb(conninfo);
        }
        if (PQstatus(c) == CONNECTION_OK) {
            PGresult *res = PQexec(c, "SELECT count(*) FILTER (WHERE state = 'DELIVERED'),"
                                      " count(*) FILTER (WHERE NOT order_state_is_terminal(state)),"
                                      " count(*) FROM orders");
            if (PQresultStatus(res) == PGRES_TUPLES_OK) {
                delivered = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
                live = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
                orders = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
            }
            PQclear(res);
        }
        pthread_mutex_lock(&m->mu);
        m->metrics_ok = status == 200;
        if (status == 200)
            s_parse_breakers(m, body);
        else
            memset(m->breaker, DRILL_BREAKER_UNKNOWN, sizeof m->breaker);
        m->delivered = delivered;
        m->live = live;
        m->orders = orders;
        m->scrapes++;
        pthread_mutex_unlock(&m->mu);
    }
    PQfinish(c);
    free(body);
    return NULL;
}

/* ---- producers ---- */

static void s_heap_push(heap_t *h, timer_t_ t)
{
    if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 4096;
        timer_t_ *v = realloc(h->v, nc * sizeof *v);
        if (v == NULL)
            return;   /* the order then stays where it is; counted as never answered */
        h->v = v;
        h->cap = nc;
    }
    size_t i = h->n++;
    while (i > 0 && h->v[(i - 1) / 2].at_us > t.at_us) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = t;
}

static timer_t_ s_heap_pop(heap_t *h)
{
    timer_t_ top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->v[c + 1].at_us < h->v[c].at_us)
            c++;
        if (h->v[c].at_us >= last.at_us)
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n > 0)
        h->v[i] = last;
    return top;
}

static bool s_open_conns(drill_t *d)
{
    for (uint32_t k = 0; k < d->opt.connections; k++) {
        void *s = zmq_socket(d->zctx, ZMQ_DEALER);
        if (s == NULL)
            return false;
        int linger = 0, hwm = 100000, ivl = 100;
        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
        zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
        zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
        zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
        if (zmq_connect(s, d->ep.ingress) != 0) {
            s_log(d, "failed to connect to %s: %s", d->ep.ingress, zmq_strerror(errno));
            zmq_close(s);
            return false;
        }
        d->conns[k] = s;
    }
    return true;
}

static size_t s_sec(const drill_t *d, uint64_t now_us)
{
    return (size_t)((now_us - d->start_us) / 1000000u);
}

/* s_send submits order IDX (again): same id and content, a new request_id. */
static void s_send(drill_t *d, uint32_t idx, uint64_t now)
{
    order_rec_t *o = &d->orders[idx];
    char id[48], sku[3][8];
    snprintf(id, sizeof id, "%s-%" PRIu32, d->prefix, idx);
    Sluice__V1__Item items[3], *item_ptr[3];
    for (uint32_t i = 0; i < o->items; i++) {
        items[i] = (Sluice__V1__Item)SLUICE__V1__ITEM__INIT;
        snprintf(sku[i], sizeof sku[i], "tea-%u", (idx + i) % 7);
        items[i].sku = sku[i];
        items[i].quantity = 1;
        item_ptr[i] = &items[i];
    }
    Sluice__V1__Geo geo = SLUICE__V1__GEO__INIT;
    geo.lat = o->lat;
    geo.lng = o->lng;
    Sluice__V1__SubmitOrder sub = SLUICE__V1__SUBMIT_ORDER__INIT;
    sub.order_id = id;
    sub.store_id = d->world->stores[o->store].id;
    sub.n_items = o->items;
    sub.items = item_ptr;
    sub.dropoff = &geo;
    sub.created_at_ms = s_wall_ms();
    Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
    o->attempt++;
    req.request_id = ((uint64_t)idx << 16) | (o->attempt & 0xffffu);
    req.body_case = SLUICE__V1__REQUEST__BODY_SUBMIT;
    req.submit = &sub;
    uint8_t buf[PACK_BYTES];
    size_t len = protobuf_c_message_pack(&req.base, buf);
    bool sent = false;
    for (uint32_t tries = 0; tries < d->opt.connections && !sent; tries++) {
        void *s = d->conns[d->rr++ % d->opt.connections];
        sent = zmq_send(s, buf, len, ZMQ_DONTWAIT) == (int)len;
    }
    drill_second_t *e = drill_report_second(d->report, s_sec(d, now));
    if (e != NULL)
        e->sent++;
    d->report->submissions++;
    o->sent_us = now;
    if (o->state != OS_INFLIGHT)
        d->inflight++;
    o->state = OS_INFLIGHT;
    /* an unsent request is treated like a lost one: sent again after the timeout */
    s_heap_push(&d->timers, (timer_t_){now + REPLY_TIMEOUT_MS * 1000u, idx, o->attempt, TIMER_SUBMIT});
}

/* s_send_ready: the store's POS says order IDX is made. */
static void s_send_ready(drill_t *d, uint32_t idx)
{
    char id[48];
    snprintf(id, sizeof id, "%s-%" PRIu32, d->prefix, idx);
    Sluice__V1__MarkReady mr = SLUICE__V1__MARK_READY__INIT;
    mr.order_id = id;
    Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
    req.request_id = POS_BIT | idx;
    req.body_case = SLUICE__V1__REQUEST__BODY_READY;
    req.ready = &mr;
    uint8_t buf[256];
    size_t len = protobuf_c_message_pack(&req.base, buf);
    void *sock = d->conns[d->rr++ % d->opt.connections];
    if (zmq_send(sock, buf, len, ZMQ_DONTWAIT) == (int)len) {
        d->orders[idx].pos_tries++;
        d->report->ready_sent++;
    }
}

/* s_schedule_ready: the kitchen finishes order IDX around its promised ready
 * time, early or late by a share of its prep time, and the POS says so. */
static void s_schedule_ready(drill_t *d, uint32_t idx, uint64_t promised_ready_ms, uint64_t now)
{
    if (d->opt.no_pos || promised_ready_ms == 0)
        return;
    const order_rec_t *o = &d->orders[idx];
    const drill_store_t *st = &d->world->stores[o->store];
    double prep_ms = 1000.0 * (st->cfg_order_seconds + o->items * st->cfg_item_seconds);
    double jitter = prep_ms * (-0.25 + 0.40 * drill_world_uniform(&d->rng));
    double delay_ms = (double)promised_ready_ms - (double)s_wall_ms() + jitter;
    uint64_t at = now + (uint64_t)(delay_ms > 0 ? delay_ms * 1000.0 : 0);
    s_heap_push(&d->timers, (timer_t_){at, idx, 0, TIMER_POS});
}

static void s_on_ready_reply(drill_t *d, const Sluice__V1__Reply *rep, uint64_t now)
{
    uint64_t idx = rep->request_id & ~POS_BIT;
    if (idx >= d->order_count)
        return;
    if (rep->body_case == SLUICE__V1__REPLY__BODY_STATUS) {
        d->report->ready_ok++;
    } else if (rep->body_case == SLUICE__V1__REPLY__BODY_ERROR &&
               rep->error->code == ERROR_UNAVAILABLE && d->orders[idx].pos_tries < POS_TRIES_MAX) {
        s_heap_push(&d->timers,
                    (timer_t_){now + POS_RETRY_MS * 1000u, (uint32_t)idx, 0, TIMER_POS});
    } else {
        d->report->ready_refused++;   /* e.g. the order was cancelled or failed meanwhile */
        if (d->report->ready_refused_example[0] == '\0' && rep->body_case == SLUICE__V1__REPLY__BODY_ERROR)
            snprintf(d->report->ready_refused_example, sizeof d->report->ready_refused_example,
                     "%u %s", rep->error->code, rep->error->message ? rep->error->message : "");
    }
}

static bool s_new_order(drill_t *d, uint64_t now)
{
    if (d->order_count == d->order_cap) {
        size_t nc = d->order_cap ? d->order_cap * 2 : 65536;
        if (nc > 0xffffffffu)
            return false;
        order_rec_t *v = realloc(d->orders, nc * sizeof *v);
        if (v == NULL)
            return false;
        d->orders = v;
        d->order_cap = nc;
    }
    uint32_t idx = (uint32_t)d->order_count++;
    order_rec_t *o = &d->orders[idx];
    memset(o, 0, sizeof *o);
    o->store = (uint32_t)drill_world_pick_store(d->world, &d->rng);
    const drill_store_t *st = &d->world->stores[o->store];
    double u = drill_world_uniform(&d->rng);
    o->items = u < 0.6 ? 1 : u < 0.9 ? 2 : 3;   /* DRILL_MEAN_ITEMS on average */
    /* drop-off within ~3 km of the store */
    double r = 3.0 * sqrt(drill_world_uniform(&d->rng)), a = 2 * M_PI * drill_world_uniform(&d->rng);
    o->lat = (float)(st->lat + r * sin(a) / 111.0);
    o->lng = (float)(st->lng + r * cos(a) / (111.0 * cos(st->lat * M_PI / 180)));
    o->state = OS_WAIT;
    d->report->orders++;
    drill_second_t *e = drill_report_second(d->report, s_sec(d, now));
    if (e != NULL)
        e->offered++;
    s_send(d, idx, now);
    return true;
}

static void s_finish(drill_t *d, order_rec_t *o, int state)
{
    if (o->state == OS_INFLIGHT)
        d->inflight--;
    o->state = (uint8_t)state;
}

static void s_on_reply(drill_t *d, const uint8_t *data, size_t len, uint64_t now, bool offering,
                       uint64_t offering_end_us)
{
    Sluice__V1__Reply *rep = sluice__v1__reply__unpack(NULL, len, data);
    if (rep == NULL)
        return;
    if (rep->request_id & POS_BIT) {
        s_on_ready_reply(d, rep, now);
        goto done;
    }
    uint64_t idx = rep->request_id >> 16;
    uint32_t attempt = (uint32_t)(rep->request_id & 0xffffu);
    if (idx >= d->order_count)
        goto done;
    order_rec_t *o = &d->orders[idx];
    bool current = o->state == OS_INFLIGHT && (o->attempt & 0xffffu) == attempt;
    if (rep->body_case == SLUICE__V1__REPLY__BODY_ACK) {
        const Sluice__V1__OrderAck *ack = rep->ack;
        if (ack->decision == SLUICE__V1__DECISION__ACCEPTED) {
            if (current)
                drill_report_reply(d->report, s_sec(d, now), (double)(now - o->sent_us) / 1000.0,
                                   ack->decision, 0);
            if (ack->duplicate)
                d->report->duplicates++;
            if (o->state != OS_ACCEPTED) {
                d->report->accepted++;
                s_finish(d, o, OS_ACCEPTED);
                s_schedule_ready(d, (uint32_t)idx, ack->promised_ready_at_ms, now);
            }
            goto done;
        }
        if (!current)
            goto done;
        drill_report_reply(d->report, s_sec(d, now), (double)(now - o->sent_us) / 1000.0,
                           ack->decision, ack->reason);
        d->report->rejected++;
        if (ack->reason < DRILL_REASONS)
            d->report->reasons[ack->reason]++;
        o->tries++;
        uint64_t at = now + (ack->retry_after_ms > 0 ? ack->retry_after_ms : 100) * 1000u;
        if (ack->retry_after_ms == 0 && ack->reason != SLUICE__V1__REASON__OVERLOADED &&
            ack->reason != SLUICE__V1__REASON__UNAVAILABLE)
            at = UINT64_MAX;   /* INVALID, CONFLICT, UNKNOWN_STORE: retrying cannot help */
        if (o->tries >= d->opt.max_tries || !offering || at >= offering_end_us) {
            d->report->gave_up++;
            s_finish(d, o, OS_GAVE_UP);
        } else {
            s_finish(d, o, OS_WAIT);
            s_heap_push(&d->timers, (timer_t_){at, (uint32_t)idx, o->attempt, TIMER_SUBMIT});
        }
    } else if (current) {
        drill_report_reply(d->report, s_sec(d, now), (double)(now - o->sent_us) / 1000.0, 0, 0);
        d->report->errors++;
        d->report->gave_up++;
        s_finish(d, o, OS_GAVE_UP);
    }
done:
    sluice__v1__reply__free_unpacked(rep, NULL);
}

static void s_drain_sockets(drill_t *d, bool offering, uint64_t offering_end_us)
{
    uint8_t buf[65536];
    for (uint32_t k = 0; k < d->opt.connections; k++) {
        for (int n = 0; n < 4096; n++) {
            int got = zmq_recv(d->conns[k], buf, sizeof buf, ZMQ_DONTWAIT);
            if (got < 0)
                break;
            if ((size_t)got > sizeof buf)
                continue;
            s_on_reply(d, buf, (size_t)got, s_mono_us(), offering, offering_end_us);
        }
    }
}

/* s_fire_timers: retries of rejected orders and resends of unanswered ones. */
static void s_fire_timers(drill_t *d, uint64_t now, bool offering)
{
    while (d->timers.n > 0 && d->timers.v[0].at_us <= now) {
        timer_t_ t = s_heap_pop(&d->timers);
        order_rec_t *o = &d->orders[t.idx];
        if (t.kind == TIMER_POS) {
            s_send_ready(d, t.idx);   /* kitchens keep working after offering ends */
            continue;
        }
        if (o->attempt != t.attempt)
            continue;
        if (o->state == OS_WAIT) {
            if (offering) {
                s_send(d, t.idx, now);
            } else {
                d->report->gave_up++;
                s_finish(d, o, OS_GAVE_UP);
            }
        } else if (o->state == OS_INFLIGHT) {
            if (o->resends >= RESENDS_MAX) {
                d->report->unanswered++;
                s_finish(d, o, OS_UNANSWERED);
            } else {
                o->resends++;
                d->report->resent_after_timeout++;
                s_send(d, t.idx, now);
            }
        }
    }
}

/* ---- chaos ---- */

/* s_mark_down notes a daemon restart; it counts as answering again only
 * after a scrape that began after the restart (a full one after the next). */
static void s_mark_down(drill_t *d, double at)
{
    pthread_mutex_lock(&d->mon.mu);
    d->down_scrapes = d->mon.scrapes;
    pthread_mutex_unlock(&d->mon.mu);
    d->daemon_down = true;
    d->daemon_killed_at = at;
}

static void s_reload(drill_t *d, double at, const char *what)
{
    if (!drill_world_write_config(d->world, &d->ep, d->conf_path)) {
        drill_report_chaos(d->report, at, "%s: FAILED to write the config", what);
        return;
    }
    if (d->daemon_pid > 0)
        kill(d->daemon_pid, SIGHUP);
    drill_report_chaos(d->report, at, "%s (config rewritten, SIGHUP to sluiced)", what);
}

static void s_chaos_run(drill_t *d, chaos_action_t *a, double at)
{
    char msg[256], answer[256] = "", cmd[64];
    s_log(d, "chaos: %s", a->text);
    switch (a->kind) {
    case CH_KILL_DAEMON: {
        pid_t old = d->daemon_pid;
        if (old > 0) {
            kill(old, SIGKILL);
            waitpid(old, NULL, 0);
        }
        d->daemon_pid = s_start_daemon(d);
        s_mark_down(d, at);
        drill_report_chaos(d->report, at, "kill -9 sluiced (pid %d), restarted as pid %d",
                           (int)old, (int)d->daemon_pid);
        return;
    }
    case CH_RESTART_DB: {
        if (d->db_restart_pid > 0) {
            drill_report_chaos(d->report, at, "restart-db skipped: a restart is still running");
            return;
        }
        char script[4 * PATH_MAX + 128], log[PATH_MAX + 64];
        snprintf(script, sizeof script, "sh '%s' stop '%s' && sleep 1 && sh '%s' start '%s'",
                 d->opt.pgtmp, d->pgdir, d->opt.pgtmp, d->pgdir);
        snprintf(log, sizeof log, "%s/pg-restart.log", d->opt.out);
        char *argv[] = {"/bin/sh", "-c", script, NULL};
        d->db_restart_pid = s_spawn(argv, log);
        d->db_restart_at = at;
        drill_report_chaos(d->report, at, "PostgreSQL stopped (pg_ctl -m fast), to start again in 1 s");
        return;
    }
    case CH_DARK:
    case CH_LIGHT:
        snprintf(cmd, sizeof cmd, "%s", a->kind == CH_DARK ? "dark" : "light");
        break;
    case CH_SLOW:
        snprintf(cmd, sizeof cmd, "slow %.0f", a->value);
        break;
    case CH_FAIL:
        snprintf(cmd, sizeof cmd, "fail %g", a->value);
        break;
    case CH_CANCEL_RATIO:
        snprintf(cmd, sizeof cmd, "cancel-ratio %g", a->value);
        break;
    case CH_PAUSE_STORE:
    case CH_RESUME_STORE: {
        size_t k = a->arg[0] ? drill_world_find_store(d->world, (uint32_t)strtoul(a->arg, NULL, 10))
                             : drill_world_most_popular(d->world);
        if (k == SIZE_MAX) {
            drill_report_chaos(d->report, at, "%s: no store %s", a->text, a->arg);
            return;
        }
        drill_store_t *s = &d->world->stores[k];
        s->paused = a->kind == CH_PAUSE_STORE;
        snprintf(msg, sizeof msg, "%s store %u (popularity rank %u)", s->paused ? "pause" : "resume",
                 s->id, s->rank);
        s_reload(d, at, msg);
        return;
    }
    case CH_HALVE_BRAND: {
        size_t b = drill_world_find_brand(d->world, a->arg);
        if (b == SIZE_MAX) {
            drill_report_chaos(d->report, at, "%s: no brand %s", a->text, a->arg);
            return;
        }
        drill_brand_t *br = &d->world->brands[b];
        uint32_t before = br->orders_per_second;
        br->orders_per_second = before > 1 ? before / 2 : 1;
        snprintf(msg, sizeof msg, "halve brand %s: orders_per_second %u -> %u", br->name, before,
                 br->orders_per_second);
        s_reload(d, at, msg);
        return;
    }
    }
    bool ok = s_sim_control(d, a->platform, cmd, answer, sizeof answer);
    answer[strcspn(answer, "\n")] = '\0';
    drill_report_chaos(d->report, at, "p%d: %s (%s)", a->platform + 1, cmd, ok ? "ok" : answer);
}

/* s_watch_processes reaps the database restart and notices a daemon that
 * died on its own (which is restarted, and breaks the run). */
static void s_watch_processes(drill_t *d, double at)
{
    int st;
    if (d->db_restart_pid > 0 && waitpid(d->db_restart_pid, &st, WNOHANG) == d->db_restart_pid) {
        d->db_restart_pid = 0;
        bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
        drill_report_chaos(d->report, at, "PostgreSQL %s %.1f s after the stop",
                           ok ? "accepting connections again" : "FAILED to restart",
                           at - d->db_restart_at);
        s_log(d, "PostgreSQL restart %s", ok ? "done" : "FAILED");
    }
    if (d->daemon_pid > 0 && waitpid(d->daemon_pid, &st, WNOHANG) == d->daemon_pid) {
        d->daemon_unexpected_exits++;
        drill_report_chaos(d->report, at, "sluiced (pid %d) EXITED on its own (%s %d); restarted",
                           (int)d->daemon_pid, WIFSIGNALED(st) ? "signal" : "status",
                           WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
        s_log(d, "sluiced exited on its own; see %s/sluiced.log", d->opt.out);
        d->daemon_pid = s_start_daemon(d);
        s_mark_down(d, at);
    }
}

/* ---- progress ---- */

static void s_close_second(drill_t *d, size_t sec, double offering_s)
{
    drill_report_close_second(d->report, sec);
    drill_second_t *e = drill_report_second(d->report, sec);
    if (e == NULL)
        return;
    double frac = fmin(1.0, (double)(sec + 1) / offering_s);
    e->sim_hour = DRILL_DAY_START_H + (DRILL_DAY_END_H - DRILL_DAY_START_H) * frac;
    pthread_mutex_lock(&d->mon.mu);
    e->delivered = d->mon.delivered;
    memcpy(e->breaker, d->mon.breaker, sizeof e->breaker);
    bool up = d->mon.metrics_ok && d->mon.scrapes >= d->down_scrapes + 2;
    pthread_mutex_unlock(&d->mon.mu);
    if (d->daemon_down && up) {
        d->daemon_down = false;
        drill_report_chaos(d->report, (double)sec + 1, "sluiced answering again, %.1f s after the restart",
                           (double)sec + 1 - d->daemon_killed_at);
    }
    if (d->opt.quiet)
        return;
    const drill_report_t *r = d->report;
    static const char *const bname[] = {"closed", "OPEN", "half"};
    char br[96] = "";
    for (int p = 0; p < DRILL_PLATFORMS; p++) {
        size_t used = strlen(br);
        snprintf(br + used, sizeof br - used, " p%d=%s", p + 1,
                 e->breaker[p] <= 2 ? bname[e->breaker[p]] : "?");
    }
    int h = (int)e->sim_hour, m = (int)((e->sim_hour - h) * 60);
    fprintf(stderr,
            "[%4zus %02d:%02d] offered %" PRIu64 " (%u/s) accepted %" PRIu64 " rejected %" PRIu64
            " (busy %" PRIu64 " paused %" PRIu64 " overloaded %" PRIu64 " unavail %" PRIu64
            " no-riders %" PRIu64 ") delivered %" PRId64 " ack p99 %.1fms%s\n",
            sec + 1, h, m, r->orders, e->offered, r->accepted, r->rejected,
            r->reasons[SLUICE__V1__REASON__STORE_BUSY], r->reasons[SLUICE__V1__REASON__STORE_PAUSED],
            r->reasons[SLUICE__V1__REASON__OVERLOADED], r->reasons[SLUICE__V1__REASON__UNAVAILABLE],
            r->reasons[SLUICE__V1__REASON__NO_RIDERS], e->delivered, e->p99_ms < 0 ? 0 : e->p99_ms, br);
}

/* ---- the run ---- */

static void s_run_loop(drill_t *d)
{
    double offering_s = d->opt.minutes * 60.0;
    d->start_us = s_mono_us();
    uint64_t offering_end = d->start_us + (uint64_t)(offering_s * 1e6);
    uint64_t replies_end = 0, settle_end = 0;
    uint64_t last = d->start_us;
    size_t cur_sec = 0, next_chaos = 0;
    enum { PH_OFFER, PH_REPLIES, PH_SETTLE } phase = PH_OFFER;
    zmq_pollitem_t items[CONNS_MAX];
    for (uint32_t k = 0; k < d->opt.connections; k++)
        items[k] = (zmq_pollitem_t){.socket = d->conns[k], .events = ZMQ_POLLIN};
    s_log(d, "offering: %.1f minutes for the day, peak %.0f orders/s", d->opt.minutes,
          d->opt.peak_rate);
    for (;;) {
        uint64_t now = s_mono_us();
        double at = (double)(now - d->start_us) / 1e6;
        bool offering = phase == PH_OFFER;
        if (offering && (now >= offering_end || s_interrupts > 0)) {
            phase = PH_REPLIES;
            offering = false;
            d->report->offering_s = at;
            d->report->interrupted = s_interrupts > 0;
            replies_end = now + REPLIES_WAIT_S * 1000000u;
            s_log(d, "offering ended: %" PRIu64 " orders, %zu awaiting a reply", d->report->orders,
                  d->inflight);
        }
        if (offering) {
            double hour = DRILL_DAY_START_H + (DRILL_DAY_END_H - DRILL_DAY_START_H) * at / offering_s;
            d->owed += d->opt.peak_rate * drill_world_demand(hour) * (double)(now - last) / 1e6;
            while (d->owed >= 1.0) {
                d->owed -= 1.0;
                if (!s_new_order(d, now))
                    break;
            }
        }
        last = now;
        while (next_chaos < d->chaos_count && d->chaos[next_chaos].at_s <= at &&
               s_interrupts < 2) {
            s_chaos_run(d, &d->chaos[next_chaos], at);
            next_chaos++;
        }
        s_fire_timers(d, now, offering);
        s_drain_sockets(d, offering, offering_end);
        size_t sec = s_sec(d, s_mono_us());
        while (cur_sec < sec) {
            s_watch_processes(d, at);
            s_close_second(d, cur_sec, offering_s);
            cur_sec++;
        }
        if (phase == PH_REPLIES && (d->inflight == 0 || now >= replies_end || s_interrupts > 1)) {
            for (size_t i = 0; i < d->order_count; i++)
                if (d->orders[i].state == OS_INFLIGHT) {
                    d->report->unanswered++;
                    s_finish(d, &d->orders[i], OS_UNANSWERED);
                }
            phase = PH_SETTLE;
            settle_end = now + (uint64_t)(d->opt.drain_s * 1e6);
            s_log(d, "waiting up to %.0f s for every order to end", d->opt.drain_s);
        }
        if (phase == PH_SETTLE) {
            pthread_mutex_lock(&d->mon.mu);
            bool settled = d->mon.live == 0 && d->mon.metrics_ok;
            pthread_mutex_unlock(&d->mon.mu);
            bool chaos_pending = next_chaos < d->chaos_count || d->db_restart_pid > 0;
            if ((settled && !chaos_pending) || now >= settle_end || s_interrupts > 1)
                break;
        }
        long timeout = offering ? 1 : 20;
        if (zmq_poll(items, (int)d->opt.connections, timeout) < 0 && errno != EINTR)
            break;
    }
    s_close_second(d, cur_sec, offering_s);
    d->report->drain_s = s_elapsed_s(d) - d->report->offering_s;
}

/* s_read_waits collects the picked_up wait_ms of every ledger. */
static float *s_read_waits(drill_t *d, size_t *n)
{
    size_t cap = 4096;
    float *v = malloc(cap * sizeof *v);
    *n = 0;
    for (int p = 0; p < DRILL_PLATFORMS && v != NULL; p++) {
        char path[PATH_MAX + 64], line[1024];
        snprintf(path, sizeof path, "%s/p%d.tsv", d->opt.out, p + 1);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        while (fgets(line, sizeof line, f) != NULL) {
            if (strstr(line, "\tpicked_up\t") == NULL)
                continue;
            const char *w = strstr(line, "wait_ms=");
            if (w == NULL)
                continue;
            if (*n == cap) {
                float *nv = realloc(v, cap * 2 * sizeof *v);
                if (nv == NULL)
                    break;
                v = nv;
                cap *= 2;
            }
            v[(*n)++] = strtof(w + 8, NULL);
        }
        fclose(f);
    }
    return v;
}

static void s_check_ledgers(drill_t *d)
{
    char bin[PATH_MAX + 64], out[PATH_MAX + 32], l[DRILL_PLATFORMS][PATH_MAX + 64];
    snprintf(bin, sizeof bin, "%s/sluice-sim", d->opt.bindir);
    snprintf(out, sizeof out, "%s/ledger-check.txt", d->opt.out);
    for (int p = 0; p < DRILL_PLATFORMS; p++)
        snprintf(l[p], sizeof l[p], "%s/p%d.tsv", d->opt.out, p + 1);
    char *argv[] = {bin, "--check-ledger", l[0], l[1], l[2], NULL};
    unlink(out);
    int rc = s_run(argv, out);
    char first[200] = "";
    FILE *f = fopen(out, "r");
    if (f != NULL) {
        if (fgets(first, sizeof first, f) == NULL)
            first[0] = '\0';
        first[strcspn(first, "\n")] = '\0';
        fclose(f);
    }
    drill_report_invariant(d->report, "no order dispatched twice (ledgers)", rc == 0,
                           "sluice-sim --check-ledger on p1-p3: %s%s%s",
                           rc == 0 ? "no order had two live riders"
                                   : rc == 1 ? "an order had two live riders" : "could not check",
                           first[0] ? "; " : "", first);
}

static uint32_t *s_acked(const drill_t *d, size_t *n)
{
    uint32_t *v = malloc((d->order_count ? d->order_count : 1) * sizeof *v);
    *n = 0;
    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < d->order_count; i++)
        if (d->orders[i].state == OS_ACCEPTED)
            v[(*n)++] = (uint32_t)i;
    return v;
}

/* s_finish_run stops the daemon, measures, checks, stops the platforms. */
static void s_finish_run(drill_t *d)
{
    s_stop(&d->daemon_pid, 15);
    if (d->db_restart_pid > 0) {
        int st;
        waitpid(d->db_restart_pid, &st, 0);
        d->db_restart_pid = 0;
    }
    char conninfo[700];
    snprintf(conninfo, sizeof conninfo, "%s connect_timeout=10", d->ep.dsn);
    PGconn *c = PQconnectdb(conninfo);
    size_t n_acked = 0, n_wait = 0;
    uint32_t *acked = s_acked(d, &n_acked);
    for (int p = 0; p < DRILL_PLATFORMS; p++)
        s_stop(&d->sim_pid[p], 5);
    float *waits = s_read_waits(d, &n_wait);
    if (PQstatus(c) == CONNECTION_OK) {
        (void)drill_report_measure(d->report, c, d->world, d->prefix, acked, n_acked, waits, n_wait);
    } else {
        drill_report_invariant(d->report, "database reachable after the run", false, "%s",
                               PQerrorMessage(c));
    }
    PQfinish(c);
    free(acked);
    free(waits);
    s_check_ledgers(d);
    drill_report_invariant(d->report, "sluiced died only when killed",
                           d->daemon_unexpected_exits == 0, "%d unexpected exits",
                           d->daemon_unexpected_exits);
}

static void s_teardown(drill_t *d)
{
    if (d->mon_started) {
        pthread_mutex_lock(&d->mon.mu);
        d->mon.stop = true;
        pthread_mutex_unlock(&d->mon.mu);
        pthread_join(d->mon_thread, NULL);
        d->mon_started = false;
    }
    s_stop(&d->daemon_pid, 10);
    for (int p = 0; p < DRILL_PLATFORMS; p++)
        s_stop(&d->sim_pid[p], 5);
    if (d->db_restart_pid > 0)
        waitpid(d->db_restart_pid, NULL, 0);
    for (uint32_t k = 0; k < CONNS_MAX; k++)
        if (d->conns[k] != NULL)
            zmq_close(d->conns[k]);
    if (d->zctx != NULL)
        zmq_ctx_term(d->zctx);
    if (d->pgdir[0] != '\0')
        (void)s_pgtmp(d, d->opt.keep ? "stop" : "destroy", NULL, 0);
    free(d->orders);
    free(d->timers.v);
    drill_world_destroy(&d->world);
    drill_report_destroy(&d->report);
}

int main(int argc, char **argv)
{
    static drill_t drill;
    drill_t *d = &drill;
    bool help;
    if (!s_parse_options(argc, argv, &d->opt, &help)) {
        fprintf(stderr, "try 'sluice-drill --help'\n");
        return EXIT_SETUP;
    }
    if (help) {
        s_usage(stdout);
        return 0;
    }
    if (!s_chaos_parse(d))
        return EXIT_SETUP;
    if (!s_mkdir_p(d->opt.out)) {
        fprintf(stderr, "sluice-drill: failed to create %s\n", d->opt.out);
        return EXIT_SETUP;
    }
    char real[PATH_MAX];
    if (realpath(d->opt.out, real) != NULL)
        snprintf(d->opt.out, sizeof d->opt.out, "%s", real);
    struct sigaction sa = {.sa_handler = s_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    d->world = drill_world_new(d->opt.stores, d->opt.seed, d->opt.scale, d->opt.peak_rate);
    d->report = drill_report_new();
    d->zctx = zmq_ctx_new();
    pthread_mutex_init(&d->mon.mu, NULL);
    memset(d->mon.breaker, DRILL_BREAKER_UNKNOWN, sizeof d->mon.breaker);
    d->mon.live = d->mon.delivered = -1;
    d->rng = d->opt.seed * 0x2545f4914f6cdd1dull + 7;
    snprintf(d->prefix, sizeof d->prefix, "drill%" PRIu64 "-%lld", d->opt.seed,
             (long long)time(NULL) % 100000000);
    int rc = EXIT_SETUP;
    if (d->world == NULL || d->report == NULL || d->zctx == NULL) {
        fprintf(stderr, "sluice-drill: out of memory\n");
        goto out;
    }
    drill_report_t *r = d->report;
    r->seed = d->opt.seed;
    r->stores = d->opt.stores;
    r->minutes = d->opt.minutes;
    r->peak_rate = d->opt.peak_rate;
    r->scale = d->opt.scale;
    for (size_t i = 0; i < d->chaos_count; i++) {
        size_t used = strlen(r->chaos_spec);
        snprintf(r->chaos_spec + used, sizeof r->chaos_spec - used, "%s%.0fs:%s", i ? ", " : "",
                 d->chaos[i].at_s, strchr(d->chaos[i].text, ':') ? strchr(d->chaos[i].text, ':') + 1
                                                                  : d->chaos[i].text);
    }
    s_log(NULL, "run files in %s", d->opt.out);
    if (!s_setup(d) || !s_open_conns(d))
        goto out;
    if (pthread_create(&d->mon_thread, NULL, s_monitor_main, d) != 0)
        goto out;
    d->mon_started = true;
    s_run_loop(d);
    s_finish_run(d);
    if (!drill_report_write(d->report, d->opt.out))
        goto out;
    drill_report_print_text(d->report, stdout);
    printf("\nreport: %s/report.txt\n        %s/report.json\n        %s/report.html\n",
           d->opt.out, d->opt.out, d->opt.out);
    fflush(stdout);
    rc = drill_report_ok(d->report) ? 0 : EXIT_BROKEN;
out:
    s_teardown(d);
    return rc;
}
