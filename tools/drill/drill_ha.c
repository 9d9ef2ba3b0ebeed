/* drill_ha.c - owns sluice-drill's --ha topology: a pg_auto_failover
 * formation on localhost (tools/scripts/pgaf.sh: monitor, primary,
 * synchronous standby), the shards s1..sN of an active and a standby
 * sluiced each, the chaos that fails them over (kill-db-primary,
 * freeze-db-primary, kill-active, freeze-active), when the fleet is whole
 * again, and what a node that lost its lease did (see drill.h). */
#include "drill.h"

#include "proc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define EXIT_LEASE_LOST 75    /* sluiced: the lease was lost (daemon/lease.h) */
#define DB_FREEZE_MAX_S 120.0 /* freeze-db-primary 0 thaws by then, promoted or not */

/* s_pgaf_command runs the shell command CMD (pgaf.sh's, stderr to
 * DIR/pgaf.log); OUT gets the last line it printed. */
static bool s_pgaf_command(drill_t *d, const char *cmd, char *out, size_t cap)
{
    char command[4 * PATH_MAX];
    snprintf(command, sizeof command, "%s 2>>'%s/pgaf.log'", cmd, d->opt.out);
    FILE *p = popen(command, "r");
    if (p == NULL)
        return false;
    char line[1024], last[1024] = "";
    while (fgets(line, sizeof line, p) != NULL)
        if (line[0] != '\n')
            snprintf(last, sizeof last, "%s", line);
    bool ok = pclose(p) == 0;
    last[strcspn(last, "\n")] = '\0';
    if (out != NULL)
        snprintf(out, cap, "%s", last);
    return ok;
}

bool drill_ha_pgaf(drill_t *d, const char *cmd, const char *node, char *out, size_t cap)
{
    char command[3 * PATH_MAX];
    if (node != NULL)
        snprintf(command, sizeof command, "sh '%s' %s '%s' '%s'", d->opt.pgaf, cmd, node, d->pgdir);
    else
        snprintf(command, sizeof command, "sh '%s' %s '%s'", d->opt.pgaf, cmd, d->pgdir);
    bool ok = s_pgaf_command(d, command, out, cap);
    if (!ok)
        drill_log(d, "failed to run pgaf.sh %s%s%s; see %s/pgaf.log", cmd, node ? " " : "",
                  node ? node : "", d->opt.out);
    return ok;
}

/* s_port_free: nothing listens on 127.0.0.1:PORT (nor holds it). */
static bool s_port_free(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in sa = { .sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bool free_ = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return free_;
}

/* s_free_run: the first of three consecutive free ports (the formation's
 * monitor and its two nodes), below the kernel's ephemeral range, where the
 * ports it hands out for port 0 are; 0 when none was found. */
static unsigned s_free_run(uint64_t *rng)
{
    for (int attempt = 0; attempt < 200; attempt++) {
        unsigned base = 15000 + (unsigned)(drill_world_rand(rng) % 15000);
        if (s_port_free(base) && s_port_free(base + 1) && s_port_free(base + 2))
            return base;
    }
    return 0;
}

bool drill_ha_start_formation(drill_t *d)
{
    snprintf(d->pgdir, sizeof d->pgdir, "%s/pgaf", d->opt.out);
    /* not the run's generator: the ports are no part of the world */
    uint64_t rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 24);
    unsigned port = s_free_run(&rng);
    if (port == 0) {
        drill_log(d, "no three free ports for the formation");
        return false;
    }
    drill_log(d, "starting a pg_auto_failover formation in %s (ports %u-%u)", d->pgdir, port,
              port + 2);
    char command[3 * PATH_MAX];
    snprintf(command, sizeof command, "sh '%s' start '%s' %u", d->opt.pgaf, d->pgdir, port);
    if (!s_pgaf_command(d, command, d->ep.dsn, sizeof d->ep.dsn) ||
        strstr(d->ep.dsn, "target_session_attrs") == NULL) {
        drill_log(d, "failed to start the formation with %s; see %s/pgaf.log", d->opt.pgaf,
                  d->opt.out);
        return false;
    }
    snprintf(d->monitor_dsn, sizeof d->monitor_dsn,
             "host=127.0.0.1 port=%u dbname=pg_auto_failover user=autoctl_node sslmode=disable",
             port);
    return true;
}

