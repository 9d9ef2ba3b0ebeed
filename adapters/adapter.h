/* adapter.h - owns the delivery-platform adapter interface: a const struct of
 * operations per transport (open, quote, dispatch, cancel, status,
 * settlement, close, and the event-loop hooks poll, timeout_ms, step),
 * registered by name (config `platforms.[].adapter`), called through the thin
 * adapter_* wrappers below. Results are plain C structs: the daemon never
 * touches a transport's wire types, and the transports never see the
 * daemon's configuration (adapter_platform_t is what they are told).
 *
 * How the daemon drives one open adapter (one per platform), single-threaded
 * and never blocking:
 *
 *   each loop pass:  n = adapter_poll(a, items + k, ADAPTER_POLL_MAX);
 *                    timeout = min(timeout, adapter_timeout_ms(a, now));
 *                    zmq_poll(items, ...);
 *                    adapter_step(a, clock_mono_ms());   (every pass)
 *
 * A request call (adapter_quote, ...) either returns ADAPTER_SEND_OK, and
 * then its callback runs exactly once, later, from adapter_step or
 * adapter_close; or it returns another adapter_send_t, and then nothing was
 * sent and the callback never runs. A request call never runs a callback
 * itself. Callbacks may send new requests (a dispatch that timed out may be
 * cancelled from its own callback) but must not call adapter_step or
 * adapter_close.
 *
 * Deadlines are absolute times on the monotonic clock (clock_mono_ms); 0
 * means the platform's default: now + quote_deadline_ms for a quote, now +
 * timeout_ms for every other request. All *_at_ms fields are unix epoch
 * milliseconds (wall clock), as on the wire.
 *
 * Rider events, and the moments the connection to the gateway comes up or
 * goes down, go to the listener given to adapter_open. What the protocol
 * (proto/network.proto) asks of "the adapter" beyond the transport is split
 * this way: the transport delivers every well-formed event with its seq; the
 * dispatch engine, which owns each key's last applied seq (it is stored with
 * the dispatch and survives restarts), drops stale events and asks Status on
 * a gap (adapter_event_order decides which), and on every link-up, the first
 * included, sends adapter_status for every key it considers in flight. */
#ifndef SLUICE_ADAPTER_H
#define SLUICE_ADAPTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#define ADAPTER_ID_MAX 64               /* dispatch keys and order ids: 1..64 of [A-Za-z0-9._:-] */
#define ADAPTER_REF_MAX 64              /* rider_ref, opaque, at most 64 bytes */
#define ADAPTER_REASON_MAX 200          /* CancelRequest.reason, bytes */
#define ADAPTER_TEXT_MAX 200            /* free text from a gateway is cut to this many bytes */
#define ADAPTER_ITEMS_MAX 1000
#define ADAPTER_DAY_LEN 10              /* "YYYY-MM-DD" */
#define ADAPTER_PAGE_TOKEN_MAX 128      /* settlement page tokens: printable ASCII */
#define ADAPTER_SETTLEMENT_LINES_MAX 256
#define ADAPTER_POLL_MAX 2              /* most zmq_pollitem_t one adapter asks for */
#define ADAPTER_REGISTRY_MAX 16         /* transports one process can know */
#define ADAPTER_CONNECT_TIMEOUT_MS 2000 /* a connection attempt that long unanswered failed */
#define ADAPTER_RECONNECT_MAX_MS 2000   /* a link down is tried again at least this often */

/* ---- values, with network.proto's numbers ---------------------------- */

typedef enum adapter_state {
    ADAPTER_STATE_NONE = 0,   /* not set */
    ADAPTER_STATE_UNKNOWN,    /* the gateway has no record of the key */
    ADAPTER_STATE_REFUSED,    /* terminal */
    ADAPTER_STATE_PENDING,
    ADAPTER_STATE_ASSIGNED,
    ADAPTER_STATE_ARRIVED,
    ADAPTER_STATE_PICKED_UP,
    ADAPTER_STATE_DELIVERED,  /* terminal */
    ADAPTER_STATE_CANCELLED,  /* terminal */
} adapter_state_t;

