/* test_breaker.c - the per-platform circuit breaker (daemon/breaker.c): when
 * it opens, how the window forgets, the single half-open probe, outcomes that
 * arrive after the state changed, reload, and the window against a
 * brute-force model under random times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit_time.h"
#include "breaker.h"

#include <stdlib.h>
#include <string.h>

/* The defaults of platforms.[].breaker. */
static const config_breaker_t s_cfg = {
    .failure_ratio = 0.5,
    .window_seconds = 10,
    .slow_ms = 1500,
    .min_requests = 20,
    .open_seconds = 10,
};

/* A monotonic clock well past 0, on a second boundary. */
#define T0 1000000u

/* s_outcomes lets N requests through at NOW_MS and records each at once. */
static void s_outcomes(breaker_t *b, uint64_t now_ms, int n, bool failed, uint64_t latency_ms)
{
    for (int i = 0; i < n; i++) {
        breaker_ticket_t t;
        assert_true(breaker_allow(b, now_ms, &t));
        breaker_record(b, t, now_ms, failed, latency_ms);
    }
}

static void s_expect_counts(const breaker_t *b, uint64_t now_ms, uint64_t requests, uint64_t failures)
{
    uint64_t r, f;
    breaker_counts(b, now_ms, &r, &f);
    assert_int_equal(r, requests);
    assert_int_equal(f, failures);
}

/* s_trip opens a fresh breaker at NOW_MS with min_requests failures. */
static void s_trip(breaker_t *b, const config_breaker_t *cfg, uint64_t now_ms)
{
    breaker_init(b, cfg);
    s_outcomes(b, now_ms, cfg->min_requests, true, 0);
    assert_int_equal(breaker_state(b, now_ms), BREAKER_OPEN);
    assert_int_equal(breaker_transitions(b), 1);
    assert_int_equal(breaker_open_until(b), now_ms + (uint64_t)cfg->open_seconds * 1000u);
}

static void test_closed_below_min_requests(void **state)
{
    (void)state;
    breaker_t b;
    breaker_init(&b, &s_cfg);
    assert_int_equal(breaker_state(&b, T0), BREAKER_CLOSED);
    assert_int_equal(breaker_open_until(&b), 0);
    s_outcomes(&b, T0, 19, true, 0);
    assert_int_equal(breaker_state(&b, T0), BREAKER_CLOSED);
    assert_true(breaker_would_allow(&b, T0));
    assert_int_equal(breaker_transitions(&b), 0);
    s_expect_counts(&b, T0, 19, 19);
    assert_true(breaker_error_ratio(&b, T0) == 1.0);

    s_outcomes(&b, T0 + 500, 1, true, 0);
    assert_int_equal(breaker_state(&b, T0 + 500), BREAKER_OPEN);
    assert_int_equal(breaker_transitions(&b), 1);
}

static void test_opens_at_exactly_the_ratio(void **state)
{
    (void)state;
    breaker_t b;

    /* 9 of 20 failed: under 0.5. */
    breaker_init(&b, &s_cfg);
    s_outcomes(&b, T0, 11, false, 10);
    s_outcomes(&b, T0, 9, true, 0);
    assert_int_equal(breaker_state(&b, T0), BREAKER_CLOSED);
    /* 10 of 21 is still under; 11 of 22 is exactly 0.5. */
    s_outcomes(&b, T0, 1, true, 0);
    assert_int_equal(breaker_state(&b, T0), BREAKER_CLOSED);
    s_outcomes(&b, T0, 1, true, 0);
    assert_int_equal(breaker_state(&b, T0), BREAKER_OPEN);

    /* The success that brings min_requests can open it: 10 of 20. */
    breaker_init(&b, &s_cfg);
    s_outcomes(&b, T0, 10, true, 0);
    s_outcomes(&b, T0, 9, false, 10);
    assert_int_equal(breaker_state(&b, T0), BREAKER_CLOSED);
    s_outcomes(&b, T0, 1, false, 10);
    assert_int_equal(breaker_state(&b, T0), BREAKER_OPEN);

    /* A ratio that is not a power of two: 3 of 10 at 0.3. */
    config_breaker_t c = s_cfg;
    c.failure_ratio = 0.3;
    c.min_requests = 10;
    breaker_init(&b, &c);
    s_outcomes(&b, T0, 7, false, 10);
    s_outcomes(&b, T0, 2, true, 0);
    assert_int_equal(breaker_state(&b, T0), BREAKER_CLOSED);
    s_outcomes(&b, T0, 1, true, 0);
    assert_int_equal(breaker_state(&b, T0), BREAKER_OPEN);

    /* failure_ratio 0: any failure, but never none. */
    c.failure_ratio = 0;
    breaker_init(&b, &c);
    s_outcomes(&b, T0, 50, false, 10);
    assert_int_equal(breaker_state(&b, T0), BREAKER_CLOSED);
    s_outcomes(&b, T0, 1, true, 0);
    assert_int_equal(breaker_state(&b, T0), BREAKER_OPEN);

    /* failure_ratio 1: only when every request failed. */
    c.failure_ratio = 1;
    breaker_init(&b, &c);
    s_outcomes(&b, T0, 1, false, 10);
    s_outcomes(&b, T0, 30, true, 0);
    assert_int_equal(breaker_state(&b, T0), BREAKER_CLOSED);
}

