/* test_kitchen.c - a store's prep schedule (daemon/kitchen.c): orders queue
 * on the slot that starts them earliest, staffing windows add or remove
 * slots by local time of day, cancel/ready/restore/configure keep the slot
 * heap in order; random operations are checked against a brute-force model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit_time.h"
#include "kitchen.h"

#include <stdio.h>
#include <string.h>

#define SEC 1000u
#define MIN (60u * SEC)
#define HOUR (60u * MIN)
#define DAY (24u * HOUR)


/* 2026-01-15 00:00 UTC, a Thursday in winter. */
static uint64_t s_day(void)
{
    return (uint64_t)unit_days_from_civil(2026, 1, 15) * DAY;
}

/* s_local: the wall ms at which a zone OFFSET_MS from UTC reads HH:MM on the
 * local date that starts DAYS after 2026-01-15. */
static uint64_t s_local(int64_t offset_ms, int days, int hh, int mm)
{
    return (uint64_t)((int64_t)s_day() + (int64_t)days * DAY + (int64_t)hh * HOUR +
                      (int64_t)mm * MIN - offset_ms);
}

static config_store_t s_store(int prep_slots)
{
    config_store_t c;
    memset(&c, 0, sizeof c);
    c.id = 1;
    c.brand = -1;
    c.prep_slots = prep_slots;
    c.item_seconds = 60;
    c.max_wait_minutes = 60;
    c.max_queue = 1000;
    c.close_minute = 24 * 60;
    c.timezone = "UTC";
    return c;
}

static void s_window(config_store_t *c, int from_hh, int from_mm, int to_hh, int to_mm, int slots)
{
    config_staffing_t *w = &c->staffing[c->staffing_count++];
    w->from_minute = from_hh * 60 + from_mm;
    w->to_minute = to_hh * 60 + to_mm;
    w->prep_slots = slots;
}

/* s_check_heap: the always-staffed slots form a min-heap on free_at, and
 * heap_pos is the inverse of heap. */
static void s_check_heap(const kitchen_t *k)
{
    assert_true(k->always <= k->slots);
    assert_true(k->slots <= k->cap);
    for (size_t i = 0; i < k->always; i++) {
        uint16_t slot = k->heap[i];
        assert_true(slot < k->always);
        assert_int_equal(k->heap_pos[slot], i);
        if (i > 0)
            assert_true(k->free_at[k->heap[(i - 1) / 2]] <= k->free_at[slot]);
    }
}

/* s_book plans and books an order of PREP_MS at NOW_MS, checking the plan's
 * arithmetic; returns the plan. */
static kitchen_plan_t s_book(kitchen_t *k, const config_store_t *c, uint64_t prep_ms,
                             uint64_t now_ms, int64_t offset_ms)
{
    kitchen_plan_t p;
    assert_true(kitchen_plan(k, c, prep_ms, now_ms, offset_ms, &p));
    assert_true(p.start_ms >= now_ms);
    assert_int_equal(p.ready_ms, p.start_ms + prep_ms);
    assert_true(p.slot < k->slots);
    kitchen_book(k, &p);
    assert_int_equal(k->free_at[p.slot], p.ready_ms);
    s_check_heap(k);
    return p;
}

static kitchen_plan_t s_plan(const kitchen_t *k, const config_store_t *c, uint64_t prep_ms,
                             uint64_t now_ms, int64_t offset_ms)
{
    kitchen_plan_t p;
    assert_true(kitchen_plan(k, c, prep_ms, now_ms, offset_ms, &p));
    return p;
}

/* ------------------------------------------------------- deterministic cases */

static void test_single_slot_queues_back_to_back(void **state)
{
    (void)state;
    config_store_t c = s_store(1);
    kitchen_t k = { 0 };
    assert_true(kitchen_configure(&k, &c));
    assert_int_equal(k.slots, 1);
    assert_int_equal(k.always, 1);
    uint64_t now = s_local(0, 0, 10, 0);
    uint64_t preps[5] = { 30 * SEC, 45 * SEC, 60 * SEC, 75 * SEC, 90 * SEC };
    uint64_t expect_start = now;
    for (int i = 0; i < 5; i++) {
        /* Planning alone books nothing: asking twice gives the same answer. */
        kitchen_plan_t again = s_plan(&k, &c, preps[i], now, 0);
        kitchen_plan_t p = s_book(&k, &c, preps[i], now, 0);
        assert_int_equal(again.start_ms, p.start_ms);
        assert_int_equal(p.slot, 0);
        assert_int_equal(p.start_ms, expect_start);
        assert_int_equal(p.ready_ms, expect_start + preps[i]);
        expect_start = p.ready_ms;
    }
    assert_int_equal(expect_start, now + 300 * SEC);
    /* An idle slot starts an order now, not at the end of its last one. */
    uint64_t later = now + 20 * MIN;
    kitchen_plan_t p = s_plan(&k, &c, MIN, later, 0);
    assert_int_equal(p.start_ms, later);
    assert_int_equal(p.ready_ms, later + MIN);
    kitchen_free(&k);
    assert_null(k.free_at);
    assert_int_equal(k.cap, 0);
}

