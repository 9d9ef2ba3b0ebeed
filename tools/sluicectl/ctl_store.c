/* ctl_store.c - owns sluicectl store (see ctl_store.h). */
#include "ctl_store.h"

#include "clock.h"
#include "control.h"
#include "ctl_daemon.h"
#include "ctl_error.h"
#include "ctl_format.h"
#include "ctl_json.h"
#include "ctl_text.h"
#include "kitchen.h"
#include "tz.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the config says of a store now, in its own time zone. */
typedef struct store_now {
    bool open;
    int slots;
    char hours[40];
} store_now_t;

static store_now_t s_store_now(const config_store_t *s)
{
    store_now_t n = { 0 };
    int minute = tz_minute_of_day(s->timezone, clock_wall_ms());
    /* as admit.c decides: close before open means open past midnight */
    if (s->open_minute <= s->close_minute)
        n.open = minute >= s->open_minute && minute < s->close_minute;
    else
        n.open = minute >= s->open_minute || minute < s->close_minute;
    n.slots = kitchen_slots_at(s, minute);
    char a[16], b[16];
    snprintf(n.hours, sizeof n.hours, "%s-%s", ctl_text_clock(s->open_minute, a, sizeof a),
             ctl_text_clock(s->close_minute, b, sizeof b));
    return n;
}

static const char *s_brand_of(const config_t *cfg, const config_store_t *s)
{
    return s->brand >= 0 && (size_t)s->brand < cfg->brand_count ? cfg->brands[s->brand].name : NULL;
}

static const char s_rejected_note[] =
    "not stored in PostgreSQL: only the running daemon counts rejections";
static const char s_rejected_daemon_note[] =
    "counted in memory by the running daemon since rejected_since (store's local time); "
    "not stored in PostgreSQL, so a restart counts from zero";

static void s_store_config_json(const ctl_t *ctl, ctl_json_t *j, const config_store_t *s)
{
    ctl_json_begin_object(j);
    ctl_json_key(j, "file");
    ctl_json_string(j, ctl->config_path);
    ctl_json_key(j, "read");
    ctl_json_bool(j, ctl->cfg != NULL);
    if (ctl->cfg == NULL) {
        ctl_json_key(j, "error");
        ctl_json_string(j, ctl->config_errors);
        ctl_json_end_object(j);
        return;
    }
    ctl_json_key(j, "found");
    ctl_json_bool(j, s != NULL);
    if (s != NULL) {
        store_now_t now = s_store_now(s);
        char a[16], b[16];
        ctl_json_key(j, "name");
        ctl_json_string(j, s->name);
        ctl_json_key(j, "brand");
        ctl_json_string(j, s_brand_of(ctl->cfg, s));
        ctl_json_key(j, "timezone");
        ctl_json_string(j, s->timezone);
        ctl_json_key(j, "hours");
        ctl_json_string(j, now.hours);
        ctl_json_key(j, "open_now");
        ctl_json_bool(j, now.open);
        ctl_json_key(j, "paused");
        ctl_json_bool(j, s->paused);
        ctl_json_key(j, "prep_slots");
        ctl_json_int(j, s->prep_slots);
        ctl_json_key(j, "prep_slots_now");
        ctl_json_int(j, now.slots);
        ctl_json_key(j, "staffing");
        ctl_json_begin_array(j);
        for (int i = 0; i < s->staffing_count; i++) {
            ctl_json_begin_object(j);
            ctl_json_key(j, "from");
            ctl_json_string(j, ctl_text_clock(s->staffing[i].from_minute, a, sizeof a));
            ctl_json_key(j, "to");
            ctl_json_string(j, ctl_text_clock(s->staffing[i].to_minute, b, sizeof b));
            ctl_json_key(j, "prep_slots");
            ctl_json_int(j, s->staffing[i].prep_slots);
            ctl_json_end_object(j);
        }
        ctl_json_end_array(j);
        ctl_json_key(j, "item_seconds");
        ctl_json_int(j, s->item_seconds);
        ctl_json_key(j, "order_seconds");
        ctl_json_int(j, s->order_seconds);
        ctl_json_key(j, "max_wait_minutes");
        ctl_json_int(j, s->max_wait_minutes);
        ctl_json_key(j, "max_queue");
        ctl_json_int(j, s->max_queue);
        ctl_json_key(j, "platforms");
        ctl_json_begin_array(j);
        for (int i = 0; i < s->platform_count; i++)
            ctl_json_string(j, ctl->cfg->platforms[s->platforms[i]].name);
        ctl_json_end_array(j);
    }
    ctl_json_end_object(j);
}

