/* test_order_state.c - the order state machine's table (daemon/order_state.c):
 * every transition the daemon made before the table is allowed, with the
 * same effect, and no other; the terminal set is DELIVERED, CANCELLED,
 * FAILED; the Mermaid drawing names every state and every move. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "order_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What server.c decided for a requester's change before the table
 * (s_handle_change with s_change_allowed, s_is_terminal, s_left_kitchen):
 * the oracle the table must agree with. */
static bool s_old_terminal(order_state_t st)
{
    return st == ORDER_DELIVERED || st == ORDER_CANCELLED || st == ORDER_FAILED;
}

static order_effect_t s_old_request(order_state_t from, order_state_t to, bool marked_ready)
{
    bool left_kitchen = from == ORDER_PICKED_UP || from == ORDER_DELIVERED;
    if (from == to || (to == ORDER_READY && (marked_ready || left_kitchen)))
        return ORDER_EFFECT_REPEAT;
    bool allowed = to == ORDER_READY
                       ? from == ORDER_ACCEPTED || from == ORDER_PREPARING ||
                             from == ORDER_DISPATCHING || from == ORDER_RIDER_ASSIGNED
                       : !s_old_terminal(from);
    if (!allowed)
        return ORDER_EFFECT_REFUSED;
    bool keep = to == ORDER_READY && from != ORDER_ACCEPTED && from != ORDER_PREPARING;
    return keep ? ORDER_EFFECT_NOTE : ORDER_EFFECT_MOVE;
}

/* A MarkReady that committed left the order READY or further on, so no
 * order is marked ready while RECEIVED, ACCEPTED or PREPARING. */
static bool s_can_be_marked(order_state_t st)
{
    return st != ORDER_RECEIVED && st != ORDER_ACCEPTED && st != ORDER_PREPARING;
}

static void test_requests_as_before(void **state)
{
    (void)state;
    for (int f = 0; f < ORDER_STATE_COUNT; f++)
        for (int marked = 0; marked <= s_can_be_marked((order_state_t)f); marked++) {
            const struct {
                order_event_t event;
                order_state_t to;
            } asks[] = {{ORDER_EVENT_MARK_READY, ORDER_READY},
                        {ORDER_EVENT_CANCEL, ORDER_CANCELLED}};
            for (size_t a = 0; a < sizeof asks / sizeof asks[0]; a++) {
                order_state_t from = (order_state_t)f, to;
                order_effect_t want = s_old_request(from, asks[a].to, marked);
                order_effect_t got = order_state_on(
                    from, asks[a].event, marked ? ORDER_GUARD_MARKED_READY : ORDER_GUARD_NONE, &to);
                if (got != want)
                    fail_msg("%s on %s (marked ready %d): effect %d, before %d",
                             order_event_name(asks[a].event), order_state_name(from), marked, got,
                             want);
                assert_int_equal(to, got == ORDER_EFFECT_MOVE ? asks[a].to : from);
            }
        }
}

/* Every move the daemon makes: intake's acceptance, the requesters' and the
 * dispatch engine's (dispatch.c: s_job_choose, s_job_released, s_job_apply,
 * s_job_fail), and the prep start of design section 4. */
