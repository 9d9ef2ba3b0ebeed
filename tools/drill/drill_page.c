/* drill_page.c - owns sluice-drill's report files: report.txt and
 * report.json (drill_report.c prints them) and report.html, one page with no
 * scripts and no network fetches: the figures as tables and the charts an
 * operator asks for after a giveaway, inline SVG, with the chaos marked. */
#include "drill_report.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SVG_W 940
#define SVG_L 64 /* left margin: the y axis's labels */
#define SVG_R 16
#define SVG_PH 200 /* plot height */
#define SVG_B 46   /* bottom: the time axis, real seconds over the simulated clock */
#define LANE_H 12  /* a lane of chaos labels above the plot */
#define LANES_MAX 4
#define CHAR_W 5.6 /* a label character's width at font-size 10, about */
#define HEAT_ROW_H 16
#define HEAT_L 190           /* the heat map's left margin: the stores' names */
#define HIST_BINS_MAX 48     /* the histogram's bins, those for beyond its ends included */
#define HIST_EARLY_MIN -60.0 /* simulated minutes: its range at most */
#define HIST_LATE_MIN 90.0

/* ---- text helpers ---- */

static void s_esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else if (*s == '"')
            fputs("&quot;", f);
        else
            fputc(*s, f);
    }
}

/* s_num writes V with thousands separators (1,027,769). */
static void s_num(FILE *f, int64_t v)
{
    char digits[32], out[48];
    int n = snprintf(digits, sizeof digits, "%" PRId64, v < 0 ? -v : v), o = 0;
    if (v < 0)
        out[o++] = '-';
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
    fputs(out, f);
}

static void s_row_num(FILE *f, const char *label, int64_t v, int64_t of)
{
    fputs("<tr><td>", f);
    s_esc(f, label);
    fputs("</td><td class=\"n\">", f);
    s_num(f, v);
    fputs("</td><td class=\"n\">", f);
    if (of > 0)
        fprintf(f, "%.1f%%", 100.0 * (double)v / (double)of);
    fputs("</td></tr>\n", f);
}

/* s_axis_label writes V compactly: 1200 as 1.2k, 0.25 as 0.25. */
static void s_axis_label(char *buf, size_t len, double v)
{
    if (fabs(v) >= 10000)
        snprintf(buf, len, "%gk", v / 1000);
    else
        snprintf(buf, len, "%g", v);
}

/* ---- the time frame every timeline chart shares ---- */

typedef struct {
    const drill_report_t *r;
    size_t n;                  /* seconds on the time axis */
    double pw;                 /* the plot's width */
    int lanes;                 /* lanes of chaos labels */
    int lane[DRILL_CHAOS_MAX]; /* per chaos entry; -1: its number only */
} frame_t;

static double s_x(const frame_t *fr, double t)
{
    return SVG_L + fr->pw * t / (fr->n > 1 ? (double)(fr->n - 1) : 1);
}

static void s_frame(frame_t *fr, const drill_report_t *r)
{
    fr->r = r;
    fr->n = r->sec_count;
    fr->pw = SVG_W - SVG_L - SVG_R;
    double from[DRILL_CHAOS_MAX], to[DRILL_CHAOS_MAX];
    for (size_t i = 0; i < r->chaos_count; i++) {
        char label[64];
        drill_report_chaos_label(r, i, label, sizeof label);
        from[i] = s_x(fr, r->chaos[i].at_s);
        /* the label's number, a space and its text; UTF-8 ellipsis as one */
        to[i] = from[i] + 4 + CHAR_W * (double)(strlen(label) + 3);
    }
    fr->lanes = drill_report_lanes(from, to, r->chaos_count, LANES_MAX, fr->lane);
}

static int s_top(const frame_t *fr)
{
    return 12 + fr->lanes * LANE_H;
}

static void s_svg_open(FILE *f, const char *id, const char *title, const char *note, int height)
{
    fputs("<h3>", f);
    s_esc(f, title);
    fputs("</h3>\n", f);
    if (note != NULL) {
        fputs("<p class=\"note\">", f);
        s_esc(f, note);
        fputs("</p>\n", f);
    }
    fprintf(f,
            "<svg id=\"%s\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" "
            "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n",
            id, SVG_W, height, SVG_W, height);
}

/* s_y_axis draws the plot's box and horizontal grid from 0 to TOP by
 * STEP, labelled, and the unit. */
static void s_y_axis(FILE *f, double x0, double pw, int top_px, double top, double step,
                     const char *unit)
{
    fprintf(f,
            "<rect x=\"%.0f\" y=\"%d\" width=\"%.0f\" height=\"%d\" fill=\"#fafafa\" "
            "stroke=\"#ccc\"/>\n",
            x0, top_px, pw, SVG_PH);
    for (double v = 0; v <= top + step / 2; v += step) {
        double y = top_px + SVG_PH - SVG_PH * v / top;
        char lab[32];
        s_axis_label(lab, sizeof lab, v);
        fprintf(f,
                "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>"
                "<text class=\"tick\" x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                x0, y, x0 + pw, y, x0 - 4, y + 4, lab);
    }
    fprintf(f,
            "<text class=\"tick\" x=\"12\" y=\"%d\" transform=\"rotate(-90 12 %d)\" "
            "text-anchor=\"middle\">",
            top_px + SVG_PH / 2, top_px + SVG_PH / 2);
    s_esc(f, unit);
    fputs("</text>\n", f);
}

/* s_time_axis labels the time axis: real seconds, and under them the
 * simulated clock (or "drain" once the day has been offered). */
static void s_time_axis(FILE *f, const frame_t *fr, int top_px)
{
    double top, step;
    drill_report_axis((double)(fr->n > 1 ? fr->n - 1 : 1), &top, &step);
    int y = top_px + SVG_PH;
    double offering = fr->r->offering_s;
    for (double t = 0; t < (double)fr->n; t += step) {
        double x = s_x(fr, t);
        bool drain = offering > 0 && t > offering + 0.5;
        double hour = DRILL_DAY_START_H + (DRILL_DAY_END_H - DRILL_DAY_START_H) *
                                              (offering > 0 ? fmin(1, t / offering) : 0);
        int h = (int)hour, m = (int)lround((hour - h) * 60);
        if (m == 60) {
            h++;
            m = 0;
        }
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#999\"/>"
                "<text class=\"tick\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%gs</text>",
                x, y, x, y + 4, x, y + 15, t);
        if (drain)
            fprintf(f,
                    "<text class=\"sim\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">drain</text>\n",
                    x, y + 28);
        else
            fprintf(
                f,
                "<text class=\"sim\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%02d:%02d</text>\n",
                x, y + 28, h, m);
    }
    fprintf(f,
            "<text class=\"sim\" x=\"%d\" y=\"%d\" text-anchor=\"end\">real s</text>"
            "<text class=\"sim\" x=\"%d\" y=\"%d\" text-anchor=\"end\">simulated</text>\n",
            SVG_L - 14, y + 15, SVG_L - 14, y + 28);
}

