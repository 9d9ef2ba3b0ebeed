/* load.c - owns sluice-load, the open-loop load generator for the ingress wire contract:
 * SubmitOrder (a share of them for a campaign), or QueryAvailability of many stores. */
#include "clock.h"
#include "proto/sluice.pb-c.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define EXIT_USAGE 1
#define EXIT_LOST 2

#define ID_MAX 64            /* wire contract: order_id 1..64 chars */
#define ITEMS_MAX 50         /* wire contract: 1..50 items */
#define PACK_BYTES 8192      /* a worst-case SubmitOrder is ~820 bytes, a QueryAvailability of
                              * 1,000 stores ~5,100; checked at start */
#define QUERY_STORES_MAX 1000 /* wire contract: QueryAvailability.store_ids per request */
#define HWM 100000
#define RECV_BATCH 1024      /* replies taken from one socket before the schedule is looked at again */
#define ARENA_BYTES 65536    /* one decoded Reply; larger ones spill to malloc */
#define SWEEP_US 1000000     /* every socket is drained at least this often, whatever poll said */
#define MIN_EXPIRE_MS 1000   /* an in-flight request holds its window slot at least this long */
#define REASON_SLOTS 16      /* Reason values counted by name; larger ones go to "other" */
#define MAX_SEND_RATE 1e7    /* bounds the id length check when neither rate nor count bounds it */

/* Latency histogram, log-linear: values below HIST_LINEAR microseconds are exact,
 * above that every power of two is split into HIST_SUB buckets, so a reported
 * percentile is within 1/256 (0.4%) of the true value at any magnitude. */
#define HIST_SUB_BITS 7
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_LINEAR (2u * HIST_SUB)
#define HIST_BUCKETS (HIST_LINEAR + (64u - HIST_SUB_BITS - 1u) * HIST_SUB)

typedef struct {
    const char *endpoint;
    uint32_t connections;
    double rate;              /* orders/s over all sockets; 0 = as fast as the windows allow */
    double duration_s;        /* 0 = no time limit (only --count given) */
    uint64_t count;           /* 0 = no count limit */
    uint32_t window;
    uint32_t store_lo, store_hi;
    uint32_t items;
    double dropoff_lat, dropoff_lng;
    double dropoff_km;        /* 0: every order to the dropoff point; else spread within it */
    char prefix[ID_MAX + 1];
    uint64_t timeout_ms;
    bool json;
    const char *campaign;     /* SubmitOrder.campaign of a share of the orders; NULL: none */
    double campaign_share;    /* that share, 0..1 */
    uint32_t query_stores;    /* not 0: QueryAvailability of this many stores instead */
} options_t;

typedef struct {
    uint64_t counts[HIST_BUCKETS];
    uint64_t n, min, max;
    double sum;
} hist_t;

/* The reusable request: one set of structs and one buffer, refilled per order. */
typedef struct {
    Sluice__V1__Request req;
    Sluice__V1__SubmitOrder submit;
    Sluice__V1__Geo dropoff;
    Sluice__V1__Item item[ITEMS_MAX];
    Sluice__V1__Item *item_ptr[ITEMS_MAX];
    Sluice__V1__QueryAvailability query;
    uint32_t query_ids[QUERY_STORES_MAX];
    char sku[ITEMS_MAX][16];
    char id[ID_MAX + 32];     /* room for any seq; the run's ids are checked to fit ID_MAX */
    size_t id_stem;           /* id[0 .. id_stem) holds "<prefix>-" */
    uint8_t buf[PACK_BYTES];
} order_t;

enum { SLOT_FREE, SLOT_OUTSTANDING, SLOT_EXPIRED, SLOT_ANSWERED };

/* Per-request state; request_id == seq, and seq lives at slots[seq & (cap - 1)]. */
typedef struct {
    uint64_t due_us;          /* when the schedule wanted it sent: latency starts here */
    uint64_t sent_us;         /* when it was sent: in-flight expiry starts here */
    uint32_t conn;
    uint32_t state;
} slot_t;

typedef struct {
    void *sock;
    int fd;                   /* ZMQ_FD: readable when the socket's state may have changed */
    uint32_t inflight;
    bool blocked;             /* last send hit EAGAIN: not connected, or HWM full */
    bool dirty;               /* touched since its last EAGAIN: may hold replies poll won't report */
} conn_t;

/* Bump allocator for decoding replies, so a reply costs no malloc. */
typedef struct {
    unsigned char *buf;
    size_t used;
    size_t spilled;
} arena_t;

typedef struct {
    uint64_t offered, sent, replies, accepted, duplicates, rejected, errors;
    uint64_t answers;         /* Availability replies (--query-stores) */
    uint64_t campaign_sent, campaign_accepted;   /* of the orders for --campaign */
    uint64_t late;            /* replies that came after their request expired in flight */
    uint64_t stray;           /* replies whose request_id matches nothing outstanding */
    uint64_t reasons[REASON_SLOTS];
    uint64_t reason_other;
} tally_t;

typedef struct {
    options_t opt;
    void *ctx;
    conn_t *conns;
    struct pollfd *pfds;      /* one per conn, on its ZMQ_FD */
    uint32_t rr;
    uint64_t sweep_at;
    slot_t *slots;
    uint64_t cap;             /* power of two */
    uint64_t next_seq;        /* seq of the next order; ids start at 1 */
    uint64_t tail;            /* oldest seq that may still be outstanding */
    uint64_t outstanding;     /* sent, unanswered, not expired */
    uint64_t expired;         /* sent, unanswered, expired from its window */
    uint64_t max_orders;      /* UINT64_MAX = unbounded */
    double interval_us;
    uint64_t expire_us;
    uint64_t start_us, end_us, first_send_us, last_reply_us;
    uint64_t deadline_us;     /* start + --duration, 0 = none */
    uint64_t sched_end_us;    /* paced: when the slot after the last order begins, 0 = none */
    order_t order;
    arena_t arena;
    ProtobufCAllocator alloc;
    zmq_msg_t msg;
    tally_t t;
    hist_t all, acc, rej;      /* every reply; accepted only; rejected only */
    bool fatal;
} gen_t;

static volatile sig_atomic_t s_interrupts;

static void s_on_signal(int sig)
{
    (void)sig;
    s_interrupts++;
}

/* ---- options ---- */

