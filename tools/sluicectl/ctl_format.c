/* ctl_format.c - owns sluicectl's text for the daemon's figures. */
#include "ctl_format.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>

const char *ctl_format_bound(double ms, char *out, size_t len)
{
    if (ms == 0)
        snprintf(out, len, "-");
    else if (isinf(ms))
        snprintf(out, len, "> 10 s");
    else if (ms >= 1000)
        snprintf(out, len, "<= %g s", ms / 1000.0);
    else
        snprintf(out, len, "<= %g ms", ms);
    return out;
}

const char *ctl_format_wait(uint64_t ms, char *out, size_t len)
{
    uint64_t s = (ms + 500) / 1000;
    if (s < 60)
        snprintf(out, len, "%" PRIu64 " s", s);
    else if (s < 3600)
        snprintf(out, len, "%" PRIu64 " min %02" PRIu64 " s", s / 60, s % 60);
    else
        snprintf(out, len, "%" PRIu64 " h %02" PRIu64 " min", s / 3600, s / 60 % 60);
    return out;
}

const char *ctl_format_ratio(uint64_t failures, uint64_t requests, char *out, size_t len)
{
    if (requests == 0)
        snprintf(out, len, "- (no requests)");
    else
        snprintf(out, len, "%.2f (%" PRIu64 " of %" PRIu64 ")",
                 (double)failures / (double)requests, failures, requests);
    return out;
}
