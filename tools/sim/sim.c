/* sim.c - owns sluice-sim: a delivery network on the far side of
 * proto/network.proto, for tests and drills. One ROUTER for the protocol, an
 * optional REP for text control commands, a signalfd, and the world's rider
 * timers, all in one zmq_poll loop. The riders themselves live in
 * sim_world.c, the ledger in sim_ledger.c. */
#include "clock.h"
#include "log.h"
#include "proto/network.pb-c.h"
#include "sim_ledger.h"
#include "sim_map.h"
#include "sim_world.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <zmq.h>

#define SIM_VERSION "0.1.0"
#define EXIT_USAGE 2
#define PROTOCOL_VERSION SLUICE__NET__V1__VERSION__VERSION_CURRENT
#define MAX_FRAME_BYTES 65536      /* the protocol's frame limit */
#define IDENTITY_MAX 255           /* ZeroMQ routing ids are 1..255 bytes */
#define RECV_BATCH 256             /* requests read per pass before timers get a turn */
#define POLL_MAX_MS 1000
#define RETRY_AFTER_MS 200         /* said with an injected UNAVAILABLE */
#define ITEMS_MAX 1000
#define REASON_BYTES_MAX 200
#define PAGE_DEFAULT 100           /* settlement lines per page when not asked */
#define PAGE_MAX 256               /* the protocol's cap: keeps a page under 64 KiB */
#define CONTROL_MAX 512
#define DAY_MS 86400000ull

typedef struct options {
    const char *endpoint;
    const char *control;
    const char *ledger;
    sim_params_t params;
    uint64_t slow_ms;
    double fail_ratio;
    bool dark;
    bool verbose;
    bool check_ledger;
    uint32_t centers_given;        /* --center options read so far */
} options_t;

/* Whom to answer: the routing id and whether the peer is a REQ (which wants
 * the empty delimiter frame back). Peers are interned: records keep a small
 * handle (index + 1) instead of the bytes. */
typedef struct peer {
    uint8_t len;
    bool delimiter;
    uint8_t id[IDENTITY_MAX];
} peer_t;

/* One message waiting to leave, in a FIFO. Due times never decrease along
 * the queue, so a slow reply is never overtaken by a later event. */
typedef struct outgoing {
    struct outgoing *next;
    uint64_t due_ms;           /* monotonic */
    peer_t peer;
    size_t len;
    uint8_t data[];
} outgoing_t;

typedef struct queue {
    outgoing_t *head, *tail;
} queue_t;

typedef struct counters {
    uint64_t requests, bad_requests, injected_failures, dark_dropped;
    uint64_t replies, events, events_unrouted, send_dropped, malformed;
} counters_t;

typedef struct sim {
    options_t opt;
    void *ctx, *gateway, *control;
    int sigfd;
    sim_world_t *world;
    sim_ledger_t *ledger;
    sim_map_t peer_ids;        /* peer bytes as hex -> handle */
    peer_t *peers;             /* peers[handle - 1] */
    size_t peer_count, peer_cap;
    queue_t outbox;
    queue_t deferred;          /* events raised while a request is handled: sent after its reply */
    bool handling;
    uint64_t last_due_ms;
    uint64_t rng;              /* for --fail-ratio, apart from the world's */
    uint64_t slow_ms;
    double fail_ratio;
    bool dark;
    counters_t n;
    bool stop;
    int exit_code;
} sim_t;

/* ==== command line ==================================================== */

static void s_usage(FILE *out)
{
    fprintf(out,
        "usage: sluice-sim [options]              run a simulated delivery network\n"
        "       sluice-sim --check-ledger FILE... exit 1 if an order had two live riders\n"
        "\n"
        "protocol (proto/network.proto):\n"
        "  --endpoint EP         ROUTER to bind (default tcp://127.0.0.1:7601; port * = any)\n"
        "  --control EP          REP to bind for text commands (see below); default none\n"
        "  --name NAME           platform name, 1..16 of [A-Za-z0-9_-]; riders are NAME-rN (sim)\n"
        "riders:\n"
        "  --riders N            0..1000000 (50)\n"
        "  --center LAT,LNG      where riders start (30.27,120.03); again for more cities\n"
        "                        (up to 16): riders are dealt to them in turn\n"
        "  --radius-km R         riders start uniformly within R km (of each centre), 0..500 (3)\n"
        "  --speed-kmh MIN[,MAX] each rider's speed, 1..200 (15,25)\n"
        "  --max-km KM           longest store to drop-off ride, else OUT_OF_AREA (20)\n"
        "  --seed N              riders, speeds, cancellations and failures (1)\n"
        "  --time-scale F        simulated ms per real ms, e.g. 60: a minute per second (1)\n"
        "  --cancel-ratio R      chance the platform cancels a dispatch before pickup (0)\n"
        "faults (also at runtime through --control):\n"
        "  --slow-ms N           every reply and event leaves N ms late, 0..600000 (0)\n"
        "  --fail-ratio R        answer Error UNAVAILABLE to this fraction of requests (0)\n"
        "  --dark                read requests but never answer; drop events\n"
        "  --settlement-skew R   report this fraction of settlement lines 100 cents high (0)\n"
        "records:\n"
        "  --ledger PATH         append every dispatch and state change (TSV, see sim_ledger.h)\n"
        "  -v, --verbose         debug logs; --version; -h, --help\n"
        "\n"
        "control commands (one per REQ message, answered \"ok ...\" or \"error: ...\"):\n"
        "  slow MS | fail R | dark | light | cancel-ratio R | skew R |\n"
        "  pace F (riders move at F times their speed from now on, 0 < F <= 100) |\n"
        "  settle omit|overcharge|duplicate|phantom N (faults in each day's settlement report) |\n"
        "  platform-cancel KEY |\n"
        "  stall next N|KEY [at assigned|arrived|picked-up] (rides stop there for good) |\n"
        "  stats | help\n");
}

/* s_bad prints "sluice-sim: OPTION: 'TEXT' WHY" and fails the parse. */
static bool s_bad(const char *option, const char *text, const char *why)
{
    fprintf(stderr, "sluice-sim: --%s: '%s' %s (see --help)\n", option, text, why);
    return false;
}

/* s_number parses all of TEXT as a finite double. */
static bool s_number(const char *text, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v))
        return false;
    *out = v;
    return true;
}

static bool s_opt_uint(const char *option, const char *text, uint64_t lo, uint64_t hi,
                       uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = isdigit((unsigned char)text[0]) ? strtoull(text, &end, 10) : 0;
    if (!end || errno || *end || v < lo || v > hi) {
        char why[96];
        snprintf(why, sizeof why, "is not a whole number in %" PRIu64 "..%" PRIu64, lo, hi);
        return s_bad(option, text, why);
    }
    *out = v;
    return true;
}

/* s_opt_real parses a number in [LO, HI], or (LO, HI] when LO_OPEN. */
static bool s_opt_real(const char *option, const char *text, double lo, double hi, bool lo_open,
                       double *out)
{
    double v;
    if (!s_number(text, &v) || v < lo || v > hi || (lo_open && v == lo)) {
        char why[96];
        snprintf(why, sizeof why, "is not a number %s %.15g and <= %.15g", lo_open ? ">" : ">=", lo, hi);
        return s_bad(option, text, why);
    }
    *out = v;
    return true;
}

static bool s_opt_ratio(const char *option, const char *text, double *out)
{
    double v;
    if (!s_number(text, &v) || v < 0 || v > 1)
        return s_bad(option, text, "is not a ratio in 0..1");
    *out = v;
    return true;
}

