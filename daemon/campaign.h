/* campaign.h - owns campaigns and their counters: each campaign's pace,
 * the orders it has placed against its budget, its refusals by limit, and
 * per store where it has placed orders, today's count and the prep time its
 * orders are promised. Pure: no database, no sockets; callers pass the
 * clocks, so tests drive them.
 *
 * A campaign order (SubmitOrder.campaign) first passes the store's own
 * rules (admit.h); then the campaign's limits, in this order, the first
 * that refuses naming itself (Sluice__V1__CampaignState); those no wait
 * lifts come first:
 *   unknown     the name is not in the config
 *   counting    after a start, until its counts are read back (admission
 *               answers UNAVAILABLE)
 *   paused      campaigns.[].paused, or an operator's pause (below)
 *               (retry_after_ms: daemon.paused_retry_ms)
 *   ended       from ends on
 *   budget      orders placed in all (every order accepted, cancelled ones
 *               too, as the database counts them)
 *   opted out   the store's store_share for it is 0
 *   not started before starts
 *   pace        orders_per_second, a token bucket like a brand's
 *   per store   per_store_daily in the store's local day
 *   share       store_share of the store's prep-slot time (below)
 * For the last four, retry_after_ms is when all of them let a like order
 * in, nothing else changing: the campaign's start, the bucket's next token,
 * the store's next local midnight, the first time the share has room for
 * the booking the store would then make, within the store's hours;
 * resubmitting then is accepted. It is 0 when no time will do: the others,
 * an order the share never has room for, a time past the campaign's end.
 *
 * The share. A store has, at each moment, kitchen_capacity_at(minute) prep
 * slots to give (staffed slots while open, none while closed); its slot
 * time in [a, b) is the integral of that. Let W be the store's
 * max_wait_minutes. Guaranteed: for every window [a, a + W) (a in ms), the
 * time of the campaign's bookings at the store inside the window, each
 * booking being [prep start, promised ready), is at most
 * floor(store_share x the store's slot time in the window). A new booking
 * is admitted only when every window that overlaps it still holds, all of
 * the campaign's remembered bookings counted; both sides are piecewise
 * linear in a with integer breakpoints, so checking at the breakpoints is
 * exact. Local time over one check uses the zone's offset at its start, as
 * kitchen_plan does. What this rests on: bookings that end at least W
 * before now can touch no window a new booking overlaps, so they are
 * forgotten; a reload that raises max_wait_minutes or lowers a share
 * applies the new rule to new bookings, the earlier ones keeping their
 * promises; after a restart the share counts the live orders' bookings
 * (campaign_restore_booking). Cancelling, a failed commit and an early
 * MarkReady give the unused part of a booking back, as kitchen_cancel and
 * kitchen_ready do. Regular orders never meet any of this.
 *
 * Memory: one entry (48 bytes, in a hash table) per store and campaign
 * that has placed an order since the start, plus 16 bytes per booking
 * remembered (those of the last max_wait_minutes and ahead); nothing for
 * the other stores. A campaign removed by a reload keeps its counters, so
 * adding it back does not reset its budget. */
#ifndef SLUICE_CAMPAIGN_H
#define SLUICE_CAMPAIGN_H

#include "bucket.h"
#include "config.h"
#include "kitchen.h"
#include "order.h"
#include "proto/sluice.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint16_t campaign_id_t;  /* stable for the table's life */
#define CAMPAIGN_NONE UINT16_MAX  /* a regular order, or a name not in the config */

typedef struct campaign_table campaign_table_t;

/* What a campaign's limits say about one order. */
typedef struct campaign_verdict {
    campaign_id_t id;                /* CAMPAIGN_NONE: the name is not in the config */
    Sluice__V1__CampaignState state; /* OK, or the first limit that refuses */
    bool never;                      /* no later time helps: retry_after_ms is 0 */
    uint64_t retry_after_ms;         /* refused: when every limit lets a like order in */
    char detail[ORDER_DETAIL_MAX];   /* refused: "campaign NAME: ..." */
} campaign_verdict_t;

/* The order asked about: its store, and the booking the store would make
 * for it now. Without KITCHEN and PLAN (availability of a closed store)
 * the share is not looked at. */
typedef struct campaign_ask {
    const config_store_t *store;
    const kitchen_t *kitchen;
    const kitchen_plan_t *plan;
    uint64_t prep_ms;
    int64_t offset_ms;               /* the store zone's UTC offset now */
    uint64_t now_ms;                 /* wall: days, windows, bookings */
    uint64_t now_us;                 /* monotonic: the pace */
    bool terse;                      /* no detail wanted (availability): left "" */
} campaign_ask_t;