static void test_slots_fill_in_parallel_then_earliest_free(void **state)
{
    (void)state;
    config_store_t c = s_store(3);
    kitchen_t k = { 0 };
    assert_true(kitchen_configure(&k, &c));
    uint64_t now = s_local(0, 0, 12, 0);
    kitchen_plan_t a = s_book(&k, &c, 90 * SEC, now, 0);
    kitchen_plan_t b = s_book(&k, &c, 30 * SEC, now, 0);
    kitchen_plan_t d = s_book(&k, &c, 60 * SEC, now, 0);
    assert_int_equal(a.start_ms, now);
    assert_int_equal(b.start_ms, now);
    assert_int_equal(d.start_ms, now);
    assert_true(a.slot != b.slot && b.slot != d.slot && a.slot != d.slot);
    /* All three busy: the next order waits for the 30 s one. */
    kitchen_plan_t e = s_book(&k, &c, 60 * SEC, now, 0);
    assert_int_equal(e.slot, b.slot);
    assert_int_equal(e.start_ms, now + 30 * SEC);
    /* Then the 60 s one (the 30 s slot is now busy until 90 s). */
    kitchen_plan_t f = s_book(&k, &c, 10 * SEC, now, 0);
    assert_int_equal(f.slot, d.slot);
    assert_int_equal(f.start_ms, now + 60 * SEC);
    /* f frees its slot at 70 s, before the others at 90 s. */
    kitchen_plan_t g = s_plan(&k, &c, 10 * SEC, now, 0);
    assert_int_equal(g.slot, d.slot);
    assert_int_equal(g.start_ms, now + 70 * SEC);
    /* Time passes beyond every booking: start now. */
    kitchen_plan_t h = s_plan(&k, &c, 10 * SEC, now + 5 * MIN, 0);
    assert_int_equal(h.start_ms, now + 5 * MIN);
    kitchen_free(&k);
}

static void test_unconfigured_kitchen_plans_nothing(void **state)
{
    (void)state;
    config_store_t c = s_store(2);
    kitchen_t k = { 0 };
    kitchen_plan_t p;
    assert_false(kitchen_plan(&k, &c, MIN, s_day(), 0, &p));
    kitchen_restore(&k, 3, s_day() + MIN);  /* nothing to restore onto: no crash */
    kitchen_cancel(&k, 0, s_day(), s_day() + MIN, s_day());
    kitchen_ready(&k, 0, s_day() + MIN, s_day());
    assert_int_equal(kitchen_memory_bytes(&k), 0);
    kitchen_free(&k);
}

static void test_slots_at_follows_windows(void **state)
{
    (void)state;
    config_store_t c = s_store(2);
    s_window(&c, 11, 0, 14, 0, 4);
    s_window(&c, 22, 0, 2, 0, 3);  /* across midnight */
    s_window(&c, 6, 0, 7, 30, 1);
    assert_int_equal(kitchen_slots_at(&c, 10 * 60 + 59), 2);
    assert_int_equal(kitchen_slots_at(&c, 11 * 60), 4);
    assert_int_equal(kitchen_slots_at(&c, 13 * 60 + 59), 4);
    assert_int_equal(kitchen_slots_at(&c, 14 * 60), 2);
    assert_int_equal(kitchen_slots_at(&c, 21 * 60 + 59), 2);
    assert_int_equal(kitchen_slots_at(&c, 22 * 60), 3);
    assert_int_equal(kitchen_slots_at(&c, 1439), 3);
    assert_int_equal(kitchen_slots_at(&c, 0), 3);
    assert_int_equal(kitchen_slots_at(&c, 119), 3);
    assert_int_equal(kitchen_slots_at(&c, 120), 2);
    assert_int_equal(kitchen_slots_at(&c, 5 * 60 + 59), 2);
    assert_int_equal(kitchen_slots_at(&c, 6 * 60), 1);
    assert_int_equal(kitchen_slots_at(&c, 7 * 60 + 29), 1);
    assert_int_equal(kitchen_slots_at(&c, 7 * 60 + 30), 2);
    kitchen_t k = { 0 };
    assert_true(kitchen_configure(&k, &c));
    assert_int_equal(k.slots, 4);
    assert_int_equal(k.always, 1);
    kitchen_free(&k);
}

