/* unit_admit_env.h - the fixture of the admission, campaign and availability
 * tests: configs loaded from text in a scratch directory, and the store
 * table and admission a test builds on them. Header-only: each test is one
 * translation unit. Include it after <cmocka.h>. */
#ifndef SLUICE_UNIT_ADMIT_ENV_H
#define SLUICE_UNIT_ADMIT_ENV_H

#include "unit_tmp.h"
#include "admit.h"
#include "config.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct env {
    char dir[64];
    int files;
    config_t *cfg;
    store_table_t *stores;
    admit_t *admit;
} env_t;

/* unit_env_setup: a fresh env_t in *STATE, its files under a scratch
 * directory named after NAME. */
static inline int unit_env_setup(void **state, const char *name)
{
    env_t *e = calloc(1, sizeof *e);
    if (!e)
        return -1;
    if (!unit_tmp_template(e->dir, sizeof e->dir, name) || !mkdtemp(e->dir)) {
        free(e);
        return -1;
    }
    *state = e;
    return 0;
}

/* unit_env_teardown frees what the test built and removes its files. */
static inline int unit_env_teardown(void **state)
{
    env_t *e = *state;
    admit_destroy(&e->admit);
    store_table_destroy(&e->stores);
    config_destroy(&e->cfg);
    for (int i = 0; i < e->files; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/c%d.conf", e->dir, i);
        unlink(path);
    }
    rmdir(e->dir);
    free(e);
    return 0;
}

/* unit_env_load writes TEXT to the next file of the directory and loads it
 * with sluiced's parser; the test fails, saying why, when it is refused. */
static inline config_t *unit_env_load(env_t *e, const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "%s/c%d.conf", e->dir, e->files++);
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    assert_true(fputs(text, out) >= 0);
    assert_int_equal(fclose(out), 0);
    char *errors = NULL;
    config_t *cfg = config_load(path, &errors);
    if (!cfg) {
        print_error("config_load failed:\n%s", errors ? errors : "(no message)\n");
        free(errors);
        fail();
    }
    return cfg;
}

#endif
