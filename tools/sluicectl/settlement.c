/* settlement.c - owns fetching a settlement report (see settlement.h). */
#include "settlement.h"

#include "clock.h"
#include "pool.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_POLL_MAX_MS 100         /* longest sleep: the give-up deadline is checked this often */

typedef struct fetch {
    const char *day;
    int32_t offset;
    settlement_report_t *out;
    bool up;                      /* the link is up */
    bool waiting;                 /* a page request is out */
    bool done;
    settlement_status_t status;   /* set with done */
    int tries;                    /* sends of the current page */
    uint64_t send_at_ms;          /* monotonic: not before (UNAVAILABLE's retry_after) */
    uint64_t progress_ms;         /* monotonic: last link-up or page */
    char token[ADAPTER_PAGE_TOKEN_MAX + 1];
} fetch_t;

static void s_finish(fetch_t *f, settlement_status_t st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void s_finish(fetch_t *f, settlement_status_t st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->out->error, sizeof f->out->error, fmt, ap);
    va_end(ap);
    f->status = st;
    f->done = true;
}

static void s_link(void *arg, bool up)
{
    fetch_t *f = arg;
    f->up = up;
    if (up)
        f->progress_ms = clock_mono_ms();
}

static bool s_append(settlement_report_t *r, const adapter_settlement_t *page)
{
    if (r->count + page->n_lines > r->cap) {
        size_t cap = r->cap ? r->cap : 256;
        while (cap < r->count + page->n_lines)
            cap *= 2;
        adapter_settlement_line_t *lines = realloc(r->lines, cap * sizeof *lines);
        if (lines == NULL)
            return false;
        r->lines = lines;
        r->cap = cap;
    }
    memcpy(r->lines + r->count, page->lines, page->n_lines * sizeof *page->lines);
    r->count += page->n_lines;
    r->total_lines = page->total_lines;
    r->total_fee_cents = page->total_fee_cents;
    r->final = page->final;
    return true;
}

/* s_retry: a page that had no answer is sent again, a few times. */
static void s_retry(fetch_t *f, const adapter_done_t *done)
{
    if (++f->tries < SETTLEMENT_TRIES) {
        f->send_at_ms = clock_mono_ms() + done->error.retry_after_ms;
        return;
    }
    const char *why = done->outcome == ADAPTER_ERROR ? done->error.message
                                                     : adapter_outcome_name(done->outcome);
    s_finish(f, done->outcome == ADAPTER_BAD_REPLY ? SETTLEMENT_FAILED : SETTLEMENT_UNREACHABLE,
             "no settlement page after %d tries: %s", f->tries, why);
}

static void s_page(void *arg, const adapter_done_t *done, const adapter_settlement_t *page)
{
    fetch_t *f = arg;
    f->waiting = false;
    if (f->done)  /* ADAPTER_CLOSED from adapter_close after giving up */
        return;
    if (done->outcome == ADAPTER_ERROR && done->error.code != ADAPTER_ERR_UNAVAILABLE &&
        done->error.code != ADAPTER_ERR_INTERNAL) {
        s_finish(f, SETTLEMENT_FAILED, "the gateway refused the settlement request: %s %s",
                 adapter_error_name(done->error.code), done->error.message);
        return;
    }
    if (done->outcome != ADAPTER_OK) {
        s_retry(f, done);
        return;
    }
    if (!s_append(f->out, page)) {
        s_finish(f, SETTLEMENT_FAILED, "out of memory");
        return;
    }
    f->progress_ms = clock_mono_ms();
    f->tries = 0;
    snprintf(f->token, sizeof f->token, "%s", page->next_page_token);
    if (f->token[0] == '\0')
        s_finish(f, SETTLEMENT_OK, "%s", "");
}

/* s_send asks for the next page when the link is up and nothing is out. */
static void s_send(fetch_t *f, adapter_t *a, uint64_t now)
{
    if (!f->up || f->waiting || f->done || now < f->send_at_ms)
        return;
    adapter_settlement_req_t req = { .day = f->day, .utc_offset_minutes = f->offset,
                                     .page_token = f->token, .max_lines = 0 };
    adapter_send_t st = adapter_settlement(a, &req, 0, s_page, f);
    if (st == ADAPTER_SEND_OK)
        f->waiting = true;
    else if (st != ADAPTER_SEND_UNREACHABLE && st != ADAPTER_SEND_FULL)
        s_finish(f, SETTLEMENT_FAILED, "cannot send a settlement request: %s",
                 adapter_send_name(st));
}

/* s_turn is one pass of the loop: sleep until something is due, then step. */
static bool s_turn(fetch_t *f, adapter_t *a)
{
    zmq_pollitem_t items[ADAPTER_POLL_MAX];
    size_t n = adapter_poll(a, items, ADAPTER_POLL_MAX);
    int timeout = adapter_timeout_ms(a, clock_mono_ms());
    if (timeout < 0 || timeout > S_POLL_MAX_MS)
        timeout = S_POLL_MAX_MS;
    if (zmq_poll(items, (int)n, timeout) < 0 && zmq_errno() != EINTR) {
        s_finish(f, SETTLEMENT_FAILED, "zmq_poll: %s", zmq_strerror(zmq_errno()));
        return false;
    }
    adapter_step(a, clock_mono_ms());
    return true;
}

settlement_status_t settlement_fetch(const config_platform_t *platform, void *zctx, const char *day,
                                     int32_t utc_offset_minutes, uint64_t wait_ms,
                                     settlement_report_t *out)
{
    memset(out, 0, sizeof *out);
    fetch_t f = { .day = day, .offset = utc_offset_minutes, .out = out,
                  .progress_ms = clock_mono_ms() };
    adapter_listener_t listener = { .link = s_link, .arg = &f };
    adapter_platform_t opened = pool_adapter_platform(platform);
    adapter_t *a = adapter_open(&opened, zctx, &listener);
    if (a == NULL) {
        snprintf(out->error, sizeof out->error, "cannot open adapter %s for %s", platform->adapter,
                 platform->endpoint);
        return SETTLEMENT_FAILED;
    }
    while (!f.done) {
        uint64_t now = clock_mono_ms();
        if (now - f.progress_ms >= wait_ms) {
            s_finish(&f, SETTLEMENT_UNREACHABLE, "%s in %llu ms (%s)",
                     f.up ? "no settlement page" : "no connection",
                     (unsigned long long)wait_ms, platform->endpoint);
            break;
        }
        s_send(&f, a, now);
        if (!f.done && !s_turn(&f, a))
            break;
    }
    /* a request still out gets ADAPTER_CLOSED here; f.done keeps it harmless */
    adapter_close(&a);
    return f.status;
}

void settlement_report_free(settlement_report_t *r)
{
    if (r == NULL)
        return;
    free(r->lines);
    memset(r, 0, sizeof *r);
}