static void s_usage(FILE *out)
{
    fputs("usage: sluice-load [options]\n"
          "Offers SubmitOrder requests to sluiced's ingress on N pipelined DEALER sockets\n"
          "and reports acks, rejections and ack latency measured from each order's due time.\n"
          "\n"
          "  --endpoint E       ingress endpoint (default tcp://127.0.0.1:7400)\n"
          "  --connections N    DEALER sockets (default 8)\n"
          "  --rate R           offered orders/s over all sockets, open loop; 0 = as fast as\n"
          "                     the windows allow (default 0)\n"
          "  --duration S       seconds to offer load (default 10 unless --count is given)\n"
          "  --count N          total orders; with --duration, whichever ends first\n"
          "  --window W         max in-flight requests per socket (default 256)\n"
          "  --stores A-B       store ids, spread uniformly (default 1001-1001)\n"
          "  --items K          items per order, 1..50 (default 2)\n"
          "  --dropoff LAT,LNG[,KM]  where orders go (default 30.28,120.15); with KM, each\n"
          "                     order's dropoff is spread uniformly within KM km of it, by a\n"
          "                     hash of i (riders of a simulator then wait all over the area\n"
          "                     instead of piling up at one point)\n"
          "  --prefix P         order_id prefix; ids are P-<seq> (default load-<pid>-<unixtime>)\n"
          "  --timeout-ms T     wait at most T ms for replies after offering stops (default 5000);\n"
          "                     while offering, a request unanswered for T ms (at least 1 s)\n"
          "                     gives its window slot back; a reply before the run ends still counts\n"
          "  --campaign NAME    orders carry SubmitOrder.campaign NAME (a campaign of the config)\n"
          "  --campaign-share F the share of orders that carry it, 0..1, by a hash of the order's\n"
          "                     number (default 1)\n"
          "  --query-stores N   send QueryAvailability for N stores (1..1000) of --stores instead\n"
          "                     of orders, with --campaign when given; latency is its round trip\n"
          "  --json             print the summary as one JSON object\n"
          "  --help\n"
          "\n"
          "Latency runs from each order's due time (order i at start + (i-1)/R), not its\n"
          "send time, so queueing behind a full window is counted. Order i has id P-i and a\n"
          "store picked by a hash of i: rerunning with the same --prefix resubmits identical\n"
          "orders, which the daemon must answer as duplicates.\n"
          "\n"
          "Ends with one line: RESULT sent=.. replies=.. accepted=.. rejected=.. overloaded=..\n"
          "unavailable=.. lost=.. accepted_per_s=.. replies_per_s=.. p50_ms=.. p90_ms=.. p99_ms=..\n"
          "p999_ms=.. max_ms=.. elapsed_s=.. rejected_p50_ms=.. rejected_p99_ms=.. busy=..\n"
          "campaign_limit=.. campaign_accepted=.. answers=..\n"
          "Exit status: 0 run completed, 1 usage or connection error, 2 a request got no reply.\n",
          out);
}

static bool s_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (s[0] < '0' || s[0] > '9')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool s_parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
    uint64_t v;
    if (!s_parse_u64(s, lo, hi, &v))
        return false;
    *out = (uint32_t)v;
    return true;
}

static bool s_parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < 0)
        return false;
    *out = v;
    return true;
}

/* s_parse_dropoff accepts "LAT,LNG" or "LAT,LNG,KM" (KM 0..100), a valid
 * WGS84 point. */
static bool s_parse_dropoff(const char *s, options_t *o)
{
    char *end;
    errno = 0;
    double lat = strtod(s, &end);
    if (errno != 0 || end == s || *end != ',')
        return false;
    const char *p = end + 1;
    double lng = strtod(p, &end);
    if (errno != 0 || end == p || (*end != ',' && *end != '\0'))
        return false;
    double km = 0;
    if (*end == ',' && (!s_parse_double(end + 1, &km) || km > 100))
        return false;
    if (!(lat >= -90 && lat <= 90 && lng >= -180 && lng <= 180))
        return false;
    o->dropoff_lat = lat;
    o->dropoff_lng = lng;
    o->dropoff_km = km;
    return true;
}

/* s_parse_stores accepts "A-B" or a single id "A". */
static bool s_parse_stores(const char *s, uint32_t *lo, uint32_t *hi)
{
    char buf[64];
    if (strlen(s) >= sizeof buf)
        return false;
    strcpy(buf, s);
    char *dash = strchr(buf, '-');
    if (dash != NULL)
        *dash = '\0';
    if (!s_parse_u32(buf, 0, UINT32_MAX, lo))
        return false;
    if (dash == NULL) {
        *hi = *lo;
        return true;
    }
    return s_parse_u32(dash + 1, 0, UINT32_MAX, hi) && *lo <= *hi;
}

static bool s_id_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == ':' || c == '-';
}

