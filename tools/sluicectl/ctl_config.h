/* ctl_config.h - owns how sluicectl reads the daemon's config file: whole,
 * or only the pieces that can hold one store (a 300,000-store config takes a
 * second or more to read whole); and, when the file does not load (a typo
 * someone is fixing on a running system), what it can still read of it, so
 * that support lookups and `reload` go on: the control endpoints and the
 * database as its daemon section sets them, the built-in defaults for what
 * it does not. */
#ifndef SLUICE_CTL_CONFIG_H
#define SLUICE_CTL_CONFIG_H

#include "config.h"

#include <stddef.h>

/* What sluicectl reads of a file that does not load. */
typedef struct ctl_fallback {
    config_t *defaults;        /* the built-in defaults: what an empty file gives */
    config_daemon_t daemon;    /* those, with the settings below where the file has them */
    char *control, *control_readonly, *database;  /* as the file sets them; NULL: not found */
} ctl_fallback_t;

/* ctl_config_fallback reads PATH's text for the top-level `daemon` group's
 * control, control_readonly and database, each a string, and fills OUT
 * (the caller clears it with ctl_config_fallback_clear). The rest of the
 * file is not parsed: its problem may be anywhere, in the daemon section
 * too. False only when out of memory or the defaults cannot be made. */
bool ctl_config_fallback(const char *path, ctl_fallback_t *out) __attribute__((warn_unused_result));
void ctl_config_fallback_clear(ctl_fallback_t *f);

/* ctl_config_daemon_settings finds those settings in TEXT (LEN bytes, a
 * config file's): each found one is malloc'ed into its pointer, unescaped
 * as libconfig does ("a" "b" is "ab"). Returns how many it found; no
 * allocation on a text without a daemon group. For unit tests too. */
size_t ctl_config_daemon_settings(const char *text, size_t len, char **control,
                                  char **control_readonly, char **database);

#endif
