/* proc.h - owns child processes: start a program with its arguments, added
 * environment and output files, wait for it with a deadline, signal it or
 * its whole process group, ask whether it still runs. sluice-drill and
 * sluice-ctlbench run the real programs with it, and so does the
 * integration tests' harness.
 *
 * An exit status here is the program's exit code, or 128 + the signal that
 * ended it (as a shell says it). The parent opens the output files and
 * builds the environment before fork(), so the child only calls what is
 * safe after a fork in a threaded process (sluice-drill has a monitor
 * thread), and a file that cannot be opened is the parent's error. */
#ifndef SLUICE_PROC_H
#define SLUICE_PROC_H

#include <stdbool.h>
#include <sys/types.h>

/* proc_wait and proc_alive return these besides an exit status. */
enum { PROC_RUNNING = -1, PROC_ERROR = -2 };

typedef struct proc_spec {
    const char *path;          /* the program; NULL: argv[0]. Without a '/', PATH is searched */
    const char *const *argv;   /* NULL-terminated, argv[0] included */
    const char *const *env;    /* "NAME=value" set in the child's environment; NULL: none */
    const char *out;           /* stdout, created 0644 if missing; NULL: inherited */
    const char *err;           /* stderr; NULL: with stdout (inherited when OUT is NULL) */
    bool err_inherited;        /* stderr stays the parent's even when OUT is set */
    bool truncate;             /* empty OUT and ERR first instead of appending */
    bool die_with_parent;      /* SIGKILL when the parent dies (a test that crashed) */
    bool own_group;            /* its own process group, so proc_kill_group reaches its children */
    bool ignore_sigint;        /* Ctrl-C at the terminal is for the parent, which stops it */
} proc_spec_t;

/* proc_spawn starts SPEC with stdin on /dev/null and returns its pid, or -1
 * (logged) when the files cannot be opened or fork fails. A program that
 * cannot be executed exits 127 after saying why on its stderr. */
pid_t proc_spawn(const proc_spec_t *spec) __attribute__((warn_unused_result));

/* proc_wait waits up to TIMEOUT_MS (negative: for ever, 0: just looks) for
 * PID to exit and reaps it: its exit status, PROC_RUNNING when it still
 * runs at the deadline, PROC_ERROR when PID is not a child of ours. */
int proc_wait(pid_t pid, int timeout_ms);

/* proc_alive is true while PID runs. Once it has exited it is reaped, and
 * *STATUS (may be NULL) gets its exit status (PROC_ERROR: not our child). */
bool proc_alive(pid_t pid, int *status);

/* proc_signal sends SIG to PID; proc_kill_group to every process of the
 * group PID leads (spawned with own_group). False when none was there. */
bool proc_signal(pid_t pid, int sig);
bool proc_kill_group(pid_t pid, int sig);

/* proc_stop sends SIGTERM and waits GRACE_MS; one that lingers is killed
 * (SIGKILL) and reaped. Its exit status, or PROC_RUNNING when it had to be
 * killed, or PROC_ERROR. */
int proc_stop(pid_t pid, int grace_ms);

/* proc_run spawns SPEC and waits TIMEOUT_MS (negative: for ever) for it:
 * its exit status, PROC_ERROR when it could not start, or PROC_RUNNING
 * when it overstayed and was killed (its whole group when own_group) and
 * reaped. */
int proc_run(const proc_spec_t *spec, int timeout_ms);

#endif
