/* config.c - owns loading sluiced's configuration: config_load reads the
 * file with libconfig, walks its groups by the key table (config_keys.c),
 * hands the stores list to the parallel loader (config_stores.c), and gives
 * back a whole config or every problem (config_report.c); config_destroy. */
#include "config_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- groups */

static void s_set(struct parser *p, const struct scope *sc, const struct key_row *row,
                  const setting_t *s, void *base, const struct ctx *ctx)
{
    struct slot sl = { row, ctx, row->path + sc->prefix_len, base, (char *)base + row->offset };
    config_kinds[row->kind].set(p, &sl, s);
}

/* s_find_row returns the index of the row named SECTION + NAME in SC, or
 * SC->row_count. Keys usually come in table order, so it starts at *HINT. */
static size_t s_find_row(const struct scope *sc, const char *section, size_t seclen,
                         const char *name, size_t *hint)
{
    for (size_t k = 0; k < sc->row_count; k++) {
        size_t i = (*hint + k) % sc->row_count;
        const char *rel = sc->rows[i].path + sc->prefix_len;
        if (strncmp(rel, section, seclen) == 0 && strcmp(rel + seclen, name) == 0) {
            *hint = i + 1;
            return i;
        }
    }
    return sc->row_count;
}

/* s_is_section: some row of SC lies inside the nested group KEY. */
static bool s_is_section(const struct scope *sc, const char *key)
{
    size_t len = strlen(key);
    for (size_t i = 0; i < sc->row_count; i++) {
        const char *rel = sc->rows[i].path + sc->prefix_len;
        if (strncmp(rel, key, len) == 0 && rel[len] == '.')
            return true;
    }
    return false;
}

static void s_parse_members(struct parser *p, enum scope_id sid, const setting_t *grp,
                            const char *section, void *base, const struct ctx *ctx, uint64_t *seen)
{
    const struct scope *sc = &config_scopes[sid];
    size_t seclen = strlen(section), hint = 0;
    int n = config_setting_length(grp);
    for (int i = 0; i < n; i++) {
        const setting_t *s = config_setting_get_elem(grp, (unsigned)i);
        const char *name = config_setting_name(s);
        size_t r = s_find_row(sc, section, seclen, name, &hint);
        if (r < sc->row_count) {
            *seen |= UINT64_C(1) << r;
            s_set(p, sc, &sc->rows[r], s, base, ctx);
            continue;
        }
        char key[256];
        snprintf(key, sizeof key, "%s%s", section, name);
        if (!s_is_section(sc, key)) {
            config_unknown(p, sc, section, s, ctx, key);
        } else if (!config_setting_is_group(s)) {
            char got[SHOW_MAX];
            config_report(p, s, ctx, key, "must be a group { ... } (got %s)",
                          config_show(s, got, sizeof got));
        } else {
            char sub[sizeof key + 1];
            snprintf(sub, sizeof sub, "%s.", key);
            s_parse_members(p, sid, s, sub, base, ctx, seen);
        }
    }
}

/* config_parse_group sets BASE from GRP (NULL: absent) by the rows of scope SID,
 * applying defaults and reporting missing required keys. */
void config_parse_group(struct parser *p, enum scope_id sid, const setting_t *grp, void *base,
                        const struct ctx *ctx)
{
    const struct scope *sc = &config_scopes[sid];
    uint64_t seen = 0;
    if (grp)
        s_parse_members(p, sid, grp, "", base, ctx, &seen);
    for (size_t i = 0; i < sc->row_count; i++) {
        if (seen & (UINT64_C(1) << i))
            continue;
        const struct key_row *row = &sc->rows[i];
        if (row->def)
            s_set(p, sc, row, p->load->def[sid][i], base, ctx);
        else
            config_report(p, grp, ctx, row->path + sc->prefix_len, "required key missing");
    }
}

static void s_parse_section(struct parser *p, enum scope_id sid, const setting_t *root, void *base)
{
    const struct scope *sc = &config_scopes[sid];
    const setting_t *grp = config_setting_get_member(root, sc->key);
    struct ctx ctx = { NULL, sc->key, -1 };
    if (grp && !config_setting_is_group(grp)) {
        char got[SHOW_MAX];
        config_report(p, grp, NULL, sc->key, "must be a group { ... } (got %s)",
                      config_show(grp, got, sizeof got));
        return;
    }
    size_t before = p->error_count;
    config_parse_group(p, sid, grp, base, &ctx);
    if (sc->check && p->error_count == before)
        sc->check(p, grp, &ctx, base, 0);
}