/* Asia/Shanghai (UTC+8): 2 slots all day, 4 from 11:00 to 14:00 local. */
static void test_window_doubles_slots_in_local_time(void **state)
{
    (void)state;
    const int64_t sh = 8 * (int64_t)HOUR;
    config_store_t c = s_store(2);
    c.timezone = "Asia/Shanghai";
    s_window(&c, 11, 0, 14, 0, 4);
    kitchen_t k = { 0 };
    assert_true(kitchen_configure(&k, &c));
    assert_int_equal(k.slots, 4);
    assert_int_equal(k.always, 2);

    /* 10:40: both regular slots busy until 11:10. */
    uint64_t now = s_local(sh, 0, 10, 40);
    kitchen_plan_t a = s_book(&k, &c, 30 * MIN, now, sh);
    kitchen_plan_t b = s_book(&k, &c, 30 * MIN, now, sh);
    assert_int_equal(a.start_ms, now);
    assert_int_equal(b.start_ms, now);
    assert_true(a.slot < 2 && b.slot < 2);
    /* Read as UTC (02:40, the window is hours away) the next start is 03:10 UTC. */
    kitchen_plan_t utc = s_plan(&k, &c, 10 * MIN, now, 0);
    assert_true(utc.slot < 2);
    assert_int_equal(utc.start_ms, now + 30 * MIN);
    /* The extra slots open at 11:00 local = 03:00 UTC, before 11:10. */
    kitchen_plan_t d = s_book(&k, &c, 10 * MIN, now, sh);
    assert_true(d.slot >= 2);
    assert_int_equal(d.start_ms, s_local(sh, 0, 11, 0));
    assert_int_equal(d.start_ms, s_day() + 3 * HOUR);
    kitchen_plan_t e = s_book(&k, &c, 10 * MIN, now, sh);
    assert_true(e.slot >= 2 && e.slot != d.slot);
    assert_int_equal(e.start_ms, s_local(sh, 0, 11, 0));
    /* All four busy until 11:10. */
    kitchen_plan_t f = s_plan(&k, &c, 10 * MIN, now, sh);
    assert_int_equal(f.start_ms, s_local(sh, 0, 11, 10));
    kitchen_free(&k);

    /* Near the end of the window: the extra slots stop taking orders at 14:00. */
    kitchen_t k2 = { 0 };
    assert_true(kitchen_configure(&k2, &c));
    now = s_local(sh, 0, 13, 55);
    s_book(&k2, &c, 30 * MIN, now, sh);                 /* regular, until 14:25 */
    s_book(&k2, &c, 30 * MIN, now, sh);                 /* regular, until 14:25 */
    kitchen_plan_t x = s_book(&k2, &c, 10 * MIN, now, sh); /* extra, until 14:05 */
    kitchen_plan_t y = s_book(&k2, &c, 2 * MIN, now, sh);  /* extra, until 13:57 */
    assert_true(x.slot >= 2 && y.slot >= 2);
    assert_int_equal(x.start_ms, now);
    assert_int_equal(y.start_ms, now);
    now = s_local(sh, 0, 13, 58);
    kitchen_plan_t z = s_book(&k2, &c, 10 * MIN, now, sh); /* still inside: 13:58 */
    assert_int_equal(z.slot, y.slot);
    assert_int_equal(z.start_ms, now);
    /* At 14:00 the extra slots (free at 14:05 and 14:08) are gone until
     * tomorrow 11:00: the regular slots at 14:25 win. */
    now = s_local(sh, 0, 14, 0);
    kitchen_plan_t w = s_plan(&k2, &c, 10 * MIN, now, sh);
    assert_true(w.slot < 2);
    assert_int_equal(w.start_ms, s_local(sh, 0, 14, 25));
    kitchen_free(&k2);

    /* A regular slot booked far ahead: the extra slot waits for tomorrow's window. */
    config_store_t one = s_store(1);
    s_window(&one, 11, 0, 14, 0, 2);
    kitchen_t k3 = { 0 };
    assert_true(kitchen_configure(&k3, &one));
    now = s_local(sh, 0, 14, 30);
    kitchen_plan_t long_one = s_book(&k3, &one, DAY, now, sh);
    assert_int_equal(long_one.slot, 0);
    kitchen_plan_t next = s_plan(&k3, &one, MIN, now, sh);
    assert_int_equal(next.slot, 1);
    assert_int_equal(next.start_ms, s_local(sh, 1, 11, 0));
    kitchen_free(&k3);
}

/* America/New_York in January (UTC-5): 1 slot, 3 from 22:00 to 02:00. */
static void test_window_across_midnight(void **state)
{
    (void)state;
    const int64_t ny = -5 * (int64_t)HOUR;
    config_store_t c = s_store(1);
    c.timezone = "America/New_York";
    s_window(&c, 22, 0, 2, 0, 3);
    kitchen_t k = { 0 };
    assert_true(kitchen_configure(&k, &c));
    assert_int_equal(k.slots, 3);
    assert_int_equal(k.always, 1);

    uint64_t now = s_local(ny, 0, 21, 50);
    kitchen_plan_t a = s_book(&k, &c, 70 * MIN, now, ny);  /* slot 0 until 23:00 */
    assert_int_equal(a.slot, 0);
    assert_int_equal(a.start_ms, now);
    kitchen_plan_t b = s_book(&k, &c, 10 * MIN, now, ny);
    assert_true(b.slot >= 1);
    assert_int_equal(b.start_ms, s_local(ny, 0, 22, 0));
    assert_int_equal(b.start_ms, s_day() + DAY + 3 * HOUR);  /* 03:00 UTC next day */
    kitchen_plan_t d = s_book(&k, &c, 10 * MIN, now, ny);
    assert_true(d.slot >= 1 && d.slot != b.slot);
    assert_int_equal(d.start_ms, s_local(ny, 0, 22, 0));
    kitchen_plan_t e = s_plan(&k, &c, 10 * MIN, now, ny);
    assert_int_equal(e.start_ms, s_local(ny, 0, 22, 10));

    /* After midnight, still inside the window. */
    now = s_local(ny, 1, 1, 58);
    kitchen_plan_t f = s_book(&k, &c, 62 * MIN, now, ny);  /* one slot until 03:00 */
    assert_int_equal(f.start_ms, now);
    kitchen_plan_t g = s_book(&k, &c, 60 * MIN, now, ny);  /* runs past 02:00: fine */
    assert_int_equal(g.start_ms, now);
    kitchen_plan_t h = s_book(&k, &c, MIN, now, ny);       /* until 01:59 */
    assert_int_equal(h.start_ms, now);
    assert_true(f.slot != g.slot && g.slot != h.slot && f.slot != h.slot);
    now = s_local(ny, 1, 1, 59);
    kitchen_plan_t i = s_plan(&k, &c, MIN, now, ny);
    assert_int_equal(i.slot, h.slot);
    assert_int_equal(i.start_ms, now);
    /* 02:00: the window is over. The window slots are idle but unstaffed
     * until 22:00; slot 0 (f) is busy until 03:00. */
    assert_int_equal(f.slot, 0);
    now = s_local(ny, 1, 2, 0);
    kitchen_plan_t j = s_plan(&k, &c, MIN, now, ny);
    assert_int_equal(j.slot, 0);
    assert_int_equal(j.start_ms, s_local(ny, 1, 3, 0));
    kitchen_free(&k);

    /* Slot 0 busy past 02:00 with the window slots free: the next start is
     * slot 0's free time, not tonight's 22:00. */
    kitchen_t k2 = { 0 };
    assert_true(kitchen_configure(&k2, &c));
    now = s_local(ny, 1, 1, 30);
    kitchen_plan_t m = s_book(&k2, &c, 90 * MIN, now, ny);  /* slot 0 until 03:00 */
    assert_int_equal(m.slot, 0);
    now = s_local(ny, 1, 2, 0);
    kitchen_plan_t n = s_plan(&k2, &c, MIN, now, ny);
    assert_int_equal(n.slot, 0);
    assert_int_equal(n.start_ms, s_local(ny, 1, 3, 0));
    /* Slot 0 busy until after 22:00: a window slot opens at 22:00. */
    kitchen_plan_t o = s_book(&k2, &c, 20 * HOUR, s_local(ny, 1, 3, 0), ny); /* until 23:00 */
    assert_int_equal(o.slot, 0);
    kitchen_plan_t q = s_plan(&k2, &c, MIN, s_local(ny, 1, 3, 0), ny);
    assert_true(q.slot >= 1);
    assert_int_equal(q.start_ms, s_local(ny, 1, 22, 0));
    kitchen_free(&k2);
}

