/* tz.h - owns turning wall time into a store's local time of day. Stores name
 * zoneinfo zones; each zone's TZif file (under $TZDIR, else
 * /usr/share/zoneinfo) is read once, without touching the process's TZ, and
 * kept in a cache by name until tz_reset. Any thread may call these. */
#ifndef SLUICE_TZ_H
#define SLUICE_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TZ_MINUTES_PER_DAY 1440

/* tz_offset_ms returns ZONE's offset from UTC at WALL_MS (unix ms), e.g.
 * +28800000 for Asia/Shanghai. NULL, "" and "UTC" need no file. A zone
 * without a usable file counts as UTC, logged the first time it is asked
 * (the config loader has already refused unknown zones). */
int64_t tz_offset_ms(const char *zone, uint64_t wall_ms);

/* tz_minute_of_day: local minutes after midnight (0..1439) at WALL_MS. */
int tz_minute_of_day(const char *zone, uint64_t wall_ms);

/* tz_check reads ZONE into the cache (when not there yet) and says whether
 * its offsets are known; false for a missing file or one that is not valid
 * TZif, with the reason in WHY (LEN bytes; may be NULL). Not logged: the
 * caller reports it. */
bool tz_check(const char *zone, char *why, size_t len) __attribute__((warn_unused_result));

/* tz_reset frees the cache; the next call reads the zone files again.
 * server_destroy calls it (the cache lives as long as the server), and so
 * do tests. */
void tz_reset(void);

#endif
