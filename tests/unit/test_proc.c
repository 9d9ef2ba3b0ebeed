/* test_proc.c - child processes (base/proc.c) run for real with /bin/sh:
 * exit statuses and signals, output appended or truncated, stderr apart,
 * added environment, a program that cannot be executed, deadlines, a child
 * that ignores SIGTERM, and a process group killed whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "clock.h"
#include "proc.h"
#include "unit_tmp.h"

#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct fx {
    char dir[PATH_MAX];
    char out[PATH_MAX + 16];
    char err[PATH_MAX + 16];
} fx_t;

static int s_setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_true(unit_tmp_template(f->dir, sizeof f->dir, "test_proc"));
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->out, sizeof f->out, "%s/out", f->dir);
    snprintf(f->err, sizeof f->err, "%s/err", f->dir);
    *state = f;
    return 0;
}

static int s_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int s_teardown(void **state)
{
    fx_t *f = *state;
    nftw(f->dir, s_rm, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* s_read returns PATH's text in BUF ("" when missing). */
static const char *s_read(const char *path, char *buf, size_t len)
{
    buf[0] = '\0';
    FILE *in = fopen(path, "r");
    if (in == NULL)
        return buf;
    size_t n = fread(buf, 1, len - 1, in);
    buf[n] = '\0';
    fclose(in);
    return buf;
}

/* s_dead: PID is gone, or a zombie (dead, not yet reaped). */
static bool s_dead(pid_t pid)
{
    char path[64], stat[256];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    s_read(path, stat, sizeof stat);
    const char *paren = strrchr(stat, ')');
    return paren == NULL || paren[1] == '\0' || paren[2] == 'Z';
}

static void test_exit_status_and_output(void **state)
{
    fx_t *f = *state;
    const char *argv[] = { "/bin/sh", "-c", "echo out; echo err >&2; exit 3", NULL };
    proc_spec_t spec = { .argv = argv, .out = f->out };
    assert_int_equal(proc_run(&spec, 10000), 3);
    assert_int_equal(proc_run(&spec, 10000), 3);   /* appended */
    char buf[256];
    assert_string_equal(s_read(f->out, buf, sizeof buf), "out\nerr\nout\nerr\n");

    spec.truncate = true;
    spec.err = f->err;
    assert_int_equal(proc_run(&spec, 10000), 3);
    assert_string_equal(s_read(f->out, buf, sizeof buf), "out\n");
    assert_string_equal(s_read(f->err, buf, sizeof buf), "err\n");
}

static void test_environment_added_and_replaced(void **state)
{
    fx_t *f = *state;
    assert_int_equal(setenv("PROC_TEST_KEPT", "kept", 1), 0);
    assert_int_equal(setenv("PROC_TEST_SET", "old", 1), 0);
    const char *env[] = { "PROC_TEST_SET=new", "PROC_TEST_ADDED=added", NULL };
    const char *argv[] = { "sh", "-c", "echo $PROC_TEST_KEPT $PROC_TEST_SET $PROC_TEST_ADDED",
                           NULL };
    proc_spec_t spec = { .argv = argv, .env = env, .out = f->out, .truncate = true };
    assert_int_equal(proc_run(&spec, 10000), 0);   /* "sh": found on PATH */
    char buf[256];
    assert_string_equal(s_read(f->out, buf, sizeof buf), "kept new added\n");
    assert_string_equal(getenv("PROC_TEST_SET"), "old");   /* ours is untouched */
}

static void test_path_apart_from_argv0(void **state)
{
    fx_t *f = *state;
    const char *argv[] = { "any-name", "-c", "echo $0", NULL };
    proc_spec_t spec = { .path = "/bin/sh", .argv = argv, .out = f->out, .truncate = true };
    assert_int_equal(proc_run(&spec, 10000), 0);
    char buf[256];
    assert_string_equal(s_read(f->out, buf, sizeof buf), "any-name\n");
}

static void test_cannot_exec_is_127(void **state)
{
    fx_t *f = *state;
    char missing[PATH_MAX + 16];
    snprintf(missing, sizeof missing, "%s/no-such-program", f->dir);
    const char *argv[] = { missing, NULL };
    proc_spec_t spec = { .argv = argv, .out = f->out, .truncate = true };
    assert_int_equal(proc_run(&spec, 10000), 127);
    char buf[PATH_MAX + 128];
    assert_non_null(strstr(s_read(f->out, buf, sizeof buf), "failed to exec "));
    assert_non_null(strstr(buf, "no-such-program"));
}