/* UTC: 3 slots all day, 1 from 15:00 to 17:00. */
static void test_window_reduces_slots(void **state)
{
    (void)state;
    config_store_t c = s_store(3);
    s_window(&c, 15, 0, 17, 0, 1);
    kitchen_t k = { 0 };
    assert_true(kitchen_configure(&k, &c));
    assert_int_equal(k.slots, 3);
    assert_int_equal(k.always, 1);
    uint64_t now = s_local(0, 0, 14, 50);
    kitchen_plan_t a = s_book(&k, &c, 20 * MIN, now, 0);
    kitchen_plan_t b = s_book(&k, &c, 20 * MIN, now, 0);
    kitchen_plan_t d = s_book(&k, &c, 20 * MIN, now, 0);
    assert_int_equal(a.start_ms, now);
    assert_int_equal(b.start_ms, now);
    assert_int_equal(d.start_ms, now);  /* orders started before 15:00 may run into it */
    /* All free at 15:10, but only slot 0 is staffed then. */
    kitchen_plan_t e = s_book(&k, &c, 20 * MIN, now, 0);
    assert_int_equal(e.slot, 0);
    assert_int_equal(e.start_ms, s_local(0, 0, 15, 10));
    kitchen_plan_t f = s_book(&k, &c, 100 * MIN, now, 0);  /* 15:30 to 17:10 */
    assert_int_equal(f.slot, 0);
    assert_int_equal(f.start_ms, s_local(0, 0, 15, 30));
    /* Slots 1 and 2 come back at 17:00, before slot 0 is free. */
    kitchen_plan_t g = s_plan(&k, &c, 20 * MIN, s_local(0, 0, 16, 55), 0);
    assert_true(g.slot >= 1);
    assert_int_equal(g.start_ms, s_local(0, 0, 17, 0));
    kitchen_free(&k);
}

static void test_cancel_frees_only_the_last_booking(void **state)
{
    (void)state;
    config_store_t c = s_store(1);
    kitchen_t k = { 0 };
    assert_true(kitchen_configure(&k, &c));
    uint64_t t = s_local(0, 0, 10, 0);
    kitchen_plan_t a = s_book(&k, &c, 60 * SEC, t, 0);
    kitchen_plan_t b = s_book(&k, &c, 60 * SEC, t, 0);
    assert_int_equal(b.start_ms, t + 60 * SEC);
    /* A has B booked behind it: B's promise stands, nothing is freed. */
    kitchen_cancel(&k, a.slot, a.start_ms, a.ready_ms, t + 10 * SEC);
    assert_int_equal(k.free_at[0], t + 120 * SEC);
    assert_int_equal(s_plan(&k, &c, MIN, t + 10 * SEC, 0).start_ms, t + 120 * SEC);
    /* B is the last booking: the slot is free from B's start. */
    kitchen_cancel(&k, b.slot, b.start_ms, b.ready_ms, t + 10 * SEC);
    assert_int_equal(k.free_at[0], t + 60 * SEC);
    assert_int_equal(s_plan(&k, &c, MIN, t + 10 * SEC, 0).start_ms, t + 60 * SEC);
    /* Now A is the last one; it started at t, so the slot is free now. */
    kitchen_cancel(&k, a.slot, a.start_ms, a.ready_ms, t + 10 * SEC);
    assert_int_equal(k.free_at[0], t + 10 * SEC);
    assert_int_equal(s_plan(&k, &c, MIN, t + 10 * SEC, 0).start_ms, t + 10 * SEC);
    /* Cancelled while being made: free from the moment of the cancel. */
    kitchen_plan_t d = s_book(&k, &c, 60 * SEC, t + 10 * SEC, 0);
    kitchen_cancel(&k, d.slot, d.start_ms, d.ready_ms, t + 40 * SEC);
    assert_int_equal(k.free_at[0], t + 40 * SEC);
    /* A slot the kitchen never had: ignored. */
    kitchen_cancel(&k, 7, t, t + 40 * SEC, t + 40 * SEC);
    assert_int_equal(k.free_at[0], t + 40 * SEC);
    kitchen_free(&k);

    /* With several slots the freed slot moves up the heap. */
    config_store_t c2 = s_store(2);
    kitchen_t k2 = { 0 };
    assert_true(kitchen_configure(&k2, &c2));
    kitchen_plan_t x = s_book(&k2, &c2, 5 * MIN, t, 0);
    kitchen_plan_t y = s_book(&k2, &c2, 10 * MIN, t, 0);
    assert_int_equal(s_plan(&k2, &c2, MIN, t, 0).slot, x.slot);
    kitchen_cancel(&k2, y.slot, y.start_ms, y.ready_ms, t + 5 * SEC);
    s_check_heap(&k2);
    kitchen_plan_t z = s_plan(&k2, &c2, MIN, t + 5 * SEC, 0);
    assert_int_equal(z.slot, y.slot);
    assert_int_equal(z.start_ms, t + 5 * SEC);
    kitchen_free(&k2);
}