/* What the daemon said of a store, or why it said nothing. */
typedef struct store_live {
    const Sluice__Control__V1__StoreReply *reply;  /* NULL: see why */
    char why[600];
    bool day_by_daemon;       /* the PostgreSQL half came through the daemon's connection */
} store_live_t;

/* s_daemon_counts_today: does the daemon's answer R hold rejection counts
 * for the day DATE ("YYYY-MM-DD" in the store's zone; NULL: any day)? Not
 * when it does not serve the store, nor across a midnight between the two
 * reads. */
static bool s_daemon_counts_today(const Sluice__Control__V1__StoreReply *r, const char *date)
{
    return r != NULL && r->configured && r->today_date != NULL && r->today_date[0] &&
           (date == NULL || strcmp(r->today_date, date) == 0);
}

static uint64_t s_rejected_total(const Sluice__Control__V1__StoreReply *r)
{
    uint64_t total = 0;
    for (size_t i = 0; i < r->n_rejected_today; i++)
        total += r->rejected_today[i]->count;
    return total;
}

/* s_since_text: "midnight" or "09:12:40 local", for people. */
static const char *s_since_text(const Sluice__Control__V1__StoreReply *r, char *out, size_t len)
{
    if (r->today_since_midnight)
        snprintf(out, len, "midnight");
    else
        snprintf(out, len, "%s local", r->today_since);
    return out;
}

/* s_rejected_json writes the daemon's rejections of R by reason as one
 * object {"STORE_BUSY":4,...}. */
static void s_rejected_json(ctl_json_t *j, const Sluice__Control__V1__StoreReply *r)
{
    ctl_json_begin_object(j);
    for (size_t i = 0; i < r->n_rejected_today; i++) {
        ctl_json_key(j, r->rejected_today[i]->reason);
        ctl_json_int(j, (long long)r->rejected_today[i]->count);
    }
    ctl_json_end_object(j);
}

/* s_rejected_text prints the daemon's rejections today by reason, under
 * the line of today's counts; the PostgreSQL note when it has none for
 * DATE (NULL: any day). */
static void s_rejected_text(const store_live_t *live, const char *date)
{
    const Sluice__Control__V1__StoreReply *r = live->reply;
    if (!s_daemon_counts_today(r, date)) {
        if (s_daemon_counts_today(r, NULL))
            ctl_text_fieldf("  rejected",
                            "%s (the daemon counts %s: midnight passed between the reads)",
                            s_rejected_note, r->today_date);
        else
            ctl_text_field("  rejected", s_rejected_note);
        return;
    }
    char since[64];
    ctl_text_fieldf("  rejected",
                    "%" PRIu64 " since %s (counted in memory by the running daemon, which "
                    "accepted %" PRIu64 " in that time)",
                    s_rejected_total(r), s_since_text(r, since, sizeof since), r->accepted_today);
    for (size_t i = 0; i < r->n_rejected_today; i++) {
        char label[48];
        snprintf(label, sizeof label, "    %s", r->rejected_today[i]->reason);
        ctl_text_fieldf(label, "%" PRIu64, r->rejected_today[i]->count);
    }
}