/* s_parse_list returns a new array of *COUNT structs from the list at the
 * root's key of scope SID (NULL when empty or out of memory). */
static void *s_parse_list(struct parser *p, enum scope_id sid, const setting_t *root, size_t *count)
{
    const struct scope *sc = &config_scopes[sid];
    const setting_t *list = config_setting_get_member(root, sc->key);
    *count = 0;
    if (!list)
        return NULL;
    int n = config_setting_length(list);
    if (!config_setting_is_list(list) && !(config_setting_is_array(list) && n == 0)) {
        char got[SHOW_MAX];
        config_report(p, list, NULL, sc->key, "must be a list ( { ... }, { ... } ) (got %s)",
                      config_show(list, got, sizeof got));
        return NULL;
    }
    if (n == 0)
        return NULL;
    char *array = config_alloc_big((size_t)n, sc->size, true);
    if (!array) {
        config_report(p, list, NULL, sc->key, "out of memory for %d entries", n);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        const setting_t *e = config_setting_get_elem(list, (unsigned)i);
        struct ctx ctx = { NULL, sc->key, i };
        if (!config_setting_is_group(e)) {
            char got[SHOW_MAX];
            config_report(p, e, &ctx, NULL, "must be a group { ... } (got %s)",
                          config_show(e, got, sizeof got));
            continue;
        }
        size_t before = p->error_count;
        config_parse_group(p, sid, e, array + (size_t)i * sc->size, &ctx);
        if (sc->check && p->error_count == before)
            sc->check(p, e, &ctx, array, (size_t)i);
    }
    *count = (size_t)n;
    return array;
}

/* config_parser_free frees what P holds and clears it. */
void config_parser_free(struct parser *p)
{
    for (size_t i = 0; i < p->msg_count; i++)
        free(p->msgs[i].text);
    free(p->msgs);
    for (size_t i = 0; i < p->tz_count; i++)
        free(p->tz[i]);
    free(p->tz);
    free(p->tz_ok);
    for (size_t i = 0; i < p->name_count; i++)
        free(p->names[i]);
    free(p->names);
    *p = (struct parser){ 0 };
}

/* ---------------------------------------------------------------- loading */

/* s_load_tree walks the top level. False: a placeholder was not where it
 * belongs or libconfig refused a piece of a store file, so this attempt must
 * be given up for a whole read. */
static bool s_load_tree(struct load *ld, const setting_t *root)
{
    struct parser *p = &ld->top;
    config_t *cfg = ld->cfg;
    int n = config_setting_length(root);
    for (int i = 0; i < n; i++) {
        const setting_t *s = config_setting_get_elem(root, (unsigned)i);
        const char *name = config_setting_name(s);
        bool known = false;
        for (size_t k = 0; k < S_COUNT && !known; k++)
            known = config_scopes[k].key && strcmp(config_scopes[k].key, name) == 0;
        if (!known)
            config_unknown(p, NULL, "", s, NULL, name);
    }
    /* Shards first: the daemon's shard and each store's name one of them. */
    cfg->shards = s_parse_list(p, S_SHARD, root, &cfg->shard_count);
    s_parse_section(p, S_DAEMON, root, &cfg->daemon);
    s_parse_section(p, S_DISPATCH, root, &cfg->dispatch);
    cfg->brands = s_parse_list(p, S_BRAND, root, &cfg->brand_count);
    cfg->platforms = s_parse_list(p, S_PLATFORM, root, &cfg->platform_count);
    cfg->campaigns = s_parse_list(p, S_CAMPAIGN, root, &cfg->campaign_count);
    return config_stores_load(ld, root);
}

/* s_defaults_init parses every row's default once, so defaults go through
 * the same setters (and checks) as values from the file. */
