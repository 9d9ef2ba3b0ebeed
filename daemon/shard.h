/* shard.h - owns the map of a fleet's shards (the config's shards, each
 * store's shard, daemon.shard): whether a store is this node's to serve,
 * and where an order for another shard's store must go. Every node loads
 * every store, so every node can say who owns one. Reads the config it is
 * given each time: a reload that moves a store applies to the next order.
 * Without shards in the config every store is this node's. */
#ifndef SLUICE_SHARD_H
#define SLUICE_SHARD_H

#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The shard that owns a store that is not this node's: names and endpoints
 * point into the config. */
typedef struct shard_owner {
    const char *name;
    const char *const *endpoints; /* NULL after the last */
    size_t endpoint_count;
} shard_owner_t;

/* shard_serves: is STORE (a store of CFG; NULL: a store a reload removed,
 * which admission decides about) this node's? When not, *OWNER says whose. */
bool shard_serves(const config_t *cfg, const config_store_t *store, shard_owner_t *owner)
    __attribute__((warn_unused_result));

/* shard_detail writes the WRONG_SHARD detail for STORE_ID owned by OWNER
 * into BUF (LEN bytes): "store_id: store 1005 belongs to shard b; send it to
 * tcp://10.0.0.3:7400, tcp://10.0.0.4:7400". Returns BUF. */
const char *shard_detail(const shard_owner_t *owner, uint32_t store_id, char *buf, size_t len);

#endif
