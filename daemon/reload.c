/* reload.c - owns the running configuration and its replacement. */
#include "reload.h"

#include "clock.h"
#include "config_cache.h"
#include "log.h"
#include "notify.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct reload {
    config_t *cfg;
    reload_targets_t targets;
    reload_stats_t stats;
};

reload_t *reload_new(config_t *cfg, const reload_targets_t *targets)
{
    reload_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = cfg;
    self->targets = *targets;
    return self;
}

void reload_destroy(reload_t **self)
{
    if (!self || !*self)
        return;
    config_destroy(&(*self)->cfg);
    free(*self);
    *self = NULL;
}

const config_t *reload_config(const reload_t *self)
{
    return self->cfg;
}

const reload_stats_t *reload_stats(const reload_t *self)
{
    return &self->stats;
}

/* s_refused logs WHY, keeps it in OUT (LEN bytes) for a sluicectl that
 * asked, and returns false. */
static bool s_refused(reload_t *self, const char *why, char *out, size_t len)
{
    self->stats.reloads_refused++;
    log_error("reload of %s refused; the running configuration stays:\n%s", self->cfg->path, why);
    snprintf(out, len, "reload of %s refused; the running configuration stays:\n%s",
             self->cfg->path, why);
    notify_ready("reload refused (see the log); running the previous configuration");
    return false;
}

bool reload_run(reload_t *self, char *out, size_t len)
{
    const reload_targets_t *t = &self->targets;
    notify_reloading();
    uint64_t started = clock_mono_ms();
    char *errors = NULL;
    /* Store files unchanged since the running config was read are reused;
     * changed ones may be in the store cache (another file's old text). */
    char cache_buf[PATH_MAX];
    config_load_options_t opts = {.previous = self->cfg,
                                  .cache_dir = config_cache_dir_env(cache_buf, sizeof cache_buf)};
    config_t *next = config_load_with(self->cfg->path, &opts, &errors);
    if (!next) {
        bool r = s_refused(self, errors ? errors : "out of memory", out, len);
        free(errors);
        return r;
    }
    /* Keys the running process has bound or connected with (the key table
     * marks them restart): refused with both values, so the operator knows
     * a restart is needed and for what. */
    char why[4096];
    const char *refused = NULL;
    if (config_restart_changes(self->cfg, next, why, sizeof why)) {
        refused = why;
    } else if (t->zap && !curve_zap_reload(t->zap, next->daemon.curve_client_keys_file)) {
        refused = "daemon.curve.client_keys_file: cannot be read (see above)";
    } else if (!admit_configure(t->admit, next, clock_mono_us())) {
        refused = "out of memory";
    } else if (!store_table_apply(t->stores, next, clock_wall_ms())) {
        if (!admit_configure(t->admit, self->cfg, clock_mono_us()))
            log_error("reload: out of memory restoring the previous limits");
        refused = "out of memory";
    }
    if (refused) {
        config_destroy(&next);
        return s_refused(self, refused, out, len);
    }
    size_t before = self->cfg->store_count;
    dispatch_configure(t->dispatch, next);
    dbwork_configure(t->dbwork, &next->daemon);
    config_destroy(&self->cfg);
    self->cfg = next;
    self->stats.reloads++;
    /* Operators' pauses stand over whatever the file says now. */
    override_apply(t->overrides, t->stores, "reload");
    snprintf(out, len, "reloaded %s: %zu stores (was %zu), %zu brands, in %" PRIu64 " ms",
             next->path, next->store_count, before, next->brand_count, clock_mono_ms() - started);
    log_notice("%s", out);
    config_cache_report(next, opts.cache_dir, "reload");
    notify_ready(out);
    return true;
}
