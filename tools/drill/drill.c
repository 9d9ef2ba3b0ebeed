/* drill.c - owns sluice-drill: runs a flash crowd with chaos against a whole
 * Sluice (throwaway PostgreSQL, three sluice-sim platforms, sluiced) and
 * checks that nothing was lost. This file reads the options and runs the
 * offering loop second by second; the schedule, the processes and the
 * producers are drill_chaos.c, drill_procs.c and drill_load.c (drill.h). */
#include "drill.h"

#include "clock.h"
#include "proto/sluice.pb-c.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <libpq-fe.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

static volatile sig_atomic_t s_interrupts;

static void s_on_signal(int sig)
{
    (void)sig;
    s_interrupts++;
}

int drill_interrupts(void)
{
    return s_interrupts;
}

double drill_elapsed_s(const drill_t *d)
{
    return (double)(clock_mono_us() - d->start_us) / 1e6;
}

void drill_log(const drill_t *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sluice-drill: ");
    if (d != NULL && d->start_us > 0)
        fprintf(stderr, "[%6.1fs] ", drill_elapsed_s(d));
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
          "  --pgtmp PATH        tools/scripts/pgtmp.sh (default: BIN_DIR/../tools/scripts/pgtmp.sh)\n"
          "  --keep              keep the database directory (stopped) in DIR/pg\n"
          "  --quiet             no progress lines\n"
          "  --no-pos            stores do not send MarkReady (by default each store's POS marks\n"
          "                      an order ready at its promised time, give or take: -25%..+15%\n"
          "                      of its prep time)\n"
          "  --campaign-share F  share of the demand that carries the giveaway's campaign\n"
          "                      (\"" DRILL_CAMPAIGN "\"), 0..1 (default 0.7; 0: no campaign)\n"
          "  --store-share S     the campaign's store_share of each store's prep time, 0..1\n"
          "                      (default 0.5)\n"
          "  --honour-availability  producers follow the avail.<store_id> events and their own\n"
          "                      replies, and hold an order for a store that is not open (or\n"
          "                      where the campaign may not place one yet) instead of sending it\n"
          "\n"
          "Exit status: 0 every invariant held, 1 an invariant broke, 2 usage or setup error.\n",
          f);
}

bool drill_parse_double(const char *s, double lo, double hi, double *out)
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
    if (!drill_parse_double(s, lo, hi, &v) || v != floor(v))
        return false;
    *out = (uint32_t)v;
    return true;
}

enum { O_STORES = 256, O_MINUTES, O_SCALE, O_PEAK, O_SEED, O_CONNS, O_TRIES, O_RIDERS, O_DRAIN,
       O_CHAOS, O_CHAOS_FILE, O_OUT, O_BINDIR, O_PGTMP, O_KEEP, O_QUIET, O_NO_POS,
       O_CAMPAIGN_SHARE, O_STORE_SHARE, O_HONOUR, O_HELP };

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
    {"campaign-share", required_argument, NULL, O_CAMPAIGN_SHARE},
    {"store-share", required_argument, NULL, O_STORE_SHARE},
    {"honour-availability", no_argument, NULL, O_HONOUR},
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
        return drill_parse_double(arg, 0.05, 24 * 60, &o->minutes);
    case O_SCALE:
        return drill_parse_double(arg, 1, 100000, &o->scale);
    case O_PEAK:
        return drill_parse_double(arg, 0.1, 1000000, &o->peak_rate);
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
        return drill_parse_double(arg, 0, 86400, &o->drain_s);
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
    case O_CAMPAIGN_SHARE:
        return drill_parse_double(arg, 0, 1, &o->campaign_share);
    case O_STORE_SHARE:
        return drill_parse_double(arg, 0, 1, &o->store_share);
    case O_HONOUR:
        o->honour = true;
        return true;
    default:
        return false;
    }
}