static void test_slow_successes_count_as_failures(void **state)
{
    (void)state;
    breaker_t b;
    breaker_init(&b, &s_cfg);
    s_outcomes(&b, T0, 20, false, 1499);
    assert_int_equal(breaker_state(&b, T0), BREAKER_CLOSED);
    s_expect_counts(&b, T0, 20, 0);

    breaker_init(&b, &s_cfg);
    s_outcomes(&b, T0, 19, false, 1500);
    s_expect_counts(&b, T0, 19, 19);
    s_outcomes(&b, T0, 1, false, 60000);
    assert_int_equal(breaker_state(&b, T0), BREAKER_OPEN);
}

static void test_old_buckets_age_out(void **state)
{
    (void)state;
    breaker_t b;

    /* Failures 11 s ago with a 10 s window do not count. */
    breaker_init(&b, &s_cfg);
    s_outcomes(&b, T0, 19, true, 0);
    s_outcomes(&b, T0 + 11000, 1, true, 0);
    assert_int_equal(breaker_state(&b, T0 + 11000), BREAKER_CLOSED);
    s_expect_counts(&b, T0 + 11000, 1, 1);

    /* 9 s ago they do. */
    breaker_init(&b, &s_cfg);
    s_outcomes(&b, T0, 19, true, 0);
    s_outcomes(&b, T0 + 9000, 1, true, 0);
    assert_int_equal(breaker_state(&b, T0 + 9000), BREAKER_OPEN);

    /* Each second leaves on its own: the window is the current second and
     * the 9 before it. */
    config_breaker_t c = s_cfg;
    c.min_requests = 1000;
    breaker_init(&b, &c);
    s_outcomes(&b, T0, 10, true, 0);
    s_outcomes(&b, T0 + 5000, 9, false, 10);
    s_expect_counts(&b, T0 + 9999, 19, 10);
    assert_true(breaker_error_ratio(&b, T0 + 9999) == 10.0 / 19.0);
    s_expect_counts(&b, T0 + 10000, 9, 0);
    s_expect_counts(&b, T0 + 14999, 9, 0);
    s_expect_counts(&b, T0 + 15000, 0, 0);
    assert_true(breaker_error_ratio(&b, T0 + 15000) == 0.0);
    /* Recording catches the ring up the same way. */
    s_outcomes(&b, T0 + 10000, 1, true, 0);
    s_expect_counts(&b, T0 + 10000, 10, 1);
}

static void test_time_jump_clears_window(void **state)
{
    (void)state;
    breaker_t b;
    breaker_init(&b, &s_cfg);
    s_outcomes(&b, T0, 19, true, 0);
    uint64_t later = T0 + 3600u * 1000u;
    s_expect_counts(&b, later, 0, 0);
    s_outcomes(&b, later, 19, true, 0);
    assert_int_equal(breaker_state(&b, later), BREAKER_CLOSED);
    s_expect_counts(&b, later, 19, 19);

    /* A jump of exactly the window is enough. */
    breaker_init(&b, &s_cfg);
    s_outcomes(&b, T0 + 999, 19, true, 0);
    s_outcomes(&b, T0 + 10000, 19, true, 0);
    assert_int_equal(breaker_state(&b, T0 + 10000), BREAKER_CLOSED);
    s_expect_counts(&b, T0 + 10000, 19, 19);
}

