/* ctl_daemon.c - owns how sluicectl asks the running daemon (see ctl_daemon.h). */
#include "ctl_daemon.h"

#include "control.h"
#include "ctl_error.h"
#include "ctl_text.h"

#include <stdio.h>

/* s_endpoint: the control endpoint to ask first. */
static const char *s_endpoint(const ctl_t *ctl)
{
    return ctl->control != NULL ? ctl->control : ctl->daemon->control;
}

bool ctl_daemon_can_ask(const ctl_t *ctl)
{
    return ctl->control != NULL || ctl->daemon != NULL;
}

ctl_control_status_t ctl_daemon_ask(ctl_t *ctl, ctl_request_t *req, bool read,
                                    ctl_reply_t **reply, char *why, size_t len)
{
    const char *ep = s_endpoint(ctl);
    snprintf(ctl->asked, sizeof ctl->asked, "%s", ep);
    ctl_control_status_t st = ctl_control_ask(ep, ctl->timeout_ms, req, reply, why, len);
    bool refused = st == CTL_CONTROL_DENIED || st == CTL_CONTROL_UNREACHABLE;
    if (!refused || !read || ctl->control != NULL)
        return st;
    char ro[1100], ro_why[512];
    control_readonly_endpoint(ctl->daemon, ro, sizeof ro);
    if (!ro[0])
        return st;
    ctl_control_status_t ro_st = ctl_control_ask(ro, ctl->timeout_ms, req, reply, ro_why,
                                                 sizeof ro_why);
    if (ro_st == CTL_CONTROL_UNREACHABLE && st == CTL_CONTROL_UNREACHABLE)
        return st;  /* no daemon: say so of the socket it would have answered on */
    snprintf(ctl->asked, sizeof ctl->asked, "%s", ro);
    snprintf(why, len, "%s", ro_why);
    return ro_st;
}

/* s_daemon_failure reports a request the daemon did not answer and returns
 * its exit code. */
static int s_daemon_failure(const ctl_t *ctl, ctl_control_status_t st, const char *why)
{
    if (st == CTL_CONTROL_DENIED) {
        ctl_error("%s: %s; see sluicectl(8), PERMISSIONS", ctl->asked, why);
        return CTL_EXIT_DENIED;
    }
    if (st == CTL_CONTROL_UNREACHABLE) {
        ctl_error("daemon not reachable at %s: %s", ctl->asked, why);
        return CTL_EXIT_DAEMON_UNREACHABLE;
    }
    ctl_error("asking the daemon at %s failed: %s", ctl->asked, why);
    return CTL_EXIT_REFUSED;
}

/* s_reply_error: exit code of an Error reply (reported here), or -1 when R
 * is the body EXPECTED. */
static int s_reply_error(const ctl_t *ctl, const ctl_reply_t *r,
                         Sluice__Control__V1__Reply__BodyCase expected)
{
    if (r->body_case == expected)
        return -1;
    if (r->body_case != SLUICE__CONTROL__V1__REPLY__BODY_ERROR || r->error == NULL) {
        ctl_error("the daemon at %s answered something unexpected", ctl->asked);
        return CTL_EXIT_REFUSED;
    }
    ctl_error("the daemon at %s says %s: %s", ctl->asked, control_code_name(r->error->code),
              r->error->message);
    switch (r->error->code) {
    case SLUICE__CONTROL__V1__ERROR__CODE__PERMISSION_DENIED:
        return CTL_EXIT_DENIED;
    case SLUICE__CONTROL__V1__ERROR__CODE__NOT_FOUND:
        return CTL_EXIT_NOT_FOUND;
    default:
        return CTL_EXIT_REFUSED;
    }
}

int ctl_daemon_call(ctl_t *ctl, ctl_request_t *req, bool read,
                    Sluice__Control__V1__Reply__BodyCase expected, ctl_reply_t **reply)
{
    char why[512];
    ctl_control_status_t st = ctl_daemon_ask(ctl, req, read, reply, why, sizeof why);
    if (st != CTL_CONTROL_OK)
        return s_daemon_failure(ctl, st, why);
    int rc = s_reply_error(ctl, *reply, expected);
    if (rc < 0)
        return CTL_EXIT_OK;
    sluice__control__v1__reply__free_unpacked(*reply, NULL);
    *reply = NULL;
    return rc;
}

int ctl_daemon_read(ctl_t *ctl, ctl_request_t *req, Sluice__Control__V1__Reply__BodyCase expected,
                    ctl_daemon_show_fn *json, ctl_daemon_show_fn *text)
{
    ctl_reply_t *r = NULL;
    int rc = ctl_daemon_call(ctl, req, true, expected, &r);
    if (rc != CTL_EXIT_OK)
        return rc;
    (ctl->json ? json : text)(ctl, r);
    sluice__control__v1__reply__free_unpacked(r, NULL);
    return CTL_EXIT_OK;
}

void ctl_daemon_source_text(const ctl_t *ctl)
{
    printf("source: daemon at ");
    ctl_text_put(stdout, ctl->asked);
    printf(" (live)\n");
}

/* ctl_daemon_nullable: "" on the wire is NULL (proto/control.proto OrderReply). */
const char *ctl_daemon_nullable(const char *v)
{
    return v != NULL && v[0] ? v : NULL;
}