/* s_chaos_marks draws each chaos entry as a dashed line down to BOTTOM,
 * its number and short label in a lane above TOP_PX (its number alone,
 * inside the plot, when the lanes are full); the full text is the line's
 * tooltip and is in the chaos table under the same number. */
static void s_chaos_marks(FILE *f, const frame_t *fr, int top_px, int bottom)
{
    const drill_report_t *r = fr->r;
    for (size_t i = 0; i < r->chaos_count; i++) {
        double x = s_x(fr, r->chaos[i].at_s);
        if (x > SVG_L + fr->pw + 0.5)
            continue;
        int lane = fr->lane[i];
        fprintf(f,
                "<line class=\"chaos\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
                "stroke=\"#c0392b\" stroke-dasharray=\"4 3\"><title>%zu. ",
                x, lane >= 0 ? top_px - lane * LANE_H - 2 : top_px, x, bottom, i + 1);
        s_esc(f, r->chaos[i].text);
        fputs("</title></line>", f);
        if (lane >= 0) {
            char label[64];
            drill_report_chaos_label(r, i, label, sizeof label);
            fprintf(f, "<text class=\"chaos-label\" x=\"%.1f\" y=\"%d\">%zu ", x + 2,
                    top_px - lane * LANE_H - 3, i + 1);
            s_esc(f, label);
            fputs("</text>\n", f);
        } else {
            fprintf(f, "<text class=\"chaos-label\" x=\"%.1f\" y=\"%d\">%zu</text>\n", x + 2,
                    top_px + 10, i + 1);
        }
    }
}

typedef struct {
    const char *name, *color;
    const double *v; /* one value per second; NAN: none */
} series_t;

static void s_legend(FILE *f, const series_t *series, size_t ns, int y)
{
    double x = SVG_L;
    for (size_t k = 0; k < ns; k++) {
        fprintf(f,
                "<rect x=\"%.0f\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                "<text class=\"tick\" x=\"%.0f\" y=\"%d\">",
                x, y - 9, series[k].color, x + 14, y);
        s_esc(f, series[k].name);
        fputs("</text>\n", f);
        x += 26 + 7.0 * (double)strlen(series[k].name); /* capitals are wide */
    }
}

/* s_lines: a line per series over the timeline. */
static void s_lines(FILE *f, const frame_t *fr, const char *id, const char *title, const char *note,
                    const char *unit, const series_t *series, size_t ns)
{
    double max = 0, top, step;
    for (size_t k = 0; k < ns; k++)
        for (size_t i = 0; i < fr->n; i++)
            if (!isnan(series[k].v[i]))
                max = fmax(max, series[k].v[i]);
    drill_report_axis(max, &top, &step);
    int t = s_top(fr), h = t + SVG_PH + SVG_B + 16;
    s_svg_open(f, id, title, note, h);
    s_y_axis(f, SVG_L, fr->pw, t, top, step, unit);
    s_time_axis(f, fr, t);
    s_chaos_marks(f, fr, t, t + SVG_PH);
    for (size_t k = 0; k < ns; k++) {
        fprintf(f,
                "<polyline class=\"series\" data-series=\"%s\" fill=\"none\" stroke=\"%s\" "
                "stroke-width=\"1.5\" points=\"",
                series[k].name, series[k].color);
        for (size_t i = 0; i < fr->n; i++)
            if (!isnan(series[k].v[i]))
                fprintf(f, "%.1f,%.1f ", s_x(fr, (double)i),
                        t + SVG_PH - SVG_PH * series[k].v[i] / top);
        fputs("\"/>\n", f);
    }
    s_legend(f, series, ns, h - 4);
    fputs("</svg>\n", f);
}

/* s_stacked: bands stacked from the bottom, one polygon each. */
static void s_stacked(FILE *f, const frame_t *fr, const char *id, const char *title,
                      const char *note, const char *unit, const series_t *bands, size_t nb)
{
    double *base = calloc(fr->n ? fr->n : 1, sizeof *base);
    if (base == NULL)
        return;
    double max = 0, top, step;
    for (size_t i = 0; i < fr->n; i++) {
        double sum = 0;
        for (size_t k = 0; k < nb; k++)
            sum += isnan(bands[k].v[i]) ? 0 : bands[k].v[i];
        max = fmax(max, sum);
    }
    drill_report_axis(max, &top, &step);
    int t = s_top(fr), h = t + SVG_PH + SVG_B + 16;
    s_svg_open(f, id, title, note, h);
    s_y_axis(f, SVG_L, fr->pw, t, top, step, unit);
    s_time_axis(f, fr, t);
    for (size_t k = 0; k < nb; k++) {
        fprintf(f,
                "<polygon class=\"band\" data-series=\"%s\" fill=\"%s\" fill-opacity=\"0.85\" "
                "points=\"",
                bands[k].name, bands[k].color);
        for (size_t i = 0; i < fr->n; i++)
            fprintf(f, "%.1f,%.1f ", s_x(fr, (double)i), t + SVG_PH - SVG_PH * base[i] / top);
        for (size_t i = fr->n; i-- > 0;) {
            base[i] += isnan(bands[k].v[i]) ? 0 : bands[k].v[i];
            fprintf(f, "%.1f,%.1f ", s_x(fr, (double)i), t + SVG_PH - SVG_PH * base[i] / top);
        }
        fputs("\"><title>", f);
        s_esc(f, bands[k].name);
        fputs("</title></polygon>\n", f);
    }
    s_chaos_marks(f, fr, t, t + SVG_PH);
    s_legend(f, bands, nb, h - 4);
    fputs("</svg>\n", f);
    free(base);
}