typedef enum adapter_refusal {
    ADAPTER_REFUSAL_NONE = 0,
    ADAPTER_REFUSAL_NO_RIDER,
    ADAPTER_REFUSAL_OUT_OF_AREA,
    ADAPTER_REFUSAL_KEY_CANCELLED,
    ADAPTER_REFUSAL_OTHER,    /* a refusal this build has no name for */
} adapter_refusal_t;

typedef enum adapter_cancelled_by {
    ADAPTER_CANCELLED_BY_NONE = 0,  /* also: a value this build has no name for */
    ADAPTER_CANCELLED_BY_CLIENT,    /* our CancelRequest */
    ADAPTER_CANCELLED_BY_PLATFORM,  /* the platform or its rider gave up */
} adapter_cancelled_by_t;

typedef enum adapter_error_code {
    ADAPTER_ERR_NONE = 0,
    ADAPTER_ERR_BAD_REQUEST,
    ADAPTER_ERR_UNSUPPORTED_VERSION,
    ADAPTER_ERR_KEY_CONFLICT,
    ADAPTER_ERR_UNAVAILABLE,
    ADAPTER_ERR_INTERNAL,
    ADAPTER_ERR_OTHER,        /* a code this build has no name for */
} adapter_error_code_t;

/* What became of a request that was sent. */
typedef enum adapter_outcome {
    ADAPTER_OK = 0,      /* answered: the result is set */
    ADAPTER_ERROR,       /* answered Error: the request had NO effect (done->error says why);
                          * the same request may be sent again */
    ADAPTER_TIMEOUT,     /* no answer by the deadline. Not "no": a dispatch may have been
                          * carried out (send the same key again, or cancel it and wait
                          * for a cancel result with released = true); a cancel must be
                          * sent again; quote, status and settlement had no effect that
                          * matters */
    ADAPTER_BAD_REPLY,   /* answered with what breaks the protocol (another body or key, a
                          * field out of bounds; done->error.message says what): exactly as
                          * unknown as ADAPTER_TIMEOUT */
    ADAPTER_CLOSED,      /* adapter_close came first: as unknown as ADAPTER_TIMEOUT */
} adapter_outcome_t;

/* Why a request call did not send. In every case but OK nothing left the
 * process and the callback will never run. */
typedef enum adapter_send {
    ADAPTER_SEND_OK = 0,
    ADAPTER_SEND_FULL,        /* max_inflight requests outstanding (cancel and status have a
                               * reserve past it): the pool is full, try later */
    ADAPTER_SEND_UNREACHABLE, /* no connection to the gateway now (or its send queue is full) */
    ADAPTER_SEND_INVALID,     /* a field outside the protocol's bounds: a caller bug, logged */
    ADAPTER_SEND_FAILED,      /* out of memory or a transport error, logged */
} adapter_send_t;

typedef struct adapter_geo {
    double lat, lng;          /* WGS84 degrees */
} adapter_geo_t;

/* An amount that may be 0 and must not be mistaken for "not said" (a `Fee`
 * on the wire). */
typedef struct adapter_fee {
    bool said;
    uint32_t cents;           /* 0 with said: free */
} adapter_fee_t;

/* What a transport is told about one platform (one platforms.[] entry of
 * the daemon's config), read during adapter_open only: a transport copies
 * what it keeps. */
typedef struct adapter_platform {
    const char *name;         /* the platform, for logs */
    const char *adapter;      /* the registered transport to open it with */
    const char *endpoint;     /* where its gateway listens */
    int timeout_ms;           /* a request's deadline when the caller gives 0; quotes aside */
    int quote_deadline_ms;    /* a quote's deadline when the caller gives 0 */
    int max_inflight;         /* requests outstanding before ADAPTER_SEND_FULL */
} adapter_platform_t;

