/* configbench.c - sluice-configbench: how long sluiced takes to load and to
 * reload a config of 300,000 stores, beside libconfig's own config_read_file
 * of the same files measured in the same run, and a load whose store cache
 * (config_load_options_t.cache_dir) an earlier process filled. The config is generated in a
 * temporary directory the way a drill writes one: a main file whose stores
 * list @includes FILES files, every store key set. Prints min and median of
 * each measure, then one RESULT line (medians) for tools/bench/bench.sh. */

/* libconfig's config_t and config_destroy clash with ours: see config.c. */
#define config_t lc_config_t
#define config_destroy lc_config_destroy_unused
#include <libconfig.h>
#undef config_destroy
#undef config_t

#include "clock.h"
#include "config.h"
#include "proc.h"

#include <dirent.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern void lc_destroy(lc_config_t *lc) __asm__("config_destroy");

#define RUNS_MAX 50

static const char *const s_zones[] = { "Asia/Shanghai", "Asia/Chongqing", "Asia/Harbin",
                                       "Asia/Urumqi", "Asia/Hong_Kong", "UTC" };

/* s_now_ms: the monotonic clock in milliseconds, with its microseconds. */
static double s_now_ms(void)
{
    return (double)clock_mono_us() / 1e3;
}

/* s_rss is this process's resident memory in bytes. */
static size_t s_rss(void)
{
    long pages = 0, resident = 0;
    FILE *in = fopen("/proc/self/statm", "r");
    if (in) {
        if (fscanf(in, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(in);
    }
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct series {
    const char *name;
    double v[RUNS_MAX];
    int n;
};

static double s_median(struct series *s)
{
    double sorted[RUNS_MAX];
    memcpy(sorted, s->v, (size_t)s->n * sizeof *sorted);
    qsort(sorted, (size_t)s->n, sizeof *sorted, s_cmp);
    return s->n % 2 ? sorted[s->n / 2] : (sorted[s->n / 2 - 1] + sorted[s->n / 2]) / 2;
}

static double s_min(const struct series *s)
{
    double m = s->v[0];
    for (int i = 1; i < s->n; i++)
        m = s->v[i] < m ? s->v[i] : m;
    return m;
}

/* s_write_stores writes file F's stores; PREP is the prep_slots of its first
 * store, so a reload can change exactly one value in one file. */
static int s_write_stores(const char *dir, int f, int per_file, int prep)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/stores-%03d.cfg", dir, f);
    FILE *out = fopen(path, "w");
    if (!out)
        return -1;
    fprintf(out, "# stores %d..%d\n", f * per_file + 1, (f + 1) * per_file);
    for (int j = 0; j < per_file; j++) {
        int i = f * per_file + j;
        fprintf(out,
                "{ id = %d; brand = \"b%d\"; name = \"Store %d\"; location = [%.4f, %.4f];"
                " prep_slots = %d; item_seconds = 60; order_seconds = 30; max_wait_minutes = 40;"
                " max_queue = 200; hours = \"09:00-23:00\"; timezone = \"%s\"; paused = false;"
                " platforms = [\"meituan\", \"eleme\"];"
                " staffing = ( { from = \"11:00\"; to = \"14:00\"; prep_slots = 6; } ); }%s\n",
                i + 1, i % 50, i, 20 + (i % 2000) / 100.0, 100 + (i % 3000) / 100.0,
                j == 0 ? prep : 4, s_zones[(i / 1000) % (int)(sizeof s_zones / sizeof s_zones[0])],
                j < per_file - 1 ? "," : "");
    }
    return fclose(out) == 0 ? 0 : -1;
}

static int s_generate(const char *dir, int stores, int files)
{
    int per_file = stores / files;
    char path[4096];
    snprintf(path, sizeof path, "%s/main.cfg", dir);
    FILE *out = fopen(path, "w");
    if (!out)
        return -1;
    fprintf(out, "daemon = { database = \"dbname=bench\"; };\nbrands = (\n");
    for (int b = 0; b < 50; b++)
        fprintf(out, "  { name = \"b%d\"; orders_per_second = 5000; }%s\n", b, b < 49 ? "," : "");
    fprintf(out, ");\nplatforms = (\n"
                 "  { name = \"meituan\"; adapter = \"zmq\"; endpoint = \"tcp://127.0.0.1:7601\"; },\n"
                 "  { name = \"eleme\"; adapter = \"zmq\"; endpoint = \"tcp://127.0.0.1:7602\"; }\n"
                 ");\nstores = (\n");
    for (int f = 0; f < files; f++)
        fprintf(out, "  @include \"stores-%03d.cfg\"\n%s", f, f < files - 1 ? "  ,\n" : "");
    fprintf(out, ");\n");
    if (fclose(out) != 0)
        return -1;
    for (int f = 0; f < files; f++)
        if (s_write_stores(dir, f, per_file, 4) != 0)
            return -1;
    return 0;
}

static config_t *s_load(const char *path, const config_load_options_t *opts)
{
    char *errors = NULL;
    config_t *cfg = config_load_with(path, opts, &errors);
    if (!cfg)
        fprintf(stderr, "sluice-configbench: load failed:\n%.2000s\n", errors ? errors : "");
    free(errors);
    return cfg;
}

struct job {
    const char *path, *dir;
    const config_load_options_t *opts;
    int per_file, changed, run;
    bool warm;                /* s_run_cached: every file must come from the cache */
};

struct result {
    double ms[3];
    size_t bytes_per_store;
};

typedef int s_job_fn(const struct job *job, struct result *res);

/* s_run_ours: a load, what it holds in memory, then a reload after one
 * file of many changed (one store's prep_slots). */
static int s_run_ours(const struct job *job, struct result *res)
{
    size_t rss0 = s_rss();
    double t0 = s_now_ms();
    config_t *cfg = s_load(job->path, job->opts);
    res->ms[0] = s_now_ms() - t0;
    if (!cfg)
        return 1;
    res->ms[2] = (double)s_rss() - (double)rss0;
    size_t strings = 0;
    for (size_t i = 0; i < cfg->store_count; i++)
        strings += cfg->stores[i].name ? strlen(cfg->stores[i].name) + 1 : 0;
    res->bytes_per_store = sizeof(config_store_t) + strings / (cfg->store_count ? cfg->store_count : 1);
    int prep = 5 + job->run % 2;
    if (s_write_stores(job->dir, job->changed, job->per_file, prep) != 0)
        return 1;
    sync();
    config_load_options_t ro = *job->opts;
    ro.previous = cfg;
    t0 = s_now_ms();
    config_t *next = s_load(job->path, &ro);
    res->ms[1] = s_now_ms() - t0;
    bool right = next && next->store_count == cfg->store_count &&
                 next->stores[(size_t)job->changed * (size_t)job->per_file].prep_slots == prep;
    config_destroy(&cfg);
    config_destroy(&next);
    if (!right)
        fprintf(stderr, "sluice-configbench: the reload did not see the change\n");
    return right ? 0 : 1;
}

/* s_run_cached: a load with the store cache: one that fills it, or (WARM)
 * one that finds every file in it, as sluiced restarting does. */
static int s_run_cached(const struct job *job, struct result *res)
{
    double t0 = s_now_ms();
    config_t *cfg = s_load(job->path, job->opts);
    res->ms[0] = s_now_ms() - t0;
    bool ok = cfg && cfg->stats.cache_write_failures == 0 &&
              (!job->warm || (cfg->stats.files_parsed == 0 && cfg->stats.files_cached > 0));
    if (cfg && !ok)
        fprintf(stderr, "sluice-configbench: cache: %zu files parsed, %zu cached, %zu not written\n",
                cfg->stats.files_parsed, cfg->stats.files_cached, cfg->stats.cache_write_failures);
    config_destroy(&cfg);
    return ok ? 0 : 1;
}

/* s_cache_clear removes the files in the cache directory DIR. */
static void s_cache_clear(const char *dir)
{
    char path[4096];
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] != '.' && (size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < sizeof path)
            unlink(path);
    if (d)
        closedir(d);
}

/* s_run_libconfig: libconfig's own config_read_file of the same files. */
static int s_run_libconfig(const struct job *job, struct result *res)
{
    lc_config_t lc;
    config_init(&lc);
    config_set_include_dir(&lc, job->dir);
    double t0 = s_now_ms();
    int ok = config_read_file(&lc, job->path);
    res->ms[0] = s_now_ms() - t0;
    lc_destroy(&lc);
    return ok ? 0 : 1;
}

/* s_run_whole: the load as config_load did it before (one libconfig tree). */
static int s_run_whole(const struct job *job, struct result *res)
{
    config_load_options_t wo = *job->opts;
    wo.whole = true;
    double t0 = s_now_ms();
    config_t *cfg = s_load(job->path, &wo);
    res->ms[0] = s_now_ms() - t0;
    bool ok = cfg != NULL;
    config_destroy(&cfg);
    return ok ? 0 : 1;
}

/* s_child runs FN in a child process and brings its result back. */
static int s_child(s_job_fn *fn, const struct job *job, struct result *res)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(fds[0]);
        struct result out = { { 0 }, 0 };
        int rc = fn(job, &out);
        if (rc == 0 && write(fds[1], &out, sizeof out) != (ssize_t)sizeof out)
            rc = 1;
        _exit(rc);
    }
    close(fds[1]);
    ssize_t got = read(fds[0], res, sizeof *res);
    close(fds[0]);
    if (proc_wait(pid, -1) != 0 || got != (ssize_t)sizeof *res)
        return -1;
    return 0;
}

