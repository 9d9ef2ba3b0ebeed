/* override.c - owns the stores' operator overrides (store_overrides). */
#include "override.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char override_load_sql[] =
    "SELECT store_id, paused, coalesce(set_by, '') FROM store_overrides ORDER BY store_id";
/* The writes; a node with a shard fences them (sluice_fence, migration 010,
 * its two parameters after the others). */
#define OVERRIDE_PUT(fence, from) \
    fence "INSERT INTO store_overrides (store_id, paused, set_by) SELECT $1::bigint, " \
    "$2::boolean, nullif($3::text, '')" from " ON CONFLICT (store_id) DO UPDATE SET " \
    "paused = EXCLUDED.paused, set_at = now(), set_by = EXCLUDED.set_by"
#define OVERRIDE_DELETE(fence, where) \
    fence "DELETE FROM store_overrides WHERE store_id = $1::bigint" where
const char override_put_sql[] = OVERRIDE_PUT("", "");
const char override_delete_sql[] = OVERRIDE_DELETE("", "");
const char override_put_fenced_sql[] =
    OVERRIDE_PUT("WITH fence AS MATERIALIZED (SELECT sluice_fence($4, $5)) ", " FROM fence");
const char override_delete_fenced_sql[] =
    OVERRIDE_DELETE("WITH fence AS MATERIALIZED (SELECT sluice_fence($2, $3)) ",
                    " AND EXISTS (SELECT FROM fence)");

void override_list_free(override_list_t *list)
{
    free(list->items);
    *list = (override_list_t){0};
}

const override_t *override_find(const override_list_t *list, uint32_t store_id)
{
    for (size_t i = 0; i < list->count; i++)
        if (list->items[i].store_id == store_id)
            return &list->items[i];
    return NULL;
}

bool override_put(override_list_t *list, uint32_t store_id, bool paused, const char *by)
{
    override_t *e = (override_t *)override_find(list, store_id);
    if (!e) {
        if (list->count == list->cap) {
            size_t cap = list->cap ? list->cap * 2 : 8;
            override_t *items = realloc(list->items, cap * sizeof *items);
            if (!items)
                return false;
            list->items = items;
            list->cap = cap;
        }
        e = &list->items[list->count++];
        e->store_id = store_id;
    }
    e->paused = paused;
    snprintf(e->by, sizeof e->by, "%s", by ? by : "");
    return true;
}

void override_remove(override_list_t *list, uint32_t store_id)
{
    const override_t *e = override_find(list, store_id);
    if (!e)
        return;
    size_t at = (size_t)(e - list->items);
    memmove(&list->items[at], &list->items[at + 1], (list->count - at - 1) * sizeof *e);
    list->count--;
}

bool override_read(override_list_t *list, const PGresult *res)
{
    override_list_t next = {0};
    for (int row = 0; row < PQntuples(res); row++) {
        char *end;
        unsigned long long id = strtoull(PQgetvalue(res, row, 0), &end, 10);
        if (*end != '\0' || id == 0 || id > UINT32_MAX) {
            log_error("store_overrides: store_id %s is not a store id; ignored",
                      PQgetvalue(res, row, 0));
            continue;
        }
        if (!override_put(&next, (uint32_t)id, PQgetvalue(res, row, 1)[0] == 't',
                          PQgetvalue(res, row, 2))) {
            override_list_free(&next);
            return false;
        }
    }
    override_list_free(list);
    *list = next;
    return true;
}

void override_describe(uint32_t store_id, const override_t *e, int config_paused, char *out,
                       size_t len)
{
    const char *config = config_paused < 0 ? "the store is not in the configuration"
                         : config_paused   ? "config says paused = true"
                                           : "config says paused = false";
    if (!e) {
        snprintf(out, len, "store %u has no sluicectl override (%s)", store_id, config);
        return;
    }
    snprintf(out, len, "store %u %s by sluicectl override (%s)%s%s", store_id,
             e->paused ? "paused" : "resumed", config, e->by[0] ? ", set by " : "", e->by);
}

void override_apply(const override_list_t *list, store_table_t *stores, const char *when)
{
    for (size_t i = 0; i < list->count; i++) {
        const override_t *e = &list->items[i];
        store_t *s = store_table_find(stores, e->store_id);
        if (s)
            s->override = e->paused ? STORE_OVERRIDE_PAUSED : STORE_OVERRIDE_RESUMED;
        char line[256];
        override_describe(e->store_id, e, s && s->cfg ? s->cfg->paused : -1, line, sizeof line);
        log_notice("%s: %s", when, line);
    }
}