/* ---- requests (the caller's storage, read during the call only) ------- */

typedef struct adapter_quote_req {
    const char *order_id;     /* for the gateway's logs; NULL or "" for none */
    uint32_t store_id;
    adapter_geo_t pickup, dropoff;
    uint64_t ready_at_ms;     /* required */
    uint32_t items;           /* 1..1000 */
} adapter_quote_req_t;

typedef struct adapter_dispatch_req {
    const char *key;          /* unique per attempt; sluiced uses "<order_id>:<attempt>" */
    const char *order_id;
    uint32_t store_id;
    adapter_geo_t pickup, dropoff;
    uint64_t ready_at_ms;     /* required */
    uint32_t items;           /* 1..1000 */
    uint64_t deliver_by_ms;   /* promised to the customer; 0 for none */
} adapter_dispatch_req_t;

typedef struct adapter_settlement_req {
    const char *day;          /* "YYYY-MM-DD" */
    int32_t utc_offset_minutes;   /* -840..840 */
    const char *page_token;   /* NULL or "" for the first page */
    uint32_t max_lines;       /* 0: the gateway's default; at most 256 come back */
} adapter_settlement_req_t;

/* ---- results (valid during the callback; copy what you keep) ---------- */

typedef struct adapter_error {
    adapter_error_code_t code;
    uint64_t retry_after_ms;  /* for UNAVAILABLE: when to try again; 0 = our choice */
    char message[ADAPTER_TEXT_MAX + 1];  /* printable UTF-8, cut */
} adapter_error_t;

/* Every completion, whatever the request. */
typedef struct adapter_done {
    adapter_outcome_t outcome;
    uint64_t request_id;      /* as sent, for logs */
    uint64_t latency_ms;      /* from sending to the answer, or to the deadline */
    uint64_t gateway_at_ms;   /* the reply's sent_at_ms (the gateway's clock), 0 if none */
    adapter_error_t error;    /* ADAPTER_ERROR: the gateway's; ADAPTER_BAD_REPLY: what was wrong */
} adapter_done_t;

typedef struct adapter_quote {
    bool available;           /* a rider could be sent now; times and fee are set */
    adapter_refusal_t refusal;
    uint64_t pickup_at_ms, delivery_at_ms;
    uint32_t fee_cents;
} adapter_quote_t;

typedef struct adapter_dispatch {
    char key[ADAPTER_ID_MAX + 1];
    bool accepted;            /* events follow; false: the key is refused for good */
    adapter_refusal_t refusal;
    bool duplicate;           /* a repeat of the key's first decision */
    char rider_ref[ADAPTER_REF_MAX + 1];
    uint64_t pickup_at_ms, delivery_at_ms;
    uint32_t fee_cents;
    adapter_state_t state;    /* the key's state now */
} adapter_dispatch_t;

typedef struct adapter_cancel {
    char key[ADAPTER_ID_MAX + 1];
    adapter_state_t previous; /* when the cancel arrived (UNKNOWN: never seen, now tombstoned) */
    adapter_state_t state;    /* CANCELLED, REFUSED, PICKED_UP or DELIVERED */
    bool released;            /* state is CANCELLED or REFUSED: this platform has no live rider
                               * for the key and never will; only now may the order go elsewhere */
    char rider_ref[ADAPTER_REF_MAX + 1];
    uint32_t fee_cents;
    adapter_fee_t cancel_fee; /* state CANCELLED: what the cancel costs, if the gateway said */
} adapter_cancel_t;

typedef struct adapter_status {
    char key[ADAPTER_ID_MAX + 1];
    adapter_state_t state;    /* UNKNOWN: never seen; a dispatch under the key may be re-sent */
    char order_id[ADAPTER_ID_MAX + 1];
    char rider_ref[ADAPTER_REF_MAX + 1];
    uint32_t seq;             /* the key's last event (0: none yet) */
    uint64_t updated_at_ms, assigned_at_ms, arrived_at_ms, picked_up_at_ms, delivered_at_ms,
        cancelled_at_ms;
    adapter_cancelled_by_t cancelled_by;
    uint64_t pickup_at_ms, delivery_at_ms;  /* current estimates, 0 once past */
    uint32_t fee_cents;
    bool has_position;
    adapter_geo_t rider_position;
    adapter_refusal_t refusal;
    adapter_fee_t cancel_fee; /* state CANCELLED: what the cancel costs, if the gateway said */
} adapter_status_t;