static unsigned s_digits(uint64_t v)
{
    unsigned n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* s_max_seq bounds the largest seq the run can reach, to check the id length up front. */
static uint64_t s_max_seq(const options_t *o)
{
    double bound = o->count > 0 ? (double)o->count : 1e19;
    if (o->duration_s > 0) {
        double by_time = ceil(o->duration_s * (o->rate > 0 ? o->rate : MAX_SEND_RATE));
        bound = fmin(bound, by_time);
    }
    return bound >= 1.8e19 ? UINT64_MAX : (uint64_t)bound;
}

static bool s_check_prefix(const options_t *o)
{
    size_t len = strlen(o->prefix);
    for (size_t i = 0; i < len; i++) {
        if (!s_id_char((unsigned char)o->prefix[i])) {
            fprintf(stderr, "sluice-load: --prefix may only contain [A-Za-z0-9._:-]\n");
            return false;
        }
    }
    unsigned digits = s_digits(s_max_seq(o));
    if (len == 0 || len + 1 + digits > ID_MAX) {
        fprintf(stderr, "sluice-load: --prefix must be 1..%u chars so that P-<seq> fits in %d\n",
                ID_MAX - 1 - digits, ID_MAX);
        return false;
    }
    return true;
}

static void s_options_default(options_t *o)
{
    *o = (options_t){
        .endpoint = "tcp://127.0.0.1:7400",
        .connections = 8,
        .window = 256,
        .store_lo = 1001,
        .store_hi = 1001,
        .items = 2,
        .dropoff_lat = 30.28,
        .dropoff_lng = 120.15,
        .timeout_ms = 5000,
        .campaign_share = 1,
    };
    snprintf(o->prefix, sizeof o->prefix, "load-%ld-%lld", (long)getpid(), (long long)time(NULL));
}

enum { O_ENDPOINT = 256, O_CONN, O_RATE, O_DUR, O_COUNT, O_WIN, O_STORES, O_ITEMS,
       O_DROPOFF, O_PREFIX, O_TIMEOUT, O_JSON, O_CAMPAIGN, O_CAMPAIGN_SHARE, O_QUERY, O_HELP };

static const struct option s_longopts[] = {
    {"endpoint", required_argument, NULL, O_ENDPOINT},
    {"connections", required_argument, NULL, O_CONN},
    {"rate", required_argument, NULL, O_RATE},
    {"duration", required_argument, NULL, O_DUR},
    {"count", required_argument, NULL, O_COUNT},
    {"window", required_argument, NULL, O_WIN},
    {"stores", required_argument, NULL, O_STORES},
    {"items", required_argument, NULL, O_ITEMS},
    {"dropoff", required_argument, NULL, O_DROPOFF},
    {"prefix", required_argument, NULL, O_PREFIX},
    {"timeout-ms", required_argument, NULL, O_TIMEOUT},
    {"json", no_argument, NULL, O_JSON},
    {"campaign", required_argument, NULL, O_CAMPAIGN},
    {"campaign-share", required_argument, NULL, O_CAMPAIGN_SHARE},
    {"query-stores", required_argument, NULL, O_QUERY},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

/* s_apply_option stores one option's value; false if the value is out of range. */
static bool s_apply_option(int c, const char *arg, options_t *o)
{
    switch (c) {
    case O_ENDPOINT:
        o->endpoint = arg;
        return true;
    case O_CONN:
        return s_parse_u32(arg, 1, 4096, &o->connections);
    case O_RATE:
        return s_parse_double(arg, &o->rate);
    case O_DUR:
        return s_parse_double(arg, &o->duration_s) && o->duration_s > 0;
    case O_COUNT:
        return s_parse_u64(arg, 1, UINT64_MAX / 2, &o->count);
    case O_WIN:
        return s_parse_u32(arg, 1, 1000000, &o->window);
    case O_STORES:
        return s_parse_stores(arg, &o->store_lo, &o->store_hi);
    case O_ITEMS:
        return s_parse_u32(arg, 1, ITEMS_MAX, &o->items);
    case O_DROPOFF:
        return s_parse_dropoff(arg, o);
    case O_PREFIX:
        if (strlen(arg) > ID_MAX)
            return false;
        strcpy(o->prefix, arg);
        return true;
    case O_TIMEOUT:
        return s_parse_u64(arg, 0, 86400000, &o->timeout_ms);
    case O_JSON:
        o->json = true;
        return true;
    case O_CAMPAIGN:
        for (const char *p = arg; *p; p++)
            if (!s_id_char((unsigned char)*p))
                return false;
        o->campaign = arg;
        return arg[0] != '\0' && strlen(arg) <= ID_MAX;
    case O_CAMPAIGN_SHARE:
        return s_parse_double(arg, &o->campaign_share) && o->campaign_share <= 1;
    case O_QUERY:
        return s_parse_u32(arg, 1, QUERY_STORES_MAX, &o->query_stores);
    default:
        return false;
    }
}

/* s_parse_options returns false on a usage error (already reported); *help is set for --help. */
static bool s_parse_options(int argc, char **argv, options_t *o, bool *help)
{
    bool have_duration = false;
    int c;
    s_options_default(o);
    *help = false;
    while ((c = getopt_long(argc, argv, "h", s_longopts, NULL)) != -1) {
        if (c == 'h' || c == O_HELP) {
            *help = true;
            return true;
        }
        if (c < O_ENDPOINT || c > O_HELP)
            return false;   /* getopt already said what was wrong */
        if (!s_apply_option(c, optarg, o)) {
            fprintf(stderr, "sluice-load: bad value for --%s: '%s'\n",
                    s_longopts[c - O_ENDPOINT].name, optarg != NULL ? optarg : "");
            return false;
        }
        have_duration |= c == O_DUR;
    }
    if (optind < argc) {
        fprintf(stderr, "sluice-load: unexpected argument '%s'\n", argv[optind]);
        return false;
    }
    if (!have_duration && o->count == 0)
        o->duration_s = 10;
    return s_check_prefix(o);
}

/* ---- histogram ---- */

static uint32_t s_hist_bucket(uint64_t v)
{
    if (v < HIST_LINEAR)
        return (uint32_t)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);   /* e >= HIST_SUB_BITS + 1 */
    uint64_t m = v >> (e - HIST_SUB_BITS);               /* in [HIST_SUB, 2 * HIST_SUB) */
    return HIST_LINEAR + (e - HIST_SUB_BITS - 1u) * HIST_SUB + (uint32_t)(m - HIST_SUB);
}

/* s_hist_value returns the middle of bucket b, halving the worst-case error. */
static uint64_t s_hist_value(uint32_t b)
{
    if (b < HIST_LINEAR)
        return b;
    uint32_t j = b - HIST_LINEAR;
    unsigned shift = j / HIST_SUB + 1u;
    uint64_t lo = (uint64_t)(HIST_SUB + j % HIST_SUB) << shift;
    return lo + ((1ull << shift) - 1u) / 2u;
}

static void s_hist_record(hist_t *h, uint64_t v)
{
    h->counts[s_hist_bucket(v)]++;
    if (h->n == 0 || v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    h->n++;
    h->sum += (double)v;
}

/* s_hist_percentile returns microseconds at fraction p (0..1], clamped to the exact min/max. */
static uint64_t s_hist_percentile(const hist_t *h, double p)
{
    if (h->n == 0)
        return 0;
    if (p >= 1.0)
        return h->max;
    uint64_t rank = (uint64_t)ceil(p * (double)h->n);
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (uint32_t b = 0; b < HIST_BUCKETS; b++) {
        seen += h->counts[b];
        if (seen >= rank) {
            uint64_t v = s_hist_value(b);
            return v < h->min ? h->min : v > h->max ? h->max : v;
        }
    }
    return h->max;
}

/* ---- the reusable order ---- */

static void s_order_init(order_t *o, const options_t *opt)
{
    o->req = (Sluice__V1__Request)SLUICE__V1__REQUEST__INIT;
    o->submit = (Sluice__V1__SubmitOrder)SLUICE__V1__SUBMIT_ORDER__INIT;
    o->dropoff = (Sluice__V1__Geo)SLUICE__V1__GEO__INIT;
    o->dropoff.lat = opt->dropoff_lat;
    o->dropoff.lng = opt->dropoff_lng;
    for (uint32_t i = 0; i < opt->items; i++) {
        o->item[i] = (Sluice__V1__Item)SLUICE__V1__ITEM__INIT;
        snprintf(o->sku[i], sizeof o->sku[i], "sku-%u", i + 1);
        o->item[i].sku = o->sku[i];
        o->item[i].quantity = 1;
        o->item_ptr[i] = &o->item[i];
    }
    o->submit.n_items = opt->items;
    o->submit.items = o->item_ptr;
    o->submit.dropoff = &o->dropoff;
    o->submit.order_id = o->id;
    o->req.body_case = SLUICE__V1__REQUEST__BODY_SUBMIT;
    o->req.submit = &o->submit;
    o->id_stem = (size_t)snprintf(o->id, sizeof o->id, "%s-", opt->prefix);
    if (opt->query_stores > 0) {
        o->query = (Sluice__V1__QueryAvailability)SLUICE__V1__QUERY_AVAILABILITY__INIT;
        o->query.n_store_ids = opt->query_stores;
        o->query.store_ids = o->query_ids;
        o->query.campaign = (char *)(opt->campaign ? opt->campaign : "");
        o->req.body_case = SLUICE__V1__REQUEST__BODY_QUERY_AVAILABILITY;
        o->req.query_availability = &o->query;
    }
}

/* s_mix: a hash of SEQ with SALT, the same on every run. */
static uint64_t s_mix(uint64_t seq, uint64_t salt)
{
    uint64_t z = seq + salt;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* s_for_campaign: does order SEQ carry --campaign? A hash, not a random
 * stream, so a rerun builds the same orders. */
static bool s_for_campaign(const options_t *o, uint64_t seq)
{
    return o->campaign != NULL &&
           (double)(s_mix(seq, 0x5eedca3a19f00dull) % 1000000u) < o->campaign_share * 1e6;
}

/* s_query_set asks about the --query-stores stores of the range from STORE on. */
static void s_query_set(order_t *o, const options_t *opt, uint32_t store)
{
    uint64_t span = (uint64_t)opt->store_hi - opt->store_lo + 1u;
    for (uint32_t i = 0; i < opt->query_stores; i++)
        o->query_ids[i] = opt->store_lo + (uint32_t)(((uint64_t)(store - opt->store_lo) + i) % span);
}

/* s_order_set writes P-<seq> without printf: this runs once per order. */
static void s_order_set(order_t *o, uint64_t seq, uint32_t store, uint64_t created_ms)
{
    char rev[20];
    size_t n = 0;
    do {
        rev[n++] = (char)('0' + seq % 10);
        seq /= 10;
    } while (seq > 0 && n < sizeof rev);
    char *p = o->id + o->id_stem;
    while (n > 0)
        *p++ = rev[--n];
    *p = '\0';
    o->submit.store_id = store;
    o->submit.created_at_ms = created_ms;
}

static size_t s_order_pack(order_t *o, uint64_t seq)
{
    o->req.request_id = seq;
    return protobuf_c_message_pack(&o->req.base, o->buf);
}

/* s_order_fits checks that the largest order this run can build fits the pack buffer. */
static bool s_order_fits(order_t *o, const options_t *opt)
{
    s_order_set(o, UINT64_MAX, UINT32_MAX, UINT64_MAX);
    o->submit.campaign = (char *)(opt->campaign ? opt->campaign : "");
    for (uint32_t i = 0; i < opt->query_stores; i++)
        o->query_ids[i] = UINT32_MAX;
    o->req.request_id = UINT64_MAX;
    size_t need = protobuf_c_message_get_packed_size(&o->req.base);
    if (need > sizeof o->buf) {
        fprintf(stderr, "sluice-load: an order needs %zu bytes, buffer holds %zu\n", need,
                sizeof o->buf);
        return false;
    }
    return true;
}

/* s_store_for spreads seqs over the store range by a hash of seq, not a random
 * stream: a rerun with the same --prefix rebuilds identical orders, so the
 * daemon answers duplicate=true rather than CONFLICT. */
static uint32_t s_store_for(const options_t *o, uint64_t seq)
{
    uint64_t z = s_mix(seq, 0x9e3779b97f4a7c15ull);
    uint64_t span = (uint64_t)o->store_hi - o->store_lo + 1u;
    return o->store_lo + (uint32_t)(z % span);
}

/* s_dropoff_for places order SEQ's dropoff uniformly within dropoff_km of
 * the dropoff point, by a hash of SEQ (a rerun builds the same orders). */
static void s_dropoff_for(const options_t *o, uint64_t seq, Sluice__V1__Geo *at)
{
    if (o->dropoff_km <= 0)
        return;
    uint64_t z = s_mix(seq, 0x5bd1e9955bd1e995ull);
    double u = (double)(z >> 40) / 16777216.0, v = (double)(z & 0xffffffu) / 16777216.0;
    double r = o->dropoff_km * sqrt(u), angle = 2 * M_PI * v;
    double km_per_deg_lat = 111.195;
    double km_per_deg_lng = km_per_deg_lat * fmax(cos(o->dropoff_lat * M_PI / 180), 1e-6);
    /* Clamped into WGS84's range: near a pole or the date line the spread is lopsided. */
    at->lat = fmin(fmax(o->dropoff_lat + r * sin(angle) / km_per_deg_lat, -90), 90);
    at->lng = fmin(fmax(o->dropoff_lng + r * cos(angle) / km_per_deg_lng, -180), 180);
}

/* ---- reply decoding ---- */

static void *s_arena_alloc(void *data, size_t size)
{
    arena_t *a = data;
    size_t need = (size + 15u) & ~(size_t)15u;
    if (need > ARENA_BYTES - a->used) {
        a->spilled++;
        return malloc(size);
    }
    void *p = a->buf + a->used;
    a->used += need;
    return p;
}

static void s_arena_free(void *data, void *p)
{
    arena_t *a = data;
    unsigned char *c = p;
    if (c >= a->buf && c < a->buf + ARENA_BYTES)
        return;
    free(p);
}

/* s_reply_release forgets a decoded reply; only spilled parts need a real free. */
static void s_reply_release(gen_t *g, Sluice__V1__Reply *reply)
{
    if (reply != NULL && g->arena.spilled > 0)
        sluice__v1__reply__free_unpacked(reply, &g->alloc);
    g->arena.used = 0;
    g->arena.spilled = 0;
}

/* ---- per-request ring ---- */

static slot_t *s_slot(gen_t *g, uint64_t seq)
{
    return &g->slots[seq & (g->cap - 1)];
}

/* s_ring_grow doubles the ring, rehoming every seq it can still recognise. */
static bool s_ring_grow(gen_t *g)
{
    uint64_t cap = g->cap * 2;
    slot_t *slots = calloc(cap, sizeof *slots);
    if (slots == NULL) {
        fprintf(stderr, "sluice-load: failed to grow the request ring to %" PRIu64 "\n", cap);
        return false;
    }
    uint64_t first = g->next_seq > g->cap ? g->next_seq - g->cap : 1;
    for (uint64_t seq = first; seq < g->next_seq; seq++)
        slots[seq & (cap - 1)] = *s_slot(g, seq);
    free(g->slots);
    g->slots = slots;
    g->cap = cap;
    return true;
}

/* s_find returns seq's slot if seq is recent enough to still be in the ring. */
static slot_t *s_find(gen_t *g, uint64_t seq)
{
    if (seq == 0 || seq >= g->next_seq || g->next_seq - seq > g->cap)
        return NULL;
    return s_slot(g, seq);
}

/* s_retire advances the tail past answered requests and, while offering,
 * expires requests unanswered for expire_us so a lost request (a daemon
 * restart drops what was in the pipe) does not hold its window slot forever
 * and the ring stays bounded by rate x timeout. */
static void s_retire(gen_t *g, uint64_t now)
{
    while (g->tail < g->next_seq) {
        slot_t *s = s_slot(g, g->tail);
        if (s->state == SLOT_OUTSTANDING) {
            if (now < s->sent_us + g->expire_us)
                return;
            s->state = SLOT_EXPIRED;
            g->conns[s->conn].inflight--;
            g->outstanding--;
            g->expired++;
        }
        g->tail++;
    }
}

/* ---- sockets ---- */

static bool s_set_int(void *sock, int opt, int value, const char *name)
{
    if (zmq_setsockopt(sock, opt, &value, sizeof value) == 0)
        return true;
    fprintf(stderr, "sluice-load: failed to set %s: %s\n", name, zmq_strerror(errno));
    return false;
}

static bool s_conn_open(gen_t *g, conn_t *c)
{
    c->sock = zmq_socket(g->ctx, ZMQ_DEALER);
    if (c->sock == NULL) {
        fprintf(stderr, "sluice-load: failed to create a socket: %s\n", zmq_strerror(errno));
        return false;
    }
    /* IMMEDIATE: a send fails with EAGAIN until the connection is up, so a
     * missing daemon is detected and orders are not queued into the void. */
    if (!s_set_int(c->sock, ZMQ_SNDHWM, HWM, "ZMQ_SNDHWM") ||
        !s_set_int(c->sock, ZMQ_RCVHWM, HWM, "ZMQ_RCVHWM") ||
        !s_set_int(c->sock, ZMQ_IMMEDIATE, 1, "ZMQ_IMMEDIATE"))
        return false;
    size_t len = sizeof c->fd;
    if (zmq_getsockopt(c->sock, ZMQ_FD, &c->fd, &len) != 0) {
        fprintf(stderr, "sluice-load: failed to get ZMQ_FD: %s\n", zmq_strerror(errno));
        return false;
    }
    if (zmq_connect(c->sock, g->opt.endpoint) != 0) {
        fprintf(stderr, "sluice-load: failed to connect to %s: %s\n", g->opt.endpoint,
                zmq_strerror(errno));
        return false;
    }
    c->blocked = true;
    return true;
}

/* s_wait_connected waits until every socket can send, i.e. has a live connection. */
static bool s_wait_connected(gen_t *g, uint64_t timeout_ms)
{
    uint32_t n = g->opt.connections, ready = 0;
    zmq_pollitem_t *items = calloc(n, sizeof *items);
    if (items == NULL)
        return false;
    uint64_t deadline = clock_mono_us() + timeout_ms * 1000u;
    while (ready < n && s_interrupts == 0) {
        uint64_t now = clock_mono_us();
        if (now >= deadline)
            break;
        for (uint32_t k = 0; k < n; k++)
            items[k] = (zmq_pollitem_t){.socket = g->conns[k].sock,
                                        .events = g->conns[k].blocked ? ZMQ_POLLOUT : 0};
        if (zmq_poll(items, (int)n, (long)((deadline - now + 999u) / 1000u)) < 0 &&
            errno != EINTR)
            break;
        for (uint32_t k = 0; k < n; k++) {
            if (g->conns[k].blocked && (items[k].revents & ZMQ_POLLOUT)) {
                g->conns[k].blocked = false;
                ready++;
            }
        }
    }
    free(items);
    if (ready < n)
        fprintf(stderr, "sluice-load: %u of %u connections to %s up after %" PRIu64 " ms\n",
                ready, n, g->opt.endpoint, timeout_ms);
    return ready == n;
}

static bool s_open(gen_t *g)
{
    uint32_t n = g->opt.connections;
    g->ctx = zmq_ctx_new();
    g->conns = calloc(n, sizeof *g->conns);
    g->pfds = calloc(n, sizeof *g->pfds);
    if (g->ctx == NULL || g->conns == NULL || g->pfds == NULL) {
        fprintf(stderr, "sluice-load: failed to set up: %s\n", strerror(errno));
        return false;
    }
    for (uint32_t k = 0; k < n; k++) {
        if (!s_conn_open(g, &g->conns[k]))
            return false;
        g->pfds[k] = (struct pollfd){.fd = g->conns[k].fd, .events = POLLIN};
        g->conns[k].dirty = true;
    }
    return s_wait_connected(g, g->opt.timeout_ms > 0 ? g->opt.timeout_ms : 1000);
}

static void s_close(gen_t *g)
{
    if (g->conns != NULL) {
        for (uint32_t k = 0; k < g->opt.connections; k++) {
            if (g->conns[k].sock == NULL)
                continue;
            int zero = 0;
            zmq_setsockopt(g->conns[k].sock, ZMQ_LINGER, &zero, sizeof zero);
            zmq_close(g->conns[k].sock);
        }
    }
    if (g->ctx != NULL)
        zmq_ctx_term(g->ctx);
    free(g->conns);
    free(g->pfds);
}

/* ---- sending ---- */

static uint64_t s_due_us(const gen_t *g, uint64_t seq)
{
    return g->start_us + (uint64_t)((double)(seq - 1) * g->interval_us);
}

/* s_pick_conn returns the next socket round-robin with window room, or -1. */
static int s_pick_conn(gen_t *g)
{
    uint32_t n = g->opt.connections;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k = (g->rr + i) % n;
        if (!g->conns[k].blocked && g->conns[k].inflight < g->opt.window) {
            g->rr = k + 1 < n ? k + 1 : 0;
            return (int)k;
        }
    }
    return -1;
}

static bool s_can_send(const gen_t *g)
{
    for (uint32_t k = 0; k < g->opt.connections; k++)
        if (!g->conns[k].blocked && g->conns[k].inflight < g->opt.window)
            return true;
    return false;
}

/* s_send_one sends order next_seq on socket k; false if the socket would block. */
static bool s_send_one(gen_t *g, uint32_t k, uint64_t due)
{
    uint64_t seq = g->next_seq;
    if (seq - g->tail >= g->cap)
        s_retire(g, clock_mono_us());
    if (seq - g->tail >= g->cap && !s_ring_grow(g)) {
        g->fatal = true;
        return false;
    }
    uint32_t store = s_store_for(&g->opt, seq);
    bool campaign = s_for_campaign(&g->opt, seq);
    if (g->opt.query_stores > 0) {
        s_query_set(&g->order, &g->opt, store);
    } else {
        s_order_set(&g->order, seq, store, clock_wall_ms());
        s_dropoff_for(&g->opt, seq, &g->order.dropoff);
        g->order.submit.campaign = (char *)(campaign ? g->opt.campaign : "");
    }
    size_t len = s_order_pack(&g->order, seq);
    /* A send may process the socket's commands and so swallow the ZMQ_FD
     * edge of a reply that is already waiting. */
    g->conns[k].dirty = true;
    if (zmq_send(g->conns[k].sock, g->order.buf, len, ZMQ_DONTWAIT) < 0) {
        if (errno == EAGAIN || errno == EINTR) {
            g->conns[k].blocked = true;
        } else {
            fprintf(stderr, "sluice-load: failed to send: %s\n", zmq_strerror(errno));
            g->fatal = true;
        }
        return false;
    }
    uint64_t now = clock_mono_us();
    *s_slot(g, seq) = (slot_t){.due_us = due ? due : now, .sent_us = now, .conn = k,
                               .state = SLOT_OUTSTANDING};
    g->t.campaign_sent += campaign && g->opt.query_stores == 0;
    if (g->t.sent == 0)
        g->first_send_us = now;
    g->conns[k].inflight++;
    g->outstanding++;
    g->t.sent++;
    g->next_seq++;
    return true;
}

/* s_send_due sends every order whose due time has come, as far as the windows
 * allow. Paced orders are all due before the deadline (max_orders); unpaced
 * ones are due whenever a window opens, so they stop at the deadline. */
static void s_send_due(gen_t *g)
{
    while (g->t.sent < g->max_orders && !g->fatal && s_interrupts == 0) {
        uint64_t due = 0;   /* unpaced: the send time is the due time */
        uint64_t now = clock_mono_us();
        if (g->opt.rate > 0) {
            due = s_due_us(g, g->next_seq);
            if (due > now)
                return;
        } else if (g->deadline_us > 0 && now >= g->deadline_us) {
            return;
        }
        int k = s_pick_conn(g);
        if (k < 0)
            return;
        s_send_one(g, (uint32_t)k, due);
    }
}

/* ---- receiving ---- */

static void s_count_ack(gen_t *g, uint64_t seq, const Sluice__V1__OrderAck *ack,
                        uint64_t latency)
{
    if (ack->duplicate)
        g->t.duplicates++;
    if (ack->decision == SLUICE__V1__DECISION__ACCEPTED) {
        g->t.accepted++;
        g->t.campaign_accepted += s_for_campaign(&g->opt, seq);
        s_hist_record(&g->acc, latency);
    } else if (ack->decision == SLUICE__V1__DECISION__REJECTED) {
        g->t.rejected++;
        s_hist_record(&g->rej, latency);
        if ((unsigned)ack->reason < REASON_SLOTS)
            g->t.reasons[ack->reason]++;
        else
            g->t.reason_other++;
    } else {
        g->t.errors++;
    }
}

/* s_settle marks seq answered; false for a reply that matches no request in flight. */
static bool s_settle(gen_t *g, uint64_t seq, uint64_t now, uint64_t *latency)
{
    slot_t *s = s_find(g, seq);
    if (s == NULL || (s->state != SLOT_OUTSTANDING && s->state != SLOT_EXPIRED)) {
        g->t.stray++;
        return false;
    }
    if (s->state == SLOT_OUTSTANDING) {
        g->conns[s->conn].inflight--;
        g->outstanding--;
    } else {
        g->expired--;
        g->t.late++;
    }
    s->state = SLOT_ANSWERED;
    *latency = now > s->due_us ? now - s->due_us : 0;
    return true;
}

static void s_handle_reply(gen_t *g, const void *data, size_t len, uint64_t now)
{
    Sluice__V1__Reply *reply = sluice__v1__reply__unpack(&g->alloc, len, data);
    uint64_t latency;
    if (reply == NULL) {
        g->t.errors++;
    } else if (s_settle(g, reply->request_id, now, &latency)) {
        g->t.replies++;
        g->last_reply_us = now;
        s_hist_record(&g->all, latency);
        if (reply->body_case == SLUICE__V1__REPLY__BODY_ACK && reply->ack != NULL)
            s_count_ack(g, reply->request_id, reply->ack, latency);
        else if (reply->body_case == SLUICE__V1__REPLY__BODY_AVAILABILITY &&
                 g->opt.query_stores > 0)
            g->t.answers++;
        else
            g->t.errors++;   /* an Error, or a body its request never gets */
    }
    s_reply_release(g, reply);
}

/* s_take_reply handles the message just received on socket k. */
static void s_take_reply(gen_t *g, uint32_t k)
{
    uint64_t now = clock_mono_us();
    if (!zmq_msg_more(&g->msg)) {
        s_handle_reply(g, zmq_msg_data(&g->msg), zmq_msg_size(&g->msg), now);
        return;
    }
    /* The contract is one frame per reply: count it, skip the rest. */
    g->t.errors++;
    while (zmq_msg_more(&g->msg) && zmq_msg_recv(&g->msg, g->conns[k].sock, 0) >= 0)
        ;
}

/* s_update_writable asks a blocked socket whether it can send again. Asking
 * processes its commands too, so it also says whether a reply is waiting. */
static void s_update_writable(conn_t *c)
{
    int events = 0;
    size_t len = sizeof events;
    if (zmq_getsockopt(c->sock, ZMQ_EVENTS, &events, &len) != 0)
        return;
    if (events & ZMQ_POLLOUT)
        c->blocked = false;
    if (events & ZMQ_POLLIN)
        c->dirty = true;
}

/* s_service drains up to RECV_BATCH replies from socket k. Only a receive
 * that ends in EAGAIN re-arms the socket's ZMQ_FD edge, so a socket stays
 * dirty until one does. */
static void s_service(gen_t *g, uint32_t k)
{
    conn_t *c = &g->conns[k];
    for (int i = 0; i < RECV_BATCH; i++) {
        if (zmq_msg_recv(&g->msg, c->sock, ZMQ_DONTWAIT) >= 0) {
            s_take_reply(g, k);
            continue;
        }
        if (errno == EINTR)
            return;
        if (errno != EAGAIN) {
            fprintf(stderr, "sluice-load: failed to receive: %s\n", zmq_strerror(errno));
            g->fatal = true;
            return;
        }
        c->dirty = false;
        if (c->blocked)
            s_update_writable(c);
        return;
    }
}

static bool s_any_dirty(const gen_t *g)
{
    for (uint32_t k = 0; k < g->opt.connections; k++)
        if (g->conns[k].dirty)
            return true;
    return false;
}

/* s_service_all drains every socket that may hold replies; once a SWEEP_US
 * every socket is drained anyway, so a lost edge costs latency, never a hang. */
static void s_service_all(gen_t *g)
{
    uint64_t now = clock_mono_us();
    bool sweep = now >= g->sweep_at;
    if (sweep)
        g->sweep_at = now + SWEEP_US;
    for (uint32_t k = 0; k < g->opt.connections; k++)
        if (sweep || g->conns[k].dirty)
            s_service(g, k);
}

/* ---- the loop ---- */

/* s_offering_done: a paced run offers for its whole schedule, so its elapsed
 * time is the schedule's span and offered/elapsed is the rate asked for. */
static bool s_offering_done(const gen_t *g, uint64_t now)
{
    if (g->fatal || s_interrupts > 0 || (g->deadline_us > 0 && now >= g->deadline_us))
        return true;
    return g->t.sent >= g->max_orders && now >= g->sched_end_us;
}

/* s_wake_at returns the latest moment the loop may sleep until. */
static uint64_t s_wake_at(const gen_t *g, uint64_t now, bool offering)
{
    uint64_t at = g->sweep_at > now ? g->sweep_at : now;
    if (offering && g->deadline_us > 0 && g->deadline_us < at)
        at = g->deadline_us;
    if (offering && g->t.sent >= g->max_orders && g->sched_end_us < at)
        at = g->sched_end_us;
    if (!offering && g->end_us + g->opt.timeout_ms * 1000u < at)
        at = g->end_us + g->opt.timeout_ms * 1000u;
    if (offering && g->outstanding > 0) {
        const slot_t *s = &g->slots[g->tail & (g->cap - 1)];
        if (s->sent_us + g->expire_us < at)
            at = s->sent_us + g->expire_us;
    }
    if (offering && g->t.sent < g->max_orders && s_can_send(g)) {
        uint64_t due = g->opt.rate > 0 ? s_due_us(g, g->next_seq) : now;
        if (due < at)
            at = due;
    }
    return at;
}

/* s_wait sleeps on the sockets' ZMQ_FDs until one signals or s_wake_at. It
 * polls the fds itself rather than calling zmq_poll, which asks every socket
 * for ZMQ_EVENTS before and after it sleeps (two syscalls per socket per
 * pass): at a paced 2,000 orders/s that was ~90 syscalls an order. ppoll also
 * wakes to the microsecond, where zmq_poll rounds to milliseconds. */
static void s_wait(gen_t *g, bool offering)
{
    uint32_t n = g->opt.connections;
    uint64_t now = clock_mono_us();
    uint64_t at = s_any_dirty(g) ? now : s_wake_at(g, now, offering);
    uint64_t us = at > now ? at - now : 0;
    struct timespec ts = {.tv_sec = (time_t)(us / 1000000u), .tv_nsec = (long)(us % 1000000u) * 1000};
    if (ppoll(g->pfds, n, &ts, NULL) <= 0)
        return;   /* timeout or EINTR: the caller re-reads the clock and the flags */
    for (uint32_t k = 0; k < n; k++)
        if (g->pfds[k].revents != 0)
            g->conns[k].dirty = true;
}

static void s_offer(gen_t *g)
{
    g->start_us = clock_mono_us();
    g->sweep_at = g->start_us + SWEEP_US;
    if (g->opt.duration_s > 0)
        g->deadline_us = g->start_us + (uint64_t)(g->opt.duration_s * 1e6);
    if (g->opt.rate > 0 && g->max_orders < UINT64_MAX)
        g->sched_end_us = s_due_us(g, g->max_orders + 1);
    for (;;) {
        s_send_due(g);
        s_service_all(g);
        s_retire(g, clock_mono_us());
        if (s_offering_done(g, clock_mono_us()))
            break;
        s_wait(g, true);
    }
    g->end_us = clock_mono_us();
}

/* s_drain waits up to --timeout-ms for every unanswered request, expired
 * ones too: expiry only frees a window slot, a request is lost only if no
 * reply has come when the run ends. A second interrupt gives up at once. */
static void s_drain(gen_t *g)
{
    uint64_t deadline = g->end_us + g->opt.timeout_ms * 1000u;
    int interrupts = s_interrupts;
    for (;;) {
        s_service_all(g);
        if (g->outstanding + g->expired == 0 || g->fatal || s_interrupts > interrupts ||
            clock_mono_us() >= deadline)
            break;
        s_wait(g, false);
    }
}

/* s_offered counts the orders the schedule made due while offering. */
static uint64_t s_offered(const gen_t *g)
{
    if (g->opt.rate <= 0 || g->end_us < g->start_us)
        return g->t.sent;
    double due = floor((double)(g->end_us - g->start_us) / g->interval_us) + 1;
    uint64_t n = due >= (double)g->max_orders ? g->max_orders : (uint64_t)due;
    return n > g->t.sent ? n : g->t.sent;
}

/* ---- report ---- */

typedef struct {
    uint64_t lost, unsent, reason_busy;
    double elapsed_s, reply_span_s, replies_per_s, accepted_per_s, offered_per_s;
    double p50, p90, p99, p999, max, mean, acc_p50, acc_p99, rej_p50, rej_p99;
} summary_t;

static double s_ms(uint64_t us)
{
    return (double)us / 1000.0;
}

static void s_summarise(const gen_t *g, summary_t *s)
{
    *s = (summary_t){0};
    s->lost = g->outstanding + g->expired;
    s->unsent = g->t.offered - g->t.sent;
    s->elapsed_s = (double)(g->end_us - g->start_us) / 1e6;
    if (s->elapsed_s > 0)
        s->offered_per_s = (double)g->t.offered / s->elapsed_s;
    if (g->t.replies > 0 && g->last_reply_us > g->first_send_us) {
        s->reply_span_s = (double)(g->last_reply_us - g->first_send_us) / 1e6;
        s->replies_per_s = (double)g->t.replies / s->reply_span_s;
        s->accepted_per_s = (double)g->t.accepted / s->reply_span_s;
    }
    s->p50 = s_ms(s_hist_percentile(&g->all, 0.50));
    s->p90 = s_ms(s_hist_percentile(&g->all, 0.90));
    s->p99 = s_ms(s_hist_percentile(&g->all, 0.99));
    s->p999 = s_ms(s_hist_percentile(&g->all, 0.999));
    s->max = s_ms(g->all.max);
    s->mean = g->all.n > 0 ? g->all.sum / (double)g->all.n / 1000.0 : 0;
    s->acc_p50 = s_ms(s_hist_percentile(&g->acc, 0.50));
    s->acc_p99 = s_ms(s_hist_percentile(&g->acc, 0.99));
    s->rej_p50 = s_ms(s_hist_percentile(&g->rej, 0.50));
    s->rej_p99 = s_ms(s_hist_percentile(&g->rej, 0.99));
}

static const char *s_reason_name(unsigned r)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&sluice__v1__reason__descriptor, (int)r);
    return v != NULL ? v->name : NULL;
}

