/* adapter.c - owns the adapter registry (transport name -> ops), the thin
 * wrappers the daemon calls, and the names of the interface's values. */
#include "adapter.h"

#include "log.h"
#include "zmq/zmq_adapter.h"

#include <pthread.h>
#include <string.h>

/* Every transport this process knows, in the order registered. config.c
 * accepts exactly these names in platforms.[].adapter. */
static const adapter_ops_t *s_registry[ADAPTER_REGISTRY_MAX];
static size_t s_count;
static pthread_once_t s_builtins_once = PTHREAD_ONCE_INIT;

static const adapter_ops_t *s_lookup(const char *name)
{
    for (size_t i = 0; name && i < s_count; i++)
        if (strcmp(s_registry[i]->name, name) == 0)
            return s_registry[i];
    return NULL;
}

/* s_refusal: why OPS cannot be registered, or NULL. */
static const char *s_refusal(const adapter_ops_t *ops)
{
    if (!ops->name || !ops->name[0])
        return "it has no name";
    if (s_lookup(ops->name))
        return "that name is registered already";
    if (!ops->open || !ops->close || !ops->poll || !ops->timeout_ms || !ops->step ||
        !ops->quote || !ops->dispatch || !ops->cancel || !ops->status || !ops->settlement ||
        !ops->stats)
        return "an operation is missing";
    if (s_count == ADAPTER_REGISTRY_MAX)
        return "the registry is full";
    return NULL;
}

static bool s_add(const adapter_ops_t *ops)
{
    const char *why = s_refusal(ops);
    if (why) {
        log_error("failed to register adapter \"%s\": %s", ops->name ? ops->name : "", why);
        return false;
    }
    s_registry[s_count++] = ops;
    return true;
}

/* s_builtins registers the transports built into sluice, once, before the
 * registry's first use: the table is empty then, so they always fit. */
static void s_builtins(void)
{
    static const adapter_ops_t *const builtins[] = {
        &zmq_adapter_ops,
    };
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        (void)s_add(builtins[i]);
}

static void s_ready(void)
{
    pthread_once(&s_builtins_once, s_builtins);
}

bool adapter_register(const adapter_ops_t *ops)
{
    s_ready();
    return s_add(ops);
}

const adapter_ops_t *adapter_find(const char *name)
{
    s_ready();
    return s_lookup(name);
}

size_t adapter_count(void)
{
    s_ready();
    return s_count;
}

const char *adapter_name(size_t i)
{
    s_ready();
    return i < s_count ? s_registry[i]->name : NULL;
}

adapter_t *adapter_open(const adapter_platform_t *platform, void *zmq_ctx,
                        const adapter_listener_t *listener)
{
    const adapter_ops_t *ops = adapter_find(platform->adapter);
    if (!ops) {
        log_error("failed to open platform %s: no adapter named \"%s\"", platform->name,
                  platform->adapter ? platform->adapter : "");
        return NULL;
    }
    static const adapter_listener_t none = {0};
    adapter_t *a = ops->open(platform, zmq_ctx, listener ? listener : &none);
    if (a)
        a->ops = ops;
    return a;
}

void adapter_close(adapter_t **self)
{
    if (!self || !*self)
        return;
    (*self)->ops->close(*self);
    *self = NULL;
}

size_t adapter_poll(adapter_t *self, zmq_pollitem_t *items, size_t max)
{
    return self->ops->poll(self, items, max);
}

int adapter_timeout_ms(const adapter_t *self, uint64_t now_ms)
{
    return self->ops->timeout_ms(self, now_ms);
}

void adapter_step(adapter_t *self, uint64_t now_ms)
{
    self->ops->step(self, now_ms);
}

adapter_send_t adapter_quote(adapter_t *self, const adapter_quote_req_t *req, uint64_t deadline_ms,
                             adapter_quote_fn *done, void *arg)
{
    return self->ops->quote(self, req, deadline_ms, done, arg);
}

adapter_send_t adapter_dispatch(adapter_t *self, const adapter_dispatch_req_t *req,
                                uint64_t deadline_ms, adapter_dispatch_fn *done, void *arg)
{
    return self->ops->dispatch(self, req, deadline_ms, done, arg);
}

adapter_send_t adapter_cancel(adapter_t *self, const char *key, const char *reason,
                              uint64_t deadline_ms, adapter_cancel_fn *done, void *arg)
{
    return self->ops->cancel(self, key, reason, deadline_ms, done, arg);
}

