/* unit_tmp.h - where unit tests make their scratch files: under $TMPDIR
 * when it is set (CI and developers may point it elsewhere), else /tmp.
 * Header-only: each test is one translation unit. */
#ifndef SLUICE_UNIT_TMP_H
#define SLUICE_UNIT_TMP_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

/* unit_tmp_template writes "<tmp>/NAME-XXXXXX", the pattern mkdtemp and
 * mkstemp fill in; false when it does not fit in LEN. */
static inline bool unit_tmp_template(char *buf, size_t len, const char *name)
{
    const char *tmp = getenv("TMPDIR");
    int n = snprintf(buf, len, "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
    return n > 0 && (size_t)n < len;
}

#endif