static void s_print_text(const gen_t *g, const summary_t *s)
{
    const options_t *o = &g->opt;
    const tally_t *t = &g->t;
    printf("sluice-load: %s, %u connections, window %u, ", o->endpoint, o->connections, o->window);
    if (o->rate > 0)
        printf("rate %g/s, ", o->rate);
    else
        printf("rate unlimited, ");
    printf("stores %u-%u, %u items, prefix %s\n", o->store_lo, o->store_hi, o->items, o->prefix);
    if (o->query_stores > 0)
        printf("  QueryAvailability of %u stores%s%s each\n", o->query_stores,
               o->campaign ? " for campaign " : "", o->campaign ? o->campaign : "");
    else if (o->campaign)
        printf("  campaign %s on %.0f%% of the orders\n", o->campaign, 100.0 * o->campaign_share);
    printf("  offered     %12" PRIu64 "   %.1f/s\n", t->offered, s->offered_per_s);
    printf("  sent        %12" PRIu64 "\n", t->sent);
    if (s->unsent > 0)
        printf("  unsent      %12" PRIu64 "   due but every window was full or down\n", s->unsent);
    printf("  replies     %12" PRIu64 "\n", t->replies);
    printf("  accepted    %12" PRIu64 "\n", t->accepted);
    if (o->campaign && o->query_stores == 0)
        printf("    campaign  %12" PRIu64 " of %" PRIu64 " sent\n", t->campaign_accepted,
               t->campaign_sent);
    if (o->query_stores > 0)
        printf("  answers     %12" PRIu64 "   Availability replies\n", t->answers);
    printf("  duplicates  %12" PRIu64 "\n", t->duplicates);
    printf("  rejected    %12" PRIu64 "\n", t->rejected);
    for (unsigned r = 0; r < REASON_SLOTS; r++) {
        if (t->reasons[r] == 0)
            continue;
        const char *name = s_reason_name(r);
        if (name != NULL)
            printf("    %-13s %10" PRIu64 "\n", name, t->reasons[r]);
        else
            printf("    reason %-6u %10" PRIu64 "\n", r, t->reasons[r]);
    }
    if (t->reason_other > 0)
        printf("    %-13s %10" PRIu64 "\n", "other", t->reason_other);
    printf("  errors      %12" PRIu64 "\n", t->errors);
    if (t->late > 0 || t->stray > 0)
        printf("  late        %12" PRIu64 "   stray %" PRIu64 "\n", t->late, t->stray);
    printf("  lost        %12" PRIu64 "\n", s->lost);
    printf("  elapsed     %12.3f s (offering)\n", s->elapsed_s);
    printf("  acks/s      %12.1f   over %.3f s, first send to last reply\n", s->replies_per_s,
           s->reply_span_s);
    printf("  accepted/s  %12.1f\n", s->accepted_per_s);
    printf("  latency ms  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f\n",
           s->p50, s->p90, s->p99, s->p999, s->max, s->mean);
    printf("  accepted ms p50 %.3f  p99 %.3f\n", s->acc_p50, s->acc_p99);
    printf("  rejected ms p50 %.3f  p99 %.3f\n", s->rej_p50, s->rej_p99);
}