static void test_ready_early_frees_late_pushes(void **state)
{
    (void)state;
    config_store_t c = s_store(2);
    kitchen_t k = { 0 };
    assert_true(kitchen_configure(&k, &c));
    uint64_t t = s_local(0, 0, 9, 0);
    kitchen_plan_t a = s_book(&k, &c, 300 * SEC, t, 0);
    kitchen_plan_t b = s_book(&k, &c, 600 * SEC, t, 0);
    kitchen_plan_t d = s_book(&k, &c, 100 * SEC, t, 0);  /* behind a: 300..400 */
    assert_int_equal(d.slot, a.slot);
    assert_int_equal(d.start_ms, t + 300 * SEC);
    /* a made early, but d is booked behind it: nothing moves. */
    kitchen_ready(&k, a.slot, a.ready_ms, t + 200 * SEC);
    assert_int_equal(k.free_at[a.slot], t + 400 * SEC);
    /* d made early: its slot is free from now. */
    kitchen_ready(&k, d.slot, d.ready_ms, t + 350 * SEC);
    assert_int_equal(k.free_at[d.slot], t + 350 * SEC);
    s_check_heap(&k);
    kitchen_plan_t e = s_plan(&k, &c, MIN, t + 350 * SEC, 0);
    assert_int_equal(e.slot, d.slot);
    assert_int_equal(e.start_ms, t + 350 * SEC);
    /* b made late (promised 600 s, made at 650 s): the slot is busy until now. */
    kitchen_ready(&k, b.slot, b.ready_ms, t + 650 * SEC);
    assert_int_equal(k.free_at[b.slot], t + 650 * SEC);
    s_check_heap(&k);
    /* a reported after its slot went idle: the free time moves up to now. */
    kitchen_ready(&k, a.slot, a.ready_ms, t + 700 * SEC);
    assert_int_equal(k.free_at[a.slot], t + 700 * SEC);
    s_check_heap(&k);
    /* The heap follows: b's slot (650) is now the earlier one. */
    assert_int_equal(k.heap[0], b.slot);
    kitchen_ready(&k, 9, t, t + 800 * SEC);  /* unknown slot: ignored */
    kitchen_free(&k);
}

static void test_restore_folds_extra_slots(void **state)
{
    (void)state;
    config_store_t c = s_store(3);
    kitchen_t k = { 0 };
    assert_true(kitchen_configure(&k, &c));
    uint64_t t = s_local(0, 0, 8, 0);
    kitchen_restore(&k, 1, t + 10 * MIN);
    kitchen_restore(&k, 7, t + 25 * MIN);   /* 7 folds onto 1: later wins */
    kitchen_restore(&k, 4, t + 5 * MIN);    /* 4 folds onto 1: earlier loses */
    kitchen_restore(&k, 0, t + 20 * MIN);
    kitchen_restore(&k, 0, t + 15 * MIN);   /* a booking that ends earlier: kept */
    s_check_heap(&k);
    assert_int_equal(k.free_at[0], t + 20 * MIN);
    assert_int_equal(k.free_at[1], t + 25 * MIN);
    assert_int_equal(k.free_at[2], 0);
    assert_int_equal(k.cap, 3);             /* restore never grows the kitchen */
    kitchen_plan_t p = s_book(&k, &c, HOUR, t, 0);
    assert_int_equal(p.slot, 2);
    assert_int_equal(p.start_ms, t);
    kitchen_plan_t q = s_plan(&k, &c, MIN, t, 0);
    assert_int_equal(q.slot, 0);
    assert_int_equal(q.start_ms, t + 20 * MIN);
    kitchen_free(&k);

    /* With a staffing window the kitchen has its most slots; fold onto those. */
    config_store_t w = s_store(2);
    s_window(&w, 11, 0, 14, 0, 4);
    kitchen_t k2 = { 0 };
    assert_true(kitchen_configure(&k2, &w));
    kitchen_restore(&k2, 5, t + 30 * MIN);  /* 5 % 4 == 1 */
    kitchen_restore(&k2, 3, t + 40 * MIN);
    assert_int_equal(k2.free_at[1], t + 30 * MIN);
    assert_int_equal(k2.free_at[3], t + 40 * MIN);
    s_check_heap(&k2);
    assert_int_equal(k2.heap[0], 0);
    kitchen_free(&k2);
}

