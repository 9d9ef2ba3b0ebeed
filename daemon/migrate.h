/* migrate.h - owns the database schema: numbered migrations embedded in the
 * binary, applied in order under an advisory lock. */
#ifndef SLUICE_MIGRATE_H
#define SLUICE_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct migration {
    int version;
    const char *name;
    const char *sql;
} migration_t;

/* Generated from the migrations/ folder by tools/scripts/embed-migrations.sh. */
extern const migration_t migrations[];
extern const size_t migration_count;

/* migrate_latest_version is the schema version this binary expects. */
int migrate_latest_version(void);

/* migrate_apply connects with CONNINFO (blocking: it runs before the event
 * loop, from `sluiced --migrate`) and applies every pending migration, each in
 * its own transaction, holding an advisory lock so two processes can run it at
 * once. Safe to run twice. */
bool migrate_apply(const char *conninfo) __attribute__((warn_unused_result));

#endif