/* s_parse_options: false on a usage error (said); *help for --help. */
static bool s_parse_options(int argc, char **argv, options_t *o, bool *help)
{
    *o = (options_t){.stores = 200, .minutes = 3, .peak_rate = 200, .seed = 1, .connections = 4,
                     .max_tries = 4, .drain_s = 120, .campaign_share = 0.7, .store_share = 0.5};
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
        snprintf(tmp, sizeof tmp, "%.*s/../tools/scripts/pgtmp.sh", PATH_MAX - 32, o->bindir);
        if (access(tmp, R_OK) != 0)
            snprintf(tmp, sizeof tmp, "tools/scripts/pgtmp.sh");
        snprintf(o->pgtmp, sizeof o->pgtmp, "%s", tmp);
    }
    return true;
}

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
            " no-riders %" PRIu64 " campaign %" PRIu64 ") delivered %" PRId64 " ack p99 %.1fms%s\n",
            sec + 1, h, m, r->orders, e->offered, r->accepted, r->rejected,
            r->reasons[SLUICE__V1__REASON__STORE_BUSY], r->reasons[SLUICE__V1__REASON__STORE_PAUSED],
            r->reasons[SLUICE__V1__REASON__OVERLOADED], r->reasons[SLUICE__V1__REASON__UNAVAILABLE],
            r->reasons[SLUICE__V1__REASON__NO_RIDERS], r->reasons[SLUICE__V1__REASON__CAMPAIGN_LIMIT],
            e->delivered, e->p99_ms < 0 ? 0 : e->p99_ms, br);
}

/* ---- the run ---- */