static void test_configure_keeps_booked_times(void **state)
{
    (void)state;
    uint64_t t = s_local(0, 0, 10, 0);
    config_store_t two = s_store(2);
    kitchen_t k = { 0 };
    assert_true(kitchen_configure(&k, &two));
    s_book(&k, &two, 60 * SEC, t, 0);
    s_book(&k, &two, 120 * SEC, t, 0);
    uint64_t was0 = k.free_at[0], was1 = k.free_at[1];

    /* Grow to 4: the booked slots keep their times, the new ones are free. */
    config_store_t four = s_store(4);
    assert_true(kitchen_configure(&k, &four));
    s_check_heap(&k);
    assert_int_equal(k.free_at[0], was0);
    assert_int_equal(k.free_at[1], was1);
    kitchen_plan_t p = s_book(&k, &four, 200 * SEC, t, 0);
    kitchen_plan_t q = s_book(&k, &four, 250 * SEC, t, 0);
    assert_int_equal(p.start_ms, t);
    assert_int_equal(q.start_ms, t);
    assert_true(p.slot >= 2 && q.slot >= 2 && p.slot != q.slot);
    uint64_t was2 = k.free_at[2], was3 = k.free_at[3];
    assert_int_equal(s_plan(&k, &four, MIN, t, 0).start_ms, t + 60 * SEC);

    /* Shrink to 1: only slot 0 is used, still with its booking. */
    config_store_t one = s_store(1);
    assert_true(kitchen_configure(&k, &one));
    s_check_heap(&k);
    assert_int_equal(k.slots, 1);
    assert_int_equal(k.free_at[0], was0);
    kitchen_plan_t r = s_plan(&k, &one, MIN, t, 0);
    assert_int_equal(r.slot, 0);
    assert_int_equal(r.start_ms, was0);
    kitchen_plan_t r2 = s_book(&k, &one, 500 * SEC, t, 0);  /* slot 0: was0 .. +500 s */
    uint64_t now0 = r2.ready_ms;

    /* Grow back through a staffing window covering 10:00: the slots that
     * were hidden kept their bookings. */
    config_store_t win = s_store(1);
    s_window(&win, 9, 0, 12, 0, 4);
    assert_true(kitchen_configure(&k, &win));
    s_check_heap(&k);
    assert_int_equal(k.slots, 4);
    assert_int_equal(k.always, 1);
    assert_int_equal(k.free_at[0], now0);
    assert_int_equal(k.free_at[1], was1);
    assert_int_equal(k.free_at[2], was2);
    assert_int_equal(k.free_at[3], was3);
    kitchen_plan_t s = s_plan(&k, &win, MIN, t, 0);
    assert_int_equal(s.slot, 1);
    assert_int_equal(s.start_ms, was1);

    /* Grow past the allocation: old times survive the realloc, the rest are free. */
    config_store_t many = s_store(50);
    assert_true(kitchen_configure(&k, &many));
    s_check_heap(&k);
    assert_int_equal(k.cap, 50);
    assert_int_equal(kitchen_memory_bytes(&k),
                     50 * (sizeof(uint64_t) + 2 * sizeof(uint16_t)));
    assert_int_equal(k.free_at[0], now0);
    assert_int_equal(k.free_at[1], was1);
    assert_int_equal(k.free_at[2], was2);
    assert_int_equal(k.free_at[3], was3);
    for (int i = 4; i < 50; i++)
        assert_int_equal(k.free_at[i], 0);
    kitchen_plan_t u = s_plan(&k, &many, MIN, t, 0);
    assert_true(u.slot >= 4);
    assert_int_equal(u.start_ms, t);
    kitchen_free(&k);
}

/* ------------------------------------------------- random ops vs a model */

#define MODEL_SLOTS 64
#define MODEL_BOOKINGS 4096
#define NO_START UINT64_MAX

static uint64_t s_rand_state;

static uint64_t s_rand(void)
{
    return unit_splitmix64(&s_rand_state);
}

static unsigned s_below(unsigned n)
{
    return (unsigned)(s_rand() % n);
}

typedef struct booking {
    uint16_t slot;
    uint64_t start_ms, ready_ms;
} booking_t;

typedef struct model {
    config_store_t cfg;
    uint64_t free_at[MODEL_SLOTS];   /* like the kitchen: never cleared */
    int slots;                       /* most slots at any minute */
    /* wait[s][m]: minutes from local minute m until slot s is staffed */
    int wait[MODEL_SLOTS][24 * 60];
    booking_t bookings[MODEL_BOOKINGS];
    size_t booking_count;
} model_t;

static model_t s_model;

/* s_model_staffed is the design's rule, written independently of the kitchen:
 * a window [from, to) (to < from: past midnight) overrides prep_slots. */
static int s_model_staffed(const config_store_t *c, int minute)
{
    for (int i = 0; i < c->staffing_count; i++) {
        const config_staffing_t *w = &c->staffing[i];
        int from = w->from_minute, to = w->to_minute;
        bool in = from < to ? minute >= from && minute < to : minute >= from || minute < to;
        if (in)
            return w->prep_slots;
    }
    return c->prep_slots;
}