/* ---- the charts ---- */

static const char *const s_reason_colors[DRILL_REASONS] = {
    "#999",    "#e67e22", "#8e44ad", "#7f8c8d", "#34495e", "#a04000", "#e74c3c", "#d98880",
    "#922b21", "#2471a3", "#16a085", "#808000", "#555",    "#555",    "#555",    "#555"
};

static void s_chart_orders(FILE *f, const frame_t *fr, double *v)
{
    const drill_report_t *r = fr->r;
    size_t n = fr->n;
    double *off = v, *acc = v + n, *gave = v + 2 * n, *del = v + 3 * n;
    int64_t last = 0;
    for (size_t i = 0; i < n; i++) {
        const drill_second_t *e = &r->secs[i];
        off[i] = e->offered;
        acc[i] = e->orders_accepted;
        gave[i] = e->orders_gave_up;
        /* deliveries per second, from the cumulative count when it was known */
        if (e->delivered >= 0) {
            del[i] = (double)(e->delivered >= last ? e->delivered - last : 0);
            last = e->delivered;
        } else {
            del[i] = NAN;
        }
    }
    series_t s[] = { { "offered", "#555", off },
                     { "accepted", "#1e7b34", acc },
                     { "gave up", "#d35400", gave },
                     { "delivered", "#2471a3", del } };
    s_lines(f, fr, "chart-load", "Orders per second",
            "Each order counts once: offered when the demand curve makes it, accepted at its "
            "first ACCEPTED answer, given up when the producer stops trying (refused too often, "
            "an error, or never answered); deliveries from PostgreSQL.",
            "orders/s", s, 4);
}

static void s_chart_answers(FILE *f, const frame_t *fr, double *v)
{
    const drill_report_t *r = fr->r;
    size_t n = fr->n, nb = 0;
    series_t bands[DRILL_REASONS + 3];
    char names[DRILL_REASONS][40];
    double *acc = v;
    for (size_t i = 0; i < n; i++)
        acc[i] = r->secs[i].accepted;
    bands[nb++] = (series_t){ "ACCEPTED", "#1e7b34", acc };
    for (unsigned k = 1; k < DRILL_REASONS; k++) {
        if (r->reasons[k] == 0)
            continue;
        double *b = v + (nb * n);
        for (size_t i = 0; i < n; i++)
            b[i] = r->secs[i].reasons[k];
        const char *name = drill_report_reason_name(k);
        snprintf(names[k], sizeof names[k], "%s", name ? name : "?");
        bands[nb++] = (series_t){ names[k], s_reason_colors[k], b };
    }
    double *err = v + nb * n;
    for (size_t i = 0; i < n; i++)
        err[i] = r->secs[i].errors;
    bands[nb++] = (series_t){ "error", "#000", err };
    double *late = v + nb * n;
    for (size_t i = 0; i < n; i++)
        late[i] = r->secs[i].timed_out;
    bands[nb++] = (series_t){ "no answer in 3 s", "#bbb", late };
    s_stacked(f, fr, "chart-answers",
              "Submissions per second by answer: refusals by reason, stacked",
              "Each submission counts once, in the second its answer came (or its 3 s ran out): "
              "ACCEPTED at the bottom, the refusals above by reason. A refused order is "
              "submitted again after retry_after_ms, so these add up to more than the orders.",
              "submissions/s", bands, nb);
}

static void s_chart_latency(FILE *f, const frame_t *fr, double *v)
{
    size_t n = fr->n;
    double *p50 = v, *p99 = v + n;
    for (size_t i = 0; i < n; i++) {
        const drill_second_t *e = &fr->r->secs[i];
        p50[i] = e->p50_ms < 0 ? NAN : e->p50_ms;
        p99[i] = e->p99_ms < 0 ? NAN : e->p99_ms;
    }
    series_t s[] = { { "ack p50", "#2471a3", p50 }, { "ack p99", "#c0392b", p99 } };
    s_lines(f, fr, "chart-latency", "Ack latency per second (send to answer)", NULL, "ms", s, 2);
}

static const char *const s_platform_colors[DRILL_PLATFORMS] = { "#2471a3", "#16a085", "#8e44ad" };

/* s_chart_platforms: each platform's breaker as a strip of its states over
 * time, and the platforms' shares of the dispatch attempts, stacked to
 * 100% over buckets of a few seconds. */
