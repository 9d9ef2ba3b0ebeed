/* control.c - owns the control sockets: binding them, their files' modes,
 * and decoding, checking and answering control requests. */
#include "control.h"

#include "envelope.h"
#include "log.h"
#include "order.h"
#include "wire_text.h"

#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONTROL_MESSAGE_MAX 65536

typedef struct control_socket {
    void *socket;
    bool readonly;
    char endpoint[1100];          /* as bound: a wildcard resolved */
} control_socket_t;

struct control {
    control_socket_t sockets[CONTROL_SOCKETS];
    size_t count;
};

void control_readonly_endpoint(const config_daemon_t *d, char *out, size_t len)
{
    const char *ro = d->control_readonly ? d->control_readonly : "";
    const char *control = d->control ? d->control : "";
    out[0] = '\0';
    if (strcmp(ro, "none") == 0)
        return;
    if (ro[0]) {
        snprintf(out, len, "%s", ro);
        return;
    }
    const char *slash = strrchr(control, '/');
    if (strncmp(control, "ipc://", 6) != 0 || slash == NULL || slash < control + 6)
        return;
    int dir = (int)(slash - control);
    if ((size_t)snprintf(out, len, "%.*s/control-ro.sock", dir, control) >= len)
        out[0] = '\0';
}

bool control_is_write(Sluice__Control__V1__Request__BodyCase body_case)
{
    return body_case == SLUICE__CONTROL__V1__REQUEST__BODY_PAUSE ||
           body_case == SLUICE__CONTROL__V1__REQUEST__BODY_RESUME ||
           body_case == SLUICE__CONTROL__V1__REQUEST__BODY_RELOAD ||
           body_case == SLUICE__CONTROL__V1__REQUEST__BODY_CAMPAIGN_PAUSE ||
           body_case == SLUICE__CONTROL__V1__REQUEST__BODY_CAMPAIGN_RESUME;
}

bool control_readonly_allows(Sluice__Control__V1__Request__BodyCase body_case)
{
    return body_case == SLUICE__CONTROL__V1__REQUEST__BODY_PLATFORMS ||
           body_case == SLUICE__CONTROL__V1__REQUEST__BODY_STATS ||
           body_case == SLUICE__CONTROL__V1__REQUEST__BODY_STORE ||
           body_case == SLUICE__CONTROL__V1__REQUEST__BODY_STORE_DAY ||
           body_case == SLUICE__CONTROL__V1__REQUEST__BODY_CAMPAIGN;
}