static void s_model_configure(model_t *m, const config_store_t *c)
{
    m->cfg = *c;
    int staffed[24 * 60];
    m->slots = 0;
    for (int minute = 0; minute < 24 * 60; minute++) {
        staffed[minute] = s_model_staffed(c, minute);
        if (staffed[minute] > m->slots)
            m->slots = staffed[minute];
    }
    for (int s = 0; s < m->slots; s++) {
        int next = 1 << 20;
        for (int i = 2 * 24 * 60 - 1; i >= 0; i--) {
            next = s < staffed[i % (24 * 60)] ? 0 : next + 1;
            if (i < 24 * 60)
                m->wait[s][i] = next;
        }
    }
}

/* s_model_start: when SLOT can start an order at NOW_MS, minute by minute. */
static uint64_t s_model_start(const model_t *m, int slot, uint64_t now_ms, int64_t offset_ms)
{
    uint64_t t = m->free_at[slot] > now_ms ? m->free_at[slot] : now_ms;
    uint64_t local = (uint64_t)((int64_t)t + offset_ms);
    int wait = m->wait[slot][(local / MIN) % (24 * 60)];
    if (wait >= 24 * 60)
        return NO_START;
    if (wait == 0)
        return t;
    return t - local % MIN + (uint64_t)wait * MIN;
}

static void s_model_compare(const model_t *m, const kitchen_t *k)
{
    assert_int_equal(k->slots, m->slots);
    for (int s = 0; s < m->slots; s++)
        assert_int_equal(k->free_at[s], m->free_at[s]);
    s_check_heap(k);
}

static void s_random_store(config_store_t *c, bool windows)
{
    *c = s_store(1 + (int)s_below(20));
    if (!windows)
        return;
    int n = 1 + (int)s_below(3);
    int edges[6];
    /* 2n distinct minutes, sorted, then turned by a random amount so that
     * some windows cross midnight; the windows never overlap. */
    for (int i = 0; i < 2 * n; i++) {
        bool dup;
        do {
            edges[i] = (int)s_below(24 * 60);
            dup = false;
            for (int j = 0; j < i; j++)
                dup |= edges[j] == edges[i];
        } while (dup);
    }
    for (int i = 1; i < 2 * n; i++)
        for (int j = i; j > 0 && edges[j - 1] > edges[j]; j--) {
            int tmp = edges[j];
            edges[j] = edges[j - 1];
            edges[j - 1] = tmp;
        }
    int turn = s_below(2) ? (int)s_below(24 * 60) : 0;
    for (int i = 0; i < n; i++) {
        config_staffing_t *w = &c->staffing[c->staffing_count++];
        w->from_minute = (edges[2 * i] + turn) % (24 * 60);
        w->to_minute = (edges[2 * i + 1] + turn) % (24 * 60);
        if (w->to_minute == 0 && s_below(2))
            w->to_minute = 24 * 60;  /* "24:00" */
        w->prep_slots = 1 + (int)s_below(20);
    }
}

static void s_random_run(bool windows, uint64_t seed, int ops)
{
    static const int64_t offsets[] = { 0, 8 * (int64_t)HOUR, -5 * (int64_t)HOUR,
                                       -4 * (int64_t)HOUR, 20700000 /* +05:45 */,
                                       -12600000 /* -03:30 */ };
    s_rand_state = seed;
    model_t *m = &s_model;
    memset(m, 0, sizeof *m);
    int64_t off = offsets[s_below(sizeof offsets / sizeof offsets[0])];
    config_store_t cfg;
    s_random_store(&cfg, windows);
    kitchen_t k = { 0 };
    assert_true(kitchen_configure(&k, &cfg));
    s_model_configure(m, &cfg);
    s_model_compare(m, &k);
    uint64_t now = s_day() + s_below(DAY);
    size_t booked = 0, cancels = 0, readies = 0;
    for (int op = 0; op < ops; op++) {
        unsigned r = s_below(1000);
        now += s_below(40 * SEC);
        if (r < 15)
            now += s_below(8 * HOUR);
        if (r < 520) {
            /* plan, check against the brute force, book */
            uint64_t prep = (uint64_t)(1 + s_below(900)) * SEC;
            kitchen_plan_t p;
            assert_true(kitchen_plan(&k, &m->cfg, prep, now, off, &p));
            uint64_t best = NO_START;
            for (int s = 0; s < m->slots; s++) {
                uint64_t start = s_model_start(m, s, now, off);
                if (start < best)
                    best = start;
            }
            assert_true(best != NO_START);
            assert_int_equal(p.start_ms, best);
            assert_true(p.slot < m->slots);
            assert_int_equal(s_model_start(m, p.slot, now, off), p.start_ms);
            assert_int_equal(p.ready_ms, p.start_ms + prep);
            if (r < 480 && m->booking_count < MODEL_BOOKINGS) {
                kitchen_book(&k, &p);
                m->free_at[p.slot] = p.ready_ms;
                m->bookings[m->booking_count++] = (booking_t){ p.slot, p.start_ms, p.ready_ms };
                booked++;
            }
        } else if (r < 700 && m->booking_count) {
            size_t i = s_below((unsigned)m->booking_count);
            booking_t b = m->bookings[i];
            m->bookings[i] = m->bookings[--m->booking_count];
            if (r < 600) {
                kitchen_cancel(&k, b.slot, b.start_ms, b.ready_ms, now);
                if (m->free_at[b.slot] == b.ready_ms) {
                    m->free_at[b.slot] = b.start_ms > now ? b.start_ms : now;
                    cancels++;
                }
            } else {
                kitchen_ready(&k, b.slot, b.ready_ms, now);
                if (m->free_at[b.slot] == b.ready_ms || m->free_at[b.slot] < now) {
                    m->free_at[b.slot] = now;
                    readies++;
                }
            }
        } else if (r < 760 && m->slots) {
            uint16_t slot = (uint16_t)s_below((unsigned)(2 * m->slots));
            uint64_t ready = now + s_below(2 * HOUR);
            kitchen_restore(&k, slot, ready);
            int s = slot % m->slots;
            if (ready > m->free_at[s])
                m->free_at[s] = ready;
        } else if (r < 775) {
            /* a reload: other counts, other windows, and bookings stay */
            s_random_store(&cfg, windows);
            assert_true(kitchen_configure(&k, &cfg));
            s_model_configure(m, &cfg);
        } else if (r < 780) {
            /* every booking done: the kitchen goes idle */
            for (size_t i = 0; i < m->booking_count; i++) {
                booking_t *b = &m->bookings[i];
                kitchen_ready(&k, b->slot, b->ready_ms, now);
                if (m->free_at[b->slot] == b->ready_ms || m->free_at[b->slot] < now)
                    m->free_at[b->slot] = now;
            }
            m->booking_count = 0;
        }
        s_model_compare(m, &k);
    }
    /* The run did exercise each path. */
    assert_true(booked > (size_t)ops / 4);
    assert_true(cancels > 0);
    assert_true(readies > 0);
    kitchen_free(&k);
}

