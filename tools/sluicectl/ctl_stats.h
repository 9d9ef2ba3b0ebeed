/* ctl_stats.h - owns sluicectl platforms and sluicectl stats: the daemon's
 * figures of each delivery platform and of its intake, as JSON or for
 * people. */
#ifndef SLUICE_CTL_STATS_H
#define SLUICE_CTL_STATS_H

#include "ctl.h"

int ctl_stats_platforms(ctl_t *ctl, char **argv);
int ctl_stats_run(ctl_t *ctl, char **argv);

#endif