/* s_split parses "A,B" (or just "A" when B_OPTIONAL; then B = A). */
static bool s_split(const char *text, double *a, double *b, bool b_optional)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", text);
    char *comma = strchr(buf, ',');
    if (!comma) {
        if (!b_optional || !s_number(buf, a))
            return false;
        *b = *a;
        return true;
    }
    *comma = '\0';
    return s_number(buf, a) && s_number(comma + 1, b);
}

static bool s_opt_center(const char *text, sim_geo_t *out)
{
    double lat, lng;
    if (!s_split(text, &lat, &lng, false) || lat < -90 || lat > 90 || lng < -180 || lng > 180)
        return s_bad("center", text, "is not LAT,LNG with LAT in -90..90 and LNG in -180..180");
    *out = (sim_geo_t){.lat = lat, .lng = lng};
    return true;
}

static bool s_opt_speed(const char *text, double *lo, double *hi)
{
    if (!s_split(text, lo, hi, true) || *lo < 1 || *hi > 200 || *lo > *hi)
        return s_bad("speed-kmh", text, "is not MIN[,MAX] with 1 <= MIN <= MAX <= 200");
    return true;
}

static bool s_opt_name(const char *text, char *out, size_t len)
{
    size_t n = strlen(text);
    bool ok = n >= 1 && n <= SIM_NAME_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)text[i]) || text[i] == '_' || text[i] == '-';
    if (!ok)
        return s_bad("name", text, "is not 1..16 characters of [A-Za-z0-9_-]");
    snprintf(out, len, "%s", text);
    return true;
}

static void s_defaults(options_t *o)
{
    *o = (options_t){.endpoint = "tcp://127.0.0.1:7601"};
    sim_params_t *p = &o->params;
    snprintf(p->name, sizeof p->name, "sim");
    p->riders = 50;
    p->center = (sim_geo_t){.lat = 30.27, .lng = 120.03};
    p->radius_km = 3;
    p->speed_min_kmh = 15;
    p->speed_max_kmh = 25;
    p->seed = 1;
    p->time_scale = 1;
    p->max_km = 20;
}

enum { OPT_CONTROL = 256, OPT_NAME, OPT_RIDERS, OPT_CENTER, OPT_RADIUS, OPT_SPEED, OPT_MAX_KM,
       OPT_SEED, OPT_SCALE, OPT_CANCEL, OPT_SLOW, OPT_FAIL, OPT_DARK, OPT_SKEW, OPT_LEDGER,
       OPT_CHECK, OPT_VERSION, OPT_ENDPOINT };

/* s_option applies one option; false on a bad value (already said). */
static bool s_option(options_t *o, int opt, const char *arg)
{
    sim_params_t *p = &o->params;
    uint64_t u = 0;
    switch (opt) {
    case OPT_ENDPOINT: o->endpoint = arg; return true;
    case OPT_CONTROL: o->control = arg; return true;
    case OPT_LEDGER: o->ledger = arg; return true;
    case OPT_NAME: return s_opt_name(arg, p->name, sizeof p->name);
    case OPT_RIDERS:
        if (!s_opt_uint("riders", arg, 0, 1000000, &u))
            return false;
        p->riders = (uint32_t)u;
        return true;
    case OPT_CENTER: {
        /* the first --center replaces the default; each further one adds a city */
        if (o->centers_given >= SIM_CENTERS_MAX)
            return s_bad("center", arg, "is one city too many (at most 16)");
        sim_geo_t *at = o->centers_given == 0 ? &p->center : &p->more_centers[o->centers_given - 1];
        if (!s_opt_center(arg, at))
            return false;
        p->more_center_count = o->centers_given++;
        return true;
    }
    case OPT_RADIUS: return s_opt_real("radius-km", arg, 0, 500, false, &p->radius_km);
    case OPT_SPEED: return s_opt_speed(arg, &p->speed_min_kmh, &p->speed_max_kmh);
    case OPT_MAX_KM: return s_opt_real("max-km", arg, 0, 1000, true, &p->max_km);
    case OPT_SEED: return s_opt_uint("seed", arg, 0, UINT64_MAX, &p->seed);
    case OPT_SCALE: return s_opt_real("time-scale", arg, 0, 1e6, true, &p->time_scale);
    case OPT_CANCEL: return s_opt_ratio("cancel-ratio", arg, &p->cancel_ratio);
    case OPT_SKEW: return s_opt_ratio("settlement-skew", arg, &p->settlement_skew);
    case OPT_SLOW: return s_opt_uint("slow-ms", arg, 0, 600000, &o->slow_ms);
    case OPT_FAIL: return s_opt_ratio("fail-ratio", arg, &o->fail_ratio);
    case OPT_DARK: o->dark = true; return true;
    case OPT_CHECK: o->check_ledger = true; return true;
    case 'v': o->verbose = true; return true;
    default: return false;
    }
}