void drill_ha_plan_nodes(drill_t *d)
{
    d->node_count = d->opt.shards * DRILL_NODES_PER_SHARD;
    d->ep.shards = d->opt.shards;
    d->ep.lease_seconds = d->opt.lease_seconds;
    for (size_t i = 0; i < d->node_count; i++) {
        drill_node_t *n = &d->nodes[i];
        n->shard = (uint32_t)(i / DRILL_NODES_PER_SHARD);
        snprintf(n->name, sizeof n->name, "s%u-%zu", n->shard + 1, i % DRILL_NODES_PER_SHARD + 1);
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%.*s/%s", PATH_MAX - 40, d->opt.out, n->name);
        (void)mkdir(dir, 0755);
        snprintf(n->ingress, sizeof n->ingress, "tcp://127.0.0.1:%u", drill_procs_free_port());
        snprintf(n->events, sizeof n->events, "tcp://127.0.0.1:%u", drill_procs_free_port());
        snprintf(n->http, sizeof n->http, "127.0.0.1:%u", drill_procs_free_port());
        /* each in a directory of its own: control-ro.sock goes beside control.sock */
        snprintf(n->control, sizeof n->control, "ipc://%.200s/control.sock", dir);
        snprintf(n->conf, sizeof n->conf, "%s/sluice.conf", dir);
        snprintf(n->log, sizeof n->log, "%s/sluiced.log", dir);
        snprintf(d->ep.shard_ingress[n->shard][i % DRILL_NODES_PER_SHARD],
                 sizeof d->ep.shard_ingress[0][0], "%s", n->ingress);
    }
}

bool drill_ha_whole(drill_t *d)
{
    if (d->db_frozen[0] != '\0')
        return false;
    for (size_t i = 0; i < d->node_count; i++)
        if (d->nodes[i].pid == 0 || d->nodes[i].frozen)
            return false;
    pthread_mutex_lock(&d->mon.mu);
    bool whole = d->mon.formation_whole && d->mon.scrapes >= d->failover_scrapes + 2;
    for (uint32_t s = 0; s < d->opt.shards && whole; s++) {
        int active = 0, standby = 0;
        for (size_t i = s * DRILL_NODES_PER_SHARD; i < (s + 1) * DRILL_NODES_PER_SHARD; i++) {
            active += d->mon.role[i] == ROLE_ACTIVE;
            standby += d->mon.role[i] == ROLE_STANDBY;
        }
        whole = active == 1 && standby == DRILL_NODES_PER_SHARD - 1;
    }
    pthread_mutex_unlock(&d->mon.mu);
    return whole;
}

/* s_active_node: the active node of shard SHARD as the monitor last saw it,
 * or NULL. */
static drill_node_t *s_active_node(drill_t *d, uint32_t shard)
{
    drill_node_t *found = NULL;
    pthread_mutex_lock(&d->mon.mu);
    for (size_t i = shard * DRILL_NODES_PER_SHARD; i < (shard + 1) * DRILL_NODES_PER_SHARD; i++)
        if (d->mon.role[i] == ROLE_ACTIVE)
            found = &d->nodes[i];
    pthread_mutex_unlock(&d->mon.mu);
    return found;
}

/* s_begin opens a failover: the report's record, its chaos line, and the
 * monitor's count from which the fleet may be seen whole again. */
static void s_begin(drill_t *d, double at, bool database, int shard, const char *text)
{
    d->failover = drill_report_failover_begin(d->report, at, database, shard, "%s", text);
    pthread_mutex_lock(&d->mon.mu);
    d->failover_scrapes = d->mon.scrapes;
    pthread_mutex_unlock(&d->mon.mu);
    drill_report_chaos(d->report, at, "%s", text);
}