/* The daemon's live view keeps the reply's names, but for the override (an
 * object, or null), the promised wait (null when no slot is staffed) and
 * today's counts (grouped, with names of their own). */
static const ctl_json_field_t s_live_state[] = {
    { "configured", NULL },
    { "open_now", NULL },
    { "paused", NULL },
    { "config_paused", NULL },
};
static const ctl_json_field_t s_live_override[] = {
    { "override_paused", "paused" },
    { "override_by", "by" },
};
static const ctl_json_field_t s_live_kitchen[] = {
    { "prep_slots_now", NULL },
    { "queue_length", NULL },
};
static const ctl_json_field_t s_live_limits[] = {
    { "max_wait_minutes", NULL },
    { "max_queue", NULL },
};
static const ctl_json_field_t s_live_today[] = {
    { "today_date", "date" },
    { "timezone", NULL },
    { "today_since", "since" },
    { "today_since_midnight", "since_midnight" },
    { "accepted_today", "accepted" },
};

#define S_N(table) (sizeof table / sizeof table[0])

static void s_store_live_json(const ctl_t *ctl, ctl_json_t *j, const store_live_t *live)
{
    const Sluice__Control__V1__StoreReply *r = live->reply;
    ctl_json_key(j, "daemon");
    if (r == NULL) {
        ctl_json_null(j);
        ctl_json_key(j, "daemon_error");
        ctl_json_string(j, live->why);
        return;
    }
    ctl_json_begin_object(j);
    ctl_json_key(j, "endpoint");
    ctl_json_string(j, ctl->asked);
    ctl_json_fields(j, &r->base, s_live_state, S_N(s_live_state));
    ctl_json_key(j, "override");
    if (r->override_set) {
        ctl_json_begin_object(j);
        ctl_json_fields(j, &r->base, s_live_override, S_N(s_live_override));
        ctl_json_end_object(j);
    } else {
        ctl_json_null(j);
    }
    ctl_json_fields(j, &r->base, s_live_kitchen, S_N(s_live_kitchen));
    ctl_json_key(j, "promised_wait_ms");
    if (r->promise_possible)
        ctl_json_uint(j, r->promised_wait_ms);
    else
        ctl_json_null(j);
    ctl_json_fields(j, &r->base, s_live_limits, S_N(s_live_limits));
    ctl_json_key(j, "today");
    if (s_daemon_counts_today(r, NULL)) {
        ctl_json_begin_object(j);
        ctl_json_fields(j, &r->base, s_live_today, S_N(s_live_today));
        ctl_json_key(j, "rejected");
        s_rejected_json(j, r);
        ctl_json_end_object(j);
    } else {
        ctl_json_null(j);
    }
    ctl_json_end_object(j);
}

static void s_store_live_text(const ctl_t *ctl, const store_live_t *live)
{
    const Sluice__Control__V1__StoreReply *r = live->reply;
    if (r == NULL) {
        ctl_text_fieldf("daemon", "not asked or no answer: %s", live->why);
        return;
    }
    ctl_text_fieldf("daemon", "%s (live, what admission decides now)", ctl->asked);
    if (!r->configured) {
        ctl_text_field("  configured", "no: not in the running configuration");
    } else {
        ctl_text_field("  open", r->open_now ? "yes" : "no");
    }
    char override[160] = "";
    if (r->override_set)
        snprintf(override, sizeof override, "; sluicectl override: %s%s%s",
                 r->override_paused ? "paused" : "resumed", r->override_by[0] ? " by " : "",
                 r->override_by);
    ctl_text_fieldf("  paused now", "%s (config says %s%s)", r->paused ? "yes" : "no",
                    r->config_paused ? "yes" : "no", override);
    if (!r->configured)
        return;
    ctl_text_fieldf("  slots now", "%" PRIu32, r->prep_slots_now);
    ctl_text_fieldf("  queue", "%" PRIu32 " orders waiting to start (max_queue %" PRIu32 ")",
                    r->queue_length, r->max_queue);
    char wait[64];
    if (r->promise_possible)
        ctl_text_fieldf("  wait now", "%s for a one-drink order (max %" PRIu32 " min)",
                        ctl_format_wait(r->promised_wait_ms, wait, sizeof wait),
                        r->max_wait_minutes);
    else
        ctl_text_field("  wait now", "none: no prep slot is staffed");
}

