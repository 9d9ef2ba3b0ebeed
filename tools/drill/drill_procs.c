/* drill_procs.c - owns the processes of a sluice-drill run: the throwaway
 * PostgreSQL (pgtmp.sh), the three sluice-sim platforms and sluiced, started,
 * watched, killed and restarted through base/proc, and the monitor thread
 * that reads /metrics and PostgreSQL once a second (see drill.h). */
#include "drill.h"

#include "clock.h"
#include "proc.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <zmq.h>

/* s_spawn starts ARGV with stdin on /dev/null and stdout and stderr appended
 * to LOG; -1 (said) on failure. Ctrl-C is for the drill, which stops its
 * children. */
static pid_t s_spawn(const char *const argv[], const char *log)
{
    const proc_spec_t spec = { .argv = argv, .out = log, .ignore_sigint = true };
    return proc_spawn(&spec);
}

/* s_run runs ARGV to its end; returns its exit status, or PROC_ERROR. */
static int s_run(const char *const argv[], const char *log)
{
    const proc_spec_t spec = { .argv = argv, .out = log, .ignore_sigint = true };
    return proc_run(&spec, -1);
}

/* s_stop: SIGTERM, SIGKILL after GRACE_MS; *PID is 0 afterwards. */
static void s_stop(pid_t *pid, int grace_ms)
{
    if (*pid > 0)
        (void)proc_stop(*pid, grace_ms);
    *pid = 0;
}

/* drill_procs_pgtmp runs pgtmp.sh CMD on the drill's database; DSN (if not NULL) gets its output. */
bool drill_procs_pgtmp(drill_t *d, const char *cmd, char *dsn, size_t cap)
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
        drill_log(d, "failed to %s PostgreSQL with %s", cmd, d->opt.pgtmp);
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

/* drill_procs_sim_control sends one text command to platform P's control socket. */
bool drill_procs_sim_control(drill_t *d, int p, const char *cmd, char *answer, size_t cap)
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
    const char *argv[] = {bin, "-c", d->conf_path, NULL};
    return s_spawn(argv, log);
}

static bool s_wait_ready(drill_t *d, double seconds)
{
    uint64_t until = clock_mono_us() + (uint64_t)(seconds * 1e6);
    char body[512];
    while (clock_mono_us() < until && drill_interrupts() == 0) {
        if (s_http_get(d->ep.http, "/readyz", body, sizeof body) == 200)
            return true;
        if (d->daemon_pid > 0 && !proc_alive(d->daemon_pid, NULL)) {
            d->daemon_pid = 0;
            drill_log(d, "sluiced exited while starting; see %s/sluiced.log", d->opt.out);
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
         * those; riders as dense as a city's keep the nearest one a few
         * minutes away. The simulators find riders in a grid, so many are
         * cheap. */
        double made_per_s = 0;
        for (size_t i = 0; i < d->world->store_count; i++) {
            const drill_store_t *st = &d->world->stores[i];
            made_per_s += st->prep_slots /
                          (st->order_seconds + DRILL_MEAN_ITEMS * st->item_seconds);
        }
        double busy = made_per_s * DRILL_RIDE_SIM_S;
        riders = (uint32_t)fmin(DRILL_RIDERS_MAX, fmax(200, busy / DRILL_PLATFORMS * 1.5));
    }
    /* the riders move as the world promises: DRILL_RIDER_KMH_MIN..MAX, around
     * each city's centre */
    char speed_s[64], center_s[DRILL_CITIES_MAX][48], radius_s[32];
    snprintf(speed_s, sizeof speed_s, "%g,%g", DRILL_RIDER_KMH_MIN, DRILL_RIDER_KMH_MAX);
    snprintf(radius_s, sizeof radius_s, "%g", DRILL_CITY_RADIUS_KM);
    for (size_t c = 0; c < d->world->city_count; c++)
        snprintf(center_s[c], sizeof center_s[c], "%.4f,%.4f", d->world->cities[c].lat,
                 d->world->cities[c].lng);
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
        const char *argv[24 + 2 * DRILL_CITIES_MAX] = {
            bin, "--endpoint", d->ep.platform_endpoint[p], "--control", d->sim_control[p],
            "--name", name, "--riders", riders_s, "--radius-km", radius_s,
            "--speed-kmh", speed_s, "--time-scale", scale_s, "--seed", seed_s,
            "--ledger", ledger};
        size_t argc = 19;
        for (size_t c = 0; c < d->world->city_count; c++) {
            argv[argc++] = "--center";
            argv[argc++] = center_s[c];
        }
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
            ok = drill_procs_sim_control(d, p, "help", answer, sizeof answer);
            if (!ok)
                usleep(100000);
        }
        if (!ok) {
            drill_log(d, "platform p%d did not answer on %s; see %s/p%d.log", p + 1,
                  d->sim_control[p], d->opt.out, p + 1);
            return false;
        }
    }
    drill_log(d, "three platforms up (%u riders each in %zu cit%s, time scale %.1f)", riders,
              d->world->city_count, d->world->city_count == 1 ? "y" : "ies", d->opt.scale);
    return true;
}