static void test_open_then_one_probe(void **state)
{
    (void)state;
    breaker_t b;
    breaker_ticket_t t;
    uint64_t until = T0 + 10000;
    s_trip(&b, &s_cfg, T0);
    assert_false(breaker_allow(&b, T0, &t));
    assert_false(breaker_allow(&b, until - 1, &t));
    assert_false(breaker_would_allow(&b, until - 1));
    assert_int_equal(breaker_state(&b, until - 1), BREAKER_OPEN);
    assert_int_equal(breaker_transitions(&b), 1);

    /* Half-open as soon as open_seconds have passed, before any request. */
    assert_int_equal(breaker_state(&b, until), BREAKER_HALF_OPEN);
    assert_true(breaker_would_allow(&b, until));
    assert_int_equal(breaker_transitions(&b), 1);

    /* Exactly one probe, however long it takes. */
    assert_true(breaker_allow(&b, until + 5, &t));
    assert_int_equal(breaker_transitions(&b), 2);
    assert_int_equal(breaker_state(&b, until + 5), BREAKER_HALF_OPEN);
    for (uint64_t at = until + 5; at < until + 600000; at += 7777) {
        breaker_ticket_t other;
        assert_false(breaker_allow(&b, at, &other));
        assert_false(breaker_would_allow(&b, at));
        assert_int_equal(breaker_state(&b, at), BREAKER_HALF_OPEN);
    }
    assert_int_equal(breaker_transitions(&b), 2);
    assert_int_equal(breaker_open_until(&b), until);
}

static void test_probe_success_closes_clean(void **state)
{
    (void)state;
    breaker_t b;
    breaker_ticket_t t;
    /* Open for less than the window, so what opened it would still be in
     * the window if closing did not empty it. */
    config_breaker_t c = s_cfg;
    c.open_seconds = 2;
    uint64_t until = T0 + 2000;
    s_trip(&b, &c, T0);
    s_expect_counts(&b, until, 20, 20);
    assert_true(breaker_allow(&b, until, &t));
    breaker_record(&b, t, until + 200, false, 200);
    assert_int_equal(breaker_state(&b, until + 200), BREAKER_CLOSED);
    assert_int_equal(breaker_transitions(&b), 3);
    assert_int_equal(breaker_open_until(&b), 0);
    /* The window is empty: the probe itself is not in it either. */
    s_expect_counts(&b, until + 200, 0, 0);
    assert_true(breaker_error_ratio(&b, until + 200) == 0.0);

    /* It takes min_requests new requests to open again. */
    s_outcomes(&b, until + 300, 19, true, 0);
    assert_int_equal(breaker_state(&b, until + 300), BREAKER_CLOSED);
    s_outcomes(&b, until + 300, 1, true, 0);
    assert_int_equal(breaker_state(&b, until + 300), BREAKER_OPEN);
    assert_int_equal(breaker_open_until(&b), until + 300 + 2000);
    assert_int_equal(breaker_transitions(&b), 4);
}

static void test_probe_failure_reopens(void **state)
{
    (void)state;
    breaker_t b;
    breaker_ticket_t t;
    uint64_t until = T0 + 10000;

    /* A failed probe answered 700 ms after it went: a full open_seconds
     * from then. */
    s_trip(&b, &s_cfg, T0);
    assert_true(breaker_allow(&b, until, &t));
    uint64_t failed_at = until + 700;
    breaker_record(&b, t, failed_at, true, 700);
    assert_int_equal(breaker_state(&b, failed_at), BREAKER_OPEN);
    assert_int_equal(breaker_transitions(&b), 3);
    assert_int_equal(breaker_open_until(&b), failed_at + 10000);
    assert_false(breaker_allow(&b, failed_at + 9999, &t));
    assert_true(breaker_allow(&b, failed_at + 10000, &t));
    assert_int_equal(breaker_transitions(&b), 4);

    /* A slow probe fails too. */
    breaker_record(&b, t, failed_at + 11500, false, 1500);
    assert_int_equal(breaker_state(&b, failed_at + 11500), BREAKER_OPEN);
    assert_int_equal(breaker_open_until(&b), failed_at + 21500);
    assert_int_equal(breaker_transitions(&b), 5);
}

