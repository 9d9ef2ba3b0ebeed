/* test_log.c - base/log.c's rate limiter with a clock the test moves: the
 * first line of an interval is written, the rest of the interval counted,
 * and the first line of a later interval says how many were left out and
 * over how long; lines below the log level are neither written nor
 * counted; limiters are independent. stderr goes to a temp file (a
 * failure is told on the real one). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "log.h"
#include "unit_tmp.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct capture {
    char path[4096];  /* where stderr goes */
    int saved;        /* the real stderr */
    long read;        /* bytes of it taken so far */
} capture_t;

static int s_setup(void **state)
{
    capture_t *c = calloc(1, sizeof *c);
    assert_non_null(c);
    assert_true(unit_tmp_template(c->path, sizeof c->path, "test_log"));
    int fd = mkstemp(c->path);
    assert_true(fd >= 0);
    assert_int_equal(fcntl(fd, F_SETFL, O_APPEND), 0);
    fflush(stderr);
    c->saved = dup(STDERR_FILENO);
    assert_true(c->saved >= 0);
    assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    close(fd);
    log_set_level(LOG_LEVEL_INFO);
    *state = c;
    return 0;
}

static int s_teardown(void **state)
{
    capture_t *c = *state;
    fflush(stderr);
    dup2(c->saved, STDERR_FILENO);
    close(c->saved);
    unlink(c->path);
    free(c);
    return 0;
}

/* s_take returns what was logged since the last call (malloc'ed). */
static char *s_take(capture_t *c)
{
    fflush(stderr);
    FILE *f = fopen(c->path, "r");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long end = ftell(f);
    size_t n = (size_t)(end - c->read);
    char *text = calloc(n + 1, 1);
    assert_non_null(text);
    assert_int_equal(fseek(f, c->read, SEEK_SET), 0);
    assert_int_equal(fread(text, 1, n, f), n);
    fclose(f);
    c->read = end;
    return text;
}

static void s_expect(capture_t *c, const char *want)
{
    char *got = s_take(c);
    if (strcmp(got, want) != 0) {
        dprintf(c->saved, "logged \"%s\", expected \"%s\"\n", got, want);
        fail();
    }
    free(got);
}

static void test_one_line_per_interval(void **state)
{
    capture_t *c = *state;
    free(s_take(c));  /* what came before this test */
    log_limiter_t l = LOG_LIMITER_INIT;
    assert_int_equal(l.interval_ms, 10000);
    log_limited_at(&l, 5000, LOG_LEVEL_NOTICE, "dropped %d", 1);
    s_expect(c, "<5>dropped 1\n");
    /* 10,000 more within the interval: none written */
    for (int i = 2; i <= 10001; i++)
        log_limited_at(&l, 5000 + (uint64_t)i % 9999, LOG_LEVEL_NOTICE, "dropped %d", i);
    s_expect(c, "");
    /* the next interval's first line carries the count */
    log_limited_at(&l, 15000, LOG_LEVEL_WARNING, "dropped %d", 10002);
    s_expect(c, "<4>dropped 10002 (10000 more like this not logged in the 10 s before)\n");
    /* nothing left out since: a plain line, an interval later */
    log_limited_at(&l, 25000, LOG_LEVEL_NOTICE, "dropped %d", 10003);
    s_expect(c, "<5>dropped 10003\n");
    /* a count kept over a quiet hour is said with the next line */
    log_limited_at(&l, 25001, LOG_LEVEL_NOTICE, "x");
    log_limited_at(&l, 25000 + 3600 * 1000, LOG_LEVEL_NOTICE, "y");
    s_expect(c, "<5>y (1 more like this not logged in the 3600 s before)\n");
}

static void test_level_and_independence(void **state)
{
    capture_t *c = *state;
    free(s_take(c));  /* what came before this test */
    log_limiter_t a = LOG_LIMITER_INIT, b = { .interval_ms = 1000 };
    /* below the level: not written and not counted */
    log_limited_at(&a, 100, LOG_LEVEL_DEBUG, "debug");
    log_limited_at(&a, 100, LOG_LEVEL_INFO, "first a");
    log_limited_at(&b, 100, LOG_LEVEL_INFO, "first b");
    log_limited_at(&a, 200, LOG_LEVEL_DEBUG, "debug again");
    log_limited_at(&b, 600, LOG_LEVEL_INFO, "b again");
    s_expect(c, "<6>first a\n<6>first b\n");
    log_limited_at(&b, 1100, LOG_LEVEL_INFO, "b later");
    log_limited_at(&a, 1100, LOG_LEVEL_INFO, "a, same interval");
    s_expect(c, "<6>b later (1 more like this not logged in the 1 s before)\n");
    log_limited_at(&a, 10100, LOG_LEVEL_INFO, "a later");
    s_expect(c, "<6>a later (1 more like this not logged in the 10 s before)\n");
    /* log_msg is never limited */
    for (int i = 0; i < 3; i++)
        log_msg(LOG_LEVEL_ERR, "plain %d", i);
    s_expect(c, "<3>plain 0\n<3>plain 1\n<3>plain 2\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_line_per_interval, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_level_and_independence, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
