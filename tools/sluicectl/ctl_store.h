/* ctl_store.h - owns sluicectl store ID: what the config says of a store,
 * its orders in PostgreSQL (live ones, the promised wait, today's), and the
 * daemon's live view when it answers (open, paused, slots, queue, wait now,
 * today's rejections by reason). */
#ifndef SLUICE_CTL_STORE_H
#define SLUICE_CTL_STORE_H

#include "ctl.h"

int ctl_store_run(ctl_t *ctl, char **argv);

#endif
