/* drill_chaos.c - owns sluice-drill's chaos schedule: parsing --chaos and
 * --chaos-file into timed actions, and carrying each out (see drill.h). */
#include "drill.h"

#include "proc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Which topology a verb needs. */
enum { T_ANY, T_SINGLE, T_HA };

static const struct {
    const char *name;
    chaos_kind_t kind;
    int platform_arg; /* 1: first argument is a platform p1..p3 */
    int value_arg;    /* 1: a numeric value follows */
    int name_arg;     /* 1: a word may follow (store, brand, shard) */
    int topology;
} s_chaos_verbs[] = {
    { "kill-daemon", CH_KILL_DAEMON, 0, 0, 0, T_SINGLE },
    { "restart-db", CH_RESTART_DB, 0, 0, 0, T_SINGLE },
    { "dark", CH_DARK, 1, 0, 0, T_ANY },
    { "light", CH_LIGHT, 1, 0, 0, T_ANY },
    { "slow", CH_SLOW, 1, 1, 0, T_ANY },
    { "fail", CH_FAIL, 1, 1, 0, T_ANY },
    { "cancel-ratio", CH_CANCEL_RATIO, 1, 1, 0, T_ANY },
    { "pause-store", CH_PAUSE_STORE, 0, 0, 1, T_ANY },
    { "resume-store", CH_RESUME_STORE, 0, 0, 1, T_ANY },
    { "halve-brand", CH_HALVE_BRAND, 0, 0, 1, T_ANY },
    { "rider-pace", CH_RIDER_PACE, 1, 1, 0, T_ANY },
    { "kill-db-primary", CH_KILL_DB_PRIMARY, 0, 0, 0, T_HA },
    { "freeze-db-primary", CH_FREEZE_DB_PRIMARY, 0, 1, 0, T_HA },
    { "kill-active", CH_KILL_ACTIVE, 0, 0, 1, T_HA },
    { "freeze-active", CH_FREEZE_ACTIVE, 0, 1, 1, T_HA },
};

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

/* s_shard_name: NAME is one of the run's shards, s1..sN. */
static bool s_shard_name(const drill_t *d, const char *name)
{
    char *end;
    if (name[0] != 's' || name[1] < '1' || name[1] > '9')
        return false;
    unsigned long k = strtoul(name + 1, &end, 10);
    return *end == '\0' && k >= 1 && k <= d->opt.shards;
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
    char *words[4] = { 0 };
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
        if (w >= nw || !drill_parse_double(words[w], 0, 600000, &a->value))
            goto bad;
        if (a->kind == CH_RIDER_PACE && !(a->value > 0 && a->value <= 100))
            goto bad;
        w++;
    }
    if (s_chaos_verbs[v].name_arg && w < nw)
        snprintf(a->arg, sizeof a->arg, "%s", words[w++]);
    if (w != nw)
        goto bad;
    if (s_chaos_verbs[v].topology == (d->opt.ha ? T_SINGLE : T_HA)) {
        fprintf(stderr, "sluice-drill: chaos action '%s' %s\n", item,
                d->opt.ha ? "is for a single node; with --ha use kill-active or kill-db-primary"
                          : "needs --ha");
        return false;
    }
    if ((a->kind == CH_KILL_ACTIVE || a->kind == CH_FREEZE_ACTIVE) && a->arg[0] &&
        !s_shard_name(d, a->arg)) {
        fprintf(stderr, "sluice-drill: chaos action '%s': no shard %s (s1..s%u)\n", item, a->arg,
                d->opt.shards);
        return false;
    }
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

bool drill_chaos_parse(drill_t *d)
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

static void s_reload(drill_t *d, double at, const char *what)
{
    if (!drill_procs_write_configs(d)) {
        drill_report_chaos(d->report, at, "%s: FAILED to write the config", what);
        return;
    }
    for (size_t i = 0; i < d->node_count; i++)
        if (d->nodes[i].pid > 0)
            proc_signal(d->nodes[i].pid, SIGHUP);
    drill_report_chaos(d->report, at, "%s (config rewritten, SIGHUP to sluiced%s)", what,
                       d->node_count > 1 ? ", every node" : "");
}

void drill_chaos_run(drill_t *d, chaos_action_t *a, double at)
{
    char msg[256], answer[256] = "", cmd[64];
    drill_log(d, "chaos: %s", a->text);
    switch (a->kind) {
    case CH_KILL_DAEMON: drill_procs_kill_daemon(d, at); return;
    case CH_RESTART_DB: drill_procs_restart_db(d, at); return;
    case CH_KILL_DB_PRIMARY:
    case CH_FREEZE_DB_PRIMARY:
    case CH_KILL_ACTIVE:
    case CH_FREEZE_ACTIVE: drill_ha_run(d, a, at); return;
    case CH_DARK:
    case CH_LIGHT: snprintf(cmd, sizeof cmd, "%s", a->kind == CH_DARK ? "dark" : "light"); break;
    case CH_SLOW: snprintf(cmd, sizeof cmd, "slow %.0f", a->value); break;
    case CH_FAIL: snprintf(cmd, sizeof cmd, "fail %g", a->value); break;
    case CH_CANCEL_RATIO: snprintf(cmd, sizeof cmd, "cancel-ratio %g", a->value); break;
    case CH_RIDER_PACE: snprintf(cmd, sizeof cmd, "pace %g", a->value); break;
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
        snprintf(msg, sizeof msg, "%s store %u (popularity rank %u)",
                 s->paused ? "pause" : "resume", s->id, s->rank);
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
    bool ok = drill_procs_sim_control(d, a->platform, cmd, answer, sizeof answer);
    answer[strcspn(answer, "\n")] = '\0';
    drill_report_chaos(d->report, at, "p%d: %s (%s)", a->platform + 1, cmd, ok ? "ok" : answer);
}

/* drill_procs_watch reaps the database restart and notices a daemon that
 * died on its own (which is restarted, and breaks the run). */
