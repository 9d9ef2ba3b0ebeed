/* config_stores.c - owns the parallel store loader: the @include'd store
 * files of the stores list read by sluice itself (sources), cut into pieces
 * parsed on a pool of threads, reused from the previous config or read from
 * the store cache, then merged in list order with store ids checked across
 * them (see config_load_with in config.h). */
#include "config_internal.h"
#include "config_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* config_alloc_big is malloc that asks for transparent huge pages when the
 * array is large: 300,000 stores take 67 MB, otherwise 16,000 page faults.
 * ZERO: clear it (not needed when every byte is written next). */
void *config_alloc_big(size_t n, size_t size, bool zero)
{
    const size_t huge = (size_t)2 << 20;
    void *array;
    if (size && n > SIZE_MAX / size)
        return NULL;
    if (n * size < 2 * huge)
        return zero ? calloc(n, size) : malloc(n * size + 1);
    if (posix_memalign(&array, huge, n * size) != 0)
        return NULL;
    (void)madvise(array, n * size, MADV_HUGEPAGE); /* a hint; fine if refused */
    return zero ? memset(array, 0, n * size) : array;
}

/* ------------------------------------------------------------ the walk */

/* s_origin_file is the file AT came from, as messages show it, in storage
 * that lasts as long as P (a piece's libconfig tree does not). NULL when out
 * of memory. */
static const char *s_origin_file(struct parser *p, const setting_t *at)
{
    const char *raw = config_setting_source_file(at);
    if (!raw)
        return p->file;
    if (p->name_count && raw == p->name_raw)
        return p->names[p->name_last];
    char buf[PATH_MAX];
    const char *shown = config_file_name(p, raw, buf, sizeof buf);
    size_t i = 0;
    while (i < p->name_count && strcmp(p->names[i], shown) != 0)
        i++;
    if (i == p->name_count) {
        char **names = realloc(p->names, (p->name_count + 1) * sizeof *names);
        if (!names)
            return NULL;
        p->names = names;
        if (!(names[i] = strdup(shown)))
            return NULL;
        p->name_count++;
    }
    p->name_raw = raw;
    p->name_last = i;
    return p->names[i];
}

/* s_walk_stores parses COUNT elements of LIST, from FROM on, into PT. A
 * store without problems gets its line and origin; ids are checked across
 * all parts when they merge. */
static void s_walk_stores(struct part *pt, const setting_t *list, unsigned from, size_t count)
{
    struct parser *p = &pt->p;
    const char *key = config_scopes[S_STORE].key;
    if (!pt->slab) {
        pt->stores = config_alloc_big(count, sizeof *pt->stores, true);
        pt->origins = calloc(count, sizeof *pt->origins);
    }
    if (!pt->stores || !pt->origins) {
        config_report(p, list, NULL, key, "out of memory for %zu entries", count);
        pt->count = 0; /* a run of the main tree came with its count */
        return;
    }
    pt->count = count;
    for (size_t k = 0; k < count; k++) {
        const setting_t *e = config_setting_get_elem(list, from + (unsigned)k);
        struct ctx ctx = { NULL, key, (long)k };
        if (!config_setting_is_group(e)) {
            char got[SHOW_MAX];
            config_report(p, e, &ctx, NULL, "must be a group { ... } (got %s)",
                          config_show(e, got, sizeof got));
            continue;
        }
        size_t before = p->error_count;
        config_parse_group(p, S_STORE, e, &pt->stores[k], &ctx);
        if (p->error_count == before && config_scopes[S_STORE].check)
            config_scopes[S_STORE].check(p, e, &ctx, pt->stores, k);
        if (p->error_count != before)
            continue;
        const setting_t *id = config_member_or(e, "id");
        const char *file = s_origin_file(p, id);
        if (!file) {
            config_report(p, e, &ctx, NULL, "out of memory");
            continue;
        }
        pt->stores[k].line = (int)config_line(p, e);
        pt->origins[k] = (struct origin){ config_line(p, id), file };
    }
}

/* s_part_free frees PT's contents; stores it still holds own their strings. */
static void s_part_free(struct part *pt)
{
    config_parser_free(&pt->p);
    if (pt->stores)
        for (size_t i = 0; i < pt->count; i++)
            config_free_strings(S_STORE, &pt->stores[i]);
    if (!pt->slab) {
        free(pt->stores);
        free(pt->origins);
    }
}

/* s_slab_alloc returns SIZE zeroed bytes for a piece's stores or origins
 * (lock held), from slabs of 32 MB in transparent huge pages that the load
 * unmaps at its end; NULL: use calloc. Pieces' arrays add up to as much as
 * the config's own (65 MB for 300,000 stores): in 4 KB pages that was 16,000
 * page faults, most of the load's. A new mapping reads as zeros and is
 * faulted in by the thread that writes it, outside the lock. */