typedef struct adapter_settlement_line {
    char key[ADAPTER_ID_MAX + 1];
    char order_id[ADAPTER_ID_MAX + 1];
    adapter_state_t status;   /* DELIVERED or CANCELLED */
    uint64_t at_ms;
    uint32_t fee_cents;
    char rider_ref[ADAPTER_REF_MAX + 1];
    uint32_t store_id;
    adapter_cancelled_by_t cancelled_by;
} adapter_settlement_line_t;

typedef struct adapter_settlement {
    char day[ADAPTER_DAY_LEN + 1];
    int32_t utc_offset_minutes;
    const adapter_settlement_line_t *lines;  /* this page */
    size_t n_lines;                           /* at most ADAPTER_SETTLEMENT_LINES_MAX */
    char next_page_token[ADAPTER_PAGE_TOKEN_MAX + 1];  /* "": this was the last page */
    uint32_t total_lines;     /* the whole day */
    uint64_t total_fee_cents; /* the whole day */
    bool final;               /* the day will not change */
} adapter_settlement_t;

/* A rider event: one state change of one key (unsolicited, request_id 0). */
typedef struct adapter_event {
    char key[ADAPTER_ID_MAX + 1];
    char order_id[ADAPTER_ID_MAX + 1];
    uint32_t seq;             /* 1, 2, 3, ... per key */
    adapter_state_t state;    /* ASSIGNED, ARRIVED, PICKED_UP, DELIVERED or CANCELLED */
    char rider_ref[ADAPTER_REF_MAX + 1];
    uint64_t at_ms;
    bool has_position;
    adapter_geo_t rider_position;
    adapter_cancelled_by_t cancelled_by;    /* CANCELLED */
    char reason[ADAPTER_TEXT_MAX + 1];      /* CANCELLED; printable UTF-8, cut */
    uint32_t wait_ms;         /* PICKED_UP: the rider's wait at the counter */
    uint32_t fee_cents;       /* DELIVERED, CANCELLED */
    uint64_t pickup_at_ms, delivery_at_ms;  /* current estimates */
    uint64_t gateway_at_ms;   /* the reply's sent_at_ms */
    adapter_fee_t cancel_fee; /* CANCELLED: what the cancel costs, if the gateway said */
} adapter_event_t;

/* Callbacks. RESULT is NULL unless done->outcome is ADAPTER_OK. */
typedef void adapter_quote_fn(void *arg, const adapter_done_t *done, const adapter_quote_t *result);
typedef void adapter_dispatch_fn(void *arg, const adapter_done_t *done,
                                 const adapter_dispatch_t *result);
typedef void adapter_cancel_fn(void *arg, const adapter_done_t *done, const adapter_cancel_t *result);
typedef void adapter_status_fn(void *arg, const adapter_done_t *done, const adapter_status_t *result);
typedef void adapter_settlement_fn(void *arg, const adapter_done_t *done,
                                   const adapter_settlement_t *result);

/* What an open adapter tells the daemon unasked. Either function may be NULL. */
typedef struct adapter_listener {
    /* EVENT: a well-formed rider event, in the order received. */
    void (*event)(void *arg, const adapter_event_t *event);
    /* LINK: the connection to the gateway came up (UP, after its handshake;
     * requests can be sent) or went down (requests say UNREACHABLE, and
     * events of our keys are dropped by the gateway until we ask Status).
     * Until the first call the link is unknown: after open, the first
     * attempt to connect says which it is, up or down (nothing listens,
     * the host does not answer within ADAPTER_CONNECT_TIMEOUT_MS), so a
     * gateway that is gone at start-up is told as soon as one that went
     * away later. Then a call for each change; while down, the transport
     * tries again at least every ADAPTER_RECONNECT_MAX_MS. Every up asks
     * for Status of every key in flight (proto/network.proto, Events). */
    void (*link)(void *arg, bool up);
    void *arg;
} adapter_listener_t;

