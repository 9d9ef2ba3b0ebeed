/* config_keys.c - owns the config key table: every key's type, default,
 * range, meaning and whether a reload can change it; the value parsers each
 * kind of row uses, and the checks across keys. config_docs.c prints the
 * table as documentation. */
#include "config_internal.h"
#include "adapter.h"
#include "curve.h"
#include "order.h"
#include "tz.h"

#include <grp.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------- the table */

#define DM(f) offsetof(config_daemon_t, f)
static const struct key_row s_daemon_rows[] = {
    { "daemon.database", K_STRING, APPLY_RESTART, DM(database),
      "\"host=/run/postgresql dbname=sluice\"", 1, 4096, "libpq connection string" },
    { "daemon.ingress", K_STRING, APPLY_RESTART, DM(ingress), "\"tcp://127.0.0.1:7400\"", 1, 1024,
      "ZeroMQ ROUTER endpoint where orders arrive" },
    { "daemon.events", K_STRING, APPLY_RESTART, DM(events), "\"tcp://127.0.0.1:7401\"", 1, 1024,
      "ZeroMQ PUB endpoint publishing order events" },
    { "daemon.control", K_STRING, APPLY_RESTART, DM(control),
      "\"ipc:///run/sluice/control.sock\"", 1, 1024,
      "ZeroMQ endpoint for sluicectl, every command (pause, resume, reload too); ipc:// or "
      "loopback only; an ipc:// socket file is made mode 0660: write access is membership of "
      "its group" },
    { "daemon.control_readonly", K_STRING, APPLY_RESTART, DM(control_readonly), "\"\"", 0, 1024,
      "ZeroMQ endpoint for sluicectl's read commands only (platforms, stats, store); write "
      "commands get PERMISSION_DENIED; ipc:// or loopback only; an ipc:// socket file is made "
      "mode 0666. \"\" = control-ro.sock in daemon.control's directory "
      "(ipc:///run/sluice/control-ro.sock by default; none when daemon.control is not ipc://); "
      "\"none\" = no read-only socket" },
    { "daemon.control_group", K_STRING, APPLY_RESTART, DM(control_group), "\"\"", 0, 64,
      "group given the ipc:// socket file of daemon.control (the daemon must be a member); "
      "\"\" = the daemon's own group" },
    { "daemon.http", K_STRING, APPLY_RESTART, DM(http), "\"127.0.0.1:9464\"", 1, 1024,
      "host:port serving /metrics /healthz /readyz" },
    { "daemon.max_message_bytes", K_INT, APPLY_RESTART, DM(max_message_bytes),
      "65536", 1024, 16777216, "largest ingress message accepted (ZMQ_MAXMSGSIZE)" },
    { "daemon.limits.orders_per_second", K_INT, APPLY_LIVE, DM(limits.orders_per_second),
      "50000", 1, 10000000, "global token-bucket rate; orders past it get OVERLOADED" },
    { "daemon.limits.queue_delay_ms", K_INT, APPLY_LIVE, DM(limits.queue_delay_ms), "50", 1, 60000,
      "adaptive shedding target: ingress queue delay" },
    { "daemon.limits.commit_latency_ms", K_INT, APPLY_LIVE, DM(limits.commit_latency_ms),
      "250", 1, 60000, "adaptive shedding target: batch commit latency" },
    { "daemon.commit_batch_max", K_INT, APPLY_RESTART, DM(commit_batch_max), "2000", 1, 20000,
      "most orders written by one commit" },
    { "daemon.db_connections", K_INT, APPLY_RESTART, DM(db_connections), "2", 1, 8,
      "PostgreSQL connections committing batches at once (the first also serves lookups)" },
    { "daemon.max_pending_orders", K_INT, APPLY_LIVE, DM(max_pending_orders), "100000", 1, 10000000,
      "orders waiting for a commit; past it new orders get OVERLOADED" },
    { "daemon.overloaded_retry_ms", K_INT, APPLY_LIVE, DM(overloaded_retry_ms), "200", 1, 600000,
      "retry_after_ms sent with OVERLOADED" },
    { "daemon.unavailable_retry_ms", K_INT, APPLY_LIVE, DM(unavailable_retry_ms), "1000", 1, 600000,
      "retry_after_ms sent with UNAVAILABLE; longer only while the next database reconnect "
      "attempt is further away (that wait + 500 ms)" },
    { "daemon.reconnect_min_ms", K_INT, APPLY_LIVE, DM(reconnect_min_ms), "100", 1, 600000,
      "first database reconnect delay" },
    { "daemon.reconnect_max_ms", K_INT, APPLY_LIVE, DM(reconnect_max_ms), "5000", 1, 600000,
      "cap of the exponential reconnect backoff; at least reconnect_min_ms" },
    { "daemon.db_connect_timeout_ms", K_INT, APPLY_LIVE, DM(db_connect_timeout_ms), "2000", 100,
      600000,
      "a connection attempt to one host of database not ready in this long is given up and the "
      "next host tried (libpq's connect_timeout does not apply: sluiced never blocks on it)" },
    { "daemon.db_statement_timeout_ms", K_INT, APPLY_LIVE, DM(db_statement_timeout_ms), "5000",
      100, 600000,
      "a statement the database sends nothing back for this long is given up: the connection is "
      "dropped and the next host tried, and a commit in flight is resolved by order id (it may "
      "have committed)" },
    { "daemon.curve.secret_key_file", K_STRING, APPLY_RESTART, DM(curve_secret_key_file),
      "\"\"", 0, 4096,
      "file with the ingress's CURVE secret key (Z85); \"\" = no CURVE, allowed only when ingress is loopback or ipc://" },
    { "daemon.curve.client_keys_file", K_STRING, APPLY_LIVE, DM(curve_client_keys_file),
      "\"\"", 0, 4096,
      "file with the producers' CURVE public keys (Z85), one per line; others cannot connect" },
    { "daemon.paused_retry_ms", K_INT, APPLY_LIVE, DM(paused_retry_ms), "60000", 1, 86400000,
      "retry_after_ms sent with STORE_PAUSED (a pause has no announced end), and with "
      "CAMPAIGN_LIMIT for a paused campaign" },
    { "daemon.availability_event_ms", K_INT, APPLY_LIVE, DM(availability_event_ms), "1000", 0,
      3600000,
      "at most one avail.<store_id> event per store this often; a change within it is held and "
      "the store's latest class is sent when it has passed; 0 = every change at once" },
    { "daemon.in_doubt_max_ms", K_INT, APPLY_LIVE, DM(in_doubt_max_ms), "5000", 100, 600000,
      "a batch whose commit's outcome was lost (connection lost, or db_statement_timeout_ms "
      "passed) is resolved by order id once a primary answers; its clients wait at most this "
      "long, then get UNAVAILABLE saying the outcome is unknown and that resubmitting the same "
      "order_id is safe (the resolution goes on)" },
    { "daemon.in_doubt_max_orders", K_INT, APPLY_LIVE, DM(in_doubt_max_orders), "20000", 1,
      10000000,
      "orders in batches whose outcome is being resolved; while there are this many, new orders "
      "get UNAVAILABLE" },
    { "daemon.shard", K_STRING, APPLY_RESTART, DM(shard), "\"\"", 0, 64,
      "the shard this node serves (a name in shards, when shards is set): one node of the shard "
      "is active and holds its lease in the database, the others stand by; letters, digits and "
      ". _ : - only; \"\" = a single node with no lease" },
    { "daemon.node", K_STRING, APPLY_RESTART, DM(node), "\"\"", 0, 64,
      "this node's name in its shard's lease (who is active); unique in the shard; \"\" = the "
      "host name" },
    { "daemon.advertise", K_STRING, APPLY_RESTART, DM(advertise), "\"\"", 0, 1024,
      "the ingress endpoint producers are told to use for this node (a standby names its "
      "active's); \"\" = the endpoint ingress bound (set it when ingress binds a wildcard "
      "address)" },
    { "daemon.lease_seconds", K_INT, APPLY_RESTART, DM(lease_seconds), "6", 2, 300,
      "the term of the shard lease: the active renews it every third of it and stops serving "
      "when a renewal has not come back within it (less a sixth); a standby takes over once it "
      "has expired" },
};