static void s_json_string(const char *str)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)str; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

/* s_json_ms prints a latency, or null when nothing was measured. */
static void s_json_ms(const char *key, double ms, uint64_t n, const char *sep)
{
    if (n > 0)
        printf("\"%s\":%.3f%s", key, ms, sep);
    else
        printf("\"%s\":null%s", key, sep);
}

static void s_print_json(const gen_t *g, const summary_t *s)
{
    const options_t *o = &g->opt;
    const tally_t *t = &g->t;
    printf("{\"endpoint\":");
    s_json_string(o->endpoint);
    printf(",\"connections\":%u,\"window\":%u,\"rate\":%.3f,\"stores\":[%u,%u],\"items\":%u,"
           "\"prefix\":",
           o->connections, o->window, o->rate, o->store_lo, o->store_hi, o->items);
    s_json_string(o->prefix);
    printf(",\"offered\":%" PRIu64 ",\"sent\":%" PRIu64 ",\"unsent\":%" PRIu64
           ",\"replies\":%" PRIu64 ",\"accepted\":%" PRIu64 ",\"duplicates\":%" PRIu64
           ",\"rejected\":%" PRIu64 ",\"campaign_sent\":%" PRIu64 ",\"campaign_accepted\":%" PRIu64
           ",\"answers\":%" PRIu64 ",\"rejected_by_reason\":{",
           t->offered, t->sent, s->unsent, t->replies, t->accepted, t->duplicates, t->rejected,
           t->campaign_sent, t->campaign_accepted, t->answers);
    const char *sep = "";
    for (unsigned r = 1; r < REASON_SLOTS; r++) {
        const char *name = s_reason_name(r);
        if (name != NULL)
            printf("%s\"%s\":%" PRIu64, sep, name, t->reasons[r]);
        else if (t->reasons[r] > 0)
            printf("%s\"%u\":%" PRIu64, sep, r, t->reasons[r]);
        else
            continue;
        sep = ",";
    }
    if (t->reasons[0] > 0)
        printf(",\"REASON_NONE\":%" PRIu64, t->reasons[0]);
    if (t->reason_other > 0)
        printf(",\"other\":%" PRIu64, t->reason_other);
    printf("},\"errors\":%" PRIu64 ",\"late\":%" PRIu64 ",\"stray\":%" PRIu64
           ",\"lost\":%" PRIu64 ",\"elapsed_s\":%.3f,\"offered_per_s\":%.1f"
           ",\"reply_span_s\":%.3f,\"replies_per_s\":%.1f,\"accepted_per_s\":%.1f,"
           "\"latency_ms\":{",
           t->errors, t->late, t->stray, s->lost, s->elapsed_s, s->offered_per_s,
           s->reply_span_s, s->replies_per_s, s->accepted_per_s);
    uint64_t n = g->all.n;
    s_json_ms("p50", s->p50, n, ",");
    s_json_ms("p90", s->p90, n, ",");
    s_json_ms("p99", s->p99, n, ",");
    s_json_ms("p999", s->p999, n, ",");
    s_json_ms("max", s->max, n, ",");
    s_json_ms("mean", s->mean, n, "");
    printf("},\"accepted_latency_ms\":{");
    s_json_ms("p50", s->acc_p50, g->acc.n, ",");
    s_json_ms("p99", s->acc_p99, g->acc.n, "");
    printf("},\"rejected_latency_ms\":{");
    s_json_ms("p50", s->rej_p50, g->rej.n, ",");
    s_json_ms("p99", s->rej_p99, g->rej.n, "");
    printf("}}\n");
}

