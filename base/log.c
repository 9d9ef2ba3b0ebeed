/* log.c - owns the daemon's log output. */
#include "log.h"

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

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level > log_threshold)
        return;
    /* One fprintf per line so lines from a crash are never interleaved. */
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    int at = atomic_load(&log_prefix_at);
    fprintf(stderr, "<%d>%s%s\n", (int)level, at >= 0 ? log_prefixes[at] : "", line);
}
