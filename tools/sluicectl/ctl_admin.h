/* ctl_admin.h - owns sluicectl's write commands: pause STORE, resume STORE
 * (a pause that outlives restarts, kept in PostgreSQL by the daemon) and
 * reload. Each is one control request; the daemon's one line is the answer,
 * or with --json the reply's fields as one object:
 *   {"source":"daemon","endpoint":...,"store_id":1002,"paused":true,
 *    "config_paused":false,"message":"store 1002 paused ..."}
 *   {"source":"daemon","endpoint":...,"message":"reloaded ..."} */
#ifndef SLUICE_CTL_ADMIN_H
#define SLUICE_CTL_ADMIN_H

#include "ctl.h"

#include <protobuf-c/protobuf-c.h>

int ctl_admin_pause(ctl_t *ctl, char **argv);
int ctl_admin_resume(ctl_t *ctl, char **argv);
int ctl_admin_reload(ctl_t *ctl, char **argv);

/* ctl_admin_json_answer writes the daemon's answer to a write command
 * (BODY) as one object, after where it came from:
 * {"source":"daemon","endpoint":...,<BODY's fields>}. */
void ctl_admin_json_answer(const ctl_t *ctl, const ProtobufCMessage *body);

#endif