static bool s_refuse(control_code_t *code, control_code_t c, char *why, size_t len,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static bool s_refuse(control_code_t *code, control_code_t c, char *why, size_t len,
                     const char *fmt, ...)
{
    *code = c;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
    return false;
}

/* s_check_by checks who asked: at most CONTROL_BY_MAX bytes, no control
 * characters. */
static bool s_check_by(const char *field, const char *by, control_code_t *code, char *why,
                       size_t len)
{
    if (by && strlen(by) > CONTROL_BY_MAX)
        return s_refuse(code, SLUICE__CONTROL__V1__ERROR__CODE__BAD_REQUEST, why, len,
                        "%s.by: at most %d bytes (got %zu)", field, CONTROL_BY_MAX, strlen(by));
    for (const unsigned char *p = (const unsigned char *)by; p && *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return s_refuse(code, SLUICE__CONTROL__V1__ERROR__CODE__BAD_REQUEST, why, len,
                            "%s.by: control characters are not allowed", field);
    if (by && !wire_text_utf8(by, strlen(by)))
        return s_refuse(code, SLUICE__CONTROL__V1__ERROR__CODE__BAD_REQUEST, why, len,
                        "%s.by: must be UTF-8 text", field);
    return true;
}

/* s_check_store checks a store_id and, for pause and resume, the `by` text. */
static bool s_check_store(const char *field, uint32_t store_id, const char *by,
                          control_code_t *code, char *why, size_t len)
{
    if (store_id == 0)
        return s_refuse(code, SLUICE__CONTROL__V1__ERROR__CODE__BAD_REQUEST, why, len,
                        "%s.store_id: must be 1..4294967295 (got 0)", field);
    return s_check_by(field, by, code, why, len);
}

/* s_check_campaign checks a campaign's name ("" only where ANY allows it:
 * every campaign) and, for pause and resume, the `by` text. */
static bool s_check_campaign(const char *field, const char *name, bool any, const char *by,
                             control_code_t *code, char *why, size_t len)
{
    bool named = name && name[0];
    if ((named || !any) && (!named || !order_id_valid(name)))
        return s_refuse(code, SLUICE__CONTROL__V1__ERROR__CODE__BAD_REQUEST, why, len,
                        "%s.name: must be 1..%d of A-Z a-z 0-9 . _ : -", field, ORDER_ID_MAX);
    return s_check_by(field, by, code, why, len);
}

bool control_check(const control_request_t *req, bool readonly, control_code_t *code, char *why,
                   size_t len)
{
    if (req == NULL)
        return s_refuse(code, SLUICE__CONTROL__V1__ERROR__CODE__BAD_REQUEST, why, len,
                        "request: not a sluice.control.v1.Request protobuf");
    if (req->version != SLUICE__CONTROL__V1__VERSION__VERSION_CURRENT)
        return s_refuse(code, SLUICE__CONTROL__V1__ERROR__CODE__UNSUPPORTED_VERSION, why, len,
                        "version: %d is not spoken here; this daemon speaks version 1",
                        (int)req->version);
    if (control_is_write(req->body_case) && readonly)
        return s_refuse(code, SLUICE__CONTROL__V1__ERROR__CODE__PERMISSION_DENIED, why, len,
                        "permission denied: this is the read-only control socket; pause, "
                        "resume, reload and campaign pause/resume need daemon.control");
    if (readonly && !control_readonly_allows(req->body_case))
        return s_refuse(code, SLUICE__CONTROL__V1__ERROR__CODE__PERMISSION_DENIED, why, len,
                        "permission denied: this is the read-only control socket; an order "
                        "shows a customer's data and needs daemon.control (its group)");
    switch (req->body_case) {
    case SLUICE__CONTROL__V1__REQUEST__BODY_PLATFORMS:
    case SLUICE__CONTROL__V1__REQUEST__BODY_STATS:
    case SLUICE__CONTROL__V1__REQUEST__BODY_RELOAD:
        return true;
    case SLUICE__CONTROL__V1__REQUEST__BODY_STORE:
        return s_check_store("store", req->store->store_id, NULL, code, why, len);
    case SLUICE__CONTROL__V1__REQUEST__BODY_STORE_DAY:
        return s_check_store("store_day", req->store_day->store_id, NULL, code, why, len);
    case SLUICE__CONTROL__V1__REQUEST__BODY_PAUSE:
        return s_check_store("pause", req->pause->store_id, req->pause->by, code, why, len);
    case SLUICE__CONTROL__V1__REQUEST__BODY_RESUME:
        return s_check_store("resume", req->resume->store_id, req->resume->by, code, why, len);
    case SLUICE__CONTROL__V1__REQUEST__BODY_CAMPAIGN:
        return s_check_campaign("campaign", req->campaign->name, true, NULL, code, why, len);
    case SLUICE__CONTROL__V1__REQUEST__BODY_CAMPAIGN_PAUSE:
        return s_check_campaign("campaign_pause", req->campaign_pause->name, false,
                                req->campaign_pause->by, code, why, len);
    case SLUICE__CONTROL__V1__REQUEST__BODY_CAMPAIGN_RESUME:
        return s_check_campaign("campaign_resume", req->campaign_resume->name, false,
                                req->campaign_resume->by, code, why, len);
    case SLUICE__CONTROL__V1__REQUEST__BODY_ORDER:
        if (!order_id_valid(req->order->order_id))
            return s_refuse(code, SLUICE__CONTROL__V1__ERROR__CODE__BAD_REQUEST, why, len,
                            "order.order_id: must be 1..%d of A-Z a-z 0-9 . _ : -",
                            ORDER_ID_MAX);
        return true;
    default:
        return s_refuse(code, SLUICE__CONTROL__V1__ERROR__CODE__BAD_REQUEST, why, len,
                        "request: no body (expected platforms, stats, store, store_day, order, "
                        "campaign, pause, resume, reload, campaign_pause or campaign_resume)");
    }
}

bool control_decode(const uint8_t *frame, size_t len, bool readonly, control_request_t **request,
                    control_code_t *code, char *why, size_t why_len)
{
    *request = sluice__control__v1__request__unpack(NULL, len, frame);
    char field[128];
    if (*request != NULL &&
        wire_text_find_nul(&sluice__control__v1__request__descriptor, frame, len, field,
                           sizeof field))
        return s_refuse(code, SLUICE__CONTROL__V1__ERROR__CODE__BAD_REQUEST, why, why_len,
                        "%s: must not hold a NUL byte", field);
    return control_check(*request, readonly, code, why, why_len);
}

const char *control_code_name(control_code_t code)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
        &sluice__control__v1__error__code__descriptor, (int)code);
    return v ? v->name : "UNKNOWN";
}