static void *s_slab_alloc(struct load *ld, size_t size)
{
    const size_t huge = (size_t)2 << 20, slab = (size_t)32 << 20;
    size = (size + 63) & ~(size_t)63;
    if (size > slab / 4)
        return NULL;
    if (ld->slab_count && ld->slabs[ld->slab_count - 1].size - ld->slabs[ld->slab_count - 1].used >= size) {
        void *at = ld->slabs[ld->slab_count - 1].base + ld->slabs[ld->slab_count - 1].used;
        ld->slabs[ld->slab_count - 1].used += size;
        return at;
    }
    if (ld->slab_count == sizeof ld->slabs / sizeof ld->slabs[0])
        return NULL;
    /* map a huge page more, to start the slab on a huge page boundary */
    char *map = mmap(NULL, slab + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED)
        return NULL;
    char *base = (char *)(((uintptr_t)map + huge - 1) & ~(uintptr_t)(huge - 1));
    (void)madvise(base, slab, MADV_HUGEPAGE); /* a hint; fine if refused */
    ld->slabs[ld->slab_count].map = map;
    ld->slabs[ld->slab_count].base = base;
    ld->slabs[ld->slab_count].size = slab;
    ld->slabs[ld->slab_count++].used = size;
    return base;
}

/* ---------------------------------------------------------- the sources */

/* PIECE_BYTES: a source is cut into pieces of about this size, so that
 * threads share even one big file and finish together, and each piece's
 * libconfig tree (about ten times the text) is freed and its memory reused
 * before the next. 32 KB to 512 KB measured the same within the noise. */
#define PIECE_BYTES ((size_t)128 << 10)

/* The placeholder that stands in the main file for an @include sluice reads
 * itself; \x01 keeps it from meaning anything a person would write. */
#define PLACEHOLDER "\001sluice-include "

/* s_read_file reads the regular file PATH into *BUF (of *CAP bytes, grown
 * as needed), NUL-terminated, its length in *LEN. */
static bool s_read_file(const char *path, char **buf, size_t *cap, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat st;
    size_t n = 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uintmax_t)st.st_size >= SIZE_MAX / 4)
        goto fail;
    for (size_t want = (size_t)st.st_size + 1;; want = 2 * *cap) { /* larger: it grew */
        if (want > *cap) {
            /* a big file in huge pages: 93 MB are 23,000 page faults in small ones */
            char *more = want >= ((size_t)4 << 20) ? config_alloc_big(want, 1,
                                                                      false) : malloc(want);
            if (!more)
                goto fail;
            memcpy(more, *buf ? *buf : "", n);
            free(*buf);
            *buf = more;
            *cap = want;
        }
        ssize_t got;
        while ((got = read(fd, *buf + n, *cap - 1 - n)) > 0 || (got < 0 && errno == EINTR))
            n += got > 0 ? (size_t)got : 0;
        if (got < 0)
            goto fail;
        if (n < *cap - 1)
            break; /* end of file before the buffer's end */
        char probe;
        if ((got = read(fd, &probe, 1)) == 0)
            break;
        if (got < 0)
            goto fail;
        (*buf)[n++] = probe;
    }
    close(fd);
    (*buf)[n] = '\0';
    *len = n;
    return true;
fail:
    close(fd);
    return false;
}

/* s_buffer_take / s_buffer_give: the texts of sources come from a pool kept
 * for the whole load, so a freed 1 MB buffer is not handed back to the
 * kernel and faulted in again for the next file (lock held). */
static void s_buffer_take(struct load *ld, char **buf, size_t *cap)
{
    *buf = NULL;
    *cap = 0;
    if (ld->spare_count) {
        ld->spare_count--;
        *buf = ld->spare[ld->spare_count].buf;
        *cap = ld->spare[ld->spare_count].cap;
    }
}

static void s_buffer_give(struct load *ld, char *buf, size_t cap)
{
    if (!buf)
        return;
    if (ld->spare_count == sizeof ld->spare / sizeof ld->spare[0]) {
        free(buf);
        return;
    }
    ld->spare[ld->spare_count].buf = buf;
    ld->spare[ld->spare_count++].cap = cap;
}

struct pieces {
    config_scan_piece_t *v;
    size_t count, cap;
};

static bool s_on_piece(void *arg, const config_scan_piece_t *piece)
{
    struct pieces *ps = arg;
    if (ps->count == ps->cap) {
        size_t cap = ps->cap ? 2 * ps->cap : 8;
        config_scan_piece_t *v = realloc(ps->v, cap * sizeof *v);
        if (!v)
            return false;
        ps->v = v;
        ps->cap = cap;
    }
    ps->v[ps->count++] = *piece;
    return true;
}

/* s_source_cached gives SRC one piece, already walked, holding its stores
 * from the cache, when the cache has them for these bytes, brands,
 * platforms and campaigns. A file is cached only when it was cacheable, and the same
 * bytes scan the same, so SRC is cacheable too. A zone that no longer
 * exists makes it a miss: the parse then says so as usual. */