static void s_chart_platforms(FILE *f, const frame_t *fr)
{
    const drill_report_t *r = fr->r;
    static const char *const state_color[] = { "#d5f5e3", "#e74c3c", "#f5b041" };
    static const char *const state_name[] = { "closed", "open", "half-open" };
    int t = s_top(fr), strip = 16, strips = DRILL_PLATFORMS * (strip + 4);
    int share_top = t + strips + 10, h = share_top + SVG_PH + SVG_B + 16;
    s_svg_open(f, "chart-platforms", "Platforms: breaker state and share of dispatches",
               "Top: each platform's circuit breaker, second by second (scraped from /metrics; "
               "blank when sluiced did not answer). Below: each platform's share of the "
               "dispatch attempts written in PostgreSQL.",
               h);
    for (int p = 0; p < DRILL_PLATFORMS; p++) {
        int y = t + p * (strip + 4);
        fprintf(f, "<text class=\"tick\" x=\"%d\" y=\"%d\" text-anchor=\"end\">p%d</text>\n",
                SVG_L - 4, y + 12, p + 1);
        for (size_t i = 0; i < fr->n;) {
            uint8_t st = r->secs[i].breaker[p];
            size_t j = i + 1;
            while (j < fr->n && r->secs[j].breaker[p] == st)
                j++;
            if (st <= 2) {
                double x0 = s_x(fr, (double)i),
                       x1 = j < fr->n ? s_x(fr, (double)j) : SVG_L + fr->pw;
                fprintf(f,
                        "<rect class=\"breaker\" data-platform=\"p%d\" data-state=\"%s\" "
                        "x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\">"
                        "<title>p%d %s %zu-%zu s</title></rect>\n",
                        p + 1, state_name[st], x0, y, fmax(0.5, x1 - x0), strip, state_color[st],
                        p + 1, state_name[st], i, j);
            }
            i = j;
        }
    }
    size_t bucket = fr->n > 120 ? (fr->n + 119) / 120 : 1, nb = (fr->n + bucket - 1) / bucket;
    double *base = calloc(nb ? nb : 1, sizeof *base), *tot = calloc(nb ? nb : 1, sizeof *tot);
    if (base == NULL || tot == NULL) {
        free(base);
        free(tot);
        fputs("</svg>\n", f);
        return;
    }
    for (size_t i = 0; i < fr->n; i++)
        for (int p = 0; p < DRILL_PLATFORMS; p++)
            tot[i / bucket] += r->secs[i].dispatched[p];
    s_y_axis(f, SVG_L, fr->pw, share_top, 100, 20, "% of dispatches");
    s_time_axis(f, fr, share_top);
    for (int p = 0; p < DRILL_PLATFORMS; p++) {
        fprintf(f,
                "<polygon class=\"band\" data-series=\"p%d\" fill=\"%s\" fill-opacity=\"0.8\" "
                "points=\"",
                p + 1, s_platform_colors[p]);
        for (size_t b = 0; b < nb; b++)
            fprintf(f, "%.1f,%.1f ", s_x(fr, (double)(b * bucket)),
                    share_top + SVG_PH - SVG_PH * base[b]);
        for (size_t b = nb; b-- > 0;) {
            double got = 0;
            for (size_t i = b * bucket; i < (b + 1) * bucket && i < fr->n; i++)
                got += r->secs[i].dispatched[p];
            base[b] += tot[b] > 0 ? got / tot[b] : 0;
            fprintf(f, "%.1f,%.1f ", s_x(fr, (double)(b * bucket)),
                    share_top + SVG_PH - SVG_PH * base[b]);
        }
        fprintf(f, "\"><title>p%d</title></polygon>\n", p + 1);
    }
    s_chaos_marks(f, fr, t, share_top + SVG_PH);
    series_t legend[DRILL_PLATFORMS + 3] = {
        { "p1", s_platform_colors[0], NULL }, { "p2", s_platform_colors[1], NULL },
        { "p3", s_platform_colors[2], NULL }, { "breaker closed", state_color[0], NULL },
        { "open", state_color[1], NULL },     { "half-open", state_color[2], NULL }
    };
    s_legend(f, legend, DRILL_PLATFORMS + 3, h - 4);
    fputs("</svg>\n", f);
    free(base);
    free(tot);
}

/* s_chart_late: a histogram of delivered minus promised, in simulated
 * minutes, the ends gathering what lies beyond. */
static void s_chart_late(FILE *f, const drill_report_t *r)
{
    const char *title = "Delivered minus promised (simulated minutes)";
    if (r->late_count == 0) {
        fputs("<h3>", f);
        s_esc(f, title);
        fputs("</h3>\n<p class=\"note\">No delivery was measured.</p>\n", f);
        return;
    }
    double k = r->scale / 60.0; /* real s -> simulated min */
    size_t n = r->late_count;
    /* Around the promise: the middle 99%, within an hour before and an hour
     * and a half after, in bins of a round width, 40 at most. */
    double lo = fmax(HIST_EARLY_MIN, floor(r->late_s[n / 200] * k));
    double hi = fmin(HIST_LATE_MIN, ceil(r->late_s[n - 1 - n / 200] * k));
    if (hi <= lo)
        hi = lo + 1;
    static const double widths[] = { 0.5, 1, 2, 2.5, 5, 10, 15, 30 };
    double width = widths[0];
    for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) {
        width = widths[i];
        if ((hi - lo) / width <= HIST_BINS_MAX - 8)
            break;
    }
    lo = floor(lo / width) * width;
    size_t bins = (size_t)ceil((hi - lo) / width - 1e-9);
    hi = lo + (double)bins * width;
    /* bin 0 holds what is below LO, bin BINS + 1 what is at or above HI */
    uint64_t count[HIST_BINS_MAX] = { 0 }, max = 0;
    for (size_t i = 0; i < n; i++) {
        double m = r->late_s[i] * k;
        size_t b = m < lo ? 0 : m >= hi ? bins + 1 : 1 + (size_t)((m - lo) / width);
        count[b]++;
    }
    for (size_t b = 0; b < bins + 2; b++)
        if (count[b] > max)
            max = count[b];
    double top, step;
    drill_report_axis((double)max, &top, &step);
    int t = 12, h = t + SVG_PH + SVG_B;
    char note[240];
    snprintf(note, sizeof note,
             "%zu deliveries; %.1f%% after the promise (right of the red line). Bins of %g "
             "simulated minutes; the end bins hold everything beyond.",
             n, 100.0 * r->delivered_late_share, width);
    s_svg_open(f, "chart-late", title, note, h);
    double pw = SVG_W - SVG_L - SVG_R;
    s_y_axis(f, SVG_L, pw, t, top, step, "orders");
    double bw = pw / (double)(bins + 2);
    for (size_t b = 0; b < bins + 2; b++) {
        double from = lo + ((double)b - 1) * width, bh = SVG_PH * (double)count[b] / top;
        bool late = b == bins + 1 || from >= 0;
        fprintf(f,
                "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                "fill=\"%s\"><title>",
                SVG_L + bw * (double)b + 1, t + SVG_PH - bh, bw - 2, bh,
                late ? "#e74c3c" : "#27ae60");
        if (b == 0)
            fprintf(f, "below %g min: %" PRIu64, lo, count[b]);
        else if (b == bins + 1)
            fprintf(f, "%g min or more: %" PRIu64, hi, count[b]);
        else
            fprintf(f, "%g to %g min: %" PRIu64, from, from + width, count[b]);
        fputs("</title></rect>\n", f);
    }
    /* ticks at round minutes; the end bins say what they hold */
    double span, tick;
    drill_report_axis(hi - lo, &span, &tick);
    for (double m = ceil(lo / tick) * tick; m <= hi + 1e-9; m += tick)
        fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n",
                SVG_L + bw * (1 + (m - lo) / width), t + SVG_PH + 15, m);
    fprintf(f,
            "<text class=\"tick\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">&lt;%g</text>"
            "<text class=\"tick\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">&#8805;%g</text>\n",
            SVG_L + bw / 2, t + SVG_PH + 28, lo, SVG_L + bw * ((double)bins + 1.5), t + SVG_PH + 28,
            hi);
    if (0 >= lo && 0 <= hi) {
        double x = SVG_L + bw * (1 + (0 - lo) / width);
        fprintf(f,
                "<line class=\"promise\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
                "stroke=\"#c0392b\" stroke-width=\"2\"/><text class=\"tick\" x=\"%.1f\" "
                "y=\"%d\" fill=\"#c0392b\">the promise</text>\n",
                x, t, x, t + SVG_PH, x + 4, t + 12);
    }
    fprintf(f,
            "<text class=\"sim\" x=\"%.0f\" y=\"%d\" text-anchor=\"middle\">simulated minutes "
            "after (right) or before (left) the promised delivery</text>\n</svg>\n",
            SVG_L + pw / 2, t + SVG_PH + 40);
}