#define DI(f) offsetof(config_dispatch_t, f)
static const struct key_row s_dispatch_rows[] = {
    { "dispatch.margin_seconds", K_DOUBLE, APPLY_LIVE, DI(margin_seconds), "60", 0, 3600,
      "ask for riders at ready_at - pickup_eta - margin_seconds; fractions of a second allowed" },
    { "dispatch.pickup_eta_seconds", K_DOUBLE, APPLY_LIVE, DI(pickup_eta_seconds), "300", 0, 7200,
      "how long a rider takes to reach the store: the pickup_eta that times the first quote, "
      "before any quote has given one; fractions of a second allowed" },
    { "dispatch.assign_timeout_seconds", K_INT, APPLY_LIVE, DI(assign_timeout_seconds),
      "120", 1, 3600,
      "an attempt without an assigned rider after this long is cancelled and retried elsewhere" },
    { "dispatch.retry_seconds", K_INT, APPLY_LIVE, DI(retry_seconds), "30", 1, 3600,
      "when no platform can take an order now (all refused, breakers open, pools full), ask again after this long" },
    { "dispatch.stuck_minutes", K_INT, APPLY_LIVE, DI(stuck_minutes), "30", 1, 1440,
      "a rider with no news for this long is asked about; one who has not picked up by then is "
      "replaced, and a picked-up order still not delivered is logged and put in its timeline" },
    { "dispatch.max_hold_minutes", K_INT, APPLY_LIVE, DI(max_hold_minutes), "15", 0, 1440,
      "no rider by ready_at + max_hold_minutes: the order FAILS and is flagged for refund" },
    { "dispatch.handoff_seconds", K_DOUBLE, APPLY_LIVE, DI(handoff_seconds), "300", 0, 7200,
      "promised delivery = ready + handoff_seconds + travel from store to drop-off; fractions "
      "of a second allowed" },
    { "dispatch.rider_kmh", K_DOUBLE, APPLY_LIVE, DI(rider_kmh), "15", 1, 1000000,
      "rider speed that turns the straight-line distance into a travel estimate; above 200 "
      "only in a time-compressed drill, where simulated riders cover their km/h times the "
      "drill's time scale in a real hour" },
};

#define BR(f) offsetof(config_brand_t, f)
static const struct key_row s_brand_rows[] = {
    { "brands.[].name", K_STRING, APPLY_LIVE, BR(name), NULL, 1, 64,
      "brand name that stores refer to; unique" },
    { "brands.[].orders_per_second", K_INT, APPLY_LIVE, BR(orders_per_second), NULL, 1, 10000000,
      "token-bucket rate shared by all the brand's stores" },
};

#define PL(f) offsetof(config_platform_t, f)
static const struct key_row s_platform_rows[] = {
    { "platforms.[].name", K_STRING, APPLY_RESTART, PL(name), NULL, 1, 64,
      "platform name that stores list in platforms; unique" },
    { "platforms.[].adapter", K_ADAPTER, APPLY_RESTART, PL(adapter), NULL, 1, 64,
      "transport that reaches the platform" },
    { "platforms.[].endpoint", K_STRING, APPLY_RESTART, PL(endpoint), NULL, 1, 1024,
      "where the adapter connects (a ZeroMQ endpoint for zmq)" },
    { "platforms.[].timeout_ms", K_INT, APPLY_RESTART, PL(timeout_ms), "800", 1, 60000,
      "a request without a reply after this long has failed" },
    { "platforms.[].quote_deadline_ms", K_INT, APPLY_RESTART, PL(quote_deadline_ms),
      "150", 1, 60000, "how long dispatch waits for this platform's quote" },
    { "platforms.[].max_inflight", K_INT, APPLY_RESTART, PL(max_inflight), "20000", 1, 1000000,
      "most dispatches outstanding at once; past it the pool counts as full" },
    { "platforms.[].breaker.failure_ratio", K_DOUBLE, APPLY_RESTART, PL(breaker.failure_ratio),
      "0.5", 0, 1, "the breaker opens when this share of recent requests failed or were slow" },
    { "platforms.[].breaker.window_seconds", K_INT, APPLY_RESTART, PL(breaker.window_seconds),
      "10", 1,
      CONFIG_MAX_BREAKER_WINDOW, "recent requests: those of the last window_seconds" },
    { "platforms.[].breaker.slow_ms", K_INT, APPLY_RESTART, PL(breaker.slow_ms), "1500", 1, 600000,
      "a reply that takes this long or longer counts as a failure" },
    { "platforms.[].breaker.min_requests", K_INT, APPLY_RESTART, PL(breaker.min_requests),
      "20", 1, 1000000, "requests in the window before the breaker may open" },
    { "platforms.[].breaker.open_seconds", K_INT, APPLY_RESTART, PL(breaker.open_seconds),
      "10", 1, 3600, "how long the breaker stays open before a half-open probe" },
};

#define CA(f) offsetof(config_campaign_t, f)
static const struct key_row s_campaign_rows[] = {
    { "campaigns.[].name", K_STRING, APPLY_LIVE, CA(name), NULL, 1, 64,
      "campaign name, as orders give it in SubmitOrder.campaign; unique; letters, digits and "
      ". _ : - only" },
    { "campaigns.[].starts", K_INSTANT, APPLY_LIVE, CA(starts_ms), "\"\"", 0, 0,
      "when it starts taking orders, ISO 8601 with the offset: \"2027-02-10T10:00:00+08:00\"; "
      "\"\" = already started; orders before it get CAMPAIGN_LIMIT with retry_after_ms until then" },
    { "campaigns.[].ends", K_INSTANT, APPLY_LIVE, CA(ends_ms), "\"\"", 0, 0,
      "when it stops taking orders, the same form, after starts; \"\" = no end; orders from "
      "then on get CAMPAIGN_LIMIT with retry_after_ms 0" },
    { "campaigns.[].store_share", K_DOUBLE, APPLY_LIVE, CA(store_share), "0.5", 0, 1,
      "most of a store's prep-slot time, in any window of the store's max_wait_minutes, that "
      "this campaign's orders may be promised; the rest stays for other orders; 1 = no limit; "
      "stores.[].campaigns sets it per store" },
    { "campaigns.[].orders_per_second", K_INT, APPLY_LIVE, CA(orders_per_second), NULL, 1,
      10000000, "token-bucket rate of its orders over all stores" },
    { "campaigns.[].budget", K_INT, APPLY_LIVE, CA(budget), "0", 0, 2147483647,
      "orders it may place in all (cancelled ones too), counted in the database across "
      "restarts; then CAMPAIGN_LIMIT with retry_after_ms 0; 0 = no limit" },
    { "campaigns.[].per_store_daily", K_INT, APPLY_LIVE, CA(per_store_daily), "0", 0, 1000000,
      "orders it may place at one store per local day (the store's timezone); 0 = no limit" },
    { "campaigns.[].paused", K_BOOL, APPLY_LIVE, CA(paused), "false", 0, 0,
      "refuse its orders with CAMPAIGN_LIMIT at once (retry_after_ms daemon.paused_retry_ms)" },
};