static const struct {
    order_state_t from, to;
    order_event_t event;
} s_moves[] = {
    {ORDER_RECEIVED, ORDER_ACCEPTED, ORDER_EVENT_ACCEPT},
    {ORDER_ACCEPTED, ORDER_PREPARING, ORDER_EVENT_START_PREP},
    {ORDER_ACCEPTED, ORDER_READY, ORDER_EVENT_MARK_READY},
    {ORDER_PREPARING, ORDER_READY, ORDER_EVENT_MARK_READY},
    {ORDER_ACCEPTED, ORDER_DISPATCHING, ORDER_EVENT_DISPATCH},
    {ORDER_PREPARING, ORDER_DISPATCHING, ORDER_EVENT_DISPATCH},
    {ORDER_READY, ORDER_DISPATCHING, ORDER_EVENT_DISPATCH},
    {ORDER_DISPATCHING, ORDER_DISPATCHING, ORDER_EVENT_REDISPATCH},
    {ORDER_RIDER_ASSIGNED, ORDER_DISPATCHING, ORDER_EVENT_REDISPATCH},
    {ORDER_PICKED_UP, ORDER_DISPATCHING, ORDER_EVENT_REDISPATCH},
    {ORDER_DISPATCHING, ORDER_RIDER_ASSIGNED, ORDER_EVENT_ASSIGN},
    {ORDER_DISPATCHING, ORDER_PICKED_UP, ORDER_EVENT_PICK_UP},
    {ORDER_RIDER_ASSIGNED, ORDER_PICKED_UP, ORDER_EVENT_PICK_UP},
    {ORDER_DISPATCHING, ORDER_DELIVERED, ORDER_EVENT_DELIVER},
    {ORDER_RIDER_ASSIGNED, ORDER_DELIVERED, ORDER_EVENT_DELIVER},
    {ORDER_PICKED_UP, ORDER_DELIVERED, ORDER_EVENT_DELIVER},
    {ORDER_ACCEPTED, ORDER_FAILED, ORDER_EVENT_FAIL},
    {ORDER_PREPARING, ORDER_FAILED, ORDER_EVENT_FAIL},
    {ORDER_READY, ORDER_FAILED, ORDER_EVENT_FAIL},
    {ORDER_DISPATCHING, ORDER_FAILED, ORDER_EVENT_FAIL},
    {ORDER_RECEIVED, ORDER_CANCELLED, ORDER_EVENT_CANCEL},
    {ORDER_ACCEPTED, ORDER_CANCELLED, ORDER_EVENT_CANCEL},
    {ORDER_PREPARING, ORDER_CANCELLED, ORDER_EVENT_CANCEL},
    {ORDER_READY, ORDER_CANCELLED, ORDER_EVENT_CANCEL},
    {ORDER_DISPATCHING, ORDER_CANCELLED, ORDER_EVENT_CANCEL},
    {ORDER_RIDER_ASSIGNED, ORDER_CANCELLED, ORDER_EVENT_CANCEL},
    {ORDER_PICKED_UP, ORDER_CANCELLED, ORDER_EVENT_CANCEL},
};

static bool s_listed(order_state_t from, order_state_t to, order_event_t *event)
{
    for (size_t i = 0; i < sizeof s_moves / sizeof s_moves[0]; i++)
        if (s_moves[i].from == from && s_moves[i].to == to) {
            *event = s_moves[i].event;
            return true;
        }
    return false;
}

static void test_moves_allowed_others_refused(void **state)
{
    (void)state;
    for (int f = 0; f < ORDER_STATE_COUNT; f++)
        for (int t = 0; t < ORDER_STATE_COUNT; t++) {
            order_event_t want = ORDER_EVENT_COUNT, got = ORDER_EVENT_COUNT;
            bool listed = s_listed((order_state_t)f, (order_state_t)t, &want);
            bool moves = order_state_moves((order_state_t)f, (order_state_t)t, &got);
            if (listed != moves)
                fail_msg("%s -> %s: %s by the table", order_state_name((order_state_t)f),
                         order_state_name((order_state_t)t), moves ? "allowed" : "refused");
            if (listed)
                assert_int_equal(got, want);
        }
    /* Each listed move is what its event does. */
    for (size_t i = 0; i < sizeof s_moves / sizeof s_moves[0]; i++) {
        order_state_t to;
        assert_int_equal(order_state_on(s_moves[i].from, s_moves[i].event, ORDER_GUARD_NONE, &to),
                         ORDER_EFFECT_MOVE);
        assert_int_equal(to, s_moves[i].to);
    }
}