static void s_chart_handoff(FILE *f, const frame_t *fr, double *v)
{
    size_t n = fr->n;
    double *p50 = v, *p90 = v + n, k = fr->r->scale / 60.0;
    for (size_t i = 0; i < n; i++) {
        const drill_second_t *e = &fr->r->secs[i];
        p50[i] = isnan(e->handoff_p50_s) ? NAN : fmax(0, e->handoff_p50_s * k);
        p90[i] = isnan(e->handoff_p90_s) ? NAN : fmax(0, e->handoff_p90_s * k);
    }
    series_t s[] = { { "p50", "#2471a3", p50 }, { "p90", "#c0392b", p90 } };
    s_lines(f, fr, "chart-handoff", "Order wait at handoff over time (simulated minutes)",
            "How long a made order waited for its rider (the melted ice): first pickup minus "
            "ready, by the second of the pickup; an early pickup counts as 0.",
            "sim. min", s, 2);
}

/* s_chart_heat: the busiest stores' slot use over time, a row each. */
static void s_chart_heat(FILE *f, const frame_t *fr)
{
    const drill_heat_t *hm = &fr->r->heat;
    if (hm->rows == 0 || hm->cols == 0)
        return;
    int t = 12, h = t + (int)hm->rows * HEAT_ROW_H + 58;
    s_svg_open(f, "chart-heat", "The busiest stores' slot use over time",
               "The stores that accepted the most orders, one row each: the share of their prep "
               "slots' time booked by accepted orders (prep start to promised ready), per bucket "
               "of the timeline. Dark red is full.",
               h);
    double pw = SVG_W - HEAT_L - SVG_R, cw = pw / (double)hm->cols;
    for (size_t i = 0; i < hm->rows; i++) {
        const drill_heat_row_t *row = &hm->row[i];
        int y = t + (int)i * HEAT_ROW_H;
        fprintf(f,
                "<text class=\"tick\" x=\"%d\" y=\"%d\" text-anchor=\"end\">store %u, rank %u,"
                " %u slots</text>\n",
                HEAT_L - 6, y + 12, row->store_id, row->rank, row->slots);
        for (size_t c = 0; c < hm->cols; c++) {
            double u = fmin(1, fmax(0, row->use[c]));
            /* white to dark red */
            int g = (int)lround(255 - 215 * u), b = (int)lround(255 - 215 * u),
                rd = (int)lround(255 - 80 * u);
            fprintf(f,
                    "<rect class=\"cell\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" "
                    "fill=\"rgb(%d,%d,%d)\"><title>store %u, %.0f-%.0f s: %.0f%%</title></rect>\n",
                    HEAT_L + cw * (double)c, y, cw + 0.3, HEAT_ROW_H - 1, rd, g, b, row->store_id,
                    hm->col_s * (double)c, hm->col_s * (double)(c + 1), 100 * row->use[c]);
        }
    }
    int y = t + (int)hm->rows * HEAT_ROW_H;
    double total_s = hm->col_s * (double)hm->cols, top, step;
    drill_report_axis(total_s, &top, &step);
    for (double s = 0; s <= total_s; s += step)
        fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%gs</text>\n",
                HEAT_L + pw * s / total_s, y + 14, s);
    for (int k = 0; k <= 4; k++)
        fprintf(f,
                "<rect x=\"%d\" y=\"%d\" width=\"24\" height=\"10\" fill=\"rgb(%d,%d,%d)\" "
                "stroke=\"#ccc\"/><text class=\"tick\" x=\"%d\" y=\"%d\">%d%%</text>\n",
                HEAT_L + k * 70, y + 26, (int)lround(255 - 20 * k), (int)lround(255 - 53.75 * k),
                (int)lround(255 - 53.75 * k), HEAT_L + k * 70 + 28, y + 35, k * 25);
    fputs("</svg>\n", f);
}

/* ---- the tables ---- */

static void s_pct_row(FILE *f, const char *label, const drill_pct_t *p, double k)
{
    fputs("<tr><td>", f);
    s_esc(f, label);
    if (p->n == 0) {
        fputs("</td><td colspan=\"5\">none measured</td></tr>\n", f);
        return;
    }
    fprintf(f, "</td><td class=\"n\">%zu</td>", p->n);
    const double v[4] = { p->p50, p->p90, p->p99, p->max };
    for (int i = 0; i < 4; i++) {
        if (k > 0)
            fprintf(f, "<td class=\"n\">%.2f s <span class=\"sim\">%.1f min</span></td>", v[i],
                    v[i] * k / 60);
        else
            fprintf(f, "<td class=\"n\">%.2f ms</td>", v[i]);
    }
    fputs("</tr>\n", f);
}

static void s_pct_head(FILE *f, const char *id, const char *what)
{
    fprintf(f,
            "<table id=\"%s\"><tr><th>%s</th><th class=\"n\">n</th><th class=\"n\">p50</th>"
            "<th class=\"n\">p90</th><th class=\"n\">p99</th><th class=\"n\">max</th></tr>\n",
            id, what);
}