/* drill_procs_setup starts PostgreSQL, the platforms and sluiced. */
bool drill_procs_setup(drill_t *d)
{
    snprintf(d->pgdir, sizeof d->pgdir, "%s/pg", d->opt.out);
    if (!drill_procs_pgtmp(d, "start", d->ep.dsn, sizeof d->ep.dsn))
        return false;
    drill_log(d, "PostgreSQL up: %s", d->ep.dsn);
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
    const char *argv[] = {bin, "-c", d->conf_path, "--migrate", NULL};
    if (s_run(argv, log) != 0) {
        drill_log(d, "sluiced --migrate failed; see %s", log);
        return false;
    }
    d->daemon_pid = s_start_daemon(d);
    if (d->daemon_pid < 0 || !s_wait_ready(d, READY_WAIT_S)) {
        drill_log(d, "sluiced did not become ready; see %s", log);
        return false;
    }
    drill_log(d, "sluiced up (pid %d), ingress %s, http %s, %zu stores", (int)d->daemon_pid,
          d->ep.ingress, d->ep.http, d->world->store_count);
    return true;
}


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

/* s_cpu_s: the CPU seconds (user and system) process PID has used, with
 * those of the children it has waited for when CHILDREN; 0 when it is gone.
 * Its parent's pid in *PPID when not NULL. */
static double s_cpu_s(pid_t pid, bool children, pid_t *ppid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* after the command's closing parenthesis: state, ppid, ... utime is
     * field 14, stime 15, cutime 16, cstime 17 */
    const char *p = strrchr(buf, ')');
    unsigned long long v[15] = {0};
    if (p == NULL || sscanf(p + 2, "%*c %llu %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu %llu %llu",
                            &v[0], &v[1], &v[2], &v[3], &v[4]) != 5)
        return 0;
    if (ppid != NULL)
        *ppid = (pid_t)v[0];
    double ticks = (double)sysconf(_SC_CLK_TCK);
    return (double)(v[1] + v[2] + (children ? v[3] + v[4] : 0)) / ticks;
}

/* s_postgres_cpu_s: the postmaster's CPU seconds, its children's (the
 * backends that ended it has waited for, and those alive). */
static double s_postgres_cpu_s(const drill_t *d)
{
    char path[PATH_MAX + 64], line[64];
    snprintf(path, sizeof path, "%s/data/postmaster.pid", d->pgdir);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    pid_t pm = fgets(line, sizeof line, f) != NULL ? (pid_t)atoi(line) : 0;
    fclose(f);
    if (pm <= 0)
        return 0;
    double cpu = s_cpu_s(pm, true, NULL);
    DIR *proc = opendir("/proc");
    struct dirent *e;
    while (proc != NULL && (e = readdir(proc)) != NULL) {
        pid_t pid = (pid_t)atoi(e->d_name), ppid = 0;
        double c = pid > 0 ? s_cpu_s(pid, false, &ppid) : 0;
        if (ppid == pm)
            cpu += c;
    }
    if (proc != NULL)
        closedir(proc);
    return cpu;
}

void drill_procs_cpu(drill_t *d)
{
    drill_report_t *r = d->report;
    r->cpu_s[DRILL_CPU_SLUICED] = d->killed_cpu_s + (d->daemon_pid > 0 ? s_cpu_s(d->daemon_pid, false, NULL) : 0);
    r->cpu_s[DRILL_CPU_POSTGRES] = s_postgres_cpu_s(d);
    r->cpu_s[DRILL_CPU_SIMS] = 0;
    for (int p = 0; p < DRILL_PLATFORMS; p++)
        if (d->sim_pid[p] > 0)
            r->cpu_s[DRILL_CPU_SIMS] += s_cpu_s(d->sim_pid[p], false, NULL);
    r->cpu_s[DRILL_CPU_DRILL] = s_cpu_s(getpid(), false, NULL);
    r->wall_s = drill_elapsed_s(d);
    r->cores = sysconf(_SC_NPROCESSORS_ONLN);
    r->load_end = drill_procs_load();
}

