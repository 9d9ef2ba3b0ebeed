/* ctl_stats.c - owns sluicectl platforms and stats (see ctl_stats.h). */
#include "ctl_stats.h"

#include "ctl_daemon.h"
#include "ctl_error.h"
#include "ctl_format.h"
#include "ctl_json.h"
#include "ctl_text.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static void s_platforms_json(const ctl_t *ctl, const ctl_reply_t *reply)
{
    const Sluice__Control__V1__PlatformsReply *p = reply->platforms;
    ctl_json_t j;
    ctl_json_init(&j, stdout);
    ctl_json_begin_object(&j);
    ctl_json_key(&j, "source");
    ctl_json_string(&j, "daemon");
    ctl_json_key(&j, "endpoint");
    ctl_json_string(&j, ctl->asked);
    ctl_json_key(&j, "platforms");
    ctl_json_begin_array(&j);
    for (size_t i = 0; i < p->n_platforms; i++)
        ctl_json_message(&j, &p->platforms[i]->base);   /* each row as proto/control.proto has it */
    ctl_json_end_array(&j);
    ctl_json_end_object(&j);
}

#define S_PLATFORM_COLS 9
static void s_platforms_text(const ctl_t *ctl, const ctl_reply_t *reply)
{
    const Sluice__Control__V1__PlatformsReply *p = reply->platforms;
    ctl_daemon_source_text(ctl);
    printf("platforms: %zu\n", p->n_platforms);
    if (p->n_platforms == 0)
        return;
    static const char *const head[S_PLATFORM_COLS] = {
        "PLATFORM", "ADAPTER", "LINK", "BREAKER", "IN FLIGHT", "ERRORS (WINDOW)",
        "QUOTE P99", "DISPATCH P99", "SENT/REFUSED/FAILED"};
    char *text = calloc(p->n_platforms * S_PLATFORM_COLS, 64);
    const char **cells = calloc(p->n_platforms * S_PLATFORM_COLS, sizeof *cells);
    if (text == NULL || cells == NULL) {
        free(text);
        free(cells);
        ctl_error("out of memory");
        return;
    }
    for (size_t i = 0; i < p->n_platforms; i++) {
        const Sluice__Control__V1__Platform *r = p->platforms[i];
        char *t = text + i * S_PLATFORM_COLS * 64;
        const char **c = cells + i * S_PLATFORM_COLS;
        c[0] = r->name;
        c[1] = r->adapter;
        c[2] = r->link_up ? "up" : "down";
        c[3] = r->breaker;
        snprintf(t + 4 * 64, 64, "%" PRIu64 " of %" PRIu64, r->inflight, r->max_inflight);
        c[4] = t + 4 * 64;
        c[5] = ctl_format_ratio(r->window_failures, r->window_requests, t + 5 * 64, 64);
        c[6] = ctl_format_bound(r->quote_p99_ms, t + 6 * 64, 64);
        c[7] = ctl_format_bound(r->dispatch_p99_ms, t + 7 * 64, 64);
        snprintf(t + 8 * 64, 64, "%" PRIu64 "/%" PRIu64 "/%" PRIu64, r->dispatches, r->refusals,
                 r->failures);
        c[8] = t + 8 * 64;
    }
    ctl_text_table(S_PLATFORM_COLS, head, p->n_platforms, cells);
    free(cells);
    free(text);
}

int ctl_stats_platforms(ctl_t *ctl, char **argv)
{
    (void)argv;
    Sluice__Control__V1__PlatformsRequest body = SLUICE__CONTROL__V1__PLATFORMS_REQUEST__INIT;
    ctl_request_t req = SLUICE__CONTROL__V1__REQUEST__INIT;
    req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_PLATFORMS;
    req.platforms = &body;
    return ctl_daemon_read(ctl, &req, SLUICE__CONTROL__V1__REPLY__BODY_PLATFORMS,
                           s_platforms_json, s_platforms_text);
}


/* The stats answer groups the reply's fields (intake, commit) under names of
 * its own; the rest keep the proto's names. */
static const ctl_json_field_t s_intake[] = {
    { "submitted", NULL },
    { "submitted_per_second", "per_second_10s" },
    { "submitted_per_second_mean", "per_second_mean" },
};
static const ctl_json_field_t s_commit[] = {
    { "commit_p50_ms", "p50_ms" },
    { "commit_p99_ms", "p99_ms" },
    { "commit_mean_ms", "mean_ms" },
    { "batches", NULL },
    { "batch_size_mean", NULL },
};
static const ctl_json_field_t s_uptime[] = { { "uptime_ms", NULL } };
static const ctl_json_field_t s_queue[] = { { "queue_delay_ms", NULL } };
static const ctl_json_field_t s_state[] = {
    { "pending", NULL },
    { "database_up", NULL },
    { "reloads", NULL },
    { "reloads_refused", NULL },
};