static bool s_defaults_init(struct load *ld)
{
    struct text t = { 0 };
    for (size_t sid = 0; sid < S_COUNT; sid++)
        for (size_t i = 0; i < config_scopes[sid].row_count; i++)
            if (config_scopes[sid].rows[i].def)
                config_text_add(&t, "d%zu_%zu = %s;\n", sid, i, config_scopes[sid].rows[i].def);
    config_init(&ld->defaults);
    ld->defaults_live = true;
    bool ok = !t.oom && config_read_string(&ld->defaults, t.buf);
    for (size_t sid = 0; ok && sid < S_COUNT; sid++)
        for (size_t i = 0; i < config_scopes[sid].row_count; i++) {
            char name[32];
            snprintf(name, sizeof name, "d%zu_%zu", sid, i);
            ld->def[sid][i] = config_lookup(&ld->defaults, name);
        }
    if (!ok)
        config_report(&ld->top, NULL, NULL, NULL,
                      "internal error: cannot parse the built-in defaults: %s line %d",
                      t.oom ? "out of memory" : config_error_text(&ld->defaults),
                      config_error_line(&ld->defaults));
    free(t.buf);
    return ok;
}

static char *s_dirname(const char *path)
{
    char *dir = strdup(path);
    if (!dir)
        return NULL;
    char *slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    return dir;
}

/* s_includes_ok is false, after reporting it, when FILE or a file it
 * includes says @include of a directory: libconfig 1.5 opens one without
 * complaint, then its scanner fails to read it and calls exit(2), which on
 * SIGHUP would end the running daemon. Lines are matched the way libconfig's
 * scanner matches them (^[ \t]*@include[ \t]+"name", name relative to the
 * include directory), but also inside comments and strings: there such a
 * line can only make a file refused, never end the process. CHAIN holds the
 * files being read, outermost first: libconfig stops at a cycle, so do we. */
static bool s_includes_ok(struct load *ld, const char *file, const char *shown,
                          struct stat chain[10], int depth);

/* An @include line found by s_include_lines: its number and its text (NUL
 * in place of the newline). */
typedef bool s_include_line_fn(void *arg, unsigned lineno, char *line);

#define INCLUDE_SCAN_BLOCK (1u << 20)

/* s_count_lines: the newlines in [FROM, TO), by memchr (a byte loop over a
 * 79 MB store file costs more than the rest of a partial load). */
static unsigned s_count_lines(const char *from, const char *to)
{
    unsigned n = 0;
    for (const char *p = from; p < to && (p = memchr(p, '\n', (size_t)(to - p))) != NULL; p++)
        n++;
    return n;
}

/* s_include_lines calls ON for every line of F that begins, after blanks,
 * with "@include". Store files are tens of megabytes of lines that never
 * do, so F is read in big blocks searched for "@include", counting lines
 * only up to each hit, instead of line by line. A line longer than a block
 * is looked at in its first block only, where an @include would be. False
 * when ON says stop or a block cannot be allocated. */
static bool s_include_lines(FILE *f, s_include_line_fn *on, void *arg)
{
    char *buf = malloc(INCLUDE_SCAN_BLOCK + 1);
    if (!buf)
        return false;
    size_t have = 0;
    unsigned lineno = 1;
    bool ok = true, eof = false;
    while (ok && !eof) {
        size_t n = fread(buf + have, 1, INCLUDE_SCAN_BLOCK - have, f);
        eof = n < INCLUDE_SCAN_BLOCK - have;
        have += n;
        char *end = buf + have;
        if (!eof) { /* whole lines only; the rest waits for the next block */
            char *nl = memrchr(buf, '\n', have);
            end = nl ? nl + 1 : end;
        }
        char *counted = buf;
        /* memchr for '@' is many times faster than memmem over megabytes */
        for (char *at = buf; ok && (at = memchr(at, '@', (size_t)(end - at))) != NULL; at++) {
            if ((size_t)(end - at) < 8 || memcmp(at, "@include", 8) != 0)
                continue;
            char *start = at;
            while (start > buf && (start[-1] == ' ' || start[-1] == '\t'))
                start--;
            if (start > buf && start[-1] != '\n')
                continue;
            lineno += s_count_lines(counted, start);
            counted = start;
            char *eol = memchr(at, '\n', (size_t)(end - at));
            char saved = eol ? *eol : *end;
            char *stop = eol ? eol : end;
            *stop = '\0';
            ok = on(arg, lineno, start);
            *stop = saved;
        }
        lineno += s_count_lines(counted, end);
        have = (size_t)(buf + have - end);
        memmove(buf, end, have);
    }
    free(buf);
    return ok;
}

