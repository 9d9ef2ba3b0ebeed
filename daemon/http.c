/* http.c - owns the libmicrohttpd endpoint. */
#include "http.h"

#include "log.h"

#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define HTTP_CONNECTIONS_MAX 64   /* scrapers and probes, not the public */
#define HTTP_IDLE_SECONDS 10

struct http {
    struct MHD_Daemon *mhd;
    http_handler_fn *handler;
    void *arg;
    char endpoint[300];           /* host:port as bound: port 0 resolved */
};

static enum MHD_Result s_answer(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version, const char *upload,
                                size_t *upload_len, void **req_state)
{
    (void)version;
    (void)upload;
    http_t *self = cls;
    if (*req_state == NULL) {  /* first call for this request: headers only */
        *req_state = self;
        return MHD_YES;
    }
    *upload_len = 0;
    http_answer_t a = {.status = 405, .content_type = "text/plain; charset=utf-8"};
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        a.body = strdup("only GET\n");
    } else if (!self->handler(self->arg, url, &a)) {
        free(a.body);
        return MHD_NO;
    }
    if (!a.body)
        return MHD_NO;
    if (a.len == 0)
        a.len = strlen(a.body);
    struct MHD_Response *r = MHD_create_response_from_buffer(a.len, a.body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(a.body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a.content_type);
    enum MHD_Result ok = MHD_queue_response(conn, a.status, r);
    MHD_destroy_response(r);
    return ok;
}

/* s_split parses "host:port" or "[v6]:port" into HOST and PORT. */
static int s_split(const char *host_port, char *host, size_t host_len, char *port, size_t port_len)
{
    const char *colon = strrchr(host_port, ':');
    if (!colon || colon == host_port || !colon[1])
        return 0;
    const char *h = host_port;
    size_t n = (size_t)(colon - host_port);
    if (h[0] == '[' && n >= 2 && h[n - 1] == ']') {
        h++;
        n -= 2;
    }
    if (n >= host_len || strlen(colon + 1) >= port_len)
        return 0;
    memcpy(host, h, n);
    host[n] = '\0';
    strcpy(port, colon + 1);
    return 1;
}

http_t *http_new(const char *host_port, http_handler_fn *handler, void *arg)
{
    char host[256], port[16];
    if (!s_split(host_port, host, sizeof host, port, sizeof port)) {
        log_error("daemon.http: '%s' is not host:port", host_port);
        return NULL;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0) {
        log_error("daemon.http: cannot resolve '%s': %s", host_port, gai_strerror(rc));
        return NULL;
    }
    http_t *self = calloc(1, sizeof *self);
    if (!self) {
        freeaddrinfo(ai);
        return NULL;
    }
    self->handler = handler;
    self->arg = arg;
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                     (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    self->mhd = MHD_start_daemon(flags, 0, NULL, NULL, s_answer, self,
                                 MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTIONS_MAX,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_SECONDS,
                                 MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
                                 MHD_OPTION_END);
    bool v6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    if (!self->mhd) {
        log_error("daemon.http: cannot listen on %s (in use, or not an address of this host)",
                  host_port);
        free(self);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->mhd, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(self->endpoint, sizeof self->endpoint, v6 ? "[%s]:%u" : "%s:%u", host,
             info ? (unsigned)info->port : 0u);
    return self;
}

void http_destroy(http_t **self)
{
    if (!self || !*self)
        return;
    if ((*self)->mhd)
        MHD_stop_daemon((*self)->mhd);
    free(*self);
    *self = NULL;
}

const char *http_endpoint(const http_t *self)
{
    return self->endpoint;
}

int http_fd(const http_t *self)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    return info ? info->epoll_fd : -1;
}

void http_step(http_t *self)
{
    (void)MHD_run(self->mhd);
}

int http_timeout_ms(const http_t *self)
{
    MHD_UNSIGNED_LONG_LONG ms = 0;
    if (MHD_get_timeout(self->mhd, &ms) != MHD_YES)
        return -1;
    return ms > 1000 ? 1000 : (int)ms;
}