/* s_parse_options returns -1 to go on, or the exit status. */
static int s_parse_options(int argc, char **argv, options_t *o)
{
    static const struct option options[] = {
        {"endpoint", required_argument, NULL, OPT_ENDPOINT},
        {"control", required_argument, NULL, OPT_CONTROL},
        {"name", required_argument, NULL, OPT_NAME},
        {"riders", required_argument, NULL, OPT_RIDERS},
        {"center", required_argument, NULL, OPT_CENTER},
        {"radius-km", required_argument, NULL, OPT_RADIUS},
        {"speed-kmh", required_argument, NULL, OPT_SPEED},
        {"max-km", required_argument, NULL, OPT_MAX_KM},
        {"seed", required_argument, NULL, OPT_SEED},
        {"time-scale", required_argument, NULL, OPT_SCALE},
        {"cancel-ratio", required_argument, NULL, OPT_CANCEL},
        {"slow-ms", required_argument, NULL, OPT_SLOW},
        {"fail-ratio", required_argument, NULL, OPT_FAIL},
        {"dark", no_argument, NULL, OPT_DARK},
        {"settlement-skew", required_argument, NULL, OPT_SKEW},
        {"ledger", required_argument, NULL, OPT_LEDGER},
        {"check-ledger", no_argument, NULL, OPT_CHECK},
        {"verbose", no_argument, NULL, 'v'},
        {"version", no_argument, NULL, OPT_VERSION},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    s_defaults(o);
    int opt;
    while ((opt = getopt_long(argc, argv, "vh", options, NULL)) != -1) {
        if (opt == 'h') {
            s_usage(stdout);
            return 0;
        }
        if (opt == OPT_VERSION) {
            printf("sluice-sim %s (protocol version %d)\n", SIM_VERSION, PROTOCOL_VERSION);
            return 0;
        }
        if (opt == '?' || !s_option(o, opt, optarg))
            return EXIT_USAGE;  /* getopt or s_bad said why */
    }
    if (o->check_ledger ? optind >= argc : optind < argc) {
        fprintf(stderr, o->check_ledger ? "sluice-sim: --check-ledger needs FILE...\n"
                                        : "sluice-sim: unexpected argument '%s' (see --help)\n",
                argv[optind]);
        return EXIT_USAGE;
    }
    return -1;
}

/* ==== peers and the outbox ============================================ */

/* s_peer_handle interns PEER; 0 when out of memory (its events are then not
 * routed, which the counters show). */
static uint32_t s_peer_handle(sim_t *s, const peer_t *peer)
{
    char hex[2 * IDENTITY_MAX + 2];
    for (size_t i = 0; i < peer->len; i++)
        snprintf(hex + 2 * i, 3, "%02x", peer->id[i]);
    snprintf(hex + 2 * peer->len, 2, "%c", peer->delimiter ? 'd' : 'n');
    uint32_t handle;
    if (sim_map_get(&s->peer_ids, hex, &handle))
        return handle;
    if (s->peer_count == s->peer_cap) {
        size_t cap = s->peer_cap ? s->peer_cap * 2 : 16;
        peer_t *p = realloc(s->peers, cap * sizeof *p);
        if (!p)
            return 0;
        s->peers = p;
        s->peer_cap = cap;
    }
    handle = (uint32_t)s->peer_count + 1;
    if (!sim_map_put(&s->peer_ids, hex, handle))
        return 0;
    s->peers[s->peer_count++] = *peer;
    return handle;
}

static void s_queue_push(queue_t *q, outgoing_t *m)
{
    m->next = NULL;
    if (q->tail)
        q->tail->next = m;
    else
        q->head = m;
    q->tail = m;
}

static outgoing_t *s_queue_pop(queue_t *q)
{
    outgoing_t *m = q->head;
    if (m && !(q->head = m->next))
        q->tail = NULL;
    return m;
}

static void s_queue_free(queue_t *q)
{
    for (outgoing_t *m; (m = s_queue_pop(q));)
        free(m);
}

/* s_enqueue packs REPLY for PEER and queues it to leave after --slow-ms;
 * while a request is handled, events wait until its reply is queued. */
static void s_enqueue(sim_t *s, const peer_t *peer, Sluice__Net__V1__Reply *reply, bool event)
{
    uint64_t now = clock_mono_ms();
    uint64_t due = now + s->slow_ms > s->last_due_ms ? now + s->slow_ms : s->last_due_ms;
    reply->version = PROTOCOL_VERSION;
    reply->sent_at_ms = clock_wall_ms() + (due - now);  /* when it is meant to leave */
    size_t len = sluice__net__v1__reply__get_packed_size(reply);
    outgoing_t *m = malloc(sizeof *m + len);
    if (!m) {
        log_error("failed to queue a reply: out of memory");
        s->n.send_dropped++;
        return;
    }
    m->due_ms = due;
    m->peer = *peer;
    m->len = sluice__net__v1__reply__pack(reply, m->data);
    if (event && s->handling) {
        s_queue_push(&s->deferred, m);
        return;
    }
    s->last_due_ms = due;
    s_queue_push(&s->outbox, m);
}

/* s_release_deferred moves the events of the request just answered behind
 * its reply, with due times that keep the queue in order. */
static void s_release_deferred(sim_t *s)
{
    for (outgoing_t *m; (m = s_queue_pop(&s->deferred));) {
        if (m->due_ms < s->last_due_ms)
            m->due_ms = s->last_due_ms;
        s->last_due_ms = m->due_ms;
        s_queue_push(&s->outbox, m);
    }
}

/* s_send puts one message on the wire without blocking. ROUTER_MANDATORY
 * makes a vanished peer an error instead of a silent drop, so it is counted. */
static void s_send(sim_t *s, const outgoing_t *m)
{
    bool ok = zmq_send(s->gateway, m->peer.id, m->peer.len, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0;
    if (ok && m->peer.delimiter)
        ok = zmq_send(s->gateway, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0;
    if (ok)
        ok = zmq_send(s->gateway, m->data, m->len, ZMQ_DONTWAIT) >= 0;
    if (!ok) {
        log_debug("dropped a message to a peer: %s", zmq_strerror(zmq_errno()));
        s->n.send_dropped++;
    }
}

/* s_step_outbox sends what is due; going dark drops what was still queued. */
static void s_step_outbox(sim_t *s)
{
    uint64_t now = clock_mono_ms();
    while (s->outbox.head && s->outbox.head->due_ms <= now) {
        outgoing_t *m = s_queue_pop(&s->outbox);
        if (s->dark)
            s->n.dark_dropped++;
        else
            s_send(s, m);
        free(m);
    }
}

/* ==== the world's sink: events and ledger ============================= */

static void s_geo(Sluice__Net__V1__Geo *g, sim_geo_t at)
{
    sluice__net__v1__geo__init(g);
    g->lat = at.lat;
    g->lng = at.lng;
}

/* s_cancel_fee: for a cancelled record, what its cancel costs, written into
 * FEE (0 included: "free" is said, not left out); NULL for any other state. */
static Sluice__Net__V1__Fee *s_cancel_fee(const sim_dispatch_t *d, Sluice__Net__V1__Fee *fee)
{
    if (d->state != SLUICE__NET__V1__DISPATCH_STATE__CANCELLED)
        return NULL;
    sluice__net__v1__fee__init(fee);
    fee->cents = d->charged_cents;
    return fee;
}

static void s_on_event(void *ctx, const sim_world_t *w, const sim_dispatch_t *d)
{
    sim_t *s = ctx;
    if (s->dark || d->subscriber == 0) {
        s->n.events_unrouted++;
        return;
    }
    char rider[48];
    sim_world_rider_ref(w, d->rider, rider, sizeof rider);
    Sluice__Net__V1__Geo at;
    Sluice__Net__V1__RiderEvent ev = SLUICE__NET__V1__RIDER_EVENT__INIT;
    ev.key = (char *)d->key;
    ev.order_id = (char *)d->order_id;
    ev.seq = d->seq;
    ev.state = d->state;
    ev.rider_ref = rider;
    ev.at_ms = d->updated_at_ms;
    if (d->rider >= 0) {
        s_geo(&at, sim_world_rider_position(w, (size_t)d->rider, d->updated_at_ms));
        ev.rider_position = &at;
    }
    ev.cancelled_by = d->cancelled_by;
    ev.reason = (char *)d->reason;
    ev.wait_ms = d->state == SLUICE__NET__V1__DISPATCH_STATE__PICKED_UP ? d->wait_ms : 0;
    ev.fee_cents = d->state == SLUICE__NET__V1__DISPATCH_STATE__DELIVERED ||
                           d->state == SLUICE__NET__V1__DISPATCH_STATE__CANCELLED
                       ? d->charged_cents : 0;
    ev.pickup_at_ms = d->pickup_at_ms;
    ev.delivery_at_ms = d->delivery_at_ms;
    Sluice__Net__V1__Fee cancel_fee;
    ev.cancel_fee = s_cancel_fee(d, &cancel_fee);
    Sluice__Net__V1__Reply reply = SLUICE__NET__V1__REPLY__INIT;
    reply.body_case = SLUICE__NET__V1__REPLY__BODY_EVENT;
    reply.event = &ev;
    s->n.events++;
    s_enqueue(s, &s->peers[d->subscriber - 1], &reply, true);
}

static void s_on_record(void *ctx, const sim_world_t *w, const sim_dispatch_t *d,
                        uint64_t at_ms, const char *what, const char *info)
{
    sim_t *s = ctx;
    char rider[48];
    sim_world_rider_ref(w, d->rider, rider, sizeof rider);
    log_debug("%s %s order %s rider %s %s", what, d->key, d->order_id, rider, info);
    if (!s->ledger)
        return;
    uint32_t fee = strcmp(what, "dispatch") == 0 ? d->fee_cents : d->charged_cents;
    if (!sim_ledger_append(s->ledger, at_ms, what, d->key, d->order_id, rider, fee,
                           info)) {
        /* Without its ledger the simulator cannot prove anything: stop. */
        s->stop = true;
        s->exit_code = 1;
    }
}

/* ==== requests ======================================================== */

static void s_reply_error(sim_t *s, const peer_t *peer, uint64_t request_id,
                          Sluice__Net__V1__ErrorCode code, uint64_t retry_after_ms,
                          const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void s_reply_error(sim_t *s, const peer_t *peer, uint64_t request_id,
                          Sluice__Net__V1__ErrorCode code, uint64_t retry_after_ms,
                          const char *fmt, ...)
{
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (code == SLUICE__NET__V1__ERROR_CODE__BAD_REQUEST ||
        code == SLUICE__NET__V1__ERROR_CODE__UNSUPPORTED_VERSION)
        s->n.bad_requests++;
    log_debug("request %" PRIu64 ": error %d: %s", request_id, (int)code, text);
    Sluice__Net__V1__Error err = SLUICE__NET__V1__ERROR__INIT;
    err.code = code;
    err.message = text;
    err.retry_after_ms = retry_after_ms;
    Sluice__Net__V1__Reply reply = SLUICE__NET__V1__REPLY__INIT;
    reply.request_id = request_id;
    reply.body_case = SLUICE__NET__V1__REPLY__BODY_ERROR;
    reply.error = &err;
    s_enqueue(s, peer, &reply, false);
}

/* Field checks: each returns NULL when fine, else what is wrong. */
static const char *s_bad_id(const char *id)
{
    size_t n = strlen(id);
    if (n < 1 || n > SIM_ID_MAX)
        return "must be 1..64 characters of [A-Za-z0-9._:-]";
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)id[i]) && !strchr("._:-", id[i]))
            return "must be 1..64 characters of [A-Za-z0-9._:-]";
    return NULL;
}

static const char *s_bad_geo(const Sluice__Net__V1__Geo *g, sim_geo_t *out)
{
    if (!g)
        return "is required";
    if (!isfinite(g->lat) || !isfinite(g->lng) || g->lat < -90 || g->lat > 90 ||
        g->lng < -180 || g->lng > 180)
        return "must have lat in -90..90 and lng in -180..180";
    *out = (sim_geo_t){.lat = g->lat, .lng = g->lng};
    return NULL;
}

/* s_check_order fills O from the fields a quote and a dispatch share and
 * returns NULL, or the bad field's name with what is wrong in *WHY. */
static const char *s_check_order(const char *order_id, bool order_required,
                                 const Sluice__Net__V1__Geo *pickup,
                                 const Sluice__Net__V1__Geo *dropoff, uint64_t ready_at_ms,
                                 uint32_t items, sim_order_t *o, const char **why)
{
    *why = order_required || order_id[0] ? s_bad_id(order_id) : NULL;
    if (*why)
        return "order_id";
    if ((*why = s_bad_geo(pickup, &o->pickup)))
        return "pickup";
    if ((*why = s_bad_geo(dropoff, &o->dropoff)))
        return "dropoff";
    if (ready_at_ms == 0) {
        *why = "is required";
        return "ready_at_ms";
    }
    if (items < 1 || items > ITEMS_MAX) {
        *why = "must be 1..1000";
        return "items";
    }
    o->order_id = order_id;
    o->ready_at_ms = ready_at_ms;
    o->items = items;
    return NULL;
}

static void s_handle_quote(sim_t *s, const peer_t *peer, uint64_t id,
                           const Sluice__Net__V1__QuoteRequest *q)
{
    sim_order_t o = {.store_id = q->store_id};
    const char *why, *field = s_check_order(q->order_id, false, q->pickup, q->dropoff,
                                            q->ready_at_ms, q->items, &o, &why);
    if (field) {
        s_reply_error(s, peer, id, SLUICE__NET__V1__ERROR_CODE__BAD_REQUEST, 0, "quote.%s: %s",
                      field, why);
        return;
    }
    sim_quote_t quote;
    sim_world_quote(s->world, &o, clock_wall_ms(), &quote);
    Sluice__Net__V1__QuoteReply body = SLUICE__NET__V1__QUOTE_REPLY__INIT;
    body.available = quote.available;
    body.refusal = quote.refusal;
    body.pickup_at_ms = quote.pickup_at_ms;
    body.delivery_at_ms = quote.delivery_at_ms;
    body.fee_cents = quote.fee_cents;
    Sluice__Net__V1__Reply reply = SLUICE__NET__V1__REPLY__INIT;
    reply.request_id = id;
    reply.body_case = SLUICE__NET__V1__REPLY__BODY_QUOTE;
    reply.quote = &body;
    s_enqueue(s, peer, &reply, false);
}

/* s_dispatch_reply repeats record D's first decision, with its state now. */
static void s_dispatch_reply(sim_t *s, const peer_t *peer, uint64_t id, const sim_dispatch_t *d,
                             bool duplicate)
{
    char rider[48];
    sim_world_rider_ref(s->world, d->rider, rider, sizeof rider);
    Sluice__Net__V1__DispatchReply body = SLUICE__NET__V1__DISPATCH_REPLY__INIT;
    body.key = (char *)d->key;
    body.accepted = d->accepted;
    body.refusal = d->refusal;
    body.duplicate = duplicate;
    body.rider_ref = rider;
    body.pickup_at_ms = d->first_pickup_at_ms;
    body.delivery_at_ms = d->first_delivery_at_ms;
    body.fee_cents = d->fee_cents;
    body.state = d->state;
    Sluice__Net__V1__Reply reply = SLUICE__NET__V1__REPLY__INIT;
    reply.request_id = id;
    reply.body_case = SLUICE__NET__V1__REPLY__BODY_DISPATCH;
    reply.dispatch = &body;
    s_enqueue(s, peer, &reply, false);
}

static void s_handle_dispatch(sim_t *s, const peer_t *peer, uint64_t id,
                              const Sluice__Net__V1__DispatchRequest *q)
{
    sim_order_t o = {.key = q->key, .store_id = q->store_id, .deliver_by_ms = q->deliver_by_ms,
                     .subscriber = s_peer_handle(s, peer)};
    const char *why = s_bad_id(q->key), *field = why ? "key" : NULL;
    if (!field)
        field = s_check_order(q->order_id, true, q->pickup, q->dropoff, q->ready_at_ms, q->items,
                              &o, &why);
    if (field) {
        s_reply_error(s, peer, id, SLUICE__NET__V1__ERROR_CODE__BAD_REQUEST, 0,
                      "dispatch.%s: %s", field, why);
        return;
    }
    uint32_t index;
    sim_result_t result = sim_world_dispatch(s->world, &o, clock_wall_ms(), &index);
    if (result == SIM_CONFLICT) {
        s_reply_error(s, peer, id, SLUICE__NET__V1__ERROR_CODE__KEY_CONFLICT, 0,
                      "dispatch.key: %s was first used for order %s", q->key,
                      sim_world_record(s->world, index)->order_id);
        return;
    }
    if (result == SIM_NOMEM) {
        s_reply_error(s, peer, id, SLUICE__NET__V1__ERROR_CODE__UNAVAILABLE, RETRY_AFTER_MS,
                      "out of memory");
        return;
    }
    s_dispatch_reply(s, peer, id, sim_world_record(s->world, index), result == SIM_DUPLICATE);
}

static void s_handle_cancel(sim_t *s, const peer_t *peer, uint64_t id,
                            const Sluice__Net__V1__CancelRequest *q)
{
    const char *why = s_bad_id(q->key);
    if (why || strlen(q->reason) > REASON_BYTES_MAX) {
        s_reply_error(s, peer, id, SLUICE__NET__V1__ERROR_CODE__BAD_REQUEST, 0, "cancel.%s: %s",
                      why ? "key" : "reason", why ? why : "must be at most 200 bytes");
        return;
    }
    sim_state_t previous;
    uint32_t index;
    if (sim_world_cancel(s->world, q->key, q->reason, s_peer_handle(s, peer), clock_wall_ms(),
                         &previous, &index) != SIM_OK) {
        s_reply_error(s, peer, id, SLUICE__NET__V1__ERROR_CODE__UNAVAILABLE, RETRY_AFTER_MS,
                      "out of memory");
        return;
    }
    const sim_dispatch_t *d = sim_world_record(s->world, index);
    char rider[48];
    sim_world_rider_ref(s->world, d->rider, rider, sizeof rider);
    Sluice__Net__V1__CancelReply body = SLUICE__NET__V1__CANCEL_REPLY__INIT;
    body.key = (char *)d->key;
    body.previous = previous;
    body.state = d->state;
    body.rider_ref = rider;
    body.fee_cents = d->state == SLUICE__NET__V1__DISPATCH_STATE__CANCELLED ? d->charged_cents : 0;
    Sluice__Net__V1__Fee cancel_fee;
    body.cancel_fee = s_cancel_fee(d, &cancel_fee);
    Sluice__Net__V1__Reply reply = SLUICE__NET__V1__REPLY__INIT;
    reply.request_id = id;
    reply.body_case = SLUICE__NET__V1__REPLY__BODY_CANCEL;
    reply.cancel = &body;
    s_enqueue(s, peer, &reply, false);
}

static void s_status_body(sim_t *s, const sim_dispatch_t *d, Sluice__Net__V1__StatusReply *b,
                          char *rider, size_t rider_len, Sluice__Net__V1__Geo *at,
                          Sluice__Net__V1__Fee *cancel_fee)
{
    sim_world_rider_ref(s->world, d->rider, rider, rider_len);
    b->key = (char *)d->key;
    b->state = d->state;
    b->order_id = (char *)d->order_id;
    b->rider_ref = rider;
    b->seq = d->seq;
    b->updated_at_ms = d->updated_at_ms;
    b->assigned_at_ms = d->assigned_at_ms;
    b->arrived_at_ms = d->arrived_at_ms;
    b->picked_up_at_ms = d->picked_up_at_ms;
    b->delivered_at_ms = d->delivered_at_ms;
    b->cancelled_at_ms = d->cancelled_at_ms;
    b->cancelled_by = d->cancelled_by;
    b->pickup_at_ms = d->pickup_at_ms;
    b->delivery_at_ms = d->delivery_at_ms;
    b->fee_cents = d->state == SLUICE__NET__V1__DISPATCH_STATE__DELIVERED ||
                           d->state == SLUICE__NET__V1__DISPATCH_STATE__CANCELLED
                       ? d->charged_cents : d->fee_cents;
    b->refusal = d->refusal;
    b->cancel_fee = s_cancel_fee(d, cancel_fee);
    if (d->rider >= 0) {
        s_geo(at, sim_world_rider_position(s->world, (size_t)d->rider, clock_wall_ms()));
        b->rider_position = at;
    }
}

static void s_handle_status(sim_t *s, const peer_t *peer, uint64_t id,
                            const Sluice__Net__V1__StatusRequest *q)
{
    const char *why = s_bad_id(q->key);
    if (why) {
        s_reply_error(s, peer, id, SLUICE__NET__V1__ERROR_CODE__BAD_REQUEST, 0, "status.key: %s",
                      why);
        return;
    }
    Sluice__Net__V1__StatusReply body = SLUICE__NET__V1__STATUS_REPLY__INIT;
    Sluice__Net__V1__Geo at;
    Sluice__Net__V1__Fee cancel_fee;
    char rider[48];
    uint32_t index;
    sim_world_advance(s->world, clock_wall_ms());
    if (sim_world_find(s->world, q->key, &index)) {
        sim_world_subscribe(s->world, index, s_peer_handle(s, peer));
        s_status_body(s, sim_world_record(s->world, index), &body, rider, sizeof rider, &at,
                      &cancel_fee);
    } else {
        body.key = (char *)q->key;
        body.state = SLUICE__NET__V1__DISPATCH_STATE__UNKNOWN;
    }
    Sluice__Net__V1__Reply reply = SLUICE__NET__V1__REPLY__INIT;
    reply.request_id = id;
    reply.body_case = SLUICE__NET__V1__REPLY__BODY_STATUS;
    reply.status = &body;
    s_enqueue(s, peer, &reply, false);
}

/* s_days_from_civil: days since 1970-01-01 of a proleptic Gregorian date
 * (Howard Hinnant's algorithm). */
static int64_t s_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* s_parse_day reads "YYYY-MM-DD" (1970..9999, a real date) into days since
 * the epoch. */
static bool s_parse_day(const char *text, int64_t *days)
{
    static const unsigned month_days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned y, m, d;
    int used = 0;
    if (strlen(text) != 10 || sscanf(text, "%4u-%2u-%2u%n", &y, &m, &d, &used) != 3 ||
        used != 10 || text[4] != '-' || text[7] != '-' || !isdigit((unsigned char)text[5]) ||
        !isdigit((unsigned char)text[8]))
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1970 || m < 1 || m > 12 || d < 1 || d > month_days[m - 1] || (m == 2 && d == 29 && !leap))
        return false;
    *days = s_days_from_civil(y, m, d);
    return true;
}

