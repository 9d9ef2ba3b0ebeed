/* main.c - sluiced's command line: run, --migrate, --check-config. */
#include "config.h"
#include "config_cache.h"
#include "log.h"
#include "migrate.h"
#include "order_state.h"
#include "server.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The version lives in one place, the Makefile (VERSION), which passes it
 * here; debian/changelog must carry the same one (`make deb` checks). */
#ifndef SLUICE_VERSION
#error "SLUICE_VERSION is set by the Makefile: -DSLUICE_VERSION=\"x.y.z\""
#endif

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: sluiced -c FILE            run the daemon in the foreground\n"
            "       sluiced -c FILE --migrate  apply pending database migrations and exit\n"
            "       sluiced --check-config FILE  validate FILE and exit (0 valid, 1 not)\n"
            "       sluiced --config-keys      print every config key (Markdown)\n"
            "       sluiced --states           print the order state machine (Mermaid)\n"
            "options: -v/--verbose (debug logs), --version, -h/--help\n");
}

/* s_load prints every problem of an invalid file, one per line. CACHE_DIR:
 * the store cache, or NULL. */
static config_t *s_load(const char *path, const char *cache_dir)
{
    char *errors = NULL;
    config_t *cfg = config_load_with(path, &(config_load_options_t){ .cache_dir = cache_dir }, &errors);
    if (!cfg) {
        fprintf(stderr, "%s", errors ? errors : "failed to load configuration\n");
        if (errors && errors[0] && errors[strlen(errors) - 1] != '\n')
            fputc('\n', stderr);
        fprintf(stderr, "%s: configuration is invalid\n", path);
    }
    free(errors);
    return cfg;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"migrate", no_argument, NULL, 'm'},
        {"check-config", required_argument, NULL, 'k'},
        {"config-keys", no_argument, NULL, 'K'},
        {"states", no_argument, NULL, 'S'},
        {"verbose", no_argument, NULL, 'v'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL, *check_path = NULL;
    bool migrate = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:vh", options, NULL)) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
        case 'm': migrate = true; break;
        case 'k': check_path = optarg; break;
        case 'K': config_print_keys(stdout); return 0;
        case 'S': return order_state_print_mermaid(stdout) ? 0 : 1;
        case 'v': log_set_level(LOG_LEVEL_DEBUG); break;
        case 'V': printf("sluiced %s\n", SLUICE_VERSION); return 0;
        case 'h': s_usage(stdout); return 0;
        default: s_usage(stderr); return 2;
        }
    }
    if (optind < argc || (!path && !check_path)) {
        s_usage(stderr);
        return 2;
    }
    if (check_path) {
        config_t *cfg = s_load(check_path, NULL);
        if (!cfg)
            return 1;
        printf("%s: ok (%zu stores, %zu brands, %zu platforms)\n", check_path, cfg->store_count,
               cfg->brand_count, cfg->platform_count);
        config_destroy(&cfg);
        return 0;
    }
    /* The store cache lets a restart (after kill -9 too) skip libconfig
     * for every store file that has not changed. */
    char cache_buf[PATH_MAX];
    const char *cache_dir = config_cache_dir_env(cache_buf, sizeof cache_buf);
    config_t *cfg = s_load(path, cache_dir);
    if (!cfg)
        return 1;
    config_cache_report(cfg, cache_dir, migrate ? "migrate" : "start");
    if (migrate) {
        bool ok = migrate_apply(cfg->daemon.database);
        config_destroy(&cfg);
        return ok ? 0 : 1;
    }
    log_notice("sluiced %s starting with %s (%zu stores)", SLUICE_VERSION, path, cfg->store_count);
    server_t *server = server_new(cfg);  /* owns cfg now */
    if (!server)
        return 1;
    int rc = server_run(server);
    server_destroy(&server);
    return rc;
}