static void s_store_json(const ctl_t *ctl, uint32_t id, const config_store_t *s,
                         const support_query_store_t *d, const store_live_t *live)
{
    ctl_json_t j;
    ctl_json_init(&j, stdout);
    ctl_json_begin_object(&j);
    ctl_json_key(&j, "source");
    ctl_json_string(&j, live->reply != NULL ? "daemon+postgresql" : CTL_SOURCE_JSON);
    ctl_json_key(&j, "store_id");
    ctl_json_int(&j, id);
    ctl_json_key(&j, "timezone");
    ctl_json_string(&j, d->timezone);
    ctl_json_key(&j, "now");
    ctl_json_string(&j, d->now);
    ctl_json_key(&j, "config");
    s_store_config_json(ctl, &j, s);
    ctl_json_key(&j, "live");
    ctl_json_begin_object(&j);
    ctl_json_key(&j, "total");
    ctl_json_int(&j, d->live_total);
    ctl_json_key(&j, "by_state");
    ctl_json_begin_object(&j);
    for (size_t i = 0; i < d->live_states; i++) {
        ctl_json_key(&j, d->live[i].state);
        ctl_json_int(&j, d->live[i].count);
    }
    ctl_json_end_object(&j);
    ctl_json_end_object(&j);
    ctl_json_key(&j, "promised_wait_seconds");
    ctl_json_int(&j, d->wait_seconds);
    ctl_json_key(&j, "latest_promised_ready_at");
    ctl_json_string(&j, d->latest_ready);
    ctl_json_key(&j, "today");
    ctl_json_begin_object(&j);
    ctl_json_key(&j, "date");
    ctl_json_string(&j, d->today);
    ctl_json_key(&j, "since");
    ctl_json_string(&j, d->day_start);
    ctl_json_key(&j, "accepted");
    ctl_json_int(&j, d->accepted_today);
    ctl_json_key(&j, "delivered");
    ctl_json_int(&j, d->delivered_today);
    ctl_json_key(&j, "cancelled");
    ctl_json_int(&j, d->cancelled_today);
    ctl_json_key(&j, "failed");
    ctl_json_int(&j, d->failed_today);
    ctl_json_key(&j, "live");
    ctl_json_int(&j, d->live_today);
    const Sluice__Control__V1__StoreReply *r = live->reply;
    bool counted = s_daemon_counts_today(r, d->today);
    ctl_json_key(&j, "rejected");
    if (counted)
        s_rejected_json(&j, r);
    else
        ctl_json_null(&j);
    ctl_json_key(&j, "rejected_total");
    if (counted)
        ctl_json_int(&j, (long long)s_rejected_total(r));
    else
        ctl_json_null(&j);
    ctl_json_key(&j, "rejected_since");
    ctl_json_string(&j, counted ? r->today_since : NULL);
    ctl_json_key(&j, "rejected_since_midnight");
    ctl_json_bool(&j, counted && r->today_since_midnight);
    ctl_json_key(&j, "rejected_note");
    ctl_json_string(&j, counted ? s_rejected_daemon_note : s_rejected_note);
    ctl_json_end_object(&j);
    ctl_json_key(&j, "last_accepted_at");
    ctl_json_string(&j, d->last_accepted);
    s_store_live_json(ctl, &j, live);
    ctl_json_end_object(&j);
}

