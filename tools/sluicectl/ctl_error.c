/* ctl_error.c - owns what sluicectl says went wrong (see ctl_error.h). */
#include "ctl_error.h"

#include "ctl_json.h"
#include "ctl_text.h"

#include <stdarg.h>

static char s_message[4096];

void ctl_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s_message, sizeof s_message, fmt, ap);
    va_end(ap);
    fputs("sluicectl: ", stderr);
    ctl_text_put_lines(stderr, s_message);
    fputc('\n', stderr);
}

const char *ctl_error_reason(int rc)
{
    static const char *const reasons[] = {
        [1] = "not_found",         [2] = "usage",
        [3] = "postgresql_unreachable", [4] = "postgresql_refused",
        [5] = "daemon_unreachable", [6] = "permission_denied",
        [7] = "daemon_refused",
    };
    return rc > 0 && (size_t)rc < sizeof reasons / sizeof reasons[0] ? reasons[rc] : NULL;
}

void ctl_error_json(FILE *out, int rc)
{
    ctl_json_t j;
    ctl_json_init(&j, out);
    ctl_json_begin_object(&j);
    ctl_json_key(&j, "error");
    ctl_json_begin_object(&j);
    ctl_json_key(&j, "exit");
    ctl_json_int(&j, rc);
    ctl_json_key(&j, "reason");
    ctl_json_string(&j, ctl_error_reason(rc));
    ctl_json_key(&j, "message");
    ctl_json_string(&j, s_message);
    ctl_json_end_object(&j);
    ctl_json_end_object(&j);
}