#define SH(f) offsetof(config_shard_t, f)
static const struct key_row s_shard_rows[] = {
    { "shards.[].name", K_STRING, APPLY_LIVE, SH(name), NULL, 1, 64,
      "shard name that daemon.shard and stores.[].shard refer to; unique; letters, digits and "
      ". _ : - only" },
    { "shards.[].endpoints", K_ENDPOINTS, APPLY_LIVE, SH(endpoints), NULL, 1,
      CONFIG_MAX_SHARD_ENDPOINTS,
      "the ingress endpoints of the shard's nodes, as producers reach them: a submission for one "
      "of its stores that reaches another shard is refused WRONG_SHARD naming these" },
};

#define ST(f) offsetof(config_store_t, f)
static const struct key_row s_store_rows[] = {
    { "stores.[].id", K_ID, APPLY_LIVE, ST(id), NULL, 1, 4294967295.0,
      "store id used by orders; unique; write ids above 2147483647 with an L suffix (3000000000L)" },
    { "stores.[].brand", K_BRAND, APPLY_LIVE, ST(brand), "\"\"", 0, 0,
      "brand whose rate limit the store shares; \"\" for none" },
    { "stores.[].name", K_STRING, APPLY_LIVE, ST(name), "\"\"", 0, 256,
      "display name" },
    { "stores.[].location", K_LOCATION, APPLY_LIVE, ST(lat), NULL, 0, 0,
      "[latitude, longitude] in WGS84 degrees" },
    { "stores.[].prep_slots", K_INT, APPLY_LIVE, ST(prep_slots), NULL, 1, 1000,
      "drinks made in parallel" },
    { "stores.[].item_seconds", K_DOUBLE, APPLY_LIVE, ST(item_seconds), NULL, 0.001, 3600,
      "preparation time per item; fractions of a second allowed (kept to the millisecond)" },
    { "stores.[].order_seconds", K_DOUBLE, APPLY_LIVE, ST(order_seconds), "0", 0, 3600,
      "overhead per order: prep time = order_seconds + items * item_seconds; fractions of a "
      "second allowed" },
    { "stores.[].max_wait_minutes", K_DOUBLE, APPLY_LIVE, ST(max_wait_minutes), NULL, 0.001,
      1440,
      "longest promise made; an order ready later is refused BUSY; fractions of a minute "
      "allowed (kept to the millisecond)" },
    { "stores.[].max_queue", K_INT, APPLY_LIVE, ST(max_queue), "1000", 1, 100000,
      "most accepted orders waiting to be prepared" },
    { "stores.[].hours", K_HOURS, APPLY_LIVE, ST(open_minute), "\"00:00-24:00\"", 0, 0,
      "opening hours, local time; close before open means past midnight" },
    { "stores.[].timezone", K_TIMEZONE, APPLY_LIVE, ST(timezone), "\"UTC\"", 0, 0,
      "zoneinfo name that hours and staffing are in" },
    { "stores.[].paused", K_BOOL, APPLY_LIVE, ST(paused), "false", 0, 0,
      "refuse new orders with PAUSED" },
    { "stores.[].platforms", K_PLATFORMS, APPLY_LIVE, ST(platform_count),
      "[]", 0, CONFIG_MAX_STORE_PLATFORMS,
      "delivery platforms the store may use, in preference order" },
    { "stores.[].staffing", K_STAFFING, APPLY_LIVE, ST(staffing_count),
      "()", 0, CONFIG_MAX_STAFFING, "time windows with their own prep_slots" },
    { "stores.[].typical_drinks", K_INT, APPLY_LIVE, ST(typical_drinks), "2", 1, 99,
      "drinks in a typical order: the order QueryAvailability and the avail.<store_id> events "
      "give the store's promise for" },
    { "stores.[].campaigns", K_CAMPAIGNS, APPLY_LIVE, ST(campaign_count),
      "()", 0, CONFIG_MAX_STORE_CAMPAIGNS,
      "the store's own store_share for some campaigns, in place of the campaign's" },
    { "stores.[].shard", K_SHARD, APPLY_LIVE, ST(shard), "\"\"", 0, 0,
      "the shard that owns the store (a name in shards; required when shards is set): only its "
      "nodes take the store's orders; \"\" when there are no shards" },
};

#define SF(f) offsetof(config_staffing_t, f)
static const struct key_row s_staffing_rows[] = {
    { "stores.[].staffing.[].from", K_CLOCK, APPLY_LIVE, SF(from_minute), NULL, 0, 1439,
      "window start, local \"HH:MM\"" },
    { "stores.[].staffing.[].to", K_CLOCK, APPLY_LIVE, SF(to_minute), NULL, 0, 1440,
      "window end, local \"HH:MM\"; before from means past midnight" },
    { "stores.[].staffing.[].prep_slots", K_INT, APPLY_LIVE, SF(prep_slots), NULL, 1, 1000,
      "prep_slots during the window" },
};

#define SC(f) offsetof(config_store_campaign_t, f)
static const struct key_row s_store_campaign_rows[] = {
    { "stores.[].campaigns.[].name", K_CAMPAIGN, APPLY_LIVE, SC(campaign), NULL, 0, 0,
      "a campaign in campaigns, at most once per store" },
    { "stores.[].campaigns.[].store_share", K_DOUBLE, APPLY_LIVE, SC(store_share), NULL, 0, 1,
      "this store's share for that campaign; 0 = the store takes none of its orders" },
};

static config_check_fn s_check_daemon, s_check_brand, s_check_platform, s_check_campaign,
    s_check_shard, s_check_store;

