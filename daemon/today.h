/* today.h - owns a store's counts of today's decisions: orders accepted and
 * orders rejected, by reason, in the store's local day. Rejections are
 * decided in memory and never stored, so these counts are the only record
 * of them; they live as long as the process and start from zero when it
 * starts (or when a reload adds the store), which is why they carry the
 * local time they count from.
 *
 * Pure functions: the caller passes local time (wall ms + the zone's
 * offset), so tests drive the day with a fake clock. The counts move to a
 * new day lazily, on the next count or read. */
#ifndef SLUICE_TODAY_H
#define SLUICE_TODAY_H

#include "proto/sluice.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The reasons that concern a known store (see today.c's table): INVALID and
 * UNKNOWN_STORE come before any store is known, CONFLICT is about an
 * order_id, not a store. CAMPAIGN_LIMIT is a campaign's limit at the
 * store (its share, its daily cap, ...). */
#define TODAY_REASONS 7

#define TODAY_DAY_S 86400u

/* 40 bytes: it is in every store_t (300,000 of them). */
typedef struct today {
    uint32_t day;                     /* local days since 1970-01-01 the counts are for */
    uint32_t since_s;                 /* local second of DAY counting began; 0: midnight */
    uint32_t accepted;                /* first ACCEPTED acks (not duplicates) */
    uint32_t rejected[TODAY_REASONS]; /* REJECTED replies, by today_reason(i) */
} today_t;

/* today_begin starts counting from zero at local time LOCAL_MS (now): a
 * daemon start, a store added by a reload. */
void today_begin(today_t *t, uint64_t local_ms);

/* today_roll moves T to LOCAL_MS's day when that is another day: the next
 * day (or later) starts from zero at midnight, since the process counted
 * across it; an earlier day (the clock or the zone moved back) starts from
 * zero at LOCAL_MS, because nothing was counted since that day's midnight. */
void today_roll(today_t *t, uint64_t local_ms);

/* today_count rolls T to LOCAL_MS's day and counts one decision: REASON_NONE
 * is an accepted order, another reason a rejection. False (nothing counted)
 * for a reason that does not concern a store. Counts stop at UINT32_MAX. */
bool today_count(today_t *t, uint64_t local_ms, Sluice__V1__Reason reason);

/* today_index: REASON's place in rejected[], or -1 when it is not counted
 * per store. today_reason is the reverse, for I in 0..TODAY_REASONS-1. */
int today_index(Sluice__V1__Reason reason);
Sluice__V1__Reason today_reason(size_t i);

/* today_date writes DAY as "YYYY-MM-DD"; today_clock writes a second of the
 * day as "HH:MM:SS". Both return OUT. */
const char *today_date(uint32_t day, char *out, size_t len);
const char *today_clock(uint32_t second, char *out, size_t len);

#endif