/* A request that goes anyway (dispatch, cancel, status) is counted while
 * closed, like any other, but never becomes the half-open probe: a re-sent
 * cancel with a minute's deadline once held the probe slot long after the
 * platform answered again. Open, past open_until and with the probe out, it
 * is not counted and changes nothing; the quote that follows is the probe. */
static void test_count_never_probes(void **state)
{
    (void)state;
    breaker_t b, before;
    breaker_ticket_t t, probe;
    uint64_t until = T0 + 10000;
    breaker_init(&b, &s_cfg);
    assert_true(breaker_count(&b, &t));
    breaker_record(&b, t, T0, true, 0);
    s_expect_counts(&b, T0, 1, 1);

    s_trip(&b, &s_cfg, T0);
    uint64_t times[] = { T0, until - 1, until, until + 60000 };
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        memcpy(&before, &b, sizeof b);
        assert_false(breaker_count(&b, &t));
        assert_memory_equal(&before, &b, sizeof b);
        assert_true(breaker_would_allow(&b, times[i]) == (times[i] >= until));
    }
    assert_true(breaker_allow(&b, until, &probe));
    assert_int_equal(breaker_transitions(&b), 2);
    assert_false(breaker_count(&b, &t));
    breaker_record(&b, probe, until + 150, false, 150);
    assert_int_equal(breaker_state(&b, until + 150), BREAKER_CLOSED);
    assert_true(breaker_count(&b, &t));
    assert_int_equal(t, breaker_transitions(&b));
}

static void test_would_allow_has_no_side_effects(void **state)
{
    (void)state;
    breaker_t b, before;
    breaker_ticket_t t;
    uint64_t until = T0 + 10000;
    breaker_init(&b, &s_cfg);
    s_outcomes(&b, T0, 5, true, 0);
    const uint64_t times[] = { 0, T0, T0 + 1, until - 1, until, until + 1, T0 + 3600000 };

    /* Closed, open, and open past open_until: nothing moves. */
    for (int phase = 0; phase < 2; phase++) {
        memcpy(&before, &b, sizeof b);
        for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
            (void)breaker_would_allow(&b, times[i]);
            (void)breaker_state(&b, times[i]);
            (void)breaker_error_ratio(&b, times[i]);
            uint64_t r, f;
            breaker_counts(&b, times[i], &r, &f);
            (void)breaker_open_until(&b);
        }
        assert_memory_equal(&before, &b, sizeof b);
        if (phase == 0)
            s_outcomes(&b, T0, 15, true, 0);
    }
    assert_int_equal(breaker_state(&b, T0), BREAKER_OPEN);

    /* Asking many times past open_until does not take the probe. */
    for (int i = 0; i < 5; i++)
        assert_true(breaker_would_allow(&b, until));
    assert_true(breaker_allow(&b, until, &t));
    assert_false(breaker_allow(&b, until, &t));
}

/* A request let through before the breaker changed state can come back at
 * any time after; its outcome changes nothing. */
static void test_stale_outcomes_ignored(void **state)
{
    (void)state;
    breaker_t b;
    breaker_ticket_t early_ok, early_bad, probe, t;
    uint64_t until = T0 + 10000;
    breaker_init(&b, &s_cfg);
    assert_true(breaker_allow(&b, T0, &early_ok));
    assert_true(breaker_allow(&b, T0, &early_bad));
    s_outcomes(&b, T0, 20, true, 0);
    assert_int_equal(breaker_state(&b, T0), BREAKER_OPEN);

    /* Recorded while open: a success does not close it. */
    breaker_record(&b, early_ok, T0 + 100, false, 100);
    assert_int_equal(breaker_state(&b, T0 + 100), BREAKER_OPEN);
    assert_int_equal(breaker_transitions(&b), 1);
    assert_int_equal(breaker_open_until(&b), until);

    /* Recorded while the probe is out: not taken for the probe. */
    assert_true(breaker_allow(&b, until, &probe));
    breaker_record(&b, early_bad, until + 1, true, 0);
    breaker_record(&b, early_ok, until + 1, false, 10);
    assert_int_equal(breaker_state(&b, until + 1), BREAKER_HALF_OPEN);
    assert_false(breaker_allow(&b, until + 1, &t));
    assert_int_equal(breaker_transitions(&b), 2);

    /* The probe decides; afterwards the old tickets still count for nothing. */
    breaker_record(&b, probe, until + 50, false, 50);
    assert_int_equal(breaker_state(&b, until + 50), BREAKER_CLOSED);
    for (int i = 0; i < 30; i++)
        breaker_record(&b, early_bad, until + 60, true, 0);
    breaker_record(&b, probe, until + 60, true, 0);
    assert_int_equal(breaker_state(&b, until + 60), BREAKER_CLOSED);
    s_expect_counts(&b, until + 60, 0, 0);
}

