/* test_adapter.c - the adapter registry and helpers (adapters/adapter.c):
 * names unique, `zmq` found, the config accepting exactly the registered
 * names, registration refusing a duplicate name, a missing operation and a
 * full table, the id syntax of keys, event ordering by seq, and the zmq
 * transport's answers that need no gateway (invalid requests, no link,
 * a link down told from the first attempt, open failures). Requests
 * against a real gateway are in
 * tests/integration/test_adapter.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit_tmp.h"
#include "adapter.h"
#include "clock.h"
#include "config.h"
#include "zmq/zmq_adapter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_registry(void **state)
{
    (void)state;
    assert_true(adapter_count() >= 1);
    for (size_t i = 0; i < adapter_count(); i++) {
        const adapter_ops_t *ops = adapter_find(adapter_name(i));
        assert_non_null(ops);
        assert_string_equal(ops->name, adapter_name(i));
        /* every operation is there: the wrappers call them unchecked */
        assert_true(ops->open && ops->close && ops->poll && ops->timeout_ms && ops->step &&
                    ops->quote && ops->dispatch && ops->cancel && ops->status &&
                    ops->settlement && ops->stats);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(adapter_name(i), adapter_name(j));
    }
    assert_ptr_equal(adapter_find("zmq"), &zmq_adapter_ops);
    assert_null(adapter_find("ZMQ"));
    assert_null(adapter_find(""));
    assert_null(adapter_find(NULL));
    assert_null(adapter_name(adapter_count()));
}

/* s_load_platform loads a config whose one platform has ADAPTER; returns
 * the errors (malloc'ed) or NULL when it loaded. */
static char *s_load_platform(const char *adapter)
{
    char path[4096];
    assert_true(unit_tmp_template(path, sizeof path, "sluice-test-adapter"));
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fprintf(f, "platforms = ( { name = \"p\"; adapter = \"%s\"; endpoint = \"tcp://127.0.0.1:1\"; } );\n",
            adapter);
    fclose(f);
    char *errors = NULL;
    config_t *cfg = config_load(path, &errors);
    unlink(path);
    if (cfg) {
        assert_string_equal(cfg->platforms[0].adapter, adapter);
        config_destroy(&cfg);
        return NULL;
    }
    assert_non_null(errors);
    return errors;
}

/* The config takes its adapter names from the registry: each registered
 * name loads, another is refused with every registered name listed. */
static void test_config_agrees(void **state)
{
    (void)state;
    for (size_t i = 0; i < adapter_count(); i++)
        assert_null(s_load_platform(adapter_name(i)));
    char *errors = s_load_platform("carrier-pigeon");
    assert_non_null(strstr(errors, "unknown adapter"));
    for (size_t i = 0; i < adapter_count(); i++)
        assert_non_null(strstr(errors, adapter_name(i)));
    free(errors);
}

static void test_id_valid(void **state)
{
    (void)state;
    char id64[65], id65[66];
    memset(id64, '9', 64);
    id64[64] = '\0';
    memset(id65, '9', 65);
    id65[65] = '\0';
    assert_true(adapter_id_valid("flash-2026:0001.a_b:1"));
    assert_true(adapter_id_valid(id64));
    assert_false(adapter_id_valid(id65));
    assert_false(adapter_id_valid(""));
    assert_false(adapter_id_valid(NULL));
    assert_false(adapter_id_valid("a b"));
    assert_false(adapter_id_valid("a/b"));
    assert_false(adapter_id_valid("caf\xc3\xa9"));
}