static bool s_source_cached(struct load *ld, struct source *src)
{
    const config_t *cfg = ld->cfg;
    config_cache_key_t key = { src->path,      src->shown,          src->len,
                               src->hash,      cfg->brands,         cfg->brand_count,
                               cfg->platforms, cfg->platform_count, cfg->campaigns,
                               cfg->campaign_count, cfg->shards,    cfg->shard_count };
    config_cache_entry_t e;
    if (!config_cache_read(ld->cache_dir, &key, &e))
        return false;
    struct part *pt = calloc(1, sizeof *pt);
    struct origin *origins = calloc(e.count + 1, sizeof *origins);
    bool ok = pt && origins;
    for (size_t i = 0; ok && i < e.timezone_count; i++)
        ok = config_zone_exists(e.timezones[i]);
    if (!ok) {
        free(pt);
        free(origins);
        config_cache_entry_free(&e);
        return false;
    }
    for (size_t k = 0; k < e.count; k++)
        origins[k] = (struct origin){ e.id_lines[k], src->shown };
    pt->p.load = ld;
    pt->p.file = src->shown;
    pt->p.tz = e.timezones; /* the stores' zones point here until they merge */
    pt->p.tz_count = pt->p.tz_cap = e.timezone_count;
    pt->source = src;
    pt->stores = e.stores;
    pt->count = e.count;
    pt->origins = origins;
    free(e.id_lines);
    src->pieces = pt;
    src->piece_count = 1;
    src->cached = src->cacheable = true;
    return true;
}

/* s_source_load reads SRC, then finds it unchanged in the previous config
 * or in the cache, or cuts it into pieces. False: read it with libconfig instead (it
 * cannot be read, or holds a NUL byte, which libconfig's string reader
 * would take for the end). */
static bool s_source_load(struct load *ld, struct source *src)
{
    if (ld->only_store == CONFIG_NO_STORE)
        return true; /* not even read */
    if (!s_read_file(src->path, &src->text, &src->cap, &src->len) ||
        memchr(src->text, '\0', src->len))
        return false;
    if (ld->only_len &&
        !config_scan_has_number(src->text, src->len, ld->only_digits, ld->only_len))
        return true; /* a partial load: no piece of it can hold the store */
    src->hash = config_cache_hash(src->text, src->len);
    const struct config_sources *prev = ld->reuse ? ld->previous->sources : NULL;
    for (size_t i = 0; prev && i < prev->count; i++) {
        const struct config_source *cs = &prev->v[i];
        if (cs->len == src->len && cs->hash == src->hash && strcmp(cs->path, src->path) == 0 &&
            strcmp(cs->shown, src->shown) == 0) {
            src->reuse = cs;
            return true; /* its text goes back to the pool */
        }
    }
    if (ld->cache_dir && s_source_cached(ld, src))
        return true;
    struct pieces ps = { 0 };
    src->cacheable = config_scan_list(src->text, src->len, PIECE_BYTES, s_on_piece, &ps);
    if (!src->cacheable) {
        /* One piece, its elements uncounted: libconfig reads the @include
         * inside it, or refuses the text (then the whole file is read). */
        ps.count = 0;
        if (!s_on_piece(&ps, &(config_scan_piece_t){ 0, src->len, 1, 0 })) {
            free(ps.v);
            return false;
        }
    }
    src->pieces = calloc(ps.count, sizeof *src->pieces);
    if (!src->pieces) {
        free(ps.v);
        return false;
    }
    for (size_t i = 0; i < ps.count; i++) {
        struct part *pt = &src->pieces[i];
        pt->p.load = ld;
        pt->p.file = src->shown;
        pt->p.line_offset = ps.v[i].line - 1;
        pt->source = src;
        pt->piece = ps.v[i];
    }
    src->piece_count = src->pieces_left = ps.count;
    free(ps.v);
    return true;
}

/* A piece is fed to libconfig as "stores = ( PIECE );" through a stream
 * that reads the three parts in turn: no copy of the piece, and no buffer
 * as big as the piece (config_read_string takes the length of its text and
 * copies it byte by byte into a new buffer: a tenth of the load's time). */
struct piece_stream {
    const char *part[3];
    size_t len[3];
    size_t at;                /* in part[0] + part[1] + part[2] */
};

static ssize_t s_piece_read(void *cookie, char *buf, size_t size)
{
    struct piece_stream *ps = cookie;
    size_t done = 0, skip = ps->at;
    for (int i = 0; i < 3 && done < size; i++) {
        if (skip >= ps->len[i]) {
            skip -= ps->len[i];
            continue;
        }
        size_t n = ps->len[i] - skip < size - done ? ps->len[i] - skip : size - done;
        memcpy(buf + done, ps->part[i] + skip, n);
        done += n;
        skip = 0;
    }
    ps->at += done;
    return (ssize_t)done;
}

/* s_piece_walk parses one piece of a source with its own libconfig instance
 * (libconfig 1.5 keeps no global state: a reentrant flex scanner and a pure
 * bison parser) and walks it. STDIO is the calling thread's stream buffer
 * (libconfig reads a stream with getc). The piece is wrapped on its first
 * line, so its lines stay its own, plus line_offset; no newline before ");",
 * so a "#" comment at the end of a file stays what libconfig makes of it.
 * False when libconfig refuses the piece or reads other than the counted
 * elements: then the load reads the whole file. */