static void test_configure_keeps_state(void **state)
{
    (void)state;
    breaker_t b;
    breaker_ticket_t t;
    config_breaker_t c = s_cfg;

    /* An open breaker stays open until the same time; the next opening
     * takes the new open_seconds, the next requests the new ratio. */
    s_trip(&b, &c, T0);
    c.open_seconds = 60;
    c.failure_ratio = 0.9;
    breaker_configure(&b, &c);
    assert_int_equal(breaker_state(&b, T0 + 1), BREAKER_OPEN);
    assert_int_equal(breaker_open_until(&b), T0 + 10000);
    assert_true(breaker_allow(&b, T0 + 10000, &t));
    breaker_record(&b, t, T0 + 10100, true, 0);
    assert_int_equal(breaker_open_until(&b), T0 + 10100 + 60000);
    assert_true(breaker_allow(&b, T0 + 70100, &t));
    breaker_record(&b, t, T0 + 70100, false, 10);
    s_outcomes(&b, T0 + 70100, 10, false, 10);
    s_outcomes(&b, T0 + 70100, 10, true, 0);
    assert_int_equal(breaker_state(&b, T0 + 70100), BREAKER_CLOSED); /* 0.5 < 0.9 */

    /* A shorter window keeps the seconds that fit; a longer one cannot
     * bring back what has gone. */
    c = s_cfg;
    c.min_requests = 1000;
    breaker_init(&b, &c);
    for (uint64_t s = 0; s < 10; s++)
        s_outcomes(&b, T0 + s * 1000, 1, s % 2 == 0, 10);
    uint64_t last = T0 + 9000;
    s_expect_counts(&b, last, 10, 5);
    c.window_seconds = 5;
    breaker_configure(&b, &c);
    s_expect_counts(&b, last, 5, 2); /* seconds 5..9: failures at 6 and 8 */
    c.window_seconds = 20;
    breaker_configure(&b, &c);
    s_expect_counts(&b, last, 5, 2);
    /* The kept seconds sit where the 20-second ring expects them. */
    s_expect_counts(&b, T0 + 24999, 5, 2);
    s_expect_counts(&b, T0 + 25000, 4, 2);  /* second 5 leaves */
    s_outcomes(&b, T0 + 26000, 1, true, 0); /* second 6 leaves */
    s_expect_counts(&b, T0 + 26000, 4, 2);
    s_expect_counts(&b, T0 + 29000, 1, 1);
    /* Same numbers: nothing moves. */
    breaker_t before;
    memcpy(&before, &b, sizeof b);
    breaker_configure(&b, &c);
    assert_memory_equal(&before, &b, sizeof b);

    /* Early in the clock's life there are no seconds before 0 to keep. */
    c.window_seconds = 10;
    breaker_init(&b, &c);
    s_outcomes(&b, 0, 1, true, 0);
    s_outcomes(&b, 2500, 1, false, 10);
    c.window_seconds = 600;
    breaker_configure(&b, &c);
    s_expect_counts(&b, 2500, 2, 1);
    s_expect_counts(&b, 599999, 2, 1);
    s_expect_counts(&b, 600000, 1, 0);
}

/* The window against a list of every outcome: random steps of time (now and
 * then a jump past the window), random outcomes, random window sizes. */