static void s_run_loop(drill_t *d)
{
    double offering_s = d->opt.minutes * 60.0;
    d->start_us = clock_mono_us();
    uint64_t offering_end = d->start_us + (uint64_t)(offering_s * 1e6);
    uint64_t replies_end = 0, settle_end = 0;
    uint64_t last = d->start_us;
    size_t cur_sec = 0, next_chaos = 0;
    enum { PH_OFFER, PH_REPLIES, PH_SETTLE } phase = PH_OFFER;
    zmq_pollitem_t items[CONNS_MAX + 1];
    int n_items = (int)d->opt.connections;
    for (uint32_t k = 0; k < d->opt.connections; k++)
        items[k] = (zmq_pollitem_t){.socket = d->conns[k], .events = ZMQ_POLLIN};
    if (d->avail != NULL)
        items[n_items++] = (zmq_pollitem_t){.socket = d->avail, .events = ZMQ_POLLIN};
    drill_log(d, "offering: %.1f minutes for the day, peak %.0f orders/s", d->opt.minutes,
          d->opt.peak_rate);
    for (;;) {
        uint64_t now = clock_mono_us();
        double at = (double)(now - d->start_us) / 1e6;
        bool offering = phase == PH_OFFER;
        if (offering && (now >= offering_end || drill_interrupts() > 0)) {
            phase = PH_REPLIES;
            offering = false;
            d->report->offering_s = at;
            d->report->interrupted = drill_interrupts() > 0;
            replies_end = now + REPLIES_WAIT_S * 1000000u;
            drill_load_give_up_held(d);
            drill_log(d, "offering ended: %" PRIu64 " orders, %zu awaiting a reply", d->report->orders,
                  d->inflight);
        }
        if (offering) {
            double hour = DRILL_DAY_START_H + (DRILL_DAY_END_H - DRILL_DAY_START_H) * at / offering_s;
            d->owed += d->opt.peak_rate * drill_world_demand(hour) * (double)(now - last) / 1e6;
            while (d->owed >= 1.0) {
                d->owed -= 1.0;
                if (!drill_load_new_order(d, now))
                    break;
            }
        }
        last = now;
        while (next_chaos < d->chaos_count && d->chaos[next_chaos].at_s <= at &&
               drill_interrupts() < 2) {
            drill_chaos_run(d, &d->chaos[next_chaos], at);
            next_chaos++;
        }
        drill_load_fire_timers(d, now, offering);
        drill_load_drain(d, offering, offering_end);
        if (offering)
            drill_load_feed(d, clock_mono_us());
        size_t sec = drill_load_sec(d, clock_mono_us());
        while (cur_sec < sec) {
            drill_procs_watch(d, at);
            s_close_second(d, cur_sec, offering_s);
            cur_sec++;
        }
        if (phase == PH_REPLIES && (d->inflight == 0 || now >= replies_end || drill_interrupts() > 1)) {
            for (size_t i = 0; i < d->order_count; i++)
                if (d->orders[i].state == OS_INFLIGHT) {
                    d->report->unanswered++;
                    drill_load_finish(d, &d->orders[i], OS_UNANSWERED);
                }
            phase = PH_SETTLE;
            settle_end = now + (uint64_t)(d->opt.drain_s * 1e6);
            drill_log(d, "waiting up to %.0f s for every order to end", d->opt.drain_s);
        }
        if (phase == PH_SETTLE) {
            pthread_mutex_lock(&d->mon.mu);
            bool settled = d->mon.live == 0 && d->mon.metrics_ok;
            pthread_mutex_unlock(&d->mon.mu);
            bool chaos_pending = next_chaos < d->chaos_count || d->db_restart_pid > 0;
            if ((settled && !chaos_pending) || now >= settle_end || drill_interrupts() > 1)
                break;
        }
        long timeout = offering ? 1 : 20;
        if (zmq_poll(items, n_items, timeout) < 0 && errno != EINTR)
            break;
    }
    s_close_second(d, cur_sec, offering_s);
    d->report->drain_s = drill_elapsed_s(d) - d->report->offering_s;
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


static void s_finish_run(drill_t *d)
{
    drill_procs_stop_daemon(d, 15000);
    drill_procs_wait_db(d);
    char conninfo[700];
    snprintf(conninfo, sizeof conninfo, "%s connect_timeout=10", d->ep.dsn);
    PGconn *c = PQconnectdb(conninfo);
    size_t n_acked = 0, n_wait = 0;
    uint32_t *acked = drill_load_acked(d, &n_acked);
    drill_procs_stop_sims(d);
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
    drill_procs_check_ledgers(d);
    drill_report_invariant(d->report, "sluiced died only when killed",
                           d->daemon_unexpected_exits == 0, "%d unexpected exits",
                           d->daemon_unexpected_exits);
}

static void s_teardown(drill_t *d)
{
    drill_procs_monitor_stop(d);
    drill_procs_stop_daemon(d, 10000);
    drill_procs_stop_sims(d);
    drill_procs_wait_db(d);
    for (uint32_t k = 0; k < CONNS_MAX; k++)
        if (d->conns[k] != NULL)
            zmq_close(d->conns[k]);
    if (d->avail != NULL)
        zmq_close(d->avail);
    if (d->zctx != NULL)
        zmq_ctx_term(d->zctx);
    if (d->pgdir[0] != '\0')
        (void)drill_procs_pgtmp(d, d->opt.keep ? "stop" : "destroy", NULL, 0);
    free(d->orders);
    free(d->views);
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
    if (!drill_chaos_parse(d))
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
    d->pos_rng = d->rng ^ 0x9e3779b97f4a7c15ull;
    snprintf(d->prefix, sizeof d->prefix, "drill%" PRIu64 "-%lld", d->opt.seed,
             (long long)time(NULL) % 100000000);
    int rc = EXIT_SETUP;
    if (d->world == NULL || d->report == NULL || d->zctx == NULL) {
        fprintf(stderr, "sluice-drill: out of memory\n");
        goto out;
    }
    drill_report_t *r = d->report;
    /* The campaign, and events often enough for kitchens whose prep takes
     * seconds at this time scale (the daemon's default is one a second). */
    if (d->opt.campaign_share > 0)
        snprintf(d->world->campaign_name, sizeof d->world->campaign_name, "%s", DRILL_CAMPAIGN);
    d->world->campaign_store_share = d->opt.store_share;
    d->world->availability_event_ms = 250;
    if (d->opt.honour && !(d->views = calloc(d->world->store_count, sizeof *d->views))) {
        fprintf(stderr, "sluice-drill: out of memory\n");
        goto out;
    }
    r->campaign_share = d->opt.campaign_share;
    r->store_share = d->opt.store_share;
    r->honour = d->opt.honour;
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
    drill_log(NULL, "run files in %s", d->opt.out);
    if (!drill_procs_setup(d) || !drill_load_open(d))
        goto out;
    if (!drill_procs_monitor_start(d))
        goto out;
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

