/* test_http.c - the HTTP endpoint of sluiced against a real daemon and
 * PostgreSQL: /metrics in the Prometheus text format with figures that
 * follow what happened, /healthz, and /readyz that follows the database. */
#include "harness.h"

#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#define S_REPLY_MS 5000
#define S_BODY_MAX (1 << 20)

static char s_body[S_BODY_MAX];

/* s_metric returns the value of the sample written exactly as SERIES
 * ("name" or "name{labels}"), failing the test when it is not there. */
static double s_metric(const char *page, const char *series)
{
    size_t n = strlen(series);
    for (const char *line = page; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
    fail_msg("metric %s not in the page", series);
    return 0;
}

/* s_check_exposition checks the text format the way promtool's linter does
 * for what we emit: every sample belongs to a family announced by HELP and
 * TYPE just before, counters end in _total, names are [a-zA-Z_:][a-zA-Z0-9_:]*,
 * values parse, and histogram buckets are cumulative and end in +Inf. */
static void s_check_exposition(const char *page)
{
    char family[128] = "", type[32] = "";
    double last_bucket = -1;   /* within one label set */
    const char *line = page;
    int samples = 0;
    while (*line) {
        const char *end = strchr(line, '\n');
        assert_non_null(end);  /* every line ends with a newline */
        char text[512];
        size_t len = (size_t)(end - line);
        assert_true(len < sizeof text);
        memcpy(text, line, len);
        text[len] = '\0';
        if (strncmp(text, "# HELP ", 7) == 0) {
            assert_int_equal(sscanf(text + 7, "%127s", family), 1);
            last_bucket = -1;
        } else if (strncmp(text, "# TYPE ", 7) == 0) {
            char name[128];
            assert_int_equal(sscanf(text + 7, "%127s %31s", name, type), 2);
            assert_string_equal(name, family);
            if (strcmp(type, "counter") == 0) {
                size_t fl = strlen(family);
                assert_true(fl > 6 && strcmp(family + fl - 6, "_total") == 0);
            }
        } else {
            assert_true(isalpha((unsigned char)text[0]) || text[0] == '_');
            size_t name_len = strcspn(text, "{ ");
            for (size_t i = 0; i < name_len; i++)
                assert_true(isalnum((unsigned char)text[i]) || text[i] == '_' || text[i] == ':');
            assert_true(strncmp(text, family, strlen(family)) == 0);
            const char *value = strrchr(text, ' ');
            assert_non_null(value);
            char *rest = NULL;
            double v = strtod(value + 1, &rest);
            assert_true(rest && *rest == '\0');
            if (strstr(text, "_bucket{")) {
                if (strstr(text, "le=\"0.00025\""))  /* the first bucket of a label set */
                    last_bucket = -1;
                assert_true(v >= last_bucket);  /* cumulative */
                last_bucket = v;
            }
            samples++;
        }
        line = end + 1;
    }
    assert_true(samples > 20);
}

/* s_promtool_check runs Prometheus's own linter on PAGE (tools/scripts/promtool.sh
 * fetches promtool from Debian when it is not installed). */
static void s_promtool_check(harness_t *h, const char *page)
{
    char path[PATH_MAX], out[PATH_MAX], cmd[3 * PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/metrics.txt", h->tmpdir);
    snprintf(out, sizeof out, "%s/promtool.out", h->tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(page, f);
    fclose(f);
    const char *tools = getenv("SLUICE_TOOLS");
    snprintf(cmd, sizeof cmd, "sh %s/promtool.sh check metrics < %s > %s 2>&1",
             tools ? tools : "tools/scripts", path, out);
    int rc = system(cmd);
    if (rc != 0) {
        char text[4096] = "";
        f = fopen(out, "r");
        if (f) {
            text[fread(text, 1, sizeof text - 1, f)] = '\0';
            fclose(f);
        }
        fail_msg("promtool check metrics failed (%d):\n%s", rc, text);
    }
}

static void test_metrics_health_ready(void **state)
{
    harness_t *h = *state;
    harness_boot(h, NULL);
    assert_int_equal(harness_http_get(h, "/healthz", s_body, sizeof s_body), 200);
    assert_int_equal(harness_http_get(h, "/readyz", s_body, sizeof s_body), 200);
    assert_int_equal(harness_http_get(h, "/nowhere", s_body, sizeof s_body), 404);

    assert_int_equal(harness_http_get(h, "/metrics", s_body, sizeof s_body), 200);
    s_check_exposition(s_body);
    double accepted0 = s_metric(s_body, "sluice_orders_accepted_total");
    double unknown0 = s_metric(s_body, "sluice_orders_rejected_total{reason=\"UNKNOWN_STORE\"}");
    double acks0 = s_metric(s_body, "sluice_ack_latency_seconds_count{decision=\"accepted\"}");

    harness_client_t *c = harness_client_new(h, ZMQ_DEALER);
    harness_order_t o;
    for (int i = 0; i < 3; i++) {
        char id[32];
        snprintf(id, sizeof id, "http-%d", i);
        harness_order_fill(&o, id, HARNESS_FIRST_STORE + (uint32_t)i);
        Sluice__V1__Reply *r = harness_submit(c, &o, S_REPLY_MS);
        harness_expect_ack(r, SLUICE__V1__DECISION__ACCEPTED, SLUICE__V1__REASON__REASON_NONE, id);
        harness_reply_free(&r);
    }
    harness_order_fill(&o, "http-nostore", 999999);
    Sluice__V1__Reply *r = harness_submit(c, &o, S_REPLY_MS);
    harness_expect_ack(r, SLUICE__V1__DECISION__REJECTED, SLUICE__V1__REASON__UNKNOWN_STORE,
                       "unknown store");
    harness_reply_free(&r);

    assert_int_equal(harness_http_get(h, "/metrics", s_body, sizeof s_body), 200);
    s_check_exposition(s_body);
    s_promtool_check(h, s_body);
    assert_true(s_metric(s_body, "sluice_orders_accepted_total") == accepted0 + 3);
    assert_true(s_metric(s_body, "sluice_orders_rejected_total{reason=\"UNKNOWN_STORE\"}") ==
                unknown0 + 1);
    assert_true(s_metric(s_body, "sluice_ack_latency_seconds_count{decision=\"accepted\"}") ==
                acks0 + 3);
    assert_true(s_metric(s_body, "sluice_ack_latency_seconds_bucket{decision=\"accepted\",le=\"+Inf\"}") ==
                acks0 + 3);
    assert_true(s_metric(s_body, "sluice_commit_latency_seconds_count") >= 1);
    assert_true(s_metric(s_body, "sluice_database_up") == 1);
    /* No per-store series: 300,000 stores would swamp every scrape. */
    assert_null(strstr(s_body, "store=\""));

    /* The database goes away: alive, but not ready; back: ready again. */
    harness_pg_stop(h);
    uint64_t deadline = harness_now_ms() + 15000;
    int status;
    while ((status = harness_http_get(h, "/readyz", s_body, sizeof s_body)) == 200 &&
           harness_now_ms() < deadline)
        harness_nap_ms(50);
    assert_int_equal(status, 503);
    assert_non_null(strstr(s_body, "database"));
    assert_int_equal(harness_http_get(h, "/healthz", s_body, sizeof s_body), 200);
    harness_pg_start(h);
    deadline = harness_now_ms() + 30000;
    while ((status = harness_http_get(h, "/readyz", s_body, sizeof s_body)) != 200 &&
           harness_now_ms() < deadline)
        harness_nap_ms(100);
    assert_int_equal(status, 200);

    harness_client_destroy(&c);
    assert_int_equal(harness_stop(h, 10000), 0);
    harness_pass(h);
}

static void test_http_port_taken_fails_start(void **state)
{
    harness_t *h = *state;
    /* Listen on a port first and write that port into the config as
     * daemon.http, so sluiced cannot listen there. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 1), 0);
    socklen_t len = sizeof sa;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    snprintf(h->http, sizeof h->http, "127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
    harness_write_config(h, NULL);
    assert_int_equal(harness_migrate(h), 0);
    const char *args[] = {"-c", h->conf_path, NULL};
    int rc = harness_run(h, 10000, args);
    close(fd);
    assert_int_not_equal(rc, 0);
    assert_true(harness_log_contains(h, "daemon.http: cannot listen", false));
    harness_pass(h);
}

int main(void)
{
    static const harness_case_t cases[] = {
        HARNESS_CASE(test_metrics_health_ready),
        HARNESS_CASE(test_http_port_taken_fails_start),
    };
    return harness_main("http", cases, HARNESS_COUNT(cases), NULL, NULL);
}
