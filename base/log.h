/* log.h - logging to stderr with syslog priority prefixes ("<3>") that
 * journald turns into priorities, and the rate limiter every log line on a
 * per-request path goes through, so that a hostile or broken client cannot
 * fill the journal. */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_LEVEL_ERR = 3, LOG_LEVEL_WARNING = 4, LOG_LEVEL_NOTICE = 5,
                 LOG_LEVEL_INFO = 6, LOG_LEVEL_DEBUG = 7 };

#define LOG_PREFIX_MAX 160

/* log_set_level drops messages less important than LEVEL. */
void log_set_level(enum log_level level);
/* log_set_prefix puts PREFIX (copied; NULL or "": none) at the start of every
 * line from now on, after the priority: a node of a shard says its shard
 * and role there ("<6>[shard a active] ..."). Call it from one thread. */
void log_set_prefix(const char *prefix);
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...)   log_msg(LOG_LEVEL_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_notice(...)  log_msg(LOG_LEVEL_NOTICE, __VA_ARGS__)
#define log_info(...)    log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)   log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

/* One log line that a request can cause: at most one is written per
 * interval, the others of the interval are counted, and the first line of a
 * later interval says how many were left out and over how long:
 *   "<5>control: refused a request on ...: ... (12345 more like this not
 *    logged in the 10 s before)"
 * One limiter per call site (a static in the function), used from one
 * thread. A count left when the lines stop is said with the next one. */
typedef struct log_limiter {
    uint64_t interval_ms;
    uint64_t window_start_ms;  /* when the line that opened this interval was written */
    uint64_t suppressed;       /* lines of this interval not written */
    bool started;              /* a line was written */
} log_limiter_t;

#define LOG_LIMIT_INTERVAL_MS 10000
#define LOG_LIMITER_INIT { .interval_ms = LOG_LIMIT_INTERVAL_MS }

/* log_limited writes or counts one line through LIMITER (monotonic clock). */
void log_limited(log_limiter_t *limiter, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* log_limited_at is log_limited at NOW_MS (monotonic ms): for tests. */
void log_limited_at(log_limiter_t *limiter, uint64_t now_ms, enum log_level level,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