/* s_print_result is the line tools/bench/bench.sh greps: keep the keys and their order. */
static void s_print_result(const gen_t *g, const summary_t *s)
{
    const tally_t *t = &g->t;
    printf("RESULT sent=%" PRIu64 " replies=%" PRIu64 " accepted=%" PRIu64 " rejected=%" PRIu64
           " overloaded=%" PRIu64 " unavailable=%" PRIu64 " lost=%" PRIu64
           " accepted_per_s=%.1f replies_per_s=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f"
           " p999_ms=%.3f max_ms=%.3f elapsed_s=%.3f rejected_p50_ms=%.3f rejected_p99_ms=%.3f"
           " busy=%" PRIu64 " campaign_limit=%" PRIu64 " campaign_accepted=%" PRIu64
           " answers=%" PRIu64 "\n",
           t->sent, t->replies, t->accepted, t->rejected,
           t->reasons[SLUICE__V1__REASON__OVERLOADED], t->reasons[SLUICE__V1__REASON__UNAVAILABLE],
           s->lost, s->accepted_per_s, s->replies_per_s, s->p50, s->p90, s->p99, s->p999, s->max,
           s->elapsed_s, s->rej_p50, s->rej_p99, t->reasons[SLUICE__V1__REASON__STORE_BUSY],
           t->reasons[SLUICE__V1__REASON__CAMPAIGN_LIMIT], t->campaign_accepted, t->answers);
}

