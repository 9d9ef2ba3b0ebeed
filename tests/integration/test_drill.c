/* test_drill.c - a short flash-crowd drill (sluice-drill, 50 stores, one
 * minute for the day) with every chaos action, run as a real process: it
 * must exit 0 (every invariant held, every sum in its report checked and
 * holding), write its three reports, and its HTML page must render with
 * charts that have data points, axes scaled to the data, chaos marks with
 * labels, and figures as tables. The page is opened in headless Chromium
 * when `chromium` is on PATH; without it the test reads the file's text
 * instead and says so.
 *
 * Starts its own PostgreSQL (the drill calls pgtmp.sh), so it does not use
 * the runner's server. Environment: SLUICE_BIN (sluice-drill and sluice-sim
 * are next to it), SLUICE_TOOLS (pgtmp.sh), TMPDIR; SLUICE_DRILL_ARGS
 * replaces the default arguments (keep --out out). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <libgen.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* Every chaos action, in one minute of offering. */
#define DRILL_CHAOS                                                                      \
    "6s:dark p2,10s:slow p3 2000,14s:kill-daemon,18s:rider-pace p1 0.3,22s:restart-db,"   \
    "28s:light p2,30s:slow p3 0,33s:fail p1 1.0,38s:rider-pace p1 1,40s:fail p1 0,"        \
    "42s:cancel-ratio p3 0.05,44s:pause-store,47s:halve-brand,52s:resume-store,"           \
    "54s:cancel-ratio p3 0"

static char s_dir[PATH_MAX];

/* s_count_points counts the x,y pairs of the polylines inside the element
 * with id="ID" (one chart's <svg>) of DOM, and its polylines. */
static void s_count_points(const char *dom, const char *id, int *lines, int *points)
{
    char key[64];
    snprintf(key, sizeof key, "id=\"%s\"", id);
    *lines = *points = 0;
    const char *start = strstr(dom, key);
    if (start == NULL)
        return;
    const char *end = strstr(start, "</svg>");
    for (const char *p = strstr(start, "<polyline"); p != NULL && (end == NULL || p < end);
         p = strstr(p + 1, "<polyline")) {
        (*lines)++;
        const char *pts = strstr(p, "points=\"");
        const char *close = strchr(p, '>');
        if (pts == NULL || (close != NULL && pts > close))
            continue;
        for (const char *q = pts + 8; *q != '"' && *q != '\0'; q++)
            if (*q == ',')
                (*points)++;
    }
}

/* s_chart: the text of the element with id="ID" (one chart's <svg>), up
 * to its end, in a malloc'ed copy; NULL when there is none. */
static char *s_chart(const char *dom, const char *id)
{
    char key[64];
    snprintf(key, sizeof key, "id=\"%s\"", id);
    const char *start = strstr(dom, key);
    const char *end = start != NULL ? strstr(start, "</svg>") : NULL;
    return end != NULL ? strndup(start, (size_t)(end - start)) : NULL;
}

/* s_fill: how much of the plot's height chart ID's highest line point
 * reaches, 0..1 (the plot is its first rect, #fafafa, of height 200). */
static double s_fill(const char *dom, const char *id)
{
    char *chart = s_chart(dom, id);
    assert_non_null(chart);
    const char *box = strstr(chart, "fill=\"#fafafa\"");
    assert_non_null(box);
    const char *y = box;
    while (y > chart && strncmp(y, " y=\"", 4) != 0)
        y--;
    double top = strtod(y + 4, NULL), highest = top + 200;
    for (const char *p = strstr(chart, "points=\""); p != NULL; p = strstr(p + 1, "points=\"")) {
        for (const char *q = p + 8; *q != '"' && *q != '\0';) {
            char *end;
            (void)strtod(q, &end);
            if (*end != ',')
                break;
            double py = strtod(end + 1, &end);
            if (py < highest)
                highest = py;
            q = end + (*end == ' ');
        }
    }
    free(chart);
    return (top + 200 - highest) / 200;
}

