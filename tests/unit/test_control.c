/* test_control.c - unit tests for daemon/control.c's pure parts and
 * daemon/override.c's list: which commands write, which the read-only
 * socket allows (figures; no writes, no order: a customer's data), the
 * checks every request passes (version, body, arguments, the read-only
 * socket's permission, text with a NUL byte or not UTF-8),
 * where the read-only socket goes by default, the override list and its
 * log line; and metrics_quantile_seconds, which `sluicectl platforms` and
 * `stats` show. The sockets themselves: tests/integration/test_control.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "control.h"
#include "metrics.h"
#include "override.h"

#include <math.h>
#include <string.h>

typedef Sluice__Control__V1__Request req_t;

static void test_write_commands(void **state)
{
    (void)state;
    assert_true(control_is_write(SLUICE__CONTROL__V1__REQUEST__BODY_PAUSE));
    assert_true(control_is_write(SLUICE__CONTROL__V1__REQUEST__BODY_RESUME));
    assert_true(control_is_write(SLUICE__CONTROL__V1__REQUEST__BODY_RELOAD));
    assert_false(control_is_write(SLUICE__CONTROL__V1__REQUEST__BODY_PLATFORMS));
    assert_false(control_is_write(SLUICE__CONTROL__V1__REQUEST__BODY_STATS));
    assert_false(control_is_write(SLUICE__CONTROL__V1__REQUEST__BODY_STORE));
    assert_true(control_readonly_allows(SLUICE__CONTROL__V1__REQUEST__BODY_PLATFORMS));
    assert_true(control_readonly_allows(SLUICE__CONTROL__V1__REQUEST__BODY_STATS));
    assert_true(control_readonly_allows(SLUICE__CONTROL__V1__REQUEST__BODY_STORE));
    assert_true(control_readonly_allows(SLUICE__CONTROL__V1__REQUEST__BODY_STORE_DAY));
    assert_true(control_readonly_allows(SLUICE__CONTROL__V1__REQUEST__BODY_CAMPAIGN));
    assert_false(control_readonly_allows(SLUICE__CONTROL__V1__REQUEST__BODY_CAMPAIGN_PAUSE));
    assert_false(control_readonly_allows(SLUICE__CONTROL__V1__REQUEST__BODY_ORDER));
    assert_false(control_readonly_allows(SLUICE__CONTROL__V1__REQUEST__BODY_PAUSE));
    assert_false(control_readonly_allows(SLUICE__CONTROL__V1__REQUEST__BODY_RELOAD));
    assert_false(control_readonly_allows(SLUICE__CONTROL__V1__REQUEST__BODY__NOT_SET));
}

/* s_refused: REQ on a READONLY socket is refused with CODE and a message
 * holding NEEDLE. */
static void s_refused(const req_t *req, bool readonly, int code, const char *needle)
{
    control_code_t got = 0;
    char why[256] = "";
    assert_false(control_check(req, readonly, &got, why, sizeof why));
    assert_int_equal(got, code);
    if (strstr(why, needle) == NULL)
        fail_msg("\"%s\" not in \"%s\"", needle, why);
}

static void s_allowed(const req_t *req, bool readonly)
{
    control_code_t got = 0;
    char why[256] = "";
    if (!control_check(req, readonly, &got, why, sizeof why))
        fail_msg("refused: %s", why);
}