static void s_store_config_text(const ctl_t *ctl, uint32_t id, const config_store_t *s)
{
    if (ctl->cfg == NULL) {
        ctl_text_fieldf("config", "not read (%s)", ctl->config_errors);
        return;
    }
    if (s == NULL) {
        ctl_text_fieldf("config", "store %" PRIu32 " is not in %s (removed, or another node's)", id,
                        ctl->config_path);
        return;
    }
    store_now_t now = s_store_now(s);
    char a[16], b[16];
    ctl_text_fieldf("config",
                    "%s (as the file says now; a running daemon may still run an older one)",
                    ctl->config_path);
    ctl_text_fieldf("  open now", "%s (hours %s, %s)", now.open ? "yes" : "no", now.hours,
                    s->timezone);
    ctl_text_field("  paused", s->paused ? "yes" : "no");
    char staffing[256] = "";
    size_t at = 0;
    for (int i = 0; i < s->staffing_count && at < sizeof staffing; i++)
        at += (size_t)snprintf(staffing + at, sizeof staffing - at, "; %d from %s to %s",
                               s->staffing[i].prep_slots,
                               ctl_text_clock(s->staffing[i].from_minute, a, sizeof a),
                               ctl_text_clock(s->staffing[i].to_minute, b, sizeof b));
    ctl_text_fieldf("  prep slots", "%d now (%d%s)", now.slots, s->prep_slots, staffing);
    ctl_text_fieldf("  prep time", "%d s an order + %d s an item", s->order_seconds,
                    s->item_seconds);
    ctl_text_fieldf("  max wait", "%d min", s->max_wait_minutes);
    ctl_text_fieldf("  max queue", "%d", s->max_queue);
    char platforms[256] = "";
    at = 0;
    for (int i = 0; i < s->platform_count && at < sizeof platforms; i++)
        at += (size_t)snprintf(platforms + at, sizeof platforms - at, "%s%s", i ? ", " : "",
                               ctl->cfg->platforms[s->platforms[i]].name);
    ctl_text_field("  platforms", s->platform_count > 0 ? platforms : "(none)");
}

static void s_store_text(const ctl_t *ctl, uint32_t id, const config_store_t *s,
                         const support_query_store_t *d, const store_live_t *live)
{
    if (live->reply != NULL) {
        printf("source: daemon at ");
        ctl_text_put(stdout, ctl->asked);
        printf(" (live) and PostgreSQL%s; times in %s\n",
               live->day_by_daemon ? " (its connection)" : "", d->timezone);
    } else {
        printf("source: PostgreSQL (%s); times in %s\n", live->why, d->timezone);
    }
    const char *brand = s != NULL ? s_brand_of(ctl->cfg, s) : NULL;
    if (s != NULL && s->name != NULL && s->name[0])
        ctl_text_fieldf("store", "%" PRIu32 " (%s)%s%s", id, s->name, brand ? ", brand " : "",
                        brand ? brand : "");
    else
        ctl_text_fieldf("store", "%" PRIu32 "%s%s", id, brand ? ", brand " : "",
                        brand ? brand : "");
    ctl_text_field("now", d->now);
    s_store_config_text(ctl, id, s);
    s_store_live_text(ctl, live);
    ctl_text_fieldf("live orders", "%ld", d->live_total);
    for (size_t i = 0; i < d->live_states; i++) {
        char label[40];
        snprintf(label, sizeof label, "  %s", d->live[i].state);
        ctl_text_fieldf(label, "%ld", d->live[i].count);
    }
    if (d->latest_ready != NULL)
        ctl_text_fieldf("promised wait now", "%ld min %02ld s (latest promised ready %s)",
                        d->wait_seconds / 60, d->wait_seconds % 60, d->latest_ready);
    else
        ctl_text_field("promised wait now", "0 (no live orders)");
    printf("today %s, since %s: orders accepted today, by their state now\n", d->today,
           d->day_start);
    ctl_text_fieldf("  accepted", "%ld", d->accepted_today);
    ctl_text_fieldf("  delivered", "%ld", d->delivered_today);
    ctl_text_fieldf("  cancelled", "%ld", d->cancelled_today);
    ctl_text_fieldf("  failed", "%ld", d->failed_today);
    ctl_text_fieldf("  still live", "%ld", d->live_today);
    s_rejected_text(live, d->today);
    ctl_text_field("last order accepted", d->last_accepted ? d->last_accepted : "never");
}