static bool s_piece_walk(struct load *ld, char *stdio, size_t stdio_size, struct part *pt)
{
    const char *key = config_scopes[S_STORE].key;
    const config_scan_piece_t *pc = &pt->piece;
    char open[32];
    snprintf(open, sizeof open, "%s = (", key);
    struct piece_stream ps = { { open, pt->source->text + pc->start, " );" },
                               { strlen(open), pc->end - pc->start, 3 }, 0 };
    FILE *in = fopencookie(&ps, "r", (cookie_io_functions_t){ .read = s_piece_read });
    if (!in)
        return false;
    setvbuf(in, stdio, _IOFBF, stdio_size);
    lc_config_t lc;
    config_init(&lc);
    config_set_include_dir(&lc, ld->dir);
    bool ok = config_read(&lc, in) == CONFIG_TRUE;
    fclose(in);
    const setting_t *root = config_root_setting(&lc);
    const setting_t *list = ok ? config_setting_get_member(root, key) : NULL;
    int n = list ? config_setting_length(list) : 0;
    ok = list && config_setting_length(root) == 1 && config_setting_is_list(list) && n > 0 &&
         (pc->elements == 0 || (size_t)n == pc->elements);
    if (ok)
        s_walk_stores(pt, list, 0, (size_t)n);
    lc_destroy(&lc);
    return ok;
}

/* s_piece_skipped: a partial load (only_store) leaves out a counted piece
 * whose text cannot hold the store's id as a number of its own. A piece of uncounted elements may
 * @include another file, so it is always read. */
static bool s_piece_skipped(const struct load *ld, const struct part *pt)
{
    const config_scan_piece_t *pc = &pt->piece;
    return ld->only_len && pc->elements &&
           !config_scan_has_number(pt->source->text + pc->start, pc->end - pc->start,
                                   ld->only_digits, ld->only_len);
}

/* s_queue_pieces makes SRC's pieces available to the workers (lock held). */
static bool s_queue_pieces(struct load *ld, struct source *src)
{
    if (ld->queue_len + src->piece_count > ld->queue_cap) {
        size_t cap = ld->queue_cap ? ld->queue_cap : 64;
        while (cap < ld->queue_len + src->piece_count)
            cap *= 2;
        struct part **q = realloc(ld->queue, cap * sizeof *q);
        if (!q)
            return false;
        ld->queue = q;
        ld->queue_cap = cap;
    }
    for (size_t i = 0; i < src->piece_count; i++)
        ld->queue[ld->queue_len++] = &src->pieces[i];
    return true;
}

/* s_work is one worker: it walks queued pieces first (so few sources are
 * held in memory at once), else reads the next source, until all are done
 * or one failed. Every thread of the load runs it, the caller's too. */
static void *s_work(void *arg)
{
    struct load *ld = arg;
    char stdio[64 << 10]; /* on the stack: each thread its own */
    pthread_mutex_lock(&ld->lock);
    while (!ld->failed) {
        if (ld->queue_head < ld->queue_len) {
            struct part *pt = ld->queue[ld->queue_head++];
            size_t n = pt->piece.elements;
            bool skip = s_piece_skipped(ld, pt);
            if (n && !skip) {
                pt->stores = s_slab_alloc(ld, n * sizeof *pt->stores);
                pt->origins = pt->stores ? s_slab_alloc(ld, n * sizeof *pt->origins) : NULL;
                pt->slab = pt->origins != NULL;
                if (!pt->slab)
                    pt->stores = NULL;
            }
            pthread_mutex_unlock(&ld->lock);
            bool ok = skip || s_piece_walk(ld, stdio, sizeof stdio, pt);
            pthread_mutex_lock(&ld->lock);
            ld->failed |= !ok;
            struct source *src = pt->source;
            if (--src->pieces_left == 0) {
                s_buffer_give(ld, src->text, src->cap);
                src->text = NULL;
            }
        } else if (ld->next_source < ld->source_count) {
            struct source *src = &ld->sources[ld->next_source++];
            ld->loading++;
            s_buffer_take(ld, &src->text, &src->cap);
            pthread_mutex_unlock(&ld->lock);
            bool ok = s_source_load(ld, src);
            pthread_mutex_lock(&ld->lock);
            ld->loading--;
            if (!ok || (!src->reuse && !src->cached && !s_queue_pieces(ld, src)))
                ld->failed = true;
            if (src->reuse || src->cached || src->piece_count == 0) {
                s_buffer_give(ld, src->text, src->cap);
                src->text = NULL;
            }
            pthread_cond_broadcast(&ld->wake);
        } else if (ld->loading > 0) {
            pthread_cond_wait(&ld->wake, &ld->lock);
        } else {
            break;
        }
    }
    pthread_cond_broadcast(&ld->wake);
    pthread_mutex_unlock(&ld->lock);
    return NULL;
}

/* s_run walks the main tree's runs of stores and, on LD->threads threads
 * (this one included), the sources. Worker threads block every signal: the
 * daemon takes its signals through a signalfd in the main thread. A thread
 * that cannot be started only means fewer workers. */
