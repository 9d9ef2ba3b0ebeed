/* ctl_config.c - owns how sluicectl reads the daemon's config (see ctl_config.h). */
#include "ctl_config.h"

#include "ctl.h"
#include "ctl_error.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the whole file, or the pieces that can hold one store ---- */

/* ctl_load_config reads the config; with ONLY_STORE (not 0) only the pieces of
 * big store files that can hold that store (config_load_options_t). A file
 * that cannot be read at all is fatal (false) when the connection string
 * must come from it or the user named the file. One that is there but does
 * not load is said, with every FILE:LINE, and the run goes on with what
 * ctl_config_fallback reads of it (unless REQUIRED_WHOLE: reconcile needs
 * its platforms); its problems are kept in config_errors, one line for the
 * answer. */
bool ctl_load_config(ctl_t *ctl, bool required, uint32_t only_store)
{
    const config_load_options_t opts = { .only_store = only_store };
    ctl->daemon = NULL;
    ctl_config_fallback_clear(&ctl->fallback);
    free(ctl->config_errors);
    ctl->config_errors = NULL;
    ctl->cfg = config_load_with(ctl->config_path, &opts, &ctl->config_errors);
    ctl->cfg_only_store = only_store;
    if (ctl->cfg != NULL) {
        ctl->daemon = &ctl->cfg->daemon;
        return true;
    }
    if (ctl->config_errors == NULL)
        ctl->config_errors = strdup("cannot be read");
    FILE *f = fopen(ctl->config_path, "r");
    bool exists = f != NULL;
    if (f != NULL)
        fclose(f);
    bool fatal = ctl->required_whole || !exists;
    if (fatal && (required || ctl->config_explicit)) {
        ctl_error("failed to read config %s:\n%s%s", ctl->config_path,
                  ctl->config_errors ? ctl->config_errors : "",
                  ctl->database == NULL ? "(or name the database with --database CONNINFO)" : "");
        return false;
    }
    if (exists && !ctl->required_whole) {
        if (!ctl_config_fallback(ctl->config_path, &ctl->fallback)) {
            ctl_error("out of memory");
            return false;
        }
        ctl->daemon = &ctl->fallback.daemon;
        fprintf(stderr, "sluicectl: config %s does not load (a running sluiced keeps the config "
                        "it read before):\n%s", ctl->config_path, ctl->config_errors);
        fprintf(stderr, "sluicectl: going on with daemon.control %s, daemon.control_readonly %s "
                        "and daemon.database %s\n",
                ctl->fallback.control ? "from the file" : "at its default",
                ctl->fallback.control_readonly ? "from the file" : "at its default",
                ctl->fallback.database ? "from the file" : "at its default");
    }
    /* one line for the answer */
    if (ctl->config_errors != NULL)
        ctl->config_errors[strcspn(ctl->config_errors, "\n")] = '\0';
    return true;
}

const config_store_t *ctl_find_store(const config_t *cfg, uint32_t id)
{
    if (cfg == NULL)
        return NULL;
    for (size_t i = 0; i < cfg->store_count; i++)
        if (cfg->stores[i].id == id)
            return &cfg->stores[i];
    return NULL;
}

/* ---- what can still be read of a file that does not load ---- */

/* A token of libconfig's text, as its scanner (libconfig 1.5) cuts it. */
typedef enum tok_kind { TOK_END, TOK_NAME, TOK_STRING, TOK_PUNCT, TOK_OTHER } tok_kind_t;

typedef struct tok {
    tok_kind_t kind;
    size_t start, end;
} tok_t;

/* s_skip: past white space and comments (#, //, slash-star) from AT. */
static size_t s_skip(const char *t, size_t len, size_t at)
{
    while (at < len) {
        if (isspace((unsigned char)t[at])) {
            at++;
        } else if (t[at] == '#' || (t[at] == '/' && at + 1 < len && t[at + 1] == '/')) {
            while (at < len && t[at] != '\n')
                at++;
        } else if (t[at] == '/' && at + 1 < len && t[at + 1] == '*') {
            const char *end = at + 2 < len ? memmem(t + at + 2, len - at - 2, "*/", 2) : NULL;
            at = end != NULL ? (size_t)(end - t) + 2 : len;
        } else {
            break;
        }
    }
    return at;
}

static bool s_name_char(char c, bool first)
{
    return isalpha((unsigned char)c) || c == '*' ||
           (!first && (isdigit((unsigned char)c) || c == '-' || c == '_'));
}

/* s_next reads the token at *AT and moves past it. A string that does not
 * end, like the end of the text, is TOK_END. */
static tok_t s_next(const char *t, size_t len, size_t *at)
{
    size_t p = s_skip(t, len, *at);
    tok_t tok = { TOK_END, p, p };
    if (p >= len) {
        *at = len;
        return tok;
    }
    if (t[p] == '"') {
        for (p++; p < len && t[p] != '"'; p++)
            if (t[p] == '\\')
                p++;
        if (p >= len) {
            *at = len;
            return tok;
        }
        tok.kind = TOK_STRING;
        p++;
    } else if (t[p] == '@') {  /* @include "file": a line of its own */
        while (p < len && t[p] != '\n')
            p++;
        tok.kind = TOK_OTHER;
    } else if (s_name_char(t[p], true)) {
        while (p < len && s_name_char(t[p], false))
            p++;
        tok.kind = TOK_NAME;
    } else if (strchr("=:;,{}()[]", t[p]) != NULL) {
        p++;
        tok.kind = TOK_PUNCT;
    } else {  /* a number, true, ...: up to the next delimiter */
        while (p < len && !isspace((unsigned char)t[p]) && strchr("=:;,{}()[]\"#", t[p]) == NULL)
            p++;
        tok.kind = TOK_OTHER;
        if (p == tok.start)
            p++;
    }
    tok.end = p;
    *at = p;
    return tok;
}

