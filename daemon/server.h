/* server.h - owns sluiced's event loop: one zmq_poll over the ingress socket,
 * the PostgreSQL sockets and a signalfd, then a fixed list of steps; and
 * the wiring of the rooms that do the work (intake, lifecycle, dbwork,
 * restore, reload, admin, status and the rooms they lend to each other). */
#ifndef SLUICE_SERVER_H
#define SLUICE_SERVER_H

#include "config.h"

typedef struct server server_t;

/* server_new takes ownership of CFG (also on failure), binds the sockets and
 * starts connecting to the database. */
server_t *server_new(config_t *cfg) __attribute__((warn_unused_result));
void server_destroy(server_t **self);

/* server_run loops until SIGTERM/SIGINT and a drained commit queue; returns
 * the process exit code. */
int server_run(server_t *self);

#endif