#define S_N(table) (sizeof table / sizeof table[0])

static void s_stats_json(const ctl_t *ctl, const ctl_reply_t *r)
{
    const Sluice__Control__V1__StatsReply *st = r->stats;
    ctl_json_t j;
    ctl_json_init(&j, stdout);
    ctl_json_begin_object(&j);
    ctl_json_key(&j, "source");
    ctl_json_string(&j, "daemon");
    ctl_json_key(&j, "endpoint");
    ctl_json_string(&j, ctl->asked);
    ctl_json_fields(&j, &st->base, s_uptime, S_N(s_uptime));
    ctl_json_key(&j, "intake");
    ctl_json_begin_object(&j);
    ctl_json_fields(&j, &st->base, s_intake, S_N(s_intake));
    ctl_json_end_object(&j);
    /* one count per decision, the rejections by reason: a map, not the reply's list */
    ctl_json_key(&j, "decisions");
    ctl_json_begin_object(&j);
    ctl_json_key(&j, "ACCEPTED");
    ctl_json_uint(&j, st->accepted);
    ctl_json_key(&j, "DUPLICATE");
    ctl_json_uint(&j, st->duplicates);
    for (size_t i = 0; i < st->n_rejected; i++) {
        ctl_json_key(&j, st->rejected[i]->reason);
        ctl_json_uint(&j, st->rejected[i]->count);
    }
    ctl_json_end_object(&j);
    ctl_json_fields(&j, &st->base, s_queue, S_N(s_queue));
    ctl_json_key(&j, "commit");
    ctl_json_begin_object(&j);
    ctl_json_fields(&j, &st->base, s_commit, S_N(s_commit));
    ctl_json_end_object(&j);
    ctl_json_fields(&j, &st->base, s_state, S_N(s_state));
    ctl_json_end_object(&j);
}

static void s_stats_text(const ctl_t *ctl, const ctl_reply_t *r)
{
    const Sluice__Control__V1__StatsReply *st = r->stats;
    char a[64], b[64];
    ctl_daemon_source_text(ctl);
    ctl_text_field("up for", ctl_format_wait(st->uptime_ms, a, sizeof a));
    ctl_text_fieldf("intake", "%.1f orders/s over 10 s, %.1f/s since start, %" PRIu64 " in all",
                    st->submitted_per_second, st->submitted_per_second_mean, st->submitted);
    ctl_text_fieldf("database", "%s, %" PRIu64 " orders waiting for their commit",
                    st->database_up ? "up" : "DOWN", st->pending);
    ctl_text_fieldf("queue delay", "%.1f ms (last batch's oldest order)", st->queue_delay_ms);
    ctl_text_fieldf("commit latency", "p50 %s, p99 %s, mean %.2f ms",
                    ctl_format_bound(st->commit_p50_ms, a, sizeof a),
                    ctl_format_bound(st->commit_p99_ms, b, sizeof b), st->commit_mean_ms);
    ctl_text_fieldf("batches", "%" PRIu64 ", %.1f orders each on average", st->batches,
                    st->batch_size_mean);
    ctl_text_fieldf("reloads", "%" PRIu64 " applied, %" PRIu64 " refused", st->reloads,
                    st->reloads_refused);
    printf("decisions since start:\n");
    ctl_text_fieldf("  ACCEPTED", "%" PRIu64, st->accepted);
    ctl_text_fieldf("  DUPLICATE", "%" PRIu64 " (repeats answered with the first decision)",
                    st->duplicates);
    for (size_t i = 0; i < st->n_rejected; i++) {
        char label[64];
        snprintf(label, sizeof label, "  %s", st->rejected[i]->reason);
        ctl_text_fieldf(label, "%" PRIu64, st->rejected[i]->count);
    }
}

int ctl_stats_run(ctl_t *ctl, char **argv)
{
    (void)argv;
    Sluice__Control__V1__StatsRequest body = SLUICE__CONTROL__V1__STATS_REQUEST__INIT;
    ctl_request_t req = SLUICE__CONTROL__V1__REQUEST__INIT;
    req.body_case = SLUICE__CONTROL__V1__REQUEST__BODY_STATS;
    req.stats = &body;
    return ctl_daemon_read(ctl, &req, SLUICE__CONTROL__V1__REPLY__BODY_STATS, s_stats_json,
                           s_stats_text);
}
