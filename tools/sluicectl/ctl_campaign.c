/* ctl_campaign.c - owns sluicectl campaign (see ctl_campaign.h). */
#include "ctl_campaign.h"

#include "control.h"
#include "ctl_admin.h"
#include "ctl_daemon.h"
#include "ctl_error.h"
#include "ctl_json.h"
#include "ctl_text.h"
#include "order.h"

#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void s_campaign_json(const ctl_t *ctl, const ctl_reply_t *reply)
{
    const Sluice__Control__V1__CampaignReply *c = reply->campaign;
    ctl_json_t j;
    ctl_json_init(&j, stdout);
    ctl_json_begin_object(&j);
    ctl_json_key(&j, "source");
    ctl_json_string(&j, "daemon");
    ctl_json_key(&j, "endpoint");
    ctl_json_string(&j, ctl->asked);
    ctl_json_key(&j, "campaigns");
    ctl_json_begin_array(&j);
    for (size_t i = 0; i < c->n_campaigns; i++)
        ctl_json_message(&j, &c->campaigns[i]->base);  /* as proto/control.proto has it */
    ctl_json_end_array(&j);
    ctl_json_end_object(&j);
}

/* s_time_text writes unix MS as "2027-02-10 02:00:00 UTC". */
static const char *s_time_text(uint64_t ms, char *out, size_t len)
{
    time_t t = (time_t)(ms / 1000u);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(out, len, "%Y-%m-%d %H:%M:%S UTC", &tm))
        snprintf(out, len, "%" PRIu64 " ms", ms);
    return out;
}

static void s_one_text(const Sluice__Control__V1__Campaign *c)
{
    char a[48], b[48];
    ctl_text_field("campaign", c->name);
    ctl_text_field("  state", c->state);
    if (c->override_paused)
        ctl_text_fieldf("  paused", "yes, by sluicectl override%s%s (config says paused = %s)",
                        c->override_by[0] ? ", set by " : "", c->override_by,
                        c->config_paused ? "true" : "false");
    else
        ctl_text_fieldf("  paused", "%s (config says paused = %s)", c->paused ? "yes" : "no",
                        c->config_paused ? "true" : "false");
    if (c->starts_at_ms || c->ends_at_ms)
        ctl_text_fieldf("  window", "%s to %s",
                        c->starts_at_ms ? s_time_text(c->starts_at_ms, a, sizeof a) : "always",
                        c->ends_at_ms ? s_time_text(c->ends_at_ms, b, sizeof b) : "no end");
    ctl_text_fieldf("  store share", "%g of each store's prep time in its max_wait window"
                    " (%" PRIu32 " store%s set their own)",
                    c->store_share, c->store_share_overrides,
                    c->store_share_overrides == 1 ? "" : "s");
    ctl_text_fieldf("  pace", "%" PRIu32 " orders/s, %.1f tokens now", c->orders_per_second,
                    c->pace_tokens);
    if (c->budget)
        ctl_text_fieldf("  budget", "%" PRIu64 " of %" PRIu64 " placed, %" PRIu64 " left",
                        c->placed, c->budget, c->budget_left);
    else
        ctl_text_fieldf("  budget", "%" PRIu64 " placed, no budget", c->placed);
    if (c->per_store_daily)
        ctl_text_fieldf("  per store", "%" PRIu32 " a day (the store's local day)",
                        c->per_store_daily);
    else
        ctl_text_field("  per store", "no daily cap");
    printf("  refused since start, by limit:\n");
    for (size_t i = 0; i < c->n_refused; i++) {
        char label[64];
        snprintf(label, sizeof label, "    %s", c->refused[i]->limit);
        ctl_text_fieldf(label, "%" PRIu64, c->refused[i]->count);
    }
    if (c->share_full_stores == 0) {
        ctl_text_field("  share full at", "no store");
        return;
    }
    printf("  share full at     %" PRIu32 " store%s (as the last check there found):",
           c->share_full_stores, c->share_full_stores == 1 ? "" : "s");
    for (size_t i = 0; i < c->n_share_full; i++)
        printf(" %" PRIu32, c->share_full[i]);
    if (c->n_share_full < c->share_full_stores)
        printf(" ...");
    fputc('\n', stdout);
}

