/* store.h - owns finding a store by id among the configured ones (300,000
 * stores: an open-addressing hash of indexes into config_t.stores). */
#ifndef SLUICE_STORE_H
#define SLUICE_STORE_H

#include "config.h"

typedef struct store_table store_table_t;

/* store_table_new indexes CFG's stores; CFG must outlive the table. */
store_table_t *store_table_new(const config_t *cfg) __attribute__((warn_unused_result));
void store_table_destroy(store_table_t **self);

/* store_table_find returns the store with ID, or NULL. */
const config_store_t *store_table_find(const store_table_t *self, uint32_t id);

#endif
