/* curve.h - owns CURVE security on the ingress: the server's key file, the
 * allow-list of producer public keys, and the ZAP handler that applies it.
 *
 * Key files hold Z85 text (40 characters, as zmq_curve_keypair makes them).
 * The secret key file holds one key; the client keys file holds one public
 * key per line (anything after the key and a blank is ignored), with blank
 * lines and # comment lines allowed, like an authorized_keys file. libzmq asks the ZAP handler (a REP socket at
 * inproc://zeromq.zap.01, served from the event loop) about every CURVE
 * handshake; a key that is not listed is refused, so its connection never
 * delivers a message. */
#ifndef SLUICE_CURVE_H
#define SLUICE_CURVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CURVE_KEY_TEXT 40   /* Z85 characters of a 32-byte key */

/* curve_read_secret reads PATH's key into OUT (NUL-terminated). It refuses
 * a file others can read. False with a reason in WHY. */
bool curve_read_secret(const char *path, char out[CURVE_KEY_TEXT + 1], char *why, size_t why_len);

/* curve_read_clients reads PATH's public keys into *KEYS (malloc'ed, 32
 * bytes each, sorted; the caller frees) and *COUNT. False with the line in WHY. */
bool curve_read_clients(const char *path, uint8_t (**keys)[32], size_t *count, char *why,
                        size_t why_len);

typedef struct curve_zap curve_zap_t;

/* curve_zap_new binds the ZAP handler on CTX with the keys of CLIENTS_FILE. */
curve_zap_t *curve_zap_new(void *ctx, const char *clients_file) __attribute__((warn_unused_result));
void curve_zap_destroy(curve_zap_t **self);

/* curve_zap_reload reads CLIENTS_FILE again (SIGHUP); false keeps the old list. */
bool curve_zap_reload(curve_zap_t *self, const char *clients_file);

void *curve_zap_socket(curve_zap_t *self);
/* curve_zap_step answers every handshake question waiting. */
void curve_zap_step(curve_zap_t *self);
uint64_t curve_zap_allowed(const curve_zap_t *self);
uint64_t curve_zap_denied(const curve_zap_t *self);

#endif