#define PREFIX(s) s, sizeof(s) - 1
#define ROWS(a) a, sizeof(a) / sizeof(a[0])
#define IN_CONFIG(f) .at = offsetof(config_t, f)
#define LIST_IN_CONFIG(f, n) .at = offsetof(config_t, f), .count_at = offsetof(config_t, n)
const struct scope config_scopes[S_COUNT] = {
    [S_DAEMON] = { "daemon", false, PREFIX("daemon."), ROWS(s_daemon_rows),
                   sizeof(config_daemon_t), s_check_daemon, IN_CONFIG(daemon), .name_at = -1 },
    [S_DISPATCH] = { "dispatch", false, PREFIX("dispatch."), ROWS(s_dispatch_rows),
                     sizeof(config_dispatch_t), NULL, IN_CONFIG(dispatch), .name_at = -1 },
    [S_BRAND] = { "brands", true, PREFIX("brands.[]."), ROWS(s_brand_rows),
                  sizeof(config_brand_t), s_check_brand, LIST_IN_CONFIG(brands, brand_count),
                  .name_at = offsetof(config_brand_t, name) },
    [S_PLATFORM] = { "platforms", true, PREFIX("platforms.[]."), ROWS(s_platform_rows),
                     sizeof(config_platform_t), s_check_platform,
                     LIST_IN_CONFIG(platforms, platform_count),
                     .name_at = offsetof(config_platform_t, name) },
    [S_CAMPAIGN] = { "campaigns", true, PREFIX("campaigns.[]."), ROWS(s_campaign_rows),
                     sizeof(config_campaign_t), s_check_campaign,
                     LIST_IN_CONFIG(campaigns, campaign_count),
                     .name_at = offsetof(config_campaign_t, name) },
    [S_SHARD] = { "shards", true, PREFIX("shards.[]."), ROWS(s_shard_rows),
                  sizeof(config_shard_t), s_check_shard, LIST_IN_CONFIG(shards, shard_count),
                  .name_at = offsetof(config_shard_t, name) },
    [S_STORE] = { "stores", true, PREFIX("stores.[]."), ROWS(s_store_rows),
                  sizeof(config_store_t), s_check_store, /* ids: config_stores.c */
                  LIST_IN_CONFIG(stores, store_count), .name_at = -1 },
    [S_STAFFING] = { NULL, true, PREFIX("stores.[].staffing.[]."), ROWS(s_staffing_rows),
                     sizeof(config_staffing_t), NULL, .name_at = -1 },
    [S_STORE_CAMPAIGN] = { NULL, true, PREFIX("stores.[].campaigns.[]."),
                           ROWS(s_store_campaign_rows), sizeof(config_store_campaign_t), NULL,
                           .name_at = -1 },
};

#define ROWS_FIT(a) _Static_assert(sizeof a / sizeof a[0] <= ROWS_MAX, #a " has too many rows")
ROWS_FIT(s_daemon_rows);
ROWS_FIT(s_dispatch_rows);
ROWS_FIT(s_brand_rows);
ROWS_FIT(s_platform_rows);
ROWS_FIT(s_store_rows);
ROWS_FIT(s_staffing_rows);
ROWS_FIT(s_campaign_rows);
ROWS_FIT(s_store_campaign_rows);
ROWS_FIT(s_shard_rows);

/* Walks by offset (the store cache, the restart check) find the fields of
 * the kinds that set several right after the row's offset (see enum kind). */
#define NEXT_TO(a, b) \
    (offsetof(config_store_t, b) == offsetof(config_store_t, a) + sizeof(((config_store_t *)0)->a))
_Static_assert(NEXT_TO(open_minute, close_minute), "K_HOURS: close_minute follows open_minute");
_Static_assert(NEXT_TO(lat, lng), "K_LOCATION: lng follows lat");
_Static_assert(NEXT_TO(platform_count, platforms), "K_PLATFORMS: the array follows its count");
_Static_assert(NEXT_TO(staffing_count, staffing), "K_STAFFING: the array follows its count");
_Static_assert(offsetof(config_store_t, campaigns) ==
                   offsetof(config_store_t, campaign_count) + CAMPAIGNS_ARRAY_AT,
               "K_CAMPAIGNS: the array is CAMPAIGNS_ARRAY_AT after its count");

/* ---------------------------------------------------------- value parsers */

static bool s_integer(const setting_t *s, long long *v)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
        *v = config_setting_get_int(s);
        return true;
    case CONFIG_TYPE_INT64:
        *v = config_setting_get_int64(s);
        return true;
    default:
        return false;
    }
}

static bool s_number(const setting_t *s, double *v)
{
    long long i;
    if (s_integer(s, &i)) {
        *v = (double)i;
        return true;
    }
    if (config_setting_type(s) != CONFIG_TYPE_FLOAT)
        return false;
    *v = config_setting_get_float(s);
    return isfinite(*v);
}

static const char *s_string(struct parser *p, const struct slot *sl, const setting_t *s)
{
    if (config_setting_type(s) == CONFIG_TYPE_STRING)
        return config_setting_get_string(s);
    config_bad(p, sl, s, "must be a string");
    return NULL;
}

/* s_clock parses exactly five characters "HH:MM", 00:00 to 24:00. */
static bool s_clock(const char *v, int *minute)
{
    for (int i = 0; i < 5; i++)
        if (i == 2 ? v[i] != ':' : (v[i] < '0' || v[i] > '9'))
            return false;
    int h = (v[0] - '0') * 10 + (v[1] - '0'), m = (v[3] - '0') * 10 + (v[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && m != 0))
        return false;
    *minute = h * 60 + m;
    return true;
}

static void s_set_int(struct parser *p, const struct slot *sl, const setting_t *s)
{
    long long v;
    if (!s_integer(s, &v))
        config_bad(p, sl, s, "must be an integer");
    else if (v < sl->row->min || v > sl->row->max)
        config_bad(p, sl, s, "must be between %.0f and %.0f", sl->row->min, sl->row->max);
    else
        *(int *)sl->field = (int)v;
}

static void s_set_id(struct parser *p, const struct slot *sl, const setting_t *s)
{
    long long v;
    if (!s_integer(s, &v))
        config_bad(p, sl, s, "must be an integer");
    else if (v < 0 && config_setting_type(s) == CONFIG_TYPE_INT)
        config_bad(p, sl, s, "must be between %.0f and %.0f; libconfig wraps integers above "
                   "2147483647 unless written with an L suffix, e.g. 3000000000L",
                   sl->row->min, sl->row->max);
    else if (v < sl->row->min || v > sl->row->max)
        config_bad(p, sl, s, "must be between %.0f and %.0f", sl->row->min, sl->row->max);
    else
        *(uint32_t *)sl->field = (uint32_t)v;
}

static void s_set_double(struct parser *p, const struct slot *sl, const setting_t *s)
{
    double v;
    if (!s_number(s, &v))
        config_bad(p, sl, s, "must be a number");
    else if (v < sl->row->min || v > sl->row->max)
        config_bad(p, sl, s, "must be between %g and %g", sl->row->min, sl->row->max);
    else
        *(double *)sl->field = v;
}

static void s_set_bool(struct parser *p, const struct slot *sl, const setting_t *s)
{
    if (config_setting_type(s) != CONFIG_TYPE_BOOL)
        config_bad(p, sl, s, "must be true or false");
    else
        *(bool *)sl->field = config_setting_get_bool(s);
}

static void s_set_string(struct parser *p, const struct slot *sl, const setting_t *s)
{
    const char *v = s_string(p, sl, s);
    if (!v)
        return;
    size_t len = strlen(v);
    if (len < sl->row->min) {
        config_bad(p, sl, s, "must not be empty");
        return;
    }
    if (len > sl->row->max) {
        config_bad(p, sl, s, "must be at most %.0f characters", sl->row->max);
        return;
    }
    char *copy = strdup(v);
    if (!copy) {
        config_report(p, s, sl->ctx, sl->key, "out of memory");
        return;
    }
    char **field = sl->field;
    free(*field);
    *field = copy;
}

/* s_set_adapter: names come from the adapter registry (adapters/adapter.c,
 * const data, safe on the parsing threads), so the config accepts exactly
 * the transports that are built in. */
