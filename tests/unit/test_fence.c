/* test_fence.c - the fenced forms of the daemon's writes (batch.c,
 * change.c, override.c, campaign.c): each calls sluice_fence once with the two
 * parameters db.h appends after the caller's, so a column added to a
 * statement (a new array parameter) must move the fence's numbers with it;
 * the unfenced forms do not call it at all; the resolve statement is the
 * insert with what it returns changed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "batch.h"
#include "campaign.h"
#include "change.h"
#include "db.h"
#include "override.h"

#include <stdio.h>
#include <string.h>

/* s_fence_params: SQL calls sluice_fence exactly once, with $N+1 and $N+2. */
static void s_fence_params(const char *sql, int n, const char *what)
{
    char want[64];
    snprintf(want, sizeof want, "sluice_fence($%d, $%d)", n + 1, n + 2);
    const char *at = strstr(sql, want);
    if (!at)
        fail_msg("%s: no %s in its fenced form", what, want);
    if (strstr(at + 1, "sluice_fence("))
        fail_msg("%s: calls sluice_fence twice", what);
    if (!strstr(sql, "fence AS MATERIALIZED"))
        fail_msg("%s: the fence is not a MATERIALIZED CTE", what);
    char beyond[16];
    snprintf(beyond, sizeof beyond, "$%d", n + 3);
    if (strstr(sql, beyond))
        fail_msg("%s: uses %s, past the fence's", what, beyond);
}

static void test_fenced_parameters_follow_the_callers(void **state)
{
    (void)state;
    assert_int_equal(DB_FENCE_PARAMS, 2);
    s_fence_params(batch_insert_fenced_sql, BATCH_COLUMNS, "insert_batch");
    s_fence_params(batch_resolve_fenced_sql, BATCH_COLUMNS, "resolve_batch");
    s_fence_params(change_fenced_sql, CHANGE_PARAMS, "change_orders");
    s_fence_params(override_put_fenced_sql, 3, "put_override");
    s_fence_params(override_delete_fenced_sql, 1, "delete_override");
    s_fence_params(campaign_override_put_fenced_sql, 2, "put_campaign_override");
    s_fence_params(campaign_override_delete_fenced_sql, 1, "delete_campaign_override");
}

static void test_unfenced_never_call_it(void **state)
{
    (void)state;
    const char *const sqls[] = { batch_insert_sql,     batch_resolve_sql,   change_sql,
                                 override_put_sql,     override_delete_sql, batch_live_sql,
                                 batch_live_shard_sql, batch_lookup_sql,
                                 campaign_override_put_sql, campaign_override_delete_sql };
    for (size_t i = 0; i < sizeof sqls / sizeof sqls[0]; i++)
        assert_null(strstr(sqls[i], "sluice_fence"));
    /* Only the fenced insert writes the shard, last. */
    assert_null(strstr(batch_insert_sql, "shard"));
    assert_non_null(strstr(batch_insert_fenced_sql, "prep_start_at, campaign, shard)"));
    assert_non_null(strstr(batch_live_shard_sql, "o.shard = $1"));
}

/* The resolve statement inserts what the batch inserts and returns a WAL
 * position (its commit waits for a synchronous standby) and the ids. */
static void test_resolve_is_the_insert(void **state)
{
    (void)state;
    const char *tail = " SELECT order_id FROM inserted";
    size_t body = strlen(batch_insert_sql) - strlen(tail);
    assert_string_equal(batch_insert_sql + body, tail);
    assert_memory_equal(batch_resolve_sql, batch_insert_sql, body);
    assert_string_equal(batch_resolve_sql + body,
                        " SELECT pg_logical_emit_message(true, 'sluice', 'in-doubt batch'),"
                        " ARRAY(SELECT order_id FROM inserted)");
    size_t fenced = strlen(batch_insert_fenced_sql) - strlen(tail);
    assert_memory_equal(batch_resolve_fenced_sql, batch_insert_fenced_sql, fenced);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fenced_parameters_follow_the_callers),
        cmocka_unit_test(test_unfenced_never_call_it),
        cmocka_unit_test(test_resolve_is_the_insert),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