typedef struct adapter_stats {
    uint64_t sent;            /* requests that left */
    uint64_t answered;        /* replies matched to a request (OK, ERROR or BAD_REPLY) */
    uint64_t errors;          /* of those, Error replies */
    uint64_t bad_replies;     /* of those, ADAPTER_BAD_REPLY */
    uint64_t timeouts;
    uint64_t late;            /* replies to no outstanding request (after their deadline) */
    uint64_t unreadable;      /* frames that were not a Reply at all */
    uint64_t events;          /* delivered to the listener */
    uint64_t bad_events;      /* request_id 0 frames that were not a well-formed event */
    uint64_t complaints;      /* Error with request_id 0: the gateway could not read a frame */
    uint64_t full;            /* ADAPTER_SEND_FULL answers */
    uint64_t unreachable;     /* ADAPTER_SEND_UNREACHABLE answers */
    uint64_t link_ups, link_downs;
    size_t outstanding;       /* requests waiting for an answer now */
} adapter_stats_t;

/* ---- the interface a transport implements ---------------------------- */

typedef struct adapter adapter_t;

typedef struct adapter_ops {
    const char *name;         /* as written in platforms.[].adapter */
    /* OPEN starts reaching PLATFORM (copied: it may go after the call)
     * with ZeroMQ context ZMQ_CTX; LISTENER is copied. NULL on failure,
     * logged. Returns at once: the link comes up later. */
    adapter_t *(*open)(const adapter_platform_t *platform, void *zmq_ctx,
                       const adapter_listener_t *listener);
    /* CLOSE runs every outstanding callback with ADAPTER_CLOSED, then frees. */
    void (*close)(adapter_t *self);
    size_t (*poll)(adapter_t *self, zmq_pollitem_t *items, size_t max);
    int (*timeout_ms)(const adapter_t *self, uint64_t now_ms);
    void (*step)(adapter_t *self, uint64_t now_ms);
    adapter_send_t (*quote)(adapter_t *self, const adapter_quote_req_t *req, uint64_t deadline_ms,
                            adapter_quote_fn *done, void *arg);
    adapter_send_t (*dispatch)(adapter_t *self, const adapter_dispatch_req_t *req,
                               uint64_t deadline_ms, adapter_dispatch_fn *done, void *arg);
    adapter_send_t (*cancel)(adapter_t *self, const char *key, const char *reason,
                             uint64_t deadline_ms, adapter_cancel_fn *done, void *arg);
    adapter_send_t (*status)(adapter_t *self, const char *key, uint64_t deadline_ms,
                             adapter_status_fn *done, void *arg);
    adapter_send_t (*settlement)(adapter_t *self, const adapter_settlement_req_t *req,
                                 uint64_t deadline_ms, adapter_settlement_fn *done, void *arg);
    const adapter_stats_t *(*stats)(const adapter_t *self);
} adapter_ops_t;

/* The head of every transport's handle; a transport's struct starts with it.
 * Callers treat adapter_t as opaque. */
struct adapter {
    const adapter_ops_t *ops;
};

/* ---- the registry ------------------------------------------------------ */

/* The built-in transports (`zmq`) are registered by the registry itself on
 * its first use, so config validation (adapter_find) and adapter_open see
 * them without any start-up call. The registry is filled at start-up (and by
 * tests) on one thread: adapter_register must not run while another thread
 * reads the registry. */

/* adapter_register adds OPS under OPS->name. OPS is not copied: it must
 * stay alive as long as the process (a transport's `const` ops). False,
 * logged, when the name is empty or already registered, when an operation is
 * missing (the wrappers call them unchecked), or when ADAPTER_REGISTRY_MAX
 * transports are registered. */
