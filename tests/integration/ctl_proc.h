/* ctl_proc.h - the real sluicectl as a child process for integration tests:
 * run it with arguments, collect its exit status, stdout and stderr, and
 * check them. Helpers fail the current cmocka test when they cannot go on.
 * sluicectl is the one beside SLUICE_BIN. */
#ifndef SLUICE_TEST_CTL_PROC_H
#define SLUICE_TEST_CTL_PROC_H

#include "harness.h"

#include <sys/types.h>

#define CTL_PROC_MS 30000   /* longest a sluicectl run may take */

typedef struct ctl_run {
    int rc;
    char *out, *err;
} ctl_run_t;

/* ctl_run runs sluicectl with the NULL-terminated arguments (at most 22),
 * its output in H's temp dir, and returns its exit status and what it
 * wrote; free with ctl_run_free. */
ctl_run_t ctl_run(harness_t *h, ...);
/* ctl_run_as is ctl_run as user UID of group GID and no other (setpriv(1);
 * the caller must be root). */
ctl_run_t ctl_run_as(harness_t *h, uid_t uid, gid_t gid, ...);
void ctl_run_free(ctl_run_t *r);

/* Checks that fail the test with the run's output. WHAT names the step. */
void ctl_expect_rc(const ctl_run_t *r, int rc, const char *what);
void ctl_expect_has(const char *text, const char *needle, const char *what);
void ctl_expect_lacks(const char *text, const char *needle, const char *what);
/* ctl_expect_field: TEXT has a line "LABEL<spaces>VALUE" (a field of the
 * answer for people). */
void ctl_expect_field(const char *text, const char *label, const char *value);

#endif