static void s_set_adapter(struct parser *p, const struct slot *sl, const setting_t *s)
{
    const char *v = s_string(p, sl, s);
    if (!v)
        return;
    if (adapter_find(v)) {
        s_set_string(p, sl, s);
        return;
    }
    char known[128] = "";
    for (size_t i = 0; i < adapter_count(); i++)
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "",
                 adapter_name(i));
    config_bad(p, sl, s, "unknown adapter, known: %s", known);
}

/* s_find_name looks NAME up among COUNT structs of SIZE bytes whose char *
 * name sits at NAME_OFFSET, trying *LAST first; -1 when absent. */
static int s_find_name(const void *array, size_t count, size_t size, size_t name_offset,
                       size_t *last, const char *name)
{
    const char *base = array;
    for (size_t k = 0; k < count; k++) {
        size_t i = (*last + k) % count;
        const char *have = *(char *const *)(const void *)(base + i * size + name_offset);
        if (have && strcmp(have, name) == 0) {
            *last = i;
            return (int)i;
        }
    }
    return -1;
}

static void s_set_brand(struct parser *p, const struct slot *sl, const setting_t *s)
{
    const char *v = s_string(p, sl, s);
    if (!v)
        return;
    int i = -1;
    if (v[0]) {
        i = s_find_name(p->load->cfg->brands, p->load->cfg->brand_count, sizeof(config_brand_t),
                        offsetof(config_brand_t, name), &p->brand_last, v);
        if (i < 0) {
            config_bad(p, sl, s, "unknown brand: not in brands");
            return;
        }
    }
    *(int *)sl->field = i;
}

static void s_set_hours(struct parser *p, const struct slot *sl, const setting_t *s)
{
    config_store_t *st = sl->base;
    const char *v = s_string(p, sl, s);
    int open, close;
    if (!v)
        return;
    if (strlen(v) != 11 || v[5] != '-' || !s_clock(v, &open) || !s_clock(v + 6, &close))
        config_bad(p, sl, s, "must be \"HH:MM-HH:MM\" with times from 00:00 to 24:00");
    else if (open == 24 * 60)
        config_bad(p, sl, s, "cannot open at 24:00, write 00:00");
    else if (open == close)
        config_bad(p, sl, s,
                   "opens and closes at the same time; \"00:00-24:00\" means always open");
    else {
        st->open_minute = open;
        st->close_minute = close;
    }
}

static void s_set_clock(struct parser *p, const struct slot *sl, const setting_t *s)
{
    const char *v = s_string(p, sl, s);
    int minute;
    if (!v)
        return;
    if (strlen(v) != 5 || !s_clock(v, &minute) || minute < sl->row->min || minute > sl->row->max)
        config_bad(p, sl, s, "must be \"HH:MM\" from %02d:%02d to %02d:%02d",
                   (int)sl->row->min / 60, (int)sl->row->min % 60,
                   (int)sl->row->max / 60, (int)sl->row->max % 60);
    else
        *(int *)sl->field = minute;
}

static void s_set_location(struct parser *p, const struct slot *sl, const setting_t *s)
{
    config_store_t *st = sl->base;
    double lat, lng;
    if ((!config_setting_is_array(s) && !config_setting_is_list(s)) ||
        config_setting_length(s) != 2 || !s_number(config_setting_get_elem(s, 0), &lat) ||
        !s_number(config_setting_get_elem(s, 1), &lng)) {
        config_bad(p, sl, s, "must be [latitude, longitude], e.g. [30.27, 120.03]");
        return;
    }
    if (lat < -90 || lat > 90)
        config_report(p, s, sl->ctx, sl->key, "latitude must be between -90 and 90 (got %g)", lat);
    else if (lng < -180 || lng > 180)
        config_report(p, s, sl->ctx, sl->key, "longitude must be between -180 and 180 (got %g)",
                      lng);
    else {
        st->lat = lat;
        st->lng = lng;
    }
}

/* config_zone_exists: UTC needs no file; any other name must be a zoneinfo
 * file (TZDIR, else /usr/share/zoneinfo) that tz.c can read: a corrupt or
 * truncated file is refused here, not found at the first order. Names are
 * checked for ".." and "/" before. tz.c caches what it read, for the daemon
 * to use, behind its own lock (the store loader runs on several threads). */
bool config_zone_exists(const char *name)
{
    char why[160];
    return strcmp(name, "UTC") == 0 || tz_check(name, why, sizeof why);
}

/* config_tz_intern returns NAME's index in p->tz, adding it (and checking its
 * zoneinfo file, once) when new; -1 when out of memory. */
long config_tz_intern(struct parser *p, const char *name)
{
    if (p->tz_last < p->tz_count && strcmp(p->tz[p->tz_last], name) == 0)
        return (long)p->tz_last;
    for (size_t i = 0; i < p->tz_count; i++)
        if (strcmp(p->tz[i], name) == 0)
            return (long)(p->tz_last = i);
    if (p->tz_count == p->tz_cap) {
        size_t cap = p->tz_cap ? p->tz_cap * 2 : 16;
        char **names = realloc(p->tz, cap * sizeof *names);
        if (!names)
            return -1;
        p->tz = names;
        bool *ok = realloc(p->tz_ok, cap * sizeof *ok);
        if (!ok)
            return -1;
        p->tz_ok = ok;
        p->tz_cap = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return -1;
    p->tz_ok[p->tz_count] = config_zone_exists(name);
    p->tz[p->tz_count] = copy;
    return (long)(p->tz_last = p->tz_count++);
}

static void s_set_timezone(struct parser *p, const struct slot *sl, const setting_t *s)
{
    const char *v = s_string(p, sl, s);
    if (!v)
        return;
    if (!v[0] || v[0] == '/' || strstr(v, "..")) {
        config_bad(p, sl, s, "must be a zoneinfo name like \"Asia/Shanghai\"");
        return;
    }
    long i = config_tz_intern(p, v);
    if (i < 0)
        config_report(p, s, sl->ctx, sl->key, "out of memory");
    else if (!p->tz_ok[i])
        config_bad(p, sl, s, "unknown timezone: no file " ZONEINFO_DIR "%s", v);
    else
        *(const char **)sl->field = p->tz[i];
}

static void s_set_platforms(struct parser *p, const struct slot *sl, const setting_t *s)
{
    config_store_t *st = sl->base;
    if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
        config_bad(p, sl, s, "must be a list of platform names like [\"meituan\", \"jd\"]");
        return;
    }
    int n = config_setting_length(s);
    if (n > sl->row->max) {
        config_report(p, s, sl->ctx, sl->key, "at most %.0f platforms (got %d)", sl->row->max, n);
        return;
    }
    int count = 0;
    for (int i = 0; i < n; i++) {
        const setting_t *e = config_setting_get_elem(s, (unsigned)i);
        char key[64];
        snprintf(key, sizeof key, "%s[%d]", sl->key, i);
        struct slot esl = *sl;
        esl.key = key;
        const char *v = s_string(p, &esl, e);
        if (!v)
            continue;
        int at = s_find_name(p->load->cfg->platforms, p->load->cfg->platform_count,
                             sizeof(config_platform_t),
                             offsetof(config_platform_t, name), &p->platform_last, v);
        if (at < 0) {
            config_bad(p, &esl, e, "unknown platform: not in platforms");
            continue;
        }
        bool repeat = false;
        for (int j = 0; j < count; j++)
            repeat |= st->platforms[j] == at;
        if (repeat)
            config_bad(p, &esl, e, "platform listed twice");
        else
            st->platforms[count++] = at;
    }
    st->platform_count = count;
}