/* ---- setup and main ---- */

static gen_t *s_gen_new(const options_t *opt)
{
    gen_t *g = calloc(1, sizeof *g);
    if (g == NULL)
        return NULL;
    g->opt = *opt;
    g->next_seq = 1;
    g->tail = 1;
    g->max_orders = opt->count > 0 ? opt->count : UINT64_MAX;
    if (opt->rate > 0) {
        g->interval_us = 1e6 / opt->rate;
        if (opt->duration_s > 0) {
            /* orders due strictly before the deadline; the epsilon absorbs 10 * 0.1 != 1 */
            double by_time = ceil(opt->duration_s * opt->rate - 1e-9);
            if (by_time < (double)g->max_orders)
                g->max_orders = (uint64_t)by_time;
        }
    }
    uint64_t expire_ms = opt->timeout_ms > MIN_EXPIRE_MS ? opt->timeout_ms : MIN_EXPIRE_MS;
    g->expire_us = expire_ms * 1000u;
    /* Room for every window four times over; grows only if requests linger. */
    g->cap = 65536;
    while (g->cap < 4ull * opt->connections * opt->window)
        g->cap *= 2;
    g->slots = calloc(g->cap, sizeof *g->slots);
    g->arena.buf = malloc(ARENA_BYTES);
    g->alloc = (ProtobufCAllocator){.alloc = s_arena_alloc, .free = s_arena_free,
                                    .allocator_data = &g->arena};
    zmq_msg_init(&g->msg);
    s_order_init(&g->order, opt);
    return g;
}

