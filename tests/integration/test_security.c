/* test_security.c - who may talk to sluiced, and where its secrets live,
 * against the real daemon: CURVE on the ingress (a producer whose public key
 * is listed can submit, one that is not listed or speaks no CURVE gets
 * nothing; SIGHUP re-reads the list); the config refuses a network-facing
 * ingress without CURVE, a secret key others can read, and a database
 * password in a file everyone can read; the database may be named by a
 * libpq service file instead. */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <zmq.h>

#define S_REPLY_MS 5000
#define S_SILENCE_MS 1500

typedef struct keypair {
    char pub[41], sec[41];
} keypair_t;

static void s_keypair(keypair_t *k)
{
    assert_int_equal(zmq_curve_keypair(k->pub, k->sec), 0);
}

static void s_write_file(const char *path, mode_t mode, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

/* s_submit sends one order over a fresh DEALER (CURVE with CLIENT when given)
 * and returns the decision, or -1 when no reply came within WAIT_MS. */
static int s_submit(harness_t *h, const keypair_t *server, const keypair_t *client, const char *id,
                    int wait_ms)
{
    void *sock = zmq_socket(h->zctx, ZMQ_DEALER);
    assert_non_null(sock);
    int linger = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sock, ZMQ_RCVTIMEO, &wait_ms, sizeof wait_ms);
    if (client) {
        assert_int_equal(zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server->pub, 40), 0);
        assert_int_equal(zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, client->pub, 40), 0);
        assert_int_equal(zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, client->sec, 40), 0);
    }
    assert_int_equal(zmq_connect(sock, h->ingress), 0);
    harness_order_t o;
    harness_order_fill(&o, id, HARNESS_FIRST_STORE);
    Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
    req.request_id = 7;
    req.body_case = SLUICE__V1__REQUEST__BODY_SUBMIT;
    req.submit = &o.msg;
    uint8_t buf[4096];
    size_t len = sluice__v1__request__pack(&req, buf);
    zmq_send(sock, buf, len, ZMQ_DONTWAIT);
    int decision = -1;
    int n = zmq_recv(sock, buf, sizeof buf, 0);
    if (n > 0) {
        Sluice__V1__Reply *r = sluice__v1__reply__unpack(NULL, (size_t)n, buf);
        assert_non_null(r);
        if (r->body_case == SLUICE__V1__REPLY__BODY_ACK)
            decision = r->ack->decision;
        sluice__v1__reply__free_unpacked(r, NULL);
    }
    zmq_close(sock);
    return decision;
}

static void s_wait_log(harness_t *h, off_t from, const char *needle)
{
    uint64_t deadline = harness_now_ms() + 20000;
    while (!harness_log_contains_from(h, from, needle)) {
        if (harness_now_ms() > deadline || !harness_daemon_alive(h)) {
            harness_dump_log(h);
            fail_msg("the daemon log never said \"%s\"", needle);
        }
        harness_nap_ms(50);
    }
}

