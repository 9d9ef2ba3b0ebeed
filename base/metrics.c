/* metrics.c - owns Prometheus text exposition. */
#include "metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double metrics_bucket_le[METRICS_BUCKETS] = {
    0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

void metrics_observe_us(metrics_histogram_t *h, uint64_t us)
{
    double s = (double)us / 1e6;
    for (int i = 0; i < METRICS_BUCKETS; i++)
        if (s <= metrics_bucket_le[i]) {
            h->bucket[i]++;
            break;
        }
    h->count++;
    h->sum_seconds += s;
}

double metrics_quantile_seconds(const metrics_histogram_t *h, double q)
{
    if (h->count == 0)
        return 0;
    /* the rank of the quantile, at least the first observation */
    double rank = q * (double)h->count;
    uint64_t seen = 0;
    for (int i = 0; i < METRICS_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen > 0 && (double)seen >= rank)
            return metrics_bucket_le[i];
    }
    return INFINITY;
}

double metrics_mean_seconds(const metrics_histogram_t *h)
{
    return h->count ? h->sum_seconds / (double)h->count : 0;
}

static void s_add(metrics_page_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void s_add(metrics_page_t *p, const char *fmt, ...)
{
    if (p->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = p->cap - p->len;
        int n = vsnprintf(p->text ? p->text + p->len : NULL, p->text ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            p->oom = true;
            return;
        }
        if (p->text && (size_t)n < room) {
            p->len += (size_t)n;
            return;
        }
        size_t cap = p->cap ? p->cap * 2 : 16384;
        while (cap < p->len + (size_t)n + 1)
            cap *= 2;
        char *text = realloc(p->text, cap);
        if (!text) {
            p->oom = true;
            return;
        }
        p->text = text;
        p->cap = cap;
    }
}

void metrics_family(metrics_page_t *p, const char *name, const char *type, const char *help)
{
    s_add(p, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_sample(metrics_page_t *p, const char *name, const char *label, double value)
{
    if (label)
        s_add(p, "%s{%s} %.17g\n", name, label, value);
    else
        s_add(p, "%s %.17g\n", name, value);
}

void metrics_histogram(metrics_page_t *p, const char *name, const char *label,
                       const metrics_histogram_t *h)
{
    const char *sep = label ? "," : "";
    label = label ? label : "";
    uint64_t cumulative = 0;
    for (int i = 0; i < METRICS_BUCKETS; i++) {
        cumulative += h->bucket[i];
        s_add(p, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, label, sep, metrics_bucket_le[i],
              (unsigned long long)cumulative);
    }
    s_add(p, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, label, sep, (unsigned long long)h->count);
    if (*label) {
        s_add(p, "%s_sum{%s} %.9g\n%s_count{%s} %llu\n", name, label, h->sum_seconds, name, label,
              (unsigned long long)h->count);
    } else {
        s_add(p, "%s_sum %.9g\n%s_count %llu\n", name, h->sum_seconds, name,
              (unsigned long long)h->count);
    }
}

void metrics_counter(metrics_page_t *p, const char *name, const char *help, double value)
{
    metrics_family(p, name, "counter", help);
    metrics_sample(p, name, NULL, value);
}

void metrics_gauge(metrics_page_t *p, const char *name, const char *help, double value)
{
    metrics_family(p, name, "gauge", help);
    metrics_sample(p, name, NULL, value);
}

char *metrics_page_take(metrics_page_t *p, size_t *len)
{
    if (p->oom || !p->text) {
        free(p->text);
        memset(p, 0, sizeof *p);
        return NULL;
    }
    char *text = p->text;
    *len = p->len;
    memset(p, 0, sizeof *p);
    return text;
}