/* s_parse_token reads a page token: "" (the first page) or the decimal
 * position the previous page said. */
static bool s_parse_token(const char *text, size_t *start)
{
    if (!text[0]) {
        *start = SIZE_MAX;
        return true;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long v = isdigit((unsigned char)text[0]) ? strtoull(text, &end, 10) : 0;
    if (!end || *end || errno || v >= SIZE_MAX)
        return false;
    *start = (size_t)v;
    return true;
}

/* s_phantom_line: a delivery never dispatched (settle phantom N); KEY holds
 * its key and order id. */
static void s_phantom_line(const sim_line_t *line, Sluice__Net__V1__SettlementLine *l, char *key,
                           size_t key_len)
{
    snprintf(key, key_len, "phantom-%" PRIu32, line->phantom);
    sluice__net__v1__settlement_line__init(l);
    l->key = key;
    l->order_id = key;
    l->status = SLUICE__NET__V1__DISPATCH_STATE__DELIVERED;
    l->at_ms = line->at_ms;
    l->fee_cents = line->fee_cents;
    l->store_id = line->store_id;
}

static void s_settlement_line(sim_t *s, const sim_line_t *line, Sluice__Net__V1__SettlementLine *l,
                              char *rider, size_t rider_len)
{
    if (line->phantom) {
        s_phantom_line(line, l, rider, rider_len);
        return;
    }
    const sim_dispatch_t *d = sim_world_record(s->world, line->index);
    sim_world_rider_ref(s->world, d->rider, rider, rider_len);
    sluice__net__v1__settlement_line__init(l);
    l->key = (char *)d->key;
    l->order_id = (char *)d->order_id;
    l->status = d->state;
    l->at_ms = line->at_ms;
    l->fee_cents = line->fee_cents;
    l->rider_ref = rider;
    l->store_id = d->store_id;
    l->cancelled_by = d->cancelled_by;
}

/* s_settlement_page finds the page Q asks for; NULL, or what is wrong. */
static const char *s_settlement_page(sim_t *s, const Sluice__Net__V1__SettlementRequest *q,
                                     uint64_t *from, sim_line_t *lines, sim_page_t *page)
{
    int64_t days;
    size_t start;
    if (!s_parse_day(q->day, &days))
        return "day: must be a date YYYY-MM-DD, 1970 or later";
    if (q->utc_offset_minutes < -840 || q->utc_offset_minutes > 840)
        return "utc_offset_minutes: must be -840..840";
    int64_t begin = days * (int64_t)DAY_MS - (int64_t)q->utc_offset_minutes * 60000;
    if (begin < 0)
        return "day: starts before 1970 at this offset";
    if (!s_parse_token(q->page_token, &start))
        return "page_token: not one this gateway gave";
    size_t max = q->max_lines == 0 ? PAGE_DEFAULT : q->max_lines > PAGE_MAX ? PAGE_MAX : q->max_lines;
    *from = (uint64_t)begin;
    if (!sim_world_settlement(s->world, *from, *from + DAY_MS, start, max, lines, page))
        return "page_token: not one this gateway gave for this day";
    return NULL;
}

static void s_handle_settlement(sim_t *s, const peer_t *peer, uint64_t id,
                                const Sluice__Net__V1__SettlementRequest *q)
{
    uint64_t now = clock_wall_ms(), from = 0;
    sim_world_advance(s->world, now);
    sim_line_t lines[PAGE_MAX];
    sim_page_t page;
    const char *bad = s_settlement_page(s, q, &from, lines, &page);
    if (bad) {
        s_reply_error(s, peer, id, SLUICE__NET__V1__ERROR_CODE__BAD_REQUEST, 0, "settlement.%s",
                      bad);
        return;
    }
    Sluice__Net__V1__SettlementLine line_msgs[PAGE_MAX];
    Sluice__Net__V1__SettlementLine *line_ptrs[PAGE_MAX];
    char riders[PAGE_MAX][48];
    for (size_t i = 0; i < page.count; i++) {
        s_settlement_line(s, &lines[i], &line_msgs[i], riders[i], sizeof riders[i]);
        line_ptrs[i] = &line_msgs[i];
    }
    char token[32] = "";
    if (page.more)
        snprintf(token, sizeof token, "%zu", page.next);
    Sluice__Net__V1__SettlementReply body = SLUICE__NET__V1__SETTLEMENT_REPLY__INIT;
    body.day = q->day;
    body.utc_offset_minutes = q->utc_offset_minutes;
    body.n_lines = page.count;
    body.lines = line_ptrs;
    body.next_page_token = token;
    body.total_lines = page.total_lines;
    body.total_fee_cents = page.total_fee_cents;
    body.final = (uint64_t)from + DAY_MS <= now;
    Sluice__Net__V1__Reply reply = SLUICE__NET__V1__REPLY__INIT;
    reply.request_id = id;
    reply.body_case = SLUICE__NET__V1__REPLY__BODY_SETTLEMENT;
    reply.settlement = &body;
    s_enqueue(s, peer, &reply, false);
}

/* s_draw_failure: --fail-ratio, decided before anything else so an injected
 * failure never has an effect (the protocol's promise for Error). */
static bool s_draw_failure(sim_t *s)
{
    if (s->fail_ratio <= 0)
        return false;
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53 < s->fail_ratio;
}

static void s_handle_body(sim_t *s, const peer_t *peer, const Sluice__Net__V1__Request *req)
{
    uint64_t id = req->request_id;
    switch (req->body_case) {
    case SLUICE__NET__V1__REQUEST__BODY_QUOTE: s_handle_quote(s, peer, id, req->quote); break;
    case SLUICE__NET__V1__REQUEST__BODY_DISPATCH: s_handle_dispatch(s, peer, id, req->dispatch); break;
    case SLUICE__NET__V1__REQUEST__BODY_CANCEL: s_handle_cancel(s, peer, id, req->cancel); break;
    case SLUICE__NET__V1__REQUEST__BODY_STATUS: s_handle_status(s, peer, id, req->status); break;
    case SLUICE__NET__V1__REQUEST__BODY_SETTLEMENT:
        s_handle_settlement(s, peer, id, req->settlement);
        break;
    default:
        s_reply_error(s, peer, id, SLUICE__NET__V1__ERROR_CODE__BAD_REQUEST, 0,
                      "body: a Request needs one of quote, dispatch, cancel, status, settlement");
    }
}

/* s_handle_request answers one frame from PEER: version and id first, then
 * the injected failure, then the body. */
static void s_handle_request(sim_t *s, const peer_t *peer, const uint8_t *data, size_t len)
{
    s->n.requests++;
    if (s->dark) {
        s->n.dark_dropped++;
        return;
    }
    Sluice__Net__V1__Request *req = sluice__net__v1__request__unpack(NULL, len, data);
    s->handling = true;
    if (!req)
        s_reply_error(s, peer, 0, SLUICE__NET__V1__ERROR_CODE__BAD_REQUEST, 0,
                      "not a sluice.net.v1.Request");
    else if (req->version != PROTOCOL_VERSION)
        s_reply_error(s, peer, req->request_id, SLUICE__NET__V1__ERROR_CODE__UNSUPPORTED_VERSION,
                      0, "version %" PRIu32 " is not supported; this gateway speaks version %d",
                      req->version, PROTOCOL_VERSION);
    else if (req->request_id == 0)
        s_reply_error(s, peer, 0, SLUICE__NET__V1__ERROR_CODE__BAD_REQUEST, 0,
                      "request_id: must not be 0 (reserved for events)");
    else if (s_draw_failure(s)) {
        s->n.injected_failures++;
        s_reply_error(s, peer, req->request_id, SLUICE__NET__V1__ERROR_CODE__UNAVAILABLE,
                      RETRY_AFTER_MS, "injected failure (--fail-ratio)");
    } else
        s_handle_body(s, peer, req);
    s->handling = false;
    s_release_deferred(s);
    sluice__net__v1__request__free_unpacked(req, NULL);
}

/* s_read_message reads one whole message from the ROUTER: identity, an
 * optional empty delimiter, the payload. Returns false when none is waiting;
 * *OK is false when its shape was wrong (it is dropped). */
static bool s_read_message(sim_t *s, peer_t *peer, zmq_msg_t *payload, bool *ok)
{
    zmq_msg_t frame;
    zmq_msg_init(&frame);
    if (zmq_msg_recv(&frame, s->gateway, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&frame);
        return false;
    }
    *ok = zmq_msg_size(&frame) >= 1 && zmq_msg_size(&frame) <= IDENTITY_MAX;
    if (*ok) {
        peer->len = (uint8_t)zmq_msg_size(&frame);
        memcpy(peer->id, zmq_msg_data(&frame), peer->len);
    }
    peer->delimiter = false;
    int frames = 1;
    while (zmq_msg_more(&frame)) {
        zmq_msg_close(&frame);
        zmq_msg_init(&frame);
        if (zmq_msg_recv(&frame, s->gateway, 0) < 0)
            break;
        frames++;
        if (frames == 2 && zmq_msg_size(&frame) == 0 && zmq_msg_more(&frame))
            peer->delimiter = true;
        else if (frames == 2 + peer->delimiter)
            zmq_msg_copy(payload, &frame);
    }
    zmq_msg_close(&frame);
    *ok = *ok && frames == 2 + peer->delimiter;
    return true;
}

static void s_step_gateway(sim_t *s)
{
    for (int i = 0; i < RECV_BATCH; i++) {
        peer_t peer;
        zmq_msg_t payload;
        zmq_msg_init(&payload);
        bool ok = false;
        bool got = s_read_message(s, &peer, &payload, &ok);
        if (got && ok)
            s_handle_request(s, &peer, zmq_msg_data(&payload), zmq_msg_size(&payload));
        else if (got)
            s->n.malformed++;
        zmq_msg_close(&payload);
        if (!got)
            break;
    }
}

/* ==== control channel ================================================= */

static void s_stats(const sim_t *s, char *buf, size_t len)
{
    const sim_stats_t *w = sim_world_stats(s->world);
    snprintf(buf, len,
             "requests=%" PRIu64 " quotes=%" PRIu64 " dispatches=%" PRIu64 " duplicates=%" PRIu64
             " refused=%" PRIu64 " conflicts=%" PRIu64 " cancels=%" PRIu64 " tombstones=%" PRIu64
             " cancels_too_late=%" PRIu64 " client_cancelled=%" PRIu64
             " platform_cancelled=%" PRIu64 " arrived=%" PRIu64 " picked_up=%" PRIu64
             " delivered=%" PRIu64 " live=%zu riders_idle=%zu riders=%zu"
             " waits=%" PRIu64 " wait_ms_avg=%" PRIu64 " wait_ms_max=%" PRIu64
             " lates=%" PRIu64 " late_ms_avg=%" PRIu64 " late_ms_max=%" PRIu64
             " bad_requests=%" PRIu64 " injected_failures=%" PRIu64 " dark_dropped=%" PRIu64
             " events=%" PRIu64 " events_unrouted=%" PRIu64 " send_dropped=%" PRIu64
             " malformed=%" PRIu64 " slow_ms=%" PRIu64 " fail_ratio=%g cancel_ratio=%g skew=%g"
             " dark=%d",
             s->n.requests, w->quotes, w->dispatches, w->duplicates, w->refused, w->conflicts,
             w->cancels, w->tombstones, w->cancels_too_late, w->client_cancelled,
             w->platform_cancelled, w->arrived, w->picked_up, w->delivered,
             sim_world_live(s->world), sim_world_idle_riders(s->world),
             sim_world_rider_count(s->world), w->waits,
             w->waits ? w->wait_ms_total / w->waits : 0, w->wait_ms_max, w->lates,
             w->lates ? w->late_ms_total / w->lates : 0, w->late_ms_max, s->n.bad_requests,
             s->n.injected_failures, s->n.dark_dropped, s->n.events, s->n.events_unrouted,
             s->n.send_dropped, s->n.malformed, s->slow_ms, s->fail_ratio,
             sim_world_params(s->world)->cancel_ratio,
             sim_world_params(s->world)->settlement_skew, s->dark);
}

/* s_ratio_arg reads a control command's ratio argument. */
static bool s_ratio_arg(const char *arg, double *out)
{
    return arg && s_number(arg, out) && *out >= 0 && *out <= 1;
}

/* s_control_settle: `settle KIND N` sets how many lines of each day's
 * settlement report get fault KIND (sim_settle_faults_t); 0 clears it. */
static void s_control_settle(sim_t *s, const char *kind, const char *count, char *out, size_t len)
{
    sim_settle_faults_t f = sim_world_params(s->world)->settle;
    uint32_t *field = NULL;
    if (kind && strcmp(kind, "omit") == 0)
        field = &f.omit;
    else if (kind && strcmp(kind, "overcharge") == 0)
        field = &f.overcharge;
    else if (kind && strcmp(kind, "duplicate") == 0)
        field = &f.duplicate;
    else if (kind && strcmp(kind, "phantom") == 0)
        field = &f.phantom;
    char *end = NULL;
    unsigned long n = count && isdigit((unsigned char)count[0]) ? strtoul(count, &end, 10) : 0;
    if (field == NULL || !end || *end || n > 100000) {
        snprintf(out, len, "error: settle needs omit|overcharge|duplicate|phantom and 0..100000");
        return;
    }
    *field = (uint32_t)n;
    sim_world_set_settle_faults(s->world, &f);
    snprintf(out, len, "ok settle %s %lu", kind, n);
}

/* s_control_stall: `stall next N [at assigned|arrived|picked-up]` stalls
 * the next N dispatches accepted (0: none), `stall KEY [at ...]` one known
 * key; the ride stops at that state for good (default: assigned, the rider
 * never arrives; arrived: the rider waits at the counter), while Status
 * keeps telling the truth. */
static void s_control_stall(sim_t *s, const char *what, char *save, char *out, size_t len)
{
    bool next = what && strcmp(what, "next") == 0;
    const char *count = next ? strtok_r(NULL, " \t\r\n", &save) : NULL;
    const char *at = strtok_r(NULL, " \t\r\n", &save);
    const char *state = at ? strtok_r(NULL, " \t\r\n", &save) : "assigned";
    sim_state_t st = 0;
    if (state && strcmp(state, "assigned") == 0)
        st = SLUICE__NET__V1__DISPATCH_STATE__ASSIGNED;
    else if (state && strcmp(state, "arrived") == 0)
        st = SLUICE__NET__V1__DISPATCH_STATE__ARRIVED;
    else if (state && strcmp(state, "picked-up") == 0)
        st = SLUICE__NET__V1__DISPATCH_STATE__PICKED_UP;
    char *end = NULL;
    unsigned long n = count && isdigit((unsigned char)count[0]) ? strtoul(count, &end, 10) : 0;
    bool ok = what && st && (!at || strcmp(at, "at") == 0) && !strtok_r(NULL, " \t\r\n", &save);
    if (ok && next)
        ok = end && !*end && n <= 100000 && sim_world_stall_next(s->world, (uint32_t)n, st);
    else if (ok)
        ok = sim_world_stall(s->world, what, st);
    if (!ok) {
        snprintf(out, len, "error: stall needs next N (0..100000) or a known key, then "
                           "optionally at assigned|arrived|picked-up");
        return;
    }
    if (next)
        snprintf(out, len, "ok stall next %lu at %s", n, state);
    else
        snprintf(out, len, "ok stall %s at %s", what, state);
}

/* s_control runs one text command and writes the answer to OUT. */
static void s_control(sim_t *s, char *cmd, char *out, size_t len)
{
    char *save = NULL, *verb = strtok_r(cmd, " \t\r\n", &save);
    char *arg = strtok_r(NULL, " \t\r\n", &save);
    double r = 0;
    if (!verb) {
        snprintf(out, len, "error: empty command (try help)");
    } else if (strcmp(verb, "slow") == 0) {
        uint64_t ms = 0;
        char *end = NULL;
        if (arg && isdigit((unsigned char)arg[0]))
            ms = strtoull(arg, &end, 10);
        if (!end || *end || ms > 600000) {
            snprintf(out, len, "error: slow needs milliseconds 0..600000");
            return;
        }
        s->slow_ms = ms;
        snprintf(out, len, "ok slow %" PRIu64, ms);
    } else if (strcmp(verb, "fail") == 0 || strcmp(verb, "cancel-ratio") == 0 ||
               strcmp(verb, "skew") == 0) {
        if (!s_ratio_arg(arg, &r)) {
            snprintf(out, len, "error: %s needs a ratio in 0..1", verb);
            return;
        }
        if (verb[0] == 'f')
            s->fail_ratio = r;
        else if (verb[0] == 'c')
            sim_world_set_cancel_ratio(s->world, r);
        else
            sim_world_set_settlement_skew(s->world, r);
        snprintf(out, len, "ok %s %g", verb, r);
    } else if (strcmp(verb, "pace") == 0) {
        char *end = NULL;
        r = arg ? strtod(arg, &end) : 0;
        if (!arg || end == arg || *end || !(r > 0 && r <= SIM_PACE_MAX)) {
            snprintf(out, len, "error: pace needs a factor 0 < F <= %g", SIM_PACE_MAX);
            return;
        }
        sim_world_set_pace(s->world, r);
        snprintf(out, len, "ok pace %g", r);
    } else if (strcmp(verb, "dark") == 0 || strcmp(verb, "light") == 0) {
        s->dark = verb[0] == 'd';
        snprintf(out, len, "ok %s", verb);
    } else if (strcmp(verb, "platform-cancel") == 0) {
        if (!arg || !sim_world_platform_cancel(s->world, arg, clock_wall_ms()))
            snprintf(out, len, "error: %s is not a key with a rider before pickup",
                     arg ? arg : "(none)");
        else
            snprintf(out, len, "ok platform-cancel %s", arg);
    } else if (strcmp(verb, "settle") == 0) {
        s_control_settle(s, arg, strtok_r(NULL, " \t\r\n", &save), out, len);
    } else if (strcmp(verb, "stall") == 0) {
        s_control_stall(s, arg, save, out, len);
    } else if (strcmp(verb, "stats") == 0) {
        s_stats(s, out, len);
    } else if (strcmp(verb, "help") == 0) {
        snprintf(out, len, "ok commands: slow MS | fail R | dark | light | cancel-ratio R | "
                           "skew R | pace F | settle omit|overcharge|duplicate|phantom N | "
                           "platform-cancel KEY | "
                           "stall next N|KEY [at assigned|arrived|picked-up] | stats | help");
    } else {
        snprintf(out, len, "error: unknown command '%s' (try help)", verb);
    }
}

/* s_step_control answers every waiting command. A REP socket must answer
 * each request before it can read the next, so each gets one reply. */
static void s_step_control(sim_t *s)
{
    if (!s->control)
        return;
    for (;;) {
        char cmd[CONTROL_MAX + 1];
        int n = zmq_recv(s->control, cmd, CONTROL_MAX, ZMQ_DONTWAIT);
        if (n < 0)
            return;
        cmd[n < CONTROL_MAX ? n : CONTROL_MAX] = '\0';
        char logged[CONTROL_MAX + 1];
        snprintf(logged, sizeof logged, "%s", cmd);
        char out[2048];
        s_control(s, cmd, out, sizeof out);
        if (strncmp(logged, "stats", 5) != 0)
            log_notice("control: %s -> %s", logged, out);
        if (zmq_send(s->control, out, strlen(out), 0) < 0)
            log_warning("failed to answer a control command: %s", zmq_strerror(zmq_errno()));
    }
}

/* ==== setup and the loop ============================================== */

static bool s_step_signals(sim_t *s)
{
    struct signalfd_siginfo si;
    while (read(s->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        log_notice("received signal %u, stopping", si.ssi_signo);
        s->stop = true;
    }
    return s->stop;
}

/* s_bind makes a socket of TYPE bound at ENDPOINT, and writes where it
 * really listens (port * resolved) to BOUND. */
static void *s_bind(sim_t *s, int type, const char *option, const char *endpoint, char *bound,
                    size_t bound_len)
{
    void *sock = zmq_socket(s->ctx, type);
    /* A gateway must hold at least max_inflight replies per client (the
     * adapter pipelines that many); ZeroMQ's default of 1,000 dropped some. */
    int linger = 0, mandatory = 1, hwm = 100000;
    int64_t max = MAX_FRAME_BYTES;
    if (!sock || zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &max, sizeof max) != 0 ||
        zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        (type == ZMQ_ROUTER &&
         zmq_setsockopt(sock, ZMQ_ROUTER_MANDATORY, &mandatory, sizeof mandatory) != 0) ||
        zmq_bind(sock, endpoint) != 0) {
        log_error("failed to bind --%s %s: %s", option, endpoint, zmq_strerror(zmq_errno()));
        if (sock)
            zmq_close(sock);
        return NULL;
    }
    size_t len = bound_len;
    if (zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, bound, &len) != 0)
        snprintf(bound, bound_len, "%s", endpoint);
    return sock;
}

