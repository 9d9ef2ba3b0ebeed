/* notify.c - owns the sd_notify protocol with systemd. */
#include "notify.h"

#include "log.h"

#include <stdio.h>
#include <systemd/sd-daemon.h>

void notify_ready(const char *status)
{
    (void)sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void notify_status(const char *status)
{
    (void)sd_notifyf(0, "STATUS=%s", status);
}

void notify_reloading(void)
{
    (void)sd_notify(0, "RELOADING=1");
}

void notify_stopping(void)
{
    (void)sd_notify(0, "STOPPING=1");
}

uint64_t notify_watchdog_interval_ms(void)
{
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0)
        return 0;
    /* Ping at half the period, as sd_watchdog_enabled(3) advises. */
    return usec / 2000u;
}

void notify_watchdog(void)
{
    (void)sd_notify(0, "WATCHDOG=1");
}
