/* metrics.h - owns Prometheus text exposition: latency histograms with fixed
 * buckets, and a text page built from counters and gauges. No per-store
 * labels: 300,000 stores would make every scrape a megabyte of series. */
#ifndef SLUICE_METRICS_H
#define SLUICE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_BUCKETS 15

typedef struct metrics_histogram {
    uint64_t bucket[METRICS_BUCKETS];  /* observations <= metrics_bucket_le[i] */
    uint64_t count;
    double sum_seconds;
} metrics_histogram_t;

/* Upper bounds in seconds, 0.25 ms to 10 s. */
extern const double metrics_bucket_le[METRICS_BUCKETS];

void metrics_observe_us(metrics_histogram_t *h, uint64_t us);

/* metrics_quantile_seconds: the upper bound of the bucket holding quantile
 * Q (0..1) of H's observations; 0 when H is empty, INFINITY when it lies
 * past the last bucket. A bound, not an interpolation: "p99 <= this". */
double metrics_quantile_seconds(const metrics_histogram_t *h, double q);

/* metrics_mean_seconds: the mean of H's observations, 0 when empty. */
double metrics_mean_seconds(const metrics_histogram_t *h);

typedef struct metrics_page {
    char *text;
    size_t len, cap;
    bool oom;
} metrics_page_t;

/* Each writer appends one metric family (HELP, TYPE, samples). LABEL is a
 * label set without braces ("reason=\"STORE_BUSY\"") or NULL; a family with
 * several label sets is written by metrics_family once, then samples. */
void metrics_family(metrics_page_t *p, const char *name, const char *type, const char *help);
void metrics_sample(metrics_page_t *p, const char *name, const char *label, double value);
void metrics_histogram(metrics_page_t *p, const char *name, const char *label,
                       const metrics_histogram_t *h);
void metrics_counter(metrics_page_t *p, const char *name, const char *help, double value);
void metrics_gauge(metrics_page_t *p, const char *name, const char *help, double value);

/* metrics_page_take hands the text over (NULL when out of memory). */
char *metrics_page_take(metrics_page_t *p, size_t *len);

#endif