/* What a campaign did, for metrics and sluicectl. */
typedef struct campaign_counts {
    uint64_t placed;                 /* orders placed, as the budget counts them */
    uint64_t refused[SLUICE__V1__CAMPAIGN_STATE__CAMPAIGN_STATE_SHARE_FULL + 1]; /* by limit */
    uint32_t share_full_stores;      /* stores where its last share check (an order's or
                                      * an availability question's) found no room */
} campaign_counts_t;

/* campaign_table_new: the campaigns of CFG, every one uncounted (see
 * campaign_uncounted). NULL when out of memory. CFG must outlive the next
 * configure. */
campaign_table_t *campaign_table_new(const config_t *cfg, uint64_t now_us)
    __attribute__((warn_unused_result));
void campaign_table_destroy(campaign_table_t **self);

/* campaign_table_configure applies a reloaded CFG: campaigns are matched by
 * name and keep their counters and tokens (a bucket at its new rate); new
 * names start uncounted. False when out of memory, and the old settings
 * stay. CFG must outlive the next configure. */
bool campaign_table_configure(campaign_table_t *self, const config_t *cfg, uint64_t now_us)
    __attribute__((warn_unused_result));

/* campaign_find: the id of the configured campaign NAME, CAMPAIGN_NONE
 * when the config has none of that name. */
campaign_id_t campaign_find(const campaign_table_t *self, const char *name);

/* campaign_name: ID's name (also after a reload removed it), NULL for none. */
const char *campaign_name(const campaign_table_t *self, campaign_id_t id);

/* campaign_check runs the limits of the campaign NAME for ASK, booking and
 * spending nothing (the pace bucket only refills). True when they let it
 * in. PAUSED_RETRY_MS and COUNTING_RETRY_MS are the retry_after_ms of a
 * paused campaign and of one being counted. */
bool campaign_check(campaign_table_t *self, const char *name, const campaign_ask_t *ask,
                    uint64_t paused_retry_ms, uint64_t counting_retry_ms,
                    campaign_verdict_t *out);

/* campaign_book places an order that campaign_check let in with ASK (its
 * plan now booked in the kitchen): spends a pace token, counts it against
 * the budget and the store's day, and remembers its booking. False when out
 * of memory: then nothing changed. */
bool campaign_book(campaign_table_t *self, campaign_id_t id, const campaign_ask_t *ask)
    __attribute__((warn_unused_result));

/* campaign_refused counts a refusal of ID by limit STATE. */
void campaign_refused(campaign_table_t *self, campaign_id_t id, Sluice__V1__CampaignState state);

/* campaign_give_back: the order of ID at STORE booked [START_MS, READY_MS)
 * will not use its time from NOW_MS on (cancelled, or made early): that
 * part of the share is free again. Its counts stand. */
void campaign_give_back(campaign_table_t *self, campaign_id_t id, const config_store_t *store,
                        uint64_t start_ms, uint64_t ready_ms, uint64_t now_ms);

/* campaign_unplace: the order of ID placed at PLACED_MS (wall) was never
 * stored (its commit failed): it gives back its booking, its place in the
 * budget and, when the store's day is still that of PLACED_MS, in the
 * day's count. Its pace token is not given back, as for the daemon's and
 * the brands' buckets. */
void campaign_unplace(campaign_table_t *self, campaign_id_t id, const config_store_t *store,
                      uint64_t start_ms, uint64_t ready_ms, uint64_t placed_ms, uint64_t now_ms);

/* campaign_counts: ID's counters, NULL for none. */
const campaign_counts_t *campaign_counts(const campaign_table_t *self, campaign_id_t id);

/* campaign_is_counted: ID's counts are read back (false: it answers
 * COUNTING). campaign_pace_tokens: its bucket's tokens at NOW_US. */
bool campaign_is_counted(const campaign_table_t *self, campaign_id_t id);
double campaign_pace_tokens(campaign_table_t *self, campaign_id_t id, uint64_t now_us);

/* campaign_share_full_list puts in STORES (up to MAX) the stores where ID's
 * last share check found no room (counts.share_full_stores of them, which
 * it returns). A share frees with time, so a store stays listed until the
 * next check there; walking the table costs O(entries of every campaign). */
size_t campaign_share_full_list(const campaign_table_t *self, campaign_id_t id, uint32_t *stores,
                                size_t max);

/* ---- operators' pauses --------------------------------------------------
 *
 * `sluicectl campaign pause NAME` stands over campaigns.[].paused until
 * `sluicectl campaign resume NAME` lifts it (then the config decides
 * again), across reloads (a name the config no longer has keeps it for a
 * reload that brings the campaign back) and restarts (the daemon keeps it
 * in campaign_overrides, migration 009, through these statements):
 *   campaign_override_load_sql    no parameters; rows (campaign, set_by)
 *   campaign_override_put_sql     $1 campaign, $2 set_by ("" for none)
 *   campaign_override_delete_sql  $1 campaign
 * (the _fenced forms for a node with a shard: the fence's two parameters
 * follow). */

