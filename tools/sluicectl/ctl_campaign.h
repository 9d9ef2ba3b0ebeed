/* ctl_campaign.h - owns sluicectl campaign: `campaign [NAME]` reads the
 * running daemon's live counters of one campaign or of all (placed, budget
 * left, pace, refusals by limit, the stores where its share is full), as
 * JSON or for people; `campaign pause NAME` and `campaign resume NAME` are
 * write commands, whose one line is the daemon's. */
#ifndef SLUICE_CTL_CAMPAIGN_H
#define SLUICE_CTL_CAMPAIGN_H

#include "ctl.h"

/* ctl_campaign_run: ARGV (NULL-terminated) is [NAME], or pause|resume NAME. */
int ctl_campaign_run(ctl_t *ctl, char **argv);

#endif