/* s_store_ask asks the daemon for store ID's live view into LIVE; *REPLY
 * holds it (the caller frees it). A daemon that does not answer is no
 * failure: PostgreSQL answers alone, and says why. */
static void s_store_ask(ctl_t *ctl, uint32_t id, store_live_t *live, ctl_reply_t **reply)
{
    *reply = NULL;
    if (!ctl_daemon_can_ask(ctl)) {
        snprintf(live->why, sizeof live->why, "daemon not asked: config not read");
        return;
    }
    Sluice__Control__V1__StoreRequest body = SLUICE__CONTROL__V1__STORE_REQUEST__INIT;
    body.store_id = id;
    ctl_request_t req = SLUICE__CONTROL__V1__REQUEST__INIT;
    req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_STORE;
    req.store = &body;
    char why[512];
    ctl_control_status_t st = ctl_daemon_ask(ctl, &req, true, reply, why, sizeof why);
    if (st != CTL_CONTROL_OK) {
        snprintf(live->why, sizeof live->why, "daemon not reachable at %.200s: %.300s", ctl->asked,
                 why);
        return;
    }
    if ((*reply)->body_case == SLUICE__CONTROL__V1__REPLY__BODY_STORE) {
        live->reply = (*reply)->store;
        return;
    }
    bool error = (*reply)->body_case == SLUICE__CONTROL__V1__REPLY__BODY_ERROR && (*reply)->error;
    snprintf(live->why, sizeof live->why, "the daemon at %.200s says %s: %.300s", ctl->asked,
             error ? control_code_name((*reply)->error->code) : "something unexpected",
             error ? (*reply)->error->message : "");
}

/* s_store_of_reply points D's fields into the daemon's answer R; false
 * when out of memory. Clear D with support_query_store_clear (it owns no result). */
static bool s_store_of_reply(const Sluice__Control__V1__StoreDayReply *r, support_query_store_t *d)
{
    memset(d, 0, sizeof *d);
    d->timezone = r->timezone;
    d->now = r->now;
    d->today = r->today;
    d->day_start = r->day_start;
    d->latest_ready = ctl_daemon_nullable(r->latest_ready);
    d->wait_seconds = (long)r->wait_seconds;
    d->accepted_today = (long)r->accepted_today;
    d->delivered_today = (long)r->delivered_today;
    d->cancelled_today = (long)r->cancelled_today;
    d->failed_today = (long)r->failed_today;
    d->live_today = (long)r->live_today;
    d->last_accepted = ctl_daemon_nullable(r->last_accepted);
    d->live_states = r->n_live;
    if ((d->live = calloc(d->live_states + 1, sizeof *d->live)) == NULL)
        return false;
    for (size_t i = 0; i < d->live_states; i++) {
        d->live[i] = (support_query_state_count_t){ .state = r->live[i]->state,
                                             .count = (long)r->live[i]->count };
        d->live_total += d->live[i].count;
    }
    return true;
}

/* s_store_day_ask asks the daemon that answered the live view for the
 * PostgreSQL half too, read on its open connection: true with *D filled
 * from *REPLY (the caller frees it). False: PostgreSQL is read directly. */
