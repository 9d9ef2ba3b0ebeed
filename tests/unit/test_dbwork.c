/* test_dbwork.c - the turns of the database work sources (daemon/dbwork.c),
 * with fake sources: connection 0 is offered to the rows in table order and
 * the other connections only to the rows that may use any; the alternating
 * rows take turns at the place of the first of them; start-up rows are
 * never offered with the others; the table is checked; a database that is
 * down calls each row's DOWN and sends nothing; shutdown waits for BUSY. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dbwork.h"

#include <string.h>

typedef struct fake {
    bool waiting, busy;
    int sent, downs;
} fake_t;

static bool s_waiting(void *arg)
{
    return ((fake_t *)arg)->waiting;
}

static bool s_send(void *arg, db_t *db, size_t conn)
{
    (void)db;
    (void)conn;
    ((fake_t *)arg)->sent++;
    return true;
}

static void s_down(void *arg)
{
    ((fake_t *)arg)->downs++;
}

static bool s_busy(void *arg)
{
    return ((fake_t *)arg)->busy;
}

enum { OVERRIDES, RESTORE, WRITES, RESOLVE, CHANGES, LOOKUPS, BATCHES, ROWS };

static fake_t s_fakes[ROWS];

/* The daemon's table (server.c, s_set_sources), with fakes. */
static void s_table(dbwork_source_t rows[ROWS])
{
    static const struct {
        const char *name;
        dbwork_conns_t conns;
        dbwork_turn_t turn;
        bool down;
    } shape[ROWS] = {
        [OVERRIDES] = {"start-up overrides", DBWORK_FIRST, DBWORK_ALONE, false},
        [RESTORE] = {"restore", DBWORK_FIRST, DBWORK_ALONE, false},
        [WRITES] = {"control writes", DBWORK_FIRST, DBWORK_IN_ORDER, true},
        [RESOLVE] = {"resolving ids", DBWORK_FIRST, DBWORK_IN_ORDER, true},
        [CHANGES] = {"order changes", DBWORK_FIRST, DBWORK_IN_ORDER, true},
        [LOOKUPS] = {"GetOrder lookups", DBWORK_FIRST, DBWORK_ALTERNATE, true},
        [BATCHES] = {"intake batches", DBWORK_ANY, DBWORK_ALTERNATE, true},
    };
    memset(s_fakes, 0, sizeof s_fakes);
    for (int i = 0; i < ROWS; i++)
        rows[i] = (dbwork_source_t){
            .name = shape[i].name, .conns = shape[i].conns, .turn = shape[i].turn,
            .waiting = s_waiting, .send = s_send, .down = shape[i].down ? s_down : NULL,
            .busy = shape[i].down ? s_busy : NULL, .arg = &s_fakes[i]};
}

static void s_expect(const dbwork_source_t *rows, size_t conn, size_t last, const size_t *want,
                     size_t n)
{
    size_t order[DBWORK_SOURCES_MAX];
    size_t got = dbwork_order(rows, ROWS, conn, last, order);
    assert_int_equal(got, n);
    for (size_t i = 0; i < n; i++)
        if (order[i] != want[i])
            fail_msg("connection %zu, after %s: place %zu is %s, not %s", conn, rows[last].name,
                     i, rows[order[i]].name, rows[want[i]].name);
}

static void test_turns_on_each_connection(void **state)
{
    (void)state;
    dbwork_source_t rows[ROWS];
    s_table(rows);
    /* Lookups went last: the batches' turn, after the rows in order. */
    s_expect(rows, 0, LOOKUPS, (size_t[]){WRITES, RESOLVE, CHANGES, BATCHES, LOOKUPS}, 5);
    /* A batch went last: the lookups' turn. */
    s_expect(rows, 0, BATCHES, (size_t[]){WRITES, RESOLVE, CHANGES, LOOKUPS, BATCHES}, 5);
    /* Other connections carry batches only; start-up rows never show here. */
    s_expect(rows, 1, LOOKUPS, (size_t[]){BATCHES}, 1);
    s_expect(rows, 3, BATCHES, (size_t[]){BATCHES}, 1);
}