static void s_run(struct load *ld, const setting_t *list)
{
    pthread_t threads[15];
    size_t started = 0, want = ld->threads > 1 ? ld->threads - 1 : 0;
    if (want > sizeof threads / sizeof threads[0])
        want = sizeof threads / sizeof threads[0];
    if (ld->source_count == 0)
        want = 0;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    while (started < want && pthread_create(&threads[started], NULL, s_work, ld) == 0)
        started++;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    for (size_t i = 0; i < ld->segment_count; i++) {
        struct part *run = ld->segments[i].run;
        if (run)
            s_walk_stores(run, list, run->from, run->count);
    }
    s_work(ld);
    for (size_t i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
}

/* s_placeholder: 1 when E stands for source *K, 0 when it is an element of
 * the main file, -1 when it looks like a placeholder that is not one. */
static int s_placeholder(const struct load *ld, const setting_t *e, size_t *k)
{
    if (ld->source_count == 0 || config_setting_type(e) != CONFIG_TYPE_STRING)
        return 0;
    const char *v = config_setting_get_string(e);
    if (strncmp(v, PLACEHOLDER, sizeof PLACEHOLDER - 1) != 0)
        return 0;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v + sizeof PLACEHOLDER - 1, &end, 10);
    /* (its line is not checked: libconfig gives a string the line of the
     * token after it, which it reads to see whether another string follows) */
    if (errno || *end || n >= ld->source_count || config_setting_source_file(e))
        return -1;
    *k = (size_t)n;
    return 1;
}

static bool s_segment_add(struct load *ld, struct part *run, struct source *src)
{
    struct segment *v = realloc(ld->segments, (ld->segment_count + 1) * sizeof *v);
    if (!v)
        return false;
    ld->segments = v;
    v[ld->segment_count++] = (struct segment){ run, src };
    return true;
}

static bool s_run_add(struct load *ld, unsigned from, unsigned to)
{
    struct part *run = calloc(1, sizeof *run);
    if (!run)
        return false;
    run->p.load = ld;
    run->p.file = ld->top.file;
    run->from = from;
    run->count = to - from;
    if (s_segment_add(ld, run, NULL))
        return true;
    free(run);
    return false;
}

/* s_stores_segments splits the stores LIST into runs of the main tree and
 * sources. False when the placeholders are not each found once, as elements
 * of this list: then the @include was elsewhere, and the whole file is read. */
static bool s_stores_segments(struct load *ld, const setting_t *list)
{
    unsigned n = (unsigned)config_setting_length(list), from = 0;
    bool *seen = calloc(ld->source_count + 1, sizeof *seen), ok = seen != NULL;
    for (unsigned i = 0; ok && i < n; i++) {
        size_t k;
        int is = s_placeholder(ld, config_setting_get_elem(list, i), &k);
        if (is == 0)
            continue;
        ok = is > 0 && !seen[k];
        if (ok && i > from)
            ok = s_run_add(ld, from, i);
        if (ok) {
            seen[k] = true;
            ok = s_segment_add(ld, NULL, &ld->sources[k]);
            from = i + 1;
        }
    }
    if (ok && n > from)
        ok = s_run_add(ld, from, n);
    for (size_t k = 0; ok && k < ld->source_count; k++)
        ok = seen[k];
    free(seen);
    return ok;
}

/* ---------------------------------------------------------------- merging */

/* Stores' ids are checked in one pass over all parts, in order, with an
 * open-addressing set of id << 32 | index + 1; "first at" comes from the
 * spans, the origins of each part in the stores array. */
struct span {
    size_t base, count;
    const struct origin *origins;  /* a fresh part's, or: */
    const unsigned *id_lines;      /* a reused source's, all in */
    const char *shown;
};

struct ids {
    uint64_t *slots;
    size_t mask;
    struct span *spans;
    size_t span_count;
};

static struct origin s_origin_of(const struct ids *ids, size_t g)
{
    size_t lo = 0, hi = ids->span_count;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (ids->spans[mid].base <= g)
            lo = mid;
        else
            hi = mid;
    }
    const struct span *sp = &ids->spans[lo];
    if (sp->origins)
        return sp->origins[g - sp->base];
    return (struct origin){ sp->id_lines[g - sp->base], sp->shown };
}

