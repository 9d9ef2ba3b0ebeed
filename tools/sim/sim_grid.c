/* sim_grid.c - owns sluice-sim's spatial index of idle riders. */
#include "sim_grid.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#define KM_PER_DEG_LAT 111.195
#define BOX_RADII 1.5        /* the grid covers the disc and half a radius more each side */
#define RIDERS_PER_CELL 2.0  /* when all are idle */
#define SIDE_MAX 512
/* Cells are laid out on a flat map (kilometres east and north of the
 * centre at the centre's scale). Inside the box that map is within a few
 * tenths of a percent of sim_distance_km for any city-sized disc, so a
 * ring's flat lower bound, shrunk by this factor, is a true lower bound. */
#define BOUND_SAFETY 0.95
/* Where the flat map is poor (near the poles, a disc the size of a
 * country), or the store is outside the box, the search looks at every
 * rider instead: still right, only slower. */
#define FLAT_COS_MIN 0.2
#define FLAT_RADIUS_MAX_KM 300.0

struct sim_grid {
    sim_geo_t center;
    double km_per_deg_lng;     /* at the centre */
    double half_km;            /* the box is [-half_km, half_km] east and north */
    double cell_km;
    long side;                 /* cells per row; side * side cells, then the overflow list */
    bool flat;                 /* false: every search scans everything */
    int32_t *head;             /* per cell: first rider, -1 empty */
    int32_t *next, *prev;      /* per rider: neighbours in its cell's list */
    int32_t *cell;             /* per rider: its cell, -1 when not in the grid */
    sim_geo_t *at;             /* per rider: where it waits */
    uint32_t riders;
    size_t count;
};

typedef struct search {
    sim_geo_t at;
    int32_t best;
    double best_km;
} search_t;

sim_grid_t *sim_grid_new(sim_geo_t center, double radius_km, uint32_t riders)
{
    sim_grid_t *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    double cos_lat = cos(center.lat * M_PI / 180.0);
    g->center = center;
    g->km_per_deg_lng = KM_PER_DEG_LAT * cos_lat;
    g->flat = cos_lat >= FLAT_COS_MIN && radius_km > 0 && radius_km <= FLAT_RADIUS_MAX_KM;
    g->half_km = g->flat ? radius_km * BOX_RADII : 1;
    long side = g->flat ? (long)ceil(sqrt(riders / RIDERS_PER_CELL)) : 1;
    g->side = side < 1 ? 1 : side > SIDE_MAX ? SIDE_MAX : side;
    g->cell_km = 2 * g->half_km / (double)g->side;
    g->riders = riders;
    size_t cells = (size_t)(g->side * g->side) + 1;
    size_t n = riders ? riders : 1;
    g->head = malloc(cells * sizeof *g->head);
    g->next = malloc(n * sizeof *g->next);
    g->prev = malloc(n * sizeof *g->prev);
    g->cell = malloc(n * sizeof *g->cell);
    g->at = malloc(n * sizeof *g->at);
    if (!g->head || !g->next || !g->prev || !g->cell || !g->at) {
        sim_grid_free(&g);
        return NULL;
    }
    for (size_t i = 0; i < cells; i++)
        g->head[i] = -1;
    for (size_t i = 0; i < n; i++)
        g->cell[i] = -1;
    return g;
}

void sim_grid_free(sim_grid_t **self)
{
    if (!self || !*self)
        return;
    sim_grid_t *g = *self;
    free(g->head);
    free(g->next);
    free(g->prev);
    free(g->cell);
    free(g->at);
    free(g);
    *self = NULL;
}

static long s_overflow(const sim_grid_t *g)
{
    return g->side * g->side;
}

/* s_cell_xy: the column and row of AT's cell; outside the grid when either
 * is outside 0..side-1. */
static void s_cell_xy(const sim_grid_t *g, sim_geo_t at, long *x, long *y)
{
    double east = (at.lng - g->center.lng) * g->km_per_deg_lng + g->half_km;
    double north = (at.lat - g->center.lat) * KM_PER_DEG_LAT + g->half_km;
    double fx = floor(east / g->cell_km), fy = floor(north / g->cell_km);
    /* clamp before converting: a far point (or NaN) must not overflow long */
    double lim = (double)(4 * g->side);
    *x = (long)(fx > lim ? lim : fx < -lim ? -lim : fx == fx ? fx : lim);
    *y = (long)(fy > lim ? lim : fy < -lim ? -lim : fy == fy ? fy : lim);
}

static bool s_inside(const sim_grid_t *g, long x, long y)
{
    return x >= 0 && y >= 0 && x < g->side && y < g->side;
}

