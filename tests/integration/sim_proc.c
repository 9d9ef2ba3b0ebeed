/* sim_proc.c - owns sluice-sim as a child process of an integration test. */
#include "sim_proc.h"

#include "harness.h"
#include "proc.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zmq.h>

#define START_MS 15000   /* ASan builds start slower */
#define CTL_MS 5000
#define ARGS_MAX 48

const char *sim_proc_bin(void)
{
    static char path[PATH_MAX];
    const char *env = getenv("SLUICE_SIM");
    if (env && *env)
        return env;
    const char *daemon = getenv("SLUICE_BIN");
    if (daemon && strrchr(daemon, '/')) {
        snprintf(path, sizeof path, "%.*s/sluice-sim", (int)(strrchr(daemon, '/') - daemon),
                 daemon);
        return path;
    }
    return "build/sluice-sim";
}

/* s_ready_value copies the value of KEY ("gateway=") from the last ready
 * line of LOG (a restarted simulator appends to the same log). */
static bool s_ready_value(const char *log, const char *key, char *out, size_t len)
{
    const char *line = NULL;
    for (const char *at = strstr(log, "ready gateway="); at; at = strstr(at + 1, "ready gateway="))
        line = at;
    const char *value = line ? strstr(line, key) : NULL;
    if (!value)
        return false;
    value += strlen(key);
    snprintf(out, len, "%.*s", (int)strcspn(value, " \n"), value);
    return true;
}

static size_t s_count(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *at = strstr(text, needle); at; at = strstr(at + 1, needle))
        n++;
    return n;
}

static pid_t s_spawn(const char *const *argv, const char *out)
{
    const proc_spec_t spec = { .path = sim_proc_bin(), .argv = argv, .out = out,
                               .die_with_parent = true };
    pid_t pid = proc_spawn(&spec);
    if (pid < 0)
        fail_msg("failed to start %s (log %s)", sim_proc_bin(), out);
    return pid;
}

void sim_proc_start(sim_proc_t *s, void *zctx, const char *dir, const char *endpoint,
                    const char *const *extra)
{
    snprintf(s->log, sizeof s->log, "%s/sim.log", dir);
    snprintf(s->ledger, sizeof s->ledger, "%s/ledger.tsv", dir);
    char *before = harness_read_file(s->log);
    size_t readies = s_count(before, "ready gateway=");
    free(before);
    const char *argv[ARGS_MAX] = {"sluice-sim", "--endpoint", endpoint ? endpoint : "tcp://127.0.0.1:*",
                                  "--control", "tcp://127.0.0.1:*", "--ledger", s->ledger,
                                  "--seed", "1"};
    size_t n = 9;
    for (size_t i = 0; extra && extra[i]; i++) {
        assert_true(n + 1 < ARGS_MAX);
        argv[n++] = extra[i];
    }
    argv[n] = NULL;
    s->pid = s_spawn(argv, s->log);
    uint64_t deadline = harness_now_ms() + START_MS;
    for (;;) {
        char *log = harness_read_file(s->log);
        bool ready = s_count(log, "ready gateway=") > readies &&
                     s_ready_value(log, "gateway=", s->gateway, sizeof s->gateway) &&
                     s_ready_value(log, "control=", s->control, sizeof s->control);
        free(log);
        if (ready)
            break;
        if (!proc_alive(s->pid, NULL)) {
            s->pid = 0;
            fail_msg("sluice-sim exited before it was ready (log %s)", s->log);
        }
        if (harness_now_ms() > deadline)
            fail_msg("sluice-sim did not log ready within %d ms", START_MS);
        harness_nap_ms(20);
    }
    s->ctl = zmq_socket(zctx, ZMQ_REQ);
    int linger = 0;
    assert_int_equal(zmq_setsockopt(s->ctl, ZMQ_LINGER, &linger, sizeof linger), 0);
    assert_int_equal(zmq_connect(s->ctl, s->control), 0);
}

const char *sim_proc_ctl(sim_proc_t *s, const char *cmd)
{
    static char out[4096];
    assert_true(zmq_send(s->ctl, cmd, strlen(cmd), 0) >= 0);
    zmq_pollitem_t item = {.socket = s->ctl, .events = ZMQ_POLLIN};
    if (zmq_poll(&item, 1, CTL_MS) != 1)
        fail_msg("sluice-sim did not answer control command '%s'", cmd);
    int n = zmq_recv(s->ctl, out, sizeof out - 1, 0);
    assert_true(n >= 0);
    out[n < (int)sizeof out - 1 ? n : (int)sizeof out - 1] = '\0';
    return out;
}

uint64_t sim_proc_stat(sim_proc_t *s, const char *name)
{
    const char *stats = sim_proc_ctl(s, "stats");
    char key[64];
    snprintf(key, sizeof key, "%s=", name);
    const char *at = strstr(stats, key);
    while (at && at != stats && at[-1] != ' ')
        at = strstr(at + 1, key);
    if (!at)
        fail_msg("no %s in stats: %s", name, stats);
    return strtoull(at + strlen(key), NULL, 10);
}

static void s_close_ctl(sim_proc_t *s)
{
    if (s->ctl)
        zmq_close(s->ctl);
    s->ctl = NULL;
}

int sim_proc_stop(sim_proc_t *s)
{
    s_close_ctl(s);
    if (s->pid <= 0)
        return -1;
    assert_true(proc_signal(s->pid, SIGTERM));
    int rc = proc_wait(s->pid, 10000);
    s->pid = 0;
    return rc;
}

void sim_proc_kill(sim_proc_t *s)
{
    s_close_ctl(s);
    if (s->pid > 0) {
        proc_signal(s->pid, SIGKILL);
        (void)proc_wait(s->pid, 5000);
    }
    s->pid = 0;
}

void sim_proc_dump_log(const sim_proc_t *s)
{
    char *log = harness_read_file(s->log);
    fprintf(stderr, "---- sluice-sim log (%s) ----\n%s---- end ----\n", s->log, log);
    free(log);
}