static int s_signal_fd(void)
{
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    /* Blocked before the ZeroMQ context starts its threads, so they inherit
     * the mask and the signals only ever reach the signalfd. */
    if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0)
        return -1;
    return signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
}

static void s_close(sim_t *s)
{
    if (s->gateway)
        zmq_close(s->gateway);
    if (s->control)
        zmq_close(s->control);
    if (s->ctx)
        zmq_ctx_term(s->ctx);
    if (s->sigfd >= 0)
        close(s->sigfd);
    s_queue_free(&s->outbox);
    s_queue_free(&s->deferred);
    sim_world_destroy(&s->world);
    sim_ledger_close(&s->ledger);
    sim_map_free(&s->peer_ids);
    free(s->peers);
}

static bool s_open(sim_t *s)
{
    char gateway[256], control[256] = "none";
    s->sigfd = s_signal_fd();
    if (s->sigfd < 0) {
        log_error("failed to set up signals: %s", strerror(errno));
        return false;
    }
    if (s->opt.ledger && !(s->ledger = sim_ledger_open(s->opt.ledger, s->opt.params.name,
                                                         clock_wall_ms())))
        return false;
    sim_sink_t sink = {.ctx = s, .event = s_on_event, .record = s_on_record};
    if (!(s->world = sim_world_new(&s->opt.params, &sink))) {
        log_error("failed to place %" PRIu32 " riders: out of memory", s->opt.params.riders);
        return false;
    }
    if (!(s->ctx = zmq_ctx_new())) {
        log_error("failed to create a ZeroMQ context: %s", zmq_strerror(zmq_errno()));
        return false;
    }
    if (!(s->gateway = s_bind(s, ZMQ_ROUTER, "endpoint", s->opt.endpoint, gateway, sizeof gateway)))
        return false;
    if (s->opt.control && !(s->control = s_bind(s, ZMQ_REP, "control", s->opt.control, control,
                                                sizeof control)))
        return false;
    const sim_params_t *p = &s->opt.params;
    log_notice("ready gateway=%s control=%s name=%s riders=%" PRIu32 " cities=%" PRIu32
               " time_scale=%g cancel_ratio=%g slow_ms=%" PRIu64 " fail_ratio=%g dark=%d ledger=%s",
               gateway, control, p->name, p->riders, 1 + p->more_center_count, p->time_scale,
               p->cancel_ratio, s->slow_ms,
               s->fail_ratio, s->dark, s->opt.ledger ? s->opt.ledger : "none");
    return true;
}