struct includes_walk {
    struct load *ld;
    const char *shown;
    struct stat *chain;
    int depth;
    bool ok;
};

/* s_include_line checks one @include line of s_includes_ok's file. */
static bool s_include_line(void *arg, unsigned lineno, char *line)
{
    struct includes_walk *w = arg;
    char path[PATH_MAX], buf[PATH_MAX];
    char *s = line + strspn(line, " \t"), *name, *end;
    if (s[8] != ' ' && s[8] != '\t')
        return true;
    name = s + 8 + strspn(s + 8, " \t");
    if (*name++ != '"')
        return true;
    for (end = name; *end && *end != '"'; end++)
        if (end[0] == '\\' && end[1])
            memmove(end, end + 1, strlen(end)); /* \\ and \" */
    *end = '\0';
    struct stat st;
    if ((size_t)snprintf(path, sizeof path, "%s/%s", w->ld->dir, name) >= sizeof path ||
        stat(path, &st) != 0)
        return true;
    if (S_ISDIR(st.st_mode)) {
        config_report_at(&w->ld->top, w->shown, lineno, NULL, NULL,
                         "@include \"%s\": is a directory, not a file", name);
        w->ok = false;
    } else if (S_ISREG(st.st_mode) && w->ld->only_store != CONFIG_NO_STORE) {
        /* A load without store files (sluicectl's daemon section) is not
         * worth reading a node's 80 MB of stores for: the daemon, which
         * reloads on SIGHUP, checks them all; a tool gets libconfig's own
         * message for an @include nested in an included file. */
        w->ok = s_includes_ok(w->ld, path, config_file_name(&w->ld->top, name, buf, sizeof buf),
                              w->chain, w->depth + 1);
    }
    return w->ok;
}

static bool s_includes_ok(struct load *ld, const char *file, const char *shown,
                          struct stat chain[10], int depth)
{
    FILE *f = depth < 10 ? fopen(file, "r") : NULL; /* libconfig reports the rest */
    bool stop = !f || fstat(fileno(f), &chain[depth]) != 0;
    for (int i = 0; i < depth && !stop; i++)
        stop = chain[i].st_dev == chain[depth].st_dev && chain[i].st_ino == chain[depth].st_ino;
    if (stop) {
        if (f)
            fclose(f);
        return true;
    }
    struct includes_walk w = { ld, shown, chain, depth, true };
    bool scanned = s_include_lines(f, s_include_line, &w);
    fclose(f);
    if (!scanned && w.ok)
        config_report_at(&ld->top, shown, 0, NULL, NULL,
                         "out of memory reading its @include lines");
    return scanned && w.ok;
}

/* s_read_main reads the main file with libconfig into LC. With SPLIT, the
 * @include lines of the stores list become placeholders for sources that
 * config_stores_load reads; false then means "read it whole instead". */
static bool s_read_main(struct load *ld, lc_config_t *lc, bool split)
{
    config_set_include_dir(lc, ld->dir);
    if (split)
        return config_stores_split_main(ld, lc);
    if (config_read_file(lc, ld->path))
        return true;
    int err = errno;
    char name[PATH_MAX];
    if (config_error_type(lc) == CONFIG_ERR_FILE_IO) {
        config_report(&ld->top, NULL, NULL, NULL, "cannot read: %s", strerror(err));
    } else {
        config_report_at(&ld->top, config_file_name(&ld->top, config_error_file(lc), name,
                                                    sizeof name),
                         (unsigned)config_error_line(lc), NULL, NULL, "%s", config_error_text(lc));
    }
    return true;
}

static void s_load_free(struct load *ld)
{
    config_destroy(&ld->cfg);
    if (ld->defaults_live)
        lc_destroy(&ld->defaults);
    config_parser_free(&ld->top);
    config_stores_free(ld);
    free(ld->dir);
}

enum attempt { A_DONE, A_WHOLE };

/* s_attempt loads PATH once: with SPLIT its sources apart (A_WHOLE: give
 * that up and read the file whole), else whole. */