static void test_window_matches_model(void **state)
{
    (void)state;
    enum { OPS = 50000 };
    struct outcome {
        uint64_t s;
        bool bad, gone; /* gone: dropped by a smaller window on reload */
    } *log = calloc(OPS, sizeof *log);
    assert_non_null(log);
    size_t n = 0, first = 0;
    uint64_t seed = 42, now = T0, head_s = 0;
    config_breaker_t c = s_cfg;
    c.failure_ratio = 1; /* with min_requests this high it never opens */
    c.min_requests = 1000000;
    c.window_seconds = 7;
    breaker_t *b = malloc(sizeof *b);
    assert_non_null(b);
    breaker_init(b, &c);

    for (int op = 0; op < OPS; op++) {
        uint64_t r = unit_splitmix64(&seed);
        if (r % 1000 == 0)
            now += 1000 * (unit_splitmix64(&seed) % 1300);
        else
            now += unit_splitmix64(&seed) % 700;
        if (r % 997 == 1) {
            uint64_t w = 1 + unit_splitmix64(&seed) % 40;
            uint64_t keep = w < (uint64_t)c.window_seconds ? w : (uint64_t)c.window_seconds;
            for (size_t i = first; i < n; i++)
                if (log[i].s + keep <= head_s)
                    log[i].gone = true;
            c.window_seconds = (int)w;
            breaker_configure(b, &c);
        }
        bool failed = unit_splitmix64(&seed) % 3 == 0;
        uint64_t latency = unit_splitmix64(&seed) % 2000;
        breaker_ticket_t t;
        assert_true(breaker_allow(b, now, &t));
        breaker_record(b, t, now, failed, latency);
        log[n].s = now / 1000;
        log[n].bad = failed || latency >= (uint64_t)c.slow_ms;
        head_s = log[n].s;
        n++;
        while (first < n && log[first].s + CONFIG_MAX_BREAKER_WINDOW < head_s)
            first++;

        /* Now and a little ahead, without recording. */
        uint64_t at = now + (op % 5 == 0 ? unit_splitmix64(&seed) % 50000 : 0);
        uint64_t at_s = at / 1000, want_r = 0, want_f = 0;
        for (size_t i = first; i < n; i++) {
            if (log[i].gone || log[i].s + (uint64_t)c.window_seconds <= at_s)
                continue;
            want_r++;
            want_f += log[i].bad;
        }
        uint64_t got_r, got_f;
        breaker_counts(b, at, &got_r, &got_f);
        if (got_r != want_r || got_f != want_f)
            fail_msg("op %d at %llu: window %d holds %llu/%llu, model %llu/%llu", op,
                     (unsigned long long)at, c.window_seconds, (unsigned long long)got_f,
                     (unsigned long long)got_r, (unsigned long long)want_f,
                     (unsigned long long)want_r);
    }
    assert_int_equal(breaker_state(b, now), BREAKER_CLOSED);
    free(b);
    free(log);
}

/* config.c refuses such numbers; the ring stays inside the struct anyway. */
static void test_window_clamped(void **state)
{
    (void)state;
    breaker_t b;
    config_breaker_t c = s_cfg;
    c.min_requests = 1000000;
    c.window_seconds = 100000;
    breaker_init(&b, &c);
    assert_int_equal(b.window, CONFIG_MAX_BREAKER_WINDOW);
    for (uint64_t s = 0; s < 2 * CONFIG_MAX_BREAKER_WINDOW; s += 7)
        s_outcomes(&b, T0 + s * 1000, 1, true, 0);
    c.window_seconds = -3;
    breaker_configure(&b, &c);
    assert_int_equal(b.window, 1);
    s_outcomes(&b, T0 + 2000000, 2, true, 0);
    s_expect_counts(&b, T0 + 2000000, 2, 2);
}

static void test_state_names(void **state)
{
    (void)state;
    assert_string_equal(breaker_state_name(BREAKER_CLOSED), "closed");
    assert_string_equal(breaker_state_name(BREAKER_OPEN), "open");
    assert_string_equal(breaker_state_name(BREAKER_HALF_OPEN), "half-open");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_closed_below_min_requests),
        cmocka_unit_test(test_opens_at_exactly_the_ratio),
        cmocka_unit_test(test_slow_successes_count_as_failures),
        cmocka_unit_test(test_old_buckets_age_out),
        cmocka_unit_test(test_time_jump_clears_window),
        cmocka_unit_test(test_open_then_one_probe),
        cmocka_unit_test(test_probe_success_closes_clean),
        cmocka_unit_test(test_probe_failure_reopens),
        cmocka_unit_test(test_count_never_probes),
        cmocka_unit_test(test_would_allow_has_no_side_effects),
        cmocka_unit_test(test_stale_outcomes_ignored),
        cmocka_unit_test(test_configure_keeps_state),
        cmocka_unit_test(test_window_matches_model),
        cmocka_unit_test(test_window_clamped),
        cmocka_unit_test(test_state_names),
    };
    return cmocka_run_group_tests_name("breaker", tests, NULL, NULL);
}