/* s_set_file_mode gives an ipc:// socket file MODE and, when GROUP is not
 * empty, that group; other transports have no file. */
static bool s_set_file_mode(const char *endpoint, mode_t mode, const char *group)
{
    if (strncmp(endpoint, "ipc://", 6) != 0)
        return true;
    const char *path = endpoint + 6;
    if (group && group[0]) {
        struct group *g = getgrnam(group);
        if (g == NULL) {
            log_error("failed to give %s group %s: no such group", path, group);
            return false;
        }
        if (chown(path, (uid_t)-1, g->gr_gid) != 0) {
            log_error("failed to give %s group %s: %s (the daemon must be a member)", path, group,
                      strerror(errno));
            return false;
        }
    }
    if (chmod(path, mode) != 0) {
        log_error("failed to set the mode of %s to %04o: %s", path, (unsigned)mode,
                  strerror(errno));
        return false;
    }
    return true;
}

static bool s_bind(control_t *self, void *ctx, const char *endpoint, bool readonly,
                   const char *group)
{
    control_socket_t *cs = &self->sockets[self->count];
    cs->socket = zmq_socket(ctx, ZMQ_ROUTER);
    if (!cs->socket)
        return false;
    self->count++;
    cs->readonly = readonly;
    int64_t max_size = CONTROL_MESSAGE_MAX;
    int linger = 0;
    size_t len = sizeof cs->endpoint;
    if (zmq_setsockopt(cs->socket, ZMQ_MAXMSGSIZE, &max_size, sizeof max_size) != 0 ||
        zmq_setsockopt(cs->socket, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_bind(cs->socket, endpoint) != 0 ||
        zmq_getsockopt(cs->socket, ZMQ_LAST_ENDPOINT, cs->endpoint, &len) != 0) {
        log_error("failed to bind %s %s: %s", readonly ? "control_readonly" : "control", endpoint,
                  zmq_strerror(zmq_errno()));
        return false;
    }
    return s_set_file_mode(cs->endpoint, readonly ? CONTROL_READONLY_MODE : CONTROL_MODE,
                           readonly ? NULL : group);
}

control_t *control_new(void *ctx, const config_daemon_t *d)
{
    control_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    char ro[1100];
    control_readonly_endpoint(d, ro, sizeof ro);
    if (!s_bind(self, ctx, d->control, false, d->control_group) ||
        (ro[0] && !s_bind(self, ctx, ro, true, NULL))) {
        control_destroy(&self);
        return NULL;
    }
    log_notice("control on %s%s%s", control_endpoint(self, false),
               ro[0] ? ", read-only control on " : "", ro[0] ? control_endpoint(self, true) : "");
    return self;
}

const char *control_endpoint(const control_t *self, bool readonly)
{
    for (size_t i = 0; i < self->count; i++)
        if (self->sockets[i].readonly == readonly)
            return self->sockets[i].endpoint;
    return "none";
}

void control_destroy(control_t **self)
{
    if (!self || !*self)
        return;
    for (size_t i = 0; i < (*self)->count; i++)
        zmq_close((*self)->sockets[i].socket);
    free(*self);
    *self = NULL;
}

size_t control_poll(control_t *self, zmq_pollitem_t *items, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < self->count && n < max; i++)
        items[n++] = (zmq_pollitem_t){.socket = self->sockets[i].socket, .events = ZMQ_POLLIN};
    return n;
}

