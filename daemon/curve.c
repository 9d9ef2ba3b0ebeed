/* curve.c - owns CURVE keys and the ZAP handler. */
#include "curve.h"

#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_FRAMES 7   /* version, request id, domain, address, identity, mechanism, key */

struct curve_zap {
    void *socket;
    uint8_t (*keys)[32];
    size_t key_count;
    uint64_t allowed, denied;
};

/* s_key_text: the first token of LINE if it is a 40-character Z85 key. */
static bool s_key_text(char *line, char out[CURVE_KEY_TEXT + 1])
{
    char *s = line + strspn(line, " \t");
    size_t n = strcspn(s, " \t\r\n");  /* Z85 has '#' among its letters */
    if (n != CURVE_KEY_TEXT)
        return false;
    memcpy(out, s, n);
    out[n] = '\0';
    uint8_t bin[32];
    return zmq_z85_decode(bin, out) != NULL;
}

bool curve_read_secret(const char *path, char out[CURVE_KEY_TEXT + 1], char *why, size_t why_len)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, why_len, "%s: cannot read: %s", path, strerror(errno));
        return false;
    }
    struct stat st;
    bool ok = false;
    char line[256];
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & (S_IROTH | S_IWOTH)))
        snprintf(why, why_len, "%s: holds a secret key but others can read it; chmod o-rw %s",
                 path, path);
    else if (!fgets(line, sizeof line, f) || !s_key_text(line, out))
        snprintf(why, why_len, "%s:1: not a 40-character Z85 CURVE key", path);
    else
        ok = true;
    fclose(f);
    return ok;
}

static int s_key_cmp(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

bool curve_read_clients(const char *path, uint8_t (**keys)[32], size_t *count, char *why,
                        size_t why_len)
{
    *keys = NULL;
    *count = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, why_len, "%s: cannot read: %s", path, strerror(errno));
        return false;
    }
    uint8_t (*list)[32] = NULL;
    size_t n = 0, cap = 0;
    char line[512], text[CURVE_KEY_TEXT + 1];
    bool ok = true;
    for (unsigned lineno = 1; ok && fgets(line, sizeof line, f); lineno++) {
        char *s = line + strspn(line, " \t");
        bool key = s_key_text(s, text);
        /* A key may start with '#': only a line that is not a key is a comment. */
        if (!key && (*s == '#' || *s == '\n' || *s == '\r' || *s == '\0'))
            continue;
        if (!key) {
            snprintf(why, why_len, "%s:%u: not a 40-character Z85 CURVE public key", path, lineno);
            ok = false;
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            uint8_t (*grown)[32] = realloc(list, cap * sizeof *list);
            if (!grown) {
                snprintf(why, why_len, "%s: out of memory", path);
                ok = false;
                break;
            }
            list = grown;
        }
        zmq_z85_decode(list[n++], text);
    }
    fclose(f);
    if (!ok) {
        free(list);
        return false;
    }
    qsort(list, n, sizeof *list, s_key_cmp);
    *keys = list;
    *count = n;
    return true;
}

curve_zap_t *curve_zap_new(void *ctx, const char *clients_file)
{
    curve_zap_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    char why[512];
    if (!curve_read_clients(clients_file, &self->keys, &self->key_count, why, sizeof why)) {
        log_error("daemon.curve.client_keys_file: %s", why);
        free(self);
        return NULL;
    }
    int linger = 0;
    self->socket = zmq_socket(ctx, ZMQ_REP);
    if (!self->socket || zmq_setsockopt(self->socket, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_bind(self->socket, ZAP_ENDPOINT) != 0) {
        log_error("failed to start the CURVE handler: %s", zmq_strerror(zmq_errno()));
        curve_zap_destroy(&self);
        return NULL;
    }
    log_notice("ingress: CURVE on, %zu producer keys allowed", self->key_count);
    return self;
}

void curve_zap_destroy(curve_zap_t **self)
{
    if (!self || !*self)
        return;
    if ((*self)->socket)
        zmq_close((*self)->socket);
    free((*self)->keys);
    free(*self);
    *self = NULL;
}

bool curve_zap_reload(curve_zap_t *self, const char *clients_file)
{
    uint8_t (*keys)[32];
    size_t count;
    char why[512];
    if (!curve_read_clients(clients_file, &keys, &count, why, sizeof why)) {
        log_error("reload: daemon.curve.client_keys_file: %s; the old list stays", why);
        return false;
    }
    free(self->keys);
    self->keys = keys;
    self->key_count = count;
    log_notice("ingress: %zu producer keys allowed", count);
    return true;
}

void *curve_zap_socket(curve_zap_t *self)
{
    return self->socket;
}

/* s_answer replies to one ZAP request (RFC 27) whose frames are in F. */
static void s_answer(curve_zap_t *self, zmq_msg_t f[ZAP_FRAMES], int frames)
{
    /* every handshake of a producer that is not listed: limited */
    static log_limiter_t refused_log = LOG_LIMITER_INIT;
    bool known = false;
    if (frames == ZAP_FRAMES && zmq_msg_size(&f[5]) == 5 &&
        memcmp(zmq_msg_data(&f[5]), "CURVE", 5) == 0 && zmq_msg_size(&f[6]) == 32)
        known = bsearch(zmq_msg_data(&f[6]), self->keys, self->key_count, 32, s_key_cmp) != NULL;
    if (known)
        self->allowed++;
    else
        self->denied++;
    const char *status = known ? "200" : "400";
    const char *text = known ? "OK" : "producer key not allowed";
    zmq_send(self->socket, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(self->socket, frames > 1 ? zmq_msg_data(&f[1]) : "", frames > 1 ? zmq_msg_size(&f[1]) : 0,
             ZMQ_SNDMORE);
    zmq_send(self->socket, status, 3, ZMQ_SNDMORE);
    zmq_send(self->socket, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(self->socket, "", 0, ZMQ_SNDMORE);  /* user id */
    zmq_send(self->socket, "", 0, 0);            /* metadata */
    if (!known)
        log_limited(&refused_log, LOG_LEVEL_INFO,
                    "ingress: refused a CURVE handshake from a key that is not allowed");
}

void curve_zap_step(curve_zap_t *self)
{
    for (;;) {
        zmq_msg_t f[ZAP_FRAMES + 1];
        int frames = 0;
        int more = 1;
        while (more) {
            zmq_msg_t scratch;
            zmq_msg_t *m = frames < ZAP_FRAMES + 1 ? &f[frames] : &scratch;
            zmq_msg_init(m);
            if (zmq_msg_recv(m, self->socket, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(m);
                for (int i = 0; i < frames && i < ZAP_FRAMES + 1; i++)
                    zmq_msg_close(&f[i]);
                return;  /* nothing waiting (a REP gets whole messages) */
            }
            more = zmq_msg_more(m);
            if (m == &scratch)
                zmq_msg_close(m);
            frames++;
        }
        s_answer(self, f, frames);
        for (int i = 0; i < frames && i < ZAP_FRAMES + 1; i++)
            zmq_msg_close(&f[i]);
    }
}

uint64_t curve_zap_allowed(const curve_zap_t *self)
{
    return self->allowed;
}

uint64_t curve_zap_denied(const curve_zap_t *self)
{
    return self->denied;
}