static void test_event_order(void **state)
{
    (void)state;
    assert_int_equal(adapter_event_order(0, 1), ADAPTER_SEQ_NEXT);
    assert_int_equal(adapter_event_order(3, 4), ADAPTER_SEQ_NEXT);
    assert_int_equal(adapter_event_order(3, 3), ADAPTER_SEQ_STALE);
    assert_int_equal(adapter_event_order(3, 1), ADAPTER_SEQ_STALE);
    assert_int_equal(adapter_event_order(0, 0), ADAPTER_SEQ_STALE);
    assert_int_equal(adapter_event_order(1, 3), ADAPTER_SEQ_GAP);
    assert_int_equal(adapter_event_order(UINT32_MAX - 1, UINT32_MAX), ADAPTER_SEQ_NEXT);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(adapter_state_name(ADAPTER_STATE_PICKED_UP), "PICKED_UP");
    assert_string_equal(adapter_state_name((adapter_state_t)99), "?");
    assert_string_equal(adapter_outcome_name(ADAPTER_TIMEOUT), "timeout");
    assert_string_equal(adapter_send_name(ADAPTER_SEND_FULL), "full");
    assert_string_equal(adapter_refusal_name(ADAPTER_REFUSAL_KEY_CANCELLED), "KEY_CANCELLED");
    assert_string_equal(adapter_error_name(ADAPTER_ERR_KEY_CONFLICT), "KEY_CONFLICT");
}

/* ---- the zmq transport without a gateway ------------------------------ */

static int s_calls;

static void s_count_dispatch(void *arg, const adapter_done_t *done, const adapter_dispatch_t *r)
{
    (void)arg;
    (void)r;
    assert_int_equal(done->outcome, ADAPTER_CLOSED);
    s_calls++;
}

static adapter_platform_t s_platform(const char *endpoint)
{
    return (adapter_platform_t){.name = "p", .adapter = "zmq", .endpoint = endpoint,
                                .timeout_ms = 800, .quote_deadline_ms = 150, .max_inflight = 10};
}

/* Nothing listens on the endpoint: nothing can be sent, and saying so is
 * certain (ZMQ_IMMEDIATE: no request waits for a connection). Invalid
 * requests are refused before that. No callback for either. */
static void test_zmq_without_gateway(void **state)
{
    (void)state;
    void *ctx = zmq_ctx_new();
    adapter_platform_t p = s_platform("tcp://127.0.0.1:1");
    adapter_t *a = adapter_open(&p, ctx, NULL);
    assert_non_null(a);
    zmq_pollitem_t items[ADAPTER_POLL_MAX];
    assert_int_equal(adapter_poll(a, items, ADAPTER_POLL_MAX), 2);
    assert_int_equal(adapter_poll(a, items, 1), 1);
    assert_int_equal(adapter_timeout_ms(a, clock_mono_ms()), -1);
    adapter_dispatch_req_t d = {.key = "o1:1", .order_id = "o1", .pickup = {30, 120},
                                .dropoff = {30, 120}, .ready_at_ms = 1, .items = 1};
    s_calls = 0;
    assert_int_equal(adapter_dispatch(a, &d, 0, s_count_dispatch, NULL), ADAPTER_SEND_UNREACHABLE);
    d.items = 0;
    assert_int_equal(adapter_dispatch(a, &d, 0, s_count_dispatch, NULL), ADAPTER_SEND_INVALID);
    assert_int_equal(adapter_status(a, "bad key", 0, NULL, NULL), ADAPTER_SEND_INVALID);
    adapter_step(a, clock_mono_ms());
    const adapter_stats_t *st = adapter_stats(a);
    assert_int_equal(st->sent, 0);
    assert_int_equal(st->unreachable, 1);
    assert_int_equal(st->outstanding, 0);
    adapter_close(&a);
    assert_null(a);
    adapter_close(&a);  /* NULL is fine */
    assert_int_equal(s_calls, 0);
    zmq_ctx_term(ctx);
}

static void s_count_link(void *arg, bool up)
{
    int *links = arg;
    links[up ? 1 : 0]++;
}

/* Nothing listens: the first attempt to connect is refused, and that is
 * told as a link down (once, however often libzmq tries again), so that a
 * gateway gone at start-up is known to be gone, not merely "not up yet". */