static void test_curve_allow_list(void **state)
{
    harness_t *h = *state;
    keypair_t server, good, bad;
    s_keypair(&server);
    s_keypair(&good);
    s_keypair(&bad);
    char secret_path[PATH_MAX], clients_path[PATH_MAX], text[512], extra[2 * PATH_MAX + 128];
    snprintf(secret_path, sizeof secret_path, "%s/server.key", h->tmpdir);
    snprintf(clients_path, sizeof clients_path, "%s/producers.keys", h->tmpdir);
    snprintf(text, sizeof text, "%s\n", server.sec);
    s_write_file(secret_path, 0600, text);
    snprintf(text, sizeof text, "# the shopping assistant\n%s\n", good.pub);
    s_write_file(clients_path, 0644, text);
    snprintf(extra, sizeof extra, "curve = { secret_key_file = \"%s\"; client_keys_file = \"%s\"; };",
             secret_path, clients_path);
    harness_write_config(h, extra);
    assert_int_equal(harness_migrate(h), 0);
    off_t mark = harness_log_size(h);
    harness_start(h);
    s_wait_log(h, mark, "ready");
    assert_true(harness_log_contains_from(h, mark, "CURVE on, 1 producer keys allowed"));

    assert_int_equal(s_submit(h, &server, &good, "curve-good-1", S_REPLY_MS),
                     SLUICE__V1__DECISION__ACCEPTED);
    assert_int_equal(s_submit(h, &server, &bad, "curve-bad-1", S_SILENCE_MS), -1);
    assert_int_equal(s_submit(h, &server, NULL, "curve-plain-1", S_SILENCE_MS), -1);
    /* Nothing of the refused producers reached the database. */
    assert_int_equal(harness_db_count(h, "SELECT count(*) FROM orders WHERE order_id LIKE 'curve-%'", 0), 1);
    char body[1 << 16];
    assert_int_equal(harness_http_get(h, "/metrics", body, sizeof body), 200);
    assert_non_null(strstr(body, "sluice_curve_handshakes_total{result=\"allowed\"} 1"));
    assert_null(strstr(body, "sluice_curve_handshakes_total{result=\"denied\"} 0"));

    /* The merchant platform onboards a second producer: list it, reload. */
    snprintf(text, sizeof text, "%s\n%s\n", good.pub, bad.pub);
    s_write_file(clients_path, 0644, text);
    mark = harness_log_size(h);
    harness_signal(h, SIGHUP);
    s_wait_log(h, mark, "2 producer keys allowed");
    s_wait_log(h, mark, "reloaded");
    assert_int_equal(s_submit(h, &server, &bad, "curve-bad-2", S_REPLY_MS),
                     SLUICE__V1__DECISION__ACCEPTED);
    /* A broken list on reload keeps the old one. */
    s_write_file(clients_path, 0644, "not-a-key\n");
    mark = harness_log_size(h);
    harness_signal(h, SIGHUP);
    s_wait_log(h, mark, "refused");
    assert_int_equal(s_submit(h, &server, &good, "curve-good-2", S_REPLY_MS),
                     SLUICE__V1__DECISION__ACCEPTED);
    assert_int_equal(harness_stop(h, 10000), 0);
    harness_pass(h);
}

/* s_check_fails runs --check-config on the current config file and expects
 * it to fail with NEEDLE in its output. */
static void s_check_fails(harness_t *h, const char *needle)
{
    char out[PATH_MAX + 32];
    snprintf(out, sizeof out, "%s/check.out", h->tmpdir);
    const char *args[] = {"--check-config", h->conf_path, NULL};
    int rc = harness_run_capture(h, 20000, out, args);
    FILE *f = fopen(out, "r");
    char text[8192];
    size_t len = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[len] = '\0';
    if (f)
        fclose(f);
    if (rc == 0 || !strstr(text, needle))
        fail_msg("--check-config: expected a failure saying \"%s\", got rc %d:\n%s", needle, rc, text);
}