/* s_window_ranges lists the minutes of W's day it covers as up to two
 * half-open ranges (two when it runs past midnight). */
static int s_window_ranges(const config_staffing_t *w, int r[2][2])
{
    if (w->from_minute < w->to_minute) {
        r[0][0] = w->from_minute, r[0][1] = w->to_minute;
        return 1;
    }
    r[0][0] = w->from_minute, r[0][1] = 24 * 60;
    r[1][0] = 0, r[1][1] = w->to_minute;
    return 2;
}

static bool s_windows_overlap(const config_staffing_t *a, const config_staffing_t *b)
{
    int ra[2][2], rb[2][2];
    int na = s_window_ranges(a, ra), nb = s_window_ranges(b, rb);
    for (int i = 0; i < na; i++)
        for (int j = 0; j < nb; j++)
            if (ra[i][0] < rb[j][1] && rb[j][0] < ra[i][1])
                return true;
    return false;
}

static void s_set_staffing(struct parser *p, const struct slot *sl, const setting_t *s)
{
    config_store_t *st = sl->base;
    int n = config_setting_length(s);
    if (!config_setting_is_list(s) && !(config_setting_is_array(s) && n == 0)) {
        config_bad(p, sl, s,
                   "must be a list ( { from = \"HH:MM\"; to = \"HH:MM\"; prep_slots = N; }, ... )");
        return;
    }
    if (n > sl->row->max) {
        config_report(p, s, sl->ctx, sl->key, "at most %.0f windows (got %d)", sl->row->max, n);
        return;
    }
    bool ok[CONFIG_MAX_STAFFING];
    for (int i = 0; i < n; i++) {
        const setting_t *e = config_setting_get_elem(s, (unsigned)i);
        struct ctx ectx = { sl->ctx, "staffing", i };
        size_t before = p->error_count;
        if (!config_setting_is_group(e)) {
            char got[SHOW_MAX];
            config_report(p, e, &ectx, NULL,
                          "must be a group { from = ...; to = ...; prep_slots = ...; } (got %s)",
                          config_show(e, got, sizeof got));
        } else {
            config_parse_group(p, S_STAFFING, e, &st->staffing[i], &ectx);
        }
        config_staffing_t *w = &st->staffing[i];
        ok[i] = p->error_count == before;
        if (ok[i] && w->from_minute == w->to_minute) {
            config_report(p, e, &ectx, NULL, "from and to must differ (got %02d:%02d)",
                          w->from_minute / 60, w->from_minute % 60);
            ok[i] = false;
        }
        for (int j = 0; ok[i] && j < i; j++)
            if (ok[j] && s_windows_overlap(&st->staffing[j], w))
                config_report(p, e, &ectx, NULL, "overlaps staffing[%d] (got %02d:%02d-%02d:%02d)",
                              j,
                              w->from_minute / 60, w->from_minute % 60, w->to_minute / 60,
                              w->to_minute % 60);
    }
    st->staffing_count = n;
}

/* s_digits reads N decimal digits at V into *OUT. */
static bool s_digits(const char *v, int n, int *out)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return false;
        x = x * 10 + (v[i] - '0');
    }
    *out = x;
    return true;
}

/* s_days_from_civil: days from 1970-01-01 to Y-M-D (proleptic Gregorian). */
static int64_t s_days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* s_instant parses "YYYY-MM-DDTHH:MM[:SS]" followed by "Z" or "+HH:MM" /
 * "-HH:MM" into unix ms. The offset is required: a merchant's "10:00" is
 * in some zone, and the daemon must not guess which. */
static bool s_instant(const char *v, int64_t *ms)
{
    static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int y, mo, d, h, mi, sec = 0, oh = 0, om = 0;
    if (!s_digits(v, 4, &y) || v[4] != '-' || !s_digits(v + 5, 2, &mo) || v[7] != '-' ||
        !s_digits(v + 8, 2, &d) || v[10] != 'T' || !s_digits(v + 11, 2, &h) || v[13] != ':' ||
        !s_digits(v + 14, 2, &mi))
        return false;
    const char *rest = v + 16;
    if (*rest == ':') {
        if (!s_digits(rest + 1, 2, &sec))
            return false;
        rest += 3;
    }
    int sign = 0;
    if (strcmp(rest, "Z") != 0) {
        sign = rest[0] == '+' ? 1 : rest[0] == '-' ? -1 : 0;
        if (!sign || strlen(rest) != 6 || !s_digits(rest + 1, 2, &oh) || rest[3] != ':' ||
            !s_digits(rest + 4, 2, &om) || oh > 23 || om > 59)
            return false;
    }
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
        (mo == 2 && d == 29 && !leap) || h > 23 || mi > 59 || sec > 59)
        return false;
    int64_t local_s = s_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    *ms = (local_s - sign * (oh * 3600 + om * 60)) * 1000;
    return *ms > 0;
}

static void s_set_instant(struct parser *p, const struct slot *sl, const setting_t *s)
{
    const char *v = s_string(p, sl, s);
    int64_t ms = 0;
    if (!v)
        return;
    if (v[0] && !s_instant(v, &ms))
        config_bad(p, sl, s, "must be a time with its offset, \"2027-02-10T10:00:00+08:00\" "
                   "or \"2027-02-10T02:00:00Z\", after 1970, or \"\" for none");
    else
        *(int64_t *)sl->field = ms;
}

static void s_set_campaign(struct parser *p, const struct slot *sl, const setting_t *s)
{
    const char *v = s_string(p, sl, s);
    if (!v)
        return;
    size_t last = 0;
    int i = s_find_name(p->load->cfg->campaigns, p->load->cfg->campaign_count,
                        sizeof(config_campaign_t), offsetof(config_campaign_t, name), &last, v);
    if (i < 0)
        config_bad(p, sl, s, "unknown campaign: not in campaigns");
    else
        *(int *)sl->field = i;
}

static void s_set_campaigns(struct parser *p, const struct slot *sl, const setting_t *s)
{
    config_store_t *st = sl->base;
    int n = config_setting_length(s);
    if (!config_setting_is_list(s) && !(config_setting_is_array(s) && n == 0)) {
        config_bad(p, sl, s, "must be a list ( { name = \"...\"; store_share = 0.2; }, ... )");
        return;
    }
    if (n > sl->row->max) {
        config_report(p, s, sl->ctx, sl->key, "at most %.0f campaigns (got %d)", sl->row->max, n);
        return;
    }
    for (int i = 0; i < n; i++) {
        const setting_t *e = config_setting_get_elem(s, (unsigned)i);
        struct ctx ectx = { sl->ctx, "campaigns", i };
        size_t before = p->error_count;
        config_store_campaign_t *c = &st->campaigns[i];
        c->campaign = -1;
        if (!config_setting_is_group(e)) {
            char got[SHOW_MAX];
            config_report(p, e, &ectx, NULL,
                          "must be a group { name = ...; store_share = ...; } (got %s)",
                          config_show(e, got, sizeof got));
            continue;
        }
        config_parse_group(p, S_STORE_CAMPAIGN, e, c, &ectx);
        for (int j = 0; p->error_count == before && j < i; j++)
            if (st->campaigns[j].campaign == c->campaign)
                config_report(p, config_member_or(e, "name"), &ectx, "name",
                              "campaign listed twice, first as campaigns[%d] (got \"%s\")", j,
                              p->load->cfg->campaigns[c->campaign].name);
    }
    st->campaign_count = n;
}