static void s_glance(FILE *f, const drill_report_t *r)
{
    double k = r->scale / 60;
    fputs("<table id=\"glance\" class=\"glance\">\n", f);
    fputs("<tr><td>orders offered</td><td class=\"n\">", f);
    s_num(f, (int64_t)r->orders);
    fputs("</td><td>accepted</td><td class=\"n\">", f);
    s_num(f, (int64_t)r->accepted);
    fprintf(f, " (%.1f%%)</td></tr>\n",
            r->orders ? 100.0 * (double)r->accepted / (double)r->orders : 0);
    fputs("<tr><td>submissions</td><td class=\"n\">", f);
    s_num(f, (int64_t)r->submissions);
    fprintf(f, "</td><td>per accepted order</td><td class=\"n\">%.2f</td></tr>\n",
            r->accepted ? (double)r->submissions / (double)r->accepted : 0);
    if (r->measured) {
        fputs("<tr><td>delivered</td><td class=\"n\">", f);
        s_num(f, r->db_delivered);
        fputs("</td><td>failed (refund due)</td><td class=\"n\">", f);
        s_num(f, r->db_failed);
        fputs("</td></tr>\n", f);
        fprintf(f,
                "<tr><td>delivered after the promise</td><td class=\"n\">%.1f%%</td>"
                "<td>late p90 / p99</td><td class=\"n\">%.1f / %.1f min</td></tr>\n",
                100 * r->delivered_late_share, r->delivery_late_s.p90 * k,
                r->delivery_late_s.p99 * k);
        fprintf(f,
                "<tr><td>order wait at handoff p50 / p90</td><td class=\"n\">%.1f / %.1f min</td>"
                "<td>rider wait p50 / p90</td><td class=\"n\">%.1f / %.1f min</td></tr>\n",
                r->handoff_s.p50 * k, r->handoff_s.p90 * k, r->rider_wait_s.p50 * k,
                r->rider_wait_s.p90 * k);
    }
    fputs("</table>\n<p class=\"note\">Minutes are simulated: real seconds times the time "
          "scale.</p>\n",
          f);
}

static void s_tables_orders(FILE *f, const drill_report_t *r)
{
    int64_t orders = (int64_t)r->orders, sub = (int64_t)r->submissions;
    fputs("<div class=\"cols\"><div><h3>Orders</h3>\n<table id=\"orders\">\n"
          "<tr><th>each order once</th><th class=\"n\">count</th><th class=\"n\">of "
          "offered</th></tr>\n",
          f);
    s_row_num(f, "offered", orders, 0);
    s_row_num(f, "accepted", (int64_t)r->accepted, orders);
    s_row_num(f, "gave up after refusals", (int64_t)(r->gave_up - r->gave_up_error), orders);
    s_row_num(f, "gave up after an error", (int64_t)r->gave_up_error, orders);
    s_row_num(f, "never answered", (int64_t)r->unanswered, orders);
    s_row_num(f, "still open", (int64_t)r->census[3], orders);
    fputs("</table></div>\n<div><h3>Submissions</h3>\n<table id=\"submissions\">\n"
          "<tr><th>each request once</th><th class=\"n\">count</th><th class=\"n\">of "
          "sent</th></tr>\n",
          f);
    s_row_num(f, "sent", sub, 0);
    s_row_num(f, "answered ACCEPTED", (int64_t)r->answered_accepted, sub);
    for (unsigned k = 1; k < DRILL_REASONS; k++)
        if (r->reasons[k] > 0) {
            char label[64];
            const char *name = drill_report_reason_name(k);
            snprintf(label, sizeof label, "refused %s", name ? name : "?");
            s_row_num(f, label, (int64_t)r->reasons[k], sub);
        }
    s_row_num(f, "answered with an error", (int64_t)r->errors, sub);
    s_row_num(f, "no answer in 3 s (sent again)", (int64_t)r->timed_out, sub);
    s_row_num(f, "never answered", (int64_t)r->unanswered_submissions, sub);
    fputs("</table></div>\n<div><h3>MarkReady (the stores' POS)</h3>\n<table id=\"markready\">\n"
          "<tr><th></th><th class=\"n\">orders</th><th class=\"n\">requests</th></tr>\n",
          f);
    const struct {
        const char *label;
        uint64_t orders, requests;
    } rows[] = { { "sent", r->ready_orders, r->ready_sent },
                 { "ok", r->ready_orders_ok, r->ready_ok },
                 { "503, sent again", 0, r->ready_503 },
                 { "gave up after 503s", r->ready_orders_gave_up, 0 },
                 { "refused", r->ready_orders_refused, r->ready_refused },
                 { "never answered", r->ready_orders_unanswered, r->ready_unanswered } };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        fprintf(f, "<tr><td>%s</td><td class=\"n\">", rows[i].label);
        s_num(f, (int64_t)rows[i].orders);
        fputs("</td><td class=\"n\">", f);
        s_num(f, (int64_t)rows[i].requests);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
    if (r->ready_refused_example[0]) {
        fputs("<p class=\"note\">First refusal: ", f);
        s_esc(f, r->ready_refused_example);
        fputs("</p>\n", f);
    }
    fputs("</div></div>\n", f);
}

static void s_table_campaign(FILE *f, const drill_report_t *r)
{
    static const char *const kind[2] = { "regular", "campaign" };
    fputs("<h3>The campaign and regular orders by store class</h3>\n<p class=\"note\">", f);
    if (r->campaign_share > 0)
        fprintf(f, "Campaign %s: %.0f%% of the demand, store_share %g. ", DRILL_CAMPAIGN,
                100 * r->campaign_share, r->store_share);
    else
        fputs("No campaign. ", f);
    if (r->honour)
        fprintf(f,
                "Producers honoured the availability feed: %" PRIu64 " events read, %" PRIu64
                " orders held for a store not open.",
                r->feed_events, r->held);
    else
        fputs("Producers did not follow the availability feed.", f);
    fputs("</p>\n<table id=\"campaign\"><tr><th>stores</th><th>orders</th><th class=\"n\">offered"
          "</th><th class=\"n\">submitted</th><th class=\"n\">accepted</th><th class=\"n\">"
          "submissions per accepted</th><th class=\"n\">prep s accepted</th></tr>\n",
          f);
    for (size_t c = 0; c < DRILL_CLASSES; c++)
        for (int k = 0; k < 2; k++) {
            const drill_kind_t *x = &r->kinds[c][k];
            fprintf(f, "<tr><td>%s</td><td>%s</td><td class=\"n\">", drill_report_class_name(c),
                    kind[k]);
            s_num(f, (int64_t)x->offered);
            fputs("</td><td class=\"n\">", f);
            s_num(f, (int64_t)x->submissions);
            fputs("</td><td class=\"n\">", f);
            s_num(f, (int64_t)x->accepted);
            fprintf(f, "</td><td class=\"n\">%.2f</td><td class=\"n\">%.0f</td></tr>\n",
                    x->accepted ? (double)x->submissions / (double)x->accepted : 0,
                    x->accepted_prep_s);
        }
    fputs("</table>\n", f);
    if (r->campaign_share > 0)
        fprintf(f,
                "<p class=\"note\">Regular orders at the top 10 stores: %.3f of them accepted, "
                "%s their remainder of the kitchens %.3f; their part of the prep time accepted "
                "there %.3f.</p>\n",
                drill_report_regular_accepted(r),
                drill_report_regular_accepted(r) >= 1 - r->store_share ? "at least" : "below",
                1 - r->store_share, drill_report_regular_share(r));
}