static void s_gen_destroy(gen_t **self)
{
    gen_t *g = *self;
    if (g == NULL)
        return;
    zmq_msg_close(&g->msg);
    s_close(g);
    free(g->slots);
    free(g->arena.buf);
    free(g);
    *self = NULL;
}

static void s_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;   /* no SA_RESTART: zmq_poll must return EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int main(int argc, char **argv)
{
    options_t opt;
    bool help;
    if (!s_parse_options(argc, argv, &opt, &help)) {
        fprintf(stderr, "try 'sluice-load --help'\n");
        return EXIT_USAGE;
    }
    if (help) {
        s_usage(stdout);
        return 0;
    }
    gen_t *g = s_gen_new(&opt);
    if (g == NULL || g->slots == NULL || g->arena.buf == NULL) {
        fprintf(stderr, "sluice-load: out of memory\n");
        s_gen_destroy(&g);
        return EXIT_USAGE;
    }
    s_install_signals();
    if (!s_order_fits(&g->order, &opt) || !s_open(g)) {
        s_gen_destroy(&g);
        return EXIT_USAGE;
    }
    s_offer(g);
    s_drain(g);
    g->t.offered = s_offered(g);
    summary_t s;
    s_summarise(g, &s);
    if (opt.json)
        s_print_json(g, &s);
    else
        s_print_text(g, &s);
    s_print_result(g, &s);
    fflush(stdout);
    int rc = g->fatal ? EXIT_USAGE : s.lost > 0 ? EXIT_LOST : 0;
    s_gen_destroy(&g);
    return rc;
}