static void test_config_refuses_unsafe_setups(void **state)
{
    harness_t *h = *state;
    /* A network-facing ingress without CURVE. */
    harness_write_config(h, NULL);
    char conf[64 * 1024];
    FILE *f = fopen(h->conf_path, "r");
    assert_non_null(f);
    size_t len = fread(conf, 1, sizeof conf - 1, f);
    conf[len] = '\0';
    fclose(f);
    char *at = strstr(conf, "tcp://127.0.0.1:");
    assert_non_null(at);
    memcpy(at, "tcp://0.0.0.0:  ", 16);  /* same length: 127.0.0.1 -> 0.0.0.0 + 2 spaces */
    char *colon = at + 13;
    memmove(colon + 1, colon + 3, strlen(colon + 3) + 1);  /* drop the padding */
    s_write_file(h->conf_path, 0640, conf);
    s_check_fails(h, "is reachable from the network");

    /* A secret key file others can read. */
    keypair_t server, client;
    s_keypair(&server);
    s_keypair(&client);
    char secret_path[PATH_MAX], clients_path[PATH_MAX], text[512], extra[2 * PATH_MAX + 128];
    snprintf(secret_path, sizeof secret_path, "%s/server.key", h->tmpdir);
    snprintf(clients_path, sizeof clients_path, "%s/producers.keys", h->tmpdir);
    snprintf(text, sizeof text, "%s\n", server.sec);
    s_write_file(secret_path, 0644, text);
    snprintf(text, sizeof text, "%s\n", client.pub);
    s_write_file(clients_path, 0644, text);
    snprintf(extra, sizeof extra, "curve = { secret_key_file = \"%s\"; client_keys_file = \"%s\"; };",
             secret_path, clients_path);
    harness_write_config(h, extra);
    s_check_fails(h, "others can read it");
    chmod(secret_path, 0600);
    /* A client key file with a broken line names the line. */
    s_write_file(clients_path, 0644, "# ok\nshort\n");
    s_check_fails(h, "producers.keys:2: not a 40-character Z85 CURVE public key");

    /* A database password in a config file every user can read. */
    harness_write_config(h, NULL);
    f = fopen(h->conf_path, "r");
    len = fread(conf, 1, sizeof conf - 1, f);
    conf[len] = '\0';
    fclose(f);
    char *dsn = strstr(conf, "database = \"");
    assert_non_null(dsn);
    char patched[sizeof conf + 64];
    size_t head = (size_t)(dsn - conf) + strlen("database = \"");
    snprintf(patched, sizeof patched, "%.*spassword=secret %s", (int)head, conf, conf + head);
    s_write_file(h->conf_path, 0644, patched);
    s_check_fails(h, "holds a password but");
    chmod(h->conf_path, 0640);
    const char *args[] = {"--check-config", h->conf_path, NULL};
    assert_int_equal(harness_run(h, 20000, args), 0);
    harness_pass(h);
}

/* The connection string names a libpq service; PGSERVICEFILE (inherited
 * from the unit's environment in production) holds the details. */
static void test_database_from_libpq_service_file(void **state)
{
    harness_t *h = *state;
    char service[PATH_MAX], text[2048];
    snprintf(service, sizeof service, "%s/pg_service.conf", h->tmpdir);
    /* h->dsn is "key=value key=value ...": one per line under [sluicetest] */
    size_t n = (size_t)snprintf(text, sizeof text, "[sluicetest]\n");
    for (const char *p = h->dsn; *p && n < sizeof text - 2;) {
        size_t len = strcspn(p, " ");
        n += (size_t)snprintf(text + n, sizeof text - n, "%.*s\n", (int)len, p);
        p += len;
        p += strspn(p, " ");
    }
    s_write_file(service, 0600, text);
    harness_write_config(h, NULL);
    char conf[64 * 1024], patched[sizeof conf];
    FILE *f = fopen(h->conf_path, "r");
    assert_non_null(f);
    conf[fread(conf, 1, sizeof conf - 1, f)] = '\0';
    fclose(f);
    char *at = strstr(conf, h->dsn);
    assert_non_null(at);
    snprintf(patched, sizeof patched, "%.*sservice=sluicetest%s", (int)(at - conf), conf,
             at + strlen(h->dsn));
    s_write_file(h->conf_path, 0640, patched);
    assert_int_equal(setenv("PGSERVICEFILE", service, 1), 0);
    assert_int_equal(harness_migrate(h), 0);
    harness_start(h);
    bool ready = harness_wait_ready(h, 30000);
    unsetenv("PGSERVICEFILE");
    assert_true(ready);
    assert_int_equal(harness_stop(h, 10000), 0);
    harness_pass(h);
}

int main(void)
{
    static const harness_case_t cases[] = {
        HARNESS_CASE(test_curve_allow_list),
        HARNESS_CASE(test_config_refuses_unsafe_setups),
        HARNESS_CASE(test_database_from_libpq_service_file),
    };
    return harness_main("security", cases, HARNESS_COUNT(cases), NULL, NULL);
}
