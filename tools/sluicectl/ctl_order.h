/* ctl_order.h - owns sluicectl order ID: an order's row, its dispatch
 * attempts and its timeline, asked of the daemon (read on its open
 * PostgreSQL connection) and read from PostgreSQL directly when no daemon
 * answers; the answer says which. */
#ifndef SLUICE_CTL_ORDER_H
#define SLUICE_CTL_ORDER_H

#include "ctl.h"

int ctl_order_run(ctl_t *ctl, char **argv);

#endif