adapter_send_t adapter_status(adapter_t *self, const char *key, uint64_t deadline_ms,
                              adapter_status_fn *done, void *arg)
{
    return self->ops->status(self, key, deadline_ms, done, arg);
}

adapter_send_t adapter_settlement(adapter_t *self, const adapter_settlement_req_t *req,
                                  uint64_t deadline_ms, adapter_settlement_fn *done, void *arg)
{
    return self->ops->settlement(self, req, deadline_ms, done, arg);
}

const adapter_stats_t *adapter_stats(const adapter_t *self)
{
    return self->ops->stats(self);
}

bool adapter_id_valid(const char *text)
{
    if (!text)
        return false;
    size_t n = 0;
    for (; text[n]; n++) {
        char c = text[n];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == ':' || c == '-';
        if (!ok || n >= ADAPTER_ID_MAX)
            return false;
    }
    return n >= 1;
}

adapter_seq_t adapter_event_order(uint32_t last, uint32_t seq)
{
    if (seq <= last)
        return ADAPTER_SEQ_STALE;
    return seq == last + 1 ? ADAPTER_SEQ_NEXT : ADAPTER_SEQ_GAP;
}

/* s_name: NAMES[V] when V is in range and named, else "?". */
static const char *s_name(const char *const *names, size_t n, int v)
{
    return v >= 0 && (size_t)v < n && names[v] ? names[v] : "?";
}

#define NAME_OF(names, v) s_name(names, sizeof names / sizeof names[0], (int)(v))

const char *adapter_state_name(adapter_state_t state)
{
    static const char *const names[] = {
        [ADAPTER_STATE_NONE] = "NONE",           [ADAPTER_STATE_UNKNOWN] = "UNKNOWN",
        [ADAPTER_STATE_REFUSED] = "REFUSED",     [ADAPTER_STATE_PENDING] = "PENDING",
        [ADAPTER_STATE_ASSIGNED] = "ASSIGNED",   [ADAPTER_STATE_ARRIVED] = "ARRIVED",
        [ADAPTER_STATE_PICKED_UP] = "PICKED_UP", [ADAPTER_STATE_DELIVERED] = "DELIVERED",
        [ADAPTER_STATE_CANCELLED] = "CANCELLED",
    };
    return NAME_OF(names, state);
}

const char *adapter_outcome_name(adapter_outcome_t outcome)
{
    static const char *const names[] = {
        [ADAPTER_OK] = "ok",           [ADAPTER_ERROR] = "error",
        [ADAPTER_TIMEOUT] = "timeout", [ADAPTER_BAD_REPLY] = "bad reply",
        [ADAPTER_CLOSED] = "closed",
    };
    return NAME_OF(names, outcome);
}

const char *adapter_send_name(adapter_send_t send)
{
    static const char *const names[] = {
        [ADAPTER_SEND_OK] = "sent",
        [ADAPTER_SEND_FULL] = "full",
        [ADAPTER_SEND_UNREACHABLE] = "unreachable",
        [ADAPTER_SEND_INVALID] = "invalid",
        [ADAPTER_SEND_FAILED] = "failed",
    };
    return NAME_OF(names, send);
}

const char *adapter_refusal_name(adapter_refusal_t refusal)
{
    static const char *const names[] = {
        [ADAPTER_REFUSAL_NONE] = "NONE",
        [ADAPTER_REFUSAL_NO_RIDER] = "NO_RIDER",
        [ADAPTER_REFUSAL_OUT_OF_AREA] = "OUT_OF_AREA",
        [ADAPTER_REFUSAL_KEY_CANCELLED] = "KEY_CANCELLED",
        [ADAPTER_REFUSAL_OTHER] = "OTHER",
    };
    return NAME_OF(names, refusal);
}

const char *adapter_error_name(adapter_error_code_t code)
{
    static const char *const names[] = {
        [ADAPTER_ERR_NONE] = "NONE",
        [ADAPTER_ERR_BAD_REQUEST] = "BAD_REQUEST",
        [ADAPTER_ERR_UNSUPPORTED_VERSION] = "UNSUPPORTED_VERSION",
        [ADAPTER_ERR_KEY_CONFLICT] = "KEY_CONFLICT",
        [ADAPTER_ERR_UNAVAILABLE] = "UNAVAILABLE",
        [ADAPTER_ERR_INTERNAL] = "INTERNAL",
        [ADAPTER_ERR_OTHER] = "OTHER",
    };
    return NAME_OF(names, code);
}