static void s_table_latency(FILE *f, const drill_report_t *r)
{
    fputs("<h3>Ack latency (send to answer)</h3>\n", f);
    s_pct_head(f, "latency", "answers");
    float *tmp = malloc((r->n_all ? r->n_all : 1) * sizeof *tmp);
    if (tmp != NULL) {
        const struct {
            const char *label;
            const float *v;
            size_t n;
        } sets[] = { { "all", r->lat_all, r->n_all },
                     { "accepted", r->lat_accepted, r->n_accepted },
                     { "refused", r->lat_rejected, r->n_rejected } };
        for (size_t i = 0; i < 3; i++) {
            drill_pct_t p;
            memcpy(tmp, sets[i].v, sets[i].n * sizeof *tmp);
            drill_report_percentiles(tmp, sets[i].n, &p);
            s_pct_row(f, sets[i].label, &p, 0);
        }
        free(tmp);
    }
    fputs("</table>\n", f);
}

static void s_table_database(FILE *f, const drill_report_t *r)
{
    if (!r->measured)
        return;
    fputs("<h3>Orders in PostgreSQL</h3>\n<table id=\"database\">\n"
          "<tr><th></th><th class=\"n\">orders</th><th class=\"n\">of all</th></tr>\n",
          f);
    s_row_num(f, "in orders", r->db_orders, 0);
    s_row_num(f, "DELIVERED", r->db_delivered, r->db_orders);
    s_row_num(f, "FAILED (refund due)", r->db_failed, r->db_orders);
    s_row_num(f, "CANCELLED", r->db_cancelled, r->db_orders);
    s_row_num(f, "not terminal", r->db_live, r->db_orders);
    s_row_num(f, "never acked to a producer", r->db_unacked, r->db_orders);
    fputs("</table>\n<h3>Promises, melt and riders</h3>\n", f);
    s_pct_head(f, "promises", "real seconds, simulated minutes");
    double k = r->scale;
    s_pct_row(f, "accepted to DELIVERED", &r->e2e_s, k);
    s_pct_row(f, "delivered minus promised (late > 0)", &r->delivery_late_s, k);
    s_pct_row(f, "marked ready minus promised ready", &r->ready_late_s, k);
    s_pct_row(f, "order wait at handoff (pickup minus ready)", &r->handoff_s, k);
    s_pct_row(f, "rider wait at the counter (ledgers)", &r->rider_wait_s, k);
    fprintf(f,
            "</table>\n<p class=\"note\">Delivered after the promise: %.1f%%. Store "
            "utilisation (slots busy from each store's first prep start to its last promised "
            "ready): mean %.0f%%, max %.0f%% (store %u), %u stores at 90%% or more.</p>\n",
            100 * r->delivered_late_share, 100 * r->util_mean, 100 * r->util_max, r->util_max_store,
            r->util_saturated);
    fprintf(f,
            "<h3>How it was measured</h3>\n<p class=\"note\">Every timestamp is real: "
            "sluiced's clock and PostgreSQL's now(). The stores' kitchen times, the dispatch "
            "margin and ETA, the handoff and the riders' speed are the real ones divided by the "
            "time scale (%.1f) in the generated config, so a promise in real seconds times %.1f "
            "is what the same store promises in real life. Promised delivery is ready + 5 "
            "simulated minutes of handoff + the straight line at %.0f km/h, the simulated "
            "riders' mean speed (they ride %.0f-%.0f km/h). Delivered minus promised is the "
            "DELIVERED event's time minus promised_delivery_at. The order's wait at handoff is "
            "its first PICKED_UP minus ready (the store's MarkReady when it came, else the "
            "promised ready time). Rider wait is from the simulators' ledgers, arrival at the "
            "counter to pickup. Each real millisecond of the system's own delay (a dispatch's "
            "commit, a quote) is %.1f simulated milliseconds, so a high time scale makes "
            "riders later than the same system would be in real time.</p>\n",
            r->scale, r->scale, r->rider_kmh, DRILL_RIDER_KMH_MIN, DRILL_RIDER_KMH_MAX, r->scale);
}

static void s_table_cpu(FILE *f, const drill_report_t *r)
{
    double capacity = r->wall_s * (double)(r->cores > 0 ? r->cores : 1);
    fprintf(f,
            "<h3>Where the time went</h3>\n<p class=\"note\">%.1f s of offering and draining "
            "on %ld cores (%.0f CPU seconds to give); the 1-minute load average was %.2f at "
            "the start and %.2f at the end. PostgreSQL counts since its last start.</p>\n"
            "<table id=\"cpu\"><tr><th></th><th class=\"n\">CPU s</th>"
            "<th class=\"n\">of the machine</th></tr>\n",
            r->wall_s, r->cores, capacity, r->load_start, r->load_end);
    for (int k = 0; k < DRILL_CPU_PARTS; k++)
        fprintf(f, "<tr><td>%s</td><td class=\"n\">%.1f</td><td class=\"n\">%.0f%%</td></tr>\n",
                drill_report_cpu_name(k), r->cpu_s[k],
                capacity > 0 ? 100 * r->cpu_s[k] / capacity : 0);
    fputs("</table>\n", f);
}