static enum attempt s_attempt(const char *path, const config_load_options_t *opts, bool split,
                              config_t **result, char **errors)
{
    struct load ld = { .path = path, .previous = opts->previous, .threads = opts->threads };
    ld.only_store = opts->only_store;
    ld.cache_dir = opts->only_store ? NULL : opts->cache_dir; /* not for a partial load */
    if (opts->only_store)
        ld.only_len = (size_t)snprintf(ld.only_digits, sizeof ld.only_digits, "%" PRIu32,
                                       opts->only_store);
    enum attempt a = A_DONE;
    lc_config_t lc;
    bool lc_live = false, sync_live = false;

    ld.top.load = &ld;
    ld.top.file = path;
    ld.cfg = calloc(1, sizeof *ld.cfg);
    ld.dir = s_dirname(path);
    if (!ld.cfg || !ld.dir || !(ld.cfg->path = strdup(path))) {
        config_report(&ld.top, NULL, NULL, NULL, "out of memory");
        goto done;
    }
    if (pthread_mutex_init(&ld.lock, NULL) != 0) {
        config_report(&ld.top, NULL, NULL, NULL, "failed to create a mutex");
        goto done;
    }
    if (pthread_cond_init(&ld.wake, NULL) != 0) {
        config_report(&ld.top, NULL, NULL, NULL, "failed to create a condition variable");
        pthread_mutex_destroy(&ld.lock);
        goto done;
    }
    sync_live = true;
    if (!s_defaults_init(&ld))
        goto done;
    struct stat chain[10];
    if (!s_includes_ok(&ld, path, path, chain, 0))
        goto done;
    config_init(&lc);
    lc_live = true;
    if (!s_read_main(&ld, &lc, split)) {
        a = A_WHOLE;
        goto done;
    }
    if (ld.top.error_count == 0 && !s_load_tree(&ld, config_root_setting(&lc))) {
        a = A_WHOLE;
        goto done;
    }
    if (ld.top.error_count == 0) {
        config_stores_finish(&ld);
        ld.cfg->timezones = ld.top.tz;
        ld.cfg->timezone_count = ld.top.tz_count;
        ld.top.tz = NULL;
        ld.top.tz_count = 0;
        *result = ld.cfg;
        ld.cfg = NULL;
    }
done:
    if (lc_live)
        lc_destroy(&lc);
    if (sync_live) {
        pthread_cond_destroy(&ld.wake);
        pthread_mutex_destroy(&ld.lock);
    }
    if (a == A_DONE && !*result && errors)
        *errors = config_errors_take(&ld.top);
    s_load_free(&ld);
    return a;
}

config_t *config_load_with(const char *path, const config_load_options_t *opts, char **errors)
{
    config_load_options_t o = opts ? *opts : (config_load_options_t){ 0 };
    config_t *result = NULL;
    if (errors)
        *errors = NULL;
    if (o.threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        o.threads = n > 0 ? (unsigned)n : 1;
    }
    if (o.whole || s_attempt(path, &o, true, &result, errors) == A_WHOLE)
        s_attempt(path, &o, false, &result, errors);
    return result;
}

config_t *config_load(const char *path, char **errors)
{
    return config_load_with(path, NULL, errors);
}

void config_destroy(config_t **self)
{
    if (!self || !*self)
        return;
    config_t *cfg = *self;
    config_free_strings(S_DAEMON, &cfg->daemon);
    for (size_t i = 0; i < cfg->brand_count; i++)
        config_free_strings(S_BRAND, &cfg->brands[i]);
    for (size_t i = 0; i < cfg->platform_count; i++)
        config_free_strings(S_PLATFORM, &cfg->platforms[i]);
    for (size_t i = 0; i < cfg->campaign_count; i++)
        config_free_strings(S_CAMPAIGN, &cfg->campaigns[i]);
    for (size_t i = 0; i < cfg->shard_count; i++)
        config_free_strings(S_SHARD, &cfg->shards[i]);
    for (size_t i = 0; i < cfg->store_count; i++)
        config_free_strings(S_STORE, &cfg->stores[i]);
    for (size_t i = 0; i < cfg->timezone_count; i++)
        free(cfg->timezones[i]);
    config_sources_free(cfg->sources);
    free(cfg->brands);
    free(cfg->platforms);
    free(cfg->campaigns);
    free(cfg->shards);
    free(cfg->stores);
    free(cfg->timezones);
    free(cfg->path);
    free(cfg);
    *self = NULL;
}