static bool s_is(const char *t, tok_t tok, tok_kind_t kind, const char *text)
{
    size_t n = strlen(text);
    return tok.kind == kind && tok.end - tok.start == n && memcmp(t + tok.start, text, n) == 0;
}

/* s_unescape appends the string token TOK (quotes included) to OUT at *N,
 * unescaped as libconfig does. OUT holds at least the token's length. */
static void s_unescape(const char *t, tok_t tok, char *out, size_t *n)
{
    for (size_t p = tok.start + 1; p + 1 < tok.end; p++) {
        char c = t[p];
        if (c == '\\' && p + 2 < tok.end) {
            c = t[++p];
            if (c == 'n') {
                c = '\n';
            } else if (c == 't') {
                c = '\t';
            } else if (c == 'r') {
                c = '\r';
            } else if (c == 'f') {
                c = '\f';
            } else if (c == 'x' && p + 3 < tok.end && isxdigit((unsigned char)t[p + 1]) &&
                       isxdigit((unsigned char)t[p + 2])) {
                char hex[3] = { t[p + 1], t[p + 2], '\0' };
                c = (char)strtol(hex, NULL, 16);
                p += 2;
            }
        }
        out[(*n)++] = c;
    }
    out[*n] = '\0';
}

/* s_value reads the value of a setting after its '=' or ':' at *AT: one or
 * more adjacent strings, joined (malloc'ed); NULL when it is no string. */
static char *s_value(const char *t, size_t len, size_t *at)
{
    size_t mark = *at, total = 0;
    tok_t tok;
    while ((tok = s_next(t, len, at)).kind == TOK_STRING)
        total += tok.end - tok.start;
    *at = mark;
    if (total == 0)
        return NULL;
    char *out = malloc(total + 1);
    if (out == NULL)
        return NULL;
    size_t n = 0;
    for (;;) {
        mark = *at;
        tok = s_next(t, len, at);
        if (tok.kind != TOK_STRING)
            break;
        s_unescape(t, tok, out, &n);
    }
    *at = mark;
    return out;
}

size_t ctl_config_daemon_settings(const char *t, size_t len, char **control,
                                  char **control_readonly, char **database)
{
    struct { const char *name; char **value; } wanted[] = {
        { "control", control }, { "control_readonly", control_readonly }, { "database", database },
    };
    size_t at = 0, found = 0;
    int depth = 0;
    bool in_daemon = false;
    tok_t prev = { TOK_END, 0, 0 }, tok;
    while ((tok = s_next(t, len, &at)).kind != TOK_END) {
        if (tok.kind == TOK_PUNCT && strchr("{([", t[tok.start]) != NULL) {
            depth++;
        } else if (tok.kind == TOK_PUNCT && strchr("})]", t[tok.start]) != NULL) {
            if (--depth <= 0 && in_daemon)
                break;  /* the end of the daemon group */
            depth = depth < 0 ? 0 : depth;
        } else if (tok.kind == TOK_PUNCT && (t[tok.start] == '=' || t[tok.start] == ':') &&
                   prev.kind == TOK_NAME) {
            if (!in_daemon && depth == 0 && s_is(t, prev, TOK_NAME, "daemon")) {
                size_t mark = at;
                if (s_is(t, s_next(t, len, &at), TOK_PUNCT, "{")) {
                    in_daemon = true;
                    depth = 1;
                    prev = (tok_t){ TOK_END, 0, 0 };
                    continue;
                }
                at = mark;
            } else if (in_daemon && depth == 1) {
                for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++)
                    if (*wanted[i].value == NULL && s_is(t, prev, TOK_NAME, wanted[i].name) &&
                        (*wanted[i].value = s_value(t, len, &at)) != NULL)
                        found++;
            }
        }
        prev = tok;
    }
    return found;
}

bool ctl_config_fallback(const char *path, ctl_fallback_t *out)
{
    memset(out, 0, sizeof *out);
    char *errors = NULL;
    const config_load_options_t opts = { .only_store = CONFIG_NO_STORE };
    out->defaults = config_load_with("/dev/null", &opts, &errors);
    free(errors);
    if (out->defaults == NULL)
        return false;
    out->daemon = out->defaults->daemon;
    FILE *f = fopen(path, "r");
    char *text = NULL;
    size_t len = 0;
    if (f != NULL) {
        if (fseek(f, 0, SEEK_END) == 0) {
            long size = ftell(f);
            if (size > 0 && fseek(f, 0, SEEK_SET) == 0 && (text = malloc((size_t)size)) != NULL)
                len = fread(text, 1, (size_t)size, f);
        }
        fclose(f);
    }
    if (text != NULL)
        ctl_config_daemon_settings(text, len, &out->control, &out->control_readonly,
                                   &out->database);
    free(text);
    if (out->control != NULL)
        out->daemon.control = out->control;
    if (out->control_readonly != NULL)
        out->daemon.control_readonly = out->control_readonly;
    if (out->database != NULL)
        out->daemon.database = out->database;
    return true;
}

void ctl_config_fallback_clear(ctl_fallback_t *f)
{
    config_destroy(&f->defaults);
    free(f->control);
    free(f->control_readonly);
    free(f->database);
    memset(f, 0, sizeof *f);
}