static void test_check(void **state)
{
    (void)state;
    s_refused(NULL, false, SLUICE__CONTROL__V1__ERROR__CODE__BAD_REQUEST,
              "not a sluice.control.v1.Request");
    req_t req = SLUICE__CONTROL__V1__REQUEST__INIT;
    Sluice__Control__V1__StatsRequest stats = SLUICE__CONTROL__V1__STATS_REQUEST__INIT;
    req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_STATS;
    req.stats = &stats;
    s_refused(&req, false, SLUICE__CONTROL__V1__ERROR__CODE__UNSUPPORTED_VERSION, "version: 0");
    req.version = 2;
    s_refused(&req, false, SLUICE__CONTROL__V1__ERROR__CODE__UNSUPPORTED_VERSION, "version: 2");
    req.version = SLUICE__CONTROL__V1__VERSION__VERSION_CURRENT;
    s_allowed(&req, false);
    s_allowed(&req, true);

    req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY__NOT_SET;
    s_refused(&req, false, SLUICE__CONTROL__V1__ERROR__CODE__BAD_REQUEST, "no body");

    Sluice__Control__V1__StoreRequest store = SLUICE__CONTROL__V1__STORE_REQUEST__INIT;
    req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_STORE;
    req.store = &store;
    s_refused(&req, true, SLUICE__CONTROL__V1__ERROR__CODE__BAD_REQUEST, "store.store_id");
    store.store_id = 7;
    s_allowed(&req, true);

    Sluice__Control__V1__PauseRequest pause = SLUICE__CONTROL__V1__PAUSE_REQUEST__INIT;
    req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_PAUSE;
    req.pause = &pause;
    pause.store_id = 7;
    s_allowed(&req, false);
    /* permission comes before the arguments: the read-only socket says no */
    s_refused(&req, true, SLUICE__CONTROL__V1__ERROR__CODE__PERMISSION_DENIED, "read-only");
    pause.store_id = 0;
    s_refused(&req, false, SLUICE__CONTROL__V1__ERROR__CODE__BAD_REQUEST, "pause.store_id");
    pause.store_id = 7;
    pause.by = "ops\x1b[31m";
    s_refused(&req, false, SLUICE__CONTROL__V1__ERROR__CODE__BAD_REQUEST, "pause.by");
    char long_by[CONTROL_BY_MAX + 2];
    memset(long_by, 'a', sizeof long_by - 1);
    long_by[sizeof long_by - 1] = '\0';
    pause.by = long_by;
    s_refused(&req, false, SLUICE__CONTROL__V1__ERROR__CODE__BAD_REQUEST, "at most 64 bytes");
    long_by[CONTROL_BY_MAX] = '\0';
    s_allowed(&req, false);
    pause.by = "sluicectl caf\xc3\xa9";
    s_allowed(&req, false);
    pause.by = "sluicectl \xff\xfe";
    s_refused(&req, false, SLUICE__CONTROL__V1__ERROR__CODE__BAD_REQUEST, "pause.by: must be UTF-8");
    pause.by = NULL;

    Sluice__Control__V1__ResumeRequest resume = SLUICE__CONTROL__V1__RESUME_REQUEST__INIT;
    req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_RESUME;
    req.resume = &resume;
    s_refused(&req, false, SLUICE__CONTROL__V1__ERROR__CODE__BAD_REQUEST, "resume.store_id");
    s_refused(&req, true, SLUICE__CONTROL__V1__ERROR__CODE__PERMISSION_DENIED, "read-only");

    Sluice__Control__V1__ReloadRequest reload = SLUICE__CONTROL__V1__RELOAD_REQUEST__INIT;
    req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_RELOAD;
    req.reload = &reload;
    s_allowed(&req, false);
    s_refused(&req, true, SLUICE__CONTROL__V1__ERROR__CODE__PERMISSION_DENIED, "read-only");
    assert_string_equal(control_code_name(SLUICE__CONTROL__V1__ERROR__CODE__PERMISSION_DENIED),
                        "PERMISSION_DENIED");

    /* an order shows a customer's data: the group's socket only */
    Sluice__Control__V1__OrderRequest order = SLUICE__CONTROL__V1__ORDER_REQUEST__INIT;
    order.order_id = "o-1";
    req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_ORDER;
    req.order = &order;
    s_allowed(&req, false);
    s_refused(&req, true, SLUICE__CONTROL__V1__ERROR__CODE__PERMISSION_DENIED,
              "an order shows a customer's data");
}

/* A frame with a NUL byte inside a text field is refused naming the field;
 * control_check would have read the text before it only. */
