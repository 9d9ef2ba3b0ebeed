/* log.h - logging to stderr with syslog priority prefixes ("<3>") that
 * journald turns into priorities. */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

#include <stdbool.h>

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

#endif
