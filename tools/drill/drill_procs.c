/* drill_procs.c - owns the processes of a sluice-drill run: the throwaway
 * PostgreSQL (pgtmp.sh; the formation of --ha is drill_ha.c's), the three
 * sluice-sim platforms and the sluiced nodes, started, watched, killed and
 * restarted through base/proc, and the monitor thread that reads /metrics,
 * /readyz and PostgreSQL once a second (see drill.h). */
#include "drill.h"

#include "clock.h"
#include "proc.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
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
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1)) };
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = { .tv_sec = 1 };
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

void drill_procs_start_node(drill_t *d, drill_node_t *n)
{
    char bin[PATH_MAX + 64];
    snprintf(bin, sizeof bin, "%s/sluiced", d->opt.bindir);
    const char *argv[] = { bin, "-c", n->conf, NULL };
    n->pid = s_spawn(argv, n->log);
    n->frozen = n->thawed = false;
    if (n->pid < 0)
        n->pid = 0;
}

/* s_role_of: a node's role from its /readyz answer (STATUS, BODY). */
static node_role_t s_role_of(int status, const char *body)
{
    if (status == 200)
        return ROLE_ACTIVE;
    return status == 503 && strstr(body, "standby") != NULL ? ROLE_STANDBY : ROLE_DOWN;
}

bool drill_procs_wait_role(drill_t *d, drill_node_t *n, node_role_t role, double seconds)
{
    uint64_t until = clock_mono_us() + (uint64_t)(seconds * 1e6);
    char body[512];
    while (clock_mono_us() < until && drill_interrupts() == 0) {
        int status = s_http_get(n->http, "/readyz", body, sizeof body);
        if (status > 0 && s_role_of(status, body) == role)
            return true;
        if (n->pid > 0 && !proc_alive(n->pid, NULL)) {
            n->pid = 0;
            drill_log(d, "%s exited while starting; see %s", n->name, n->log);
            return false;
        }
        usleep(50000);
    }
    drill_log(d, "%s did not become %s; see %s", n->name,
              role == ROLE_ACTIVE ? "ready" : "a standby", n->log);
    return false;
}

/* s_port_given: PORT was handed out before. The kernel may give a port
 * bound and closed a moment ago to the next bind to port 0, and a port
 * handed out is not bound until its process starts. */
static bool s_port_given(unsigned port)
{
    static unsigned given[256];
    static size_t count;
    for (size_t i = 0; i < count; i++)
        if (given[i] == port)
            return true;
    if (count < sizeof given / sizeof given[0])
        given[count++] = port;
    return false;
}