static void test_terminal_and_kitchen_sets(void **state)
{
    (void)state;
    for (int s = 0; s < ORDER_STATE_COUNT; s++) {
        order_state_t st = (order_state_t)s;
        assert_int_equal(order_state_is_terminal(st), s_old_terminal(st));
        /* s_restore_kitchen's states, and the cancel's "still in the
         * kitchen" (not READY, not PICKED_UP, never a terminal one). */
        bool kitchen = st == ORDER_ACCEPTED || st == ORDER_PREPARING ||
                       st == ORDER_DISPATCHING || st == ORDER_RIDER_ASSIGNED;
        assert_int_equal(order_state_in_kitchen(st), kitchen);
    }
    /* A terminal order takes no event but a repeat. */
    for (int e = 0; e < ORDER_EVENT_COUNT; e++) {
        order_state_t to;
        order_effect_t eff = order_state_on(ORDER_DELIVERED, (order_event_t)e,
                                            ORDER_GUARD_MARKED_READY, &to);
        assert_true(eff == ORDER_EFFECT_REFUSED || eff == ORDER_EFFECT_REPEAT);
        assert_int_equal(to, ORDER_DELIVERED);
    }
}

static void test_names(void **state)
{
    (void)state;
    for (int e = 0; e < ORDER_EVENT_COUNT; e++) {
        assert_string_not_equal(order_event_name((order_event_t)e), "UNKNOWN");
        for (int o = 0; o < e; o++)
            assert_string_not_equal(order_event_name((order_event_t)e),
                                    order_event_name((order_event_t)o));
    }
    assert_string_equal(order_event_name(ORDER_EVENT_COUNT), "UNKNOWN");
    assert_string_equal(order_state_name(ORDER_STATE_COUNT), "UNKNOWN");
}

static void test_mermaid(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    assert_true(order_state_print_mermaid(out));
    assert_int_equal(fclose(out), 0);
    assert_true(strncmp(text, "stateDiagram-v2\n", 16) == 0);
    assert_non_null(strstr(text, "    [*] --> RECEIVED\n"));
    char line[128];
    for (int s = 0; s < ORDER_STATE_COUNT; s++) {
        const char *name = order_state_name((order_state_t)s);
        snprintf(line, sizeof line, " %s ", name);
        if (!strstr(text, line))
            fail_msg("the diagram does not name %s:\n%s", name, text);
        snprintf(line, sizeof line, "    %s --> [*]\n", name);
        assert_int_equal(strstr(text, line) != NULL, s_old_terminal((order_state_t)s));
    }
    for (size_t i = 0; i < sizeof s_moves / sizeof s_moves[0]; i++) {
        snprintf(line, sizeof line, "    %s --> %s: %s\n", order_state_name(s_moves[i].from),
                 order_state_name(s_moves[i].to), order_event_name(s_moves[i].event));
        if (!strstr(text, line))
            fail_msg("the diagram lacks '%s'", line);
    }
    free(text);
}

/* The diagram in docs/architecture.md is `sluiced --states` pasted between
 * its markers: a change to the table must be carried to the docs. */
static void test_docs_show_the_table(void **state)
{
    (void)state;
    char *text = NULL, *doc = NULL;
    size_t len = 0, doc_len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    assert_true(order_state_print_mermaid(out));
    assert_int_equal(fclose(out), 0);
    FILE *in = fopen("docs/architecture.md", "r");
    if (!in)
        fail_msg("docs/architecture.md: cannot open (run the unit tests from the top of the tree)");
    out = open_memstream(&doc, &doc_len);
    assert_non_null(out);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
    const char *begin = strstr(doc, "<!-- states:begin -->\n```mermaid\n");
    const char *end = begin ? strstr(begin, "```\n<!-- states:end -->") : NULL;
    if (!begin || !end)
        fail_msg("docs/architecture.md: no mermaid block between the states markers");
    begin += strlen("<!-- states:begin -->\n```mermaid\n");
    if ((size_t)(end - begin) != len || memcmp(begin, text, len) != 0)
        fail_msg("docs/architecture.md's state diagram differs from `sluiced --states`; paste "
                 "its output between the markers:\n%s", text);
    free(text);
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests_as_before),
        cmocka_unit_test(test_moves_allowed_others_refused),
        cmocka_unit_test(test_terminal_and_kitchen_sets),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_mermaid),
        cmocka_unit_test(test_docs_show_the_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