static void s_usage(FILE *out)
{
    fprintf(out, "usage: sluice-configbench [--stores N] [--files N] [--runs N] [--threads N]\n"
                 "                          [--whole] [--keep]\n"
                 "  --whole  also time the load as libconfig's one tree (config_load before)\n"
                 "  --keep   leave the generated config in place and print its directory\n");
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        { "stores", required_argument, NULL, 's' }, { "files", required_argument, NULL, 'f' },
        { "runs", required_argument, NULL, 'r' },   { "threads", required_argument, NULL, 't' },
        { "whole", no_argument, NULL, 'w' },        { "keep", no_argument, NULL, 'k' },
        { "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
    };
    int stores = 300000, files = 100, runs = 5, opt;
    unsigned threads = 0;
    bool whole = false, keep = false;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 's': stores = atoi(optarg); break;
        case 'f': files = atoi(optarg); break;
        case 'r': runs = atoi(optarg); break;
        case 't': threads = (unsigned)atoi(optarg); break;
        case 'w': whole = true; break;
        case 'k': keep = true; break;
        case 'h': s_usage(stdout); return 0;
        default: s_usage(stderr); return 2;
        }
    }
    if (files < 1 || stores < files || stores % files || runs < 1 || runs > RUNS_MAX) {
        fprintf(stderr, "sluice-configbench: need 1 <= runs <= %d and stores a multiple of files\n",
                RUNS_MAX);
        return 2;
    }
    char dir[2048], path[4096], cache[4096];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/sluice-configbench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("sluice-configbench: mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/main.cfg", dir);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    int rc = 1, per_file = stores / files, changed = files / 2;
    if (keep)
        fprintf(stderr, "sluice-configbench: config in %s\n", dir);
    if (s_generate(dir, stores, files) != 0 || mkdir(cache, 0700) != 0) {
        perror("sluice-configbench: cannot write the config");
        goto done;
    }
    sync(); /* no writeback of the new files while the loads are timed */

    struct series load = { "load_ms", { 0 }, 0 }, reload = { "reload_one_file_changed_ms", { 0 }, 0 },
                  base = { "baseline_libconfig_read_ms", { 0 }, 0 },
                  old = { "whole_load_ms", { 0 }, 0 }, rss = { "rss_bytes_per_store", { 0 }, 0 },
                  fill = { "load_writing_cache_ms", { 0 }, 0 }, warm = { "load_warm_cache_ms", { 0 }, 0 };
    size_t bytes_per_store = 0;
    config_load_options_t o = { .threads = threads }, co = { .threads = threads, .cache_dir = cache };
    /* Each run measures in child processes, so that every load starts in a
     * fresh heap as sluiced does (in a heap that an earlier big load grew,
     * libconfig alone runs three times faster; see README). */
    for (int r = 0; r < runs; r++) {
        struct result res;
        if (s_child(s_run_ours, &(struct job){ path, dir, &o, per_file, changed, r, false }, &res) != 0)
            goto done;
        load.v[load.n++] = res.ms[0];
        reload.v[reload.n++] = res.ms[1];
        rss.v[rss.n++] = res.ms[2] / stores;
        bytes_per_store = res.bytes_per_store;
        if (s_child(s_run_libconfig, &(struct job){ path, dir, &o, per_file, changed, r, false }, &res) != 0)
            goto done;
        base.v[base.n++] = res.ms[0];
        if (whole) {
            if (s_child(s_run_whole, &(struct job){ path, dir, &o, per_file, changed, r, false }, &res) != 0)
                goto done;
            old.v[old.n++] = res.ms[0];
        }
        /* one process fills an empty cache (a cold start with the cache on:
         * every file parsed and written), the next finds everything in it */
        s_cache_clear(cache);
        if (s_child(s_run_cached, &(struct job){ path, dir, &co, per_file, changed, r, false }, &res) != 0)
            goto done;
        fill.v[fill.n++] = res.ms[0];
        if (s_child(s_run_cached, &(struct job){ path, dir, &co, per_file, changed, r, true }, &res) != 0)
            goto done;
        warm.v[warm.n++] = res.ms[0];
    }
    struct series *all[] = { &load, &warm, &fill, &reload, &base, &old, &rss };
    printf("%d stores in %d files of %d, %d runs, each in fresh processes, threads %u (0: one per CPU)\n",
           stores, files, per_file, runs, threads);
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i]->n)
            printf("  %-28s min %9.1f  median %9.1f\n", all[i]->name, s_min(all[i]), s_median(all[i]));
    printf("  store size: sizeof(config_store_t) %zu + name %zu = %zu bytes\n", sizeof(config_store_t),
           bytes_per_store - sizeof(config_store_t), bytes_per_store);
    printf("RESULT stores=%d files=%d load_ms=%.1f load_warm_cache_ms=%.1f load_writing_cache_ms=%.1f"
           " reload_one_file_changed_ms=%.1f bytes_per_store=%zu"
           " rss_bytes_per_store=%.0f baseline_libconfig_read_ms=%.1f",
           stores, files, s_median(&load), s_median(&warm), s_median(&fill), s_median(&reload),
           bytes_per_store, s_median(&rss), s_median(&base));
    if (whole)
        printf(" whole_load_ms=%.1f", s_median(&old));
    printf("\n");
    rc = 0;
done:
    if (!keep) {
        for (int f = 0; f < files; f++) {
            snprintf(path, sizeof path, "%s/stores-%03d.cfg", dir, f);
            unlink(path);
        }
        snprintf(path, sizeof path, "%s/main.cfg", dir);
        unlink(path);
        s_cache_clear(cache);
        rmdir(cache);
        rmdir(dir);
    }
    return rc;
}