/* s_set_shard: a store's shard by name, like its brand ("" -> -1; that
 * every store has one when there are shards is s_check_store's). */
static void s_set_shard(struct parser *p, const struct slot *sl, const setting_t *s)
{
    const char *v = s_string(p, sl, s);
    const config_t *cfg = p->load->cfg;
    if (!v)
        return;
    int i = -1;
    if (v[0]) {
        size_t last = 0;
        i = s_find_name(cfg->shards, cfg->shard_count, sizeof(config_shard_t),
                        offsetof(config_shard_t, name), &last, v);
        if (i < 0) {
            config_bad(p, sl, s, "unknown shard: not in shards");
            return;
        }
    }
    *(int *)sl->field = i;
}

static void s_set_endpoints(struct parser *p, const struct slot *sl, const setting_t *s)
{
    char **endpoints = sl->field;
    int n = config_setting_length(s);
    if ((!config_setting_is_array(s) && !config_setting_is_list(s)) || n < sl->row->min) {
        config_bad(p, sl, s, "must be a list of endpoints, [\"tcp://10.0.0.1:7400\", ...]");
        return;
    }
    if (n > sl->row->max) {
        config_report(p, s, sl->ctx, sl->key, "at most %.0f endpoints (got %d)", sl->row->max, n);
        return;
    }
    for (int i = 0; i < n; i++) {
        const setting_t *e = config_setting_get_elem(s, (unsigned)i);
        const char *v = config_setting_type(e) == CONFIG_TYPE_STRING ? config_setting_get_string(e)
                                                                      : NULL;
        if (!v || !v[0] || strlen(v) > 1024) {
            config_bad(p, sl, s, "element %d must be an endpoint string of 1..1024 characters", i);
            return;
        }
    }
    for (int i = 0; i < n; i++) {
        char *copy = strdup(config_setting_get_string(config_setting_get_elem(s, (unsigned)i)));
        if (!copy) {
            config_report(p, s, sl->ctx, sl->key, "out of memory");
            return;
        }
        free(endpoints[i]);
        endpoints[i] = copy;
    }
}

const struct kind_info config_kinds[K_COUNT] = {
    [K_INT] = { "int", s_set_int },
    [K_ID] = { "int (uint32)", s_set_id },
    [K_DOUBLE] = { "double", s_set_double },
    [K_BOOL] = { "bool", s_set_bool },
    [K_STRING] = { "string", s_set_string },
    [K_ADAPTER] = { "adapter name", s_set_adapter },
    [K_BRAND] = { "brand name", s_set_brand },
    [K_HOURS] = { "hh:mm-hh:mm hours", s_set_hours },
    [K_CLOCK] = { "hh:mm", s_set_clock },
    [K_LOCATION] = { "location [lat,lng]", s_set_location },
    [K_TIMEZONE] = { "timezone", s_set_timezone },
    [K_PLATFORMS] = { "list of platform names", s_set_platforms },
    [K_STAFFING] = { "staffing list", s_set_staffing },
    [K_INSTANT] = { "time", s_set_instant },
    [K_CAMPAIGN] = { "campaign name", s_set_campaign },
    [K_CAMPAIGNS] = { "list of campaign shares", s_set_campaigns },
    [K_SHARD] = { "shard name", s_set_shard },
    [K_ENDPOINTS] = { "list of endpoints", s_set_endpoints },
};

/* ------------------------------------------------- checks across keys */

/* s_ingress_is_local: ipc://, inproc:// or tcp:// on a loopback address,
 * where only this machine's users can reach the ingress. */
static bool s_ingress_is_local(const char *endpoint)
{
    if (strncmp(endpoint, "ipc://", 6) == 0 || strncmp(endpoint, "inproc://", 9) == 0)
        return true;
    const char *host = strncmp(endpoint, "tcp://", 6) == 0 ? endpoint + 6 : NULL;
    return host && (strncmp(host, "127.", 4) == 0 || strncmp(host, "localhost:", 10) == 0 ||
                    strncmp(host, "[::1]:", 6) == 0);
}

/* s_check_curve: a network-facing ingress needs CURVE, and its key files
 * must read cleanly now, so that --check-config catches what a start would. */
static void s_check_curve(struct parser *p, const setting_t *grp, const struct ctx *ctx,
                          const config_daemon_t *d)
{
    bool secret = d->curve_secret_key_file && d->curve_secret_key_file[0];
    bool clients = d->curve_client_keys_file && d->curve_client_keys_file[0];
    const setting_t *curve = grp ? config_setting_get_member(grp, "curve") : NULL;
    if (secret != clients) {
        config_report(p, curve ? curve : grp, ctx, "curve",
                      "set both secret_key_file and client_keys_file, or neither");
        return;
    }
    if (!secret) {
        if (!s_ingress_is_local(d->ingress))
            config_report(p, config_member_or(grp, "ingress"), ctx, "ingress",
                          "%s is reachable from the network: set curve.secret_key_file and "
                          "curve.client_keys_file, or bind to 127.0.0.1 or ipc://", d->ingress);
        return;
    }
    char key[CURVE_KEY_TEXT + 1], why[600];
    uint8_t (*keys)[32] = NULL;
    size_t count = 0;
    if (!curve_read_secret(d->curve_secret_key_file, key, why, sizeof why))
        config_report(p, curve, ctx, "curve.secret_key_file", "%s", why);
    if (!curve_read_clients(d->curve_client_keys_file, &keys, &count, why, sizeof why))
        config_report(p, curve, ctx, "curve.client_keys_file", "%s", why);
    free(keys);
    memset(key, 0, sizeof key);
}

/* s_check_password: a password in the connection string is only allowed in
 * a file other users cannot read (libpq's service file or PGPASSFILE are
 * the better places). */
static void s_check_password(struct parser *p, const setting_t *grp, const struct ctx *ctx,
                             const config_daemon_t *d)
{
    const char *db = d->database ? d->database : "";
    bool uri = strncmp(db, "postgresql://", 13) == 0 || strncmp(db, "postgres://", 11) == 0;
    const char *at = uri ? strchr(db, '@') : NULL;
    const char *userinfo = uri ? strchr(db, ':') + 1 : NULL;  /* after the scheme's ':' */
    bool has = strstr(db, "password=") != NULL ||
               (at && memchr(userinfo, ':', (size_t)(at - userinfo)) != NULL);
    if (!has)
        return;
    const setting_t *member = config_member_or(grp, "database");
    char name[PATH_MAX];
    const char *file = config_file_name(p, member ? config_setting_source_file(member) : NULL, name,
                                        sizeof name);
    struct stat st;
    if (stat(file, &st) == 0 && (st.st_mode & S_IROTH))
        config_report(p, member, ctx, "database",
                      "holds a password but %s is readable by every user; chmod o-r %s, or move "
                      "the password to PGPASSFILE or a libpq service file", file, file);
}

