/* ctl_control.c - owns sluicectl's requests to the daemon's control socket. */
#include "ctl_control.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

ctl_control_status_t ctl_control_probe(const char *endpoint, char *why, size_t len)
{
    if (strncmp(endpoint, "ipc://", 6) != 0)
        return CTL_CONTROL_OK;
    const char *path = endpoint + 6;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path) {
        snprintf(why, len, "socket path %s is too long", path);
        return CTL_CONTROL_FAILED;
    }
    memcpy(addr.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(why, len, "socket: %s", strerror(errno));
        return CTL_CONTROL_FAILED;
    }
    int rc = connect(fd, (const struct sockaddr *)&addr, sizeof addr);
    int err = errno;
    close(fd);
    if (rc == 0)
        return CTL_CONTROL_OK;
    if (err == EACCES || err == EPERM) {
        snprintf(why, len, "permission denied on %s (its group's members may use it)", path);
        return CTL_CONTROL_DENIED;
    }
    if (err == ENOENT)
        snprintf(why, len, "no socket at %s: sluiced is not running there", path);
    else if (err == ECONNREFUSED)
        snprintf(why, len, "nothing listens at %s: sluiced is not running there", path);
    else
        snprintf(why, len, "%s: %s", path, strerror(err));
    return CTL_CONTROL_UNREACHABLE;
}

/* s_request_id: different for every run, so a reply to an earlier
 * sluicectl that a proxy kept cannot be taken for ours. */
static uint64_t s_request_id(void)
{
    return ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL);
}

ctl_control_status_t ctl_control_ask(const char *endpoint, int timeout_ms,
                                     Sluice__Control__V1__Request *req,
                                     Sluice__Control__V1__Reply **reply, char *why, size_t len)
{
    *reply = NULL;
    ctl_control_status_t st = ctl_control_probe(endpoint, why, len);
    if (st != CTL_CONTROL_OK)
        return st;
    req->version = SLUICE__CONTROL__V1__VERSION__VERSION_CURRENT;
    req->request_id = s_request_id();
    size_t n = sluice__control__v1__request__get_packed_size(req);
    uint8_t *body = malloc(n ? n : 1);
    void *ctx = zmq_ctx_new();
    void *sock = ctx ? zmq_socket(ctx, ZMQ_REQ) : NULL;
    st = CTL_CONTROL_FAILED;
    if (!body || !sock) {
        snprintf(why, len, "out of memory");
        goto done;
    }
    sluice__control__v1__request__pack(req, body);
    int linger = 0;
    (void)zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    (void)zmq_setsockopt(sock, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    (void)zmq_setsockopt(sock, ZMQ_SNDTIMEO, &timeout_ms, sizeof timeout_ms);
    if (zmq_connect(sock, endpoint) != 0) {
        snprintf(why, len, "cannot connect to %s: %s", endpoint, zmq_strerror(zmq_errno()));
        goto done;
    }
    st = CTL_CONTROL_UNREACHABLE;
    if (zmq_send(sock, body, n, 0) < 0) {
        snprintf(why, len, "could not send within %d ms", timeout_ms);
        goto done;
    }
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, sock, 0) < 0) {
        zmq_msg_close(&msg);
        snprintf(why, len, "no answer within %d ms", timeout_ms);
        goto done;
    }
    *reply = sluice__control__v1__reply__unpack(NULL, zmq_msg_size(&msg), zmq_msg_data(&msg));
    zmq_msg_close(&msg);
    st = *reply ? CTL_CONTROL_OK : CTL_CONTROL_FAILED;
    if (!*reply)
        snprintf(why, len, "the answer from %s is not a sluice.control.v1.Reply", endpoint);
done:
    if (sock)
        zmq_close(sock);
    if (ctx)
        zmq_ctx_term(ctx);
    free(body);
    return st;
}