static void test_decode(void **state)
{
    (void)state;
    Sluice__Control__V1__OrderRequest order = SLUICE__CONTROL__V1__ORDER_REQUEST__INIT;
    order.order_id = "A#first";
    req_t req = SLUICE__CONTROL__V1__REQUEST__INIT;
    req.version = SLUICE__CONTROL__V1__VERSION__VERSION_CURRENT;
    req.request_id = 5;
    req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_ORDER;
    req.order = &order;
    uint8_t buf[256];
    size_t n = sluice__control__v1__request__pack(&req, buf);
    control_request_t *got = NULL;
    control_code_t code = 0;
    char why[256];
    assert_false(control_decode(buf, n, false, &got, &code, why, sizeof why));  /* '#' */
    assert_non_null(got);
    sluice__control__v1__request__free_unpacked(got, NULL);
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '#')
            buf[i] = '\0';
    assert_false(control_decode(buf, n, false, &got, &code, why, sizeof why));
    assert_int_equal(code, SLUICE__CONTROL__V1__ERROR__CODE__BAD_REQUEST);
    assert_string_equal(why, "order.order_id: must not hold a NUL byte");
    assert_non_null(got);
    assert_int_equal(got->request_id, 5);  /* the one to answer */
    sluice__control__v1__request__free_unpacked(got, NULL);
    order.order_id = "A-first";
    n = sluice__control__v1__request__pack(&req, buf);
    assert_true(control_decode(buf, n, false, &got, &code, why, sizeof why));
    assert_string_equal(got->order->order_id, "A-first");
    sluice__control__v1__request__free_unpacked(got, NULL);
    assert_false(control_decode(buf, n, true, &got, &code, why, sizeof why));
    assert_int_equal(code, SLUICE__CONTROL__V1__ERROR__CODE__PERMISSION_DENIED);
    sluice__control__v1__request__free_unpacked(got, NULL);
    static const uint8_t junk[] = { 0xff, 0xff, 0xff };
    assert_false(control_decode(junk, sizeof junk, false, &got, &code, why, sizeof why));
    assert_null(got);
    assert_non_null(strstr(why, "not a sluice.control.v1.Request"));
}

/* campaign reads every campaign ("") or one by a valid name, on either
 * socket; campaign_pause and campaign_resume need a name and the write one. */
static void test_check_campaign(void **state)
{
    (void)state;
    req_t req = SLUICE__CONTROL__V1__REQUEST__INIT;
    req.version = SLUICE__CONTROL__V1__VERSION__VERSION_CURRENT;
    Sluice__Control__V1__CampaignRequest read = SLUICE__CONTROL__V1__CAMPAIGN_REQUEST__INIT;
    req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_CAMPAIGN;
    req.campaign = &read;
    s_allowed(&req, true);
    read.name = "spring-2027";
    s_allowed(&req, true);
    read.name = "spring 2027";
    s_refused(&req, true, SLUICE__CONTROL__V1__ERROR__CODE__BAD_REQUEST, "campaign.name");

    Sluice__Control__V1__CampaignPauseRequest pause =
        SLUICE__CONTROL__V1__CAMPAIGN_PAUSE_REQUEST__INIT;
    req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_CAMPAIGN_PAUSE;
    req.campaign_pause = &pause;
    s_refused(&req, false, SLUICE__CONTROL__V1__ERROR__CODE__BAD_REQUEST, "campaign_pause.name");
    pause.name = "spring-2027";
    s_allowed(&req, false);
    s_refused(&req, true, SLUICE__CONTROL__V1__ERROR__CODE__PERMISSION_DENIED, "read-only");
    pause.by = "ops\x07";
    s_refused(&req, false, SLUICE__CONTROL__V1__ERROR__CODE__BAD_REQUEST, "campaign_pause.by");

    Sluice__Control__V1__CampaignResumeRequest resume =
        SLUICE__CONTROL__V1__CAMPAIGN_RESUME_REQUEST__INIT;
    req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_CAMPAIGN_RESUME;
    req.campaign_resume = &resume;
    s_refused(&req, false, SLUICE__CONTROL__V1__ERROR__CODE__BAD_REQUEST, "campaign_resume.name");
    resume.name = "spring-2027";
    s_allowed(&req, false);
    s_refused(&req, true, SLUICE__CONTROL__V1__ERROR__CODE__PERMISSION_DENIED, "read-only");
    assert_true(control_is_write(SLUICE__CONTROL__V1__REQUEST__BODY_CAMPAIGN_PAUSE));
    assert_false(control_is_write(SLUICE__CONTROL__V1__REQUEST__BODY_CAMPAIGN));
}

static const char *s_ro(const char *control, const char *readonly, char *buf, size_t len)
{
    config_daemon_t d = {.control = (char *)control, .control_readonly = (char *)readonly};
    control_readonly_endpoint(&d, buf, len);
    return buf;
}

