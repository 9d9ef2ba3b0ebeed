/* ctl_format.h - owns how sluicectl writes the daemon's figures for people:
 * latency bounds from histograms, durations, ratios. Pure functions. */
#ifndef SLUICE_CTL_FORMAT_H
#define SLUICE_CTL_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* ctl_format_bound writes a histogram bound MS (a quantile's bucket upper
 * bound): "-" when 0 (no sample), "> 10 s" past the last bucket (infinite),
 * "<= 0.25 ms", "<= 25 ms", "<= 2.5 s". Returns OUT. */
const char *ctl_format_bound(double ms, char *out, size_t len);

/* ctl_format_wait writes a duration MS as "0 s", "42 s", "12 min 05 s",
 * "2 h 03 min". Returns OUT. */
const char *ctl_format_wait(uint64_t ms, char *out, size_t len);

/* ctl_format_ratio writes FAILURES of REQUESTS as "0.25 (5 of 20)", or
 * "- (no requests)" when there were none. Returns OUT. */
const char *ctl_format_ratio(uint64_t failures, uint64_t requests, char *out, size_t len);

#endif