static void test_unopenable_output_is_refused(void **state)
{
    fx_t *f = *state;
    char bad[PATH_MAX + 32];
    snprintf(bad, sizeof bad, "%s/no-dir/out", f->dir);
    const char *argv[] = { "/bin/true", NULL };
    proc_spec_t spec = { .argv = argv, .out = bad };
    assert_int_equal(proc_spawn(&spec), -1);
    assert_int_equal(proc_run(&spec, 1000), PROC_ERROR);
}

static void test_deadline_signal_and_alive(void **state)
{
    (void)state;
    const char *argv[] = { "/bin/sh", "-c", "exec sleep 30", NULL };
    proc_spec_t spec = { .argv = argv, .die_with_parent = true };
    pid_t pid = proc_spawn(&spec);
    assert_true(pid > 0);
    uint64_t t0 = clock_mono_ms();
    assert_int_equal(proc_wait(pid, 50), PROC_RUNNING);
    assert_true(clock_mono_ms() - t0 >= 50);
    assert_true(proc_alive(pid, NULL));
    assert_true(proc_signal(pid, SIGTERM));
    assert_int_equal(proc_wait(pid, 10000), 128 + SIGTERM);
    int status = 0;
    assert_false(proc_alive(pid, &status));   /* reaped: no longer ours */
    assert_int_equal(status, PROC_ERROR);
    assert_int_equal(proc_wait(-1, 0), PROC_ERROR);
}

static void test_stop_kills_what_ignores_sigterm(void **state)
{
    (void)state;
    const char *argv[] = { "/bin/sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done",
                           NULL };
    fx_t *f = *state;
    proc_spec_t spec = { .argv = argv, .out = f->out, .truncate = true, .own_group = true };
    pid_t pid = proc_spawn(&spec);
    assert_true(pid > 0);
    char buf[64];
    for (uint64_t until = clock_mono_ms() + 10000; strcmp(s_read(f->out, buf, sizeof buf),
                                                          "ready\n") != 0;) {
        assert_true(clock_mono_ms() < until);   /* the trap is set once it says ready */
        struct timespec ts = { .tv_nsec = 5000000 };
        nanosleep(&ts, NULL);
    }
    assert_int_equal(proc_stop(pid, 100), PROC_RUNNING);
    assert_false(proc_alive(pid, NULL));
    proc_kill_group(pid, SIGKILL);   /* the shell's sleep, if it outlived it */

    /* a stopped process that obeys: its status */
    const char *obey[] = { "/bin/sh", "-c", "exec sleep 30", NULL };
    proc_spec_t quick = { .argv = obey };
    pid = proc_spawn(&quick);
    assert_true(pid > 0);
    assert_int_equal(proc_stop(pid, 10000), 128 + SIGTERM);
}

static void test_group_killed_whole(void **state)
{
    fx_t *f = *state;
    /* the shell starts a grandchild, says its pid, and waits for it */
    const char *argv[] = { "/bin/sh", "-c", "sleep 30 & echo $!; wait", NULL };
    proc_spec_t spec = { .argv = argv, .out = f->out, .truncate = true, .own_group = true };
    uint64_t t0 = clock_mono_ms();
    assert_int_equal(proc_run(&spec, 300), PROC_RUNNING);
    assert_true(clock_mono_ms() - t0 < 10000);
    char buf[64];
    long grandchild = strtol(s_read(f->out, buf, sizeof buf), NULL, 10);
    assert_true(grandchild > 0);
    /* killed with its group: a zombie until whoever inherited it reaps it */
    uint64_t until = clock_mono_ms() + 10000;
    while (!s_dead((pid_t)grandchild)) {
        assert_true(clock_mono_ms() < until);
        struct timespec ts = { .tv_nsec = 5000000 };
        nanosleep(&ts, NULL);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exit_status_and_output, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_environment_added_and_replaced, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_path_apart_from_argv0, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_cannot_exec_is_127, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_unopenable_output_is_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_deadline_signal_and_alive, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_stop_kills_what_ignores_sigterm, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_group_killed_whole, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
