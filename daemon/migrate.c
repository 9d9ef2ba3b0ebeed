/* migrate.c - owns applying the embedded schema migrations. */
#include "migrate.h"

#include "log.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>

/* Any constant works; it only has to be the same in every sluiced. */
#define MIGRATE_LOCK_KEY "7405711"

int migrate_latest_version(void)
{
    int latest = 0;
    for (size_t i = 0; i < migration_count; i++)
        if (migrations[i].version > latest)
            latest = migrations[i].version;
    return latest;
}

static bool s_exec(PGconn *conn, const char *sql, const char *what)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        log_error("failed to %s: %s", what, PQerrorMessage(conn));
    PQclear(res);
    return ok;
}

static bool s_is_applied(PGconn *conn, int version, bool *applied)
{
    char v[16];
    snprintf(v, sizeof v, "%d", version);
    const char *params[1] = {v};
    PGresult *res = PQexecParams(conn,
        "SELECT 1 FROM schema_migrations WHERE version = $1::int",
        1, NULL, params, NULL, NULL, 0);
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    if (ok)
        *applied = PQntuples(res) > 0;
    else
        log_error("failed to read schema_migrations: %s", PQerrorMessage(conn));
    PQclear(res);
    return ok;
}

static bool s_apply_one(PGconn *conn, const migration_t *m)
{
    if (!s_exec(conn, "BEGIN", "begin migration"))
        return false;
    PGresult *res = PQexec(conn, m->sql);
    ExecStatusType st = PQresultStatus(res);
    PQclear(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        log_error("failed to apply migration %s: %s", m->name, PQerrorMessage(conn));
        (void)s_exec(conn, "ROLLBACK", "roll back migration");
        return false;
    }
    char v[16];
    snprintf(v, sizeof v, "%d", m->version);
    const char *params[2] = {v, m->name};
    res = PQexecParams(conn,
        "INSERT INTO schema_migrations (version, name) VALUES ($1::int, $2)",
        2, NULL, params, NULL, NULL, 0);
    st = PQresultStatus(res);
    PQclear(res);
    if (st != PGRES_COMMAND_OK) {
        log_error("failed to record migration %s: %s", m->name, PQerrorMessage(conn));
        (void)s_exec(conn, "ROLLBACK", "roll back migration");
        return false;
    }
    if (!s_exec(conn, "COMMIT", "commit migration"))
        return false;
    log_notice("applied migration %s", m->name);
    return true;
}

bool migrate_apply(const char *conninfo)
{
    bool ok = false;
    bool locked = false;
    PGconn *conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK) {
        log_error("failed to connect to database for migration: %s", PQerrorMessage(conn));
        goto done;
    }
    /* A session-level lock: held across the per-migration transactions. */
    if (!s_exec(conn, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", "take migration lock"))
        goto done;
    locked = true;
    if (!s_exec(conn,
            "SET client_min_messages = warning;"
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY,"
            " name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())",
            "create schema_migrations"))
        goto done;
    int applied_count = 0;
    for (size_t i = 0; i < migration_count; i++) {
        bool applied = false;
        if (!s_is_applied(conn, migrations[i].version, &applied))
            goto done;
        if (applied)
            continue;
        if (!s_apply_one(conn, &migrations[i]))
            goto done;
        applied_count++;
    }
    log_notice("database schema at version %d (%d migration%s applied now)",
               migrate_latest_version(), applied_count, applied_count == 1 ? "" : "s");
    ok = true;
done:
    if (locked)
        (void)s_exec(conn, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", "release migration lock");
    PQfinish(conn);
    return ok;
}