void drill_ha_run(drill_t *d, const chaos_action_t *a, double at)
{
    char primary[64] = "", text[200];
    if (a->kind == CH_KILL_DB_PRIMARY || a->kind == CH_FREEZE_DB_PRIMARY) {
        if (!drill_ha_pgaf(d, "primary", NULL, primary, sizeof primary) || primary[0] == '\0') {
            drill_report_chaos(d->report, at, "%s: FAILED: no primary", a->text);
            return;
        }
        bool kill = a->kind == CH_KILL_DB_PRIMARY;
        if (!drill_ha_pgaf(d, kill ? "kill" : "freeze", primary, NULL, 0)) {
            drill_report_chaos(d->report, at, "%s: FAILED to %s %s", a->text,
                               kill ? "kill" : "freeze", primary);
            return;
        }
        if (kill) {
            snprintf(text, sizeof text, "kill-db-primary: kill -9 of %s's postmaster (the primary)",
                     primary);
        } else {
            snprintf(d->db_frozen, sizeof d->db_frozen, "%s", primary);
            d->db_thaw_at = a->value > 0 ? at + a->value : 0;
            char how[64];
            snprintf(how, sizeof how, a->value > 0 ? "for %.0f s" : "until the standby is promoted",
                     a->value);
            snprintf(text, sizeof text,
                     "freeze-db-primary: every process of %s (the primary) stopped %s", primary,
                     how);
        }
        s_begin(d, at, true, -1, text);
        return;
    }
    uint32_t shard = a->arg[0] ? (uint32_t)strtoul(a->arg + 1, NULL, 10) - 1 : 0;
    drill_node_t *n = s_active_node(d, shard);
    if (n == NULL || n->pid == 0) {
        drill_report_chaos(d->report, at, "%s: FAILED: shard s%u has no active node", a->text,
                           shard + 1);
        return;
    }
    pid_t old = n->pid;
    if (a->kind == CH_KILL_ACTIVE) {
        proc_signal(old, SIGKILL);
        (void)proc_wait(old, -1);
        drill_procs_start_node(d, n);
        snprintf(text, sizeof text,
                 "kill-active: kill -9 of %s (pid %d), the active node of s%u; restarted as pid %d",
                 n->name, (int)old, shard + 1, (int)n->pid);
    } else {
        proc_signal(old, SIGSTOP);
        n->frozen = true;
        n->frozen_at = at;
        n->thaw_at = at + a->value;
        d->freezes_past_lease += a->value > d->opt.lease_seconds;
        snprintf(text, sizeof text,
                 "freeze-active: %s (pid %d), the active node of s%u, stopped (SIGSTOP) for %.0f s,"
                 " its lease %u s",
                 n->name, (int)old, shard + 1, a->value, d->opt.lease_seconds);
    }
    s_begin(d, at, false, (int)shard, text);
}

/* s_thaw_db lets the frozen database node run again when it is due: after
 * its SECONDS, or once another node is primary. */
static void s_thaw_db(drill_t *d, double at)
{
    pthread_mutex_lock(&d->mon.mu);
    char primary[64];
    snprintf(primary, sizeof primary, "%s", d->mon.db_primary);
    pthread_mutex_unlock(&d->mon.mu);
    bool promoted = primary[0] != '\0' && strcmp(primary, d->db_frozen) != 0;
    double since = d->failover >= 0 ? at - d->report->failovers[d->failover].at_s : 0;
    bool due = d->db_thaw_at > 0 ? at >= d->db_thaw_at : promoted || since >= DB_FREEZE_MAX_S;
    if (!due)
        return;
    bool ok = drill_ha_pgaf(d, "thaw", d->db_frozen, NULL, 0);
    drill_report_chaos(d->report, at, "%s let run again (SIGCONT)%s, %.1f s after the freeze; %s%s",
                       d->db_frozen, ok ? "" : " FAILED", since,
                       promoted ? primary : "no other node",
                       promoted ? " is primary" : " promoted");
    d->db_frozen[0] = '\0';
}