static long s_cell_of(const sim_grid_t *g, sim_geo_t at)
{
    long x, y;
    s_cell_xy(g, at, &x, &y);
    return s_inside(g, x, y) ? y * g->side + x : s_overflow(g);
}

void sim_grid_add(sim_grid_t *g, uint32_t rider, sim_geo_t at)
{
    if (rider >= g->riders || g->cell[rider] >= 0)
        return;
    long c = s_cell_of(g, at);
    g->at[rider] = at;
    g->cell[rider] = (int32_t)c;
    g->prev[rider] = -1;
    g->next[rider] = g->head[c];
    if (g->head[c] >= 0)
        g->prev[g->head[c]] = (int32_t)rider;
    g->head[c] = (int32_t)rider;
    g->count++;
}

void sim_grid_remove(sim_grid_t *g, uint32_t rider)
{
    if (rider >= g->riders || g->cell[rider] < 0)
        return;
    int32_t p = g->prev[rider], n = g->next[rider];
    if (p >= 0)
        g->next[p] = n;
    else
        g->head[g->cell[rider]] = n;
    if (n >= 0)
        g->prev[n] = p;
    g->cell[rider] = -1;
    g->count--;
}

double sim_grid_bound_km(const sim_grid_t *g, sim_geo_t at)
{
    if (!g->flat)
        return 0;
    /* A rider in the box is at most its half-diagonal from the centre (on
     * the flat map, true to BOUND_SAFETY): the triangle inequality does the
     * rest. Those outside the box (few: riders who ended a ride there) may
     * be anywhere, so the nearest of them bounds too. */
    double d = sim_distance_km(at, g->center) - g->half_km * M_SQRT2 / BOUND_SAFETY;
    double bound = d > 0 ? d : 0;
    for (int32_t i = g->head[s_overflow(g)]; i >= 0 && bound > 0; i = g->next[i]) {
        double k = sim_distance_km(g->at[i], at);
        if (k < bound)
            bound = k;
    }
    return bound;
}

size_t sim_grid_count(const sim_grid_t *g)
{
    return g->count;
}

static void s_scan_list(const sim_grid_t *g, long cell, search_t *s)
{
    for (int32_t i = g->head[cell]; i >= 0; i = g->next[i]) {
        double d = sim_distance_km(g->at[i], s->at);
        if (d < s->best_km || (d == s->best_km && i < s->best)) {
            s->best_km = d;
            s->best = i;
        }
    }
}

static void s_scan_cell(const sim_grid_t *g, long x, long y, search_t *s)
{
    if (s_inside(g, x, y))
        s_scan_list(g, y * g->side + x, s);
}

/* s_scan_ring looks at the cells K steps (in either direction) from
 * (CX, CY), only those inside the grid. */
static void s_scan_ring(const sim_grid_t *g, long cx, long cy, long k, search_t *s)
{
    if (k == 0) {
        s_scan_cell(g, cx, cy, s);
        return;
    }
    long x0 = cx - k < 0 ? 0 : cx - k, x1 = cx + k >= g->side ? g->side - 1 : cx + k;
    for (long x = x0; x <= x1; x++) {
        s_scan_cell(g, x, cy - k, s);
        s_scan_cell(g, x, cy + k, s);
    }
    long y0 = cy - k + 1 < 0 ? 0 : cy - k + 1, y1 = cy + k - 1 >= g->side ? g->side - 1 : cy + k - 1;
    for (long y = y0; y <= y1; y++) {
        s_scan_cell(g, cx - k, y, s);
        s_scan_cell(g, cx + k, y, s);
    }
}

static long s_max(long a, long b)
{
    return a > b ? a : b;
}

int32_t sim_grid_nearest(const sim_grid_t *g, sim_geo_t at, double *km)
{
    search_t s = {.at = at, .best = -1, .best_km = INFINITY};
    s_scan_list(g, s_overflow(g), &s);
    long cx, cy;
    s_cell_xy(g, at, &cx, &cy);
    bool bounded = g->flat && s_inside(g, cx, cy);
    long kmax = s_max(s_max(cx, g->side - 1 - cx), s_max(cy, g->side - 1 - cy));
    for (long k = 0; k <= kmax; k++) {
        /* Any point K rings out is at least K - 1 cells away on the flat map. */
        if (bounded && s.best >= 0 && (double)(k - 1) * g->cell_km * BOUND_SAFETY > s.best_km)
            break;
        s_scan_ring(g, cx, cy, k, &s);
    }
    *km = s.best_km;
    return s.best;
}