/* s_recv_from reads one message from CS; see control_recv. */
static bool s_recv_from(control_t *self, control_socket_t *cs, control_ticket_t **ticket_out,
                        control_request_t **request_out)
{
    static log_limiter_t refused_log = LOG_LIMITER_INIT, oom_log = LOG_LIMITER_INIT;
    uint8_t envelope[ENVELOPE_MAX];
    size_t envelope_len;
    zmq_msg_t frame;
    envelope_status_t st = envelope_recv(cs->socket, "control", envelope, &envelope_len, &frame);
    if (st == ENVELOPE_NONE)
        return false;
    if (st == ENVELOPE_REFUSED)
        return true;
    control_ticket_t *ticket = malloc(sizeof *ticket + envelope_len);
    if (!ticket) {
        zmq_msg_close(&frame);
        log_limited(&oom_log, LOG_LEVEL_ERR, "failed to allocate a control ticket: out of memory");
        return true;
    }
    memset(ticket, 0, sizeof *ticket);
    ticket->readonly = cs->readonly;
    ticket->socket = (uint8_t)(cs - self->sockets);
    ticket->envelope_len = (uint16_t)envelope_len;
    memcpy(ticket->envelope, envelope, envelope_len);
    control_request_t *req = NULL;
    control_code_t code;
    char why[256];
    bool ok = control_decode(zmq_msg_data(&frame), zmq_msg_size(&frame), cs->readonly, &req,
                             &code, why, sizeof why);
    zmq_msg_close(&frame);
    if (req)
        ticket->request_id = req->request_id;
    if (!ok) {
        log_limited(&refused_log, LOG_LEVEL_NOTICE, "control: refused a request on %s: %s",
                    cs->endpoint, why);
        control_reply_error(self, ticket, code, "%s", why);
        free(ticket);
        if (req)
            sluice__control__v1__request__free_unpacked(req, NULL);
        return true;
    }
    *ticket_out = ticket;
    *request_out = req;
    return true;
}

bool control_recv(control_t *self, control_ticket_t **ticket, control_request_t **request)
{
    *ticket = NULL;
    *request = NULL;
    for (size_t i = 0; i < self->count; i++)
        if (s_recv_from(self, &self->sockets[i], ticket, request))
            return true;
    return false;
}

void control_reply(control_t *self, const control_ticket_t *ticket, control_reply_t *reply)
{
    static log_limiter_t oom_log = LOG_LIMITER_INIT, left_log = LOG_LIMITER_INIT,
                         text_log = LOG_LIMITER_INIT;
    char field[128];
    /* (an Error's message is repaired by control_reply_error) */
    if (reply->body_case != SLUICE__CONTROL__V1__REPLY__BODY_ERROR &&
        wire_text_find_invalid(&reply->base, field, sizeof field)) {
        log_limited(&text_log, LOG_LEVEL_ERR, "control: the answer to request %llu has text "
                    "that is not UTF-8 in %s; answered FAILED instead",
                    (unsigned long long)ticket->request_id, field);
        control_reply_error(self, ticket, SLUICE__CONTROL__V1__ERROR__CODE__FAILED,
                            "the answer has text that is not UTF-8 in %s (a name in the "
                            "configuration file?); protobuf clients could not read it", field);
        return;
    }
    reply->version = SLUICE__CONTROL__V1__VERSION__VERSION_CURRENT;
    reply->request_id = ticket->request_id;
    size_t len = sluice__control__v1__reply__get_packed_size(reply);
    uint8_t *body = malloc(len ? len : 1);
    if (!body) {
        log_limited(&oom_log, LOG_LEVEL_ERR, "failed to answer control request %llu: out of memory",
                    (unsigned long long)ticket->request_id);
        return;
    }
    sluice__control__v1__reply__pack(reply, body);
    void *socket = self->sockets[ticket->socket < self->count ? ticket->socket : 0].socket;
    if (!envelope_send(socket, ticket->envelope, ticket->envelope_len, body, len))
        log_limited(&left_log, LOG_LEVEL_NOTICE,
                    "control: the client of request %llu left before its answer",
                    (unsigned long long)ticket->request_id);
    free(body);
}

void control_reply_error(control_t *self, const control_ticket_t *ticket, control_code_t code,
                         const char *fmt, ...)
{
    char message[2048];  /* a refused reload lists every problem */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    /* It may quote a config file or be cut mid-character: readable anyway. */
    wire_text_repair(message);
    Sluice__Control__V1__Error error = SLUICE__CONTROL__V1__ERROR__INIT;
    error.code = code;
    error.message = message;
    control_reply_t reply = SLUICE__CONTROL__V1__REPLY__INIT;
    reply.body_case = SLUICE__CONTROL__V1__REPLY__BODY_ERROR;
    reply.error = &error;
    control_reply(self, ticket, &reply);
}