bool adapter_register(const adapter_ops_t *ops) __attribute__((warn_unused_result));
/* adapter_find: the transport named NAME, or NULL. config.c accepts exactly
 * the registered names. */
const adapter_ops_t *adapter_find(const char *name);
size_t adapter_count(void);
/* adapter_name: the name of transport I (< adapter_count), in the order
 * registered; NULL past the end. */
const char *adapter_name(size_t i);

/* ---- the wrappers the daemon calls ------------------------------------ */

/* adapter_open opens PLATFORM with the transport its `adapter` names; the
 * caller owns the result (adapter_close). NULL on failure, logged. */
adapter_t *adapter_open(const adapter_platform_t *platform, void *zmq_ctx,
                        const adapter_listener_t *listener) __attribute__((warn_unused_result));
/* adapter_close: CLOSED callbacks, free, clear *SELF; NULL is fine. */
void adapter_close(adapter_t **self);

/* adapter_poll fills up to MAX items for zmq_poll and returns how many. */
size_t adapter_poll(adapter_t *self, zmq_pollitem_t *items, size_t max);
/* adapter_timeout_ms: how long the loop may sleep before adapter_step has
 * work (a deadline); -1: nothing due. */
int adapter_timeout_ms(const adapter_t *self, uint64_t now_ms);
/* adapter_step reads what arrived and runs callbacks, then fires the
 * deadlines passed at NOW_MS (monotonic). Call it every loop pass. */
void adapter_step(adapter_t *self, uint64_t now_ms);

adapter_send_t adapter_quote(adapter_t *self, const adapter_quote_req_t *req, uint64_t deadline_ms,
                             adapter_quote_fn *done, void *arg) __attribute__((warn_unused_result));
adapter_send_t adapter_dispatch(adapter_t *self, const adapter_dispatch_req_t *req,
                                uint64_t deadline_ms, adapter_dispatch_fn *done, void *arg)
    __attribute__((warn_unused_result));
/* adapter_cancel: REASON may be NULL; at most 200 bytes. */
adapter_send_t adapter_cancel(adapter_t *self, const char *key, const char *reason,
                              uint64_t deadline_ms, adapter_cancel_fn *done, void *arg)
    __attribute__((warn_unused_result));
adapter_send_t adapter_status(adapter_t *self, const char *key, uint64_t deadline_ms,
                              adapter_status_fn *done, void *arg) __attribute__((warn_unused_result));
adapter_send_t adapter_settlement(adapter_t *self, const adapter_settlement_req_t *req,
                                  uint64_t deadline_ms, adapter_settlement_fn *done, void *arg)
    __attribute__((warn_unused_result));
const adapter_stats_t *adapter_stats(const adapter_t *self);

/* ---- helpers ------------------------------------------------------------ */

/* adapter_id_valid: TEXT is a dispatch key or order id as the protocol has
 * them: 1..64 characters of [A-Za-z0-9._:-]. */
bool adapter_id_valid(const char *text);

/* adapter_event_order says what to do with an event of seq SEQ for a key
 * whose last applied seq is LAST (0: none): apply it (NEXT), drop it
 * (STALE: not above LAST), or apply it and ask Status (GAP: events were
 * lost; StatusReply is the truth). */
typedef enum adapter_seq { ADAPTER_SEQ_NEXT, ADAPTER_SEQ_STALE, ADAPTER_SEQ_GAP } adapter_seq_t;
adapter_seq_t adapter_event_order(uint32_t last, uint32_t seq);

const char *adapter_state_name(adapter_state_t state);
const char *adapter_outcome_name(adapter_outcome_t outcome);
const char *adapter_send_name(adapter_send_t send);
const char *adapter_refusal_name(adapter_refusal_t refusal);
const char *adapter_error_name(adapter_error_code_t code);

#endif
