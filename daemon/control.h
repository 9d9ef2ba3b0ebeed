/* control.h - owns the daemon's control sockets, where sluicectl asks and
 * commands (proto/control.proto): a ROUTER at daemon.control that takes
 * every command, and one at daemon.control_readonly that takes only the read
 * commands. It decodes and checks each request (version, body, arguments,
 * permission) and answers the broken and the forbidden itself; the server
 * gets only requests it may carry out. Never blocks.
 *
 * Permissions are the socket files': an ipc:// control socket is made mode
 * 0660 with group daemon.control_group, the read-only one 0666. So there are
 * two roles: the members of that group (operators and support staff) may do
 * everything, every local user who can reach the directory may read the
 * figures (platforms, stats, store: counts, no customer's data). An order
 * lookup shows a customer's data (items, customer_ref, voucher, the
 * timeline's details), so it is refused on the read-only socket like the
 * writes. Text with a NUL byte is refused before any of it is read. */
#ifndef SLUICE_CONTROL_H
#define SLUICE_CONTROL_H

#include "config.h"
#include "proto/control.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#define CONTROL_SOCKETS 2
#define CONTROL_BY_MAX 64          /* PauseRequest.by, bytes */
#define CONTROL_MODE 0660
#define CONTROL_READONLY_MODE 0666

typedef Sluice__Control__V1__Request control_request_t;
typedef Sluice__Control__V1__Reply control_reply_t;
typedef Sluice__Control__V1__Error__Code control_code_t;

/* Whom to answer. One malloc'ed block; free() releases it. */
typedef struct control_ticket {
    struct control_ticket *next;  /* for whoever queues it */
    uint64_t request_id;
    bool readonly;                /* came in on the read-only socket */
    uint8_t socket;               /* which of control's sockets to answer on */
    uint16_t envelope_len;
    uint8_t envelope[];
} control_ticket_t;

typedef struct control control_t;

/* control_readonly_endpoint: where the read-only socket goes for D, written
 * to OUT (LEN bytes), or "" for none. "" in the config means control-ro.sock
 * beside an ipc:// daemon.control; "none" means none. */
void control_readonly_endpoint(const config_daemon_t *d, char *out, size_t len);

/* control_is_write: does a request with BODY_CASE change anything? */
bool control_is_write(Sluice__Control__V1__Request__BodyCase body_case);

/* control_readonly_allows: may a request with BODY_CASE come on the
 * read-only socket? Reads of figures only: not the writes, not an order. */
bool control_readonly_allows(Sluice__Control__V1__Request__BodyCase body_case);

/* control_check says whether REQ (NULL: the frame was not a Request) may be
 * carried out when it came on a READONLY socket. False: *CODE and WHY (LEN
 * bytes) say what is wrong, naming the field. */
bool control_check(const control_request_t *req, bool readonly, control_code_t *code, char *why,
                   size_t len);

/* control_decode decodes FRAME (LEN bytes) that came on a READONLY socket
 * or not, refuses one with a NUL byte inside a text field (a C string would
 * stop there), and runs control_check. True: *REQUEST may be carried out.
 * False: *CODE and WHY (LEN bytes) say why, naming the field. Either way
 * *REQUEST, when not NULL, is the caller's
 * (sluice__control__v1__request__free_unpacked) and its request_id is the
 * one to answer. No socket: the fuzz target runs it as the daemon does. */
bool control_decode(const uint8_t *frame, size_t len, bool readonly, control_request_t **request,
                    control_code_t *code, char *why, size_t why_len)
    __attribute__((warn_unused_result));

/* control_new binds the sockets of D on CTX and sets their socket files'
 * modes and group. NULL (logged) when a bind fails. */
control_t *control_new(void *ctx, const config_daemon_t *d) __attribute__((warn_unused_result));
void control_destroy(control_t **self);

/* control_endpoint: where the (READONLY) socket is bound, a wildcard
 * resolved; "none" when there is no such socket (as in the config). */
const char *control_endpoint(const control_t *self, bool readonly);

/* control_poll adds the sockets to ITEMS (at most MAX) for POLLIN and
 * returns how many it added. */
size_t control_poll(control_t *self, zmq_pollitem_t *items, size_t max);

/* control_recv reads one request without blocking. False when none waits.
 * True: *TICKET (the caller's, free()) and *REQUEST (the caller frees with
 * sluice__control__v1__request__free_unpacked) may be carried out; or both
 * are NULL when the request was broken or forbidden and has been answered. */
bool control_recv(control_t *self, control_ticket_t **ticket, control_request_t **request);

/* control_reply sends REPLY (its version and request_id are set here) to
 * TICKET's client; never blocks. A reply holding text that is not UTF-8 (a
 * name in the config file, say), which protobuf clients refuse to parse,
 * goes as an Error FAILED naming the field instead. control_reply_error
 * answers with an Error. */
void control_reply(control_t *self, const control_ticket_t *ticket, control_reply_t *reply);
void control_reply_error(control_t *self, const control_ticket_t *ticket, control_code_t code,
                         const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* control_code_name: "PERMISSION_DENIED" for its code, etc. */
const char *control_code_name(control_code_t code);

#endif