static void s_table_chaos(FILE *f, const drill_report_t *r)
{
    fputs("<h3>Chaos</h3>\n<table id=\"chaos\"><tr><th class=\"n\">#</th><th class=\"n\">at</th>"
          "<th>what happened</th></tr>\n",
          f);
    if (r->chaos_count == 0)
        fputs("<tr><td></td><td></td><td>none</td></tr>\n", f);
    for (size_t i = 0; i < r->chaos_count; i++) {
        fprintf(f, "<tr><td class=\"n\">%zu</td><td class=\"n\">%.1f s</td><td>", i + 1,
                r->chaos[i].at_s);
        s_esc(f, r->chaos[i].text);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void s_table_sums(FILE *f, const drill_report_t *r)
{
    fputs("<h3>Counts that add up</h3>\n<p class=\"note\">The report checks each of these sums "
          "itself; one that does not hold breaks the run.</p>\n<table id=\"sums\">"
          "<tr><th></th><th>count</th><th class=\"n\">value</th><th></th><th>made of</th>"
          "<th class=\"n\">value</th></tr>\n",
          f);
    for (size_t i = 0; i < r->sum_count; i++) {
        const drill_sum_t *s = &r->sums[i];
        fprintf(f, "<tr><td class=\"%s\">%s</td><td>", s->ok ? "ok" : "fail",
                s->ok ? "ok" : "FAIL");
        s_esc(f, s->what);
        fputs("</td><td class=\"n\">", f);
        s_num(f, s->left);
        fprintf(f, "</td><td>%s</td><td>", s->kind == DRILL_SUM_EQUAL ? "=" : "&le;");
        s_esc(f, s->formula);
        fputs("</td><td class=\"n\">", f);
        s_num(f, s->right);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void s_table_invariants(FILE *f, const drill_report_t *r)
{
    fputs("<h2>Invariants</h2>\n<table id=\"invariants\">\n", f);
    for (size_t i = 0; i < r->inv_count; i++) {
        fprintf(f, "<tr><td class=\"%s\">%s</td><td>", r->inv[i].ok ? "ok" : "fail",
                r->inv[i].ok ? "ok" : "FAIL");
        s_esc(f, r->inv[i].name);
        fputs("</td><td>", f);
        s_esc(f, r->inv[i].detail);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

void drill_report_write_html(const drill_report_t *r, FILE *f)
{
    frame_t fr;
    s_frame(&fr, r);
    /* room for the widest chart's series: accepted, every reason, errors, no answer */
    double *v = calloc((DRILL_REASONS + 3) * (fr.n ? fr.n : 1), sizeof *v);
    if (v == NULL)
        return;
    fprintf(f,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
            "<title>sluice-drill report %s</title>\n<style>\n"
            "body{font-family:sans-serif;margin:1.5em auto;max-width:980px;padding:0 1em;"
            "color:#222;line-height:1.35}\n"
            "h2{margin-top:1.6em;border-bottom:1px solid #ddd}h3{margin:1.4em 0 .3em}\n"
            "table{border-collapse:collapse;margin:.3em 0;max-width:100%%}"
            "td,th{padding:2px 10px;text-align:left;border-bottom:1px solid #eee;"
            "vertical-align:top;overflow-wrap:anywhere}\n"
            "th{background:#f4f4f4}.n{text-align:right;white-space:nowrap}\n"
            ".glance td{font-size:1.05em}.glance td.n{font-weight:bold}\n"
            ".ok{color:#1e7b34;white-space:nowrap}.fail{color:#c0392b;font-weight:bold;"
            "white-space:nowrap}\n"
            ".note{color:#555;font-size:.9em;max-width:940px}\n"
            ".sim{color:#777;font-size:.85em}\n"
            ".cols{display:flex;flex-wrap:wrap;gap:1.5em}\n"
            "svg.chart{max-width:100%%;height:auto;display:block}\n"
            "svg text{font-family:sans-serif}svg .tick{font-size:11px}"
            "svg .sim{font-size:10px;fill:#777}"
            "svg .chaos-label{font-size:10px;fill:#c0392b;paint-order:stroke;stroke:#fff;"
            "stroke-width:3px}\n"
            "</style></head><body>\n",
            r->started_at);
    fprintf(f, "<h1>sluice-drill: %s</h1>\n<p class=\"%s\" id=\"verdict\">%s</p>\n", r->started_at,
            drill_report_ok(r) ? "ok" : "fail",
            drill_report_ok(r) ? "All invariants held." : "An invariant broke.");
    fprintf(f,
            "<p>%u stores in %zu cit%s, seed %" PRIu64 ", the simulated day 10:00-19:00 in "
            "%.2f real minutes (time scale %.1f: a real second is %.1f simulated), peak %.0f "
            "orders/s. Chaos: ",
            r->stores, r->cities, r->cities == 1 ? "y" : "ies", r->seed, r->minutes, r->scale,
            r->scale, r->peak_rate);
    s_esc(f, r->chaos_spec[0] ? r->chaos_spec : "none");
    fputs(".</p>\n<h2>At a glance</h2>\n", f);
    s_glance(f, r);
    s_table_invariants(f, r);
    fputs("<h2>Over the day</h2>\n", f);
    s_chart_orders(f, &fr, v);
    s_chart_answers(f, &fr, v);
    s_chart_latency(f, &fr, v);
    s_chart_platforms(f, &fr);
    fputs("<h2>Promises, melt and kitchens</h2>\n", f);
    s_chart_late(f, r);
    s_chart_handoff(f, &fr, v);
    s_chart_heat(f, &fr);
    fputs("<h2>Figures</h2>\n", f);
    s_tables_orders(f, r);
    s_table_campaign(f, r);
    s_table_latency(f, r);
    s_table_database(f, r);
    s_table_cpu(f, r);
    s_table_chaos(f, r);
    s_table_sums(f, r);
    fputs("</body></html>\n", f);
    free(v);
}

/* ---- the files ---- */

static bool s_write_file(const drill_report_t *r, const char *dir, const char *name,
                         void (*fn)(const drill_report_t *, FILE *))
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "sluice-drill: failed to write %s: %s\n", path, strerror(errno));
        return false;
    }
    fn(r, f);
    if (fclose(f) != 0) {
        fprintf(stderr, "sluice-drill: failed to write %s: %s\n", path, strerror(errno));
        return false;
    }
    return true;
}

bool drill_report_write(drill_report_t *r, const char *dir)
{
    bool ok = s_write_file(r, dir, "report.txt", drill_report_print_text);
    ok = s_write_file(r, dir, "report.json", drill_report_write_json) && ok;
    ok = s_write_file(r, dir, "report.html", drill_report_write_html) && ok;
    return ok;
}
