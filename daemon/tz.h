/* tz.h - owns turning wall time into a store's local time of day. Stores name
 * zoneinfo zones; the zone's UTC offset is cached until the next quarter hour,
 * because every real zone changes offset on a quarter-hour boundary. */
#ifndef SLUICE_TZ_H
#define SLUICE_TZ_H

#include <stdint.h>

#define TZ_MINUTES_PER_DAY 1440

/* tz_offset_ms returns ZONE's offset from UTC at WALL_MS (unix ms), e.g.
 * +28800000 for Asia/Shanghai. Unknown zones count as UTC (the config loader
 * has already refused them). */
int64_t tz_offset_ms(const char *zone, uint64_t wall_ms);

/* tz_minute_of_day: local minutes after midnight (0..1439) at WALL_MS. */
int tz_minute_of_day(const char *zone, uint64_t wall_ms);

/* tz_reset forgets the cache (tests; and after a reload nothing else is
 * needed: the cache is keyed by zone name). */
void tz_reset(void);

#endif
