/* ctl_control.h - owns sluicectl's side of the daemon's control socket
 * (proto/control.proto): one request, one reply, within a deadline, and a
 * clear reason when the daemon cannot be asked. */
#ifndef SLUICE_CTL_CONTROL_H
#define SLUICE_CTL_CONTROL_H

#include "proto/control.pb-c.h"

#include <stdbool.h>
#include <stddef.h>

#define CTL_CONTROL_TIMEOUT_MS 2000

typedef enum ctl_control_status {
    CTL_CONTROL_OK,           /* *REPLY is the daemon's answer (maybe an Error) */
    CTL_CONTROL_UNREACHABLE,  /* no socket, refused, or no answer in time */
    CTL_CONTROL_DENIED,       /* the socket file's permissions keep us out */
    CTL_CONTROL_FAILED,       /* out of memory, or an answer that is not a Reply */
} ctl_control_status_t;

/* ctl_control_probe checks an ipc:// ENDPOINT without ZeroMQ, which would
 * only retry in the background: connect(2) to its socket file says at once
 * whether it is missing, refused (a daemon that died) or not ours to open.
 * Other transports are CTL_CONTROL_OK here. WHY (LEN bytes) says what. */
ctl_control_status_t ctl_control_probe(const char *endpoint, char *why, size_t len);

/* ctl_control_ask sends REQ (its version and request_id are set here) to
 * ENDPOINT and waits up to TIMEOUT_MS for the reply. OK: *REPLY is the
 * caller's (sluice__control__v1__reply__free_unpacked). Otherwise WHY says
 * what went wrong. */
ctl_control_status_t ctl_control_ask(const char *endpoint, int timeout_ms,
                                     Sluice__Control__V1__Request *req,
                                     Sluice__Control__V1__Reply **reply, char *why, size_t len);

#endif
