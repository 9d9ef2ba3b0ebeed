/* ctl_daemon.h - owns how sluicectl asks the running daemon a command: which
 * control socket (the read-only one for a read command the other keeps
 * out), and what its failures and Error replies mean as exit codes. */
#ifndef SLUICE_CTL_DAEMON_H
#define SLUICE_CTL_DAEMON_H

#include "ctl.h"
#include "ctl_control.h"

typedef Sluice__Control__V1__Request ctl_request_t;
typedef Sluice__Control__V1__Reply ctl_reply_t;

/* ctl_daemon_can_ask: an endpoint is known (--control, or a config read). */
bool ctl_daemon_can_ask(const ctl_t *ctl);

/* ctl_daemon_ask sends REQ to the daemon. A READ command that the write
 * socket keeps out (file permissions) or that cannot connect there is sent
 * to daemon.control_readonly instead, unless --control named the endpoint.
 * ctl->asked names the endpoint that answered, or else the first one. WHY
 * (LEN bytes) says what went wrong. */
ctl_control_status_t ctl_daemon_ask(ctl_t *ctl, ctl_request_t *req, bool read,
                                    ctl_reply_t **reply, char *why, size_t len);

/* ctl_daemon_call asks the daemon and checks the answer: CTL_EXIT_OK and
 * *REPLY with body EXPECTED (the caller frees it), or the exit code with
 * the reason said. */
int ctl_daemon_call(ctl_t *ctl, ctl_request_t *req, bool read,
                    Sluice__Control__V1__Reply__BodyCase expected, ctl_reply_t **reply);

/* A read command's answer shown one way: as JSON, or for people. */
typedef void ctl_daemon_show_fn(const ctl_t *ctl, const ctl_reply_t *r);

/* ctl_daemon_read asks the daemon REQ, a read command answered with body
 * EXPECTED, and shows the answer with JSON or TEXT as --json says. Returns
 * the exit code. */
int ctl_daemon_read(ctl_t *ctl, ctl_request_t *req, Sluice__Control__V1__Reply__BodyCase expected,
                    ctl_daemon_show_fn *json, ctl_daemon_show_fn *text);

/* ctl_daemon_source_text writes the "source: daemon at ..." line. */
void ctl_daemon_source_text(const ctl_t *ctl);

/* ctl_daemon_nullable: "" on the wire is NULL (proto/control.proto). */
const char *ctl_daemon_nullable(const char *v);

#endif