static void test_alternates_rotate_at_first_place(void **state)
{
    (void)state;
    dbwork_source_t rows[ROWS];
    s_table(rows);
    /* Three alternating rows with one in order between them. */
    rows[WRITES].turn = DBWORK_ALTERNATE;
    rows[RESOLVE].turn = DBWORK_IN_ORDER;
    rows[CHANGES].turn = DBWORK_ALTERNATE;
    rows[LOOKUPS].turn = DBWORK_IN_ORDER;
    rows[BATCHES].conns = DBWORK_FIRST;
    s_expect(rows, 0, WRITES, (size_t[]){CHANGES, BATCHES, WRITES, RESOLVE, LOOKUPS}, 5);
    s_expect(rows, 0, CHANGES, (size_t[]){BATCHES, WRITES, CHANGES, RESOLVE, LOOKUPS}, 5);
    s_expect(rows, 0, BATCHES, (size_t[]){WRITES, CHANGES, BATCHES, RESOLVE, LOOKUPS}, 5);
    /* LAST not among them (none went yet): from the first. */
    s_expect(rows, 0, OVERRIDES, (size_t[]){WRITES, CHANGES, BATCHES, RESOLVE, LOOKUPS}, 5);
}

/* A real dbwork whose database is not there: nothing is up or idle. */
static dbwork_t *s_dbwork_down(size_t connections)
{
    config_daemon_t d = {.database = "host=/nonexistent/sluice-test dbname=none",
                         .db_connections = (int)connections, .reconnect_min_ms = 100,
                         .reconnect_max_ms = 1000};
    dbwork_t *w = dbwork_new(&d);
    assert_non_null(w);
    return w;
}

static void test_table_checked(void **state)
{
    (void)state;
    dbwork_t *w = s_dbwork_down(2);
    dbwork_source_t rows[DBWORK_SOURCES_MAX + 1];
    s_table(rows);
    rows[RESTORE].conns = DBWORK_ANY;   /* a start-up row goes alone on connection 0 */
    assert_false(dbwork_set_sources(w, rows, ROWS));
    s_table(rows);
    for (size_t i = ROWS; i < DBWORK_SOURCES_MAX + 1; i++)
        rows[i] = rows[WRITES];
    assert_false(dbwork_set_sources(w, rows, DBWORK_SOURCES_MAX + 1));
    assert_true(dbwork_set_sources(w, rows, ROWS));
    dbwork_destroy(&w);
    assert_null(w);
    dbwork_destroy(&w);   /* NULL is fine */
}

static void test_down_busy_nothing_sent(void **state)
{
    (void)state;
    dbwork_t *w = s_dbwork_down(2);
    dbwork_source_t rows[ROWS];
    s_table(rows);
    assert_true(dbwork_set_sources(w, rows, ROWS));
    assert_false(dbwork_up(w));
    assert_false(dbwork_first_up(w));

    /* Down: every row that answers waiters is told, each step. */
    dbwork_step_down(w);
    dbwork_step_down(w);
    for (int i = 0; i < ROWS; i++)
        assert_int_equal(s_fakes[i].downs, i == OVERRIDES || i == RESTORE ? 0 : 2);

    /* Shutdown waits for a row with work queued or in flight. */
    assert_false(dbwork_busy(w));
    s_fakes[CHANGES].busy = true;
    assert_true(dbwork_busy(w));
    s_fakes[CHANGES].busy = false;

    /* No connection is idle: nothing is sent, however much waits. */
    for (int i = 0; i < ROWS; i++)
        s_fakes[i].waiting = true;
    dbwork_step_send(w);
    for (int i = 0; i < ROWS; i++)
        assert_int_equal(s_fakes[i].sent, 0);
    assert_true(dbwork_timeout_ms(w, 0) >= 0);   /* the next connection attempt */
    dbwork_destroy(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_turns_on_each_connection),
        cmocka_unit_test(test_alternates_rotate_at_first_place),
        cmocka_unit_test(test_table_checked),
        cmocka_unit_test(test_down_busy_nothing_sent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
