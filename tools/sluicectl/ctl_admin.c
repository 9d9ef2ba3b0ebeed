/* ctl_admin.c - owns sluicectl pause, resume and reload (see ctl_admin.h). */
#include "ctl_admin.h"

#include "control.h"
#include "ctl_daemon.h"
#include "ctl_json.h"
#include "ctl_text.h"

#include <pwd.h>
#include <stdio.h>
#include <unistd.h>

/* s_who: "sluicectl USER", kept with the override (store_overrides.set_by). */
static void s_who(char *out, size_t len)
{
    const struct passwd *pw = getpwuid(getuid());
    snprintf(out, len, "sluicectl %.40s", pw != NULL ? pw->pw_name : "unknown");
}

void ctl_admin_json_answer(const ctl_t *ctl, const ProtobufCMessage *body)
{
    ctl_json_t j;
    ctl_json_init(&j, stdout);
    ctl_json_begin_object(&j);
    ctl_json_key(&j, "source");
    ctl_json_string(&j, "daemon");
    ctl_json_key(&j, "endpoint");
    ctl_json_string(&j, ctl->asked);
    const ProtobufCMessageDescriptor *d = body->descriptor;
    ctl_json_field_t fields[16];
    size_t n = 0;
    for (unsigned i = 0; i < d->n_fields && n < sizeof fields / sizeof fields[0]; i++)
        fields[n++] = (ctl_json_field_t){ d->fields[i].name, NULL };
    ctl_json_fields(&j, body, fields, n);
    ctl_json_end_object(&j);
}

static int s_pause_or_resume(ctl_t *ctl, char **argv, bool pause)
{
    uint32_t id;
    if (!ctl_parse_store_id(argv[0], &id))
        return CTL_EXIT_USAGE;
    char by[CONTROL_BY_MAX + 1];
    s_who(by, sizeof by);
    Sluice__Control__V1__PauseRequest p = SLUICE__CONTROL__V1__PAUSE_REQUEST__INIT;
    Sluice__Control__V1__ResumeRequest r = SLUICE__CONTROL__V1__RESUME_REQUEST__INIT;
    ctl_request_t req = SLUICE__CONTROL__V1__REQUEST__INIT;
    if (pause) {
        p.store_id = id;
        p.by = by;
        req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_PAUSE;
        req.pause = &p;
    } else {
        r.store_id = id;
        r.by = by;
        req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_RESUME;
        req.resume = &r;
    }
    ctl_reply_t *reply = NULL;
    int rc = ctl_daemon_call(ctl, &req, false, SLUICE__CONTROL__V1__REPLY__BODY_PAUSE, &reply);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (ctl->json) {
        ctl_admin_json_answer(ctl, &reply->pause->base);
    } else {
        ctl_text_put(stdout, reply->pause->message);
        fputc('\n', stdout);
    }
    sluice__control__v1__reply__free_unpacked(reply, NULL);
    return CTL_EXIT_OK;
}

int ctl_admin_pause(ctl_t *ctl, char **argv)
{
    return s_pause_or_resume(ctl, argv, true);
}

int ctl_admin_resume(ctl_t *ctl, char **argv)
{
    return s_pause_or_resume(ctl, argv, false);
}

int ctl_admin_reload(ctl_t *ctl, char **argv)
{
    (void)argv;
    Sluice__Control__V1__ReloadRequest body = SLUICE__CONTROL__V1__RELOAD_REQUEST__INIT;
    ctl_request_t req = SLUICE__CONTROL__V1__REQUEST__INIT;
    req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_RELOAD;
    req.reload = &body;
    ctl_reply_t *r = NULL;
    int rc = ctl_daemon_call(ctl, &req, false, SLUICE__CONTROL__V1__REPLY__BODY_RELOAD, &r);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (ctl->json) {
        ctl_admin_json_answer(ctl, &r->reload->base);
    } else {
        ctl_text_put_lines(stdout, r->reload->message);
        fputc('\n', stdout);
    }
    sluice__control__v1__reply__free_unpacked(r, NULL);
    return CTL_EXIT_OK;
}
