/* ctl_json.c - owns sluicectl's JSON output (see ctl_json.h). */
#include "ctl_json.h"

#include <math.h>

void ctl_json_init(ctl_json_t *j, FILE *out)
{
    *j = (ctl_json_t){ .out = out };
}

void ctl_json_escape(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\b': fputs("\\b", out); break;
        case '\f': fputs("\\f", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                fprintf(out, "\\u%04x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

/* s_value_begin writes the comma that separates this value from the one
 * before it in the same container (a value after a key needs none). */
static void s_value_begin(ctl_json_t *j)
{
    if (j->after_key) {
        j->after_key = false;
        return;
    }
    if (j->depth > 0 && j->depth <= CTL_JSON_MAX_DEPTH) {
        if (j->need_comma[j->depth - 1])
            fputc(',', j->out);
        j->need_comma[j->depth - 1] = true;
    }
}

static void s_open(ctl_json_t *j, char c)
{
    s_value_begin(j);
    fputc(c, j->out);
    if (j->depth < CTL_JSON_MAX_DEPTH)
        j->need_comma[j->depth] = false;
    j->depth++;
}

static void s_close(ctl_json_t *j, char c)
{
    fputc(c, j->out);
    if (j->depth > 0)
        j->depth--;
    if (j->depth == 0)
        fputc('\n', j->out);
}

void ctl_json_begin_object(ctl_json_t *j)
{
    s_open(j, '{');
}

void ctl_json_end_object(ctl_json_t *j)
{
    s_close(j, '}');
}

void ctl_json_begin_array(ctl_json_t *j)
{
    s_open(j, '[');
}

void ctl_json_end_array(ctl_json_t *j)
{
    s_close(j, ']');
}

void ctl_json_key(ctl_json_t *j, const char *key)
{
    s_value_begin(j);
    ctl_json_escape(j->out, key);
    fputc(':', j->out);
    j->after_key = true;
}

void ctl_json_string(ctl_json_t *j, const char *s)
{
    s_value_begin(j);
    if (s == NULL)
        fputs("null", j->out);
    else
        ctl_json_escape(j->out, s);
}

void ctl_json_int(ctl_json_t *j, long long v)
{
    s_value_begin(j);
    fprintf(j->out, "%lld", v);
}

void ctl_json_double(ctl_json_t *j, double v)
{
    if (!isfinite(v)) {
        ctl_json_null(j);
        return;
    }
    s_value_begin(j);
    fprintf(j->out, "%.6g", v);
}

void ctl_json_bool(ctl_json_t *j, bool v)
{
    s_value_begin(j);
    fputs(v ? "true" : "false", j->out);
}

void ctl_json_null(ctl_json_t *j)
{
    s_value_begin(j);
    fputs("null", j->out);
}

void ctl_json_raw(ctl_json_t *j, const char *json)
{
    s_value_begin(j);
    fputs(json != NULL ? json : "null", j->out);
}
