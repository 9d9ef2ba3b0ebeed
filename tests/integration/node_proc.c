/* node_proc.c - the nodes of a fleet as child processes of a test. */
#include "node_proc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "proc.h"

#define NODE_BOUND_MS 15000

void node_write(node_proc_t *n, harness_t *h, const char *name, const char *daemon_extra,
                const char *platforms, const char *body)
{
    memset(n, 0, sizeof *n);
    n->h = h;
    snprintf(n->name, sizeof n->name, "%s", name);
    snprintf(n->conf, sizeof n->conf, "%s/%s.conf", h->tmpdir, name);
    snprintf(n->log, sizeof n->log, "%s/%s.log", h->tmpdir, name);
    snprintf(n->control, sizeof n->control, "ipc://%s/%s.sock", h->tmpdir, name);
    FILE *f = fopen(n->conf, "w");
    if (!f)
        fail_msg("failed to write %s", n->conf);
    fprintf(f,
            "# written by tests/integration/node_proc.c\n"
            "daemon = {\n"
            "  database = \"%s\";\n"
            "  ingress = \"tcp://127.0.0.1:*\";\n"
            "  events = \"tcp://127.0.0.1:*\";\n"
            "  control = \"%s\";\n"
            "  control_readonly = \"none\";\n"
            "  http = \"127.0.0.1:0\";\n"
            "  limits = { orders_per_second = 1000000; queue_delay_ms = 5000; "
            "commit_latency_ms = 10000; };\n"
            "  %s\n"
            "};\n",
            h->dsn, n->control, daemon_extra ? daemon_extra : "");
    if (!platforms && !h->platform_endpoint[0]) /* a port nobody answers on */
        snprintf(h->platform_endpoint, sizeof h->platform_endpoint, "tcp://127.0.0.1:%d",
                 harness_hold_port(h));
    if (platforms)
        fprintf(f, "platforms = (\n%s\n);\n", platforms);
    else
        fprintf(f, "platforms = ( { name = \"sim\"; adapter = \"zmq\"; endpoint = \"%s\"; } );\n",
                h->platform_endpoint);
    fprintf(f, "%s", body ? body : "");
    if (fclose(f) != 0)
        fail_msg("failed to write %s", n->conf);
}

/* s_bound copies the endpoint after " KEY " in LINE, up to a comma. */
static bool s_bound(const char *line, const char *key, char *out, size_t len)
{
    char needle[32];
    snprintf(needle, sizeof needle, " %s ", key);
    const char *at = strstr(line, needle);
    if (!at)
        return false;
    at += strlen(needle);
    size_t k = strcspn(at, ",\n");
    if (k == 0 || k >= len)
        return false;
    memcpy(out, at, k);
    out[k] = '\0';
    return true;
}

static char *s_log_since(const node_proc_t *n)
{
    char *all = harness_read_file(n->log);
    size_t len = strlen(all);
    size_t from = (size_t)n->log_mark < len ? (size_t)n->log_mark : len;
    memmove(all, all + from, len - from + 1);
    return all;
}

void node_start(node_proc_t *n)
{
    assert_int_equal(n->pid, 0);
    struct stat st;
    n->log_mark = stat(n->log, &st) == 0 ? st.st_size : 0;
    const char *args[] = { "-c", n->conf, NULL };
    n->pid = harness_spawn(n->h, n->log, args);
    uint64_t deadline = harness_now_ms() + NODE_BOUND_MS;
    for (;;) {
        char *log = s_log_since(n);
        const char *line = strstr(log, "bound: ingress ");
        if (line && strchr(line, '\n')) {
            bool ok = s_bound(line, "ingress", n->ingress, sizeof n->ingress) &&
                      s_bound(line, "http", n->http, sizeof n->http);
            free(log);
            if (!ok)
                fail_msg("node %s: its \"bound:\" line names no ingress or http", n->name);
            return;
        }
        free(log);
        if (harness_now_ms() > deadline || !proc_alive(n->pid, NULL)) {
            node_dump_log(n);
            fail_msg("node %s did not bind within %d ms", n->name, NODE_BOUND_MS);
        }
        harness_nap_ms(10);
    }
}

bool node_log_contains(node_proc_t *n, const char *needle)
{
    char *log = s_log_since(n);
    bool found = strstr(log, needle) != NULL;
    free(log);
    return found;
}

bool node_wait_log(node_proc_t *n, const char *needle, int timeout_ms)
{
    uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
    while (!node_log_contains(n, needle)) {
        if (harness_now_ms() > deadline)
            return false;
        harness_nap_ms(20);
    }
    return true;
}

int node_http_get(node_proc_t *n, const char *path, char *body, size_t len)
{
    return harness_http_get_at(n->http, path, body, len);
}

bool node_wait_http(node_proc_t *n, const char *path, int status, const char *needle,
                    int timeout_ms)
{
    uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
    char body[4096];
    for (;;) {
        if (node_http_get(n, path, body, sizeof body) == status && strstr(body, needle))
            return true;
        if (harness_now_ms() > deadline)
            return false;
        harness_nap_ms(50);
    }
}

harness_client_t *node_client(node_proc_t *n)
{
    return harness_client_new_at(n->h, ZMQ_DEALER, n->ingress);
}

void node_signal(node_proc_t *n, int sig)
{
    assert_true(n->pid > 0);
    assert_true(proc_signal(n->pid, sig));
}

int node_wait_exit(node_proc_t *n, int timeout_ms)
{
    if (n->pid <= 0)
        return -2;
    int rc = harness_reap(n->pid, timeout_ms);
    if (rc != -1)
        n->pid = 0;
    return rc;
}

void node_kill(node_proc_t *n)
{
    if (n->pid <= 0)
        return;
    proc_signal(n->pid, SIGCONT);
    proc_signal(n->pid, SIGKILL);
    (void)proc_wait(n->pid, -1);
    n->pid = 0;
}

void node_dump_log(const node_proc_t *n)
{
    char *log = harness_read_file(n->log);
    fprintf(stderr, "---- node %s log (%s) ----\n%s---- end of node %s log ----\n", n->name, n->log,
            log, n->name);
    free(log);
}