static bool s_store_day_ask(ctl_t *ctl, uint32_t id, support_query_store_t *d, ctl_reply_t **reply)
{
    Sluice__Control__V1__StoreDayRequest body = SLUICE__CONTROL__V1__STORE_DAY_REQUEST__INIT;
    body.store_id = id;
    body.iso_times = ctl->json;
    ctl_request_t req = SLUICE__CONTROL__V1__REQUEST__INIT;
    req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_STORE_DAY;
    req.store_day = &body;
    char why[512];
    *reply = NULL;
    if (ctl_control_ask(ctl->asked, ctl->timeout_ms, &req, reply, why, sizeof why) !=
        CTL_CONTROL_OK)
        return false;
    if ((*reply)->body_case == SLUICE__CONTROL__V1__REPLY__BODY_STORE_DAY &&
        s_store_of_reply((*reply)->store_day, d))
        return true;
    support_query_store_clear(d);
    sluice__control__v1__reply__free_unpacked(*reply, NULL);
    *reply = NULL;
    return false;
}

/* s_store_read reads the PostgreSQL half of store ID into D: through the
 * daemon that answered LIVE when it can (and no --database), else directly. CTL_EXIT_OK, or
 * the exit code with the reason reported. */
static int s_store_read(ctl_t *ctl, uint32_t id, const config_store_t *s, store_live_t *live,
                        support_query_store_t *d, ctl_reply_t **day_reply)
{
    /* --database names the role to read with: then always directly. */
    if (live->reply != NULL && ctl->database == NULL && s_store_day_ask(ctl, id, d, day_reply)) {
        live->day_by_daemon = true;
        return CTL_EXIT_OK;
    }
    int rc = ctl_connect(ctl);
    if (rc != CTL_EXIT_OK)
        return rc;
    const char *zone = s != NULL && s->timezone != NULL && s->timezone[0] ? s->timezone : NULL;
    support_query_times_t times = ctl->json ? SUPPORT_QUERY_TIMES_ISO : SUPPORT_QUERY_TIMES_TEXT;
    support_query_status_t st = support_query_store_read(ctl->db, id, zone, times, d);
    return st == SUPPORT_QUERY_OK ? CTL_EXIT_OK : ctl_pg_failure(ctl, st);
}

int ctl_store_run(ctl_t *ctl, char **argv)
{
    uint32_t id;
    if (!ctl_parse_store_id(argv[0], &id))
        return CTL_EXIT_USAGE;
    store_live_t live = {0};
    ctl_reply_t *reply = NULL, *day_reply = NULL;
    s_store_ask(ctl, id, &live, &reply);
    const config_store_t *s = ctl_find_store(ctl->cfg, id);
    support_query_store_t d;
    memset(&d, 0, sizeof d);
    int rc = s_store_read(ctl, id, s, &live, &d, &day_reply);
    if (rc == CTL_EXIT_UNREACHABLE) {
        if (live.reply != NULL && !ctl->json) {  /* the daemon's half still helps */
            ctl_daemon_source_text(ctl);
            s_store_live_text(ctl, &live);
            if (s_daemon_counts_today(live.reply, NULL)) {
                printf("today %s (the daemon's count)\n", live.reply->today_date);
                s_rejected_text(&live, NULL);
            }
        }
    } else if (rc != CTL_EXIT_OK) {
        /* reported */
    } else if (s == NULL && d.last_accepted == NULL) {
        if (ctl->cfg != NULL)
            ctl_error("no store %" PRIu32 " in %s and no order of it in PostgreSQL", id,
                      ctl->config_path);
        else
            ctl_error("no order of store %" PRIu32 " in PostgreSQL (config not read: %s)", id,
                      ctl->config_errors);
        rc = CTL_EXIT_NOT_FOUND;
    } else if (ctl->json) {
        s_store_json(ctl, id, s, &d, &live);
    } else {
        s_store_text(ctl, id, s, &d, &live);
    }
    support_query_store_clear(&d);
    if (reply != NULL)
        sluice__control__v1__reply__free_unpacked(reply, NULL);
    if (day_reply != NULL)
        sluice__control__v1__reply__free_unpacked(day_reply, NULL);
    return rc;
}