extern const char campaign_override_load_sql[];
extern const char campaign_override_put_sql[];
extern const char campaign_override_delete_sql[];
extern const char campaign_override_put_fenced_sql[];
extern const char campaign_override_delete_fenced_sql[];

/* campaign_override_pause pauses NAME by BY's word (replacing who paused it
 * before). False when out of memory: nothing changed. */
bool campaign_override_pause(campaign_table_t *self, const char *name, const char *by)
    __attribute__((warn_unused_result));
/* campaign_override_clear lifts NAME's operator pause, if any. */
void campaign_override_clear(campaign_table_t *self, const char *name);
/* campaign_override_by: who paused NAME ("" when not recorded); NULL when
 * no operator pause is in force. */
const char *campaign_override_by(const campaign_table_t *self, const char *name);

/* ---- restart: the counts come back from the database --------------------
 *
 * A campaign takes no order until its counts are read back (COUNTING).
 * After a start, and after a reload that adds campaigns, the daemon runs
 *   campaign_counts_sql  $1 text[]: the names campaign_uncounted gives;
 *                        rows (campaign text, placed int8, last_second int8)
 *   campaign_day_sql     $1 the same names, $2 int8: a local midnight as
 *                        unix ms (campaign_day_start_ms), once per distinct
 *                        midnight of the zones in the config;
 *                        rows (store_id int8, campaign text, placed int8)
 *   campaign_bookings_sql
 *                        $1 the same names, $2 int8: unix ms no booking
 *                        still in a window began before (now less twice
 *                        the config's longest max_wait_minutes: an order is
 *                        accepted at most one max_wait before its ready);
 *                        rows (store_id int8, campaign text, start_ms int8,
 *                        end_ms int8): each order's booking, ended at its
 *                        cancel when it was cancelled before its ready
 * passes each row to campaign_restore_counts / campaign_restore_day /
 * campaign_restore_booking, and when all have succeeded, calls
 * campaign_counted with the names. The partial index
 * orders_campaign_accepted (migration 008) serves them all.
 * Orders count from their accepted_at (the commit's time): one committed
 * just after the store's midnight but admitted just before counts in the
 * new day, which can only refuse one order more. Bookings come back whole
 * up to the cancel's commit (an early MarkReady before the restart is not
 * given back again), so the share errs only on the side of refusing. */

extern const char campaign_counts_sql[];
extern const char campaign_day_sql[];
extern const char campaign_bookings_sql[];

/* campaign_uncounted puts in NAMES (up to MAX) the configured campaigns
 * whose counts are not read back yet and returns how many there are. */
size_t campaign_uncounted(const campaign_table_t *self, const char **names, size_t max);

/* campaign_restore_counts: campaign NAME has placed PLACED orders, of which
 * LAST_SECOND were accepted in the second before the query ran. The bucket
 * keeps max(0, rate - LAST_SECOND) tokens: at most what it could have held,
 * whatever came before that second. Unknown names are ignored. */
void campaign_restore_counts(campaign_table_t *self, const char *name, uint64_t placed,
                             uint64_t last_second, uint64_t now_us);

/* campaign_restore_day: campaign NAME placed PLACED orders at STORE since
 * SINCE_MS. Counted as the store's day when SINCE_MS is where its day
 * began (campaign_day_start_ms of its zone at NOW_MS); ignored otherwise
 * (the row is for another zone's midnight). False when out of memory. */
bool campaign_restore_day(campaign_table_t *self, const char *name, const config_store_t *store,
                          uint64_t since_ms, uint64_t placed, uint64_t now_ms)
    __attribute__((warn_unused_result));

/* campaign_counted: the counts of NAMES (COUNT of them) are read back; they
 * take orders again. */
void campaign_counted(campaign_table_t *self, const char *const *names, size_t count);

/* campaign_restore_booking puts back an order of campaign NAME at STORE
 * booked [START_MS, READY_MS), unless it ended more than the store's
 * max_wait_minutes before NOW_MS. False when out of memory. */
bool campaign_restore_booking(campaign_table_t *self, const char *name, const config_store_t *store,
                              uint64_t start_ms, uint64_t ready_ms, uint64_t now_ms)
    __attribute__((warn_unused_result));

/* campaign_day_start_ms: the wall ms at which the local day of NOW_MS began
 * in ZONE (the zone's offset now). */
uint64_t campaign_day_start_ms(const char *zone, uint64_t now_ms);

/* campaign_table_memory_bytes: the table, its entries and their bookings. */
size_t campaign_table_memory_bytes(const campaign_table_t *self);

#endif