double drill_procs_load(void)
{
    double load = 0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fscanf(f, "%lf", &load) != 1)
            load = 0;
        fclose(f);
    }
    return load;
}

void drill_procs_kill_daemon(drill_t *d, double at)
{
    pid_t old = d->daemon_pid;
    if (old > 0) {
        d->killed_cpu_s += s_cpu_s(old, false, NULL);
        proc_signal(old, SIGKILL);
        (void)proc_wait(old, -1);
    }
    d->daemon_pid = s_start_daemon(d);
    s_mark_down(d, at);
    drill_report_chaos(d->report, at, "kill -9 sluiced (pid %d), restarted as pid %d", (int)old,
                       (int)d->daemon_pid);
}

void drill_procs_restart_db(drill_t *d, double at)
{
    if (d->db_restart_pid > 0) {
        drill_report_chaos(d->report, at, "restart-db skipped: a restart is still running");
        return;
    }
    char script[4 * PATH_MAX + 128], log[PATH_MAX + 64];
    snprintf(script, sizeof script, "sh '%s' stop '%s' && sleep 1 && sh '%s' start '%s'",
             d->opt.pgtmp, d->pgdir, d->opt.pgtmp, d->pgdir);
    snprintf(log, sizeof log, "%s/pg-restart.log", d->opt.out);
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    d->db_restart_pid = s_spawn(argv, log);
    d->db_restart_at = at;
    drill_report_chaos(d->report, at, "PostgreSQL stopped (pg_ctl -m fast), to start again in 1 s");
}

void drill_procs_watch(drill_t *d, double at)
{
    int st;
    if (d->db_restart_pid > 0 && !proc_alive(d->db_restart_pid, &st)) {
        d->db_restart_pid = 0;
        bool ok = st == 0;
        drill_report_chaos(d->report, at, "PostgreSQL %s %.1f s after the stop",
                           ok ? "accepting connections again" : "FAILED to restart",
                           at - d->db_restart_at);
        drill_log(d, "PostgreSQL restart %s", ok ? "done" : "FAILED");
    }
    if (d->daemon_pid > 0 && !proc_alive(d->daemon_pid, &st)) {
        d->daemon_unexpected_exits++;
        drill_report_chaos(d->report, at, "sluiced (pid %d) EXITED on its own (%s %d); restarted",
                           (int)d->daemon_pid, st > 128 ? "signal" : "status",
                           st > 128 ? st - 128 : st);
        drill_log(d, "sluiced exited on its own; see %s/sluiced.log", d->opt.out);
        d->daemon_pid = s_start_daemon(d);
        s_mark_down(d, at);
    }
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
    uint64_t next = clock_mono_us();
    for (;;) {
        pthread_mutex_lock(&m->mu);
        bool stop = m->stop;
        pthread_mutex_unlock(&m->mu);
        if (stop || body == NULL)
            break;
        uint64_t now = clock_mono_us();
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


void drill_procs_check_ledgers(drill_t *d)
{
    char bin[PATH_MAX + 64], out[PATH_MAX + 32], l[DRILL_PLATFORMS][PATH_MAX + 64];
    snprintf(bin, sizeof bin, "%s/sluice-sim", d->opt.bindir);
    snprintf(out, sizeof out, "%s/ledger-check.txt", d->opt.out);
    for (int p = 0; p < DRILL_PLATFORMS; p++)
        snprintf(l[p], sizeof l[p], "%s/p%d.tsv", d->opt.out, p + 1);
    const char *argv[] = {bin, "--check-ledger", l[0], l[1], l[2], NULL};
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


bool drill_procs_monitor_start(drill_t *d)
{
    d->mon_started = pthread_create(&d->mon_thread, NULL, s_monitor_main, d) == 0;
    return d->mon_started;
}

void drill_procs_monitor_stop(drill_t *d)
{
    if (!d->mon_started)
        return;
    pthread_mutex_lock(&d->mon.mu);
    d->mon.stop = true;
    pthread_mutex_unlock(&d->mon.mu);
    pthread_join(d->mon_thread, NULL);
    d->mon_started = false;
}

void drill_procs_stop_daemon(drill_t *d, int grace_ms)
{
    s_stop(&d->daemon_pid, grace_ms);
}

void drill_procs_stop_sims(drill_t *d)
{
    for (int p = 0; p < DRILL_PLATFORMS; p++)
        s_stop(&d->sim_pid[p], 5000);
}

void drill_procs_wait_db(drill_t *d)
{
    if (d->db_restart_pid > 0)
        (void)proc_wait(d->db_restart_pid, -1);
    d->db_restart_pid = 0;
}
