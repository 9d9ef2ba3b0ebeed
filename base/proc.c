/* proc.c - owns child processes (see proc.h). */
#include "proc.h"

#include "clock.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S_POLL_MS 5   /* how often proc_wait looks while a deadline runs */

extern char **environ;

/* s_open opens PATH for a child's output; -1 when PATH is NULL or on failure (logged). */
static int s_open(const char *path, bool truncate)
{
    if (path == NULL)
        return -1;
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : O_APPEND), 0644);
    if (fd < 0)
        log_error("failed to open %s: %s", path, strerror(errno));
    return fd;
}

/* s_name_len: the length of "NAME" in "NAME=value". */
static size_t s_name_len(const char *entry)
{
    return strcspn(entry, "=");
}

/* s_environment returns environ with ADD's entries in place of those of the
 * same name (an array the caller frees; its strings are borrowed), or NULL
 * when out of memory. */
static char **s_environment(const char *const *add)
{
    size_t have = 0, more = 0;
    while (environ[have] != NULL)
        have++;
    while (add[more] != NULL)
        more++;
    char **env = calloc(have + more + 1, sizeof *env);
    if (env == NULL)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < have; i++) {
        bool replaced = false;
        for (size_t k = 0; k < more && !replaced; k++)
            replaced = s_name_len(environ[i]) == s_name_len(add[k]) &&
                       strncmp(environ[i], add[k], s_name_len(add[k])) == 0;
        if (!replaced)
            env[n++] = environ[i];
    }
    for (size_t k = 0; k < more; k++)
        env[n++] = (char *)add[k];
    return env;
}

/* s_say writes S to stderr from the child, where stdio is not safe. */
static void s_say(const char *s)
{
    ssize_t n = write(STDERR_FILENO, s, strlen(s));
    (void)n;   /* nowhere left to say that saying failed */
}

/* s_child runs in the forked child: only async-signal-safe calls until exec. */
static void s_child(const proc_spec_t *spec, const char *path, int in, int out, int err,
                    char **env)
{
    if (spec->die_with_parent)
        prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (spec->own_group)
        setpgid(0, 0);
    if (spec->ignore_sigint)
        signal(SIGINT, SIG_IGN);
    if (in >= 0)
        dup2(in, STDIN_FILENO);
    if (out >= 0)
        dup2(out, STDOUT_FILENO);
    if (err >= 0)
        dup2(err, STDERR_FILENO);
    else if (out >= 0 && !spec->err_inherited)
        dup2(out, STDERR_FILENO);
    execvpe(path, (char *const *)spec->argv, env);
    const char *why = strerror(errno);
    s_say("failed to exec ");
    s_say(path);
    s_say(": ");
    s_say(why);
    s_say("\n");
    _exit(127);
}

pid_t proc_spawn(const proc_spec_t *spec)
{
    const char *path = spec->path != NULL ? spec->path : spec->argv[0];
    pid_t pid = -1;
    char **env = spec->env != NULL ? s_environment(spec->env) : environ;
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int out = s_open(spec->out, spec->truncate);
    int err = s_open(spec->err, spec->truncate);
    if (env == NULL) {
        log_error("failed to start %s: out of memory", path);
        goto fail;
    }
    if ((spec->out != NULL && out < 0) || (spec->err != NULL && err < 0))
        goto fail;
    fflush(NULL);   /* or the child would write our buffered output again */
    pid = fork();
    if (pid < 0)
        log_error("failed to fork for %s: %s", path, strerror(errno));
    else if (pid == 0)
        s_child(spec, path, in, out, err, env);
fail:
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    if (err >= 0)
        close(err);
    if (env != environ)
        free(env);
    return pid;
}

/* s_status: an exit status as proc.h says it. */
static int s_status(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return PROC_ERROR;
}

static void s_nap_ms(int ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int proc_wait(pid_t pid, int timeout_ms)
{
    if (pid <= 0)
        return PROC_ERROR;
    uint64_t deadline = clock_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, timeout_ms < 0 ? 0 : WNOHANG);
        if (r == pid)
            return s_status(status);
        if (r < 0 && errno != EINTR)
            return PROC_ERROR;
        if (r == 0 && clock_mono_ms() >= deadline)
            return PROC_RUNNING;
        if (r == 0)
            s_nap_ms(S_POLL_MS);
    }
}

bool proc_alive(pid_t pid, int *status)
{
    int rc = proc_wait(pid, 0);
    if (rc == PROC_RUNNING)
        return true;
    if (status != NULL)
        *status = rc;
    return false;
}

bool proc_signal(pid_t pid, int sig)
{
    return pid > 0 && kill(pid, sig) == 0;
}

bool proc_kill_group(pid_t pid, int sig)
{
    return pid > 0 && kill(-pid, sig) == 0;
}

int proc_stop(pid_t pid, int grace_ms)
{
    if (!proc_signal(pid, SIGTERM))
        return proc_wait(pid, 0);   /* gone already: reap it */
    int rc = proc_wait(pid, grace_ms);
    if (rc != PROC_RUNNING)
        return rc;
    proc_signal(pid, SIGKILL);
    (void)proc_wait(pid, -1);
    return PROC_RUNNING;
}

int proc_run(const proc_spec_t *spec, int timeout_ms)
{
    pid_t pid = proc_spawn(spec);
    if (pid < 0)
        return PROC_ERROR;
    int rc = proc_wait(pid, timeout_ms);
    if (rc != PROC_RUNNING)
        return rc;
    if (spec->own_group)
        proc_kill_group(pid, SIGKILL);
    proc_signal(pid, SIGKILL);
    (void)proc_wait(pid, -1);
    return PROC_RUNNING;
}
