/* node_proc.h - several sluiced of a fleet in one test (the nodes of a
 * shard, or of several shards), beside or instead of the harness's own
 * daemon: each with its own config (the harness's database, endpoints the
 * kernel picks, a control socket of its own), log and process. Helpers
 * fail the current cmocka test when they cannot go on; node_kill is for
 * teardown. */
#ifndef SLUICE_TEST_NODE_PROC_H
#define SLUICE_TEST_NODE_PROC_H

#include "harness.h"

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct node_proc {
    harness_t *h;
    char name[32];
    char conf[PATH_MAX];
    char log[PATH_MAX];
    char ingress[128]; /* as bound, once started */
    char http[64];
    char control[PATH_MAX + 16];
    pid_t pid;      /* 0 when not running */
    off_t log_mark; /* the log's size when it last started */
} node_proc_t;

/* node_write writes node NAME's config: the daemon section with its
 * endpoints and DAEMON_EXTRA (may be NULL), then PLATFORMS (the entries of
 * the platforms list; NULL: platform "sim" at the harness's
 * platform_endpoint) and BODY verbatim. */
void node_write(node_proc_t *n, harness_t *h, const char *name, const char *daemon_extra,
                const char *platforms, const char *body);
/* node_start runs sluiced -c on N's config and waits for its "bound:" line. */
void node_start(node_proc_t *n);

/* node_wait_log polls until the log since the last start holds NEEDLE. */
bool node_wait_log(node_proc_t *n, const char *needle, int timeout_ms);
bool node_log_contains(node_proc_t *n, const char *needle);
int node_http_get(node_proc_t *n, const char *path, char *body, size_t len);
/* node_wait_http polls PATH until it answers STATUS with NEEDLE in its body. */
bool node_wait_http(node_proc_t *n, const char *path, int status, const char *needle,
                    int timeout_ms);
harness_client_t *node_client(node_proc_t *n);

void node_signal(node_proc_t *n, int sig);
/* node_wait_exit: the exit status (128+signal when killed), -1 on timeout. */
int node_wait_exit(node_proc_t *n, int timeout_ms);
/* node_kill continues and kills N and reaps it; fine when not running. */
void node_kill(node_proc_t *n);
void node_dump_log(const node_proc_t *n);

#endif