static void s_ids_check(struct load *ld, struct ids *ids, size_t g, struct origin at)
{
    uint32_t id = ld->cfg->stores[g].id;
    size_t h = (size_t)((id * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & ids->mask;
    for (; ids->slots[h]; h = (h + 1) & ids->mask) {
        if (ids->slots[h] >> 32 != id)
            continue;
        struct origin first = s_origin_of(ids, (ids->slots[h] & UINT32_MAX) - 1);
        struct ctx ctx = { NULL, config_scopes[S_STORE].key, (long)g };
        if (strcmp(first.file, at.file) == 0)
            config_report_at(&ld->top, at.file, at.line, &ctx, "id",
                             "duplicate store id %" PRIu32 " (first at line %u)", id, first.line);
        else
            config_report_at(&ld->top, at.file, at.line, &ctx, "id",
                             "duplicate store id %" PRIu32 " (first at %s:%u)", id, first.file, first.line);
        return;
    }
    ids->slots[h] = (uint64_t)id << 32 | (g + 1);
}

/* s_tz_take returns the top parser's interning of P's timezone TZ. */
static const char *s_tz_take(struct load *ld, const char *tz)
{
    long i = config_tz_intern(&ld->top, tz);
    return i < 0 ? NULL : ld->top.tz[i];
}

/* s_tz_reintern points COUNT stores' timezones at this load's interned
 * names (they came from a piece's parser or from the previous config). */
static void s_tz_reintern(struct load *ld, config_store_t *stores, size_t count)
{
    const char *from = NULL, *to = NULL;
    for (size_t k = 0; k < count; k++) {
        config_store_t *st = &stores[k];
        if (st->timezone && st->timezone != from) {
            from = st->timezone;
            if (!(to = s_tz_take(ld, from)))
                config_report(&ld->top, NULL, NULL, NULL, "out of memory");
        }
        if (st->timezone)
            st->timezone = to;
    }
}

/* s_merge_part moves PT's stores to the config at BASE (unless the config
 * adopted PT's array) and its messages to the top parser, then checks ids. */
static void s_merge_part(struct load *ld, struct ids *ids, struct part *pt, size_t base)
{
    config_t *cfg = ld->cfg;
    config_msgs_take(&ld->top, &pt->p, base);
    if (pt->stores && cfg->stores != pt->stores)
        memcpy(cfg->stores + base, pt->stores, pt->count * sizeof *pt->stores);
    if (pt->stores) {
        if (cfg->stores != pt->stores && !pt->slab)
            free(pt->stores);
        pt->stores = NULL; /* the config owns them and their strings now */
    }
    s_tz_reintern(ld, cfg->stores + base, pt->count);
    ids->spans[ids->span_count++] = (struct span){ base, pt->count, pt->origins, NULL, NULL };
    for (size_t k = 0; k < pt->count; k++)
        if (pt->origins[k].line)
            s_ids_check(ld, ids, base + k, pt->origins[k]);
}

/* s_merge_reused copies the stores of source CS of the previous config. */
static void s_merge_reused(struct load *ld, struct ids *ids, const struct config_source *cs,
                           size_t base)
{
    config_t *cfg = ld->cfg;
    const config_store_t *old = ld->previous->stores + cs->first;
    memcpy(cfg->stores + base, old, cs->count * sizeof *old);
    for (size_t k = 0; k < cs->count; k++) {
        config_store_t *st = &cfg->stores[base + k];
        if (st->name && !(st->name = strdup(st->name)))
            config_report(&ld->top, NULL, NULL, NULL, "out of memory");
    }
    s_tz_reintern(ld, cfg->stores + base, cs->count);
    ids->spans[ids->span_count++] = (struct span){ base, cs->count, NULL, cs->id_lines, cs->shown };
    for (size_t k = 0; k < cs->count; k++)
        s_ids_check(ld, ids, base + k, (struct origin){ cs->id_lines[k], cs->shown });
}

static size_t s_source_count(const struct source *src)
{
    if (src->reuse)
        return src->reuse->count;
    size_t n = 0;
    for (size_t i = 0; i < src->piece_count; i++)
        n += src->pieces[i].count;
    return n;
}

/* s_merge puts the parts' stores into one array in list order and checks
 * store ids across them. One fresh part (a config without sources) hands
 * over its array as it is. */
static void s_merge(struct load *ld)
{
    config_t *cfg = ld->cfg;
    size_t total = 0, spans = 0;
    struct part *only = NULL;
    for (size_t i = 0; i < ld->segment_count; i++) {
        const struct segment *sg = &ld->segments[i];
        total += sg->run ? sg->run->count : s_source_count(sg->source);
        spans += sg->run || sg->source->reuse ? 1 : sg->source->piece_count;
        only = sg->run ? sg->run : sg->source->piece_count == 1 ? sg->source->pieces : NULL;
    }
    if (ld->segment_count != 1 || (only && (!only->stores || only->slab)))
        only = NULL;
    struct ids ids = { 0 };
    size_t slots = 16;
    while (slots < 2 * total)
        slots *= 2;
    ids.mask = slots - 1;
    ids.slots = config_alloc_big(slots, sizeof *ids.slots, true);
    ids.spans = calloc(spans + 1, sizeof *ids.spans);
    /* every store is copied in below, so the array needs no clearing */
    cfg->stores = only ? only->stores : total ? config_alloc_big(total, sizeof *cfg->stores,
                                                                 false) : NULL;
    if (!ids.slots || !ids.spans || (total && !cfg->stores)) {
        config_report(&ld->top, NULL, NULL, config_scopes[S_STORE].key,
                      "out of memory for %zu entries", total);
        if (!only)
            free(cfg->stores);
        cfg->stores = NULL;
        goto done;
    }
    cfg->store_count = total;
    size_t base = 0;
    for (size_t i = 0; i < ld->segment_count; i++) {
        struct segment *sg = &ld->segments[i];
        if (sg->run) {
            s_merge_part(ld, &ids, sg->run, base);
            base += sg->run->count;
        } else if (sg->source->reuse) {
            s_merge_reused(ld, &ids, sg->source->reuse, base);
            base += sg->source->reuse->count;
        } else {
            for (size_t j = 0; j < sg->source->piece_count; j++) {
                s_merge_part(ld, &ids, &sg->source->pieces[j], base);
                base += sg->source->pieces[j].count;
            }
        }
    }
done:
    free(ids.slots);
    free(ids.spans);
}

void config_sources_free(struct config_sources *cs)
{
    if (!cs)
        return;
    for (size_t i = 0; i < cs->count; i++) {
        free(cs->v[i].path);
        free(cs->v[i].shown);
        free(cs->v[i].id_lines);
    }
    free(cs->v);
    free(cs);
}

/* s_id_lines puts the line of each of SRC's stores' ids in LINES. */
static void s_id_lines(const struct source *src, unsigned *lines)
{
    if (src->reuse) {
        memcpy(lines, src->reuse->id_lines, src->reuse->count * sizeof *lines);
        return;
    }
    size_t k = 0;
    for (size_t j = 0; j < src->piece_count; j++)
        for (size_t m = 0; m < src->pieces[j].count; m++)
            lines[k++] = src->pieces[j].origins[m].line;
}

/* s_cache_write writes the cache file of every source this load parsed
 * (only cacheable ones: their bytes are all their stores depend on, besides
 * brands, platforms and campaigns, which the file names). The cache is only a help: a
 * file not written is counted for the caller to warn about, no error. */
static void s_cache_write(struct load *ld)
{
    config_t *cfg = ld->cfg;
    size_t base = 0;
    for (size_t i = 0; i < ld->segment_count; i++) {
        const struct segment *sg = &ld->segments[i];
        const struct source *src = sg->source;
        size_t count = sg->run ? sg->run->count : s_source_count(src);
        if (src && src->cacheable && !src->reuse && !src->cached) {
            config_cache_key_t key = { src->path,      src->shown,          src->len,
                                       src->hash,      cfg->brands,         cfg->brand_count,
                                       cfg->platforms, cfg->platform_count, cfg->campaigns,
                                       cfg->campaign_count, cfg->shards,    cfg->shard_count };
            unsigned *lines = malloc((count + 1) * sizeof *lines);
            if (lines)
                s_id_lines(src, lines);
            if (!lines || !config_cache_write(ld->cache_dir, &key, cfg->stores + base, lines, count))
                cfg->stats.cache_write_failures++;
            free(lines);
        }
        base += count;
    }
}

/* s_stats_count fills the config's stats: what became of each source. */
static void s_stats_count(struct load *ld)
{
    config_load_stats_t *st = &ld->cfg->stats;
    for (size_t i = 0; i < ld->source_count; i++) {
        const struct source *src = &ld->sources[i];
        if (src->reuse) {
            st->files_reused++;
        } else if (src->cached) {
            st->files_cached++;
            st->stores_cached += s_source_count(src);
        } else if (src->piece_count) {
            st->files_parsed++;
        }
    }
}

/* s_sources_keep records in the new config what a later load needs to
 * reuse its sources (those without an @include inside). Only a help: when
 * out of memory the config just records none. */
static void s_sources_keep(struct load *ld)
{
    struct config_sources *cs = calloc(1, sizeof *cs);
    if (!cs || !(cs->v = calloc(ld->source_count + 1, sizeof *cs->v)))
        goto fail;
    size_t base = 0;
    for (size_t i = 0; i < ld->segment_count; i++) {
        const struct segment *sg = &ld->segments[i];
        if (sg->run) {
            base += sg->run->count;
            continue;
        }
        const struct source *src = sg->source;
        size_t count = s_source_count(src);
        if (src->reuse || src->cacheable) {
            struct config_source *c = &cs->v[cs->count++];
            *c = (struct config_source){ strdup(src->path), strdup(src->shown), src->hash, src->len,
                                         base, count, malloc((count + 1) * sizeof *c->id_lines) };
            if (!c->path || !c->shown || !c->id_lines)
                goto fail;
            s_id_lines(src, c->id_lines);
        }
        base += count;
    }
    ld->cfg->sources = cs;
    return;
fail:
    config_sources_free(cs);
}

/* s_reuse_init: the previous config's sources may be reused when it read
 * them against the same brands, platforms, campaigns and shards (stores hold
 * their indexes)
 * and every timezone it knew still exists. */
static bool s_reuse_init(const struct load *ld)
{
    const config_t *old = ld->previous, *cfg = ld->cfg;
    if (!old || !old->sources || old->brand_count != cfg->brand_count ||
        old->platform_count != cfg->platform_count || old->campaign_count != cfg->campaign_count ||
        old->shard_count != cfg->shard_count)
        return false;
    for (size_t i = 0; i < cfg->shard_count; i++)
        if (strcmp(old->shards[i].name, cfg->shards[i].name) != 0)
            return false;
    for (size_t i = 0; i < cfg->brand_count; i++)
        if (!old->brands[i].name || !cfg->brands[i].name ||
            strcmp(old->brands[i].name, cfg->brands[i].name) != 0)
            return false;
    for (size_t i = 0; i < cfg->platform_count; i++)
        if (!old->platforms[i].name || !cfg->platforms[i].name ||
            strcmp(old->platforms[i].name, cfg->platforms[i].name) != 0)
            return false;
    for (size_t i = 0; i < cfg->campaign_count; i++)
        if (!old->campaigns[i].name || !cfg->campaigns[i].name ||
            strcmp(old->campaigns[i].name, cfg->campaigns[i].name) != 0)
            return false;
    for (size_t i = 0; i < old->timezone_count; i++)
        if (!config_zone_exists(old->timezones[i]))
            return false;
    return true;
}

struct include_walk {
    struct load *ld;
    struct text *out;         /* the main file, placeholders for its sources */
    const char *text;
    size_t copied;            /* of text, to out */
};

/* s_on_include makes an @include directly inside the stores list a source,
 * and leaves any other for libconfig to splice in. */
static bool s_on_include(void *arg, const config_scan_include_t *inc)
{
    struct include_walk *iw = arg;
    struct load *ld = iw->ld;
    if (!inc->name || strcmp(inc->key, config_scopes[S_STORE].key) != 0)
        return true;
    char name[PATH_MAX], buf[PATH_MAX];
    if (inc->name_len >= sizeof name)
        return true;
    memcpy(name, inc->name, inc->name_len);
    name[inc->name_len] = '\0';
    struct source *v = realloc(ld->sources, (ld->source_count + 1) * sizeof *v);
    if (!v)
        return false;
    ld->sources = v;
    struct source *src = &v[ld->source_count];
    /* libconfig 1.5 opens include_dir + "/" + name, even for a name from / */
    size_t size = strlen(ld->dir) + inc->name_len + 2;
    *src = (struct source){ .line = inc->line, .path = malloc(size),
                            .shown = strdup(config_file_name(&ld->top, name, buf, sizeof buf)) };
    if (!src->path || !src->shown) {
        free(src->path);
        free(src->shown);
        return false;
    }
    snprintf(src->path, size, "%s/%s", ld->dir, name);
    ld->source_count++;
    config_text_mem(iw->out, iw->text + iw->copied, inc->start - iw->copied);
    config_text_add(iw->out, "\"\\x01sluice-include %zu\"", ld->source_count - 1);
    iw->copied = inc->end;
    return true;
}

/* ------------------------------------------------------------ the load */

bool config_stores_split_main(struct load *ld, lc_config_t *lc)
{
    size_t len, cap = 0;
    char *text = NULL;
    struct text out = { 0 };
    bool ok = s_read_file(ld->path, &text, &cap, &len) && !memchr(text, '\0', len);
    struct include_walk iw = { ld, &out, text, 0 };
    if (ok)
        ok = config_scan_includes(text, len, s_on_include, &iw) && ld->source_count > 0;
    if (ok) {
        config_text_mem(&out, text + iw.copied, len - iw.copied);
        ok = !out.oom && config_read_string(lc, out.buf) == CONFIG_TRUE;
    }
    free(text);
    free(out.buf);
    return ok;
}

bool config_stores_load(struct load *ld, const setting_t *root)
{
    struct parser *p = &ld->top;
    const char *key = config_scopes[S_STORE].key;
    const setting_t *list = config_setting_get_member(root, key);
    int count = list ? config_setting_length(list) : 0;
    if (ld->source_count && (!list || !config_setting_is_list(list)))
        return false;
    if (list && !config_setting_is_list(list) && !(config_setting_is_array(list) && count == 0)) {
        char got[SHOW_MAX];
        config_report(p, list, NULL, key, "must be a list ( { ... }, { ... } ) (got %s)",
                      config_show(list, got, sizeof got));
        return true;
    }
    if ((count > 0 || ld->source_count) && !s_stores_segments(ld, list))
        return false;
    ld->reuse = s_reuse_init(ld);
    s_run(ld, list);
    if (ld->failed)
        return false;
    s_merge(ld);
    return true;
}

void config_stores_finish(struct load *ld)
{
    s_stats_count(ld);
    if (ld->source_count && !ld->only_len)  /* a partial load is no base for reuse */
        s_sources_keep(ld);
    if (ld->source_count && !ld->only_len && ld->cache_dir) /* nor for the cache */
        s_cache_write(ld);
}

void config_stores_free(struct load *ld)
{
    for (size_t i = 0; i < ld->segment_count; i++)
        if (ld->segments[i].run) {
            s_part_free(ld->segments[i].run);
            free(ld->segments[i].run);
        }
    free(ld->segments);
    for (size_t i = 0; i < ld->source_count; i++) {
        struct source *src = &ld->sources[i];
        for (size_t j = 0; j < src->piece_count; j++)
            s_part_free(&src->pieces[j]);
        free(src->pieces);
        free(src->text);
        free(src->path);
        free(src->shown);
    }
    free(ld->sources);
    free(ld->queue);
    for (size_t i = 0; i < ld->spare_count; i++)
        free(ld->spare[i].buf);
    for (size_t i = 0; i < ld->slab_count; i++)
        munmap(ld->slabs[i].map, ld->slabs[i].size + ((size_t)2 << 20));
}