static void test_random_ops_match_model_without_windows(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 8; seed++)
        s_random_run(false, seed, 10000);
}

static void test_random_ops_match_model_with_windows(void **state)
{
    (void)state;
    for (uint64_t seed = 101; seed <= 116; seed++)
        s_random_run(true, seed, 10000);
}

/* ------------------------------------------------ capacity by local time */

/* What a campaign's share is a share of: slots staffed while open, none
 * while closed; and the minutes to the next change, hours and windows
 * alike, across midnight. */
static void test_capacity_follows_hours_and_staffing(void **state)
{
    (void)state;
    config_store_t c = s_store(3);
    assert_true(kitchen_open_at(&c, 0) && kitchen_open_at(&c, 1439));
    assert_int_equal(kitchen_capacity_at(&c, 700), 3);
    assert_int_equal(kitchen_capacity_next(&c, 700), 1440 - 700); /* only midnight's edges */
    c.open_minute = 22 * 60;                                       /* 22:00-02:00 */
    c.close_minute = 2 * 60;
    s_window(&c, 23, 0, 1, 0, 5);
    assert_false(kitchen_open_at(&c, 21 * 60 + 59));
    assert_int_equal(kitchen_capacity_at(&c, 21 * 60 + 59), 0);
    assert_int_equal(kitchen_capacity_next(&c, 21 * 60 + 59), 1);
    assert_int_equal(kitchen_capacity_at(&c, 22 * 60), 3);
    assert_int_equal(kitchen_capacity_next(&c, 22 * 60), 60);
    assert_int_equal(kitchen_capacity_at(&c, 23 * 60 + 30), 5);
    assert_int_equal(kitchen_capacity_next(&c, 23 * 60 + 30), 90);  /* 01:00 */
    assert_int_equal(kitchen_capacity_at(&c, 60), 3);
    assert_int_equal(kitchen_capacity_next(&c, 60), 60);            /* 02:00 */
    assert_int_equal(kitchen_capacity_at(&c, 2 * 60), 0);
    assert_int_equal(kitchen_capacity_next(&c, 2 * 60), 20 * 60);   /* 22:00 */
    /* every minute: the capacity changes only where _next says it may */
    for (int m = 0; m < 1440; m++) {
        int next = kitchen_capacity_next(&c, m);
        assert_true(next >= 1 && next <= 1440);
        for (int k = 1; k < next; k++)
            assert_int_equal(kitchen_capacity_at(&c, (m + k) % 1440), kitchen_capacity_at(&c, m));
    }
    /* ms to the next local minute of the day, a full day at it */
    uint64_t local = (uint64_t)21 * HOUR + 59 * MIN + 30 * SEC;
    assert_int_equal(kitchen_until_minute(local, 22 * 60), 30 * SEC);
    assert_int_equal(kitchen_until_minute(local, 2 * 60), 4 * HOUR + 30 * SEC);
    assert_int_equal(kitchen_until_minute((uint64_t)22 * HOUR, 22 * 60), DAY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_slot_queues_back_to_back),
        cmocka_unit_test(test_slots_fill_in_parallel_then_earliest_free),
        cmocka_unit_test(test_unconfigured_kitchen_plans_nothing),
        cmocka_unit_test(test_slots_at_follows_windows),
        cmocka_unit_test(test_window_doubles_slots_in_local_time),
        cmocka_unit_test(test_window_across_midnight),
        cmocka_unit_test(test_window_reduces_slots),
        cmocka_unit_test(test_cancel_frees_only_the_last_booking),
        cmocka_unit_test(test_ready_early_frees_late_pushes),
        cmocka_unit_test(test_restore_folds_extra_slots),
        cmocka_unit_test(test_configure_keeps_booked_times),
        cmocka_unit_test(test_random_ops_match_model_without_windows),
        cmocka_unit_test(test_random_ops_match_model_with_windows),
        cmocka_unit_test(test_capacity_follows_hours_and_staffing),
    };
    return cmocka_run_group_tests_name("kitchen", tests, NULL, NULL);
}
