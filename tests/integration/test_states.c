/* test_states.c - the order state sets, said in C and in SQL, agree: the
 * database enum has the daemon's states in the daemon's order; for every
 * state the SQL function order_state_is_terminal (migration 007) says what
 * the transition table derives (order_state_is_terminal in C); and the
 * queries written with the state functions still read through the partial
 * indexes that were written with literal lists (orders_store_live,
 * dispatches_live), because the planner inlines the functions. */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "batch.h"
#include "order_state.h"

/* s_explain returns the plan of SQL with sequential scans priced out, so an
 * index whose predicate the query implies is taken even on empty tables. */
static char *s_explain(harness_t *h, const char *sql)
{
    PGconn *c = harness_db(h);
    assert_non_null(c);
    PGresult *res = PQexec(c, "SET enable_seqscan = off");
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    char *explain = malloc(strlen(sql) + 16);
    assert_non_null(explain);
    sprintf(explain, "EXPLAIN %s", sql);
    res = PQexec(c, explain);
    free(explain);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("EXPLAIN failed: %s", PQerrorMessage(c));
    size_t len = 1;
    for (int r = 0; r < PQntuples(res); r++)
        len += strlen(PQgetvalue(res, r, 0)) + 1;
    char *plan = calloc(1, len);
    assert_non_null(plan);
    for (int r = 0; r < PQntuples(res); r++) {
        strcat(plan, PQgetvalue(res, r, 0));
        strcat(plan, "\n");
    }
    PQclear(res);
    return plan;
}

static void test_terminal_sets_agree(void **state)
{
    harness_t *h = *state;
    harness_write_config(h, NULL);
    assert_int_equal(harness_migrate(h), 0);

    char names[512] = "";
    for (int s = 0; s < ORDER_STATE_COUNT; s++) {
        const char *name = order_state_name((order_state_t)s);
        strcat(names, s ? "," : "");
        strcat(names, name);
        char *sql_terminal =
            harness_db_value(h, "SELECT order_state_is_terminal($1::order_state)::text", 1, name);
        assert_non_null(sql_terminal);
        bool c_terminal = order_state_is_terminal((order_state_t)s);
        if (strcmp(sql_terminal, c_terminal ? "true" : "false") != 0)
            fail_msg("%s: terminal in SQL %s, in the transition table %s", name, sql_terminal,
                     c_terminal ? "true" : "false");
        free(sql_terminal);
    }
    char *sql_names =
        harness_db_value(h, "SELECT array_to_string(enum_range(NULL::order_state), ',')", 0);
    assert_non_null(sql_names);
    assert_string_equal(sql_names, names);
    free(sql_names);
    harness_pass(h);
}

static void test_live_reads_use_partial_indexes(void **state)
{
    harness_t *h = *state;
    harness_write_config(h, NULL);
    assert_int_equal(harness_migrate(h), 0);

    /* The restore at start, and sluicectl store's live orders (ctl_db.c). */
    char *plan = s_explain(h, batch_live_sql);
    if (!strstr(plan, "orders_store_live ") || !strstr(plan, "dispatches_live "))
        fail_msg("batch_live_sql does not read through orders_store_live and dispatches_live:\n%s",
                 plan);
    free(plan);
    plan = s_explain(h, "SELECT state, count(*) FROM orders"
                        " WHERE store_id = 1001 AND NOT order_state_is_terminal(state)"
                        " GROUP BY state");
    if (!strstr(plan, "orders_store_live "))
        fail_msg("a store's live orders are not read through orders_store_live:\n%s", plan);
    free(plan);
    harness_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_terminal_sets_agree, harness_setup, harness_teardown),
        cmocka_unit_test_setup_teardown(test_live_reads_use_partial_indexes, harness_setup,
                                        harness_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
