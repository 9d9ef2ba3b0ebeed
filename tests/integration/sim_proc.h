/* sim_proc.h - sluice-sim as a child process for integration tests that
 * need a delivery network: start it on ports it picks (or a given gateway
 * endpoint, to restart it where it was), read its endpoints from the
 * "ready" log line, speak its control channel, stop it. Helpers fail the
 * current cmocka test when they cannot go on.
 * Environment: SLUICE_SIM (path of sluice-sim), else next to SLUICE_BIN,
 * else build/sluice-sim. */
#ifndef SLUICE_TEST_SIM_PROC_H
#define SLUICE_TEST_SIM_PROC_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct sim_proc {
    char log[PATH_MAX + 16];      /* the simulator's stdout and stderr */
    char ledger[PATH_MAX + 16];
    char gateway[128];            /* tcp://127.0.0.1:PORT, from the ready line */
    char control[128];
    pid_t pid;                    /* 0 when not running */
    void *ctl;                    /* REQ to --control while running */
} sim_proc_t;

/* sim_proc_start runs sluice-sim with its log and ledger in DIR, gateway
 * at ENDPOINT (NULL: any free port) plus EXTRA (NULL-terminated, may be
 * NULL), waits for "ready" and connects a control socket on ZCTX. */
void sim_proc_start(sim_proc_t *s, void *zctx, const char *dir, const char *endpoint,
                    const char *const *extra);
/* sim_proc_ctl sends one control command; returns the answer (static). */
const char *sim_proc_ctl(sim_proc_t *s, const char *cmd);
/* sim_proc_stat reads one counter from "stats". */
uint64_t sim_proc_stat(sim_proc_t *s, const char *name);
/* sim_proc_stop: SIGTERM, and the exit status (0 expected; 128+signal,
 * -1 if it did not exit in 10 s). */
int sim_proc_stop(sim_proc_t *s);
/* sim_proc_kill: SIGKILL and reap, for teardown; fine when not running. */
void sim_proc_kill(sim_proc_t *s);
/* sim_proc_bin: the sluice-sim to run (SLUICE_SIM, else next to SLUICE_BIN,
 * else build/sluice-sim). */
const char *sim_proc_bin(void);
/* sim_proc_dump_log prints the log to stderr (for a failed test). */
void sim_proc_dump_log(const sim_proc_t *s);

#endif