/* s_poll_timeout: until the next rider step or outgoing message is due. */
static long s_poll_timeout(sim_t *s)
{
    long timeout = POLL_MAX_MS;
    uint64_t due = sim_world_next_due(s->world), now = clock_wall_ms();
    if (due != UINT64_MAX)
        timeout = due <= now ? 0 : (long)(due - now < POLL_MAX_MS ? due - now : POLL_MAX_MS);
    if (s->outbox.head) {
        uint64_t mono = clock_mono_ms(), at = s->outbox.head->due_ms;
        long wait = at <= mono ? 0 : (long)(at - mono);
        if (wait < timeout)
            timeout = wait;
    }
    return timeout;
}

/* s_run is the loop: wait, then signals, requests, control commands, rider
 * timers, and whatever is due to leave. */
static void s_run(sim_t *s)
{
    zmq_pollitem_t items[3] = {
        {.socket = s->gateway, .events = ZMQ_POLLIN},
        {.fd = s->sigfd, .events = ZMQ_POLLIN},
        {.socket = s->control, .events = ZMQ_POLLIN},
    };
    int count = s->control ? 3 : 2;
    while (!s->stop) {
        if (zmq_poll(items, count, s_poll_timeout(s)) < 0 && zmq_errno() != EINTR) {
            log_error("failed to poll: %s", zmq_strerror(zmq_errno()));
            s->exit_code = 1;
            return;
        }
        if (s_step_signals(s))
            break;
        s_step_gateway(s);
        s_step_control(s);
        sim_world_advance(s->world, clock_wall_ms());
        s_step_outbox(s);
    }
}

static int s_check_ledgers(int argc, char **argv)
{
    long bad = sim_ledger_check((const char *const *)argv, (size_t)argc, stdout);
    if (bad < 0)
        return EXIT_USAGE;
    printf("%s: %ld order%s with two live riders in %d ledger%s\n", bad ? "FAIL" : "ok", bad,
           bad == 1 ? "" : "s", argc, argc == 1 ? "" : "s");
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    sim_t s = {.sigfd = -1};
    int rc = s_parse_options(argc, argv, &s.opt);
    if (rc >= 0)
        return rc;
    if (s.opt.check_ledger)
        return s_check_ledgers(argc - optind, argv + optind);
    if (s.opt.verbose)
        log_set_level(LOG_LEVEL_DEBUG);
    s.slow_ms = s.opt.slow_ms;
    s.fail_ratio = s.opt.fail_ratio;
    s.dark = s.opt.dark;
    s.rng = s.opt.params.seed ^ 0xfa11u;
    if (!s_open(&s)) {
        s_close(&s);
        return 1;
    }
    s_run(&s);
    char stats[2048];
    s_stats(&s, stats, sizeof stats);
    log_notice("stopped: %s", stats);
    s_close(&s);
    return s.exit_code;
}