static void s_campaign_text(const ctl_t *ctl, const ctl_reply_t *reply)
{
    const Sluice__Control__V1__CampaignReply *c = reply->campaign;
    ctl_daemon_source_text(ctl);
    if (c->n_campaigns == 0)
        printf("campaigns: none in the running configuration\n");
    for (size_t i = 0; i < c->n_campaigns; i++) {
        if (i > 0)
            fputc('\n', stdout);
        s_one_text(c->campaigns[i]);
    }
}

static int s_read(ctl_t *ctl, const char *name)
{
    Sluice__Control__V1__CampaignRequest body = SLUICE__CONTROL__V1__CAMPAIGN_REQUEST__INIT;
    body.name = (char *)(name ? name : "");
    ctl_request_t req = SLUICE__CONTROL__V1__REQUEST__INIT;
    req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_CAMPAIGN;
    req.campaign = &body;
    return ctl_daemon_read(ctl, &req, SLUICE__CONTROL__V1__REPLY__BODY_CAMPAIGN, s_campaign_json,
                           s_campaign_text);
}

static int s_pause_or_resume(ctl_t *ctl, const char *name, bool pause)
{
    char by[CONTROL_BY_MAX + 1];
    const struct passwd *pw = getpwuid(getuid());
    snprintf(by, sizeof by, "sluicectl %.40s", pw != NULL ? pw->pw_name : "unknown");
    Sluice__Control__V1__CampaignPauseRequest p = SLUICE__CONTROL__V1__CAMPAIGN_PAUSE_REQUEST__INIT;
    Sluice__Control__V1__CampaignResumeRequest r =
        SLUICE__CONTROL__V1__CAMPAIGN_RESUME_REQUEST__INIT;
    ctl_request_t req = SLUICE__CONTROL__V1__REQUEST__INIT;
    if (pause) {
        p.name = (char *)name;
        p.by = by;
        req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_CAMPAIGN_PAUSE;
        req.campaign_pause = &p;
    } else {
        r.name = (char *)name;
        r.by = by;
        req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_CAMPAIGN_RESUME;
        req.campaign_resume = &r;
    }
    ctl_reply_t *reply = NULL;
    int rc = ctl_daemon_call(ctl, &req, false, SLUICE__CONTROL__V1__REPLY__BODY_CAMPAIGN_PAUSE,
                             &reply);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (ctl->json) {
        ctl_admin_json_answer(ctl, &reply->campaign_pause->base);
    } else {
        ctl_text_put(stdout, reply->campaign_pause->message);
        fputc('\n', stdout);
    }
    sluice__control__v1__reply__free_unpacked(reply, NULL);
    return CTL_EXIT_OK;
}

/* s_name_ok says so when NAME is no campaign's name. */
static bool s_name_ok(const char *name)
{
    if (order_id_valid(name))
        return true;
    ctl_error("\"%s\" is not a campaign name (1..%d of A-Z a-z 0-9 . _ : -)", name,
              ORDER_ID_MAX);
    return false;
}

int ctl_campaign_run(ctl_t *ctl, char **argv)
{
    size_t n = 0;
    while (argv[n] != NULL)
        n++;
    bool write = n == 2 && (strcmp(argv[0], "pause") == 0 || strcmp(argv[0], "resume") == 0);
    if (n > 2 || (n == 2 && !write)) {
        ctl_error("usage: sluicectl [options] campaign [NAME]\n"
                  "       sluicectl [options] campaign pause|resume NAME");
        return CTL_EXIT_USAGE;
    }
    const char *name = write ? argv[1] : argv[0];
    if (name != NULL && !s_name_ok(name))
        return CTL_EXIT_USAGE;
    if (write)
        return s_pause_or_resume(ctl, name, strcmp(argv[0], "pause") == 0);
    return s_read(ctl, name);
}
