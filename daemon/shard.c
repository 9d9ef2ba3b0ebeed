/* shard.c - owns which shard serves a store, and the redirect for another's. */
#include "shard.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

bool shard_serves(const config_t *cfg, const config_store_t *store, shard_owner_t *owner)
{
    if (cfg->shard_count == 0 || !store || store->shard < 0 ||
        (size_t)store->shard >= cfg->shard_count)
        return true;
    const config_shard_t *sh = &cfg->shards[store->shard];
    if (strcmp(sh->name, cfg->daemon.shard) == 0)
        return true;
    owner->name = sh->name;
    owner->endpoints = (const char *const *)sh->endpoints;
    owner->endpoint_count = 0;
    while (owner->endpoint_count < CONFIG_MAX_SHARD_ENDPOINTS &&
           sh->endpoints[owner->endpoint_count])
        owner->endpoint_count++;
    return false;
}

const char *shard_detail(const shard_owner_t *owner, uint32_t store_id, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len,
                                "store_id: store %" PRIu32 " belongs to shard %s; send it to ",
                                store_id, owner->name);
    for (size_t i = 0; i < owner->endpoint_count && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? ", " : "", owner->endpoints[i]);
    return buf;
}