static int s_count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_drill_with_every_chaos_action(void **state)
{
    (void)state;
    const char *bin = getenv("SLUICE_BIN");
    const char *tools = getenv("SLUICE_TOOLS");
    char bindir[PATH_MAX] = "build", drill[PATH_MAX + 32], pgtmp[PATH_MAX + 32], out[PATH_MAX + 32];
    if (bin != NULL) {
        char tmp[PATH_MAX];
        snprintf(tmp, sizeof tmp, "%s", bin);
        snprintf(bindir, sizeof bindir, "%s", dirname(tmp));
    }
    snprintf(drill, sizeof drill, "%s/sluice-drill", bindir);
    snprintf(pgtmp, sizeof pgtmp, "%s/pgtmp.sh", tools != NULL ? tools : "tools/scripts");
    snprintf(out, sizeof out, "%s/out", s_dir);

    char cmd[32768];
    const char *args = getenv("SLUICE_DRILL_ARGS");
    snprintf(cmd, sizeof cmd,
             "'%s' --bin-dir '%s' --pgtmp '%s' --out '%s' %s --chaos '%s' > '%s/drill.out' 2>&1",
             drill, bindir, pgtmp, out,
             args != NULL ? args : "--stores 50 --minutes 1 --peak-rate 100 --drain-seconds 80",
             DRILL_CHAOS, s_dir);
    int st = system(cmd);
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/drill.out", s_dir);
    char *log = harness_read_file(path);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "%s\n", log[0] ? log : "(no output)");
        free(log);
        /* the daemon's last words go with the temp dir otherwise */
        snprintf(path, sizeof path, "%s/sluiced.log", out);
        char *daemon_log = harness_read_file(path);
        size_t n = strlen(daemon_log);
        fprintf(stderr, "---- sluiced.log (last 4 KB) ----\n%s\n---- end ----\n",
                daemon_log + (n > 4096 ? n - 4096 : 0));
        free(daemon_log);
        fail_msg("sluice-drill exited %d: an invariant broke or it could not run", WEXITSTATUS(st));
    }
    /* every action was carried out and logged */
    assert_non_null(log);
    assert_non_null(strstr(log, "verdict: all invariants held"));
    assert_non_null(strstr(log, "kill -9 sluiced"));
    assert_non_null(strstr(log, "PostgreSQL accepting connections again"));
    assert_non_null(strstr(log, "p2: dark (ok)"));
    assert_non_null(strstr(log, "p1: fail 1 (ok)"));
    assert_non_null(strstr(log, "pause store"));
    assert_non_null(strstr(log, "halve brand"));
    assert_non_null(strstr(log, "p1: pace 0.3 (ok)"));
    assert_null(strstr(log, "FAIL "));
    /* the counts add up, and the report checked them */
    assert_non_null(strstr(log, "every count in the report adds up"));
    assert_non_null(strstr(log, "sums checked, every one holds"));
    free(log);

    snprintf(path, sizeof path, "%s/report.json", out);
    char *json = harness_read_file(path);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"ok\":true"));
    free(json);

    snprintf(path, sizeof path, "%s/report.html", out);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    char *dom = NULL;
    bool rendered = system("command -v chromium >/dev/null 2>&1") == 0;
    if (rendered) {
        char dump[PATH_MAX + 64];
        snprintf(dump, sizeof dump, "%s/dom.html", s_dir);
        snprintf(cmd, sizeof cmd,
                 "chromium --headless --no-sandbox --disable-gpu --dump-dom 'file://%s' > '%s' 2>/dev/null",
                 path, dump);
        assert_int_equal(system(cmd), 0);
        dom = harness_read_file(dump);
        fprintf(stderr, "test_drill: checked the DOM of report.html as headless Chromium rendered it\n");
    } else {
        dom = harness_read_file(path);
        fprintf(stderr, "test_drill: chromium not installed: checked report.html's TEXT with string "
                        "matching, not a rendering\n");
    }
    assert_non_null(dom);
    int lines, points;
    s_count_points(dom, "chart-load", &lines, &points);
    fprintf(stderr, "test_drill: chart-load: %d polylines, %d points\n", lines, points);
    assert_int_equal(lines, 4);
    assert_true(points >= 4 * 40);   /* a point per second for each series */
    s_count_points(dom, "chart-latency", &lines, &points);
    fprintf(stderr, "test_drill: chart-latency: %d polylines, %d points\n", lines, points);
    assert_int_equal(lines, 2);
    assert_true(points >= 2 * 30);
    /* chaos marked on both charts */
    assert_true(s_count(dom, "class=\"chaos\"") >= 2 * 10);
    assert_non_null(strstr(dom, "id=\"verdict\""));
    assert_null(strstr(dom, "<script"));
    /* axes scaled to the data: each line chart's peak fills most of its height */
    double fill = s_fill(dom, "chart-load");
    fprintf(stderr, "test_drill: chart-load's peak at %.0f%% of its axis\n", 100 * fill);
    assert_true(fill >= 0.6);
    assert_true(s_fill(dom, "chart-latency") >= 0.6);
    /* chaos labels: numbered, in lanes above the plots */
    assert_true(s_count(dom, "class=\"chaos-label\"") >= 2 * 10);
    /* refusals by reason, stacked */
    char *chart = s_chart(dom, "chart-answers");
    assert_non_null(chart);
    assert_true(s_count(chart, "class=\"band\"") >= 3);
    assert_non_null(strstr(chart, "data-series=\"ACCEPTED\""));
    free(chart);
    /* breakers per platform (p2 went dark, p1 refused: open at some point), shares */
    chart = s_chart(dom, "chart-platforms");
    assert_non_null(chart);
    for (int p = 1; p <= 3; p++) {
        char key[64];
        snprintf(key, sizeof key, "data-platform=\"p%d\"", p);
        assert_true(s_count(chart, key) >= 1);
    }
    assert_true(s_count(chart, "data-state=\"open\"") >= 1);
    assert_int_equal(s_count(chart, "class=\"band\""), 3);
    free(chart);
    /* delivered minus promised: a histogram with the promise on it */
    chart = s_chart(dom, "chart-late");
    assert_non_null(chart);
    assert_true(s_count(chart, "class=\"bar\"") >= 5);
    assert_non_null(strstr(chart, "class=\"promise\""));
    free(chart);
    s_count_points(dom, "chart-handoff", &lines, &points);
    fprintf(stderr, "test_drill: chart-handoff: %d polylines, %d points\n", lines, points);
    assert_int_equal(lines, 2);
    assert_true(points >= 2 * 30);
    /* the busiest stores' slot use: a row of cells per store */
    chart = s_chart(dom, "chart-heat");
    assert_non_null(chart);
    assert_true(s_count(chart, "class=\"cell\"") >= 12 * 30);
    free(chart);
    /* figures as tables, no pasted text block; every sum held */
    assert_null(strstr(dom, "<pre"));
    for (size_t i = 0; i < 6; i++) {
        static const char *const tables[] = {"glance", "orders", "submissions", "markready",
                                             "promises", "sums"};
        char key[64];
        snprintf(key, sizeof key, "<table id=\"%s\"", tables[i]);
        assert_non_null(strstr(dom, key));
    }
    chart = strstr(dom, "<table id=\"sums\"");
    assert_true(s_count(chart, "<td class=\"ok\">ok</td>") >= 15);
    assert_null(strstr(chart, "<td class=\"fail\">"));
    free(dom);
}

static int s_setup(void **state)
{
    (void)state;
    /* as root, PostgreSQL runs as the postgres user and must reach DIR/out/pg */
    return harness_mkdtemp(s_dir, sizeof s_dir, "drill-test") && chmod(s_dir, 0755) == 0 ? 0 : -1;
}

static int s_teardown(void **state)
{
    (void)state;
    harness_rmtemp(s_dir);
    return 0;
}

int main(void)
{
    static const harness_case_t cases[] = {
        HARNESS_CASE(test_drill_with_every_chaos_action),
    };
    return harness_main("drill", cases, HARNESS_COUNT(cases), s_setup, s_teardown);
}
