/* override.h - owns the stores' operator overrides (table store_overrides):
 * the list read at start and changed by sluicectl pause/resume, how each
 * stands over the config in the store table, the one log line per override
 * that start and every reload write, and the SQL that reads and writes them.
 *
 * The list is the truth; store_t.override mirrors it for admission's O(1)
 * look. Overrides are few (stores an operator paused by hand). */
#ifndef SLUICE_OVERRIDE_H
#define SLUICE_OVERRIDE_H

#include "control.h"
#include "store.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

extern const char override_load_sql[];    /* no parameters: store_id, paused, set_by */
extern const char override_put_sql[];     /* $1 store_id, $2 paused, $3 set_by */
extern const char override_delete_sql[];  /* $1 store_id */
/* The same writes fenced, for a node with a shard: the fence's two
 * parameters follow (db.h). */
extern const char override_put_fenced_sql[];
extern const char override_delete_fenced_sql[];

typedef struct override {
    uint32_t store_id;
    bool paused;
    char by[CONTROL_BY_MAX + 1];
} override_t;

typedef struct override_list {
    override_t *items;
    size_t count, cap;
} override_list_t;

void override_list_free(override_list_t *list);
const override_t *override_find(const override_list_t *list, uint32_t store_id);
/* override_put sets STORE_ID's override (replacing one it had). False when
 * out of memory; the list is then unchanged. */
bool override_put(override_list_t *list, uint32_t store_id, bool paused, const char *by)
    __attribute__((warn_unused_result));
void override_remove(override_list_t *list, uint32_t store_id);

/* override_read replaces LIST with the rows of override_load_sql in RES.
 * False when out of memory or a row is not what the SQL returns. */
bool override_read(override_list_t *list, const PGresult *res) __attribute__((warn_unused_result));

/* override_apply writes LIST into STORES (store_t.override) and logs one
 * line per override, saying what the config says under it; WHEN is "start"
 * or "reload". Stores not in the table are logged as waiting for it. */
void override_apply(const override_list_t *list, store_table_t *stores, const char *when);

/* override_describe writes one line about STORE_ID's override E (NULL:
 * none) over CONFIG_PAUSED (-1: not in the config). */
void override_describe(uint32_t store_id, const override_t *e, int config_paused, char *out,
                       size_t len);

#endif