static void test_readonly_endpoint(void **state)
{
    (void)state;
    char b[128];
    assert_string_equal(s_ro("ipc:///run/sluice/control.sock", "", b, sizeof b),
                        "ipc:///run/sluice/control-ro.sock");
    assert_string_equal(s_ro("ipc:///tmp/x/ctl", "", b, sizeof b), "ipc:///tmp/x/control-ro.sock");
    assert_string_equal(s_ro("ipc:///run/sluice/control.sock", "none", b, sizeof b), "");
    assert_string_equal(s_ro("ipc:///a.sock", "tcp://127.0.0.1:7499", b, sizeof b),
                        "tcp://127.0.0.1:7499");
    /* no directory to put it in: none */
    assert_string_equal(s_ro("tcp://127.0.0.1:7402", "", b, sizeof b), "");
    assert_string_equal(s_ro("ipc://relative.sock", "", b, sizeof b), "");
    /* does not fit: none rather than a cut path */
    char small[20];
    assert_string_equal(s_ro("ipc:///run/sluice/control.sock", "", small, sizeof small), "");
}

static void test_override_list(void **state)
{
    (void)state;
    override_list_t l = {0};
    assert_null(override_find(&l, 1));
    for (uint32_t id = 1; id <= 20; id++)
        assert_true(override_put(&l, id, true, "sluicectl a"));
    assert_int_equal(l.count, 20);
    assert_true(override_put(&l, 5, false, "sluicectl b"));  /* replaces */
    assert_int_equal(l.count, 20);
    const override_t *e = override_find(&l, 5);
    assert_non_null(e);
    assert_false(e->paused);
    assert_string_equal(e->by, "sluicectl b");
    override_remove(&l, 5);
    override_remove(&l, 99);  /* not there: nothing */
    assert_int_equal(l.count, 19);
    assert_null(override_find(&l, 5));
    assert_non_null(override_find(&l, 20));

    char line[256];
    override_describe(2001, override_find(&l, 1), 0, line, sizeof line);
    assert_string_equal(line, "store 2001 paused by sluicectl override (config says paused = "
                              "false), set by sluicectl a");
    override_t resumed = {.store_id = 7, .paused = false};
    override_describe(7, &resumed, 1, line, sizeof line);
    assert_string_equal(line, "store 7 resumed by sluicectl override (config says paused = true)");
    override_describe(8, &resumed, -1, line, sizeof line);
    assert_string_equal(line, "store 8 resumed by sluicectl override (the store is not in the "
                              "configuration)");
    override_describe(9, NULL, 0, line, sizeof line);
    assert_string_equal(line, "store 9 has no sluicectl override (config says paused = false)");
    override_list_free(&l);
    assert_int_equal(l.count, 0);
}

static void test_store_paused(void **state)
{
    (void)state;
    config_store_t cfg = {.id = 1, .paused = false};
    store_t s = {.id = 1, .cfg = &cfg};
    assert_false(store_paused(&s));
    s.override = STORE_OVERRIDE_PAUSED;
    assert_true(store_paused(&s));
    cfg.paused = true;
    s.override = STORE_OVERRIDE_RESUMED;
    assert_false(store_paused(&s));
    s.override = STORE_OVERRIDE_NONE;
    assert_true(store_paused(&s));
}

static void test_quantile(void **state)
{
    (void)state;
    metrics_histogram_t h = {0};
    assert_true(metrics_quantile_seconds(&h, 0.99) == 0);
    assert_true(metrics_mean_seconds(&h) == 0);
    for (int i = 0; i < 99; i++)
        metrics_observe_us(&h, 800);      /* <= 1 ms */
    metrics_observe_us(&h, 40000);        /* <= 50 ms */
    assert_true(metrics_quantile_seconds(&h, 0.5) == 0.001);
    assert_true(metrics_quantile_seconds(&h, 0.99) == 0.001);
    assert_true(metrics_quantile_seconds(&h, 1.0) == 0.05);
    metrics_observe_us(&h, 60000000);     /* a minute: past the last bucket */
    assert_true(isinf(metrics_quantile_seconds(&h, 1.0)));
    assert_true(metrics_quantile_seconds(&h, 0.99) == 0.05);
    assert_true(fabs(metrics_mean_seconds(&h) - (99 * 0.0008 + 0.04 + 60) / 101) < 1e-9);
    metrics_histogram_t one = {0};
    metrics_observe_us(&one, 100);
    assert_true(metrics_quantile_seconds(&one, 0) == 0.00025);  /* q 0: the first */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_commands),   cmocka_unit_test(test_check),
        cmocka_unit_test(test_check_campaign),
        cmocka_unit_test(test_readonly_endpoint), cmocka_unit_test(test_override_list),
        cmocka_unit_test(test_store_paused),     cmocka_unit_test(test_quantile),
        cmocka_unit_test(test_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
