/* notify.h - owns talking to systemd (sd_notify): READY, STATUS, WATCHDOG,
 * RELOADING, STOPPING. Every call is a no-op outside systemd. */
#ifndef SLUICE_NOTIFY_H
#define SLUICE_NOTIFY_H

#include <stdint.h>

void notify_ready(const char *status);
void notify_status(const char *status);
void notify_reloading(void);
void notify_stopping(void);
/* notify_watchdog_interval_ms: how often to ping, 0 when no watchdog is set. */
uint64_t notify_watchdog_interval_ms(void);
void notify_watchdog(void);

#endif
