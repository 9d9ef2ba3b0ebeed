/* log.c - owns the daemon's log output and its rate limiters. */
#include "log.h"

#include "clock.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

static enum log_level log_threshold = LOG_LEVEL_INFO;

/* The prefix is read by every thread that logs and set, rarely, by the
 * main thread: two buffers, the one in use named by an atomic index, so a
 * line never reads a prefix being written (a second change comes long
 * after any line that read the first). -1: none. */
static char log_prefixes[2][LOG_PREFIX_MAX];
static atomic_int log_prefix_at = -1;

void log_set_level(enum log_level level)
{
    log_threshold = level;
}

void log_set_prefix(const char *prefix)
{
    if (!prefix || !prefix[0]) {
        atomic_store(&log_prefix_at, -1);
        return;
    }
    int next = atomic_load(&log_prefix_at) == 0 ? 1 : 0;
    snprintf(log_prefixes[next], sizeof log_prefixes[next], "%s", prefix);
    atomic_store(&log_prefix_at, next);
}

/* s_write formats one line with the node's prefix (a shard's name and role,
 * when it has one) and an optional SUFFIX, and writes it with one fprintf,
 * so that lines from a crash are never interleaved. */
static void s_write(enum log_level level, const char *suffix, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static void s_write(enum log_level level, const char *suffix, const char *fmt, va_list ap)
{
    char line[2048];
    vsnprintf(line, sizeof line, fmt, ap);
    int at = atomic_load(&log_prefix_at);
    fprintf(stderr, "<%d>%s%s%s\n", (int)level, at >= 0 ? log_prefixes[at] : "", line, suffix);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level > log_threshold)
        return;
    va_list ap;
    va_start(ap, fmt);
    s_write(level, "", fmt, ap);
    va_end(ap);
}

/* s_limited decides for LIMITER at NOW_MS; true when the line is to be
 * written, with SUFFIX (LEN bytes) saying what the last interval left out. */
static bool s_limited(log_limiter_t *l, uint64_t now_ms, char *suffix, size_t len)
{
    suffix[0] = '\0';
    if (l->started && now_ms - l->window_start_ms < l->interval_ms) {
        l->suppressed++;
        return false;
    }
    if (l->suppressed > 0) {
        uint64_t over_ms = now_ms - l->window_start_ms;
        snprintf(suffix, len, " (%" PRIu64 " more like this not logged in the %" PRIu64
                 " s before)", l->suppressed, (over_ms + 999) / 1000);
    }
    l->started = true;
    l->window_start_ms = now_ms;
    l->suppressed = 0;
    return true;
}

static void s_log_limited(log_limiter_t *l, uint64_t now_ms, enum log_level level,
                          const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));
static void s_log_limited(log_limiter_t *l, uint64_t now_ms, enum log_level level,
                          const char *fmt, va_list ap)
{
    if (level > log_threshold)
        return;
    char suffix[96];
    if (s_limited(l, now_ms, suffix, sizeof suffix))
        s_write(level, suffix, fmt, ap);
}

void log_limited(log_limiter_t *limiter, enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_log_limited(limiter, clock_mono_ms(), level, fmt, ap);
    va_end(ap);
}

void log_limited_at(log_limiter_t *limiter, uint64_t now_ms, enum log_level level,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_log_limited(limiter, now_ms, level, fmt, ap);
    va_end(ap);
}