/* s_check_control: the control sockets have no CURVE, so they must stay
 * on this machine, and the group named for the write socket must exist. */
static void s_check_control(struct parser *p, const setting_t *grp, const struct ctx *ctx,
                            const config_daemon_t *d)
{
    if (d->control && !s_ingress_is_local(d->control))
        config_report(p, config_member_or(grp, "control"), ctx, "control",
                      "%s is reachable from the network: use ipc:// or a loopback address", d->control);
    const char *ro = d->control_readonly ? d->control_readonly : "";
    if (ro[0] && strcmp(ro, "none") != 0) {
        if (!s_ingress_is_local(ro))
            config_report(p, config_member_or(grp, "control_readonly"), ctx, "control_readonly",
                          "%s is reachable from the network: use ipc:// or a loopback address", ro);
        else if (d->control && strcmp(ro, d->control) == 0)
            config_report(p, config_member_or(grp, "control_readonly"), ctx, "control_readonly",
                          "must differ from control (%s)", d->control);
    }
    if (d->control_group && d->control_group[0] && getgrnam(d->control_group) == NULL)
        config_report(p, config_member_or(grp, "control_group"), ctx, "control_group",
                      "no group \"%s\" on this machine", d->control_group);
}

/* s_check_shard_of: the daemon's shard and node names, and its shard one
 * of shards when there are shards (parsed before the daemon section). */
static void s_check_shard_of(struct parser *p, const setting_t *grp, const struct ctx *ctx,
                             const config_daemon_t *d)
{
    const config_t *cfg = p->load->cfg;
    if (d->shard[0] && !order_id_valid(d->shard))
        config_report(p, config_member_or(grp, "shard"), ctx, "shard",
                      "only letters, digits and . _ : - are allowed (got \"%s\")", d->shard);
    if (d->node[0] && !order_id_valid(d->node))
        config_report(p, config_member_or(grp, "node"), ctx, "node",
                      "only letters, digits and . _ : - are allowed (got \"%s\")", d->node);
    if (cfg->shard_count == 0)
        return;
    size_t last = 0;
    if (!d->shard[0])
        config_report(p, config_member_or(grp, "shard"), ctx, "shard",
                      "required when shards is set: the shard this node serves");
    else if (s_find_name(cfg->shards, cfg->shard_count, sizeof(config_shard_t),
                         offsetof(config_shard_t, name), &last, d->shard) < 0)
        config_report(p, config_member_or(grp, "shard"), ctx, "shard",
                      "unknown shard: not in shards (got \"%s\")", d->shard);
}

static void s_check_daemon(struct parser *p, const setting_t *grp, const struct ctx *ctx,
                           void *array, size_t index)
{
    const config_daemon_t *d = array;
    (void)index;
    s_check_shard_of(p, grp, ctx, d);
    if (d->reconnect_min_ms > d->reconnect_max_ms)
        config_report(p, config_member_or(grp, "reconnect_min_ms"), ctx, "reconnect_min_ms",
                      "must not exceed reconnect_max_ms %d (got %d)", d->reconnect_max_ms,
                      d->reconnect_min_ms);
    s_check_curve(p, grp, ctx, d);
    s_check_password(p, grp, ctx, d);
    s_check_control(p, grp, ctx, d);
}

/* s_check_unique_name reports element INDEX of a list of structs (STRIDE
 * bytes each, a char *name at NAME_OFFSET) when an earlier one has its name. */
static void s_check_unique_name(struct parser *p, const setting_t *grp, const struct ctx *ctx,
                                const char *kind, const void *array, size_t stride,
                                size_t name_offset, size_t index)
{
    const char *base = array;
    const char *name = *(char *const *)(base + index * stride + name_offset);
    for (size_t j = 0; j < index && name; j++) {
        const char *other = *(char *const *)(base + j * stride + name_offset);
        if (!other || strcmp(other, name) != 0)
            continue;
        char what[128];
        snprintf(what, sizeof what, "%s \"%s\"", kind, name);
        config_duplicate(p, config_member_or(grp, "name"), ctx, "name", what,
                         config_setting_get_elem(config_setting_parent(grp), (unsigned)j));
        return;
    }
}

static void s_check_brand(struct parser *p, const setting_t *grp, const struct ctx *ctx,
                          void *array, size_t index)
{
    config_brand_t *brands = array;
    brands[index].line = (int)config_line(p, grp);
    s_check_unique_name(p, grp, ctx, "brand", array, sizeof *brands,
                        offsetof(config_brand_t, name), index);
}

static void s_check_platform(struct parser *p, const setting_t *grp, const struct ctx *ctx,
                             void *array, size_t index)
{
    config_platform_t *platforms = array;
    platforms[index].line = (int)config_line(p, grp);
    s_check_unique_name(p, grp, ctx, "platform", array, sizeof *platforms,
                        offsetof(config_platform_t, name), index);
}

static void s_check_campaign(struct parser *p, const setting_t *grp, const struct ctx *ctx,
                             void *array, size_t index)
{
    config_campaign_t *campaigns = array, *c = &campaigns[index];
    c->line = (int)config_line(p, grp);
    if (!order_id_valid(c->name))
        config_report(p, config_member_or(grp, "name"), ctx, "name",
                      "only letters, digits and . _ : - are allowed, as in SubmitOrder.campaign "
                      "(got \"%s\")", c->name);
    if (c->starts_ms && c->ends_ms && c->ends_ms <= c->starts_ms)
        config_report(p, config_member_or(grp, "ends"), ctx, "ends", "must be after starts");
    s_check_unique_name(p, grp, ctx, "campaign", array, sizeof *campaigns,
                        offsetof(config_campaign_t, name), index);
}

static void s_check_shard(struct parser *p, const setting_t *grp, const struct ctx *ctx,
                          void *array, size_t index)
{
    config_shard_t *shards = array, *sh = &shards[index];
    sh->line = (int)config_line(p, grp);
    if (!order_id_valid(sh->name))
        config_report(p, config_member_or(grp, "name"), ctx, "name",
                      "only letters, digits and . _ : - are allowed (got \"%s\")", sh->name);
    s_check_unique_name(p, grp, ctx, "shard", array, sizeof *shards,
                        offsetof(config_shard_t, name), index);
}

/* s_check_store: with shards, each store belongs to one (parsed on the
 * store loader's threads: it reads only what the load shares). */
static void s_check_store(struct parser *p, const setting_t *grp, const struct ctx *ctx,
                          void *array, size_t index)
{
    const config_store_t *st = (const config_store_t *)array + index;
    if (p->load->cfg->shard_count > 0 && st->shard < 0)
        config_report(p, grp, ctx, "shard",
                      "required when shards is set: the shard that owns the store");
}

/* config_free_strings frees the strings that the rows of SID own in BASE. */
void config_free_strings(enum scope_id sid, void *base)
{
    const struct scope *sc = &config_scopes[sid];
    for (size_t i = 0; i < sc->row_count; i++) {
        char **field = (void *)((char *)base + sc->rows[i].offset);
        if (sc->rows[i].kind == K_STRING || sc->rows[i].kind == K_ADAPTER) {
            free(*field);
            *field = NULL;
        } else if (sc->rows[i].kind == K_ENDPOINTS) {
            for (size_t k = 0; field[k]; k++) {
                free(field[k]);
                field[k] = NULL;
            }
        }
    }
}
