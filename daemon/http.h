/* http.h - owns the HTTP endpoint (config daemon.http): libmicrohttpd driven
 * from sluiced's own event loop (no threads), one epoll fd to poll. The
 * server decides what each path answers. */
#ifndef SLUICE_HTTP_H
#define SLUICE_HTTP_H

#include <stddef.h>

typedef struct http http_t;

typedef struct http_answer {
    unsigned status;           /* 200, 404, 503 ... */
    const char *content_type;
    char *body;                /* malloc'ed; the endpoint frees it */
    size_t len;
} http_answer_t;

/* http_handler_fn answers a GET of PATH; false when out of memory. */
typedef int http_handler_fn(void *arg, const char *path, http_answer_t *out);

/* http_new listens on HOST_PORT ("127.0.0.1:9464", "[::1]:9464"). NULL with
 * the reason logged when it cannot. */
http_t *http_new(const char *host_port, http_handler_fn *handler, void *arg)
    __attribute__((warn_unused_result));
void http_destroy(http_t **self);

/* http_endpoint: host:port as listening, e.g. "127.0.0.1:41236" for
 * "127.0.0.1:0" (the port the kernel chose). */
const char *http_endpoint(const http_t *self);

/* http_fd: the fd to poll for input; http_step runs whatever is ready;
 * http_timeout_ms: when it needs http_step at the latest (-1: no need). */
int http_fd(const http_t *self);
void http_step(http_t *self);
int http_timeout_ms(const http_t *self);

#endif