unsigned drill_procs_free_port(void)
{
    for (int tries = 0; tries < 100; tries++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return 0;
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof sa;
        unsigned port = 0;
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
            getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
            port = ntohs(sa.sin_port);
        close(fd);
        if (port == 0 || !s_port_given(port))
            return port;
    }
    return 0;
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
        char bin[PATH_MAX + 64], log[PATH_MAX + 64], ledger[PATH_MAX + 64], name[16], riders_s[16],
            scale_s[32], seed_s[32];
        snprintf(bin, sizeof bin, "%s/sluice-sim", d->opt.bindir);
        snprintf(log, sizeof log, "%s/p%d.log", d->opt.out, p + 1);
        snprintf(ledger, sizeof ledger, "%s/p%d.tsv", d->opt.out, p + 1);
        snprintf(name, sizeof name, "p%d", p + 1);
        snprintf(riders_s, sizeof riders_s, "%u", riders);
        snprintf(scale_s, sizeof scale_s, "%.3f", d->opt.scale);
        snprintf(seed_s, sizeof seed_s, "%" PRIu64, d->opt.seed * 10 + (uint64_t)p);
        snprintf(d->ep.platform_endpoint[p], sizeof d->ep.platform_endpoint[p],
                 "tcp://127.0.0.1:%u", drill_procs_free_port());
        snprintf(d->sim_control[p], sizeof d->sim_control[p], "tcp://127.0.0.1:%u",
                 drill_procs_free_port());
        const char *argv[24 + 2 * DRILL_CITIES_MAX] = { bin,
                                                        "--endpoint",
                                                        d->ep.platform_endpoint[p],
                                                        "--control",
                                                        d->sim_control[p],
                                                        "--name",
                                                        name,
                                                        "--riders",
                                                        riders_s,
                                                        "--radius-km",
                                                        radius_s,
                                                        "--speed-kmh",
                                                        speed_s,
                                                        "--time-scale",
                                                        scale_s,
                                                        "--seed",
                                                        seed_s,
                                                        "--ledger",
                                                        ledger };
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

bool drill_procs_write_configs(drill_t *d)
{
    drill_endpoints_t *eps = calloc(d->node_count, sizeof *eps);
    const char **paths = calloc(d->node_count, sizeof *paths);
    bool ok = eps != NULL && paths != NULL;
    for (size_t i = 0; ok && i < d->node_count; i++) {
        drill_node_t *n = &d->nodes[i];
        drill_endpoints_t *ep = &eps[i];
        *ep = d->ep;
        snprintf(ep->ingress, sizeof ep->ingress, "%s", n->ingress);
        snprintf(ep->events, sizeof ep->events, "%s", n->events);
        snprintf(ep->control, sizeof ep->control, "%s", n->control);
        snprintf(ep->http, sizeof ep->http, "%s", n->http);
        ep->shard = n->shard;
        snprintf(ep->node, sizeof ep->node, "%s", n->name);
        paths[i] = n->conf;
    }
    if (eps == NULL || paths == NULL)
        drill_log(d, "out of memory writing the configs");
    else if (ok)
        ok = drill_world_write_configs(d->world, eps, paths, d->node_count);
    free(eps);
    free(paths);
    return ok;
}

/* s_plan_single: the one node of a run without --ha, its files where they
 * always were (DIR/sluice.conf, DIR/sluiced.log, DIR/control.sock). */
static void s_plan_single(drill_t *d)
{
    drill_node_t *n = &d->nodes[0];
    d->node_count = 1;
    snprintf(n->name, sizeof n->name, "sluiced");
    snprintf(n->ingress, sizeof n->ingress, "tcp://127.0.0.1:%u", drill_procs_free_port());
    snprintf(n->events, sizeof n->events, "tcp://127.0.0.1:%u", drill_procs_free_port());
    snprintf(n->http, sizeof n->http, "127.0.0.1:%u", drill_procs_free_port());
    snprintf(n->control, sizeof n->control, "ipc://%.200s/control.sock", d->opt.out);
    snprintf(n->conf, sizeof n->conf, "%s/sluice.conf", d->opt.out);
    snprintf(n->log, sizeof n->log, "%s/sluiced.log", d->opt.out);
}

/* s_start_nodes starts the one node and waits until it is ready, or with
 * --ha each shard's first node (active) and then its second (standby). */
static bool s_start_nodes(drill_t *d)
{
    for (int pass = 0; pass < DRILL_NODES_PER_SHARD; pass++) {
        for (size_t i = 0; i < d->node_count; i++) {
            drill_node_t *n = &d->nodes[i];
            if ((size_t)pass != (d->opt.ha ? i % DRILL_NODES_PER_SHARD : 0))
                continue;
            drill_procs_start_node(d, n);
            if (n->pid == 0 ||
                !drill_procs_wait_role(d, n, pass == 0 ? ROLE_ACTIVE : ROLE_STANDBY, READY_WAIT_S))
                return false;
            drill_log(d, "%s up (pid %d, %s), ingress %s, http %s, %zu stores", n->name,
                      (int)n->pid,
                      !d->opt.ha  ? "ready"
                      : pass == 0 ? "active"
                                  : "standby",
                      n->ingress, n->http, d->world->store_count);
        }
        if (!d->opt.ha)
            break;
    }
    return true;
}

bool drill_procs_setup(drill_t *d)
{
    if (d->opt.ha) {
        if (!drill_ha_start_formation(d))
            return false;
    } else {
        snprintf(d->pgdir, sizeof d->pgdir, "%s/pg", d->opt.out);
        if (!drill_procs_pgtmp(d, "start", d->ep.dsn, sizeof d->ep.dsn))
            return false;
    }
    drill_log(d, "PostgreSQL up: %s", d->ep.dsn);
    if (!s_start_sims(d))
        return false;
    /* the nodes' ports once the simulators hold theirs */
    if (d->opt.ha)
        drill_ha_plan_nodes(d);
    else
        s_plan_single(d);
    if (!drill_procs_write_configs(d))
        return false;
    char bin[PATH_MAX + 64];
    snprintf(bin, sizeof bin, "%s/sluiced", d->opt.bindir);
    const char *argv[] = { bin, "-c", d->nodes[0].conf, "--migrate", NULL };
    if (s_run(argv, d->nodes[0].log) != 0) {
        drill_log(d, "sluiced --migrate failed; see %s", d->nodes[0].log);
        return false;
    }
    return s_start_nodes(d);
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
    unsigned long long v[15] = { 0 };
    if (p == NULL ||
        sscanf(p + 2, "%*c %llu %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu %llu %llu", &v[0],
               &v[1], &v[2], &v[3], &v[4]) != 5)
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
    r->cpu_s[DRILL_CPU_SLUICED] = d->killed_cpu_s;
    for (size_t i = 0; i < d->node_count; i++)
        if (d->nodes[i].pid > 0)
            r->cpu_s[DRILL_CPU_SLUICED] += s_cpu_s(d->nodes[i].pid, false, NULL);
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
    drill_node_t *n = &d->nodes[0];
    pid_t old = n->pid;
    if (old > 0) {
        d->killed_cpu_s += s_cpu_s(old, false, NULL);
        proc_signal(old, SIGKILL);
        (void)proc_wait(old, -1);
    }
    drill_procs_start_node(d, n);
    s_mark_down(d, at);
    drill_report_chaos(d->report, at, "kill -9 sluiced (pid %d), restarted as pid %d", (int)old,
                       (int)n->pid);
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
    const char *argv[] = { "/bin/sh", "-c", script, NULL };
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
    for (size_t i = 0; i < d->node_count; i++) {
        drill_node_t *n = &d->nodes[i];
        pid_t pid = n->pid;
        if (pid == 0 || proc_alive(pid, &st))
            continue;
        n->pid = 0;
        if (d->opt.ha && drill_ha_exited(d, n, st, at)) {
            drill_procs_start_node(d, n);
            drill_report_chaos(d->report, at, "%s restarted (pid %d): a standby", n->name,
                               (int)n->pid);
            continue;
        }
        d->daemon_unexpected_exits++;
        drill_report_chaos(d->report, at, "%s (pid %d) EXITED on its own (%s %d); restarted",
                           n->name, (int)pid, st > 128 ? "signal" : "status",
                           st > 128 ? st - 128 : st);
        drill_log(d, "%s exited on its own; see %s", n->name, n->log);
        drill_procs_start_node(d, n);
        if (!d->opt.ha)
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

/* s_query runs SQL on *C (connected with CONNINFO first when it is not) and
 * waits at most TIMEOUT_MS for its rows: a frozen server answers nothing,
 * not even a cancel, so the connection is dropped at the deadline. NULL
 * when there are none. */
static PGresult *s_query(PGconn **c, const char *conninfo, const char *sql, int timeout_ms)
{
    if (*c == NULL || PQstatus(*c) != CONNECTION_OK) {
        PQfinish(*c);
        *c = PQconnectdb(conninfo);
        if (PQstatus(*c) != CONNECTION_OK)
            return NULL;
    }
    uint64_t until = clock_mono_us() + (uint64_t)timeout_ms * 1000u;
    PGresult *res = NULL;
    bool ok = PQsendQuery(*c, sql) == 1;
    while (ok && PQisBusy(*c)) {
        uint64_t now = clock_mono_us();
        struct pollfd p = { .fd = PQsocket(*c), .events = POLLIN };
        int left = now < until ? (int)((until - now) / 1000u) + 1 : 0;
        int n = poll(&p, 1, left);
        if (n < 0 && errno == EINTR)
            continue;
        ok = n > 0 && PQconsumeInput(*c) == 1;
    }
    for (PGresult *r; ok && (r = PQgetResult(*c)) != NULL;) {
        if (res == NULL && PQresultStatus(r) == PGRES_TUPLES_OK)
            res = r;
        else
            PQclear(r);
    }
    if (!ok) {
        PQfinish(*c);
        *c = NULL;
    }
    return res;
}

/* s_scrape_roles: each node's /readyz (--ha). */
static void s_scrape_roles(drill_t *d, node_role_t *role)
{
    char body[512];
    for (size_t i = 0; i < d->node_count; i++) {
        int status = s_http_get(d->nodes[i].http, "/readyz", body, sizeof body);
        role[i] = status > 0 ? s_role_of(status, body) : ROLE_DOWN;
    }
}

/* s_scrape_formation: the formation as its monitor sees it (--ha). */
static void s_scrape_formation(PGconn **c, const char *conninfo, bool *whole, char *primary,
                               size_t cap)
{
    PGresult *res = s_query(c, conninfo,
                            "SELECT count(*) FILTER (WHERE reportedstate = 'primary' AND"
                            "                        goalstate = 'primary'),"
                            " count(*) FILTER (WHERE reportedstate = 'secondary' AND"
                            "                  goalstate = 'secondary'),"
                            " coalesce(min(nodename) FILTER (WHERE reportedstate IN"
                            "   ('primary', 'wait_primary', 'single') AND goalstate IN"
                            "   ('primary', 'wait_primary', 'single')), '')"
                            " FROM pgautofailover.node",
                            2000);
    *whole = false;
    primary[0] = '\0';
    if (res != NULL && PQntuples(res) == 1) {
        *whole = strcmp(PQgetvalue(res, 0, 0), "1") == 0 && strcmp(PQgetvalue(res, 0, 1), "1") == 0;
        snprintf(primary, cap, "%s", PQgetvalue(res, 0, 2));
    }
    PQclear(res);
}

static void *s_monitor_main(void *arg)
{
    drill_t *d = arg;
    monitor_t *m = &d->mon;
    char conninfo[700], monitor_info[400];
    snprintf(conninfo, sizeof conninfo, "%s connect_timeout=2 options='-c statement_timeout=2000'",
             d->ep.dsn);
    snprintf(monitor_info, sizeof monitor_info, "%s connect_timeout=2", d->monitor_dsn);
    PGconn *c = NULL, *mc = NULL;
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
        node_role_t role[DRILL_NODES_MAX] = { ROLE_DOWN };
        bool whole = false;
        char primary[64] = "";
        /* /metrics of the one node, or of the first active one */
        size_t from = 0;
        if (d->opt.ha) {
            s_scrape_roles(d, role);
            s_scrape_formation(&mc, monitor_info, &whole, primary, sizeof primary);
            while (from < d->node_count && role[from] != ROLE_ACTIVE)
                from++;
        }
        int status = from < d->node_count ? s_http_get(d->nodes[from].http, "/metrics", body, cap)
                                          : -1;
        int64_t delivered = -1, live = -1, orders = -1;
        PGresult *res = s_query(&c, conninfo,
                                "SELECT count(*) FILTER (WHERE state = 'DELIVERED'),"
                                " count(*) FILTER (WHERE NOT order_state_is_terminal(state)),"
                                " count(*) FROM orders",
                                3000);
        if (res != NULL) {
            delivered = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
            live = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
            orders = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
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
        memcpy(m->role, role, sizeof m->role);
        m->formation_whole = whole;
        snprintf(m->db_primary, sizeof m->db_primary, "%s", primary);
        m->scrapes++;
        pthread_mutex_unlock(&m->mu);
    }
    PQfinish(c);
    PQfinish(mc);
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
    const char *argv[] = { bin, "--check-ledger", l[0], l[1], l[2], NULL };
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
                           rc == 0   ? "no order had two live riders"
                           : rc == 1 ? "an order had two live riders"
                                     : "could not check",
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
    /* A frozen node would never see the SIGTERM. */
    for (size_t i = 0; i < d->node_count; i++)
        if (d->nodes[i].pid > 0 && d->nodes[i].frozen)
            proc_signal(d->nodes[i].pid, SIGCONT);
    for (size_t i = 0; i < d->node_count; i++)
        if (d->nodes[i].pid > 0)
            proc_signal(d->nodes[i].pid, SIGTERM);
    for (size_t i = 0; i < d->node_count; i++)
        s_stop(&d->nodes[i].pid, grace_ms);
}

long drill_procs_log_size(const drill_node_t *n)
{
    struct stat st;
    return stat(n->log, &st) == 0 ? (long)st.st_size : 0;
}

char *drill_procs_log_since(const drill_node_t *n, long mark)
{
    FILE *f = fopen(n->log, "r");
    if (f == NULL)
        return NULL;
    char *text = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (size >= mark && fseek(f, mark, SEEK_SET) == 0) {
        text = malloc((size_t)(size - mark) + 1);
        if (text != NULL)
            text[fread(text, 1, (size_t)(size - mark), f)] = '\0';
    }
    fclose(f);
    return text;
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