static void test_zmq_link_down_from_the_start(void **state)
{
    (void)state;
    void *ctx = zmq_ctx_new();
    adapter_platform_t p = s_platform("tcp://127.0.0.1:1");
    int links[2] = {0, 0};
    adapter_listener_t listener = {.link = s_count_link, .arg = links};
    adapter_t *a = adapter_open(&p, ctx, &listener);
    assert_non_null(a);
    uint64_t deadline = clock_mono_ms() + 5000, quiet_until = 0;
    while (clock_mono_ms() < (quiet_until ? quiet_until : deadline)) {
        zmq_pollitem_t items[ADAPTER_POLL_MAX];
        size_t n = adapter_poll(a, items, ADAPTER_POLL_MAX);
        assert_true(zmq_poll(items, (int)n, 10) >= 0);
        adapter_step(a, clock_mono_ms());
        if (links[0] && !quiet_until)
            quiet_until = clock_mono_ms() + 500;  /* a few retries more: still one down */
    }
    assert_int_equal(links[0], 1);
    assert_int_equal(links[1], 0);
    assert_int_equal(adapter_stats(a)->link_downs, 1);
    adapter_close(&a);
    zmq_ctx_term(ctx);
}

static void test_zmq_open_failures(void **state)
{
    (void)state;
    void *ctx = zmq_ctx_new();
    adapter_platform_t p = s_platform("nonsense");
    assert_null(adapter_open(&p, ctx, NULL));
    p = s_platform("tcp://127.0.0.1:1");
    p.adapter = "carrier-pigeon";
    assert_null(adapter_open(&p, ctx, NULL));
    zmq_ctx_term(ctx);
}

/* ---- registering transports -------------------------------------------- */

/* A transport as the zmq one, under NAME: registration only reads the ops. */
static adapter_ops_t s_ops_named(const char *name)
{
    adapter_ops_t ops = zmq_adapter_ops;
    ops.name = name;
    return ops;
}

/* Names are unique: a second `zmq`, or a second of a new name, is refused
 * and the first stays; a transport without every operation is refused. */
static void test_register_refuses_duplicates(void **state)
{
    (void)state;
    static adapter_ops_t again, other, other_again, lame, nameless;
    size_t n = adapter_count();
    again = s_ops_named("zmq");
    assert_false(adapter_register(&again));
    assert_ptr_equal(adapter_find("zmq"), &zmq_adapter_ops);
    other = s_ops_named("other");
    assert_true(adapter_register(&other));
    assert_int_equal(adapter_count(), n + 1);
    assert_ptr_equal(adapter_find("other"), &other);
    assert_string_equal(adapter_name(n), "other");
    other_again = s_ops_named("other");
    assert_false(adapter_register(&other_again));
    assert_ptr_equal(adapter_find("other"), &other);
    lame = s_ops_named("lame");
    lame.settlement = NULL;
    assert_false(adapter_register(&lame));
    assert_null(adapter_find("lame"));
    nameless = s_ops_named("");
    assert_false(adapter_register(&nameless));
    assert_int_equal(adapter_count(), n + 1);
}

/* The table holds ADAPTER_REGISTRY_MAX transports; one more is refused. */
static void test_register_refuses_when_full(void **state)
{
    (void)state;
    static adapter_ops_t fill[ADAPTER_REGISTRY_MAX + 1];
    static char names[ADAPTER_REGISTRY_MAX + 1][16];
    size_t i = 0;
    while (adapter_count() < ADAPTER_REGISTRY_MAX) {
        snprintf(names[i], sizeof names[i], "fill-%zu", i);
        fill[i] = s_ops_named(names[i]);
        assert_true(adapter_register(&fill[i]));
        i++;
    }
    snprintf(names[i], sizeof names[i], "fill-%zu", i);
    fill[i] = s_ops_named(names[i]);
    assert_false(adapter_register(&fill[i]));
    assert_null(adapter_find(names[i]));
    assert_int_equal(adapter_count(), ADAPTER_REGISTRY_MAX);
    assert_ptr_equal(adapter_find("zmq"), &zmq_adapter_ops);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_config_agrees),
        cmocka_unit_test(test_id_valid),
        cmocka_unit_test(test_event_order),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_zmq_without_gateway),
        cmocka_unit_test(test_zmq_link_down_from_the_start),
        cmocka_unit_test(test_zmq_open_failures),
        /* last: they add transports to the process's registry */
        cmocka_unit_test(test_register_refuses_duplicates),
        cmocka_unit_test(test_register_refuses_when_full),
    };
    return cmocka_run_group_tests_name("adapter", tests, NULL, NULL);
}
