/* ctl_proc.c - sluicectl as a child process for the integration tests. */
#include "ctl_proc.h"

#include "proc.h"

#include <libgen.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* s_run runs sluicectl (beside SLUICE_BIN) after the words of PREFIX (a
 * program that runs it, NULL-terminated; none when NULL) with the arguments
 * of AP, and returns its exit status and what it wrote. */
static ctl_run_t s_run(harness_t *h, const char *const *prefix, va_list ap)
{
    static char bin[PATH_MAX];
    const char *sluiced = getenv("SLUICE_BIN");
    if (sluiced == NULL)
        fail_msg("SLUICE_BIN is not set (run through tests/run-integration.sh)");
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", sluiced);
    snprintf(bin, sizeof bin, "%s/sluicectl", dirname(dir));

    const char *argv[32];
    size_t n = 0, first;
    for (; prefix != NULL && prefix[n] != NULL && n < 8; n++)
        argv[n] = prefix[n];
    first = n;
    argv[n++] = bin;
    for (const char *a; (a = va_arg(ap, const char *)) != NULL && n < first + 23;)
        argv[n++] = a;
    argv[n] = NULL;

    char out_path[PATH_MAX], err_path[PATH_MAX];
    snprintf(out_path, sizeof out_path, "%s/ctl.out", h->tmpdir);
    snprintf(err_path, sizeof err_path, "%s/ctl.err", h->tmpdir);
    const proc_spec_t spec = { .argv = argv, .out = out_path, .err = err_path, .truncate = true,
                               .die_with_parent = true };
    ctl_run_t r = { .rc = proc_run(&spec, CTL_PROC_MS) };
    if (r.rc == PROC_ERROR)
        fail_msg("failed to run %s", argv[0]);
    if (r.rc == PROC_RUNNING)
        fail_msg("sluicectl %s %s did not finish in %d ms", argv[first + 1],
                 n > first + 2 ? argv[first + 2] : "", CTL_PROC_MS);
    r.out = harness_read_file(out_path);
    r.err = harness_read_file(err_path);
    return r;
}

ctl_run_t ctl_run(harness_t *h, ...)
{
    va_list ap;
    va_start(ap, h);
    ctl_run_t r = s_run(h, NULL, ap);
    va_end(ap);
    return r;
}

ctl_run_t ctl_run_as(harness_t *h, uid_t uid, gid_t gid, ...)
{
    char reuid[32], regid[32];
    snprintf(reuid, sizeof reuid, "--reuid=%u", (unsigned)uid);
    snprintf(regid, sizeof regid, "--regid=%u", (unsigned)gid);
    const char *const prefix[] = { "setpriv", reuid, regid, "--clear-groups", NULL };
    va_list ap;
    va_start(ap, gid);
    ctl_run_t r = s_run(h, prefix, ap);
    va_end(ap);
    return r;
}

void ctl_run_free(ctl_run_t *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

void ctl_expect_rc(const ctl_run_t *r, int rc, const char *what)
{
    if (r->rc != rc)
        fail_msg("%s: sluicectl exited %d, expected %d\n--- stdout:\n%s--- stderr:\n%s", what,
                 r->rc, rc, r->out, r->err);
}

void ctl_expect_has(const char *text, const char *needle, const char *what)
{
    if (strstr(text, needle) == NULL)
        fail_msg("%s: \"%s\" not found in:\n%s", what, needle, text);
}

void ctl_expect_lacks(const char *text, const char *needle, const char *what)
{
    if (strstr(text, needle) != NULL)
        fail_msg("%s: \"%s\" should not be in:\n%s", what, needle, text);
}

/* ctl_expect_field: TEXT has a line "LABEL<spaces>VALUE" (a field of the
 * human answer). */
void ctl_expect_field(const char *text, const char *label, const char *value)
{
    for (const char *p = text; p != NULL && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        size_t n = strlen(label);
        if (strncmp(p, label, n) != 0 || p[n] != ' ')
            continue;
        const char *v = p + n;
        while (*v == ' ')
            v++;
        size_t len = strcspn(v, "\n");
        if (strlen(value) == len && strncmp(v, value, len) == 0)
            return;
        fail_msg("field \"%s\" is \"%.*s\", expected \"%s\" in:\n%s", label, (int)len, v, value,
                 text);
    }
    fail_msg("no field \"%s\" in:\n%s", label, text);
}