void drill_ha_step(drill_t *d, double at)
{
    if (d->db_frozen[0] != '\0')
        s_thaw_db(d, at);
    for (size_t i = 0; i < d->node_count; i++) {
        drill_node_t *n = &d->nodes[i];
        if (!n->frozen || at < n->thaw_at)
            continue;
        n->thaw_mark = drill_procs_log_size(n);
        proc_signal(n->pid, SIGCONT);
        n->frozen = false;
        n->thawed = true;
        drill_report_chaos(d->report, at, "%s let run again (SIGCONT) after %.1f s", n->name,
                           at - n->frozen_at);
    }
    (void)drill_ha_settled(d, at);
}

bool drill_ha_settled(drill_t *d, double at)
{
    if (!drill_ha_whole(d))
        return false;
    if (d->failover < 0)
        return true;
    drill_failover_t *f = &d->report->failovers[d->failover];
    if (f->whole_s < 0) {
        drill_report_failover_whole(d->report, d->failover, at);
        drill_report_chaos(d->report, at, "the fleet is whole again, %.1f s after: %.60s",
                           at - f->at_s, f->action);
        drill_log(d, "the fleet is whole again, %.1f s after the failover", at - f->at_s);
        for (size_t i = 0; i < d->node_count; i++)
            d->nodes[i].thawed = false;
    }
    return drill_report_failover_over(d->report, f);
}

/* s_check_thawed: node N, frozen past its lease, exited 75 once it ran
 * again. Its log since then must say it lost the lease and stopped, and no
 * write of its may have reached the fence: a node that counts its lease
 * lost before any other step sends nothing after a stop. */
static void s_check_thawed(drill_t *d, drill_node_t *n, double at)
{
    char *log = drill_procs_log_since(n, n->thaw_mark);
    bool lost = log != NULL && strstr(log, "lost the lease") != NULL &&
                strstr(log, "exiting with status 75") != NULL;
    bool fenced = log != NULL && strstr(log, "refused by the fence") != NULL;
    free(log);
    bool clean = lost && !fenced;
    if (clean)
        d->freeze_exits_clean++;
    else
        d->freeze_exits_dirty++;
    drill_report_chaos(d->report, at, "%s exited 75 after it ran again: %s", n->name,
                       clean    ? "lease lost before any write"
                       : fenced ? "a WRITE reached the fence"
                                : "its log does NOT say why");
    n->thawed = false;
}

bool drill_ha_exited(drill_t *d, drill_node_t *n, int status, double at)
{
    if (status != EXIT_LEASE_LOST)
        return false;
    if (n->thawed) {
        s_check_thawed(d, n, at);
        return true;
    }
    bool failing_over = d->failover >= 0 && d->report->failovers[d->failover].whole_s < 0;
    drill_report_chaos(d->report, at, "%s lost its lease and exited 75%s", n->name,
                       failing_over ? " (during the failover)" : " with no failover under way");
    if (!failing_over)
        return false;
    d->lease_exits++;
    return true;
}

void drill_ha_finish(drill_t *d)
{
    drill_report_t *r = d->report;
    size_t over = 0;
    char detail[400] = "";
    for (size_t i = 0; i < r->failover_count; i++) {
        const drill_failover_t *f = &r->failovers[i];
        bool ok = drill_report_failover_over(r, f);
        over += ok;
        size_t used = strlen(detail);
        snprintf(detail + used, sizeof detail - used, "%s%.0f s %s %.1f s%s", i ? ", " : "; ",
                 f->at_s, f->database ? "database" : "takeover",
                 drill_report_failover_worst(r, f, NULL), ok ? "" : " NOT OVER");
    }
    drill_report_invariant(r, "every failover over in the offering", over == r->failover_count,
                           "%zu of %zu failovers: the fleet whole again and every shard hit "
                           "accepting orders%s",
                           over, r->failover_count, detail);
    int frozen_exits = d->freeze_exits_clean + d->freeze_exits_dirty;
    if (d->freezes_past_lease > 0 || frozen_exits > 0)
        drill_report_invariant(r, "frozen active silent after its lease",
                               d->freeze_exits_dirty == 0 && frozen_exits >= d->freezes_past_lease,
                               "%d frozen past the lease; %d exited 75 having lost it before any "
                               "write, %d did not",
                               d->freezes_past_lease, d->freeze_exits_clean, d->freeze_exits_dirty);
}
